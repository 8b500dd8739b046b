// Pass 46a (hostile review, the final pass over the hardening issue's areas: script-controlled recursion and silent
// changes under the strict policy). Each test fails on e7b19d1 because of the defect it names, in Bun and Deno.
import assert from "node:assert/strict";
import { CalogScriptError, Runtime } from "../bindings/mod.ts";
import { caught, modes, test, where } from "./harness.ts";

// Low (an unclear error: an empty message). An error object whose description is "" is taken as saying nothing when
// its value crosses: it is rendered ("lua threw []", "js threw { a: 1, toString: [function] }", "squirrel threw {}").
// When the value does NOT cross (or is the engine's own Error object), the CalogScriptError's message is the EMPTY
// string, with no value and no cause (only a traceback), in all three engines: a Lua table holding a coroutine whose
// __tostring returns "", a JavaScript Error whose built-in ToString gives "" (`e.name = ""` with no message; README:
// "new Error(), new TypeError(): its ToString names it, not an empty message"; pass 45a: "never an empty message"), a
// JavaScript Error or array (an array with a named property cannot cross) whose own toString returns "", a Squirrel
// instance whose _tostring returns "" (without the _tostring it reads "squirrel threw an instance value that cannot
// cross: ..."). The README: "a value that cannot cross is named with the reason". Cause: src/runtime.ts
// thrownMessage (line 405: `value === undefined` returns the message as is) renders an empty message only when a value came; duk_adapter.c calog__dukScriptError
// (line 623) names a value that cannot cross only when the message starts "[object ", and describeSafe (line 500-509)
// keeps an Error's empty ToString; sq_engine.c errorMessage (line 209) returns an empty _tostring result as said;
// lua_engine.c msgHandler (line 342) keeps an empty __tostring result before its "cannot cross" branch.
// Fix: an empty description says nothing in every engine: fall back to "<engine> threw a <type> value that cannot
// cross: <why>", or the class for an Error ("js threw [object Error]" / its constructor name).
for (const thread of modes) {
  test(`lua, js, squirrel (${where(thread)}): an error object whose description is empty gives a message`, () => {
    using rt = new Runtime({ output: "ignore" });
    using lua = rt.createContext("lua", { thread });
    using js = rt.createContext("js", { thread });
    using sq = rt.createContext("squirrel", { thread });
    const ref = caught(() => lua.eval(`error(setmetatable({}, { __tostring = function() return "" end }))`));
    assert.ok(ref instanceof CalogScriptError, String(ref));
    assert.equal(ref.message.split("\n")[0], "lua threw []", "the reference case: a value that crosses is rendered");
    const empty: string[] = [];
    for (const [ctx, src] of [
      [lua, `error(setmetatable({ co = coroutine.create(print) }, { __tostring = function() return "" end }))`],
      [js, `var e = new Error(); e.name = ""; throw e`],
      [js, `var e = new RangeError(); e.name = ""; throw e`],
      [js, `var e = new Error(""); e.toString = function () { return "" }; throw e`],
      [js, `var a = [1]; a.toString = function () { return "" }; throw a`],
      [sq, `class E { function _tostring() { return "" } }; throw E()`],
    ] as const) {
      const e = caught(() => ctx.eval(src));
      assert.ok(e instanceof CalogScriptError, String(e));
      if (e.message.split("\n")[0] === "") empty.push(src);
    }
    assert.deepEqual(empty, [], "an empty message (no value, no cause)");
  });
}
