// Pass 67a (hostile review of c446a63: the chains of calls of 3db2e8b, c/src/actor.c `dependsOn` and
// `servableLocked`; areas 1 (the nesting cap), 2 and 5). Each test fails on c446a63 because of the defect it names, in
// Bun and Deno, and passes on d95a07e (the commit before the chains), where a blocking call was served at any depth.
import assert from "node:assert/strict";
import { type Context, Runtime } from "../bindings/mod.ts";
import { test } from "./harness.ts";

const said = (e: unknown) => `${(e as Error).constructor.name}: ${(e as Error).message}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** p's outcome, or a note that it is still pending after ms (the test then disposes what it made). */
const within = <T>(p: Promise<T>, ms: number): Promise<T | string> =>
  Promise.race([p, sleep(ms).then(() => `still waiting after ${ms} ms`)]);

// A recursion between two threaded contexts (`rec` calls the peer's `back`, which calls `rec` again, two crossings a
// round), whose innermost call spins for `ms` and then calls `other` (a function value of a third context).
const LUA_MAIN = `
function setup(p, o) peer = p; other = o end
local function busy(ms) local t = os.clock() + ms / 1000 while os.clock() < t do end end
function rec(n, ms) if n == 0 then busy(ms) return other() end return peer(n - 1, ms) end
function g() return 'lua g' end`;
const LUA_PEER = `function setup(p) peer = p end function back(n, ms) return peer(n, ms) end`;
const JS_MAIN = `
function setup(p, o) { peer = p; other = o }
function busy(ms) { var t = Date.now() + ms; while (Date.now() < t) {} }
function rec(n, ms) { if (n === 0) { busy(ms); return other() } return peer(n - 1, ms) }
function g() { return 'js g' }`;
const JS_PEER = `function setup(p) { peer = p } function back(n, ms) { return peer(n, ms) }`;

/** Two recursions, A with A2 and B with B2 (contexts of rt, disposed with it), whose innermost calls cross: A's calls
 * B's `g` and B's calls A's. Returns [A, B]. */
function crossedChains(rt: Runtime, engine: "lua" | "js", main: string, peer: string): [Context, Context] {
  const [a, a2, b, b2] = [0, 1, 2, 3].map(() => rt.createContext(engine, { thread: true })) as [Context, Context, Context, Context];
  for (const c of [a, b]) c.eval(main);
  for (const c of [a2, b2]) c.eval(peer);
  a.call("setup", a2.getFunction("back"), b.getFunction("g"));
  b.call("setup", b2.getFunction("back"), a.getFunction("g"));
  a2.call("setup", a.getFunction("rec"));
  b2.call("setup", b.getFunction("rec"));
  return [a, b];
}

// Finding 1. Medium-high (a hang: two waits that each hold back what the other needs; a regression of 3db2e8b; area 1's
// nesting and area 5's waits). Two independent chains of calls in one runtime, each a recursion between two threaded
// contexts 20 rounds deep (40 crossings, well inside the cap of 64), whose innermost calls cross: A's innermost call
// calls a function of B, and B's innermost call calls a function of A, at about the same time. Neither returns for
// 2^((nesting - 32) / 2) seconds: 1.3 s at 15 rounds, 4.4 s at 17, 32 s at 20, and at 31 rounds (nesting 62, a
// backoff of 2^15 s) still waiting after 120 s, until a timeoutMs, an interrupt or dispose() ends it. On d95a07e both
// return "g" in 0.43 s at every depth (at 31 rounds one fails cleanly with the nesting error). README (Threads): "the
// caller waits for the reply and, while it waits, serves calls made back into it, so A -> B -> A never deadlocks";
// README (Async host functions) documents holding back only callAsync/evalAsync requests past half the cap, never a
// synchronous call from another context. Cause: c/src/actor.c `dependsOn` (3db2e8b) serves a blocking call of another
// chain from another context's thread only while the waiter's nesting is under ASYNC_NEST_MAX (32), or when it is
// "late" (queued after the target took the waiter's own request: `box->since`, UINT64_MAX while the request is still
// queued). A, deep, waits for its call into B, which B has not taken; B, deep, waits for its call into A, which A has
// not taken; each holds the other's call back, so both wait for `heldBackoffNs(nesting)`, which doubles every two
// crossings past 32. Fix: a wait must serve a blocking call whose sender is, directly or through the actors it waits
// on, waiting for a request this wait's actor holds (record in each actor the actor its innermost wait's request is
// queued at, and in servableLocked follow that link from q->reply->waiter: reaching `a` means a cycle of waits, serve
// q); or keep 3db2e8b's hold-back for awaited async requests only and serve blocking calls at any depth again (66a's
// finding 2 then needs another remedy, e.g. the sender parks with its request withdrawn until the wait ends).
for (const [engine, main, peer] of [["lua", LUA_MAIN, LUA_PEER], ["js", JS_MAIN, JS_PEER]] as const) {
  test(`finding 1 (${engine}): two deep chains calling into each other's contexts do not stall`, async () => {
    using rt = new Runtime({ output: "ignore" });
    const [a, b] = crossedChains(rt, engine, main, peer);
    // the same recursion alone, 20 rounds deep: fine
    assert.equal(await within(a.callAsync("rec", 20, 0), 5000), `${engine} g`);
    const t0 = performance.now();
    const both = Promise.all([a.callAsync("rec", 20, 300).catch(said), b.callAsync("rec", 20, 300).catch(said)]);
    const rs = await within(both, 5000);
    assert.deepEqual({ rs, slow: performance.now() - t0 > 4000 }, { rs: [`${engine} g`, `${engine} g`], slow: false });
  }, 120_000);
}

// Finding 1: the backoff is no bound. While anything else is served on a wait (here TypeScript calls `g` of A and B
// every 100 ms: a health check, a metrics poll), `waitBox` resets `heldAt`, so the fallback that serves a held-back call
// after heldBackoffNs never comes: the same two chains only 15 rounds deep (nesting 32, a 1.3 s stall alone) are still
// waiting after 6 s, for as long as the pings go on (8 s tried: 78 pings answered, both chains still waiting). d95a07e:
// 0.43 s.
test("finding 1 (lua): two deep chains calling into each other's contexts do not hang while other calls are served", async () => {
  using rt = new Runtime({ output: "ignore" });
  const [a, b] = crossedChains(rt, "lua", LUA_MAIN, LUA_PEER);
  let pings = 0;
  const iv = setInterval(() => {
    a.call("g");
    b.call("g");
    pings++;
  }, 100);
  try {
    const both = Promise.all([a.callAsync("rec", 15, 300).catch(said), b.callAsync("rec", 15, 300).catch(said)]);
    const rs = await within(both, 6000);
    assert.ok(pings > 0);
    assert.deepEqual(rs, ["lua g", "lua g"]);
  } finally {
    clearInterval(iv);
  }
}, 120_000);

// Finding 1, the same hold-back with one deep chain (medium; the same regression): A's recursion, 18 rounds deep,
// calls an async TypeScript host function `gate` that awaits the promise of a callAsync made just before into a third
// context D, whose script calls a function of A (a blocking call from D's thread, queued while A's innermost call still
// ran). `gate` waits for D, D waits for A, A's wait holds D's call back (another chain, not "late"): 8.7 s (16 rounds:
// 2.6 s; 20: over 30 s), where d95a07e took 0.45 s. A cycle through TypeScript's promises cannot be seen by the C
// library, so the fix for this shape is serving blocking calls from other contexts at any depth again (or a fixed,
// short fallback for them instead of the doubling one).
test("finding 1 (lua): a deep wait in an async host function does not hold back the call its promise waits for", async () => {
  using rt = new Runtime({ output: "ignore" });
  using a = rt.createContext("lua", { thread: true });
  using a2 = rt.createContext("lua", { thread: true });
  using d = rt.createContext("lua", { thread: true });
  a.eval(LUA_MAIN + "\nfunction gated() return gate() end");
  a2.eval(LUA_PEER);
  d.eval(`local function busy(ms) local t = os.clock() + ms / 1000 while os.clock() < t do end end
          function callA(f) busy(100) return f() end`);
  let pD: Promise<unknown> | undefined;
  rt.register("gate", async () => await pD);
  using arec = a.getFunction("rec");
  using ag = a.getFunction("g");
  using gated = a.getFunction("gated");
  using a2back = a2.getFunction("back");
  a.call("setup", a2back, gated);
  a2.call("setup", arec);
  const t0 = performance.now();
  const pA = a.callAsync("rec", 18, 300).catch(said);
  pD = d.callAsync("callA", ag).catch(said);
  const rs = await within(Promise.all([pA, pD]), 5000);
  assert.deepEqual({ rs, slow: performance.now() - t0 > 3000 }, { rs: ["lua g", "lua g"], slow: false });
}, 120_000);

// Finding 2 (an independent synchronous call served nested on a waiting request runs under that request's limits and
// abort; older, pass 15c's defect in its synchronous form) is open: its fix in cf3f3ee (an entry of its own for a
// blocking call of another chain) broke a loop-back from an async host function's continuation (a call from the
// JavaScript thread's top level, which no chain links to the call it serves) and a synchronous eval's timeoutMs (pass
// 68a, findings 2 and 3), and was taken back. Its tests are kept outside the suite until a fix covers all three.
