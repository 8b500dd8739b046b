// Pass 81a: two ways out of the walk pool (WalkPool, bbde825) at 95e9008; every test here failed there under Bun and
// Deno. 1. A trap of a walk that makes a call into another runtime whose lenient encoder drops a value (a class
// instance sent as nil) walked that value with a pool of its own: two runtimes ran the trap ~10^6 times for one call,
// three ~10^9 (a hang). 2. An unrelated call (a host function called by another threaded context's own callAsync
// script) served while a trap made a synchronous call landed in the trap's pool; once that was spent, its refused
// result's Promises were never walked (unhandled rejections). Fixed by narrowing: every call a trap makes while calog
// walks is refused, on every runtime, and its arguments are not walked (README), so no walk nests in another and no
// host call is served under one; the pool is gone.
import assert from "node:assert/strict";
import { CalogValueError, Runtime } from "../bindings/mod.ts";
import { test, watchUnhandled } from "./harness.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const engines = ["lua", "js", "squirrel"] as const;
const idSrc = { lua: "function id(...) return 7 end", js: "function id() { return 7 }", squirrel: "function id(...) { return 7 }" };
const loopSrc = {
  lua: "function loop() for i = 1, 200 do pcall(h) end return 1 end",
  js: "function loop() { for (var i = 0; i < 200; i++) { try { h() } catch (e) {} } return 1 }",
  squirrel: "function loop() { for (local i = 0; i < 200; i++) { try { h() } catch (e) {} } return 1 }",
};
const refusedWhileWalking = (e: unknown) => e instanceof CalogValueError && /calog was called while marshalling a value/.test(e.message);

for (const engine of engines) {
  for (const thread of [false, true]) {
    const tag = `${engine} (${thread ? "own thread" : "host thread"})`;
    test(`${tag}: a trap's call into a lenient runtime, while calog walks, is refused (no walk of its own)`, () => {
      using a = new Runtime({ output: "ignore" });
      using b = new Runtime({ output: "ignore", policy: "lenient" });
      using c = new Runtime({ output: "ignore", policy: "lenient" });
      const ctxs = [a, b, c].map((r) => r.createContext(engine, { thread }));
      for (const x of ctxs) x.eval(idSrc[engine]);
      class Box { constructor(public p: unknown) {} } // lenient sends it as nil and walks it
      let traps = 0;
      const outcomes: unknown[] = [];
      const CAP = 150_000; // the trap stops by itself here, so a regression ends (95e9008: ~10^6 without the cap)
      const handler: ProxyHandler<object> = {
        ownKeys(t) {
          if (++traps < CAP) {
            for (const x of ctxs) {
              try { x.call("id", new Box(new Proxy({}, handler))); outcomes.push("went through"); } catch (e) { outcomes.push(e); }
            }
          }
          return Reflect.ownKeys(t);
        },
      };
      assert.throws(() => ctxs[0]!.call("id", Symbol("x"), new Proxy({}, handler)), CalogValueError);
      assert.equal(traps, 1, `one refused call ran the trap ${traps} times`);
      assert.equal(outcomes.length, 3);
      for (const e of outcomes) assert.ok(refusedWhileWalking(e), String(e));
      // and outside a walk the same lenient calls go through, their Boxes walked
      assert.equal(ctxs[1]!.call("id", new Box(1)), 7);
    });
  }
  test(`${engine}: a trap's synchronous call into another runtime is refused, and an unrelated callAsync's refused results are all walked`, async () => {
    const watch = watchUnhandled();
    try {
      using a = new Runtime({ output: "ignore" });
      const ca = a.createContext("lua");
      ca.eval(idSrc.lua);
      using b = new Runtime({ output: "ignore" });
      let served = 0;
      b.register("h", () => { served++; return { s: Symbol("no"), p: Promise.reject(new Error("unrelated")) }; }); // refused: walked
      const b1 = b.createContext("lua", { thread: true });
      b1.eval("function spin() local t = os.clock() while os.clock() - t < 0.3 do end return 1 end");
      const b2 = b.createContext(engine, { thread: true });
      b2.eval(loopSrc[engine]);
      const done = b2.callAsync("loop"); // made by no trap
      await sleep(5);
      let traps = 0;
      const outcomes: unknown[] = [];
      const handler: ProxyHandler<object> = {
        ownKeys(t) {
          traps++;
          for (const f of [() => b1.call("spin"), () => ca.call("id", new Proxy({}, handler))]) {
            try { f(); outcomes.push("went through"); } catch (e) { outcomes.push(e); }
          }
          return Reflect.ownKeys(t);
        },
      };
      assert.throws(() => ca.call("id", Symbol("x"), new Proxy({}, handler)), CalogValueError);
      assert.equal(await done, 1);
      await sleep(100);
      assert.equal(traps, 1);
      assert.equal(outcomes.length, 2);
      for (const e of outcomes) assert.ok(refusedWhileWalking(e), String(e));
      assert.equal(served, 200);
      assert.equal(watch.count(), 0, "an unrelated host call's refused result was not walked");
    } finally {
      watch.stop();
    }
  });
}
