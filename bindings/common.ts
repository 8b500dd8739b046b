/**
 * What both bindings share: the ABI they were written for, and the one place that decides where libcalog is.
 *
 * The search order, first match wins:
 *   1. `CALOG_LIB`: an explicit path; if set, it is the only place tried.
 *   2. the installed platform package `@calog/linux-<x64|arm64>-<gnu|musl>` for this process's platform,
 *      architecture and C library (an optional dependency of `calog`, picked by npm/Bun/Deno at install).
 *      A package for the other C library is never loaded; the error names the one to install instead.
 *   3. the local build `zig-out/lib/libcalog.so` next to these bindings (a clone after `npm run setup`).
 * Otherwise a CalogLoadError lists every place tried and why each was passed over, and says what to install.
 * @module
 */
import { CalogLoadError } from "../src/errors.ts";

/** Must equal CALOG_ABI_VERSION in c/include/calog.h. */
export const ABI_VERSION = 13;

/** The platforms prebuilt packages exist for (`@calog/<key>`), as npm names them in `os`, `cpu` and `libc`. */
export const PLATFORM_KEYS = ["linux-x64-gnu", "linux-arm64-gnu", "linux-x64-musl", "linux-arm64-musl"] as const;
/** One of {@link PLATFORM_KEYS}. */
export type PlatformKey = (typeof PLATFORM_KEYS)[number];

/** The C library a process runs on. */
export type Libc = "glibc" | "musl";

/** This process as the loader sees it. `arch` uses Node's names (`x64`, `arm64`). */
export interface Platform {
  os: string;
  arch: string;
  /** `undefined` when it cannot be told (no read permission and no runtime hint). */
  libc: Libc | undefined;
}

/** What a binding gives the loader: its runtime's ways to read the environment, find files and open them. */
export interface LoaderHost<L> {
  env(name: string): string | undefined;
  platform: Platform;
  /** The library path the installed package `@calog/<key>` names; rejects if it is not installed. */
  packagePath(key: PlatformKey): Promise<string>;
  /** Whether a file exists; `undefined` when the runtime may not look (Deno without --allow-read). */
  exists(path: string): boolean | undefined;
  /** Opens the library (throws with the system's reason). */
  open(path: string): L;
  /** The ABI version an opened library reports. */
  abi(lib: L): number;
  /** The local build's path, or `undefined` when these bindings are not files on disk (JSR over https). */
  localBuild: string | undefined;
}

/**
 * Where a binding's local build is: `zig-out/lib/libcalog.so` beside `bindings/` (file: URLs only). The npm
 * package's JavaScript copy of the bindings lives one level deeper, in `js/bindings/`.
 */
export function localBuildPath(moduleUrl: string): string | undefined {
  const url = new URL(`${/\/js\/bindings\/[^/]+\.js$/.test(moduleUrl) ? "../../" : "../"}zig-out/lib/libcalog.so`, moduleUrl);
  return url.protocol === "file:" ? decodeURIComponent(url.pathname) : undefined;
}

/** The package key for a platform, or `undefined` when no prebuilt library exists for it. */
export function platformKey(os: string, arch: string, libc: Libc): PlatformKey | undefined {
  const key = `${os}-${arch}-${libc === "musl" ? "musl" : "gnu"}`;
  return (PLATFORM_KEYS as readonly string[]).includes(key) ? (key as PlatformKey) : undefined;
}

/**
 * The C library of the running process, from the ELF interpreter (PT_INTERP) of `/proc/self/exe`: a glibc
 * program is run by `ld-linux-*.so`, a musl one by `ld-musl-*.so.1`. `head(path, n)` reads up to n bytes
 * (or returns `undefined` when it may not). Falls back on what the runtime says of its own build (`hint`,
 * asked only then), then on the presence of musl's loader; `undefined` if none tells.
 */
export function detectLibc(
  head: (path: string, n: number) => Uint8Array | undefined,
  exists: (path: string) => boolean | undefined,
  arch: string,
  hint: () => Libc | undefined = () => undefined,
): Libc | undefined {
  const bytes = head("/proc/self/exe", 16384);
  const interp = bytes ? elfInterpreter(bytes) : undefined;
  if (interp !== undefined) {
    if (interp.includes("ld-musl")) return "musl";
    if (interp.includes("ld-linux")) return "glibc";
  }
  const told = hint();
  if (told) return told;
  const machine = arch === "x64" ? "x86_64" : arch === "arm64" ? "aarch64" : arch;
  if (exists(`/lib/ld-musl-${machine}.so.1`) === true) return "musl";
  return undefined;
}

/** The PT_INTERP path of a 64-bit little-endian ELF image (its first bytes), or `undefined`. */
export function elfInterpreter(bytes: Uint8Array): string | undefined {
  if (bytes.length < 64 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) return undefined;
  if (bytes[4] !== 2 || bytes[5] !== 1) return undefined; // ELFCLASS64, little-endian
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const phoff = Number(view.getBigUint64(0x20, true));
  const phentsize = view.getUint16(0x36, true);
  const phnum = view.getUint16(0x38, true);
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (ph + 56 > bytes.length) return undefined;
    if (view.getUint32(ph, true) !== 3) continue; // PT_INTERP
    const offset = Number(view.getBigUint64(ph + 8, true));
    const size = Number(view.getBigUint64(ph + 32, true));
    if (offset + size > bytes.length || size === 0) return undefined;
    const text = bytes.subarray(offset, offset + size);
    const end = text.indexOf(0);
    return new TextDecoder().decode(end < 0 ? text : text.subarray(0, end));
  }
  return undefined;
}

const notInstalled = /cannot find|could not find|cannot require|not found|not prefixed|not a dependency|no such/i;

/**
 * Finds and opens libcalog in the documented order (see the module comment). Returns the library and the
 * path it came from; throws a CalogLoadError listing every place tried.
 */
export async function loadLibrary<L>(host: LoaderHost<L>): Promise<{ lib: L; path: string }> {
  const tried: string[] = [];
  const attempt = (place: string, path: string): L | undefined => {
    if (host.exists(path) === false) {
      tried.push(`${place}: ${path} does not exist`);
      return undefined;
    }
    let lib: L;
    try {
      lib = host.open(path);
    } catch (e) {
      if (isPermissionError(e)) throw e; // Deno without --allow-ffi: the binding says which flag
      tried.push(`${place}: cannot load ${path}: ${(e as Error).message}`);
      return undefined;
    }
    const abi = host.abi(lib);
    if (abi !== ABI_VERSION) {
      tried.push(`${place}: ${path} has ABI ${abi}, these bindings need ${ABI_VERSION} (rebuild or reinstall it)`);
      return undefined;
    }
    return lib;
  };

  const explicit = host.env("CALOG_LIB");
  if (explicit) {
    const lib = attempt("CALOG_LIB", explicit);
    if (lib !== undefined) return { lib, path: explicit };
    throw new CalogLoadError(
      "ERR_LOAD",
      `cannot load libcalog from ${explicit} (CALOG_LIB): ${tried[0]!.replace(/^CALOG_LIB: /, "")}. ` +
        "Point CALOG_LIB at a libcalog.so, or unset it to use the installed package or the local build (`npm run setup`).",
    );
  }
  tried.push("CALOG_LIB: not set");

  const { os, arch, libc } = host.platform;
  const wanted = libc === undefined
    ? [platformKey(os, arch, "glibc"), platformKey(os, arch, "musl")]
    : [platformKey(os, arch, libc)];
  const keys = wanted.filter((k): k is PlatformKey => k !== undefined);
  const platformName = `${os}-${arch}${libc === undefined ? " (C library unknown)" : ` (${libc})`}`;
  if (keys.length === 0) tried.push(`prebuilt package: none exists for ${platformName}; supported: ${PLATFORM_KEYS.join(", ")}`);
  for (const key of keys) {
    const found = await findPackage(host, key);
    if (typeof found !== "string") {
      tried.push(`@calog/${key}: ${found.reason}`);
      continue;
    }
    const lib = attempt(`@calog/${key}`, found);
    if (lib !== undefined) return { lib, path: found };
  }
  if (libc !== undefined) {
    // installed for the other C library (a copied node_modules, a lockfile from another machine): never loaded
    const other = platformKey(os, arch, libc === "musl" ? "glibc" : "musl");
    if (other !== undefined && typeof (await findPackage(host, other)) === "string") {
      tried.push(`@calog/${other}: installed, but built for ${libc === "musl" ? "glibc" : "musl"} and this process runs on ${libc}: not loaded`);
    }
  }

  if (host.localBuild !== undefined) {
    const lib = attempt("local build", host.localBuild);
    if (lib !== undefined) return { lib, path: host.localBuild };
  } else {
    tried.push("local build: none (these bindings are not files on disk)");
  }

  const install = keys[0] === undefined
    ? "no prebuilt library exists for this platform: build one from a clone (`npm run setup`) and set CALOG_LIB to it"
    : `install calog with its optional dependencies (\`bun add calog\`, \`npm install calog\`), or add @calog/${keys[0]} ` +
      "at calog's version if they were skipped; in a clone of calog, `npm run setup` builds zig-out/lib/libcalog.so; " +
      "or set CALOG_LIB to a libcalog.so";
  throw new CalogLoadError(
    "ERR_LOAD",
    `cannot find libcalog for ${platformName}. Tried, in order:\n${tried.map((t) => `  - ${t}`).join("\n")}\nTo fix: ${install}.`,
  );
}

async function findPackage<L>(host: LoaderHost<L>, key: PlatformKey): Promise<string | { reason: string }> {
  try {
    const path = await host.packagePath(key);
    if (typeof path === "string" && path.length > 0) return path;
    return { reason: "installed, but it names no library path" };
  } catch (e) {
    const message = (e as Error).message ?? String(e);
    return { reason: notInstalled.test(message) ? "not installed" : `cannot import it: ${message}` };
  }
}

function isPermissionError(e: unknown): boolean {
  const name = (e as Error | undefined)?.name;
  return name === "NotCapable" || name === "PermissionDenied";
}
