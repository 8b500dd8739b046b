// Pass 98b: under Deno, a forgotten host-thread Lua context whose last function value was disposed 70-140 KB above
// V8's limit, followed there by a synchronous call into a threaded context, was closed inside that call's wait (where
// the host served the context's REAP), with too little C stack for its finalizers: the lent TypeScript functions it
// held stayed alive until the runtime's dispose, and 27 native function values for good. The host now closes such a
// context only at a top-level look with the room its finalizers need (c/src/actor.c deferReap). Failed at a5aab94.
import assert from "node:assert/strict";
import { type EngineName, Runtime } from "../bindings/mod.ts";
import { backend } from "../src/backend.ts";
import { atRoom, forgottenContexts, gc, measureLimit, test } from "./harness.ts";

const FORGOTTEN = 20;

async function collect(until: () => boolean, rounds = 100): Promise<void> {
  for (let i = 0; i < rounds && !until(); i++) {
    gc();
    await new Promise((r) => setTimeout(r, 10));
  }
}

for (const engine of ["lua", "js", "squirrel"] as EngineName[]) {
  for (const served of ["a sync call's wait", "a script's release"]) {
    test(`${engine}: a forgotten host-thread context whose last function goes deep in the stack (${served}) releases what it held`, async () => {
      const limit = measureLimit();
      const b = backend();
      const live0 = b.liveFunctionValues();
      const rt = new Runtime({ output: "ignore" });
      try {
        const t = rt.createContext("lua"); // threaded
        t.eval("function one() return 1 end function hold(f) held = f end function drop() held = nil collectgarbage() collectgarbage() end");
        const base = rt.stats().hostFunctions;
        const fns = forgottenContexts(rt, engine, FORGOTTEN);
        await collect(() => false, 6); // the handles go (a conservative scan may keep one or two: see the bound below)
        const live = b.liveFunctionValues();
        fns.forEach((f, i) =>
          atRoom(limit, 70 + (i % 8) * 10, () => {
            if (served === "a sync call's wait") {
              f.dispose(); // the REAP is queued to the host ...
              t.call("one"); // ... which serves it in this call's wait
            } else {
              t.call("hold", f); // the threaded script holds the last reference
              f.dispose();
              t.call("drop"); // and drops it while this call waits (a function value goes in a second collection)
            }
          })
        );
        // idle, no call into the runtime: the event loop alone closes them (an idle Deno program kept them until its
        // next call); each took its `get` and its lent function with it
        const closed = (): boolean => b.liveFunctionValues() <= live - (2 * FORGOTTEN - 2);
        for (let i = 0; i < 100 && !closed(); i++) await new Promise((r) => setTimeout(r, 10));
        assert.ok(closed(), `${live - b.liveFunctionValues()} function values went while the program was idle`);
        await collect(() => rt.stats().hostFunctions === base);
        const kept = rt.stats().hostFunctions - base;
        assert.ok(kept <= 2, `${kept} of ${FORGOTTEN} lent functions outlived their forgotten contexts' last function`);
        assert.equal(rt.stats().contexts, 1 + kept, "a forgotten context outlived its last function");
      } finally {
        rt.dispose();
      }
      await collect(() => b.liveFunctionValues() === live0);
      assert.equal(b.liveFunctionValues(), live0, "native function values outlived the runtime");
    });
  }
}

// Pass 98a: a finalizer called just above the engine's stack threshold (Lua: a step starting within ~320 bytes above
// CALOG_STACK_LOW passed patch 76's test and the call failed; Duktape had no such test at all), or with the native call
// levels nearly used up (Duktape), failed, and its object was lost with it: the calog function values it held were
// never released (Lua: until the runtime's dispose; Duktape: until the context's). Both engines now leave their
// finalizers pending there with a margin for the frames up to the call's own check (lua_prelude.h luai_calogfinlow,
// c/patches/duktape/102-finalizers-wait-for-c-stack.patch), and a later collection runs them. Failed at a5aab94 (js).
const bottoms = {
  eval: "eval('G = null; Duktape.gc();');",
  forEach: "[0].forEach(function () { G = null; Duktape.gc(); });",
  reviver: "JSON.parse('[0]', function (k, v) { if (k === '') { G = null; Duktape.gc(); } return v; });",
};
for (const thread of [false, true]) {
  test(`js (${thread ? "own" : "host"} thread): function values a script drops with the native call levels nearly used up are released by a later collection`, async () => {
    using rt = new Runtime({ output: "ignore" });
    rt.register("mk", () => (i: number) => i);
    using ctx = rt.createContext("js", { thread });
    const base = rt.stats().hostFunctions;
    const run = (src: string): Promise<unknown> => (thread ? ctx.evalAsync(src) : Promise.resolve(ctx.eval(src)));
    let reached = 0;
    for (const [name, bottom] of Object.entries(bottoms)) {
      for (let n = 490; n <= 500; n++) { // each level two native calls: the bottom is reached up to ~498 of Duktape's 1,000
        const src = `G = []; for (var i = 0; i < 5; i++) G.push(mk());
          function down(n) { if (n == 0) { ${bottom} return 1; } return [0].map(function () { return down(n - 1); })[0]; }
          down(${n})`;
        try {
          if ((await run(src)) === 1) reached++;
        } catch { /* past the limit: "C stack depth limit" */ }
        await run("G = null; Duktape.gc(); Duktape.gc();");
        assert.equal(rt.stats().hostFunctions, base, `${name} at depth ${n}: dropped function values were never released`);
      }
    }
    assert.ok(reached >= 3 * 8, `only ${reached} runs reached the bottom`);
  });
}

// The C stack's side of pass 98a: a sweep of the host-thread entry in 40-byte steps (finer than a frame) across the
// engine's threshold. Only where the JavaScript stack reaches that low above the library's floor: Deno (whose floor is
// V8's limit); Bun's JSC stops ~3 MB above the thread's end.
const sweeps = {
  lua: {
    range: [225_000, 260_000],
    src: `G = {} for i = 1, 5 do G[i] = mk() end
      local function down(n) if n == 0 then G = nil collectgarbage() return 1 end
        local ok, v = pcall(down, n - 1) if not ok then error(v, 0) end return v end
      return down(100)`,
    drop: "G = nil collectgarbage() collectgarbage()",
  },
  js: {
    range: [190_000, 330_000],
    src: `G = []; for (var i = 0; i < 5; i++) G.push(mk());
      function down(n) { if (n == 0) { G = null; Duktape.gc(); return 1; } return [0].map(function () { return down(n - 1); })[0]; }
      down(60)`,
    drop: "G = null; Duktape.gc(); Duktape.gc();",
  },
} as const;
const b0 = backend();
if (measureLimit() - b0.floorLeft < 150_000) {
  for (const [engine, sweep] of Object.entries(sweeps)) {
    test(`${engine} (host thread): function values a script drops at any C stack depth near the engine's threshold are released by a later collection`, () => {
      const b = backend();
      using rt = new Runtime({ output: "ignore" });
      rt.register("mk", () => (i: number) => i);
      using ctx = rt.createContext(engine as EngineName, { thread: false });
      const base = rt.stats().hostFunctions;
      let ok = 0;
      for (let room = sweep.range[1]; room >= sweep.range[0]; room -= 40) {
        atRoom(b.floorLeft, room / 1024, () => {
          try {
            ctx.eval(sweep.src);
            ok++;
          } catch { /* too deep: the engine's own error */ }
        });
        ctx.eval(sweep.drop);
        assert.equal(rt.stats().hostFunctions, base, `dropped function values were never released (${room} bytes of C stack)`);
      }
      assert.ok(ok > 100, `only ${ok} evals reached the bottom`);
    });
  }
}
