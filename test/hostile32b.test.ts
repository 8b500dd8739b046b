// Pass 32b: a hostile second pass over the hardening issue's areas (script-controlled recursion, function values
// outliving their context, strict fidelity, thrown values, Promises from host functions, the documented commands), in
// both runtimes, every engine, both thread kinds. Every test is one attack that found a defect: each fails on the code
// it was written against (211f7fd), in Bun and Deno.
import assert from "node:assert/strict";
import { CalogLimitError, Runtime } from "../bindings/mod.ts";
import { modes, test, where } from "./harness.ts";

// Medium-high (a script escapes its time limit and makes the host copy gigabytes; with bigger strings the host is
// killed by the kernel). README (Value mapping): a shared subvalue "is copied each time it appears ... so the copy is
// bounded by the sending context's limits, its memory limit and its `timeoutMs` and `interrupt()`, polled every 4,096
// items"; (Limits) "No script can hang, exhaust or outlive its host". Pass 31's fix counts items, not bytes: a Lua or
// Squirrel list holding the same 1 MB string 2,000 times is 2,000 items (one string in the context: strings are shared
// by reference in both engines) but 2 GB once copied. With `timeoutMs: 100` and no memory limit, returning it ran 3-4.5 s
// and took the host to 2.1 GB of RSS (Lua and Squirrel, host thread and own thread alike); the same list of a 16 MB string
// is 32 GB copied before the first poll (4,096 items). JavaScript stops at ~100 ms (its marshal meets Duktape's hook).
// Cause: codec.h calog__sinkTick counts one tick per item whatever its size (codec.c calog__sinkPut, CALOG_STRING copies
// `it->as.s.length` bytes per tick), so no poll happens for 4,096 strings of any length.
// Fix: make a string's bytes count on the clock (e.g. `k->ticks += length >> 8` before the check, or a byte counter
// polled every few MB copied), in the values sink and the wire sink alike.
for (const thread of modes) {
  for (const engine of ["lua", "squirrel"] as const) {
    test(`${engine} (${where(thread)}): a list of one long string many times stops at the timeout as it crosses out`, () => {
      using rt = new Runtime({ output: "ignore" });
      using ctx = rt.createContext(engine, { thread, limits: { timeoutMs: 50 } });
      const src = engine === "lua"
        ? `local s = string.rep("x", 1 << 20) local t = {} for i = 1, 1500 do t[i] = s end return t`
        : `local s = "x"; for (local k = 0; k < 20; k++) s = s + s; local t = []; for (local i = 0; i < 1500; i++) t.append(s); return t;`;
      const t0 = performance.now();
      let err: unknown;
      try {
        ctx.eval(src);
      } catch (e) {
        err = e;
      }
      const ms = performance.now() - t0;
      assert.ok(err instanceof CalogLimitError, `not stopped by its limit: ${err}`);
      assert.ok(ms < 350, `a 50 ms timeout stopped the call after ${Math.round(ms)} ms (1.5 GB copied first)`);
    });
  }
}

// Medium-high, the same cause on the way out of a running script: a list of one 1 MB string 1,500 times passed to a
// host function ran 8 s (host thread) / 3.4 s (own thread) past a 100 ms timeout, and to another context's function
// 5 s / 0.9 s, before the call failed with its CalogLimitError (Lua; Squirrel alike). README (Limits): `timeoutMs` is
// checked "before and after every call out of the script"; (Value mapping) the copy is bounded by the sending context's
// `timeoutMs`, "polled every 4,096 items". Fix as above (count a string's bytes on the sink's clock, the wire sink too).
for (const thread of modes) {
  for (const engine of ["lua", "squirrel"] as const) {
    test(`${engine} (${where(thread)}): a list of one long string many times passed to a host function stops at the timeout`, () => {
      using rt = new Runtime({ output: "ignore" });
      rt.register("take", (x) => (x as unknown[]).length);
      using ctx = rt.createContext(engine, { thread, limits: { timeoutMs: 50 } });
      const src = engine === "lua"
        ? `local s = string.rep("x", 1 << 20) local t = {} for i = 1, 800 do t[i] = s end return take(t)`
        : `local s = "x"; for (local k = 0; k < 20; k++) s = s + s; local t = []; for (local i = 0; i < 800; i++) t.append(s); return take(t);`;
      const t0 = performance.now();
      let err: unknown;
      try {
        ctx.eval(src);
      } catch (e) {
        err = e;
      }
      const ms = performance.now() - t0;
      assert.ok(err instanceof CalogLimitError, `not stopped by its limit: ${err}`);
      assert.ok(ms < 350, `a 50 ms timeout stopped the call after ${Math.round(ms)} ms (800 MB copied for the host first)`);
    });
  }
}

// Medium (a script runs seconds past its timeout and makes the host hold gigabytes, in one built-in call; bigger
// strings take the host to the OOM killer). README (Limits): `steps`/`timeoutMs` are checked inside "the inner loops
// of `string.rep`" (Lua) and "`Array.prototype.join`, string searches and concatenation (per KB copied)" (JavaScript);
// "No script can hang, exhaust or outlive its host". With `timeoutMs: 50` and no memory limit:
// - Lua `string.rep(s, 500)` of a 4 MB string ran 7.8 s (4.1 GB RSS); 256 copies (1 GB) here. lstrlib.c str_rep
//   (calog's patch 60) polls once per copy (`calogpoll`: one step whatever its length), so a few hundred copies of a
//   long string are no poll at all; the result is also allocated whole up front (luaL_buffinitsize), so a 64 MB string
//   repeated 1,000 times asks the host for 64 GB in one call. Fix: charge a copy by its bytes (`calogcharge(L, (l +
//   lsep) >> 10)` per copy, as patch 72 does for Duktape) and poll before the up-front allocation.
// - Lua `table.concat(t)` of 1,000 references to one 1 MB string ran 4 s (host thread) / 1.1 s (own thread), and
//   `string.format` with 200 `%s` of one 4 MB string 5.5 s: their loops poll once per item too (README: "`table.concat`"
//   is among the counted inner loops). Fix: charge each piece added by its KB (luaL_addvalue's callers in patch 60).
// - Squirrel `format` with 200 `%s` of one 4 MB string ran 0.9 s (sqstdstring.c sqstd_format: no poll while it copies).
// - JavaScript `a.join("")` of 1,000 references to one 1 MB string ran 1.2 s (2,040 of them: 4.7 s, 4.2 GB RSS);
//   `JSON.stringify(a)` 3.5 s; `s.repeat(1000)` 1.3 s; `Duktape.enc("jx", a)` 2.6 s, CBOR.encode 0.9 s. Patch 72's
//   CALOG_DUK_COPY_POLL in duk__concat_and_join_helper polls once BEFORE the copy (charging its KB to the next poll),
//   so the one join that copies 1-2 GB runs to its end; the JSON/JX/CBOR encoders and String.prototype.repeat count no
//   bytes at all. Fix: poll inside the copy loops (every MB copied) and in the encoders' string emitters (duk_bw_*),
//   or refuse up front a result whose size passes what the time left allows.
for (const thread of modes) {
  const cases = [
    ["lua", "string.rep of a long string", `local s = string.rep("x", 1 << 22) return #string.rep(s, 256)`],
    ["lua", "table.concat", `local s = string.rep("x", 1 << 20) local t = {} for i = 1, 1000 do t[i] = s end return #table.concat(t)`],
    ["lua", "string.format", `local s = string.rep("x", 1 << 22) local t = {} for i = 1, 200 do t[i] = s end return #string.format(string.rep("%s", 200), table.unpack(t))`],
    ["squirrel", "format", `local s = "x"; for (local k = 0; k < 22; k++) s = s + s; local f = ""; local a = [this]; for (local i = 0; i < 250; i++) { f += "%s"; a.append(s); } a.insert(1, f); return format.acall(a).len();`],
    ["js", "Array.prototype.join", `var s = "x"; for (var k = 0; k < 20; k++) s = s + s; var a = []; for (var i = 0; i < 1000; i++) a.push(s); a.join("").length`],
    ["js", "JSON.stringify", `var s = "x"; for (var k = 0; k < 20; k++) s = s + s; var a = []; for (var i = 0; i < 1000; i++) a.push(s); JSON.stringify(a).length`],
    ["js", "String.prototype.repeat", `var s = "x"; for (var k = 0; k < 20; k++) s = s + s; s.repeat(1000).length`],
  ] as const;
  for (const [engine, what, src] of cases) {
    test(`${engine} (${where(thread)}): ${what} copying a gigabyte stops at the timeout`, () => {
      using rt = new Runtime({ output: "ignore" });
      using ctx = rt.createContext(engine, { thread, limits: { timeoutMs: 50 } });
      const t0 = performance.now();
      let err: unknown;
      try {
        ctx.eval(src);
      } catch (e) {
        err = e;
      }
      const ms = performance.now() - t0;
      assert.ok(err instanceof CalogLimitError, `not stopped by its limit: ${err}`);
      assert.ok(ms < 350, `a 50 ms timeout stopped the call after ${Math.round(ms)} ms (one built-in call copied 1 GB first)`);
    });
  }
}
