// Pass 34a: the final hostile pass over the hardening issue's areas (script-controlled recursion in every engine's
// parser, compiler and run-time paths, on both thread kinds; silent changes under the strict policy), in Bun and Deno.
// No crash was found. Every test below is one defect this pass confirmed; each fails on a6a090a (the NaN test under
// Bun only, the long-string test under Deno only, as their comments say):
//   - medium: a long Lua __call chain runs minutes past timeoutMs, interrupt() and dispose() (one VM instruction);
//   - low-medium: strict drops a Map's, a Uint8Array's or an ArrayBuffer's named properties without a word;
//   - low-medium: a string longer than V8's longest reaches Deno as a bare TypeError;
//   - low: a print whose output callback calog cannot call (the crossing cap) is dropped as if printed;
//   - low: a yield through a host function inside a coroutine / thread says "outside a coroutine";
//   - low: a NaN's sign bit is lost through a TypeScript host function under Bun (undocumented).
// Fixed in the commit after a6a090a. Where a rule was chosen instead of a change (a view's named properties from
// TypeScript, a NaN's sign under Bun, a registered global as a binding by name), the README states it and the test
// pins the documented rule.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { CalogError, CalogValueError, Runtime } from "../bindings/mod.ts";
import { modes, refusedUnderStrict, runScriptChild, test, where } from "./harness.ts";

// Low (a silent change of a value's bits, Bun only; no crash). README (Value mapping): "`number`, otherwise (`-0`,
// fractions, NaN, ±Infinity, beyond 2^53) | double | float | `number`"; "every value must come back exact or raise
// CalogValueError". Repro (Bun): rt.register("hid", (x) => x); lua.eval("local n = 0/0 return tostring(n), tostring(hid(n))")
// gives "-nan", "nan". Cause: bindings/bun.ts / src/wire.ts decode the double into a JS number, which JavaScriptCore
// stores as its one canonical NaN; nothing in calog can keep the payload in a JS `number`. Fix: say so in the README's
// value mapping (a NaN crossing TypeScript under Bun comes back as the positive quiet NaN; its sign and payload are
// kept between engines and under Deno). The test passes when the bits are kept or the README documents the change.
for (const thread of modes) {
  test(`lua (${where(thread)}): a NaN with its sign bit set keeps it through a TypeScript host function, or the README says it does not`, () => {
    using rt = new Runtime({ output: "ignore" });
    rt.register("hid", (x) => x);
    using lua = rt.createContext("lua", { thread });
    const [before, after] = lua.eval(`local n = 0/0
      if string.pack("d", n):byte(8) ~= 0xff then n = -n end -- the sign bit set, whatever the CPU's default NaN
      local back = hid(n)
      return { string.pack("d", n):byte(8), string.pack("d", back):byte(8) }`) as [number, number];
    assert.equal(before, 0xff);
    if (after === before) return; // kept (Deno)
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    assert.ok(/NaN[^|\n]{0,200}(sign|payload)/i.test(readme),
      `a NaN with its sign bit set came back from a TypeScript host function with top byte 0x${after.toString(16)} ` +
        `(positive), and the README's value mapping does not say a NaN's sign or payload may change`);
  });
}

// Low-medium (a silent loss under strict; no crash). README (Fidelity): "strict (default) turns every lossy crossing
// into a CalogValueError"; the value mapping refuses "an array with named properties, `Object.assign([1, 2], { x: 1 })`:
// strict `CalogValueError`, lenient only its items", and so does the JavaScript row "an array with named properties
// (`a.x = 1` besides its items) | strict: ERR_TYPE". The same loss on the other containers passes without a word: a
// Map's own properties (`Object.assign(new Map([["a", 1]]), { x: 2 })` arrives as `{ a = 1 }`), a Uint8Array's or an
// ArrayBuffer's (`Object.assign(new Uint8Array([104]), { x: 1 })` arrives as the string "h"), from TypeScript and from
// a Duktape script alike (`var u = new Uint8Array([104]); u.x = 1; u` comes back "h"). Only the items/entries/bytes
// cross, `x` is dropped, and strict says nothing. (Symbol keys and non-enumerable properties are documented to stay
// behind; these are own enumerable string keys, the very thing a plain object sends.)
// Cause: src/wire.ts Encoder.value: checkNamedKeys (line ~179) runs for Array.isArray only; the Map branch (#map) and
// the byte branch never look at Object.keys(v). c/src/engines/duktape/duk_adapter.c ingress() (line ~765): the
// duk_is_buffer_data branch sends the bytes without duk_calog_named_keys (which ingressArray uses).
// Fix: under strict, refuse a Map, a typed array / ArrayBuffer (TypeScript) and a buffer object (Duktape) with own
// enumerable string keys other than a view's indices, as arrays are ("a Uint8Array with named properties ("x") cannot
// cross: only its bytes would"); lenient keeps sending only the entries/bytes.
for (const thread of modes) {
  test(`strict (${where(thread)}): a Map or an ArrayBuffer (and in JavaScript any byte buffer) with named properties is refused, as an array is; a view from TypeScript crosses as its bytes, as documented`, () => {
    using rt = new Runtime({ output: "ignore" });
    using lua = rt.createContext("lua", { thread });
    using js = rt.createContext("js", { thread });
    lua.eval("function id(x) return x end");
    // the documented rule, for reference: an array with a named property is refused
    assert.throws(() => lua.call("id", Object.assign([1], { x: 1 })), CalogValueError);
    const values: [string, unknown][] = [
      ["a Map with an own property x", Object.assign(new Map([["a", 1]]), { x: 2 })],
      ["an ArrayBuffer with an own property x", Object.assign(new ArrayBuffer(1), { x: 1 })],
    ];
    // the rule chosen for a view from TypeScript (README, value mapping): it crosses as its bytes and its own
    // properties are not read (its Object.keys lists every index first: a walk as long as the bytes on every send)
    assert.equal(lua.call("id", Object.assign(new Uint8Array([104]), { x: 1 })), "h");
    for (const [what, v] of values) refusedUnderStrict(() => lua.call("id", v), what, "its property x");
    for (const src of ["var u = new Uint8Array([104]); u.x = 1; u", "var b = new ArrayBuffer(1); b.x = 1; b"]) {
      refusedUnderStrict(() => js.eval(src), `JavaScript \`${src}\``, "its property x");
    }
  });
}

// Low (a wrong error message). README (Errors): errors say what happened; the "done when" asks for no unclear
// error. A Lua coroutine or a Squirrel thread whose code calls a host function that calls back into a script function
// of the same context, which then yields, is told it is not in a coroutine or thread at all:
//   Lua:      coroutine.wrap(function() return callBack(function() return coroutine.yield(5) end) end)()
//             -> "attempt to yield from outside a coroutine" (it is inside one; stock Lua says "attempt to yield across
//             a C-call boundary" for a yield through a C function)
//   Squirrel: newthread(function() { return ::callBack(function() { return ::suspend(5); }); }).call()
//             -> "suspend() works only inside a thread (newthread) in calog" (it is inside one; Squirrel's own text for
//             a suspend through a native, `[1].map(function(x) { return ::suspend(5); })`, is "cannot suspend through
//             native calls/metamethods")
// The same for a function value called by another engine from inside the coroutine or thread. The callback runs as
// an entry of its own on the context's main state / VM, so the engine sees no coroutine.
// Cause: c/src/engines/squirrel/sq_engine.c:27 guardedSuspend tests only v == the context's main VM; for Lua, the
// entry of a function value runs on the main lua_State, where lua_yieldk's "outside a coroutine" check fires.
// Fix: when an entry is nested inside a call out of a coroutine / thread (the context's entry stack has a host or
// cross-engine call below it), say so: "cannot yield (suspend) through a call to the host or another engine".
for (const thread of modes) {
  test(`lua and squirrel (${where(thread)}): yielding through a host function inside a coroutine or thread says so, not "outside a coroutine"`, () => {
    using rt = new Runtime({ output: "ignore" });
    rt.register("callBack", (f) => (f as () => unknown)());
    using lua = rt.createContext("lua", { thread });
    using sq = rt.createContext("squirrel", { thread });
    const messageOf = (f: () => unknown): string => {
      try {
        f();
      } catch (e) {
        return (e as Error).message;
      }
      return "(no error)";
    };
    const luaMsg = messageOf(() =>
      lua.eval("return coroutine.wrap(function() return callBack(function() return coroutine.yield(5) end) end)()")
    );
    assert.ok(!/outside a coroutine/.test(luaMsg) && /across|through|host/.test(luaMsg),
      `a yield inside a coroutine, through a host function, fails with "${luaMsg}"`);
    const sqMsg = messageOf(() =>
      sq.eval("return newthread(function() { return ::callBack(function() { return ::suspend(5); }); }).call()")
    );
    assert.ok(!/works only inside a thread/.test(sqMsg) && /across|through|host/.test(sqMsg),
      `a suspend inside a thread, through a host function, fails with "${sqMsg}"`);
  });
}

// Low (output silently lost; no crash). README (Output): a callback sink is "called on the JavaScript thread with
// `text`", and only "an exception the callback throws (or the rejection of the Promise an `async` callback returns) is
// ignored and never reaches the script". When calog cannot call the sink at all, the print is dropped and the script
// goes on as if it had printed: an output callback that evaluates in a context which prints (a sink that logs through
// a script, or any re-entry past the crossing cap) gets its text up to depth 20; at depth 21 `ctx.eval("print('d21')
// return 1")` returns 1 and the callback is never called with "d21" (every engine, both thread kinds, Bun and Deno).
// A host function failing the same way is a script error ("call nesting deeper than 64 crossings").
// Cause: c/src/policy/output.c:38 `(void)calogFnInvoke(sink->as.fn, args, 2, &res)` ignores every failure, the
// crossing refused by the nesting cap (actor.c:99) or by the host's exhausted JavaScript stack included, not only
// an exception the callback threw.
// Fix: ignore only the callback's own exception (CALOG_ERR_SCRIPT carrying a host exception); a refused crossing
// (CALOG_ERR_NESTING, a dead or exhausted host) fails the print as the same crossing to a host function does.
for (const thread of modes) {
  for (const engine of ["lua", "js", "squirrel"] as const) {
    test(`${engine} (${where(thread)}): a print whose output callback cannot be called fails, instead of returning as if printed`, () => {
      let depth = 0;
      const got = new Set<string>();
      const returned: number[] = [];
      let ctx: ReturnType<Runtime["createContext"]> | undefined;
      using rt = new Runtime({
        output: (text) => {
          got.add(String(text).trim());
          depth++;
          const d = depth;
          if (d < 40) {
            try {
              ctx!.eval(engine === "js" ? `print('d${d}'); 1` : `print("d${d}"); return 1`);
              returned.push(d);
            } catch {
              // a refused print is what the fix gives
            }
          }
          depth--;
        },
      });
      ctx = rt.createContext(engine, { thread });
      ctx.eval(engine === "js" ? "print('top'); 1" : `print("top"); return 1`);
      const lost = returned.filter((d) => !got.has(`d${d}`));
      assert.deepEqual(lost, [], `the evals at depths ${lost.join(", ")} returned normally, but their print never reached the output callback`);
      ctx.dispose();
    });
  }
}

// Low-medium (an unclear error that is no CalogError; Deno only). README (Errors): "Errors are all `CalogError`
// subclasses"; CalogValueError is for a value that is "unrepresentable ... out of range". A script string longer than
// the host engine's longest string (V8: 2^29 - 24 characters, about 512 MiB; the wire itself carries up to 2 GiB)
// reaches Deno as a bare `TypeError: buffer exceeds maximum length` thrown by TextDecoder: no CalogError, no code, no
// engine, nothing saying that the script's result was a string too long for JavaScript. Repro (Deno):
// lua.eval("return string.rep('a', 520 * 1024 * 1024)") -> TypeError. A 500 MiB one arrives. (Under Bun, whose
// strings hold up to 2^31 - 1 characters, every string the wire carries arrives and this test passes.)
// Cause: src/wire.ts:791 (Decoder, Tag.STR) `utf8Decoder.decode(out.subarray(p, p + n))` lets the engine's exception
// out; the same for map keys and messages decoded there.
// Fix: catch it there (or compare n with the engine's limit first) and throw CalogValueError("ERR_RANGE", "a string of
// N bytes is longer than the longest string this JavaScript engine holds"), or hand such bytes over as a Uint8Array.
// (Needs about 2 GB of memory for a few seconds.)
test("lua (host thread): a string longer than the host engine's longest string is a CalogError, not a bare TypeError", () => {
  using rt = new Runtime({ output: "ignore" });
  using lua = rt.createContext("lua", { thread: false });
  let r: unknown;
  try {
    r = lua.eval("return string.rep('a', 520 * 1024 * 1024)");
  } catch (e) {
    assert.ok(e instanceof CalogError, `a 520 MiB string failed with ${(e as Error).name}: ${(e as Error).message}, no CalogError`);
    return;
  }
  assert.equal((r as string).length, 520 * 1024 * 1024);
  assert.equal(lua.eval("return 1 + 1"), 2);
});

// Medium (a script outlives its timeout, interrupt() and dispose() by seconds to minutes; the host thread is held as
// long). README (Limits): "No script can hang, exhaust or outlive its host"; "Disposal never hangs ... only a host
// function or an engine built-in that never polls can hold it". A chain of tables each using the previous one as its
// `__call` metamethod, called once, is one Lua instruction: luaD_tryfuncTM runs once per link, and each run shifts the
// whole argument list up one slot to insert the callee, so n links cost n^2/2 slot moves with no step counted and no
// look at the clock. Measured (Bun, this machine): 16,000 links 91 ms; 300,000 links ~18 s, of which ~14 s after
// ctx.dispose() returned (threaded evalAsync with timeoutMs 1000, interrupt() at 3 s: the promise settled only at
// 18.3 s, "destroyed while the call ran"); up to Lua's stack limit (1,000,000 links) it is minutes. A host-thread
// context holds the event loop that long. Repro: f = function() return 1 end
//   for i = 1, 300000 do f = setmetatable({}, {__call = f}) end  -- then, under timeoutMs 200: return f()
// Cause: .deps/src/lua/src/ldo.c luaD_tryfuncTM (called from luaD_precall's retry loop and luaD_pretailcall): the
// loop over the __call chain neither counts steps nor polls (calog's patches count calls, loops and allocations;
// the stack here grows by doubling, a handful of allocations).
// Fix: a calog step per __call link (the shift is O(arguments): charge (top - func) >> 10 more), polling the limits
// as the other patched loops do; or cap the chain as Lua caps __index chains (MAXTAGLOOP: "'__call' chain too long").
for (const thread of modes) {
  test(`lua (${where(thread)}): calling through a long __call chain stops at the timeout`, async () => {
    const r = await runScriptChild(`call-chain-${thread}`, `
      const rt = new Runtime({ output: "ignore" });
      const lua = rt.createContext("lua", { thread: ${thread} });
      lua.eval("f = function() return 1 end for i = 1, 300000 do f = setmetatable({}, {__call = f}) end");
      lua.setLimits({ timeoutMs: 200 });
      console.log("chain built");
      const t0 = Date.now();
      let what = "returned";
      try { ${thread ? "await lua.evalAsync" : "lua.eval"}("return f()"); } catch (e) { what = e.constructor.name; }
      console.log("stopped after " + (Date.now() - t0) + " ms: " + what);
      (globalThis as any).Deno ? (globalThis as any).Deno.exit(0) : process.exit(0);
    `, 8_000);
    const m = /stopped after (\d+) ms: (\w+)/.exec(r.out);
    assert.ok(m, `a call through 300,000 __call links under timeoutMs 200 was still running after 8 s (killed; exit ${r.code}): ${r.out.slice(0, 300)}`);
    assert.equal(m[2], "CalogLimitError", r.out);
    assert.ok(Number(m[1]) < 2_000, `stopped only after ${m[1]} ms (timeoutMs 200)`);
  }, 30_000);
}
