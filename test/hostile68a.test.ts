// Pass 68a (hostile review of cf3f3ee: c/src/actor.c `dependsOn`'s 100 ms rule for held-back blocking calls, and a
// blocking call of another chain served on a wait as an entry of its own (`ownEntry`); areas 1 (the nesting cap), 2
// and 5). Each test fails on cf3f3ee because of the defect it names, in Bun and Deno, and passes on c446a63 (the
// commit before), so each is a regression of cf3f3ee.
import assert from "node:assert/strict";
import { Runtime } from "../bindings/mod.ts";
import { runScriptChild, test } from "./harness.ts";

const said = (e: unknown) => `${(e as Error).constructor.name}: ${(e as Error).message}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const BUSY = "local function busy(ms) local t = os.clock() + ms / 1000 while os.clock() < t do end end\n";

// Finding 1. Medium-high (wrong outcome under load, a regression of cf3f3ee of pass 66a's finding 2; area 5, and
// area 1's nesting cap). 40 threaded contexts of one runtime each call, concurrently, a function of a threaded context
// B whose script awaits an async host function taking 300 ms: 8 of them fail with CalogScriptError "call nesting
// deeper than 64 crossings" (34 callers: 2 fail; 80: 48 fail, all in 0.4 s; 70 callers of a 1 s host function: 38
// fail). None of them nests: each chain is one crossing deep. On c446a63 all succeed (80 callers in 1.6 s, 70 callers of
// the 1 s function in 8 s: held back, served by shallower waits). README (Async host functions): "Any number of
// contexts may wait at once"; an independent synchronous caller "held back for 100 ms, it is served anyway" (one, not
// all of them), and the commit says "A caller of a context that waits longer than this in a host function nests one
// level per period past half the cap". Cause: c/src/actor.c `heldCallsDue` stamps `heldNs` on every queued blocking
// call the first time any wait sees it held back, and never restamps it: after 100 ms every one of them is due, so each
// wait serves one at once (heldDue), the wait that nested on it serves the next at once, and so on: the whole queue
// nests in one cascade, two crossings per caller, to the cap (16 callers nest at once below half the cap, 16 more in
// the cascade, the rest fail). Even one per 100 ms per level (the stated design) reaches the cap once more than 32
// callers of a host function slower than 100 ms are queued (the held ones pile up faster than the ones below return,
// LIFO). Fix: measure the hold-back per wait, not per message (a wait serves at most one held call per period,
// its stamps restart once it has), and let the period grow with the depth past half the cap as heldBackoffNs does
// (e.g. 100 ms doubling every two crossings past 48), so independent callers nest logarithmically in time; the crossed
// chains of pass 67a are served by the box->target rule at any depth already.
test("finding 1: 40 concurrent calls from contexts of one runtime into a context awaiting a 300 ms host function do not hit the nesting cap", async () => {
  using rt = new Runtime({ output: "ignore" });
  rt.register("slow", async (x: unknown) => {
    await sleep(300);
    return x;
  });
  using b = rt.createContext("js", { thread: true });
  b.eval("function g(x) { return slow(x) + 1 }");
  using g = b.getFunction("g");
  const N = 40;
  const cs = Array.from({ length: N }, () => rt.createContext("lua", { thread: true }));
  try {
    for (const c of cs) c.eval("function run(g, x) return g(x) end");
    const rs = await Promise.all(cs.map((c, i) => c.callAsync("run", g, i).catch(said)));
    const failed = rs.filter((r, i) => r !== i + 1);
    assert.deepEqual({ failed: failed.length, first: failed[0] }, { failed: 0, first: undefined });
  } finally {
    for (const c of cs) c.dispose();
  }
});

// Finding 2. Medium (a limit not kept, a regression of cf3f3ee; area 5; hostile27a/31a's loop-backs). A threaded
// context's `evalAsync("return f()", { timeoutMs: 300 })` whose f calls an async host function that, after an await,
// calls back into the same context (`spin()`, a function value of it, 1 s of work): the loop-back is not stopped at
// the eval's deadline; it runs its full second (blocking the event loop, since TypeScript called it synchronously), and
// the eval fails only then ("the script ran 1045 ms, the limit is 300 ms"). With a loop-back that does not end, the
// JavaScript thread hangs for good (nothing can call interrupt(): the event loop is blocked) where c446a63 stops it at
// 300 ms. The same host function without the await (a synchronous host function) still shares the deadline: the
// loop-back fails at 300 ms, as on c446a63 for both. README (Limits): "a call made from a host function into a context
// already running below it (a loop back into the caller) fails with "interrupted" when the call it served times out";
// README (Async host functions) makes an entry of its own only of "a synchronous call of another chain than the
// waiting call's", and "chain" is not defined for users: an async host function's continuation is the same call.
// Cause: cf3f3ee's `calog__actorCall` starts a new chain for every call from a thread's top level (tlsChain 0), and an
// async host function's continuation runs at the host's top level, so `ownEntry` sees the loop-back as an independent
// caller and `nestBegin` gives it the context's own limits (none here) instead of the waiting call's. Fix: carry the
// deferred call's chain into the async host function's continuation (the binding can hold it in an AsyncLocalStorage,
// which Bun and Deno both have, and pass it with each synchronous call it makes: a calogSetChain-style entry point, or
// an argument of the call), so calls made from the continuation are of the waiting call's chain; a call from the
// event loop's own top level stays an entry of its own (pass 67a finding 2).
{
  test(`finding 2: a loop-back from an async host function into its caller stops at the caller's evalAsync timeoutMs`, async () => {
    using rt = new Runtime({ output: "ignore" });
    using b = rt.createContext("lua", { thread: true });
    b.eval(BUSY + "function spin(ms) busy(ms) return 'spun' end function f() return h() end");
    using spin = b.getFunction("spin");
    let inner: unknown = "not called";
    const loopBack = () => {
      try {
        inner = spin(1000);
      } catch (e) {
        inner = said(e);
      }
      return inner;
    };
    rt.register("h", async () => {
      await sleep(20);
      return loopBack();
    });
    const t0 = performance.now();
    const r = await b.evalAsync("return f()", { timeoutMs: 300 }).catch(said);
    const ms = performance.now() - t0;
    assert.deepEqual(
      { r: String(r).replace(/ran 3\d\d ms/, "ran 3xx ms"), inner: String(inner).replace(/ran 3\d\d ms/, "ran 3xx ms"), late: ms > 700 },
      { r: "CalogLimitError: timeout: the script ran 3xx ms, the limit is 300 ms", inner: "CalogLimitError: timeout: the script ran 3xx ms, the limit is 300 ms", late: false },
    );
  });
}

// Finding 2, the hang: the same with a loop-back that does not end (`while true do end`) and no limits on the context
// but the eval's timeoutMs: the JavaScript thread never comes back (killed after 8 s here); c446a63 stops it at 300 ms
// and prints the timeout. Run in a child process.
test("finding 2: a never-ending loop-back from an async host function does not hang the event loop past the caller's timeoutMs", async () => {
  const { code, out } = await runScriptChild("h68a_loopback", `
    using rt = new Runtime({ output: "ignore" });
    using b = rt.createContext("lua", { thread: true });
    b.eval("function spin() while true do end end function f() return h() end");
    const spin = b.getFunction("spin");
    rt.register("h", async () => { await new Promise((r) => setTimeout(r, 20)); try { return spin(); } catch (e) { return String(e); } });
    const r = await b.evalAsync("return f()", { timeoutMs: 300 }).catch((e) => e.constructor.name + ": " + e.message);
    console.log("result:", String(r).replace(/ran 3\\d\\d ms/, "ran 3xx ms"));
  `, 8000);
  assert.deepEqual({ code, out: out.trim() }, { code: 0, out: "result: CalogLimitError: timeout: the script ran 3xx ms, the limit is 300 ms" });
}, 30_000);

// Finding 3. Medium (a limit not kept, a regression of cf3f3ee; area 5). A synchronous `h.eval("return f(B)",
// { timeoutMs: 500 })` on a host-thread context H (or a threaded one) whose f calls a threaded context B (1.5 s of
// work) returns only after 2.2 s ("timeout: the script ran 2270 ms, the limit is 500 ms"), when an independent caller
// (a threaded context C's script, started before) called H's `hg` while f waited, and hg waits on a third context D for
// 2 s: hg is served nested on f's wait as an entry of its own (its own limits: none), and f's wait below it cannot end
// until hg returns (the JavaScript thread is blocked in eval all along). On c446a63 eval returns at 500 ms (hg then
// shared f's entry and stopped with it; pass 67a called that its defect 2, for a waiting callAsync, whose deadline a
// buried-request answer keeps). README (Async host functions): "the call it was served on keeps its deadline (one that
// passes while the nested request still runs is answered at once with its CalogLimitError)": nothing can answer a
// synchronous call early, so here the deadline is simply lost for as long as the nested caller likes. Cause:
// c/src/actor.c `ownEntry`/`nestBegin` (cf3f3ee) start an entry of its own for a blocking call of another chain
// whatever the wait below is; calog__entriesBelowStop ends its walk at the own entry's boundary, so f's deadline stops
// nothing above it. Fix: an entry of its own served on a wait that cannot be answered early (the waiting entry is a
// synchronous call: no async completion to publish) takes the earlier of its own deadline and the waiting entry's (or
// calog__entriesBelowStop keeps looking past the boundary for a deadline of a synchronous entry below and stops the
// nested entry's waits at it, failing it with "interrupted" as a loop-back fails), while one on a callAsync's wait
// keeps its own limits (pass 67a).
for (const thread of [false, true]) {
  test(`finding 3: a synchronous eval's timeoutMs on a ${thread ? "threaded" : "host-thread"} context holds while an independent call waits nested on it`, async () => {
    using rt = new Runtime({ output: "ignore" });
    using h = rt.createContext("lua", { thread });
    using b = rt.createContext("lua", { thread: true });
    using c = rt.createContext("lua", { thread: true });
    using d = rt.createContext("lua", { thread: true });
    b.eval(BUSY + "function slowish() busy(1500) return 'b' end");
    d.eval(BUSY + "function spin() busy(2000) return 'd' end");
    h.eval("function f(bs) return bs() end function hg(ds) return ds() end function set(x) B = x end");
    c.eval(BUSY + "function run(hg, ds) busy(200) return hg(ds) end");
    using bs = b.getFunction("slowish");
    using ds = d.getFunction("spin");
    using hg = h.getFunction("hg");
    h.call("set", bs);
    const pC = c.callAsync("run", hg, ds).catch(said);
    await sleep(20);
    const t0 = performance.now();
    let r: unknown;
    try {
      r = h.eval("return f(B)", { timeoutMs: 500 });
    } catch (e) {
      r = said(e);
    }
    const ms = performance.now() - t0;
    await pC;
    assert.deepEqual(
      { r: String(r).replace(/ran 5\d\d ms/, "ran 5xx ms"), late: ms > 1000 },
      { r: "CalogLimitError: timeout: the script ran 5xx ms, the limit is 500 ms", late: false },
    );
  });
}
