/**
 * Renders the network section of RESULTS.md (bench/net.ts's results in bench/out/<runtime>.json): the goals
 * of issue 11 as rows of the targets table, and one table per case. Ratios are calog / peer from the same
 * round of the same run (higher is better for calog); the figures are medians over the rounds.
 * @module
 */
import type { NetCase, NetCaseId, NetResult, NetRow } from "./net.ts";

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function fmtRate(v: number, unit: NetCase["unit"]): string {
  if (!Number.isFinite(v)) return "—";
  if (unit === "Gbit/s") return `${v.toFixed(2)} Gbit/s`;
  return v >= 1e6 ? `${(v / 1e6).toFixed(2)} M/s` : `${(v / 1e3).toFixed(1)} k/s`;
}

type RunWithNet = { meta: { runtime: string }; net?: NetResult };

const ratioOf = (c: NetCase): { calog: NetRow; peer: NetRow; r: number } | undefined => {
  const calog = c.rows.find((r) => r.role === "calog"), peer = c.rows.find((r) => r.role === "peer");
  if (calog?.status !== "ok" || peer?.status !== "ok" || !calog.values.length || !peer.values.length) return undefined;
  return { calog, peer, r: median(calog.values) / median(peer.values) };
};
const xr = (r: number) => `×${r.toFixed(2)}`;

/** The goals of issue 11, as rows of RESULTS.md's targets table (one cell per run). */
export function netTargetRows(line: (name: string, goal: string, cell: (r: RunWithNet) => string) => string): string[] {
  const cell = (id: NetCaseId, min: number) => (run: RunWithNet): string => {
    if (!run.net) return "not measured in this run";
    if (run.net.status !== "ok") return `not measurable: ${run.net.note ?? ""}`;
    const c = run.net.cases.find((k) => k.id === id);
    const q = c && ratioOf(c);
    if (!c || !q) {
      const bad = c?.rows.find((r) => r.status !== "ok");
      return `not measurable${bad ? `: ${bad.impl}: ${bad.note}` : ""}`;
    }
    const verdict = q.r >= min ? "**met**" : "**not met**";
    return `${verdict}: ${xr(q.r)} (calog ${fmtRate(median(q.calog.values), c.unit)} vs ${q.peer.impl.replace(/ (server|client|sender|receiver)$/, "")} ${fmtRate(median(q.peer.values), c.unit)})`;
  };
  return [
    line("network: echo, 64 connections, calog Lua server vs the runtime's server (round trips/s)", "≥ ×1.00", cell("echo64_server", 1)),
    line("network: echo, 64 connections, calog Lua client vs the runtime's client", "≥ ×1.00", cell("echo64_client", 1)),
    line("network: echo, 1 connection, calog Lua server vs the runtime's server", "≥ ×0.70", cell("echo1_server", 0.7)),
    line("network: echo, 1 connection, calog Lua client vs the runtime's client", "≥ ×0.70", cell("echo1_client", 0.7)),
    line("network: bulk send (Gbit/s), calog Lua sender vs the runtime's", "≥ ×0.90", cell("bulk_send", 0.9)),
    line("network: bulk receive, calog Lua receiver vs the runtime's", "≥ ×0.90", cell("bulk_receive", 0.9)),
  ];
}

/** One runtime's network section: every case, calog's row and the peer's, medians and spread over the rounds. */
export function netSection(run: RunWithNet): string {
  const n = run.net;
  if (!n) return "*not measured in this run (a run before the network section existed)*";
  if (n.status !== "ok") return `*not measurable: ${n.note ?? ""}*`;
  const spread = (r: NetRow, unit: NetCase["unit"]) =>
    r.values.length ? `${fmtRate(Math.min(...r.values), unit)} – ${fmtRate(Math.max(...r.values), unit)}` : "";
  const lines = [
    `| case | the same for both | implementation | API | median | min – max over the rounds | calog / peer (medians) |`,
    `|---|---|---|---|---:|---|---:|`,
  ];
  for (const c of n.cases) {
    const q = ratioOf(c);
    for (const r of c.rows) {
      const fig = r.status === "ok" ? fmtRate(median(r.values), c.unit) : "*error*";
      const ratio = r.role === "calog" ? (q ? `**${xr(q.r)}**` : "") : "";
      lines.push(`| ${c.title} (${c.unit}) | ${c.fixed} | ${r.impl} | ${r.api} | ${fig} | ${r.status === "ok" ? spread(r, c.unit) : r.note ?? ""} | ${ratio} |`);
    }
  }
  lines.push(
    ``,
    `${n.rounds} rounds after an untimed one; within a round the two rows of a case run one after the other, the first swapping`,
    `every round. Echo: 1-byte ping-pong (each connection sends one byte and waits for it to come back); 1 connection:`,
    `${n.counts.echo1} round trips per round; ${n.counts.echo64} round trips per round over the 64 connections, after a warm-up on`,
    `each. calog's server is a listener context handing connections to ${n.workers} worker contexts (threaded, one per core);`,
    `calog's 64-connection client is ${n.workers} threaded contexts. The other side is always the runtime's own sockets in a child`,
    `process (bench/net_peer.ts). Bulk: ${n.counts.bulkBytes >> 20} MiB per round, connect included, the count checked.`,
  );
  return lines.join("\n");
}
