// Every TypeScript example in README.md runs, and the demo runs, under the current runtime.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { test } from "./harness.ts";

const root = new URL("..", import.meta.url);
const readme = readFileSync(new URL("README.md", root), "utf8");
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
const mod = new URL("bindings/mod.ts", root).href;

test("README has TypeScript examples", () => {
  assert.ok(blocks.length >= 1);
});

blocks.forEach((code, i) => {
  test(`README example ${i + 1} runs`, async () => {
    const dir = mkdtempSync(join(tmpdir(), "calog-readme-"));
    try {
      const file = join(dir, `example${i}.ts`);
      writeFileSync(file, code.replaceAll(/from "calog(\/bun|\/deno)?"/g, `from ${JSON.stringify(mod)}`));
      const logged: unknown[][] = [];
      const log = console.log;
      console.log = (...a: unknown[]) => void logged.push(a);
      try {
        await import(new URL(`file://${file}`).href);
      } finally {
        console.log = log;
      }
      assert.ok(logged.length > 0, "the example prints something");
      // `console.log(...); // => value` states what the line prints: check it
      const expected = [...code.matchAll(/^\s*console\.log\((.*)\);\s*\/\/ => (.+)$/gm)].map((m) => m[2]!);
      assert.ok(expected.length > 0 || !code.includes("console.log("), "examples state their output in comments");
      for (const want of expected) {
        assert.ok(
          logged.some((args) => isDeepStrictEqual(args[0], Function(`return (${want})`)())),
          `expected a line printing ${want}; got ${JSON.stringify(logged)}`,
        );
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test("the demo (npm start) runs", async () => {
  const log = console.log;
  const lines: string[] = [];
  console.log = (...a: unknown[]) => void lines.push(a.join(" "));
  try {
    await import(new URL("examples/demo.ts", root).href);
  } finally {
    console.log = log;
  }
  assert.ok(lines.some((l) => l.includes("HELLO FROM LUA!")));
  assert.ok(lines.some((l) => l.includes("f(6, 7) = 42")));
  assert.ok(lines.some((l) => l.includes("oops.lua:2")));
  assert.ok(lines.some((l) => l.includes(`captured output: ["stdout: printed by JavaScript","stderr: and a warning"]`)));
  assert.ok(lines.some((l) => l.startsWith("CalogLimitError (timeout)")));
  assert.ok(lines.some((l) => l.includes("and the context is still usable: 42")));
  assert.ok(lines.some((l) => l.startsWith("CalogPermissionError: permission denied: io.open")));
  assert.ok(lines.some((l) => l.includes("over TCP: SENT BY JAVASCRIPT, SERVED BY LUA")));
});

// Deno's fetch needs --allow-net=127.0.0.1 (test/run.sh grants it); calog's own sockets need no permission
const denoPerms = (globalThis as { Deno?: { permissions: { querySync(d: { name: string; host: string }): { state: string } } } }).Deno;
const canFetch = !denoPerms || denoPerms.permissions.querySync({ name: "net", host: "127.0.0.1" }).state === "granted";

test("examples/network.ts runs: a Lua HTTP server answering fetch and a JavaScript client, a Squirrel timer", async () => {
  if (!canFetch) return;
  const log = console.log;
  const lines: string[] = [];
  console.log = (...a: unknown[]) => void lines.push(a.join(" "));
  try {
    await import(new URL("examples/network.ts", root).href);
  } finally {
    console.log = log;
  }
  assert.ok(lines.some((l) => l === "fetch: 200 POST /from-fetch from Lua (5 bytes in, request 1)"), lines.join("\n"));
  assert.ok(lines.some((l) => l === "JavaScript client: GET /one from Lua (0 bytes in, request 2)"));
  assert.ok(lines.some((l) => l === "JavaScript client: GET /two from Lua (0 bytes in, request 3)"));
  assert.ok(lines.some((l) => l === "Squirrel timer ticked: 1, 2, 3"));
  assert.ok(lines.some((l) => l === "Lua answered 3 requests"));
});
