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
