// Every TypeScript example in README.md runs, and the demo runs, under the current runtime.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { Runtime } from "../bindings/mod.ts";
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

// The README's Lua networking snippets, run as written: the server snippet in a threaded Lua context (its
// listen wrapped to publish the port), the callback snippet in a context holding an accepted `conn`; a second
// Lua context is the client. Loopback only, every wait bounded.
const luaBlocks = [...readme.matchAll(/```lua\n([\s\S]*?)```/g)].map((m) => m[1]!);
const serverBlock = luaBlocks.find((b) => b.includes("server:accept"));
const callbackBlock = luaBlocks.find((b) => b.includes('conn:receive("*l", function'));

test("README Lua networking snippets run as written", async () => {
  assert.ok(serverBlock !== undefined && callbackBlock !== undefined, "both Lua snippets are in the README");
  using rt = new Runtime();
  const caps = { net: { connect: ["127.0.0.1:*"], listen: ["127.0.0.1:*"] } };
  using srv = rt.createContext("lua", { thread: true, capabilities: caps });
  using cli = rt.createContext("lua", { thread: true, capabilities: caps });
  cli.eval(`function ask(port, text)
    local c = assert(net.connect("127.0.0.1", port, { timeoutMs = 5000 }))
    c:setTimeouts(nil, nil, 5000)
    assert(c:send(text .. "\\n"))
    local line, err = c:receive("*l")
    c:close()
    return line or err
  end`);
  // the blocking snippet: accept one connection, echo one line
  srv.eval(`local listen = net.listen
    net.listen = function(...) local s, e = listen(...) if s then PORT = s:port() end return s, e end`);
  const served = srv.evalAsync(serverBlock!, { timeoutMs: 10000 });
  let port: number | undefined;
  for (let i = 0; i < 500 && port === undefined; i++) {
    const p = srv.get("PORT"); // the parked context still answers calls made into it
    if (typeof p === "number") port = p;
    if (port === undefined) await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(typeof port === "number" && port > 0);
  assert.equal(await cli.callAsync<string>("ask", port, "hi"), "echo: hi");
  await served;
  // the callback snippet, given an accepted conn
  srv.eval(`server2 = assert(net.listen("127.0.0.1", 0)) PORT2 = server2:port()
    server2:accept({ timeoutMs = 10000 }, function(err, c) assert(not err) conn = c READY = true end)`);
  const answer = cli.callAsync<string>("ask", srv.get("PORT2"), "yo");
  for (let i = 0; i < 500 && srv.get("READY") !== true; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(srv.get("READY"), true);
  srv.eval(callbackBlock!);
  assert.equal(await answer, "echo: yo");
});
