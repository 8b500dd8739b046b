// Passes 86a and 86b: hostile users of the Promise walk and the getter guard at 279f4b0. Each test below failed at
// 279f4b0 under Bun and Deno, unless it says it pins a rule the README now states.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { CalogDeadError, CalogDisposedError, CalogValueError, Runtime, type ScriptFunction } from "../bindings/mod.ts";
import { runScriptChild, test, unhandledOf } from "./harness.ts";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8").replace(/\s+/g, " ");
const rej = (what: string) => Promise.reject(new Error(what));
const engines = ["lua", "js", "squirrel"] as const;
const idSrc = { lua: "function id(x) return 1 end", js: "function id(x) { return 1 }", squirrel: "function id(x) { return 1 }" };

// 86b, finding 1: the handle getFunction gives for a TypeScript function a global holds refused `new`, a call after its
// dispose() and callAsync with an aborted signal without walking what it was given; finding 5: it went on calling the
// function after rt.dispose(), and said it was not disposed.
for (const engine of engines) {
  for (const thread of [false, true]) {
    test(`${engine} (${thread ? "own thread" : "host thread"}): a getFunction handle of a TypeScript function walks what its refused calls were given`, async () => {
      const lost = await unhandledOf(async () => {
        using rt = new Runtime({ output: "ignore" });
        using ctx = rt.createContext(engine, { thread });
        ctx.eval(engine === "lua" ? "function set(f) tsfn = f end" : engine === "js" ? "function set(f) { tsfn = f }" : "function set(f) { ::tsfn <- f }");
        ctx.call("set", (_x: unknown) => 1);
        const h = ctx.getFunction("tsfn") as ScriptFunction & (new (...a: unknown[]) => unknown);
        assert.throws(() => new h(rej("new h(P)")), CalogValueError);
        await assert.rejects(h.callAsync(rej("h.callAsync(P, aborted)"), { signal: AbortSignal.abort(new Error("stop")) }), /stop/);
        h.dispose();
        assert.throws(() => h(rej("disposed h(P)")), CalogDisposedError);
        await assert.rejects(h.callAsync(rej("disposed h.callAsync(P)")), CalogDisposedError);
      });
      assert.deepEqual(lost, []);
    });
  }
}
test("a getFunction handle of a TypeScript function dies with its runtime, as a ScriptFunction does", () => {
  const rt = new Runtime({ output: "ignore" });
  const ctx = rt.createContext("lua", { thread: false });
  ctx.eval("function set(f) tsfn = f end function id(x) return x end");
  ctx.call("set", (x: unknown) => `ran with ${x}`);
  const h = ctx.getFunction("tsfn");
  const real = ctx.getFunction("id");
  assert.equal(h(1), "ran with 1");
  rt.dispose();
  for (const f of [h, real]) {
    assert.throws(() => f(1), (e: unknown) => e instanceof CalogDisposedError && /the runtime was disposed/.test(e.message));
    assert.equal(f.disposed, true);
  }
});

// 86b, finding 2: createContext refused by the library (an unknown engine, an fs path it cannot resolve) walked
// nothing it was given.
test("createContext refused by the library walks what it was given", async () => {
  const lost = await unhandledOf(() => {
    using rt = new Runtime({ output: "ignore" });
    const read = Object.assign(["/nonexistent/dir"], { p: rej("D") });
    const tries: Array<() => unknown> = [
      () => rt.createContext("python" as never, rej("A") as never),
      () => rt.createContext("python" as never, { [Symbol("x")]: rej("B") } as never),
      () => rt.createContext("Lua" as never, Object.defineProperty({}, "p", { value: rej("C") })),
      () => rt.createContext("lua", { capabilities: { fs: { read } } }),
    ];
    for (const f of tries) assert.throws(f, CalogValueError);
  });
  assert.deepEqual(lost, []);
});

// 86b, finding 3: a synchronous call of a ScriptFunction whose context was disposed is refused by the library after
// its arguments were read: what the encoder did not read of them (a function's own properties) was not walked. The
// async call is refused a turn later: the README says such a Promise is the caller's.
for (const engine of engines) {
  for (const thread of [false, true]) {
    test(`${engine} (${thread ? "own thread" : "host thread"}): a disposed context's function, called, walks what it was given`, async () => {
      const lost = await unhandledOf(() => {
        using rt = new Runtime({ output: "ignore" });
        const ctx = rt.createContext(engine, { thread });
        ctx.eval(idSrc[engine]);
        const f = ctx.getFunction("id");
        ctx.dispose();
        const cb = Object.assign(() => 1, { p: rej("a callback's own") });
        assert.throws(() => f(cb), CalogDeadError);
        const many = Object.assign(() => 1, { p: rej("many arguments") });
        assert.throws(() => f(1, 2, 3, 4, many), CalogDeadError);
      });
      assert.deepEqual(lost, []);
    });
  }
}
test("the README says what calog does not read of a call it sent is the caller's", () => {
  assert.match(readme, /A call calog sends has had its values read, and what it does not read of them \(a function's own properties/);
});

// 86b, finding 4: a callAsync that a getter of its own argument aborted was refused without walking what it was given.
for (const policy of ["strict", "lenient"] as const) {
  for (const engine of engines) {
    for (const thread of [false, true]) {
      test(`${engine} (${thread ? "own thread" : "host thread"}), ${policy}: a callAsync aborted by its argument's getter walks what it was given`, async () => {
        const lost = await unhandledOf(async () => {
          using rt = new Runtime({ output: "ignore", policy });
          using ctx = rt.createContext(engine, { thread });
          ctx.eval(idSrc[engine]);
          using f = ctx.getFunction("id");
          for (const via of ["ctx.callAsync", "fn.callAsync"]) {
            const ac = new AbortController();
            const arg = Object.defineProperty({ get x() { ac.abort(new Error("aborted by a getter")); return 1; } }, "hidden", { value: rej(via), enumerable: false });
            const p = via === "ctx.callAsync" ? ctx.callAsync("id", arg, { signal: ac.signal }) : f.callAsync(arg, { signal: ac.signal });
            await assert.rejects(p, /aborted by a getter/);
          }
        });
        assert.deepEqual(lost, []);
      });
    }
  }
}

// 86a (crash, hang, raw error): a real AbortSignal with its own `aborted`/`reason` getters or `addEventListener`
// (Object.defineProperty on the signal) ran user code in submit outside the guard: disposing the runtime there freed
// the request buffer under the call (Bun and Deno aborted or crashed), left the call's promise pending for good, or a
// getter that threw escaped raw. The signal is now read through the built-ins as calog loaded them.
test("a signal's own aborted/reason getters and listener methods never run as a call is sent", async () => {
  const r = await runScriptChild("signal-own-getters", `
    const out = [];
    for (const engine of ["lua", "js", "squirrel"]) for (const thread of [false, true]) for (const how of ["ctx.callAsync", "fn.callAsync", "ctx.evalAsync"]) {
      const rt = new Runtime({ output: "ignore" });
      const ctx = rt.createContext(engine, { thread });
      ctx.eval(engine === "lua" ? "function id(x) return x end" : "function id(x) { return x }");
      const f = ctx.getFunction("id");
      const signal = new AbortController().signal;
      let ran = 0;
      for (const k of ["aborted", "reason"]) Object.defineProperty(signal, k, { get() { ran++; rt.dispose(); throw new Error("a getter ran"); } });
      for (const k of ["addEventListener", "removeEventListener"]) Object.defineProperty(signal, k, { value() { ran++; rt.dispose(); throw new Error("a method ran"); } });
      const p = how === "ctx.callAsync" ? ctx.callAsync("id", "x".repeat(100000), { signal })
        : how === "fn.callAsync" ? f.callAsync("x".repeat(100000), { signal })
        : ctx.evalAsync(engine === "js" ? "1" : "return 1", { signal });
      const v = await Promise.race([p, new Promise((res) => setTimeout(() => res("pending"), 5000))]);
      out.push(engine + "/" + thread + "/" + how + ": " + (typeof v === "string" ? v.length : v) + ", ran " + ran + ", disposed " + rt.disposed);
      rt.dispose();
    }
    console.log(JSON.stringify(out));
  `, 60_000);
  assert.equal(r.code, 0, r.out);
  const out = JSON.parse(r.out.trim().split("\\n").pop()!) as string[];
  assert.equal(out.length, 18, r.out);
  for (const line of out) assert.match(line, /: (100000|1), ran 0, disposed false$/);
});
