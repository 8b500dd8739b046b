/* test_codec.c -- each engine's codec on the wire paths (codec.h): a call from IN straight onto the engine's
 * stack and back into OUT (the engine's callVia) gives exactly what the CalogValueT path gives -- the same
 * OUT bytes, or the same error -- for well-formed and malformed IN, under both policies; a script's host
 * call writes its arguments straight into OUT and pushes the result straight from IN; every host function
 * the host sent (HOSTFN) is given back once, whatever happens. */
#include "calog.h"
#include "check.h"
#include "wire.h"

#include <stdlib.h>

static CalogT *rt;

/* ---- a small writer of wire data -------------------------------------------------------------------- */
typedef struct BufT {
  uint8_t b[16384];
  uint32_t n;
} BufT;
static void u8(BufT *w, uint8_t v) { w->b[w->n++] = v; }
static void u32(BufT *w, uint32_t v) {
  memcpy(w->b + w->n, &v, 4);
  w->n += 4;
}
static void i32(BufT *w, int32_t v) {
  u8(w, CALOG_W_I32);
  memcpy(w->b + w->n, &v, 4);
  w->n += 4;
}
static void i64(BufT *w, int64_t v) {
  u8(w, CALOG_W_INT);
  memcpy(w->b + w->n, &v, 8);
  w->n += 8;
}
static void real(BufT *w, double v) {
  u8(w, CALOG_W_REAL);
  memcpy(w->b + w->n, &v, 8);
  w->n += 8;
}
static void sn(BufT *w, const char *s, uint32_t n) {
  u8(w, CALOG_W_STR);
  u32(w, n);
  memcpy(w->b + w->n, s, n);
  w->n += n;
}
static void s(BufT *w, const char *str) { sn(w, str, (uint32_t)strlen(str)); }
static void list(BufT *w, uint32_t n) {
  u8(w, CALOG_W_LIST);
  u32(w, n);
}
static void map(BufT *w, uint32_t n) {
  u8(w, CALOG_W_MAP);
  u32(w, n);
}
static void both(BufT *w, uint32_t na, uint32_t np) {
  u8(w, CALOG_W_BOTH);
  u32(w, na);
  u32(w, np);
}

/* ---- the two paths ---------------------------------------------------------------------------------- */
typedef struct OutcomeT {
  int32_t r; /* the wire return */
  uint8_t *bytes;
  uint32_t len;
} OutcomeT;

static void take(OutcomeT *o, int32_t r, uint32_t len) {
  o->r = r;
  o->len = len;
  o->bytes = malloc(len ? len : 1);
  memcpy(o->bytes, calogWireControl(rt)->out, len);
}

/* What calogCallWire / calogFnCallWire did before the engines had callVia: decode IN into CalogValueT, call
 * through the C API, encode the outcome. args: the argument LIST in IN. */
static void viaValues(CalogContextIdT id, const char *name, CalogFnT *fn, const BufT *args, OutcomeT *o) {
  CHECK_EQ(calogWireReserve(rt, 0, args->n), 0);
  CalogWireControlT *w = calogWireControl(rt);
  memcpy(w->in, args->b, args->n);
  CalogReaderT rd = {.buf = w->in, .len = args->n};
  CalogValueT stackArgs[8], *argv, v = calogValueNil();
  int32_t argc;
  int32_t st = calog__wireDecodeArgs(rt, &rd, stackArgs, 8, &argv, &argc, &v);
  if (st == CALOG_OK) {
    st = fn ? calogFnInvoke(fn, argv, argc, &v) : calogContextCall(rt, id, name, argv, argc, &v);
    calog__argsFree(argv, argc, stackArgs);
  }
  uint32_t len = calog__hostEncodeOutcome(rt, &st, &v);
  take(o, st == CALOG_OK ? (int32_t)len : -st, len);
}

/* The same through the wire entry point (IN = [name, LIST args], or LIST args for a handle). */
static void viaWire(CalogContextIdT id, const char *name, uint32_t slot, uint32_t gen, const BufT *args, OutcomeT *o) {
  CalogWireControlT *w = calogWireControl(rt);
  BufT req = {.n = 0};
  if (name) s(&req, name);
  memcpy(req.b + req.n, args->b, args->n);
  req.n += args->n;
  CHECK_EQ(calogWireReserve(rt, 0, req.n), 0);
  w = calogWireControl(rt);
  memcpy(w->in, req.b, req.n);
  int32_t r = name ? calogCallWire(rt, id, req.n) : calogFnCallWire(rt, slot, gen, req.n);
  uint32_t len = r >= 0 ? (uint32_t)r : 0;
  if (r < 0) { /* the error's length: decode it */
    CalogReaderT rd = {.buf = w->out, .len = w->outCap};
    CalogValueT e = calogValueNil(), scratch = calogValueNil();
    CHECK_EQ(calog__wireDecode(rt, &rd, &e, &scratch), CALOG_OK);
    calogValueFree(&e);
    calogValueFree(&scratch);
    len = rd.pos;
  }
  take(o, r, len);
}

static bool same(const OutcomeT *a, const OutcomeT *b) {
  return a->r == b->r && a->len == b->len && memcmp(a->bytes, b->bytes, a->len) == 0;
}

static int compared;
/* Calls name (and the same function through a handle) both ways and checks the outcomes are identical. */
static void differential(CalogContextIdT id, const char *name, const BufT *args, int32_t wantStatus, int line) {
  OutcomeT a, b;
  viaValues(id, name, NULL, args, &a);
  viaWire(id, name, 0, 0, args, &b);
  if (!same(&a, &b))
    fprintf(stderr, "test_codec.c:%d: %s(...) differs: values r=%d len=%u, wire r=%d len=%u\n", line, name, a.r, a.len, b.r, b.len);
  CHECK(same(&a, &b));
  if ((wantStatus == CALOG_OK && a.r < 0) || (wantStatus > 0 && a.r != -wantStatus))
    fprintf(stderr, "test_codec.c:%d: %s(...) returned %d, want %d\n", line, name, a.r, wantStatus > 0 ? -wantStatus : 0);
  if (wantStatus == CALOG_OK) CHECK(a.r >= 0);
  else if (wantStatus > 0) CHECK_EQ(a.r, -wantStatus); /* -1: either */
  free(a.bytes);
  free(b.bytes);
  /* through a handle: calogGetWire hands one out */
  CalogWireControlT *w = calogWireControl(rt);
  BufT req = {.n = 0};
  s(&req, name);
  memcpy(w->in, req.b, req.n);
  int32_t r = calogGetWire(rt, id, req.n);
  if (wantStatus == CALOG_ERR_NOT_FOUND) return; /* no function to hold */
  CHECK(r == 9 && w->out[0] == CALOG_W_FN);
  if (r != 9) return;
  uint32_t slot, gen;
  memcpy(&slot, w->out + 1, 4);
  memcpy(&gen, w->out + 5, 4);
  CalogFnT *fn = rt->handles[slot].fn;
  viaValues(id, NULL, fn, args, &a);
  viaWire(id, NULL, slot, gen, args, &b);
  if (!same(&a, &b))
    fprintf(stderr, "test_codec.c:%d: handle %s(...) differs: values r=%d len=%u, wire r=%d len=%u\n", line, name, a.r, a.len, b.r, b.len);
  CHECK(same(&a, &b));
  free(a.bytes);
  free(b.bytes);
  calogFnReleaseWire(rt, slot, gen);
  compared++;
}
#define DIFF(id, name, args, want) differential(id, name, args, want, __LINE__)

/* ---- host functions: counted references ------------------------------------------------------------ */
static int released[16];
static int32_t hostEcho(uint32_t hostId, uint32_t argLen) { /* returns its first argument (or fails) */
  CalogWireControlT *w = calogWireControl(rt);
  CalogReaderT rd = {.buf = w->out, .len = argLen};
  CalogValueT *argv, v = calogValueNil();
  int32_t argc;
  if (calog__wireDecodeArgs(rt, &rd, NULL, 0, &argv, &argc, &v) != CALOG_OK) {
    calogValueFree(&v);
    return -CALOG_ERR_HOST;
  }
  if (hostId == 2) { /* returns a host function (itself, id 1, counted again) inside a list */
    calog__argsFree(argv, argc, NULL);
    uint8_t reply[] = {CALOG_W_LIST, 2, 0, 0, 0, CALOG_W_HOSTFN, 1, 0, 0, 0, CALOG_W_I32, 7, 0, 0, 0};
    memcpy(w->in, reply, sizeof reply);
    return (int32_t)sizeof reply;
  }
  if (hostId == 3) { /* a malformed result after a host function: the function is given back */
    calog__argsFree(argv, argc, NULL);
    uint8_t reply[] = {CALOG_W_LIST, 2, 0, 0, 0, CALOG_W_HOSTFN, 1, 0, 0, 0, 99};
    memcpy(w->in, reply, sizeof reply);
    return (int32_t)sizeof reply;
  }
  /* echo: encode argv[0] into IN through OUT */
  uint32_t len = 0;
  int32_t st = calog__wireEncodeOutcome(rt, argc > 0 ? &argv[0] : &v, false, &len);
  calog__argsFree(argv, argc, NULL);
  if (st != CALOG_OK) return -CALOG_ERR_HOST;
  if (calogWireReserve(rt, 0, len) != 0) return -CALOG_ERR_OOM;
  memcpy(w->in, w->out, len);
  return (int32_t)len;
}
static int32_t hostRelease(uint32_t hostId) {
  if (hostId < 16) released[hostId]++;
  return 1;
}

static CalogContextIdT newCtx(const char *engine, const char *setup) {
  CalogContextIdT id = 0;
  CalogValueT r = calogValueNil();
  CHECK_EQ(calogContextCreate(rt, engine, CALOG_CONTEXT_HOST_THREAD, &id, &r), CALOG_OK);
  CHECK_EQ(calogContextEval(rt, id, setup, (int64_t)strlen(setup), "setup", &r), CALOG_OK);
  calogValueFree(&r);
  return id;
}

static void gc(CalogContextIdT id) {
  CalogValueT r = calogValueNil();
  (void)calogContextCall(rt, id, "gc", NULL, 0, &r);
  calogValueFree(&r);
}

/* Arguments every engine gets, well-formed and not, under the current policy. echo returns its argument. */
static void commonCases(CalogContextIdT id, bool lenient) {
  BufT a;
  a = (BufT){.n = 0}, list(&a, 2), i32(&a, 1), i32(&a, 2);
  DIFF(id, "add", &a, CALOG_OK);
  a = (BufT){.n = 0}, list(&a, 2), i64(&a, (int64_t)1 << 40), real(&a, 0.5);
  DIFF(id, "add", &a, CALOG_OK);
  a = (BufT){.n = 0}, list(&a, 0);
  DIFF(id, "echo", &a, CALOG_OK);
  const double reals[] = {-0.0, 1e300, 2.5};
  for (int i = 0; i < 3; i++) {
    a = (BufT){.n = 0}, list(&a, 1), real(&a, reals[i]);
    DIFF(id, "echo", &a, CALOG_OK);
  }
  a = (BufT){.n = 0}, list(&a, 1), u8(&a, CALOG_W_TRUE);
  DIFF(id, "echo", &a, CALOG_OK);
  a = (BufT){.n = 0}, list(&a, 1), s(&a, "h\xc3\xa9llo");
  DIFF(id, "echo", &a, CALOG_OK);
  a = (BufT){.n = 0}, list(&a, 1), sn(&a, "\xff\xfe\0x", 4); /* not UTF-8: comes back BIN */
  DIFF(id, "echo", &a, CALOG_OK);
  /* a list of maps of lists, and a mixed table (LIST part + pairs: its header grows into a BOTH) */
  a = (BufT){.n = 0}, list(&a, 1), list(&a, 3), i32(&a, 1), map(&a, 2), s(&a, "k"), list(&a, 2), s(&a, "x"),
  real(&a, 1.5), s(&a, "z"), map(&a, 0), s(&a, "end");
  DIFF(id, "echo", &a, CALOG_OK);
  a = (BufT){.n = 0}, list(&a, 1), both(&a, 2, 1), i32(&a, 10), i32(&a, 20), s(&a, "name"), list(&a, 1), both(&a, 1, 1),
  u8(&a, CALOG_W_FALSE), s(&a, "q"), i32(&a, 3);
  DIFF(id, "echo", &a, CALOG_OK);
  /* pairs with number and boolean keys, a NaN key, a nil value, a float key beyond 2^53 */
  a = (BufT){.n = 0}, list(&a, 1), map(&a, 3), i32(&a, 7), s(&a, "seven"), u8(&a, CALOG_W_TRUE), i32(&a, 1),
  real(&a, 2.5), s(&a, "f");
  DIFF(id, "echo", &a, -1); /* a bool key: JavaScript's strict policy refuses it */
  double nan = 0.0 / 0.0;
  a = (BufT){.n = 0}, list(&a, 1), map(&a, 2), real(&a, nan), list(&a, 1), s(&a, "dropped"), s(&a, "k"), i32(&a, 1);
  DIFF(id, "echo", &a, -1);
  a = (BufT){.n = 0}, list(&a, 1), map(&a, 2), s(&a, "a"), u8(&a, CALOG_W_NIL), s(&a, "b"), i32(&a, 2);
  DIFF(id, "echo", &a, -1);
  a = (BufT){.n = 0}, list(&a, 1), map(&a, 1), real(&a, 9007199254740994.0), i32(&a, 1);
  DIFF(id, "echo", &a, -1);
  a = (BufT){.n = 0}, list(&a, 1), list(&a, 3), i32(&a, 1), u8(&a, CALOG_W_NIL), i32(&a, 3);
  DIFF(id, "echo", &a, -1);
  /* nesting: 99 levels below the argument (the cap is 100), and one more */
  for (int depth = 99; depth <= 101; depth++) {
    a = (BufT){.n = 0}, list(&a, 1);
    for (int i = 0; i < depth; i++) list(&a, 1);
    i32(&a, 1);
    DIFF(id, "echo", &a, -1);
  }
  /* a large string: OUT grows */
  char *big = malloc(6000);
  memset(big, 'x', 6000);
  a = (BufT){.n = 0}, list(&a, 1), sn(&a, big, 6000);
  DIFF(id, "echo", &a, CALOG_OK);
  free(big);
  /* results the engine builds itself: a cycle, a value that cannot cross, deep nesting */
  a = (BufT){.n = 0}, list(&a, 0);
  DIFF(id, "cyc", &a, CALOG_ERR_CYCLE);
  DIFF(id, "odd", &a, lenient ? CALOG_OK : CALOG_ERR_TYPE);
  DIFF(id, "mixed", &a, CALOG_OK);
  DIFF(id, "nosuch", &a, CALOG_ERR_NOT_FOUND);
  DIFF(id, "fail", &a, CALOG_ERR_SCRIPT);
  a = (BufT){.n = 0}, list(&a, 1), i32(&a, 99);
  DIFF(id, "deep", &a, CALOG_OK);
  a = (BufT){.n = 0}, list(&a, 1), i32(&a, 100);
  DIFF(id, "deep", &a, -1);
  a = (BufT){.n = 0}, list(&a, 1), i32(&a, 101);
  DIFF(id, "deep", &a, CALOG_ERR_DEPTH);
  /* malformed IN: the same error, nothing run */
  const uint8_t bad[][12] = {
      {CALOG_W_LIST, 1, 0, 0, 0, CALOG_W_STR, 0xff, 0xff, 0xff, 0x7f}, /* a length beyond the buffer */
      {CALOG_W_LIST, 0xff, 0xff, 0, 0},                                /* an argument count beyond it */
      {CALOG_W_LIST, 1, 0, 0, 0, CALOG_W_MAP, 1, 0, 0, 0, CALOG_W_LIST, 0}, /* an aggregate key (truncated) */
      {CALOG_W_LIST, 1, 0, 0, 0, CALOG_W_INT, 1, 2},                   /* truncated */
      {CALOG_W_LIST, 2, 0, 0, 0, CALOG_W_I32, 1, 0, 0, 0, 99},         /* an unknown tag */
      {CALOG_W_LIST, 1, 0, 0, 0, CALOG_W_FN, 77, 0, 0, 0, 1, 0},       /* an unknown handle */
      {CALOG_W_MAP, 0, 0, 0, 0},                                       /* not an argument list */
  };
  const uint32_t lens[] = {10, 5, 12, 8, 11, 12, 5};
  for (int i = 0; i < 7; i++) {
    a.n = lens[i];
    memcpy(a.b, bad[i], lens[i]);
    DIFF(id, "echo", &a, -1);
  }
  a = (BufT){.n = 0}, list(&a, 1), map(&a, 1), list(&a, 0), i32(&a, 1); /* a list as a key */
  DIFF(id, "echo", &a, CALOG_ERR_TYPE);
}

/* HOSTFN in arguments and results: each is given back exactly once (after the context collects). */
static void hostFunctions(CalogContextIdT id) {
  memset(released, 0, sizeof released);
  CalogWireControlT *w = calogWireControl(rt);
  BufT a = {.n = 0};
  /* echoed back: HOSTFN comes home as HOSTFN */
  a = (BufT){.n = 0}, list(&a, 1), u8(&a, CALOG_W_HOSTFN), u32(&a, 5);
  DIFF(id, "echo", &a, CALOG_OK);
  /* dropped by the engine before the call (a nil list item under strict) or with malformed data after it */
  a = (BufT){.n = 0}, list(&a, 2), list(&a, 2), u8(&a, CALOG_W_HOSTFN), u32(&a, 6), u8(&a, CALOG_W_NIL),
  u8(&a, CALOG_W_HOSTFN), u32(&a, 6);
  DIFF(id, "echo", &a, -1);
  a = (BufT){.n = 0}, list(&a, 2), u8(&a, CALOG_W_HOSTFN), u32(&a, 7), u8(&a, 99);
  DIFF(id, "echo", &a, -1);
  gc(id);
  CHECK_EQ(released[5], 4); /* 2 per differential (by name and by handle), each path */
  CHECK_EQ(released[6], 8);
  CHECK_EQ(released[7], 4);
  (void)w;
}

/* A script calling host functions: straight from its stack into OUT, and the result straight onto it. */
static void scriptToHost(CalogContextIdT id, const char *src, const char *expect) {
  CalogValueT r = calogValueNil();
  int32_t st = calogContextEval(rt, id, src, (int64_t)strlen(src), "host", &r);
  if (st != CALOG_OK) fprintf(stderr, "test_codec: %s: %s\n", src, calogErrorMessage(&r, NULL));
  CHECK_EQ(st, CALOG_OK);
  CHECK(r.type == CALOG_STRING && strlen(expect) == (size_t)r.as.s.length && memcmp(r.as.s.bytes, expect, strlen(expect)) == 0);
  if (r.type == CALOG_STRING && strlen(expect) != (size_t)r.as.s.length) fprintf(stderr, "  got %.*s\n", (int)r.as.s.length, r.as.s.bytes);
  calogValueFree(&r);
}

static void registerHost(const char *name, uint32_t hostId) {
  BufT req = {.n = 0};
  s(&req, name);
  i32(&req, (int32_t)hostId);
  memcpy(calogWireControl(rt)->in, req.b, req.n);
  CHECK_EQ(calogRegisterHostWire(rt, req.n), 0);
}

static const char *luaSetup =
    "function add(a, b) return a + b end function echo(...) return ... end "
    "function cyc() local t = {} t.t = t return t end function odd() return coroutine.create(print) end "
    "function mixed() return {1, 2, 3, x = 'y', [2.5] = true} end function fail() error('boom') end "
    "function deep(n) local t = 1 for i = 1, n do t = {t} end return t end "
    "local cg = collectgarbage function gc() cg() cg() end";

/* ---- Squirrel ----------------------------------------------------------------------------------------- */
static const char *sqSetup =
    "function add(a, b) { return a + b; } function echo(...) { return vargv.len() > 0 ? vargv[0] : null; } "
    "function cyc() { local t = {}; t.t <- t; return t; } class Odd {} function odd() { return Odd(); } "
    "function mixed() { return {[1] = 1, [2] = 2, [3] = 3, x = \"y\", [2.5] = true}; } function fail() { throw \"boom\"; } "
    "function deep(n) { local t = 1; for (local i = 0; i < n; i++) t = [t]; return t; } function gc() { collectgarbage(); } "
    "function isAdd(f) { return f == add ? \"home\" : \"wrapped\"; } function mk() { return function(x) { return x * 2; }; } "
    "function failT() { throw {code = 7, why = [1, 2]}; } "
    "function holes() { return [{[1] = \"a\", [2] = \"b\", x = 1}, {[1] = \"a\", [3] = \"c\"}, {[2] = 2, [3] = 3, y = 0}, "
    "  {[1] = 1}, {[1] = 1, [2.0] = 2, [true] = 3}, {[1] = 1, [Odd] = 2}, [], {}]; }";

/* OUT after a wire call of name(args) through the direct path is exactly want (a wire value). */
static void wireResult(CalogContextIdT id, const char *name, uint32_t slot, uint32_t gen, const BufT *args, const BufT *want) {
  OutcomeT o;
  viaWire(id, name, slot, gen, args, &o);
  CHECK(o.r >= 0 && o.len == want->n && memcmp(o.bytes, want->b, want->n) == 0);
  free(o.bytes);
}

/* A Squirrel closure coming home through the wire is the original function; one it hands out is called
 * through its handle on the direct path. */
static void sqFunctionsHome(CalogContextIdT id) {
  CalogWireControlT *w = calogWireControl(rt);
  BufT req = {.n = 0}, a, want;
  s(&req, "add");
  memcpy(w->in, req.b, req.n);
  CHECK_EQ(calogGetWire(rt, id, req.n), 9);
  uint32_t slot, gen;
  memcpy(&slot, w->out + 1, 4);
  memcpy(&gen, w->out + 5, 4);
  a = (BufT){.n = 0}, list(&a, 1), u8(&a, CALOG_W_FN), u32(&a, slot), u32(&a, gen);
  DIFF(id, "isAdd", &a, CALOG_OK);
  want = (BufT){.n = 0}, s(&want, "home");
  wireResult(id, "isAdd", 0, 0, &a, &want);
  a = (BufT){.n = 0}, list(&a, 2), i32(&a, 20), i32(&a, 22); /* add through its handle */
  want = (BufT){.n = 0}, i32(&want, 42);
  wireResult(id, NULL, slot, gen, &a, &want);
  calogFnReleaseWire(rt, slot, gen);
  /* a closure made by the script, called through its handle */
  a = (BufT){.n = 0}, list(&a, 0);
  memcpy(w->in, a.b, a.n);
  req = (BufT){.n = 0}, s(&req, "mk"), list(&req, 0);
  memcpy(w->in, req.b, req.n);
  CHECK_EQ(calogCallWire(rt, id, req.n), 9);
  memcpy(&slot, w->out + 1, 4);
  memcpy(&gen, w->out + 5, 4);
  a = (BufT){.n = 0}, list(&a, 1), i32(&a, 21);
  want = (BufT){.n = 0}, i32(&want, 42);
  wireResult(id, NULL, slot, gen, &a, &want);
  a = (BufT){.n = 0}, list(&a, 1), s(&a, "x"); /* its error: the same both ways */
  OutcomeT x, y;
  viaValues(id, NULL, rt->handles[slot].fn, &a, &x);
  viaWire(id, NULL, slot, gen, &a, &y);
  CHECK(same(&x, &y) && x.r == -CALOG_ERR_SCRIPT);
  free(x.bytes);
  free(y.bytes);
  calogFnReleaseWire(rt, slot, gen);
}

static void squirrelCases(void) {
  CalogContextIdT sq = newCtx("squirrel", sqSetup);
  for (int lenient = 0; lenient <= 1; lenient++) {
    calogSetPolicy(rt, lenient ? CALOG_POLICY_LENIENT : CALOG_POLICY_STRICT);
    commonCases(sq, lenient);
    hostFunctions(sq);
    BufT a = {.n = 0};
    list(&a, 0);
    DIFF(sq, "failT", &a, CALOG_ERR_SCRIPT); /* a thrown table: the error record carries it */
    DIFF(sq, "holes", &a, lenient ? CALOG_OK : CALOG_ERR_TYPE); /* tables that become BOTH, or stay a MAP */
    /* a BOTH and a MAP with integer keys sent to Squirrel come back as they went */
    a = (BufT){.n = 0}, list(&a, 1), both(&a, 2, 2), s(&a, "p"), s(&a, "q"), s(&a, "k"), i32(&a, 1), i32(&a, 9), i32(&a, 2);
    DIFF(sq, "echo", &a, CALOG_OK);
    a = (BufT){.n = 0}, list(&a, 1), map(&a, 2), i32(&a, 2), s(&a, "two"), i32(&a, 3), s(&a, "three");
    DIFF(sq, "echo", &a, CALOG_OK);
    a = (BufT){.n = 0}, list(&a, 1), map(&a, 2), i32(&a, 1), s(&a, "one"), i32(&a, 2), s(&a, "two");
    DIFF(sq, "echo", &a, CALOG_OK);
    /* more than 8 arguments, and a large nested one */
    a = (BufT){.n = 0}, list(&a, 12);
    for (int i = 0; i < 12; i++) i32(&a, i);
    DIFF(sq, "echo", &a, CALOG_OK);
    a = (BufT){.n = 0}, list(&a, 1), list(&a, 200);
    for (int i = 0; i < 200; i++) map(&a, 2), s(&a, "id"), i32(&a, i), s(&a, "tags"), list(&a, 2), s(&a, "a"), real(&a, i * 0.5);
    DIFF(sq, "echo", &a, CALOG_OK);
  }
  calogSetPolicy(rt, CALOG_POLICY_STRICT);
  sqFunctionsHome(sq);
  /* Squirrel -> host and back, nested values both ways */
  scriptToHost(sq, "local t = hecho([1, {a = \"b\"}, 2.5, \"x\", true]); return t[1].a + t.len() + t[2];", "b52.5");
  scriptToHost(sq, "local t = hecho({[1] = \"a\", [2] = \"b\", x = 1}); return t[1] + t[2] + t.x + t.len();", "ab13");
  scriptToHost(sq, "return hecho(1, 2, 3, 4, 5, 6, 7, 8, 9, 10).tostring() + (hecho() == null);", "1true");
  scriptToHost(sq, "try { hecho(Odd()); return \"no\"; } catch (e) { return e; }", "a Squirrel instance cannot cross to another engine");
  scriptToHost(sq, "local t = {}; t.t <- t; try { hecho([t]); return \"no\"; } catch (e) { return e; }", "table contains itself (a cycle)");
  scriptToHost(sq, "local t = 1; for (local i = 0; i < 101; i++) t = [t]; try { hecho(t); return \"no\"; } catch (e) { return e; }",
               "value nesting exceeds the depth cap (100)");
  scriptToHost(sq, "local s = \"y\"; for (local i = 0; i < 12; i++) s += s; return hecho(s).len().tostring();", "4096");
  scriptToHost(sq, "return hecho(function() { return \"home\"; })();", "home");
  scriptToHost(sq, "local f = function() {}; return (hecho(f) == f).tostring();", "true");
  memset(released, 0, sizeof released);
  scriptToHost(sq, "local l = hfn(); return l[0](41).tostring() + \",\" + l[1];", "41,7");
  scriptToHost(sq, "try { hbad(); return \"no\"; } catch (e) { return \"caught\"; }", "caught");
  gc(sq);
  CHECK_EQ(released[1], 2);
  calogSetPolicy(rt, CALOG_POLICY_LENIENT);
  scriptToHost(sq, "local t = hecho([Odd(), {[Odd] = 1, k = 2}]); return (t[0] == null) + \",\" + t[1].len();", "true,1");
  calogSetPolicy(rt, CALOG_POLICY_STRICT);
}

/* ---- JavaScript (Duktape) ------------------------------------------------------------------------------ */
static const char *jsSetup =
    "function add(a, b) { return a + b } function echo(v) { return v }"
    "function cyc() { var t = {}; t.t = t; return t } function odd() { return Symbol('s') }"
    "function mixed() { return {1: 1, x: 'y', n: [1, 2.5, true, null]} }"
    "function fail() { throw new Error('boom') } function throwv() { throw {code: 7, why: ['x']} }"
    "function deep(n) { var t = 1; for (var i = 0; i < n; i++) t = [t]; return t }"
    "function acc() { return {a: 1, get b() { return 2 }} } function klass() { return new Date(0) }"
    "function bytes() { return [new Uint8Array([0, 255, 128]), new Uint16Array(2)] }"
    "function text() { return ['\\ud83d\\ude00', '\\ud83d', 'h\\u00e9'] }"
    /* reading the result runs code that calls the host (and throws) while the result is written into OUT */
    "function getter() { var a = [1, 2, 3]; Object.defineProperty(a, 1, {get: function () { return hecho({k: 'in'}) }});"
    "  return {x: 'before', a: a, y: 'after'} }"
    "function getthrow() { var a = [1]; Object.defineProperty(a, 0, {get: function () { throw new Error('getter') }}); return a }"
    "function gc() { Duktape.gc(); Duktape.gc() }";

/* JS-only edges under the current policy, both ways: arguments the JS codec refuses or converts, results it
 * builds from what only JS has. */
static void jsCases(CalogContextIdT id, bool lenient) {
  BufT a;
  /* beyond +-2^53: strict refuses (RANGE), lenient the nearest double */
  a = (BufT){.n = 0}, list(&a, 1), i64(&a, ((int64_t)1 << 53) + 1);
  DIFF(id, "echo", &a, lenient ? CALOG_OK : CALOG_ERR_RANGE);
  a = (BufT){.n = 0}, list(&a, 1), list(&a, 2), i32(&a, 1), i64(&a, -((int64_t)1 << 60));
  DIFF(id, "echo", &a, lenient ? CALOG_OK : CALOG_ERR_RANGE);
  /* map keys: a bool key, keys that become one property name, a symbol-prefixed key, an int and a real key */
  a = (BufT){.n = 0}, list(&a, 1), map(&a, 2), u8(&a, CALOG_W_TRUE), i32(&a, 1), s(&a, "k"), i32(&a, 2);
  DIFF(id, "echo", &a, lenient ? CALOG_OK : CALOG_ERR_TYPE);
  a = (BufT){.n = 0}, list(&a, 1), map(&a, 2), i32(&a, 1), s(&a, "int"), s(&a, "1"), s(&a, "str");
  DIFF(id, "echo", &a, lenient ? CALOG_OK : CALOG_ERR_TYPE);
  a = (BufT){.n = 0}, list(&a, 1), both(&a, 1, 1), s(&a, "item"), s(&a, "1"), s(&a, "key");
  DIFF(id, "echo", &a, lenient ? CALOG_OK : CALOG_ERR_TYPE);
  a = (BufT){.n = 0}, list(&a, 1), map(&a, 2), sn(&a, "\xff" "hidden", 7), list(&a, 1), u8(&a, CALOG_W_HOSTFN), u32(&a, 9),
  s(&a, "ok"), i32(&a, 1);
  DIFF(id, "echo", &a, lenient ? CALOG_OK : CALOG_ERR_TYPE);
  a = (BufT){.n = 0}, list(&a, 1), map(&a, 3), i32(&a, -5), s(&a, "neg"), real(&a, 2.5), s(&a, "half"), real(&a, 1e21),
  s(&a, "exp");
  DIFF(id, "echo", &a, CALOG_OK);
  /* strings that would be Symbols in Duktape cross as bytes; non-BMP text as surrogate pairs and back */
  a = (BufT){.n = 0}, list(&a, 2), sn(&a, "\x80" "abc", 4), sn(&a, "\x82" "x", 2);
  DIFF(id, "echo", &a, CALOG_OK);
  a = (BufT){.n = 0}, list(&a, 1), map(&a, 1), s(&a, "\xf0\x9f\x98\x80 key"), s(&a, "a \xf0\x9f\x98\x80 b \xf4\x8f\xbf\xbf");
  DIFF(id, "echo", &a, CALOG_OK);
  /* a BOTH aggregate (an object with "1".."n"), an empty map (kind kept) */
  a = (BufT){.n = 0}, list(&a, 2), both(&a, 2, 1), i32(&a, 1), i32(&a, 2), s(&a, "z"), u8(&a, CALOG_W_NIL), map(&a, 0);
  DIFF(id, "echo", &a, CALOG_OK);
  a = (BufT){.n = 0}, list(&a, 0);
  DIFF(id, "acc", &a, lenient ? CALOG_OK : CALOG_ERR_TYPE);
  DIFF(id, "klass", &a, lenient ? CALOG_OK : CALOG_ERR_TYPE);
  DIFF(id, "bytes", &a, lenient ? CALOG_OK : CALOG_ERR_TYPE);
  DIFF(id, "text", &a, CALOG_OK);
  DIFF(id, "throwv", &a, CALOG_ERR_SCRIPT);
  DIFF(id, "getter", &a, CALOG_OK);
  DIFF(id, "getthrow", &a, CALOG_ERR_SCRIPT);
  /* many arguments: past the runner's first room */
  a = (BufT){.n = 0}, list(&a, 40);
  for (int i = 0; i < 40; i++) i32(&a, i);
  DIFF(id, "add", &a, CALOG_OK);
}

/* A JS function handed out and called back through its handle comes home as itself (the same function). */
static void jsFunctionsHome(CalogContextIdT id) {
  CalogValueT r = calogValueNil();
  const char *src = "var keep = function () { return 'kept' }; function same(f) { return f === keep ? 'same' : 'other' }"
                    "function getKeep() { return keep }";
  CHECK_EQ(calogContextEval(rt, id, src, (int64_t)strlen(src), "home", &r), CALOG_OK);
  calogValueFree(&r);
  CalogWireControlT *w = calogWireControl(rt);
  BufT req = {.n = 0};
  s(&req, "getKeep"), list(&req, 0);
  memcpy(w->in, req.b, req.n);
  int32_t n = calogCallWire(rt, id, req.n);
  CHECK(n == 9 && w->out[0] == CALOG_W_FN);
  if (n != 9) return;
  uint32_t slot, gen;
  memcpy(&slot, w->out + 1, 4);
  memcpy(&gen, w->out + 5, 4);
  BufT a = {.n = 0};
  list(&a, 1), u8(&a, CALOG_W_FN), u32(&a, slot), u32(&a, gen);
  OutcomeT o;
  viaWire(id, "same", 0, 0, &a, &o);
  CHECK(o.r == 9 && o.bytes[0] == CALOG_W_STR && memcmp(o.bytes + 5, "same", 4) == 0);
  free(o.bytes);
  DIFF(id, "same", &a, CALOG_OK);
  viaWire(id, "echo", 0, 0, &a, &o); /* comes back out as a handle (a new one) of the same function */
  CHECK(o.r == 9 && o.bytes[0] == CALOG_W_FN);
  uint32_t slot2, gen2;
  memcpy(&slot2, o.bytes + 1, 4);
  memcpy(&gen2, o.bytes + 5, 4);
  free(o.bytes);
  BufT none = {.n = 0};
  list(&none, 0);
  viaWire(id, NULL, slot2, gen2, &none, &o);
  CHECK(o.r == 9 && memcmp(o.bytes + 5, "kept", 4) == 0);
  free(o.bytes);
  calogFnReleaseWire(rt, slot2, gen2);
  /* called through its own handle, the direct path */
  a = (BufT){.n = 0}, list(&a, 0);
  viaWire(id, NULL, slot, gen, &a, &o);
  CHECK(o.r == 9 && memcmp(o.bytes + 5, "kept", 4) == 0);
  free(o.bytes);
  calogFnReleaseWire(rt, slot, gen);
}

/* Scripts calling host functions from JS: arguments from the JS stack into OUT, the result from IN. */
static void jsToHost(CalogContextIdT id) {
  scriptToHost(id, "var t = hecho([1, {a: 'b'}, 2.5, 'x', true]); t[1].a + t.length + t[2]", "b52.5");
  scriptToHost(id, "var t = hecho([1, undefined, 3]); String(t.length) + t[1]", "3undefined");
  scriptToHost(id, "try { hecho(Symbol('x')); 'no' } catch (e) { 'false:' + e.message.slice(0, 20) }", "false:a JS symbol cannot c");
  scriptToHost(id, "var t = {}; t.t = t; try { hecho(t); 'no' } catch (e) { /cycle/.test(e.message) ? 'cycle' : e.message }", "cycle");
  scriptToHost(id, "var d = 1; for (var i = 0; i < 101; i++) d = [d]; try { hecho(d); 'no' } catch (e) { /depth/.test(e.message) ? 'depth' : e.message }", "depth");
  scriptToHost(id, "String(hecho(new Array(5001).join('y')).length)", "5000");
  scriptToHost(id, "var s = '\\ud83d\\ude00x'; var r = hecho(s); String(r === s) + r.length", "true3");
  scriptToHost(id, "var f = function () { return 'home' }; var g = hecho(f); String(g === f) + g()", "truehome");
  scriptToHost(id, "try { hecho(Math.pow(2, 53) + 2); 'ok' } catch (e) { e.message }", "ok");
  scriptToHost(id, "try { hecho({get a() { return 1 }}); 'no' } catch (e) { e.message.slice(0, 26) }", "property 'a' is an accesso");
  /* a getter that calls the host while the outer call's arguments are being written into OUT */
  scriptToHost(id, "var a = [0, 'b']; Object.defineProperty(a, 0, {get: function () { return hecho('in') }});"
                   "var r = hecho(a, 'second'); r[0] + r[1]", "inb");
  scriptToHost(id, "var a = [0]; Object.defineProperty(a, 0, {get: function () { throw new Error('from getter') }});"
                   "try { hecho(a); 'no' } catch (e) { e.message }", "from getter");
  memset(released, 0, sizeof released);
  scriptToHost(id, "(function () { var l = hfn(); return String(l[0](41)) + ',' + l[1] })()", "41,7");
  scriptToHost(id, "try { hbad(); 'no' } catch (e) { 'false' }", "false");
  gc(id);
  CHECK_EQ(released[1], 2);
  /* lenient: what cannot cross becomes nil, on the way out too */
  calogSetPolicy(rt, CALOG_POLICY_LENIENT);
  scriptToHost(id, "var r = hecho([Symbol('x'), 1]); String(r[0]) + r[1]", "undefined1");
  scriptToHost(id, "String(hecho(Math.pow(2, 53) + 2))", "9007199254740994");
  calogSetPolicy(rt, CALOG_POLICY_STRICT);
}

static void duktapeSuite(void) {
  CalogContextIdT js = newCtx("js", jsSetup);
  for (int lenient = 0; lenient <= 1; lenient++) {
    calogSetPolicy(rt, lenient ? CALOG_POLICY_LENIENT : CALOG_POLICY_STRICT);
    commonCases(js, lenient);
    hostFunctions(js);
    jsCases(js, lenient);
  }
  calogSetPolicy(rt, CALOG_POLICY_STRICT);
  jsFunctionsHome(js);
  jsToHost(js);
}

int main(void) {
  rt = calogCreate();
  calogHostInstall(rt, hostEcho, hostRelease);
  registerHost("hecho", 0);
  registerHost("hfn", 2);
  registerHost("hbad", 3);
  CalogContextIdT lua = newCtx("lua", luaSetup);
  for (int lenient = 0; lenient <= 1; lenient++) {
    calogSetPolicy(rt, lenient ? CALOG_POLICY_LENIENT : CALOG_POLICY_STRICT);
    commonCases(lua, lenient);
    hostFunctions(lua);
  }
  calogSetPolicy(rt, CALOG_POLICY_STRICT);
  /* Lua -> host and back, nested values both ways */
  scriptToHost(lua, "local t = hecho({1, {a = 'b'}, 2.5, 'x', true}) return t[2].a .. #t .. tostring(t[3])", "b52.5");
  scriptToHost(lua, "local ok, e = pcall(hecho, {1, nil, 3}) return tostring(ok)", "true");
  scriptToHost(lua, "local ok, e = pcall(hecho, coroutine.create(print)) return tostring(ok) .. ':' .. tostring(e):sub(1, 20)", "false:a Lua thread cannot ");
  scriptToHost(lua, "local t = {} t.t = t local ok, e = pcall(hecho, t) return tostring(ok) .. tostring(e):match('cycle')", "falsecycle");
  scriptToHost(lua, "local s = string.rep('y', 5000) return tostring(#hecho(s))", "5000");
  scriptToHost(lua, "return tostring(hecho(function() return 'home' end)())", "home");
  memset(released, 0, sizeof released);
  scriptToHost(lua, "local l = hfn() return tostring(l[1](41)) .. ',' .. l[2]", "41,7");
  scriptToHost(lua, "local ok, e = pcall(hbad) return tostring(ok)", "false");
  gc(lua);
  CHECK_EQ(released[1], 2);
  squirrelCases();
  duktapeSuite();
  printf("test_codec: %d calls compared across the two paths\n", compared);
  calogDestroy(rt);
  return checkSummary("test_codec");
}
