/* sq_adapter.c -- Squirrel 3.1 <-> CalogValueT: marshalling both ways, the native trampoline, Squirrel
 * closures as function values (pinned HSQOBJECT) and function values as callable Squirrel closures.
 *
 * Rules kept throughout: absolute stack indices; raw get/set only (no metamethod, so no script code, runs
 * while marshalling); every path that pushes reserves first (calog__sqReserve, which relocates open outers)
 * and every recursive path checks CALOG_MAX_DEPTH; the Squirrel API never longjmps, so errors are plain
 * return values and every exit restores the stack top it found.
 *
 * Aggregate mapping (documented in the report and the tests):
 *   array            <-> LIST (an empty [] stays an empty LIST)
 *   table            <-> MAP  (an empty {} stays an empty MAP)
 *   BOTH             ->  table: array part at integer keys 1..n (as in Lua) plus the pairs
 *   table whose integer keys 1..k are contiguous and that also has other keys -> BOTH (so BOTH round-trips);
 *   any other table -> MAP with every key as it is. */
#include "sq_adapter.h"

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

/* ---- ingress: Squirrel -> CalogValueT ------------------------------------------------------------ */
typedef struct IngressT {
  SqCtxT *sc;
  HSQUIRRELVM v;
  const void *ancestors[CALOG_MAX_DEPTH + 1];
  CalogValueT *err;
} IngressT;

static int32_t ingress(IngressT *in, SQInteger idx, CalogValueT *out, int depth);

static int32_t ingressString(IngressT *in, SQInteger idx, CalogValueT *out) {
  const SQChar *s = NULL;
  sq_getstring(in->v, idx, &s);
  int32_t st = calogValueString(out, s, (int64_t)sq_getsize(in->v, idx));
  return st == CALOG_OK ? st : calogFail(in->err, st, "out of memory");
}

static int32_t ingressScalar(IngressT *in, SQInteger idx, CalogValueT *out, bool *done) {
  HSQUIRRELVM v = in->v;
  *done = true;
  switch (sq_gettype(v, idx)) {
  case OT_NULL: *out = calogValueNil(); return CALOG_OK;
  case OT_BOOL: {
    SQBool b = SQFalse;
    sq_getbool(v, idx, &b);
    *out = calogValueBool(b != SQFalse);
    return CALOG_OK;
  }
  case OT_INTEGER: {
    SQInteger i = 0;
    sq_getinteger(v, idx, &i);
    *out = calogValueInt((int64_t)i);
    return CALOG_OK;
  }
  case OT_FLOAT: {
    SQFloat f = 0;
    sq_getfloat(v, idx, &f);
    *out = calogValueReal((double)f);
    return CALOG_OK;
  }
  case OT_STRING: return ingressString(in, idx, out);
  default: *done = false; return CALOG_OK;
  }
}

static int32_t enterContainer(IngressT *in, SQInteger idx, int depth) {
  if (depth >= CALOG_MAX_DEPTH)
    return calogFail(in->err, CALOG_ERR_DEPTH, "value nesting exceeds the depth cap (%d)", CALOG_MAX_DEPTH);
  HSQOBJECT o;
  sq_getstackobj(in->v, idx, &o);
  const void *self = o._unVal.pRefCounted;
  for (int i = 0; i < depth; i++)
    if (in->ancestors[i] == self)
      return calogFail(in->err, CALOG_ERR_CYCLE, "%s contains itself (a cycle)", calog__sqTypeName(o._type));
  in->ancestors[depth] = self;
  if (!calog__sqReserveOk(in->v, 4)) return stackFail(in->err);
  return CALOG_OK;
}

static int32_t ingressArray(IngressT *in, SQInteger idx, CalogValueT *out, int depth) {
  HSQUIRRELVM v = in->v;
  int32_t st = enterContainer(in, idx, depth);
  if (st != CALOG_OK) return st;
  SQInteger n = sq_getsize(v, idx);
  if ((st = calogValueAgg(out, CALOG_AGG_LIST)) != CALOG_OK) return calogFail(in->err, st, "out of memory");
  CalogAggT *agg = out->as.agg;
  if (n > 0 && calog__aggReserve(agg, n, 0) != CALOG_OK) {
    calogValueFree(out);
    return calogFail(in->err, CALOG_ERR_OOM, "out of memory");
  }
  for (SQInteger i = 0; i < n; i++) {
    sq_pushinteger(v, i);
    if (SQ_FAILED(sq_rawget(v, idx))) { /* cannot happen: i < size */
      sq_reseterror(v);
      calogValueFree(out);
      return calogFail(in->err, CALOG_ERR_INTERNAL, "array changed while it was read");
    }
    st = ingress(in, sq_gettop(v), &agg->array[agg->arrayCount], depth + 1);
    sq_poptop(v);
    if (st != CALOG_OK) {
      calogValueFree(out);
      return st;
    }
    agg->arrayCount++;
  }
  return CALOG_OK;
}

/* A MAP whose integer keys 1..k are contiguous and that has other keys too becomes BOTH (array part =
 * the values at 1..k), so that a BOTH value sent to Squirrel comes back as it went. */
static int32_t promoteSequence(CalogAggT *agg) {
  int64_t n = agg->pairCount;
  if (n < 2) return CALOG_OK;
  int64_t *at = malloc((size_t)n * sizeof *at);
  if (at == NULL) return CALOG_ERR_OOM;
  for (int64_t i = 0; i < n; i++) at[i] = -1;
  for (int64_t j = 0; j < n; j++) {
    const CalogValueT *k = &agg->pairs[j].key;
    if (k->type == CALOG_INT && k->as.i >= 1 && k->as.i <= n) at[k->as.i - 1] = j;
  }
  int64_t k = 0;
  while (k < n && at[k] >= 0) k++;
  if (k == 0 || k == n) {
    free(at);
    return CALOG_OK;
  }
  if (calog__aggReserve(agg, k, 0) != CALOG_OK) {
    free(at);
    return CALOG_ERR_OOM;
  }
  for (int64_t i = 0; i < k; i++) {
    CalogPairT *p = &agg->pairs[at[i]];
    calogValueMove(&agg->array[i], &p->value);
    p->key = calogValueNil(); /* an int key owns nothing: nil marks the pair as moved */
  }
  agg->arrayCount = k;
  int64_t w = 0;
  for (int64_t j = 0; j < n; j++)
    if (agg->pairs[j].key.type != CALOG_NIL) agg->pairs[w++] = agg->pairs[j];
  agg->pairCount = w;
  agg->kind = CALOG_AGG_BOTH;
  free(at);
  return CALOG_OK;
}

static int32_t ingressTable(IngressT *in, SQInteger idx, CalogValueT *out, int depth) {
  HSQUIRRELVM v = in->v;
  int32_t st = enterContainer(in, idx, depth);
  if (st != CALOG_OK) return st;
  if ((st = calogValueAgg(out, CALOG_AGG_MAP)) != CALOG_OK) return calogFail(in->err, st, "out of memory");
  CalogAggT *agg = out->as.agg;
  SQInteger top = sq_gettop(v);
  sq_pushnull(v); /* iterator */
  while (SQ_SUCCEEDED(sq_next(v, idx))) {
    SQInteger vi = sq_gettop(v), ki = vi - 1;
    CalogValueT key = calogValueNil(), val = calogValueNil();
    bool scalar;
    SQObjectType kt = sq_gettype(v, ki);
    if (kt == OT_FLOAT || kt == OT_INTEGER || kt == OT_BOOL || kt == OT_STRING) {
      if ((st = ingressScalar(in, ki, &key, &scalar)) != CALOG_OK) goto fail;
    } else if (lenient(in->sc)) {
      sq_pop(v, 2);
      continue; /* unrepresentable key: dropped */
    } else {
      st = calogFail(in->err, CALOG_ERR_TYPE, "a table key of type %s cannot cross to another engine", calog__sqTypeName(kt));
      goto fail;
    }
    if ((st = ingress(in, vi, &val, depth + 1)) != CALOG_OK) {
      calogValueFree(&key);
      goto fail;
    }
    if ((st = calogAggSet(agg, &key, &val)) != CALOG_OK) {
      calogValueFree(&key);
      calogValueFree(&val);
      st = calogFail(in->err, CALOG_ERR_OOM, "out of memory");
      goto fail;
    }
    sq_pop(v, 2);
  }
  sq_settop(v, top);
  if (promoteSequence(agg) != CALOG_OK) {
    calogValueFree(out);
    return calogFail(in->err, CALOG_ERR_OOM, "out of memory");
  }
  agg->kind = agg->arrayCount == 0 ? CALOG_AGG_MAP : CALOG_AGG_BOTH;
  return CALOG_OK;
fail:
  sq_settop(v, top);
  calogValueFree(out);
  return st;
}

static int32_t ingressFunction(IngressT *in, SQInteger idx, CalogValueT *out) {
  HSQUIRRELVM v = in->v;
  if (!calog__sqReserveOk(v, 2)) return stackFail(in->err);
  CalogFnT *held = heldFn(v, idx);
  if (held != NULL) { /* a function value that went into Squirrel comes back as itself */
    calogFnRetain(held);
    *out = calogValueFn(held);
    return CALOG_OK;
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
  *out = calogValueFn(fn);
  return CALOG_OK;
}

static int32_t ingress(IngressT *in, SQInteger idx, CalogValueT *out, int depth) {
  *out = calogValueNil();
  bool done;
  int32_t st = ingressScalar(in, idx, out, &done);
  if (done) return st;
  SQObjectType t = sq_gettype(in->v, idx);
  switch (t) {
  case OT_ARRAY: return ingressArray(in, idx, out, depth);
  case OT_TABLE: return ingressTable(in, idx, out, depth);
  case OT_CLOSURE:
  case OT_NATIVECLOSURE: return ingressFunction(in, idx, out);
  default: /* class, instance, generator, thread, userdata, userpointer, weakref */
    if (lenient(in->sc)) return CALOG_OK;
    return calogFail(in->err, CALOG_ERR_TYPE, "a Squirrel %s cannot cross to another engine", calog__sqTypeName(t));
  }
}

int32_t calog__sqToValue(SqCtxT *sc, HSQUIRRELVM v, SQInteger idx, CalogValueT *out, CalogValueT *err) {
  /* out and err may be the same value: build into a temporary, then publish one or the other */
  CalogValueT tmp, e = calogValueNil();
  IngressT in = {.sc = sc, .v = v, .err = &e};
  if (idx < 0) idx = sq_gettop(v) + idx + 1;
  SQInteger top = sq_gettop(v);
  int32_t st = ingress(&in, idx, &tmp, 0);
  sq_settop(v, top);
  if (st == CALOG_OK) {
    calogValueFree(out);
    *out = tmp;
  } else {
    calogValueFree(err);
    *err = e;
  }
  return st;
}

/* ---- egress: CalogValueT -> Squirrel ------------------------------------------------------------ */
static SQInteger holderRelease(SQUserPointer p, SQInteger size) {
  (void)size;
  calogFnRelease((CalogFnT *)p);
  return 1;
}

static SQInteger fnTrampoline(HSQUIRRELVM v);

static int32_t pushFn(SqCtxT *sc, HSQUIRRELVM v, CalogFnT *fn, CalogValueT *err) {
  if (fn->fn == calog__sqFnInvoke && fn->owner == sc->ctx && atomic_load(&fn->alive)) {
    /* our own closure coming home: the original Squirrel closure, not a wrapper */
    sq_pushobject(v, ((SqFnRefT *)fn->userData)->obj);
    return CALOG_OK;
  }
  /* a holder instance owns one reference (its release hook drops it); a native closure over it is what
   * scripts see, so f(x) is a plain call (no metamethod: the VM may grow its stack during the call) */
  sq_pushobject(v, sc->fnClass);
  if (SQ_FAILED(sq_createinstance(v, -1))) {
    sq_poptop(v);
    return calogFail(err, CALOG_ERR_INTERNAL, "cannot create a function holder");
  }
  calogFnRetain(fn);
  sq_setinstanceup(v, -1, fn);
  sq_setreleasehook(v, -1, holderRelease);
  sq_remove(v, -2);                   /* the class */
  sq_newclosure(v, fnTrampoline, 1); /* takes the holder as its free variable */
  sq_setnativeclosurename(v, -1, "calog.function");
  return CALOG_OK;
}

static int32_t egress(SqCtxT *sc, HSQUIRRELVM v, const CalogValueT *val, int depth, CalogValueT *err) {
  if (!calog__sqReserveOk(v, 4)) return stackFail(err);
  switch (val->type) {
  case CALOG_NIL: sq_pushnull(v); return CALOG_OK;
  case CALOG_BOOL: sq_pushbool(v, val->as.b ? SQTrue : SQFalse); return CALOG_OK;
  case CALOG_INT: sq_pushinteger(v, (SQInteger)val->as.i); return CALOG_OK;
  case CALOG_REAL: sq_pushfloat(v, (SQFloat)val->as.r); return CALOG_OK;
  case CALOG_STRING: sq_pushstring(v, val->as.s.bytes, (SQInteger)val->as.s.length); return CALOG_OK;
  case CALOG_FN: return pushFn(sc, v, val->as.fn, err);
  case CALOG_AGGREGATE: {
    if (depth >= CALOG_MAX_DEPTH)
      return calogFail(err, CALOG_ERR_DEPTH, "value nesting exceeds the depth cap (%d)", CALOG_MAX_DEPTH);
    const CalogAggT *a = val->as.agg;
    SQInteger top = sq_gettop(v);
    int32_t st;
    if (a->pairCount == 0 && a->kind != CALOG_AGG_MAP) { /* LIST -> array */
      sq_newarray(v, 0);
      SQInteger t = sq_gettop(v);
      for (int64_t i = 0; i < a->arrayCount; i++) {
        if ((st = egress(sc, v, &a->array[i], depth + 1, err)) != CALOG_OK) goto fail;
        sq_arrayappend(v, t);
      }
      return CALOG_OK;
    }
    /* MAP / BOTH -> table (array part at 1..n) */
    sq_newtableex(v, (SQInteger)(a->arrayCount + a->pairCount));
    SQInteger t = sq_gettop(v);
    for (int64_t i = 0; i < a->arrayCount; i++) {
      sq_pushinteger(v, (SQInteger)(i + 1));
      if ((st = egress(sc, v, &a->array[i], depth + 1, err)) != CALOG_OK) goto fail;
      sq_rawset(v, t);
    }
    for (int64_t i = 0; i < a->pairCount; i++) {
      const CalogValueT *k = &a->pairs[i].key;
      if (k->type == CALOG_REAL && isnan(k->as.r)) {
        if (lenient(sc)) continue;
        st = calogFail(err, CALOG_ERR_TYPE, "NaN cannot be a Squirrel table key");
        goto fail;
      }
      if ((st = egress(sc, v, k, depth + 1, err)) != CALOG_OK) goto fail;
      if ((st = egress(sc, v, &a->pairs[i].value, depth + 1, err)) != CALOG_OK) goto fail;
      if (SQ_FAILED(sq_rawset(v, t))) {
        sq_reseterror(v);
        st = calogFail(err, CALOG_ERR_TYPE, "invalid Squirrel table key");
        goto fail;
      }
    }
    return CALOG_OK;
  fail:
    sq_settop(v, top);
    return st;
  }
  }
  return calogFail(err, CALOG_ERR_TYPE, "unknown value type");
}

int32_t calog__sqPush(SqCtxT *sc, HSQUIRRELVM v, const CalogValueT *val, CalogValueT *err) {
  return egress(sc, v, val, 0, err);
}

/* ---- calling out of Squirrel: natives and foreign function values --------------------------------- */
SQInteger calog__sqRaise(HSQUIRRELVM v, CalogRaiseT mark) {
  SqCtxT *sc = calog__sqCtx(v);
  HSQOBJECT o;
  sq_getstackobj(v, -1, &o);
  sc->raise.set = mark.status || mark.host;
  sc->raise.type = o._type;
  sc->raise.raw = o._unVal.raw;
  sc->raise.mark = mark;
  return sq_throwobject(v);
}

CalogRaiseT calog__sqRaisedMark(HSQUIRRELVM v) {
  SqCtxT *sc = calog__sqCtx(v);
  CalogRaiseT none = {0, 0};
  HSQOBJECT o;
  sq_getstackobj(v, -1, &o);
  bool same = sc->raise.set && o._type == sc->raise.type && o._unVal.raw == sc->raise.raw;
  sc->raise.set = false;
  return same ? sc->raise.mark : none;
}

/* The hook of patch 80: a script's try/catch caught the error being raised (whatever it was). */
void calog__sqCaught(HSQUIRRELVM v) { calog__sqCtx(v)->raise.set = false; }

/* Raises the error in result: the value the failing script threw when it has one that is not text (a table
 * thrown in another engine arrives as a table), else the message as-is (binary-safe); catchable by try/catch. */
static SQInteger throwResult(HSQUIRRELVM v, CalogValueT *result) {
  SqCtxT *sc = calog__sqCtx(v);
  CalogRaiseT mark = calog__errorRaiseOf(result);
  const CalogValueT *thrown = calogErrorValue(result);
  CalogValueT err = calogValueNil();
  if (thrown == NULL || thrown->type == CALOG_STRING || calog__sqPush(sc, v, thrown, &err) != CALOG_OK) {
    int64_t n;
    const char *msg = calogErrorMessage(result, &n);
    sq_pushstring(v, msg, (SQInteger)n); /* natives always have MIN_STACK_OVERHEAD free slots */
  }
  calogValueFree(&err);
  calogValueFree(result);
  return calog__sqRaise(v, mark);
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
  int32_t got = 0;
  if (recv) { /* this.id, read without metamethods */
    args[got] = calogValueNil();
    sq_pushstring(v, "id", 2);
    if (SQ_FAILED(sq_rawget(v, 1))) {
      sq_reseterror(v);
      sq_pushnull(v);
    }
    st = calog__sqToValue(sc, v, sq_gettop(v), &args[got], &result);
    sq_poptop(v);
    if (st == CALOG_OK) got++;
  }
  for (; st == CALOG_OK && got < argc; got++) {
    args[got] = calogValueNil();
    if ((st = calog__sqToValue(sc, v, first + got - (recv ? 1 : 0), &args[got], &result)) != CALOG_OK) break;
  }
  if (st == CALOG_OK) st = call(target, args, argc, &result);
  for (int32_t i = 0; i < got; i++) calogValueFree(&args[i]);
  if (args != stackArgs) free(args);
  if (st != CALOG_OK && call == callFnIo) return throwIo(v, st, &result);
  if (st != CALOG_OK) return throwResult(v, &result);
  CalogValueT err = calogValueNil();
  st = calog__sqPush(sc, v, &result, &err);
  calogValueFree(&result);
  if (st != CALOG_OK) return throwResult(v, &err);
  return 1;
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

/* stack: [this, args..., free variable]; index 1 (this) is not an argument */
static SQInteger nativeTrampoline(HSQUIRRELVM v) {
  SQInteger top = sq_gettop(v);
  SQUserPointer entry = NULL;
  if (SQ_FAILED(sq_getuserpointer(v, top, &entry)) || entry == NULL) return sq_throwerror(v, "invalid calog native");
  return callOut(v, 2, top - 1, callNative, entry);
}

static SQInteger fnTrampoline(HSQUIRRELVM v) {
  SQInteger top = sq_gettop(v);
  SQUserPointer fn = NULL;
  if (SQ_FAILED(sq_getinstanceup(v, top, &fn, NULL)) || fn == NULL)
    return sq_throwerror(v, "invalid calog function value");
  if (!calog__ioIsNative(fn)) return callOut(v, 2, top - 1, callFn, fn);
  return callOut(v, calog__ioIsMethod(fn) ? 0 : 2, top - 1, callFnIo, fn); /* methods: conn.send(x) */
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
    const char *fname = si.funcname ? si.funcname : "?";
    if (si.line < 0) traceAppend(sc, "\n\t[native]: in function '%s'", fname);
    else traceAppend(sc, "\n\t%s:%lld: in function '%s'", si.source ? si.source : "?", (long long)si.line, fname);
  }
  if (more) traceAppend(sc, "\n\t(%lld more frames)", (long long)more);
  if (sc->trace == NULL) sc->traceSet = false;
  return 0;
}

/* ---- Squirrel closures as function values ---------------------------------------------------------- */
int32_t calog__sqFnInvoke(CalogValueT *args, int32_t argc, CalogValueT *result, void *userData) {
  SqFnRefT *ref = userData;
  return calog__sqRun(ref->sc, SQ_RUN_REF, NULL, NULL, 0, &ref->obj, args, argc, result);
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
