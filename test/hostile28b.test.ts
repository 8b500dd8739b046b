// Pass 28b: a hostile user against the latest code, under Bun and Deno. Every test is one attack that found a defect:
// each fails on the code it was written against (fa9080b), in Bun and Deno.
import assert from "node:assert/strict";
import { Runtime } from "../bindings/mod.ts";
import { stoppedCallChild, test } from "./harness.ts";


// High (hang of the host process). Pass 27a made a host-thread context A with timeoutMs stop a host-thread context B
// it calls: B's limit tick walks the entries below it (CalogCtxT.below). But when B, running on A's stack, is itself
// waiting on a call into a threaded context C (C spins, no limits of its own), B is not ticking: it waits in actor.c's
// wait loop, whose deadline is only B's own (`dl = rc->deadlineNs`, rc = B: none) and which looks only at B's trip.
// A's deadline passes unseen, C spins for ever, and the event loop is blocked in A.call for good: nothing can
// interrupt it. README: "No script can hang ... its host"; "A context waiting on a call into another context is stopped
// too (the call is withdrawn, or the other context interrupted ...)". Every other thread layout of the same chain
// (A, B, C each host-thread or threaded) stops at A's 200 ms.
for (const [eb, ec] of [["js", "squirrel"], ["lua", "lua"], ["squirrel", "js"]] as const) {
  test(`host-thread lua (timeoutMs) -> host-thread ${eb} -> threaded ${ec} spinning: stops at the deadline`, async () => {
    const spin = { lua: "function spin() while true do end end", js: "function spin() { for (;;) {} }", squirrel: "function spin() { while (true) {} }" };
    const mid = { lua: "function mid(g) return g() end", js: "function mid(g) { return g(); }", squirrel: "function mid(g) { return g(); }" };
    const r = await stoppedCallChild("deadline-through-a-waiting-host-context", `
      const a = rt.createContext("lua", { thread: false, limits: { timeoutMs: 200 } });
      const b = rt.createContext(${JSON.stringify(eb)}, { thread: false });
      const c = rt.createContext(${JSON.stringify(ec)}, { thread: true });
      c.eval(${JSON.stringify(spin[ec])});
      b.eval(${JSON.stringify(mid[eb])});
      a.eval("function run(m, g) return m(g) end");`, 'a.call("run", b.getFunction("mid"), c.getFunction("spin"))');
    assert.equal(r.code, 0, `the call never stopped (killed after 10 s): ${r.out}`);
    assert.match(r.out, /stopped after \d+ ms: CalogLimitError/);
  }, 30_000);
}

// The same hole through interrupt(): a host function B calls interrupts A (README: interrupt() "stops every call made
// to the context before it: the one running ... from inside a host function the script called, taking effect when that
// function returns"), then B waits on the threaded C, which spins: the wait never looks at A's trip, and the host hangs.
test("interrupt() of a host-thread context stops the host-thread context below it waiting on a threaded one", async () => {
  const r = await stoppedCallChild("interrupt-through-a-waiting-host-context", `
    const a = rt.createContext("lua", { thread: false });
    const b = rt.createContext("lua", { thread: false });
    const c = rt.createContext("lua", { thread: true });
    rt.register("stopA", () => { a.interrupt(); });
    c.eval("function spin() while true do end end");
    b.eval("function mid(g) stopA() return g() end");
    a.eval("function run(m, g) return m(g) end");`, 'a.call("run", b.getFunction("mid"), c.getFunction("spin"))');
  assert.equal(r.code, 0, `the call never stopped (killed after 10 s): ${r.out}`);
  assert.match(r.out, /stopped after \d+ ms: CalogLimitError: interrupted/);
}, 30_000);

// Low (undefined behaviour reachable from any script, and a wrong error). The I/O natives read an integer argument
// through isInt/intOf (c/src/io/natives.c:71-74): `v->as.r == (double)(int64_t)v->as.r` converts the double to int64
// before any range check. For a double outside the int64 range (1e19, Infinity, math.huge) that conversion is undefined
// behaviour in C: a Debug build (Zig's UBSan traps) ends the host with SIGILL on `timer.sleep(1e300)` from a sandboxed
// script; the release build happens to get INT64_MIN and refuses a positive delay with "ms >= 0", while 1e18 is
// accepted and capped at 2^40 ms (~35 years). So timer.after(1e18, f) works and timer.after(1e19, f) says its
// non-negative delay is negative; the same for timer.every, timer.sleep, conn:setTimeouts, { timeoutMs }, a receive
// count and a port. Fix: range-check before the cast (`r >= -0x1p63 && r < 0x1p63 && r == (double)(int64_t)r`), and
// take a huge delay as the cap, as an integer one is.
for (const thread of [false, true]) {
  test(`js (${thread ? "own thread" : "host thread"}): a timer delay of 1e19 ms or Infinity is taken as 1e18 is, not refused as negative`, () => {
    using rt = new Runtime();
    using js = rt.createContext("js", { thread });
    assert.equal(js.eval("timer.after(1e18, function() {}).cancel(); 'ok'"), "ok");
    for (const ms of ["1e19", "Infinity"]) {
      let got: unknown;
      try {
        got = js.eval(`timer.after(${ms}, function() {}).cancel(); 'ok'`);
      } catch (e) {
        got = (e as Error).message;
      }
      assert.equal(got, "ok", `timer.after(${ms}): ${got}`);
    }
  });
}

// Medium (memory limit escaped through errors). Squirrel's traceback is built by calog's error handler
// (calog__sqErrorHandler, c/src/engines/squirrel/sq_adapter.c:668) into a realloc'd C buffer (traceAppend, :650),
// outside the interpreter's allocator and its limit, with each of up to 24 frames' source name and function name in
// full. Both are the script's: compilestring(src, name) names the source, and the function is called what the source
// says. A function named by a 1 MB string (held once: interned) recursing 40 deep makes a 48 MB traceback from a
// context whose memory limit is 16 MB and which holds 4 MB, every time it raises, and the buffer keeps that capacity
// for the context's life (freed only at destroy, sq_engine.c:78), uncounted by memoryUsage(). Lua (luaL_traceback in
// the Lua state) and Duktape (the stack in its heap) build theirs under the limit. Fix: cut each name (say %.200s) and
// the whole traceback (a few KB), and give the buffer back after the error is read.
test("squirrel: an error's traceback costs the host no more than the context's memory limit", () => {
  const limit = 16 << 20;
  using rt = new Runtime();
  using sq = rt.createContext("squirrel", { limits: { memory: limit } });
  let tb = "";
  try {
    sq.eval(`
      local name = "f"; while (name.len() < (1 << 20)) name += name;
      local src = "function " + name + "(n) { if (n == 0) throw \\"deep\\"; return 1 + " + name + "(n - 1); } return " + name + ";";
      local f = compilestring(src, name)();
      name = null; src = null;
      f(40);`);
  } catch (e) {
    tb = String((e as { traceback?: string }).traceback ?? "");
  }
  assert.ok(tb.length > 0, "the script error came with a traceback");
  assert.ok(tb.length <= limit, `a ${tb.length}-character traceback from a context limited to ${limit} bytes (it holds ${sq.memoryUsage()})`);
});

// High (hang of the host process). The same mechanism misses a context entered again: B (host thread, no limits)
// calls a function of A (host thread, timeoutMs: 200), which calls back B's `spin`. B's second entry is nested in its
// first, and calog__entryBegin (c/src/runtime.c:580) records the entry below only for a context's outermost entry
// (`ctx->busy == ctx->entryBelow + 1`); B's outermost entry had nothing below it, so B's nested spin has no `below`,
// A's deadline is never looked at, and the event loop is blocked for good. With A or B on its own thread the same
// chain stops after 200 ms ("interrupted"), as README promises ("its timeout or interrupt() stops that one").
// Fix: set `below` for every entry, saved and restored with the other per-entry state (calog__limitNestBegin/End).
for (const [eb, ea] of [["lua", "js"], ["squirrel", "lua"], ["js", "squirrel"]] as const) {
  test(`host-thread ${eb} -> host-thread ${ea} (timeoutMs) -> back into the ${eb} context, spinning: stops at the deadline`, async () => {
    const src = {
      lua: "function spin() while true do end end function outer(m) return m(spin) end function mid(g) return g() end",
      js: "function spin() { for (;;) {} } function outer(m) { return m(spin); } function mid(g) { return g(); }",
      squirrel: "function spin() { while (true) {} } function outer(m) { return m(spin); } function mid(g) { return g(); }",
    };
    const r = await stoppedCallChild("deadline-of-a-context-between-two-entries", `
      const b = rt.createContext(${JSON.stringify(eb)}, { thread: false });
      const a = rt.createContext(${JSON.stringify(ea)}, { thread: false, limits: { timeoutMs: 200 } });
      b.eval(${JSON.stringify(src[eb])});
      a.eval(${JSON.stringify(src[ea])});`, 'b.call("outer", a.getFunction("mid"))');
    assert.equal(r.code, 0, `the call never stopped (killed after 10 s): ${r.out}`);
    // B's spin fails "interrupted"; A with its timeout; B's outer call, which no limit of its own stopped (pass 31a:
    // the stop is the re-entrant entry's alone), gets A's failure as the error of its call, as with no re-entry
    assert.match(r.out, /stopped after \d+ ms: CalogScriptError: timeout: the script ran \d+ ms, the limit is 200 ms/);
  }, 30_000);
}

// Low (a documented promise the code does not keep). README, Capabilities, Lua under a grant: "`io.*` (fs: ...,
// `io.write` and `io.stdout/io.stderr` going to the output sink, an empty `io.stdin`)". The default input is empty
// (io.read() gives nil), but io.stdin itself is nil (lua_caps.c:593-594 sets the field to nil), so a script written for
// the documented empty stream, io.stdin:read("a"), fails with "attempt to index a nil value (field 'stdin')". Fix: set
// io.stdin to the /dev/null handle already opened for the default input, or say "no io.stdin".
test("lua with an fs grant: io.stdin is the documented empty stream", () => {
  using rt = new Runtime();
  using lua = rt.createContext("lua", { capabilities: { fs: { read: ["."] } } });
  let got: unknown;
  try {
    got = lua.eval(`return io.type(io.stdin) .. ":" .. tostring(io.stdin:read("a"))`);
  } catch (e) {
    got = (e as Error).message;
  }
  assert.equal(got, "file:");
});

// Low (run-time recursion with no catchable end). README: "Run-time recursion a script controls (metamethods,
// tostring, JSON, regexps, natives calling back, delegate and prototype chains) ends in a catchable script error, never
// a crash". A JavaScript function that resumes a new Duktape.Thread which calls it again nests without any bound:
// each resume goes one thread deeper in the heap, not on the C stack, and Duktape counts no depth across threads (Lua's
// coroutines stop at "C stack overflow" after ~200, Squirrel's threads with "stack overflow (calls through threads or
// natives nested too deeply ...)"). Without a memory limit the heap grows ~200 MB a second until the host runs out
// (1.9 GB in 8 s measured); with one, the script's own try/catch never sees an error and the call ends only at the
// memory limit (82,819 threads deep under 256 MB). Fix: count resumer depth (duk_hthread's resumer chain) against the
// call stack limit and throw a RangeError past it.
test("js: recursion through Duktape.Thread.resume ends in a catchable error, not at the memory limit", () => {
  using rt = new Runtime();
  using js = rt.createContext("js", { limits: { memory: 256 << 20, timeoutMs: 20_000 } });
  let got: unknown;
  try {
    got = js.eval(`
      var depth = 0;
      function f() { depth++; return Duktape.Thread.resume(new Duktape.Thread(function () { return f(); })); }
      var caught = false;
      try { f(); } catch (e) { caught = e instanceof RangeError || e instanceof Error; }
      caught ? "caught at " + depth : "returned";`);
  } catch (e) {
    got = `${(e as Error).name}: ${(e as Error).message}`;
  }
  assert.match(String(got), /^caught at \d+$/);
}, 60_000);

