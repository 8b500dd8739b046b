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
  case 4: n = calogFnCallWire(rt, len > 0 ? data[1] : 0, 1, len); break;
  case 5: n = calogUnregisterWire(rt, len); break;
  case 6: n = calogCallAsyncWire(rt, ctx[data[0] % 3], len); break;
  default: {
    n = calogContextCreateWire(rt, len);
    if (n > 0) calogContextDestroy(rt, n);
    break;
  }
  }
  (void)n;
  while (calogHostPoll(rt) == 1) {} /* collect async outcomes */
  /* release every function handle a result may have handed out */
  for (uint32_t slot = 0; slot < 64; slot++)
    for (uint32_t gen = 0; gen < 4; gen++) calogFnReleaseWire(rt, slot, gen);
  /* A full collection in the Lua context (an entry, so it also frees the result the runtime kept for the
   * host): what the input allocated is freed within it, so libFuzzer's per-input leak check (run when an
   * input leaves more mallocs than frees) fires for a real leak, not for garbage Lua would free later.
   * Duktape and Squirrel count references: a tree of values decoded from the wire is freed at once (their
   * mark-and-sweep, for cycles, would cost more than the rest of the input). */
  CalogValueT r = calogValueNil();
  (void)calogContextCall(rt, ctx[0], "gc", NULL, 0, &r);
  calogValueFree(&r);
  return 0;
}
