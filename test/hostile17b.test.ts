// The seventeenth hostile pass (b): round three on passes 15 and 16. What it found, kept as regressions; runs
// unchanged under Bun and Deno.
import assert from "node:assert/strict";
import { type EngineName, Runtime } from "../bindings/mod.ts";
import { modes, test, where } from "./harness.ts";

const engines: EngineName[] = ["lua", "js", "squirrel"];

// A call made near the end of the JavaScript stack (a recursive host program calling a script at each level) could
// overflow inside calog's encoder after it had marked itself busy: begin() set its 'encoding' flag before a call
// (wire.begin) and the callers cleared it in end(), itself a call. A RangeError thrown by either left the flag set for
// good: every later call of the runtime, at any depth, failed with "calog was called while marshalling a value (from
// a getter or a Proxy)", and dispose() was refused ("cannot be disposed while calog is reading a value"), so the
// contexts and their threads could never be freed (every engine, both thread kinds, every run).
for (const thread of modes) {
  test(`a stack overflow inside a call leaves the runtime usable and disposable (${where(thread)})`, () => {
    for (const engine of engines) {
      const rt = new Runtime();
      let disposed = false;
      try {
        rt.register("h", (x: unknown) => x);
        const ctx = rt.createContext(engine, { thread });
        ctx.eval(engine === "lua" ? "function f(x) return h(x) end" : "function f(x) { return h(x); }");
        let deepest = 0;
        let calls = 0;
        const rec = (d: number): void => {
          try {
            rec(d + 1);
          } catch {
            if (d > deepest) deepest = d;
          }
          // every frame from the stack's end up to 30 calls that succeed: one of them overflows inside calog's
          // encoder (the frames nearest the end fail at once, with a RangeError)
          if (calls < 30 && d > deepest - 20_000) {
            try {
              ctx.call("f", [1, { a: "x" }]);
              calls++;
            } catch { /* a RangeError, or the error it became */ }
          }
        };
        rec(0);
        assert.ok(calls > 0, `${engine}: no call succeeded near the stack's end`);
        assert.deepEqual(ctx.call("f", [5, "five"]), [5, "five"], `${engine}: the runtime refuses calls after a stack overflow`);
        rt.dispose();
        disposed = true;
      } finally {
        if (!disposed) {
          try {
            rt.dispose();
          } catch { /* the defect: refused for ever */ }
        }
      }
    }
  }, 20_000);
}

// A host function that threw a function (or a class) gave its source text as the message, up to the 1 MB cut,
// where the README says an exception without a message is rendered and a function a script throws is named
// '[function]'. Now "a host function threw [function]" (a string `message` property of the function still wins); the
// cause is the function itself.
for (const thread of modes) {
  test(`a host function that throws a function: the message names it, the cause is it (${where(thread)})`, () => {
    for (const engine of engines) {
      using rt = new Runtime();
      const thrown = class Secret { static body = "x".repeat(1000); };
      const named = Object.assign(() => 1, { message: "a named one" });
      let cur: unknown = thrown;
      rt.register("boom", () => {
        throw cur;
      });
      using ctx = rt.createContext(engine, { thread });
      const src = engine === "js" ? "boom()" : "return boom()";
      let e = (() => {
        try {
          ctx.eval(src);
        } catch (x) {
          return x as Error;
        }
        throw new Error("no throw");
      })();
      assert.equal(e.message, "a host function threw [function]", engine);
      assert.equal(e.cause, thrown, engine);
      cur = named;
      try {
        ctx.eval(src);
      } catch (x) {
        e = x as Error;
      }
      assert.equal(e.message, "a named one", engine);
      assert.equal(e.cause, named, engine);
    }
  });
}
