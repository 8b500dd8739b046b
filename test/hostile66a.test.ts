// Pass 66a (hostile review of cdb85bf: the awaited-request path, identity-based lending and reference counts; areas 2
// and 5, and 1 where nesting is concerned). Each test fails on cdb85bf because of the defect it names, in Bun and Deno.
import assert from "node:assert/strict";
import { Runtime } from "../bindings/mod.ts";
import { test } from "./harness.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const said = (e: unknown) => `${(e as Error).constructor.name}: ${(e as Error).message}`;

// Finding 1. Medium-high (wrong outcome under load, a regression of cdb85bf; area 5 across runtimes, and area 1's
// nesting cap). Independent concurrent calls, each a script that can wait (callAsync on a threaded context of runtime
// A) calling a function of another runtime's threaded context B that awaits an async host function (a server's
// handlers calling a shared service, say), fail from about the 33rd on with CalogScriptError "call nesting deeper than
// 64 crossings": 40 concurrent: 8 fail; 80: 48 fail (Bun; the same in Deno). None of them nests: each chain is one
// crossing deep. The same 80 calls made as `g.callAsync(i)` from TypeScript all succeed, and so did these on a110027.
// README (threads): a script calling another runtime's function "waits for it as for an async host function"; the
// nesting cap is for calls that nest, and concurrent callAsync of a script parked on an async host function are held
// back rather than nested (hostile12b, c/src/actor.c servableLocked). Cause: cdb85bf sends every lent call by a waiting
// script as `calogFnCallAwaitedWire` (src/runtime.ts `lentAsync`), and c/src/actor.c `servableLocked` serves a message
// marked `awaited` at any depth: B, waiting inside g's async host function for chain 1, takes chain 2's request nested
// on that wait (two crossings deeper), chain 3's on chain 2's, and so on up to the cap, where the rest fail; each
// reply also waits for every later chain (LIFO). `awaited` tells "a waiter's stack somewhere depends on it", not "this
// waiter's stack depends on it". Fix: serve an awaited request past ASYNC_NEST_MAX only when the wait it would nest on
// belongs to its own chain (carry the originating request's chain id, or the set of actors waiting in the chain, with
// the awaited request; an unrelated one is held back as an ordinary async request is), so a recursion between runtimes
// still goes deep and concurrent chains queue instead of nesting. (Checked: with `lentAsync` sending `fnCallAsync` again,
// a110027's behaviour, both finding-1 tests pass, and hostile65a's finding 2 stalls again: the flag must be narrower.)
test("finding 1: concurrent callAsync chains into another runtime's waiting context do not hit the nesting cap", async () => {
  using rtA = new Runtime({ output: "ignore" });
  using rtB = new Runtime({ output: "ignore" });
  rtB.register("slow", async (x: unknown) => {
    await sleep(20);
    return x;
  });
  using b = rtB.createContext("js", { thread: true });
  b.eval("function g(x) { return slow(x) + 1 }");
  using g = b.getFunction("g");
  const N = 80;
  const as = Array.from({ length: N }, () => rtA.createContext("lua", { thread: true }));
  try {
    for (const a of as) a.eval("function run(g, x) return g(x) end");
    const direct = await Promise.all(Array.from({ length: N }, (_, i) => g.callAsync(i).catch(said)));
    assert.deepEqual(direct.filter((r, i) => r !== i + 1), [], "the same calls from TypeScript");
    const viaScripts = await Promise.all(as.map((a, i) => a.callAsync("run", g, i).catch(said)));
    const failed = viaScripts.filter((r, i) => r !== i + 1);
    assert.deepEqual({ failed: failed.length, first: failed[0] }, { failed: 0, first: undefined });
  } finally {
    for (const a of as) a.dispose();
  }
});

// Finding 1, the second symptom (pass 27b's defect back through the awaited path): while 32 such chains wait nested
// on B (none of them nested by the program), a synchronous `b.call("ping")` made at the program's top level fails with
// CalogNestingError "call nesting deeper than 64 crossings"; README (Async host functions): requests are held back
// "near the cap, and a synchronous call made meanwhile still has room" (ASYNC_LATE_MAX keeps 8 crossings free; an
// awaited message ignores it). Same cause and fix as finding 1.
test("finding 1: a top-level synchronous call made while callAsync chains wait on another runtime's context is not refused for nesting", async () => {
  using rtA = new Runtime({ output: "ignore" });
  using rtB = new Runtime({ output: "ignore" });
  rtB.register("slow", async (x: unknown) => {
    await sleep(150);
    return x;
  });
  using b = rtB.createContext("js", { thread: true });
  b.eval("function g(x) { return slow(x) + 1 } function ping() { return 'pong' }");
  using g = b.getFunction("g");
  const N = 32;
  const as = Array.from({ length: N }, () => rtA.createContext("lua", { thread: true }));
  try {
    for (const a of as) a.eval("function run(g, x) return g(x) end");
    const all = Promise.all(as.map((a, i) => a.callAsync("run", g, i).catch(said)));
    await sleep(60);
    let ping: unknown;
    try {
      ping = b.call("ping");
    } catch (e) {
      ping = said(e);
    }
    const rs = await all;
    assert.deepEqual({ ping, failed: rs.filter((r, i) => r !== i + 1).length }, { ping: "pong", failed: 0 });
  } finally {
    for (const a of as) a.dispose();
  }
});

// Finding 2. Medium (wrong outcome under load; area 5, and area 1's nesting cap; older than cdb85bf, the same shape as
// finding 1 within one runtime). Threaded contexts of ONE runtime each calling, concurrently, a function value of
// another threaded context B whose script awaits an async host function: 60 contexts, 28 fail with CalogScriptError
// "call nesting deeper than 64 crossings" (Bun; the same in Deno); none of them nests (each is one crossing deep), and
// the same 60 calls from TypeScript (`g.callAsync`) or from 100 concurrent callAsync of one context all succeed.
// README (Async host functions): "Any number of contexts may wait at once", "any number of concurrent async calls of a
// script awaiting an async host function succeed"; README (Threads): while a caller waits it "serves calls made back
// into it, so A → B → A never deadlocks" - these calls are not made back into B, they are independent callers. Cause:
// a call from another context's thread is a blocking message (`done == NULL`), and c/src/actor.c `servableLocked`
// serves every blocking message at any depth, so B, parked in `slow` for caller 1, serves caller 2's call nested on
// that wait, caller 3's on caller 2's, and so on, two crossings each, to the cap. Fix: as finding 1 - serve a message
// nested past ASYNC_NEST_MAX only when it belongs to the chain of the wait it would nest on (a chain id carried by
// each request and by the calls a script makes while serving it); an unrelated blocking call waits in the queue for
// the top level, as an unrelated callAsync does.
test("finding 2: concurrent calls from many contexts of one runtime into a waiting context do not hit the nesting cap", async () => {
  using rt = new Runtime({ output: "ignore" });
  rt.register("slow", async (x: unknown) => {
    await sleep(20);
    return x;
  });
  using b = rt.createContext("js", { thread: true });
  b.eval("function g(x) { return slow(x) + 1 }");
  using g = b.getFunction("g");
  const N = 60;
  const cs = Array.from({ length: N }, () => rt.createContext("lua", { thread: true }));
  try {
    for (const c of cs) c.eval("function run(g, x) return g(x) end");
    const direct = await Promise.all(Array.from({ length: N }, (_, i) => g.callAsync(i).catch(said)));
    assert.deepEqual(direct.filter((r, i) => r !== i + 1), [], "the same calls from TypeScript");
    const viaScripts = await Promise.all(cs.map((c, i) => c.callAsync("run", g, i).catch(said)));
    const failed = viaScripts.filter((r, i) => r !== i + 1);
    assert.deepEqual({ failed: failed.length, first: failed[0] }, { failed: 0, first: undefined });
  } finally {
    for (const c of cs) c.dispose();
  }
});

// Finding 3. Low (a live TypeScript function refused with a misleading error; area 2's lending code). A plain
// TypeScript function whose prototype is a ScriptFunction (`Object.setPrototypeOf(fn, f)`, or a class that `extends`
// a script function; the function itself is no ScriptFunction and no Proxy) is refused when passed to a script or
// registered once that ScriptFunction is disposed: CalogDisposedError "script function was disposed", though nothing
// disposed was passed (while the prototype is live it crosses and runs as itself, "plain 4"). README: a Proxy of a
// disposed script function is refused; any other TypeScript function crosses as a host function. Cause: src/runtime.ts
// `Core.hostRef` reads `fn[CHECK_LIVE]` with an ordinary [[Get]], which walks the prototype chain and finds the
// prototype's own `checkLive`. Fix: read the probe as an own property (`Object.getOwnPropertyDescriptor(fn,
// CHECK_LIVE)?.value`, which a Proxy with no `getOwnPropertyDescriptor` trap forwards to its target's own property, so
// the pass-62a refusal stays) instead of `fn[CHECK_LIVE]` (checked: with that one-line change findings 3 and 5 pass, and
// hostile62a and hostile65a still pass).
test("finding 3: a plain function whose prototype is a disposed ScriptFunction still crosses as itself", () => {
  using rtA = new Runtime({ output: "ignore" });
  using rtB = new Runtime({ output: "ignore" });
  using a = rtA.createContext("lua", { thread: false });
  using b = rtB.createContext("js", { thread: true });
  a.eval("function secret(x) return 'secret ' .. tostring(x) end function use(g, x) return g(x) end");
  b.eval("function use(g, x) { return g(x) }");
  const g = a.getFunction("secret");
  const plain = function (x: unknown) {
    return "plain " + x;
  };
  Object.setPrototypeOf(plain, g);
  assert.equal(b.call("use", plain, 1), "plain 1");
  g.dispose();
  const first = (f: () => unknown) => {
    try {
      return f();
    } catch (e) {
      return said(e).split("\n")[0];
    }
  };
  assert.deepEqual(
    { otherRuntime: first(() => b.call("use", plain, 2)), sameRuntime: first(() => a.call("use", plain, 3)), registered: first(() => (rtB.register("pp", plain), b.eval("pp(4)"))) },
    { otherRuntime: "plain 2", sameRuntime: "plain 3", registered: "plain 4" },
  );
});

// Finding 4. Low (a dead function accepted, each call failing later; area 2; the pass-62a defect for the other kind of
// handle). A Proxy of a disposed ScriptFunction is refused when passed or registered (CalogDisposedError, pass 62a, README:
// "one of a disposed script function is refused"), and so is getFunction's handle of a TypeScript function once disposed
// ("a disposed script function cannot be passed to a script"); but a Proxy of that disposed handle is accepted, by a
// call and by rt.register, and every later call from the script fails with CalogScriptError "script function was
// disposed". Cause: src/runtime.ts `hostHandle` gives its handles no CHECK_LIVE probe (only `#handle`'s ScriptFunctions
// have one), so `Core.hostRef` finds nothing to check through the Proxy. Fix: give hostHandle's `f` a `[CHECK_LIVE]`
// that throws `ownError(dead())` when `!live` (and add it to `liveChecks`; checked: this passes then).
test("finding 4: a Proxy of a disposed getFunction handle of a TypeScript function is refused as one of a disposed ScriptFunction is", () => {
  using rtA = new Runtime({ output: "ignore" });
  using rtB = new Runtime({ output: "ignore" });
  using a = rtA.createContext("lua", { thread: true });
  using b = rtB.createContext("js", { thread: true });
  a.eval("K = nil function keep(g) K = g end function secret(x) return x end");
  b.eval("function use(g, x) { return g(x) }");
  a.call("keep", (x: unknown) => "ts " + x);
  const h = a.getFunction("K");
  const s = a.getFunction("secret");
  const ph = new Proxy(h, {});
  const ps = new Proxy(s, {});
  h.dispose();
  s.dispose();
  const first = (f: () => unknown) => {
    try {
      return f();
    } catch (e) {
      return (e as Error).constructor.name;
    }
  };
  assert.deepEqual(
    {
      proxyOfScriptFunction: first(() => b.call("use", ps, 1)),
      proxyOfHostHandle: first(() => b.call("use", ph, 1)),
      registeredProxyOfHostHandle: first(() => rtB.register("ph", ph)),
    },
    { proxyOfScriptFunction: "CalogDisposedError", proxyOfHostHandle: "CalogDisposedError", registeredProxyOfHostHandle: "CalogDisposedError" },
  );
});

// Finding 5. Low (an unclear error naming calog's internals; a Proxy's trap sees a key the user never wrote; area 2
// and 4). Passing ANY Proxy of a function to a script - a Proxy of a plain TypeScript function too, not only of a
// ScriptFunction - runs its `get` trap with calog's private symbol `Symbol(calog.checkLive)`: a guard Proxy that refuses
// unknown keys (`get(t, k) { if (!(k in allowed)) throw new Error(...) }`, a common pattern) makes the function
// unpassable, CalogValueError "reading a value to pass threw (a getter or a Proxy trap): Error: ... Symbol(calog.checkLive)",
// and a logging trap logs that symbol on the first pass of each Proxy. Passing a function reads no other property.
// README: a Proxy of a script function is a TypeScript function to a script, "its traps run on each call". Cause:
// src/runtime.ts `Core.hostRef` probes `fn[CHECK_LIVE]` through the Proxy's get trap (pass 62a's refusal). Fix: probe
// the own property through `Object.getOwnPropertyDescriptor` (see finding 3: a get-only trap then never runs), or
// refuse a Proxy of a disposed ScriptFunction at call time, through its apply, instead of at pass time.
test("finding 5: a Proxy of a plain function whose get trap refuses unknown keys can be passed to a script", () => {
  using rt = new Runtime({ output: "ignore" });
  using ctx = rt.createContext("js", { thread: true });
  ctx.eval("function use(g, x) { return g(x) }");
  const seen: string[] = [];
  const guarded = new Proxy((x: unknown) => (x as number) + 1, {
    get(t, k) {
      seen.push(String(k));
      if (k !== "name" && k !== "length") throw new Error(`no property ${String(k)}`);
      return Reflect.get(t, k);
    },
  });
  let got: unknown;
  try {
    got = ctx.call("use", guarded, 1);
  } catch (e) {
    got = said(e);
  }
  assert.deepEqual({ got, seen }, { got: 2, seen: [] });
});
