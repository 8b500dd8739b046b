// Pass 34b: the final hostile pass over the hardening issue's areas (function values outliving their context, thrown
// values, Promises of host functions, the README's examples), in both runtimes, every engine, both thread kinds.
// Every test is one attack that found a defect: each fails on the code it was written against (a6a090a), in Bun and
// Deno.
// Fixed in the commit after a6a090a. Where a rule was chosen instead of a change (a view's named properties from
// TypeScript, a NaN's sign under Bun, a registered global as a binding by name), the README states it and the test
// pins the documented rule.
import assert from "node:assert/strict";
import { CalogDisposedError, CalogScriptError, CalogValueError, type EngineName, Runtime } from "../bindings/mod.ts";
import { caught, modes, test, where, within } from "./harness.ts";

const engines: EngineName[] = ["lua", "js", "squirrel"];

// Low (a wrong error: the call's failure is dressed as another context's script error). README (What an error
// carries): "A getter or a Proxy trap that throws while calog reads a value you pass (an argument, or what your
// function returns to a script) gives a CalogValueError whose cause is that exception; nothing of the half-read value
// is sent or kept." A getter whose exception is itself a calog error (it evaluated something in another runtime, or
// called a ScriptFunction that was disposed) is passed on as it is: `lua.call("id", { get x() { return
// other.eval("throw 'boom'") } })` throws a CalogScriptError with `engine` "squirrel" and no cause (the Lua script
// never ran), and a getter calling a disposed ScriptFunction makes `lua.call` throw CalogDisposedError "script
// function was disposed", as if the call's own target were gone. A host function's result read the same way reaches
// the script's error with that foreign error as its cause, where any other getter's exception gives the
// CalogValueError "reading a value to pass threw...".
// Cause: src/runtime.ts:282, marshalFailure: `if (e instanceof CalogError) return e;` (meant for the encoder's own
// errors: ERR_TYPE, ERR_DEPTH, ERR_CYCLE, the re-entrancy refusal) also passes on a CalogError a getter threw.
// Fix: tell the encoder's own errors apart (a private mark set where wire.ts throws them, or catch around the user
// code the encoder runs: the getter / trap reads) and wrap any other exception, a CalogError included, in the
// CalogValueError with it as the cause.
for (const thread of modes) {
  test(`(${where(thread)}) a getter that throws a calog error of another runtime gives a CalogValueError with it as cause`, async () => {
    using rt = new Runtime({ output: "ignore" });
    using other = new Runtime({ output: "ignore" });
    using sq = other.createContext("squirrel", { thread: false });
    using lua = rt.createContext("lua", { thread });
    lua.eval("function id(x) return x end");
    const bad = { get x(): unknown { return sq.eval(`throw "from another runtime"`); } };
    const e = caught(() => lua.call("id", bad));
    assert.ok(e instanceof CalogValueError, `a ${e.constructor.name} (${(e as CalogScriptError).engine}): ${e.message}`);
    assert.ok(e.cause instanceof CalogScriptError && e.cause.message === "from another runtime");
    await assert.rejects(lua.callAsync("id", bad), (x) => x instanceof CalogValueError && x.cause instanceof CalogScriptError);
    const f = sq.eval("return function() { return 1 }") as unknown as (() => number) & { dispose(): void };
    f.dispose();
    const stale = { get x(): unknown { return f(); } };
    const d = caught(() => lua.call("id", stale));
    assert.ok(d instanceof CalogValueError, `a ${d.constructor.name}: ${d.message}`);
    assert.ok(d.cause instanceof CalogDisposedError);
    // what a host function returns, read the same way: the script's error carries the CalogValueError
    rt.register("ret", () => bad);
    const r = caught(() => lua.eval("return ret()"));
    assert.ok(r instanceof CalogScriptError);
    assert.ok(r.cause instanceof CalogValueError, `the cause is a ${(r.cause as Error)?.constructor.name}`);
    assert.equal(lua.call("id", 5), 5);
  });
}

// Low (a function value is not a function in Lua: the standard library refuses it). README: "a function exported by
// one engine is callable from another"; Value mapping: a function crosses as a function value, "callable (calls back
// into TypeScript)" in Lua, "callable" in JavaScript and Squirrel. In JavaScript and Squirrel a function value is a
// function (`typeof f` is "function"; `[3, 1, 2].sort(f)` and `a.sort(f)` take a TypeScript comparator). In Lua it is
// a full userdata with a __call metamethod: `type(f)` is "userdata", and every library function that checks for a
// function refuses it, so a comparator, a replacement or a coroutine body handed over from TypeScript or another engine
// fails: `table.sort(t, f)` "bad argument #2 to 'sort' (function expected, got calog.function)", `string.gsub(s, p, f)`
// "(string/function/table expected, got calog.function)", `coroutine.wrap(f)` / `coroutine.create(f)`, `load(f)`.
// A registered host function (a global) is a real function (`type(hf)` is "function"); only values are not.
// Cause: c/src/engines/lua/lua_adapter.c:202 pushFn / 601 calog__luaOpenFnMeta: a function value is pushed as a
// userdata box whose metatable has __call, __gc, __tostring.
// Fix: push a C closure (fnCall as its function) whose one upvalue is the box (its __gc releases the value, as now);
// ingress and the debug guards recognise it by lua_tocfunction == fnCall, so a value still comes home as itself.
for (const thread of modes) {
  test(`lua (${where(thread)}): a function value from TypeScript or another engine is a Lua function (type, table.sort, gsub, coroutine.wrap)`, () => {
    using rt = new Runtime();
    using lua = rt.createContext("lua", { thread });
    using js = rt.createContext("js", { thread });
    lua.eval(`
      function kind(f) return type(f) end
      function sorted(f) local t = { 3, 1, 2 } table.sort(t, f) return t end
      function upper(f) return (string.gsub("abc", "%w", f)) end
      function wrapped(f) return coroutine.wrap(f)() end`);
    const jsLess = js.eval("(function (a, b) { return a < b; })");
    assert.equal(lua.call("kind", (x: number) => x), "function");
    assert.equal(lua.call("kind", jsLess), "function");
    assert.deepEqual(lua.call("sorted", (a: number, b: number) => a < b), [1, 2, 3]);
    assert.deepEqual(lua.call("sorted", jsLess), [1, 2, 3]);
    assert.equal(lua.call("upper", (c: string) => c.toUpperCase()), "ABC");
    assert.equal(lua.call("wrapped", () => 5), 5);
  });
}

// Medium (a lost result: the script waits for good). README (Async host functions): "A function given to rt.register
// may return a Promise (or any thenable). A script on a threaded context that calls it waits for it like for any call
// ... and the script gets the value, or a script error with the rejection's message". A host function that returns a
// Promise whose `then` runs its callback at once (a Promise given an own `then`, as a synchronous-thenable or
// instrumentation library does; or one calling it twice) has its outcome dropped: the script waits until its
// timeoutMs (3 s here: CalogLimitError "timeout") or, without one, for ever, and `await ctx.evalAsync(...)` with it.
// The same value from a plain-object thenable (`{ then(f) { f(42) } }`) arrives: Promise.resolve of a non-Promise
// defers its `then` to a job.
// Cause: src/runtime.ts:976 Core.deferHost: `Promise.resolve(p).then(settle...)`. Promise.resolve returns a genuine
// Promise as it is, so its own `then` runs here, and calls settleHost before deferHost has returned HOST_DEFERRED to
// the library: hostSettle(token) finds no deferred call yet (stale, dropped), and IN, which the host call is still
// using, is rewritten.
// Fix: never settle inside the host call: `new Promise((resolve) => resolve(p)).then(...)` (resolving with a thenable
// always calls its `then` from a job), or queue the settlement when the callback runs before deferHost returned.
for (const engine of engines) {
  test(`${engine} (own thread): a host function's Promise whose then() settles at once gives its value to the script`, async () => {
    using rt = new Runtime({ output: "ignore" });
    const eager = (settle: (f: (v: unknown) => void, r: (e: unknown) => void) => void) => () => {
      const p = Promise.resolve(0);
      Object.defineProperty(p, "then", {
        value: function (this: Promise<unknown>, f: (v: unknown) => void, r: (e: unknown) => void) {
          settle(f, r);
          return this;
        },
      });
      return p;
    };
    rt.register("answer", eager((f) => f(42)));
    rt.register("refuse", eager((_, r) => r(new Error("refused at once"))));
    rt.register("twice", eager((f, r) => (f(1), f(2), r(3))));
    using ctx = rt.createContext(engine, { limits: { timeoutMs: 3000 } });
    const ret = (call: string) => (engine === "js" ? call : `return ${call}`);
    assert.equal(await within(ctx.evalAsync(ret("answer()")), 6000, "answer"), 42);
    await assert.rejects(within(ctx.evalAsync(ret("refuse()")), 6000, "refuse"), (e) => e instanceof CalogScriptError && e.message === "refused at once");
    assert.equal(await within(ctx.evalAsync(ret("twice()")), 6000, "twice"), 1);
  });
}

// Low (a raw TypeError where a CalogValueError is promised). README (API): "Every argument is checked before anything
// runs, and a wrong one is a CalogValueError (code "ERR_ARG"), never a raw TypeError or a silent default: ... a
// `signal` that is not an AbortSignal". An object that only inherits from AbortSignal.prototype
// (`Object.create(AbortSignal.prototype)`; under Bun also a Proxy of a real signal) passes the `instanceof
// AbortSignal` check, and the first read of its `aborted` rejects `evalAsync`, `callAsync` and `fn.callAsync` with the
// engine's raw TypeError ("Illegal invocation" under Deno, "The AbortSignal.aborted getter can only be used on
// instances of AbortSignal" under Bun).
// Cause: src/runtime.ts:222 (evalOptions) and :189 (takeCallOptions) test `instanceof AbortSignal`, a prototype walk;
// Core.submit (:654) then reads `signal.aborted`, whose getter checks the brand.
// Fix: a brand check where the signal is taken: read `aborted` through AbortSignal.prototype's getter inside a try
// (`Reflect.get(AbortSignal.prototype, "aborted", s)` throws for a non-signal) and refuse with the ERR_ARG error.
for (const thread of modes) {
  test(`lua (${where(thread)}): a signal that only inherits from AbortSignal.prototype is refused with a CalogValueError`, async () => {
    using rt = new Runtime();
    using lua = rt.createContext("lua", { thread });
    lua.eval("function f(...) return select('#', ...) end");
    using f = lua.getFunction("f");
    const fake = Object.create(AbortSignal.prototype) as AbortSignal;
    const refused = (e: unknown) => e instanceof CalogValueError && (e as CalogValueError).code === "ERR_ARG";
    await assert.rejects(lua.evalAsync("return 1", { signal: fake }), refused);
    await assert.rejects(lua.callAsync("f", 1, { signal: fake }), refused);
    await assert.rejects(f.callAsync(1, { signal: fake }), refused);
  });
}

// Low-medium (a thrown value silently becomes text on a hop through TypeScript). README (What an error carries):
// "Thrown values cross engines as values: a table or object thrown by a script in one engine and not caught there is
// raised in the calling engine as that value (`pcall` in Lua, `catch (e)` in JavaScript or Squirrel read `e.code`),
// and reaches you as `value` however many engines it went through." A script function called by a TypeScript host
// function (a helper registered to run a callback: `rt.register("viaHost", (g) => g())`) that throws `{ code = 1 }`
// reaches the script that called the host function as the text "lua threw { code: 1 }": JavaScript's `catch (e)`
// reads `e.code` undefined where calling the same function directly gives 1, and uncaught, `e.value` is that text
// (the table survives only as `e.cause.value`). The host function did not catch or change the error: it is the
// CalogScriptError calog raised itself, carrying the value.
// Cause: src/runtime.ts:944-950 (#hostCall's catch): any exception of a host function is sent as a host error of text
// (describeThrown + writeHostError), the `value` of a CalogScriptError calog raised included.
// Fix: when the exception is a CalogScriptError of this runtime with a `value` (and its message untouched), send that
// value with the message and the host-error id (as a direct hop carries it, calog__errorAttachValue), so the calling
// engine raises the value and the cause tag still names the exception.
for (const thread of modes) {
  test(`(${where(thread)}) a table a script function throws keeps its value through a host function that called it`, () => {
    using rt = new Runtime({ output: "ignore" });
    rt.register("viaHost", (g: unknown) => (g as () => unknown)());
    using lua = rt.createContext("lua", { thread });
    using js = rt.createContext("js", { thread });
    using thrower = lua.eval("return function() error({ code = 1 }) end") as unknown as (() => unknown) & Disposable;
    js.eval("var g0; function setG(g) { g0 = g; }");
    lua.eval("function setG(g) g0 = g end");
    js.call("setG", thrower);
    lua.call("setG", thrower);
    js.eval(`
      function direct(g) { try { g(); } catch (e) { return e.code; } }
      function hosted(g) { try { viaHost(g); } catch (e) { return e.code; } }
      function uncaught(g) { return viaHost(g); }`);
    assert.equal(js.call("direct", thrower), 1);
    assert.equal(js.call("hosted", thrower), 1, "the value became text on the hop through the host function");
    const e = caught(() => js.call("uncaught", thrower));
    assert.ok(e instanceof CalogScriptError);
    assert.deepEqual(e.value, { code: 1 });
    // the host function's exception (the CalogScriptError it let go) is still the cause, in every engine
    for (const via of [js, lua]) {
      const u = caught(() => via === js ? js.eval("viaHost(g0)") : lua.eval("return viaHost(g0)"));
      assert.ok(u instanceof CalogScriptError && u.cause instanceof CalogScriptError, `no host exception as the cause: ${u}`);
      assert.deepEqual(u.value, { code: 1 });
    }
  });
}

// Low (a function value follows a global's name: re-registering silently redirects it, unregistering kills it).
// README: `rt.register(name, fn)` sets "a TypeScript function as a native global in every context", and registering
// over a name "replaces that global"; Value mapping: a TypeScript function crosses as a function value and comes back
// as "the same function"; "Only an explicit dispose() (of the context or its runtime) kills a context's functions".
// A registered function a script reads as a value (`saved = hf`, or returned, or handed to another context) is not
// that function but a function of the reading context that calls whatever is registered under the name *now*: after
// `rt.register("hf", f2)` the saved value runs f2 (a script's stored callback silently changes behaviour), after
// `rt.unregister("hf")` every copy fails "native 'hf' is no longer registered" (in other contexts too, no dispose
// involved), and TypeScript reading it back gets a ScriptFunction, not `f1`.
// Cause: a registered global is a native entry looked up by name at each call (Lua: nativeTrampoline's upvalue, the
// CalogNativeEntryT; c/src/runtime.c:159-187 calog__nativeInvoke resolves e's current binding); reading it as a value
// exports that engine closure (lua_adapter.c ingressFunction), not the host function bound at the time.
// Fix: when a native trampoline is read as a value, export the binding it has now (the host function value, which
// comes home to TypeScript as itself), not the by-name closure; or document that registered globals are by name.
for (const thread of modes) {
  // The rule chosen (README, rt.register): a registered global is a binding by name, documented; a particular function
  // is handed out as a value. This test pins both, and that an unregistered name fails with a clear error.
  test(`lua (${where(thread)}): a registered function read as a value is the name's binding, as documented; a function passed as a value stays itself`, () => {
    using rt = new Runtime({ output: "ignore" });
    const f1 = () => "f1";
    rt.register("hf", f1);
    using lua = rt.createContext("lua", { thread });
    using other = rt.createContext("js", { thread });
    lua.eval("saved = hf function give() return hf end function use() return saved() end function keep(f) kept = f end function useKept() return kept() end");
    other.eval("var held; function keep(f) { held = f; } function use() { return held(); }");
    other.call("keep", lua.call("give"));
    lua.call("keep", f1); // the function itself, as a value
    rt.register("hf", () => "f2");
    assert.equal(lua.call("use"), "f2", "a copy of the global follows the name (README)");
    assert.equal(other.call("use"), "f2");
    assert.equal(lua.call("useKept"), "f1", "a function passed as a value stays that function");
    rt.unregister("hf");
    for (const call of [() => lua.call("use"), () => other.call("use")]) {
      const e = caught(call);
      assert.ok(e instanceof CalogScriptError && /native 'hf' is no longer registered/.test(e.message), `${e}`);
    }
    assert.equal(lua.call("useKept"), "f1");
  });
}

// Low (a thrown value replaced by a fixed text). README (What an error carries): "`CalogScriptError.value` is what the
// script threw ... `throw { code = 1 }` (Squirrel) ... give `{ code: 1 }`", and thrown values cross engines as values.
// A table, instance or any non-string a Squirrel sort comparator throws (or a value another engine's function threw
// into it) becomes the string "compare func failed": `e.value` is that text and the message says nothing of what was
// thrown, where Lua's `table.sort` and JavaScript's `Array.prototype.sort` pass the comparator's value on unchanged.
// A string thrown there passes (so a host function's error keeps its message and cause).
// Cause: .deps/src/squirrel/squirrel/sqbaselib.cpp:709 `_sort_compare`: `if(!sq_isstring(v->_lasterror))
// v->Raise_Error(_SC("compare func failed"));` (upstream), which replaces the error the comparator raised.
// Fix (an engine patch, as calog's other Squirrel patches): leave `_lasterror` as the comparator raised it (return false
// only), so the error propagates as it is.
for (const thread of modes) {
  test(`squirrel (${where(thread)}): a table thrown by a sort comparator reaches TypeScript as its value`, () => {
    using rt = new Runtime({ output: "ignore" });
    using sq = rt.createContext("squirrel", { thread });
    const e = caught(() => sq.eval("[3, 2, 1].sort(function(a, b) { throw { code = 1 }; })"));
    assert.ok(e instanceof CalogScriptError);
    assert.deepEqual(e.value, { code: 1 }, `the value is ${JSON.stringify(e.value)}`);
    assert.equal(sq.eval("try { [3, 2, 1].sort(function(a, b) { throw { code = 2 }; }); } catch (x) { return x.code; }"), 2);
  });
}
