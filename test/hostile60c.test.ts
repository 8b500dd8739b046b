// Pass 60c (adversarial review of 584efac, 80e85a2, 463d336 and 2ad4981: the open-ticket set of calogRequestCancel, the
// C mirror of the host's error rendering in c/src/io/loop.c, the I/O natives' argument checks, and
// calog__errorValueRefused). Each test fails on 2ad4981 because of the defect it names, in Bun and Deno.
import assert from "node:assert/strict";
import { Runtime } from "../bindings/mod.ts";
import { modes, reportAndEval, test, where } from "./harness.ts";

// Finding 1. Low (wrong text in the callback report). A Lua or Squirrel table whose keys are all strings, some of them
// array indices ("0", "1", "7"), thrown from a timer or I/O callback, is reported with its keys in the engine's order,
// while the CalogScriptError of the same throw lists the array-index keys first, in ascending order: the host decodes
// such a table as a plain object (src/wire.ts, `allStrings`), and JavaScript's own property order (Object.entries, which
// src/runtime.ts render uses) puts every array-index key (a canonical decimal string below 2^32 - 1) before the others.
// So `error({ b = 1, ["1"] = 2, x = 3, ["0"] = 4 })` is reported as `lua threw { x: 3, "1": 2, "0": 4, b: 1 }` (hash
// order, different each run in Lua) and evaluates to `lua threw { "0": 4, "1": 2, x: 3, b: 1 }`; with more than eight
// entries the report even shows other entries. README, Callback errors: "the error worded as a CalogScriptError of the
// same throw would read". JavaScript throws match (Duktape already enumerates index keys first); a table that crosses
// as a Map (a key that is no string, a list part) keeps its order in both. Cause: c/src/io/loop.c renderValue walks
// the pairs in the C value's order and does not apply the plain object's key order. Fix: in renderValue, for a map with
// no list part whose keys are all strings the host decodes as strings (UTF-8, see wire.ts), emit first the pairs whose
// key is an array index ("0" or a digit string without a leading zero, value <= 4294967294) sorted by that value, then
// the other pairs in their order (the count past 8 unchanged).
for (const thread of modes) {
  for (const policy of ["strict", "lenient"] as const) {
    test(`60c callback report (${where(thread)}, ${policy}): a table with array-index string keys lists them as the eval does`, async () => {
      const seen: unknown[] = [];
      using rt = new Runtime({ policy, output: (t, s) => void (s === "stderr" && seen.push(t)) });
      const bad: string[] = [];
      const names = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu"];
      for (const [engine, src] of [
        ["lua", `error({ ${names.map((n, i) => `${n} = ${i}`).join(", ")}, ["3"] = "c", ["0"] = "z", ["12"] = "l", ["1"] = "a" })`],
        ["lua", `error({ code = { ${names.map((n, i) => `${n} = ${i}`).join(", ")}, ["2"] = "b", ["0"] = "z" } })`],
        ["squirrel", `local t = {}; foreach (i, n in ${JSON.stringify(names)}) t[n] <- i; t["3"] <- "c"; t["0"] <- "z"; t["12"] <- "l"; t["1"] <- "a"; throw t`],
      ] as const) {
        const { report, want } = await reportAndEval(rt, seen, engine, src, thread);
        if (report !== want) bad.push(`${engine} ${src}\n  report ${JSON.stringify(report)}\n  eval   ${JSON.stringify(want)}`);
      }
      assert.deepEqual(bad, []);
    });
  }
}
