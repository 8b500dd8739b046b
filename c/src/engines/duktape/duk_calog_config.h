/* duk_calog_config.h -- calog's overrides on top of Duktape's shipped src/duk_config.h.
 *
 * build.zig force-includes this header (-include) into src/duktape.c and into the adapter sources, so the
 * engine and the adapter see one configuration. It is the "overriding #define/#undef directives" hook that
 * duk_config.h describes (see its __OVERRIDE_DEFINES__ comment), kept outside the read-only engine tree:
 *
 *   1. include the shipped duk_config.h first. duk_config.h selects its platform section (feature macros,
 *      date provider) by DUK_COMPILING_DUKTAPE, which duktape.c defines only after a forced include has
 *      run, so it is defined here for the duration of the include. In the adapter's translation units this
 *      only adds feature-test macros and date-provider macros that nothing there expands;
 *   2. override. duk_config.h #undefs the options below, and its consistency checks (e.g. "EXEC_TIMEOUT_CHECK
 *      requires INTERRUPT_COUNTER") ran inside it, so both options are (re)defined together here. Nothing
 *      else in duk_config.h derives from them.
 *
 * Overrides:
 *   DUK_EXTERNAL(_DECL)         hidden visibility for Duktape's API (see below);
 *   DUK_USE_INTERRUPT_COUNTER   the executor's periodic interrupt (a small per-opcode cost);
 *   DUK_USE_EXEC_TIMEOUT_CHECK  calls calog__dukExecTimeoutCheck(heap udata, instructions run) from that
 *                               interrupt: the context's limits (steps, deadline, interrupt, memory). A
 *                               non-zero return makes Duktape throw a RangeError, and throw again at every
 *                               later interrupt, until the script has unwound to our protected entry call;
 *   DUK_USE_NATIVE_STACK_CHECK  calog__dukStackLow(): a RangeError when this thread's C stack is nearly used
 *                               up (calls, regexp compiler and executor, JSON, and the compiler through our
 *                               patch c/patches/duktape/01-compiler-stack-check.patch), whatever the thread's
 *                               stack size (c/src/stack.h). */
#ifndef CALOG_DUK_CALOG_CONFIG_H
#define CALOG_DUK_CALOG_CONFIG_H

/* An error raised with duk_error names its source file in the script's traceback ("at [anon] (file:line)"):
 * the base name, as Duktape's own errors give, not the path the library was built at (duk_config.h keeps a
 * DUK_FILE_MACRO defined before it) */
#if defined(__FILE_NAME__)
#define DUK_FILE_MACRO __FILE_NAME__
#endif

#if defined(DUK_COMPILING_DUKTAPE)
#include "duk_config.h"
#else
#define DUK_COMPILING_DUKTAPE
#include "duk_config.h"
#undef DUK_COMPILING_DUKTAPE
#endif

#undef DUK_USE_INTERRUPT_COUNTER
#define DUK_USE_INTERRUPT_COUNTER
#undef DUK_USE_EXEC_TIMEOUT_CHECK
/* Expanded inside duk__executor_interrupt, where thr->interrupt_init is the number of instructions run since
 * the previous interrupt: the steps the limits count. */
#define DUK_USE_EXEC_TIMEOUT_CHECK(udata) calog__dukExecTimeoutCheck((udata), (long)thr->interrupt_init)
/* The interrupt interval (instructions): how often limits, deadlines and interrupts are checked (calog's
 * patch c/patches/duktape/10-calog-limits.patch makes it overridable). */
#define DUK_HTHREAD_INTCTR_DEFAULT (16L * 1024L)
/* calog's patch polls the limits from long built-in loops (regexp backtracking, Array.prototype.join) and
 * reports allocations that failed for good (after Duktape's own emergency collections). */
#define CALOG_DUK_POLL(udata) calog__dukExecTimeoutCheck((udata), 0)
#define CALOG_DUK_ALLOC_FAILED(udata) calog__dukAllocFailed((udata))
/* c/patches/duktape/77-alloc-retries-stop.patch: before each of Duktape's collect-and-retry rounds after a refused
 * allocation (up to 10 full mark-and-sweeps): false when no collection can help (the request alone is larger than
 * the memory limit) or the script is stopped (a limit tripped, the deadline passed meanwhile). */
__attribute__((visibility("hidden"))) int calog__dukAllocRetry(void *udata, unsigned long size);
#define CALOG_DUK_ALLOC_RETRY(udata, size) calog__dukAllocRetry((udata), (unsigned long)(size))
/* c/patches/duktape/94-throws-seen.patch and 95-catches-seen.patch: at every new throw and at every catch of a script's
 * try/catch, with the value thrown or caught (whether it is null; its heap pointer, NULL for a value without one):
 * see DukCtxT.bare. */
__attribute__((visibility("hidden"))) void calog__dukThrown(void *udata, int isNull, void *heapptr);
__attribute__((visibility("hidden"))) void calog__dukCaught(void *udata, int isNull, void *heapptr);
#define CALOG_DUK_THROWN(udata, isNull, heapptr) calog__dukThrown((udata), (isNull), (heapptr))
#define CALOG_DUK_CAUGHT(udata, isNull, heapptr) calog__dukCaught((udata), (isNull), (heapptr))
/* c/patches/duktape/98-finally-holds-a-throw.patch: a finally block entered by a throw holds it (parked: the block's
 * catcher is its thread and value slot) until the block's end passes it on (unparked) or the catcher goes (a catcher
 * freed; a thread freed with its catchers); see DukCtxT.bare. */
__attribute__((visibility("hidden"))) void calog__dukParked(void *udata, void *thr, unsigned long slot, int isNull,
                                                            void *heapptr);
__attribute__((visibility("hidden"))) void calog__dukUnparked(void *udata, void *thr, unsigned long slot);
__attribute__((visibility("hidden"))) void calog__dukCatcherGone(void *udata, void *thr, unsigned long slot);
__attribute__((visibility("hidden"))) void calog__dukThreadGone(void *udata, void *thr);
#define CALOG_DUK_PARKED(udata, thr, slot, isNull, heapptr) calog__dukParked((udata), (thr), (slot), (isNull), (heapptr))
#define CALOG_DUK_UNPARKED(udata, thr, slot) calog__dukUnparked((udata), (thr), (slot))
#define CALOG_DUK_CATCHER_GONE(udata, thr, slot) calog__dukCatcherGone((udata), (thr), (slot))
#define CALOG_DUK_THREAD_GONE(udata, thr) calog__dukThreadGone((udata), (thr))

/* Duktape.errCreate and Duktape.errThrow ran a script's function at every error made or thrown, calog's own included,
 * which it could replace (duk_caps.c reserves the two names). */
#undef DUK_USE_ERRCREATE
#undef DUK_USE_ERRTHROW

#undef DUK_USE_NATIVE_STACK_CHECK
#define DUK_USE_NATIVE_STACK_CHECK() calog__dukStackLow()

/* Our patch c/patches/duktape/102-finalizers-wait-for-c-stack.patch: finalizers run with CALOG_STACK_FIN_RELAX more C
 * stack and 16 more native call levels than a script, so they run wherever a script does (pass 98a lost finalizers
 * called just above the limits, and waiting near them kept every object a deep loop dropped: pass 99a); they wait only
 * below that. */
#define CALOG_DUK_FINALIZERS_WAIT(heap) calog__dukFinalizersWait((heap)->call_recursion_depth, (heap)->call_recursion_limit)
#define CALOG_DUK_FINALIZERS_BEGIN(heap) ((heap)->call_recursion_limit += 16, calog__dukFinalizing(1))
#define CALOG_DUK_FINALIZERS_END(heap) ((heap)->call_recursion_limit -= 16, calog__dukFinalizing(-1))

/* Duktape's API stays inside libcalog: only calog* symbols are exported (duk_config.h marks the API
 * visibility("default"), which -fvisibility=hidden does not override). */
#undef DUK_EXTERNAL_DECL
#define DUK_EXTERNAL_DECL __attribute__((visibility("hidden"))) extern
#undef DUK_EXTERNAL
#define DUK_EXTERNAL __attribute__((visibility("hidden")))

/* From calog's patch: the instructions the thread ran since its last interrupt, counted from now on. */
struct duk_hthread;
__attribute__((visibility("hidden"))) long calog_duk_take_steps(void *ctx);

/* Defined in duk_engine.c; hidden like every calog__ symbol. */
__attribute__((visibility("hidden"))) int calog__dukExecTimeoutCheck(void *udata, long executed);
__attribute__((visibility("hidden"))) void calog__dukAllocFailed(void *udata);
__attribute__((visibility("hidden"))) int calog__dukStackLow(void);
__attribute__((visibility("hidden"))) int calog__dukFinalizersWait(long depth, long limit);
__attribute__((visibility("hidden"))) void calog__dukFinalizing(int delta);

#endif
