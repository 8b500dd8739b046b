// Pass 72b: a hostile user of areas 2, 5 and 7 after pass 71b's fixes (97f8234), mostly of its wider Promise walk
// (src/wire.ts handleInnerPromises). Each test fails on 120354a, in Bun and Deno.
import assert from "node:assert/strict";
import { Runtime } from "../bindings/mod.ts";
import { test, watchUnhandled } from "./harness.ts";

// Finding 1 (hang, medium). handleInnerPromises' 100,000-item budget does not bound its work: a sparse array is
// walked index by index, holes uncounted (2^32 - 1 indices: ~5 min under Deno, ~40 min under Bun, event loop blocked).
// Now every place looked at (an item, an index, a hole, a key listed) takes one of the walk's 100,000.
for (const thread of [false, true]) {
  test(`lua (${thread ? "own thread" : "host thread"}): a refused result holding a long sparse array returns at once`, () => {
    using rt = new Runtime({ output: "ignore" });
    const sparse: unknown[] = [];
    sparse.length = 2 ** 32 - 1; // 120354a: minutes (0.07 us a hole in Deno, 0.6 us in Bun); now 100,000 places at most
    rt.register("get", () => ({ id: Symbol("id"), rows: sparse }));
    using lua = rt.createContext("lua", { thread });
    const t0 = performance.now();
    assert.match(String(lua.eval("local ok, e = pcall(get) return tostring(e)")), /symbol cannot cross/);
    const ms = performance.now() - t0;
    assert.ok(ms < 3000, `refusing took ${ms.toFixed(0)} ms: the Promise walk visited every hole`);
  }, 120_000);
}

// Finding 1b (hang, low-medium). Lenient: each class instance sent as nil starts a walk with a fresh budget, so 1,000
// instances sharing one 100,000-item array cost 10^8 steps (35 s Bun, 11 s Deno) for a value that sends nothing. Now
// the nils of one encoding share one walk (its budget and what it has seen).
test("lenient: 1,000 class instances sharing a large array are sent as nil in linear time", () => {
  class Row { constructor(public shared: unknown[]) {} }
  const shared = new Array(100_000).fill(0);
  const rows = Array.from({ length: 1000 }, () => new Row(shared));
  using rt = new Runtime({ output: "ignore", policy: "lenient" });
  rt.register("get", () => rows);
  using lua = rt.createContext("lua", { thread: false });
  const t0 = performance.now();
  assert.equal(lua.eval("return #get()"), 0);
  const ms = performance.now() - t0;
  assert.ok(ms < 3000, `sending 1,000 nils took ${ms.toFixed(0)} ms`);
}, 120_000);

// Finding 2 (crash of the host by an unhandled rejection, low). Promises the walk does not reach though the README
// says every Promise in a refused (or nil-sent) value that calog reaches without a getter is handled: the named
// properties of arrays, Maps, Sets and buffers were not walked, nor the arguments of a refused call. Now they are.
const rej = (what: string) => Promise.reject(new Error(`lost: ${what}`));
const cases: Record<string, () => unknown> = {
  "an array's named property": () => Object.assign([1, 2], { receipt: rej("array prop") }),
  "a Map's named property": () => Object.assign(new Map([["a", 1]]), { receipt: rej("map prop") }),
  "a Set's named property": () => ({ bad: Symbol(), s: Object.assign(new Set([1]), { receipt: rej("set prop") }) }),
  "an ArrayBuffer's named property": () => Object.assign(new ArrayBuffer(2), { receipt: rej("buffer prop") }),
  "a Float64Array's named property": () => Object.assign(new Float64Array(2), { receipt: rej("f64 prop") }),
};
// (Strict refuses each of these values for its named property; lenient sends it without them, unread: README.)
for (const policy of ["strict"] as const) {
  for (const thread of [false, true]) {
    for (const [what, make] of Object.entries(cases)) {
      test(`${policy} (${thread ? "own thread" : "host thread"}): a rejected Promise in ${what} of a host function's result is handled`, async () => {
        const watch = watchUnhandled();
        try {
          using rt = new Runtime({ output: "ignore", policy });
          rt.register("get", make);
          using lua = rt.createContext("lua", { thread });
          lua.eval("pcall(get)");
          await new Promise((res) => setTimeout(res, 50));
          assert.equal(watch.count(), 0, `an unhandled rejection from ${what}`);
        } finally {
          watch.stop();
        }
      });
    }
  }
}
for (const thread of [false, true]) {
  test(`lua (${thread ? "own thread" : "host thread"}): a rejected Promise behind a refused argument is handled`, async () => {
    const watch = watchUnhandled();
    try {
      using rt = new Runtime({ output: "ignore" });
      using lua = rt.createContext("lua", { thread });
      lua.eval("function id(x) return x end");
      assert.throws(() => lua.call("id", { bad: Symbol(), p: rej("call arg") }));
      await assert.rejects(lua.callAsync("id", { bad: Symbol(), p: rej("callAsync arg") }));
      using f = lua.getFunction("id");
      assert.throws(() => f([Symbol(), rej("fn arg")]));
      await new Promise((res) => setTimeout(res, 50));
      assert.equal(watch.count(), 0, "an unhandled rejection from a refused argument");
    } finally {
      watch.stop();
    }
  });
}

// The walk's other bound (pass 72b's finding 1, its second form): distinct Proxies of one large object each listed all
// its keys (1,000 Proxies of a 100,000-key object: 30 s in Deno). A listing now takes its length from the budget.
test("lua: a refused result holding 1,000 Proxies of one large object returns at once", () => {
  const target: Record<string, number> = {};
  for (let i = 0; i < 100_000; i++) target[`k${i}`] = i;
  const proxies = Array.from({ length: 1000 }, () => new Proxy(target, {}));
  using rt = new Runtime({ output: "ignore" });
  rt.register("get", () => [Symbol("id"), proxies]);
  using lua = rt.createContext("lua", { thread: false });
  const t0 = performance.now();
  assert.match(String(lua.eval("local ok, e = pcall(get) return tostring(e)")), /symbol cannot cross/);
  const ms = performance.now() - t0;
  assert.ok(ms < 3000, `refusing took ${ms.toFixed(0)} ms`);
}, 120_000);
