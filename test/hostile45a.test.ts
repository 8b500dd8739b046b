// Pass 45a (hostile review, the final pass over the hardening issue's areas: script-controlled recursion and silent
// changes under the strict policy). Each test fails on f6bf219 because of the defect it names, in Bun and Deno.
import assert from "node:assert/strict";
import { CalogScriptError, Runtime } from "../bindings/mod.ts";
import { caught, modes, test, where } from "./harness.ts";

// Low (an unclear error). Pass 44 made a JavaScript error object whose own toString fails say so and why
// ("(error object is an object value; its toString failed: Error: why)"), as Lua's __tostring and Squirrel's _tostring
// do. When that toString is a registered host function (a TypeScript function, which the README counts among "a
// toString a script wrote ... or a function value") that throws, the reason is dropped again: a plain object reads
// "js threw { a: 1, toString: [function] }" and an Error with an empty message gives an EMPTY message ("") with no
// value and no cause. The same host function as a Lua __tostring or a Squirrel _tostring gives
// "(error object is a table value; its __tostring failed: hostboom)" / "(... instance value; its _tostring failed: hostboom)".
// The same TypeScript function passed in as a function value and set as toString does say
// "(error object is an object value; its toString failed: Error: hostboom)".
// Cause: duk_adapter.c ownToString (line 432-438) counts a toString as the script's own only when it is not a C
// function or is a function value (wrapperFn, line 1481: fnTrampoline only); a registered global is a
// nativeTrampoline C function (line 1580), so it passes for a built-in and toStringFailed gives up (describeSafe line
// 480: "" for an Error; line 507: className, then rendered). Fix: count nativeTrampoline (any calog C function) as
// the script's own in ownToString and builtinToString (line 366).
for (const thread of modes) {
  test(`js (${where(thread)}): an error object whose toString is a host function that throws says why`, () => {
    using rt = new Runtime({ output: "ignore" });
    rt.register("boom", () => {
      throw new TypeError("hostboom");
    });
    using js = rt.createContext("js", { thread });
    for (const src of [
      `var e = { a: 1 }; e.toString = boom; throw e`,
      `var e = new Error(""); e.toString = boom; throw e`,
    ]) {
      const e = caught(() => js.eval(src));
      assert.ok(e instanceof CalogScriptError, String(e));
      const first = e.message.split("\n")[0] ?? "";
      assert.notEqual(first, "", `empty message for ${src}`);
      assert.match(first, /toString/, `the failing toString is not mentioned: ${JSON.stringify(first)} (${src})`);
      assert.match(first, /hostboom/, `the reason the toString failed is dropped: ${JSON.stringify(first)} (${src})`);
    }
  });
}

// Low (an unclear error; same cause as above, through builtinToString, duk_adapter.c line 366-371). A thrown array
// whose toString is a registered host function returning text: the README says the message is the engine's when it
// says something ("a toString a script wrote"); a script-written toString gives its text ("script-text"), a function
// value too, but a registered global is taken for the built-in join, and the message becomes
// "js threw an object that cannot cross: a JS array with named properties ..." (the toString property itself).
for (const thread of modes) {
  test(`js (${where(thread)}): a thrown array whose toString is a registered host function gives its text`, () => {
    using rt = new Runtime({ output: "ignore" });
    rt.register("custom", () => "custom-text");
    using js = rt.createContext("js", { thread });
    const e = caught(() => js.eval(`var a = [1, 2]; a.toString = custom; throw a`));
    assert.ok(e instanceof CalogScriptError, String(e));
    assert.equal(e.message.split("\n")[0], "custom-text");
  });
}

// Low (an unclear error: an empty message). An Error without a message is described by its ToString (README: "new
// Error(), new TypeError(): its ToString names it, not an empty message"). When that built-in ToString fails (the
// error's `name` is a getter that throws, a Symbol, or an object whose toString throws), the uncaught error's message is
// the EMPTY string, with no value and no cause: nothing says what was thrown, nor why it could not be described. An
// Error whose `message` getter throws reads "js threw [object Error] (its description could not be read)", and
// dukErrorOf's comment (duk_adapter.c line 543-545) names "an Error whose name getter throws" among what it describes by
// its class. Cause: duk_adapter.c describeSafe, the no-message branch (line 479-483): when toStringSafe fails and the
// toString is the built-in (toStringFailed gives false), it pushes "" instead of failing the description (so that
// dukErrorOf's class fallback runs) or naming the failure. Fix: fall back to the class ("[object Error]", "TypeError")
// with the reason the ToString failed, never an empty message.
for (const thread of modes) {
  test(`js (${where(thread)}): an Error without a message whose built-in ToString fails has a message`, () => {
    using rt = new Runtime({ output: "ignore" });
    rt.register("boom", () => {
      throw new TypeError("hostboom");
    });
    using js = rt.createContext("js", { thread });
    for (const src of [
      `var e = new Error(""); Object.defineProperty(e, "name", { get: function () { throw new Error("namefail") } }); throw e`,
      `var e = new TypeError(); Object.defineProperty(e, "name", { get: function () { throw new Error("namefail") } }); throw e`,
      `var e = new Error(""); Object.defineProperty(e, "name", { get: boom }); throw e`,
      `var e = new Error(""); e.name = Symbol("s"); throw e`,
      `var e = new Error(); e.name = { toString: function () { throw new Error("inner") } }; throw e`,
    ]) {
      const e = caught(() => js.eval(src));
      assert.ok(e instanceof CalogScriptError, String(e));
      const first = e.message.split("\n")[0] ?? "";
      assert.notEqual(first, "", `an empty message for ${src}`);
      assert.match(first, /Error/, `the message names nothing: ${JSON.stringify(first)} (${src})`);
    }
  });
}
