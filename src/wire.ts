/**
 * The TypeScript half of the wire format (c/src/wire.h): values are encoded straight into the C-owned IN
 * buffer and decoded straight out of OUT, so one crossing is one FFI call and no intermediate buffer.
 * @module
 */
import type { NativeRuntime } from "./backend.ts";
import { CalogValueError } from "./errors.ts";
import { handleInnerPromises, handleRejection, PromiseWalk, types, type WalkLeft } from "./walk.ts";

/** The longest array that crosses (2^26 items: a sparse `a[1e9] = 1` is refused, not sent as a billion nils). */
export const MAX_LIST = 1 << 26;

export const enum Tag {
  NIL = 0, FALSE = 1, TRUE = 2, I32 = 3, INT = 4, REAL = 5, STR = 6, BIN = 7, LIST = 8, MAP = 9, BOTH = 10,
  FN = 11, HOSTFN = 12,
}

/** How the codec resolves functions; implemented by the runtime. */
export interface FunctionTable {
  /**
   * Where what is left of a walk the JavaScript stack's end stopped is recorded (see handleInnerPromises), for the
   * runtime to walk on later: `addLeft` is a plain store and a call that never throws.
   */
  readonly refusals: { addLeft(left: WalkLeft): void };
  /** A function value handle behind a script function wrapper, if `fn` is one of this runtime's. */
  handleOf(fn: Function): readonly [number, number] | undefined;
  /** Registers (or re-counts) a host function about to cross into C; returns its id. */
  hostRef(fn: Function): number;
  /** The host function with this id (it came home). */
  hostFn(id: number): Function;
  /**
   * A decoded outcome named host functions: the library may stop keeping them (calogHostOutDone). It kept them from
   * writing OUT until now, or until the next entry had this not been called, with whatever they hold (pass 62a).
   */
  outDone(): void;
  /** Wraps a new handle (owned by the caller) into a callable script function. */
  wrap(slot: number, gen: number): Function;
}

const TWO32 = 4294967296;
/** Room first made for the unowned function handles a failed decode keeps for a later release (see Wire.dropUnowned). */
const ORPHANS_FIRST = 256;
/**
 * At most this many: past it, with no room to release them, the rest stay (a leak, never a release of a function
 * someone holds). 300 decodes in a row at the stack's end (Deno), each with 40 function values and no room to release
 * the last ones, overflowed 256 and leaked 2,500 (found beside pass 38a).
 */
const ORPHANS_MAX = 1 << 20;
/** The largest request the library's IN buffer grows to (c/src/wire.c, grow). */
const MAX_REQUEST = 0x7fffffff;
/** Integers up to ±2^53 are exact in a double: they cross as ints and come back as numbers. */
const MAX_EXACT = 2 ** 53;
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;
// ignoreBOM: a leading U+FEFF is text like any other (the default decoder strips it: "\ufeffx" came back "x")
/**
 * The errors calog's own codec raised, each with the encode it was raised in (see isOwnError): an encode is told
 * from another runtime's, which a getter it ran may have started (pass 35b).
 */
const ownErrors = new WeakMap<object, number>();
/** Encodes begun so far; the one running now (a getter's call into another runtime starts another). */
let encodeSerial = 0;
let currentEncode = 0;

/** A CalogValueError of the codec's own: told apart from one user code threw while a value was read. */
function valueError(...args: ConstructorParameters<typeof CalogValueError>): CalogValueError {
  const e = new CalogValueError(...args);
  ownErrors.set(e, currentEncode);
  return e;
}

/** Marks e as raised by the encode running now (calog's own refusal, passed unchanged: see isOwnError). */
export function ownError<T extends object>(e: T): T {
  ownErrors.set(e, currentEncode);
  return e;
}

/**
 * Whether e was raised by w's own encode (a value that cannot cross, a function handle refused), not by user code
 * it ran: a getter or a Proxy trap that threw a calog error (its own call into another context, that call's refusal
 * too) passed unchanged, as if this value itself were refused (pass 34b, 35b).
 */
export function isOwnError(e: unknown, w: Wire): boolean {
  return typeof e === "object" && e !== null && ownErrors.get(e) === w.serial;
}

const utf8Decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
/** Text from this many bytes on may be longer than the host engine's longest string (V8's is 2^29 - 24 units). */
const LONG_TEXT = 1 << 28;
/**
 * Decodes a text that may not fit a JavaScript string: past the engine's longest, a CalogValueError (ERR_RANGE),
 * not the decoder's bare TypeError "buffer exceeds maximum length" (Deno: pass 34a).
 */
function decodeLong(bytes: Uint8Array): string {
  try {
    return utf8Decoder.decode(bytes);
  } catch (e) {
    throw valueError(
      "ERR_RANGE",
      `a string of ${bytes.length} bytes is longer than this JavaScript engine's longest string; ` +
        "send it in pieces, or as bytes (a byte string arrives as a Uint8Array)",
      { cause: e },
    );
  }
}
const utf8Encoder = new TextEncoder();
/** %TypedArray%.prototype.length's getter: the view's real length, whatever a subclass or Proxy says. */
const typedArrayLength = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), "length")!.get as (
  this: ArrayBufferView,
) => number;

/**
 * Strict and lenient alike: a view whose bytes are gone (its ArrayBuffer detached, by a transfer say, or a resizable
 * one shrunk below it) has nothing to send; copying it threw a TypeError that was reported as "a getter or a Proxy
 * trap" threw.
 */
function goneBytes(what: string): CalogValueError {
  return valueError("ERR_TYPE", `${what} cannot cross: its ArrayBuffer was detached (transferred) or shrunk below the view, so it has no bytes to read`);
}

/** Whether a view is out of bounds (detached or shrunk past): copying a typed array throws then, as a DataView's byteLength. */
function viewGone(b: ArrayBufferView): boolean {
  try {
    if (b instanceof DataView) void b.byteLength; // its getter throws then
    else new Uint8Array(0).set(b as Uint8Array);
    return false;
  } catch {
    return true;
  }
}

function isPlainObject(v: object): boolean {
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
}

/**
 * The built-in an object with a plain prototype (null or Object.prototype) really is, by its internal slots: a Map, a
 * typed array, a Date... whose prototype was replaced (`Object.setPrototypeOf(m, null)`) was sent as a plain object,
 * its own enumerable properties only: a Map arrived as `{}` (its entries lost), a Uint8Array as `{ "0": 1, "1": 2 }`,
 * a Date as `{}`, and a Promise as `{}` whose rejection then went unhandled; strict too. No code of the value runs.
 */
function builtinKind(v: object): string | undefined {
  if (types.isMap(v)) return "Map";
  if (types.isPromise(v)) return "Promise";
  if (types.isSet(v)) return "Set";
  if (types.isDate(v)) return "Date";
  if (types.isRegExp(v)) return "RegExp";
  if (types.isNativeError(v)) return "Error";
  if (types.isBoxedPrimitive(v)) return "boxed primitive";
  // what they hold is not readable, but they are no plain objects either: with their own prototype strict refuses
  // them, and with null for it they crossed as `{}`, strict too (pass 21a)
  if (types.isWeakMap(v)) return "WeakMap";
  if (types.isWeakSet(v)) return "WeakSet";
  if (types.isGeneratorObject(v)) return "generator";
  if (types.isMapIterator(v) || types.isSetIterator(v)) return "iterator";
  if (types.isArgumentsObject(v)) return "arguments object"; // its prototype is Object.prototype: see Wire.#object
  return undefined; // views and buffers are told before (see Wire.#binary)
}

/** The prototypes a built-in of each builtinKind has (or inherits from) when nobody replaced its own. */
const kindPrototypes: Readonly<Record<string, readonly object[]>> = {
  Map: [Map.prototype], Promise: [Promise.prototype], Set: [Set.prototype], Date: [Date.prototype], RegExp: [RegExp.prototype],
  Error: [Error.prototype], WeakMap: [WeakMap.prototype], WeakSet: [WeakSet.prototype],
  "boxed primitive": [String.prototype, Number.prototype, Boolean.prototype, Symbol.prototype, BigInt.prototype],
  generator: [Object.getPrototypeOf(function* () {}).prototype as object, Object.getPrototypeOf(async function* () {}).prototype as object],
  iterator: [Object.getPrototypeOf(new Map().keys()) as object, Object.getPrototypeOf(new Set().keys()) as object],
};

/** True when a built-in of kind no longer inherits from its kind's prototypes (set to null, Object.prototype, or another
 * built-in's): an unmodified TypeError, String object or Map iterator was said to have its prototype "replaced" (pass 41a). */
function prototypeReplaced(v: object, kind: string): boolean {
  if (kind === "arguments object") return Object.getPrototypeOf(v) !== Object.prototype; // everything inherits from that
  return !(kindPrototypes[kind] ?? []).some((p) => isPrototypeOf.call(p, v));
}

/** %TypedArray%.prototype's and DataView.prototype's getters: a view's bytes whatever its own prototype says. */
const taGetter = (name: string) =>
  Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), name)!.get as (this: ArrayBufferView) => number & ArrayBufferLike;
const dvGetter = (name: string) => Object.getOwnPropertyDescriptor(DataView.prototype, name)!.get as (this: DataView) => number & ArrayBufferLike;
const viewBuffer = { ta: taGetter("buffer"), taOffset: taGetter("byteOffset"), taLength: taGetter("byteLength"), dv: dvGetter("buffer"), dvOffset: dvGetter("byteOffset"), dvLength: dvGetter("byteLength") };
/** [[TypedArrayName]] ("Float64Array"), read by %TypedArray%.prototype[@@toStringTag]'s getter: no code of the view runs. */
const typedArrayName = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), Symbol.toStringTag)!.get as (this: ArrayBufferView) => string;
const isPrototypeOf = Object.prototype.isPrototypeOf as (this: object, v: unknown) => boolean;

/** What a view or a buffer really is, by its internal slots (its prototype may say anything). */
function binaryKind(v: object): string {
  if (types.isTypedArray(v)) return typedArrayName.call(v as ArrayBufferView);
  if (types.isDataView(v)) return "DataView";
  return types.isSharedArrayBuffer(v) ? "SharedArrayBuffer" : "ArrayBuffer";
}

/** The bytes a view or a buffer holds, read through the intrinsics (no getter of its own, or of its prototype, runs). */
function binaryBytes(v: object, kind: string): Uint8Array {
  try {
    if (kind === "ArrayBuffer" || kind === "SharedArrayBuffer") return new Uint8Array(v as ArrayBuffer);
    if (kind === "DataView") return new Uint8Array(viewBuffer.dv.call(v as DataView), viewBuffer.dvOffset.call(v as DataView), viewBuffer.dvLength.call(v as DataView));
    return new Uint8Array(viewBuffer.ta.call(v as ArrayBufferView), viewBuffer.taOffset.call(v as ArrayBufferView), viewBuffer.taLength.call(v as ArrayBufferView));
  } catch {
    throw kind === "ArrayBuffer" ? valueError("ERR_TYPE", "a detached ArrayBuffer (transferred) cannot cross: it has no bytes to read") : goneBytes(`a ${kind}`);
  }
}

/** The kinds that cross as bytes under strict. */
const exactBinary = new Set(["Uint8Array", "Uint8ClampedArray", "ArrayBuffer"]);
/** Each view's and buffer's own prototype, by kind (captured here: a script may replace the globals). */
const binaryProto: Record<string, object> = Object.fromEntries(
  [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array,
    BigInt64Array, BigUint64Array, DataView, ArrayBuffer, SharedArrayBuffer,
    // where the runtime has it (Bun, Deno): a Float16Array was "a Float16Array whose prototype was replaced
    // (Float16Array.prototype)" under its own prototype (pass 22a)
    ...["Float16Array"].flatMap((n) => typeof (globalThis as Record<string, unknown>)[n] === "function" ? [(globalThis as unknown as Record<string, { name: string; prototype: object }>)[n]!] : [])]
    .map((c) => [c.name, c.prototype]),
);

/**
 * Strict: an instance of a subclass of Array or Map (`class Path extends Array`) is a class instance, which strict
 * refuses: it would arrive as a plain list or map, its class gone. An array of another realm (its own
 * `Array.prototype`, not an instance of ours) is no subclass and crosses; a Map, a plain object or a typed array of
 * another realm (node:vm) is not an instance of ours either, and is refused (lenient: nil, or a view's bytes) as any
 * other non-plain object.
 */
function checkSubclass(v: object, proto: object, instead: string): void {
  const p: unknown = Object.getPrototypeOf(v);
  if (p === proto || !(p !== null && typeof p === "object" && Object.prototype.isPrototypeOf.call(proto, p))) return;
  throw valueError(
    "ERR_TYPE",
    `${aDescribed(v)} (a subclass of ${proto === Map.prototype ? "Map" : "Array"}) cannot cross into a script: it would arrive as a plain ${proto === Map.prototype ? "Map" : "Array"}; send ${instead} (the lenient policy does)`,
  );
}

/**
 * An array's length, read once. Only a Proxy of an array can report one that is no array length (1.5, -1, "2",
 * NaN): the list's header and its items were then counted apart (1.5 wrote 1 and sent 2 items), so an item became
 * its parent's next one, later siblings and arguments shifted, and a function among them was kept by no one's
 * read (pass 64a). Strict refuses it; lenient takes the whole part of a numeric length, 0 when negative or no
 * number (as `Array.from` reads a number).
 */
function arrayLength(v: unknown[], lenient: boolean): number {
  const len: unknown = v.length;
  if (typeof len === "number" && Number.isInteger(len) && len >= 0 && len <= 0xffff_ffff) return len;
  if (!lenient) {
    const shown = typeof len === "string" ? JSON.stringify(len.slice(0, 40)) : typeof len === "number" || typeof len === "boolean" || len == null ? String(len) : typeof len === "object" ? "an object" : `a ${typeof len}`;
    throw valueError(
      "ERR_TYPE",
      `an array whose length is ${shown} (a Proxy's length trap) cannot cross into a script: an array's length is an integer from 0 to 2^32 - 1; send Array.from(v) (the lenient policy takes the whole part of a numeric length)`,
    );
  }
  const num = typeof len === "number" ? len : typeof len === "string" ? Number(len) : NaN;
  return num > 0 ? Math.min(Math.floor(num), Number.MAX_SAFE_INTEGER) : 0;
}

/**
 * Strict: an array with named properties (`Object.assign([1, 2], { x: 1 })`) is refused, as only its items
 * cross. Object.keys lists the indices first, ascending, then the other keys: the last key tells.
 */
function checkNamedKeys(v: unknown[], n: number): void {
  const keys = Object.keys(v);
  const last = keys[keys.length - 1];
  if (last === undefined) return;
  const i = Number(last);
  // (a Proxy's ownKeys lists them in any order: a name listed first was dropped, pass 66b)
  if (Number.isInteger(i) && i >= 0 && i < n && String(i) === last && !types.isProxy(v)) return;
  const named = keys.filter((k) => {
    const i = Number(k);
    return !(Number.isInteger(i) && i >= 0 && i < n && String(i) === k); // "-1", "1.5", "01" are names
  });
  if (named.length === 0) return; // a Proxy's items only
  throw valueError(
    "ERR_TYPE",
    `an array with named properties (${named.slice(0, 3).map((k) => JSON.stringify(k)).join(", ")}${named.length > 3 ? ", …" : ""}) cannot cross into a script: only its items would (the lenient policy drops them)`,
  );
}

/**
 * Strict: a Map or an ArrayBuffer with named properties of its own (`Object.assign(new Map(m), { x: 1 })`) is refused,
 * as only its entries or bytes cross (they were dropped without a word: pass 34a). Object.keys of either lists only
 * such properties, so this costs nothing when there are none. (A view's Object.keys lists every index first: a
 * typed array, Buffer or DataView crosses as its bytes and its own properties are not read, as documented.)
 */
function checkOwnProperties(v: object, what: string, part: string): void {
  const named = Object.keys(v);
  if (named.length === 0) return;
  throw valueError(
    "ERR_TYPE",
    `${what} with named properties (${named.slice(0, 3).map((k) => JSON.stringify(k)).join(", ")}${named.length > 3 ? ", …" : ""}) cannot cross into a script: only its ${part} would (the lenient policy drops the properties)`,
  );
}

/**
 * A Map's entries, keys and membership as the Map holds them, whatever its own properties say: an instance's own
 * `[Symbol.iterator]` (or `keys`, `has`) replaced what crossed, so `new Map([["x", 1]])` arrived as `{ a: 2 }` when it
 * yielded `["a", 1], ["a", 2]` (a pair lost without a word, strict too), and 1 and 1n slipped past the check below.
 */
const mapEntries = Map.prototype.entries as (this: Map<unknown, unknown>) => IterableIterator<[unknown, unknown]>;

/**
 * 1 and 1n are different Map keys but the same integer key in every engine: strict refuses the pair. Checked on the
 * snapshot that crosses (see {@link Wire}), never on the live Map: a getter in one of its values that added the key 1
 * beside 1n while the Map was being sent got past a check made beforehand, and Lua and Squirrel lost a pair silently.
 */
function checkBigintKeys(entries: readonly (readonly [unknown, unknown])[]): void {
  let numbers: Set<unknown> | undefined;
  for (const [k] of entries) {
    if (typeof k === "bigint" && k >= -(2n ** 53n) && k <= 2n ** 53n) {
      if (numbers === undefined) {
        numbers = new Set();
        for (const [n] of entries) if (typeof n === "number") numbers.add(n);
      }
      if (numbers.has(Number(k))) {
        throw valueError("ERR_TYPE", `Map keys ${k} and ${k}n are the same integer key in a script: one would be lost`);
      }
    }
  }
}

/** A plain Uint8Array (its prototype Uint8Array's): a Map key that crosses as the bytes it holds. */
function isByteKey(k: unknown): k is Uint8Array {
  return types.isUint8Array(k) && Object.getPrototypeOf(k) === Uint8Array.prototype;
}

const keyText = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Strict: a Uint8Array key is the script key its bytes make, which another key of the same Map may make too (the
 * string "a" and the bytes [97], two arrays with the same bytes): one pair would be lost.
 */
function checkByteKeys(entries: readonly (readonly [unknown, unknown])[]): void {
  let seen: Set<string> | undefined, bytes: Set<string> | undefined;
  for (const [k] of entries) {
    if (!isByteKey(k)) continue;
    if (seen === undefined) {
      seen = new Set();
      bytes = new Set();
      for (const [s] of entries) if (typeof s === "string") seen.add(s);
    }
    let text: string, set = seen;
    try {
      text = keyText.decode(k);
    } catch {
      text = Array.from(k, (b) => b.toString(16).padStart(2, "0")).join(""); // not text: no string key makes it
      set = bytes!;
    }
    if (set.has(text)) {
      throw valueError("ERR_TYPE", "two keys of a Map are the same bytes in a script (a Uint8Array and a string, or two Uint8Arrays): one would be lost");
    }
    set.add(text);
  }
}

/** A name with its article: "an ArrayBuffer", "a Uint8Array" (a "U" is read "you"). */
function aKind(d: string): string {
  return `${/^[AEIOaeio]|^U(?!int)/.test(d) ? "an" : "a"} ${d}`;
}

/** describe(v) with its article: "an AbortSignal", "a Date". */
function aDescribed(v: unknown): string {
  return aKind(describe(v));
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (typeof v !== "object") return typeof v;
  const name: unknown = (v as object).constructor?.name;
  // a generator's constructor (GeneratorFunction.prototype) has no name: "a  cannot cross" said nothing
  return typeof name === "string" && name !== "" ? name : types.isGeneratorObject(v) ? "generator" : "object";
}

export class Wire {
  /** The encode running in this wire (see isOwnError). */
  serial = 0;
  /** The encode that was running when this one began (a getter of another runtime's encode called into this one). */
  #outerEncode = 0;
  /** Ends this wire's encode: the one it interrupted is the running one again (its refusals are its own: pass 36a). */
  endEncode(): void {
    currentEncode = this.#outerEncode;
    // what lenient sent as nil stays alive in it until the next encoding otherwise (300 MB kept by an idle runtime: pass 73b)
    if (this.#promiseWalk !== undefined) this.#promiseWalk = undefined;
  }
  #native: NativeRuntime;
  #control: Uint32Array;
  #gen = -1;
  in!: Uint8Array;
  out!: Uint8Array;
  #inView!: DataView;
  #outView!: DataView;
  #pos = 0;
  #rpos = 0;
  #rend = 0;
  #ancestors: object[] = [];
  /** The walk that handles the Promises of what lenient sent as nil in this encoding (one budget for all: pass 72b). */
  #promiseWalk: PromiseWalk | undefined = undefined;

  /**
   * Handles the Promises in `v`, a value lenient sends as nil or drops (see {@link handleInnerPromises}): one walk for
   * all of one encoding's (a thousand instances sharing a large value cost a thousand walks of it: pass 72b); where the
   * stack ran out, what is left is recorded for the runtime to walk on, out of the same budget (passes 73b, 77a).
   */
  #dropped(v: unknown): void {
    const left = handleInnerPromises(v, (this.#promiseWalk ??= new PromiseWalk()));
    if (left !== undefined) this.fns.refusals.addLeft(left);
  }
  #lostKeys = false;
  #negZeroKey = false;
  /** The decode running met a host function (HOSTFN). */
  #hostFns = false;
  /** Function handles a failed decode left unowned, as slot, gen pairs (see {@link dropUnowned}). */
  #orphans = new Uint32Array(2 * ORPHANS_FIRST);
  #orphanCount = 0;
  /**
   * Set as a value (a result or an error) arrives in OUT, before anything that can throw (plain stores, no call: a
   * call can meet the stack's end): OUT holds a value whose function handles are the host's and not all wrapped yet,
   * and `taken` is fnsTaken (control[14]) as it arrived. Cleared once decoded whole, or its unowned handles given back
   * (see {@link dropUnowned}).
   */
  open = false;
  taken = 0;
  readonly maxDepth: number;
  lenient = false;
  fns: FunctionTable;

  constructor(native: NativeRuntime, fns: FunctionTable) {
    this.#native = native;
    this.#control = native.control;
    this.maxDepth = this.#control[7]!;
    this.fns = fns;
    this.refresh();
  }

  /** Re-fetches the buffer views if C moved a buffer. Cheap: one u32 compare. */
  refresh(): void {
    if (this.#control[6] === this.#gen) return;
    const b = this.#native.buffers();
    this.in = b.in;
    this.out = b.out;
    this.#inView = new DataView(b.in.buffer, b.in.byteOffset, b.in.byteLength);
    this.#outView = new DataView(b.out.buffer, b.out.byteOffset, b.out.byteLength);
    this.#gen = this.#control[6]!;
  }

  // ---- encoding into IN ----------------------------------------------------------------------
  /** Starts a request at offset 0 of IN. */
  begin(): void {
    if (this.#promiseWalk !== undefined) this.#promiseWalk = undefined;
    this.#outerEncode = currentEncode;
    this.serial = currentEncode = ++encodeSerial;
    this.refresh();
    this.#pos = 0;
    if (this.#ancestors.length !== 0) this.#ancestors.length = 0; // V8: a length store is a runtime call
  }

  /** Starts the request begun over at offset 0 of IN: the same encode (its serial and the one it interrupted kept). */
  restart(): void {
    this.refresh();
    this.#pos = 0;
    if (this.#ancestors.length !== 0) this.#ancestors.length = 0;
  }

  /** Length of the request written so far. */
  get length(): number {
    return this.#pos;
  }

  #ensure(n: number): void {
    const need = this.#pos + n;
    if (need <= this.in.length) return;
    // the size crosses as a u32: past 2^32 it wrapped, a smaller buffer was granted, and a string's encodeInto
    // stopped where it ended (a 1.44e9-character string reached Lua as its first 33,554,414 bytes)
    if (need > MAX_REQUEST) {
      throw valueError("ERR_RANGE", `a value this large cannot cross: the request would need ${need} bytes (the cap is ${MAX_REQUEST})`);
    }
    const st = this.#native.reserve(0, need);
    if (st < 0) throw valueError("ERR_OOM", `cannot grow the request buffer to ${need} bytes`);
    this.refresh();
  }

  #u8(v: number): void {
    this.in[this.#pos++] = v;
  }

  #u32(v: number): void {
    this.#inView.setUint32(this.#pos, v, true);
    this.#pos += 4;
  }

  string(s: string): void {
    const n = s.length;
    this.#ensure(5 + n * 3);
    const buf = this.in;
    let p = this.#pos + 5;
    if (n < 64) {
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[p + i] = c;
      }
      if (i === n) {
        buf[this.#pos] = Tag.STR;
        this.#inView.setUint32(this.#pos + 1, n, true);
        this.#pos = p + n;
        return;
      }
    }
    if (!this.lenient && !(s as unknown as { isWellFormed(): boolean }).isWellFormed()) {
      throw valueError("ERR_TYPE", "a string with a lone surrogate (not valid Unicode) cannot cross exactly; the lenient policy sends U+FFFD for it");
    }
    const { written } = utf8Encoder.encodeInto(s, buf.subarray(p));
    buf[this.#pos] = Tag.STR;
    this.#inView.setUint32(this.#pos + 1, written, true);
    this.#pos = p + written;
  }

  bytes(b: Uint8Array): void {
    // the length read once, through the intrinsic getter: a subclass's `length` getter or a Proxy's trap that
    // answered differently on each read desynced the header from the bytes copied, and the caller's bytes
    // were then read as wire tags (a forged host function handle released a registered function's entry)
    const n = typedArrayLength.call(b); // throws for a Proxy or a non-view (a TypeError: CalogValueError)
    if (n === 0 && viewGone(b)) throw goneBytes(`${aDescribed(b)}`);
    this.#ensure(5 + n);
    this.#u8(Tag.BIN);
    this.#u32(n);
    this.in.set(b, this.#pos); // a real view: set reads its internal length, n, never the getter
    this.#pos += n;
  }

  number(v: number): void {
    this.#ensure(9);
    if (Number.isInteger(v) && !Object.is(v, -0)) {
      if (v >= -2147483648 && v <= 2147483647) {
        this.#u8(Tag.I32);
        this.#inView.setInt32(this.#pos, v, true);
        this.#pos += 4;
        return;
      }
      if (v >= -MAX_EXACT && v <= MAX_EXACT) {
        const hi = Math.floor(v / TWO32);
        this.#u8(Tag.INT);
        this.#inView.setUint32(this.#pos, v - hi * TWO32, true);
        this.#inView.setInt32(this.#pos + 4, hi, true);
        this.#pos += 8;
        return;
      }
    }
    this.#u8(Tag.REAL);
    this.#inView.setFloat64(this.#pos, v, true);
    this.#pos += 8;
  }

  /** Starts a LIST of n values (argument lists). */
  list(n: number): void {
    this.#ensure(5);
    this.#u8(Tag.LIST);
    this.#u32(n);
  }

  nil(): void {
    this.#ensure(1);
    this.#u8(Tag.NIL);
  }

  value(v: unknown, depth = 0): void {
    currentEncode = this.serial; // again after a getter's call into another runtime encoded something
    switch (typeof v) {
      case "number": return this.number(v);
      case "string": return this.string(v);
      case "boolean":
        this.#ensure(1);
        return this.#u8(v ? Tag.TRUE : Tag.FALSE);
      case "undefined": return this.nil();
      case "bigint":
        if (v < I64_MIN || v > I64_MAX) {
          if (this.lenient) return this.number(Number(v));
          throw valueError("ERR_RANGE", `bigint ${v} does not fit in a 64-bit integer`);
        }
        this.#ensure(9);
        this.#u8(Tag.INT);
        this.#inView.setBigInt64(this.#pos, v, true);
        this.#pos += 8;
        return;
      case "function": return this.#fn(v);
      case "object":
        if (v === null) return this.nil();
        return this.#object(v, depth);
      default:
        if (this.lenient) return this.nil();
        throw valueError("ERR_TYPE", `a ${typeof v} cannot cross into a script`);
    }
  }

  #fn(f: Function): void {
    let h: readonly [number, number] | undefined;
    let ref = 0;
    try {
      h = this.fns.handleOf(f);
      if (h === undefined) ref = this.fns.hostRef(f);
    } catch (e) {
      if (typeof e === "object" && e !== null) ownErrors.set(e, this.serial); // a disposed or foreign function: calog's refusal
      throw e;
    }
    if (h !== undefined) {
      this.#ensure(9);
      this.#u8(Tag.FN);
      this.#u32(h[0]);
      this.#u32(h[1]);
      return;
    }
    this.#ensure(5);
    this.#u8(Tag.HOSTFN);
    this.#u32(ref);
  }

  /** A real Map (its prototype checked by the caller): its entries, read through the intrinsics. */
  #map(v: Map<unknown, unknown>, depth: number): void {
    this.#ensure(5);
    this.#u8(Tag.MAP);
    const at = this.#pos;
    this.#u32(0);
    // the pairs are read once, before any value is sent: a getter in a value runs while the Map is being sent, and
    // what it adds to or deletes from the Map must not change what crosses (nor slip past the strict checks)
    const entries = Array.from(mapEntries.call(v));
    if (!this.lenient) {
      checkBigintKeys(entries);
      checkByteKeys(entries);
    }
    let n = 0;
    for (const [k, val] of entries) {
      const kt = typeof k;
      // a Uint8Array key is bytes, as a script's table key that is not UTF-8 arrives (it goes back as it came)
      if (kt !== "string" && kt !== "number" && kt !== "boolean" && kt !== "bigint" && !isByteKey(k)) {
        // lenient drops the entry: its key and value are never read again, so the Promises in them are handled as in a
        // value sent as nil (a rejected Promise under an object key went unhandled: pass 77a); strict's refusal walks
        // the whole value (see Refusals.add)
        if (this.lenient) {
          this.#dropped(k);
          this.#dropped(val);
          continue;
        }
        if (types.isPromise(k)) handleRejection(k);
        throw valueError("ERR_TYPE", `a Map key of type ${describe(k)} cannot cross into a script`);
      }
      this.value(k, depth + 1);
      this.value(val, depth + 1);
      n++;
    }
    this.#inView.setUint32(at, n, true);
  }

  /**
   * A built-in whose prototype was replaced by null or Object.prototype (see {@link builtinKind}). Strict refuses it,
   * as any object with another prototype; lenient sends what it would send for the built-in: a Map's entries, nil for
   * the rest (views and buffers: {@link #binary}). A Promise's rejection is handled either way.
   */
  #builtin(v: object, kind: string, depth: number): void {
    if (kind === "Promise") {
      if (this.lenient) { // sent as nil: its own properties are walked too (pass 82b)
        this.#dropped(v);
        this.nil();
        return;
      }
      handleRejection(v);
    }
    if (!this.lenient) {
      throw valueError(
        "ERR_TYPE",
        `${aKind(kind)} whose prototype was replaced (${Object.getPrototypeOf(v) === null ? "null" : "Object.prototype"}) cannot cross into a script: it is no plain object, and only its own properties would cross; the lenient policy sends it as the ${kind} it is`,
      );
    }
    if (kind === "Map") return this.#map(v as Map<unknown, unknown>, depth);
    this.#dropped(v); // sent as nil: its entries and own properties are never read again (pass 84b)
    this.nil();
  }

  /**
   * A typed array, a DataView, an ArrayBuffer or a SharedArrayBuffer, told by its internal slots and read through the
   * intrinsics. Strict sends a Uint8Array, a Uint8ClampedArray or an ArrayBuffer whose prototype is its own (or a
   * subclass's); it refused every other as it was, but a view was told by its prototype: a Float64Array whose prototype
   * was set to Uint8Array.prototype crossed as its items converted to bytes (`[1.5, 300]` as `[1, 44]`), a Uint16Array
   * under ArrayBuffer.prototype as `[2, 2]` for `[258, 2]`, and a Uint8ClampedArray subclass's own `byteOffset` and
   * `byteLength` getters chose the bytes sent (pass 21a). Lenient sends the bytes any of them holds.
   */
  #binary(v: object): void {
    const kind = binaryKind(v);
    const p: unknown = Object.getPrototypeOf(v);
    if (!this.lenient) {
      const own = binaryProto[kind];
      const mine = own !== undefined && (p === own || (p !== null && isPrototypeOf.call(own, p))); // its own, or a subclass's
      if (!mine || !exactBinary.has(kind)) {
        const was = p === null ? "null" : p === Object.prototype ? "Object.prototype" : typeof (p as { constructor?: { name?: unknown } }).constructor?.name === "string" && isPrototypeOf.call(Object.prototype, p) ? `${(p as { constructor: { name: string } }).constructor.name}.prototype` : "another realm's";
        throw valueError(
          "ERR_TYPE",
          mine
            ? `${aKind(kind)} cannot cross into a script (only Uint8Array, Uint8ClampedArray and ArrayBuffer cross as bytes; the lenient policy sends any view's bytes)`
            : `${aKind(kind)} ${was === "another realm's" ? "of another realm (node:vm) or under its prototype" : `whose prototype was replaced (${was})`} cannot cross into a script: it is no plain ${kind}, and no plain object; the lenient policy sends its bytes`,
        );
      }
      if (kind === "ArrayBuffer" || kind === "SharedArrayBuffer") checkOwnProperties(v, aKind(kind), "bytes");
    }
    const bytes = binaryBytes(v, kind);
    if (bytes.length === 0 && kind !== "ArrayBuffer" && kind !== "SharedArrayBuffer" && viewGone(v as ArrayBufferView)) throw goneBytes(aKind(kind));
    this.bytes(bytes);
  }

  #object(v: object, depth: number): void {
    if (ArrayBuffer.isView(v)) return this.#binary(v);
    if (depth >= this.maxDepth) {
      throw valueError("ERR_DEPTH", `value nesting exceeds the depth cap (${this.maxDepth})`);
    }
    const anc = this.#ancestors;
    if (anc.includes(v)) throw valueError("ERR_CYCLE", "value contains itself (a cycle)");
    anc.push(v);
    if (Array.isArray(v)) {
      if (!this.lenient) {
        checkSubclass(v, Array.prototype, "Array.from(v)");
        // a prototype that is no array and does not inherit from Array.prototype (Date.prototype, a hand-made one):
        // it crossed as a plain list (pass 37a). Another realm's Array.prototype is an array: it crosses.
        const p: unknown = Object.getPrototypeOf(v);
        if (p !== null && p !== Array.prototype && !Array.isArray(p) && !(typeof p === "object" && Object.prototype.isPrototypeOf.call(Array.prototype, p))) {
          throw valueError("ERR_TYPE", "an array whose prototype was replaced (no Array.prototype above it) cannot cross into a script: it would arrive as a plain Array; send Array.from(v) (the lenient policy does)");
        }
      }
      const n = arrayLength(v, this.lenient); // read once: a Proxy whose trap changes it must not desync what follows
      if (n > MAX_LIST) {
        throw valueError("ERR_RANGE", `an array of length ${n} is too long to cross (the cap is ${MAX_LIST} items)`);
      }
      if (!this.lenient) checkNamedKeys(v, n);
      this.list(n);
      for (let i = 0; i < n; i++) this.value(v[i], depth + 1);
    } else if (v instanceof Map) {
      if (!types.isMap(v)) {
        // a Proxy of a Map, Object.create(Map.prototype): no entries of its own to read ("Map operation called on
        // non-Map object" was reported as a getter that threw)
        if (this.lenient) {
          this.#dropped(v); // sent as nil: see #builtin
          this.nil();
        } else throw valueError("ERR_TYPE", "an object that only inherits from Map.prototype (a Proxy of a Map, Object.create(Map.prototype)) cannot cross into a script: it holds no entries of its own to read; the lenient policy sends nil");
      } else {
        if (!this.lenient) {
          checkSubclass(v, Map.prototype, "new Map(v)");
          checkOwnProperties(v, "a Map", "entries");
        }
        this.#map(v, depth);
      }
    } else if (isPlainObject(v)) {
      const keys = Object.keys(v);
      // A built-in whose prototype was replaced (null, Object.prototype) is told by its internal slots when it has no
      // own enumerable property, as such a built-in has: the dozen brand checks on every plain object cost Deno half
      // again on an object-heavy call (3.4 -> 5.1 us for six objects). One given properties of its own crosses as them;
      // a String object's own are its characters' indices ("0", "1"...), so one whose first key is "0" is looked at.
      // An arguments object (its prototype is Object.prototype, its items own keys "0", "1"...) crossed under strict
      // as a map with those text keys, its items no list (pass 22a): strict refuses it, lenient sends those keys.
      let kind = keys.length === 0 ? (types.isAnyArrayBuffer(v) ? "buffer" : builtinKind(v))
        : keys[0] === "0" ? (types.isStringObject(v) ? "boxed primitive" : types.isArgumentsObject(v) ? "arguments object" : undefined) : undefined;
      if (kind === "arguments object") {
        if (!this.lenient) {
          throw valueError("ERR_TYPE", "an arguments object cannot cross into a script: it would arrive as a map with the keys \"0\", \"1\"..., not a list; send Array.from(arguments) (the lenient policy sends its own enumerable properties)");
        }
        kind = undefined;
      }
      if (kind === "buffer") {
        this.#binary(v);
      } else if (kind !== undefined) {
        this.#builtin(v, kind, depth);
      } else {
        this.#ensure(5);
        this.#u8(Tag.MAP);
        this.#u32(keys.length);
        const rec = v as Record<string, unknown>;
        for (const k of keys) {
          this.string(k);
          this.value(rec[k], depth + 1);
        }
      }
    } else if (types.isAnyArrayBuffer(v)) {
      this.#binary(v);
    } else if (v instanceof Promise) {
      // refused: its rejection must not go unhandled, nor one in its own properties (pass 82b)
      if (this.lenient) {
        this.#dropped(v);
        this.nil();
      } else {
        handleRejection(v);
        throw valueError("ERR_TYPE", "a Promise cannot cross into a script (calls are synchronous: await it first)");
      }
    } else if (this.lenient) {
      this.#dropped(v); // sent as nil: a Promise it holds is never read again (pass 71b)
      this.nil();
    } else {
      // a Proxy of a view or a buffer has no bytes of its own to read (copying it threw "Receiver should be a typed
      // array view", reported as a getter or a Proxy trap that threw); no trap runs to describe a Proxy
      // a built-in under another's prototype (a Map under Array.prototype) is named as what it is, not "an Array"
      const kind = types.isProxy(v) ? undefined : builtinKind(v);
      const what = types.isProxy(v) ? "a Proxy"
        : kind !== undefined && prototypeReplaced(v, kind) ? `${aKind(kind)} whose prototype was replaced (${describe(v)}.prototype)`
        : kind === "boxed primitive" ? `${aDescribed(v)} object (a boxed primitive)` : aDescribed(v);
      throw valueError("ERR_TYPE", `${what} cannot cross into a script (only plain objects, arrays, Maps and Uint8Arrays do)`);
    }
    anc.pop();
  }

  // ---- decoding from OUT ---------------------------------------------------------------------
  /**
   * Decodes the single value in OUT[0, len). Strict: a map two of whose keys became one Map key (see
   * {@link checkKeys}) fails once the whole value is decoded (every function handle in it is then owned).
   */
  result(len: number, strictKeys = true): unknown {
    if (this.#orphanCount !== 0) this.releaseOrphans();
    this.#rpos = 0;
    this.#rend = len;
    this.#lostKeys = false;
    this.#negZeroKey = false;
    this.#hostFns = false;
    let v: unknown;
    try {
      this.refresh();
      v = this.#read();
    } catch (e) {
      if (this.open) this.dropUnowned(len);
      throw e;
    }
    this.open = false;
    // every host function it names is held here now: the library's keep of them ends (one call, only then)
    if (this.#hostFns) {
      try {
        this.fns.outDone();
      } catch { /* no stack left for the call (a decode near the stack's end): the next entry ends the keep */ }
    }
    if (strictKeys) this.checkKeys();
    return v;
  }

  /**
   * Gives back the function handles of the value that last arrived in OUT[0, len) (see {@link open}) that its decode never
   * wrapped (it never ran, or failed part way): the ones past those counted in fnsTaken since it arrived (wrapped in
   * OUT's order). Nobody owned them, and each kept its context alive for good (Bun, a call returning functions or
   * throwing a value holding them near the stack's end: 40 of 40 leaked, a few times in 400 depths). It runs
   * where the stack was just exhausted, so the walk is flat and makes no call (bytes read by index): the handles go to
   * {@link #orphans}, released now if there is room for the library's calls, else at the next decode or drain.
   * Never throws: with no room to release them they are kept in a growing list, up to ORPHANS_MAX; past that, or if
   * the list cannot grow there either, the rest stay (a leak, never a release of a
   * function someone holds).
   */
  dropUnowned(len: number): void {
    try {
      this.refresh();
      if (this.#control[6] !== this.#gen) return; // the views are stale: reading them could read freed memory
      const owned = (this.#control[14]! - this.taken) >>> 0;
      const out = this.out, end = len <= out.length ? len : out.length;
      let orphans = this.#orphans;
      let p = 0, items = 1, seen = 0;
      while (items > 0 && p < end) {
        items--;
        const tag = out[p++];
        if (tag === Tag.FN) {
          if (seen++ >= owned) {
            if (2 * this.#orphanCount === orphans.length) this.releaseOrphans();
            if (2 * this.#orphanCount === orphans.length) {
              // no room to release them: more room to keep them (an allocation, which may fail here too)
              if (orphans.length === 2 * ORPHANS_MAX) return;
              const more = new Uint32Array(2 * orphans.length);
              more.set(orphans);
              this.#orphans = orphans = more;
            }
            const i = 2 * this.#orphanCount++;
            orphans[i] = (out[p]! | (out[p + 1]! << 8) | (out[p + 2]! << 16) | (out[p + 3]! << 24)) >>> 0;
            orphans[i + 1] = (out[p + 4]! | (out[p + 5]! << 8) | (out[p + 6]! << 16) | (out[p + 7]! << 24)) >>> 0;
          }
          p += 8;
        } else if (tag! <= Tag.TRUE) {
          // one byte
        } else if (tag === Tag.I32 || tag === Tag.HOSTFN) {
          p += 4;
        } else if (tag === Tag.INT || tag === Tag.REAL) {
          p += 8;
        } else if (tag! <= Tag.BOTH) {
          const n = (out[p]! | (out[p + 1]! << 8) | (out[p + 2]! << 16) | (out[p + 3]! << 24)) >>> 0;
          p += 4;
          if (tag === Tag.STR || tag === Tag.BIN) p += n;
          else if (tag === Tag.LIST) items += n;
          else if (tag === Tag.MAP) items += 2 * n;
          else {
            items += n + 2 * ((out[p]! | (out[p + 1]! << 8) | (out[p + 2]! << 16) | (out[p + 3]! << 24)) >>> 0);
            p += 4;
          }
        } else {
          break; // malformed: nothing past it can be told apart
        }
      }
      this.open = false; // walked whole (else a caller walks it again: a handle released twice is stale, never another's)
    } catch { /* no room even for this */ }
    this.releaseOrphans();
  }

  /** Whether handles wait in {@link #orphans} (see {@link dropUnowned}). */
  get orphans(): number {
    return this.#orphanCount;
  }

  /**
   * Releases the handles {@link dropUnowned} kept, each counted off once released (a second release of one is stale
   * in the library, never a release of another). Never throws: with no room, they wait for the next decode or drain.
   */
  releaseOrphans(): void {
    try {
      const orphans = this.#orphans;
      for (let i = this.#orphanCount; i > 0; i = --this.#orphanCount) this.#native.fnRelease(orphans[2 * i - 2]!, orphans[2 * i - 1]!);
    } catch { /* no room yet */ }
  }

  /**
   * Strict: throws if a map decoded since the last {@link result} or {@link argsBegin} lost a pair because two
   * of its keys are one Map key in TypeScript: a Squirrel table keeps 1 and 1.0, -0.0 and 0.0, and every NaN
   * key apart, and the Map kept only the last of each. Lenient: the last wins (as for a JS property name).
   */
  checkKeys(): void {
    if (this.#negZeroKey && !this.lenient && !this.#lostKeys) {
      this.#negZeroKey = false;
      throw valueError("ERR_TYPE", "a map key -0.0 becomes the Map key 0 (a Map does not keep -0): the key would change; the lenient policy sends 0");
    }
    this.#negZeroKey = false;
    if (this.#lostKeys && !this.lenient) {
      this.#lostKeys = false;
      throw valueError("ERR_TYPE", "two keys of a map become the same Map key (such as 1 and 1.0, -0.0 and 0.0, or two NaN keys): one would be lost");
    }
  }

  /** Starts reading a LIST in OUT[0, len): returns its length; read the items with {@link next}. */
  argsBegin(len: number): number {
    this.refresh();
    this.#rpos = 0;
    this.#rend = len;
    if (len < 5 || this.out[0] !== Tag.LIST) throw valueError("ERR_ARG", "malformed argument list from the library");
    this.#rpos = 5;
    this.#lostKeys = false;
    this.#negZeroKey = false;
    return this.#outView.getUint32(1, true);
  }

  /** The next value of a list started with {@link argsBegin}. */
  next(): unknown {
    return this.#read();
  }

  #read(): unknown {
    const out = this.out, dv = this.#outView;
    if (this.#rpos >= this.#rend) throw valueError("ERR_ARG", "truncated value from the library");
    const tag = out[this.#rpos++];
    let p = this.#rpos;
    switch (tag) {
      case Tag.NIL: return null;
      case Tag.FALSE: return false;
      case Tag.TRUE: return true;
      case Tag.I32:
        this.#rpos = p + 4;
        return dv.getInt32(p, true);
      case Tag.INT: {
        this.#rpos = p + 8;
        const lo = dv.getUint32(p, true), hi = dv.getInt32(p + 4, true);
        // exact test on the halves: |value| <= 2^53 <=> -2^21 <= hi < 2^21, or value == 2^53
        if ((hi >= -2097152 && hi < 2097152) || (hi === 2097152 && lo === 0)) return hi * TWO32 + lo;
        return dv.getBigInt64(p, true);
      }
      case Tag.REAL:
        this.#rpos = p + 8;
        return dv.getFloat64(p, true);
      case Tag.STR: {
        const n = dv.getUint32(p, true);
        p += 4;
        this.#rpos = p + n;
        if (n < 32) {
          let s = "";
          for (let i = 0; i < n; i++) {
            const c = out[p + i]!;
            if (c >= 0x80) return utf8Decoder.decode(out.subarray(p, p + n));
            s += String.fromCharCode(c);
          }
          return s;
        }
        return n < LONG_TEXT ? utf8Decoder.decode(out.subarray(p, p + n)) : decodeLong(out.subarray(p, p + n));
      }
      case Tag.BIN: {
        const n = dv.getUint32(p, true);
        p += 4;
        this.#rpos = p + n;
        return out.slice(p, p + n);
      }
      case Tag.LIST: {
        const n = dv.getUint32(p, true);
        this.#rpos = p + 4;
        const a = new Array<unknown>(n);
        for (let i = 0; i < n; i++) a[i] = this.#read();
        return a;
      }
      case Tag.MAP:
      case Tag.BOTH: {
        let na = 0, np: number;
        if (tag === Tag.BOTH) {
          na = dv.getUint32(p, true);
          np = dv.getUint32(p + 4, true);
          this.#rpos = p + 8;
        } else {
          np = dv.getUint32(p, true);
          this.#rpos = p + 4;
        }
        const arrayPart = new Array<unknown>(na);
        for (let i = 0; i < na; i++) arrayPart[i] = this.#read();
        // one pass (values may be function handles: each must be decoded exactly once)
        const keys = new Array<unknown>(np), vals = new Array<unknown>(np);
        let allStrings = na === 0;
        for (let i = 0; i < np; i++) {
          const k = (keys[i] = this.#read());
          if (typeof k !== "string") {
            allStrings = false;
            if (k === 0 && Object.is(k, -0)) this.#negZeroKey = true; // a Map makes it 0
          }
          vals[i] = this.#read();
        }
        if (allStrings) {
          const obj: Record<string, unknown> = {};
          for (let i = 0; i < np; i++) {
            const k = keys[i] as string;
            if (k === "__proto__") Object.defineProperty(obj, k, { value: vals[i], enumerable: true, writable: true, configurable: true });
            else obj[k] = vals[i];
          }
          return obj;
        }
        const m = new Map<unknown, unknown>();
        for (let i = 0; i < na; i++) m.set(i + 1, arrayPart[i]);
        for (let i = 0; i < np; i++) m.set(keys[i], vals[i]);
        if (m.size !== na + np) this.#lostKeys = true;
        return m;
      }
      case Tag.FN: {
        this.#rpos = p + 8;
        const f = this.fns.wrap(dv.getUint32(p, true), dv.getUint32(p + 4, true));
        // counted once the wrapper owns the handle (a store, which no stack overflow skips): a host call that returns
        // 0 (its engine threw at the stack's end after reading its arguments) gives back only the handles past this
        // count. The library released them all: a function the host function kept was dead in its hands
        this.#control[14]!++;
        return f;
      }
      case Tag.HOSTFN:
        this.#rpos = p + 4;
        this.#hostFns = true;
        return this.fns.hostFn(dv.getUint32(p, true));
      default:
        throw valueError("ERR_ARG", `unknown wire tag ${tag} from the library`);
    }
  }
}
