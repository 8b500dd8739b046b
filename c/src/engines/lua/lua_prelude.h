/* lua_prelude.h -- force-included (-include) into every Lua engine source, never edited into them.
 * Our patch c/patches/lua/01-c-stack-check.patch checks these with Lua's C-call count: a thread whose stack
 * is nearly used up fails with "C stack overflow" before LUAI_MAXCCALLS levels. */
#include "stack.h"
#define luai_cstacklow(L) (calog__stackLeft() < CALOG_STACK_LOW)
#define luai_cstackout(L) (calog__stackLeft() < CALOG_STACK_OUT)
