// Third hostile pass: the I/O callback forms (issue 11) and the Lua wire-direct codec, attacked from a
// user's side. Every test is one attack; what it expects is what README promises. Loopback only, bounded in
// count and time.
import assert from "node:assert/strict";
import { type Capabilities, CalogLimitError, type EngineName, Runtime } from "../bindings/mod.ts";
import { test } from "./harness.ts";

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
const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";

async function runChild(scenario: string): Promise<{ code: number | null; out: string; ms: number }> {
  const { spawn } = await import("node:child_process");
  const exe = isDeno ? (globalThis as unknown as { Deno: { execPath(): string } }).Deno.execPath() : process.execPath;
  const child = new URL("./hostile3_child.ts", import.meta.url).pathname;
  const argv = isDeno ? ["run", "--allow-ffi", "--allow-env", "--allow-read", child, scenario] : [child, scenario];
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const p = spawn(exe, argv, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout.on("data", (d: Uint8Array) => (out += String(d)));
    p.stderr.on("data", (d: Uint8Array) => (out += String(d)));
    const kill = setTimeout(() => p.kill("SIGKILL"), 20000);
    p.on("error", reject);
    p.on("exit", (code) => {
      clearTimeout(kill);
      resolve({ code, out, ms: Date.now() - t0 });
    });
  });
}

const childScenarios: [string, string][] = [
  ["threaded-timer", "a,b"],
  ["threaded-exchange", "srv:hi,cli:hi!"],
  ["host-dispose", "connected"],
  ["host-complete", "got:data"],
];
for (const [scenario, marks] of childScenarios) {
  test(`the process exits by itself: ${scenario}`, async () => {
    const r = await runChild(scenario);
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
