/* limits.c -- per-context limits (memory, steps, wall-clock time, output) and interrupts: the broker's
 * side. Engines count with their own hooks (calog__limitTick every few thousand steps, the allocator for
 * memory) and raise a script error when a limit trips; the trip stays raised until the entry returns to its
 * caller, where calog__limitEntryEnd turns the outcome into the limit's error, whatever the script did with
 * the raise (pcall, try/catch). */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#define nowNs calog__nowNs

const char *calog__limitName(int32_t kind) {
  switch (kind) {
  case CALOG_LIMIT_MEMORY: return "memory";
  case CALOG_LIMIT_STEPS: return "steps";
  case CALOG_LIMIT_TIMEOUT: return "timeout";
  case CALOG_LIMIT_INTERRUPT: return "interrupt";
  case CALOG_LIMIT_OUTPUT: return "output";
  default: return "none";
  }
}

void calog__limitTrip(CalogCtxT *ctx, int32_t kind, int64_t used, int64_t ceiling) {
  int32_t expected = CALOG_LIMIT_NONE;
  if (kind == CALOG_LIMIT_INTERRUPT) { /* any thread: the counters are the context thread's */
    atomic_compare_exchange_strong(&ctx->trip, &expected, kind);
    return;
  }
  if (atomic_compare_exchange_strong(&ctx->trip, &expected, kind)) {
    ctx->tripUsed = used;
    ctx->tripCeiling = ceiling;
  }
}

void calog__limitEntryStart(CalogCtxT *ctx, uint64_t timeoutMs) {
  ctx->outputUsed = 0;
  ctx->outputCap = atomic_load_explicit(&ctx->limits.output, memory_order_relaxed);
  ctx->stepsUsed = 0;
  ctx->stepsCap = atomic_load_explicit(&ctx->limits.steps, memory_order_relaxed);
  int64_t t = atomic_load_explicit(&ctx->limits.timeoutMs, memory_order_relaxed);
  if (timeoutMs > 0 && (t <= 0 || (int64_t)timeoutMs < t)) t = (int64_t)timeoutMs;
  ctx->timeoutMs = t;
  ctx->startNs = t > 0 ? nowNs() : 0; /* read only for a timeout: no clock read per call without one */
  uint64_t maxMs = (UINT64_MAX - ctx->startNs) / 1000000u; /* a timeout past the clock's range: no deadline */
  ctx->deadlineNs = t > 0 && (uint64_t)t < maxMs ? ctx->startNs + (uint64_t)t * 1000000u : 0;
  ctx->tripUsed = ctx->tripCeiling = 0;
  ctx->tripPartial = -1;
  atomic_store(&ctx->trip, CALOG_LIMIT_NONE);
  CalogAsyncEntryT *r = ctx->asyncTop; /* the entry of the async request just dispatched: its deadline */
  if (r != NULL && !r->started && !ctx->installing) { /* the natives' own entry (calog__ctxHold) is not its */
    r->started = true;
    r->startNs = ctx->startNs;
    r->deadlineNs = ctx->deadlineNs;
    r->timeoutMs = ctx->timeoutMs;
  }
  /* an async request cancelled between its dispatch and now (calogRequestCancel saw no running ticket
   * trip, or tripped it before the clear above) */
  uint32_t ticket = atomic_load(&ctx->runningTicket);
  if (ticket != 0 && calog__ticketCancelled(ctx->rt, ticket)) calog__limitTrip(ctx, CALOG_LIMIT_INTERRUPT, 0, 0);
  /* an interrupt between the dispatcher's epoch check and the clear above: interruptCtx bumps the epoch
   * before it trips, so either this load sees the bump or the trip lands after the clear */
  if (ctx->hasQueuedEpoch && atomic_load(&ctx->interruptEpoch) != ctx->queuedEpoch)
    calog__limitTrip(ctx, CALOG_LIMIT_INTERRUPT, 0, 0);
  /* a context being destroyed runs only to close: whatever runs now is interrupted at once */
  if (atomic_load(&ctx->dying)) calog__limitTrip(ctx, CALOG_LIMIT_INTERRUPT, 0, 0);
}

/* The steps the engine ran since its last tick belong to the entry whose limit state is current: counted before
 * that state is saved or replaced (a request served nested on a wait was charged up to 1,024 steps of the call it
 * was nested on, and refused for them), and the budget restarted from the state now current (the call resumed
 * with the nested request's budget and could run up to 1,024 steps past its own limit). */
static void syncSteps(CalogCtxT *ctx) {
  if (ctx->engine != NULL && ctx->engine->syncSteps != NULL && ctx->interp != NULL) ctx->engine->syncSteps(ctx->interp);
}

void calog__limitNestBegin(CalogCtxT *ctx, CalogEntrySaveT *s) {
  syncSteps(ctx);
  *s = (CalogEntrySaveT){.outputUsed = ctx->outputUsed, .outputCap = ctx->outputCap, .stepsUsed = ctx->stepsUsed, .stepsCap = ctx->stepsCap,
                         .timeoutMs = ctx->timeoutMs, .tripUsed = ctx->tripUsed, .tripCeiling = ctx->tripCeiling,
                         .tripPartial = ctx->tripPartial, .startNs = ctx->startNs, .deadlineNs = ctx->deadlineNs,
                         .epoch = atomic_load(&ctx->interruptEpoch), .trip = atomic_load(&ctx->trip),
                         .entryBelow = ctx->entryBelow, .belowStopAt = ctx->belowStopAt};
  ctx->entryBelow = ctx->busy; /* the request's hold makes busy one more: its entry is outermost */
}

void calog__limitNestEnd(CalogCtxT *ctx, const CalogEntrySaveT *s) {
  ctx->outputUsed = s->outputUsed;
  ctx->outputCap = s->outputCap;
  ctx->stepsUsed = s->stepsUsed;
  ctx->stepsCap = s->stepsCap;
  ctx->timeoutMs = s->timeoutMs;
  ctx->tripUsed = s->tripUsed;
  ctx->tripCeiling = s->tripCeiling;
  ctx->tripPartial = s->tripPartial;
  ctx->startNs = s->startNs;
  ctx->deadlineNs = s->deadlineNs;
  ctx->entryBelow = s->entryBelow;
  ctx->belowStopAt = s->belowStopAt;
  atomic_store(&ctx->trip, s->trip);
  /* after the store: interruptCtx bumps the epoch before it trips, so either this load sees the bump or its trip
   * lands after the store; a cancel of the waiting entry's own request (its ticket is running again) likewise */
  uint32_t ticket = atomic_load(&ctx->runningTicket);
  if (atomic_load(&ctx->interruptEpoch) != s->epoch || atomic_load(&ctx->dying) ||
      (ticket != 0 && calog__ticketCancelled(ctx->rt, ticket)))
    calog__limitTrip(ctx, CALOG_LIMIT_INTERRUPT, 0, 0);
  syncSteps(ctx); /* the nested entry's steps were counted when it ended: a budget from the restored state */
}

void calog__limitDeadlineBegin(CalogCtxT *ctx, uint32_t timeoutMs, CalogDeadlineSaveT *s) {
  s->own = false;
  if (timeoutMs == 0 || atomic_load(&ctx->trip) != CALOG_LIMIT_NONE) return;
  uint64_t now = nowNs(), deadline = now + (uint64_t)timeoutMs * 1000000u; /* < 2^53: no wrap */
  if (ctx->deadlineNs != 0 && ctx->deadlineNs <= deadline) return; /* the outer deadline comes first: it rules */
  *s = (CalogDeadlineSaveT){.own = true, .startNs = ctx->startNs, .deadlineNs = ctx->deadlineNs,
                            .timeoutMs = ctx->timeoutMs, .epoch = atomic_load(&ctx->interruptEpoch)};
  ctx->startNs = now;
  ctx->deadlineNs = deadline;
  ctx->timeoutMs = timeoutMs;
}

void calog__limitDeadlineEnd(CalogCtxT *ctx, const CalogDeadlineSaveT *s) {
  if (!s->own) return;
  ctx->startNs = s->startNs;
  ctx->deadlineNs = s->deadlineNs;
  ctx->timeoutMs = s->timeoutMs;
  int32_t expected = CALOG_LIMIT_TIMEOUT; /* while the nested deadline was in force, a timeout was its own */
  if (!atomic_compare_exchange_strong(&ctx->trip, &expected, CALOG_LIMIT_NONE)) return;
  atomic_fetch_add_explicit(&ctx->trips, 1, memory_order_relaxed); /* the nested call's trip: one in the stats */
  ctx->tripUsed = ctx->tripCeiling = 0;
  ctx->tripPartial = -1;
  uint64_t now = nowNs();
  if (ctx->deadlineNs != 0 && now >= ctx->deadlineNs) /* the outer's passed too: its own trip */
    calog__limitTrip(ctx, CALOG_LIMIT_TIMEOUT, (int64_t)((now - ctx->startNs) / 1000000u), ctx->timeoutMs);
  /* an interrupt or a dispose meanwhile found the trip taken (interruptCtx bumps the epoch before it trips) */
  uint32_t ticket = atomic_load(&ctx->runningTicket);
  if (atomic_load(&ctx->interruptEpoch) != s->epoch || atomic_load(&ctx->dying) ||
      (ticket != 0 && calog__ticketCancelled(ctx->rt, ticket)))
    calog__limitTrip(ctx, CALOG_LIMIT_INTERRUPT, 0, 0);
}

int32_t calog__limitTick(CalogCtxT *ctx, int64_t consumed, int64_t *next) {
  if (consumed > 0) ctx->stepsUsed += consumed;
  int64_t chunk = CALOG_TICK_CHUNK;
  int32_t kind = atomic_load_explicit(&ctx->trip, memory_order_relaxed);
  if (kind == CALOG_LIMIT_NONE) {
    if (ctx->stepsCap > 0) {
      if (ctx->stepsUsed >= ctx->stepsCap) calog__limitTrip(ctx, CALOG_LIMIT_STEPS, ctx->stepsUsed, ctx->stepsCap);
      else if (ctx->stepsCap - ctx->stepsUsed < chunk) chunk = ctx->stepsCap - ctx->stepsUsed;
    }
    if (ctx->deadlineNs != 0) {
      uint64_t now = nowNs();
      if (now >= ctx->deadlineNs)
        calog__limitTrip(ctx, CALOG_LIMIT_TIMEOUT, (int64_t)((now - ctx->startNs) / 1000000u), ctx->timeoutMs);
    }
    if (ctx->buriedNs != 0) { /* a request under this one is past its deadline: answered now, not when this returns */
      uint64_t now = nowNs();
      if (now >= ctx->buriedNs) calog__asyncBuriedCheck(ctx, now);
    }
    /* the entries of other contexts below this one on this thread: one past its deadline or stopped stops this one
     * too (interrupted), and its own error follows as the call returns to it */
    (void)calog__entriesBelowStop(ctx, NULL);
    kind = atomic_load_explicit(&ctx->trip, memory_order_relaxed);
  }
  if (kind != CALOG_LIMIT_NONE) chunk = 1; /* raise again at the very next step: nothing swallows it */
  if (next) *next = chunk;
  return kind;
}

int32_t calog__limitStopped(CalogCtxT *ctx) {
  if (ctx == NULL) return CALOG_LIMIT_NONE;
  /* a context being destroyed is interrupted for good: its finalizers at close (outside any entry) make no call out
   * either (a threaded Lua context's __gc called a host function after ctx.dispose() had returned) */
  if (atomic_load(&ctx->dying)) return CALOG_LIMIT_INTERRUPT;
  if (!calog__ctxInEntry(ctx)) return CALOG_LIMIT_NONE;
  if (ctx->deadlineNs != 0 && calog__limitTripped(ctx) == CALOG_LIMIT_NONE) (void)calog__limitTick(ctx, 0, NULL);
  return calog__limitTripped(ctx);
}

int32_t calog__limitError(CalogCtxT *ctx, CalogValueT *result) {
  return calog__limitErrorOf(ctx, calog__limitTripped(ctx), ctx->tripUsed, ctx->tripCeiling, result);
}

int32_t calog__limitCreateFailed(CalogCtxT *ctx, int32_t status, CalogValueT *err) {
  int64_t cap = calog__limitMemory(ctx);
  bool tripped = calog__limitTripped(ctx) == CALOG_LIMIT_MEMORY;
  if (cap <= 0 || (status != CALOG_ERR_OOM && !tripped)) return status;
  return calog__limitErrorOf(ctx, CALOG_LIMIT_MEMORY, tripped && ctx->tripUsed > cap ? ctx->tripUsed : cap + 1, cap, err);
}

int32_t calog__limitErrorOf(CalogCtxT *ctx, int32_t kind, int64_t used, int64_t ceiling, CalogValueT *result) {
  char msg[256];
  switch (kind) {
  case CALOG_LIMIT_MEMORY:
    snprintf(msg, sizeof msg, "memory limit reached: the script needed %lld bytes, the limit is %lld", (long long)used,
             (long long)ceiling);
    break;
  case CALOG_LIMIT_STEPS:
    snprintf(msg, sizeof msg, "step limit reached: %lld steps, the limit is %lld", (long long)used, (long long)ceiling);
    break;
  case CALOG_LIMIT_TIMEOUT:
    snprintf(msg, sizeof msg, "timeout: the script ran %lld ms, the limit is %lld ms", (long long)used, (long long)ceiling);
    break;
  case CALOG_LIMIT_OUTPUT:
    snprintf(msg, sizeof msg, "output limit reached: more than %lld bytes printed in one call", (long long)ceiling);
    break;
  default: snprintf(msg, sizeof msg, "interrupted"); break;
  }
  /* keep the engine and traceback of the error the raise produced, if it reached us as a record */
  const char *engine = NULL, *trace = NULL;
  CalogValueT held = calogValueNil();
  calogValueMove(&held, result);
  if (held.type == CALOG_AGGREGATE) {
    for (int64_t i = 0; i < held.as.agg->pairCount; i++) {
      CalogValueT *k = &held.as.agg->pairs[i].key, *v = &held.as.agg->pairs[i].value;
      if (k->type != CALOG_STRING || v->type != CALOG_STRING) continue;
      if (strcmp(k->as.s.bytes, "engine") == 0) engine = v->as.s.bytes;
      else if (strcmp(k->as.s.bytes, "traceback") == 0) trace = v->as.s.bytes;
    }
  }
  calogErrorSet(result, CALOG_ERR_LIMIT, engine ? engine : ctx->engine->name, msg, -1, trace ? trace : "");
  calogValueFree(&held);
  if (result->type == CALOG_AGGREGATE) {
    CalogValueT k = calogValueNil(), v = calogValueNil();
    const char *name = calog__limitName(kind);
    if (calogValueString(&k, "limit", 5) == CALOG_OK && calogValueString(&v, name, (int64_t)strlen(name)) == CALOG_OK)
      (void)calogAggSet(result->as.agg, &k, &v);
    calogValueFree(&k), calogValueFree(&v);
    if (calogValueString(&k, "used", 4) == CALOG_OK) v = calogValueInt(used), (void)calogAggSet(result->as.agg, &k, &v);
    calogValueFree(&k), calogValueFree(&v);
    if (calogValueString(&k, "ceiling", 7) == CALOG_OK) v = calogValueInt(ceiling), (void)calogAggSet(result->as.agg, &k, &v);
    calogValueFree(&k), calogValueFree(&v);
    if (ctx->tripPartial >= 0 && calogValueString(&k, "partial", 7) == CALOG_OK)
      v = calogValueInt(ctx->tripPartial), (void)calogAggSet(result->as.agg, &k, &v);
    calogValueFree(&k), calogValueFree(&v);
  }
  return CALOG_ERR_LIMIT;
}

void calog__limitPartial(CalogCtxT *ctx, int64_t n) { ctx->tripPartial = n; }

int32_t calog__limitEntryEnd(CalogCtxT *ctx, int32_t status, CalogValueT *result) {
  int32_t kind = calog__limitTripped(ctx);
  if (kind == CALOG_LIMIT_NONE) return status;
  if (kind == CALOG_LIMIT_INTERRUPT && atomic_load(&ctx->dying)) { /* not a limit: the context is gone */
    ctx->tripPartial = -1;
    return calogFail(result, CALOG_ERR_DEAD, "the context was destroyed while the call ran");
  }
  int32_t st = calog__limitError(ctx, result);
  ctx->tripPartial = -1;
  return st;
}

int32_t calog__limitOutput(CalogCtxT *ctx, int64_t n, CalogValueT *err) {
  /* in an entry, its own cap (setLimits applies from the next); output outside any (a context's finalizers at close)
   * meets the limit as it is now */
  int64_t cap = calog__ctxInEntry(ctx) ? ctx->outputCap : atomic_load_explicit(&ctx->limits.output, memory_order_relaxed);
  if (cap > 0 && ctx->outputUsed + n > cap) {
    calog__limitTrip(ctx, CALOG_LIMIT_OUTPUT, ctx->outputUsed + n, cap);
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

/* ---- the process's descriptors ---------------------------------------------------------------------------------- */
/* calog's descriptors in this process (every runtime's sockets and the files scripts open). They may take the
 * process's descriptors but a quarter (at least 64), which stay the host's: a context with a loopback grant took every
 * one (20,000 UDP sockets under a 16 MB limit: the handle quota is memory), and the host's own files, sockets and
 * other contexts' connects failed (pass 29b); a context granted a directory did the same with io.open (30a). */
static _Atomic int64_t fdsOpen;

static int64_t fdShare(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (rlim_t)INT64_MAX / 2)
    return INT64_MAX;
  int64_t n = (int64_t)rl.rlim_cur, keep = n / 4 < 64 ? 64 : n / 4;
  return n > keep ? n - keep : 0;
}

bool calog__fdTake(void) {
  if (atomic_fetch_add(&fdsOpen, 1) < fdShare()) return true;
  atomic_fetch_sub(&fdsOpen, 1);
  errno = EMFILE;
  return false;
}

void calog__fdGive(void) { atomic_fetch_sub(&fdsOpen, 1); }

void calog__fdClose(int fd) {
  close(fd);
  calog__fdGive();
}

void calog__fdFull(char *buf, size_t cap) {
  int64_t share = fdShare();
  if (share == INT64_MAX) snprintf(buf, cap, "too many open files");
  else snprintf(buf, cap, "too many open files (calog's files and sockets, %lld open, may take %lld of this process's "
                "descriptors: the rest are the host's)", (long long)atomic_load(&fdsOpen), (long long)share);
}
