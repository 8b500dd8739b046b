/* test_duktape.c -- JavaScript (Duktape 2.7, engine "js") through the public API: eval/call/get, natives,
 * function values both ways, every marshalling row, every error path, context lifetime, and the
 * execution-timeout hook. */
#include "calog.h"
#include "check.h"
#include "enginetest.h"
#include "raisemarks.h"
#include "memrace.h"
#include "internal.h" /* calog__ctxResolve for the timeout hook test */

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

static CalogContextIdT newJs(void) { return newCtxOf("js"); }


static CalogValueT bytes(const char *s, int64_t n) {
  CalogValueT v;
  calogValueString(&v, s, n);
  return v;
}

/* eval that must succeed and yield the bool true (the script checks itself) */
static bool evalTrue(CalogContextIdT id, const char *src) {
  CalogValueT r = calogValueNil();
  int32_t st = eval(id, src, &r);
  bool ok = st == CALOG_OK && r.type == CALOG_BOOL && r.as.b;
  if (!ok) fprintf(stderr, "  evalTrue(%s): status %d, %s\n", src, st, calogErrorMessage(&r, NULL));
  calogValueFree(&r);
  return ok;
}

static CalogValueT *mapGet(CalogValueT *m, const char *key) {
  CalogValueT k = str(key);
  CalogValueT *v = m->type == CALOG_AGGREGATE ? calogAggGet(m->as.agg, &k) : NULL;
  calogValueFree(&k);
  return v;
}

static CalogValueT list(int n, CalogValueT *items) {
  CalogValueT l;
  calogValueAgg(&l, CALOG_AGG_LIST);
  for (int i = 0; i < n; i++) calogAggPush(l.as.agg, &items[i]);
  return l;
}

static void set(CalogValueT *agg, CalogValueT k, CalogValueT v) { calogAggSet(agg->as.agg, &k, &v); }

/* calls the JS global fn with one argument (taken) and returns its status; result in *out */
static int32_t call1(CalogContextIdT id, const char *fn, CalogValueT arg, CalogValueT *out) {
  int32_t st = calogContextCall(rt, id, fn, &arg, 1, out);
  calogValueFree(&arg);
  return st;
}

/* ---- natives ------------------------------------------------------------------------------------- */
/* fails with a message holding a NUL and an invalid byte */
static int32_t failBinary(CalogValueT *args, int32_t argc, CalogValueT *result, void *ud) {
  (void)args, (void)argc, (void)ud;
  return calogErrorSet(result, CALOG_ERR_HOST, "host", "bad\0\xff", 5, NULL);
}

static int32_t failBare(CalogValueT *args, int32_t argc, CalogValueT *result, void *ud) {
  (void)args, (void)argc, (void)ud, (void)result;
  return CALOG_ERR_RANGE; /* no message at all */
}

static int releases;
static void countRelease(void *ud) {
  (void)ud;
  releases++;
}

static void testEvalCallGet(void) {
  CalogContextIdT id = newJs();
  CalogValueT r = calogValueNil();
  CHECK_EQ(eval(id, "1 + 2", &r), CALOG_OK); /* the completion value */
  CHECK_EQ(r.type, CALOG_INT);
  CHECK_EQ(r.as.i, 3);
  CHECK_EQ(eval(id, "var x = 5; x * 2", &r), CALOG_OK);
  CHECK_EQ(r.as.i, 10);
  CHECK_EQ(eval(id, "x", &r), CALOG_OK); /* vars of eval code are globals */
  CHECK_EQ(r.as.i, 5);
  CHECK_EQ(eval(id, "function mul(a, b) { return a * b }", &r), CALOG_OK);
  CHECK_EQ(r.type, CALOG_NIL);
  CalogValueT args[2] = {calogValueInt(6), calogValueReal(7.5)};
  CHECK_EQ(calogContextCall(rt, id, "mul", args, 2, &r), CALOG_OK);
  CHECK_EQ(r.type, CALOG_INT); /* 45: an integral JS number is an int */
  CHECK_EQ(r.as.i, 45);
  args[1] = calogValueReal(7.25);
  CHECK_EQ(calogContextCall(rt, id, "mul", args, 2, &r), CALOG_OK);
  CHECK(r.type == CALOG_REAL && r.as.r == 43.5);
  CHECK_EQ(calogContextGet(rt, id, "mul", &r), CALOG_OK);
  CHECK_EQ(r.type, CALOG_FN);
  CalogValueT r2 = calogValueNil();
  CHECK_EQ(calogFnInvoke(r.as.fn, args, 2, &r2), CALOG_OK);
  CHECK(r2.type == CALOG_REAL && r2.as.r == 43.5);
  calogValueFree(&r);
  CHECK_EQ(calogContextGet(rt, id, "x", &r), CALOG_OK);
  CHECK_EQ(r.as.i, 5);
  CHECK_EQ(calogContextGet(rt, id, "noSuchGlobal", &r), CALOG_OK);
  CHECK_EQ(r.type, CALOG_NIL);
  CHECK_EQ(eval(id, "'a\\u0000b'", &r), CALOG_OK);
  CHECK(r.type == CALOG_STRING && r.as.s.length == 3 && memcmp(r.as.s.bytes, "a\0b", 3) == 0);
  calogValueFree(&r);
  CHECK(calogContextMemory(rt, id) > 10000);
  CHECK_EQ(calogContextDestroy(rt, id), CALOG_OK);
  CHECK_EQ(calogContextMemory(rt, id), -1);
}

static void testNatives(void) {
  CHECK_EQ(calogRegister(rt, "add", add, NULL, NULL), CALOG_OK);
  CalogContextIdT id = newJs();
  CalogValueT r = calogValueNil();
  CHECK_EQ(eval(id, "add(40, 2)", &r), CALOG_OK);
  CHECK_EQ(r.as.i, 42);
  CHECK(evalTrue(id, "typeof add === 'function' && add.name === 'add'"));
  /* registered after the context exists: visible on the next entry */
  CHECK_EQ(calogRegister(rt, "echo", echo, NULL, NULL), CALOG_OK);
  CHECK_EQ(calogRegister(rt, "argCount", argCount, NULL, NULL), CALOG_OK);
  CHECK_EQ(calogRegister(rt, "failBinary", failBinary, NULL, NULL), CALOG_OK);
  CHECK_EQ(eval(id, "echo([1, 2, {x: 'y'}])", &r), CALOG_OK);
  CHECK_EQ(r.type, CALOG_AGGREGATE);
  CHECK_EQ(calogAggArrayCount(r.as.agg), 3);
  calogValueFree(&r);
  CHECK_EQ(eval(id, "argCount(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)", &r), CALOG_OK); /* > 8 args: heap array */
  CHECK_EQ(r.as.i, 12);
  CHECK(evalTrue(id, "echo.apply(null, new Array(300)) === undefined && argCount.apply(null, new Array(300)) === 300"));
  /* a native error is a JS Error: catchable, message intact */
  CHECK_EQ(eval(id, "try { add(1) } catch (e) { e.message }", &r), CALOG_OK);
  CHECK_STR(&r, "add expects two ints");
  CHECK(evalTrue(id, "try { add(1); false } catch (e) { e instanceof Error && /add expects/.test(String(e)) }"));
  /* message bytes preserved exactly, NUL and invalid UTF-8 included */
  CHECK_EQ(eval(id, "try { failBinary() } catch (e) { e.message }", &r), CALOG_OK);
  CHECK(r.type == CALOG_STRING && r.as.s.length == 5 && memcmp(r.as.s.bytes, "bad\0\xff", 5) == 0);
  calogValueFree(&r);
  CHECK_EQ(calogRegister(rt, "failBare", failBare, NULL, NULL), CALOG_OK);
  CHECK_EQ(eval(id, "try { failBare() } catch (e) { e.message }", &r), CALOG_OK);
  CHECK_STR(&r, "number out of range"); /* the status message stands in */
  calogValueFree(&r);
  /* uncaught: comes back with the message and the JS stack */
  CHECK_EQ(eval(id, "function outer() { add('x', 1) }\nouter()", &r), CALOG_ERR_SCRIPT);
  CHECK(strcmp(calogErrorMessage(&r, NULL), "add expects two ints") == 0);
  CHECK(strcmp(field(&r, "engine"), "js") == 0);
  CHECK_CONTAINS(field(&r, "traceback"), "outer");
  CHECK_CONTAINS(field(&r, "traceback"), "test:1");
  calogValueFree(&r);
  /* unregistered: a clean not-found error in the script */
  calogUnregister(rt, "echo");
  CHECK_EQ(eval(id, "echo(1)", &r), CALOG_ERR_SCRIPT);
  CHECK_CONTAINS(calogErrorMessage(&r, NULL), "no longer registered");
  calogValueFree(&r);
  calogRegister(rt, "echo", echo, NULL, NULL);
  calogContextDestroy(rt, id);
}

static void testFunctionValues(void) {
  calogRegister(rt, "applyPlusOne", applyPlusOne, NULL, NULL);
  CalogContextIdT id = newJs();
  CalogValueT r = calogValueNil(), r2 = calogValueNil();
  /* a JS closure passed to a native and called back */
  CHECK_EQ(eval(id, "var k = 2; applyPlusOne(function (x) { return x * k })", &r), CALOG_OK);
  CHECK_EQ(r.as.i, 41);
  /* ... also from inside a coroutine (the native re-enters the heap on the coroutine's thread) */
  CHECK_EQ(eval(id, "var th = new Duktape.Thread(function () { return applyPlusOne(function (y) { return y * k }) });"
                    "Duktape.Thread.resume(th)",
                &r),
           CALOG_OK);
  CHECK_EQ(r.as.i, 41);
  /* ... whose error comes back through the native as a catchable error with the JS message */
  CHECK(evalTrue(id, "try { applyPlusOne(function () { throw new TypeError('inner') }); false }"
                     "catch (e) { e.message === 'inner' }"));
  /* a C function value passed into JS is callable there and comes back as itself */
  releases = 0;
  CalogValueT f = calogValueFn(calogFnCreate(add, NULL, countRelease));
  CHECK_EQ(eval(id, "function callIt(f, a, b) { return f(a, b) } function same(f) { return f }"
                    "function isSame(g) { return g === same } function keep(f) { kept = f }"
                    "function tryIt(f) { try { f('x') } catch (e) { return e.message } }",
                &r),
           CALOG_OK);
  CalogValueT args[3] = {f, calogValueInt(1), calogValueInt(2)};
  CHECK_EQ(calogContextCall(rt, id, "callIt", args, 3, &r), CALOG_OK);
  CHECK_EQ(r.as.i, 3);
  CHECK_EQ(calogContextCall(rt, id, "tryIt", args, 1, &r), CALOG_OK);
  CHECK_STR(&r, "add expects two ints");
  calogValueFree(&r);
  CHECK_EQ(calogContextCall(rt, id, "same", args, 1, &r), CALOG_OK);
  CHECK(r.type == CALOG_FN && r.as.fn == f.as.fn);
  calogValueFree(&r);
  /* the wrapper was dropped by JS (refcount) and collected: its reference is gone, ours remains */
  CHECK_EQ(eval(id, "Duktape.gc(); Duktape.gc()", &r), CALOG_OK);
  CHECK_EQ(releases, 0);
  CHECK_EQ(calogContextCall(rt, id, "keep", args, 1, &r), CALOG_OK);
  calogValueFree(&f); /* JS still holds it */
  CHECK_EQ(releases, 0);
  CHECK_EQ(eval(id, "kept(2, 3)", &r), CALOG_OK);
  CHECK_EQ(r.as.i, 5);
  CHECK_EQ(eval(id, "kept = null; Duktape.gc()", &r), CALOG_OK); /* the JS side drops it: released once */
  CHECK_EQ(releases, 1);
  /* kept by JS until the context dies: released exactly once, by the destruction */
  releases = 0;
  f = calogValueFn(calogFnCreate(add, NULL, countRelease));
  CHECK_EQ(calogContextCall(rt, id, "keep", &f, 1, &r), CALOG_OK);
  CHECK_EQ(eval(id, "var alias = [kept, kept]", &r), CALOG_OK);
  calogValueFree(&f);
  CHECK_EQ(releases, 0);

  /* a JS function coming home is the original function, not a wrapper */
  CHECK_EQ(calogContextGet(rt, id, "same", &r), CALOG_OK);
  CHECK_EQ(calogContextCall(rt, id, "isSame", &r, 1, &r2), CALOG_OK);
  CHECK(r2.type == CALOG_BOOL && r2.as.b);
  CHECK_EQ(calogContextCall(rt, id, "same", &r, 1, &r2), CALOG_OK); /* out and back: a new handle, same fn */
  CHECK_EQ(r2.type, CALOG_FN);
  CalogValueT r3 = calogValueNil();
  CHECK_EQ(calogContextCall(rt, id, "isSame", &r2, 1, &r3), CALOG_OK);
  CHECK(r3.type == CALOG_BOOL && r3.as.b);
  calogValueFree(&r2);
  /* exported functions released by the host: their registry slots go on the next entry */
  for (int i = 0; i < 100; i++) {
    CHECK_EQ(calogContextGet(rt, id, "same", &r2), CALOG_OK);
    calogValueFree(&r2);
  }
  CHECK_EQ(eval(id, "1", &r2), CALOG_OK);

  /* a JS function crosses into Lua and is called there */
  CalogContextIdT lua = 0;
  CHECK_EQ(calogContextCreate(rt, "lua", 0, &lua, &r2), CALOG_OK);
  CHECK_EQ(eval(id, "function twice(x) { return [x, x] }", &r2), CALOG_OK);
  CHECK_EQ(calogContextGet(rt, id, "twice", &r2), CALOG_OK);
  CHECK_EQ(calogContextEval(rt, lua, "function ap(f, x) return #f(x) end", 34, "lua", &r3), CALOG_OK);
  CalogValueT la[2] = {r2, calogValueInt(7)};
  CHECK_EQ(calogContextCall(rt, lua, "ap", la, 2, &r3), CALOG_OK);
  CHECK_EQ(r3.as.i, 2);
  calogValueFree(&r2);
  calogContextDestroy(rt, lua);

  /* the context dies: the wrapper JS kept is released once, the exported function is dead */
  calogContextDestroy(rt, id);
  CHECK_EQ(releases, 1);
  CHECK_EQ(calogFnInvoke(r.as.fn, NULL, 0, &r2), CALOG_ERR_DEAD);
  calogValueFree(&r2);
  calogValueFree(&r);
}

/* A wrapper's reference is the wrapper's own: scripts can neither release it early (its finalizer is out of
 * their reach) nor keep it forever (removing or replacing the wrapper's finalizer changes nothing). */
static void testWrapperLifetime(void) {
  CalogContextIdT id = newJs();
  CalogValueT r = calogValueNil();
  CHECK_EQ(eval(id, "function keep(f) { kept = f }", &r), CALOG_OK);

  /* an index getter run while the wrapper's arguments cross tries to finalize the wrapper by hand and to drop
   * its only reference: the call goes on with a live function */
  releases = 0;
  CalogValueT f = calogValueFn(calogFnCreate(echo, NULL, countRelease));
  CHECK_EQ(calogContextCall(rt, id, "keep", &f, 1, &r), CALOG_OK);
  calogValueFree(&f); /* the wrapper holds the only reference */
  CHECK_EQ(eval(id, "var a = []; Object.defineProperty(a, 0, {get: function () {"
                    "  var fin = Duktape.fin(kept); if (typeof fin === 'function') { fin(kept); fin(kept) }"
                    "  Duktape.gc(); return 7 }});"
                    "kept(a)[0]",
                &r),
           CALOG_OK);
  CHECK(r.type == CALOG_INT && r.as.i == 7);
  CHECK_EQ(releases, 0);
  CHECK(evalTrue(id, "Duktape.fin(kept) === undefined && kept([1])[0] === 1"));
  /* an object inheriting from the wrapper is collected: the wrapper keeps its reference */
  CHECK_EQ(eval(id, "var d = Object.create(kept); d = null; var e = {__proto__: kept}; e = null; Duktape.gc(); kept([5])[0]",
                &r),
           CALOG_OK);
  CHECK_EQ(r.as.i, 5);
  CHECK_EQ(releases, 0);
  /* removing the wrapper's finalizer does not keep the reference alive once the wrapper is gone */
  CHECK_EQ(eval(id, "Duktape.fin(kept, null); kept = null; Duktape.gc()", &r), CALOG_OK);
  CHECK_EQ(releases, 1);

  /* a wrapper finalized in a cycle and rescued by a finalizer of the script's: dead, never freed twice */
  releases = 0;
  f = calogValueFn(calogFnCreate(echo, NULL, countRelease));
  CHECK_EQ(calogContextCall(rt, id, "keep", &f, 1, &r), CALOG_OK);
  calogValueFree(&f);
  CHECK_EQ(eval(id, "kept.self = kept; Duktape.fin(kept, function (o) { rescued = o });"
                    "kept = null; Duktape.gc(); Duktape.gc(); typeof rescued",
                &r),
           CALOG_OK);
  CHECK_STR(&r, "function");
  calogValueFree(&r);
  CHECK_EQ(releases, 1);
  CHECK(evalTrue(id, "try { rescued([1]); false } catch (e) { /released/.test(e.message) }"));
  CHECK_EQ(eval(id, "Duktape.fin(rescued, null); rescued.self = null; rescued = null; Duktape.gc()", &r), CALOG_OK);
  CHECK_EQ(releases, 1);

  /* a wrapper whose finalizer the script removed is released when the context is destroyed */
  releases = 0;
  f = calogValueFn(calogFnCreate(echo, NULL, countRelease));
  CHECK_EQ(calogContextCall(rt, id, "keep", &f, 1, &r), CALOG_OK);
  calogValueFree(&f);
  CHECK_EQ(eval(id, "Duktape.fin(kept, null); Duktape.fin(kept, function () {})", &r), CALOG_OK);
  CHECK_EQ(releases, 0);
  calogContextDestroy(rt, id);
  CHECK_EQ(releases, 1);
}

/* A wrapper dropped with Duktape's native call levels nearly used up: its finalizer, called there, failed ("C stack
 * depth limit") and the function value was kept until the context's destroy (pass 98a). The heap now leaves its
 * finalizers pending there (c/patches/duktape/102), and a later collection runs them. */
static void testFinalizerWaitsForLevels(void) {
  CalogContextIdT id = newJs();
  CalogValueT r = calogValueNil();
  CHECK_EQ(eval(id, "function keep(f) { kept = f }", &r), CALOG_OK);
  static const char *const bottoms[] = {"eval('kept = null; Duktape.gc()')",
                                        "[0].forEach(function () { kept = null; Duktape.gc() })"};
  int reached = 0;
  for (size_t b = 0; b < 2; b++) {
    for (int n = 490; n <= 500; n++) {
      releases = 0;
      CalogValueT f = calogValueFn(calogFnCreate(echo, NULL, countRelease));
      CHECK_EQ(calogContextCall(rt, id, "keep", &f, 1, &r), CALOG_OK);
      calogValueFree(&f);
      calogValueFree(&r);
      char src[512];
      snprintf(src, sizeof src,
               "function down(n) { if (n == 0) { %s; return 1 } return [0].map(function () { return down(n - 1) })[0] }"
               " down(%d)",
               bottoms[b], n);
      if (eval(id, src, &r) == CALOG_OK) reached++;
      calogValueFree(&r);
      CHECK_EQ(eval(id, "kept = null; Duktape.gc(); Duktape.gc()", &r), CALOG_OK);
      CHECK_EQ(releases, 1);
    }
  }
  CHECK(reached >= 2 * 8);
  calogContextDestroy(rt, id);
}

/* Releasing an exported function deletes its registry slot on the next entry; a finalizer run by that delete
 * can export (and so queue) another function: that one is deleted too, not lost. */
static void testFlushDead(void) {
  CalogContextIdT id = newJs();
  CalogValueT r = calogValueNil(), fa = calogValueNil();
  /* bound functions have no .prototype (no cycle): dropping the last reference frees them at once */
  CHECK_EQ(eval(id, "var bDone = false; var b = (function () {}).bind(null); Duktape.fin(b, function () { bDone = true });"
                    "var a = (function () {}).bind(null); Duktape.fin(a, function () { echo(b); b = null });",
                &r),
           CALOG_OK);
  CHECK_EQ(calogContextGet(rt, id, "a", &fa), CALOG_OK); /* registry slot 1 holds a */
  CHECK_EQ(eval(id, "a = null", &r), CALOG_OK);           /* ... and now only it */
  calogValueFree(&fa);                                    /* queues slot 1 */
  /* this entry deletes slot 1: a's finalizer exports b (slot 2) and drops it (queues slot 2) */
  CHECK_EQ(eval(id, "1", &r), CALOG_OK);
  CHECK_EQ(eval(id, "Duktape.gc(); bDone", &r), CALOG_OK); /* and this one slot 2 */
  CHECK(r.type == CALOG_BOOL && r.as.b);
  calogContextDestroy(rt, id);
}

static void testNumbersAndStrings(void) {
  CalogContextIdT id = newJs();
  CalogValueT r = calogValueNil();
  CHECK_EQ(eval(id, "function id(x) { return x } function t(x) { return typeof x }"
                    "function negZero(x) { return x === 0 && 1 / x === -Infinity }",
                &r),
           CALOG_OK);
  /* nil <-> undefined/null */
  CHECK_EQ(eval(id, "null", &r), CALOG_OK);
  CHECK_EQ(r.type, CALOG_NIL);
  CHECK_EQ(eval(id, "undefined", &r), CALOG_OK);
  CHECK_EQ(r.type, CALOG_NIL);
  CHECK_EQ(call1(id, "t", calogValueNil(), &r), CALOG_OK);
  CHECK_STR(&r, "undefined");
  calogValueFree(&r);
  /* booleans */
  CHECK_EQ(eval(id, "1 < 2", &r), CALOG_OK);
  CHECK(r.type == CALOG_BOOL && r.as.b);
  CHECK_EQ(call1(id, "id", calogValueBool(false), &r), CALOG_OK);
  CHECK(r.type == CALOG_BOOL && !r.as.b);
  /* numbers: integral within +-2^53 -> int, else real; -0, NaN, Infinity stay real */
  CHECK_EQ(eval(id, "Math.pow(2, 53)", &r), CALOG_OK);
  CHECK(r.type == CALOG_INT && r.as.i == ((int64_t)1 << 53));
  CHECK_EQ(eval(id, "-Math.pow(2, 53)", &r), CALOG_OK);
  CHECK(r.type == CALOG_INT && r.as.i == -((int64_t)1 << 53));
  CHECK_EQ(eval(id, "Math.pow(2, 53) + 2", &r), CALOG_OK);
  CHECK(r.type == CALOG_REAL && r.as.r == 9007199254740994.0);
  CHECK_EQ(eval(id, "2.5", &r), CALOG_OK);
  CHECK(r.type == CALOG_REAL && r.as.r == 2.5);
  CHECK_EQ(eval(id, "-0", &r), CALOG_OK);
  CHECK(r.type == CALOG_REAL && r.as.r == 0 && signbit(r.as.r));
  CHECK_EQ(eval(id, "NaN", &r), CALOG_OK);
  CHECK(r.type == CALOG_REAL && isnan(r.as.r));
  CHECK_EQ(eval(id, "-Infinity", &r), CALOG_OK);
  CHECK(r.type == CALOG_REAL && isinf(r.as.r) && r.as.r < 0);
  CHECK_EQ(call1(id, "negZero", calogValueReal(-0.0), &r), CALOG_OK);
  CHECK(r.type == CALOG_BOOL && r.as.b);
  CHECK_EQ(call1(id, "id", calogValueReal(NAN), &r), CALOG_OK);
  CHECK(r.type == CALOG_REAL && isnan(r.as.r));
  CHECK_EQ(call1(id, "id", calogValueInt(-42), &r), CALOG_OK);
  CHECK(r.type == CALOG_INT && r.as.i == -42);
  /* int64 beyond 2^53: strict -> ERR_RANGE, lenient -> the nearest double */
  int64_t big = ((int64_t)1 << 53) + 1;
  CHECK_EQ(call1(id, "id", calogValueInt((int64_t)1 << 53), &r), CALOG_OK);
  CHECK(r.type == CALOG_INT && r.as.i == ((int64_t)1 << 53));
  CHECK_EQ(call1(id, "id", calogValueInt(big), &r), CALOG_ERR_RANGE);
  CHECK_CONTAINS(calogErrorMessage(&r, NULL), "9007199254740993");
  calogValueFree(&r);
  CHECK_EQ(call1(id, "id", calogValueInt(-big), &r), CALOG_ERR_RANGE);
  calogValueFree(&r);
  calogSetPolicy(rt, CALOG_POLICY_LENIENT);
  CHECK_EQ(call1(id, "id", calogValueInt(big), &r), CALOG_OK);
  CHECK(r.type == CALOG_INT && r.as.i == ((int64_t)1 << 53)); /* rounded to 2^53, which is an int again */
  CHECK_EQ(call1(id, "id", calogValueInt(INT64_MAX), &r), CALOG_OK);
  CHECK(r.type == CALOG_REAL && r.as.r == 9223372036854775808.0);
  calogSetPolicy(rt, CALOG_POLICY_STRICT);

  /* strings: binary-safe both ways */
  CHECK_EQ(call1(id, "id", bytes("a\0b\0", 4), &r), CALOG_OK);
  CHECK(r.type == CALOG_STRING && r.as.s.length == 4 && memcmp(r.as.s.bytes, "a\0b\0", 4) == 0);
  calogValueFree(&r);
  CHECK_EQ(eval(id, "function len(s) { return typeof s === 'string' ? s.length : -1 }", &r), CALOG_OK);
  CHECK_EQ(call1(id, "len", bytes("a\0b\0", 4), &r), CALOG_OK);
  CHECK_EQ(r.as.i, 4);
  static const char bad[] = "x\xff\xfe\xc3(\xed\xa0\x80\x80z"; /* invalid UTF-8, a lone surrogate */
  CHECK_EQ(call1(id, "t", bytes(bad, sizeof bad - 1), &r), CALOG_OK);
  CHECK_STR(&r, "string");
  calogValueFree(&r);
  CHECK_EQ(call1(id, "id", bytes(bad, sizeof bad - 1), &r), CALOG_OK);
  CHECK(r.type == CALOG_STRING && r.as.s.length == (int64_t)sizeof bad - 1 && memcmp(r.as.s.bytes, bad, sizeof bad - 1) == 0);
  calogValueFree(&r);
  /* ... stored in a JS object and read back, concatenated (bytes kept) */
  CHECK_EQ(eval(id, "function box(s) { return {s: s} } function cat(s) { return s + s }", &r), CALOG_OK);
  CHECK_EQ(call1(id, "box", bytes(bad, sizeof bad - 1), &r), CALOG_OK);
  CalogValueT *s = mapGet(&r, "s");
  CHECK(s && s->type == CALOG_STRING && s->as.s.length == (int64_t)sizeof bad - 1 && memcmp(s->as.s.bytes, bad, sizeof bad - 1) == 0);
  calogValueFree(&r);
  CHECK_EQ(call1(id, "cat", bytes("a\xff\0", 3), &r), CALOG_OK);
  CHECK(r.type == CALOG_STRING && r.as.s.length == 6 && memcmp(r.as.s.bytes, "a\xff\0a\xff\0", 6) == 0);
  calogValueFree(&r);
  /* non-BMP text: UTF-8 outside, surrogate pairs (JS semantics) inside */
  static const char emoji[] = "\xf0\x9f\x98\x80"; /* U+1F600 */
  CHECK_EQ(eval(id, "'\\uD83D\\uDE00'", &r), CALOG_OK);
  CHECK(r.type == CALOG_STRING && r.as.s.length == 4 && memcmp(r.as.s.bytes, emoji, 4) == 0);
  calogValueFree(&r);
  CHECK_EQ(eval(id, "function isGrin(s) { return s === '\\uD83D\\uDE00' && s.length === 2 } true", &r), CALOG_OK);
  CHECK_EQ(call1(id, "isGrin", str(emoji), &r), CALOG_OK);
  CHECK(r.type == CALOG_BOOL && r.as.b);
  static const char mixed[] = "a\xf0\x9f\x98\x80\xff\0\xf0\x9f\x98z\xed\xa0\x80"; /* + a truncated one, a lone surrogate */
  CHECK_EQ(call1(id, "id", bytes(mixed, sizeof mixed - 1), &r), CALOG_OK);
  CHECK(r.type == CALOG_STRING && r.as.s.length == (int64_t)sizeof mixed - 1 && memcmp(r.as.s.bytes, mixed, sizeof mixed - 1) == 0);
  calogValueFree(&r);
  CHECK_EQ(call1(id, "len", str(emoji), &r), CALOG_OK);
  CHECK_EQ(r.as.i, 2);
  CHECK_EQ(eval(id, "var o = {}; o['\\uD83D\\uDE00'] = 1; o", &r), CALOG_OK); /* keys too */
  CHECK(r.type == CALOG_AGGREGATE && calogAggPairKey(r.as.agg, 0)->as.s.length == 4);
  calogValueFree(&r);
  CHECK_EQ(eval(id, "throw new Error('\\uD83D\\uDE00')", &r), CALOG_ERR_SCRIPT); /* and messages */
  CHECK(strcmp(calogErrorMessage(&r, NULL), emoji) == 0);
  calogValueFree(&r);
  /* bytes that already were an encoded surrogate pair enter as a Uint8Array and come back exactly (they came back as
   * the UTF-8 of the pair's character); as a map key, strict refuses them */
  CHECK_EQ(call1(id, "id", str("x\xed\xa0\xbd\xed\xb8\x80"), &r), CALOG_OK);
  CHECK(r.type == CALOG_STRING && r.as.s.length == 7 && memcmp(r.as.s.bytes, "x\xed\xa0\xbd\xed\xb8\x80", 7) == 0);
  calogValueFree(&r);
  CHECK_EQ(call1(id, "t", str("\xed\xa0\xbd\xed\xb8\x80"), &r), CALOG_OK);
  CHECK_STR(&r, "object");
  calogValueFree(&r);
  {
    CalogValueT m;
    calogValueAgg(&m, CALOG_AGG_MAP);
    set(&m, bytes("\xed\xa0\xbd\xed\xb8\x80", 6), calogValueInt(1));
    CHECK_EQ(call1(id, "id", m, &r), CALOG_ERR_TYPE);
    calogValueFree(&r);
  }
  /* a leading 0x80/0x81/0x82/0xFF byte would make a Symbol: such strings enter as a Uint8Array, round-trip */
  CHECK_EQ(call1(id, "t", bytes("\xff" "calogFn", 8), &r), CALOG_OK);
  CHECK_STR(&r, "object");
  calogValueFree(&r);
  CHECK(evalTrue(id, "function isU8(b) { return b instanceof Uint8Array && b.length === 3 && b[0] === 0x81 } true"));
  CHECK_EQ(call1(id, "isU8", bytes("\x81" "ab", 3), &r), CALOG_OK);
  CHECK(r.type == CALOG_BOOL && r.as.b);
  CHECK_EQ(call1(id, "id", bytes("\xff\x00\x80", 3), &r), CALOG_OK);
  CHECK(r.type == CALOG_STRING && r.as.s.length == 3 && memcmp(r.as.s.bytes, "\xff\x00\x80", 3) == 0);
  calogValueFree(&r);
  /* buffers from JS: their bytes */
  CHECK_EQ(eval(id, "new Uint8Array([104, 0, 105])", &r), CALOG_OK);
  CHECK(r.type == CALOG_STRING && r.as.s.length == 3 && memcmp(r.as.s.bytes, "h\0i", 3) == 0);
  calogValueFree(&r);
  CHECK_EQ(eval(id, "new Uint8Array([1, 2, 3, 4]).subarray(1, 3)", &r), CALOG_OK);
  CHECK(r.type == CALOG_STRING && r.as.s.length == 2 && memcmp(r.as.s.bytes, "\2\3", 2) == 0);
  calogValueFree(&r);
  CHECK_EQ(eval(id, "Uint8Array.allocPlain(2)", &r), CALOG_OK); /* a plain buffer */
  CHECK(r.type == CALOG_STRING && r.as.s.length == 2);
  calogValueFree(&r);
  CHECK_EQ(eval(id, "new TextEncoder().encode('\\u00e9')", &r), CALOG_OK);
  CHECK(r.type == CALOG_STRING && r.as.s.length == 2 && memcmp(r.as.s.bytes, "\xc3\xa9", 2) == 0);
  calogValueFree(&r);
  /* symbols and pointers: strict -> ERR_TYPE, lenient -> nil */
  CHECK_EQ(eval(id, "Symbol('s')", &r), CALOG_ERR_TYPE);
  calogValueFree(&r);
  calogSetPolicy(rt, CALOG_POLICY_LENIENT);
  CHECK_EQ(eval(id, "Symbol('s')", &r), CALOG_OK);
  CHECK_EQ(r.type, CALOG_NIL);
  calogSetPolicy(rt, CALOG_POLICY_STRICT);
  calogContextDestroy(rt, id);
}

static void testContainers(void) {
  CalogContextIdT id = newJs();
  CalogValueT r = calogValueNil();
  CHECK_EQ(eval(id, "function id(x) { return x } function json(x) { return JSON.stringify(x) }"
                    "function isArr(x) { return Array.isArray(x) }",
                &r),
           CALOG_OK);
  /* arrays <-> lists, objects <-> maps, empty ones keep their kind */
  CHECK_EQ(eval(id, "[]", &r), CALOG_OK);
  CHECK(r.type == CALOG_AGGREGATE && calogAggKind(r.as.agg) == CALOG_AGG_LIST && calogAggArrayCount(r.as.agg) == 0);
  calogValueFree(&r);
  CHECK_EQ(eval(id, "({})", &r), CALOG_OK);
  CHECK(r.type == CALOG_AGGREGATE && calogAggKind(r.as.agg) == CALOG_AGG_MAP && calogAggPairCount(r.as.agg) == 0);
  calogValueFree(&r);
  CalogValueT e;
  calogValueAgg(&e, CALOG_AGG_LIST);
  CHECK_EQ(call1(id, "json", e, &r), CALOG_OK);
  CHECK_STR(&r, "[]");
  calogValueFree(&r);
  calogValueAgg(&e, CALOG_AGG_MAP);
  CHECK_EQ(call1(id, "json", e, &r), CALOG_OK);
  CHECK_STR(&r, "{}");
  calogValueFree(&r);
  calogValueAgg(&e, CALOG_AGG_MAP);
  CHECK_EQ(call1(id, "isArr", e, &r), CALOG_OK);
  CHECK(r.type == CALOG_BOOL && !r.as.b);
  /* holes become nil */
  CHECK_EQ(eval(id, "[1, , 3]", &r), CALOG_OK);
  CHECK_EQ(calogAggArrayCount(r.as.agg), 3);
  CHECK_EQ(calogAggArrayAt(r.as.agg, 1)->type, CALOG_NIL);
  CHECK_EQ(calogAggArrayAt(r.as.agg, 2)->as.i, 3);
  calogValueFree(&r);
  CHECK_EQ(eval(id, "var a = []; a[3] = 'x'; a", &r), CALOG_OK);
  CHECK_EQ(calogAggArrayCount(r.as.agg), 4);
  calogValueFree(&r);
  CHECK_EQ(eval(id, "var a = []; a[4294967294] = 1; a", &r), CALOG_ERR_RANGE); /* sparse giant: refused */
  calogValueFree(&r);
  /* own enumerable string keys, insertion order; inherited and non-enumerable ones stay behind (an object
   * with a custom prototype: strict refuses it, lenient sends its own data properties) */
  CHECK_EQ(eval(id, "var o = Object.create({inherited: 1}); o.b = 1; o.a = [true, null];"
                    "Object.defineProperty(o, 'hidden', {value: 1, enumerable: false}); o",
                &r),
           CALOG_ERR_TYPE);
  CHECK_CONTAINS(calogErrorMessage(&r, NULL), "custom prototype");
  calogValueFree(&r);
  calogSetPolicy(rt, CALOG_POLICY_LENIENT);
  CHECK_EQ(eval(id, "o", &r), CALOG_OK);
  calogSetPolicy(rt, CALOG_POLICY_STRICT);
  CHECK_EQ(calogAggKind(r.as.agg), CALOG_AGG_MAP);
  CHECK_EQ(calogAggPairCount(r.as.agg), 2);
  CHECK_STR(calogAggPairKey(r.as.agg, 0), "b");
  CHECK_STR(calogAggPairKey(r.as.agg, 1), "a");
  CHECK_EQ(calogAggArrayCount(calogAggPairValue(r.as.agg, 1)->as.agg), 2);
  calogValueFree(&r);
  /* getters are never run while marshalling: strict -> ERR_TYPE, lenient -> the property is dropped */
  CHECK_EQ(eval(id, "var ran = 0; var g = {a: 1, get b() { ran++; return 2 }}; g", &r), CALOG_ERR_TYPE);
  CHECK_CONTAINS(calogErrorMessage(&r, NULL), "accessor");
  calogValueFree(&r);
  calogSetPolicy(rt, CALOG_POLICY_LENIENT);
  CHECK_EQ(eval(id, "g", &r), CALOG_OK);
  CHECK_EQ(calogAggPairCount(r.as.agg), 1);
  calogValueFree(&r);
  calogSetPolicy(rt, CALOG_POLICY_STRICT);
  CHECK(evalTrue(id, "ran === 0"));
  /* a Proxy: strict refuses it, lenient sends nil; no trap runs either way */
  CHECK_EQ(eval(id, "var trapped = 0; var px = new Proxy({a: 1}, {ownKeys: function () { trapped++; return ['a'] },"
                    "get: function () { trapped++; return 1 }}); px",
                &r),
           CALOG_ERR_TYPE);
  CHECK_CONTAINS(calogErrorMessage(&r, NULL), "Proxy");
  calogValueFree(&r);
  calogSetPolicy(rt, CALOG_POLICY_LENIENT);
  CHECK_EQ(eval(id, "px", &r), CALOG_OK);
  calogSetPolicy(rt, CALOG_POLICY_STRICT);
  CHECK(r.type == CALOG_NIL);
  calogValueFree(&r);
  CHECK(evalTrue(id, "trapped === 0"));
  /* an index getter does run (documented); if it throws, the error is clean and nothing leaks */
  CHECK_EQ(eval(id, "var b = [1, {deep: 'x'}]; Object.defineProperty(b, 2, {get: function () { throw new Error('idx') },"
                    "enumerable: true}); b",
                &r),
           CALOG_ERR_SCRIPT);
  CHECK_STR(mapGet(&r, "message"), "idx");
  calogValueFree(&r);

  /* lists and maps into JS */
  CalogValueT items[3] = {calogValueInt(1), str("two"), calogValueNil()};
  CHECK_EQ(call1(id, "json", list(3, items), &r), CALOG_OK);
  CHECK_STR(&r, "[1,\"two\",null]");
  calogValueFree(&r);
  CalogValueT m;
  calogValueAgg(&m, CALOG_AGG_MAP);
  set(&m, str("k"), str("v"));
  set(&m, calogValueInt(5), calogValueInt(1));                /* int key -> "5" */
  set(&m, calogValueReal(1.5), calogValueInt(2));             /* real key -> "1.5" */
  set(&m, calogValueReal(2.0), calogValueInt(3));             /* -> "2" */
  set(&m, calogValueInt(((int64_t)1 << 53) + 1), calogValueInt(4)); /* exact decimal */
  set(&m, str("__proto__"), calogValueInt(6));                /* an own key, not the prototype */
  CHECK_EQ(eval(id, "function keys(o) { return Object.keys(o).join(',') + '|' + (Object.getPrototypeOf(o) === Object.prototype) + '|' + o.k + o['5'] }", &r), CALOG_OK);
  CalogValueT m2;
  calogValueCopy(&m2, &m);
  CHECK_EQ(call1(id, "keys", m2, &r), CALOG_OK);
  CHECK_STR(&r, "2,5,k,1.5,9007199254740993,__proto__|true|v1");
  calogValueFree(&r);
  /* a map goes out as an object and comes back as a map with string keys (JS keys are strings) */
  CHECK_EQ(call1(id, "id", m, &r), CALOG_OK);
  CHECK_EQ(calogAggKind(r.as.agg), CALOG_AGG_MAP);
  CHECK_EQ(calogAggPairCount(r.as.agg), 6);
  CHECK_EQ(mapGet(&r, "1.5")->as.i, 2);
  calogValueFree(&r);
  /* BOTH: the array part under "1".."n", then the pairs */
  CalogValueT both;
  calogValueAgg(&both, CALOG_AGG_LIST);
  CalogValueT a1 = str("a"), a2 = str("b");
  calogAggPush(both.as.agg, &a1);
  calogAggPush(both.as.agg, &a2);
  set(&both, str("k"), str("v"));
  CHECK_EQ(calogAggKind(both.as.agg), CALOG_AGG_BOTH);
  CHECK_EQ(call1(id, "json", both, &r), CALOG_OK);
  CHECK_STR(&r, "{\"1\":\"a\",\"2\":\"b\",\"k\":\"v\"}");
  calogValueFree(&r);
  /* bool keys: strict -> ERR_TYPE, lenient -> "true"/"false" */
  calogValueAgg(&m, CALOG_AGG_MAP);
  set(&m, calogValueBool(true), calogValueInt(1));
  calogValueCopy(&m2, &m);
  CHECK_EQ(call1(id, "json", m2, &r), CALOG_ERR_TYPE);
  calogValueFree(&r);
  calogSetPolicy(rt, CALOG_POLICY_LENIENT);
  calogValueCopy(&m2, &m);
  CHECK_EQ(call1(id, "json", m2, &r), CALOG_OK);
  CHECK_STR(&r, "{\"true\":1}");
  calogValueFree(&r);
  calogSetPolicy(rt, CALOG_POLICY_STRICT);
  calogValueFree(&m);
  /* a key that would be a Symbol: strict -> ERR_TYPE, lenient -> dropped */
  calogValueAgg(&m, CALOG_AGG_MAP);
  set(&m, bytes("\xff" "calogFn", 8), calogValueInt(1));
  set(&m, str("ok"), calogValueInt(2));
  calogValueCopy(&m2, &m);
  CHECK_EQ(call1(id, "json", m2, &r), CALOG_ERR_TYPE);
  calogValueFree(&r);
  calogSetPolicy(rt, CALOG_POLICY_LENIENT);
  CHECK_EQ(call1(id, "json", m, &r), CALOG_OK);
  CHECK_STR(&r, "{\"ok\":2}");
  calogValueFree(&r);
  calogSetPolicy(rt, CALOG_POLICY_STRICT);

  /* shared (non-cyclic) subobjects are fine: copied twice; cycles are rejected */
  CHECK_EQ(eval(id, "var s = [1]; [s, {x: s}]", &r), CALOG_OK);
  CHECK_EQ(calogAggArrayCount(r.as.agg), 2);
  calogValueFree(&r);
  CHECK_EQ(eval(id, "var c = {}; c.self = c; c", &r), CALOG_ERR_CYCLE);
  CHECK_CONTAINS(calogErrorMessage(&r, NULL), "cycle");
  calogValueFree(&r);
  CHECK_EQ(eval(id, "var l = [1, [2]]; l[1].push(l); l", &r), CALOG_ERR_CYCLE);
  calogValueFree(&r);
  CHECK_EQ(eval(id, "var c2 = {}; c2.self = c2; try { echo(c2) } catch (e) { e.message }", &r), CALOG_OK);
  CHECK_CONTAINS(r.type == CALOG_STRING ? r.as.s.bytes : "", "cycle");
  calogValueFree(&r);

  /* depth cap, ingress: CALOG_MAX_DEPTH nested containers cross, one more does not */
  char src[160];
  snprintf(src, sizeof src, "var t = 1; for (var i = 0; i < %d; i++) t = [t]; t", CALOG_MAX_DEPTH);
  CHECK_EQ(eval(id, src, &r), CALOG_OK);
  calogValueFree(&r);
  snprintf(src, sizeof src, "var t = 1; for (var i = 0; i < %d; i++) t = {t: t}; t", CALOG_MAX_DEPTH + 1);
  CHECK_EQ(eval(id, src, &r), CALOG_ERR_DEPTH);
  calogValueFree(&r);
  /* depth cap, egress */
  CalogValueT deep = calogValueInt(0);
  for (int i = 0; i < CALOG_MAX_DEPTH; i++) {
    CalogValueT o;
    calogValueAgg(&o, CALOG_AGG_LIST);
    calogAggPush(o.as.agg, &deep);
    deep = o;
  }
  CHECK_EQ(eval(id, "function depth(x) { var d = 0; while (Array.isArray(x)) { x = x[0]; d++ } return d }", &r), CALOG_OK);
  CHECK_EQ(calogContextCall(rt, id, "depth", &deep, 1, &r), CALOG_OK);
  CHECK_EQ(r.as.i, CALOG_MAX_DEPTH);
  CalogValueT o;
  calogValueAgg(&o, CALOG_AGG_MAP);
  set(&o, str("d"), deep);
  CHECK_EQ(calogContextCall(rt, id, "depth", &o, 1, &r), CALOG_ERR_DEPTH);
  calogValueFree(&r);
  calogValueFree(&o);
  calogContextDestroy(rt, id);
}

static CalogContextIdT selfId;
static int32_t destroySelf(CalogValueT *args, int32_t argc, CalogValueT *result, void *ud) {
  (void)args, (void)argc, (void)ud;
  CHECK_EQ(calogContextDestroy(rt, selfId), CALOG_OK);
  *result = calogValueInt(1);
  return CALOG_OK;
}
static int32_t reenter(CalogValueT *args, int32_t argc, CalogValueT *result, void *ud) {
  (void)args, (void)argc, (void)ud;
  return calogContextEval(rt, selfId, "reenter()", 9, "loop", result);
}

static void testErrorsAndLifetime(void) {
  CalogContextIdT id = newJs();
  CalogValueT r = calogValueNil();
  CHECK_EQ(eval(id, "1 +", &r), CALOG_ERR_SYNTAX);
  CHECK_CONTAINS(calogErrorMessage(&r, NULL), "parse error");
  CHECK(strcmp(field(&r, "engine"), "js") == 0);
  calogValueFree(&r);
  CHECK_EQ(eval(id, "return 1", &r), CALOG_ERR_SYNTAX); /* eval code is not a function body */
  calogValueFree(&r);
  CHECK_EQ(eval(id, "JSON.parse('{')", &r), CALOG_ERR_SCRIPT); /* a SyntaxError at run time is a script error */
  calogValueFree(&r);
  CHECK_EQ(eval(id, "var n = null;\nn.y", &r), CALOG_ERR_SCRIPT);
  CHECK_CONTAINS(calogErrorMessage(&r, NULL), "null");
  CHECK_CONTAINS(field(&r, "traceback"), "TypeError");
  CHECK_CONTAINS(field(&r, "traceback"), "test:2");
  calogValueFree(&r);
  /* a built-in's text for an object or a function is marked a placeholder; the same text from a script's toString,
   * or a thrown string, is its own (pass 48b) */
  CHECK_EQ(eval(id, "throw { toString: function () { return '[object Thing]' } }", &r), CALOG_ERR_SCRIPT);
  CHECK(strcmp(calogErrorMessage(&r, NULL), "[object Thing]") == 0 && !placeholder(&r));
  calogValueFree(&r);
  CHECK_EQ(eval(id, "throw '[object Object]'", &r), CALOG_ERR_SCRIPT);
  CHECK(!placeholder(&r));
  calogValueFree(&r);
  CHECK_EQ(eval(id, "var f = function () {}; Object.defineProperty(f, 'name', { value: 'a-b' }); throw f", &r), CALOG_ERR_SCRIPT);
  CHECK(placeholder(&r));
  calogValueFree(&r);
  /* a plain buffer and a pointer are no objects, and their built-in texts are stand-ins all the same (pass 49b) */
  CHECK_EQ(eval(id, "throw Duktape.dec('hex', 'fffe')", &r), CALOG_ERR_SCRIPT);
  CHECK(strcmp(calogErrorMessage(&r, NULL), "[object Uint8Array]") == 0 && placeholder(&r));
  calogValueFree(&r);
  CHECK_EQ(eval(id, "throw Duktape.Pointer('x')", &r), CALOG_ERR_SCRIPT);
  CHECK_CONTAINS(calogErrorMessage(&r, NULL), "js threw a pointer that cannot cross");
  CHECK(!placeholder(&r)); /* what replaced the stand-in says something */
  calogValueFree(&r);
  /* an object that cannot cross says its own message data property first (pass 50b) */
  CHECK_EQ(eval(id, "function MyErr(m) { this.message = m }; throw new MyErr('disk full')", &r), CALOG_ERR_SCRIPT);
  CHECK(strcmp(calogErrorMessage(&r, NULL), "disk full") == 0);
  calogValueFree(&r);
  CHECK_EQ(eval(id, "throw [1, 2]", &r), CALOG_ERR_SCRIPT);
  CHECK(strcmp(calogErrorMessage(&r, NULL), "[object Array]") == 0 && placeholder(&r));
  calogValueFree(&r);
  CHECK_EQ(eval(id, "throw {a: 1}", &r), CALOG_ERR_SCRIPT); /* the thrown value is the record's value */
  CHECK(placeholder(&r));
  CHECK(calogErrorValue(&r) != NULL && calogErrorValue(&r)->type == CALOG_AGGREGATE);
  CHECK(mapGet((CalogValueT *)calogErrorValue(&r), "a") != NULL && mapGet((CalogValueT *)calogErrorValue(&r), "a")->as.i == 1);
  calogValueFree(&r);
  CHECK_EQ(eval(id, "throw new RangeError('r')", &r), CALOG_ERR_SCRIPT); /* an Error: message + stack, no value */
  CHECK(calogErrorValue(&r) == NULL);
  calogValueFree(&r);
  /* strict: non-plain objects and non-byte views do not cross as {} */
  static const char *const refused[] = {"new Date(0)", "new Error('x')", "/a/", "new Proxy({a: 1}, {})",
                                         "new Float32Array(1)", "new (function C() { this.a = 1; })()"};
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
    CHECK_EQ(eval(id, refused[i], &r), CALOG_ERR_TYPE);
    calogValueFree(&r);
  }
  { /* keys that collide as property names */
    CalogValueT m;
    calogValueAgg(&m, CALOG_AGG_MAP);
    set(&m, calogValueInt(1), str("int"));
    set(&m, str("1"), str("string"));
    CHECK_EQ(eval(id, "function idf(v) { return v; }", &r), CALOG_OK);
    calogValueFree(&r);
    CHECK_EQ(call1(id, "idf", m, &r), CALOG_ERR_TYPE);
    CHECK_CONTAINS(calogErrorMessage(&r, NULL), "same JS property name");
    calogValueFree(&r);
  }
  CHECK_EQ(eval(id, "throw 'boom'", &r), CALOG_ERR_SCRIPT); /* not an Error: ToString, no traceback */
  CHECK(strcmp(calogErrorMessage(&r, NULL), "boom") == 0);
  CHECK(strcmp(field(&r, "traceback"), "") == 0);
  calogValueFree(&r);
  CHECK_EQ(eval(id, "throw {toString: function () { return 'custom' }}", &r), CALOG_ERR_SCRIPT);
  CHECK(strcmp(calogErrorMessage(&r, NULL), "custom") == 0);
  calogValueFree(&r);
  CHECK_EQ(eval(id, "throw {toString: function () { throw new Error('worse') }}", &r), CALOG_ERR_SCRIPT);
  CHECK(strlen(calogErrorMessage(&r, NULL)) > 0);
  calogValueFree(&r);
  CHECK_EQ(eval(id, "throw Symbol('s')", &r), CALOG_ERR_SCRIPT);
  calogValueFree(&r);
  CHECK_EQ(calogContextCall(rt, id, "nope", NULL, 0, &r), CALOG_ERR_NOT_FOUND);
  calogValueFree(&r);
  CHECK_EQ(eval(id, "var x = 5", &r), CALOG_OK);
  CHECK_EQ(calogContextCall(rt, id, "x", NULL, 0, &r), CALOG_ERR_NOT_FOUND);
  calogValueFree(&r);
  CHECK_EQ(calogContextCall(rt, id, "\xff" "calogFns", NULL, 0, &r), CALOG_ERR_NOT_FOUND);
  calogValueFree(&r);
  CHECK_EQ(eval(id, "function f() { return f() + 1 } f()", &r), CALOG_ERR_SCRIPT); /* stack overflow */
  calogValueFree(&r);
  CHECK_EQ(calogContextCreate(rt, "cobol", 0, &selfId, &r), CALOG_ERR_ENGINE);
  calogValueFree(&r);
  /* JS finalizers that call natives do not upset a native's error or result; Duktape's errCreate hook is reserved
   * (it ran at every error calog raised, and could replace it) */
  CHECK_EQ(eval(id, "try { Duktape.errCreate = function (e) { echo([1, 2, 3]); return e }; } catch (e) { e.message }", &r),
           CALOG_OK);
  CHECK_STR(&r, "Duktape.errCreate is reserved by calog (errors come back to the caller with their value and cause)");
  calogValueFree(&r);
  CHECK_EQ(eval(id, "for (var i = 0; i < 50; i++) Duktape.fin({}, function () { echo({a: [1]}) });"
                    "try { add(1) } catch (e) { e.message }",
                &r),
           CALOG_OK);
  CHECK_STR(&r, "add expects two ints");
  calogValueFree(&r);

  /* unbounded host re-entry fails with a clean nesting error, not a C stack overflow */
  calogRegister(rt, "reenter", reenter, NULL, NULL);
  selfId = id;
  CHECK_EQ(eval(id, "reenter()", &r), CALOG_ERR_SCRIPT);
  CHECK_CONTAINS(calogErrorMessage(&r, NULL), "nesting");
  calogValueFree(&r);
  CHECK_EQ(eval(id, "1", &r), CALOG_OK); /* the context is still fine */

  /* stale ids: destroyed contexts, and a recycled slot never answers to the old id */
  calogContextDestroy(rt, id);
  CHECK_EQ(eval(id, "1", &r), CALOG_ERR_DEAD);
  calogValueFree(&r);
  CHECK_EQ(calogContextDestroy(rt, id), CALOG_ERR_DEAD);
  CalogContextIdT id2 = newJs();
  CHECK((id2 & 0xFFFF) == (id & 0xFFFF)); /* same slot */
  CHECK(id2 != id);                       /* new generation */
  CHECK_EQ(eval(id, "1", &r), CALOG_ERR_DEAD);
  calogValueFree(&r);
  CHECK_EQ(eval(id2, "1", &r), CALOG_OK);

  /* a context destroyed from inside its own call is interrupted (the dead error), then freed when the call unwinds */
  calogRegister(rt, "destroySelf", destroySelf, NULL, NULL);
  selfId = id2;
  CHECK_EQ(eval(id2, "var v = destroySelf(); v + 1", &r), CALOG_ERR_DEAD); /* the context was destroyed: not a limit */
  CHECK_CONTAINS(calogErrorMessage(&r, NULL), "destroyed");
  calogValueFree(&r);
  CHECK_EQ(eval(id2, "1", &r), CALOG_ERR_DEAD);
  calogValueFree(&r);
  /* ... also from inside an exported function invoked by the host */
  CalogContextIdT id3 = newJs();
  selfId = id3;
  CHECK_EQ(eval(id3, "function bye() { destroySelf(); return [1, 2] }", &r), CALOG_OK);
  CHECK_EQ(calogContextGet(rt, id3, "bye", &r), CALOG_OK);
  CalogValueT r2 = calogValueNil();
  CHECK_EQ(calogFnInvoke(r.as.fn, NULL, 0, &r2), CALOG_ERR_DEAD);
  calogValueFree(&r2);
  CHECK_EQ(calogFnInvoke(r.as.fn, NULL, 0, &r2), CALOG_ERR_DEAD);
  calogValueFree(&r2);
  calogValueFree(&r);
}

/* the exec-timeout hook (DUK_USE_EXEC_TIMEOUT_CHECK) is wired to the context's limits */
static void testTimeoutHook(void) {
  CalogContextIdT id = newJs();
  CalogValueT r = calogValueNil();
  CHECK_EQ(calogContextEvalTimed(rt, id, "while (true) {}", 15, NULL, 50, &r), CALOG_ERR_LIMIT);
  CHECK_CONTAINS(calogErrorMessage(&r, NULL), "timeout");
  calogValueFree(&r);
  CHECK_EQ(eval(id, "var n = 0; for (var i = 0; i < 100000; i++) n += i; n", &r), CALOG_OK);
  CHECK_EQ(r.as.i, 4999950000);
  calogContextDestroy(rt, id);
}

static void testManyContexts(void) {
  for (int i = 0; i < 300; i++) {
    CalogContextIdT id = newJs();
    CalogValueT r = calogValueNil();
    eval(id, "function f(t) { return t.length } f([1, 2])", &r);
    CalogValueT fn = calogValueNil();
    calogContextGet(rt, id, "f", &fn); /* outlives its context */
    calogContextDestroy(rt, id);
    calogValueFree(&fn);
  }
  CHECK(1);
}


/* Issue 12, second hostile pass: arrays with named properties (V1), messages for odd throws (E6). */
static void testHostile2(void) {
  CalogContextIdT id = newJs();
  CalogValueT r = calogValueNil();
  CHECK_EQ(eval(id, "var a = [1, 2]; a.x = 1; a", &r), CALOG_ERR_TYPE);
  CHECK_CONTAINS(calogErrorMessage(&r, NULL), "named properties");
  calogValueFree(&r);
  CHECK_EQ(eval(id, "echo(a)", &r), CALOG_ERR_SCRIPT); /* into a native too */
  calogValueFree(&r);
  CHECK_EQ(eval(id, "var b = [1, 2]; b[5] = 3; Object.defineProperty(b, 'h', {value: 1, enumerable: false}); b", &r), CALOG_OK);
  CHECK(r.type == CALOG_AGGREGATE && calogAggArrayCount(r.as.agg) == 6);
  calogValueFree(&r);
  CHECK_EQ(eval(id, "var c = []; c[1e6] = 1; c.length = 0; c", &r), CALOG_OK); /* emptied: nothing named */
  CHECK(r.type == CALOG_AGGREGATE && calogAggArrayCount(r.as.agg) == 0);
  calogValueFree(&r);
  calogSetPolicy(rt, CALOG_POLICY_LENIENT);
  CHECK_EQ(eval(id, "a", &r), CALOG_OK);
  CHECK(r.type == CALOG_AGGREGATE && calogAggArrayCount(r.as.agg) == 2 && calogAggPairCount(r.as.agg) == 0);
  calogValueFree(&r);
  calogSetPolicy(rt, CALOG_POLICY_STRICT);
  CHECK_EQ(eval(id, "throw Symbol('s')", &r), CALOG_ERR_SCRIPT);
  CHECK(strcmp(calogErrorMessage(&r, NULL), "js threw Symbol(s)") == 0);
  calogValueFree(&r);
  CHECK_EQ(eval(id, "var o = {}; o.o = o; throw o", &r), CALOG_ERR_SCRIPT);
  CHECK(strcmp(calogErrorMessage(&r, NULL), "js threw an object that cannot cross: object contains itself (a cycle)") == 0);
  calogValueFree(&r);
  calogContextDestroy(rt, id);
}

/* fails like a host function passing on a nil another engine threw, with its exception's marks (raisemarks.h) */
static int32_t raiseNilMarked(CalogValueT *args, int32_t argc, CalogValueT *result, void *ud) {
  int32_t st = raiseMarked(args, argc, result, ud);
  raiseSet(result, "value", calogValueNil());
  return st;
}

/* A finally block entered by a throw holds it (Duktape patch 98): the in-flight record of a null it holds is out of
 * every search meanwhile and the newest again when the block's end passes it on; one a throw or return left behind is
 * never found (a pending own null took a host nil's marks and text after a throw in the block replaced that nil and a
 * catch caught the replacement: pass 51a), and what one catcher left goes when it parks again. */
static void testFinallyHoldsAThrow(void) {
  CHECK_EQ(calogRegister(rt, "nilMarked", raiseNilMarked, (void *)"host nil", NULL), CALOG_OK);
  CalogContextIdT id = newJs();
  CalogValueT r = calogValueNil();
  static const struct { const char *src; int32_t status; int64_t host; } cases[] = {
      {"nilMarked()", CALOG_ERR_PERMISSION, 42},
      {"try { nilMarked() } finally { try { throw null } catch (e) {} }", CALOG_ERR_PERMISSION, 42},
      {"try { throw null } finally { try { try { nilMarked() } finally { throw null } } catch (e) {} }", CALOG_ERR_SCRIPT, 0},
      {"function h() { try { try { nilMarked() } finally { throw null } } finally { return 1 } }\n"
       "try { throw null } finally { h() }", CALOG_ERR_SCRIPT, 0},
      /* 100 catchers left behind at one slot: one record at a time, so the held nil is not evicted at the bound of 64 */
      {"try { nilMarked() } finally {\n"
       "  for (var i = 0; i < 100; i++) try { try { throw null } finally { throw null } } catch (e) {} }",
       CALOG_ERR_PERMISSION, 42},
      {"try { try { nilMarked() } finally { x = 1 } } finally { try { throw null } catch (e) {} }", CALOG_ERR_PERMISSION, 42},
      /* 64 levels of a recursion, each leaving a catcher with a return: each record goes with its catcher, none evicts
       * the held one (pass 52a) */
      {"function r(n) { if (n > 0) r(n - 1); try { throw null } finally { return } }\n"
       "try { nilMarked() } finally { r(63) }", CALOG_ERR_PERMISSION, 42},
      {"function r(n) { if (n > 0) r(n - 1); L: try { throw null } finally { break L } }\n"
       "try { nilMarked() } finally { r(100) }", CALOG_ERR_PERMISSION, 42},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    CHECK_EQ(eval(id, cases[i].src, &r), cases[i].status);
    CHECK_EQ(raiseIntField(&r, "host"), cases[i].host);
    CHECK_EQ(raiseIntField(&r, "status"), cases[i].host ? CALOG_ERR_PERMISSION : 0);
    if (cases[i].host) CHECK_CONTAINS(calogErrorMessage(&r, NULL), "host nil");
    else CHECK(strcmp(calogErrorMessage(&r, NULL), "null") == 0);
    calogValueFree(&r);
  }
  /* a coroutine paused in the block: what it holds outlives the entry and goes on when it is resumed (pass 52a); one
   * collected paused, or left in its heap at destroy, takes its record with it */
  CHECK_EQ(eval(id, "var T = new Duktape.Thread(function () { try { nilMarked() } finally { Duktape.Thread.yield(1) } });\n"
                    "Duktape.Thread.resume(T)", &r), CALOG_OK);
  calogValueFree(&r);
  CHECK_EQ(eval(id, "try { throw null } catch (e) {} Duktape.Thread.resume(T)", &r), CALOG_ERR_PERMISSION);
  CHECK_EQ(raiseIntField(&r, "host"), 42);
  calogValueFree(&r);
  CHECK_EQ(eval(id, "for (var i = 0; i < 100; i++) { var U = new Duktape.Thread(function () {\n"
                    "  try { nilMarked() } finally { Duktape.Thread.yield(1) } }); Duktape.Thread.resume(U) }\n"
                    "U = null; Duktape.gc(); throw null", &r), CALOG_ERR_SCRIPT);
  CHECK_EQ(raiseIntField(&r, "host"), 0);
  calogValueFree(&r);
  CHECK_EQ(eval(id, "var V = new Duktape.Thread(function () { try { nilMarked() } finally { Duktape.Thread.yield(1) } });\n"
                    "Duktape.Thread.resume(V)", &r), CALOG_OK);
  calogValueFree(&r);
  /* an error a script makes from a marked one inherits none of its marks: it is another error (pass 54a) */
  CHECK_EQ(calogRegister(rt, "marked", raiseMarked, (void *)"host text", NULL), CALOG_OK);
  CHECK_EQ(eval(id, "try { marked() } catch (e) { throw e }", &r), CALOG_ERR_PERMISSION);
  CHECK_EQ(raiseIntField(&r, "host"), 42);
  calogValueFree(&r);
  CHECK_EQ(eval(id, "try { marked() } catch (e) { var m = Object.create(e); m.message = 'mine'; throw m }", &r),
           CALOG_ERR_SCRIPT);
  CHECK_EQ(raiseIntField(&r, "host"), 0);
  CHECK_EQ(raiseIntField(&r, "status"), 0);
  calogValueFree(&r);
  CHECK_EQ(eval(id, "try { marked() } catch (e) { var m = new Error('mine'); Object.setPrototypeOf(m, e); throw m }", &r),
           CALOG_ERR_SCRIPT);
  CHECK_EQ(raiseIntField(&r, "host"), 0);
  calogValueFree(&r);
  calogUnregister(rt, "marked");
  calogContextDestroy(rt, id);
  calogUnregister(rt, "nilMarked");
}

int main(void) {
  rt = calogCreate();
  testEvalCallGet();
  testNatives();
  testFunctionValues();
  testWrapperLifetime();
  testFinalizerWaitsForLevels();
  testFlushDead();
  testNumbersAndStrings();
  testContainers();
  testErrorsAndLifetime();
  testTimeoutHook();
  testManyContexts();
  testMemoryCounterRace(rt, "js", "var t = [], i = 0; do { t[i % 1000] = {i: i}; i++ } while (!memRaceDone() && i < 10000000); i");
  testRaiseMarks(rt, &(RaiseSrcT){"js", "markedShort()", "try { markedShort() } catch (e) {} throw new Error('short')",
   "try { markedLong() } catch (e) { throw e }", CALOG_ERR_PERMISSION, "try { valued() } catch (e) { e.code }"});
  testHostile2();
  testFinallyHoldsAThrow();
  calogDestroy(rt);
  return checkSummary("test_duktape");
}
