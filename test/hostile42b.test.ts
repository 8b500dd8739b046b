// Pass 42b (hostile review, the final pass over the hardening issue's areas: function values outliving their context,
// thrown values, Promises from host functions, the README's commands and examples). Each test fails on 18b0e04
// because of the defect it names, in Bun and Deno.
import assert from "node:assert/strict";
import { CalogScriptError, Runtime } from "../bindings/mod.ts";
import { caught, jsThroughLua, modes, relayPair, test, where } from "./harness.ts";

// Medium (a silently changed value: another host function's exception as `cause`). README (`cause`): "a JavaScript
// `null` or function ... has no place for the tag, so there only the uncaught error keeps its `cause` (through
// `finally` blocks too, up to 64 such values in flight at once)". Past that bound a cause may be lost, but here the
// script's own uncaught `throw null` (no host function threw it: no cause) reaches TypeScript with relay2's exception
// as its `cause` — relay2's null was thrown inside a nested entry (a Lua function value called back into JavaScript)
// and swallowed by Lua's pcall, never reaching this script. With 62 nulls of the script's own in flight it has no
// cause, as it should; with 63 or more it has relay2's. Cause: duk_adapter.c barePush evicts the OLDEST record when
// the 64 slots are full (memmove), so bareCount does not grow; calog__dukRun's "drop what was thrown inside this
// entry" (`if (dc->bareCount > bareMark) dc->bareCount = bareMark`, duk_engine.c) then drops nothing and the inner
// entry's record stays the newest null, which calog__dukMarks (bareFind) gives the outer uncaught null. Fix: when full,
// do not push the new record (or count evictions: keep a running push counter and drop every record pushed since the
// entry began, whatever was evicted), so an entry's records never outlive it; the same in calog__dukRead.
for (const thread of modes) {
  test(`js (${where(thread)}): past 63 nulls in flight, a null thrown and swallowed inside a nested entry does not become the outer null's cause`, () => {
    for (const n of [62, 63, 70]) {
      using rt = new Runtime({ output: "ignore" });
      const seen = relayPair(rt);
      let body = "lcall(second);";
      for (let i = 0; i < n; i++) body = `try { throw null; } finally { ${body} }`;
      using y = jsThroughLua(rt, thread, "pcall(f)", `function second() { return relay2(); }
        function own() { try { relay(); } finally { ${body} } }`);
      const e = caught(() => y.call("own"));
      assert.ok(e instanceof CalogScriptError, String(e));
      assert.ok(seen.inner !== undefined && seen.inner2 !== undefined, "the host functions did not run");
      assert.notEqual(e.cause, seen.inner2, `${n} in flight: the script's own null has as cause the exception of a host function whose null Lua's pcall swallowed`);
      assert.ok(!("cause" in e), `${n} in flight: the script's own null has a cause: ${String(e.cause)}`);
    }
  });
}

// The same defect reached from a nested entry alone: the outer script has ONE null in flight (relay's, in its finally
// block), and calls a Lua function value that calls back into this JavaScript context (a nested entry) whose own
// finally blocks hold 63 nulls of its own plus relay2's; Lua's pcall swallows that entry's error. Once the nested
// entry is over none of its values is in flight, but its records evicted the outer one (barePush's memmove) and the
// truncation to the entry's starting count (1) kept the inner entry's OLDEST surviving record — relay2's — in slot 0:
// relay's uncaught null reaches TypeScript with relay2's exception as its `cause`. (With 62 or 64+ nested nulls the
// outer cause is lost instead, the documented bound; with 63 it is replaced by another host function's.) Cause and
// fix: as above (duk_adapter.c barePush evicting while an entry's bareMark still counts the evicted records).
for (const thread of modes) {
  test(`js (${where(thread)}): a nested entry that had 65 nulls in flight does not hand one of its own host functions' exceptions to the outer null as cause`, () => {
    using rt = new Runtime({ output: "ignore" });
    const seen = relayPair(rt);
    let body = "";
    for (let i = 0; i < 63; i++) body = `try { throw null; } finally { ${body} }`;
    using y = jsThroughLua(rt, thread, "pcall(f)", `
      function second() { try { throw null; } finally { try { relay2(); } finally { ${body} } } }
      function own() { try { relay(); } finally { lcall(second); } }`);
    const e = caught(() => y.call("own"));
    assert.ok(e instanceof CalogScriptError, String(e));
    assert.ok(seen.inner !== undefined && seen.inner2 !== undefined, "the host functions did not run");
    assert.notEqual(e.cause, seen.inner2, "relay's uncaught null has as cause relay2's exception (thrown and swallowed in a nested entry)");
  });
}

// The helper's suspicion (not reproduced before the fix): a script catch inside a nested entry took the newest record of
// the same function anywhere, so catching the very function an outer throw has in flight took the outer record off.
// Now a catch, and an entry's end, see only what was thrown inside that entry (DukCtxT.bareFloor).
for (const thread of modes) {
  test(`js (${where(thread)}): a function caught inside a nested entry leaves the outer throw of the same function its cause`, () => {
    using rt = new Runtime({ output: "ignore" });
    using y = jsThroughLua(rt, thread, "return f()", `var F = function () { return 7; };
      function inner() { try { throw F; } catch (e) {} return 1; }
      function own() { try { relayF(); } finally { lcall(inner); } }`);
    using f = y.getFunction("F");
    rt.register("relayF", () => {
      throw f;
    });
    const e = caught(() => y.call("own"));
    assert.ok(e instanceof CalogScriptError, String(e));
    assert.ok("cause" in e, `the uncaught function lost its cause: "${e.message}"`);
    assert.equal(e.cause, f);
  });
}
