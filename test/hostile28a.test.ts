// Pass 28a: hostile scripts against the fixes of pass 27 (the sink budget, the late async requests, the Lua debug
// grant's wrappers, carried messages and marks). Every test is one attack that found a defect: each fails on the code
// it was written against, in Bun and Deno.
import assert from "node:assert/strict";
import { type EngineName, Runtime } from "../bindings/mod.ts";
import { test } from "./harness.ts";

// High: the debug grant's wrappers (lua_caps.c dbgGetinfo/dbgGetlocal/dbgSetlocal, pass 27a) recognise a stack level
// only when it is a Lua number (levelArg: lua_type(L, arg) == LUA_TNUMBER); anything else is passed on unchanged to
// the original, as if it were a function argument. But the originals read the level with luaL_checkinteger, which
// takes a numeric string: debug.getinfo("3", "f") is a level, neither hidden nor shifted. Its func is calog's entry
// function (the C frame below the main chunk), the very thing pass 27a hid, and calling it again crashes the host
// (segfault at 0x2a) in both thread kinds. The README: "debug.getinfo of a C function's frame gives no func (calog's
// own entry function, called again, crashed the host ...), and debug.getlocal/setlocal see no locals in a C
// function's frame"; debug.getlocal("3", 1) gives "(C temporary)" and the main chunk.
test("lua debug grant: a stack level given as a numeric string is still a level (no C frame's func or locals)", async () => {
  using rt = new Runtime({ output: "ignore" });
  for (const thread of [false, true]) {
    using ctx = rt.createContext("lua", { thread, capabilities: { debug: true } });
    const got = ctx.eval(`
      local seen = {}
      for lvl = 1, 4 do
        local i = debug.getinfo(tostring(lvl), "Sf")
        if i and i.what == "C" and i.func ~= nil then seen[#seen + 1] = "getinfo " .. lvl .. " gave a C func" end
        local ok, name = pcall(debug.getlocal, tostring(lvl), 1)
        if ok and name == "(C temporary)" then seen[#seen + 1] = "getlocal " .. lvl .. " gave " .. name end
      end
      return table.concat(seen, "; ")`);
    assert.equal(got, "", `${thread ? "own thread" : "host thread"}: ${got}`);
  }
});

// (calog's entry function reached through a string level: in hostile29a, with the other level forms)

// Medium: the sink budget (codec.c, pass 27b) charges a list's items twice: calog__sinkAggBegin charges the room
// reserved for them up front (naHint * VALUE_COST), and calog__sinkPut charges VALUE_COST again for every item put
// into that room. A Lua table of 2^18 integers holds 4.2 MB under an 8 MB limit, costs 6.3 MB as CalogValueTs, and
// is charged 12.6 MB: it can no longer be returned (CalogLimitError "memory limit reached: the script needed 8388632
// bytes", though the script never needed them), in both thread kinds; the same for JavaScript and Squirrel arrays.
// The budget was meant to stop values that cost the host more than the context's limit (a string referenced a
// thousand times), not values smaller than what the script holds.
const bigList: Record<EngineName, string> = {
  lua: "T = {} for i = 1, 1 << 18 do T[i] = i end",
  js: "T = []; for (var i = 0; i < (1 << 18); i++) T.push(i);",
  squirrel: "::T <- array(1 << 18, 0); for (local i = 0; i < (1 << 18); i++) T[i] = i;",
};
for (const engine of ["lua", "js", "squirrel"] as const) {
  test(`${engine}: a list well inside the memory limit can be returned (the sink budget charges each item once)`, () => {
    using rt = new Runtime({ output: "ignore" });
    for (const thread of [false, true]) {
      using ctx = rt.createContext(engine, { thread, limits: { memory: 10 << 20 } });
      ctx.eval(bigList[engine]);
      const held = ctx.memoryUsage();
      let got: unknown;
      try {
        got = (ctx.eval(engine === "lua" ? "return T" : engine === "js" ? "T" : "return T") as unknown[]).length;
      } catch (e) {
        got = `${(e as Error).constructor.name}: ${(e as Error).message}`;
      }
      assert.equal(got, 1 << 18, `${thread ? "own thread" : "host thread"}, ${held} bytes held under a 10 MB limit: ${got}`);
    }
  });
}


// Medium: the sink budget (pass 27b) is the memory limit of "the context running on this thread" (tlsRunning, set by
// calog__entryBegin). Script code can run outside any entry: rt.register over a global of the script's installs the
// native at the context's next entry (runtime.c syncNatives, called by calog__ctxHold before calog__entryBegin), and
// in JavaScript replacing the global's last reference runs the object's Duktape.fin finalizer right there. Nothing is
// running on the thread (or another context is), so the finalizer's call of a host function has no budget: a context
// limited to 8 MB hands the host 40 references to a 1 MB string as 40 MB (300 took 300 MB; any number goes), which
// the same call made inside an entry is refused ("memory limit reached"). Limits, stats and trips are also not this
// context's while it runs (calog__ctxInEntry is false: calog__limitStopped lets every call out through).
for (const thread of [false, true]) {
  test(`js (${thread ? "own thread" : "host thread"}): a finalizer run by rt.register outside any entry cannot send the host more than the memory limit`, () => {
    using rt = new Runtime({ output: "ignore" });
    let received = 0;
    rt.register("report", (v) => {
      for (const s of v as string[]) received += s.length;
      return true;
    });
    using ctx = rt.createContext("js", { thread, limits: { memory: 8 << 20 } });
    ctx.eval(`var s = 'x'; while (s.length < (1 << 20)) s += s;
      x = {}; Duktape.fin(x, function() { var t = []; for (var i = 0; i < 40; i++) t.push(s); report(t); }); 1`);
    {
      // the same call inside an entry is refused (another context: a trip stays set until the next entry starts)
      using other = rt.createContext("js", { thread, limits: { memory: 8 << 20 } });
      other.eval(`var s = 'x'; while (s.length < (1 << 20)) s += s; 1`);
      assert.throws(() => other.eval("var t = []; for (var i = 0; i < 40; i++) t.push(s); report(t);"), /memory limit reached/);
      assert.equal(received, 0);
    }
    rt.register("x", () => 1); // installed at the next entry: the global's object is freed, its finalizer runs
    ctx.eval("1");
    assert.ok(received <= 8 << 20, `a context limited to 8 MB sent the host ${received} bytes from outside an entry`);
  });
}

// Medium: the same hole charges the wrong context. A host function called by a host-thread Lua context A (memory
// limit 1 MB, holding 25 KB) evaluates in a host-thread JavaScript context B without limits, whose native install
// (rt.register over B's global x) runs B's finalizer before B's entry starts, while A's entry is the one running on
// the thread: B's value (two references to a 1 MB string) is charged to A's budget, A's memory limit trips, and A's
// call fails with CalogLimitError "memory limit reached: the script needed 1048590 bytes" (A never held it; B has no
// limit at all). The host function never receives B's value either.
test("a finalizer of a context without limits, run during another context's call, does not trip that context's memory limit", () => {
  using rt = new Runtime({ output: "ignore" });
  using a = rt.createContext("lua", { thread: false, limits: { memory: 1 << 20 } });
  using b = rt.createContext("js", { thread: false });
  let got = 0;
  rt.register("report", (v) => {
    got = (v as string[]).reduce((n, s) => n + s.length, 0);
    return true;
  });
  b.eval(`var s = 'x'; while (s.length < (1 << 20)) s += s; x = {}; Duktape.fin(x, function() { report([s, s]); }); 1`);
  rt.register("work", () => {
    rt.register("x", () => 1);
    return b.eval("40 + 2");
  });
  let outcome: unknown;
  try {
    outcome = a.eval("return work()");
  } catch (e) {
    outcome = `${(e as Error).constructor.name}: ${(e as Error).message}`;
  }
  assert.equal(outcome, 42);
  assert.equal(got, 2 << 20);
});

// Low: an error raised by calog inside a coroutine.wrap'd function and left uncaught loses its marks: Lua's auxwrap
// raises a string error again with the position prepended ("eval:1: permission denied: ..."), a new string, so the
// message handler (lua_engine.c raisedByCalog) finds no raise of calog's: a denied os.execute reaches the host as a
// CalogScriptError instead of CalogPermissionError, and a host function's exception is no longer the error's cause.
// The same error through coroutine.resume + error(e, 0) keeps both. The README: "when a TypeScript function called by
// a script threw and that exception ended your call, the error's cause is exactly what it threw"; a capability's
// CalogPermissionError "follows the same rule".
test("lua: a permission error or a host exception left uncaught in a coroutine.wrap keeps its class and cause", async () => {
  const { CalogPermissionError } = await import("../bindings/mod.ts");
  using rt = new Runtime({ output: "ignore" });
  using lua = rt.createContext("lua", { thread: false });
  const thrown = new RangeError("host says no, and this message is longer than forty bytes");
  rt.register("boom", () => {
    throw thrown;
  });
  let e1: unknown, e2: unknown;
  try {
    lua.eval(`coroutine.wrap(function() os.execute("ls") end)()`);
  } catch (e) {
    e1 = e;
  }
  try {
    lua.eval(`coroutine.wrap(function() boom() end)()`);
  } catch (e) {
    e2 = e;
  }
  assert.ok(e1 instanceof CalogPermissionError, `got ${(e1 as Error)?.constructor?.name}: ${(e1 as Error)?.message}`);
  assert.equal((e2 as { cause?: unknown }).cause, thrown, `no cause: ${(e2 as Error)?.message}`);
});
