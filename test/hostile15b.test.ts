// The fifteenth hostile pass (b): what it found, kept as regressions.
import assert from "node:assert/strict";
import { CalogLimitError, Runtime } from "../bindings/mod.ts";
import { modes, test, where } from "./harness.ts";

const engines = ["lua", "js", "squirrel"] as const;

// ctx.interrupt() from inside a host function, or a timeout that passed while one ran, was raised only at the
// script's next step tick: the script went on calling host functions (and printing) in the meantime. After
// `stop(); mark(1); mark(2)` both marks ran, and a loop calling the host went on for 200 (Squirrel) to 4,094
// (JavaScript) more host calls before the interrupt took effect. A limit tripped in the running entry now stops
// every call out (host function, function value, I/O) before it starts and before its result is delivered, and
// every print.
const stopSources = {
  lua: { straight: "stop(); mark(1); print('after'); mark(2)", loop: "while true do mark() end", pcall: "for i = 1, 100000 do pcall(mark) end", slow: "slow(); mark(1); mark(2)" },
  js: { straight: "stop(); mark(1); print('after'); mark(2);", loop: "for (;;) mark();", pcall: "for (var i = 0; i < 100000; i++) { try { mark() } catch (e) {} }", slow: "slow(); mark(1); mark(2);" },
  squirrel: { straight: "stop(); mark(1); print(\"after\\n\"); mark(2);", loop: "while (true) mark();", pcall: "for (local i = 0; i < 100000; i++) { try { mark() } catch (e) {} }", slow: "slow(); mark(1); mark(2);" },
};
for (const thread of modes) {
  test(`interrupt() from a host function (${where(thread)}): the script makes no further host call and prints nothing`, () => {
    for (const engine of engines) {
      using rt = new Runtime();
      const seen: string[] = [];
      using ctx = rt.createContext(engine, { thread, output: (text) => void seen.push(`print ${String(text).trim()}`) });
      let armed = true;
      rt.register("stop", () => void ctx.interrupt());
      rt.register("mark", (n) => {
        seen.push(`mark ${n}`);
        if (armed) {
          armed = false;
          ctx.interrupt();
        }
      });
      const src = stopSources[engine];
      for (const [what, source] of [["straight", src.straight], ["a loop", src.loop], ["a caught call in a loop", src.pcall]] as const) {
        seen.length = 0;
        armed = what !== "straight";
        assert.throws(() => ctx.eval(source), (e: unknown) => e instanceof CalogLimitError && e.limit === "interrupt", `${engine}, ${what}`);
        // the loops: the call that interrupted ran, nothing after it
        assert.deepEqual(seen, what === "straight" ? [] : ["mark undefined"], `${engine}, ${what}: ran after the interrupt`);
      }
      assert.equal(ctx.eval(engine === "lua" ? "return 1 + 1" : engine === "js" ? "1 + 1" : "return 1 + 1"), 2); // usable again
    }
  });

  test(`a timeout that passes inside a host function (${where(thread)}) stops the script when the function returns`, () => {
    for (const engine of engines) {
      using rt = new Runtime();
      const marks: unknown[] = [];
      using ctx = rt.createContext(engine, { thread, limits: { timeoutMs: 50 } });
      rt.register("slow", () => {
        const t = performance.now();
        while (performance.now() - t < 80);
      });
      rt.register("mark", (n) => void marks.push(n));
      assert.throws(() => ctx.eval(stopSources[engine].slow), (e: unknown) => e instanceof CalogLimitError && e.limit === "timeout", engine);
      assert.deepEqual(marks, [], `${engine}: host calls after the timeout`);
    }
  });

  test(`interrupt() during a call into another context (${where(thread)}) stops the caller when the call returns`, () => {
    for (const engine of engines) {
      using rt = new Runtime();
      const marks: unknown[] = [];
      using ctx = rt.createContext(engine, { thread });
      using other = rt.createContext("lua", { thread });
      rt.register("mark", (n) => void marks.push(n));
      rt.register("stopCaller", () => void ctx.interrupt());
      other.eval("function f() stopCaller() return 1 end");
      using f = other.getFunction("f");
      const setter = engine === "lua" ? "function setF(g) f = g end" : engine === "js" ? "function setF(g) { f = g }" : "function setF(g) { ::f <- g }";
      ctx.eval(setter);
      ctx.call("setF", f);
      const src = engine === "lua" ? "f(); mark(1)" : engine === "js" ? "f(); mark(1);" : "f(); mark(1);";
      assert.throws(() => ctx.eval(src), (e: unknown) => e instanceof CalogLimitError && e.limit === "interrupt", engine);
      assert.deepEqual(marks, [], `${engine}: host calls after the interrupt`);
      assert.equal(other.call("f"), 1); // the other context was not stopped
    }
  });
}
