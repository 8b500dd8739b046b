/**
 * Limits and interrupts (memory, steps, timeoutMs, output; ctx.interrupt(); AbortSignal): every hostile script
 * ends with a CalogLimitError naming the right limit, the host stays responsive, the context stays usable, and
 * nothing leaks. Every engine, both thread modes, under `bun test` and `deno test`.
 */
import assert from "node:assert/strict";
import { CalogDeadError, CalogLimitError, type Context, type EngineName, type LimitKind, Runtime } from "../bindings/mod.ts";
import { gc, rss, test } from "./harness.ts";

interface Scripts {
  loop: string;
  swallow: string;
  coroutine: string;
  grow: string;
  concatGrow: string;
  bigAlloc: string;
  backtrack?: string;
  finalizerLoop?: string;
  work: string; // defines work(n) returning n after n loop iterations
  callsSlowHost: string; // calls slowHost() then returns 1
  callsBack: string; // defines viaHost(): calls host reenter(), which calls back loopForever()
  loopForever: string;
}

const scripts: Record<EngineName, Scripts> = {
  lua: {
    loop: "while true do end",
    swallow: "while true do pcall(function() while true do end end) end",
    coroutine: "local co = coroutine.wrap(function() while true do end end) co()",
    grow: "local t = {} local i = 0 while true do i = i + 1 t[i] = {i} end",
    concatGrow: "local s = 'x' while true do s = s .. s end",
    bigAlloc: "return #string.rep('x', 1 << 30)",
    backtrack: "return string.find(('a'):rep(30000), '.-.-.-.-b$')",
    finalizerLoop: "keep = setmetatable({}, {__gc = function() while true do end end}) return 1",
    work: "function work(n) local s = 0 for i = 1, n do s = s + 1 end return s end",
    callsSlowHost: "slowHost() return 1",
    callsBack: "function loopForever() while true do end end function viaHost() return reenter() end",
    loopForever: "loopForever",
  },
  js: {
    loop: "while (true) {}",
    swallow: "while (true) { try { while (true) {} } catch (e) {} }",
    coroutine: "var t = new Duktape.Thread(function () { while (true) {} }); Duktape.Thread.resume(t)",
    grow: "var t = []; for (;;) t.push({ a: t.length })",
    concatGrow: "var s = 'x'; for (;;) s = s + s",
    bigAlloc: "'x'.repeat(1 << 30).length",
    backtrack: "/(x+x+)+y/.test('xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx')",
    finalizerLoop: "var keep = {}; Duktape.fin(keep, function () { while (true) {} }); 1",
    work: "function work(n) { var s = 0; for (var i = 0; i < n; i++) s++; return s }",
    callsSlowHost: "slowHost(); 1",
    callsBack: "function loopForever() { while (true) {} } function viaHost() { return reenter() }",
    loopForever: "loopForever",
  },
  squirrel: {
    loop: "while (true) {}",
    swallow: "while (true) { try { while (true) {} } catch (e) {} }",
    coroutine: "local t = newthread(function() { while (true) {} }); t.call()",
    grow: "local t = []; while (true) t.push({ a = t.len() })",
    concatGrow: "local s = \"x\"; while (true) s = s + s",
    bigAlloc: "return array(1 << 28).len()",
    work: "function work(n) { local s = 0; for (local i = 0; i < n; i++) s++; return s }",
    callsSlowHost: "slowHost(); return 1",
    callsBack: "function loopForever() { while (true) {} } function viaHost() { return reenter() }",
    loopForever: "loopForever",
  },
};

const engines: EngineName[] = ["lua", "js", "squirrel"];
const modes = [true, false];

function isLimit(limit: LimitKind): (e: unknown) => boolean {
  return (e: unknown) => {
    if (!(e instanceof CalogLimitError)) throw e;
    assert.equal(e.limit, limit, `${e.message}`);
    assert.equal(e.code, "ERR_LIMIT");
    if (limit !== "interrupt") assert.ok(e.used >= e.ceiling && e.ceiling > 0, `used ${e.used} ceiling ${e.ceiling}`);
    return true;
  };
}

function usable(ctx: Context, s: Scripts): void {
  ctx.eval(s.work);
  assert.equal(ctx.call("work", 1000), 1000);
}

for (const engine of engines) {
  const s = scripts[engine];
  for (const thread of modes) {
    const where = `${engine} (${thread ? "own thread" : "host thread"})`;

    test(`${where}: steps stop loops, swallowing loops and loops in coroutines; the context stays usable`, () => {
      using rt = new Runtime();
      using ctx = rt.createContext(engine, { thread, limits: { steps: 200_000 } });
      for (const src of [s.loop, s.swallow, s.coroutine]) {
        assert.throws(() => ctx.eval(src), isLimit("steps"));
        usable(ctx, s);
      }
      const st = rt.stats().perContext[0]!;
      assert.equal(st.limitTrips, 3);
      assert.ok(st.lastSteps >= 1000, `lastSteps ${st.lastSteps}`);
    });

    test(`${where}: timeoutMs (context and per call) stops loops and long built-ins`, () => {
      using rt = new Runtime({ limits: { timeoutMs: 150 } }); // the runtime-wide default
      using ctx = rt.createContext(engine, { thread });
      for (const src of [s.loop, s.swallow, ...(s.backtrack ? [s.backtrack] : [])]) {
        const t0 = performance.now();
        assert.throws(() => ctx.eval(src), isLimit("timeout"));
        const took = performance.now() - t0;
        assert.ok(took >= 140 && took < 3000, `took ${took} ms`);
      }
      ctx.setLimits({ timeoutMs: 0 });
      const t0 = performance.now();
      assert.throws(() => ctx.eval(s.loop, { timeoutMs: 40 }), isLimit("timeout"));
      assert.ok(performance.now() - t0 < 2000);
      usable(ctx, s);
    });

    test(`${where}: memory stops growth, doubling strings and huge single allocations`, () => {
      using rt = new Runtime();
      using ctx = rt.createContext(engine, { thread, limits: { memory: 24 << 20 } });
      for (const src of [s.grow, s.concatGrow, s.bigAlloc]) {
        assert.throws(() => ctx.eval(src), isLimit("memory"));
        usable(ctx, s);
      }
      assert.ok(ctx.memoryUsage() > 0 && ctx.memoryUsage() <= 24 << 20, `memory ${ctx.memoryUsage()}`);
      const st = rt.stats().perContext[0]!;
      assert.equal(st.memory, ctx.memoryUsage());
    });

    if (engine === "lua") {
      // Garbage under a stopped collector never passes the ceiling: at the ceiling Lua runs its emergency full
      // collection, which a stopped collector does not prevent. The script then ends at its time limit.
      test(`${where}: collectgarbage("stop") plus garbage stays under the memory ceiling (trusted: the sandbox refuses "stop")`, () => {
        using rt = new Runtime();
        using ctx = rt.createContext(engine, { thread, capabilities: "trusted", limits: { memory: 8 << 20, timeoutMs: 500 } });
        assert.throws(() => ctx.eval("collectgarbage('stop') local i = 0 while true do i = i + 1 local g = { i, tostring(i) } end"), isLimit("timeout"));
        assert.ok(ctx.memoryUsage() <= 8 << 20, `memory ${ctx.memoryUsage()}`);
        // kept garbage is the memory limit
        assert.throws(() => ctx.eval("collectgarbage('stop') local t = {} local i = 0 while true do i = i + 1 t[i] = tostring(i) end"), isLimit("memory"));
        ctx.eval("collectgarbage('restart') collectgarbage()");
        usable(ctx, s);
      });
    }

    test(`${where}: a limit that trips while a host function runs takes effect when it returns`, () => {
      using rt = new Runtime();
      rt.register("slowHost", () => {
        const until = performance.now() + 120;
        while (performance.now() < until) { /* busy */ }
        return null;
      });
      using ctx = rt.createContext(engine, { thread, limits: { timeoutMs: 60 } });
      assert.throws(() => ctx.eval(s.callsSlowHost), isLimit("timeout"));
      usable(ctx, s);
    });

    test(`${where}: a loop in a callback that a host function re-entered is stopped`, () => {
      using rt = new Runtime();
      let ctxRef: Context | undefined;
      rt.register("reenter", () => ctxRef!.call(s.loopForever));
      using ctx = rt.createContext(engine, { thread, limits: { steps: 100_000 } });
      ctxRef = ctx;
      ctx.eval(s.callsBack);
      assert.throws(() => ctx.call("viaHost"), isLimit("steps"));
      usable(ctx, s);
    });

    test(`${where}: a re-entrant eval's own timeoutMs stops it alone; a later one than the outer call's does not extend it`, () => {
      using rt = new Runtime();
      let ctxRef: Context | undefined;
      let nestedMs = 40;
      const seen: string[] = [];
      rt.register("reenter", () => {
        const t0 = performance.now();
        try {
          ctxRef!.eval(s.loop, { timeoutMs: nestedMs });
          seen.push("returned");
        } catch (e) {
          seen.push(e instanceof CalogLimitError ? `${e.limit} ${e.ceiling}` : String(e));
        }
        seen.push(performance.now() - t0 < 3000 ? "bounded" : "late");
        return 7;
      });
      using ctx = rt.createContext(engine, { thread });
      ctxRef = ctx;
      ctx.eval(s.callsBack);
      // the outer call has no timeout: the nested one's trip fails the nested eval only
      assert.equal(ctx.call("viaHost"), 7);
      assert.deepEqual(seen, ["timeout 40", "bounded"]);
      // under an outer timeout that comes later: the same, twice in one outer call
      seen.length = 0;
      const twice = engine === "lua" ? "return viaHost() + viaHost()" : engine === "js" ? "viaHost() + viaHost()" : "return viaHost() + viaHost()";
      assert.equal(ctx.eval(twice, { timeoutMs: 20_000 }), 14);
      assert.deepEqual(seen, ["timeout 40", "bounded", "timeout 40", "bounded"]);
      // a nested timeout later than the outer's: the outer deadline rules both (it is not extended)
      seen.length = 0;
      nestedMs = 60_000;
      const t0 = performance.now();
      assert.throws(() => ctx.eval(twice, { timeoutMs: 100 }), (e: unknown) => e instanceof CalogLimitError && e.limit === "timeout" && e.ceiling === 100);
      assert.ok(performance.now() - t0 < 3000, `took ${performance.now() - t0} ms`);
      assert.equal(seen[0], "timeout 100");
      usable(ctx, s);
    });

    test(`${where}: interrupt() from inside a host function; limits changed between calls`, () => {
      using rt = new Runtime();
      let ctxRef: Context | undefined;
      rt.register("stopMe", () => {
        ctxRef!.interrupt();
        return 1;
      });
      using ctx = rt.createContext(engine, { thread });
      ctxRef = ctx;
      const src = engine === "lua" ? "stopMe() while true do end" : "stopMe(); while (true) {}";
      assert.throws(() => ctx.eval(src), isLimit("interrupt"));
      usable(ctx, s);
      ctx.setLimits({ steps: 50_000 });
      assert.throws(() => ctx.eval(s.loop), isLimit("steps"));
      ctx.setLimits({ steps: 0, timeoutMs: 50 });
      assert.throws(() => ctx.eval(s.loop), isLimit("timeout"));
      ctx.setLimits({ timeoutMs: 0 });
      usable(ctx, s);
      assert.throws(() => ctx.setLimits({ steps: -1 }), /non-negative integer/);
      assert.throws(() => ctx.setLimits({ bogus: 1 } as never), /unknown limit/);
    });

    test(`${where}: evalAsync is stopped by interrupt() and by an AbortSignal on a timer`, async () => {
      using rt = new Runtime();
      using ctx = rt.createContext(engine, { thread });
      if (thread) {
        const p = ctx.evalAsync(s.loop);
        setTimeout(() => ctx.interrupt(), 30);
        await assert.rejects(p, isLimit("interrupt"));
      }
      const ac = new AbortController();
      const reason = new Error("enough");
      if (thread) {
        const p2 = ctx.evalAsync(s.swallow, { signal: ac.signal });
        setTimeout(() => ac.abort(reason), 30);
        await assert.rejects(p2, (e) => e === reason);
        ctx.eval(s.work);
        const p3 = ctx.callAsync("work", 10, { signal: new AbortController().signal }); // options are not args
        assert.equal(await p3, 10);
        const f = ctx.getFunction("work");
        const ac2 = new AbortController();
        ac2.abort(reason);
        await assert.rejects(f.callAsync(5, { signal: ac2.signal }), (e) => e === reason);
        assert.equal(await f.callAsync(7), 7);
        f.dispose();
      } else {
        ac.abort(reason); // an aborted signal refuses to start
        await assert.rejects(ctx.evalAsync(s.loop, { signal: ac.signal }), (e) => e === reason);
      }
      usable(ctx, s);
    });

    test(`${where}: 10,000 tripped limits in a row keep RSS flat and leak nothing`, () => {
      using rt = new Runtime();
      using ctx = rt.createContext(engine, { thread, limits: { steps: 2_000 } });
      for (let i = 0; i < 500; i++) assert.throws(() => ctx.eval(s.swallow), CalogLimitError);
      gc();
      const before = rss();
      const fnsBefore = rt.stats().nativeFunctionValues;
      for (let i = 0; i < 10_000; i++) assert.throws(() => ctx.eval(s.swallow), CalogLimitError);
      gc();
      const grown = rss() - before;
      assert.ok(grown < 16 * 1024 * 1024, `RSS grew by ${(grown / 1048576).toFixed(1)} MiB`);
      assert.equal(rt.stats().nativeFunctionValues, fnsBefore);
      ctx.setLimits({ steps: 100_000 }); // the usability probe itself runs ~7,000 JavaScript steps
      usable(ctx, s);
    }, 120_000);
  }

  test(`${engine}: disposal never hangs: a looping script and a looping finalizer`, async () => {
    const rt = new Runtime();
    const ctx = rt.createContext(engine);
    const p = ctx.evalAsync(s.loop);
    await new Promise((r) => setTimeout(r, 20));
    let t0 = performance.now();
    ctx.dispose();
    await assert.rejects(p, CalogDeadError); // the context was disposed: not a limit
    assert.ok(performance.now() - t0 < 1000);
    if (s.finalizerLoop) {
      for (const thread of modes) {
        const c = rt.createContext(engine, { thread });
        c.eval(s.finalizerLoop);
        t0 = performance.now();
        c.dispose();
        assert.ok(performance.now() - t0 < 1000);
      }
    }
    const looping = rt.createContext(engine);
    const q = looping.evalAsync(s.loop);
    await new Promise((r) => setTimeout(r, 20));
    t0 = performance.now();
    rt.dispose();
    await assert.rejects(q);
    assert.ok(performance.now() - t0 < 1500, `runtime dispose took ${performance.now() - t0} ms`);
  });
}

test("interrupting a context while it waits on a call to another context", async () => {
  using rt = new Runtime();
  using a = rt.createContext("lua");
  using b = rt.createContext("js");
  b.eval("function spin() { while (true) {} }");
  const spin = b.getFunction("spin");
  a.eval("function run(f) return f() end");
  const p = a.callAsync("run", spin);
  setTimeout(() => a.interrupt(), 40);
  await assert.rejects(p, isLimit("interrupt"));
  assert.equal(b.eval("6 * 7"), 42); // B was running A's call: interrupted too, and usable
  spin.dispose();
});

test("limits options are validated", () => {
  using rt = new Runtime();
  assert.throws(() => rt.createContext("lua", { limits: { memory: -5 } }), /non-negative integer/);
  assert.throws(() => rt.createContext("lua", { limits: { timeout: 5 } as never }), /unknown limit/);
  assert.throws(() => new Runtime({ limits: { steps: 1.5 } }), /non-negative integer/);
  using ctx = rt.createContext("lua", { limits: { memory: 0 } }); // 0 = unlimited
  assert.equal(ctx.eval("return 1"), 1);
  assert.throws(() => ctx.eval("return 1", { timeoutMs: -1 }), /timeoutMs/);
});

// Built-ins that run long without executing bytecode (found by a hostile-user review): each stops at the deadline.
const longBuiltins: Record<EngineName, string[]> = {
  lua: [
    "table.move({}, 1, 1 << 40, 2)",
    "local a = ('a'):rep(1 << 20) local p = ('a'):rep(1 << 19) .. 'b' return string.find(a, p, 1, true)",
  ],
  js: [
    "var a = []; a.length = 2000000000; a.indexOf(1)",
    "var a = []; a.length = 2000000000; a.forEach(function () {})",
    "var a = []; a.length = 2000000000; a.reverse(); 1",
    "var a = 'a'.repeat(1 << 20), p = 'a'.repeat(1 << 19) + 'b'; a.indexOf(p)",
  ],
  squirrel: ["local s = \"a\"; for (local i = 0; i < 18; i++) s += s; return regexp(\"a*b\").search(s)"],
};

for (const engine of engines) {
  test(`${engine}: long built-ins (sparse arrays, quadratic searches, table.move) stop at the deadline`, () => {
    using rt = new Runtime();
    using ctx = rt.createContext(engine, { thread: false, limits: { timeoutMs: 200, memory: 64 << 20 } });
    for (const src of longBuiltins[engine]) {
      const t0 = performance.now();
      assert.throws(() => ctx.eval(src), isLimit("timeout"), src);
      const took = performance.now() - t0;
      assert.ok(took < 3000, `${src}: took ${took.toFixed(0)} ms`);
    }
    usable(ctx, scripts[engine]);
  });

  test(`${engine}: interrupt() right after evalAsync/callAsync stops the queued call too`, async () => {
    using rt = new Runtime();
    using ctx = rt.createContext(engine);
    ctx.eval(scripts[engine].callsBack);
    const p = ctx.evalAsync(scripts[engine].loop);
    ctx.interrupt();
    await assert.rejects(p, isLimit("interrupt"));
    const q = ctx.callAsync(scripts[engine].loopForever);
    ctx.interrupt();
    await assert.rejects(q, isLimit("interrupt"));
    ctx.interrupt(); // idle: the next call is not affected
    usable(ctx, scripts[engine]);
  });

  test(`${engine}: a timeoutMs past the clock's range means no deadline`, () => {
    using rt = new Runtime();
    using ctx = rt.createContext(engine, { limits: { timeoutMs: 18446744073710 } });
    usable(ctx, scripts[engine]);
  });
}

test("a memory limit below what an interpreter needs to start is a CalogLimitError (at create, or Squirrel's first call)", () => {
  using rt = new Runtime();
  for (const engine of engines) {
    for (const thread of modes) {
      assert.throws(() => {
        using ctx = rt.createContext(engine, { thread, limits: { memory: 1000 } });
        ctx.eval(scripts[engine].work);
      }, isLimit("memory"), `${engine} ${thread}`);
    }
  }
  assert.equal(rt.stats().perContext.length, 0);
});

test("Lua and Squirrel count steps exactly: a small limit trips at that many steps, whatever the last call left", () => {
  using rt = new Runtime();
  const sum: Record<string, string> = {
    lua: "function f() local x = 0 for i = 1, 100 do x = x + i end return x end",
    squirrel: "function f() { local x = 0; for (local i = 1; i <= 100; i++) x += i; return x }",
  };
  for (const engine of ["lua", "squirrel"] as const) {
    for (const thread of modes) {
      using ctx = rt.createContext(engine, { thread });
      ctx.eval(sum[engine]!);
      assert.equal(ctx.call("f"), 5050);
      for (const steps of [1, 50]) {
        ctx.setLimits({ steps });
        assert.throws(() => ctx.call("f"), (e: unknown) => isLimit("steps")(e) && (e as CalogLimitError).used === steps);
      }
    }
  }
});

test("a context's timeoutMs holds while the context it called calls it back in a loop (pcall swallowing the errors)", async () => {
  // The waiting context serves the callbacks in its nested pump; its deadline must be checked before each one,
  // not only when its queue runs empty (here it never does).
  for (const swallow of [true, false]) {
    using rt = new Runtime();
    using a = rt.createContext("lua", { thread: true });
    using b = rt.createContext("lua", { thread: true });
    b.eval(swallow ? "function loop(cb) while true do pcall(cb) end end" : "function loop(cb) while true do cb() end end");
    a.eval("function setf(g) f = g end");
    a.call("setf", b.getFunction("loop"));
    const guard = new Promise<string>((r) => setTimeout(() => r("hang"), 10_000));
    const outcome = await Promise.race([
      a.evalAsync("return f(function() return 1 end)", { timeoutMs: 200 }).then(() => "returned", (e) => e),
      guard,
    ]);
    assert.ok(outcome instanceof CalogLimitError, `swallow=${swallow}: ${String(outcome)}`);
    assert.equal(outcome.limit, "timeout");
    b.interrupt();
  }
});

// The memory limit counts what the interpreter holds: data a script keeps past a trip still fills it, so the
// context recovers only once the limit is raised and the data freed (README, Limits).
const keepGrowing: Record<EngineName, { fill: string; free: string; check: string }> = {
  lua: { fill: "head = nil while true do head = { next = head, s = tostring(math.random()) } end", free: "head = nil collectgarbage()", check: "return 7" },
  js: { fill: "var head = null; while (true) head = { next: head, s: String(Math.random()) };", free: "head = null; 1", check: "7" },
  squirrel: { fill: "::head <- null; while (true) ::head = { next = ::head, s = \"\" + rand() };", free: "::head = null; collectgarbage(); return 1", check: "return 7" },
};
for (const engine of engines) {
  test(`${engine}: kept data filling the memory limit: raising the limit lets the context free it, then it runs under the old one`, () => {
    using rt = new Runtime();
    const memory = 2 << 20;
    using ctx = rt.createContext(engine, { limits: { memory, timeoutMs: 20000 } });
    const s = keepGrowing[engine];
    assert.throws(() => ctx.eval(s.fill), (e: unknown) => e instanceof CalogLimitError && e.limit === "memory");
    ctx.setLimits({ memory: 64 << 20 });
    ctx.eval(s.free);
    ctx.setLimits({ memory });
    assert.equal(ctx.eval(s.check), 7);
  });
}
