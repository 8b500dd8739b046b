/** The network bench's sockets under Deno: `Deno.listen` and `Deno.connect` (see net_sockets.ts). @module */
import { type BulkConn, CHUNK, FILL, Header, HOST, type PingClient, type Server, type Sockets } from "./net_sockets.ts";

type Conn = Deno.TcpConn;

async function writeAll(c: Conn, d: Uint8Array): Promise<void> {
  while (d.length > 0) d = d.subarray(await c.write(d));
}

/** A server whose every connection runs serve(conn) until it ends (errors of a closing peer are expected). */
function listen(serve: (c: Conn, buf: Uint8Array) => Promise<void>): Server {
  const l = Deno.listen({ hostname: HOST, port: 0 });
  const open = new Set<Conn>();
  (async () => {
    try {
      for await (const c of l) {
        c.setNoDelay(true);
        open.add(c);
        serve(c, new Uint8Array(CHUNK)).catch(() => {}).finally(() => {
          open.delete(c);
          try {
            c.close();
          } catch { /* closed already */ }
        });
      }
    } catch { /* the listener was closed */ }
  })();
  return {
    port: l.addr.port,
    close: () => {
      l.close();
      for (const c of open) {
        try {
          c.close();
        } catch { /* closed already */ }
      }
    },
  };
}

/** Reads the "N\n" header; returns N and the body bytes that came with it. */
async function readHeader(c: Conn, buf: Uint8Array): Promise<[number, number] | null> {
  const h = new Header();
  for (;;) {
    const n = await c.read(buf);
    if (n === null) return null;
    const r = h.feed(buf.subarray(0, n));
    if (r) return [r[0], n - r[1]];
  }
}

async function connect(port: number): Promise<Conn> {
  const c = await Deno.connect({ hostname: HOST, port });
  c.setNoDelay(true);
  return c;
}

const ONE = new Uint8Array([120]);

export const sockets: Sockets = {
  serverApi: "Deno.listen",
  clientApi: "Deno.connect",

  echoServer: () =>
    listen(async (c, buf) => {
      for (let n; (n = await c.read(buf)) !== null;) await writeAll(c, buf.subarray(0, n));
    }),

  sinkServer: () =>
    listen(async (c, buf) => {
      for (;;) {
        const h = await readHeader(c, buf);
        if (h === null) return;
        let [want, got] = h;
        while (got < want) {
          const n = await c.read(buf);
          if (n === null) return;
          got += n;
        }
        await writeAll(c, new TextEncoder().encode(`${got}\n`));
      }
    }),

  sourceServer: () =>
    listen(async (c, buf) => {
      const h = await readHeader(c, buf);
      if (h === null) return;
      for (let left = h[0]; left > 0;) {
        const n = await c.write(FILL.subarray(0, Math.min(left, CHUNK)));
        left -= n;
      }
    }),

  async pingClient(port: number, conns: number): Promise<PingClient> {
    const cs: Conn[] = [];
    for (let i = 0; i < conns; i++) cs.push(await connect(port));
    return {
      run: (n) =>
        Promise.all(cs.map(async (c) => {
          const b = new Uint8Array(16);
          for (let i = 0; i < n; i++) {
            await c.write(ONE);
            if ((await c.read(b)) === null) throw new Error("connection closed during ping-pong");
          }
        })).then(() => {}),
      close: () => cs.forEach((c) => c.close()),
    };
  },

  async bulkSend(port: number): Promise<BulkConn> {
    const c = await connect(port);
    return {
      async run(bytes) {
        await writeAll(c, new TextEncoder().encode(`${bytes}\n`));
        for (let left = bytes; left > 0;) left -= await c.write(FILL.subarray(0, Math.min(left, CHUNK)));
        const b = new Uint8Array(32);
        let ack = "";
        while (!ack.endsWith("\n")) {
          const n = await c.read(b);
          if (n === null) throw new Error("sink closed");
          ack += new TextDecoder().decode(b.subarray(0, n));
        }
        return Number(ack);
      },
      close: () => c.close(),
    };
  },

  async bulkReceive(port: number): Promise<BulkConn> {
    const c = await connect(port);
    return {
      async run(bytes) {
        await writeAll(c, new TextEncoder().encode(`${bytes}\n`));
        const buf = new Uint8Array(CHUNK);
        let got = 0;
        while (got < bytes) {
          const n = await c.read(buf);
          if (n === null) throw new Error(`source closed after ${got} bytes`);
          got += n;
        }
        return got;
      },
      close: () => c.close(),
    };
  },
};
