// Pass 70b (hostile review of c125a3c: areas 1 to 5 as a fresh user, c125a3c's runtime.ts, fd87852's carried values,
// d95a07e's carried bytes, checkNamedKeys on Proxies, the CHECK_LIVE own-descriptor check, function values crossing).
// Each test fails on c125a3c because of the defect it names, in Bun and Deno.
import assert from "node:assert/strict";
import { CalogDisposedError, Runtime } from "../bindings/mod.ts";
import { modes, test, where } from "./harness.ts";

// Finding 1. Low (an error that comes late and in the wrong place; area 2, function values, the CHECK_LIVE
// own-descriptor check). README ("Function values"): "A `Proxy` of a script function ... is a TypeScript function to a
// script, its traps run on each call (one of a disposed script function is refused, `CalogDisposedError`)". A Proxy
// whose `getOwnPropertyDescriptor` trap refuses keys it does not know (throws for them: a validating or schema Proxy,
// the same pattern as pass 66a's get trap that refuses unknown keys) of a disposed ScriptFunction is accepted by
// `ctx.call("keep", p)` and by `rt.register("pp", p)`; the script's later call fails with a CalogScriptError "script
// function was disposed". Likewise such a Proxy passed while its target lived is accepted again after the target's
// dispose() (the "live check on every pass" of pass 67b never has a check to run). The trap that only throws is
// reached the same way by any trap that breaks Proxy invariants for calog's non-configurable key.
// Cause: src/runtime.ts `Core.hostRef` reads `Object.getOwnPropertyDescriptor(fn, CHECK_LIVE)` inside a try whose
// catch sets `check = undefined`, so a Proxy whose descriptor trap throws is taken as a plain TypeScript function, and
// `e.check` stays undefined for every later pass. Fix: when the descriptor read throws, try the routes the Proxy did
// not trap, each in its own try: `Reflect.ownKeys(fn).includes(CHECK_LIVE)` (own, so a prototype's key still counts
// for nothing: pass 66a) and then `Reflect.get(fn, CHECK_LIVE)`, kept only if `liveChecks.has` it; a Proxy that traps
// every route stays a TypeScript function (document that such a Proxy is checked only when called). Refusing every
// Proxy whose descriptor trap throws would undo pass 66b (a live Proxy that refuses unknown keys must cross): the test
// keeps the live one accepted.
for (const thread of modes) {
  test(`finding 1 (${where(thread)}): a Proxy of a disposed ScriptFunction whose getOwnPropertyDescriptor trap refuses unknown keys is refused when passed`, () => {
    using rt = new Runtime({ output: "ignore" });
    using lua = rt.createContext("lua", { thread });
    using js = rt.createContext("js", { thread });
    lua.eval("function f(x) return x + 1 end");
    js.eval("var K; function keep(f) { K = f; return typeof f; }");
    const guarded = <F extends Function>(f: F): F =>
      new Proxy(f, {
        getOwnPropertyDescriptor(t, k) {
          if (typeof k === "symbol") throw new TypeError(`unknown key ${String(k)}`);
          return Reflect.getOwnPropertyDescriptor(t, k);
        },
      });
    const wrong: string[] = [];
    const refused = (how: string, op: () => unknown): void => {
      try {
        op();
        wrong.push(`${how}: accepted`);
      } catch (e) {
        if (!(e instanceof CalogDisposedError)) wrong.push(`${how}: ${String(e)}`);
      }
    };
    const f = lua.getFunction("f");
    const p = guarded(f);
    f.dispose();
    refused("a Proxy of a disposed function passed to a script", () => js.call("keep", p));
    refused("a Proxy of a disposed function registered", () => rt.register("pp", p));
    const g = lua.getFunction("f");
    const q = guarded(g);
    assert.equal(js.call("keep", q), "function"); // live: accepted
    g.dispose();
    refused("the same Proxy passed again after its target's dispose()", () => js.call("keep", q));
    assert.deepEqual(wrong, []);
  });
}
