// Pass 27a: hostile scripts against limits that must hold across contexts. Every test is one attack that found a
// defect: each fails on the code it was written against.
import assert from "node:assert/strict";
import { CalogLimitError, Runtime } from "../bindings/mod.ts";
import { runScriptChild, stoppedCallChild, test } from "./harness.ts";

/** runScript with 30 s before the child is killed. */
const runScript30 = (name: string, body: string) => runScript(name, body, 30_000);

/** The child process lived to print "survived". */
function assertSurvived(r: { code: number | null; out: string }): void {
  assert.equal(r.code, 0, `the host process died: ${r.out.slice(0, 400)}`);
  assert.match(r.out, /survived/);
}

/** a's "run" of b's "spin", after setup (see stoppedCallChild) */
function stoppedCall(name: string, setup: string) {
  return stoppedCallChild(name, setup, 'a.call("run", b.getFunction("spin"))');
}

const runScript = runScriptChild;

// A host-thread context A with timeoutMs: 200 calls a function of another host-thread context B that has no limits
// of its own (its loop never ends). Both run on the JavaScript thread, so the call is made directly
// (calog__fnInvokeHere -> calog__entryBegin), and B's entry starts its own limit state: nothing checks A's deadline
// while B runs, and the host process hangs for ever (the event loop is blocked, so no interrupt() can come either).
// With A or B on its own thread, A's deadline interrupts B after 200 ms, as the README promises ("A context waiting
// on a call into another context is stopped too (the call is withdrawn, or the other context interrupted)").
for (const [ea, eb] of [["lua", "lua"], ["js", "squirrel"], ["squirrel", "js"]] as const) {
  test(`${ea} (host thread) with timeoutMs calling a ${eb} host-thread context without limits stops at its deadline`, async () => {
    const spin = { lua: "function spin() while true do end end", js: "function spin() { for (;;) {} }", squirrel: "function spin() { while (true) {} }" };
    const run = { lua: "function run(g) return g() end", js: "function run(g) { return g(); }", squirrel: "function run(g) { return g(); }" };
    const r = await stoppedCall("deadline-across-host-contexts", `
      const a = rt.createContext(${JSON.stringify(ea)}, { thread: false, limits: { timeoutMs: 200 } });
      const b = rt.createContext(${JSON.stringify(eb)}, { thread: false });
      b.eval(${JSON.stringify(spin[eb])});
      a.eval(${JSON.stringify(run[ea])});`);
    assert.equal(r.code, 0, `the call never stopped (killed after 10 s): ${r.out}`);
    assert.match(r.out, /stopped after \d+ ms: CalogLimitError/);
  }, 30_000);
}

// The chain through a threaded context between them (pass 27a's suspicion): A on the JavaScript thread calls a threaded
// M, which calls B back on the JavaScript thread (served on A's wait): B's entry runs on top of A's, so A's deadline
// stops it too.
test("a host-thread context's timeout stops a host-thread context reached through a threaded one", async () => {
  const r = await stoppedCall("deadline-through-a-threaded-context", `
    const a = rt.createContext("lua", { thread: false, limits: { timeoutMs: 200 } });
    const m = rt.createContext("js", { thread: true });
    const b = rt.createContext("squirrel", { thread: false });
    b.eval("function spin() { local n = 0; while (true) n++; }");
    m.eval("function mid(g) { return g(); }");
    a.eval("function setMid(f) mid = f end function run(g) return mid(g) end");
    const midFn = m.getFunction("mid");
    a.call("setMid", midFn);`);
  assert.equal(r.code, 0, `the call never stopped (killed after 10 s): ${r.out}`);
  assert.match(r.out, /stopped after \d+ ms: CalogLimitError: timeout/);
}, 30_000);

// The same hole, through interrupt(): a host function called by B (nested in A's call, both on the JavaScript thread)
// calls a.interrupt(), which the README says "stops every call made to the context before it: the one running ...
// from inside a host function the script called, taking effect when that function returns". A's call is what B is
// running for, yet B loops on and the process hangs. With B on its own thread, A's interrupt withdraws the call
// (CalogLimitError "interrupted" after 1 ms).
test("interrupt() of a host-thread context stops the host-thread context it is waiting on", async () => {
  const r = await stoppedCall("interrupt-across-host-contexts", `
    const a = rt.createContext("lua", { thread: false });
    const b = rt.createContext("lua", { thread: false });
    rt.register("stopA", () => { a.interrupt(); });
    b.eval("function spin() stopA() local n = 0 while true do n = n + 1 end end");
    a.eval("function run(g) return g() end");`);
  assert.equal(r.code, 0, `the call never stopped (killed after 10 s): ${r.out}`);
  assert.match(r.out, /stopped after \d+ ms: CalogLimitError: interrupted/);
}, 30_000);

// Low: ctx.setLimits() is documented to change the limits "next entry on" (API table), and limits are "changeable
// between calls". Called from a host function while a call runs, steps and timeoutMs do wait for the next entry, but
// output (calog__limitOutput reads ctx->limits.output live) and memory (the allocator reads the live cap) apply to the
// running call at once: the call the host function returns into fails with CalogLimitError "output".
for (const engine of ["lua", "js"] as const) {
  test(`${engine}: setLimits({ output }) from a host function during a call applies from the next entry on, as documented`, async () => {
    const { Runtime } = await import("../bindings/mod.ts");
    using rt = new Runtime({ output: "ignore" });
    using ctx = rt.createContext(engine, { thread: false });
    rt.register("shrink", () => void ctx.setLimits({ output: 1 }));
    const src = engine === "lua" ? `shrink() print("hello") return 42` : `shrink(); print("hello"); 42`;
    assert.equal(ctx.eval(src), 42); // this call began with no output limit
    assert.throws(() => ctx.eval(engine === "lua" ? `print("hello")` : `print("hello")`), /output limit/); // the next one has it
  });
}

// High: a Squirrel context with any grant (env, net, debug: the "grants" profile registers sqstdlib's io library)
// has `stdout` and `stderr`, file instances over the output sink. Their class, `stdout.getclass()`, is sqstdlib's raw
// file class, whose constructor fopen()s any path in any mode: a context granted only { env: [...] } read any file of
// the process's user and created or truncated any file, outside every root; with a grant { fs: { read: [dir] } }, a
// file that checkedFile opened gives the same class (`file(p, "r").getclass()(other, "w")`), write access without a
// write grant. The README: "every open is then resolved by the kernel beneath its root"; the sandbox-plus-grants
// profile "cannot ... open files" beyond its grants. (c/src/engines/squirrel/sq_caps.c: sinkFiles and checkedFile
// hand out instances of the file class that sqstd_register_iolib registered, unchanged.)
for (const thread of [false, true]) {
  test(`squirrel (${thread ? "own thread" : "host thread"}): a file instance's class cannot open paths outside the grants`, async () => {
    const { Runtime, CalogError } = await import("../bindings/mod.ts");
    const fs = await import("node:fs");
    const os = await import("node:os");
    const path = await import("node:path");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "calog-hostile27a-fs-"));
    const granted = path.join(dir, "granted");
    fs.mkdirSync(granted);
    fs.writeFileSync(path.join(granted, "ok.txt"), "ok");
    const secret = path.join(dir, "secret.txt");
    fs.writeFileSync(secret, "top secret");
    const created = path.join(dir, "created.txt");
    const inGrant = path.join(granted, "written.txt");
    using rt = new Runtime({ output: "ignore" });
    const read = (f: string) => `local g = ${f}; local s = ""; while (!g.eos()) s += g.readn('c').tochar(); return s`;
    const write = (f: string) => `local g = ${f}; foreach (c in "pwned") g.writen(c, 'c'); g.close(); return "wrote"`;
    const attempts: [object, string][] = [
      [{ env: ["NOPE"] }, read(`stdout.getclass()(${JSON.stringify(secret)}, "r")`)],
      [{ env: ["NOPE"] }, write(`stderr.getclass()(${JSON.stringify(created)}, "w")`)],
      [{ net: { connect: ["127.0.0.1:1"] } }, read(`stdout.getclass()(${JSON.stringify(secret)}, "r")`)],
      [{ fs: { read: [granted] } }, read(`file(${JSON.stringify(path.join(granted, "ok.txt"))}, "r").getclass()(${JSON.stringify(secret)}, "r")`)],
      [{ fs: { read: [granted] } }, write(`file(${JSON.stringify(path.join(granted, "ok.txt"))}, "r").getclass()(${JSON.stringify(inGrant)}, "w")`)],
    ];
    try {
      for (const [capabilities, src] of attempts) {
        using ctx = rt.createContext("squirrel", { thread, capabilities });
        let got: unknown;
        try {
          got = ctx.eval(src);
        } catch (e) {
          got = e;
        }
        assert.ok(got instanceof CalogError, `${JSON.stringify(capabilities)}: ${src} gave ${JSON.stringify(got)}`);
      }
      assert.equal(fs.existsSync(created), false, "a file was created outside every grant");
      assert.equal(fs.existsSync(inGrant), false, "a file was written under a read-only grant");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

// Medium-high: with the `debug` grant (not "trusted"), debug.getinfo(level, "f") hands a Lua script calog's own C
// functions from the frames below it: the entry's `runner` (c/src/engines/lua/lua_engine.c:311), which reads its
// first argument as the RunT* calog pushed (`RunT *r = lua_touserdata(L, 1); LuaCtxT *lc = r->lc;`) without a check.
// Called again by the script with a number, or nothing, it dereferences NULL or whatever the argument holds: the host
// process ends with a segmentation fault (Bun: "Segmentation fault at address 0x3039" for 12345), on both thread
// kinds. The README keeps "calog's internals in every profile" protected, and lists only `debug.sethook` as the debug
// grant's caveat; only "trusted" may harm the host.
for (const thread of [false, true]) {
  test(`lua (${thread ? "own thread" : "host thread"}, debug grant): calog's entry function found by debug.getinfo cannot crash the host`, async () => {
    const r = await runScript30("debug-getinfo-runner", `
      const rt = new Runtime({ output: "ignore" });
      rt.register("callit", (f, ...a) => f(...a));
      const ctx = rt.createContext("lua", { thread: ${thread}, capabilities: { debug: true } });
      ctx.eval(\`
        FNS = {}
        callit(function()
          for lvl = 2, 10 do
            local info = debug.getinfo(lvl, "Sf")
            if not info then break end
            if info.what == "C" then FNS[#FNS + 1] = info.func end
          end
        end)\`);
      let what = "";
      for (const args of ["", "12345", "nil, 1", "'x'"]) {
        try { what += String(ctx.eval(\`local n = 0 for _, f in ipairs(FNS) do if pcall(f, \${args}) then n = n + 1 end end return n\`)) + " "; }
        catch (e) { what += e.constructor.name + " "; }
      }
      console.log("survived " + what);
      rt.dispose();
    `);
    assertSurvived(r);
  }, 60_000);
}

// The same grant, through the standard library's own C closures: debug.setupvalue replaces the upvalues of any C
// function that is not calog's (calog refuses only its own natives), so a script swaps the state userdata of a
// string.gmatch iterator for a number, or the coroutine of a coroutine.wrap function for another: the next call
// reads it as its C structure and the host process dies (Bun: "Segmentation fault at address 0x30" / "0x10").
// Refusing setupvalue/upvaluejoin on every C function (as calog already does for its own) would close both.
for (const [what, src] of [
  ["string.gmatch's state", `local it = string.gmatch("abc", ".") debug.setupvalue(it, 3, 5) return pcall(it)`],
  ["coroutine.wrap's coroutine", `local f = coroutine.wrap(function() coroutine.yield(1) end) debug.setupvalue(f, 1, coroutine.running()) return pcall(f)`],
] as const) {
  test(`lua (debug grant): debug.setupvalue of ${what} cannot crash the host`, async () => {
    const r = await runScript30("debug-setupvalue-c-closure", `
      const rt = new Runtime({ output: "ignore" });
      const ctx = rt.createContext("lua", { thread: false, capabilities: { debug: true } });
      let what;
      try { what = String(ctx.eval(${JSON.stringify(src)})); } catch (e) { what = e.constructor.name; }
      console.log("survived " + what);
      rt.dispose();
    `);
    assertSurvived(r);
  }, 60_000);
}

// The same getinfo hole reaches the originals calog wraps: its `load` (textLoad, c/src/engines/lua/lua_caps.c:354)
// refuses binary chunks outside "trusted", then calls the original load (its upvalue, which debug.getupvalue may not
// read). A reader function runs inside that original, so `debug.getinfo(2, "f").func` there is the original load,
// which takes a binary chunk: Lua bytecode, unverified, loaded and run under a mere debug grant (README: "only under
// "trusted": ... binary chunks and string.dump"). The bytecode here is made by a trusted context's string.dump.
test("lua (debug grant): the original load, reached from a reader function through debug.getinfo, refuses binary chunks", async () => {
  const { Runtime } = await import("../bindings/mod.ts");
  using rt = new Runtime({ output: "ignore" });
  using trusted = rt.createContext("lua", { thread: false, capabilities: "trusted" });
  const bytecode = trusted.eval(`return string.dump(function() return "ran bytecode" end)`);
  using ctx = rt.createContext("lua", { thread: false, capabilities: { debug: true } });
  ctx.eval(`function viaOriginal(bc)
    local orig
    load(function() orig = debug.getinfo(2, "f").func return nil end)
    local ok, f = pcall(orig, bc, "x", "b")
    if not ok or not f then return "refused" end
    return f()
  end`);
  assert.equal(ctx.eval(`return (pcall(load, "\\27Lua", "x", "b"))`), false); // calog's load refuses a binary chunk
  assert.equal(ctx.call("viaOriginal", bytecode), "refused");
});

// README (Limits), pass 27b's notice: interrupt() from a host function stops the call it runs in; a call that host
// function then makes into the same context runs on top of the stopped call and fails with it ("interrupted"), as
// the README now says, while a call made once the stopped one has returned is not affected.
for (const thread of [false, true]) {
  test(`lua (${thread ? "own thread" : "host thread"}): a call into the context from inside the call being interrupted fails with it; one after it runs`, () => {
    using rt = new Runtime();
    using ctx = rt.createContext("lua", { thread });
    let inner = "";
    rt.register("h", () => {
      ctx.interrupt();
      try {
        inner = String(ctx.call("g"));
      } catch (e) {
        inner = (e as Error).message;
      }
    });
    ctx.eval("function g() return 'g ran' end function f() h() return 'f finished' end");
    assert.throws(() => ctx.call("f"), (e: unknown) => e instanceof CalogLimitError && e.message === "interrupted");
    assert.equal(inner, "interrupted");
    assert.equal(ctx.call("g"), "g ran");
  });
}
