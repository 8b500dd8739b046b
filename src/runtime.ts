/**
 * The calog API: a Runtime owns contexts (one script engine instance each) and the functions TypeScript
 * registers for scripts to call. Runtime-agnostic: the FFI lives in bindings/.
 * @module
 */
import { backend, HOST_DEFERRED, type HostCallbacks, type NativeRuntime } from "./backend.ts";
import {
  type CalogErrorDetails,
  CalogDeadError,
  CalogDisposedError,
  CalogError,
  CalogNestingError,
  CalogNotFoundError,
  CalogScriptError,
  CalogValueError,
  errorFromStatus,
  type LimitKind,
} from "./errors.ts";
import {
  type Capabilities,
  checkCapabilities,
  checkLimits,
  checkOutput,
  type Limits,
  mergeLimits,
  type Output,
  readOptions,
} from "./options.ts";
import { writeStdio } from "./stdio.ts";
import { builtinThen, enqueue, handleRejection, ignore, inWalk, isRangeError, isSyntaxError, NativePromise, refusals, rejectedWith, resolvedWith, thenLater, thenNative, thenOf, types, uncurry, withResolvers } from "./walk.ts";
import { type FunctionTable, isOwnError, ownError, Wire } from "./wire.ts";

/** A value that crosses between TypeScript and a script engine. */
export type Value =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | Value[]
  | { [key: string]: Value }
  | Map<Value, Value>
  | ScriptFunction;

/** A function a script can call: receives script values, returns anything that can cross back. */
export type HostFunction = (...args: Value[]) => unknown;

/**
 * A script function held by TypeScript: call it like any function. It keeps its closure alive inside
 * the engine until disposed (or garbage-collected).
 * @example
 * using add = lua.getFunction("add");
 * add(1, 2); // 3
 */
export interface ScriptFunction extends Disposable {
  (...args: unknown[]): Value;
  /** True once disposed (explicitly, or because its runtime was disposed). */
  readonly disposed: boolean;
  /**
   * Calls it without blocking: on a threaded context the call runs there while the event loop goes on.
   * A last argument `{ signal }` holding an AbortSignal (or `undefined`) is not passed on: aborting rejects the
   * promise with the signal's reason and interrupts the call (see {@link CallOptions}).
   */
  callAsync(...args: unknown[]): Promise<Value>;
  /** Releases the script closure. Idempotent. */
  dispose(): void;
}

/** Engines compiled into libcalog. */
export type EngineName = "lua" | "js" | "squirrel";

/** Runtime options. */
export interface RuntimeOptions {
  /**
   * What happens to a value that cannot be represented on the other side (a function as a table key, a
   * bigint beyond 64 bits, a Date...): `"strict"` (default) throws a CalogValueError, `"lenient"` drops or
   * converts it by the documented rule (README, "Value mapping").
   */
  policy?: "strict" | "lenient";
  /** Default limits of every context this runtime creates (a context's own `limits` override them key by key). */
  limits?: Limits;
  /** Default capabilities of every context (default `"sandbox"`); a context's own replace them. See {@link Capabilities}. */
  capabilities?: Capabilities;
  /** Default output sink of every context (default `"inherit"`); a context's own replaces it. See {@link Output}. */
  output?: Output;
}

/** Counters for leak checks and monitoring; see {@link Runtime.stats}. */
export interface RuntimeStats {
  /** TypeScript functions this runtime currently lends to scripts (registered or passed as values). */
  hostFunctions: number;
  /**
   * Function values alive in the native library, all runtimes of the process, the library's own natives included (a
   * runtime makes them with its first context and keeps them until its dispose): compare with a baseline.
   */
  nativeFunctionValues: number;
  /** Contexts of this runtime not yet destroyed (a forgotten one lives while a function of it is alive). */
  contexts: number;
  /** Asynchronous requests (`callAsync`, `evalAsync`, `fn.callAsync`) whose promise has not settled yet. */
  inFlight: number;
  /** Per-context counters, one entry per context of this runtime not yet destroyed. */
  perContext: ContextStats[];
  /** Process-wide: context threads abandoned at dispose because they did not stop within the grace period. */
  abandonedThreads: number;
  /** Process-wide: interpreter bytes those abandoned threads still hold (leaked for good). */
  leakedBytes: number;
}

/** Per-context counters in {@link RuntimeStats}. */
export interface ContextStats {
  engine: EngineName;
  threaded: boolean;
  /** Bytes the interpreter holds now. */
  memory: number;
  /** Steps the last finished entry (eval, call, function call) ran. */
  lastSteps: number;
  /** Limits tripped so far (memory, steps, timeout, interrupt, output). */
  limitTrips: number;
}

/** Context options. */
export interface ContextOptions {
  /**
   * `true` (default): the interpreter is an actor on its own OS thread; blocking calls wait for it (serving
   * calls it makes back into TypeScript meanwhile) and the `...Async` forms leave the event loop free.
   * `false`: it runs on this thread: the lowest-latency crossings, and `...Async` simply runs now.
   */
  thread?: boolean;
  /** Limits of this context, merged over the runtime's defaults. See {@link Limits}. */
  limits?: Limits;
  /**
   * What this context's scripts may reach: `"sandbox"` (default), `"trusted"`, or grants.
   * @example
   * rt.createContext("lua", { capabilities: { fs: { read: ["/srv/data"] }, env: ["LANG"] } });
   */
  capabilities?: Capabilities;
  /**
   * Where this context's output goes: `"inherit"` (default), `"ignore"`, or `(text, stream) => void`.
   * @example
   * const lines: string[] = [];
   * rt.createContext("js", { output: (text) => lines.push(String(text)) });
   */
  output?: Output;
}

/** Eval options. */
export interface EvalOptions {
  /** Name shown in error messages and tracebacks (default "eval"). */
  chunkName?: string;
  /** Wall-clock limit for this call in ms (the sooner of this and the context's `timeoutMs` limit applies). */
  timeoutMs?: number;
  /** `evalAsync` only: aborting rejects with the signal's reason and stops the script. */
  signal?: AbortSignal;
}

/**
 * Options of an asynchronous call, passed as the last argument of `callAsync` (a plain object whose `signal`
 * is an AbortSignal is never a script value, so it cannot be mistaken for one).
 * @example
 * const ac = new AbortController();
 * setTimeout(() => ac.abort(), 100);
 * await lua.callAsync("work", 42, { signal: ac.signal }); // rejects with ac.signal.reason after 100 ms
 */
export interface CallOptions {
  signal: AbortSignal;
}

/**
 * Splits a trailing {@link CallOptions} off an argument list (the array is shortened in place): a plain object (its
 * prototype Object.prototype or null, as for any options object) whose `signal` is an AbortSignal. Such an object can
 * never be a script value, so any other key it has is refused as readOptions refuses one (a CalogValueError): the
 * `timeoutMs` of `{ signal, timeoutMs: 100 }` was dropped without a word and the call ran with no timeout, and an
 * options object made with `Object.create(null)` was sent to the script as an argument (refused: an AbortSignal
 * cannot cross). `{ signal: undefined }` (an optional signal that is absent) is options too, with no signal: it was
 * passed to the script as one more argument.
 */
const abortedGetter = typeof AbortSignal === "undefined"
  ? undefined
  : Object.getOwnPropertyDescriptor(AbortSignal.prototype, "aborted")?.get;
const signalProto = typeof AbortSignal === "undefined" ? undefined : AbortSignal.prototype;
const abortedOf = abortedGetter === undefined ? () => false : uncurry(abortedGetter as (this: never) => boolean);
const reasonOf = uncurry((signalProto === undefined ? () => undefined : Object.getOwnPropertyDescriptor(signalProto, "reason")?.get ?? (() => undefined)) as (this: never) => unknown);
const addListener = uncurry(EventTarget.prototype.addEventListener as (this: never, type: string, f: () => void, o?: AddEventListenerOptions) => void);
const removeListener = uncurry(EventTarget.prototype.removeEventListener as (this: never, type: string, f: () => void) => void);
/**
 * A real AbortSignal's state and listeners, read through the built-ins as calog loaded them: its own `aborted` or
 * `reason` getter, or `addEventListener`, is user code, which ran outside the guard as the call was sent (one that
 * disposed the runtime freed it under the call: a crash, pass 86a; one that threw escaped raw, nothing walked).
 */
const signals = {
  aborted: (s: AbortSignal): boolean => abortedOf(s),
  reason: (s: AbortSignal): unknown => reasonOf(s),
  listen: (s: AbortSignal, f: () => void): void => addListener(s, "abort", f, { __proto__: null, once: true } as AddEventListenerOptions),
  unlisten: (s: AbortSignal, f: () => void): void => removeListener(s, "abort", f),
};
const FAKE_SIGNAL = (where: string): string =>
  `${where}.signal inherits from AbortSignal.prototype but is no AbortSignal (a Proxy of one, or Object.create): ` +
  "pass the signal of an AbortController, or AbortSignal.timeout()/any()";

/**
 * Whether v is an AbortSignal by its internal slots ("real"), only claims to be one by its prototype chain ("fake":
 * reading its `aborted` was a raw TypeError, "Illegal invocation", when the call started: pass 34b), or neither.
 */
function signalKind(v: unknown): "real" | "fake" | "no" {
  if (abortedGetter === undefined || v === null || typeof v !== "object") return "no";
  try {
    if (!(v instanceof AbortSignal)) return "no";
  } catch {
    return "no"; // a Proxy whose getPrototypeOf trap threw: an argument, whose encoding names that exception
  }
  try {
    abortedGetter.call(v); // the brand check: throws for anything without the slots
    return "real";
  } catch {
    return "fake";
  }
}

function takeCallOptions(args: unknown[]): AbortSignal | undefined {
  const last = args[args.length - 1];
  if (last === null || typeof last !== "object") return undefined;
  let signal: unknown;
  let keys: string[];
  let refusal: CalogValueError | undefined;
  try {
    // a Proxy's getPrototypeOf trap or a `signal` getter may throw: then it is no options object but an argument,
    // which marshalling refuses with a CalogValueError (its cause the thrown value), as a synchronous call does; the
    // raw exception was the rejection
    const proto: unknown = Object.getPrototypeOf(last);
    if (proto !== Object.prototype && proto !== null) return undefined;
    signal = (last as { signal?: unknown }).signal;
    keys = Object.keys(last);
    if (signal === undefined && keys.length === 1 && keys[0] === "signal") {
      // `{ signal: maybe }` with no signal at hand: options without one (it went to the script as an argument)
      args.length--;
      return undefined;
    }
    const kind = signalKind(signal);
    if (kind === "fake") throw (refusal = new CalogValueError("ERR_ARG", FAKE_SIGNAL("CallOptions")));
    if (kind === "no") {
      // the controller instead of its signal: a slip, never data (it cannot cross into a script), so it is named as one
      if (typeof AbortController !== "undefined" && signal instanceof AbortController && keys.length === 1) {
        throw (refusal = new CalogValueError("ERR_ARG", "CallOptions.signal must be an AbortSignal: this is its AbortController (pass its .signal)"));
      }
      return undefined; // data that has a `signal` field: `{ signal: "high" }` goes to the script
    }
  } catch (e) {
    // only this function's own refusals: what a trap or getter threw (calog's refusal of a call made there included)
    // is the argument's, which marshalling reports with it as the cause
    if (e === refusal) throw e;
    return undefined;
  }
  for (const k of keys) {
    if (k !== "signal") {
      throw new CalogValueError("ERR_ARG", `CallOptions: unknown option '${k}' (known: signal; a per-call timeoutMs is eval's and evalAsync's, setLimits sets a context's)`);
    }
  }
  args.length--;
  return signal as AbortSignal; // signalKind said "real"
}

const EVAL_OPTIONS = ["chunkName", "timeoutMs", "signal"] as const;

/**
 * The options of eval/evalAsync, read once and checked (a bad one is a CalogValueError: `null` or a signal that is no
 * AbortSignal was a raw TypeError, thrown by evalAsync instead of rejecting).
 */
function evalOptions(source: unknown, options: unknown, signalAllowed: boolean): EvalOptions {
  if (typeof source !== "string") {
    throw new CalogValueError("ERR_ARG", `the source must be a string (got ${source === null ? "null" : typeof source})`);
  }
  const o = readOptions(options, EVAL_OPTIONS, "EvalOptions") as EvalOptions;
  if (o.chunkName !== undefined) checkName("chunkName", o.chunkName);
  checkTimeout(o.timeoutMs);
  if (o.signal !== undefined) {
    const kind = signalKind(o.signal);
    if (kind !== "real") {
      throw new CalogValueError("ERR_ARG", kind === "fake" ? FAKE_SIGNAL("EvalOptions") : "EvalOptions.signal must be an AbortSignal");
    }
  }
  if (o.signal !== undefined && !signalAllowed) {
    throw new CalogValueError("ERR_ARG", "EvalOptions.signal is for evalAsync: a synchronous eval cannot be aborted (use timeoutMs or interrupt())");
  }
  return o;
}

function checkTimeout(t: number | undefined): void {
  if (t !== undefined && (typeof t !== "number" || !Number.isInteger(t) || t < 0 || t > 4294967295)) {
    throw new CalogValueError("ERR_ARG", "timeoutMs must be an integer from 0 to 2^32-1");
  }
}

/**
 * The stack (bytes above the JavaScript engine's limit) that calog's own work after a crossing needs before it begins:
 * taking lost releases (Core.takeLost), dropping results (Core.dropResults), settling outcomes given up
 * (Core.settleUnsettled), a dispose. With that room, an exception there is user code's own. An eighth of a smaller
 * JavaScript stack (see takeRoom): 64 KB flat left no room at the top of a program on a small stack, and no dispose
 * could succeed (pass 96b: Deno --stack-size=80, Bun `ulimit -s 192`).
 */
const TAKE_ROOM = 64 * 1024;
/**
 * The stack a drain needs left on this thread above the JavaScript engine's limit (bytes). A poll serves the calls
 * context threads made to the host, entering a host callback for each, and the engine refuses to enter one past its
 * limit. Bun then raises that refusal again at the call into calog, and once more at each slow path after it however
 * the binding catches it, even where that call handed an outcome over: the outcome was lost, and its call waited for
 * good (pass 93a). So rt.stats(), the one drain a program makes at any depth, drains only with this much room, or a
 * quarter of a smaller JavaScript stack (see roomToPoll).
 */
const POLL_ROOM = 256 * 1024;
/**
 * Bytes of the thread's real stack that the walk measuring the JavaScript engine's limit leaves alone (see stackRoom):
 * a V8 limit set past the real end (--stack-size) would have it walk through (the process died at load: pass 39a's
 * finding, for bindings/deno.ts's walk). Small, as JSC's own limit on a small stack is ~127 KB above the end (a 512 KB
 * margin took the first caller's depth for the limit: dispose refused for good under `ulimit -s 512`, pass 94a).
 */
const REAL_END_MARGIN = 48 * 1024;
/** calogStackLeft at this thread's JavaScript stack limit, measured once (see stackRoom). */
let limitLeft: number | undefined;
/**
 * The most calogStackLeft read on this thread: as the binding loaded (near the top of the stack: a module is evaluated
 * from the loader's job), and at each measure since. Taken from where the first Runtime was made instead, a Runtime
 * made 16 KB above the limit shrank a drain's room to ~4 KB, and pass 93a's lost outcome came back (pass 95a).
 */
let topLeft = 0;

/**
 * Bytes of stack left on this thread above the JavaScript engine's limit (Infinity when the thread's bounds are
 * unknown). Counted in bytes, not frames: optimized code inlines a recursion, and a walk of 256 frames there checked
 * for far less than 256 frames' worth (Deno: a dropped result met the real end anyway, its rejection unhandled).
 */
function stackRoom(): number {
  const b = backend();
  const left = b.stackLeft();
  if (left === Infinity) return Infinity;
  if (topLeft === 0) topLeft = b.stackAtLoad;
  if (left > topLeft) topLeft = left;
  if (limitLeft === undefined) {
    // one walk down to the limit (from any depth), reading the stack left every 16 frames on the way
    let least = left;
    const walk = (depth: number): void => {
      if ((depth & 15) === 0) {
        least = Math.min(least, b.stackLeft());
        if (least < REAL_END_MARGIN) return;
      }
      walk(depth + 1);
    };
    try {
      walk(0);
    } catch {
      // the RangeError at the limit, the last reading at most 16 frames above it
    }
    limitLeft = least;
  }
  return left - limitLeft;
}

/** The JavaScript stack of this thread, from near its top down to the engine's limit (bytes; after a stackRoom). */
function stackSize(): number {
  return limitLeft === undefined ? Infinity : topLeft - limitLeft;
}

/**
 * Whether a drain has room (see POLL_ROOM): 256 KB, or a quarter of a smaller JavaScript stack (Deno's
 * --stack-size=100: a drain wanting 256 KB never ran, pass 94a).
 */
function roomToPoll(): boolean {
  const room = stackRoom(); // measures limitLeft the first time
  return room >= Math.min(POLL_ROOM, stackSize() / 4);
}

/** What calog's own steps and a dispose want left (see TAKE_ROOM). */
function takeRoom(): number {
  return Math.min(TAKE_ROOM, stackSize() / 8);
}

/** Whether {@link takeRoom} is left (see stackRoom). */
function hasRoom(): boolean {
  const room = stackRoom(); // measures limitLeft the first time
  return room >= takeRoom();
}

/** Whether {@link takeRoom} is left for a step of calog's own; false where not even that can be asked. */
function roomToTake(): boolean {
  try {
    return hasRoom();
  } catch {
    return false;
  }
}

/** The refusal of a dispose() made with less than {@link takeRoom} of stack left (nothing was changed). */
function disposeNoRoom(what: string): CalogNestingError {
  return new CalogNestingError("ERR_NESTING", `not enough JavaScript stack left to dispose ${what} (calog keeps ` +
    `${Math.round(takeRoom() / 1024)} KB to spare): nothing was changed; call dispose() again from higher up the stack`);
}

/**
 * The C stack (bytes, as the library counts it: above its floor) a host-thread context's teardown wants: it runs the
 * interpreter's finalizers on this thread, and the engines fail one with less than CALOG_STACK_LOW (128 KB) left, so a
 * finalizer releasing a function value never ran and the value (a lent TypeScript function, the runtime's own natives)
 * stayed alive (Deno, a dispose 65-128 KB above V8's limit: pass 97b). CALOG_STACK_ENTRY (192 KB, what an entry into a
 * script wants) and room for the frames of the call into the library.
 */
const TEARDOWN_ROOM = 224 * 1024;

/** Whether this thread has {@link TEARDOWN_ROOM} of C stack left for a host-thread context's teardown. */
function roomToTearDown(): boolean {
  const b = backend();
  const left = b.stackLeft();
  return left === Infinity || left - b.floorLeft >= TEARDOWN_ROOM;
}

/** The refusal of a dispose() of, or taking down, a host-thread context where its teardown has no room. */
function teardownNoRoom(what: string): CalogNestingError {
  return new CalogNestingError("ERR_NESTING", `not enough C stack left on this thread to dispose ${what} (a ` +
    "host-thread context's finalizers run as it closes, and want 224 KB): nothing was changed; call dispose() again " +
    "from higher up the stack");
}

/** The message of an error that came back but could not be read (see Core.error). */
const ERROR_UNREAD_STACK = "the call failed, and its error could not be read: the JavaScript stack ran out while " +
  "reading it (calls nested too deeply on this thread); its message, value and traceback are lost";
const ERROR_UNREAD = "the call failed, and its error could not be read; its message, value and traceback are lost";

/** No host references (a request that sent none). */
/** What a value read from a script is, for a message: "a number", "a table" (Lua), "an array", "bytes". */
function kindOf(v: unknown, engine: string): string {
  if (v instanceof Uint8Array) return "bytes";
  if (Array.isArray(v)) return engine === "lua" ? "a table" : "an array";
  if (typeof v === "object") return engine === "js" ? "an object" : "a table";
  return `a ${typeof v}`;
}

const NO_REFS: number[] = [];
/** What a host call's result is before its function returned (see Core.#hostCall). */
const NOT_RUN: unknown = Symbol("not run");
/** What deferHost returns for a result the calling script cannot wait for (see cannotWait). */
const CANNOT_WAIT = -1;
/**
 * A list for records kept with index stores where no call fits (Core.dropped, Core.unsettled): room for 16 pairs made
 * in advance, packed, with no prototype (an index setter on Array.prototype took the walk's stores: pass 85a).
 */
function recordList(): unknown[] {
  const list: unknown[] = [];
  for (let i = 0; i < 32; i++) list[i] = undefined;
  Object.setPrototypeOf(list, null);
  return list;
}

/**
 * The refusal of a Promise (or thenable) that host function `e` returned to a script that cannot wait for it; the
 * Promise was dropped first (see Core.dropResult).
 */
function cannotWait(e: HostEntry): CalogValueError {
  // the name scripts call it by (pass 32b: the function's own `.name`, 'load' for rt.register("fetchUser", load),
  // or none for an arrow function); a function passed as a value has its own name only
  const names = e.names !== undefined && e.names.length > 0 ? e.names : e.fn.name ? [e.fn.name] : [];
  const label = names.map((x) => `'${x}' `).join("").replace(/' '/g, "' / '");
  return new CalogValueError(
    "ERR_TYPE",
    `host function ${label}returned a Promise, which this script cannot wait for: ` +
      "it runs on the host thread (a host-thread context), or the event loop is blocked in a synchronous " +
      "call (eval, call, a script function) until the script returns, so the Promise could never settle. " +
      "The call fails, the Promise's work still runs, and its result or rejection is dropped. " +
      "Scripts on threaded contexts wait for async host functions when called with evalAsync/callAsync",
  );
}
/** A length past any value in OUT: a walk of the value there stops at its end (see Wire.dropUnowned). */
const MAX_OUT = 0x7fffffff;
const ERR_DEAD = 10;
const ERR_HOST = 11;
/** Host exceptions kept for a later error to claim as its `cause` (see Core.hostErrors). */
const HOST_ERRORS_KEPT = 1024; // a retry loop that caught hundreds, then raised the first again, lost its cause at 256
/**
 * The longest host error message sent to a script, in UTF-16 units (the rest is cut, and the length said). Writing
 * the message must not fail: one past the request cap (716 million characters) threw out of the host call (under
 * Bun the exception escaped the FFI callback, so the script's pcall never saw it) or out of an async settlement,
 * which left the runtime marshalling for good (every later call refused, and dispose()).
 */
const HOST_MESSAGE_MAX = 1 << 20;

/**
 * A Promise that follows p through `then`, read from p once by the caller (under the guard, for a host function's
 * result: pass 85b) and never again (see thenLater). p's `then` is called from a job, never now: an own `then` that
 * calls back (or throws) at once ran inside the host call, before the call was deferred, and its result was lost (pass
 * 34b). A real Promise whose `then` is the built-in one is followed through thenOf, which reads no species and no
 * `constructor`: an own `constructor` (1, a getter that throws) made Promise.prototype.then throw a TypeError the script
 * got instead of the outcome, with the rejection unhandled (pass 73b), and so did a replaced `Promise[Symbol.species]`
 * (pass 89a). Any other `then` is the Promise's own word, as for JavaScript's await: a subclass whose `then` starts
 * its work (p-lazy) or maps its value gave the script nil or the unmapped value when the built-in one was used
 * in its place (pass 90a).
 */
function settleLater(p: object, then: unknown): Promise<unknown> {
  // the stack's end throws here, having made nothing (the caller records p instead, see Core.dropped): an executor
  // left a Promise rejected with the RangeError, and p neither followed nor walked
  const { promise: q, resolve, reject } = withResolvers();
  if (then !== builtinThen || !types.isPromise(p)) {
    thenLater(p, then, resolve, reject);
    return q;
  }
  try {
    thenOf(p, resolve, reject);
  } catch (e) {
    if (isRangeError(e)) {
      // thenOf may have attached q's functions before it threw (putting p's `constructor` back): q's rejection is
      // nobody's then, so it is handled here if there is room (p itself is dropped by the caller either way)
      try {
        handleRejection(q);
      } catch { /* no room */ }
      throw e;
    }
    // sealed, frozen or with an own `constructor` not configurable (pass 92b), so its `constructor` cannot be set
    // aside: nothing can await it (nor can JavaScript's own await), and the engine's TypeError ("|this|.constructor is
    // not an Object") was all the script read (pass 74b); what threw is the Promise's `constructor` or the species it
    // names (pass 90a: the message blamed an own `constructor` that a frozen Promise under a replaced species lacked)
    reject(new CalogValueError("ERR_TYPE", `the Promise a host function returned cannot be awaited: its \`then\` could not make a Promise through its \`constructor\` (or that constructor's Symbol.species), and calog cannot set them aside (the Promise is sealed, frozen or otherwise not extensible, or its own \`constructor\` is not configurable) (${describeThrown(e).replace(/^a host function threw /, "")})`, { cause: e }));
  }
  return q;
}

/**
 * An exception raised by user code while a value is being encoded (a getter, a Proxy trap, a toJSON-less
 * accessor...) becomes a CalogValueError whose cause is that exception, a calog error it threw too; the codec's own
 * errors pass unchanged.
 */
function marshalFailure(e: unknown, w: Wire): unknown {
  let what: string;
  // a RangeError whose description cannot be built (the stack still too short for that) is the stack's end: it read
  // "threw (a getter or a Proxy trap): [object Error]" (pass 73b)
  let outOfStack = false;
  try {
    outOfStack = isRangeError(e); // (no code of e runs: instanceof of a revoked Proxy throws)
  } catch { /* not one */ }
  try {
    // the codec's own refusals pass unchanged; a calog error that user code threw (a getter calling into another
    // context) is that code's exception, the cause of a CalogValueError as any other
    if (e instanceof CalogError && isOwnError(e, w)) return e;
    what = e instanceof Error ? `${e.name}: ${e.message}` : render(e);
    outOfStack = isRangeError(e) && /call stack|stack size|too much recursion/i.test(what);
  } catch {
    // describing it ran user code that threw too (a revoked Proxy, a throwing `message` getter, a getter that
    // Object.entries met): this must not throw, or a settlement threw out of its `then` (an unhandled rejection)
    // with the runtime left marshalling for good, the script waiting for ever and dispose() refused
    what = "a value with no readable description";
    try {
      what = Object.prototype.toString.call(e);
    } catch { /* a revoked Proxy */ }
  }
  if (what.length > 1000) what = `${what.slice(0, 1000)}…`;
  // the JavaScript stack running out while a value is read is rarely a getter's doing: calls nested deeply on this
  // thread leave too little for the encoder (it was "a getter or a Proxy trap threw")
  const where = outOfStack
    ? "ran out of JavaScript stack (calls nested too deeply on this thread, or a getter that recurses)"
    : "threw (a getter or a Proxy trap)";
  return new CalogValueError("ERR_TYPE", `reading a value to pass ${where}: ${what}`, { cause: e });
}

/**
 * What the one FFI call of a request threw: a RangeError when the JavaScript stack ran out calling it, or one that
 * Bun or Deno raised again after it, out of a host callback their engine refused to enter (the stack exhausted by
 * the crossings of host-thread contexts: V8 allows about 1 MB above the call into calog, however much C stack is
 * left). The script saw that host call fail with calog's nesting error; the request's own outcome is lost. A
 * CalogNestingError whose `cause` is the exception, never a raw RangeError (every calog error is a CalogError).
 */
function sendFailure(e: unknown): unknown {
  if (e instanceof CalogError) return e;
  try {
    return new CalogNestingError(
      "ERR_NESTING",
      "the JavaScript stack ran out during this call (calls nested too deeply on this thread: a host function a " +
        "script called could not run, or the call could not be made); its outcome is lost",
      { cause: e },
    );
  } catch {
    return e; // no stack left even for the error
  }
}

/** A short, bounded rendering of a thrown value for a message. */
const plainKey = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** Every ScriptFunction calog made, of any runtime: told by identity, never by a property a TypeScript function may
 * have of its own (`disposed: true` refused a plain function, and a getter of it ran: pass 61a). */
const scriptFunctions = new WeakSet<Function>();
/** hostHandle's handles, and the function each wraps. */
const wrappedHostFunction = new WeakMap<Function, Function>();
/**
 * What getFunction gives for a global that holds a TypeScript function (one passed to the script, or registered): a
 * ScriptFunction-shaped handle that runs it as a script calling it would (its result and exceptions as they are);
 * `callAsync` runs it on a later microtask; `dispose()` ends this handle, not the function.
 */
function hostHandle(fn: Function, core: Core): ScriptFunction {
  let live = true;
  // as a ScriptFunction's: it dies with its runtime too (it went on calling fn after rt.dispose(): pass 86b)
  const gone = () => !live || core.native === undefined;
  const dead = () =>
    new CalogDisposedError("ERR_DISPOSED", core.native === undefined ? "script function: the runtime was disposed" : "script function was disposed");
  // refused, what it was given is walked as a ScriptFunction's refused call's is (it was not: pass 86b)
  const f = function (...args: unknown[]): Value {
    if (new.target !== undefined) {
      throw refusals.refusing(new CalogValueError("ERR_ARG", "a script function is not a constructor: call it without new"), arguments);
    }
    if (gone()) throw refusals.refusing(dead(), arguments);
    return Reflect.apply(fn, undefined, args) as Value;
  } as ScriptFunction;
  // its name is fn's (a message naming a host function by its name said 'f'), read without running a getter (a
  // Proxy's getOwnPropertyDescriptor trap may throw, a revoked one does: then none, pass 66b)
  let name: unknown;
  try {
    name = Object.getOwnPropertyDescriptor(fn, "name")?.value;
  } catch {
    name = undefined;
  }
  Object.defineProperties(f, { length: { value: 0 }, name: { value: typeof name === "string" ? name : "" } });
  const dispose = (): void => {
    live = false;
  };
  // a Proxy of a disposed one is refused when passed, as one of a disposed ScriptFunction is (pass 66a)
  const checkLive = (): void => {
    if (gone()) throw ownError(dead());
  };
  liveChecks.add(checkLive);
  const callAsync = function (...args: unknown[]): Promise<Value> {
    const given = arguments; // what it was given, the options object included (see Context.callAsync)
    if (gone()) return rejectedWith(refusals.refusing(dead(), given));
    let signal: AbortSignal | undefined;
    try {
      signal = core.reading(() => takeCallOptions(args));
    } catch (e) {
      return rejectedWith(refusals.refusing(e, given));
    }
    return thenNative(resolvedWith(), () => {
      if (signal !== undefined && signals.aborted(signal)) throw refusals.refusing(signals.reason(signal), given);
      return f(...args);
    }) as Promise<Value>;
  };
  Object.defineProperties(f, {
    callAsync: { value: callAsync },
    dispose: { value: dispose },
    [Symbol.dispose]: { value: dispose },
    disposed: { get: gone },
    [CHECK_LIVE]: { value: checkLive },
  });
  scriptFunctions.add(f);
  wrappedHostFunction.set(f, fn);
  return f;
}

/** Whether f is a ScriptFunction that was disposed (its own getter, calog's: no code of the caller runs). */
function disposedScriptFunction(f: Function): boolean {
  return scriptFunctions.has(f) && (f as ScriptFunction).disposed;
}
/** Each handle's runtime (see Core.#handle): a refusal of a disposed handle names which was disposed. */
const handleCores = new WeakMap<Function, Core>();
/** Who a disposed handle's refusal names: its runtime's dispose, or its own (a user who never disposed the function
 * read that it had been: pass 68b). */
function disposedWhat(f: Function): string {
  return runtimeGone(f) ? "a script function whose runtime was disposed" : "a disposed script function";
}
/** Whether f is a handle whose runtime was disposed (a handle of a TypeScript function has no runtime here: pass 69b). */
function runtimeGone(f: Function): boolean {
  const c = handleCores.get(f);
  return c !== undefined && c.native === undefined;
}
/** The built-in length getters: what a value's own `length` or `byteLength` property says is not read (pass 73b). */
const byteLengthGetter = (proto: object | undefined): ((this: unknown) => number) | undefined =>
  proto === undefined ? undefined : (Object.getOwnPropertyDescriptor(proto, "byteLength")?.get as ((this: unknown) => number) | undefined);
const viewBytes = byteLengthGetter(Object.getPrototypeOf(Uint8Array.prototype));
const bufferBytes = byteLengthGetter(ArrayBuffer.prototype);
const sharedBytes = byteLengthGetter(typeof SharedArrayBuffer === "function" ? SharedArrayBuffer.prototype : undefined);
const dataViewBytes = byteLengthGetter(DataView.prototype);
/** `v`'s size in bytes by the built-in getter, or "?" (a DataView past its buffer's end throws there). */
function sizeOf(v: unknown, get: ((this: unknown) => number) | undefined): string {
  try {
    return get === undefined ? "?" : String(get.call(v));
  } catch {
    return "?";
  }
}

function render(v: unknown, depth = 0): string {
  if (typeof v === "string") return JSON.stringify(v.length > 80 ? cut(v, 80) + "…" : v);
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "function") return "[function]";
  if (types.isUint8Array(v)) return `[${sizeOf(v, viewBytes)} bytes]`;
  if (v === null || typeof v !== "object") return String(v);
  // what a host function threw that has no entries to show is named by its kind: a thrown Promise, ArrayBuffer or
  // DataView read "threw {}" (passes 67b, 71b); no code of the value runs (its kind and size are read from its internal
  // slots, not from its own `length` or `byteLength`: pass 73b)
  if (types.isSharedArrayBuffer(v)) return `[SharedArrayBuffer of ${sizeOf(v, sharedBytes)} bytes]`;
  if (types.isArrayBuffer(v)) return `[ArrayBuffer of ${sizeOf(v, bufferBytes)} bytes]`;
  if (types.isDataView(v)) return `[DataView of ${sizeOf(v, dataViewBytes)} bytes]`;
  if (types.isTypedArray(v)) return `[typed array of ${sizeOf(v, viewBytes)} bytes]`;
  if (types.isPromise(v)) return "[Promise]";
  if (types.isSet(v)) return "[Set]";
  if (types.isWeakMap(v)) return "[WeakMap]";
  if (types.isWeakSet(v)) return "[WeakSet]";
  if (depth >= 2) return Array.isArray(v) ? "[…]" : "{…}";
  const parts: string[] = [];
  if (Array.isArray(v)) {
    for (const x of v.slice(0, 8)) parts.push(render(x, depth + 1));
    if (v.length > 8) parts.push("…");
    return `[${parts.join(", ")}]`;
  }
  const entries = v instanceof Map ? [...v.entries()] : Object.entries(v);
  // a key that is not a plain name is quoted as a string is: a newline or ", " in one read as the rendering's own
  for (const [k, x] of entries.slice(0, 8)) {
    const key = typeof k !== "string" ? `[${render(k, depth + 1)}]` : plainKey.test(k) ? k : render(k, depth + 1);
    parts.push(`${key}: ${render(x, depth + 1)}`);
  }
  if (entries.length > 8) parts.push("…");
  return parts.length === 0 ? "{}" : `{ ${parts.join(", ")} }`;
}

/**
 * The message of a script error that threw a value: the engine's message when it says something (a string,
 * a number, a __tostring), else the value's own string `message` field, else what was thrown, rendered.
 * `placeholder`: the engine marked its message as its stand-in for a value that is not text ("(error object is a
 * table value)", "[object Object]", a built-in function text); the same text a script's own __tostring, _tostring or
 * toString gave is its message (told by the text, a script's "[object Thing]" was replaced: pass 48b).
 */
function thrownMessage(message: string, value: unknown, engine: string | undefined, placeholder: boolean): string {
  // JavaScript and Squirrel give a thrown null, undefined or boolean its ToString ("null", "true"), Lua says
  // nothing: all render it, so `throw null` reads "js threw null" as error(nil) reads "lua threw null"
  if ((value === null || typeof value === "boolean") && (message === String(value) || message === "undefined")) {
    return `${engine ?? "the script"} threw ${message}`;
  }
  // an empty message says nothing either: JavaScript's String([]) and String([[]]) are "", so `throw []` gave ""
  // a string value is the message, unless the message is a placeholder for it: the bytes of a thrown JS Uint8Array
  // that are valid UTF-8 (its message "[object Uint8Array]") cross as a string
  if (value === undefined || (message !== "" && !placeholder)) return message;
  // a thrown string is its own message, unless it is empty: `throw ""` reads `js threw ""` (an empty text says nothing)
  if (typeof value === "string" && value === message && message !== "") return message;
  if (value !== null && typeof value === "object" && !Array.isArray(value) && !(value instanceof Uint8Array)) {
    // (a table with a key that is no string crosses as a Map: its "message" all the same, pass 49b)
    const m = value instanceof Map ? value.get("message") : (value as Record<string, unknown>).message;
    if (typeof m === "string" && m !== "") return m; // an empty one says nothing (pass 47b)
    // a Lua or Squirrel string that is not UTF-8 comes as bytes: its text with U+FFFD, as a thrown string's (pass 48b)
    if (m instanceof Uint8Array && m.length > 0) return lossyText.decode(m);
  }
  const text = render(value);
  return `${engine ?? "the script"} threw ${text.length > 300 ? cut(text, 300) + "…" : text}`;
}

/** s's first n UTF-16 units, one fewer where the nth is the first of a pair: a cut never leaves half a character (a
 * lone surrogate read `\ud83d…` in a rendering, or stayed raw in a message: pass 57a) */
function cut(s: string, n: number): string {
  const c = s.charCodeAt(n - 1);
  return s.slice(0, c >= 0xd800 && c <= 0xdbff && (s.charCodeAt(n) & 0xfc00) === 0xdc00 ? n - 1 : n);
}
const nameEncoder = new TextEncoder();
const lossyText = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true }); // a leading U+FEFF kept (see wire.ts)

/**
 * Whether f is a built-in toString of any realm (its source text is "[native code]"). A bound function reads so
 * whatever its target, which JavaScript cannot see: it counts only under the built-in's name ("bound toString"), so
 * an anonymous function of the host's own bound to something keeps its text (pass 50b).
 */
function nativeFunction(f: unknown): boolean {
  try {
    if (typeof f !== "function" || !/\{\s*\[native code\]\s*\}\s*$/.test(Function.prototype.toString.call(f))) return false;
    const name: unknown = Object.getOwnPropertyDescriptor(f, "name")?.value;
    return !(typeof name === "string" && name.startsWith("bound ")) || name === "bound toString";
  } catch {
    return false;
  }
}

/**
 * Names (globals, natives, chunk names) are checked here, before anything is encoded: the library refuses
 * names over 255 bytes or with NUL, and a request it refuses before decoding its arguments could not give
 * back the TypeScript functions among them.
 */
function checkName(what: string, name: string): void {
  if (typeof name !== "string" || name.includes("\0") || (name.length > 85 && nameEncoder.encode(name).length > 255)) {
    throw new CalogValueError("ERR_ARG", `${what} must be a string of at most 255 UTF-8 bytes without NUL`);
  }
  // a name is no value: the lenient policy's U+FFFD for a lone surrogate made it another name, so ctx.get("x\udc00")
  // read the global "x\ufffd" and ctx.call called it
  if (!(name as unknown as { isWellFormed(): boolean }).isWellFormed()) {
    throw new CalogValueError("ERR_ARG", `${what} must be well-formed text: it has a lone surrogate (any policy: it would name something else)`);
  }
}

/** Array.prototype.slice as calog loaded it, called on an arguments object (a replaced one escaped raw: pass 85b). */
const arraySlice = uncurry(Array.prototype.slice as (this: never, start?: number) => unknown[]);

function checkArgs(args: unknown[]): void {
  if (args.length > 65535) throw new CalogValueError("ERR_ARG", "at most 65,535 arguments per call");
}

/**
 * Whether the library refused a synchronous call without running it (its context or function gone, the nesting cap):
 * what the call was given is then walked too, at once (pass 86b). The README promises it only for a call refused before
 * it is sent: an async call the library finds so only as it takes the request, its outcome comes a turn of the event
 * loop later, after JavaScript has reported a rejection in what calog did not read (a function's own properties).
 */
function refusedUnrun(e: unknown): boolean {
  return e instanceof CalogDeadError || e instanceof CalogDisposedError || e instanceof CalogNestingError;
}

/** The refusal of a call into calog made while it reads a value (from a getter or a Proxy trap it runs). */
function whileMarshalling(): CalogValueError {
  return new CalogValueError("ERR_ARG", "calog was called while marshalling a value (from a getter or a Proxy)");
}
const CONTEXT_OWN_THREAD = 1;

/** A host function's entry: names, the ones rt.register gave it (what scripts call it; messages name it so). */
/** A function a script holds (a registered name, a value passed in); `call`/`release`: another runtime's ScriptFunction
 * lent (see {@link lenders}), called through its own reference. */
type HostEntry = { fn: Function; refs: number; names?: string[] } & Partial<Lent>;

/** What a ScriptFunction lends another runtime: `call` runs it (`callAsync` for a script that can wait), `release` gives the reference back, `live` tells
 * whether the handle it was lent from is (no code of the caller runs: it may have been a Proxy), `share` makes a
 * handle of the function of its own (a lent copy coming back to TypeScript). */
type Lent = {
  /** Throws the error of a pass of the function once its handle or runtime is disposed. */
  check: () => void;
  call: Function;
  callAsync: (args: unknown[]) => Promise<Value>;
  release: () => void;
  live: () => boolean;
  share: () => ScriptFunction;
};

/** A script function's native reference and how many handles and lent copies use it. */
type FnRef = { readonly slot: number; readonly gen: number; users: number };

/**
 * A ScriptFunction passed to a context of another runtime goes there as a host function, with its own reference to the
 * script function: `lenders.get(f)!()` takes one (until `release`), which a `dispose()` of the handle leaves alone, as a
 * copy in a context of the same runtime is (pass 58b: the handle's dispose ended the other runtime's copy). Told by
 * identity: a Proxy of a ScriptFunction is a TypeScript function, whose traps run when a script calls it (read through
 * the Proxy, the lend went to its target and no trap ran: pass 65a).
 */
const lenders = new WeakMap<Function, () => Lent>();
/** `f[CHECK_LIVE]()` throws if the ScriptFunction f was disposed: reached through a Proxy of it too (see hostRef). */
const CHECK_LIVE = Symbol("calog.checkLive");
const liveChecks = new WeakSet<Function>();

/** Everything that needs the native runtime; shared by Runtime, Context and script functions. */
/** Runs f as a macrotask: after what the event loop has queued (I/O, timers), before it sleeps. */
const schedule: (f: () => void) => void = typeof globalThis.setImmediate === "function"
  ? (f) => void globalThis.setImmediate(f)
  : (f) => void setTimeout(f, 0);
/**
 * Where the event loop has `setImmediate` (Bun, and Deno 2 as a global), how long after an async request is sent
 * its outcome is looked for from macrotasks before the wake alone is left to bring it (ms): a short call on a
 * context thread answers in ~1-2 µs, and a wake of an event loop asleep costs ~15-20 µs under Bun (Deno's
 * nonblocking wait, ~2.5-10 µs, also wakes later than a look finds the outcome).
 */
const QUICK_LOOK_MS = 0.05;
/** How long one quick look waits (µs, yielding the CPU while it spins, see calogHostPollWait). */
const QUICK_WAIT_US = 5;
const immediate: ((f: () => void) => unknown) | undefined = typeof globalThis.setImmediate === "function"
  ? globalThis.setImmediate
  : undefined;
/**
 * For how long after a look from a macrotask later looks may run as microtasks (ms). A macrotask costs ~1-3 µs
 * (Deno's `setImmediate` ~3 µs) against ~1-2 µs for the call itself; an `await callAsync(...)` loop still gives the
 * event loop its turn at least this often, as the drain does (HOST_BUDGET_MS).
 */
const MICRO_LOOK_MS = 1;
/** How long the drain waits for a context thread's next host call after answering one (µs). */
const HOST_WINDOW_US = 50;
/** The shorter look after a single answered call (µs). */
const HOST_PEEK_US = 5;
/** The most a drain spends serving host calls from context threads before the event loop gets its turn (ms). */
const HOST_BUDGET_MS = 1;

/**
 * Where the wake brings a drain that spent its budget back (Deno), how long a timer set as it did may wait to run
 * before wakes wait for it (ms). Deno runs ready wait completions ahead of due timers, for tens of milliseconds
 * at a time (a chain of awaited file stats with 1 ms of work each held back an interval of 1 ms for 120 ms).
 */
const TURN_OVERDUE_MS = 2;

/** The FFI call of a registration (see Core.sendRefs). */
const registerHost = (n: NativeRuntime, len: number): number => n.registerHost(len);

/**
 * The callbacks that hold the core weakly (the binding keeps them for the runtime's life, a registry for good), so a
 * forgotten Runtime can still be collected. Made here, not in the constructor: a closure there shares the
 * constructor's scope with the ones that use `this`, and so held the core strongly, whatever it referenced itself.
 */
function weakCallbacks(core: Core): {
  host: HostCallbacks;
  fnFinalizer: FinalizationRegistry<FnRef>;
  drain: () => void;
} {
  const weak = new WeakRef(core);
  return {
    host: {
      call: (id, len) => weak.deref()?.hostCall(id, len) ?? -ERR_HOST,
      release: (id) => weak.deref()?.hostRelease(id),
      wake: () => weak.deref()?.drainNow(),
    },
    fnFinalizer: new FinalizationRegistry((r) => weak.deref()?.unref(r)),
    drain: () => weak.deref()?.drainNow(),
  };
}

class Core implements FunctionTable {
  native: NativeRuntime | undefined;
  readonly wire: Wire;
  readonly hostById: Map<number, HostEntry> = new Map();
  /** The `release` of each function another runtime lent this one (see {@link lenders}), also held by this runtime's
   * backstop: a forgotten Runtime whose Core went with it gave none back (its lender's functions, and their contexts,
   * lived as long as the lender: pass 67b). */
  readonly lentReleases: Set<() => void> = new Set();
  readonly hostIdOf: Map<Function, number> = new Map();
  nextHostId = 1;
  readonly handles: WeakMap<Function, readonly [number, number]> = new WeakMap();
  /** Runtime-wide defaults every context starts from. */
  defaultLimits: Limits | undefined;
  defaultCapabilities: string | Record<string, unknown> | undefined;
  defaultOutput: Output | undefined;
  /** Output callbacks wrapped so that an exception they throw never reaches the script. */
  readonly outputWrappers: WeakMap<Function, Function> = new WeakMap();
  /** The public Runtime, held weakly (script functions hold it strongly so it outlives them). */
  owner: WeakRef<object> | undefined;
  pendingRefs: number[] = [];
  /**
   * Whether the last call {@link sendRefs} made that threw had reached the library (it read IN): the call ran, and Bun
   * raised an engine's refusal (a host callback it would not enter near the stack's end) again once it returned.
   */
  reachedAndThrew = false;
  /**
   * Exceptions host functions threw, by the id sent with their error (the native side carries the id through
   * every engine, so `cause` is attached only to the error that exception became, uncaught, each time it ends a call).
   * The oldest go first past HOST_ERRORS_KEPT: exceptions scripts caught are never asked for.
   */
  readonly hostErrors: Map<number, unknown> = new Map();
  nextHostError = 1;
  depth = 0;
  encoding = false;
  /** Async requests in flight; `keep` holds the Context they run in (its backstop must not fire meanwhile). */
  /** Asynchronous requests by ticket; `boxed`: resolved with `[value]`, so a value with a `then` function is data. */
  readonly pending: Map<number, { resolve: (v: Value) => void; reject: (e: unknown) => void; keep: unknown; boxed?: boolean }> = new Map();
  /** Tickets whose promise was settled by an abort: their completion is still collected (and dropped). */
  readonly aborted: Set<number> = new Set();
  /** Live contexts (for stats). */
  readonly contexts: Map<number, { engine: EngineName; threaded: boolean }> = new Map();
  readonly drain: () => void;
  /** Whether the wake is armed (the binding holds the event loop open meanwhile). */
  armed = false;
  /** The Runtime, held strongly while armed (see {@link arm}). */
  heldOwner: object | undefined;
  /** The drain as the armed wake calls it: holds the core strongly (see {@link arm}). */
  readonly drainArmed: () => void;
  /** When a drain that spent its budget set the timer {@link turnTaken} (performance.now(); 0: none pending). */
  turnSince = 0;
  /** A wake came while that timer was overdue: the drain waits for it. */
  turnHeld = false;
  /** The timer that shows the event loop took its turn (see TURN_OVERDUE_MS). */
  readonly turnTaken: () => void;
  /** {@link quickLookNow} as a macrotask, and until when it looks again. */
  readonly quickLook: () => void;
  /** {@link quickLookNow} as a microtask (see MICRO_LOOK_MS). */
  readonly microLook: () => void;
  quickUntil = 0;
  quickScheduled = false;
  /** When a look last ran as a macrotask (performance.now()). */
  lastMacroLook = -Infinity;
  readonly fnFinalizer: FinalizationRegistry<FnRef>;

  constructor(native: NativeRuntime, policy: "strict" | "lenient") {
    this.native = native;
    this.wire = new Wire(native, this);
    if (policy === "lenient") {
      native.setPolicy(1);
      this.wire.lenient = true;
    }
    const weak = weakCallbacks(this);
    native.installHost(weak.host);
    this.fnFinalizer = weak.fnFinalizer;
    this.drain = weak.drain;
    this.drainArmed = () => {
      if (this.turnSince !== 0 && performance.now() - this.turnSince > TURN_OVERDUE_MS) this.turnHeld = true;
      else this.drainNow();
    };
    this.turnTaken = () => {
      this.turnSince = 0;
      if (this.turnHeld) {
        this.turnHeld = false;
        this.drainNow(); // and it arms the wake again
      }
    };
    this.quickLook = () => {
      this.lastMacroLook = performance.now();
      this.quickLookNow();
    };
    this.microLook = () => this.quickLookNow();
  }

  /**
   * Settles the call of an outcome the library gave up (see drainNow): its value or its error from OUT. The call stays
   * in {@link pending} until it is settled (taken off first, a throw on the way left it waiting for good, and dispose()
   * could not reach it: pass 93a).
   */
  settleOutcome(ticket: number, status: number, len: number): void {
    const p = this.pending.get(ticket);
    if (status === 0) {
      let v: Value | undefined, failure: unknown, failed = false;
      try {
        v = this.wire.result(len) as Value; // decoded even if nobody waits: function handles must be owned
      } catch (e) {
        failed = true;
        failure = e;
      }
      if (failed) p?.reject(failure);
      else if (p?.boxed) p.resolve([v as Value]); // a lent function's result, given to the script that called it as it is (see deferLent)
      // A Promise adopts a value with a callable `then`: a script returning { then = function() end } left
      // the caller's await pending for ever, and { then = function(resolve) resolve(42) end } made it 42
      // (and handed the script the resolve function). No Promise can be fulfilled with such a value.
      else if (v !== null && typeof v === "object" && !(v instanceof Map) && typeof (v as { then?: unknown }).then === "function") {
        p?.reject(new CalogValueError("ERR_TYPE", "the result has a 'then' function, so a Promise would adopt it as a thenable instead of returning it: call synchronously (call, eval, a script function) or return it under another key"));
      } else p?.resolve(v as Value);
    } else {
      p?.reject(this.error(status));
    }
    this.pending.delete(ticket);
    this.aborted.delete(ticket);
  }

  /**
   * Outcomes the library gave up whose calls are not settled yet, as [ticket, status] pairs in the first {@link
   * unsettledCount} places: a throw near the JavaScript stack's end stopped {@link settleOutcome}, and OUT has been
   * written over since (Bun: an evalAsync whose script failed, collected by a drain near the stack's end, never
   * settled, not even by dispose: pass 93a). Settled by the next drain (one is scheduled where that happens) or
   * dispose (see recordList).
   */
  readonly unsettled: unknown[] = recordList();
  unsettledCount = 0;

  /** Settles the calls {@link unsettled} records, with room to spare on the stack (else they wait for the next drain). */
  settleUnsettled(): void {
    try {
      if (!roomToTake()) return;
    } catch {
      return; // not even room to ask
    }
    const list = this.unsettled;
    for (let k = this.unsettledCount; k > 0; k = this.unsettledCount) {
      const ticket = list[k - 2] as number, status = list[k - 1] as number;
      const p = this.pending.get(ticket);
      // settled already, where the throw came after (then this is a no-op), or rejected now: what it said is gone
      if (p !== undefined) {
        p.reject(new CalogNestingError("ERR_NESTING", status === 0
          ? "the call completed, and its result could not be read: the JavaScript stack ran out while reading it (calls nested too deeply on this thread); the result is lost"
          : ERROR_UNREAD_STACK));
      }
      this.pending.delete(ticket);
      this.aborted.delete(ticket);
      list[k - 2] = undefined;
      list[k - 1] = undefined;
      this.unsettledCount = k - 2;
    }
  }

  /**
   * Collects finished async requests and settles their promises, and serves calls from context threads (on
   * this thread, from the wake path). Once it has answered such a call it waits a little for the next one
   * (HOST_WINDOW_US: a script calling the host in a loop calls again within microseconds, far sooner than a
   * wake through the event loop), for at most HOST_BUDGET_MS per drain so the event loop keeps its turn.
   */
  drainNow(firstWaitUs = 0): void {
    const n = this.native;
    if (n === undefined) return;
    if (this.unsettledCount !== 0) this.settleUnsettled();
    const c = n.control, w = this.wire;
    let until = 0, streak = 0, ended = false, spent = false, wait = firstWaitUs;
    // An exception between two polls (a RangeError near the stack limit) would leave wakes held: a drain in a
    // macrotask then takes over (its first look lets them through).
    if (w.open) w.dropUnowned(MAX_OUT); // see sendRequest
    try {
      for (;;) {
        // After one answered call a short look for the next, after two in a row the full window: a script that
        // called once (a round trip) costs the event loop next to nothing, one calling in a loop is served here.
        // A wait holds wakes back: the loop ends on a 0, whose last look let them through, or on a spent budget,
        // with the drain's continuation in place.
        let r = n.pollWait(streak === 0 ? wait : streak === 1 ? HOST_PEEK_US : HOST_WINDOW_US);
        wait = 0;
        if (r === 2) {
          streak++;
          const now = performance.now();
          if (until === 0) until = now + HOST_BUDGET_MS;
          else if (now >= until) {
            // Budget spent: the event loop takes its turn, and the drain goes on after it (the script is still
            // calling). Under Bun, from a macrotask, with wakes held until then: let through, the script's next
            // call would wake the JS thread at once, and Bun runs such wakes one after another before its timers
            // (an interval of 1 ms went 20-40 ms without a turn); the scheduled drain's first look lets them
            // through. Under Deno, from the armed wake (the wait sees the queued call whether wakes are held or
            // not): a chain of setImmediate there also kept timers waiting for ~10 ms at a time.
            if (!n.wakeTakesTurns) schedule(this.drain);
            else if (this.turnSince === 0) {
              setTimeout(this.turnTaken, 0); // first: one that threw at the stack's end with turnSince set would
              this.turnSince = now; // leave every later wake held, with no timer to let them go (pass 26a)
            }
            spent = true;
            break;
          }
          continue;
        }
        streak = 0; // an outcome (the call that made the calls is over) or nothing
        if (r === 0) break;
        w.taken = c[14]!; // an outcome in OUT: its function handles are ours (see Wire.open)
        w.open = true;
        const ticket = c[8]!, status = c[9]! | 0, len = c[10]!;
        // the library has given this outcome up: until its call is settled, it is recorded with stores only (see
        // unsettled), so a throw on the way (the stack's end) leaves it to be settled, never waiting for good
        const k = this.unsettledCount, list = this.unsettled;
        list[k] = ticket;
        list[k + 1] = status;
        this.unsettledCount = k + 2;
        this.settleOutcome(ticket, status, len);
        list[k] = undefined;
        list[k + 1] = undefined;
        this.unsettledCount = k;
      }
      ended = true;
    } finally {
      if (this.wire.open) this.wire.dropUnowned(MAX_OUT); // an outcome that was never decoded (a RangeError first)
      if (!ended) schedule(this.drain);
    }
    if (n.control[13] !== 0 || this.lostTaken !== 0) this.takeLost(n);
    if (this.droppedCount !== 0) this.dropResults(); // results a host call served here could not hand on
    if (this.wire.orphans !== 0) this.wire.releaseOrphans(); // a decode that failed at the stack's end left them
    this.keepWake(n); // what arrives from now on wakes us again
    if (spent && n.wakeTakesTurns && !this.armed) schedule(this.drain); // no wake to bring the rest: a macrotask
  }

  /**
   * Keeps the wake armed while work may arrive by itself: async requests in flight, or contexts with timers,
   * callback servers or callback operations (control[12], counted by the library): a host-thread context's
   * callbacks run when we poll, a threaded one's may call host functions or print through us.
   */
  keepWake(n: NativeRuntime): void {
    if (this.pending.size > 0 || this.aborted.size > 0 || n.control[12]! > 0) this.arm(n);
    else if (this.armed) {
      this.armed = false;
      this.heldOwner = undefined;
      n.disarmWake(); // nothing can arrive by itself: the process may end, a forgotten Runtime be collected
    }
  }

  /**
   * Arms the wake. While armed, the binding keeps the process alive and holds the callback it was given, which
   * holds this core and the Runtime: work that arrives by itself (a reply, a script's timer or server calling
   * TypeScript) finds them even if the program kept no reference, as a pending timer keeps its callback.
   */
  arm(n: NativeRuntime): void {
    if (!this.armed) {
      this.armed = true;
      this.heldOwner = this.owner?.deref();
    }
    n.armWake(this.drainArmed);
  }

  /** Sends an async request: the promise settles when the context replies (or fails now). */
  submit(write: () => void, send: (n: NativeRuntime, len: number) => number, keep?: unknown, signal?: AbortSignal, boxed?: boolean,
    values?: ArrayLike<unknown>): Promise<Value> {
    const n = this.live("async call");
    // (the signal's state and listeners through the built-ins: see signals)
    if (signal !== undefined && signals.aborted(signal)) {
      // refused as any call made from a getter or trap calog runs first (it went through the guard: pass 77a)
      const e: unknown = this.encoding || inWalk() ? whileMarshalling() : signals.reason(signal);
      if (values !== undefined) this.refusals.add(values); // never read (see invoke)
      return rejectedWith(e);
    }
    try {
      this.encode(write, true, values);
    } catch (e) {
      return rejectedWith(e);
    }
    // a getter of an argument aborted it: nothing is sent (the listener below comes too late to hear it), and the
    // host functions among the arguments go back (they stayed for the runtime's life)
    if (signal !== undefined && signals.aborted(signal)) {
      this.returnRefs();
      if (values !== undefined) this.refusals.add(values); // refused as one aborted before (pass 86b)
      return rejectedWith(signals.reason(signal));
    }
    if (this.wire.open) this.wire.dropUnowned(MAX_OUT); // see sendRequest
    // The promise is made and the wake armed before the request goes out: between the send and the request's record
    // in `pending`, nothing may meet the stack's end. Made in an executor after it, a throw there (Deno's arm or
    // setImmediate near the stack's end) rejected a call that had been sent and ran with that RangeError (pass 96a).
    let made: PromiseWithResolvers<Value>;
    try {
      made = withResolvers() as PromiseWithResolvers<Value>;
      this.arm(n);
    } catch (e) {
      this.idleWake(n); // never sent: its host references go back at the next begin (see sendRequest)
      return rejectedWith(e);
    }
    const { promise, resolve, reject } = made;
    let t: number;
    try {
      t = this.sendRefs(n, this.wire.length, send);
    } catch (e) {
      this.idleWake(n);
      return rejectedWith(e);
    }
    if (n.control[13] !== 0 || this.lostTaken !== 0) this.takeLost(n);
    if (t < 0) {
      this.wire.taken = n.control[14]!;
      this.wire.open = true;
      this.idleWake(n);
      const e = this.error(-t);
      if (values !== undefined && refusedUnrun(e)) this.refusals.add(values); // see refusedUnrun
      return rejectedWith(e);
    }
    if (signal === undefined) {
      this.pending.set(t, { resolve, reject, keep, boxed });
    } else if (signals.aborted(signal)) {
      // aborted while the request was sent, before a listener could hear it: by a host function or the output
      // callback of a host-thread context, which runs the request inside send. The promise resolved with the
      // script's value as if no abort had come; it rejects with the reason, and the outcome is collected and dropped
      this.aborted.add(t);
      this.native?.cancel(t);
      reject(signals.reason(signal));
    } else {
      // An abort() called where the JavaScript stack is nearly exhausted may find no room for this listener, or
      // for part of it: the promise settled first, the rest never throws out of it (an exception in a listener is
      // an uncaught error), and an outcome that arrives for an aborted signal rejects with its reason. The listener
      // deleted the request, then threw before rejecting: the promise never settled (an await hung for good), or
      // never ran: the script's value resolved the promise of an aborted call.
      const onAbort = (): void => {
        try {
          if (!this.pending.has(t)) return;
          reject(signals.reason(signal));
          this.pending.delete(t);
          this.aborted.add(t);
          this.native?.cancel(t); // queued: never runs; running: interrupted
        } catch { /* no stack left: settled, and the outcome is collected as any other */ }
      };
      this.pending.set(t, {
        keep,
        resolve: (v) => {
          signals.unlisten(signal, onAbort);
          if (signals.aborted(signal)) reject(signals.reason(signal)); // aborted, the listener never ran
          else resolve(v);
        },
        reject: (e) => (signals.unlisten(signal, onAbort), reject(signals.aborted(signal) ? signals.reason(signal) : e)),
      });
      signals.listen(signal, onAbort);
    }
    if (immediate !== undefined) {
      // A quick look only hastens what the wake brings: one that cannot be scheduled (near the stack's end, Deno's
      // setImmediate threw) must not fail the call, nor leave quickScheduled set for good (no later call had a quick
      // look: pass 96a)
      try {
        const now = performance.now();
        this.quickUntil = now + QUICK_LOOK_MS;
        if (!this.quickScheduled) {
          // the first look from a microtask while the event loop had a turn within MICRO_LOOK_MS, else from a
          // macrotask (which gives it that turn): never inside callAsync (async_host.test.ts pins why)
          if (now - this.lastMacroLook < MICRO_LOOK_MS) queueMicrotask(this.microLook);
          else immediate(this.quickLook);
          this.quickScheduled = true;
        }
      } catch { /* the stack's end: the wake brings the outcome */ }
    }
    return promise;
  }

  /** Disarms the wake armed for a request that was not sent after all, if nothing else needs it (see keepWake). */
  idleWake(n: NativeRuntime): void {
    try {
      this.keepWake(n);
    } catch { /* the stack's end: the next drain does it */ }
  }

  /**
   * A look for outcomes from a macrotask, again in the next one until QUICK_LOOK_MS after the last request was
   * sent: the event loop keeps its turns (timers, I/O) between two looks, and what a look finds is settled as
   * the wake would settle it (drainNow), never inside `callAsync` itself.
   */
  quickLookNow(): void {
    this.quickScheduled = false;
    if (this.native === undefined || this.pending.size === 0) return;
    // a short wait that yields the CPU: a context thread that shares this core (the other one busy, with a JIT
    // thread say) gets to answer, where a look that only spun kept it off until the looks ended
    this.drainNow(QUICK_WAIT_US);
    if (this.pending.size > 0 && this.native !== undefined && performance.now() < this.quickUntil) {
      immediate!(this.quickLook);
      this.quickScheduled = true;
    }
  }

  live(what: string): NativeRuntime {
    const n = this.native;
    if (n === undefined) throw new CalogDisposedError("ERR_DISPOSED", `${what}: the runtime was disposed`);
    return n;
  }

  // ---- FunctionTable -------------------------------------------------------------------------
  handleOf(fn: Function): readonly [number, number] | undefined {
    const h = this.handles.get(fn);
    if (h === undefined && disposedScriptFunction(fn)) {
      throw new CalogDisposedError("ERR_DISPOSED", `${disposedWhat(fn)} cannot be passed to a script`);
    }
    return h;
  }

  hostRef(fn: Function): number {
    // getFunction's handle of a TypeScript function crosses as that function: the script's copy is the function, not
    // the handle, whose dispose() ended the copy (pass 65a)
    fn = wrappedHostFunction.get(fn) ?? fn;
    let id = this.hostIdOf.get(fn);
    // an id whose entry is gone: a release that a RangeError stopped between its two deletes (the stack's end) left
    // fn mapped to it, and the next call passing fn failed with a TypeError, for good
    let e = id === undefined ? undefined : this.hostById.get(id);
    if (id === undefined || e === undefined) {
      id = this.nextHostId++;
      e = { fn, refs: 0 };
      const lend = lenders.get(fn);
      // another runtime's ScriptFunction; or a Proxy of one (any runtime's), refused if that one was disposed (it was
      // lent, and each call failed later: pass 62a), else a TypeScript function as any other
      if (lend !== undefined) {
        Object.assign(e, lend());
        this.lentReleases.add(e.release!);
      } else {
        // its own property, read as a descriptor: not one its prototype has (a live function whose prototype is a
        // disposed ScriptFunction was refused), and a Proxy's get trap never runs (one that refuses unknown keys
        // refused its function, naming calog's key: passes 66a, 66b); a Proxy forwards its target's own descriptor,
        // and a descriptor trap that throws leaves a TypeScript function as any other
        let check: unknown;
        try {
          check = Object.getOwnPropertyDescriptor(fn, CHECK_LIVE)?.value;
        } catch {
          // a guard Proxy whose descriptor trap refuses unknown keys: the routes it does not trap, an own key (ownKeys
          // must list a target's non-configurable one) read with get; a disposed function's Proxy was accepted, and its
          // calls failed later (pass 70b). One that traps every route is a TypeScript function as any other.
          check = undefined;
          try {
            if (Reflect.ownKeys(fn).includes(CHECK_LIVE)) check = Reflect.get(fn, CHECK_LIVE);
          } catch {
            check = undefined;
          }
        }
        if (typeof check === "function" && liveChecks.has(check)) e.check = check as () => void;
        e.check?.(); // before the entry is kept: a refused function leaves none
      }
      this.hostIdOf.set(fn, id);
      this.hostById.set(id, e);
    } else {
      // on every pass, not only the first: a Proxy passed while its target lived, which a script still holds (or the
      // function itself, lent to another runtime), was accepted again after the target's dispose() (pass 67b)
      e.check?.();
    }
    e.refs++;
    this.pendingRefs.push(id);
    return id;
  }

  /** Records that `fn` is registered as `name` (for messages; undefined: unregistered), and forgets `name` for any
   * other function. */
  named(fn: Function | undefined, name: string): void {
    for (const e of this.hostById.values()) {
      if (e.names === undefined) continue;
      const i = e.names.indexOf(name);
      if (i >= 0 && e.fn !== fn) e.names.splice(i, 1);
    }
    if (fn === undefined) return;
    const id = this.hostIdOf.get(fn);
    const e = id === undefined ? undefined : this.hostById.get(id);
    if (e !== undefined && !(e.names ??= []).includes(name)) e.names.push(name);
  }

  hostFn(id: number): Function {
    const e = this.hostById.get(id);
    if (e === undefined) throw new CalogError("ERR_INTERNAL", `unknown host function ${id}`);
    // another runtime's function, lent: the copy a context holds is alive whatever the handle it came from, so once
    // that handle was disposed it comes back as a handle of its own (it came back dead: pass 64a)
    if (e.share !== undefined && !e.live!()) return e.share();
    return e.fn;
  }

  /**
   * A handle of its own for what getFunction read: the same function within this runtime, a handle of another
   * runtime's function a context holds (its user's handle was given back: disposing this one disposed that), or a
   * ScriptFunction-shaped handle of a TypeScript function a global holds (it came back bare, without dispose or
   * callAsync: pass 64a).
   */
  ownHandle(v: Function): ScriptFunction {
    if (this.handles.has(v)) return v as ScriptFunction;
    const id = this.hostIdOf.get(v);
    const e = id === undefined ? undefined : this.hostById.get(id);
    if (e?.share !== undefined && !disposedScriptFunction(v)) return e.share();
    if (scriptFunctions.has(v)) return v as ScriptFunction; // disposed, of a runtime gone: dead either way
    return hostHandle(v, this);
  }

  outDone(): void {
    this.native?.outDone();
  }

  wrap(slot: number, gen: number): Function {
    return this.#handle({ slot, gen, users: 0 });
  }

  /**
   * A handle of the script function `ref` names. Handles of one function can share its native reference: each, and
   * each copy lent to another runtime (`lenders`), is one of its `users`, and the reference goes with the last of them.
   * A lent copy comes back to TypeScript as a handle of its own when the one it was lent from was disposed, and
   * getFunction always gives one of its own (pass 64a: it gave the user's handle, disposed or to be disposed).
   */
  #handle(ref: FnRef): ScriptFunction {
    const core = this;
    const { slot, gen } = ref;
    const handle = [slot, gen] as const;
    const keepAlive = this.owner?.deref();
    const send = (n: NativeRuntime, len: number) => n.fnCall(slot, gen, len);
    let live = true;
    // which dispose() ended it: a user who never disposed the function read that they had (pass 57a)
    const disposed = () =>
      new CalogDisposedError("ERR_DISPOSED", core.native === undefined ? "script function: the runtime was disposed" : "script function was disposed");
    // Up to four arguments are named parameters: a call allocates no rest array (arguments.length alone
    // does not materialise an arguments object in JSC or V8).
    const f = function (a0?: unknown, a1?: unknown, a2?: unknown, a3?: unknown): Value {
      if (new.target !== undefined) {
        // `new f()` called the script function and returned `this`, an empty object, whatever the script returned
        throw core.refusals.refusing(new CalogValueError("ERR_ARG", "a script function is not a constructor: call it without new"), arguments);
      }
      if (!live || core.native === undefined || keepAlive === null) throw core.refusals.refusing(disposed(), arguments);
      const n = arguments.length;
      if (n <= 4) return core.invokeN(undefined, n, a0, a1, a2, a3, send);
      const args = arraySlice(arguments) as unknown[];
      core.checkArgs(args);
      return core.invoke(undefined, args, send);
    } as ScriptFunction;
    // as `(...args) => Value` declares it; no name (it was "f", this variable's, which a message naming a function
    // by its name showed for any script function: pass 64b)
    Object.defineProperties(f, { length: { value: 0 }, name: { value: "" } });
    // A separate unregister token: Bun keeps tokens alive, so the function itself must not be one.
    const token = {};
    ref.users++;
    const dispose = function (): void {
      if (!live) return;
      // as rt.dispose(): a getter or Proxy trap of a value calog reads for a call of this function released it under
      // the call, which then failed as if its context had died ("function was released"; pass 71b)
      if (core.encoding || inWalk()) {
        const e = new CalogValueError("ERR_ARG", "a function cannot be disposed while calog is reading a value (from a getter or a Proxy)");
        throw core.refusals.refusing(e, arguments); // see Refusals.refusing
      }
      // near the JavaScript stack's end, refused now, with nothing changed: a RangeError at the release below left the
      // handle disposed and its native function value alive until the runtime's dispose (pass 94b; see Core.dispose)
      if (!hasRoom()) throw disposeNoRoom("the function");
      live = false;
      core.handles.delete(f);
      core.fnFinalizer.unregister(token);
      core.unref(ref);
    };
    // what another runtime's script calls: alive while that runtime holds it, whatever the handle's dispose(); once
    // this runtime is disposed, its function is gone as a destroyed context's is (it said the caller's handle had been
    // disposed: pass 64b)
    const gone = () => new CalogDeadError("ERR_DEAD", "function value belongs to a runtime that was disposed");
    const lent = function (...args: unknown[]): Value {
      if (core.native === undefined || keepAlive === null) throw core.refusals.refusing(gone(), args);
      core.checkArgs(args);
      return core.invoke(undefined, args, send);
    };
    // the same for a script that can wait (a threaded context's callAsync or evalAsync): called as callAsync is, so the
    // event loop, and the caller's limits and interrupt(), go on while it runs; resolved with [value] (see deferLent)
    const writeArgs = (args: unknown[]) => (): void => {
      core.wire.list(args.length);
      for (let i = 0; i < args.length; i++) core.wire.value(args[i]); // (no array iterator: a user's could throw)
    };
    const lentAsync = (args: unknown[]): Promise<Value> => {
      if (core.native === undefined || keepAlive === null) return rejectedWith(core.refusals.refusing(gone(), args));
      try {
        checkArgs(args);
      } catch (e) {
        return rejectedWith(core.refusals.refusing(e, args));
      }
      return core.submit(writeArgs(args), (n, len) => n.fnCallAwaited(slot, gen, len), undefined, undefined, true, args);
    };
    const checkLive = (): void => {
      if (!live || core.native === undefined) throw ownError(disposed());
    };
    const lend = (): Lent => {
      checkLive();
      ref.users++;
      const giveBack = lentRelease(new WeakRef(core), ref);
      // a handle of its own, for the other runtime to give TypeScript (the lend holds the reference meanwhile)
      const share = (): ScriptFunction => (core.native === undefined ? f : core.#handle(ref));
      return { call: lent, callAsync: lentAsync, release: giveBack, live: () => live, share, check: checkLive };
    };
    const callAsync = function (...args: unknown[]): Promise<Value> {
      // `arguments`, not `args`: it keeps the options object takeCallOptions takes off (pass 83b)
      if (!live || core.native === undefined) return rejectedWith(core.refusals.refusing(disposed(), arguments));
      let signal: AbortSignal | undefined;
      try {
        signal = core.reading(() => takeCallOptions(args));
        checkArgs(args); // as call and ctx.callAsync (the library's decoder said "malformed wire data": pass 92b)
      } catch (e) {
        return rejectedWith(core.refusals.refusing(e, arguments));
      }
      return core.submit(writeArgs(args), (n, len) => n.fnCallAsync(slot, gen, len), undefined, signal, undefined, arguments);
    };
    Object.defineProperties(f, {
      callAsync: { value: callAsync },
      dispose: { value: dispose },
      [Symbol.dispose]: { value: dispose },
      disposed: { get: () => !live || core.native === undefined },
      [CHECK_LIVE]: { value: checkLive },
    });
    this.handles.set(f, handle);
    scriptFunctions.add(f);
    handleCores.set(f, this);
    lenders.set(f, lend);
    liveChecks.add(checkLive);
    this.fnFinalizer.register(f, ref, token);
    return f;
  }

  /** One user of a script function's native reference is done (a handle disposed or collected, a lend given back). */
  unref(ref: FnRef): void {
    if (--ref.users === 0) this.native?.fnRelease(ref.slot, ref.gen);
  }

  // ---- host calls (C -> TypeScript, on this thread) -----------------------------------------
  /**
   * Host calls in progress. The library is inside its own code (a poll, a call) while one runs, and user code
   * runs in it outside `depth` too: a result's `then` getter, a getter of the value being encoded. Disposing
   * the runtime there destroyed it under the library's feet (see {@link dispose}).
   */
  hostCalls = 0;

  hostCall(id: number, argLen: number): number {
    this.hostCalls++;
    try {
      return this.#hostCall(id, argLen);
    } finally {
      this.hostCalls--;
    }
  }

  #hostCall(id: number, argLen: number): number {
    const w = this.wire;
    const token = this.native?.control[11] ?? 0; // read first: a host call nested in this one overwrites it
    // What the function returned, its `then` once read, and whether the result was handed on (sent, refused and
    // walked, or deferred): one that was not when this call fails is recorded in the catch below (see dropped)
    let r: unknown = NOT_RUN, then: unknown, handed = false;
    try {
      const e = this.hostById.get(id);
      if (e === undefined) throw new CalogError("ERR_INTERNAL", `unknown host function ${id}`);
      // up to three arguments are read into locals (no array per call); all are read before fn runs, since
      // a call back into calog from fn reuses OUT
      const n = w.argsBegin(argLen);
      if (e.callAsync !== undefined && token !== 0) {
        // another runtime's function, called by a script that can wait: it ran synchronously, blocking the event loop
        // (and the caller's timeoutMs and interrupt()) while it ran, and an async host function it called could not be
        // waited for (pass 64b)
        const args = new Array<unknown>(n);
        for (let i = 0; i < n; i++) args[i] = w.next();
        w.checkKeys();
        r = e.callAsync(args); // calog's own Promise: its rejection is calog's to handle
        const t = this.deferLent(r as Promise<Value>, token);
        handed = true;
        return t;
      }
      const fn = e.call ?? e.fn;
      switch (n) {
        case 0:
          this.depth++;
          try { r = fn(); } finally { this.depth--; }
          break;
        case 1: {
          const a0 = w.next();
          w.checkKeys();
          this.depth++;
          try { r = fn(a0); } finally { this.depth--; }
          break;
        }
        case 2: {
          const a0 = w.next(), a1 = w.next();
          w.checkKeys();
          this.depth++;
          try { r = fn(a0, a1); } finally { this.depth--; }
          break;
        }
        case 3: {
          const a0 = w.next(), a1 = w.next(), a2 = w.next();
          w.checkKeys();
          this.depth++;
          try { r = fn(a0, a1, a2); } finally { this.depth--; }
          break;
        }
        default: {
          const args = new Array<unknown>(n);
          for (let i = 0; i < n; i++) args[i] = w.next();
          w.checkKeys();
          // as many as a call from TypeScript may pass: under Deno, V8's spread of 200,000 ran out of stack before
          // the function started, and that RangeError read as the function's own exception
          if (n > 65535) throw new CalogValueError("ERR_ARG", `a host function takes at most 65,535 arguments (the script passed ${n})`);
          this.depth++;
          try { r = fn(...args); } finally { this.depth--; }
        }
      }
      // (a lent function's result is data decoded from its runtime, never a Promise: a table with a `then` function
      // was adopted as a thenable, its `then` run with calog's resolve: pass 64b)
      if (e.call === undefined && r !== null && (typeof r === "object" || typeof r === "function")) {
        // read as the encoder reads the result: a call into calog from a `then` getter is refused (pass 85b); once,
        // as await reads it (see settleLater)
        const guarded = this.encoding;
        this.encoding = true;
        try {
          then = (r as PromiseLike<unknown>).then;
        } catch (e) {
          // a `then` getter or a Proxy's get trap threw while the result was read: a CalogValueError whose cause is
          // that exception, as for any other getter of the result (it was the host function's own error); the result
          // is refused, so its Promises are walked (they were not: pass 85b)
          this.refusals.add(r);
          handed = true;
          throw marshalFailure(e, this.wire);
        } finally {
          this.encoding = guarded; // a store no stack overflow can skip
        }
        if (typeof then === "function") {
          const t = this.deferHost(r, then, token);
          handed = true;
          if (t !== HOST_DEFERRED) throw cannotWait(e);
          return t;
        }
      }
      this.begin();
      try {
        w.value(r);
      } catch (e) {
        try {
          this.refusals.add(r); // the encoder stopped at the first it met (pass 32a)
          handed = true;
        } finally {
          this.end(true);
        }
        throw marshalFailure(e, this.wire);
      } finally {
        this.encoding = false; // a store no stack overflow can skip (see begin)
      }
      this.end(false);
      handed = true;
      return w.length;
    } catch (err) {
      // The function ran and its result was not handed on: the stack ran out on the way (calling refusals.add,
      // deferHost, begin, the encoder). Its Promises went unhandled, and a Promise it returned was neither followed
      // nor walked (Bun and Deno, every engine, both thread kinds: 1 to 71 of 200,000 calls at the stack's end, pass
      // 90b). Recorded with index stores only, which fit where no call does (nor an object literal: V8 makes a
      // literal's first copy in its runtime, which checks the stack), and dropped now or at the crossing's end.
      if (!handed && r !== NOT_RUN && r !== null && (typeof r === "object" || typeof r === "function")) {
        const k = this.droppedCount, list = this.dropped;
        list[k] = r;
        list[k + 1] = then;
        this.droppedCount = k + 2;
        try {
          this.dropResults();
        } catch { /* no room to enter it: see dropped */ }
      }
      const message = describeThrown(err);
      const id = this.nextHostError++;
      this.hostErrors.set(id, err);
      if (this.hostErrors.size > HOST_ERRORS_KEPT) this.hostErrors.delete(this.hostErrors.keys().next().value!);
      // with the flag set, as any encode: a call into calog from code that runs here is refused, never one that
      // writes over the error half written (pass 67b; settleHost writes its host errors inside begin)
      this.encoding = true;
      try {
        writeHostError(w, message, id, err, this);
      } finally {
        this.encoding = false;
      }
      return -ERR_HOST;
    }
  }

  /**
   * A host function returned a Promise (or any thenable), whose `then` was read once. With a token, the calling script
   * (on a context thread) waits for it and the reply goes out when it settles (HOST_DEFERRED); without one the script
   * cannot wait (it runs on this thread, or this thread is blocked in a synchronous call into it): the result is
   * dropped, and CANNOT_WAIT tells the caller to fail the call (see cannotWait).
   */
  deferHost(p: object, then: unknown, token: number): number {
    if (token === 0) {
      this.dropResult(p, then);
      return CANNOT_WAIT; // see cannotWait
    }
    thenNative(settleLater(p, then), (v) => this.settleHost(token, true, v), (e) => this.settleHost(token, false, e));
    return HOST_DEFERRED;
  }

  /**
   * Drops a host function's result nobody will read, a Promise or thenable followed through `then` (read from it
   * once) or none: its rejection must not go unhandled, nor that of a Promise inside it or inside the value it
   * resolves with (its own properties too: nobody reads them, pass 82b).
   */
  dropResult(v: object, then: unknown): void {
    this.refusals.add(v);
    if (typeof then === "function") thenNative(settleLater(v, then), (x) => this.refusals.add(x), ignore);
  }

  /**
   * Host results a failed host call had not handed on (see #hostCall), as [result, its `then` or undefined] pairs in
   * the first {@link droppedCount} places, newest last: each is dropped ({@link dropResult}) by {@link dropResults}
   * from that call's catch, or where the stack ran out there, at the end of the crossing or drain that served the call,
   * the runtime's next call, or its dispose (see recordList). One the stack's end stopped part way through its drop is
   * dropped again whole:
   * walked twice, and a `then` of its own may be called twice (where a lost rejection was the alternative).
   */
  readonly dropped: unknown[] = recordList();
  droppedCount = 0;
  /** A microtask will call {@link dropResults} ({@link dropLater}). */
  dropQueued = false;
  readonly dropLater = (): void => {
    this.dropQueued = false;
    if (this.droppedCount !== 0) this.dropResults(true);
  };

  /**
   * Drops the results {@link dropped} records, each once, with room to spare on the stack (else they wait for a later
   * try). Under the guard: user code it runs (a `constructor` getter calog cannot set aside, which JavaScript's own
   * `then` reads) is refused any call into this runtime, as while a value is read; it ran from begin() after the
   * runtime had been taken, where a dispose freed it under the call (heap corruption, pass 91a). With that room, an
   * exception is that code's own, a RangeError too: the result is dropped as JavaScript's own `then` would leave it
   * (one kept for another try ran the getter at every later call, pass 91a). Never throws but where it cannot be
   * entered.
   */
  dropResults(atTop = false): void {
    let room = atTop; // a microtask's: whatever room it has is all there will be (asked again, it queued itself for good)
    try {
      if (!room) room = roomToTake();
    } catch { /* not even room to ask */ }
    if (!room) {
      // near the stack's end: a microtask drops them, at the top of the stack, before JavaScript reports a rejection
      // (kept for the next call alone, one the program never made was reported: pass 92b); where not even that can be
      // queued, the end of the crossing, the next call or dispose
      if (!this.dropQueued) {
        try {
          enqueue(this.dropLater);
          this.dropQueued = true;
        } catch { /* no room */ }
      }
      return;
    }
    const list = this.dropped, guarded = this.encoding;
    this.encoding = true;
    try {
      for (let k = this.droppedCount; k > 0; k = this.droppedCount) {
        try {
          this.dropResult(list[k - 2] as object, list[k - 1]);
        } catch { /* user code's own exception (see above) */ }
        // (nothing dropResult runs makes a host call, which alone adds to the list: calls into this runtime are refused)
        list[k - 2] = undefined;
        list[k - 1] = undefined;
        this.droppedCount = k - 2;
      }
    } finally {
      this.encoding = guarded; // a store no stack overflow can skip
    }
  }

  /** A lent function's call by a script that can wait (see {@link Lent}): its outcome is that script's reply. */
  deferLent(p: Promise<Value>, token: number): number {
    thenNative(p, (b) => this.settleHost(token, true, (b as [Value])[0]), (e) => this.settleHost(token, false, e));
    return HOST_DEFERRED;
  }

  /**
   * Sends the outcome of a deferred host call to its waiting script: the value, or the rejection as a host
   * error (its message and id, so the rejection itself becomes the `cause` of the script error it ends in).
   * Dropped when the script stopped waiting (its deadline, an interrupt, a dispose). Never throws.
   */
  settleHost(token: number, ok: boolean, v: unknown): void {
    const n = this.native;
    if (n === undefined) { // disposed: nobody waits
      if (ok) this.refusals.add(v);
      return;
    }
    if (this.encoding) { // encoding is synchronous, so never here; if it were, IN is busy: send it a bit later
      setTimeout(() => this.settleHost(token, ok, v), 0);
      return;
    }
    // a rejection's message read before the guard is set, as the synchronous path reads it: a getter calling into calog
    // there was refused, and the message became "it has no readable message" (pass 68b)
    const message = ok ? undefined : describeThrown(v);
    if (this.native === undefined) return; // that getter disposed the runtime
    const w = this.begin();
    let st = -ERR_DEAD;
    try {
      st = this.settleEncoded(n, w, token, ok, v, message);
    } finally {
      this.encoding = false; // a store no stack overflow can skip (see begin)
    }
    this.end(st < 0); // stale: the library read nothing, so the host references go back
  }

  /** {@link settleHost}'s encoding and FFI call, begun by it: returns the library's status. */
  settleEncoded(n: NativeRuntime, w: Wire, token: number, ok: boolean, v: unknown, rejection?: string): number {
    let outcome = -ERR_HOST;
    if (ok) {
      try {
        w.value(v);
        outcome = w.length;
      } catch (e) {
        this.refusals.add(v); // the encoder stopped at the first it met
        const failure = marshalFailure(e, this.wire); // before begin() starts another encode (pass 36b)
        this.end(true);
        w = this.begin();
        v = failure;
      }
    }
    if (outcome < 0) {
      const message = rejection ?? describeThrown(v); // a marshalling failure: calog's own error, read under the guard
      const id = this.nextHostError++;
      this.hostErrors.set(id, v);
      if (this.hostErrors.size > HOST_ERRORS_KEPT) this.hostErrors.delete(this.hostErrors.keys().next().value!);
      writeHostError(w, message, id, v, this); // as a synchronous host error: the rejection is the `cause` of the error it becomes
    }
    let st = -ERR_DEAD;
    try {
      st = n.hostSettle(token, outcome);
    } catch {
      /* the binding never throws here; a settlement must not become an unhandled rejection */
    }
    // sent: the library owns the references (a fresh array, not end(): begin must not give them back if that failed)
    if (st >= 0) this.pendingRefs = [];
    return st;
  }

  /**
   * Host references the library gives back while a synchronous crossing is in progress (depth > 0) wait until
   * its outcome is decoded: a host function in a result or an error is named in OUT by its id alone, and the
   * script's own copy of it can be freed before the call returns (a host-thread JavaScript or Squirrel
   * context frees an argument at once when the call ends), which used to delete the entry the result names.
   */
  readonly heldReleases: number[] = [];

  hostRelease(id: number): void {
    if (this.depth > 0) {
      this.heldReleases.push(id);
      return;
    }
    this.releaseNow(id);
  }

  /**
   * Applies the releases whose callback could not run (its engine refused to enter it, the JavaScript stack
   * exhausted: the library keeps them, control[13] counting them). Each counted for good: the host function, and
   * all it holds, was kept until the runtime was disposed. Never throws (a stack still too short leaves them there).
   */
  takeLost(n: NativeRuntime): void {
    try {
      if (n.control[13] === 0 && this.lostTaken === 0) return;
      if (!roomToTake()) return; // room to spare first: no use taking one that cannot be applied
      for (;;) {
        // an id taken is gone from the library: it waits in lostTaken until applied. A RangeError between the two
        // (Deno: the room checked above is no guarantee) lost it for good: the host function stayed for the
        // runtime's life (rt.stats().hostFunctions one more after a call made near the stack's end)
        if (this.lostTaken === 0) {
          const id = n.takeRelease();
          if (id === 0) return;
          this.lostTaken = id;
        }
        this.hostRelease(this.lostTaken);
        this.lostTaken = 0;
      }
    } catch { /* no stack left yet: the next crossing or drain takes them */ }
  }

  /** A release taken from the library's lost list and not yet applied (see {@link takeLost}); 0 if none. */
  lostTaken = 0;

  /** Applies the releases held back during a synchronous crossing (see {@link heldReleases}). */
  flushReleases(): void {
    const held = this.heldReleases;
    // each counted off once applied: a RangeError part way (the stack's end) leaves the others for the next flush,
    // where the whole list kept every one applied before it, applied again then (a live host function deleted)
    for (let i = held.length; i > 0; i = held.length) {
      this.releaseNow(held[i - 1]!);
      held.length = i - 1;
    }
  }

  releaseNow(id: number): void {
    const e = this.hostById.get(id);
    if (e === undefined) return;
    if (--e.refs <= 0) {
      this.hostById.delete(id);
      this.hostIdOf.delete(e.fn);
      if (e.release !== undefined) {
        this.lentReleases.delete(e.release);
        e.release();
      }
    }
  }

  // ---- requests (TypeScript -> C) -------------------------------------------------------------
  /**
   * Runs `read` (calog reading a call's options: their getters and Proxy traps run) as the encoder runs: a call into
   * the runtime made there is refused as one made while a value is encoded (a trap that disposed the function being
   * called released it under the call, which failed as if its context had died: pass 71b).
   */
  reading<T>(read: () => T): T {
    if (this.encoding) return read(); // inside an encoding already (a getter's call): that one clears the flag
    this.encoding = true;
    try {
      return read();
    } finally {
      this.encoding = false; // a store no stack overflow can skip (see begin)
    }
  }

  /** Where this runtime records the values it refused or dropped, for their Promises (see Refusals: one for all). */
  readonly refusals = refusals;

  /** {@link checkArgs}, refusing as {@link Refusals.refusing} does. */
  checkArgs(args: unknown[]): void {
    try {
      checkArgs(args);
    } catch (e) {
      throw this.refusals.refusing(e, args);
    }
  }

  /** Starts encoding a request into IN (the allocation-free form of {@link encode} for hot paths). */
  /**
   * The flag is set last, once nothing here can throw, and every caller clears it in a `finally` with a plain store
   * (see {@link encodeFailed}): a stack overflow (RangeError) thrown by a call made after it was set (wire.begin,
   * or the caller's end()) left it set for good, so every later call of the runtime failed with "calog was called
   * while marshalling a value" and dispose() was refused, for ever (a call made near the JavaScript stack's end).
   */
  begin(): Wire {
    if (this.encoding || inWalk()) throw whileMarshalling();
    // what the stack's end left recorded with no microtask to walk it (see Refusals.pending)
    if (refusals.list !== undefined && !refusals.queued) refusals.pending();
    if (this.droppedCount !== 0) this.dropResults(); // see dropped
    this.wire.begin();
    // host references left by a request whose end() a stack overflow skipped: it was never sent, so they go back
    if (this.pendingRefs.length !== 0) this.returnRefs();
    this.encoding = true;
    return this.wire;
  }

  /**
   * Ends a request started with {@link begin}; with an error, gives back the host references it took. `toSend`: a
   * request {@link sendRequest} sends, which takes its references as it calls the library (until then the next
   * begin gives them back: the request never left).
   */
  end(failed: boolean, toSend = false): void {
    try {
      // each counted off once given back (as flushReleases): a RangeError part way (the stack's end) leaves the rest
      // for the next begin. The whole list was cleared in the finally below, so the ones after the throw stayed for
      // the runtime's life (a callAsync whose encoding failed at the stack's end kept its host function)
      if (failed) this.releaseRefs(this.pendingRefs);
    } finally {
      this.encoding = false;
      this.wire.endEncode();
      // V8: a length store is a runtime call
      if (this.pendingRefs.length !== 0 && !failed && !toSend) this.pendingRefs.length = 0;
    }
  }

  /** Gives back the host references in `refs`, last first, each counted off once given back. */
  releaseRefs(refs: number[]): void {
    for (let i = refs.length; i > 0; i = refs.length) {
      this.hostRelease(refs[i - 1]!);
      refs.length = i - 1;
    }
  }

  /**
   * The hot crossing: encodes `[name,] args`, makes the one FFI call `send`, decodes the outcome. `send` is
   * created once per function or context, so a call allocates no closure.
   */
  invoke(name: string | undefined, args: unknown[], send: (n: NativeRuntime, len: number) => number): Value {
    let n: NativeRuntime, w: Wire;
    try {
      n = this.live("call");
      w = this.begin();
    } catch (e) {
      throw this.refusals.refusing(e, args); // never read (pass 77a)
    }
    try {
      if (name !== undefined) w.string(name);
      w.list(args.length);
      for (let i = 0; i < args.length; i++) w.value(args[i]);
    } catch (e) {
      // refused: a Promise the encoder did not reach is never read (pass 72b); walked under the guard (before end())
      try {
        this.refusals.add(args);
      } finally {
        this.end(true);
      }
      throw marshalFailure(e, this.wire);
    } finally {
      this.encoding = false; // a store no stack overflow can skip (see begin)
    }
    this.end(false, true);
    return this.sendRequest(n, w.length, send, args);
  }

  /** {@link invoke} for n <= 4 arguments passed one by one (no array per call). */
  invokeN(name: string | undefined, n: number, a0: unknown, a1: unknown, a2: unknown, a3: unknown,
    send: (n: NativeRuntime, len: number) => number): Value {
    let nr: NativeRuntime, w: Wire;
    try {
      nr = this.live("call");
      w = this.begin();
    } catch (e) {
      throw this.refusals.refusing(e, [a0, a1, a2, a3]); // never read (pass 77a)
    }
    try {
      if (name !== undefined) w.string(name);
      w.list(n);
      if (n > 0) w.value(a0);
      if (n > 1) w.value(a1);
      if (n > 2) w.value(a2);
      if (n > 3) w.value(a3);
    } catch (e) {
      try {
        // see invoke; array literals (slice ran a user's Array[Symbol.species]: a raw error, nothing walked, pass 83a)
        this.refusals.add(n === 0 ? [] : n === 1 ? [a0] : n === 2 ? [a0, a1] : n === 3 ? [a0, a1, a2] : [a0, a1, a2, a3]);
      } finally {
        this.end(true);
      }
      throw marshalFailure(e, this.wire);
    } finally {
      this.encoding = false; // a store no stack overflow can skip (see begin)
    }
    this.end(false, true);
    try {
      return this.sendRequest(nr, w.length, send);
    } catch (e) {
      // see sendRequest's values (an array only on this path: none per call)
      if (refusedUnrun(e)) this.refusals.add(n === 0 ? [] : n === 1 ? [a0] : n === 2 ? [a0, a1] : n === 3 ? [a0, a1, a2] : [a0, a1, a2, a3]);
      throw e;
    }
  }

  /**
   * Makes the one FFI call of an encoded request and decodes its outcome. `values`: what the call was given, walked if
   * the library refuses it unrun (see {@link refusedUnrun}).
   */
  sendRequest(n: NativeRuntime, len: number, send: (n: NativeRuntime, len: number) => number, values?: ArrayLike<unknown>): Value {
    // The request's host references (end(false, true) left them in pendingRefs: a RangeError before this line, the
    // request never sent, and the next begin gives them back) are the library's once it reads IN, which it says by
    // zeroing control[15]. They were counted as sent before the call: one that never reached the library (the
    // stack ran out on the way in) left each host function in it for the runtime's life.
    // the last outcome's handles that neither its decode nor its fallback could give back (no stack even for
    // that): OUT still holds it, until this call
    if (this.wire.open) this.wire.dropUnowned(MAX_OUT);
    this.depth++;
    let r: number;
    try {
      r = this.sendRefs(n, len, send);
    } catch (e) {
      this.depth--;
      if (this.reachedAndThrew) {
        // the call ran and its outcome is in OUT, its function handles ours: given back by the next call (a script
        // function returned near the stack's end, where a host function it called could not run, stayed alive until
        // the runtime's dispose: 1,200 of 1,800 such calls under Bun, found beside pass 96)
        this.wire.taken = n.control[14]!;
        this.wire.open = true;
      }
      this.afterCrossing(n);
      throw e;
    }
    this.depth--;
    // nothing that can throw before this: the outcome's function handles are ours from here, and the bookkeeping
    // below ran first, so a RangeError in it (a call near the stack's end) skipped the decode and leaked them all
    const w = this.wire;
    w.taken = n.control[14]!;
    w.open = true;
    try {
      return this.outcome(r);
    } catch (e) {
      if (w.open) w.dropUnowned(r >= 0 ? r : MAX_OUT); // the decode never ran, or stopped part way
      if (values !== undefined && refusedUnrun(e)) this.refusals.add(values);
      throw e;
    } finally {
      // at any depth: a crossing nested in this one has no outcome of its own left in OUT to decode
      if (this.heldReleases.length > 0) this.flushReleases();
      this.afterCrossing(n);
    }
  }

  /**
   * The one FFI call of a request that does not wait for its outcome here (an async request, a registration), encoded
   * with `toSend`: its host references are the library's once it reads IN (control[15] zeroed, as in
   * {@link sendRequest}); a call that never reached it (the JavaScript stack ran out on the way in) leaves them for
   * the next begin to give back. Throws what the call threw, as {@link sendFailure} says it.
   */
  sendRefs(n: NativeRuntime, len: number, send: (n: NativeRuntime, len: number) => number): number {
    let refs = NO_REFS;
    if (this.pendingRefs.length !== 0) {
      refs = this.pendingRefs;
      this.pendingRefs = [];
    }
    n.control[15] = 1;
    try {
      return send(n, len);
    } catch (e) {
      this.reachedAndThrew = n.control[15] === 0;
      if (n.control[15] !== 0) {
        n.control[15] = 0;
        if (refs !== NO_REFS) this.pendingRefs = refs; // never sent: the next begin gives them back (stores only)
      }
      throw sendFailure(e);
    }
  }

  /** Gives back the host references of a request encoded with `toSend` and then not sent. */
  returnRefs(): void {
    if (this.pendingRefs.length !== 0) this.releaseRefs(this.pendingRefs); // a throw leaves the rest for the next
  }

  /** After a synchronous crossing: the releases the library kept, and the wake. */
  afterCrossing(n: NativeRuntime): void {
    if (this.droppedCount !== 0) this.dropResults(); // results a host call of this crossing could not hand on
    if (this.native !== undefined) {
      if (n.control[13] !== 0 || this.lostTaken !== 0) this.takeLost(n);
      this.keepWake(n);
    }
  }

  /** The outcome of a crossing: decodes OUT or throws the error in it. */
  outcome(r: number): Value {
    if (r >= 0) return this.wire.result(r) as Value;
    throw this.error(-r);
  }

  /** Encodes a request into IN; on failure gives back the host references it took (see {@link end} for `toSend`). */
  encode(write: () => void, toSend = false, values?: ArrayLike<unknown>): void {
    try {
      this.begin();
    } catch (e) {
      throw values === undefined ? e : this.refusals.refusing(e, values); // never read (pass 77a)
    }
    try {
      write();
    } catch (e) {
      try {
        if (values !== undefined) this.refusals.add(values); // see invoke
      } finally {
        this.end(true);
      }
      throw marshalFailure(e, this.wire);
    } finally {
      this.encoding = false; // a store no stack overflow can skip (see begin)
    }
    this.end(false, toSend);
  }

  /** One crossing: encode, one FFI call, decode the result or throw the error. */
  /** `values`: what the call was given, walked if it is refused (see Refusals.refusing). */
  request(write: () => void, send: (n: NativeRuntime, len: number) => number, values?: ArrayLike<unknown>): Value {
    const n = this.live("call");
    this.encode(write, true, values);
    return this.sendRequest(n, this.wire.length, send, values);
  }

  /** Builds the exception for a failed call from the error value in OUT. */
  error(status: number): CalogError {
    let message = "calog call failed";
    let rendered = false; // the message is calog's rendering of the thrown value, not the value's own text
    let host: number | undefined;
    const details: CalogErrorDetails = {};
    // it just arrived (every caller has just had its status): marked here too, for the callers that do not
    const c = this.native?.control;
    if (c !== undefined) {
      this.wire.taken = c[14]!;
      this.wire.open = true;
    }
    try {
      this.wire.refresh(); // OUT may have grown for this error: its length is the new buffer's
      const v = this.wire.result(this.wire.out.length, false);
      // strict: a thrown map that lost a pair in decoding, or whose lone -0.0 key became 0, cannot cross (see
      // Wire.checkKeys); its own reason is the message (a lone -0.0 key was said to be two keys that became one)
      let lostKeys: string | undefined;
      try {
        this.wire.checkKeys();
      } catch (e) {
        lostKeys = e instanceof Error ? e.message : "two keys of a map become the same Map key: one would be lost";
      }
      if (typeof v === "string") message = v;
      else if (v instanceof Uint8Array) message = lossyText.decode(v);
      else if (v !== null && typeof v === "object" && !(v instanceof Uint8Array) && !Array.isArray(v) && !(v instanceof Map)) {
        const rec = v as Record<string, unknown>;
        if (typeof rec.message === "string") message = rec.message;
        else if (rec.message instanceof Uint8Array) message = lossyText.decode(rec.message); // not UTF-8: U+FFFD
        if (typeof rec.engine === "string") details.engine = rec.engine;
        if (typeof rec.traceback === "string") details.traceback = rec.traceback;
        if (typeof rec.limit === "string") details.limit = rec.limit as LimitKind;
        if (typeof rec.used === "number") details.used = rec.used;
        if (typeof rec.ceiling === "number") details.ceiling = rec.ceiling;
        if (typeof rec.partial === "number") details.partial = rec.partial;
        if (typeof rec.host === "number") host = rec.host;
        if ("value" in rec && lostKeys !== undefined) {
          // its own string message field before the refusal, as for any value that cannot cross (the README's order)
          if (message === "" || rec.placeholder === true) {
            const own = rec.value instanceof Map ? rec.value.get("message") : undefined;
            message = typeof own === "string" && own !== "" ? own : `${details.engine ?? "the script"} threw a value that cannot cross: ${lostKeys}`;
          }
        } else if ("value" in rec) {
          details.value = rec.value;
          const said = message;
          message = thrownMessage(message, rec.value, details.engine, rec.placeholder === true);
          if (message !== said) rendered = true;
        }
      }
    } catch (e) {
      if (this.wire.open) this.wire.dropUnowned(MAX_OUT); // what it did not wrap of a value it held
      // the error came back but could not be read (the JavaScript stack ran out reading it: a call made near its
      // end): it said only "calog call failed", with no value, engine or traceback. Constant texts: no room to build one
      try {
        // V8 reports the stack's end in a regular expression it compiles there as a SyntaxError ("Stack overflow")
        message = isRangeError(e) || isSyntaxError(e) ? ERROR_UNREAD_STACK : ERROR_UNREAD;
        // the codec refused a part of it (a thrown string longer than this engine's longest string): its reason is
        // the message, and the refusal the cause (it said only "could not be read", as for the stack; pass 63b)
        if (e instanceof CalogValueError) {
          message = `the call failed, and its error cannot cross into JavaScript: ${e.message}; its message, value and traceback are lost`;
          details.cause = e;
        }
      } catch { /* keep the generic message */ }
    }
    // kept after it is claimed, and whatever other calls end meanwhile: a script may hold the error (a saved copy, a
    // coroutine paused in a finally block) and raise it again in a later call (pass 53a); HOST_ERRORS_KEPT bounds them
    if (host !== undefined && this.hostErrors.has(host)) details.cause = this.hostErrors.get(host);
    const err = errorFromStatus(status, message, details);
    if (rendered) renderedErrors.set(err, message);
    return err;
  }

  dispose(): void {
    const n = this.native;
    if (n === undefined) return;
    if (this.depth > 0 || this.hostCalls > 0) {
      throw new CalogValueError("ERR_ARG", "a runtime cannot be disposed from inside one of its own calls");
    }
    // a getter or Proxy trap of a value being encoded (a host function's result, an async one's settled value)
    // runs at depth 0 when the call came through the event loop: destroying the runtime there freed IN under
    // the encoder, which went on writing into it (heap corruption)
    if (this.encoding || inWalk()) {
      throw new CalogValueError("ERR_ARG", "a runtime cannot be disposed while calog is reading a value (from a getter or a Proxy)");
    }
    // near the JavaScript stack's end, refused now, before anything is torn down: a RangeError later, with native
    // cleared, cut the teardown short for good (the library's runtime and threads were never destroyed: pass 89a)
    if (!hasRoom()) throw disposeNoRoom("the runtime");
    let hostThreaded = false;
    for (const c of this.contexts.values()) hostThreaded ||= !c.threaded;
    if (hostThreaded && !roomToTearDown()) throw teardownNoRoom("the runtime");
    this.native = undefined; // every Context and ScriptFunction checks this first
    this.armed = false;
    this.heldOwner = undefined;
    try {
      n.destroy();
    } finally {
      // whatever destroy threw (a binding's wait chained through a replaced built-in: pass 88a), every waiting call
      // settles: it stayed pending for good
      for (const p of this.pending.values()) {
        p.reject(new CalogDeadError("ERR_DEAD", "the runtime was disposed before the call completed"));
      }
      this.pending.clear();
      this.unsettledCount = 0; // each one's call was among them
    }
    this.heldReleases.length = 0;
    for (const e of this.hostById.values()) e.release?.(); // another runtime's script functions lent to this one
    this.lentReleases.clear();
    this.hostById.clear();
    this.hostIdOf.clear();
    this.hostErrors.clear(); // nothing can claim them now (pass 54a: a kept Context held them past dispose)
    this.dropResults();
    this.refusals.pending();
  }
}

function writeEval(core: Core, source: string, options: EvalOptions): void {
  const w = core.wire;
  w.string(source);
  if (options.chunkName === undefined) w.nil();
  else w.string(options.chunkName);
  if (options.timeoutMs !== undefined) w.number(options.timeoutMs);
}

/** The options map the native layers read at creation (see c/include/calog.h, calogContextCreateWith). */
function nativeOptions(core: Core, options: ContextOptions): Record<string, Value> {
  const out: Record<string, Value> = {};
  const limits = mergeLimits(core.defaultLimits, checkLimits(options.limits, "ContextOptions.limits"));
  if (limits !== undefined) out.limits = limits as Record<string, Value>;
  const caps = options.capabilities !== undefined
    ? checkCapabilities(options.capabilities, "ContextOptions.capabilities")
    : core.defaultCapabilities;
  if (caps !== undefined) out.capabilities = caps as Value;
  const output = options.output !== undefined ? checkOutput(options.output, "ContextOptions.output") : core.defaultOutput;
  out.output = outputSink(core, output ?? "inherit");
  return out;
}

const NOTHING: unique symbol = Symbol("nothing");

/**
 * The value a script threw that a host function passed on unchanged (it called a script function, which threw a
 * table, and let the CalogScriptError go): it goes back with the error, so the calling script catches that value, as
 * it would without the host function between (it caught the text "lua threw { code: 1 }": pass 34b). Plain data
 * objects only, of plain data and script functions (no host function to take a new reference to, no getter to run,
 * at most 100,000 items): anything else is NOTHING and the error goes as its message.
 */
function carriedValue(err: unknown, isScriptFunction: (f: Function) => boolean): unknown {
  try {
    // inside the try: instanceof runs a Proxy's getPrototypeOf trap (a revoked one throws), and a host function may
    // throw anything (the message already computed was lost to "could not be sent": pass 35b)
    if (types.isProxy(err) || !(err instanceof CalogScriptError)) return NOTHING;
    const v = err.value;
    // an object, null or a script function: a number or a boolean keeps its text ("lua threw true", the same in every
    // engine; JavaScript cannot carry the thrower's message on a primitive it raises)
    if (v === null) return null;
    // a thrown "" is its message no more (it reads `js threw ""`): carried as itself, or the rendering became the
    // value (pass 48b); any other string is its message, cut as messages are
    if (v === "") return v;
    if (typeof v === "function") return isScriptFunction(v) ? v : NOTHING;
    if (typeof v !== "object") return NOTHING;
    let budget = 100_000;
    const plain = (x: unknown, depth: number): boolean => {
      if (--budget < 0 || depth > 100) return false;
      if (typeof x === "function") return isScriptFunction(x); // a handle, no reference taken by the send
      if (x === null || typeof x !== "object") return typeof x !== "symbol";
      // a Proxy's traps would run in the encode below, outside calog's guard against re-entry (pass 36b)
      if (types.isProxy(x)) return false;
      if (types.isUint8Array(x)) return Object.getPrototypeOf(x) === Uint8Array.prototype;
      if (types.isMap(x)) {
        if (Object.getPrototypeOf(x) !== Map.prototype) return false;
        for (const [k, y] of Map.prototype.entries.call(x) as IterableIterator<[unknown, unknown]>) {
          if (!plain(k, depth + 1) || !plain(y, depth + 1)) return false;
        }
        return true;
      }
      // exactly the built-in prototypes, and no hole: the encoder reads an array's prototype and its items, and a
      // Proxy as a prototype ran its traps mid-write (pass 37b)
      const proto = Object.getPrototypeOf(x);
      const array = Array.isArray(x);
      if (array) {
        if (proto !== Array.prototype) return false;
        // each index a data property: Object.keys below lists no non-enumerable one, and an accessor there ran its
        // getter in the middle of the write, where a call into calog reused the buffer under it (pass 67b)
        for (let i = 0; i < x.length; i++) {
          const d = Object.getOwnPropertyDescriptor(x, i);
          if (d === undefined || !("value" in d) || !plain(d.value, depth + 1)) return false;
        }
      } else if (proto !== Object.prototype && proto !== null) {
        return false;
      }
      for (const k of Object.keys(x)) {
        if (array && isIndex(k, x.length)) continue; // checked above
        const d = Object.getOwnPropertyDescriptor(x, k);
        if (d === undefined || !("value" in d) || !plain(d.value, depth + 1)) return false;
      }
      return true;
    };
    return plain(v, 0) ? v : NOTHING;
  } catch {
    return NOTHING;
  }
}

/** Whether `k` (an own key) is an index of an array of `length` items. */
function isIndex(k: string, length: number): boolean {
  const i = Number(k);
  return i < length && String(i >>> 0) === k;
}

/** Script errors whose message is calog's rendering of the thrown value ("lua threw { code: 1 }"), not its text: the
 * rendering, so a message a host function changed (added context to) is told from it (pass 36b). */
const renderedErrors = new WeakMap<object, string>();

/**
 * Writes a host error, [message, id] (or [message, id, value], with a fourth item true when the message only renders
 * the value: see carriedValue), into IN; never throws (a host call or a settlement that threw here escaped
 * the FFI callback, or left the runtime marshalling for good): a message that cannot be written (out of memory for
 * the request) is replaced by one that says so.
 */
function writeHostError(w: Wire, message: string, id: number, err?: unknown, fns?: FunctionTable): void {
  try {
    writeHostErrorIn(w, message, id, err, fns);
  } finally {
    w.endEncode();
  }
}

function writeHostErrorIn(w: Wire, message: string, id: number, err?: unknown, fns?: FunctionTable): void {
  const carried = fns === undefined ? NOTHING : carriedValue(err, (f) => fns.handleOf(f) !== undefined);
  // the rendering compared with the message already read (describeThrown): reading err.message again here ran a
  // getter in the middle of the write (pass 37b)
  const again = carried !== NOTHING && typeof err === "object" && err !== null && renderedErrors.get(err) === message;
  // the engine that threw it (a data property of calog's CalogScriptError: no getter runs), so a refusal where it
  // lands names it, as without the host function between (it read "a script threw ...": pass 64a)
  const d = carried === NOTHING ? undefined : Object.getOwnPropertyDescriptor(err, "engine");
  const thrower = typeof d?.value === "string" && /^[A-Za-z][\w-]{0,30}$/.test(d.value) ? d.value : undefined;
  w.begin(); // once: a start over below is the same encode (a second begin took the first for the one it interrupted)
  if (carried !== NOTHING) {
    try {
      // a message that only rendered the value goes marked as a placeholder, so the engine it leaves last renders it
      // in its own words, as without the host function between (pass 35b)
      w.list(thrower !== undefined ? 5 : again ? 4 : 3);
      w.string(message);
      w.number(id);
      w.value(carried);
      if (again || thrower !== undefined) w.value(again);
      if (thrower !== undefined) w.string(thrower);
      return;
    } catch {
      w.restart(); // the message alone, below
    }
  }
  try {
    w.list(2);
    w.string(message);
    w.number(id);
  } catch {
    w.restart();
    w.list(2);
    w.string(`a host function threw an error whose message (${message.length} characters) could not be sent`);
    w.number(id);
  }
}

/**
 * The message of whatever a host function threw, as well-formed text; never throws itself (a thrown
 * `Object.create(null)`, an object whose `toString` or `message` getter throws, a revoked Proxy...).
 */
function describeThrown(err: unknown): string {
  let message: string;
  try {
    if (err === null || err === undefined || typeof err === "boolean" || typeof err === "symbol") {
      // their String() ("null", "false", "Symbol(s)") is no message: rendered, as a script's `throw null` is
      message = `a host function threw ${String(err)}`;
    } else if (typeof err === "function") {
      // its String() is its source text (up to the 1 MB cut), not a message: named as a function a script threw is
      const m: unknown = (err as { message?: unknown }).message;
      // an empty one says nothing: it read as the script's `throw ""` (pass 48b)
      message = typeof m === "string" && m !== "" ? m : "a host function threw [function]";
    } else if (err instanceof Error || err === null || typeof err !== "object") {
      const m: unknown = err instanceof Error ? err.message : undefined;
      // an Error without a message (new TypeError()) is named by its String() ("TypeError"), as a script's is: its
      // empty message was the whole message in Lua and Squirrel
      message = typeof m === "string" && (m !== "" || !(err instanceof Error)) ? m : String(err);
      // nor its String() when that is empty too (name and message ""): named by its class, as a script's is (pass 47b)
      if (message === "" && err instanceof Error) message = `a host function threw ${Object.prototype.toString.call(err)} (its message and its description are empty)`;
      // a thrown empty string is rendered, as a script's `throw ""` is
      else if (message === "") message = `a host function threw ${render(err)}`;
    } else {
      // an object says its own string `message`, else what its String() says when that is something (a toString
      // it has); a plain object, an array, bytes or a null-prototype object are rendered, as a value a script threw
      // is ("[object Object]", "1,2" or "(it has no readable message)" were the whole message)
      const own: unknown = (err as Record<string, unknown>).message;
      let text: string | undefined;
      // (an empty own message says nothing: what follows applies, its own toString first: pass 48a)
      if ((typeof own !== "string" || own === "") && !Array.isArray(err) && !ArrayBuffer.isView(err)) {
        try {
          text = String(err);
          // Object.prototype.toString's "[object Map]" is a stand-in, rendered instead; the same text from a
          // toString of the object's own says something (told by the text, it was replaced: pass 48b). A Boolean
          // object's built-in "false" is a boolean's bare text, which is rendered (pass 48a)
          // Told by what the toString is, a built-in of any realm (an object from node:vm kept "[object Object]":
          // pass 49a), not by identity with this realm's
          const ts = (err as { toString?: unknown }).toString;
          if (nativeFunction(ts) && text === Object.prototype.toString.call(err)) text = undefined;
          else if (types.isBooleanObject(err) && nativeFunction(ts)) text = `a host function threw a Boolean object (${text})`;
        } catch { /* no toString (Object.create(null)), or one that throws */ }
      }
      message = typeof own === "string" && own !== "" ? own
        : text !== undefined && text !== "" ? text
        : `a host function threw ${render(err)}`;
    }
  } catch {
    try {
      message = `a host function threw ${Object.prototype.toString.call(err)} (it has no readable message)`;
    } catch {
      message = "a host function threw a value with no readable message";
    }
  }
  if (message.length > HOST_MESSAGE_MAX) {
    let cut = HOST_MESSAGE_MAX;
    const c = message.charCodeAt(cut - 1);
    if (c >= 0xd800 && c <= 0xdbff) cut--; // not half a pair
    message = `${message.slice(0, cut)}... (a message of ${message.length} characters, cut)`;
  }
  return (message as unknown as { toWellFormed(): string }).toWellFormed();
}

/** The sink sent to the native layer: "ignore", or a host function (run on this thread, never throwing). */
function outputSink(core: Core, output: Output): Value {
  if (output === "ignore") return "ignore";
  if (output === "inherit") return writeStdio as unknown as Value;
  let w = core.outputWrappers.get(output);
  if (w === undefined) {
    const cb = output;
    w = (text: string | Uint8Array, stream: "stdout" | "stderr"): void => {
      let r: unknown = NOT_RUN, then: unknown, handed = false;
      try {
        // an async callback (assignable to the `=> void` type) rejects instead of throwing: ignored the same way,
        // where its rejection went unhandled
        r = cb(text, stream);
        if (r !== null && (typeof r === "object" || typeof r === "function")) {
          then = (r as PromiseLike<unknown>).then; // once, as await reads it
          if (typeof then === "function") thenNative(settleLater(r, then), undefined, ignore);
        }
        handed = true;
      } catch {
        // an output callback's exception is not the script's: ignored. What it returned, if the stack ran out before
        // it was followed, is dropped as a host function's result is (it went unhandled: pass 91b; see Core.dropped)
        if (!handed && r !== NOT_RUN && r !== null && (typeof r === "object" || typeof r === "function")) {
          const k = core.droppedCount, list = core.dropped;
          list[k] = r;
          list[k + 1] = then;
          core.droppedCount = k + 2;
          try {
            core.dropResults();
          } catch { /* no room to enter it: see Core.dropped */ }
        }
      }
    };
    core.outputWrappers.set(output, w);
  }
  return w as unknown as Value;
}

/**
 * The `release` of a lend: gives its user of `ref` back once. Made out here, holding the lender weakly: the borrower's
 * backstop keeps it (see Core.lentReleases), and a closure made in `#handle` shares that scope's `core`, whose host
 * functions may hold the borrower (which then could never be collected).
 */
function lentRelease(lender: WeakRef<Core>, ref: FnRef): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    lender.deref()?.unref(ref); // a lender gone destroyed its native runtime, and the reference with it
  };
}

/**
 * The backstops hold the native runtime, never the Core: a registry holds its values strongly, and the Core holds
 * the host functions, which often hold the Runtime (a host function using `rt` or a context of it). Holding the
 * Core, a forgotten Runtime that one of its own host functions captured was never collected: its threads, its
 * interpreters and the native runtime lived as long as the process.
 */
const runtimeFinalizer = new FinalizationRegistry<{ core: WeakRef<Core>; native: NativeRuntime; lent: Set<() => void> }>(function collect(held) {
  const c = held.core.deref();
  if (c === undefined) {
    // the Core is gone too: what it held of other runtimes is the functions they lent it (each release gives one
    // reference back to its lender; none holds this runtime)
    held.native.destroy();
    for (const release of held.lent) release();
    held.lent.clear();
    return;
  }
  try {
    c.dispose();
  } catch {
    setTimeout(() => collect(held), 0); // inside one of its calls (never from a finalizer task in practice)
  }
});
// The backstop of a forgotten Context: the native side destroys it once no function value of it is alive
// (a ScriptFunction, or a function held by another context), so a reachable function never dies early.
const contextFinalizer = new FinalizationRegistry<{ native: NativeRuntime; id: number }>(({ native, id }) => {
  native.contextRelease(id); // -ERR_DEAD once the runtime is destroyed
});

/**
 * A calog runtime: the registry of host functions and the owner of every context.
 * @example
 * using rt = new Runtime();
 * rt.register("greet", (name) => `hello, ${name}`);
 * using lua = rt.createContext("lua");
 * lua.eval("return greet('calog')"); // "hello, calog"
 */
export class Runtime implements Disposable {
  #core: Core;
  #token = {}; // unregister token (never the handle itself: Bun holds tokens strongly)

  constructor(options: RuntimeOptions = {}) {
    let o: RuntimeOptions;
    let limits: ReturnType<typeof checkLimits>, capabilities: ReturnType<typeof checkCapabilities>, output: ReturnType<typeof checkOutput>;
    try {
      o = readOptions(options, ["policy", "limits", "capabilities", "output"], "RuntimeOptions") as RuntimeOptions;
      if (o.policy !== undefined && o.policy !== "strict" && o.policy !== "lenient") {
        // "Lenient" or 1 ran the runtime strict without a word
        throw new CalogValueError("ERR_ARG", `RuntimeOptions.policy must be "strict" or "lenient"`);
      }
      limits = checkLimits(o.limits, "RuntimeOptions.limits");
      capabilities = checkCapabilities(o.capabilities, "RuntimeOptions.capabilities");
      output = checkOutput(o.output, "RuntimeOptions.output");
    } catch (e) {
      throw refusals.refusing(e, arguments); // refused options are walked as a call's arguments (pass 82b)
    }
    const native = backend().createRuntime();
    this.#core = new Core(native, o.policy ?? "strict");
    this.#core.defaultLimits = limits;
    this.#core.defaultCapabilities = capabilities;
    this.#core.defaultOutput = output;
    this.#core.owner = new WeakRef(this);
    runtimeFinalizer.register(this, { core: new WeakRef(this.#core), native, lent: this.#core.lentReleases }, this.#token);
  }

  /** Name of the FFI binding in use (`"bun"` or `"deno"`). */
  static get binding(): "bun" | "deno" {
    return backend().name;
  }

  /** True once disposed. */
  get disposed(): boolean {
    return this.#core.native === undefined;
  }

  /** Live-object counters: they return to their baseline once scripts and TypeScript drop what crossed. */
  stats(): RuntimeStats {
    const core = this.#core;
    // releases posted by context threads are served first; not from a getter or trap calog runs (reading a value, or
    // walking one for Promises): the drain answered other scripts' host calls under it, each result refused as "called
    // while marshalling" and, under a walk, its Promises never walked (pass 82a); nor near the stack's end (POLL_ROOM)
    if (!core.encoding && !inWalk() && roomToPoll()) core.drainNow();
    const perContext: ContextStats[] = [];
    const n = core.native;
    for (const [id, c] of core.contexts) {
      const memory = n === undefined ? -1 : n.contextStat(id, 0);
      if (memory < 0) {
        core.contexts.delete(id); // destroyed by a GC backstop
        continue;
      }
      perContext.push({ engine: c.engine, threaded: c.threaded, memory, lastSteps: n!.contextStat(id, 1), limitTrips: n!.contextStat(id, 2) });
    }
    const b = backend();
    return {
      hostFunctions: core.hostById.size,
      nativeFunctionValues: b.liveFunctionValues(),
      contexts: n?.contextCount() ?? 0,
      inFlight: core.pending.size,
      perContext,
      abandonedThreads: b.leakStat(0),
      leakedBytes: b.leakStat(1),
    };
  }

  /**
   * Creates a context running one interpreter of `engine`, on its own thread unless `{ thread: false }`.
   * @example
   * using lua = rt.createContext("lua");
   * using fast = rt.createContext("lua", { thread: false }); // host thread: lowest-latency calls
   */
  createContext(engine: EngineName, options: ContextOptions = {}): Context {
    const core = this.#core;
    let n: NativeRuntime, threaded: boolean, native: Record<string, Value>;
    try {
      core.live("createContext");
      if (typeof engine !== "string") throw new CalogValueError("ERR_ARG", `the engine must be a string: "lua", "js" or "squirrel"`);
      // the options' getters run under the guard, as eval's do: one that disposed the runtime freed it under this call
      // (SIGSEGV, heap corruption: pass 85b); the runtime is taken after them
      [threaded, native] = core.reading(() => {
        const o = readOptions(options, ["thread", "limits", "capabilities", "output"], "ContextOptions") as ContextOptions;
        // `thread: 0` or "no" made a threaded context
        if (o.thread !== undefined && typeof o.thread !== "boolean") throw new CalogValueError("ERR_ARG", "ContextOptions.thread must be a boolean");
        return [o.thread !== false, nativeOptions(core, o)] as const;
      });
      n = core.live("createContext");
      // one that could never be closed here (its teardown wants more C stack than its creation: a host-thread context
      // made at the top of a program under Deno's --stack-size=230 could never be disposed: pass 98b)
      if (!threaded && !roomToTearDown()) {
        throw new CalogNestingError("ERR_NESTING", "not enough C stack left on this thread to create a host-thread " +
          "context (it wants 224 KB, what its finalizers need to close it again): create it higher up the stack, or " +
          "make a threaded one");
      }
    } catch (e) {
      throw core.refusals.refusing(e, arguments); // see Refusals.refusing
    }
    core.encode(() => {
      core.wire.string(engine);
      core.wire.number(threaded ? CONTEXT_OWN_THREAD : 0);
      core.wire.value(native);
    }, false, arguments); // refused there (from a getter or trap calog runs), what it was given is walked (pass 83b)
    const id = n.contextCreate(core.wire.length);
    if (id < 0) throw core.refusals.refusing(core.error(-id), arguments); // refused by the library (pass 86b)
    const ctx = new Context(core, this, id, engine, threaded);
    core.contexts.set(id, { engine, threaded });
    return ctx;
  }

  /**
   * Registers `fn` under `name` as a native callable from every context of every engine (existing ones
   * too). Registering a name again replaces the function.
   * @example
   * rt.register("add", (a, b) => (a as number) + (b as number));
   */
  register(name: string, fn: HostFunction): void {
    const core = this.#core;
    let n: NativeRuntime;
    try {
      n = core.live("register");
      if (typeof fn !== "function") throw new CalogValueError("ERR_ARG", "register(name, fn): fn must be a function");
      // as when passed as a value: each script call of it failed later with "function was released" (pass 60a)
      checkName("a native name", name);
      if (disposedScriptFunction(fn)) {
        throw new CalogDisposedError(
          "ERR_DISPOSED",
          runtimeGone(fn)
            ? "register(name, fn): fn is a script function whose runtime was disposed"
            : "register(name, fn): fn is a script function that was disposed",
        );
      }
    } catch (e) {
      throw core.refusals.refusing(e, arguments); // see Refusals.refusing
    }
    core.encode(() => {
      core.wire.string(name);
      core.wire.number(core.hostRef(fn));
    }, true, arguments); // see createContext
    const r = core.sendRefs(n, core.wire.length, registerHost);
    if (r < 0) {
      const id = core.hostIdOf.get(fn);
      if (id !== undefined) core.hostRelease(id);
      throw core.refusals.refusing(core.error(-r), arguments); // see createContext
    }
    core.named(fn, name);
  }

  /** Removes a registration; scripts calling it afterwards get a not-found error. */
  unregister(name: string): void {
    const core = this.#core;
    let n: NativeRuntime;
    try {
      n = core.live("unregister");
      checkName("a native name", name);
    } catch (e) {
      throw core.refusals.refusing(e, arguments); // see Refusals.refusing
    }
    core.encode(() => core.wire.string(name), false, arguments); // see createContext
    const r = n.unregister(core.wire.length);
    if (r < 0) throw core.error(-r);
    core.named(undefined, name);
  }

  /** Disposes every context, then the native runtime. Idempotent. */
  dispose(): void {
    try {
      this.#core.dispose();
    } catch (e) {
      // refused (see Refusals.refusing); the GC backstop stays (taken off first, it left a runtime whose dispose was
      // refused with none: dropped, its threads ran for good). Once disposed, the backstop's destroy is a no-op.
      throw refusals.refusing(e, arguments);
    }
    runtimeFinalizer.unregister(this.#token);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * One interpreter of one engine. Create with {@link Runtime.createContext}.
 * @example
 * lua.eval("function add(a, b) return a + b end");
 * lua.call("add", 1, 2); // 3
 */
export class Context implements Disposable {
  #core: Core;
  #runtime: Runtime; // keeps the runtime alive as long as the context is reachable
  #id: number;
  #disposed = false;
  #token = {}; // unregister token (never the handle itself: Bun holds tokens strongly)
  #send: (n: NativeRuntime, len: number) => number;
  /** The engine this context runs. */
  readonly engine: EngineName;
  /** Whether the interpreter runs on its own OS thread. */
  readonly threaded: boolean;

  /** @internal use Runtime.createContext */
  constructor(core: Core, runtime: Runtime, id: number, engine: EngineName, threaded: boolean) {
    this.#core = core;
    this.#runtime = runtime;
    this.#id = id;
    this.#send = (n, len) => n.call(id, len);
    this.engine = engine;
    this.threaded = threaded;
    contextFinalizer.register(this, { native: core.native!, id }, this.#token);
  }

  #live(what: string): Core {
    if (this.#disposed || this.#core.native === undefined) {
      throw new CalogDisposedError("ERR_DISPOSED", `${what}: the ${this.engine} context was disposed`);
    }
    return this.#core;
  }

  /** The runtime this context belongs to. */
  get runtime(): Runtime {
    return this.#runtime;
  }

  /** True once disposed (or its runtime was). */
  get disposed(): boolean {
    return this.#disposed || this.#core.native === undefined;
  }

  /**
   * Runs `source` and returns the first value the chunk returns (null if none).
   * @example
   * lua.eval("return 6 * 7"); // 42
   */
  eval<T extends Value = Value>(source: string, options: EvalOptions = {}): T {
    let core: Core, o: EvalOptions;
    try {
      core = this.#live("eval");
      o = core.reading(() => evalOptions(source, options, false));
    } catch (e) {
      throw this.#core.refusals.refusing(e, arguments); // see Refusals.refusing
    }
    const id = this.#id;
    return core.request(() => writeEval(core, source, o), (n, len) => n.eval(id, len), arguments) as T; // see Runtime.createContext
  }

  /**
   * Changes this context's limits (the keys given; 0 = unlimited). They apply from the next entry on (the
   * memory limit at once).
   * @example
   * lua.setLimits({ timeoutMs: 100, memory: 16 << 20 });
   */
  setLimits(limits: Limits): void {
    let core: Core, checked: Limits | undefined;
    try {
      core = this.#live("setLimits");
      checked = core.reading(() => checkLimits(limits, "setLimits")); // see Runtime.createContext
      this.#live("setLimits");
    } catch (e) {
      throw this.#core.refusals.refusing(e, arguments); // see Refusals.refusing
    }
    const id = this.#id;
    core.encode(() => core.wire.value(checked as Record<string, Value>), false, arguments); // see Runtime.createContext
    const r = core.native!.setLimits(id, core.wire.length);
    if (r < 0) throw core.refusals.refusing(core.error(-r), arguments); // see Runtime.createContext
  }

  /**
   * Stops what this context is running now: the running eval or call fails with a CalogLimitError whose
   * `limit` is `"interrupt"`. A no-op when idle. Callable from the event loop while an `evalAsync` runs, or
   * from inside a host function the script called.
   * @example
   * const p = lua.evalAsync("while true do end");
   * setTimeout(() => lua.interrupt(), 50);
   * await p; // throws CalogLimitError (limit "interrupt")
   */
  interrupt(): void {
    let core: Core;
    try {
      core = this.#live("interrupt");
    } catch (e) {
      throw this.#core.refusals.refusing(e, arguments); // see Refusals.refusing
    }
    core.native!.interrupt(this.#id);
  }

  /**
   * Calls the global function `name` and returns its first result.
   * @example
   * lua.call("add", 1, 2); // 3
   */
  call<T extends Value = Value>(name: string, ...args: unknown[]): T;
  call(name: string, a0?: unknown, a1?: unknown, a2?: unknown, a3?: unknown): Value {
    let core: Core;
    try {
      core = this.#live("call");
      checkName("a function name", name);
    } catch (e) {
      throw this.#core.refusals.refusing(e, arguments); // never read (pass 77a)
    }
    const n = arguments.length - 1; // up to four arguments: no rest array per call
    if (n <= 4) return core.invokeN(name, n < 0 ? 0 : n, a0, a1, a2, a3, this.#send);
    const args = arraySlice(arguments, 1) as unknown[];
    core.checkArgs(args);
    return core.invoke(name, args, this.#send);
  }

  /**
   * {@link eval} without blocking: on a threaded context the chunk runs there while the event loop goes on.
   * @example
   * const sum = await lua.evalAsync("local s = 0 for i = 1, 1e7 do s = s + i end return s");
   */
  evalAsync<T extends Value = Value>(source: string, options: EvalOptions = {}): Promise<T> {
    const core = this.#core;
    let o: EvalOptions;
    try {
      if (this.disposed) throw new CalogDisposedError("ERR_DISPOSED", `evalAsync: the ${this.engine} context was disposed`);
      o = core.reading(() => evalOptions(source, options, true));
    } catch (e) {
      return rejectedWith(core.refusals.refusing(e, arguments)); // see Refusals.refusing
    }
    const id = this.#id;
    // refused later (an aborted signal, a call from a getter): what it was given is walked too (pass 83b)
    return core.submit(() => writeEval(core, source, o), (n, len) => n.evalAsync(id, len), this, o.signal, undefined, arguments) as Promise<T>;
  }

  /**
   * {@link call} without blocking.
   * @example
   * const results = await Promise.all([1, 2, 3].map((n) => lua.callAsync("square", n)));
   */
  callAsync<T extends Value = Value>(name: string, ...args: unknown[]): Promise<T> {
    const core = this.#core;
    if (this.disposed) {
      return rejectedWith(core.refusals.refusing(new CalogDisposedError("ERR_DISPOSED", `callAsync: the ${this.engine} context was disposed`), arguments));
    }
    let signal: AbortSignal | undefined;
    try {
      signal = core.reading(() => takeCallOptions(args));
      checkName("a function name", name);
      checkArgs(args);
    } catch (e) {
      return rejectedWith(core.refusals.refusing(e, arguments)); // never read (pass 77a)
    }
    const id = this.#id;
    return core.submit(() => {
      const w = core.wire;
      w.string(name);
      w.list(args.length);
      for (let i = 0; i < args.length; i++) w.value(args[i]);
      // refused later, what it was given: `arguments` holds the options object `args` no longer does (pass 83b)
    }, (n, len) => n.callAsync(id, len), this, signal, undefined, arguments) as Promise<T>;
  }

  /** Reads the global `name` (a function comes back as a {@link ScriptFunction}). */
  get(name: string): Value {
    return this.#get("get", name, arguments);
  }

  /** {@link get}, as `what` (its name in a refusal), walking `given` if it is refused (see Refusals.refusing). */
  #get(what: string, name: string, given: ArrayLike<unknown>): Value {
    let core: Core;
    try {
      core = this.#live(what);
      checkName("a global name", name); // a bad name is the caller's ERR_ARG, not a global that cannot cross (pass 61a)
    } catch (e) {
      throw this.#core.refusals.refusing(e, given);
    }
    const id = this.#id;
    return core.request(() => core.wire.string(name), (n, len) => n.get(id, len), given);
  }

  /**
   * The global function `name` as a callable {@link ScriptFunction}.
   * @example
   * using add = lua.getFunction("add");
   * add(2, 3); // 5
   */
  getFunction(name: string): ScriptFunction {
    let v: Value;
    try {
      v = this.#get("getFunction", name, arguments); // its own name in a refusal ("get: ...": pass 79b)
    } catch (e) {
      // a global that cannot cross (a Squirrel instance, a Lua coroutine) is not a function value: said so, with the
      // refusal naming what it is (it read as the refusal alone: pass 60a)
      if (!(e instanceof CalogValueError) || e.code !== "ERR_TYPE") throw e;
      throw new CalogNotFoundError("ERR_NOT_FOUND", `'${name}' in this ${this.engine} context is not a function value: ${e.message}`, { cause: e });
    }
    if (typeof v !== "function") {
      throw new CalogNotFoundError(
        "ERR_NOT_FOUND",
        v === null || v === undefined
          ? `no function named '${name}' in this ${this.engine} context${this.#core.wire.lenient ? " (or its value cannot cross, and the lenient policy sends it as nil)" : ""}`
          : `'${name}' in this ${this.engine} context is ${kindOf(v, this.engine)}, not a function value${this.engine === "lua" && (v instanceof Map || Array.isArray(v)) ? " (a table with a __call metamethod is callable with ctx.call, not a function value)" : ""}`,
      );
    }
    return this.#core.ownHandle(v);
  }

  /** Bytes the interpreter holds (engines with a broker-owned allocator), or -1. */
  memoryUsage(): number {
    let core: Core;
    try {
      core = this.#live("memoryUsage");
    } catch (e) {
      throw this.#core.refusals.refusing(e, arguments); // see Refusals.refusing
    }
    return Number(core.native!.contextMemory(this.#id));
  }

  /** Destroys the interpreter; its functions held elsewhere become dead. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    if ((this.#core.encoding || inWalk()) && this.#core.native !== undefined) { // as rt.dispose() (pass 71b)
      const e = new CalogValueError("ERR_ARG", "a context cannot be disposed while calog is reading a value (from a getter or a Proxy)");
      throw this.#core.refusals.refusing(e, arguments); // see Refusals.refusing
    }
    // near the JavaScript stack's end, refused now, with nothing changed: a RangeError at contextDestroy below left the
    // Context disposed, with no backstop, and its interpreter and thread alive until the runtime's dispose (pass 94b)
    if (this.#core.native !== undefined && !hasRoom()) throw disposeNoRoom("the context");
    if (this.#core.native !== undefined && !this.threaded && !roomToTearDown()) throw teardownNoRoom("the context");
    this.#disposed = true;
    contextFinalizer.unregister(this.#token);
    this.#core.contexts.delete(this.#id);
    const n = this.#core.native;
    if (n === undefined) return;
    n.contextDestroy(this.#id);
    this.#core.keepWake(n); // its timers and sockets no longer keep the process alive
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
