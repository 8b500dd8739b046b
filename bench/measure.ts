/**
 * The measuring harness: tinybench, with each sample the mean latency of one batch of operations.
 *
 * A crossing takes ~100 ns; a timer read costs about as much. So every tinybench iteration runs a batch
 * of B operations (B calibrated so a batch lasts ~25 us; B = 1 for slow operations) and reports
 * elapsed / (B x units) through tinybench's `overriddenDuration`: the clock is never what is measured.
 * Median and p99 are therefore over batch means. Every implementation of a case runs in the same Bench,
 * one after the other, and the whole case is repeated ROUNDS times (interleaved), with the samples of
 * all rounds pooled: a burst of load from another process hits every implementation, not just one.
 * @module
 */
import process from "node:process";
import { Bench, type FnReturnedObject } from "tinybench";

/** One implementation of a case, ready to run. */
export interface Op {
  /** One operation; may return a Promise (own-thread contexts), which is awaited inside the batch. */
  run: () => unknown;
  /** null if `r` is the right answer, else what is wrong. Called outside the timed region. */
  check: (r: unknown) => string | null;
  /** Releases what the implementation holds. */
  close?: () => void;
}

export interface RowSpec {
  /** Who runs it: "calog Lua (host thread)", "wasmoon 1.16.0", ... */
  impl: string;
  role: "calog" | "peer" | "floor";
  /** The calog row(s) peer ratios are computed against. */
  primary?: boolean;
  /** The exact API used, shown in RESULTS.md. */
  api: string;
  /** Operations one run() performs (a Lua loop of 1000 host calls: 1000); latency is reported per unit. */
  units?: number;
  /** Builds the implementation. Throwing NotAvailable marks the row "not available yet". */
  make: () => Op | Promise<Op>;
}

export interface CaseSpec {
  id: string;
  title: string;
  /** What one unit is, for humans. */
  unit: string;
  slow?: boolean;
  rows: RowSpec[];
}

export class NotAvailable extends Error {}

export interface RowResult {
  impl: string;
  role: RowSpec["role"];
  primary: boolean;
  api: string;
  units: number;
  status: "ok" | "n/a" | "error";
  note?: string;
  median_ns?: number;
  p99_ns?: number;
  mean_ns?: number;
  min_ns?: number;
  ops_s?: number;
  samples?: number;
  batch?: number;
}

export interface CaseResult {
  id: string;
  title: string;
  unit: string;
  rows: RowResult[];
}

/** CALOG_BENCH_QUICK=1: one short round per case, for working on the bench itself (not for RESULTS.md). */
export const QUICK = process.env.CALOG_BENCH_QUICK === "1";
export const ROUNDS = QUICK ? 1 : 5;
const FAST = { time: QUICK ? 60 : 400, warmupTime: QUICK ? 20 : 100, iterations: 16, warmupIterations: 16 };
const SLOW = { time: 1, warmupTime: 1, iterations: QUICK ? 1 : 3, warmupIterations: 1 };
const BATCH_TARGET_MS = 0.025;

let sink: unknown;

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && typeof v === "object" && typeof (v as { then?: unknown }).then === "function";
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  if (lo + 1 >= sorted.length) return sorted[sorted.length - 1]!;
  return sorted[lo]! + (sorted[lo + 1]! - sorted[lo]!) * (pos - lo);
}

/** Runs ops until ~5 ms have passed, to size batches. */
async function calibrate(op: Op, isAsync: boolean, slow: boolean): Promise<number> {
  if (slow) return 1;
  let per = Infinity;
  for (let pass = 0; pass < 2; pass++) { // the first pass warms the JIT up, the second one counts
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < 10 || n < 3) {
      const r = op.run();
      if (isAsync) await r;
      n++;
    }
    per = (performance.now() - t0) / n;
  }
  return Math.max(1, Math.min(20000, Math.round(BATCH_TARGET_MS / per)));
}

function describeError(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return `${typeof code === "string" ? code + ": " : ""}${e.message}`;
  }
  return String(e);
}

/** Measures every row of a case; rows that cannot be built or give a wrong answer are reported, not timed. */
export async function runCase(c: CaseSpec, log: (s: string) => void): Promise<CaseResult> {
  const live: Array<{ spec: RowSpec; op: Op; isAsync: boolean; batch: number; samples: number[]; result: RowResult }> = [];
  const results: RowResult[] = [];
  for (const spec of c.rows) {
    const base: RowResult = {
      impl: spec.impl,
      role: spec.role,
      primary: spec.primary === true,
      api: spec.api,
      units: spec.units ?? 1,
      status: "ok",
    };
    results.push(base);
    let op: Op;
    try {
      op = await spec.make();
    } catch (e) {
      base.status = e instanceof NotAvailable ? "n/a" : "error";
      base.note = e instanceof NotAvailable ? e.message : `cannot set up: ${describeError(e)}`;
      continue;
    }
    try {
      let r = op.run();
      const isAsync = isThenable(r);
      if (isAsync) r = await r;
      const bad = op.check(r);
      if (bad !== null) throw new Error(`wrong result: ${bad}`);
      const batch = await calibrate(op, isAsync, c.slow === true);
      live.push({ spec, op, isAsync, batch, samples: [], result: base });
    } catch (e) {
      base.status = "error";
      base.note = describeError(e);
      op.close?.();
    }
  }

  for (let round = 0; round < ROUNDS; round++) {
    const bench = new Bench({ ...(c.slow ? SLOW : FAST), retainSamples: true, throws: true });
    for (const l of live) {
      const units = l.spec.units ?? 1;
      const { op, batch } = l;
      if (l.isAsync) {
        bench.add(l.spec.impl + " | " + l.spec.api, async (): Promise<FnReturnedObject> => {
          let r: unknown;
          const t0 = performance.now();
          for (let i = 0; i < batch; i++) r = await op.run();
          const dt = performance.now() - t0;
          sink = r;
          return { overriddenDuration: dt / (batch * units), overriddenIterationCost: dt };
        }, { async: true });
      } else {
        bench.add(l.spec.impl + " | " + l.spec.api, (): FnReturnedObject => {
          let r: unknown;
          const t0 = performance.now();
          for (let i = 0; i < batch; i++) r = op.run();
          const dt = performance.now() - t0;
          sink = r;
          return { overriddenDuration: dt / (batch * units), overriddenIterationCost: dt };
        }, { async: false });
      }
    }
    await bench.run();
    for (const l of live) {
      const t = bench.getTask(l.spec.impl + " | " + l.spec.api)!;
      const res = t.result;
      if (res.state !== "completed") {
        l.result.status = "error";
        l.result.note = res.state === "errored" ? describeError(res.error) : `tinybench state ${res.state}`;
        continue;
      }
      for (const s of res.latency.samples ?? []) l.samples.push(s * 1e6); // ms -> ns
      // the answer must still be right after the timed batches
      const last = l.isAsync ? await l.op.run() : l.op.run();
      const bad = l.op.check(last);
      if (bad !== null) {
        l.result.status = "error";
        l.result.note = `wrong result after round ${round + 1}: ${bad}`;
      }
    }
  }

  for (const l of live) {
    l.op.close?.();
    if (l.result.status !== "ok") continue;
    const s = l.samples.sort((a, b) => a - b);
    const median = quantile(s, 0.5);
    Object.assign(l.result, {
      median_ns: median,
      p99_ns: quantile(s, 0.99),
      mean_ns: s.reduce((a, b) => a + b, 0) / s.length,
      min_ns: s[0],
      ops_s: 1e9 / median,
      samples: s.length,
      batch: l.batch,
    });
  }
  void sink;
  for (const r of results) {
    log(
      `  ${r.impl.padEnd(34)} ${
        r.status === "ok" ? fmtNs(r.median_ns!).padStart(10) + "  p99 " + fmtNs(r.p99_ns!).padStart(10) : r.status + ": " + r.note
      }`,
    );
  }
  return { id: c.id, title: c.title, unit: c.unit, rows: results };
}

export function fmtNs(ns: number): string {
  if (!Number.isFinite(ns)) return "—";
  if (ns < 1e3) return `${ns.toFixed(ns < 10 ? 2 : 1)} ns`;
  if (ns < 1e6) return `${(ns / 1e3).toFixed(ns < 1e4 ? 2 : 1)} µs`;
  if (ns < 1e9) return `${(ns / 1e6).toFixed(ns < 1e7 ? 2 : 1)} ms`;
  return `${(ns / 1e9).toFixed(2)} s`;
}
