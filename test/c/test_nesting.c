/* test_nesting.c -- hostile nesting, every engine: a source nested to any depth (parentheses, brackets,
 * braces, blocks, nested functions, chains of unary or right-associative operators...) fails with
 * CALOG_ERR_SYNTAX and never overflows the C stack, on the host thread, on a context's own thread, and on a
 * host thread with a small stack; script-controlled recursion at run time (deep JSON, regexps, tostring,
 * serialisation) fails with an error too. Set CALOG_TEST_STACK=1 to print the C stack each case used. */
#include "calog.h"
#include "check.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

/* The small host stack: what a host thread may offer (a worker thread, an embedding's thread pool). */
#define SMALL_STACK (512u * 1024u)

typedef struct NestT {
  const char *engine, *name;
  const char *head, *open, *core, *close, *tail;
} NestT;

static const NestT cases[] = {
    {"lua", "parentheses", "return ", "(", "1", ")", ""},
    {"lua", "tables", "return ", "{", "", "}", ""},
    {"lua", "blocks", "", "do ", "", " end", ""},
    {"lua", "functions", "", "local f = function() ", "", " end", ""},
    {"lua", "unary minus", "return ", "- ", "1", "", ""},
    {"lua", "not", "return ", "not ", "true", "", ""},
    {"lua", "power chain", "return ", "2^", "1", "", ""},
    {"lua", "concat chain", "return ", "'a'..", "'b'", "", ""},
    {"lua", "index", "local a = {} return ", "a[", "1", "]", ""},
    {"lua", "calls", "return ", "tostring(", "1", ")", ""},
    {"lua", "if", "", "if true then ", "", " end", ""},
    {"lua", "repeat", "", "repeat ", "", " until true", ""},
    {"js", "parentheses", "", "(", "1", ")", ""},
    {"js", "arrays", "", "[", "", "]", ""},
    {"js", "objects", "(", "{a:", "1", "}", ")"},
    {"js", "blocks", "", "{", "", "}", ""},
    {"js", "functions", "", "function f(){", "", "}", ""},
    {"js", "function expressions", "", "(function(){return ", "1", "})()", ""},
    {"js", "unary minus", "", "- ", "1", "", ""},
    {"js", "not", "", "!", "true", "", ""},
    {"js", "typeof", "", "typeof ", "1", "", ""},
    {"js", "ternary chain", "", "true?1:", "1", "", ""},
    {"js", "assignment chain", "var a; ", "a=", "1", "", ""},
    {"js", "calls", "", "String(", "1", ")", ""},
    {"js", "if", "", "if(true)", ";", "", ""},
    {"js", "regexp literal groups", "/", "(", "a", ")", "/.source"},
    {"js", "regexp literal classes", "/", "(?:", "[a]", ")", "/.source"},
    {"squirrel", "parentheses", "return ", "(", "1", ")", ""},
    {"squirrel", "arrays", "return ", "[", "", "]", ""},
    {"squirrel", "tables", "return ", "{a=", "1", "}", ""},
    {"squirrel", "blocks", "", "{", "", "}", ""},
    {"squirrel", "functions", "return ", "function(){return ", "1", "}", ""},
    {"squirrel", "unary minus", "return ", "- ", "1", "", ""},
    {"squirrel", "not", "return ", "!", "true", "", ""},
    {"squirrel", "typeof", "return ", "typeof ", "1", "", ""},
    {"squirrel", "clone", "return ", "clone ", "{}", "", ""},
    {"squirrel", "ternary chain", "return ", "true?1:", "1", "", ""},
    {"squirrel", "or chain", "return ", "false||", "true", "", ""},
    {"squirrel", "and chain", "return ", "true&&", "true", "", ""},
    {"squirrel", "comma list", "return (", "1,", "1", "", ")"},
    {"squirrel", "assignment chain", "local a; ", "a=", "1", "", ""},
    {"squirrel", "calls", "return ", "typeof(", "1", ")", ""},
    {"squirrel", "if", "", "if(true)", ";", "", ""},
    {"squirrel", "while", "", "while(false)", ";", "", ""},
    {"squirrel", "classes", "return ", "class { x = ", "1", "}", ""},
};
#define NCASES (sizeof cases / sizeof cases[0])

static bool verbose; /* CALOG_TEST_VERBOSE: name each case before it runs */

static char *build(const NestT *c, int depth, int64_t *lenOut) {
  size_t no = strlen(c->open), nc = strlen(c->close);
  size_t len = strlen(c->head) + (no + nc) * (size_t)depth + strlen(c->core) + strlen(c->tail);
  char *s = malloc(len + 1), *p = s;
  if (s == NULL) abort();
  p += sprintf(p, "%s", c->head);
  for (int i = 0; i < depth; i++) memcpy(p, c->open, no), p += no;
  p += sprintf(p, "%s", c->core);
  for (int i = 0; i < depth; i++) memcpy(p, c->close, nc), p += nc;
  p += sprintf(p, "%s", c->tail);
  *lenOut = (int64_t)(p - s);
  return s;
}

/* The deepest input is refused; a shallow one compiles (it may still fail at run time, never as syntax). */
static void runCase(CalogT *rt, CalogContextIdT id, const NestT *c, const char *mode) {
  static const int depths[] = {20, 1000, 10000};
  for (size_t d = 0; d < sizeof depths / sizeof depths[0]; d++) {
    int64_t len;
    char *src = build(c, depths[d], &len);
    if (verbose) fprintf(stderr, "  %s %s (%s) depth %d\n", c->engine, c->name, mode, depths[d]);
    CalogValueT r = calogValueNil();
    int32_t st = calogContextEval(rt, id, src, len, "nest", &r);
    if (depths[d] == 20) CHECK(st != CALOG_ERR_SYNTAX);
    else if (depths[d] >= 10000) CHECK_EQ(st, CALOG_ERR_SYNTAX);
    else CHECK(st == CALOG_OK || st == CALOG_ERR_SYNTAX || st == CALOG_ERR_SCRIPT || st == CALOG_ERR_DEPTH);
    bool midOk = st == CALOG_OK || st == CALOG_ERR_SYNTAX || st == CALOG_ERR_SCRIPT || st == CALOG_ERR_DEPTH;
    if ((depths[d] == 20 && st == CALOG_ERR_SYNTAX) || (depths[d] >= 10000 && st != CALOG_ERR_SYNTAX) ||
        (depths[d] > 20 && depths[d] < 10000 && !midOk))
      fprintf(stderr, "  %s %s (%s), depth %d: %s %.200s\n", c->engine, c->name, mode, depths[d], calogStatusName(st),
              calogErrorMessage(&r, NULL));
    calogValueFree(&r);
    free(src);
  }
}

/* Run-time recursion a script controls: each must end in an error (or a value), never a crash. */
typedef struct RunT {
  const char *engine, *name, *src;
} RunT;

static const RunT runs[] = {
    {"lua", "tostring metamethod", "local mt = {} mt.__tostring = function(t) return tostring(t.next) end "
                                   "local t = {} for i = 1, 10000 do t = setmetatable({next = t}, mt) end "
                                   "return tostring(t)"},
    {"lua", "gsub callbacks", "local function f(s) return (s:gsub('.', f)) end return f('x')"},
    {"lua", "coroutines", "local function f() return coroutine.wrap(f)() end return f()"},
    {"lua", "table.sort comparator", "local function f() table.sort({3, 2, 1}, function(a, b) f() return a < b end) end f()"},
    {"lua", "deep value out", "local t = {} for i = 1, 10000 do t = {t} end return t"},
    {"js", "JSON.parse", "JSON.parse(new Array(10001).join('[') + new Array(10001).join(']'))"},
    {"js", "JSON.stringify", "var a = []; for (var i = 0; i < 10000; i++) a = [a]; JSON.stringify(a)"},
    {"js", "regexp compile", "new RegExp(new Array(10001).join('(') + 'a' + new Array(10001).join(')'))"},
    {"js", "regexp exec", "/(a|b)*c/.exec(new Array(10001).join('a'))"},
    {"js", "eval", "var s = 'x'; function f() { return eval('f()'); } f()"},
    {"js", "toString", "var o = {}; for (var i = 0; i < 10000; i++) o = {n: o, toString: function () { return String(this.n); }}; String(o)"},
    {"js", "getters", "var o = {}; Object.defineProperty(o, 'x', {get: function () { return this.x; }}); o.x"},
    {"js", "deep value out", "var a = []; for (var i = 0; i < 10000; i++) a = [a]; a"},
    {"squirrel", "tostring metamethod", "class C { n = null; constructor(x) { n = x } function _tostring() { return n.tostring() } } "
                                        "local c = C(null); for (local i = 0; i < 10000; i++) c = C(c); return c.tostring()"},
    {"squirrel", "compilestring", "local f; f = function() { return compilestring(\"return f()\")() }; return f()"},
    {"squirrel", "threads", "local f; f = function() { local t = newthread(f); return t.call() }; return f()"},
    {"squirrel", "sort comparator", "local f; f = function(a, b) { [3, 2, 1].sort(f); return a <=> b }; [3, 2, 1].sort(f)"},
    {"squirrel", "deep value out", "local a = []; for (local i = 0; i < 10000; i++) a = [a]; return a"},
    {"squirrel", "deep table out", "local a = {}; for (local i = 0; i < 10000; i++) a = {x = a}; return a"},
};
#define NRUNS (sizeof runs / sizeof runs[0])

static void runRuntime(CalogT *rt, CalogContextIdT id, const RunT *r, const char *mode) {
  CalogValueT v = calogValueNil();
  if (verbose) fprintf(stderr, "  %s %s (%s)\n", r->engine, r->name, mode);
  int32_t st = calogContextEval(rt, id, r->src, (int64_t)strlen(r->src), "run", &v);
  /* an error, and a named one: script error, nesting, depth or limit */
  CHECK(st == CALOG_ERR_SCRIPT || st == CALOG_ERR_NESTING || st == CALOG_ERR_DEPTH);
  if (!(st == CALOG_ERR_SCRIPT || st == CALOG_ERR_NESTING || st == CALOG_ERR_DEPTH))
    fprintf(stderr, "  %s %s (%s): %s %.200s\n", r->engine, r->name, mode, calogStatusName(st), calogErrorMessage(&v, NULL));
  calogValueFree(&v);
}

static void runAll(CalogT *rt, uint32_t flags, const char *mode, bool measure);

/* ---- the C stack a case uses, measured on a painted thread (CALOG_TEST_STACK=1) ---------------------- */
static char *paintLo;
static size_t paintSize;
static void paint(void) {
  volatile char here;
  char *sp = (char *)&here;
  paintLo = sp - paintSize + 64 * 1024; /* leave the guard area and our own frames alone */
  for (char *p = paintLo; p < sp - 4096; p++) *(volatile char *)p = (char)0xA5;
}
static size_t used(void) {
  volatile char here;
  char *p = paintLo;
  while (p < (char *)&here && *(volatile char *)p == (char)0xA5) p++;
  return (size_t)((char *)&here - p);
}

typedef struct ThreadArgT {
  uint32_t flags;
  const char *mode;
  bool measure;
} ThreadArgT;

static void *hostThread(void *arg) {
  ThreadArgT *a = arg;
  CalogT *rt = calogCreate(); /* this thread is the runtime's host thread */
  runAll(rt, a->flags, a->mode, a->measure);
  calogDestroy(rt);
  return NULL;
}

static void onThread(size_t stack, uint32_t flags, const char *mode, bool measure) {
  pthread_attr_t attr;
  pthread_t t;
  ThreadArgT a = {flags, mode, measure};
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, stack);
  paintSize = stack;
  CHECK_EQ(pthread_create(&t, &attr, hostThread, &a), 0);
  pthread_join(t, NULL);
  pthread_attr_destroy(&attr);
}

static void runAll(CalogT *rt, uint32_t flags, const char *mode, bool measure) {
  for (size_t i = 0; i < NCASES; i++) {
    CalogContextIdT id = 0;
    CalogValueT err = calogValueNil();
    CHECK_EQ(calogContextCreate(rt, cases[i].engine, flags, &id, &err), CALOG_OK);
    calogValueFree(&err);
    if (measure) paint();
    runCase(rt, id, &cases[i], mode);
    if (measure) printf("  stack %-9s %-24s %7zu bytes\n", cases[i].engine, cases[i].name, used()), fflush(stdout);
    calogContextDestroy(rt, id);
  }
  for (size_t i = 0; i < NRUNS; i++) {
    CalogContextIdT id = 0;
    CalogValueT err = calogValueNil();
    CHECK_EQ(calogContextCreate(rt, runs[i].engine, flags, &id, &err), CALOG_OK);
    calogValueFree(&err);
    if (measure) paint();
    runRuntime(rt, id, &runs[i], mode);
    if (measure) printf("  stack %-9s %-24s %7zu bytes\n", runs[i].engine, runs[i].name, used()), fflush(stdout);
    calogContextDestroy(rt, id);
  }
}

/* ---- a host engine's stack region (calogStackFloorHere): V8 takes callbacks only within about 1 MB of its thread ---- */
static __attribute__((noinline)) void markBelow(size_t bytes) {
  volatile char pad[bytes];
  pad[0] = pad[bytes - 1] = 0;
  calogStackFloorHere(); /* the mark: this frame, bytes below the caller's */
}

static __attribute__((noinline)) int32_t evalBelow(CalogT *rt, CalogContextIdT id, size_t bytes) {
  volatile char pad[bytes];
  pad[0] = pad[bytes - 1] = 0;
  CalogValueT v = calogValueNil();
  int32_t st = calogContextEval(rt, id, "return 1", 8, "run", &v);
  calogValueFree(&v);
  return st;
}

static __attribute__((noinline)) int32_t createBelow(CalogT *rt, const char *engine, size_t bytes) {
  volatile char pad[bytes];
  pad[0] = pad[bytes - 1] = 0;
  CalogContextIdT id = 0;
  CalogValueT err = calogValueNil();
  int32_t st = calogContextCreate(rt, engine, CALOG_CONTEXT_HOST_THREAD, &id, &err);
  calogValueFree(&err);
  if (st == CALOG_OK) calogContextDestroy(rt, id);
  return st;
}

static int lentReleased;
static int32_t lentFn(CalogValueT *args, int32_t argCount, CalogValueT *result, void *userData) {
  (void)args, (void)argCount, (void)userData;
  *result = calogValueInt(1);
  return CALOG_OK;
}
static void lentRelease(void *userData) {
  (void)userData;
  lentReleased++;
}

/* drops fn (the last function value of a released host-thread context: its REAP goes to the host) and looks at the
 * host's mailbox, bytes below the caller's frame */
static __attribute__((noinline)) int32_t releaseBelow(CalogT *rt, CalogFnT *fn, size_t bytes) {
  volatile char pad[bytes];
  pad[0] = pad[bytes - 1] = 0;
  calogFnRelease(fn);
  return calogHostPoll(rt);
}

static __attribute__((noinline)) int32_t pollBelow(CalogT *rt, size_t bytes) {
  volatile char pad[bytes];
  pad[0] = pad[bytes - 1] = 0;
  return calogHostPoll(rt);
}

/* A released host-thread context whose last function value goes deep in the stack is closed only by a look with the
 * room its finalizers need: closed where the REAP was served (a wait 70-140 KB above V8's limit), its finalizers failed
 * and what they release was kept for good (pass 98b). bytes: how far below the mark's frame the release happens. */
static void reapBelow(CalogT *rt, size_t bytes, bool deep) {
  CalogContextIdT id = 0;
  CalogValueT err = calogValueNil();
  CHECK_EQ(calogContextCreate(rt, "lua", CALOG_CONTEXT_HOST_THREAD, &id, &err), CALOG_OK);
  calogValueFree(&err);
  CalogValueT r = calogValueNil();
  static const char src[] = "function keep(f) held = f end function get() return 1 end";
  CHECK_EQ(calogContextEval(rt, id, src, (int64_t)sizeof src - 1, "reap", &r), CALOG_OK);
  calogValueFree(&r);
  CalogValueT lent = calogValueFn(calogFnCreate(lentFn, NULL, lentRelease));
  CHECK_EQ(calogContextCall(rt, id, "keep", &lent, 1, &r), CALOG_OK);
  calogValueFree(&r);
  calogValueFree(&lent); /* the context holds it now */
  CalogValueT get = calogValueNil();
  CHECK_EQ(calogContextGet(rt, id, "get", &get), CALOG_OK);
  CHECK_EQ(get.type, CALOG_FN);
  int32_t before = calogContextCount(rt);
  CHECK_EQ(calogContextRelease(rt, id), CALOG_OK); /* lives on while get does */
  CHECK_EQ(calogContextCount(rt), before);
  lentReleased = 0;
  releaseBelow(rt, get.as.fn, bytes);
  if (deep) { /* not closed down there, but the host is told to look again */
    CHECK_EQ(calogContextCount(rt), before);
    CHECK_EQ(lentReleased, 0);
    CHECK_EQ(calogHostWait(rt, 0), 1);
    CHECK_EQ(calogWireControl(rt)->hostInterest, 1u); /* a binding keeps its wake armed */
    CHECK_EQ(pollBelow(rt, bytes), 0); /* another look down there: still too deep, and still told */
    CHECK_EQ(calogContextCount(rt), before);
    CHECK_EQ(calogHostWait(rt, 0), 1);
    CHECK_EQ(calogHostPoll(rt), 0); /* a look with room closes it */
  }
  CHECK_EQ(calogWireControl(rt)->hostInterest, 0u);
  CHECK_EQ(calogContextCount(rt), before - 1);
  CHECK_EQ(lentReleased, 1); /* its finalizer ran */
  CHECK_EQ(calogHostWait(rt, 0), 0); /* and nothing is left to look at */
}

static void *floorThread(void *arg) {
  (void)arg;
  size_t before = calogStackLeft();
  markBelow(1u << 20);
  /* calogStackLeft counts down to the thread's real end, the mark aside (a host walks down with it to find its
   * engine's limit): about the same before and after, the thread's 8 MB less what is used */
  size_t after = calogStackLeft();
  CHECK(before > (6u << 20) && after > (6u << 20) && (after > before ? after - before : before - after) < (64u << 10));
  CalogT *rt = calogCreate();
  /* every case still ends in a named error, above the mark (under Deno, below it V8 aborted the process) */
  runAll(rt, CALOG_CONTEXT_HOST_THREAD, "host floor 1 MB down", false);
  CalogContextIdT id = 0;
  CalogValueT err = calogValueNil();
  CHECK_EQ(calogContextCreate(rt, "lua", CALOG_CONTEXT_HOST_THREAD, &id, &err), CALOG_OK);
  calogValueFree(&err);
  CHECK_EQ(evalBelow(rt, id, 64u << 10), CALOG_OK);
  /* with less than CALOG_STACK_ENTRY left above the mark, the entry is refused */
  CHECK_EQ(evalBelow(rt, id, (1u << 20) - (64u << 10)), CALOG_ERR_NESTING);
  /* and so is a host-thread context's creation (its set-up runs the engine's code: Lua's failed with "C stack
   * overflow" as a script error, pass 95b), in every engine */
  static const char *const engines[] = {"lua", "js", "squirrel"};
  for (size_t i = 0; i < 3; i++) {
    CHECK_EQ(createBelow(rt, engines[i], 64u << 10), CALOG_OK);
    CHECK_EQ(createBelow(rt, engines[i], (1u << 20) - (64u << 10)), CALOG_ERR_NESTING);
  }
  reapBelow(rt, 64u << 10, false);
  reapBelow(rt, (1u << 20) - (100u << 10), true);
  /* a later mark replaces it: 2 MB down, the same entry has room */
  markBelow(2u << 20);
  CHECK_EQ(evalBelow(rt, id, (1u << 20) - (64u << 10)), CALOG_OK);
  calogContextDestroy(rt, id);
  calogDestroy(rt);
  return NULL;
}

int main(void) {
  const char *m = getenv("CALOG_TEST_STACK");
  verbose = getenv("CALOG_TEST_VERBOSE") != NULL;
  if (m && m[0] == '1') { /* measure only, on a roomy painted host thread */
    onThread(8u * 1024u * 1024u, CALOG_CONTEXT_HOST_THREAD, "measure", true);
    return checkSummary("test_nesting (measure)");
  }
  CalogT *rt = calogCreate();
  runAll(rt, CALOG_CONTEXT_HOST_THREAD, "host thread", false);
  runAll(rt, CALOG_CONTEXT_OWN_THREAD, "own thread", false);
  calogDestroy(rt);
  onThread(SMALL_STACK, CALOG_CONTEXT_HOST_THREAD, "small host stack", false);
  pthread_attr_t attr;
  pthread_t t;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 8u << 20);
  CHECK_EQ(pthread_create(&t, &attr, floorThread, NULL), 0);
  pthread_join(t, NULL);
  pthread_attr_destroy(&attr);
  return checkSummary("test_nesting");
}
