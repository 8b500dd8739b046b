// The twenty-third hostile pass (b): areas 1, 2 and 5 again at the JavaScript stack's end, after 22b (fnsTaken, the
// lost releases, abort at the stack's end). What it found, kept as regressions; runs unchanged under Bun and Deno.
import assert from "node:assert/strict";
import { CalogError, type EngineName, Runtime } from "../bindings/mod.ts";
import { atStackEdge, gc, idSource, modes, test, where } from "./harness.ts";

const engines: EngineName[] = ["lua", "js", "squirrel"];
const ping: Record<EngineName, string> = { lua: "collectgarbage() collectgarbage() return 1", js: "1", squirrel: "return 1;" };

/** Every function in v (arrays, plain objects, an error's value), disposed. */
function disposeAll(v: unknown, depth = 0): void {
  if (depth > 40) return;
  if (typeof v === "function") (v as { dispose?: () => void }).dispose?.();
  else if (Array.isArray(v)) for (const x of v) disposeAll(x, depth + 1);
  else if (v instanceof CalogError) disposeAll((v as { value?: unknown }).value, depth + 1);
  else if (v !== null && typeof v === "object") for (const x of Object.values(v)) disposeAll(x, depth + 1);
}

/** Collects, and lets every release the library deferred reach it (a crossing takes them). */
async function settle(ctx: { eval(s: string): unknown }, engine: EngineName): Promise<void> {
  ctx.eval(ping[engine]);
  for (let i = 0; i < 10; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 5));
  }
  ctx.eval(ping[engine]);
  await new Promise((r) => setTimeout(r, 20));
  ctx.eval(ping[engine]);
}

/** Overwrites `frames` frames of the stack below the caller, so no stale copy of a pointer there is read as a root. */
function scrubStack(frames: number): number {
  const pad = [0, 0, 0, 0, 0, 0, 0, 0];
  return frames === 0 ? 0 : scrubStack(frames - 1) + pad.length;
}

// 40 functions, each under 12 lists: decoding them takes stack, so it meets the stack's end in the middle
const nested: Record<EngineName, string> = {
  lua: "local t = {} for i = 1, 40 do local v = function() return i end for d = 1, 12 do v = { v } end t[i] = v end return t",
  js: "(function () { var t = []; for (var i = 0; i < 40; i++) { var v = function () { return 1; }; for (var d = 0; d < 12; d++) v = [v]; t.push(v); } return t; })()",
  squirrel: "local t = []; for (local i = 0; i < 40; i++) { local v = function() { return 1; }; for (local d = 0; d < 12; d++) v = [v]; t.append(v); } return t;",
};
const thrower: Record<EngineName, string> = {
  lua: "local t = {} for i = 1, 40 do t[i] = { f = function() end } end error(t)",
  js: "var t = []; for (var i = 0; i < 40; i++) t.push({ f: function () {} }); throw t;",
  squirrel: "local t = []; for (local i = 0; i < 40; i++) t.append({ f = function() {} }); throw t;",
};

// Suspicion (b) of 22b, proven: a result or an error whose decode the JavaScript stack's end stopped part way (a
// RangeError in it), or never let start (a RangeError in the bookkeeping that ran first), left the function handles
// it had not wrapped owned by nobody: each kept its context alive for good (Bun, every engine, both thread kinds: 120
// to 760 leaked native function values per 400 depths; an error's value 40 per "could not be read"). The handles past
// the ones wrapped (counted in fnsTaken) are now given back.
for (const thread of modes) {
  for (const engine of engines) {
    test(`function values in a result or an error read at the stack's end are never leaked (${engine}, ${where(thread)})`, async () => {
      using rt = new Runtime();
      using ctx = rt.createContext(engine, { thread });
      await settle(ctx, engine);
      const base = rt.stats().nativeFunctionValues;
      const kept: unknown[] = [];
      const run = (src: string): number =>
        atStackEdge(300, () => {
          try {
            const r = ctx.eval(src);
            kept.push(r);
            return r;
          } catch (e) {
            if (e instanceof CalogError) kept.push(e);
            return e;
          }
        }).filter((r) => !(r instanceof Error) || r instanceof CalogError).length;
      assert.ok(run(nested[engine]) > 0);
      assert.ok(run(thrower[engine]) > 0);
      disposeAll(kept);
      kept.length = 0;
      await settle(ctx, engine);
      // What a decode wrapped and never delivered (the stack ran out after it) is the GC backstop's, and JSC scans the
      // stack conservatively: a stale copy of a pointer can keep it a while. One CI run at 9f403f4 (Bun, full suite)
      // failed here with exactly one value's 40, not seen again in 400 isolated runs; more collections over a scrubbed
      // stack take such a value, while handles owned by no wrapper (the defect this pins) never come back.
      const first = rt.stats().nativeFunctionValues;
      for (let i = 0; i < 8 && rt.stats().nativeFunctionValues !== base; i++) {
        scrubStack(4000);
        await settle(ctx, engine);
      }
      assert.equal(rt.stats().nativeFunctionValues, base, `${engine}, ${where(thread)}: function values leaked (${first - base} after the first collections)`);
      assert.equal(ctx.eval(ping[engine]), 1);
    }, 60_000);
  }
}

// A host function passed to a script that returns it, at the stack's end: the release of the script's own copy could
// not run (its callback refused there) and was applied before the outcome was read, so the host function it named was
// gone: ctx.call("id", h) threw CalogError "unknown host function 245" (Deno, js and Squirrel on the host thread, 1 to
// 2 of 2000 depths). Then, with that fixed, a release taken from the library's lost list was lost when applying it
// threw (the room checked first is no guarantee under V8): the host function stayed for the runtime's life. Now the
// outcome is read first, and a taken release waits until applied.
for (const thread of modes) {
  for (const engine of engines) {
    test(`a host function a script returns at the stack's end comes back, and is released after (${engine}, ${where(thread)})`, async () => {
      using rt = new Runtime();
      using ctx = rt.createContext(engine, { thread });
      ctx.eval(idSource[engine]);
      await settle(ctx, engine);
      const base = rt.stats().hostFunctions;
      const h = (): number => 5;
      const outcomes = atStackEdge(2000, () => {
        const r = ctx.call("id", h);
        return r === h ? "same" : r;
      });
      for (const r of outcomes) {
        assert.ok(r === "same" || (r instanceof CalogError && r.code !== "ERR_INTERNAL"), `${engine}: ${r}`);
      }
      assert.equal(ctx.call("id", h), h);
      await settle(ctx, engine);
      assert.equal(rt.stats().hostFunctions, base, `${engine}, ${where(thread)}: the host function was released`);
    }, 60_000);
  }
}

// Found merging 23b (its "not fixed" note: the async request and registration paths counted their host references as
// sent before the FFI call). A getter of a callAsync argument that aborts the call's signal: nothing is sent, but a host
// function among the arguments had been counted as sent, so it stayed for the runtime's life (hostFunctions one more
// per such call, never released). And a registration or an async call that never reached the library (the stack's
// end) kept its host function for good, as a synchronous call did before 23b.
for (const engine of engines) {
  test(`${engine}: a callAsync aborted by a getter of its arguments gives back the host functions among them`, async () => {
    using rt = new Runtime();
    using ctx = rt.createContext(engine);
    ctx.eval(idSource[engine]);
    const base = rt.stats().hostFunctions;
    for (let i = 0; i < 20; i++) {
      const ac = new AbortController();
      const h = () => i;
      const arg = { f: h, get x() { ac.abort(new Error("stop")); return 1; } };
      await assert.rejects(ctx.callAsync("id", arg, { signal: ac.signal }), /stop/);
    }
    assert.equal(rt.stats().hostFunctions, base, "no host function kept by a request that was never sent");
  });
}

for (const thread of modes) {
  test(`${where(thread)}: a registration or an async call at the stack's end keeps no host function for good`, async () => {
    using rt = new Runtime();
    using ctx = rt.createContext("lua", { thread });
    ctx.eval(idSource.lua);
    const base = rt.stats().hostFunctions;
    let n = 0;
    const outcomes = atStackEdge(300, () => rt.register(`r${n++ % 4}`, () => n));
    for (let i = 0; i < 4; i++) rt.unregister(`r${i}`);
    const pending: Promise<unknown>[] = [];
    atStackEdge(300, () => {
      const p = ctx.callAsync("id", () => 1);
      pending.push(p.then(() => undefined, () => undefined)); // the host function comes back as itself
      return p;
    });
    await Promise.all(pending);
    await settle(ctx, "lua");
    assert.ok(outcomes.length > 0);
    assert.equal(rt.stats().hostFunctions, base, "every host function went back");
  });
}

// Found by pass 25b: a function value disposed by a getter of its own call's arguments. The library had taken the
// request's host references (control[15] zeroed as it starts reading) and then refused the call for its stale handle
// without reading the arguments: each host function among them stayed for the runtime's life (20 of 20, every engine,
// both thread kinds, call and callAsync, Bun and Deno). The refusal now reads and frees them, which gives them back.
for (const engine of engines) {
  for (const thread of modes) {
    test(`${engine} (${where(thread)}): a function disposed by a getter of its own arguments keeps none of the host functions among them`, async () => {
      using rt = new Runtime();
      using ctx = rt.createContext(engine, { thread });
      ctx.eval(idSource[engine]);
      const base = rt.stats().hostFunctions;
      for (let i = 0; i < 10; i++) {
        const f = ctx.getFunction("id");
        assert.throws(() => f(() => i, { get x() { f.dispose(); return 1; } }), (e: unknown) => e instanceof CalogError);
        const g = ctx.getFunction("id");
        await assert.rejects(g.callAsync(() => i, { get x() { g.dispose(); return 1; } }), (e: unknown) => e instanceof CalogError);
      }
      assert.equal(rt.stats().hostFunctions, base, "every host function went back");
    });
  }
}

// Found running the test above after pass 29's C changes moved the stack's layout (Bun, host thread, about one run in
// three): a request whose encoding failed at the stack's end gave back its host references in a loop that a second
// RangeError could stop part way, and the list was then cleared whole, so the ones after the throw stayed for the
// runtime's life (hostFunctions one more). Each is now counted off as it is given back, the rest left for the next
// request. The same registrations and callAsync at the stack's end, started from 27 different depths (each its own stack
// layout; 80 took 32 s of the suite's budget in each runtime, 40 took 15 s in Bun and 29 s in Deno).
test("a callAsync at the stack's end from many starting depths keeps no host function (after a native's install)", async () => {
  const nest = (k: number, f: () => void): number => {
    if (k === 0) {
      f();
      return 0;
    }
    const a = [k, k + 1];
    return nest(k - 1, f) + a.length;
  };
  for (let k = 0; k < 80; k += 3) {
    using rt = new Runtime();
    using ctx = rt.createContext("lua", { thread: false });
    ctx.eval(idSource.lua);
    const base = rt.stats().hostFunctions;
    let n = 0; // registrations at the stack's end too, installed by the first call below (one more entry there)
    nest(k, () => void atStackEdge(300, () => rt.register(`r${n++ % 4}`, () => n)));
    for (let i = 0; i < 4; i++) rt.unregister(`r${i}`);
    const pending: Promise<unknown>[] = [];
    nest(k, () => void atStackEdge(60, () => {
      const p = ctx.callAsync("id", () => 1);
      pending.push(p.then(() => undefined, () => undefined));
      return p;
    }));
    await Promise.all(pending);
    await settle(ctx, "lua");
    assert.equal(rt.stats().hostFunctions, base, `starting ${k} frames deeper: every host function went back`);
  }
}, 120_000);
