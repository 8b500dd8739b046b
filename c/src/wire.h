/* wire.h -- the compact binary format values cross the FFI in (one call per crossing, reused buffers).
 *
 * Every value is one tag byte followed by its payload, little-endian:
 *   NIL, FALSE, TRUE               no payload
 *   I32   int32                    an int that fits 32 bits (compact form of INT)
 *   INT   int64
 *   REAL  float64
 *   STR   u32 length, bytes        valid UTF-8 (C -> host); any text (host -> C)
 *   BIN   u32 length, bytes        bytes that are not valid UTF-8 (C -> host); a Uint8Array (host -> C)
 *   LIST  u32 n, n values
 *   MAP   u32 n, n (key, value)
 *   BOTH  u32 na, u32 np, na values, np (key, value)
 *   FN    u32 slot, u32 gen        a function handle; C -> host: a new reference the host must release
 *                                  with calogFnReleaseWire; host -> C: a borrowed handle
 *   HOSTFN u32 id                  a host (JS) function; C -> host: the host's own function coming home
 * Argument lists are encoded as one LIST. The TypeScript codec (src/wire.ts) mirrors this file. */
#ifndef CALOG_WIRE_H
#define CALOG_WIRE_H

#include "codec.h"

enum {
  CALOG_W_NIL = 0,
  CALOG_W_FALSE = 1,
  CALOG_W_TRUE = 2,
  CALOG_W_I32 = 3,
  CALOG_W_INT = 4,
  CALOG_W_REAL = 5,
  CALOG_W_STR = 6,
  CALOG_W_BIN = 7,
  CALOG_W_LIST = 8,
  CALOG_W_MAP = 9,
  CALOG_W_BOTH = 10,
  CALOG_W_FN = 11,
  CALOG_W_HOSTFN = 12
};

typedef struct CalogReaderT {
  const uint8_t *buf;
  uint32_t len, pos;
} CalogReaderT;

/* Encodes v, a result or (error) an error record, into OUT (from offset 0); *lenOut receives the byte count.
 * Function values get handles. An error record's own level does not count toward the depth cap, so a thrown value
 * crosses at any depth a returned one does (one 100 deep lost its value and message). */
CALOG_HIDDEN int32_t calog__wireEncodeOutcome(CalogT *rt, const CalogValueT *v, bool error, uint32_t *lenOut);
/* Encodes an argument list as one LIST into OUT. */
CALOG_HIDDEN int32_t calog__wireEncodeArgs(CalogT *rt, const CalogValueT *args, int32_t argc, uint32_t *lenOut);
/* Checks n values from rd's position (rd is not moved) as calog__wireDecode would read them, failing with
 * the same first error; *hostFn: whether they hold a host function (HOSTFN). Builds nothing. */
CALOG_HIDDEN int32_t calog__wireCheck(CalogT *rt, const CalogReaderT *rd, int64_t n, bool *hostFn, CalogValueT *err);
/* The bytes of the next n values of rd when all are scalars within the data (nothing more to check); else -1. */
CALOG_HIDDEN int64_t calog__wireScalarRun(const CalogReaderT *rd, int64_t n);
/* Reads an argument list's header (as calog__wireDecodeArgs) and checks its values (rd left on the first). */
CALOG_HIDDEN int32_t calog__wireCheckArgs(CalogT *rt, CalogReaderT *rd, int32_t *argc, bool *hostFn, CalogValueT *err);
/* The wire backend of a sink (codec.h dispatches to these). */
CALOG_HIDDEN int32_t calog__wireSinkPut(CalogSinkT *k, CalogItemT *it);
CALOG_HIDDEN int32_t calog__wireSinkAggBegin(CalogSinkT *k);
CALOG_HIDDEN int32_t calog__wireSinkAggEnd(CalogSinkT *k, CalogAggKindE kind);
CALOG_HIDDEN void calog__wireSinkEnd(CalogSinkT *k, bool ok, uint32_t *lenOut);
/* Decodes one value; out owns what it decoded (nil on failure, nothing leaked). */
CALOG_HIDDEN int32_t calog__wireDecode(CalogT *rt, CalogReaderT *rd, CalogValueT *out, CalogValueT *err);
/* Decodes a LIST into args: uses stackBuf (cap entries) when it fits, else allocates (*argsOut !=
 * stackBuf). Free with calog__argsFree. */
CALOG_HIDDEN int32_t calog__wireDecodeArgs(CalogT *rt, CalogReaderT *rd, CalogValueT *stackBuf, int32_t cap,
                                           CalogValueT **argsOut, int32_t *argcOut, CalogValueT *err);
CALOG_HIDDEN void calog__argsFree(CalogValueT *args, int32_t argc, CalogValueT *stackBuf);
/* Reads a STR into a NUL-terminated lent pointer into the IN buffer... copied to a caller buffer. */
CALOG_HIDDEN int32_t calog__wireReadString(CalogReaderT *rd, const char **s, uint32_t *len);

/* The host trampoline: a host function as a native (userData: CalogHostFnT). */
typedef struct CalogHostFnT {
  CalogT *rt;
  uint32_t id;
} CalogHostFnT;
/* A call of a host function straight from an engine (host thread): calog__hostCallBegin writes the LIST
 * header into OUT; the engine puts the arguments into c->args; calog__hostCallRun calls the host and gives the
 * result as a source (a wire source over IN, or, when it holds host functions, *viaValue and the value in
 * result, to be kept by the engine while it pushes it). The wire source reads a copy of IN in copy (copyCap
 * bytes; a larger result comes as a value): pushing may run code whose host calls rewrite IN. Errors are in result. calog__hostTrampoline is the
 * same for CalogValueT arguments. Begin failing: call calog__hostCallAbort (or Run, which reports it). */
typedef struct CalogHostCallT {
  CalogHostFnT *h;
  uint8_t *saved; /* OUT as a wire sink the call interrupts had written it (put back once the host returned) */
  uint32_t savedLen;
  CalogMsgT *deferrable;
  uint32_t token;
  CalogReaderT rd;
  CalogSinkT args;
} CalogHostCallT;
CALOG_HIDDEN int32_t calog__hostCallBegin(CalogHostCallT *c, CalogHostFnT *h, int32_t argc, CalogValueT *err);
CALOG_HIDDEN int32_t calog__hostCallRun(CalogHostCallT *c, CalogSrcT *src, uint8_t *copy, uint32_t copyCap,
                                        bool *viaValue, CalogValueT *result);
CALOG_HIDDEN void calog__hostCallAbort(CalogHostCallT *c);
CALOG_HIDDEN int32_t calog__hostTrampoline(CalogValueT *args, int32_t argc, CalogValueT *result, void *ud);
CALOG_HIDDEN void calog__hostRelease(void *ud);
/* For an engine's native trampoline (runtime.c): when e is bound to a host function and this is the host
 * thread, a counted reference on the binding and its host function in *h, for calog__hostCallBegin; end with
 * calog__nativeHostDone. NULL: call through calog__nativeInvoke. */
CALOG_HIDDEN CalogBindingT *calog__nativeHostBinding(CalogNativeEntryT *e, CalogHostFnT **h);
CALOG_HIDDEN void calog__nativeHostDone(CalogNativeEntryT *e, CalogBindingT *b);

#endif
