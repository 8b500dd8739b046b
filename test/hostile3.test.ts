// Third hostile pass: the I/O callback forms (issue 11) and the Lua wire-direct codec, attacked from a
// user's side. Every test is one attack; what it expects is what README promises. Loopback only, bounded in
// count and time.
import assert from "node:assert/strict";
import { type Capabilities, CalogLimitError, CalogValueError, type EngineName, Runtime } from "../bindings/mod.ts";
import { isDeno, runChild, test } from "./harness.ts";

const net: Capabilities = { net: { connect: ["127.0.0.1:*"], listen: ["127.0.0.1:*"] } };
const engines: EngineName[] = ["lua", "js", "squirrel"];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves once `f()` holds, polling without crossing into calog; rejects after `ms`. */
function until(what: string, f: () => boolean, ms = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const tick = (): void => {
      if (f()) resolve();
      else if (Date.now() - t0 > ms) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(tick, 5);
    };
    tick();
  });
}

// ---- a threaded context's callbacks reach the host while TypeScript is idle ------------------------------
// A threaded context's timer or I/O callback that calls a host function (or prints through the output sink)
// waits for the JavaScript thread. With no request of TypeScript's in flight, nothing woke that thread: the
// callback stalled until the program next called into calog (a threaded callback server that logs froze).

const timerCalls: Record<EngineName, string> = {
  lua: "timer.after(5, function() hit(1) hit(2) print('printed') hit(3) end)",
  js: "timer.after(5, function () { hit(1); hit(2); console.log('printed'); hit(3); })",
  squirrel: "timer.after(5, function() { hit(1); hit(2); print(\"printed\\n\"); hit(3); })",
};

for (const engine of engines) {
  test(`${engine}: a threaded context's timer callback calls the host and prints while TypeScript only awaits`, async () => {
    using rt = new Runtime();
    const hits: unknown[] = [];
    const printed: string[] = [];
    rt.register("hit", (n: unknown) => void hits.push(n));
    using ctx = rt.createContext(engine, { thread: true, output: (t) => void printed.push(String(t)) });
    ctx.eval(timerCalls[engine]);
    await until("three host calls and a print", () => hits.length === 3 && printed.length === 1);
    assert.deepEqual(hits, [1, 2, 3]);
    assert.match(printed[0]!, /printed/);
  });
}

test("a threaded Lua callback server logging through a host function serves a threaded client while TypeScript only awaits", async () => {
  using rt = new Runtime();
  const logged: string[] = [];
  rt.register("log", (s: unknown) => void logged.push(String(s)));
  using srv = rt.createContext("lua", { thread: true, capabilities: net });
  using cli = rt.createContext("lua", { thread: true, capabilities: net });
  const port = srv.eval<number>(`
    server = assert(net.listen('127.0.0.1', 0, function(c)
      log('accepted')
      local function serve()
        c:receive('*l', function(err, line)
          if err then log('end:' .. err.message) c:close() return end
          log('got:' .. line)
          c:send(line:upper() .. '\\n', function(err) if not err then serve() end end)
        end)
      end
      serve()
    end))
    return server:port()`);
  cli.eval(`
    net.connect('127.0.0.1', ${port}, function(err, c)
      assert(not err)
      local n = 0
      local function ping()
        n = n + 1
        c:send('ping' .. n .. '\\n', function()
          c:receive('*l', function(err, line)
            log('reply:' .. line)
            if n < 5 then ping() else c:close() end
          end)
        end)
      end
      ping()
    end)`);
  await until("five round trips and the end", () => logged.includes("end:closed"));
  assert.equal(logged.filter((s) => s.startsWith("got:")).length, 5);
  assert.deepEqual(logged.filter((s) => s.startsWith("reply:")), ["reply:PING1", "reply:PING2", "reply:PING3", "reply:PING4", "reply:PING5"]);
  srv.eval("server:close()");
});

// ---- the process ends by itself once calog has nothing left to do -----------------------------------------
// Under Deno a pending wait keeps the process alive: the library's count of registrations must come back to
// zero, and the wait armed on a stale count must end when it does (it was re-armed after the last host call of
// a threaded callback, while the timer was still counted, and then waited for good).
const childScenarios: [string, string][] = [
  ["threaded-timer", "a,b"],
  ["threaded-exchange", "srv:hi,cli:hi!"],
  ["host-dispose", "connected"],
  ["host-complete", "got:data"],
  ["async-then-threaded", "got:42"],
  ["async-then-host", "got:42"],
  ["timer-threaded", "fired"],
  ["timer-host", "fired"],
  ["quiet-timer-threaded", "ok"],
  ["quiet-timer-host", "ok"],
  ["every-cancelled-threaded", "ok"],
  ["every-cancelled-host", "ok"],
  ["every-self-cancelled", "ok"],
  ["timer-context-disposed", "ok"],
];
for (const [scenario, marks] of childScenarios) {
  test(`the process exits by itself: ${scenario}`, async () => {
    const r = await runChild(new URL("./hostile3_child.ts", import.meta.url), [scenario], 20_000);
    assert.equal(r.code, 0, `exit code ${r.code} after ${r.ms} ms (killed if null): ${r.out}`);
    assert.equal(r.out.trim().split("\n").at(-1), marks);
  }, 30000);
}

// ---- the Lua codec ----------------------------------------------------------------------------------------
// A function crossing from Lua takes a registry reference, whose growth can fail on the memory limit. That raise
// skipped the cleanup of the arguments already read: on the host thread the wire handle of the first function
// (written straight into OUT), on a threaded context its function value, leaked per trip.
for (const thread of [false, true]) {
  test(`lua (${thread ? "own thread" : "host thread"}): the memory limit tripping while functions cross to the host leaks nothing`, async () => {
    using rt = new Runtime();
    const kept: { dispose(): void }[] = [];
    rt.register("keep", (...fs: unknown[]) => void kept.push(...(fs as { dispose(): void }[])));
    rt.createContext("lua", { thread }).dispose(); // the runtime's net and timer natives exist from here on
    await sleep(50);
    const base = rt.stats().nativeFunctionValues;
    for (const shift of [0, 1]) { // one of the two fails on the second argument's reference
      using lua = rt.createContext("lua", { thread, limits: { memory: 8 << 20 } });
      assert.throws(() => lua.eval(`
        fns = {} for i = 1, 20000 do fns[i] = function() return i end end
        if ${shift} == 1 then keep(fns[1]) end
        hog = {}
        while true do
          collectgarbage()
          local room = (8 << 20) - 100000 - collectgarbage('count') * 1024
          if room < 64 then break end
          hog[#hog + 1] = string.rep('x', math.min(room // 2, 65536))
        end
        for i = 1, #fns do keep(fns[i], fns[i]) end`), (e: unknown) => {
        assert.ok(e instanceof CalogLimitError, String(e));
        assert.equal(e.limit, "memory");
        assert.ok(e.used > (8 << 20) + 16384, `the registry's growth failed (${e.used})`);
        return true;
      });
      assert.ok(kept.length > 1000);
      for (const f of kept.splice(0)) f.dispose();
    }
    // releases of a threaded context's functions are served by its thread: give them a moment
    await until("the function values released", () => rt.stats().nativeFunctionValues <= base, 3000).catch(() => {});
    assert.equal(rt.stats().nativeFunctionValues, base);
  });
}

// ---- attacks that found nothing, kept as regression tests --------------------------------------------------
const modes = [false, true];
const where = (thread: boolean) => (thread ? "own thread" : "host thread");

// A callback that closes the connection it was called for and starts another operation on it: that call fails
// at once with "closed" (Lua nil + message, JavaScript and Squirrel throw), and its callback never runs.
const closeThenReuse: Record<EngineName, string> = {
  lua: `r = {} srv = net.listen('127.0.0.1', 0)
    srv:accept(function(err, c) c:receive('*l', function(err, l)
      r.first = l c:close()
      local ok, e = c:receive('*l', function() r.never = true end) r.after = e
      local ok2, e2 = c:send('x', function() r.never = true end) r.send = e2
    end) end)
    net.connect('127.0.0.1', srv:port(), function(err, c) peer = c c:send('hello\\n', function() end) end)`,
  js: `var r = {}; var srv = net.listen('127.0.0.1', 0);
    srv.accept(function (err, c) { c.receive('*l', function (err, l) {
      r.first = l; c.close();
      try { c.receive('*l', function () { r.never = true; }); } catch (e) { r.after = e.message; }
      try { c.send('x', function () { r.never = true; }); } catch (e) { r.send = e.message; }
    }); });
    net.connect('127.0.0.1', srv.port(), function (err, c) { r.peer = c; c.send('hello\\n', function () {}); });`,
  squirrel: `::r <- {}; ::srv <- net.listen("127.0.0.1", 0);
    srv.accept(function(err, c) { c.receive("*l", function(err, l) {
      ::r.first <- l; c.close();
      try { c.receive("*l", function(e, x) { ::r.never <- true; }); } catch (e) { ::r.after <- (typeof e == "table" ? e.message : e); }
      try { c.send("x", function(e, n) { ::r.never <- true; }); } catch (e) { ::r.send <- (typeof e == "table" ? e.message : e); }
    }); });
    net.connect("127.0.0.1", srv.port(), function(err, c) { ::r.peer <- c; c.send("hello\\n", function(e, n) {}); });`,
};
const closeThenReuseResult: Record<EngineName, string> = {
  lua: "return r.first .. '|' .. tostring(r.after) .. '|' .. tostring(r.send) .. '|' .. tostring(r.never)",
  js: "r.first + '|' + r.after + '|' + r.send + '|' + r.never",
  squirrel: `return ::r.first + "|" + ::r.after + "|" + ::r.send + "|" + ("never" in ::r ? "true" : "nil");`,
};
for (const thread of modes) {
  for (const engine of engines) {
    test(`${engine} (${where(thread)}): a callback closes its own conn, then starts another operation on it`, async () => {
      using rt = new Runtime();
      using ctx = rt.createContext(engine, { thread, capabilities: net });
      ctx.eval(closeThenReuse[engine]);
      const sent: Record<EngineName, string> = { lua: "return r.send ~= nil", js: "r.send !== undefined", squirrel: `return "send" in ::r;` };
      const done = () => ctx.eval(sent[engine]) === true;
      for (let i = 0; i < 400 && !done(); i++) await sleep(5);
      await sleep(30); // a callback that should never run would have by now
      const expect = engine === "js" ? "hello|closed|closed|undefined" : "hello|closed|closed|nil";
      assert.equal(ctx.eval(closeThenReuseResult[engine]), expect);
    });
  }
}

// A callback whose host function disposes the callback's own context, or the runtime (refused: it is inside
// one of the runtime's calls); nothing crashes, later callbacks of the dead context never run.
for (const thread of modes) {
  for (const engine of ["lua", "js"] as const) {
    test(`${engine} (${where(thread)}): a callback disposes its own context; another tries to dispose the runtime`, async () => {
      const printed: string[] = [];
      using rt = new Runtime({ output: (t) => void printed.push(String(t)) });
      let self: { dispose(): void } | undefined;
      rt.register("killme", () => (self!.dispose(), "disposed"));
      rt.register("killrt", () => {
        try {
          rt.dispose();
          return "disposed";
        } catch (e) {
          return (e as Error).message;
        }
      });
      const ctx = rt.createContext(engine, { thread });
      self = ctx;
      using other = rt.createContext(engine, { thread });
      const src = engine === "lua"
        ? ["timer.after(1, function() killme() end) timer.after(40, function() print('ran late') end)", "timer.after(1, function() print(killrt()) end)"]
        : ["timer.after(1, function () { killme(); }); timer.after(40, function () { console.log('ran late'); });", "timer.after(1, function () { console.log(killrt()); });"];
      ctx.eval(src[0]!);
      other.eval(src[1]!);
      await until("both callbacks", () => printed.some((p) => /cannot be disposed from inside/.test(p)) && ctx.disposed === true);
      await sleep(60);
      assert.ok(!printed.some((p) => /ran late/.test(p)), printed.join(""));
      assert.equal(rt.disposed, false);
    });
  }
}

// A thousand connects (each then with a receive and a 100 KB send pending), a thousand timers and a UDP receive,
// all pending when the context is disposed: nothing runs, no descriptor stays open, nothing is left counted.
for (const thread of modes) {
  test(`lua (${where(thread)}): a context disposed with thousands of operations pending`, async () => {
    // sockets, epoll and eventfd descriptors only (the runner opens files of its own meanwhile). Deno refuses
    // /proc/self without --allow-all: a child lists them there (Bun's spawnSync would add sockets of its own).
    const { spawnSync } = await import("node:child_process");
    const { readdirSync, readlinkSync } = await import("node:fs");
    const link = (f: string) => {
      try {
        return readlinkSync(`/proc/self/fd/${f}`);
      } catch {
        return "";
      }
    };
    const list = (): string[] => isDeno
      ? spawnSync("ls", ["-l", `/proc/${process.pid}/fd`], { encoding: "utf8" }).stdout.split("\n").map((l) => l.replace(/^.* -> /, ""))
      : readdirSync("/proc/self/fd").map(link);
    const fds = () => list().filter((l) => /^(socket:|anon_inode:)/.test(l)).length;
    const before = fds();
    {
      using rt = new Runtime();
      const lua = rt.createContext("lua", { thread, capabilities: net });
      lua.eval(`
        srv = net.listen('127.0.0.1', 0, { backlog = 4096 }) conns = 0
        for i = 1, 1000 do
          net.connect('127.0.0.1', srv:port(), function(err, c) if c then conns = conns + 1
            c:receive('*a', function() end) c:send(string.rep('x', 100000), function() end) end end)
          timer.after(100000 + i, function() end)
        end
        u = net.udp() u:bind('127.0.0.1', 0) u:receive(function() end)`);
      for (let i = 0; i < 400 && lua.eval<number>("return conns") < 200; i++) await sleep(5);
      lua.dispose();
      rt.createContext("lua", { thread: false }).dispose();
    }
    for (let i = 0; i < 50 && fds() > before; i++) await sleep(20);
    assert.ok(fds() <= before, `${fds() - before} descriptors left`);
  });
}

// A peer that never reads: the send's callback waits; a second send is busy; closing completes it with "closed"
// and the bytes written. A half-closed peer: receive("*a") gets everything, and the reply still reaches it.
for (const thread of modes) {
  test(`js (${where(thread)}): send backpressure, busy, close with partial; a half-closed peer`, async () => {
    using rt = new Runtime();
    using js = rt.createContext("js", { thread, capabilities: net });
    js.eval(`var r = {}; var srv = net.listen('127.0.0.1', 0);
      srv.accept(function (err, c) { r.lazy = c; });
      net.connect('127.0.0.1', srv.port(), function (err, c) { r.w = c;
        var big = 'z'; for (var i = 0; i < 25; i++) big += big; // 32 MB: more than the socket buffers hold
        c.send(big, function (err, n) { r.big = err ? err.message + ':' + (err.partial > 0 && err.partial < big.length) : 'all ' + n; });
        try { c.send('more', function () {}); r.busy = 'no'; } catch (e) { r.busy = e.message.slice(0, 5); }
      });`);
    for (let i = 0; i < 200 && js.eval("r.lazy === undefined || r.w === undefined"); i++) await sleep(5);
    await sleep(50);
    js.eval("r.w.close()");
    for (let i = 0; i < 200 && js.eval("r.big === undefined"); i++) await sleep(5);
    assert.equal(js.eval("r.busy + '|' + r.big"), "busy:|closed:true");
    js.eval(`srv.accept(function (err, c) { c.receive('*a', function (err, all) { r.all = err ? 'E' + err.message : all;
        c.send('back', function (err, n) { r.back = err ? 'E' + err.message : n; c.close(); }); }); });
      net.connect('127.0.0.1', srv.port(), function (err, c) { c.send('half', function () { c.shutdown();
        c.receive('*a', function (err, d) { r.gotback = err ? 'E' + err.message : d; }); }); });`);
    for (let i = 0; i < 200 && js.eval("r.gotback === undefined"); i++) await sleep(5);
    assert.equal(js.eval("r.all + '|' + r.back + '|' + r.gotback"), "half|4|back");
    js.eval("r.lazy.close(); srv.close();");
  });
}

// UDP callback forms from JavaScript and Squirrel (only Lua had them tested), a throwing callback reported.
for (const thread of modes) {
  test(`js and squirrel (${where(thread)}): UDP callback forms; a callback that throws is reported`, async () => {
    const printed: string[] = [];
    using rt = new Runtime({ output: (t) => void printed.push(String(t)) });
    using js = rt.createContext("js", { thread, capabilities: net });
    js.eval(`var r = {}; var u = net.udp(); u.bind('127.0.0.1', 0);
      u.receive(function (err, m) { r.got = err ? 'E' + err.message : m.data + '@' + m.host; });
      var v = net.udp(); v.send('dgram-js', '127.0.0.1', u.port(), function (err, n) { r.sent = err ? 'E' + err.message : n; });`);
    using sq = rt.createContext("squirrel", { thread, capabilities: net });
    sq.eval(`::r <- {}; ::u <- net.udp(); u.bind("127.0.0.1", 0);
      u.receive(function(err, m) { ::r.got <- err ? "E" + err.message : m.data + "@" + m.host; });
      ::v <- net.udp(); v.send("dgram-sq", "127.0.0.1", u.port(), function(err, n) { ::r.sent <- err ? "E" + err.message : n; });`);
    for (let i = 0; i < 400 && !(js.eval("r.sent !== undefined && r.got !== undefined") && sq.eval(`return ("got" in ::r) && ("sent" in ::r)`)); i++) await sleep(5);
    assert.equal(js.eval("r.got + '|' + r.sent"), "dgram-js@127.0.0.1|8");
    assert.equal(sq.eval(`return ::r.got + "|" + ::r.sent`), "dgram-sq@127.0.0.1|8");
    js.eval(`u.receive(function () { throw new Error('js boom'); }); v.send('x', '127.0.0.1', u.port(), function () {});`);
    sq.eval(`u.receive(function (e, m) { throw "sq boom"; }); v.send("x", "127.0.0.1", u.port(), function (e, n) {});`);
    await until("both reports", () => printed.filter((p) => /udp:receive callback failed: (js|sq) boom/.test(p)).length === 2);
    js.eval("u.close(); v.close();");
    sq.eval("u.close(); v.close();");
  });
}

// The Lua codec reads tables raw: metamethods that throw never run while a table crosses, either way; the depth
// cap is exact (100 levels cross, 101 do not) in every direction; a host function called from a coroutine.
for (const thread of modes) {
  test(`lua (${where(thread)}): crossing ignores metamethods, the depth cap is exact, host calls from coroutines`, () => {
    using rt = new Runtime();
    rt.register("id", (x: unknown) => x);
    rt.register("callIt", (f: unknown) => (f as () => unknown)());
    using lua = rt.createContext("lua", { thread });
    lua.eval(`function trap(t) return setmetatable(t, { __index = function() error('index ran') end,
        __pairs = function() error('pairs ran') end, __len = function() error('len ran') end,
        __eq = function() error('eq ran') end, __gc = function() id('gc') end }) end
      function depth(t) local d = 0 while type(t) == 'table' do d = d + 1 t = rawget(t, 1) end return d end
      function mk(n) local v = 1 for i = 1, n do v = {v} end return v end
      function echo(x) return x end`);
    const raw = new Map<unknown, unknown>([[1, 1], [2, 2], ["x", 3]]);
    assert.deepEqual(lua.eval("return trap({1, 2, x = 3})"), raw);
    assert.deepEqual(lua.eval("return id(trap({1, 2, x = 3}))"), raw);
    assert.equal(lua.eval("return rawget(trap(id({1, 2, x = 3})), 'x')"), 3);
    const nest = (n: number): unknown => (n === 0 ? 1 : [nest(n - 1)]);
    assert.equal(lua.call("depth", nest(100)), 100);
    assert.equal(lua.eval("return depth(id(mk(100)))"), 100);
    assert.equal(lua.call("depth", lua.call("mk", 100)), 100);
    assert.throws(() => lua.call("echo", nest(101)), CalogValueError);
    assert.throws(() => lua.call("mk", 101), CalogValueError);
    assert.throws(() => lua.eval("return id(mk(101))"), /depth cap/);
    assert.equal(lua.eval("return coroutine.wrap(function(a) local t = id({a, {b = {c = a}}}) coroutine.yield(t[2].b.c) end)(5)"), 5);
    // a Lua function the host calls runs outside the coroutine: yielding there is a clean script error
    assert.match(String(lua.eval("return select(2, pcall(coroutine.wrap(function() return callIt(function() coroutine.yield(1) end) end)))")), /yield/);
    lua.eval("collectgarbage() collectgarbage()");
  });
}
