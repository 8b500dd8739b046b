// The twenty-fourth hostile pass (a): area 4 (thrown values) after the pass-23a fixes (a thrown string raised as a
// value, Lua's message handler for errors raised while another unwinds), and area 3 (strict) again. What it found,
// kept as regressions; runs unchanged under Bun and Deno.
import assert from "node:assert/strict";
import { CalogScriptError, type EngineName, Runtime } from "../bindings/mod.ts";
import { caught, modes, relay, scriptError, test, where } from "./harness.ts";

const engines: EngineName[] = ["lua", "js", "squirrel"];

// Lua's message handler (calog's, for an error no pcall of the script's catches) returned calog's own record
// { message, traceback } as the error object, and Lua hands the error object to every to-be-closed variable's __close
// as it unwinds: a __close saw that table, not what the script threw (error({ code = 9 }): e.code was nil, e[1]
// "(error object is a table value)"), so one raising e.code raised nil ("lua threw null"), and one raising e again
// made the message 'lua threw "first"' for error("first", 0). Under the script's own pcall it saw the value. Now the
// handler gives Lua the value itself and keeps the message and traceback aside.
for (const thread of modes) {
  test(`a Lua __close sees the error the script threw, caught or not (${where(thread)})`, () => {
    using rt = new Runtime();
    using lua = rt.createContext("lua", { thread });
    using js = rt.createContext("js", { thread });
    js.eval(relay.js);
    lua.eval(`
      seen = nil
      local function see(_, e) seen = type(e) == "table" and ("code " .. tostring(e.code)) or tostring(e) end
      function t1() local x <close> = setmetatable({}, { __close = see }) error({ code = 9 }) end
      function t2() local x <close> = setmetatable({}, { __close = function(_, e) error(e.code, 0) end }) error({ code = 9 }) end
      function t3() local x <close> = setmetatable({}, { __close = function(_, e) error(e, 0) end }) error("first", 0) end
      function t4() local x <close> = setmetatable({}, { __close = function(_, e) error(e, 0) end }) error({ code = 4 }) end
      function t5() local x <close> = setmetatable({}, { __close = see }) error(nil) end
      function caughtSeen(name) pcall(_G[name]) return seen end`);
    const e1 = scriptError(() => lua.call("t1"), "t1");
    assert.deepEqual(e1.value, { code: 9 });
    assert.equal(lua.get("seen"), "code 9", "uncaught: __close saw the table thrown");
    assert.equal(lua.call("caughtSeen", "t1"), "code 9", "under pcall");
    const want: Record<string, [string, unknown]> = {
      t2: ["9", 9],
      t3: ["first", "first"],
      t4: ["lua threw { code: 4 }", { code: 4 }],
    };
    for (const [name, [message, value]] of Object.entries(want)) {
      const e = scriptError(() => lua.call(name), name);
      assert.equal(e.message, message, name);
      assert.deepEqual(e.value, value, name);
      assert.match(e.traceback ?? "", /stack traceback/, `${name}: a traceback`);
      using fn = lua.getFunction(name);
      const h = scriptError(() => js.call("f", fn), `${name} via js`);
      assert.deepEqual(h.value, value, `${name} through JavaScript`);
    }
    const e5 = scriptError(() => lua.call("t5"), "t5");
    assert.equal(e5.message, "lua threw null");
    assert.equal(e5.value, null);
    assert.equal(lua.get("seen"), "nil", "error(nil): __close saw nil");
  });
}

// The error kept for the host while an error unwinds is the entry's own: an entry nested in it (a __close calling a
// host function that runs a failing Lua call and catches it) neither replaces it nor leaves its own behind.
for (const thread of modes) {
  test(`a Lua error unwinding through a __close that re-enters Lua keeps its value and message (${where(thread)})`, () => {
    using rt = new Runtime();
    using lua = rt.createContext("lua", { thread });
    let inner: unknown;
    rt.register("reenter", () => {
      inner = caught(() => lua.call("bad"));
      return 1;
    });
    lua.eval(`
      function bad() error({ inner = true }) end
      function t() local x <close> = setmetatable({}, { __close = function() reenter() end }) error({ code = 1 }) end
      function ok() local x <close> = setmetatable({}, { __close = function() reenter() end }) return 5 end`);
    for (let i = 0; i < 3; i++) {
      const e = scriptError(() => lua.call("t"), "t");
      assert.deepEqual(e.value, { code: 1 });
      assert.equal(e.message, "lua threw { code: 1 }");
      assert.ok(inner instanceof CalogScriptError && (inner as CalogScriptError).message === "lua threw { inner: true }", `${inner}`);
      assert.equal(lua.call("ok"), 5);
      assert.deepEqual((inner as CalogScriptError).value, { inner: true });
    }
  });
}

// The handler's kept error is matched against the one that ended the entry by value: a NaN thrown (unequal to itself)
// must still match, or it ended as the message "error" with no value (a regression caught while fixing the above).
for (const thread of modes) {
  test(`a NaN thrown through Lua keeps its value (${where(thread)})`, () => {
    using rt = new Runtime();
    using lua = rt.createContext("lua", { thread });
    using js = rt.createContext("js", { thread });
    lua.eval(relay.lua);
    lua.eval("function n() error(0/0) end");
    js.eval("function t() { throw NaN; }");
    assert.ok(Number.isNaN(scriptError(() => lua.call("n"), "error(0/0)").value));
    using t = js.getFunction("t");
    const e = scriptError(() => lua.call("f", t), "throw NaN via lua");
    assert.ok(Number.isNaN(e.value), `${e.message}`);
    assert.match(e.message, /nan/i);
  });
}

// The README said a thrown engine Error has no value and, elsewhere, that an error passing another engine is text
// whose value is that text (24a's finding B): both hold, and the README now says when each does.
test("a JavaScript Error has no value directly, and its text as value once through Lua or Squirrel", () => {
  using rt = new Runtime();
  using js = rt.createContext("js");
  js.eval('function t() { throw new Error("boom"); }');
  assert.equal(scriptError(() => js.call("t"), "direct").value, undefined);
  using t = js.getFunction("t");
  for (const via of ["lua", "squirrel"] as const) {
    using c = rt.createContext(via);
    c.eval(relay[via]);
    const e = scriptError(() => c.call("f", t), via);
    assert.equal(e.message, "boom");
    assert.equal(e.value, "boom");
  }
});
