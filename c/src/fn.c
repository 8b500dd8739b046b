/* fn.c -- function values: refcounted handles to a closure that lives on one actor (design sec 2.3, 10).
 * Invoking from another thread is a message to that actor; the last release runs there too. */
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
  f->actor = ctx->actor;
  calog__ctxRef(ctx);
  pthread_mutex_lock(&ctx->actor->mu);
  f->next = ctx->fns;
  if (ctx->fns) ctx->fns->prev = f;
  ctx->fns = f;
  pthread_mutex_unlock(&ctx->actor->mu);
  return f;
}

/* under owner->actor->mu */
static void unlinkLocked(CalogFnT *f) {
  CalogCtxT *ctx = f->owner;
  if (f->prev) f->prev->next = f->next;
  else ctx->fns = f->next;
  if (f->next) f->next->prev = f->prev;
  f->prev = f->next = NULL;
}

static void freeShell(CalogFnT *fn) {
  CalogCtxT *owner = fn->owner;
  free(fn);
  atomic_fetch_sub_explicit(&liveFns, 1, memory_order_relaxed);
  if (owner) calog__ctxUnref(owner);
}

/* On the owner's thread while its interpreter still exists: every closure it exported is released now;
 * handles held elsewhere become dead shells (freed by their last release, or here if already orphaned). */
void calog__fnKillOwned(CalogCtxT *ctx) {
  pthread_mutex_t *mu = &ctx->actor->mu;
  for (;;) {
    pthread_mutex_lock(mu);
    CalogFnT *f = ctx->fns;
    if (f == NULL) {
      pthread_mutex_unlock(mu);
      return;
    }
    unlinkLocked(f);
    bool orphan = f->orphan;
    CalogReleaseFnT release = f->release;
    void *ud = f->userData;
    f->release = NULL;
    f->userData = NULL;
    /* the last write to f: a holder dropping its last reference after seeing alive == false frees the
     * shell at once (calogFnRelease), so nothing here may touch f afterwards unless it was orphaned */
    atomic_store_explicit(&f->alive, false, memory_order_release);
    pthread_mutex_unlock(mu);
    if (release) release(ud);
    if (orphan) freeShell(f);
  }
}

void calog__fnFinalize(CalogFnT *fn) {
  CalogCtxT *owner = fn->owner;
  CalogReleaseFnT release = fn->release;
  void *ud = fn->userData;
  bool reap = false;
  if (owner) {
    pthread_mutex_lock(&owner->actor->mu);
    bool wasAlive = atomic_load(&fn->alive);
    if (wasAlive) unlinkLocked(fn);
    atomic_store(&fn->alive, false);
    reap = wasAlive && owner->fns == NULL && atomic_load(&owner->released) && !atomic_load(&owner->dying);
    pthread_mutex_unlock(&owner->actor->mu);
    if (!wasAlive) release = NULL; /* the owner's death already released the closure */
  }
  if (release) release(ud);
  /* the last function value of a context the host let go of: the host destroys it (the context table is
   * the host's), before the shell's reference on it goes */
  if (reap) calog__actorPostReap(owner->rt, owner);
  freeShell(fn);
}

void calogFnRetain(CalogFnT *fn) {
  if (fn) atomic_fetch_add_explicit(&fn->refs, 1, memory_order_relaxed);
}

void calogFnRelease(CalogFnT *fn) {
  if (fn == NULL) return;
  if (atomic_fetch_sub_explicit(&fn->refs, 1, memory_order_acq_rel) != 1) return;
  if (fn->owner && !atomic_load_explicit(&fn->alive, memory_order_acquire)) {
    /* the owner already released the closure; its actor (even its runtime) may be gone: just the shell */
    freeShell(fn);
    return;
  }
  CalogActorT *a = fn->actor;
  if (a == NULL || calog__actorCurrent(a->rt) == a) {
    calog__fnFinalize(fn);
    return;
  }
  if (calog__actorPostRelease(a, fn)) return;
  /* the owner no longer takes messages: it is shutting down (and will kill its closures) or gone */
  CalogCtxT *owner = fn->owner;
  if (owner) {
    pthread_mutex_lock(&owner->actor->mu);
    if (atomic_load(&fn->alive)) {
      fn->orphan = true; /* calog__fnKillOwned frees it */
      pthread_mutex_unlock(&owner->actor->mu);
      return;
    }
    pthread_mutex_unlock(&owner->actor->mu);
  }
  freeShell(fn);
}

int32_t calog__fnInvokeHere(CalogFnT *fn, CalogValueT *args, int32_t argc, CalogValueT *result) {
  CalogCtxT *owner = fn->owner;
  int32_t st;
  if (owner) {
    if ((st = calog__ctxHold(owner, NULL, result)) != CALOG_OK) return st;
  } else if (fn->actor && (st = calog__nestEnter(fn->actor->rt, result)) != CALOG_OK) {
    return st;
  }
  calogFnRetain(fn); /* the closure may drop the last outside reference while it runs */
  CalogCtxT *prev = owner ? calog__entryBegin(owner, 0) : NULL;
  st = fn->fn(args, argc, result, fn->userData);
  if (owner) st = calog__entryEnd(owner, prev, st, result);
  calogFnRelease(fn);
  if (owner) calog__ctxUnhold(owner);
  else if (fn->actor) calog__nestLeave(fn->actor->rt);
  return st;
}

int32_t calogFnInvoke(CalogFnT *fn, CalogValueT *args, int32_t argCount, CalogValueT *result) {
  if (fn == NULL || result == NULL || argCount < 0 || (argCount > 0 && args == NULL))
    return calogFail(result, CALOG_ERR_ARG, "calogFnInvoke: invalid argument");
  if (!atomic_load(&fn->alive))
    return calogFail(result, CALOG_ERR_DEAD, "function value belongs to a context that was destroyed");
  CalogActorT *a = fn->actor;
  if (a == NULL) { /* a plain C function: the call may drop the caller's reference, keep one */
    calogFnRetain(fn);
    int32_t st = fn->fn(args, argCount, result, fn->userData);
    calogFnRelease(fn);
    return st;
  }
  if (calog__actorCurrent(a->rt) == a) return calog__fnInvokeHere(fn, args, argCount, result);
  return calog__actorCall(a, CALOG_MSG_FN, NULL, fn, NULL, NULL, NULL, 0, args, argCount, 0, result);
}
