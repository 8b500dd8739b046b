// The seventeenth hostile pass (b): round three on passes 15 and 16. What it found, kept as regressions; runs
// unchanged under Bun and Deno.
import assert from "node:assert/strict";
import { CalogScriptError, CalogValueError, type EngineName, Runtime } from "../bindings/mod.ts";
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

// A NaN map key (a TypeScript Map's, or a Squirrel table's) cannot be a Lua or Squirrel table key: strict refuses it
// with ERR_TYPE and lenient drops the pair, but the README's fidelity table did not say so (only "keys of other types
// (functions, tables)" were said to be dropped). The behaviour is pinned here and the table now has the row.
test("a NaN map key: strict ERR_TYPE, lenient dropped into Lua and Squirrel, and the README says so", async () => {
  const readme = await import("node:fs").then((fs) => fs.readFileSync(new URL("../README.md", import.meta.url), "utf8"));
  assert.match(readme, /\| a NaN map key \(a TypeScript `Map` key, a Squirrel table's key\) \| strict: `ERR_TYPE`[^|]*; lenient: the pair is dropped \|/);
  for (const policy of ["strict", "lenient"] as const) {
    using rt = new Runtime({ policy });
    using sq = rt.createContext("squirrel", { thread: false });
    using lua = rt.createContext("lua", { thread: false });
    sq.eval("function mk() { local t = {}; t[0.0/0.0] <- 1; t.a <- 2; return t; } function id(x) { return x; }");
    lua.eval("function count(t) local n = 0 for _ in pairs(t) do n = n + 1 end return n end function viaSq(f) return count(f()) end");
    const m = sq.call("mk") as Map<unknown, unknown>;
    assert.ok(m instanceof Map && m.size === 2 && Number.isNaN([...m.keys()].find((k) => typeof k === "number")), policy);
    const nanKey = new Map<unknown, number>([[NaN, 1], ["a", 2]]);
    if (policy === "strict") {
      for (const f of [() => lua.call("count", nanKey), () => sq.call("id", nanKey)]) {
        assert.throws(f, (e: unknown) => e instanceof CalogValueError && e.code === "ERR_TYPE" && /NaN/.test(e.message));
      }
      assert.throws(() => lua.call("viaSq", sq.getFunction("mk")), (e: unknown) => e instanceof CalogScriptError && /NaN cannot be a Lua table key/.test(e.message));
    } else {
      assert.equal(lua.call("count", nanKey), 1);
      assert.deepEqual(sq.call("id", nanKey), { a: 2 });
      assert.equal(lua.call("viaSq", sq.getFunction("mk")), 1);
    }
  }
});
