// Pass 90a: (1) a host function's Promise whose `then` is not the built-in one (a subclass's: p-lazy starts its work
// in `then`, another maps its value) was followed with the built-in `then` since ce0d51e: a threaded script got nil
// for a lazy Promise (its work never ran, its rejection was lost) and the unmapped value for a mapping one, where
// JavaScript's await gives 42 and { wrapped: 7 }. (2) The result's `then` was read a second time, outside the guard
// (resolve(p) reads it again): a getter there ran twice where await runs it once, and its calls into calog went
// through (a context disposed under the call). Now `then` is read once, under the guard, and called from a job.
// Pass 90b: a host function's result calog refused or dropped near the JavaScript stack's end (the host function
// ran, and calog holds what it returned) kept a rejection unhandled: (1) the stack ran out between the function's
// return and the walk (entering refusals.add, deferHost, begin, the encoder; Bun and Deno, every engine, both thread
// kinds: 1 to 71 of 200,000 calls), (2) a walk resumed there forgot that its first value was still to be looked at
// (lenient, Bun: the same one or two of every 20,000), (3) V8 threw making the first copy of the record's object
// literal (Deno: one per process). The script was also told the function "could not run" though it had.
// Each test failed at 22a7fe6.
import assert from "node:assert/strict";
import { CalogError, type EngineName, Runtime } from "../bindings/mod.ts";
import { modes, test, unhandledOf, where } from "./harness.ts";

const engines: EngineName[] = ["lua", "js", "squirrel"];
const callGet = (engine: EngineName, f: string): string => (engine === "js" ? `${f}()` : `return ${f}()`);

/** A Promise whose work starts when its `then` is first called (p-lazy's pattern). */
class Lazy<T> extends Promise<T> {
  #exec: (res: (v: T) => void, rej: (e: unknown) => void) => void;
  #p: Promise<T> | undefined;
  started = false;
  constructor(exec: (res: (v: T) => void, rej: (e: unknown) => void) => void) {
    super((r) => r(undefined as T));
    this.#exec = exec;
  }
  static override get [Symbol.species]() {
    return Promise;
  }
  override then<A = T, B = never>(f?: ((v: T) => A | PromiseLike<A>) | null, r?: ((e: unknown) => B | PromiseLike<B>) | null): Promise<A | B> {
    this.started = true;
    this.#p ??= new Promise<T>(this.#exec);
    return this.#p.then(f, r);
  }
}

/** A Promise whose `then` maps its value. */
class Mapped<T> extends Promise<T> {
  static override get [Symbol.species]() {
    return Promise;
  }
  override then<A = T, B = never>(f?: ((v: T) => A | PromiseLike<A>) | null, r?: ((e: unknown) => B | PromiseLike<B>) | null): Promise<A | B> {
    return super.then((v) => (f ? f({ wrapped: v } as T) : v) as A, r);
  }
}

test("a host function's Promise subclass is followed through its own then, as await follows it (threaded, every engine)", async () => {
  const lost = await unhandledOf(async () => {
    for (const engine of engines) {
      using rt = new Runtime({ output: "ignore" });
      rt.register("lazy", () => new Lazy<number>((res) => setTimeout(() => res(42), 5)));
      rt.register("lazyRej", () => new Lazy<number>((_, rej) => setTimeout(() => rej(new Error("lazy rejection")), 5)));
      rt.register("mapped", () => new Mapped<number>((res) => res(7)));
      using ctx = rt.createContext(engine, { thread: true });
      assert.equal(await ctx.evalAsync(callGet(engine, "lazy")), 42, engine);
      await assert.rejects(ctx.evalAsync(callGet(engine, "lazyRej")), (e: Error) => (e.cause as Error)?.message === "lazy rejection", engine);
      assert.deepEqual(await ctx.evalAsync(callGet(engine, "mapped")), { wrapped: 7 }, engine);
    }
    // what JavaScript's own await gives for the same
    assert.equal(await new Lazy<number>((res) => res(42)), 42);
    assert.deepEqual(await new Mapped<number>((res) => res(7)), { wrapped: 7 });
  });
  assert.deepEqual(lost, []);
});

test("a lazy Promise a host-thread script cannot wait for still has its work run, and its rejection handled", async () => {
  const lost = await unhandledOf(async () => {
    for (const engine of engines) {
      using rt = new Runtime({ output: "ignore" });
      const made: Lazy<number>[] = [];
      rt.register("lazyRej", () => {
        const p = new Lazy<number>((_, rej) => setTimeout(() => rej(new Error("lazy rejection")), 5));
        made.push(p);
        return p;
      });
      using ctx = rt.createContext(engine, { thread: false });
      assert.throws(() => ctx.eval(callGet(engine, "lazyRej")), /cannot wait for/);
      await new Promise((r) => setTimeout(r, 30));
      assert.equal(made.length, 1);
      assert.equal(made[0]!.started, true, `${engine}: "the Promise's work still runs" (README)`);
    }
  });
  assert.deepEqual(lost, []);
});

test("a host function result's then getter runs once, under the guard, in both thread kinds (every engine)", async () => {
  for (const thread of [false, true]) {
    for (const engine of engines) {
      using rt = new Runtime({ output: "ignore" });
      using other = rt.createContext("lua", { thread: false });
      let reads = 0;
      const calls: string[] = [];
      rt.register("get", () => {
        const o = {};
        Object.defineProperty(o, "then", {
          get() {
            reads++;
            try {
              calls.push(`went through: ${other.eval("return 1 + 1")}`);
            } catch (e) {
              calls.push(`refused: ${(e as Error).message}`);
            }
            return (res: (v: unknown) => void) => res(5);
          },
        });
        return o;
      });
      using ctx = rt.createContext(engine, { thread });
      if (thread) assert.equal(await ctx.evalAsync(callGet(engine, "get")), 5);
      else assert.throws(() => ctx.eval(callGet(engine, "get")), /cannot wait for/);
      await new Promise((r) => setTimeout(r, 10));
      assert.equal(reads, 1, `${engine} (${thread ? "own" : "host"} thread): \`then\` read once, as await reads it`);
      assert.equal(calls.length, 1);
      assert.match(calls[0]!, /^refused: calog was called while marshalling a value/);
    }
  }
});

// Each kind: what the host function returns, and the policy. `inner` is the rejected Promise calog must handle.
const kinds = {
  // strict refuses a Promise inside the result
  value: { policy: "strict", make: (inner: Promise<never>): unknown => ({ deep: [inner] }) },
  // a host-thread script cannot wait for it, a threaded one's synchronous call neither: the value it resolves with is dropped
  promise: { policy: "strict", make: (inner: Promise<never>): unknown => Promise.resolve({ deep: [inner] }) },
  // lenient sends the Promise as nil and walks it
  lenient: { policy: "lenient", make: (inner: Promise<never>): unknown => ({ deep: [inner] }) },
} as const;
const idOf: Record<EngineName, string> = {
  lua: "function g() return get() end",
  js: "function g() { return get(); }",
  squirrel: "function g() { return ::get(); }",
};

for (const thread of modes) {
  for (const engine of engines) {
    test(`a host function's result refused or dropped at the stack's end keeps no rejection unhandled (${engine}, ${where(thread)})`, async () => {
      for (const [kind, { policy, make }] of Object.entries(kinds)) {
        const N = 10_000;
        const inner: Promise<never>[] = [];
        const values: unknown[] = [];
        const ran = new Uint8Array(N);
        const messages = new Set<string>();
        const lost = await unhandledOf(async () => {
          using rt = new Runtime({ policy, output: "ignore" });
          using ctx = rt.createContext(engine, { thread });
          ctx.eval(idOf[engine]);
          for (let i = 0; i < N; i++) {
            const p = Promise.reject(new Error(`inner ${i}`));
            inner.push(p);
            values.push(make(p));
          }
          let next = 0, cur = 0;
          rt.register("get", () => {
            ran[cur] = 1; // stores only: nothing here can meet the stack's end
            return values[cur];
          });
          const attempt = (): void => {
            if (next >= N) return;
            cur = next++;
            try {
              ctx.call("g");
            } catch (e) {
              if (e instanceof CalogError && ran[cur] === 1) messages.add(e.message.replace(/\d+/g, "N").slice(0, 120));
            }
          };
          const descend = (): void => {
            try {
              descend();
            } catch { /* the stack's end */ }
            attempt();
          };
          while (next < N) descend();
          // what calog was never given (the host function did not run) is the caller's
          for (let i = 0; i < N; i++) if (ran[i] === 0) inner[i]!.catch(() => {});
        });
        assert.deepEqual(lost, [], `${kind}: ${lost.length} rejections calog took went unhandled`);
        for (const m of messages) assert.doesNotMatch(m, /could not run: the host/, "it ran");
      }
    }, 120_000);
  }
}
