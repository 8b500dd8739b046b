/* test_value.c -- the broker core: values, copy/free/move, depth cap, aggregates, registry, error channel. */
#include "calog.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

static CalogValueT str(const char *s) {
  CalogValueT v;
  calogValueString(&v, s, (int64_t)strlen(s));
  return v;
}

static void testScalars(void) {
  CalogValueT a = calogValueInt(INT64_MIN), b;
  CHECK_EQ(calogValueCopy(&b, &a), CALOG_OK);
  CHECK(calogValueEquals(&a, &b));
  CalogValueT r = calogValueReal(1.0), i = calogValueInt(1);
  CHECK(!calogValueEquals(&r, &i)); /* types must match */
  CalogValueT nan1 = calogValueReal(0.0 / 0.0), nan2 = calogValueReal(0.0 / 0.0);
  CHECK(calogValueEquals(&nan1, &nan2));
  CHECK(strcmp(calogTypeName(CALOG_FN), "function") == 0);
  CHECK(strcmp(calogStatusName(CALOG_ERR_DEPTH), "ERR_DEPTH") == 0);
  CHECK(strcmp(calogStatusMessage(999), "unknown status") == 0);
  CHECK_EQ(calogAbiVersion(), CALOG_ABI_VERSION);
}

static void testStrings(void) {
  CalogValueT s;
  CHECK_EQ(calogValueString(&s, "a\0b", 3), CALOG_OK);
  CHECK_EQ(s.as.s.length, 3);
  CHECK_EQ(s.as.s.bytes[3], 0); /* convenience terminator */
  CalogValueT c;
  CHECK_EQ(calogValueCopy(&c, &s), CALOG_OK);
  CHECK(c.as.s.bytes != s.as.s.bytes);
  CHECK(calogValueEquals(&c, &s));
  CalogValueT m = calogValueNil();
  calogValueMove(&m, &c);
  CHECK_EQ(c.type, CALOG_NIL);
  CHECK(calogValueEquals(&m, &s));
  calogValueFree(&m);
  calogValueFree(&s);
  CHECK_EQ(s.type, CALOG_NIL);
  calogValueFree(&s); /* safe on nil */
  CHECK_EQ(calogValueString(&s, NULL, 2), CALOG_ERR_ARG);
  CHECK_EQ(calogValueString(&s, NULL, 0), CALOG_OK);
  calogValueFree(&s);
}

static CalogValueT nest(int depth) {
  CalogValueT v = calogValueInt(depth);
  for (int i = 0; i < depth; i++) {
    CalogValueT outer;
    calogValueAgg(&outer, CALOG_AGG_LIST);
    calogAggPush(outer.as.agg, &v);
    v = outer;
  }
  return v;
}

static void testAggregates(void) {
  CalogValueT a;
  CHECK_EQ(calogValueAgg(&a, CALOG_AGG_LIST), CALOG_OK);
  CalogValueT one = calogValueInt(1), k = str("k"), v = str("v");
  CHECK_EQ(calogAggPush(a.as.agg, &one), CALOG_OK);
  CHECK_EQ(one.type, CALOG_NIL); /* taken */
  CHECK_EQ(calogAggKind(a.as.agg), CALOG_AGG_LIST);
  CHECK_EQ(calogAggSet(a.as.agg, &k, &v), CALOG_OK);
  CHECK_EQ(calogAggKind(a.as.agg), CALOG_AGG_BOTH);
  CalogValueT key = str("k");
  CHECK_STR(calogAggGet(a.as.agg, &key), "v");
  calogValueFree(&key);
  CalogValueT agg2;
  calogValueAgg(&agg2, CALOG_AGG_MAP);
  CalogValueT badKey = agg2, val = calogValueInt(3);
  CHECK_EQ(calogAggSet(a.as.agg, &badKey, &val), CALOG_ERR_TYPE); /* aggregates are not keys */
  CHECK_EQ(badKey.type, CALOG_AGGREGATE);                         /* nothing taken */
  calogValueFree(&agg2);
  CalogValueT copy;
  CHECK_EQ(calogValueCopy(&copy, &a), CALOG_OK);
  CHECK(calogValueEquals(&copy, &a));
  CHECK(calogAggArrayAt(copy.as.agg, 0)->as.i == 1);
  CHECK(calogAggArrayAt(copy.as.agg, 1) == NULL);
  CHECK_STR(calogAggPairKey(copy.as.agg, 0), "k");
  CHECK(calogAggPairValue(copy.as.agg, 1) == NULL);
  calogValueFree(&copy);
  calogValueFree(&a);

  CalogValueT empty;
  calogValueAgg(&empty, CALOG_AGG_MAP);
  CHECK_EQ(calogAggKind(empty.as.agg), CALOG_AGG_MAP); /* the kind flag survives emptiness */
  CHECK_EQ(calogValueCopy(&copy, &empty), CALOG_OK);
  CHECK_EQ(calogAggKind(copy.as.agg), CALOG_AGG_MAP);
  calogValueFree(&copy);
  calogValueFree(&empty);
}

static void testDepthCap(void) {
  CalogValueT ok = nest(CALOG_MAX_DEPTH), deep = nest(CALOG_MAX_DEPTH + 1), c;
  CHECK_EQ(calogValueCopy(&c, &ok), CALOG_OK);
  calogValueFree(&c);
  CHECK_EQ(calogValueCopy(&c, &deep), CALOG_ERR_DEPTH);
  CHECK_EQ(c.type, CALOG_NIL); /* nothing leaked: ASan would report */
  calogValueFree(&ok);
  calogValueFree(&deep);
}

static int releases;
static void countRelease(void *ud) {
  (void)ud;
  releases++;
}
static int32_t add(CalogValueT *args, int32_t argc, CalogValueT *result, void *ud) {
  (void)ud;
  if (argc != 2 || args[0].type != CALOG_INT || args[1].type != CALOG_INT)
    return calogFail(result, CALOG_ERR_ARG, "add(int, int) got %d args", argc);
  *result = calogValueInt(args[0].as.i + args[1].as.i);
  return CALOG_OK;
}

static void testFunctionValues(void) {
  releases = 0;
  CalogFnT *fn = calogFnCreate(add, NULL, countRelease);
  CalogValueT v = calogValueFn(fn), c;
  CHECK_EQ(calogValueCopy(&c, &v), CALOG_OK); /* shares, does not clone */
  CHECK(c.as.fn == fn);
  CalogValueT args[2] = {calogValueInt(2), calogValueInt(40)}, r = calogValueNil();
  CHECK_EQ(calogFnInvoke(fn, args, 2, &r), CALOG_OK);
  CHECK_EQ(r.as.i, 42);
  CHECK_EQ(calogFnInvoke(fn, args, 1, &r), CALOG_ERR_ARG);
  CHECK_CONTAINS(calogErrorMessage(&r, NULL), "add(int, int)");
  calogValueFree(&r);
  calogValueFree(&v);
  CHECK_EQ(releases, 0);
  calogValueFree(&c);
  CHECK_EQ(releases, 1);
  CHECK(calogFnCreate(NULL, NULL, NULL) == NULL);
}

static void testRegistry(void) {
  CalogT *rt = calogCreate();
  releases = 0;
  CHECK_EQ(calogRegister(rt, "add", add, NULL, countRelease), CALOG_OK);
  CHECK_EQ(calogRegister(rt, "bad name", add, NULL, NULL), CALOG_ERR_ARG);
  CHECK_EQ(calogRegister(rt, "", add, NULL, NULL), CALOG_ERR_ARG);
  CalogValueT args[2] = {calogValueInt(1), calogValueInt(2)}, r = calogValueNil();
  CHECK_EQ(calogBrokerCall(rt, "add", args, 2, &r), CALOG_OK);
  CHECK_EQ(r.as.i, 3);
  CHECK_EQ(calogBrokerCall(rt, "nope", args, 2, &r), CALOG_ERR_NOT_FOUND);
  CHECK_CONTAINS(calogErrorMessage(&r, NULL), "nope");
  calogValueFree(&r);
  CHECK_EQ(calogRegister(rt, "add", add, NULL, countRelease), CALOG_OK); /* replace: old release runs */
  CHECK_EQ(releases, 1);
  CHECK_EQ(calogUnregister(rt, "add"), CALOG_OK);
  CHECK_EQ(releases, 2);
  CHECK_EQ(calogUnregister(rt, "add"), CALOG_ERR_NOT_FOUND);
  CHECK_EQ(calogBrokerCall(rt, "add", args, 2, &r), CALOG_ERR_NOT_FOUND);
  calogValueFree(&r);
  CHECK_EQ(calogRegister(rt, "add", add, NULL, countRelease), CALOG_OK);
  calogDestroy(rt); /* the live registration is released */
  CHECK_EQ(releases, 3);
  calogDestroy(NULL);
}

static void testErrorChannel(void) {
  CalogValueT r = calogValueInt(5);
  CHECK_EQ(calogErrorSet(&r, CALOG_ERR_SCRIPT, "lua", "boom", -1, "stack traceback:\n\t[C]: in ?"), CALOG_ERR_SCRIPT);
  CHECK_EQ(r.type, CALOG_AGGREGATE);
  int64_t n;
  CHECK(strcmp(calogErrorMessage(&r, &n), "boom") == 0);
  CHECK_EQ(n, 4);
  CalogValueT key = str("traceback");
  CHECK(calogAggGet(r.as.agg, &key) != NULL);
  calogValueFree(&key);
  CHECK_EQ(calogFail(&r, CALOG_ERR_RANGE, "x=%d", 7), CALOG_ERR_RANGE); /* frees the record first */
  CHECK_STR(&r, "x=7");
  calogValueFree(&r);
  CHECK_EQ(calogErrorSet(&r, CALOG_ERR_DEAD, NULL, NULL, 0, NULL), CALOG_ERR_DEAD);
  CHECK_STR(&r, "dead context or function");
  calogValueFree(&r);
  CHECK(strcmp(calogErrorMessage(&r, NULL), "") == 0);
  CHECK_EQ(calogFail(NULL, CALOG_ERR_ARG, "x"), CALOG_ERR_ARG);
  /* a message past the buffer is cut where no character is split, and says so (pass 43b) */
  char longText[1201];
  for (int i = 0; i < 600; i++) longText[2 * i] = (char)0xC3, longText[2 * i + 1] = (char)0xA9; /* é */
  longText[1200] = 0;
  CHECK_EQ(calogFail(&r, CALOG_ERR_TYPE, "x%s", longText), CALOG_ERR_TYPE);
  int64_t len = 0;
  const char *m = calogErrorMessage(&r, &len);
  CHECK(len < 512 && len > 500 && memcmp(m + len - 3, "...", 3) == 0 && (unsigned char)m[len - 5] == 0xC3 && (unsigned char)m[len - 4] == 0xA9);
  calogValueFree(&r);
}

int main(void) {
  testScalars();
  testStrings();
  testAggregates();
  testDepthCap();
  testFunctionValues();
  testRegistry();
  testErrorChannel();
  return checkSummary("test_value");
}
