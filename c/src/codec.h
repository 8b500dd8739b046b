/* codec.h -- the two ends an engine's codec works against: a source it pushes values from and a sink it
 * writes values into, each backed either by CalogValueT (the C API, engine-to-engine calls) or by the wire
 * buffers (IN / OUT: the TypeScript paths, with no CalogValueT in between). An engine writes its marshalling
 * once, against these, so both paths share every rule (policy, depth, cycles, fidelity, function values,
 * errors). Engine-neutral: nothing here knows an engine.
 *
 * Source: values in pre-order. An aggregate's item (its kind and counts) is followed by its na items, then
 * its np (key, value) pairs. A wire source reads data checked beforehand (calog__wireCheck), so reading never
 * fails but for an out-of-memory host function.
 * Sink: the engine puts scalars, and brackets aggregates with calog__sinkAggBegin / calog__sinkAggPairs
 * (what follows are key, value, key, value ...) / calog__sinkAggEnd. */
#ifndef CALOG_CODEC_H
#define CALOG_CODEC_H

#include "internal.h"

typedef struct CalogReaderT CalogReaderT;

/* One value read from a source (or written to a sink): a scalar, a function, or an aggregate's header. */
typedef struct CalogItemT {
  CalogTypeE type;
  bool owned; /* source, CALOG_FN: the item holds a reference the reader must take or release */
  uint32_t hostId; /* wire reader only: a HOSTFN (as.fn NULL) */
  union {
    bool b;
    int64_t i;
    double r;
    struct {
      const char *bytes; /* lent: valid while the source's buffer or value is */
      int64_t length;
    } s;
    CalogFnT *fn; /* lent unless owned */
    struct {
      CalogAggKindE kind;
      int64_t na, np;
    } agg;
  } as;
} CalogItemT;

typedef struct CalogSrcFrameT {
  const CalogAggT *agg;
  int64_t i, n;
} CalogSrcFrameT;

typedef struct CalogSrcT {
  CalogReaderT *rd; /* non-NULL: a wire source over checked data */
  CalogT *rt;       /* wire: the runtime whose handles FN refers to */
  int64_t remaining; /* wire: values still to read (released by calog__srcEnd) */
  /* values: the roots, then the open aggregates (frames beyond top are never read: no initialisation) */
  const CalogValueT *vals;
  int64_t nvals, vi;
  int32_t top;
  CalogSrcFrameT frames[CALOG_MAX_DEPTH + 1];
} CalogSrcT;

typedef struct CalogSinkFrameT {
  uint32_t pos;       /* wire: where the header is */
  int64_t na, np2;    /* items, and keys + values, written so far */
  bool pairs;
  bool haveKey;       /* values: key holds a pair's key waiting for its value */
  int64_t prepaid;    /* values: what the room reserved for the items cost the budget, less what items filled */
  CalogAggT *agg;     /* values */
  CalogValueT key;    /* values */
} CalogSinkFrameT;

typedef struct CalogSinkT {
  CalogT *rt;           /* non-NULL: writes the wire into rt's OUT */
  struct CalogSinkT *outer; /* wire: the sink that was writing OUT when this one began (rt->wireSink) */
  uint32_t len;         /* wire: bytes written */
  uint32_t *newHandles; /* wire: handles allocated by this sink (released if it fails) */
  uint32_t newCount, newCap;
  const char *failWhat; /* wire: what failed writing, for the error message ("cannot return the result") */
  int32_t failed;       /* the sink's own failure (OOM, RANGE, LIMIT), 0 = none */
  /* What the value may still take (bytes, < 0: no bound): the memory limit of the context whose entry runs on this
   * thread as the sink starts (budgetCtx, NULL: none), so a value a script sends out (an argument, a result, a thrown
   * value) costs the host no more than the script could hold itself. One string referenced a thousand times is a
   * thousand copies once it crosses: 1 MB held under an 8 MB limit asked the host for a gigabyte. Past it, that
   * context's memory limit trips (the entry ends with it) and the sink fails with CALOG_ERR_LIMIT. */
  int64_t budget, budgetCap;
  CalogCtxT *budgetCtx;
  /* The entry running on this thread as the sink starts (NULL: none): every CALOG_SINK_CLOCK items its timeout and
   * interrupt are looked at (calog__sinkTick), so a value that only grows as it crosses (a table that holds the
   * same table twice, thirty levels deep, is 2^30 items out of a few hundred bytes) stops at the entry's deadline
   * like any script loop, with no memory limit set (pass 31b: 16 GB and the kernel's OOM kill). */
  CalogCtxT *clockCtx;
  uint32_t ticks;
  CalogValueT *slots;   /* values: the roots */
  int64_t nslots, si;
  int32_t top;
  CalogSinkFrameT frames[CALOG_MAX_DEPTH + 1];
} CalogSinkT;

/* Sets the sink's budget from the context running here (see CalogSinkT.budget). */
CALOG_HIDDEN void calog__sinkBudget(CalogSinkT *k);
/* Past the budget: trips the memory limit of the budget's context, fails the sink. */
CALOG_HIDDEN int32_t calog__sinkOverBudget(CalogSinkT *k);
/* The running entry stopped (timeout, interrupt, dispose) while its value was being built: fails the sink with
 * CALOG_ERR_LIMIT (the entry then ends with that limit's error); else CALOG_OK. */
CALOG_HIDDEN int32_t calog__sinkClock(CalogSinkT *k);
#define CALOG_SINK_CLOCK 4096u
/* Counts an item, weighed by the bytes it copies (one per KB: a string is shared by reference in every engine, so a
 * list of one 2 MB string a thousand times is 2 GB once copied, pass 32a); past CALOG_SINK_CLOCK, calog__sinkClock:
 * every 4,096 items or 4 MB. */
static inline int32_t calog__sinkTick(CalogSinkT *k, int64_t bytes) {
  if (k->clockCtx == NULL) return CALOG_OK;
  k->ticks += 1u + (uint32_t)((uint64_t)bytes >> 10 < CALOG_SINK_CLOCK ? (uint64_t)bytes >> 10 : CALOG_SINK_CLOCK);
  if (k->ticks < CALOG_SINK_CLOCK) return CALOG_OK;
  k->ticks = 0;
  return calog__sinkClock(k);
}
/* Charges n bytes of the value being built to the sink's budget. */
static inline int32_t calog__sinkCharge(CalogSinkT *k, int64_t n) {
  if (k->budget < 0 || (k->budget -= n) >= 0) return CALOG_OK;
  return calog__sinkOverBudget(k);
}

/* ---- sources ------------------------------------------------------------------------------------- */
/* A source over n values (lent: they must outlive the source). */
CALOG_HIDDEN void calog__srcValues(CalogSrcT *s, const CalogValueT *vals, int64_t n);
/* A source over n values of rd (checked by calog__wireCheck, which gave n). */
CALOG_HIDDEN void calog__srcWire(CalogSrcT *s, CalogT *rt, CalogReaderT *rd, int64_t n);
CALOG_HIDDEN int32_t calog__valSrcNext(CalogSrcT *s, CalogItemT *it, CalogValueT *err);
CALOG_HIDDEN int32_t calog__wireSrcNext(CalogSrcT *s, CalogItemT *it, CalogValueT *err);
CALOG_HIDDEN void calog__wireSrcDrop(CalogSrcT *s, CalogItemT *it);
/* Reads the next value's item. Errors (an out-of-memory host function) go to err. */
static inline int32_t calog__srcNext(CalogSrcT *s, CalogItemT *it, CalogValueT *err) {
  return s->rd ? calog__wireSrcNext(s, it, err) : calog__valSrcNext(s, it, err);
}
/* Whether the next n values of s are all scalars (nil, booleans, numbers): values an engine can push without
 * allocating, so without a way to raise. It reads nothing. */
CALOG_HIDDEN bool calog__srcScalars(const CalogSrcT *s, int64_t n);
/* Discards an item read and not used: an aggregate's contents are skipped, an owned function released. */
static inline void calog__srcDrop(CalogSrcT *s, CalogItemT *it) {
  if (s->rd) calog__wireSrcDrop(s, it);
  else if (it->type == CALOG_AGGREGATE) s->top--;
}
/* Ends a source: what was not read is released (host functions the host counted). Call it on every path. */
CALOG_HIDDEN void calog__srcEnd(CalogSrcT *s);

/* ---- sinks --------------------------------------------------------------------------------------- */
/* A sink into n slots (set to nil; on failure what was written is freed again). */
CALOG_HIDDEN void calog__sinkValues(CalogSinkT *k, CalogValueT *slots, int64_t n);
/* A sink into rt's OUT from offset `at` (failWhat names it in errors, e.g. "cannot return the result"). */
CALOG_HIDDEN void calog__sinkWire(CalogSinkT *k, CalogT *rt, uint32_t at, const char *failWhat);
/* Puts a scalar (NIL, BOOL, INT, REAL, STRING) or a function (CALOG_FN: takes the item's reference). */
CALOG_HIDDEN int32_t calog__sinkPut(CalogSinkT *k, CalogItemT *it);
/* Opens an aggregate (counts: a hint for the value backend). */
CALOG_HIDDEN int32_t calog__sinkAggBegin(CalogSinkT *k, int64_t naHint, int64_t npHint);
CALOG_HIDDEN void calog__sinkAggPairs(CalogSinkT *k);
/* Closes the innermost aggregate with the kind the engine gives it. */
CALOG_HIDDEN int32_t calog__sinkAggEnd(CalogSinkT *k, CalogAggKindE kind);
/* The error for a failed sink call, into err (st: what the call returned). Returns st. */
CALOG_HIDDEN int32_t calog__sinkFail(CalogSinkT *k, int32_t st, CalogValueT *err);
/* Ends a sink: ok = false frees what the value backend wrote, and releases the wire backend's new handles.
 * *lenOut (may be NULL): the wire bytes written. */
CALOG_HIDDEN void calog__sinkEnd(CalogSinkT *k, bool ok, uint32_t *lenOut);

/* ---- an engine entry with CalogValueT arguments and result (the C API, calls between engines) ---------- */
typedef struct CalogValueCallT {
  CalogSrcT args;  /* over the arguments (lent) */
  CalogSinkT out;  /* into value */
  CalogValueT value, err;
} CalogValueCallT;
CALOG_HIDDEN void calog__valueCallBegin(CalogValueCallT *c, CalogValueT *args, int32_t argc);
/* Ends the entry whose status is st: result (freed first) gets the value, or the error. Returns st. */
CALOG_HIDDEN int32_t calog__valueCallEnd(CalogValueCallT *c, int32_t st, CalogValueT *result);

static inline int32_t calog__sinkScalar(CalogSinkT *k, CalogTypeE type, int64_t i, double r) {
  CalogItemT it;
  it.type = type;
  if (type == CALOG_BOOL) it.as.b = i != 0;
  else if (type == CALOG_INT) it.as.i = i;
  else it.as.r = r;
  return calog__sinkPut(k, &it);
}
static inline int32_t calog__sinkString(CalogSinkT *k, const char *s, int64_t n) {
  CalogItemT it;
  it.type = CALOG_STRING;
  it.as.s.bytes = s;
  it.as.s.length = n;
  return calog__sinkPut(k, &it);
}
static inline int32_t calog__sinkFn(CalogSinkT *k, CalogFnT *fn) {
  CalogItemT it;
  it.type = CALOG_FN;
  it.as.fn = fn;
  return calog__sinkPut(k, &it);
}

#endif
