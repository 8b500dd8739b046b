/* lua_adapter.h -- private to the Lua engine: adapter (marshalling, trampolines) and engine binding. */
#ifndef CALOG_LUA_ADAPTER_H
#define CALOG_LUA_ADAPTER_H

#include "../../codec.h"
#include "../../policy/policy.h"

#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"

#define CALOG_LUA_RAISES 8 /* see LuaCtxT.raise */

typedef struct LuaCtxT {
  long budget;        /* FIRST FIELD (lua_prelude.h): steps left before the next limits tick */
  long chunk;         /* the budget the last tick gave */
  int cCalls;         /* C function returns until the next look at the limits (calog__luaCDone) */
  size_t refused;     /* the size an allocation refused by the memory limit asked for (0 = none) */
  lua_State *L;
  CalogCtxT *ctx;
  size_t mem;         /* bytes held by this state (broker-owned allocator; the context thread's own count) */
  _Atomic size_t memShown; /* mem as published to other threads (calogContextMemory): relaxed store/load */
  /* Values C owns while Lua may raise (a result being pushed, an error message, a function being called):
   * a stack, so nested calls (finalizers run by the GC mid-push) never free another frame's value. A frame
   * truncates back to its mark when it finishes; a protected entry truncates to its own mark after a raise. */
  CalogValueT *pend;
  int32_t pendCount, pendCap;
  bool closing;        /* lua_close is running: no closure may be exported any more */
  CalogCapsT caps;     /* what scripts may reach (the "capabilities" option) */
  char raisedMsg[512]; /* scratch for the message of an error calog raises (a denial, the output limit) */
  /* The last CALOG_LUA_RAISES errors calog raised with marks (CalogRaiseT) or with a message of their own (a ring,
   * raiseNext the slot the next one takes), and exactly where: the thread, its CallInfo, the C function running
   * there and the raised value (lua_topointer, anchored in the registry's ring table, slot i + 1). The message
   * handler compares the raise it sees against these, newest first, so a later error of the script's own is never
   * taken for one (see calog__luaRaise), and a caught host error raised again keeps its marks though other host
   * errors were raised and caught meanwhile (one slot lost them at the next: pass 27b). carried: the raised value is
   * one another engine threw, and the message it had there (its __tostring, toString or _tostring said it) is in
   * the ring table's slot CALOG_LUA_RAISES + i + 1: the error says it again when it leaves Lua as that value,
   * uncaught or raised again as it is. */
  struct {
    lua_State *L;
    const void *ci, *fn, *value;
    CalogRaiseT mark;
    bool carried;
  } raise[CALOG_LUA_RAISES];
  int32_t raiseNext;
  CalogRaiseT escaped; /* the marks of the error that ended the entry (set by its message handler) */
  bool placeholder;    /* its message is Lua's stand-in for a value that is not text (set by the message handler) */
  FILE *sinkOut, *sinkErr, *nullIn; /* io.stdout/io.stderr (the output sink) and an empty io.stdin (grants) */
  bool handled;        /* the message handler ran for this entry's error (its value, message and traceback: lua_engine.c) */
  bool thrownSet;      /* thrown holds the value the failing entry raised (set by its message handler) */
  CalogValueT thrown;
  int64_t mapMarks;    /* tables ever put in the calog__luaMapKinds set (0: no table going out is looked up there) */
} LuaCtxT;

typedef struct LuaFnRefT {
  LuaCtxT *lc;
  int ref; /* luaL_ref in the registry */
} LuaFnRefT;

enum { LUA_RUN_EVAL, LUA_RUN_CALL, LUA_RUN_GET, LUA_RUN_REF };

/* The limits tick (lua_engine.c; the VM calls it when the step budget runs out): raises the tripped limit. */
CALOG_HIDDEN void calog__luaTick(lua_State *L);
CALOG_HIDDEN LuaCtxT *calog__luaCtx(lua_State *L);
/* When a limit of the running entry tripped: counts the steps since the last tick and leaves a budget of one step
 * (the next step raises the limit; no C function starts before it). lua_engine.c. */
CALOG_HIDDEN void calog__luaSyncTripped(lua_State *L);
/* The Lua codec (design sec 4), the one set of marshalling rules for every path: calog__luaRead writes the
 * value at idx into a sink (failures go to err; a table or function may still raise a Lua error: growing the
 * stack runs a GC step, whose finalizers can make a table walk fail, so read those protected; nil, booleans,
 * numbers and strings never raise); calog__luaPushFrom pushes the next value of a source (may raise on
 * Lua OOM: run protected, or with what a raise must not leak held in the pending stack; the caller made room
 * for 2 slots). calog__luaToValue / calog__luaPush are the same for one CalogValueT. */
CALOG_HIDDEN int32_t calog__luaRead(LuaCtxT *lc, lua_State *L, int idx, CalogSinkT *sink, CalogValueT *err);
CALOG_HIDDEN int32_t calog__luaPushFrom(lua_State *L, LuaCtxT *lc, CalogSrcT *s, CalogValueT *err);
CALOG_HIDDEN int32_t calog__luaToValue(LuaCtxT *lc, int idx, CalogValueT *out, CalogValueT *err);
CALOG_HIDDEN int32_t calog__luaPush(lua_State *L, LuaCtxT *lc, const CalogValueT *v, CalogValueT *err);
CALOG_HIDDEN void calog__luaPendTruncate(LuaCtxT *lc, int32_t mark);
/* Raises the value on top of L's stack as a Lua error from the running C function, remembering mark (see
 * LuaCtxT.raise): if it ends the entry uncaught, the entry's error carries mark. Does not return. */
CALOG_HIDDEN int calog__luaRaise(lua_State *L, CalogRaiseT mark);
/* Records the value at idx as raised again from L's running C function (the ring's newest slot), with the marks and
 * carried message of raise from: it raises that value next (coroutine.wrap passing on an error calog raised). */
CALOG_HIDDEN void calog__luaRaiseAgain(lua_State *L, int idx, int32_t from);
/* The registry key of the ring table of raised values and their carried messages (see LuaCtxT.raise). */
CALOG_HIDDEN extern const char calog__luaRaiseRing;
/* The registry key of the weak set of tables that entered Lua as maps of integer keys (they go out as maps). */
CALOG_HIDDEN extern const char calog__luaMapKinds;
CALOG_HIDDEN void calog__luaOpenFnMeta(lua_State *L);
CALOG_HIDDEN void calog__luaPushNative(lua_State *L, CalogNativeEntryT *entry);
/* Sets the globals net and timer (the I/O layer). Runs protected. */
CALOG_HIDDEN void calog__luaOpenIo(lua_State *L);
/* True for calog's own C functions whose upvalues scripts must not see (debug.getupvalue & co. refuse them). */
CALOG_HIDDEN bool calog__luaIsInternalCFunction(lua_CFunction f);
/* Opens the standard libraries the context's capabilities allow (lua_caps.c). Runs protected. */
CALOG_HIDDEN int calog__luaOpenLibs(lua_State *L);
CALOG_HIDDEN int32_t calog__luaFnInvoke(CalogValueT *args, int32_t argc, CalogValueT *result, void *userData);
CALOG_HIDDEN void calog__luaFnRelease(void *userData);
/* Runs one protected operation on the state: eval a chunk, call a global, read a global, or call a
 * registry ref, with argc arguments read from args and the first result put into out (or the error in err). */
CALOG_HIDDEN int32_t calog__luaRun(LuaCtxT *lc, int kind, const char *name, const char *src, int64_t len,
                                   int ref, CalogSrcT *args, int32_t argc, CalogSinkT *out, CalogValueT *err);
/* The same with CalogValueT arguments (lent) and the result or error in result. */
CALOG_HIDDEN int32_t calog__luaRunValues(LuaCtxT *lc, int kind, const char *name, const char *src, int64_t len,
                                         int ref, CalogValueT *args, int32_t argc, CalogValueT *result);

#endif
