/* sq_prelude.h -- force-included (-include) into every Squirrel engine source, never edited into them.
 * Squirrel 3.1's private sqobject.h does `#define type(obj) ((obj)._type)`; a C++ standard <math.h> that is
 * first included after it (sqvm.cpp includes <math.h> after sqpcheader.h) breaks on <limits>, whose code
 * says `type()`. Including <math.h> first makes the later include a no-op. */
#include <math.h>

/* The hooks of calog's patch (c/patches/squirrel/10-calog-limits.patch), defined in sq_vmext.cpp:
 *   CALOG_SQ_TICK       run when the VM's instruction budget runs out: true (error raised) when a limit of
 *                       the context tripped;
 *   CALOG_SQ_SIZECHECK  run before a built-in allocates n elements of elem bytes at once (array(n), resize,
 *                       blob): true (error raised) for a negative or impossible size or one past the limit. */
struct SQVM;
extern "C" __attribute__((visibility("hidden"))) bool calog__sqTick(struct SQVM *v);
extern "C" __attribute__((visibility("hidden"))) bool calog__sqSizeCheck(struct SQVM *v, long long n, long long elem);
#define CALOG_SQ_TICK(v) calog__sqTick(v)
#define CALOG_SQ_SIZECHECK(v, n, elem) calog__sqSizeCheck((v), (long long)(n), (long long)(elem))
/* Our patch c/patches/squirrel/130-native-calls-look-at-the-clock.patch: run after a native function returns; every
 * 16th looks at the limits (the deadline, interrupt(), the entries below): a loop of natives each doing linear work on
 * a long string or blob (tofloat, blob.swap4) ran seconds past its timeout between two ticks. When one tripped, the
 * next instruction raises it. */
extern "C" __attribute__((visibility("hidden"))) void calog__sqNativeDone(struct SQVM *v);
#define CALOG_SQ_NATIVE_DONE(v) calog__sqNativeDone(v)
/* CALOG_SQ_POLL(v, cost): a long built-in loop (regexp search) counts cost steps; true (error raised in v)
 * when a limit tripped. calog__sqRexVm: the VM whose regexp native is searching (set by the patched
 * natives, NULL otherwise; the poll clears it when it raised). */
extern "C" __attribute__((visibility("hidden"))) bool calog__sqPoll(struct SQVM *v, long long cost);
extern "C" __attribute__((visibility("hidden"))) __thread struct SQVM *calog__sqRexVm;
#define CALOG_SQ_POLL(v, cost) calog__sqPoll((v), (cost))
/* CALOG_SQ_CAUGHT(v) (patch 80): a try/catch caught the error being raised in v (sq_adapter.c). */
extern "C" __attribute__((visibility("hidden"))) void calog__sqCaught(struct SQVM *v);
#define CALOG_SQ_CAUGHT(v) calog__sqCaught(v)

/* Our patch c/patches/squirrel/01-compiler-nesting-limit.patch refuses a source nested past a fixed cap or
 * past what this thread's C stack holds. */
#include "stack.h"
#define SQ_STACK_LOW() (calog__stackLeft() < CALOG_STACK_LOW)
