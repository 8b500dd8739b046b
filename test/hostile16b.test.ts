// The sixteenth hostile pass (b): round two on pass 15's fixes. What it found, kept as regressions; runs unchanged
// under Bun and Deno.
import assert from "node:assert/strict";
import { CalogError, CalogScriptError, CalogValueError, type EngineName, Runtime } from "../bindings/mod.ts";
import { caught, modes, test, watchUnhandled, where, within } from "./harness.ts";

const engines: EngineName[] = ["lua", "js", "squirrel"];

/** What a settled promise came to. */
async function outcome(p: Promise<unknown>, what: string): Promise<{ ok: boolean; v: unknown }> {
  return await within(p.then((v) => ({ ok: true, v }), (v) => ({ ok: false, v })), 5000, what);
}

/** A global function `f` returning how many arguments it got and marking the call. */
const countArgs: Record<EngineName, string> = {
  lua: "function f(...) mark() return select('#', ...) end",
  js: "function f() { mark(); return arguments.length; }",
  squirrel: "function f(...) { mark(); return vargv.len(); }",
};

// callAsync's trailing { signal } was read for its signal alone: `{ signal, timeoutMs: 50 }` dropped the timeoutMs
// without a word (the call ran with no timeout), although every other options object refuses a key it does not know
// since pass 15 (readOptions); and an options object made with Object.create(null), which readOptions takes, was sent
// to the script as an argument (refused: "a AbortSignal cannot cross").
test("callAsync's trailing options: another key beside signal is refused, a null-prototype one is options", async () => {
  for (const engine of engines) {
    using rt = new Runtime();
    let calls = 0;
    rt.register("mark", () => void calls++);
    using ctx = rt.createContext(engine);
    ctx.eval(countArgs[engine]);
    using f = ctx.getFunction("f");
    const signal = new AbortController().signal;
    for (const [what, p] of [
      ["ctx.callAsync", () => ctx.callAsync("f", 1, { signal, timeoutMs: 50 })],
      ["fn.callAsync", () => f.callAsync(1, { signal, timeoutMs: 50 })],
      ["an undefined extra key", () => ctx.callAsync("f", 1, { signal, timeoutMs: undefined })],
    ] as const) {
      let r: { ok: boolean; v: unknown } | undefined;
      try {
        r = await outcome(p(), what);
      } catch (e) {
        assert.fail(`${engine}, ${what}: threw instead of rejecting: ${e}`);
      }
      assert.ok(!r.ok && r.v instanceof CalogValueError && r.v.code === "ERR_ARG" && /timeoutMs/.test(r.v.message), `${engine}, ${what}: ${r.ok ? `resolved ${r.v}` : r.v}`);
    }
    assert.equal(calls, 0, `${engine}: a refused call ran`);
    const bare = Object.assign(Object.create(null) as object, { signal });
    assert.deepEqual(await outcome(ctx.callAsync("f", 1, bare), "null proto"), { ok: true, v: 1 }, engine);
    assert.deepEqual(await outcome(f.callAsync(1, 2, bare), "null proto fn"), { ok: true, v: 2 }, engine);
    // a plain object with a `signal` key that is no AbortSignal is still a script value
    assert.deepEqual(await outcome(ctx.callAsync("f", { signal: "high" }), "data"), { ok: true, v: 1 }, engine);
    // an optional signal that is absent: `{ signal: undefined }` is options without one (it was a third argument)
    const none = (s?: AbortSignal) => ({ signal: s });
    assert.deepEqual(await outcome(ctx.callAsync("f", 1, 2, none()), "absent signal"), { ok: true, v: 2 }, engine);
    assert.deepEqual(await outcome(f.callAsync(1, none()), "absent signal fn"), { ok: true, v: 1 }, engine);
    assert.deepEqual(await outcome(ctx.callAsync("f", none(signal)), "present signal"), { ok: true, v: 0 }, engine);
  }
});

// A signal aborted while its request was being sent was never heard: the listener was added once the request had
// been sent. A host-thread context runs the request inside the call, so an abort from a host function the script
// called (or from the output callback) resolved the promise with the script's value as if no abort had come; and a
// getter of an argument that aborted the signal let a threaded context's request run to its end and resolve. The
// promise now rejects with the signal's reason; a request still queued never runs.
for (const thread of modes) {
  test(`an abort during the sending of an async request rejects it (${where(thread)})`, async () => {
    const unhandled = watchUnhandled();
    try {
      for (const engine of engines) {
        using rt = new Runtime();
        let ac = new AbortController();
        const marks: unknown[] = [];
        rt.register("abortIt", () => {
          ac.abort(new Error("stop it"));
          return 7;
        });
        rt.register("mark", (x) => void marks.push(x));
        using ctx = rt.createContext(engine, {
          thread,
          output: () => ac.abort(new Error("stop it")),
        });
        const src = engine === "js" ? "var x = abortIt(); x" : engine === "lua" ? "local x = abortIt() return x" : "local x = abortIt(); return x;";
        ctx.eval(engine === "lua" ? "function g() return abortIt() end" : "function g() { return abortIt(); }");
        using g = ctx.getFunction("g");
        const printIt = engine === "lua" ? "print('x') return 1" : engine === "js" ? "print('x'); 1" : "print(\"x\"); return 1;";
        for (const [what, send] of [
          ["evalAsync", (s: AbortSignal) => ctx.evalAsync(src, { signal: s })],
          ["callAsync", (s: AbortSignal) => ctx.callAsync("g", { signal: s })],
          ["fn.callAsync", (s: AbortSignal) => g.callAsync({ signal: s })],
          ["evalAsync, the output callback", (s: AbortSignal) => ctx.evalAsync(printIt, { signal: s })],
        ] as const) {
          ac = new AbortController();
          const r = await outcome(send(ac.signal), what);
          assert.ok(!r.ok && r.v === ac.signal.reason, `${engine}, ${what}: ${r.ok ? `resolved ${JSON.stringify(r.v)}` : r.v}`);
        }
        // a getter of an argument aborts the signal: the request is never run
        ctx.eval(engine === "lua" ? "function h(t) mark(t.x) return 1 end" : engine === "js" ? "function h(t) { mark(t.x); return 1; }" : "function h(t) { mark(t.x); return 1; }");
        marks.length = 0;
        ac = new AbortController();
        const arg = {
          get x() {
            ac.abort(new Error("from a getter"));
            return 5;
          },
        };
        const r = await outcome(ctx.callAsync("h", arg, { signal: ac.signal }), "getter");
        assert.ok(!r.ok && r.v === ac.signal.reason, `${engine}, a getter: ${r.ok ? `resolved ${JSON.stringify(r.v)}` : r.v}`);
        await new Promise((res) => setTimeout(res, 30));
        assert.deepEqual(marks, [], `${engine}: the aborted request ran`);
        assert.equal(await ctx.evalAsync(engine === "js" ? "2" : "return 2"), 2, `${engine}: usable after`);
      }
      await new Promise((res) => setTimeout(res, 20));
      assert.equal(unhandled.count(), 0, "unhandled rejections");
    } finally {
      unhandled.stop();
    }
  });
}

// A Squirrel value thrown with a lone -0.0 key (strict: it cannot cross, as a result cannot since pass 15) was said to
// have "two keys of a map become the same Map key (such as 1 and 1.0)": the message of the other rule.
test("a thrown Squirrel table with a lone -0.0 key names its own reason", () => {
  using rt = new Runtime();
  using sq = rt.createContext("squirrel", { thread: false });
  let err: unknown;
  try {
    sq.eval("throw { [-0.0] = 1 }");
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof CalogScriptError, String(err));
  assert.match(err.message, /squirrel threw a value that cannot cross: a map key -0\.0 becomes the Map key 0/);
  assert.ok(!("value" in err) || err.value === undefined);
  // the other rule keeps its message
  try {
    sq.eval("throw { [1] = 1, [1.0] = 2 }");
  } catch (e) {
    err = e;
  }
  assert.match((err as Error).message, /squirrel threw a value that cannot cross: two keys of a map become the same Map key/);
});

// Noticed by pass 16b: an error calog's JavaScript adapter raises (a stop after a call out, a host function's throw)
// named the adapter by the path the library was built at in the script's traceback
// ("at [anon] (/home/builder/calog/c/src/engines/duktape/duk_adapter.c:1103)"). It names the file only.
test("a JavaScript traceback names calog's adapter by its file name, not the build path", () => {
  using rt = new Runtime();
  using ctx = rt.createContext("js", { thread: false });
  rt.register("stop", () => void ctx.interrupt());
  rt.register("bad", () => {
    throw new Error("boom");
  });
  for (const src of ["stop(); 1", "bad(); 1"]) {
    const e = caught(() => ctx.eval(src));
    assert.ok(e instanceof CalogError, String(e));
    assert.match(e.traceback ?? "", /\(duk_adapter\.c:\d+\)/, src);
    assert.doesNotMatch(e.traceback ?? "", /\/c\/src\//, src);
  }
});
