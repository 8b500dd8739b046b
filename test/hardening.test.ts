// Issue 12 regressions: function values outliving a forgotten Context, thrown payloads, Promises from host
// functions. (Value fidelity rows are in fidelity.test.ts.)
import assert from "node:assert/strict";
import { type EngineName, Runtime, type ScriptFunction } from "../bindings/mod.ts";
import { gc, test } from "./harness.ts";

const engines: EngineName[] = ["lua", "js", "squirrel"];
const modes = [true, false];
const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

const adder: Record<EngineName, string> = {
  lua: "function make(k) return function(x) return x + k end end",
  js: "function make(k) { return function (x) { return x + k; }; }",
  squirrel: "function make(k) { return function(x) { return x + k; }; }",
};
const holder: Record<EngineName, string> = {
  lua: "held = nil function keep(f) held = f end function useHeld(x) return held(x) end function drop() held = nil collectgarbage() collectgarbage() end",
  js: "var held = null; function keep(f) { held = f; } function useHeld(x) { return held(x); } function drop() { held = null; Duktape.gc(); Duktape.gc(); }",
  squirrel: "held <- null; function keep(f) { ::held = f; } function useHeld(x) { return ::held(x); } function drop() { ::held = null; collectgarbage(); }",
};

/** Functions made by a context nobody references any more. */
function orphanFunctions(rt: Runtime, engine: EngineName, thread: boolean, n: number): ScriptFunction[] {
  const ctx = rt.createContext(engine, { thread });
  ctx.eval(adder[engine]);
  const fns: ScriptFunction[] = [];
  for (let i = 0; i < n; i++) fns.push(ctx.call("make", i) as ScriptFunction);
  return fns;
}

/** Full GCs with turns of the event loop between them, so finalizers run and posted releases are served. */
async function collect(rt: Runtime): Promise<void> {
  for (let i = 0; i < 4; i++) {
    gc();
    await tick(5);
    rt.stats();
  }
}

for (const engine of engines) {
  for (const thread of modes) {
    const mode = thread ? "threaded" : "host thread";
    test(`${engine} (${mode}): script functions outlive their forgotten Context under forced GC`, async () => {
      using rt = new Runtime();
      const base = rt.stats().contexts;
      const fns = orphanFunctions(rt, engine, thread, 20);
      await collect(rt);
      // the Context object is gone, its functions keep it alive
      assert.equal(rt.stats().contexts, base + 1);
      for (let i = 0; i < fns.length; i++) assert.equal(fns[i]!(100), 100 + i);
      assert.equal(await fns[3]!.callAsync(1), 4);
      for (const f of fns) f.dispose();
      await collect(rt);
      // the last function disposed: the forgotten context is destroyed (not leaked)
      assert.equal(rt.stats().contexts, base);
    });

    test(`${engine} (${mode}): a function held by another context keeps its forgotten Context alive`, async () => {
      using rt = new Runtime();
      for (const other of engines) {
        using keeper = rt.createContext(other, { thread: !thread });
        keeper.eval(holder[other]);
        const base = rt.stats().contexts;
        let f: ScriptFunction | undefined = orphanFunctions(rt, engine, thread, 1)[0]!;
        keeper.call("keep", f);
        f.dispose();
        f = undefined;
        await collect(rt);
        assert.equal(rt.stats().contexts, base + 1, `${other} holds a ${engine} function`);
        assert.equal(keeper.call("useHeld", 5), 5);
        keeper.call("drop");
        await collect(rt);
        assert.equal(rt.stats().contexts, base, `${engine} context destroyed once ${other} dropped its function`);
      }
    });
  }
}

test("a forgotten Context without functions is destroyed by the GC backstop; dispose still kills functions", async () => {
  using rt = new Runtime();
  const base = rt.stats().contexts;
  (() => void rt.createContext("lua").eval("x = 1"))();
  await collect(rt);
  assert.equal(rt.stats().contexts, base);
  const lua = rt.createContext("lua");
  lua.eval(adder.lua);
  const f = lua.call("make", 1) as ScriptFunction;
  lua.dispose();
  assert.throws(() => f(1), { name: "CalogDeadError" });
  f.dispose();
});

test("a pending callAsync keeps its forgotten Context alive until it settles", async () => {
  using rt = new Runtime();
  const p = (() => {
    const lua = rt.createContext("lua");
    lua.eval("function slow() local s = 0 for i = 1, 3e6 do s = s + i end return s end");
    return lua.callAsync("slow");
  })();
  gc();
  await tick(1);
  gc();
  assert.equal(await p, 4500001500000);
});
