// A child process for hostile3.test.ts: one scenario (argv) that leaves calog with nothing more to do and
// must then let the process end by itself (the parent fails it if the process does not exit).
import { Runtime } from "../bindings/mod.ts";

const net = { net: { connect: ["127.0.0.1:*"], listen: ["127.0.0.1:*"] } };
const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";
const args: string[] = isDeno ? (globalThis as unknown as { Deno: { args: string[] } }).Deno.args : process.argv.slice(2);

/** Keeps the event loop alive (a polling timer) until f() holds. */
function until(f: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const tick = (): void => void (f() ? resolve() : setTimeout(tick, 5));
    tick();
  });
}

function fullGc(): void {
  const g = globalThis as { Bun?: { gc(full: boolean): void }; gc?: () => void };
  if (g.Bun) g.Bun.gc(true);
  else g.gc?.();
}

const rt = new Runtime();
const marks: string[] = [];
const keep: unknown[] = [rt]; // reachable to the end: no GC backstop may end what a scenario left running
(globalThis as { calogTestKeep?: unknown }).calogTestKeep = keep;
rt.register("mark", (s: unknown) => void marks.push(String(s)));
switch (args[0]) {
  case "threaded-timer": { // the callback calls the host; nothing is disposed
    const lua = rt.createContext("lua", { thread: true });
    lua.eval("timer.after(20, function() mark('a') mark('b') end)");
    await until(() => marks.length === 2);
    break;
  }
  case "threaded-exchange": { // a threaded callback server and client talk, then close everything themselves
    const srv = rt.createContext("lua", { thread: true, capabilities: net });
    const cli = rt.createContext("js", { thread: true, capabilities: net });
    const port = srv.eval<number>(`server = net.listen('127.0.0.1', 0, function(c)
        c:receive('*l', function(err, l) mark('srv:' .. l) c:send(l .. '!\\n', function() c:close() server:close() end) end)
      end) return server:port()`);
    cli.eval(`net.connect('127.0.0.1', ${port}, function (err, c) {
        c.send('hi\\n', function () { c.receive('*l', function (err, l) { mark('cli:' + l); c.close(); }); });
      });`);
    await until(() => marks.length === 2);
    break;
  }
  case "host-dispose": { // a host-thread context with operations pending of every kind, then disposed
    const lua = rt.createContext("lua", { thread: false, capabilities: net });
    lua.eval(`lonely = net.listen('127.0.0.1', 0) lonely:accept(function() mark('never') end)
      srv = net.listen('127.0.0.1', 0) -- connects queue in its backlog, never accepted
      net.connect('127.0.0.1', srv:port(), function(err, c) c:receive('*a', function() mark('never') end) mark('connected') end)
      u = net.udp() u:bind('127.0.0.1', 0) u:receive(function() mark('never') end)
      timer.after(100000, function() mark('never') end)`);
    await until(() => marks.length === 1);
    lua.dispose();
    break;
  }
  case "host-complete": { // a host-thread exchange that ends by itself, the context left alive
    const lua = rt.createContext("lua", { thread: false, capabilities: net });
    lua.eval(`srv = net.listen('127.0.0.1', 0, function(c)
        c:receiveUntil('.', function(err, d) mark('got:' .. d) c:close() srv:close() end) end)
      net.connect('127.0.0.1', srv:port(), function(err, c) c:send('data.', function() c:close() end) end)`);
    await until(() => marks.length === 1);
    break;
  }
  // Nothing awaited, no timer of the test's own, no reference to the runtime kept, and a full GC: calog's own
  // work must keep the process and the runtime alive until it is done (under Bun it did neither: the process
  // ended before the reply, or a collected runtime never ran the script's timer callback).
  case "async-then-threaded":
  case "async-then-host": {
    (() => {
      const own = new Runtime();
      const lua = own.createContext("lua", { thread: args[0] === "async-then-threaded" });
      void lua.evalAsync("local t = os.clock() while os.clock() - t < 0.05 do end return 42").then((v) => console.log(`got:${v}`));
    })();
    fullGc();
    break;
  }
  case "timer-threaded":
  case "timer-host": {
    (() => {
      const own = new Runtime();
      own.register("done", (s: unknown) => void console.log(String(s)));
      own.createContext("lua", { thread: args[0] === "timer-threaded" }).eval("timer.after(30, function() done('fired') end)");
    })();
    fullGc();
    break;
  }
  // The last timer ends on the io or a context thread without calling TypeScript, the runtime and context kept
  // reachable: the process must still end (under Bun it hung: nothing told the host its wake could go).
  case "quiet-timer-threaded":
  case "quiet-timer-host": {
    const lua = rt.createContext("lua", { thread: args[0] === "quiet-timer-threaded" });
    lua.eval("timer.after(30, function() fired = true end)");
    keep.push(lua);
    marks.push("ok");
    break;
  }
  case "every-cancelled-threaded":
  case "every-cancelled-host": { // cancelled by a synchronous call: the io thread drops it later
    const lua = rt.createContext("lua", { thread: args[0] === "every-cancelled-threaded" });
    lua.eval("h = timer.every(1000, function() end)");
    setTimeout(() => lua.eval("h:cancel()"), 20);
    keep.push(lua);
    marks.push("ok");
    break;
  }
  case "every-self-cancelled": {
    const lua = rt.createContext("lua", { thread: true });
    lua.eval("n = 0 h = timer.every(5, function() n = n + 1 if n == 3 then h:cancel() end end)");
    keep.push(lua);
    marks.push("ok");
    break;
  }
  case "timer-context-disposed": {
    const lua = rt.createContext("lua", { thread: true });
    lua.eval("timer.after(100000, function() end)");
    setTimeout(() => lua.dispose(), 20);
    keep.push(lua);
    marks.push("ok");
    break;
  }
  default:
    throw new Error(`unknown scenario ${args[0]}`);
}
console.log(marks.join(","));
