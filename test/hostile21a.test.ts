// The twenty-first hostile pass (a): the fixes of pass 20b (built-ins told by their internal slots, thrown strings
// crossing a JavaScript hop unchanged) and their neighbours. What it found, kept as regressions; runs unchanged under
// Bun and Deno.
import assert from "node:assert/strict";
import { CalogValueError, type EngineName, Runtime } from "../bindings/mod.ts";
import { caught, modes, test, where } from "./harness.ts";

const engines: EngineName[] = ["lua", "js", "squirrel"];
const idSource: Record<EngineName, string> = {
  lua: "function id(x) return x end",
  js: "function id(x) { return x }",
  squirrel: "function id(x) { return x }",
};

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
