/**
 * calog crossing benchmarks: calog against what users pick today, side by side, in one run.
 *
 *   npm run bench      (Bun, then Deno)          deno task bench   (Deno only)
 *
 * Runs every case of bench/cases.ts under the current runtime, then fib(30) against a standalone Lua,
 * the network section (bench/net.ts), the C-only broker microbenchmark (zig-out/bin/broker_bench) and the
 * memory children (bench/memory.ts);
 * writes bench/out/<runtime>.json and regenerates bench/RESULTS.md from every bench/out/*.json.
 * Needs `zig build bench` first (the package.json / deno.json tasks do it).
 * @module
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { calog, cases, closePeers, freshLuaContext, LUA_SRC, NESTED, prepareFengari, prepareQuickJS, prepareThreaded, prepareWasmoon } from "./cases.ts";
import { type CaseResult, fmtNs, QUICK, runCase } from "./measure.ts";
import { runNet } from "./net.ts";
import { childCommand, type Floor, openFloor, runtimeName, runtimeVersion } from "./platform.ts";
import { writeReport } from "./report.ts";

const ROOT = decodeURIComponent(new URL("../", import.meta.url).pathname);
const OUT = `${ROOT}bench/out/`;
const BIN = `${ROOT}zig-out/bin/`;
const LIB = `${ROOT}zig-out/lib`;
const started = performance.now();
const log = (s: string) => console.log(s);

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: "utf8" });
  return r.status === 0 ? String(r.stdout).trim() : "";
}
function loadavg(): string {
  return os.loadavg().map((l) => l.toFixed(2)).join(" ");
}
function cpuModel(): string {
  const c = os.cpus()[0];
  return c ? `${c.model.trim()}${c.speed ? ` (${c.speed} MHz reported)` : ""}` : "?";
}
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The nested value as a Lua constructor, for broker_bench (the same value the TS cases send). */
function toLua(v: unknown): string {
  if (v === null || v === undefined) return "nil";
  if (Array.isArray(v)) return `{${v.map(toLua).join(", ")}}`;
  switch (typeof v) {
    case "number": return Number.isInteger(v) ? String(v) : String(v).includes(".") || String(v).includes("e") ? String(v) : `${v}.0`;
    case "string": return JSON.stringify(v);
    case "boolean": return String(v);
    case "object": return `{${Object.entries(v).map(([k, x]) => `[${JSON.stringify(k)}] = ${toLua(x)}`).join(", ")}}`;
  }
  throw new Error(`toLua: ${typeof v}`);
}

// ---- header -------------------------------------------------------------------------------------------
const meta = {
  runtime: runtimeName,
  runtimeVersion: runtimeVersion(),
  date: new Date().toISOString(),
  commit: sh("git", ["rev-parse", "--short=12", "HEAD"]) || "?",
  // code changes only: the report's output and its hand-written prose do not change what is measured
  dirty: sh("git", ["status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/RESULTS.md", ":!bench/ANALYSIS.md"]) !== "",
  cpu: cpuModel(),
  cores: os.cpus().length,
  kernel: os.release(),
  loadStart: loadavg(),
  loadEnd: "",
  durationSec: 0,
};
log(`calog bench under ${meta.runtimeVersion}, commit ${meta.commit}${meta.dirty ? " (uncommitted changes)" : ""}`);
log(`${meta.cpu}, ${meta.cores} cores, load ${meta.loadStart}`);

// ---- the cases -----------------------------------------------------------------------------------------
let floor: Floor | Error;
try {
  floor = await openFloor(LIB, LUA_SRC);
} catch (e) {
  floor = new Error(`floor library missing (run \`zig build bench\`): ${(e as Error).message}`);
}
await prepareWasmoon();
prepareFengari();
await prepareQuickJS();
await prepareThreaded();

const ffiName = runtimeName === "bun" ? "bun:ffi" : "Deno.dlopen";
const cbName = runtimeName === "bun" ? "bun:ffi JSCallback" : "Deno.UnsafeCallback";
const results: CaseResult[] = [];
for (const c of cases(floor, ffiName, cbName)) {
  log(`\n${c.title}`);
  results.push(await runCase(c, log));
}

// ---- fib(30): calog vs the standalone interpreter, interleaved ------------------------------------------
// Both sides time fib(30) with the same Lua code: on-CPU time of the running thread from
// /proc/thread-self/schedstat (what the machine's other load cannot inflate, unlike wall time).
interface FibCompare {
  status: "ok" | "n/a";
  note?: string;
  rounds?: number;
  clock?: string;
  standaloneMs?: number[];
  calogMs?: number[];
}
function fibVsStandalone(): FibCompare {
  const exe = `${BIN}lua-standalone`, script = `${ROOT}bench/fib.lua`;
  if (!existsSync(exe)) return { status: "n/a", note: "zig-out/bin/lua-standalone missing: run `zig build bench`" };
  const src = readFileSync(script, "utf8");
  const chunk = src.slice(src.indexOf("local function oncpu"), src.indexOf("function fib")) +
    "local t0 = oncpu() local r = fib(30) local dt = oncpu() - t0 assert(r == 832040) return dt / 1e6";
  // A fresh context per round, as the standalone is a fresh process per round: Lua seeds its string hash
  // per state, and where "fib" lands in the globals table moves the cost of fib's global lookups by a
  // few percent. Fresh states on both sides sample that the same way.
  const calogRun = (): number => {
    const ctx = freshLuaContext();
    try {
      return ctx.eval(chunk, { chunkName: "fib.lua" }) as number;
    } finally {
      ctx.dispose();
    }
  };
  const standaloneRun = (): number => {
    const r = spawnSync(exe, [script, "1"], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`lua-standalone failed: ${r.stderr}`);
    return Number(String(r.stdout).trim());
  };
  calogRun();
  standaloneRun();
  // asked from Lua: Deno's permissions would want --allow-all for a /proc path
  const probe = freshLuaContext();
  const schedstat = probe.eval(`local f = io.open("/proc/thread-self/schedstat") if f then f:close() end return f ~= nil`) === true;
  probe.dispose();
  const s: number[] = [], c: number[] = [];
  const ROUNDS = QUICK ? 4 : 40;
  for (let i = 0; i < ROUNDS; i++) {
    s.push(standaloneRun());
    c.push(calogRun());
  }
  return {
    status: "ok",
    rounds: ROUNDS,
    clock: schedstat ? "on-CPU time of the thread (/proc/thread-self/schedstat)" : "os.clock()",
    standaloneMs: s,
    calogMs: c,
  };
}
log("\nfib(30): calog vs standalone Lua (interleaved)");
const fibCompare = fibVsStandalone();
if (fibCompare.status === "ok") {
  log(`  standalone ${median(fibCompare.standaloneMs!).toFixed(2)} ms, calog ${median(fibCompare.calogMs!).toFixed(2)} ms (medians, ${fibCompare.clock})`);
} else log(`  ${fibCompare.note}`);
// ---- limits that are set but not reached: fib(30) with and without them, per engine, interleaved ---------
// Both contexts run on the JS thread (no thread hop in the figure); each round times one fib(30) call in a
// context without limits and one in a context with memory, steps and timeoutMs all set far above what fib needs.
interface LimitsCostRow {
  engine: string;
  rounds: number;
  plainMs: number[];
  limitedMs: number[];
}
const FIB_SRC: Record<string, string> = {
  lua: "function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end",
  js: "function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2) }",
  squirrel: "function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2) }",
};
const FAR_LIMITS = { memory: 1 << 30, steps: 1e15, timeoutMs: 3_600_000 };
function limitsCost(): LimitsCostRow[] {
  const rows: LimitsCostRow[] = [];
  const ROUNDS = QUICK ? 2 : 10;
  for (const engine of ["lua", "js", "squirrel"] as const) {
    const plain = calog.createContext(engine, { thread: false });
    const limited = calog.createContext(engine, { thread: false, limits: FAR_LIMITS });
    const time = (ctx: typeof plain): number => {
      const t0 = performance.now();
      if (ctx.call("fib", 30) !== 832040) throw new Error(`${engine}: fib(30) is wrong`);
      return performance.now() - t0;
    };
    try {
      for (const c of [plain, limited]) c.eval(FIB_SRC[engine]!), time(c); // warm-up
      const row: LimitsCostRow = { engine, rounds: ROUNDS, plainMs: [], limitedMs: [] };
      for (let i = 0; i < ROUNDS; i++) {
        // alternate which goes first, so drift in the machine's load falls on both sides
        if (i % 2) row.limitedMs.push(time(limited)), row.plainMs.push(time(plain));
        else row.plainMs.push(time(plain)), row.limitedMs.push(time(limited));
      }
      rows.push(row);
      const p = median(row.plainMs), l = median(row.limitedMs);
      log(`  ${engine.padEnd(9)} no limits ${p.toFixed(1)} ms, limits set ${l.toFixed(1)} ms: ${((l / p - 1) * 100).toFixed(1)}%`);
    } finally {
      plain.dispose();
      limited.dispose();
    }
  }
  return rows;
}
log("\nfib(30) with memory, steps and timeoutMs set but not reached (host-thread contexts, interleaved)");
const limitsCostRows = limitsCost();

closePeers();
if (!(floor instanceof Error)) floor.close();

// ---- the network: calog's sockets vs the runtime's own, over loopback (bench/net.ts) -------------------------
log("\nnetwork: loopback echo and bulk, calog Lua vs the runtime's own sockets (medians over the rounds)");
const net = await runNet(log);
if (net.status !== "ok") log(`  ${net.note}`);

// ---- the C broker microbenchmark ----------------------------------------------------------------------
interface CRow {
  name: string;
  what: string;
  median_ns: number;
  p99_ns: number;
  min_ns: number;
  batch: number;
  samples: number;
}
const cRows: CRow[] = [];
let cNote = "";
let nestedWireBytes = 0;
{
  mkdirSync(OUT, { recursive: true });
  writeFileSync(`${OUT}nested.lua`, `return ${toLua(NESTED)}\n`);
  const exe = `${BIN}broker_bench`;
  if (!existsSync(exe)) {
    cNote = "zig-out/bin/broker_bench missing: run `zig build bench`";
  } else {
    log("\nC broker microbenchmark (zig-out/bin/broker_bench)");
    const r = spawnSync(exe, ["--json", "--nested", `${OUT}nested.lua`], { encoding: "utf8" });
    for (const line of String(r.stdout).split("\n")) {
      if (!line.startsWith("{")) continue;
      const j = JSON.parse(line);
      if (j.info === "nested_wire_bytes") nestedWireBytes = j.value;
      else cRows.push(j as CRow);
    }
    if (r.status !== 0) cNote = `broker_bench exited with ${r.status}: ${String(r.stderr).trim()}`;
    for (const c of cRows) log(`  ${c.name.padEnd(28)} ${fmtNs(c.median_ns).padStart(10)}  p99 ${fmtNs(c.p99_ns).padStart(10)}`);
    if (cNote) log(`  ${cNote}`);
  }
}

// ---- memory: idle contexts, each mode in a fresh process ------------------------------------------------
interface MemRow {
  mode: string;
  status: "ok" | "n/a" | "error";
  note?: string;
  n?: number;
  rssPerContext?: number;
  enginePerContext?: number;
  rssBefore?: number;
  rssAfter?: number;
  rssAfterDispose?: number;
}
const memory: MemRow[] = [];
log("\nmemory: 1,000 idle contexts per fresh process");
for (const mode of ["calog-lua", "calog-lua-thread", "calog-js", "calog-squirrel", "wasmoon", "fengari", "quickjs"]) {
  const [cmd, args] = childCommand("./memory.ts", [mode, "1000"]);
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: "utf8" });
  const line = String(r.stdout).trim().split("\n").filter((l) => l.startsWith("{")).pop();
  const row: MemRow = line ? JSON.parse(line) : { mode, status: "error", note: `exit ${r.status}: ${String(r.stderr).trim().slice(-300)}` };
  memory.push(row);
  log(`  ${mode.padEnd(18)} ${row.status === "ok" ? `${(row.rssPerContext! / 1024).toFixed(1)} KB RSS / context` : `${row.status}: ${row.note}`}`);
}

// ---- write --------------------------------------------------------------------------------------------
meta.loadEnd = loadavg();
meta.durationSec = Math.round((performance.now() - started) / 1000);
const out = { meta, cases: results, fibCompare, limitsCost: limitsCostRows, c: { rows: cRows, note: cNote, nestedWireBytes }, memory, net };
mkdirSync(OUT, { recursive: true });
writeFileSync(`${OUT}${runtimeName}.json`, JSON.stringify(out, null, 2) + "\n");
const written = writeReport(OUT, `${ROOT}bench/RESULTS.md`);
log(`\nwrote bench/out/${runtimeName}.json and ${written} (${meta.durationSec} s, load ${meta.loadEnd})`);
