// Bun's test preload (bunfig.toml): makes sure zig-out/lib/libcalog.so is built before any test loads it.
// With the tools in place it runs `zig build` (a no-op when the library is current); on a fresh clone it runs
// the whole set-up first, as `npm test` does.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const root = new URL("..", import.meta.url).pathname;
const zig = `${root}.deps/zig/ziglang/zig`;
const ready = existsSync(zig) && existsSync(`${root}.deps/src/lua/.calog-stamp`);
const [cmd, args] = ready ? [zig, ["build", "-Doptimize=ReleaseFast"]] : ["bash", [".ci/setup"]];
const r = spawnSync(cmd, args, { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
if (r.status !== 0) throw new Error(`test preload: \`${[cmd, ...args].join(" ")}\` failed (status ${r.status}): libcalog is not built`);
