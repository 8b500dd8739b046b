// Pass 29a: hostile scripts against the fixes of pass 28 (the per-thread entry stack, natives installed in an entry of
// their own, the sink budget, carried text, the Lua debug grant's string levels, I/O integers). Every test is one
// attack that found a defect: each fails on the code it was written against, in Bun and Deno.
import assert from "node:assert/strict";
import { Runtime } from "../bindings/mod.ts";
import { runScriptChild, test } from "./harness.ts";

// High: the debug grant's wrappers (lua_caps.c levelArg/passOnLevel/cFrame) take any integer as a level, but only one
// in [0, INT_MAX) is checked and shifted: cFrame says "no C frame" for a level >= INT_MAX and passOnLevel passes it on
// unshifted. The originals (ldblib.c) read the level as (int)luaL_checkinteger(...), so 2^32 + 3 is level 3 of the
// original's count: a C frame, neither hidden nor shifted. debug.getinfo((1 << 32) + 3, "f").func is calog's entry
// function again (the one pass 27a and 28a hid), and calling it crashes the host (segfault), in both thread kinds;
// debug.getlocal((1 << 32) + 4, 1) gives "(C temporary)" and a light userdata pointing into the C stack, and
// debug.setlocal on it succeeds. The README: "debug.getinfo of a C function's frame gives no func ..., and
// debug.getlocal/setlocal see no locals in a C function's frame".
test("lua debug grant: a level past 2^31 is not a way around the C-frame checks (no func, no locals)", () => {
  using rt = new Runtime({ output: "ignore" });
  for (const thread of [false, true]) {
    using ctx = rt.createContext("lua", { thread, capabilities: { debug: true } });
    const got = ctx.eval(`
      local seen = {}
      for k = 0, 6 do
        local lvl = (1 << 32) + k
        local i = debug.getinfo(lvl, "Sf")
        if i and i.what == "C" and i.func ~= nil then seen[#seen + 1] = "getinfo 2^32+" .. k .. " gave a C func" end
        local ok, name = pcall(debug.getlocal, lvl, 1)
        if ok and name == "(C temporary)" then seen[#seen + 1] = "getlocal 2^32+" .. k .. " gave " .. name end
      end
      local ok, e = pcall(debug.getlocal, (1 << 32) + 4, 1)
      seen[#seen + 1] = ok and "getlocal gave " .. tostring(e) or e:match("level out of range") or e
      seen[#seen + 1] = debug.getinfo(-(1 << 32) + 3, "f") == nil and "nil" or "a frame below level 0"
      return table.concat(seen, "; ")`);
    assert.equal(got, "level out of range; nil", `${thread ? "own thread" : "host thread"}: ${got}`);
  }
});

// Each level form that reached it (a numeric string: pass 28a; past 2^31, or below -2^31: pass 29a), both thread kinds.
test("lua debug grant: calog's entry function reached through a string level or one past 2^31 does not crash the host", async () => {
  for (const [thread, level] of [false, true].flatMap((t) => ['"3"', "(1 << 32) + 3", "-(1 << 32) + 3"].map((l) => [t, l] as const))) {
    const r = await runScriptChild("debug-wide-level", `
      const rt = new Runtime({ output: "ignore" });
      const ctx = rt.createContext("lua", { thread: ${thread}, capabilities: { debug: true } });
      let what = "returned";
      try {
        what = String(ctx.eval(\`
          local i = debug.getinfo(${level}, "f")
          local f = i and i.func
          if f == nil then return "hidden" end
          local ok = pcall(f, 42)
          return "called: " .. tostring(ok)\`));
      } catch (e) { what = e.constructor.name + ": " + e.message; }
      console.log("outcome: " + what);
      rt.dispose();
    `, 20_000);
    assert.equal(r.code, 0, `${thread ? "own thread" : "host thread"}, level ${level}: the host process crashed (${r.code}): ${r.out.slice(0, 400)}`);
    assert.match(r.out, /outcome: hidden/, `level ${level}`);
  }
}, 60_000);

// High: natives are installed in an entry of their own (runtime.c calog__ctxHold, pass 28), begun with
// calog__entryBegin(ctx, 0): the call's own timeoutMs (ctx.eval(src, { timeoutMs }), evalAsync's) is not passed, and
// the async request's deadline is not set either (ctx->installing). A script's finalizer that the install runs
// (rt.register over a global whose object has a Duktape.fin that loops) therefore runs with no deadline at all: a
// host-thread ctx.eval("1", { timeoutMs: 200 }) hangs the host for ever, a threaded one never returns, and evalAsync
// with { timeoutMs: 200 } never settles. The README: "timeoutMs: wall-clock time per entry; also per call"; "No script
// can hang, exhaust or outlive its host."
for (const thread of [false, true]) {
  test(`js (${thread ? "own thread" : "host thread"}): a finalizer run by a native's install obeys the call's timeoutMs`, async () => {
    const r = await runScriptChild("install-call-timeout", `
      const rt = new Runtime({ output: "ignore" });
      const ctx = rt.createContext("js", { thread: ${thread} });
      ctx.eval("x = {}; Duktape.fin(x, function() { for (;;) {} }); 1");
      rt.register("x", () => 1); // installed at the next entry: the global's object is freed, its finalizer runs
      const t0 = Date.now();
      let what = "returned";
      try { what += " " + ctx.eval("1", { timeoutMs: 200 }); } catch (e) { what = e.constructor.name + ": " + e.message; }
      console.log("stopped after " + (Date.now() - t0) + " ms: " + what);
      console.log("x is a " + ctx.eval("typeof x"));
      rt.dispose();
    `, 8_000);
    assert.equal(r.code, 0, `the call with timeoutMs 200 hung (killed after 8 s): ${r.out.slice(0, 400)}`);
    // the finalizer is stopped at the call's deadline (in the install's own entry: its limit is not the call's
    // error), the call runs in what is left (at least 1 ms), and the native is there
    const ms = Number(/stopped after (\d+) ms: returned 1/.exec(r.out)?.[1] ?? NaN);
    assert.ok(ms >= 150 && ms < 2000, r.out);
    assert.match(r.out, /x is a function/);
  }, 30_000);
}

test("js (own thread): a finalizer run by a native's install obeys evalAsync's timeoutMs", async () => {
  const r = await runScriptChild("install-async-timeout", `
    const rt = new Runtime({ output: "ignore" });
    const ctx = rt.createContext("js", { thread: true });
    ctx.eval("x = {}; Duktape.fin(x, function() { for (;;) {} }); 1");
    rt.register("x", () => 1);
    const t0 = Date.now();
    let what = "returned";
    try { what += " " + await ctx.evalAsync("1", { timeoutMs: 200 }); } catch (e) { what = e.constructor.name + ": " + e.message; }
    console.log("settled after " + (Date.now() - t0) + " ms: " + what);
    rt.dispose();
  `, 8_000);
  assert.equal(r.code, 0, `evalAsync with timeoutMs 200 never settled (killed after 8 s): ${r.out.slice(0, 400)}`);
  const ms = Number(/settled after (\d+) ms: returned 1/.exec(r.out)?.[1] ?? NaN);
  assert.ok(ms >= 150 && ms < 2000, r.out);
}, 30_000);

// Low: pass 28 made an I/O integer at or past 2^63 (1e19, math.huge, Infinity) count as INT64_MAX, "the largest count
// or delay there is" (natives.c isInt/intOf), and timers cap it at 2^40 ms; but the per-operation timeouts do not:
// net.c deadlineOf and ops.c (oh->deadline) compute now + (uint64_t)ms * 1000000u, which for INT64_MAX wraps to
// now - 1 ms. conn:setTimeouts(nil, nil, 1e19) then makes every receive time out at once ("timeout", no data waited
// for), and server:accept({ timeoutMs = 1e19 }) returns nil at once, where 1e12 (or 0, none) waits. A script asking
// for the longest wait gets none; any timeoutMs past ~1.8e13 ms wraps to an arbitrary deadline.
test("lua (own thread): a receive or accept timeout of 1e19 ms waits, as 1e12 does, instead of timing out at once", () => {
  using rt = new Runtime({ output: "ignore" });
  using ctx = rt.createContext("lua", {
    thread: true,
    limits: { timeoutMs: 300 },
    capabilities: { net: { connect: ["127.0.0.1:*"], listen: ["127.0.0.1:*"] } },
  });
  for (const what of ["receive", "accept"]) {
    let got: unknown;
    try {
      got = ctx.eval(`
        local server = assert(net.listen("127.0.0.1", 0))
        local c = assert(net.connect("127.0.0.1", server:port()))
        local s = assert(server:accept({ timeoutMs = 1000 }))
        local r
        if "${what}" == "receive" then
          c:setTimeouts(nil, nil, 1e19)
          local line, err = c:receive("*l")
          r = "receive returned " .. tostring(line) .. ", " .. tostring(err)
        else
          local x, err = server:accept({ timeoutMs = 1e19 })
          r = "accept returned " .. tostring(x) .. ", " .. tostring(err)
        end
        c:close() s:close() server:close()
        return r`);
    } catch (e) {
      got = (e as Error).message;
    }
    assert.match(String(got), /^timeout: the script ran/, `${what} with a 1e19 ms timeout: ${got}`);
  }
});

// Medium: syncNatives (runtime.c:263-269) installs rt.natives[ctx->nativesSeen] and then does ctx->nativesSeen++, but
// the install can run script code (a Duktape.fin finalizer of the global it replaces, now in an entry of its own) that
// calls the host, which may register another native and call into the same context: the nested calog__ctxHold runs
// syncNatives again, installs the same native and the new one and advances nativesSeen past both; the outer loop then
// adds one more. nativesSeen is now one past the natives that exist, so the next rt.register is never installed in
// that context: `typeof z` stays "undefined" there (a fresh context has it), in both thread kinds. The README:
// rt.register's functions are globals of every context, those already made included.
for (const thread of [false, true]) {
  test(`js (${thread ? "own thread" : "host thread"}): a native registered after a re-entrant install still reaches the context`, () => {
    using rt = new Runtime({ output: "ignore" });
    using ctx = rt.createContext("js", { thread });
    let once = false;
    rt.register("hook", () => {
      if (once) return 0;
      once = true;
      rt.register("y", () => "y");
      return ctx.eval("typeof y"); // a call into the context from inside its install
    });
    ctx.eval("x = {}; Duktape.fin(x, function() { hook(); }); 1");
    rt.register("x", () => "x"); // installed at the next entry: the finalizer runs inside the install
    assert.equal(ctx.eval("typeof x + ' ' + typeof y"), "function function");
    rt.register("z", () => "z");
    using fresh = rt.createContext("js", { thread });
    assert.equal(fresh.eval("typeof z"), "function");
    assert.equal(ctx.eval("typeof z"), "function", "z, registered after the re-entrant install, is missing");
  });
}

// Medium-low: the sink budget (codec.c calog__sinkAggBegin, pass 28) no longer charges the room reserved for a list's
// items; it caps the reservation at the budget left, uncharged, and charges items as they are placed. A Lua table's
// hint is lua_rawlen, a border that can be astronomically larger than what the table holds: {[1]=0, [2]=1, [4]=2, ...,
// [2^40]=40} (41 hash entries, 30 KB in the context) has a border of 2^40, so each occurrence of it reserves room for
// budget / sizeof(CalogValueT) items (a realloc of ~48 MB under a 32 MB limit, rounded up to a power of two) and is
// charged ~100 bytes, since the sequence stops at the first nil (k = 2). The same table referenced 100 times in a value
// sent to another context makes the host reserve ~4.9 GB of address space (3,000 times: 147 GB, on a 23 GB machine)
// from a context limited to 32 MB, both thread kinds. The README: a value crossing out of a context costs the host no
// more than the context's memory limit. Fix: charge the reservation (and give back what the items did not use at
// calog__sinkAggEnd), or reserve no more than the engine's real item count (Lua: stop at the first nil first).
for (const thread of [false, true]) {
  test(`lua (${thread ? "own thread" : "host thread"}): a table whose border is 2^40 does not make the host reserve gigabytes when sent out`, async () => {
    // read through cat: Deno's --allow-read does not reach /proc/self (the test runs have --allow-run)
    const { execFileSync } = await import("node:child_process");
    const { pid } = await import("node:process");
    const vmKb = () => Number(/VmSize:\s+(\d+)/.exec(String(execFileSync("cat", [`/proc/${pid}/status`])))![1]);
    using rt = new Runtime({ output: "ignore" });
    using lua = rt.createContext("lua", { thread, limits: { memory: 32 << 20 } });
    using js = rt.createContext("js", { thread });
    let during = 0;
    rt.register("measure", () => {
      during = vmKb();
      return true;
    });
    js.eval("function take(x) { measure(); return x.length; }");
    const keys = Array.from({ length: 41 }, (_, i) => `[${2 ** i}] = ${i}`).join(", ");
    lua.eval(`big = { ${keys} }
      function f(take) local out = {} for i = 1, 200 do out[i] = big end return take(out) end`);
    assert.equal(lua.eval("return #big"), 2 ** 40);
    const before = vmKb();
    assert.equal(lua.call("f", js.getFunction("take")), 200);
    const grewMb = (during - before) / 1024;
    assert.ok(grewMb < 1024, `a context limited to 32 MB made the host reserve ${grewMb.toFixed(0)} MB while its value crossed`);
  });
}

// High: under the debug grant with any fs grant (io.stdout is there), debug.setmetatable (lua_caps.c dbgSetmetatable)
// refuses only calog's function values and their metatable. A light userdata is there to take another: debug.upvalueid
// of a Lua function gives one (the address of an upvalue), and setting the metatable of light userdata (one for all of
// them) to getmetatable(io.stdout), the FILE* metatable, makes it pass luaL_checkudata(L, 1, "FILE*"): lud:flush() calls
// fflush on a Lua GC object as a FILE* (glibc: "invalid stdio handle", abort), lud:seek() segfaults, in both thread
// kinds. The README: the debug grant's functions cannot reach calog's or the C library's state (pass 27a, 28a: a C
// frame's function, C functions' upvalues, each a host crash). Fix: refuse debug.setmetatable on light userdata (and
// refuse the metatable of a C type, LUA_FILEHANDLE, on anything not already of that type).
for (const method of ["flush", "seek"]) {
  test(`lua debug grant + fs: a light userdata given the FILE* metatable does not crash the host (${method})`, async () => {
    for (const thread of [false, true]) {
      const r = await runScriptChild("debug-lightud-file", `
        const rt = new Runtime({ output: "ignore" });
        const ctx = rt.createContext("lua", { thread: ${thread}, capabilities: { debug: true, fs: { read: ["/tmp"] } } });
        let what = "returned";
        try {
          what = String(ctx.eval(\`
            local x = 1
            local function f() return x end
            local lud = debug.upvalueid(f, 1)
            local ok, e = pcall(debug.setmetatable, lud, getmetatable(io.stdout))
            if not ok then
              local full = select(2, pcall(debug.setmetatable, io.stdout, {})) -- a full userdata's type neither
              return "refused: " .. tostring(e) .. " | " .. tostring(full)
            end
            local ok2, e2 = pcall(function() return lud:${method}() end)
            return "called: " .. tostring(ok2) .. " " .. tostring(e2)\`));
        } catch (e) { what = e.constructor.name + ": " + e.message; }
        console.log("outcome: " + what);
        rt.dispose();
      `, 20_000);
      assert.equal(r.code, 0, `${thread ? "own thread" : "host thread"}: the host process crashed (${r.code}): ${r.out.slice(0, 300)}`);
      assert.match(r.out, /outcome: refused: permission denied: debug.setmetatable on a userdata.* \| permission denied: debug.setmetatable on a userdata/);
    }
  }, 60_000);
}
