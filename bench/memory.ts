/**
 * One memory measurement in a fresh process: RSS per idle context, over N contexts.
 *   <runtime> bench/memory.ts MODE N     (run by bench/run.ts; prints one JSON line)
 * MODE: calog-lua | calog-lua-thread | calog-js | calog-squirrel | wasmoon | fengari | quickjs
 * Warm-up first (library loaded, code paths compiled, allocator arenas made), a full GC, RSS; then N
 * contexts kept alive, a full GC, RSS again: (after - before) / N. An idle context is one created and
 * left alone (the standard libraries opened, nothing evaluated).
 * @module
 */
import process from "node:process";
import type { Context } from "../bindings/mod.ts";
import { canGc, gc, rss } from "./platform.ts";

const mode = process.argv[2] ?? "calog-lua";
const n = Number(process.argv[3] ?? 1000);
const out = (o: Record<string, unknown>) => console.log(JSON.stringify({ mode, n, ...o }));
const settle = async () => {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
  }
};

interface Maker {
  make(): Promise<unknown> | unknown;
  engineBytes?(x: unknown): number;
  drop(x: unknown): void;
  done?(): void;
}

async function maker(): Promise<Maker> {
  if (mode.startsWith("calog-")) {
    const { Runtime } = await import("../bindings/mod.ts");
    const rt = new Runtime();
    rt.register("hostinc", (x) => (x as number) + 1);
    const engine = mode === "calog-js" ? "js" : mode === "calog-squirrel" ? "squirrel" : "lua";
    const thread = mode === "calog-lua-thread";
    return {
      make: () => rt.createContext(engine, { thread }),
      engineBytes: (c) => (c as Context).memoryUsage(),
      drop: (c) => (c as Context).dispose(),
      done: () => rt.dispose(),
    };
  }
  if (mode === "wasmoon") {
    const { LuaFactory } = await import("wasmoon");
    const factory = new LuaFactory(); // one WASM module, one engine (lua_State) per context
    type E = Awaited<ReturnType<typeof factory.createEngine>>;
    return { make: () => factory.createEngine(), drop: (e) => (e as E).global.close() };
  }
  if (mode === "fengari") {
    const fengari = (await import("fengari")).default;
    // deno-lint-ignore no-explicit-any
    const { lua, lauxlib, lualib } = fengari as any;
    return {
      make: () => {
        const L = lauxlib.luaL_newstate();
        lualib.luaL_openlibs(L);
        return L;
      },
      drop: (L) => lua.lua_close(L),
    };
  }
  if (mode === "quickjs") {
    const { getQuickJS } = await import("quickjs-emscripten");
    const qjs = await getQuickJS(); // one WASM module; newContext() makes a runtime + context each
    type V = ReturnType<typeof qjs.newContext>;
    return { make: () => qjs.newContext(), drop: (v) => (v as V).dispose() };
  }
  throw new Error(`unknown mode ${mode}`);
}

try {
  const m = await maker();
  // warm-up: the same path N times would hide nothing; a few create/drop cycles load and compile it
  for (let i = 0; i < 20; i++) m.drop(await m.make());
  await settle();
  const before = rss();
  const held: unknown[] = [];
  for (let i = 0; i < n; i++) held.push(await m.make());
  await settle();
  const after = rss();
  let engine = 0;
  if (m.engineBytes) for (const x of held) engine += m.engineBytes(x);
  for (const x of held) m.drop(x);
  held.length = 0;
  await settle();
  const afterDispose = rss();
  m.done?.();
  out({
    status: "ok",
    gc: canGc(),
    rssBefore: before,
    rssAfter: after,
    rssAfterDispose: afterDispose,
    rssPerContext: (after - before) / n,
    enginePerContext: m.engineBytes ? engine / n : undefined,
  });
} catch (e) {
  const code = (e as { code?: unknown }).code;
  if (code === "ERR_ENGINE" || code === "ERR_UNSUPPORTED") {
    out({ status: "n/a", note: `not available yet (${code}: ${(e as Error).message})` });
  } else {
    out({ status: "error", note: e instanceof Error ? e.message : String(e) });
  }
}
