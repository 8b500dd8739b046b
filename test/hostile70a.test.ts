// Pass 70a (hostile review of c125a3c: c/src/actor.c `dependsOn`, `servableLocked`, `waitBox`'s per-wait
// `heldCallBackoffNs` fallback and `heldCallLocked`'s choice of message; areas 1 (the nesting cap), 2 and 5). Each test
// fails on c125a3c because of the defect it names, in Bun and Deno.
import assert from "node:assert/strict";
import { Runtime } from "../bindings/mod.ts";
import { test } from "./harness.ts";

const said = (e: unknown) => `${(e as Error).constructor.name}: ${(e as Error).message}`;

// Finding 1. Medium (hang: a stall that grows linearly with the number of independent callers queued, 1 s to 1.7 s
// each near the cap; starvation of the call the wait depends on). A threaded context A recurses 30 rounds with D
// (nesting past half the cap) and its innermost call awaits an async host function, which after 300 ms awaits
// B.callAsync whose script calls A.h (a cycle through the host: A's wait depends on B's call). Meanwhile, 100 ms in, K
// independent callers (threaded contexts G1..GK, each calling A.h synchronously) queue on A. With K = 0 the chain ends
// in 1.3 s (300 ms + one fallback of about 1 s at this depth); with K = 6 in 7.1 s, K = 8 in about 9 s (measured in
// Bun): A's wait serves exactly one held-back blocking call per fallback, always the OLDEST one (`heldCallLocked`), and
// starts a new full backoff after each (`heldAt = 0` after a fallback), so the call it depends on waits behind every
// independent caller queued before it, a full backoff each. With 40 callers at the cap (1.7 s each) the chain stalls
// some 70 s; with no timeout set, that reads as a hang. README (Async host functions): "a wait that has found only
// held-back requests for 100 ms (100 ms more every two crossings deeper: 1.7 s at the cap) serves the oldest such call
// anyway (the wait may depend on it through other contexts or a host function's Promise: a cycle of three contexts'
// calls stalls that long)" - it promises a stall of one backoff, not one per independent caller queued. Cause:
// c/src/actor.c `waitBox`: on a fallback it takes `heldCallLocked` (the first blocking call in the queue) and then
// resets heldAt, so the next held-back call waits a whole heldCallBackoffNs again even though the previous one
// returned at once. Fix idea: once a fallback has fired, serve the held-back blocking calls that were queued at that
// moment one after the other (each returns before the next is taken, so nesting grows by one, not by one per call;
// remember the queue's seq at the fallback and keep `fallback` armed for messages with seq <= it), and only then
// reset heldAt; or, on a fallback, prefer a call whose sender's thread is in an entry of an async request started
// while this wait was pending (the host-cycle case), before independents.
test("finding 1: independent callers queued before the call a deep wait depends on do not each add a full fallback", async () => {
  using rt = new Runtime({ output: "ignore" });
  const mk = () => rt.createContext("lua", { thread: true });
  const A = mk(), D = mk(), B = mk();
  const G = Array.from({ length: 8 }, mk);
  let t0 = 0;
  const at = () => Math.round(performance.now() - t0);
  rt.register("slow", async () => {
    await new Promise((r) => setTimeout(r, 300));
    return await B.callAsync("cb", A.getFunction("h"));
  });
  try {
    A.eval("function rec(n, other) if n == 0 then return slow() end return other(n - 1, rec) end\nfunction h() return 1 end");
    D.eval("function bounce(n, r) return r(n, bounce) end");
    B.eval("function cb(f) return f() + 1 end");
    for (const g of G) g.eval("function go(f) return f() end");
    t0 = performance.now();
    const chain = A.callAsync("rec", 30, D.getFunction("bounce")).then((v) => [v, at()], said);
    await new Promise((r) => setTimeout(r, 100));
    const gs = G.map((g) => g.callAsync("go", A.getFunction("h")).catch(said));
    const r = await chain;
    assert.ok(Array.isArray(r), `the chain failed: ${r}`); // seen once, at a load of 9 on 2 cores: what did it say?
    const [v, ms] = r as [number, number];
    assert.deepEqual(await Promise.all(gs), G.map(() => 1));
    assert.equal(v, 2);
    // 300 ms + one fallback (about 1 s at this depth); c125a3c: about 9 s (one full fallback per independent caller)
    assert.ok(ms < 3000, `the chain whose wait depends on B's call back took ${ms} ms behind 8 independent callers`);
  } finally {
    for (const x of [A, D, B, ...G]) x.dispose();
  }
}, 120_000);

// Finding 2 (forty independent callAsync relays through the context a deep wait is calling, each calling back into
// that deep context at 60 of 64 crossings, fail with the nesting error) is open: the relays need nested room the deep
// context does not have, and holding them until it unwinds would leave a cycle through a host function's Promise
// waiting for ever. Its test is kept outside the suite (see the closing note).
