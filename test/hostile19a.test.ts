// The nineteenth hostile pass (a): nesting (area 1) and async host functions (area 5); what it found, kept as
// regressions. Runs unchanged under Bun and Deno.
import assert from "node:assert/strict";
import { CalogError, Runtime } from "../bindings/mod.ts";
import { isDeno, test } from "./harness.ts";

// Host-thread contexts calling each other through function values nest in C, and every host function a script
// calls enters the JavaScript engine again from deeper in the C stack. V8 (Deno) allows about 1 MB of stack above
// the first call into calog, whatever C stack is left, so at about 50 Lua-to-Lua crossings (well inside calog's cap of
// 64 and its C stack check) V8 refused to enter the host callback: Deno returned 0 to the library, which decoded
// what an earlier call had left in its buffer ("malformed wire data" in the script), and raised the RangeError again
// at the outer ctx.call, a raw error that also replaced what the script had returned (or lost it, when a later host
// call succeeded). Now the script's call fails with "the host function could not run[, or ran and could not return its outcome]: the host's JavaScript stack is
// exhausted ...", and the outer call, if the engine raises its RangeError again, fails with a CalogNestingError whose
// cause is it. Bun reaches calog's crossing cap first (its stack limit is the thread's).
test("host-thread crossings that exhaust the JavaScript stack: a clear error in the script, a CalogError outside", () => {
  using rt = new Runtime();
  const A = rt.createContext("lua", { thread: false });
  const B = rt.createContext("lua", { thread: false });
  rt.register("h", () => 7);
  rt.register("peerA", () => B.getFunction("g"));
  rt.register("peerB", () => A.getFunction("g"));
  const src = (peer: string) => `
    log = {}
    function g(n)
      local ok, v = pcall(h)
      if not ok or v ~= 7 then log[#log + 1] = tostring(v) return "stopped" end
      local ok2, f = pcall(${peer})
      if not ok2 then log[#log + 1] = tostring(f) return "stopped" end
      local ok3, r = pcall(f, n + 1)
      if not ok3 then log[#log + 1] = tostring(r) return "stopped" end
      ${"if n == 5 and r == 'stopped' then local ok4, v4 = pcall(h) if not ok4 or v4 ~= 7 then log[#log + 1] = 'after: ' .. tostring(v4) end end"}
      return r
    end`;
  A.eval(src("peerA"));
  B.eval(src("peerB"));
  let outer: unknown = "returned";
  try {
    A.call("g", 0);
  } catch (e) {
    outer = e;
  }
  assert.ok(outer === "returned" || outer instanceof CalogError, `the outer call threw ${outer}`);
  const logs = [A.eval("return table.concat(log, '|')"), B.eval("return table.concat(log, '|')")].join("|");
  assert.ok(!/malformed/.test(logs), logs);
  for (const m of logs.split("|").filter((m) => m !== "")) {
    assert.match(m, /could not run, or ran and could not return its outcome: the host's JavaScript stack is exhausted|call nesting deeper than 64 crossings|not enough C stack left on this thread to enter a script/);
  }
  // under Deno the library's floor near V8's stack limit (calogStackFloorHere) is reached before the crossing cap
  if (isDeno) assert.match(logs, /could not run|not enough C stack left/, "V8's stack limit is reached before calog's crossing cap");
  assert.equal(A.eval("return h()"), 7); // still usable
}, 30_000);
