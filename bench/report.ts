/**
 * Renders bench/RESULTS.md from every bench/out/<runtime>.json (written by bench/run.ts), plus the
 * hand-written profile notes in bench/ANALYSIS.md. Every ratio is computed from medians of one runtime's
 * one run: a Bun figure is never divided by a Deno figure, nor by a figure from another run.
 *   <runtime> bench/report.ts        re-renders without measuring
 * @module
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { type CaseResult, fmtNs, ROUNDS, type RowResult } from "./measure.ts";
import { netSection, netTargetRows } from "./net_report.ts";

// deno-lint-ignore no-explicit-any
type Run = any;

const KB = 1024;
const x = (r: number) => `×${r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toFixed(2)}`;
const ops = (n: number) =>
  n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : n >= 10 ? n.toFixed(0) : n.toFixed(2);
const pct = (v: number) => `${v >= 0 ? "+" : ""}${(v * 100).toFixed(1)}%`;
function quantileOf(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const pos = q * (s.length - 1), lo = Math.floor(pos);
  return lo + 1 >= s.length ? s[s.length - 1]! : s[lo]! + (s[lo + 1]! - s[lo]!) * (pos - lo);
}
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
const ok = (met: boolean | undefined) => met === undefined ? "not measurable yet" : met ? "**met**" : "**not met**";

function primaries(c: CaseResult): RowResult[] {
  return c.rows.filter((r) => r.primary && r.status === "ok");
}
function row(run: Run, caseId: string, pred: (r: RowResult) => boolean): RowResult | undefined {
  const c = (run.cases as CaseResult[]).find((k) => k.id === caseId);
  return c?.rows.find(pred);
}
const primaryOf = (run: Run, id: string) => row(run, id, (r) => r.primary && r.impl.includes("Lua"));
const peerOf = (run: Run, id: string, name: string) => row(run, id, (r) => r.role === "peer" && r.impl.startsWith(name));
const speedup = (run: Run, id: string, peer: string): number | undefined => {
  const c = primaryOf(run, id), p = peerOf(run, id, peer);
  return c?.status === "ok" && p?.status === "ok" ? p.median_ns! / c.median_ns! : undefined;
};

function caseTable(c: CaseResult): string {
  const prim = primaries(c);
  const lines = [
    `| implementation | API | median | p99 | ops/s | calog speedup (peer median / calog median) | samples × batch |`,
    `|---|---|---:|---:|---:|---|---:|`,
  ];
  for (const r of c.rows) {
    if (r.status !== "ok") {
      lines.push(`| ${r.impl} | \`${r.api}\` | ${r.status === "n/a" ? "*not available yet*" : "*error*"} | | | ${r.note ?? ""} | |`);
      continue;
    }
    let sp = "";
    if (r.role === "peer" && prim.length) {
      sp = prim.map((p) => `**${x(r.median_ns! / p.median_ns!)}**${prim.length > 1 ? ` (${p.impl.replace(/ \(.*/, "")})` : ""}`).join(", ");
    } else if (r.role === "calog" && !r.primary && prim.length && prim[0]!.impl === r.impl) {
      sp = `${x(r.median_ns! / prim[0]!.median_ns!)} the time of \`getFunction\``;
    } else if (r.primary) sp = "(reference)";
    lines.push(
      `| ${r.impl} | \`${r.api}\` | ${fmtNs(r.median_ns!)} | ${fmtNs(r.p99_ns!)} | ${ops(r.ops_s!)} | ${sp} | ${r.samples} × ${r.batch}${
        r.units > 1 ? ` × ${r.units}` : ""
      } |`,
    );
  }
  return lines.join("\n");
}

function cFigure(run: Run, name: string): number | undefined {
  return (run.c?.rows as Array<{ name: string; median_ns: number }> | undefined)?.find((r) => r.name === name)?.median_ns;
}

function layers(run: Run): string {
  const ffi = row(run, "floor", (r) => r.api.startsWith("calogBenchNoop4"))?.median_ns;
  const cb = row(run, "floor", (r) => r.role === "floor" && r.units > 1)?.median_ns;
  const full = primaryOf(run, "js_to_lua_add")?.median_ns;
  const fullCall = row(run, "js_to_lua_add", (r) => r.api.startsWith("ctx.call"))?.median_ns;
  const loop = primaryOf(run, "lua_to_js_loop")?.median_ns;
  const rawRef = cFigure(run, "lua.raw_pcall_ref"), inv = cFigure(run, "broker.fn_invoke"), fnw = cFigure(run, "wire.fn_call_wire");
  const rawG = cFigure(run, "lua.raw_pcall_global"), cc = cFigure(run, "broker.context_call"), cw = cFigure(run, "wire.call_wire");
  const rtName = run.meta.runtime === "bun" ? "Bun" : "Deno";
  const rawAdd = row(run, "js_to_lua_add", (r) => r.role === "floor")?.median_ns;
  const rawLoop = row(run, "lua_to_js_loop", (r) => r.role === "floor")?.median_ns;
  const rawC = cFigure(run, "lua_to_c.raw_cfunction"), nat = cFigure(run, "lua_to_c.native"), host = cFigure(run, "lua_to_c.host_trampoline");
  const ns = (v: number | undefined) => (v === undefined ? "—" : fmtNs(v));
  const d = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? "—" : `+${fmtNs(a - b)}`);
  return [
    `C layers are from broker_bench (no JS runtime in that process); the TS rows from this ${rtName} run.`,
    ``,
    `JS → Lua \`add(1, 2)\` through a held ScriptFunction (\`getFunction\`):`,
    ``,
    `| layer | cumulative median | this layer adds |`,
    `|---|---:|---:|`,
    `| physical limit, Lua side: raw \`lua_rawgeti\` + 2 pushes + \`lua_pcall\` (C, no broker) | ${ns(rawRef)} | ${ns(rawRef)} |`,
    `| broker: \`calogFnInvoke\` (hold/unhold, msgHandler + runner pcall, ingress/egress of values) | ${ns(inv)} | ${d(inv, rawRef)} |`,
    `| wire: \`calogFnCallWire\` (decode args from IN, encode the result into OUT, handle lookup) | ${ns(fnw)} | ${d(fnw, inv)} |`,
    `| FFI: the same called from ${rtName} with the thinnest TS (bench/rawcalog.ts: hand-encoded request, read the I32) | ${ns(rawAdd)} | ${d(rawAdd, fnw)} (a no-op FFI call with this signature: ${ns(ffi)}) |`,
    `| **everything, from ${rtName}**: \`f(1, 2)\` through calog's API | **${ns(full)}** | ${d(full, rawAdd)} calog's TS layer (src/) |`,
    ``,
    `The same through \`ctx.call("add", 1, 2)\`: raw \`lua_getglobal\` + \`lua_pcall\` ${ns(rawG)} → \`calogContextCall\` ${ns(cc)} → \`calogCallWire\` ${ns(cw)} → from ${run.meta.runtime === "bun" ? "Bun" : "Deno"} ${ns(fullCall)}.`,
    ``,
    `Lua → JS, per call in a Lua loop (each figure includes the loop iteration and an addition):`,
    ``,
    `| layer | cumulative median | this layer adds |`,
    `|---|---:|---:|`,
    `| physical limit, Lua side: a plain \`lua_CFunction\` (C, no broker) | ${ns(rawC)} | ${ns(rawC)} |`,
    `| broker: a calog C native (Lua trampoline, ingress of args, egress of the result) | ${ns(nat)} | ${d(nat, rawC)} |`,
    `| wire: the host trampoline with a C stub host (args encoded into OUT, result decoded from IN) | ${ns(host)} | ${d(host, nat)} |`,
    `| callback: the same with a ${run.meta.runtime === "bun" ? "JSCallback" : "Deno.UnsafeCallback"} host of the thinnest TS (bench/rawcalog.ts) | ${ns(rawLoop)} | ${d(rawLoop, host)} (a bare callback from C: ${ns(cb)}) |`,
    `| **everything, from ${rtName}**: Lua calls the function registered with \`rt.register\` | **${ns(loop)}** | ${d(loop, rawLoop)} calog's TS layer (src/) |`,
  ].join("\n");
}

function targets(runs: Run[]): string {
  const head = `| target | goal | ${runs.map((r) => r.meta.runtimeVersion.replace(/ \(.*/, "")).join(" | ")} |`;
  const sep = `|---|---|${runs.map(() => "---|").join("")}`;
  const line = (name: string, goal: string, cell: (r: Run) => string) => `| ${name} | ${goal} | ${runs.map(cell).join(" | ")} |`;
  const ratioCell = (id: string, min: number) => (r: Run) => {
    const s = speedup(r, id, "wasmoon");
    return s === undefined ? "not measurable" : `${ok(s >= min)}: ${x(s)} (calog ${fmtNs(primaryOf(r, id)!.median_ns!)} vs wasmoon ${fmtNs(peerOf(r, id, "wasmoon")!.median_ns!)})`;
  };
  const fibCell = (r: Run) => {
    const f = r.fibCompare;
    if (!f || f.status !== "ok" || !Array.isArray(f.calogMs)) return `not measurable: ${f?.note ?? "no data"}`;
    const rel = median(f.calogMs) / median(f.standaloneMs) - 1;
    return `${ok(rel <= 0.05)}: ${pct(rel)} (calog ${median(f.calogMs).toFixed(1)} ms vs standalone ${median(f.standaloneMs).toFixed(1)} ms on-CPU, medians)`;
  };
  const limitsCell = (engine: string) => (r: Run) => {
    const rows = (r as { limitsCost?: { engine: string; plainMs: number[]; limitedMs: number[] }[] }).limitsCost;
    const k = Array.isArray(rows) ? rows.find((x) => x.engine === engine) : undefined;
    if (!k) return "not measured in this run";
    const rel = median(k.limitedMs.map((l, i) => l / k.plainMs[i]!)) - 1;
    return `${ok(rel <= 0.05)}: ${pct(rel)}`;
  };
  const threadCell = (form: "blocking" | "callAsync") => (r: Run) => {
    const t = row(r, "js_to_lua_add", (k) => k.impl.includes("own thread") && k.api.includes(form));
    if (!t || t.status !== "ok") return `not available yet${t?.note ? ` (${t.note.replace(/^not available yet \(|\)$/g, "")})` : ""}`;
    return `${ok(t.median_ns! < 2000)}: ${fmtNs(t.median_ns!)}`;
  };
  const memCell = (mode: string) => (r: Run) => {
    const m = (r.memory as Array<{ mode: string; status: string; note?: string; rssPerContext?: number }>).find((k) => k.mode === mode);
    if (!m || m.status !== "ok") return `not available yet${m?.note ? ` (${m.note.replace(/^not available yet \(|\)$/g, "")})` : ""}`;
    return `${ok(m.rssPerContext! <= 300 * KB)}: ${(m.rssPerContext! / KB).toFixed(1)} KB`;
  };
  const absCell = (id: string, max: number) => (r: Run) => {
    const c = primaryOf(r, id);
    return c?.status === "ok" ? `${ok(c.median_ns! < max)}: ${fmtNs(c.median_ns!)} (p99 ${fmtNs(c.p99_ns!)})` : "not measurable";
  };
  // issue 14: against the fastest peer (fengari, Lua in pure JS), threaded host calls, the Promise form
  const fengariCell = (id: string, bunMin: number, denoMin: number) => (r: Run) => {
    const s = speedup(r, id, "fengari"), min = r.meta.runtime === "bun" ? bunMin : denoMin;
    if (s === undefined) return "not measurable";
    return `${ok(s >= min)}: ${x(s)}${bunMin !== denoMin ? ` (goal ×${min})` : ""} (calog ${fmtNs(primaryOf(r, id)!.median_ns!)} vs fengari ${fmtNs(peerOf(r, id, "fengari")!.median_ns!)})`;
  };
  const ownThread = (r: Run, id: string, form: "blocking" | "callAsync") =>
    row(r, id, (k) => k.impl.includes("own thread") && k.api.includes(form) && k.status === "ok");
  const threadedHostCell = (form: "blocking" | "callAsync") => (r: Run) => {
    const t = ownThread(r, "lua_to_js_loop", form);
    if (!t) return "not measurable";
    return `${ok(t.median_ns! <= 3000 && t.p99_ns! <= 30000)}: median ${fmtNs(t.median_ns!)}, p99 ${fmtNs(t.p99_ns!)}`;
  };
  const promiseCell = (r: Run) => {
    const parts: string[] = [];
    let worst = 0;
    for (const [id, name] of [["js_to_lua_add", "add"], ["lua_to_js_loop", "host call"], ["lua_to_js_roundtrip", "round trip"], ["nested_roundtrip", "nested"]]) {
      const b = ownThread(r, id!, "blocking"), a = ownThread(r, id!, "callAsync");
      if (!a || !b) continue;
      const q = a.median_ns! / b.median_ns!;
      worst = Math.max(worst, q);
      parts.push(`${name} ${x(q)}`);
    }
    return parts.length ? `${ok(worst <= 1.5)}: ${parts.join(", ")}` : "not measurable";
  };
  const quickjsCell = (r: Run) => {
    const c = (r.cases as CaseResult[]).find((k) => k.id === "engines_add");
    const q = c?.rows.find((k) => k.role === "peer" && k.impl.startsWith("quickjs") && k.status === "ok");
    const prim = c ? primaries(c) : [];
    if (!q || prim.length === 0) return "not measurable";
    const ss = prim.map((p) => ({ name: p.impl.startsWith("calog JavaScript") ? "JavaScript" : "Squirrel", s: q.median_ns! / p.median_ns! }));
    return `${ok(ss.every((k) => k.s >= 6))}: ${ss.map((k) => `${k.name} ${x(k.s)}`).join(", ")} (quickjs-emscripten ${fmtNs(q.median_ns!)})`;
  };
  return [
    head,
    sep,
    line("JS → Lua `add(1, 2)` vs fengari, host-thread context", "≥ ×2 (Bun), ≥ ×1.5 (Deno)", fengariCell("js_to_lua_add", 2, 1.5)),
    line("Lua → JS host call vs fengari, host-thread context", "≥ ×1.5", fengariCell("lua_to_js_loop", 1.5, 1.5)),
    line("round trip JS → Lua → JS → Lua → JS vs fengari", "≥ ×1.2", fengariCell("lua_to_js_roundtrip", 1.2, 1.2)),
    line("~1 KB nested value round trip vs fengari", "≥ ×5", fengariCell("nested_roundtrip", 5, 5)),
    line("~1 KB nested value round trip vs wasmoon", "≥ ×40", ratioCell("nested_roundtrip", 40)),
    line("Lua → JS host call from a threaded context, JS awaiting (`callAsync`)", "≤ 3 µs median, ≤ 30 µs p99", threadedHostCell("callAsync")),
    line("Lua → JS host call from a threaded context, JS blocked in the call", "≤ 3 µs median, ≤ 30 µs p99", threadedHostCell("blocking")),
    line("threaded `callAsync` / blocking call, every case (own-thread context)", "≤ ×1.5", promiseCell),
    line("JavaScript and Squirrel `add(1, 2)` vs quickjs-emscripten", "≥ ×6", quickjsCell),
    line("JS → Lua call `add(1, 2)` vs wasmoon", "≥ ×20", ratioCell("js_to_lua_add", 20)),
    line("Lua → JS call (per call, Lua loop) vs wasmoon", "≥ ×6", ratioCell("lua_to_js_loop", 6)),
    line("~1 KB nested round trip vs wasmoon", "≥ ×5", ratioCell("nested_roundtrip", 5)),
    line("fib(30) vs standalone Lua (same sources, flags)", "within 5%", fibCell),
    line("fib(30), Lua, with memory/steps/timeoutMs set vs none", "within 5%", limitsCell("lua")),
    line("fib(30), JavaScript, with memory/steps/timeoutMs set vs none", "within 5%", limitsCell("js")),
    line("fib(30), Squirrel, with memory/steps/timeoutMs set vs none", "within 5%", limitsCell("squirrel")),
    line("cross-thread round trip `add(1, 2)`, blocking (own-thread context)", "median < 2 µs", threadCell("blocking")),
    line("cross-thread round trip `add(1, 2)`, Promise form (own-thread context)", "median < 2 µs", threadCell("callAsync")),
    line("idle context, host thread (RSS, 1,000 contexts)", "≤ 300 KB", memCell("calog-lua")),
    line("idle context, own thread (RSS, 1,000 contexts)", "≤ 300 KB", memCell("calog-lua-thread")),
    line("design goal: JS → Lua `add()` latency", "< 200 ns", absCell("js_to_lua_add", 200)),
    line("design goal: Lua → JS call latency (per call)", "< 300 ns", absCell("lua_to_js_loop", 300)),
    ...netTargetRows(line),
  ].join("\n");
}

function fibSection(run: Run): string {
  const f = run.fibCompare;
  if (!f || f.status !== "ok" || !Array.isArray(f.calogMs)) return `*${f?.note ?? "no data"}*`;
  const cStatic = cFigure(run, "fib30.context_call");
  const tb = primaryOf(run, "fib30");
  const ms = (v: number) => `${v.toFixed(2)} ms`;
  const sm = median(f.standaloneMs), cm = median(f.calogMs), smin = Math.min(...f.standaloneMs), cmin = Math.min(...f.calogMs);
  const paired = median((f.calogMs as number[]).map((c, i) => c / f.standaloneMs[i]));
  const spread = (xs: number[]) => `${ms(quantileOf(xs, 0.1))} – ${ms(quantileOf(xs, 0.9))}`;
  return [
    `| fib(30), ${f.clock} | median | min | 10th – 90th percentile |`,
    `|---|---:|---:|---:|`,
    `| standalone \`zig-out/bin/lua-standalone bench/fib.lua\` (lua.c + the same Lua files, flags and defines; ReleaseFast) | ${ms(sm)} | ${ms(smin)} | ${spread(f.standaloneMs)} |`,
    `| calog Lua context inside ${run.meta.runtime === "bun" ? "Bun" : "Deno"} (\`ctx.eval\` of the same timed chunk) | ${ms(cm)} | ${ms(cmin)} | ${spread(f.calogMs)} |`,
    `| calog / standalone | **${pct(cm / sm - 1)}** | ${pct(cmin / smin - 1)} | median of the ${f.rounds} per-round ratios: ${pct(paired - 1)} |`,
    ``,
    `${f.rounds} interleaved rounds (a fresh standalone process, then a fresh calog context, alternately), so load from other processes falls on both; the spread shows how much that load moves even on-CPU time on this machine.` +
    (tb?.status === "ok" ? ` Wall time of \`fib(30)\` through calog's API in the tinybench case above: ${fmtNs(tb.median_ns!)} median.` : "") +
    (cStatic !== undefined ? ` broker_bench (static libcalog, no JS runtime in the process): ${fmtNs(cStatic)} wall.` : ""),
  ].join("\n");
}

function limitsSection(run: Run): string {
  const rows = (run as { limitsCost?: { engine: string; rounds: number; plainMs: number[]; limitedMs: number[] }[] }).limitsCost;
  if (!Array.isArray(rows) || rows.length === 0) return `*no data (a run before this section existed)*`;
  const names: Record<string, string> = { lua: "Lua 5.4", js: "JavaScript (Duktape)", squirrel: "Squirrel" };
  const lines = [
    `| fib(30), wall time of \`ctx.call("fib", 30)\` | no limits (median) | memory + steps + timeoutMs set (median) | limits / none (median of per-round ratios) | target |`,
    `|---|---:|---:|---:|---|`,
  ];
  for (const r of rows) {
    const paired = median(r.limitedMs.map((l, i) => l / r.plainMs[i]!));
    lines.push(`| ${names[r.engine] ?? r.engine} | ${median(r.plainMs).toFixed(1)} ms | ${median(r.limitedMs).toFixed(1)} ms | **${pct(paired - 1)}** | within 5% |`);
  }
  lines.push(``, `${rows[0]!.rounds} interleaved rounds per engine, both contexts on the JS thread, limits far above what fib(30) needs ` +
    `(memory 1 GiB, steps 10^15, timeoutMs one hour): the figure is the price of checking them.`);
  return lines.join("\n");
}

function memorySection(run: Run): string {
  const names: Record<string, string> = {
    "calog-lua": "calog Lua context, host thread",
    "calog-lua-thread": "calog Lua context, own thread",
    "calog-js": "calog JavaScript (Duktape) context",
    "calog-squirrel": "calog Squirrel context",
    "wasmoon": "wasmoon engine (`factory.createEngine()`, one shared WASM module)",
    "fengari": "fengari state (`luaL_newstate` + `luaL_openlibs`)",
    "quickjs": "quickjs-emscripten context (`newContext()`: a runtime + context)",
  };
  const lines = [
    `| context | RSS per idle context | interpreter heap per context | RSS before → with 1,000 → after dispose |`,
    `|---|---:|---:|---|`,
  ];
  const mb = (b: number) => `${(b / KB / KB).toFixed(1)} MB`;
  for (const m of run.memory) {
    if (m.status !== "ok") {
      lines.push(`| ${names[m.mode] ?? m.mode} | *${m.status === "n/a" ? "not available yet" : "error"}* | | ${m.note ?? ""} |`);
      continue;
    }
    lines.push(
      `| ${names[m.mode] ?? m.mode} | ${(m.rssPerContext / KB).toFixed(1)} KB | ${m.enginePerContext !== undefined && m.enginePerContext !== null ? `${(m.enginePerContext / KB).toFixed(1)} KB (\`ctx.memoryUsage()\`)` : "—"} | ${mb(m.rssBefore)} → ${mb(m.rssAfter)} → ${mb(m.rssAfterDispose)} |`,
    );
  }
  return lines.join("\n");
}

function cSection(runs: Run[]): string {
  const withC = runs.filter((r) => r.c && r.c.rows.length > 0);
  if (withC.length === 0) return `*${runs.map((r) => r.c?.note).filter(Boolean).join("; ") || "no data"}*`;
  const names: string[] = [];
  for (const r of withC) for (const row of r.c.rows) if (!names.includes(row.name)) names.push(row.name);
  const lines = [
    `| case | what | ${withC.map((r) => `median / p99, during the ${r.meta.runtime === "bun" ? "Bun" : "Deno"} run`).join(" | ")} |`,
    `|---|---|${withC.map(() => "---:|").join("")}`,
  ];
  for (const name of names) {
    const cells = withC.map((r) => {
      const row = r.c.rows.find((k: { name: string }) => k.name === name);
      return row ? `${fmtNs(row.median_ns)} / ${fmtNs(row.p99_ns)}` : "—";
    });
    const what = withC.map((r) => r.c.rows.find((k: { name: string }) => k.name === name)?.what).find(Boolean) ?? "";
    lines.push(`| \`${name}\` | ${what} | ${cells.join(" | ")} |`);
  }
  const bytes = withC[0].c.nestedWireBytes;
  if (bytes) lines.push("", `The nested value is ${bytes} bytes on the wire.`);
  for (const r of withC) if (r.c.note) lines.push("", `*${r.c.note}*`);
  return lines.join("\n");
}

export function render(runs: Run[], analysis: string): string {
  const out: string[] = [];
  out.push(
    `# calog crossing benchmarks: results`,
    ``,
    `Generated by \`bench/run.ts\` (\`npm run bench\`: Bun then Deno; \`deno task bench\`: Deno) — do not edit by hand;`,
    `the prose under "Where the time goes" comes from \`bench/ANALYSIS.md\`. How to run and read: \`bench/README.md\`.`,
    ``,
    `| run | date (UTC) | calog commit | CPU | cores | kernel | load avg start → end | duration |`,
    `|---|---|---|---|---:|---|---|---:|`,
  );
  for (const r of runs) {
    const m = r.meta;
    out.push(
      `| ${m.runtimeVersion} | ${m.date.replace("T", " ").slice(0, 19)} | \`${m.commit}\`${m.dirty ? " + uncommitted changes" : ""} | ${m.cpu} | ${m.cores} | ${m.kernel} | ${m.loadStart} → ${m.loadEnd} | ${m.durationSec} s |`,
    );
  }
  const commits = new Set(runs.map((r) => r.meta.commit + r.meta.dirty));
  if (commits.size > 1) out.push("", "**Note:** these runs are from different commits; compare each runtime's rows only with its own.");
  out.push(
    ``,
    `Peers: wasmoon 1.16.0 (Lua 5.4 compiled to WASM), fengari 0.1.5 (Lua 5.3 in pure JS), quickjs-emscripten 0.32.0;`,
    `calog embeds Lua 5.4.7. tinybench 6.2.3. The machine is shared (2 cores, other builds running): see the load column.`,
    ``,
    `## Targets`,
    ``,
    targets(runs),
    ``,
    `Ratios are peer median / calog median, both from the same run of the same runtime. The fib(30) target is judged on the`,
    `on-CPU time of the thread running fib(30), read by the same Lua code in both interpreters (the shared machine's load`,
    `inflates wall time, not this); wall times are in the fib(30) section.`,
    ``,
    `## How the numbers are made`,
    ``,
    `- Every implementation of a case is added to one tinybench \`Bench\` and run one after the other; the case is repeated ${ROUNDS} times`,
    `  (rounds interleave the implementations) and the samples of all rounds are pooled.`,
    `- One sample = the mean latency per operation over one batch of operations (batch sized to ~25 µs, 1 for slow cases), reported`,
    `  to tinybench as \`overriddenDuration\`: the timer is never what is measured. **Median and p99 are over those batch means**, so p99`,
    `  shows slow batches (GC, preemption), not the single slowest call. ops/s = 10⁹ / median.`,
    `- Every implementation is first checked to return the right answer (deep equality for the nested value), and checked again`,
    `  after each round; a wrong answer marks the row as an error instead of timing it.`,
    `- Rows for engines or features calog does not have yet are tried on every run and marked "not available yet" with the`,
    `  error calog gave; they fill in by themselves when the feature lands.`,
  );
  for (const r of runs) {
    out.push(``, `## ${r.meta.runtimeVersion}: every case`, ``);
    for (const c of r.cases as CaseResult[]) out.push(`### ${c.title}`, ``, `Latency per ${c.unit}.`, ``, caseTable(c), ``);
    out.push(`### fib(30): calog vs the standalone Lua interpreter`, ``, fibSection(r), ``);
    out.push(`### The cost of limits that are set but not reached`, ``, limitsSection(r), ``);
    out.push(`### Where a crossing's time goes, layer by layer`, ``, layers(r), ``);
    out.push(`### Memory: idle contexts (1,000 per fresh process, RSS after a full GC)`, ``, memorySection(r), ``);
    out.push(`### Network: loopback, calog's Lua sockets vs the runtime's own`, ``, netSection(r), ``);
  }
  out.push(
    `## The C broker alone (\`zig-out/bin/broker_bench\`, no JS runtime in the process)`,
    ``,
    `Built by \`zig build bench\` (ReleaseFast) against a static libcalog from the same sources and flags, and run once inside each`,
    `runtime's run (the same binary twice: the difference between the columns is the machine's load). Each sample is the mean of a`,
    `batch (~200 µs) of operations, wall time; median and p99 over the samples.`,
    ``,
    cSection(runs),
    ``,
  );
  out.push(`## Where the time goes (profile)`, ``, analysis.trim() || "*bench/ANALYSIS.md is missing.*", ``);
  return out.join("\n");
}

/** Renders RESULTS.md from outDir/*.json; returns the path written. */
export function writeReport(outDir: string, path: string): string {
  const files = existsSync(outDir) ? readdirSync(outDir).filter((f) => /^(bun|deno)\.json$/.test(f)).sort() : [];
  const runs = files.map((f) => JSON.parse(readFileSync(`${outDir}${f}`, "utf8")));
  const analysisPath = new URL("./ANALYSIS.md", import.meta.url);
  const analysis = existsSync(analysisPath) ? readFileSync(analysisPath, "utf8") : "";
  writeFileSync(path, render(runs, analysis));
  return path.replace(/.*\/bench\//, "bench/");
}

if (import.meta.main) {
  const root = decodeURIComponent(new URL("../", import.meta.url).pathname);
  console.log(`wrote ${writeReport(`${root}bench/out/`, `${root}bench/RESULTS.md`)}`);
}
