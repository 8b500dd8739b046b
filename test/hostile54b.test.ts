// Pass 54b (hostile review: a careless, then hostile, new user of the whole API). Each test fails on afce4f0 because
// of the defect it names, in Bun and Deno.
import assert from "node:assert/strict";
import { CalogError, CalogValueError, Runtime } from "../bindings/mod.ts";
import { modes, test, where } from "./harness.ts";

// Low (unclear error: a misuse refused with a bare CalogError). The README: "Every argument is checked before anything
// runs, and a wrong one is a `CalogValueError` (`code` `"ERR_ARG"`)" and "Errors are all `CalogError` subclasses". Two
// misuses of order are refused with an error of code "ERR_ARG" that is a plain `CalogError`, no subclass:
// `rt.dispose()` from inside one of the runtime's own calls (a host function) ("a runtime cannot be disposed from
// inside one of its own calls"), and a call into calog from a getter or Proxy trap while calog reads a value ("calog
// was called while marshalling a value (from a getter or a Proxy)"; also rt.dispose() there). A newcomer who tells
// argument errors apart with `instanceof CalogValueError`, as the README's class list invites, misses them; and the
// README names neither refusal. Cause: src/runtime.ts Core.begin (about line 1175) and Core.dispose (about lines 1422
// and 1428) throw `new CalogError("ERR_ARG", ...)`. Fix: throw `CalogValueError("ERR_ARG", ...)` (or name a subclass
// for misuse of order in the README) and say in the README that these calls are refused there.
for (const thread of modes) {
  test(`runtime (${where(thread)}): rt.dispose() from inside a host function is refused with a CalogValueError`, () => {
    using rt = new Runtime({ output: "ignore" });
    using lua = rt.createContext("lua", { thread });
    let refused: unknown;
    rt.register("h", () => {
      try {
        rt.dispose();
      } catch (e) {
        refused = e;
      }
      return 1;
    });
    assert.equal(lua.eval("return h()"), 1);
    assert.ok(refused instanceof CalogError, `not refused: ${String(refused)}`);
    assert.equal((refused as CalogError).code, "ERR_ARG");
    assert.match((refused as Error).message, /cannot be disposed from inside one of its own calls/);
    assert.ok(refused instanceof CalogValueError, `an ERR_ARG refusal that is no CalogValueError: ${(refused as Error).constructor.name}`);
  });

  test(`runtime (${where(thread)}): a call into calog from a getter while calog reads an argument is a CalogValueError`, () => {
    using rt = new Runtime({ output: "ignore" });
    using lua = rt.createContext("lua", { thread });
    lua.eval("function id(x) return x end");
    type R = { x: number };
    let inner: unknown;
    const arg = {
      get x() {
        try {
          lua.eval("return 1");
        } catch (e) {
          inner = e;
        }
        return 1;
      },
    };
    // the getter runs as calog reads the argument (a TypeScript getter does run: README, "A getter or a Proxy trap")
    assert.equal((lua.call("id", arg) as R).x, 1);
    assert.ok(inner instanceof CalogError, String(inner));
    assert.equal((inner as CalogError).code, "ERR_ARG");
    assert.ok(inner instanceof CalogValueError, `an ERR_ARG refusal that is no CalogValueError: ${(inner as Error).constructor.name}: ${(inner as Error).message}`);
  });
}
