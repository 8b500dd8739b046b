// Issue 12, fourth hostile pass (the final second pass of the hardening items): deep sources, script-controlled
// recursion, lifetimes, strict values, thrown values, Promises from host functions, bad arguments. Every test is
// one attack and expects what the README promises. Attacks that found a defect not fixed here are written with
// the correct expectation and skipped (`todo`): most of them end the process (a segmentation fault), so they
// cannot even run as expected failures.
import assert from "node:assert/strict";
import {
  CalogDeadError,
  CalogDisposedError,
  CalogError,
  CalogLimitError,
  CalogScriptError,
  CalogSyntaxError,
  CalogValueError,
  type EngineName,
  Runtime,
  type ScriptFunction,
} from "../bindings/mod.ts";
import { gc, test } from "./harness.ts";

const engines: EngineName[] = ["lua", "js", "squirrel"];
const modes = [false, true];
const where = (thread: boolean) => (thread ? "own thread" : "host thread");
const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

function thrown(f: () => unknown): Error & { code?: string; value?: unknown; cause?: unknown } {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  assert.fail("expected a throw");
}

const echoSrc: Record<EngineName, string> = {
  lua: "function echo(v) return v end function raise(v) error(v) end",
  js: "function echo(v) { return v; } function raise(v) { throw v; }",
  squirrel: "function echo(v) { return v; } function raise(v) { throw v; }",
};

// ---- found: a TypeScript function echoed by a host-thread JavaScript or Squirrel context ---------------------
// The result names a host function by id only; the script's own copy of the argument was freed (and the host
// entry deleted) before TypeScript decoded the result: `CalogError ERR_INTERNAL unknown host function 2`. It
// passed in fidelity.test.ts only because a Lua context, asked first, still held the function.
for (const thread of modes) {
  for (const engine of engines) {
    test(`${engine} (${where(thread)}): a TypeScript function given to a fresh context comes home as itself`, async () => {
      using rt = new Runtime();
      const base = rt.stats().hostFunctions;
      {
        using ctx = rt.createContext(engine, { thread });
        ctx.eval(echoSrc[engine]);
        const f = () => 1;
        assert.equal(ctx.call("echo", f), f);
        assert.equal((ctx.call("echo", [f, f]) as unknown[])[1], f);
        assert.equal(typeof (ctx.call("echo", { a: () => 2 }) as { a: unknown }).a, "function");
        assert.equal(thrown(() => ctx.call("raise", { fn: f })).name, "CalogScriptError");
        ctx.eval(engine === "js" ? "1" : "return 1");
      }
      // a threaded context's last releases can lag until the next crossing (seen in this pass; they do arrive)
      await tick(20);
      rt.createContext("lua", { thread: false }).dispose();
      await tick(20);
      assert.equal(rt.stats().hostFunctions, base, "nothing is left referenced once the context is gone");
    });
  }
}

// ---- deep sources (item 1): more shapes than nesting.test.ts; all found nothing --------------------------------
const nest = (open: string, core: string, close: string, n: number) => open.repeat(n) + core + close.repeat(n);
const deep: Record<EngineName, Record<string, (n: number) => string>> = {
  lua: {
    concat: (n) => "return " + Array(n).fill('"a"').join(".."),
    "call arguments": (n) => "local f = function(x) return x end return " + nest("f(", "1", ")", n),
    "index brackets": (n) => "local t = {} return " + nest("t[", "1", "]", n),
    "if blocks": (n) => nest("if true then ", "x = 1", " end", n),
    "while blocks": (n) => nest("while false do ", "", " end", n),
    "repeat blocks": (n) => "repeat ".repeat(n) + "until true ".repeat(n),
    "local functions": (n) => nest("local function f() ", "", " end", n),
    "length operators": (n) => "return " + "#".repeat(n) + '"x"',
    "negated parentheses": (n) => "return " + nest("-(", "1", ")", n),
    "table calls": (n) => "return " + nest("print{", "", "}", n),
  },
  js: {
    "conditional chain": (n) => "a?1:".repeat(n) + "2",
    "assignment chain": (n) => "var a;" + "a=".repeat(n) + "1",
    "call arguments": (n) => "function f(x){return x}" + nest("f(", "1", ")", n),
    "new chain": (n) => "function F(){}; " + "new ".repeat(n) + "F",
    typeof: (n) => "typeof ".repeat(n) + "1",
    "unary minus": (n) => "- ".repeat(n) + "1",
    "if statements": (n) => "if(1)".repeat(n) + "x=1;",
    "try blocks": (n) => nest("try{", "", "}finally{}", n),
    "with statements": (n) => "with({})".repeat(n) + ";",
    "member brackets": (n) => "var a=[0];" + nest("a[", "0", "]", n),
    "function expressions": (n) => nest("(function(){return ", "1", "})()", n),
    "Function constructor": (n) => `Function("return ${nest("(", "1", ")", n)}")()`,
    "nested eval": (n) => `eval("${nest("(", "1", ")", n)}")`,
    "JSON.parse arrays": (n) => `JSON.parse("${nest("[", "", "]", n)}"); 1`,
    "regexp lookaheads": (n) => "/" + nest("(?=", "a", ")", n) + "/.test('a')",
    "switch statements": (n) => nest("switch(1){case 1:", "", "}", n),
    "do-while": (n) => "do ".repeat(n) + ";while(0)".repeat(n),
  },
  squirrel: {
    "conditional chain": (n) => "local a = 0; return " + "a?1:".repeat(n) + "2",
    "call arguments": (n) => "local f = function(x) { return x; }; return " + nest("f(", "1", ")", n),
    "not chain": (n) => "return " + "!".repeat(n) + "true",
    "typeof chain": (n) => "return " + "typeof ".repeat(n) + "1",
    "if statements": (n) => "if(1)".repeat(n) + "x <- 1;",
    "try blocks": (n) => nest("try{", "", "}catch(e){}", n),
    "member brackets": (n) => "local a = [0]; return " + nest("a[", "0", "]", n),
    "nested classes": (n) => "class A {" + " x = class {".repeat(n) + "}".repeat(n) + "}",
    "newslot chain": (n) => "local t = {}; " + "t.a <- ".repeat(n) + "1",
    "lambda chain": (n) => "return " + "@() ".repeat(n) + "1",
    "clone chain": (n) => "local t = {}; return " + "clone ".repeat(n) + "t",
    "compilestring inside": (n) => `return compilestring("return ${nest("(", "1", ")", n)}")()`,
    "attributes": (n) => "class A { </ a = " + nest("{a=", "1", "}", n) + " /> x = 1 }",
  },
};

for (const thread of modes) {
  for (const engine of engines) {
    test(`${engine} (${where(thread)}): more deep source shapes fail cleanly or run, never crash`, () => {
      using rt = new Runtime({ output: "ignore" });
      using ctx = rt.createContext(engine, { thread });
      for (const [name, make] of Object.entries(deep[engine])) {
        try {
          ctx.eval(make(100_000));
        } catch (e) {
          assert.ok(e instanceof CalogSyntaxError || e instanceof CalogScriptError, `${name}: ${e}`);
        }
        try {
          ctx.eval(make(3)); // compiles (some shapes then fail at run time, as they should)
        } catch (e) {
          assert.ok(e instanceof CalogScriptError, `${name} (shallow): ${e}`);
        }
      }
      assert.equal(ctx.eval(engine === "js" ? "1 + 1" : "return 1 + 1"), 2);
    });
  }
}

// ---- script-controlled recursion at run time (item 1): all found nothing ------------------------------------
const recursion: Record<EngineName, string[]> = {
  lua: [
    "local mt = {} mt.__tostring = function(t) return tostring(t) end return tostring(setmetatable({}, mt))",
    "local t t = setmetatable({}, {__index = function(s, k) return t[k] end}) return t.x",
    "local t = {} for i = 1, 200000 do t = setmetatable({}, {__index = t}) end return t.x",
    "local mt = {} mt.__concat = function(a, b) return a .. b end return setmetatable({}, mt) .. 'a'",
    "local mt = {} mt.__eq = function(a, b) return a == b end return setmetatable({}, mt) == setmetatable({}, mt)",
    "local function f(s) return (s:gsub('.', f)) end return f('abc')",
    "local t = {} for i = 1, 100 do t[i] = i end local function c(a, b) table.sort(t, c) return a < b end table.sort(t, c)",
    "local function f(n) local x <close> = setmetatable({}, {__close = function() if n > 0 then f(n - 1) end end}) end f(100000)",
    "local function f(n) if n == 0 then return 0 end return coroutine.wrap(function() return f(n - 1) + 1 end)() end return f(100000)",
    "error(setmetatable({}, {__tostring = function(t) return tostring(t) end}))",
    "local mt = {} mt.__gc = function() setmetatable({}, mt) end for i = 1, 1000 do setmetatable({}, mt) end collectgarbage() collectgarbage()",
    "local args = {} for i = 1, 100000 do args[i] = pcall end args[#args + 1] = error return select('#', pcall(table.unpack(args)))",
    "return string.find(string.rep('a', 100000), string.rep('a?', 10000) .. string.rep('a', 10000))",
    "local t = {} for i = 1, 1000000 do t = {t} end return t",
  ],
  js: [
    "var o = { toString: function () { return String(o); } }; String(o)",
    "var a = []; for (var i = 0; i < 100000; i++) a = [a]; String(a)",
    "var a = [1]; a.push(a); String(a)",
    "var o = {}; for (var i = 0; i < 100000; i++) o = {a: o}; JSON.stringify(o).length",
    "var o = { toJSON: function () { return JSON.stringify(o); } }; JSON.stringify(o)",
    "var o = {}; for (var i = 0; i < 100000; i++) o = {a: o}; Duktape.enc('jx', o).length",
    "var o = {}; for (var i = 0; i < 100000; i++) o = Object.create(o); o.x",
    "var p = new Proxy({}, { get: function (t, k) { return p[k]; } }); p.x",
    "var o = { get x() { return this.x; } }; o.x",
    "var a = [3, 2, 1]; a.sort(function c(x, y) { a.sort(c); return x - y; })",
    "/(a*)*b/.test(Array(100001).join('a'))",
    "Error.prototype.toString = function () { return String(this); }; throw new Error('x')",
    "Duktape.errCreate = function (e) { throw e; }; null.x",
    "function mk() { var o = {}; Duktape.fin(o, function () { mk(); }); } for (var i = 0; i < 1000; i++) mk(); Duktape.gc(); 1",
  ],
  squirrel: [
    "class A { function _tostring() { return this.tostring(); } } return A().tostring()",
    "local d = { function _get(k) { return this[k]; } }; local t = {}; t.setdelegate(d); return t.x",
    "class A { function _cmp(o) { return this <=> o; } } return A() <=> A()",
    "local a = [3, 2, 1]; local c; c = function(x, y) { a.sort(c); return x <=> y; }; a.sort(c)",
    "function f(n) { if (n == 0) return 0; local t = newthread(function(n) { return f(n - 1) + 1; }); return t.call(n); } return f(100000)",
    "function g(n) { if (n == 0) { yield 0; return; } local x = g(n - 1); yield resume x; } return resume g(100000)",
    "function f(n) { return n == 0 ? 0 : compilestring(\"return f(\" + (n - 1) + \") + 1\")(); } return f(100000)",
    "local a = []; for (local i = 0; i < 1000000; i++) a = [a]; a = null; return 1",
    "local a = {}; for (local i = 0; i < 1000000; i++) a = {x = a}; a = null; return 1",
    "local s = \"\"; for (local i = 0; i < 3000; i++) s += \"a\"; return regexp(s).match(s)",
  ],
};

for (const thread of modes) {
  for (const engine of engines) {
    test(`${engine} (${where(thread)}): script-controlled recursion ends in a catchable error or runs`, () => {
      using rt = new Runtime({ output: "ignore" });
      using ctx = rt.createContext(engine, { thread, limits: { timeoutMs: 10_000 } });
      for (const src of recursion[engine]) {
        try {
          ctx.eval(src);
        } catch (e) {
          assert.ok(e instanceof CalogError && !(e.code === "ERR_INTERNAL"), `${src}: ${e}`);
        }
      }
      assert.equal(ctx.eval(engine === "js" ? "1 + 1" : "return 1 + 1"), 2);
    }, 120_000);
  }
}

// ---- found and fixed (Squirrel patches 90-93): seven recursions on the C stack that ended the process (SIGSEGV):
// sqstdrex compile and match of long, nested and alternated patterns, class-chain and delegate-chain release,
// delegate-chain lookup, and collectgarbage()'s mark of a deep array. Their tests are in hardening.test.ts.

// ---- found and fixed (Duktape patch 71): a regexp compile of many alternatives is quadratic and polled no limit
for (const thread of modes) {
  test(`js (${where(thread)}): a regexp of 100,000 alternatives stops at its timeout (took 6 s against 200 ms; 200,000: 22 s)`, () => {
    using rt = new Runtime();
    using js = rt.createContext("js", { thread, limits: { timeoutMs: 200 } });
    for (const src of [`/${Array(100_000).fill("a").join("|")}/.test("b")`, `new RegExp(${JSON.stringify(Array(200_000).fill("a").join("|"))})`]) {
      const t0 = performance.now();
      assert.throws(() => js.eval(src), (e: unknown) => e instanceof CalogLimitError && /timeout/.test(e.message));
      assert.ok(performance.now() - t0 < 2_000, `stopped after ${performance.now() - t0} ms`);
    }
    assert.equal(js.eval("1 + 1"), 2);
  });
}

// ---- lifetimes (item 2): all found nothing ---------------------------------------------------------------------
for (const thread of modes) {
  test(`lua (${where(thread)}): a function kept only by a host closure outlives its forgotten Context; dispose kills it`, async () => {
    using rt = new Runtime();
    const keep = (() => {
      const ctx = rt.createContext("lua", { thread });
      ctx.eval("function make(k) return function(x) return x * k end end");
      const f = ctx.call("make", 3) as ScriptFunction;
      return (x: number) => f(x);
    })();
    for (let i = 0; i < 3; i++) {
      gc();
      await tick(5);
      rt.stats();
    }
    assert.equal(keep(5), 15);
    using js = rt.createContext("js", { thread: !thread });
    js.eval("function apply(f, x) { return f(x); }");
    assert.equal(js.call("apply", keep, 7), 21, "a host closure over a script function, called from another engine");
  });
}

test("a function of a disposed context is dead everywhere; of a disposed runtime, disposed", async () => {
  const rt = new Runtime();
  const lua = rt.createContext("lua");
  const js = rt.createContext("js", { thread: false });
  lua.eval("function make() return function() return 1 end end");
  js.eval("var held; function keep(f) { held = f; } function useIt() { return held(); }");
  const f = lua.call("make") as ScriptFunction;
  js.call("keep", f);
  lua.dispose();
  assert.throws(() => f(), CalogDeadError);
  await assert.rejects(f.callAsync(), CalogDeadError);
  assert.equal(thrown(() => js.call("useIt")).name, "CalogScriptError");
  assert.throws(() => lua.eval("return 1"), CalogDisposedError);
  rt.dispose();
  assert.throws(() => f(), CalogDisposedError);
  assert.throws(() => js.call("useIt"), CalogDisposedError);
  await assert.rejects(f.callAsync(), CalogDisposedError);
  await assert.rejects(js.evalAsync("1"), CalogDisposedError);
  f.dispose();
  f.dispose();
});

test("a ScriptFunction disposed while a script holds it: the script's copy still works; passing the disposed one is refused", () => {
  using rt = new Runtime();
  using lua = rt.createContext("lua", { thread: false });
  using sq = rt.createContext("squirrel", { thread: false });
  lua.eval("function make() return function() return 42 end end");
  sq.eval("held <- null; function keep(f) { ::held = f; } function useIt() { return ::held(); }");
  const f = lua.call("make") as ScriptFunction;
  sq.call("keep", f);
  f.dispose();
  assert.equal(sq.call("useIt"), 42);
  assert.throws(() => sq.call("keep", f), CalogDisposedError);
  assert.throws(() => f(), CalogDisposedError);
});

test("disposing a context from inside its own call, and the runtime from inside a call, are refused or safe", () => {
  using rt = new Runtime();
  const lua = rt.createContext("lua", { thread: false });
  rt.register("killCtx", () => lua.dispose());
  rt.register("killRt", () => rt.dispose());
  assert.equal(thrown(() => lua.eval("killRt()")).name, "CalogScriptError");
  assert.equal(rt.disposed, false);
  try {
    lua.eval("killCtx() return 1");
  } catch (e) {
    assert.ok(e instanceof CalogError, String(e));
  }
  assert.throws(() => lua.eval("return 1"), CalogDisposedError);
  using other = rt.createContext("lua", { thread: false });
  assert.equal(other.eval("return 2"), 2);
});

// ---- strict values (item 3) ----------------------------------------------------------------------------------
test("strict: more values that would change silently are refused; symbols, NaN and -0 keep their rules", () => {
  using rt = new Runtime();
  for (const engine of engines) {
    using ctx = rt.createContext(engine, { thread: false });
    ctx.eval(echoSrc[engine]);
    for (const v of [new Set([1]), new WeakMap(), new String("x"), new Map([[{}, 1]]), Symbol("s"), 2n ** 64n, new Int32Array(1), Promise.resolve(1)]) {
      assert.throws(() => ctx.call("echo", v), CalogValueError, String(v));
    }
    assert.ok(Object.is(ctx.call("echo", -0), -0));
    assert.ok(Number.isNaN(ctx.call("echo", NaN)));
    assert.equal(ctx.call("echo", 2 ** 53 + 2), 2 ** 53 + 2);
    assert.throws(() => ctx.call("echo", Object.assign([1], { "-1": 2 })), CalogValueError);
  }
});

// ---- thrown values (item 4): all found nothing -----------------------------------------------------------------
test("odd throws from every engine are CalogScriptErrors with readable messages", () => {
  using rt = new Runtime();
  const cases: Record<EngineName, string[]> = {
    lua: ["error(nil)", "error(0/0)", "error(print)", "error(coroutine.create(print))", "local t = {} for i = 1, 200 do t = {t} end error(t)"],
    js: ["throw undefined", "throw null", "throw NaN", "throw function f() {}", "throw { get a() { throw new Error('g'); } }", "throw new Proxy({}, {})", "throw { toString: function () { throw 1; } }", "var o = 1; for (var i = 0; i < 200; i++) o = {a: o}; throw o"],
    squirrel: ["throw null", "throw function() {}", "class E {} throw E()", "local o = 1; for (local i = 0; i < 200; i++) o = {a = o}; throw o", "throw array(100000, 1)"],
  };
  for (const engine of engines) {
    for (const thread of modes) {
      using ctx = rt.createContext(engine, { thread });
      for (const src of cases[engine]) {
        const e = thrown(() => ctx.eval(src));
        assert.equal(e.name, "CalogScriptError", `${engine}: ${src}: ${e}`);
        assert.ok(typeof e.message === "string" && e.message.length > 0 && e.message.length < 10_000, `${engine}: ${src}: ${e.message.slice(0, 100)}`);
      }
    }
  }
});

test("a table thrown in Lua, through JavaScript and Squirrel, reaches TypeScript as the value; a host exception's cause survives", () => {
  using rt = new Runtime();
  const boom = Symbol("boom");
  rt.register("h", () => {
    throw boom;
  });
  using lua = rt.createContext("lua");
  using js = rt.createContext("js", { thread: false });
  using sq = rt.createContext("squirrel");
  lua.eval("function t() error({ code = 7, list = {1, 2} }) end function viaHost() h() end");
  js.eval("function pass(f) { return f(); }");
  sq.eval("function pass2(p, f) { return p(f); }");
  using t = lua.getFunction("t");
  using viaHost = lua.getFunction("viaHost");
  using pass = js.getFunction("pass");
  const e = thrown(() => sq.call("pass2", pass, t));
  assert.equal(e.name, "CalogScriptError");
  assert.deepEqual(e.value, { code: 7, list: [1, 2] });
  const c = thrown(() => sq.call("pass2", pass, viaHost));
  assert.equal(c.cause, boom);
});

// ---- Promises from host functions (item 5): all found nothing ---------------------------------------------------
test("thenables from host functions: a throwing `then` getter, a `then` that settles twice; threaded contexts await", async () => {
  using rt = new Runtime();
  rt.register("badThen", () => ({ get then() { throw new Error("then getter"); } }));
  rt.register("twice", () => ({ then(ok: (v: unknown) => void) { ok(1); ok(2); } }));
  rt.register("later", async (x: unknown) => {
    await tick(2);
    return [x, x];
  });
  for (const thread of modes) {
    using lua = rt.createContext("lua", { thread });
    const e = thrown(() => lua.eval("return badThen()"));
    assert.equal(e.name, "CalogScriptError");
    assert.match(e.message, /then getter/);
    if (thread) {
      assert.equal(await lua.evalAsync("return twice()"), 1);
      assert.deepEqual(await lua.evalAsync("return later(3)"), [3, 3]);
      const all = await Promise.all([1, 2, 3].map((i) => lua.evalAsync(`return later(${i})[1]`)));
      assert.deepEqual(all, [1, 2, 3]);
    } else {
      assert.match(thrown(() => lua.eval("return later(1)")).message, /returned a Promise/);
    }
  }
});

// ---- bad arguments to the public API (item 6): all found nothing ------------------------------------------------
test("bad arguments to the public API fail with calog errors, and nothing is left half-made", () => {
  using rt = new Runtime();
  const base = rt.stats().contexts;
  const bad: Array<() => unknown> = [
    () => rt.createContext("python" as EngineName),
    () => rt.createContext("lua", { limits: { memory: -1 } }),
    () => rt.createContext("lua", { capabilities: { fs: { read: [""] } } }),
    () => rt.createContext("lua", { output: 5 as unknown as "ignore" }),
    () => rt.register("x\0y", () => 1),
    () => rt.register("y".repeat(300), () => 1),
    () => rt.register("z", 5 as unknown as () => void),
  ];
  for (const f of bad) assert.ok(thrown(f) instanceof CalogError);
  assert.equal(rt.stats().contexts, base);
  using lua = rt.createContext("lua", { thread: false });
  assert.ok(thrown(() => lua.eval(5 as unknown as string)) instanceof Error);
  assert.ok(thrown(() => lua.call(undefined as unknown as string)) instanceof CalogError);
  assert.ok(thrown(() => lua.eval("return 1", { chunkName: "c".repeat(300) })) instanceof CalogValueError);
  assert.ok(thrown(() => lua.eval("return 1", { timeoutMs: -1 })) instanceof CalogValueError);
  assert.ok(thrown(() => lua.setLimits({ steps: 1.5 })) instanceof CalogValueError);
  assert.ok(thrown(() => lua.call("nope")) instanceof CalogError);
  assert.equal(lua.eval("return 1"), 1);
});

// ---- unclear messages found by the fourth pass, fixed -------------------------------------------------------------
test("strict names every named property of an array, negative and fractional keys included", () => {
  using rt = new Runtime();
  using lua = rt.createContext("lua", { thread: false });
  lua.eval("function id(v) return v end");
  for (const [extra, name] of [[{ "-1": 2 }, '"-1"'], [{ "1.5": 2 }, '"1.5"'], [{ x: 1 }, '"x"']] as const) {
    assert.throws(() => lua.call("id", Object.assign([1], extra)), (e: unknown) =>
      e instanceof CalogValueError && e.message.includes(`named properties (${name})`));
  }
});

test("js: a Buffer (a Uint8Array subclass) is refused with a message that says why", () => {
  using rt = new Runtime();
  using js = rt.createContext("js", { thread: false });
  js.eval("function give() { return new Buffer('ab'); }");
  assert.throws(() => js.call("give"), (e: unknown) =>
    e instanceof CalogError && /not subclasses such as Buffer/.test(e.message) && !/only Uint8Array/.test(e.message));
});

// ---- found and fixed (Duktape patch 72): a chain of concatenations overshot the timeout --------------------------
test("js: 200,000 chained string concatenations stop at the timeout (100,000 ran 930 ms against 200 ms)", () => {
  using rt = new Runtime();
  using js = rt.createContext("js", { thread: false, limits: { timeoutMs: 200 } });
  const t0 = performance.now();
  assert.throws(() => js.eval(`var x = ${Array(200_000).fill('"a"').join("+")}; x.length`), (e: unknown) =>
    e instanceof CalogLimitError && /timeout/.test(e.message));
  assert.ok(performance.now() - t0 < 1_500, `stopped after ${performance.now() - t0} ms`);
  assert.equal(js.eval(`var y = ${Array(1_000).fill('"a"').join("+")}; y.length`), 1_000);
});
