/* test_limits.c -- per-context limits and interrupts, in every engine and both thread modes: steps, timeouts,
 * memory, output, swallowing attempts (pcall/try), coroutines and threads, long built-ins, interrupts from
 * another thread and while waiting on another context, limits changed between calls, async cancellation,
 * destroy of a looping context, finalizers that loop at close, and a thread abandoned after the grace period.
 * Run under ASan+UBSan and TSan too. */
#include "calog.h"
#include "check.h"
#include "internal.h" /* CalogAggT's capacities, for the sink's reserved room */

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static CalogT *rt;

static uint64_t nowMs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

typedef struct EngineCaseT {
  const char *engine;
  const char *loop;         /* never ends */
  const char *swallow;      /* catches every error in a loop that never ends */
  const char *coroutine;    /* loops forever inside a coroutine / thread */
  const char *grow;         /* allocates without bound */
  const char *bigAlloc;     /* one huge allocation inside a built-in */
  const char *backtrack;    /* pattern / regexp backtracking bomb (NULL: none in this engine) */
  const char *finalizerLoop; /* keeps an object whose finalizer loops forever (NULL: no script finalizers) */
  const char *defineWork;   /* defines work(n): a loop of n iterations returning n */
  const char *callWork;     /* calls work(1000) */
  const char *callsHost;    /* calls the native slowHost() then loops briefly */
  const char *callsOther;   /* calls the function value in global `other` (set by the test) */
} EngineCaseT;

static const EngineCaseT cases[] = {
    {"lua", "while true do end", "while true do pcall(function() while true do end end) end",
     "local co = coroutine.wrap(function() while true do end end) co()",
     "local t = {} local i = 0 while true do i = i + 1 t[i] = {i} end",
     "return string.rep('x', 1 << 30)",
     "return string.find(('a'):rep(30000), '.-.-.-.-b$')",
     "keep = setmetatable({}, {__gc = function() while true do end end}) return 1",
     "function work(n) local s = 0 for i = 1, n do s = s + 1 end return s end", "return work(1000)",
     "slowHost() local x = 0 for i = 1, 10 do x = x + i end return x", "return other()"},
    {"js", "while (true) {}", "while (true) { try { while (true) {} } catch (e) {} }",
     "var t = new Duktape.Thread(function () { while (true) {} }); Duktape.Thread.resume(t)",
     "var t = []; for (;;) t.push({ a: t.length })", "'x'.repeat(1 << 30).length",
     "/(x+x+)+y/.test('xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx')",
     "var keep = {}; Duktape.fin(keep, function () { while (true) {} }); 1",
     "function work(n) { var s = 0; for (var i = 0; i < n; i++) s++; return s }", "work(1000)",
     "slowHost(); var x = 0; for (var i = 0; i < 10; i++) x += i; x", "other()"},
    {"squirrel", "while (true) {}", "while (true) { try { while (true) {} } catch (e) {} }",
     "local t = newthread(function() { while (true) {} }); t.call()",
     "local t = []; while (true) t.push({ a = t.len() })", "return array(1 << 40).len()", NULL, NULL,
     "function work(n) { local s = 0; for (local i = 0; i < n; i++) s++; return s }", "return work(1000)",
     "slowHost(); local x = 0; for (local i = 0; i < 10; i++) x += i; return x", "return other()"},
};

static CalogContextIdT newCtx(const char *engine, bool threaded, const char *limitsKey, int64_t limit) {
  CalogContextIdT id = 0;
  CalogValueT err = calogValueNil(), opts = calogValueNil(), limits = calogValueNil(), k = calogValueNil(),
              v = calogValueInt(limit);
  calogValueAgg(&opts, CALOG_AGG_MAP);
  calogValueAgg(&limits, CALOG_AGG_MAP);
  if (limitsKey) {
    calogValueString(&k, limitsKey, (int64_t)strlen(limitsKey));
    calogAggSet(limits.as.agg, &k, &v);
  }
  calogValueString(&k, "limits", 6);
  calogAggSet(opts.as.agg, &k, &limits);
  int32_t st = calogContextCreateWith(rt, engine, threaded ? CALOG_CONTEXT_OWN_THREAD : 0, &opts, &id, &err);
  if (st != CALOG_OK) fprintf(stderr, "create %s: %s\n", engine, calogErrorMessage(&err, NULL));
  CHECK_EQ(st, CALOG_OK);
  calogValueFree(&err);
  calogValueFree(&opts);
  return id;
}

static void setLimit(CalogContextIdT id, const char *key, int64_t value) {
  CalogValueT limits = calogValueNil(), k = calogValueNil(), v = calogValueInt(value), err = calogValueNil();
  calogValueAgg(&limits, CALOG_AGG_MAP);
  calogValueString(&k, key, (int64_t)strlen(key));
  calogAggSet(limits.as.agg, &k, &v);
  CHECK_EQ(calogContextSetLimits(rt, id, &limits, &err), CALOG_OK);
  calogValueFree(&limits);
  calogValueFree(&err);
}

static int32_t eval(CalogContextIdT id, const char *src, CalogValueT *out) {
  return calogContextEval(rt, id, src, (int64_t)strlen(src), "test", out);
}

/* The field `key` of an error record, or NULL. */
static const CalogValueT *field(CalogValueT *rec, const char *key) {
  if (rec->type != CALOG_AGGREGATE) return NULL;
  CalogValueT k = calogValueNil();
  calogValueString(&k, key, (int64_t)strlen(key));
  const CalogValueT *v = calogAggGet(rec->as.agg, &k);
  calogValueFree(&k);
  return v;
}

/* Runs src, which must stop with the given limit; returns how long it took. */
static uint64_t expectLimit(CalogContextIdT id, const char *src, const char *limit, const char *what) {
  CalogValueT r = calogValueNil();
  uint64_t t0 = nowMs();
  int32_t st = eval(id, src, &r);
  uint64_t took = nowMs() - t0;
  if (st != CALOG_ERR_LIMIT) fprintf(stderr, "%s: status %d (%s)\n", what, st, calogErrorMessage(&r, NULL));
  CHECK_EQ(st, CALOG_ERR_LIMIT);
  const CalogValueT *l = field(&r, "limit"), *used = field(&r, "used"), *ceiling = field(&r, "ceiling");
  CHECK(l != NULL && l->type == CALOG_STRING && strcmp(l->as.s.bytes, limit) == 0);
  if (l && l->type == CALOG_STRING && strcmp(l->as.s.bytes, limit) != 0)
    fprintf(stderr, "%s: limit %s, expected %s (%s)\n", what, l->as.s.bytes, limit, calogErrorMessage(&r, NULL));
  CHECK(used != NULL && ceiling != NULL && used->type == CALOG_INT && ceiling->type == CALOG_INT);
  if (strcmp(limit, "interrupt") != 0 && used && ceiling) CHECK(used->as.i >= ceiling->as.i);
  calogValueFree(&r);
  return took;
}

static void expectInt(CalogContextIdT id, const char *src, int64_t want) {
  CalogValueT r = calogValueNil();
  int32_t st = eval(id, src, &r);
  if (st != CALOG_OK) fprintf(stderr, "eval failed: %s\n", calogErrorMessage(&r, NULL));
  CHECK_EQ(st, CALOG_OK);
  CHECK(r.type == CALOG_INT && r.as.i == want);
  calogValueFree(&r);
}

/* slowHost(): a native that runs 150 ms (longer than the timeout used with it) */
static int32_t slowHost(CalogValueT *a, int32_t n, CalogValueT *r, void *ud) {
  (void)a, (void)n, (void)ud;
  usleep(150 * 1000);
  *r = calogValueNil();
  return CALOG_OK;
}

static void testEngine(const EngineCaseT *c, bool threaded) {
  /* steps and timeouts stop endless loops, also inside pcall/try and coroutines; the context stays usable */
  CalogContextIdT id = newCtx(c->engine, threaded, "steps", 200000);
  CalogValueT r = calogValueNil();
  CHECK_EQ(eval(id, c->defineWork, &r), CALOG_OK);
  calogValueFree(&r);
  expectLimit(id, c->loop, "steps", "loop/steps");
  expectInt(id, c->callWork, 1000);
  CHECK(calogContextStat(rt, id, CALOG_STAT_LAST_STEPS) >= 1000);
  expectLimit(id, c->swallow, "steps", "swallow/steps");
  expectLimit(id, c->coroutine, "steps", "coroutine/steps");
  CHECK(calogContextStat(rt, id, CALOG_STAT_TRIPS) == 3);
  setLimit(id, "steps", 0);
  setLimit(id, "timeoutMs", 100);
  uint64_t took = expectLimit(id, c->loop, "timeout", "loop/timeout");
  CHECK(took >= 100 && took < 5000);
  took = expectLimit(id, c->swallow, "timeout", "swallow/timeout");
  CHECK(took < 5000); /* generous: sanitizer builds on a loaded machine */
  if (c->backtrack) {
    took = expectLimit(id, c->backtrack, "timeout", "backtrack/timeout");
    CHECK(took < 5000); /* generous: sanitizer builds on a loaded machine */
  }
  /* a limit tripping while a native runs takes effect when it returns */
  took = expectLimit(id, c->callsHost, "timeout", "slowHost/timeout");
  CHECK(took >= 150);
  expectInt(id, c->callWork, 1000);
  /* a per-call timeout, sooner than the context's */
  setLimit(id, "timeoutMs", 0);
  CHECK_EQ(calogContextEvalTimed(rt, id, c->loop, (int64_t)strlen(c->loop), NULL, 30, &r), CALOG_ERR_LIMIT);
  CHECK_CONTAINS(calogErrorMessage(&r, NULL), "timeout");
  calogValueFree(&r);
  /* 1,000 trips in a row */
  setLimit(id, "steps", 1000);
  int okTrips = 0;
  for (int i = 0; i < 1000; i++) {
    int32_t st = eval(id, c->loop, &r);
    calogValueFree(&r);
    okTrips += st == CALOG_ERR_LIMIT;
  }
  CHECK_EQ(okTrips, 1000);
  setLimit(id, "steps", 0);
  expectInt(id, c->callWork, 1000);
  calogContextDestroy(rt, id);

  /* memory: growth and one huge allocation; the host survives, the context stays usable */
  id = newCtx(c->engine, threaded, "memory", 16 << 20);
  CHECK_EQ(eval(id, c->defineWork, &r), CALOG_OK);
  calogValueFree(&r);
  expectLimit(id, c->grow, "memory", "grow/memory");
  expectLimit(id, c->bigAlloc, "memory", "bigAlloc/memory");
  CHECK(calogContextMemory(rt, id) > 0);
  expectInt(id, c->callWork, 1000);
  calogContextDestroy(rt, id);

  /* a looping finalizer does not hang destroy */
  if (c->finalizerLoop) {
    id = newCtx(c->engine, threaded, NULL, 0);
    CHECK_EQ(eval(id, c->finalizerLoop, &r), CALOG_OK);
    calogValueFree(&r);
    uint64_t t0 = nowMs();
    CHECK_EQ(calogContextDestroy(rt, id), CALOG_OK);
    if (!threaded) CHECK(nowMs() - t0 < 2000);
  }
}

/* ---- interrupts from another thread ------------------------------------------------------------ */
typedef struct InterruptArgT {
  CalogContextIdT id;
  int delayMs;
  int32_t status; /* what calogContextInterrupt returned (checked after the join: CHECK is not thread-safe) */
} InterruptArgT;

static void *interruptLater(void *p) {
  InterruptArgT *a = p;
  usleep((useconds_t)a->delayMs * 1000u);
  a->status = calogContextInterrupt(rt, a->id);
  return NULL;
}

static void testInterrupt(const EngineCaseT *c, bool threaded) {
  CalogContextIdT id = newCtx(c->engine, threaded, NULL, 0);
  CHECK_EQ(calogContextInterrupt(rt, id), CALOG_OK); /* idle: nothing to stop, nothing left pending */
  CalogValueT r = calogValueNil();
  CHECK_EQ(eval(id, c->defineWork, &r), CALOG_OK);
  calogValueFree(&r);
  InterruptArgT a = {id, 50, -1};
  pthread_t t;
  pthread_create(&t, NULL, interruptLater, &a);
  uint64_t took = expectLimit(id, c->swallow, "interrupt", "interrupt");
  pthread_join(t, NULL);
  CHECK_EQ(a.status, CALOG_OK);
  CHECK(took >= 40 && took < 3000);
  expectInt(id, c->callWork, 1000);
  calogContextDestroy(rt, id);
}

/* A (threaded Lua) waits on B's looping function: interrupting A withdraws or interrupts the call */
static void testInterruptWhileWaiting(void) {
  CalogContextIdT a = newCtx("lua", true, NULL, 0), b = newCtx("lua", true, NULL, 0);
  CalogValueT r = calogValueNil(), fn = calogValueNil();
  CHECK_EQ(eval(b, "return function() while true do end end", &fn), CALOG_OK);
  /* hand B's function to A as a global through a native that returns it */
  CHECK_EQ(eval(a, "function run(f) return f() end", &r), CALOG_OK);
  calogValueFree(&r);
  InterruptArgT ia = {a, 80, -1};
  pthread_t t;
  pthread_create(&t, NULL, interruptLater, &ia);
  uint64_t t0 = nowMs();
  int32_t st = calogContextCall(rt, a, "run", &fn, 1, &r);
  pthread_join(t, NULL);
  CHECK_EQ(ia.status, CALOG_OK);
  CHECK_EQ(st, CALOG_ERR_LIMIT);
  CHECK(nowMs() - t0 < 3000);
  calogValueFree(&r);
  /* B was interrupted too (it was running A's call): it answers again */
  expectInt(b, "return 7", 7);
  /* A's deadline applies to its wait as well */
  setLimit(a, "timeoutMs", 60);
  t0 = nowMs();
  CHECK_EQ(calogContextCall(rt, a, "run", &fn, 1, &r), CALOG_ERR_LIMIT);
  CHECK_CONTAINS(calogErrorMessage(&r, NULL), "timeout");
  CHECK(nowMs() - t0 < 3000);
  calogValueFree(&r);
  calogValueFree(&fn);
  calogContextDestroy(rt, a);
  calogContextDestroy(rt, b);
}

/* Writes an async eval of src into rt's IN (wire: [source string, nil]) and submits it: its ticket. */
static int32_t evalAsync(CalogT *r, CalogContextIdT id, const char *src) {
  CalogWireControlT *w = calogWireControl(r);
  uint32_t n = (uint32_t)strlen(src);
  w->in[0] = 6;
  memcpy(w->in + 1, &n, 4);
  memcpy(w->in + 5, src, n);
  w->in[5 + n] = 0;
  return calogEvalAsyncWire(r, id, 6 + n);
}

/* destroying a context whose script loops forever returns at once, and the runtime's destroy is bounded */
static void testDestroyLooping(void) {
  CalogT *own = calogCreate();
  CalogT *saved = rt;
  rt = own;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    CalogContextIdT id = newCtx(cases[i].engine, true, NULL, 0);
    /* start an endless loop asynchronously on its thread (a ticket; never collected) */
    CHECK(evalAsync(own, id, cases[i].loop) > 0);
    usleep(30 * 1000);
    uint64_t t0 = nowMs();
    CHECK_EQ(calogContextDestroy(own, id), CALOG_OK);
    CHECK(nowMs() - t0 < 100);
  }
  uint64_t t0 = nowMs();
  calogDestroy(own);
  CHECK(nowMs() - t0 < 1500); /* every loop was interrupted: no grace period was needed */
  rt = saved;
}

/* An interrupt right after an async request is queued stops it, wherever the context's thread is (taking
 * it from the queue, resetting its limits, running it): never lost. Each round waits 3 s at most. */
static void testInterruptRightAfterQueue(const EngineCaseT *c) {
  CalogContextIdT id = newCtx(c->engine, true, NULL, 0);
  CalogWireControlT *w = calogWireControl(rt);
  int lost = 0, wrong = 0;
  for (int round = 0; round < 400 && lost == 0; round++) {
    int32_t ticket = evalAsync(rt, id, c->loop);
    if (ticket <= 0) { wrong++; break; }
    if (round % 3 == 1) usleep(50); /* also after the thread took it */
    calogContextInterrupt(rt, id);
    bool done = false;
    uint64_t t0 = nowMs();
    while (!done && nowMs() - t0 < 3000) {
      if (calogHostWait(rt, 100) < 0) break;
      while (calogHostPoll(rt) == 1)
        if (w->pollTicket == (uint32_t)ticket) done = true, wrong += w->pollStatus != CALOG_ERR_LIMIT;
    }
    if (!done) lost++;
  }
  CHECK_EQ(lost, 0);
  CHECK_EQ(wrong, 0);
  calogContextDestroy(rt, id); /* stops a lost one */
  while (calogHostPoll(rt) == 1) {}
}

/* a native that never comes back (here: 3 s) overruns the grace period: the thread is abandoned */
static int32_t stuck(CalogValueT *a, int32_t n, CalogValueT *r, void *ud) {
  (void)a, (void)n, (void)ud;
  sleep(3);
  *r = calogValueNil();
  return CALOG_OK;
}

static void testAbandon(void) {
  CalogT *own = calogCreate();
  calogRegister(own, "stuck", stuck, NULL, NULL);
  CalogContextIdT id = 0;
  CHECK_EQ(calogContextCreate(own, "lua", CALOG_CONTEXT_OWN_THREAD, &id, NULL), CALOG_OK);
  CHECK(evalAsync(own, id, "stuck() while true do end") > 0);
  usleep(50 * 1000);
  int64_t before = calogLeakStat(0);
  uint64_t t0 = nowMs();
  calogDestroy(own);
  uint64_t took = nowMs() - t0;
  CHECK(took >= CALOG_DISPOSE_GRACE_MS - 100 && took < CALOG_DISPOSE_GRACE_MS + 1000);
  CHECK_EQ(calogLeakStat(0), before + 1);
  CHECK(calogLeakStat(1) > 0);
  sleep(2); /* the native returns, the script is interrupted, the thread parks for good */
}

/* take(a): a native that counts its calls (it must never see an amplified value) */
static int takeCalls;
static int32_t take(CalogValueT *a, int32_t n, CalogValueT *r, void *ud) {
  (void)a, (void)n, (void)ud;
  takeCalls++;
  *r = calogValueNil();
  return CALOG_OK;
}

/* A value a script sends out (to a native, as its result, as what it throws) costs the host no more than the script's
 * memory limit: 200 references to one 100 KB string are 20 MB once they cross, from a context limited to 2 MB. The
 * memory limit trips (the entry ends with it), and the context goes on. */
static void testAmplified(bool threaded) {
  static const char *const src[3][3] = {
      {"local s = string.rep('x', 100000) local a = {} for i = 1, 200 do a[i] = s end take(a)",
       "local s = string.rep('x', 100000) local a = {} for i = 1, 200 do a[i] = s end return a",
       "local s = string.rep('x', 100000) local a = {} for i = 1, 200 do a[i] = s end error(a)"},
      {"var s = 'x'; while (s.length < 100000) s += s; var a = []; for (var i = 0; i < 200; i++) a.push(s); take(a)",
       "var s = 'x'; while (s.length < 100000) s += s; var a = []; for (var i = 0; i < 200; i++) a.push(s); a",
       "var s = 'x'; while (s.length < 100000) s += s; var a = []; for (var i = 0; i < 200; i++) a.push(s); throw a"},
      {"local s = \"x\"; while (s.len() < 100000) s += s; take(array(200, s));",
       "local s = \"x\"; while (s.len() < 100000) s += s; return array(200, s);",
       "local s = \"x\"; while (s.len() < 100000) s += s; throw array(200, s);"},
  };
  static const char *const engines[3] = {"lua", "js", "squirrel"};
  static const char *const ok[3] = {"return 1", "1", "return 1"};
  for (int e = 0; e < 3; e++) {
    CalogContextIdT id = newCtx(engines[e], threaded, "memory", 2 << 20);
    takeCalls = 0;
    for (int k = 0; k < 3; k++) (void)expectLimit(id, src[e][k], "memory", engines[e]);
    CHECK_EQ(takeCalls, 0);
    expectInt(id, ok[e], 1);
    calogContextDestroy(rt, id);
  }
  /* the room an aggregate reserves from its engine's hint is paid for, and what its items leave is given back: a Lua
   * table of 41 entries whose border is 2^40 reserved room for the whole budget, uncharged, per occurrence (200 of
   * them: gigabytes of the host's address space from a 2 MB context, pass 29a); now it crosses at its own size */
  CalogContextIdT id = newCtx("lua", threaded, "memory", 2 << 20);
  CalogValueT r = calogValueNil();
  CHECK_EQ(eval(id, "local k = {} for i = 0, 40 do k[#k + 1] = '[' .. (1 << i) .. ']=' .. i end "
                    "local big = load('return {' .. table.concat(k, ',') .. '}')() assert(#big == 1 << 40) "
                    "local a = {} for i = 1, 200 do a[i] = big end return a", &r), CALOG_OK);
  CHECK(r.type == CALOG_AGGREGATE && r.as.agg->arrayCount == 200);
  int64_t room = 0;
  for (int64_t i = 0; r.type == CALOG_AGGREGATE && i < r.as.agg->arrayCount; i++) {
    const CalogAggT *b = r.as.agg->array[i].as.agg;
    CHECK(r.as.agg->array[i].type == CALOG_AGGREGATE && b->arrayCount + b->pairCount == 41);
    room += b->arrayCap + b->pairCap;
  }
  CHECK(room <= 200 * 64);
  calogValueFree(&r);
  calogContextDestroy(rt, id);
}

int main(void) {
  rt = calogCreate();
  calogRegister(rt, "slowHost", slowHost, NULL, NULL);
  calogRegister(rt, "take", take, NULL, NULL);
  testAmplified(false);
  testAmplified(true);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    testEngine(&cases[i], false);
    testEngine(&cases[i], true);
    testInterrupt(&cases[i], false);
    testInterrupt(&cases[i], true);
    testInterruptRightAfterQueue(&cases[i]);
  }
  testInterruptWhileWaiting();
  testDestroyLooping();
  calogDestroy(rt);
  testAbandon();
  return checkSummary("test_limits");
}
