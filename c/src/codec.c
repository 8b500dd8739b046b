/* codec.c -- the CalogValueT backends of sources and sinks, and the sink calls (codec.h); the wire backends
 * are in wire.c. */
#include "codec.h"

#include "wire.h"

/* ---- values as a source ------------------------------------------------------------------------ */
void calog__srcValues(CalogSrcT *s, const CalogValueT *vals, int64_t n) {
  s->rd = NULL;
  s->rt = NULL;
  s->remaining = 0;
  s->vals = vals;
  s->nvals = n;
  s->vi = 0;
  s->top = -1;
}

bool calog__srcScalars(const CalogSrcT *s, int64_t n) {
  if (s->rd) return calog__wireScalarRun(s->rd, n) >= 0;
  if (s->top >= 0 || s->nvals - s->vi < n) return false;
  for (int64_t i = 0; i < n; i++)
    if (s->vals[s->vi + i].type > CALOG_REAL) return false;
  return true;
}

int32_t calog__valSrcNext(CalogSrcT *s, CalogItemT *it, CalogValueT *err) {
  const CalogValueT *v;
  while (s->top >= 0 && s->frames[s->top].i == s->frames[s->top].n) s->top--;
  if (s->top < 0) {
    if (s->vi >= s->nvals) return calogFail(err, CALOG_ERR_INTERNAL, "read past the end of a value source");
    v = &s->vals[s->vi++];
  } else {
    CalogSrcFrameT *f = &s->frames[s->top];
    int64_t i = f->i++;
    const CalogAggT *a = f->agg;
    if (i < a->arrayCount) v = &a->array[i];
    else {
      i -= a->arrayCount;
      v = i & 1 ? &a->pairs[i >> 1].value : &a->pairs[i >> 1].key;
    }
  }
  it->type = v->type;
  it->owned = false;
  switch (v->type) {
  case CALOG_NIL: break;
  case CALOG_BOOL: it->as.b = v->as.b; break;
  case CALOG_INT: it->as.i = v->as.i; break;
  case CALOG_REAL: it->as.r = v->as.r; break;
  case CALOG_STRING:
    it->as.s.bytes = v->as.s.bytes;
    it->as.s.length = v->as.s.length;
    break;
  case CALOG_FN: it->as.fn = v->as.fn; break;
  case CALOG_AGGREGATE: {
    const CalogAggT *a = v->as.agg;
    if (s->top + 1 > CALOG_MAX_DEPTH)
      return calogFail(err, CALOG_ERR_DEPTH, "value nesting exceeds the depth cap (%d)", CALOG_MAX_DEPTH);
    it->as.agg.kind = a->kind;
    it->as.agg.na = a->arrayCount;
    it->as.agg.np = a->pairCount;
    CalogSrcFrameT *f = &s->frames[++s->top];
    f->agg = a;
    f->i = 0;
    f->n = a->arrayCount + 2 * a->pairCount;
    break;
  }
  }
  return CALOG_OK;
}

/* ---- the budget of a sink ------------------------------------------------------------------------- */
void calog__sinkBudget(CalogSinkT *k) {
  CalogCtxT *ctx = calog__runningHere();
  int64_t cap = ctx != NULL ? calog__limitMemory(ctx) : 0;
  k->budgetCtx = cap > 0 ? ctx : NULL;
  k->budgetCap = cap > 0 ? cap : 0;
  k->budget = cap > 0 ? cap : -1;
  k->clockCtx = ctx;
  k->ticks = 0;
}

int32_t calog__sinkClock(CalogSinkT *k) {
  /* the full tick, not only the entry's own deadline: a nested entry with no timeout of its own (a host function's
   * eval under a caller's timeoutMs, a function value called by a timed script) stops at the deadlines and stops of
   * the entries and requests below it (pass 32a: 2-9 s past the caller's deadline) */
  CalogCtxT *ctx = k->clockCtx;
  /* what it built counts as the entry's work too, a step per item and per KB (pass 32a: a context limited to 100,000
   * steps returned 2^22 leaves of shared references, 3 GB built in the host) */
  int32_t stop;
  if (calog__ctxInEntry(ctx) && !atomic_load(&ctx->dying)) {
    /* the tick looks at the deadlines too: one tick, not a second one through calog__limitStopped */
    if (calog__limitTripped(ctx) == CALOG_LIMIT_NONE) (void)calog__limitTick(ctx, CALOG_SINK_CLOCK, NULL);
    stop = calog__limitTripped(ctx);
  } else {
    stop = calog__limitStopped(ctx); /* dying (INTERRUPT) or outside an entry (NONE) */
  }
  if (stop == CALOG_LIMIT_NONE) return CALOG_OK;
  if (k->failed == 0) k->failed = CALOG_ERR_LIMIT;
  return CALOG_ERR_LIMIT;
}

/* Gives back the room f's aggregate reserved and its items did not fill (it grows again as items come): what it
 * refunds to the budget, 0 if nothing (or a realloc kept the room). Values sinks only. */
static int64_t giveBackRoom(CalogSinkFrameT *f) {
  if (f->prepaid <= 0 || !calog__aggShrink(f->agg)) return 0;
  int64_t back = f->prepaid;
  f->prepaid = 0;
  return back;
}

int32_t calog__sinkOverBudget(CalogSinkT *k) {
  if (k->rt == NULL) {
    /* first the room the open aggregates reserved from their engines' hints and have not filled. A hint far above
     * what comes (a Lua table of 41 entries whose border is 2^40) took the whole budget, and the strings and tables
     * among its items were refused (pass 30a) */
    int64_t back = 0;
    for (int32_t i = 0; i <= k->top; i++) back += giveBackRoom(&k->frames[i]);
    if (back > 0 && (k->budget += back) >= 0) return CALOG_OK;
  }
  int64_t needed = k->budgetCap - k->budget;
  k->budget = -1; /* tripped once: the rest of the value is not built anyway */
  calog__limitTrip(k->budgetCtx, CALOG_LIMIT_MEMORY, needed, k->budgetCap);
  if (k->failed == 0) k->failed = CALOG_ERR_LIMIT;
  return CALOG_ERR_LIMIT;
}

/* ---- values as a sink -------------------------------------------------------------------------- */
/* What a value takes in the tree, besides its bytes (the charge of calog__sinkCharge). */
enum { VALUE_COST = (int64_t)sizeof(CalogValueT), PAIR_COST = (int64_t)sizeof(CalogPairT) };

void calog__sinkValues(CalogSinkT *k, CalogValueT *slots, int64_t n) {
  k->rt = NULL;
  calog__sinkBudget(k);
  k->failed = 0;
  k->slots = slots;
  k->nslots = n;
  k->si = 0;
  k->top = -1;
  for (int64_t i = 0; i < n; i++) slots[i] = calogValueNil();
}

/* Places v (taken) where the sink is: a root slot, an item, a pair's key or its value. */
static int32_t valPlace(CalogSinkT *k, CalogValueT *v) {
  if (k->top < 0) {
    if (k->si >= k->nslots) {
      calogValueFree(v);
      return CALOG_ERR_INTERNAL;
    }
    calogValueMove(&k->slots[k->si++], v);
    return CALOG_OK;
  }
  CalogSinkFrameT *f = &k->frames[k->top];
  CalogAggT *a = f->agg;
  int32_t st;
  if (!f->pairs) {
    if ((st = calog__aggReserve(a, a->arrayCount + 1, 0)) != CALOG_OK) {
      calogValueFree(v);
      return st;
    }
    calogValueMove(&a->array[a->arrayCount++], v);
    return CALOG_OK;
  }
  if (!f->haveKey) {
    calogValueMove(&f->key, v);
    f->haveKey = true;
    return CALOG_OK;
  }
  if ((st = calog__aggReserve(a, 0, a->pairCount + 1)) != CALOG_OK) {
    calogValueFree(v);
    return st;
  }
  CalogPairT *p = &a->pairs[a->pairCount++];
  calogValueMove(&p->key, &f->key);
  calogValueMove(&p->value, v);
  f->haveKey = false;
  return CALOG_OK;
}

static int32_t failed(CalogSinkT *k, int32_t st) {
  if (st != CALOG_OK && k->failed == 0) k->failed = st;
  return st;
}

/* The slot a value takes where it goes: out of the room its aggregate reserved and paid for, else charged. */
static int32_t chargeSlot(CalogSinkT *k) {
  if (k->top >= 0 && k->frames[k->top].prepaid >= VALUE_COST) {
    k->frames[k->top].prepaid -= VALUE_COST;
    return CALOG_OK;
  }
  return calog__sinkCharge(k, VALUE_COST);
}

/* Reserved room left unfilled past this is given back (the arrays shrink to their items) and refunded. */
#define PREPAID_GIVEBACK 4096

int32_t calog__sinkPut(CalogSinkT *k, CalogItemT *it) {
  int32_t st = calog__sinkTick(k, it->type == CALOG_STRING ? it->as.s.length : 0);
  if (st != CALOG_OK) {
    if (it->type == CALOG_FN) calogFnRelease(it->as.fn); /* the item's reference, taken on every path */
    return st;
  }
  if (k->rt) return calog__wireSinkPut(k, it);
  CalogValueT v;
  switch (it->type) {
  case CALOG_NIL: v = calogValueNil(); break;
  case CALOG_BOOL: v = calogValueBool(it->as.b); break;
  case CALOG_INT: v = calogValueInt(it->as.i); break;
  case CALOG_REAL: v = calogValueReal(it->as.r); break;
  case CALOG_STRING:
    if (k->budget >= 0 && (st = calog__sinkCharge(k, it->as.s.length + 1)) != CALOG_OK) return st;
    st = calogValueString(&v, it->as.s.bytes, it->as.s.length);
    break;
  case CALOG_FN: v = calogValueFn(it->as.fn); break; /* takes the reference */
  default: return failed(k, CALOG_ERR_TYPE);
  }
  if (st == CALOG_OK && k->budget >= 0 && (st = chargeSlot(k)) != CALOG_OK) {
    calogValueFree(&v);
    return st;
  }
  if (st == CALOG_OK && k->failed) {
    calogValueFree(&v);
    return k->failed;
  }
  return failed(k, st == CALOG_OK ? valPlace(k, &v) : st);
}

int32_t calog__sinkAggBegin(CalogSinkT *k, int64_t naHint, int64_t npHint) {
  int32_t st = calog__sinkTick(k, 0);
  if (st != CALOG_OK) return st;
  if (k->rt) return calog__wireSinkAggBegin(k);
  if (k->failed) return k->failed;
  if (k->top + 1 >= CALOG_MAX_DEPTH) return failed(k, CALOG_ERR_DEPTH);
  /* the aggregate and its slot in its parent, then the room reserved for its items up front: no more than the
   * budget left (a sparse JS array of length 2^24 reserved 400 MB before its first item), and paid for (a Lua table
   * of 41 entries whose border is 2^40, sent 200 times, reserved 9.6 GB of a 32 MB context's host: pass 29a). Items
   * placed take their slots out of it (chargeSlot); what stays unfilled is given back at the end. */
  int64_t prepaid = 0;
  if (k->budget >= 0) {
    if ((st = calog__sinkCharge(k, (int64_t)sizeof(CalogAggT))) != CALOG_OK || (st = chargeSlot(k)) != CALOG_OK) return st;
    if (naHint > k->budget / VALUE_COST) naHint = k->budget / VALUE_COST;
    if (naHint > 0) prepaid += naHint * VALUE_COST;
    if (npHint > (k->budget - prepaid) / PAIR_COST) npHint = (k->budget - prepaid) / PAIR_COST;
    if (npHint > 0) prepaid += npHint * PAIR_COST;
    k->budget -= prepaid; /* within the budget: the hints alone never trip it */
  }
  CalogValueT v;
  st = calogValueAgg(&v, CALOG_AGG_LIST);
  if (st != CALOG_OK) return failed(k, st);
  CalogAggT *a = v.as.agg;
  if ((naHint > 0 || npHint > 0) && (st = calog__aggReserve(a, naHint, npHint)) != CALOG_OK) {
    calogValueFree(&v);
    return failed(k, st);
  }
  if ((st = valPlace(k, &v)) != CALOG_OK) return failed(k, st); /* a stays alive in its parent */
  CalogSinkFrameT *f = &k->frames[++k->top];
  f->agg = a;
  f->pairs = false;
  f->haveKey = false;
  f->prepaid = prepaid;
  return CALOG_OK;
}

void calog__sinkAggPairs(CalogSinkT *k) {
  if (k->top >= 0) k->frames[k->top].pairs = true;
}

int32_t calog__sinkAggEnd(CalogSinkT *k, CalogAggKindE kind) {
  if (k->rt) return calog__wireSinkAggEnd(k, kind);
  if (k->failed) return k->failed;
  CalogSinkFrameT *f = &k->frames[k->top--];
  if (f->haveKey) { /* a key without its value: the engine broke the protocol */
    calogValueFree(&f->key);
    return failed(k, CALOG_ERR_INTERNAL);
  }
  f->agg->kind = kind;
  if (f->prepaid >= PREPAID_GIVEBACK && k->budget >= 0) k->budget += giveBackRoom(f); /* a hint far above what came */
  return CALOG_OK;
}

int32_t calog__sinkFail(CalogSinkT *k, int32_t st, CalogValueT *err) {
  if (k->rt && k->failWhat) return calogFail(err, st, "%s: %s", k->failWhat, calogStatusMessage(st));
  return calogFail(err, st, "%s", calogStatusMessage(st));
}

void calog__sinkEnd(CalogSinkT *k, bool ok, uint32_t *lenOut) {
  if (k->rt) {
    calog__wireSinkEnd(k, ok, lenOut);
    return;
  }
  for (; k->top >= 0; k->top--)
    if (k->frames[k->top].haveKey) calogValueFree(&k->frames[k->top].key);
  if (!ok || k->failed)
    for (int64_t i = 0; i < k->nslots; i++) calogValueFree(&k->slots[i]);
  if (lenOut) *lenOut = 0;
}

/* ---- an engine entry with CalogValueT arguments and result ------------------------------------------ */
void calog__valueCallBegin(CalogValueCallT *c, CalogValueT *args, int32_t argc) {
  calog__srcValues(&c->args, args, argc);
  calog__sinkValues(&c->out, &c->value, 1);
  c->err = calogValueNil();
}

int32_t calog__valueCallEnd(CalogValueCallT *c, int32_t st, CalogValueT *result) {
  calog__sinkEnd(&c->out, st == CALOG_OK, NULL);
  calogValueFree(result);
  if (st == CALOG_OK) {
    *result = c->value;
    calogValueFree(&c->err);
  } else {
    *result = c->err;
  }
  return st;
}
