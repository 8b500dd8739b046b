// A failed callback's report (c/src/io/loop.c, C) reads as a CalogScriptError of the same throw (src/runtime.ts,
// TypeScript): README, "Callback errors". Two renderers of one rule drift apart one detail at a time (passes 57a, 60b and
// 60c each found one: cut points, Map-key merging, the order of an object's index keys). This property test throws
// seeded random tables from Lua and Squirrel under both policies and compares the two texts whole.
import assert from "node:assert/strict";
import { type EngineName, Runtime } from "../bindings/mod.ts";
import { reportAndEval, test } from "./harness.ts";

let seed = 0x60c;
const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
const pick = <T>(xs: readonly T[]): T => xs[next() % xs.length]!;

// keys: names, index-like strings and their near misses, odd text, numbers of every kind that meet in a Map
const stringKeys = ["a", "b_2", "$x", "message", "0", "1", "7", "10", "01", "-1", "1e3", "4294967294", "4294967295", " 1", "", "a b", "x: 1, y", "é", "😀", "line\nbreak", 'q"uote', "__proto__"];
const intKeys = ["0", "1", "2", "3", "-7", "9007199254740992", "9007199254740993"];
const floatKeys = ["0.5", "1.0", "2.0", "-0.0", "0.0", "1e300", "2.5e-8"];
const strings = ["", "hi", "é", "😀x", "a\\b", "tab\there", "x".repeat(90), "é".repeat(85), "😀".repeat(41)];

/** s as a string literal, in Lua's and Squirrel's syntax alike */
function luaString(s: string): string {
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n").replace(/\t/g, "\\t")}"`;
}

function value(engine: EngineName, depth: number): string {
  const r = next() % 10;
  if (depth >= 3 || r < 4) {
    return pick([
      () => String((next() % 2000) - 1000),
      () => pick(["0.25", "-1.5", "1e21", "123456789.125", "3.0"]),
      () => luaString(pick(strings)),
      () => (engine === "lua" ? pick(["true", "false"]) : pick(["true", "false", "null"])),
    ])();
  }
  if (r < 6) {
    const n = next() % 11;
    const items = Array.from({ length: n }, () => value(engine, depth + 1));
    return engine === "lua" ? `{${items.join(", ")}}` : `[${items.join(", ")}]`;
  }
  return table(engine, depth);
}

function table(engine: EngineName, depth: number): string {
  const n = next() % 12;
  const pairs: string[] = [];
  for (let i = 0; i < n; i++) {
    const kind = next() % 4;
    // Lua: a float key with an integral value becomes an integer key (1.0 is 1); Squirrel keeps both, and -0.0
    const key = kind === 0 ? luaString(pick(stringKeys)) : kind === 1 ? pick(intKeys) : kind === 2 && engine === "squirrel" ? pick(floatKeys) : luaString(pick(stringKeys.slice(0, 14)));
    pairs.push(`[${key}] = ${value(engine, depth + 1)}`);
  }
  if (engine === "lua") return `{${pairs.join(", ")}}`;
  // a Squirrel table literal refuses a duplicate key: slots added one by one (the last one set wins, as in Lua)
  return `(function() { local t = {}; ${pairs.map((p) => `t${p.slice(0, p.indexOf("]") + 1)} <- ${p.slice(p.indexOf("=") + 2)};`).join(" ")} return t; })()`;
}

for (const policy of ["strict", "lenient"] as const) {
  test(`callback report = eval message for 60 random thrown tables in Lua and Squirrel (${policy})`, async () => {
    const seen: unknown[] = [];
    using rt = new Runtime({ policy, output: (t, s) => void (s === "stderr" && seen.push(t)) });
    const diffs: string[] = [];
    for (let i = 0; i < 60; i++) {
      const engine: EngineName = i % 2 === 0 ? "lua" : "squirrel";
      const t = table(engine, 0);
      const src = engine === "lua" ? `error(${t})` : `throw ${t}`;
      const { report, want } = await reportAndEval(rt, seen, engine, src, i % 4 < 2);
      if (report !== want) diffs.push(`${engine}: ${src}\n  report ${JSON.stringify(report)}\n  eval   ${JSON.stringify(want)}`);
    }
    assert.deepEqual(diffs, []);
  });
}
