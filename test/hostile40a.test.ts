// Pass 40a (hostile review, the final pass over the hardening issue's areas: script-controlled recursion and silent
// changes under the strict policy). Every test here fails on c929d16 because of the defect it names; fixed in the commit after it.
import assert from "node:assert/strict";
import { Runtime } from "../bindings/mod.ts";
import { modes, test, where } from "./harness.ts";

// Medium (a silently changed value under the strict policy). A Squirrel table keeps a float key apart from the integer
// of the same value (`t[3.0]` and `t[3]` are two keys; `3 in t` is false when only `t[3.0]` is set). Such a table
// handed to a Lua function value (an identity function) comes back with the INTEGER key 3: `3.0 in r` is false
// (a lookup by the key the script stored misses), under strict, without a CalogValueError. README, Fidelity: map keys
// "string / int / real: kept" in Lua; "a float crossing straight between Lua and Squirrel stays a float"; and the same
// table refuses the neighbouring cases for exactly this reason: a lone -0.0 key ("the key -0.0 would become the key 0
// in Lua") and an integral float key beyond 2^53 ("would become an integer key in Lua ... comes back as another
// type"). Cause: lua_adapter.c:279-286 refuses an integral CALOG_REAL key only when |k| >= 2^53 (the case where
// TypeScript would see a bigint); below that Lua's lua_rawset turns it into an integer key. An integral REAL key
// below 2^53 only ever comes from Squirrel (TypeScript sends an integral number as int64, JavaScript keys are
// property names), so strict could refuse every integral float key there (hostile9's "float keys that do not collide
// still cross" passes `t[1.0]` and would change with it).
for (const thread of modes) {
  test(`squirrel -> lua (${where(thread)}): a float key 3.0 does not come back as the integer key 3 under strict`, () => {
    using rt = new Runtime({ output: "ignore" });
    using lua = rt.createContext("lua", { thread });
    lua.eval("function id(x) return x end");
    using sq = rt.createContext("squirrel", { thread });
    sq.eval(`function roundTrip(f) {
      local t = {}; t[3.0] <- "a";
      assert(!(3 in t)); // Squirrel: two keys
      local r;
      try { r = f(t); } catch (e) { return "refused: " + e; }
      local s = "";
      foreach (k, v in r) s += typeof k + " " + k + "=" + v;
      return s;
    }`);
    using id = lua.getFunction("id");
    const r = sq.call("roundTrip", id) as string;
    assert.ok(r === "float 3=a" || /^refused: .*(float|integer) key/.test(r), `the float key came back as: ${r}`);
  });
}

// The same one level down, beside a float key that is not integral (which crosses exactly): the key 1.0 comes back
// as the integer 1 while 2.5 stays a float.
test("squirrel -> lua: a nested float key 1.0 under strict is kept or refused, never turned into the integer key 1", () => {
  using rt = new Runtime({ output: "ignore" });
  using lua = rt.createContext("lua", { thread: false });
  lua.eval("function id(x) return x end");
  using sq = rt.createContext("squirrel", { thread: false });
  sq.eval(`function run(f) {
    local inner = {}; inner[1.0] <- "x"; inner[2.5] <- "y";
    local r;
    try { r = f({ a = inner }); } catch (err) { return "refused: " + err; }
    local s = []; foreach (k, v in r.a) s.append(typeof k); s.sort(); return s;
  }`);
  using id = lua.getFunction("id");
  const r = sq.call("run", id);
  if (typeof r === "string") assert.match(r, /refused: .*key/);
  else assert.deepEqual(r, ["float", "float"], `a float key came back as an integer: ${JSON.stringify(r)}`);
});

// Same cause, worse outcome: two float keys 1.0 and 2.0 become Lua's sequence 1..2, and the table comes back to
// Squirrel as an ARRAY ["a", "b"] indexed from 0: the value the script stored under 1.0 ("a") is now at 0, and 1 holds
// "b". Under strict, no error.
for (const thread of modes) {
  test(`squirrel -> lua (${where(thread)}): a table with float keys 1.0 and 2.0 does not come back as an array under strict`, () => {
    using rt = new Runtime({ output: "ignore" });
    using lua = rt.createContext("lua", { thread });
    lua.eval("function id(x) return x end");
    using sq = rt.createContext("squirrel", { thread });
    sq.eval(`function run(f) {
      local t = {}; t[1.0] <- "a"; t[2.0] <- "b";
      local r;
      try { r = f(t); } catch (e) { return "refused: " + e; }
      local s = typeof r + ":";
      local ks = []; foreach (k, v in r) ks.append(typeof k + " " + k + "=" + v); ks.sort();
      foreach (x in ks) s += " " + x;
      return s;
    }`);
    using id = lua.getFunction("id");
    const r = sq.call("run", id) as string;
    assert.ok(r === "table: float 1=a float 2=b" || /^refused: .*key/.test(r), `the table came back as: ${r}`);
  });
}
