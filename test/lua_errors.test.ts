// Every error path between TypeScript and Lua raises a named error in the caller and loses nothing.
import assert from "node:assert/strict";
import {
  CalogDeadError,
  CalogDisposedError,
  CalogError,
  CalogLimitError,
  CalogNestingError,
  CalogNotFoundError,
  CalogScriptError,
  CalogSyntaxError,
  CalogValueError,
  Runtime,
  type ScriptFunction,
} from "../bindings/mod.ts";
import { test } from "./harness.ts";

test("syntax error: CalogSyntaxError with the chunk name and line", () => {
  using rt = new Runtime();
  using lua = rt.createContext("lua");
  const e = assert.throws(() => lua.eval("local x = \n return +", { chunkName: "broken.lua" }), CalogSyntaxError);
  void e;
  try {
    lua.eval("return 1 +", { chunkName: "broken.lua" });
  } catch (err) {
    assert.ok(err instanceof CalogSyntaxError && err instanceof CalogError && err instanceof Error);
    assert.equal(err.code, "ERR_SYNTAX");
    assert.match(err.message, /broken\.lua:1:/);
    assert.equal(err.engine, "lua");
  }
});

test("runtime error: CalogScriptError with message, engine and Lua traceback", () => {
  using rt = new Runtime();
  using lua = rt.createContext("lua");
  lua.eval("function inner() local t = nil return t.x end\nfunction outer() local r = inner() return r end", { chunkName: "app" });
  try {
    lua.call("outer");
    assert.fail("should throw");
  } catch (err) {
    assert.ok(err instanceof CalogScriptError);
    assert.equal(err.code, "ERR_SCRIPT");
    assert.match(err.message, /app:1: attempt to index a nil value/);
    assert.match(err.traceback ?? "", /stack traceback:[\s\S]*in function 'inner'[\s\S]*in function 'outer'/);
  }
  // error() with a table, and with a __tostring object
  assert.throws(() => lua.eval("error({})"), (e: CalogScriptError) => e.message === "lua threw []" && Array.isArray(e.value));
  assert.throws(() => lua.eval("error(setmetatable({}, {__tostring = function() return 'mine' end}))"), /^CalogScriptError: mine$|mine/);
  // the context still works afterwards
  assert.equal(lua.eval("return 1"), 1);
});

test("an exception in a host function is a Lua error (pcall catches it) and, uncaught, returns with its message", () => {
  using rt = new Runtime();
  const boom = new TypeError("kaboom from TS");
  rt.register("explode", () => {
    throw boom;
  });
  using lua = rt.createContext("lua");
  assert.deepEqual(lua.eval("local ok, e = pcall(explode) return {ok, e}"), [false, "kaboom from TS"]);
  try {
    lua.eval("explode()");
    assert.fail("should throw");
  } catch (err) {
    assert.ok(err instanceof CalogScriptError);
    assert.equal(err.message, "kaboom from TS");
    assert.equal(err.cause, boom); // the original exception is kept
    assert.match(err.traceback ?? "", /explode/);
  }
  // thrown non-Errors and a returned Promise are errors too
  rt.register("throwsString", () => {
    throw "just a string";
  });
  assert.throws(() => lua.eval("throwsString()"), /just a string/);
  rt.register("asyncFn", async () => 1);
  assert.throws(() => lua.eval("return asyncFn()"), /returned a Promise/);
  // a host function returning an unrepresentable value
  rt.register("returnsDate", () => new Date());
  assert.throws(() => lua.eval("return returnsDate()"), /Date cannot cross/);
});

test("missing functions and globals: CalogNotFoundError", () => {
  using rt = new Runtime();
  using lua = rt.createContext("lua");
  assert.throws(() => lua.call("nope"), CalogNotFoundError);
  lua.eval("notAFunction = 42");
  assert.throws(() => lua.call("notAFunction"), CalogNotFoundError);
  assert.throws(() => lua.getFunction("notAFunction"), CalogNotFoundError);
  assert.equal(lua.get("notAFunction"), 42);
  assert.equal(lua.get("missing"), null);
  rt.register("temp", () => 1);
  assert.equal(lua.eval("return temp()"), 1);
  rt.unregister("temp");
  assert.throws(() => lua.eval("return temp()"), /no longer registered/);
  assert.throws(() => rt.unregister("temp"), CalogNotFoundError);
  assert.throws(() => rt.register("not a name", () => 1), CalogValueError);
  assert.throws(() => rt.createContext("cobol" as "lua"), (e: unknown) => e instanceof CalogValueError && e.code === "ERR_ENGINE" && /unknown engine 'cobol'/.test(e.message));
});

test("disposed handles throw CalogDisposedError; functions of a destroyed context are dead", () => {
  const rt = new Runtime();
  const lua = rt.createContext("lua");
  lua.eval("function f() return 1 end");
  const f = lua.getFunction("f");
  lua.dispose();
  lua.dispose(); // idempotent
  assert.equal(lua.disposed, true);
  assert.throws(() => lua.eval("return 1"), CalogDisposedError);
  assert.throws(() => lua.call("f"), CalogDisposedError);
  assert.throws(() => f(), CalogDeadError); // its owner is gone
  f.dispose();
  assert.throws(() => f(), CalogDisposedError);
  const lua2 = rt.createContext("lua");
  rt.dispose();
  assert.throws(() => lua2.eval("return 1"), CalogDisposedError);
  assert.throws(() => rt.createContext("lua"), CalogDisposedError);
  assert.throws(() => rt.register("x", () => 1), CalogDisposedError);
  rt.dispose(); // idempotent
});

test("depth cap and cycles: CalogValueError, in both directions", () => {
  using rt = new Runtime();
  using lua = rt.createContext("lua");
  lua.eval("function id(x) return x end");
  let deep: unknown = 1;
  for (let i = 0; i < 100; i++) deep = [deep];
  assert.doesNotThrow(() => lua.call("id", deep)); // exactly at the cap
  deep = [deep];
  assert.throws(() => lua.call("id", deep), (e: unknown) => e instanceof CalogValueError && e.code === "ERR_DEPTH");
  assert.throws(() => lua.eval("local t = 1 for i = 1, 150 do t = {t} end return t"), (e: unknown) => e instanceof CalogValueError && e.code === "ERR_DEPTH");
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  assert.throws(() => lua.call("id", cyclic), (e: unknown) => e instanceof CalogValueError && e.code === "ERR_CYCLE");
  const arr: unknown[] = [];
  arr.push([arr]);
  assert.throws(() => lua.call("id", arr), /cycle/);
  assert.throws(() => lua.eval("local t = {} t[1] = t return t"), (e: unknown) => e instanceof CalogValueError && e.code === "ERR_CYCLE");
  const shared = { x: 1 };
  assert.deepEqual(lua.call("id", [shared, shared]), [shared, shared]); // shared, not cyclic: fine
  // unsupported values in strict mode
  assert.throws(() => lua.call("id", new Date()), CalogValueError);
  assert.throws(() => lua.call("id", Symbol("x")), CalogValueError);
  assert.throws(() => lua.call("id", new Map([[{}, 1]])), /Map key/);
  assert.throws(() => lua.eval("return {[print] = 1}"), CalogValueError);
  // a failed marshal leaks no host function reference
  const before = rt.stats().hostFunctions;
  assert.throws(() => lua.call("id", () => 1, new Date()), CalogValueError);
  assert.throws(() => lua.call("x".repeat(300), () => 1), /at most 255/); // refused before encoding
  assert.throws(() => lua.call("a\0b", () => 1), /without NUL/);
  assert.equal(rt.stats().hostFunctions, before);
});

test("runaway re-entry between host and script fails cleanly with CalogNestingError", () => {
  using rt = new Runtime();
  using lua = rt.createContext("lua");
  rt.register("again", () => lua.eval("return again()"));
  try {
    lua.eval("return again()");
    assert.fail("should throw");
  } catch (err) {
    assert.ok(err instanceof CalogError);
    assert.match((err as Error).message, /nesting/);
  }
  // direct recursion inside Lua is a script error (stack overflow), not a crash
  assert.throws(() => lua.eval("local function f() return f() + 1 end return f()"), CalogScriptError);
  assert.equal(lua.eval("return 2"), 2);
  void CalogNestingError;
});

test("a script cannot end the host process", () => {
  using rt = new Runtime();
  using lua = rt.createContext("lua");
  assert.throws(() => lua.eval("os.exit(3)"), /os\.exit is refused in every profile/);
  using trusted = rt.createContext("lua", { capabilities: "trusted" });
  assert.throws(() => trusted.eval("os.exit(3)"), /os\.exit is refused in every profile/);
});

test("disposing a context from inside its own call is safe: the call ends with the dead error when the host function returns", () => {
  using rt = new Runtime();
  const lua = rt.createContext("lua");
  rt.register("selfDestruct", () => {
    lua.dispose();
    return "bye";
  });
  assert.throws(() => lua.eval("local r = selfDestruct() return r .. '!'"), CalogDeadError);
  assert.throws(() => lua.eval("return 1"), CalogDisposedError);
});

test("a script function disposed from inside its own call finishes the call", () => {
  using rt = new Runtime();
  using lua = rt.createContext("lua");
  let fref: ScriptFunction | undefined;
  rt.register("drop", () => fref?.dispose());
  lua.eval("function f() drop() return 'done' end");
  fref = lua.getFunction("f");
  assert.equal(fref(), "done");
  assert.equal(fref.disposed, true);
});

// A Lua function held by TypeScript and called with nil, booleans and numbers only runs in one protected call
// (no runner frame): every outcome must be the one ctx.call gives for the same function.
for (const thread of [false, true]) {
  test(`a held Lua function called with scalars (${thread ? "own thread" : "host thread"}): errors, values, limits as ctx.call`, () => {
    using rt = new Runtime();
    using lua = rt.createContext("lua", { thread });
    lua.eval(`
      function fail(n) error("bad " .. n) end
      function throwT(n) error({ code = n }) end
      function spin(n) while true do end end
      function swallow(n) while true do pcall(function() while true do end end) end end
      function grow(n) local t = {} for i = 1, 1e9 do t[i] = string.rep("x", n) .. i end end
      function shape(a, b, c) return { sum = a + b, flag = c, list = { a, b } } end
      function mk(k) return function(x) return x * k end end
      function str(n) return string.rep("ab", n) end
      function multi(a) return a, a + 1 end
      function nothing() end`);
    const same = (name: string, ...args: unknown[]) => {
      const f = lua.getFunction(name);
      let viaCall: unknown, viaFn: unknown;
      try { viaCall = lua.call(name, ...args); } catch (e) { viaCall = e; }
      try { viaFn = f(...args); } catch (e) { viaFn = e; }
      f.dispose();
      return [viaFn, viaCall] as const;
    };
    {
      const [a, b] = same("fail", 3);
      assert.ok(a instanceof CalogScriptError && b instanceof CalogScriptError);
      assert.match(a.message, /bad 3/);
      assert.equal(a.message, b.message);
      assert.ok(a.traceback && /fail/.test(a.traceback), `traceback: ${a.traceback}`);
    }
    {
      const [a, b] = same("throwT", 7);
      assert.ok(a instanceof CalogScriptError && b instanceof CalogScriptError);
      assert.deepEqual(a.value, { code: 7 });
      assert.deepEqual(b.value, { code: 7 });
    }
    for (const [name, limit] of [["spin", "steps"], ["swallow", "steps"], ["grow", "memory"]] as const) {
      lua.setLimits(limit === "steps" ? { steps: 200_000, memory: 0 } : { steps: 0, memory: 8 << 20 });
      const [a, b] = same(name, 10_000);
      assert.ok(a instanceof CalogLimitError, `${name}: ${a}`);
      assert.ok(b instanceof CalogLimitError, `${name}: ${b}`);
      assert.equal(a.limit, limit);
      assert.equal(b.limit, limit);
    }
    lua.setLimits({ steps: 0, memory: 0, timeoutMs: 100 });
    {
      const [a] = same("spin", true);
      assert.ok(a instanceof CalogLimitError && a.limit === "timeout", `${a}`);
    }
    lua.setLimits({ timeoutMs: 0 });
    assert.deepEqual(same("shape", 1, 2.5, false), [{ sum: 3.5, flag: false, list: [1, 2.5] }, { sum: 3.5, flag: false, list: [1, 2.5] }]);
    assert.deepEqual(same("str", 3), ["ababab", "ababab"]);
    assert.deepEqual(same("multi", 1), [1, 1]); // the first result
    assert.deepEqual(same("nothing", null, undefined), [null, null]);
    const [k1, k2] = same("mk", 6);
    assert.equal((k1 as ScriptFunction)(7), 42);
    assert.equal((k2 as ScriptFunction)(7), 42);
    (k1 as ScriptFunction).dispose();
    (k2 as ScriptFunction).dispose();
    assert.equal(lua.call("str", 1), "ab"); // usable after all of it
  });
}
