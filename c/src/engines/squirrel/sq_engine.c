/* sq_engine.c -- the Squirrel 3.1 engine binding: the CalogEngineT vtable over sq_adapter.c.
 *
 * Standard library: the base library (always part of a Squirrel VM) plus math, string (with regexp) and
 * blob; sqstdio and sqstdsystem as the capabilities allow (sq_caps.c). Base functions replaced: suspend() refuses to suspend
 * the context's own VM (it would leave the VM half-run under the broker; coroutines made with newthread can
 * still suspend); seterrorhandler() is refused (the broker's handler is what captures the traceback of an
 * uncaught error), and so is setdebughook() (the broker's hook is the recursion guard, see sq_vmext.cpp);
 * newthread() arms that guard on every thread it makes, and refuses native functions (the original reads a
 * script function's frame size out of whatever closure it is given). */
#include "sq_adapter.h"

#include "sqstdblob.h"
#include "sqstdmath.h"
#include "sqstdstring.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void compileError(HSQUIRRELVM v, const SQChar *desc, const SQChar *source, SQInteger line, SQInteger column) {
  SqCtxT *sc = calog__sqCtx(v);
  snprintf(sc->compileMsg, sizeof sc->compileMsg, "%s:%lld:%lld: %s", source ? source : "?", (long long)line,
           (long long)column, desc ? desc : "syntax error");
  sc->compileSet = true;
}

static SQInteger guardedSuspend(HSQUIRRELVM v) {
  SqCtxT *sc = calog__sqCtx(v);
  if (v == sc->vm) {
    /* a thread's function called back from the host or another engine runs on the main VM, as a call of its own */
    return sq_throwerror(v, sc->ctx->busy > 1
                                ? "suspend() cannot cross a call from the host or another engine (a thread suspends "
                                  "only within the call that woke it: a function called by a host function runs as "
                                  "a call of its own)"
                                : "suspend() works only inside a thread (newthread) in calog");
  }
  return sq_suspendvm(v);
}

static SQInteger reservedErrorHandler(HSQUIRRELVM v) {
  return sq_throwerror(v, "seterrorhandler() is reserved by calog (errors come back to the caller with a traceback)");
}

static SQInteger reservedDebugHook(HSQUIRRELVM v) {
  return sq_throwerror(v, "setdebughook() is reserved by calog (its hook bounds recursion)");
}

/* stack: [this, f, the original newthread (free variable)] */
static SQInteger guardedNewThread(HSQUIRRELVM v) {
  if (sq_gettop(v) != 3) return sq_throwerror(v, "wrong number of parameters");
  if (sq_gettype(v, 2) != OT_CLOSURE) return sq_throwerror(v, "newthread() expects a script function");
  sq_push(v, 3);
  sq_pushroottable(v);
  sq_push(v, 2);
  if (SQ_FAILED(sq_call(v, 2, SQTrue, SQFalse))) return SQ_ERROR;
  HSQUIRRELVM thread = NULL;
  if (SQ_FAILED(sq_getthread(v, -1, &thread))) return sq_throwerror(v, "newthread() made no thread");
  calog__sqGuardThread(thread);
  return 1;
}

static int32_t wrapNewThread(HSQUIRRELVM v, CalogValueT *err) {
  SQInteger top = sq_gettop(v);
  sq_pushroottable(v);
  sq_pushstring(v, "newthread", -1);
  sq_pushstring(v, "newthread", -1);
  SQRESULT r = sq_rawget(v, -3);
  if (SQ_SUCCEEDED(r)) {
    sq_newclosure(v, guardedNewThread, 1);
    sq_setnativeclosurename(v, -1, "newthread");
    r = sq_rawset(v, -3);
  }
  sq_settop(v, top);
  return SQ_SUCCEEDED(r) ? CALOG_OK : calogFail(err, CALOG_ERR_INTERNAL, "cannot wrap newthread");
}

static void sqDestroy(void *interp) {
  SqCtxT *sc = interp;
  if (sc == NULL) return;
  if (sc->vm) {
    int64_t *prev = calog__sqMemSwap(&sc->mem);
    HSQUIRRELVM v = sc->vm;
    sq_close(v); /* runs the release hooks of the function holders still alive */
    sc->vm = NULL;
    calog__sqMemSwap(prev);
  }
  free(sc->trace);
  free(sc->raise.msg);
  calog__capsFree(&sc->caps);
  free(sc);
}

static int32_t setGlobalFn(HSQUIRRELVM v, const char *name, SQFUNCTION f, CalogValueT *err) {
  sq_pushroottable(v);
  sq_pushstring(v, name, -1);
  sq_newclosure(v, f, 0);
  sq_setnativeclosurename(v, -1, name);
  SQRESULT r = sq_rawset(v, -3);
  sq_poptop(v);
  return SQ_SUCCEEDED(r) ? CALOG_OK : calogFail(err, CALOG_ERR_INTERNAL, "cannot set %s", name);
}

static int32_t sqCreate(CalogCtxT *ctx, void **interpOut, CalogValueT *err) {
  SqCtxT *sc = calloc(1, sizeof *sc);
  if (sc == NULL) return calogFail(err, CALOG_ERR_OOM, "out of memory");
  sc->ctx = ctx;
  sc->chunk = 1;
  int32_t cst = calog__capsParse(calog__optGet(&ctx->options, "capabilities"), &sc->caps, err);
  if (cst != CALOG_OK) {
    free(sc);
    return cst;
  }
  int64_t *prev = calog__sqMemSwap(&sc->mem);
  int32_t st = CALOG_OK;
  HSQUIRRELVM v = sc->vm = sq_open(SQ_INITIAL_STACK);
  if (v == NULL) {
    calog__sqMemSwap(prev);
    calog__capsFree(&sc->caps);
    free(sc);
    return calogFail(err, CALOG_ERR_OOM, "cannot create a Squirrel VM");
  }
  sq_setsharedforeignptr(v, sc);
  sq_setprintfunc(v, calog__sqPrintFn, calog__sqErrorFn);
  sq_setcompilererrorhandler(v, compileError);
  sq_pushroottable(v);
  if (SQ_FAILED(sqstd_register_mathlib(v)) || SQ_FAILED(sqstd_register_stringlib(v)) ||
      SQ_FAILED(sqstd_register_bloblib(v)))
    st = calogFail(err, CALOG_ERR_INTERNAL, "cannot open the Squirrel standard library");
  sq_settop(v, 0);
  if (st == CALOG_OK) st = setGlobalFn(v, "suspend", guardedSuspend, err);
  if (st == CALOG_OK) st = setGlobalFn(v, "seterrorhandler", reservedErrorHandler, err);
  if (st == CALOG_OK) st = setGlobalFn(v, "setdebughook", reservedDebugHook, err);
  if (st == CALOG_OK) st = wrapNewThread(v, err);
  if (st == CALOG_OK) st = calog__sqOpenLibs(sc, err);
  if (st == CALOG_OK) {
    sq_newclosure(v, calog__sqErrorHandler, 0);
    sq_getstackobj(v, -1, &sc->errHandler);
    sq_addref(v, &sc->errHandler);
    sq_seterrorhandler(v);
    st = calog__sqOpenFnClass(sc, err);
  }
  if (st == CALOG_OK) st = calog__sqOpenIo(sc, err); /* function values need the holder class */
  if (st == CALOG_OK) {
    sq_pushroottable(v);
    sq_getstackobj(v, -1, &sc->root);
    sq_addref(v, &sc->root);
    sq_poptop(v);
  }
  calog__sqMemSwap(prev);
  if (st != CALOG_OK) {
    sqDestroy(sc);
    return st;
  }
  *interpOut = sc;
  return CALOG_OK;
}

static int32_t sqInstallNative(void *interp, CalogNativeEntryT *entry, CalogValueT *err) {
  SqCtxT *sc = interp;
  HSQUIRRELVM v = sc->vm;
  int64_t *prev = calog__sqMemSwap(&sc->mem); /* first: growing the stack allocates */
  if (!calog__sqReserveOk(v, 4)) {
    calog__sqMemSwap(prev);
    return calogFail(err, CALOG_ERR_NESTING, "the Squirrel stack cannot grow here (inside a metamethod)");
  }
  /* into the root table made at create: a script that swapped in another (setroottable, Squirrel's sandboxing idiom)
   * while the install ran left the name in that one alone, lost once it put its own back (pass 61b); and into the
   * current one too, so the code running now sees it, as every context does */
  SQInteger top = sq_gettop(v);
  sq_pushobject(v, sc->root);
  sq_pushstring(v, entry->name, -1);
  calog__sqPushNative(v, entry);
  SQRESULT r = sq_rawset(v, -3);
  sq_settop(v, top);
  HSQOBJECT cur;
  sq_pushroottable(v);
  sq_getstackobj(v, -1, &cur);
  if (SQ_SUCCEEDED(r) && sq_type(cur) == OT_TABLE && cur._unVal.pTable != sc->root._unVal.pTable) {
    sq_pushstring(v, entry->name, -1);
    calog__sqPushNative(v, entry);
    r = sq_rawset(v, -3);
  }
  sq_settop(v, top);
  calog__sqMemSwap(prev);
  return SQ_SUCCEEDED(r) ? CALOG_OK : calogFail(err, CALOG_ERR_INTERNAL, "cannot install native '%s'", entry->name);
}

/* ---- the runner ---------------------------------------------------------------------------------- */
/* The message of the error object on top of the stack: a string as-is (binary-safe), a number or bool
 * printed, anything else described by its type (no metamethod runs). */
static int32_t errorMessage(HSQUIRRELVM v, int32_t status, const char *traceback, const char *why, bool speak,
                            const char *carried, int64_t carriedLen, CalogValueT *result);

/* "an" before a type name that starts with a vowel ("an instance"), else "a" */
static const char *articleOf(const char *name) { return strchr("aeiou", name[0]) ? "an" : "a"; }

/* A script error: the message record plus the thrown value itself (when it can cross); carried (NULL: none): the
 * message the thrown value had in the engine that threw it first (SqCtxT.raise). */
static int32_t thrownResult(SqCtxT *sc, HSQUIRRELVM v, int32_t status, const char *traceback, const char *carried,
                            int64_t carriedLen, CalogValueT *result) {
  CalogValueT thrown = calogValueNil(), scratch = calogValueNil();
  bool has = calog__sqToValue(sc, v, sq_gettop(v), &thrown, &scratch) == CALOG_OK;
  int32_t st = errorMessage(v, status, traceback, has ? NULL : calogErrorMessage(&scratch, NULL), true, carried,
                            carriedLen, result);
  if (has && thrown.type == CALOG_NIL && sq_gettype(v, sq_gettop(v)) != OT_NULL && calog__errorIsPlaceholder(result)) {
    /* a value the lenient policy sends as null (a class, a generator): rendered, it read "squirrel threw null" (pass
     * 49a) */
    const char *type = calog__sqTypeName(sq_gettype(v, sq_gettop(v)));
    char buf[160];
    snprintf(buf, sizeof buf, "squirrel threw %s %s value, which the lenient policy sends as null", articleOf(type), type);
    calog__errorSetMessage(result, buf);
  }
  calogValueFree(&scratch);
  if (has) calog__errorAttachValue(result, &thrown);
  calogValueFree(&thrown);
  return st;
}

/* why: why the thrown value cannot cross (NULL when it can: the host renders it). speak: a table, instance or
 * userdata with a _tostring metamethod says its own message, as a Lua __tostring does (it runs inside the entry's
 * limits; if it throws, the message says so). carried (NULL: none): what a value another engine threw says instead
 * of the placeholder for its type. */
static int32_t errorMessage(HSQUIRRELVM v, int32_t status, const char *traceback, const char *why, bool speak,
                            const char *carried, int64_t carriedLen, CalogValueT *result) {
  SQInteger idx = sq_gettop(v);
  const SQChar *s = NULL;
  char buf[400];
  SQObjectType t = sq_gettype(v, idx);
  if (speak && (t == OT_TABLE || t == OT_INSTANCE || t == OT_USERDATA) && calog__sqReserveOk(v, 8)) {
    /* without a _tostring Squirrel writes "(table : 0x...)", which says nothing: the default below. Each outcome of one
     * says what happened (a _tostring returning 42, or throwing a table, read "failed" or nothing: pass 43a). */
    const char *tn = calog__sqTypeName(t);
    /* each outcome but a text says "(error object is a table value; its _tostring ...)": the head once, then its end
     * (a type name is short: the head always fits) */
    int head = snprintf(buf, sizeof buf, "(error object is %s %s value; its _tostring ", articleOf(tn), tn);
    char *tail = buf + head;
    size_t room = sizeof buf - (size_t)head;
    int32_t st = CALOG_OK;
    SQObjectType got = OT_NULL;
    int outcome = calog__sqToStringMeta(v, idx, &got);
    if (outcome == 1 && sq_getsize(v, -1) == 0) outcome = 0; /* an empty text says nothing: the default (pass 46b) */
    bool said = outcome != 0;
    if (outcome == 1 && SQ_SUCCEEDED(sq_getstring(v, -1, &s))) {
      st = calogErrorSet(result, status, "squirrel", s, (int64_t)sq_getsize(v, -1), traceback);
    } else if (outcome == 2) {
      const char *gn = calog__sqTypeName(got);
      snprintf(tail, room, "returned %s %s, not a string)", articleOf(gn), gn);
      st = calogErrorSet(result, status, "squirrel", buf, -1, traceback);
    } else if (outcome == -1) {
      const SQChar *e = NULL;
      sq_getlasterror(v);
      bool text = SQ_SUCCEEDED(sq_getstring(v, -1, &e));
      size_t n = text ? (size_t)sq_getsize(v, -1) : 0;
      /* a null another engine threw, raised here with its message (a value the lenient policy sends as null): that
       * message is the reason (it read "it threw a null value": pass 51a) */
      SqCtxT *sc = calog__sqCtx(v);
      if (!text && sq_gettype(v, -1) == OT_NULL && sc->raise.set && sc->raise.type == OT_NULL && sc->raise.msg != NULL &&
          sc->raise.msgLen > 0) {
        e = sc->raise.msg;
        n = (size_t)sc->raise.msgLen;
        text = true;
      }
      if (text && n > 0) { /* the reason whole: its length, NUL bytes and all (pass 43b) */
        static const char failed[] = "failed: ";
        size_t f = sizeof failed - 1;
        char *whole = malloc((size_t)head + f + n + 1);
        if (whole != NULL) {
          memcpy(whole, buf, (size_t)head);
          memcpy(whole + head, failed, f);
          memcpy(whole + head + f, e, n);
          whole[(size_t)head + f + n] = ')';
          st = calogErrorSet(result, status, "squirrel", whole, (int64_t)((size_t)head + f + n + 1), traceback);
          free(whole);
        } else {
          st = calogErrorSet(result, CALOG_ERR_OOM, "squirrel", "out of memory", -1, traceback);
        }
      } else {
        /* an empty reason says nothing (pass 47b); a value that is not text is named by its type */
        const char *en = calog__sqTypeName(sq_gettype(v, -1));
        if (text) snprintf(tail, room, "failed: it threw an empty string)");
        else snprintf(tail, room, "failed: it threw %s %s value)", articleOf(en), en);
        st = calogErrorSet(result, status, "squirrel", buf, -1, traceback);
      }
    }
    calog__sqCaught(v); /* a raise inside the _tostring (a host function's) is not this error's */
    sq_settop(v, idx);
    if (said) return st;
  }
  switch (t) {
  case OT_STRING:
    sq_getstring(v, idx, &s);
    return calogErrorSet(result, status, "squirrel", s, (int64_t)sq_getsize(v, idx), traceback);
  case OT_INTEGER:
  case OT_FLOAT:
  case OT_BOOL:
    if (SQ_SUCCEEDED(sq_tostring(v, idx)) && SQ_SUCCEEDED(sq_getstring(v, -1, &s)))
      return calogErrorSet(result, status, "squirrel", s, (int64_t)sq_getsize(v, -1), traceback);
    break;
  case OT_NULL: /* a null another engine threw says what it said there (the lenient null of a table with a __tostring:
                 * pass 50b) */
    if (carried != NULL) return calogErrorSet(result, status, "squirrel", carried, carriedLen, traceback);
    return calogErrorSet(result, status, "squirrel", "null", -1, traceback);
  default: break;
  }
  const char *type = calog__sqTypeName(sq_gettype(v, idx));
  const char *article = articleOf(type);
  if (carried == NULL && (t == OT_TABLE || t == OT_INSTANCE) && calog__sqReserveOk(v, 2)) {
    /* its own string message field says it before it is named as a value that cannot cross (strict; pass 50b) or
     * the placeholder (lenient sends an instance as null without it: pass 51b): the README's order (read raw: no
     * metamethod runs) */
    sq_pushstring(v, "message", -1);
    if (SQ_SUCCEEDED(sq_rawget(v, idx)) && sq_gettype(v, -1) == OT_STRING && sq_getsize(v, -1) > 0 &&
        SQ_SUCCEEDED(sq_getstring(v, -1, &s))) {
      int32_t st = calogErrorSet(result, status, "squirrel", s, (int64_t)sq_getsize(v, -1), traceback);
      sq_settop(v, idx);
      return st;
    }
    sq_settop(v, idx);
  }
  if (why != NULL && why[0]) snprintf(buf, sizeof buf, "squirrel threw %s %s value that cannot cross: %s", article, type, why);
  else if (carried != NULL) return calogErrorSet(result, status, "squirrel", carried, carriedLen, traceback);
  else {
    snprintf(buf, sizeof buf, "(error object is %s %s value)", article, type);
    int32_t st = calogErrorSet(result, status, "squirrel", buf, -1, traceback);
    calog__errorMarkPlaceholder(result); /* Squirrel's stand-in: the value says it */
    return st;
  }
  return calogErrorSet(result, status, "squirrel", buf, -1, traceback);
}

static const char *chunkName(const char *name) {
  if (name == NULL) return "eval";
  if (name[0] == '=' || name[0] == '@') name++;
  return name[0] ? name : "eval";
}

int32_t calog__sqRun(SqCtxT *sc, int kind, const char *name, const char *src, int64_t len, const HSQOBJECT *ref,
                     CalogSrcT *args, int32_t argc, CalogSinkT *out, CalogValueT *err) {
  HSQUIRRELVM v = sc->vm;
  if (v == NULL) return calogFail(err, CALOG_ERR_DEAD, "the Squirrel VM is closed");
  int64_t *prev = calog__sqMemSwap(&sc->mem); /* first: growing the stack allocates */
  calog__sqBudgetFlush(v); /* the budget comes from this entry's limits, not from what the last one left */
  SqGuardSaveT guard;
  calog__sqGuardEnter(v, &guard);
  SQInteger base = sq_gettop(v);
  int32_t st = CALOG_OK;
  /* the one check of the call: the function, this, the arguments (each push may take two slots for a
   * moment) and the result */
  if (!calog__sqReserveOk(v, (SQInteger)argc + 8)) {
    st = calogFail(err, CALOG_ERR_NESTING, "the Squirrel stack cannot grow here (inside a metamethod)");
    goto out;
  }
  switch (kind) {
  case SQ_RUN_EVAL:
    if (memchr(src, 0, (size_t)len) != NULL) {
      st = calogErrorSet(err, CALOG_ERR_SYNTAX, "squirrel",
                         "Squirrel source cannot contain a NUL byte (write \\x00 inside a string literal)", -1, NULL);
      goto out;
    }
    sc->compileSet = false;
    /* raiseerror = true only makes the compiler call compileError (message + line + column) */
    if (SQ_FAILED(sq_compilebuffer(v, src, (SQInteger)len, chunkName(name), SQTrue))) {
      if (sc->compileSet) st = calogErrorSet(err, CALOG_ERR_SYNTAX, "squirrel", sc->compileMsg, -1, NULL);
      else {
        sq_getlasterror(v);
        st = errorMessage(v, CALOG_ERR_SYNTAX, NULL, NULL, false, NULL, 0, err);
      }
      sq_reseterror(v);
      goto out;
    }
    break;
  case SQ_RUN_CALL:
  case SQ_RUN_GET:
    sq_pushroottable(v);
    sq_pushstring(v, name, -1);
    if (SQ_FAILED(sq_rawget(v, -2))) {
      sq_reseterror(v);
      if (kind == SQ_RUN_GET) { /* an absent global reads as nil */
        if ((st = calog__sinkScalar(out, CALOG_NIL, 0, 0)) != CALOG_OK) st = calog__sinkFail(out, st, err);
        goto out;
      }
      st = calogFail(err, CALOG_ERR_NOT_FOUND, "no function named '%s' in this Squirrel context", name);
      goto out;
    }
    if (kind == SQ_RUN_GET) {
      st = calog__sqRead(sc, v, sq_gettop(v), out, err);
      goto out;
    }
    if (sq_gettype(v, -1) != OT_CLOSURE && sq_gettype(v, -1) != OT_NATIVECLOSURE) {
      if (sq_gettype(v, -1) == OT_NULL) st = calogFail(err, CALOG_ERR_NOT_FOUND, "no function named '%s' in this Squirrel context", name);
      else
        st = calogFail(err, CALOG_ERR_NOT_FOUND, "'%s' in this Squirrel context is %s %s, not a function", name,
                       articleOf(calog__sqTypeName(sq_gettype(v, -1))), calog__sqTypeName(sq_gettype(v, -1)));
      goto out;
    }
    sq_remove(v, -2); /* the root table */
    break;
  case SQ_RUN_REF: sq_pushobject(v, *ref); break;
  }
  sq_pushroottable(v); /* this */
  for (int32_t i = 0; i < argc; i++)
    if ((st = calog__sqPushFrom(sc, v, args, err)) != CALOG_OK) goto out;
  /* our handler (pinned once per context), whatever a script installed with seterrorhandler() */
  calog__sqSetErrorHandler(v, &sc->errHandler);
  sc->traceSet = false;
  if (SQ_FAILED(sq_call(v, (SQInteger)argc + 1, SQTrue, SQTrue))) {
    sq_getlasterror(v);
    const char *carried;
    int64_t carriedLen;
    CalogRaiseT mark = calog__sqRaisedMark(v, &carried, &carriedLen);
    st = thrownResult(sc, v, CALOG_ERR_SCRIPT, sc->traceSet ? sc->trace : NULL, carried, carriedLen, err);
    if (mark.status) st = mark.status;
    calog__errorMark(err, mark);
    sc->traceSet = false;
    sq_reseterror(v);
    goto out;
  }
  sc->raise.set = false; /* a raise the entry survived (a native swallowed it) is forgotten */
  st = calog__sqRead(sc, v, sq_gettop(v), out, err);
out:
  sq_settop(v, base);
  calog__sqBudgetFlush(v); /* the steps run since the last tick count for this entry */
  calog__sqGuardLeave(v, &guard);
  calog__sqShrink(v, SQ_INITIAL_STACK); /* outermost entries only: it does nothing while a frame is left */
  calog__sqMemSwap(prev);
  return st;
}

int32_t calog__sqRunValues(SqCtxT *sc, int kind, const char *name, const char *src, int64_t len, const HSQOBJECT *ref,
                           CalogValueT *args, int32_t argc, CalogValueT *result) {
  CalogValueCallT c;
  calog__valueCallBegin(&c, args, argc);
  return calog__valueCallEnd(&c, calog__sqRun(sc, kind, name, src, len, ref, &c.args, argc, &c.out, &c.err), result);
}

static int32_t sqCallVia(void *interp, const char *name, void *closure, CalogSrcT *args, int32_t argc,
                         CalogSinkT *result, CalogValueT *err) {
  if (name == NULL) {
    SqFnRefT *ref = closure;
    return calog__sqRun(ref->sc, SQ_RUN_REF, NULL, NULL, 0, &ref->obj, args, argc, result, err);
  }
  return calog__sqRun(interp, SQ_RUN_CALL, name, NULL, 0, NULL, args, argc, result, err);
}

static int32_t sqEval(void *interp, const char *src, int64_t len, const char *chunk, CalogValueT *result) {
  return calog__sqRunValues(interp, SQ_RUN_EVAL, chunk, src, len, NULL, NULL, 0, result);
}

static int32_t sqCall(void *interp, const char *name, CalogValueT *args, int32_t argc, CalogValueT *result) {
  return calog__sqRunValues(interp, SQ_RUN_CALL, name, NULL, 0, NULL, args, argc, result);
}

static int32_t sqGet(void *interp, const char *name, CalogValueT *result) {
  return calog__sqRunValues(interp, SQ_RUN_GET, name, NULL, 0, NULL, NULL, 0, result);
}

/* ---- limits: the context's side of the hooks in sq_vmext.cpp -------------------------------------- */
int calog__sqLimitTick(void *p, long long left, long long *next, const char **message);
int calog__sqLimitRoom(void *p, long long bytes);
int calog__sqLimitLook(void *p);
void calog__sqMemCharged(int64_t *counter);

/* Whether a limit of the context's running entry tripped, looking now (the deadline, interrupt(), the entries below)
 * without counting steps: calog__sqNativeDone's look. */
int calog__sqLimitLook(void *p) {
  SqCtxT *sc = p;
  CalogCtxT *ctx = sc->ctx;
  if (ctx == NULL || !calog__ctxInEntry(ctx)) return 0;
  if (calog__limitTripped(ctx) == CALOG_LIMIT_NONE) (void)calog__limitTick(ctx, 0, NULL);
  return calog__limitTripped(ctx) != CALOG_LIMIT_NONE;
}

int calog__sqLimitTick(void *p, long long left, long long *next, const char **message) {
  SqCtxT *sc = p;
  int64_t n = CALOG_TICK_CHUNK;
  int32_t kind = calog__limitTick(sc->ctx, sc->chunk - left, &n);
  sc->chunk = *next = n;
  if (kind != CALOG_LIMIT_NONE) {
    static const char *const messages[] = {"", "memory limit reached", "step limit reached", "timeout", "interrupted",
                                           "output limit reached"};
    *message = kind > 0 && kind <= CALOG_LIMIT_OUTPUT ? messages[kind] : "limit reached";
  }
  return kind;
}

int calog__sqLimitRoom(void *p, long long bytes) {
  SqCtxT *sc = p;
  int64_t limit = calog__limitMemory(sc->ctx);
  int64_t used = __atomic_load_n(&sc->mem, __ATOMIC_RELAXED) + bytes;
  if (limit <= 0 || used <= limit) return 0;
  calog__limitTrip(sc->ctx, CALOG_LIMIT_MEMORY, used, limit);
  return 1;
}

/* After each allocation that grew a context's count: past the memory limit the limit trips and the VM
 * raises it before its next instruction (the allocation itself succeeds: Squirrel does not survive a NULL,
 * and the built-ins that allocate by a script-given size check first, CALOG_SQ_SIZECHECK). */
void calog__sqMemCharged(int64_t *counter) {
  SqCtxT *sc = (SqCtxT *)(void *)((char *)counter - offsetof(SqCtxT, mem));
  int64_t limit = calog__limitMemory(sc->ctx);
  int64_t used = __atomic_load_n(counter, __ATOMIC_RELAXED);
  if (limit <= 0 || used <= limit || calog__limitTripped(sc->ctx) != CALOG_LIMIT_NONE) return;
  calog__limitTrip(sc->ctx, CALOG_LIMIT_MEMORY, used, limit);
  if (sc->vm) calog__sqBudgetExpire(sc->vm);
}

static void sqSyncSteps(void *interp) {
  SqCtxT *sc = interp;
  if (sc->vm != NULL) calog__sqBudgetFlush(sc->vm);
}

static int64_t sqMemory(void *interp) { return __atomic_load_n(&((SqCtxT *)interp)->mem, __ATOMIC_RELAXED); }

CALOG_HIDDEN const CalogEngineT calog__squirrelEngine = {
    .name = "squirrel",
    .create = sqCreate,
    .destroy = sqDestroy,
    .installNative = sqInstallNative,
    .eval = sqEval,
    .call = sqCall,
    .get = sqGet,
    .memory = sqMemory,
    .callVia = sqCallVia,
    .closureFn = calog__sqFnInvoke,
    .syncSteps = sqSyncSteps,
};
