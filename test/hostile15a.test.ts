// The fifteenth hostile pass (15a): what it found, kept as regressions.
import assert from "node:assert/strict";
import { CalogLimitError, Runtime } from "../bindings/mod.ts";
import { modes, test, timed, where } from "./harness.ts";

const tries = (n: number, body: string, handler: string) => "try { ".repeat(n) + body + ` } catch(e) { ${handler} }`.repeat(n);

// Squirrel's POPTRAP carries its count in one byte: a return, break or continue inside 256 or more nested try blocks
// popped the count modulo 256 (none at 256), and the traps left behind caught a later throw of the caller, which ran
// the returned function's catch block in the caller's frame: it read the callee's literal indexes from the caller's
// literals, out of bounds (a garbage value printed as '((null) : 0x0x8000010)', or an arith error on two nulls).
for (const thread of modes) {
  test(`squirrel (${where(thread)}): return, break and continue leave 256 or more nested try blocks whole`, () => {
    using rt = new Runtime();
    using ctx = rt.createContext("squirrel", { thread });
    const lits = Array.from({ length: 3000 }, (_, i) => `"s${i}"`).join(",");
    for (const n of [255, 256, 257, 300, 400]) {
      const src =
        `local function f() { local big = [${lits}]; ${tries(n, "return 5;", 'return "s2999" + "zz"')} }\n` +
        `local s = "", r = 0, b = 0;\n` +
        `try { r = f(); throw "x" } catch(e) { s = e }\n` +
        `for (local i = 0; i < 3; i++) { ${tries(n, "b++; if (i == 1) break; continue;", "return -1")} }\n` +
        `try { throw "y" } catch(e) { s += e }\n` +
        `return r + ":" + s + ":" + b;`;
      assert.equal(ctx.eval(src), "5:xy:2", `${n} nested try blocks`);
    }
    assert.equal(ctx.eval("try { throw 1 } catch(e) { return 2 } return 3"), 2);
  });
}

// Squirrel's StartCall wrote a call's default parameters before it made room for the frame, up to 254 slots past the
// caller's frame: from a frame at the end of a freshly grown stack (a new thread, recursion) 'f()' of a function
// with 240 default parameters wrote past the stack's allocation (ASan: heap-buffer-overflow in StartCall; Bun:
// segmentation fault). The _call metamethod pushed the object and up to 254 arguments above the frame unchecked
// (ASan: heap-buffer-overflow in SQVM::Push; Bun: 'malloc(): invalid next size', abort).
for (const thread of modes) {
  test(`squirrel (${where(thread)}): default parameters and _call arguments stay inside the stack`, () => {
    using rt = new Runtime();
    using ctx = rt.createContext("squirrel", { thread });
    const params = Array.from({ length: 240 }, (_, i) => `p${i}=${i}`).join(",");
    assert.equal(
      ctx.eval(
        `local function f(${params}) { return p239 }\n` +
          "function g(k) { if (k == 0) return f(); local r = g(k-1); return r }\n" +
          "local s = 0; for (local i = 0; i < 400; i++) { local t = newthread(g); s += t.call(i) } return s",
      ),
      400 * 239,
    );
    const args = Array.from({ length: 200 }, (_, i) => i).join(",");
    assert.equal(
      ctx.eval(
        "local t = {}.setdelegate({ _call = function(self, ...) { local a = 0; foreach (v in vargv) a += v; return a } });\n" +
          `function h(k) { if (k == 0) return t(${args}); local r = h(k-1); return r }\n` +
          "local s = 0; for (local i = 0; i < 100; i++) { local th = newthread(h); s += th.call(i) } return s",
      ),
      100 * (199 * 200) / 2,
    );
    assert.equal(ctx.eval("return 1 + 1"), 2);
  });
}

// Compiling polled no limit in Lua and Squirrel, and Duktape's lexer none: a script's load/compilestring/eval of a
// long source, and the host's own eval of one, ran its whole compile past the timeout (load of 10 million
// statements: 1.9 s against 300 ms; compilestring: 3.8 s; eval of an 80 MB comment in JavaScript: 1 s against
// 200 ms), and neither interrupt() nor dispose could stop it sooner. The lexers now poll every 64K characters
// (16K advances in Duktape), counting no steps.
const compileCases = {
  lua: { inScript: "load(SRC)", comment: (s: string) => "--[[" + s + "]]" },
  js: { inScript: "eval(SRC)", comment: (s: string) => "/*" + s + "*/" },
  squirrel: { inScript: "compilestring(SRC)", comment: (s: string) => "/*" + s + "*/" },
} as const;
for (const engine of ["lua", "js", "squirrel"] as const) {
  for (const thread of modes) {
    test(`${engine} (${where(thread)}): a long compile stops at the timeout`, async () => {
      using rt = new Runtime();
      const statements = "x=1;".repeat(10_000_000);
      const comment = compileCases[engine].comment("x".repeat(80_000_000));
      rt.register("source", (which) => (which === 1 ? statements : comment));
      using ctx = rt.createContext(engine, { thread });
      const set = engine === "lua" ? "SRC = source(N)" : engine === "js" ? "var SRC = source(N)" : "::SRC <- source(N)";
      const timedOut = (f: () => unknown) => {
        const { err, ms } = timed(f);
        assert.ok(err instanceof CalogLimitError && err.limit === "timeout", `${err}`);
        return ms;
      };
      // Lua and Squirrel skip a comment quickly (140 ms for 80 MB), Duktape's lexer does not
      for (const n of engine === "js" ? [1, 2] : [1]) {
        ctx.eval(set.replace("N", String(n)));
        const ms = timedOut(() => ctx.eval(compileCases[engine].inScript, { timeoutMs: 200 }));
        assert.ok(ms < 500, `the script's compile of source ${n} stopped after ${ms.toFixed(0)} ms`);
      }
      ctx.eval(engine === "lua" ? "SRC = nil" : engine === "js" ? "SRC = undefined" : "::SRC <- null");
      // the host's own eval of a long source
      for (const src of engine === "js" ? [statements, comment] : [statements]) {
        const ms = timedOut(() => ctx.eval(src, { timeoutMs: 200 }));
        assert.ok(ms < 500, `the host's eval of a ${src.length}-byte source stopped after ${ms.toFixed(0)} ms`);
      }
      if (thread) {
        // interrupt() reaches a compile too
        const running = ctx.evalAsync(statements);
        setTimeout(() => ctx.interrupt(), 100);
        const t0 = performance.now();
        await assert.rejects(running, (e: unknown) => e instanceof CalogLimitError && e.limit === "interrupt");
        assert.ok(performance.now() - t0 < 500, "interrupted within 500 ms");
      }
      assert.equal(ctx.eval(engine === "js" ? "1 + 1" : "return 1 + 1"), 2);
    }, 30_000);
  }
}
