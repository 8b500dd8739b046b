/**
 * The runtime's own sockets for the network bench (bench/net.ts): what calog is compared with, and the
 * fixed other side of every case. `Bun.listen` / `Bun.connect` under Bun (net_bun.ts), `Deno.listen` /
 * `Deno.connect` under Deno (net_deno.ts); one interface, loaded for the runtime this runs on.
 *
 * The wire protocols (loopback only, 127.0.0.1):
 * - echo: every byte received is sent back;
 * - sink: the client sends "N\n" then N bytes; the server answers "<bytes it got>\n" once it has N;
 * - source: the client sends "N\n"; the server sends N bytes and closes.
 * @module
 */
import { runtimeName } from "./platform.ts";

export const HOST = "127.0.0.1";
/** The bulk senders write this much per call (calog's Lua sender sends strings of the same size). */
export const CHUNK = 1 << 20;

export interface Server {
  port: number;
  close(): void;
}

/** A set of connections doing 1-byte ping-pong: each sends one byte and waits for it to come back, n times. */
export interface PingClient {
  /** n round trips on every connection, concurrently; resolves when every connection has done them. */
  run(n: number): Promise<void>;
  close(): void;
}

/** One bulk connection to a sink (send) or a source (receive). */
export interface BulkConn {
  /** send: "N\n" + N bytes, resolves with the sink's count; receive: asks for N bytes, resolves with the count got. */
  run(bytes: number): Promise<number>;
  close(): void;
}

export interface Sockets {
  /** "Bun.listen" / "Deno.listen" */
  serverApi: string;
  clientApi: string;
  echoServer(): Server;
  sinkServer(): Server;
  sourceServer(): Server;
  pingClient(port: number, conns: number): Promise<PingClient>;
  bulkSend(port: number): Promise<BulkConn>;
  bulkReceive(port: number): Promise<BulkConn>;
}

/** Reads "N\n" headers byte-wise across packets: feed(bytes) returns [N, offset of the body] once complete. */
export class Header {
  private text = "";
  feed(d: Uint8Array): [number, number] | null {
    for (let i = 0; i < d.length; i++) {
      if (d[i] === 10) {
        const n = Number(this.text);
        this.text = "";
        return [n, i + 1];
      }
      this.text += String.fromCharCode(d[i]!);
      if (this.text.length > 20) throw new Error("bad header");
    }
    return null;
  }
}

/** The same 1 MiB of filler for every sender. */
export const FILL: Uint8Array = new Uint8Array(CHUNK).fill(120); // "x"

export async function openSockets(): Promise<Sockets> {
  const mod = await import(new URL(runtimeName === "deno" ? "./net_deno.ts" : "./net_bun.ts", import.meta.url).href);
  return mod.sockets as Sockets;
}
