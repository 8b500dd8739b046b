// Pass 45b (hostile review, the final pass over the hardening issue's areas: function values outliving their context,
// thrown values, Promises from host functions, the README's commands and examples). Each test fails on f6bf219
// because of the defect it names, in Bun and Deno.
import assert from "node:assert/strict";
import { CalogScriptError, Runtime } from "../bindings/mod.ts";
import { caught, modes, test, where } from "./harness.ts";

// Low (an unclear error: an empty message). A JavaScript Error without a message whose ToString fails without a
// toString the script wrote (its `toString` set to a non-function or to a registered host function that throws, or its
// `name` a getter that throws, so the built-in Error.prototype.toString throws) reaches TypeScript as a CalogScriptError whose message is "" and whose value is
// absent: nothing says what was thrown. Passed on through a host function into Lua, the "" becomes the text
// "CalogScriptError" (the host exception's name), value and message alike, which reads as calog's own failure. The
// README promises the message is the engine's text, else the message field, "else what was thrown, rendered", and
// the comment in dukErrorOf says such an Error (a name getter that throws) is named by its class. Cause:
// c/src/engines/duktape/duk_adapter.c describeSafe, the "no message" branch (about lines 479-487): when toStringSafe
// fails and toStringFailed finds no script-written toString, it pushes "" instead of a rendering. Fix: fall back to
// the class (`className(ctx, v)`, "[object Error]") or to "js threw [object Error] (its toString failed: <reason>)",
// as the non-Error branch below it does.
for (const thread of modes) {
  test(`js (${where(thread)}): an Error with no message whose built-in toString fails is not given an empty message`, () => {
    using rt = new Runtime({ output: "ignore" });
    using js = rt.createContext("js", { thread });
    using lua = rt.createContext("lua", { thread });
    rt.register("hnull", () => {
      throw null;
    });
    for (const src of [
      `var e = new Error(); e.toString = 5; throw e`,
      `var e = new TypeError(); Object.defineProperty(e, "name", { get: function () { throw new Error("nm"); } }); throw e`,
      `var e = new Error(); e.toString = hnull; throw e`, // a host function as its toString, throwing null
    ]) {
      const e = caught(() => js.eval(src));
      assert.ok(e instanceof CalogScriptError, String(e));
      assert.notEqual(e.message, "", `an empty message says nothing of what was thrown: ${src}`);
    }
    rt.register("hop", (f) => (f as (k: number) => unknown)(1));
    const f = js.eval(`(function () { var e = new Error(); e.toString = 5; throw e; })`);
    lua.eval(`function viaHop(f) return hop(f) end`);
    const h = caught(() => lua.call("viaHop", f));
    assert.ok(h instanceof CalogScriptError, String(h));
    assert.notEqual(h.message, "CalogScriptError", "through a host function the empty message became the exception's class name");
  });
}

// Low (an unclear error; the fix of pass 44b, attacked). A JavaScript object whose own toString throws a non-Error value
// says "(error object is an object value; its toString failed: [object Object])" for a thrown object (`throw { code:
// 1 }` inside it, or a Lua function value as its toString raising a table), "... failed: 1,2" for an array and
// "... failed: undefined" for undefined: the thrown value's ToString, which reads like the reason's text. Lua and
// Squirrel, which this fix copies, say what was raised: "(error object is a table value; its __tostring failed: it
// raised a table value)" / "... _tostring failed: it threw a table value)". Cause: duk_adapter.c toStringFailed
// (about line 444): `duk_safe_to_lstring(ctx, -1, NULL)` of whatever was thrown. Fix: an Error (duk_is_error) gives
// its text as now; a string as it is; anything else "it threw an object value" / "it threw undefined" (the kind named
// as calog names values elsewhere).
for (const thread of modes) {
  test(`js (${where(thread)}): an error object whose toString throws a non-Error says what it threw, as Lua and Squirrel do`, () => {
    using rt = new Runtime({ output: "ignore" });
    using js = rt.createContext("js", { thread });
    using lua = rt.createContext("lua", { thread });
    const l = caught(() => lua.eval(`error(setmetatable({ code = 1 }, { __tostring = function() error({}) end }))`));
    assert.match(l.message, /__tostring failed: it raised a table value/, `lua: ${l.message}`);
    for (const thrown of [`{ code: 1 }`, `[1, 2]`, `undefined`]) {
      const e = caught(() => js.eval(`throw { code: 1, toString: function () { throw ${thrown}; } }`));
      assert.ok(e instanceof CalogScriptError, String(e));
      assert.match(e.message, /toString failed: it threw/, `what the toString threw is not named: ${e.message}`);
    }
    const lf = lua.eval(`return function() error({ code = 7 }) end`);
    js.eval(`function t(f) { throw { toString: f }; }`);
    const e = caught(() => js.call("t", lf));
    assert.match(e.message, /toString failed: it threw/, `a Lua toString raising a table: ${e.message}`);
  });
}
