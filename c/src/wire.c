/* wire.c -- encoding values into OUT and decoding them from IN (format in wire.h). */
#include "wire.h"

/* ---- function handles: a generationed table of references the host holds ----------------------- */
static int32_t handleAlloc(CalogT *rt, CalogFnT *fn, uint32_t *slotOut, uint32_t *genOut) {
  uint32_t i;
  if (rt->handleFree) {
    i = rt->handleFree - 1;
    rt->handleFree = rt->handles[i].nextFree;
  } else {
    if (rt->handleCount == rt->handleCap) {
      uint32_t cap = rt->handleCap ? rt->handleCap * 2 : 64;
      CalogHandleSlotT *h = realloc(rt->handles, cap * sizeof *h);
      if (h == NULL) return CALOG_ERR_OOM;
      rt->handles = h;
      rt->handleCap = cap;
    }
    i = rt->handleCount++;
    rt->handles[i].gen = 0;
  }
  rt->handles[i].gen++;
  rt->handles[i].fn = fn;
  rt->handles[i].nextFree = 0;
  calogFnRetain(fn);
  *slotOut = i;
  *genOut = rt->handles[i].gen;
  return CALOG_OK;
}

static CalogFnT *handleGet(CalogT *rt, uint32_t slot, uint32_t gen) {
  if (slot >= rt->handleCount || rt->handles[slot].gen != gen) return NULL;
  return rt->handles[slot].fn;
}

void calogFnReleaseWire(CalogT *rt, uint32_t slot, uint32_t gen) {
  if (rt == NULL) return;
  CalogFnT *fn = handleGet(rt, slot, gen);
  if (fn == NULL) return;
  rt->handles[slot].fn = NULL;
  rt->handles[slot].gen++; /* a second release of the same handle is now stale */
  rt->handles[slot].nextFree = rt->handleFree;
  rt->handleFree = slot + 1;
  calogFnRelease(fn);
}

/* ---- writer (OUT): the wire backend of a sink (codec.h) ------------------------------------------ */
typedef CalogSinkT WriterT;

static int32_t grow(CalogT *rt, uint32_t which, uint32_t need) {
  uint8_t **buf = which == 0 ? &rt->wire.in : &rt->wire.out;
  uint32_t *cap = which == 0 ? &rt->wire.inCap : &rt->wire.outCap;
  if (need <= *cap) return CALOG_OK;
  if (need > 0x7FFFFFFFu) return CALOG_ERR_RANGE;
  uint64_t c = *cap ? *cap : 4096;
  while (c < need) c *= 2;
  if (c > 0x7FFFFFFFu) c = 0x7FFFFFFFu;
  uint8_t *p = realloc(*buf, (size_t)c);
  if (p == NULL) return CALOG_ERR_OOM;
  *buf = p;
  *cap = (uint32_t)c;
  rt->wire.gen++;
  return CALOG_OK;
}

int32_t calogWireReserve(CalogT *rt, uint32_t which, uint32_t size) {
  if (rt == NULL || which > 1) return -CALOG_ERR_ARG;
  int32_t st = grow(rt, which, size);
  return st == CALOG_OK ? 0 : -st;
}

static inline int32_t need(WriterT *w, uint32_t n) {
  if ((uint64_t)w->len + n > w->rt->wire.outCap) return grow(w->rt, 1, w->len + n);
  return CALOG_OK;
}
static inline void put8(WriterT *w, uint8_t v) { w->rt->wire.out[w->len++] = v; }
static inline void putBytes(WriterT *w, const void *p, uint32_t n) {
  if (n) memcpy(w->rt->wire.out + w->len, p, n);
  w->len += n;
}
static inline void put32(WriterT *w, uint32_t v) { putBytes(w, &v, 4); }
static inline void put32At(WriterT *w, uint32_t at, uint32_t v) { memcpy(w->rt->wire.out + at, &v, 4); }

/* Only the wire fields: a sink's frames are never read before they are written (no memset of them). */
void calog__sinkWire(CalogSinkT *k, CalogT *rt, uint32_t at, const char *failWhat) {
  k->rt = rt;
  k->outer = rt->wireSink;
  rt->wireSink = k;
  k->len = at;
  k->newHandles = NULL;
  k->newCount = k->newCap = 0;
  k->failWhat = failWhat;
  k->failed = 0;
  k->top = -1;
  calog__sinkBudget(k);
}

static int32_t encode(WriterT *w, const CalogValueT *v, int depth);

static int32_t encodeFn(WriterT *w, CalogFnT *fn) {
  int32_t st;
  if (fn->fn == calog__hostTrampoline && atomic_load(&fn->alive) && ((CalogHostFnT *)fn->userData)->rt == w->rt) {
    if ((st = need(w, 5)) != CALOG_OK) return st;
    put8(w, CALOG_W_HOSTFN);
    put32(w, ((CalogHostFnT *)fn->userData)->id);
    return CALOG_OK;
  }
  if ((st = need(w, 9)) != CALOG_OK) return st;
  if (w->newCount == w->newCap) {
    uint32_t cap = w->newCap ? w->newCap * 2 : 8;
    uint32_t *p = realloc(w->newHandles, cap * sizeof *p);
    if (p == NULL) return CALOG_ERR_OOM;
    w->newHandles = p;
    w->newCap = cap;
  }
  uint32_t slot, gen;
  if ((st = handleAlloc(w->rt, fn, &slot, &gen)) != CALOG_OK) return st;
  w->newHandles[w->newCount++] = slot;
  put8(w, CALOG_W_FN);
  put32(w, slot);
  put32(w, gen);
  return CALOG_OK;
}

static int32_t encodeString(WriterT *w, const char *s, int64_t length) {
  if (length > 0x7FFFFFF0) return CALOG_ERR_RANGE;
  uint32_t n = (uint32_t)length;
  int32_t st = need(w, 5 + n);
  if (st != CALOG_OK) return st;
  put8(w, calog__utf8Valid(s, length) ? CALOG_W_STR : CALOG_W_BIN);
  put32(w, n);
  putBytes(w, s, n);
  return CALOG_OK;
}

static int32_t encodeScalar(WriterT *w, const CalogItemT *it) {
  int32_t st;
  switch (it->type) {
  case CALOG_NIL:
  case CALOG_BOOL:
    if ((st = need(w, 1)) != CALOG_OK) return st;
    put8(w, it->type == CALOG_NIL ? CALOG_W_NIL : it->as.b ? CALOG_W_TRUE : CALOG_W_FALSE);
    return CALOG_OK;
  case CALOG_INT:
    if ((st = need(w, 9)) != CALOG_OK) return st;
    if (it->as.i >= INT32_MIN && it->as.i <= INT32_MAX) {
      int32_t i = (int32_t)it->as.i;
      put8(w, CALOG_W_I32);
      putBytes(w, &i, 4);
    } else {
      put8(w, CALOG_W_INT);
      putBytes(w, &it->as.i, 8);
    }
    return CALOG_OK;
  case CALOG_REAL:
    if ((st = need(w, 9)) != CALOG_OK) return st;
    put8(w, CALOG_W_REAL);
    putBytes(w, &it->as.r, 8);
    return CALOG_OK;
  case CALOG_STRING: return encodeString(w, it->as.s.bytes, it->as.s.length);
  case CALOG_FN: return encodeFn(w, it->as.fn);
  default: return CALOG_ERR_TYPE;
  }
}

/* The header an aggregate of this kind and these counts is written with (also what the TS codec reads). */
static uint8_t aggTag(CalogAggKindE kind, int64_t na, int64_t np) {
  if ((na > 0 && np > 0) || kind == CALOG_AGG_BOTH) return CALOG_W_BOTH;
  if (np > 0 || (kind == CALOG_AGG_MAP && na == 0)) return CALOG_W_MAP;
  return CALOG_W_LIST;
}

static int32_t encode(WriterT *w, const CalogValueT *v, int depth) {
  int32_t st;
  if (v->type != CALOG_AGGREGATE) {
    CalogItemT it;
    it.type = v->type;
    switch (v->type) {
    case CALOG_BOOL: it.as.b = v->as.b; break;
    case CALOG_INT: it.as.i = v->as.i; break;
    case CALOG_REAL: it.as.r = v->as.r; break;
    case CALOG_STRING: it.as.s.bytes = v->as.s.bytes, it.as.s.length = v->as.s.length; break;
    case CALOG_FN: it.as.fn = v->as.fn; break;
    default: break;
    }
    return encodeScalar(w, &it);
  }
  if (depth >= CALOG_MAX_DEPTH) return CALOG_ERR_DEPTH;
  const CalogAggT *a = v->as.agg;
  if ((st = need(w, 9)) != CALOG_OK) return st;
  uint8_t tag = aggTag(a->kind, a->arrayCount, a->pairCount);
  put8(w, tag);
  if (tag != CALOG_W_MAP) put32(w, (uint32_t)a->arrayCount);
  if (tag != CALOG_W_LIST) put32(w, (uint32_t)a->pairCount);
  for (int64_t i = 0; i < a->arrayCount; i++)
    if ((st = encode(w, &a->array[i], depth + 1)) != CALOG_OK) return st;
  for (int64_t i = 0; i < a->pairCount; i++) {
    if ((st = encode(w, &a->pairs[i].key, depth + 1)) != CALOG_OK) return st;
    if ((st = encode(w, &a->pairs[i].value, depth + 1)) != CALOG_OK) return st;
  }
  return CALOG_OK;
}

static int32_t finish(WriterT *w, int32_t st, uint32_t *lenOut) {
  if (w->rt->wireSink == w) w->rt->wireSink = w->outer;
  if (st != CALOG_OK)
    for (uint32_t i = 0; i < w->newCount; i++) {
      uint32_t slot = w->newHandles[i];
      calogFnReleaseWire(w->rt, slot, w->rt->handles[slot].gen);
    }
  free(w->newHandles);
  w->newHandles = NULL;
  w->newCount = w->newCap = 0;
  if (lenOut) *lenOut = w->len;
  return st;
}

int32_t calog__wireEncodeOutcome(CalogT *rt, const CalogValueT *v, bool error, uint32_t *lenOut) {
  WriterT w;
  calog__sinkWire(&w, rt, 0, NULL);
  w.budget = -1; /* a value already made (charged to the context that made it): not to whatever runs here now */
  return finish(&w, encode(&w, v, error && v->type == CALOG_AGGREGATE ? -1 : 0), lenOut);
}

static int32_t encodeArgs(WriterT *w, const CalogValueT *args, int32_t argc) {
  int32_t st = need(w, 5);
  if (st == CALOG_OK) {
    put8(w, CALOG_W_LIST);
    put32(w, (uint32_t)argc);
    for (int32_t i = 0; i < argc && st == CALOG_OK; i++) st = encode(w, &args[i], 0);
  }
  return st;
}

int32_t calog__wireEncodeArgs(CalogT *rt, const CalogValueT *args, int32_t argc, uint32_t *lenOut) {
  WriterT w;
  calog__sinkWire(&w, rt, 0, NULL);
  w.budget = -1; /* as above */
  return finish(&w, encodeArgs(&w, args, argc), lenOut);
}

/* The sink calls (codec.h) for the wire backend. A failure is remembered: the sink is dead after it. */
static int32_t sinkFailed(WriterT *w, int32_t st) {
  if (st != CALOG_OK && w->failed == 0) w->failed = st;
  return st;
}

static void wireCount(WriterT *w) {
  if (w->top >= 0) {
    CalogSinkFrameT *f = &w->frames[w->top];
    if (f->pairs) f->np2++;
    else f->na++;
  }
}

int32_t calog__wireSinkPut(CalogSinkT *w, CalogItemT *it) {
  uint32_t before = w->len;
  int32_t st = w->failed ? w->failed : encodeScalar(w, it);
  if (it->type == CALOG_FN) calogFnRelease(it->as.fn); /* the handle (if any) holds its own reference */
  if (st == CALOG_OK && w->budget >= 0) st = calog__sinkCharge(w, (int64_t)(w->len - before)); /* OUT grows by it */
  if (st != CALOG_OK) return sinkFailed(w, st);
  wireCount(w);
  return CALOG_OK;
}

/* The header is written at the end (its counts are known then): 5 bytes are kept for it (LIST or MAP),
 * and the contents move by 4 in the rare case it becomes a BOTH. */
int32_t calog__wireSinkAggBegin(CalogSinkT *w) {
  if (w->failed) return w->failed;
  if (w->top + 1 >= CALOG_MAX_DEPTH) return sinkFailed(w, CALOG_ERR_DEPTH);
  int32_t st = need(w, 5);
  if (st == CALOG_OK && w->budget >= 0) st = calog__sinkCharge(w, 9);
  if (st != CALOG_OK) return sinkFailed(w, st);
  wireCount(w);
  CalogSinkFrameT *f = &w->frames[++w->top];
  f->pos = w->len;
  f->na = f->np2 = 0;
  f->pairs = false;
  w->len += 5;
  return CALOG_OK;
}

int32_t calog__wireSinkAggEnd(CalogSinkT *w, CalogAggKindE kind) {
  if (w->failed) return w->failed;
  CalogSinkFrameT *f = &w->frames[w->top--];
  int64_t np = f->np2 / 2;
  uint8_t tag = aggTag(kind, f->na, np);
  if (tag == CALOG_W_BOTH) {
    int32_t st = need(w, 4);
    if (st != CALOG_OK) return sinkFailed(w, st);
    uint8_t *body = w->rt->wire.out + f->pos + 5;
    memmove(body + 4, body, w->len - (f->pos + 5));
    w->len += 4;
    put32At(w, f->pos + 5, (uint32_t)np);
  }
  w->rt->wire.out[f->pos] = tag;
  put32At(w, f->pos + 1, (uint32_t)(tag == CALOG_W_MAP ? np : f->na));
  return CALOG_OK;
}

void calog__wireSinkEnd(CalogSinkT *w, bool ok, uint32_t *lenOut) {
  (void)finish(w, ok && w->failed == 0 ? CALOG_OK : CALOG_ERR_ARG, lenOut);
}

/* ---- reader (IN) ------------------------------------------------------------------------------- */
static int32_t bad(CalogValueT *err) { return calogFail(err, CALOG_ERR_ARG, "malformed wire data"); }

static inline bool avail(CalogReaderT *rd, uint32_t n) { return rd->len - rd->pos >= n; }
static inline uint32_t get32(CalogReaderT *rd) {
  uint32_t v;
  memcpy(&v, rd->buf + rd->pos, 4);
  rd->pos += 4;
  return v;
}

int32_t calog__wireReadString(CalogReaderT *rd, const char **s, uint32_t *len) {
  if (!avail(rd, 5)) return CALOG_ERR_ARG;
  uint8_t tag = rd->buf[rd->pos];
  if (tag != CALOG_W_STR && tag != CALOG_W_BIN) return CALOG_ERR_TYPE;
  rd->pos++;
  uint32_t n = get32(rd);
  if (!avail(rd, n)) return CALOG_ERR_ARG;
  *s = (const char *)rd->buf + rd->pos;
  *len = n;
  rd->pos += n;
  return CALOG_OK;
}

/* Gives host function id back to the host: through its release callback, or, when that could not run (it
 * returned 0: its engine refused to enter it, the stack exhausted), kept for calogHostTakeRelease. Host thread. */
static void hostReleaseId(CalogT *rt, uint32_t id) {
  if (rt->hostRelease == NULL || rt->hostRelease(id) != 0) return;
  uint32_t n = rt->wire.lostReleases;
  if (n == rt->lostCap) {
    uint32_t cap = n ? n * 2 : 16;
    uint32_t *p = realloc(rt->lost, cap * sizeof *p);
    if (p == NULL) return; /* out of memory: the host keeps counting it (a leak, never a use after free) */
    rt->lost = p;
    rt->lostCap = cap;
  }
  rt->lost[n] = id;
  rt->wire.lostReleases = n + 1;
}

uint32_t calogHostTakeRelease(CalogT *rt) {
  if (rt == NULL || rt->wire.lostReleases == 0) return 0;
  return rt->lost[--rt->wire.lostReleases];
}

/* A host function the host sent (HOSTFN id): a function value whose last release gives the reference back. */
static CalogFnT *hostFnNew(CalogT *rt, uint32_t id, CalogValueT *err) {
  CalogHostFnT *h = malloc(sizeof *h);
  CalogFnT *fn = h ? calogFnCreate(calog__hostTrampoline, h, calog__hostRelease) : NULL;
  if (fn == NULL) {
    free(h);
    /* the host counted this reference: give it back */
    hostReleaseId(rt, id);
    calogFail(err, CALOG_ERR_OOM, "out of memory");
    return NULL;
  }
  h->rt = rt;
  h->id = id;
  fn->actor = &rt->host; /* a TypeScript function runs, and is released, on the host thread */
  return fn;
}

/* Reads one item with every check of the format: a scalar, a FN handle (lent), a HOSTFN (type CALOG_FN,
 * fn NULL, its id in as.i), or an aggregate's header (depth: the aggregate's own). The one reader of IN. */
static int32_t readItem(CalogT *rt, CalogReaderT *rd, CalogItemT *it, CalogValueT *err, int depth) {
  it->type = CALOG_NIL;
  it->owned = false;
  if (!avail(rd, 1)) return bad(err);
  uint8_t tag = rd->buf[rd->pos++];
  switch (tag) {
  case CALOG_W_NIL: return CALOG_OK;
  case CALOG_W_FALSE:
  case CALOG_W_TRUE:
    it->type = CALOG_BOOL;
    it->as.b = tag == CALOG_W_TRUE;
    return CALOG_OK;
  case CALOG_W_I32: {
    if (!avail(rd, 4)) return bad(err);
    int32_t i;
    memcpy(&i, rd->buf + rd->pos, 4);
    rd->pos += 4;
    it->type = CALOG_INT;
    it->as.i = i;
    return CALOG_OK;
  }
  case CALOG_W_INT:
  case CALOG_W_REAL:
    if (!avail(rd, 8)) return bad(err);
    if (tag == CALOG_W_INT) {
      it->type = CALOG_INT;
      memcpy(&it->as.i, rd->buf + rd->pos, 8);
    } else {
      it->type = CALOG_REAL;
      memcpy(&it->as.r, rd->buf + rd->pos, 8);
    }
    rd->pos += 8;
    return CALOG_OK;
  case CALOG_W_STR:
  case CALOG_W_BIN: {
    if (!avail(rd, 4)) return bad(err);
    uint32_t n = get32(rd);
    if (!avail(rd, n)) return bad(err);
    it->type = CALOG_STRING;
    it->as.s.bytes = (const char *)rd->buf + rd->pos;
    it->as.s.length = n;
    rd->pos += n;
    return CALOG_OK;
  }
  case CALOG_W_LIST:
  case CALOG_W_MAP:
  case CALOG_W_BOTH: {
    if (depth >= CALOG_MAX_DEPTH)
      return calogFail(err, CALOG_ERR_DEPTH, "value nesting exceeds the depth cap (%d)", CALOG_MAX_DEPTH);
    uint32_t na = 0, np = 0;
    if (!avail(rd, tag == CALOG_W_BOTH ? 8 : 4)) return bad(err);
    if (tag == CALOG_W_LIST) na = get32(rd);
    else if (tag == CALOG_W_MAP) np = get32(rd);
    else na = get32(rd), np = get32(rd);
    /* every element takes at least one byte: reject counts the buffer cannot hold before allocating */
    if ((uint64_t)na + 2ull * np > rd->len - rd->pos) return bad(err);
    it->type = CALOG_AGGREGATE;
    it->as.agg.kind = tag == CALOG_W_LIST ? CALOG_AGG_LIST : tag == CALOG_W_MAP ? CALOG_AGG_MAP : CALOG_AGG_BOTH;
    it->as.agg.na = na;
    it->as.agg.np = np;
    return CALOG_OK;
  }
  case CALOG_W_FN: {
    if (!avail(rd, 8)) return bad(err);
    uint32_t slot = get32(rd), gen = get32(rd);
    CalogFnT *fn = handleGet(rt, slot, gen);
    if (fn == NULL) return calogFail(err, CALOG_ERR_DEAD, "function handle was already released");
    it->type = CALOG_FN;
    it->as.fn = fn;
    return CALOG_OK;
  }
  case CALOG_W_HOSTFN:
    if (!avail(rd, 4)) return bad(err);
    it->type = CALOG_FN;
    it->as.fn = NULL;
    it->hostId = get32(rd);
    return CALOG_OK;
  }
  return bad(err);
}

static int32_t keyTypeError(CalogTypeE t, CalogValueT *err) {
  return calogFail(err, CALOG_ERR_TYPE, "map key of type %s cannot be represented", calogTypeName(t));
}

static int32_t decode(CalogT *rt, CalogReaderT *rd, CalogValueT *out, CalogValueT *err, int depth) {
  *out = calogValueNil();
  CalogItemT it;
  int32_t st = readItem(rt, rd, &it, err, depth);
  if (st != CALOG_OK) return st;
  switch (it.type) {
  case CALOG_NIL: return CALOG_OK;
  case CALOG_BOOL: *out = calogValueBool(it.as.b); return CALOG_OK;
  case CALOG_INT: *out = calogValueInt(it.as.i); return CALOG_OK;
  case CALOG_REAL: *out = calogValueReal(it.as.r); return CALOG_OK;
  case CALOG_STRING:
    st = calogValueString(out, it.as.s.bytes, it.as.s.length);
    return st == CALOG_OK ? st : calogFail(err, st, "%s", calogStatusMessage(st));
  case CALOG_FN: {
    CalogFnT *fn = it.as.fn;
    if (fn == NULL && (fn = hostFnNew(rt, it.hostId, err)) == NULL) return CALOG_ERR_OOM;
    else if (it.as.fn != NULL) calogFnRetain(fn);
    *out = calogValueFn(fn);
    return CALOG_OK;
  }
  default: break;
  }
  int64_t na = it.as.agg.na, np = it.as.agg.np;
  CalogValueT agg;
  st = calogValueAgg(&agg, it.as.agg.kind);
  if (st == CALOG_OK) st = calog__aggReserve(agg.as.agg, na, np);
  if (st != CALOG_OK) {
    calogValueFree(&agg);
    return calogFail(err, st, "%s", calogStatusMessage(st));
  }
  CalogAggT *a = agg.as.agg;
  for (int64_t i = 0; i < na; i++) {
    if ((st = decode(rt, rd, &a->array[i], err, depth + 1)) != CALOG_OK) goto fail;
    a->arrayCount++;
  }
  for (int64_t i = 0; i < np; i++) {
    CalogPairT *p = &a->pairs[i];
    if ((st = decode(rt, rd, &p->key, err, depth + 1)) != CALOG_OK) goto fail;
    if (!calog__isKeyType(p->key.type)) {
      st = keyTypeError(p->key.type, err);
      calogValueFree(&p->key);
      goto fail;
    }
    if ((st = decode(rt, rd, &p->value, err, depth + 1)) != CALOG_OK) {
      calogValueFree(&p->key);
      goto fail;
    }
    a->pairCount++;
  }
  *out = agg;
  return CALOG_OK;
fail:
  calogValueFree(&agg);
  return st;
}

int32_t calog__wireDecode(CalogT *rt, CalogReaderT *rd, CalogValueT *out, CalogValueT *err) {
  return decode(rt, rd, out, err, 0);
}

/* decode without building anything: the same checks in the same order (so the same first error). */
static int32_t check(CalogT *rt, CalogReaderT *rd, CalogValueT *err, int depth, CalogTypeE *type, bool *hostFn) {
  CalogItemT it;
  int32_t st = readItem(rt, rd, &it, err, depth);
  if (st != CALOG_OK) return st;
  *type = it.type;
  if (it.type == CALOG_FN && it.as.fn == NULL) *hostFn = true;
  if (it.type != CALOG_AGGREGATE) return CALOG_OK;
  CalogTypeE t;
  for (int64_t i = 0; i < it.as.agg.na; i++)
    if ((st = check(rt, rd, err, depth + 1, &t, hostFn)) != CALOG_OK) return st;
  for (int64_t i = 0; i < it.as.agg.np; i++) {
    if ((st = check(rt, rd, err, depth + 1, &t, hostFn)) != CALOG_OK) return st;
    if (!calog__isKeyType(t)) return keyTypeError(t, err);
    if ((st = check(rt, rd, err, depth + 1, &t, hostFn)) != CALOG_OK) return st;
  }
  return CALOG_OK;
}

/* The bytes of n values from pos when every one is a scalar (NIL, FALSE, TRUE, I32, INT, REAL) lying wholly
 * within the data; -1 otherwise. For scalars the tags and lengths are the whole of the check readItem makes. */
int64_t calog__wireScalarRun(const CalogReaderT *rd, int64_t n) {
  uint32_t pos = rd->pos;
  for (int64_t i = 0; i < n; i++) {
    if (pos >= rd->len) return -1;
    uint32_t size;
    switch (rd->buf[pos]) {
    case CALOG_W_NIL: case CALOG_W_FALSE: case CALOG_W_TRUE: size = 1; break;
    case CALOG_W_I32: size = 5; break;
    case CALOG_W_INT: case CALOG_W_REAL: size = 9; break;
    default: return -1;
    }
    if (rd->len - pos < size) return -1;
    pos += size;
  }
  return pos - rd->pos;
}

int32_t calog__wireCheck(CalogT *rt, const CalogReaderT *rd, int64_t n, bool *hostFn, CalogValueT *err) {
  CalogReaderT r = *rd;
  CalogTypeE t;
  *hostFn = false;
  if (calog__wireScalarRun(rd, n) >= 0) return CALOG_OK; /* the common call: a few numbers */
  for (int64_t i = 0; i < n; i++) {
    int32_t st = check(rt, &r, err, 0, &t, hostFn);
    if (st != CALOG_OK) return st;
  }
  return CALOG_OK;
}

static int32_t argsHeader(CalogReaderT *rd, uint32_t *n, CalogValueT *err) {
  if (!avail(rd, 5) || rd->buf[rd->pos] != CALOG_W_LIST) return bad(err);
  rd->pos++;
  *n = get32(rd);
  if (*n > rd->len - rd->pos || *n > 0xFFFF) return bad(err);
  return CALOG_OK;
}

int32_t calog__wireCheckArgs(CalogT *rt, CalogReaderT *rd, int32_t *argc, bool *hostFn, CalogValueT *err) {
  uint32_t n;
  int32_t st = argsHeader(rd, &n, err);
  if (st != CALOG_OK) return st;
  *argc = (int32_t)n;
  return calog__wireCheck(rt, rd, n, hostFn, err);
}

void calog__argsFree(CalogValueT *args, int32_t argc, CalogValueT *stackBuf) {
  for (int32_t i = 0; i < argc; i++) calogValueFree(&args[i]);
  if (args != stackBuf) free(args);
}

int32_t calog__wireDecodeArgs(CalogT *rt, CalogReaderT *rd, CalogValueT *stackBuf, int32_t cap,
                              CalogValueT **argsOut, int32_t *argcOut, CalogValueT *err) {
  *argsOut = stackBuf;
  *argcOut = 0;
  uint32_t n;
  int32_t st = argsHeader(rd, &n, err);
  if (st != CALOG_OK) return st;
  CalogValueT *args = stackBuf;
  if ((int32_t)n > cap) {
    args = malloc(n * sizeof *args);
    if (args == NULL) return calogFail(err, CALOG_ERR_OOM, "out of memory");
  }
  for (uint32_t i = 0; i < n; i++) {
    st = decode(rt, rd, &args[i], err, 0); /* an argument list does not count as a level */
    if (st != CALOG_OK) {
      calog__argsFree(args, (int32_t)i, stackBuf);
      return st;
    }
  }
  *argsOut = args;
  *argcOut = (int32_t)n;
  return CALOG_OK;
}

/* ---- the wire backend of a source (codec.h): data checked by calog__wireCheck ---------------------- */
void calog__srcWire(CalogSrcT *s, CalogT *rt, CalogReaderT *rd, int64_t n) {
  s->rd = rd;
  s->rt = rt;
  s->remaining = n;
}

int32_t calog__wireSrcNext(CalogSrcT *s, CalogItemT *it, CalogValueT *err) {
  s->remaining--;
  CalogReaderT *rd = s->rd;
  if (rd->pos < rd->len && rd->buf[rd->pos] == CALOG_W_I32 && rd->len - rd->pos >= 5) { /* the common number */
    int32_t i;
    memcpy(&i, rd->buf + rd->pos + 1, 4);
    rd->pos += 5;
    it->type = CALOG_INT;
    it->owned = false;
    it->as.i = i;
    return CALOG_OK;
  }
  int32_t st = readItem(s->rt, s->rd, it, err, 0);
  if (st != CALOG_OK) return st; /* checked: only a handle the host released since (from code the engine ran) */
  if (it->type == CALOG_AGGREGATE) s->remaining += it->as.agg.na + 2 * it->as.agg.np;
  else if (it->type == CALOG_FN && it->as.fn == NULL) {
    if ((it->as.fn = hostFnNew(s->rt, it->hostId, err)) == NULL) return CALOG_ERR_OOM;
    it->owned = true;
  }
  return CALOG_OK;
}

/* Skips n values, giving back the host functions among them (the host counted each). */
static void wireSkip(CalogSrcT *s, int64_t n) {
  CalogItemT it;
  CalogValueT scratch = calogValueNil();
  s->remaining -= n;
  while (n > 0) {
    n--;
    if (readItem(s->rt, s->rd, &it, &scratch, 0) != CALOG_OK) break;
    if (it.type == CALOG_AGGREGATE) n += it.as.agg.na + 2 * it.as.agg.np;
    else if (it.type == CALOG_FN && it.as.fn == NULL) hostReleaseId(s->rt, it.hostId);
  }
  calogValueFree(&scratch);
}

void calog__wireSrcDrop(CalogSrcT *s, CalogItemT *it) {
  if (it->type == CALOG_AGGREGATE) wireSkip(s, it->as.agg.na + 2 * it->as.agg.np);
  else if (it->type == CALOG_FN && it->owned) calogFnRelease(it->as.fn);
  it->type = CALOG_NIL;
}

void calog__srcEnd(CalogSrcT *s) {
  if (s->rd && s->remaining > 0) wireSkip(s, s->remaining);
}

/* ---- host functions as natives ----------------------------------------------------------------- */
/* The outcome of a host call as the host reported it (call's return, or a settled deferral): r >= 0 is the
 * length of the result in IN, r < 0 is -status with an error message string in IN. */
static int32_t hostOutcome(CalogT *rt, int32_t r, CalogValueT *result) {
  if (r == 0) {
    /* no reply at all: every result and error the host writes is at least one byte. Bun and Deno return 0 from a
     * callback whose JavaScript threw out of it, which happens only where their stack is exhausted (V8's limit is
     * about 1 MB above the call into calog, whatever C stack is left): the engine refused to enter the callback, or
     * the function ran and the stack ran out writing its outcome (its side effects are done: pass 90b). IN holds
     * what an earlier call left there: decoding it gave "malformed wire data" or a stale value. */
    return calogFail(result, CALOG_ERR_NESTING,
                     "the host function could not run, or ran and could not return its outcome: the host's JavaScript "
                     "stack is exhausted (calls nested too deeply on its thread; a host-thread context's crossings "
                     "each take C stack the JavaScript engine counts as its own)");
  }
  if (r < 0) {
    /* error: IN holds a STR message, or a LIST [STR message, INT id of the host's exception] */
    CalogReaderT rd = {.buf = rt->wire.in, .len = rt->wire.inCap, .pos = 0};
    const char *msg;
    uint32_t n;
    /* compared before negating: the host's r is any int32, and -INT32_MIN overflows */
    int32_t status = r > -CALOG_STATUS_COUNT ? -r : CALOG_ERR_HOST;
    CalogRaiseT mark = {0, 0};
    CalogValueT thrown = calogValueNil();
    bool hasThrown = false, placeholder = false;
    const char *thrower = NULL;
    uint32_t throwerLen = 0;
    if (rd.len >= 5 && rd.buf[0] == CALOG_W_LIST) {
      rd.pos = 1;
      uint32_t items = get32(&rd);
      if (items < 2 || items > 5) return calogFail(result, status, "host function failed");
      if (calog__wireReadString(&rd, &msg, &n) != CALOG_OK) return calogFail(result, status, "host function failed");
      CalogValueT id = calogValueNil(), scratch = calogValueNil();
      if (calog__wireDecode(rt, &rd, &id, &scratch) == CALOG_OK && id.type == CALOG_INT && id.as.i > 0) mark.host = id.as.i;
      calogValueFree(&id);
      calogValueFree(&scratch);
      /* a third item: the value the error carries (a script's thrown value the host passed on as it was), raised
       * as that value in the calling script: a table thrown by a script function a host function called reached
       * a script that caught it as text (pass 34b) */
      if (items >= 3) {
        if (calog__wireDecode(rt, &rd, &thrown, &scratch) == CALOG_OK) hasThrown = true;
        else calogValueFree(&thrown);
        calogValueFree(&scratch);
      }
      /* a fourth: true when the message only renders that value (the host's rendering of a table is no text of the
       * table's own: the engine it reaches says it in its own words, as with no host function between, pass 35b) */
      if (items >= 4 && hasThrown) {
        CalogValueT flag = calogValueNil();
        if (calog__wireDecode(rt, &rd, &flag, &scratch) == CALOG_OK) placeholder = flag.type == CALOG_BOOL && flag.as.b;
        calogValueFree(&flag);
        calogValueFree(&scratch);
        /* a fifth: the name of the engine that threw the value, so a refusal where it lands names it (pass 64a) */
        if (items == 5 && calog__wireReadString(&rd, &thrower, &throwerLen) != CALOG_OK) thrower = NULL;
      }
    } else if (calog__wireReadString(&rd, &msg, &n) != CALOG_OK) {
      return calogFail(result, status, "host function failed");
    }
    calogErrorSet(result, status, NULL, msg, n, NULL);
    if (hasThrown) calog__errorAttachValue(result, &thrown);
    calog__errorMark(result, mark);
    if (placeholder) calog__errorMarkPlaceholder(result);
    if (thrower != NULL && throwerLen > 0 && throwerLen < 32) calog__errorSetThrower(result, thrower, throwerLen);
    return status;
  }
  if ((uint32_t)r > rt->wire.inCap) return calogFail(result, CALOG_ERR_ARG, "host result larger than its buffer");
  CalogReaderT rd = {.buf = rt->wire.in, .len = (uint32_t)r, .pos = 0};
  return calog__wireDecode(rt, &rd, result, result);
}

/* A host call made while a wire sink writes OUT (an engine marshalling a value runs code: a getter, a
 * finalizer) keeps what that sink wrote, and puts it back once the host has returned. */
static int32_t hostCallSave(CalogHostCallT *c, CalogT *rt) {
  CalogSinkT *outer = rt->wireSink;
  c->saved = NULL;
  c->savedLen = 0;
  if (outer == NULL || outer->len == 0) return CALOG_OK;
  if ((c->saved = malloc(outer->len)) == NULL) return CALOG_ERR_OOM;
  memcpy(c->saved, rt->wire.out, outer->len);
  c->savedLen = outer->len;
  return CALOG_OK;
}

static void hostCallRestore(CalogHostCallT *c) {
  if (c->saved == NULL) return;
  memcpy(c->h->rt->wire.out, c->saved, c->savedLen); /* OUT only grows */
  free(c->saved);
  c->saved = NULL;
}

int32_t calog__hostCallBegin(CalogHostCallT *c, CalogHostFnT *h, int32_t argc, CalogValueT *err) {
  CalogT *rt = h->rt;
  c->h = h;
  c->deferrable = calog__hostDeferArm(rt, &c->token); /* taken first: nothing nested may defer it */
  int32_t saved = hostCallSave(c, rt);
  calog__sinkWire(&c->args, rt, 0, "cannot pass arguments to host");
  if (saved != CALOG_OK) {
    c->args.failed = saved;
    return calog__sinkFail(&c->args, saved, err);
  }
  if (rt->hostCall == NULL) {
    c->args.failed = CALOG_ERR_HOST;
    return calogFail(err, CALOG_ERR_HOST, "no host is attached to this runtime");
  }
  int32_t st = need(&c->args, 5);
  if (st != CALOG_OK) {
    c->args.failed = st;
    return calog__sinkFail(&c->args, st, err);
  }
  put8(&c->args, CALOG_W_LIST);
  put32(&c->args, (uint32_t)argc);
  return CALOG_OK;
}

/* The function handles a host call's arguments lent the host (slots, then their generations), taken from its
 * sink: the host owns them once it has run, and never saw them when it could not (see dropFresh). */
typedef struct {
  uint32_t *slots;
  uint32_t n;
  bool gens; /* slots[n..2n) holds each one's generation */
} FreshT;

static FreshT takeFresh(CalogSinkT *w) {
  FreshT f = {w->newHandles, w->newCount, false};
  w->newHandles = NULL;
  w->newCount = w->newCap = 0;
  if (f.n == 0) return f;
  uint32_t *p = realloc(f.slots, 2 * f.n * sizeof *p);
  if (p == NULL) return f; /* no room for the generations: released by slot alone if need be */
  f.slots = p;
  f.gens = true;
  for (uint32_t i = 0; i < f.n; i++) p[f.n + i] = w->rt->handles[p[i]].gen;
  return f;
}

/* Ends the host's hold of the fresh handles: with unseen, the host never read OUT past its first `taken` handles
 * (the call could not run, ran part way, failed, or was refused before it was made), so nobody would ever release the
 * others: a leaked function value kept its context alive for good. The first `taken` are the host's: it wrapped
 * them (in OUT's order, which is theirs) and may hold them (a host function that kept its argument, then threw
 * at the stack's end): released here, they were dead in its hands (CalogDeadError, its context never disposed). */
static void dropFresh(CalogT *rt, FreshT *f, bool unseen, uint32_t taken) {
  if (unseen)
    for (uint32_t i = taken; i < f->n; i++) {
      uint32_t slot = f->slots[i];
      calogFnReleaseWire(rt, slot, f->gens ? f->slots[f->n + i] : rt->handles[slot].gen);
    }
  free(f->slots);
  f->slots = NULL;
}

/* Sends the arguments written to the host; *r: its outcome (see hostOutcome). */
static int32_t hostCallSend(CalogHostCallT *c, CalogValueT *result, int32_t *r) {
  CalogT *rt = c->h->rt;
  int32_t failed = c->args.failed;
  uint32_t len;
  FreshT fresh = {NULL, 0, false};
  if (failed == 0) fresh = takeFresh(&c->args); /* else the sink releases them */
  calog__wireSinkEnd(&c->args, failed == 0, &len);
  if (failed) {
    hostCallRestore(c);
    return calogFail(result, failed, "cannot pass arguments to host: %s", calogStatusMessage(failed));
  }
  int32_t st = calog__nestEnter(rt, result);
  if (st != CALOG_OK) {
    hostCallRestore(c);
    dropFresh(rt, &fresh, true, 0);
    return st;
  }
  rt->wire.hostToken = c->token;
  /* this call's count; an enclosing host call's (its arguments all read before it could call back into the
   * library) is put back after: what the host decodes later (the outcome of the crossing this call ran in) only
   * adds to it, past its handles' number */
  uint32_t outerTaken = rt->wire.fnsTaken;
  rt->wire.fnsTaken = 0;
  *r = rt->hostCall(c->h->id, len);
  uint32_t taken = rt->wire.fnsTaken;
  rt->wire.fnsTaken = outerTaken;
  calog__nestLeave(rt);
  hostCallRestore(c);
  /* a call that failed may have read part of its arguments (Bun and Deno: the stack ran out while the host decoded
   * them, and the error it then wrote named that RangeError): the handles past its count leaked, each keeping its
   * context alive for good. A result or a deferral comes only once the host read them all. */
  dropFresh(rt, &fresh, *r == 0 || (*r < 0 && *r != CALOG_HOST_DEFERRED), taken);
  if (*r == CALOG_HOST_DEFERRED) {
    if (c->deferrable == NULL) return calogFail(result, CALOG_ERR_HOST, "the host deferred a call that must reply at once");
    calog__hostDefer(rt, c->deferrable, c->token);
    return CALOG__DEFERRED;
  }
  return CALOG_OK;
}

void calog__hostCallAbort(CalogHostCallT *c) {
  calog__wireSinkEnd(&c->args, false, NULL);
  hostCallRestore(c);
}

int32_t calog__hostCallRun(CalogHostCallT *c, CalogSrcT *src, uint8_t *copy, uint32_t copyCap, bool *viaValue,
                           CalogValueT *result) {
  CalogT *rt = c->h->rt;
  int32_t r;
  *viaValue = false;
  int32_t st = hostCallSend(c, result, &r);
  if (st != CALOG_OK) return st;
  if (r <= 0 || (uint32_t)r > rt->wire.inCap) return hostOutcome(rt, r, result);
  c->rd = (CalogReaderT){.buf = rt->wire.in, .len = (uint32_t)r, .pos = 0};
  bool hostFn;
  CalogValueT scratch = calogValueNil();
  st = calog__wireCheck(rt, &c->rd, 1, &hostFn, &scratch);
  calogValueFree(&scratch);
  if (st == CALOG_OK && !hostFn && c->rd.len <= copyCap) {
    memcpy(copy, c->rd.buf, c->rd.len);
    c->rd.buf = copy;
    calog__srcWire(src, rt, &c->rd, 1);
    return CALOG_OK;
  }
  /* host functions in the result (the engine keeps them where a raise cannot leak them), a large one, or a
   * malformed one (decode gives back the host functions before the fault) */
  st = decode(rt, &c->rd, result, result, 0);
  *viaValue = st == CALOG_OK;
  return st;
}

int32_t calog__hostTrampoline(CalogValueT *args, int32_t argc, CalogValueT *result, void *ud) {
  CalogHostCallT c;
  int32_t st = calog__hostCallBegin(&c, ud, argc, result);
  for (int32_t i = 0; i < argc && st == CALOG_OK; i++) sinkFailed(&c.args, encode(&c.args, &args[i], 0));
  if (st != CALOG_OK) {
    calog__hostCallAbort(&c);
    return st;
  }
  int32_t r;
  if ((st = hostCallSend(&c, result, &r)) != CALOG_OK) return st;
  return hostOutcome(c.h->rt, r, result);
}

static int32_t calogHostSettleWireImpl(CalogT *rt, uint32_t token, int32_t outcome) {
  if (rt == NULL || token == 0) return -CALOG_ERR_DEAD;
  CalogMsgT *m = calog__hostDeferTake(rt, token);
  if (m == NULL) return -CALOG_ERR_DEAD;
  CalogValueT result = calogValueNil();
  int32_t st = hostOutcome(rt, outcome, &result);
  calog__hostDeferDeliver(m, st, &result);
  return 0;
}

void calog__hostRelease(void *ud) {
  CalogHostFnT *h = ud;
  hostReleaseId(h->rt, h->id);
  free(h);
}

/* The exported entry points that may run host callbacks: each also leaves its return value in the control
 * block (CalogWireControlT.ret). */
CALOG_RETURN_TO_CONTROL(calogHostSettleWire, (CalogT *rt, uint32_t token, int32_t outcome), (rt, token, outcome))
