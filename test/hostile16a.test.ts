// The sixteenth hostile pass (16a): round 2 on pass 15's engine-level fixes; what it found, kept as regressions.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CalogLimitError, Runtime } from "../bindings/mod.ts";
import { modes, test, where } from "./harness.ts";

const isLimit = (limit: string) => (e: unknown) => e instanceof CalogLimitError && e.limit === limit;

// Lua raised a tripped limit again only at its next step tick (a Lua function entry, a loop, a backward jump): a
// script that caught the raise (pcall, coroutine.resume, xpcall) went on calling C functions until then, and only
// calog's trampolines and the output sink checked the trip, so the standard library's went on acting: after
// `pcall(stop)` (stop calling ctx.interrupt()), `os.remove` removed a granted file, `io.open(..., "w")` wrote one
// and `os.execute` ran a command (both thread kinds; also after a host function that interrupted and then threw, the
// output limit caught by pcall, a step limit caught by pcall, a coroutine or coroutine.wrap that was stopped, and in a
// __close handler or xpcall's handler). Now no C function starts once a limit tripped (finalizers excepted).
for (const thread of modes) {
  test(`lua (${where(thread)}): a caught limit lets no C function of the standard library run`, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "calog-h16a-"));
    try {
      const shapes: Record<string, string> = {
        "pcall(stop)": "pcall(stop)",
        "a host function that interrupted, then threw": "pcall(stopThrow)",
        "the output limit": 'pcall(print, string.rep("x", 200))',
        "the step limit": "pcall(function() while true do end end)",
        "a stopped coroutine": "coroutine.resume(coroutine.create(function() stop() end))",
        "a stopped coroutine.wrap": "pcall(coroutine.wrap(function() stop() end))",
        "xpcall's handler": 'xpcall(stop, function(e) os.remove(P .. "/h") return e end)',
        "a __close handler": 'pcall(function() local c <close> = setmetatable({}, {__close = function() os.remove(P .. "/c") end}); stop() end)',
      };
      for (const [what, pre] of Object.entries(shapes)) {
        using rt = new Runtime();
        let stop = () => {};
        rt.register("stop", () => stop());
        rt.register("stopThrow", () => {
          stop();
          throw new Error("boom");
        });
        using ctx = rt.createContext("lua", {
          thread,
          capabilities: { fs: { read: [dir], write: [dir] } },
          limits: { output: 100, steps: what === "the step limit" ? 100_000 : 0 },
          output: () => {},
        });
        stop = () => ctx.interrupt();
        for (const f of ["a", "h", "c"]) fs.writeFileSync(path.join(dir, f), "x");
        const limit = what === "the output limit" ? "output" : what === "the step limit" ? "steps" : "interrupt";
        const src = `P = ${JSON.stringify(dir)}; ${pre}; os.remove(P .. "/a"); local f = io.open(P .. "/new", "w"); f:write("x"); f:close()`;
        assert.throws(() => ctx.eval(src), isLimit(limit), what);
        assert.deepEqual(fs.readdirSync(dir).sort(), ["a", "c", "h"], `${what}: the script acted after the limit`);
        assert.equal(ctx.eval("return 1 + 1"), 2, what); // usable again
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

// Lua's lexer raised a tripped limit from its poll (every 64K characters) as a runtime error, which ran the entry's
// message handler in the middle of the parse: a script's load() returned the handler's table ({ message, traceback })
// where its error message goes, and the message had no chunk or line. The
// poll now fails the compile as a lexical error does: load() returns nil and "chunk:line: calog: timeout limit
// reached"; the limit stays raised.
for (const thread of modes) {
  test(`lua (${where(thread)}): a compile stopped by a limit fails load() with a message`, () => {
    using rt = new Runtime();
    using ctx = rt.createContext("lua", { thread });
    // the source made before the limit: on a loaded machine string.rep itself took the 100 ms, and load() never ran
    ctx.eval('S = string.rep("x = 1\\n", 4000000)');
    ctx.setLimits({ timeoutMs: 100 });
    const e = (() => {
      try {
        ctx.eval('local f, e = load(S, "=big"); E = e; return 0');
      } catch (err) {
        return err;
      }
      assert.fail("the timeout did not trip");
    })();
    assert.ok(isLimit("timeout")(e), String(e));
    const seen = ctx.eval("return type(E) .. ' ' .. tostring(E)") as string;
    assert.match(seen, /^string big:\d+: calog: timeout limit reached$/);
  });
}
