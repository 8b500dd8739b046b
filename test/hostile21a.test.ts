// The twenty-first hostile pass (a): the fixes of pass 20b (built-ins told by their internal slots, thrown strings
// crossing a JavaScript hop unchanged) and their neighbours. What it found, kept as regressions; runs unchanged under
// Bun and Deno.
import assert from "node:assert/strict";
import { CalogValueError, type EngineName, Runtime } from "../bindings/mod.ts";
import { caught, idSource, modes, test, where } from "./harness.ts";

const engines: EngineName[] = ["lua", "js", "squirrel"];

// A view or a buffer was told by its prototype, not its internal slots: a Float64Array whose prototype was set to
// Uint8Array.prototype crossed under strict as its items converted to bytes ([1.5, 300] as [1, 44]), an Int16Array or a
// Uint16Array under Uint8Array.prototype or ArrayBuffer.prototype the same way ([258, 2] as [2, 2]), and a
// Uint8ClampedArray subclass's own byteOffset / byteLength getters chose which bytes crossed ([1, 2, 3] as [2]). An
// ArrayBuffer under Uint8Array.prototype, or a Proxy of a Uint8Array, was refused as "a getter or a Proxy trap threw:
// Receiver should be a typed array view". Now a view is told by its slots and read through the intrinsics: strict sends
// a Uint8Array, a Uint8ClampedArray or an ArrayBuffer under its own prototype (or a subclass's) and refuses every other,
// naming what it is; lenient sends the bytes it holds.
for (const thread of modes) {
  test(`a view or a buffer is told by its internal slots, not its prototype (${where(thread)})`, () => {
    const under = <T extends object>(o: T, p: object): T => Object.setPrototypeOf(o, p);
    const f64 = new Float64Array([1.5, 300]);
    const u16 = new Uint16Array([258, 2]);
    class Clamped extends Uint8ClampedArray {
      override get byteOffset(): number { return 1; }
      override get byteLength(): number { return 1; }
    }
    const ab = new ArrayBuffer(2);
    new Uint8Array(ab).set([7, 8]);
    for (const engine of engines) {
      using strict = new Runtime();
      using ctx = strict.createContext(engine, { thread });
      ctx.eval(idSource[engine]);
      for (const [what, v] of [
        ["Float64Array", under(new Float64Array(f64), Uint8Array.prototype)],
        ["Float64Array", under(new Float64Array(f64), Uint8ClampedArray.prototype)],
        ["Uint16Array", under(new Uint16Array(u16), Uint8Array.prototype)],
        ["Uint16Array", under(new Uint16Array(u16), ArrayBuffer.prototype)],
        ["Uint8Array", under(new Uint8Array([1, 2]), ArrayBuffer.prototype)],
        ["ArrayBuffer", under(ab.slice(0), Uint8Array.prototype)],
        ["DataView", under(new DataView(ab.slice(0)), Uint8Array.prototype)],
      ] as const) {
        const e = caught(() => ctx.call("id", [v]));
        assert.ok(e instanceof CalogValueError, `${engine} ${what}: ${e}`);
        assert.match(e.message, new RegExp(`^an? ${what} whose prototype was replaced \\(\\w+\\.prototype\\)`), engine);
      }
      assert.deepEqual(ctx.call("id", new Clamped([1, 2, 3])), "\x01\x02\x03", engine);
      assert.deepEqual(ctx.call("id", new Uint8Array([1, 2])), "\x01\x02", engine);
      assert.deepEqual(ctx.call("id", ab), "\x07\x08", engine);
      const p = caught(() => ctx.call("id", new Proxy(new Uint8Array([1]), {})));
      assert.ok(p instanceof CalogValueError);
      assert.match(p.message, /^a Proxy cannot cross/);
      assert.match(caught(() => ctx.call("id", (function* () {})())).message, /^a generator cannot cross/);

      using lenient = new Runtime({ policy: "lenient" });
      using lctx = lenient.createContext(engine, { thread });
      lctx.eval(idSource[engine]);
      const raw = (b: ArrayBufferView | ArrayBuffer) => new Uint8Array(b instanceof ArrayBuffer ? b.slice(0) : b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
      const bytes = (x: unknown) => (typeof x === "string" ? new TextEncoder().encode(x) : x);
      assert.deepEqual(bytes(lctx.call("id", under(new Float64Array(f64), Uint8Array.prototype))), raw(f64), engine);
      assert.deepEqual(bytes(lctx.call("id", under(new Uint16Array(u16), ArrayBuffer.prototype))), raw(u16), engine);
      assert.deepEqual(lctx.call("id", new Clamped([1, 2, 3])), "\x01\x02\x03", engine);
      assert.equal(lctx.call("id", new Proxy(new Uint8Array([1]), {})), null, engine);
    }
  });
}

// The pass-20b rule (a built-in under a null or Object.prototype prototype is no plain object) left out the built-ins
// util.types also tells: a WeakMap, a WeakSet, a generator, a Map or Set iterator whose prototype was set to null crossed
// as `{}` under strict, while under their own prototype strict refused them. Now strict refuses them; lenient sends nil.
for (const thread of modes) {
  test(`a WeakMap, WeakSet, generator or iterator under a null prototype is no plain object (${where(thread)})`, () => {
    const np = <T extends object>(o: T): T => Object.setPrototypeOf(o, null);
    for (const engine of engines) {
      using strict = new Runtime();
      using ctx = strict.createContext(engine, { thread });
      ctx.eval(idSource[engine]);
      using lenient = new Runtime({ policy: "lenient" });
      using lctx = lenient.createContext(engine, { thread });
      lctx.eval(idSource[engine]);
      const made = (): [string, object][] => [
        ["WeakMap", np(new WeakMap())], ["WeakSet", np(new WeakSet())], ["generator", np((function* () { yield 1; })())],
        ["iterator", np(new Map([["a", 1]]).entries())], ["iterator", np(new Set([1]).values())],
      ];
      for (const [kind, v] of made()) {
        const e = caught(() => ctx.call("id", v));
        assert.ok(e instanceof CalogValueError, `${engine} ${kind}: ${e}`);
        assert.match(e.message, new RegExp(`^an? ${kind} whose prototype was replaced \\(null\\)`), engine);
      }
      for (const [kind, v] of made()) assert.equal(lctx.call("id", v), null, `${engine} ${kind}`);
    }
  });
}

// A thrown string (or an error calog raised as text: a Lua or Squirrel runtime error, a host function's exception) that
// passed through JavaScript reached TypeScript with no `value`, while through Lua or Squirrel its value was the text:
// Lua error('boom') -> JavaScript -> TypeScript had e.value undefined, and the exact bytes of a text that is not UTF-8
// (its message has U+FFFD for them) were lost. The Error calog throws from text, its message untouched, now leaves
// JavaScript with that text as its value too; a script's own Error, or one whose message it changed, still has none.
for (const thread of modes) {
  test(`a thrown text keeps its value through a JavaScript hop (${where(thread)})`, () => {
    using rt = new Runtime();
    rt.register("hostThrows", (s: unknown) => { throw s; });
    using lua = rt.createContext("lua", { thread });
    using js = rt.createContext("js", { thread });
    using sq = rt.createContext("squirrel", { thread });
    lua.eval("function thr(s) error(s, 0) end function nilcall() local x = nil; x() end function host(s) hostThrows(s) end");
    sq.eval("function thr(s) { throw s }");
    js.eval("function pass(f, a) { return f(a) } function changed(f, a) { try { f(a) } catch (e) { e.message += '!'; throw e } } function own(a) { throw new Error(a) }");
    const cesu = new Uint8Array([0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80]);
    const host = lua.getFunction("host"); // a host function's exception, raised as text
    for (const a of ["boom", "", cesu]) {
      for (const f of [lua.getFunction("thr"), sq.getFunction("thr"), host]) {
        const direct = caught(() => f(a));
        const hop = caught(() => js.call("pass", f, a));
        if (f !== host) assert.deepEqual(direct.value, typeof a === "string" ? a : cesu);
        assert.deepEqual(hop.value, direct.value, `${JSON.stringify(direct.value)} through JavaScript`);
        // an empty text says nothing: rendered by the engine it leaves last, as any value without text (pass 47)
        // (a host function's "" is its text `a host function threw ""`, the same both ways)
        assert.equal(hop.message, a === "" && f !== host ? 'js threw ""' : direct.message);
      }
    }
    const rtErr = caught(() => js.call("pass", lua.getFunction("nilcall")));
    assert.equal(rtErr.value, rtErr.message);
    assert.equal(caught(() => js.call("changed", lua.getFunction("thr"), "boom")).value, undefined, "a message the script changed is its own Error's");
    assert.equal(caught(() => js.call("own", "boom")).value, undefined, "a script's own Error has no value");
  });
}
