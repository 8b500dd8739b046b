// Passes 82a and 82b: hostile users of the Promise walk at a301d31 (82a from its code, 82b holding the README to its
// word). Each test below failed at a301d31 in Bun and Deno (82a-2 in Bun; in Deno now and then), unless it says it pins
// a rule the README now states.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { CalogError, CalogValueError, Runtime } from "../bindings/mod.ts";
import { test, watchUnhandled } from "./harness.ts";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8").replace(/\s+/g, " ");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const spin = (ms: number) => { const t = performance.now(); while (performance.now() - t < ms) { /* */ } };
const engines = ["lua", "js", "squirrel"] as const;
const idSrc = { lua: "function id() return 1 end", js: "function id() { return 1 }", squirrel: "function id(...) { return 1 }" };
const rej = (what: string) => Promise.reject(new Error(what));
class Box { constructor(public p: unknown) {} }

/** Runs `body`, then fails if any rejection went unhandled meanwhile. */
async function noneUnhandled(body: () => Promise<void> | void): Promise<void> {
  const watch = watchUnhandled();
  try {
    await body();
    await sleep(30);
    assert.equal(watch.count(), 0, "an unhandled rejection");
  } finally {
    watch.stop();
  }
}

// 82a, finding 1 (high): rt.stats() drained the runtime, so a trap of a walk that called it served other scripts' host
// calls under the walk: their results were refused ("calog was called while marshalling a value") and never walked.
// Now stats() does not drain from a getter or trap calog runs.
const loopSrc = {
  lua: "function loop() local errs = {} for i = 1, 400 do local ok, e = pcall(h) errs[#errs+1] = tostring(e) end return errs end",
  js: "function loop() { var errs = []; for (var i = 0; i < 400; i++) { try { h() } catch (e) { errs.push(String(e)) } } return errs }",
  squirrel: "function loop() { local errs = []; for (local i = 0; i < 400; i++) { try { h() } catch (e) { errs.append(e.tostring()) } } return errs }",
};
for (const engine of engines) {
  test(`${engine}: rt.stats() from a trap of a walk serves no host call under it, and loses no rejection`, () => noneUnhandled(async () => {
    using a = new Runtime({ output: "ignore" });
    const ca = a.createContext("lua", { thread: false });
    ca.eval("function id(...) return 7 end");
    using b = new Runtime({ output: "ignore" });
    let servedInTrap = 0, inTrap = false;
    b.register("h", () => {
      if (inTrap) servedInTrap++;
      return { s: Symbol("no"), p: rej("unrelated") }; // refused (a Symbol): walked
    });
    const b2 = b.createContext(engine, { thread: true });
    b2.eval(loopSrc[engine]);
    const done = b2.callAsync("loop"); // made by no trap
    await sleep(1);
    let stats = 0;
    const handler: ProxyHandler<object> = {
      ownKeys(t) {
        inTrap = true;
        for (let i = 0; i < 20; i++) { spin(2); stats += b.stats().contexts; }
        inTrap = false;
        return Reflect.ownKeys(t);
      },
    };
    assert.throws(() => ca.call("id", Symbol("x"), new Proxy({}, handler)), CalogValueError);
    const errs = (await done) as string[];
    assert.equal(stats, 20, "stats() still answers from the trap");
    assert.equal(servedInTrap, 0, "host calls were served under the walk");
    assert.equal(errs.filter((s) => /marshalling a value/.test(s)).length, 0);
  }));
}

// 82a, finding 2 (low): the walk told the stack's end by the global RangeError of the moment: a shim that replaced it
// made the stack's end read as a trap's own throw, and what the walk stopped at was left out. Now the checks use what
// they took when calog loaded.
test("a replaced globalThis.RangeError loses no rejection of a call refused at the stack's end", async () => {
  const watch = watchUnhandled();
  const unhandled = watch.reasons;
  const g = globalThis as { RangeError: unknown };
  const Orig = g.RangeError;
  try {
    using rt = new Runtime({ output: "ignore" });
    const ctx = rt.createContext("lua", { thread: false });
    ctx.eval("function id(...) return 7 end");
    const args = Array.from({ length: 6000 }, () => { const reason = new Error("x"); return { reason, arg: { a: [{ b: [Promise.reject(reason)] }], bad: Symbol() } }; });
    const reached = new Set<unknown>();
    let next = 0, budget = 0;
    const attempt = () => { const a = args[next++]!; try { ctx.call("id", a.arg); } catch (e) { if (e instanceof CalogError) reached.add(a.reason); } };
    const rec = (): void => { try { rec(); } catch { /* the end */ } if (budget-- > 0) { try { attempt(); } catch { /* */ } } };
    g.RangeError = class RangeError extends Error {};
    try {
      for (let r = 0; r < 3; r++) { budget = 2000; rec(); }
    } finally {
      g.RangeError = Orig;
    }
    for (const a of args) if (!reached.has(a.reason)) a.arg.a[0]!.b[0]!.catch(() => {});
    await sleep(100);
    assert.ok(reached.size > 0, "no call reached calog");
    const lost = unhandled.filter((r) => reached.has(r)).length;
    assert.equal(lost, 0, `${lost} rejections of calls calog refused were left unhandled`);
  } finally {
    g.RangeError = Orig;
    watch.stop();
  }
});

// 82b, finding 1 (medium, now a stated rule): lenient walks its nils in the order it sends them (depth first, one
// budget per call), so 100,001 nils early in a value spent the budget before a later Box's Promise was looked into,
// against "nearest first". The README says so now; a nil that is itself a Promise is always handled, and a Box sent
// before the far nils is looked into.
test("the README says lenient walks its nils in the order it sends them", () => {
  assert.match(readme, /all its nils included, which lenient walks in the order it sends them, depth first, each nearest first/);
});
for (const engine of engines) {
  for (const thread of [false, true]) {
    const tag = `${engine} (${thread ? "own thread" : "host thread"})`;
    test(`${tag}: lenient, a Box sent before 100,001 nils has its Promise handled, and a nil Promise after them too`, () => noneUnhandled(() => {
      using rt = new Runtime({ output: "ignore", policy: "lenient" });
      const c = rt.createContext(engine, { thread });
      c.eval(idSrc[engine]);
      const far = [[Array.from({ length: 100_001 }, () => new Date())]];
      assert.equal(c.call("id", new Box(rej("near")), far, rej("a nil Promise past the budget")), 1);
    }));
    // 82b, finding 2 (medium): a Promise's own data properties were never walked (strict, lenient, and an async host
    // function's Promise the script could not wait for).
    for (const policy of ["strict", "lenient"] as const) {
      test(`${tag}: ${policy}, a rejected Promise held in an own data property of a refused Promise is handled`, () => noneUnhandled(() => {
        using rt = new Runtime({ output: "ignore", policy });
        const c = rt.createContext(engine, { thread });
        c.eval(idSrc[engine]);
        const outer = Object.assign(Promise.resolve(1), { receipt: rej("inner") });
        const nested = { list: [Object.assign(Promise.resolve(2), { receipt: rej("inner, nested") })] };
        if (policy === "strict") {
          assert.throws(() => c.call("id", outer), CalogValueError);
          assert.throws(() => c.call("id", nested), CalogValueError);
        } else {
          assert.equal(c.call("id", outer), 1);
          assert.equal(c.call("id", nested), 1);
        }
      }));
    }
    test(`${tag}: an async host function's Promise the script cannot wait for, holding a rejected Promise as its own property`, () => noneUnhandled(() => {
      using rt = new Runtime({ output: "ignore" });
      rt.register("h", () => Object.assign(Promise.resolve(1), { receipt: rej("inner") }));
      const c = rt.createContext(engine, { thread });
      assert.throws(() => c.eval(engine === "js" ? "h()" : "return h()"), /cannot wait for/);
    }));
  }
}

// 82b, finding 3 (low): what a refused call of calog was given beyond a call's arguments (options, names, a function
// to register) was not walked.
for (const thread of [false, true]) {
  test(`lua (${thread ? "own thread" : "host thread"}): Promises in what refused calls of calog were given are handled`, () => noneUnhandled(async () => {
    using rt = new Runtime({ output: "ignore" });
    const c = rt.createContext("lua", { thread });
    assert.throws(() => c.eval("return 1", { foo: rej("eval") } as never), CalogValueError);
    await assert.rejects(c.evalAsync("return 1", { foo: rej("evalAsync") } as never), CalogValueError);
    await assert.rejects(c.evalAsync("return 1", { timeoutMs: rej("evalAsync timeoutMs") } as never), CalogValueError);
    assert.throws(() => c.setLimits({ timeoutMs: rej("setLimits") } as never), CalogValueError);
    assert.throws(() => c.get(rej("get") as never), CalogValueError);
    assert.throws(() => c.getFunction(rej("getFunction") as never), CalogValueError);
    assert.throws(() => rt.createContext("lua", { thread, foo: rej("createContext") } as never), CalogValueError);
    assert.throws(() => rt.register("f", rej("register") as never), CalogValueError);
    assert.throws(() => rt.unregister(rej("unregister") as never), CalogValueError);
    assert.throws(() => new Runtime({ output: "ignore", foo: rej("new Runtime") } as never), CalogValueError);
    const gone = rt.createContext("lua", { thread });
    gone.dispose();
    assert.throws(() => gone.eval("return 1", { chunkName: rej("a disposed context's eval") } as never), CalogError);
    await assert.rejects(gone.evalAsync("return 1", { chunkName: rej("a disposed context's evalAsync") } as never), CalogError);
  }));
}
