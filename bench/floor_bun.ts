/** The FFI floor under Bun (bun:ffi), see platform.ts and rawcalog.ts. @module */
import { dlopen, JSCallback, type Pointer, toArrayBuffer } from "bun:ffi";
import type { Floor } from "./platform.ts";
import { type RawCalog, rawCalog } from "./rawcalog.ts";

export function openFloor(libDir: string, luaSource: string): Floor {
  const lib = dlopen(`${libDir}/libcalogbench.so`, {
    calogBenchNoop: { args: [], returns: "void" },
    calogBenchNoop4: { args: ["ptr", "u32", "u32", "u32"], returns: "i32" },
    calogBenchCallN: { args: ["function", "u32"], returns: "i32" },
  });
  const calog = dlopen(`${libDir}/libcalog.so`, {
    calogAbiVersion: { args: [], returns: "u32" },
    calogCreate: { args: [], returns: "ptr" },
    calogDestroy: { args: ["ptr"], returns: "void" },
    calogWireControl: { args: ["ptr"], returns: "ptr" },
    calogHostInstall: { args: ["ptr", "function", "function"], returns: "void" },
    calogContextCreateWire: { args: ["ptr", "u32"], returns: "i32" },
    calogEvalWire: { args: ["ptr", "i32", "u32"], returns: "i32" },
    calogGetWire: { args: ["ptr", "i32", "u32"], returns: "i32" },
    calogCallWire: { args: ["ptr", "i32", "u32"], returns: "i32" },
    calogFnCallWire: { args: ["ptr", "u32", "u32", "u32"], returns: "i32" },
    calogRegisterHostWire: { args: ["ptr", "u32"], returns: "i32" },
  });
  // the same shape as calog's host-call callback (bindings/bun.ts): (u32 id, u32 len) -> i32
  const cb = new JSCallback((_id: number, _len: number) => 1, { args: ["u32", "u32"], returns: "i32" });
  const s = lib.symbols, c = calog.symbols;
  const p = cb.ptr as Pointer;

  const rt = c.calogCreate() as Pointer;
  const ctl = new Uint32Array(toArrayBuffer(c.calogWireControl(rt) as Pointer, 0, 32));
  const holder: { raw?: RawCalog } = {}; // the host callback is made before the raw runtime it serves
  const host = new JSCallback((id: number, len: number) => holder.raw!.host(id, len), { args: ["u32", "u32"], returns: "i32" });
  const release = new JSCallback((_id: number) => {}, { args: ["u32"], returns: "void" });
  c.calogHostInstall(rt, host.ptr as Pointer, release.ptr as Pointer);
  const r = holder.raw = rawCalog({
    buffers: () => ({
      in: new Uint8Array(toArrayBuffer((ctl[0]! + ctl[1]! * 4294967296) as Pointer, 0, ctl[4]!)),
      out: new Uint8Array(toArrayBuffer((ctl[2]! + ctl[3]! * 4294967296) as Pointer, 0, ctl[5]!)),
      gen: () => ctl[6]!,
    }),
    contextCreateWire: (len) => c.calogContextCreateWire(rt, len),
    evalWire: (id, len) => c.calogEvalWire(rt, id, len),
    getWire: (id, len) => c.calogGetWire(rt, id, len),
    callWire: (id, len) => c.calogCallWire(rt, id, len),
    fnCallWire: (slot, gen, len) => c.calogFnCallWire(rt, slot, gen, len),
    registerHostWire: (len) => c.calogRegisterHostWire(rt, len),
  }, luaSource);

  return {
    noop: () => s.calogBenchNoop(),
    noop4: (a, b, x) => s.calogBenchNoop4(p, a, b, x),
    abiVersion: () => c.calogAbiVersion(),
    callN: (n) => s.calogBenchCallN(p, n),
    rawAdd: (a, b) => r.add(a, b),
    rawLoop: (n) => r.loop(n),
    close: () => {
      c.calogDestroy(rt);
      for (const k of [cb, host, release]) k.close();
      lib.close();
      calog.close();
    },
  };
}
