// Pass 94b: a ctx.dispose() or fn.dispose() that met the JavaScript stack's end at its call into the library (its
// RangeError) had already marked the handle disposed and taken its GC backstop off: every later call said
// CalogDisposedError, a second dispose() did nothing, and the native interpreter (and a threaded context's thread) or
// function value lived until the runtime's dispose (Bun 7 of 8 such disposals, Deno rarer; rt.stats() never back to
// its baseline). As rt.dispose() since pass 89a, both now check their room first and throw with nothing changed.
// Failed at 9fb740a.
//
// Pass 94a: that room was measured from wherever it was first asked for on a small stack (`ulimit -s 512` under Bun:
// every rt.dispose() refused, from the top of the stack too, and rt.stats() never drained; Deno with
// --v8-flags=--stack-size=100: stats() never drained, its 256 KB more than the whole stack), and the refusal was one
// shared, mutable RangeError made at load. Now the walk stops 48 KB above the real end, the room asked for is at most a
// share of the thread's stack, and a refused dispose() throws a CalogNestingError of its own. Failed at 9fb740a.
import assert from "node:assert/strict";
import { CalogNestingError, type EngineName, Runtime } from "../bindings/mod.ts";
import { atFramesFromEnd, isDeno, modes, test, where } from "./harness.ts";

const defs: Record<EngineName, string> = {
  lua: "function f() return 1 end",
  js: "function f() { return 1; }",
  squirrel: "function f() { return 1; }",
};

for (const engine of ["lua", "js", "squirrel"] as EngineName[]) {
  for (const thread of modes) {
    test(`a context disposed near the stack's end is disposed for good or not at all (${engine}, ${where(thread)})`, () => {
      using rt = new Runtime({ output: "ignore" });
      let threw = 0;
      const refusals = new Set<unknown>();
      for (let off = 0; off < 120; off++) {
        const ctx = rt.createContext(engine, { thread });
        ctx.eval(defs[engine]);
        const e = atFramesFromEnd(off, (off % 5) + 1, () => ctx.dispose());
        if (e !== undefined) {
          threw++;
          // calog's refusal, a new one each time; or, where not even that could be made, the engine's own RangeError
          assert.ok(e instanceof CalogNestingError || e instanceof RangeError, String(e));
          if (e instanceof CalogNestingError) {
            assert.match(e.message, /not enough JavaScript stack left to dispose the context .*nothing was changed/);
            assert.ok(!refusals.has(e), "the same error object was thrown twice");
            refusals.add(e);
          }
          assert.equal(ctx.call("f"), 1, `a dispose that threw changed nothing (offset ${off})`);
        }
        ctx.dispose(); // from the top of the stack
        assert.equal(rt.stats().contexts, 0, `the native context outlived its dispose (offset ${off})`);
      }
      assert.ok(threw > 0, "no dispose met the stack's end (the probe missed)");
    });

    test(`a function value disposed near the stack's end is released for good or not at all (${engine}, ${where(thread)})`, async () => {
      using rt = new Runtime({ output: "ignore" });
      using ctx = rt.createContext(engine, { thread });
      ctx.eval(defs[engine]);
      const base = rt.stats().nativeFunctionValues;
      let threw = 0;
      for (let off = 0; off < 120; off++) {
        const fn = ctx.getFunction("f");
        if (atFramesFromEnd(off, (off % 5) + 1, () => fn.dispose()) !== undefined) {
          threw++;
          assert.equal(fn(), 1, `a dispose that threw changed nothing (offset ${off})`);
        }
        fn.dispose();
        // a threaded context's function value is released on its thread, a moment later
        for (let i = 0; i < 400 && rt.stats().nativeFunctionValues !== base; i++) await new Promise((r) => setTimeout(r, 5));
        assert.equal(rt.stats().nativeFunctionValues, base, `the function value outlived its dispose (offset ${off})`);
      }
      assert.ok(threw > 0, "no dispose met the stack's end (the probe missed)");
    });
  }
}

// A small stack: Bun under `ulimit -s 512` (JSC's limit ~127 KB above the real end), Deno with a V8 stack of 100 KB
// (Deno itself cannot run under such a ulimit).
// Pass 96b: with 64 KB asked for flat, no dispose could succeed at the top of a program on a smaller stack still (Deno
// --stack-size=80, Bun `ulimit -s 192`): the room asked for is an eighth of such a stack now.
for (const size of isDeno ? [100, 80] : [512, 192]) test(`on a small stack (${isDeno ? `--stack-size=${size}` : `ulimit -s ${size}`}), rt.stats() drains and every dispose() works from the top of the stack`, async () => {
  const { spawn } = await import("node:child_process");
  const fs = await import("node:fs");
  const os = await import("node:os");
  const path = await import("node:path");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "calog-child-"));
  const file = path.join(dir, "small-stack.ts");
  fs.writeFileSync(file, `import { Runtime } from ${JSON.stringify(new URL("../bindings/mod.ts", import.meta.url).href)};
    const rt = new Runtime({ output: "ignore" });
    const t = rt.createContext("lua", { thread: true });
    const p = t.evalAsync("return 2");
    p.catch(() => {});
    const t0 = Date.now();
    while (Date.now() - t0 < 50) { /* the thread finishes */ }
    const inFlight = rt.stats().inFlight; // 0 once stats() drained
    const awaited = await p;
    let dispose = "ok";
    try {
      const c = rt.createContext("js", { thread: true }); // (a host-thread one needs 192 KB of C stack)
      c.eval("function f() { return 1; }");
      c.getFunction("f").dispose();
      c.dispose();
      { using u = rt.createContext("squirrel"); u.eval("return 1;"); }
      rt.dispose();
    } catch (e) { dispose = String(e); }
    console.log(JSON.stringify({ inFlight, awaited, dispose }));
  `);
  try {
    const exe = isDeno ? (globalThis as unknown as { Deno: { execPath(): string } }).Deno.execPath() : process.execPath;
    const argv = isDeno ? ["run", "--allow-ffi", "--allow-env", "--allow-read", `--v8-flags=--stack-size=${size}`, file] : [file];
    const limit = isDeno ? "" : `ulimit -s ${size} && `;
    const out = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
      const p = spawn("sh", ["-c", `${limit}exec "$0" "$@"`, exe, ...argv], { stdio: ["ignore", "pipe", "pipe"] });
      let text = "";
      p.stdout.on("data", (d: Uint8Array) => (text += String(d)));
      p.stderr.on("data", (d: Uint8Array) => (text += String(d)));
      const kill = setTimeout(() => p.kill("SIGKILL"), 60_000);
      p.on("error", reject);
      p.on("exit", (code) => {
        clearTimeout(kill);
        resolve({ code, out: text });
      });
    });
    assert.equal(out.code, 0, out.out);
    assert.deepEqual(JSON.parse(out.out.trim().split("\n").pop()!), { inFlight: 0, awaited: 2, dispose: "ok" });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
