// Pass 69b (hostile review of 1f6f57d: 1f6f57d's and fd87852's TypeScript fixes, areas 3 and 4, area 2 for function
// values). Each test fails on 1f6f57d because of the defect it names, in Bun and Deno.
import assert from "node:assert/strict";
import { CalogDisposedError, Runtime } from "../bindings/mod.ts";
import { modes, test, where } from "./harness.ts";

// Finding 1. Low (an error that misleads; area 2, function values, and 1f6f57d's `disposedWhat`). `ctx.getFunction` of
// a global that holds a TypeScript function (one a script was given as a value: `lua.call("keep", fn)`) gives a
// ScriptFunction-shaped handle of that function (pass 64a). When the user disposes that handle and passes it to a
// script (of its runtime or another) or registers it, the refusal says "a script function whose runtime was disposed
// cannot be passed to a script" / "register(name, fn): fn is a script function whose runtime was disposed", though
// the runtime is alive (the next line still runs scripts in it) and the user disposed the handle: the text pass 68b
// added for the other case now names the wrong cause here, the mirror image of pass 68b's finding 1 (a user who never
// disposed a function read that they had). The same handle called directly says "script function was disposed".
// Cause: src/runtime.ts `disposedWhat` (and the same test in `Runtime.register`) reads
// `handleCores.get(f)?.native === undefined`; `hostHandle` (getFunction's handle of a TypeScript function) never puts
// its handle in `handleCores`, so the lookup is undefined and `undefined?.native` is undefined: "the runtime was
// disposed". Fix: name the runtime only when a Core is found and its native is gone
// (`const c = handleCores.get(f); c !== undefined && c.native === undefined`), in both places; or register
// hostHandle's handles in `handleCores` with the Core that made them.
for (const thread of modes) {
  test(`finding 1 (${where(thread)}): a disposed getFunction handle of a TypeScript function is refused as disposed, not as of a disposed runtime`, () => {
    using rt = new Runtime({ output: "ignore" });
    using rt2 = new Runtime({ output: "ignore" });
    using lua = rt.createContext("lua", { thread });
    using js2 = rt2.createContext("js", { thread });
    lua.eval("function keep(f) G = f end function id(x) return x end");
    js2.eval("function id(x) { return x; }");
    lua.call("keep", () => 1);
    const h = lua.getFunction("G");
    assert.equal(h(), 1);
    h.dispose();
    const wrong: string[] = [];
    for (const [how, op] of [
      ["passed to a context of its runtime", () => lua.call("id", h)],
      ["passed to a context of another runtime", () => js2.call("id", h)],
      ["registered in its runtime", () => rt.register("g", h)],
      ["registered in another runtime", () => rt2.register("g", h)],
    ] as const) {
      try {
        op();
        wrong.push(`${how}: accepted`);
      } catch (e) {
        if (!(e instanceof CalogDisposedError)) wrong.push(`${how}: ${String(e)}`);
        else if (/runtime was disposed/.test(e.message)) wrong.push(`${how}: "${e.message}" (the runtime is alive; the handle was disposed)`);
      }
    }
    assert.equal(lua.eval("return 1 + 1"), 2); // the runtime is alive
    assert.deepEqual(wrong, []);
  });
}
