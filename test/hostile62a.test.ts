// Pass 62a (hostile review of 8ea6a59's ownership and lifetime changes: calog__hostKeepUntilNext keeping only the host
// functions of the last OUT value, ScriptFunctions told by identity). Each test fails on 8ea6a59 because of the defect
// it names, in Bun and Deno.
import assert from "node:assert/strict";
import { CalogDisposedError, Runtime } from "../bindings/mod.ts";
import { caught, gc, modes, test, where } from "./harness.ts";

// Low (a wrong acceptance where the README's refusal is due; a regression of 8ea6a59, reopening pass 60a for this
// shape). A Proxy of a disposed ScriptFunction (`new Proxy(sf, {})`, e.g. a logging or tracing wrapper made before the
// dispose) is registered by `rt.register` without complaint, and each script call of the name then fails with
// "CalogScriptError: function was released"; passed as a value (`ctx.call("callit", proxy)`) it fails the same way
// inside the script. On 8ea6a59^ both were refused at once with `CalogDisposedError` ERR_DISPOSED ("register(name, fn):
// fn is a script function that was disposed" / "a disposed script function cannot be passed to a script"), as for the
// ScriptFunction itself (pass 60a: "each script call of it failed later with 'function was released'"). Cause:
// src/runtime.ts `disposedScriptFunction` asks the WeakSet `scriptFunctions` for the proxy, which is not a member, so
// `Runtime.register` and `Core.handleOf` take it for a TypeScript function; `Core.hostRef` then reads `[LEND]` through
// the proxy (a Proxy forwards it to the target) and lends the disposed function to its own runtime (the comment there,
// "this one's own never come here", does not hold for a proxy): `lend()` on a disposed handle whose native reference
// is already gone. Fix: in `hostRef` (or `disposedScriptFunction`), when `fn[LEND]` is present and the function is no
// member, check the lent target's liveness: e.g. make `lend()` throw `CalogDisposedError` when `!live` (and refuse to
// lend into the runtime that owns it, passing its handle instead), or keep the brand on a private symbol that
// `[LEND]`'s owner answers (`fn[BRAND]?.()` returning the real ScriptFunction, checked with `scriptFunctions`).
for (const thread of modes) {
  test(`register and pass (${where(thread)}): a Proxy of a disposed ScriptFunction is refused with ERR_DISPOSED`, () => {
    using rt = new Runtime({ output: "ignore" });
    using c = rt.createContext("lua", { thread });
    c.eval("function mk() return function() return 1 end end function callit(f) return f() end");
    const sf = c.call("mk") as (() => number) & { dispose(): void };
    const proxy = new Proxy(sf, {});
    sf.dispose();
    const passed = caught(() => c.call("callit", proxy));
    assert.ok(passed instanceof CalogDisposedError, `passed as a value: ${passed.constructor.name}: ${passed.message}`);
    let registered: unknown = "registered";
    try {
      rt.register("pf", proxy);
    } catch (e) {
      registered = e;
    }
    const later = registered === "registered" ? caught(() => c.eval("return pf()")).message : "";
    assert.ok(
      registered instanceof CalogDisposedError,
      `register: ${registered instanceof Error ? registered.message : String(registered)}; then a script call: ${later}`,
    );
  });
}

// Low (a leak, fixed after the pass: a forgotten context of one runtime lives on while another runtime is idle; the class of pass 61a,
// through a second runtime). A ScriptFunction of runtime B passed to a context of runtime A and returned by A's script
// as the last result of A (`a.eval("dropG()")`, `a.call("idf", sf)`) keeps B's forgotten context (and its
// interpreter, and the thread of a threaded one) alive after B's Context is collected and the caller and the script of
// A no longer hold the function (a JavaScript context frees it at once: Duktape counts references), until A's next
// eval, call or get: on a runtime A that is idle afterwards, `rtB.stats().contexts` never returns to its baseline (and
// `rtA.stats().hostFunctions` stays 1). One call more on A (any context) and B's context goes at once. README: "a
// Context you forgot is destroyed by the garbage collector only once no function of it is alive anywhere". Cause:
// c/src/actor.c `calog__hostKeepUntilNext` (8ea6a59) keeps each host function of A named in OUT until A's next entry;
// a ScriptFunction of B passed to A is such a host function of A (src/runtime.ts `Core.hostRef`, LEND), whose
// `HostEntry` (in A's `hostById`) holds the ScriptFunction and keeps B's lend (`lends > 0`), so B's native handle is never released (`release()` in `Core.wrap`).
// The same holds for any TypeScript host function and all its closure holds. Fixed: a decode that met a HOSTFN
// ends the keep at once (src/wire.ts `Wire.result` -> `calogHostOutDone`, one call only for such outcomes).
for (const thread of modes) {
  test(`lifetime (${where(thread)}): a ScriptFunction of runtime B returned by runtime A keeps no forgotten context of B alive`, async () => {
    using rtA = new Runtime({ output: "ignore" });
    using rtB = new Runtime({ output: "ignore" });
    using a = rtA.createContext("js", { thread });
    a.eval("function setG(g) { G = g; } function dropG() { var f = G; G = undefined; return f; }");
    const base = rtB.stats().contexts;
    let collected = 0;
    const reg = new FinalizationRegistry(() => collected++);
    (() => {
      const b = rtB.createContext("lua", { thread });
      b.eval("function f() return 1 end");
      const sf = b.getFunction("f");
      reg.register(b, 0);
      a.call("setG", sf);
      assert.equal(a.eval("dropG()"), sf);
    })();
    for (let i = 0; i < 50 && (collected < 1 || rtB.stats().contexts !== base); i++) {
      gc();
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(collected, 1, "B's Context was collected");
    assert.equal(
      rtB.stats().contexts,
      base,
      `B's forgotten context still alive with rtA idle (rtA.stats().hostFunctions ${rtA.stats().hostFunctions})`,
    );
  });
}

// The same keep for a TypeScript function (fixed with the one above): a host function returned as a runtime's last
// result stayed registered (`rt.stats().hostFunctions`), with all its closure holds, until that runtime's next entry.
for (const thread of modes) {
  test(`lifetime (${where(thread)}): a TypeScript function returned as the last result is not kept by an idle runtime`, async () => {
    using rt = new Runtime({ output: "ignore" });
    // JavaScript: Duktape frees the script's copy at once (a Lua context would hold it until its collector runs)
    using a = rt.createContext("js", { thread });
    a.eval("function setG(g) { G = g; } function dropG() { var f = G; G = undefined; return f; }");
    const base = rt.stats().hostFunctions;
    let collected = 0;
    const reg = new FinalizationRegistry(() => collected++);
    (() => {
      const held = { big: new Uint8Array(1 << 16) };
      const h = () => held.big.length;
      reg.register(held, 0);
      a.call("setG", h);
      assert.equal(a.eval("dropG()"), h);
    })();
    for (let i = 0; i < 50 && (collected < 1 || rt.stats().hostFunctions !== base); i++) {
      gc();
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(rt.stats().hostFunctions, base, "the host function is still registered with the runtime idle");
    assert.equal(collected, 1, "its closure was collected");
  });
}
