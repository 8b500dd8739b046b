// Pass 64a (hostile review of 0023120: areas 3 and 4 with JavaScript (Duktape) and TypeScript values, and the two
// recent changes c6528a2 (calogHostOutDone) and 94947cf (an error the codec refuses)). Each test fails on 0023120
// because of the defect it names, in Bun and Deno.
import assert from "node:assert/strict";
import { Runtime, type ScriptFunction } from "../bindings/mod.ts";
import { caught, gc, modes, test, where } from "./harness.ts";

const said = (f: () => unknown): string => {
  try {
    return `returned ${String(f())}`;
  } catch (e) {
    return `${(e as Error).constructor.name}: ${(e as Error).message}`;
  }
};

// Finding 1. Low (a function a context holds, alive there, arrives dead in TypeScript; disposing what getFunction gave
// kills another handle). A ScriptFunction `o` of runtime B passed to a context of runtime A is lent to A (README: "a
// script function of another Runtime is one there", a host function of A), and since pass 58b A's copy outlives
// `o.dispose()`: A's script still calls it. But whenever A hands that copy back to TypeScript (a result, `ctx.get`,
// `ctx.getFunction`, a host function's argument, a thrown value's field, a `callAsync` result), what arrives is the
// user's handle `o` itself:
//  (a) after `o.dispose()`, the copy A's script calls fine (`js.eval("K(1)")` gives 3) arrives as a dead function:
//      each call throws CalogDisposedError "script function was disposed", and `a.getFunction("K")` returns a
//      ScriptFunction already `disposed`; a host function given it by the script (a callback registry, the usual
//      `rt.register("on", (cb) => ...)`) cannot call it. Within one runtime the same steps give a fresh live handle.
//  (b) `using g = a.getFunction("K")` returns `o` itself (within one runtime a fresh handle, `g !== sf`), so the
//      end of the `using` block disposes the user's own `o`, a handle they never disposed.
// README: "A script function you pass to a script is that script's own copy, in a context of another Runtime too:
// your f.dispose() releases your handle, not the copy a context holds"; "Only an explicit dispose() ... kills a
// context's functions: ... a reachable function never dies early"; getFunction "a function comes back as a callable
// ScriptFunction". Cause: src/runtime.ts `Core.hostFn` returns the lent entry's `e.fn` (the user's ScriptFunction of
// B: a TypeScript function there, and the value table says a TypeScript function comes back as "the same function")
// whatever its `live` state, and `getFunction` returns it as is. Fix: for a lent entry (`e.call` set), return a fresh handle of B's function (a new wrap in B
// sharing the lend, disposable on its own) when `e.fn` is disposed, and have getFunction always return a handle of
// its own (as it does within one runtime); or document that another runtime's function comes back as the very
// handle you passed, dead if you disposed it.
for (const thread of modes) {
  test(`finding 1 (${where(thread)}): another runtime's function held by a context comes back alive and as its own handle`, async () => {
    using rtA = new Runtime({ output: "ignore" });
    using rtB = new Runtime({ output: "ignore" });
    using a = rtA.createContext("js", { thread });
    using b = rtB.createContext("lua", { thread });
    let handed: unknown;
    rtA.register("hand", (f) => {
      handed = f;
      return 0;
    });
    a.eval("function keep(f) { K = f } function get() { return K } function give() { return hand(K) } function thr() { throw { f: K } }");
    b.eval("function f(x) return x + 2 end");
    const wrong: string[] = [];
    // (b) disposing what getFunction returned leaves the user's own handle alive (as within one runtime)
    const o2 = b.getFunction("f");
    a.call("keep", o2);
    {
      using g = a.getFunction("K");
      assert.equal(g(1), 3);
    }
    if (o2.disposed) wrong.push("(b) the end of `using g = a.getFunction('K')` disposed the user's own handle of B's function");
    // (a) the copy A holds after o.dispose() is alive in A, and alive when A hands it back
    const o = b.getFunction("f");
    a.call("keep", o);
    o.dispose();
    assert.equal(a.eval("K(1)"), 3, "A's copy is alive in A (pass 58b)");
    a.call("give");
    const results: Record<string, string> = {
      result: said(() => (a.call("get") as (x: number) => unknown)(1)),
      get: said(() => (a.get("K") as (x: number) => unknown)(1)),
      getFunction: said(() => a.getFunction("K")(1)),
      "host function argument": said(() => (handed as (x: number) => unknown)(1)),
      "thrown value": said(() => ((caught(() => a.call("thr")) as { value?: { f: (x: number) => unknown } }).value!.f)(1)),
    };
    const viaAsync = (await a.callAsync("get")) as (x: number) => unknown;
    results.callAsync = said(() => viaAsync(1));
    for (const [how, what] of Object.entries(results)) {
      if (what !== "returned 3") wrong.push(`(a) A's live copy handed to TypeScript as a ${how}: ${what}`);
    }
    assert.deepEqual(wrong, []);
  });
}

// Finding 2. Low (an unclear error: a raw TypeError; an API contract broken). `ctx.getFunction(name)` for a global that
// holds a TypeScript function (one passed to the script as a value, `ctx.call("keep", h)`) returns that bare function
// `h`, typed `ScriptFunction` but without `dispose`, `[Symbol.dispose]`, `disposed` or `callAsync`: the README's own
// idiom `using f = ctx.getFunction(name)` throws a raw TypeError ("@@dispose must not be undefined or null" in Bun,
// "Symbol(Symbol.dispose) is not a function" in Deno) after the call succeeded, and `f.callAsync()` is "not a
// function". README: "ctx.getFunction(name) | reads a global; a function comes back as a callable ScriptFunction";
// "Every handle (Runtime, Context, script functions) is disposable with using or dispose()"; "never a raw TypeError".
// (`ctx.get` giving `h` itself is the value table's "function -> the same function"; getFunction promises more.)
// Cause: src/runtime.ts `Context.getFunction` returns whatever `get` decoded when `typeof v === "function"`, and a
// HOSTFN decodes to the host function itself (`Core.hostFn`). Fix: for a value that is no ScriptFunction, return a
// ScriptFunction-shaped wrapper (dispose a no-op or releasing a reference taken for it, callAsync calling it through
// the context's call path, or a Promise of its result), or refuse with a CalogValueError that says the global holds
// a TypeScript function (use ctx.get), or document it.
for (const thread of modes) {
  test(`finding 2 (${where(thread)}): getFunction of a global holding a TypeScript function gives a ScriptFunction`, async () => {
    using rt = new Runtime({ output: "ignore" });
    for (const engine of ["lua", "js", "squirrel"] as const) {
      using c = rt.createContext(engine, { thread });
      c.eval(engine === "lua" ? "function keep(f) K = f end" : engine === "js" ? "function keep(f) { K = f }" : "function keep(f) { ::K <- f }");
      c.call("keep", (x: unknown) => `h${x}`);
      let r: string;
      try {
        using f = c.getFunction("K");
        r = `${f(1)} ${typeof f.dispose} ${typeof f.callAsync} ${typeof f.disposed}`;
        r += ` ${await f.callAsync(2)}`;
      } catch (e) {
        r = `${(e as Error).constructor.name}: ${(e as Error).message}`;
      }
      assert.equal(r, "h1 function function boolean h2", `${engine}: using f = getFunction("K") of a TypeScript function`);
    }
  });
}

// Finding 3. Low (an unclear error: the engine that threw is no longer named). A thrown value that cannot cross into the
// engine that receives it reads "<engine> threw a value that cannot cross into <engine>: <reason>" (README: "a value
// that cannot cross is named with the reason"; hostile20b pins "squirrel threw a value that cannot cross into lua:
// ..." for the direct chain). When the value passed through a TypeScript host function on the way (a host function
// that calls a script function and lets its CalogScriptError go: README, "Thrown values cross engines as values ...
// a host function between them too"), the same refusal reads "a script threw a value that cannot cross into lua: ...",
// naming no engine, though the CalogScriptError the host function let go says which engine threw (`e.engine`), and the
// same chain without the host function names it. Seen with a Squirrel `throw { a = null, code = 1 }` and a JavaScript
// `throw { a: undefined, code: 1 }` reaching Lua (a table cannot hold nil), and a Squirrel `throw { [true] = 1 }`
// reaching JavaScript (a bool key). Cause: src/runtime.ts `writeHostErrorIn` sends [message, id, carried value,
// placeholder] and no engine, so c/src/value.c `calog__errorValueRefused` finds no "engine" field and falls back to
// "a script". Fix: send the CalogScriptError's `engine` with the carried value (a fifth item, or a field the library
// sets on the error record), so the refusal names the engine as it does without the host function between.
for (const thread of modes) {
  test(`finding 3 (${where(thread)}): a carried value refused by the receiving engine names the engine that threw it`, () => {
    using rt = new Runtime({ output: "ignore" });
    using js = rt.createContext("js", { thread });
    using lua = rt.createContext("lua", { thread });
    using sq = rt.createContext("squirrel", { thread });
    js.eval("function T() { throw { a: undefined, code: 1 } } function via(f) { return f() }");
    sq.eval("function T() { throw { a = null, code = 1 } } function B() { throw { [true] = 1 } } function via(f) { return f() }");
    lua.eval("function via(f) return f() end");
    const jsT = js.getFunction("T"), sqT = sq.getFunction("T"), sqB = sq.getFunction("B");
    rt.register("relaySq", () => sqT());
    rt.register("relayJs", () => jsT());
    rt.register("relayB", () => sqB());
    const first = (f: () => unknown): string => String(caught(f).message).split("\n")[0] ?? "";
    // without a host function between, the refusal names the engine (as hostile20b pins)
    assert.match(first(() => lua.call("via", sqT)), /^squirrel threw a value that cannot cross into lua: a Lua table cannot hold nil/);
    assert.match(first(() => js.call("via", sqB)), /^squirrel threw a value that cannot cross into js: a bool map key/);
    const got = {
      "squirrel -> host function -> lua": first(() => lua.eval("return relaySq()")),
      "js -> host function -> lua": first(() => lua.eval("return relayJs()")),
      "squirrel -> host function -> js": first(() => js.eval("relayB()")),
    };
    assert.match(got["squirrel -> host function -> lua"], /^squirrel threw a value that cannot cross into lua: /, JSON.stringify(got));
    assert.match(got["js -> host function -> lua"], /^js threw a value that cannot cross into lua: /, JSON.stringify(got));
    assert.match(got["squirrel -> host function -> js"], /^squirrel threw a value that cannot cross into js: /, JSON.stringify(got));
  });
}

// Finding 4. Medium (a silent change under strict, and a leak). A Proxy of an array whose `length` trap answers a
// number that is no array length (1.5, 0.5, -0.5, 1e-9; -1 gives "malformed wire data") desyncs the value encoded
// into IN: `src/wire.ts` `Wire.value` reads `const n = v.length` once ("a getter or Proxy that changes it must not
// desync what follows"), writes the LIST header with `setUint32(n)` (1.5 -> 1, -1 -> 4294967295) but writes
// `for (i = 0; i < n; i++)` items (2 for 1.5), so the library frames the rest of the value differently. Strict lets it
// through when the Proxy's keys fit the length (`new Proxy(["a"], { get: (t, k) => k === "length" ? 1.5 : ... })`:
// Object.keys says "0", so `checkNamedKeys` passes). Seen:
//  - `js.call("id", ["head", P, "tail", { k: "v" }])` returns `["head", ["a"], null, "tail"]`: a null inserted, the
//    sibling `{ k: "v" }` gone, under strict (a Lua receiver says "item 3 of a list would be lost", about an item the
//    caller never sent); lenient the same. The same value returned by a host function reaches the script so.
//  - `js.call("args", P, "second", 3)`: the script receives `[["a"], null, "second"]`, its third argument lost.
//  - in a map: `{ a: P2, b: 2, c: 3 }` (P2 a Proxy of ["x", "y"] with length 1.5 and ownKeys ["0", "length"]) arrives
//    under strict as `{ a: ["x"], y: "b", "2": "c" }`: an item became a key, a key a value.
//  - a host function passed after such a Proxy (`js.call("args", P, h)`) is never read by the library, so the
//    reference taken for it is never given back: `rt.stats().hostFunctions` grows by one per call and `h` with its
//    closure stays for the runtime's life.
// README: strict is exact or a CalogValueError; a Proxy's trap is read like a getter ("A getter or a Proxy trap that
// throws while calog reads a value ... nothing of the half-read value is sent or kept"); Proxies of arrays cross today.
// Fix: read the length as JavaScript's LengthOfArrayLike does (ToLength: an integer in [0, 2^53 - 1]) and write that
// same count as the header and the loop bound; under strict, refuse a length that is no array index count (a Proxy
// that lies) with a CalogValueError naming it. Both thread modes, both policies behave the same.
for (const thread of modes) {
  test(`finding 4 (${where(thread)}): a Proxy of an array with a non-integral length neither desyncs the value nor leaks`, async () => {
    using rt = new Runtime({ output: "ignore" });
    using js = rt.createContext("js", { thread });
    js.eval("function id(x) { return x } function args() { return Array.prototype.slice.call(arguments) }");
    const lying = () => new Proxy(["a"], { get: (t, k) => (k === "length" ? 1.5 : Reflect.get(t, k)) });
    const outcome = (f: () => unknown): unknown => {
      try {
        return f();
      } catch (e) {
        return (e as Error).constructor.name; // a CalogValueError refusing the Proxy is a fix too
      }
    };
    const wrong: string[] = [];
    const v = outcome(() => js.call("id", ["head", lying(), "tail", { k: "v" }]));
    if (v !== "CalogValueError" && JSON.stringify(v) !== JSON.stringify(["head", ["a"], "tail", { k: "v" }])) {
      wrong.push(`["head", P, "tail", { k: "v" }] arrived as ${JSON.stringify(v)}`);
    }
    const a = outcome(() => js.call("args", lying(), "second", 3));
    if (a !== "CalogValueError" && JSON.stringify(a) !== JSON.stringify([["a"], "second", 3])) {
      wrong.push(`the arguments (P, "second", 3) arrived as ${JSON.stringify(a)}`);
    }
    const base = rt.stats().hostFunctions;
    for (let i = 0; i < 5; i++) outcome(() => js.call("args", lying(), () => i));
    for (let i = 0; i < 5; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
      js.eval("Duktape.gc()");
    }
    const left = rt.stats().hostFunctions - base;
    if (left !== 0) wrong.push(`${left} of 5 host functions passed after P were never given back (rt.stats().hostFunctions)`);
    assert.deepEqual(wrong, []);
  });
}

// Finding 4, the rule fixed (README, "a `Proxy` of an `Array` whose `length` is no array length"): strict refuses it
// naming the length, lenient takes the whole part of a numeric length (0 when negative or no number), and either way
// the value after it arrives whole.
test("finding 4: a lying length is refused under strict and read as a whole length under lenient", () => {
  const withLength = (len: unknown, items: unknown[]) =>
    new Proxy(items, { get: (t, k) => (k === "length" ? len : Reflect.get(t, k)) });
  {
    using rt = new Runtime({ output: "ignore" });
    using js = rt.createContext("js");
    js.eval("function id(x) { return x }");
    for (const [len, shown] of [[1.5, "1.5"], [-1, "-1"], ["1", '"1"'], [2 ** 32, "4294967296"], [{}, "an object"]] as const) {
      const e = caught(() => js.call("id", [withLength(len, ["a"]), "after"]));
      assert.equal(e.constructor.name, "CalogValueError");
      assert.ok(e.message.startsWith(`an array whose length is ${shown} (a Proxy's length trap) cannot cross into a script`), e.message);
    }
  }
  using rt = new Runtime({ output: "ignore", policy: "lenient" });
  using js = rt.createContext("js");
  js.eval("function id(x) { return x }");
  assert.deepEqual(js.call("id", [withLength(1.5, ["a", "b"]), "after"]), [["a"], "after"]);
  assert.deepEqual(js.call("id", [withLength(-1, ["a"]), "after"]), [[], "after"]);
  assert.deepEqual(js.call("id", [withLength("2", ["a", "b", "c"]), "after"]), [["a", "b"], "after"]);
  assert.deepEqual(js.call("id", [withLength(Symbol("n"), ["a"]), "after"]), [[], "after"]);
});

// Finding 1, the handles that fix it: a handle of its own shares the other runtime's function with the copy a context
// holds and the user's handle; the function's native reference goes with the last of them (disposed, collected or
// given back by the context), not before (a shared handle collected by GC took it from the others) nor never.
test("finding 1: handles sharing another runtime's function release it with the last of them", async () => {
  using rtA = new Runtime({ output: "ignore" });
  using rtB = new Runtime({ output: "ignore" });
  using a = rtA.createContext("js");
  using b = rtB.createContext("lua");
  a.eval("function keep(f) { K = f } function drop() { K = undefined; Duktape.gc() }");
  b.eval("function f(x) return x + 2 end");
  const settle = async () => {
    for (let i = 0; i < 4; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  await settle();
  const base = rtB.stats().nativeFunctionValues;
  const o = b.getFunction("f");
  a.call("keep", o);
  const g = a.getFunction("K");
  assert.notEqual(g, o, "getFunction gives a handle of its own");
  o.dispose();
  assert.equal(g(1), 3);
  let h: ScriptFunction | undefined = a.getFunction("K");
  assert.equal(h(2), 4);
  h = undefined; // collected, never disposed
  await settle();
  assert.equal(a.eval("K(1)"), 3, "A's copy outlives a collected handle");
  assert.equal(g(1), 3, "and so does another handle");
  g.dispose();
  assert.equal(a.eval("K(1)"), 3, "A's copy outlives every handle");
  // (process-wide: B's function, and the host function A's context holds for the copy)
  assert.equal(rtB.stats().nativeFunctionValues, base + 2, "B's function alive while A holds the copy");
  a.call("drop");
  for (let i = 0; i < 50 && rtB.stats().nativeFunctionValues > base; i++) await settle();
  assert.equal(rtB.stats().nativeFunctionValues, base, "released with the last user");
});

// Finding 2, the handle's name: a message naming a host function by its name (an async one called where the script
// cannot wait) said 'f', the wrapper's own name, for a getFunction handle passed back into a script.
test("finding 2: getFunction's handle of a TypeScript function has that function's name", () => {
  using rt = new Runtime({ output: "ignore" });
  using c = rt.createContext("lua");
  const myCallback = (x: unknown): unknown => x;
  c.eval("function keep(f) K = f end");
  c.call("keep", myCallback);
  using f = c.getFunction("K");
  assert.equal(f.name, "myCallback");
  // a registered name is a function value of the runtime's own: a ScriptFunction, which has no name of its own
  rt.register("registered", myCallback);
  using g = c.getFunction("registered");
  assert.equal(g.name, "");
  assert.equal(g(5), 5);
});
