/**
 * The cases and, for each, every implementation: calog and what users pick today (wasmoon: Lua 5.4 on
 * WASM; fengari: Lua in pure JS; quickjs-emscripten for the JavaScript engines), each through its own
 * fastest idiomatic API, each checked to return the same answer so that no peer is measured doing less.
 * @module
 */
import { CalogError, type Context, Runtime, type ScriptFunction, type Value } from "../bindings/mod.ts";
import { ABI_VERSION } from "../bindings/common.ts";
import fengari from "fengari";
import { getQuickJS, type QuickJSContext, type QuickJSHandle } from "quickjs-emscripten";
import { readFileSync } from "node:fs";
import { LuaFactory } from "wasmoon";
import { type CaseSpec, NotAvailable, type Op, type RowSpec } from "./measure.ts";
import type { Floor } from "./platform.ts";

const read = (rel: string): string => readFileSync(new URL(rel, import.meta.url), "utf8");

export const LUA_SRC = read("./scripts/bench.lua");
export const JS_SRC = read("./scripts/bench.js");
export const SQUIRREL_SRC = read("./scripts/bench.nut");
export const NESTED: Value = JSON.parse(read("./nested.json"));
/** The same chunk broker_bench.c evaluates. */
export const EVAL_CHUNK = "local t = {} for i = 1, 10 do t[i] = i * 2 end return #t";
export const LOOP_N = 1000;
const LOOP_SUM = (LOOP_N * (LOOP_N + 1)) / 2 + LOOP_N; // sum of hostinc(i) = i + 1
const FIB_N = 30;
const FIB_30 = 832040;

// ---- checks ---------------------------------------------------------------------------------------
export function deepEqual(a: unknown, b: unknown, path = "$"): string | null {
  if (typeof a === "number" && typeof b === "number") return a === b ? null : `${path}: ${a} != ${b}`;
  if (typeof a !== typeof b) return `${path}: ${typeof a} != ${typeof b}`;
  if (a === null || b === null || typeof a !== "object") return a === b ? null : `${path}: ${String(a)} != ${String(b)}`;
  if (Array.isArray(a) !== Array.isArray(b)) return `${path}: array vs object`;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    if (a.length !== bb.length) return `${path}: length ${a.length} != ${bb.length}`;
    for (let i = 0; i < a.length; i++) {
      const d = deepEqual(a[i], bb[i], `${path}[${i}]`);
      if (d) return d;
    }
    return null;
  }
  const ka = Object.keys(a as object).sort(), kb = Object.keys(b as object).sort();
  if (ka.join("\0") !== kb.join("\0")) return `${path}: keys {${ka}} != {${kb}}`;
  for (const k of ka) {
    const d = deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`);
    if (d) return d;
  }
  return null;
}
const is = (want: unknown) => (r: unknown) => (r === want ? null : `got ${String(r)}, want ${String(want)}`);
const nested = (r: unknown) => deepEqual(r, NESTED);

// ---- calog ----------------------------------------------------------------------------------------
export const calog = new Runtime();
calog.register("hostinc", (x) => (x as number) + 1);

const NA_CODES = new Set(["ERR_ENGINE", "ERR_UNSUPPORTED"]);
const contexts = new Map<string, Context | Error>();

/** A calog context of `engine`, created once; a missing engine or thread layer becomes NotAvailable. */
function calogContext(engine: "lua" | "js" | "squirrel", thread: boolean): Context {
  const key = `${engine}:${thread}`;
  let c = contexts.get(key);
  if (c === undefined) {
    try {
      const ctx = calog.createContext(engine, { thread });
      const src = engine === "lua" ? LUA_SRC : engine === "js" ? JS_SRC : SQUIRREL_SRC;
      const r = ctx.eval(src, { chunkName: `bench.${engine}` }) as unknown;
      if (r instanceof Promise) throw new Error("eval returned a Promise: await it in calogContext first");
      c = ctx;
    } catch (e) {
      if (e instanceof CalogError && NA_CODES.has(e.code)) {
        c = new NotAvailable(`not available yet (${e.code}: ${e.message})`);
      } else {
        c = e instanceof Error ? e : new Error(String(e));
      }
    }
    contexts.set(key, c);
  }
  if (c instanceof Error) throw c;
  return c;
}

/** Own-thread contexts may eval asynchronously: set them up before the cases run. */
export async function prepareThreaded(): Promise<void> {
  try {
    const ctx = calog.createContext("lua", { thread: true });
    await (ctx.eval(LUA_SRC, { chunkName: "bench.lua" }) as unknown); // may answer with a Promise
    contexts.set("lua:true", ctx);
  } catch (e) {
    contexts.set(
      "lua:true",
      e instanceof CalogError && NA_CODES.has(e.code)
        ? new NotAvailable(`not available yet (${e.code}: ${e.message})`)
        : e instanceof Error ? e : new Error(String(e)),
    );
  }
}

function calogFn(engine: "lua" | "js" | "squirrel", thread: boolean, name: string): ScriptFunction {
  return calogContext(engine, thread).getFunction(name);
}

function calogRows(
  what: string,
  fn: string,
  args: () => unknown[],
  check: (r: unknown) => string | null,
  units?: number,
): RowSpec[] {
  const a = args();
  const shown = `(${a.length === 1 && typeof a[0] === "object" ? "nested" : a.map(String).join(", ")})`;
  return [
    {
      impl: "calog Lua (host thread)",
      role: "calog",
      primary: true,
      api: `f = ctx.getFunction("${fn}"); f${shown}`,
      units,
      make: (): Op => {
        const f = calogFn("lua", false, fn);
        const argv = args();
        return { run: () => f(...argv), check, close: () => f.dispose() };
      },
    },
    {
      impl: "calog Lua (host thread)",
      role: "calog",
      api: "ctx.call(...)",
      units,
      make: (): Op => {
        const ctx = calogContext("lua", false);
        const argv = args();
        return { run: () => ctx.call(fn, ...argv), check };
      },
    },
    {
      impl: "calog Lua (own thread)",
      role: "calog",
      api: `f${shown}, blocking  (createContext("lua", { thread: true }))`,
      units,
      make: (): Op => {
        const f = calogFn("lua", true, fn);
        const argv = args();
        return { run: () => f(...argv), check, close: () => f.dispose() };
      },
    },
    {
      impl: "calog Lua (own thread)",
      role: "calog",
      api: `await f.callAsync${shown}  (createContext("lua", { thread: true }))`,
      units,
      make: (): Op => {
        const f = calogFn("lua", true, fn);
        const argv = args();
        return { run: () => f.callAsync(...argv), check, close: () => f.dispose() }; // a Promise: awaited per call
      },
    },
  ].map((r) => ({ ...r, impl: r.impl, api: r.api.replace("...", what) }) as RowSpec);
}

// ---- wasmoon --------------------------------------------------------------------------------------
type WasmoonEngine = Awaited<ReturnType<LuaFactory["createEngine"]>>;
let wasmoon: WasmoonEngine | undefined;
export async function prepareWasmoon(): Promise<void> {
  // enableProxy: false -> JS objects cross as Lua tables (a copy, as in calog), not as proxies to JS.
  wasmoon = await new LuaFactory().createEngine({ enableProxy: false });
  wasmoon.global.set("hostinc", (x: number) => x + 1);
  await wasmoon.doString(LUA_SRC);
}
function wasmoonFn(name: string): (...a: unknown[]) => unknown {
  return wasmoon!.global.get(name) as (...a: unknown[]) => unknown;
}
const WASMOON = "wasmoon 1.16.0 (Lua 5.4, WASM)";

// ---- fengari --------------------------------------------------------------------------------------
// fengari-interop is not in the pinned set: the lua/lauxlib API is fengari's own fastest path anyway.
// deno-lint-ignore no-explicit-any
const { lua, lauxlib, lualib, to_luastring } = fengari as any;
const FENGARI = "fengari 0.1.5 (Lua 5.3, pure JS)";
// deno-lint-ignore no-explicit-any
let L: any;
const fengariRefs = new Map<string, number>();
export function prepareFengari(): void {
  L = lauxlib.luaL_newstate();
  lualib.luaL_openlibs(L);
  // deno-lint-ignore no-explicit-any
  lua.lua_pushjsfunction(L, (l: any) => {
    lua.lua_pushinteger(l, lua.lua_tointeger(l, 1) + 1);
    return 1;
  });
  lua.lua_setglobal(L, to_luastring("hostinc"));
  if (lauxlib.luaL_dostring(L, to_luastring(LUA_SRC)) !== lua.LUA_OK) throw new Error(lua.lua_tojsstring(L, -1));
  for (const name of ["add", "echo", "fib", "loopHost", "callHost"]) {
    lua.lua_getglobal(L, to_luastring(name));
    fengariRefs.set(name, lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX));
  }
}
function fengariCall(name: string, push: () => number, take: () => unknown): () => unknown {
  const ref = fengariRefs.get(name)!;
  return () => {
    lua.lua_rawgeti(L, lua.LUA_REGISTRYINDEX, ref);
    const n = push();
    if (lua.lua_pcall(L, n, 1, 0) !== lua.LUA_OK) {
      const msg = lua.lua_tojsstring(L, -1);
      lua.lua_pop(L, 1);
      throw new Error(msg);
    }
    const r = take();
    lua.lua_pop(L, 1);
    return r;
  };
}
/** JS value -> Lua value on the fengari stack: the same copy calog's codec makes. */
function fengariPush(v: unknown): void {
  switch (typeof v) {
    case "number":
      if (Number.isInteger(v)) lua.lua_pushinteger(L, v);
      else lua.lua_pushnumber(L, v);
      return;
    case "string": lua.lua_pushstring(L, to_luastring(v)); return;
    case "boolean": lua.lua_pushboolean(L, v); return;
    case "object":
      if (v === null) return lua.lua_pushnil(L);
      if (Array.isArray(v)) {
        lua.lua_createtable(L, v.length, 0);
        for (let i = 0; i < v.length; i++) {
          fengariPush(v[i]);
          lua.lua_rawseti(L, -2, i + 1);
        }
        return;
      } else {
        const keys = Object.keys(v);
        lua.lua_createtable(L, 0, keys.length);
        for (const k of keys) {
          lua.lua_pushstring(L, to_luastring(k));
          fengariPush((v as Record<string, unknown>)[k]);
          lua.lua_rawset(L, -3);
        }
        return;
      }
    default: lua.lua_pushnil(L);
  }
}
/** Lua value at idx -> JS, by calog's rules (sequence -> Array, string keys -> object). */
function fengariTake(idx: number): unknown {
  switch (lua.lua_type(L, idx)) {
    case lua.LUA_TNUMBER: return lua.lua_isinteger(L, idx) ? lua.lua_tointeger(L, idx) : lua.lua_tonumber(L, idx);
    case lua.LUA_TSTRING: return lua.lua_tojsstring(L, idx);
    case lua.LUA_TBOOLEAN: return lua.lua_toboolean(L, idx);
    case lua.LUA_TTABLE: {
      const t = lua.lua_absindex(L, idx);
      const n = lua.lua_rawlen(L, t);
      const arr: unknown[] = [];
      for (let i = 1; i <= n; i++) {
        if (lua.lua_rawgeti(L, t, i) === lua.LUA_TNIL) {
          lua.lua_pop(L, 1);
          break;
        }
        arr.push(fengariTake(-1));
        lua.lua_pop(L, 1);
      }
      let obj: Record<string, unknown> | undefined;
      lua.lua_pushnil(L);
      while (lua.lua_next(L, t) !== 0) {
        if (lua.lua_isinteger(L, -2)) {
          const k = lua.lua_tointeger(L, -2);
          if (k >= 1 && k <= arr.length) {
            lua.lua_pop(L, 1);
            continue;
          }
        }
        obj ??= {};
        lua.lua_pushvalue(L, -2); // tojsstring converts in place: convert a copy of the key
        obj[lua.lua_tojsstring(L, -1)] = fengariTake(-2);
        lua.lua_pop(L, 2);
      }
      return obj ?? arr;
    }
    default: return null;
  }
}

// ---- quickjs-emscripten ---------------------------------------------------------------------------
const QUICKJS = "quickjs-emscripten 0.32.0 (WASM)";
let vm: QuickJSContext | undefined;
const qjsFns = new Map<string, QuickJSHandle>();
export async function prepareQuickJS(): Promise<void> {
  vm = (await getQuickJS()).newContext();
  vm.unwrapResult(vm.evalCode(JS_SRC, "bench.js")).dispose();
  for (const name of ["add", "fib"]) qjsFns.set(name, vm.getProp(vm.global, name));
}
function qjsCall(name: string, args: number[]): () => number {
  const f = qjsFns.get(name)!;
  const v = vm!;
  return () => {
    const hs = args.map((a) => v.newNumber(a));
    const r = v.callFunction(f, v.undefined, ...hs);
    for (const h of hs) h.dispose();
    const h = v.unwrapResult(r);
    const n = v.getNumber(h);
    h.dispose();
    return n;
  };
}

export function closePeers(): void {
  for (const h of qjsFns.values()) h.dispose();
  vm?.dispose();
  wasmoon?.global.close();
  if (L) lua.lua_close(L);
  for (const c of contexts.values()) if (!(c instanceof Error)) c.dispose();
  calog.dispose();
}

// ---- the cases ------------------------------------------------------------------------------------
export function cases(floor: Floor | Error, ffiName: string, callbackName: string): CaseSpec[] {
  const fengariAdd = fengariCall("add", () => {
    lua.lua_pushinteger(L, 1);
    lua.lua_pushinteger(L, 2);
    return 2;
  }, () => lua.lua_tointeger(L, -1));
  const engineRows = (fn: string, args: number[], want: number): RowSpec[] =>
    (["js", "squirrel"] as const).map((engine) => ({
      impl: `calog ${engine === "js" ? "JavaScript (Duktape)" : "Squirrel 3.1"} (host thread)`,
      role: "calog" as const,
      primary: true,
      api: `f = ctx.getFunction("${fn}"); f(${args.join(", ")})  (createContext("${engine}", { thread: false }))`,
      make: (): Op => {
        const f = calogFn(engine, false, fn);
        return { run: () => f(...args), check: is(want), close: () => f.dispose() };
      },
    }));
  const floorOp = (run: (f: Floor) => () => unknown, check: (r: unknown) => string | null) => (): Op => {
    if (floor instanceof Error) throw floor;
    return { run: run(floor), check };
  };

  return [
    {
      id: "js_to_lua_add",
      title: "(a) JS → Lua call: add(1, 2)",
      unit: "call",
      rows: [
        ...calogRows("\"add\", 1, 2", "add", () => [1, 2], is(3)),
        {
          impl: "libcalog, thinnest TS (bench-only)",
          role: "floor",
          api: "bench/rawcalog.ts: hand-encoded [LIST 2 I32 I32] + calogFnCallWire + read I32 from OUT",
          make: floorOp((f) => () => f.rawAdd(1, 2), is(3)),
        },
        {
          impl: WASMOON,
          role: "peer",
          api: `add = lua.global.get("add"); add(1, 2)`,
          make: (): Op => {
            const add = wasmoonFn("add");
            return { run: () => add(1, 2), check: is(3) };
          },
        },
        {
          impl: FENGARI,
          role: "peer",
          api: "lua_rawgeti(ref) + 2 × lua_pushinteger + lua_pcall + lua_tointeger",
          make: (): Op => ({ run: fengariAdd, check: is(3) }),
        },
      ],
    },
    {
      id: "lua_to_js_loop",
      title: `(b) Lua → JS call, per call: a Lua loop calls the host function hostinc(i) ${LOOP_N} times`,
      unit: `host call (one loopHost(${LOOP_N}) = ${LOOP_N} calls)`,
      rows: [
        ...calogRows(`"loopHost", ${LOOP_N}`, "loopHost", () => [LOOP_N], is(LOOP_SUM), LOOP_N).map((r) => ({
          ...r,
          api: r.api + `; hostinc = rt.register("hostinc", (x) => x + 1)`,
        })),
        {
          impl: "libcalog, thinnest TS (bench-only)",
          role: "floor",
          units: LOOP_N,
          api: `bench/rawcalog.ts: loopHost(${LOOP_N}) via calogFnCallWire; host callback reads I32 from OUT, writes I32 to IN`,
          make: floorOp((f) => () => f.rawLoop(LOOP_N), is(LOOP_SUM)),
        },
        {
          impl: WASMOON,
          role: "peer",
          units: LOOP_N,
          api: `lua.global.set("hostinc", (x) => x + 1); lua.global.get("loopHost")(${LOOP_N})`,
          make: (): Op => {
            const f = wasmoonFn("loopHost");
            return { run: () => f(LOOP_N), check: is(LOOP_SUM) };
          },
        },
        {
          impl: FENGARI,
          role: "peer",
          units: LOOP_N,
          api: `lua_pushjsfunction((L) => { lua_pushinteger(L, lua_tointeger(L, 1) + 1); return 1 })`,
          make: (): Op => ({
            run: fengariCall("loopHost", () => (lua.lua_pushinteger(L, LOOP_N), 1), () => lua.lua_tointeger(L, -1)),
            check: is(LOOP_SUM),
          }),
        },
      ],
    },
    {
      id: "lua_to_js_roundtrip",
      title: "(b') Lua → JS, one round trip: JS calls Lua callHost(5), which calls hostinc(5) once (JS → Lua → JS → Lua → JS)",
      unit: "round trip",
      rows: [
        ...calogRows("\"callHost\", 5", "callHost", () => [5], is(6)),
        {
          impl: WASMOON,
          role: "peer",
          api: `lua.global.get("callHost")(5)`,
          make: (): Op => {
            const f = wasmoonFn("callHost");
            return { run: () => f(5), check: is(6) };
          },
        },
        {
          impl: FENGARI,
          role: "peer",
          api: "lua_rawgeti(ref) + lua_pushinteger + lua_pcall (hostinc: lua_pushjsfunction)",
          make: (): Op => ({
            run: fengariCall("callHost", () => (lua.lua_pushinteger(L, 5), 1), () => lua.lua_tointeger(L, -1)),
            check: is(6),
          }),
        },
      ],
    },
    {
      id: "nested_roundtrip",
      title: "(c) Round trip of a ~1 KB nested value (bench/nested.json: arrays, maps, strings, numbers) JS → Lua echo(v) → JS",
      unit: "round trip",
      rows: [
        ...calogRows("\"echo\", nested", "echo", () => [NESTED], nested),
        {
          impl: WASMOON,
          role: "peer",
          api: `lua.global.get("echo")(nested)  (engine option enableProxy: false, so the value is copied into a table)`,
          make: (): Op => {
            const f = wasmoonFn("echo");
            return { run: () => f(NESTED), check: nested };
          },
        },
        {
          impl: FENGARI,
          role: "peer",
          api: "hand-written copy with lua_createtable/lua_rawset and lua_next (bench/cases.ts)",
          make: (): Op => ({ run: fengariCall("echo", () => (fengariPush(NESTED), 1), () => fengariTake(-1)), check: nested }),
        },
      ],
    },
    {
      id: "eval_small",
      title: `(d) Eval of a small chunk: \`${EVAL_CHUNK}\` (compile + run + result)`,
      unit: "eval",
      rows: [
        {
          impl: "calog Lua (host thread)",
          role: "calog",
          primary: true,
          api: "ctx.eval(chunk)",
          make: (): Op => {
            const ctx = calogContext("lua", false);
            return { run: () => ctx.eval(EVAL_CHUNK), check: is(10) };
          },
        },
        {
          impl: "calog Lua (own thread)",
          role: "calog",
          api: "await ctx.eval(chunk)  (createContext(\"lua\", { thread: true }))",
          make: (): Op => {
            const ctx = calogContext("lua", true);
            return { run: () => ctx.eval(EVAL_CHUNK), check: is(10) };
          },
        },
        {
          impl: WASMOON,
          role: "peer",
          api: "lua.doStringSync(chunk)",
          make: (): Op => ({ run: () => wasmoon!.doStringSync(EVAL_CHUNK), check: is(10) }),
        },
        {
          impl: FENGARI,
          role: "peer",
          api: "luaL_loadstring(L, to_luastring(chunk)) + lua_pcall + lua_tointeger",
          make: (): Op => ({
            run: () => {
              if (lauxlib.luaL_loadstring(L, to_luastring(EVAL_CHUNK)) !== lua.LUA_OK || lua.lua_pcall(L, 0, 1, 0) !== lua.LUA_OK) {
                throw new Error(lua.lua_tojsstring(L, -1));
              }
              const r = lua.lua_tointeger(L, -1);
              lua.lua_pop(L, 1);
              return r;
            },
            check: is(10),
          }),
        },
      ],
    },
    {
      id: "fib30",
      title: "(e) fib(30) in Lua (recursive; 1,664,079 Lua calls inside one crossing)",
      unit: "fib(30)",
      slow: true,
      rows: [
        ...calogRows("\"fib\", 30", "fib", () => [FIB_N], is(FIB_30)).filter((r) => !r.api.startsWith("ctx.call")),
        {
          impl: WASMOON,
          role: "peer",
          api: `lua.global.get("fib")(30)`,
          make: (): Op => {
            const f = wasmoonFn("fib");
            return { run: () => f(FIB_N), check: is(FIB_30) };
          },
        },
        {
          impl: FENGARI,
          role: "peer",
          api: "lua_rawgeti(ref) + lua_pushinteger + lua_pcall",
          make: (): Op => ({
            run: fengariCall("fib", () => (lua.lua_pushinteger(L, FIB_N), 1), () => lua.lua_tointeger(L, -1)),
            check: is(FIB_30),
          }),
        },
      ],
    },
    {
      id: "engines_add",
      title: "JavaScript and Squirrel engines: JS → engine call add(1, 2)",
      unit: "call",
      rows: [
        ...engineRows("add", [1, 2], 3),
        {
          impl: QUICKJS,
          role: "peer",
          api: "vm.callFunction(addHandle, vm.undefined, vm.newNumber(1), vm.newNumber(2)) + vm.getNumber + dispose",
          make: (): Op => ({ run: qjsCall("add", [1, 2]), check: is(3) }),
        },
      ],
    },
    {
      id: "engines_fib30",
      title: "JavaScript and Squirrel engines: fib(30)",
      unit: "fib(30)",
      slow: true,
      rows: [
        ...engineRows("fib", [FIB_N], FIB_30),
        {
          impl: QUICKJS,
          role: "peer",
          api: "vm.callFunction(fibHandle, vm.undefined, vm.newNumber(30))",
          make: (): Op => ({ run: qjsCall("fib", [FIB_N]), check: is(FIB_30) }),
        },
      ],
    },
    {
      id: "floor",
      title: "The floor: FFI crossings with nothing behind them (bench/floor.c, zig-out/lib/libcalogbench.so)",
      unit: "crossing",
      rows: [
        {
          impl: `${ffiName} no-op`,
          role: "floor",
          api: "calogBenchNoop()  — void (void)",
          make: floorOp((f) => f.noop, () => null),
        },
        {
          impl: `${ffiName} no-op, calogFnCallWire's signature`,
          role: "floor",
          api: "calogBenchNoop4(ptr, 1, 2, 3)  — i32 (ptr, u32, u32, u32)",
          make: floorOp((f) => () => f.noop4(1, 2, 3), is(6)),
        },
        {
          impl: `${ffiName} calogAbiVersion (libcalog)`,
          role: "floor",
          api: "calogAbiVersion()  — u32 (void), a second dlopen of zig-out/lib/libcalog.so",
          make: floorOp((f) => f.abiVersion, is(ABI_VERSION)),
        },
        {
          impl: `${callbackName} called from C`,
          role: "floor",
          units: LOOP_N,
          api: `calogBenchCallN(cb, ${LOOP_N}); cb: (u32, u32) -> i32, CalogHostCallFnT's signature`,
          make: floorOp((f) => () => f.callN(LOOP_N), is(LOOP_N)),
        },
      ],
    },
  ];
}

/** A new host-thread Lua context with the bench functions (a new state: a new string-hash seed). */
export function freshLuaContext(): Context {
  // reads /proc/thread-self/schedstat for on-CPU time, as the standalone interpreter does: reads beneath /proc only
  const ctx = calog.createContext("lua", { thread: false, capabilities: { fs: { read: ["/proc"] } } });
  ctx.eval(LUA_SRC, { chunkName: "bench.lua" });
  return ctx;
}
