// Pass 95a: the room a drain asks for was capped at a quarter of the stack seen from where the first Runtime was made;
// made 16 KB above JSC's limit, that was ~4 KB, too little to enter a host callback, and pass 93a's lost outcome came
// back (an evalAsync pending for good; Bun, every engine). The cap never goes below 32 KB now. Failed at 15ae0ef.
//
// Pass 95b: a host-thread context created deep in the host's recursion (or under a small V8 stack) ran its engine's
// set-up with too little C stack, which failed inside: Lua's "C stack overflow" as a CalogScriptError, Duktape's as a
// bare CalogError ERR_OOM (Deno). The library now refuses it first with CalogNestingError, as it refuses an eval there.
// Failed at 15ae0ef.
import assert from "node:assert/strict";
import { CalogError, CalogNestingError, CalogValueError, type EngineName, Runtime } from "../bindings/mod.ts";
import { atFramesFromEnd, drainBesideHostCallRounds, isDeno, runScriptChild, test } from "./harness.ts";

for (const engine of ["lua", "js", "squirrel"]) {
  test(`${engine}: a drain near the stack's end loses no outcome when the Runtime was made deep in the stack`, async () => {
    const r = await runScriptChild("deep-runtime", `
      import { backend } from ${JSON.stringify(new URL("../src/backend.ts", import.meta.url).href)};
      const engine = ${JSON.stringify(engine)};
      const be = backend();
      let least = be.stackLeft();
      const walk = (d) => { if ((d & 15) === 0) least = Math.min(least, be.stackLeft()); walk(d + 1); };
      try { walk(0); } catch { /* the limit */ }
      const limit = least;
      let rt, madeKB = 0;
      // the Runtime made about 12 KB above the JavaScript engine's limit (Deno cannot make one that deep: ~40 KB)
      const make = () => {
        if (be.stackLeft() - limit > 12 * 1024) { make(); if (rt) return; }
        try { rt = new Runtime({ output: "ignore" }); madeKB = (be.stackLeft() - limit) >> 10; } catch { /* one frame up */ }
      };
      make();
      ${drainBesideHostCallRounds(60)}
      rt.dispose();
      console.log(JSON.stringify({ hung, rounds, fulfilled, madeKB }));
    `, 120_000);
    assert.equal(r.code, 0, r.out);
    const o = JSON.parse(r.out.trim().split("\n").pop()!) as { hung: number; rounds: number; fulfilled: number; madeKB: number };
    assert.equal(o.hung, -1, `a call never settled (round ${o.hung}; the Runtime made ${o.madeKB} KB above the limit)`);
    assert.deepEqual([o.rounds, o.fulfilled], [60, 60]);
  }, 150_000);
}

for (const engine of ["lua", "js", "squirrel"] as EngineName[]) {
  test(`${engine}: a host-thread context created deep in the stack is made, or refused with a CalogNestingError`, () => {
    using rt = new Runtime({ output: "ignore" });
    const seen = new Map<string, number>();
    let made = 0, refused = 0;
    for (let off = 0; off < 4000; off += 25) {
      const e = atFramesFromEnd(off, 1, () => {
        const ctx = rt.createContext(engine, { thread: false });
        made++;
        try {
          ctx.dispose();
        } catch { /* refused for the stack: disposed from the top below */ }
      });
      if (e === undefined) continue;
      // the refusal, or where not even calog's checks could run, the engine's own RangeError (or calog's "reading a
      // value to pass ran out of JavaScript stack")
      const ok = e instanceof CalogNestingError || e instanceof RangeError ||
        (e instanceof CalogValueError && /ran out of JavaScript stack/.test(e.message));
      if (e instanceof CalogNestingError) refused++;
      if (!ok) {
        const k = `${(e as Error).constructor.name} (${e instanceof CalogError ? e.code : ""}): ${(e as Error).message}`.slice(0, 160);
        seen.set(k, (seen.get(k) ?? 0) + 1);
      }
    }
    assert.deepEqual([...seen], [], "a creation failed with another error");
    // (under Bun, JSC's limit lies megabytes above the C stack's end: the library has room to create all the way down)
    assert.ok(made > 0 && (refused > 0 || !isDeno), `made ${made}, refused ${refused}: the sweep missed the edge`);
  });
}
