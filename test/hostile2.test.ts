// Issue 12, second hostile pass (FINDINGS-values.md): where an error came from travels with the error itself
// (E3, E4), thrown values survive engine -> engine -> host (E5), clear messages for odd throws (E6), and the
// value rules V1-V5 (strict refuses or keeps; lenient and the README's fidelity table say what happens).
import assert from "node:assert/strict";
import {
  CalogPermissionError,
  CalogScriptError,
  CalogSyntaxError,
  CalogValueError,
  type Context,
  type EngineName,
  Runtime,
} from "../bindings/mod.ts";
import { test } from "./harness.ts";

const engines: EngineName[] = ["lua", "js", "squirrel"];
const modes = [false, true];

/** The error a call throws (fails the test if it does not throw). */
function caught(f: () => unknown): CalogScriptError {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof CalogScriptError, `expected a CalogScriptError, got ${e}`);
    return e;
  }
  assert.fail("expected the call to throw");
}

/** Catches whatever `f` throws and returns it (the error) for its own checks. */
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  assert.fail("expected the call to throw");
}

// ---- E4: a host exception is the cause of the error it became, and of no other ----------------------
const catchThenRaise: Record<EngineName, string> = {
  lua: 'pcall(h) error("shared", 0)',
  js: 'try { h(); } catch (e) {} throw new Error("shared");',
  squirrel: 'try { h(); } catch (e) {} throw "shared";',
};
const uncaught: Record<EngineName, string> = { lua: "h()", js: "h();", squirrel: "h();" };

for (const thread of modes) {
  for (const engine of engines) {
    test(`E4 ${engine} (${thread ? "own thread" : "host thread"}): a caught host exception is not the cause of a later error with the same text`, () => {
      using rt = new Runtime();
      const boom = new Error("shared");
      rt.register("h", () => {
        throw boom;
      });
      using ctx = rt.createContext(engine, { thread });
      const later = caught(() => ctx.eval(catchThenRaise[engine]));
      assert.match(later.message, /shared/);
      assert.ok(!("cause" in later), "the script's own error has no cause");
      const direct = caught(() => ctx.eval(uncaught[engine]));
      assert.equal(direct.cause, boom, "uncaught, the host exception is the cause");
    });
  }
}

test("E4: '[object Object]' exceptions no longer match each other; through two engines the cause is exact", () => {
  using rt = new Runtime();
  const hostObj = { code: 7 };
  rt.register("hthrowobj", () => {
    throw hostObj;
  });
  using js = rt.createContext("js", { thread: false });
  using lua = rt.createContext("lua", { thread: false });
  js.eval("function jthrowobj() { throw {a:1}; } function jhost() { return hthrowobj(); }");
  lua.eval("function pc(f) return pcall(f) end  function lcall(f) return f() end");
  using jhost = js.getFunction("jhost");
  using jthrowobj = js.getFunction("jthrowobj");
  assert.equal(lua.call("pc", jhost), false); // caught by the script's pcall
  const e = caught(() => lua.call("lcall", jthrowobj));
  assert.ok(!("cause" in e), "JS threw its own object: no host exception is involved");
  assert.deepEqual(e.value, { a: 1 });
  const viaTwo = caught(() => lua.call("lcall", jhost));
  assert.equal(viaTwo.cause, hostObj, "host -> js -> lua -> TypeScript keeps the very exception");
});

test("E4: a host exception swallowed inside a nested engine is not the cause of the outer error", () => {
  using rt = new Runtime();
  rt.register("h", () => {
    throw new Error("inner");
  });
  using js = rt.createContext("js", { thread: false });
  using sq = rt.createContext("squirrel", { thread: false });
  js.eval("function swallow() { try { h(); } catch (e) { return e.message; } }");
  sq.eval("function run(f) { local m = f(); throw m; }");
  using swallow = js.getFunction("swallow");
  const e = caught(() => sq.call("run", swallow));
  assert.equal(e.message, "inner");
  assert.ok(!("cause" in e));
});

test("E4: 300 caught host exceptions are dropped, the one that escapes is kept (async too)", async () => {
  using rt = new Runtime();
  let n = 0;
  const errs: Error[] = [];
  rt.register("h", () => {
    const e = new Error(`e${n++}`);
    errs.push(e);
    throw e;
  });
  using lua = rt.createContext("lua");
  const e = caught(() => lua.eval("for i = 1, 300 do pcall(h) end h()"));
  assert.equal(e.cause, errs[300]);
  const p = lua.evalAsync("for i = 1, 10 do pcall(h) end h()");
  const ea = await p.then(() => assert.fail("should reject"), (x: unknown) => x);
  assert.ok(ea instanceof CalogScriptError);
  assert.equal(ea.cause, errs[311]);
});

test("E4: a capability denial keeps its class through another engine; rethrown as is it keeps it, a new error does not", () => {
  using rt = new Runtime();
  using lua = rt.createContext("lua", { thread: false });
  using sq = rt.createContext("squirrel", { thread: false });
  using js = rt.createContext("js", { thread: false });
  sq.eval('function opn() { return file("/etc/passwd", "r"); }');
  lua.eval("function call1(f) return f() end function lop() return io.open('/etc/passwd') end");
  js.eval("function call1(f) { return f(); } function retry(f) { try { f(); } catch (e) { throw e; } }");
  js.eval("function fresh(f) { try { f(); } catch (e) { throw new Error(e.message); } }");
  using opn = sq.getFunction("opn");
  using lop = lua.getFunction("lop");
  assert.throws(() => lua.call("call1", opn), CalogPermissionError);
  assert.throws(() => js.call("call1", lop), CalogPermissionError);
  assert.throws(() => js.call("retry", lop), CalogPermissionError);
  const e = thrown(() => js.call("fresh", lop));
  assert.ok(e instanceof CalogScriptError && !(e instanceof CalogPermissionError));
  // Lua: the same text spelled by the script is the script's own error
  const own = thrown(() => lua.eval("local ok, e = pcall(io.open, '/x') error(string.sub(e, 1, -1) .. '', 0)"));
  assert.ok(own instanceof CalogScriptError && !(own instanceof CalogPermissionError), String(own));
  assert.throws(() => lua.eval("local ok, e = pcall(io.open, '/x') error(e, 0)"), CalogPermissionError); // as is
});

// ---- E3: the cause does not depend on the message text -----------------------------------------------
for (const engine of engines) {
  test(`E3 ${engine}: a host exception whose message has a lone surrogate is still the cause`, () => {
    using rt = new Runtime();
    const boom = new Error("\uD800 and more");
    rt.register("h", () => {
      throw boom;
    });
    using ctx = rt.createContext(engine, { thread: false });
    const e = caught(() => ctx.eval(uncaught[engine]));
    assert.equal(e.cause, boom);
    assert.match(e.message, /\uFFFD and more/);
  });
}

// ---- E5: thrown values cross engines as values -----------------------------------------------------------
const thrower: Record<EngineName, string> = {
  lua: "function thrower(x) error({code = x, tag = 'lua'}) end",
  js: "function thrower(x) { throw {code: x, tag: 'js'}; }",
  squirrel: "function thrower(x) { throw {code = x, tag = \"squirrel\"}; }",
};
const catcher: Record<EngineName, string> = {
  lua: "function catcher(f) local ok, e = pcall(f, 5) return {ok = ok, code = e.code, tag = e.tag} end function pass(f) return f(5) end",
  js: "function catcher(f) { try { f(5); return {ok: true}; } catch (e) { return {ok: false, code: e.code, tag: e.tag}; } } function pass(f) { return f(5); }",
  squirrel: "function catcher(f) { try { f(5); return {ok = true}; } catch (e) { return {ok = false, code = e.code, tag = e.tag}; } } function pass(f) { return f(5); }",
};

for (const thread of modes) {
  for (const from of engines) {
    for (const to of engines) {
      if (from === to) continue;
      test(`E5 ${from} -> ${to} (${thread ? "own thread" : "host thread"}): a thrown table/object arrives as that value`, () => {
        using rt = new Runtime();
        using a = rt.createContext(from, { thread });
        using b = rt.createContext(to, { thread });
        a.eval(thrower[from]);
        b.eval(catcher[to]);
        using f = a.getFunction("thrower");
        const keyed = (v: unknown) => (v instanceof Map ? Object.fromEntries(v) : v);
        assert.deepEqual(keyed(b.call("catcher", f)), { ok: false, code: 5, tag: from });
        const e = caught(() => b.call("pass", f));
        assert.deepEqual(keyed(e.value), { code: 5, tag: from });
        assert.match(e.message, new RegExp(`threw \\{ (code: 5, tag: "${from}"|tag: "${from}", code: 5) \\}`));
      });
    }
  }
}

test("E5: text errors still arrive as text (a JS catch sees an Error with the message)", () => {
  using rt = new Runtime();
  using lua = rt.createContext("lua", { thread: false });
  using js = rt.createContext("js", { thread: false });
  lua.eval("function le() error('plain text', 0) end");
  js.eval("function jc(f) { try { f(); } catch (e) { return [e instanceof Error, e.message]; } }");
  using le = lua.getFunction("le");
  assert.deepEqual(js.call("jc", le), [true, "plain text"]);
});

// ---- E6: clear messages ----------------------------------------------------------------------------------
test("E6: non-UTF-8 text, Symbols, failing __tostring and values that cannot cross give readable messages", () => {
  using rt = new Runtime();
  using lua = rt.createContext("lua", { thread: false });
  using js = rt.createContext("js", { thread: false });
  using sq = rt.createContext("squirrel", { thread: false });
  const bad = caught(() => lua.eval('error("ab\\xff", 0)'));
  assert.equal(bad.message, "ab\uFFFD");
  assert.deepEqual(bad.value, new Uint8Array([0x61, 0x62, 0xff]));
  assert.equal(caught(() => js.eval('throw "x\\uD800"')).message.startsWith("x\uFFFD"), true);
  assert.equal(caught(() => js.eval('throw Symbol("s")')).message, "js threw Symbol(s)");
  assert.match(
    caught(() => lua.eval('error(setmetatable({}, {__tostring = function() error("ts boom") end}))')).message,
    /^\(error object is a table value; its __tostring failed: .*ts boom\)$/,
  );
  assert.equal(caught(() => lua.eval("local t = {} t.t = t error(t)")).message, "lua threw a table value that cannot cross: table contains itself (a cycle)");
  assert.match(caught(() => sq.eval("class A {} throw A()")).message, /^squirrel threw an instance value that cannot cross: /);
  assert.equal(caught(() => js.eval("var o = {}; o.o = o; throw o")).message, "js threw an object that cannot cross: object contains itself (a cycle)");
  assert.equal(caught(() => js.eval("throw {}")).message, "js threw {}");
  assert.equal(caught(() => lua.eval("error({})")).message, "lua threw []");
});

test("E6b: a thrown nil, null, undefined or boolean reads '<engine> threw null' in every engine, through every hop, and from a host function", () => {
  // JavaScript and Squirrel gave their ToString ("null", "undefined", "true") as the whole message, Lua "lua threw
  // null": the same throw read differently by engine, and a host function's `throw null` read "null"
  using rt = new Runtime();
  const throwers: Record<EngineName, Record<string, string>> = {
    lua: { nil: "error(nil)", true: "error(true)" },
    js: { null: "throw null", undefined: "throw undefined", false: "throw false" },
    squirrel: { null: "throw null", true: "throw true" },
  };
  const ctx = {} as Record<EngineName, Context>;
  for (const e of engines) {
    ctx[e] = rt.createContext(e);
    for (const [k, body] of Object.entries(throwers[e])) {
      ctx[e].eval(e === "lua" ? `function t_${k}() ${body} end` : `function t_${k}() { ${body}; }`);
      rt.register(`${e}_${k}`, ctx[e].getFunction(`t_${k}`));
    }
  }
  const said = (k: string) => (k === "nil" ? "null" : k);
  for (const from of engines) {
    for (const [k] of Object.entries(throwers[from])) {
      const want = `${from} threw ${said(k)}`;
      const direct = caught(() => ctx[from].call(`t_${k}`));
      assert.equal(direct.message, want);
      assert.equal(direct.value, k === "true" ? true : k === "false" ? false : null);
      for (const via of engines) {
        const e = caught(() => ctx[via].eval(via === "lua" ? `return ${from}_${k}()` : `${from}_${k}()`));
        // a thrown nil/null/undefined passed on by the host function is that value (pass 36b), rendered by the engine
        // it leaves last as with no host function between; a boolean passes as its text
        const isNull = k === "nil" || k === "null" || k === "undefined";
        assert.equal(e.message, isNull ? `${via} threw null` : want, `${from} ${k} through ${via}`);
      }
    }
  }
  for (const [name, thrown] of [["null", null], ["undefined", undefined], ["false", false]] as const) {
    rt.register(`h_${name}`, () => {
      throw thrown;
    });
    for (const via of engines) {
      const e = caught(() => ctx[via].eval(via === "lua" ? `return h_${name}()` : `h_${name}()`));
      assert.equal(e.message, `a host function threw ${name}`);
      assert.ok("cause" in e && e.cause === thrown, `${via}: the cause is what was thrown`);
    }
  }
  rt.register("h_symbol", () => {
    throw Symbol("s");
  });
  assert.equal(caught(() => ctx.lua.eval("return h_symbol()")).message, "a host function threw Symbol(s)");
  for (const e of engines) ctx[e].dispose();
});

// ---- V1: arrays with named properties -------------------------------------------------------------------
const echoSrc: Record<EngineName, string> = {
  lua: "function echo(v) return v end",
  js: "function echo(v) { return v; }",
  squirrel: "function echo(v) { return v; }",
};
function contexts(rt: Runtime): Record<EngineName, Context> {
  const out = {} as Record<EngineName, Context>;
  for (const e of engines) {
    out[e] = rt.createContext(e, { thread: false });
    out[e].eval(echoSrc[e]);
  }
  return out;
}

test("V1: strict refuses an array with named properties (TypeScript and JavaScript arrays); lenient drops them", () => {
  for (const policy of ["strict", "lenient"] as const) {
    using rt = new Runtime({ policy });
    const c = contexts(rt);
    try {
      for (const e of engines) {
        const named = Object.assign([1, 2], { x: 1 });
        if (policy === "strict") {
          const err = thrown(() => c[e].call("echo", named));
          assert.ok(err instanceof CalogValueError && err.code === "ERR_TYPE", String(err));
          assert.match((err as Error).message, /named properties \("x"\)/);
          // holes and indices alone are no named properties
          assert.deepEqual(c[e].call("echo", [1, , 3].slice(0, 1)), [1]);
        } else {
          assert.deepEqual(c[e].call("echo", named), [1, 2]);
        }
      }
      if (policy === "strict") {
        assert.throws(() => c.js.eval("var a = [1, 2]; a.x = 1; a"), (e) => e instanceof CalogValueError && /named properties/.test(e.message));
        assert.deepEqual(c.js.eval("var b = [1, 2]; b[4] = 5; b"), [1, 2, null, null, 5]); // sparse: indices only
        assert.deepEqual(c.js.eval("var d = [1]; Object.defineProperty(d, 'h', {value: 1, enumerable: false}); d"), [1]);
      } else {
        assert.deepEqual(c.js.eval("var a = [1, 2]; a.x = 1; a"), [1, 2]);
      }
    } finally {
      for (const e of engines) c[e].dispose();
    }
  }
});

// ---- V2-V5: the rules of the fidelity table -----------------------------------------------------------------
test("V2: a Map number key beyond 2^53 comes back the same from Squirrel; Lua refuses it under strict, lenient gives a bigint", () => {
  for (const policy of ["strict", "lenient"] as const) {
    using rt = new Runtime({ policy });
    const c = contexts(rt);
    try {
      const m = new Map([[2 ** 60, 1]]);
      assert.deepEqual(c.squirrel.call("echo", m), m);
      assert.deepEqual(c.lua.call("echo", new Map([[3, 1], [2.5, 2]])), new Map([[3, 1], [2.5, 2]]));
      if (policy === "strict") assert.throws(() => c.lua.call("echo", m), (e) => e instanceof CalogValueError && /integer key/.test(e.message));
      else assert.deepEqual(c.lua.call("echo", m), new Map([[2n ** 60n, 1]]));
      assert.deepEqual(c.lua.call("echo", new Map([[2 ** 64, 1]])), new Map([[2 ** 64, 1]])); // beyond int64: stays a float
    } finally {
      for (const e of engines) c[e].dispose();
    }
  }
});

test("V3: a Lua float with an integral value comes back from a JavaScript function as an integer", () => {
  using rt = new Runtime();
  const c = contexts(rt);
  try {
    c.lua.eval("function through(f) local v = f(3.0) local w = f(2^53) return {math.type(v), math.type(w), math.type(f(2.5))} end");
    using jsEcho = c.js.getFunction("echo");
    assert.deepEqual(c.lua.call("through", jsEcho), ["integer", "integer", "float"]);
    using sqEcho = c.squirrel.getFunction("echo");
    assert.deepEqual(c.lua.call("through", sqEcho), ["float", "float", "float"]); // Squirrel keeps floats
  } finally {
    for (const e of engines) c[e].dispose();
  }
});

test("V4: a Lua table with a metatable crosses as its raw contents; no metamethod runs (both policies)", () => {
  for (const policy of ["strict", "lenient"] as const) {
    using rt = new Runtime({ policy });
    using lua = rt.createContext("lua", { thread: false });
    lua.eval("ran = false");
    const v = lua.eval(
      "local mt = {__index = function() ran = true return 1 end, __pairs = function() ran = true end, __len = function() ran = true return 9 end}" +
        " return setmetatable({1, 2, x = 3}, mt)",
    );
    assert.deepEqual(v, new Map<unknown, unknown>([[1, 1], [2, 2], ["x", 3]]));
    assert.deepEqual(lua.eval("return setmetatable({}, {__index = function() return 1 end})"), []);
    assert.equal(lua.eval("return ran"), false);
  }
});

test("V5: symbol keys and non-enumerable properties of TypeScript objects stay behind (both policies)", () => {
  for (const policy of ["strict", "lenient"] as const) {
    using rt = new Runtime({ policy });
    const c = contexts(rt);
    try {
      const o = { a: 1, [Symbol("s")]: 2 };
      Object.defineProperty(o, "hidden", { value: 3, enumerable: false });
      for (const e of engines) assert.deepEqual(c[e].call("echo", o), { a: 1 });
    } finally {
      for (const e of engines) c[e].dispose();
    }
  }
});

// ---- found by the fuzzer ----------------------------------------------------------------------------------
test("Squirrel: assigning to a binary expression is a CalogSyntaxError (it aborted the process)", () => {
  using rt = new Runtime();
  for (const thread of modes) {
    using sq = rt.createContext("squirrel", { thread });
    for (const src of ["local a = b * 0 = 1", "local a = 1; a * 2 = 3", "b <- 1; b || c = 1", "b <- 1; b && c = 1", "n <- 1; n++ = 2", "local n = 1; n-- += 2", "local t; function f() { 1 + t = 2 }", "local t; function f() { -t = 2 }"]) {
      assert.throws(() => sq.eval(src), (e) => e instanceof CalogSyntaxError && /can't assign expression/.test(e.message));
    }
    assert.equal(sq.eval("local q = 3; q += 2 * 2; return q"), 7);
  }
});

test("Squirrel: ++, -- or delete on a bare `base` is a CalogSyntaxError (it aborted the process)", () => {
  using rt = new Runtime();
  for (const thread of modes) {
    using sq = rt.createContext("squirrel", { thread });
    for (const src of ["base--", "++base", "local a = base++", "delete base"]) {
      assert.throws(() => sq.eval(src), (e) => e instanceof CalogSyntaxError && /'base' cannot be/.test(e.message));
    }
  }
});
