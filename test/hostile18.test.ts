// The eighteenth hostile pass: a review of the fixes of pass 17a; what it found, kept as regressions.
import assert from "node:assert/strict";
import { Runtime } from "../bindings/mod.ts";
import { test } from "./harness.ts";

// Duktape patch 77 stopped the collect-and-retry rounds of a refused allocation once a limit had tripped, but the
// trip (and the deadline) of an entry stays in the context until the next entry starts: host functions registered
// after a call that tripped are installed before the next entry starts (calog__ctxHold), so with cyclic garbage
// near the memory limit the install was refused the collection that would have made room, and the function was
// missing from that context for good ('identifier fn3 undefined'), where the same call without the earlier trip ran.
for (const thread of [false, true]) {
  test(`js (${thread ? "own thread" : "host thread"}): a trip of the last call does not refuse a collection outside an entry`, () => {
    for (const trip of [false, true]) {
      using rt = new Runtime();
      using ctx = rt.createContext("js", { thread });
      ctx.eval("function mk() { var a = []; for (var i = 0; i < 20000; i++) { var o = {}; o.self = o; a.push(o) } } mk(); 0");
      const mem = rt.stats().perContext[0]!.memory;
      if (trip) assert.throws(() => ctx.eval("for (;;) {}", { timeoutMs: 20 }));
      ctx.setLimits({ memory: mem + 2000 });
      for (let i = 0; i < 50; i++) rt.register("fn" + i, () => 1);
      assert.equal(ctx.eval("fn3() + 1"), 2, trip ? "after a tripped call" : "without a trip");
    }
  }, 30_000);
}
