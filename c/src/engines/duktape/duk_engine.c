/* duk_engine.c -- the JavaScript engine binding (Duktape 2.7, name "js"): the CalogEngineT vtable over
 * duk_adapter.c, the broker-owned allocator, the fatal handler and the execution-timeout hook.
 *
 * Every entry (create, installNative, eval, call, get, calling an exported function) runs inside
 * duk_safe_call, so no Duktape error ever reaches the fatal handler from our side. */
#include "duk_adapter.h"

#include <stdio.h>
#include <time.h>

/* ---- allocator: a size header in front of every block, so calogContextMemory can count bytes ------
 * The count is the context thread's; other threads read the copy published with a relaxed store. */
typedef union DukHdrT {
  max_align_t align;
  size_t size;
} DukHdrT;

static void *dukAlloc(void *udata, duk_size_t size) {
  DukCtxT *dc = udata;
  if (size > SIZE_MAX - sizeof(DukHdrT)) return NULL;
  int64_t limit = calog__limitMemory(dc->owner);
  if (limit > 0 && dc->mem + size > (size_t)limit) {
    dc->memRefused = dc->mem + size;
    return NULL;
  }
  DukHdrT *h = malloc(sizeof *h + size);
  if (h == NULL) return NULL;
  h->size = size;
  dc->mem += size;
  atomic_store_explicit(&dc->memShown, dc->mem, memory_order_relaxed);
  return h + 1;
}

static void dukFree(void *udata, void *ptr) {
  if (ptr == NULL) return;
  DukHdrT *h = (DukHdrT *)ptr - 1;
  DukCtxT *dc = udata;
  dc->mem -= h->size;
  atomic_store_explicit(&dc->memShown, dc->mem, memory_order_relaxed);
  free(h);
}

static void *dukRealloc(void *udata, void *ptr, duk_size_t size) {
  DukCtxT *dc = udata;
  if (ptr == NULL) return size ? dukAlloc(udata, size) : NULL;
  if (size == 0) {
    dukFree(udata, ptr);
    return NULL;
  }
  if (size > SIZE_MAX - sizeof(DukHdrT)) return NULL;
  DukHdrT *h = (DukHdrT *)ptr - 1;
  size_t old = h->size;
  int64_t limit = calog__limitMemory(dc->owner);
  if (limit > 0 && size > old && dc->mem - old + size > (size_t)limit) {
    dc->memRefused = dc->mem - old + size;
    return NULL;
  }
  DukHdrT *n = realloc(h, sizeof *n + size);
  if (n == NULL) return NULL;
  n->size = size;
  dc->mem = dc->mem - old + size;
  atomic_store_explicit(&dc->memShown, dc->mem, memory_order_relaxed);
  return n + 1;
}

/* Reached only by an error thrown outside any protected call, which this adapter never makes, or by an
 * internal Duktape assertion. It must not return; the host learns why on stderr. */
static void dukFatal(void *udata, const char *msg) {
  DukCtxT *dc = udata;
  fprintf(stderr, "calog: fatal JavaScript engine error (context %d): %s\n",
          dc && dc->owner ? (int)dc->owner->id : 0, msg ? msg : "unknown");
  fflush(stderr);
  abort();
}

/* DUK_USE_NATIVE_STACK_CHECK: Duktape checks it in its recursive C paths (calls, regexp compiler and
 * executor, JSON and CBOR, number conversion) and raises a RangeError when it returns non-zero. */
int calog__dukStackLow(void) { return calog__stackLeft() + CALOG_STACK_RELAX() < CALOG_STACK_LOW; }
int calog__dukFinalizersWait(long depth, long limit) {
  return depth >= limit || calog__stackLeft() + CALOG_STACK_FIN_WAIT < CALOG_STACK_LOW;
}
void calog__dukFinalizing(int delta) {
  if (delta > 0) calog__finalizing++;
  else calog__finalizing--;
}

/* ---- limits (DUK_USE_EXEC_TIMEOUT_CHECK and calog's patch, see duk_calog_config.h) ------------------ */
int calog__dukExecTimeoutCheck(void *udata, long executed) {
  DukCtxT *dc = udata;
  if (dc == NULL || dc->owner == NULL) return 0;
  return calog__limitTick(dc->owner, executed, NULL) != CALOG_LIMIT_NONE;
}

/* Duktape retried a refused allocation after a full collection up to 10 times: with a heap of a million objects
 * near the limit each round took about 270 ms, so 'new Uint8Array(1e9)' under a 64 MB limit and a 100 ms timeout
 * ran 2.7 s. No round when the request alone passes the memory limit, none once a limit tripped. */
int calog__dukAllocRetry(void *udata, unsigned long size) {
  DukCtxT *dc = udata;
  if (dc == NULL || dc->owner == NULL) return 1;
  CalogCtxT *ctx = dc->owner;
  int64_t limit = calog__limitMemory(ctx);
  if (limit > 0 && size > (unsigned long)limit) return 0;
  if (atomic_load(&ctx->dying)) return 0; /* closing: nothing it runs may go on */
  /* outside an entry of this context the limit state is the last entry's (a trip stays until the next entry
   * starts, and its deadline has passed): natives installed before an entry starts (calog__ctxHold) were refused
   * the collection that made room, and a host function registered after a tripped call was missing for good */
  if (!calog__ctxInEntry(ctx)) return 1;
  return !calog__dukExecTimeoutCheck(udata, 0);
}

/* Duktape gave up on an allocation after its emergency collections: if our limit refused it, that is the
 * memory limit tripping (a script error, raised again at every interrupt until the entry returns). */
void calog__dukAllocFailed(void *udata) {
  DukCtxT *dc = udata;
  if (dc == NULL || dc->owner == NULL || dc->memRefused == 0) return;
  calog__limitTrip(dc->owner, CALOG_LIMIT_MEMORY, (int64_t)dc->memRefused, calog__limitMemory(dc->owner));
  dc->memRefused = 0;
}

/* ---- lifetime ------------------------------------------------------------------------------------ */
static void dukDestroy(void *interp) {
  DukCtxT *dc = interp;
  if (dc == NULL) return;
  dc->closing = true;
  if (dc->ctx) duk_destroy_heap(dc->ctx); /* runs the remaining finalizers: holders release their values */
  dc->ctx = NULL;
  calog__dukReleaseHolds(dc); /* holders Duktape freed without finalizing (its finalizer rounds are bounded) */
  calog__dukPendingSweep(dc, 0);
  calog__dukBareFree(dc);
  free(dc->deadIds);
  free(dc->scratch);
  calog__capsFree(&dc->caps);
  free(dc);
}

static duk_ret_t setupSafe(duk_context *ctx, void *udata) {
  DukCtxT *dc = udata;
  duk_push_global_stash(ctx);
  duk_push_bare_object(ctx);
  dc->registry = duk_get_heapptr(ctx, -1);
  duk_put_prop_literal(ctx, -2, DUK_KEY_REGISTRY);
  static const char *const ctors[4] = {"Object", "Uint8Array", "Uint8ClampedArray", "ArrayBuffer"};
  duk_push_bare_array(ctx);
  for (int i = 0; i < 4; i++) {
    duk_get_global_string(ctx, ctors[i]);
    duk_get_prop_literal(ctx, -1, "prototype");
    dc->protos[i] = duk_get_heapptr(ctx, -1);
    duk_put_prop_index(ctx, -3, (duk_uarridx_t)i);
    duk_pop(ctx);
  }
  duk_get_global_literal(ctx, "String");
  dc->stringFn = duk_get_heapptr(ctx, -1);
  duk_put_prop_index(ctx, -2, 4);
  duk_put_prop_literal(ctx, -2, DUK_KEY_PROTOS);
  duk_pop(ctx);
  calog__dukOpenHolders(dc, ctx);
  calog__dukOpenLibs(dc, ctx);
  calog__dukOpenIo(dc, ctx);
  return 0;
}

static int32_t dukCreate(CalogCtxT *ctx, void **interpOut, CalogValueT *err) {
  DukCtxT *dc = calloc(1, sizeof *dc);
  if (dc == NULL) return calogFail(err, CALOG_ERR_OOM, "out of memory");
  dc->owner = ctx;
  int32_t cst = calog__capsParse(calog__optGet(&ctx->options, "capabilities"), &dc->caps, err);
  if (cst != CALOG_OK) {
    free(dc);
    return cst;
  }
  dc->ctx = duk_create_heap(dukAlloc, dukRealloc, dukFree, dc, dukFatal);
  if (dc->ctx == NULL) {
    calog__capsFree(&dc->caps);
    free(dc);
    return calogFail(err, CALOG_ERR_OOM, "cannot create a Duktape heap");
  }
  if (duk_safe_call(dc->ctx, setupSafe, dc, 0, 1) != DUK_EXEC_SUCCESS) {
    int32_t st = calog__dukError(dc, dc->ctx, CALOG_ERR_OOM, err);
    dukDestroy(dc);
    return st;
  }
  duk_pop(dc->ctx);
  *interpOut = dc;
  return CALOG_OK;
}

static duk_ret_t installSafe(duk_context *ctx, void *udata) {
  CalogNativeEntryT *entry = udata;
  duk_push_global_object(ctx);
  duk_push_string(ctx, entry->name);
  calog__dukPushNative(ctx, entry);
  /* a plain define (no setter runs), forced over a non-writable global of that name */
  duk_def_prop(ctx, -3, DUK_DEFPROP_HAVE_VALUE | DUK_DEFPROP_SET_WRITABLE | DUK_DEFPROP_CLEAR_ENUMERABLE |
                            DUK_DEFPROP_SET_CONFIGURABLE | DUK_DEFPROP_FORCE);
  return 0;
}

/* The define is forced, so a global object the script froze still gets the native. Should the define refuse it all the
 * same (a TypeError), that is not an error of the entry that syncs it (it would fail every entry from then on): the
 * native stays absent. Any other failure, an allocation refused at the memory limit, fails the entry and the install
 * is tried again at the next one (hostile18: ignored, it left the native missing for the context's life, while Lua
 * retried it). */
static int32_t dukInstallNative(void *interp, CalogNativeEntryT *entry, CalogValueT *err) {
  DukCtxT *dc = interp;
  duk_context *ctx = dc->cur ? dc->cur : dc->ctx;
  if (dc->closing) return CALOG_OK;
  uint64_t mark = dc->pendingSeq;
  if (!duk_check_stack(ctx, 4)) return calogFail(err, CALOG_ERR_OOM, "JS value stack exhausted");
  int32_t st = CALOG_OK;
  if (duk_safe_call(ctx, installSafe, entry, 0, 1) != DUK_EXEC_SUCCESS && duk_get_error_code(ctx, -1) != DUK_ERR_TYPE_ERROR)
    st = calogFail(err, CALOG_ERR_OOM, "cannot install the host function '%s' (out of memory: the memory limit?)", entry->name);
  duk_pop(ctx);
  calog__dukPendingSweep(dc, mark);
  return st;
}

/* ---- the protected runner ------------------------------------------------------------------------ */
/* The room an entry makes before its protected call (one check per call): the function, a few arguments and
 * what pushing the last of them and reading the result take. More arguments: the runner checks for them. */
#define RUN_ROOM 24
#define RUN_ROOM_ARGS 16

typedef struct RunT {
  DukCtxT *dc;
  int kind;
  const char *name;
  const char *src;
  int64_t len;
  void *heapptr;
  CalogSrcT *args;
  int32_t argc;
  CalogSinkT *out;
  CalogValueT *err;
  int32_t status; /* a calog-level failure (egress, ingress), already in err */
  bool compileFailed, notFound;
  const char *notCallable; /* notFound: what the global is instead of a function (NULL: absent) */
  bool reading; /* the result is being read into out: a throw now is ingress's (an index getter, OOM) */
} RunT;

/* Reads the result on top into r->out (protected by the runner's own safe call). */
static duk_ret_t readResult(duk_context *ctx, RunT *r) {
  r->reading = true;
  r->status = calog__dukReadHere(r->dc, ctx, -1, r->out, r->err);
  r->reading = false;
  return 0;
}

/* Pushes the arguments, calls, and reads the result into r->out; leaves the compile error on top
 * (compileFailed) or nothing. */
static duk_ret_t runner(duk_context *ctx, void *udata) {
  RunT *r = udata;
  DukCtxT *dc = r->dc;
  calog__dukFlushDead(dc, ctx);
  switch (r->kind) {
  case DUK_RUN_EVAL: {
    const char *chunk = r->name;
    if (chunk[0] == '=' || chunk[0] == '@') chunk++; /* Lua-style chunk names */
    duk_push_string(ctx, chunk);
    if (duk_pcompile_lstring_filename(ctx, DUK_COMPILE_EVAL, r->src, (duk_size_t)r->len) != 0) {
      r->compileFailed = true;
      return 1;
    }
    duk_call(ctx, 0); /* eval code: the completion value */
    return readResult(ctx, r);
  }
  case DUK_RUN_GET:
    duk_push_global_object(ctx);
    if (calog__dukPushName(ctx, r->name)) duk_get_prop(ctx, -2);
    else duk_push_undefined(ctx);
    duk_remove(ctx, -2);
    return readResult(ctx, r);
  case DUK_RUN_CALL:
    duk_push_global_object(ctx);
    if (!calog__dukPushName(ctx, r->name)) {
      r->notFound = true;
      return 0;
    }
    duk_get_prop(ctx, -2);
    duk_remove(ctx, -2);
    if (!duk_is_callable(ctx, -1)) {
      r->notFound = true;
      /* a value that is there, but no function: its type (no code runs: typeof) */
      if (!duk_is_undefined(ctx, -1)) r->notCallable = duk_is_null(ctx, -1) ? "null" : duk_is_array(ctx, -1) ? "an array"
                                                     : duk_is_object(ctx, -1) ? "an object" : duk_is_string(ctx, -1) ? "a string"
                                                     : duk_is_number(ctx, -1) ? "a number" : duk_is_boolean(ctx, -1) ? "a boolean"
                                                     : "a value";
      return 0;
    }
    break;
  case DUK_RUN_REF: duk_push_heapptr(ctx, r->heapptr); break;
  }
  if (r->argc > RUN_ROOM_ARGS && !duk_check_stack(ctx, r->argc + 8)) {
    r->status = calogFail(r->err, CALOG_ERR_OOM, "too many arguments for the JS value stack");
    return 0;
  }
  for (int32_t i = 0; i < r->argc; i++)
    if ((r->status = calog__dukPushFrom(dc, ctx, r->args, r->err)) != CALOG_OK) return 0;
  duk_call(ctx, r->argc);
  return readResult(ctx, r);
}

int32_t calog__dukRun(DukCtxT *dc, int kind, const char *name, const char *src, int64_t len, void *heapptr,
                      CalogSrcT *args, int32_t argc, CalogSinkT *out, CalogValueT *err) {
  if (dc->closing) return calogFail(err, CALOG_ERR_DEAD, "the JS context is being destroyed");
  duk_context *ctx = dc->cur ? dc->cur : dc->ctx; /* re-entered from a native: the thread that called it */
  uint64_t mark = dc->pendingSeq;
  duk_idx_t base = duk_get_top(ctx);
  if (!duk_check_stack(ctx, RUN_ROOM)) return calogFail(err, CALOG_ERR_OOM, "JS value stack exhausted");
  RunT r = {.dc = dc, .kind = kind, .name = name, .src = src, .len = len, .heapptr = heapptr, .args = args,
            .argc = argc, .out = out, .err = err};
  int32_t st;
  /* an entry made while a thrown value is read (a getter of it called a host function that evaluates here) reads
   * its own throws whole: the flag guards the reading it was set for, not what is nested on it (its throw lost its
   * value and read '[object Object]'); the crossing cap bounds such nesting */
  bool readingThrown = dc->readingThrown;
  dc->readingThrown = false;
  /* the nulls and functions thrown inside this entry (DukCtxT.bare) are no longer in flight once it is over: what
   * left with it was read here, so a later script catch could not take it off, and a stale one answered for an outer
   * null's cause (another host function's: pass 41b) */
  uint64_t bareFloor = calog__dukBareEnter(dc);
  if (duk_safe_call(ctx, runner, &r, 0, 1) != DUK_EXEC_SUCCESS) {
    /* a throw while the result was read (an index getter: its script, or a host function it called, threw; or
     * Duktape ran out of memory) is the call's error like any other: its marks (a host exception's cause, a
     * capability's class) and its value were dropped, so a host function's exception thrown from a getter lost
     * its cause (twelfth hostile pass) */
    CalogRaiseT raised = calog__dukMarks(ctx);
    st = calog__dukScriptError(dc, ctx, err);
    if (r.reading) duk_push_undefined(ctx); /* calog__dukScriptError consumed the thrown value */
    if (raised.status) st = raised.status;
    calog__errorMark(err, raised);
  } else if (r.status != CALOG_OK) {
    st = r.status;
    if (err->type == CALOG_NIL) calogFail(err, st, "%s", calogStatusMessage(st));
  } else if (r.notFound) {
    st = r.notCallable != NULL
             ? calogFail(err, CALOG_ERR_NOT_FOUND, "'%s' in this JS context is %s, not a function", name, r.notCallable)
             : calogFail(err, CALOG_ERR_NOT_FOUND, "no function named '%s' in this JS context", name);
  } else if (r.compileFailed) {
    /* a RangeError from the compiler is a source nested past its recursion limit or the C stack check */
    duk_errcode_t code = duk_get_error_code(ctx, -1);
    st = calog__dukError(dc, ctx, code == DUK_ERR_SYNTAX_ERROR || code == DUK_ERR_RANGE_ERROR ? CALOG_ERR_SYNTAX : CALOG_ERR_SCRIPT,
                         err);
  } else {
    st = CALOG_OK;
  }
  dc->readingThrown = readingThrown;
  calog__dukBareLeave(dc, bareFloor);
  duk_set_top(ctx, base);
  calog__dukPendingSweep(dc, mark); /* values of trampoline frames a throw skipped */
  (void)calog__limitTick(dc->owner, calog_duk_take_steps(ctx), NULL); /* the steps since the last interrupt */
  return st;
}

static void dukSyncSteps(void *interp) {
  DukCtxT *dc = interp;
  if (dc->closing || dc->ctx == NULL || dc->owner == NULL) return;
  (void)calog__limitTick(dc->owner, calog_duk_take_steps(dc->cur ? dc->cur : dc->ctx), NULL);
}

int32_t calog__dukRunValues(DukCtxT *dc, int kind, const char *name, const char *src, int64_t len, void *heapptr,
                            CalogValueT *args, int32_t argc, CalogValueT *result) {
  CalogValueCallT c;
  calog__valueCallBegin(&c, args, argc);
  return calog__valueCallEnd(&c, calog__dukRun(dc, kind, name, src, len, heapptr, &c.args, argc, &c.out, &c.err), result);
}

static int32_t dukCallVia(void *interp, const char *name, void *closure, CalogSrcT *args, int32_t argc,
                          CalogSinkT *result, CalogValueT *err) {
  if (name == NULL) {
    DukFnRefT *ref = closure;
    return calog__dukRun(ref->dc, DUK_RUN_REF, NULL, NULL, 0, ref->heapptr, args, argc, result, err);
  }
  return calog__dukRun(interp, DUK_RUN_CALL, name, NULL, 0, NULL, args, argc, result, err);
}

static int32_t dukEval(void *interp, const char *src, int64_t len, const char *chunkName, CalogValueT *result) {
  return calog__dukRunValues(interp, DUK_RUN_EVAL, chunkName ? chunkName : "eval", src, len, NULL, NULL, 0, result);
}

static int32_t dukCall(void *interp, const char *name, CalogValueT *args, int32_t argc, CalogValueT *result) {
  return calog__dukRunValues(interp, DUK_RUN_CALL, name, NULL, 0, NULL, args, argc, result);
}

static int32_t dukGet(void *interp, const char *name, CalogValueT *result) {
  return calog__dukRunValues(interp, DUK_RUN_GET, name, NULL, 0, NULL, NULL, 0, result);
}

static int64_t dukMemory(void *interp) {
  return (int64_t)atomic_load_explicit(&((DukCtxT *)interp)->memShown, memory_order_relaxed);
}

CALOG_HIDDEN const CalogEngineT calog__duktapeEngine = {
    .name = "js",
    .create = dukCreate,
    .destroy = dukDestroy,
    .installNative = dukInstallNative,
    .eval = dukEval,
    .call = dukCall,
    .get = dukGet,
    .memory = dukMemory,
    .callVia = dukCallVia,
    .closureFn = calog__dukFnInvoke,
    .syncSteps = dukSyncSteps,
};
