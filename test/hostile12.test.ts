// Twelfth hostile pass: every test is one attack that found a defect; what it expects is what README promises.
import assert from "node:assert/strict";
import { CalogScriptError, Runtime } from "../bindings/mod.ts";
import { caught, modes, test, where } from "./harness.ts";

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
  const empty = caught(() => js.eval('throw ""'));
  assert.equal(empty.value, "", "a thrown empty string is still that string");
  assert.equal(empty.message, 'js threw ""', "and an empty text says nothing: it is rendered");
  // the getter throws an array whose reading throws again: neither can cross, and the message says so
  js.eval("Object.defineProperty(Array.prototype, 1, { get: function () { throw [1, , 3]; }, configurable: true }); 1");
  const e = caught(() => js.eval("[1, , 3]"));
  assert.ok(e instanceof CalogScriptError);
  assert.match(e.message, /cannot cross.*\[object Array\]/, e.message);
  assert.doesNotMatch(e.message, /\[object Object\]/, e.message);
});

// ---- Squirrel: a thrown value's _tostring -------------------------------------------------------------------------
// README: the message is the engine's when it says something (a Lua __tostring...). A Squirrel instance or table with
// a _tostring metamethod was described as "squirrel threw {}" or "cannot cross", its own text unused (noticed by the
// twelfth pass). Now it speaks, inside the entry's limits; a _tostring that throws is named in the message.

for (const thread of [false, true]) {
  test(`squirrel (${thread ? "own thread" : "host thread"}): a thrown value's _tostring is its message`, () => {
    using rt = new Runtime();
    rt.register("hostThrow", () => {
      throw new Error("host boom");
    });
    using sq = rt.createContext("squirrel", { thread, limits: { timeoutMs: 200 } });
    const err = (src: string) => caught(() => sq.eval(src));
    assert.equal(err('class E { code = 7; function _tostring() { return "E" + code; } } throw E();').message, "E7");
    const t = err('local t = { code = 7 }; t.setdelegate({ function _tostring() { return "T" + this.code; } }); throw t;');
    assert.equal(t.message, "T7");
    assert.deepEqual(t.value, { code: 7 });
    assert.equal(err('class E { function _tostring() { throw "bad"; } } throw E();').message,
      "(error object is an instance value; its _tostring failed: bad)");
    const h = err('class E { function _tostring() { return hostThrow(); } } throw E();');
    assert.equal(h.message, "(error object is an instance value; its _tostring failed: host boom)");
    assert.equal("cause" in h, false);
    assert.match(err('class E { function _tostring() { return 5; } } throw E();').message, /^\(error object is an instance value; its _tostring returned an integer, not a string\)$/);
    assert.equal(err("throw { code = 1 };").message, "squirrel threw { code: 1 }");
    assert.throws(() => sq.eval('class E { function _tostring() { while (true) {} } } throw E();'), (e: unknown) => (e as { limit?: string }).limit === "timeout");
    assert.equal(sq.eval("return 1 + 1;"), 2);
  });
}

// ---- JavaScript: a plain value thrown by an index getter while an argument is read ---------------------------------
// The read of a host function's arguments kept the marks of a throw (above) but not its value: `throw { code: 5 }`
// from an array's index getter read "[object Object]" with no `value` (noticed by the twelfth pass).

for (const thread of [false, true]) {
  test(`js (${thread ? "own thread" : "host thread"}): a value thrown while an argument is read is the error's value`, () => {
    using rt = new Runtime();
    rt.register("hostEcho", (x: unknown) => x);
    using js = rt.createContext("js", { thread });
    js.eval("Object.defineProperty(Array.prototype, 1, { get: function () { throw { code: 5 }; }, configurable: true }); 1");
    const e = caught(() => js.eval("hostEcho([1, , 3])"));
    assert.ok(e instanceof CalogScriptError);
    assert.equal(e.message, "js threw { code: 5 }");
    assert.deepEqual(e.value, { code: 5 });
    assert.equal(js.eval("try { hostEcho([1, , 3]); 'no' } catch (e) { e.code }"), 5);
    assert.equal(js.eval("delete Array.prototype[1]; hostEcho([1, , 3]).length"), 3);
  });
}

// ---- a host function throwing a plain object ------------------------------------------------------------------------
// A script's thrown object is rendered (`lua threw { code: 1 }`), but a host function's was its String(): a plain
// object read "[object Object]", an array "1,2", a null-prototype object "(it has no readable message)" (noticed by
// the twelfth pass). Now an object's own string `message`, else a toString of its own, else the value rendered.

test("a host function's thrown object gives a readable message; the cause is the object itself", () => {
  using rt = new Runtime();
  const thrown: unknown[] = [
    { code: 7 }, { message: "custom", code: 1 }, [1, 2], [], Object.assign(Object.create(null), { a: 1 }),
    { toString: () => "mine" }, new Uint8Array(3), new TypeError("te"), "s",
  ];
  const want = ["a host function threw { code: 7 }", "custom", "a host function threw [1, 2]", "a host function threw []",
    "a host function threw { a: 1 }", "mine", "a host function threw [3 bytes]", "te", "s"];
  let which = 0;
  rt.register("bad", () => {
    throw thrown[which];
  });
  for (const engine of ["lua", "js", "squirrel"] as const) {
    using ctx = rt.createContext(engine, { thread: false });
    for (which = 0; which < thrown.length; which++) {
      const e = caught(() => ctx.eval(engine === "js" ? "bad()" : "return bad()"));
      assert.ok(e instanceof CalogScriptError);
      assert.equal(e.message, want[which], `${engine} ${which}`);
      assert.equal(e.cause, thrown[which]);
    }
  }
});
