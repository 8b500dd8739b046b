// Pass 62a (hostile review of 8ea6a59's ownership and lifetime changes: calog__hostKeepUntilNext keeping only the host
// functions of the last OUT value, ScriptFunctions told by identity). Each test fails on 8ea6a59 because of the defect
// it names, in Bun and Deno.
import assert from "node:assert/strict";
import { CalogDisposedError, Runtime } from "../bindings/mod.ts";
import { caught, modes, test, where } from "./harness.ts";

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
