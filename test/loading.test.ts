// Loading failures give a clear error in both runtimes; Deno without --allow-ffi says what to do.
// These spawn fresh processes (both runtimes' binaries are installed), so both checks run under either runner.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "./harness.ts";

const mod = new URL("../bindings/mod.ts", import.meta.url).href;
const bin = (name: string) => new URL(`../node_modules/.bin/${name}`, import.meta.url).pathname;

function runScript(runtime: "bun" | "deno", flags: string[], env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), "calog-load-"));
  const file = join(dir, "load.ts");
  writeFileSync(file, `
    try {
      const { Runtime } = await import(${JSON.stringify(mod)});
      using rt = new Runtime();
      using lua = rt.createContext("lua", { thread: false });
      console.log("loaded", lua.eval("return 1 + 1"));
    } catch (e) {
      console.log("error", e.name, e.message);
    }`);
  try {
    const args = runtime === "deno" ? ["run", ...flags, file] : [file];
    const r = spawnSync(bin(runtime), args, { encoding: "utf8", timeout: 30_000, env: { ...process.env, ...env } });
    return (r.stdout ?? "") + (r.stderr ?? "");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("Deno without --allow-ffi: CalogLoadError that names the flag", () => {
  const out = runScript("deno", ["--allow-read", "--allow-env"]);
  assert.match(out, /error CalogLoadError .*--allow-ffi/);
});

test("Deno with the documented permissions loads and runs", () => {
  assert.match(runScript("deno", ["--allow-ffi", "--allow-read", "--allow-env"]), /loaded 2/);
});

for (const runtime of ["bun", "deno"] as const) {
  test(`${runtime}: a missing library (CALOG_LIB) is a CalogLoadError that says how to build it`, () => {
    const out = runScript(runtime, ["--allow-ffi", "--allow-read", "--allow-env"], { CALOG_LIB: "/nonexistent/libcalog.so" });
    assert.match(out, /error CalogLoadError cannot load libcalog from \/nonexistent\/libcalog\.so.*npm run setup/);
  });
}
