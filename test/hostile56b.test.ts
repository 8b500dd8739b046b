// Pass 56b (hostile review, generated inputs): found no defect. These property tests held on b518432 in Bun and Deno and are
// kept as a record of what was tried: (1) random nested sources in all three engines (parentheses, arrays, tables /
// objects, function literals called in place, unary operators, concatenations, up to 20,000 levels) on host-thread
// contexts with small limits, each batch in a child process (hostile56b_child.ts): a value or a named CalogError,
// never a crash, a hang or a dead context; (2) random values (edge numbers, bigints, strings with odd code points and
// lone surrogates, non-UTF-8 bytes, nested arrays / objects / Maps with mixed keys, depth 95-105) round-tripped under
// strict through every pair of engines (host hop, a script calling another engine's function, a script calling a host
// function): identical to what the README documents (number keys become JS property names, valid UTF-8 bytes come
// back as a string, a Map of string keys as an object, undefined as null), or a CalogValueError / the calling
// script's refusal; never a silent change.
import assert from "node:assert/strict";
import { CalogValueError, Runtime } from "../bindings/mod.ts";
import { idSource, modes, runChild, test, where } from "./harness.ts";

const deep = (n: number, x: unknown): unknown => { for (let i = 0; i < n; i++) x = [x]; return x; };
function mk(seed: number) {
  let s = (Math.imul(seed, 2654435761) >>> 0) || 1;
  const rnd = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };
  for (let w = 0; w < 20; w++) rnd();
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
  const nums = [0, 1, -1, 0.5, -0.0, 2 ** 53, -(2 ** 53), 2 ** 53 - 1, 2 ** 63, -(2 ** 63), 1e308, 5e-324, -5e-324, Number.MAX_VALUE, Number.MIN_VALUE, Infinity, -Infinity, NaN, 2 ** 31, -(2 ** 31), 2 ** 32, 0.1, 1 / 3, 123456789012345680000];
  const big = [2n ** 53n + 1n, -(2n ** 63n), 2n ** 63n - 1n, -(2n ** 53n) - 1n];
  const cps = [0x0, 0x41, 0x7f, 0x80, 0xff, 0x100, 0x7ff, 0x800, 0xfeff, 0xfffd, 0xffff, 0xfffe, 0x10000, 0x1f600, 0x10ffff, 0xe000, 0x2028, 0x85];
  const str = () => { let t = ""; const n = Math.floor(rnd() * 6); for (let i = 0; i < n; i++) t += rnd() < 0.03 ? String.fromCharCode(pick([0xd800, 0xdc00, 0xdbff])) : String.fromCodePoint(pick(cps)); return t; };
  const bytes = () => { const n = 1 + Math.floor(rnd() * 5); const u = new Uint8Array(n); for (let i = 0; i < n; i++) u[i] = pick([0, 0x80, 0xff, 0xc0, 0xed, 0xa0, 0xf0, 0x61, 0xe2]); return u; };
  const key = (): unknown => pick([() => str(), () => bytes(), () => pick([NaN, -0, 1.5, 2 ** 63, -(2 ** 63), 1e300]), () => pick(nums.filter((x) => !Number.isNaN(x))), () => pick([true, false]), () => pick(big), () => Math.floor(rnd() * 4) + 1])();
  const val = (d: number): unknown => {
    const k = Math.floor(rnd() * (d > 0 ? 9 : 5));
    switch (k) {
      case 0: return pick(nums);
      case 1: return str();
      case 2: return bytes();
      case 3: return pick([true, false]);
      case 4: return rnd() < 0.1 ? pick([null, undefined, 2n ** 64n, new Date(0), Symbol("s")]) : pick(big);
      case 5: case 6: { const n = Math.floor(rnd() * 4); return Array.from({ length: n }, () => val(d - 1)); }
      case 7: { const o: Record<string, unknown> = {}; const n = Math.floor(rnd() * 4); for (let i = 0; i < n; i++) o[str()] = val(d - 1); return o; }
      default: { const m = new Map(); const n = Math.floor(rnd() * 4); for (let i = 0; i < n; i++) m.set(key(), val(d - 1)); return m; }
    }
  };
  return () => (rnd() < 0.05 ? deep(95 + Math.floor(rnd() * 10), val(1)) : val(3));
}
const show = (v: unknown): string => { try { return Deno_inspect(v); } catch { return String(v); } };
function Deno_inspect(v: unknown): string { const g = globalThis as any; if (g.Deno) return g.Deno.inspect(v, { depth: 10 }); return require("node:util").inspect(v, { depth: 10 }); }

const utf8 = (u: Uint8Array): string | undefined => { try { return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(u); } catch { return undefined; } };
function canon(v: unknown, js = false): unknown {
  if (v === undefined) return null;
  if (v instanceof Uint8Array) { const s = utf8(v); return s ?? v; }
  if (Array.isArray(v)) return v.map((x) => canon(x, js));
  if (v instanceof Map) {
    const es = [...v].map(([k, x]) => [js && typeof k !== "string" && !(k instanceof Uint8Array) ? String(Object.is(k, -0) ? 0 : k) : canon(k, js), canon(x, js)] as [unknown, unknown]);
    if (es.every(([k]) => typeof k === "string")) return Object.fromEntries(es);
    return new Map(es);
  }
  if (typeof v === "bigint" && v >= -(2n ** 53n) && v <= 2n ** 53n) return Number(v);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, canon(x, js)]));
  return v;
}
const engines = ["lua", "js", "squirrel"] as const;
for (const thread of modes) {
  test(`strict random values (${where(thread)}): identical or CalogValueError through every pair`, () => {
    using rt = new Runtime({ output: "ignore" });
    rt.register("hid", (x: unknown) => x);
    const cx = Object.fromEntries(engines.map((e) => { const c = rt.createContext(e, { thread }); c.eval(idSource[e]); c.eval(e === "lua" ? "function via(g, x) return g(x) end function viah(x) return hid(x) end" : e === "js" ? "function via(g, x) { return g(x) } function viah(x) { return hid(x) }" : "function via(g, x) { return g(x) } function viah(x) { return ::hid(x) }"); return [e, c]; })) as Record<string, any>;
    const fns = Object.fromEntries(engines.map((e) => [e, cx[e].getFunction("id")]));
    const bad: string[] = [];
    const counts = { same: 0, refused: 0 };
    const N = Number((globalThis as any).process?.env?.N56 ?? 200);
    for (let seed = 1; seed <= N; seed++) {
      const v = mk(seed)();
      for (const a of engines) for (const b of engines) {
        for (const how of ["hop", "via", "host"]) {
          let r: unknown;
          try {
            r = how === "hop" ? cx[b].call("id", cx[a].call("id", v)) : how === "via" ? cx[a].call("via", fns[b], v) : cx[b].call("viah", cx[a].call("viah", v));
          } catch (e) {
            if (e instanceof CalogValueError) { counts.refused++; continue; }
            if (how === "via" && /beyond \+-2\^53|cannot be a JS property name|would become an integer key|cannot|refus|lone surrogate|nil|NaN|same|one key|one property/.test(String(e))) { counts.refused++; continue; } bad.push(`seed=${seed} ${a}->${b} ${how}: threw ${e}`); continue;
          }
          try { assert.deepStrictEqual(r, canon(v, a === "js" || b === "js")); counts.same++; }
          catch { bad.push(`seed=${seed} ${a}->${b} ${how}: ${show(v)} => ${show(r)}`); }
        }
      }
    }
    console.log(JSON.stringify(counts), bad.length);
    for (const x of bad.slice(0, 40)) console.log(x);
    assert.equal(bad.length, 0);
    for (const c of Object.values(cx)) c.dispose();
  }, 300_000);
}

test("random nested sources on host-thread contexts: a value or a named CalogError, in a child process", async () => {
  for (const seed of [3, 21]) {
    const r = await runChild(new URL("./hostile56b_child.ts", import.meta.url), [String(seed), "6"], 120_000);
    assert.equal(r.code, 0, r.out);
    assert.doesNotMatch(r.out, /NONCALOG|SLOW|DEADCTX/, r.out);
    assert.match(r.out, /STATS/, r.out);
  }
}, 300_000);
