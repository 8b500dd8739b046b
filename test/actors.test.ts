// Contexts as actors on their own threads, the Promise API, and the host as an actor.
import assert from "node:assert/strict";
import { CalogDeadError, Runtime, type ScriptFunction } from "../bindings/mod.ts";
import { isDeno, test } from "./harness.ts";

test("two threaded Lua contexts call each other and the host", () => {
  using rt = new Runtime();
  const hostThreadCalls: string[] = [];
  rt.register("hostLog", (msg) => void hostThreadCalls.push(msg as string));
  using a = rt.createContext("lua");
  using b = rt.createContext("lua");
  assert.equal(a.threaded, true);
  a.eval("function double(x) hostLog('A doubles ' .. x) return x * 2 end function setPeer(f) peer = f end function viaPeer(x) return peer(x) + 1 end");
  b.eval("function setPeer(f) peer = f end function viaPeer(x) return peer(x) * 10 end function inc(x) hostLog('B incs ' .. x) return x + 1 end");
  using aDouble = a.getFunction("double");
  using bInc = b.getFunction("inc");
  a.call("setPeer", bInc); // A holds B's function, B holds A's
  b.call("setPeer", aDouble);
  assert.equal(a.call("viaPeer", 5), 7); // A -> B (inc) -> back: (5 + 1) + 1
  assert.equal(b.call("viaPeer", 5), 100); // B -> A (double): 10 * 10
  assert.deepEqual(hostThreadCalls, ["B incs 5", "A doubles 5"]);
});

test("8 threaded contexts x 10,000 Promise calls all resolve with the right results", async () => {
  using rt = new Runtime();
  const ctxs = Array.from({ length: 8 }, (_, k) => {
    const c = rt.createContext("lua");
    c.eval(`function f(i) return i * 8 + ${k} end`);
    return c;
  });
  try {
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 10_000; i++) for (let k = 0; k < 8; k++) calls.push(ctxs[k]!.callAsync("f", i));
    const results = await Promise.all(calls);
    for (let i = 0; i < 10_000; i++) for (let k = 0; k < 8; k++) assert.equal(results[i * 8 + k], i * 8 + k);
  } finally {
    for (const c of ctxs) c.dispose();
  }
}, 120_000);

test("re-entrant chain host -> A -> host -> A (blocking and async)", async () => {
  using rt = new Runtime();
  using a = rt.createContext("lua");
  let depth = 0;
  rt.register("hostStep", (n) => {
    depth++;
    const r = (n as number) > 0 ? (a.call("step", (n as number) - 1) as number) + 1 : 0;
    return r;
  });
  a.eval("function step(n) if n == 0 then return 0 end return hostStep(n - 1) + 1 end");
  assert.equal(a.call("step", 9), 9);
  assert.equal(depth, 5);
  assert.equal(await a.callAsync("step", 9), 9); // the same chain, started without blocking
});

test("a timer keeps firing while a long non-blocking eval runs", async () => {
  using rt = new Runtime();
  using lua = rt.createContext("lua");
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  try {
    const started = performance.now();
    const sum = await lua.evalAsync("local s = 0 for i = 1, 4e7 do s = s + i % 7 end return s");
    const elapsed = performance.now() - started;
    assert.equal(typeof sum, "number");
    assert.ok(elapsed > 50, `the eval should take a while (${elapsed.toFixed(0)} ms)`);
    assert.ok(ticks >= Math.min(5, Math.floor(elapsed / 20)), `only ${ticks} ticks in ${elapsed.toFixed(0)} ms`);
  } finally {
    clearInterval(timer);
  }
});

test("destroying a context with calls in flight interrupts the running one and rejects the queued (all CalogDeadError)", async () => {
  using rt = new Runtime();
  const lua = rt.createContext("lua");
  lua.eval("function slow() local s = 0 for i = 1, 2e9 do s = s + i end return 'slow done' end function quick(i) return i end");
  const slow = lua.callAsync("slow"); // running when we destroy
  await new Promise((r) => setTimeout(r, 20));
  const queued = Array.from({ length: 20 }, (_, i) => lua.callAsync("quick", i));
  lua.dispose();
  const outcomes = await Promise.allSettled([slow, ...queued]);
  assert.equal(outcomes[0]!.status, "rejected"); // the running call is interrupted
  const stopped = (outcomes[0] as PromiseRejectedResult).reason;
  assert.ok(stopped instanceof CalogDeadError, String(stopped)); // the context was disposed: not a limit
  const rejected = outcomes.slice(1);
  for (const o of rejected) {
    assert.equal(o.status, "rejected");
    assert.ok((o as PromiseRejectedResult).reason instanceof CalogDeadError);
  }
  await assert.rejects(lua.callAsync("quick", 1), /disposed/);
});

test("Promise forms on a host-thread context behave the same", async () => {
  using rt = new Runtime();
  using lua = rt.createContext("lua", { thread: false });
  assert.equal(lua.threaded, false);
  lua.eval("function add(a, b) return a + b end");
  assert.equal(await lua.callAsync("add", 2, 3), 5);
  assert.equal(await lua.evalAsync("return add(1, 1)"), 2);
  await assert.rejects(lua.evalAsync("error('async boom')"), /async boom/);
  using add = lua.getFunction("add");
  assert.equal(await add.callAsync(20, 22), 42);
});

test("async errors, script functions and host callbacks through the Promise path", async () => {
  using rt = new Runtime();
  using lua = rt.createContext("lua");
  rt.register("twice", (x) => (x as number) * 2);
  lua.eval("function make(k) return function(x) return twice(x) + k end end");
  using f = (await lua.callAsync("make", 1)) as ScriptFunction;
  assert.equal(await f.callAsync(20), 41);
  assert.equal(f(5), 11);
  await assert.rejects(lua.evalAsync("local x = nil return x.y", { chunkName: "bad" }), /bad:1:/);
  await assert.rejects(lua.callAsync("missing"), /no function named 'missing'/);
  await assert.rejects(lua.callAsync("make", new Date()), /Date cannot cross/);
});

test("disposing the runtime rejects pending calls and joins every context thread", async () => {
  const rt = new Runtime();
  const lua = rt.createContext("lua");
  lua.eval("function slow() local s = 0 for i = 1, 1e7 do s = s + i end return s end");
  const p = lua.callAsync("slow");
  rt.dispose(); // waits for the running call; its completion is dropped with the runtime
  await assert.rejects(p, CalogDeadError);
});

test("the process exits promptly when work is done, with threaded contexts never disposed", async () => {
  const script = `
    import { Runtime } from ${JSON.stringify(new URL("../bindings/mod.ts", import.meta.url).href)};
    const rt = new Runtime();
    const ctxs = [rt.createContext("lua"), rt.createContext("lua"), rt.createContext("lua", { thread: false })];
    rt.register("h", (x) => x);
    for (const c of ctxs) c.eval("function f(x) return h(x) + 1 end");
    const r = await Promise.all(ctxs.map((c, i) => c.callAsync("f", i)));
    {
      // and one disposed: its threads are joined before the library may be unloaded at exit
      using rt2 = new Runtime();
      using c2 = rt2.createContext("squirrel");
      c2.eval("function g() { return 1; }");
      await c2.callAsync("g");
    }
    console.log("done", r.join(","));
  `;
  const { mkdtempSync, writeFileSync, rmSync } = await import("node:fs");
  const { join } = await import("node:path");
  const { tmpdir } = await import("node:os");
  const dir = mkdtempSync(join(tmpdir(), "calog-exit-"));
  const file = join(dir, "exit.ts");
  writeFileSync(file, script);
  try {
    const started = performance.now();
    const { execFileSync } = await import("node:child_process");
    const bin = new URL(`../node_modules/.bin/${isDeno ? "deno" : "bun"}`, import.meta.url).pathname;
    const args = isDeno ? ["run", "--allow-ffi", "--allow-env", "--allow-read", file] : [file];
    const out = execFileSync(bin, args, { encoding: "utf8", timeout: 20_000 });
    const elapsed = performance.now() - started;
    assert.match(out, /done 1,2,3/);
    assert.ok(elapsed < 10_000, `took ${elapsed.toFixed(0)} ms to exit`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
