/** The FFI floor under Deno (Deno.dlopen), see platform.ts and rawcalog.ts. @module */
import type { Floor } from "./platform.ts";
import { type RawCalog, rawCalog } from "./rawcalog.ts";

export function openFloor(libDir: string, luaSource: string): Floor {
  const lib = Deno.dlopen(`${libDir}/libcalogbench.so`, {
    calogBenchNoop: { parameters: [], result: "void" },
    calogBenchNoop4: { parameters: ["pointer", "u32", "u32", "u32"], result: "i32" },
    calogBenchCallN: { parameters: ["function", "u32"], result: "i32" },
  });
  const calog = Deno.dlopen(`${libDir}/libcalog.so`, {
    calogAbiVersion: { parameters: [], result: "u32" },
    calogCreate: { parameters: [], result: "pointer" },
    calogDestroy: { parameters: ["pointer"], result: "void" },
    calogWireControl: { parameters: ["pointer"], result: "pointer" },
    calogHostInstall: { parameters: ["pointer", "function", "function"], result: "void" },
    calogContextCreateWire: { parameters: ["pointer", "u32"], result: "i32" },
    calogEvalWire: { parameters: ["pointer", "i32", "u32"], result: "i32" },
    calogGetWire: { parameters: ["pointer", "i32", "u32"], result: "i32" },
    calogCallWire: { parameters: ["pointer", "i32", "u32"], result: "i32" },
    calogFnCallWire: { parameters: ["pointer", "u32", "u32", "u32"], result: "i32" },
    calogRegisterHostWire: { parameters: ["pointer", "u32"], result: "i32" },
  });
  // the same shape as calog's host-call callback (bindings/deno.ts): (u32 id, u32 len) -> i32
  const callDef = { parameters: ["u32", "u32"], result: "i32" } as const;
  const cb = new Deno.UnsafeCallback(callDef, (_id, _len) => 1);
  const s = lib.symbols, c = calog.symbols;

  const rt = c.calogCreate();
  const ctl = new Uint32Array(Deno.UnsafePointerView.getArrayBuffer(c.calogWireControl(rt)!, 32));
  const holder: { raw?: RawCalog } = {}; // the host callback is made before the raw runtime it serves
  const host = new Deno.UnsafeCallback(callDef, (id, len) => holder.raw!.host(id, len));
  const release = new Deno.UnsafeCallback({ parameters: ["u32"], result: "void" } as const, (_id) => {});
  c.calogHostInstall(rt, host.pointer, release.pointer);
  const view = (lo: number, hi: number, cap: number) =>
    new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(Deno.UnsafePointer.create(BigInt(lo) | (BigInt(hi) << 32n))!, cap));
  const r = holder.raw = rawCalog({
    buffers: () => ({ in: view(ctl[0]!, ctl[1]!, ctl[4]!), out: view(ctl[2]!, ctl[3]!, ctl[5]!), gen: () => ctl[6]! }),
    contextCreateWire: (len) => c.calogContextCreateWire(rt, len),
    evalWire: (id, len) => c.calogEvalWire(rt, id, len),
    getWire: (id, len) => c.calogGetWire(rt, id, len),
    callWire: (id, len) => c.calogCallWire(rt, id, len),
    fnCallWire: (slot, gen, len) => c.calogFnCallWire(rt, slot, gen, len),
    registerHostWire: (len) => c.calogRegisterHostWire(rt, len),
  }, luaSource);

  return {
    noop: () => s.calogBenchNoop(),
    noop4: (a, b, x) => s.calogBenchNoop4(cb.pointer, a, b, x),
    abiVersion: () => c.calogAbiVersion(),
    callN: (n) => s.calogBenchCallN(cb.pointer, n),
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
