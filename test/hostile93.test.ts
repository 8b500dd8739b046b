// Pass 93a: a threaded context's evalAsync calls whose scripts failed, collected by a drain (rt.stats()) near the
// JavaScript stack's end: the drain took a call off its waiting list before settling it, and a throw there (the stack's
// end) left it unsettled for good, not even rt.dispose() reached it (Bun, every engine, within 3 or 4 rounds). Now a
// call stays waiting until it is settled, and an outcome given up is recorded until then (see Core.unsettled). Failed
// at 4f322ff.
import assert from "node:assert/strict";
import { drainBesideHostCallRounds, runScriptChild, test } from "./harness.ts";

for (const engine of ["lua", "js", "squirrel"]) {
  test(`${engine}: every evalAsync settles when a drain near the stack's end collects failed scripts`, async () => {
    const r = await runScriptChild("drain-edge", `
      const engine = ${JSON.stringify(engine)};
      const rt = new Runtime({ output: "ignore" });
      const ctx = rt.createContext(engine, { thread: true });
      const src = { lua: "error('boom')", js: "throw new Error('boom')", squirrel: "throw \\"boom\\";" }[engine];
      let hung = -1, rounds = 0;
      for (let round = 0; round < 24 && hung < 0; round++, rounds++) {
        const ps = [0, 1, 2, 3, 4, 5].map(() => ctx.evalAsync(src));
        const settled = ps.map(() => false);
        ps.forEach((p, i) => p.then(() => { settled[i] = true; }, () => { settled[i] = true; }));
        const t0 = Date.now();
        while (Date.now() - t0 < 8) { /* the context thread finishes them */ }
        let fromEnd = 0, done = false;
        const pad = round % 7;
        const down = () => {
          const a = new Array(pad + 1).fill(round);
          try { down(); } catch { /* the stack's end */ }
          if (!done && fromEnd++ >= round) { done = true; try { rt.stats(); } catch { /* */ } }
          return a.length;
        };
        down();
        await Promise.race([Promise.allSettled(ps), new Promise((r) => setTimeout(r, 3000))]);
        if (settled.includes(false)) hung = round;
      }
      rt.dispose();
      console.log(JSON.stringify({ hung, rounds }));
    `, 120_000);
    assert.equal(r.code, 0, r.out);
    const o = JSON.parse(r.out.trim().split("\n").pop()!) as { hung: number; rounds: number };
    assert.equal(o.hung, -1, `a call never settled (round ${o.hung})`);
    assert.equal(o.rounds, 24);
  }, 150_000);
}

// The same with one context's script that calls an async host function beside another's that returns 1: the drain's
// poll served the host call first, and JSC refused to enter its callback that near the stack's end. Bun raised that
// refusal again at the poll once it had returned, and again at each slow path after it however it was caught, and the
// other call's outcome, which that poll had handed over, was lost with its return value: the call never settled
// (inFlight 1 for good; every engine, at round 4 every time). rt.stats() now drains only with room left (POLL_ROOM).
// Failed at e144c82.
for (const engine of ["lua", "js", "squirrel"]) {
  test(`${engine}: every evalAsync settles when a drain near the stack's end serves a host call beside an outcome`, async () => {
    const r = await runScriptChild("drain-edge-host", `
      const engine = ${JSON.stringify(engine)};
      const rt = new Runtime({ output: "ignore" });
      ${drainBesideHostCallRounds(120)}
      const inFlight = rt.stats().inFlight;
      rt.dispose();
      console.log(JSON.stringify({ hung, rounds, fulfilled, inFlight }));
    `, 120_000);
    assert.equal(r.code, 0, r.out);
    const o = JSON.parse(r.out.trim().split("\n").pop()!) as { hung: number; rounds: number; fulfilled: number; inFlight: number };
    assert.equal(o.hung, -1, `a call never settled (round ${o.hung})`);
    assert.deepEqual([o.rounds, o.fulfilled, o.inFlight], [120, 120, 0]);
  }, 150_000);
}
