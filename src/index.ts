/**
 * calog: Lua, JavaScript and Squirrel inside Bun and Deno, on one native library.
 *
 * Import from `calog` (auto-detects the runtime), `calog/bun` or `calog/deno`.
 * @example
 * import { Runtime } from "calog";
 * using rt = new Runtime();
 * rt.register("twice", (x) => (x as number) * 2);
 * using lua = rt.createContext("lua");
 * lua.eval("return twice(21)"); // 42
 * @module
 */
export { type CallOptions, type ContextStats, type ContextOptions, type EngineName, type EvalOptions, type HostFunction, type RuntimeOptions, type RuntimeStats, type ScriptFunction, type Value, Context, Runtime } from "./runtime.ts";
export {
  CalogDeadError,
  CalogDisposedError,
  CalogError,
  type CalogErrorCode,
  type CalogErrorDetails,
  CalogLimitError,
  CalogLoadError,
  CalogPermissionError,
  type LimitKind,
  CalogNestingError,
  CalogNotFoundError,
  CalogScriptError,
  CalogSyntaxError,
  CalogValueError,
} from "./errors.ts";
export { type Capabilities, type Grants, type Limits, type Output } from "./options.ts";
export { type Backend, installBackend, type NativeRuntime } from "./backend.ts";
