/**
 * The contract between the runtime-agnostic API (src/) and one FFI binding (bindings/bun.ts, bindings/deno.ts).
 * A binding maps these methods 1:1 onto libcalog's exported functions; it holds no logic of its own.
 * Status convention (see c/include/calog.h): wire calls return a byte length >= 0 in OUT, or -status.
 * @module
 */

/** Host callbacks a binding turns into native function pointers (Bun JSCallback, Deno UnsafeCallback). */
export interface HostCallbacks {
  /**
   * Run host function `hostId`; its arguments are a LIST of `argLen` bytes in OUT. Returns the result length
   * in IN or -status, or HOST_DEFERRED when control[11] (the call's token, read before anything else) was
   * nonzero: the reply then comes later through {@link NativeRuntime.hostSettle}.
   */
  call(hostId: number, argLen: number): number;
  /** The last native reference to host function `hostId` is gone. */
  release(hostId: number): void;
  /**
   * The wake while it is not armed (a late wake, a release a context thread posted): like `call` and `release`
   * it holds the runtime weakly, so a binding may keep it for good.
   */
  wake(): void;
}

/** One native runtime (a `CalogT *`), as a binding exposes it. */
export interface NativeRuntime {
  /** Live view of the control block (u32): [inLo, inHi, outLo, outHi, inCap, outCap, gen, maxDepth,
   *  pollTicket, pollStatus (i32), pollLen, hostToken, hostInterest, lostReleases, fnsTaken, inUnread]. */
  readonly control: Uint32Array;
  /** Fresh views over the IN and OUT buffers; call again whenever control[6] (gen) changes. */
  buffers(): { in: Uint8Array; out: Uint8Array };
  reserve(which: 0 | 1, size: number): number;
  installHost(host: HostCallbacks): void;
  setPolicy(policy: number): void;
  contextCreate(inLen: number): number;
  contextDestroy(id: number): number;
  /** The GC backstop of a context: destroyed once none of its function values is alive (calogContextRelease). */
  contextRelease(id: number): number;
  /** Contexts not yet destroyed. */
  contextCount(): number;
  contextMemory(id: number): number;
  /** One counter of a context (CalogContextStatE: 0 memory, 1 steps of the last entry, 2 limit trips, 3 memory limit), or -1. */
  contextStat(id: number, which: number): number;
  /** Stops what the context runs now (0, or -status for an unknown context). Any time, even from inside a host call. */
  interrupt(id: number): number;
  /** Cancels async request `ticket` (queued: never runs; running: interrupted). */
  cancel(ticket: number): void;
  /** IN: [limits map]. 0 or -status with the error in OUT. */
  setLimits(id: number, inLen: number): number;
  eval(id: number, inLen: number): number;
  call(id: number, inLen: number): number;
  get(id: number, inLen: number): number;
  fnCall(slot: number, gen: number, inLen: number): number;
  fnRelease(slot: number, gen: number): void;
  registerHost(inLen: number): number;
  /**
   * Completes the deferred host call `token`: `outcome` is the result's length in IN, or -status with an error
   * message string in IN. 0, or -ERR_DEAD (10) when the token is stale (its script stopped waiting): IN unread.
   */
  hostSettle(token: number, outcome: number): number;
  /**
   * One host function id whose release callback could not run (its engine refused to enter it: the JavaScript
   * stack exhausted), or 0 when none is left (calogHostTakeRelease); control[13] counts them.
   */
  takeRelease(): number;
  /** The outcome in OUT is decoded: the library stops keeping the host functions it names (calogHostOutDone). */
  outDone(): void;
  unregister(inLen: number): number;
  /** Asynchronous forms: a ticket (> 0) whose outcome a later poll() reports, or -status. */
  evalAsync(id: number, inLen: number): number;
  callAsync(id: number, inLen: number): number;
  fnCallAsync(slot: number, gen: number, inLen: number): number;
  /** fnCallAsync for a call a waiting script's reply depends on (a lent function's call): served at any depth. */
  fnCallAwaited(slot: number, gen: number, inLen: number): number;
  /** Serves queued host work; 1 if a completion was written to OUT and the control block, else 0. */
  poll(): number;
  /**
   * poll(), waiting up to waitUs for a message first when nothing is queued (calogHostPollWait): 1 as poll();
   * 2 when it answered a call from a context thread (no completion); 0 otherwise.
   */
  pollWait(waitUs: number): number;
  /**
   * Arranges for `onWake` to run on this (the JS) thread once the host has something to poll. Foreign
   * threads never call JavaScript: Bun wakes through a threadsafe JSCallback that carries no data, Deno
   * through a nonblocking FFI call that waits on a worker thread. Called again after each wake while
   * work is pending. While armed, the wake keeps the process alive (an async call in flight, a script's
   * timer or socket: as a pending timer or socket of the runtime's own would), holds `onWake` strongly (the
   * way a pending timer holds its callback), and lets the event loop sleep until it fires.
   */
  armWake(onWake: () => void): void;
  /**
   * Nothing can arrive by itself any more: the armed wake stops keeping the process alive and lets go of
   * `onWake` (a wake from now on calls {@link HostCallbacks.wake}). Whatever the binding keeps rooted (a timer,
   * a wait in flight) must not hold `onWake` past this: it holds the runtime's host functions, and through
   * them, often, the Runtime itself, which could then never be collected.
   */
  disarmWake(): void;
  /**
   * Whether the event loop delivers an armed wake in its turn with timers and I/O (Deno: the nonblocking wait's
   * promise), so a drain that has served host calls for its budget can leave its continuation to the wake. When
   * false (Bun: a threadsafe callback's wakes run one after another ahead of timers), the drain keeps wakes held
   * and goes on from a macrotask of its own.
   */
  readonly wakeTakesTurns: boolean;
  /** Destroys the native runtime and closes the host callbacks. Idempotent. */
  destroy(): void;
}

/** What a host call returns to defer its reply (CALOG_HOST_DEFERRED). */
export const HOST_DEFERRED = -256;

/** What a binding provides. */
export interface Backend {
  readonly name: "bun" | "deno";
  /** Absolute path of the loaded library. */
  readonly libraryPath: string;
  abiVersion(): number;
  /** Function values alive in the native library (all runtimes of the process). */
  liveFunctionValues(): number;
  /** Process-wide: 0 = context threads abandoned at dispose (they overran the grace period), 1 = bytes they hold. */
  leakStat(which: number): number;
  /** Bytes of C stack left below the caller on this thread, down to its real end (calogStackLeft; Infinity: unknown). */
  stackLeft(): number;
  /** {@link stackLeft} as the binding loaded: near the top of the stack of the thread that loaded it. */
  readonly stackAtLoad: number;
  /**
   * {@link stackLeft} where the binding marked the library's floor on this thread (calogStackFloorHere: Deno, at V8's
   * limit), or 0 where it marked none: the C stack the library counts as left is stackLeft() less this.
   */
  readonly floorLeft: number;
  createRuntime(): NativeRuntime;
}

let installed: Backend | undefined;

/** Called once by a binding module when it is imported. */
export function installBackend(backend: Backend): void {
  installed = backend;
}

/** The installed binding; throws if none was imported. */
export function backend(): Backend {
  if (installed === undefined) {
    throw new Error(
      "calog: no FFI binding loaded. Import 'calog' (auto-detects Bun or Deno), 'calog/bun' or 'calog/deno'.",
    );
  }
  return installed;
}
