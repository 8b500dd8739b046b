/* test_io.c -- the epoll I/O layer through Lua scripts on threaded contexts: timers (never early, order,
 * zero, huge, cancel from inside, falling behind), parking (the context keeps serving its queue; timeoutMs and
 * interrupts stop a parked call), sockets on loopback (port 0, split messages, 100 MB both ways checked,
 * refused / in use, close while parked, half-close, peer reset, no busy loop while unread data waits, receive
 * patterns and delimiters, timeouts with partial data, send timeout), handles passed between contexts,
 * capabilities, the host-thread refusal and callbacks there, and no fd leak (10,000 cycles, destroyed contexts,
 * destroyed runtimes). Run under ASan+UBSan and TSan too. */
#include "calog.h"
#include "check.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <fcntl.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static CalogT *rt;

static uint64_t nowMs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleepMs(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int fdCount(void) {
  DIR *d = opendir("/proc/self/fd");
  int n = 0;
  if (d == NULL) return -1;
  while (readdir(d)) n++;
  closedir(d);
  return n;
}

/* A Lua context; net grants everything on loopback unless sandboxed. */
static CalogContextIdT newEngineCtx(CalogT *r, const char *engine, bool threaded, bool grants) {
  const char *src = grants ? "return { capabilities = { net = { connect = {'*:*', 'unix:*'}, listen = {'*:*', 'unix:*'} } } }" : "return nil";
  CalogContextIdT tmp = 0, id = 0;
  CalogValueT opts = calogValueNil(), err = calogValueNil();
  CHECK_EQ(calogContextCreate(r, "lua", 0, &tmp, &err), CALOG_OK);
  CHECK_EQ(calogContextEval(r, tmp, src, (int64_t)strlen(src), "opts", &opts), CALOG_OK);
  calogContextDestroy(r, tmp);
  int32_t st = calogContextCreateWith(r, engine, threaded ? CALOG_CONTEXT_OWN_THREAD : 0, &opts, &id, &err);
  if (st != CALOG_OK) fprintf(stderr, "create: %s\n", calogErrorMessage(&err, NULL));
  CHECK_EQ(st, CALOG_OK);
  calogValueFree(&opts);
  calogValueFree(&err);
  return id;
}
static CalogContextIdT newCtxIn(CalogT *r, bool threaded, bool grants) { return newEngineCtx(r, "lua", threaded, grants); }
static CalogContextIdT newCtx(bool threaded) { return newCtxIn(rt, threaded, true); }

static int32_t eval(CalogContextIdT id, const char *src, CalogValueT *out) {
  calogValueFree(out);
  return calogContextEval(rt, id, src, (int64_t)strlen(src), "test", out);
}

/* Runs src, expects success; returns the result (caller frees). */
static CalogValueT run(CalogContextIdT id, const char *src) {
  CalogValueT r = calogValueNil();
  int32_t st = eval(id, src, &r);
  if (st != CALOG_OK) fprintf(stderr, "eval failed (%s): %s\n  in: %.200s\n", calogStatusName(st), calogErrorMessage(&r, NULL), src);
  CHECK_EQ(st, CALOG_OK);
  return r;
}

static int64_t runInt(CalogContextIdT id, const char *src) {
  CalogValueT r = run(id, src);
  int64_t v = r.type == CALOG_INT ? r.as.i : r.type == CALOG_BOOL ? r.as.b : -999999;
  if (r.type != CALOG_INT && r.type != CALOG_BOOL) fprintf(stderr, "not an int (%s): %.200s -> %s\n", calogTypeName(r.type), src,
                                                         r.type == CALOG_STRING ? r.as.s.bytes : "");
  calogValueFree(&r);
  return v;
}

/* Expects the string result lit. */
static void runStr(CalogContextIdT id, const char *src, const char *lit) {
  CalogValueT r = run(id, src);
  CHECK_STR(&r, lit);
  if (r.type == CALOG_STRING && strcmp(r.as.s.bytes, lit) != 0) fprintf(stderr, "  got \"%.200s\"\n", r.as.s.bytes);
  calogValueFree(&r);
}

static void fmt(char *buf, size_t n, const char *f, int a) { snprintf(buf, n, f, a, a, a, a); }

/* ---- eval on a helper thread (a script that parks while the test does something else) ---------------- */
typedef struct BgT {
  pthread_t t;
  CalogContextIdT id;
  char src[4096];
  int32_t status;
  CalogValueT result;
} BgT;

static void *bgMain(void *arg) {
  BgT *b = arg;
  b->result = calogValueNil();
  b->status = calogContextEval(rt, b->id, b->src, (int64_t)strlen(b->src), "bg", &b->result);
  return NULL;
}

static BgT *bgStart(CalogContextIdT id, const char *src) {
  BgT *b = calloc(1, sizeof *b);
  b->id = id;
  snprintf(b->src, sizeof b->src, "%s", src);
  pthread_create(&b->t, NULL, bgMain, b);
  return b;
}

static int32_t bgJoin(BgT *b, CalogValueT *out) {
  pthread_join(b->t, NULL);
  int32_t st = b->status;
  if (out) {
    calogValueFree(out);
    calogValueMove(out, &b->result);
  }
  calogValueFree(&b->result);
  free(b);
  return st;
}

/* ---- raw C peers --------------------------------------------------------------------------------------- */
static int cListen(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  CHECK_EQ(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  CHECK_EQ(listen(fd, 64), 0);
  socklen_t l = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &l);
  *port = ntohs(a.sin_port);
  return fd;
}

static int cConnect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  CHECK_EQ(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  struct timeval tv = {10, 0}; /* a failing test never hangs on a read */
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

/* accept with a receive timeout on the accepted socket (a failing test never hangs on a read) */
static int cAccept(int lfd) {
  int fd = accept(lfd, NULL, NULL);
  struct timeval tv = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

/* Connects context a's global `c` to the C listener lfd on port; returns the accepted fd. */
static int connectC(CalogContextIdT a, int lfd, int port) {
  char src[128];
  fmt(src, sizeof src, "c = assert(net.connect('127.0.0.1', %d)) return 1", port);
  CHECK_EQ(runInt(a, src), 1);
  return cAccept(lfd);
}

static void cSend(int fd, const char *s) {
  size_t n = strlen(s);
  CHECK_EQ(send(fd, s, n, MSG_NOSIGNAL), (ssize_t)n);
}

static size_t cReadAll(int fd, char *buf, size_t cap) {
  size_t got = 0;
  for (;;) {
    ssize_t r = recv(fd, buf + got, cap - got, 0);
    if (r <= 0) break;
    got += (size_t)r;
    if (got == cap) break;
  }
  return got;
}

/* ---- timers ------------------------------------------------------------------------------------------- */
static void testSleep(void) {
  CalogContextIdT a = newCtx(true);
  uint64_t t0 = nowMs();
  run(a, "timer.sleep(60)");
  CHECK(nowMs() - t0 >= 60); /* never early */
  CHECK_EQ(runInt(a, "timer.sleep(0) return 1"), 1);
  /* a sleeping context keeps serving its queue: a call into it runs while it sleeps */
  run(a, "function ping() return 7 end");
  BgT *b = bgStart(a, "timer.sleep(1000) return 1");
  sleepMs(50);
  t0 = nowMs();
  CHECK_EQ(runInt(a, "return ping()"), 7);
  CHECK(nowMs() - t0 < 700); /* served during the sleep, not after it (a loaded machine gets a wide margin) */
  CHECK_EQ(bgJoin(b, NULL), CALOG_OK);
  /* the entry's timeoutMs stops a sleep; the context stays usable */
  CalogValueT r = calogValueNil();
  t0 = nowMs();
  CHECK_EQ(calogContextEvalTimed(rt, a, "timer.sleep(100000)", 19, "t", 100, &r), CALOG_ERR_LIMIT);
  CHECK(nowMs() - t0 < 2000);
  CHECK_CONTAINS(calogErrorMessage(&r, NULL), "timeout");
  calogValueFree(&r);
  /* an interrupt stops it too */
  b = bgStart(a, "timer.sleep(100000)");
  sleepMs(50);
  CHECK_EQ(calogContextInterrupt(rt, a), CALOG_OK);
  CHECK_EQ(bgJoin(b, &r), CALOG_ERR_LIMIT);
  calogValueFree(&r);
  CHECK_EQ(runInt(a, "return 5"), 5);
  /* bad arguments */
  CHECK_EQ(eval(a, "timer.sleep(-1)", &r), CALOG_ERR_SCRIPT);
  CHECK_CONTAINS(calogErrorMessage(&r, NULL), "timer.sleep(ms)");
  calogValueFree(&r);
  calogContextDestroy(rt, a);
}

/* Evaluates cond (an expression giving 1 when done) until it holds, polling the host's queue for a host-thread
 * context (its callbacks run there); gives up after ms. */
static bool waitFor(CalogContextIdT id, bool threaded, const char *cond, int ms) {
  uint64_t t0 = nowMs();
  for (;;) {
    if (!threaded)
      while (calogHostPoll(rt) == 1) {}
    if (runInt(id, cond) == 1) return true;
    if (nowMs() - t0 > (uint64_t)ms) return false;
    sleepMs(2);
  }
}

static void testTimers(void) {
  CalogContextIdT a = newCtx(true);
  /* order: deadlines first, then the order they were set in (same deadline) */
  run(a, "hits = {} t0 = os.clock() "
         "local function at(tag) return function() hits[#hits + 1] = tag end end "
         "timer.after(80, at('c')) timer.after(30, at('a')) timer.after(30, at('b')) timer.after(0, at('z')) "
         "big = timer.after(1 << 45, at('never'))");
  CHECK(waitFor(a, true, "return #hits == 4 and 1 or 0", 3000));
  runStr(a, "return table.concat(hits, ',')", "z,a,b,c");
  CHECK_EQ(runInt(a, "return big:cancel() and 1 or 0"), 1);
  CHECK_EQ(runInt(a, "return big:cancel() and 1 or 0"), 0); /* twice: a no-op */
  /* never early */
  run(a, "late = 0 timer.after(150, function() late = 1 end)");
  sleepMs(100);
  CHECK_EQ(runInt(a, "return late"), 0);
  CHECK(waitFor(a, true, "return late", 3000));
  /* every + cancel from inside the callback */
  run(a, "n = 0 t = timer.every(10, function() n = n + 1 if n == 3 then t:cancel() end end)");
  CHECK(waitFor(a, true, "return n >= 3 and 1 or 0", 3000));
  sleepMs(50);
  CHECK_EQ(runInt(a, "return n"), 3);
  /* a repeating timer that falls behind fires once, not a burst */
  run(a, "m = 0 e = timer.every(10, function() m = m + 1 end)");
  sleepMs(20);
  run(a, "m = 0 local t = os.clock() while os.clock() - t < 0.3 do end"); /* busy 300 ms: ~30 periods missed */
  uint64_t t0 = nowMs();
  int64_t after = runInt(a, "return m");
  /* one catch-up firing (plus one per period the read itself took: a loaded machine may take a while) */
  CHECK(after <= 2 + (int64_t)(nowMs() - t0) / 10);
  char more[64];
  snprintf(more, sizeof more, "return m >= %lld and 1 or 0", (long long)after + 2);
  CHECK(waitFor(a, true, more, 3000)); /* and it goes on firing */
  run(a, "e:cancel()");
  /* an error in a callback goes to the stderr sink and the context lives on */
  run(a, "timer.after(0, function() error('boom in a timer') end) alive = 1");
  /* a thrown value is worded as the host words it, the rendering cut where no character is split (pass 55b) */
  run(a, "timer.after(0, function() error({1, 'x\\n\"', {y = {z = 1}}, k = 1.5, [true] = 'v', s = ('\\u{e9}'):rep(200)}) end) "
         "timer.after(0, function() error(nil) end) timer.after(0, function() error({x = 1e-7, y = 1e21, z = 0.1, ['\\xff'] = math.maxinteger}) end) "
         "timer.after(0, function() error({('\\u{e9}'):rep(400)}) end)");
  sleepMs(50);
  CHECK_EQ(runInt(a, "return alive"), 1);
  /* destroying the context cancels its timers (the I/O thread's reference to the function goes) */
  run(a, "timer.every(5, function() end) timer.after(100000, function() end)");
  calogContextDestroy(rt, a);
}

/* the same on a host-thread context: callbacks run when the host polls; blocking forms refuse */
static void testHostThread(void) {
  CalogContextIdT h = newCtx(false);
  CalogValueT r = calogValueNil();
  CHECK_EQ(eval(h, "timer.sleep(10)", &r), CALOG_ERR_UNSUPPORTED);
  CHECK_CONTAINS(calogErrorMessage(&r, NULL), "threaded context");
  CHECK_CONTAINS(calogErrorMessage(&r, NULL), "timer.after");
  CHECK_EQ(eval(h, "net.connect('127.0.0.1', 1)", &r), CALOG_ERR_UNSUPPORTED);
  CHECK_EQ(eval(h, "local ok, e = pcall(timer.sleep, 5) return e", &r), CALOG_OK);
  CHECK(r.type == CALOG_STRING && strstr(r.as.s.bytes, "threaded context") != NULL);
  run(h, "fired = 0 timer.after(20, function() fired = fired + 1 end)");
  uint64_t t0 = nowMs();
  while (runInt(h, "return fired") == 0 && nowMs() - t0 < 2000) {
    sleepMs(5);
    while (calogHostPoll(rt) == 1) {}
  }
  CHECK_EQ(runInt(h, "return fired"), 1);
  /* a callback-form server works there too */
  run(h, "got = nil srv = net.listen('127.0.0.1', 0, function(c) got = c end) port = srv:port()");
  int port = (int)runInt(h, "return port");
  int fd = cConnect(port);
  t0 = nowMs();
  while (runInt(h, "return got and 1 or 0") == 0 && nowMs() - t0 < 2000) {
    sleepMs(5);
    while (calogHostPoll(rt) == 1) {}
  }
  CHECK_EQ(runInt(h, "return got and 1 or 0"), 1);
  CHECK_EQ(runInt(h, "return type(got.id) == 'number' and 1 or 0"), 1);
  close(fd);
  calogValueFree(&r);
  calogContextDestroy(rt, h);
}

/* ---- sockets ---------------------------------------------------------------------------------------------- */
static void testEcho(void) {
  CalogContextIdT s = newCtx(true), c = newCtx(true);
  run(s, "srv = net.listen('127.0.0.1', 0)");
  int port = (int)runInt(s, "return srv:port()");
  CHECK(port > 0);
  BgT *b = bgStart(s, "local c = srv:accept() local a = c:receive('*l') local b2 = c:receive('*l') "
                      "c:send(a .. '|' .. b2 .. '\\n') c:close() return a .. '|' .. b2");
  /* a raw client writing in pieces: the lines arrive split across reads */
  int fd = cConnect(port);
  cSend(fd, "hel");
  sleepMs(20);
  cSend(fd, "lo\nwor");
  sleepMs(20);
  cSend(fd, "ld\n");
  char buf[64] = {0};
  size_t n = cReadAll(fd, buf, sizeof buf - 1);
  CHECK_EQ(n, 12);
  CHECK(strcmp(buf, "hello|world\n") == 0);
  close(fd);
  CalogValueT r = calogValueNil();
  CHECK_EQ(bgJoin(b, &r), CALOG_OK);
  CHECK_STR(&r, "hello|world");
  calogValueFree(&r);
  /* Lua to Lua; the conn's peer */
  char src[512];
  b = bgStart(s, "local c = srv:accept() local l = c:receive() c:send('echo:' .. l .. '\\n') return c:receive('*a')");
  fmt(src, sizeof src, "local c = assert(net.connect('127.0.0.1', %d)) c:send('ping\\n') local r = c:receive('*l') "
      "local p = c:peer() assert(p.host == '127.0.0.1' and p.port == %d) c:close() return r", port);
  runStr(c, src, "echo:ping");
  CHECK_EQ(bgJoin(b, &r), CALOG_OK);
  CHECK_STR(&r, "");
  calogValueFree(&r);
  run(s, "srv:close()");
  runStr(s, "local ok, e = srv:accept() return e", "closed"); /* a stale handle: a clean error */
  calogContextDestroy(rt, s);
  calogContextDestroy(rt, c);
}

static void testErrors(void) {
  CalogContextIdT a = newCtx(true);
  int port;
  int fd = cListen(&port);
  close(fd); /* nothing listens there now */
  char src[512];
  fmt(src, sizeof src, "local c, e = net.connect('127.0.0.1', %d) return e", port);
  runStr(a, src, "connection refused");
  fd = cListen(&port);
  fmt(src, sizeof src, "local s, e = net.listen('127.0.0.1', %d) return e", port);
  runStr(a, src, "address in use");
  close(fd);
  CalogValueT r = calogValueNil();
  CHECK_EQ(eval(a, "net.connect('127.0.0.1', 70000)", &r), CALOG_ERR_SCRIPT);
  CHECK_CONTAINS(calogErrorMessage(&r, NULL), "0-65535");
  CHECK_EQ(eval(a, "local s = net.listen('127.0.0.1', 0) s.accept()", &r), CALOG_ERR_SCRIPT);
  CHECK_CONTAINS(calogErrorMessage(&r, NULL), "method");
  /* a name with an empty label: the resolver refuses it before any query (a real name would send one to the machine's
   * DNS server, not a loopback address) */
  runStr(a, "local c, e = net.connect('no-such-host..invalid', 80) return e:sub(1, 14)", "cannot resolve");
  calogValueFree(&r);
  calogContextDestroy(rt, a);
  /* capabilities: the sandbox may not connect or listen; a grant is checked per host:port */
  CalogContextIdT sb = newCtxIn(rt, true, false);
  CHECK_EQ(eval(sb, "net.listen('127.0.0.1', 0)", &r), CALOG_ERR_PERMISSION);
  CHECK_CONTAINS(calogErrorMessage(&r, NULL), "permission denied: net.listen on 127.0.0.1:0");
  CHECK_EQ(eval(sb, "net.connect('127.0.0.1', 80)", &r), CALOG_ERR_PERMISSION);
  CHECK_CONTAINS(calogErrorMessage(&r, NULL), "'net.connect' capability");
  CHECK_EQ(runInt(sb, "local ok = pcall(net.connect, '127.0.0.1', 80) return ok and 1 or 0"), 0);
  calogValueFree(&r);
  calogContextDestroy(rt, sb);
}

/* 100 MB each way; every byte's value and position checked */
#define BLOCK 251
#define CHUNK (BLOCK * 4177) /* 1,048,427 bytes */
#define CHUNKS 100

typedef struct PeerT {
  int fd;
  int64_t got;
  bool ordered;
} PeerT;

static void *sinkMain(void *arg) {
  PeerT *p = arg;
  char *buf = malloc(1 << 16);
  p->ordered = true;
  for (;;) {
    ssize_t r = recv(p->fd, buf, 1 << 16, 0);
    if (r <= 0) break;
    for (ssize_t i = 0; i < r; i++)
      if ((unsigned char)buf[i] != (unsigned char)((p->got + i) % BLOCK)) p->ordered = false;
    p->got += r;
  }
  free(buf);
  return NULL;
}

static void *sourceMain(void *arg) {
  PeerT *p = arg;
  char *buf = malloc(CHUNK);
  for (int i = 0; i < CHUNK; i++) buf[i] = (char)(i % BLOCK);
  for (int c = 0; c < CHUNKS; c++) {
    size_t off = 0;
    while (off < CHUNK) {
      ssize_t w = send(p->fd, buf + off, CHUNK - off, MSG_NOSIGNAL);
      if (w <= 0) break;
      off += (size_t)w;
    }
    p->got += (int64_t)off;
  }
  shutdown(p->fd, SHUT_WR);
  free(buf);
  return NULL;
}

static void testBulk(void) {
  CalogContextIdT a = newCtx(true);
  run(a, "local t = {} for i = 0, 250 do t[#t + 1] = string.char(i) end block = table.concat(t) "
         "chunk = block:rep(4177)");
  /* Lua sends */
  int port;
  int lfd = cListen(&port);
  PeerT sink = {.fd = connectC(a, lfd, port)};
  pthread_t t;
  pthread_create(&t, NULL, sinkMain, &sink);
  CHECK_EQ(runInt(a, "local n = 0 for i = 1, 100 do n = n + assert(c:send(chunk)) end c:close() return n"),
           (int64_t)CHUNK * CHUNKS);
  pthread_join(t, NULL);
  close(sink.fd);
  CHECK_EQ(sink.got, (int64_t)CHUNK * CHUNKS);
  CHECK(sink.ordered);
  /* Lua receives */
  PeerT source = {.fd = connectC(a, lfd, port)};
  pthread_create(&t, NULL, sourceMain, &source);
  CHECK_EQ(runInt(a, "local n, bad = 0, 0 for i = 1, 100 do local d = assert(c:receive(#chunk)) "
                     "if d ~= chunk then bad = bad + 1 end n = n + #d end "
                     "local rest, e = c:receive(1) assert(rest == nil and e == 'closed') c:close() return bad == 0 and n or -1"),
           (int64_t)CHUNK * CHUNKS);
  pthread_join(t, NULL);
  close(source.fd);
  close(lfd);
  calogContextDestroy(rt, a);
}

static void testPatterns(void) {
  CalogContextIdT a = newCtx(true);
  int port;
  int lfd = cListen(&port);
  int fd = connectC(a, lfd, port);
  cSend(fd, "a\rb\r\nline2\nxyz123456");
  runStr(a, "return c:receive('*l')", "a\rb"); /* a CR in the middle stays; CR LF ends the line */
  runStr(a, "return c:receive()", "line2");
  runStr(a, "return c:receive(3)", "xyz");
  runStr(a, "return c:receive(0)", "");
  /* ambiguous delimiters */
  cSend(fd, "xxabcabcabdyy|baaab|aaaa|");
  runStr(a, "return c:receiveUntil('abcabd')", "123456xxabc");
  runStr(a, "return c:receiveUntil('|')", "yy");
  runStr(a, "return c:receiveUntil('aa')", "b");
  runStr(a, "return c:receiveUntil('|')", "ab");
  runStr(a, "return c:receiveUntil('aaa')", "");
  runStr(a, "return c:receiveUntil('|')", "a");
  /* read timeout: partial data, then a successful read; the conn stays usable */
  cSend(fd, "par");
  run(a, "c:setTimeouts(nil, nil, 100)");
  uint64_t t0 = nowMs();
  runStr(a, "local d, e, p = c:receive('*l') assert(d == nil and e == 'timeout') return p", "par");
  CHECK(nowMs() - t0 >= 100);
  cSend(fd, "t2\n");
  runStr(a, "return c:receive('*l')", "t2");
  runStr(a, "local d, e, p = c:receiveUntil('##') return e .. ':' .. p", "timeout:");
  /* no trailing newline, then the peer closes */
  cSend(fd, "last");
  shutdown(fd, SHUT_WR);
  runStr(a, "c:setTimeouts(nil, nil, 0) local d, e, p = c:receive('*l') return e .. ':' .. p", "closed:last");
  runStr(a, "local d, e = c:receive(1) return e", "closed");
  runStr(a, "return c:receive('*a')", "");
  /* half-close: our side still writes after the peer shut its own */
  runStr(a, "return tostring(c:send('after'))", "5");
  char buf[16] = {0};
  CHECK_EQ(recv(fd, buf, sizeof buf - 1, 0), 5);
  CHECK(strcmp(buf, "after") == 0);
  run(a, "c:shutdown()");
  CHECK_EQ(recv(fd, buf, sizeof buf, 0), 0); /* we shut ours: the peer sees the end */
  run(a, "c:close()");
  close(fd);
  runStr(a, "local d, e = c:receive() return e", "closed"); /* closed handle: stale */
  runStr(a, "local d, e = c:receive('*x') return e", "closed"); /* a stale id is reported before the pattern */
  close(lfd);
  calogContextDestroy(rt, a);
}

static void testResetAndSendTimeout(void) {
  CalogContextIdT a = newCtx(true);
  int port;
  int lfd = cListen(&port);
  int fd = connectC(a, lfd, port);
  /* peer reset: SO_LINGER 0 sends RST */
  BgT *b = bgStart(a, "local d, e = c:receive('*l') return e");
  sleepMs(50);
  struct linger lg = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close(fd);
  CalogValueT r = calogValueNil();
  CHECK_EQ(bgJoin(b, &r), CALOG_OK);
  CHECK(r.type == CALOG_STRING && (strcmp(r.as.s.bytes, "connection reset") == 0 || strcmp(r.as.s.bytes, "closed") == 0));
  calogValueFree(&r);
  CHECK_EQ(eval(a, "local n, e = c:send(('x'):rep(100000)) return e", &r), CALOG_OK);
  CHECK(r.type == CALOG_STRING && (strcmp(r.as.s.bytes, "connection reset") == 0 || strcmp(r.as.s.bytes, "closed") == 0));
  calogValueFree(&r);
  run(a, "c:close()");
  /* send timeout when the peer stops reading; what was sent is reported */
  fd = connectC(a, lfd, port);
  uint64_t t0 = nowMs();
  int64_t sent = runInt(a, "c:setTimeouts(nil, 150, nil) local n, e, sent = c:send(('x'):rep(64 << 20)) "
                            "assert(n == nil and e == 'timeout', e) return sent");
  CHECK(sent > 0 && sent < (64 << 20));
  CHECK(nowMs() - t0 >= 150);
  /* no busy loop: the peer floods while nothing reads */
  close(fd);
  run(a, "c:close() srv = net.listen('127.0.0.1', 0)");
  int sport = (int)runInt(a, "return srv:port()");
  int flood = cConnect(sport);
  run(a, "held = srv:accept()");
  char *junk = calloc(1, 1 << 20);
  int fl = 1;
  setsockopt(flood, SOL_SOCKET, SO_SNDBUF, &fl, sizeof fl);
  struct timeval tv = {0, 200000};
  setsockopt(flood, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  for (int i = 0; i < 8; i++) (void)send(flood, junk, 1 << 20, MSG_NOSIGNAL); /* fills every buffer */
  struct rusage u0, u1;
  getrusage(RUSAGE_SELF, &u0);
  sleepMs(400);
  getrusage(RUSAGE_SELF, &u1);
  int64_t cpuUs = (u1.ru_utime.tv_sec - u0.ru_utime.tv_sec) * 1000000 + (u1.ru_utime.tv_usec - u0.ru_utime.tv_usec) +
                  (u1.ru_stime.tv_sec - u0.ru_stime.tv_sec) * 1000000 + (u1.ru_stime.tv_usec - u0.ru_stime.tv_usec);
  CHECK(cpuUs < 100000); /* under 25% of one core over 400 ms (a spinning loop would take ~100%) */
  free(junk);
  close(flood);
  run(a, "held:close() srv:close()");
  close(lfd);
  calogContextDestroy(rt, a);
}

/* handles are values: a conn accepted in one context is used and closed from another; closing wakes a parked
 * reader with "closed" */
static void testHandoffAndClose(void) {
  CalogContextIdT s = newCtx(true), w = newCtx(true);
  run(s, "srv = net.listen('127.0.0.1', 0)");
  int port = (int)runInt(s, "return srv:port()");
  int fd = cConnect(port);
  run(s, "conn = srv:accept()");
  CalogValueT conn = calogValueNil();
  CHECK_EQ(calogContextGet(rt, s, "conn", &conn), CALOG_OK);
  run(w, "function serve(c) local l = c:receive('*l') c:send('worker:' .. l .. '\\n') parked = c return 1 end "
         "function readParked() local d, e = parked:receive('*l') return e end "
         "function closeIt(c) return c:close() end");
  CalogValueT r = calogValueNil();
  cSend(fd, "job\n");
  CHECK_EQ(calogContextCall(rt, w, "serve", &conn, 1, &r), CALOG_OK);
  char buf[32] = {0};
  CHECK_EQ(recv(fd, buf, sizeof buf - 1, 0), 11);
  CHECK(strcmp(buf, "worker:job\n") == 0);
  /* w parks reading; s closes the conn: the reader wakes with "closed" */
  BgT *b = bgStart(w, "return readParked()");
  sleepMs(50);
  run(s, "function closeIt(c) return c:close() end");
  CHECK_EQ(calogContextCall(rt, s, "closeIt", &conn, 1, &r), CALOG_OK);
  CHECK(r.type == CALOG_BOOL && r.as.b);
  CHECK_EQ(bgJoin(b, &r), CALOG_OK);
  CHECK_STR(&r, "closed");
  CHECK_EQ(recv(fd, buf, sizeof buf, 0), 0); /* the fd really closed */
  close(fd);
  calogValueFree(&r);
  calogValueFree(&conn);
  /* close while connecting: a connect to a black-hole address is parked, then its context is destroyed */
  calogContextDestroy(rt, s);
  calogContextDestroy(rt, w);
}

/* parked receive and the entry's limits: timeoutMs and interrupt; the buffered data survives */
static void testParkedLimits(void) {
  CalogContextIdT a = newCtx(true);
  int port;
  int lfd = cListen(&port);
  int fd = connectC(a, lfd, port);
  cSend(fd, "part");
  CalogValueT r = calogValueNil();
  uint64_t t0 = nowMs();
  CHECK_EQ(calogContextEvalTimed(rt, a, "return c:receive('*l')", 22, "t", 100, &r), CALOG_ERR_LIMIT);
  CHECK(nowMs() - t0 < 2000);
  BgT *b = bgStart(a, "return c:receive('*l')");
  sleepMs(50);
  calogContextInterrupt(rt, a);
  CHECK_EQ(bgJoin(b, &r), CALOG_ERR_LIMIT);
  cSend(fd, "ial\n");
  runStr(a, "return c:receive('*l')", "partial");
  calogValueFree(&r);
  close(fd);
  close(lfd);
  calogContextDestroy(rt, a);
}

/* fds: 10,000 listen/close cycles and 2,000 connect/accept/close cycles leave the count unchanged; so do
 * destroyed contexts with open sockets and a destroyed runtime */
static void testNoFdLeak(void) {
  CalogContextIdT a = newCtx(true);
  run(a, "timer.sleep(1) local s = net.listen('127.0.0.1', 0) s:close()"); /* the I/O thread's own fds */
  int before = fdCount();
  CHECK_EQ(runInt(a, "for i = 1, 10000 do local s = assert(net.listen('127.0.0.1', 0)) s:close() end return 1"), 1);
  CHECK_EQ(runInt(a, "local s = net.listen('127.0.0.1', 0) local p = s:port() "
                     "for i = 1, 2000 do local c = assert(net.connect('127.0.0.1', p)) local d = assert(s:accept()) "
                     "d:close() c:close() end s:close() return 1"),
           1);
  CHECK_EQ(fdCount(), before);
  /* contexts destroyed with sockets open */
  CalogContextIdT b = newCtx(true), h = newCtx(false);
  run(b, "s = net.listen('127.0.0.1', 0) c = net.connect('127.0.0.1', s:port()) d = s:accept() t = timer.every(5, function() end)");
  run(h, "s = net.listen('127.0.0.1', 0)");
  CHECK(fdCount() > before);
  calogContextDestroy(rt, b);
  calogContextDestroy(rt, h);
  uint64_t t0 = nowMs();
  while (fdCount() != before && nowMs() - t0 < 2000) sleepMs(5);
  CHECK_EQ(fdCount(), before);
  calogContextDestroy(rt, a);
  /* a whole runtime: its I/O thread and every socket go with it */
  int base = fdCount();
  CalogT *other = calogCreate();
  CalogContextIdT o = newCtxIn(other, true, true);
  const char *src = "s = net.listen('127.0.0.1', 0) c = net.connect('127.0.0.1', s:port()) t = timer.after(100000, print)";
  CalogValueT r = calogValueNil();
  CHECK_EQ(calogContextEval(other, o, src, (int64_t)strlen(src), "t", &r), CALOG_OK);
  CHECK(fdCount() > base);
  calogDestroy(other);
  CHECK_EQ(fdCount(), base);
  calogValueFree(&r);
}

/* unix-domain sockets ("unix:/path"; the server removes its socket file when it closes) and net.resolve */
static void testUnixAndResolve(void) {
  CalogContextIdT a = newCtx(true);
  char path[64], src[512];
  snprintf(path, sizeof path, "/tmp/calog-io-%d.sock", (int)getpid());
  unlink(path);
  snprintf(src, sizeof src,
           "local s = assert(net.listen('unix:%s')) local c = assert(net.connect('unix:%s')) local d = assert(s:accept()) "
           "c:send('over unix\\n') local l = d:receive() local p = d:peer() s:close() c:close() d:close() return l",
           path, path);
  runStr(a, src, "over unix");
  CHECK(access(path, F_OK) != 0); /* removed on close */
  runStr(a, "local l = net.resolve('localhost') for _, x in ipairs(l) do if x == '127.0.0.1' or x == '::1' then return 'ok' end end "
            "return table.concat(l, ',')",
         "ok");
  runStr(a, "return net.resolve('127.0.0.1')[1]", "127.0.0.1");
  runStr(a, "local l, e = net.resolve('no-such-host..invalid') return e:sub(1, 14)", "cannot resolve"); /* no query */
  /* the sandbox may not reach a unix socket either */
  CalogContextIdT sb = newCtxIn(rt, true, false);
  CalogValueT r = calogValueNil();
  snprintf(src, sizeof src, "net.connect('unix:%s')", path);
  CHECK_EQ(eval(sb, src, &r), CALOG_ERR_PERMISSION);
  calogValueFree(&r);
  calogContextDestroy(rt, sb);
  calogContextDestroy(rt, a);
}

/* 1,000 concurrent connections: a listener context hands each accepted conn (its callback form) to one of 4
 * worker contexts, round robin; each worker's loop serves its queue while the client holds all 1,000 open. A
 * worker's take() runs while its loop is parked (the nested pump); its blocking receives then run one at a time
 * in the loop (parked calls nest, so a context serves many connections from one loop, not from many parked
 * callbacks). */
static void testThousand(void) {
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < 2300 && rl.rlim_max >= 2300) {
    rl.rlim_cur = 2300;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  getrlimit(RLIMIT_NOFILE, &rl);
  CHECK(rl.rlim_cur >= 2300);
  CalogContextIdT workers[4], lst = newCtx(true), cli = newCtx(true);
  BgT *loops[4];
  char src[512];
  for (int i = 0; i < 4; i++) {
    workers[i] = newCtx(true);
    run(workers[i], "q, tail = {}, 0 function take(c) tail = tail + 1 q[tail] = c return true end");
    loops[i] = bgStart(workers[i], "local served, head = 0, 1 while served < 250 do "
                                   "if q[head] then local c = q[head] q[head] = nil head = head + 1 c:setTimeouts(nil, nil, 20000) "
                                   "local l = c:receive('*l') if l then c:send(l .. '\\n') end served = served + 1 "
                                   "else timer.sleep(1) end end return served");
  }
  CalogValueT fns = calogValueNil();
  calogValueAgg(&fns, CALOG_AGG_LIST);
  for (int i = 0; i < 4; i++) {
    CalogValueT f = calogValueNil();
    CHECK_EQ(calogContextGet(rt, workers[i], "take", &f), CALOG_OK);
    calogAggPush(fns.as.agg, &f);
  }
  CalogValueT r = calogValueNil();
  run(lst, "function start(takers) local n = 0 srv = net.listen('127.0.0.1', 0, function(c) n = n + 1 "
           "takers[n % #takers + 1](c) end) return srv:port() end");
  CHECK_EQ(calogContextCall(rt, lst, "start", &fns, 1, &r), CALOG_OK);
  int port = r.type == CALOG_INT ? (int)r.as.i : 0;
  snprintf(src, sizeof src,
           "local cs = {} for i = 1, 1000 do cs[i] = assert(net.connect('127.0.0.1', %d)) end "
           "for i = 1, 1000 do cs[i]:send('n' .. i .. '\\n') cs[i]:setTimeouts(nil, nil, 20000) end "
           "local ok = 0 for i = 1, 1000 do if cs[i]:receive('*l') == 'n' .. i then ok = ok + 1 end cs[i]:close() end return ok",
           port);
  CHECK_EQ(runInt(cli, src), 1000);
  int64_t served = 0;
  for (int i = 0; i < 4; i++) {
    CHECK_EQ(bgJoin(loops[i], &r), CALOG_OK);
    served += r.type == CALOG_INT ? r.as.i : 0;
    calogValueFree(&r);
  }
  CHECK_EQ(served, 1000);
  calogValueFree(&r);
  calogValueFree(&fns);
  for (int i = 0; i < 4; i++) calogContextDestroy(rt, workers[i]);
  calogContextDestroy(rt, lst);
  calogContextDestroy(rt, cli);
}

/* UDP: bind, send, receive {data, host, port}, a receive timeout, the sandbox */
static void testUdp(void) {
  CalogContextIdT a = newCtx(true), b = newCtx(true);
  run(a, "u = net.udp() assert(u:bind('127.0.0.1', 0))");
  int port = (int)runInt(a, "return u:port()");
  CHECK(port > 0);
  BgT *bg = bgStart(a, "local m = assert(u:receive({ timeoutMs = 5000 })) return m.data .. '@' .. m.host");
  char src[256];
  snprintf(src, sizeof src, "local s = net.udp() local n = assert(s:send('datagram', '127.0.0.1', %d)) s:close() return n", port);
  CHECK_EQ(runInt(b, src), 8);
  CalogValueT r = calogValueNil();
  CHECK_EQ(bgJoin(bg, &r), CALOG_OK);
  CHECK_STR(&r, "datagram@127.0.0.1");
  calogValueFree(&r);
  runStr(a, "local m, e = u:receive({ timeoutMs = 30 }) return e", "timeout");
  runStr(a, "local m, e = net.udp():receive() return e", "not bound: bind or send first");
  /* the system's words were passed on raw: "bind: Invalid argument", "send: Address family not supported by protocol" */
  runStr(a, "local ok, e = u:bind('127.0.0.1', 0) return e", "already bound (a udp socket binds once)");
  runStr(a, "local v = net.udp() assert(v:bind('127.0.0.1', 0)) local n, e = v:send('x', '::1', 9) local ok, f = v:bind('::1', 0) "
            "v:close() assert(f == e, f) return e",
         "address family differs: a udp socket keeps the family (IPv4 or IPv6) of the first address it used");
  run(a, "u:close()");
  runStr(a, "local m, e = u:receive() return e", "closed");
  CalogContextIdT sb = newCtxIn(rt, true, false);
  CHECK_EQ(eval(sb, "net.udp():send('x', '127.0.0.1', 9)", &r), CALOG_ERR_PERMISSION);
  calogValueFree(&r);
  calogContextDestroy(rt, sb);
  calogContextDestroy(rt, a);
  calogContextDestroy(rt, b);
}

/* JavaScript and Squirrel: the same API with methods called with '.', thrown errors carrying partial data;
 * a conn accepted in Lua is served from JavaScript and Squirrel */
static void testOtherEngines(void) {
  CalogContextIdT js = newEngineCtx(rt, "js", true, true), sq = newEngineCtx(rt, "squirrel", true, true);
  CalogValueT r = calogValueNil();
  /* JavaScript: a server and a client in one context */
  CHECK_EQ(runInt(js, "var srv = net.listen('127.0.0.1', 0); var c = net.connect('127.0.0.1', srv.port()); "
                      "var d = srv.accept({ timeoutMs: 2000 }); c.send('hi\\nrest'); var line = d.receive('*l'); "
                      "d.setTimeouts(null, null, 50); var err = null; try { d.receive('*l') } catch (e) { err = e } "
                      "c.send('!\\n'); var line2 = d.receive(); var p = d.peer(); c.close(); "
                      "var closed = null; try { d.receive('*l') } catch (e) { closed = e.message } "
                      "d.close(); srv.close(); "
                      "(line === 'hi' && err.message === 'timeout' && err.partial === 'rest' && line2 === '!' && "
                      "p.host === '127.0.0.1' && closed === 'closed') ? 1 : 0"),
           1);
  uint64_t t0 = nowMs();
  CHECK_EQ(runInt(js, "timer.sleep(30); 1"), 1);
  CHECK(nowMs() - t0 >= 30);
  run(js, "var fired = 0; var t = timer.every(10, function () { fired++; if (fired === 2) t.cancel(); });");
  sleepMs(150);
  CHECK_EQ(runInt(js, "fired"), 2);
  CHECK_EQ(eval(js, "var x = net.connect('127.0.0.1', 1)", &r), CALOG_ERR_SCRIPT);
  CHECK_CONTAINS(calogErrorMessage(&r, NULL), "connection refused");
  /* Squirrel */
  CHECK_EQ(runInt(sq, "local srv = net.listen(\"127.0.0.1\", 0); local c = net.connect(\"127.0.0.1\", srv.port()); "
                      "local d = srv.accept(); c.send(\"a|b|\"); local x = d.receiveUntil(\"|\"); "
                      "d.setTimeouts(null, null, 50); local err = null; try { d.receiveUntil(\"#\") } catch (e) { err = e } "
                      "c.close(); d.close(); srv.close(); "
                      "return (x == \"a\" && err.message == \"timeout\" && err.partial == \"b|\") ? 1 : 0"),
           1);
  CHECK_EQ(runInt(sq, "timer.sleep(10); return 1"), 1);
  run(sq, "n <- 0; timer.after(5, function() { ::n++; })");
  sleepMs(100);
  CHECK_EQ(runInt(sq, "return n"), 1);
  /* a Lua listener hands a conn to JavaScript and Squirrel workers */
  CalogContextIdT lua = newCtx(true);
  run(lua, "srv = net.listen('127.0.0.1', 0)");
  int port = (int)runInt(lua, "return srv:port()");
  int fd = cConnect(port);
  run(lua, "conn = srv:accept()");
  CalogValueT conn = calogValueNil();
  CHECK_EQ(calogContextGet(rt, lua, "conn", &conn), CALOG_OK);
  run(js, "function serve(c) { var l = c.receive('*l'); c.send('js:' + l + '\\n'); return 1 }");
  run(sq, "function serve(c) { local l = c.receive(\"*l\"); c.send(\"sq:\" + l + \"\\n\"); return 1 }");
  cSend(fd, "one\ntwo\n");
  CHECK_EQ(calogContextCall(rt, js, "serve", &conn, 1, &r), CALOG_OK);
  CHECK_EQ(calogContextCall(rt, sq, "serve", &conn, 1, &r), CALOG_OK);
  char buf[64] = {0};
  size_t got = 0;
  while (got < 14) {
    ssize_t k = recv(fd, buf + got, sizeof buf - 1 - got, 0);
    if (k <= 0) break;
    got += (size_t)k;
  }
  CHECK(strcmp(buf, "js:one\nsq:two\n") == 0);
  close(fd);
  calogValueFree(&conn);
  calogValueFree(&r);
  calogContextDestroy(rt, lua);
  calogContextDestroy(rt, js);
  calogContextDestroy(rt, sq);
}


/* ---- from a hostile review: forged ids, callbacks that fail, a send stopped midway ------------------------ */
static void testReviewFindings(void) {
  CalogContextIdT a = newCtx(true), b = newCtxIn(rt, true, false); /* b: sandboxed, given nothing */
  /* ids cannot be guessed: b cannot cancel a's timer by trying the ids around its own */
  run(a, "n = 0 h = timer.every(5, function() n = n + 1 end) hid = h.id");
  int64_t hid = runInt(a, "return hid");
  CHECK(hid > 0);
  char src[1024];
  uint64_t t0 = nowMs();
  snprintf(src, sizeof src,
           "local mine = timer.after(100000, function() end) local base = mine.id %% 1048576 local hits = 0 "
           "for s = math.max(0, base - 8), base + 4 do for k = 1, 4 do if mine.cancel({ id = s + 1048576 * k }) then hits = hits + 1 end end end "
           "mine:cancel() return hits");
  CHECK_EQ(runInt(b, src), 0);
  CHECK(nowMs() - t0 >= 8); /* a forged id of a live slot costs its caller */
  sleepMs(30);
  int64_t n1 = runInt(a, "return n");
  sleepMs(50);
  CHECK(runInt(a, "return n") > n1); /* a's timer still runs */
  run(a, "h:cancel()");
  /* a listen callback that throws: the accepted conn is closed (the peer sees the end, no fd stays open) */
  int before = fdCount();
  run(a, "bad = net.listen('127.0.0.1', 0, function(c) error('handler bug') end) badPort = bad:port()");
  int port = (int)runInt(a, "return badPort");
  for (int i = 0; i < 50; i++) {
    int fd = cConnect(port);
    struct timeval tv = {2, 0}; /* a conn left open would block the read: fail instead of hanging */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[16];
    CHECK_EQ(cReadAll(fd, buf, sizeof buf), 0u); /* closed by the server, not left hanging */
    close(fd);
  }
  t0 = nowMs();
  while (fdCount() > before + 2 && nowMs() - t0 < 2000) sleepMs(5);
  CHECK(fdCount() <= before + 2); /* the listener (and at most one conn closing) */
  run(a, "bad:close()");
  /* a send stopped by the entry's limit: the limit error, and the conn still closes cleanly */
  int lfd = cListen(&port);
  int peer = connectC(a, lfd, port);
  CalogValueT r = calogValueNil();
  const char *big = "c:send(string.rep('x', 64 * 1024 * 1024))";
  CHECK_EQ(calogContextEvalTimed(rt, a, big, (int64_t)strlen(big), "t", 200, &r), CALOG_ERR_LIMIT);
  calogValueFree(&r);
  run(a, "c:close()");
  close(peer);
  close(lfd);
  calogContextDestroy(rt, a);
  calogContextDestroy(rt, b);
}


/* ---- callback forms ------------------------------------------------------------------------------------- */
/* an integer field of an error record (-1 if absent) */
static int64_t recInt(const CalogValueT *rec, const char *key) {
  if (rec->type != CALOG_AGGREGATE) return -1;
  CalogValueT k = {.type = CALOG_STRING, .as.s = {.bytes = (char *)key, .length = (int64_t)strlen(key)}};
  const CalogValueT *v = calogAggGet(rec->as.agg, &k);
  return v && v->type == CALOG_INT ? v->as.i : -1;
}

typedef struct CbScenarioT {
  const char *engine, *setup, *done, *summary;
} CbScenarioT;

/* One scenario per engine, the same in all three: accept, connect, send, receive ("*l", "*a", receiveUntil), a
 * receive timeout with its partial data (the conn stays usable), a second pending reader ("busy"), connection
 * refused and resolve, every completion as fn(err, result). */
static const CbScenarioT cbScenarios[] = {
    {"lua",
     "r = {} done = 0 srv = net.listen('127.0.0.1', 0) "
     "srv:accept({ timeoutMs = 5000 }, function(err, c) c:setTimeouts(nil, nil, 80) "
     "  c:receive('*l', function(err, line) r.line = line "
     "    c:receive('*l', function(err, l2) r.t = err.message .. ':' .. err.partial "
     "      c:receiveUntil('|', function(err, x) r.u = x c:send('bye\\n', function(err, n) r.sent = n c:close() end) end) "
     "      peer:send('ab|', function() end) end) end) end) "
     "net.connect('127.0.0.1', srv:port(), { timeoutMs = 5000 }, function(err, c) peer = c "
     "  c:send('hello\\npart', function(err, n) r.csent = n end) "
     "  c:receive('*a', function(err, all) r.all = all done = done + 1 end) "
     "  local ok, e = c:receive('*l', function() end) r.busy = e:sub(1, 4) end) "
     "net.connect('127.0.0.1', 1, function(err, c) r.refused = err.message done = done + 1 end) "
     "net.resolve('localhost', function(err, l) r.res = (l and #l > 0) and 'ok' or tostring(err and err.message) done = done + 1 end)",
     "return done == 3 and 1 or 0",
     "srv:close() return table.concat({r.line, r.t, r.u, r.sent, r.csent, r.all, r.busy, r.refused, r.res}, '|')"},
    {"js",
     "var r = {}; var done = 0; var peer = null; var srv = net.listen('127.0.0.1', 0); "
     "srv.accept({ timeoutMs: 5000 }, function (err, c) { c.setTimeouts(null, null, 80); "
     "  c.receive('*l', function (err, line) { r.line = line; "
     "    c.receive('*l', function (err, l2) { r.t = err.message + ':' + err.partial; "
     "      c.receiveUntil('|', function (err, x) { r.u = x; c.send('bye\\n', function (err, n) { r.sent = n; c.close(); }); }); "
     "      peer.send('ab|', function () {}); }); }); }); "
     "net.connect('127.0.0.1', srv.port(), { timeoutMs: 5000 }, function (err, c) { peer = c; "
     "  c.send('hello\\npart', function (err, n) { r.csent = n; }); "
     "  c.receive('*a', function (err, all) { r.all = all; done++; }); "
     "  try { c.receive('*l', function () {}); r.busy = 'no'; } catch (e) { r.busy = e.message.substring(0, 4); } }); "
     "net.connect('127.0.0.1', 1, function (err, c) { r.refused = err.message; done++; }); "
     "net.resolve('localhost', function (err, l) { r.res = l && l.length > 0 ? 'ok' : String(err && err.message); done++; });",
     "done === 3 ? 1 : 0",
     "srv.close(); [r.line, r.t, r.u, r.sent, r.csent, r.all, r.busy, r.refused, r.res].join('|')"},
    {"squirrel",
     "r <- {line = null, t = null, u = null, sent = null, csent = null, all = null, busy = null, refused = null, res = null}; "
     "done <- 0; peer <- null; srv <- net.listen(\"127.0.0.1\", 0); "
     "srv.accept({timeoutMs = 5000}, function(err, c) { c.setTimeouts(null, null, 80); "
     "  c.receive(\"*l\", function(err, line) { ::r.line = line; "
     "    c.receive(\"*l\", function(err, l2) { ::r.t = err.message + \":\" + err.partial; "
     "      c.receiveUntil(\"|\", function(err, x) { ::r.u = x; c.send(\"bye\\n\", function(err, n) { ::r.sent = n; c.close(); }); }); "
     "      ::peer.send(\"ab|\", function(err, n) {}); }); }); }); "
     "net.connect(\"127.0.0.1\", srv.port(), {timeoutMs = 5000}, function(err, c) { ::peer = c; "
     "  c.send(\"hello\\npart\", function(err, n) { ::r.csent = n; }); "
     "  c.receive(\"*a\", function(err, all) { ::r.all = all; ::done++; }); "
     "  try { c.receive(\"*l\", function(err, x) {}); ::r.busy = \"no\"; } "
     "  catch (e) { ::r.busy = (typeof e == \"table\" ? e.message : e).slice(0, 4); } }); "
     "net.connect(\"127.0.0.1\", 1, function(err, c) { ::r.refused = err.message; ::done++; }); "
     "net.resolve(\"localhost\", function(err, l) { ::r.res = (l != null && l.len() > 0) ? \"ok\" : \"\" + err.message; ::done++; });",
     "return ::done == 3 ? 1 : 0",
     "srv.close(); return r.line + \"|\" + r.t + \"|\" + r.u + \"|\" + r.sent + \"|\" + r.csent + \"|\" + r.all + \"|\" + r.busy + "
     "\"|\" + r.refused + \"|\" + r.res;"},
};

static void testCallbackForms(void) {
  for (size_t e = 0; e < sizeof cbScenarios / sizeof cbScenarios[0]; e++) {
    for (int threaded = 1; threaded >= 0; threaded--) {
      const CbScenarioT *sc = &cbScenarios[e];
      CalogContextIdT id = newEngineCtx(rt, sc->engine, threaded, true);
      run(id, sc->setup);
      bool ok = waitFor(id, threaded, sc->done, 5000);
      if (!ok) fprintf(stderr, "callback scenario did not finish: %s, %s\n", sc->engine, threaded ? "threaded" : "host thread");
      CHECK(ok);
      runStr(id, sc->summary, "hello|timeout:part|ab|4|10|bye\n|busy|connection refused|ok");
      calogContextDestroy(rt, id);
    }
  }
}

/* the callback forms' error paths (Lua, both kinds of context): close completes a pending operation with "closed",
 * accept and udp timeouts, udp both ways, a callback that throws (reported, the context goes on), the context's
 * timeoutMs stopping a callback's run, a blocking call while a callback operation is pending ("busy") */
/* A failed callback's report of random thrown values (strings of 1- to 4-byte characters and escapes cut near 80 UTF-16
 * units, renderings near 300, empty tables at the room's end, long messages past the room, numbers of every
 * magnitude): whatever it writes stays in its buffers (ASan) and is whole UTF-8 (a cut never splits a character: pass
 * 57a); the sink is a Lua function counting the lines and the bad ones. */
static void testReportRendering(void) {
  CalogContextIdT sink = newCtxIn(rt, false, false), a = 0;
  run(sink, "lines, bad = 0, 0 function out(text, stream) lines = lines + 1 if not utf8.len(text) then bad = bad + 1 end end");
  CalogValueT opts = calogValueNil(), err = calogValueNil();
  CHECK_EQ(eval(sink, "return { output = out }", &opts), CALOG_OK);
  CHECK_EQ(calogContextCreateWith(rt, "lua", CALOG_CONTEXT_OWN_THREAD, &opts, &a, &err), CALOG_OK);
  calogValueFree(&opts);
  calogValueFree(&err);
  run(a, "math.randomseed(57) done = 0 "
         "local chars = {'a', '\\u{e9}', '\\u{20ac}', '\\u{1f600}', '\"', '\\\\', '\\n', '\\1', '\\127', '\\u{2028}'} "
         "local function str(n) local t = {} for i = 1, n do t[i] = chars[math.random(#chars)] end return table.concat(t) end "
         "local function val(d) local r = math.random(7) "
         "  if d > 2 or r == 1 then return str(math.random(70, 90)) end "
         "  if r == 2 then return math.random() * 10.0 ^ math.random(-320, 308) end "
         "  if r == 3 then return {} end "
         "  if r == 4 then return math.random(math.mininteger, math.maxinteger) end "
         "  local t = {} for i = 1, math.random(0, 10) do t[i] = val(d + 1) end "
         "  if r >= 6 then t[str(math.random(1, 4))] = val(d + 1) t.e = {} end "
         "  return t end "
         "for i = 1, 400 do local v = val(0) timer.after(0, function() done = done + 1 error(v) end) end "
         "for i = 1, 60 do local m = str(math.random(200, 500)) timer.after(0, function() done = done + 1 error(m, 0) end) end");
  uint64_t t0 = nowMs();
  while (runInt(a, "return done") < 460 && nowMs() - t0 < 10000) sleepMs(10);
  sleepMs(50);
  CHECK_EQ(runInt(a, "return done"), 460);
  CHECK_EQ(runInt(sink, "return lines"), 460);
  CHECK_EQ(runInt(sink, "return bad"), 0);
  calogContextDestroy(rt, a);
  calogContextDestroy(rt, sink);
}

/* A call with more arguments than it takes, or options that are not a table, fails with ERR_ARG and its usage: they were
 * ignored without a word (net.connect(host, port, 5) had no timeout: pass 55b) */
static void testArgumentShapes(void) {
  CalogContextIdT a = newCtx(true);
  CalogValueT r = calogValueNil();
  static const char *const calls[][2] = {
      {"net.connect('127.0.0.1', 1, 5)", "net.connect: the options are a table, not a number: net.connect(host, port[, opts][, fn])"},
      {"net.connect('127.0.0.1', 1, {}, 7, function() end)", "net.connect: too many arguments"},
      {"net.connect('unix:/nowhere', 'x')", "the options are a table, not a string"},
      {"net.listen('127.0.0.1', 0, true)", "net.listen: the options are a table, not a boolean"},
      {"net.listen('127.0.0.1', 0, {}, 1)", "net.listen: too many arguments: net.listen(host, port[, opts | fn])"},
      {"net.resolve('localhost', 1)", "net.resolve: too many arguments"},
      {"net.udp(1)", "net.udp: too many arguments: net.udp()"},
      {"timer.sleep(1, 2)", "timer.sleep: too many arguments"},
      {"timer.after(1, function() end, 3)", "timer.after: too many arguments: timer.after(ms, fn)"},
      {"local s = net.listen('127.0.0.1', 0) local ok, e = pcall(s.port, s, 1) s:close() error(e, 0)", "server:port: too many arguments"},
      {"local s = net.listen('127.0.0.1', 0) local ok, e = pcall(s.accept, s, 5) s:close() error(e, 0)", "server:accept: the options are a table, not a number"},
      {"local u = net.udp() local ok, e = pcall(u.receive, u, 'x', function() end) u:close() error(e, 0)", "udp:receive: the options are a table, not a string"},
      {"local u = net.udp() local ok, e = pcall(u.bind, u, '127.0.0.1', 0, 1) u:close() error(e, 0)", "udp:bind: too many arguments"},
      /* a unix socket is named with its own usage (the TCP one named a port it must not have: pass 59b) */
      {"net.listen('unix:/nowhere', 0, function() end)", "net.listen: a unix socket takes no port: net.listen(\"unix:/path\"[, opts | fn])"},
      {"net.connect('unix:/nowhere', 0)", "net.connect: a unix socket takes no port: net.connect(\"unix:/path\"[, opts][, fn])"},
      {"net.connect('unix:/nowhere', {}, 1, 2)", "net.connect: too many arguments: net.connect(\"unix:/path\"[, opts][, fn])"},
      /* an option key the call does not take, or a list item, is refused (a misspelt timeoutMs was ignored: pass 60b) */
      {"net.connect('127.0.0.1', 1, { timeoutMS = 5 })", "net.connect: unknown option 'timeoutMS' (it takes timeoutMs): net.connect(host"},
      {"net.listen('127.0.0.1', 0, { backlogg = 5 })", "net.listen: unknown option 'backlogg' (it takes backlog)"},
      {"net.listen('127.0.0.1', 0, { 5 })", "net.listen: the options take the key backlog, not a list item"},
      {"local u = net.udp() local ok, e = pcall(u.receive, u, { timeout = 1 }) u:close() error(e, 0)", "udp:receive: unknown option 'timeout' (it takes timeoutMs)"},
      {"local s = net.listen('127.0.0.1', 0) local ok, e = pcall(s.accept, s, { [true] = 1 }) s:close() error(e, 0)", "server:accept: unknown option (it takes timeoutMs)"},
      /* a receive pattern is "*l", "*a" or a count: "*l\0zz" read a line (pass 60b) */
      {"local s = net.listen('127.0.0.1', 0) local c = net.connect('127.0.0.1', s:port()) local d = s:accept() "
       "local ok, e = pcall(c.receive, c, '*l\\0zz') c:close() d:close() s:close() error(e, 0)", "conn:receive: conn:receive(pattern)"},
      /* trailing nils are arguments left out, a nil before them is not */
      {"timer.sleep(1, nil, 2, nil)", "timer.sleep: too many arguments"},
      {"local t = timer.after(1000, function() end) t:cancel() t.cancel(nil)", "timer:cancel: call it as a method on its handle (Lua:"},
  };
  for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
    int32_t st = eval(a, calls[i][0], &r);
    CHECK(st == CALOG_ERR_ARG || st == CALOG_ERR_SCRIPT);
    CHECK_CONTAINS(calogErrorMessage(&r, NULL), calls[i][1]);
    if (!strstr(calogErrorMessage(&r, NULL), calls[i][1])) fprintf(stderr, "  got %d: %s\n", st, calogErrorMessage(&r, NULL));
  }
  /* what they take still works: options, a function in their place, the callback form */
  run(a, "local s = net.listen('127.0.0.1', 0, { backlog = 4 }) s:close() s = net.listen('127.0.0.1', 0, function() end) s:close() "
         "local t = timer.after(1000, function() end) t:cancel()");
  /* a trailing nil is an argument left out (a wrapper passing an optional callback on), in both thread modes; on the
   * host thread the refusal is the blocking one, not "too many arguments" (pass 59b) */
  run(a, "timer.sleep(1, nil) local s = net.listen('127.0.0.1', 0, nil, nil) local u = net.udp(nil) u:close(nil) "
         "local function recv(c, p, cb) return c:receive(p, cb) end local c = net.connect('127.0.0.1', s:port(), nil, nil) "
         "local d = s:accept(nil, nil) assert(d:send('x\\n', nil) == 2) assert(recv(c, '*l') == 'x') "
         "c:close() d:close() s:close(nil) local r = net.resolve('127.0.0.1', nil) assert(#r >= 1)");
  CalogContextIdT h = newCtx(false);
  CHECK(eval(h, "timer.sleep(1, nil)", &r) == CALOG_ERR_UNSUPPORTED);
  CHECK_CONTAINS(calogErrorMessage(&r, NULL), "timer.sleep blocks, and this context runs on the host thread");
  CHECK(eval(h, "net.resolve('127.0.0.1', nil, nil)", &r) == CALOG_ERR_UNSUPPORTED);
  CHECK_CONTAINS(calogErrorMessage(&r, NULL), "net.resolve blocks, and this context runs on the host thread");
  calogValueFree(&r);
  calogContextDestroy(rt, h);
  calogContextDestroy(rt, a);
}

static void testCallbackErrors(void) {
  for (int threaded = 1; threaded >= 0; threaded--) {
    CalogContextIdT a = newCtx(threaded);
    run(a, "r = {} srv = net.listen('127.0.0.1', 0) "
           "srv:accept(function(err, c) r.acc = c c:receive('*l', function(err, l) r.closed = err.message .. ':' .. tostring(err.partial) end) end) "
           "net.connect('127.0.0.1', srv:port(), function(err, c) peer = c end)");
    CHECK(waitFor(a, threaded, "return peer and r.acc and 1 or 0", 5000)); /* either callback may run first */
    run(a, "peer:send('half', function(err, n) r.half = n end)");
    CHECK(waitFor(a, threaded, "return r.half and 1 or 0", 5000));
    sleepMs(100); /* "half" reaches the pending receive (the I/O thread reads it) */
    run(a, "r.acc:close()");
    CHECK(waitFor(a, threaded, "return r.closed and 1 or 0", 5000));
    runStr(a, "return r.closed", "closed:half");
    /* accept and udp timeouts; udp both ways */
    run(a, "srv:accept({ timeoutMs = 30 }, function(err, c) r.at = err.message end) "
           "u = net.udp() assert(u:bind('127.0.0.1', 0)) u:receive({ timeoutMs = 30 }, function(err, m) r.ut = err.message end)");
    CHECK(waitFor(a, threaded, "return r.at and r.ut and 1 or 0", 5000));
    runStr(a, "return r.at .. ',' .. r.ut", "timeout,timeout");
    run(a, "u:receive(function(err, m) r.dg = m.data .. '@' .. m.host end) "
           "net.udp():send('dgram', '127.0.0.1', u:port(), function(err, n) r.dn = n end)");
    CHECK(waitFor(a, threaded, "return r.dg and r.dn and 1 or 0", 5000));
    runStr(a, "u:close() return r.dg .. ':' .. r.dn", "dgram@127.0.0.1:5");
    /* a callback that throws: reported on stderr, the next one still runs */
    run(a, "peer:receive('*l', function() error('callback bug') end) r.acc2 = nil "
           "srv:accept(function(err, c) c:send('x\\n', function() end) r.acc2 = c end) "
           "net.connect('127.0.0.1', srv:port(), function(err, c) c:receive('*l', function(err, l) r.after = l end) end)");
    CHECK(waitFor(a, threaded, "return r.after and 1 or 0", 5000));
    runStr(a, "return r.after", "x");
    /* a blocking call on a socket with a callback operation pending: busy (threaded only: blocking) */
    if (threaded) runStr(a, "local c = r.acc2 c:receive('*l', function() end) local d, e = c:receive('*l') return e:sub(1, 4)", "busy");
    /* the context's timeoutMs applies to a callback's run */
    CalogValueT lim = calogValueNil(), err = calogValueNil();
    CHECK_EQ(eval(a, "return { timeoutMs = 100 }", &lim), CALOG_OK);
    CHECK_EQ(calogContextSetLimits(rt, a, &lim, &err), CALOG_OK);
    run(a, "r.spun = nil timer.after(1, function() r.spun = 1 while true do end end)");
    CHECK(waitFor(a, threaded, "return r.spun or 0", 5000));
    CHECK_EQ(runInt(a, "return 7"), 7); /* the spinning callback was stopped */
    calogValueFree(&lim);
    calogValueFree(&err);
    run(a, "srv:close() peer:close()");
    calogContextDestroy(rt, a);
  }
}

/* destroying a context drops its pending callback operations: no callback runs, nothing leaks, and the socket
 * (another context's) is free again, its data unread */
static void testCallbackCancel(void) {
  for (int threaded = 1; threaded >= 0; threaded--) {
    int before = fdCount();
    CalogContextIdT a = newCtx(true), b = newCtx(threaded);
    int port;
    int lfd = cListen(&port);
    int fd = connectC(a, lfd, port);
    CalogValueT conn = calogValueNil(), r = calogValueNil();
    CHECK_EQ(calogContextGet(rt, a, "c", &conn), CALOG_OK);
    run(b, "function park(c) c:receive('*l', function(err, l) got = l end) c:send(string.rep('y', 1 << 20), function() end) "
           "  srv = net.listen('127.0.0.1', 0) srv:accept(function() end) return 1 end");
    CHECK_EQ(calogContextCall(rt, b, "park", &conn, 1, &r), CALOG_OK);
    calogContextDestroy(rt, b);
    if (threaded) sleepMs(50); /* its thread closes it (its operations would not take the data anyway) */
    cSend(fd, "kept\n");
    runStr(a, "return c:receive('*l')", "kept"); /* b's reader is gone: not busy, nothing consumed */
    run(a, "c:close()");
    close(fd);
    close(lfd);
    calogValueFree(&conn);
    calogValueFree(&r);
    calogContextDestroy(rt, a);
    CHECK_EQ(fdCount(), before);
  }
}

/* close while connecting (a listener whose backlog is full leaves a connect pending) and close with writes
 * pending (a writer parked on backpressure gets "closed" and the bytes sent); an interrupted send reports its
 * bytes on the limit error; a disposed context's parked call ends with the dead error */
static void testClosePending(void) {
  int port, before = fdCount();
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  CHECK_EQ(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
  CHECK_EQ(listen(lfd, 0), 0);
  socklen_t sl = sizeof sa;
  getsockname(lfd, (struct sockaddr *)&sa, &sl);
  port = ntohs(sa.sin_port);
  int fill[4];
  for (int i = 0; i < 4; i++) { /* fill the accept queue: later connects stay in progress */
    fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    (void)connect(fill[i], (struct sockaddr *)&to, sizeof to);
  }
  sleepMs(20);
  char src[512];
  /* blocking: the context is destroyed while it is parked in connect */
  CalogContextIdT a = newCtx(true);
  fmt(src, sizeof src, "return net.connect('127.0.0.1', %d, { timeoutMs = 10000 })", port);
  BgT *b = bgStart(a, src);
  sleepMs(50);
  calogContextDestroy(rt, a);
  CalogValueT r = calogValueNil();
  CHECK_EQ(bgJoin(b, &r), CALOG_ERR_DEAD); /* disposed: not a limit */
  calogValueFree(&r);
  /* callback form: a connect timeout, then one pending while its context is destroyed */
  for (int threaded = 1; threaded >= 0; threaded--) {
    CalogContextIdT c = newCtx(threaded);
    snprintf(src, sizeof src,
             "net.connect('127.0.0.1', %d, { timeoutMs = 40 }, function(err, c) ce = err and err.message or 'connected' end) "
             "net.connect('127.0.0.1', %d, function(err, c) never = 1 end)",
             port, port);
    run(c, src);
    CHECK(waitFor(c, threaded, "return ce and 1 or 0", 5000));
    runStr(c, "return ce", "timeout");
    calogContextDestroy(rt, c);
  }
  for (int i = 0; i < 4; i++) close(fill[i]);
  close(lfd);
  sleepMs(20);
  CHECK_EQ(fdCount(), before);
  /* writes pending: a writer parked on backpressure, the conn closed from another context */
  CalogContextIdT w = newCtx(true), k = newCtx(true);
  lfd = cListen(&port);
  int peer = connectC(w, lfd, port);
  CalogValueT conn = calogValueNil();
  CHECK_EQ(calogContextGet(rt, w, "c", &conn), CALOG_OK);
  run(w, "big = string.rep('z', 32 << 20)");
  b = bgStart(w, "local n, e, sent = c:send(big) return e .. ':' .. (sent > 0 and 'some' or 'none')");
  /* the send has begun once its first bytes reach the peer (a fixed 200 ms was too short under TSan on a busy
   * machine: the conn closed before the send started gave "closed:none") */
  for (int i = 0; i < 1000; i++) {
    char ch;
    if (recv(peer, &ch, 1, MSG_PEEK | MSG_DONTWAIT) == 1) break;
    sleepMs(10);
  }
  sleepMs(50);
  run(k, "function shut(c) return c:close() end");
  CHECK_EQ(calogContextCall(rt, k, "shut", &conn, 1, &r), CALOG_OK);
  int32_t bst = bgJoin(b, &r);
  if (bst != CALOG_OK) fprintf(stderr, "close with writes pending: %s\n", calogErrorMessage(&r, NULL));
  CHECK_EQ(bst, CALOG_OK);
  CHECK_STR(&r, "closed:some");
  close(peer);
  /* the same with the callback form: err.partial is the count */
  peer = connectC(w, lfd, port);
  run(w, "c:send(big, function(err, n) wr = err.message .. ':' .. (err.partial > 0 and 'some' or 'none') end) "
         "timer.after(50, function() c:close() end)");
  CHECK(waitFor(w, true, "return wr and 1 or 0", 5000));
  runStr(w, "return wr", "closed:some");
  close(peer);
  /* an interrupted send: the limit's error carries the bytes written */
  peer = connectC(w, lfd, port);
  const char *big = "c:send(big)";
  CHECK_EQ(calogContextEvalTimed(rt, w, big, (int64_t)strlen(big), "t", 150, &r), CALOG_ERR_LIMIT);
  if (recInt(&r, "partial") <= 0) fprintf(stderr, "interrupted send: %s (%lld)\n", calogErrorMessage(&r, NULL), (long long)recInt(&r, "partial"));
  CHECK(recInt(&r, "partial") > 0);
  CHECK(recInt(&r, "partial") < 32 * 1024 * 1024);
  run(w, "c:close()");
  close(peer);
  close(lfd);
  calogValueFree(&r);
  calogValueFree(&conn);
  calogContextDestroy(rt, w);
  calogContextDestroy(rt, k);
}

/* a unix-domain server removes its socket file at close only if the path still names that socket */
static void testUnixUnlink(void) {
  CalogContextIdT a = newCtx(true);
  char path[64], src[256];
  snprintf(path, sizeof path, "/tmp/calog-io-u-%d.sock", (int)getpid());
  unlink(path);
  snprintf(src, sizeof src, "s = assert(net.listen('unix:%s')) return 1", path);
  CHECK_EQ(runInt(a, src), 1);
  CHECK_EQ(unlink(path), 0); /* someone removed it and bound another socket there */
  int other = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un un = {.sun_family = AF_UNIX};
  snprintf(un.sun_path, sizeof un.sun_path, "%s", path);
  CHECK_EQ(bind(other, (struct sockaddr *)&un, sizeof un), 0);
  run(a, "s:close()");
  CHECK_EQ(access(path, F_OK), 0); /* not ours: left alone */
  close(other);
  unlink(path);
  calogContextDestroy(rt, a);
}

/* ---- hostile pass 3 ----------------------------------------------------------------------------------- */
typedef struct HostWaitT {
  pthread_t t;
  _Atomic int32_t r;
} HostWaitT;

static void *hostWaitMain(void *arg) {
  HostWaitT *w = arg;
  atomic_store(&w->r, calogHostWait(rt, -1));
  return NULL;
}

/* Registrations of threaded contexts count in hostInterest too (their callbacks may call the host), a posted
 * callback counts until it has run, and a calogHostWait(-1) ends once nothing is left that could bring work
 * (Deno's pending wait kept the process alive for good when it was armed on a count about to drop). */
static uint32_t interest(CalogWireControlT *w) { return __atomic_load_n(&w->hostInterest, __ATOMIC_RELAXED); }

static void testHostInterestThreaded(void) {
  CalogWireControlT *w = calogWireControl(rt);
  while (calogHostPoll(rt) == 1) {}
  CHECK_EQ(interest(w), 0u);
  CHECK_EQ(calogHostWait(rt, -1), 0); /* nothing in flight, nothing registered: returns at once */
  CalogContextIdT a = newCtx(true);
  run(a, "t = timer.after(100000, function() end) srv = net.listen('127.0.0.1', 0, function() end)");
  CHECK_EQ(interest(w), 2u);
  run(a, "t:cancel() srv:close()");
  uint64_t t0 = nowMs();
  while (interest(w) != 0 && nowMs() - t0 < 2000) sleepMs(2); /* the timer heap lets go of it */
  CHECK_EQ(interest(w), 0u);
  /* a waiter armed while a timer is counted returns once its callback has run */
  HostWaitT hw;
  atomic_init(&hw.r, 99);
  run(a, "fired = 0 timer.after(30, function() fired = 1 end)");
  pthread_create(&hw.t, NULL, hostWaitMain, &hw);
  pthread_join(hw.t, NULL);
  CHECK_EQ(atomic_load(&hw.r), 0);
  CHECK_EQ(runInt(a, "return fired"), 1);
  CHECK_EQ(interest(w), 0u);
  /* a callback operation's callback counts until it has run, though its operation is gone */
  run(a, "u = net.udp() assert(u:bind('127.0.0.1', 0)) got = nil u:receive(function(err, m) got = m.data end)");
  CHECK_EQ(interest(w), 1u);
  atomic_store(&hw.r, 99);
  pthread_create(&hw.t, NULL, hostWaitMain, &hw);
  run(a, "net.udp():send('x', '127.0.0.1', u:port())");
  pthread_join(hw.t, NULL);
  CHECK_EQ(atomic_load(&hw.r), 0);
  runStr(a, "return got", "x");
  /* destroyed with operations pending: nothing stays counted */
  run(a, "u:receive(function() end) srv = net.listen('127.0.0.1', 0) srv:accept(function() end) timer.every(5, function() end)");
  CHECK_EQ(interest(w), 3u);
  calogContextDestroy(rt, a);
  t0 = nowMs();
  while (interest(w) != 0 && nowMs() - t0 < 2000) sleepMs(2);
  CHECK_EQ(interest(w), 0u);
  CHECK_EQ(calogHostWait(rt, -1), 0);
}

/* hostile8: a callback-form server that runs out of descriptors (accept4: EMFILE) left the waiting connections in
 * the backlog, and its edge-triggered listener reported nothing more for them: once descriptors were free again they
 * were never accepted (their clients hung) until yet another connection arrived. Now it retries until they drain. */
static void testServerOutOfFds(void) {
  CalogContextIdT a = newCtx(true);
  int port = (int)runInt(a, "n = 0 conns = {} s = assert(net.listen('127.0.0.1', 0, function(c) n = n + 1 "
                            "conns[#conns + 1] = c end)) return s:port()");
  int clients[4];
  for (int i = 0; i < 4; i++) clients[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct rlimit saved, low;
  getrlimit(RLIMIT_NOFILE, &saved);
  int top = 0; /* the highest descriptor open now: the limit bounds numbers, not the count */
  for (int fd = 0; fd < 65536 && fd < (int)saved.rlim_cur; fd++)
    if (fcntl(fd, F_GETFD) >= 0) top = fd;
  low = saved;
  low.rlim_cur = (rlim_t)top + 32;
  CHECK_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  static int fill[4096];
  int nfill = 0;
  while (nfill < 4096 && (fill[nfill] = dup(0)) >= 0) nfill++;
  CHECK(nfill < 4096 && errno == EMFILE); /* every descriptor taken */
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  for (int i = 0; i < 4; i++) CHECK_EQ(connect(clients[i], (struct sockaddr *)&sa, sizeof sa), 0); /* into the backlog */
  sleepMs(150);
  CHECK_EQ(runInt(a, "return n"), 0); /* no descriptor to accept them with */
  for (int i = 0; i < nfill; i++) close(fill[i]);
  CHECK_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  CHECK(waitFor(a, true, "return n == 4 and 1 or 0", 3000)); /* accepted once descriptors are free, no new arrival */
  for (int i = 0; i < 4; i++) close(clients[i]);
  run(a, "for _, c in ipairs(conns) do c:close() end s:close()");
  calogContextDestroy(rt, a);
}

/* Sets id's memory limit to bytes (the limits built by a script of id's own: the value it returns). */
static void limitMemory(CalogContextIdT id, int64_t bytes) {
  char src[64];
  CalogValueT r = calogValueNil(), lim = calogValueNil();
  snprintf(src, sizeof src, "return { memory = %lld }", (long long)bytes);
  CHECK_EQ(calogContextEval(rt, id, src, (int64_t)strlen(src), "lim", &lim), CALOG_OK);
  CHECK_EQ(calogContextSetLimits(rt, id, &lim, &r), CALOG_OK);
  calogValueFree(&lim);
  calogValueFree(&r);
}

/* hostile8: a handle's C memory (the handle, its slot, its heap entry) was outside every limit and the handle table is
 * the runtime's: a sandboxed context (no grants) with a 2 MB memory limit made 1,048,575 net.udp() handles (320 MB of
 * RSS; its interpreter held 72 KB) and every other context's timers and sockets failed ("cannot create the timer")
 * until it was destroyed. Now each live handle counts IO_HANDLE_COST bytes against its owner's memory limit. */
static void testHandleQuota(void) {
  CalogContextIdT other = newCtx(true);
  CalogValueT r = calogValueNil(), lim = calogValueNil();
  const char *src = "return { memory = 2097152 }";
  CHECK_EQ(calogContextEval(rt, other, src, (int64_t)strlen(src), "lim", &lim), CALOG_OK);
  for (int kind = 0; kind < 2; kind++) {
    CalogContextIdT sb = newCtxIn(rt, true, false);
    CHECK_EQ(calogContextSetLimits(rt, sb, &lim, &r), CALOG_OK);
    CHECK_EQ(eval(sb, kind ? "local f = function() end for i = 1, 1100000 do n = i timer.after(1e9, f) end"
                           : "for i = 1, 1100000 do n = i net.udp() end", &r), CALOG_ERR_LIMIT);
    CHECK_CONTAINS(calogErrorMessage(&r, NULL), "memory limit");
    int64_t n = runInt(sb, "return n");
    CHECK(n > 1000 && n <= 2097152 / 512 + 1);
    runStr(other, "local h = assert(timer.after(1, function() end)) h:cancel() return 'ok'", "ok");
    runStr(other, "local s = assert(net.listen('127.0.0.1', 0)) s:close() return 'ok'", "ok");
    calogContextDestroy(rt, sb);
  }
  calogValueFree(&lim);
  calogValueFree(&r);
  calogContextDestroy(rt, other);
}

/* hostile11: a callback-form server's connections were made with no check of its owner's memory limit, so peers that
 * connected and stayed held it past the limit (a 1 MB context kept 4,000: 2,048 handles are its limit) and every
 * later timer or socket of the context tripped it. Now a connection past the limit is closed at once. */
static void testServerQuota(void) {
  CalogContextIdT a = newCtx(false); /* a host-thread context: its callbacks run as we poll */
  limitMemory(a, 262144); /* 512 handles */
  int port = (int)runInt(a, "n = 0 s = assert(net.listen('127.0.0.1', 0, function(c) n = n + 1 end)) return s:port()");
  enum { N = 700 };
  static int clients[N];
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  for (int i = 0; i < N; i++) {
    clients[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK_EQ(connect(clients[i], (struct sockaddr *)&sa, sizeof sa), 0);
    if (i % 64 == 63) while (calogHostPoll(rt) == 1) {}
  }
  uint64_t t0 = nowMs();
  int closed = 0;
  while (nowMs() - t0 < 3000) { /* the refused ones see their end */
    while (calogHostPoll(rt) == 1) {}
    closed = 0;
    for (int i = 0; i < N; i++) {
      char b;
      if (recv(clients[i], &b, 1, MSG_DONTWAIT) == 0) closed++;
    }
    if (closed >= N - 512) break;
    sleepMs(5);
  }
  int64_t n = runInt(a, "return n");
  /* n < 512: the quota held. The lower bound leaves room for the interpreter's own share of the 256 KB: each
   * accepted connection's callback leaves garbage (its conn object) until the collector runs, and that counts too
   * (400 failed once under ASan on a loaded machine; the figure is printed when a check fails) */
  if (!(n >= 300 && n < 512) || closed < N - 512) fprintf(stderr, "testServerQuota: n = %lld, closed = %d\n", (long long)n, closed);
  CHECK(n >= 300 && n < 512);
  CHECK(closed >= N - 512);
  for (int i = 0; i < N; i++) close(clients[i]);
  calogContextDestroy(rt, a);
}

/* hostile8: a callback-form connect (or udp:send) to a name, with a timeout that passes while the name is still
 * queued on the resolver, dropped the operation's reference twice (calog__ioResolveWithdraw, then the completion):
 * heap-use-after-free of the op by the I/O thread, then a double free (Bun aborted: "unaligned tcache chunk"). A
 * name that resolves slowly does it (a DNS server that does not answer at once); here 3,000 lookups queued ahead. */
static void testTimeoutWhileResolving(void) {
  for (int threaded = 1; threaded >= 0; threaded--) {
    CalogContextIdT a = newCtx(threaded);
    run(a, "n = 0 res = nil for i = 1, 3000 do net.resolve('localhost', function() n = n + 1 end) end "
           "net.connect('127.1', 9, { timeoutMs = 1 }, function(e, c) res = e and e.message or 'connected' end) "
           "local u = net.udp() net.resolve('localhost', function() end) "
           "u:setTimeouts(nil, 1) u:send('x', '127.1', 9, function(e) ures = e and e.message or 'sent' end)");
    CHECK(waitFor(a, threaded, "return (n == 3000 and res ~= nil) and 1 or 0", 20000));
    /* "timeout" when the deadline came first (as it does here unless the I/O thread is starved, under TSan) */
    runStr(a, "return (res == 'timeout' or res == 'connection refused') and 'ok' or res", "ok");
    calogContextDestroy(rt, a);
  }
}

/* hostile11: the resolver thread is detached at destroy, and shutdown withdraws only the operations still queued: one
 * it had just taken off the queue was completed by it after calogDestroy had freed the runtime (calog__ioOpResolved
 * -> calog__ioPostCall read io->rt: heap-use-after-free of the runtime). Lookups the resolver refuses at once (an
 * empty label: no query), a runtime destroyed while it works through them. */
static void testDestroyWhileResolving(void) {
  for (int round = 0; round < 40; round++) {
    CalogT *r2 = calogCreate();
    CalogContextIdT a = newCtxIn(r2, round % 2 == 0, true);
    const char *src = round % 4 < 2 ? "for i = 1, 400 do net.resolve('a..b', function() end) end return 1"
                                    : "for i = 1, 400 do net.connect('a..b', 80, { timeoutMs = 50 }, function() end) end return 1";
    CalogValueT out = calogValueNil();
    CHECK_EQ(calogContextEval(r2, a, src, (int64_t)strlen(src), "res", &out), CALOG_OK);
    calogValueFree(&out);
    if (round % 3) sleepMs(round % 5);
    calogDestroy(r2);
  }
  sleepMs(100); /* the detached resolver finishes what it held */
}

/* A lookup held on the resolver thread as a DNS server that does not answer holds it (10 s and more), through the
 * library's test hook (loop.c): no network, no mount namespace. Names held: stallName only; each is held until
 * stallRelease, or 10 s. */
extern void (*_Atomic calog__ioResolveHook)(const char *host);
static const char *_Atomic stallName;
static _Atomic int stallHeld; /* lookups inside the hook now */
static _Atomic bool stallRelease;

static void stallHook(const char *host) {
  const char *name = atomic_load(&stallName);
  if (name == NULL || strcmp(host, name) != 0) return;
  atomic_fetch_add(&stallHeld, 1);
  uint64_t t0 = nowMs();
  while (!atomic_load(&stallRelease) && nowMs() - t0 < 10000) sleepMs(2);
  atomic_fetch_sub(&stallHeld, 1);
}

/* Holds lookups of name from now on (none held: NULL). */
static void stallStart(const char *name) {
  atomic_store(&stallRelease, false);
  atomic_store(&stallName, name);
  atomic_store(&calog__ioResolveHook, stallHook);
}

static bool stallWaitHeld(int n, int ms) {
  uint64_t t0 = nowMs();
  while (atomic_load(&stallHeld) != n && nowMs() - t0 < (uint64_t)ms) sleepMs(1);
  return atomic_load(&stallHeld) == n;
}

/* Lets the held lookups go and waits until the resolver is out of the hook. */
static void stallEnd(void) {
  atomic_store(&stallName, NULL);
  atomic_store(&stallRelease, true);
  CHECK(stallWaitHeld(0, 5000));
}

/* hostile11 (was run only with CALOG_DNS_STALL=1 in a mount namespace): a runtime destroyed while a name resolves
 * does not wait for the lookup, and the detached resolver, once the lookup returns, touches nothing of the freed
 * runtime (ASan). The three forms: a callback resolve, a callback connect with a timeout, a blocking resolve parked
 * in a threaded context. */
static void testDnsStall(void) {
  stallStart("stall..invalid"); /* an empty label: the resolver refuses it without a query once let go */
  for (int form = 0; form < 3; form++) {
    CalogT *r2 = calogCreate();
    CalogContextIdT a = newCtxIn(r2, true, true);
    const char *src = form == 0 ? "net.resolve('stall..invalid', function(e, l) end) return 1"
                    : form == 1 ? "net.connect('stall..invalid', 80, { timeoutMs = 100 }, function(e, c) end) return 1"
                                : "timer.after(1, function() net.resolve('stall..invalid') end) return 1"; /* parked */
    CalogValueT out = calogValueNil();
    CHECK_EQ(calogContextEval(r2, a, src, (int64_t)strlen(src), "dns", &out), CALOG_OK);
    calogValueFree(&out);
    CHECK(stallWaitHeld(1, 3000));
    if (form == 1) sleepMs(200); /* its timeout has passed: its callback was posted (to a context that stays) */
    uint64_t t0 = nowMs();
    calogDestroy(r2);
    uint64_t took = nowMs() - t0;
    if (took >= 2000) fprintf(stderr, "dns stall form %d: destroy took %llu ms\n", form, (unsigned long long)took);
    CHECK(took < 2000); /* the lookup is held for 10 s */
    atomic_store(&stallRelease, true); /* the lookup returns to a resolver whose runtime is gone */
    CHECK(stallWaitHeld(0, 5000));
    atomic_store(&stallRelease, false);
    sleepMs(50);
  }
  stallEnd();
  sleepMs(100); /* the detached resolvers finish what they held */
}

/* Twelfth pass: a context destroyed while one of its callback connects resolved its name left the operation on the
 * resolver's queue: once the name resolved, the destroyed context's connect was made all the same (then closed), and
 * until then the operation held the host's interest (a Deno process with nothing else to do stayed alive until the
 * lookup ended: 10 s and more with a DNS server that does not answer). */
static void testDestroyWhileConnectResolves(void) {
  CalogWireControlT *w = calogWireControl(rt);
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sl = sizeof sa;
  CHECK_EQ(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
  CHECK_EQ(listen(lfd, 16), 0);
  CHECK_EQ(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
  int port = ntohs(sa.sin_port);
  stallStart("LocalHost"); /* /etc/hosts: 127.0.0.1, no query (localhost itself never reaches the resolver) */
  for (int threaded = 1; threaded >= 0; threaded--) {
    while (calogHostPoll(rt) == 1) {}
    uint32_t base = interest(w);
    CalogContextIdT a = newCtx(threaded);
    char src[200];
    snprintf(src, sizeof src, "net.connect('LocalHost', %d, function(e, c) end) net.connect('LocalHost', %d, "
             "{ timeoutMs = 60000 }, function(e, c) end) return 1", port, port);
    runInt(a, src);
    CHECK(stallWaitHeld(1, 3000)); /* the first is inside the lookup, the second queued */
    CHECK_EQ(interest(w), base + 2u);
    calogContextDestroy(rt, a);
    uint64_t t0 = nowMs();
    while (interest(w) != base && nowMs() - t0 < 1000) sleepMs(2);
    CHECK_EQ(interest(w), base); /* nothing of the destroyed context is left to wait for */
    atomic_store(&stallRelease, true);
    CHECK(stallWaitHeld(0, 5000));
    atomic_store(&stallRelease, false);
    sleepMs(200); /* a connect would have reached the listener by now */
    int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (c >= 0) fprintf(stderr, "a destroyed context's connect reached the listener (threaded %d)\n", threaded);
    CHECK(c < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
    if (c >= 0) close(c);
    while (calogHostPoll(rt) == 1) {}
    CHECK_EQ(interest(w), base);
  }
  stallEnd();
  close(lfd);
}

/* Twelfth pass: a host that can be no host name -- a socket path with the scheme in capitals ('UNIX:/run/x.sock'), a
 * path, a name with a colon that is no IPv6 address -- was handed to getaddrinfo, which sends it to the DNS servers
 * (under a '*' grant or the trusted profile): a socket path carried off the machine. Now it is refused before
 * resolving (CALOG_ERR_ARG); a scoped IPv6 address (fe80::1%lo) is numeric, resolved inline. */
static _Atomic int oddNames; /* names with '/', '\\', ' ' or ':' (no IPv6 address) that reached the resolver */
static void recordHook(const char *host) {
  struct in6_addr a6;
  if (strpbrk(host, "/\\: %[]@,") == NULL || inet_pton(AF_INET6, host, &a6) == 1) return; /* net.resolve('::1'): numeric */
  fprintf(stderr, "reached the resolver: '%s'\n", host);
  atomic_fetch_add(&oddNames, 1);
}

static void testNotHostNames(void) {
  atomic_store(&oddNames, 0);
  atomic_store(&calog__ioResolveHook, recordHook);
  CalogContextIdT a = newCtx(true), h = newCtx(false);
  static const char *const bad[] = {
      "return net.connect('UNIX:/tmp/calog-x.sock', 80)", "return net.connect('Unix:/tmp/calog-x.sock', 80, function() end)",
      "return net.resolve('UNIX:/tmp/calog-x.sock')", "return net.resolve('unix:/tmp/calog-x.sock', function() end)",
      "return net.resolve('a/b')", "return net.connect('a:b', 80, function() end)", "return net.resolve('a b')",
      "return net.udp():send('x', 'a\\\\b', 9, function() end)", "return net.listen('x/y', 0)",
      "return net.resolve('[::1]')", "return net.udp():bind('UNIX:/x', 0)",
      /* hostile14: characters no host name holds, outside an IPv6 address */
      "return net.resolve('%')", "return net.resolve('[]')", "return net.connect('a@b', 80)", "return net.resolve('a,b')",
      /* '' and '*' are every interface: a listener's, never a destination (net.connect('', port) reached this machine) */
      "return net.connect('', 80)", "return net.connect('*', 80, function() end)", "return net.udp():send('x', '', 9)",
      "return net.udp():send('x', '*', 9, function() end)", "return net.resolve('')", "return net.resolve('', function() end)"};
  CalogValueT r = calogValueNil();
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CalogContextIdT c = strstr(bad[i], "function") ? h : a;
    int32_t st = eval(c, bad[i], &r);
    CHECK_EQ(st, CALOG_ERR_SCRIPT); /* CALOG_ERR_ARG, raised in the script */
    CHECK_CONTAINS(calogErrorMessage(&r, NULL), "not a host name");
  }
  CHECK_CONTAINS((eval(a, bad[0], &r), calogErrorMessage(&r, NULL)), "unix:/path");
  /* still numeric: IPv6 with a scope, in brackets, and a name */
  runStr(a, "local l = net.resolve('::1') return l[1]", "::1");
  runStr(a, "local s = assert(net.listen('::1', 0)) local c = assert(net.connect('[::1]', s:port())) c:close() s:close() "
            "return 'ok'", "ok");
  runStr(a, "local c, e = net.connect('fe80::1%lo', 9, { timeoutMs = 500 }) return (c or e:find('cannot resolve')) and 'x' or 'ok'", "ok");
  runStr(a, "return net.resolve('LocalHost')[1]", "127.0.0.1");
  sleepMs(50);
  CHECK_EQ(atomic_load(&oddNames), 0);
  atomic_store(&calog__ioResolveHook, NULL);
  calogValueFree(&r);
  calogContextDestroy(rt, a);
  calogContextDestroy(rt, h);
}

/* Twelfth pass: the counts a memory limit reads (ioHandles: live handles and pending operations; ioBuffered: bytes
 * received and not taken, copies of pending sends) return to nothing once the operations are over, along every path
 * that ends one: a deadline passing while the name waits on the resolver (withdrawn, then dropped unlooked-up), a
 * callback send, a blocking and a callback receive, a receive ended by close, a one-shot timer. A count that drifted
 * would trip the limit below. */
static void testCountsReturn(void) {
  CalogContextIdT a = newCtx(true);
  limitMemory(a, 1048576);
  stallStart("stall..invalid");
  run(a, "net.resolve('stall..invalid', function() end)"); /* every name below waits behind it */
  CHECK(stallWaitHeld(1, 3000));
  runInt(a, "done = 0 local s = assert(net.listen('127.0.0.1', 0)) local port = s:port() "
            "local big = string.rep('x', 100000) "
            "for i = 1, 300 do "
            "  net.connect('LocalHost', port, { timeoutMs = 1 }, function(e, c) done = done + 1 if c then c:close() end end) "
            "  local c = assert(net.connect('127.0.0.1', port)) local p = assert(s:accept()) "
            "  c:send(big, function(e, n) done = done + 1 end) "
            "  assert(#p:receive(100000) == 100000) "
            "  p:receive(5, function(e, d) done = done + 1 end) "
            "  c:close() p:close() "
            "  timer.after(0, function() done = done + 1 end) "
            "end s:close() return 1");
  CHECK(waitFor(a, true, "return done == 1200 and 1 or 0", 10000));
  atomic_store(&stallRelease, true);
  CHECK(stallWaitHeld(0, 5000));
  stallEnd();
  /* the handle quota is 2,048 handles under 1 MB: 1,900 more fit only if fewer than 148 of the 1,500 handles above
   * stayed counted (kept by nobody, their values are garbage: only the quota sees them; the destroy closes them); a
   * send of 400 KB fits only if fewer than 648 KB of the 30 MB sent above stayed counted */
  runStr(a, "local f = function() end for i = 1, 1900 do timer.after(1e9, f) end "
            "local s = assert(net.listen('127.0.0.1', 0)) local c = assert(net.connect('127.0.0.1', s:port())) "
            "local p = assert(s:accept()) c:send(string.rep('y', 400000), function() end) "
            "c:close() p:close() s:close() return 'ok'", "ok");
  calogContextDestroy(rt, a);
}

/* A callback-form udp:receive held a 64 KB buffer for its whole wait, outside every count (a handle counts 512 bytes
 * against the memory limit: 128 times that could wait uncounted). The buffer now comes with the datagram, sized to it:
 * every size from 0 to the largest IPv4 datagram arrives whole, both forms, and 400 waiting receives hold no buffers
 * (glibc's count of bytes in use; ASan and TSan keep their own heaps and report nothing, so there it checks nothing). */
static void testUdpReceiveBuffers(void) {
  CalogContextIdT a = newCtx(true);
  run(a, "u = net.udp() assert(u:bind('127.0.0.1', 0)) got = {} "
         "function take() u:receive(function(err, m) got[#got + 1] = err and err.message or #m.data take() end) end take()");
  run(a, "local s = net.udp() for _, n in ipairs({ 0, 1, 1000, 65507 }) do "
         "assert(s:send(string.rep('d', n), '127.0.0.1', u:port())) end s:close()");
  CHECK(waitFor(a, true, "return #got == 4 and 1 or 0", 5000));
  runStr(a, "return table.concat(got, ',')", "0,1,1000,65507");
  runStr(a, "u:close() local v = net.udp() assert(v:bind('127.0.0.1', 0)) local s = net.udp() local out = {} "
            "for _, n in ipairs({ 65507, 0, 7 }) do assert(s:send(string.rep('e', n), '127.0.0.1', v:port())) "
            "local m = assert(v:receive({ timeoutMs = 2000 })) out[#out + 1] = #m.data .. (m.data:find('[^e]') and '!' or '') end "
            "s:close() v:close() return table.concat(out, ',')", "65507,0,7");
  struct mallinfo2 before = mallinfo2();
  run(a, "us = {} for i = 1, 400 do local x = net.udp() assert(x:bind('127.0.0.1', 0)) x:receive(function() end) us[i] = x end");
  struct mallinfo2 after = mallinfo2();
  CHECK(after.uordblks < before.uordblks + (size_t)400 * 16384);
  run(a, "for _, x in ipairs(us) do x:close() end us = nil");
  calogContextDestroy(rt, a);
}

int main(void) {
  rt = calogCreate();
  testDnsStall();
  testSleep();
  testTimers();
  testHostThread();
  testEcho();
  testErrors();
  testPatterns();
  testResetAndSendTimeout();
  testHandoffAndClose();
  testParkedLimits();
  testOtherEngines();
  testUnixAndResolve();
  testUdp();
  testThousand();
  testBulk();
  testNoFdLeak();
  testReviewFindings();
  testCallbackForms();
  testCallbackErrors();
  testReportRendering();
  testArgumentShapes();
  testCallbackCancel();
  testClosePending();
  testUnixUnlink();
  testHostInterestThreaded();
  testServerOutOfFds();
  testHandleQuota();
  testServerQuota();
  testTimeoutWhileResolving();
  testDestroyWhileResolving();
  testDestroyWhileConnectResolves();
  testNotHostNames();
  testCountsReturn();
  testUdpReceiveBuffers();
  calogDestroy(rt);
  CHECK_EQ(calogFnLiveCount(), 0);
  return checkSummary("test_io");
}
