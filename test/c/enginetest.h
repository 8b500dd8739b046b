/* enginetest.h -- what the per-engine suites (test_lua.c, test_duktape.c, test_squirrel.c) share: the runtime
 * they test, value and context helpers, and the natives each registers. Include after calog.h and check.h. */
#ifndef CALOG_ENGINETEST_H
#define CALOG_ENGINETEST_H

#include <stdlib.h>
#include <string.h>

static CalogT *rt;

static inline CalogValueT str(const char *s) {
  CalogValueT v;
  calogValueString(&v, s, (int64_t)strlen(s));
  return v;
}

/* a context of the engine on the host thread (flags 0); a failure is a failed CHECK */
static inline CalogContextIdT newCtxOf(const char *engine) {
  CalogContextIdT id = 0;
  CalogValueT err = calogValueNil();
  CHECK_EQ(calogContextCreate(rt, engine, 0, &id, &err), CALOG_OK);
  calogValueFree(&err);
  return id;
}

static inline int32_t eval(CalogContextIdT id, const char *src, CalogValueT *out) {
  return calogContextEval(rt, id, src, (int64_t)strlen(src), "test", out);
}

/* the string field name of a record (an error record, a map), or "" */
static inline const char *field(CalogValueT *rec, const char *name) {
  if (rec->type != CALOG_AGGREGATE) return "";
  CalogValueT k = str(name);
  CalogValueT *v = calogAggGet(rec->as.agg, &k);
  calogValueFree(&k);
  return v && v->type == CALOG_STRING ? v->as.s.bytes : "";
}

/* whether an error record's message is marked as the engine's placeholder for a value that is not text */
static inline bool placeholder(CalogValueT *rec) {
  if (rec->type != CALOG_AGGREGATE) return false;
  CalogValueT k = str("placeholder");
  CalogValueT *v = calogAggGet(rec->as.agg, &k);
  calogValueFree(&k);
  return v && v->type == CALOG_BOOL && v->as.b;
}

/* ---- natives ------------------------------------------------------------------------------------- */
static inline int32_t add(CalogValueT *args, int32_t argc, CalogValueT *result, void *ud) {
  (void)ud;
  if (argc != 2 || args[0].type != CALOG_INT || args[1].type != CALOG_INT)
    return calogFail(result, CALOG_ERR_ARG, "add expects two ints");
  *result = calogValueInt(args[0].as.i + args[1].as.i);
  return CALOG_OK;
}

static inline int32_t echo(CalogValueT *args, int32_t argc, CalogValueT *result, void *ud) {
  (void)ud;
  return argc ? calogValueCopy(result, &args[0]) : CALOG_OK;
}

static inline int32_t argCount(CalogValueT *args, int32_t argc, CalogValueT *result, void *ud) {
  (void)args, (void)ud;
  *result = calogValueInt(argc);
  return CALOG_OK;
}

/* calls its first argument (a function value) with 20 and adds 1 */
static inline int32_t applyPlusOne(CalogValueT *args, int32_t argc, CalogValueT *result, void *ud) {
  (void)ud;
  if (argc < 1 || args[0].type != CALOG_FN) return calogFail(result, CALOG_ERR_ARG, "expected a function");
  CalogValueT a = calogValueInt(20);
  int32_t st = calogFnInvoke(args[0].as.fn, &a, 1, result);
  if (st != CALOG_OK) return st;
  if (result->type == CALOG_INT) result->as.i += 1;
  return CALOG_OK;
}

#endif
