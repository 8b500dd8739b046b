// Capabilities, per engine and thread mode: every denied effect under "sandbox" fails with a
// CalogPermissionError naming the capability, every grant works and stays inside what it grants, "trusted"
// has what a stand-alone interpreter has (os.exit aside), and calog's internals stay out of reach.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CalogPermissionError,
  CalogScriptError,
  CalogValueError,
  type Capabilities,
  type EngineName,
  Runtime,
} from "../bindings/mod.ts";
import { test } from "./harness.ts";

const modes = [true, false] as const;

/** [script, capability named in the error] */
type Denied = [string, string];

const sandboxDenied: Record<EngineName, Denied[]> = {
  lua: [
    ["os.execute('true')", "'process'"],
    ["io.popen('id')", "'process'"],
    ["io.open('/etc/passwd')", "'fs'"],
    ["io.lines('/etc/passwd')", "'fs'"],
    ["io.read()", "'fs'"],
    ["io.write('x')", "'fs'"],
    ["io.output('/tmp/calog-x')", "'fs'"],
    ["os.remove('/tmp/calog-x')", "'fs.write'"],
    ["os.rename('/tmp/a', '/tmp/b')", "'fs.write'"],
    ["os.tmpname()", '"trusted"'],
    ["os.getenv('HOME')", "'env'"],
    ["os.setlocale('C')", '"trusted"'],
    ["dofile('/etc/passwd')", "'fs.read'"],
    ["loadfile('/etc/passwd')", "'fs.read'"],
    ["require('socket')", '"trusted"'],
    ["package.loadlib('libc.so.6', 'puts')", '"trusted"'],
    ["string.dump(function() end)", '"trusted"'],
    ["load('\\27Lua\\84\\0')", '"trusted"'],
    ["load(function() return nil end, 'x', 'b')", '"trusted"'],
    ["collectgarbage('stop')", '"trusted"'],
    ["collectgarbage('generational')", '"trusted"'],
    ["os.exit(1)", "every profile"],
  ],
  js: [],
  squirrel: [
    ['system("true")', "'process'"],
    ['getenv("HOME")', "'env'"],
    ['remove("/tmp/calog-x")', "'fs.write'"],
    ['rename("/tmp/a", "/tmp/b")', "'fs.write'"],
    ['file("/etc/passwd", "r")', "'fs'"],
    ['loadfile("/etc/passwd")', '"trusted"'],
    ['dofile("/etc/passwd")', '"trusted"'],
    ['writeclosuretofile("/tmp/calog-x", function() {})', '"trusted"'],
  ],
};

/** Expressions that hold under the sandbox (each returns true). */
const sandboxAllowed: Record<EngineName, string[]> = {
  lua: [
    "return string.format('%d', 42) == '42' and table.concat({1, 2}, ',') == '1,2'",
    "return math.floor(2.5) == 2 and utf8.char(72) == 'H'",
    "return coroutine.wrap(function() coroutine.yield(7) end)() == 7",
    "return type(os.time()) == 'number' and type(os.clock()) == 'number' and os.date('!%Y', 0) == '1970' and os.difftime(2, 1) == 1",
    "return type(collectgarbage('count')) == 'number' and collectgarbage('step') ~= nil and collectgarbage() == 0",
    "return select('#', pcall(error, 'x')) == 2 and type(debug.traceback) == 'function' and debug.getinfo == nil",
    "return load('return 1 + 1')() == 2 and require('string') == string",
    "return io.stdout == nil and io.stdin == nil",
  ],
  js: [
    "typeof print === 'function' && typeof console.log === 'function' && typeof console.error === 'function'",
    "typeof Duktape.act === 'undefined' && typeof Duktape.info === 'undefined'",
    "new Duktape.Thread(function (x) { return x; }) instanceof Duktape.Thread",
    "eval('1 + 1') === 2 && new Function('a', 'return a * 2')(3) === 6",
  ],
  squirrel: [
    "return compilestring(\"return 6 * 7\")() == 42",
    "return ::getroottable().rawin(\"stdin\") == false && ::getroottable().rawin(\"exit\") == false",
    "local b = blob(4); return b.len() == 4",
  ],
};

const trustedAllowed: Record<EngineName, string[]> = {
  lua: [
    "return io.popen('echo hi'):read('l') == 'hi'",
    "return os.execute('true') == true",
    "return os.getenv('HOME') == nil or type(os.getenv('HOME')) == 'string'",
    "local f = assert(io.open('/etc/hostname')) f:close() return true",
    "return load(string.dump(function() return 5 end), 'b', 'b')() == 5",
    "local n = os.tmpname() os.remove(n) return type(n) == 'string'",
    "return type(package.loadlib) == 'function' and #package.searchers == 4",
    "return type(debug.sethook) == 'function' and type(debug.getlocal) == 'function' and io.stdin ~= nil",
    "return collectgarbage('incremental') ~= nil",
  ],
  js: ["typeof Duktape.act === 'function' && typeof Duktape.info === 'function'"],
  squirrel: [
    'return system("true") == 0',
    'return getenv("HOME") == null || typeof getenv("HOME") == "string"',
    'local f = file("/etc/hostname", "r"); f.close(); return true',
    'return ::getroottable().rawin("stdin")',
  ],
};

for (const thread of modes) {
  for (const engine of ["lua", "js", "squirrel"] as const) {
    test(`${engine} (${thread ? "own thread" : "host thread"}): the sandbox denies every effect by name`, () => {
      using rt = new Runtime();
      using ctx = rt.createContext(engine, { thread });
      for (const [src, cap] of sandboxDenied[engine]) {
        let err: unknown;
        try {
          ctx.eval(src);
        } catch (e) {
          err = e;
        }
        assert.ok(err instanceof CalogPermissionError, `${src}: ${String(err)}`);
        assert.equal(err.code, "ERR_PERMISSION");
        assert.match(err.message, /^permission denied: /, src);
        assert.ok(err.message.includes(cap), `${src}: ${err.message} should name ${cap}`);
      }
      for (const src of sandboxAllowed[engine]) assert.equal(ctx.eval(src), true, src);
      // the context stays usable after denials
      assert.equal(ctx.eval(engine === "js" ? "1 + 1" : "return 1 + 1"), 2);
    });

    test(`${engine} (${thread ? "own thread" : "host thread"}): "trusted" has what a stand-alone interpreter has`, () => {
      using rt = new Runtime({ output: "ignore" });
      using ctx = rt.createContext(engine, { thread, capabilities: "trusted" });
      for (const src of trustedAllowed[engine]) assert.equal(ctx.eval(src), true, src);
    });
  }
}

test("a denial is catchable inside the script, and a script that rethrows it gives CalogPermissionError", () => {
  using rt = new Runtime();
  using lua = rt.createContext("lua");
  const msg = lua.eval("local ok, e = pcall(os.execute, 'id') return e") as string;
  assert.match(msg, /^permission denied: os\.execute needs the 'process' capability \(this context runs under "sandbox"\)$/);
  assert.throws(() => lua.eval("local ok, e = pcall(os.getenv, 'HOME') error(e, 0)"), CalogPermissionError);
  assert.throws(() => lua.eval("error('some other error')"), (e) => e instanceof CalogScriptError && !(e instanceof CalogPermissionError));
  using sq = rt.createContext("squirrel");
  assert.match(sq.eval('try { system("id") } catch (e) { return e }') as string, /^permission denied: system\(\)/);
});

// ---- grants ----------------------------------------------------------------------------------------
function tree(): { base: string; root: string; out: string; w: string } {
  const base = mkdtempSync(join(tmpdir(), "calog-caps-"));
  const root = join(base, "root"), out = join(base, "outside"), w = join(root, "w");
  mkdirSync(root);
  mkdirSync(out);
  mkdirSync(w);
  mkdirSync(join(root, "sub"));
  writeFileSync(join(root, "a.txt"), "inside");
  writeFileSync(join(out, "secret"), "secret");
  symlinkSync(join(out, "secret"), join(root, "abs-link"));
  symlinkSync("../outside/secret", join(root, "rel-link"));
  symlinkSync("sub/../a.txt", join(root, "in-link"));
  return { base, root, out, w };
}

for (const thread of modes) {
  test(`lua (${thread ? "own thread" : "host thread"}): fs grants stay beneath their roots at every open`, () => {
    const t = tree();
    try {
      using rt = new Runtime();
      const caps: Capabilities = { fs: { read: [t.root], write: [t.w] } };
      using lua = rt.createContext("lua", { thread, capabilities: caps });
      lua.eval(`root, out, w = ...`.replace("...", JSON.stringify(t.root) + "," + JSON.stringify(t.out) + "," + JSON.stringify(t.w)));
      assert.equal(lua.eval("local f = assert(io.open(root .. '/a.txt')) local s = f:read('a') f:close() return s"), "inside");
      assert.equal(lua.eval("local n = 0 for l in io.lines(root .. '/a.txt') do n = n + 1 end return n"), 1);
      assert.equal(lua.eval("return io.open(root .. '/in-link'):read('a')"), "inside");
      assert.equal(lua.eval("return io.open(root .. '/sub/../a.txt'):read('a')"), "inside");
      // escapes: .., absolute elsewhere, symlinks out (absolute and relative)
      for (const p of ["root .. '/../outside/secret'", "root .. '/sub/../../outside/secret'", "out .. '/secret'", "'/etc/passwd'", "root .. '/abs-link'", "root .. '/rel-link'"]) {
        assert.throws(() => lua.eval(`return io.open(${p})`), CalogPermissionError, p);
        assert.throws(() => lua.eval(`return dofile(${p})`), CalogPermissionError, p);
      }
      // an ordinary failure inside is not a denial
      assert.deepEqual(lua.eval("local f, e = io.open(root .. '/missing') return {f == nil, e}"), [true, `${t.root}/missing: No such file or directory`]);
      // writes only under fs.write
      assert.throws(() => lua.eval("io.open(root .. '/new.txt', 'w')"), /'fs\.write' capability/);
      lua.eval("local f = assert(io.open(w .. '/new.txt', 'w')) f:write('made', 1) f:close()");
      assert.equal(readFileSync(join(t.w, "new.txt"), "utf8"), "made1");
      assert.equal(lua.eval("return os.rename(w .. '/new.txt', w .. '/renamed.txt')"), true);
      assert.throws(() => lua.eval("os.rename(w .. '/renamed.txt', out .. '/stolen')"), CalogPermissionError);
      assert.throws(() => lua.eval("os.remove(root .. '/a.txt')"), CalogPermissionError);
      assert.equal(lua.eval("return os.remove(w .. '/renamed.txt')"), true);
      // a file swapped for a symlink out after it was opened once: the next open is refused, nothing made outside
      lua.eval("local f = assert(io.open(w .. '/swap.txt', 'w')) f:write('x') f:close()");
      unlinkSync(join(t.w, "swap.txt"));
      symlinkSync(join(t.out, "created"), join(t.w, "swap.txt"));
      assert.throws(() => lua.eval("io.open(w .. '/swap.txt', 'w')"), CalogPermissionError);
      assert.equal(existsSync(join(t.out, "created")), false);
      symlinkSync(join(t.out, "secret"), join(t.root, "later-link"));
      assert.throws(() => lua.eval("return io.open(root .. '/later-link'):read('a')"), CalogPermissionError);
      // still no process, no env
      assert.throws(() => lua.eval("io.popen('id')"), /'process'/);
      assert.throws(() => lua.eval("os.getenv('HOME')"), /'env'/);
      // io.write goes to the output sink, stdin is empty
      assert.equal(lua.eval("return io.read('a')"), "");
    } finally {
      rmSync(t.base, { recursive: true, force: true });
    }
  });

  test(`squirrel (${thread ? "own thread" : "host thread"}): fs and env grants`, () => {
    const t = tree();
    try {
      using rt = new Runtime();
      using sq = rt.createContext("squirrel", { thread, capabilities: { fs: { read: [t.root], write: [t.w] }, env: ["CALOG_CAPS_TEST"] } });
      sq.eval(`::root <- ${JSON.stringify(t.root)}; ::out <- ${JSON.stringify(t.out)}; ::w <- ${JSON.stringify(t.w)};`);
      assert.equal(sq.eval('local f = file(root + "/a.txt", "r"); local b = f.readblob(6); f.close(); return b.len()'), 6);
      for (const p of ['root + "/../outside/secret"', 'out + "/secret"', 'root + "/abs-link"', 'root + "/rel-link"']) {
        assert.throws(() => sq.eval(`file(${p}, "r")`), CalogPermissionError, p);
      }
      assert.throws(() => sq.eval('file(root + "/x", "w")'), /'fs\.write'/);
      sq.eval('local f = file(w + "/n.txt", "w"); f.writen(65, \'c\'); f.close();');
      assert.equal(readFileSync(join(t.w, "n.txt"), "utf8"), "A");
      sq.eval('remove(w + "/n.txt")');
      assert.equal(existsSync(join(t.w, "n.txt")), false);
      assert.throws(() => sq.eval('getenv("PATH")'), /'env'/);
      assert.throws(() => sq.eval('system("true")'), /'process'/);
      assert.throws(() => sq.eval('dofile(root + "/a.txt")'), CalogPermissionError);
    } finally {
      rmSync(t.base, { recursive: true, force: true });
    }
  });
}

test("env, process and debug grants (Lua, Squirrel, JS)", () => {
  using rt = new Runtime({ output: "ignore" });
  using lua = rt.createContext("lua", { capabilities: { env: ["HOME"], process: true, debug: true } });
  assert.equal(lua.eval("return os.getenv('HOME') == nil or type(os.getenv('HOME')) == 'string'"), true);
  assert.throws(() => lua.eval("os.getenv('PATH')"), /os\.getenv\('PATH'\) needs the 'env' capability/);
  assert.equal(lua.eval("return os.execute('true')"), true);
  assert.equal(lua.eval("return io.popen('echo hi'):read('l')"), "hi");
  assert.equal(lua.eval("return type(debug.getlocal)"), "function");
  assert.throws(() => lua.eval("io.open('/etc/passwd')"), CalogPermissionError); // process is not fs
  using sq = rt.createContext("squirrel", { capabilities: { process: true } });
  assert.equal(sq.eval('return system("true")'), 0);
  using js = rt.createContext("js", { capabilities: { debug: true } });
  assert.equal(js.eval("typeof Duktape.act"), "function");
});

test("runtime-wide default capabilities, replaced per context", () => {
  using rt = new Runtime({ capabilities: "trusted", output: "ignore" });
  using a = rt.createContext("lua");
  using b = rt.createContext("lua", { capabilities: "sandbox" });
  assert.equal(a.eval("return os.execute('true')"), true);
  assert.throws(() => b.eval("os.execute('true')"), CalogPermissionError);
});

test("bad capabilities are a CalogValueError at creation", () => {
  using rt = new Runtime();
  const bad: unknown[] = ["root", 3, [], { files: true }, { fs: { read: "/tmp" } }, { fs: { exec: [] } }, { env: [1] },
    { process: "yes" }, { net: { connect: ["nohost"] } }, { net: { listen: ["h:99999"] } }];
  for (const c of bad) {
    assert.throws(() => rt.createContext("lua", { capabilities: c as Capabilities }), CalogValueError, JSON.stringify(c));
  }
  assert.throws(() => new Runtime({ capabilities: "open" as Capabilities }), CalogValueError);
  // a root that does not exist is refused by the native layer, also as a CalogValueError
  assert.throws(() => rt.createContext("lua", { capabilities: { fs: { read: ["/no/such/calog/dir"] } } }), /cannot resolve/);
  // net grants parse (the I/O layer checks them)
  using ok = rt.createContext("lua", { capabilities: { net: { connect: ["127.0.0.1:*", "*:443"], listen: ["localhost:8080"] } } });
  assert.equal(ok.eval("return 1"), 1);
});

// ---- calog's internals under the full debug library ---------------------------------------------------
for (const thread of modes) {
  test(`lua (${thread ? "own thread" : "host thread"}): "trusted" runs the debug self-checks; calog's internals stay protected`, () => {
    using rt = new Runtime();
    rt.register("hostFn", (x) => x);
    using lua = rt.createContext("lua", { thread, capabilities: "trusted" });
    const checks = `
      -- debug.getinfo
      local function f(a, b) local c = a + b return debug.getinfo(1, "nSlu") end
      local info = f(1, 2)
      assert(info.currentline == 3 and info.what == "Lua" and info.nparams == 2 and info.short_src == "selfcheck")
      assert(debug.getinfo(print).what == "C")
      -- getlocal / setlocal
      local function g(x) local y = 20 assert(debug.getlocal(1, 1) == "x" and select(2, debug.getlocal(1, 2)) == 20)
        debug.setlocal(1, 2, 30) return y end
      assert(g(1) == 30)
      -- sethook with a count
      local n = 0
      debug.sethook(function(ev) assert(ev == "count") n = n + 1 end, "", 100)
      for i = 1, 20000 do end
      debug.sethook()
      assert(n > 100, "count hook ran " .. n .. " times")
      assert(debug.gethook() == nil)
      -- line hook
      local lines = 0
      debug.sethook(function(ev, line) lines = lines + 1 end, "l")
      local z = 1
      z = z + 1
      debug.sethook()
      assert(lines >= 2)
      -- upvalueid / upvaluejoin / getupvalue / setupvalue on Lua closures
      local a, b = 1, 2
      local function h1() return a end
      local function h2() return a end
      local function h3() return b end
      assert(debug.upvalueid(h1, 1) == debug.upvalueid(h2, 1))
      assert(debug.upvalueid(h1, 1) ~= debug.upvalueid(h3, 1))
      debug.upvaluejoin(h3, 1, h1, 1)
      assert(h3() == 1)
      assert(debug.getupvalue(h1, 1) == "a")
      debug.setupvalue(h1, 1, 9)
      assert(h2() == 9)
      -- setmetatable / getmetatable on any type
      debug.setmetatable(10, { __index = { twice = function(x) return 2 * x end } })
      assert((5):twice() == 10)
      debug.setmetatable(10, nil)
      assert(debug.getmetatable("").__index == string)
      -- uservalues, traceback, getinfo on coroutines
      local co = coroutine.create(function() coroutine.yield() end)
      coroutine.resume(co)
      assert(debug.traceback(co):find("stack traceback"))
      assert(debug.getinfo(co, 1, "l").currentline > 0)
      return true`;
    assert.equal(lua.eval(checks, { chunkName: "selfcheck" }), true);
    // the internals
    assert.throws(() => lua.eval("return debug.getregistry()"), CalogPermissionError);
    assert.throws(() => lua.eval("return debug.getupvalue(hostFn, 1)"), CalogPermissionError);
    assert.throws(() => lua.eval("debug.setupvalue(hostFn, 1, nil)"), CalogPermissionError);
    assert.throws(() => lua.eval("return debug.upvalueid(hostFn, 1)"), CalogPermissionError);
    assert.throws(() => lua.eval("debug.upvaluejoin(function() return hostFn end, 1, hostFn, 1)"), CalogPermissionError);
    lua.eval("function keep(f) held = f end");
    lua.call("keep", (x: number) => x + 1); // a TypeScript function: a calog function value in Lua
    // a Lua function (a C closure) whose upvalue, the box holding the value's reference, stays out of reach
    assert.equal(lua.eval("return type(held)"), "function");
    assert.throws(() => lua.eval("return debug.getupvalue(held, 1)"), CalogPermissionError);
    assert.throws(() => lua.eval("debug.setupvalue(held, 1, io.stdout)"), CalogPermissionError);
    assert.throws(() => lua.eval("return debug.upvalueid(held, 1)"), CalogPermissionError);
    assert.throws(() => lua.eval("debug.setmetatable(io.stdout, {})"), CalogPermissionError); // a userdata's type stays
    assert.equal(lua.eval("return held(41)"), 42);
    assert.equal(lua.eval("return hostFn('still fine')"), "still fine");
  });
}

test("registering a host function over a built-in is possible and grants nothing", () => {
  using rt = new Runtime();
  const seen: unknown[] = [];
  rt.register("print", (...a) => void seen.push(a.join(" ")));
  rt.register("pcall", () => "replaced");
  rt.register("io", () => "not a library");
  using lua = rt.createContext("lua");
  lua.eval("print('to the host', 1)");
  assert.deepEqual(seen, ["to the host 1"]);
  assert.equal(lua.eval("return pcall(os.execute, 'id')"), "replaced");
  // the capability checks live in the libraries, which a registration (a global name) cannot reach
  assert.throws(() => lua.eval("os.execute('id')"), CalogPermissionError);
  assert.throws(() => lua.eval("return io.open('/etc/passwd')"), CalogScriptError);
  rt.unregister("print");
  using js = rt.createContext("js");
  assert.throws(() => js.eval("print('x')"), /no longer registered|not registered|print/);
});
