// The fidelity policy (README "Fidelity across engines"): every documented lossy edge errors (strict) or
// coerces (lenient) exactly as documented, per engine and between engines.
import assert from "node:assert/strict";
import { CalogValueError, type EngineName, Runtime } from "../bindings/mod.ts";
import { test } from "./harness.ts";

const echoSrc: Record<EngineName, string> = {
  lua: "function echo(v) return v end",
  js: "function echo(v) { return v; }",
  squirrel: "function echo(v) { return v; }",
};

function withEcho(policy: "strict" | "lenient", fn: (echo: (engine: EngineName, v: unknown) => unknown) => void) {
  using rt = new Runtime({ policy });
  const ctxs = new Map<EngineName, ReturnType<Runtime["createContext"]>>();
  try {
    fn((engine, v) => {
      let c = ctxs.get(engine);
      if (!c) {
        c = rt.createContext(engine, { thread: false });
        c.eval(echoSrc[engine]);
        ctxs.set(engine, c);
      }
      return c.call("echo", v);
    });
  } finally {
    for (const c of ctxs.values()) c.dispose();
  }
}

const isRange = (e: unknown) => e instanceof CalogValueError && e.code === "ERR_RANGE";
const isType = (e: unknown) => e instanceof CalogValueError && e.code === "ERR_TYPE";

test("int64 beyond 2^53: exact in Lua and Squirrel; JavaScript: strict error, lenient nearest double", () => {
  for (const policy of ["strict", "lenient"] as const) {
    withEcho(policy, (echo) => {
      assert.equal(echo("lua", 2n ** 63n - 1n), 2n ** 63n - 1n);
      assert.equal(echo("squirrel", -(2n ** 63n)), -(2n ** 63n));
      assert.equal(echo("lua", 9007199254740993n), 9007199254740993n);
      if (policy === "strict") assert.throws(() => echo("js", 9007199254740993n), isRange);
      else assert.equal(echo("js", 9007199254740993n), 9007199254740992);
      assert.equal(echo("js", 2 ** 53), 2 ** 53); // exactly 2^53 is still exact
    });
  }
});

test("strings: NUL bytes and invalid UTF-8 survive every engine byte-exact", () => {
  withEcho("strict", (echo) => {
    for (const e of ["lua", "js", "squirrel"] as const) {
      assert.equal(echo(e, "a\0b\0"), "a\0b\0");
      assert.deepEqual(echo(e, new Uint8Array([0xff, 0xfe, 0x00, 0x41])), new Uint8Array([0xff, 0xfe, 0x00, 0x41]));
      assert.equal(echo(e, "é✓🎉"), "é✓🎉");
    }
  });
});

test("empty containers keep their kind in every engine (a Lua table remembers that it entered as a map)", () => {
  withEcho("strict", (echo) => {
    for (const e of ["lua", "js", "squirrel"] as const) {
      assert.deepEqual(echo(e, {}), {});
      assert.deepEqual(echo(e, []), []);
    }
  });
});

test("mixed array+map and non-string keys: Lua and Squirrel keep key types; JavaScript makes them strings", () => {
  const mixed = new Map<unknown, unknown>([[1, "a"], [2, "b"], ["x", 1]]);
  const keyed = new Map<unknown, unknown>([[1, "one"], [2.5, "real"], [true, "bool"], ["s", "str"]]);
  for (const policy of ["strict", "lenient"] as const) {
    withEcho(policy, (echo) => {
      for (const e of ["lua", "squirrel"] as const) {
        assert.deepEqual(echo(e, mixed), mixed);
        assert.deepEqual(echo(e, keyed), keyed);
      }
      assert.deepEqual(echo("js", mixed), { 1: "a", 2: "b", x: 1 });
      assert.deepEqual(echo("js", new Map<unknown, unknown>([[1, "one"], [2.5, "real"]])), { 1: "one", "2.5": "real" });
      if (policy === "strict") assert.throws(() => echo("js", keyed), isType); // a bool key has no JS spelling
      else assert.deepEqual(echo("js", keyed), { 1: "one", "2.5": "real", true: "bool", s: "str" });
    });
  }
});

test("function values cross every engine and come home as themselves", () => {
  withEcho("strict", (echo) => {
    const f = (x: number) => x + 1;
    for (const e of ["lua", "js", "squirrel"] as const) assert.equal(echo(e, f), f);
  });
});

test("depth: 100 levels cross every engine, 101 fail with ERR_DEPTH", () => {
  withEcho("strict", (echo) => {
    let ok: unknown = 0;
    for (let i = 0; i < 100; i++) ok = [ok];
    for (const e of ["lua", "js", "squirrel"] as const) {
      assert.deepEqual(echo(e, ok), ok);
      assert.throws(() => echo(e, [ok]), (err: unknown) => err instanceof CalogValueError && err.code === "ERR_DEPTH");
    }
  });
});

test("between engines: a Lua value the JavaScript side cannot hold fails in Lua (strict) or coerces (lenient)", () => {
  for (const policy of ["strict", "lenient"] as const) {
    using rt = new Runtime({ policy });
    using js = rt.createContext("js");
    using lua = rt.createContext("lua");
    using sq = rt.createContext("squirrel");
    js.eval("function describe(v) { return typeof v + ':' + JSON.stringify(v); }");
    sq.eval("function bytes(s) { return s.len(); }");
    lua.eval(`function viaJs(f, v) local ok, e = pcall(f, v) if ok then return e end return 'error: ' .. e end`);
    using describe = js.getFunction("describe");
    using bytes = sq.getFunction("bytes");
    const big = lua.call("viaJs", describe, 2n ** 60n) as string;
    if (policy === "strict") assert.match(big, /^error: .*2\^53/);
    else assert.equal(big, "number:" + JSON.stringify(2 ** 60)); // the nearest double
    const bk = lua.call("viaJs", describe, new Map([[true, 1]])) as string;
    if (policy === "strict") assert.match(bk, /^error: /);
    else assert.equal(bk, 'object:{"true":1}');
    assert.equal(lua.call("viaJs", bytes, "a\0b"), 3); // NUL-bearing Lua string into Squirrel: exact
    assert.equal(lua.call("viaJs", describe, "a\0b"), 'string:"a\\u0000b"');
  }
});

// ---- issue 12, item 3: nothing changes silently under strict ------------------------------------------
const engines3 = ["lua", "js", "squirrel"] as const;

test("JavaScript non-plain objects (Date, Error, RegExp, class instances, Proxies): strict ERR_TYPE; lenient their own data properties", () => {
  const sources = [
    "new Date(0)", "new Error('x')", "/a/g", "new Proxy({ a: 1 }, {})",
    "(function () { function C() { this.a = 1; } return new C(); })()", "new Number(1)",
  ];
  for (const policy of ["strict", "lenient"] as const) {
    using rt = new Runtime({ policy });
    using js = rt.createContext("js", { thread: false });
    for (const src of sources) {
      if (policy === "strict") assert.throws(() => js.eval(src), isType, src);
      else assert.doesNotThrow(() => js.eval(src), src);
    }
    assert.deepEqual(js.eval("Object.create(null)"), {}); // a null-prototype object is plain
    if (policy === "lenient") {
      assert.deepEqual(js.eval("(function () { function C() { this.a = 1; } return new C(); })()"), { a: 1 });
      assert.equal(js.eval("new Proxy({ a: 1 }, {})"), null); // no trap runs: a Proxy has no data of its own
    }
  }
});

test("typed arrays: Uint8Array, Uint8ClampedArray and ArrayBuffer cross as bytes; other views: strict ERR_TYPE, lenient bytes", () => {
  for (const policy of ["strict", "lenient"] as const) {
    using rt = new Runtime({ policy });
    using js = rt.createContext("js", { thread: false });
    js.eval("function echo(v) { return v; }");
    assert.deepEqual(js.eval("new Uint8Array([200, 1])"), new Uint8Array([200, 1]));
    assert.deepEqual(js.eval("new Uint8ClampedArray([200, 1])"), new Uint8Array([200, 1]));
    assert.deepEqual(js.eval("new Uint8Array([200, 1]).buffer"), new Uint8Array([200, 1]));
    assert.deepEqual(js.call("echo", new Uint8ClampedArray([200])), new Uint8Array([200]));
    assert.deepEqual(js.call("echo", new Uint8Array([200, 7]).buffer), new Uint8Array([200, 7]));
    for (const src of ["new Float32Array([1.5])", "new Int16Array([1])", "new DataView(new ArrayBuffer(2))"]) {
      if (policy === "strict") assert.throws(() => js.eval(src), isType, src);
      else assert.ok(js.eval(src) !== null, src);
    }
    if (policy === "strict") {
      assert.throws(() => js.call("echo", new Float64Array([1])), isType);
      assert.throws(() => js.call("echo", new DataView(new ArrayBuffer(1))), isType);
    } else {
      assert.deepEqual(js.call("echo", new Uint16Array([0x4142])), "BA");
    }
  }
});

test("keys that collide as JS property names (1 and \"1\"): strict ERR_TYPE; lenient the last wins", () => {
  const colliding = new Map<unknown, unknown>([[1, "number"], ["1", "string"]]);
  withEcho("strict", (echo) => {
    assert.throws(() => echo("js", colliding), isType);
    assert.throws(() => echo("js", new Map<unknown, unknown>([[2, "int"], [2.0, "same"], ["2", "str"]])), isType);
    assert.deepEqual(echo("lua", colliding), colliding); // Lua and Squirrel keep both keys
    assert.deepEqual(echo("squirrel", colliding), colliding);
  });
  withEcho("lenient", (echo) => assert.deepEqual(echo("js", colliding), { 1: "string" }));
  // 1 and 1n are distinct Map keys in TypeScript, one integer key in every engine
  withEcho("strict", (echo) => {
    for (const e of engines3) assert.throws(() => echo(e, new Map<unknown, unknown>([[1, "a"], [1n, "b"]])), isType);
  });
  // a Lua table whose sequence and a "1" key collide in JavaScript
  using rt = new Runtime();
  using lua = rt.createContext("lua", { thread: false });
  using js = rt.createContext("js", { thread: false });
  js.eval("function echo(v) { return v; }");
  lua.eval("function pass(f) return f({ 10, ['1'] = 'x' }) end");
  assert.throws(() => lua.call("pass", js.get("echo")), /same JS property name/);
});

test("a lone surrogate: strict ERR_TYPE in every engine; lenient U+FFFD", () => {
  for (const policy of ["strict", "lenient"] as const) {
    withEcho(policy, (echo) => {
      for (const e of engines3) {
        for (const s of ["a\uD800b", "\uDC00", "x".repeat(70) + "\uD83D"]) {
          if (policy === "strict") assert.throws(() => echo(e, s), isType);
          else assert.equal(echo(e, s), s.replace(/[\uD800-\uDFFF]/g, "\uFFFD"));
        }
        assert.equal(echo(e, "🎉 paired surrogates are fine"), "🎉 paired surrogates are fine");
        if (policy === "strict") assert.throws(() => echo(e, new Map([["k\uD800", 1]])), isType); // keys too
      }
    });
  }
});

test("nil inside a list or as a map value: Lua strict ERR_TYPE, lenient dropped; JavaScript and Squirrel keep it", () => {
  withEcho("strict", (echo) => {
    assert.throws(() => echo("lua", [1, 2, undefined]), isType);
    assert.throws(() => echo("lua", [1, , 3]), isType);
    assert.throws(() => echo("lua", { a: null, b: 1 }), isType);
    assert.deepEqual(echo("lua", [1, 2, 3]), [1, 2, 3]);
    for (const e of ["js", "squirrel"] as const) {
      assert.deepEqual(echo(e, [1, 2, undefined]), [1, 2, null]);
      assert.deepEqual(echo(e, [1, , 3]), [1, null, 3]);
      assert.deepEqual(echo(e, { a: null, b: 1 }), { a: null, b: 1 });
    }
  });
  withEcho("lenient", (echo) => {
    assert.deepEqual(echo("lua", [1, 2, undefined]), [1, 2]);
    assert.deepEqual(echo("lua", [1, , 3]), new Map([[1, 1], [3, 3]]));
    assert.deepEqual(echo("lua", { a: null, b: 1 }), { b: 1 });
  });
});

// sixth hostile pass: the wire's UTF-8 decoder stripped a leading U+FEFF (TextDecoder's default), so every string
// starting with one came back without it: values, keys (two keys then collided and one was lost), error messages
test("a string starting with U+FEFF comes back with it: values, keys, thrown messages, output, both thread modes", () => {
  const lines: unknown[] = [];
  using rt = new Runtime({ output: (text) => void lines.push(text) });
  const bom = "\uFEFF";
  for (const thread of [false, true]) {
    for (const e of engines3) {
      using c = rt.createContext(e, { thread });
      c.eval(echoSrc[e]);
      assert.equal(c.call("echo", bom + "x"), bom + "x");
      assert.equal(c.call("echo", bom.repeat(40)), bom.repeat(40)); // past the short-string path
      assert.deepEqual(c.call("echo", [bom, { [bom + "k"]: bom + "v", k: 2 }]), [bom, { [bom + "k"]: bom + "v", k: 2 }]);
      const made = { lua: 'return "\\xEF\\xBB\\xBFk"', js: '"\\uFEFFk"', squirrel: 'return "\\xEF\\xBB\\xBFk"' }[e];
      assert.equal(c.eval(made), bom + "k");
      const thrown = { lua: 'error("\\xEF\\xBB\\xBFboom", 0)', js: 'throw "\\uFEFFboom"', squirrel: 'throw "\\xEF\\xBB\\xBFboom"' }[e];
      assert.throws(() => c.eval(thrown), (err: Error) => err.message === bom + "boom");
      c.eval({ lua: 'print("\\xEF\\xBB\\xBFp")', js: 'print("\\uFEFFp")', squirrel: 'print("\\xEF\\xBB\\xBFp")' }[e]);
    }
  }
  assert.ok(lines.length === 6 && lines.every((l) => typeof l === "string" && l.startsWith(bom + "p")), JSON.stringify(lines));
});
