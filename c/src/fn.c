/* fn.c -- function values: refcounted handles to a closure that lives in one context (design sec 2.3, 10). */
#include "internal.h"

static _Atomic int64_t liveFns;

int64_t calogFnLiveCount(void) { return atomic_load_explicit(&liveFns, memory_order_relaxed); }

CalogFnT *calogFnCreate(CalogNativeFnT fn, void *userData, CalogReleaseFnT release) {
  if (fn == NULL) return NULL;
  CalogFnT *f = calloc(1, sizeof *f);
  if (f == NULL) return NULL;
  atomic_fetch_add_explicit(&liveFns, 1, memory_order_relaxed);
  f->fn = fn;
  f->userData = userData;
  f->release = release;
  atomic_init(&f->refs, 1);
  atomic_init(&f->alive, true);
  return f;
}

CalogFnT *calog__fnCreateOwned(CalogCtxT *ctx, CalogNativeFnT fn, void *userData, CalogReleaseFnT release) {
  CalogFnT *f = calogFnCreate(fn, userData, release);
  if (f == NULL) return NULL;
  f->owner = ctx;
  f->ownerId = ctx->id;
  f->next = ctx->fns;
  if (ctx->fns) ctx->fns->prev = f;
  ctx->fns = f;
  return f;
}

static void unlink(CalogFnT *f) {
  CalogCtxT *ctx = f->owner;
  if (ctx == NULL) return;
  if (f->prev) f->prev->next = f->next;
  else ctx->fns = f->next;
  if (f->next) f->next->prev = f->prev;
  f->prev = f->next = NULL;
  f->owner = NULL;
}

/* Runs while the owner's interpreter still exists: every closure it exported is released now, and the
 * handles that other holders keep become dead shells. */
void calog__fnKillOwned(CalogCtxT *ctx) {
  while (ctx->fns) {
    CalogFnT *f = ctx->fns;
    unlink(f);
    atomic_store(&f->alive, false);
    if (f->release) f->release(f->userData);
    f->release = NULL;
    f->userData = NULL;
  }
}

void calogFnRetain(CalogFnT *fn) {
  if (fn) atomic_fetch_add_explicit(&fn->refs, 1, memory_order_relaxed);
}

void calogFnRelease(CalogFnT *fn) {
  if (fn == NULL) return;
  if (atomic_fetch_sub_explicit(&fn->refs, 1, memory_order_acq_rel) != 1) return;
  if (atomic_load(&fn->alive)) {
    unlink(fn);
    if (fn->release) fn->release(fn->userData);
  }
  free(fn);
  atomic_fetch_sub_explicit(&liveFns, 1, memory_order_relaxed);
}

int32_t calogFnInvoke(CalogFnT *fn, CalogValueT *args, int32_t argCount, CalogValueT *result) {
  if (fn == NULL || result == NULL || argCount < 0 || (argCount > 0 && args == NULL))
    return calogFail(result, CALOG_ERR_ARG, "calogFnInvoke: invalid argument");
  if (!atomic_load(&fn->alive))
    return calogFail(result, CALOG_ERR_DEAD, "function value belongs to a context that was destroyed");
  CalogCtxT *owner = fn->owner;
  if (owner) {
    int32_t st = calog__ctxHold(owner, result);
    if (st != CALOG_OK) return st;
  }
  calogFnRetain(fn); /* the closure may drop the last outside reference while it runs */
  int32_t st = fn->fn(args, argCount, result, fn->userData);
  calogFnRelease(fn);
  if (owner) calog__ctxUnhold(owner);
  return st;
}
