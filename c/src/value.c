/* value.c -- the universal value: constructors, copy/free/move/equality, aggregates, the error channel. */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>

static const char *const statusMessages[] = {
#define CALOG_STATUS_MSG(name, code, msg) [code] = msg,
    CALOG_STATUS_MAP(CALOG_STATUS_MSG)
#undef CALOG_STATUS_MSG
};
static const char *const statusNames[] = {
#define CALOG_STATUS_NAME(name, code, msg) [code] = #name,
    CALOG_STATUS_MAP(CALOG_STATUS_NAME)
#undef CALOG_STATUS_NAME
};

const char *calogStatusMessage(int32_t status) {
  return status >= 0 && status < CALOG_STATUS_COUNT ? statusMessages[status] : "unknown status";
}
const char *calogStatusName(int32_t status) {
  return status >= 0 && status < CALOG_STATUS_COUNT ? statusNames[status] : "UNKNOWN";
}
uint32_t calogAbiVersion(void) { return CALOG_ABI_VERSION; }

const char *calogTypeName(CalogTypeE type) {
  switch (type) {
  case CALOG_NIL: return "nil";
  case CALOG_BOOL: return "bool";
  case CALOG_INT: return "int";
  case CALOG_REAL: return "real";
  case CALOG_STRING: return "string";
  case CALOG_AGGREGATE: return "aggregate";
  case CALOG_FN: return "function";
  }
  return "unknown";
}

CalogValueT calogValueNil(void) { return (CalogValueT){.type = CALOG_NIL}; }
CalogValueT calogValueBool(bool b) { return (CalogValueT){.type = CALOG_BOOL, .as.b = b}; }
CalogValueT calogValueInt(int64_t i) { return (CalogValueT){.type = CALOG_INT, .as.i = i}; }
CalogValueT calogValueReal(double r) { return (CalogValueT){.type = CALOG_REAL, .as.r = r}; }
CalogValueT calogValueFn(CalogFnT *fn) { return (CalogValueT){.type = CALOG_FN, .as.fn = fn}; }

int32_t calogValueString(CalogValueT *out, const char *bytes, int64_t len) {
  *out = calogValueNil();
  if (len < 0 || (len > 0 && bytes == NULL)) return CALOG_ERR_ARG;
  char *copy = malloc((size_t)len + 1);
  if (copy == NULL) return CALOG_ERR_OOM;
  if (len > 0) memcpy(copy, bytes, (size_t)len);
  copy[len] = '\0';
  out->type = CALOG_STRING;
  out->as.s.bytes = copy;
  out->as.s.length = len;
  return CALOG_OK;
}

int32_t calogValueAgg(CalogValueT *out, CalogAggKindE kind) {
  *out = calogValueNil();
  CalogAggT *agg = calloc(1, sizeof *agg);
  if (agg == NULL) return CALOG_ERR_OOM;
  agg->kind = kind;
  out->type = CALOG_AGGREGATE;
  out->as.agg = agg;
  return CALOG_OK;
}

static void freeDepth(CalogValueT *v, int depth);

static void aggFree(CalogAggT *agg, int depth) {
  for (int64_t i = 0; i < agg->arrayCount; i++) freeDepth(&agg->array[i], depth + 1);
  for (int64_t i = 0; i < agg->pairCount; i++) {
    freeDepth(&agg->pairs[i].key, depth + 1);
    freeDepth(&agg->pairs[i].value, depth + 1);
  }
  free(agg->array);
  free(agg->pairs);
  free(agg);
}

/* Values are trees built under the depth cap, so recursion here is bounded by construction; depth is kept
 * only as a guard against hand-built over-deep trees (which are then leaked rather than overflowing). */
static void freeDepth(CalogValueT *v, int depth) {
  switch (v->type) {
  case CALOG_NIL:
  case CALOG_BOOL:
  case CALOG_INT:
  case CALOG_REAL: break;
  case CALOG_STRING: free(v->as.s.bytes); break;
  case CALOG_AGGREGATE:
    if (depth <= CALOG_MAX_DEPTH * 4) aggFree(v->as.agg, depth);
    break;
  case CALOG_FN: calogFnRelease(v->as.fn); break;
  }
  *v = calogValueNil();
}

void calogValueFree(CalogValueT *v) {
  if (v != NULL && v->type != CALOG_NIL) freeDepth(v, 0); /* nil: the common case on every crossing */
}

void calogValueMove(CalogValueT *dst, CalogValueT *src) {
  *dst = *src;
  *src = calogValueNil();
}

int32_t calog__aggReserve(CalogAggT *agg, int64_t arrayCap, int64_t pairCap) {
  if (arrayCap > agg->arrayCap) {
    int64_t cap = agg->arrayCap ? agg->arrayCap : 4;
    while (cap < arrayCap) cap *= 2;
    CalogValueT *a = realloc(agg->array, (size_t)cap * sizeof *a);
    if (a == NULL) return CALOG_ERR_OOM;
    agg->array = a;
    agg->arrayCap = cap;
  }
  if (pairCap > agg->pairCap) {
    int64_t cap = agg->pairCap ? agg->pairCap : 4;
    while (cap < pairCap) cap *= 2;
    CalogPairT *p = realloc(agg->pairs, (size_t)cap * sizeof *p);
    if (p == NULL) return CALOG_ERR_OOM;
    agg->pairs = p;
    agg->pairCap = cap;
  }
  return CALOG_OK;
}

bool calog__aggShrink(CalogAggT *agg) {
  bool ok = true;
  if (agg->arrayCap > agg->arrayCount) {
    if (agg->arrayCount == 0) {
      free(agg->array);
      agg->array = NULL;
      agg->arrayCap = 0;
    } else {
      CalogValueT *a = realloc(agg->array, (size_t)agg->arrayCount * sizeof *a);
      if (a != NULL) agg->array = a, agg->arrayCap = agg->arrayCount;
      else ok = false; /* it keeps its room */
    }
  }
  if (agg->pairCap > agg->pairCount) {
    if (agg->pairCount == 0) {
      free(agg->pairs);
      agg->pairs = NULL;
      agg->pairCap = 0;
    } else {
      CalogPairT *p = realloc(agg->pairs, (size_t)agg->pairCount * sizeof *p);
      if (p != NULL) agg->pairs = p, agg->pairCap = agg->pairCount;
      else ok = false;
    }
  }
  return ok;
}

int32_t calog__copyDepth(CalogValueT *dst, const CalogValueT *src, int depth) {
  *dst = calogValueNil();
  switch (src->type) {
  case CALOG_NIL:
  case CALOG_BOOL:
  case CALOG_INT:
  case CALOG_REAL: *dst = *src; return CALOG_OK;
  case CALOG_STRING: return calogValueString(dst, src->as.s.bytes, src->as.s.length);
  case CALOG_FN:
    calogFnRetain(src->as.fn);
    *dst = *src;
    return CALOG_OK;
  case CALOG_AGGREGATE: {
    if (depth >= CALOG_MAX_DEPTH) return CALOG_ERR_DEPTH;
    const CalogAggT *s = src->as.agg;
    CalogValueT out;
    int32_t st = calogValueAgg(&out, s->kind);
    if (st != CALOG_OK) return st;
    CalogAggT *d = out.as.agg;
    if ((st = calog__aggReserve(d, s->arrayCount, s->pairCount)) != CALOG_OK) goto fail;
    for (int64_t i = 0; i < s->arrayCount; i++) {
      if ((st = calog__copyDepth(&d->array[i], &s->array[i], depth + 1)) != CALOG_OK) goto fail;
      d->arrayCount++;
    }
    for (int64_t i = 0; i < s->pairCount; i++) {
      CalogPairT *p = &d->pairs[i];
      if ((st = calog__copyDepth(&p->key, &s->pairs[i].key, depth + 1)) != CALOG_OK) goto fail;
      if ((st = calog__copyDepth(&p->value, &s->pairs[i].value, depth + 1)) != CALOG_OK) {
        calogValueFree(&p->key);
        goto fail;
      }
      d->pairCount++;
    }
    *dst = out;
    return CALOG_OK;
  fail:
    calogValueFree(&out);
    return st;
  }
  }
  return CALOG_ERR_TYPE;
}

int32_t calogValueCopy(CalogValueT *dst, const CalogValueT *src) {
  if (dst == NULL || src == NULL) return CALOG_ERR_ARG;
  return calog__copyDepth(dst, src, 0);
}

static bool equalsDepth(const CalogValueT *a, const CalogValueT *b, int depth) {
  if (a->type != b->type) return false;
  switch (a->type) {
  case CALOG_NIL: return true;
  case CALOG_BOOL: return a->as.b == b->as.b;
  case CALOG_INT: return a->as.i == b->as.i;
  case CALOG_REAL: return a->as.r == b->as.r || (a->as.r != a->as.r && b->as.r != b->as.r);
  case CALOG_STRING:
    return a->as.s.length == b->as.s.length && memcmp(a->as.s.bytes, b->as.s.bytes, (size_t)a->as.s.length) == 0;
  case CALOG_FN: return a->as.fn == b->as.fn;
  case CALOG_AGGREGATE: {
    if (depth >= CALOG_MAX_DEPTH) return false;
    const CalogAggT *x = a->as.agg, *y = b->as.agg;
    if (x->kind != y->kind || x->arrayCount != y->arrayCount || x->pairCount != y->pairCount) return false;
    for (int64_t i = 0; i < x->arrayCount; i++)
      if (!equalsDepth(&x->array[i], &y->array[i], depth + 1)) return false;
    for (int64_t i = 0; i < x->pairCount; i++)
      if (!equalsDepth(&x->pairs[i].key, &y->pairs[i].key, depth + 1) ||
          !equalsDepth(&x->pairs[i].value, &y->pairs[i].value, depth + 1))
        return false;
    return true;
  }
  }
  return false;
}

bool calogValueEquals(const CalogValueT *a, const CalogValueT *b) { return equalsDepth(a, b, 0); }

/* ---- aggregates -------------------------------------------------------------------------------- */
CalogAggKindE calogAggKind(const CalogAggT *agg) { return agg->kind; }
void calogAggSetKind(CalogAggT *agg, CalogAggKindE kind) { agg->kind = kind; }
int64_t calogAggArrayCount(const CalogAggT *agg) { return agg->arrayCount; }
int64_t calogAggPairCount(const CalogAggT *agg) { return agg->pairCount; }
CalogValueT *calogAggArrayAt(CalogAggT *agg, int64_t i) {
  return i >= 0 && i < agg->arrayCount ? &agg->array[i] : NULL;
}
CalogValueT *calogAggPairKey(CalogAggT *agg, int64_t i) {
  return i >= 0 && i < agg->pairCount ? &agg->pairs[i].key : NULL;
}
CalogValueT *calogAggPairValue(CalogAggT *agg, int64_t i) {
  return i >= 0 && i < agg->pairCount ? &agg->pairs[i].value : NULL;
}

int32_t calogAggPush(CalogAggT *agg, CalogValueT *item) {
  int32_t st = calog__aggReserve(agg, agg->arrayCount + 1, 0);
  if (st != CALOG_OK) return st;
  calogValueMove(&agg->array[agg->arrayCount++], item);
  if (agg->kind == CALOG_AGG_MAP) agg->kind = CALOG_AGG_BOTH;
  return CALOG_OK;
}

bool calog__isKeyType(CalogTypeE t) {
  return t == CALOG_BOOL || t == CALOG_INT || t == CALOG_REAL || t == CALOG_STRING;
}

int32_t calogAggSet(CalogAggT *agg, CalogValueT *key, CalogValueT *value) {
  if (!calog__isKeyType(key->type)) return CALOG_ERR_TYPE;
  int32_t st = calog__aggReserve(agg, 0, agg->pairCount + 1);
  if (st != CALOG_OK) return st;
  CalogPairT *p = &agg->pairs[agg->pairCount++];
  calogValueMove(&p->key, key);
  calogValueMove(&p->value, value);
  if (agg->kind == CALOG_AGG_LIST) agg->kind = agg->arrayCount ? CALOG_AGG_BOTH : CALOG_AGG_MAP;
  return CALOG_OK;
}

CalogValueT *calogAggGet(CalogAggT *agg, const CalogValueT *key) {
  for (int64_t i = 0; i < agg->pairCount; i++)
    if (calogValueEquals(&agg->pairs[i].key, key)) return &agg->pairs[i].value;
  return NULL;
}

/* ---- the error channel ------------------------------------------------------------------------- */
static int32_t setField(CalogAggT *agg, const char *key, const char *s, int64_t len) {
  CalogValueT k, v;
  int32_t st = calogValueString(&k, key, (int64_t)strlen(key));
  if (st != CALOG_OK) return st;
  if ((st = calogValueString(&v, s, len)) != CALOG_OK) {
    calogValueFree(&k);
    return st;
  }
  if ((st = calogAggSet(agg, &k, &v)) != CALOG_OK) {
    calogValueFree(&k);
    calogValueFree(&v);
  }
  return st;
}

int32_t calogErrorSet(CalogValueT *result, int32_t status, const char *engine, const char *message,
                      int64_t messageLen, const char *traceback) {
  if (result == NULL) return status;
  calogValueFree(result);
  if (message == NULL) message = calogStatusMessage(status), messageLen = -1;
  if (messageLen < 0) messageLen = (int64_t)strlen(message);
  if (engine == NULL && traceback == NULL) {
    (void)calogValueString(result, message, messageLen);
    return status;
  }
  CalogValueT rec;
  if (calogValueAgg(&rec, CALOG_AGG_MAP) != CALOG_OK) return status;
  if (setField(rec.as.agg, "message", message, messageLen) != CALOG_OK ||
      (engine && setField(rec.as.agg, "engine", engine, (int64_t)strlen(engine)) != CALOG_OK) ||
      (traceback && setField(rec.as.agg, "traceback", traceback, (int64_t)strlen(traceback)) != CALOG_OK)) {
    calogValueFree(&rec);
    (void)calogValueString(result, message, messageLen);
    return status;
  }
  *result = rec;
  return status;
}

/* A plain string error becomes a record {message}; false on OOM (result unchanged). */
static bool toRecord(CalogValueT *result) {
  if (result->type == CALOG_AGGREGATE) return true;
  if (result->type != CALOG_STRING) return false;
  CalogValueT rec, key = calogValueNil();
  if (calogValueAgg(&rec, CALOG_AGG_MAP) != CALOG_OK || calogValueString(&key, "message", 7) != CALOG_OK) {
    calogValueFree(&rec);
    return false;
  }
  if (calogAggSet(rec.as.agg, &key, result) != CALOG_OK) {
    calogValueFree(&key);
    calogValueFree(&rec);
    return false;
  }
  *result = rec;
  return true;
}

void calog__errorAttachValue(CalogValueT *result, CalogValueT *value) {
  CalogValueT key = calogValueNil();
  if (!toRecord(result) || calogValueString(&key, "value", 5) != CALOG_OK ||
      calogAggSet(result->as.agg, &key, value) != CALOG_OK) {
    calogValueFree(&key);
    calogValueFree(value);
  }
}

static const CalogValueT *field(const CalogValueT *err, const char *name) {
  if (err == NULL || err->type != CALOG_AGGREGATE) return NULL;
  CalogValueT key = {.type = CALOG_STRING, .as.s = {.bytes = (char *)name, .length = (int64_t)strlen(name)}};
  return calogAggGet(err->as.agg, &key);
}

void calog__errorMarkPlaceholder(CalogValueT *result) {
  CalogValueT *p = (CalogValueT *)field(result, "placeholder");
  if (p != NULL) {
    calogValueFree(p);
    *p = calogValueBool(true);
    return;
  }
  CalogValueT key = calogValueNil(), v = calogValueBool(true);
  if (!toRecord(result) || calogValueString(&key, "placeholder", 11) != CALOG_OK ||
      calogAggSet(result->as.agg, &key, &v) != CALOG_OK)
    calogValueFree(&key);
}

void calog__errorSetThrower(CalogValueT *result, const char *engine, int64_t n) {
  CalogValueT key = calogValueNil(), v = calogValueNil();
  if (field(result, "thrower") != NULL || !toRecord(result) || calogValueString(&key, "thrower", 7) != CALOG_OK ||
      calogValueString(&v, engine, n) != CALOG_OK || calogAggSet(result->as.agg, &key, &v) != CALOG_OK) {
    calogValueFree(&key);
    calogValueFree(&v);
  }
}

bool calog__errorIsPlaceholder(const CalogValueT *err) {
  const CalogValueT *p = field(err, "placeholder");
  return p != NULL && p->type == CALOG_BOOL && p->as.b;
}

void calog__errorSetMessage(CalogValueT *result, const char *message) {
  calog__errorSetMessageN(result, message, (int64_t)strlen(message));
}

void calog__errorSetMessageN(CalogValueT *result, const char *message, int64_t n) {
  CalogValueT m = calogValueNil();
  if (calogValueString(&m, message, n) != CALOG_OK) return;
  CalogValueT *slot = result->type == CALOG_AGGREGATE ? (CalogValueT *)field(result, "message") : result;
  if (slot == NULL || (slot->type != CALOG_STRING && slot->type != CALOG_NIL)) {
    calogValueFree(&m);
    return;
  }
  calogValueFree(slot);
  *slot = m;
  CalogValueT *p = (CalogValueT *)field(result, "placeholder"); /* what replaces a placeholder says something */
  if (p != NULL) *p = calogValueBool(false);
}

const CalogValueT *calog__valueMessageField(const CalogValueT *v) {
  if (v == NULL || v->type != CALOG_AGGREGATE || calogAggKind(v->as.agg) == CALOG_AGG_LIST) return NULL;
  CalogValueT key = {.type = CALOG_STRING, .as.s = {.bytes = (char *)"message", .length = 7}};
  const CalogValueT *m = calogAggGet(v->as.agg, &key);
  return m != NULL && m->type == CALOG_STRING && m->as.s.length > 0 ? m : NULL;
}

void calog__errorValueRefused(CalogValueT *result, const char *into, const CalogValueT *why) {
  /* the README's order, as where it was thrown: the message it had there when it says something, else its own string
   * message field, else the refusal (a Lua error({ message = "m1", [true] = 1 }) read "m1" in TypeScript, and "lua threw
   * a value that cannot cross into js: ..." once through JavaScript) */
  int64_t n = 0;
  if (calog__errorCarriedMessage(result, &n) != NULL) return;
  const CalogValueT *m = calog__valueMessageField(calogErrorValue(result));
  if (m != NULL) { /* (set as a copy: the value keeps its field) */
    calog__errorSetMessageN(result, m->as.s.bytes, m->as.s.length);
    return;
  }
  /* the engine that raised it, or (a host function passed on what a script threw) the one that threw it */
  const CalogValueT *e = field(result, "engine");
  if (e == NULL) e = field(result, "thrower");
  char from[32] = "a script";
  if (e != NULL && e->type == CALOG_STRING && e->as.s.length > 0 && e->as.s.length < (int64_t)sizeof from) {
    memcpy(from, e->as.s.bytes, (size_t)e->as.s.length);
    from[e->as.s.length] = '\0';
  }
  const char *reason = calogErrorMessage(why, NULL);
  char msg[800];
  snprintf(msg, sizeof msg, "%s threw a value that cannot cross into %s: %s", from, into,
           reason[0] ? reason : "it cannot be represented there");
  calog__errorSetMessage(result, msg);
}

const char *calog__errorCarriedMessage(const CalogValueT *err, int64_t *n) {
  const char *m = calogErrorMessage(err, n);
  return *n == 0 || calog__errorIsPlaceholder(err) ? NULL : m;
}

CalogRaiseT calog__errorRaiseOf(const CalogValueT *err) {
  CalogRaiseT r = {0, 0};
  const CalogValueT *s = field(err, "status"), *h = field(err, "host");
  if (s != NULL && s->type == CALOG_INT && s->as.i > 0 && s->as.i < CALOG_STATUS_COUNT) r.status = (int32_t)s->as.i;
  if (h != NULL && h->type == CALOG_INT && h->as.i > 0) r.host = h->as.i;
  return r;
}

void calog__errorMark(CalogValueT *result, CalogRaiseT mark) {
  const char *names[2] = {"status", "host"};
  int64_t values[2] = {mark.status, mark.host};
  for (int i = 0; i < 2; i++) {
    if (values[i] == 0 || field(result, names[i]) != NULL || !toRecord(result)) continue;
    CalogValueT key = calogValueNil(), v = calogValueInt(values[i]);
    if (calogValueString(&key, names[i], (int64_t)strlen(names[i])) != CALOG_OK ||
        calogAggSet(result->as.agg, &key, &v) != CALOG_OK)
      calogValueFree(&key);
  }
}

const CalogValueT *calog__errorRaiseValue(const CalogValueT *err) {
  const CalogValueT *v = calogErrorValue(err);
  if (v == NULL || v->type != CALOG_STRING) return v;
  int64_t n = 0;
  const char *msg = calogErrorMessage(err, &n);
  return n == v->as.s.length && (n == 0 || memcmp(msg, v->as.s.bytes, (size_t)n) == 0) ? NULL : v;
}

const CalogValueT *calogErrorValue(const CalogValueT *err) {
  if (err == NULL || err->type != CALOG_AGGREGATE) return NULL;
  CalogValueT key = {.type = CALOG_STRING, .as.s = {.bytes = (char *)"value", .length = 5}};
  return calogAggGet(err->as.agg, &key);
}

/* The end of a cut of s[0, n) at most max bytes long that splits no UTF-8 character (a lead byte and what follows it). */
static size_t utf8Cut(const char *s, size_t n, size_t max) {
  if (n <= max) return n;
  size_t end = max;
  while (end > 0 && ((unsigned char)s[end] & 0xC0) == 0x80) end--;
  return end;
}

const char *calog__clipText(char *out, size_t cap, const char *s, size_t n, size_t max) {
  size_t o = 0, end = utf8Cut(s, n, max);
  if (cap < 8) return cap > 0 ? (out[0] = 0, out) : out;
  for (size_t i = 0; i < end && o + 6 < cap; i++) {
    if (s[i] == 0) {
      out[o++] = '\\';
      out[o++] = '0';
    } else {
      out[o++] = s[i];
    }
  }
  if (end < n && o + 3 < cap) out[o++] = '.', out[o++] = '.', out[o++] = '.';
  out[o] = 0;
  return out;
}

int32_t calogFail(CalogValueT *result, int32_t status, const char *fmt, ...) {
  if (result == NULL) return status;
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if (n >= (int)sizeof buf) { /* cut: never inside a character, and said */
    n = (int)utf8Cut(buf, sizeof buf - 1, sizeof buf - 4);
    memcpy(buf + n, "...", 3);
    n += 3;
  }
  calogValueFree(result);
  (void)calogValueString(result, buf, n);
  return status;
}

const char *calogErrorMessage(const CalogValueT *err, int64_t *lenOut) {
  const CalogValueT *m = err;
  if (err != NULL && err->type == CALOG_AGGREGATE) {
    CalogValueT key = {.type = CALOG_STRING, .as.s = {.bytes = (char *)"message", .length = 7}};
    m = calogAggGet(err->as.agg, &key);
  }
  if (m != NULL && m->type == CALOG_STRING) {
    if (lenOut) *lenOut = m->as.s.length;
    return m->as.s.bytes;
  }
  if (lenOut) *lenOut = 0;
  return "";
}

/* ---- UTF-8 validation (RFC 3629: no overlongs, no surrogates, max U+10FFFF) -------------------- */
bool calog__utf8Valid(const char *str, int64_t len) {
  const unsigned char *s = (const unsigned char *)str;
  int64_t i = 0;
  while (i < len) {
    /* ASCII fast path, 8 bytes at a time */
    while (i + 8 <= len) {
      uint64_t w;
      memcpy(&w, s + i, 8);
      if (w & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= len) break;
    unsigned char c = s[i];
    if (c < 0x80) { i++; continue; }
    int n;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) n = 1, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) n = 2, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) n = 3, cp = c & 0x07;
    else return false;
    if (i + n >= len) return false; /* needs bytes i+1 .. i+n */
    for (int k = 1; k <= n; k++) {
      unsigned char cc = s[i + k];
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n + 1;
  }
  return true;
}
