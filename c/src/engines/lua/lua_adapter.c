/* lua_adapter.c -- Lua 5.4 <-> CalogValueT (design sec 4): marshalling both ways, the native trampoline,
 * Lua closures as function values (luaL_ref) and function values as callable userdata (__call/__gc).
 *
 * Rules kept throughout: absolute stack indices; raw get/set (no metamethods run while marshalling);
 * every recursive path checks CALOG_MAX_DEPTH and lua_checkstack; ingress never raises (it returns a
 * status), so no C allocation is ever skipped by a longjmp. */
#include "lua_adapter.h"

#include "../../wire.h"

#include "../../io/io.h"

#include <inttypes.h>
#include <math.h>

#define FN_META "calog.function"

LuaCtxT *calog__luaCtx(lua_State *L) { return *(LuaCtxT **)lua_getextraspace(L); }

/* ---- ingress: Lua -> a sink (CalogValueT, or the wire straight into OUT) ------------------------- */
typedef struct IngressT {
  lua_State *L;
  LuaCtxT *lc;
  CalogSinkT *sink;
  CalogValueT *err;
  const void *ancestors[CALOG_MAX_DEPTH + 1]; /* written before read: never initialised (no memset) */
} IngressT;

static int32_t ingress(IngressT *in, int idx, int depth);
static int fnClosure(lua_State *L);
/* The box a function value lives in (FN_META userdata). fn first: readers take the box as a CalogFnT **. */
typedef struct FnBoxT {
  CalogFnT *fn;
  bool finalizedOnce;
} FnBoxT;

static bool lenient(LuaCtxT *lc) { return lc->ctx->rt->policy == CALOG_POLICY_LENIENT; }

static int32_t put(IngressT *in, int32_t st) { return st == CALOG_OK ? st : calog__sinkFail(in->sink, st, in->err); }

/* A scalar at idx (nil, boolean, number, string); false for any other type. */
static bool putScalar(IngressT *in, int idx, int32_t *st) {
  lua_State *L = in->L;
  switch (lua_type(L, idx)) {
  case LUA_TNIL:
  case LUA_TNONE: *st = put(in, calog__sinkScalar(in->sink, CALOG_NIL, 0, 0)); return true;
  case LUA_TBOOLEAN: *st = put(in, calog__sinkScalar(in->sink, CALOG_BOOL, lua_toboolean(L, idx), 0)); return true;
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx)) *st = put(in, calog__sinkScalar(in->sink, CALOG_INT, lua_tointeger(L, idx), 0));
    else *st = put(in, calog__sinkScalar(in->sink, CALOG_REAL, 0, lua_tonumber(L, idx)));
    return true;
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    *st = put(in, calog__sinkString(in->sink, s, (int64_t)n));
    return true;
  }
  default: return false;
  }
}

static int32_t ingressKey(IngressT *in, int idx, bool *skip) {
  lua_State *L = in->L;
  int32_t st;
  *skip = false;
  if (lua_type(L, idx) != LUA_TNIL && putScalar(in, idx, &st)) return st; /* a key is never nil */
  if (lenient(in->lc)) {
    *skip = true;
    return CALOG_OK;
  }
  return calogFail(in->err, CALOG_ERR_TYPE, "a table key of type %s cannot cross to another engine",
                   luaL_typename(L, idx));
}

static int32_t ingressTable(IngressT *in, int idx, int depth) {
  lua_State *L = in->L;
  if (depth >= CALOG_MAX_DEPTH)
    return calogFail(in->err, CALOG_ERR_DEPTH, "table nesting exceeds the depth cap (%d)", CALOG_MAX_DEPTH);
  const void *self = lua_topointer(L, idx);
  for (int i = 0; i < depth; i++)
    if (in->ancestors[i] == self) return calogFail(in->err, CALOG_ERR_CYCLE, "table contains itself (a cycle)");
  in->ancestors[depth] = self;
  if (!lua_checkstack(L, 4)) return calogFail(in->err, CALOG_ERR_OOM, "Lua stack exhausted");

  /* A table that entered Lua as a map of integer keys (or an empty one) goes out as a map though it looks like a
   * sequence: Squirrel's { [1] = "a", [2] = "b" } came back an array from 0, a TypeScript Map an Array (pass 41a).
   * Looked up only once some table was marked (the set is weak: a table the script dropped leaves it), and only for a
   * table with a sequence or none at all: any other goes out as a map anyway. */
  bool asMap = false;
  lua_Integer len = (lua_Integer)lua_rawlen(L, idx);
  bool lookUp = in->lc->mapMarks > 0 && len > 0;
  if (in->lc->mapMarks > 0 && !lookUp) {
    lua_pushnil(L);
    if (lua_next(L, idx) == 0) lookUp = true; /* empty */
    else lua_pop(L, 2);
  }
  if (lookUp) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &calog__luaMapKinds);
    lua_pushvalue(L, idx);
    asMap = lua_rawget(L, -2) != LUA_TNIL;
    lua_pop(L, 2);
  }
  /* sequence part: 1..k up to the first nil (none for a map: its integer keys are pairs) */
  lua_Integer n = asMap ? 0 : len, k = 0;
  int32_t st = put(in, calog__sinkAggBegin(in->sink, n, 0));
  if (st != CALOG_OK) return st;
  for (lua_Integer i = 1; i <= n; i++) {
    if (lua_rawgeti(L, idx, i) == LUA_TNIL) {
      lua_pop(L, 1);
      break;
    }
    st = ingress(in, lua_gettop(L), depth + 1);
    lua_pop(L, 1);
    if (st != CALOG_OK) return st;
    k = i;
  }
  /* everything else */
  calog__sinkAggPairs(in->sink);
  int64_t pairs = 0;
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
    bool skip;
    if ((st = ingressKey(in, ki, &skip)) == CALOG_OK && !skip) {
      st = ingress(in, vi, depth + 1);
      pairs++;
    }
    if (st != CALOG_OK) {
      lua_pop(L, 2);
      return st;
    }
    lua_pop(L, 1);
  }
  return put(in, calog__sinkAggEnd(in->sink, pairs == 0 && !asMap ? CALOG_AGG_LIST : k == 0 ? CALOG_AGG_MAP : CALOG_AGG_BOTH));
}

/* luaL_ref of the value on top, protected: growing the registry can raise a memory error */
static int refTop(lua_State *L) {
  lua_pushinteger(L, luaL_ref(L, LUA_REGISTRYINDEX));
  return 1;
}

static int32_t ingressFunction(IngressT *in, int idx) {
  lua_State *L = in->L;
  if (in->lc->closing) return calogFail(in->err, CALOG_ERR_DEAD, "a closing Lua context cannot export functions");
  /* never raised: a raise here would skip the caller's cleanup of what it already read (function values,
   * wire handles) */
  if (!lua_checkstack(L, 2)) return calogFail(in->err, CALOG_ERR_OOM, "Lua stack exhausted");
  lua_pushcfunction(L, refTop);
  lua_pushvalue(L, idx);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    lua_pop(L, 1);
    return calogFail(in->err, CALOG_ERR_OOM, "out of memory");
  }
  int r = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  LuaFnRefT *ref = malloc(sizeof *ref);
  CalogFnT *fn = ref ? calog__fnCreateOwned(in->lc->ctx, calog__luaFnInvoke, ref, calog__luaFnRelease) : NULL;
  if (fn == NULL) {
    luaL_unref(L, LUA_REGISTRYINDEX, r);
    free(ref);
    return calogFail(in->err, CALOG_ERR_OOM, "out of memory");
  }
  ref->lc = in->lc;
  ref->ref = r;
  return put(in, calog__sinkFn(in->sink, fn));
}

static int32_t ingress(IngressT *in, int idx, int depth) {
  lua_State *L = in->L;
  int32_t st;
  if (putScalar(in, idx, &st)) return st;
  switch (lua_type(L, idx)) {
  case LUA_TTABLE: return ingressTable(in, idx, depth);
  case LUA_TFUNCTION:
    if (lua_tocfunction(L, idx) == fnClosure && lua_checkstack(L, 1)) { /* a function value going out: itself */
      lua_getupvalue(L, idx, 1);
      CalogFnT **box = luaL_testudata(L, -1, FN_META);
      CalogFnT *fn = box != NULL ? *box : NULL;
      lua_pop(L, 1);
      if (fn != NULL) {
        calogFnRetain(fn);
        return put(in, calog__sinkFn(in->sink, fn));
      }
    }
    return ingressFunction(in, idx);
  case LUA_TUSERDATA: {
    CalogFnT **box = luaL_testudata(L, idx, FN_META);
    if (box != NULL && *box != NULL) {
      calogFnRetain(*box);
      return put(in, calog__sinkFn(in->sink, *box));
    }
  } /* fall through */
  default:
    if (lenient(in->lc)) return put(in, calog__sinkScalar(in->sink, CALOG_NIL, 0, 0));
    return calogFail(in->err, CALOG_ERR_TYPE, "a Lua %s cannot cross to another engine", luaL_typename(L, idx));
  }
}

int32_t calog__luaRead(LuaCtxT *lc, lua_State *L, int idx, CalogSinkT *sink, CalogValueT *err) {
  IngressT in;
  in.L = L;
  in.lc = lc;
  in.sink = sink;
  in.err = err;
  return ingress(&in, lua_absindex(L, idx), 0);
}

int32_t calog__luaToValue(LuaCtxT *lc, int idx, CalogValueT *out, CalogValueT *err) {
  /* out and err may be the same value: build into a temporary, then publish one or the other */
  CalogValueT tmp, e = calogValueNil();
  CalogSinkT sink;
  calog__sinkValues(&sink, &tmp, 1);
  int32_t st = calog__luaRead(lc, lc->L, idx, &sink, &e);
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

/* ---- egress: a source (CalogValueT, or the wire straight from IN) -> Lua --------------------------
 * May raise on Lua OOM: callers run it protected, or hold what a raise must not leak in the pending stack. */
static int32_t pendPush(LuaCtxT *lc, CalogValueT *v);

static int32_t pushFn(lua_State *L, LuaCtxT *lc, CalogItemT *it, CalogValueT *err) {
  CalogFnT *fn = it->as.fn;
  if (it->owned) { /* the item's reference: held where a raise below cannot leak it */
    CalogValueT hold = calogValueFn(fn);
    it->owned = false;
    if (pendPush(lc, &hold) < 0) return calogFail(err, CALOG_ERR_OOM, "out of memory");
  }
  if (fn->fn == calog__luaFnInvoke && fn->owner == lc->ctx && atomic_load(&fn->alive)) {
    /* our own closure coming home: the original Lua function, not a wrapper */
    lua_rawgeti(L, LUA_REGISTRYINDEX, ((LuaFnRefT *)fn->userData)->ref);
    return CALOG_OK;
  }
  /* the reference first (every reader takes the box as a CalogFnT **), then whether its finalizer ran once (fnGc) */
  FnBoxT *fb = lua_newuserdatauv(L, sizeof *fb, 0);
  fb->fn = NULL;
  fb->finalizedOnce = false;
  CalogFnT **box = &fb->fn;
  luaL_setmetatable(L, FN_META);
  calogFnRetain(fn);
  *box = fn;
  lua_pushcclosure(L, fnClosure, 1); /* a Lua function whose upvalue is the box (see fnClosure) */
  return CALOG_OK;
}

static int32_t egressItem(lua_State *L, LuaCtxT *lc, CalogSrcT *s, CalogItemT *it, int depth, CalogValueT *err);

/* A table from an aggregate's item; its contents follow in s. */
static int32_t egressTable(lua_State *L, LuaCtxT *lc, CalogSrcT *s, CalogItemT *it, int depth, CalogValueT *err) {
  if (depth >= CALOG_MAX_DEPTH)
    return calogFail(err, CALOG_ERR_DEPTH, "value nesting exceeds the depth cap (%d)", CALOG_MAX_DEPTH);
  if (!lua_checkstack(L, 4)) return calogFail(err, CALOG_ERR_OOM, "Lua stack exhausted"); /* t, key, value, a metatable */
  int64_t na = it->as.agg.na, np = it->as.agg.np;
  int top = lua_gettop(L);
  lua_createtable(L, na > INT32_MAX ? INT32_MAX : (int)na, np > INT32_MAX ? INT32_MAX : (int)np);
  int t = lua_gettop(L);
  int32_t st;
  bool mayCollide = false, intKeys = true;
  CalogItemT c, key;
  /* a Lua table cannot hold nil: a nil item or pair value would vanish (a hole, a shorter list, a lost
   * key). Strict refuses; lenient drops it (documented). */
  for (int64_t i = 0; i < na; i++) {
    if ((st = calog__srcNext(s, &c, err)) != CALOG_OK) goto fail;
    if (c.type == CALOG_NIL) {
      if (lenient(lc)) continue;
      st = calogFail(err, CALOG_ERR_TYPE, "a Lua table cannot hold nil: item %" PRId64 " of a list would be lost", i + 1);
      goto fail;
    }
    if ((st = egressItem(L, lc, s, &c, depth + 1, err)) != CALOG_OK) goto fail;
    lua_rawseti(L, t, (lua_Integer)(i + 1));
  }
  for (int64_t i = 0; i < np; i++) {
    if ((st = calog__srcNext(s, &key, err)) != CALOG_OK) goto fail;
    if ((st = calog__srcNext(s, &c, err)) != CALOG_OK) {
      calog__srcDrop(s, &key);
      goto fail;
    }
    const char *why = NULL;
    if (c.type == CALOG_NIL && !lenient(lc)) {
      /* named, as the other refusals name what they refuse (in a large value the user bisected for it: pass 60b) */
      if (key.type == CALOG_STRING && key.as.s.length <= 80 && memchr(key.as.s.bytes, 0, (size_t)key.as.s.length) == NULL)
        st = calogFail(err, CALOG_ERR_TYPE, "a Lua table cannot hold nil: the key '%.*s' has the value nil, and the pair would be lost",
                       (int)key.as.s.length, key.as.s.bytes);
      else if (key.type == CALOG_INT)
        st = calogFail(err, CALOG_ERR_TYPE, "a Lua table cannot hold nil: the key %" PRId64 " has the value nil, and the pair would be lost", key.as.i);
      else if (key.type == CALOG_REAL)
        st = calogFail(err, CALOG_ERR_TYPE, "a Lua table cannot hold nil: the key %.17g has the value nil, and the pair would be lost", key.as.r);
      else if (key.type == CALOG_BOOL)
        st = calogFail(err, CALOG_ERR_TYPE, "a Lua table cannot hold nil: the key %s has the value nil, and the pair would be lost", key.as.b ? "true" : "false");
      else
        st = calogFail(err, CALOG_ERR_TYPE, "a Lua table cannot hold nil: a key whose value is nil would be lost");
      calog__srcDrop(s, &key);
      goto fail;
    }
    if (c.type == CALOG_NIL) why = "a Lua table cannot hold nil"; /* lenient: dropped */
    else if (key.type == CALOG_REAL && isnan(key.as.r)) why = "NaN cannot be a Lua table key";
    /* Lua stores an integral float key as an integer key, which comes back as another type: an integer key in
     * Squirrel, where t[3.0] and t[3] are two keys (a lookup by 3.0 then missed, and keys 1.0 and 2.0 came back as an
     * array from 0: pass 40a), a bigint in TypeScript beyond 2^53. Strict refuses; lenient lets Lua convert it
     * (documented). TypeScript sends an integral number as an integer, JavaScript keys are names: a float key with
     * an integral value comes from Squirrel, or a C caller. */
    else if (key.type == CALOG_REAL && !lenient(lc) && key.as.r >= -9223372036854775808.0 &&
             key.as.r < 9223372036854775808.0 && floor(key.as.r) == key.as.r && !(key.as.r == 0.0 && signbit(key.as.r))) {
      calog__srcDrop(s, &key);
      calog__srcDrop(s, &c);
      st = calogFail(err, CALOG_ERR_TYPE, "the float key %.17g would become an integer key in Lua (it would come back as an integer: another type, and in Squirrel another key)", key.as.r);
      goto fail;
    }
    /* and -0.0 the key 0, which comes back as 0: strict refuses it, as on its way to TypeScript */
    else if (key.type == CALOG_REAL && !lenient(lc) && key.as.r == 0.0 && signbit(key.as.r)) {
      calog__srcDrop(s, &key);
      calog__srcDrop(s, &c);
      st = calogFail(err, CALOG_ERR_TYPE, "the key -0.0 would become the key 0 in Lua");
      goto fail;
    }
    if (why != NULL) {
      calog__srcDrop(s, &key);
      calog__srcDrop(s, &c);
      if (lenient(lc)) continue;
      st = calogFail(err, CALOG_ERR_TYPE, "%s", why);
      goto fail;
    }
    if ((st = egressItem(L, lc, s, &key, depth + 1, err)) != CALOG_OK) {
      calog__srcDrop(s, &c);
      goto fail;
    }
    if ((st = egressItem(L, lc, s, &c, depth + 1, err)) != CALOG_OK) goto fail;
    lua_rawset(L, t);
    if (key.type == CALOG_REAL) mayCollide = true;
    if (key.type != CALOG_INT && key.type != CALOG_REAL) intKeys = false; /* lenient makes 1.0 the key 1 */
  }
  /* Lua makes an integral float key an integer key (and -0.0 the key 0): a map from an engine that keeps them
   * apart (Squirrel's { [1] = "a", [1.0] = "b" }, its -0.0 and 0.0) lost one pair here silently. Strict counts
   * what the table holds once a float key went in; lenient keeps the last (as a JS property name does). */
  if (mayCollide && !lenient(lc)) {
    int64_t count = 0;
    lua_pushnil(L);
    while (lua_next(L, t) != 0) {
      count++;
      lua_pop(L, 1);
    }
    if (count != na + np) {
      st = calogFail(err, CALOG_ERR_TYPE, "two keys of a map become the same Lua key (such as 1 and 1.0, or -0.0 and 0.0): one would be lost");
      goto fail;
    }
  }
  /* a map that could read as a sequence on its way out (number keys only, or none): remember its kind */
  if (it->as.agg.kind != CALOG_AGG_LIST && intKeys) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &calog__luaMapKinds);
    lua_pushvalue(L, t);
    lua_pushboolean(L, 1);
    lua_rawset(L, -3); /* may raise on OOM: as the table's own sets may */
    lua_pop(L, 1);
    lc->mapMarks++;
  }
  return CALOG_OK;
fail:
  lua_settop(L, top);
  return st;
}

/* Pushes onto L (the calling thread, which is a coroutine when a native is called inside one) the value
 * whose item was just read from s; the caller made room for one slot. */
static int32_t egressItem(lua_State *L, LuaCtxT *lc, CalogSrcT *s, CalogItemT *it, int depth, CalogValueT *err) {
  switch (it->type) {
  case CALOG_NIL: lua_pushnil(L); return CALOG_OK;
  case CALOG_BOOL: lua_pushboolean(L, it->as.b); return CALOG_OK;
  case CALOG_INT: lua_pushinteger(L, it->as.i); return CALOG_OK;
  case CALOG_REAL: lua_pushnumber(L, it->as.r); return CALOG_OK;
  case CALOG_STRING: lua_pushlstring(L, it->as.s.bytes, (size_t)it->as.s.length); return CALOG_OK;
  case CALOG_FN: return pushFn(L, lc, it, err);
  case CALOG_AGGREGATE: return egressTable(L, lc, s, it, depth, err);
  }
  return calogFail(err, CALOG_ERR_TYPE, "unknown value type");
}

int32_t calog__luaPushFrom(lua_State *L, LuaCtxT *lc, CalogSrcT *s, CalogValueT *err) {
  CalogItemT it;
  int32_t st = calog__srcNext(s, &it, err);
  return st == CALOG_OK ? egressItem(L, lc, s, &it, 0, err) : st;
}

int32_t calog__luaPush(lua_State *L, LuaCtxT *lc, const CalogValueT *v, CalogValueT *err) {
  if (!lua_checkstack(L, 2)) return calogFail(err, CALOG_ERR_OOM, "Lua stack exhausted"); /* a value, a metatable */
  CalogSrcT s;
  calog__srcValues(&s, v, 1);
  return calog__luaPushFrom(L, lc, &s, err);
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
/* The registry key of the ring table of raised values (slots 1..CALOG_LUA_RAISES) and the messages they carry (the
 * next CALOG_LUA_RAISES slots): made full in calog__luaOpenFnMeta, so storing into it never allocates. */
const char calog__luaRaiseRing = 0;
const char calog__luaMapKinds = 0;

/* calog__luaRaise; carried: the message (a string) just below the value goes with it (LuaCtxT.raise) */
static int raiseCarrying(lua_State *L, CalogRaiseT mark, bool carried) {
  LuaCtxT *lc = calog__luaCtx(L);
  lua_Debug ar;
  int32_t i = lc->raiseNext;
  if ((mark.status || mark.host || carried) && lua_getstack(L, 0, &ar) && lua_checkstack(L, 3) && lua_getinfo(L, "f", &ar)) {
    const void *fn = lua_topointer(L, -1);
    lua_pop(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &calog__luaRaiseRing);
    lua_pushvalue(L, -2);
    lua_rawseti(L, -2, i + 1); /* the slot exists: no allocation */
    if (carried) lua_pushvalue(L, -3);
    else lua_pushboolean(L, 0);
    lua_rawseti(L, -2, CALOG_LUA_RAISES + i + 1);
    lua_pop(L, 1);
    lc->raise[i].L = L;
    lc->raise[i].ci = ar.i_ci;
    lc->raise[i].fn = fn;
    lc->raise[i].value = lua_topointer(L, -1);
    lc->raise[i].mark = mark;
    lc->raise[i].carried = carried;
    lc->raiseNext = (i + 1) % CALOG_LUA_RAISES;
  } else if (!mark.status && !mark.host && !carried && lua_getstack(L, 0, &ar)) {
    /* a raise of nothing of calog's from where one was raised before (a function value called again from the same
     * frame, its own error this time): the earlier record no longer says what is raised there, so a short string of
     * the same text is not taken for it (a script's own "boom" got a caught host exception's cause, and
     * coroutine.wrap dropped its position: pass 39a) */
    const void *fn = NULL;
    for (int32_t k = 0; k < CALOG_LUA_RAISES; k++) {
      if (lc->raise[k].L != L || lc->raise[k].ci != ar.i_ci) continue;
      if (fn == NULL) {
        if (!lua_checkstack(L, 1) || !lua_getinfo(L, "f", &ar)) break;
        fn = lua_topointer(L, -1);
        lua_pop(L, 1);
      }
      if (lc->raise[k].fn == fn) lc->raise[k].L = NULL;
    }
  }
  if (carried) lua_remove(L, -2); /* the message: the value is what is raised */
  /* a limit tripped (a host function that interrupted, then threw; the output limit): the budget drops to one
   * step, so the next step raises it again and no C function starts meanwhile (see calog__luaCallC) */
  calog__luaSyncTripped(L);
  return lua_error(L);
}

int calog__luaRaise(lua_State *L, CalogRaiseT mark) { return raiseCarrying(L, mark, false); }

void calog__luaRaiseAgain(lua_State *L, int idx, int32_t from) {
  LuaCtxT *lc = calog__luaCtx(L);
  lua_Debug ar;
  idx = lua_absindex(L, idx);
  if (!lua_getstack(L, 0, &ar) || !lua_checkstack(L, 3) || !lua_getinfo(L, "f", &ar)) return;
  const void *fn = lua_topointer(L, -1);
  lua_pop(L, 1);
  int32_t i = lc->raiseNext;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &calog__luaRaiseRing);
  lua_rawgeti(L, -1, CALOG_LUA_RAISES + from + 1); /* the message it carries (read first: i may be from's slot) */
  lua_rawseti(L, -2, CALOG_LUA_RAISES + i + 1);
  lua_pushvalue(L, idx);
  lua_rawseti(L, -2, i + 1); /* the slots exist: no allocation */
  lua_pop(L, 1);
  lc->raise[i].L = L;
  lc->raise[i].ci = ar.i_ci;
  lc->raise[i].fn = fn;
  lc->raise[i].value = lua_topointer(L, idx);
  lc->raise[i].mark = lc->raise[from].mark;
  lc->raise[i].carried = lc->raise[from].carried;
  lc->raiseNext = (i + 1) % CALOG_LUA_RAISES;
}

/* Raises the error in result: the value the failing script threw when it has one that is not the error's own text
 * (calog__errorRaiseValue: a table thrown in another engine arrives as a table), else the message as-is (the
 * traceback tells where). */
static int raiseResult(lua_State *L, LuaCtxT *lc, int32_t mark, CalogValueT *result) {
  int32_t i = pendPush(lc, result);
  if (i < 0) {
    calog__luaPendTruncate(lc, mark);
    return luaL_error(L, "out of memory");
  }
  CalogRaiseT marks = calog__errorRaiseOf(&lc->pend[i]);
  const CalogValueT *thrown = calog__errorRaiseValue(&lc->pend[i]);
  if (thrown != NULL) {
    /* the message the value had where it was thrown goes with it (pushed first: the value is what is raised) */
    int64_t n;
    const char *msg = calog__errorCarriedMessage(&lc->pend[i], &n);
    if (msg != NULL) lua_pushlstring(L, msg, (size_t)n); /* may raise: the protected entry truncates the stack then */
    /* a shallow copy: the pending node keeps it alive, and may move while the push lets finalizers run */
    CalogValueT v = *thrown, err = calogValueNil();
    int32_t st = calog__luaPush(L, lc, &v, &err);
    if (st == CALOG_OK) {
      calogValueFree(&err);
      calog__luaPendTruncate(lc, mark);
      return raiseCarrying(L, marks, msg != NULL);
    }
    if (msg != NULL) lua_pop(L, 1);
    calog__errorValueRefused(&lc->pend[i], "lua", &err);
    calogValueFree(&err);
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
    if (calog__luaPush(L, lc, &copy, &err) == CALOG_OK) nret = 3;
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
  CalogSinkT sink;
  calog__sinkValues(&sink, args, argc);
  for (int got = 0; got < argc && st == CALOG_OK; got++) st = calog__luaRead(lc, L, first + got, &sink, &result);
  calog__sinkEnd(&sink, st == CALOG_OK, NULL);
  if (st == CALOG_OK) st = call(target, args, argc, &result);
  for (int i = 0; i < argc; i++) calogValueFree(&args[i]);
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
  st = calog__luaPush(L, lc, &top1, &err);
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

/* A host (TypeScript) function called from the host thread: the arguments are written from the Lua stack
 * straight into OUT and the result pushed straight from IN (no CalogValueT; the same codec). */
static int hostOut(lua_State *L, LuaCtxT *lc, CalogNativeEntryT *e, CalogBindingT *b, CalogHostFnT *h) {
  int32_t mark = lc->pendCount;
  int argc = lua_gettop(L);
  CalogValueT result = calogValueNil();
  CalogHostCallT c;
  int32_t st = calog__hostCallBegin(&c, h, argc, &result);
  for (int i = 1; i <= argc && st == CALOG_OK; i++) st = calog__luaRead(lc, L, i, &c.args, &result);
  if (st != CALOG_OK) {
    calog__hostCallAbort(&c);
    calog__nativeHostDone(e, b);
    return raiseResult(L, lc, mark, &result);
  }
  /* the result is copied out of IN first: pushing it may run finalizers, whose host calls rewrite IN */
  uint8_t copy[256];
  CalogSrcT src;
  bool viaValue;
  st = calog__hostCallRun(&c, &src, copy, sizeof copy, &viaValue, &result);
  calog__nativeHostDone(e, b);
  if (st != CALOG_OK) return raiseResult(L, lc, mark, &result);
  CalogValueT top1;
  if (viaValue) {
    int32_t i = pendPush(lc, &result);
    if (i < 0) {
      calog__luaPendTruncate(lc, mark);
      return luaL_error(L, "out of memory");
    }
    top1 = lc->pend[i]; /* a shallow copy: finalizers run while we push may grow (move) the pending stack */
    calog__srcValues(&src, &top1, 1);
  }
  CalogValueT err = calogValueNil();
  st = calog__luaPushFrom(L, lc, &src, &err);
  calog__srcEnd(&src);
  calog__luaPendTruncate(lc, mark);
  if (st != CALOG_OK) return raiseResult(L, lc, mark, &err);
  return 1;
}

/* A limit tripped in the running entry (interrupt(), a deadline passed inside the call...): the tick raises it
 * now, so no call out starts and none returns into the script; pcall cannot swallow it (the tick leaves a
 * budget of one step, as for any trip). */
static void stopIfTripped(lua_State *L, LuaCtxT *lc) {
  if (calog__limitStopped(lc->ctx) != CALOG_LIMIT_NONE) calog__luaTick(L);
}

static int nativeTrampoline(lua_State *L) {
  CalogNativeEntryT *e = lua_touserdata(L, lua_upvalueindex(1));
  LuaCtxT *lc = calog__luaCtx(L);
  stopIfTripped(L, lc);
  CalogHostFnT *h;
  CalogBindingT *b = calog__nativeHostBinding(e, &h);
  int n = b != NULL ? hostOut(L, lc, e, b, h) : callOut(L, 1, callNative, e, lc->pendCount);
  stopIfTripped(L, lc);
  return n;
}

static int fnCallFrom(lua_State *L, CalogFnT **box, int first);

static int fnCall(lua_State *L) { /* __call(self, ...) of a box a script cannot reach (see fnClosure) */
  return fnCallFrom(L, luaL_checkudata(L, 1, FN_META), 2);
}

/* A function value in Lua: a C closure whose one upvalue is the box holding the value's reference (a Lua function
 * to type(), table.sort, string.gsub, coroutine.wrap, load: a callable userdata was refused by all of them, pass
 * 34b). Its upvalue cannot be read or replaced by a script (calog__luaIsInternalCFunction); checked all the same. */
static int fnClosure(lua_State *L) {
  CalogFnT **box = luaL_testudata(L, lua_upvalueindex(1), FN_META);
  if (box == NULL) return luaL_error(L, "calog function value without its box");
  return fnCallFrom(L, box, 1);
}

static int fnCallFrom(lua_State *L, CalogFnT **box, int first) {
  if (*box == NULL)
    return luaL_error(L, "function value was released: a Lua finalizer called it after it was collected (a __gc that "
                         "registers its object again keeps it for one collection only; keep it reachable from a global)");
  LuaCtxT *lc = calog__luaCtx(L);
  stopIfTripped(L, lc);
  int32_t mark = lc->pendCount;
  /* the call holds its own reference (on the pending stack, so a raise cannot leak it) */
  CalogFnT *fn = *box;
  calogFnRetain(fn);
  CalogValueT hold = calogValueFn(fn);
  if (pendPush(lc, &hold) < 0) return luaL_error(L, "out of memory");
  int n;
  if (!calog__ioIsNative(fn)) {
    n = callOut(L, first, callFn, fn, mark);
  } else {
    /* an I/O method called on its handle (conn:send(...)): the handle's id is all it needs of self */
    if (calog__ioIsMethod(fn) && lua_type(L, first) == LUA_TTABLE) {
      lua_pushliteral(L, "id");
      lua_rawget(L, first);
      lua_replace(L, first);
    }
    n = callOut(L, first, callFnIo, fn, mark);
  }
  stopIfTripped(L, lc);
  return n;
}

static int fnGc(lua_State *L) {
  FnBoxT *fb = luaL_checkudata(L, 1, FN_META);
  /* Lua finalizes in the reverse order objects were marked for it: a box made after an object's setmetatable was
   * released before that object's own __gc called it ("function value was released": pass 35b). The first time,
   * the box asks for its finalizer again and keeps the reference: it is released once it is unreachable after the
   * other finalizers of its cycle (which may keep it). At lua_close a finalizer is not asked for again. */
  if (!fb->finalizedOnce && !calog__luaCtx(L)->closing && lua_getmetatable(L, 1)) {
    fb->finalizedOnce = true;
    lua_setmetatable(L, 1);
    return 0;
  }
  CalogFnT *fn = fb->fn;
  fb->fn = NULL;
  calogFnRelease(fn);
  return 0;
}

static int fnToString(lua_State *L) {
  lua_pushfstring(L, "calog function: %p", lua_touserdata(L, 1));
  return 1;
}

void calog__luaOpenFnMeta(lua_State *L) {
  lua_createtable(L, 2 * CALOG_LUA_RAISES, 0);
  for (int i = 1; i <= 2 * CALOG_LUA_RAISES; i++) {
    lua_pushboolean(L, 0);
    lua_rawseti(L, -2, i);
  }
  lua_rawsetp(L, LUA_REGISTRYINDEX, &calog__luaRaiseRing);
  lua_newtable(L); /* the maps of integer keys that entered (see ingressTable): a weak set */
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &calog__luaMapKinds);
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

bool calog__luaIsInternalCFunction(lua_CFunction f) { return f == nativeTrampoline || f == fnClosure; }

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
    if (calog__luaPush(L, lc, calogAggPairValue(agg, k), &err) != CALOG_OK) {
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
  return calog__luaRunValues(ref->lc, LUA_RUN_REF, NULL, NULL, 0, ref->ref, args, argc, result);
}

void calog__luaFnRelease(void *userData) {
  LuaFnRefT *ref = userData;
  if (ref->lc->L) luaL_unref(ref->lc->L, LUA_REGISTRYINDEX, ref->ref);
  free(ref);
}
