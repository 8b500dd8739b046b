// Pass 32a: a hostile user against the fixes of pass 31 (211f7fd): the sink's clock (a value that expands as it
// crosses stops at the sending entry's limits), the scoping of a stop raised below, files opened regular-only, the
// Duktape keys that are one text once transcoded. Every test is one attack that found a defect: each fails on the
// code it was written against, in Bun and Deno.
import assert from "node:assert/strict";
import { CalogLimitError, Runtime } from "../bindings/mod.ts";
import { runScriptChild, test, timed, watchUnhandled } from "./harness.ts";

// Medium-high (a script escapes the caller's time limit and makes the host build gigabytes: the doubling of pass 31b,
// through one more context). README (Limits): a context running above an entry past its deadline on the same thread
// is stopped too ("the deadlines of the waits and entries below end what runs above them"); (31b's fix) a value that
// expands as it crosses stops at the sending entry's timeoutMs/interrupt(). A host-thread Lua context A runs with
// `timeoutMs: 100`; a host function it calls runs B.eval() (B: a Lua or Squirrel context, host thread or its own, no
// timeout of its own) whose result is a list of 2^23 leaves made of shared references (`a = {a, a}`, 23 times). B's
// result crosses for 2-9 s (Lua) / 2-7 s (Squirrel) before A's timeout is seen, and the time (and host memory) doubles
// per level: the very attack of 31b, made with two contexts. The same JavaScript B stops at ~110 ms (Duktape's
// marshal meets its timeout hook, which looks at the entries below).
// Cause: codec.c calog__sinkClock -> calog__limitStopped(B) (limits.c:178) calls calog__limitTick, the only place
// that looks at the entries and the served requests below (calog__entriesBelowStop), only when B has a deadline of
// its own (`ctx->deadlineNs != 0`): a nested entry with no timeout never sees A's deadline, nor (B threaded) the
// withdrawn request it serves.
// Fix: in calog__sinkClock, tick the clock context whatever its own deadline (calog__limitTick(ctx, 0, NULL) when
// calog__ctxInEntry), as the step hook does.
for (const engine of ["lua", "squirrel"] as const) {
  for (const bThread of [false, true]) {
    test(`${engine} (${bThread ? "own thread" : "host thread"}) under a host-thread caller with timeoutMs: an expanding result stops at the caller's deadline`, () => {
      using rt = new Runtime({ output: "ignore" });
      using A = rt.createContext("lua", { thread: false });
      using B = rt.createContext(engine, { thread: bThread });
      const src = engine === "lua"
        ? "local a = {} for i = 1, 23 do a = {a, a} end return a"
        : "local a = []; for (local i = 0; i < 23; i++) a = [a, a]; return a;";
      rt.register("viaB", () => {
        try {
          B.eval(src);
          return "B returned";
        } catch (e) {
          return "B: " + (e as Error).message;
        }
      });
      const { err, ms } = timed(() => A.eval("return viaB()", { timeoutMs: 100 }));
      assert.ok(err instanceof CalogLimitError, `A's call not stopped by its limit: ${err}`);
      assert.ok(ms < 800, `a 100 ms timeout stopped the call after ${Math.round(ms)} ms (${(err as Error).message})`);
    });
  }
}

// The same cause, with no host function between: a script with `timeoutMs: 100` calls another context's function
// value (no limits of its own) whose result expands as it crosses back: 1-5 s (host thread) / 2-7 s (own thread) at
// 2^23 leaves, doubling per level.
for (const bThread of [false, true]) {
  test(`lua calling a lua function value (${bThread ? "own thread" : "host thread"}) with timeoutMs: an expanding result stops at the caller's deadline`, () => {
    using rt = new Runtime({ output: "ignore" });
    using A = rt.createContext("lua", { thread: false, limits: { timeoutMs: 100 } });
    using B = rt.createContext("lua", { thread: bThread });
    B.eval("function big() local a = {} for i = 1, 23 do a = {a, a} end return a end");
    A.eval("function run(f) local t = f() return 1 end");
    using big = B.getFunction("big");
    const { err, ms } = timed(() => A.call("run", big));
    assert.ok(err instanceof CalogLimitError, `A's call not stopped by its limit: ${err}`);
    assert.ok(ms < 800, `a 100 ms timeout stopped the call after ${Math.round(ms)} ms (${(err as Error).message})`);
  });
}

// Medium (an unrelated call fails). README (Async host functions): "A request served nested on a wait is an entry of
// its own: it runs under its own timeoutMs ... and aborting it stops it alone; the call it was served on keeps its
// deadline (one that passes while the nested request still runs is answered at once ...), and ctx.interrupt() stops
// both"; (Limits) a stop of a call into another context "is the stopped call's alone". Threaded B's evalAsync (timeoutMs
// 200) calls threaded A's function value fa, which waits for an async host function (600 ms); meanwhile the host runs
// A.callAsync("work") (400 ms of work), served nested on fa's wait. At B's deadline B withdraws its call to fa, and the
// independent callAsync fails "interrupted" at the same moment, though nobody interrupted A and nothing of it waited
// for B.
// Cause: runtime.c calog__entriesBelowStop walks A's whole entry stack on its thread: from the nested request's entry
// (under = true) past fa's entry to the served marker of B's request (withdrawn by actor.c abandonWait), and trips A
// (INTERRUPT, belowStopAt) — the entry on top, the nested async request, stops.
// Fix: an async request served nested (nestBegin/calog__limitNestBegin) is a floor for the walk: a stop found below
// its entry is kept for the entry it was served on (e.g. noted in the CalogEntrySaveT and tripped at
// calog__limitNestEnd, or answered at once as buried deadlines are), not raised in the nested request.
test("lua (own thread): a callAsync served nested on a wait is not interrupted when the call below it is withdrawn", async () => {
  using rt = new Runtime({ output: "ignore" });
  rt.register("slow", async () => {
    await new Promise((r) => setTimeout(r, 600));
    return 1;
  });
  using A = rt.createContext("lua", { thread: true });
  using B = rt.createContext("lua", { thread: true });
  A.eval("function fa() return slow() end function work() local t = os.clock() while os.clock() - t < 0.4 do end return 'done' end");
  B.eval("function set(f) F = f end");
  using fa = A.getFunction("fa");
  B.call("set", fa);
  const viaB = B.evalAsync("return F()", { timeoutMs: 200 }).then((v) => `B returned ${v}`, (e: Error) => `B: ${e.message}`);
  await new Promise((r) => setTimeout(r, 50));
  const work = A.callAsync("work").then((v) => `work: ${v}`, (e: Error) => `work: ${e.constructor.name}: ${e.message}`);
  const [b, w] = await Promise.all([viaB, work]);
  assert.match(b, /^B: timeout: the script ran \d+ ms, the limit is 200 ms/);
  assert.equal(w, "work: done", "the independent callAsync served nested on fa's wait");
});

// Medium-high (a script escapes its time limit and makes the host copy gigabytes; with large strings, the kernel's OOM
// killer). README (Value mapping, since 211f7fd): a value that grows as it crosses "is bounded by the sending context's
// limits, its memory limit and its `timeoutMs` and `interrupt()`, polled every 4,096 items". The clock counts items, not bytes: calog__sinkTick looks at the clock
// every 4,096 items, and a string is one item whatever its size. Lua, Squirrel and JavaScript strings are shared by
// reference, so a list holding the same 2 MB string 1,000 times is 2 MB in the context (no memory limit set) and 2 GB
// once copied out: `timeoutMs: 100` ends the call after 0.7-4 s (every engine, both thread kinds, to TypeScript or to
// another context's function). Up to 4,095 items pass before the first look: 4,000 references to a 100 MB string
// (built in 27 doublings) are 400 GB for a host with no memory limit on the context.
// Cause: codec.h calog__sinkTick counts one per item; calog__sinkPut's CALOG_STRING case (and the wire sink's
// encodeScalar) copies it.length bytes between looks.
// Fix: weigh an item by its bytes in the tick (e.g. ticks += 1 + length / 4096, look when past CALOG_SINK_CLOCK), so
// the clock is looked at every few MB copied as well as every 4,096 items.
// (In a process of its own: the time is mostly the kernel's page faults for the copy, which a host that already
// holds the memory from earlier work does not pay; a 2 GB copy then still takes 150 ms.)
for (const engine of ["lua", "squirrel", "js"] as const) {
  test(`${engine} (host thread): a list of one shared 2 MB string crossing out stops at the timeout`, async () => {
    const src = engine === "lua"
      ? `local s = "x" while #s < 2097152 do s = s .. s end local t = {} for i = 1, 1000 do t[i] = s end return t`
      : engine === "squirrel"
      ? `local s = "x"; while (s.len() < 2097152) s += s; local t = []; for (local i = 0; i < 1000; i++) t.append(s); return t;`
      : `(function () { var s = "x"; while (s.length < 2097152) s += s; var t = []; for (var i = 0; i < 1000; i++) t.push(s); return t; })()`;
    const r = await runScriptChild(`shared-string-${engine}`, `
      const rt = new Runtime({ output: "ignore" });
      const ctx = rt.createContext(${JSON.stringify(engine)}, { thread: false, limits: { timeoutMs: 100 } });
      const t0 = performance.now();
      let what = "returned";
      try { ctx.eval(${JSON.stringify(src)}); } catch (e) { what = e.constructor.name + ": " + e.message; }
      console.log("stopped after " + Math.round(performance.now() - t0) + " ms: " + what);
      rt.dispose();
    `, 30_000);
    const ms = Number(/stopped after (\d+) ms/.exec(r.out)?.[1] ?? NaN);
    assert.match(r.out, /stopped after \d+ ms: CalogLimitError: timeout/, r.out.slice(0, 300));
    assert.ok(ms < 400, `a 100 ms timeout stopped the call after ${ms} ms: ${r.out.slice(0, 300)}`);
  });
}

// Medium (a script whose work is bounded by its steps limit makes the host build gigabytes: exponential in the steps it
// ran). README (Limits): "No script can hang, exhaust or outlive its host"; (Value mapping) the copy of a value that grows
// as it crosses "is bounded by the sending context's limits" (then naming memory, timeoutMs, interrupt() only: arguably a
// gap in the design rather than a broken line); `steps` bounds "work per entry", and the
// built-ins that build a lot from a little count what they build (string.rep's inner loop, table.concat, JavaScript
// string concatenation per KB copied). A value that expands as it crosses counts nothing: a host-thread context with
// `limits: { steps: 100000 }` and nothing else runs a 22-step loop (`a = {a, a}`) and returns it: 2^22 leaves are
// built in the host (3-6 s and 3 GB of RSS at depth 23 in every engine; depth 27 is past 40 GB: the OOM killer). The sink
// looks at timeoutMs and interrupt() only (codec.c calog__sinkClock -> calog__limitStopped), never at the steps.
// Fix: charge the sink's items to the sending entry's steps (e.g. calog__limitTick(ctx, CALOG_SINK_CLOCK, NULL) in
// calog__sinkClock, for a context with a steps cap), so a steps-limited context stops ("step limit reached") as
// string.rep does.
for (const engine of ["lua", "squirrel", "js"] as const) {
  test(`${engine} (host thread): a value expanding as it crosses counts against the steps limit`, () => {
    using rt = new Runtime({ output: "ignore" });
    using ctx = rt.createContext(engine, { thread: false, limits: { steps: 100_000 } });
    const src = engine === "lua"
      ? "local a = {} for i = 1, 22 do a = {a, a} end return a"
      : engine === "squirrel"
      ? "local a = []; for (local i = 0; i < 22; i++) a = [a, a]; return a;"
      : "var a = []; for (var i = 0; i < 22; i++) a = [a, a]; a";
    const { err, ms } = timed(() => ctx.eval(src));
    assert.ok(err instanceof CalogLimitError, `2^22 leaves crossed out of a context limited to 100,000 steps in ${Math.round(ms)} ms: ${err}`);
    assert.ok(ms < 1000, `stopped after ${Math.round(ms)} ms`);
  });
}

// Low (a wrong error). A unix-domain socket beneath a granted root, opened as a file (Lua io.open/dofile, Squirrel
// file()), is refused as "'<path>' is a FIFO or a device", naming neither what it is nor (under "trusted", where the
// same branch says "a script opens files and devices, not FIFOs, only") a kind the profile refuses: open() of a socket
// fails with ENXIO, and policy/path.c calog__capsOpen's ENXIO branch guesses instead of looking.
// Fix: on ENXIO, fstatat (AT_SYMLINK_NOFOLLOW, beneath the same root) or stat the path to name its kind with fileKind,
// as regularOnly does for a descriptor ("a socket").
test("lua: a unix socket beneath a granted root is refused as a socket", async () => {
  const fs = await import("node:fs");
  const os = await import("node:os");
  const path = await import("node:path");
  const { execFileSync } = await import("node:child_process");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "calog-sock-"));
  const sock = path.join(dir, "s.sock");
  // the socket's file stays after its process ends (a socket bound here would need Deno's net permission for it)
  execFileSync("python3", ["-c", "import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])", sock]);
  try {
    using rt = new Runtime({ output: "ignore" });
    using lua = rt.createContext("lua", { capabilities: { fs: { read: [dir] } } });
    let got = "";
    try {
      lua.eval(`io.open(${JSON.stringify(sock)})`);
    } catch (e) {
      got = (e as Error).message;
    }
    assert.match(got, /^permission denied: '.*s\.sock' is a socket/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// Low (found by this pass, no test there: an unhandled rejection). A synchronous host function's result holding several
// rejected Promises: the encoder refuses the first (and handles its rejection); the others went unhandled, as only the
// deferred paths walked the value (handleInnerPromises). Now the synchronous path walks it too.
for (const thread of [false, true]) {
  test(`lua (${thread ? "own thread" : "host thread"}): a host function's result holding rejected Promises raises no unhandled rejection`, async () => {
    const watch = watchUnhandled();
    try {
      using rt = new Runtime({ output: "ignore" });
      rt.register("h", () => ({ a: [Promise.reject(new Error("one")), { b: Promise.reject(new Error("two")) }], m: new Map([[1, Promise.reject(new Error("three"))]]) }));
      using lua = rt.createContext("lua", { thread });
      assert.equal(lua.eval("local ok, e = pcall(h) return ok"), false);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(watch.count(), 0, "an unhandled rejection from a Promise inside a refused result");
    } finally {
      watch.stop();
    }
  });
}
