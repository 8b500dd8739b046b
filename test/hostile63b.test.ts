// Pass 63b (hostile review of d3de088: areas 3 and 4 between Lua, Squirrel and TypeScript). The test failed on d3de088
// because of the defect it names (under Deno; see the note on Bun).
import assert from "node:assert/strict";
import { CalogScriptError, CalogValueError, Runtime } from "../bindings/mod.ts";
import { caught, isDeno, test } from "./harness.ts";

// Low (an unclear error; area 4). A Lua script that raises a string longer than the host's longest string (V8: 2^29 - 24
// UTF-16 units, about 512 MiB; README, value mapping: such a string returned is a CalogValueError ERR_RANGE "a string of
// N bytes is longer than this JavaScript engine's longest string ...") reached TypeScript as the CalogScriptError "the
// call failed, and its error could not be read; its message, value and traceback are lost", with no cause: the wording
// calog keeps for a JavaScript stack that ran out. The same for error({ message = s }) and a __tostring returning s.
// Cause: src/runtime.ts Core.error turned every exception of the error's decode into that constant. Fixed: a refusal of
// the codec is named in the message ("its error cannot cross into JavaScript: a string of N bytes is longer ...") and is
// the error's cause. Deno only, host thread only (the path is the same on a context thread): under Bun, JavaScriptCore's
// longest string is about 2^31 units, beyond what Lua's string.rep makes here ("resulting string too large"); it takes
// about 27 s and 1.5 GB.
const N = 2 ** 29; // bytes: above V8's longest string (2^29 - 24), below 2^31
test("lua (host thread, Deno): a thrown string longer than the host's longest string gives an error that says so", () => {
  if (!isDeno) return; // unreachable under Bun (see above)
  using rt = new Runtime({ output: "ignore", limits: { memory: 4 * 1024 ** 3, timeoutMs: 120_000 } });
  using lua = rt.createContext("lua", { thread: false });
  const e = caught(() => lua.eval(`error(string.rep("x", ${N}), 0)`));
  assert.ok(e instanceof CalogScriptError, `${e}`);
  assert.match(e.message, /its error cannot cross into JavaScript: a string of \d+ bytes is longer than this JavaScript engine's longest string/);
  assert.ok(e.cause instanceof CalogValueError && (e.cause as { code?: string }).code === "ERR_RANGE", `cause: ${e.cause}`);
  assert.equal(lua.eval("return 1"), 1);
}, 300_000);
