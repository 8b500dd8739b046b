// Pass 38a (hostile review, final pass over the hardening issue's areas: script-controlled recursion and silent
// changes under the strict policy). Every test here fails on d7e0fc8 because of the defect it names; fixed in the
// commit after it.
import assert from "node:assert/strict";
import { CalogScriptError, Runtime } from "../bindings/mod.ts";
import { caught, modes, relayThrow, runScriptChild, test, where } from "./harness.ts";

const bare = [["null", "throw null"], ["a function", "throw function () { return 7; }"]] as const;

// Low (a documented promise not kept). README (What an error carries, `cause`): a JavaScript null or function a host
// function passes on "has no place for the tag, so there only the uncaught error keeps its cause". Pass 37b's fix
// (duk_adapter.c throwResultIo / calog__dukMarks, Duktape patch 94) keeps the marks aside for "this very throw" and
// gives them only when no throw at all happened in the heap since (DukCtxT.bare.at == DukCtxT.throws). But a throw the
// script makes and catches while the carried value still unwinds, uncaught, counts too: a `finally` block that parses
// bad JSON in a try/catch, or a `Duktape.errThrow` hook (it runs at every throw) that catches something of its own. The
// value leaves the entry uncaught, as calog threw it, and the cause is gone. An object carried the same way keeps it.
// (Since pass 39b Duktape.errThrow is reserved by calog: "hooked" catches that and goes on without the hook.)
for (const thread of modes) {
  for (const [what, body] of bare) {
    test(`js (${where(thread)}): ${what} passed on by a host function keeps its cause through a finally block that catches a throw of its own`, () => {
      using rt = new Runtime({ output: "ignore" });
      let inner: unknown;
      relayThrow(rt, body, (e) => (inner = e));
      using y = rt.createContext("js", { thread });
      y.eval(`
        function plain() { try { return relay(); } finally { } }
        function tidy() { try { return relay(); } finally { try { JSON.parse("{"); } catch (e) { } } }
        function hooked() { try { Duktape.errThrow = function (e) { try { null.x; } catch (q) { } return e; }; } catch (r) { } return relay(); }`);
      for (const name of ["plain", "tidy", "hooked"]) {
        const e = caught(() => y.call(name));
        assert.ok(e instanceof CalogScriptError, `${name}: ${e}`);
        assert.ok("cause" in e, `${name}: no cause: "${e.message}"`);
        assert.equal(e.cause, inner, name);
      }
    });
  }
}

// High (a crash of the host process). README (Errors, Limits): run-time recursion a script controls ends in a catchable
// script error, never a crash, "on any thread: ... a host thread's smaller stack is safe too"; a host function a
// script calls where the JavaScript engine's own stack is exhausted fails in the script with "the host function could
// not run: the host's JavaScript stack is exhausted". Under Deno a host-thread JavaScript context that nests eval
// (each level a compile and a native call: Duktape's own check, calog__dukStackLow, allows the C stack down to
// CALOG_STACK_LOW above the thread's 8 MB end) and then calls a host function, or print (the output sink), from the
// bottom, aborts the whole process: "Fatal error in :0: Check failed: IsOnCentralStack()". V8 refuses to be entered
// below its own stack region (about 1 MB, not the thread's 8 MB) with a fatal CHECK, not with the RangeError calog's
// hostOutcome (wire.c) turns into that script error. The same with three host-thread contexts whose scripts nest
// [1].map callbacks and call on through a host function (test below). Bun survives both.
const deepEval = (bottom: string): string => `
const rt = new Runtime({ output: () => {} });
const js = rt.createContext("js", { thread: false });
rt.register("next", () => 1);
js.eval(\`function deep(n) { try { return eval("deep(" + (n + 1) + ")"); } catch (e) { return ${bottom}; } }\`);
let r;
try { r = js.call("deep", 0); } catch (e) { r = e.constructor.name + ": " + e.message; }
console.log("result", String(r));
rt.dispose();
console.log("survived");
`;
for (const [what, bottom] of [["a host function", "next()"], ["print", "print(n)"]] as const) {
  test(`js (host thread): nested eval that calls ${what} at the bottom does not crash the host`, async () => {
    const { code, out } = await runScriptChild(`deep-eval-${what === "print" ? "print" : "host"}`, deepEval(bottom), 60_000);
    assert.ok(code === 0 && out.includes("survived"), `the process died (code ${code}): ${out.slice(-700)}`);
  });
}

test("js (host thread): three contexts nesting map callbacks through a host function do not crash the host", async () => {
  const { code, out } = await runScriptChild("deep-chain", `
const rt = new Runtime({ output: "ignore" });
const ctxs = [0, 1, 2].map(() => rt.createContext("js", { thread: false }));
let level = 0;
rt.register("next", () => {
  const c = ctxs[++level];
  try {
    return c === undefined ? "bottom" : c.call("deep", 0);
  } catch (e) {
    return e.constructor.name + ": " + e.message;
  } finally {
    level--;
  }
});
for (const c of ctxs) c.eval("function deep(n) { try { return [1].map(function () { return deep(n + 1); })[0]; } catch (e) { return next(); } }");
console.log("result", String(ctxs[0].call("deep", 0)).slice(0, 200));
rt.dispose();
console.log("survived");
`, 60_000);
  assert.ok(code === 0 && out.includes("survived"), `the process died (code ${code}): ${out.slice(-700)}`);
});
