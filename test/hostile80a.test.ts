// Pass 80a: a hostile user of the Promise walk at 631d4dd; two findings, each test fails at 631d4dd under Bun and Deno.
// Finding 1: the shared seen set made a trap's small, unrelated refused call skip a value an earlier walk saw past its
// budget (never listed): its rejection went unhandled (same runtime, and another runtime through the module-wide
// walkInProgress). Finding 2: a budget per record let a trap that refuses a call holding a fresh Proxy walk for ever.
// Fixed at first by walking a trap's refused call as a call of its own out of a pool of the walk's; pass 81a found two
// ways out of that pool, and now every call a trap makes while calog walks is refused, on every runtime, and its
// arguments are not walked (README): each test pins that, with the Promises the walked value holds itself handled.
import assert from "node:assert/strict";
import { CalogValueError, Runtime } from "../bindings/mod.ts";
import { test, watchUnhandled } from "./harness.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const engines = ["lua", "js", "squirrel"] as const;
const idSrc = { lua: "function id(...) return 7 end", js: "function id() { return 7 }", squirrel: "function id(...) { return 7 }" };
const big = () => Array.from({ length: 100_000 }, (_, i) => i);
const refusedWhileWalking = (e: unknown) => e instanceof CalogValueError && /calog was called while marshalling a value/.test(e.message);
/** `{ receipt }`, a rejected Promise the test handles itself (a trap's call's arguments are not walked). */
const mine = (what: string) => { const receipt = Promise.reject(new Error(what)); receipt.catch(() => {}); return { receipt }; };

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
          const Y = mine("Y"); // past the outer walk's 100,000 places: the caller's (README)
          const seen: unknown[] = [];
          const T = new Proxy({}, { ownKeys(t) { try { ctx.call("id", Y); seen.push("went through"); } catch (e) { seen.push(e); } return Reflect.ownKeys(t); } });
          const front = { receipt: Promise.reject(new Error("front")) }; // before the budget runs out: calog's
          if (route === "strict") assert.throws(() => ctx.call("id", Symbol("x"), front, T, big(), Y));
          else if (route === "async") await assert.rejects(ctx.callAsync("id", Symbol("x"), front, T, big(), Y));
          else { const d = rt.createContext(engine, { thread }); d.dispose(); assert.throws(() => d.call("id", front, T, big(), Y)); }
          await sleep(50);
          assert.equal(seen.length, 1);
          assert.ok(refusedWhileWalking(seen[0]), `the trap's call: ${String(seen[0])}`);
          assert.equal(watch.count(), 0, "the front Promise's rejection went unhandled");
        } finally {
          watch.stop();
        }
      });
    }
    test(`${tag}: another runtime's call, from a trap while calog walks, is refused`, async () => {
      const watch = watchUnhandled();
      try {
        using a = new Runtime({ output: "ignore" });
        using ca = a.createContext(engine, { thread });
        ca.eval(idSrc[engine]);
        using b = new Runtime({ output: "ignore" });
        using cb = b.createContext(engine, { thread });
        cb.eval(idSrc[engine]);
        const seen: unknown[] = [];
        const T1 = new Proxy({}, {
          ownKeys(t) {
            for (const f of [() => cb.call("id", mine("B's")), () => cb.call("id", Symbol("z"), mine("B's refused")), () => b.dispose(), () => b.createContext(engine)]) {
              try { f(); seen.push("went through"); } catch (e) { seen.push(e); }
            }
            return Reflect.ownKeys(t);
          },
        });
        assert.throws(() => ca.call("id", Symbol("x"), T1, { receipt: Promise.reject(new Error("A's")) }));
        await sleep(50);
        assert.equal(seen.length, 4);
        for (const e of seen) assert.ok(refusedWhileWalking(e) || (e instanceof CalogValueError && /cannot be disposed while calog/.test(e.message)), String(e));
        assert.equal(cb.call("id"), 7, "runtime B is untouched");
        assert.equal(watch.count(), 0, "A's Promise went unhandled");
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
      assert.equal(traps, 1, `the walk ran the trap ${traps} times for one call (its calls are refused, not walked)`);
    });
  }
}
