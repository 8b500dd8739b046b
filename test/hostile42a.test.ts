// Pass 42a (hostile review, the final pass over the hardening issue's areas: script-controlled recursion and silent
// changes under the strict policy). Each test fails on 18b0e04 because of the defect it names, in Bun and Deno.
import assert from "node:assert/strict";
import { CalogScriptError, Runtime } from "../bindings/mod.ts";
import { caught, modes, test, where } from "./harness.ts";

// Low (an unclear error). A Lua error object whose __tostring returns no string (a number, nil, a table) or raises a
// non-string is reported as "(error object is a table value; its __tostring failed)": it did not fail, and nothing says
// what went wrong (Lua's own tostring says "'__tostring' must return a string"). lua_engine.c:339-343 gives a reason
// only when the pcall left a string on the stack.
for (const thread of modes) {
  test(`lua (${where(thread)}): an error object whose __tostring returns no string gets an error that says why`, () => {
    using rt = new Runtime({ output: "ignore" });
    using lua = rt.createContext("lua", { thread });
    for (const ret of ["42", "nil", "{}", "error({})"]) {
      const e = caught(() => lua.eval(`error(setmetatable({}, { __tostring = function() return ${ret} end }))`));
      assert.ok(e instanceof CalogScriptError, String(e));
      assert.doesNotMatch(e.message, /its __tostring failed\)/, `no reason given for a __tostring returning ${ret}: ${e.message}`);
    }
  });
}

test("lua: the error says what a __tostring that gave no string did", () => {
  using rt = new Runtime({ output: "ignore" });
  using lua = rt.createContext("lua", { thread: false });
  const msg = (ret: string) => (caught(() => lua.eval(`error(setmetatable({}, { __tostring = function() return ${ret} end }))`)) as Error).message;
  assert.match(msg("42"), /^\(error object is a table value; its __tostring returned a number, not a string\)/);
  assert.match(msg("nil"), /its __tostring returned a nil, not a string/);
  assert.match(msg("error({})"), /its __tostring failed: it raised a table value\)/);
  assert.match(msg("error('boom')"), /its __tostring failed: .*boom\)/);
  assert.match(msg("'fine'"), /^fine/);
});
