// Output: every engine's print (and console, io.write, Squirrel's printers) goes to one sink per context,
// in order with the host's own console.log, capped by the output limit, and a throwing callback never
// breaks the context.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CalogLimitError, CalogValueError, type EngineName, type Output, Runtime } from "../bindings/mod.ts";
import { isDeno, test } from "./harness.ts";

const modes = [true, false] as const;
type Line = [string, string];

/** A script per engine printing "a 1" to stdout and "b" to stderr, with what the sink should receive. */
const printing: Record<EngineName, { src: string; want: Line[]; trusted?: { src: string; want: Line[] } }> = {
  lua: {
    src: "print('a', 1, nil, true)",
    want: [["stdout", "a\t1\tnil\ttrue\n"]],
    trusted: {
      src: "io.write('w', 2, '\\n') io.stdout:write('o') io.stderr:write('e\\n') print('p')",
      want: [["stdout", "w2\n"], ["stdout", "o"], ["stderr", "e\n"], ["stdout", "p\n"]],
    },
  },
  js: {
    src: "print('a', 1, null, {}); console.log('l', [1, 2]); console.info('i'); console.warn('w'); console.error('e', 3)",
    want: [["stdout", "a 1 null [object Object]\n"], ["stdout", "l 1,2\n"], ["stdout", "i\n"], ["stderr", "w\n"], ["stderr", "e 3\n"]],
  },
  squirrel: {
    src: 'print("a " + 1 + "\\n"); error("b\\n");',
    want: [["stdout", "a 1\n"], ["stderr", "b\n"]],
    trusted: {
      src: "stdout.writen(65, 'c'); stderr.writen(66, 'c'); print(\"p\");",
      want: [["stdout", "A"], ["stderr", "B"], ["stdout", "p"]],
    },
  },
};

for (const thread of modes) {
  for (const engine of ["lua", "js", "squirrel"] as const) {
    const mode = thread ? "own thread" : "host thread";
    test(`${engine} (${mode}): print goes to the output callback`, async () => {
      using rt = new Runtime();
      const got: Line[] = [];
      const sink: Output = (text, stream) => void got.push([stream, String(text)]);
      using ctx = rt.createContext(engine, { thread, output: sink });
      ctx.eval(printing[engine].src);
      assert.deepEqual(got, printing[engine].want);
      got.length = 0;
      await ctx.evalAsync(printing[engine].src);
      assert.deepEqual(got, printing[engine].want);
      const t = printing[engine].trusted;
      if (t) {
        got.length = 0;
        using tr = rt.createContext(engine, { thread, output: sink, capabilities: "trusted" });
        tr.eval(t.src);
        assert.deepEqual(got, t.want);
      }
    });

    test(`${engine} (${mode}): a flood of output stops at the output limit`, () => {
      using rt = new Runtime();
      let bytes = 0, calls = 0;
      using ctx = rt.createContext(engine, {
        thread,
        output: (text) => {
          calls++;
          bytes += typeof text === "string" ? new TextEncoder().encode(text).length : text.length;
        },
        limits: { output: 1000 },
      });
      const flood = engine === "lua" ? "while true do print(('x'):rep(50)) end"
        : engine === "js" ? "while (true) print(new Array(51).join('x'))"
        : 'while (true) print("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\\n")';
      let err: unknown;
      try {
        ctx.eval(flood);
      } catch (e) {
        err = e;
      }
      assert.ok(err instanceof CalogLimitError, String(err));
      assert.equal(err.code, "ERR_LIMIT");
      assert.match(err.message, /output limit reached: more than 1000 bytes/);
      assert.ok(bytes <= 1000 && bytes >= 950, `delivered ${bytes} bytes in ${calls} calls`);
    });

    test(`${engine} (${mode}): a throwing output callback does not break the context`, async () => {
      using rt = new Runtime();
      let calls = 0;
      using ctx = rt.createContext(engine, {
        thread,
        output: () => {
          calls++;
          throw new Error("sink failed");
        },
      });
      const src = engine === "lua" ? "print('x') print('y') return 7"
        : engine === "js" ? "print('x'); console.error('y'); 7"
        : 'print("x"); error("y"); return 7;';
      assert.equal(ctx.eval(src), 7);
      assert.equal(await ctx.evalAsync(src), 7);
      assert.equal(calls, 4);
      assert.equal(ctx.eval(engine === "js" ? "1 + 1" : "return 1 + 1"), 2);
    });

    test(`${engine} (${mode}): "ignore" drops output`, () => {
      using rt = new Runtime({ output: "ignore" });
      using ctx = rt.createContext(engine, { thread });
      assert.equal(ctx.eval(engine === "js" ? "print('lost'); 1" : engine === "lua" ? "print('lost') return 1" : 'print("lost"); return 1;'), 1);
    });
  }
}

test("output that is not UTF-8 arrives as a Uint8Array; the runtime-wide sink is the default", () => {
  const got: (string | Uint8Array)[] = [];
  using rt = new Runtime({ output: (text) => void got.push(text) });
  using lua = rt.createContext("lua");
  lua.eval("print('caf\\xe9')");
  assert.ok(got[0] instanceof Uint8Array);
  assert.deepEqual([...(got[0] as Uint8Array)], [0x63, 0x61, 0x66, 0xe9, 0x0a]);
  using js = rt.createContext("js", { output: "ignore" });
  js.eval("print('not collected')");
  assert.equal(got.length, 1);
  using js2 = rt.createContext("js");
  js2.eval("print('smile ' + String.fromCharCode(0xD83D, 0xDE00))"); // a surrogate pair in Duktape
  assert.equal(got[1], "smile \u{1F600}\n");
});

test("an output callback may call back into the printing context (both thread modes)", async () => {
  using rt = new Runtime();
  for (const thread of modes) {
    const got: unknown[] = [];
    const lua: { ctx?: ReturnType<Runtime["createContext"]> } = {};
    lua.ctx = rt.createContext("lua", { thread, output: (text) => void got.push(String(text), lua.ctx!.eval("return counter")) });
    lua.ctx.eval("counter = 1 print('a') counter = 2 print('b')");
    await lua.ctx.evalAsync("counter = 3 print('c')");
    assert.deepEqual(got, ["a\n", 1, "b\n", 2, "c\n", 3]);
    lua.ctx.dispose();
  }
});

test("bad output options are a CalogValueError", () => {
  assert.throws(() => new Runtime({ output: "stdout" as Output }), CalogValueError);
  using rt = new Runtime();
  assert.throws(() => rt.createContext("lua", { output: 3 as unknown as Output }), CalogValueError);
});

test('"inherit" writes in order with the host\'s console.log (own and host thread, every engine)', () => {
  const dir = mkdtempSync(join(tmpdir(), "calog-order-"));
  try {
    const file = join(dir, "order.ts");
    const mod = new URL("../bindings/mod.ts", import.meta.url).href;
    writeFileSync(file, `
      import { Runtime } from ${JSON.stringify(mod)};
      using rt = new Runtime();
      for (const thread of [true, false]) {
        using lua = rt.createContext("lua", { thread });
        using js = rt.createContext("js", { thread });
        using sq = rt.createContext("squirrel", { thread });
        console.log("host 1");
        lua.eval("print('lua 1')");
        console.log("host 2");
        js.eval("console.log('js 1'); print('js 2')");
        console.log("host 3");
        sq.eval('print("sq 1\\\\n")');
        console.log("host 4");
        await lua.evalAsync("print('lua 2') print('lua 3')");
        console.log("host 5");
        rt.register("log", (s) => console.log(s));
        lua.eval("print('lua 4') log('host 6') print('lua 5')");
        console.log("host 7");
      }
    `);
    const args = isDeno ? ["run", "--allow-ffi", "--allow-env", "--allow-read", file] : [file];
    const r = spawnSync(process.execPath, args, { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const once = ["host 1", "lua 1", "host 2", "js 1", "js 2", "host 3", "sq 1", "host 4", "lua 2", "lua 3", "host 5",
      "lua 4", "host 6", "lua 5", "host 7"];
    assert.deepEqual(r.stdout.trimEnd().split("\n"), [...once, ...once]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
