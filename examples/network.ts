// Networking from scripts, one engine each: a Lua HTTP/1.1 server, a JavaScript client, a Squirrel timer.
//   node_modules/.bin/bun examples/network.ts            serves a few requests to itself, then exits
//   node_modules/.bin/bun examples/network.ts --serve    keeps serving: try `curl http://127.0.0.1:<port>/hi`
// (Deno: deno run --allow-ffi --allow-env --allow-read --allow-net=127.0.0.1 examples/network.ts)
// Scripts write plain blocking code; each context parks on its own thread while the event loop goes on.
import { Runtime } from "../bindings/mod.ts";

using rt = new Runtime();

// 1. Lua serves HTTP/1.1 (keep-alive included) with the callback form of net.listen: handle(conn) runs on the
//    context's own thread for each connection, and its blocking receive/send park only that context.
using server = rt.createContext("lua", { capabilities: { net: { listen: ["127.0.0.1:*"] } } });
const port = server.eval<number>(`
  served = 0
  local function respond(conn, status, body)
    conn:send(("HTTP/1.1 %s\\r\\nContent-Type: text/plain\\r\\nContent-Length: %d\\r\\n\\r\\n%s"):format(status, #body, body))
  end
  local function handle(conn)
    conn:setTimeouts(nil, 5000, 5000)
    while true do
      local request = conn:receive("*l")           -- nil, "closed" / "timeout" ends the connection
      if not request then break end
      local method, path = request:match("^(%u+) (%S+) HTTP/1%.[01]$")
      local length, close = 0, false
      while true do                                 -- headers, up to the empty line
        local h = conn:receive("*l")
        if h == nil or h == "" then break end
        local name, value = h:match("^([^:]+):%s*(.*)$")
        name = name and name:lower()
        if name == "content-length" then length = tonumber(value) or 0 end
        if name == "connection" and value:lower() == "close" then close = true end
      end
      local body = length > 0 and conn:receive(length) or ""
      served = served + 1
      if not method then respond(conn, "400 Bad Request", "bad request\\n") break end
      respond(conn, "200 OK", ("%s %s from Lua (%d bytes in, request %d)\\n"):format(method, path, #body, served))
      if close then break end
    end
    conn:close()
  end
  server = assert(net.listen("127.0.0.1", 0, handle))
  return server:port()`);
console.log(`Lua serves http://127.0.0.1:${port}/`);

// 2. fetch() talks to it (Deno needs --allow-net=127.0.0.1 for its own fetch; calog's sockets need none).
const res = await fetch(`http://127.0.0.1:${port}/from-fetch`, { method: "POST", body: "hello" });
console.log(`fetch: ${res.status} ${(await res.text()).trim()}`);

// 3. A JavaScript client on its own thread: two requests on one connection.
using client = rt.createContext("js", { capabilities: { net: { connect: [`127.0.0.1:${port}`] } } });
const replies = await client.evalAsync<string[]>(`
  var conn = net.connect("127.0.0.1", ${port}, { timeoutMs: 5000 });
  function get(path) {
    conn.send("GET " + path + " HTTP/1.1\\r\\nHost: localhost\\r\\n\\r\\n");
    var length = 0, line;
    while ((line = conn.receive("*l")) !== "") {
      var m = /^content-length:\\s*(\\d+)$/i.exec(line);
      if (m) length = Number(m[1]);
    }
    return conn.receive(length).trim();
  }
  var out = [get("/one"), get("/two")];
  conn.close();
  out`);
for (const r of replies) console.log(`JavaScript client: ${r}`);

// 4. A Squirrel timer: every 20 ms, cancelled from inside its own callback on the third tick. Callbacks run on
//    the context's thread whenever it is idle (never inside a call that is parked), here after eval returns.
using sq = rt.createContext("squirrel");
sq.eval(`
  ticks <- [];
  local t = null;
  t = timer.every(20, function() {
    ticks.append(ticks.len() + 1);
    if (ticks.len() == 3) t.cancel();
  });`);
await new Promise((r) => setTimeout(r, 150));
console.log(`Squirrel timer ticked: ${(sq.get("ticks") as number[]).join(", ")}`);

const serve = (globalThis as { process?: { argv: string[] } }).process?.argv.includes("--serve") ??
  (globalThis as { Deno?: { args: string[] } }).Deno?.args.includes("--serve");
if (serve) {
  console.log(`serving until interrupted: curl http://127.0.0.1:${port}/hi`);
  await new Promise(() => {});
}
console.log(`Lua answered ${server.get("served")} requests`);
