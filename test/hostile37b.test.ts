// Pass 37b: the final hostile pass over the hardening issue's areas (function values outliving their context, thrown
// values, Promises of host functions, the README's examples), in both runtimes, every engine, both thread kinds.
// Every test is one attack that found a defect: each fails on the code it was written against (49c5e2d), in Bun and
// Deno.
// Fixed in the commit after 49c5e2d. Two findings of this pass stay open and are not here (the closing note has them):
// a null or script function carried into JavaScript loses the host exception as cause; a short host message through
// Lua's coroutine.wrap gains a position.
import assert from "node:assert/strict";
import { CalogScriptError, Runtime } from "../bindings/mod.ts";
import { allEngines, callIt, caught, modes, test, where } from "./harness.ts";

// Low (a wrong error: the codec's own refusal is reported as a getter's or Proxy trap's exception; pass 36's
// Wire.endEncode fix is incomplete). README (What an error carries): a value that cannot cross gives the codec's
// CalogValueError; only "a getter or a Proxy trap that throws while calog reads a value you pass" gives one whose
// `cause` is that exception. A Proxy trap that calls another runtime whose script calls a host function that throws a
// CalogScriptError whose carried value cannot be sent (a bigint past 64 bits: the message alone goes), caught by the
// script (the trap itself does not throw), leaves the outer refusal "reading a value to pass threw (a getter or a Proxy
// trap): CalogValueError: a Proxy cannot cross ..." with calog's own error as the cause. With a carried value that
// can be sent (1), the same trap gives "a Proxy cannot cross into a script" unwrapped.
// Cause: src/runtime.ts writeHostErrorIn (~:1515) calls w.begin() twice when the carried value fails (the fallback
// begins again); Wire.begin (src/wire.ts:392) stores the running encode in the one per-wire #outerEncode, so the second
// begin records the first (failed) host-error encode as "outer", and endEncode (:340) hands back that stale serial
// instead of the encode the trap interrupted; the refusal raised in #object after the trap returns (before the next
// value() resets currentEncode) is tagged with it and isOwnError is false.
// Fix: in writeHostErrorIn, begin only once (reset the position: a Wire.restart() that does not touch #outerEncode), or
// make Wire.begin keep #outerEncode when this wire's own encode is the running one (currentEncode === this.serial), or
// save currentEncode in writeHostError before the first begin and restore that in its finally.
test("a codec refusal after a trap whose call into another runtime sent a host error without its carried value is not reported as the trap's exception", () => {
  using rt = new Runtime({ output: "ignore" });
  using other = new Runtime({ output: "ignore" });
  other.register("boom", () => {
    throw new CalogScriptError("ERR_SCRIPT", "x", { value: { a: 2n ** 70n } });
  });
  using inner = other.createContext("lua", { thread: false });
  inner.eval("function f() local ok, e = pcall(boom); return tostring(e) end");
  using lua = rt.createContext("lua", { thread: false });
  lua.eval("function id(x) return x end");
  const proto = new Proxy({}, { getPrototypeOf() { assert.equal(inner.call("f"), "x"); return Date.prototype; } });
  const e = caught(() => lua.call("id", proto));
  assert.ok(!/threw \(a getter or a Proxy trap\)/.test(e.message), `no trap threw, the message says "${e.message}"`);
  assert.equal(lua.call("id", 5), 5);
});


// Medium (a silently changed error: another request's bytes are sent as the host error; pass 36b's fix is incomplete).
// README (What an error carries): a host function that lets a CalogScriptError go passes on its thrown object as the
// error's value "when it holds plain data and script functions"; calls back into calog from a host function are
// allowed. Pass 36b made carriedValue refuse a Proxy inside the value, but not an array whose PROTOTYPE is a Proxy:
// carriedValue's plain() reads only the array's own keys (a hole is not one), while the encoder reads the prototype
// (checkSubclass's isPrototypeOf runs its getPrototypeOf trap) and each item (`v[i]` of a hole runs its get trap). A
// get trap that calls a context of the same runtime (`other.eval("return 'inner'")`) overwrites the host error being
// written: the script and TypeScript get an error whose message AND value are the inner request's source text, in
// every engine, both thread kinds.
// Cause: src/runtime.ts carriedValue (~:1470) checks Array.isArray(x) but not its prototype nor its holes; the encode
// in writeHostErrorIn (~:1523) runs on the runtime's Wire without Core.begin()'s `encoding` guard.
// Fix: in plain(), accept an array only when Object.getPrototypeOf(x) === Array.prototype (no trap: x is no Proxy) and
// it has no hole (Object.keys(x).length === x.length), a plain object only with Object.prototype or null (as now), a
// Map or Uint8Array only with its own intrinsic prototype (compare getPrototypeOf instead of instanceof, which walks a
// Proxy); or write the host error under Core.begin()/end() so a call from any trap is refused.
for (const thread of modes) {
  for (const engine of allEngines) {
    test(`${engine} (${where(thread)}): a carried array whose prototype is a Proxy calling into the same runtime does not corrupt the host error`, () => {
      using rt = new Runtime({ output: "ignore" });
      using other = rt.createContext("lua", { thread: false });
      const arr: unknown[] = [, "y"]; // a hole: v[0] reads the prototype
      Object.setPrototypeOf(arr, new Proxy({}, {
        getPrototypeOf() { return null; },
        get(t, p, r) { return p === "0" ? other.eval("return 'inner'") : Reflect.get(t, p, r); },
      }));
      rt.register("boom", () => {
        throw new CalogScriptError("ERR_SCRIPT", "lua threw { a: {...}, b: \"x\" }", { value: { a: arr, b: "x" } });
      });
      using c = rt.createContext(engine, { thread });
      const e = caught(() => c.eval(callIt[engine]("boom")));
      assert.ok(e instanceof CalogScriptError, `${e}`);
      assert.ok(!/return 'inner'/.test(e.message), `the error's message is another request's bytes: "${e.message}"`);
      assert.notEqual(e.value, "return 'inner'", "the error's value is another request's bytes");
    });
  }
}

// Medium (a silently changed error: another request's bytes are sent as the host error; a new route, pass 36's
// rendered-message comparison). A host function that throws a CalogScriptError carrying a plain value whose `message`
// is a getter (a wrapper adding context lazily) that calls a context of the same runtime gives the script and
// TypeScript an error whose message AND value are the inner request's source text ("return 'inner'"), in every
// engine, both thread kinds. README: "A getter ... that throws while calog reads a value" is handled, calls back into
// calog from a host function are allowed; nothing says a getter on the thrown error corrupts it.
// Cause: src/runtime.ts writeHostErrorIn (~:1521) reads `(err as Error).message` (the comparison with the rendering)
// AFTER w.begin() and w.list(3), on the runtime's Wire without Core.begin()'s `encoding` guard; the getter's eval
// starts its own request on the same Wire (resetting IN) and the outer write goes on after it.
// Fix: compare with the `message` argument (describeThrown already read it) or read err.message before w.begin();
// better, write the host error under the `encoding` guard so no user code can re-enter while IN is being written.
for (const thread of modes) {
  for (const engine of allEngines) {
    test(`${engine} (${where(thread)}): a carried error whose message getter calls into the same runtime does not corrupt the host error`, () => {
      using rt = new Runtime({ output: "ignore" });
      using other = rt.createContext("lua", { thread: false });
      rt.register("boom", () => {
        const e = new CalogScriptError("ERR_SCRIPT", "m", { value: { code: 1 } });
        Object.defineProperty(e, "message", { get() { other.eval("return 'inner'"); return "the message"; } });
        throw e;
      });
      using c = rt.createContext(engine, { thread });
      const e = caught(() => c.eval(callIt[engine]("boom")));
      assert.ok(e instanceof CalogScriptError, `${e}`);
      assert.ok(!/return 'inner'/.test(e.message), `the error's message is another request's bytes: "${e.message}"`);
      assert.notEqual(e.value, "return 'inner'", "the error's value is another request's bytes");
    });
  }
}

