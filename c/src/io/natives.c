/* natives.c -- what scripts see: the `net` and `timer` globals and the handle values (plain maps of an id and
 * method natives), argument checking, capability checks, and the blocking / callback split. */
#include "io_impl.h"

#include "../policy/policy.h"

#include <stdio.h>

/* net.c */
CALOG_HIDDEN int32_t calog__ioConnect(IoT *io, CalogCtxT *ctx, const char *host, int port, int64_t timeoutMs,
                                      IoHandleT **out, CalogValueT *err);
CALOG_HIDDEN int32_t calog__ioListen(IoT *io, CalogCtxT *ctx, const char *host, int port, int backlog, CalogFnT *onAccept,
                                     IoHandleT **out, CalogValueT *err);
CALOG_HIDDEN int32_t calog__ioAccept(IoHandleT *h, CalogCtxT *ctx, int64_t timeoutMs, IoHandleT **out, CalogValueT *err);
CALOG_HIDDEN int32_t calog__ioSend(IoHandleT *h, const char *p, size_t n, CalogValueT *result);
CALOG_HIDDEN int32_t calog__ioReceive(IoHandleT *h, int mode, size_t count, const char *delim, size_t dlen,
                                      CalogValueT *result);
CALOG_HIDDEN int32_t calog__ioShutdownWrite(IoHandleT *h, CalogValueT *result);
CALOG_HIDDEN int32_t calog__ioName(IoHandleT *h, bool peer, CalogValueT *result);
CALOG_HIDDEN void calog__ioShutdown(void *ext);
CALOG_HIDDEN int32_t calog__ioUdpBind(IoHandleT *h, const char *host, int port, CalogValueT *result);
CALOG_HIDDEN int32_t calog__ioUdpSend(IoHandleT *h, const char *p, size_t n, const char *host, int port, CalogValueT *result);
CALOG_HIDDEN int32_t calog__ioUdpReceive(IoHandleT *h, int64_t timeoutMs, CalogValueT *result);

typedef enum OpE {
  OP_CONNECT, OP_LISTEN, OP_RESOLVE, OP_UDP, OP_SLEEP, OP_AFTER, OP_EVERY,
  /* methods (the receiver first) */
  OP_SEND, OP_RECEIVE, OP_RECEIVE_UNTIL, OP_SHUTDOWN, OP_CLOSE, OP_PEER, OP_SET_TIMEOUTS,
  OP_ACCEPT, OP_PORT, OP_SERVER_CLOSE, OP_CANCEL,
  OP_UDP_BIND, OP_UDP_SEND, OP_UDP_RECEIVE, OP_UDP_CLOSE, OP_UDP_PORT, OP_UDP_SET_TIMEOUTS,
  OP_COUNT
} OpE;
#define FIRST_METHOD OP_SEND

static const char *const opNames[OP_COUNT] = {
    "net.connect", "net.listen", "net.resolve", "net.udp", "timer.sleep", "timer.after", "timer.every",
    "conn:send", "conn:receive", "conn:receiveUntil", "conn:shutdown", "conn:close", "conn:peer", "conn:setTimeouts",
    "server:accept", "server:port", "server:close", "timer:cancel",
    "udp:bind", "udp:send", "udp:receive", "udp:close", "udp:port", "udp:setTimeouts"};

/* what a failing callback of each callback form is reported as */
static const char *const cbNames[OP_COUNT] = {
    [OP_CONNECT] = "net.connect callback", [OP_RESOLVE] = "net.resolve callback", [OP_SEND] = "conn:send callback",
    [OP_RECEIVE] = "conn:receive callback", [OP_RECEIVE_UNTIL] = "conn:receiveUntil callback",
    [OP_ACCEPT] = "server:accept callback", [OP_UDP_SEND] = "udp:send callback", [OP_UDP_RECEIVE] = "udp:receive callback"};

typedef struct NativeT {
  IoT *io;
  OpE op;
} NativeT;

static int32_t ioNative(CalogValueT *args, int32_t argc, CalogValueT *result, void *userData);

bool calog__ioIsNative(const CalogFnT *fn) { return fn != NULL && fn->fn == ioNative; }

bool calog__ioIsMethod(const CalogFnT *fn) {
  return calog__ioIsNative(fn) && ((const NativeT *)fn->userData)->op >= FIRST_METHOD;
}

const CalogValueT *calog__ioPartial(const CalogValueT *err) {
  if (err == NULL || err->type != CALOG_AGGREGATE) return NULL;
  CalogValueT key = {.type = CALOG_STRING, .as.s = {.bytes = (char *)"partial", .length = 7}};
  return calogAggGet(err->as.agg, &key);
}

/* ---- arguments ------------------------------------------------------------------------------------------ */
static int32_t argFail(CalogValueT *r, OpE op, const char *usage) {
  return calogFail(r, CALOG_ERR_ARG, "%s: %s", opNames[op], usage);
}

/* Each call's arguments at most (a method's receiver counted, a callback form's function not) and its usage: one more
 * was ignored without a word, so net.connect(host, port, 5) ran with no timeout (pass 55b). */
static const struct {
  int32_t max;
  const char *usage;
} opArgs[OP_COUNT] = {
    [OP_CONNECT] = {3, "net.connect(host, port[, opts][, fn])"}, [OP_LISTEN] = {3, "net.listen(host, port[, opts | fn])"},
    [OP_RESOLVE] = {1, "net.resolve(host[, fn])"}, [OP_UDP] = {0, "net.udp()"}, [OP_SLEEP] = {1, "timer.sleep(ms)"},
    [OP_AFTER] = {2, "timer.after(ms, fn)"}, [OP_EVERY] = {2, "timer.every(ms, fn)"},
    [OP_SEND] = {2, "conn:send(data[, fn])"}, [OP_RECEIVE] = {2, "conn:receive([pattern][, fn])"},
    [OP_RECEIVE_UNTIL] = {2, "conn:receiveUntil(delimiter[, fn])"}, [OP_SHUTDOWN] = {1, "conn:shutdown()"},
    [OP_CLOSE] = {1, "conn:close()"}, [OP_PEER] = {1, "conn:peer()"},
    [OP_SET_TIMEOUTS] = {4, "conn:setTimeouts(connect, send, receive)"}, [OP_ACCEPT] = {2, "server:accept([opts][, fn])"},
    [OP_PORT] = {1, "server:port()"}, [OP_SERVER_CLOSE] = {1, "server:close()"}, [OP_CANCEL] = {1, "timer:cancel()"},
    [OP_UDP_BIND] = {3, "udp:bind(host, port)"}, [OP_UDP_SEND] = {4, "udp:send(data, host, port[, fn])"},
    [OP_UDP_RECEIVE] = {2, "udp:receive([opts][, fn])"}, [OP_UDP_CLOSE] = {1, "udp:close()"},
    [OP_UDP_PORT] = {1, "udp:port()"}, [OP_UDP_SET_TIMEOUTS] = {4, "udp:setTimeouts(connect, send, receive)"}};

static int32_t tooManyFor(CalogValueT *r, OpE op, const char *usage) {
  return calogFail(r, CALOG_ERR_ARG, "%s: too many arguments: %s", opNames[op], usage);
}

static int32_t tooMany(CalogValueT *r, OpE op) { return tooManyFor(r, op, opArgs[op].usage); }

/* an options argument: absent, nil or a table (a number in its place was read as no options) of the one key the call
 * takes (a misspelt key was ignored: net.connect(h, p, { timeoutMS = 5 }) ran with no timeout, pass 60b) */
static int32_t optsArg(CalogValueT *r, OpE op, const CalogValueT *opts) {
  if (opts == NULL || opts->type == CALOG_NIL) return CALOG_OK;
  if (opts->type == CALOG_AGGREGATE) {
    const char *known = op == OP_LISTEN ? "backlog" : "timeoutMs";
    CalogAggT *agg = opts->as.agg;
    if (calogAggArrayCount(agg) > 0)
      return calogFail(r, CALOG_ERR_ARG, "%s: the options take the key %s, not a list item: %s", opNames[op], known, opArgs[op].usage);
    for (int64_t i = 0, n = calogAggKind(agg) == CALOG_AGG_LIST ? 0 : calogAggPairCount(agg); i < n; i++) {
      const CalogValueT *k = calogAggPairKey(agg, i);
      if (k->type == CALOG_STRING && k->as.s.length == (int64_t)strlen(known) && memcmp(k->as.s.bytes, known, strlen(known)) == 0) continue;
      if (k->type == CALOG_STRING && k->as.s.length <= 60 && memchr(k->as.s.bytes, 0, (size_t)k->as.s.length) == NULL)
        return calogFail(r, CALOG_ERR_ARG, "%s: unknown option '%.*s' (it takes %s): %s", opNames[op], (int)k->as.s.length,
                         k->as.s.bytes, known, opArgs[op].usage);
      return calogFail(r, CALOG_ERR_ARG, "%s: unknown option (it takes %s): %s", opNames[op], known, opArgs[op].usage);
    }
    return CALOG_OK;
  }
  const char *kind = opts->type == CALOG_INT || opts->type == CALOG_REAL ? "number"
                     : opts->type == CALOG_BOOL                          ? "boolean"
                     : opts->type == CALOG_STRING                        ? "string"
                                                                         : "function";
  return calogFail(r, CALOG_ERR_ARG, "%s: the options are a table, not a %s: %s", opNames[op], kind, opArgs[op].usage);
}

/* An integer, or a whole float; one at or past +2^63 (Infinity too) counts as INT64_MAX, the largest count or delay
 * there is (a conversion out of range is undefined in C: UBSan stopped the host at timer.sleep(1e300), and the release
 * build read 1e19 as INT64_MIN, "ms >= 0"). NaN and -Infinity are none. */
static bool isInt(const CalogValueT *v) {
  if (v->type == CALOG_INT) return true;
  if (v->type != CALOG_REAL) return false;
  double r = v->as.r;
  if (r >= 9223372036854775808.0) return true;
  return r >= -9223372036854775808.0 && r == (double)(int64_t)r;
}
static int64_t intOf(const CalogValueT *v) {
  if (v->type == CALOG_INT) return v->as.i;
  return v->as.r >= 9223372036854775808.0 ? INT64_MAX : (int64_t)v->as.r;
}

/* opts.key as a non-negative integer (*out unchanged when absent); false when present and invalid */
static bool optInt(const CalogValueT *opts, const char *key, int64_t *out) {
  const CalogValueT *v = calog__optGet(opts, key);
  if (v == NULL || v->type == CALOG_NIL) return true;
  if (!isInt(v) || intOf(v) < 0) return false;
  *out = intOf(v);
  return true;
}

#define AS_METHOD "call it as a method on its handle (Lua: handle:method(...); JavaScript, Squirrel: handle.method(...))"

/* The receiver: a handle map { id = n, ... } or the id itself. */
static IoHandleT *receiver(IoT *io, OpE op, CalogValueT *args, int32_t argc, int kind, CalogValueT *r, int32_t *st) {
  const CalogValueT *v = argc > 0 ? &args[0] : NULL;
  if (v && v->type == CALOG_AGGREGATE) v = calog__optGet(v, "id");
  if (v == NULL || !isInt(v)) {
    *st = argFail(r, op, AS_METHOD);
    return NULL;
  }
  IoHandleT *h = calog__ioLookup(io, intOf(v), kind);
  if (h == NULL) *st = calog__ioSoft(r, "closed", NULL); /* a stale id: that handle was closed */
  return h;
}

/* instead: the callback form to suggest, or NULL (none: only a threaded context will do) */
static int32_t needThread(CalogCtxT *ctx, OpE op, const char *instead, CalogValueT *r) {
  if (ctx->threaded) return CALOG_OK;
  if (instead == NULL)
    return calogFail(r, CALOG_ERR_UNSUPPORTED,
                     "%s blocks, and this context runs on the host thread, where blocking would freeze the event loop: "
                     "use a threaded context ({ thread: true })",
                     opNames[op]);
  return calogFail(r, CALOG_ERR_UNSUPPORTED,
                   "%s blocks, and this context runs on the host thread, where blocking would freeze the event loop: "
                   "use a threaded context ({ thread: true }) or the callback form %s",
                   opNames[op], instead);
}

/* port < 0: net.resolve of host (no port) */
static int32_t checkNet(CalogCtxT *ctx, bool listen, const char *host, int port, CalogValueT *r) {
  /* '' and '*' name every interface (0.0.0.0), which a listener binds; as a destination the kernel took it for this
   * machine, so net.connect('', port) reached a local server */
  if (!listen && port >= 0 && (host[0] == '\0' || strcmp(host, "*") == 0))
    return calogFail(r, CALOG_ERR_ARG, "'%s' is not a host name or an address (it means every interface: for "
                     "net.listen and udp:bind only)", host);
  CalogCapsT caps;
  CalogValueT err = calogValueNil();
  int32_t st = calog__capsParse(calog__optGet(&ctx->options, "capabilities"), &caps, &err);
  calogValueFree(&err);
  if (st != CALOG_OK) return calogFail(r, CALOG_ERR_PERMISSION, CALOG_DENIED_PREFIX "cannot read the capabilities");
  bool ok = port < 0 ? calog__capsNetHost(&caps, host) : calog__capsNet(&caps, listen, host, port);
  if (!ok) {
    char effect[400], buf[600];
    if (port < 0) snprintf(effect, sizeof effect, "net.resolve of '%.300s'", host);
    else if (strncmp(host, "unix:", 5) == 0) /* a socket file: no port; a "unix:" grant names it */
      snprintf(effect, sizeof effect, "%s %.300s", listen ? "net.listen on" : "net.connect to", host);
    else snprintf(effect, sizeof effect, "%s %.300s:%d", listen ? "net.listen on" : "net.connect to", host, port);
    calog__capsDenied(&caps, buf, sizeof buf, effect, listen ? "net.listen" : "net.connect");
    st = calogFail(r, CALOG_ERR_PERMISSION, "%s", buf);
  }
  calog__capsFree(&caps);
  return st;
}

/* ---- values -------------------------------------------------------------------------------------------- */
static int32_t handleValue(const CalogValueT *proto, IoHandleT *h, CalogValueT *out) {
  CalogValueT v = calogValueNil(), k = calogValueNil(), id = calogValueInt(h->id);
  if (calogValueCopy(&v, proto) != CALOG_OK || calogValueString(&k, "id", 2) != CALOG_OK ||
      calogAggSet(v.as.agg, &k, &id) != CALOG_OK) {
    calogValueFree(&v);
    calogValueFree(&k);
    return calogFail(out, CALOG_ERR_OOM, "out of memory");
  }
  calogValueFree(out);
  *out = v;
  return CALOG_OK;
}

int32_t calog__ioSockValue(IoT *io, IoHandleT *h, CalogValueT *out) {
  return handleValue(h->kind == IO_SERVER ? &io->serverProto : &io->connProto, h, out);
}

/* The new handle h (+1 ref, ours) as a value; on failure it is closed. */
static int32_t giveHandle(IoT *io, IoHandleT *h, const CalogValueT *proto, CalogValueT *r) {
  int32_t st = handleValue(proto, h, r);
  if (st != CALOG_OK) calog__ioClose(h);
  calog__ioHandleUnref(h);
  return st;
}

/* ---- callback forms --------------------------------------------------------------------------------------- */
/* A callback operation of kind on socket h (NULL: none yet) for ctx, or NULL (out of memory, *st set) */
static IoHandleT *newOp(IoT *io, CalogCtxT *ctx, OpE op, int kind, CalogFnT *cb, IoHandleT *h, int64_t timeoutMs,
                        CalogValueT *r, int32_t *st) {
  if ((*st = calog__ioQuota(ctx, opNames[op], r)) != CALOG_OK) return NULL;
  *st = calog__ioStart(io, r);
  if (*st != CALOG_OK) return NULL;
  IoHandleT *oh = calog__ctxOnClose(ctx, calog__ioCtxClosed, io) ? calog__ioOpNew(io, ctx, kind, cb, cbNames[op]) : NULL;
  if (oh == NULL) {
    *st = calogFail(r, CALOG_ERR_OOM, "out of memory");
    return NULL;
  }
  if (h) {
    calog__ioHandleRef(h);
    oh->op->target = h;
  }
  oh->op->timeoutMs = timeoutMs;
  return oh;
}

/* Room under ctx's memory limit for a callback-form send's copy of n bytes (it is C memory, held until the send is
 * over: N connections each holding a copy just under the limit held N times it) */
static int32_t sendRoom(CalogCtxT *ctx, OpE op, size_t n, CalogValueT *r) {
  int64_t cap = calog__limitMemory(ctx), held = atomic_load(&ctx->ioBuffered);
  if (cap <= 0 || held + (int64_t)n <= cap) return CALOG_OK;
  calog__limitTrip(ctx, CALOG_LIMIT_MEMORY, held + (int64_t)n, cap);
  return calogFail(r, CALOG_ERR_LIMIT, "memory limit reached: %s of %zu bytes, with %lld held for this context's other "
                   "connections, passes the limit of %lld", opNames[op], n, (long long)held, (long long)cap);
}

/* a copy of n bytes (never NULL unless out of memory) */
static char *copyOf(const char *p, size_t n) {
  char *c = malloc(n + 1);
  if (c) {
    memcpy(c, p, n);
    c[n] = '\0';
  }
  return c;
}

/* h's timeout (ms) for a direction, read under its lock */
static int64_t timeoutOf(IoHandleT *h, bool send) {
  pthread_mutex_lock(&h->mu);
  int64_t t = send ? h->tSend : h->tRecv;
  pthread_mutex_unlock(&h->mu);
  return t;
}

/* ---- timers ---------------------------------------------------------------------------------------------- */
static void sleepAbandon(void *arg, int why) {
  CalogValueT nil = calogValueNil();
  calog__boxComplete(arg, why == CALOG_ABANDON_TIMEOUT ? CALOG_OK : CALOG_ERR_LIMIT, &nil);
}

static int32_t opSleep(IoT *io, CalogCtxT *ctx, CalogValueT *args, int32_t argc, CalogValueT *r) {
  if (argc < 1 || !isInt(&args[0]) || intOf(&args[0]) < 0) return argFail(r, OP_SLEEP, "timer.sleep(ms): ms >= 0");
  int32_t st = needThread(ctx, OP_SLEEP, "timer.after(ms, fn)", r);
  if (st != CALOG_OK) return st;
  int64_t ms = intOf(&args[0]);
  if (ms == 0) return CALOG_OK;
  if (ms > INT64_C(1) << 40) ms = INT64_C(1) << 40; /* ~35 years: no overflow of the clock */
  CalogBoxT box;
  calog__boxInit(&box, calog__actorCurrent(io->rt));
  st = calog__actorAwait(calog__actorCurrent(io->rt), &box, calog__nowNs() + (uint64_t)ms * 1000000u, sleepAbandon, &box, r);
  if (st == CALOG_ERR_LIMIT) return calogFail(r, st, "interrupted while sleeping");
  return st;
}

static int32_t opTimer(IoT *io, CalogCtxT *ctx, OpE op, CalogValueT *args, int32_t argc, CalogValueT *r) {
  if (argc < 2 || !isInt(&args[0]) || intOf(&args[0]) < 0 || args[1].type != CALOG_FN)
    return argFail(r, op, op == OP_AFTER ? "timer.after(ms, fn): ms >= 0" : "timer.every(ms, fn): ms >= 1");
  int64_t ms = intOf(&args[0]);
  if (op == OP_EVERY && ms < 1) return argFail(r, op, "timer.every(ms, fn): ms >= 1");
  if (ms > INT64_C(1) << 40) ms = INT64_C(1) << 40;
  int32_t st = calog__ioQuota(ctx, opNames[op], r);
  if (st != CALOG_OK || (st = calog__ioStart(io, r)) != CALOG_OK) return st;
  if (!calog__ctxOnClose(ctx, calog__ioCtxClosed, io)) return calogFail(r, CALOG_ERR_OOM, "out of memory");
  IoHandleT *h = calog__ioHandleNew(io, IO_TIMER, ctx->id);
  if (h == NULL) return calogFail(r, CALOG_ERR_OOM, "out of memory");
  calogFnRetain(args[1].as.fn);
  h->fn = args[1].as.fn;
  calog__ioHostInterest(h);
  h->deadline = calog__nowNs() + (uint64_t)ms * 1000000u;
  h->intervalNs = op == OP_EVERY ? (uint64_t)ms * 1000000u : 0;
  if ((st = calog__ioHandlePublish(io, h)) != CALOG_OK) {
    calog__ioHandleUnref(h);
    return calogFail(r, st, "cannot create the timer");
  }
  if (!calog__ioPush(io, IO_CMD_TIMER_ADD, h)) {
    calog__ioClose(h);
    calog__ioHandleUnref(h);
    return calogFail(r, CALOG_ERR_DEAD, "the runtime is shutting down");
  }
  return giveHandle(io, h, &io->timerProto, r);
}

/* ---- net ----------------------------------------------------------------------------------------------- */
static int32_t hostPort(OpE op, CalogValueT *args, int32_t argc, const char **host, int *port, CalogValueT *r) {
  if (argc < 1 || args[0].type != CALOG_STRING || memchr(args[0].as.s.bytes, 0, (size_t)args[0].as.s.length))
    return argFail(r, op, op == OP_CONNECT ? "net.connect(host, port[, {timeoutMs}]) or net.connect(\"unix:/path\")"
                                           : "net.listen(host, port[, {backlog} | fn]) or net.listen(\"unix:/path\"[, ...])");
  *host = args[0].as.s.bytes;
  *port = 0;
  bool unix = strncmp(*host, "unix:", 5) == 0;
  if (!unix && (argc < 2 || !isInt(&args[1]) || intOf(&args[1]) < 0 || intOf(&args[1]) > 65535))
    return argFail(r, op, "port must be an integer 0-65535");
  if (!unix) *port = (int)intOf(&args[1]);
  return CALOG_OK;
}

/* a unix socket's own usage: the TCP one, printed for net.listen("unix:/p", 0, fn), named a port the call must not
 * have (pass 59b) */
static int32_t unixShape(OpE op, CalogValueT *args, int32_t argc, CalogValueT *r) {
  const char *usage = op == OP_CONNECT ? "net.connect(\"unix:/path\"[, opts][, fn])" : "net.listen(\"unix:/path\"[, opts | fn])";
  if (argc > 1 && (args[1].type == CALOG_INT || args[1].type == CALOG_REAL))
    return calogFail(r, CALOG_ERR_ARG, "%s: a unix socket takes no port: %s", opNames[op], usage);
  if (argc > 2) return tooManyFor(r, op, usage);
  return CALOG_OK;
}

static int32_t opConnect(IoT *io, CalogCtxT *ctx, CalogValueT *args, int32_t argc, CalogFnT *cb, CalogValueT *r) {
  const char *host;
  int port;
  int32_t st = hostPort(OP_CONNECT, args, argc, &host, &port, r);
  if (st != CALOG_OK) return st;
  bool unix = strncmp(host, "unix:", 5) == 0;
  if (unix && (st = unixShape(OP_CONNECT, args, argc, r)) != CALOG_OK) return st;
  if (argc > 3) return tooMany(r, OP_CONNECT);
  const CalogValueT *opts = argc > (unix ? 1 : 2) ? &args[unix ? 1 : 2] : NULL;
  int64_t timeout = 0;
  if ((st = optsArg(r, OP_CONNECT, opts)) != CALOG_OK) return st;
  if (!optInt(opts, "timeoutMs", &timeout)) return argFail(r, OP_CONNECT, "timeoutMs must be an integer >= 0");
  if ((st = checkNet(ctx, false, host, port, r)) != CALOG_OK) return st;
  if (cb) {
    IoHandleT *oh = newOp(io, ctx, OP_CONNECT, OPK_CONNECT, cb, NULL, timeout, r, &st);
    if (oh == NULL) return st;
    struct sockaddr_storage ss;
    socklen_t len = 0;
    oh->op->port = port;
    if ((st = calog__ioNumericAddress(host, port, &ss, &len, r)) == CALOG_OK) return calog__ioOpConnect(oh, &ss, len, r);
    if (st == 1 && (oh->op->host = strdup(host)) != NULL) return calog__ioOpSubmit(oh, r);
    calog__ioHandleUnref(oh);
    return st == 1 ? calogFail(r, CALOG_ERR_OOM, "out of memory") : st;
  }
  if ((st = needThread(ctx, OP_CONNECT, "net.connect(host, port[, opts], fn)", r)) != CALOG_OK) return st;
  if ((st = calog__ioQuota(ctx, opNames[OP_CONNECT], r)) != CALOG_OK || (st = calog__ioStart(io, r)) != CALOG_OK) return st;
  if (!calog__ctxOnClose(ctx, calog__ioCtxClosed, io)) return calogFail(r, CALOG_ERR_OOM, "out of memory");
  IoHandleT *h = NULL;
  if ((st = calog__ioConnect(io, ctx, host, port, timeout, &h, r)) != CALOG_OK) return st;
  h->tConnect = timeout;
  return giveHandle(io, h, &io->connProto, r);
}

static int32_t opListen(IoT *io, CalogCtxT *ctx, CalogValueT *args, int32_t argc, CalogValueT *r) {
  const char *host;
  int port;
  int32_t st = hostPort(OP_LISTEN, args, argc, &host, &port, r);
  if (st != CALOG_OK) return st;
  bool unix = strncmp(host, "unix:", 5) == 0;
  if (unix && (st = unixShape(OP_LISTEN, args, argc, r)) != CALOG_OK) return st;
  if (argc > 3) return tooMany(r, OP_LISTEN);
  const CalogValueT *opts = argc > (unix ? 1 : 2) ? &args[unix ? 1 : 2] : NULL;
  CalogFnT *fn = opts && opts->type == CALOG_FN ? opts->as.fn : NULL;
  if (fn == NULL && (st = optsArg(r, OP_LISTEN, opts)) != CALOG_OK) return st;
  int64_t backlog = 511;
  if (fn == NULL && !optInt(opts, "backlog", &backlog)) return argFail(r, OP_LISTEN, "backlog must be an integer >= 0");
  if ((st = checkNet(ctx, true, host, port, r)) != CALOG_OK) return st;
  if ((st = calog__ioQuota(ctx, opNames[OP_LISTEN], r)) != CALOG_OK || (st = calog__ioStart(io, r)) != CALOG_OK) return st;
  if (!calog__ctxOnClose(ctx, calog__ioCtxClosed, io)) return calogFail(r, CALOG_ERR_OOM, "out of memory");
  IoHandleT *h = NULL;
  if ((st = calog__ioListen(io, ctx, host, port, backlog > 65535 ? 65535 : (int)backlog, fn, &h, r)) != CALOG_OK) return st;
  if (fn) calog__ioHostInterest(h);
  return giveHandle(io, h, &io->serverProto, r);
}

static int32_t opResolve(IoT *io, CalogCtxT *ctx, CalogValueT *args, int32_t argc, CalogFnT *cb, CalogValueT *r) {
  if (argc < 1 || args[0].type != CALOG_STRING || memchr(args[0].as.s.bytes, 0, (size_t)args[0].as.s.length))
    return argFail(r, OP_RESOLVE, "net.resolve(host[, fn])");
  /* resolving reads the host files and asks the DNS servers, which carry the name off the machine: a context
   * resolves only the names its net grants name (or "*") */
  int32_t st = checkNet(ctx, false, args[0].as.s.bytes, -1, r);
  if (st != CALOG_OK || (st = calog__ioHostName(args[0].as.s.bytes, r)) != CALOG_OK) return st;
  if (cb) {
    IoHandleT *oh = newOp(io, ctx, OP_RESOLVE, OPK_RESOLVE, cb, NULL, 0, r, &st);
    if (oh == NULL) return st;
    if ((oh->op->host = strdup(args[0].as.s.bytes)) != NULL) return calog__ioOpSubmit(oh, r);
    calog__ioHandleUnref(oh);
    return calogFail(r, CALOG_ERR_OOM, "out of memory");
  }
  st = needThread(ctx, OP_RESOLVE, "net.resolve(host, fn)", r);
  if (st != CALOG_OK) return st;
  return calog__ioResolveAll(io, args[0].as.s.bytes, r);
}

static int32_t opUdp(IoT *io, CalogCtxT *ctx, CalogValueT *args, int32_t argc, CalogValueT *r) {
  int32_t st = calog__ioQuota(ctx, opNames[OP_UDP], r);
  if (st != CALOG_OK || (st = calog__ioStart(io, r)) != CALOG_OK) return st;
  if (!calog__ctxOnClose(ctx, calog__ioCtxClosed, io)) return calogFail(r, CALOG_ERR_OOM, "out of memory");
  IoHandleT *h = calog__ioHandleNew(io, IO_UDP, ctx->id);
  if (h == NULL) return calogFail(r, CALOG_ERR_OOM, "out of memory");
  if ((st = calog__ioHandlePublish(io, h)) != CALOG_OK) {
    calog__ioHandleUnref(h);
    return calogFail(r, st, "cannot create the socket");
  }
  return giveHandle(io, h, &io->udpProto, r);
}

static int kindOf(OpE op) {
  if (op == OP_CANCEL) return IO_TIMER;
  if (op >= OP_UDP_BIND) return IO_UDP;
  if (op >= OP_ACCEPT) return IO_SERVER;
  return IO_TCP;
}

/* host, port at args[i], args[i + 1] ("unix:/path" takes no port) */
static int32_t udpAddr(OpE op, CalogValueT *args, int32_t argc, int32_t i, const char **host, int *port, CalogValueT *r) {
  const char *usage = op == OP_UDP_BIND ? "udp:bind(host, port)" : "udp:send(data, host, port)";
  if (argc <= i || args[i].type != CALOG_STRING || memchr(args[i].as.s.bytes, 0, (size_t)args[i].as.s.length))
    return argFail(r, op, usage);
  *host = args[i].as.s.bytes;
  if (argc <= i + 1 || !isInt(&args[i + 1]) || intOf(&args[i + 1]) < 0 || intOf(&args[i + 1]) > 65535)
    return argFail(r, op, "port must be an integer 0-65535");
  *port = (int)intOf(&args[i + 1]);
  return CALOG_OK;
}

/* The callback form of a method on h: the op (its target h) is filled in by the caller, then submitted. */
static int32_t methodOp(IoT *io, CalogCtxT *ctx, OpE op, int kind, CalogFnT *cb, IoHandleT *h, int64_t timeoutMs,
                        IoHandleT **out, CalogValueT *r) {
  int32_t st = CALOG_OK;
  *out = newOp(io, ctx, op, kind, cb, h, timeoutMs, r, &st);
  return st;
}

static int32_t opMethod(IoT *io, CalogCtxT *ctx, OpE op, CalogValueT *args, int32_t argc, CalogFnT *cb, CalogValueT *r) {
  int kind = kindOf(op);
  if (op == OP_CANCEL || op == OP_CLOSE || op == OP_SERVER_CLOSE || op == OP_UDP_CLOSE) { /* closing twice is fine */
    const CalogValueT *v = argc > 0 ? &args[0] : NULL;
    if (v && v->type == CALOG_AGGREGATE) v = calog__optGet(v, "id");
    if (v == NULL || !isInt(v)) return argFail(r, op, AS_METHOD);
    IoHandleT *h = calog__ioLookup(io, intOf(v), kind);
    *r = calogValueBool(h != NULL);
    if (h) {
      calog__ioClose(h);
      calog__ioHandleUnref(h);
    }
    return CALOG_OK;
  }
  int32_t st = CALOG_OK;
  IoHandleT *h = receiver(io, op, args, argc, kind, r, &st);
  if (h == NULL) return st;
  args++, argc--;
  switch (op) {
  case OP_SEND:
    if (argc < 1 || args[0].type != CALOG_STRING) st = argFail(r, op, "conn:send(data[, fn]): data is a string");
    else if (cb) {
      IoHandleT *oh = NULL;
      if ((st = sendRoom(ctx, op, (size_t)args[0].as.s.length, r)) != CALOG_OK ||
          (st = methodOp(io, ctx, op, OPK_SEND, cb, h, timeoutOf(h, true), &oh, r)) != CALOG_OK) break;
      oh->op->len = (size_t)args[0].as.s.length;
      if ((oh->op->data = copyOf(args[0].as.s.bytes, oh->op->len)) != NULL) {
        calog__ioBuffered(oh, (int64_t)oh->op->len); /* until the op is freed */
        st = calog__ioOpSubmit(oh, r);
      }
      else {
        calog__ioHandleUnref(oh);
        st = calogFail(r, CALOG_ERR_OOM, "out of memory");
      }
    } else if ((st = needThread(ctx, op, "conn:send(data, fn)", r)) == CALOG_OK &&
               (st = calog__ioSend(h, args[0].as.s.bytes, (size_t)args[0].as.s.length, r)) == CALOG_ERR_LIMIT) {
      const CalogValueT *sent = calog__ioPartial(r); /* the limit's error replaces ours: it carries the count */
      if (sent && sent->type == CALOG_INT) calog__limitPartial(ctx, sent->as.i);
    }
    break;
  case OP_RECEIVE: {
    const CalogValueT *p = argc > 0 ? &args[0] : NULL;
    int mode = RECV_LINE;
    size_t count = 0;
    if (p == NULL || p->type == CALOG_NIL || (p->type == CALOG_STRING && p->as.s.length == 2 && memcmp(p->as.s.bytes, "*l", 2) == 0))
      mode = RECV_LINE; /* the length too: "*l\0zz" read a line (pass 60b) */
    else if (p->type == CALOG_STRING && p->as.s.length == 2 && memcmp(p->as.s.bytes, "*a", 2) == 0) mode = RECV_ALL;
    else if (isInt(p) && intOf(p) >= 0) mode = RECV_COUNT, count = (size_t)intOf(p);
    else {
      st = argFail(r, op, "conn:receive(pattern): \"*l\" (a line), \"*a\" (until closed) or a byte count");
      break;
    }
    if (cb) {
      IoHandleT *oh = NULL;
      if ((st = methodOp(io, ctx, op, OPK_RECEIVE, cb, h, timeoutOf(h, false), &oh, r)) == CALOG_OK) {
        oh->op->recv = (IoRecvT){.mode = mode, .count = count, .cap = (size_t)calog__limitMemory(ctx), .reader = oh->counted};
        st = calog__ioOpSubmit(oh, r);
      }
    } else if ((st = needThread(ctx, op, "conn:receive(pattern, fn)", r)) == CALOG_OK)
      st = calog__ioReceive(h, mode, count, NULL, 0, r);
    break;
  }
  case OP_RECEIVE_UNTIL:
    if (argc < 1 || args[0].type != CALOG_STRING || args[0].as.s.length == 0)
      st = argFail(r, op, "conn:receiveUntil(delimiter[, fn]): a non-empty string");
    else if (cb) {
      IoHandleT *oh = NULL;
      if ((st = methodOp(io, ctx, op, OPK_RECEIVE, cb, h, timeoutOf(h, false), &oh, r)) != CALOG_OK) break;
      size_t n = (size_t)args[0].as.s.length;
      if ((oh->op->data = copyOf(args[0].as.s.bytes, n)) != NULL) {
        oh->op->recv = (IoRecvT){.mode = RECV_UNTIL, .delim = oh->op->data, .dlen = n, .cap = (size_t)calog__limitMemory(ctx),
                                 .reader = oh->counted};
        st = calog__ioOpSubmit(oh, r);
      } else {
        calog__ioHandleUnref(oh);
        st = calogFail(r, CALOG_ERR_OOM, "out of memory");
      }
    } else if ((st = needThread(ctx, op, "conn:receiveUntil(delimiter, fn)", r)) == CALOG_OK)
      st = calog__ioReceive(h, RECV_UNTIL, 0, args[0].as.s.bytes, (size_t)args[0].as.s.length, r);
    break;
  case OP_SHUTDOWN: st = calog__ioShutdownWrite(h, r); break;
  case OP_PEER: st = calog__ioName(h, true, r); break;
  case OP_PORT:
  case OP_UDP_PORT: st = calog__ioName(h, false, r); break;
  case OP_UDP_BIND: {
    const char *host;
    int port;
    struct sockaddr_storage ss;
    socklen_t len = 0;
    if ((st = udpAddr(op, args, argc, 0, &host, &port, r)) == CALOG_OK && (st = checkNet(ctx, true, host, port, r)) == CALOG_OK &&
        (calog__ioNumericAddress(host, port, &ss, &len, r) != 1 || (st = needThread(ctx, op, NULL, r)) == CALOG_OK))
      st = calog__ioUdpBind(h, host, port, r); /* a name would block while it resolves; an address does not */
    break;
  }
  case OP_UDP_SEND: {
    const char *host;
    int port;
    if (argc < 1 || args[0].type != CALOG_STRING) st = argFail(r, op, "udp:send(data, host, port[, fn]): data is a string");
    else if ((st = udpAddr(op, args, argc, 1, &host, &port, r)) != CALOG_OK || (st = checkNet(ctx, false, host, port, r)) != CALOG_OK)
      break;
    else if (cb) {
      IoHandleT *oh = NULL;
      if ((st = sendRoom(ctx, op, (size_t)args[0].as.s.length, r)) != CALOG_OK ||
          (st = methodOp(io, ctx, op, OPK_UDP_SEND, cb, h, timeoutOf(h, true), &oh, r)) != CALOG_OK) break;
      IoOpT *o = oh->op;
      o->len = (size_t)args[0].as.s.length;
      o->port = port;
      st = (o->data = copyOf(args[0].as.s.bytes, o->len)) == NULL ? CALOG_ERR_OOM : calog__ioNumericAddress(host, port, &o->ss, &o->sslen, r);
      if (o->data) calog__ioBuffered(oh, (int64_t)o->len); /* until the op is freed */
      if (st == 1 && (o->host = strdup(host)) == NULL) st = CALOG_ERR_OOM;
      if (st == CALOG_OK || st == 1) st = calog__ioOpSubmit(oh, r);
      else {
        calog__ioHandleUnref(oh);
        if (st == CALOG_ERR_OOM) st = calogFail(r, st, "out of memory");
      }
    } else if ((st = needThread(ctx, op, "udp:send(data, host, port, fn)", r)) == CALOG_OK)
      st = calog__ioUdpSend(h, args[0].as.s.bytes, (size_t)args[0].as.s.length, host, port, r);
    break;
  }
  case OP_UDP_RECEIVE: {
    int64_t timeout = 0;
    const CalogValueT *opts = argc > 0 ? &args[0] : NULL;
    if ((st = optsArg(r, op, opts)) != CALOG_OK) break;
    if (!optInt(opts, "timeoutMs", &timeout)) st = argFail(r, op, "timeoutMs must be an integer >= 0");
    else if (cb) {
      IoHandleT *oh = NULL;
      if ((st = methodOp(io, ctx, op, OPK_UDP_RECEIVE, cb, h, timeout > 0 ? timeout : timeoutOf(h, false), &oh, r)) != CALOG_OK) break;
      st = calog__ioOpSubmit(oh, r); /* the datagram's buffer comes with the datagram */
    } else if ((st = needThread(ctx, op, "udp:receive([opts, ]fn)", r)) == CALOG_OK) st = calog__ioUdpReceive(h, timeout, r);
    break;
  }
  case OP_SET_TIMEOUTS:
  case OP_UDP_SET_TIMEOUTS: {
    int64_t t[3] = {-1, -1, -1};
    for (int i = 0; i < 3 && i < argc; i++) {
      if (args[i].type == CALOG_NIL) continue;
      if (!isInt(&args[i]) || intOf(&args[i]) < 0) {
        st = argFail(r, op, "conn:setTimeouts(connect, send, receive): ms >= 0 (0 = none), nil keeps one");
        break;
      }
      t[i] = intOf(&args[i]);
    }
    if (st != CALOG_OK) break;
    pthread_mutex_lock(&h->mu);
    if (t[0] >= 0) h->tConnect = t[0];
    if (t[1] >= 0) h->tSend = t[1];
    if (t[2] >= 0) h->tRecv = t[2];
    pthread_mutex_unlock(&h->mu);
    *r = calogValueBool(true);
    break;
  }
  case OP_ACCEPT: {
    int64_t timeout = 0;
    const CalogValueT *opts = argc > 0 ? &args[0] : NULL;
    if ((st = optsArg(r, op, opts)) != CALOG_OK) break;
    if (!optInt(opts, "timeoutMs", &timeout)) st = argFail(r, op, "timeoutMs must be an integer >= 0");
    else if (h->onAccept) st = argFail(r, op, "this server calls its function for each connection (net.listen(host, port, fn))");
    else if (cb) {
      IoHandleT *oh = NULL;
      if ((st = methodOp(io, ctx, op, OPK_ACCEPT, cb, h, timeout, &oh, r)) == CALOG_OK) st = calog__ioOpSubmit(oh, r);
    } else if ((st = needThread(ctx, op, "server:accept([opts, ]fn) or net.listen(host, port, fn)", r)) == CALOG_OK) {
      IoHandleT *c = NULL;
      if ((st = calog__ioQuota(ctx, opNames[op], r)) == CALOG_OK && (st = calog__ioAccept(h, ctx, timeout, &c, r)) == CALOG_OK)
        st = giveHandle(io, c, &io->connProto, r);
    }
    break;
  }
  default: st = calogFail(r, CALOG_ERR_INTERNAL, "unknown I/O method");
  }
  calog__ioHandleUnref(h);
  return st;
}

static int32_t ioNative(CalogValueT *args, int32_t argc, CalogValueT *result, void *userData) {
  NativeT *n = userData;
  IoT *io = n->io;
  if (atomic_load(&io->closed)) return calogFail(result, CALOG_ERR_DEAD, "%s: the runtime was destroyed", opNames[n->op]);
  CalogCtxT *ctx = calog__ioCaller(io);
  if (ctx == NULL) return calogFail(result, CALOG_ERR_UNSUPPORTED, "%s must be called from a script", opNames[n->op]);
  /* the callback form: a function as the last argument, called (err, result) later on this context's thread */
  CalogFnT *cb = NULL;
  /* a trailing nil is an argument left out (Lua nil, JavaScript undefined, Squirrel null): a wrapper that passes an
   * optional callback on passes nil, and conn:receive(p, nil) was refused as too many arguments (pass 59b) */
  while (argc > (n->op >= FIRST_METHOD ? 1 : 0) && args[argc - 1].type == CALOG_NIL) argc--;
  if (cbNames[n->op] && argc > (n->op >= FIRST_METHOD ? 1 : 0) && args[argc - 1].type == CALOG_FN) cb = args[--argc].as.fn;
  /* net.connect and net.listen count theirs once the host says which usage applies ("unix:/path" takes no port) */
  if (n->op != OP_CONNECT && n->op != OP_LISTEN && argc > opArgs[n->op].max) return tooMany(result, n->op);
  switch (n->op) {
  case OP_CONNECT: return opConnect(io, ctx, args, argc, cb, result);
  case OP_LISTEN: return opListen(io, ctx, args, argc, result);
  case OP_RESOLVE: return opResolve(io, ctx, args, argc, cb, result);
  case OP_UDP: return opUdp(io, ctx, args, argc, result);
  case OP_SLEEP: return opSleep(io, ctx, args, argc, result);
  case OP_AFTER:
  case OP_EVERY: return opTimer(io, ctx, n->op, args, argc, result);
  default: return opMethod(io, ctx, n->op, args, argc, cb, result);
  }
}

/* ---- the state and its values ------------------------------------------------------------------------------ */
static void nativeRelease(void *userData) {
  NativeT *n = userData;
  calog__ioUnref(n->io);
  free(n);
}

/* map[name] = the native for op */
static int32_t addNative(IoT *io, CalogValueT *map, const char *name, OpE op) {
  NativeT *n = malloc(sizeof *n);
  CalogFnT *fn = n ? calogFnCreate(ioNative, n, nativeRelease) : NULL;
  if (fn == NULL) {
    free(n);
    return CALOG_ERR_OOM;
  }
  *n = (NativeT){io, op};
  atomic_fetch_add(&io->refs, 1);
  CalogValueT k = calogValueNil(), v = calogValueFn(fn);
  if (calogValueString(&k, name, (int64_t)strlen(name)) != CALOG_OK || calogAggSet(map->as.agg, &k, &v) != CALOG_OK) {
    calogValueFree(&k);
    calogValueFree(&v);
    return CALOG_ERR_OOM;
  }
  return CALOG_OK;
}

static int32_t addMap(CalogValueT *map, const char *name, CalogValueT *sub) {
  CalogValueT k = calogValueNil();
  if (calogValueString(&k, name, (int64_t)strlen(name)) != CALOG_OK || calogAggSet(map->as.agg, &k, sub) != CALOG_OK) {
    calogValueFree(&k);
    calogValueFree(sub);
    return CALOG_ERR_OOM;
  }
  return CALOG_OK;
}

IoT *calog__ioCreateState(CalogT *rt) {
  IoT *io = calloc(1, sizeof *io);
  if (io == NULL) return NULL;
  atomic_init(&io->refs, 1);
  io->rt = rt;
  io->epfd = io->evfd = -1;
  pthread_mutex_init(&io->mu, NULL);
  pthread_cond_init(&io->resolverCv, NULL);
  CalogValueT net = calogValueNil(), timer = calogValueNil();
  bool ok = calogValueAgg(&io->globals, CALOG_AGG_MAP) == CALOG_OK && calogValueAgg(&net, CALOG_AGG_MAP) == CALOG_OK &&
            calogValueAgg(&timer, CALOG_AGG_MAP) == CALOG_OK && calogValueAgg(&io->connProto, CALOG_AGG_MAP) == CALOG_OK &&
            calogValueAgg(&io->serverProto, CALOG_AGG_MAP) == CALOG_OK &&
            calogValueAgg(&io->timerProto, CALOG_AGG_MAP) == CALOG_OK && calogValueAgg(&io->udpProto, CALOG_AGG_MAP) == CALOG_OK;
  ok = ok && addNative(io, &net, "connect", OP_CONNECT) == CALOG_OK && addNative(io, &net, "listen", OP_LISTEN) == CALOG_OK &&
       addNative(io, &net, "resolve", OP_RESOLVE) == CALOG_OK && addNative(io, &net, "udp", OP_UDP) == CALOG_OK &&
       addNative(io, &timer, "sleep", OP_SLEEP) == CALOG_OK &&
       addNative(io, &timer, "after", OP_AFTER) == CALOG_OK && addNative(io, &timer, "every", OP_EVERY) == CALOG_OK;
  static const struct { const char *name; OpE op; } conn[] = {
      {"send", OP_SEND}, {"receive", OP_RECEIVE}, {"receiveUntil", OP_RECEIVE_UNTIL}, {"shutdown", OP_SHUTDOWN},
      {"close", OP_CLOSE}, {"peer", OP_PEER}, {"setTimeouts", OP_SET_TIMEOUTS}};
  for (size_t i = 0; ok && i < sizeof conn / sizeof conn[0]; i++) ok = addNative(io, &io->connProto, conn[i].name, conn[i].op) == CALOG_OK;
  ok = ok && addNative(io, &io->serverProto, "accept", OP_ACCEPT) == CALOG_OK &&
       addNative(io, &io->serverProto, "port", OP_PORT) == CALOG_OK &&
       addNative(io, &io->serverProto, "close", OP_SERVER_CLOSE) == CALOG_OK &&
       addNative(io, &io->timerProto, "cancel", OP_CANCEL) == CALOG_OK;
  static const struct { const char *name; OpE op; } udp[] = {
      {"bind", OP_UDP_BIND}, {"send", OP_UDP_SEND}, {"receive", OP_UDP_RECEIVE}, {"close", OP_UDP_CLOSE},
      {"port", OP_UDP_PORT}, {"setTimeouts", OP_UDP_SET_TIMEOUTS}};
  for (size_t i = 0; ok && i < sizeof udp / sizeof udp[0]; i++) ok = addNative(io, &io->udpProto, udp[i].name, udp[i].op) == CALOG_OK;
  if (ok) {
    ok = addMap(&io->globals, "net", &net) == CALOG_OK;
    ok = addMap(&io->globals, "timer", &timer) == CALOG_OK && ok;
  }
  calogValueFree(&net);
  calogValueFree(&timer);
  if (!ok) {
    calog__ioShutdown(io);
    return NULL;
  }
  return io;
}

int32_t calog__ioGlobals(CalogCtxT *ctx, CalogValueT *out) {
  IoT *io = calog__ioGet(ctx->rt);
  if (io == NULL) return calogFail(out, CALOG_ERR_OOM, "out of memory (the I/O layer)");
  int32_t st = calogValueCopy(out, &io->globals);
  return st == CALOG_OK ? st : calogFail(out, st, "out of memory");
}
