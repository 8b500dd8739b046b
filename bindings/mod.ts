/**
 * calog's entry point: detects Bun or Deno (the one place that does), loads the matching binding, and
 * exports the API. Where the native library is found: see `calog/deno` (or README, "Install").
 * @module
 */
export * from "../src/index.ts";

const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";
const isBun = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined";
if (!isDeno && !isBun) throw new Error("calog runs on Bun or Deno (it needs bun:ffi or Deno.dlopen)");
// A computed specifier keeps each runtime's type checker out of the other binding. The npm package also
// carries these modules compiled to JavaScript (Deno runs no TypeScript from node_modules): same extension.
const ext = import.meta.url.endsWith(".js") ? ".js" : ".ts";
await import(new URL((isDeno ? "./deno" : "./bun") + ext, import.meta.url).href);
