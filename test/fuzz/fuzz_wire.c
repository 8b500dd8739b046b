/* fuzz_wire.c -- libFuzzer target: the wire decoder (the calog*Wire entry points read IN bytes a C caller or
 * a binding may get wrong) and, through an echo function, each engine's marshalling both ways of whatever
 * value the bytes decode to. Byte 0 picks the entry point; the rest is IN.
 * Every context's globals are cleared but `echo` and `gc`, so a decoded name can only reach those or nothing. */
#include "calog.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static CalogT *rt;
static CalogContextIdT ctx[3];

static const char *const engines[3] = {"lua", "js", "squirrel"};
static const char *const setup[3] = {
    "function echo(...) return ... end local cg = collectgarbage function gc() cg() end "
    "local pcall, ipairs, ks = pcall, ipairs, {} for k in pairs(_G) do if k ~= 'echo' and k ~= 'gc' then ks[#ks + 1] = k end end "
    "for _, k in ipairs(ks) do pcall(function() _G[k] = nil end) end",
    "var g = this; function echo(x) { return x; } var gc = (function (f) { return function () { f(); }; })(Duktape.gc); "
    "Object.getOwnPropertyNames(g).forEach(function (k) { if (k !== 'echo' && k !== 'gc') try { delete g[k]; } catch (e) {} });",
    "function echo(x) { return x; } local cg = collectgarbage; function gc() { cg(); } local keys = []; "
    "foreach (k, v in getroottable()) if (k != \"echo\" && k != \"gc\") keys.append(k); "
    "foreach (k in keys) try { delete getroottable()[k]; } catch (e) {}",
};

static void init(void) {
  rt = calogCreate();
  if (rt == NULL) abort();
  for (int i = 0; i < 3; i++) {
    CalogValueT r = calogValueNil();
    if (calogContextCreate(rt, engines[i], CALOG_CONTEXT_HOST_THREAD, &ctx[i], &r) != CALOG_OK) abort();
    if (calogContextEval(rt, ctx[i], setup[i], (int64_t)strlen(setup[i]), "setup", &r) != CALOG_OK) {
      fprintf(stderr, "fuzz_wire: %s setup failed: %s\n", engines[i], calogErrorMessage(&r, NULL));
      abort();
    }
    calogValueFree(&r);
  }
}

/* Walks the value at the start of OUT (written by C, so well formed; bounded by len all the same) and drops
 * the reference of every function handle in it: what a host does with a result it has read. */
static void releaseHandles(const uint8_t *p, uint32_t len) {
  enum { MAXH = 1024 };
  uint32_t handles[MAXH][2], nh = 0;
  uint64_t pos = 0, pending = 1; /* pending: values still to read */
  while (pending > 0 && pos < len) {
    pending--;
    uint8_t tag = p[pos++];
    uint32_t a = 0, b = 0;
    if (tag >= 3 && tag <= 12 && tag != 4 && tag != 5 && len - pos >= 4) memcpy(&a, p + pos, 4);
    switch (tag) {
    case 0: case 1: case 2: break;                              /* NIL FALSE TRUE */
    case 3: pos += 4; break;                                    /* I32 */
    case 4: case 5: pos += 8; break;                            /* INT REAL */
    case 6: case 7: pos += 4 + a; break;                        /* STR BIN */
    case 8: pos += 4; pending += a; break;                      /* LIST */
    case 9: pos += 4; pending += 2 * a; break;                  /* MAP */
    case 10: /* BOTH */
      if (len - pos < 8) return;
      memcpy(&b, p + pos + 4, 4);
      pos += 8;
      pending += a + 2 * b;
      break;
    case 11: /* FN */
      if (len - pos < 8) return;
      memcpy(&b, p + pos + 4, 4);
      pos += 8;
      if (nh < MAXH) handles[nh][0] = a, handles[nh++][1] = b;
      break;
    case 12: pos += 4; break;                                   /* HOSTFN */
    default: return;
    }
  }
  for (uint32_t i = 0; i < nh; i++) calogFnReleaseWire(rt, handles[i][0], handles[i][1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (rt == NULL) init();
  if (size < 1 || size > (1u << 20)) return 0;
  uint32_t len = (uint32_t)(size - 1);
  if (calogWireReserve(rt, 0, len + 1) != 0) abort();
  CalogWireControlT *wc = calogWireControl(rt);
  memcpy(wc->in, data + 1, len);
  int32_t n;
  switch (data[0] % 8) {
  case 0: case 1: case 2: n = calogCallWire(rt, ctx[data[0] % 8], len); break;
  case 3: n = calogGetWire(rt, ctx[data[0] % 3], len); break;
  case 4: { /* a function handle of the chosen engine's echo, called with the input as its arguments */
    static const uint8_t getEcho[] = {6 /* STR */, 4, 0, 0, 0, 'e', 'c', 'h', 'o'};
    uint8_t *keep = malloc(len ? len : 1);
    if (keep == NULL) abort();
    memcpy(keep, wc->in, len);
    memcpy(wc->in, getEcho, sizeof getEcho);
    if (calogGetWire(rt, ctx[data[0] / 8 % 3], sizeof getEcho) != 9 || wc->out[0] != 11 /* FN */) abort();
    uint32_t slot, gen;
    memcpy(&slot, wc->out + 1, 4);
    memcpy(&gen, wc->out + 5, 4);
    memcpy(wc->in, keep, len);
    free(keep);
    n = calogFnCallWire(rt, slot, gen, len);
    if (n >= 0) releaseHandles(wc->out, (uint32_t)n);
    calogFnReleaseWire(rt, slot, gen);
    n = 0;
    break;
  }
  case 5: n = calogUnregisterWire(rt, len); break;
  case 6: n = calogCallAsyncWire(rt, ctx[data[0] % 3], len); break;
  default: {
    n = calogContextCreateWire(rt, len);
    if (n > 0) calogContextDestroy(rt, n);
    break;
  }
  }
  /* release every function handle the result, the error or an async outcome handed out */
  releaseHandles(wc->out, n >= 0 ? (uint32_t)n : wc->outCap);
  while (calogHostPoll(rt) == 1) releaseHandles(wc->out, wc->pollLen);
  /* A full collection in the Lua context, through a wire call: what the input allocated is freed within it,
   * so libFuzzer's per-input leak check (run when an input leaves more mallocs than frees) fires for a real
   * leak, not for garbage Lua would free later. A wire call (not calogContextCall) also frees the outcome the
   * runtime kept for the host since the input's call (a failed call keeps its error message): without it,
   * 20-25% of the inputs ran a leak check, 2/3 of the time. Duktape and Squirrel count references: a tree of
   * values decoded from the wire is freed at once (their mark-and-sweep, for cycles, would cost more than the
   * rest of the input). */
  static const uint8_t gcCall[] = {6 /* STR */, 2, 0, 0, 0, 'g', 'c', 8 /* LIST */, 0, 0, 0, 0}; /* gc() */
  static const uint8_t echoCall[] = {6, 4, 0, 0, 0, 'e', 'c', 'h', 'o', 8, 1, 0, 0, 0, 0}; /* echo(nil) */
  if (calogWireReserve(rt, 0, sizeof echoCall) != 0) abort();
  /* Duktape and Squirrel give back the references of released functions on their next entry */
  for (int i = 1; i < 3; i++) {
    memcpy(wc->in, echoCall, sizeof echoCall);
    if (calogCallWire(rt, ctx[i], sizeof echoCall) < 0) abort();
  }
  memcpy(wc->in, gcCall, sizeof gcCall);
  if (calogCallWire(rt, ctx[0], sizeof gcCall) < 0) abort();
  return 0;
}
