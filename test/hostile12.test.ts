// Twelfth hostile pass: every test is one attack that found a defect; what it expects is what README promises.
import assert from "node:assert/strict";
import { CalogScriptError, Runtime } from "../bindings/mod.ts";
import { test } from "./harness.ts";

const modes = [false, true] as const;
const where = (thread: boolean) => (thread ? "own thread" : "host thread");

function caught(f: () => unknown): Error & { value?: unknown; cause?: unknown } {
  try {
    f();
  } catch (e) {
    return e as Error & { value?: unknown; cause?: unknown };
  }
  throw new Error("expected a throw");
}

// ---- JavaScript: a host exception thrown through an index getter while calog reads a result ---------------------
// An array's index getter runs while calog reads the array (README: "read as JavaScript reads a[0]"). When the getter
// called a host function that threw, the error reached TypeScript with the exception's message but without its
// `cause`: the throw while reading the result took a path that dropped the marks telling the host exception (and a
// non-Error value thrown there was not the error's `value`, and was described as "[object Object]").

for (const thread of modes) {
  test(`js (${where(thread)}): a host exception thrown from an index getter while the result is read is the cause`, () => {
    using rt = new Runtime();
    const boom = new Error("host boom");
    rt.register("hostThrow", () => {
      throw boom;
    });
    rt.register("hostEcho", (x: unknown) => x);
    using js = rt.createContext("js", { thread });
    using lua = rt.createContext("lua", { thread });
    lua.eval("function viaJs(f) return f() end");
    js.eval(`Object.defineProperty(Array.prototype, 1, { get: function () { return hostThrow(); }, configurable: true });
      function holey() { return [1, , 3]; }
      1;`);
    using holey = js.getFunction("holey");
    const ways: [string, () => unknown][] = [
      ["eval", () => js.eval("[1, , 3]")],
      ["call", () => js.call("holey")],
      ["a script function", () => holey()],
      ["through Lua", () => lua.call("viaJs", holey)],
      ["an argument of a host function", () => js.eval("hostEcho([1, , 3])")],
    ];
    for (const [how, f] of ways) {
      const e = caught(f);
      assert.ok(e instanceof CalogScriptError, `${how}: ${e}`);
      assert.equal(e.message, "host boom", how);
      assert.ok("cause" in e && e.cause === boom, `${how}: the host exception is the cause`);
    }
    // a value the getter throws is the error's value, as a throw anywhere else
    js.eval("Object.defineProperty(Array.prototype, 1, { get: function () { throw { code: 5 }; }, configurable: true }); 1");
    const e = caught(() => js.eval("[1, , 3]"));
    assert.deepEqual(e.value, { code: 5 });
    assert.match(e.message, /code: 5/);
    assert.equal(js.eval("delete Array.prototype[1]; [1, 2].length"), 2, "the context goes on");
  });
}

// ---- JavaScript: errors with no text of their own -----------------------------------------------------------------
// `throw new TypeError()` reached TypeScript as a CalogScriptError whose message was "" (the kind of error only in
// the traceback), and a thrown array whose toString failed was described as "[object Object]".

test("js: an Error without a message is named by its kind; an array that cannot be described is an Array", () => {
  using rt = new Runtime();
  using js = rt.createContext("js", { thread: false });
  assert.equal(caught(() => js.eval("throw new Error()")).message, "Error");
  assert.equal(caught(() => js.eval("throw new TypeError()")).message, "TypeError");
  assert.equal(caught(() => js.eval("throw new RangeError('')")).message, "RangeError");
  assert.equal(caught(() => js.eval("throw new TypeError('typed')")).message, "typed", "a message is still the message");
  assert.equal(caught(() => js.eval('throw ""')).message, "", "a thrown empty string is still that string");
  // the getter throws an array whose reading throws again: neither can cross, and the message says so
  js.eval("Object.defineProperty(Array.prototype, 1, { get: function () { throw [1, , 3]; }, configurable: true }); 1");
  const e = caught(() => js.eval("[1, , 3]"));
  assert.ok(e instanceof CalogScriptError);
  assert.match(e.message, /cannot cross.*\[object Array\]/, e.message);
  assert.doesNotMatch(e.message, /\[object Object\]/, e.message);
});
