// Value mapping between TypeScript and Lua (README "Value mapping"; design sec 2.5 rows that apply).
import assert from "node:assert/strict";
import { CalogValueError, Runtime, type ScriptFunction } from "../bindings/mod.ts";
import { test } from "./harness.ts";

function withLua(fn: (lua: ReturnType<Runtime["createContext"]>, rt: Runtime) => void, policy?: "strict" | "lenient") {
  return () => {
    using rt = new Runtime({ policy });
    using lua = rt.createContext("lua");
    lua.eval(`
      function id(...) return ... end
      function typeOf(x) return math.type(x) or type(x) end
      function len(s) return #s end
      function first(t) return t[1] end
      function count(t) local n = 0 for _ in pairs(t) do n = n + 1 end return n end
      function equals(a, b) return a == b end`);
    fn(lua, rt);
  };
}

test("numbers: integral -> Lua integer, fractional -> float, int64 exact as bigint", withLua((lua) => {
  assert.equal(lua.call("typeOf", 3), "integer");
  assert.equal(lua.call("typeOf", 3.5), "float");
  assert.equal(lua.call("typeOf", -0), "float"); // -0 keeps its sign as a float
  assert.ok(Object.is(lua.call("id", -0), -0));
  assert.equal(lua.call("typeOf", 2 ** 53), "integer");
  assert.equal(lua.call("typeOf", 2 ** 53 + 2), "float"); // beyond ±2^53 a number stays a (float) number
  assert.equal(lua.call("typeOf", 1e300), "float");
  assert.equal(lua.call("id", 2 ** 31), 2 ** 31);
  assert.equal(lua.call("id", -(2 ** 40)), -(2 ** 40));
  assert.equal(lua.call("typeOf", 5n), "integer");
  assert.equal(lua.call("id", 5n), 5); // small results come back as number
  assert.equal(lua.eval("return math.maxinteger"), 9223372036854775807n);
  assert.equal(lua.eval("return math.mininteger"), -9223372036854775808n);
  assert.equal(lua.eval("return 2^53 // 1 | 0"), 2 ** 53);
  assert.equal(lua.eval("return (2^53 // 1 | 0) + 1"), 9007199254740993n);
  assert.equal(lua.call("id", 9007199254740993n), 9007199254740993n);
  assert.ok(Number.isNaN(lua.eval("return 0/0") as number));
  assert.equal(lua.eval("return math.huge"), Infinity);
  assert.throws(() => lua.call("id", 2n ** 64n), CalogValueError);
}));

test("strings: UTF-8 both ways, NUL bytes survive, Uint8Array <-> byte string", withLua((lua) => {
  assert.equal(lua.call("id", "héllo ✓ 🎉"), "héllo ✓ 🎉");
  assert.equal(lua.call("id", "a\0b"), "a\0b");
  assert.equal(lua.call("len", "a\0b"), 3);
  assert.equal(lua.eval("return #'\\0\\0\\0'"), 3);
  assert.equal(lua.eval("return 'é'"), "é");
  assert.equal(lua.call("typeOf", new Uint8Array([1, 2])), "string");
  assert.equal(lua.call("len", new Uint8Array([0, 255, 0])), 3);
  assert.equal(lua.call("len", "€"), 3); // UTF-8 bytes in Lua
  const long = "x".repeat(100_000) + "é";
  assert.equal(lua.call("id", long), long); // grows the buffers
}));

test("a Lua string that is not valid UTF-8 comes back as Uint8Array, byte-exact", withLua((lua) => {
  const bad = lua.eval("return '\\xff\\xfeA\\0'");
  assert.ok(bad instanceof Uint8Array);
  assert.deepEqual([...(bad as Uint8Array)], [0xff, 0xfe, 0x41, 0]);
  // and goes back into Lua unchanged
  assert.equal(lua.call("equals", bad, lua.eval("return '\\xff\\xfeA\\0'")), true);
  assert.deepEqual(lua.call("id", bad), bad);
  const overlong = lua.eval("return '\\xc0\\x80'");
  assert.ok(overlong instanceof Uint8Array);
  const surrogate = lua.eval("return '\\xed\\xa0\\x80'");
  assert.ok(surrogate instanceof Uint8Array);
  assert.equal(lua.eval("return '\\u{10FFFF}'"), "\u{10FFFF}");
}));

test("arrays <-> sequences, plain objects <-> string-keyed tables, nested", withLua((lua) => {
  const v = { list: [1, "two", [3, [4]]], map: { a: 1, b: { c: true } }, empty: [] as unknown[] };
  assert.deepEqual(lua.call("id", v), v);
  assert.equal(lua.call("count", {}), 0);
  assert.equal(lua.call("count", [1, 2, 3]), 3);
  assert.equal(lua.call("first", ["a", "b"]), "a"); // JS index 0 is Lua index 1
  assert.deepEqual(lua.eval("return {10, 20, 30}"), [10, 20, 30]);
  assert.deepEqual(lua.eval("return {x = 1, y = {z = 'w'}}"), { x: 1, y: { z: "w" } });
}));

test("empty containers: [] and {} keep their kind through Lua; a table Lua makes empty comes out as []", withLua((lua) => {
  assert.deepEqual(lua.call("id", []), []);
  assert.deepEqual(lua.call("id", {}), {});
  assert.deepEqual(lua.eval("return {}"), []);
}));

test("Map with non-string keys <-> table; mixed tables come back as Map", withLua((lua) => {
  const m = new Map<unknown, unknown>([[1, "a"], [2.5, "b"], [true, "c"], ["k", "d"]]);
  const back = lua.call("id", m) as Map<unknown, unknown>;
  assert.ok(back instanceof Map);
  assert.equal(back.get(2.5), "b");
  assert.equal(back.get(true), "c");
  assert.equal(back.get("k"), "d");
  // a sequence-shaped Map is a sequence in Lua
  assert.equal(lua.call("count", m), 4);
  const mixed = lua.eval("return {'a', 'b', x = 1}") as Map<unknown, unknown>;
  assert.ok(mixed instanceof Map);
  assert.deepEqual([...mixed], [[1, "a"], [2, "b"], ["x", 1]]);
  assert.deepEqual(lua.call("id", mixed), mixed); // round trip
  const holes = lua.eval("return {[1] = 'a', [3] = 'c'}") as Map<unknown, unknown>;
  assert.deepEqual([...holes], [[1, "a"], [3, "c"]]);
  const intKeys = lua.eval("return {[10] = 'x'}") as Map<unknown, unknown>;
  assert.equal(intKeys.get(10), "x");
  assert.deepEqual(lua.eval("return {['__proto__'] = 1}"), JSON.parse('{"__proto__": 1}'));
}));

test("null and undefined -> nil; nil -> null; holes in arrays are nil", withLua((lua) => {
  assert.equal(lua.call("typeOf", null), "nil");
  assert.equal(lua.call("typeOf", undefined), "nil");
  assert.equal(lua.eval("return nil"), null);
  assert.equal(lua.eval("return"), null);
  // a Lua table cannot hold nil: strict refuses a list or map holding one (fidelity.test.ts has the rows)
  assert.throws(() => lua.call("count", [1, null, 3]), { name: "CalogValueError" });
}));

test("lenient: nil items and nil map values are dropped entering Lua", withLua((lua) => {
  assert.equal(lua.call("count", [1, null, 3]), 2);
  assert.equal(lua.call("count", { a: null, b: 1 }), 1);
}, "lenient"));

test("functions: JS functions are callable from Lua, Lua functions come back callable", withLua((lua, rt) => {
  lua.eval("function apply(f, ...) return f(...) end function make(k) return function(x) return x * k end end");
  assert.equal(lua.call("apply", (a: number, b: number) => a - b, 10, 3), 7);
  using triple = lua.call("make", 3) as ScriptFunction;
  assert.equal(typeof triple, "function");
  assert.equal(triple(14), 42);
  // a JS function that went into Lua and came back is the same function
  const f = (x: number) => x;
  assert.equal(lua.call("id", f), f);
  // a Lua function that went out and came back is the same Lua function
  using make = lua.getFunction("make");
  assert.equal(lua.call("equals", make, make), true);
  assert.equal(lua.call("equals", make, lua.get("make")), true);
  // functions nested in values
  const got = lua.eval("return {fn = function() return 'inner' end}") as { fn: ScriptFunction };
  assert.equal(got.fn(), "inner");
  got.fn.dispose();
  // host functions receive script functions and can call them
  rt.register("callTwice", (g) => (g as ScriptFunction)() as number * 2);
  assert.equal(lua.eval("return callTwice(function() return 21 end)"), 42);
}));

test("lenient policy: unrepresentable values become nil, bad keys are dropped", withLua((lua) => {
  assert.equal(lua.call("typeOf", new Date()), "nil");
  assert.equal(lua.call("typeOf", Symbol("s")), "nil");
  assert.deepEqual(lua.eval("return {[print] = 1, a = 2}"), { a: 2 });
  assert.equal(lua.eval("return coroutine.create(print)"), null);
  assert.equal(lua.call("typeOf", 2n ** 70n), "float");
}, "lenient"));
