// Every engine behind the same API, in both thread modes; every pair of engines calling each other.
import assert from "node:assert/strict";
import {
  CalogNotFoundError,
  CalogScriptError,
  CalogSyntaxError,
  type EngineName,
  Runtime,
  type ScriptFunction,
} from "../bindings/mod.ts";
import { test } from "./harness.ts";

/** The same small program in each engine's language. */
const programs: Record<EngineName, { src: string; expr: (e: string) => string; syntaxError: string }> = {
  lua: {
    src: `
      function add(a, b) return a + b end
      function useHost(x) return hostTwice(x) + 1 end
      function apply(f, x) return f(x) end
      function make(k) return function(x) return x * k end end
      function boom() error("kaboom") end
      function echo(v) return v end
      function catchHost() local ok, e = pcall(hostThrows) return e end`,
    expr: (e) => `return ${e}`,
    syntaxError: "return +",
  },
  js: {
    src: `
      function add(a, b) { return a + b; }
      function useHost(x) { return hostTwice(x) + 1; }
      function apply(f, x) { return f(x); }
      function make(k) { return function (x) { return x * k; }; }
      function boom() { throw new Error("kaboom"); }
      function echo(v) { return v; }
      function catchHost() { try { hostThrows(); } catch (e) { return e.message; } }`,
    expr: (e) => e,
    syntaxError: "var = ;",
  },
  squirrel: {
    src: `
      function add(a, b) { return a + b; }
      function useHost(x) { return hostTwice(x) + 1; }
      function apply(f, x) { return f(x); }
      function make(k) { return function (x) { return x * k; }; }
      function boom() { throw "kaboom"; }
      function echo(v) { return v; }
      function catchHost() { try { hostThrows(); } catch (e) { return e; } }`,
    expr: (e) => `return ${e};`,
    syntaxError: "local = ;",
  },
};
const engines = Object.keys(programs) as EngineName[];

function setup(rt: Runtime): void {
  rt.register("hostTwice", (x) => (x as number) * 2);
  rt.register("hostThrows", () => {
    throw new Error("thrown in TypeScript");
  });
}

for (const engine of engines) {
  for (const thread of [true, false]) {
    const mode = thread ? "own thread" : "host thread";
    test(`${engine} (${mode}): eval, call, get, host functions, callbacks, closures, errors`, async () => {
      using rt = new Runtime();
      setup(rt);
      using ctx = rt.createContext(engine, { thread });
      const p = programs[engine];
      ctx.eval(p.src, { chunkName: `${engine}-prog` });
      assert.equal(ctx.engine, engine);
      assert.equal(ctx.eval(p.expr("6 * 7")), 42);
      assert.equal(ctx.call("add", 40, 2), 42);
      assert.equal(ctx.call("add", 1.5, 1), 2.5);
      assert.equal(ctx.call("useHost", 20), 41);
      assert.equal(ctx.call("apply", (x: number) => x - 1, 43), 42);
      using triple = ctx.call("make", 3) as ScriptFunction;
      assert.equal(triple(14), 42);
      using add = ctx.getFunction("add");
      assert.equal(add(20, 22), 42);
      assert.equal(await add.callAsync(21, 21), 42);
      assert.equal(await ctx.callAsync("useHost", 1), 3);
      assert.equal(ctx.call("catchHost"), "thrown in TypeScript");
      const nested = { list: [1, "two", [3]], map: { a: true, b: "x" } };
      assert.deepEqual(ctx.call("echo", nested), nested);
      assert.equal(ctx.call("echo", "a\0b"), "a\0b");
      assert.throws(() => ctx.call("boom"), (e: unknown) => e instanceof CalogScriptError && e.engine === engine && /kaboom/.test(e.message));
      assert.throws(() => ctx.eval(p.syntaxError), CalogSyntaxError);
      assert.throws(() => ctx.call("nope"), CalogNotFoundError);
      try {
        ctx.call("boom");
      } catch (e) {
        assert.ok((e as CalogScriptError).traceback, `${engine} errors carry a traceback`);
      }
    });
  }
}

test("every pair of engines: a closure from one is called by another, across threads", () => {
  using rt = new Runtime();
  setup(rt);
  const ctxs = Object.fromEntries(engines.map((e) => {
    const c = rt.createContext(e);
    c.eval(programs[e].src);
    return [e, c];
  })) as Record<EngineName, ReturnType<Runtime["createContext"]>>;
  try {
    for (const from of engines) {
      for (const to of engines) {
        using f = ctxs[from].call("make", 7) as ScriptFunction; // a closure of `from`
        assert.equal(ctxs[to].call("apply", f, 6), 42, `${from} closure called from ${to}`);
        using echo = ctxs[from].getFunction("echo");
        assert.deepEqual(ctxs[to].call("apply", echo, { k: [1, 2] }), { k: [1, 2] }, `${from} echo called from ${to}`);
      }
    }
    // a native registered once is callable from all of them, and from C-side natives as well
    for (const e of engines) assert.equal(ctxs[e].call("useHost", 5), 11);
  } finally {
    for (const c of Object.values(ctxs)) c.dispose();
  }
});

// The hot paths take up to four arguments (ScriptFunction, Context.call) or three (host functions) as named
// parameters and the rest through an array: every count on both sides of those boundaries, with explicit
// undefined (it counts: a nil argument) and the order of the values kept.
const counters: Record<EngineName, string> = {
  lua: `
    function args(...) local n = select('#', ...) local t = {n} for i = 1, n do t[i + 1] = (select(i, ...)) or 0 end return t end
    function hostArgs(n) local a = {} for i = 1, n do a[i] = i * 10 end return hcount(table.unpack(a, 1, n)) end`,
  js: `
    function args() { var t = [arguments.length]; for (var i = 0; i < arguments.length; i++) t.push(arguments[i] === undefined || arguments[i] === null ? 0 : arguments[i]); return t; }
    function hostArgs(n) { var a = []; for (var i = 1; i <= n; i++) a.push(i * 10); return hcount.apply(null, a); }`,
  squirrel: `
    function args(...) { local t = [vargv.len()]; foreach (v in vargv) t.append(v == null ? 0 : v); return t; }
    function hostArgs(n) { local a = [this]; for (local i = 1; i <= n; i++) a.append(i * 10); return hcount.acall(a); }`,
};
for (const engine of engines) {
  test(`${engine}: argument counts 0-7 through a script function, Context.call and a host function`, () => {
    using rt = new Runtime();
    rt.register("hcount", function (...a: unknown[]) {
      return [a.length, ...a];
    });
    using ctx = rt.createContext(engine, { thread: false });
    ctx.eval(counters[engine]);
    using f = ctx.getFunction("args");
    for (let n = 0; n <= 7; n++) {
      const values = Array.from({ length: n }, (_, i) => i + 1);
      const expected = [n, ...values];
      assert.deepEqual(f(...values), expected, `script function, ${n} arguments`);
      assert.deepEqual(ctx.call("args", ...values), expected, `Context.call, ${n} arguments`);
      assert.deepEqual(ctx.call("hostArgs", n), [n, ...values.map((v) => v * 10)], `host function, ${n} arguments`);
    }
    assert.deepEqual(f(1, undefined), [2, 1, 0], "an explicit undefined is an argument");
    assert.deepEqual(f(undefined, undefined, undefined, undefined, 5), [5, 0, 0, 0, 0, 5]);
    assert.deepEqual(ctx.call("args", undefined), [1, 0]);
    assert.equal(f.length, 0);
  });
}
