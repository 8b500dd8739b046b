// Pass 80a: a hostile user of the Promise walk at 631d4dd; two findings, each test fails at 631d4dd under Bun and Deno.
// Finding 1: the shared seen set made a trap's small, unrelated refused call skip a value an earlier walk saw past its
// budget (never listed): its rejection went unhandled (same runtime, and another runtime through the module-wide
// walkInProgress). Finding 2: a budget per record let a trap that refuses a call holding a fresh Proxy walk for ever.
// Fixed: a call refused while a walk runs is walked as a call of its own (its own seen set and budget), out of the
// walk's pool (src/wire.ts WalkPool: 1,000 calls, 1,000,000 places).
import assert from "node:assert/strict";
import { Runtime } from "../bindings/mod.ts";
import { test, watchUnhandled } from "./harness.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const engines = ["lua", "js", "squirrel"] as const;
const idSrc = { lua: "function id(...) return 7 end", js: "function id() { return 7 }", squirrel: "function id(...) { return 7 }" };
const big = () => Array.from({ length: 100_000 }, (_, i) => i);

for (const engine of engines) {
  for (const thread of [false, true]) {
    const tag = `${engine} (${thread ? "own thread" : "host thread"})`;
    for (const route of ["strict", "early", "async"] as const) {
      test(`${tag}: ${route}, a trap's small call holding a value the outer walk saw past its budget`, async () => {
        const watch = watchUnhandled();
        try {
          using rt = new Runtime({ output: "ignore" });
          using ctx = rt.createContext(engine, { thread });
          ctx.eval(idSrc[engine]);
          const Y = { receipt: Promise.reject(new Error("Y")) };
          const T = new Proxy({}, { ownKeys(t) { try { ctx.call("id", Y); } catch { /* refused */ } return Reflect.ownKeys(t); } });
          if (route === "strict") assert.throws(() => ctx.call("id", Symbol("x"), T, big(), Y));
          else if (route === "async") await assert.rejects(ctx.callAsync("id", Symbol("x"), T, big(), Y));
          else { const d = rt.createContext(engine, { thread }); d.dispose(); assert.throws(() => d.call("id", T, big(), Y)); }
          await sleep(50);
          assert.equal(watch.count(), 0, "Y's rejection (3 places into the trap's own call) went unhandled");
        } finally {
          watch.stop();
        }
      });
    }
    test(`${tag}: another runtime's small call, from a trap, does not use this runtime's seen set`, async () => {
      const watch = watchUnhandled();
      try {
        using a = new Runtime({ output: "ignore" });
        using ca = a.createContext(engine, { thread });
        ca.eval(idSrc[engine]);
        using b = new Runtime({ output: "ignore" });
        using cb = b.createContext(engine, { thread });
        cb.eval(idSrc[engine]);
        const Y = { receipt: Promise.reject(new Error("Y")) };
        const T2 = new Proxy({}, { ownKeys(t) { try { cb.call("id", Symbol("z"), Y); } catch { /* refused by B */ } return Reflect.ownKeys(t); } });
        const T1 = new Proxy({}, { ownKeys(t) { try { ca.call("id", T2); } catch { /* refused */ } return Reflect.ownKeys(t); } });
        assert.throws(() => ca.call("id", Symbol("x"), T1, big(), Y));
        await sleep(50);
        assert.equal(watch.count(), 0, "Y's rejection, in runtime B's own call of 3 places, went unhandled");
      } finally {
        watch.stop();
      }
    });
    test(`${tag}: a trap refusing a call with a fresh Proxy each time does not walk for ever`, () => {
      using rt = new Runtime({ output: "ignore" });
      using ctx = rt.createContext(engine, { thread });
      ctx.eval(idSrc[engine]);
      let traps = 0;
      const CAP = 150_000; // the trap stops by itself here, so the test ends (a6e0c6b stopped at 11,112)
      const handler: ProxyHandler<object> = {
        ownKeys(t) {
          if (++traps < CAP) try { ctx.call("id", new Proxy({}, handler)); } catch { /* refused */ }
          return Reflect.ownKeys(t);
        },
      };
      assert.throws(() => ctx.call("id", Symbol("x"), new Proxy({}, handler)));
      assert.ok(traps < 50_000, `the walk ran the trap ${traps} times for one call (unbounded: it stopped only at the trap's cap)`);
    });
  }
}
