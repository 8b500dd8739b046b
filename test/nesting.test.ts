// Hostile nesting from TypeScript: a source nested to any depth fails with CalogSyntaxError in every engine,
// on the host thread (the runtime's own, smaller stack) and on a context's thread; the context stays usable.
import assert from "node:assert/strict";
import { CalogSyntaxError, type EngineName, Runtime } from "../bindings/mod.ts";
import { test } from "./harness.ts";

const nest = (open: string, core: string, close: string, n: number) => open.repeat(n) + core + close.repeat(n);

const sources: Record<EngineName, Record<string, (n: number) => string>> = {
  lua: {
    parentheses: (n) => "return " + nest("(", "1", ")", n),
    tables: (n) => "return " + nest("{", "", "}", n),
    blocks: (n) => nest("do ", "", " end", n),
    functions: (n) => nest("local f = function() ", "", " end", n),
    "unary operators": (n) => "return " + "- ".repeat(n) + "1",
    "power chain": (n) => "return " + "2^".repeat(n) + "1",
  },
  js: {
    parentheses: (n) => nest("(", "1", ")", n),
    arrays: (n) => nest("[", "", "]", n),
    objects: (n) => "(" + nest("{a:", "1", "}", n) + ")",
    blocks: (n) => nest("{", "", "}", n),
    functions: (n) => nest("function f(){", "", "}", n),
    "unary operators": (n) => "!".repeat(n) + "true",
    "regexp groups": (n) => "/" + nest("(", "a", ")", n) + "/.source",
  },
  squirrel: {
    parentheses: (n) => "return " + nest("(", "1", ")", n),
    arrays: (n) => "return " + nest("[", "", "]", n),
    tables: (n) => "return " + nest("{a=", "1", "}", n),
    blocks: (n) => nest("{", "", "}", n),
    functions: (n) => "return " + nest("function(){return ", "1", "}", n),
    "unary operators": (n) => "return " + "- ".repeat(n) + "1",
    "or chain": (n) => "return " + "false||".repeat(n) + "true",
  },
};

for (const thread of [false, true]) {
  for (const engine of ["lua", "js", "squirrel"] as const) {
    test(`${engine} (${thread ? "own thread" : "host thread"}): any nesting depth is a CalogSyntaxError`, () => {
      using rt = new Runtime();
      using ctx = rt.createContext(engine, { thread });
      for (const [name, make] of Object.entries(sources[engine])) {
        for (const depth of [10_000, 100_000]) {
          assert.throws(() => ctx.eval(make(depth)), CalogSyntaxError, `${name} nested ${depth} deep`);
        }
        ctx.eval(make(5)); // shallow nesting compiles and runs
      }
      assert.equal(ctx.eval(engine === "js" ? "1 + 1" : "return 1 + 1"), 2); // still usable
    });
  }
}
