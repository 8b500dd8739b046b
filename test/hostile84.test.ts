// Passes 84a and 84b: hostile users of the Promise walk at cba3b86. Each test below failed at cba3b86 under Bun and
// Deno, unless it says it pins a rule the README now states.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Runtime } from "../bindings/mod.ts";
import { test, unhandledOf } from "./harness.ts";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8").replace(/\s+/g, " ");
const rej = (what: string) => Promise.reject(new Error(what));
const engines = ["lua", "js", "squirrel"] as const;
const idSrc = { lua: "function id(x) return x end", js: "function id(x) { return x }", squirrel: "function id(x) { return x }" };


// 84b, finding 1 (high): lenient sent some objects as nil without walking them: a built-in whose prototype was replaced
// (a Set's items, a Date's or an Error's own properties) and an object that only inherits from Map.prototype.
const lenientNil: Record<string, () => unknown> = {
  "Object.create(Map.prototype) with an own Promise": () => Object.assign(Object.create(Map.prototype), { p: rej("a") }),
  "a Set under Object.prototype holding a Promise": () => Object.setPrototypeOf(new Set([rej("b")]), Object.prototype),
  "a Set under null holding a Promise": () => Object.setPrototypeOf(new Set([rej("c")]), null),
  "a Date under null with a non-enumerable own Promise": () => Object.defineProperty(Object.setPrototypeOf(new Date(), null), "p", { value: rej("d") }),
  "an Error under null with a non-enumerable own Promise": () => Object.defineProperty(Object.setPrototypeOf(new Error("x"), null), "p", { value: rej("e") }),
};
for (const thread of [false, true]) {
  for (const engine of engines) {
    for (const [name, mk] of Object.entries(lenientNil)) {
      test(`${engine} (${thread ? "own thread" : "host thread"}): lenient sends ${name} as nil and handles the Promise`, async () => {
        using rt = new Runtime({ policy: "lenient", output: "ignore" });
        using ctx = rt.createContext(engine, { thread });
        ctx.eval(idSrc[engine]);
        assert.deepEqual(await unhandledOf(() => assert.equal(ctx.call("id", mk()), null)), []);
      });
    }
  }
}
test("lenient: a host function's result sent as nil is walked the same way", async () => {
  using rt = new Runtime({ policy: "lenient", output: "ignore" });
  let i = 0;
  const made = Object.values(lenientNil);
  rt.register("get", () => made[i++ % made.length]!());
  using ctx = rt.createContext("lua", { thread: false });
  assert.deepEqual(await unhandledOf(() => {
    for (let k = 0; k < made.length; k++) assert.equal(ctx.eval("return get()"), null);
  }), []);
});

// 84b, finding 2 (medium, now a stated rule): a call the native library refused after TypeScript's checks did not walk
// arguments past the method's parameters. calog never reads those (as any JavaScript function ignores them): the README
// says a Promise there is yours, and what a method takes is walked.
test("the README says arguments a method does not take are yours, and what only an internal slot holds", () => {
  assert.match(readme, /Arguments a method does not take \(past its parameters\) are never read: a Promise among them is yours/);
  assert.match(readme, /nor what only an internal slot holds \(a `WeakRef`'s target/);
});

// 84a, finding 1 (hang) and 2 (lost rejections): the walk called built-ins it looked up as it ran. A global Set
// replaced after calog loaded ran user code outside the walk's guard (its calls into other runtimes went through, and
// one calog refused made the walk loop for ever); a util.types.isPromise that lied left Promises unhandled. Now the
// walk takes what it uses when calog loads, and calls nothing looked up later; a call made from anything it runs is
// refused.
test("built-ins replaced after calog loaded run no code in a walk, and hide no Promise from it", async () => {
  const g = globalThis as Record<string, unknown>;
  const util = (await import("node:util")) as unknown as { types: Record<string, unknown> };
  using rt = new Runtime({ output: "ignore" });
  const ctx = rt.createContext("lua", { thread: false });
  ctx.eval("function id(...) return 1 end");
  let ran = 0;
  const saved = {
    Set: g.Set,
    isPromise: util.types.isPromise,
    mapNext: Object.getOwnPropertyDescriptor(Object.getPrototypeOf(new Map().entries()), "next")!,
    then: Promise.prototype.then,
  };
  const lost = await unhandledOf(() => {
    try {
      g.Set = class extends (saved.Set as SetConstructor) {
        constructor() {
          super();
          ran++;
          try { ctx.call("id", Symbol("s")); } catch { /* refused */ }
        }
      };
      util.types.isPromise = () => false;
      Object.defineProperty(Object.getPrototypeOf(new Map().entries()), "next", { ...saved.mapNext, value: () => { ran++; return { done: true, value: undefined }; } });
      // refused at its first key (the encoder reads no further), then walked
      const value = { s: Symbol("x"), list: [{ p: rej("in an array") }], map: new Map([[1, rej("in a Map")]]) };
      assert.throws(() => ctx.call("id", value));
    } finally {
      g.Set = saved.Set;
      util.types.isPromise = saved.isPromise;
      Object.defineProperty(Object.getPrototypeOf(new Map().entries()), "next", saved.mapNext);
    }
  });
  assert.equal(ran, 0, "a replaced built-in ran in the walk");
  assert.deepEqual(lost, []);
  assert.equal(Promise.prototype.then, saved.then);
});
