// Pass 62b (hostile review: values crossing out of a script whose built-ins were tampered with, after 8ea6a59). Each
// test fails on 8ea6a59 because of the defect it names, in Bun and Deno.
import assert from "node:assert/strict";
import { Runtime } from "../bindings/mod.ts";
import { caught, modes, test, where } from "./harness.ts";

const first = (e: unknown): string => (e instanceof Error ? e.message.split("\n")[0] ?? "" : String(e));

// Low-medium (a wrong error message chosen by the script's globals, and a script's getter run where the README says
// none runs). A thrown JavaScript function's message is documented as "the value's own string `message` field (... a
// JavaScript function's too when JavaScript throws it ...; an enumerable own field only, read without running a getter
// or metamethod, whatever the policy)". For a function calog reads `message` with an ordinary get instead: a getter
// the script put on Function.prototype (or Object.prototype) named `message` runs while calog reads the error, and
// what it returns becomes the message of every function any script of the context throws: `throw function () {}`
// reads "forged" instead of "js threw [function]". The same ordinary get takes a non-enumerable own `message`
// (Object.defineProperty(f, "message", { value })) and runs an own getter, both of which the README excludes (an
// object's own message is read by ownMessageSafe: own, enumerable, data only). A getter that loops is then run by the
// error reading itself. Cause: c/src/engines/duktape/duk_adapter.c, stringMessage (used by describeSafe's function
// branch) reads through getNamedSafe (duk_get_prop_string). Fix: read a function's message as ownMessageSafe reads an
// object's (duk_calog_get_own_data: an own enumerable data property, no getter), or reuse ownMessageSafe's result.
for (const policy of ["strict", "lenient"] as const) {
  for (const thread of modes) {
    test(`js ${policy} (${where(thread)}): a thrown function's message is its own enumerable data field, never an inherited or getter one`, () => {
      using rt = new Runtime({ policy, output: "ignore", limits: { timeoutMs: 2000 } });
      // an inherited getter: the script's Function.prototype (or Object.prototype) decides every thrown function's message
      for (const proto of ["Function", "Object"]) {
        using js = rt.createContext("js", { thread });
        js.eval(`var hits = 0; Object.defineProperty(${proto}.prototype, "message", { get: function () { hits++; return "forged" }, configurable: true }); 0`);
        assert.equal(first(caught(() => js.eval(`throw function () {}`))), "js threw [function]", `${proto}.prototype's message getter forged the message`);
        assert.equal(js.eval(`hits`), 0, `calog ran a getter on ${proto}.prototype while reading the error`);
        // an object thrown under the same tampering already reads only its own field (ownMessageSafe): the contrast
        assert.equal(first(caught(() => js.eval(`throw { a: 1 }`))), "js threw { a: 1 }");
      }
      using js = rt.createContext("js", { thread });
      js.eval(`var hits = 0;
        function fnWithOwn() { var f = function () {}; f.message = "own"; return f }
        function fnNonEnum() { var f = function () {}; Object.defineProperty(f, "message", { value: "hidden", enumerable: false }); return f }
        function fnGetter() { var f = function () {}; Object.defineProperty(f, "message", { get: function () { hits++; return "got" }, enumerable: true }); return f }`);
      // the baseline: an own enumerable message says it; a bare function is "js threw [function]"
      assert.equal(first(caught(() => js.eval(`throw fnWithOwn()`))), "own");
      assert.equal(first(caught(() => js.eval(`throw function () {}`))), "js threw [function]");
      // an own getter and a non-enumerable own message are no data of the value
      assert.equal(first(caught(() => js.eval(`throw fnGetter()`))), "js threw [function]", "an own message getter was run and taken");
      assert.equal(js.eval(`hits`), 0, "calog ran the function's own message getter while reading the error");
      assert.equal(first(caught(() => js.eval(`throw fnNonEnum()`))), "js threw [function]", "a non-enumerable own message was taken");
    });
  }
}

// Low (script code run where calog reads a value; engines disagree). A JavaScript I/O method (`server.port()`,
// `conn.send(x)`, ...) takes its handle's id from `this` with an ordinary property get: a Proxy's get trap runs
// inside calog's native (the fidelity table: "a JS Proxy ... no trap ever runs while marshalling"), a getter the
// script put on Object.prototype named `id` runs for a receiver without one (`s.port.call({})`), and any object that
// merely inherits from a handle (`Object.create(s).port()`) or forwards to it (`new Proxy(s, {})`) is taken for it.
// Lua and Squirrel read the receiver's `id` raw ("this.id, read without metamethods": sq_adapter.c; lua_adapter.c
// uses lua_rawget) and refuse all of these with "server:port: call it as a method on its handle ...". Cause:
// c/src/engines/duktape/duk_adapter.c fnTrampoline, `duk_get_prop_literal(ctx, -1, "id")` on `this`. Fix: read the
// receiver's own data property `id` (duk_calog_get_own_data, as ownMessageSafe does) of a non-Proxy object, else
// undefined, so JavaScript refuses the same receivers as Lua and Squirrel.
const netCaps = { net: { connect: ["127.0.0.1:*"], listen: ["127.0.0.1:*"] } };
for (const thread of modes) {
  test(`js (${where(thread)}): an I/O method reads its receiver's id raw, as Lua and Squirrel do: no trap or getter runs`, () => {
    using rt = new Runtime({ output: "ignore", limits: { timeoutMs: 3000 } });
    using js = rt.createContext("js", { thread, capabilities: netCaps });
    using lua = rt.createContext("lua", { thread, capabilities: netCaps });
    const refused = /call it as a method on its handle/;
    // Lua refuses a table that merely inherits from the handle: the baseline the README's "handle:method" describes
    const l = String(lua.eval(`local s = net.listen("127.0.0.1", 0); local o = setmetatable({}, { __index = s })
      local ok, e = pcall(function () return o:port() end); s:close(); return tostring(e)`));
    assert.match(l, refused);
    const got = js.eval(`var s = net.listen("127.0.0.1", 0), traps = 0, hits = 0, out = [];
      function tryIt(f) { try { return "ok " + f() } catch (e) { return e.message } }
      out.push(tryIt(function () { return s.port.call(new Proxy({}, { get: function () { traps++; return s.id } })) }));
      out.push(tryIt(function () { return Object.create(s).port() }));
      Object.defineProperty(Object.prototype, "id", { get: function () { hits++; return s.id }, configurable: true });
      out.push(tryIt(function () { return s.port.call({}) }));
      delete Object.prototype.id;
      s.close();
      ({ out: out, traps: traps, hits: hits })`) as { out: string[]; traps: number; hits: number };
    assert.equal(got.traps, 0, "a Proxy's get trap ran while calog read the receiver of an I/O method");
    assert.equal(got.hits, 0, "a getter on Object.prototype ran while calog read the receiver of an I/O method");
    for (const [i, what] of ["a Proxy receiver", "an object inheriting from the handle", "a receiver whose id is inherited"].entries())
      assert.match(got.out[i]!, refused, `${what} was taken for the handle: ${got.out[i]}`);
  });
}
