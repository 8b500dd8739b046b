/**
 * One test API for both runtimes: `bun test` and `deno test` run the same files through this shim.
 * @module
 */
import assert from "node:assert/strict";
import { CalogScriptError, CalogValueError, type Context, type EngineName, type Runtime, type ScriptFunction } from "../bindings/mod.ts";
import { backend } from "../src/backend.ts";

export const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";
export const runtimeName = isDeno ? "deno" : "bun";

type Fn = () => void | Promise<void>;
type BunTest = (name: string, fn: Fn, timeout?: number) => void;
type DenoLike = {
  test(def: { name: string; fn: Fn; sanitizeOps?: boolean; sanitizeResources?: boolean }): void;
};

let bunTest: BunTest | undefined;
if (!isDeno) {
  // computed specifier: Deno's type checker never sees bun:test
  const mod = (await import(["bun", "test"].join(":"))) as { test: BunTest };
  bunTest = mod.test;
}

/** Declares a test. `timeoutMs` applies under Bun (Deno has no per-test timeout). */
export function test(name: string, fn: Fn, timeoutMs = 60_000): void {
  if (bunTest) bunTest(name, fn, timeoutMs);
  // Deno's resource sanitizer counts FFI callbacks owned by runtimes that are disposed by GC-driven
  // finalizers in later tests; every test disposes what it creates, which the leak tests check directly.
  else (globalThis as unknown as { Deno: DenoLike }).Deno.test({ name, fn, sanitizeResources: false });
}

/** Forces a full GC where the runtime allows it (Bun.gc; Deno with --v8-flags=--expose-gc). */
export function gc(): void {
  const g = globalThis as { Bun?: { gc(full: boolean): void }; gc?: () => void };
  if (g.Bun) g.Bun.gc(true);
  else if (g.gc) g.gc();
}

/** Resident set size in bytes. */
export function rss(): number {
  const g = globalThis as { Deno?: { memoryUsage(): { rss: number } }; process?: { memoryUsage(): { rss: number } } };
  return g.Deno ? g.Deno.memoryUsage().rss : g.process!.memoryUsage().rss;
}

/** The two kinds of context: on the host thread (`thread: false`) and on its own thread. */
export const modes = [false, true] as const;
export const where = (thread: boolean): string => (thread ? "own thread" : "host thread");

/** Runs f: what it threw (undefined if nothing) and how long it took, in ms. */
export function timed(f: () => unknown): { err: unknown; ms: number } {
  const t0 = performance.now();
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  return { err, ms: performance.now() - t0 };
}

/** What f threw (a test failure if it returned). */
export function caught(f: () => unknown): Error & { value?: unknown; cause?: unknown } {
  try {
    f();
  } catch (e) {
    return e as Error & { value?: unknown; cause?: unknown };
  }
  throw new Error("expected a throw");
}

/** Asserts that run() is refused with a CalogValueError (strict), naming `what` and what would be `lost` otherwise. */
export function refusedUnderStrict(run: () => unknown, what: string, lost: string): void {
  let r: unknown;
  try {
    r = run();
  } catch (e) {
    assert.ok(e instanceof CalogValueError, `${what}: ${e}`);
    return;
  }
  assert.fail(`${what} crossed under strict as ${JSON.stringify(r instanceof Map ? [...r] : r)}: ${lost} was dropped without a CalogValueError`);
}

/** Every engine, in one order. */
export const allEngines: readonly EngineName[] = ["lua", "js", "squirrel"];
/** The source that calls global `name` with no argument and returns what it returns, per engine. */
export const callIt: Record<EngineName, (name: string) => string> = {
  lua: (n) => `return ${n}()`,
  js: (n) => `${n}()`,
  squirrel: (n) => `return ${n}()`,
};

/** The source that calls global `name` with the one argument `k` and returns what it returns, per engine. */
const callWith = (engine: EngineName, name: string, k: number): string => callIt[engine](name).replace(`${name}()`, `${name}(${k})`);

/** A global `f(g, ...)` in each engine that calls g with the rest of its arguments (one more hop). */
export const relay: Record<EngineName, string> = {
  lua: "function f(g, ...) return g(...) end",
  js: "function f(g) { return g.apply(null, Array.prototype.slice.call(arguments, 1)); }",
  squirrel: "function f(g, ...) { local a = [this]; a.extend(vargv); return g.acall(a); }",
};

/**
 * The errors of a host function `hthrow(k)` that throws `thrown[k]`, called from every engine on one thread kind:
 * each a CalogScriptError whose cause is what was thrown (fails otherwise); `label` names engine and k.
 */
export function hostThrows(rt: Runtime, thread: boolean, thrown: readonly unknown[]): { label: string; e: CalogScriptError; k: number }[] {
  rt.register("hthrow", (k) => {
    throw thrown[k as number];
  });
  const out: { label: string; e: CalogScriptError; k: number }[] = [];
  for (const engine of allEngines) {
    using c = rt.createContext(engine, { thread });
    for (let k = 0; k < thrown.length; k++) {
      const label = `${engine}: throw ${k}`;
      const e = scriptError(() => c.eval(callWith(engine, "hthrow", k)), label);
      assert.ok("cause" in e && e.cause === thrown[k], `${label}: the cause is what was thrown`);
      out.push({ label, e, k });
    }
  }
  return out;
}

/** The same for an async host function `p(k)` whose Promise rejects with `rejected[k]`, awaited by evalAsync on own-thread contexts. */
export async function hostRejections(rt: Runtime, rejected: readonly unknown[]): Promise<{ label: string; e: CalogScriptError; k: number }[]> {
  rt.register("p", (k) => Promise.reject(rejected[k as number]));
  const out: { label: string; e: CalogScriptError; k: number }[] = [];
  for (const engine of allEngines) {
    using c = rt.createContext(engine, { thread: true });
    for (let k = 0; k < rejected.length; k++) {
      const label = `${engine}: rejection ${k}`;
      let e: unknown;
      try {
        await c.evalAsync(callWith(engine, "p", k));
      } catch (x) {
        e = x;
      }
      assert.ok(e instanceof CalogScriptError, `${label}: ${e}`);
      out.push({ label, e, k });
    }
  }
  return out;
}

/** The CalogScriptError `f` throws (fails, naming `what`, on anything else). */
/**
 * The report of `src` thrown in a timer callback of a fresh `engine` context, as rt's stderr sink pushed it into `seen`
 * (a string, or the bytes), and the line an eval's CalogScriptError of the same throw makes (README, "Callback errors").
 */
export async function reportAndEval(rt: Runtime, seen: unknown[], engine: EngineName, src: string, thread: boolean): Promise<{ report: unknown; want: string }> {
  seen.length = 0;
  const ctx = rt.createContext(engine, { thread });
  try {
    const e = caught(() => ctx.eval(src));
    ctx.eval(engine === "lua" ? `timer.after(1, function() ${src} end)` : `timer.after(1, function () { ${src}; })`);
    for (let i = 0; i < 40 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    return { report: seen[0], want: `calog: timer.after callback failed: ${e.message}\n` };
  } finally {
    ctx.dispose();
  }
}

/** Seeded doubles of every magnitude: every finite power of two, then `n` random bit patterns (finite, either sign). */
export function seededDoubles(n: number): number[] {
  const out: number[] = [];
  for (let e = -1074; e <= 1023; e++) out.push(2 ** e);
  const view = new DataView(new ArrayBuffer(8));
  let seed = 0x57a;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  while (out.length < 2098 + n) {
    view.setUint32(0, next() ^ (next() << 16));
    view.setUint32(4, next() ^ (next() << 16));
    const x = view.getFloat64(0);
    if (Number.isFinite(x)) out.push(x);
  }
  return out;
}

export function scriptError(f: () => unknown, what: string): CalogScriptError {
  const e = caught(f);
  assert.ok(e instanceof CalogScriptError, `${what}: ${e}`);
  return e;
}

/** Counts unhandled rejections (both runtimes' events) until stop() is called. */
export function watchUnhandled(): { count(): number; reasons: unknown[]; stop(): void } {
  const reasons: unknown[] = [];
  const onEvent = (e: Event) => {
    reasons.push((e as PromiseRejectionEvent).reason);
    e.preventDefault();
  };
  const onProcess = (reason: unknown) => void reasons.push(reason);
  const proc = (globalThis as { process?: { on(ev: string, f: (r: unknown) => void): void; off(ev: string, f: (r: unknown) => void): void } }).process;
  globalThis.addEventListener("unhandledrejection", onEvent);
  proc?.on("unhandledRejection", onProcess);
  return {
    count: () => reasons.length,
    reasons,
    stop: () => {
      globalThis.removeEventListener("unhandledrejection", onEvent);
      proc?.off("unhandledRejection", onProcess);
    },
  };
}

/** Runs `body`, waits a little, and gives the messages of the rejections it left unhandled meanwhile. */
export async function unhandledOf(body: () => void | Promise<void>): Promise<unknown[]> {
  const w = watchUnhandled();
  try {
    await body();
    await new Promise((r) => setTimeout(r, 30));
    return w.reasons.map((r) => (r as Error)?.message);
  } finally {
    w.stop();
  }
}

/**
 * Runs, in a process of its own, `setup` (which makes the contexts, with `rt` at hand) and then the call `call`,
 * printing how it stopped ("stopped after N ms: <error class>: <message>"), or "returned".
 */
export function stoppedCallChild(name: string, setup: string, call: string): Promise<{ code: number | null; out: string }> {
  return runScriptChild(name, `
    const rt = new Runtime({ output: "ignore" });
    ${setup}
    const t0 = Date.now();
    let what = "returned";
    try { ${call}; } catch (e) { what = e.constructor.name + ": " + e.message; }
    console.log("stopped after " + (Date.now() - t0) + " ms: " + what);
    rt.dispose();
  `, 10_000);
}

/**
 * Runs `body` (a module that may use { Runtime } and anything else it names from calog's mod.ts, imported as `imports`)
 * in a process of its own (runChild: a crash or a hang fails the test, not the run), from a temporary file that is
 * removed afterwards.
 */
export async function runScriptChild(name: string, body: string, killMs: number, imports = "Runtime", stackKb?: number): Promise<{ code: number | null; out: string }> {
  const fs = await import("node:fs");
  const os = await import("node:os");
  const path = await import("node:path");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "calog-child-"));
  const file = path.join(dir, `${name}.ts`);
  const mod = new URL("../bindings/mod.ts", import.meta.url).href;
  fs.writeFileSync(file, `import { ${imports} } from ${JSON.stringify(mod)};\n${body}`);
  try {
    return await runChild(new URL(`file://${file}`), [], killMs, undefined, stackKb);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Runs the script `child` (a URL beside the test) with `args` in a process of its own, under the runtime running the
 * tests (Deno: --allow-ffi --allow-env --allow-read --v8-flags=--expose-gc), and resolves with its exit code (null
 * when killed after `killMs`), its stdout and stderr together, and how long it ran: for what could end the process
 * (an abort, a crash) or must (exiting by itself), so that neither stops the test run. nofile: its `ulimit -n`; stackKb:
 * its `ulimit -s` (its main thread's stack).
 */
export async function runChild(child: URL, args: string[], killMs = 60_000, nofile?: number, stackKb?: number): Promise<{ code: number | null; out: string; ms: number }> {
  const { spawn } = await import("node:child_process");
  const exe = isDeno ? (globalThis as unknown as { Deno: { execPath(): string } }).Deno.execPath() : process.execPath;
  const argv = isDeno
    ? ["run", "--allow-ffi", "--allow-env", "--allow-read", "--v8-flags=--expose-gc", child.pathname, ...args]
    : [child.pathname, ...args];
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    // nofile: the child's descriptor limit (`ulimit -n`), so what it counts does not depend on the machine
    const limits = (nofile === undefined ? "" : `ulimit -n ${nofile} && `) + (stackKb === undefined ? "" : `ulimit -s ${stackKb} && `);
    const p = limits === ""
      ? spawn(exe, argv, { stdio: ["ignore", "pipe", "pipe"] })
      : spawn("sh", ["-c", `${limits}exec "$0" "$@"`, exe, ...argv], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout.on("data", (d: Uint8Array) => (out += String(d)));
    p.stderr.on("data", (d: Uint8Array) => (out += String(d)));
    const kill = setTimeout(() => p.kill("SIGKILL"), killMs);
    p.on("error", reject);
    p.on("exit", (code) => {
      clearTimeout(kill);
      resolve({ code, out, ms: Date.now() - t0 });
    });
  });
}

/** p, or a rejection after ms (so a hang fails the test instead of stalling the run). */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not settled after ${ms} ms`)), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

/**
 * Runs op at stack depths just above where the JavaScript stack runs out (the recursion goes as deep as it can, then
 * the frames unwinding try op from the deepest up: the first `skip` frames pass it on), one frame higher each time,
 * until op got into calog `tries` times (it did not throw a RangeError before) or `enough()` says so, so op's call
 * into calog, and the callbacks calog makes into JavaScript from inside it, meet the limit at every point. Returns
 * what op returned or threw, each time it got in. `before` runs ahead of each try, at this depth.
 */
export function atStackEdge(tries: number, op: () => unknown, o: { before?: () => void; enough?: () => boolean } = {}): unknown[] {
  const out: unknown[] = [];
  let done = false, skip = 0;
  let last: unknown;
  const probe = (): void => {
    try {
      probe();
    } catch { /* the stack's end */ }
    if (done || skip-- > 0) return;
    done = true;
    try {
      last = op();
    } catch (e) {
      last = e;
    }
  };
  for (let s = 0; out.length < tries && s < 20_000 && !(o.enough?.() ?? false); s += out.length === 0 ? 8 : 1) {
    o.before?.();
    done = false;
    skip = s;
    last = undefined;
    probe();
    if (done && !(last instanceof RangeError)) out.push(last);
  }
  return out;
}

/** A global `id` returning its argument, per engine. */
export const idSource = {
  lua: "function id(x) return x end",
  js: "function id(x) { return x }",
  squirrel: "function id(x) { return x }",
} as const;

/**
 * Registers `relay` (or `name`), a host function that calls `t` (whose body is `body`) in a new host-thread JavaScript context of
 * rt and lets its CalogScriptError go on, after handing it to `seen`: a host function passing a script's thrown value
 * on (the carried value's route).
 */
export function relayThrow(rt: Runtime, body: string, seen: (e: unknown) => void = () => {}, name = "relay"): void {
  const x = rt.createContext("js", { thread: false });
  x.eval(`function t() { ${body} }`);
  rt.register(name, () => {
    try {
      x.call("t");
    } catch (e) {
      seen(e);
      throw e;
    }
  });
}

/** Two host functions, relay and relay2, each passing on a null another script threw; what each saw. */
export function relayPair(rt: Runtime): { inner: unknown; inner2: unknown } {
  const seen: { inner: unknown; inner2: unknown } = { inner: undefined, inner2: undefined };
  relayThrow(rt, "throw null", (e) => (seen.inner = e));
  relayThrow(rt, "throw null", (e) => (seen.inner2 = e), "relay2");
  return seen;
}

/**
 * A JavaScript context whose global `lcall` is a Lua function value, `function callback(f) <luaBody> end`, so that
 * `lcall(g)` enters this context again through Lua (a nested entry); jsSource is evaluated in it first.
 */
export function jsThroughLua(rt: Runtime, thread: boolean, luaBody: string, jsSource: string): Context {
  const y = rt.createContext("js", { thread });
  const l = rt.createContext("lua", { thread });
  l.eval(`function callback(f) ${luaBody} end`);
  y.eval(`var lcall; function setL(f) { lcall = f; }\n${jsSource}`);
  using cb = l.getFunction("callback");
  y.call("setL", cb);
  return y;
}

const keepAndGet: Record<EngineName, string> = {
  lua: "function keep(f) held = f end function get() return 1 end",
  js: "function keep(f) { held = f; } function get() { return 1; }",
  squirrel: "function keep(f) { ::held <- f; } function get() { return 1; }",
};

/**
 * `n` contexts of `engine`, each holding a lent TypeScript function, whose handles are dropped here: only the function
 * `get` returned for each keeps it (once the garbage collector has taken the handles).
 */
export function forgottenContexts(rt: Runtime, engine: EngineName, n: number, thread = false): ScriptFunction[] {
  const out: ScriptFunction[] = [];
  for (let i = 0; i < n; i++) {
    const h = rt.createContext(engine, { thread });
    h.eval(keepAndGet[engine]);
    h.call("keep", (x: number) => x + i);
    out.push(h.getFunction("get"));
  }
  return out;
}

/** stackLeft() at the JavaScript engine's limit on this thread, found by a walk down to its RangeError. */
export function measureLimit(): number {
  const b = backend();
  let least = b.stackLeft();
  const walk = (d: number): void => {
    if ((d & 15) === 0) least = Math.min(least, b.stackLeft());
    walk(d + 1);
  };
  try {
    walk(0);
  } catch { /* the limit */ }
  return least;
}

/** Runs `op` with about `kb` KB of stack left above the JavaScript engine's limit (`limit`: see measureLimit). */
export function atRoom(limit: number, kb: number, op: () => void): void {
  const b = backend();
  let frames = 0;
  const go = (): void => {
    if (b.stackLeft() - limit > kb * 1024) {
      go(); // not `return go()`: JSC makes that a proper tail call in a module, which never goes deeper
      frames++;
      return;
    }
    op();
  };
  go();
  if (frames < 0) throw new Error("unreachable"); // keeps the count (and the frames) alive
}

/**
 * Calls `op` once, `off` frames above the JavaScript stack's end, each frame holding an array of `pad` numbers (vary it
 * to vary where the frames fall); what `op` threw, if it threw (null for a thrown undefined), else undefined.
 */
export function atFramesFromEnd(off: number, pad: number, op: () => void): unknown {
  let n = 0, done = false, threw: unknown = undefined;
  const down = (): number => {
    const a = new Array<number>(pad).fill(off);
    try {
      down();
    } catch { /* the stack's end */ }
    if (!done && n++ >= off) {
      done = true;
      try {
        op();
      } catch (e) {
        threw = e ?? null;
      }
    }
    return a.length;
  };
  down();
  return threw;
}

/**
 * Source for a child script (see runScriptChild) with `rt` and `engine` in scope: pass 93a's drain near the stack's end
 * beside a host call. Two threaded contexts, one returning 1 and one calling an async host function that rejects, are
 * collected by rt.stats() near the JavaScript stack's end for `total` rounds; it leaves `hung` (the round a call never
 * settled, or -1), `rounds` and `fulfilled` (the calls that returned 1).
 */
export function drainBesideHostCallRounds(total: number): string {
  return `
      rt.register("bad", () => Promise.reject(new Error("rejected")));
      const a = rt.createContext(engine, { thread: true }), b = rt.createContext(engine, { thread: true });
      const ok = { lua: "return 1", js: "1", squirrel: "return 1;" }[engine];
      const calls = { lua: "return bad()", js: "bad()", squirrel: "return ::bad();" }[engine];
      let hung = -1, rounds = 0, fulfilled = 0;
      for (let round = 0; round < ${total} && hung < 0; round++, rounds++) {
        const ps = [a.evalAsync(ok), b.evalAsync(calls)];
        const settled = [false, false];
        ps.forEach((p, i) => p.then((v) => { settled[i] = true; if (v === 1) fulfilled++; }, () => { settled[i] = true; }));
        const t0 = Date.now();
        while (Date.now() - t0 < 5) { /* a finishes, b's host call is queued */ }
        let fromEnd = 0, done = false;
        const pad = round % 7;
        const down = () => {
          const x = new Array(pad + 1).fill(round);
          try { down(); } catch { /* the stack's end */ }
          if (!done && fromEnd++ >= round % 40) { done = true; try { rt.stats(); } catch { /* */ } }
          return x.length;
        };
        down();
        await Promise.race([Promise.allSettled(ps), new Promise((r) => setTimeout(r, 2000))]);
        if (settled.includes(false)) hung = round;
      }
  `;
}
