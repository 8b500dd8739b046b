/* broker_bench.c -- the broker's own crossing, layer by layer, in C only (no JS runtime in the process).
 * Built by `zig build bench` (ReleaseFast, linked against a static libcalog built from the same sources
 * and flags as zig-out/lib/libcalog.so); run by bench/run.ts, which puts its figures in RESULTS.md.
 *
 *   zig-out/bin/broker_bench [--nested FILE.lua] [--json]          every case, calibrated
 *   zig-out/bin/broker_bench --only NAME --iters N [--nested F]    one case, N operations, no calibration
 *                                                                  (for valgrind --tool=callgrind)
 *
 * Every case runs n operations per batch; a sample is the mean time per operation in one batch. The batch
 * size is calibrated to ~200 us so the clock is never the thing measured. Reads c/src internals
 * (wire.h) read-only to time the wire codec alone. */
#include "calog.h"
#include "wire.h"

#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- timing ------------------------------------------------------------------------------------- */
static double nowNs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmpDouble(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double quantile(const double *sorted, int n, double q) {
  double pos = q * (n - 1);
  int lo = (int)pos;
  if (lo + 1 >= n) return sorted[n - 1];
  return sorted[lo] + (sorted[lo + 1] - sorted[lo]) * (pos - lo);
}

typedef void (*CaseFnT)(int64_t n);

typedef struct CaseT {
  const char *name;  /* stable id used by run.ts */
  const char *what;  /* one line for humans */
  CaseFnT fn;
  int maxSamples;    /* slow cases take fewer samples */
} CaseT;

static bool jsonOut = false;
static int failures = 0;

static void runCase(const CaseT *c) {
  /* warm up, then calibrate n so one batch takes >= 200 us */
  int64_t n = 1;
  c->fn(1);
  for (;;) {
    double t0 = nowNs();
    c->fn(n);
    double dt = nowNs() - t0;
    if (dt >= 200e3 || n >= (1 << 24)) break;
    n *= dt < 20e3 ? 8 : 2;
  }
  int samples = c->maxSamples;
  double *s = malloc(sizeof(double) * (size_t)samples);
  double budget = 0;
  int got = 0;
  while (got < samples) {
    double t0 = nowNs();
    c->fn(n);
    double dt = nowNs() - t0;
    s[got++] = dt / (double)n;
    budget += dt;
    if (budget > 400e6 && got >= 5) break; /* at most ~0.4 s per case */
  }
  qsort(s, (size_t)got, sizeof *s, cmpDouble);
  double med = quantile(s, got, 0.5), p99 = quantile(s, got, 0.99);
  if (jsonOut) {
    char what[256];
    size_t w = 0;
    for (const char *p = c->what; *p && w + 2 < sizeof what; p++) {
      if (*p == '"' || *p == '\\') what[w++] = '\\';
      what[w++] = *p;
    }
    what[w] = 0;
    printf("{\"name\":\"%s\",\"what\":\"%s\",\"median_ns\":%.2f,\"p99_ns\":%.2f,\"min_ns\":%.2f,\"batch\":%lld,\"samples\":%d}\n",
           c->name, what, med, p99, s[0], (long long)n, got);
  } else
    printf("%-28s median %12.1f ns  p99 %12.1f ns  (batch %lld x %d)  %s\n", c->name, med, p99, (long long)n, got,
           c->what);
  fflush(stdout);
  free(s);
}

/* ---- fixtures ------------------------------------------------------------------------------------ */
static CalogT *rt;
static CalogContextIdT luaId;
static CalogWireControlT *ctl;
static lua_State *rawL; /* a plain Lua state from the same sources: the physical limit */
static int rawAddRef;
static CalogFnT *addFn;
static uint32_t addSlot, addGen;
static uint8_t callReq[64], fnReq[32], nestedReq[8192], nestedArgs[8192], evalReq[256];
static uint32_t callReqLen, fnReqLen, nestedReqLen, nestedArgsLen, evalReqLen;
static CalogValueT nestedValue;
static volatile int64_t sink;

static const char *luaSetup =
    "function add(a, b) return a + b end\n"
    "function echo(v) return v end\n"
    "function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end\n"
    "local function ladd(a, b) return a + b end\n"
    "function loopLua(n) local s = 0 for i = 1, n do s = s + ladd(i, 1) end return s end\n"
    "function loopNative(n) local s = 0 for i = 1, n do s = s + cadd(i, 1) end return s end\n"
    "function loopHost(n) local s = 0 for i = 1, n do s = s + hostinc(i) end return s end\n";

static const char *evalChunk = "local t = {} for i = 1, 10 do t[i] = i * 2 end return #t";

static int rawCadd(lua_State *L);

static void die(const char *what, CalogValueT *err) {
  int64_t n = 0;
  fprintf(stderr, "broker_bench: %s: %s\n", what, err ? calogErrorMessage(err, &n) : "");
  exit(1);
}

static int32_t cadd(CalogValueT *args, int32_t argc, CalogValueT *result, void *ud) {
  (void)ud;
  if (argc != 2 || args[0].type != CALOG_INT || args[1].type != CALOG_INT)
    return calogFail(result, CALOG_ERR_ARG, "cadd expects two ints");
  *result = calogValueInt(args[0].as.i + args[1].as.i);
  return CALOG_OK;
}

/* The cheapest possible host: reads the one I32 argument from OUT, answers I32 arg + 1 in IN. */
static int32_t hostCall(uint32_t hostId, uint32_t argLen) {
  (void)hostId;
  (void)argLen;
  int32_t v;
  memcpy(&v, ctl->out + 6, 4); /* LIST tag, u32 count, I32 tag, int32 */
  v += 1;
  ctl->in[0] = CALOG_W_I32;
  memcpy(ctl->in + 1, &v, 4);
  return 5;
}
static int32_t hostRelease(uint32_t hostId) {
  (void)hostId;
  return 1; /* done */
}

static uint32_t putStr(uint8_t *p, const char *s) {
  uint32_t n = (uint32_t)strlen(s);
  p[0] = CALOG_W_STR;
  memcpy(p + 1, &n, 4);
  memcpy(p + 5, s, n);
  return 5 + n;
}
static uint32_t putList(uint8_t *p, uint32_t n) {
  p[0] = CALOG_W_LIST;
  memcpy(p + 1, &n, 4);
  return 5;
}
static uint32_t putI32(uint8_t *p, int32_t v) {
  p[0] = CALOG_W_I32;
  memcpy(p + 1, &v, 4);
  return 5;
}

static char *readFile(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  if (fread(s, 1, (size_t)n, f) != (size_t)n) n = 0;
  s[n] = 0;
  fclose(f);
  return s;
}

static void setup(const char *nestedFile) {
  CalogValueT v = calogValueNil();
  rt = calogCreate();
  ctl = calogWireControl(rt);
  calogHostInstall(rt, hostCall, hostRelease);
  if (calogRegister(rt, "cadd", cadd, NULL, NULL) != CALOG_OK) die("register cadd", NULL);
  if (calogContextCreate(rt, "lua", 0, &luaId, &v) != CALOG_OK) die("create lua context", &v);
  /* the host function exactly as bindings register one: calogRegisterHostWire([name, hostId]) */
  uint32_t len = putStr(ctl->in, "hostinc");
  len += putI32(ctl->in + len, 1);
  if (calogRegisterHostWire(rt, len) < 0) die("calogRegisterHostWire", NULL);
  if (calogContextEval(rt, luaId, luaSetup, (int64_t)strlen(luaSetup), "setup", &v) != CALOG_OK) die("eval setup", &v);
  calogValueFree(&v);
  if (calogContextGet(rt, luaId, "add", &v) != CALOG_OK || v.type != CALOG_FN) die("get add", &v);
  addFn = v.as.fn; /* keeps the reference */
  v = calogValueNil();

  /* wire requests, exactly what the TypeScript codec writes */
  callReqLen = putStr(callReq, "add");
  callReqLen += putList(callReq + callReqLen, 2);
  callReqLen += putI32(callReq + callReqLen, 1);
  callReqLen += putI32(callReq + callReqLen, 2);
  fnReqLen = putList(fnReq, 2);
  fnReqLen += putI32(fnReq + fnReqLen, 1);
  fnReqLen += putI32(fnReq + fnReqLen, 2);
  evalReqLen = putStr(evalReq, evalChunk);
  evalReq[evalReqLen++] = CALOG_W_NIL;
  /* a handle for calogFnCallWire, as ScriptFunction holds one: calogGetWire writes FN slot gen */
  len = putStr(ctl->in, "add");
  if (calogGetWire(rt, luaId, len) != 9 || ctl->out[0] != CALOG_W_FN) die("calogGetWire add", NULL);
  memcpy(&addSlot, ctl->out + 1, 4);
  memcpy(&addGen, ctl->out + 5, 4);

  /* the ~1 KB nested value: built in Lua from the same literal run.ts uses, then wire-encoded */
  char *src = nestedFile ? readFile(nestedFile) : NULL;
  if (src == NULL) {
    fprintf(stderr, "broker_bench: --nested FILE (a Lua chunk returning the nested value) is missing; "
                    "using a small stand-in\n");
    src = strdup("return { id = 1, name = 'stand-in', tags = { 'a', 'b' }, nested = { x = 1.5, ok = true } }");
  }
  if (calogContextEval(rt, luaId, src, (int64_t)strlen(src), "nested", &nestedValue) != CALOG_OK)
    die("eval nested", &nestedValue);
  free(src);
  uint32_t vlen;
  if (calog__wireEncodeOutcome(rt, &nestedValue, false, &vlen) != CALOG_OK) die("encode nested", NULL);
  nestedArgsLen = putList(nestedArgs, 1);
  memcpy(nestedArgs + nestedArgsLen, ctl->out, vlen);
  nestedArgsLen += vlen;
  nestedReqLen = putStr(nestedReq, "echo");
  memcpy(nestedReq + nestedReqLen, nestedArgs, nestedArgsLen);
  nestedReqLen += nestedArgsLen;
  if (!jsonOut) printf("nested value: %u wire bytes\n", vlen);
  else printf("{\"info\":\"nested_wire_bytes\",\"value\":%u}\n", vlen);

  /* the raw Lua state: same Lua sources, no broker */
  rawL = luaL_newstate();
  /* libcalog's Lua counts a step budget through the state's extra space (c/src/engines/lua/lua_prelude.h),
   * which calog points at its context: a raw state gets a budget that never runs out */
  static long rawBudget = LONG_MAX;
  *(long **)lua_getextraspace(rawL) = &rawBudget;
  luaL_openlibs(rawL);
  lua_register(rawL, "cadd", rawCadd); /* a plain lua_CFunction under the same name */
  if (luaL_dostring(rawL, luaSetup) != LUA_OK) die("raw Lua setup", NULL);
  lua_getglobal(rawL, "add");
  rawAddRef = luaL_ref(rawL, LUA_REGISTRYINDEX);
}

static void check(bool ok, const char *what) {
  if (!ok) {
    fprintf(stderr, "broker_bench: wrong result in %s\n", what);
    failures++;
  }
}

/* ---- cases: JS -> Lua, layer by layer ------------------------------------------------------------ */
static int32_t (*volatile noopPtr)(int32_t);
static int32_t noop(int32_t x) { return x; }

static void caseCNoop(int64_t n) {
  int64_t s = 0;
  for (int64_t i = 0; i < n; i++) s += noopPtr((int32_t)i);
  sink = s;
}

static void caseRawGlobal(int64_t n) {
  lua_State *L = rawL;
  int64_t s = 0;
  for (int64_t i = 0; i < n; i++) {
    lua_getglobal(L, "add");
    lua_pushinteger(L, 1);
    lua_pushinteger(L, 2);
    lua_pcall(L, 2, 1, 0);
    s += lua_tointeger(L, -1);
    lua_pop(L, 1);
  }
  check(s == 3 * n, "lua.raw_pcall_global");
}

static void caseRawRef(int64_t n) {
  lua_State *L = rawL;
  int64_t s = 0;
  for (int64_t i = 0; i < n; i++) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, rawAddRef);
    lua_pushinteger(L, 1);
    lua_pushinteger(L, 2);
    lua_pcall(L, 2, 1, 0);
    s += lua_tointeger(L, -1);
    lua_pop(L, 1);
  }
  check(s == 3 * n, "lua.raw_pcall_ref");
}

static void caseBrokerNative(int64_t n) {
  CalogValueT args[2] = {calogValueInt(1), calogValueInt(2)}, r = calogValueNil();
  int64_t s = 0;
  for (int64_t i = 0; i < n; i++) {
    calogBrokerCall(rt, "cadd", args, 2, &r);
    s += r.as.i;
    calogValueFree(&r);
  }
  check(s == 3 * n, "broker.call_native");
}

static void caseContextCall(int64_t n) {
  CalogValueT args[2] = {calogValueInt(1), calogValueInt(2)}, r = calogValueNil();
  int64_t s = 0;
  for (int64_t i = 0; i < n; i++) {
    calogContextCall(rt, luaId, "add", args, 2, &r);
    s += r.as.i;
    calogValueFree(&r);
  }
  check(s == 3 * n, "broker.context_call");
}

static void caseFnInvoke(int64_t n) {
  CalogValueT args[2] = {calogValueInt(1), calogValueInt(2)}, r = calogValueNil();
  int64_t s = 0;
  for (int64_t i = 0; i < n; i++) {
    calogFnInvoke(addFn, args, 2, &r);
    s += r.as.i;
    calogValueFree(&r);
  }
  check(s == 3 * n, "broker.fn_invoke");
}

static void caseDecodeArgs(int64_t n) {
  CalogValueT stack[8], *args, err = calogValueNil();
  int32_t argc;
  int64_t s = 0;
  for (int64_t i = 0; i < n; i++) {
    CalogReaderT rd = {.buf = fnReq, .len = fnReqLen, .pos = 0};
    calog__wireDecodeArgs(rt, &rd, stack, 8, &args, &argc, &err);
    s += args[0].as.i + args[1].as.i;
    calog__argsFree(args, argc, stack);
  }
  check(s == 3 * n, "wire.decode_args");
}

static void caseEncodeResult(int64_t n) {
  CalogValueT v = calogValueInt(3);
  uint32_t len, total = 0;
  for (int64_t i = 0; i < n; i++) {
    calog__wireEncodeOutcome(rt, &v, false, &len);
    total += len;
  }
  check(total == 5 * (uint32_t)n, "wire.encode_result");
}

static void caseCallWire(int64_t n) {
  int64_t s = 0;
  memcpy(ctl->in, callReq, callReqLen);
  for (int64_t i = 0; i < n; i++) {
    int32_t len = calogCallWire(rt, luaId, callReqLen);
    int32_t v;
    memcpy(&v, ctl->out + 1, 4);
    s += len == 5 ? v : 0;
  }
  check(s == 3 * n, "wire.call_wire");
}

static void caseFnCallWire(int64_t n) {
  int64_t s = 0;
  memcpy(ctl->in, fnReq, fnReqLen);
  for (int64_t i = 0; i < n; i++) {
    int32_t len = calogFnCallWire(rt, addSlot, addGen, fnReqLen);
    int32_t v;
    memcpy(&v, ctl->out + 1, 4);
    s += len == 5 ? v : 0;
  }
  check(s == 3 * n, "wire.fn_call_wire");
}

/* ---- Lua -> C: a Lua loop calling out n times (per call) ----------------------------------------- */
static int rawCadd(lua_State *L) {
  lua_pushinteger(L, lua_tointeger(L, 1) + lua_tointeger(L, 2));
  return 1;
}

static void luaLoop(const char *fn, int64_t n, const char *what) {
  CalogValueT arg = calogValueInt(n), r = calogValueNil();
  int32_t st = calogContextCall(rt, luaId, fn, &arg, 1, &r);
  check(st == CALOG_OK && r.type == CALOG_INT && r.as.i == n * (n + 1) / 2 + n, what);
  calogValueFree(&r);
}

static void caseLoopLua(int64_t n) { luaLoop("loopLua", n, "lua_to_c.lua_function"); }
static void caseLoopNative(int64_t n) { luaLoop("loopNative", n, "lua_to_c.native"); }
static void caseLoopHost(int64_t n) { luaLoop("loopHost", n, "lua_to_c.host_trampoline"); }

static void caseRawLoopCFunction(int64_t n) {
  lua_State *L = rawL;
  lua_getglobal(L, "loopNative"); /* cadd in the raw state is a plain lua_CFunction */
  lua_pushinteger(L, n);
  lua_pcall(L, 1, 1, 0);
  check(lua_tointeger(L, -1) == n * (n + 1) / 2 + n, "lua_to_c.raw_cfunction");
  lua_pop(L, 1);
}

/* ---- the ~1 KB nested value ---------------------------------------------------------------------- */
static void caseNestedDecode(int64_t n) {
  CalogValueT stack[8], *args, err = calogValueNil();
  int32_t argc;
  for (int64_t i = 0; i < n; i++) {
    CalogReaderT rd = {.buf = nestedArgs, .len = nestedArgsLen, .pos = 0};
    calog__wireDecodeArgs(rt, &rd, stack, 8, &args, &argc, &err);
    calog__argsFree(args, argc, stack);
  }
}

static void caseNestedEncode(int64_t n) {
  uint32_t len = 0;
  for (int64_t i = 0; i < n; i++) calog__wireEncodeOutcome(rt, &nestedValue, false, &len);
  check(len + 5 == nestedArgsLen, "nested.encode");
}

static void caseNestedContextCall(int64_t n) {
  CalogValueT r = calogValueNil();
  for (int64_t i = 0; i < n; i++) {
    calogContextCall(rt, luaId, "echo", &nestedValue, 1, &r);
    calogValueFree(&r);
  }
}

static void caseNestedCallWire(int64_t n) {
  memcpy(ctl->in, nestedReq, nestedReqLen);
  int32_t len = 0;
  for (int64_t i = 0; i < n; i++) len = calogCallWire(rt, luaId, nestedReqLen);
  check(len > 0 && (uint32_t)len + 5 == nestedArgsLen, "nested.call_wire");
}

/* ---- eval and fib --------------------------------------------------------------------------------- */
static void caseEvalWire(int64_t n) {
  memcpy(ctl->in, evalReq, evalReqLen);
  int64_t s = 0;
  for (int64_t i = 0; i < n; i++) {
    int32_t len = calogEvalWire(rt, luaId, evalReqLen);
    int32_t v;
    memcpy(&v, ctl->out + 1, 4);
    s += len == 5 ? v : 0;
  }
  check(s == 10 * n, "eval.eval_wire");
}

static void caseRawEval(int64_t n) {
  lua_State *L = rawL;
  int64_t s = 0;
  for (int64_t i = 0; i < n; i++) {
    luaL_loadbufferx(L, evalChunk, strlen(evalChunk), "=eval", "t");
    lua_pcall(L, 0, 1, 0);
    s += lua_tointeger(L, -1);
    lua_pop(L, 1);
  }
  check(s == 10 * n, "eval.raw");
}

static void caseFib(int64_t n) {
  CalogValueT arg = calogValueInt(30), r = calogValueNil();
  for (int64_t i = 0; i < n; i++) {
    calogContextCall(rt, luaId, "fib", &arg, 1, &r);
    check(r.type == CALOG_INT && r.as.i == 832040, "fib30.context_call");
    calogValueFree(&r);
  }
}

static const CaseT cases[] = {
    {"c.indirect_call", "an indirect C call (loop floor)", caseCNoop, 200},
    {"lua.raw_pcall_global", "raw Lua: getglobal add + 2 pushinteger + lua_pcall + tointeger", caseRawGlobal, 200},
    {"lua.raw_pcall_ref", "raw Lua: rawgeti registry ref + 2 pushinteger + lua_pcall", caseRawRef, 200},
    {"broker.call_native", "calogBrokerCall of a C native add (name lookup + invoke)", caseBrokerNative, 200},
    {"broker.context_call", "calogContextCall(\"add\", 1, 2) into Lua", caseContextCall, 200},
    {"broker.fn_invoke", "calogFnInvoke(add fn value, 1, 2) into Lua", caseFnInvoke, 200},
    {"wire.decode_args", "decode IN [LIST 2 x I32] into values + free", caseDecodeArgs, 200},
    {"wire.encode_result", "encode an int result into OUT", caseEncodeResult, 200},
    {"wire.call_wire", "calogCallWire: ctx.call(\"add\", 1, 2) minus FFI and TS codec", caseCallWire, 200},
    {"wire.fn_call_wire", "calogFnCallWire: ScriptFunction add(1, 2) minus FFI and TS codec", caseFnCallWire, 200},
    {"lua_to_c.lua_function", "Lua loop calling a local Lua function (per call)", caseLoopLua, 100},
    {"lua_to_c.raw_cfunction", "raw Lua loop calling a plain lua_CFunction (per call)", caseRawLoopCFunction, 100},
    {"lua_to_c.native", "Lua loop calling a calog C native (per call)", caseLoopNative, 100},
    {"lua_to_c.host_trampoline", "Lua loop calling a host fn through the wire, C stub host (per call)", caseLoopHost, 100},
    {"nested.decode", "decode the ~1 KB nested argument from IN", caseNestedDecode, 200},
    {"nested.context_call", "calogContextCall(\"echo\", nested): values -> Lua table -> values", caseNestedContextCall, 200},
    {"nested.encode", "encode the nested result into OUT", caseNestedEncode, 200},
    {"nested.call_wire", "calogCallWire(\"echo\", nested): the whole C side of the round trip", caseNestedCallWire, 200},
    {"eval.raw", "raw Lua: luaL_loadbuffer + lua_pcall of the small chunk", caseRawEval, 200},
    {"eval.eval_wire", "calogEvalWire of the small chunk", caseEvalWire, 200},
    {"fib30.context_call", "calogContextCall(\"fib\", 30), no JS runtime in the process", caseFib, 15},
};

int main(int argc, char **argv) {
  const char *only = NULL, *nested = NULL;
  int64_t iters = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--json") == 0) jsonOut = true;
    else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) only = argv[++i];
    else if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc) iters = atoll(argv[++i]);
    else if (strcmp(argv[i], "--nested") == 0 && i + 1 < argc) nested = argv[++i];
    else {
      fprintf(stderr, "usage: %s [--json] [--nested FILE.lua] [--only NAME --iters N]\n", argv[0]);
      return 2;
    }
  }
  noopPtr = noop;
  setup(nested);
  size_t count = sizeof cases / sizeof cases[0];
  for (size_t i = 0; i < count; i++) {
    if (only && strcmp(only, cases[i].name) != 0) continue;
    if (only && iters > 0) {
      cases[i].fn(iters < 1000 ? iters : 1000); /* warm */
      double t0 = nowNs();
      cases[i].fn(iters);
      printf("%s: %lld ops, %.1f ns/op\n", cases[i].name, (long long)iters, (nowNs() - t0) / (double)iters);
    } else {
      runCase(&cases[i]);
    }
  }
  calogFnRelease(addFn);
  calogValueFree(&nestedValue);
  lua_close(rawL);
  calogDestroy(rt);
  if (failures) fprintf(stderr, "broker_bench: %d wrong results\n", failures);
  return failures ? 1 : 0;
}
