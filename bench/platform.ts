/**
 * What the bench needs from the JS runtime it runs on (Bun or Deno), in one place: names and versions,
 * forced GC, the FFI floor library, and the path of this runtime's executable for child processes.
 * @module
 */
import process from "node:process";

interface BunGlobal {
  version: string;
  revision: string;
  gc(force: boolean): void;
}
interface DenoGlobal {
  version: { deno: string; v8: string };
  execPath(): string;
}

const g = globalThis as unknown as { Bun?: BunGlobal; Deno?: DenoGlobal; gc?: () => void };

export const runtimeName: "bun" | "deno" = g.Deno !== undefined ? "deno" : "bun";

/** "Bun 1.4.5" or "Deno 2.9.6 (V8 ...)". */
export function runtimeVersion(): string {
  if (g.Deno) return `Deno ${g.Deno.version.deno} (V8 ${g.Deno.version.v8})`;
  return `Bun ${g.Bun!.version} (${g.Bun!.revision.slice(0, 9)})`;
}

/** A full, blocking garbage collection (Deno needs --v8-flags=--expose-gc; without it this is a no-op). */
export function gc(): void {
  if (g.Bun) g.Bun.gc(true);
  else g.gc?.();
}

export function canGc(): boolean {
  return g.Bun !== undefined || typeof g.gc === "function";
}

/** Resident set size of this process, bytes. */
export function rss(): number {
  return process.memoryUsage().rss;
}

/** argv to run another script of this folder under the same runtime (for the memory children). */
export function childCommand(script: string, args: string[]): [string, string[]] {
  const path = new URL(script, import.meta.url).pathname;
  if (g.Deno) {
    return [g.Deno.execPath(), ["run", "--allow-all", "--v8-flags=--expose-gc", path, ...args]];
  }
  return [process.execPath, [path, ...args]];
}

/** The floor: the cheapest FFI calls this runtime can make, through zig-out/lib/libcalogbench.so. */
export interface Floor {
  /** JS -> C, no arguments, no result (calogBenchNoop). */
  noop(): void;
  /** JS -> C with calogFnCallWire's signature (ptr, u32, u32, u32) -> i32. */
  noop4(a: number, b: number, c: number): number;
  /** libcalog's own calogAbiVersion(): a no-op export of the real library. */
  abiVersion(): number;
  /** C calls a JS callback (CalogHostCallFnT's signature) n times; returns the sum of the results (n). */
  callN(n: number): number;
  /** libcalog's own wire path with the thinnest TypeScript (rawcalog.ts): add(a, b) in Lua. */
  rawAdd(a: number, b: number): number;
  /** ... and Lua's loopHost(n) calling a raw host callback n times. */
  rawLoop(n: number): number;
  close(): void;
}

export async function openFloor(libDir: string, luaSource: string): Promise<Floor> {
  const mod = await import(new URL(runtimeName === "deno" ? "./floor_deno.ts" : "./floor_bun.ts", import.meta.url).href);
  return mod.openFloor(libDir, luaSource) as Floor;
}
