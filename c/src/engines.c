/* engines.c -- the built-in engines. Adding an engine adds one line here (and its folder + build rules). */
#include "internal.h"

extern const CalogEngineT calog__luaEngine;
extern const CalogEngineT calog__duktapeEngine;
extern const CalogEngineT calog__squirrelEngine;

const CalogEngineT *const calog__engines[] = {
    &calog__luaEngine,
    &calog__duktapeEngine,
    &calog__squirrelEngine,
    NULL,
};
