// The nineteenth hostile pass (b): function lifetimes under forced GC, every value kind against the fidelity table,
// and thrown values of every kind. What it found, kept as regressions; runs unchanged under Bun and Deno.
import assert from "node:assert/strict";
import { CalogScriptError, type EngineName, Runtime } from "../bindings/mod.ts";
import { caught, modes, test, where } from "./harness.ts";

const engines: EngineName[] = ["lua", "js", "squirrel"];

// A JavaScript native whose failure had an empty message had its error record replaced by the bare status message:
// a host function that threw "" or `new TypeError()` reached TypeScript from a JavaScript context as "host function
// failed" with no `cause` (Lua and Squirrel kept it), and a value another engine threw whose text is empty (a Lua table
// with a __tostring returning "") was lost on its way through JavaScript, which saw an Error "script error" instead of
// the table. Now the record is kept; an Error without a message is named by its String() ("TypeError") everywhere.
for (const thread of modes) {
  test(`a host exception or a thrown value with an empty message keeps its cause and value (${where(thread)})`, () => {
    using rt = new Runtime();
    let thrown: unknown;
    rt.register("boom", () => {
      throw thrown;
    });
    for (const engine of engines) {
      using ctx = rt.createContext(engine, { thread });
      for (const value of ["", new TypeError(), new Error("")]) {
        thrown = value;
        const e = caught(() => ctx.eval(engine === "js" ? "boom()" : "return boom()"));
        assert.ok(e instanceof CalogScriptError, `${engine}: ${e}`);
        assert.ok("cause" in e && e.cause === value, `${engine}: the cause of ${String(value) || '""'} (got ${e.message})`);
        assert.notEqual(e.message, "host function failed", engine);
        if (value instanceof TypeError) assert.equal(e.message, "TypeError", engine);
      }
    }
    using lua = rt.createContext("lua", { thread });
    using js = rt.createContext("js", { thread });
    js.eval("function callit(f) { return f() } function catchit(f) { try { f() } catch (e) { return e.code } }");
    const f = lua.eval("return function() error(setmetatable({ code = 3 }, { __tostring = function() return '' end })) end");
    assert.equal(js.call("catchit", f), 3);
    const e = caught(() => js.call("callit", f));
    assert.deepEqual(e.value, { code: 3 });
  });
}

// Strict policy, JavaScript: bytes that already encode a surrogate pair (CESU-8, invalid UTF-8) changed silently. Duktape
// read them as the character the pair makes, so the bytes [ED A0 BD ED B8 80] sent to a JavaScript function came back
// as the string "😀" (F0 9F 98 80), from TypeScript and from Lua alike, and a Lua table with both spellings as keys
// arrived with one key. Such bytes now enter JavaScript as a Uint8Array (as a symbol-prefixed string does) and come
// back exactly; as a map key, strict refuses them (lenient: the character's name, the last wins).
for (const thread of modes) {
  test(`js: bytes holding an encoded surrogate pair cross exactly (${where(thread)})`, () => {
    const cesu = new Uint8Array([0x78, 0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80]);
    for (const policy of ["strict", "lenient"] as const) {
      using rt = new Runtime({ policy });
      using js = rt.createContext("js", { thread });
      using lua = rt.createContext("lua", { thread });
      js.eval("function id(x) { return x } function kind(x) { return x instanceof Uint8Array ? x.length : typeof x }");
      assert.deepEqual(js.call("id", cesu), cesu, policy);
      assert.equal(js.call("kind", cesu), 7, policy);
      const id = js.getFunction("id");
      lua.eval("function viaJs(f, s) return f(s) == s end function keys(f) local t = f({ ['\\xf0\\x9f\\x98\\x80'] = 1, ['\\xed\\xa0\\xbd\\xed\\xb8\\x80'] = 2 }) local n = 0 for _ in pairs(t) do n = n + 1 end return n end");
      assert.equal(lua.call("viaJs", id, cesu), true, policy);
      if (policy === "strict") assert.throws(() => lua.call("keys", id), /encoded surrogate pair/);
      else assert.equal(lua.call("keys", id), 1);
      assert.equal(js.call("kind", "😀"), "string", "text stays text");
    }
  });
}

// A Map crossed as its own `[Symbol.iterator]` said, not as what it holds: an instance-level iterator (or `keys`) made
// `new Map([["x", 1]])` arrive as { a: 2 } when it yielded ["a", 1] then ["a", 2] (a pair lost without a word under
// strict), and yielding 1 then 1n slipped past the strict check for keys that are one integer key in a script. Now a
// Map is read with the intrinsic Map.prototype.entries/keys/has: it crosses as its contents, whatever its own
// properties say.
test("a Map crosses as what it holds, whatever its own iterator says", () => {
  using rt = new Runtime();
  for (const engine of engines) {
    using ctx = rt.createContext(engine, { thread: false });
    ctx.eval(engine === "lua" ? "function id(x) return x end" : "function id(x) { return x }");
    const m = new Map<unknown, unknown>([["x", 1]]);
    Object.defineProperty(m, Symbol.iterator, { value: function* () { yield ["a", 1]; yield ["a", 2]; } });
    Object.defineProperty(m, "keys", { value: function* () { yield "a"; } });
    assert.deepEqual(ctx.call("id", m), { x: 1 }, engine);
    const m2 = new Map<unknown, unknown>([[1, "one"], [1n, "big"]]);
    Object.defineProperty(m2, Symbol.iterator, { value: function* () { yield ["z", 0]; } });
    Object.defineProperty(m2, "keys", { value: function* () { yield "z"; } });
    assert.throws(() => ctx.call("id", m2), /same integer key/, engine);
  }
});
