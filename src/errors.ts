/**
 * calog's errors: one base class, one subclass per kind of failure, all thrown in the caller.
 * @module
 */

/** Symbolic status names, mirroring CALOG_STATUS_MAP in c/include/calog.h. */
export const STATUS = [
  "OK", "ERR_OOM", "ERR_ARG", "ERR_TYPE", "ERR_DEPTH", "ERR_CYCLE", "ERR_RANGE", "ERR_NOT_FOUND", "ERR_SCRIPT",
  "ERR_SYNTAX", "ERR_DEAD", "ERR_HOST", "ERR_NESTING", "ERR_UNSUPPORTED", "ERR_ENGINE", "ERR_INTERNAL",
  "ERR_LIMIT", "ERR_PERMISSION",
] as const;

/** A status name such as `"ERR_SCRIPT"`, or `"ERR_DISPOSED"` for use after dispose (raised by TypeScript). */
export type CalogErrorCode = (typeof STATUS)[number] | "ERR_DISPOSED" | "ERR_LOAD";

/** Details a calog error can carry. */
export interface CalogErrorDetails {
  /** Engine that raised it (`"lua"`, `"js"`, `"squirrel"`), when a script raised it. */
  engine?: string;
  /** Script stack at the point of the error, as the engine prints it. */
  traceback?: string;
  /** The original exception, when a host function threw it (present even when that was `undefined`). */
  cause?: unknown;
  /** Limit errors: which limit, the amount used and the ceiling (see {@link CalogLimitError}). */
  limit?: LimitKind;
  used?: number;
  ceiling?: number;
  /** Limit errors: what the operation the limit stopped had done (an interrupted `conn:send`: the bytes written). */
  partial?: number;
  /** The value a script threw (`error(t)`, `throw v`), when it could cross. */
  value?: unknown;
}

/**
 * Base class of every error calog throws.
 * @example
 * try { lua.eval("error('boom')") } catch (e) { if (e instanceof CalogError) console.log(e.code, e.traceback) }
 */
export class CalogError extends Error {
  /** Status name from the C library (`ERR_SCRIPT`, `ERR_DEPTH`, ...). */
  readonly code: CalogErrorCode;
  readonly engine: string | undefined;
  readonly traceback: string | undefined;
  constructor(code: CalogErrorCode, message: string, details: CalogErrorDetails = {}) {
    super(message, "cause" in details ? { cause: details.cause } : undefined);
    this.name = new.target.name;
    this.code = code;
    this.engine = details.engine;
    this.traceback = details.traceback;
  }
}

/**
 * A script raised an error at run time (uncaught in the script). `value` is what the script threw, as any
 * value crosses (`error({ code = 1 })` gives `{ code: 1 }`; a string error its text); it is absent when the
 * script threw its engine's own Error object (its message and traceback are the error) or a value that
 * cannot cross. If a TypeScript function threw, `cause` is that exception, whatever it was.
 * @example
 * try { lua.eval("error({ code = 42 })") } catch (e) { if (e instanceof CalogScriptError) e.value } // { code: 42 }
 */
export class CalogScriptError extends CalogError {
  /** The thrown value (see the class doc); `undefined` when there is none. */
  readonly value: unknown;
  constructor(code: CalogErrorCode, message: string, details: CalogErrorDetails = {}) {
    super(code, message, details);
    if ("value" in details) this.value = details.value;
  }
}
/** A script did not compile. */
export class CalogSyntaxError extends CalogError {}
/** A value cannot cross: unsupported type, too deep, cyclic, or a number out of range. */
export class CalogValueError extends CalogError {}
/** No such function or global. */
export class CalogNotFoundError extends CalogError {}
/** The context (or the context owning a function) was destroyed. */
export class CalogDeadError extends CalogError {}
/** A handle (runtime, context, function) was used after dispose. */
export class CalogDisposedError extends CalogError {}
/** Calls nested too deeply across the boundary (runaway recursion between host and script). */
export class CalogNestingError extends CalogError {}
/** Which limit stopped a script (see {@link CalogLimitError}). */
export type LimitKind = "memory" | "steps" | "timeout" | "interrupt" | "output";

/**
 * A context limit stopped the script: memory, steps, wall-clock time, output bytes, or an interrupt
 * (`ctx.interrupt()`, an AbortSignal). `used` and `ceiling` are in the limit's unit (bytes, steps, ms).
 * `partial` says how far the operation the limit stopped had got, when it can tell: an interrupted
 * `conn:send` reports the bytes already written (they are on their way to the peer).
 * @example
 * try { ctx.eval("while true do end", { timeoutMs: 50 }) } catch (e) { if (e instanceof CalogLimitError) e.limit } // "timeout"
 */
export class CalogLimitError extends CalogError {
  readonly limit: LimitKind;
  readonly used: number;
  readonly ceiling: number;
  readonly partial: number | undefined;
  constructor(code: CalogErrorCode, message: string, details: CalogErrorDetails = {}) {
    super(code, message, details);
    this.limit = details.limit ?? "interrupt";
    this.used = details.used ?? 0;
    this.ceiling = details.ceiling ?? 0;
    this.partial = details.partial;
  }
}
/** A script tried an effect its context was not granted (files, processes, environment, network...). */
export class CalogPermissionError extends CalogError {}
/** The native library could not be loaded. */
export class CalogLoadError extends CalogError {}

const byStatus: Record<number, typeof CalogError> = {
  2: CalogValueError, 3: CalogValueError, 4: CalogValueError, 5: CalogValueError, 6: CalogValueError,
  7: CalogNotFoundError, 8: CalogScriptError, 9: CalogSyntaxError, 10: CalogDeadError, 11: CalogScriptError,
  12: CalogNestingError, 14: CalogValueError /* an unknown engine name: a bad argument */, 16: CalogLimitError,
  17: CalogPermissionError,
};

/** The one place a native status becomes an exception. */
export function errorFromStatus(status: number, message: string, details: CalogErrorDetails = {}): CalogError {
  const code = STATUS[status] ?? "ERR_INTERNAL";
  const Cls = byStatus[status] ?? CalogError;
  return new Cls(code, message, details);
}
