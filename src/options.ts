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

/** Checks a limits object and returns a copy holding only the known keys. */
export function checkLimits(limits: Limits | undefined, what = "limits"): Limits | undefined {
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
