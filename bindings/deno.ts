/**
 * The Deno binding: libcalog through Deno.dlopen. Importing this module installs it as calog's backend and
 * re-exports the API. Needs --allow-ffi (and --allow-env to honour CALOG_LIB).
 *
 * Where libcalog comes from, in this order (./common.ts): `CALOG_LIB` (an explicit path); the npm package
 * `@calog/linux-<x64|arm64>-<gnu|musl>` for this platform, found through `node_modules` (`npm install calog` in a
 * Deno project with a package.json); `zig-out/lib/libcalog.so` in a clone of calog after `npm run setup`.
 * Imported from JSR these modules have no `node_modules` beside them: set `CALOG_LIB` to a libcalog.so (for
 * instance `node_modules/@calog/linux-x64-gnu/libcalog.so` after `npm install calog`).
 * @module
 */
import { type Backend, type HostCallbacks, installBackend, type NativeRuntime } from "../src/backend.ts";
import { CalogLoadError } from "../src/errors.ts";
import { thenNative } from "../src/walk.ts";
import { detectLibc, loadLibrary, localBuildPath } from "./common.ts";

export * from "../src/index.ts";

/**
 * libcalog's exported functions, as Deno.dlopen sees them (C types in comments). Deno runs a synchronous symbol as a
 * V8 fast call, and V8 aborts the process ("Lazy deopt after a fast API call with return value is unsupported")
 * when JavaScript run inside one (a host function, a release) throws away the optimized code of its caller: the
 * calls that may run host callbacks are declared void, and their result is read from the control block, where the
 * library leaves it (CalogWireControlT.ret).
 */
const symbols = {
  calogAbiVersion: { parameters: [], result: "u32" }, // uint32_t (void)
  calogStackFloorHere: { parameters: [], result: "void" }, // void (void)
  calogStackLeft: { parameters: [], result: "usize" }, // size_t (void)
  calogCreate: { parameters: [], result: "pointer" }, // CalogT *(void)
  calogDestroy: { parameters: ["pointer"], result: "void" }, // void (CalogT *)
  calogSetPolicy: { parameters: ["pointer", "u32"], result: "void" }, // void (CalogT *, CalogPolicyE)
  calogWireControl: { parameters: ["pointer"], result: "pointer" }, // CalogWireControlT *(CalogT *)
  calogWireReserve: { parameters: ["pointer", "u32", "u32"], result: "i32" }, // int32_t (CalogT *, uint32_t which, uint32_t size)
  calogHostInstall: { parameters: ["pointer", "function", "function"], result: "void" }, // (CalogT *, CalogHostCallFnT, CalogHostReleaseFnT)
  calogContextCreateWire: { parameters: ["pointer", "u32"], result: "void" }, // int32_t, read from control.ret (CalogT *, uint32_t inLen)
  calogContextDestroy: { parameters: ["pointer", "i32"], result: "void" }, // int32_t, read from control.ret (CalogT *, CalogContextIdT)
  calogContextRelease: { parameters: ["pointer", "i32"], result: "void" }, // int32_t, read from control.ret (CalogT *, CalogContextIdT)
  calogContextCount: { parameters: ["pointer"], result: "i32" }, // int32_t (CalogT *)
  calogContextMemory: { parameters: ["pointer", "i32"], result: "i64" }, // int64_t (CalogT *, CalogContextIdT)
  calogEvalWire: { parameters: ["pointer", "i32", "u32"], result: "void" }, // int32_t, read from control.ret (CalogT *, CalogContextIdT, uint32_t inLen)
  calogCallWire: { parameters: ["pointer", "i32", "u32"], result: "void" }, // int32_t, read from control.ret (CalogT *, CalogContextIdT, uint32_t inLen)
  calogGetWire: { parameters: ["pointer", "i32", "u32"], result: "void" }, // int32_t, read from control.ret (CalogT *, CalogContextIdT, uint32_t inLen)
  calogFnCallWire: { parameters: ["pointer", "u32", "u32", "u32"], result: "void" }, // int32_t, read from control.ret (CalogT *, uint32_t slot, uint32_t gen, uint32_t inLen)
  calogFnReleaseWire: { parameters: ["pointer", "u32", "u32"], result: "void" }, // void (CalogT *, uint32_t slot, uint32_t gen)
  calogRegisterHostWire: { parameters: ["pointer", "u32"], result: "void" }, // int32_t, read from control.ret (CalogT *, uint32_t inLen)
  calogUnregisterWire: { parameters: ["pointer", "u32"], result: "void" }, // int32_t, read from control.ret (CalogT *, uint32_t inLen)
  calogFnLiveCount: { parameters: [], result: "i64" }, // int64_t (void)
  calogEvalAsyncWire: { parameters: ["pointer", "i32", "u32"], result: "void" }, // int32_t, read from control.ret (CalogT *, CalogContextIdT, uint32_t inLen)
  calogCallAsyncWire: { parameters: ["pointer", "i32", "u32"], result: "void" }, // int32_t, read from control.ret (CalogT *, CalogContextIdT, uint32_t inLen)
  calogFnCallAsyncWire: { parameters: ["pointer", "u32", "u32", "u32"], result: "void" }, // int32_t, read from control.ret (CalogT *, uint32_t slot, uint32_t gen, uint32_t inLen)
  calogFnCallAwaitedWire: { parameters: ["pointer", "u32", "u32", "u32"], result: "void" }, // int32_t, read from control.ret (CalogT *, uint32_t slot, uint32_t gen, uint32_t inLen)
  calogHostPoll: { parameters: ["pointer"], result: "void" }, // int32_t, read from control.ret (CalogT *)
  calogHostPollWait: { parameters: ["pointer", "i32"], result: "void" }, // int32_t, read from control.ret (CalogT *, int32_t waitUs)
  calogContextInterrupt: { parameters: ["pointer", "i32"], result: "i32" }, // int32_t (CalogT *, CalogContextIdT)
  calogRequestCancel: { parameters: ["pointer", "u32"], result: "void" }, // void (CalogT *, uint32_t ticket)
  calogContextSetLimitsWire: { parameters: ["pointer", "i32", "u32"], result: "void" }, // int32_t, read from control.ret (CalogT *, CalogContextIdT, uint32_t inLen)
  calogContextStat: { parameters: ["pointer", "i32", "i32"], result: "i64" }, // int64_t (CalogT *, CalogContextIdT, int32_t which)
  calogLeakStat: { parameters: ["i32"], result: "i64" }, // int64_t (int32_t which)
  calogHostClose: { parameters: ["pointer"], result: "void" }, // void (CalogT *)
  calogHostSettleWire: { parameters: ["pointer", "u32", "i32"], result: "void" }, // int32_t, read from control.ret (CalogT *, uint32_t token, int32_t outcome)
  calogHostOutDone: { parameters: ["pointer"], result: "void" }, // void (CalogT *)
  calogHostTakeRelease: { parameters: ["pointer"], result: "u32" }, // uint32_t (CalogT *)
  // int32_t (CalogT *, int32_t timeoutMs): blocks a Deno worker thread, never the JS thread
  calogHostWait: { parameters: ["pointer", "i32"], result: "i32", nonblocking: true },
} as const;

const DEAD = -10;
/**
 * CalogWireControlT: the bytes read of it, and where `ret` is (in 32-bit words). A call declared void returns its
 * result there; it is read right after the call, with no function call in between (one could meet the end of the
 * JavaScript stack after the library has produced its result).
 */
const CONTROL_BYTES = 68;
const RET = 16;
const callDef = { parameters: ["u32", "u32"], result: "i32" } as const;
const releaseDef = { parameters: ["u32"], result: "i32" } as const;

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no --allow-env: CALOG_LIB is not honoured
  }
}

function head(path: string, n: number): Uint8Array | undefined {
  try {
    using file = Deno.openSync(path, { read: true });
    const buf = new Uint8Array(n);
    return buf.subarray(0, file.readSync(buf) ?? 0);
  } catch {
    return undefined; // no --allow-read (or no /proc): the runtime's own build tells instead
  }
}

function exists(path: string): boolean | undefined {
  try {
    Deno.statSync(path);
    return true;
  } catch (e) {
    return e instanceof Deno.errors.NotFound ? false : undefined;
  }
}

const arch = Deno.build.arch === "x86_64" ? "x64" : Deno.build.arch === "aarch64" ? "arm64" : Deno.build.arch;
const denoLibc = () => Deno.build.env === "musl" ? "musl" as const : Deno.build.env === "gnu" ? "glibc" as const : undefined;

let loaded;
try {
  loaded = await loadLibrary({
    env,
    platform: { os: Deno.build.os, arch, libc: Deno.build.os === "linux" ? detectLibc(head, exists, arch, denoLibc) : undefined },
    // through node_modules (npm, or Deno's own with nodeModulesDir); computed, so nothing is fetched at load
    packagePath: async (key) => ((await import(["@calog", key].join("/"))) as { default: string }).default,
    exists,
    open: (path) => Deno.dlopen(path, symbols).symbols,
    abi: (l) => l.calogAbiVersion(),
    localBuild: localBuildPath(import.meta.url),
  });
} catch (e) {
  if (e instanceof Deno.errors.PermissionDenied || (e as Error).name === "NotCapable") {
    throw new CalogLoadError("ERR_LOAD", `calog needs FFI permission to load libcalog: run deno with --allow-ffi (see README, "Permissions")`);
  }
  throw e;
}
const { lib, path } = loaded;

/**
 * V8 aborts the process ("Check failed: IsOnCentralStack()") when a callback enters it from further down its thread's
 * stack than its own region, about 1 MB, where the thread's real end (8 MB on the main thread) is further still: a
 * host-thread context's script nested deep enough (eval in eval), then calling a host function or print, killed Deno
 * (pass 38a). The library is told where V8's region ends, from a JavaScript frame near V8's stack limit on this thread
 * (each Worker loads this module on its own), so the engines stop, and entries are refused, well above it. The walk
 * that finds the limit also asks the library how much of the thread's real stack is left, and stops short of its end:
 * under `--v8-flags=--stack-size=16000` V8's limit lies past it, and the walk ran off the stack at import (pass 39a).
 */
function markStackFloor(mark: () => void, left: () => number): number {
  let floor = 0; // calogStackLeft where the last mark was made
  const REAL_END_MARGIN = 512 * 1024; // bytes of the real stack the walk leaves alone (calog's own entries need 192 KB)
  const MARK_EVERY = 32; // frames between two marks: the last one made is at most this far above V8's limit
  // One walk, marking as it goes: the depth alone says nothing of where the stack is (optimized code inlines the
  // recursion, so a second walk to a depth found by the first marked 180 KB below the caller: pass 39a's fix).
  const walk = (depth: number): void => {
    if (depth % MARK_EVERY === 0) {
      const l = left();
      if (l < REAL_END_MARGIN) return; // the thread's real end comes before V8's limit
      mark();
      floor = l;
    }
    walk(depth + 1);
  };
  try {
    walk(0);
  } catch {
    // the RangeError at the deepest frame V8 allows (or in a mark there: the one before stands)
  }
  return floor;
}
/** calogStackLeft, as a number (SIZE_MAX, the thread's bounds unknown: Infinity, no limit). */
function stackLeft(): number {
  const n = Number(lib.calogStackLeft());
  return n >= 2 ** 63 ? Infinity : n;
}
/** calogStackLeft as this module loads: near the top of the stack (see Backend.stackAtLoad). */
const stackAtLoad = stackLeft();
/** calogStackLeft at the floor marked (see Backend.floorLeft). */
const floorLeft = markStackFloor(() => lib.calogStackFloorHere(), () => Number(lib.calogStackLeft()));

/** How often a runtime whose wake is not armed looks at its mailbox (see DenoRuntime.#lookWhileIdle). */
const IDLE_LOOK_MS = 200;

class DenoRuntime implements NativeRuntime {
  #rt: Deno.PointerValue;
  readonly control: Uint32Array;
  #callbacks: Array<Deno.UnsafeCallback<typeof callDef> | Deno.UnsafeCallback<typeof releaseDef>> = [];
  #waiting: Promise<number> | undefined;
  #onWake: (() => void) | undefined;
  #host: HostCallbacks | undefined;

  constructor() {
    const rt = lib.calogCreate();
    if (rt === null) throw new CalogLoadError("ERR_OOM", "calogCreate failed (out of memory)");
    this.#rt = rt;
    const ctl = lib.calogWireControl(rt)!;
    this.control = new Uint32Array(Deno.UnsafePointerView.getArrayBuffer(ctl, CONTROL_BYTES));
  }

  buffers(): { in: Uint8Array; out: Uint8Array } {
    const c = this.control;
    const inPtr = Deno.UnsafePointer.create(BigInt(c[0]!) | (BigInt(c[1]!) << 32n))!;
    const outPtr = Deno.UnsafePointer.create(BigInt(c[2]!) | (BigInt(c[3]!) << 32n))!;
    return {
      in: new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(inPtr, c[4]!)),
      out: new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(outPtr, c[5]!)),
    };
  }

  reserve(which: 0 | 1, size: number): number {
    return this.#rt === null ? DEAD : lib.calogWireReserve(this.#rt, which, size);
  }

  installHost(host: HostCallbacks): void {
    if (this.#rt === null) return;
    // Called synchronously on this (the JS) thread only; never ref'd, so they never keep the process alive.
    // Nothing may throw out of a callback: Deno returns 0 to the library (read as "the host function could not
    // run", see hostOutcome in wire.c) and raises the exception again at a later JavaScript frame, or loses it
    const call = new Deno.UnsafeCallback(callDef, (id, len) => {
      try {
        return host.call(id, len);
      } catch {
        return 0; // a stack overflow inside the call (host.call catches everything else)
      }
    });
    // 1 once released; 0 (what Deno also returns when V8 refuses to enter it) and the library keeps the id for
    // takeRelease: the reference was counted for good
    const release = new Deno.UnsafeCallback(releaseDef, (id) => {
      try {
        host.release(id);
        return 1;
      } catch {
        return 0; // a stack overflow before the release (host.release throws nothing else)
      }
    });
    this.#callbacks.push(call, release);
    this.#host = host;
    lib.calogHostInstall(this.#rt, call.pointer, release.pointer);
    this.#lookWhileIdle();
  }

  /**
   * Deno has no wake a foreign thread can send without blocking on this thread or keeping the process alive, so while
   * no wake is armed, what reaches the host's mailbox by itself waited for the program's next calog call: a forgotten
   * context's teardown (its last function disposed, its handle collected) and the lent functions a closing context
   * thread gives back, kept with all they capture while the program idled (pass 99b; Bun's waker looks at once). One
   * unref'd timer looks at every runtime whose wake is not armed, every IDLE_LOOK_MS: it never keeps the process
   * alive, holds the runtimes weakly, and stops when none is left.
   */
  #lookWhileIdle(): void {
    DenoRuntime.#idle.add(this.#idleRef);
    if (DenoRuntime.#idleTimer !== undefined) return;
    const timer = setInterval(() => {
      for (const ref of DenoRuntime.#idle) {
        const rt = ref.deref();
        if (rt === undefined || rt.#rt === null) DenoRuntime.#idle.delete(ref);
        else if (rt.#waiting === undefined) rt.#host?.wake();
      }
      if (DenoRuntime.#idle.size === 0) {
        clearInterval(timer);
        DenoRuntime.#idleTimer = undefined;
      }
    }, IDLE_LOOK_MS);
    // Deno 2 gives a Node-style Timeout object, which unrefTimer takes (Number() of it is an id unrefTimer ignores)
    Deno.unrefTimer(timer as unknown as number);
    DenoRuntime.#idleTimer = timer;
  }
  static readonly #idle = new Set<WeakRef<DenoRuntime>>();
  static #idleTimer: ReturnType<typeof setInterval> | undefined;
  readonly #idleRef = new WeakRef(this);

  armWake(onWake: () => void): void {
    this.#onWake = onWake;
    if (this.#waiting !== undefined || this.#arming || this.#rt === null) return;
    // Started from a microtask, on an empty stack: a nonblocking call made where the JavaScript stack is nearly
    // exhausted (a callAsync near its end) could start the wait and then fail to register its promise, and Deno
    // ended the program with an uncaught "Missing promise" when the wait returned. Set only once queued: a queue
    // that threw (the same stack's end) leaves the next arm to try again.
    queueMicrotask(this.#startWait);
    this.#arming = true;
  }

  #arming = false;
  readonly #startWait = (): void => {
    this.#arming = false;
    // disarmed meanwhile (nothing left that could wake us): a wait now would hold the process open for nothing
    if (this.#waiting !== undefined || this.#rt === null || this.#onWake === undefined) return;
    // Deno's strength: a nonblocking symbol waits on a worker thread and resolves on the JS thread. No
    // callback is ever called from a foreign thread (a threadSafe UnsafeCallback would block that thread).
    const wait = lib.calogHostWait(this.#rt, -1);
    this.#waiting = wait;
    thenNative(wait, (r) => {
      this.#waiting = undefined;
      if (r >= 0 && this.#rt !== null) (this.#onWake ?? this.#host?.wake)?.();
    });
  };

  /** The nonblocking wait resolves in the event loop's turn (see NativeRuntime). */
  readonly wakeTakesTurns = true;

  disarmWake(): void {
    // the wait in flight (it holds the process open) ends at the next wake, or when the runtime is destroyed;
    // it stays rooted meanwhile, so it must not hold the runtime
    this.#onWake = undefined;
  }

  evalAsync(id: number, inLen: number): number {
    if (this.#rt === null) return DEAD;
    lib.calogEvalAsyncWire(this.#rt, id, inLen);
    return this.#rt === null ? DEAD : this.control[RET]! | 0;
  }
  callAsync(id: number, inLen: number): number {
    if (this.#rt === null) return DEAD;
    lib.calogCallAsyncWire(this.#rt, id, inLen);
    return this.#rt === null ? DEAD : this.control[RET]! | 0;
  }
  fnCallAsync(slot: number, gen: number, inLen: number): number {
    if (this.#rt === null) return DEAD;
    lib.calogFnCallAsyncWire(this.#rt, slot, gen, inLen);
    return this.#rt === null ? DEAD : this.control[RET]! | 0;
  }
  fnCallAwaited(slot: number, gen: number, inLen: number): number {
    if (this.#rt === null) return DEAD;
    lib.calogFnCallAwaitedWire(this.#rt, slot, gen, inLen);
    return this.#rt === null ? DEAD : this.control[RET]! | 0;
  }
  poll(): number {
    if (this.#rt === null) return 0;
    lib.calogHostPoll(this.#rt);
    return this.#rt === null ? 0 : this.control[RET]! | 0;
  }
  pollWait(waitUs: number): number {
    if (this.#rt === null) return 0;
    lib.calogHostPollWait(this.#rt, waitUs);
    return this.#rt === null ? 0 : this.control[RET]! | 0;
  }

  setPolicy(policy: number): void {
    if (this.#rt !== null) lib.calogSetPolicy(this.#rt, policy);
  }
  contextCreate(inLen: number): number {
    if (this.#rt === null) return DEAD;
    lib.calogContextCreateWire(this.#rt, inLen);
    return this.#rt === null ? DEAD : this.control[RET]! | 0;
  }
  contextDestroy(id: number): number {
    if (this.#rt === null) return DEAD;
    lib.calogContextDestroy(this.#rt, id);
    return this.#rt === null ? DEAD : this.control[RET]! | 0;
  }
  contextRelease(id: number): number {
    if (this.#rt === null) return DEAD;
    lib.calogContextRelease(this.#rt, id);
    return this.#rt === null ? DEAD : this.control[RET]! | 0;
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
    if (this.#rt === null) return DEAD;
    lib.calogContextSetLimitsWire(this.#rt, id, inLen);
    return this.#rt === null ? DEAD : this.control[RET]! | 0;
  }
  eval(id: number, inLen: number): number {
    if (this.#rt === null) return DEAD;
    lib.calogEvalWire(this.#rt, id, inLen);
    return this.#rt === null ? DEAD : this.control[RET]! | 0;
  }
  call(id: number, inLen: number): number {
    if (this.#rt === null) return DEAD;
    lib.calogCallWire(this.#rt, id, inLen);
    return this.#rt === null ? DEAD : this.control[RET]! | 0;
  }
  get(id: number, inLen: number): number {
    if (this.#rt === null) return DEAD;
    lib.calogGetWire(this.#rt, id, inLen);
    return this.#rt === null ? DEAD : this.control[RET]! | 0;
  }
  fnCall(slot: number, gen: number, inLen: number): number {
    if (this.#rt === null) return DEAD;
    lib.calogFnCallWire(this.#rt, slot, gen, inLen);
    return this.#rt === null ? DEAD : this.control[RET]! | 0;
  }
  fnRelease(slot: number, gen: number): void {
    if (this.#rt !== null) lib.calogFnReleaseWire(this.#rt, slot, gen);
  }
  registerHost(inLen: number): number {
    if (this.#rt === null) return DEAD;
    lib.calogRegisterHostWire(this.#rt, inLen);
    return this.#rt === null ? DEAD : this.control[RET]! | 0;
  }
  unregister(inLen: number): number {
    if (this.#rt === null) return DEAD;
    lib.calogUnregisterWire(this.#rt, inLen);
    return this.#rt === null ? DEAD : this.control[RET]! | 0;
  }
  hostSettle(token: number, outcome: number): number {
    if (this.#rt === null) return DEAD;
    lib.calogHostSettleWire(this.#rt, token, outcome);
    return this.#rt === null ? DEAD : this.control[RET]! | 0;
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
    // Close first: contexts go, their threads are joined, waiters are released. A calogHostWait the worker
    // thread has not even started yet must still find valid memory: free only once it has returned.
    lib.calogHostClose(rt); // may still call the host release callback: close the callbacks after
    const callbacks = this.#callbacks;
    this.#callbacks = [];
    this.#onWake = undefined;
    this.#host = undefined;
    DenoRuntime.#idle.delete(this.#idleRef);
    const free = () => {
      lib.calogDestroy(rt);
      for (const cb of callbacks) cb.close();
    };
    if (this.#waiting === undefined) free();
    else thenNative(this.#waiting, free); // (see thenNative: a replaced built-in never runs here)
  }
}

const denoBackend: Backend = {
  name: "deno",
  libraryPath: path,
  abiVersion: () => lib.calogAbiVersion(),
  liveFunctionValues: () => Number(lib.calogFnLiveCount()),
  leakStat: (which) => Number(lib.calogLeakStat(which)),
  stackLeft,
  stackAtLoad,
  floorLeft,
  createRuntime: () => new DenoRuntime(),
};

installBackend(denoBackend);
