// Pass 57b (hostile review: thrown values across engine hops, from seeded generators of call chains; then the lenient
// policy). The test fails on 46be4d1 because of the defect it names, in Bun and Deno.
import assert from "node:assert/strict";
import { CalogScriptError, type EngineName, Runtime } from "../bindings/mod.ts";
import { caught, modes, test, where } from "./harness.ts";

// Low (a lost `cause`). A host function that calls a script function and lets its CalogScriptError go is the root of
// the error: the README ("cause": "when a TypeScript function called by a script threw and that exception ended your
// call, the error's `cause` is exactly what it threw"; "Thrown values cross engines as values": a host function
// passing a script's error on keeps "its exception still the `cause`"). When the script below threw the empty string
// (Lua `error("", 0)`, JavaScript `throw ""`, Squirrel `throw ""`) or a string that is not UTF-8 (Lua
// `error("a\xffb", 0)`, a cut "\xc3", Squirrel `throw "a\xffb"`, JavaScript `throw new Uint8Array([97, 255, 98])`), and
// the host function's caller is JavaScript, the error reaching TypeScript (`js threw ""`, or "a\uFFFDb" with the exact
// bytes as its value) has no `cause` at all ("cause" in e is false), though nothing caught it on the way. A Lua or
// Squirrel caller keeps it, and so does a JavaScript caller for every other carried value: `null` and functions,
// which Duktape cannot tag either, keep it through the in-flight record (DukCtxT.bare), and bytes whose first byte is
// 0x80-0x82 or 0xFF, which enter JavaScript as a Uint8Array, keep it too. So a Lua error carrying binary data (a cut
// UTF-8 sequence, Latin-1 text) loses its host exception in JavaScript only.
// Found by the chain generator (test/scratch57b_chain_child.ts: seed 2 case 380, js > host > js > js ! ""; seed 5
// (POLICY=lenient) case 370, js > host > squirrel ! "a\xff\0b"), shrunk by hand to one hop.
// Cause: src/runtime.ts carriedValue carries a thrown "" (pass 48b) and a thrown byte string (a Uint8Array value) as
// the value itself; c/src/engines/duktape/duk_adapter.c throwResultIo pushes it with calog__dukPush, which gives a
// primitive Duktape string (Duktape strings are bytes; only bytes starting 0x80-0x82/0xFF, Duktape's symbol prefixes,
// become a buffer, then a Uint8Array), and its branches put the marks on an object (putMarks) or arm the bare-value
// record for a null or a function (bareArmed); a primitive string gets neither, so the host error's tag is dropped
// and the throw leaves JavaScript unmarked. Fix: arm the bare-value record for a string too (the Duktape patch's
// throw/catch/finally hooks then need to report a string's heap pointer as they do a function's; equal strings are
// one interned hstring, so match the newest record of the entry, as for null).
for (const thread of modes) {
  test(`a host function passing on a thrown "" or non-UTF-8 string to a JavaScript caller keeps its cause (${where(thread)})`, () => {
    using rt = new Runtime();
    const js = rt.createContext("js", { thread });
    js.eval("function call(f) { return f(); }");
    const roots: [EngineName, string, unknown][] = [
      ["lua", `function root() error("", 0) end`, ""],
      ["js", `function root() { throw ""; }`, ""],
      ["squirrel", `function root() { throw ""; }`, ""],
      ["lua", `function root() error("a\\xffb", 0) end`, new Uint8Array([97, 255, 98])],
      ["lua", `function root() error("\\xc3", 0) end`, new Uint8Array([0xc3])],
      ["squirrel", `function root() { throw "a\\xffb"; }`, new Uint8Array([97, 255, 98])],
      ["js", `function root() { throw new Uint8Array([97, 255, 98]); }`, new Uint8Array([97, 255, 98])],
    ];
    const lost: string[] = [];
    for (const [engine, source, value] of roots) {
      const inner = rt.createContext(engine, { thread });
      inner.eval(source);
      using root = inner.getFunction("root");
      let passed: unknown = "nothing";
      const relay = () => {
        try {
          return root();
        } catch (e) {
          passed = e;
          throw e;
        }
      };
      const e = caught(() => js.call("call", relay));
      assert.ok(e instanceof CalogScriptError, `${source}: ${e}`);
      assert.ok(passed instanceof CalogScriptError, `${source}: the host function saw ${String(passed)}`);
      assert.deepEqual(e.value, value, `${source}: value`);
      if (!("cause" in e && e.cause === passed)) lost.push(`${engine}: ${source}: ${JSON.stringify(e.message)}`);
      inner.dispose();
    }
    assert.deepEqual(lost, [], "these errors lost their cause (the host function's CalogScriptError)");
  });
}

// The same defect through an async host function on a threaded context: its rejection (the CalogScriptError of a Lua
// function it awaited) reaches a JavaScript script that awaited it, and leaves JavaScript without its cause.
test("an async host function passing on a thrown \"\" or non-UTF-8 string to a JavaScript caller keeps its cause (own thread)", async () => {
  using rt = new Runtime();
  const lua = rt.createContext("lua");
  lua.eval(`function empty() error("", 0) end function bytes() error("a\\xffb", 0) end`);
  const js = rt.createContext("js");
  js.eval("function go(n) { return arelay(n); }");
  let passed: unknown = "nothing";
  rt.register("arelay", async (n) => {
    await null;
    try {
      return await lua.getFunction(n as string).callAsync();
    } catch (e) {
      passed = e;
      throw e;
    }
  });
  const lost: string[] = [];
  for (const n of ["empty", "bytes"]) {
    let e: unknown;
    try {
      await js.callAsync("go", n);
    } catch (x) {
      e = x;
    }
    assert.ok(e instanceof CalogScriptError, `${n}: ${e}`);
    assert.ok(passed instanceof CalogScriptError, `${n}: the host function saw ${String(passed)}`);
    if (!("cause" in e && e.cause === passed)) lost.push(`${n}: ${JSON.stringify(e.message)}`);
  }
  assert.deepEqual(lost, [], "these errors lost their cause (the async host function's rejection)");
});
