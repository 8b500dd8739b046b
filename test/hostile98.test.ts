// Pass 98b: under Deno, a forgotten host-thread Lua context whose last function value was disposed 70-140 KB above
// V8's limit, followed there by a synchronous call into a threaded context, was closed inside that call's wait (where
// the host served the context's REAP), with too little C stack for its finalizers: the lent TypeScript functions it
// held stayed alive until the runtime's dispose, and 27 native function values for good. The host now closes such a
// context only at a top-level look with the room its finalizers need (c/src/actor.c deferReap). Failed at a5aab94.
import assert from "node:assert/strict";
import { type EngineName, Runtime, type ScriptFunction } from "../bindings/mod.ts";
import { backend } from "../src/backend.ts";
import { atRoom, gc, measureLimit, test } from "./harness.ts";

const sources: Record<EngineName, string> = {
  lua: "function keep(f) held = f end function get() return 1 end",
  js: "function keep(f) { held = f; } function get() { return 1; }",
  squirrel: "function keep(f) { ::held <- f; } function get() { return 1; }",
};

const FORGOTTEN = 20;

/** FORGOTTEN host-thread contexts, each holding a lent function, whose handles are dropped: only `get` keeps each. */
function forgotten(rt: Runtime, engine: EngineName): ScriptFunction[] {
  const out: ScriptFunction[] = [];
  for (let i = 0; i < FORGOTTEN; i++) {
    const h = rt.createContext(engine, { thread: false });
    h.eval(sources[engine]);
    h.call("keep", (x: number) => x + i);
    out.push(h.getFunction("get"));
  }
  return out;
}

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
        const fns = forgotten(rt, engine);
        await collect(() => false, 6); // the handles go (a conservative scan may keep one or two: see the bound below)
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
