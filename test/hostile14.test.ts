// The fourteenth hostile pass: what it found, kept as regressions.
import assert from "node:assert/strict";
import { CalogSyntaxError, Runtime } from "../bindings/mod.ts";
import { modes, test, where } from "./harness.ts";

// Squirrel's VM read a call's result register as a signed byte (-1, 0xFF, meaning "no result"): a call whose result
// went to register 128 or above (a call in a function with 125 locals before it, or calls nested 64 deep, such as
// f(f(...1)) 126 deep) stored its result 2 to 128 slots below its frame. The script read a stale value (a Squirrel
// class where 7 was due: a CalogValueError), and the stack beneath was overwritten: the next compile crashed the
// process (Bun: segmentation fault). Found by the host-thread nesting sweep of this pass.
for (const thread of modes) {
  test(`squirrel (${where(thread)}): a call's result reaches a register past 127`, () => {
    using rt = new Runtime();
    using ctx = rt.createContext("squirrel", { thread });
    const pad = (n: number) => Array.from({ length: n }, (_, i) => `local a${i} = ${i};`).join(" ");
    for (const n of [100, 125, 126, 127, 200, 250]) {
      const src = pad(n) + ` local f = function(x) { return x }; local r = f(7); return [r, a0, a${n - 1}]`;
      assert.deepEqual(ctx.eval(src), [7, 0, n - 1], `a call after ${n} locals`);
    }
    const calls = (n: number) => "local f = function(x) { return x }; return " + "f(".repeat(n) + "1" + ")".repeat(n);
    for (let n = 60; n <= 140; n++) {
      let v: unknown;
      try {
        v = ctx.eval(calls(n));
      } catch (e) {
        // past the registers a function has (255) the compiler says so
        assert.ok(e instanceof CalogSyntaxError && /too many locals/.test(e.message), `${n} nested calls: ${e}`);
        assert.ok(n > 120, `${n} nested calls fit in the registers`);
        continue;
      }
      assert.equal(v, 1, `${n} nested calls`);
    }
    // register 255 is the VM's "none": never handed out, to a temporary or to a parameter
    const params = (n: number) =>
      `local f = function(${Array.from({ length: n }, (_, i) => "p" + i).join(",")}) { return p${n - 1} }; ` +
      `return f(${Array.from({ length: n }, (_, i) => i).join(",")})`;
    assert.equal(ctx.eval(params(200)), 199);
    for (const n of [255, 256, 300]) assert.throws(() => ctx.eval(params(n)), CalogSyntaxError, `${n} parameters`);
    assert.equal(ctx.eval("return 1 + 1"), 2); // still usable, and the process still alive
  });
}
