// Pass 36a: the final hostile pass over the hardening issue's areas (script-controlled recursion; silent changes under
// the strict policy), in both runtimes, every engine, both thread kinds. Every test is one attack that found a defect:
// each fails on the code it was written against (cd23b9d), in Bun and Deno.
// Fixed in the commit after aeb99ff: an encode hands the running encode back when it ends (Wire.endEncode).
import assert from "node:assert/strict";
import { CalogValueError, type EngineName, Runtime } from "../bindings/mod.ts";
import { caught, modes, test, where } from "./harness.ts";

const engines: EngineName[] = ["lua", "js", "squirrel"];
const idSrc: Record<EngineName, string> = {
  lua: "function id(x) return x end",
  js: "function id(x) { return x; }",
  squirrel: "function id(x) { return x; }",
};

// Low (a wrong error: the codec's own refusal is reported as a getter's or a Proxy trap's exception; pass 35b's
// isOwnError fix is incomplete). README (What an error carries): a getter or a Proxy trap that throws while calog reads
// a value gives a CalogValueError whose `cause` is that exception; a value calog refuses is its own CalogValueError.
// When user code that runs while a value is read (a Proxy's `get` trap reading an array's `length`, its
// `getPrototypeOf` trap, a class's `constructor`/static `name` getter read to name it in the message) makes any call
// into another runtime (a logging call `log.eval(...)`), the refusal that follows, raised by this encode, is tagged with
// the other runtime's encode serial: `c.call("id", new Proxy(Object.assign([1, 2], { x: 1 }), { get(...) { log... } }))`
// throws "reading a value to pass threw (a getter or a Proxy trap): CalogValueError: an array with named properties
// ("x") cannot cross..." with that refusal as its `cause`: nothing threw in the trap. Same for a class instance whose
// static `name` getter logs: "reading a value to pass threw (a getter or a Proxy trap): CalogValueError: a K cannot
// cross...".
// Cause: src/wire.ts:50 valueError tags the error with the module-wide `currentEncode`, which another Wire's begin()
// (src/wire.ts:386) overwrote while the trap or getter ran; it is set back only at the top of value()
// (src/wire.ts:496), but checkNamedKeys/checkSubclass (after `v.length` and getPrototypeOf) and the messages built by
// describe() (constructor.name, read before valueError runs) throw without a value() in between.
// Fix: tag the error with the Wire whose encode raised it (pass `this.serial` from the Wire's methods, or set
// currentEncode = this.serial in valueError's callers right before the throw, after the message is built), or save
// and restore currentEncode around every Wire's begin..end so a nested encode gives it back.
for (const thread of modes) {
  for (const engine of engines) {
    test(`${engine} (${where(thread)}): a refusal after a trap or getter that called another runtime is calog's own CalogValueError`, () => {
      using rt = new Runtime({ output: "ignore" });
      using other = new Runtime({ output: "ignore" });
      using log = other.createContext("lua");
      using c = rt.createContext(engine, { thread });
      c.eval(idSrc[engine]);
      const plainMsg = caught(() => c.call("id", Object.assign([1, 2], { x: 1 }))).message;
      const arr = new Proxy(Object.assign([1, 2], { x: 1 }), {
        get(t, k, r) {
          log.eval("return 1"); // a logging call into another runtime; nothing throws
          return Reflect.get(t, k, r);
        },
      });
      const e1 = caught(() => c.call("id", arr));
      assert.ok(e1 instanceof CalogValueError, `${e1}`);
      assert.equal(e1.message, plainMsg, "the array's own refusal, not a trap's exception");
      assert.ok(!(e1.cause instanceof CalogValueError), "no cause: nothing threw in the trap");
      class K {
        static get name(): string {
          log.eval("return 1");
          return "K";
        }
      }
      const e2 = caught(() => c.call("id", new K()));
      assert.ok(e2 instanceof CalogValueError, `${e2}`);
      assert.ok(!/a getter or a Proxy trap/.test(e2.message), `the message says "${e2.message}"`);
    });
  }
}
