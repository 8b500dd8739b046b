// Pass 74b: a hostile user of area 2 and of the Promise walk after pass 73b's fixes (5b476af). It found area 2 sound
// and one gap in 73b's `thenOf`; the test fails on 5b476af, in Bun and Deno.
import assert from "node:assert/strict";
import { CalogScriptError, CalogValueError, Runtime } from "../bindings/mod.ts";
import { test } from "./harness.ts";

// Low-medium. A Promise sealed with a `constructor` of its own that is no Promise constructor cannot have it set aside
// for the one `then` that awaits it (nor can JavaScript's own await): the awaiting script read the engine's bare
// TypeError ("|this|.constructor is not an Object or undefined"). Now a CalogValueError says why it cannot be awaited
// (README: errors, host functions that return a Promise).
for (const engine of ["lua", "js", "squirrel"] as const) {
  test(`${engine} (own thread): an async host function's sealed Promise with a constructor of its own is refused, saying why`, async () => {
    using rt = new Runtime({ output: "ignore" });
    rt.register("odd", () => {
      const p = Promise.resolve(42);
      (p as { constructor: unknown }).constructor = 1;
      return Object.seal(p);
    });
    using ctx = rt.createContext(engine, { thread: true });
    const src = engine === "lua" ? "return odd()" : "odd()";
    let err: unknown;
    try {
      await ctx.evalAsync(engine === "squirrel" ? "return odd();" : src);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof CalogScriptError, String(err));
    assert.ok((err as Error).cause instanceof CalogValueError, String((err as Error).cause));
    assert.match(((err as Error).cause as Error).message, /cannot be awaited: its `then` could not make a Promise through its `constructor` \(or that constructor's Symbol.species\), and calog cannot set them aside \(the Promise is sealed, frozen or otherwise not extensible, or its own `constructor` is not configurable\)/);
    assert.ok((((err as Error).cause as Error).cause) instanceof TypeError);
  });
}
