// Pass 60a (hostile review: Lua and Squirrel under attack, then the LEND change of pass 58b). Each test fails on
// 463d336 because of the defect it names, in Bun and Deno.
import assert from "node:assert/strict";
import { CalogDeadError, CalogDisposedError, CalogNotFoundError, CalogScriptError, Runtime } from "../bindings/mod.ts";
import { caught, modes, test, where } from "./harness.ts";

const first = (e: unknown): string => (e instanceof Error ? e.message.split("\n")[0] ?? "" : String(e));

// Low (an unclear error; a regression of 7adf490, LEND). `rt.register(name, f)` accepts a ScriptFunction already
// disposed (of another runtime, or of the registering runtime itself), and every script call of the name then fails
// with "function was released" whose cause is a `CalogDeadError`: the README's class for "the context owning a function
// is gone", while the context is alive and nothing says that the user's own dispose() is the reason. Passing the same
// disposed handle as a value is refused at once ("a disposed script function cannot be passed to a script",
// `CalogDisposedError`), and before 7adf490 the call failed with "script function was disposed" (`CalogDisposedError`
// as the cause). Cause: src/runtime.ts `Runtime.register` calls `Core.hostRef(fn)` without `Core.handleOf(fn)`'s
// disposed check, and `hostRef` then takes a LEND of the handle (`wrap`'s `lend`), whose `lent` caller checks only
// the runtime (`core.native`, `keepAlive`), not `live`, so the call reaches the native side with the released slot.
// (`lend()` after the release also gives the slot back a second time at unregister: `giveBack` calls `release()`
// again; the generation check makes that harmless today.) Fix: in `register`, refuse a disposed handle as `handleOf`
// does (`CalogDisposedError`, "register(name, fn): a disposed script function cannot be registered"); or let `lend()`
// refuse once `!live && lends === 0` so `hostRef` throws there. The test accepts either a refusal at register or a
// call failing with a `CalogDisposedError` cause.
for (const thread of modes) {
  for (const which of ["another runtime", "its own runtime"] as const) {
    test(`register (${where(thread)}, ${which}): a disposed ScriptFunction is refused as disposed, not as a dead context`, () => {
      using a = new Runtime({ output: "ignore" });
      using b = new Runtime({ output: "ignore" });
      using la = a.createContext("lua", { thread });
      using lb = b.createContext("lua", { thread });
      la.eval(`function one() return "one" end`);
      const f = la.getFunction("one");
      f.dispose();
      const rt = which === "another runtime" ? b : a;
      const ctx = which === "another runtime" ? lb : la;
      let refused: unknown;
      try {
        rt.register("g", f);
      } catch (e) {
        refused = e;
      }
      if (refused !== undefined) {
        assert.ok(refused instanceof CalogDisposedError, `register refused with ${String(refused)}`);
        return;
      }
      const e = caught(() => ctx.eval("return g()"));
      assert.ok(e instanceof CalogScriptError, `a script call of a disposed registration: ${String(e)}`);
      assert.ok(!(e.cause instanceof CalogDeadError), `the context is alive, yet the cause is a CalogDeadError: "${e.message}"`);
      assert.ok(e.cause instanceof CalogDisposedError, `cause ${String(e.cause)}`);
      assert.match(e.message, /disposed/, `nothing says the function was disposed: "${e.message}"`);
      assert.equal(ctx.eval("return 1"), 1);
    });
  }
}

// Medium (the context made unusable for good, with an error at unrelated calls). A Lua script that guards its globals
// with a raising `__newindex` on `_G` (the common "frozen globals" idiom: `setmetatable(_G, { __newindex = function(t,
// k) error("globals are frozen: " .. k, 2) end })`) is bricked by any later `rt.register` of its runtime, whatever the
// name: every entry into that context then fails with the metamethod's error ("globals are frozen: log"), `ctx.call`
// of its own functions, `eval("return 1")`, an eval that tries to remove the metatable, and still after
// `rt.unregister`. Nothing says a registration is the reason. Without a `timeoutMs`, a `__newindex` that loops hangs
// every later call the same way. Squirrel (a `_newslot` that throws on the root table's delegate) and JavaScript
// (`Object.freeze(this)`) are not affected: the name is installed and the context goes on. The README: `rt.register`
// sets "a native global in every context of every engine, existing ones included" and "a registration sets a global
// name only". Cause: c/src/engines/lua/lua_engine.c `installer` uses `lua_setglobal`, which runs `_G`'s `__newindex`;
// its error makes c/src/runtime.c `syncNatives` fail without advancing `nativesSeen`, so `calog__ctxEnter` retries the
// same install, and fails, at every entry. Fix: install with a raw set on the globals table (`lua_pushglobaltable`,
// `lua_rawset`), as the Squirrel install already does; and/or count an install that failed as done, reporting its
// error once.
for (const thread of modes) {
  test(`lua (${where(thread)}): a script's raising __newindex on _G does not brick the context at rt.register`, () => {
    using rt = new Runtime({ output: "ignore" });
    using lua = rt.createContext("lua", { thread });
    lua.eval(`function f() return "f" end
      setmetatable(_G, { __newindex = function(t, k) error("globals are frozen: " .. k, 2) end })`);
    assert.equal(lua.call("f"), "f");
    rt.register("log", () => 1);
    let got: unknown;
    try {
      got = lua.call("f");
    } catch (e) {
      assert.fail(`after rt.register("log"), calling the context's own f failed: ${first(e)}`);
    }
    assert.equal(got, "f");
    assert.equal(lua.eval("return 1"), 1);
    rt.unregister("log");
    assert.equal(lua.eval("return f()"), "f");
  });
}

// Low (an unclear error; under lenient a wrong one). `ctx.getFunction(name)` of a global that exists but is a value
// that cannot cross (a Squirrel instance, class, generator or thread; a Lua coroutine) fails under strict with
// `CalogValueError` "a Squirrel instance cannot cross to another engine" (nothing says the name is there but is no
// function), and under lenient with `CalogNotFoundError` "no function named 'obj' in this squirrel context", which is
// false: the global exists. `ctx.call("obj")` on the same global says "'obj' in this Squirrel context is an instance,
// not a function", and `getFunction` of a table or a number "'tbl' ... is a table, not a function value". Cause:
// src/runtime.ts `Context.getFunction` is `this.get(name)` and then a type check in TypeScript: the read itself
// refuses the value (strict) or sends it as nil (lenient) before the kind can be named. Fix: look the name up natively
// as `call` does (its "is an instance, not a function" check), or ask the native side for the global's type when the
// read fails or gives nil.
for (const thread of modes) {
  for (const policy of ["strict", "lenient"] as const) {
    test(`getFunction (${where(thread)}, ${policy}): a global that cannot cross is named as no function, not as missing`, () => {
      using rt = new Runtime({ output: "ignore", policy });
      using sq = rt.createContext("squirrel", { thread });
      using lua = rt.createContext("lua", { thread });
      sq.eval(`class C { function _call(o, x) { return x } } ::obj <- C(); ::gen <- (function() { yield 1 })()`);
      lua.eval(`co = coroutine.create(print)`);
      for (const [ctx, name, kind] of [[sq, "obj", /instance/], [sq, "gen", /generator/], [lua, "co", /thread|coroutine/]] as const) {
        const e = caught(() => ctx.getFunction(name));
        assert.ok(e instanceof CalogNotFoundError, `${ctx.engine} getFunction('${name}'): ${e.constructor.name}: ${e.message}`);
        if (policy === "lenient") {
          // (as fixed) the lenient read sends such a value as nil, which TypeScript cannot tell from nothing: the
          // message no longer says it is missing for certain; naming the kind would take a native lookup of the global
          assert.match(e.message, /no function named '.*' in this \w+ context \(or its value cannot cross, and the lenient policy sends it as nil\)/);
          continue;
        }
        assert.doesNotMatch(e.message, /no function named/, `${ctx.engine} getFunction('${name}') says the global is missing`);
        assert.match(e.message, new RegExp(`'${name}'.*(${kind.source})`), `${ctx.engine} getFunction('${name}'): ${e.message}`);
      }
    });
  }
}
