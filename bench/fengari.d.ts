// fengari ships no types; the bench uses its lua/lauxlib/lualib API untyped (bench/cases.ts, bench/memory.ts).
declare module "fengari" {
  // deno-lint-ignore no-explicit-any
  const fengari: any;
  export default fengari;
}
