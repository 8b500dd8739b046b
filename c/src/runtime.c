/* runtime.c -- the runtime: native registry, generationed context table, C and wire entry points. */
#include "wire.h"

#include <stddef.h>
#include <stdio.h>

CalogT *calogCreate(void) {
  CalogT *rt = calloc(1, sizeof *rt);
  if (rt == NULL) return NULL;
  rt->wire.maxDepth = CALOG_MAX_DEPTH;
  rt->wire.in = malloc(4096);
  rt->wire.out = malloc(4096);
  if (rt->wire.in == NULL || rt->wire.out == NULL) {
    free(rt->wire.in);
    free(rt->wire.out);
    free(rt);
    return NULL;
  }
  rt->wire.inCap = rt->wire.outCap = 4096;
  return rt;
}

void calogSetPolicy(CalogT *rt, CalogPolicyE policy) {
  if (rt) rt->policy = policy == CALOG_POLICY_LENIENT ? CALOG_POLICY_LENIENT : CALOG_POLICY_STRICT;
}
CalogPolicyE calogGetPolicy(const CalogT *rt) { return rt ? rt->policy : CALOG_POLICY_STRICT; }

const CalogEngineT *calog__engineFind(const char *name) {
  for (int i = 0; calog__engines[i]; i++)
    if (strcmp(calog__engines[i]->name, name) == 0) return calog__engines[i];
  return NULL;
}

int32_t calog__nestEnter(CalogT *rt, CalogValueT *result) {
  if (rt->nesting >= CALOG_MAX_NESTING)
    return calogFail(result, CALOG_ERR_NESTING, "call nesting deeper than %d crossings", CALOG_MAX_NESTING);
  rt->nesting++;
  return CALOG_OK;
}
void calog__nestLeave(CalogT *rt) { rt->nesting--; }

/* ---- native registry --------------------------------------------------------------------------- */
static CalogNativeEntryT *nativeFind(CalogT *rt, const char *name) {
  for (uint32_t i = 0; i < rt->nativeCount; i++)
    if (strcmp(rt->natives[i]->name, name) == 0) return rt->natives[i];
  return NULL;
}

static void entryClear(CalogNativeEntryT *e) {
  CalogReleaseFnT release = e->release;
  void *ud = e->userData;
  e->live = false;
  e->fn = NULL;
  e->userData = NULL;
  e->release = NULL;
  if (release) release(ud);
}

static bool validName(const char *name) {
  if (name == NULL || !(name[0] == '_' || (name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z')))
    return false;
  size_t n = 0;
  for (const char *p = name; *p; p++, n++)
    if (!(*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
      return false;
  return n <= 128;
}

int32_t calogRegister(CalogT *rt, const char *name, CalogNativeFnT fn, void *userData, CalogReleaseFnT release) {
  if (rt == NULL || fn == NULL || !validName(name)) return CALOG_ERR_ARG;
  CalogNativeEntryT *e = nativeFind(rt, name);
  if (e) {
    entryClear(e);
  } else {
    if (rt->nativeCount == rt->nativeCap) {
      uint32_t cap = rt->nativeCap ? rt->nativeCap * 2 : 16;
      CalogNativeEntryT **p = realloc(rt->natives, cap * sizeof *p);
      if (p == NULL) return CALOG_ERR_OOM;
      rt->natives = p;
      rt->nativeCap = cap;
    }
    e = calloc(1, sizeof *e);
    if (e == NULL || (e->name = strdup(name)) == NULL) {
      free(e);
      return CALOG_ERR_OOM;
    }
    e->rt = rt;
    rt->natives[rt->nativeCount++] = e;
  }
  e->fn = fn;
  e->userData = userData;
  e->release = release;
  e->live = true;
  return CALOG_OK;
}

int32_t calogUnregister(CalogT *rt, const char *name) {
  if (rt == NULL || name == NULL) return CALOG_ERR_ARG;
  CalogNativeEntryT *e = nativeFind(rt, name);
  if (e == NULL || !e->live) return CALOG_ERR_NOT_FOUND;
  entryClear(e);
  return CALOG_OK;
}

int32_t calog__nativeInvoke(CalogNativeEntryT *e, CalogValueT *args, int32_t argc, CalogValueT *result) {
  if (!e->live) return calogFail(result, CALOG_ERR_NOT_FOUND, "native '%s' is no longer registered", e->name);
  return e->fn(args, argc, result, e->userData);
}

int32_t calogBrokerCall(CalogT *rt, const char *name, CalogValueT *args, int32_t argCount, CalogValueT *result) {
  if (rt == NULL || name == NULL || result == NULL || argCount < 0 || (argCount && args == NULL))
    return calogFail(result, CALOG_ERR_ARG, "calogBrokerCall: invalid argument");
  CalogNativeEntryT *e = nativeFind(rt, name);
  if (e == NULL || !e->live) return calogFail(result, CALOG_ERR_NOT_FOUND, "no native named '%s'", name);
  return calog__nativeInvoke(e, args, argCount, result);
}

/* ---- contexts ---------------------------------------------------------------------------------- */
#define CTX_INDEX(id) ((uint32_t)((id) & 0xFFFF) - 1u)
#define CTX_GEN(id) ((uint16_t)(((uint32_t)(id) >> 16) & 0x7FFF))

CalogCtxT *calog__ctxResolve(CalogT *rt, CalogContextIdT id) {
  if (rt == NULL || id <= 0) return NULL;
  uint32_t i = CTX_INDEX(id);
  if (i >= rt->ctxCount) return NULL;
  CalogCtxSlotT *s = &rt->ctxSlots[i];
  if (s->ctx == NULL || s->gen != CTX_GEN(id) || s->ctx->dying) return NULL;
  return s->ctx;
}

static int32_t syncNatives(CalogCtxT *ctx, CalogValueT *err) {
  CalogT *rt = ctx->rt;
  while (ctx->nativesSeen < rt->nativeCount) {
    int32_t st = ctx->engine->installNative(ctx->interp, rt->natives[ctx->nativesSeen], err);
    if (st != CALOG_OK) return st;
    ctx->nativesSeen++;
  }
  return CALOG_OK;
}

int32_t calogContextCreate(CalogT *rt, const char *engine, uint32_t flags, CalogContextIdT *idOut, CalogValueT *err) {
  CalogValueT scratch = calogValueNil();
  if (err == NULL) err = &scratch;
  int32_t st;
  if (rt == NULL || engine == NULL || idOut == NULL) return calogFail(err, CALOG_ERR_ARG, "invalid argument");
  *idOut = 0;
  if (flags & CALOG_CONTEXT_OWN_THREAD)
    return calogFail(err, CALOG_ERR_UNSUPPORTED, "contexts on their own thread need the actor layer");
  const CalogEngineT *eng = calog__engineFind(engine);
  if (eng == NULL) {
    st = calogFail(err, CALOG_ERR_ENGINE, "unknown engine '%s'", engine);
    goto out;
  }
  uint32_t index;
  if (rt->ctxFree) {
    index = rt->ctxFree - 1u;
    rt->ctxFree = rt->ctxSlots[index].nextFree;
  } else {
    if (rt->ctxCount >= 0xFFFF) {
      st = calogFail(err, CALOG_ERR_RANGE, "too many contexts");
      goto out;
    }
    if (rt->ctxCount == rt->ctxCap) {
      uint32_t cap = rt->ctxCap ? rt->ctxCap * 2 : 8;
      CalogCtxSlotT *p = realloc(rt->ctxSlots, cap * sizeof *p);
      if (p == NULL) {
        st = calogFail(err, CALOG_ERR_OOM, "out of memory");
        goto out;
      }
      rt->ctxSlots = p;
      rt->ctxCap = cap;
    }
    index = rt->ctxCount++;
    rt->ctxSlots[index] = (CalogCtxSlotT){0};
  }
  CalogCtxSlotT *slot = &rt->ctxSlots[index];
  slot->gen = (uint16_t)((slot->gen + 1) & 0x7FFF);
  if (slot->gen == 0) slot->gen = 1;
  CalogCtxT *ctx = calloc(1, sizeof *ctx);
  if (ctx == NULL) {
    st = calogFail(err, CALOG_ERR_OOM, "out of memory");
    goto freeSlot;
  }
  ctx->rt = rt;
  ctx->engine = eng;
  ctx->id = (CalogContextIdT)(((uint32_t)slot->gen << 16) | (index + 1));
  if ((st = eng->create(ctx, &ctx->interp, err)) != CALOG_OK) {
    free(ctx);
    goto freeSlot;
  }
  slot->ctx = ctx;
  if ((st = syncNatives(ctx, err)) != CALOG_OK) {
    calogContextDestroy(rt, ctx->id);
    goto out;
  }
  *idOut = ctx->id;
  calogValueFree(&scratch);
  return CALOG_OK;
freeSlot:
  slot->ctx = NULL;
  slot->nextFree = rt->ctxFree;
  rt->ctxFree = (uint16_t)(index + 1);
out:
  calogValueFree(&scratch);
  return st;
}

static void ctxFree(CalogT *rt, CalogCtxT *ctx) {
  uint32_t index = CTX_INDEX(ctx->id);
  calog__fnKillOwned(ctx);
  ctx->engine->destroy(ctx->interp);
  calog__fnKillOwned(ctx); /* closures exported while the interpreter was closing */
  rt->ctxSlots[index].ctx = NULL;
  rt->ctxSlots[index].nextFree = rt->ctxFree;
  rt->ctxFree = (uint16_t)(index + 1);
  free(ctx);
}

int32_t calogContextDestroy(CalogT *rt, CalogContextIdT id) {
  CalogCtxT *ctx = calog__ctxResolve(rt, id);
  if (ctx == NULL) return CALOG_ERR_DEAD;
  ctx->dying = true;
  if (ctx->busy == 0) ctxFree(rt, ctx);
  /* else: a script of this context is on the stack (it called the host, which destroyed it); the last
   * frame to leave frees it. */
  return CALOG_OK;
}

/* Every entry into an interpreter goes through hold/unhold: nesting cap, lazy native install, and
 * deferred destruction of a context destroyed from inside its own call. */
int32_t calog__ctxHold(CalogCtxT *ctx, CalogValueT *result) {
  if (ctx->dying) return calogFail(result, CALOG_ERR_DEAD, "context %d is being destroyed", ctx->id);
  int32_t st = calog__nestEnter(ctx->rt, result);
  if (st != CALOG_OK) return st;
  if ((st = syncNatives(ctx, result)) != CALOG_OK) {
    calog__nestLeave(ctx->rt);
    return st;
  }
  ctx->busy++;
  return CALOG_OK;
}

void calog__ctxUnhold(CalogCtxT *ctx) {
  calog__nestLeave(ctx->rt);
  if (--ctx->busy == 0 && ctx->dying) ctxFree(ctx->rt, ctx);
}

static int32_t enter(CalogT *rt, CalogContextIdT id, CalogCtxT **out, CalogValueT *result) {
  CalogCtxT *ctx = calog__ctxResolve(rt, id);
  if (ctx == NULL) return calogFail(result, CALOG_ERR_DEAD, "context %d is destroyed or was never created", id);
  int32_t st = calog__ctxHold(ctx, result);
  if (st == CALOG_OK) *out = ctx;
  return st;
}

static void leave(CalogT *rt, CalogCtxT *ctx) {
  (void)rt;
  calog__ctxUnhold(ctx);
}

int32_t calogContextEval(CalogT *rt, CalogContextIdT id, const char *source, int64_t len, const char *chunkName,
                         CalogValueT *result) {
  if (result == NULL) return CALOG_ERR_ARG;
  if (source == NULL || len < 0) return calogFail(result, CALOG_ERR_ARG, "invalid source");
  CalogCtxT *ctx;
  int32_t st = enter(rt, id, &ctx, result);
  if (st != CALOG_OK) return st;
  st = ctx->engine->eval(ctx->interp, source, len, chunkName ? chunkName : "eval", result);
  leave(rt, ctx);
  return st;
}

int32_t calogContextCall(CalogT *rt, CalogContextIdT id, const char *name, CalogValueT *args, int32_t argCount,
                         CalogValueT *result) {
  if (result == NULL) return CALOG_ERR_ARG;
  if (name == NULL || argCount < 0 || (argCount && args == NULL))
    return calogFail(result, CALOG_ERR_ARG, "invalid argument");
  CalogCtxT *ctx;
  int32_t st = enter(rt, id, &ctx, result);
  if (st != CALOG_OK) return st;
  st = ctx->engine->call(ctx->interp, name, args, argCount, result);
  leave(rt, ctx);
  return st;
}

int32_t calogContextGet(CalogT *rt, CalogContextIdT id, const char *name, CalogValueT *result) {
  if (result == NULL) return CALOG_ERR_ARG;
  if (name == NULL) return calogFail(result, CALOG_ERR_ARG, "invalid argument");
  CalogCtxT *ctx;
  int32_t st = enter(rt, id, &ctx, result);
  if (st != CALOG_OK) return st;
  st = ctx->engine->get(ctx->interp, name, result);
  leave(rt, ctx);
  return st;
}

int64_t calogContextMemory(CalogT *rt, CalogContextIdT id) {
  CalogCtxT *ctx = calog__ctxResolve(rt, id);
  if (ctx == NULL || ctx->engine->memory == NULL) return -1;
  return ctx->engine->memory(ctx->interp);
}

void calogDestroy(CalogT *rt) {
  if (rt == NULL) return;
  for (uint32_t i = 0; i < rt->ctxCount; i++)
    if (rt->ctxSlots[i].ctx) {
      rt->ctxSlots[i].ctx->busy = 0;
      ctxFree(rt, rt->ctxSlots[i].ctx);
    }
  for (uint32_t i = 0; i < rt->handleCount; i++)
    if (rt->handles[i].fn) calogFnReleaseWire(rt, i, rt->handles[i].gen);
  for (uint32_t i = 0; i < rt->nativeCount; i++) {
    entryClear(rt->natives[i]);
    free(rt->natives[i]->name);
    free(rt->natives[i]);
  }
  free(rt->natives);
  free(rt->ctxSlots);
  free(rt->handles);
  free(rt->wire.in);
  free(rt->wire.out);
  free(rt);
}

/* ---- wire entry points --------------------------------------------------------------------------- */
CalogWireControlT *calogWireControl(CalogT *rt) { return rt ? &rt->wire : NULL; }

void calogHostInstall(CalogT *rt, CalogHostCallFnT call, CalogHostReleaseFnT release) {
  if (rt == NULL) return;
  rt->hostCall = call;
  rt->hostRelease = release;
}

/* Writes value (result or error) to OUT and turns status into the wire return convention. */
static int32_t reply(CalogT *rt, int32_t st, CalogValueT *value) {
  uint32_t len = 0;
  int32_t est = calog__wireEncodeResult(rt, value, &len);
  calogValueFree(value);
  if (est != CALOG_OK) {
    CalogValueT msg = calogValueNil();
    calogFail(&msg, est, "cannot return the %s: %s", st == CALOG_OK ? "result" : "error", calogStatusMessage(est));
    if (calog__wireEncodeResult(rt, &msg, &len) != CALOG_OK) len = 0;
    calogValueFree(&msg);
    if (st == CALOG_OK) st = est;
  }
  if (st != CALOG_OK) return -st;
  return (int32_t)len;
}

static bool readerFor(CalogT *rt, uint32_t inLen, CalogReaderT *rd) {
  if (rt == NULL || inLen > rt->wire.inCap) return false;
  *rd = (CalogReaderT){.buf = rt->wire.in, .len = inLen, .pos = 0};
  return true;
}

/* Copies a wire string into a NUL-terminated buffer (names, chunk names, engine names). */
static int32_t readName(CalogReaderT *rd, char *buf, size_t cap, CalogValueT *err) {
  const char *s;
  uint32_t n;
  if (rd->pos < rd->len && rd->buf[rd->pos] == 0 /* NIL */) {
    rd->pos++;
    buf[0] = '\0';
    return CALOG_OK;
  }
  if (calog__wireReadString(rd, &s, &n) != CALOG_OK) return calogFail(err, CALOG_ERR_ARG, "expected a name string");
  if (n >= cap || memchr(s, 0, n) != NULL) return calogFail(err, CALOG_ERR_ARG, "invalid name");
  memcpy(buf, s, n);
  buf[n] = '\0';
  return CALOG_OK;
}

#define BAD_IN(rt) (reply((rt), calogFail(&v, CALOG_ERR_ARG, "request larger than the IN buffer"), &v))

int32_t calogContextCreateWire(CalogT *rt, uint32_t inLen) {
  CalogValueT v = calogValueNil();
  CalogReaderT rd;
  if (rt == NULL) return -CALOG_ERR_ARG;
  if (!readerFor(rt, inLen, &rd)) return BAD_IN(rt);
  char engine[64];
  int32_t st = readName(&rd, engine, sizeof engine, &v);
  CalogValueT flags = calogValueNil();
  if (st == CALOG_OK) st = calog__wireDecode(rt, &rd, &flags, &v);
  if (st == CALOG_OK && flags.type != CALOG_INT) st = calogFail(&v, CALOG_ERR_ARG, "flags must be an int");
  if (st != CALOG_OK) {
    calogValueFree(&flags);
    return reply(rt, st, &v);
  }
  CalogContextIdT id;
  st = calogContextCreate(rt, engine, (uint32_t)flags.as.i, &id, &v);
  if (st != CALOG_OK) return reply(rt, st, &v);
  return id;
}

int32_t calogEvalWire(CalogT *rt, CalogContextIdT id, uint32_t inLen) {
  CalogValueT v = calogValueNil();
  CalogReaderT rd;
  if (rt == NULL) return -CALOG_ERR_ARG;
  if (!readerFor(rt, inLen, &rd)) return BAD_IN(rt);
  const char *src;
  uint32_t n;
  if (calog__wireReadString(&rd, &src, &n) != CALOG_OK)
    return reply(rt, calogFail(&v, CALOG_ERR_ARG, "expected a source string"), &v);
  char chunk[256];
  int32_t st = readName(&rd, chunk, sizeof chunk, &v);
  if (st != CALOG_OK) return reply(rt, st, &v);
  /* src points into IN: engines compile it before running anything that could reuse IN. */
  st = calogContextEval(rt, id, src, n, chunk[0] ? chunk : NULL, &v);
  return reply(rt, st, &v);
}

static int32_t callWithArgs(CalogT *rt, CalogReaderT *rd, CalogContextIdT id, const char *name, CalogFnT *fn) {
  CalogValueT v = calogValueNil();
  CalogValueT stackArgs[8];
  CalogValueT *args;
  int32_t argc;
  int32_t st = calog__wireDecodeArgs(rt, rd, stackArgs, 8, &args, &argc, &v);
  if (st != CALOG_OK) return reply(rt, st, &v);
  if (fn) st = calogFnInvoke(fn, args, argc, &v);
  else st = calogContextCall(rt, id, name, args, argc, &v);
  calog__argsFree(args, argc, stackArgs);
  return reply(rt, st, &v);
}

int32_t calogCallWire(CalogT *rt, CalogContextIdT id, uint32_t inLen) {
  CalogValueT v = calogValueNil();
  CalogReaderT rd;
  if (rt == NULL) return -CALOG_ERR_ARG;
  if (!readerFor(rt, inLen, &rd)) return BAD_IN(rt);
  char name[256];
  int32_t st = readName(&rd, name, sizeof name, &v);
  if (st != CALOG_OK) return reply(rt, st, &v);
  return callWithArgs(rt, &rd, id, name, NULL);
}

int32_t calogGetWire(CalogT *rt, CalogContextIdT id, uint32_t inLen) {
  CalogValueT v = calogValueNil();
  CalogReaderT rd;
  if (rt == NULL) return -CALOG_ERR_ARG;
  if (!readerFor(rt, inLen, &rd)) return BAD_IN(rt);
  char name[256];
  int32_t st = readName(&rd, name, sizeof name, &v);
  if (st == CALOG_OK) st = calogContextGet(rt, id, name, &v);
  return reply(rt, st, &v);
}

int32_t calogFnCallWire(CalogT *rt, uint32_t slot, uint32_t gen, uint32_t inLen) {
  CalogValueT v = calogValueNil();
  CalogReaderT rd;
  if (rt == NULL) return -CALOG_ERR_ARG;
  if (!readerFor(rt, inLen, &rd)) return BAD_IN(rt);
  if (slot >= rt->handleCount || rt->handles[slot].gen != gen || rt->handles[slot].fn == NULL)
    return reply(rt, calogFail(&v, CALOG_ERR_DEAD, "function was released"), &v);
  CalogFnT *fn = rt->handles[slot].fn;
  calogFnRetain(fn); /* the call may release the handle (host disposes the function from inside it) */
  int32_t r = callWithArgs(rt, &rd, 0, NULL, fn);
  calogFnRelease(fn);
  return r;
}

int32_t calogRegisterHostWire(CalogT *rt, uint32_t inLen) {
  CalogValueT v = calogValueNil();
  CalogReaderT rd;
  if (rt == NULL) return -CALOG_ERR_ARG;
  if (!readerFor(rt, inLen, &rd)) return BAD_IN(rt);
  char name[256];
  CalogValueT idv = calogValueNil();
  int32_t st = readName(&rd, name, sizeof name, &v);
  if (st == CALOG_OK) st = calog__wireDecode(rt, &rd, &idv, &v);
  if (st == CALOG_OK && (idv.type != CALOG_INT || idv.as.i < 0 || idv.as.i > UINT32_MAX))
    st = calogFail(&v, CALOG_ERR_ARG, "host id must be a u32");
  if (st != CALOG_OK) {
    calogValueFree(&idv);
    return reply(rt, st, &v);
  }
  CalogHostFnT *h = malloc(sizeof *h);
  if (h == NULL) return reply(rt, calogFail(&v, CALOG_ERR_OOM, "out of memory"), &v);
  h->rt = rt;
  h->id = (uint32_t)idv.as.i;
  st = calogRegister(rt, name, calog__hostTrampoline, h, calog__hostRelease);
  if (st != CALOG_OK) {
    free(h);
    return reply(rt, calogFail(&v, st, st == CALOG_ERR_ARG ? "invalid native name '%s'" : "cannot register '%s'", name), &v);
  }
  return 0;
}

int32_t calogUnregisterWire(CalogT *rt, uint32_t inLen) {
  CalogValueT v = calogValueNil();
  CalogReaderT rd;
  if (rt == NULL) return -CALOG_ERR_ARG;
  if (!readerFor(rt, inLen, &rd)) return BAD_IN(rt);
  char name[256];
  int32_t st = readName(&rd, name, sizeof name, &v);
  if (st == CALOG_OK) {
    st = calogUnregister(rt, name);
    if (st != CALOG_OK) calogFail(&v, st, "no native named '%s'", name);
  }
  return st == CALOG_OK ? 0 : reply(rt, st, &v);
}

/* The TypeScript bindings read the control block as eight u32: pin its layout. */
_Static_assert(offsetof(CalogWireControlT, in) == 0, "wire control layout");
_Static_assert(offsetof(CalogWireControlT, out) == 8, "wire control layout");
_Static_assert(offsetof(CalogWireControlT, inCap) == 16, "wire control layout");
_Static_assert(offsetof(CalogWireControlT, outCap) == 20, "wire control layout");
_Static_assert(offsetof(CalogWireControlT, gen) == 24, "wire control layout");
_Static_assert(offsetof(CalogWireControlT, maxDepth) == 28, "wire control layout");
_Static_assert(sizeof(CalogWireControlT) == 32, "wire control layout");
