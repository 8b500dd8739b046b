/* fuzz_run.c -- libFuzzer target, built once per engine (-DFUZZ_ENGINE="lua"|"js"|"squirrel"): each engine's eval
 * of arbitrary source, run, in a fresh sandboxed host-thread context under step, time, memory and output limits.
 * What the script returns is marshalled out (every value kind an engine can make crosses the codec), what it
 * throws becomes the call's error. Any status is an acceptable outcome except the context dying or the limits
 * failing to stop the script; a crash, a leak or a sanitizer report fails the run.
 *
 * A fresh context per input keeps inputs independent (a crash replays from its one input) and makes the leak
 * check exact: everything the script made is freed when its context is destroyed, before the input ends. */
#include "calog.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FUZZ_ENGINE
#error define FUZZ_ENGINE
#endif

static CalogT *rt;
static CalogValueT options;

/* limits: enough work for an interesting program, small enough that a runaway one costs a few milliseconds */
static void setLimit(CalogAggT *limits, const char *name, int64_t v) {
  CalogValueT k, n = calogValueInt(v);
  if (calogValueString(&k, name, (int64_t)strlen(name)) != CALOG_OK || calogAggSet(limits, &k, &n) != CALOG_OK)
    abort();
}

static void setup(void) {
  rt = calogCreate();
  if (rt == NULL || calogValueAgg(&options, CALOG_AGG_MAP) != CALOG_OK) abort();
  CalogValueT limits, key, output;
  if (calogValueAgg(&limits, CALOG_AGG_MAP) != CALOG_OK) abort();
  setLimit(limits.as.agg, "memory", 8 << 20);
  setLimit(limits.as.agg, "steps", 200000);
  setLimit(limits.as.agg, "timeoutMs", 2000);
  setLimit(limits.as.agg, "output", 4096);
  if (calogValueString(&key, "limits", 6) != CALOG_OK || calogAggSet(options.as.agg, &key, &limits) != CALOG_OK)
    abort();
  if (calogValueString(&key, "output", 6) != CALOG_OK || calogValueString(&output, "ignore", 6) != CALOG_OK ||
      calogAggSet(options.as.agg, &key, &output) != CALOG_OK)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (rt == NULL) setup();
  CalogContextIdT id;
  CalogValueT r = calogValueNil();
  if (calogContextCreateWith(rt, FUZZ_ENGINE, CALOG_CONTEXT_HOST_THREAD, &options, &id, &r) != CALOG_OK) abort();
  int32_t st = calogContextEval(rt, id, (const char *)data, (int64_t)size, "fuzz", &r);
  switch (st) {
  case CALOG_OK:              /* a value, marshalled out */
  case CALOG_ERR_SYNTAX:      /* the source did not compile */
  case CALOG_ERR_SCRIPT:      /* it threw (any value) */
  case CALOG_ERR_LIMIT:       /* a limit stopped it */
  case CALOG_ERR_NESTING:     /* too deep: its own recursion or the host's */
  case CALOG_ERR_OOM:
  case CALOG_ERR_PERMISSION:  /* it reached for what the sandbox does not grant */
  case CALOG_ERR_TYPE:        /* it returned what does not cross (strict policy) */
  case CALOG_ERR_DEPTH:
  case CALOG_ERR_CYCLE:
  case CALOG_ERR_RANGE:
    break;
  default:
    fprintf(stderr, "fuzz_run: eval returned status %d: %s\n", (int)st, calogErrorMessage(&r, NULL));
    abort();
  }
  calogValueFree(&r);
  /* the context survived whatever the script did: it still evaluates (or, filled to its memory limit by the
   * script, says so) */
  const char *check = strcmp(FUZZ_ENGINE, "js") == 0 ? "1" : "return 1";
  st = calogContextEval(rt, id, check, (int64_t)strlen(check), "check", &r);
  if (st == CALOG_OK ? !((r.type == CALOG_INT && r.as.i == 1) || (r.type == CALOG_REAL && r.as.r == 1.0))
                     : st != CALOG_ERR_LIMIT && st != CALOG_ERR_OOM) {
    fprintf(stderr, "fuzz_run: the context no longer evaluates after the input (status %d: %s)\n", (int)st,
            calogErrorMessage(&r, NULL));
    abort();
  }
  calogValueFree(&r);
  calogContextDestroy(rt, id);
  return 0;
}
