// Pass 53a (hostile review: Duktape patches 98 and 99, then thrown values, area 4). Each test fails on 176db17 because
// of the defect it names, in Bun and Deno. Fixed in src/runtime.ts: a kept host exception is dropped only past
// HOST_ERRORS_KEPT, never because a call failed or claimed it.
import assert from "node:assert/strict";
import { Runtime } from "../bindings/mod.ts";
import { caught, modes, test, where } from "./harness.ts";

const first = (e: unknown): string => (e instanceof Error ? e.message.split("\n")[0] ?? "" : String(e));

// Low-medium (a wrong error: the `cause` lost), both policies, both thread modes. A JavaScript coroutine
// (Duktape.Thread) paused in its finally block holds a Lua nil (or a function) that a host function passed on; it is
// resumed in a later call and the block passes the value on, uncaught. The README says the `cause` is kept there ("only
// the uncaught error keeps its cause (through finally blocks too, one a coroutine paused in its finally block holds
// included ...)", pass 52's fix), and it is when nothing else happened between the two calls. But if any other call on
// the runtime ended with an error meanwhile (here an unrelated `lua.eval('error("x")')` the host caught, in another
// context), the resumed coroutine's error has no `cause` (lenient: the Lua text is kept, the cause not). Cause:
// src/runtime.ts, Core's error reading (the method that attaches `details.cause`): `if (this.depth === 0 &&
// this.pending.size === 0) this.hostErrors.clear()` drops every kept host exception whenever a top-level call ends
// with an error, though the C side still carries their ids (a parked Duktape record, a saved Lua/JS error), and
// HOST_ERRORS_KEPT (1,024, oldest first) already bounds the map. Fix: drop the clear() (the bound keeps memory in
// check), or document that a value held across calls keeps its cause only while no call ends with an error.
for (const policy of ["lenient", "strict"] as const) {
  for (const thread of modes) {
    test(`${policy} js (${where(thread)}): a coroutine paused in its finally keeps the cause past another call's error`, () => {
      using rt = new Runtime({ output: "ignore", policy });
      let luaNil: () => unknown = () => 0;
      let last: unknown;
      rt.register("pass", () => {
        try {
          luaNil();
        } catch (e) {
          last = e;
          throw e;
        }
      });
      using lua = rt.createContext("lua", { thread });
      using js = rt.createContext("js", { thread });
      lua.eval(`function thrco() error(coroutine.create(print)) end function nilerr() error(nil) end`);
      luaNil = lua.get(policy === "lenient" ? "thrco" : "nilerr") as () => unknown;
      const nilText = policy === "lenient" ? "lua threw a thread value, which the lenient policy sends as nil" : "js threw null";
      const pause = `var T = new Duktape.Thread(function () { try { pass() } finally { Duktape.Thread.yield(1) } }); Duktape.Thread.resume(T); 0`;
      // control: nothing between the two calls (holds now)
      js.eval(pause);
      const held = last;
      const ok = caught(() => js.eval(`Duktape.Thread.resume(T)`));
      assert.equal(first(ok), nilText);
      assert.ok("cause" in ok && ok.cause === held, "control: the cause is kept");
      // the same, with an unrelated failing call between
      js.eval(pause);
      const held2 = last;
      assert.notEqual(held2, held);
      assert.match(first(caught(() => lua.eval(`error("unrelated")`))), /unrelated/); // caught by the host
      const e = caught(() => js.eval(`Duktape.Thread.resume(T)`));
      assert.equal(first(e), nilText);
      assert.ok("cause" in e, `no cause after another call's error: ${first(e)}`);
      assert.equal(e.cause, held2);
    });
  }
}

// Low-medium (a wrong error: the `cause` lost), both thread modes. The same cause as above, without coroutines: a
// script saves the error of a host function it caught (JavaScript `catch (e) { saved = e }`, Lua `pcall`) and raises it
// again as it is in a later call (`throw saved`, `error(saved, 0)`). The README: "Raising the caught error again keeps
// the cause where the engine can tell it is the same error: JavaScript (`catch (e) { throw e; }`, the same Error
// object) and Lua (`error(e, 0)`) for messages longer than 40 bytes ... calog keeps the last 1,024 exceptions of host
// functions for their errors to claim". It is kept when no call failed in between, and lost when any call on the
// runtime ended with an error meanwhile, even an unrelated one in another context: raising the Lua copy again clears
// the JavaScript copy's cause (the two are separate raises of one host function). Cause and fix: as above
// (src/runtime.ts, `this.hostErrors.clear()` at every failing top-level call).
for (const thread of modes) {
  test(`js, lua (${where(thread)}): a saved host error raised again in a later call keeps its cause past another call's error`, () => {
    using rt = new Runtime({ output: "ignore" });
    const boom = new Error("a host exception with a message long enough to be told apart");
    rt.register("boom", () => {
      throw boom;
    });
    using lua = rt.createContext("lua", { thread });
    using js = rt.createContext("js", { thread });
    // control: nothing failed between saving and raising (holds now)
    js.eval(`try { boom() } catch (e) { saved = e } 0`);
    const a0 = caught(() => js.eval(`throw saved`));
    assert.equal(a0.cause, boom);
    // each engine saves one; then the Lua copy is raised again (an error ends that call), then the JavaScript copy
    js.eval(`try { boom() } catch (e) { saved = e } 0`);
    lua.eval(`local ok, e = pcall(boom); saved = e`);
    const b = caught(() => lua.eval(`error(saved, 0)`));
    assert.equal(b.cause, boom);
    const a = caught(() => js.eval(`throw saved`));
    assert.equal(first(a), boom.message);
    assert.ok("cause" in a, "the JavaScript copy lost its cause when the Lua call failed");
    assert.equal(a.cause, boom);
    // an unrelated failing call between saving and raising
    js.eval(`try { boom() } catch (e) { saved = e } 0`);
    assert.match(first(caught(() => lua.eval(`error("unrelated")`))), /unrelated/);
    const c = caught(() => js.eval(`throw saved`));
    assert.ok("cause" in c, "lost after an unrelated failing call");
    assert.equal(c.cause, boom);
    // decided with the fix (53a's observation): a claimed exception stays kept, so the same saved error ending a second
    // call keeps its cause there too (it was deleted when first claimed)
    const d = caught(() => js.eval(`throw saved`));
    assert.ok("cause" in d, "lost when raised again after it ended a call");
    assert.equal(d.cause, boom);
  });
}
