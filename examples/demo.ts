// calog demo: `npm start` (Bun) or `deno task start` (Deno).
import { CalogLimitError, CalogPermissionError, CalogScriptError, Runtime, type ScriptFunction } from "../bindings/mod.ts";

using rt = new Runtime();
console.log(`calog on ${Runtime.binding}`);

// 1. A TypeScript function registered once is a native every script can call.
rt.register("shout", (text) => `${String(text).toUpperCase()}!`);

using lua = rt.createContext("lua");
console.log("Lua calls TypeScript:", lua.eval(`return shout("hello from lua")`));

// 2. TypeScript calls Lua with a nested table and gets one back.
lua.eval(`
  function summarize(order)
    local total = 0
    for _, line in ipairs(order.lines) do total = total + line.qty * line.price end
    return { customer = order.customer, items = #order.lines, total = total, tags = { "lua", "calog" } }
  end`);
const order = { customer: "Ada", lines: [{ qty: 2, price: 3.5 }, { qty: 1, price: 10 }] };
console.log("TypeScript calls Lua:", JSON.stringify(order), "->", JSON.stringify(lua.call("summarize", order)));

// 3. Functions cross both ways: a Lua closure comes back callable, a TS callback goes in.
lua.eval(`
  function counter() local n = 0 return function(step) n = n + (step or 1) return n end end
  function applyTo(f, a, b) return "f(" .. a .. ", " .. b .. ") = " .. f(a, b) end`);
using counter = lua.getFunction("counter");
using next = counter() as ScriptFunction;
console.log("Lua closure called from TypeScript:", next(), next(10));
console.log("TypeScript callback called from Lua:", lua.call("applyTo", (a: number, b: number) => a * b, 6, 7));

// 4. Three engines, one value model: a JavaScript closure and a Squirrel function called from Lua.
using js = rt.createContext("js");
using squirrel = rt.createContext("squirrel");
js.eval(`function makeGreeter(greeting) { return function (name) { return greeting + ", " + name + "!"; }; }`);
squirrel.eval(`function scale(v, k) { local out = []; foreach (x in v) out.append(x * k); return out; }`);
lua.eval(`function combine(greet, scale) return { greet("Lua"), scale({1, 2, 3}, 10) } end`);
using greet = js.call("makeGreeter", "Hello") as ScriptFunction;
using scale = squirrel.getFunction("scale");
console.log("Lua calls JS and Squirrel:", JSON.stringify(lua.call("combine", greet, (v: number[], k: number) => scale(v, k))));

// 5. Each context runs on its own thread: the Promise forms leave the event loop free.
let ticks = 0;
const timer = setInterval(() => ticks++, 1);
const [sumLua, sumJs] = await Promise.all([
  lua.evalAsync(`local s = 0 for i = 1, 3e6 do s = s + i end return s`),
  js.evalAsync(`var s = 0; for (var i = 1; i <= 3e6; i++) s += i; s`),
]);
clearInterval(timer);
console.log(`two threads summed ${sumLua} and ${sumJs} while the event loop ticked ${ticks} times`);

// 6. Errors are named and carry the script traceback.
try {
  lua.eval(`local t = nil\nreturn t.field`, { chunkName: "oops.lua" });
} catch (e) {
  if (e instanceof CalogScriptError) console.log(`${e.name}: ${e.message}\n${e.traceback}`);
}

// 7. Output goes where you say, and scripts are sandboxed unless you grant more.
const captured: string[] = [];
using quiet = rt.createContext("js", { output: (text, stream) => void captured.push(`${stream}: ${String(text).trimEnd()}`) });
quiet.eval(`print("printed by JavaScript"); console.error("and a warning")`);
console.log("captured output:", JSON.stringify(captured));
try {
  lua.eval(`return io.open("/etc/passwd"):read("a")`);
} catch (e) {
  if (e instanceof CalogPermissionError) console.log(`${e.name}: ${e.message}`);
}

// 8. Limits: a runaway script stops with a named error, and its context stays usable.
using bounded = rt.createContext("lua", { limits: { timeoutMs: 100, memory: 8 << 20 } });
try {
  bounded.eval(`while true do pcall(function() while true do end end) end`);
} catch (e) {
  if (e instanceof CalogLimitError) console.log(`${e.name} (${e.limit}): ${e.message}`);
}
console.log("and the context is still usable:", bounded.eval(`return 6 * 7`));

// 9. Networking: a Lua server and a JavaScript client, each parked on its own thread while the event loop goes on
//    (loopback only; the net capability names what each may reach; examples/network.ts has an HTTP server).
using echo = rt.createContext("lua", { capabilities: { net: { listen: ["127.0.0.1:*"] } } });
const echoPort = echo.eval<number>(`
  server = assert(net.listen("127.0.0.1", 0, function(conn)
    local line = conn:receive("*l")
    if line then conn:send(line:upper() .. "\\n") end
    conn:close()
  end))
  return server:port()`);
using caller = rt.createContext("js", { capabilities: { net: { connect: [`127.0.0.1:${echoPort}`] } } });
console.log("over TCP:", await caller.evalAsync(`
  var c = net.connect("127.0.0.1", ${echoPort}, { timeoutMs: 5000 });
  c.send("sent by JavaScript, served by Lua\\n");
  var reply = c.receive("*l"); c.close(); reply`));
