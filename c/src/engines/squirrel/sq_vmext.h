/* sq_vmext.h -- C view of sq_vmext.cpp (memory accounting and a stack reservation safe for live frames). */
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

#ifdef __cplusplus
}
#endif
#endif
