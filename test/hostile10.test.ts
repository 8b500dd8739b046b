// Tenth hostile pass: the Squirrel standard library's natives and their neighbours, re-attacked after the ninth
// pass's fixes (patches 99-107). Every test is one attack that found a defect; what it expects is what README
// promises: a script error, never a crash, a corruption or a wrong value.
import assert from "node:assert/strict";
import { Runtime } from "../bindings/mod.ts";
import { test } from "./harness.ts";

// ---- Squirrel: format() specifications with many flags ------------------------------------------------------------
// validate_format copied a specification into a 20-character buffer on the C stack, checking its length against 20
// without room for the '%', the NUL and the "ll" an integer conversion gets, and without a bound on the flags: a
// specification of 18 or more flag characters ("%------------------s") wrote up to 5 bytes past it, a stack buffer
// overflow (AddressSanitizer: stack-buffer-overflow in validate_format).

test("squirrel: format() refuses a specification too long for its buffer, and short ones still work", () => {
  using rt = new Runtime();
  using sq = rt.createContext("squirrel", { thread: false });
  for (const spec of ["%------------------s", "%--------------------s", "%-----------------d", "%+++++++++++++++++99.99f"]) {
    assert.throws(() => sq.eval(`return format("${spec}", 1);`), /format too long/, spec);
  }
  assert.equal((sq.eval('return format("%-+ #0-+ #0-99d|", 7);') as string).length, 100);
  assert.equal(sq.eval('return format("%-5.2s|%+05d|%#x|%-8.3f|", "abc", 7, 255, 2.5);'), "ab   |+0007|0xff|2.500   |");
});

// ---- Squirrel: a blob written into itself ---------------------------------------------------------------------------
// writeblob(b) on b itself gave SQBlob::Write a pointer into the buffer it was about to grow: the growth freed the
// buffer, then the copy read it (AddressSanitizer: heap-use-after-free in SQBlob::Write).

test("squirrel: a blob written into itself doubles its bytes", () => {
  using rt = new Runtime();
  using sq = rt.createContext("squirrel", { thread: false });
  const r = sq.eval(`local b = blob(64); for (local i = 0; i < 64; i++) b[i] = i;
    b.seek(0, 'e'); b.writeblob(b); b.writeblob(b);
    local ok = b.len() == 256; for (local i = 0; i < 256; i++) ok = ok && b[i] == i % 64; return ok;`);
  assert.equal(r, true);
  assert.equal(sq.eval("local b = blob(8); b[3] = 9; b.writeblob(b); return b.len() * 100 + b[3];"), 809);
});

// ---- Squirrel: regexp captures of groups the last match did not reach -----------------------------------------------
// The match positions were kept between matches: capture() of "x" by x|(a), after a capture of another text, gave
// the (a) group the distance from the new text to the old one (values like 549755795965).

test("squirrel: a group the match did not reach captures nothing, whatever an earlier match gave it", () => {
  using rt = new Runtime();
  using sq = rt.createContext("squirrel", { thread: false });
  const r = sq.eval(`local r = regexp("x|(a)"); r.capture("qqqqqqqqqqqqqqqqa" + 1);
    local c = r.capture("x"); return c[0].begin + "," + c[0].end + "," + c[1].begin + "," + c[1].end;`);
  assert.equal(r, "0,1,0,0");
  assert.equal(sq.eval('local c = regexp("(a)|(b)").capture("zb"); return c[1].end - c[1].begin + c[2].begin * 10 + c[2].end * 100;'), 210);
});

// ---- Squirrel: blob.seek near the integer limits, swap2 of a negative short ----------------------------------------
// Seek added the offset to the position or the size before comparing (signed overflow, undefined in C: a sanitizer
// stopped the process), and swap2 shifted a negative short left (undefined too).

test("squirrel: blob.seek past the integer limits fails with -1; swap2 keeps its value", () => {
  using rt = new Runtime();
  using sq = rt.createContext("squirrel", { thread: false });
  assert.equal(
    sq.eval(`local b = blob(4); b.seek(2); local m = -0x7fffffffffffffff - 1;
      return [b.seek(0x7fffffffffffffff, 'c'), b.seek(m, 'c'), b.seek(0x7fffffffffffffff, 'e'), b.seek(m, 'e'),
              b.seek(-4, 'e'), b.tell(), b.seek(1, 'c'), b.tell(), b.seek(1, 'e')].reduce(@(a, x) a + "," + x);`),
    "-1,-1,-1,-1,0,0,0,1,-1",
  );
  assert.equal(sq.eval("return swap2(0x8000) + \",\" + swap2(0x1234) + \",\" + swap2(-1);"), "-8388480,1192978,-1");
});

// ---- Squirrel: acall with many arguments, call of a suspended thread --------------------------------------------------
// f.acall(a) pushed every item of a onto the VM's stack without growing it (a native has 15 free slots above its
// top): acall(array(2000)) wrote past the stack (heap-buffer-overflow). And thread.call() on a suspended thread grew
// that thread's stack without moving its frames' captured locals, then failed: the captured local pointed into the
// freed stack (heap-use-after-free once the thread was woken up).

test("squirrel: acall of thousands of arguments works, and in a metamethod is a script error", () => {
  using rt = new Runtime();
  using sq = rt.createContext("squirrel", { thread: false });
  assert.equal(sq.eval("local x = 5; local g = @() x; local n = (function(...) { return vargv.len(); }).acall(array(5000, 1)); x = 6; return n + g();"), 5005);
  assert.equal(sq.eval("local t = newthread(function(...) { return vargv.len(); }); local a = array(3000, 1); a[0] = t; return t.call.acall(a);"), 2999);
  assert.equal(sq.eval(`return print.acall([this, ""]) == null;`), true); // a native (print needs its argument, 26b)
  assert.throws(() => sq.eval("return print.acall([this]);"), /wrong number of parameters/);
  // in a metamethod the stack cannot move: past what it holds, the call fails (a fresh context's stack is small)
  using sq2 = rt.createContext("squirrel", { thread: false });
  assert.throws(
    () => sq2.eval("class A { function _add(o) { return (function(...) { return vargv.len(); }).acall(array(20000, 1)); } }; return A() + 1;"),
    /cannot resize stack while in +a metamethod/,
  );
  assert.equal(sq2.eval("class A { function _add(o) { return (function(...) { return vargv.len(); }).acall(array(5, 1)); } }; return A() + 1;"), 4);
});

test("squirrel: call() of a suspended thread is refused, and its captured locals stay sound", () => {
  using rt = new Runtime();
  using sq = rt.createContext("squirrel", { thread: false });
  const r = sq.eval(`local th = newthread(function() { local x = "a" + 5; local f = function() { return x; }; suspend(1); x = "b" + 7; return f(); });
    th.call(); local e = "";
    try { local a = array(500, 1); a[0] = th; th.call.acall(a); } catch (err) { e = err; }
    return e + "|" + th.getstatus() + "|" + th.wakeup();`);
  assert.equal(r, "cannot call a thread that is not idle (wake a suspended thread up instead)|suspended|b7");
  assert.equal(sq.eval("local t = newthread(@(a, b) a + b); return t.call(2, 3) + t.call(4, 5);"), 14);
});

// ---- Lua: pattern matching between polls --------------------------------------------------------------------------
// The matcher polled the limits once per call of match(), and one call can run long: its loop over the pattern's
// items, a %b scan of the rest of the text (from every start), a class of a million characters scanned for each
// character. Past a 100 ms timeout: a million "a?" items ran 1.6 s, string.rep("(", 4e6):find("%b()") 2.7 s (more
// for a longer text), the class 186 s (interrupt() is seen at the same polls).

const patternAttacks: Record<string, string> = {
  "a %b scan from every start": 'local s = string.rep("(", 4000000); return s:find("%b()")',
  "a long pattern of optional items": 'local p = string.rep("a?", 1000000) .. string.rep("a", 1000000); return ("aaaa"):match(p)',
  "a class of a million characters": 'local p = "[" .. string.rep("a", 1000000) .. "b]*c"; return string.rep("b", 200000):find(p)',
};

for (const [what, src] of Object.entries(patternAttacks)) {
  test(`lua: ${what} meets the timeout`, () => {
    using rt = new Runtime();
    using lua = rt.createContext("lua", { thread: false });
    const t0 = Date.now();
    assert.throws(() => lua.eval(src, { timeoutMs: 100 }), (e: unknown) => (e as { limit?: string }).limit === "timeout");
    assert.ok(Date.now() - t0 < 1500, `stopped after ${Date.now() - t0} ms`);
    assert.equal(lua.eval('return ("x(a(b)c)y"):match("%b()") .. ("[ab]"):rep(2):match("^%[[a-b]+%]") .. #("aab"):match("a*b")'), "(a(b)c)[ab]3");
  });
}

// ---- regexp classes of many ranges, in Squirrel and JavaScript ---------------------------------------------------
// Both matchers read a class's whole list of ranges for each character, and polled only per matched node (Squirrel)
// or per 16K steps (Duktape). Past a 100 ms timeout: a class of a million characters ran 6.4 s in Squirrel, one of
// 60,000 ranges over 400,000 characters 2.6 s in JavaScript (interrupt() is seen at the same polls).

test("squirrel: a regexp class of a million characters meets the timeout", () => {
  using rt = new Runtime();
  using sq = rt.createContext("squirrel", { thread: false });
  const src = `local piece = "acegikmoqsuwyACEGIKMOQSUWY02468"; for (local i = 0; i < 15; i++) piece += piece;
    local r = regexp("[" + piece + "b]*c"); local s = "b"; for (local i = 0; i < 17; i++) s += s; return r.search(s);`;
  const t0 = Date.now();
  assert.throws(() => sq.eval(src, { timeoutMs: 100 }), (e: unknown) => (e as { limit?: string }).limit === "timeout");
  assert.ok(Date.now() - t0 < 1500, `stopped after ${Date.now() - t0} ms`);
  assert.equal(sq.eval('return regexp("[a-cx]+").search("zzbxc").begin + regexp("[^0-9]*").capture("ab1")[0].end;'), 4);
});

test("js: a regexp class of 60,000 ranges meets the timeout", () => {
  using rt = new Runtime();
  using js = rt.createContext("js", { thread: false });
  js.eval(`var parts = []; for (var i = 0; i < 60000; i++) parts.push(String.fromCharCode(0x100 + 2 * i));
    globalThis.re = new RegExp("[" + parts.join("") + "b]*c"); globalThis.text = "b".repeat(400000);`, { timeoutMs: 60_000 });
  const t0 = Date.now();
  assert.throws(() => js.eval("re.test(text)", { timeoutMs: 100 }), (e: unknown) => (e as { limit?: string }).limit === "timeout");
  assert.ok(Date.now() - t0 < 1500, `stopped after ${Date.now() - t0} ms`);
  assert.equal(js.eval('var p = []; for (var i = 0; i < 2000; i++) p.push(String.fromCharCode(0x100 + 2 * i)); new RegExp("[" + p.join("") + "b]+").exec("zzbbc")[0] + /[a-c]+/.exec("xab")[0]'), "bbab");
});

// ---- Squirrel: a blob's missing members ----------------------------------------------------------------------------
// A blob's _get took only numbers, and runs for every name its class lacks: b.tostring(), b.getclass(), b.weakref()
// and any misspelt method failed with "parameter 1 has an invalid type 'string' ; expected: 'integer|float'".

test("squirrel: a blob answers its default delegate's methods, and a missing name says so", () => {
  using rt = new Runtime();
  using sq = rt.createContext("squirrel", { thread: false });
  assert.equal(sq.eval('local b = blob(4); b[1] = 9; return (b.getclass() == blob) + "," + b[1] + "," + b[1.5] + "," + (b.weakref().ref() == b) + "," + b.tostring().slice(0, 9);'), "true,9,9,true,(instance");
  assert.throws(() => sq.eval("return blob(4).nosuch;"), /the index 'nosuch' does not exist/);
  assert.throws(() => sq.eval("return blob(4)[4];"), /index out of range/);
  assert.equal(sq.eval("local b = blob(3); b[2] = 5; local s = 0; foreach (i, x in b) s += i * 10 + x; return s;"), 35);
});

// ---- JavaScript: freeing a deep prototype chain ---------------------------------------------------------------------
// Every object Duktape freed looked for a finalizer up its prototype chain, up to 10,000 links, without polling:
// dropping a 400,000-deep Object.create chain ran 14 s past a 100 ms timeout, and disposing its context took 25 s
// (patch 75 bounds the walk at 64 links). A finalizer set with Duktape.fin still runs for objects up to 64 links below.

test("js: dropping a deep prototype chain meets the timeout, and inherited finalizers still run", () => {
  using rt = new Runtime();
  using js = rt.createContext("js", { thread: false });
  js.eval("var o = {}; for (var i = 0; i < 400000; i++) o = Object.create(o); var leaves = []; for (var i = 0; i < 200000; i++) leaves.push(Object.create(o)); 1", { timeoutMs: 60_000 });
  const t0 = Date.now();
  try {
    js.eval("o = null; leaves = null; Duktape.gc(); 1", { timeoutMs: 100 });
  } catch (e) {
    assert.equal((e as { limit?: string }).limit, "timeout");
  }
  assert.ok(Date.now() - t0 < 1500, `freed after ${Date.now() - t0} ms`);
  // each chain's objects 1..n links below the finalizer's object: those up to 64 links below are finalized
  const ran = js.eval(`var ran = {};
    function below(n) { var p = Object.create(null); ran[n] = []; Duktape.fin(p, function (x) { if (x !== p) ran[n].push(x.depth); });
      var o = p; for (var i = 1; i <= n; i++) { o = Object.create(o); o.depth = i; } }
    below(1); below(10); below(64); below(65); Duktape.gc(); Duktape.gc();
    [1, 10, 64, 65].map(function (n) { var d = ran[n].sort(function (a, b) { return a - b; }); return d.length + ":" + d[0] + "-" + d[d.length - 1]; }).join(",")`);
  assert.equal(ran, "1:1-1,10:1-10,64:1-64,64:1-64");
  const t1 = Date.now();
  js.eval("var o = {}; for (var i = 0; i < 400000; i++) o = Object.create(o); 1", { timeoutMs: 60_000 });
  js.dispose();
  assert.ok(Date.now() - t1 < 5000, `disposed after ${Date.now() - t1} ms`);
});

// ---- Squirrel: tointeger(base), out-of-range numbers in strings, %s of a string holding NUL ---------------------------
// tointeger(base) handed its base to strtoll unchecked (cast to int): base 1 or 37 gave 0 or an error depending on the
// text, 0 guessed the base from a prefix, 4294967312 read base 16. A decimal integer out of range saturated silently:
// "99999999999999999999".tofloat() gave 9223372036854775807.0. format's %s stopped at a NUL byte: "a\0b" gave "a"
// (patch 115).

test("squirrel: tointeger(base) takes bases 2 to 36, big decimal strings read as floats, %s keeps NUL bytes", () => {
  using rt = new Runtime();
  using sq = rt.createContext("squirrel", { thread: false });
  assert.equal(sq.eval('return "ff".tointeger(16) + "ZZ".tointeger(36) + "101".tointeger(2) + "77".tointeger(8.0);'), 255 + 1295 + 5 + 63);
  for (const base of ["1", "37", "0", "-16", "4294967312", "16.5", '"16"', "null"]) {
    assert.throws(() => sq.eval(`return "ff".tointeger(${base});`), /base must be an integer from 2 to 36|parameter 1 has an invalid type/, base);
  }
  assert.equal(sq.eval('return "99999999999999999999".tofloat();'), 1e20);
  assert.equal(sq.eval('return "-99999999999999999999".tofloat();'), -1e20);
  assert.equal(sq.eval('return "99999999999999999999".tointeger();'), 9223372036854775807n);
  assert.equal(sq.eval('return "123".tointeger() + "-9223372036854775808".tointeger();'), -9223372036854775685n);
  assert.throws(() => sq.eval('return "fffffffffffffffffff".tointeger(16);'), /cannot convert the string/);
  assert.equal(sq.eval('return format("%s|%5s|%-5s|%.2s|%6.2s|%-6.1s|", "a\\x00b", "a\\x00b", "a\\x00b", "a\\x00b", "a\\x00b", "a\\x00b");'),
    "a\0b|  a\0b|a\0b  |a\0|    a\0|a     |");
  assert.equal(sq.eval('return format("%s and %s, %d", "x", "", 7);'), "x and , 7");
});
