/* fuzz_compile.c -- libFuzzer target, built once per engine (-DFUZZ_ENGINE="lua"|"js"|"squirrel"): the
 * engine's parser and compiler on arbitrary source, the source string marshalled in and the error out.
 * The source is compiled, not run: an arbitrary program may loop forever, and step/time limits are not part
 * of this layer (a run needs them). Nesting to any depth must end in an error, never a crash. */
#include "calog.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef FUZZ_ENGINE
#error define FUZZ_ENGINE
#endif

static CalogT *rt;
static CalogContextIdT id;

/* After each compile, gc() runs a full collection (a second entry, so the message compile returned is garbage
 * by then): what the input allocated is freed within it, so libFuzzer's per-input leak check (run when an
 * input leaves more mallocs than frees) stays quiet for garbage the engine would have freed later and still
 * fires for a real leak. (Without it LeakSanitizer scanned the heap after most inputs: 70% of the time.) */
static const char *compiler(void) {
  if (strcmp(FUZZ_ENGINE, "lua") == 0)
    return "function compile(s) local f, e = load(s, 'fuzz', 't', {}) return e end "
           "local cg = collectgarbage function gc() cg() end";
  if (strcmp(FUZZ_ENGINE, "js") == 0)
    return "function compile(s) { try { new Function(s); } catch (e) { return String(e); } } "
           "var gc = (function (f) { return function () { f(); }; })(Duktape.gc);";
  return "function compile(s) { try { compilestring(s, \"fuzz\"); } catch (e) { return e; } } "
         "local cg = collectgarbage; function gc() { cg(); }";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (rt == NULL) {
    CalogValueT r = calogValueNil();
    rt = calogCreate();
    if (rt == NULL || calogContextCreate(rt, FUZZ_ENGINE, CALOG_CONTEXT_HOST_THREAD, &id, &r) != CALOG_OK) abort();
    const char *src = compiler();
    if (calogContextEval(rt, id, src, (int64_t)strlen(src), "setup", &r) != CALOG_OK) abort();
    calogValueFree(&r);
  }
  CalogValueT arg, r = calogValueNil();
  if (calogValueString(&arg, (const char *)data, (int64_t)size) != CALOG_OK) abort();
  int32_t st = calogContextCall(rt, id, "compile", &arg, 1, &r);
  /* compiling never fails the call itself; it returns the error message or nothing (a binary Lua chunk is a
   * denied capability: the sandbox's load refuses it with CALOG_ERR_PERMISSION) */
  if (st != CALOG_OK && st != CALOG_ERR_NESTING && st != CALOG_ERR_SCRIPT && st != CALOG_ERR_OOM &&
      st != CALOG_ERR_PERMISSION)
    abort();
  calogValueFree(&arg);
  calogValueFree(&r);
  if (calogContextCall(rt, id, "gc", NULL, 0, &r) != CALOG_OK) abort();
  calogValueFree(&r);
  return 0;
}
