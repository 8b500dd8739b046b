/**
 * The network section of the bench (issue 11): calog's Lua sockets against the runtime's own (`Bun.listen` /
 * `Bun.connect` under Bun, `Deno.listen` / `Deno.connect` under Deno), side by side in one run, over loopback.
 *
 * - echo, 1-byte ping-pong, 1 and 64 connections: (server) a calog Lua server vs the runtime's server in this
 *   process, both driven by the same client, the runtime's own in a child process (net_peer.ts); (client) a
 *   calog Lua client vs the runtime's client in this process, both against the same server, the runtime's own
 *   echo server in the child.
 * - bulk: 256 MiB one way, calog sender vs the runtime's sender into the child's sink, and the child's source
 *   into a calog receiver vs the runtime's receiver.
 *
 * Not tinybench: a sample here is a fixed count of round trips (or bytes) over many concurrent connections,
 * timed whole, so each row is one wall-clock figure per round; the implementations of a case alternate
 * within a round (which goes first swaps every round), and the report gives medians over the rounds.
 * @module
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import os from "node:os";
import process from "node:process";
import { createInterface } from "node:readline";
import { type Context, Runtime, type ScriptFunction } from "../bindings/mod.ts";
import { QUICK } from "./measure.ts";
import { childCommand } from "./platform.ts";
import { type BulkConn, CHUNK, openSockets, type Sockets } from "./net_sockets.ts";
import { fmtRate, median } from "./net_report.ts";

export type NetCaseId = "echo1_server" | "echo64_server" | "echo1_client" | "echo64_client" | "bulk_send" | "bulk_receive";

export interface NetRow {
  impl: string;
  role: "calog" | "peer";
  api: string;
  status: "ok" | "error";
  note?: string;
  /** one figure per round: round trips/s (echo) or Gbit/s (bulk) */
  values: number[];
}

export interface NetCase {
  id: NetCaseId;
  title: string;
  unit: "round trips/s" | "Gbit/s";
  /** what stays the same for both rows (the client, or the server) */
  fixed: string;
  rows: NetRow[];
}

export interface NetResult {
  status: "ok" | "n/a";
  note?: string;
  rounds: number;
  workers: number;
  counts: { echo1: number; echo64: number; bulkBytes: number };
  cases: NetCase[];
}

const ROUNDS = QUICK ? 1 : 5;
const CORES = os.cpus().length;
/** Worker (server) and client contexts for 64 connections: one per core unless CALOG_BENCH_NET_WORKERS says. */
const WORKERS = Math.max(1, Number(process.env.CALOG_BENCH_NET_WORKERS) || CORES);
const ECHO1 = { warm: QUICK ? 200 : 1000, k: QUICK ? 2000 : 10000 }; // round trips on the one connection
const ECHO64 = { conns: 64, warm: QUICK ? 10 : 40, k: QUICK ? 100 : 500 }; // round trips per connection
const BULK = (QUICK ? 32 : 256) << 20;
const STEP_LIMIT_MS = 30_000; // one measurement that takes longer fails its row (and the section moves on)

const LUA = readFileSync(new URL("./scripts/net.lua", import.meta.url), "utf8");
const CAPS = { net: { connect: ["127.0.0.1:*"], listen: ["127.0.0.1:*"] } };

function within<T>(p: Promise<T>, what: string): Promise<T> {
  let t: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`${what}: no answer within ${STEP_LIMIT_MS / 1000} s`)), STEP_LIMIT_MS);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(t));
}

/** The child process: the runtime's own echo / sink / source servers, and a ping client on command. */
class Peer {
  private waiting: Array<(line: string) => void> = [];
  private constructor(private readonly child: ReturnType<typeof spawn>, readonly ports: { echo: number; sink: number; source: number }) {}

  static async start(): Promise<Peer> {
    const [cmd, args] = childCommand("./net_peer.ts", []);
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "inherit"] });
    const lines = createInterface({ input: child.stdout! });
    const first = await within(new Promise<string>((resolve, reject) => {
      lines.once("line", resolve);
      child.once("exit", (code) => reject(new Error(`the peer process exited (${code})`)));
    }), "starting the peer process");
    const peer = new Peer(child, JSON.parse(first));
    lines.on("line", (l) => peer.waiting.shift()?.(l));
    return peer;
  }

  /** The child connects `conns` connections to port and ping-pongs; resolves with the timed phase's ns. */
  async ping(port: number, conns: number, warm: number, k: number): Promise<number> {
    const reply = new Promise<string>((resolve) => this.waiting.push(resolve));
    this.child.stdin!.write(`ping ${port} ${conns} ${warm} ${k}\n`);
    const r = JSON.parse(await within(reply, "the peer's ping client"));
    if (typeof r.ns !== "number") throw new Error(`the peer's ping client: ${r.error}`);
    return r.ns;
  }

  close(): void {
    this.child.stdin!.end();
    this.child.kill();
  }
}

type Measure = () => Promise<number>;

interface Impl {
  row: NetRow;
  measure: Measure;
}

function impl(impl: string, role: NetRow["role"], api: string, measure: Measure): Impl {
  return { row: { impl, role, api, status: "ok", values: [] }, measure };
}

const rate = (n: number, ns: number) => (n * 1e9) / ns;
const gbits = (bytes: number, ns: number) => (bytes * 8) / ns;

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  return (performance.now() - t0) * 1e6;
}

function expect(what: string, got: unknown, want: number): void {
  if (got !== want) throw new Error(`${what}: got ${String(got)}, want ${want}`);
}

export async function runNet(log: (s: string) => void): Promise<NetResult> {
  const result: NetResult = {
    status: "ok",
    rounds: ROUNDS,
    workers: WORKERS,
    counts: { echo1: ECHO1.k, echo64: ECHO64.k * ECHO64.conns, bulkBytes: BULK },
    cases: [],
  };
  let sockets: Sockets, local: ReturnType<Sockets["echoServer"]>, peer: Peer;
  try {
    sockets = await openSockets();
    local = sockets.echoServer();
  } catch (e) {
    return { ...result, status: "n/a", note: `the runtime's own sockets are not usable here: ${String(e)}` };
  }
  try {
    peer = await Peer.start();
  } catch (e) {
    local.close();
    return { ...result, status: "n/a", note: String(e) };
  }
  const rt = new Runtime();
  try {
    const lua = async (): Promise<Context> => {
      const c = rt.createContext("lua", { thread: true, capabilities: CAPS });
      await c.evalAsync(LUA, { chunkName: "net.lua" });
      return c;
    };
    const listener = await lua();
    const calogPort = await listener.evalAsync<number>("server = assert(net.listen('127.0.0.1', 0, { backlog = 1024 })) return server:port()");
    const workers: Context[] = [];
    for (let i = 0; i < WORKERS; i++) workers.push(await lua());
    const adopters: ScriptFunction[] = workers.map((w) => w.getFunction("adopt"));
    const S = sockets.serverApi, C = sockets.clientApi;

    /** calog server: the listener accepts `conns` and hands them to `nw` workers, which echo until the client closes */
    const calogServer = (conns: number, nw: number, warm: number, k: number): Measure => async () => {
      const handed = listener.callAsync("hand", conns, adopters.slice(0, nw));
      const ns = peer.ping(calogPort, conns, warm, k);
      expect("accepted", await within(handed, "the listener"), conns);
      const serving = workers.slice(0, nw).map((w) => w.callAsync<number>("serve"));
      const t = await ns;
      const echoed = (await within(Promise.all(serving), "the workers")).reduce((a, b) => a + b, 0);
      expect("bytes echoed", echoed, conns * (warm + k));
      return rate(conns * k, t);
    };
    /** calog client: `nc` contexts share `conns` connections to the child's echo server */
    const calogClient = (conns: number, nc: number, warm: number, k: number): Measure => async () => {
      const cs = workers.slice(0, nc);
      const share = (i: number) => Math.floor(conns / nc) + (i < conns % nc ? 1 : 0);
      await Promise.all(cs.map((c, i) => c.callAsync("open", peer.ports.echo, share(i))));
      await Promise.all(cs.map((c) => c.callAsync("ping", warm)));
      let done: number[] = [];
      const t = await timed(async () => (done = await within(Promise.all(cs.map((c) => c.callAsync<number>("ping", k))), "the calog client")));
      await Promise.all(cs.map((c) => c.callAsync("closeAll")));
      expect("round trips", done.reduce((a, b) => a + b, 0), conns * k);
      return rate(conns * k, t);
    };
    const peerClient = (conns: number, warm: number, k: number): Measure => async () => {
      const c = await sockets.pingClient(peer.ports.echo, conns);
      await c.run(warm);
      const t = await timed(() => within(c.run(k), `the ${C} client`));
      c.close();
      return rate(conns * k, t);
    };
    /** BULK bytes one way, connect included; resolves with Gbit/s once the count is checked */
    const calogBulk = (fn: "pumpOut" | "pumpIn", port: number, what: string): Measure => async () => {
      let got: unknown;
      const t = await timed(async () => (got = await within(workers[0]!.callAsync(fn, port, BULK), `calog's ${fn}`)));
      expect(what, got, BULK);
      return gbits(BULK, t);
    };
    const peerBulk = (open: () => Promise<BulkConn>, what: string): Measure => async () => {
      let got = 0;
      const t = await timed(async () => {
        const c = await open();
        got = await within(c.run(BULK), `the ${C} side`);
        c.close();
      });
      expect(what, got, BULK);
      return gbits(BULK, t);
    };
    const n64 = ECHO64.conns;
    const w64 = Math.min(WORKERS, n64);
    const cases: Array<{ c: Omit<NetCase, "rows">; impls: Impl[] }> = [
      {
        c: { id: "echo1_server", title: "Echo server, 1 connection", unit: "round trips/s", fixed: `client: ${C} in another process` },
        impls: [
          impl("calog Lua server", "calog", "a listener context accepts, a worker context loops conn:receive(1) / conn:send", calogServer(1, 1, ECHO1.warm, ECHO1.k)),
          impl(`${S} server`, "peer", `${S} in this process, echoing each read`, async () => rate(ECHO1.k, await peer.ping(local.port, 1, ECHO1.warm, ECHO1.k))),
        ],
      },
      {
        c: { id: "echo64_server", title: `Echo server, ${n64} connections`, unit: "round trips/s", fixed: `client: ${C} in another process, ${n64} connections` },
        impls: [
          impl("calog Lua server", "calog", `a listener context hands the connections to ${w64} worker contexts (round-robin receive(1) / send each)`, calogServer(n64, w64, ECHO64.warm, ECHO64.k)),
          impl(`${S} server`, "peer", `${S} in this process`, async () => rate(n64 * ECHO64.k, await peer.ping(local.port, n64, ECHO64.warm, ECHO64.k))),
        ],
      },
      {
        c: { id: "echo1_client", title: "Echo client, 1 connection", unit: "round trips/s", fixed: `server: ${S} in another process` },
        impls: [
          impl("calog Lua client", "calog", "one context loops conn:send(\"x\") / conn:receive(1)", calogClient(1, 1, ECHO1.warm, ECHO1.k)),
          impl(`${C} client`, "peer", `${C} in this process`, peerClient(1, ECHO1.warm, ECHO1.k)),
        ],
      },
      {
        c: { id: "echo64_client", title: `Echo client, ${n64} connections`, unit: "round trips/s", fixed: `server: ${S} in another process` },
        impls: [
          impl("calog Lua client", "calog", `${w64} contexts, each sends on its ${n64 / w64} connections, then receives on each`, calogClient(n64, w64, ECHO64.warm, ECHO64.k)),
          impl(`${C} client`, "peer", `${C} in this process, ${n64} connections`, peerClient(n64, ECHO64.warm, ECHO64.k)),
        ],
      },
      {
        c: { id: "bulk_send", title: `Bulk send, ${BULK >> 20} MiB one way`, unit: "Gbit/s", fixed: `receiver: ${S} sink in another process` },
        impls: [
          impl("calog Lua sender", "calog", `net.connect, conn:send of a ${CHUNK >> 20} MiB string until done, the sink's count back`, calogBulk("pumpOut", peer.ports.sink, "the sink's count")),
          impl(`${C} sender`, "peer", `${C}, write of ${CHUNK >> 20} MiB slices (drain on backpressure)`, peerBulk(() => sockets.bulkSend(peer.ports.sink), "the sink's count")),
        ],
      },
      {
        c: { id: "bulk_receive", title: `Bulk receive, ${BULK >> 20} MiB one way`, unit: "Gbit/s", fixed: `sender: ${S} source in another process` },
        impls: [
          impl("calog Lua receiver", "calog", `net.connect, conn:receive(${CHUNK >> 20} MiB) until done`, calogBulk("pumpIn", peer.ports.source, "bytes received")),
          impl(`${C} receiver`, "peer", `${C}, counting each read`, peerBulk(() => sockets.bulkReceive(peer.ports.source), "bytes received")),
        ],
      },
    ];
    // one untimed pass (JIT, connection set-up paths, the contexts' first calls), then the rounds
    for (let round = -1; round < ROUNDS; round++) {
      for (const { impls } of cases) {
        const order = round % 2 === 0 ? impls : [...impls].reverse();
        for (const { row, measure } of order) {
          if (row.status !== "ok") continue;
          try {
            const v = await measure();
            if (round >= 0) row.values.push(v);
          } catch (e) {
            row.status = "error";
            row.note = e instanceof Error ? e.message : String(e);
          }
        }
      }
    }
    for (const { c, impls } of cases) {
      const nc: NetCase = { ...c, rows: impls.map((i) => i.row) };
      result.cases.push(nc);
      log(`  ${c.title} (${c.unit}; ${c.fixed})`);
      for (const r of nc.rows) log(`    ${r.impl.padEnd(24)} ${r.status === "ok" ? fmtRate(median(r.values), c.unit) : `error: ${r.note}`}`);
    }
    return result;
  } finally {
    rt.dispose(); // closes every context, socket and the I/O thread
    local.close();
    peer.close();
  }
}
