// Pass 56a (hostile review: the report of a failed timer/I/O callback, c/src/io/loop.c reportText/renderValue, against
// src/runtime.ts thrownMessage/render). Each test fails on b518432 because of the defect it names, in Bun and Deno.
import assert from "node:assert/strict";
import { Runtime } from "../bindings/mod.ts";
import { modes, reportAndEval, test, where } from "./harness.ts";

const text = (t: unknown): string => (t instanceof Uint8Array ? new TextDecoder().decode(t) : String(t)).replace(/\n$/, "");

// The callback's report and an eval's CalogScriptError must say the same for the same throw (README, "Callback errors";
// the commit's own claim: reportText mirrors thrownMessage and render). Each case differs now:
// 2. Low (unclear error). A key that is not UTF-8 (error({["\xff"] = 1})) is written raw: the whole report is no longer
//    UTF-8 and arrives at the sink as bytes; an eval says `lua threw { [[1 bytes]]: 1 }`. Cause: same branch, no
//    calog__utf8Valid check. Fix: render such a key as renderValue renders the string ("[[N bytes]]").
// 3. Low (unclear error). A message with a NUL (throw {message: 'a\0b'}, or throw new Error('a\0b')) is cut at the NUL:
//    the report reads "a". Cause: calog__ioReport's snprintf("%.*s", t.n, text) stops at the first NUL. Fix: memcpy.
// 4. Low (wrong text). A string of astral characters ('😀'.repeat(50)) is not cut in the report (C counts 80 code
//    points) but is cut at 40 in the eval (JS slices 80 UTF-16 units): a surrogate pair counts 2 in render(). Fix: count
//    a 4-byte sequence as 2 in renderValue (or code points in render()).
// 5. Low (wrong text). An integer beyond 2^53 (error({code = math.maxinteger})) renders "9223372036854775807" in the
//    report and "9223372036854775807n" in the eval (render's bigint). Fix: add "n" when |i| > 2^53-1 in renderValue.
// 6. Low (wrong text). Escapes and numbers: 'a\tb' renders "a\u0009b" (eval "a\tb", JSON.stringify's \t \r \b \f), and
//    1e20 renders 1e+20 (eval 100000000000000000000; JS uses exponent form only from 1e21 and below 1e-6).
//    Fix: the short escapes in renderValue; renderReal printing %.0f-style digits for 1e-7 < |r| < 1e21.
const cases: ["lua" | "js" | "squirrel", string][] = [
  ["lua", "error({['\\xff'] = 1})"],
  ["js", "throw {message: 'a\\u0000b'}"],
  ["js", "throw {s: '😀'.repeat(50)}"],
  ["lua", "error({code = math.maxinteger})"],
  ["js", "throw {s: 'a\\tb'}"],
  ["js", "throw {x: 1e20}"],
];
for (const thread of modes) {
  test(`callback errors (${where(thread)}): the report says what an eval of the same throw says`, async () => {
    const seen: string[] = [];
    using rt = new Runtime({ output: (t, s) => s === "stderr" && seen.push(text(t)) });
    const diffs: string[] = [];
    for (const [engine, src] of cases) {
      const { want } = await reportAndEval(rt, seen, engine, src, thread);
      if (seen.join("") !== text(want)) diffs.push(`${engine} ${src}: report ${JSON.stringify(seen.join(""))} eval ${JSON.stringify(want)}`);
    }
    assert.deepEqual(diffs, []);
  });
}
