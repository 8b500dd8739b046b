// Pass 91a: a host function's Promise with a `constructor` calog cannot set aside (an own non-configurable getter)
// that throws a RangeError of its own was taken for the JavaScript stack's end: its result stayed in Core.dropped for
// good and was tried again at every later call of the runtime, from begin() after the runtime had been taken and with
// no guard, so the getter's rt.dispose() went through and the call went on into the freed runtime: heap corruption or
// SIGSEGV (Bun and Deno, every engine, both thread kinds). Now the results are dropped under the guard, each once,
// with room to spare on the stack (an exception there is user code's own). Pass 91b: the same loss as 90b's for what an
// output callback returns: a rejected Promise it returned near the stack's end went unhandled (Bun and Deno, every
// engine), and `print` said the callback "could not be called" though it had run. Each test failed at a709a37.
import assert from "node:assert/strict";
import { CalogError, type EngineName, Runtime } from "../bindings/mod.ts";
import { modes, runScriptChild, test, unhandledOf, where } from "./harness.ts";

/** Runs `op` in the deepest `perRound` frames of `rounds` descents to the stack's end, frame sizes varied per round. */
function nearStackEnd(rounds: number, perRound: number, op: () => void): void {
  for (let round = 0; round < rounds; round++) {
    let fromEnd = 0;
    const pad = round % 9;
    const down = (): number => {
      const a = new Array<number>(pad + 1).fill(round);
      try {
        down();
      } catch { /* the stack's end */ }
      if (fromEnd++ < perRound) op();
      return a.length;
    };
    down();
  }
}

for (const engine of ["lua", "js", "squirrel"]) {
  for (const thread of [false, true]) {
    test(`${engine} (${thread ? "own" : "host"} thread): a getter calog runs dropping a host function's result cannot dispose the runtime under a call, and runs a bounded number of times`, async () => {
      const r = await runScriptChild("dropped-getter", `
        const engine = ${JSON.stringify(engine)};
        const rt = new Runtime({ output: "ignore" });
        let runs = 0, arm = false;
        const outcomes = [];
        rt.register("bad", () => {
          const p = new Promise(() => {}); // never settles: no rejection of its own
          Object.defineProperty(p, "constructor", {
            configurable: false, // calog cannot set it aside: Promise.prototype.then reads it
            get() {
              runs++;
              if (arm) {
                try { rt.dispose(); outcomes.push("dispose went through"); } catch (e) { outcomes.push(e.constructor.name); }
              }
              throw new RangeError("a RangeError of the getter's own");
            },
          });
          return p;
        });
        const ctx = rt.createContext(engine, { thread: ${thread} });
        const src = engine === "js" ? "try { bad() } catch (e) {} ; 1" : engine === "lua" ? "pcall(bad) return 1" : "try { bad() } catch (e) {} return 1;";
        const one = engine === "js" ? "1" : "return 1;";
        const first = ctx.eval(src);
        const afterFirst = runs;
        for (let i = 0; i < 3; i++) ctx.eval(one);
        const afterMore = runs;
        arm = true;
        const last = ctx.eval(one);
        rt.dispose();
        console.log(JSON.stringify({ first, last, afterFirst, afterMore, outcomes }));
      `, 60_000);
      assert.equal(r.code, 0, r.out);
      const o = JSON.parse(r.out.trim().split("\n").pop()!) as { first: number; last: number; afterFirst: number; afterMore: number; outcomes: string[] };
      assert.equal(o.first, 1);
      assert.equal(o.last, 1);
      assert.ok(o.afterFirst > 0 && o.afterFirst <= 6, `the getter ran ${o.afterFirst} times`);
      assert.equal(o.afterMore, o.afterFirst, "later calls run it no more");
      assert.ok(!o.outcomes.includes("dispose went through"), o.outcomes.join(", "));
    });
  }
}

const printer: Record<EngineName, string> = {
  lua: "function pr() print('x') return 1 end",
  js: "function pr() { print('x'); return 1; }",
  squirrel: "function pr() { ::print(\"x\"); return 1; }",
};

// On threaded contexts, in full Deno runs only, the first callback of each descent lost its returned Promise's
// rejection (lua 2-3, js 7 of ~14,000, at 1fcdb49 and ae9a7cf): Core.dropResults checked its room with a walk of 256
// frames, which optimized code inlines, so it met the stack's real end anyway and dropped the result unhandled. Room is
// now counted in bytes (see stackRoom).
for (const thread of modes) {
  for (const engine of ["lua", "js", "squirrel"] as EngineName[]) {
    test(`the Promise an output callback returns near the stack's end has its rejection handled (${engine}, ${where(thread)})`, async () => {
      const messages = new Set<string>();
      let made = 0;
      const returned = new Set<string>(); // a Promise the callback made and returned: calog's from here on
      const lost = await unhandledOf(async () => {
        using rt = new Runtime();
        using ctx = rt.createContext(engine, {
          thread,
          output: () => {
            const id = `output ${made++}`;
            const p = Promise.reject(new Error(id)); // (where the stack ends, this can throw after making p: p is the callback's)
            returned.add(id);
            return p;
          },
        });
        ctx.eval(printer[engine]);
        nearStackEnd(12, 2500, () => {
          const before = made;
          try {
            ctx.call("pr");
          } catch (e) {
            if (e instanceof CalogError && made > before) messages.add(e.message.slice(0, 120));
          }
        });
      });
      assert.ok(made > 1000, `the callback ran ${made} times`);
      const calogs = lost.filter((m) => returned.has(String(m)));
      assert.deepEqual(calogs, [], `${calogs.length} rejections of Promises the callback returned went unhandled (${lost.length} in all)`);
      for (const m of messages) assert.doesNotMatch(m, /could not be called: the host function could not run/, "it ran");
    }, 120_000);
  }
}
