// Loading failures give a clear error in both runtimes; Deno without --allow-ffi says what to do.
// These spawn fresh processes (both runtimes' binaries are installed), so both checks run under either runner.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { detectLibc, elfInterpreter, platformKey } from "../bindings/common.ts";
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

// ---- the search order (bindings/common.ts), in a project laid out as an install would be ----------------
// <tmp>/calog/{src,bindings}: the bindings, outside any clone (so no zig-out of ours is near them);
// <tmp>/node_modules/@calog/<key>/: a platform package, with the real library or a file that is not one.
const built = new URL("../zig-out/lib/libcalog.so", import.meta.url).pathname;
const arch = process.arch;
const here = platformKey("linux", arch, "glibc")!; // the test runners are glibc programs
const otherLibc = platformKey("linux", arch, "musl")!;

interface Layout {
  packages?: Record<string, "lib" | "junk">; // key -> what its libcalog.so is
  localBuild?: "lib" | "junk"; // <tmp>/calog/zig-out/lib/libcalog.so
}

function project(layout: Layout): string {
  const dir = mkdtempSync(join(tmpdir(), "calog-order-"));
  for (const sub of ["src", "bindings"]) cpSync(new URL(`../${sub}`, import.meta.url).pathname, join(dir, "calog", sub), { recursive: true });
  const keys = ["linux-x64-gnu", "linux-arm64-gnu", "linux-x64-musl", "linux-arm64-musl"];
  // what calog's package.json declares, as a project's own dependencies (Deno resolves bare names through it)
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "app", private: true, type: "module", optionalDependencies: Object.fromEntries(keys.map((k) => [`@calog/${k}`, "0.1.0"])) }));
  const place = (file: string, what: "lib" | "junk") => {
    mkdirSync(dirname(file), { recursive: true });
    if (what === "lib") copyFileSync(built, file);
    else writeFileSync(file, "not a shared library\n");
  };
  for (const [key, what] of Object.entries(layout.packages ?? {})) {
    const pkg = join(dir, "node_modules", "@calog", key);
    place(join(pkg, "libcalog.so"), what);
    writeFileSync(join(pkg, "package.json"), JSON.stringify({ name: `@calog/${key}`, version: "0.1.0", type: "module", exports: { ".": { bun: "./bun.js", default: "./index.js" } } }));
    writeFileSync(join(pkg, "index.js"), `export default decodeURIComponent(new URL("./libcalog.so", import.meta.url).pathname);\n`);
    writeFileSync(join(pkg, "bun.js"), `import path from "./libcalog.so" with { type: "file" };\nexport default path;\n`);
  }
  if (layout.localBuild) place(join(dir, "calog", "zig-out", "lib", "libcalog.so"), layout.localBuild);
  return dir;
}

/** Runs a script importing the binding statically (so Deno needs no --allow-read for it) from another directory. */
function runIn(dir: string, runtime: "bun" | "deno", flags: string[], env: Record<string, string | undefined> = {}): string {
  const file = join(dir, "app.ts");
  writeFileSync(file, `
    import { Runtime } from "./calog/bindings/${runtime}.ts";
    import { backend } from "./calog/src/backend.ts";
    using rt = new Runtime();
    using lua = rt.createContext("lua", { thread: false });
    console.log("loaded", lua.eval("return 1 + 1"), "from", backend().libraryPath);`);
  const args = runtime === "deno" ? ["run", ...flags, file] : [file];
  const environment: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, CALOG_LIB: undefined, ...env })) if (v !== undefined) environment[k] = v;
  const r = spawnSync(bin(runtime), args, { encoding: "utf8", timeout: 30_000, cwd: tmpdir(), env: environment });
  return (r.stdout ?? "") + (r.stderr ?? "");
}

function withProject(layout: Layout, fn: (dir: string) => void): void {
  const dir = project(layout);
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const all = ["--allow-ffi", "--allow-read", "--allow-env"];

test("the ELF interpreter of this runtime names glibc's loader; a musl one is told apart", () => {
  const exe = readFileSync(process.execPath).subarray(0, 16384);
  assert.match(elfInterpreter(exe) ?? "", /ld-linux/);
  assert.equal(detectLibc((_p, n) => exe.subarray(0, n), () => false, arch), "glibc");
  // the same image with the interpreter string rewritten in place to musl's
  const musl = new Uint8Array(exe);
  const at = Buffer.from(musl).indexOf("/lib64/ld-linux-x86-64.so.2") >= 0 ? Buffer.from(musl).indexOf("/lib64/ld-linux-x86-64.so.2") : Buffer.from(musl).indexOf("/lib/ld-linux-aarch64.so.1");
  assert.ok(at > 0, "found the interpreter string");
  musl.set(new TextEncoder().encode("/lib/ld-musl-x.so.1\0"), at);
  assert.equal(detectLibc((_p, n) => musl.subarray(0, n), () => false, arch), "musl");
  // unreadable /proc: the runtime's hint, then musl's loader on disk, else unknown
  assert.equal(detectLibc(() => undefined, () => undefined, arch, () => "glibc"), "glibc");
  assert.equal(detectLibc(() => undefined, (p) => p === `/lib/ld-musl-${arch === "x64" ? "x86_64" : "aarch64"}.so.1`, arch), "musl");
  assert.equal(detectLibc(() => undefined, () => undefined, arch), undefined);
  assert.equal(elfInterpreter(new TextEncoder().encode("#!/bin/sh\n".padEnd(128))), undefined);
});

for (const runtime of ["bun", "deno"] as const) {
  test(`${runtime}: the installed platform package is found from another directory, with no local build`, () => {
    withProject({ packages: { [here]: "lib" } }, (dir) => {
      assert.match(runIn(dir, runtime, all), new RegExp(`loaded 2 from ${dir}/node_modules/@calog/${here}/libcalog\\.so`));
    });
  });

  test(`${runtime}: CALOG_LIB comes first, the package before the local build, a broken one is passed over`, () => {
    withProject({ packages: { [here]: "junk" }, localBuild: "junk" }, (dir) => {
      assert.match(runIn(dir, runtime, all, { CALOG_LIB: built }), new RegExp(`loaded 2 from ${built}`));
      const out = runIn(dir, runtime, all);
      assert.match(out, new RegExp(`@calog/${here}: cannot load .*libcalog\\.so`));
      assert.match(out, /local build: cannot load .*calog\/zig-out\/lib\/libcalog\.so/);
    });
    withProject({ packages: { [here]: "lib" }, localBuild: "lib" }, (dir) => {
      assert.match(runIn(dir, runtime, all), new RegExp(`loaded 2 from ${dir}/node_modules/@calog/${here}/`));
      assert.match(runIn(dir, runtime, all, { CALOG_LIB: built }), new RegExp(`loaded 2 from ${built}`));
    });
    withProject({ packages: { [here]: "junk" }, localBuild: "lib" }, (dir) => {
      assert.match(runIn(dir, runtime, all), new RegExp(`loaded 2 from ${dir}/calog/zig-out/lib/libcalog\\.so`));
    });
  });

  test(`${runtime}: no library anywhere: the error lists every place tried and says what to install`, () => {
    withProject({}, (dir) => {
      const out = runIn(dir, runtime, all);
      assert.match(out, new RegExp(`CalogLoadError: cannot find libcalog for linux-${arch} \\(glibc\\)\\. Tried, in order:`));
      assert.match(out, /- CALOG_LIB: not set\n\s+- @calog\/\S+: not installed\n\s+- local build: \S+calog\/zig-out\/lib\/libcalog\.so does not exist/);
      assert.match(out, new RegExp(`To fix: install calog .*bun add calog.*@calog/${here}.*npm run setup.*CALOG_LIB`));
    });
  });

  test(`${runtime}: a package for the other C library is never loaded, and the error says so`, () => {
    withProject({ packages: { [otherLibc]: "lib" } }, (dir) => {
      const out = runIn(dir, runtime, all);
      assert.match(out, new RegExp(`@calog/${here}: not installed`));
      assert.match(out, new RegExp(`@calog/${otherLibc}: installed, but built for musl and this process runs on glibc: not loaded`));
      assert.doesNotMatch(out, /loaded 2/);
    });
  });

  test(`${runtime}: CALOG_LIB pointing at nothing is an error naming it, even with a package installed`, () => {
    withProject({ packages: { [here]: "lib" } }, (dir) => {
      const out = runIn(dir, runtime, all, { CALOG_LIB: join(dir, "nothing", "libcalog.so") });
      assert.match(out, /CalogLoadError: cannot load libcalog from \S+\/nothing\/libcalog\.so \(CALOG_LIB\): \S+ does not exist\. Point CALOG_LIB at a libcalog\.so/);
    });
  });
}

test("bun build --compile embeds the platform package's library: the executable runs with no node_modules", () => {
  withProject({ packages: { [here]: "lib" } }, (dir) => {
    runIn(dir, "bun", []); // writes app.ts
    const exe = join(dir, "app");
    const built = spawnSync(bin("bun"), ["build", "--compile", join(dir, "app.ts"), "--outfile", exe], { encoding: "utf8", cwd: dir, timeout: 60_000 });
    assert.equal(built.status, 0, built.stderr);
    rmSync(join(dir, "node_modules"), { recursive: true });
    const env = { ...process.env };
    delete env.CALOG_LIB;
    const r = spawnSync(exe, [], { encoding: "utf8", cwd: tmpdir(), env, timeout: 30_000 });
    assert.match(r.stdout + r.stderr, /loaded 2 from \/\$bunfs\/\S+\.so/);
  });
}, 120_000);

test("deno: without --allow-read or --allow-env the package is still found (C library from Deno's own build)", () => {
  withProject({ packages: { [here]: "lib" } }, (dir) => {
    assert.match(runIn(dir, "deno", ["--allow-ffi"]), new RegExp(`loaded 2 from ${dir}/node_modules/@calog/${here}/`));
  });
});

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
