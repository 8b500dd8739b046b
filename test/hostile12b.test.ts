// The twelfth hostile pass (b): lifetimes, errors and async paths of the TypeScript layer, under Bun and Deno.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import process from "node:process";
import { type EngineName, Runtime, type ScriptFunction } from "../bindings/mod.ts";
import { gc, test, watchUnhandled } from "./harness.ts";

const tick = () => new Promise((r) => setTimeout(r, 0));
const engines: EngineName[] = ["lua", "js", "squirrel"];

/** OS threads of this process (Linux), read by a child process (Deno refuses /proc/self without --allow-all). */
function threadCount(): number {
  const status = spawnSync("cat", [`/proc/${process.pid}/status`], { encoding: "utf8" }).stdout;
  return Number(/^Threads:\s+(\d+)/m.exec(status)![1]);
}

test("a forgotten Runtime its own host functions capture is collected, and its context threads end", async () => {
  // The registries' held values and the callbacks the binding keeps held the Core, and through its host functions
  // the Runtime: `rt.register("f", () => ctx.eval(...))` kept the runtime, its interpreters and threads for good.
  const before = threadCount();
  let finalized = 0;
  const watch = new FinalizationRegistry(() => finalized++);
  const forget = async (i: number) => {
    const rt = new Runtime({ output: () => void rt.disposed }); // the output sink captures it too
    const ctx = rt.createContext(engines[i % 3]!);
    rt.register("self", () => rt.disposed || ctx.disposed);
    ctx.eval(engines[i % 3] === "lua" ? "function f() return self() end" : "function f() { return self(); }");
    const f = ctx.getFunction("f");
    rt.register("viaFn", () => f());
    assert.equal(await ctx.evalAsync(ctx.engine === "js" ? "viaFn()" : "return viaFn()"), false);
    watch.register(rt, i);
  };
  for (let i = 0; i < 12; i++) await forget(i);
  for (let i = 0; i < 50 && finalized < 12; i++) {
    gc();
    await tick();
  }
  assert.equal(finalized, 12, `only ${finalized} of 12 forgotten runtimes were collected`);
  let now = threadCount();
  for (let i = 0; i < 100 && now > before + 4; i++) {
    await new Promise((r) => setTimeout(r, 10));
    now = threadCount();
  }
  assert.ok(now <= before + 4, `${now - before} threads more than before (12 context threads were left)`);
});

test("a getter throwing what cannot be described (a revoked Proxy, a throwing `message`) is a CalogValueError everywhere; an async settlement no longer wedges the runtime", async () => {
  // marshalFailure described the getter's exception with code that threw in turn: a call threw the raw TypeError,
  // and an async host function's settlement threw out of its `then` (an unhandled rejection), leaving the script
  // waiting for ever, every later call refused ("called while marshalling") and dispose() refused
  const { proxy: revoked, revoke } = Proxy.revocable({}, {});
  revoke();
  const badMessage = new Error("x");
  Object.defineProperty(badMessage, "message", { get() { throw new Error("message getter"); } });
  const throwsOnEntries = { get x() { throw new Error("entries"); } };
  const ownKeysTrap = new Proxy({}, { ownKeys() { throw new Error("ownKeys"); } });
  const unhandled = watchUnhandled();
  try {
    for (const thrown of [revoked, badMessage, throwsOnEntries, ownKeysTrap]) {
      const bad = { get v() { throw thrown; } };
      using rt = new Runtime();
      using lua = rt.createContext("lua");
      lua.eval("function id(x) return x end");
      const check = (e: unknown, cls: string) => {
        assert.equal((e as Error).constructor.name, cls);
        assert.match((e as Error).message, /reading a value to pass threw/);
      };
      assert.throws(() => lua.call("id", bad), (e) => (check(e, "CalogValueError"), (e as Error).cause === thrown));
      await assert.rejects(lua.callAsync("id", bad), (e) => (check(e, "CalogValueError"), true));
      rt.register("ret", () => bad);
      assert.throws(() => lua.eval("return ret()"), (e) => (check(e, "CalogScriptError"), ((e as Error).cause as Error).cause === thrown));
      rt.register("aret", async () => bad);
      await assert.rejects(lua.evalAsync("return aret()"), (e) => (check(e, "CalogScriptError"), true));
      assert.equal(lua.eval("return 1"), 1);
      assert.equal(await lua.evalAsync("return 2"), 2);
    }
    await tick();
  } finally {
    unhandled.stop();
  }
  assert.equal(unhandled.count(), 0);
});

test("an async output callback that rejects is ignored like one that throws: no unhandled rejection", async () => {
  const unhandled = watchUnhandled();
  try {
    const seen: string[] = [];
    using rt = new Runtime();
    for (const engine of engines) {
      for (const thread of [true, false]) {
        using ctx = rt.createContext(engine, {
          thread,
          output: async (text) => {
            seen.push(String(text));
            throw new Error("async output failed");
          },
        });
        ctx.eval(engine === "lua" ? "print('a') print('b') return 1" : "print('a'); print('b');");
      }
    }
    assert.equal(seen.length, 12);
    for (let i = 0; i < 3; i++) await tick();
  } finally {
    unhandled.stop();
  }
  assert.equal(unhandled.count(), 0);
});

test("hundreds of concurrent callAsync of a script awaiting an async host function all succeed (they failed past 32 with a nesting error)", async () => {
  // a threaded context parked on an async host function served every queued callAsync nested on that wait, two
  // crossings deeper each time: from the 33rd on they failed with "call nesting deeper than 64 crossings"
  using rt = new Runtime();
  rt.register("later", (x) => new Promise((r) => setTimeout(() => r((x as number) * 2), 0)));
  for (const engine of engines) {
    using ctx = rt.createContext(engine);
    ctx.eval(engine === "lua"
      ? "function f(x) return later(x) + 1 end function g(x) return x * 3 end function h(x) return selfAsync(x) end"
      : "function f(x) { return later(x) + 1; } function g(x) { return x * 3; } function h(x) { return selfAsync(x); }");
    const n = 300;
    const results = await Promise.allSettled(Array.from({ length: n }, (_, i) => ctx.callAsync("f", i)));
    const failed = results.filter((r) => r.status === "rejected");
    assert.equal(failed.length, 0, `${engine}: ${failed.length} of ${n} failed: ${String((failed[0] as PromiseRejectedResult | undefined)?.reason)}`);
    results.forEach((r, i) => assert.equal((r as PromiseFulfilledResult<unknown>).value, i * 2 + 1));
    // a host function awaiting a callAsync into the very context waiting for it is still served
    rt.register("selfAsync", async (x) => ((await ctx.callAsync("g", x)) as number) + 100);
    assert.equal(await ctx.callAsync("h", 5), 115);
  }
});
