// child: random nested sources in all engines on host-thread contexts with small limits
import { Runtime, CalogError } from "../bindings/mod.ts";
const seed0 = Number((globalThis as any).Deno ? (globalThis as any).Deno.args[0] : process.argv[2]);
const count = Number((globalThis as any).Deno ? (globalThis as any).Deno.args[1] : process.argv[3]);
let s = (Math.imul(seed0, 2654435761) >>> 0) || 1;
const rnd = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };
  for (let w = 0; w < 20; w++) rnd();
const pick = <T>(a: T[]): T => a[Math.floor(rnd() * a.length)]!;
type E = "lua" | "js" | "squirrel";
function wrap(e: E, inner: string): string {
  const k = Math.floor(rnd() * 11);
  switch (k) {
    case 0: return `(${inner})`;
    case 1: return e === "lua" ? `{${inner}}` : `[${inner}]`;
    case 2: return e === "js" ? `({a:${inner}})` : `{a=${inner}}`;
    case 3: return e === "lua" ? `(function() return ${inner} end)()` : `(function(){ return ${inner} })()`;
    case 4: return `(-${inner})`;
    case 5: return e === "lua" ? `(not ${inner})` : `(!${inner})`;
    case 6: return e === "lua" ? `(${inner} .. "a")` : `(${inner} + "a")`;
    case 7: return e === "lua" ? `(#${inner})` : `(typeof ${inner})`;
    case 8: return e === "lua" ? `(1 + ${inner})` : `(~${inner})`;
    case 9: return e === "lua" ? `{${inner}, [${inner.length > 50 ? "1" : inner}]=2}` : e === "js" ? `[${inner}][0]` : `[${inner}][0]`;
    default: return e === "lua" ? `(function(y) return y end)(${inner})` : `(function(y){ return y })(${inner})`;
  }
}
function gen(e: E, depth: number): string {
  let s = pick(["1", "2.5", `"s"`, "x"]);
  const mono = rnd() < 0.3; let k0 = -1;
  for (let i = 0; i < depth; i++) {
    if (mono) { const save = s; s = wrap(e, save); if (k0 < 0) k0 = 0; } else s = wrap(e, s);
  }
  return s;
}
const rt = new Runtime({ output: "ignore" });
const stats: Record<string, number> = {};
for (let i = 0; i < count; i++) {
  for (const e of ["lua", "js", "squirrel"] as E[]) {
    const depth = pick([5, 50, 200, 1000, 3000, 10000, 20000]);
    const body = gen(e, depth);
    const src = e === "lua" ? `local x = 3\nreturn ${body}` : e === "js" ? `var x = 3; ${body}` : `local x = 3; return ${body}`;
    const ctx = rt.createContext(e, { thread: !!process.env.THREAD, limits: { memory: 8 << 20, steps: 1_000_000, timeoutMs: 2000 } });
    const t0 = Date.now();
    let tag: string;
    try { ctx.eval(src); tag = "value"; }
    catch (err) {
      if (err instanceof CalogError) { tag = (err as Error).name; if (process.env.SHOWMSG) console.log(`MSG ${e} d=${depth} ${tag}: ${(String((err as Error).message).split("\n")[0] ?? "").slice(0, 160)}`); }
      else { console.log(`NONCALOG seed=${seed0} i=${i} e=${e} depth=${depth} ${err}`); tag = "non"; }
    }
    const ms = Date.now() - t0;
    if (ms > 5000) console.log(`SLOW seed=${seed0} i=${i} e=${e} depth=${depth} ${ms}ms`);
    // context must still work
    try { ctx.eval(e === "js" ? "1+1" : "return 1+1"); } catch (err) { console.log(`DEADCTX seed=${seed0} i=${i} e=${e} ${err}`); }
    ctx.dispose();
    stats[`${e}:${tag}`] = (stats[`${e}:${tag}`] ?? 0) + 1;
  }
}
console.log("STATS " + JSON.stringify(stats));
