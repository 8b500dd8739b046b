/* sq_vmext.h -- C view of sq_vmext.cpp (memory accounting, a stack reservation safe for live frames, and the
 * recursion guard). */
#ifndef CALOG_SQ_VMEXT_H
#define CALOG_SQ_VMEXT_H

#include <stdint.h>

#include "squirrel.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Points this thread's allocation counter at counter (NULL: stop counting); returns the previous one. */
__attribute__((visibility("hidden"))) int64_t *calog__sqMemSwap(int64_t *counter);
/* Makes room for n more values on v's stack, relocating open outers; 0 if the VM forbids growing now
 * (inside a metamethod). */
__attribute__((visibility("hidden"))) int calog__sqReserve(HSQUIRRELVM v, SQInteger n);

/* Gives back what a deep recursion grew v's value stack and call stack to (they only grow), once no frame is left
 * (the end of an outermost entry): the value stack back to initial slots past 4x that, the call stack to 4 frames.
 * A context that a runaway recursion took to its memory limit held that much for good, and failed every later entry
 * at the limit with nothing of the script's to free. */
__attribute__((visibility("hidden"))) void calog__sqShrink(HSQUIRRELVM v, SQUnsignedInteger initial);

/* Raw access for the codec (sq_adapter.c), without the API's error objects (no script runs, nothing raised):
 * the bytes and length of a string object; push item i (< size) of the array at idx; push the value of the
 * integer key `key` of the table at idx and return 1, or return 0 (nothing pushed) when it has none; make
 * room for n items in the array at idx. */
__attribute__((visibility("hidden"))) const char *calog__sqStringOf(const HSQOBJECT *o, SQInteger *len);
__attribute__((visibility("hidden"))) void calog__sqArrayPush(HSQUIRRELVM v, SQInteger idx, SQInteger i);
__attribute__((visibility("hidden"))) int calog__sqTableGetInt(HSQUIRRELVM v, SQInteger idx, SQInteger key);
__attribute__((visibility("hidden"))) void calog__sqArrayReserve(HSQUIRRELVM v, SQInteger idx, SQInteger n);
/* Makes handler (a closure) v's error handler, as sq_seterrorhandler does, when it is not already. */
__attribute__((visibility("hidden"))) void calog__sqSetErrorHandler(HSQUIRRELVM v, const HSQOBJECT *handler);

/* Runs the _tostring metamethod of the table, userdata or instance at idx, as sq_tostring does: 0 when it has none
 * (nothing pushed), 1 with the string it returned pushed, 2 when it returned another type (*returned, nothing pushed),
 * -1 when it threw (sq_getlasterror has the value). */
__attribute__((visibility("hidden"))) int calog__sqToStringMeta(HSQUIRRELVM v, SQInteger idx, SQObjectType *returned);

/* The recursion guard (see sq_vmext.cpp). Every entry into a context's root VM is bracketed by Enter/Leave
 * (they nest: save is the caller's); every thread VM the scripts create is armed with GuardThread. */
typedef struct SqGuardSaveT {
  HSQUIRRELVM vm;
  char *anchor;
} SqGuardSaveT;
__attribute__((visibility("hidden"))) void calog__sqGuardEnter(HSQUIRRELVM v, SqGuardSaveT *save);
__attribute__((visibility("hidden"))) void calog__sqGuardLeave(HSQUIRRELVM v, const SqGuardSaveT *save);
__attribute__((visibility("hidden"))) void calog__sqGuardThread(HSQUIRRELVM thread);
/* Makes the VM run its limits tick before its next instruction (a limit just tripped). */
__attribute__((visibility("hidden"))) void calog__sqBudgetExpire(HSQUIRRELVM v);
/* Runs the VM's limits tick now (the steps since the last one counted exactly): 1 with the error raised in v when
 * a limit of the context tripped (the VM raises it again before its next instruction), else 0. */
__attribute__((visibility("hidden"))) int calog__sqTickNow(HSQUIRRELVM v);
/* Counts the instructions run since the last limits tick (at the end of an entry) and starts a new budget. */
__attribute__((visibility("hidden"))) void calog__sqBudgetFlush(HSQUIRRELVM v);

#ifdef __cplusplus
}
#endif
#endif
