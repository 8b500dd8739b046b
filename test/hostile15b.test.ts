// The fifteenth hostile pass (b): what it found, kept as regressions.
import assert from "node:assert/strict";
import { CalogLimitError, CalogScriptError, CalogValueError, Runtime, type ScriptFunction } from "../bindings/mod.ts";
import { caught, modes, test, where } from "./harness.ts";

const engines = ["lua", "js", "squirrel"] as const;

// ctx.interrupt() from inside a host function, or a timeout that passed while one ran, was raised only at the
// script's next step tick: the script went on calling host functions (and printing) in the meantime. After
// `stop(); mark(1); mark(2)` both marks ran, and a loop calling the host went on for 200 (Squirrel) to 4,094
// (JavaScript) more host calls before the interrupt took effect. A limit tripped in the running entry now stops
// every call out (host function, function value, I/O) before it starts and before its result is delivered, and
// every print.
const stopSources = {
  lua: { straight: "stop(); mark(1); print('after'); mark(2)", loop: "while true do mark() end", pcall: "for i = 1, 100000 do pcall(mark) end", slow: "slow(); mark(1); mark(2)" },
  js: { straight: "stop(); mark(1); print('after'); mark(2);", loop: "for (;;) mark();", pcall: "for (var i = 0; i < 100000; i++) { try { mark() } catch (e) {} }", slow: "slow(); mark(1); mark(2);" },
  squirrel: { straight: "stop(); mark(1); print(\"after\\n\"); mark(2);", loop: "while (true) mark();", pcall: "for (local i = 0; i < 100000; i++) { try { mark() } catch (e) {} }", slow: "slow(); mark(1); mark(2);" },
};
for (const thread of modes) {
  test(`interrupt() from a host function (${where(thread)}): the script makes no further host call and prints nothing`, () => {
    for (const engine of engines) {
      using rt = new Runtime();
      const seen: string[] = [];
      using ctx = rt.createContext(engine, { thread, output: (text) => void seen.push(`print ${String(text).trim()}`) });
      let armed = true;
      rt.register("stop", () => void ctx.interrupt());
      rt.register("mark", (n) => {
        seen.push(`mark ${n}`);
        if (armed) {
          armed = false;
          ctx.interrupt();
        }
      });
      const src = stopSources[engine];
      for (const [what, source] of [["straight", src.straight], ["a loop", src.loop], ["a caught call in a loop", src.pcall]] as const) {
        seen.length = 0;
        armed = what !== "straight";
        assert.throws(() => ctx.eval(source), (e: unknown) => e instanceof CalogLimitError && e.limit === "interrupt", `${engine}, ${what}`);
        // the loops: the call that interrupted ran, nothing after it
        assert.deepEqual(seen, what === "straight" ? [] : ["mark undefined"], `${engine}, ${what}: ran after the interrupt`);
      }
      assert.equal(ctx.eval(engine === "lua" ? "return 1 + 1" : engine === "js" ? "1 + 1" : "return 1 + 1"), 2); // usable again
    }
  });

  test(`a timeout that passes inside a host function (${where(thread)}) stops the script when the function returns`, () => {
    for (const engine of engines) {
      using rt = new Runtime();
      const marks: unknown[] = [];
      using ctx = rt.createContext(engine, { thread, limits: { timeoutMs: 50 } });
      rt.register("slow", () => {
        const t = performance.now();
        while (performance.now() - t < 80);
      });
      rt.register("mark", (n) => void marks.push(n));
      assert.throws(() => ctx.eval(stopSources[engine].slow), (e: unknown) => e instanceof CalogLimitError && e.limit === "timeout", engine);
      assert.deepEqual(marks, [], `${engine}: host calls after the timeout`);
    }
  });

  test(`interrupt() during a call into another context (${where(thread)}) stops the caller when the call returns`, () => {
    for (const engine of engines) {
      using rt = new Runtime();
      const marks: unknown[] = [];
      using ctx = rt.createContext(engine, { thread });
      using other = rt.createContext("lua", { thread });
      rt.register("mark", (n) => void marks.push(n));
      rt.register("stopCaller", () => void ctx.interrupt());
      other.eval("function f() stopCaller() return 1 end");
      using f = other.getFunction("f");
      const setter = engine === "lua" ? "function setF(g) f = g end" : engine === "js" ? "function setF(g) { f = g }" : "function setF(g) { ::f <- g }";
      ctx.eval(setter);
      ctx.call("setF", f);
      const src = engine === "lua" ? "f(); mark(1)" : engine === "js" ? "f(); mark(1);" : "f(); mark(1);";
      assert.throws(() => ctx.eval(src), (e: unknown) => e instanceof CalogLimitError && e.limit === "interrupt", engine);
      assert.deepEqual(marks, [], `${engine}: host calls after the interrupt`);
      assert.equal(other.call("f"), 1); // the other context was not stopped
    }
  });
}

// Wrong arguments to the public API were raw TypeErrors or silent defaults: `new Runtime(null)`,
// `createContext("lua", null)` and `eval(src, null)` threw "null is not an object"; `evalAsync(src, null)` threw
// instead of rejecting, and `{ signal: 5 }` rejected with a raw TypeError; `{ policy: "Lenient" }` ran strict,
// `{ thread: 0 }` and `{ threads: false }` made a threaded context; `eval(42)` and `unregister(5)` said "a getter or a
// Proxy trap threw"; `new fn()` called the script function and returned an empty object.
test("wrong arguments to the public API are CalogValueErrors, never raw errors or silent defaults", async () => {
  const argError = (f: () => unknown, what: string, message?: RegExp) =>
    assert.throws(f, (e: unknown) => e instanceof CalogValueError && e.code === "ERR_ARG" && (message === undefined || message.test(e.message)), what);
  const A = Runtime as unknown as new (o?: unknown) => Runtime;
  argError(() => new A(null), "new Runtime(null)");
  argError(() => new A("x"), "new Runtime('x')");
  argError(() => new A({ policy: "Lenient" }), "policy 'Lenient'", /policy/);
  argError(() => new A({ policy: 1 }), "policy 1", /policy/);
  argError(() => new A({ polcy: "lenient" }), "an unknown key", /polcy/);
  const thrown = new Error("getter");
  assert.throws(() => new A({ get limits() { throw thrown; } }), (e: unknown) => e instanceof CalogValueError && e.cause === thrown, "a throwing getter");
  assert.throws(() => new A({ limits: { get memory() { throw thrown; } } }), (e: unknown) => e instanceof CalogValueError && e.cause === thrown, "a throwing limit getter");
  using rt = new Runtime();
  const R = rt as unknown as Record<string, (...a: unknown[]) => unknown>;
  argError(() => R.createContext!("lua", null), "createContext(lua, null)");
  argError(() => R.createContext!(42), "createContext(42)", /engine/);
  argError(() => R.createContext!("lua", { thread: 0 }), "thread: 0", /thread/);
  argError(() => R.createContext!("lua", { thread: "no" }), "thread: 'no'", /thread/);
  argError(() => R.createContext!("lua", { threads: false }), "threads: false", /threads/);
  assert.equal(rt.stats().contexts, 0, "no context was made by a refused call");
  argError(() => R.unregister!(5), "unregister(5)", /name/);
  for (const thread of modes) {
    using ctx = rt.createContext("lua", { thread });
    const C = ctx as unknown as Record<string, (...a: unknown[]) => unknown>;
    for (const source of [42, undefined, null, { toString: () => "return 1" }]) argError(() => C.eval!(source), `eval(${String(source)})`, /source/);
    argError(() => C.eval!("return 1", null), "eval(src, null)");
    argError(() => C.eval!("return 1", 5), "eval(src, 5)");
    argError(() => C.eval!("return 1", { chunkname: "x" }), "eval(src, { chunkname })", /chunkname/);
    argError(() => C.eval!("return 1", { signal: new AbortController().signal }), "a signal to the synchronous eval", /signal/);
    const rejects = async (p: unknown, what: string, message?: RegExp) => {
      assert.ok(p instanceof Promise, `${what}: a Promise, not a throw`);
      await assert.rejects(p, (e: unknown) => e instanceof CalogValueError && e.code === "ERR_ARG" && (message === undefined || message.test(e.message)), what);
    };
    await rejects((() => { try { return C.evalAsync!("return 1", null); } catch (e) { return e; } })(), "evalAsync(src, null)");
    await rejects(C.evalAsync!(42), "evalAsync(42)", /source/);
    await rejects(C.evalAsync!("return 1", { signal: 5 }), "signal: 5", /AbortSignal/);
    await rejects(C.evalAsync!("return 1", { signal: { aborted: true, reason: 1 } }), "a signal-like object", /AbortSignal/);
    assert.equal(await ctx.evalAsync("return 1", { chunkName: "ok", timeoutMs: 1000, signal: new AbortController().signal }), 1);
    using f = ctx.eval("return function(x) return x end") as ScriptFunction;
    const F = f as unknown as new (x: number) => unknown;
    argError(() => new F(1), "new on a script function", /constructor/);
    assert.equal(f(7), 7);
  }
});

// A `then` getter (or a Proxy's get trap) that throws while calog reads a host function's result was taken for the
// host function's own exception: the script error's cause was the raw exception, where every other getter of the
// result gives a CalogValueError whose cause is the exception (README, errors).
for (const thread of modes) {
  test(`a host function's result whose 'then' throws is a CalogValueError (${where(thread)})`, () => {
    for (const engine of engines) {
      using rt = new Runtime();
      const trap = new Error("trap");
      rt.register("thenGetter", () => ({ get then() { throw trap; } }));
      rt.register("proxy", () => new Proxy({}, { get() { throw trap; } }));
      using ctx = rt.createContext(engine, { thread });
      for (const name of ["thenGetter", "proxy"]) {
        const e = caught(() => ctx.eval(engine === "js" ? `${name}()` : `return ${name}()`));
        assert.ok(e instanceof CalogScriptError, `${engine} ${name}: ${e}`);
        assert.ok(e.cause instanceof CalogValueError, `${engine} ${name}: the cause is a CalogValueError (${String(e.cause)})`);
        assert.equal((e.cause as Error).cause, trap, `${engine} ${name}: whose cause is the exception`);
      }
    }
  });
}

// A Uint8Array, ArrayBuffer or (lenient) DataView whose buffer was detached could not be copied: the TypeError was
// reported as "reading a value to pass threw (a getter or a Proxy trap)".
test("a view of a detached or shrunk ArrayBuffer is a CalogValueError that says so, in either policy", () => {
  for (const policy of ["strict", "lenient"] as const) {
    using rt = new Runtime({ policy });
    using lua = rt.createContext("lua", { thread: false });
    lua.eval("function id(x) return x end");
    const detach = (b: ArrayBuffer) => void (b as unknown as { transfer(): ArrayBuffer }).transfer();
    const cases: [string, () => unknown][] = [
      ["a Uint8Array", () => { const b = new ArrayBuffer(4); const u = new Uint8Array(b); detach(b); return u; }],
      ["a subarray", () => { const b = new ArrayBuffer(8); const u = new Uint8Array(b).subarray(2, 6); detach(b); return u; }],
      ["an ArrayBuffer", () => { const b = new ArrayBuffer(4); detach(b); return b; }],
      ["a shrunk resizable buffer", () => {
        const b = new (ArrayBuffer as unknown as new (n: number, o: object) => ArrayBuffer & { resize(n: number): void })(8, { maxByteLength: 8 });
        const u = new Uint8Array(b, 4, 4);
        b.resize(2);
        return u;
      }],
    ];
    if (policy === "lenient") cases.push(["a DataView", () => { const b = new ArrayBuffer(4); const d = new DataView(b); detach(b); return d; }]);
    for (const [what, make] of cases) {
      const e = caught(() => lua.call("id", make()));
      assert.ok(e instanceof CalogValueError && /detached/.test(e.message) && !/getter or a Proxy trap/.test(e.message), `${policy}, ${what}: ${e}`);
    }
    // still fine: a live view, a length-tracking view of a grown buffer, an empty view
    assert.deepEqual(lua.call("id", new Uint8Array([255, 1]).subarray(0, 1)), new Uint8Array([255]));
    assert.equal(lua.call("id", new Uint8Array(0)), "");
  }
});

// The JavaScript stack running out while a value was read was reported as "a getter or a Proxy trap threw" (last
// note's low): it says so now, still a CalogValueError whose cause is the RangeError.
test("running out of JavaScript stack while reading a value says so", async () => {
  using rt = new Runtime();
  using lua = rt.createContext("lua", { thread: false });
  lua.eval("function id(x) return x end");
  const recursing = { get x(): unknown { return (this as { x: unknown }).x; } };
  const check = (e: unknown) => {
    assert.ok(e instanceof CalogValueError, String(e));
    assert.ok(e.cause instanceof RangeError, String(e.cause));
    assert.match(e.message, /^reading a value to pass ran out of JavaScript stack \(/);
    return true;
  };
  assert.throws(() => lua.call("id", recursing), check);
  await assert.rejects(lua.callAsync("id", recursing), check);
  // a getter's own RangeError is still the getter's
  const other = { get x(): unknown { throw new RangeError("bad index"); } };
  assert.throws(() => lua.call("id", other), (e) => e instanceof CalogValueError && /threw \(a getter or a Proxy trap\): RangeError: bad index/.test(e.message));
  assert.equal(lua.call("id", 5), 5);
});

// A thrown function's message was its engine's toString ("function () { [ecmascript code] }" in JavaScript,
// "(error object is a native function value)" for a Squirrel native), where Lua said "lua threw [function]".
test("a thrown function is named the same way in every engine", () => {
  using rt = new Runtime();
  rt.register("hostf", () => 1);
  const cases = {
    lua: ["error(print)", "error(function() end)", "error(hostf)"],
    js: ["throw print", "throw function foo(a, b) { return a }", "throw Math.max", "throw hostf", "throw (function(){}).bind(null)"],
    squirrel: ["throw print", "throw function() {}", "throw hostf"],
  };
  for (const engine of engines) {
    using ctx = rt.createContext(engine, { thread: false });
    for (const src of cases[engine]) {
      const e = caught(() => ctx.eval(src));
      assert.ok(e instanceof CalogScriptError, `${engine} ${src}`);
      assert.equal(e.message, `${engine} threw [function]`, `${engine} ${src}`);
      assert.equal(typeof e.value, "function", `${engine} ${src}: the value is the function`);
    }
  }
});

// Noticed by this pass: an instance of a subclass of Array or Map crossed under strict as a plain list or map, its
// class gone, where the README refuses class instances. Strict now refuses it (lenient sends its items or entries);
// Uint8Array subclasses (Buffer) stay bytes.
class Path extends Array<number> {}
class Registry extends Map<string, number> {}
for (const thread of modes) {
  test(`an Array or Map subclass instance is a class instance under strict (${where(thread)})`, () => {
    for (const engine of engines) {
      using rt = new Runtime();
      using ctx = rt.createContext(engine, { thread });
      ctx.eval(engine === "lua" ? "function id(x) return x end" : engine === "js" ? "function id(x) { return x }" : "function id(x) { return x }");
      const path = Path.from([1, 2, 3]);
      const reg = new Registry([["a", 1]]);
      for (const [v, kind] of [[path, "Array"], [reg, "Map"]] as const) {
        const e = caught(() => ctx.call("id", v));
        assert.ok(e instanceof CalogValueError && e.code === "ERR_TYPE", `${engine}: ${e}`);
        assert.match(e.message, new RegExp(`a (Path|Registry) \\(a subclass of ${kind}\\)`));
      }
      // the plain forms still cross, and lenient sends the items / entries
      assert.deepEqual(ctx.call("id", [1, 2, 3]), [1, 2, 3]);
      using lenient = new Runtime({ policy: "lenient" });
      using lctx = lenient.createContext(engine, { thread });
      lctx.eval(engine === "lua" ? "function id(x) return x end" : "function id(x) { return x }");
      assert.deepEqual(lctx.call("id", path), [1, 2, 3], engine);
      assert.deepEqual(lctx.call("id", reg), { a: 1 }, engine);
    }
  });
}

// Noticed by this pass: a Squirrel table's single -0.0 key arrived in TypeScript as the Map key 0 (a Map folds -0
// into 0) under strict. Strict refuses it; lenient sends 0.
test("a Squirrel -0.0 key is ERR_TYPE under strict, 0 under lenient", () => {
  for (const policy of ["strict", "lenient"] as const) {
    using rt = new Runtime({ policy });
    using ctx = rt.createContext("squirrel");
    const src = "local t = {}; t[-0.0] <- \"z\"; t[2] <- \"two\"; return t";
    if (policy === "strict") {
      const e = caught(() => ctx.eval(src));
      assert.ok(e instanceof CalogValueError && e.code === "ERR_TYPE" && /-0\.0/.test(e.message), String(e));
      // a key 0.0 alone and a value -0.0 still cross
      assert.deepEqual(ctx.eval("local t = {}; t[0.0] <- 1; t[2] <- 2; return t"), new Map([[0, 1], [2, 2]]));
      assert.ok(Object.is(ctx.eval("return -0.0"), -0));
    } else {
      assert.deepEqual(ctx.eval(src), new Map<number, string>([[0, "z"], [2, "two"]]));
    }
  }
});
