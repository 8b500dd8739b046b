/**
 * libcalog's wire entry points driven by the thinnest possible TypeScript: requests hand-encoded into IN,
 * results read straight from OUT, a host callback that decodes one int and answers one int. The same C
 * path calog's API takes (calogFnCallWire, the host trampoline), without src/'s codec and bookkeeping:
 * the gap between this and the real API is what calog's TypeScript layer costs. Bench-only: it uses only
 * the public C API (c/include/calog.h), loaded a second time next to the binding.
 * @module
 */

/** What a platform file (floor_bun.ts / floor_deno.ts) provides: libcalog's symbols with the runtime bound. */
export interface RawSymbols {
  /** Fresh views over IN and OUT (they do not move for requests this small: checked). */
  buffers(): { in: Uint8Array; out: Uint8Array; gen: () => number };
  contextCreateWire(len: number): number;
  evalWire(id: number, len: number): number;
  getWire(id: number, len: number): number;
  callWire(id: number, len: number): number;
  fnCallWire(slot: number, gen: number, len: number): number;
  registerHostWire(len: number): number;
}

const STR = 6, LIST = 8, I32 = 3, FN = 11, NIL = 0;

export interface RawCalog {
  /** add(a, b) through calogFnCallWire: encode [LIST 2 I32 I32], one FFI call, read the I32 result. */
  add(a: number, b: number): number;
  /** loopHost(n) through calogFnCallWire: Lua calls the raw host callback n times. */
  loop(n: number): number;
  /** The host callback's body (installed by the platform file with calogHostInstall). */
  host(id: number, argLen: number): number;
}

export function rawCalog(s: RawSymbols, luaSource: string): RawCalog {
  const b = s.buffers();
  const gen0 = b.gen();
  const inB = b.in, outB = b.out;
  const inV = new DataView(inB.buffer, inB.byteOffset, inB.byteLength);
  const outV = new DataView(outB.buffer, outB.byteOffset, outB.byteLength);
  const enc = new TextEncoder();
  const str = (p: number, v: string): number => {
    const { written } = enc.encodeInto(v, inB.subarray(p + 5));
    inB[p] = STR;
    inV.setUint32(p + 1, written, true);
    return p + 5 + written;
  };
  const i32 = (p: number, v: number): number => {
    inB[p] = I32;
    inV.setInt32(p + 1, v, true);
    return p + 5;
  };
  const fail = (what: string, r: number) => {
    throw new Error(`raw libcalog: ${what} failed (${r})`);
  };
  // a Lua context with the bench functions, and the host function registered the way bindings do it
  let p = str(0, "lua");
  p = i32(p, 0);
  const id = s.contextCreateWire(p);
  if (id <= 0) fail("calogContextCreateWire", id);
  p = str(0, "hostinc");
  p = i32(p, 1);
  if (s.registerHostWire(p) < 0) fail("calogRegisterHostWire", -1);
  p = str(0, luaSource);
  inB[p++] = NIL;
  const ev = s.evalWire(id, p);
  if (ev < 0) fail("calogEvalWire", ev);
  const handle = (name: string): [number, number] => {
    const r = s.getWire(id, str(0, name));
    if (r !== 9 || outB[0] !== FN) fail(`calogGetWire(${name})`, r);
    return [outV.getUint32(1, true), outV.getUint32(5, true)];
  };
  const [addSlot, addGen] = handle("add");
  const [loopSlot, loopGen] = handle("loopHost");
  if (b.gen() !== gen0) throw new Error("raw libcalog: a wire buffer moved during set-up");
  const readInt = (len: number): number => {
    if (len !== 5 || outB[0] !== I32) fail("a call", len);
    return outV.getInt32(1, true);
  };
  return {
    add(a, c) {
      inB[0] = LIST;
      inV.setUint32(1, 2, true);
      i32(5, a);
      i32(10, c);
      return readInt(s.fnCallWire(addSlot, addGen, 15));
    },
    loop(n) {
      inB[0] = LIST;
      inV.setUint32(1, 1, true);
      i32(5, n);
      return readInt(s.fnCallWire(loopSlot, loopGen, 10));
    },
    host(_id, _argLen) {
      // OUT: [LIST n=1][I32 v] -> IN: [I32 v + 1]
      const v = outV.getInt32(6, true);
      inB[0] = I32;
      inV.setInt32(1, v + 1, true);
      return 5;
    },
  };
}
