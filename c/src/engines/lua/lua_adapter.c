/* lua_adapter.c -- Lua 5.4 <-> CalogValueT (design sec 4): marshalling both ways, the native trampoline,
 * Lua closures as function values (luaL_ref) and function values as callable userdata (__call/__gc).
 *
 * Rules kept throughout: absolute stack indices; raw get/set (no metamethods run while marshalling);
 * every recursive path checks CALOG_MAX_DEPTH and lua_checkstack; ingress never raises (it returns a
 * status), so no C allocation is ever skipped by a longjmp. */
#include "lua_adapter.h"

#include "../../io/io.h"

#include <inttypes.h>
#include <math.h>

#define FN_META "calog.function"

LuaCtxT *calog__luaCtx(lua_State *L) { return *(LuaCtxT **)lua_getextraspace(L); }

/* ---- ingress: Lua -> CalogValueT ----------------------------------------------------------------- */
typedef struct IngressT {
  lua_State *L;
  LuaCtxT *lc;
  const void *ancestors[CALOG_MAX_DEPTH + 1];
  CalogValueT *err;
} IngressT;

static int32_t ingress(IngressT *in, int idx, CalogValueT *out, int depth);

static bool lenient(LuaCtxT *lc) { return lc->ctx->rt->policy == CALOG_POLICY_LENIENT; }

static int32_t ingressKey(IngressT *in, int idx, CalogValueT *out, bool *skip) {
  lua_State *L = in->L;
  *skip = false;
  switch (lua_type(L, idx)) {
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    int32_t st = calogValueString(out, s, (int64_t)n);
    return st == CALOG_OK ? st : calogFail(in->err, st, "out of memory");
  }
  case LUA_TNUMBER:
    *out = lua_isinteger(L, idx) ? calogValueInt(lua_tointeger(L, idx)) : calogValueReal(lua_tonumber(L, idx));
    return CALOG_OK;
  case LUA_TBOOLEAN: *out = calogValueBool(lua_toboolean(L, idx)); return CALOG_OK;
  default:
    if (lenient(in->lc)) {
      *skip = true;
      return CALOG_OK;
    }
    return calogFail(in->err, CALOG_ERR_TYPE, "a table key of type %s cannot cross to another engine",
                     luaL_typename(L, idx));
  }
}

static int32_t ingressTable(IngressT *in, int idx, CalogValueT *out, int depth) {
  lua_State *L = in->L;
  if (depth >= CALOG_MAX_DEPTH)
    return calogFail(in->err, CALOG_ERR_DEPTH, "table nesting exceeds the depth cap (%d)", CALOG_MAX_DEPTH);
  const void *self = lua_topointer(L, idx);
  for (int i = 0; i < depth; i++)
    if (in->ancestors[i] == self) return calogFail(in->err, CALOG_ERR_CYCLE, "table contains itself (a cycle)");
  in->ancestors[depth] = self;
  if (!lua_checkstack(L, 4)) return calogFail(in->err, CALOG_ERR_OOM, "Lua stack exhausted");

  /* sequence part: 1..k up to the first nil */
  lua_Integer n = (lua_Integer)lua_rawlen(L, idx), k = 0;
  int32_t st = calogValueAgg(out, CALOG_AGG_LIST);
  if (st != CALOG_OK) return calogFail(in->err, st, "out of memory");
  CalogAggT *agg = out->as.agg;
  if (n > 0 && (st = calog__aggReserve(agg, n, 0)) != CALOG_OK) goto oom;
  for (lua_Integer i = 1; i <= n; i++) {
    if (lua_rawgeti(L, idx, i) == LUA_TNIL) {
      lua_pop(L, 1);
      break;
    }
    st = ingress(in, lua_gettop(L), &agg->array[agg->arrayCount], depth + 1);
    lua_pop(L, 1);
    if (st != CALOG_OK) goto fail;
    agg->arrayCount++;
    k = i;
  }
  /* everything else */
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    int vi = lua_gettop(L), ki = vi - 1;
    if (lua_isinteger(L, ki)) {
      lua_Integer key = lua_tointeger(L, ki);
      if (key >= 1 && key <= k) {
        lua_pop(L, 1);
        continue;
      }
    }
    CalogValueT key = calogValueNil(), val = calogValueNil();
    bool skip;
    if ((st = ingressKey(in, ki, &key, &skip)) != CALOG_OK) {
      lua_pop(L, 2);
      goto fail;
    }
    if (!skip) {
      if ((st = ingress(in, vi, &val, depth + 1)) != CALOG_OK) {
        calogValueFree(&key);
        lua_pop(L, 2);
        goto fail;
      }
      if ((st = calogAggSet(agg, &key, &val)) != CALOG_OK) {
        calogValueFree(&key);
        calogValueFree(&val);
        lua_pop(L, 2);
        goto oom;
      }
    }
    lua_pop(L, 1);
  }
  agg->kind = agg->pairCount == 0 ? CALOG_AGG_LIST : agg->arrayCount == 0 ? CALOG_AGG_MAP : CALOG_AGG_BOTH;
  return CALOG_OK;
oom:
  calogFail(in->err, CALOG_ERR_OOM, "out of memory");
fail:
  calogValueFree(out);
  return st;
}

static int32_t ingressFunction(IngressT *in, int idx, CalogValueT *out) {
  lua_State *L = in->L;
  if (in->lc->closing) return calogFail(in->err, CALOG_ERR_DEAD, "a closing Lua context cannot export functions");
  lua_pushvalue(L, idx);
  int r = luaL_ref(L, LUA_REGISTRYINDEX); /* first: it is the only step here that can raise */
  LuaFnRefT *ref = malloc(sizeof *ref);
  CalogFnT *fn = ref ? calog__fnCreateOwned(in->lc->ctx, calog__luaFnInvoke, ref, calog__luaFnRelease) : NULL;
  if (fn == NULL) {
    luaL_unref(L, LUA_REGISTRYINDEX, r);
    free(ref);
    return calogFail(in->err, CALOG_ERR_OOM, "out of memory");
  }
  ref->lc = in->lc;
  ref->ref = r;
  *out = calogValueFn(fn);
  return CALOG_OK;
}

static int32_t ingress(IngressT *in, int idx, CalogValueT *out, int depth) {
  lua_State *L = in->L;
  *out = calogValueNil();
  switch (lua_type(L, idx)) {
  case LUA_TNIL:
  case LUA_TNONE: return CALOG_OK;
  case LUA_TBOOLEAN: *out = calogValueBool(lua_toboolean(L, idx)); return CALOG_OK;
  case LUA_TNUMBER:
    *out = lua_isinteger(L, idx) ? calogValueInt(lua_tointeger(L, idx)) : calogValueReal(lua_tonumber(L, idx));
    return CALOG_OK;
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    int32_t st = calogValueString(out, s, (int64_t)n);
    return st == CALOG_OK ? st : calogFail(in->err, st, "out of memory");
  }
  case LUA_TTABLE: return ingressTable(in, idx, out, depth);
  case LUA_TFUNCTION: return ingressFunction(in, idx, out);
  case LUA_TUSERDATA: {
    CalogFnT **box = luaL_testudata(L, idx, FN_META);
    if (box != NULL && *box != NULL) {
      calogFnRetain(*box);
      *out = calogValueFn(*box);
      return CALOG_OK;
    }
  } /* fall through */
  default:
    if (lenient(in->lc)) return CALOG_OK;
    return calogFail(in->err, CALOG_ERR_TYPE, "a Lua %s cannot cross to another engine", luaL_typename(L, idx));
  }
}

int32_t calog__luaToValue(LuaCtxT *lc, int idx, CalogValueT *out, CalogValueT *err) {
  /* out and err may be the same value: build into a temporary, then publish one or the other */
  CalogValueT tmp, e = calogValueNil();
  IngressT in = {.L = lc->L, .lc = lc, .err = &e};
  int32_t st = ingress(&in, lua_absindex(lc->L, idx), &tmp, 0);
  if (st == CALOG_OK) {
    calogValueFree(out);
    *out = tmp;
  } else {
    calogValueFree(err);
    *err = e;
  }
  return st;
}

/* ---- egress: CalogValueT -> Lua (may raise on Lua OOM: callers run it protected) ----------------- */
static void pushFn(lua_State *L, LuaCtxT *lc, CalogFnT *fn) {
  if (fn->fn == calog__luaFnInvoke && fn->owner == lc->ctx && atomic_load(&fn->alive)) {
    /* our own closure coming home: the original Lua function, not a wrapper */
    lua_rawgeti(L, LUA_REGISTRYINDEX, ((LuaFnRefT *)fn->userData)->ref);
    return;
  }
  CalogFnT **box = lua_newuserdatauv(L, sizeof *box, 0);
  *box = NULL;
  luaL_setmetatable(L, FN_META);
  calogFnRetain(fn);
  *box = fn;
}

/* Pushes onto L: the calling thread, which is a coroutine when a native is called inside one. */
static int32_t egress(lua_State *L, LuaCtxT *lc, const CalogValueT *v, int depth, CalogValueT *err) {
  if (!lua_checkstack(L, 3)) return calogFail(err, CALOG_ERR_OOM, "Lua stack exhausted");
  switch (v->type) {
  case CALOG_NIL: lua_pushnil(L); return CALOG_OK;
  case CALOG_BOOL: lua_pushboolean(L, v->as.b); return CALOG_OK;
  case CALOG_INT: lua_pushinteger(L, v->as.i); return CALOG_OK;
  case CALOG_REAL: lua_pushnumber(L, v->as.r); return CALOG_OK;
  case CALOG_STRING: lua_pushlstring(L, v->as.s.bytes, (size_t)v->as.s.length); return CALOG_OK;
  case CALOG_FN: pushFn(L, lc, v->as.fn); return CALOG_OK;
  case CALOG_AGGREGATE: {
    if (depth >= CALOG_MAX_DEPTH)
      return calogFail(err, CALOG_ERR_DEPTH, "value nesting exceeds the depth cap (%d)", CALOG_MAX_DEPTH);
    const CalogAggT *a = v->as.agg;
    int top = lua_gettop(L);
    lua_createtable(L, a->arrayCount > INT32_MAX ? INT32_MAX : (int)a->arrayCount,
                    a->pairCount > INT32_MAX ? INT32_MAX : (int)a->pairCount);
    int t = lua_gettop(L);
    int32_t st;
    /* a Lua table cannot hold nil: a nil item or pair value would vanish (a hole, a shorter list, a lost
     * key). Strict refuses; lenient drops it (documented). */
    for (int64_t i = 0; i < a->arrayCount; i++) {
      if (a->array[i].type == CALOG_NIL && !lenient(lc)) {
        st = calogFail(err, CALOG_ERR_TYPE, "a Lua table cannot hold nil: item %" PRId64 " of a list would be lost", i + 1);
        goto fail;
      }
      if ((st = egress(L, lc, &a->array[i], depth + 1, err)) != CALOG_OK) goto fail;
      lua_rawseti(L, t, (lua_Integer)(i + 1));
    }
    for (int64_t i = 0; i < a->pairCount; i++) {
      const CalogValueT *k = &a->pairs[i].key;
      if (a->pairs[i].value.type == CALOG_NIL) {
        if (lenient(lc)) continue;
        st = calogFail(err, CALOG_ERR_TYPE, "a Lua table cannot hold nil: a key whose value is nil would be lost");
        goto fail;
      }
      if (k->type == CALOG_REAL && isnan(k->as.r)) {
        if (lenient(lc)) continue;
        st = calogFail(err, CALOG_ERR_TYPE, "NaN cannot be a Lua table key");
        goto fail;
      }
      /* Lua stores an integral float key as an integer key: beyond 2^53 it would come back as another type
       * (a bigint in TypeScript). Strict refuses; lenient lets Lua convert it (documented). */
      if (k->type == CALOG_REAL && !lenient(lc) && fabs(k->as.r) >= 9007199254740992.0 &&
          k->as.r >= -9223372036854775808.0 && k->as.r < 9223372036854775808.0 && floor(k->as.r) == k->as.r) {
        st = calogFail(err, CALOG_ERR_TYPE, "the float key %.17g would become an integer key in Lua (beyond 2^53 it comes back as another type)", k->as.r);
        goto fail;
      }
      if ((st = egress(L, lc, k, depth + 1, err)) != CALOG_OK) goto fail;
      if ((st = egress(L, lc, &a->pairs[i].value, depth + 1, err)) != CALOG_OK) goto fail;
      lua_rawset(L, t);
    }
    return CALOG_OK;
  fail:
    lua_settop(L, top);
    return st;
  }
  }
  return calogFail(err, CALOG_ERR_TYPE, "unknown value type");
}

int32_t calog__luaPush(lua_State *L, LuaCtxT *lc, const CalogValueT *v, CalogValueT *err) {
  return egress(L, lc, v, 0, err);
}

/* ---- the pending stack -------------------------------------------------------------------------- */
/* Takes v; returns its index, or -1 on OOM (v is freed). */
static int32_t pendPush(LuaCtxT *lc, CalogValueT *v) {
  if (lc->pendCount == lc->pendCap) {
    int32_t cap = lc->pendCap ? lc->pendCap * 2 : 16;
    CalogValueT *p = realloc(lc->pend, (size_t)cap * sizeof *p);
    if (p == NULL) {
      calogValueFree(v);
      return -1;
    }
    lc->pend = p;
    lc->pendCap = cap;
  }
  calogValueMove(&lc->pend[lc->pendCount], v);
  return lc->pendCount++;
}

void calog__luaPendTruncate(LuaCtxT *lc, int32_t mark) {
  while (lc->pendCount > mark) calogValueFree(&lc->pend[--lc->pendCount]);
}

/* ---- calling out of Lua: natives and foreign function values ------------------------------------- */
/* The registry key under which the last marked raise's value is kept (so its address stays its own). */
static const char raiseAnchor = 0;

int calog__luaRaise(lua_State *L, CalogRaiseT mark) {
  LuaCtxT *lc = calog__luaCtx(L);
  lua_Debug ar;
  lc->raise.L = NULL;
  if ((mark.status || mark.host) && lua_getstack(L, 0, &ar) && lua_checkstack(L, 2) && lua_getinfo(L, "f", &ar)) {
    lc->raise.fn = lua_topointer(L, -1);
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &raiseAnchor); /* the key exists (calog__luaOpenFnMeta): no allocation */
    lc->raise.L = L;
    lc->raise.ci = ar.i_ci;
    lc->raise.value = lua_topointer(L, -1);
    lc->raise.mark = mark;
  }
  return lua_error(L);
}

/* Raises the error in result: the value the failing script threw when it has one that is not text (a table
 * thrown in another engine arrives as a table), else the message as-is (the traceback tells where). */
static int raiseResult(lua_State *L, LuaCtxT *lc, int32_t mark, CalogValueT *result) {
  int32_t i = pendPush(lc, result);
  if (i < 0) {
    calog__luaPendTruncate(lc, mark);
    return luaL_error(L, "out of memory");
  }
  CalogRaiseT marks = calog__errorRaiseOf(&lc->pend[i]);
  const CalogValueT *thrown = calogErrorValue(&lc->pend[i]);
  if (thrown != NULL && thrown->type != CALOG_STRING) {
    /* a shallow copy: the pending node keeps it alive, and may move while the push lets finalizers run */
    CalogValueT v = *thrown, err = calogValueNil();
    int32_t st = egress(L, lc, &v, 0, &err);
    calogValueFree(&err);
    if (st == CALOG_OK) {
      calog__luaPendTruncate(lc, mark);
      return calog__luaRaise(L, marks);
    }
  }
  int64_t n;
  const char *msg = calogErrorMessage(&lc->pend[i], &n);
  lua_pushlstring(L, msg, (size_t)n); /* may raise: the protected entry truncates the stack then */
  calog__luaPendTruncate(lc, mark);
  return calog__luaRaise(L, marks);
}

typedef int32_t (*CallOutFnT)(void *target, CalogValueT *args, int32_t argc, CalogValueT *result);
static int32_t callFnIo(void *target, CalogValueT *args, int32_t argc, CalogValueT *result);

/* The I/O layer's natives: an I/O failure returns nil, message[, partial] (LuaSocket style); a denial or a
 * blocking call on the host thread raises with its own status. */
static int ioFailed(lua_State *L, LuaCtxT *lc, int32_t mark, int32_t st, CalogValueT *result) {
  if (st == CALOG_ERR_PERMISSION || st == CALOG_ERR_UNSUPPORTED) calog__errorMark(result, (CalogRaiseT){.status = st});
  if (st != CALOG_ERR_SCRIPT) return raiseResult(L, lc, mark, result);
  int32_t i = pendPush(lc, result);
  if (i < 0) {
    calog__luaPendTruncate(lc, mark);
    return luaL_error(L, "out of memory");
  }
  int64_t n;
  const char *msg = calogErrorMessage(&lc->pend[i], &n);
  const CalogValueT *partial = calog__ioPartial(&lc->pend[i]);
  lua_pushnil(L);
  lua_pushlstring(L, msg, (size_t)n);
  int nret = 2;
  if (partial) {
    CalogValueT copy = *partial, err = calogValueNil();
    if (egress(L, lc, &copy, 0, &err) == CALOG_OK) nret = 3;
    calogValueFree(&err);
  }
  calog__luaPendTruncate(lc, mark);
  return nret;
}

static int callOut(lua_State *L, int first, CallOutFnT call, void *target, int32_t mark) {
  LuaCtxT *lc = calog__luaCtx(L);
  int top = lua_gettop(L);
  int argc = top - first + 1;
  if (argc < 0) argc = 0;
  CalogValueT stackArgs[8];
  CalogValueT *args = stackArgs;
  CalogValueT result = calogValueNil();
  if (argc > 8 && (args = malloc((size_t)argc * sizeof *args)) == NULL) {
    calog__luaPendTruncate(lc, mark);
    return luaL_error(L, "out of memory");
  }
  int32_t st = CALOG_OK;
  int got = 0;
  for (; got < argc; got++) {
    IngressT in = {.L = L, .lc = lc, .err = &result};
    if ((st = ingress(&in, first + got, &args[got], 0)) != CALOG_OK) break;
  }
  if (st == CALOG_OK) st = call(target, args, argc, &result);
  for (int i = 0; i < got; i++) calogValueFree(&args[i]);
  if (args != stackArgs) free(args);
  if (st != CALOG_OK && call == callFnIo) return ioFailed(L, lc, mark, st, &result);
  if (st != CALOG_OK) return raiseResult(L, lc, mark, &result);
  int32_t i = pendPush(lc, &result);
  if (i < 0) {
    calog__luaPendTruncate(lc, mark);
    return luaL_error(L, "out of memory");
  }
  /* a shallow copy: finalizers run by the GC while we push may grow (move) the pending stack */
  CalogValueT top1 = lc->pend[i];
  CalogValueT err = calogValueNil();
  st = egress(L, lc, &top1, 0, &err);
  calog__luaPendTruncate(lc, mark);
  if (st != CALOG_OK) return raiseResult(L, lc, mark, &err);
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

static int nativeTrampoline(lua_State *L) {
  return callOut(L, 1, callNative, lua_touserdata(L, lua_upvalueindex(1)), calog__luaCtx(L)->pendCount);
}

static int fnCall(lua_State *L) { /* __call(self, ...) */
  CalogFnT **box = luaL_checkudata(L, 1, FN_META);
  if (*box == NULL) return luaL_error(L, "function value was released");
  LuaCtxT *lc = calog__luaCtx(L);
  int32_t mark = lc->pendCount;
  /* the call holds its own reference (on the pending stack, so a raise cannot leak it) */
  CalogFnT *fn = *box;
  calogFnRetain(fn);
  CalogValueT hold = calogValueFn(fn);
  if (pendPush(lc, &hold) < 0) return luaL_error(L, "out of memory");
  if (!calog__ioIsNative(fn)) return callOut(L, 2, callFn, fn, mark);
  /* an I/O method called on its handle (conn:send(...)): the handle's id is all it needs of self */
  if (calog__ioIsMethod(fn) && lua_type(L, 2) == LUA_TTABLE) {
    lua_pushliteral(L, "id");
    lua_rawget(L, 2);
    lua_replace(L, 2);
  }
  return callOut(L, 2, callFnIo, fn, mark);
}

static int fnGc(lua_State *L) {
  CalogFnT **box = luaL_checkudata(L, 1, FN_META);
  CalogFnT *fn = *box;
  *box = NULL;
  calogFnRelease(fn);
  return 0;
}

static int fnToString(lua_State *L) {
  lua_pushfstring(L, "calog function: %p", lua_touserdata(L, 1));
  return 1;
}

void calog__luaOpenFnMeta(lua_State *L) {
  lua_pushboolean(L, 0);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &raiseAnchor);
  luaL_newmetatable(L, FN_META);
  lua_pushcfunction(L, fnCall);
  lua_setfield(L, -2, "__call");
  lua_pushcfunction(L, fnGc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, fnToString);
  lua_setfield(L, -2, "__tostring");
  lua_pushliteral(L, FN_META);
  lua_setfield(L, -2, "__name");
  lua_pushliteral(L, "calog function"); /* getmetatable() sees this, not __gc */
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 1);
}

bool calog__luaIsInternalCFunction(lua_CFunction f) { return f == nativeTrampoline; }

void calog__luaOpenIo(lua_State *L) {
  LuaCtxT *lc = calog__luaCtx(L);
  CalogValueT g = calogValueNil();
  int32_t mark = lc->pendCount;
  if (calog__ioGlobals(lc->ctx, &g) != CALOG_OK) {
    calogValueFree(&g);
    luaL_error(L, "out of memory (net and timer)");
    return;
  }
  int32_t i = pendPush(lc, &g); /* a raise while pushing frees it (the protected caller truncates) */
  if (i < 0) luaL_error(L, "out of memory");
  CalogAggT *agg = lc->pend[i].as.agg;
  for (int64_t k = 0; k < calogAggPairCount(agg); k++) {
    CalogValueT err = calogValueNil();
    if (egress(L, lc, calogAggPairValue(agg, k), 0, &err) != CALOG_OK) {
      calogValueFree(&err);
      luaL_error(L, "out of memory (net and timer)");
    }
    lua_setglobal(L, calogAggPairKey(agg, k)->as.s.bytes);
  }
  calog__luaPendTruncate(lc, mark);
}

void calog__luaPushNative(lua_State *L, CalogNativeEntryT *entry) {
  lua_pushlightuserdata(L, entry);
  lua_pushcclosure(L, nativeTrampoline, 1);
}

/* ---- Lua closures as function values --------------------------------------------------------------- */
int32_t calog__luaFnInvoke(CalogValueT *args, int32_t argc, CalogValueT *result, void *userData) {
  LuaFnRefT *ref = userData;
  return calog__luaRun(ref->lc, LUA_RUN_REF, NULL, NULL, 0, ref->ref, args, argc, result);
}

void calog__luaFnRelease(void *userData) {
  LuaFnRefT *ref = userData;
  if (ref->lc->L) luaL_unref(ref->lc->L, LUA_REGISTRYINDEX, ref->ref);
  free(ref);
}
