/* limits.c -- per-context limits (memory, steps, wall-clock time, output) and interrupts: the broker's
 * side. Engines count with their own hooks and ask here whether to stop. */
#include "internal.h"

int32_t calog__limitOutput(CalogCtxT *ctx, int64_t n, CalogValueT *err) {
  int64_t cap = atomic_load_explicit(&ctx->limits.output, memory_order_relaxed);
  if (cap > 0 && ctx->outputUsed + n > cap) {
    ctx->outputUsed = cap;
    return calogFail(err, CALOG_ERR_LIMIT, "output limit reached: more than %lld bytes printed in one call",
                     (long long)cap);
  }
  ctx->outputUsed += n;
  return CALOG_OK;
}

int32_t calog__limitsSet(CalogCtxT *ctx, const CalogValueT *map, CalogValueT *err) {
  if (map == NULL || map->type == CALOG_NIL) return CALOG_OK;
  if (map->type != CALOG_AGGREGATE) return calogFail(err, CALOG_ERR_ARG, "limits must be a map");
  static const char *const keys[] = {"memory", "steps", "timeoutMs", "output"};
  _Atomic int64_t *slots[] = {&ctx->limits.memory, &ctx->limits.steps, &ctx->limits.timeoutMs, &ctx->limits.output};
  int64_t vals[4];
  for (int i = 0; i < 4; i++) {
    const CalogValueT *v = calog__optGet(map, keys[i]);
    vals[i] = atomic_load_explicit(slots[i], memory_order_relaxed);
    if (v == NULL || v->type == CALOG_NIL) continue;
    if (v->type == CALOG_INT && v->as.i >= 0) vals[i] = v->as.i;
    else if (v->type == CALOG_REAL && v->as.r >= 0 && v->as.r < 9.2e18) vals[i] = (int64_t)v->as.r;
    else return calogFail(err, CALOG_ERR_ARG, "limits.%s must be a non-negative integer (0 = unlimited)", keys[i]);
  }
  for (int i = 0; i < 4; i++) atomic_store_explicit(slots[i], vals[i], memory_order_relaxed);
  return CALOG_OK;
}
