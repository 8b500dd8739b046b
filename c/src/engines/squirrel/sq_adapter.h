/* sq_adapter.h -- private to the Squirrel engine: adapter (marshalling, trampolines) and engine binding.
 * Built with -D_SQ64 -DSQUSEDOUBLE like the engine itself, so SQInteger is int64_t and SQFloat is double. */
#ifndef CALOG_SQ_ADAPTER_H
#define CALOG_SQ_ADAPTER_H

#include "../../codec.h"
#include "../../policy/policy.h"

#include "squirrel.h"

#include "sq_vmext.h"

#if !defined(_SQ64) || !defined(SQUSEDOUBLE)
#error "the Squirrel adapter needs -D_SQ64 -DSQUSEDOUBLE (64-bit integers, double floats)"
#endif
_Static_assert(sizeof(SQInteger) == sizeof(int64_t), "SQInteger must be 64-bit");
_Static_assert(sizeof(SQFloat) == sizeof(double), "SQFloat must be double");

#define SQ_INITIAL_STACK 1024
#define SQ_TRACE_LEVELS 24 /* stack frames kept in a traceback (first ones; the rest are counted) */

typedef struct SqCtxT {
  HSQUIRRELVM vm; /* the root VM; NULL once closed */
  CalogCtxT *ctx;
  int64_t mem;          /* bytes held by this VM (see sq_vmext.cpp: relaxed atomic accesses only) */
  long long chunk;      /* the instruction budget the VM was last given (limits tick) */
  HSQOBJECT fnClass;    /* class of the holders of foreign function values (pinned) */
  HSQOBJECT errHandler; /* native error handler closure (pinned) */
  HSQOBJECT root;       /* the root table made at create (pinned): registrations land there whatever setroottable did */
  /* the last runtime error seen by the error handler: its traceback */
  char *trace;
  size_t traceLen, traceCap;
  bool traceSet;
  /* the last compiler error */
  char compileMsg[512];
  bool compileSet;
  CalogCapsT caps;     /* what scripts may reach (the "capabilities" option) */
  char raisedMsg[512]; /* scratch for the message of an error calog raises (a denial, the output limit) */
  /* The last error calog raised with marks (CalogRaiseT) or with a message of its own: the raised object (type
   * and pointer) until a try/catch of the script catches anything (CALOG_SQ_CAUGHT, patch 80) or the entry ends.
   * msg (owned, NULL: none): the raised object is one another engine threw, and this the message it had there (its
   * __tostring, toString or _tostring said it), which the error says again when it leaves Squirrel uncaught. */
  struct {
    bool set;
    SQObjectType type;
    SQRawObjectVal raw;
    CalogRaiseT mark;
    char *msg;
    int64_t msgLen;
  } raise;
} SqCtxT;

/* a Squirrel closure exported as a function value */
typedef struct SqFnRefT {
  SqCtxT *sc;
  HSQOBJECT obj; /* pinned with sq_addref on the root VM */
} SqFnRefT;

enum { SQ_RUN_EVAL, SQ_RUN_CALL, SQ_RUN_GET, SQ_RUN_REF };

CALOG_HIDDEN SqCtxT *calog__sqCtx(HSQUIRRELVM v);
/* sq_caps.c: the libraries the capabilities allow, print/error and the VM's printers to the output sink */
CALOG_HIDDEN int32_t calog__sqOpenLibs(SqCtxT *sc, CalogValueT *err);
CALOG_HIDDEN void calog__sqPrintFn(HSQUIRRELVM v, const SQChar *fmt, ...);
CALOG_HIDDEN void calog__sqErrorFn(HSQUIRRELVM v, const SQChar *fmt, ...);
CALOG_HIDDEN const char *calog__sqTypeName(SQObjectType t);
/* Whether bytes more would put the context past its memory limit (then the limit trips): sq_engine.c. */
CALOG_HIDDEN int calog__sqLimitRoom(void *sc, long long bytes);
/* Forgets the raise calog made last (the error being raised was caught, or is not the entry's). */
CALOG_HIDDEN void calog__sqCaught(HSQUIRRELVM v);
/* Makes room for n values on v's stack (false inside a metamethod when the stack would have to move). */
CALOG_HIDDEN bool calog__sqReserveOk(HSQUIRRELVM v, SQInteger n);
/* The Squirrel codec (design sec 4), the one set of marshalling rules for every path: calog__sqRead writes the
 * value at idx into a sink (the stack top is left as found); calog__sqPushFrom pushes the next value of a
 * source (the caller made room for two slots). Neither raises. calog__sqToValue / calog__sqPush are the same
 * for one CalogValueT (calog__sqPush makes its room itself). */
CALOG_HIDDEN int32_t calog__sqRead(SqCtxT *sc, HSQUIRRELVM v, SQInteger idx, CalogSinkT *sink, CalogValueT *err);
CALOG_HIDDEN int32_t calog__sqPushFrom(SqCtxT *sc, HSQUIRRELVM v, CalogSrcT *s, CalogValueT *err);
CALOG_HIDDEN int32_t calog__sqToValue(SqCtxT *sc, HSQUIRRELVM v, SQInteger idx, CalogValueT *out, CalogValueT *err);
CALOG_HIDDEN int32_t calog__sqPush(SqCtxT *sc, HSQUIRRELVM v, const CalogValueT *val, CalogValueT *err);
CALOG_HIDDEN int32_t calog__sqOpenFnClass(SqCtxT *sc, CalogValueT *err);
/* Sets the globals net and timer (the I/O layer) in the root table. */
CALOG_HIDDEN int32_t calog__sqOpenIo(SqCtxT *sc, CalogValueT *err);
CALOG_HIDDEN void calog__sqPushNative(HSQUIRRELVM v, CalogNativeEntryT *entry);
CALOG_HIDDEN SQInteger calog__sqErrorHandler(HSQUIRRELVM v);
/* Raises the value on top of v's stack (popped) as a Squirrel error remembering mark (see SqCtxT.raise). */
CALOG_HIDDEN SQInteger calog__sqRaise(HSQUIRRELVM v, CalogRaiseT mark);
/* The marks of the error object on top of v's stack if it is the one calog__sqRaise raised last and no
 * try/catch caught anything since, and the message it carries (*msg: NULL when none; valid until the next raise);
 * forgets that raise. */
CALOG_HIDDEN CalogRaiseT calog__sqRaisedMark(HSQUIRRELVM v, const char **msg, int64_t *msgLen);
CALOG_HIDDEN int32_t calog__sqFnInvoke(CalogValueT *args, int32_t argc, CalogValueT *result, void *userData);
CALOG_HIDDEN void calog__sqFnRelease(void *userData);
/* Runs one operation on the VM: eval a chunk, call a global, read a global, or call a pinned closure, with
 * argc arguments read from args and the return value put into out (or the error in err). The stack is left as
 * it was found. */
CALOG_HIDDEN int32_t calog__sqRun(SqCtxT *sc, int kind, const char *name, const char *src, int64_t len,
                                  const HSQOBJECT *ref, CalogSrcT *args, int32_t argc, CalogSinkT *out,
                                  CalogValueT *err);
/* The same with CalogValueT arguments (lent) and the result or error in result. */
CALOG_HIDDEN int32_t calog__sqRunValues(SqCtxT *sc, int kind, const char *name, const char *src, int64_t len,
                                        const HSQOBJECT *ref, CalogValueT *args, int32_t argc, CalogValueT *result);

#endif
