/* runtime.c -- the runtime: native registry, generationed context table, context lifetime, and the C and
 * wire entry points. Table and registry are written by the host thread under rt->lock; other threads read
 * them under it, the host thread without it. */
#include "wire.h"

#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>

/* Context threads may still be running library code when a process exits without destroying its runtime
 * (a thread spinning for its next message, or parked in it). Runtimes unload FFI libraries at exit (Deno
 * does), which would unmap that code under them: mark the library as never unloaded. */
__attribute__((constructor)) static void calog__pinLibrary(void) {
  Dl_info info;
  if (dladdr((void *)&calog__pinLibrary, &info) != 0 && info.dli_fname != NULL)
    (void)dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

CalogT *calogCreate(void) {
  CalogT *rt = calloc(1, sizeof *rt);
  if (rt == NULL) return NULL;
  rt->wire.maxDepth = CALOG_MAX_DEPTH;
  rt->wire.in = malloc(4096);
  rt->wire.out = malloc(4096);
  bool lockOk = pthread_mutex_init(&rt->lock, NULL) == 0;
  if (rt->wire.in == NULL || rt->wire.out == NULL || !lockOk || calog__actorInit(&rt->host, rt, NULL, true) != CALOG_OK) {
    if (lockOk) pthread_mutex_destroy(&rt->lock);
    free(rt->wire.in);
    free(rt->wire.out);
    free(rt);
    return NULL;
  }
  rt->host.thread = pthread_self();
  rt->wire.inCap = rt->wire.outCap = 4096;
  rt->nextTicket = 1;
  atomic_init(&rt->policy, CALOG_POLICY_STRICT);
  return rt;
}

void calogSetPolicy(CalogT *rt, CalogPolicyE policy) {
  if (rt) atomic_store(&rt->policy, policy == CALOG_POLICY_LENIENT ? CALOG_POLICY_LENIENT : CALOG_POLICY_STRICT);
}
CalogPolicyE calogGetPolicy(const CalogT *rt) { return rt ? atomic_load(&((CalogT *)rt)->policy) : CALOG_POLICY_STRICT; }

const CalogEngineT *calog__engineFind(const char *name) {
  for (int i = 0; calog__engines[i]; i++)
    if (strcmp(calog__engines[i]->name, name) == 0) return calog__engines[i];
  return NULL;
}

static bool onHost(CalogT *rt) { return pthread_equal(pthread_self(), rt->host.thread); }

/* ---- native registry --------------------------------------------------------------------------- */
static CalogNativeEntryT *nativeFind(CalogT *rt, const char *name) {
  uint32_t n = atomic_load(&rt->nativeCount);
  for (uint32_t i = 0; i < n; i++)
    if (strcmp(rt->natives[i]->name, name) == 0) return rt->natives[i];
  return NULL;
}

static void bindingUnref(CalogBindingT *b) {
  if (b && atomic_fetch_sub(&b->refs, 1) == 1) {
    if (b->release) b->release(b->userData);
    free(b);
  }
}

/* Swaps a name's binding (host thread). The old one is released once no call is using it. */
static void entrySwap(CalogT *rt, CalogNativeEntryT *e, CalogBindingT *b) {
  pthread_mutex_lock(&rt->lock);
  CalogBindingT *old = atomic_load(&e->binding);
  atomic_store(&e->binding, b);
  pthread_mutex_unlock(&rt->lock);
  bindingUnref(old);
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

static int32_t registerOn(CalogT *rt, const char *name, CalogNativeFnT fn, void *userData, CalogReleaseFnT release,
                          CalogActorT *actor) {
  if (rt == NULL || fn == NULL || !validName(name)) return CALOG_ERR_ARG;
  CalogBindingT *b = calloc(1, sizeof *b);
  if (b == NULL) return CALOG_ERR_OOM;
  *b = (CalogBindingT){.fn = fn, .userData = userData, .release = release, .actor = actor};
  atomic_init(&b->refs, 1);
  CalogNativeEntryT *e = nativeFind(rt, name);
  if (e == NULL) {
    e = calloc(1, sizeof *e);
    if (e == NULL || (e->name = strdup(name)) == NULL) {
      free(e);
      free(b);
      return CALOG_ERR_OOM;
    }
    e->rt = rt;
    atomic_init(&e->binding, NULL);
    pthread_mutex_lock(&rt->lock);
    uint32_t n = atomic_load(&rt->nativeCount);
    if (n == rt->nativeCap) {
      uint32_t cap = rt->nativeCap ? rt->nativeCap * 2 : 16;
      CalogNativeEntryT **p = realloc(rt->natives, cap * sizeof *p);
      if (p == NULL) {
        pthread_mutex_unlock(&rt->lock);
        free(e->name);
        free(e);
        free(b);
        return CALOG_ERR_OOM;
      }
      rt->natives = p;
      rt->nativeCap = cap;
    }
    rt->natives[n] = e;
    atomic_store(&e->binding, b);
    atomic_store(&rt->nativeCount, n + 1);
    pthread_mutex_unlock(&rt->lock);
    return CALOG_OK;
  }
  entrySwap(rt, e, b);
  return CALOG_OK;
}

int32_t calogRegister(CalogT *rt, const char *name, CalogNativeFnT fn, void *userData, CalogReleaseFnT release) {
  return registerOn(rt, name, fn, userData, release, NULL);
}

int32_t calogUnregister(CalogT *rt, const char *name) {
  if (rt == NULL || name == NULL) return CALOG_ERR_ARG;
  CalogNativeEntryT *e = nativeFind(rt, name);
  if (e == NULL || atomic_load(&e->binding) == NULL) return CALOG_ERR_NOT_FOUND;
  entrySwap(rt, e, NULL);
  return CALOG_OK;
}

/* Takes a counted reference on e's current binding (NULL if unregistered). Off the host thread it never
 * takes one on a host binding (its last release must run on the host): *hostOnly is set instead. */
static CalogBindingT *bindingGet(CalogNativeEntryT *e, bool host, bool *hostOnly) {
  CalogT *rt = e->rt;
  *hostOnly = false;
  if (!host) pthread_mutex_lock(&rt->lock);
  CalogBindingT *b = atomic_load(&e->binding);
  if (b && !host && b->actor != NULL) {
    *hostOnly = true;
    b = NULL;
  } else if (b) {
    atomic_fetch_add(&b->refs, 1);
  }
  if (!host) pthread_mutex_unlock(&rt->lock);
  return b;
}

/* On the host thread (a NATIVE message) or for a free-threaded C native on any thread. */
int32_t calog__bindingInvokeHere(CalogNativeEntryT *e, CalogValueT *args, int32_t argc, CalogValueT *result) {
  bool hostOnly;
  CalogBindingT *b = bindingGet(e, onHost(e->rt), &hostOnly);
  if (hostOnly) /* became a host function since it was routed: send it there */
    return calog__actorCall(&e->rt->host, CALOG_MSG_NATIVE, NULL, NULL, e, NULL, NULL, 0, args, argc, 0, result);
  if (b == NULL) return calogFail(result, CALOG_ERR_NOT_FOUND, "native '%s' is no longer registered", e->name);
  if (b->fn != calog__hostTrampoline && onHost(e->rt)) e->rt->deferMsg = NULL; /* only a host function defers */
  int32_t st = b->fn(args, argc, result, b->userData);
  bindingUnref(b);
  return st;
}

int32_t calog__nativeInvoke(CalogNativeEntryT *e, CalogValueT *args, int32_t argc, CalogValueT *result) {
  CalogT *rt = e->rt;
  CalogActorT *self = calog__actorCurrent(rt);
  bool hostOnly;
  CalogBindingT *b = bindingGet(e, self == &rt->host, &hostOnly);
  int32_t st;
  if (hostOnly) { /* a host function called from a context thread: it runs on the host */
    st = calog__actorCall(&rt->host, CALOG_MSG_NATIVE, NULL, NULL, e, NULL, NULL, 0, args, argc, 0, result);
  } else {
    if (b == NULL) return calogFail(result, CALOG_ERR_NOT_FOUND, "native '%s' is no longer registered", e->name);
    st = b->fn(args, argc, result, b->userData);
    bindingUnref(b);
  }
  /* a deadline that passed while the native ran takes effect now (the script raises at its next step) */
  if (self != NULL && self->running != NULL && self->running->deadlineNs != 0) calog__limitTick(self->running, 0, NULL);
  return st;
}

CalogBindingT *calog__nativeHostBinding(CalogNativeEntryT *e, CalogHostFnT **h) {
  CalogT *rt = e->rt;
  if (rt->hostCall == NULL || calog__actorCurrent(rt) != &rt->host) return NULL;
  bool hostOnly;
  CalogBindingT *b = bindingGet(e, true, &hostOnly);
  if (b != NULL && b->fn != calog__hostTrampoline) {
    bindingUnref(b);
    return NULL;
  }
  if (b != NULL) *h = b->userData;
  return b;
}

void calog__nativeHostDone(CalogNativeEntryT *e, CalogBindingT *b) {
  bindingUnref(b);
  /* as calog__nativeInvoke: a deadline that passed while the host function ran takes effect now */
  CalogActorT *self = &e->rt->host;
  if (self->running != NULL && self->running->deadlineNs != 0) calog__limitTick(self->running, 0, NULL);
}

int32_t calogBrokerCall(CalogT *rt, const char *name, CalogValueT *args, int32_t argCount, CalogValueT *result) {
  if (rt == NULL || name == NULL || result == NULL || argCount < 0 || (argCount && args == NULL))
    return calogFail(result, CALOG_ERR_ARG, "calogBrokerCall: invalid argument");
  if (!onHost(rt)) pthread_mutex_lock(&rt->lock);
  CalogNativeEntryT *e = nativeFind(rt, name);
  if (!onHost(rt)) pthread_mutex_unlock(&rt->lock);
  if (e == NULL || atomic_load(&e->binding) == NULL)
    return calogFail(result, CALOG_ERR_NOT_FOUND, "no native named '%s'", name);
  return calog__nativeInvoke(e, args, argCount, result);
}

/* ---- contexts ---------------------------------------------------------------------------------- */
static void interruptCtx(CalogCtxT *ctx) {
  atomic_fetch_add(&ctx->interruptEpoch, 1); /* what is queued for it now fails when its turn comes */
  calog__limitTrip(ctx, CALOG_LIMIT_INTERRUPT, 0, 0);
  calog__actorWake(ctx->actor);
}

#define CTX_INDEX(id) ((uint32_t)((id) & 0xFFFF) - 1u)
#define CTX_GEN(id) ((uint16_t)(((uint32_t)(id) >> 16) & 0x7FFF))

void calog__ctxRef(CalogCtxT *ctx) { atomic_fetch_add(&ctx->refs, 1); }

void calog__ctxUnref(CalogCtxT *ctx) {
  if (atomic_fetch_sub(&ctx->refs, 1) != 1) return;
  if (ctx->threaded) calog__actorDestroy(&ctx->own);
  pthread_cond_destroy(&ctx->readyCv);
  pthread_mutex_destroy(&ctx->readyMu);
  calogValueFree(&ctx->createErr);
  calogValueFree(&ctx->options);
  free(ctx->shutdownMsg);
  free(ctx);
}

CalogCtxT *calog__ctxResolve(CalogT *rt, CalogContextIdT id) {
  if (rt == NULL || id <= 0) return NULL;
  bool host = onHost(rt);
  if (!host) pthread_mutex_lock(&rt->lock);
  CalogCtxT *ctx = NULL;
  uint32_t i = CTX_INDEX(id);
  if (i < rt->ctxCount) {
    CalogCtxSlotT *s = &rt->ctxSlots[i];
    if (s->ctx != NULL && s->gen == CTX_GEN(id) && !s->ctx->dying) {
      ctx = s->ctx;
      calog__ctxRef(ctx);
    }
  }
  if (!host) pthread_mutex_unlock(&rt->lock);
  return ctx;
}

/* On ctx's thread. */
static int32_t syncNatives(CalogCtxT *ctx, CalogValueT *err) {
  CalogT *rt = ctx->rt;
  while (ctx->nativesSeen < atomic_load(&rt->nativeCount)) {
    uint32_t i = ctx->nativesSeen;
    pthread_mutex_lock(&rt->lock);
    CalogNativeEntryT *e = rt->natives[i];
    pthread_mutex_unlock(&rt->lock);
    int32_t st = ctx->engine->installNative(ctx->interp, e, err);
    if (st != CALOG_OK) return calog__limitCreateFailed(ctx, st, err); /* at the memory limit: that limit's error */
    /* the install may have run a finalizer that entered this context again (a host function it called), whose hold
     * installed this native and the next ones: counting on from here skipped the next (pass 29a) */
    if (ctx->nativesSeen < i + 1) ctx->nativesSeen = i + 1;
  }
  return CALOG_OK;
}

/* Host thread: unlinks the slot (the id dies now; the slot is reused with a new generation). */
static void slotFreeLocked(CalogT *rt, uint32_t index) {
  rt->ctxSlots[index].ctx = NULL;
  /* a slot whose generation would wrap is retired, so an old id can never name a new context */
  if (rt->ctxSlots[index].gen >= 0x7FFF) return;
  rt->ctxSlots[index].nextFree = rt->ctxFree;
  rt->ctxFree = (uint16_t)(index + 1);
}

static void slotRelease(CalogT *rt, CalogCtxT *ctx) {
  uint32_t index = CTX_INDEX(ctx->id);
  pthread_mutex_lock(&rt->lock);
  if (rt->ctxSlots[index].ctx == ctx) slotFreeLocked(rt, index);
  pthread_mutex_unlock(&rt->lock);
}

bool calog__ctxOnClose(CalogCtxT *ctx, void (*fn)(CalogCtxT *ctx, void *arg), void *arg) {
  for (CalogCloseHookT *h = ctx->closeHooks; h; h = h->next)
    if (h->fn == fn && h->arg == arg) return true;
  CalogCloseHookT *h = malloc(sizeof *h);
  if (h == NULL) return false;
  *h = (CalogCloseHookT){.next = ctx->closeHooks, .fn = fn, .arg = arg};
  ctx->closeHooks = h;
  return true;
}

void calog__ctxRunCloseHooks(CalogCtxT *ctx) {
  while (ctx->closeHooks) {
    CalogCloseHookT *h = ctx->closeHooks;
    ctx->closeHooks = h->next;
    h->fn(ctx, h->arg);
    free(h);
  }
}

void *calog__rtExtEnsure(CalogT *rt, void *(*create)(CalogT *rt), void (*close)(void *ext)) {
  void *ext = atomic_load(&rt->ext);
  if (ext != NULL) return ext;
  pthread_mutex_lock(&rt->lock);
  ext = atomic_load(&rt->ext);
  if (ext == NULL && (ext = create(rt)) != NULL) {
    rt->extClose = close;
    atomic_store(&rt->ext, ext);
  }
  pthread_mutex_unlock(&rt->lock);
  return ext;
}

/* Host-thread contexts: the interpreter goes now (nothing of it is on the stack). */
static void ctxFreeHost(CalogT *rt, CalogCtxT *ctx) {
  calog__ctxRunCloseHooks(ctx);
  calog__fnKillOwned(ctx);
  ctx->engine->destroy(ctx->interp);
  ctx->interp = NULL;
  calog__fnKillOwned(ctx); /* closures exported while the interpreter was closing */
  slotRelease(rt, ctx);
  calog__ctxUnref(ctx); /* the registry's reference */
}

/* Threaded contexts, on their own thread, once SHUTDOWN is reached. */
void calog__ctxShutdownHere(CalogCtxT *ctx) {
  pthread_mutex_lock(&ctx->own.mu);
  ctx->own.accepting = false;
  pthread_mutex_unlock(&ctx->own.mu);
  calog__actorDrainDead(&ctx->own);
  calog__ctxRunCloseHooks(ctx);
  calog__fnKillOwned(ctx);
  ctx->engine->destroy(ctx->interp);
  ctx->interp = NULL;
  calog__fnKillOwned(ctx);
  calog__actorDrainDead(&ctx->own);
}

const CalogValueT *calog__optGet(const CalogValueT *options, const char *key) {
  if (options == NULL || options->type != CALOG_AGGREGATE) return NULL;
  CalogAggT *agg = options->as.agg;
  size_t n = strlen(key);
  for (int64_t i = 0; i < agg->pairCount; i++) {
    const CalogValueT *k = &agg->pairs[i].key;
    if (k->type == CALOG_STRING && (size_t)k->as.s.length == n && memcmp(k->as.s.bytes, key, n) == 0)
      return &agg->pairs[i].value;
  }
  return NULL;
}

int32_t calogContextCreate(CalogT *rt, const char *engine, uint32_t flags, CalogContextIdT *idOut, CalogValueT *err) {
  return calogContextCreateWith(rt, engine, flags, NULL, idOut, err);
}

int32_t calogContextCreateWith(CalogT *rt, const char *engine, uint32_t flags, const CalogValueT *options,
                               CalogContextIdT *idOut, CalogValueT *err) {
  CalogValueT scratch = calogValueNil();
  if (err == NULL) err = &scratch;
  int32_t st;
  if (rt == NULL || engine == NULL || idOut == NULL) return calogFail(err, CALOG_ERR_ARG, "invalid argument");
  *idOut = 0;
  if ((flags & ~(uint32_t)CALOG_CONTEXT_OWN_THREAD) != 0) {
    st = calogFail(err, CALOG_ERR_ARG, "unknown context flags 0x%x", (unsigned)flags);
    calogValueFree(&scratch);
    return st;
  }
  pthread_mutex_lock(&rt->host.mu);
  bool closed = rt->closing;
  pthread_mutex_unlock(&rt->host.mu);
  if (closed) { /* calogHostClose destroyed every context and stopped the host's queue: nothing could serve one */
    st = calogFail(err, CALOG_ERR_DEAD, "the runtime is closed");
    calogValueFree(&scratch);
    return st;
  }
  calog__reapThreads(rt); /* threads of contexts destroyed earlier */
  const CalogEngineT *eng = calog__engineFind(engine);
  if (eng == NULL) {
    st = calogFail(err, CALOG_ERR_ENGINE, "unknown engine '%s'", engine);
    calogValueFree(&scratch);
    return st;
  }
  CalogCtxT *ctx = calloc(1, sizeof *ctx);
  if (ctx == NULL || (ctx->shutdownMsg = calog__msgShutdown(rt)) == NULL) {
    free(ctx);
    st = calogFail(err, CALOG_ERR_OOM, "out of memory");
    calogValueFree(&scratch);
    return st;
  }
  ctx->rt = rt;
  ctx->engine = eng;
  ctx->tripPartial = -1;
  if (options != NULL && options->type != CALOG_NIL) {
    if (options->type != CALOG_AGGREGATE) {
      free(ctx->shutdownMsg);
      free(ctx);
      st = calogFail(err, CALOG_ERR_ARG, "context options must be a map");
      calogValueFree(&scratch);
      return st;
    }
    if ((st = calogValueCopy(&ctx->options, options)) != CALOG_OK ||
        (st = calog__limitsSet(ctx, calog__optGet(&ctx->options, "limits"), err)) != CALOG_OK) {
      if (err->type == CALOG_NIL) calogFail(err, st, "cannot copy the context options");
      calogValueFree(&ctx->options);
      free(ctx->shutdownMsg);
      free(ctx);
      calogValueFree(&scratch);
      return st;
    }
  }
  ctx->threaded = (flags & CALOG_CONTEXT_OWN_THREAD) != 0;
  ctx->actor = ctx->threaded ? &ctx->own : &rt->host;
  atomic_init(&ctx->refs, 1); /* the registry's */
  pthread_mutex_init(&ctx->readyMu, NULL);
  pthread_cond_init(&ctx->readyCv, NULL);
  if (ctx->threaded && calog__actorInit(&ctx->own, rt, ctx, false) != CALOG_OK) {
    ctx->threaded = false;
    calog__ctxUnref(ctx);
    st = calogFail(err, CALOG_ERR_OOM, "out of memory");
    calogValueFree(&scratch);
    return st;
  }

  /* take a slot */
  pthread_mutex_lock(&rt->lock);
  uint32_t index;
  if (rt->ctxFree) {
    index = rt->ctxFree - 1u;
    rt->ctxFree = rt->ctxSlots[index].nextFree;
  } else if (rt->ctxCount >= 0xFFFE) {
    pthread_mutex_unlock(&rt->lock);
    calog__ctxUnref(ctx);
    st = calogFail(err, CALOG_ERR_RANGE, "too many contexts");
    calogValueFree(&scratch);
    return st;
  } else {
    if (rt->ctxCount == rt->ctxCap) {
      uint32_t cap = rt->ctxCap ? rt->ctxCap * 2 : 8;
      CalogCtxSlotT *p = realloc(rt->ctxSlots, cap * sizeof *p);
      if (p == NULL) {
        pthread_mutex_unlock(&rt->lock);
        calog__ctxUnref(ctx);
        st = calogFail(err, CALOG_ERR_OOM, "out of memory");
        calogValueFree(&scratch);
        return st;
      }
      rt->ctxSlots = p;
      rt->ctxCap = cap;
    }
    index = rt->ctxCount++;
    rt->ctxSlots[index] = (CalogCtxSlotT){0};
  }
  CalogCtxSlotT *slot = &rt->ctxSlots[index];
  slot->gen = (uint16_t)(slot->gen + 1); /* 1 .. 0x7FFF: slotFreeLocked retires the slot at the top */
  ctx->id = (CalogContextIdT)(((uint32_t)slot->gen << 16) | (index + 1));
  slot->ctx = NULL; /* published once the interpreter exists */
  pthread_mutex_unlock(&rt->lock);

  if (ctx->threaded) {
    st = calog__threadStart(ctx, err);
  } else if (calog__stackLeft() < CALOG_STACK_TEARDOWN) {
    /* an interpreter's set-up runs its own code on this stack (Lua's libraries): with less than an entry needs, it
     * failed inside with the engine's stack error, "C stack overflow" as a script error (Deno, deep in the host's
     * recursion or under a small V8 stack: pass 95b). And what its teardown needs: one made where no look of the
     * host's would have that room could never be closed with its finalizers (see deferReap in actor.c) */
    st = calogFail(err, CALOG_ERR_NESTING, "not enough C stack left on this thread to create a context (%zu KB)",
                   calog__stackLeft() / 1024);
  } else {
    st = eng->create(ctx, &ctx->interp, err);
    if (st != CALOG_OK) st = calog__limitCreateFailed(ctx, st, err);
    if (st == CALOG_OK) {
      st = syncNatives(ctx, err);
      if (st != CALOG_OK) {
        calog__fnKillOwned(ctx);
        eng->destroy(ctx->interp);
        ctx->interp = NULL;
      }
    }
  }
  pthread_mutex_lock(&rt->lock);
  if (st == CALOG_OK) {
    rt->ctxSlots[index].ctx = ctx;
  } else {
    slotFreeLocked(rt, index);
  }
  pthread_mutex_unlock(&rt->lock);
  if (st != CALOG_OK) {
    if (ctx->threaded) {
      /* the thread exited after a failed create; it dropped its own reference */
    }
    calog__ctxUnref(ctx);
    calogValueFree(&scratch);
    return st;
  }
  *idOut = ctx->id;
  calogValueFree(&scratch);
  return CALOG_OK;
}

static int32_t calogContextDestroyImpl(CalogT *rt, CalogContextIdT id) {
  CalogCtxT *ctx = calog__ctxResolve(rt, id);
  if (ctx == NULL) return CALOG_ERR_DEAD;
  atomic_store(&ctx->dying, true);
  interruptCtx(ctx); /* a running script stops at its next step; finalizers at close are bounded too */
  if (ctx->threaded) {
    slotRelease(rt, ctx);
    /* no new calls from now on; SHUTDOWN is the last message the thread takes */
    CalogMsgT *m = ctx->shutdownMsg;
    ctx->shutdownMsg = NULL;
    calog__actorStop(&ctx->own, m);
    calog__ctxUnref(ctx); /* the registry's reference (the thread holds its own) */
  } else if (ctx->busy == 0) {
    ctxFreeHost(rt, ctx);
  }
  /* else: a script of this context is on the stack (it called the host, which destroyed it); the last
   * frame to leave frees it. */
  calog__ctxUnref(ctx); /* resolve's reference */
  return CALOG_OK;
}

static bool fnsEmpty(CalogCtxT *ctx) {
  pthread_mutex_lock(&ctx->actor->mu);
  bool empty = ctx->fns == NULL;
  pthread_mutex_unlock(&ctx->actor->mu);
  return empty;
}

void calog__ctxReapIfIdle(CalogCtxT *ctx) {
  if (atomic_load(&ctx->released) && !atomic_load(&ctx->dying) && fnsEmpty(ctx)) calogContextDestroyImpl(ctx->rt, ctx->id);
}

static int32_t calogContextReleaseImpl(CalogT *rt, CalogContextIdT id) {
  CalogCtxT *ctx = calog__ctxResolve(rt, id);
  if (ctx == NULL) return CALOG_ERR_DEAD;
  /* set before the check: a function value finalized from now on sees it and asks for the reap */
  atomic_store(&ctx->released, true);
  calog__ctxReapIfIdle(ctx);
  calog__ctxUnref(ctx);
  return CALOG_OK;
}

int32_t calogContextCount(CalogT *rt) {
  if (rt == NULL) return 0;
  int32_t n = 0;
  for (uint32_t i = 0; i < rt->ctxCount; i++)
    if (rt->ctxSlots[i].ctx != NULL && !rt->ctxSlots[i].ctx->dying) n++;
  return n;
}

/* ---- running requests on a context's own thread ------------------------------------------------ */
int32_t calog__ctxHold(CalogCtxT *ctx, uint32_t *timeoutMs, CalogValueT *result) {
  if (ctx->dying && !ctx->threaded) return calogFail(result, CALOG_ERR_DEAD, "the context is being destroyed");
  if (calog__stackLeft() < CALOG_STACK_ENTRY)
    return calogFail(result, CALOG_ERR_NESTING, "not enough C stack left on this thread to enter a script (%zu KB)",
                     calog__stackLeft() / 1024);
  int32_t st = calog__nestEnter(ctx->rt, result);
  if (st != CALOG_OK) return st;
  ctx->busy++;
  if (ctx->nativesSeen < atomic_load(&ctx->rt->nativeCount)) {
    /* in an entry of its own: installing a native over a global may run a script's finalizer (of the value it
     * replaces), which then meets the context's limits and sends what its memory limit allows; it ran outside any
     * (no timeout: one looping for ever hung the call; and the budget of whatever context ran below: pass 28a) */
    uint32_t callMs = timeoutMs != NULL ? *timeoutMs : 0;
    ctx->installing = true;
    /* the install's own clock: nested in an entry of the same context, ctx->startNs is the outer entry's (the outer
     * call's running time was taken off this call's timeout: 1 ms left, pass 31a) */
    uint64_t t0 = callMs > 0 ? calog__nowNs() : 0;
    CalogCtxT *prev = calog__entryBegin(ctx, callMs); /* under the call's own timeout too (one looping hung it: 29a) */
    ctx->installing = false;
    int32_t synced = syncNatives(ctx, result);
    if (callMs > 0) { /* the call gets what the install left of its time (at least 1 ms: it still ends with a trip) */
      uint64_t spentMs = (calog__nowNs() - t0) / 1000000u;
      *timeoutMs = spentMs < callMs ? callMs - (uint32_t)spentMs : 1;
    }
    st = calog__entryEnd(ctx, prev, synced, result);
    if (synced == CALOG_OK && st != CALOG_OK) {
      /* installed, but a finalizer it ran met a limit: it was stopped there; the call goes on with limits of its own */
      calogValueFree(result);
      st = CALOG_OK;
    }
    if (st != CALOG_OK) {
      calog__ctxUnhold(ctx);
      return st;
    }
  }
  return CALOG_OK;
}

void calog__ctxUnhold(CalogCtxT *ctx) {
  calog__nestLeave(ctx->rt);
  if (--ctx->busy == 0 && ctx->dying && !ctx->threaded) ctxFreeHost(ctx->rt, ctx);
}

/* An entry into a context's interpreter (held): the outermost one starts the per-entry limits; every one
 * ends with the tripped limit's error if a limit tripped (a script cannot swallow it). */
static _Thread_local CalogCtxT *tlsRunning; /* the innermost entry on this thread (its actor's running) */
/* The entries on this thread, outermost first (past ENTRY_STACK_MAX: counted, not kept; the crossing cap is lower). */
#define ENTRY_STACK_MAX (2 * CALOG_MAX_NESTING + 16)
static _Thread_local CalogCtxT *tlsEntries[ENTRY_STACK_MAX]; /* NULL: a request served (tlsServed) */
static _Thread_local const _Atomic bool *tlsServed[ENTRY_STACK_MAX];
static _Thread_local uint64_t tlsEpochs[ENTRY_STACK_MAX]; /* an entry's context's interruptEpoch as it began */
static _Thread_local int32_t tlsBusy[ENTRY_STACK_MAX];   /* and its context's busy then (its depth in that context) */
static _Thread_local int tlsEntryCount;

CalogCtxT *calog__runningHere(void) { return tlsRunning; }

void calog__servedPush(const _Atomic bool *withdrawn) {
  if (tlsEntryCount < ENTRY_STACK_MAX) {
    tlsEntries[tlsEntryCount] = NULL;
    tlsServed[tlsEntryCount] = withdrawn;
  }
  tlsEntryCount++;
}

void calog__servedPop(void) { tlsEntryCount--; }

bool calog__entriesBelowStop(CalogCtxT *ctx, uint64_t *deadline) {
  int n = tlsEntryCount < ENTRY_STACK_MAX ? tlsEntryCount : ENTRY_STACK_MAX;
  bool under = false; /* past an entry of ctx: what stops from here on is below it */
  for (int i = n - 1; i >= 0; i--) {
    CalogCtxT *o = tlsEntries[i];
    bool stop;
    if (o == NULL) {
      stop = atomic_load_explicit(tlsServed[i], memory_order_acquire); /* a request its caller withdrew */
    } else if (o == ctx) {
      /* its own entries below: its own limits. One of a request ctx's current one was served nested on (async, an
       * entry of its own: calog__limitNestBegin) ends the walk: what stops that request's entries is its own (pass
       * 32a: a callAsync served nested on a wait failed "interrupted" when the call below that wait was withdrawn) */
      if (tlsBusy[i] <= ctx->entryBelow) return false;
      under = true;
      continue;
    } else {
      if (atomic_load_explicit(&o->trip, memory_order_relaxed) == CALOG_LIMIT_NONE && o->deadlineNs != 0) {
        uint64_t now = calog__nowNs();
        if (now >= o->deadlineNs)
          calog__limitTrip(o, CALOG_LIMIT_TIMEOUT, (int64_t)((now - o->startNs) / 1000000u), o->timeoutMs);
        else if (deadline != NULL && (*deadline == 0 || o->deadlineNs < *deadline))
          *deadline = o->deadlineNs;
      }
      stop = atomic_load_explicit(&o->trip, memory_order_relaxed) != CALOG_LIMIT_NONE;
    }
    if (stop) {
      /* above every entry of ctx (a wait of ctx's entry, inside a request served on it): that wait ends, ctx's
       * entry goes on with what the call it waited for returns */
      if (!under) return true;
      int32_t expected = CALOG_LIMIT_NONE;
      if (atomic_compare_exchange_strong(&ctx->trip, &expected, CALOG_LIMIT_INTERRUPT)) ctx->belowStopAt = i + 1;
      return true;
    }
  }
  return false;
}

CalogCtxT *calog__entryBegin(CalogCtxT *ctx, uint32_t timeoutMs) {
  CalogActorT *a = ctx->actor;
  CalogCtxT *prev = a->running;
  if (ctx->busy == ctx->entryBelow + 1) {
    calog__limitEntryStart(ctx, timeoutMs);
    ctx->belowStopAt = 0;
  }
  if (tlsEntryCount < ENTRY_STACK_MAX) {
    tlsEntries[tlsEntryCount] = ctx;
    tlsEpochs[tlsEntryCount] = atomic_load(&ctx->interruptEpoch);
    tlsBusy[tlsEntryCount] = ctx->busy;
  }
  tlsEntryCount++;
  a->running = ctx;
  tlsRunning = ctx;
  return prev;
}

/* An entry of ctx at place idx of the entry stack ended stopped by what was below it (belowStopAt): when that is
 * above ctx's next entry down this thread, the stop was this entry's alone (a call it made timed out, and called back
 * into it) and is cleared for the entries under it, unless an interrupt(), a cancel or a dispose came meanwhile
 * (pass 31a: the outer call failed "interrupted" after it had handled the timed-out call's error). */
static bool belowStopEnds(CalogCtxT *ctx, int idx) {
  if (ctx->belowStopAt == 0 || idx >= ENTRY_STACK_MAX || calog__limitTripped(ctx) != CALOG_LIMIT_INTERRUPT) return false;
  int j = idx - 1;
  while (j >= 0 && tlsEntries[j] != ctx) j--;
  if (j < 0 || ctx->belowStopAt - 1 <= j) return false; /* the stop came from below ctx's next entry: it stops that one too */
  uint32_t ticket = atomic_load(&ctx->runningTicket);
  if (atomic_load(&ctx->interruptEpoch) != tlsEpochs[idx] || atomic_load(&ctx->dying) ||
      (ticket != 0 && calog__ticketCancelled(ctx->rt, ticket)))
    return false;
  int32_t expected = CALOG_LIMIT_INTERRUPT;
  if (!atomic_compare_exchange_strong(&ctx->trip, &expected, CALOG_LIMIT_NONE)) return false;
  ctx->belowStopAt = 0;
  ctx->tripUsed = ctx->tripCeiling = 0;
  ctx->tripPartial = -1;
  /* an interrupt between the epoch load and the clear found the trip taken: it trips now (it bumps the epoch first) */
  if (atomic_load(&ctx->interruptEpoch) != tlsEpochs[idx]) calog__limitTrip(ctx, CALOG_LIMIT_INTERRUPT, 0, 0);
  return true;
}

int32_t calog__entryEnd(CalogCtxT *ctx, CalogCtxT *prev, int32_t st, CalogValueT *result) {
  ctx->actor->running = prev;
  tlsRunning = prev;
  tlsEntryCount--;
  if (calog__limitTripped(ctx) != CALOG_LIMIT_NONE) {
    st = calog__limitEntryEnd(ctx, st, result);
    /* a trip counts once, where it ends: the outermost entry, or a nested one whose stop was its own */
    if (ctx->busy == ctx->entryBelow + 1 || belowStopEnds(ctx, tlsEntryCount))
      atomic_fetch_add_explicit(&ctx->trips, 1, memory_order_relaxed);
  }
  if (ctx->busy == ctx->entryBelow + 1) atomic_store_explicit(&ctx->lastSteps, ctx->stepsUsed, memory_order_relaxed);
  return st;
}

int32_t calog__ctxRun(CalogCtxT *ctx, int kind, const char *name, const char *text, int64_t len, CalogValueT *args,
                      int32_t argc, uint32_t timeoutMs, CalogValueT *result) {
  int32_t st = calog__ctxHold(ctx, &timeoutMs, result);
  if (st != CALOG_OK) return st;
  CalogCtxT *prev = calog__entryBegin(ctx, timeoutMs);
  CalogDeadlineSaveT own; /* nested in an entry of its own context: its per-call timeout, if sooner, is its own */
  own.own = false;
  if (ctx->busy > ctx->entryBelow + 1) calog__limitDeadlineBegin(ctx, timeoutMs, &own);
  switch (kind) {
  case CALOG_MSG_EVAL: st = ctx->engine->eval(ctx->interp, text, len, name ? name : "eval", result); break;
  case CALOG_MSG_CALL: st = ctx->engine->call(ctx->interp, name, args, argc, result); break;
  default: st = ctx->engine->get(ctx->interp, name, result); break;
  }
  st = calog__entryEnd(ctx, prev, st, result);
  calog__limitDeadlineEnd(ctx, &own);
  calog__ctxUnhold(ctx);
  return st;
}

/* Runs a request on the context's thread: here if that is this thread, else as a message. */
static int32_t route(CalogT *rt, CalogContextIdT id, int kind, const char *name, const char *text, int64_t len,
                     CalogValueT *args, int32_t argc, uint32_t timeoutMs, CalogValueT *result) {
  CalogCtxT *ctx = calog__ctxResolve(rt, id);
  if (ctx == NULL) return calogFail(result, CALOG_ERR_DEAD, "the context is destroyed or was never created");
  int32_t st;
  if (calog__actorCurrent(rt) == ctx->actor) st = calog__ctxRun(ctx, kind, name, text, len, args, argc, timeoutMs, result);
  else st = calog__actorCall(ctx->actor, kind, ctx, NULL, NULL, name, text, len, args, argc, timeoutMs, result);
  calog__ctxUnref(ctx);
  return st;
}

int32_t calogContextEval(CalogT *rt, CalogContextIdT id, const char *source, int64_t len, const char *chunkName,
                         CalogValueT *result) {
  return calogContextEvalTimed(rt, id, source, len, chunkName, 0, result);
}

int32_t calogContextEvalTimed(CalogT *rt, CalogContextIdT id, const char *source, int64_t len, const char *chunkName,
                              uint32_t timeoutMs, CalogValueT *result) {
  if (result == NULL) return CALOG_ERR_ARG;
  if (source == NULL || len < 0) return calogFail(result, CALOG_ERR_ARG, "invalid source");
  return route(rt, id, CALOG_MSG_EVAL, chunkName, source, len, NULL, 0, timeoutMs, result);
}

int32_t calogContextCall(CalogT *rt, CalogContextIdT id, const char *name, CalogValueT *args, int32_t argCount,
                         CalogValueT *result) {
  if (result == NULL) return CALOG_ERR_ARG;
  if (name == NULL || argCount < 0 || (argCount && args == NULL))
    return calogFail(result, CALOG_ERR_ARG, "invalid argument");
  return route(rt, id, CALOG_MSG_CALL, name, NULL, 0, args, argCount, 0, result);
}

int32_t calogContextGet(CalogT *rt, CalogContextIdT id, const char *name, CalogValueT *result) {
  if (result == NULL) return CALOG_ERR_ARG;
  if (name == NULL) return calogFail(result, CALOG_ERR_ARG, "invalid argument");
  return route(rt, id, CALOG_MSG_GET, name, NULL, 0, NULL, 0, 0, result);
}

int64_t calogContextMemory(CalogT *rt, CalogContextIdT id) {
  CalogCtxT *ctx = calog__ctxResolve(rt, id);
  if (ctx == NULL) return -1;
  /* a racy read of a counter: fine for monitoring */
  int64_t m = ctx->engine->memory && ctx->interp ? ctx->engine->memory(ctx->interp) : -1;
  calog__ctxUnref(ctx);
  return m;
}

static bool noThreads(CalogT *rt) { return rt->threads == 0; /* called under host.mu */ }

/* ---- limits, interrupts, cancellation -------------------------------------------------------------- */
static _Atomic int64_t leakedThreads, leakedBytes;

int64_t calogLeakStat(int32_t which) {
  return which == 0 ? atomic_load(&leakedThreads) : which == 1 ? atomic_load(&leakedBytes) : -1;
}


int32_t calogContextInterrupt(CalogT *rt, CalogContextIdT id) {
  CalogCtxT *ctx = calog__ctxResolve(rt, id);
  if (ctx == NULL) return CALOG_ERR_DEAD;
  interruptCtx(ctx);
  calog__ctxUnref(ctx);
  return CALOG_OK;
}

bool calog__ticketCancelled(CalogT *rt, uint32_t ticket) {
  bool found = false;
  pthread_mutex_lock(&rt->host.mu);
  for (uint32_t i = 0; i < rt->cancelledCount && !found; i++) found = rt->cancelled[i] == ticket;
  pthread_mutex_unlock(&rt->host.mu);
  return found;
}

void calogRequestCancel(CalogT *rt, uint32_t ticket) {
  if (rt == NULL || ticket == 0) return;
  pthread_mutex_lock(&rt->host.mu);
  /* still queued or running: issued, not collected, and not completed yet */
  bool pending = calog__ticketOpen(rt, ticket);
  for (CalogCompletionT *c = rt->doneHead; c && pending; c = c->next) pending = c->ticket != ticket;
  for (uint32_t i = 0; i < rt->cancelledCount && pending; i++) pending = rt->cancelled[i] != ticket; /* once is enough */
  if (pending && rt->cancelledCount == rt->cancelledCap) {
    uint32_t cap = rt->cancelledCap ? rt->cancelledCap * 2 : 8;
    uint32_t *p = realloc(rt->cancelled, cap * sizeof *p);
    if (p) rt->cancelled = p, rt->cancelledCap = cap;
  }
  if (pending && rt->cancelledCount < rt->cancelledCap) rt->cancelled[rt->cancelledCount++] = ticket;
  pthread_mutex_unlock(&rt->host.mu);
  if (!pending) return;
  /* only the entry running that request stops (and calls it made back into its context, which share its limits):
   * an interrupt of the context stopped every request in it, another callAsync whose wait the cancelled one was
   * served on too. Under the actor's mutex, where the context thread leaves a ticket: the trip cannot land on the
   * entry that runs once this one has left. */
  for (uint32_t i = 0; i < rt->ctxCount; i++) {
    CalogCtxT *ctx = rt->ctxSlots[i].ctx;
    if (ctx == NULL) continue;
    pthread_mutex_lock(&ctx->actor->mu);
    bool hit = atomic_load(&ctx->runningTicket) == ticket;
    if (hit) {
      calog__limitTrip(ctx, CALOG_LIMIT_INTERRUPT, 0, 0);
      pthread_cond_broadcast(&ctx->actor->cv);
    }
    pthread_mutex_unlock(&ctx->actor->mu);
  }
}

int32_t calogContextSetLimits(CalogT *rt, CalogContextIdT id, const CalogValueT *limits, CalogValueT *err) {
  CalogCtxT *ctx = calog__ctxResolve(rt, id);
  if (ctx == NULL) return calogFail(err, CALOG_ERR_DEAD, "the context is destroyed or was never created");
  int32_t st = calog__limitsSet(ctx, limits, err);
  calog__ctxUnref(ctx);
  return st;
}

int64_t calogContextStat(CalogT *rt, CalogContextIdT id, int32_t which) {
  CalogCtxT *ctx = calog__ctxResolve(rt, id);
  if (ctx == NULL) return -1;
  int64_t v = -1;
  switch (which) {
  case CALOG_STAT_MEMORY: v = ctx->engine->memory && ctx->interp ? ctx->engine->memory(ctx->interp) : -1; break;
  case CALOG_STAT_LAST_STEPS: v = atomic_load_explicit(&ctx->lastSteps, memory_order_relaxed); break;
  case CALOG_STAT_TRIPS: v = atomic_load_explicit(&ctx->trips, memory_order_relaxed); break;
  case CALOG_STAT_MEMORY_LIMIT: v = calog__limitMemory(ctx); break;
  }
  calog__ctxUnref(ctx);
  return v;
}

/* The outcome kept for OUT and the function handles the wire handed out. Host thread. */
static void releaseWireState(CalogT *rt) {
  calog__hostKeepUntilNext(rt, NULL);
  for (uint32_t i = 0; i < rt->handleCount; i++)
    if (rt->handles[i].fn) calogFnReleaseWire(rt, i, rt->handles[i].gen);
}

void calogHostClose(CalogT *rt) {
  if (rt == NULL) return;
  pthread_mutex_lock(&rt->host.mu);
  bool done = rt->closing;
  pthread_mutex_unlock(&rt->host.mu);
  if (done) return;
  atomic_store(&rt->waker, NULL); /* from here on the host pumps by itself; JS callbacks go away after */
  /* threaded contexts still alive (being destroyed now or earlier): watched through the grace period */
  uint32_t nWatch = 0;
  CalogCtxT **watch = calloc(rt->ctxCount + 1u, sizeof *watch);
  for (uint32_t i = 0; i < rt->ctxCount; i++) {
    CalogCtxT *ctx = rt->ctxSlots[i].ctx;
    if (ctx) {
      if (!ctx->threaded) ctx->busy = 0; /* calogDestroy is never called from inside a call */
      else if (watch) calog__ctxRef(watch[nWatch++] = ctx);
      calogContextDestroyImpl(rt, ctx->id);
    }
  }
  /* context threads may still call the host while they stop; each was interrupted by its destroy */
  uint64_t deadline = calog__nowNs() + (uint64_t)CALOG_DISPOSE_GRACE_MS * 1000000u;
  if (!calog__hostPumpUntilTimed(rt, noThreads, deadline)) {
    /* a thread that does not come back (a native that never returns): abandoned, parked for good when it
     * does; the runtime's memory is never freed, so whatever it touches later stays valid */
    for (uint32_t i = 0; i < nWatch; i++) {
      CalogCtxT *ctx = watch[i];
      if (atomic_load(&ctx->exited)) continue;
      atomic_store(&ctx->abandoned, true);
      rt->abandoned++;
      atomic_fetch_add(&leakedThreads, 1);
      int64_t m = ctx->engine->memory && ctx->interp ? ctx->engine->memory(ctx->interp) : 0;
      if (m > 0) atomic_fetch_add(&leakedBytes, m);
      pthread_detach(ctx->own.thread);
    }
    if (watch == NULL) rt->abandoned++; /* out of memory: cannot tell which; keep everything */
  }
  for (uint32_t i = 0; i < nWatch; i++)
    if (!atomic_load(&watch[i]->abandoned)) calog__ctxUnref(watch[i]);
  free(watch);
  calog__reapThreads(rt);
  pthread_mutex_lock(&rt->host.mu);
  rt->host.accepting = false;
  rt->closing = true;
  pthread_cond_broadcast(&rt->host.cv);
  while (rt->hostWaiters > 0) pthread_cond_wait(&rt->host.cv, &rt->host.mu);
  pthread_mutex_unlock(&rt->host.mu);
  calog__actorDrainDead(&rt->host);
  calog__actorDropReaps(rt); /* those deferred for want of stack: their contexts were destroyed above */
  /* the extension (the I/O layer) goes once no context is left to use it; an abandoned thread may */
  void *ext = atomic_exchange(&rt->ext, NULL);
  if (ext != NULL && rt->abandoned == 0) rt->extClose(ext);
  calog__hostKeepUntilNext(rt, NULL);
  pthread_mutex_lock(&rt->host.mu); /* an abandoned thread may still deliver (it then sees closing) */
  CalogCompletionT *left = rt->doneHead;
  rt->doneHead = rt->doneTail = NULL;
  atomic_store(&rt->doneCount, 0);
  pthread_mutex_unlock(&rt->host.mu);
  for (CalogCompletionT *c = left, *next; c; c = next) {
    next = c->next;
    calogValueFree(&c->result);
    free(c);
  }
  releaseWireState(rt);
}

void calogDestroy(CalogT *rt) {
  if (rt == NULL) return;
  calogHostClose(rt);
  if (rt->abandoned > 0) return; /* an abandoned thread may still touch any of it (see calogHostClose) */
  releaseWireState(rt); /* what wire calls made between calogHostClose and now left (an error kept for OUT) */
  free(rt->cancelled);
  free(rt->openTickets);
  free(rt->keptFns);
  free(rt->lost);
  uint32_t n = atomic_load(&rt->nativeCount);
  for (uint32_t i = 0; i < n; i++) {
    bindingUnref(atomic_load(&rt->natives[i]->binding));
    free(rt->natives[i]->name);
    free(rt->natives[i]);
  }
  free(rt->natives);
  free(rt->ctxSlots);
  free(rt->handles);
  free(rt->wire.in);
  free(rt->wire.out);
  calog__actorDestroy(&rt->host);
  pthread_mutex_destroy(&rt->lock);
  free(rt);
}

/* ---- wire entry points --------------------------------------------------------------------------- */
CalogWireControlT *calogWireControl(CalogT *rt) { return rt ? &rt->wire : NULL; }

void calogHostInstall(CalogT *rt, CalogHostCallFnT call, CalogHostReleaseFnT release) {
  if (rt == NULL) return;
  rt->hostCall = call;
  rt->hostRelease = release;
}

/* Writes value (result or error) to OUT and turns status into the wire return convention. Queued host
 * work (releases posted by context threads, calls into host functions) is served first, while OUT is free:
 * every crossing leaves the host queue empty. */
static int32_t reply(CalogT *rt, int32_t st, CalogValueT *value) {
  calog__hostServe(rt);
  uint32_t len = calog__hostEncodeOutcome(rt, &st, value);
  if (st != CALOG_OK) return -st;
  return (int32_t)len;
}

uint32_t calog__hostEncodeOutcome(CalogT *rt, int32_t *st, CalogValueT *value) {
  uint32_t len = 0;
  int32_t est = calog__wireEncodeOutcome(rt, value, *st != CALOG_OK, &len);
  calog__hostKeepUntilNext(rt, value);
  if (est != CALOG_OK) {
    CalogValueT msg = calogValueNil();
    calogFail(&msg, est, "cannot return the %s: %s", *st == CALOG_OK ? "result" : "error", calogStatusMessage(est));
    if (calog__wireEncodeOutcome(rt, &msg, false, &len) != CALOG_OK) len = 0;
    calogValueFree(&msg);
    if (*st == CALOG_OK) *st = est;
  }
  return len;
}

static bool readerFor(CalogT *rt, uint32_t inLen, CalogReaderT *rd) {
  if (rt == NULL) return false;
  rt->wire.inUnread = 0; /* the request reached us: its host references are ours (see CalogWireControlT) */
  if (inLen > rt->wire.inCap) return false;
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

static int32_t calogContextCreateWireImpl(CalogT *rt, uint32_t inLen) {
  CalogValueT v = calogValueNil();
  CalogReaderT rd;
  if (rt == NULL) return -CALOG_ERR_ARG;
  if (!readerFor(rt, inLen, &rd)) return BAD_IN(rt);
  char engine[64];
  int32_t st = readName(&rd, engine, sizeof engine, &v);
  CalogValueT flags = calogValueNil();
  if (st == CALOG_OK) st = calog__wireDecode(rt, &rd, &flags, &v);
  if (st == CALOG_OK && flags.type != CALOG_INT) st = calogFail(&v, CALOG_ERR_ARG, "flags must be an int");
  CalogValueT options = calogValueNil();
  if (st == CALOG_OK && rd.pos < rd.len) st = calog__wireDecode(rt, &rd, &options, &v);
  if (st != CALOG_OK) {
    calogValueFree(&flags);
    calogValueFree(&options);
    return reply(rt, st, &v);
  }
  CalogContextIdT id;
  st = calogContextCreateWith(rt, engine, (uint32_t)flags.as.i, &options, &id, &v);
  calogValueFree(&options);
  if (st != CALOG_OK) return reply(rt, st, &v);
  return id;
}

/* IN: [source string, chunk name string|nil] -> a lent source in IN and the chunk name copied out. */
static int32_t readEvalRequest(CalogT *rt, uint32_t inLen, const char **src, uint32_t *n, char chunk[256],
                               uint32_t *timeoutMs, CalogValueT *err) {
  CalogReaderT rd;
  *timeoutMs = 0;
  if (!readerFor(rt, inLen, &rd)) return calogFail(err, CALOG_ERR_ARG, "request larger than the IN buffer");
  if (calog__wireReadString(&rd, src, n) != CALOG_OK) return calogFail(err, CALOG_ERR_ARG, "expected a source string");
  int32_t st = readName(&rd, chunk, 256, err);
  if (st != CALOG_OK || rd.pos >= rd.len) return st;
  CalogValueT t = calogValueNil();
  if ((st = calog__wireDecode(rt, &rd, &t, err)) != CALOG_OK) return st;
  if (t.type == CALOG_INT && t.as.i >= 0 && t.as.i <= UINT32_MAX) *timeoutMs = (uint32_t)t.as.i;
  else if (t.type != CALOG_NIL) st = calogFail(err, CALOG_ERR_ARG, "timeoutMs must be an integer from 0 to 2^32-1");
  calogValueFree(&t);
  return st;
}

static int32_t calogEvalWireImpl(CalogT *rt, CalogContextIdT id, uint32_t inLen) {
  CalogValueT v = calogValueNil();
  if (rt == NULL) return -CALOG_ERR_ARG;
  const char *src;
  uint32_t n;
  char chunk[256];
  uint32_t timeoutMs;
  int32_t st = readEvalRequest(rt, inLen, &src, &n, chunk, &timeoutMs, &v);
  if (st != CALOG_OK) return reply(rt, st, &v);
  /* src points into IN, which host calls served while we wait rewrite: the engine gets its own copy */
  char *copy = malloc((size_t)n + 1);
  if (copy == NULL) return reply(rt, calogFail(&v, CALOG_ERR_OOM, "out of memory"), &v);
  memcpy(copy, src, n);
  copy[n] = '\0';
  st = calogContextEvalTimed(rt, id, copy, n, chunk[0] ? chunk : NULL, timeoutMs, &v);
  free(copy);
  return reply(rt, st, &v);
}

/* Whether the host's queue holds work calog__hostServe would run now (host thread). */
static bool hostBusy(CalogT *rt) {
  CalogActorT *h = &rt->host;
  if (atomic_load_explicit(&h->pending, memory_order_acquire) != 0) return true;
  if (h->nesting != 0) return false; /* tasks run only at the top level */
  return atomic_load_explicit(&h->tasks, memory_order_acquire) != 0; /* no lock per crossing */
}

void calogHostOutDone(CalogT *rt) {
  if (rt != NULL) calog__hostKeepUntilNext(rt, NULL);
}

/* reply() for a result an engine wrote straight into OUT: queued host work is served too, with OUT kept
 * aside meanwhile (host functions it runs use OUT for their arguments). */
static int32_t replyWritten(CalogT *rt, uint32_t len) {
  if (hostBusy(rt)) {
    uint8_t *keep = malloc(len ? len : 1);
    if (keep != NULL) { /* without it, the work waits for the next crossing */
      memcpy(keep, rt->wire.out, len);
      calog__hostServe(rt);
      memcpy(rt->wire.out, keep, len); /* OUT only grows */
      free(keep);
    }
  }
  calog__hostKeepUntilNext(rt, NULL);
  return (int32_t)len;
}

/* A call from the wire straight onto the engine's stack and back (a context of this thread whose engine has
 * callVia): the arguments are read from IN, the result written into OUT, with no CalogValueT in between.
 * The same steps as calogContextCall / calogFnInvoke on this thread (hold, entry, limits). fn: a closure of
 * ctx's engine, retained by the caller until this returns, else name. */
static int32_t callDirect(CalogT *rt, CalogCtxT *ctx, const char *name, CalogFnT *fn, CalogReaderT *rd, int32_t argc) {
  CalogValueT v = calogValueNil();
  int32_t st = calog__ctxHold(ctx, NULL, &v);
  if (st != CALOG_OK) {
    /* refused before the engine read them (no stack left to enter, a dying context): the host function references
     * among the arguments are ours all the same (see refuseArgs), so they are decoded and freed, which gives each
     * back (Deno, a call at the stack's end with a host function argument kept it for the runtime's life) */
    for (int32_t i = 0; i < argc; i++) {
      CalogValueT arg = calogValueNil(), ignored = calogValueNil();
      int32_t dst = calog__wireDecode(rt, rd, &arg, &ignored);
      calogValueFree(&arg);
      calogValueFree(&ignored);
      if (dst != CALOG_OK) break;
    }
    return reply(rt, st, &v);
  }
  /* the arguments are read from a copy of IN: the engine may run code (a metamethod, a finalizer) before it
   * has read them all, whose host calls rewrite IN */
  uint8_t small[512];
  uint32_t n = rd->len - rd->pos;
  uint8_t *copy = n <= sizeof small ? small : malloc(n);
  if (copy == NULL) {
    calog__ctxUnhold(ctx);
    return reply(rt, calogFail(&v, CALOG_ERR_OOM, "out of memory"), &v);
  }
  memcpy(copy, rd->buf + rd->pos, n);
  CalogReaderT args = {.buf = copy, .len = n, .pos = 0};
  /* fn: the caller (calogFnCallWire) holds a reference for the whole call, so the closure dropping its last
   * outside reference while it runs frees nothing: no second retain (two atomic operations per crossing) */
  CalogCtxT *prev = calog__entryBegin(ctx, 0);
  CalogSrcT src;
  CalogSinkT out;
  calog__srcWire(&src, rt, &args, argc);
  calog__sinkWire(&out, rt, 0, "cannot return the result");
  st = ctx->engine->callVia(ctx->interp, name, fn ? fn->userData : NULL, &src, argc, &out, &v);
  calog__srcEnd(&src);
  if (copy != small) free(copy);
  st = calog__entryEnd(ctx, prev, st, &v);
  calog__ctxUnhold(ctx);
  uint32_t len;
  calog__sinkEnd(&out, st == CALOG_OK, &len);
  if (st != CALOG_OK) return reply(rt, st, &v);
  return replyWritten(rt, len);
}

static int32_t callWithArgs(CalogT *rt, CalogReaderT *rd, CalogContextIdT id, const char *name, CalogFnT *fn) {
  CalogValueT v = calogValueNil();
  CalogCtxT *ctx = fn ? fn->owner : calog__ctxResolve(rt, id);
  if (ctx != NULL && ctx->engine->callVia != NULL && calog__actorCurrent(rt) == ctx->actor &&
      (fn == NULL || (fn->fn == ctx->engine->closureFn && atomic_load(&fn->alive)))) {
    /* malformed arguments take the decoding path below: the same error, and the host functions decoded
     * before the fault are given back as they are there */
    CalogReaderT args = *rd;
    int32_t argc;
    bool hostFn;
    if (calog__wireCheckArgs(rt, &args, &argc, &hostFn, &v) == CALOG_OK) {
      int32_t r = callDirect(rt, ctx, name, fn, &args, argc);
      if (!fn) calog__ctxUnref(ctx);
      return r;
    }
    calogValueFree(&v);
  }
  if (ctx != NULL && !fn) calog__ctxUnref(ctx);
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

static int32_t refuseArgs(CalogT *rt, CalogReaderT *rd, int32_t st, CalogValueT *v);

static int32_t calogCallWireImpl(CalogT *rt, CalogContextIdT id, uint32_t inLen) {
  CalogValueT v = calogValueNil();
  CalogReaderT rd;
  if (rt == NULL) return -CALOG_ERR_ARG;
  if (!readerFor(rt, inLen, &rd)) return BAD_IN(rt);
  char name[256];
  int32_t st = readName(&rd, name, sizeof name, &v);
  if (st != CALOG_OK) return refuseArgs(rt, &rd, st, &v);
  return callWithArgs(rt, &rd, id, name, NULL);
}

static int32_t calogGetWireImpl(CalogT *rt, CalogContextIdT id, uint32_t inLen) {
  CalogValueT v = calogValueNil();
  CalogReaderT rd;
  if (rt == NULL) return -CALOG_ERR_ARG;
  if (!readerFor(rt, inLen, &rd)) return BAD_IN(rt);
  char name[256];
  int32_t st = readName(&rd, name, sizeof name, &v);
  if (st == CALOG_OK) st = calogContextGet(rt, id, name, &v);
  return reply(rt, st, &v);
}

/* Refuses a call (status st, its error in *v) before its arguments were read: the host function references among them
 * became ours when readerFor zeroed inUnread, so they are decoded and freed, which gives each back (a call of a
 * function disposed from a getter of its own arguments kept every host function in them for the runtime's life; a
 * call with an invalid name kept them too). */
static int32_t refuseArgs(CalogT *rt, CalogReaderT *rd, int32_t st, CalogValueT *v) {
  CalogValueT ignored = calogValueNil();
  CalogValueT stackArgs[8], *args;
  int32_t argc;
  if (calog__wireDecodeArgs(rt, rd, stackArgs, 8, &args, &argc, &ignored) == CALOG_OK) calog__argsFree(args, argc, stackArgs);
  calogValueFree(&ignored);
  return reply(rt, st, v);
}

static int32_t refuseReleased(CalogT *rt, CalogReaderT *rd) {
  CalogValueT v = calogValueNil();
  return refuseArgs(rt, rd, calogFail(&v, CALOG_ERR_DEAD, "function was released"), &v);
}

static int32_t calogFnCallWireImpl(CalogT *rt, uint32_t slot, uint32_t gen, uint32_t inLen) {
  CalogValueT v = calogValueNil();
  CalogReaderT rd;
  if (rt == NULL) return -CALOG_ERR_ARG;
  if (!readerFor(rt, inLen, &rd)) return BAD_IN(rt);
  if (slot >= rt->handleCount || rt->handles[slot].gen != gen || rt->handles[slot].fn == NULL)
    return refuseReleased(rt, &rd);
  CalogFnT *fn = rt->handles[slot].fn;
  calogFnRetain(fn); /* the call may release the handle (host disposes the function from inside it) */
  int32_t r = callWithArgs(rt, &rd, 0, NULL, fn);
  calogFnRelease(fn);
  return r;
}

static int32_t calogRegisterHostWireImpl(CalogT *rt, uint32_t inLen) {
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
  st = registerOn(rt, name, calog__hostTrampoline, h, calog__hostRelease, &rt->host);
  if (st != CALOG_OK) {
    free(h);
    return reply(rt, calogFail(&v, st, st == CALOG_ERR_ARG ? "invalid native name '%s'" : "cannot register '%s'", name), &v);
  }
  return 0;
}

static int32_t calogContextSetLimitsWireImpl(CalogT *rt, CalogContextIdT id, uint32_t inLen) {
  CalogValueT v = calogValueNil();
  CalogReaderT rd;
  if (rt == NULL) return -CALOG_ERR_ARG;
  if (!readerFor(rt, inLen, &rd)) return BAD_IN(rt);
  CalogValueT limits = calogValueNil();
  int32_t st = calog__wireDecode(rt, &rd, &limits, &v);
  if (st == CALOG_OK) st = calogContextSetLimits(rt, id, &limits, &v);
  calogValueFree(&limits);
  return st == CALOG_OK ? 0 : reply(rt, st, &v);
}

static int32_t calogUnregisterWireImpl(CalogT *rt, uint32_t inLen) {
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
_Static_assert(offsetof(CalogWireControlT, pollTicket) == 32, "wire control layout");
_Static_assert(offsetof(CalogWireControlT, pollStatus) == 36, "wire control layout");
_Static_assert(offsetof(CalogWireControlT, pollLen) == 40, "wire control layout");
_Static_assert(offsetof(CalogWireControlT, hostInterest) == 48, "wire control layout");
_Static_assert(offsetof(CalogWireControlT, lostReleases) == 52, "wire control layout");
_Static_assert(offsetof(CalogWireControlT, fnsTaken) == 56, "wire control layout");
_Static_assert(offsetof(CalogWireControlT, inUnread) == 60, "wire control layout");
_Static_assert(offsetof(CalogWireControlT, ret) == 64, "wire control layout");
_Static_assert(sizeof(CalogWireControlT) == 72, "wire control layout");

/* ---- asynchronous requests ----------------------------------------------------------------------- */
static int32_t newTicket(CalogT *rt) {
  uint32_t t = rt->nextTicket++;
  if (rt->nextTicket >= 0x7FFFFFFFu) rt->nextTicket = 1;
  return (int32_t)t;
}

static char *dupBytes(const char *s, uint32_t n) {
  char *p = malloc((size_t)n + 1);
  if (p) {
    memcpy(p, s, n);
    p[n] = '\0';
  }
  return p;
}

/* Runs a request to a context without waiting: on a threaded context it is queued; on a host-thread one
 * it runs now. Takes name/text/args. Returns the ticket or the wire error. */
static int32_t submit(CalogT *rt, CalogContextIdT id, int kind, char *name, char *text, int64_t len,
                      CalogValueT *args, int32_t argc, uint32_t timeoutMs) {
  CalogValueT v = calogValueNil();
  CalogCtxT *ctx = calog__ctxResolve(rt, id);
  int32_t st = CALOG_OK;
  int32_t ticket = 0;
  if (ctx == NULL) {
    st = calogFail(&v, CALOG_ERR_DEAD, "the context is destroyed or was never created");
  } else {
    ticket = newTicket(rt);
    if (ctx->actor == &rt->host) {
      st = calog__ctxRun(ctx, kind, name, text, len, args, argc, timeoutMs, &v);
      calog__hostComplete(rt, (uint32_t)ticket, st, &v);
      st = CALOG_OK;
    } else if ((st = calog__actorSubmit(ctx->actor, kind, ctx, NULL, name, text, len, args, argc, timeoutMs, (uint32_t)ticket, false)) == CALOG_OK) {
      calog__ctxUnref(ctx);
      return ticket; /* the message owns name/text/args now */
    } else {
      calogFail(&v, st, "the context is shutting down or was disposed");
    }
    calog__ctxUnref(ctx);
  }
  free(name);
  free(text);
  for (int32_t i = 0; i < argc; i++) calogValueFree(&args[i]);
  free(args);
  return st == CALOG_OK ? ticket : reply(rt, st, &v);
}

static int32_t calogEvalAsyncWireImpl(CalogT *rt, CalogContextIdT id, uint32_t inLen) {
  CalogValueT v = calogValueNil();
  if (rt == NULL) return -CALOG_ERR_ARG;
  const char *src;
  uint32_t n;
  char chunk[256];
  uint32_t timeoutMs;
  int32_t st = readEvalRequest(rt, inLen, &src, &n, chunk, &timeoutMs, &v);
  if (st != CALOG_OK) return reply(rt, st, &v);
  char *text = dupBytes(src, n), *name = chunk[0] ? strdup(chunk) : NULL;
  if (text == NULL || (chunk[0] && name == NULL)) {
    free(text);
    free(name);
    return reply(rt, calogFail(&v, CALOG_ERR_OOM, "out of memory"), &v);
  }
  return submit(rt, id, CALOG_MSG_EVAL, name, text, n, NULL, 0, timeoutMs);
}

static int32_t calogCallAsyncWireImpl(CalogT *rt, CalogContextIdT id, uint32_t inLen) {
  CalogValueT v = calogValueNil();
  CalogReaderT rd;
  if (rt == NULL) return -CALOG_ERR_ARG;
  if (!readerFor(rt, inLen, &rd)) return BAD_IN(rt);
  char buf[256];
  int32_t st = readName(&rd, buf, sizeof buf, &v);
  if (st != CALOG_OK) return refuseArgs(rt, &rd, st, &v);
  CalogValueT *args;
  int32_t argc;
  if ((st = calog__wireDecodeArgs(rt, &rd, NULL, 0, &args, &argc, &v)) != CALOG_OK) return reply(rt, st, &v);
  char *name = strdup(buf);
  if (name == NULL) {
    calog__argsFree(args, argc, NULL);
    return reply(rt, calogFail(&v, CALOG_ERR_OOM, "out of memory"), &v);
  }
  return submit(rt, id, CALOG_MSG_CALL, name, NULL, 0, args, argc, 0);
}

static int32_t fnCallAsync(CalogT *rt, uint32_t slot, uint32_t gen, uint32_t inLen, bool awaited) {
  CalogValueT v = calogValueNil();
  CalogReaderT rd;
  if (rt == NULL) return -CALOG_ERR_ARG;
  if (!readerFor(rt, inLen, &rd)) return BAD_IN(rt);
  if (slot >= rt->handleCount || rt->handles[slot].gen != gen || rt->handles[slot].fn == NULL)
    return refuseReleased(rt, &rd);
  CalogFnT *fn = rt->handles[slot].fn;
  CalogValueT *args;
  int32_t argc;
  int32_t st = calog__wireDecodeArgs(rt, &rd, NULL, 0, &args, &argc, &v);
  if (st != CALOG_OK) return reply(rt, st, &v);
  int32_t ticket = newTicket(rt);
  if (fn->actor != NULL && fn->actor != &rt->host && atomic_load(&fn->alive)) {
    st = calog__actorSubmit(fn->actor, CALOG_MSG_FN, NULL, fn, NULL, NULL, 0, args, argc, 0, (uint32_t)ticket, awaited);
    if (st == CALOG_OK) return ticket;
    calog__argsFree(args, argc, NULL);
    return reply(rt, calogFail(&v, CALOG_ERR_DEAD, "the function's context is shutting down or was disposed"), &v);
  }
  calogFnRetain(fn);
  st = calogFnInvoke(fn, args, argc, &v);
  calogFnRelease(fn);
  calog__argsFree(args, argc, NULL);
  calog__hostComplete(rt, (uint32_t)ticket, st, &v);
  return ticket;
}

static int32_t calogFnCallAsyncWireImpl(CalogT *rt, uint32_t slot, uint32_t gen, uint32_t inLen) {
  return fnCallAsync(rt, slot, gen, inLen, false);
}

static int32_t calogFnCallAwaitedWireImpl(CalogT *rt, uint32_t slot, uint32_t gen, uint32_t inLen) {
  return fnCallAsync(rt, slot, gen, inLen, true);
}

/* The exported entry points that may run host callbacks: each also leaves its return value in the control
 * block (CalogWireControlT.ret). */
CALOG_RETURN_TO_CONTROL(calogContextCreateWire, (CalogT *rt, uint32_t inLen), (rt, inLen))
CALOG_RETURN_TO_CONTROL(calogContextDestroy, (CalogT *rt, CalogContextIdT id), (rt, id))
CALOG_RETURN_TO_CONTROL(calogContextRelease, (CalogT *rt, CalogContextIdT id), (rt, id))
CALOG_RETURN_TO_CONTROL(calogEvalWire, (CalogT *rt, CalogContextIdT id, uint32_t inLen), (rt, id, inLen))
CALOG_RETURN_TO_CONTROL(calogCallWire, (CalogT *rt, CalogContextIdT id, uint32_t inLen), (rt, id, inLen))
CALOG_RETURN_TO_CONTROL(calogGetWire, (CalogT *rt, CalogContextIdT id, uint32_t inLen), (rt, id, inLen))
CALOG_RETURN_TO_CONTROL(calogFnCallWire, (CalogT *rt, uint32_t slot, uint32_t gen, uint32_t inLen), (rt, slot, gen, inLen))
CALOG_RETURN_TO_CONTROL(calogRegisterHostWire, (CalogT *rt, uint32_t inLen), (rt, inLen))
CALOG_RETURN_TO_CONTROL(calogUnregisterWire, (CalogT *rt, uint32_t inLen), (rt, inLen))
CALOG_RETURN_TO_CONTROL(calogEvalAsyncWire, (CalogT *rt, CalogContextIdT id, uint32_t inLen), (rt, id, inLen))
CALOG_RETURN_TO_CONTROL(calogCallAsyncWire, (CalogT *rt, CalogContextIdT id, uint32_t inLen), (rt, id, inLen))
CALOG_RETURN_TO_CONTROL(calogFnCallAsyncWire, (CalogT *rt, uint32_t slot, uint32_t gen, uint32_t inLen), (rt, slot, gen, inLen))
CALOG_RETURN_TO_CONTROL(calogFnCallAwaitedWire, (CalogT *rt, uint32_t slot, uint32_t gen, uint32_t inLen), (rt, slot, gen, inLen))
CALOG_RETURN_TO_CONTROL(calogContextSetLimitsWire, (CalogT *rt, CalogContextIdT id, uint32_t inLen), (rt, id, inLen))
