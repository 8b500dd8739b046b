/**
 * The Promise walk: handles the rejection of every Promise inside a value calog refused, sent as nil or dropped (nobody
 * will read it again), so none becomes an unhandled rejection, and keeps what is left to walk where the JavaScript
 * stack ran out. Above the codec (wire.ts reads nothing of this but the walk of what lenient drops) and below the
 * runtime, which records its refusals here ({@link Refusals}).
 * @module
 */
import { types as nodeTypes } from "node:util";

/** node:util's type checks, taken as calog loads (one replaced later made a Promise cross as `{}`: pass 85a). */
export const types: typeof nodeTypes = Object.freeze({ ...nodeTypes });

// What the walk and the stack's-end checks use, taken when this module loads, and called with no lookup on the way:
// replaced later (a shim, a polyfill, a test double), a global RangeError made the stack's end read as a trap's own
// throw (pass 82a); a global Set ran user code outside the walk's guard, where its calls into calog went through and
// one it refused made the walk loop for ever; a `util.types.isPromise` that lied left Promises unhandled (pass 84a).
// Only a Proxy's traps, and what a real Promise's `then` reads, run user code in a walk.
/** `f` as a function of its receiver and arguments, with no lookup when called. */
export const uncurry = Function.prototype.bind.bind(Function.prototype.call) as <A extends unknown[], R>(
  f: (this: never, ...a: A) => R,
) => (self: unknown, ...a: A) => R;
/** Promise as calog loaded it (a replaced global one ran user code in the middle of a call: pass 87a). */
export const NativePromise = Promise;
const NativeSet = Set;
const promiseThen = uncurry(NativePromise.prototype.then as (this: never, f: unknown, r: unknown) => unknown);
const promiseReject = uncurry(NativePromise.reject as (this: never, e: unknown) => Promise<never>);
const promiseResolve = uncurry(NativePromise.resolve as (this: never, v: unknown) => Promise<unknown>);
const promiseWithResolvers = uncurry(NativePromise.withResolvers as (this: never) => PromiseWithResolvers<unknown>);
/**
 * `Promise.withResolvers()`, with the built-ins as calog loaded them: no executor of calog's to enter, so where the
 * stack ends it throws and makes nothing (an executor that could not be entered left a Promise rejected with the
 * RangeError, unhandled, and no resolving functions).
 */
export const withResolvers = (): PromiseWithResolvers<unknown> => promiseWithResolvers(NativePromise);
/** `Promise.reject(e)`, with the built-ins as calog loaded them. */
export const rejectedWith = (e: unknown): Promise<never> => promiseReject(NativePromise, e);
/** `Promise.resolve(v)`, with the built-ins as calog loaded them. */
export const resolvedWith = (v?: unknown): Promise<unknown> => promiseResolve(NativePromise, v);
/**
 * `p.then(f, r)` for a Promise calog made (or Deno's FFI gave it), with the built-in `then` as calog loaded it, after
 * giving `p` an own `constructor` of undefined (once): `then` then reads no species (a replaced
 * `Promise.prototype.constructor` or `Promise[Symbol.species]` made calog's own chains throw, so a host function's
 * rejection went unhandled and a call never settled: pass 88a; see noConstructor).
 */
export function thenNative<T>(p: Promise<T>, f: ((v: T) => unknown) | undefined, r?: (e: unknown) => unknown): Promise<unknown> {
  if (!hasOwn(p, "constructor")) defineProperty(p, "constructor", noConstructor);
  return promiseThen(p, f, r) as Promise<unknown>;
}
const { isNativeError, isPromise, isBoxedPrimitive, isMap, isSet, isDataView, isProxy } = types;
const { getPrototypeOf, getOwnPropertyDescriptor, defineProperty, deleteProperty, ownKeys, setPrototypeOf, apply } = Reflect;
/** Promise.prototype.then as calog loaded it: a Promise whose `then` is this one is followed by {@link thenOf}. */
export const builtinThen: unknown = NativePromise.prototype.then;
/**
 * Calls `then`, read from `p` once already, with `p` as its receiver and `resolve`/`reject`, from a microtask: as
 * JavaScript's await calls a thenable's `then`, and never now (an own `then` that called back at once ran inside the
 * host call: pass 34b), and without reading `then` again (`resolve(p)` did, outside calog's guard: a getter there
 * disposed the context under the call, and ran twice where await runs it once: pass 90a).
 */
export function thenLater(p: object, then: unknown, resolve: (v: unknown) => void, reject: (e: unknown) => void): void {
  enqueue(() => {
    try {
      apply(then as (this: unknown, ...a: unknown[]) => unknown, p, [resolve, reject]);
    } catch (e) {
      reject(e); // (after resolve or reject: ignored, as in JavaScript's own job)
    }
  });
}
const { isArray } = Array;
const { isView } = ArrayBuffer;
const { hasOwn } = Object;
const { min, max } = Math;
const { isInteger } = Number;
const objectPrototype = Object.prototype;
const mapEntries = uncurry(Map.prototype.entries as (this: never) => Iterator<[unknown, unknown]>);
const setValues = uncurry(Set.prototype.values as (this: never) => Iterator<unknown>);
const mapIteratorNext = uncurry((getPrototypeOf(new Map().entries()) as Iterator<unknown>).next as (this: never) => IteratorResult<[unknown, unknown]>);
const setIteratorNext = uncurry((getPrototypeOf(new Set().values()) as Iterator<unknown>).next as (this: never) => IteratorResult<unknown>);
const setHas = uncurry(NativeSet.prototype.has as (this: never, v: unknown) => boolean);
const setAdd = uncurry(NativeSet.prototype.add as (this: never, v: unknown) => unknown);
const rangeErrorPrototype = RangeError.prototype;
const syntaxErrorPrototype = SyntaxError.prototype;
/** queueMicrotask as calog loaded it. */
export const enqueue = queueMicrotask;
const NativeNumber = Number;
/** %TypedArray%.prototype.length's getter: the view's real length, whatever a subclass or Proxy says. */
const typedArrayLength = uncurry(getOwnPropertyDescriptor(getPrototypeOf(Uint8Array.prototype) as object, "length")!.get as (this: never) => number);
/**
 * The `constructor` thenOf gives a Promise for a moment: undefined, so `then` makes its Promise with the built-in one and
 * reads no species (Promise.prototype.constructor or Promise[Symbol.species] replaced made every `then` throw: pass
 * 85a). No prototype: an `Object.prototype.get` would make it an accessor's.
 */
const noConstructor = { __proto__: null, value: undefined, writable: true, configurable: true } as PropertyDescriptor;

/** A list of the walk's own (no prototype: an index setter on Array.prototype took its stores, pass 85a). */
function ownList(first: unknown): unknown[] {
  const list = [first];
  setPrototypeOf(list, null);
  return list;
}

/**
 * Attaches `onFulfilled`/`onRejected` to a real Promise whatever its `constructor` says. Promise.prototype.then makes the
 * Promise it returns through `p.constructor[Symbol.species]`: an own `constructor` (1, a getter that throws, a class
 * whose species is 5) threw there and no handler was attached (the rejection went unhandled), and a `constructor`
 * getter ran (pass 73b). For this one call, `p` has an own `constructor` of undefined, which makes `then` use the
 * built-in Promise and read no species (see noConstructor; an own property defined and taken back: nothing of `p`
 * runs). Where that cannot be done (`p` non-extensible with no `constructor` of its own, or with one that cannot be
 * redefined) this is JavaScript's own `then`, which reads them and may throw (pass 74b).
 */
export function thenOf(p: object, onFulfilled: ((v: unknown) => unknown) | undefined, onRejected: (e: unknown) => unknown): void {
  const own = getOwnPropertyDescriptor(p, "constructor");
  if (!defineProperty(p, "constructor", noConstructor)) {
    promiseThen(p, onFulfilled, onRejected);
    return;
  }
  try {
    promiseThen(p, onFulfilled, onRejected);
  } finally {
    if (own === undefined) deleteProperty(p, "constructor");
    else {
      setPrototypeOf(own, null); // see noConstructor
      defineProperty(p, "constructor", own);
    }
  }
}

/**
 * Whether `e` is a RangeError JavaScript threw (the stack's end, or a trap's own), looked at with no code of `e` run:
 * `instanceof` of a revoked Proxy throws, and of a Proxy runs its getPrototypeOf trap (a trap that threw a revoked Proxy
 * ended the whole walk: the rest of the value was never looked at, pass 79a).
 */
export function isRangeError(e: unknown): boolean {
  return isNativeError(e) && getPrototypeOf(e) === rangeErrorPrototype;
}

/** {@link isRangeError} for a SyntaxError (V8 reports the stack's end in a regular expression it compiles so). */
export function isSyntaxError(e: unknown): boolean {
  return isNativeError(e) && getPrototypeOf(e) === syntaxErrorPrototype;
}

/** A handler that does nothing (a rejection handled and dropped). */
export const ignore = (): void => {};

/**
 * Marks a real Promise's rejection handled (see {@link thenOf}). Throws only a RangeError, where the JavaScript stack
 * ran out (the caller tries again from the top: swallowed here, the rejection went unhandled, pass 73b).
 */
export function handleRejection(p: object): void {
  try {
    thenOf(p, undefined, ignore);
  } catch (e) {
    let out = true; // where not even that can be looked at, the stack's end
    try {
      out = isRangeError(e);
    } catch { /* */ }
    if (out) throw e;
    // frozen, with a constructor that throws: nothing can attach a handler without running it
  }
}

/**
 * Handles the rejection of every Promise inside a value nobody will encode (a host function's result the script
 * could not wait for, a refused call's arguments, a value lenient sent as nil or dropped) or whose encoding stopped
 * before it: the own data properties of its objects (arrays, class instances, Errors, functions, Maps, Sets and buffers
 * too; no getter runs), a Proxy's through its traps when it is a plain object's or an array's (as the encoder reads
 * one; a trap that throws leaves that object out), the items of its arrays, the keys and values of its Maps and the
 * items of its Sets, nearest first. `walk` bounds the work: each place looked at (an item, an index, a hole, a key
 * listed) takes one of its 100,000, so one walk, or all the walks of one encoding sharing it, costs about that at most
 * (passes 31b, 71b, 72b, 73b). Where the JavaScript stack ran out, what is left of it, to walk on (see {@link walkOn}).
 */
export function handleInnerPromises(root: unknown, walk: PromiseWalk = new PromiseWalk()): WalkLeft | undefined {
  walk.budget--;
  const left = new WalkLeft(ownList(root), 0, false, walk);
  try {
    return walkOn(left, false);
  } catch {
    return left; // no room even for its own catch: `left` says where it stopped
  }
}

/**
 * What is left of a walk the JavaScript stack's end stopped: `todo` from `at` on, out of `walk`'s budget and with what
 * it has seen. `redo`: the value at `at` was being looked at (so it is seen, and not done). Walked on from there, not
 * from the top (a walk made again from its root paid again for what it had looked at: a rejection past a large array
 * went unhandled, pass 78a).
 */
export class WalkLeft {
  constructor(readonly todo: unknown[], public at: number, public redo: boolean, readonly walk: PromiseWalk) {}
}

/**
 * The walk in progress, if any (on any runtime). A call into calog made while it is set came from user code the walk
 * ran (a Proxy trap it lists through), and every runtime refuses it, its arguments not walked: a trap's call walked as a
 * call of its own ran the trap again, for ever or a thousand-fold per runtime (passes 78a, 80a, 81a), and a call a
 * trap made into another runtime served that runtime's host calls under the walk (pass 81a). A binding its importers
 * read with no call (at the stack's end, where no call can be made).
 */
export let walkInProgress: PromiseWalk | undefined;

/**
 * Whether a walk is on the JavaScript stack ({@link walkInProgress}, or {@link Refusals.walk}'s loop around it): a call
 * into calog now came from user code a walk ran, and every runtime refuses it.
 */
export function inWalk(): boolean {
  return walkInProgress !== undefined || refusals.walking;
}

/**
 * Walks on from `left` (see {@link handleInnerPromises}); what is left where the stack ran out (never when `last`: the
 * walk made from the top of the stack, where a RangeError is a trap's own). Throws only where the stack's end leaves no
 * room even for its own catch; `left` then says where it stopped.
 */
export function walkOn(left: WalkLeft, last: boolean): WalkLeft | undefined {
  const { todo, walk } = left;
  const { seen } = walk;
  const outer = walkInProgress;
  walkInProgress = walk;
  try {
    // first in, first out: the budget leaves out the far end of a large value, not the front a script was sent first.
    // A place is paid for when it is listed, so what was listed is always looked at.
    const first = left.at;
    const redoFirst = left.redo;
    for (let i = first; i < todo.length; i++) {
      if (i > 0) todo[i - 1] = undefined; // done: not kept alive by a walk left for later
      const v = todo[i];
      // where the walk resumes if anything stops it here (the stack's end, even in the catch below: V8's instanceof
      // can throw there, and a value taken off the list and not done was lost): plain stores, kept as it goes
      left.at = i;
      // the first value of a walk resumed is still not done until looked at again: a throw before that (the stack's
      // end again, at setHas) left it seen and not to be redone, so its rejection went unhandled (pass 90b)
      left.redo = i === first && redoFirst;
      const budget = walk.budget;
      const listed = todo.length;
      try {
        if (v === null || (typeof v !== "object" && typeof v !== "function") || (setHas(seen, v) && !(redoFirst && i === first))) continue;
        setAdd(seen, v);
        left.redo = true; // seen, and not done
        // a Promise is an object too: its own properties are walked as any object's (they were not: pass 82b)
        if (isPromise(v)) handleRejection(v);
        // nothing more is listed once the budget is spent (what is queued is still looked at); a boxed primitive holds
        // no Promise, and a String object's keys are its characters (new String of 10^7 of them: 8 s to list)
        if (walk.budget <= 0 || isBoxedPrimitive(v)) continue;
        // the places of a large value beyond the budget are never listed: an array's indices one by one (a sparse one
        // of 2^32 - 1 holes took minutes), a typed array's (its keys are its indices) not at all when too many
        let indexed = 0;
        // (list stores, not push: nothing of Array.prototype runs)
        if (isMap(v)) {
          const it = mapEntries(v);
          for (let r = mapIteratorNext(it); !r.done; r = mapIteratorNext(it)) {
            if ((walk.budget -= 2) < 0) break;
            const entry = r.value;
            todo[todo.length] = entry[0];
            todo[todo.length] = entry[1];
          }
        } else if (isSet(v)) {
          const it = setValues(v);
          for (let r = setIteratorNext(it); !r.done; r = setIteratorNext(it)) {
            if (--walk.budget < 0) break;
            todo[todo.length] = r.value;
          }
        } else if (isView(v) && !isDataView(v)) {
          indexed = typedArrayLength(v); // bytes hold no Promise: only its named properties
        } else if (isArray(v)) { // a Proxy of an array too
          const d = getOwnPropertyDescriptor(v, "length");
          const n = d !== undefined && hasOwn(d, "value") ? d.value : 0;
          indexed = typeof n === "number" ? n : 0;
          for (let j = 0; j < indexed; j++) {
            if (--walk.budget < 0) break;
            const d = getOwnPropertyDescriptor(v, j);
            if (d !== undefined && hasOwn(d, "value")) todo[todo.length] = d.value;
          }
        } else if (isProxy(v)) {
          // a Proxy of anything but a plain object could list any number of keys (one of a Uint8Array or a String
          // object, one a byte or a character: 8-11 s for 10^7), and no listing can be stopped once begun; the encoder
          // reads a Proxy as a plain object only
          const proto = getPrototypeOf(v);
          if (proto !== objectPrototype && proto !== null) continue;
        }
        // its named properties (an array's, a Map's...: strict refuses such a value for them); the listing includes
        // the indices again, so only when what is left of the budget covers them
        if (indexed > walk.budget) continue;
        const keys = ownKeys(v);
        const n = min(keys.length, max(walk.budget, 0));
        walk.budget -= keys.length;
        for (let j = 0; j < n; j++) {
          const k = keys[j]!;
          if (typeof k === "string" && indexed > 0 && isIndexKey(k)) continue;
          const d = getOwnPropertyDescriptor(v, k);
          if (d !== undefined && hasOwn(d, "value")) todo[todo.length] = d.value;
        }
      } catch (e) {
        // the JavaScript stack ran out (a call at its end was refused for it): what is left is walked on from the top,
        // from this value, as if it had not been begun (`last`: a trap that throws a RangeError of its own there again
        // is left out as any other; retried each time, it held the event loop in microtasks for good: pass 76a)
        let out = !last;
        if (out) {
          try {
            out = isRangeError(e);
          } catch { /* no room even to look: the stack's end */ }
        }
        if (out) {
          walk.budget = budget;
          try {
            todo.length = listed; // a runtime call in V8: where it cannot be made, what v listed is looked at twice
          } catch { /* */ }
          return left;
        }
        // else a Proxy trap threw: what it hides stays out of reach
      }
    }
    if (todo.length > 0) todo[todo.length - 1] = undefined; // the last one too: the list holds nothing once done
    return undefined;
  } finally {
    walkInProgress = outer;
  }
}

/** The state of {@link handleInnerPromises}: what it has seen and what is left of its budget. */
export class PromiseWalk {
  readonly seen: Set<object> = new NativeSet<object>();
  budget = 100_000;
}

/** Whether a property key is an array index ("0", "1"..., up to 2^32 - 2). */
function isIndexKey(k: string): boolean {
  const n = NativeNumber(k);
  return isInteger(n) && n >= 0 && n < 4294967295 && `${n}` === k;
}

/** A refused value (`v`), or what is left of a walk (`left`), newest first. */
type Refused = { v: unknown; left: WalkLeft | undefined; next: Refused } | undefined;

/**
 * The values calog refused or dropped whose Promises are still to be handled ({@link handleInnerPromises}), and their
 * walks: one list for the whole module ({@link refusals}), so any later call into calog, of any runtime, walks what the
 * stack's end left (one per runtime left a disposed runtime's for good, and one whose runtime was never called again:
 * pass 83a). A failure site records its value with a plain store, which fits where no call does (at the JavaScript
 * stack's end every step of a walk threw, and no rejection was handled: pass 73b), queues a microtask to walk it, then
 * walks it.
 */
class Refusals {
  /** What is still to be walked. */
  list: Refused = undefined;

  /** A microtask will walk what {@link list} records (see {@link later}). */
  queued = false;

  /** A walk of what {@link list} records is on the stack (see {@link walk}). */
  walking = false;

  /**
   * Records `v` as refused and walks what is recorded; refused while a walk runs (a call a trap it runs made), not
   * walked (see {@link walkInProgress}). Never throws.
   */
  add(v: unknown): void {
    if (walkInProgress !== undefined || this.walking) return; // inWalk(), with no call (see below)
    // a plain store first, with no call: at the stack's end it is all that fits (pass 73b; see the warm-up below `refusals`)
    this.list = { v, left: undefined, next: this.list };
    this.walkNow();
  }

  /**
   * Walks what is recorded, and first queues the microtask that walks what this walk leaves (where the stack ends,
   * entering the walk can fail where queueing does not: it left the record for a next call that may never come, pass
   * 83a). Never throws.
   */
  walkNow(): void {
    if (!this.queued) {
      try {
        enqueue(this.later);
        this.queued = true;
      } catch { /* no room: the walk tries again, and the next call into calog */ }
    }
    if (this.walking) return; // a walk of this list is on the stack (not in a trap: see add): it takes this one next
    try {
      this.walk(false);
    } catch { /* no room to begin: the microtask or the next call into calog walks it */ }
  }

  /** Records what is left of a walk (see {@link handleInnerPromises}) and walks what is recorded. Never throws. */
  addLeft(left: WalkLeft): void {
    this.list = { v: undefined, left, next: this.list };
    this.walkNow();
  }

  /**
   * `e`, a refusal of a call made before its arguments were read (a disposed context, runtime or function, a bad
   * name or option, too many arguments, `new`, a call from a getter or trap): the Promises among `args` are handled
   * first, as those of a call whose arguments the encoder refused (they went unhandled: passes 77a, 82b).
   */
  refusing<E>(e: E, args: ArrayLike<unknown>): E {
    this.add(args); // an arguments object too: its items are its own data properties
    return e;
  }

  /**
   * Walks the values {@link list} records. A call into calog from a trap the walk runs is refused, on every runtime
   * (see {@link walkInProgress}). Each record is taken off the list before its walk, and one recorded meanwhile is
   * taken next in this loop (a record walked again at each level a trap nested: 61 s for one call, pass 77a). Where
   * the stack runs out, what is left stays recorded for the `last` walk (see {@link walkOn}), from a microtask, at the
   * top of the stack; where not even a microtask could be queued, the next call into calog walks and queues again
   * ({@link pending}).
   */
  walk(last: boolean): void {
    if (this.walking) return;
    this.walking = true;
    try {
      for (let r = this.list; r !== undefined; r = this.list) {
        this.list = r.next;
        let done = false;
        try {
          const left = (r.left ??= new WalkLeft(ownList(r.v), 0, false, new PromiseWalk()));
          done = walkOn(left, last) === undefined;
        } catch { /* no room to begin it */ }
        if (!done && !last) {
          r.next = this.list; // back on top, where it stopped
          this.list = r;
          if (!this.queued) {
            try {
              enqueue(this.later);
              this.queued = true;
            } catch { /* no room for that either: the next call into calog walks it */ }
          }
          return;
        }
      }
    } finally {
      this.walking = false; // a plain store no stack overflow can skip
    }
  }

  /**
   * Walks what the stack's end left recorded with no microtask queued to walk it: at the next call into calog, or the
   * runtime's dispose (which left them for good: pass 79a); if this is no further from the stack's end, a microtask is
   * queued. Never throws.
   */
  pending(): void {
    if (this.list === undefined || this.queued) return;
    try {
      this.walk(false);
    } catch { /* no room: left recorded */ }
  }

  /** {@link walk}'s last walk, from a microtask: at the top of the stack. */
  readonly later = (): void => {
    this.queued = false;
    if (this.list !== undefined) this.walk(true);
  };
}

/** Every refused value of every runtime, and of a Runtime constructor's refused options (see Refusals). */
export const refusals = new Refusals();
// V8 makes an object literal's first copy in its runtime, which checks the stack: the first refusal recorded where the
// stack ends threw there, before its record was stored (pass 90b). Each record literal is made once as calog loads.
refusals.add(undefined);
refusals.addLeft(new WalkLeft(ownList(undefined), 0, false, new PromiseWalk()));
export type { Refusals };
