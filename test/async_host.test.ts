// Async host functions (issue 11, item 5): a TypeScript function that returns a Promise, awaited by scripts on
// threaded contexts; the deadline, interrupts and disposal while they wait; where they cannot wait.
import assert from "node:assert/strict";
import { CalogDeadError, CalogLimitError, CalogScriptError, type EngineName, Runtime } from "../bindings/mod.ts";
import { gc, test } from "./harness.ts";

const engines: EngineName[] = ["lua", "js", "squirrel"];
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** `f(args)` as an expression statement whose value the chunk returns, in each engine's syntax. */
function ret(engine: EngineName, expr: string): string {
  return engine === "js" ? expr : `return ${expr}`;
}

/** A Promise settled from outside, to hold a script waiting as long as a test needs. */
function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void, reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

/** Runs fn and fails if any rejection went unhandled meanwhile (including one noticed after a GC). */
async function noUnhandled(fn: () => Promise<void>): Promise<void> {
  const { default: process } = await import("node:process");
  const unhandled: unknown[] = [];
  const listener = (r: unknown) => void unhandled.push(r);
  process.on("unhandledRejection", listener);
  try {
    await fn();
    await sleep(20);
    gc();
    await sleep(10);
    assert.deepEqual(unhandled, []);
  } finally {
    process.off("unhandledRejection", listener);
  }
}

test("a script on a threaded context waits for an async host function: values in every engine", async () => {
  using rt = new Runtime();
  rt.register("later", async (x) => {
    await sleep(5);
    return { got: x, list: [1, "two", { three: 3 }] };
  });
  rt.register("now", async (x) => (x as number) + 1); // settled before the host call even returns
  rt.register("thenable", (x) => ({ then: (ok: (v: unknown) => void) => ok((x as number) * 3) })); // not a Promise
  rt.register("makeAdder", async (n) => (x: number) => x + (n as number));
  for (const engine of engines) {
    using ctx = rt.createContext(engine);
    assert.deepEqual(await ctx.evalAsync(ret(engine, "later(7)")), { got: 7, list: [1, "two", { three: 3 }] });
    assert.equal(await ctx.evalAsync(ret(engine, "now(1) + now(2) + thenable(3)")), 2 + 3 + 9, engine);
    ctx.eval(engine === "lua"
      ? "function twice(x) return later(x).got + later(x).got end"
      : engine === "js" ? "function twice(x) { return later(x).got + later(x).got }" : "function twice(x) { return later(x).got + later(x).got }");
    assert.equal(await ctx.callAsync("twice", 20), 40, engine);
    // a TypeScript function passed as a value, not registered, is awaited the same way
    ctx.eval(engine === "lua" ? "function useIt(f, x) return f(x) + 1 end" : "function useIt(f, x) { return f(x) + 1 }");
    assert.equal(await ctx.callAsync("useIt", async (x: number) => (await sleep(2), x * 2), 20), 41, engine);
    // a function in the settled value crosses like any value
    assert.equal(await ctx.evalAsync(ret(engine, "makeAdder(2)(40)")), 42, engine);
  }
  gc();
  await sleep(10);
  assert.equal(rt.stats().hostFunctions, 4, "no host function reference was lost or leaked");
});

test("a rejection is a script error: caught by pcall/try, else its reason is the error's cause", async () => {
  await noUnhandled(async () => {
    using rt = new Runtime();
    const reason = { code: 7 };
    rt.register("fail", async (msg) => {
      await sleep(2);
      throw new Error(msg as string);
    });
    rt.register("failWith", async () => {
      throw reason;
    });
    rt.register("unsendable", async () => Symbol("no"));
    const caught = {
      lua: "local ok, e = pcall(fail, 'nope') return {ok, e}",
      js: "var r; try { fail('nope'); r = [true] } catch (e) { r = [false, e.message] } r",
      squirrel: "local r; try { fail(\"nope\"); r = [true] } catch (e) { r = [false, e] } return r",
    };
    for (const engine of engines) {
      using ctx = rt.createContext(engine);
      const [ok, message] = (await ctx.evalAsync(caught[engine])) as [boolean, string];
      assert.equal(ok, false, engine);
      assert.match(message, /nope/, engine);
      assert.equal(await ctx.evalAsync(ret(engine, "1 + 1")), 2); // the context goes on
      const e = await ctx.evalAsync(ret(engine, "failWith()")).then(() => undefined, (x: unknown) => x);
      assert.ok(e instanceof CalogScriptError, `${engine}: ${e}`);
      assert.equal(e.cause, reason, engine); // the rejection itself, as a throwing host function gives
      const e2 = await ctx.evalAsync(ret(engine, `fail(${engine === "squirrel" ? '"gone"' : "'gone'"})`)).then(() => undefined, (x: unknown) => x);
      assert.ok(e2 instanceof CalogScriptError && /gone/.test(e2.message), `${engine}: ${e2}`);
      assert.equal((e2.cause as Error).message, "gone");
      // a settled value that cannot cross is an error in the script too
      const u = await ctx.evalAsync(ret(engine, "unsendable()")).then(() => undefined, (x: unknown) => x);
      assert.ok(u instanceof CalogScriptError && /symbol/i.test(u.message), `${engine}: ${u}`);
    }
  });
});

test("8 threaded contexts await one async host function at once while a timer ticks in the event loop", async () => {
  using rt = new Runtime();
  let inFlight = 0, maxInFlight = 0, ticks = 0, ticksDuringWait = 0;
  rt.register("slow", async (i) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const before = ticks;
    await sleep(120);
    ticksDuringWait = Math.max(ticksDuringWait, ticks - before);
    inFlight--;
    return (i as number) * 2;
  });
  const timer = setInterval(() => ticks++, 5);
  try {
    for (const engine of engines) {
      maxInFlight = 0;
      ticksDuringWait = 0;
      const ctxs = Array.from({ length: 8 }, () => rt.createContext(engine));
      try {
        for (const c of ctxs) {
          c.eval(engine === "lua" ? "function f(i) return slow(i) + 1 end" : "function f(i) { return slow(i) + 1 }");
        }
        const started = performance.now();
        const results = await Promise.all(ctxs.map((c, i) => c.callAsync("f", i)));
        const elapsed = performance.now() - started;
        assert.deepEqual(results, ctxs.map((_, i) => i * 2 + 1), engine);
        assert.equal(maxInFlight, 8, `${engine}: all 8 scripts wait at once`);
        assert.ok(ticksDuringWait >= 3, `${engine}: the event loop kept ticking (${ticksDuringWait} ticks in a wait)`);
        assert.ok(elapsed < 8 * 120, `${engine}: the waits overlap (${elapsed.toFixed(0)} ms)`);
      } finally {
        for (const c of ctxs) c.dispose();
      }
    }
  } finally {
    clearInterval(timer);
  }
});

test("deadline, interrupt and AbortSignal apply while a script waits; the late settlement is dropped", async () => {
  await noUnhandled(async () => {
    using rt = new Runtime();
    const held: Array<ReturnType<typeof deferred<number>>> = [];
    let settledLate = 0;
    rt.register("hang", () => {
      const d = deferred<number>();
      held.push(d);
      return d.promise.finally(() => settledLate++);
    });
    for (const engine of engines) {
      held.length = 0;
      using ctx = rt.createContext(engine, { limits: { timeoutMs: 100 } });
      const started = performance.now();
      const e = await ctx.evalAsync(ret(engine, "hang()")).then(() => undefined, (x: unknown) => x);
      const elapsed = performance.now() - started;
      assert.ok(e instanceof CalogLimitError && e.limit === "timeout", `${engine}: ${e}`);
      assert.ok(elapsed >= 90 && elapsed < 5000, `${engine}: ${elapsed.toFixed(0)} ms`);
      // per call too, and an interrupt from the event loop
      ctx.setLimits({ timeoutMs: 0 });
      const t = await ctx.evalAsync(ret(engine, "hang()"), { timeoutMs: 50 }).then(() => undefined, (x: unknown) => x);
      assert.ok(t instanceof CalogLimitError && t.limit === "timeout", `${engine}: ${t}`);
      const waiting = ctx.evalAsync(ret(engine, "hang()"));
      await sleep(30);
      ctx.interrupt();
      const i = await waiting.then(() => undefined, (x: unknown) => x);
      assert.ok(i instanceof CalogLimitError && i.limit === "interrupt", `${engine}: ${i}`);
      const ac = new AbortController();
      const aborted = ctx.evalAsync(ret(engine, "hang()"), { signal: ac.signal });
      await sleep(30);
      ac.abort(new Error("stop waiting"));
      await assert.rejects(aborted, /stop waiting/);
      assert.equal(held.length, 4, engine);
      held[0]!.resolve(1); // late: dropped
      held[1]!.reject(new Error("late rejection")); // late: dropped, and never unhandled
      held[2]!.resolve(3);
      held[3]!.resolve(4);
      await sleep(20);
      assert.equal(await ctx.evalAsync(ret(engine, "40 + 2")), 42, engine); // nothing late reached the context
    }
    assert.equal(settledLate, 12);
  });
});

test("disposing the context or the runtime while a script waits: no hang, no crash, no unhandled rejection", async () => {
  await noUnhandled(async () => {
    for (const engine of engines) {
      const rt = new Runtime();
      const held: Array<ReturnType<typeof deferred<number>>> = [];
      rt.register("hang", () => {
        const d = deferred<number>();
        held.push(d);
        return d.promise;
      });
      const ctx = rt.createContext(engine);
      const waiting = ctx.evalAsync(ret(engine, "hang()"));
      await sleep(30);
      ctx.dispose();
      const e = await waiting.then(() => undefined, (x: unknown) => x);
      assert.ok(e instanceof CalogDeadError, `${engine}: ${e}`); // the context was disposed: not a limit
      held[0]!.reject(new Error("after the context")); // stale: dropped
      const ctx2 = rt.createContext(engine);
      const waiting2 = ctx2.evalAsync(ret(engine, "hang()"));
      await sleep(30);
      const started = performance.now();
      rt.dispose();
      assert.ok(performance.now() - started < 1500, "dispose does not wait for the Promise");
      await assert.rejects(waiting2, (x: unknown) => x instanceof CalogDeadError || x instanceof CalogLimitError);
      held[1]!.resolve(1); // the runtime is gone: dropped
      held.length = 0;
    }
  });
});

test("where a script cannot wait (host-thread context, or the event loop blocked in a call) the error says so", async () => {
  await noUnhandled(async () => {
    using rt = new Runtime();
    let ran = 0;
    rt.register("later", async function later() {
      await sleep(1);
      ran++;
      throw new Error("rejected later");
    });
    const expected = /'later' returned a Promise, which this script cannot wait for.*host thread.*blocked.*evalAsync\/callAsync/;
    for (const engine of engines) {
      using host = rt.createContext(engine, { thread: false });
      await assert.rejects(host.evalAsync(ret(engine, "later()")), (e: unknown) => e instanceof CalogScriptError && expected.test(e.message));
      assert.throws(() => host.eval(ret(engine, "later()")), expected);
      using threaded = rt.createContext(engine);
      // a synchronous call blocks the event loop until the script returns: the Promise could never settle
      assert.throws(() => threaded.eval(ret(engine, "later()")), expected);
      // and inside a script function called synchronously from TypeScript
      threaded.eval(engine === "lua" ? "function f() return later() end" : "function f() { return later() }");
      using f = threaded.getFunction("f");
      assert.throws(() => f(), expected);
      // the Promise form of the same context waits (and here gets the rejection)
      await assert.rejects(threaded.callAsync("f"), /rejected later/);
    }
    await sleep(20);
    assert.equal(ran, 5 * engines.length, "the refused Promises' work still ran (documented)");
  });
});

test("a threaded script calling a synchronous host function in a loop: every call answered, in order, while the event loop keeps its turn", async () => {
  // The JS thread serves such calls in a window after each one and gives the event loop its turn at least
  // every millisecond of serving: an interval keeps ticking while a script hammers the host. Checked in calls,
  // not milliseconds (a loaded machine stretches both the calls and the turns): at each tick the interval notes
  // how many calls were answered, and no stretch between two turns may hold a quarter of them (each turn comes
  // after ~1 ms of serving, a few hundred calls; a drain that kept the thread would serve them all in one).
  for (const engine of engines) {
    using rt = new Runtime();
    let seen = 0;
    rt.register("next", (i: unknown) => {
      assert.equal(i, seen + 1, `${engine}: call ${String(i)} after ${seen}`); // in order, none lost or repeated
      seen = i as number;
      return seen * 2;
    });
    using ctx = rt.createContext(engine, { thread: true });
    const loop = {
      lua: "function hammer(n) local s = 0 for i = 1, n do s = s + next(i) end return s end",
      js: "function hammer(n) { var s = 0; for (var i = 1; i <= n; i++) s += next(i); return s; }",
      squirrel: "function hammer(n) { local s = 0; for (local i = 1; i <= n; i++) s += next(i); return s; }",
    }[engine];
    ctx.eval(loop);
    const marks = [0];
    const iv = setInterval(() => marks.push(seen), 1);
    const n = 100_000;
    const t0 = performance.now();
    const sum = await ctx.getFunction("hammer").callAsync(n);
    const ms = performance.now() - t0;
    clearInterval(iv);
    marks.push(seen);
    assert.equal(sum, n * (n + 1));
    assert.equal(seen, n);
    let longest = 0;
    for (let i = 1; i < marks.length; i++) longest = Math.max(longest, marks[i]! - marks[i - 1]!);
    assert.ok(longest <= n / 4, `${engine}: ${longest} calls answered between two turns of the event loop (${marks.length - 2} interval ticks in ${ms.toFixed(0)} ms)`);
  }
});

// What the Promise form promises besides its value (a review of a synchronous look for the outcome inside
// callAsync broke all three): the event loop gets a turn between awaited calls, host functions the call makes
// run only after callAsync has returned (on a threaded context), and an abort right after the call rejects.
for (const thread of [false, true]) {
  const where = thread ? "own thread" : "host thread";
  test(`${where}: an await callAsync loop lets a timer fire; host functions run after callAsync returns; an abort right after it rejects`, async () => {
    using rt = new Runtime();
    let inCall = false, ranInCall = 0, ran = 0;
    rt.register("log", (x: unknown) => {
      ran++;
      if (inCall) ranInCall++;
      return x;
    });
    using ctx = rt.createContext("lua", { thread });
    ctx.eval("function tick() return 1 end function viaHost(x) return log(x) end function add(a, b) return a + b end");
    let stop = false;
    const timer = setTimeout(() => (stop = true), 50);
    const started = Date.now();
    let calls = 0;
    while (!stop && Date.now() - started < 10_000) {
      await ctx.callAsync("tick");
      calls++;
    }
    clearTimeout(timer);
    assert.ok(stop, `the 50 ms timer never fired during ${calls} awaited calls (${Date.now() - started} ms)`);
    for (let i = 0; i < 300; i++) {
      inCall = true;
      const p = ctx.callAsync("viaHost", i);
      inCall = false;
      assert.equal(await p, i);
    }
    assert.equal(ran, 300);
    // a host-thread context runs the request before callAsync returns (documented); a threaded one never
    assert.equal(ranInCall, thread ? 0 : 300, "host functions ran before callAsync returned");
    const reason = new Error("stop");
    let rejected = 0;
    for (let i = 0; i < 300; i++) {
      const ac = new AbortController();
      const p = ctx.callAsync("add", 1, 2, { signal: ac.signal });
      ac.abort(reason);
      await p.then(() => {}, (e) => {
        assert.equal(e, reason);
        rejected++;
      });
    }
    assert.equal(rejected, 300);
  });
}

// Eleventh hostile pass: the message of a host error crosses into the script, and writing it could fail: one past the
// request cap (716 million characters, which Bun's strings reach) threw out of the host call (the exception escaped
// the FFI callback: the script's pcall never saw an error, the eval threw a CalogValueError instead) or out of the
// async settlement, which left the runtime marshalling for good: the script waited until its deadline, every later
// call failed ("calog was called while marshalling a value") and rt.dispose() was refused. A message is cut now.
test("a host error's message is cut to a megabyte; a giant one neither escapes the host call nor wedges the runtime", async () => {
  using rt = new Runtime();
  const long = "y".repeat(3_000_000);
  rt.register("boom", () => { throw new Error(long); });
  rt.register("later", async () => { await sleep(1); throw new Error(long); });
  using lua = rt.createContext("lua", { thread: true });
  for (const f of ["boom", "later"]) {
    const m = await lua.evalAsync<string>(`local ok, e = pcall(${f}) assert(not ok) return tostring(e)`, { timeoutMs: 20000 });
    assert.ok(m.length < 1_100_000 && m.includes("yyyy") && m.includes("(a message of 3000000 characters, cut)"), `${f}: ${m.length} characters`);
  }
  if (typeof (globalThis as { Bun?: unknown }).Bun !== "undefined") { // V8 strings stop at 2^29 characters, under the cap
    let giant: string | undefined = "x".repeat(720_000_000);
    rt.register("giant", () => { throw new Error(giant); });
    rt.register("giantLater", async () => { await sleep(1); throw new Error(giant); });
    using host = rt.createContext("lua");
    assert.equal(host.eval("local ok, e = pcall(giant) return (not ok) and #tostring(e) < 1100000"), true);
    assert.equal(await lua.evalAsync("local ok, e = pcall(giantLater) return (not ok) and #tostring(e) < 1100000", { timeoutMs: 20000 }), true);
    giant = undefined;
    assert.equal(host.eval("return 1 + 1"), 2);
  }
});

test("rt.stats().inFlight counts the async requests not yet settled: resolved, rejected and aborted ones leave it", async () => {
  using rt = new Runtime();
  const gate = deferred<number>();
  rt.register("gate", () => gate.promise);
  using lua = rt.createContext("lua");
  lua.eval("function wait() return gate() end function boom() error('no') end");
  assert.equal(rt.stats().inFlight, 0);
  // none of these can settle before the test lets it (a failing request may settle as soon as stats() drains)
  const a = lua.callAsync("wait"), b = lua.callAsync("wait");
  const ac = new AbortController();
  const d = lua.evalAsync("while true do end", { signal: ac.signal });
  assert.equal(rt.stats().inFlight, 3);
  ac.abort(new Error("stop"));
  await assert.rejects(d, /stop/);
  assert.equal(rt.stats().inFlight, 2);
  await assert.rejects(lua.callAsync("boom"), CalogScriptError);
  assert.equal(rt.stats().inFlight, 2);
  gate.resolve(5);
  assert.deepEqual(await Promise.all([a, b]), [5, 5]);
  assert.equal(rt.stats().inFlight, 0);
});
