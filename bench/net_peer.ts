/**
 * The other side of the network bench (bench/net.ts), in its own process under the same runtime, so that
 * what is measured in the bench's process is only the side under test. It serves echo, sink and source
 * (net_sockets.ts) with the runtime's own sockets, prints their ports as one JSON line, then runs ping
 * commands read from stdin, one per line, as a client with the runtime's own sockets:
 *   ping PORT CONNS WARM K   connects CONNS connections, WARM round trips each, then times K round trips each:
 *                            prints {"ns": elapsed} (or {"error": ...}) and closes them
 * It exits when stdin closes.
 * @module
 */
import process from "node:process";
import { createInterface } from "node:readline";
import { openSockets } from "./net_sockets.ts";

const s = await openSockets();
const servers = [s.echoServer(), s.sinkServer(), s.sourceServer()];
const out = (v: unknown) => process.stdout.write(JSON.stringify(v) + "\n");
out({ echo: servers[0]!.port, sink: servers[1]!.port, source: servers[2]!.port });

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const [cmd, ...a] = line.trim().split(/\s+/);
  if (cmd !== "ping") continue;
  const [port, conns, warm, k] = a.map(Number) as [number, number, number, number];
  try {
    const c = await s.pingClient(port, conns);
    await c.run(warm);
    const t0 = performance.now();
    await c.run(k);
    const ns = (performance.now() - t0) * 1e6;
    c.close();
    out({ ns });
  } catch (e) {
    out({ error: String(e) });
  }
}
for (const v of servers) v.close();
process.exit(0);
