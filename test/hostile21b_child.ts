// A child process for hostile21b.test.ts: one scenario (argv) whose outcome it prints as JSON on its last line.
import { Runtime } from "../bindings/mod.ts";

const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";
const args: string[] = isDeno ? (globalThis as unknown as { Deno: { args: string[] } }).Deno.args : process.argv.slice(2);

/** Calls ac.abort() `skip` frames above where the JavaScript stack runs out. */
function abortAt(skip: number, ac: AbortController): void {
  let done = false, left = skip;
  const probe = (): void => {
    try {
      probe();
    } catch { /* the stack's end */ }
    if (done || left-- > 0) return;
    done = true;
    try {
      ac.abort();
    } catch { /* abort() itself had no room */ }
  };
  probe();
}

/** p's outcome, or "pending" after ms. */
function settled(p: Promise<unknown>, reason: unknown, ms: number): Promise<string> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve("pending"), ms);
    p.then((v) => `resolved ${v}`, (e) => (e === reason ? "reason" : `rejected ${e}`)).then((s) => {
      clearTimeout(timer);
      resolve(s);
    });
  });
}

// an abort() that finds no room for a listener reports that RangeError as uncaught: not this scenario's concern
globalThis.addEventListener("error", (e) => e.preventDefault());
(globalThis as { process?: { on(ev: string, f: () => void): void } }).process?.on("uncaughtException", () => {});

switch (args[0]) {
  case "abort-at-edge": {
    using rt = new Runtime();
    using ctx = rt.createContext("lua", { thread: true });
    ctx.eval("function work() local t = os.clock() while os.clock() - t < 0.02 do end return 1 end");
    let tried = 0, found = false;
    const wrong: string[] = [];
    for (let s = 0; tried < 40 && s < 20_000; s += found ? 1 : 16) {
      const ac = new AbortController();
      const p = ctx.callAsync("work", { signal: ac.signal });
      abortAt(s, ac);
      if (!ac.signal.aborted) {
        const v = await settled(p, undefined, 2000); // abort() itself had no room: the call went on
        if (v !== "resolved 1") wrong.push(`not aborted at ${s}: ${v}`);
        continue;
      }
      if (!found) { // the first depth where abort() ran: go back and step one frame at a time
        found = true;
        s = Math.max(-1, s - 17);
        await p.catch(() => {});
        continue;
      }
      tried++;
      const outcome = await settled(p, ac.signal.reason, 2000);
      if (outcome !== "reason") wrong.push(`aborted at ${s}: ${outcome}`);
    }
    if (ctx.call("work") !== 1) wrong.push("unusable after");
    console.log(JSON.stringify({ tried, wrong }));
    break;
  }
}
