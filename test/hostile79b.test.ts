// Pass 79b: a hostile user of areas 2 and 5 at a6e0c6b (functions' lives and deaths, refusals, async host functions).
// No finding; one wording slip and one rule the README left unsaid, each pinned here (both failed on a6e0c6b).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { CalogDisposedError, Runtime } from "../bindings/mod.ts";
import { modes, test, where } from "./harness.ts";

// Wording: getFunction on a disposed context named another operation ("get: the lua context was disposed").
for (const thread of modes) {
  for (const engine of ["lua", "js", "squirrel"] as const) {
    test(`${engine} (${where(thread)}): getFunction on a disposed context says getFunction`, () => {
      using rt = new Runtime({ output: "ignore" });
      const c = rt.createContext(engine, { thread });
      c.dispose();
      assert.throws(() => c.getFunction("f"), (e: unknown) =>
        e instanceof CalogDisposedError && e.message === `getFunction: the ${engine} context was disposed`);
    });
  }
}

// Unsaid: a rejected Promise that a host function throws or rejects with (or holds in that reason) goes unhandled,
// as in plain JavaScript (handling a rejection never handles its reason): calog never reads a reason, it becomes the
// cause. The README now says the reason is the user's to handle.
test("the README says a Promise in a host function's rejection reason is the user's to handle", () => {
  const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8").replace(/\s+/g, " ");
  assert.match(readme, /So is that of a Promise your function throws or rejects with, or holds in that reason: calog never reads a reason/);
});
