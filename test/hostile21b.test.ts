// The twenty-first hostile pass (b): the JavaScript stack exhausted around calls into calog (commit 370d601 and its
// neighbours), function values kept alive (area 2), Promise-returning host functions (area 5). What it found, kept as
// regressions; runs unchanged under Bun and Deno.
import assert from "node:assert/strict";
import { CalogError, type EngineName, Runtime } from "../bindings/mod.ts";
import { atStackEdge, gc, runChild, test, within } from "./harness.ts";

const engines: EngineName[] = ["lua", "js", "squirrel"];

const pool: Record<EngineName, { fill: string; drop: string; take: string }> = {
  lua: {
    fill: "pool = {} for i = 1, 20 do pool[i] = mk() end",
    drop: "pool = nil collectgarbage() collectgarbage()",
    take: "local ok = pcall(take, function() return 1 end, { function() end }) collectgarbage() return ok",
  },
  js: {
    fill: "var pool = []; for (var i = 0; i < 20; i++) pool.push(mk());",
    drop: "pool = undefined; Duktape.gc(); Duktape.gc();",
    take: "var ok = true; try { take(function() { return 1; }, [function() {}]); } catch (e) { ok = false; } Duktape.gc(); ok",
  },
  squirrel: {
    fill: "pool <- []; for (local i = 0; i < 20; i++) pool.append(mk());",
    drop: "pool <- null; collectgarbage();",
    take: "local ok = true; try { take(function() { return 1; }, [function() {}]); } catch (e) { ok = false; } collectgarbage(); return ok;",
  },
};

// A host function whose last native reference went while the JavaScript stack was exhausted: Bun and Deno refused to
// enter the release callback (370d601 left it "the reference stays counted"), so the TypeScript function, and all it
// held, stayed in the runtime until it was disposed: 20 host functions a script dropped near the stack's end were
// rt.stats().hostFunctions 22 instead of 2, for good (every engine, both runtimes). Now the library keeps a release
// its callback could not run and the runtime takes it at the next crossing or drain.
for (const engine of engines) {
  test(`a host function released where the JavaScript stack is exhausted is released later (${engine})`, () => {
    using rt = new Runtime();
    using ctx = rt.createContext(engine, { thread: false });
    rt.register("mk", () => {
      const k = {};
      return () => k;
    });
    const base = rt.stats().hostFunctions;
    let tries = 0;
    const outcomes = atStackEdge(40, () => ctx.eval(pool[engine].drop), { before: () => {
      ctx.eval(pool[engine].drop); // what a try that never got in left
      assert.equal(rt.stats().hostFunctions, base, `${engine}: released (stack edge try ${tries++})`);
      ctx.eval(pool[engine].fill);
      assert.equal(rt.stats().hostFunctions, base + 20);
    } });
    for (const r of outcomes) assert.ok(!(r instanceof Error) || r instanceof CalogError, `${r}`);
    ctx.eval(pool[engine].drop);
    assert.equal(rt.stats().hostFunctions, base, `${engine}: released`);
    assert.equal(ctx.eval(engine === "lua" ? "return 6 * 7" : engine === "js" ? "6 * 7" : "return 6 * 7;"), 42);
  }, 60_000);
}

// A host call the engine refused to enter (the stack exhausted) fails in the script with calog's nesting error, and the
// function values among its arguments were lent to TypeScript, which never ran to take them: the library kept their
// handles for good, so each such call leaked a native function value (its context then lived as long as the runtime,
// even forgotten). Now a call that could not run gives them back.
for (const engine of engines) {
  test(`a host call refused at the stack's end leaks none of the function values passed to it (${engine})`, async () => {
    using rt = new Runtime();
    using ctx = rt.createContext(engine, { thread: false });
    let took = 0;
    rt.register("take", () => void took++);
    gc();
    const base = rt.stats().nativeFunctionValues;
    const outcomes = atStackEdge(60, () => ctx.eval(pool[engine].take));
    for (const r of outcomes) assert.ok(typeof r === "boolean" || r instanceof CalogError, `${r}`);
    assert.ok(outcomes.some((r) => r instanceof CalogError || r === false), "the stack's end was met inside a call");
    gc();
    await new Promise((r) => setTimeout(r, 10));
    gc();
    assert.equal(rt.stats().nativeFunctionValues, base, `${engine}: ${took} calls ran`);
    assert.equal(ctx.eval(pool[engine].take), true); // still usable
  }, 60_000);
}

// An AbortSignal aborted where the JavaScript stack is nearly exhausted (abort() called deep in the caller's own
// recursion): calog's abort listener found no room, or ran part way. Under Bun the listener deleted the request and
// threw before rejecting, so `await callAsync(..., { signal })` never settled (hung for good), and where it never ran
// the call's value resolved the promise of an aborted call (15 of 60 depths under Bun, 1 of 200 under Deno). Now the
// listener settles first and throws nothing, and an outcome arriving for an aborted signal rejects with its reason.
// In a child process: an abort() that finds no room for a listener reports that RangeError as uncaught, which
// `bun test` counts as a failure of whatever test is running.
test("an abort() at the stack's end rejects the call with the signal's reason, never resolves it or leaves it pending", async () => {
  const { code, out } = await runChild(new URL("./hostile21b_child.ts", import.meta.url), ["abort-at-edge"], 50_000);
  assert.equal(code, 0, out);
  const summary = JSON.parse(out.trim().split("\n").pop()!) as { tried: number; wrong: string[] };
  assert.ok(summary.tried > 0, `abort() ran at the stack's end: ${out}`);
  assert.deepEqual(summary.wrong, [], out);
}, 60_000);
