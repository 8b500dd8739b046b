/* stack.h -- the C stack left on this thread, for the broker and for the engines' own checks (the engine
 * preludes include this header, so it stays plain C/C++ with no other dependency). See stack.c. */
#ifndef CALOG_STACK_H
#define CALOG_STACK_H

#include <stddef.h>

/* An entry into an interpreter (eval, call, get, a function value) is refused with CALOG_ERR_NESTING when
 * less than this is left: below it, the engines would fail at once anyway. */
#define CALOG_STACK_ENTRY (192u * 1024u)
/* A host-thread context is closed (its interpreter's finalizers run, each an entry) only with this much left: with
 * less, finalizers fail for want of stack and what they would release is kept for good. src/runtime.ts's
 * roomToTearDown asks the same of a dispose. */
#define CALOG_STACK_TEARDOWN (CALOG_STACK_ENTRY + 32u * 1024u)
/* Finalizers run with this much less than CALOG_STACK_LOW before the engines' checks fail (calog__finalizing), so one
 * runs wherever a script does (the frames between the collector's test and the call's own check fit in the rest); they
 * wait for a later step only with less than CALOG_STACK_LOW - CALOG_STACK_FIN_WAIT left (see the engines' patches:
 * c/patches/lua/76, c/patches/duktape/102). */
#define CALOG_STACK_FIN_RELAX (16u * 1024u)
#define CALOG_STACK_FIN_WAIT (8u * 1024u)
/* Engines raise their "stack overflow" error when less than this is left (Lua: "C stack overflow", Duktape:
 * RangeError, Squirrel: a compile error or the recursion guard), keeping room for the error path. */
#define CALOG_STACK_LOW (128u * 1024u)
/* Below this, even an error handler would not fit: Lua gives up with "error in error handling". */
#define CALOG_STACK_OUT (32u * 1024u)

#ifdef __cplusplus
extern "C" {
#endif
/* Bytes of C stack left below the caller's frame on this thread ((size_t)-1 if the bounds are unknown). */
__attribute__((visibility("hidden"))) size_t calog__stackLeft(void);
/* Finalizer runs in progress on this thread (an engine's, nested in another's through a crossing too). While there is
 * one, the engines' stack checks let CALOG_STACK_FIN_RELAX go below CALOG_STACK_LOW (CALOG_STACK_RELAX): once, however
 * deeply they nest (added up, eight nested runs let a script recurse to the thread's end). */
extern __attribute__((visibility("hidden"))) __thread unsigned calog__finalizing;
#define CALOG_STACK_RELAX() (calog__finalizing != 0 ? (size_t)CALOG_STACK_FIN_RELAX : (size_t)0)
#ifdef __cplusplus
}
#endif

#endif
