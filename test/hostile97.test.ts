// Pass 97b: under Deno, a host-thread Lua context disposed 65-128 KB above V8's limit closed its interpreter with too
// little C stack for its finalizers (the engine fails one with less than 128 KB left): the function values it held
// were never released, a lent TypeScript function (and what it held) kept until the runtime's dispose, and 7 of the
// runtime's own natives for good when that was the runtime's dispose. A dispose that would take down a host-thread
// context now wants the room the finalizers need, and is refused with nothing changed where it is missing. Failed at
// 8da0b0d.
import assert from "node:assert/strict";
import { CalogNestingError, type EngineName, Runtime } from "../bindings/mod.ts";
import { backend } from "../src/backend.ts";
import { atRoom, measureLimit, test } from "./harness.ts";

/**
 * Disposes `h` with about `kb` KB of stack left above the limit. A refusal must be named (a CalogNestingError, or
 * JavaScript's own RangeError where not even that can be made) and change nothing; `h` is then disposed from the top.
 * Whether it was refused.
 */
function disposeAtRoom(limit: number, kb: number, h: { dispose(): void; readonly disposed: boolean }): boolean {
  let err: unknown;
  atRoom(limit, kb, () => {
    try {
      h.dispose();
    } catch (e) {
      err = e;
    }
  });
  if (err === undefined) return false;
  assert.ok(err instanceof CalogNestingError || err instanceof RangeError, String(err));
  assert.equal(h.disposed, false, "a refused dispose changed nothing");
  h.dispose(); // from the top
  return true;
}

const keeps: Record<EngineName, string> = {
  lua: "function keep(f) held = f end",
  js: "function keep(f) { held = f; }",
  squirrel: "function keep(f) { ::held <- f; }",
};

for (const engine of ["lua", "js", "squirrel"] as EngineName[]) {
  test(`${engine}: a host-thread context disposed at any depth releases what it held, or is refused with nothing changed`, () => {
    const limit = measureLimit();
    using rt = new Runtime({ output: "ignore" });
    const base = rt.stats().hostFunctions;
    let refused = 0, done = 0;
    for (let kb = 70; kb <= 400; kb += 10) {
      const ctx = rt.createContext(engine, { thread: false });
      ctx.eval(keeps[engine]);
      ctx.call("keep", (x: number) => x);
      if (disposeAtRoom(limit, kb, ctx)) refused++;
      else done++;
      assert.equal(rt.stats().contexts, 0);
      assert.equal(rt.stats().hostFunctions, base, `the context's lent function outlived its dispose ${kb} KB above the limit`);
    }
    assert.ok(done > 0, "no dispose went through");
  });
}

test("a runtime disposed at any depth frees its own natives, or is refused with nothing changed", () => {
  const limit = measureLimit();
  const b = backend();
  const base = b.liveFunctionValues();
  for (let kb = 70; kb <= 400; kb += 10) {
    const rt = new Runtime({ output: "ignore" });
    rt.createContext("lua", { thread: false });
    disposeAtRoom(limit, kb, rt);
    assert.equal(b.liveFunctionValues(), base, `the runtime's natives outlived its dispose ${kb} KB above the limit`);
  }
});

// Pass 97b: a Lua script that dropped calog function values ~197 C calls deep (nested pcall) had the collector call
// their finalizers there, where each failed with "C stack overflow" (Lua only warns) and was never called again: the
// values were never released, not by a later collection nor by the context's dispose (Bun and Deno, both thread
// kinds; 500 lent functions of 5 contexts kept until the runtime's dispose). Lua's collector now leaves its finalizers
// pending where a call would fail (c/patches/lua/76-finalizers-wait-for-c-stack.patch), and a later step runs them.
for (const thread of [false, true]) {
  test(`lua (${thread ? "own" : "host"} thread): function values a script drops deep in nested pcalls are released by a later collection`, async () => {
    using rt = new Runtime({ output: "ignore" });
    rt.register("mk", () => (i: number) => i);
    const base = rt.stats().hostFunctions;
    using ctx = rt.createContext("lua", { thread });
    const src = `
      local boxes = {}
      for i = 1, 50 do boxes[i] = mk() end
      local function down(n)
        if n == 0 then
          boxes = nil -- dropped here, and the collector runs here, 197 C calls deep
          local t = {}
          for i = 1, 200000 do t[i % 1000] = {i} end
          return
        end
        assert(pcall(down, n - 1))
      end
      down(197)
      collectgarbage(); collectgarbage()
      return "ok"`;
    assert.equal(thread ? await ctx.evalAsync(src) : ctx.eval(src), "ok");
    for (let i = 0; i < 200 && rt.stats().hostFunctions !== base; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(rt.stats().hostFunctions, base, "the dropped function values were never released");
  });
}
