/* lua_prelude.h -- force-included (-include) into every Lua engine source, never edited into them: the hooks
 * of calog's patch (c/patches/lua/10-calog-limits.patch), defined in lua_engine.c.
 *   luai_calogbudget(L)    the context's step budget, counted down at every function entry, backward jump,
 *                          loop iteration and long library loop (string.rep, pattern matching,
 *                          table.concat, table.sort). The extra space of every Lua thread of a context points
 *                          at its LuaCtxT, whose first field is the budget;
 *   luai_calogtick(L)      runs when the budget is spent: checks the limits and raises their error;
 *   luai_calogmemerror(L)  runs before Lua raises a memory error: the memory limit trips when it refused.
 * Our patch c/patches/lua/01-c-stack-check.patch checks these with Lua's C-call count: a thread whose stack
 * is nearly used up fails with "C stack overflow" before LUAI_MAXCCALLS levels:
 *   luai_cstacklow(L), luai_cstackout(L). */
struct lua_State;
__attribute__((visibility("hidden"))) void calog__luaTick(struct lua_State *L);
__attribute__((visibility("hidden"))) void calog__luaMemError(struct lua_State *L);
#define luai_calogbudget(L) (**(long **)lua_getextraspace(L))
#define luai_calogtick(L) calog__luaTick(L)
#define luai_calogmemerror(L) calog__luaMemError(L)
/* Our patch c/patches/lua/63-lexer-poll-syntax-error.patch: the lexer's poll of the limits (every 64K characters
 * read): NULL, or the message of the tripped limit, which fails the compile as a lexical error does.
 * Our patch c/patches/lua/64-no-c-call-after-a-trip.patch: run before a C function starts when the step budget is
 * at most one (as it is once a limit tripped): raises the tripped limit (not for calog's message handler, nor
 * outside the context's entry). Only a finalizer's own C function (the one GCTM calls, patch 67) is not checked. */
struct lua_State;
typedef int (*calog__luaCFunction)(struct lua_State *L);
__attribute__((visibility("hidden"))) const char *calog__luaLexPoll(struct lua_State *L);
__attribute__((visibility("hidden"))) void calog__luaCallC(struct lua_State *L, calog__luaCFunction f);
/* Our patch c/patches/lua/65-parser-without-calog-handler.patch: true for calog's message handler, which a parse
 * (load with a reader function) runs without: a reader's error is the script's, not calog's record. */
__attribute__((visibility("hidden"))) int calog__luaIsMsgHandler(calog__luaCFunction f);
#define luai_calogismsgh(f) calog__luaIsMsgHandler(f)
/* Our patches c/patches/lua/68-wrap-keeps-calog-errors.patch and 75-wrap-asks-before-the-close.patch: true for an
 * error calog raised (its raise ring), which coroutine.wrap then passes on as it is, without its position prefix.
 * co: the dead coroutine it ended, before its close (a value without an identity of its own, a short string or a
 * nil, is told by the frame that raised it there, and is then raised again from L's running frame), or NULL (by
 * identity only). */
__attribute__((visibility("hidden"))) int calog__luaIsRaised(struct lua_State *L, int idx, struct lua_State *co);
#define luai_calogkeeperror(L, idx, co) calog__luaIsRaised((L), (idx), (co))
#define luai_caloglexpoll(L) calog__luaLexPoll(L)
#define luai_calogcallc(L, f) calog__luaCallC((L), (f))
/* Our patch c/patches/lua/71-c-calls-look-at-the-clock.patch: run after a C function returns. Every 16th looks at the
 * limits (the deadline, interrupt(), the entries below): a loop of C functions each doing linear work on a long
 * string or table ran seconds past its timeout between two step ticks. When one tripped, the next step raises it. */
__attribute__((visibility("hidden"))) void calog__luaCDone(struct lua_State *L);
#define luai_calogcdone(L) calog__luaCDone(L)
#include "stack.h"
#define luai_cstacklow(L) (calog__stackLeft() + CALOG_STACK_RELAX() < CALOG_STACK_LOW)
#define luai_cstackout(L) (calog__stackLeft() < CALOG_STACK_OUT)
/* Our patch c/patches/lua/76-finalizers-wait-for-c-stack.patch: a finalizer runs with CALOG_STACK_FIN_RELAX more C
 * stack and 16 more C-call levels than a script (so it runs wherever a script does: pass 98a lost finalizers called just
 * above the limits, and waiting near them kept every object a deep loop dropped: pass 99a); finalizers wait only below
 * that. */
#define luai_calogfinlow(L) (getCcalls(L) >= LUAI_MAXCCALLS || calog__stackLeft() + CALOG_STACK_FIN_WAIT < CALOG_STACK_LOW)
#define luai_calogfinenter(L) \
  (calog__finalizing++, getCcalls(L) >= 16 ? ((L)->nCcalls -= 16, 16) : 0)
#define luai_calogfinleave(L, d) ((void)((L)->nCcalls += (l_uint32)(d)), calog__finalizing--)
/* Our patch c/patches/lua/74-yield-through-a-crossing.patch: the message of a yield on the main thread (where an entry
 * nested in a call from the host or another engine runs): "outside a coroutine" only when no call is below it. */
__attribute__((visibility("hidden"))) const char *calog__luaYieldMsg(struct lua_State *L);
#define luai_calogyieldmsg(L) calog__luaYieldMsg(L)
