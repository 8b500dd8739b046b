// Pass 60b (hostile review of 463d336: the trailing-nil fix of the I/O natives, then values crossing through the I/O
// layer and between scripts under strict and lenient, and the failed-callback report of c/src/io/loop.c). Each test
// fails on 463d336 because of the defect it names, in Bun and Deno.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Runtime } from "../bindings/mod.ts";
import { caught, modes, reportAndEval, test, where } from "./harness.ts";

const caps = { net: { connect: ["127.0.0.1:*"], listen: ["127.0.0.1:*"] } };
const first = (e: unknown): string => (e instanceof Error ? e.message.split("\n")[0] ?? "" : String(e));

// Finding 1. Low (wrong text in the callback report). A Squirrel table whose keys are one key in TypeScript (1 and 1.0,
// -0.0 and 0.0) or that has a -0.0 key, thrown from a timer or I/O callback, is reported as the C value is, not as
// a CalogScriptError of the same throw reads (README, Callback errors: "the error worded as a CalogScriptError of the
// same throw would read"). Strict: the eval says `squirrel threw a value that cannot cross: a map key -0.0 becomes the
// Map key 0 ...` / `... two keys of a map become the same Map key ...`, the report `squirrel threw { [0]: 1 }` /
// `squirrel threw { [1]: "a", [1]: "b" }` (a value strict refuses, shown as if it crossed, with a duplicate key);
// lenient: the eval `squirrel threw { [1]: "b" }` (the last wins), the report both pairs. Cause: c/src/io/loop.c
// renderValue renders the broker value as is, while the host's rules for Map keys (src/wire.ts: an integral float key
// is the number key, -0.0 is 0, colliding keys are strict's ERR_TYPE or lenient's last-wins) apply only when
// TypeScript decodes it. Fix: in reportText/renderValue, before rendering a map, apply the host's key rules (a REAL key
// that is integral within 2^53 or -0.0 is that integer; strict: a -0.0 key or a collision is "<engine> threw a value
// that cannot cross: <the host's reason>"; lenient: keep the last of colliding pairs).
for (const thread of modes) {
  for (const policy of ["strict", "lenient"] as const) {
    test(`60b callback report (${where(thread)}, ${policy}): a Squirrel table whose keys are one Map key reads as the eval's`, async () => {
      const seen: unknown[] = [];
      using rt = new Runtime({ policy, output: (t, s) => void (s === "stderr" && seen.push(t)) });
      const bad: string[] = [];
      for (const src of [
        `local t = {}; t[1] <- "a"; t[1.0] <- "b"; throw t`,
        `local t = {}; t[-0.0] <- 1; t[0.0] <- 2; throw t`,
        `throw {[-0.0] = 1}`,
        `throw [{[-0.0] = 1}]`,
        // (added with the fix) its own message field before the refusal; more than eight entries once merged
        `local t = {message = "m3"}; t[1] <- 1; t[1.0] <- 2; throw t`,
        `local t = {}; for (local i = 0; i < 9; i++) { t[i] <- i; t[i.tofloat()] <- -i; } throw t`,
        `local t = {}; for (local i = 0; i < 9; i++) t[i] <- i; t[0.0] <- "z"; t[0.0 / 0.0] <- 1; t[-(0.0 / 0.0)] <- 2; throw [t]`,
      ]) {
        const { report, want } = await reportAndEval(rt, seen, "squirrel", src, thread);
        if (report !== want) bad.push(`${src}: report ${JSON.stringify(report)}, eval ${JSON.stringify(want)}`);
      }
      assert.deepEqual(bad, []);
    });
  }
}

// Finding 2. Low (an unclear error). A nil map value refused by strict on its way into Lua names no key: `{ zz: { a:
// 1, b: undefined } }` from TypeScript, and the same object from a JavaScript or Squirrel script calling a Lua
// function, fails with "a Lua table cannot hold nil: a key whose value is nil would be lost" -- which key, of how
// many, at what depth, the user must guess (in a large value, by bisection). The sibling errors name what they refuse:
// "item 2 of a list would be lost", "property 'x' is an accessor", "the float key 3 would become an integer key", "the
// key -0.0 would become the key 0". Cause: c/src/engines/lua/lua_adapter.c (the map egress loop: `why = "a Lua table
// cannot hold nil: a key whose value is nil would be lost"`), which has the key in hand. Fix: name the key as the
// accessor error does ("the key 'b' has the value nil, which a Lua table cannot hold: the pair would be lost"; a key
// that is no short UTF-8 string rendered as the host renders it).
for (const thread of modes) {
  test(`60b strict (${where(thread)}): a nil map value refused on the way into Lua names its key, from TypeScript and from scripts`, () => {
    using rt = new Runtime({ output: "ignore" });
    using lua = rt.createContext("lua", { thread });
    using js = rt.createContext("js", { thread: !thread });
    using sq = rt.createContext("squirrel", { thread });
    lua.eval("function id(v) return v end");
    using id = lua.getFunction("id");
    js.eval("function setf(f) { F = f; }");
    js.call("setf", id);
    sq.eval("function setf(f) { ::F <- f; }");
    sq.call("setf", id);
    const got = [
      first(caught(() => lua.call("id", { zz: { a: 1, b_key: undefined } }))),
      first(caught(() => js.eval("F({zz: {a: 1, b_key: undefined}})"))),
      first(caught(() => sq.eval("return F({zz = {a = 1, b_key = null}})"))),
    ];
    for (const m of got) assert.match(m, /b_key/, `the error names no key: ${m}`);
  });
}

// Finding 3. Low (a bad argument silently accepted). conn:receive's pattern is compared as a C string, so a pattern
// with a NUL after "*l" or "*a" is taken for that pattern: `conn:receive("*l\0zz")` returns a line, `"*a\0"` reads
// until closed, though README's patterns are exactly "*l", "*a" or a count, every other string is refused
// (`"*x"`, `"*L"`: "conn:receive(pattern): \"*l\" (a line), \"*a\" (until closed) or a byte count"), and the same
// natives refuse a host with a NUL (hostPort's memchr). Cause: c/src/io/natives.c opMethod, case OP_RECEIVE:
// `strcmp(p->as.s.bytes, "*l") == 0` (and "*a") ignore the length. Fix: compare the length too (`p->as.s.length == 2
// && memcmp(p->as.s.bytes, "*l", 2) == 0`).
test("60b (own thread): conn:receive refuses a pattern with a NUL after \"*l\" / \"*a\"", () => {
  using rt = new Runtime({ output: "ignore" });
  using lua = rt.createContext("lua", { capabilities: caps });
  using js = rt.createContext("js", { capabilities: caps });
  const l = lua.eval(`local s = net.listen("127.0.0.1", 0) local c = net.connect("127.0.0.1", s:port()) local a = s:accept()
    a:send("ab\\ncd\\n") c:setTimeouts(nil, nil, 50)
    local ok1, r1 = pcall(function() return c:receive("*l\\0zz") end)
    local ok2, r2 = pcall(function() return c:receive("*a\\0") end)
    c:close() a:close() s:close()
    return tostring(ok1) .. " " .. tostring(r1) .. " | " .. tostring(ok2) .. " " .. tostring(r2)`);
  assert.match(String(l), /^false .*pattern.* \| false .*pattern/, `lua: ${String(l)}`);
  const j = js.eval(`var s = net.listen("127.0.0.1", 0), c = net.connect("127.0.0.1", s.port()), a = s.accept(), r = [];
    a.send("ab\\ncd\\n"); c.setTimeouts(null, null, 50);
    try { r.push("ok " + c.receive("*l\\u0000zz")) } catch (e) { r.push("err " + e.message) }
    c.close(); a.close(); s.close(); r.join("")`);
  assert.match(String(j), /^err .*pattern/, `js: ${String(j)}`);
});

// Finding 4. Low (the README does not say what a JavaScript script receives). Data a JavaScript script receives
// (`conn.receive()`, a callback's `result`, `err.partial`, UDP's `{ data }`) whose first byte is 0x80, 0x81, 0x82 or
// 0xFF arrives as a Uint8Array, not a string (Duktape reads such a string as a Symbol: duk_adapter.c, "Fidelity"), so
// a line-based JavaScript server that works on text silently sends `"echo: [object Uint8Array]"`-style output for such
// a line, and the same line starting with any other byte (0xFE, a lone 0xC3) is a string. The README's fidelity row
// "NUL bytes, invalid UTF-8" says JavaScript is "byte-exact (Duktape strings are bytes; ... bytes that already encode
// a surrogate pair, CESU-8, enter JS as a Uint8Array ...)": the first-byte rule is given for map keys and thrown text
// only, and Networking says receive returns "the data". Fix: say it in that row ("and a string whose first byte is
// 0x80, 0x81, 0x82 or 0xFF") and in Networking (JavaScript: data may arrive as a Uint8Array; test `typeof`).
test("60b (own thread): README says which received data a JavaScript script gets as a Uint8Array", () => {
  using rt = new Runtime({ output: "ignore" });
  using js = rt.createContext("js", { capabilities: caps });
  const got = js.eval(`var s = net.listen("127.0.0.1", 0), c = net.connect("127.0.0.1", s.port()), a = s.accept();
    a.send(new Uint8Array([0xff, 0x68, 0x69, 0x0a, 0xfe, 0x68, 0x69, 0x0a])); var l1 = c.receive(), l2 = c.receive();
    c.close(); a.close(); s.close(); [l1 instanceof Uint8Array, typeof l2, "echo: " + l1]`) as unknown[];
  assert.deepEqual(got.slice(0, 2), [true, "string"]); // the behaviour the README should state
  const row = readFileSync(new URL("../README.md", import.meta.url), "utf8").split("\n").find((l) => l.startsWith("| NUL bytes, invalid UTF-8 |")) ?? "";
  assert.match(row, /first byte/, "README's fidelity row for NUL bytes / invalid UTF-8 does not say that a string whose first byte is 0x80-0x82 or 0xFF enters JavaScript as a Uint8Array");
});

// Finding 5. Low (a silent default: an option the call does not know is ignored). The I/O natives read the keys they
// know from an options table and ignore every other: `net.connect(host, port, { timeoutMS = 5 })` (a typo) connects
// with no timeout, `server:accept({ timeout = 50 })` and `udp:receive({ timeoutms = 50 })` wait for ever (or to the
// context's own timeoutMs), `net.listen(host, 0, { backlogg = 5 })` takes the default backlog, and a list item
// (`{ 50 }`) is dropped too, all without a word. Pass 55b refused the positional form of the same slip ("one more [argument]
// was ignored without a word, so net.connect(host, port, 5) ran with no timeout"), and the README's rule for every
// host-side options object is that an unknown key is a `CalogValueError` (`{ threads: false }`), "never a raw TypeError
// or a silent default". Cause: c/src/io/natives.c optsArg checks only that the options are a table; optInt reads one
// key. Fix: in optsArg, walk the table and refuse any key the call does not take (connect, accept, udp:receive:
// timeoutMs; listen: backlog), naming it and the usage: "net.connect: unknown option 'timeoutMS': net.connect(host,
// port[, {timeoutMs}][, fn])".
for (const thread of modes) {
  test(`60b (${where(thread)}): an options key a net call does not take is refused, not ignored`, () => {
    using rt = new Runtime({ output: "ignore" });
    const src = {
      lua: `local s = net.listen("127.0.0.1", 0, function(c) c:close() end) local u = net.udp() u:bind("127.0.0.1", 0) local r = {}
        for i, f in ipairs({
          function() return net.connect("127.0.0.1", s:port(), {timeoutMS = 5}, function(e, c) if c then c:close() end end) end,
          function() return u:receive({timeoutMs = 20, timeout = 10}, function() end) end,
          function() return net.listen("127.0.0.1", 0, {backlogg = 5}) end,
        }) do local ok, e = pcall(f) r[i] = ok and "accepted" or tostring(e) end
        s:close() u:close() return table.concat(r, " ;; ")`,
      js: `var s = net.listen("127.0.0.1", 0, function (c) { c.close(); }), u = net.udp(), r = []; u.bind("127.0.0.1", 0);
        [function () { net.connect("127.0.0.1", s.port(), {timeoutMS: 5}, function (e, c) { if (c) c.close(); }); },
         function () { u.receive({timeoutMs: 20, timeout: 10}, function () {}); },
         function () { net.listen("127.0.0.1", 0, {backlogg: 5}); }].forEach(function (f) {
          try { f(); r.push("accepted"); } catch (e) { r.push(e.message); } });
        s.close(); u.close(); r.join(" ;; ")`,
    };
    for (const engine of ["lua", "js"] as const) {
      const ctx = rt.createContext(engine, { thread, capabilities: caps, limits: { timeoutMs: 5000 } });
      const got = String(ctx.eval(src[engine])).split(" ;; "); // (a usage has " | " in it)
      assert.equal(got.length, 3, `${engine}: ${got.join(" ;; ")}`);
      for (const [i, key] of ["timeoutMS", "timeout", "backlogg"].entries()) {
        assert.match(got[i] ?? "", new RegExp(`(^|\\W)${key}(\\W|$)`), `${engine}: the option '${key}' was ${got[i]}`);
      }
      ctx.dispose();
    }
  });
}
