// The twenty-third hostile pass (a): areas 3 (strict policy) and 4 (thrown values) again, after the pass-20b..22a
// fixes (a thrown text through a JavaScript hop, built-ins told by their slots). What it found, kept as regressions;
// runs unchanged under Bun and Deno.
import assert from "node:assert/strict";
import { type EngineName, Runtime } from "../bindings/mod.ts";
import { caught, modes, relay, scriptError, test, where } from "./harness.ts";

const engines: EngineName[] = ["lua", "js", "squirrel"];

// A JavaScript Uint8Array, ArrayBuffer or plain buffer thrown crosses as its bytes (a string in Lua and Squirrel),
// but its error's message is "[object Uint8Array]"; every engine raised a thrown string as the error's message, so
// at the first hop the bytes were replaced by that text: throw new Uint8Array([1, 255]) reached TypeScript through
// Lua, JavaScript or Squirrel with e.value "[object Uint8Array]" (direct: the bytes), strict and lenient, both thread
// kinds (lenient: a Float64Array's bytes too). Now a thrown string that is not the message is raised as that value.
for (const thread of modes) {
  for (const policy of ["strict", "lenient"] as const) {
    test(`a thrown JS byte buffer keeps its bytes through every hop (${policy}, ${where(thread)})`, () => {
      using rt = new Runtime({ policy });
      const ctx = Object.fromEntries(engines.map((e) => [e, rt.createContext(e, { thread })])) as Record<EngineName, ReturnType<Runtime["createContext"]>>;
      try {
        for (const e of engines) ctx[e].eval(relay[e]);
        const cases: [string, unknown][] = [
          ["new Uint8Array([1, 255])", new Uint8Array([1, 255])],
          ["new Uint8Array([0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80])", new Uint8Array([0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80])],
          ["new Uint8Array([104, 105]).buffer", "hi"],
          ["Uint8Array.allocPlain(2)", "\u0000\u0000"],
          ["new Uint8ClampedArray([0x80])", new Uint8Array([0x80])],
        ];
        if (policy === "lenient") cases.push(["new Float64Array([1.5])", new Uint8Array(new Float64Array([1.5]).buffer)]);
        for (const [src, want] of cases) {
          ctx.js.eval(`function t() { throw ${src}; }`);
          using t = ctx.js.getFunction("t");
          assert.deepEqual(scriptError(() => t(), src).value, want, `${src}, direct`);
          for (const a of engines) {
            assert.deepEqual(scriptError(() => ctx[a].call("f", t), src).value, want, `${src} through ${a}`);
            for (const b of engines) {
              using fb = ctx[b].getFunction("f");
              assert.deepEqual(scriptError(() => ctx[a].call("f", fb, t), src).value, want, `${src} through ${a} and ${b}`);
            }
          }
        }
      } finally {
        for (const e of engines) ctx[e].dispose();
      }
    });
  }
}

// The message of such a throw said nothing: a thrown buffer whose bytes are UTF-8 text crossed as a string, and a
// string value made its message the engine's placeholder "[object Uint8Array]". It is rendered as other values are.
test("a thrown JS buffer holding text is named in the message, not [object Uint8Array]", () => {
  using rt = new Runtime();
  using js = rt.createContext("js");
  const e = scriptError(() => js.eval("throw new Uint8Array([104, 105]);"), "Uint8Array");
  assert.equal(e.value, "hi");
  assert.equal(e.message, 'js threw "hi"');
  const s = scriptError(() => js.eval("throw '[object Uint8Array]';"), "a string");
  assert.equal(s.message, "[object Uint8Array]", "a thrown string is its own message, whatever it says");
});

// A function of another engine (or of the host) thrown through Lua was described by its metatable's __tostring:
// "calog function: 0x55d0c1a8", an address, where a Lua function thrown says "lua threw [function]".
for (const thread of modes) {
  test(`a foreign function thrown through Lua is named as a function (${where(thread)})`, () => {
    using rt = new Runtime();
    using lua = rt.createContext("lua", { thread });
    using js = rt.createContext("js", { thread });
    lua.eval(relay.lua);
    js.eval("function t() { throw function () {}; }");
    lua.eval("function u(g) error(g, 0) end");
    using t = js.getFunction("t");
    const e = scriptError(() => lua.call("f", t), "a JS function");
    assert.equal(typeof e.value, "function");
    assert.equal(e.message, "lua threw [function]");
    const h = scriptError(() => lua.call("u", () => 1), "a host function");
    assert.equal(h.message, "lua threw [function]");
  });
}

// An error a Lua to-be-closed variable's __close raises while an error unwinds replaces it (Lua's pcall returns the
// second), and calog's message was that second error, but e.value stayed the first: error("first") then "second"
// ended as the message "second" with the value "first", a table { code = 2 } raised by __close as the message
// 'lua threw "first"', and through a JavaScript hop the stale value was what the caller caught.
for (const thread of modes) {
  test(`an error raised by __close replaces the value too (${where(thread)})`, () => {
    using rt = new Runtime();
    using lua = rt.createContext("lua", { thread });
    using js = rt.createContext("js", { thread });
    js.eval(relay.js);
    lua.eval(`
      local function closing(v) return setmetatable({}, { __close = function() error(v, 0) end }) end
      function t1() local x <close> = closing("second") error("first", 0) end
      function t2() local x <close> = closing({ code = 2 }) error("first", 0) end
      function t3() local x <close> = closing("second") error({ code = 1 }, 0) end
      function t4() local x <close> = closing("second") local y = nil + 1 end`);
    const want: Record<string, [string, unknown]> = {
      t1: ["second", "second"],
      t2: ["lua threw { code: 2 }", { code: 2 }],
      t3: ["second", "second"],
      t4: ["second", "second"],
    };
    for (const [name, [message, value]] of Object.entries(want)) {
      const e = scriptError(() => lua.call(name), name);
      assert.equal(e.message, message, name);
      assert.deepEqual(e.value, value, name);
      using fn = lua.getFunction(name);
      assert.deepEqual(scriptError(() => js.call("f", fn), `${name} via js`).value, value, `${name} through JavaScript`);
    }
  });
}
