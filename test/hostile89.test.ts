// Pass 89a: (1) calog followed a host function's Promise with a job that called the built-in `then`, which reads
// species: still replaced when that job ran, a threaded script got its error and the rejection went unhandled (Bun;
// under Deno a replaced species breaks Deno's own FFI, which threaded contexts wait through: README). (2) rt.dispose()
// near the JavaScript stack's end threw after the runtime was marked disposed, and the library's runtime was never
// destroyed (fixed: dispose checks its headroom before it tears anything down; checked with the pass's script, which
// counts threads: none half-disposed in 150 rounds under Bun and Deno). Pass 89b: the own properties of a Promise a
// threaded script awaits are the caller's (README). Each test failed at d488bc1.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { isDeno, runScriptChild, test } from "./harness.ts";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8").replace(/\s+/g, " ");

if (!isDeno) {
  test("a threaded script awaiting a host function gets its rejection, a species replaced until a macrotask later", async () => {
    const r = await runScriptChild("species-job", `
      const lost = [];
      process.on("unhandledRejection", (e) => lost.push(e?.message ?? String(e)));
      const d = Object.getOwnPropertyDescriptor(Promise, Symbol.species);
      const out = [];
      for (const engine of ["lua", "js", "squirrel"]) {
        const rt = new Runtime({ output: "ignore" });
        rt.register("get", () => {
          const p = new Promise((_, rej) => setTimeout(() => rej(new Error("host rejection")), 30));
          Object.defineProperty(Promise, Symbol.species, { configurable: true, get() { throw new Error("species getter ran"); } });
          setTimeout(() => Object.defineProperty(Promise, Symbol.species, d), 0);
          return p;
        });
        const ctx = rt.createContext(engine, { thread: true });
        try { await ctx.evalAsync(engine === "js" ? "get()" : "return get()"); out.push("resolved"); }
        catch (e) { out.push(String(e.cause?.message ?? e.message)); }
        Object.defineProperty(Promise, Symbol.species, d);
        rt.dispose();
      }
      await new Promise((r) => setTimeout(r, 100));
      console.log(JSON.stringify({ out, lost }));
    `, 60_000);
    assert.equal(r.code, 0, r.out);
    const { out, lost } = JSON.parse(r.out.trim().split("\n").pop()!) as { out: string[]; lost: string[] };
    assert.deepEqual(out, ["host rejection", "host rejection", "host rejection"]);
    assert.deepEqual(lost, []);
  });
}

test("the README says a Promise a threaded script awaits keeps its own properties to the caller, and Deno's species", () => {
  assert.match(readme, /nor the own properties of a Promise a threaded script awaits/);
  assert.match(readme, /under Deno a replaced `Promise\[Symbol.species\]` still breaks Deno's own FFI/);
});
