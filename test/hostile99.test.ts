// Pass 99b: under Deno, a forgotten context whose last function went (disposed, or its handle collected) while the
// program kept its Runtime and idled lived on, with the lent functions it held and all they captured (160 MB in the
// pass), until the program's next calog call: what reaches the host's mailbox by itself (the context's teardown, the
// lent functions a closing context thread gives back) waited for a look that an idle Deno program never made (Bun's
// waker looks at once). The Deno binding now looks while its wake is not armed (bindings/deno.ts lookWhileIdle). The
// test measures without rt.stats(), which is itself a look. Failed at 9967be6 (Deno).
import assert from "node:assert/strict";
import { type EngineName, Runtime } from "../bindings/mod.ts";
import { backend } from "../src/backend.ts";
import { forgottenContexts, gc, test, where } from "./harness.ts";

const N = 5;
const idle = async (until: () => boolean): Promise<void> => {
  for (let i = 0; i < 150 && !until(); i++) { // 3 s at most; Bun and Deno take well under half a second
    gc();
    await new Promise((r) => setTimeout(r, 20));
  }
};

for (const engine of ["lua", "js", "squirrel"] as EngineName[]) {
  for (const thread of [false, true]) {
    for (const how of ["disposed", "collected"]) {
      test(`${engine} (${where(thread)}): a forgotten context whose last function is ${how} while its runtime idles goes, with what it held, without another call`, async () => {
        const b = backend();
        using rt = new Runtime({ output: "ignore" });
        let fns = forgottenContexts(rt, engine, N, thread);
        for (let i = 0; i < 8; i++) { // the handles go
          gc();
          await new Promise((r) => setTimeout(r, 10));
        }
        const live = b.liveFunctionValues(); // no look: liveFunctionValues only counts
        if (how === "disposed") for (const f of fns) f.dispose();
        fns = [];
        // each context's `get` and its lent function (a conservative stack scan may keep one handle: Bun)
        const gone = (): boolean => b.liveFunctionValues() <= live - (2 * N - 2);
        await idle(gone);
        assert.ok(gone(), `${live - b.liveFunctionValues()} of ${2 * N} function values went while the program idled`);
        assert.equal(fns.length, 0);
      });
    }
  }
}

// Pass 99a: with finalizers waiting wherever a call was near the engine's limits (98a's fix), a loop dropping objects
// with finalizers deep in native calls kept every one of them, and all they held, until it returned: Duktape at 495
// levels of [0].map grew to 119 MB for 400,000 objects (2.4 MB before), or failed a 32 MB memory limit; Lua 190 pcalls
// deep held 10.8 MB for 200,000 tables (1.2 MB at 10). Finalizers now run with a little more C stack and call levels
// than a script has, so they run wherever a script does (c/patches/duktape/102, c/patches/lua/76). Failed at 9967be6.
const finLoops = {
  js: {
    depths: [10, 495],
    src: (depth: number) => `function down(n) {
        if (n == 0) { for (var i = 0; i < 200000; i++) { var o = {}; Duktape.fin(o, function () {}); o = null; } return 1; }
        return [0].map(function () { return down(n - 1); })[0];
      } down(${depth})`,
  },
  lua: {
    depths: [10, 190],
    src: (depth: number) => `local mt = { __gc = function() end }
      local function down(n)
        if n == 0 then for i = 1, 200000 do local o = setmetatable({}, mt) end return 1 end
        local ok, v = pcall(down, n - 1) if not ok then error(v, 0) end return v
      end
      return down(${depth})`,
  },
} as const;
for (const [engine, loop] of Object.entries(finLoops)) {
  for (const thread of [false, true]) {
    test(`${engine} (${where(thread)}): a loop dropping objects with finalizers runs in the same memory deep in native calls as at the top`, async () => {
      using rt = new Runtime({ output: "ignore" });
      const peak: number[] = [];
      for (const depth of loop.depths) {
        using ctx = rt.createContext(engine as EngineName, { thread, limits: { memory: 16 << 20 } });
        const src = loop.src(depth);
        assert.equal(thread ? await ctx.evalAsync(src) : ctx.eval(src), 1, `at depth ${depth}`);
        peak.push(ctx.memoryUsage());
      }
      const [top, deep] = peak as [number, number];
      assert.ok(deep <= 2 * top + (2 << 20), `${(deep / 1e6).toFixed(1)} MB deep against ${(top / 1e6).toFixed(1)} MB at the top`);
    });
  }
}
