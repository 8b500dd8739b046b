// The fifteenth hostile pass (15a): what it found, kept as regressions.
import assert from "node:assert/strict";
import { Runtime } from "../bindings/mod.ts";
import { modes, test, where } from "./harness.ts";

const tries = (n: number, body: string, handler: string) => "try { ".repeat(n) + body + ` } catch(e) { ${handler} }`.repeat(n);

// Squirrel's POPTRAP carries its count in one byte: a return, break or continue inside 256 or more nested try blocks
// popped the count modulo 256 (none at 256), and the traps left behind caught a later throw of the caller, which ran
// the returned function's catch block in the caller's frame: it read the callee's literal indexes from the caller's
// literals, out of bounds (a garbage value printed as '((null) : 0x0x8000010)', or an arith error on two nulls).
for (const thread of modes) {
  test(`squirrel (${where(thread)}): return, break and continue leave 256 or more nested try blocks whole`, () => {
    using rt = new Runtime();
    using ctx = rt.createContext("squirrel", { thread });
    const lits = Array.from({ length: 3000 }, (_, i) => `"s${i}"`).join(",");
    for (const n of [255, 256, 257, 300, 400]) {
      const src =
        `local function f() { local big = [${lits}]; ${tries(n, "return 5;", 'return "s2999" + "zz"')} }\n` +
        `local s = "", r = 0, b = 0;\n` +
        `try { r = f(); throw "x" } catch(e) { s = e }\n` +
        `for (local i = 0; i < 3; i++) { ${tries(n, "b++; if (i == 1) break; continue;", "return -1")} }\n` +
        `try { throw "y" } catch(e) { s += e }\n` +
        `return r + ":" + s + ":" + b;`;
      assert.equal(ctx.eval(src), "5:xy:2", `${n} nested try blocks`);
    }
    assert.equal(ctx.eval("try { throw 1 } catch(e) { return 2 } return 3"), 2);
  });
}

// Squirrel's StartCall wrote a call's default parameters before it made room for the frame, up to 254 slots past the
// caller's frame: from a frame at the end of a freshly grown stack (a new thread, recursion) 'f()' of a function
// with 240 default parameters wrote past the stack's allocation (ASan: heap-buffer-overflow in StartCall; Bun:
// segmentation fault). The _call metamethod pushed the object and up to 254 arguments above the frame unchecked
// (ASan: heap-buffer-overflow in SQVM::Push; Bun: 'malloc(): invalid next size', abort).
for (const thread of modes) {
  test(`squirrel (${where(thread)}): default parameters and _call arguments stay inside the stack`, () => {
    using rt = new Runtime();
    using ctx = rt.createContext("squirrel", { thread });
    const params = Array.from({ length: 240 }, (_, i) => `p${i}=${i}`).join(",");
    assert.equal(
      ctx.eval(
        `local function f(${params}) { return p239 }\n` +
          "function g(k) { if (k == 0) return f(); local r = g(k-1); return r }\n" +
          "local s = 0; for (local i = 0; i < 400; i++) { local t = newthread(g); s += t.call(i) } return s",
      ),
      400 * 239,
    );
    const args = Array.from({ length: 200 }, (_, i) => i).join(",");
    assert.equal(
      ctx.eval(
        "local t = {}.setdelegate({ _call = function(self, ...) { local a = 0; foreach (v in vargv) a += v; return a } });\n" +
          `function h(k) { if (k == 0) return t(${args}); local r = h(k-1); return r }\n` +
          "local s = 0; for (local i = 0; i < 100; i++) { local th = newthread(h); s += th.call(i) } return s",
      ),
      100 * (199 * 200) / 2,
    );
    assert.equal(ctx.eval("return 1 + 1"), 2);
  });
}
