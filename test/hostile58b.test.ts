// Pass 58b: model-based random operation sequences over one or two runtimes (areas 2 and 5), each in a child process
// (hostile58b_child.ts): contexts of all three engines in both thread modes created and disposed, eval, call,
// callAsync with and without an AbortSignal, a context timeoutMs and interrupt(), getFunction and functions kept in
// other contexts (of the same runtime and of another), host functions registered and unregistered (sync, async
// resolving late, rejecting, throwing, never settling), calls into what was disposed, forced GC, timers calling host
// functions, `using` blocks, runtimes disposed. Invariants the child checks and prints as "BAD ..." lines:
// - every failure is a CalogError of the documented class (a dead/disposed target gives CalogDeadError or
//   CalogDisposedError; a host function's exception or rejection is the cause of the CalogScriptError);
// - every value returned is the model's value;
// - every Promise settles within 8 s, and the process then exits by itself;
// - a ScriptFunction, and a function kept in another context, whose context and runtime were never disposed keep
//   working after forced GC;
// - after everything is disposed, rt.stats() has no contexts and no host functions, and nativeFunctionValues is back
//   to its baseline.
// The generator found one defect (finding 1, below; seed 39 under Deno, step 140, in an earlier version of the
// generator); the child accepts it unless STRICT58=1 is set, so the property test pins everything else.
import assert from "node:assert/strict";
import { Runtime } from "../bindings/mod.ts";
import { modes, runChild, test, where } from "./harness.ts";

// Finding 1. Low (a function another context holds dies early; an error that names the wrong thing). A ScriptFunction
// of runtime A passed to a context of runtime B (`b.call("keep", f)`) is lent to B as a host function (the
// ScriptFunction object itself: README, "a script function of another Runtime is one there"). Then `f.dispose()`,
// which "releases the script closure" (the TypeScript handle), kills the copy B's script holds: its next call fails
// in B with CalogScriptError "script function was disposed" (cause CalogDisposedError), though neither the function's
// context nor its runtime was disposed. The same keep inside one runtime passes the native handle and the copy lives
// on after f.dispose(). README, lifetimes: "Only an explicit dispose() (of the context or its runtime) kills a
// context's functions ... a reachable function never dies early". Found by the generator, seed 39 under Deno (a
// getFunction in a host-thread Lua context of rt2, kept in a threaded Lua context of rt3, the handle disposed, `use`
// 48 steps later). Cause: src/runtime.ts Core.handleOf returns no handle for another runtime's ScriptFunction, so the
// wire lends the ScriptFunction object (hostRef), and its `live` flag, cleared by dispose(), is what B's copy calls.
// Fix: lend another runtime's ScriptFunction as a fresh wrap of its handle (own lifetime: alive while B holds it, or
// until A's context or runtime is disposed), not as the user's handle; or, if that is the intended rule, document it
// in the lifetime paragraph and word the error in B ("a function of another runtime whose ScriptFunction was
// disposed").
for (const thread of modes) {
  test(`58b (${where(thread)}): a ScriptFunction kept in another runtime's context survives the handle's dispose()`, () => {
    for (const cross of [false, true]) {
      using rt1 = new Runtime({ output: "ignore" });
      using rt2 = new Runtime({ output: "ignore" });
      const a = rt1.createContext("lua", { thread });
      const b = (cross ? rt2 : rt1).createContext("js", { thread });
      a.eval("function f(x) return x end");
      b.eval("function keep(k) { kept = k } function use(x) { return kept(x) }");
      const f = a.getFunction("f");
      b.call("keep", f);
      assert.equal(b.call("use", 1), 1);
      f.dispose();
      let after: unknown;
      try {
        after = b.call("use", 2);
      } catch (e) {
        after = `${(e as Error).constructor.name}: ${(e as Error).message}`;
      }
      assert.equal(after, 2, `${cross ? "another" : "the same"} runtime: after f.dispose() the copy gave ${after}`);
    }
  });
}

const SEEDS = [1, 4, 8, 13, 34, 48, 71, 105, 150] as const;

test("58b: random lifetime and async sequences keep every invariant (child process per seed)", async () => {
  for (const seed of SEEDS) {
    const { code, out, ms } = await runChild(new URL("./hostile58b_child.ts", import.meta.url), [String(seed), "150"], 40_000);
    assert.equal(code, 0, `seed ${seed}: the child ended with ${code} after ${ms} ms (null: killed, a hang)\n${out.slice(-3000)}`);
    assert.match(out, /END \{"seed":\d+,"bad":0,/, `seed ${seed}: invariants broken\n${out.slice(-3000)}`);
  }
}, 400_000);
