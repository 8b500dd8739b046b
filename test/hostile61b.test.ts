// Pass 61b (hostile review: calog against a hostile global environment, after 5e2537d made the Lua install raw). Each
// test fails on 5e2537d because of the defect it names, in Bun and Deno.
import assert from "node:assert/strict";
import { CalogPermissionError, CalogScriptError, Runtime } from "../bindings/mod.ts";
import { caught, modes, test, where } from "./harness.ts";

const first = (e: unknown): string => (e instanceof Error ? e.message.split("\n")[0] ?? "" : String(e));

// Low-medium (a registration silently lost). A Squirrel script that swaps its root table (`setroottable(t)`, the
// language's own sandboxing idiom: `local saved = setroottable(sandbox); ...; setroottable(saved)`) and is inside the
// swap when the context next syncs the runtime's natives (the swap outlived an eval, or, on a threaded context, the
// script is parked in `timer.sleep` while the host calls into it) gets every native registered meanwhile installed in
// the temporary table only. Once the script puts its root table back, the name is missing for the rest of the
// context's life: `late()` fails with "the index 'late' does not exist", `ctx.call("late")` with "no function named
// 'late'", and nothing names the registration (the context counts it as installed and never tries again). Lua installs
// into the registry's globals table whatever `_ENV` a chunk uses, and JavaScript into the one global object, so a
// registration always lands there. The README: `rt.register` sets "a native global in every context of every engine,
// existing ones included". Cause: c/src/engines/squirrel/sq_engine.c `sqInstallNative` rawsets into
// `sq_pushroottable(v)`, the VM's *current* root table (`_roottable`), which a script's `setroottable` replaced. Fix:
// keep the root table made at create (an `HSQOBJECT` with `sq_addref`, as `errHandler` is) and install into it, and
// also into the current root table when the script swapped it (so the name works during the swap too).
for (const thread of modes) {
  test(`squirrel (${where(thread)}): a registration synced while the script's root table is swapped lands in the real one`, () => {
    using rt = new Runtime({ output: "ignore" });
    using sq = rt.createContext("squirrel", { thread });
    sq.eval(`function useLate() { return late() }
      local saved = getroottable();
      ::enter <- function() { setroottable({ leave = function() { setroottable(saved); return "left" } }) }`);
    sq.eval(`enter()`);
    rt.register("late", () => "late!");
    assert.equal(sq.eval(`return late()`), "late!"); // during the swap: there
    assert.equal(sq.eval(`return leave()`), "left");
    let got: unknown;
    try {
      got = sq.eval(`return late()`);
    } catch (e) {
      assert.fail(`after the script restored its root table, the native registered during the swap is missing: ${first(e)}`);
    }
    assert.equal(got, "late!");
    assert.equal(sq.call("late"), "late!");
    assert.equal(sq.call("useLate"), "late!");
  });
}

// The same, parked: a threaded Squirrel context inside a swap, parked in timer.sleep, serves a host call; the native
// synced by that call is lost when the script wakes up and restores its root table.
test(`squirrel (own thread, parked): a registration synced while the parked script's root table is swapped survives the restore`, async () => {
  using rt = new Runtime({ output: "ignore" });
  using sq = rt.createContext("squirrel", { thread: true });
  const running = sq.evalAsync(`local saved = getroottable();
    setroottable({ timer = timer });
    timer.sleep(300);
    setroottable(saved);
    local r = null;
    try { r = late() } catch (e) { r = "missing: " + e }
    return r`);
  await new Promise((r) => setTimeout(r, 100));
  rt.register("late", () => "late!");
  assert.equal(await sq.evalAsync(`return 1`), 1); // an entry while the script is parked: it syncs the native
  assert.equal(await running, "late!", "the native synced while the root table was swapped is missing after the restore");
  assert.equal(sq.eval(`return late()`), "late!");
});

// Low (a wrong error text, chosen by the script's globals). A JavaScript `throw Symbol("s")` is documented to read
// "js threw Symbol(s)" (README, Errors), but calog describes the symbol by calling whatever the script's global
// `String` is at that moment: after `String = function () { return "lies" }` the error reads "js threw lies"; after
// `delete String` (or `String = 5`) "js threw a value (its description could not be read)"; and after `String =
// function () { for (;;) {} }` reading the error runs the script's loop (stopped only by a timeout, without one it
// hangs the host). No other thrown value's description depends on a global (an Error, a plain object or a string do
// not). Cause: c/src/engines/duktape/duk_adapter.c, the Symbol branch of the thrown-value description
// (`duk_get_global_literal(ctx, "String")` then `duk_call`). Fix: keep the built-in `String` (or
// `Symbol.prototype.toString`) in the global stash at setup, as `setupSafe` keeps the constructors' prototypes
// (DUK_KEY_PROTOS), and call that one.
for (const thread of modes) {
  test(`js (${where(thread)}): a thrown Symbol reads "js threw Symbol(s)" whatever the script made of its global String`, () => {
    using rt = new Runtime({ output: "ignore", limits: { timeoutMs: 1000 } });
    using js = rt.createContext("js", { thread });
    for (const change of [`String = function () { return "lies" }`, `delete this.String`, `String = 5`, `String = function () { for (;;) {} }`]) {
      const e = caught(() => js.eval(`var keep = keep || String; ${change}; throw Symbol("s")`));
      js.eval(`String = keep`);
      assert.ok(e instanceof CalogScriptError, `after '${change}': ${e.constructor.name}: ${first(e)}`);
      assert.equal(first(e), "js threw Symbol(s)", `after '${change}'`);
    }
  });
}

// Medium (a wrong error: the host's exception is lost as the cause, the error's class is forged, its message is lost).
// A JavaScript script that defines an accessor, or a non-writable data property, named `value`, `enumerable`,
// `configurable` or `writable` on `Object.prototype` changes every error calog raised in that context as it reaches
// the host: a host function's `throw new Error("hostbad")` comes back as "js threw [object Error] (its description
// could not be read)" with no cause and no value (`enumerable` getter, `configurable` read-only), or as "hostbad"
// without its cause (a `value` getter returning a number); a permission error becomes a `CalogScriptError` with the same
// lost text, and with `get: function () { return 7 }` on `value`, a `CalogNotFoundError` (the getter's number is taken as
// calog's status mark, and as the index of the host exception to attach as the cause). The script's own throws and
// limits are not affected. The README: "every thrown value is the cause of a host function's error", and a permission
// error is a `CalogPermissionError`. Cause: c/src/engines/duktape/duk_adapter.c `pushOwnMark` (the raise marks,
// DUK_KEY_RAISE_STATUS / DUK_KEY_RAISE_HOST) and `ownMessageSafe` (an own `message`) read own properties through
// `duk_get_prop_desc`, whose descriptor object Duktape builds with ordinary puts (`duk_put_prop_stridx_short` of
// value / writable / enumerable / configurable in `duk_hobject_object_get_own_property_descriptor`) on a fresh object
// that inherits from `Object.prototype`: an inherited setter runs (and may swallow the value, so the inherited getter
// answers), an inherited getter-only accessor or read-only property makes the put throw (the whole read fails). Fix:
// read both with `duk_calog_get_own_data` (patch 65, which already serves ingress without building a descriptor),
// extended to report the property's enumerable flag for `ownMessageSafe`; or patch Duktape to build descriptors with
// defines (ES FromPropertyDescriptor uses CreateDataProperty), which fixes `Object.getOwnPropertyDescriptor` for
// scripts as well. (The second test: the getter's number picks the cause among the host exceptions the runtime keeps,
// so a script attaches another context's host exception, one it never saw, as the cause of its own error.)
for (const thread of modes) {
  test(`js (${where(thread)}): Object.prototype accessors named like a descriptor's fields do not change calog's errors`, () => {
    using rt = new Runtime({ output: "ignore" });
    const hostbad = new Error("hostbad");
    rt.register("hthrow", () => {
      throw hostbad;
    });
    for (const setup of [
      `Object.defineProperty(Object.prototype, "value", { get: function () { return 7 }, set: function (v) {} })`,
      `Object.defineProperty(Object.prototype, "enumerable", { get: function () { return false } })`,
      `Object.defineProperty(Object.prototype, "configurable", { value: 1, writable: false })`,
    ]) {
      using js = rt.createContext("js", { thread });
      js.eval(`${setup}; 1`);
      const e = caught(() => js.eval(`hthrow()`));
      assert.ok(e instanceof CalogScriptError, `after '${setup}': ${e.constructor.name}: ${first(e)}`);
      assert.equal(first(e), "hostbad", `after '${setup}'`);
      assert.equal(e.cause, hostbad, `after '${setup}': the host's exception is not the cause (${String(e.cause)})`);
      const p = caught(() => js.eval(`net.connect("127.0.0.1", 1, function () {})`));
      assert.ok(p instanceof CalogPermissionError, `after '${setup}', a permission error is a ${p.constructor.name}: ${first(p)}`);
      assert.match(first(p), /permission denied: net\.connect/);
    }
  });
}

for (const thread of modes) {
  test(`js (${where(thread)}): an Object.prototype 'value' getter cannot pick another call's host exception as the cause`, () => {
    using rt = new Runtime({ output: "ignore" });
    const secret = new Error("secret of another context");
    const mine = new Error("mine");
    rt.register("hthrowA", () => {
      throw secret;
    });
    rt.register("hthrowB", () => {
      throw mine;
    });
    using lua = rt.createContext("lua", { thread });
    using js = rt.createContext("js", { thread });
    assert.equal(caught(() => lua.eval(`hthrowA()`)).cause, secret); // the runtime's first host exception
    js.eval(`Object.defineProperty(Object.prototype, "value", { get: function () { return 1 }, set: function (v) {} }); 1`);
    const e = caught(() => js.eval(`hthrowB()`));
    assert.notEqual(e.cause, secret, "the JS error's cause is the host exception another context's call threw");
    assert.equal(e.cause, mine);
  });
}

// Low (a wrong error and data lost, by an inherited setter). A JavaScript I/O error that carries data (`e.partial`: a
// receive that timed out or met the end) sets `partial` with an ordinary put, so a setter the script defined on
// `Error.prototype` (or `Object.prototype`) named `partial` runs inside calog's raise: one that throws replaces the
// "timeout" error with its own ("setter partial"), one that stores nothing makes `e.partial` read the getter's value
// ("forged"); either way the bytes received ("abc"), already taken off the connection, are lost. JavaScript's own
// built-ins define such properties (CreateDataProperty, as `AggregateError`'s `errors`), never assign them. Cause:
// c/src/engines/duktape/duk_adapter.c `throwText`: `duk_put_prop_literal(ctx, -2, "partial")`. Fix: `duk_def_prop` with
// DUK_DEFPROP_HAVE_VALUE | SET_WRITABLE | SET_ENUMERABLE | SET_CONFIGURABLE, as the NUL-byte `message` is defined above it.
test(`js (own thread): an I/O error's partial data is defined on the error, whatever setter Error.prototype has`, () => {
  using rt = new Runtime({ output: "ignore", limits: { timeoutMs: 5000 } });
  for (const setup of [
    `Object.defineProperty(Error.prototype, "partial", { set: function (v) { throw new Error("setter partial") } })`,
    `Object.defineProperty(Error.prototype, "partial", { set: function (v) {}, get: function () { return "forged" } })`,
  ]) {
    using js = rt.createContext("js", { thread: true, capabilities: { net: { connect: ["127.0.0.1:*"], listen: ["127.0.0.1:*"] } } });
    js.eval(`${setup}; 1`);
    const got = js.eval(`var s = net.listen("127.0.0.1", 0); var c = net.connect("127.0.0.1", s.port()); var a = s.accept();
      c.send("abc"); a.setTimeouts(0, 0, 50); var r;
      try { a.receive(10) } catch (e) { r = [String(e.message), String(e.partial)] }
      c.close(); a.close(); s.close(); r`);
    assert.deepEqual(got, ["timeout", "abc"], `after '${setup}'`);
  }
});
