// Passes 85a and 85b: hostile users of the Promise walk at c2a99cb. 85a: built-ins the walk (and the encoder's type
// checks) still looked up at run time, replaced after calog loaded: Promise.prototype.constructor or Promise[Symbol.species]
// made every `then` of the walk throw, an index setter on Array.prototype took the walk's list stores, and a replaced
// util.types.isPromise made a Promise under a null prototype cross as {}. Each test failed at c2a99cb under Bun and Deno.
import assert from "node:assert/strict";
import { Runtime } from "../bindings/mod.ts";
import { runScriptChild, test, unhandledOf } from "./harness.ts";

const rej = (what: string) => Promise.reject(new Error(what));
const engines = ["lua", "js", "squirrel"] as const;
const idSrc = { lua: "function id(x) return x end", js: "function id(x) { return x }", squirrel: "function id(x) { return x }" };


/** Each patch is made after calog loaded, and undone before the rejections are counted. */
const patches: Record<string, () => () => void> = {
  "nothing replaced (the control)": () => () => {},
  "Promise.prototype.constructor (a getter that throws)": () => {
    const d = Object.getOwnPropertyDescriptor(Promise.prototype, "constructor")!;
    Object.defineProperty(Promise.prototype, "constructor", { configurable: true, get() { throw new Error("constructor getter ran"); } });
    return () => Object.defineProperty(Promise.prototype, "constructor", d);
  },
  "Promise.prototype.constructor = 1": () => {
    const d = Object.getOwnPropertyDescriptor(Promise.prototype, "constructor")!;
    Object.defineProperty(Promise.prototype, "constructor", { ...d, value: 1 });
    return () => Object.defineProperty(Promise.prototype, "constructor", d);
  },
  "Promise[Symbol.species] (a getter that throws)": () => {
    const d = Object.getOwnPropertyDescriptor(Promise, Symbol.species)!;
    Object.defineProperty(Promise, Symbol.species, { configurable: true, get() { throw new Error("species getter ran"); } });
    return () => Object.defineProperty(Promise, Symbol.species, d);
  },
  "an index setter on Array.prototype": () => {
    Object.defineProperty(Array.prototype, "1", { configurable: true, set(_v) { /* swallows */ }, get() { return undefined; } });
    return () => void delete (Array.prototype as unknown as Record<string, unknown>)["1"];
  },
};

for (const [name, patch] of Object.entries(patches)) {
  for (const thread of [false, true]) {
    for (const engine of engines) {
      test(`${engine} (${thread ? "own thread" : "host thread"}): ${name} hides no Promise from a strict refusal's walk`, async () => {
        using rt = new Runtime({ output: "ignore" });
        using ctx = rt.createContext(engine, { thread });
        ctx.eval(idSrc[engine]);
        const lost = await unhandledOf(() => {
          const undo = patch();
          try {
            assert.throws(() => ctx.call("id", { s: Symbol("refused first"), p: rej("in an object") }), { name: "CalogValueError" });
            assert.throws(() => ctx.call("id", [Symbol("refused first"), [rej("in an array")]]), { name: "CalogValueError" });
          } finally {
            undo();
          }
        });
        assert.deepEqual(lost, []);
      });
      test(`${engine} (${thread ? "own thread" : "host thread"}): ${name} hides no Promise lenient sends as nil`, async () => {
        using rt = new Runtime({ policy: "lenient", output: "ignore" });
        using ctx = rt.createContext(engine, { thread });
        ctx.eval(idSrc[engine]);
        const lost = await unhandledOf(() => {
          const undo = patch();
          try {
            ctx.call("id", { p: rej("lenient, top"), q: [1, new Map([[{}, [rej("lenient, dropped key's value")]]])] }); // p: nil, the entry dropped
          } finally {
            undo();
          }
        });
        assert.deepEqual(lost, []);
      });
    }
  }
  test(`${name}: a refused host function result and a refused call's arguments are walked`, async () => {
    using rt = new Runtime({ output: "ignore" });
    rt.register("get", () => ({ s: Symbol("x"), p: rej("host result") }));
    using ctx = rt.createContext("lua", { thread: false });
    const fn = ctx.eval("return function() return 1 end") as (...a: unknown[]) => unknown;
    const lost = await unhandledOf(() => {
      const undo = patch();
      try {
        assert.throws(() => ctx.eval("return get()"));
        assert.throws(() => ctx.call("no such function", [rej("bad name's argument")]));
        rt.dispose();
        assert.throws(() => fn([rej("disposed function's argument")]));
      } finally {
        undo();
      }
    });
    assert.deepEqual(lost, []);
  });
}

// 85b, finding 1 (crash) and 3: the options of createContext and setLimits were read outside the guard, after the native
// runtime was taken: a getter there that disposed the runtime freed it under the call (Bun SIGSEGV/SIGABRT, Deno heap
// corruption). Now they are read as eval's are (a call into calog there is refused), and the runtime is taken after.
test("a getter of createContext's or setLimits's options cannot dispose the runtime under the call", async () => {
  const r = await runScriptChild("options-getter-dispose", `
    const seen = [];
    for (const which of ["thread", "limits", "caps", "output", "setLimits"]) {
      for (let i = 0; i < 10; i++) {
        const rt = new Runtime({ output: "ignore" });
        try {
          if (which === "thread") rt.createContext("lua", { get thread() { rt.dispose(); return false; } });
          else if (which === "limits") rt.createContext("js", { limits: { get steps() { rt.dispose(); return 0; } } });
          else if (which === "caps") rt.createContext("lua", { thread: false, get capabilities() { rt.dispose(); return undefined; } });
          else if (which === "output") rt.createContext("squirrel", { get output() { rt.dispose(); return "ignore"; } });
          else { const c = rt.createContext("lua", { thread: false }); c.setLimits({ get steps() { rt.dispose(); return 5; } }); }
          seen.push(which + ": went through");
        } catch (e) {
          seen.push(which + ": " + e.constructor.name + ": " + e.message);
        }
        rt.dispose();
      }
    }
    console.log(JSON.stringify([...new Set(seen)]));
  `, 60_000);
  assert.equal(r.code, 0, r.out);
  const seen = JSON.parse(r.out.trim().split("\n").pop()!) as string[];
  assert.equal(seen.length, 5, r.out);
  for (const s of seen) assert.match(s, /CalogValueError: a runtime cannot be disposed while calog is reading a value/);
});

// 85b, finding 2: a host function's result whose `then` getter (or a Proxy's get trap) threw was refused without its
// Promises walked.
for (const policy of ["strict", "lenient"] as const) {
  for (const thread of [false, true]) {
    for (const engine of engines) {
      test(`${engine} (${thread ? "own thread" : "host thread"}), ${policy}: a result whose \`then\` throws has its Promises walked`, async () => {
        const src = { lua: "return h()", js: "h()", squirrel: "return h()" } as const;
        const lost = await unhandledOf(() => {
          using rt = new Runtime({ policy, output: "ignore" });
          let k = 0;
          rt.register("h", () => k++ % 2 === 0
            ? { get then() { throw new Error("no then"); }, p: rej("a getter's") }
            : new Proxy({ p: rej("a trap's") }, { get(t, key) { if (key === "then") throw new Error("no then"); return Reflect.get(t, key); } }));
          using ctx = rt.createContext(engine, { thread });
          for (let i = 0; i < 2; i++) assert.throws(() => ctx.eval(src[engine]), /threw \(a getter or a Proxy trap\): Error: no then/);
        });
        assert.deepEqual(lost, []);
      });
    }
  }
}

// 85b, finding 4: a call of more than four arguments copied them with the Array.prototype.slice of the moment: a
// replaced one escaped raw, and nothing was walked.
test("a replaced Array.prototype.slice neither escapes a call of many arguments nor stops its walk", async () => {
  using rt = new Runtime({ output: "ignore" });
  using ctx = rt.createContext("lua", { thread: false });
  ctx.eval("function id(...) return 1 end");
  const f = ctx.getFunction("id");
  const saved = Array.prototype.slice;
  const lost = await unhandledOf(() => {
    Array.prototype.slice = function () { throw new Error("a shim's slice"); };
    try {
      assert.throws(() => ctx.call("id", 1, 2, 3, 4, rej("ctx.call")), /a Promise cannot cross/);
      assert.throws(() => f(1, 2, 3, 4, rej("a script function")), /a Promise cannot cross/);
    } finally {
      Array.prototype.slice = saved;
    }
  });
  assert.deepEqual(lost, []);
});
