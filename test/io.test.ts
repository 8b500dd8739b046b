// Networking and timers from scripts (issue 11): scripts on threaded contexts park on sockets and timers while
// the event loop goes on; a Lua server answers fetch(); JavaScript and Squirrel use the same API; host-thread
// contexts refuse the blocking forms with a named error and run the callback forms; capabilities govern.
// Loopback only; every loop is bounded.
import assert from "node:assert/strict";
import { CalogDeadError, CalogError, CalogLimitError, CalogPermissionError, CalogScriptError, CalogValueError, type Capabilities, Runtime } from "../bindings/mod.ts";
import { rss, test } from "./harness.ts";

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

// Eighth hostile pass: a unix-domain socket is a file, not a network host, yet a "*" host grant ("*:*", or "*:0")
// covered every unix path: a script granted "any host" reached the host's own unix services (docker.sock, D-Bus...)
// and created socket files anywhere the process may write, with no fs grant; the TypeScript check refused every
// "unix:" grant, so no narrower one could be given. Now only "unix:/path" (exactly) or "unix:*" covers one.
test("a '*' host grant does not cover unix-domain sockets; a 'unix:/path' grant covers exactly that path", async () => {
  const fs = await import("node:fs");
  const os = await import("node:os");
  const dir = fs.mkdtempSync(os.tmpdir() + "/calog-unix-");
  const path = `${dir}/Svc.sock`;
  using rt = new Runtime();
  using srv = rt.createContext("lua", { thread: true, capabilities: { net: { listen: [`unix:${path}`] } } });
  srv.eval(`s = assert(net.listen('unix:${path}', function(c) c:send('hello\\n', function() c:close() end) end))`);
  for (const grants of [["*:*"], ["*:0"], ["127.0.0.1:*", "localhost:*"], [`unix:${path.toLowerCase()}`]]) {
    for (const thread of [true, false]) {
      using c = rt.createContext("js", { thread, capabilities: { net: { connect: grants, listen: grants } } });
      assert.throws(() => c.eval(`net.connect('unix:${path}', function () {})`), CalogPermissionError, grants.join());
      assert.throws(() => c.eval(`net.listen('unix:${dir}/made-by-script.sock')`), CalogPermissionError, grants.join());
    }
  }
  assert.deepEqual(fs.readdirSync(dir), ["Svc.sock"]);
  for (const grant of [`unix:${path}`, "unix:*"]) {
    using c = rt.createContext("lua", { thread: true, capabilities: { net: { connect: [grant] } } });
    assert.equal(await c.evalAsync(`local c = assert(net.connect('unix:${path}')) local l = c:receive('*l') c:close() return l`), "hello");
    assert.throws(() => c.eval("net.connect('127.0.0.1', 1)"), CalogPermissionError);
  }
  assert.throws(() => rt.createContext("lua", { capabilities: { net: { connect: ["unix:"] } } }), /names no path/);
  srv.eval("s:close()");
  fs.rmSync(dir, { recursive: true, force: true });
});

// Eighth hostile pass: a handle's C memory was outside every limit and the handle table is the runtime's, so a
// sandboxed context with a 2 MB memory limit made 1,048,575 net.udp() handles (320 MB of RSS, 72 KB in its
// interpreter) and every other context's timers and sockets failed until it was disposed. Now each live handle
// counts 512 bytes against its owner's memory limit.
test("I/O handles count against the memory limit: a flood of timers or UDP handles stops there, other contexts unharmed", async () => {
  using rt = new Runtime();
  using other = rt.createContext("lua", { thread: true, capabilities: net });
  for (const [engine, src] of [
    ["lua", "for i = 1, 1100000 do n = i net.udp() end"],
    ["js", "var f = function () {}; for (var i = 0; i < 1100000; i++) { n = i; timer.after(1e9, f); }"],
    ["squirrel", "local f = function () {}; for (local i = 0; i < 1100000; i++) { ::n <- i; timer.after(1000000000, f); }"],
  ] as const) {
    using bad = rt.createContext(engine, { thread: engine !== "js", limits: { memory: 2 << 20 } });
    const e = await (engine === "js" ? Promise.resolve().then(() => bad.eval(src)) : bad.evalAsync(src)).catch((x) => x);
    assert.ok(e instanceof CalogLimitError && e.limit === "memory", `${engine}: ${e}`);
    assert.ok((bad.get("n") as number) <= 4097, engine);
    assert.equal(await other.evalAsync("local h = assert(timer.after(1, function() end)) h:cancel() local s = assert(net.listen('127.0.0.1', 0)) s:close() return 'ok'"), "ok");
  }
});

// Seventh hostile pass: net.resolve needed no capability, so a sandboxed script could send any name (a secret
// spelled as a host name) to the system's DNS servers, and read the host files; now it needs a grant naming the host
test("net.resolve needs a net grant naming the host (the sandbox reaches no DNS server)", async () => {
  using rt = new Runtime();
  for (const thread of [true, false]) {
    for (const engine of ["lua", "js", "squirrel"] as const) {
      using sandbox = rt.createContext(engine, { thread });
      const src = engine === "lua" ? "net.resolve('localhost', function() end)" : "net.resolve(\"localhost\", function(e, r) {});";
      assert.throws(() => sandbox.eval(src), (e: unknown) => {
        assert.ok(e instanceof CalogPermissionError, String(e));
        assert.match(e.message, /net\.resolve of 'localhost' needs the 'net\.connect' capability/);
        return true;
      });
    }
    using other = rt.createContext("lua", { thread, capabilities: { net: { connect: ["127.0.0.1:80"] } } });
    assert.throws(() => other.eval("net.resolve('localhost', function() end)"), CalogPermissionError);
  }
  using sandboxT = rt.createContext("lua", { thread: true });
  assert.throws(() => sandboxT.eval("net.resolve('localhost')"), CalogPermissionError);
  using granted = rt.createContext("lua", { thread: true, capabilities: { net: { connect: ["LocalHost:8080"] } } });
  assert.equal(await granted.evalAsync("return net.resolve('localhost')[1]"), "127.0.0.1");
  using any = rt.createContext("js", { thread: true, capabilities: { net: { listen: ["*:*"] } } });
  assert.equal(await any.evalAsync("net.resolve('localhost')[0]"), "127.0.0.1");
});

// An IPv6 host is granted in brackets ("[::1]:80"): the TypeScript check refused every IPv6 grant and the C check
// compared the brackets literally, so only "*" could grant the IPv6 loopback (eighth hostile pass); a host with a space
// (" 127.0.0.1:*") passed the check and matched nothing (eleventh)
test("an IPv6 grant in brackets covers that address for listen, connect and resolve; no other", async () => {
  using rt = new Runtime();
  using c = rt.createContext("lua", { thread: true, capabilities: { net: { connect: ["[::1]:*"], listen: ["[::1]:*"] } } });
  const src = "local s = assert(net.listen('::1', 0)) local a = assert(net.connect('::1', s:port())) local b = assert(s:accept()) " +
    "a:send('v6') local got = b:receive(2) a:close() b:close() s:close() return got .. ' ' .. net.resolve('::1')[1]";
  assert.equal(await c.evalAsync(src), "v6 ::1");
  assert.throws(() => c.eval("net.connect('127.0.0.1', 9)"), CalogPermissionError);
  assert.throws(() => c.eval("net.resolve('localhost')"), CalogPermissionError);
  using narrow = rt.createContext("lua", { thread: true, capabilities: { net: { connect: ["[::1]:80"] } } });
  assert.throws(() => narrow.eval("net.connect('::1', 81)"), CalogPermissionError);
  for (const bad of ["::1:80", "[::1]", "[nope]:80", "[::1]:x", " 127.0.0.1:*", "127.0.0.1 :80", "local host:80"]) {
    assert.throws(() => rt.createContext("lua", { capabilities: { net: { connect: [bad] } } }), CalogValueError, bad);
  }
});

// Seventh hostile pass: the receive buffer is C memory outside the interpreter's allocator, so a receive that never
// completed (a line without its newline, "*a" of an endless stream, a huge count) buffered without bound under any
// memory limit (8 MB limit: 1.5 GB of RSS, more as long as the peer sends); now it stops at the memory limit
test("a receive that cannot complete stops at the context's memory limit instead of buffering without bound", async () => {
  using rt = new Runtime();
  const limits = { memory: 4 << 20, timeoutMs: 8000 };
  using rx = rt.createContext("lua", { thread: true, capabilities: net, limits });
  using cb = rt.createContext("js", { thread: true, capabilities: net, limits });
  using tx = rt.createContext("lua", { thread: true, capabilities: net });
  const port = rx.eval<number>("s = assert(net.listen('127.0.0.1', 0)) return s:port()");
  // the sender never sends a newline and never closes: without the bound the receiver waits until its timeout
  tx.eval(`conns = {} function flood(n) local c = assert(net.connect('127.0.0.1', ${port})) conns[#conns + 1] = c
    c:setTimeouts(nil, 300) local chunk = string.rep('x', 1 << 20) for i = 1, n do if not c:send(chunk) then break end end end`);
  for (const [pattern, expect] of [["'*l'", "line"], ["'*a'", "all"], ["50000000", "count"]]) {
    const flooding = tx.callAsync("flood", 12);
    const e = await rx.evalAsync(`local c = assert(s:accept()) local r = c:receive(${pattern}) c:close() return r`).catch((x) => x);
    assert.ok(e instanceof CalogLimitError && e.limit === "memory", `${expect}: ${e}`);
    await flooding;
  }
  cb.eval("function take(c) { c.receiveUntil('\\r\\n\\r\\n', function (err, head) { got = err ? err.message : 'got ' + head.length; c.close(); }); }");
  const flooding = tx.callAsync("flood", 12);
  const c = await rx.evalAsync("return s:accept()");
  await cb.callAsync("take", c);
  let got: unknown;
  for (let i = 0; i < 400 && (got = await cb.evalAsync("typeof got == 'undefined' ? null : got")) == null; i++) await sleep(10);
  assert.match(String(got), /memory limit reached: the receive buffered \d+ bytes without completing/);
  await flooding;
  assert.equal(await rx.evalAsync("return 1 + 1"), 2);
});

// Eighth hostile pass: the bound above was per receive, so N connections each buffering just under the limit held N
// times it (a 4 MB context with 40 connections: 170 MB of RSS), and every callback-form send kept a C copy of its data
// as long as the peer did not read, one per connection. Now the bound is what all of the context's connections hold.
test("receives and callback sends are bounded by the memory limit together, not one connection at a time", async () => {
  using rt = new Runtime();
  const limit = 4 << 20;
  using rx = rt.createContext("lua", { thread: true, capabilities: net, limits: { memory: limit, timeoutMs: 8000 } });
  using tx = rt.createContext("lua", { thread: true, capabilities: net });
  const port = rx.eval<number>(`got = {}
    s = assert(net.listen('127.0.0.1', 0, function(c) c:receive('*l', function(err) got[#got + 1] = err and err.message or 'line' end) end))
    return s:port()`);
  await tx.evalAsync(`conns = {} local chunk = string.rep('x', 1 << 20)
    for i = 1, 6 do local c = assert(net.connect('127.0.0.1', ${port})) conns[i] = c c:setTimeouts(nil, 300)
      for k = 1, 6 do if not c:send(chunk) then break end end end`);
  let got: string[] = [];
  for (let i = 0; i < 300 && (got = rx.get("got") as string[]).length < 6; i++) await sleep(10);
  assert.equal(got.length, 6, JSON.stringify(got));
  let sum = 0;
  for (const m of got) {
    assert.match(m, /^memory limit reached: the receive buffered (\d+) bytes without completing/);
    sum += Number(/buffered (\d+)/.exec(m)![1]);
  }
  assert.ok(sum <= 2 * limit, `the connections buffered ${sum} bytes in all under a limit of ${limit}`);
  // a callback-form send's copy counts too: pending 24 MB sends to a peer that never reads (beyond what the kernel
  // takes) held 10 x 24 MB under a 64 MB limit; now the third one passes the limit
  const sink = tx.eval<number>("sink = assert(net.listen('127.0.0.1', 0)) return sink:port()"); // never accepts
  using big = rt.createContext("lua", { thread: true, capabilities: net, limits: { memory: 64 << 20 } });
  const e = await big.evalAsync(`conns = {} for i = 1, 10 do local c = assert(net.connect('127.0.0.1', ${sink})) conns[i] = c
    c:send(string.rep(string.char(64 + i), 24 << 20), function() end) collectgarbage() n = i end`).catch((x) => x);
  assert.ok(e instanceof CalogLimitError && e.limit === "memory", String(e));
  assert.ok((big.get("n") as number) <= 3, `${big.get("n")} sends of 24 MB held under a 64 MB limit`);
  big.eval("for _, c in ipairs(conns) do c:close() end");
  tx.eval("for _, c in ipairs(conns) do c:close() end");
});

// Eleventh hostile pass: the bound above counts what is buffered, but a receive grew the connection's C buffer to
// what it needed and the buffer kept that room once the script took the data, so each connection that had received
// 1 MB kept 1 MB that nothing counted (a 4 MB context with 200 connections: +204 MB of RSS). A taken buffer gives
// its room back now.
test("a connection's receive buffer gives its room back once the script took the data", async () => {
  using rt = new Runtime();
  using lua = rt.createContext("lua", { thread: true, capabilities: net, limits: { memory: 4 << 20, timeoutMs: 30000 } });
  const before = rss();
  const n = await lua.evalAsync<number>(`
    local srv = assert(net.listen('127.0.0.1', 0))
    local chunk = string.rep('x', 65536)
    keep = {}
    for i = 1, 60 do
      local c = assert(net.connect('127.0.0.1', srv:port()))
      local s = assert(srv:accept())
      for k = 1, 16 do c:send(chunk, function() end) end
      c:send('y', function() end) -- one byte stays buffered
      assert(#assert(s:receive(1 << 20)) == 1 << 20)
      collectgarbage()
      keep[#keep + 1] = c keep[#keep + 1] = s
    end
    srv:close()
    return #keep`);
  assert.equal(n, 120);
  const grown = rss() - before;
  assert.ok(grown < 24 << 20, `60 connections that each received 1 MB kept ${(grown / 1048576).toFixed(1)} MB of RSS`);
  lua.eval("for _, c in ipairs(keep) do c:close() end keep = nil");
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

// ---- callback forms ----------------------------------------------------------------------------------------
const execFileP = async (file: string, args: string[]): Promise<string> => {
  const { execFile } = await import("node:child_process");
  return new Promise((resolve, reject) =>
    execFile(file, args, { timeout: 20000, maxBuffer: 1 << 22 }, (err, out) => (err ? reject(err) : resolve(String(out)))));
};

// A keep-alive HTTP/1.1 server written with callbacks only: it runs on a host-thread context (the event loop's
// thread), each completion delivered when the event loop wakes.
const callbackHttpServer = `
  served = 0
  local function serve(c)
    c:receiveUntil('\\r\\n\\r\\n', function(err, head)
      if err then c:close() return end
      local body = 'hello ' .. head:match('^GET (%S+)')
      served = served + 1
      c:send('HTTP/1.1 200 OK\\r\\nContent-Length: ' .. #body .. '\\r\\nContent-Type: text/plain\\r\\n\\r\\n' .. body,
        function(err) if err then c:close() else serve(c) end end)
    end)
  end
  server = assert(net.listen('127.0.0.1', 0, serve))
  return server:port()`;

test("a host-thread Lua server on callbacks only answers fetch and curl: 100 concurrent clients x 100 requests, every response checked", async () => {
  using rt = new Runtime();
  using lua = rt.createContext("lua", { thread: false, capabilities: net });
  const port = lua.eval<number>(callbackHttpServer);
  const base = `http://127.0.0.1:${port}`;
  const curlClients = canFetch ? 10 : 100; // without fetch (Deno lacking --allow-net) every client is curl
  const perClient = 100;
  const checkFetch = async (k: number): Promise<void> => {
    for (let i = 0; i < perClient; i++) {
      const res = await fetch(`${base}/f${k}/r${i}`);
      assert.equal(res.status, 200);
      assert.equal(await res.text(), `hello /f${k}/r${i}`);
    }
  };
  const checkCurl = async (k: number): Promise<void> => {
    // one invocation, 100 URLs on one keep-alive connection; the bodies come back concatenated, in order
    const urls = Array.from({ length: perClient }, (_, i) => `${base}/c${k}/r${i}`);
    const out = await execFileP("curl", ["-sS", "--max-time", "20", ...urls]);
    assert.equal(out, urls.map((_, i) => `hello /c${k}/r${i}`).join(""));
  };
  const clients: Promise<void>[] = [];
  for (let k = 0; k < 100 - curlClients; k++) clients.push(checkFetch(k));
  for (let k = 0; k < curlClients; k++) clients.push(checkCurl(k));
  await Promise.all(clients);
  assert.equal(lua.eval("return served"), 100 * perClient);
  lua.eval("server:close()");
});

test("a host-thread JavaScript client connects and exchanges with callbacks; errors arrive as err", async () => {
  using rt = new Runtime();
  using lua = rt.createContext("lua", { thread: false, capabilities: net });
  const port = lua.eval<number>(callbackHttpServer);
  using js = rt.createContext("js", { thread: false, capabilities: net });
  js.eval(`
    var got = [], failed = null, done = false;
    function get(c, i) {
      c.send('GET /js' + i + ' HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n', function (err) {
        if (err) { failed = err.message; return; }
        c.receiveUntil('\\r\\n\\r\\n', function (err, head) {
          if (err) { failed = err.message; return; }
          var n = +head.match(/Content-Length: (\\d+)/)[1];
          c.receive(n, function (err, body) {
            if (err) { failed = err.message; return; }
            got.push(body);
            if (i < 4) get(c, i + 1); else { c.close(); done = true; }
          });
        });
      });
    }
    net.connect('127.0.0.1', ${port}, { timeoutMs: 5000 }, function (err, c) { if (err) failed = err.message; else get(c, 0); });
    var refused = null;
    net.connect('127.0.0.1', 1, function (err, c) { refused = err.message; });`);
  for (let i = 0; i < 400 && !(js.eval("done") && js.eval("refused")) && js.eval("failed") === null; i++) await sleep(5);
  assert.equal(js.eval("failed"), null);
  assert.deepEqual(js.eval("got"), ["hello /js0", "hello /js1", "hello /js2", "hello /js3", "hello /js4"]);
  assert.equal(js.eval("refused"), "connection refused");
  assert.throws(() => js.eval("net.connect('127.0.0.1', 1)"), /callback form/); // the blocking form says what to use
  lua.eval("server:close()");
});

test("an interrupted send reports the bytes it wrote; a Squirrel net error keeps its message uncaught", async () => {
  using rt = new Runtime();
  using srv = rt.createContext("lua", { thread: true, capabilities: net });
  const port = srv.eval<number>("s = net.listen('127.0.0.1', 0) return s:port()");
  using lua = rt.createContext("lua", { thread: true, capabilities: net });
  lua.eval(`c = assert(net.connect('127.0.0.1', ${port})) big = string.rep('x', 32 << 20)`);
  srv.eval("held = s:accept()"); // never reads: the send parks on backpressure
  const e = await lua.evalAsync("c:send(big)", { timeoutMs: 150 }).then(() => undefined, (x: unknown) => x);
  assert.ok(e instanceof CalogLimitError, String(e));
  assert.equal(e.limit, "timeout");
  assert.ok(typeof e.partial === "number" && e.partial > 0 && e.partial < 32 << 20, `partial ${e.partial}`);
  lua.eval("c:close()");
  srv.eval("held:close() s:close()");
  using sq = rt.createContext("squirrel", { thread: true, capabilities: net });
  sq.eval(`function f() { local s = net.listen("127.0.0.1", 0); local c = net.connect("127.0.0.1", s.port()); local d = s.accept();
    d.setTimeouts(null, null, 30); c.send("ab"); local r = null;
    try { r = d.receive("*l"); } catch (e) { s.close(); c.close(); d.close(); throw e; } return r; }`);
  assert.throws(() => sq.call("f"), (x: unknown) => {
    assert.ok(x instanceof CalogScriptError, String(x));
    assert.equal(x.message, "timeout");
    assert.deepEqual(x.value, { message: "timeout", partial: "ab" });
    return true;
  });
});
