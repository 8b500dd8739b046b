// Pass 77b: a hostile user of areas 1, 3 and 4 at ad23314. No crash, hang or leak; three low findings, each a rule the
// README stated wrongly or not at all (the behaviour is the engines' own, or calog's by design): each test below pins
// the behaviour and checks that the README states it (each failed on ad23314, its README).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { CalogLimitError, CalogPermissionError, CalogScriptError, CalogSyntaxError, Runtime } from "../bindings/mod.ts";
import { isDeno, modes, test, where } from "./harness.ts";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8").replace(/\s+/g, " ");

// Low (silent change against the README). The value mapping said "a NaN's sign and payload bits are kept between
// engines and under Deno"; under Deno, V8 makes a NaN it stores in an object's property (a table field, a thrown value)
// its one canonical NaN 0x7ff8000000000000, as plain Deno code does: nothing calog can keep. The rule now says where the
// bits are kept (between engines always; in TypeScript under Deno, a call's whole result: V8 gave the canonical NaN for
// one in a list inside a table on one run and kept it on the next).
const NAN = "0xfff8000000000123"; // negative, quiet, with a payload
const LUA_NAN = `local nan = string.unpack("<d", string.pack("<I8", ${NAN}))
  local function bits(x) return string.format("0x%016x", string.unpack("<I8", string.pack("<d", x))) end`;
const f64 = new Float64Array(1), u64 = new BigUint64Array(f64.buffer);
const bitsOf = (x: unknown): string => {
  f64[0] = x as number;
  return "0x" + u64[0]!.toString(16).padStart(16, "0");
};
for (const thread of modes) {
  test(`lua (${where(thread)}): a NaN keeps its bits between engines and as a result under Deno, and stays NaN everywhere`, () => {
    using rt = new Runtime({ output: "ignore" });
    using lua = rt.createContext("lua", { thread });
    using js = rt.createContext("js", { thread });
    js.eval("function id(x) { return x; }");
    lua.eval(`${LUA_NAN}
      function bare() return nan end
      function obj() return { v = nan, l = { nan } } end
      function thr() error({ v = nan }, 0) end
      function across(id) return { bits(id(nan)), bits(id({ nan })[1]), bits(id({ v = nan }).v) } end`);
    assert.deepEqual(lua.call("across", js.getFunction("id")), [NAN, NAN, NAN], "through another engine: bare, in a list, in a field");
    const bare = lua.call("bare");
    assert.ok(Number.isNaN(bare));
    if (isDeno) assert.equal(bitsOf(bare), NAN, "a call's result under Deno");
    const o = lua.call("obj") as { v: number; l: number[] };
    assert.ok(Number.isNaN(o.v) && Number.isNaN(o.l[0]), "in a field and in a list");
    let thrown: unknown;
    try {
      lua.call("thr");
    } catch (e) {
      thrown = (e as CalogScriptError).value;
    }
    assert.ok(Number.isNaN((thrown as { v: number }).v), "in a thrown value");
    assert.match(readme, /V8 keeps the bits of a NaN that is a call's whole result, and may make one inside an object or an array/);
  });
}

// Low (silent change). Squirrel's own string library reads a string as C text, up to its first NUL byte, as upstream
// Squirrel does: "xa\0b".find("\0b") is 0, "a\0b" <=> "a\0c" is 0 while == is false, split and regexp stop there, and a
// script's compilestring compiles the source up to the NUL, while the host's eval refuses such a source. The bytes cross
// exact. Changing the engine's library is a C change beyond this pass; the README now states the rule and where text with
// NUL bytes is compared safely.
for (const thread of modes) {
  test(`squirrel (${where(thread)}): the string library stops at a NUL byte as the README says, and the bytes cross exact`, () => {
    using rt = new Runtime({ output: "ignore" });
    using sq = rt.createContext("squirrel", { thread });
    sq.eval("function id(x) { return x; }");
    assert.throws(() => sq.eval("return 1;\0 return 2;"), CalogSyntaxError);
    assert.equal(sq.eval('return compilestring("return 1;\\x00 not squirrel {{{")()'), 1);
    assert.equal(sq.eval('return "xa\\x00b".find("\\x00b")'), 0);
    assert.deepEqual(sq.eval('return ["a\\x00b" <=> "a\\x00c", "a\\x00b" == "a\\x00c", "a\\x00b".len()]'), [0, false, 3]);
    assert.equal(sq.eval('return ("12\\x00" + "34").tointeger()'), 12);
    assert.equal(sq.call("id", "a\0b\0"), "a\0b\0");
    assert.equal(sq.eval('return format("%s", "a\\x00b")'), "a\0b");
    assert.match(readme, /the rest of Squirrel's own string library reads a string as C text, up to its first NUL byte/);
    assert.match(readme, /a script's `compilestring`, which compiles its source up to the NUL/);
  });
}

// Low (the README misled). It said a denial's CalogPermissionError keeps its class through any number of engines, "So
// do the limit errors". A limit error is the error of the call the limit stopped: a script that called another
// context's function whose limit stopped it gets a script error it can catch, and uncaught it fails the caller's call
// with a CalogScriptError carrying the limit's message (test/hostile28b.test.ts pins the same for a re-entrant chain);
// through a host function, that CalogScriptError's cause is the CalogLimitError.
for (const thread of modes) {
  for (const [caller, callee] of [["lua", "js"], ["js", "squirrel"], ["squirrel", "lua"]] as const) {
    test(`${caller} -> ${callee} (${where(thread)}): the callee's timeout is the caller's script error, a denial keeps its class`, () => {
      using rt = new Runtime({ output: "ignore" });
      using a = rt.createContext(caller, { thread });
      using b = rt.createContext(callee, { thread, limits: { timeoutMs: 100 } });
      a.eval({
        lua: "function run(f) return f() end function caught(f) local ok, e = pcall(f) return tostring(e) end",
        js: "function run(f) { return f(); } function caught(f) { try { f(); } catch (e) { return String(e); } }",
        squirrel: "function run(f) { return f(); } function caught(f) { try { f(); } catch (e) { return e.tostring(); } }",
      }[caller]);
      b.eval({
        lua: "function spin() while true do end end",
        js: "function spin() { for (;;) {} }",
        squirrel: "function spin() { while (true) {} }",
      }[callee]);
      const spin = b.getFunction("spin");
      assert.match(String(a.call("caught", spin)), /timeout: the script ran \d+ ms, the limit is 100 ms/);
      assert.throws(() => a.call("run", spin), (e: unknown) =>
        e instanceof CalogScriptError && !(e instanceof CalogLimitError) && /timeout: the script ran \d+ ms, the limit is 100 ms/.test(e.message));
      rt.register("viaHost", () => spin());
      assert.throws(() => a.call("run", a.getFunction("viaHost")), (e: unknown) =>
        e instanceof CalogScriptError && e.cause instanceof CalogLimitError && e.cause.limit === "timeout");
      if (callee === "lua") {
        b.eval("function deny() return os.execute('true') end");
        assert.throws(() => a.call("run", b.getFunction("deny")), CalogPermissionError);
      }
      assert.ok(!/So do the limit errors/.test(readme));
      assert.match(readme, /uncaught it fails the caller's own call with a `CalogScriptError` with that message/);
    });
  }
}
