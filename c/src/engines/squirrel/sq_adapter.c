/* sq_adapter.c -- Squirrel 3.1 <-> calog values (design sec 4): the codec, marshalling both ways between the
 * Squirrel stack and a source / sink (codec.h: CalogValueT, or the wire's IN / OUT straight), the native
 * trampoline (host functions straight between the stack and the wire), Squirrel closures as function values
 * (pinned HSQOBJECT) and function values as callable Squirrel closures.
 *
 * Rules kept throughout: absolute stack indices; raw get/set only (no metamethod, so no script code, runs
 * while marshalling); each entry makes room once for the values it pushes itself, and every container level
 * reserves for its own (calog__sqReserve, which relocates open outers); every recursive path checks
 * CALOG_MAX_DEPTH; the Squirrel API never longjmps, so errors are plain
 * return values and every exit restores the stack top it found.
 *
 * Aggregate mapping (documented in the report and the tests):
 *   array            <-> LIST (an empty [] stays an empty LIST)
 *   table            <-> MAP  (an empty {} stays an empty MAP)
 *   BOTH             ->  table: array part at integer keys 1..n (as in Lua) plus the pairs
 *   table whose integer keys 1..k are contiguous and that also has other keys -> BOTH (so BOTH round-trips);
 *   any other table -> MAP with every key as it is. */
#include "sq_adapter.h"

#include "../../wire.h"

#include "../../io/io.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

static const char fnTag = 0; /* its address is the type tag of the function-holder class */
#define FN_TYPETAG ((SQUserPointer)&fnTag)

SqCtxT *calog__sqCtx(HSQUIRRELVM v) { return (SqCtxT *)sq_getsharedforeignptr(v); }

bool calog__sqReserveOk(HSQUIRRELVM v, SQInteger n) { return calog__sqReserve(v, n) != 0; }

static bool lenient(SqCtxT *sc) { return sc->ctx->rt->policy == CALOG_POLICY_LENIENT; }

static int32_t stackFail(CalogValueT *err) {
  return calogFail(err, CALOG_ERR_NESTING, "the Squirrel stack cannot grow here (inside a metamethod)");
}

const char *calog__sqTypeName(SQObjectType t) {
  switch (t) {
  case OT_NULL: return "null";
  case OT_INTEGER: return "integer";
  case OT_FLOAT: return "float";
  case OT_BOOL: return "bool";
  case OT_STRING: return "string";
  case OT_TABLE: return "table";
  case OT_ARRAY: return "array";
  case OT_USERDATA: return "userdata";
  case OT_CLOSURE: return "function";
  case OT_NATIVECLOSURE: return "native function";
  case OT_GENERATOR: return "generator";
  case OT_USERPOINTER: return "userpointer";
  case OT_THREAD: return "thread";
  case OT_FUNCPROTO: return "function prototype";
  case OT_CLASS: return "class";
  case OT_INSTANCE: return "instance";
  case OT_WEAKREF: return "weakref";
  case OT_OUTER: return "outer";
  }
  return "unknown";
}

/* The CalogFnT behind one of our function closures (a native closure whose only free variable is an
 * instance of the holder class), or NULL. Pushes and pops one value. */
static CalogFnT *heldFn(HSQUIRRELVM v, SQInteger idx) {
  SQUnsignedInteger nparams, nfree;
  if (sq_gettype(v, idx) != OT_NATIVECLOSURE || SQ_FAILED(sq_getclosureinfo(v, idx, &nparams, &nfree)) || nfree != 1)
    return NULL;
  if (sq_getfreevariable(v, idx, 0) == NULL) return NULL;
  CalogFnT *fn = NULL;
  SQUserPointer tag = NULL, up = NULL;
  if (sq_gettype(v, -1) == OT_INSTANCE && SQ_SUCCEEDED(sq_gettypetag(v, -1, &tag)) && tag == FN_TYPETAG &&
      SQ_SUCCEEDED(sq_getinstanceup(v, -1, &up, NULL)))
    fn = (CalogFnT *)up;
  sq_poptop(v);
  return fn;
}

/* ---- ingress: Squirrel -> a sink (CalogValueT, or the wire straight into OUT) ---------------------- */
typedef struct IngressT {
  SqCtxT *sc;
  HSQUIRRELVM v;
  CalogSinkT *sink;
  CalogValueT *err;
  const void *ancestors[CALOG_MAX_DEPTH + 1]; /* written before read: never initialised (no memset) */
} IngressT;

static int32_t ingress(IngressT *in, SQInteger idx, int depth);

static int32_t put(IngressT *in, int32_t st) { return st == CALOG_OK ? st : calog__sinkFail(in->sink, st, in->err); }

/* Puts o when it is a scalar (null, bool, integer, float, string); false for any other type. */
static bool putScalar(IngressT *in, const HSQOBJECT *o, int32_t *st) {
  switch (o->_type) {
  case OT_NULL: *st = put(in, calog__sinkScalar(in->sink, CALOG_NIL, 0, 0)); return true;
  case OT_BOOL: *st = put(in, calog__sinkScalar(in->sink, CALOG_BOOL, o->_unVal.nInteger != 0, 0)); return true;
  case OT_INTEGER: *st = put(in, calog__sinkScalar(in->sink, CALOG_INT, (int64_t)o->_unVal.nInteger, 0)); return true;
  case OT_FLOAT: *st = put(in, calog__sinkScalar(in->sink, CALOG_REAL, 0, (double)o->_unVal.fFloat)); return true;
  case OT_STRING: {
    SQInteger n;
    const char *s = calog__sqStringOf(o, &n);
    *st = put(in, calog__sinkString(in->sink, s, (int64_t)n));
    return true;
  }
  default: return false;
  }
}

static int32_t enterContainer(IngressT *in, const HSQOBJECT *o, int depth) {
  if (depth >= CALOG_MAX_DEPTH)
    return calogFail(in->err, CALOG_ERR_DEPTH, "value nesting exceeds the depth cap (%d)", CALOG_MAX_DEPTH);
  const void *self = o->_unVal.pRefCounted;
  for (int i = 0; i < depth; i++)
    if (in->ancestors[i] == self)
      return calogFail(in->err, CALOG_ERR_CYCLE, "%s contains itself (a cycle)", calog__sqTypeName(o->_type));
  in->ancestors[depth] = self;
  if (!calog__sqReserveOk(in->v, 4)) return stackFail(in->err); /* the iterator, a key, a value */
  return CALOG_OK;
}

static int32_t ingressArray(IngressT *in, SQInteger idx, const HSQOBJECT *o, int depth) {
  HSQUIRRELVM v = in->v;
  int32_t st = enterContainer(in, o, depth);
  if (st != CALOG_OK) return st;
  SQInteger n = sq_getsize(v, idx);
  if ((st = put(in, calog__sinkAggBegin(in->sink, n, 0))) != CALOG_OK) return st;
  for (SQInteger i = 0; i < n; i++) {
    calog__sqArrayPush(v, idx, i);
    st = ingress(in, sq_gettop(v), depth + 1);
    sq_poptop(v);
    if (st != CALOG_OK) return st;
  }
  return put(in, calog__sinkAggEnd(in->sink, CALOG_AGG_LIST));
}

/* A key that can cross (number, bool, string). */
static bool keyType(SQObjectType t) { return t == OT_INTEGER || t == OT_FLOAT || t == OT_BOOL || t == OT_STRING; }

/* The length k of the sequence 1..k of integer keys of the table at idx when the table becomes a BOTH (its
 * other keys the pairs), else 0: a table whose integer keys 1..k are contiguous and that has other keys too
 * (the keys that cross: lenient drops the others), so that a BOTH value sent to Squirrel comes back as it went. */
static SQInteger sequenceOf(IngressT *in, SQInteger idx) {
  HSQUIRRELVM v = in->v;
  SQInteger size = sq_getsize(v, idx), k = 0;
  while (k < size && calog__sqTableGetInt(v, idx, k + 1)) {
    sq_poptop(v);
    k++;
  }
  if (k == 0 || k == size) return 0;
  if (!lenient(in->sc)) return k; /* strict: a key that cannot cross fails the crossing anyway */
  SQInteger n = 0, top = sq_gettop(v);
  sq_pushnull(v); /* iterator */
  while (SQ_SUCCEEDED(sq_next(v, idx))) {
    if (keyType(sq_gettype(v, -2))) n++;
    sq_pop(v, 2);
  }
  sq_settop(v, top);
  return k < n ? k : 0;
}

static int32_t ingressTable(IngressT *in, SQInteger idx, const HSQOBJECT *o, int depth) {
  HSQUIRRELVM v = in->v;
  int32_t st = enterContainer(in, o, depth);
  if (st != CALOG_OK) return st;
  SQInteger k = sequenceOf(in, idx);
  if ((st = put(in, calog__sinkAggBegin(in->sink, k, sq_getsize(v, idx) - k))) != CALOG_OK) return st;
  for (SQInteger i = 1; i <= k; i++) {
    calog__sqTableGetInt(v, idx, i);
    st = ingress(in, sq_gettop(v), depth + 1);
    sq_poptop(v);
    if (st != CALOG_OK) return st;
  }
  calog__sinkAggPairs(in->sink);
  SQInteger top = sq_gettop(v);
  sq_pushnull(v); /* iterator */
  while (SQ_SUCCEEDED(sq_next(v, idx))) {
    SQInteger vi = sq_gettop(v), ki = vi - 1;
    HSQOBJECT key;
    sq_getstackobj(v, ki, &key);
    if (key._type == OT_INTEGER && key._unVal.nInteger >= 1 && key._unVal.nInteger <= k) {
      sq_pop(v, 2); /* in the sequence */
      continue;
    }
    if (!keyType(key._type)) {
      if (lenient(in->sc)) {
        sq_pop(v, 2);
        continue; /* unrepresentable key: dropped */
      }
      st = calogFail(in->err, CALOG_ERR_TYPE, "a table key of type %s cannot cross to another engine", calog__sqTypeName(key._type));
      break;
    }
    (void)putScalar(in, &key, &st);
    if (st != CALOG_OK || (st = ingress(in, vi, depth + 1)) != CALOG_OK) break;
    sq_pop(v, 2);
  }
  sq_settop(v, top);
  if (st != CALOG_OK) return st;
  return put(in, calog__sinkAggEnd(in->sink, k == 0 ? CALOG_AGG_MAP : CALOG_AGG_BOTH));
}

static int32_t ingressFunction(IngressT *in, SQInteger idx) {
  HSQUIRRELVM v = in->v;
  if (!calog__sqReserveOk(v, 2)) return stackFail(in->err);
  CalogFnT *held = heldFn(v, idx);
  if (held != NULL) { /* a function value that went into Squirrel comes back as itself */
    calogFnRetain(held);
    return put(in, calog__sinkFn(in->sink, held));
  }
  SqFnRefT *ref = malloc(sizeof *ref);
  CalogFnT *fn = ref ? calog__fnCreateOwned(in->sc->ctx, calog__sqFnInvoke, ref, calog__sqFnRelease) : NULL;
  if (fn == NULL) {
    free(ref);
    return calogFail(in->err, CALOG_ERR_OOM, "out of memory");
  }
  ref->sc = in->sc;
  sq_getstackobj(v, idx, &ref->obj);
  sq_addref(v, &ref->obj);
  return put(in, calog__sinkFn(in->sink, fn));
}

static int32_t ingress(IngressT *in, SQInteger idx, int depth) {
  HSQOBJECT o;
  sq_getstackobj(in->v, idx, &o);
  int32_t st;
  if (putScalar(in, &o, &st)) return st;
  switch (o._type) {
  case OT_ARRAY: return ingressArray(in, idx, &o, depth);
  case OT_TABLE: return ingressTable(in, idx, &o, depth);
  case OT_CLOSURE:
  case OT_NATIVECLOSURE: return ingressFunction(in, idx);
  default: /* class, instance, generator, thread, userdata, userpointer, weakref */
    if (lenient(in->sc)) return put(in, calog__sinkScalar(in->sink, CALOG_NIL, 0, 0));
    return calogFail(in->err, CALOG_ERR_TYPE, "a Squirrel %s cannot cross to another engine", calog__sqTypeName(o._type));
  }
}

int32_t calog__sqRead(SqCtxT *sc, HSQUIRRELVM v, SQInteger idx, CalogSinkT *sink, CalogValueT *err) {
  IngressT in;
  in.sc = sc;
  in.v = v;
  in.sink = sink;
  in.err = err;
  SQInteger top = sq_gettop(v);
  if (idx < 0) idx = top + idx + 1;
  int32_t st = ingress(&in, idx, 0);
  sq_settop(v, top);
  return st;
}

int32_t calog__sqToValue(SqCtxT *sc, HSQUIRRELVM v, SQInteger idx, CalogValueT *out, CalogValueT *err) {
  /* out and err may be the same value: build into a temporary, then publish one or the other */
  CalogValueT tmp, e = calogValueNil();
  CalogSinkT sink;
  calog__sinkValues(&sink, &tmp, 1);
  int32_t st = calog__sqRead(sc, v, idx, &sink, &e);
  calog__sinkEnd(&sink, st == CALOG_OK, NULL);
  if (st == CALOG_OK) {
    calogValueFree(out);
    *out = tmp;
  } else {
    calogValueFree(err);
    *err = e;
  }
  return st;
}

/* ---- egress: a source (CalogValueT, or the wire straight from IN) -> Squirrel ---------------------- */
static SQInteger holderRelease(SQUserPointer p, SQInteger size) {
  (void)size;
  calogFnRelease((CalogFnT *)p);
  return 1;
}

static SQInteger fnTrampoline(HSQUIRRELVM v);

/* Takes the item's reference when it owns one. Pushes one value (two slots for a moment). */
static int32_t pushFn(SqCtxT *sc, HSQUIRRELVM v, CalogItemT *it, CalogValueT *err) {
  CalogFnT *fn = it->as.fn;
  bool owned = it->owned;
  it->owned = false;
  if (fn->fn == calog__sqFnInvoke && fn->owner == sc->ctx && atomic_load(&fn->alive)) {
    /* our own closure coming home: the original Squirrel closure, not a wrapper */
    sq_pushobject(v, ((SqFnRefT *)fn->userData)->obj);
    if (owned) calogFnRelease(fn);
    return CALOG_OK;
  }
  /* a holder instance owns one reference (its release hook drops it); a native closure over it is what
   * scripts see, so f(x) is a plain call (no metamethod: the VM may grow its stack during the call) */
  sq_pushobject(v, sc->fnClass);
  if (SQ_FAILED(sq_createinstance(v, -1))) {
    sq_poptop(v);
    if (owned) calogFnRelease(fn);
    return calogFail(err, CALOG_ERR_INTERNAL, "cannot create a function holder");
  }
  if (!owned) calogFnRetain(fn);
  sq_setinstanceup(v, -1, fn);
  sq_setreleasehook(v, -1, holderRelease);
  sq_remove(v, -2);                   /* the class */
  sq_newclosure(v, fnTrampoline, 1); /* takes the holder as its free variable */
  sq_setnativeclosurename(v, -1, "calog.function");
  return CALOG_OK;
}

static int32_t egressItem(SqCtxT *sc, HSQUIRRELVM v, CalogSrcT *s, CalogItemT *it, int depth, CalogValueT *err);

/* Reads the next item of s and pushes its value. */
static int32_t egressNext(SqCtxT *sc, HSQUIRRELVM v, CalogSrcT *s, int depth, CalogValueT *err) {
  CalogItemT it;
  int32_t st = calog__srcNext(s, &it, err);
  return st == CALOG_OK ? egressItem(sc, v, s, &it, depth, err) : st;
}

/* The memory limit tripped while a value was made: the entry ends with it (the message is the limit's). */
static int32_t overLimit(CalogValueT *err) { return calogFail(err, CALOG_ERR_LIMIT, "memory limit reached"); }

/* An array (a LIST) or a table (a MAP, or a BOTH with its items at 1..n) from an aggregate's item; its
 * contents follow in s. */
static int32_t egressAgg(SqCtxT *sc, HSQUIRRELVM v, CalogSrcT *s, CalogItemT *it, int depth, CalogValueT *err) {
  if (depth >= CALOG_MAX_DEPTH)
    return calogFail(err, CALOG_ERR_DEPTH, "value nesting exceeds the depth cap (%d)", CALOG_MAX_DEPTH);
  if (!calog__sqReserveOk(v, 4)) return stackFail(err); /* the container, a key, a value (two slots) */
  int64_t na = it->as.agg.na, np = it->as.agg.np;
  SQInteger top = sq_gettop(v), t = top + 1;
  int32_t st = CALOG_OK;
  /* Squirrel's allocations never fail, and nothing in here ticks the limits: the room an aggregate reserves is
   * checked against the memory limit first (a list of 2^24 items reserved 268 MB in a context limited to 4 MB), and
   * the limit is looked at after every item (a million strings passed in one argument were all made, past it) */
  if (calog__sqLimitRoom(sc, (long long)((na + np) * (int64_t)sizeof(HSQOBJECT)))) return overLimit(err);
  if (np == 0 && it->as.agg.kind != CALOG_AGG_MAP) { /* LIST -> array */
    sq_newarray(v, 0);
    calog__sqArrayReserve(v, t, (SQInteger)na);
    for (int64_t i = 0; i < na; i++) {
      if ((st = egressNext(sc, v, s, depth + 1, err)) != CALOG_OK) goto fail;
      sq_arrayappend(v, t);
      if (calog__limitTripped(sc->ctx) == CALOG_LIMIT_MEMORY) {
        st = overLimit(err);
        goto fail;
      }
    }
    return CALOG_OK;
  }
  /* MAP / BOTH -> table (array part at 1..n) */
  sq_newtableex(v, (SQInteger)(na + np));
  for (int64_t i = 0; i < na; i++) {
    sq_pushinteger(v, (SQInteger)(i + 1));
    if ((st = egressNext(sc, v, s, depth + 1, err)) != CALOG_OK) goto fail;
    sq_rawset(v, t);
    if (calog__limitTripped(sc->ctx) == CALOG_LIMIT_MEMORY) {
      st = overLimit(err);
      goto fail;
    }
  }
  for (int64_t i = 0; i < np; i++) {
    CalogItemT key;
    if ((st = calog__srcNext(s, &key, err)) != CALOG_OK) goto fail;
    if (key.type == CALOG_REAL && isnan(key.as.r)) {
      CalogItemT val;
      if ((st = calog__srcNext(s, &val, err)) != CALOG_OK) goto fail;
      calog__srcDrop(s, &val);
      if (lenient(sc)) continue;
      st = calogFail(err, CALOG_ERR_TYPE, "NaN cannot be a Squirrel table key");
      goto fail;
    }
    if ((st = egressItem(sc, v, s, &key, depth + 1, err)) != CALOG_OK) goto fail;
    if ((st = egressNext(sc, v, s, depth + 1, err)) != CALOG_OK) goto fail;
    if (SQ_FAILED(sq_rawset(v, t))) {
      sq_reseterror(v);
      st = calogFail(err, CALOG_ERR_TYPE, "invalid Squirrel table key");
      goto fail;
    }
    if (calog__limitTripped(sc->ctx) == CALOG_LIMIT_MEMORY) {
      st = overLimit(err);
      goto fail;
    }
  }
  return CALOG_OK;
fail:
  sq_settop(v, top);
  return st;
}

/* Pushes the value whose item was just read from s; the caller made room for two slots. */
static int32_t egressItem(SqCtxT *sc, HSQUIRRELVM v, CalogSrcT *s, CalogItemT *it, int depth, CalogValueT *err) {
  switch (it->type) {
  case CALOG_NIL: sq_pushnull(v); return CALOG_OK;
  case CALOG_BOOL: sq_pushbool(v, it->as.b ? SQTrue : SQFalse); return CALOG_OK;
  case CALOG_INT: sq_pushinteger(v, (SQInteger)it->as.i); return CALOG_OK;
  case CALOG_REAL: sq_pushfloat(v, (SQFloat)it->as.r); return CALOG_OK;
  case CALOG_STRING: sq_pushstring(v, it->as.s.bytes, (SQInteger)it->as.s.length); return CALOG_OK;
  case CALOG_FN: return pushFn(sc, v, it, err);
  case CALOG_AGGREGATE: return egressAgg(sc, v, s, it, depth, err);
  }
  return calogFail(err, CALOG_ERR_TYPE, "unknown value type");
}

int32_t calog__sqPushFrom(SqCtxT *sc, HSQUIRRELVM v, CalogSrcT *s, CalogValueT *err) {
  return egressNext(sc, v, s, 0, err);
}

int32_t calog__sqPush(SqCtxT *sc, HSQUIRRELVM v, const CalogValueT *val, CalogValueT *err) {
  if (!calog__sqReserveOk(v, 2)) return stackFail(err);
  CalogSrcT s;
  calog__srcValues(&s, val, 1);
  return calog__sqPushFrom(sc, v, &s, err);
}

/* ---- calling out of Squirrel: natives and foreign function values --------------------------------- */
/* calog__sqRaise; msg (n bytes, NULL: none): the message the raised value carries (SqCtxT.raise), copied */
static SQInteger raiseCarrying(HSQUIRRELVM v, CalogRaiseT mark, const char *msg, int64_t n) {
  SqCtxT *sc = calog__sqCtx(v);
  HSQOBJECT o;
  sq_getstackobj(v, -1, &o);
  free(sc->raise.msg);
  sc->raise.msg = msg != NULL ? malloc((size_t)n + 1) : NULL; /* out of memory: the value goes without it */
  if (sc->raise.msg != NULL) {
    memcpy(sc->raise.msg, msg, (size_t)n);
    sc->raise.msg[n] = '\0';
  }
  sc->raise.msgLen = sc->raise.msg != NULL ? n : 0;
  sc->raise.set = mark.status || mark.host || sc->raise.msg != NULL;
  sc->raise.type = o._type;
  sc->raise.raw = o._unVal.raw;
  sc->raise.mark = mark;
  return sq_throwobject(v);
}

SQInteger calog__sqRaise(HSQUIRRELVM v, CalogRaiseT mark) { return raiseCarrying(v, mark, NULL, 0); }

CalogRaiseT calog__sqRaisedMark(HSQUIRRELVM v, const char **msg, int64_t *msgLen) {
  SqCtxT *sc = calog__sqCtx(v);
  CalogRaiseT none = {0, 0};
  HSQOBJECT o;
  sq_getstackobj(v, -1, &o);
  bool same = sc->raise.set && o._type == sc->raise.type && o._unVal.raw == sc->raise.raw;
  sc->raise.set = false;
  *msg = same ? sc->raise.msg : NULL;
  *msgLen = same ? sc->raise.msgLen : 0;
  return same ? sc->raise.mark : none;
}

/* The hook of patch 80: a script's try/catch caught the error being raised (whatever it was). */
void calog__sqCaught(HSQUIRRELVM v) { calog__sqCtx(v)->raise.set = false; }

/* Raises the error in result: the value the failing script threw when it has one that is not the error's own text
 * (calog__errorRaiseValue: a table thrown in another engine arrives as a table), else the message as-is
 * (binary-safe); catchable by try/catch. */
static SQInteger throwResult(HSQUIRRELVM v, CalogValueT *result) {
  SqCtxT *sc = calog__sqCtx(v);
  CalogRaiseT mark = calog__errorRaiseOf(result);
  const CalogValueT *thrown = calog__errorRaiseValue(result);
  CalogValueT err = calogValueNil();
  bool carried = thrown != NULL && calog__sqPush(sc, v, thrown, &err) == CALOG_OK;
  if (!carried) {
    if (thrown != NULL) calog__errorValueRefused(result, "squirrel", &err);
    int64_t n;
    const char *msg = calogErrorMessage(result, &n);
    sq_pushstring(v, msg, (SQInteger)n); /* natives always have MIN_STACK_OVERHEAD free slots */
  }
  calogValueFree(&err);
  /* a value another engine threw carries the message it had there (see SqCtxT.raise) */
  int64_t n = 0;
  const char *msg = carried ? calog__errorCarriedMessage(result, &n) : NULL;
  SQInteger r = raiseCarrying(v, mark, msg, n);
  calogValueFree(result);
  return r;
}
/* The I/O layer's natives: a denial or a blocking call on the host thread keeps its status when uncaught; an
 * I/O error with partial data throws a table { message, partial }. */
static SQInteger throwIo(HSQUIRRELVM v, int32_t st, CalogValueT *result) {
  SqCtxT *sc = calog__sqCtx(v);
  if (st == CALOG_ERR_PERMISSION || st == CALOG_ERR_UNSUPPORTED) calog__errorMark(result, (CalogRaiseT){.status = st});
  const CalogValueT *partial = st == CALOG_ERR_SCRIPT ? calog__ioPartial(result) : NULL;
  if (partial == NULL) return throwResult(v, result);
  int64_t n;
  const char *msg = calogErrorMessage(result, &n);
  CalogValueT err = calogValueNil();
  sq_newtable(v);
  sq_pushstring(v, "message", -1);
  sq_pushstring(v, msg, (SQInteger)n);
  sq_newslot(v, -3, SQFalse);
  sq_pushstring(v, "partial", -1);
  if (calog__sqPush(sc, v, partial, &err) != CALOG_OK) sq_pushnull(v);
  sq_newslot(v, -3, SQFalse);
  calogValueFree(&err);
  CalogRaiseT mark = calog__errorRaiseOf(result);
  calogValueFree(result);
  return calog__sqRaise(v, mark);
}

typedef int32_t (*CallOutFnT)(void *target, CalogValueT *args, int32_t argc, CalogValueT *result);
static int32_t callFnIo(void *target, CalogValueT *args, int32_t argc, CalogValueT *result);

/* Pushes the value of s (the result of a call out) and returns 1, or raises the error. */
static SQInteger pushResult(SqCtxT *sc, HSQUIRRELVM v, CalogSrcT *s) {
  CalogValueT err = calogValueNil();
  int32_t st = calog__sqPushFrom(sc, v, s, &err); /* a native starts with MIN_STACK_OVERHEAD free slots */
  calog__srcEnd(s);
  return st == CALOG_OK ? 1 : throwResult(v, &err);
}

/* args are the stack slots first..last of the native frame (first = 0: this.id, then slots 2..last: an I/O
 * method's receiver); pushes the return value */
static SQInteger callOut(HSQUIRRELVM v, SQInteger first, SQInteger last, CallOutFnT call, void *target) {
  SqCtxT *sc = calog__sqCtx(v);
  bool recv = first == 0;
  if (recv) first = 2;
  int32_t argc = (last >= first ? (int32_t)(last - first + 1) : 0) + (recv ? 1 : 0);
  CalogValueT stackArgs[8];
  CalogValueT *args = stackArgs;
  CalogValueT result = calogValueNil();
  if (argc > 8 && (args = malloc((size_t)argc * sizeof *args)) == NULL) return sq_throwerror(v, "out of memory");
  int32_t st = CALOG_OK;
  CalogSinkT sink;
  calog__sinkValues(&sink, args, argc);
  if (recv) { /* this.id, read without metamethods */
    sq_pushstring(v, "id", 2);
    if (SQ_FAILED(sq_rawget(v, 1))) {
      sq_reseterror(v);
      sq_pushnull(v);
    }
    st = calog__sqRead(sc, v, sq_gettop(v), &sink, &result);
    sq_poptop(v);
  }
  for (SQInteger i = first; i <= last && st == CALOG_OK; i++) st = calog__sqRead(sc, v, i, &sink, &result);
  calog__sinkEnd(&sink, st == CALOG_OK, NULL);
  if (st == CALOG_OK) st = call(target, args, argc, &result);
  for (int32_t i = 0; i < argc; i++) calogValueFree(&args[i]);
  if (args != stackArgs) free(args);
  if (st != CALOG_OK && call == callFnIo) return throwIo(v, st, &result);
  if (st != CALOG_OK) return throwResult(v, &result);
  CalogSrcT src;
  calog__srcValues(&src, &result, 1);
  SQInteger r = pushResult(sc, v, &src);
  calogValueFree(&result);
  return r;
}

static int32_t callNative(void *target, CalogValueT *args, int32_t argc, CalogValueT *result) {
  return calog__nativeInvoke(target, args, argc, result);
}
static int32_t callFn(void *target, CalogValueT *args, int32_t argc, CalogValueT *result) {
  return calogFnInvoke(target, args, argc, result);
}
static int32_t callFnIo(void *target, CalogValueT *args, int32_t argc, CalogValueT *result) {
  return calogFnInvoke(target, args, argc, result);
}

/* A host (TypeScript) function called from the host thread: the arguments (slots first..last) are written
 * from the Squirrel stack straight into OUT and the result pushed straight from IN (no CalogValueT; the same
 * codec). */
static SQInteger hostOut(HSQUIRRELVM v, CalogNativeEntryT *e, CalogBindingT *b, CalogHostFnT *h, SQInteger first,
                         SQInteger last) {
  SqCtxT *sc = calog__sqCtx(v);
  CalogValueT result = calogValueNil();
  CalogHostCallT c;
  int32_t st = calog__hostCallBegin(&c, h, last >= first ? (int32_t)(last - first + 1) : 0, &result);
  for (SQInteger i = first; i <= last && st == CALOG_OK; i++) st = calog__sqRead(sc, v, i, &c.args, &result);
  if (st != CALOG_OK) {
    calog__hostCallAbort(&c);
    calog__nativeHostDone(e, b);
    return throwResult(v, &result);
  }
  /* the result is copied out of IN first: pushing it may run release hooks, whose host calls rewrite IN */
  uint8_t copy[256];
  CalogSrcT src;
  bool viaValue;
  st = calog__hostCallRun(&c, &src, copy, sizeof copy, &viaValue, &result);
  calog__nativeHostDone(e, b);
  if (st != CALOG_OK) return throwResult(v, &result);
  if (!viaValue) return pushResult(sc, v, &src); /* result is nil */
  calog__srcValues(&src, &result, 1);
  SQInteger r = pushResult(sc, v, &src);
  calogValueFree(&result);
  return r;
}

/* A limit tripped in the running entry (interrupt(), a deadline passed inside the call...): raised now, as the
 * VM's tick raises it (and again before its next instruction), so no call out starts and none returns into the
 * script. r: what the native would return. */
static SQInteger stopIfTripped(HSQUIRRELVM v, SQInteger r) {
  if (SQ_FAILED(r) || calog__limitStopped(calog__sqCtx(v)->ctx) == CALOG_LIMIT_NONE) return r;
  return calog__sqTickNow(v) ? SQ_ERROR : r;
}

/* stack: [this, args..., free variable]; index 1 (this) is not an argument */
static SQInteger nativeTrampoline(HSQUIRRELVM v) {
  SQInteger top = sq_gettop(v);
  SQUserPointer entry = NULL;
  if (SQ_FAILED(sq_getuserpointer(v, top, &entry)) || entry == NULL) return sq_throwerror(v, "invalid calog native");
  if (SQ_FAILED(stopIfTripped(v, 0))) return SQ_ERROR;
  CalogHostFnT *h;
  CalogBindingT *b = calog__nativeHostBinding(entry, &h);
  if (b != NULL) return stopIfTripped(v, hostOut(v, entry, b, h, 2, top - 1));
  return stopIfTripped(v, callOut(v, 2, top - 1, callNative, entry));
}

static SQInteger fnTrampoline(HSQUIRRELVM v) {
  SQInteger top = sq_gettop(v);
  SQUserPointer fn = NULL;
  if (SQ_FAILED(sq_getinstanceup(v, top, &fn, NULL)) || fn == NULL)
    return sq_throwerror(v, "invalid calog function value");
  if (SQ_FAILED(stopIfTripped(v, 0))) return SQ_ERROR;
  if (!calog__ioIsNative(fn)) return stopIfTripped(v, callOut(v, 2, top - 1, callFn, fn));
  return stopIfTripped(v, callOut(v, calog__ioIsMethod(fn) ? 0 : 2, top - 1, callFnIo, fn)); /* methods: conn.send(x) */
}

void calog__sqPushNative(HSQUIRRELVM v, CalogNativeEntryT *entry) {
  sq_pushuserpointer(v, entry);
  sq_newclosure(v, nativeTrampoline, 1);
  sq_setnativeclosurename(v, -1, entry->name);
}

int32_t calog__sqOpenIo(SqCtxT *sc, CalogValueT *err) {
  HSQUIRRELVM v = sc->vm;
  CalogValueT g = calogValueNil();
  int32_t st = calog__ioGlobals(sc->ctx, &g);
  if (st != CALOG_OK) {
    calogValueFree(err);
    calogValueMove(err, &g);
    return st;
  }
  SQInteger top = sq_gettop(v);
  sq_pushroottable(v);
  CalogAggT *agg = g.as.agg;
  for (int64_t k = 0; st == CALOG_OK && k < calogAggPairCount(agg); k++) {
    sq_pushstring(v, calogAggPairKey(agg, k)->as.s.bytes, -1);
    if ((st = calog__sqPush(sc, v, calogAggPairValue(agg, k), err)) == CALOG_OK) sq_newslot(v, -3, SQFalse);
  }
  sq_settop(v, top);
  calogValueFree(&g);
  return st;
}

int32_t calog__sqOpenFnClass(SqCtxT *sc, CalogValueT *err) {
  HSQUIRRELVM v = sc->vm;
  if (SQ_FAILED(sq_newclass(v, SQFalse))) return calogFail(err, CALOG_ERR_INTERNAL, "cannot create a class");
  sq_settypetag(v, -1, FN_TYPETAG);
  sq_getstackobj(v, -1, &sc->fnClass);
  sq_addref(v, &sc->fnClass);
  /* lock the class now: an instantiated class can no longer be modified */
  sq_createinstance(v, -1);
  sq_pop(v, 2);
  return CALOG_OK;
}

/* ---- errors ------------------------------------------------------------------------------------- */
static void traceAppend(SqCtxT *sc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  size_t need = sc->traceLen + (size_t)n + 1;
  if (need > sc->traceCap) {
    size_t cap = sc->traceCap ? sc->traceCap : 256;
    while (cap < need) cap *= 2;
    char *p = realloc(sc->trace, cap);
    if (p == NULL) return;
    sc->trace = p;
    sc->traceCap = cap;
  }
  va_start(ap, fmt);
  vsnprintf(sc->trace + sc->traceLen, (size_t)n + 1, fmt, ap);
  va_end(ap);
  sc->traceLen += (size_t)n;
}

/* Installed with sq_seterrorhandler: runs where the error was raised (the frames are still there) and
 * keeps the call stack for the run that will report the error. */
SQInteger calog__sqErrorHandler(HSQUIRRELVM v) {
  SqCtxT *sc = calog__sqCtx(v);
  sc->traceLen = 0;
  sc->traceSet = true;
  traceAppend(sc, "stack traceback:");
  SQStackInfos si;
  SQInteger level = 1, more = 0; /* level 0 is this handler */
  for (; SQ_SUCCEEDED(sq_stackinfos(v, level, &si)); level++) {
    if (level > SQ_TRACE_LEVELS) {
      more++;
      continue;
    }
    /* each name cut to 200 bytes: both are the script's (compilestring's source name, a function's), and the
     * traceback is made outside the interpreter's allocator: 24 frames of 1 MB names made 50 MB under a 16 MB limit */
    const char *fname = si.funcname ? si.funcname : "?";
    if (si.line < 0) traceAppend(sc, "\n\t[native]: in function '%.200s'", fname);
    else traceAppend(sc, "\n\t%.200s:%lld: in function '%.200s'", si.source ? si.source : "?", (long long)si.line, fname);
  }
  if (more) traceAppend(sc, "\n\t(%lld more frames)", (long long)more);
  if (sc->trace == NULL) sc->traceSet = false;
  return 0;
}

/* ---- Squirrel closures as function values ---------------------------------------------------------- */
int32_t calog__sqFnInvoke(CalogValueT *args, int32_t argc, CalogValueT *result, void *userData) {
  SqFnRefT *ref = userData;
  return calog__sqRunValues(ref->sc, SQ_RUN_REF, NULL, NULL, 0, &ref->obj, args, argc, result);
}

void calog__sqFnRelease(void *userData) {
  SqFnRefT *ref = userData;
  if (ref->sc->vm) {
    int64_t *prev = calog__sqMemSwap(&ref->sc->mem);
    sq_release(ref->sc->vm, &ref->obj);
    calog__sqMemSwap(prev);
  }
  free(ref);
}
