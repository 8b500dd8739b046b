/* raisemarks.h -- shared by the engine suites (issue 12, second hostile pass): an error carries where it came
 * from ("status", "host") through a script exactly, never matched by its text (E4), and a value thrown by
 * one engine is raised as that value in the next (E5). */
#ifndef CALOG_TEST_RAISEMARKS_H
#define CALOG_TEST_RAISEMARKS_H

#include "calog.h"
#include "check.h"

static void raiseSet(CalogValueT *rec, const char *key, CalogValueT v) {
  CalogValueT k;
  calogValueString(&k, key, (int64_t)strlen(key));
  calogAggSet(rec->as.agg, &k, &v);
}

/* fails like a host function whose exception got id 42, with a capability's status (ud: the message) */
static int32_t raiseMarked(CalogValueT *args, int32_t argc, CalogValueT *result, void *ud) {
  (void)args, (void)argc;
  const char *msg = ud;
  CalogValueT rec, m;
  calogValueAgg(&rec, CALOG_AGG_MAP);
  calogValueString(&m, msg, (int64_t)strlen(msg));
  raiseSet(&rec, "message", m);
  raiseSet(&rec, "status", calogValueInt(CALOG_ERR_PERMISSION));
  raiseSet(&rec, "host", calogValueInt(42));
  calogValueFree(result);
  *result = rec;
  return CALOG_ERR_HOST;
}

/* fails like a script that threw the table {code = 7} */
static int32_t raiseValued(CalogValueT *args, int32_t argc, CalogValueT *result, void *ud) {
  (void)args, (void)argc, (void)ud;
  CalogValueT rec, m, t;
  calogValueAgg(&rec, CALOG_AGG_MAP);
  calogValueString(&m, "(error object is a table value)", -1 + (int64_t)sizeof "(error object is a table value)");
  raiseSet(&rec, "message", m);
  calogValueAgg(&t, CALOG_AGG_MAP);
  raiseSet(&t, "code", calogValueInt(7));
  raiseSet(&rec, "value", t);
  calogValueFree(result);
  *result = rec;
  return CALOG_ERR_SCRIPT;
}

static int64_t raiseIntField(const CalogValueT *rec, const char *name) {
  if (rec->type != CALOG_AGGREGATE) return 0;
  CalogValueT k;
  calogValueString(&k, name, (int64_t)strlen(name));
  const CalogValueT *v = calogAggGet(rec->as.agg, &k);
  calogValueFree(&k);
  return v != NULL && v->type == CALOG_INT ? v->as.i : 0;
}

typedef struct RaiseSrcT {
  const char *engine;
  const char *uncaught;      /* raises markedShort() uncaught */
  const char *catchThenSame; /* catches markedShort() and raises the same text itself */
  const char *rethrow;       /* catches markedLong() and raises the caught error again */
  int32_t rethrowStatus;     /* what that gives (the engine's rule, see the README) */
  const char *valueCode;     /* catches valued() and answers the thrown table's code */
} RaiseSrcT;

static void testRaiseMarks(CalogT *rt, const RaiseSrcT *s) {
  CHECK_EQ(calogRegister(rt, "markedShort", raiseMarked, (void *)"short", NULL), CALOG_OK);
  CHECK_EQ(calogRegister(rt, "markedLong", raiseMarked, (void *)"a message of more than forty bytes, which Lua does not intern", NULL), CALOG_OK);
  CHECK_EQ(calogRegister(rt, "valued", raiseValued, NULL, NULL), CALOG_OK);
  for (uint32_t flags = 0; flags <= CALOG_CONTEXT_OWN_THREAD; flags++) {
    CalogContextIdT id = 0;
    CalogValueT r = calogValueNil();
    CHECK_EQ(calogContextCreate(rt, s->engine, flags, &id, &r), CALOG_OK);
    CHECK_EQ(calogContextEval(rt, id, s->uncaught, (int64_t)strlen(s->uncaught), "marks", &r), CALOG_ERR_PERMISSION);
    CHECK_EQ(raiseIntField(&r, "host"), 42);
    CHECK_EQ(raiseIntField(&r, "status"), CALOG_ERR_PERMISSION);
    CHECK(strcmp(calogErrorMessage(&r, NULL), "short") == 0 || strstr(calogErrorMessage(&r, NULL), ": short") != NULL);
    CHECK_EQ(calogContextEval(rt, id, s->catchThenSame, (int64_t)strlen(s->catchThenSame), "marks", &r), CALOG_ERR_SCRIPT);
    CHECK_CONTAINS(calogErrorMessage(&r, NULL), "short");
    CHECK_EQ(raiseIntField(&r, "host"), 0);
    CHECK_EQ(raiseIntField(&r, "status"), 0);
    CHECK_EQ(calogContextEval(rt, id, s->rethrow, (int64_t)strlen(s->rethrow), "marks", &r), s->rethrowStatus);
    CHECK_EQ(raiseIntField(&r, "host"), s->rethrowStatus == CALOG_ERR_PERMISSION ? 42 : 0);
    CHECK_EQ(calogContextEval(rt, id, s->valueCode, (int64_t)strlen(s->valueCode), "marks", &r), CALOG_OK);
    CHECK(r.type == CALOG_INT && r.as.i == 7);
    calogValueFree(&r);
    calogContextDestroy(rt, id);
  }
  calogUnregister(rt, "markedShort");
  calogUnregister(rt, "markedLong");
  calogUnregister(rt, "valued");
}

#endif
