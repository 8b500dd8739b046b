// Ninth hostile pass: values, marshalling, lifetimes, limits and engine internals, attacked from a user's side.
// Every test is one attack that found a defect; what it expects is what README promises.
import assert from "node:assert/strict";
import { CalogValueError, Runtime } from "../bindings/mod.ts";
import { isDeno, test } from "./harness.ts";

// ---- a Uint8Array whose length answers differently on each read ------------------------------------------
// The encoder read `length` four times (the room to reserve, the header, the copy, the advance): a subclass's
// getter or a Proxy's trap could make the header disagree with the bytes copied, and the caller's bytes were
// then read by the library as wire tags: the next argument vanished, a forged TRUE appeared, and a forged
// host-function handle (tag 12, id 1) released the entry of a registered function, which then failed in every
// context with "unknown host function 1".

/** A Uint8Array of n bytes whose `length` getter answers `lie` on its second read, its real length otherwise. */
function lyingLength(n: number, lie: number): Uint8Array {
  let reads = 0;
  class Liar extends Uint8Array {
    override get length(): number {
      return ++reads === 2 ? lie : super.length;
    }
  }
  return new Liar(n);
}

test("a Uint8Array subclass whose length getter lies crosses as its real bytes, and what follows is intact", () => {
  using rt = new Runtime();
  using lua = rt.createContext("lua", { thread: false });
  lua.eval("function echo(...) return {...} end");
  const b = lyingLength(12, 2);
  b.set([2, 2, 2, 3, 42, 0, 0, 0, 6, 1, 0, 0]); // would-be wire tags: TRUE, TRUE, I32 42, ...
  const r = lua.call("echo", b, "after") as unknown[];
  assert.equal(r.length, 2);
  assert.deepEqual(Array.from(new TextEncoder().encode(r[0] as string)), [2, 2, 2, 3, 42, 0, 0, 0, 6, 1, 0, 0]);
  assert.equal(r[1], "after");
});

test("forged wire bytes behind a lying length cannot release a registered host function", () => {
  using rt = new Runtime();
  rt.register("secret", () => "secret-result");
  using lua = rt.createContext("lua", { thread: false });
  lua.eval("function take(b, s) return type(b) .. ':' .. #b .. ':' .. tostring(s) end");
  const b = lyingLength(5, 0);
  b.set([12, 1, 0, 0, 0]); // HOSTFN, id 1
  assert.equal(lua.call("take", b, "s"), "string:5:s");
  lua.eval("collectgarbage() collectgarbage()");
  assert.equal(lua.eval("return secret()"), "secret-result");
});

test("a Proxy of a Uint8Array whose length trap lies is refused with a CalogValueError, and the next call works", () => {
  using rt = new Runtime();
  using lua = rt.createContext("lua", { thread: false });
  lua.eval("function echo(...) return {...} end");
  let reads = 0;
  const p = new Proxy(new Uint8Array([1, 2, 3, 4]), {
    get(t, k) {
      if (k === "length") return ++reads === 2 ? 1 : 4;
      return Reflect.get(t, k);
    },
  });
  assert.throws(() => lua.call("echo", p, "after"), CalogValueError);
  assert.deepEqual(lua.call("echo", 1, "x"), [1, "x"]);
});

// ---- Squirrel: blob.readblob with a negative size ----------------------------------------------------------
// A negative size passed SQBlob::CanAdvance: Read() ran a memcpy of (size_t)-1 and left the position at -1, so the
// blob's next write went in front of its buffer. blob(0).readblob(-1) from a sandboxed script aborted the host
// process ("double free or corruption") when the heap was next used; blob(16) segfaulted.

for (const thread of [false, true]) {
  test(`squirrel (${thread ? "own thread" : "host thread"}): readblob(-1) is a catchable error and the blob stays sound`, () => {
    using rt = new Runtime();
    using sq = rt.createContext("squirrel", { thread });
    const r = sq.eval(`
      local out = [];
      foreach (n in [0, 16]) {
        local b = blob(n);
        try { b.readblob(-1); out.append("no error"); } catch (e) { out.append(e); }
        out.append(b.tell());
        b.writen(0x41414141, 'i');
        out.append(b.len());
      }
      return out;`);
    assert.deepEqual(r, ["negative size", 0, 4, "negative size", 0, 16]);
    sq.eval("collectgarbage();");
    assert.equal(sq.eval("local b = blob(8); b.writen(7, 'i'); b.seek(0); return b.readblob(100).len();"), 8);
  });
}

// ---- a string whose UTF-8 room passes 2^32 bytes -------------------------------------------------------------
// The encoder reserved `pos + 3n + 5` bytes through a u32 FFI argument: past 2^32 the size wrapped, the library
// granted a buffer of the remainder, and encodeInto stopped where it ended. A 1.44e9-character string reached Lua
// as its first 33,554,414 bytes, in strict mode, with no error. (JavaScriptCore only: V8's strings stop at 2^29.)

if (!isDeno) {
  test("a string too large for the request buffer is a CalogValueError, not a truncated string", () => {
    using rt = new Runtime();
    using lua = rt.createContext("lua", { thread: false });
    lua.eval("function len(s) return #s end");
    let s: string | undefined = "x".repeat(1_440_000_000);
    assert.throws(() => lua.call("len", s), (e: unknown) => e instanceof CalogValueError && e.code === "ERR_RANGE");
    s = undefined;
    assert.equal(lua.call("len", "y".repeat(100)), 100);
  }, 120_000);
}


// ---- Squirrel keys that are one key elsewhere ------------------------------------------------------------
// A Squirrel table keeps the keys 1 and 1.0 apart (and -0.0 and 0.0, and every NaN key). Lua makes an integral
// float key an integer key and a TypeScript Map compares keys by SameValueZero, so one pair vanished, under the
// strict policy, with no error: { [1] = "a", [1.0] = "b" } came back as Map { 1 => "b" }, and reached a Lua
// function as a one-key table.

const collide = {
  "1 and 1.0": 'local t = { [1] = "a", [1.0] = "b" };',
  "-0.0 and 0.0": "local t = {}; t[-0.0] <- 1; t[0.0] <- 2;",
  "two NaN keys": "local t = {}; t[0.0 / 0.0] <- 1; t[-(0.0 / 0.0)] <- 2;",
};

for (const [what, make] of Object.entries(collide)) {
  test(`strict: a Squirrel table with keys ${what} is a CalogValueError in TypeScript and in a host function, not a lost pair`, () => {
    using rt = new Runtime();
    let got: unknown = "not called";
    rt.register("take", (v) => (got = v));
    using sq = rt.createContext("squirrel", { thread: false });
    assert.throws(() => sq.eval(`${make} return t;`), (e: unknown) => e instanceof CalogValueError && /same Map key/.test(e.message));
    assert.throws(() => sq.eval(`${make} return take(t);`), /same Map key/);
    assert.equal(got, "not called");
    assert.equal(sq.eval("return 1 + 1;"), 2);
  });
}

test("strict: a Squirrel table with keys 1 and 1.0 (or -0.0 and 0.0) is refused by Lua, as a catchable error", () => {
  using rt = new Runtime();
  using sq = rt.createContext("squirrel", { thread: false });
  using lua = rt.createContext("lua", { thread: false });
  lua.eval("function count(t) local n = 0 for _ in pairs(t) do n = n + 1 end return n end");
  sq.eval("function give(f, which) { local t = which == 0 ? { [1] = \"a\", [1.0] = \"b\" } : {}; if (which == 1) { t[-0.0] <- 1; t[0.0] <- 2; } if (which == 2) { t[1.0] <- 1; t[2.5] <- 2; } if (which == 3) { t[0.5] <- 1; t[2.5] <- 2; } try { return f(t); } catch (e) { return e; } }");
  using count = lua.getFunction("count");
  assert.match(sq.call("give", count, 0) as string, /same Lua key|would become an integer key in Lua/);
  assert.match(sq.call("give", count, 1) as string, /same Lua key|the key -0\.0 would become the key 0 in Lua/);
  // an integral float key alone becomes an integer key in Lua, which comes back as another key (pass 40a): refused
  assert.match(sq.call("give", count, 2) as string, /the float key 1 would become an integer key in Lua/);
  assert.equal(sq.call("give", count, 3), 2); // float keys that stay floats in Lua cross
});

test("lenient: the last of two colliding keys wins, as documented for JS property names", () => {
  using rt = new Runtime({ policy: "lenient" });
  using sq = rt.createContext("squirrel", { thread: false });
  const m = sq.eval('return { [1] = "a", [1.0] = "b" };') as Map<unknown, unknown>;
  assert.equal(m.size, 1);
});

// ---- Squirrel: setroottable(null) --------------------------------------------------------------------------
// sq_setroottable accepted null, and every closure made afterwards (the next compile, a function expression)
// took _table(_roottable)->GetWeakRef(): a sandboxed script's setroottable(null) made the next eval segfault.

for (const thread of [false, true]) {
  test(`squirrel (${thread ? "own thread" : "host thread"}): setroottable(null) is refused; a table still works`, () => {
    using rt = new Runtime();
    using sq = rt.createContext("squirrel", { thread });
    assert.throws(() => sq.eval("setroottable(null); return 1;"), /ivalid type/);
    assert.equal(sq.eval("local f = function() { return 1; }; return f() + 1;"), 2);
    assert.equal(sq.eval("local old = setroottable({}); local f = function() { return 3; }; setroottable(old); return f();"), 3);
  });
}

// ---- Squirrel: escape() of bytes >= 0x80 -----------------------------------------------------------------------
// A byte of 0x80 or more is a negative char, which "\\x%02x" printed as \xffffff80: 10 characters where 4 were
// reserved, with the whole buffer's size as the bound. escape() of a string of such bytes wrote 6 bytes per byte past
// its scratch buffer ("malloc(): corrupted top size" at once for 4,096 of them).

test("squirrel: escape() of high bytes gives \\xNN and stays in its buffer", () => {
  using rt = new Runtime();
  using sq = rt.createContext("squirrel", { thread: false });
  assert.equal(sq.eval('local s = "\\xff"; for (local i = 0; i < 12; i++) s += s; return escape(s).len();'), 4 * 4096);
  assert.equal(sq.eval('return escape("a\\x80\\xff\\x01\\"");'), 'a\\x80\\xff\\x01\\"');
  assert.equal(sq.eval('return compilestring("return \\"" + escape("\\x80\\xfe\\xff") + "\\";")() == "\\x80\\xfe\\xff";'), true);
});

// ---- Squirrel: array.sort ------------------------------------------------------------------------------------
// The sort swaps and compares arr->_values in place between calls of script code (a compare function, an
// instance's _cmp): a compare function that resized the array left it reading and swapping destroyed slots, a use
// after free ("Pure virtual function called", the host aborted). And without a compare function the sort never
// polled: 5 million integers sorted for 11.7 s past a 30 ms timeout.

const sortAttacks: Record<string, string> = {
  "a compare function shrinks it": `local a = []; for (local i = 0; i < 200; i++) a.append({ v = i }); local n = 0;
    a.sort(function(x, y) { if (n++ == 3) { a.resize(0); for (local j = 0; j < 1000; j++) local t = { w = "s" + j }; } return 0; });`,
  "a compare function grows it": `local a = []; for (local i = 0; i < 200; i++) a.append([i]); local n = 0;
    a.sort(function(x, y) { if (n++ == 3) a.append(1); return 0; });`,
  "an instance's _cmp shrinks it": `class C { v = 0; constructor(x) { v = x; } function _cmp(o) { if (::n++ == 3) ::arr.resize(0); return v <=> o.v; } }
    ::n <- 0; ::arr <- []; for (local i = 0; i < 100; i++) ::arr.append(C(i)); ::arr.sort();`,
};

for (const [what, src] of Object.entries(sortAttacks)) {
  test(`squirrel: array.sort fails when ${what} during the sort, and the context goes on`, () => {
    using rt = new Runtime();
    using sq = rt.createContext("squirrel", { thread: false });
    assert.throws(() => sq.eval(src), /array resized during sort operation/);
    assert.equal(sq.eval('local a = [5, 3, 1, 4, 2]; a.sort(); local b = ["b", "a"]; b.sort(function(x, y) { return x <=> y; }); return a[0] + " " + a[4] + b[0];'), "1 5a");
  });
}

test("squirrel: array.sort without a compare function meets the timeout", () => {
  using rt = new Runtime();
  using sq = rt.createContext("squirrel", { thread: false });
  sq.eval("::big <- array(2000000, 0); for (local i = 0; i < 2000000; i++) ::big[i] = (i * 7919) % 1000003; return 1;", { timeoutMs: 60_000 });
  const t0 = Date.now();
  assert.throws(() => sq.eval("::big.sort(); return 1;", { timeoutMs: 20 }), (e: unknown) => (e as { limit?: string }).limit === "timeout");
  assert.ok(Date.now() - t0 < 1000, `stopped after ${Date.now() - t0} ms`);
});

// ---- Squirrel: format("%f") of a large double ------------------------------------------------------------------
// format() reserved 100 characters plus the width for a float, and gave snprintf the whole buffer's size as its
// bound rather than what was left: "%.0f" of 1e308 prints 309 characters, so thirty of them wrote past the scratch
// buffer ("realloc(): invalid next size", the host aborted).

test("squirrel: format() of many large %f values is exact and stays in its buffer", () => {
  using rt = new Runtime();
  using sq = rt.createContext("squirrel", { thread: false });
  const r = sq.eval(`local f = ""; local a = [this, f]; for (local i = 0; i < 30; i++) { f += "%.0f|"; a.append(1e308); }
    a[1] = f; return format.acall(a);`) as string;
  const one = BigInt(1e308).toString(); // printf prints the double exactly, as BigInt does
  assert.equal(r, `${one}|`.repeat(30));
  assert.equal(sq.eval('return format("%-5d|%5s|%.3f|%c", 42, "ab", 2.5, 65);'), "42   |   ab|2.500|A");
  assert.equal((sq.eval('return format("%99.99f", -1.7e308);') as string).length, 410);
});

// ---- Squirrel: the standard library's native classes trusted `this` --------------------------------------------
// regexp's methods took the instance's user pointer whatever the instance was, and the blob, regexp and file
// constructors could run again or on another class's instance, replacing its user pointer and release hook: a
// blob used as a SQRex, a SQRex as a SQBlob, NULL as either. Each was a segmentation fault from a sandboxed script;
// a constructor run twice leaked the first object.

const nativeThis: Record<string, [string, RegExp]> = {
  "a regexp method on an instance whose constructor never ran": ['return regexp.instance().match("a");', /not a regexp/],
  "a regexp method on a blob": ['return regexp.match.call(blob(64), "a");', /not a regexp/],
  "a regexp method on a class instance": ["class C {}; return regexp.subexpcount.call(C());", /not a regexp/],
  "the regexp constructor on a blob": ['local b = blob(4); regexp.constructor.call(b, "abc"); return b.len();', /runs once/],
  "the blob constructor on a regexp": ['local r = regexp("abc"); blob.constructor.call(r, 4); return r.match("abc");', /runs once/],
  "the blob constructor run again": ["local b = blob(4); b.constructor(1000000); return b.len();", /runs once/],
  "the regexp constructor run again": ['local r = regexp("a+"); r.constructor("b"); return r.match("aa");', /runs once/],
  "a clone of a blob whose constructor never ran": ["return (clone blob.instance()).len();", /constructed blob/],
};

for (const [what, [src, message]] of Object.entries(nativeThis)) {
  test(`squirrel: ${what} is a script error, not a crash`, () => {
    using rt = new Runtime();
    using sq = rt.createContext("squirrel", { thread: false });
    assert.throws(() => sq.eval(src), message);
    assert.equal(sq.eval('local b = blob(3); b[1] = 7; local c = clone b; return c.len() + c[1] + regexp("a(b)").capture("ab").len();'), 12);
  });
}

test("squirrel: classes extending blob and regexp still construct through base.constructor", () => {
  using rt = new Runtime();
  using sq = rt.createContext("squirrel", { thread: false });
  assert.equal(sq.eval('class R extends regexp { constructor() { base.constructor("x+"); } }; return R().match("xx");'), true);
  assert.equal(sq.eval("class B extends blob { constructor() { base.constructor(5); } }; local b = B(); b.writen(1, 'c'); return b.len();"), 5);
});

// ---- Squirrel: getstackinfos with a negative level -----------------------------------------------------------------
// sq_stackinfos indexed the call stack at size - level - 1 with no lower bound on level: getstackinfos(-1) returned
// what lay past the end of the call stack, getstackinfos(-4096) was a segmentation fault.

for (const thread of [false, true]) {
  test(`squirrel (${thread ? "own thread" : "host thread"}): getstackinfos of a negative level is null, on the VM and on a thread`, () => {
    using rt = new Runtime();
    using sq = rt.createContext("squirrel", { thread });
    assert.equal(sq.eval("return getstackinfos(-4096);"), null);
    assert.equal(sq.eval("return getstackinfos(-1);"), null);
    assert.equal(sq.eval("local t = newthread(function() { suspend(1); }); t.call(); return t.getstackinfos(-5);"), null);
    assert.equal(sq.eval("return getstackinfos(0).func;"), "getstackinfos");
  });
}

// ---- a thrown value whose string is empty --------------------------------------------------------------------
// JavaScript's String([]) is "", so `throw []` (or a deep array) reached TypeScript as a CalogScriptError with the
// message "": the engine's message was taken as saying something. An empty message now counts as saying nothing,
// and the value is rendered, as for a Lua table.

test("js: throw [] gives a readable message and the value", () => {
  using rt = new Runtime();
  using js = rt.createContext("js", { thread: false });
  for (const [src, message, value] of [["throw []", "js threw []", []], ["throw [[]]", "js threw [[]]", [[]]]] as const) {
    assert.throws(() => js.eval(src), (e: unknown) => {
      const err = e as { message: string; value: unknown };
      assert.equal(err.message, message);
      assert.deepEqual(err.value, value);
      return true;
    });
  }
  // an empty text says nothing: `throw ""` is rendered, its value kept (pass 47)
  assert.throws(() => js.eval('throw ""'), (e: unknown) => (e as Error).message === 'js threw ""' && (e as { value: unknown }).value === "");
});

// A thrown array's message was its built-in ToString, every element joined: a million numbers made a 6.9 MB message.
// An array with the built-in toString is rendered short, as a Lua table is; one whose toString a script wrote says
// what it returns; one that cannot cross is named with the reason.
test("js: a thrown array's message is short, its value whole, and a script's own toString still speaks", () => {
  using rt = new Runtime();
  using js = rt.createContext("js", { thread: false });
  assert.throws(() => js.eval("var a = []; for (var i = 0; i < 1000000; i++) a.push(i); throw a"), (e: unknown) => {
    const err = e as { message: string; value: number[] };
    assert.equal(err.message, "js threw [0, 1, 2, 3, 4, 5, 6, 7, …]");
    assert.equal(err.value.length, 1_000_000);
    assert.equal(err.value[999_999], 999_999);
    return true;
  });
  const message = (src: string) => { try { js.eval(src); } catch (e) { return (e as Error).message; } return "no error"; };
  assert.equal(message("var a = [1]; a.toString = function () { return 'custom'; }; throw a"), "custom");
  assert.match(message("throw [new Date(0)]"), /^js threw an object that cannot cross: /);
  assert.equal(message("throw [1, [2, 'x']]"), 'js threw [1, [2, "x"]]');
  assert.equal(message("Array.prototype.toString = function () { return 'mine'; }; throw [1, 2]"), "mine");
});

// Object.create(null) has no toString: describing it failed, and that failure ("TypeError: coercion to primitive
// failed") read as the script's own message
test("js: a thrown object without a toString is described by its value, not by a coercion error", () => {
  using rt = new Runtime();
  using js = rt.createContext("js", { thread: false });
  assert.throws(() => js.eval("var o = Object.create(null); o.code = 7; throw o"), (e: unknown) => {
    const err = e as { message: string; value: unknown };
    assert.doesNotMatch(err.message, /coercion/);
    assert.match(err.message, /"?code"?:\s*7/);
    assert.deepEqual(err.value, { code: 7 });
    return true;
  });
});

test("strict: a thrown Squirrel table with keys 1 and 1.0 has no value and says why; lenient keeps the last", () => {
  for (const policy of ["strict", "lenient"] as const) {
    using rt = new Runtime({ policy });
    using sq = rt.createContext("squirrel", { thread: false });
    assert.throws(() => sq.eval('throw { [1] = "a", [1.0] = "b" };'), (e: unknown) => {
      const err = e as { message: string; value: unknown };
      if (policy === "strict") {
        assert.equal(err.value, undefined);
        assert.match(err.message, /squirrel threw a value that cannot cross: two keys of a map/);
      } else {
        assert.deepEqual(err.value, new Map([[1, "b"]]));
      }
      return true;
    });
  }
});

// ---- Squirrel: readblob called the blob class, whose constructor a script can replace --------------------------
// sqstd_createblob built readblob's result by calling the blob class: a script's blob.constructor <- function
// that did not construct gave NULL to GetBuf() and memcpy, one that threw gave NULL, one that built a smaller blob
// was written past, and one that used format() freed the scratch buffer readblob copied from (segfaults).

test("squirrel: readblob's result does not run a replaced blob constructor", () => {
  using rt = new Runtime();
  using sq = rt.createContext("squirrel", { thread: false });
  assert.equal(sq.eval(`local native = blob.constructor; ::mode <- 0; ::ran <- 0;
    blob.constructor <- function(n = 0) { ::ran++; if (::mode == 0) native.call(this, n); else throw "no"; };
    local b = blob(8); b.writen(0x41424344, 'i'); b.seek(0); ::mode <- 1;
    local r = b.readblob(4); return r.len() + " " + r[0] + " " + typeof r + " " + ::ran;`), "4 68 blob 1");
});

// ---- disposing the runtime from a getter of a value being encoded ----------------------------------------------
// A host function called by a threaded context through the event loop (callAsync), or an async one's settled
// value, is encoded at depth 0: a getter that called rt.dispose() there destroyed the runtime, and the encoder went
// on writing into the freed IN buffer ("malloc(): unsorted double linked list corrupted").

for (const kind of ["sync", "async"] as const) {
  test(`rt.dispose() from a getter of a ${kind} host function's result is refused; nothing is written into freed memory`, async () => {
    using rt = new Runtime();
    using lua = rt.createContext("lua");
    let refused = "";
    const big = "x".repeat(1 << 16);
    const evil = () => ({
      get a() {
        try {
          rt.dispose();
        } catch (e) {
          refused = (e as Error).message;
        }
        return 1;
      },
      b: big,
    });
    if (kind === "sync") rt.register("h", evil);
    else rt.register("h", async () => evil());
    lua.eval("function f() local r = h() return r.a + #r.b end");
    assert.equal(await lua.callAsync("f"), 1 + (1 << 16));
    assert.match(refused, /cannot be disposed (while calog is reading a value|from inside one of its own calls)/);
  });
}

// ---- a result with a callable `then` through the Promise forms ---------------------------------------------------
// A Promise adopts a value with a callable `then`: a script's { then = function() end } left `await
// ctx.callAsync(...)` pending for ever (no limit applies: the script is not running), and
// { then = function(resolve) resolve(42) end } resolved it to 42, handing the script the resolve function.

for (const thread of [false, true]) {
  test(`lua (${thread ? "own thread" : "host thread"}): callAsync of a table with a 'then' function rejects instead of hanging`, async () => {
    using rt = new Runtime();
    using lua = rt.createContext("lua", { thread });
    lua.eval("function f() return { ['then'] = function() end, x = 1 } end function g() return { ['then'] = function(r) r(42) end } end");
    await assert.rejects(lua.callAsync("f"), (e: unknown) => e instanceof CalogValueError && /'then' function/.test((e as Error).message));
    await assert.rejects(lua.evalAsync("return g()"), CalogValueError);
    assert.deepEqual(Object.keys(lua.call("f") as object).sort(), ["then", "x"]); // the synchronous form returns it
    assert.deepEqual(await lua.callAsync("g").catch(() => "rejected"), "rejected");
    assert.deepEqual(await lua.evalAsync("return { x = { ['then'] = 1 } }"), { x: { then: 1 } });
  });
}

test("rt.dispose() from a host function result's `then` getter is refused (the library is inside its poll)", async () => {
  using rt = new Runtime();
  using lua = rt.createContext("lua");
  let refused = "";
  rt.register("h", () => ({
    get then() {
      try {
        rt.dispose();
      } catch (e) {
        refused = (e as Error).message;
      }
      return 1;
    },
  }));
  lua.eval("function f() return h()['then'] end");
  assert.equal(await lua.callAsync("f"), 1);
  assert.match(refused, /cannot be disposed from inside one of its own calls/);
});
