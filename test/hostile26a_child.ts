// A child process for hostile26a: each scenario is a program Deno used to abort ("Lazy deopt after a fast API
// call with return value is unsupported"), run alone so that an abort is a failed exit code, not a dead suite.
import { type EngineName, Runtime } from "../bindings/mod.ts";

const args: string[] = (globalThis as { Deno?: { args: string[] } }).Deno?.args ?? process.argv.slice(2);
const [scenario, engine] = args as [string, EngineName];
const rt = new Runtime();
const host = rt.createContext(engine, { thread: false });
const lua = engine === "lua";

if (scenario === "new-path") {
  // A host function called from a host-thread context calls back into it; after 200,000 calls of one path it
  // meets paths it never took (an error, a string, a table), which throws away the optimized code of the caller
  // of calogCallWire while that call is still running.
  host.eval(lua
    ? "function outer(i) return inner(i) end function f(i) if i == 1 then error('x') elseif i == 2 then return 's' elseif i == 3 then return {1, 2} end return i end"
    : "function outer(i) { return inner(i) } function f(i) { if (i == 1) throw new Error('x'); if (i == 2) return 's'; if (i == 3) return [1, 2]; return i }");
  let phase = 0;
  rt.register("inner", (i: unknown) => {
    try {
      return host.call("f", phase === 0 ? 10 : (i as number) % 4);
    } catch {
      return -1;
    }
  });
  for (let i = 0; i < 200_000; i++) host.call("outer", i);
  phase = 1;
  let sum = 0;
  for (let i = 0; i < 20_000; i++) {
    const r = host.call("outer", i);
    if (typeof r === "number") sum += r;
  }
  console.log(`ok ${sum}`);
} else if (scenario === "first-async") {
  // The process's first callAsync, made by a host function inside a synchronous call after 300,000 warm-up calls.
  const other = rt.createContext(engine, { thread: true });
  host.eval(lua ? "function outer(i) return inner(i) end" : "function outer(i) { return inner(i) }");
  other.eval(lua ? "function f() return 1 end" : "function f() { return 1 }");
  let phase = 0;
  const ps: Promise<unknown>[] = [];
  rt.register("inner", (i: unknown) => {
    if (phase === 1) {
      ps.push(other.callAsync("f"));
      phase = 2;
    }
    return i;
  });
  for (let i = 0; i < 300_000; i++) host.call("outer", i);
  phase = 1;
  for (let i = 0; i < 1000; i++) host.call("outer", i);
  console.log(`ok ${(await Promise.all(ps)).join(",")}`);
}
rt.dispose();
