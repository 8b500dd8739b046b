// Fifteenth hostile pass (c): the actor, async-wait and dispose machinery. Every test is one attack that found a
// defect; what it expects is what README promises. Runs unchanged under Bun and Deno.
import assert from "node:assert/strict";
import { CalogLimitError, type EngineName, Runtime } from "../bindings/mod.ts";
import { test, within } from "./harness.ts";

const engines: EngineName[] = ["lua", "js", "squirrel"];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A chunk returning expr in each engine. */
const ret = (engine: EngineName, expr: string): string => (engine === "js" ? expr : `return ${expr}`);

/** What a settled promise came to, in a line. */
function show(r: PromiseSettledResult<unknown>): string {
  if (r.status === "fulfilled") return `ok ${JSON.stringify(r.value)}`;
  const e = r.reason as { name?: string; limit?: string; message?: string };
  return `${e?.name ?? "?"}${e?.limit ? ` (${e.limit})` : ""}: ${e?.message ?? String(e)}`;
}

// ---- An async request served nested on a wait is an entry of its own ----------------------------------------
// A threaded context waiting (for an async host function) serves the callAsync/evalAsync requests queued to it,
// nested on its wait. The per-entry limit state (deadline, step and output counters, a tripped limit) was started only
// by the outermost entry of the context, so the nested request ran under the limits of the call it happened to be
// nested on: an evalAsync without a timeout failed with "timeout: the script ran 102 ms, the limit is 100 ms", the
// { timeoutMs: 100 } of the other call; and aborting the nested request's signal (or its cancel) interrupted the whole
// context, so the unrelated call below it failed with CalogLimitError "interrupted" too.
for (const engine of engines) {
  test(`${engine}: an async request served on another call's wait keeps its own timeout, steps and abort`, async () => {
    using rt = new Runtime();
    using ctx = rt.createContext(engine);
    rt.register("sleep", (ms) => new Promise((r) => setTimeout(() => r(ms), ms as number)));

    // a per-call timeout belongs to its call: the request nested on it runs to its end
    const a = ctx.evalAsync(ret(engine, "sleep(300)"), { timeoutMs: 100 });
    await sleep(20);
    const b = ctx.evalAsync(ret(engine, "sleep(200) + 1"));
    const [ra, rb] = await within(Promise.allSettled([a, b]), 5000, "timeouts");
    assert.ok(ra.status === "rejected" && ra.reason instanceof CalogLimitError && ra.reason.limit === "timeout", show(ra));
    assert.equal(show(rb), "ok 201");

    // and the reverse: a nested request's own timeout does not end the call it was served on
    const c = ctx.evalAsync(ret(engine, "sleep(250) + 2"));
    await sleep(20);
    const d = ctx.evalAsync(ret(engine, "sleep(400)"), { timeoutMs: 80 });
    const [rc, rd] = await within(Promise.allSettled([c, d]), 5000, "nested timeout");
    assert.ok(rd.status === "rejected" && rd.reason instanceof CalogLimitError && rd.reason.limit === "timeout", show(rd));
    assert.equal(show(rc), "ok 252");

    // aborting the nested request stops it alone
    const ac = new AbortController();
    const e = ctx.evalAsync(ret(engine, "sleep(200) + 3"));
    await sleep(20);
    const f = ctx.evalAsync(ret(engine, "sleep(300)"), { signal: ac.signal });
    setTimeout(() => ac.abort(new Error("abort f")), 60);
    const [re, rf] = await within(Promise.allSettled([e, f]), 5000, "abort");
    assert.equal(show(rf), "Error: abort f");
    assert.equal(show(re), "ok 203");

    // an interrupt stops every call made before it, the one waiting below the nested request included
    const g = ctx.evalAsync(ret(engine, "sleep(200)"));
    await sleep(20);
    const h = ctx.evalAsync(ret(engine, "sleep(300)"));
    setTimeout(() => ctx.interrupt(), 60);
    const [rg, rh] = await within(Promise.allSettled([g, h]), 5000, "interrupt");
    assert.ok(rg.status === "rejected" && rg.reason instanceof CalogLimitError && rg.reason.limit === "interrupt", show(rg));
    assert.ok(rh.status === "rejected" && rh.reason instanceof CalogLimitError && rh.reason.limit === "interrupt", show(rh));
    assert.equal(await ctx.evalAsync(ret(engine, "4")), 4);

    // steps are counted per request: a nested one's loop does not use up the steps of the call below it
    const loop = engine === "lua" ? "local s = 0 for i = 1, 400000 do s = s + i end"
      : engine === "js" ? "var s = 0; for (var i = 0; i < 400000; i++) s += i;"
      : "local s = 0; for (local i = 0; i < 400000; i++) s += i;";
    await ctx.evalAsync(`${loop} ${ret(engine, "0")}`);
    const once = rt.stats().perContext[0]!.lastSteps;
    assert.ok(once > 100_000, `the loop ran ${once} steps`);
    ctx.setLimits({ steps: Math.round(once * 2.5) }); // room for one loop each, not for the seven together
    const outer = ctx.evalAsync(`${loop} ${ret(engine, "sleep(300) + 5")}`);
    await sleep(20);
    const inner = Array.from({ length: 6 }, () => ctx.evalAsync(`${loop} ${ret(engine, "6")}`));
    const all = await within(Promise.allSettled([outer, ...inner]), 8000, "steps");
    assert.deepEqual(all.map(show), ["ok 305", ...inner.map(() => "ok 6")]);
  });
}

// ---- A buried request's deadline is kept --------------------------------------------------------------------
// The other side of the same fix: a call with a timeout that another request is served on top of can return only
// after that one has. Its deadline passing is answered at once (its promise rejects with its timeout; the entry stops
// when it is back on top), whether the request above waits for a host function that never settles or loops.
for (const engine of engines) {
  test(`${engine}: a call whose wait another request is served on still times out at its deadline`, async () => {
    using rt = new Runtime();
    using ctx = rt.createContext(engine);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    rt.register("sleep", (ms) => new Promise((r) => setTimeout(() => r(ms), ms as number)));
    rt.register("gate", () => gate.then(() => 9));
    const spin = engine === "lua" ? "local t = os.clock() while os.clock() - t < 0.6 do end return 8"
      : engine === "js" ? "var t = Date.now(); while (Date.now() - t < 600) {} 8"
      : "local s = 0; for (local i = 0; i < 10000000; i++) s += i; return 8;"; // about a second
    for (const above of [ret(engine, "gate()"), spin]) {
      const t0 = Date.now();
      const order: string[] = [];
      const a = ctx.evalAsync(ret(engine, "sleep(5000)"), { timeoutMs: 150 }).finally(() => order.push("a"));
      await sleep(30);
      const b = ctx.evalAsync(above).finally(() => order.push("b"));
      const ra = (await within(Promise.allSettled([a]), 3000, "the buried call"))[0]!;
      const took = Date.now() - t0;
      assert.ok(ra.status === "rejected" && ra.reason instanceof CalogLimitError && ra.reason.limit === "timeout", show(ra));
      assert.ok(took < 550, `the buried call's 150 ms timeout answered after ${took} ms`);
      release();
      const rb = (await within(Promise.allSettled([b]), 3000, "the call above"))[0]!;
      assert.ok(show(rb) === "ok 9" || show(rb) === "ok 8", show(rb));
      assert.deepEqual(order, ["a", "b"]);
      assert.equal(await within(ctx.evalAsync(ret(engine, "7")), 3000, "after"), 7);
    }
  });
}

// ---- A stopped script calls no more host functions -----------------------------------------------------------
// An interrupt, a dispose or a timeout trips the entry's limit, which the engine raises at its next check, thousands of
// steps later: until then the script went on calling host functions. ctx.interrupt() from a host function, then
// mark('after'): 'after' was recorded in every engine, threaded or not, and a context disposed by its output callback
// printed on (JavaScript's next print reached the sink). README: it takes effect when that function returns.
for (const engine of engines) {
  for (const thread of [false, true]) {
    test(`${engine} (${thread ? "own thread" : "host thread"}): no host function runs once the script was interrupted or its context disposed`, () => {
      using rt = new Runtime();
      const marks: string[] = [];
      let ctx = rt.createContext(engine, { thread });
      rt.register("stop", () => (ctx.interrupt(), 1));
      rt.register("kill", () => (ctx.dispose(), 1));
      rt.register("mark", (x) => (marks.push(String(x)), 1));
      const src = (first: string) => engine === "lua"
        ? `${first}() mark('after') local ok = pcall(mark, 'caught') mark('end')`
        : engine === "js" ? `${first}(); mark('after'); try { mark('caught'); } catch (e) {} mark('end');`
        : `${first}(); mark("after"); try { mark("caught"); } catch (e) {} mark("end");`;
      assert.throws(() => ctx.eval(src("stop")), (e: Error) => e instanceof CalogLimitError && e.limit === "interrupt");
      assert.equal(marks.join(","), "");
      assert.equal(ctx.eval(ret(engine, "mark('next')").replace(/'/g, '"')), 1); // the next call runs as usual
      marks.length = 0;
      assert.throws(() => ctx.eval(src("kill")), (e: Error) => e.name === "CalogDeadError");
      assert.equal(marks.join(","), "");
      // a TypeScript function passed as a value, the same
      using viaValue = rt.createContext(engine, { thread });
      ctx = viaValue;
      viaValue.eval(engine === "lua" ? "function g(f) stop() f('value') return 1 end" : 'function g(f) { stop(); f("value"); return 1; }');
      assert.throws(() => viaValue.call("g", (x: unknown) => void marks.push(String(x))), (e: Error) => e instanceof CalogLimitError);
      assert.equal(marks.join(","), "");
      // output is a host call too: a context its sink disposes prints nothing more
      const printed: string[] = [];
      using out = rt.createContext(engine, { thread, output: (t) => (printed.push(String(t)), ctx.dispose()) });
      ctx = out;
      assert.throws(() => out.eval(engine === "lua" ? "print('a') print('b')" : 'print("a"); print("b");'));
      assert.deepEqual(printed.map((t) => t.trim()), ["a"]);
    });
  }
}
