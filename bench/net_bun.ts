/** The network bench's sockets under Bun: `Bun.listen` and `Bun.connect` (see net_sockets.ts). @module */
import type { Socket } from "bun";
import { type BulkConn, CHUNK, FILL, Header, HOST, type PingClient, type Server, type Sockets } from "./net_sockets.ts";

/** Writes what it can; the rest waits in `pending` for the socket's drain event (bytes are copied). */
class Writer {
  private pending: Uint8Array[] = [];
  constructor(private readonly s: Socket<unknown>) {}
  write(d: Uint8Array): void {
    if (this.pending.length === 0) {
      const n = this.s.write(d);
      if (n >= d.length) return;
      d = d.subarray(Math.max(n, 0));
    }
    this.pending.push(new Uint8Array(d));
  }
  drain(): void {
    while (this.pending.length) {
      const d = this.pending[0]!;
      const n = this.s.write(d);
      if (n < d.length) {
        this.pending[0] = d.subarray(Math.max(n, 0));
        return;
      }
      this.pending.shift();
    }
  }
}

function listen<T>(open: (s: Socket<T>) => T, data: (s: Socket<T>, d: Uint8Array) => void, drain?: (s: Socket<T>) => void): Server {
  const srv = Bun.listen<T>({
    hostname: HOST,
    port: 0,
    socket: {
      open(s) {
        s.setNoDelay(true);
        s.data = open(s);
      },
      data,
      drain: drain ?? (() => {}),
    },
  });
  return { port: srv.port, close: () => srv.stop(true) };
}

function connect<T>(port: number, data: (s: Socket<T>, d: Uint8Array) => void, drain?: (s: Socket<T>) => void, end?: () => void): Promise<Socket<T>> {
  return Bun.connect<T>({
    hostname: HOST,
    port,
    socket: {
      open(s) {
        s.setNoDelay(true);
      },
      data,
      drain: drain ?? (() => {}),
      close: end ?? (() => {}),
      error: end ?? (() => {}),
    },
  });
}

const ONE = new Uint8Array([120]);

export const sockets: Sockets = {
  serverApi: "Bun.listen",
  clientApi: "Bun.connect",

  echoServer: () => listen<Writer>((s) => new Writer(s as Socket<unknown>), (s, d) => s.data.write(d), (s) => s.data.drain()),

  sinkServer: () =>
    listen<{ h: Header; want: number; got: number }>(
      () => ({ h: new Header(), want: -1, got: 0 }),
      (s, d) => {
        const st = s.data;
        let off = 0;
        if (st.want < 0) {
          const r = st.h.feed(d);
          if (r === null) return;
          [st.want, off] = r;
          st.got = 0;
        }
        st.got += d.length - off;
        if (st.got >= st.want) {
          s.write(`${st.got}\n`);
          st.want = -1;
        }
      },
    ),

  sourceServer: () => {
    type St = { h: Header; left: number };
    const pump = (s: Socket<St>) => {
      const st = s.data;
      while (st.left > 0) {
        const n = s.write(FILL, 0, Math.min(st.left, CHUNK));
        if (n <= 0) return;
        st.left -= n;
      }
      s.end();
    };
    return listen<St>(() => ({ h: new Header(), left: 0 }), (s, d) => {
      const r = s.data.h.feed(d);
      if (r === null) return;
      s.data.left = r[0];
      pump(s);
    }, pump);
  },

  async pingClient(port: number, conns: number): Promise<PingClient> {
    const socks: Array<{ s: Socket<undefined>; left: number; done: () => void; fail: (e: Error) => void }> = [];
    for (let i = 0; i < conns; i++) {
      const c = { s: undefined as unknown as Socket<undefined>, left: 0, done: () => {}, fail: (_e: Error) => {} };
      c.s = await connect<undefined>(port, (s, d) => {
        c.left -= d.length;
        if (c.left > 0) s.write(ONE);
        else c.done();
      }, undefined, () => c.fail(new Error("connection closed during ping-pong")));
      socks.push(c);
    }
    return {
      run: (n) =>
        Promise.all(socks.map((c) =>
          new Promise<void>((resolve, reject) => {
            c.left = n;
            c.done = resolve;
            c.fail = reject;
            c.s.write(ONE);
          })
        )).then(() => {}),
      close: () => socks.forEach((c) => c.s.end()),
    };
  },

  async bulkSend(port: number): Promise<BulkConn> {
    let resolve: (n: number) => void = () => {}, reject: (e: Error) => void = () => {};
    let left = 0, ack = "";
    const pump = (s: Socket<undefined>) => {
      while (left > 0) {
        const n = s.write(FILL, 0, Math.min(left, CHUNK));
        if (n <= 0) return;
        left -= n;
      }
    };
    const s = await connect<undefined>(port, (_s, d) => {
      ack += new TextDecoder().decode(d);
      if (ack.endsWith("\n")) resolve(Number(ack));
    }, pump, () => reject(new Error("sink closed")));
    return {
      run: (bytes) =>
        new Promise<number>((res, rej) => {
          resolve = res;
          reject = rej;
          ack = "";
          s.write(`${bytes}\n`);
          left = bytes;
          pump(s);
        }),
      close: () => s.end(),
    };
  },

  async bulkReceive(port: number): Promise<BulkConn> {
    let resolve: (n: number) => void = () => {}, reject: (e: Error) => void = () => {};
    let want = 0, got = 0;
    const s = await connect<undefined>(port, (_s, d) => {
      got += d.length;
      if (got >= want) resolve(got);
    }, undefined, () => (got < want ? reject(new Error(`source closed after ${got} bytes`)) : undefined));
    return {
      run: (bytes) =>
        new Promise<number>((res, rej) => {
          resolve = res;
          reject = rej;
          want = bytes;
          got = 0;
          s.write(`${bytes}\n`);
        }),
      close: () => s.end(),
    };
  },
};
