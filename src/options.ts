/**
 * Context options as they cross to the native library: one map, built from the runtime-wide defaults and
 * the context's own options, sent with the creation request. Each native layer reads its own key
 * ("limits", "capabilities", "output"); everything is validated here first, so a bad option is a
 * CalogValueError in the caller, never a half-made context.
 * @module
 */
import { CalogValueError } from "./errors.ts";

/**
 * Limits of one context (every field optional; 0 or absent means unlimited). See the README, "Limits".
 * @example
 * rt.createContext("lua", { limits: { memory: 8 << 20, steps: 1e7, timeoutMs: 1000, output: 65536 } });
 */
export interface Limits {
  /** Bytes the interpreter may hold. */
  memory?: number;
  /** Instructions (engine steps) per entry: each eval, call, or function call from the host. */
  steps?: number;
  /** Wall-clock milliseconds per entry. */
  timeoutMs?: number;
  /** Bytes a context may print per entry. */
  output?: number;
}

const LIMIT_KEYS = ["memory", "steps", "timeoutMs", "output"] as const;

/**
 * Reads an options argument: undefined is `{}`; anything else must be an object with only the known keys (a
 * misspelt `threads: false` or `polcy` was ignored, and the context silently ran threaded or strict). The known
 * keys are copied once, so a getter is read once; a getter or Proxy trap that throws is a CalogValueError whose
 * cause is the exception (it was a raw TypeError, or the caller's exception).
 */
export function readOptions(options: unknown, known: readonly string[], what: string): Record<string, unknown> {
  if (options === undefined) return {};
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw new CalogValueError("ERR_ARG", `${what} must be an object (or left out)`);
  }
  return guarded(what, () => {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(options)) {
      if (!known.includes(k)) throw new CalogValueError("ERR_ARG", `${what}: unknown option '${k}' (known: ${known.join(", ")})`);
    }
    for (const k of known) {
      const v = (options as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = v;
    }
    return out;
  });
}

/** Checks a limits object and returns a copy holding only the known keys. */
export function checkLimits(limits: Limits | undefined, what = "limits"): Limits | undefined {
  return guarded(what, () => checkLimitsNow(limits, what));
}

/**
 * Runs a check of an options object: a getter or Proxy trap of it that throws is a CalogValueError whose cause is
 * the exception (calog's own errors pass unchanged).
 */
function guarded<T>(what: string, check: () => T): T {
  try {
    return check();
  } catch (e) {
    if (e instanceof CalogValueError) throw e;
    throw new CalogValueError("ERR_ARG", `${what} could not be read: a getter or a Proxy trap threw`, { cause: e });
  }
}

function checkLimitsNow(limits: Limits | undefined, what: string): Limits | undefined {
  if (limits === undefined) return undefined;
  if (limits === null || typeof limits !== "object") throw new CalogValueError("ERR_ARG", `${what} must be an object`);
  const out: Limits = {};
  for (const k of Object.keys(limits)) {
    if (!(LIMIT_KEYS as readonly string[]).includes(k)) {
      throw new CalogValueError("ERR_ARG", `${what}: unknown limit '${k}' (known: ${LIMIT_KEYS.join(", ")})`);
    }
    const v = (limits as Record<string, unknown>)[k];
    if (v === undefined) continue;
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || !Number.isInteger(v) || v > Number.MAX_SAFE_INTEGER) {
      throw new CalogValueError("ERR_ARG", `${what}.${k} must be a non-negative integer (0 = unlimited)`);
    }
    out[k as (typeof LIMIT_KEYS)[number]] = v;
  }
  return out;
}

/** Merges runtime-wide default limits with a context's own (the context's win, key by key). */
export function mergeLimits(base: Limits | undefined, own: Limits | undefined): Limits | undefined {
  if (base === undefined) return own;
  if (own === undefined) return base;
  return { ...base, ...own };
}

/**
 * What a context's scripts may reach (see the README, "Capabilities"): `"sandbox"` (the default: the language
 * only), `"trusted"` (everything a stand-alone interpreter has; calog's internals stay protected and
 * `os.exit` still refuses), or grants on top of the sandbox.
 * @example
 * rt.createContext("lua", { capabilities: { fs: { read: ["./data"] }, env: ["HOME"] } });
 */
export type Capabilities = "sandbox" | "trusted" | Grants;

/** Grants on top of the sandbox. A denied effect raises a script error naming the missing capability. */
export interface Grants {
  /** Directories (resolved when the context is created) scripts may read / write beneath; `..` and symlinks cannot leave them. */
  fs?: { read?: string[]; write?: string[] };
  /** Environment variables scripts may read (`os.getenv`). */
  env?: string[];
  /** Process creation (`os.execute`, `io.popen`). */
  process?: boolean;
  /** The engine's full debug interface (Lua `debug.*`, Duktape `Duktape.act`/`Duktape.info`). */
  debug?: boolean;
  /** Network endpoints for the I/O layer: `"host:port"`, `*` for either part, an IPv6 host in brackets (`"[::1]:80"`); a unix-domain socket file as `"unix:/path"`
   * (exactly that path) or `"unix:*"` (any): a `*` host never covers one. */
  net?: { connect?: string[]; listen?: string[] };
}

/**
 * Where a context's output goes (`print`, JS `console.*`, Lua `io.write`, Squirrel's printers): `"inherit"`
 * (this process's stdout/stderr, in order with the host's own `console.log`), `"ignore"`, or a callback run on
 * the JavaScript thread (a threaded context waits for it, so output stays in order; an exception it throws is
 * ignored). `text` is a string, or a Uint8Array when the bytes are not valid UTF-8.
 */
export type Output = "inherit" | "ignore" | ((text: string | Uint8Array, stream: "stdout" | "stderr") => void);

function stringList(v: unknown, what: string): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((s) => typeof s !== "string" || s === "" || s.includes("\0"))) {
    throw new CalogValueError("ERR_ARG", `${what} must be an array of non-empty strings`);
  }
  return [...v] as string[];
}

function onlyKeys(o: object, known: readonly string[], what: string): void {
  for (const k of Object.keys(o)) {
    if (!known.includes(k)) throw new CalogValueError("ERR_ARG", `${what}: unknown key '${k}' (known: ${known.join(", ")})`);
  }
}

function plainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Checks a capabilities option and returns the value sent to the native layer. */
export function checkCapabilities(caps: Capabilities | undefined, what = "capabilities"): string | Record<string, unknown> | undefined {
  return guarded(what, () => checkCapabilitiesNow(caps, what));
}

function checkCapabilitiesNow(caps: Capabilities | undefined, what: string): string | Record<string, unknown> | undefined {
  if (caps === undefined || caps === "sandbox" || caps === "trusted") return caps;
  if (!plainObject(caps)) {
    throw new CalogValueError("ERR_ARG", `${what} must be "sandbox", "trusted" or an object of grants`);
  }
  onlyKeys(caps, ["fs", "env", "process", "debug", "net"], what);
  const out: Record<string, unknown> = {};
  const g = caps as Record<string, unknown>;
  if (g.fs !== undefined) {
    if (!plainObject(g.fs)) throw new CalogValueError("ERR_ARG", `${what}.fs must be { read?: string[], write?: string[] }`);
    onlyKeys(g.fs, ["read", "write"], `${what}.fs`);
    const fs: Record<string, unknown> = {};
    const read = stringList(g.fs.read, `${what}.fs.read`), write = stringList(g.fs.write, `${what}.fs.write`);
    if (read) fs.read = read;
    if (write) fs.write = write;
    out.fs = fs;
  }
  const env = stringList(g.env, `${what}.env`);
  if (env) out.env = env;
  for (const k of ["process", "debug"] as const) {
    if (g[k] === undefined) continue;
    if (typeof g[k] !== "boolean") throw new CalogValueError("ERR_ARG", `${what}.${k} must be a boolean`);
    out[k] = g[k];
  }
  if (g.net !== undefined) {
    if (!plainObject(g.net)) throw new CalogValueError("ERR_ARG", `${what}.net must be { connect?: string[], listen?: string[] }`);
    onlyKeys(g.net, ["connect", "listen"], `${what}.net`);
    const net: Record<string, unknown> = {};
    for (const k of ["connect", "listen"] as const) {
      const l = stringList(g.net[k], `${what}.net.${k}`);
      if (l === undefined) continue;
      for (const e of l) {
        if (e.startsWith("unix:")) { // a unix-domain socket file, whole: "unix:/path" or "unix:*"
          if (e.length > 5) continue;
          throw new CalogValueError("ERR_ARG", `${what}.net.${k}: '${e}' names no path ("unix:/path" or "unix:*")`);
        }
        // a host (an IPv6 address in brackets: "[::1]:80") and a port
        if (!/^(\[[0-9A-Fa-f:.]+\]|[^:[\]\s]+):(\*|\d{1,5})$/.test(e) || (e.endsWith("*") ? false : Number(e.slice(e.lastIndexOf(":") + 1)) > 65535)) {
          throw new CalogValueError("ERR_ARG", `${what}.net.${k}: '${e}' is not "host:port" ("*" allowed for either; an IPv6 host in brackets, "[::1]:80") or "unix:/path"`);
        }
      }
      net[k] = l;
    }
    out.net = net;
  }
  return out;
}

/** Checks an output option. */
export function checkOutput(output: Output | undefined, what = "output"): Output | undefined {
  if (output === undefined || output === "inherit" || output === "ignore" || typeof output === "function") return output;
  throw new CalogValueError("ERR_ARG", `${what} must be "inherit", "ignore" or a function (text, stream) => void`);
}
