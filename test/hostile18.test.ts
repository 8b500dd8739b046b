// The eighteenth hostile pass: a review of the fixes of pass 17a; what it found, kept as regressions.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CalogLimitError, Runtime } from "../bindings/mod.ts";
import { test } from "./harness.ts";

// Duktape patch 77 stopped the collect-and-retry rounds of a refused allocation once a limit had tripped, but the
// trip (and the deadline) of an entry stays in the context until the next entry starts: host functions registered
// after a call that tripped are installed before the next entry starts (calog__ctxHold), so with cyclic garbage
// near the memory limit the install was refused the collection that would have made room, and the function was
// missing from that context for good ('identifier fn3 undefined'), where the same call without the earlier trip ran.
for (const thread of [false, true]) {
  test(`js (${thread ? "own thread" : "host thread"}): a trip of the last call does not refuse a collection outside an entry`, () => {
    for (const trip of [false, true]) {
      using rt = new Runtime();
      using ctx = rt.createContext("js", { thread });
      ctx.eval("function mk() { var a = []; for (var i = 0; i < 20000; i++) { var o = {}; o.self = o; a.push(o) } } mk(); 0");
      const mem = rt.stats().perContext[0]!.memory;
      if (trip) assert.throws(() => ctx.eval("for (;;) {}", { timeoutMs: 20 }));
      ctx.setLimits({ memory: mem + 2000 });
      for (let i = 0; i < 50; i++) rt.register("fn" + i, () => 1);
      assert.equal(ctx.eval("fn3() + 1"), 2, trip ? "after a tripped call" : "without a trip");
    }
  }, 30_000);
}

// Lua patch 66 (9f91690) let a C function start after a trip only inside a finalizer (the state's GCSTPGC), but
// that flag stays set for the whole of a Lua finalizer: one that caught the trip went on calling the standard
// library in straight-line code (no step counted between the calls), so 'pcall(stop) f:write("after-trip")
// os.remove(victim)' in a __gc wrote the granted file and removed the file after the stop, both thread kinds. Now
// only the finalizer itself (the C function GCTM calls: a file handle's __gc, calog's own) is let through.
for (const thread of [false, true]) {
  test(`lua (${thread ? "own thread" : "host thread"}): a Lua finalizer's C calls do not run after a caught trip`, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "calog-h18-"));
    try {
      using rt = new Runtime();
      let stop = () => {};
      rt.register("stop", () => stop());
      using ctx = rt.createContext("lua", { thread, capabilities: { fs: { read: [dir], write: [dir] } } });
      stop = () => ctx.interrupt();
      fs.writeFileSync(path.join(dir, "victim"), "v");
      fs.writeFileSync(path.join(dir, "victim2"), "v");
      for (const fin of [
        'function() pcall(stop) f:write("after-trip") os.remove(P .. "/victim") end',
        'coroutine.wrap(function() pcall(stop) f:write("after-trip") os.remove(P .. "/victim2") end)',
      ]) {
        assert.throws(
          () => ctx.eval(`P = ${JSON.stringify(dir)} f = io.open(P .. "/out", "w")
            setmetatable({}, {__gc = ${fin}}) collectgarbage() return 1`),
          (e: unknown) => e instanceof CalogLimitError && e.limit === "interrupt",
        );
        ctx.eval("f:close() f = nil collectgarbage()");
        assert.equal(fs.readFileSync(path.join(dir, "out"), "utf8"), "");
      }
      assert.ok(fs.existsSync(path.join(dir, "victim")) && fs.existsSync(path.join(dir, "victim2")));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

// Noticed by pass 18: a host function whose install into a JavaScript context failed (an allocation refused at the
// memory limit) was ignored, and the function was missing from that context for good ('typeof fn99' was
// "undefined" once memory was back), where Lua retried it at the next entry. Now the entry fails with the memory
// limit's error and the install is tried again at the next one.
for (const thread of [false, true]) {
  test(`js (${thread ? "own thread" : "host thread"}): a host function refused at the memory limit is installed once there is room`, () => {
    using rt = new Runtime();
    using ctx = rt.createContext("js", { thread });
    ctx.eval("keep = []; for (var i = 0; i < 2000; i++) keep.push('x' + i); 0");
    ctx.setLimits({ memory: rt.stats().perContext[0]!.memory + 300 });
    for (let i = 0; i < 100; i++) rt.register("fn" + i, () => 1);
    assert.throws(() => ctx.eval("typeof fn99"), (e: unknown) => e instanceof CalogLimitError && e.limit === "memory");
    ctx.setLimits({ memory: 0 });
    assert.equal(ctx.eval("typeof fn99 + typeof fn0"), "functionfunction");
    // the define is forced: a global object the script froze still gets its natives
    ctx.eval("Object.freeze(this)");
    rt.register("later", () => 2);
    assert.equal(ctx.eval("later() + fn1()"), 3);
  });
}
