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

/* ---- writer (OUT) ------------------------------------------------------------------------------ */
typedef struct WriterT {
  CalogT *rt;
  uint32_t len;
  uint32_t handlesFrom; /* handles allocated by this encode: released if it fails */
  uint32_t *newHandles;
  uint32_t newCount, newCap;
} WriterT;

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

static int32_t encode(WriterT *w, const CalogValueT *v, int depth) {
  int32_t st;
  switch (v->type) {
  case CALOG_NIL:
  case CALOG_BOOL:
    if ((st = need(w, 1)) != CALOG_OK) return st;
    put8(w, v->type == CALOG_NIL ? CALOG_W_NIL : v->as.b ? CALOG_W_TRUE : CALOG_W_FALSE);
    return CALOG_OK;
  case CALOG_INT:
    if ((st = need(w, 9)) != CALOG_OK) return st;
    if (v->as.i >= INT32_MIN && v->as.i <= INT32_MAX) {
      int32_t i = (int32_t)v->as.i;
      put8(w, CALOG_W_I32);
      putBytes(w, &i, 4);
    } else {
      put8(w, CALOG_W_INT);
      putBytes(w, &v->as.i, 8);
    }
    return CALOG_OK;
  case CALOG_REAL:
    if ((st = need(w, 9)) != CALOG_OK) return st;
    put8(w, CALOG_W_REAL);
    putBytes(w, &v->as.r, 8);
    return CALOG_OK;
  case CALOG_STRING: {
    if (v->as.s.length > 0x7FFFFFF0) return CALOG_ERR_RANGE;
    uint32_t n = (uint32_t)v->as.s.length;
    if ((st = need(w, 5 + n)) != CALOG_OK) return st;
    put8(w, calog__utf8Valid(v->as.s.bytes, v->as.s.length) ? CALOG_W_STR : CALOG_W_BIN);
    put32(w, n);
    putBytes(w, v->as.s.bytes, n);
    return CALOG_OK;
  }
  case CALOG_FN: return encodeFn(w, v->as.fn);
  case CALOG_AGGREGATE: {
    if (depth >= CALOG_MAX_DEPTH) return CALOG_ERR_DEPTH;
    const CalogAggT *a = v->as.agg;
    if ((st = need(w, 9)) != CALOG_OK) return st;
    bool both = a->arrayCount > 0 && a->pairCount > 0;
    if (both || a->kind == CALOG_AGG_BOTH) {
      put8(w, CALOG_W_BOTH);
      put32(w, (uint32_t)a->arrayCount);
      put32(w, (uint32_t)a->pairCount);
    } else if (a->pairCount > 0 || (a->kind == CALOG_AGG_MAP && a->arrayCount == 0)) {
      put8(w, CALOG_W_MAP);
      put32(w, (uint32_t)a->pairCount);
    } else {
      put8(w, CALOG_W_LIST);
      put32(w, (uint32_t)a->arrayCount);
    }
    for (int64_t i = 0; i < a->arrayCount; i++)
      if ((st = encode(w, &a->array[i], depth + 1)) != CALOG_OK) return st;
    for (int64_t i = 0; i < a->pairCount; i++) {
      if ((st = encode(w, &a->pairs[i].key, depth + 1)) != CALOG_OK) return st;
      if ((st = encode(w, &a->pairs[i].value, depth + 1)) != CALOG_OK) return st;
    }
    return CALOG_OK;
  }
  }
  return CALOG_ERR_TYPE;
}

static int32_t finish(WriterT *w, int32_t st, uint32_t *lenOut) {
  if (st != CALOG_OK)
    for (uint32_t i = 0; i < w->newCount; i++) {
      uint32_t slot = w->newHandles[i];
      calogFnReleaseWire(w->rt, slot, w->rt->handles[slot].gen);
    }
  free(w->newHandles);
  *lenOut = w->len;
  return st;
}

int32_t calog__wireEncodeResult(CalogT *rt, const CalogValueT *v, uint32_t *lenOut) {
  WriterT w = {.rt = rt};
  return finish(&w, encode(&w, v, 0), lenOut);
}

int32_t calog__wireEncodeArgs(CalogT *rt, const CalogValueT *args, int32_t argc, uint32_t *lenOut) {
  WriterT w = {.rt = rt};
  int32_t st = need(&w, 5);
  if (st == CALOG_OK) {
    put8(&w, CALOG_W_LIST);
    put32(&w, (uint32_t)argc);
    for (int32_t i = 0; i < argc && st == CALOG_OK; i++) st = encode(&w, &args[i], 0);
  }
  return finish(&w, st, lenOut);
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

static int32_t decode(CalogT *rt, CalogReaderT *rd, CalogValueT *out, CalogValueT *err, int depth) {
  *out = calogValueNil();
  if (!avail(rd, 1)) return bad(err);
  uint8_t tag = rd->buf[rd->pos++];
  switch (tag) {
  case CALOG_W_NIL: return CALOG_OK;
  case CALOG_W_FALSE: *out = calogValueBool(false); return CALOG_OK;
  case CALOG_W_TRUE: *out = calogValueBool(true); return CALOG_OK;
  case CALOG_W_I32: {
    if (!avail(rd, 4)) return bad(err);
    int32_t i;
    memcpy(&i, rd->buf + rd->pos, 4);
    rd->pos += 4;
    *out = calogValueInt(i);
    return CALOG_OK;
  }
  case CALOG_W_INT:
  case CALOG_W_REAL: {
    if (!avail(rd, 8)) return bad(err);
    if (tag == CALOG_W_INT) {
      out->type = CALOG_INT;
      memcpy(&out->as.i, rd->buf + rd->pos, 8);
    } else {
      out->type = CALOG_REAL;
      memcpy(&out->as.r, rd->buf + rd->pos, 8);
    }
    rd->pos += 8;
    return CALOG_OK;
  }
  case CALOG_W_STR:
  case CALOG_W_BIN: {
    if (!avail(rd, 4)) return bad(err);
    uint32_t n = get32(rd);
    if (!avail(rd, n)) return bad(err);
    int32_t st = calogValueString(out, (const char *)rd->buf + rd->pos, n);
    rd->pos += n;
    return st == CALOG_OK ? st : calogFail(err, st, "%s", calogStatusMessage(st));
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
    CalogAggKindE kind = tag == CALOG_W_LIST ? CALOG_AGG_LIST : tag == CALOG_W_MAP ? CALOG_AGG_MAP : CALOG_AGG_BOTH;
    CalogValueT agg;
    int32_t st = calogValueAgg(&agg, kind);
    if (st == CALOG_OK) st = calog__aggReserve(agg.as.agg, na, np);
    if (st != CALOG_OK) {
      calogValueFree(&agg);
      return calogFail(err, st, "%s", calogStatusMessage(st));
    }
    CalogAggT *a = agg.as.agg;
    for (uint32_t i = 0; i < na; i++) {
      if ((st = decode(rt, rd, &a->array[i], err, depth + 1)) != CALOG_OK) goto fail;
      a->arrayCount++;
    }
    for (uint32_t i = 0; i < np; i++) {
      CalogPairT *p = &a->pairs[i];
      if ((st = decode(rt, rd, &p->key, err, depth + 1)) != CALOG_OK) goto fail;
      if (!calog__isKeyType(p->key.type)) {
        calogValueFree(&p->key);
        st = calogFail(err, CALOG_ERR_TYPE, "map key of type %s cannot be represented", calogTypeName(p->key.type));
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
  case CALOG_W_FN: {
    if (!avail(rd, 8)) return bad(err);
    uint32_t slot = get32(rd), gen = get32(rd);
    CalogFnT *fn = handleGet(rt, slot, gen);
    if (fn == NULL) return calogFail(err, CALOG_ERR_DEAD, "function handle was already released");
    calogFnRetain(fn);
    *out = calogValueFn(fn);
    return CALOG_OK;
  }
  case CALOG_W_HOSTFN: {
    if (!avail(rd, 4)) return bad(err);
    uint32_t id = get32(rd);
    CalogHostFnT *h = malloc(sizeof *h);
    CalogFnT *fn = h ? calogFnCreate(calog__hostTrampoline, h, calog__hostRelease) : NULL;
    if (fn == NULL) {
      free(h);
      /* the host counted this reference: give it back */
      if (rt->hostRelease) rt->hostRelease(id);
      return calogFail(err, CALOG_ERR_OOM, "out of memory");
    }
    h->rt = rt;
    h->id = id;
    fn->actor = &rt->host; /* a TypeScript function runs, and is released, on the host thread */
    *out = calogValueFn(fn);
    return CALOG_OK;
  }
  }
  return bad(err);
}

int32_t calog__wireDecode(CalogT *rt, CalogReaderT *rd, CalogValueT *out, CalogValueT *err) {
  return decode(rt, rd, out, err, 0);
}

void calog__argsFree(CalogValueT *args, int32_t argc, CalogValueT *stackBuf) {
  for (int32_t i = 0; i < argc; i++) calogValueFree(&args[i]);
  if (args != stackBuf) free(args);
}

int32_t calog__wireDecodeArgs(CalogT *rt, CalogReaderT *rd, CalogValueT *stackBuf, int32_t cap,
                              CalogValueT **argsOut, int32_t *argcOut, CalogValueT *err) {
  *argsOut = stackBuf;
  *argcOut = 0;
  if (!avail(rd, 5) || rd->buf[rd->pos] != CALOG_W_LIST) return bad(err);
  rd->pos++;
  uint32_t n = get32(rd);
  if (n > rd->len - rd->pos || n > 0xFFFF) return bad(err);
  CalogValueT *args = stackBuf;
  if ((int32_t)n > cap) {
    args = malloc(n * sizeof *args);
    if (args == NULL) return calogFail(err, CALOG_ERR_OOM, "out of memory");
  }
  for (uint32_t i = 0; i < n; i++) {
    int32_t st = decode(rt, rd, &args[i], err, 0); /* an argument list does not count as a level */
    if (st != CALOG_OK) {
      calog__argsFree(args, (int32_t)i, stackBuf);
      return st;
    }
  }
  *argsOut = args;
  *argcOut = (int32_t)n;
  return CALOG_OK;
}

/* ---- host functions as natives ----------------------------------------------------------------- */
/* The outcome of a host call as the host reported it (call's return, or a settled deferral): r >= 0 is the
 * length of the result in IN, r < 0 is -status with an error message string in IN. */
static int32_t hostOutcome(CalogT *rt, int32_t r, CalogValueT *result) {
  if (r < 0) {
    /* error: IN holds a STR message, or a LIST [STR message, INT id of the host's exception] */
    CalogReaderT rd = {.buf = rt->wire.in, .len = rt->wire.inCap, .pos = 0};
    const char *msg;
    uint32_t n;
    int32_t status = -r > 0 && -r < CALOG_STATUS_COUNT ? -r : CALOG_ERR_HOST;
    CalogRaiseT mark = {0, 0};
    if (rd.len >= 5 && rd.buf[0] == CALOG_W_LIST) {
      rd.pos = 1;
      if (get32(&rd) != 2) return calogFail(result, status, "host function failed");
      if (calog__wireReadString(&rd, &msg, &n) != CALOG_OK) return calogFail(result, status, "host function failed");
      CalogValueT id = calogValueNil(), scratch = calogValueNil();
      if (calog__wireDecode(rt, &rd, &id, &scratch) == CALOG_OK && id.type == CALOG_INT && id.as.i > 0) mark.host = id.as.i;
      calogValueFree(&id);
      calogValueFree(&scratch);
    } else if (calog__wireReadString(&rd, &msg, &n) != CALOG_OK) {
      return calogFail(result, status, "host function failed");
    }
    calogErrorSet(result, status, NULL, msg, n, NULL);
    calog__errorMark(result, mark);
    return status;
  }
  if ((uint32_t)r > rt->wire.inCap) return calogFail(result, CALOG_ERR_ARG, "host result larger than its buffer");
  CalogReaderT rd = {.buf = rt->wire.in, .len = (uint32_t)r, .pos = 0};
  return calog__wireDecode(rt, &rd, result, result);
}

int32_t calog__hostTrampoline(CalogValueT *args, int32_t argc, CalogValueT *result, void *ud) {
  CalogHostFnT *h = ud;
  CalogT *rt = h->rt;
  uint32_t token;
  CalogMsgT *deferrable = calog__hostDeferArm(rt, &token); /* taken first: nothing nested may defer it */
  if (rt->hostCall == NULL) return calogFail(result, CALOG_ERR_HOST, "no host is attached to this runtime");
  uint32_t len;
  int32_t st = calog__wireEncodeArgs(rt, args, argc, &len);
  if (st != CALOG_OK) return calogFail(result, st, "cannot pass arguments to host: %s", calogStatusMessage(st));
  if ((st = calog__nestEnter(rt, result)) != CALOG_OK) return st;
  rt->wire.hostToken = token;
  int32_t r = rt->hostCall(h->id, len);
  calog__nestLeave(rt);
  if (r == CALOG_HOST_DEFERRED) {
    if (deferrable == NULL) return calogFail(result, CALOG_ERR_HOST, "the host deferred a call that must reply at once");
    calog__hostDefer(rt, deferrable, token);
    return CALOG__DEFERRED;
  }
  return hostOutcome(rt, r, result);
}

int32_t calogHostSettleWire(CalogT *rt, uint32_t token, int32_t outcome) {
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
  if (h->rt->hostRelease) h->rt->hostRelease(h->id);
  free(h);
}
