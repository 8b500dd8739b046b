/**
 * Threaded crossings measured per call (bench/run.ts runs this; `bun bench/threaded.ts` runs it alone):
 *   - a Lua loop on an own-thread context calling a TypeScript host function: the time between two
 *     consecutive host calls, read on the JS thread (one full crossing: reply, one Lua iteration, next call),
 *     with the JS thread blocked in the call (`f(n)`) and with it free (`await f.callAsync(n)`);
 *   - the same own-thread calls in their blocking and their Promise form, per call.
 * @module
 */
import type { Runtime, ScriptFunction } from "../bindings/mod.ts";

export interface Dist {
  median_ns: number;
  p90_ns: number;
  p99_ns: number;
  max_ns: number;
  n: number;
}
export interface ThreadedRow {
  name: string;
  what: string;
  dist: Dist;
}
/** CPU time the whole process used while calog had nothing to do, per second of wall time. */
export interface IdleRow {
  name: string;
  what: string;
  cpuMsPerSec: number;
}

function dist(xs: Float64Array | number[]): Dist {
  const s = Float64Array.from(xs).sort();
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]! * 1e6;
  return { median_ns: q(0.5), p90_ns: q(0.9), p99_ns: q(0.99), max_ns: s[s.length - 1]! * 1e6, n: s.length };
}

const LUA = `
function loopHost(n) local s = 0 for i = 1, n do s = s + hoststamp(i) end return s end
function add(a, b) return a + b end
function callHost(x) return hoststamp(x) end
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Process CPU while idle: nothing pending, and a threaded script waiting on an async host function. */
export async function idleRows(calog: Runtime, quick: boolean, log: (s: string) => void): Promise<IdleRow[]> {
  const ms = quick ? 300 : 2000;
  const ctx = calog.createContext("lua", { thread: true });
  calog.register("later", (t) => new Promise((r) => setTimeout(() => r(t), t as number)));
  await ctx.eval("function waitHost(t) return later(t) end", { chunkName: "idle.lua" });
  await sleep(100);
  const rows: IdleRow[] = [];
  let c0 = cpuMs(), t0 = performance.now();
  await sleep(ms);
  rows.push({ name: "idle", what: "a runtime with an own-thread context, nothing pending", cpuMsPerSec: (cpuMs() - c0) / (performance.now() - t0) * 1000 });
  const f = ctx.getFunction("waitHost");
  c0 = cpuMs(), t0 = performance.now();
  if ((await f.callAsync(ms)) !== ms) throw new Error("waitHost: wrong result");
  rows.push({ name: "waiting", what: "`await f.callAsync()` pending while its script waits on an async host function", cpuMsPerSec: (cpuMs() - c0) / (performance.now() - t0) * 1000 });
  f.dispose();
  ctx.dispose();
  calog.unregister("later");
  for (const r of rows) log(`  idle CPU, ${r.name.padEnd(8)} ${r.cpuMsPerSec.toFixed(2)} ms CPU per s (${r.what})`);
  return rows;
}

/** Per-call figures on one own-thread Lua context of `calog`. */
export async function threadedRows(calog: Runtime, quick: boolean, log: (s: string) => void): Promise<ThreadedRow[]> {
  const N = 1000, ROUNDS = quick ? 5 : 60;
  const stamps = new Float64Array(N);
  let k = 0;
  calog.register("hoststamp", (x) => {
    if (k < N) stamps[k++] = performance.now();
    return (x as number) + 1;
  });
  const ctx = calog.createContext("lua", { thread: true });
  await ctx.eval(LUA, { chunkName: "threaded.lua" });
  const loop: ScriptFunction = ctx.getFunction("loopHost");
  const add: ScriptFunction = ctx.getFunction("add");
  const callHost: ScriptFunction = ctx.getFunction("callHost");
  const rows: ThreadedRow[] = [];
  const hostRow = async (name: string, what: string, run: () => unknown) => {
    const gaps: number[] = [];
    for (let r = 0; r < ROUNDS + 2; r++) {
      k = 0;
      const v = await run();
      if (v !== (N * (N + 1)) / 2 + N) throw new Error(`${name}: wrong sum ${String(v)}`);
      if (r < 2) continue; // warm-up
      for (let i = 1; i < N; i++) gaps.push(stamps[i]! - stamps[i - 1]!);
    }
    rows.push({ name, what, dist: dist(gaps) });
  };
  await hostRow("host-blocking", "Lua → JS host call, own-thread context, JS thread blocked in `f(1000)`", () => loop(N));
  await hostRow("host-async", "Lua → JS host call, own-thread context, JS thread free (`await f.callAsync(1000)`)", () => loop.callAsync(N));
  const callRow = async (name: string, what: string, run: () => unknown, want: unknown) => {
    const M = quick ? 2000 : 20000;
    const t = new Float64Array(M);
    for (let i = 0; i < 200; i++) await run();
    for (let i = 0; i < M; i++) {
      const t0 = performance.now();
      const v = await run();
      t[i] = performance.now() - t0;
      if (v !== want) throw new Error(`${name}: got ${String(v)}`);
    }
    rows.push({ name, what, dist: dist(t) });
  };
  await callRow("add-blocking", "`f(1, 2)` blocking, own-thread context", () => add(1, 2), 3);
  await callRow("add-async", "`await f.callAsync(1, 2)`, own-thread context", () => add.callAsync(1, 2), 3);
  await callRow("callhost-blocking", "`f(5)` blocking, Lua calls one host function (JS → Lua → JS → Lua → JS)", () => callHost(5), 6);
  await callRow("callhost-async", "`await f.callAsync(5)`, Lua calls one host function", () => callHost.callAsync(5), 6);
  ctx.dispose();
  calog.unregister("hoststamp");
  for (const r of rows) {
    const f = (ns: number) => ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(0)} ns`;
    log(`  ${r.name.padEnd(18)} median ${f(r.dist.median_ns).padStart(10)}  p90 ${f(r.dist.p90_ns).padStart(10)}  p99 ${f(r.dist.p99_ns).padStart(10)}  max ${f(r.dist.max_ns).padStart(10)}`);
  }
  return rows;
}

if (import.meta.main) {
  const { Runtime } = await import("../bindings/mod.ts");
  const rt = new Runtime();
  await threadedRows(rt, process.env.CALOG_BENCH_QUICK === "1", console.log);
  await idleRows(rt, process.env.CALOG_BENCH_QUICK === "1", console.log);
  rt.dispose();
}

// ---- report (bench/report.ts renders these from bench/out/<runtime>.json) ------------------------------
// deno-lint-ignore no-explicit-any
type Run = any;
interface CaseRowLike {
  impl: string;
  api: string;
  status: string;
  median_ns?: number;
}

const us = (ns: number) => (ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(0)} ns`);
const verdict = (met: boolean) => (met ? "**met**" : "**not met**");
const threadedOf = (r: Run, name: string): ThreadedRow | undefined => (r.threaded?.rows as ThreadedRow[] | undefined)?.find((k) => k.name === name);

/** Targets cell: a Lua loop's host calls from an own-thread context, `form` = "blocking" | "async". */
export function hostCallCell(form: "blocking" | "async"): (r: Run) => string {
  return (r) => {
    const t = threadedOf(r, `host-${form}`);
    if (!t) return "not measured in this run";
    const d = t.dist;
    return `${verdict(d.median_ns <= 3000 && d.p99_ns <= 30000)}: median ${us(d.median_ns)}, p99 ${us(d.p99_ns)}`;
  };
}

/** The own-thread blocking and Promise-form rows of every tinybench case that has both, and their ratio. */
function asyncRatios(r: Run): Array<{ what: string; ratio: number }> {
  const out: Array<{ what: string; ratio: number }> = [];
  for (const c of (r.cases ?? []) as Array<{ id: string; rows: CaseRowLike[] }>) {
    const own = c.rows.filter((k) => k.impl.includes("own thread") && k.status === "ok");
    const b = own.find((k) => k.api.includes("blocking")), a = own.find((k) => k.api.includes("callAsync"));
    if (b && a) out.push({ what: `(${c.id}) ${us(a.median_ns!)} vs ${us(b.median_ns!)}`, ratio: a.median_ns! / b.median_ns! });
  }
  for (const [what, an, bn] of [["add, per call", "add-async", "add-blocking"], ["host call round trip", "callhost-async", "callhost-blocking"], ["Lua loop, per host call", "host-async", "host-blocking"]]) {
    const a = threadedOf(r, an!), b = threadedOf(r, bn!);
    if (a && b) out.push({ what: `(${what}) ${us(a.dist.median_ns)} vs ${us(b.dist.median_ns)}`, ratio: a.dist.median_ns / b.dist.median_ns });
  }
  return out;
}

/** Targets cell: the Promise form within ×1.5 of the blocking form, in every case. */
export function asyncVsBlockingCell(r: Run): string {
  const rs = asyncRatios(r);
  if (rs.length === 0) return "not measured in this run";
  const worst = Math.max(...rs.map((k) => k.ratio));
  return `${verdict(worst <= 1.5)}: worst ×${worst.toFixed(2)}; ${rs.map((k) => `×${k.ratio.toFixed(2)} ${k.what}`).join("; ")}`;
}

/** The per-runtime section: per-call distributions and idle CPU. */
export function threadedSection(r: Run): string {
  const t = r.threaded;
  if (!t) return "*not measured in this run*";
  const lines = [
    `Each figure is per call, from single-call timings (not batch means): the host-call rows are the time between two consecutive`,
    `calls of a TypeScript host function by a Lua loop of 1,000 calls on an own-thread context, read with \`performance.now()\` on the`,
    `JS thread (one full crossing each way plus one Lua iteration); the other rows time each awaited or blocking call.`,
    ``,
    `| case | median | p90 | p99 | max | calls |`,
    `|---|---:|---:|---:|---:|---:|`,
  ];
  for (const k of t.rows as ThreadedRow[]) {
    const d = k.dist;
    lines.push(`| ${k.what} | ${us(d.median_ns)} | ${us(d.p90_ns)} | ${us(d.p99_ns)} | ${us(d.max_ns)} | ${d.n} |`);
  }
  if (Array.isArray(t.idle) && t.idle.length) {
    lines.push(``, `| idle (process CPU per second of wall time, everything the runtime does included) | CPU |`, `|---|---:|`);
    for (const k of t.idle as IdleRow[]) lines.push(`| ${k.what} | ${k.cpuMsPerSec.toFixed(2)} ms/s |`);
  }
  return lines.join("\n");
}
