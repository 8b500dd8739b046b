// Thirteenth hostile pass: every test is one attack that found a defect; what it expects is what README promises.
import assert from "node:assert/strict";
import { CalogScriptError, CalogValueError, Runtime } from "../bindings/mod.ts";
import { caught, modes, test, where } from "./harness.ts";

// ---- JavaScript: an entry made while a thrown value is read reads its own throws whole -------------------------
// calog__dukScriptError sets a flag while it reads a thrown value (a throw while it does is not read again). An index
// getter of the thrown array that called a host function evaluating in the same context found the flag set, so that
// nested eval's own `throw { code: 7 }` lost its value and read "[object Object]".
for (const thread of modes) {
  test(`js (${where(thread)}): a throw in an eval nested on the reading of a thrown value keeps its value`, () => {
    using rt = new Runtime();
    using js = rt.createContext("js", { thread });
    rt.register("nested", () => {
      const e = caught(() => js.eval("throw { code: 7 }"));
      return [e instanceof CalogScriptError, e.value, e.message];
    });
    js.eval("Object.defineProperty(Array.prototype, 1, { get: function () { return nested(); }, configurable: true }); 1");
    const e = caught(() => js.eval("throw [1, , 3]"));
    assert.ok(e instanceof CalogScriptError, String(e));
    assert.deepEqual(e.value, [1, [true, { code: 7 }, "js threw { code: 7 }"], 3]);
    // the flag is the outer reading's again once the nested entry returns: a getter throwing while it reads is not
    // read twice (one level), and the context goes on
    js.eval("Object.defineProperty(Array.prototype, 1, { get: function () { throw [1, , 3]; }, configurable: true }); 1");
    const again = caught(() => js.eval("throw [1, , 3]"));
    assert.ok(again instanceof CalogScriptError, String(again));
    assert.equal(js.eval("delete Array.prototype[1]; [1, 2].length"), 2);
  });
}

// ---- Async host functions: a wait past the half cap serves a request its host function awaits ----------------
// A parked context serves queued callAsync requests nested on its wait only while half the crossing cap is free
// (daea790). Past that depth a request stayed queued for the top level, and when the waiting script's own async host
// function awaited it (a chain of async host functions each awaiting callAsync into the same context, 15 levels
// deep) nothing could settle: the script hung until its timeout, for ever without one. Such a request is now served
// once it has waited 50 ms; the chain goes on to the cap, where it fails with a nesting error as it did before.
for (const engine of ["lua", "js", "squirrel"] as const) {
  test(`${engine}: a chain of async host functions awaiting callAsync into their own waiting context goes past the half cap`, async () => {
    using rt = new Runtime();
    using ctx = rt.createContext(engine, { limits: { timeoutMs: 20_000 } });
    rt.register("down", async (n) => await ctx.callAsync("f", (n as number) - 1));
    rt.register("leaf", async () => ((await ctx.callAsync("g")) as number) + 1);
    ctx.eval(
      engine === "lua"
        ? "function f(n) if n == 0 then return leaf() end return down(n) end function g() return 41 end"
        : "function f(n) { if (n == 0) return leaf(); return down(n); } function g() { return 41; }",
    );
    const t0 = Date.now();
    assert.equal(await ctx.callAsync("f", 20), 42);
    assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms`);
    // deeper than the cap allows: the nesting error, not a hang
    await assert.rejects(ctx.callAsync("f", 40), (e: Error) => e instanceof CalogScriptError && /nesting deeper than/.test(e.message));
    assert.equal(await ctx.callAsync("g"), 41);
  });
}

// ---- callAsync: an argument whose Proxy trap or `signal` getter throws is a CalogValueError -------------------
// The trailing-options check (takeCallOptions) read the last argument's prototype and `signal` unguarded: a Proxy
// whose getPrototypeOf trap throws made callAsync reject with that raw Error, where call gives a CalogValueError.
for (const thread of modes) {
  test(`callAsync (${where(thread)}): a last argument whose traps or signal getter throw is a CalogValueError, as with call`, async () => {
    using rt = new Runtime();
    using ctx = rt.createContext("lua", { thread });
    ctx.eval("function f(x) return 1 end");
    const boom = new Error("trap");
    const args: unknown[] = [
      new Proxy({}, { getPrototypeOf() { throw boom; } }),
      { get signal() { throw boom; } },
      { signal: new Proxy({}, { getPrototypeOf() { throw boom; } }) },
    ];
    for (const a of args) {
      assert.throws(() => ctx.call("f", a), (e: Error) => e instanceof CalogValueError, "call");
      await assert.rejects(ctx.callAsync("f", a), (e: Error) => e instanceof CalogValueError && e.cause === boom, "callAsync");
    }
    assert.equal(await ctx.callAsync("f", 1), 1);
  });
}

// ---- JavaScript: a thrown value whose description throws ----------------------------------------------------------
// A Proxy whose get trap throws, an Error whose name getter throws or whose message is a Symbol: describing them threw,
// and the message was only "error (its description could not be read)" (noticed by the thirteenth pass). Their class,
// read before describing them (no code runs), now names them.

test("js: a thrown value whose description throws is named by its class", () => {
  using rt = new Runtime();
  using js = rt.createContext("js", { thread: false });
  const message = (src: string) => {
    try {
      js.eval(src);
    } catch (e) {
      assert.equal((e as Error).name, "CalogScriptError");
      return (e as Error).message;
    }
    return "no error";
  };
  // (since pass 44: its stack is read apart, so the Proxy is described, and named as the value that cannot cross)
  assert.equal(message("throw new Proxy({}, { get: function () { throw 1; } })"),
    "js threw an object that cannot cross: a JS Proxy (its traps are never run while marshalling) cannot cross to another engine");
  // (its message is read, and its stack, whose getter reads the name, apart)
  assert.equal(message("var e = new Error('m'); Object.defineProperty(e, 'name', { get: function () { throw 2; } }); throw e"), "m");
  assert.equal(message("var e = new Error('m'); e.message = Symbol('s'); throw e"), "js threw [object Error] (its description could not be read)");
  assert.equal(js.eval("1 + 1"), 2);
});
