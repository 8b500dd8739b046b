/**
 * The Bun binding: libcalog through bun:ffi. Importing this module installs it as calog's backend and
 * re-exports the API. The only file that imports bun:ffi.
 * @module
 */
import { dlopen, JSCallback, type Pointer, toArrayBuffer } from "bun:ffi";
import { type Backend, type HostCallbacks, installBackend, type NativeRuntime } from "../src/backend.ts";
import { closeSync, existsSync, openSync, readSync } from "node:fs";
import { CalogLoadError } from "../src/errors.ts";
import { detectLibc, loadLibrary, localBuildPath, type PlatformKey } from "./common.ts";

export * from "../src/index.ts";

/** libcalog's exported functions, as bun:ffi sees them (C types in comments). */
const symbols = {
  calogAbiVersion: { args: [], returns: "u32" }, // uint32_t (void)
  calogCreate: { args: [], returns: "ptr" }, // CalogT *(void)
  calogDestroy: { args: ["ptr"], returns: "void" }, // void (CalogT *)
  calogSetPolicy: { args: ["ptr", "u32"], returns: "void" }, // void (CalogT *, CalogPolicyE)
  calogWireControl: { args: ["ptr"], returns: "ptr" }, // CalogWireControlT *(CalogT *)
  calogWireReserve: { args: ["ptr", "u32", "u32"], returns: "i32" }, // int32_t (CalogT *, uint32_t which, uint32_t size)
  calogHostInstall: { args: ["ptr", "function", "function"], returns: "void" }, // (CalogT *, CalogHostCallFnT, CalogHostReleaseFnT)
  calogContextCreateWire: { args: ["ptr", "u32"], returns: "i32" }, // int32_t (CalogT *, uint32_t inLen)
  calogContextDestroy: { args: ["ptr", "i32"], returns: "i32" }, // int32_t (CalogT *, CalogContextIdT)
  calogContextRelease: { args: ["ptr", "i32"], returns: "i32" }, // int32_t (CalogT *, CalogContextIdT)
  calogContextCount: { args: ["ptr"], returns: "i32" }, // int32_t (CalogT *)
  calogContextMemory: { args: ["ptr", "i32"], returns: "i64" }, // int64_t (CalogT *, CalogContextIdT)
  calogEvalWire: { args: ["ptr", "i32", "u32"], returns: "i32" }, // int32_t (CalogT *, CalogContextIdT, uint32_t inLen)
  calogCallWire: { args: ["ptr", "i32", "u32"], returns: "i32" }, // int32_t (CalogT *, CalogContextIdT, uint32_t inLen)
  calogGetWire: { args: ["ptr", "i32", "u32"], returns: "i32" }, // int32_t (CalogT *, CalogContextIdT, uint32_t inLen)
  calogFnCallWire: { args: ["ptr", "u32", "u32", "u32"], returns: "i32" }, // int32_t (CalogT *, uint32_t slot, uint32_t gen, uint32_t inLen)
  calogFnReleaseWire: { args: ["ptr", "u32", "u32"], returns: "void" }, // void (CalogT *, uint32_t slot, uint32_t gen)
  calogRegisterHostWire: { args: ["ptr", "u32"], returns: "i32" }, // int32_t (CalogT *, uint32_t inLen)
  calogUnregisterWire: { args: ["ptr", "u32"], returns: "i32" }, // int32_t (CalogT *, uint32_t inLen)
  calogFnLiveCount: { args: [], returns: "i64" }, // int64_t (void)
  calogEvalAsyncWire: { args: ["ptr", "i32", "u32"], returns: "i32" }, // int32_t (CalogT *, CalogContextIdT, uint32_t inLen)
  calogCallAsyncWire: { args: ["ptr", "i32", "u32"], returns: "i32" }, // int32_t (CalogT *, CalogContextIdT, uint32_t inLen)
  calogFnCallAsyncWire: { args: ["ptr", "u32", "u32", "u32"], returns: "i32" }, // int32_t (CalogT *, uint32_t slot, uint32_t gen, uint32_t inLen)
  calogFnCallAwaitedWire: { args: ["ptr", "u32", "u32", "u32"], returns: "i32" }, // int32_t (CalogT *, uint32_t slot, uint32_t gen, uint32_t inLen)
  calogHostPoll: { args: ["ptr"], returns: "i32" }, // int32_t (CalogT *)
  calogHostPollWait: { args: ["ptr", "i32"], returns: "i32" }, // int32_t (CalogT *, int32_t waitUs)
  calogContextInterrupt: { args: ["ptr", "i32"], returns: "i32" }, // int32_t (CalogT *, CalogContextIdT)
  calogRequestCancel: { args: ["ptr", "u32"], returns: "void" }, // void (CalogT *, uint32_t ticket)
  calogContextSetLimitsWire: { args: ["ptr", "i32", "u32"], returns: "i32" }, // int32_t (CalogT *, CalogContextIdT, uint32_t inLen)
  calogContextStat: { args: ["ptr", "i32", "i32"], returns: "i64" }, // int64_t (CalogT *, CalogContextIdT, int32_t which)
  calogLeakStat: { args: ["i32"], returns: "i64" }, // int64_t (int32_t which)
  calogStackLeft: { args: [], returns: "usize" }, // size_t (void)
  calogHostSetWaker: { args: ["ptr", "function"], returns: "void" }, // void (CalogT *, CalogHostWakeFnT)
  calogHostSettleWire: { args: ["ptr", "u32", "i32"], returns: "i32" }, // int32_t (CalogT *, uint32_t token, int32_t outcome)
  calogHostOutDone: { args: ["ptr"], returns: "void" }, // void (CalogT *)
  calogHostTakeRelease: { args: ["ptr"], returns: "u32" }, // uint32_t (CalogT *)
} as const;

const DEAD = -10;
/** calogStackLeft's SIZE_MAX (bounds unknown), as a number: no limit. */
const stackLeft = (n: number): number => (n >= 2 ** 63 ? Infinity : n);

// The platform packages, each named literally so `bun build --compile` embeds the installed one (its module
// imports the library as a file). The bundler accepts a missing one only inside `try`; requiring it throws,
// here and in a compiled app, and the loader records it as not installed.
function packagePath(key: PlatformKey): string {
  try {
    switch (key) {
      case "linux-x64-gnu": return require("@calog/linux-x64-gnu").default;
      case "linux-arm64-gnu": return require("@calog/linux-arm64-gnu").default;
      case "linux-x64-musl": return require("@calog/linux-x64-musl").default;
      case "linux-arm64-musl": return require("@calog/linux-arm64-musl").default;
    }
  } catch (e) {
    throw new Error(`cannot find @calog/${key}: ${(e as Error).message}`);
  }
}

function head(path: string, n: number): Uint8Array | undefined {
  try {
    const fd = openSync(path, "r");
    try {
      const buf = new Uint8Array(n);
      return buf.subarray(0, readSync(fd, buf, 0, n, 0));
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
}

const glibcHint = () => {
  try {
    const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
    return header?.glibcVersionRuntime ? "glibc" as const : undefined;
  } catch {
    return undefined;
  }
};

const { lib, path } = await loadLibrary({
  env: (name) => process.env[name],
  platform: {
    os: process.platform,
    arch: process.arch,
    libc: process.platform === "linux" ? detectLibc(head, existsSync, process.arch, glibcHint) : undefined,
  },
  packagePath: (key) => Promise.try(() => packagePath(key)),
  exists: (path) => path.startsWith("/$bunfs/") ? undefined : existsSync(path),
  open: (path) => dlopen(path, symbols).symbols,
  abi: (l) => l.calogAbiVersion(),
  localBuild: localBuildPath(import.meta.url),
});

/** calogStackLeft as this module loads: near the top of the stack (see Backend.stackAtLoad). */
const stackAtLoad = stackLeft(Number(lib.calogStackLeft()));

class BunRuntime implements NativeRuntime {
  #rt: Pointer | null;
  #ctlPtr: Pointer;
  readonly control: Uint32Array;
  #callbacks: JSCallback[] = [];
  #waker: JSCallback | undefined;
  #onWake: (() => void) | undefined;
  /**
   * Holds Bun's event loop open while the wake is armed, as Deno's wait in flight does there. The threadsafe
   * callback alone holds nothing: a process whose only work was an async call ended before the reply came,
   * and a top-level await of one kept Bun polling the clock in a loop (a core busy, and on a loaded machine
   * the context thread waited for the scheduler's tick: ~7 ms per awaited call instead of microseconds).
   */
  #keep: ReturnType<typeof setInterval> | undefined;
  #held = false;

  constructor() {
    // bun:ffi "ptr" results are numbers (typed loosely as number | bigint)
    const rt = lib.calogCreate() as Pointer | null;
    if (rt === null) throw new CalogLoadError("ERR_OOM", "calogCreate failed (out of memory)");
    this.#rt = rt;
    this.#ctlPtr = lib.calogWireControl(rt) as Pointer;
    this.control = new Uint32Array(toArrayBuffer(this.#ctlPtr, 0, 64));
  }

  buffers(): { in: Uint8Array; out: Uint8Array } {
    const c = this.control;
    const inPtr = (c[0]! + c[1]! * 4294967296) as Pointer, outPtr = (c[2]! + c[3]! * 4294967296) as Pointer;
    return { in: new Uint8Array(toArrayBuffer(inPtr, 0, c[4]!)), out: new Uint8Array(toArrayBuffer(outPtr, 0, c[5]!)) };
  }

  reserve(which: 0 | 1, size: number): number {
    return this.#rt === null ? DEAD : lib.calogWireReserve(this.#rt, which, size);
  }

  installHost(host: HostCallbacks): void {
    if (this.#rt === null) return;
    // Nothing may throw out of a callback: Bun raises it again at the JavaScript call into calog below, and the
    // library reads the 0 returned meanwhile as "the host function could not run" (see hostOutcome in wire.c)
    const call = new JSCallback((id: number, len: number) => {
      try {
        return host.call(id, len);
      } catch {
        return 0; // a stack overflow inside the call (host.call catches everything else)
      }
    }, { args: ["u32", "u32"], returns: "i32" });
    // 1 once released; 0 (what Bun also returns when JSC refuses to enter it) and the library keeps the id for
    // takeRelease: the reference was counted for good
    const release = new JSCallback((id: number) => {
      try {
        host.release(id);
        return 1;
      } catch {
        return 0; // a stack overflow before the release (host.release throws nothing else)
      }
    }, { args: ["u32"], returns: "i32" });
    this.#callbacks.push(call, release);
    lib.calogHostInstall(this.#rt, call.ptr!, release.ptr!);
    // The one thing a foreign thread does to JavaScript: a data-less, fire-and-forget wake, coalesced in C
    // (at most one in flight until the next poll). It does not keep the process alive.
    this.#waker = new JSCallback(() => (this.#onWake ?? host.wake)(), { args: [], returns: "void", threadsafe: true });
    lib.calogHostSetWaker(this.#rt, this.#waker.ptr!);
  }

  armWake(onWake: () => void): void {
    this.#onWake = onWake;
    if (this.#held || this.#rt === null) return;
    this.#held = true;
    // The timer roots this object, so onWake too, as armWake promises. It never fires in practice (2^31 ms);
    // if it did, a drain would be harmless.
    if (this.#keep === undefined) this.#keep = setInterval(() => this.#onWake?.(), 0x7fffffff);
    else this.#keep.ref();
  }
  /** Wakes come through a threadsafe callback, run ahead of timers (see NativeRuntime). */
  readonly wakeTakesTurns = false;

  disarmWake(): void {
    this.#onWake = undefined; // the waker and the timer stay rooted: they must not hold the runtime
    if (!this.#held) return;
    this.#held = false;
    this.#keep?.unref();
  }

  evalAsync(id: number, inLen: number): number {
    return this.#rt === null ? DEAD : lib.calogEvalAsyncWire(this.#rt, id, inLen);
  }
  callAsync(id: number, inLen: number): number {
    return this.#rt === null ? DEAD : lib.calogCallAsyncWire(this.#rt, id, inLen);
  }
  fnCallAsync(slot: number, gen: number, inLen: number): number {
    return this.#rt === null ? DEAD : lib.calogFnCallAsyncWire(this.#rt, slot, gen, inLen);
  }
  fnCallAwaited(slot: number, gen: number, inLen: number): number {
    return this.#rt === null ? DEAD : lib.calogFnCallAwaitedWire(this.#rt, slot, gen, inLen);
  }
  poll(): number {
    return this.#rt === null ? 0 : lib.calogHostPoll(this.#rt);
  }
  pollWait(waitUs: number): number {
    return this.#rt === null ? 0 : lib.calogHostPollWait(this.#rt, waitUs);
  }

  setPolicy(policy: number): void {
    if (this.#rt !== null) lib.calogSetPolicy(this.#rt, policy);
  }
  contextCreate(inLen: number): number {
    return this.#rt === null ? DEAD : lib.calogContextCreateWire(this.#rt, inLen);
  }
  contextDestroy(id: number): number {
    return this.#rt === null ? DEAD : lib.calogContextDestroy(this.#rt, id);
  }
  contextRelease(id: number): number {
    return this.#rt === null ? DEAD : lib.calogContextRelease(this.#rt, id);
  }
  contextCount(): number {
    return this.#rt === null ? 0 : lib.calogContextCount(this.#rt);
  }
  contextMemory(id: number): number {
    return this.#rt === null ? -1 : Number(lib.calogContextMemory(this.#rt, id));
  }
  contextStat(id: number, which: number): number {
    return this.#rt === null ? -1 : Number(lib.calogContextStat(this.#rt, id, which));
  }
  interrupt(id: number): number {
    return this.#rt === null ? DEAD : lib.calogContextInterrupt(this.#rt, id);
  }
  cancel(ticket: number): void {
    if (this.#rt !== null) lib.calogRequestCancel(this.#rt, ticket);
  }
  setLimits(id: number, inLen: number): number {
    return this.#rt === null ? DEAD : lib.calogContextSetLimitsWire(this.#rt, id, inLen);
  }
  eval(id: number, inLen: number): number {
    return this.#rt === null ? DEAD : lib.calogEvalWire(this.#rt, id, inLen);
  }
  call(id: number, inLen: number): number {
    return this.#rt === null ? DEAD : lib.calogCallWire(this.#rt, id, inLen);
  }
  get(id: number, inLen: number): number {
    return this.#rt === null ? DEAD : lib.calogGetWire(this.#rt, id, inLen);
  }
  fnCall(slot: number, gen: number, inLen: number): number {
    return this.#rt === null ? DEAD : lib.calogFnCallWire(this.#rt, slot, gen, inLen);
  }
  fnRelease(slot: number, gen: number): void {
    if (this.#rt !== null) lib.calogFnReleaseWire(this.#rt, slot, gen);
  }
  registerHost(inLen: number): number {
    return this.#rt === null ? DEAD : lib.calogRegisterHostWire(this.#rt, inLen);
  }
  unregister(inLen: number): number {
    return this.#rt === null ? DEAD : lib.calogUnregisterWire(this.#rt, inLen);
  }
  hostSettle(token: number, outcome: number): number {
    return this.#rt === null ? DEAD : lib.calogHostSettleWire(this.#rt, token, outcome);
  }
  outDone(): void {
    if (this.#rt !== null) lib.calogHostOutDone(this.#rt);
  }
  takeRelease(): number {
    return this.#rt === null ? 0 : lib.calogHostTakeRelease(this.#rt);
  }

  destroy(): void {
    const rt = this.#rt;
    if (rt === null) return;
    this.#rt = null;
    lib.calogDestroy(rt); // may still call the host release callback: close them after
    for (const cb of this.#callbacks) cb.close();
    this.#callbacks = [];
    this.#waker?.close();
    this.#waker = undefined;
    this.#onWake = undefined;
    clearInterval(this.#keep);
    this.#keep = undefined;
    this.#held = false;
  }
}


const bunBackend: Backend = {
  name: "bun",
  libraryPath: path,
  abiVersion: () => lib.calogAbiVersion(),
  liveFunctionValues: () => Number(lib.calogFnLiveCount()),
  leakStat: (which) => Number(lib.calogLeakStat(which)),
  stackLeft: () => stackLeft(Number(lib.calogStackLeft())),
  stackAtLoad,
  floorLeft: 0, // no floor marked: the library counts down to the thread's real end
  createRuntime: () => new BunRuntime(),
};

installBackend(bunBackend);
