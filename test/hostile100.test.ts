// Pass 100a: the room finalizers get beyond a script's (16 KB of C stack: 6bc8376) was one per-thread amount that each
// finalizer run added to, and a finalizer can run another host-thread context's finalizers (through a host function
// that evals there): eight nested runs let 128 KB go, the engines' stack checks never fired again, and a script's deep
// regexp compile overran a 1 MB host stack (Bun SIGSEGV, Deno "stack overflow, aborting"). Nested runs now share one
// allowance (calog__finalizing in c/src/stack.h). Failed at 6bc8376.
import assert from "node:assert/strict";
import { runScriptChild, test } from "./harness.ts";

for (const engine of ["lua", "js"] as const) {
  test(`${engine}: a script inside finalizers nested across eight host-thread contexts still meets its stack error (ulimit -s 1024)`, async () => {
    const fin = engine === "lua"
      ? (i: string) => `do local t = setmetatable({}, { __gc = function() down(${i} + 1) end }) end collectgarbage()`
      : (i: string) => `(function () { var t = {}; Duktape.fin(t, function () { down(${i} + 1); }); })(); Duktape.gc();`;
    const { code, out } = await runScriptChild("nested-finalizers", `
      const N = 8;
      const rt = new Runtime({ output: "ignore" });
      const ctxs = Array.from({ length: N }, () => rt.createContext(${JSON.stringify(engine)}, { thread: false }));
      const js = rt.createContext("js", { thread: false });
      let out = "not reached";
      rt.register("down", (i) => {
        if (i < N) ctxs[i].eval(${JSON.stringify(fin("I"))}.replace("I", String(i)));
        else out = js.eval('var s = ""; for (var k = 0; k < 9000; k++) s += "("; s += "a"; for (var k = 0; k < 9000; k++) s += ")";' +
          'try { new RegExp(s); "compiled" } catch (e) { String(e) }');
      });
      rt.createContext("lua", { thread: false }).eval("down(0)");
      console.log("OUT " + out);
      rt.dispose();
    `, 60_000, "Runtime", 1024);
    assert.equal(code, 0, out);
    assert.match(out, /OUT RangeError: C stack depth limit/, out); // the innermost script's own error, not a crash
  });
}
