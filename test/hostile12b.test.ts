// The twelfth hostile pass (b): lifetimes, errors and async paths of the TypeScript layer, under Bun and Deno.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import process from "node:process";
import { type EngineName, Runtime, type ScriptFunction } from "../bindings/mod.ts";
import { gc, test } from "./harness.ts";

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
