// Pass 30a: a hostile user against the fixes of pass 29 (32ba680, 121a6e2, a5a596a): the sink's prepaid room, the
// receive buffer's accounting, the process's descriptor share. Every test is one attack that found a defect: each fails
// on the code it was written against, in Bun and Deno.
import assert from "node:assert/strict";
import { Runtime } from "../bindings/mod.ts";
import { runChild, test } from "./harness.ts";

// Medium (a legit value refused; a wrong error). The sink now pays for the room an aggregate reserves from its engine's
// hint (codec.c calog__sinkAggBegin, pass 29a: `k->budget -= prepaid`), clamped to the whole budget left, and only the
// aggregate's own item slots are taken out of that prepaid room (chargeSlot). Everything else the items need is charged
// to k->budget, which the hint has just emptied: a nested aggregate's CalogAggT (calog__sinkCharge(sizeof(CalogAggT)))
// and a string's bytes (calog__sinkPut: it->as.s.length + 1). A Lua table's hint is lua_rawlen, its border, which can be
// astronomically larger than what it holds: { [1] = {}, [2] = {}, [4] = {}, ..., [2^40] = {} } (41 entries, a few KB)
// has a border of 2^40, so it prepays the whole 8 MB budget, and its first nested table trips the memory limit:
// "memory limit reached: the script needed 8388664 bytes, the limit is 8388608" for a value of a few KB, sent to another
// context's function, in both thread kinds (before 121a6e2 it crossed). The same with a string item instead of {}.
// README (Limits, memory): a value crossing out costs the context what it takes, bounded by its limit.
// Fix: reserve no more than the engine will place (Lua: find the sequence's end before calog__sinkAggBegin and pass
// min(border, k)), or let sinkCharge draw on the enclosing frames' unfilled prepaid room before it trips.
for (const thread of [false, true]) {
  test(`lua (${thread ? "own thread" : "host thread"}): a small table whose border is 2^40 crosses under an 8 MB limit when its items are tables or strings`, () => {
    using rt = new Runtime({ output: "ignore" });
    using lua = rt.createContext("lua", { thread, limits: { memory: 8 << 20 } });
    using js = rt.createContext("js", { thread });
    js.eval("function take(x) { return JSON.stringify(x).length; }");
    const tables = Array.from({ length: 41 }, (_, i) => `[${2 ** i}] = {}`).join(", ");
    const strings = Array.from({ length: 41 }, (_, i) => `[${2 ** i}] = "s${i}"`).join(", ");
    lua.eval(`tables = { ${tables} }
      strings = { ${strings} }
      function f(take, which) return take(_G[which]) end`);
    assert.equal(lua.eval("return #tables"), 2 ** 40);
    for (const which of ["tables", "strings"]) {
      let got: unknown;
      try {
        got = lua.call("f", js.getFunction("take"), which);
      } catch (e) {
        got = `${(e as Error).constructor.name}: ${(e as Error).message}`;
      }
      assert.equal(typeof got, "number", `${which}: a 41-entry table was refused: ${got}`);
    }
  });
}

// Medium-high (host descriptors leaked for the process's life from a sandboxed script; they outlive the context and the
// runtime). Under an fs grant, io.open's files are full userdata of the standard FILE* type, whose metatable the
// script can reach and change: getmetatable(io.stdout) is the shared LUA_FILEHANDLE metatable (lua_caps.c pushStd /
// openChecked: luaL_setmetatable, no __metatable field). Setting its __gc (and __close) to nil means no file is ever
// closed: Lua marks an object for finalization when it gets its metatable, but at collection (and at lua_close, when
// the context is destroyed) it looks __gc up again and calls nothing. A Lua context with only `fs: { read: [dir] }`
// that opens a file 200 times and drops them leaves 200 descriptors (and their FILEs) open after ctx.dispose() and
// rt.dispose(), in both thread kinds; a loop of such contexts exhausts the host's descriptors for good. README (Limits):
// "No script can hang, exhaust or outlive its host"; (Capabilities) destroying a context frees what it held.
// Fix: give the FILE* metatable a __metatable field (getmetatable(file) then returns that, not the table), or keep
// the context's open files in a list of calog's own and fclose those still open when the context closes.
for (const thread of [false, true]) {
  test(`lua (${thread ? "own thread" : "host thread"}): files a script opened are closed when its context is destroyed, whatever it did to their metatable`, async () => {
    const fs = await import("node:fs");
    const os = await import("node:os");
    const path = await import("node:path");
    const { execFileSync } = await import("node:child_process");
    const { pid } = await import("node:process");
    // read through ls: Deno's --allow-read does not reach /proc/self (the test runs have --allow-run)
    const fds = () => String(execFileSync("ls", [`/proc/${pid}/fd`])).split("\n").filter(Boolean).length;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "calog-files-"));
    const data = path.join(dir, "data.txt");
    fs.writeFileSync(data, "x");
    try {
      const before = fds();
      {
        using rt = new Runtime({ output: "ignore" });
        using lua = rt.createContext("lua", { thread, capabilities: { fs: { read: [dir] } }, limits: { memory: 1 << 20 } });
        lua.eval(`local mt = getmetatable(io.stdout)
          if type(mt) == "table" then mt.__gc = nil mt.__close = nil end
          for i = 1, 200 do io.open(${JSON.stringify(data)}) end
          collectgarbage("collect")`);
      }
      const after = fds();
      assert.ok(after - before < 20, `${after - before} descriptors stayed open after the context and its runtime were disposed`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

// Medium (the host's descriptors taken). Pass 29b bounded calog's sockets to three quarters of the process's descriptors,
// but a file a script opened (Lua io.open, io.lines, io.input; Squirrel file() and the file class, fs grant) took any
// number: a context granted a directory opened files until the process had none left, and the host's own opens failed.
// Files now take from the same share as sockets (calog__capsOpen), and give it back when closed: by close(), by the
// garbage collector, or by reading a whole file (dofile/loadfile). Run under `ulimit -n 1024`, share 768.
test("files a script opens take from calog's descriptor share and give it back when closed (Lua, Squirrel)", async () => {
  const fs = await import("node:fs");
  const os = await import("node:os");
  const path = await import("node:path");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "calog-child-"));
  const file = path.join(dir, "files.ts");
  const data = path.join(dir, "data.txt");
  fs.writeFileSync(data, "return 1\n");
  const mod = new URL("../bindings/mod.ts", import.meta.url).href;
  fs.writeFileSync(file, `import { Runtime } from ${JSON.stringify(mod)};
    import * as fs from "node:fs";
    const rt = new Runtime({ output: "ignore" });
    const data = ${JSON.stringify(data)};
    const caps = { fs: { read: [${JSON.stringify(dir)}] } };
    const hostOpen = () => { try { fs.closeSync(fs.openSync(data, "r")); return "ok"; } catch (e) { return e.message; } };
    const lua = rt.createContext("lua", { capabilities: caps });
    lua.eval(\`path = \${JSON.stringify(data)}
      keep = {}
      function fill(how)
        for i = 1, 2048 do
          local ok, f, err
          if how == "open" then f, err = io.open(path)
          else ok, f = pcall(io.lines, path) err = f if not ok then f = nil end end
          if not f then return i .. ": " .. tostring(err) end
          keep[#keep + 1] = f
        end
        return "all 2048"
      end
      function drop(how)
        if how == "close" then for i = 1, #keep do keep[i]:close() end end
        keep = {}
        collectgarbage() collectgarbage()
      end\`);
    for (const [how, drop] of [["open", "close"], ["open", "gc"], ["lines", "gc"]]) {
      console.log("lua " + how + ": " + lua.call("fill", how) + " | host " + hostOpen());
      lua.call("drop", drop);
    }
    for (let i = 0; i < 1000; i++) lua.eval("return dofile(path)"); // read whole, closed at once
    console.log("lua after dofile: " + lua.call("fill", "open"));
    lua.call("drop", "close");
    const sq = rt.createContext("squirrel", { capabilities: caps });
    sq.eval(\`path <- \${JSON.stringify(data)};
      keep <- [];
      function fill(how) {
        for (local i = 1; i <= 2048; i++) {
          try { keep.push(how == "file" ? file(path, "r") : ::stdout.getclass()(path, "r")); }
          catch (e) { return i + ": " + e; }
        }
        return "all 2048";
      }
      function drop(how) {
        if (how == "close") foreach (f in keep) f.close();
        keep = [];
        collectgarbage();
      }\`);
    for (const [how, drop] of [["file", "close"], ["file", "release"], ["class", "release"]]) {
      console.log("squirrel " + how + ": " + sq.call("fill", how) + " | host " + hostOpen());
      sq.call("drop", drop);
    }
    console.log("squirrel again: " + sq.call("fill", "file"));
    rt.dispose();
  `);
  try {
    const { out } = await runChild(new URL(`file://${file}`), [], 45_000, 1024);
    const lines = out.split("\n").filter((l) => /^(lua|squirrel) /.test(l));
    assert.equal(lines.length, 8, out.slice(0, 600));
    for (const line of lines) {
      // each round stops at the share (768, less what the process's calog already holds), with the reason and counts,
      // and the host can still open files; a share not given back by the round before would stop the next one early
      const at = Number(/: (\d+): .*too many open files \(calog's files and sockets, \d+ open, may take 768 of this process's descriptors/.exec(line)?.[1] ?? NaN);
      assert.ok(at > 700 && at <= 769, line);
      if (/\| host/.test(line)) assert.match(line, /\| host ok$/, line);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 90_000);
