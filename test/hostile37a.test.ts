// Pass 37a: the final hostile pass over the hardening issue's areas (script-controlled recursion; silent changes under
// the strict policy), in both runtimes, every engine, both thread kinds. Every test is one attack that found a defect:
// each fails on the code it was written against (49c5e2d), in Bun and Deno.
// Fixed in the commit after 3e25701.
import assert from "node:assert/strict";
import { CalogValueError, Runtime } from "../bindings/mod.ts";
import { modes, test, where } from "./harness.ts";

/** What f threw, or undefined (the assertion that follows names what came back instead). */
function thrown(f: () => unknown): (Error & { code?: string }) | undefined {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  return undefined;
}

// Low (a silent change under strict: an object's prototype is dropped without a word). README (Fidelity, JavaScript
// column): "non-plain JS objects (... class instances, objects with another prototype ...): strict: ERR_TYPE"; and
// for TypeScript (Value mapping) "an instance of a subclass of Array or Map: strict: CalogValueError (a class
// instance)" (pass 15b). A Duktape array whose prototype was replaced (ES5's way to subclass Array:
// `Object.setPrototypeOf(a, P)` with `P = Object.create(Array.prototype)` holding methods, or any other object such as
// `Date.prototype`, which makes `a instanceof Date` true) crosses under strict as a plain list, its prototype gone,
// to TypeScript and to every other engine; the same value made in TypeScript is refused. A plain object with the same
// prototype is refused ("a JS class instance or object with a custom prototype cannot cross").
// Cause: c/src/engines/duktape/duk_adapter.c (~:764 and :792): the prototype is read and checked only when
// `!duk_is_array(ctx, idx)`; an array skips the check whatever its prototype.
// Fix: read an array's prototype too and refuse, under strict, one that is neither Array.prototype nor null (as the
// TypeScript side does, naming it "a subclass of Array"); lenient sends its items.
for (const thread of modes) {
  test(`js (${where(thread)}): an array whose prototype was replaced is refused under strict, as a TypeScript Array subclass is`, () => {
    using rt = new Runtime({ output: "ignore" });
    using js = rt.createContext("js", { thread });
    using lua = rt.createContext("lua", { thread });
    lua.eval("function callf(f) return f() end");
    js.eval(`
      function sub() { var P = Object.create(Array.prototype); P.sum = function () { return 3; };
                       var a = [1, 2]; Object.setPrototypeOf(a, P); return a; }
      function dated() { var a = [1, 2]; Object.setPrototypeOf(a, Date.prototype); return a; }`);
    // it is what the script says it is
    assert.deepEqual(js.eval("[typeof sub().sum, dated() instanceof Date]"), ["function", true]);
    for (const f of ["sub", "dated"]) {
      let r: unknown;
      const e = thrown(() => { r = js.call(f); });
      assert.ok(e instanceof CalogValueError, `${f}(): crossed to TypeScript under strict as ${JSON.stringify(r)}, its prototype dropped without a CalogValueError`);
      // into Lua through a function value: refused there (a CalogScriptError from Lua naming the refusal)
      const e2 = thrown(() => { r = lua.call("callf", js.eval(`(${f})`)); });
      assert.match(e2?.message ?? "", /cannot cross/, `${f}(): crossed into Lua under strict as ${JSON.stringify(r)}`);
    }
    // lenient sends the items, as for a TypeScript Array subclass
    using lenient = new Runtime({ output: "ignore", policy: "lenient" });
    using ljs = lenient.createContext("js", { thread });
    assert.deepEqual(ljs.eval("var a = [1, 2]; Object.setPrototypeOf(a, Object.create(Array.prototype)); a"), [1, 2]);
  });
}

// Low (a silent change under strict: the prototype is dropped; the TypeScript half of the finding above). README (Value
// mapping): "an instance of a subclass of Array or Map: strict: CalogValueError (a class instance)"; "Date, class
// instance ...: strict: CalogValueError"; "an object that only inherits from Map.prototype: strict: CalogValueError".
// An Array whose prototype was set to an object that does not inherit from Array.prototype crosses under strict as a
// plain list, the prototype gone: `Object.setPrototypeOf([1, 2], { sum() {...} })` (a "class" made by hand),
// `Object.setPrototypeOf([1, 2], Date.prototype)` (`v instanceof Date`) and `Object.setPrototypeOf([1, 2],
// Map.prototype)` (`v instanceof Map`, which the Map row refuses when the object is not an array); one whose prototype
// inherits from Array.prototype (`class Path extends Array`) is refused.
// Cause: src/wire.ts:210 checkSubclass returns unless the prototype inherits from Array.prototype (so that an array of
// another realm crosses: its prototype is that realm's Array.prototype, not ours); any other prototype passes.
// Fix: also refuse, under strict, a prototype that is neither null nor an array exotic object (another realm's
// Array.prototype is one: Array.isArray(p); Date.prototype, Map.prototype and a hand-made prototype are not), or one
// that is not Object.prototype if that stays allowed.
for (const thread of modes) {
  test(`(${where(thread)}): a TypeScript Array whose prototype is Date.prototype, Map.prototype or a hand-made class is refused under strict`, () => {
    using rt = new Runtime({ output: "ignore" });
    for (const engine of ["lua", "js", "squirrel"] as const) {
      using c = rt.createContext(engine, { thread });
      c.eval(engine === "lua" ? "function id(x) return x end" : "function id(x) { return x; }");
      const protos: [string, object][] = [["a hand-made prototype", { sum() { return 3; } }], ["Date.prototype", Date.prototype], ["Map.prototype", Map.prototype]];
      for (const [what, proto] of protos) {
        let r: unknown;
        const e = thrown(() => { r = c.call("id", Object.setPrototypeOf([1, 2], proto)); });
        assert.ok(e instanceof CalogValueError, `${engine}: an Array under ${what} crossed under strict as ${JSON.stringify(r)}, its prototype dropped without a CalogValueError`);
      }
      // another realm's array is no subclass and still crosses (its prototype is an Array itself)
      const realm = Object.setPrototypeOf([1, 2], Object.setPrototypeOf([], Object.prototype));
      assert.deepEqual(c.call("id", realm), [1, 2], engine);
    }
  });
}
