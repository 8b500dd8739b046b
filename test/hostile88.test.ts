// Pass 88a: calog chained its own Promises (a host function's Promise it follows, a lent call's, an output callback's)
// with the built-in `then`, which reads Promise.prototype.constructor and Promise[Symbol.species]: replaced after calog
// loaded, they made those chains throw, so a host function's rejection went unhandled and the script got the engine's
// TypeError; and under Deno a dispose with an async call in flight threw, leaving the call pending for good. Each test
// failed at 8ae4598 under Bun and Deno (the dispose one under Deno).
import assert from "node:assert/strict";
import { CalogDeadError, Runtime } from "../bindings/mod.ts";
import { test, unhandledOf } from "./harness.ts";

const engines = ["lua", "js", "squirrel"] as const;
const patches: Record<string, () => () => void> = {
  "Promise[Symbol.species] (a getter that throws)": () => {
    const d = Object.getOwnPropertyDescriptor(Promise, Symbol.species)!;
    Object.defineProperty(Promise, Symbol.species, { configurable: true, get() { throw new Error("species getter ran"); } });
    return () => Object.defineProperty(Promise, Symbol.species, d);
  },
  "Promise.prototype.constructor = 1": () => {
    const d = Object.getOwnPropertyDescriptor(Promise.prototype, "constructor")!;
    Object.defineProperty(Promise.prototype, "constructor", { ...d, value: 1 });
    return () => Object.defineProperty(Promise.prototype, "constructor", d);
  },
};
for (const [name, patch] of Object.entries(patches)) {
  for (const engine of engines) {
    test(`${engine}, ${name}: a host function's rejected Promise the script cannot wait for is refused and handled`, async () => {
      using rt = new Runtime({ output: "ignore" });
      rt.register("get", () => Promise.reject(new Error("host rejection")));
      using ctx = rt.createContext(engine, { thread: false });
      const lost = await unhandledOf(() => {
        const undo = patch();
        try {
          assert.throws(() => ctx.eval(engine === "js" ? "get()" : "return get()"), /returned a Promise, which this script cannot wait for/);
        } finally {
          undo();
        }
      });
      assert.deepEqual(lost, []);
    });
  }
}
test("a dispose with an async call in flight settles it, whatever species says", async () => {
  const rt = new Runtime({ output: "ignore" });
  const ctx = rt.createContext("lua", { thread: true });
  const p = ctx.evalAsync("local t = os.clock() while os.clock() - t < 0.3 do end return 1");
  await new Promise((r) => setTimeout(r, 20));
  const undo = patches["Promise[Symbol.species] (a getter that throws)"]!();
  try {
    rt.dispose();
  } finally {
    undo();
  }
  await assert.rejects(p, CalogDeadError);
  assert.equal(rt.disposed, true);
});
