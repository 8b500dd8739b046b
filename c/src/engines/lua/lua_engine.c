/* lua_engine.c -- the Lua 5.4 engine binding: the CalogEngineT vtable over lua_adapter.c. */
#include "lua_adapter.h"

#include <stdio.h>

/* The count is the context thread's; other threads read the copy published with a relaxed store (a plain
 * mov on the usual targets), so monitoring never races with the allocator. */
static void *luaAlloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  LuaCtxT *lc = ud;
  if (ptr == NULL) osize = 0;
  if (nsize == 0) {
    free(ptr);
    lc->mem -= osize;
    atomic_store_explicit(&lc->memShown, lc->mem, memory_order_relaxed);
    return NULL;
  }
  int64_t limit = calog__limitMemory(lc->ctx);
  if (limit > 0 && nsize > osize && lc->mem - osize + nsize > (size_t)limit) {
    lc->refused = lc->mem - osize + nsize; /* Lua collects and retries; if that fails too: luaMemError */
    return NULL;
  }
  void *p = realloc(ptr, nsize);
  if (p == NULL) return NULL;
  /* a KB allocated is a step (the next step check polls the limits): a loop of built-ins each making a long string
   * (string.upper, s:sub, a long key's concatenation) ran fewer steps than a tick's and seconds past its timeout */
  if (nsize >= osize + 1024 && calog__ctxInEntry(lc->ctx)) lc->budget -= (long)((nsize - osize) >> 10); /* an entry's */
  lc->refused = 0;
  lc->mem = lc->mem - osize + nsize;
  atomic_store_explicit(&lc->memShown, lc->mem, memory_order_relaxed);
  return p;
}

/* ---- limits: the hooks of calog's patch (lua_prelude.h) ---------------------------------------------- */
void calog__luaTick(lua_State *L) {
  LuaCtxT *lc = calog__luaCtx(L);
  int64_t next = CALOG_TICK_CHUNK;
  int32_t kind = calog__limitTick(lc->ctx, lc->chunk - lc->budget, &next);
  lc->budget = lc->chunk = (long)next;
  if (kind == CALOG_LIMIT_NONE) return;
  /* a plain error (raised again at the next step while the entry lasts); the entry's end reports the limit */
  luaL_error(L, "calog: %s limit reached", calog__limitName(kind));
}

static int msgHandler(lua_State *L);

/* The tick without the raise: counts the steps since the last one, starts a new budget (one step once a limit
 * tripped) and returns the tripped limit, or CALOG_LIMIT_NONE. */
static int32_t luaSync(lua_State *L) {
  LuaCtxT *lc = calog__luaCtx(L);
  int64_t next = CALOG_TICK_CHUNK;
  int32_t kind = calog__limitTick(lc->ctx, lc->chunk - lc->budget, &next);
  lc->budget = lc->chunk = (long)next;
  return kind;
}

const char *calog__luaYieldMsg(lua_State *L) {
  LuaCtxT *lc = calog__luaCtx(L);
  return lc != NULL && lc->ctx != NULL && lc->ctx->busy > 1
             ? "attempt to yield across a call from the host or another engine (a coroutine yields only within the "
               "call that resumed it: a script function called by a host function runs as a call of its own)"
             : "attempt to yield from outside a coroutine";
}

const char *calog__luaLexPoll(lua_State *L) {
  static const char *const messages[] = {"calog: none limit reached", "calog: memory limit reached",
                                         "calog: steps limit reached", "calog: timeout limit reached",
                                         "calog: interrupt limit reached", "calog: output limit reached"};
  int32_t kind = luaSync(L);
  if (kind == CALOG_LIMIT_NONE) return NULL;
  return kind > 0 && kind <= CALOG_LIMIT_OUTPUT ? messages[kind] : "calog: limit reached";
}

int calog__luaIsMsgHandler(lua_CFunction f) { return f == msgHandler; }

void calog__luaCallC(lua_State *L, lua_CFunction f) {
  LuaCtxT *lc = calog__luaCtx(L);
  CalogCtxT *ctx = lc->ctx;
  /* the message handler runs for the limit's own raise; outside the entry (a finalizer at dispose) nothing is
   * stopped */
  if (f == msgHandler || ctx == NULL || !calog__ctxInEntry(ctx)) return;
  if (calog__limitTripped(ctx) != CALOG_LIMIT_NONE) calog__luaTick(L);
}

void calog__luaCDone(lua_State *L) {
  LuaCtxT *lc = calog__luaCtx(L);
  if (--lc->cCalls > 0) return;
  lc->cCalls = 16;
  CalogCtxT *ctx = lc->ctx;
  if (ctx == NULL || !calog__ctxInEntry(ctx)) return;
  if (calog__limitTripped(ctx) == CALOG_LIMIT_NONE) (void)calog__limitTick(ctx, 0, NULL);
  if (calog__limitTripped(ctx) != CALOG_LIMIT_NONE) lc->budget = 0; /* the next step ticks, and raises it */
}

static void luaSyncSteps(void *interp) {
  LuaCtxT *lc = interp;
  if (lc->L != NULL && lc->ctx != NULL) (void)luaSync(lc->L);
}

void calog__luaSyncTripped(lua_State *L) {
  LuaCtxT *lc = calog__luaCtx(L);
  if (lc->ctx != NULL && calog__limitTripped(lc->ctx) != CALOG_LIMIT_NONE) (void)luaSync(L);
}

void calog__luaMemError(lua_State *L) {
  void *ud = NULL;
  (void)lua_getallocf(L, &ud);
  LuaCtxT *lc = ud;
  if (lc == NULL || lc->ctx == NULL || lc->refused == 0) return; /* not ours: the system is out of memory */
  calog__limitTrip(lc->ctx, CALOG_LIMIT_MEMORY, (int64_t)lc->refused, calog__limitMemory(lc->ctx));
  lc->refused = 0;
  lc->budget = 0; /* raise it again at the next step */
}

/* Runs f(L) protected; a Lua error (OOM) becomes a status with its message in err. */
static int32_t protect(lua_State *L, lua_CFunction f, void *ud, CalogValueT *err) {
  int base = lua_gettop(L);
  lua_pushcfunction(L, f);
  lua_pushlightuserdata(L, ud);
  int ls = lua_pcall(L, 1, 0, 0);
  int32_t st = CALOG_OK;
  if (ls != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    st = calogErrorSet(err, ls == LUA_ERRMEM ? CALOG_ERR_OOM : CALOG_ERR_SCRIPT, "lua", msg ? msg : "error", -1, NULL);
  }
  lua_settop(L, base);
  return st;
}

/* The registry keys under which the message handler keeps the error that ends the entry: the value raised, the
 * message and the traceback. The handler gives Lua back the value itself (a to-be-closed variable's __close sees
 * what the script threw, as under the script's own pcall), so what the host reads lives here. The keys exist from
 * the start: storing under them never allocates (see openAll). */
static const char errValueKey = 0, errMessageKey = 0, errTracebackKey = 0;
static const char *const errKeys[3] = {&errValueKey, &errMessageKey, &errTracebackKey};

/* Pushes the error value kept under errValueKey in the form it is kept: nil is kept as a light userdata no script
 * can make (a nil stored would free the key, and a later store outside protection could then need memory). */
static void pushKept(lua_State *L, int idx) {
  if (lua_isnil(L, idx)) lua_pushlightuserdata(L, (void *)&errValueKey);
  else lua_pushvalue(L, idx);
}

static int openAll(lua_State *L) {
  for (int i = 0; i < 3; i++) {
    lua_pushboolean(L, 0);
    lua_rawsetp(L, LUA_REGISTRYINDEX, errKeys[i]);
  }
  return calog__luaOpenLibs(L);
}

static void luaDestroy(void *interp) {
  LuaCtxT *lc = interp;
  if (lc == NULL) return;
  lc->closing = true;
  /* the finalizers lua_close runs tick at their first step, where a destroyed context's interrupt is raised (as
   * Duktape's executor raises it at its first instruction): none goes on acting with what the last entry left */
  lc->budget = 0;
  if (lc->L) lua_close(lc->L);
  lc->L = NULL;
  if (lc->sinkOut) fclose(lc->sinkOut);
  if (lc->sinkErr) fclose(lc->sinkErr);
  if (lc->nullIn) fclose(lc->nullIn);
  calog__capsFree(&lc->caps);
  calog__luaPendTruncate(lc, 0);
  calogValueFree(&lc->thrown);
  free(lc->pend);
  free(lc);
}

static int32_t luaCreate(CalogCtxT *ctx, void **interpOut, CalogValueT *err) {
  LuaCtxT *lc = calloc(1, sizeof *lc);
  if (lc == NULL) return calogFail(err, CALOG_ERR_OOM, "out of memory");
  lc->ctx = ctx;
  lc->budget = lc->chunk = CALOG_TICK_CHUNK;
  lc->cCalls = 16;
  int32_t cst = calog__capsParse(calog__optGet(&ctx->options, "capabilities"), &lc->caps, err);
  if (cst != CALOG_OK) {
    free(lc);
    return cst;
  }
  lc->L = lua_newstate(luaAlloc, lc);
  if (lc->L == NULL) {
    calog__capsFree(&lc->caps);
    free(lc);
    return calogFail(err, CALOG_ERR_OOM, "cannot create a Lua state");
  }
  *(LuaCtxT **)lua_getextraspace(lc->L) = lc;
  int32_t st = protect(lc->L, openAll, NULL, err);
  if (st != CALOG_OK) {
    luaDestroy(lc);
    return st;
  }
  *interpOut = lc;
  return CALOG_OK;
}

typedef struct InstallT {
  CalogNativeEntryT *entry;
} InstallT;

static int installer(lua_State *L) {
  InstallT *in = lua_touserdata(L, 1);
  /* raw: a registration sets a global name only. lua_setglobal ran _G's __newindex, and one that raised ("frozen
   * globals") failed every later entry of the context, which retried the install (pass 60a) */
  lua_pushglobaltable(L);
  lua_pushstring(L, in->entry->name);
  calog__luaPushNative(L, in->entry);
  lua_rawset(L, -3);
  return 0;
}

static int32_t luaInstallNative(void *interp, CalogNativeEntryT *entry, CalogValueT *err) {
  LuaCtxT *lc = interp;
  InstallT in = {entry};
  return protect(lc->L, installer, &in, err);
}

/* ---- the protected runner ------------------------------------------------------------------------ */
typedef struct RunT {
  LuaCtxT *lc;
  int kind;
  const char *name;
  int ref;
  CalogSrcT *args;
  int32_t argc;
  CalogSinkT *out;
  CalogValueT *err;
  int32_t status;
} RunT;

/* Whether the value at idx is an object no other raise can produce equal by accident: a table, a function,
 * a userdata, a thread, or a long string (Lua interns strings of up to 40 bytes, LUAI_MAXSHORTLEN: a script
 * spelling the same short text raises the very same object). */
static bool ownIdentity(lua_State *L, int idx) {
  switch (lua_type(L, idx)) {
  case LUA_TTABLE:
  case LUA_TFUNCTION:
  case LUA_TUSERDATA:
  case LUA_TTHREAD: return true;
  case LUA_TSTRING: return lua_rawlen(L, idx) > 40;
  default: return false;
  }
}

/* The newest of the raises calog made (LuaCtxT.raise) that is value, raised from thread T at its stack level (the
 * C function that raised it: its CallInfo and function), or -1. */
static int raisedAt(lua_State *T, LuaCtxT *lc, const void *value, int level) {
  lua_Debug ar;
  if (!lua_getstack(T, level, &ar)) return -1;
  const void *fn = NULL;
  for (int32_t k = 1; k <= CALOG_LUA_RAISES; k++) { /* newest first */
    int32_t i = (lc->raiseNext - k + CALOG_LUA_RAISES) % CALOG_LUA_RAISES;
    if (lc->raise[i].L != T || value != lc->raise[i].value || ar.i_ci != lc->raise[i].ci) continue;
    if (fn == NULL) {
      if (!lua_checkstack(T, 1) || !lua_getinfo(T, "f", &ar)) return -1;
      fn = lua_topointer(T, -1);
      lua_pop(T, 1);
    }
    if (fn == lc->raise[i].fn) return i;
  }
  return -1;
}

/* Whether the error at idx that coroutine.wrap is about to pass on is one calog raised (see lua_prelude.h): a value of
 * its own identity (a long string, a table) by that identity; one without (a short string: a script spelling the same
 * text raises the very same object; nil, a number, a boolean) only when the dead coroutine co raised it where calog
 * did, and it is then recorded again as raised from L's running frame (the wrapper, which raises it next), so an
 * outer wrap and the entry's message handler know it too: without it, "not found" from a host function gained the
 * position prefix and lost its cause inside coroutine.wrap, and a nil its cause. */
int calog__luaIsRaised(lua_State *L, int idx, lua_State *co) {
  LuaCtxT *lc = calog__luaCtx(L);
  if (lc == NULL) return 0;
  const void *value = lua_topointer(L, idx);
  if (ownIdentity(L, idx)) {
    for (int32_t i = 0; i < CALOG_LUA_RAISES; i++)
      if (lc->raise[i].L != NULL && lc->raise[i].value == value) return 1;
    return 0;
  }
  int i = co != NULL ? raisedAt(co, lc, value, 0) : -1;
  if (i < 0) return 0;
  calog__luaRaiseAgain(L, idx, i);
  return 1;
}

/* Which raise (LuaCtxT.raise) the error the message handler runs for (its argument) is, -1: none (then its marks and
 * carried message are the error's): that very object raised again (a script that caught it and rethrew it as is), or,
 * for a value without an identity of its own (a short string), raised from the same thread, CallInfo and function (a
 * script raising the same text itself raises from elsewhere). */
static int raisedByCalog(lua_State *L, LuaCtxT *lc) {
  const void *value = lua_topointer(L, 1);
  if (!ownIdentity(L, 1)) return raisedAt(L, lc, value, 1); /* level 0: this handler */
  for (int32_t k = 1; k <= CALOG_LUA_RAISES; k++) { /* newest first */
    int32_t i = (lc->raiseNext - k + CALOG_LUA_RAISES) % CALOG_LUA_RAISES;
    if (lc->raise[i].L != NULL && value == lc->raise[i].value) return i; /* anchored in the ring: still its own */
  }
  return -1;
}

/* Runs where the error is raised, when no pcall of the script's is between it and the entry: the error ends the
 * entry. Keeps the thrown value and the raise's marks (for calog__luaRun), the message and the traceback (under
 * errKeys), and returns the value itself: it returned a { message, traceback } table, which Lua then gave to every
 * to-be-closed variable's __close as the error (a __close reading e.code of error({ code = 9 }) read nil, and one
 * raising its error again made the message "(error object is a table value)"). */
static int msgHandler(lua_State *L) {
  LuaCtxT *lc = calog__luaCtx(L);
  char why[200] = "";
  lua_settop(L, 1);
  if (lc->handled && ownIdentity(L, 1) && lua_checkstack(L, 4)) {
    /* the error unwinding, raised again as it is (a __close that rethrew it): value, marks, message and traceback stay */
    lua_rawgetp(L, LUA_REGISTRYINDEX, &errValueKey);
    if (lua_rawequal(L, 1, -1)) { /* own identity: never nil */
      lua_settop(L, 1);
      return 1;
    }
    lua_settop(L, 1);
  }
  /* any other run is for an error raised while this one unwinds (a to-be-closed variable's __close that raised),
   * which replaces it, as Lua's pcall would say. Ingress never raises; a value that cannot cross (strict) is left out */
  if (lc->handled) {
    calogValueFree(&lc->thrown);
    lc->thrownSet = false;
  }
  lc->handled = true;
  int raised = raisedByCalog(L, lc);
  lc->escaped = raised >= 0 ? lc->raise[raised].mark : (CalogRaiseT){0, 0};
  bool placeholder = false; /* the message is Lua's stand-in for a value that is not text (calog__errorMarkPlaceholder) */
  CalogValueT scratch = calogValueNil();
  if (calog__luaToValue(lc, 1, &lc->thrown, &scratch) == CALOG_OK) lc->thrownSet = true;
  else snprintf(why, sizeof why, "%s", calogErrorMessage(&scratch, NULL));
  calogValueFree(&scratch);
  const char *msg = NULL;
  if (lua_type(L, 1) == LUA_TSTRING) msg = lua_tostring(L, 1);
  else if (lua_type(L, 1) == LUA_TNUMBER) {
    lua_pushvalue(L, 1); /* converted in a copy: the error Lua goes on with stays a number */
    msg = lua_tostring(L, -1);
  }
  if (msg == NULL && lua_checkstack(L, 6)) {
    if (luaL_testudata(L, 1, "calog.function") != NULL) {
      /* a function of another engine or of the host: a function, as a Lua function thrown is (its metatable's
       * __tostring said "calog function: 0x55d0c1a8", an address, where a Lua function says "lua threw [function]"),
       * unless it carries a message of its own from there (below; a JS function's `message`: pass 49a) */
      if (raised < 0 || !lc->raise[raised].carried) {
        msg = lua_pushliteral(L, "(error object is a function value)");
        placeholder = true;
      }
    } else if (luaL_getmetafield(L, 1, "__tostring") != LUA_TNIL) {
      /* run protected: its own error must not replace this one */
      lua_pushvalue(L, 1);
      /* each outcome says what happened: "failed" alone hid a __tostring returning 42 or nil (pass 42a) */
      bool ok = lua_pcall(L, 1, 1, 0) == LUA_OK;
      if (ok && lua_type(L, -1) == LUA_TSTRING && lua_rawlen(L, -1) > 0) msg = lua_tostring(L, -1);
      else if (ok && lua_type(L, -1) == LUA_TSTRING) lua_pop(L, 1); /* an empty text says nothing: as none (pass 46a) */
      else if (ok)
        msg = lua_pushfstring(L, "(error object is a %s value; its __tostring returned a %s, not a string)", luaL_typename(L, 1),
                              luaL_typename(L, -1));
      else if (lua_type(L, -1) == LUA_TSTRING && lua_rawlen(L, -1) == 0) /* an empty reason says nothing (pass 47b) */
        msg = lua_pushfstring(L, "(error object is a %s value; its __tostring failed: it raised an empty string)", luaL_typename(L, 1));
      else if (lua_type(L, -1) == LUA_TSTRING) { /* joined on the stack: the reason keeps its NUL bytes (pass 43b) */
        lua_pushfstring(L, "(error object is a %s value; its __tostring failed: ", luaL_typename(L, 1));
        lua_pushvalue(L, -2);
        lua_pushliteral(L, ")");
        lua_concat(L, 3);
        msg = lua_tostring(L, -1);
      }
      else
        msg = lua_pushfstring(L, "(error object is a %s value; its __tostring failed: it raised a %s value)", luaL_typename(L, 1),
                              luaL_typename(L, -1));
    }
    if (msg == NULL && why[0] && lua_type(L, 1) == LUA_TTABLE) {
      /* its own string message field says it, as under lenient, before it is named as a value that cannot cross: the
       * README's order (read raw: no metamethod runs; pass 50b) */
      lua_pushliteral(L, "message");
      if (lua_rawget(L, 1) == LUA_TSTRING && lua_rawlen(L, -1) > 0) msg = lua_tostring(L, -1);
      else lua_pop(L, 1);
    }
    if (msg == NULL && why[0]) msg = lua_pushfstring(L, "lua threw a %s value that cannot cross: %s", luaL_typename(L, 1), why);
  }
  if (msg == NULL && raised >= 0 && lc->raise[raised].carried && lua_checkstack(L, 2)) {
    /* a value another engine threw, raised here by calog: the message it had there (its own text), not Lua's
     * placeholder for a table (a __tostring or toString lost at the second engine) */
    lua_rawgetp(L, LUA_REGISTRYINDEX, &calog__luaRaiseRing);
    if (lua_rawgeti(L, -1, CALOG_LUA_RAISES + raised + 1) == LUA_TSTRING) msg = lua_tostring(L, -1);
    else lua_pop(L, 1);
  }
  if (msg == NULL && lc->thrownSet && lc->thrown.type == CALOG_NIL && !lua_isnil(L, 1)) {
    /* a value the lenient policy sends as nil (a thread, a userdata): rendered, it read "lua threw null" (pass 49a) */
    msg = lua_pushfstring(L, "lua threw a %s value, which the lenient policy sends as nil", luaL_typename(L, 1));
  } else if (msg == NULL) {
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    placeholder = true;
  }
  lc->placeholder = placeholder;
  int m = lua_gettop(L);
  luaL_traceback(L, L, NULL, 1);
  /* stored last, where nothing allocates (the keys exist): a raise above (out of memory) leaves the last error's */
  lua_rawsetp(L, LUA_REGISTRYINDEX, &errTracebackKey);
  lua_pushvalue(L, m);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &errMessageKey);
  pushKept(L, 1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &errValueKey);
  lua_settop(L, 1);
  return 1;
}

static bool callable(lua_State *L, int idx) {
  if (lua_isfunction(L, idx)) return true;
  if (luaL_getmetafield(L, idx, "__call") != LUA_TNIL) {
    lua_pop(L, 1);
    return true;
  }
  return false;
}

/* stack on entry: [RunT*] (+ [chunk] for EVAL) */
static int runner(lua_State *L) {
  RunT *r = lua_touserdata(L, 1);
  LuaCtxT *lc = r->lc;
  switch (r->kind) {
  case LUA_RUN_EVAL: break; /* the chunk is already at index 2 */
  case LUA_RUN_GET:
    lua_getglobal(L, r->name);
    r->status = calog__luaRead(lc, L, -1, r->out, r->err);
    return 0;
  case LUA_RUN_CALL:
    lua_getglobal(L, r->name);
    if (!callable(L, -1)) {
      if (lua_isnil(L, -1)) r->status = calogFail(r->err, CALOG_ERR_NOT_FOUND, "no function named '%s' in this Lua context", r->name);
      else
        r->status = calogFail(r->err, CALOG_ERR_NOT_FOUND, "'%s' in this Lua context is a %s, not a function", r->name,
                              luaL_typename(L, -1));
      return 0;
    }
    break;
  case LUA_RUN_REF: lua_rawgeti(L, LUA_REGISTRYINDEX, r->ref); break;
  }
  int fnIdx = lua_gettop(L);
  /* the one check of the call: a C function starts with LUA_MINSTACK free slots, enough for a few arguments
   * (each push may take 2) next to the function and the runner's own */
  if (r->argc > LUA_MINSTACK - 8 && !lua_checkstack(L, r->argc + 4)) {
    r->status = calogFail(r->err, CALOG_ERR_OOM, "too many arguments for the Lua stack");
    return 0;
  }
  for (int32_t i = 0; i < r->argc; i++)
    if ((r->status = calog__luaPushFrom(L, lc, r->args, r->err)) != CALOG_OK) return 0;
  lua_call(L, r->argc, 1);
  r->status = calog__luaRead(lc, L, fnIdx, r->out, r->err);
  return 0;
}

/* stack on entry: [RunT*, value]: the direct path's result, read protected */
static int readResult(lua_State *L) {
  RunT *r = lua_touserdata(L, 1);
  r->status = calog__luaRead(r->lc, L, 2, r->out, r->err);
  return 0;
}

int32_t calog__luaRun(LuaCtxT *lc, int kind, const char *name, const char *src, int64_t len, int ref,
                      CalogSrcT *args, int32_t argc, CalogSinkT *out, CalogValueT *err) {
  lua_State *L = lc->L;
  int32_t mark = lc->pendCount;
  int64_t first = CALOG_TICK_CHUNK; /* the budget comes from this entry's limits, not from what the last one left */
  (void)calog__limitTick(lc->ctx, lc->chunk - lc->budget, &first);
  lc->budget = lc->chunk = (long)first;
  int outer = lua_gettop(L);
  if (!lua_checkstack(L, 8 + 3)) return calogFail(err, CALOG_ERR_OOM, "Lua stack exhausted");
  /* an entry nested in one whose error unwinds (a __close handler calling back in) keeps that error's record */
  bool outerHandled = lc->handled;
  if (outerHandled)
    for (int i = 0; i < 3; i++) lua_rawgetp(L, LUA_REGISTRYINDEX, errKeys[i]);
  int base = lua_gettop(L);
  RunT r = {.lc = lc, .kind = kind, .name = name, .ref = ref, .args = args, .argc = argc, .out = out, .err = err};
  /* A function value called with scalars only (the common crossing): nothing before the call can raise (the
   * registry read allocates nothing, nor do the pushes of nil, booleans and numbers), nor can reading a scalar
   * or string result, so one protected call of the function itself does: no runner frame. A table or function
   * result is read in a second protected call (readResult). Any other call runs its set-up (a global lookup,
   * strings and tables pushed: each may raise) inside the runner. */
  bool direct = kind == LUA_RUN_REF && calog__srcScalars(args, argc) && (argc <= 4 || lua_checkstack(L, argc + 4));
  lua_pushcfunction(L, msgHandler);
  int nargs = 1;
  if (direct) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
    for (int32_t i = 0; i < argc; i++) (void)calog__luaPushFrom(L, lc, args, err); /* scalars: cannot fail */
    nargs = argc;
  } else {
    lua_pushcfunction(L, runner);
    lua_pushlightuserdata(L, &r);
  }
  if (kind == LUA_RUN_EVAL) {
    char chunk[260];
    snprintf(chunk, sizeof chunk, "=%s", r.name ? r.name : "eval");
    int ls = luaL_loadbufferx(L, src, (size_t)len, chunk, "t");
    if (ls != LUA_OK) {
      const char *msg = lua_tostring(L, -1);
      /* loading only compiles: besides LUA_ERRSYNTAX, the parser's nesting cap raises "C stack overflow" */
      int32_t st = calogErrorSet(err, ls == LUA_ERRMEM ? CALOG_ERR_OOM : CALOG_ERR_SYNTAX,
                                 "lua", msg ? msg : "cannot load chunk", -1, NULL);
      lua_settop(L, outer);
      return st;
    }
    nargs = 2;
  }
  /* an entry nested in this one (a __close handler calling back in while an error unwinds) keeps ours */
  bool outerThrownSet = lc->thrownSet;
  CalogRaiseT outerEscaped = lc->escaped;
  bool outerPlaceholder = lc->placeholder;
  bool outerHasThrown = lc->thrown.type != CALOG_NIL;
  CalogValueT outerThrown;
  if (outerHasThrown) calogValueMove(&outerThrown, &lc->thrown);
  lc->handled = lc->thrownSet = lc->placeholder = false;
  lc->escaped = (CalogRaiseT){0, 0};
  int ps = lua_pcall(L, nargs, direct ? 1 : 0, base + 1);
  if (ps == LUA_OK && direct) {
    int t = lua_type(L, base + 2);
    if (t <= LUA_TNUMBER || t == LUA_TSTRING) { /* nil, boolean, light userdata, number, string */
      r.status = calog__luaRead(lc, L, base + 2, out, err);
    } else {
      /* a table or a function is read protected, as in the runner: its read may grow the stack, and the GC
       * step that comes with it runs finalizers (Lua code) that can make a table walk raise */
      lua_pushcfunction(L, readResult);
      lua_pushlightuserdata(L, &r);
      lua_pushvalue(L, base + 2);
      ps = lua_pcall(L, 2, 0, base + 1);
    }
  }
  int32_t st = r.status;
  bool hasThrown = lc->thrownSet, handled = lc->handled;
  CalogRaiseT escaped = lc->escaped;
  bool placeholder = lc->placeholder;
  lc->placeholder = outerPlaceholder;
  lc->handled = outerHandled;
  lc->thrownSet = outerThrownSet;
  lc->escaped = outerEscaped;
  if (ps != LUA_OK) {
    CalogValueT thrown = calogValueNil();
    calogValueMove(&thrown, &lc->thrown);
    int32_t code = ps == LUA_ERRMEM ? CALOG_ERR_OOM : CALOG_ERR_SCRIPT;
    if (code == CALOG_ERR_SCRIPT && escaped.status) code = escaped.status;
    /* the error the message handler kept, if it is the one that ended the entry (not one raised past it: out of
     * memory, an error in error handling) */
    bool mine = false;
    if (handled) {
      pushKept(L, -1);
      lua_rawgetp(L, LUA_REGISTRYINDEX, &errValueKey);
      /* the same value: NaN, unequal to itself, too */
      mine = lua_rawequal(L, -1, -2) || (lua_type(L, -1) == LUA_TNUMBER && lua_type(L, -2) == LUA_TNUMBER &&
                                         lua_tonumber(L, -1) != lua_tonumber(L, -1) && lua_tonumber(L, -2) != lua_tonumber(L, -2));
      lua_pop(L, 2);
    }
    if (mine) {
      lua_rawgetp(L, LUA_REGISTRYINDEX, &errMessageKey);
      lua_rawgetp(L, LUA_REGISTRYINDEX, &errTracebackKey);
      size_t n = 0;
      const char *msg = lua_tolstring(L, -2, &n);
      st = calogErrorSet(err, code, "lua", msg ? msg : "error", msg ? (int64_t)n : -1, lua_tostring(L, -1));
    } else {
      const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
      st = calogErrorSet(err, code, "lua", msg ? msg : "error", -1, NULL);
    }
    if (mine && hasThrown && code == CALOG_ERR_SCRIPT) calog__errorAttachValue(err, &thrown);
    if (mine && ps != LUA_ERRMEM) calog__errorMark(err, escaped);
    if (mine && placeholder) calog__errorMarkPlaceholder(err);
    calogValueFree(&thrown);
  } else if (lc->thrown.type != CALOG_NIL) {
    calogValueFree(&lc->thrown); /* a handler ran for an error a script's pcall caught */
  }
  if (outerHasThrown) calogValueMove(&lc->thrown, &outerThrown);
  lua_settop(L, base);
  if (outerHandled) { /* the outer entry's error record back (the keys exist: no allocation) */
    for (int i = 2; i >= 0; i--) lua_rawsetp(L, LUA_REGISTRYINDEX, errKeys[i]);
  } else if (handled) { /* nothing thrown stays reachable (a function value thrown keeps its context alive) */
    for (int i = 0; i < 3; i++) {
      lua_pushboolean(L, 0);
      lua_rawsetp(L, LUA_REGISTRYINDEX, errKeys[i]);
    }
  }
  lua_settop(L, outer);
  calog__luaPendTruncate(lc, mark); /* values of frames a raise unwound */
  int64_t next = CALOG_TICK_CHUNK; /* the steps run since the last tick count for this entry */
  (void)calog__limitTick(lc->ctx, lc->chunk - lc->budget, &next);
  lc->budget = lc->chunk = (long)next;
  return st;
}

int32_t calog__luaRunValues(LuaCtxT *lc, int kind, const char *name, const char *src, int64_t len, int ref,
                            CalogValueT *args, int32_t argc, CalogValueT *result) {
  CalogValueCallT c;
  calog__valueCallBegin(&c, args, argc);
  return calog__valueCallEnd(&c, calog__luaRun(lc, kind, name, src, len, ref, &c.args, argc, &c.out, &c.err), result);
}

static int32_t luaCallVia(void *interp, const char *name, void *closure, CalogSrcT *args, int32_t argc,
                          CalogSinkT *result, CalogValueT *err) {
  LuaCtxT *lc = interp;
  if (name == NULL) return calog__luaRun(((LuaFnRefT *)closure)->lc, LUA_RUN_REF, NULL, NULL, 0, ((LuaFnRefT *)closure)->ref, args, argc, result, err);
  return calog__luaRun(lc, LUA_RUN_CALL, name, NULL, 0, 0, args, argc, result, err);
}

static int32_t luaEval(void *interp, const char *src, int64_t len, const char *chunkName, CalogValueT *result) {
  return calog__luaRunValues(interp, LUA_RUN_EVAL, chunkName, src, len, 0, NULL, 0, result);
}

static int32_t luaCall(void *interp, const char *name, CalogValueT *args, int32_t argc, CalogValueT *result) {
  return calog__luaRunValues(interp, LUA_RUN_CALL, name, NULL, 0, 0, args, argc, result);
}

static int32_t luaGet(void *interp, const char *name, CalogValueT *result) {
  return calog__luaRunValues(interp, LUA_RUN_GET, name, NULL, 0, 0, NULL, 0, result);
}

static int64_t luaMemory(void *interp) {
  return (int64_t)atomic_load_explicit(&((LuaCtxT *)interp)->memShown, memory_order_relaxed);
}

CALOG_HIDDEN const CalogEngineT calog__luaEngine = {
    .name = "lua",
    .create = luaCreate,
    .destroy = luaDestroy,
    .installNative = luaInstallNative,
    .eval = luaEval,
    .call = luaCall,
    .get = luaGet,
    .memory = luaMemory,
    .callVia = luaCallVia,
    .closureFn = calog__luaFnInvoke,
    .syncSteps = luaSyncSteps,
};
