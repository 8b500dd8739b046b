// Pass 31b: a hostile second pass over the hardening issue's areas (script-controlled recursion, function values
// outliving their context, strict fidelity, thrown values, Promises from host functions, the documented commands), in
// both runtimes, every engine, both thread kinds. Every test is one attack that found a defect: each fails on the code
// it was written against (bb4ae7f), in Bun and Deno.
import assert from "node:assert/strict";
import { CalogLimitError, Runtime } from "../bindings/mod.ts";
import { modes, test, timed, watchUnhandled, where } from "./harness.ts";

// Medium-high (a script escapes its time limit and makes the host build gigabytes; the host hangs, or is killed by the
// kernel). README (Value mapping): "a shared, non-cyclic subvalue is copied each time it appears"; (Limits) "No script
// can hang, exhaust or outlive its host", `timeoutMs` "wall-clock time per entry", `ctx.interrupt()` "stops what it is
// running now". A Lua or Squirrel script builds, in 22 steps of a loop, a list whose two items are the same list
// (`a = {a, a}`): a few KB in the context, but 2^22 leaves once copied. Returning it (or passing it to another
// context's function) marshals the whole expansion with no limit polled: with `timeoutMs: 100` (and no memory limit)
// the call returns its CalogLimitError only after ~1 s (Lua) / ~0.5 s (Squirrel) at depth 22, and the cost doubles per
// level: at depth 26 a Lua eval with `timeoutMs: 2000` ran 43 s and took the host to 16 GB of RSS, at depth 27-40 the
// host process is killed by the kernel's OOM killer (a crash of the host from a script with a timeout). interrupt()
// of a threaded Lua context doing it at depth 24 took 11.8 s instead of ~0.1 s. Duktape's marshal meets its execution
// timeout hook (the same JavaScript script stops at 100 ms), Lua's and Squirrel's walk (lua_adapter.c /
// sq_adapter.c, into codec.c's sink, calog__sinkPut/calog__sinkAggBegin) never looks at the deadline or the interrupt
// flag. The memory limit bounds it (the sink's budget), but only when one is set.
// Fix: poll the entry's limits (deadline, interrupt, as the step hook does) from the sink every few thousand items
// (calog__sinkAggBegin is one place), and fail the crossing with the limit as the sink does for memory.
for (const thread of modes) {
  for (const engine of ["lua", "squirrel"] as const) {
    test(`${engine} (${where(thread)}): a value of shared references expanding as it crosses out stops at the timeout`, () => {
      using rt = new Runtime({ output: "ignore" });
      using ctx = rt.createContext(engine, { thread, limits: { timeoutMs: 100 } });
      const src = engine === "lua"
        ? "local a = {} for i = 1, 22 do a = {a, a} end return a"
        : "local a = []; for (local i = 0; i < 22; i++) a = [a, a]; return a";
      const { err, ms } = timed(() => ctx.eval(src));
      assert.ok(err instanceof CalogLimitError, `not stopped by its limit: ${err}`);
      assert.ok(ms < 400, `a 100 ms timeout stopped the call after ${Math.round(ms)} ms (${(err as Error).message})`);
    });
  }
}

// Low (an unhandled rejection from a value calog drops). README (Errors): a host function's Promise that a script cannot
// wait for (a host-thread context, or the event loop blocked in a synchronous call) "still runs, but its result is
// dropped and its rejection is handled (never an unhandled rejection)", and "A Promise inside a value ... is refused"
// with its rejection handled. A threaded context awaiting the same host function reads the resolved value and handles
// the rejected Promise inside it (`a Promise cannot cross`); where the outcome is dropped, nothing ever looks at the
// value it resolves with, so `async () => ({ p: Promise.reject(err) })` (a host function resolving with a record that
// holds a failed sub-request) raises an unhandled rejection in the host, which by default ends a Node-style process.
// Fix: where the outcome is dropped, attach to the Promise a handler that walks the resolved value for Promises (as the
// encoder does) and handles their rejections, or encode the value into a scratch request and discard it.
for (const thread of modes) {
  test(`lua (${where(thread)}): a dropped host Promise's value holding a rejected Promise raises no unhandled rejection`, async () => {
    const watch = watchUnhandled();
    try {
      using rt = new Runtime({ output: "ignore" });
      rt.register("inside", async () => ({ p: Promise.reject(new Error("sub-request failed")) }));
      using lua = rt.createContext("lua", { thread });
      // a synchronous call: the script cannot wait, in either kind of context
      assert.throws(() => lua.eval("return inside()"), /cannot wait/);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(watch.count(), 0, "an unhandled rejection from the Promise inside the dropped result");
    } finally {
      watch.stop();
    }
  });
}

// Medium (a pair silently lost under strict). README (Fidelity, NUL bytes / invalid UTF-8 row, JavaScript): "non-BMP
// text is transcoded to/from surrogate pairs so JS sees real characters"; (map keys that become the same ... name)
// strict refuses what would lose a pair. Duktape's own JX decoder (`Duktape.dec`, in every sandbox) turns a `\U0001f600`
// escape into a string holding the character as 4-byte UTF-8 (length 1, and `!== "\ud83d\ude00"`), and so does its
// CBOR.decode for any text string with a non-BMP character (CBOR data a host hands a script), while JS text
// holds it as a surrogate pair (CESU-8). An object with both as keys has two properties in JavaScript; crossing out,
// duk_adapter.c ingressObject -> putText (textOut) turns the pair into the same 4-byte UTF-8 and passes the raw one as
// it is, so two equal keys leave the engine: TypeScript gets `{ "😀": 2 }` (wire.ts #read builds an all-string-key
// object with no duplicate check), a Lua or Squirrel table keeps one of them, with no error under strict.
// Fix: in ingressObject, under strict, refuse a key whose text after transcoding equals another key's (checking only
// when a key held a surrogate pair or a raw 4-byte sequence keeps the common case free), or have the sinks and the TS
// decoder refuse a map with a repeated key, as they do for 1 and 1.0.
for (const thread of modes) {
  test(`js (${where(thread)}): two keys that are one character after transcoding are refused under strict, not merged`, () => {
    using rt = new Runtime({ output: "ignore" });
    using js = rt.createContext("js", { thread });
    using lua = rt.createContext("lua", { thread: !thread });
    lua.eval("function count(t) local n = 0 for _ in pairs(t) do n = n + 1 end return n end");
    js.eval(`function make() { var o = {}; o[Duktape.dec('jx', '"\\\\U0001f600"')] = 1; o['\\ud83d\\ude00'] = 2; return o; }
      function send(f) { return f(make()); }`);
    assert.equal(js.eval("Object.keys(make()).length"), 2, "two properties in JavaScript");
    for (const [what, cross] of [["to TypeScript", () => js.call("make")], ["to Lua", () => js.call("send", lua.getFunction("count"))]] as const) {
      let got: unknown;
      try {
        got = cross();
      } catch (e) {
        got = e;
      }
      assert.ok(got instanceof Error && /key/.test(got.message), `${what}: two keys crossed as one, silently: ${JSON.stringify(got)}`);
    }
  });
}
