/* sq_prelude.h -- force-included (-include) into every Squirrel engine source, never edited into them.
 * Squirrel 3.1's private sqobject.h does `#define type(obj) ((obj)._type)`; a C++ standard <math.h> that is
 * first included after it (sqvm.cpp includes <math.h> after sqpcheader.h) breaks on <limits>, whose code
 * says `type()`. Including <math.h> first makes the later include a no-op. */
#include <math.h>

/* Our patch c/patches/squirrel/01-compiler-nesting-limit.patch refuses a source nested past a fixed cap or
 * past what this thread's C stack holds. */
#include "stack.h"
#define SQ_STACK_LOW() (calog__stackLeft() < CALOG_STACK_LOW)
