// Passes 87a and 87b: hostile users of the Promise walk and the getter guard at 1b58d1d. 87a: a replaced global Promise
// ran user code in the middle of an async call (its constructor, after the request was sent and before the call was
// recorded): a dispose there left the call's promise pending for good. 87b: two rules the README did not state.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { runScriptChild, test } from "./harness.ts";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8").replace(/\s+/g, " ");

test("a global Promise replaced after calog loaded runs no code in an async call, which always settles", async () => {
  const r = await runScriptChild("replaced-promise", `
    const Native = Promise;
    let armed = false, ran = 0, rt;
    globalThis.Promise = class UserPromise extends Native {
      constructor(executor) {
        if (armed) { ran++; try { rt.dispose(); } catch { /* refused */ } }
        super(executor);
      }
    };
    const out = [];
    for (const engine of ["lua", "js", "squirrel"]) for (const thread of [false, true]) for (const how of ["ctx.callAsync", "fn.callAsync", "ctx.evalAsync", "signal"]) {
      rt = new Runtime({ output: "ignore" });
      const ctx = rt.createContext(engine, { thread });
      ctx.eval(engine === "lua" ? "function id(x) return x end" : "function id(x) { return x }");
      const f = ctx.getFunction("id");
      armed = true;
      const p = how === "ctx.callAsync" ? ctx.callAsync("id", 1)
        : how === "fn.callAsync" ? f.callAsync(1)
        : how === "signal" ? ctx.callAsync("id", 1, { signal: new AbortController().signal })
        : ctx.evalAsync(engine === "js" ? "1" : "return 1");
      armed = false;
      const v = await Native.race([p, new Native((res) => setTimeout(() => res("pending"), 3000))]);
      out.push(engine + "/" + thread + "/" + how + ": " + v + ", disposed " + rt.disposed);
      rt.dispose();
    }
    console.log(JSON.stringify({ ran, out }));
  `, 120_000);
  assert.equal(r.code, 0, r.out);
  const { ran, out } = JSON.parse(r.out.trim().split("\n").pop()!) as { ran: number; out: string[] };
  assert.equal(out.length, 24, r.out);
  for (const line of out) assert.match(line, /: 1, disposed false$/);
  assert.equal(ran, 0, "the replaced Promise's constructor ran inside a call");
});

// 87b, finding 1 (now a stated rule): a call made with so little JavaScript stack left that calog cannot record it
// fails with JavaScript's own RangeError. Finding 2: what an output callback returns is never read.
test("the README says what calog cannot record at the stack's end, and an output callback's return value, are yours", () => {
  assert.match(readme, /a call made with so little stack left that calog cannot even record it fails with JavaScript's own `RangeError`, and what it was given is yours/);
  assert.match(readme, /what it returns or resolves with is never read \(a Promise held there is yours/);
});
