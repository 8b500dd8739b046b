// Pass 79a: a hostile user of the resumable Promise walk (a6e0c6b). Three ways to lose a rejection (no crash, hang or
// raw error); each test fails at a6e0c6b in Bun and Deno. Fixed: a call a trap makes while a walk runs is refused and
// its arguments are not walked (since pass 81a; at first it was walked with a budget of its own); the walk tells a RangeError with no code of the thrown value run; the
// runtime's dispose walks what the stack's end left recorded.
import assert from "node:assert/strict";
import { CalogValueError, Runtime } from "../bindings/mod.ts";
import { test, watchUnhandled } from "./harness.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const engines = ["lua", "js", "squirrel"] as const;
const idSrc = { lua: "function id(...) return 7 end", js: "function id() { return 7 }", squirrel: "function id(...) { return 7 }" };
const revoked = () => { const { proxy, revoke } = Proxy.revocable({}, {}); revoke(); return proxy; };

for (const engine of engines) {
  for (const thread of [false, true]) {
    const tag = `${engine} (${thread ? "own thread" : "host thread"})`;
    // Finding 1: a trap's refused calls share the walk in progress; each far under 100,000 places, the later-walked
    // ones spend the budget and an unrelated call's Promise goes unhandled. Since pass 81a every call a trap makes
    // while calog walks is refused, its arguments not walked (their Promises are the caller's), on every runtime: none
    // spends any budget, and the Promise after the trap in the walked value is handled.
    for (const policy of ["strict", "lenient"] as const) {
      test(`${tag}: ${policy}, a trap's calls while calog walks are refused and spend nothing of the walk`, async () => {
        const watch = watchUnhandled();
        try {
          using rt = new Runtime({ output: "ignore", policy });
          using ctx = rt.createContext(engine, { thread });
          ctx.eval(idSrc[engine]);
          using other = new Runtime({ output: "ignore" });
          using oc = other.createContext(engine, { thread });
          oc.eval(idSrc[engine]);
          const outcomes: string[] = [];
          const call = (c: typeof ctx, v: unknown) => {
            try { c.call("id", v); outcomes.push("went through"); } catch (e) { outcomes.push(e instanceof CalogValueError && /while marshalling/.test(e.message) ? "refused" : String(e)); }
          };
          const T = new Proxy({}, {
            ownKeys(t) {
              const mine = Promise.reject(new Error("the trap's own"));
              mine.catch(() => {}); // not walked (README): the trap's to handle
              call(ctx, { mine });
              call(oc, { mine });
              for (let k = 0; k < 2; k++) call(ctx, Array.from({ length: 60_000 }, (_, i) => i));
              return Reflect.ownKeys(t);
            },
          });
          const after = { receipt: Promise.reject(new Error("receipt")) };
          if (policy === "strict") assert.throws(() => ctx.call("id", Symbol("x"), T, after));
          else assert.equal(thread ? await ctx.callAsync("id", new (class { t = T; r = after; })()) : ctx.call("id", new (class { t = T; r = after; })()), 7);
          await sleep(50);
          assert.deepEqual(outcomes, ["refused", "refused", "refused", "refused"]);
          assert.equal(watch.count(), 0, "the receipt's rejection went unhandled");
        } finally {
          watch.stop();
        }
      });
    }
    // Finding 2: a trap that throws a revoked Proxy makes the walk's own catch (`e instanceof RangeError`) throw: the walk
    // ends there, and a rejection after that value goes unhandled.
    for (const route of ["strict", "lenient", "early"] as const) {
      test(`${tag}: ${route}, a trap throwing a revoked Proxy does not end the walk`, async () => {
        const watch = watchUnhandled();
        try {
          using rt = new Runtime({ output: "ignore", policy: route === "lenient" ? "lenient" : "strict" });
          using ctx = rt.createContext(engine, { thread });
          ctx.eval(idSrc[engine]);
          const P = new Proxy({}, { ownKeys() { throw revoked(); } });
          const after = { receipt: Promise.reject(new Error("after the trap")) };
          if (route === "strict") assert.throws(() => ctx.call("id", Symbol("x"), P, after));
          else if (route === "lenient") ctx.call("id", new (class { p = P; r = after; })());
          else { const d = rt.createContext(engine, { thread }); d.dispose(); assert.throws(() => d.call("id", P, after)); }
          await sleep(50);
          assert.equal(watch.count(), 0, "the rejection after the trap went unhandled");
        } finally {
          watch.stop();
        }
      });
    }
  }
}

// Finding 3 (low). Where the stack's end left a refused value recorded and not even a microtask could be queued to walk
// it, only the runtime's next call walked it: its dispose did not, so a runtime disposed next left the rejection
// unhandled. Made deterministic here: a trap's own RangeError stops the walk, and queueMicrotask is made to fail as it
// does at the stack's end.
for (const engine of engines) {
  test(`${engine}: the runtime's dispose walks a refused value the stack's end left recorded`, async () => {
    const watch = watchUnhandled();
    const queue = globalThis.queueMicrotask;
    try {
      const rt = new Runtime({ output: "ignore" });
      const ctx = rt.createContext(engine, { thread: false });
      ctx.eval(idSrc[engine]);
      const trap = new Proxy({}, { ownKeys() { throw new RangeError("the trap's own"); } });
      const after = { receipt: Promise.reject(new Error("after the trap")) };
      globalThis.queueMicrotask = () => {
        throw new RangeError("no room for a microtask");
      };
      try {
        assert.throws(() => ctx.call("id", Symbol("x"), trap, after));
      } finally {
        globalThis.queueMicrotask = queue;
      }
      rt.dispose();
      await sleep(50);
      assert.equal(watch.count(), 0, "the rejection recorded at the refusal went unhandled");
    } finally {
      globalThis.queueMicrotask = queue;
      watch.stop();
    }
  });
}
