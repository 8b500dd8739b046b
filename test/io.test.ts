// Networking and timers from scripts (issue 11): scripts on threaded contexts park on sockets and timers while
// the event loop goes on; a Lua server answers fetch(); JavaScript and Squirrel use the same API; host-thread
// contexts refuse the blocking forms with a named error and run the callback forms; capabilities govern.
// Loopback only; every loop is bounded.
import assert from "node:assert/strict";
import { CalogDeadError, CalogError, CalogLimitError, CalogPermissionError, CalogScriptError, type Capabilities, Runtime } from "../bindings/mod.ts";
import { test } from "./harness.ts";

const net: Capabilities = { net: { connect: ["127.0.0.1:*", "localhost:*"], listen: ["127.0.0.1:*"] } };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// Deno's fetch needs --allow-net (test/run.sh grants 127.0.0.1); calog's own sockets need no permission of the host
const denoNet = (globalThis as { Deno?: { permissions: { querySync(d: { name: string; host: string }): { state: string } } } }).Deno;
const canFetch = !denoNet || denoNet.permissions.querySync({ name: "net", host: "127.0.0.1" }).state === "granted";

test("timer.sleep parks only its context: the event loop keeps running", async () => {
  using rt = new Runtime();
  using lua = rt.createContext("lua", { thread: true });
  let ticks = 0;
  const iv = setInterval(() => ticks++, 5);
  const t0 = performance.now();
  await lua.evalAsync("timer.sleep(120)");
  clearInterval(iv);
  assert.ok(performance.now() - t0 >= 119, "never early");
  assert.ok(ticks >= 5, `the event loop ran meanwhile (${ticks} ticks)`);
  // the entry's timeoutMs stops a sleep
  await assert.rejects(lua.evalAsync("timer.sleep(100000)", { timeoutMs: 50 }), /timeout/);
  assert.equal(lua.eval("return 1"), 1);
});

test("a Lua HTTP server answers fetch(); a JavaScript client talks to it", async () => {
  using rt = new Runtime();
  using srv = rt.createContext("lua", { thread: true, capabilities: net });
  const port = srv.eval<number>("server = assert(net.listen('127.0.0.1', 0)) return server:port()");
  srv.eval(`
    function serve(n)
      for i = 1, n do
        local c = assert(server:accept({ timeoutMs = 10000 }))
        local first = assert(c:receive('*l'))
        repeat local h = assert(c:receive('*l')) until h == ''
        local body = 'hello ' .. first:match('^GET (%S+)')
        c:send('HTTP/1.1 200 OK\\r\\nContent-Length: ' .. #body .. '\\r\\nConnection: close\\r\\n\\r\\n' .. body)
        c:close()
      end
      return n
    end`);
  const paths = canFetch ? ["/a", "/b"] : [];
  const served = srv.callAsync("serve", paths.length + 1);
  for (const path of paths) {
    const res = await fetch(`http://127.0.0.1:${port}${path}`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), `hello ${path}`);
  }
  using js = rt.createContext("js", { thread: true, capabilities: net });
  const reply = await js.evalAsync(`
    var c = net.connect('127.0.0.1', ${port}, { timeoutMs: 5000 });
    c.send('GET /js HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n');
    var all = c.receive('*a'); c.close(); all.split('\\r\\n\\r\\n')[1]`);
  assert.equal(reply, "hello /js");
  assert.equal(await served, paths.length + 1);
});

test("Squirrel: echo through a server it owns, a timeout carrying partial data", async () => {
  using rt = new Runtime();
  using sq = rt.createContext("squirrel", { thread: true, capabilities: net });
  const out = await sq.evalAsync(`
    local s = net.listen("127.0.0.1", 0);
    local c = net.connect("127.0.0.1", s.port());
    local d = s.accept();
    c.send("ping\\npart");
    local line = d.receive("*l");
    d.setTimeouts(null, null, 30);
    local partial = null;
    try { d.receive("*l"); } catch (e) { partial = e.partial; }
    c.close(); d.close(); s.close();
    return line + "/" + partial;`);
  assert.equal(out, "ping/part");
});

test("host-thread contexts: blocking forms fail with a named error, callback forms work", async () => {
  using rt = new Runtime();
  for (const engine of ["lua", "js", "squirrel"] as const) {
    using ctx = rt.createContext(engine, { thread: false, capabilities: net });
    const src = engine === "lua" ? "timer.sleep(1)" : engine === "js" ? "timer.sleep(1)" : "timer.sleep(1);";
    assert.throws(() => ctx.eval(src), (e: unknown) => {
      assert.ok(e instanceof CalogError, String(e));
      assert.equal(e.code, "ERR_UNSUPPORTED");
      assert.match(e.message, /threaded context/);
      return true;
    });
  }
  using lua = rt.createContext("lua", { thread: false });
  lua.eval("fired = 0 t = timer.every(10, function() fired = fired + 1 if fired == 3 then t:cancel() end end)");
  for (let i = 0; i < 200 && lua.eval<number>("return fired") < 3; i++) await sleep(5);
  assert.equal(lua.eval("return fired"), 3);
  await sleep(40);
  assert.equal(lua.eval("return fired"), 3, "cancelled from inside its callback");
});

test("capabilities govern connect and listen", () => {
  using rt = new Runtime();
  for (const thread of [true, false]) {
    using sandbox = rt.createContext("lua", { thread });
    assert.throws(() => sandbox.eval("net.listen('127.0.0.1', 0)"), CalogPermissionError);
    using js = rt.createContext("js", { thread, capabilities: { net: { connect: ["127.0.0.1:1"] } } });
    assert.throws(() => js.eval("net.connect('127.0.0.1', 2)"), CalogPermissionError);
  }
  using lua = rt.createContext("lua", { thread: true, capabilities: net });
  assert.equal(lua.eval("local c, e = net.connect('127.0.0.1', 1) return e"), "connection refused");
  assert.throws(() => lua.eval("net.connect('127.0.0.1', 1, { timeoutMs = -1 })"), CalogScriptError);
});

test("disposing a context parked in accept settles its call; the runtime disposes cleanly", async () => {
  const rt = new Runtime();
  const lua = rt.createContext("lua", { thread: true, capabilities: net });
  lua.eval("s = net.listen('127.0.0.1', 0)");
  const parked = lua.evalAsync("return s:accept()");
  await sleep(30);
  lua.dispose();
  await assert.rejects(parked, CalogDeadError); // the context was disposed: not a limit
  rt.dispose();
});
