/* loop.c -- the runtime's I/O state: the I/O thread (epoll, eventfd, timer heap), its FIFO command queue,
 * generationed handles, parking a context on a handle, the resolver thread, and timers.
 *
 * Invariants:
 *   - a handle id is slot + key, the key a generation (8 bits) and 24 random bits: once closed, the id is
 *     stale (a clean error), an epoll event carrying it never reaches a socket that reused the fd number,
 *     and an id cannot be guessed: a handle reaches only the contexts its value was given to (a forged id
 *     of a live slot costs its caller FORGED_NS, so searching the 2^24 keys of one slot takes hours);
 *   - a socket leaves the epoll set before its fd is closed;
 *   - only the I/O thread touches the timer heap; other threads send it commands, taken in FIFO order;
 *   - lock order: IoT.mu, then IoHandleT.mu, then an actor's mutex (completing a box). */
#include "io_impl.h"

#include "../policy/policy.h"

#include <arpa/inet.h>
#include <assert.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define SLOT_BITS 20 /* ids stay below 2^52 (20 + 32 bits): exact as a JavaScript number */
#define SLOT_MASK ((1u << SLOT_BITS) - 1u)
#define FORGED_NS 2000000L /* the cost of presenting a wrong key for a live slot */
#define SERVER_RETRY_NS 50000000u /* a callback-form server out of descriptors accepts again this often */

/* 24 random bits (never all zero), from the kernel; a mix of the clock and an address if it has none */
static uint32_t randomBits(void) {
  uint32_t r = 0;
  if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t x = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)&ts ^ (uint64_t)ts.tv_sec;
    x ^= x >> 29;
    r = (uint32_t)(x * 0xBF58476D1CE4E5B9ull >> 32);
  }
  r &= 0xFFFFFFu;
  return r ? r : 1u;
}

/* ---- the state ------------------------------------------------------------------------------------ */
static void ioFree(IoT *io) {
  calogValueFree(&io->globals);
  calogValueFree(&io->connProto);
  calogValueFree(&io->serverProto);
  calogValueFree(&io->timerProto);
  calogValueFree(&io->udpProto);
  free(io->slots);
  free(io->heap);
  pthread_cond_destroy(&io->resolverCv);
  pthread_mutex_destroy(&io->mu);
  free(io);
}

void calog__ioUnref(IoT *io) {
  if (atomic_fetch_sub(&io->refs, 1) == 1) ioFree(io);
}

CALOG_HIDDEN IoT *calog__ioCreateState(CalogT *rt); /* natives.c: builds the values, then calls ioNew */
CALOG_HIDDEN void calog__ioShutdown(void *ext);

static void *createExt(CalogT *rt) { return calog__ioCreateState(rt); }

IoT *calog__ioGet(CalogT *rt) { return calog__rtExtEnsure(rt, createExt, calog__ioShutdown); }

CalogCtxT *calog__ioCaller(IoT *io) {
  CalogActorT *a = calog__actorCurrent(io->rt);
  return a ? a->running : NULL;
}

/* ---- handles ---------------------------------------------------------------------------------------- */
IoHandleT *calog__ioHandleNew(IoT *io, int kind, CalogContextIdT owner) {
  IoHandleT *h = calloc(1, sizeof *h);
  if (h == NULL) return NULL;
  atomic_init(&h->refs, 1);
  h->io = io;
  h->kind = kind;
  h->owner = owner;
  h->fd = -1;
  pthread_mutex_init(&h->mu, NULL);
  atomic_fetch_add(&io->refs, 1);
  if ((h->counted = calog__ctxResolve(io->rt, owner)) != NULL) {
    atomic_fetch_add(&h->counted->ioHandles, 1);
    calog__ctxRef(h->counted);
    h->rlenCounted = h->counted;
  }
  return h;
}

int32_t calog__ioQuota(CalogCtxT *ctx, const char *what, CalogValueT *r) {
  int64_t n, cap;
  if (!calog__ioOverQuota(ctx, &n, &cap)) return CALOG_OK;
  calog__limitTrip(ctx, CALOG_LIMIT_MEMORY, n * IO_HANDLE_COST, cap);
  return calogFail(r, CALOG_ERR_LIMIT,
                   "memory limit reached: %s would make this context's I/O handle %lld (sockets, timers and pending "
                   "operations count %d bytes each), the limit is %lld",
                   what, (long long)n, IO_HANDLE_COST, (long long)cap);
}

void calog__ioHandleRef(IoHandleT *h) { atomic_fetch_add(&h->refs, 1); }

void calog__ioHostInterest(IoHandleT *h) {
  if (h->hostCounted) return;
  h->hostCounted = true;
  calog__hostInterest(h->io->rt, 1);
}

void calog__ioHandleUnref(IoHandleT *h) {
  if (atomic_fetch_sub(&h->refs, 1) != 1) return;
  calog__ioRecvBuffered(h, -(int64_t)h->rlen); /* what it still held for its reader */
  if (h->rlenCounted) calog__ctxUnref(h->rlenCounted);
  if (h->op && h->op->data && (h->op->kind == OPK_SEND || h->op->kind == OPK_UDP_SEND)) calog__ioBuffered(h, -(int64_t)h->op->len);
  if (h->fd >= 0) calog__fdClose(h->fd); /* never published, or closed by nobody: not in the epoll set */
  if (h->onAccept) calogFnRelease(h->onAccept);
  if (h->fn) calogFnRelease(h->fn);
  if (h->op) calog__ioOpFree(h->op);
  if (h->hostCounted) calog__hostInterest(h->io->rt, -1);
  if (h->counted) {
    atomic_fetch_sub(&h->counted->ioHandles, 1);
    calog__ctxUnref(h->counted);
  }
  free(h->rbuf);
  free(h->unixPath);
  pthread_mutex_destroy(&h->mu);
  IoT *io = h->io;
  free(h);
  calog__ioUnref(io);
}

int32_t calog__ioHandlePublish(IoT *io, IoHandleT *h) {
  pthread_mutex_lock(&io->mu);
  if (io->closed) {
    pthread_mutex_unlock(&io->mu);
    return CALOG_ERR_DEAD;
  }
  uint32_t i;
  if (io->slotFree) {
    i = io->slotFree - 1u;
    io->slotFree = io->slots[i].nextFree;
  } else {
    if (io->slotCount == SLOT_MASK) {
      pthread_mutex_unlock(&io->mu);
      return CALOG_ERR_RANGE;
    }
    if (io->slotCount == io->slotCap) {
      uint32_t cap = io->slotCap ? io->slotCap * 2 : 64;
      IoSlotT *p = realloc(io->slots, cap * sizeof *p);
      if (p == NULL) {
        pthread_mutex_unlock(&io->mu);
        return CALOG_ERR_OOM;
      }
      io->slots = p;
      io->slotCap = cap;
    }
    i = io->slotCount++;
    io->slots[i] = (IoSlotT){0};
  }
  IoSlotT *s = &io->slots[i];
  s->gen = (randomBits() << 8) | ((s->gen + 1u) & 0xFFu); /* a new generation, and a key nobody can guess */
  s->h = h;
  h->id = (int64_t)(((uint64_t)s->gen << SLOT_BITS) | i);
  calog__ioHandleRef(h); /* the table's */
  pthread_mutex_unlock(&io->mu);
  return CALOG_OK;
}

/* under io->mu: the slot of a valid id, or NULL */
static IoSlotT *slotOf(IoT *io, int64_t id) {
  if (id <= 0) return NULL;
  uint32_t i = (uint32_t)((uint64_t)id & SLOT_MASK);
  uint64_t gen = (uint64_t)id >> SLOT_BITS;
  if (i >= io->slotCount || io->slots[i].h == NULL || io->slots[i].gen != gen) return NULL;
  return &io->slots[i];
}

IoHandleT *calog__ioLookup(IoT *io, int64_t id, int kind) {
  pthread_mutex_lock(&io->mu);
  IoSlotT *s = slotOf(io, id);
  IoHandleT *h = s && (kind == 0 || s->h->kind == kind) ? s->h : NULL;
  if (h) calog__ioHandleRef(h);
  uint32_t i = (uint32_t)((uint64_t)id & SLOT_MASK);
  bool forged = s == NULL && id > 0 && i < io->slotCount && io->slots[i].h != NULL; /* a live slot, a wrong key */
  pthread_mutex_unlock(&io->mu);
  if (forged) { /* a stale id of a reused slot pays it too: rare, and only a few ms */
    struct timespec ts = {0, FORGED_NS};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
  }
  return h;
}

/* Frees h's id (a stale id from now on) and drops the table's reference. */
static void unpublish(IoHandleT *h) {
  IoT *io = h->io;
  pthread_mutex_lock(&io->mu);
  IoSlotT *s = slotOf(io, h->id);
  bool mine = s && s->h == h;
  if (mine) {
    uint32_t i = (uint32_t)(s - io->slots);
    s->h = NULL;
    s->nextFree = io->slotFree;
    io->slotFree = i + 1u;
  }
  pthread_mutex_unlock(&io->mu);
  if (mine) calog__ioHandleUnref(h);
}

void calog__ioClose(IoHandleT *h) {
  pthread_mutex_lock(&h->mu);
  if (h->closed) {
    pthread_mutex_unlock(&h->mu);
    return;
  }
  h->closed = true;
  if (h->fd >= 0) {
    (void)epoll_ctl(h->io->epfd, EPOLL_CTL_DEL, h->fd, NULL); /* before close: no event for a reused fd */
    calog__fdClose(h->fd);
    h->fd = -1;
  }
  struct stat sb; /* the path may name another socket by now (ours was removed and the name reused) */
  if (h->unixPath && stat(h->unixPath, &sb) == 0 && S_ISSOCK(sb.st_mode) && sb.st_dev == h->unixDev && sb.st_ino == h->unixIno)
    unlink(h->unixPath);
  CalogValueT nil = calogValueNil();
  if (h->rwait) calog__boxComplete(h->rwait, IO_CLOSED, &nil);
  if (h->wwait) calog__boxComplete(h->wwait, IO_CLOSED, &nil);
  h->rwait = h->wwait = NULL;
  IoHandleT *doneR = NULL, *doneW = NULL; /* pending callback operations end with "closed" */
  calog__ioOpClosed(h, &doneR, &doneW);
  pthread_mutex_unlock(&h->mu);
  if (doneR) calog__ioOpComplete(doneR);
  if (doneW) calog__ioOpComplete(doneW);
  if (h->kind == IO_TIMER) {
    atomic_store(&h->cancelled, true);
    calog__ioPush(h->io, IO_CMD_TIMER_CANCEL, h);
  }
  unpublish(h);
}

void calog__ioCtxClosed(CalogCtxT *ctx, void *arg) {
  IoT *io = arg;
  calog__ioResolveCancelOwned(io, ctx->id);
  uint32_t next = 0; /* the scan goes on where it stopped: closing N handles is linear */
  for (;;) { /* one at a time: closing takes the locks in their order */
    IoHandleT *h = NULL;
    pthread_mutex_lock(&io->mu);
    for (uint32_t i = next; i < io->slotCount && h == NULL; i++) {
      IoHandleT *x = io->slots[i].h;
      next = i + 1;
      if (x == NULL) continue;
      bool mine = x->owner == ctx->id;
      if (!mine) { /* another context's socket with a callback operation of ctx pending */
        pthread_mutex_lock(&x->mu);
        mine = (x->rop && x->rop->owner == ctx->id) || (x->wop && x->wop->owner == ctx->id);
        pthread_mutex_unlock(&x->mu);
      }
      if (mine) calog__ioHandleRef(h = x);
    }
    pthread_mutex_unlock(&io->mu);
    if (h == NULL) return;
    if (h->owner == ctx->id) calog__ioClose(h);
    else calog__ioOpCancelOwned(h, ctx->id);
    calog__ioHandleUnref(h);
  }
}

/* ---- parking ----------------------------------------------------------------------------------------- */
typedef struct ParkT {
  IoHandleT *h;
  CalogBoxT **slot;
  CalogBoxT *box;
} ParkT;

static void parkAbandon(void *arg, int why) {
  ParkT *p = arg;
  pthread_mutex_lock(&p->h->mu);
  if (*p->slot == p->box) { /* still parked: withdrawn */
    *p->slot = NULL;
    CalogValueT nil = calogValueNil();
    calog__boxComplete(p->box, why == CALOG_ABANDON_TIMEOUT ? IO_TIMEDOUT : CALOG_ERR_LIMIT, &nil);
  }
  pthread_mutex_unlock(&p->h->mu);
}

int32_t calog__ioPark(IoHandleT *h, CalogBoxT **slot, uint64_t deadlineNs) {
  CalogActorT *self = calog__actorCurrent(h->io->rt);
  CalogBoxT box;
  calog__boxInit(&box, self);
  *slot = &box;
  pthread_mutex_unlock(&h->mu);
  ParkT p = {h, slot, &box};
  CalogValueT r = calogValueNil();
  int32_t st = calog__actorAwait(self, &box, deadlineNs, parkAbandon, &p, &r);
  calogValueFree(&r);
  pthread_mutex_lock(&h->mu);
  return st;
}

int calog__ioWatch(IoHandleT *h, bool withOut) {
  struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET | (withOut ? EPOLLOUT : 0u), .data.u64 = (uint64_t)h->id};
  h->wantOut = withOut;
  return epoll_ctl(h->io->epfd, EPOLL_CTL_ADD, h->fd, &ev);
}

void calog__ioWantOut(IoHandleT *h, bool on) {
  if (h->wantOut == on || h->fd < 0) return;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET | (on ? EPOLLOUT : 0u), .data.u64 = (uint64_t)h->id};
  if (epoll_ctl(h->io->epfd, EPOLL_CTL_MOD, h->fd, &ev) == 0) h->wantOut = on;
}

/* ---- errors ------------------------------------------------------------------------------------------ */
int32_t calog__ioSoft(CalogValueT *result, const char *msg, CalogValueT *partial) {
  return calog__ioFailWith(result, CALOG_ERR_SCRIPT, msg, partial);
}

int32_t calog__ioFailWith(CalogValueT *result, int32_t status, const char *msg, CalogValueT *partial) {
  calogValueFree(result);
  if (partial == NULL || partial->type == CALOG_NIL) return calogErrorSet(result, status, NULL, msg, -1, NULL);
  /* a record {message, partial} */
  CalogValueT rec = calogValueNil(), k1 = calogValueNil(), v1 = calogValueNil(), k2 = calogValueNil();
  if (calogValueAgg(&rec, CALOG_AGG_MAP) != CALOG_OK || calogValueString(&k1, "message", 7) != CALOG_OK ||
      calogValueString(&v1, msg, (int64_t)strlen(msg)) != CALOG_OK || calogAggSet(rec.as.agg, &k1, &v1) != CALOG_OK ||
      calogValueString(&k2, "partial", 7) != CALOG_OK || calogAggSet(rec.as.agg, &k2, partial) != CALOG_OK) {
    calogValueFree(&rec);
    calogValueFree(&k1);
    calogValueFree(&v1);
    calogValueFree(&k2);
    calogValueFree(partial);
    return calogErrorSet(result, status, NULL, msg, -1, NULL);
  }
  *result = rec;
  return status;
}

int32_t calog__ioErrno(CalogValueT *result, int e, const char *what) {
  const char *msg;
  switch (e) {
  case ECONNREFUSED: msg = "connection refused"; break;
  case EADDRINUSE: msg = "address in use"; break;
  case ECONNRESET: msg = "connection reset"; break;
  case EPIPE: msg = "closed"; break;
  case ETIMEDOUT: msg = "timeout"; break;
  case EHOSTUNREACH: msg = "host unreachable"; break;
  case ENETUNREACH: msg = "network unreachable"; break;
  case EADDRNOTAVAIL: msg = "address not available"; break;
  case EACCES: msg = "permission denied by the system"; break;
  case EMFILE:
  case ENFILE: {
    char buf[200];
    calog__fdFull(buf, sizeof buf);
    return calog__ioSoft(result, buf, NULL);
  }
  case ENOENT: msg = "no such socket file"; break;
  default: {
    char buf[160];
    snprintf(buf, sizeof buf, "%s: %s", what, strerror(e));
    return calog__ioSoft(result, buf, NULL);
  }
  }
  return calog__ioSoft(result, msg, NULL);
}

/* ---- a failed callback's report ---------------------------------------------------------------------- */
/* The text a CalogScriptError of the same error reads (src/runtime.ts thrownMessage and render, mirrored): the engine's
 * message unless it is only its stand-in for the thrown value ("(error object is a table value)", "[object Object]",
 * a function's source), else the value's own string `message` field, else "<engine> threw <the value rendered>". The
 * report printed the stand-in, the one trace a callback's error leaves (pass 55b). */
typedef struct TextT {
  char *p;
  size_t n, cap;        /* cap: room for the text, the NUL excluded */
  size_t units, unitCap; /* UTF-16 units written (a character past U+FFFF is two), and the most there may be */
  bool cut;              /* a character did not fit: nothing more is written (a later "\"" or " }" neither) */
} TextT;

/* The bytes of s, whole characters only: the first character that does not fit in cap bytes or unitCap units
 * stops this write and every later one (t->cut), as the host's slice of the text ends it. Bytes that are not UTF-8
 * (a message) count as characters of one byte. */
static void textPut(TextT *t, const char *s, size_t n) {
  for (size_t i = 0; i < n && !t->cut;) {
    unsigned char c = (unsigned char)s[i];
    size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1, k = 1;
    while (k < len && i + k < n && ((unsigned char)s[i + k] & 0xC0) == 0x80) k++;
    size_t units = (c & 0xC0) == 0x80 ? 0 : len == 4 && k == 4 ? 2 : 1;
    if (k > t->cap - t->n || units > t->unitCap - t->units) {
      t->cut = true;
      break;
    }
    memcpy(t->p + t->n, s + i, k);
    t->n += k;
    t->units += units;
    i += k;
  }
  t->p[t->n] = '\0';
}

/* "…" past the room: said where a text was cut (the room it needs is kept aside by whoever set the caps) */
static void textEllipsis(TextT *t, size_t cap, size_t unitCap) {
  t->cap = cap, t->unitCap = unitCap, t->cut = false;
  textPut(t, "\xe2\x80\xa6", 3);
}

static void textf(TextT *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void textf(TextT *t, const char *fmt, ...) {
  char b[128];
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(b, sizeof b, fmt, ap);
  va_end(ap);
  if (k > 0) textPut(t, b, (size_t)k < sizeof b ? (size_t)k : sizeof b - 1);
}

/* Whether digits[0..k) x 10^(exp10 - k) reads back as a */
static bool realReads(const char *digits, int k, int exp10, double a) {
  char b[48];
  snprintf(b, sizeof b, "%.*se%d", k, digits, exp10 - k);
  return strtod(b, NULL) == a;
}

/* a number as JavaScript's String() writes it (ECMA-262 Number::toString): the fewest digits that read back the same,
 * the nearest to the number of those; plain from 1e-7 to 1e21, else in its exponent form (1e+21, 1.5e-7) */
static void renderReal(TextT *t, double r) {
  if (r != r) return textPut(t, "NaN", 3);
  if (r == 0) return textPut(t, "0", 1);
  if (r > 1.7976931348623157e308 || r < -1.7976931348623157e308) return textPut(t, r < 0 ? "-Infinity" : "Infinity", r < 0 ? 9 : 8);
  if (r < 0) textPut(t, "-", 1), r = -r;
  char b[40], digits[24];
  int k = 0, n = 0; /* the digits, and the decimal point's place after the first n of them */
  for (int prec = 0; prec < 17; prec++) {
    /* the correctly rounded digits at this length: the nearest there are, when they read back */
    snprintf(b, sizeof b, "%.*e", prec, r); /* d[.ddd]e[+-]XX */
    k = 0;
    const char *p = b;
    for (; *p && *p != 'e'; p++)
      if (*p != '.') digits[k++] = *p;
    n = atoi(p + 1) + 1;
    double back = strtod(b, NULL);
    if (back == r || prec == 16) break; /* 17 digits always read back */
    /* else the other neighbour at this length may (a power of two: the gap below it is half the gap above) */
    char d[24];
    memcpy(d, digits, (size_t)k);
    int dn = n, dk = k, i = k - 1;
    if (back > r) {
      while (i >= 0 && d[i] == '0') d[i--] = '9';
      d[i]--; /* the first digit is 1..9: never below 0 here */
      if (d[0] == '0') memmove(d, d + 1, (size_t)--dk), dn--; /* 1000 - 1 = 999 */
    } else {
      while (i >= 0 && d[i] == '9') d[i--] = '0';
      if (i >= 0) d[i]++;
      else d[0] = '1', dn++; /* 999 + 1 = 1000: the same digit count, one place up */
    }
    if (dk > 0 && realReads(d, dk, dn, r)) {
      memcpy(digits, d, (size_t)dk);
      k = dk, n = dn;
      break;
    }
  }
  while (k > 1 && digits[k - 1] == '0') k--;
  if (k <= n && n <= 21) {
    textPut(t, digits, (size_t)k);
    for (int i = k; i < n; i++) textPut(t, "0", 1);
  } else if (0 < n && n <= 21) {
    textPut(t, digits, (size_t)n);
    textPut(t, ".", 1);
    textPut(t, digits + n, (size_t)(k - n));
  } else if (-6 < n && n <= 0) {
    textPut(t, "0.", 2);
    for (int i = n; i < 0; i++) textPut(t, "0", 1);
    textPut(t, digits, (size_t)k);
  } else {
    textPut(t, digits, 1);
    if (k > 1) textPut(t, ".", 1), textPut(t, digits + 1, (size_t)(k - 1));
    textf(t, "e%c%d", n - 1 < 0 ? '-' : '+', n - 1 < 0 ? 1 - n : n - 1);
  }
}

/* a key written bare: a name of ASCII letters, digits, _ and $ not starting with a digit (the host's plainKey) */
static bool plainKey(const char *s, int64_t n) {
  if (n == 0 || (s[0] >= '0' && s[0] <= '9')) return false;
  for (int64_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '$'))
      return false;
  return true;
}

/* ---- a map's keys as the host's Map has them (src/wire.ts): a number key within 2^53 (an integer or a float) is a
 * JavaScript number, -0.0 is 0 and every NaN one key; beyond 2^53 an integer is a bigint, never equal to a number. A
 * Squirrel table keeps 1 and 1.0 apart: strict refuses such a value, lenient keeps the last value at the first's place.
 * The report read them as the C value has them (pass 60b). */
typedef struct {
  double k;
  int64_t at; /* the pair's place: items first, then pairs */
} NumKeyT;

static bool numKey(const CalogValueT *key, double *out) {
  if (key->type == CALOG_INT) {
    if (key->as.i > 9007199254740992LL || key->as.i < -9007199254740992LL) return false;
    *out = (double)key->as.i;
    return true;
  }
  if (key->type != CALOG_REAL) return false;
  *out = key->as.r == 0 ? 0.0 : key->as.r;
  return true;
}

static int numKeyOrder(const void *a, const void *b) {
  const NumKeyT *x = a, *y = b;
  bool xn = x->k != x->k, yn = y->k != y->k; /* NaN: one key, after every other */
  if (xn != yn) return xn ? 1 : -1;
  if (!xn && x->k != y->k) return x->k < y->k ? -1 : 1;
  return x->at < y->at ? -1 : x->at > y->at;
}

/* agg's number keys sorted by key, then place (NULL with *n = 0 when there are fewer than two; NULL with *n = -1 when
 * out of memory) */
static NumKeyT *numKeys(CalogAggT *agg, int64_t *n) {
  int64_t items = calogAggArrayCount(agg), pairs = calogAggPairCount(agg), count = items;
  double d;
  for (int64_t i = 0; i < pairs; i++) count += numKey(calogAggPairKey(agg, i), &d);
  *n = 0;
  if (count < 2) return NULL;
  NumKeyT *keys = malloc((size_t)count * sizeof *keys);
  if (keys == NULL) {
    *n = -1;
    return NULL;
  }
  for (int64_t i = 0; i < items; i++) keys[(*n)++] = (NumKeyT){(double)(i + 1), i};
  for (int64_t i = 0; i < pairs; i++)
    if (numKey(calogAggPairKey(agg, i), &d)) keys[(*n)++] = (NumKeyT){d, items + i};
  qsort(keys, (size_t)*n, sizeof *keys, numKeyOrder);
  return keys;
}

static bool sameKey(const NumKeyT *a, const NumKeyT *b) { return a->k == b->k || (a->k != a->k && b->k != b->k); }

/* Strict's refusal of v as the host's decoder words it (checkKeys), or NULL: two keys that are one Map key anywhere in
 * v, else a -0.0 key. */
static void keyIssues(const CalogValueT *v, bool *lost, bool *negZero) {
  if (v->type != CALOG_AGGREGATE || *lost) return;
  CalogAggT *agg = v->as.agg;
  int64_t items = calogAggArrayCount(agg);
  for (int64_t i = 0; i < items; i++) keyIssues(calogAggArrayAt(agg, i), lost, negZero);
  if (calogAggKind(agg) == CALOG_AGG_LIST) return;
  int64_t pairs = calogAggPairCount(agg), n;
  for (int64_t i = 0; i < pairs; i++) {
    const CalogValueT *k = calogAggPairKey(agg, i);
    if (k->type == CALOG_REAL && k->as.r == 0 && signbit(k->as.r)) *negZero = true;
    keyIssues(calogAggPairValue(agg, i), lost, negZero);
  }
  NumKeyT *keys = numKeys(agg, &n);
  for (int64_t i = 1; i < n && !*lost; i++) *lost = sameKey(&keys[i - 1], &keys[i]);
  free(keys);
}

/* An array index as a JavaScript object orders its keys: "0" or a canonical decimal up to 2^32 - 2 (*out its value) */
static bool indexKey(const CalogValueT *k, uint32_t *out) {
  const char *s = k->as.s.bytes;
  int64_t n = k->as.s.length;
  if (n == 0 || n > 10 || (n > 1 && s[0] == '0')) return false;
  uint64_t x = 0;
  for (int64_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    x = x * 10 + (uint64_t)(s[i] - '0');
  }
  if (x > 4294967294u) return false;
  *out = (uint32_t)x;
  return true;
}

typedef struct {
  uint32_t index;
  int64_t at;
} IndexKeyT;

static int indexKeyOrder(const void *a, const void *b) {
  const IndexKeyT *x = a, *y = b;
  return x->index < y->index ? -1 : x->index > y->index;
}

/* The order the host shows a map's pairs in, or NULL for their own: a map of string keys alone (UTF-8, no list part)
 * reaches it as an object, which lists its array-index keys first, ascending ("0", "1"...), then the others in their
 * order (the report listed them in the C value's order: pass 60c). Out of memory: NULL, their own order. */
static int64_t *objectOrder(CalogAggT *agg) {
  int64_t pairs = calogAggPairCount(agg), nIndex = 0;
  uint32_t x;
  if (calogAggArrayCount(agg) > 0) return NULL;
  for (int64_t i = 0; i < pairs; i++) {
    const CalogValueT *k = calogAggPairKey(agg, i);
    if (k->type != CALOG_STRING || !calog__utf8Valid(k->as.s.bytes, k->as.s.length)) return NULL;
    nIndex += indexKey(k, &x);
  }
  if (nIndex == 0) return NULL;
  int64_t *order = malloc((size_t)pairs * sizeof *order);
  IndexKeyT *ix = malloc((size_t)nIndex * sizeof *ix);
  if (order == NULL || ix == NULL) {
    free(order);
    free(ix);
    return NULL;
  }
  int64_t n = 0, o = 0;
  for (int64_t i = 0; i < pairs; i++)
    if (indexKey(calogAggPairKey(agg, i), &x)) ix[n++] = (IndexKeyT){x, i};
  qsort(ix, (size_t)n, sizeof *ix, indexKeyOrder);
  for (int64_t i = 0; i < n; i++) order[o++] = ix[i].at;
  for (int64_t i = 0; i < pairs; i++)
    if (!indexKey(calogAggPairKey(agg, i), &x)) order[o++] = i;
  free(ix);
  return order;
}

static const char *keyRefusal(const CalogValueT *v) {
  bool lost = false, negZero = false;
  keyIssues(v, &lost, &negZero);
  return lost      ? "two keys of a map become the same Map key (such as 1 and 1.0, -0.0 and 0.0, or two NaN keys): one would be lost"
         : negZero ? "a map key -0.0 becomes the Map key 0 (a Map does not keep -0): the key would change; the lenient policy sends 0"
                   : NULL;
}

static void renderValue(TextT *t, const CalogValueT *v, int depth) {
  switch (v->type) {
  case CALOG_NIL: return textPut(t, "null", 4);
  case CALOG_BOOL: return v->as.b ? textPut(t, "true", 4) : textPut(t, "false", 5);
  case CALOG_INT: /* beyond 2^53 it reaches the host as a bigint (src/wire.ts: 2^53 itself is a number) */
    return textf(t, "%lld%s", (long long)v->as.i, v->as.i > 9007199254740992LL || v->as.i < -9007199254740992LL ? "n" : "");
  case CALOG_REAL: return renderReal(t, v->as.r);
  case CALOG_FN: return textPut(t, "[function]", 10);
  case CALOG_STRING: {
    const unsigned char *s = (const unsigned char *)v->as.s.bytes;
    int64_t len = v->as.s.length;
    if (!calog__utf8Valid((const char *)s, len)) return textf(t, "[%lld bytes]", (long long)len);
    textPut(t, "\"", 1);
    /* its first 80 UTF-16 units, as the host's slice, which never splits a character past U+FFFF (its two units) */
    int64_t units = 0, i = 0;
    while (i < len) {
      int64_t clen = s[i] >= 0xF0 ? 4 : s[i] >= 0xE0 ? 3 : s[i] >= 0xC0 ? 2 : 1;
      if ((units += clen == 4 ? 2 : 1) > 80) break;
      static const char shortEsc[] = "btn\0fr"; /* JSON.stringify's: \b \t \n \f \r */
      if (s[i] == '"' || s[i] == '\\') textf(t, "\\%c", s[i]);
      else if (s[i] >= 8 && s[i] <= 13 && s[i] != 11) textf(t, "\\%c", shortEsc[s[i] - 8]);
      else if (s[i] < 0x20) textf(t, "\\u%04x", s[i]);
      else textPut(t, (const char *)s + i, (size_t)clen);
      i += clen;
    }
    if (i < len) textPut(t, "\xe2\x80\xa6", 3); /* … */
    return textPut(t, "\"", 1);
  }
  case CALOG_AGGREGATE: break;
  }
  CalogAggT *agg = v->as.agg;
  bool list = calogAggKind(agg) == CALOG_AGG_LIST;
  if (depth >= 2) return textPut(t, list ? "[\xe2\x80\xa6]" : "{\xe2\x80\xa6}", 5);
  int64_t items = calogAggArrayCount(agg), pairs = list ? 0 : calogAggPairCount(agg), shown = 0, entries = items + pairs;
  if (!list && items + pairs == 0) return textPut(t, "{}", 2);
  /* keys that are one Map key in the host (lenient): the first one's place, the last one's value */
  int64_t nk = 0, *valueAt = NULL;
  NumKeyT *keys = list ? NULL : numKeys(agg, &nk);
  bool merge = false;
  for (int64_t i = 1; i < nk && !merge; i++) merge = sameKey(&keys[i - 1], &keys[i]);
  if (merge && (valueAt = malloc((size_t)(items + pairs) * sizeof *valueAt)) != NULL) { /* else shown as they are */
    for (int64_t j = 0; j < items + pairs; j++) valueAt[j] = j;
    for (int64_t i = 0, g = 0; i <= nk; i++) {
      if (i < nk && i > g && sameKey(&keys[g], &keys[i])) continue;
      for (int64_t j = g + 1; j < i; j++) valueAt[keys[j].at] = -1, entries--;
      if (i - 1 > g) valueAt[keys[g].at] = keys[i - 1].at;
      g = i;
    }
  }
  free(keys);
  int64_t *order = list ? NULL : objectOrder(agg); /* (never with valueAt: that needs number keys) */
  textPut(t, list ? "[" : "{ ", list ? 1 : 2);
  for (int64_t j = 0; j < items + pairs && shown < 8; j++) {
    int64_t i = order != NULL ? order[j] : j;
    if (valueAt != NULL && valueAt[i] < 0) continue;
    if (shown++) textPut(t, ", ", 2);
    if (list) {
      renderValue(t, calogAggArrayAt(agg, i), depth + 1);
      continue;
    }
    const CalogValueT *k = i < items ? NULL : calogAggPairKey(agg, i - items);
    if (k == NULL) textf(t, "[%lld]: ", (long long)i + 1); /* a Lua table's list part */
    else if (k->type == CALOG_STRING && plainKey(k->as.s.bytes, k->as.s.length)) {
      textPut(t, k->as.s.bytes, (size_t)k->as.s.length);
      textPut(t, ": ", 2);
    } else if (k->type == CALOG_STRING && calog__utf8Valid(k->as.s.bytes, k->as.s.length)) {
      renderValue(t, k, depth + 1); /* quoted, as the host quotes a key that is not a plain name */
      textPut(t, ": ", 2);
    } else {
      textPut(t, "[", 1);
      renderValue(t, k, depth + 1);
      textPut(t, "]: ", 3);
    }
    int64_t at = valueAt != NULL ? valueAt[i] : i;
    renderValue(t, at < items ? calogAggArrayAt(agg, at) : calogAggPairValue(agg, at - items), depth + 1);
  }
  free(valueAt);
  free(order);
  if (entries > 8) textPut(t, ", \xe2\x80\xa6", 5);
  textPut(t, list ? "]" : " }", list ? 1 : 2);
}

/* The engine's message, whole up to the report's room (REPORT_ROOM bytes), else cut on a character and said */
static void reportMessage(TextT *t, const char *msg, int64_t n) {
  size_t cap = t->cap;
  t->cap -= 3; /* room for the "…" */
  textPut(t, msg, (size_t)n);
  if (t->cut) textEllipsis(t, cap, t->unitCap);
  t->cap = cap;
}

static void reportText(TextT *t, const CalogValueT *err, bool lenient) {
  int64_t n = 0;
  const char *msg = calogErrorMessage(err, &n);
  const CalogValueT *value = calogErrorValue(err);
  const CalogValueT *eng = calog__optGet(err, "engine");
  const char *engine = eng != NULL && eng->type == CALOG_STRING ? eng->as.s.bytes : "the script";
  bool placeholder = calog__errorIsPlaceholder(err);
  /* a thrown null or boolean, its ToString (or Lua's nothing) as its message: "js threw null" */
  if (value != NULL && (value->type == CALOG_NIL || value->type == CALOG_BOOL) &&
      ((n == 4 && memcmp(msg, value->type == CALOG_NIL ? "null" : "true", 4) == 0) ||
       (n == 5 && memcmp(msg, "false", 5) == 0) || (n == 9 && memcmp(msg, "undefined", 9) == 0))) {
    textf(t, "%s threw ", engine);
    return textPut(t, msg, (size_t)n);
  }
  if (value == NULL || (n > 0 && !placeholder)) return reportMessage(t, msg, n);
  if (value->type == CALOG_STRING && n > 0 && value->as.s.length == n && memcmp(value->as.s.bytes, msg, (size_t)n) == 0)
    return reportMessage(t, msg, n);
  const CalogValueT *m = calog__valueMessageField(value);
  if (m != NULL) return reportMessage(t, m->as.s.bytes, m->as.s.length);
  const char *refusal = lenient ? NULL : keyRefusal(value);
  if (refusal != NULL) {
    textf(t, "%s threw a value that cannot cross: ", engine);
    return textPut(t, refusal, strlen(refusal));
  }
  textf(t, "%s threw ", engine);
  /* the rendering's first 300 UTF-16 units, as the host's slice of it: at most 900 bytes, which the room holds */
  size_t unitCap = t->unitCap;
  t->unitCap = t->units + 300;
  renderValue(t, value, 0);
  if (t->cut) textEllipsis(t, t->cap, unitCap);
  t->unitCap = unitCap;
}

/* The report's room: "<engine> threw " and a rendering of 300 UTF-16 units (at most 900 bytes) and its "…" fit whole,
 * as in the host's message; a message longer than the room is cut (README: callback errors). */
#define REPORT_ROOM 960

void calog__ioReport(CalogCtxT *ctx, const char *what, const CalogValueT *err) {
  char buf[REPORT_ROOM + 160], text[REPORT_ROOM + 1];
  TextT t = {text, 0, REPORT_ROOM, 0, SIZE_MAX, false};
  text[0] = '\0';
  reportText(&t, err, atomic_load(&ctx->rt->policy) == CALOG_POLICY_LENIENT);
  /* copied, not formatted: a NUL in the message is part of it (%.*s stopped there) */
  TextT line = {buf, 0, sizeof buf - 1, 0, SIZE_MAX, false};
  textf(&line, "calog: %s failed: ", what);
  textPut(&line, text, t.n);
  textPut(&line, "\n", 1);
  CalogValueT e = calogValueNil();
  (void)calog__outputReport(ctx, CALOG_STDERR, buf, line.n, &e);
  calogValueFree(&e);
}

/* ---- callbacks posted to a context -------------------------------------------------------------------- */
typedef struct CallT {
  IoT *io; /* +1 ref; the call also counts in the host's interest until it has run (or is dropped) */
  CalogFnT *fn;
  CalogValueT args[2];
  int32_t argc;
  const char *what;
} CallT;

static void callTask(CalogCtxT *ctx, void *a, bool dead) {
  CallT *c = a;
  int32_t st = CALOG_ERR_DEAD;
  if (!dead) {
    CalogValueT r = calogValueNil();
    st = calogFnInvoke(c->fn, c->args, c->argc, &r);
    if (st != CALOG_OK) calog__ioReport(ctx, c->what, &r);
    calogValueFree(&r);
  }
  /* A conn handed to a callback that failed (or never ran: its context is closing) is closed, or nobody would:
   * its peer would wait and its fd stay open until the owner goes. One the callback returned from normally
   * stays open: the script may keep it, or have handed it to another context. */
  for (int32_t i = 0; i < c->argc; i++) {
    const CalogValueT *id = st != CALOG_OK && c->args[i].type == CALOG_AGGREGATE ? calog__optGet(&c->args[i], "id") : NULL;
    IoHandleT *h = id && id->type == CALOG_INT ? calog__ioLookup(c->io, id->as.i, IO_TCP) : NULL;
    if (h) {
      calog__ioClose(h);
      calog__ioHandleUnref(h);
    }
    calogValueFree(&c->args[i]);
  }
  calogFnRelease(c->fn);
  calog__hostInterest(c->io->rt, -1);
  calog__ioUnref(c->io);
  free(c);
}

void calog__ioPostCall(IoT *io, CalogContextIdT owner, CalogFnT *fn, CalogValueT *args, int32_t argc, const char *what) {
  CallT *c = malloc(sizeof *c);
  if (c == NULL) {
    for (int32_t i = 0; i < argc; i++) calogValueFree(&args[i]);
    return;
  }
  calogFnRetain(fn);
  *c = (CallT){.io = io, .fn = fn, .argc = argc, .what = what};
  atomic_fetch_add(&io->refs, 1);
  calog__hostInterest(io->rt, 1); /* the operation that posts it may be freed (uncounted) before it runs */
  for (int32_t i = 0; i < argc && i < 2; i++) calogValueMove(&c->args[i], &args[i]);
  CalogCtxT *ctx = calog__ctxResolve(io->rt, owner);
  if (ctx == NULL || !calog__ctxPost(ctx, callTask, c)) callTask(ctx, c, true); /* gone: its conns are closed */
  if (ctx) calog__ctxUnref(ctx);
}

/* ---- timers (the heap is the I/O thread's) ------------------------------------------------------------ */
static bool before(const IoHandleT *a, const IoHandleT *b) {
  return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
}

static void heapSwap(IoT *io, size_t i, size_t j) {
  IoHandleT *t = io->heap[i];
  io->heap[i] = io->heap[j];
  io->heap[j] = t;
  io->heap[i]->heapIndex = i;
  io->heap[j]->heapIndex = j;
}

static void heapUp(IoT *io, size_t i) {
  while (i > 0 && before(io->heap[i], io->heap[(i - 1) / 2])) {
    heapSwap(io, i, (i - 1) / 2);
    i = (i - 1) / 2;
  }
}

static void heapDown(IoT *io, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < io->heapLen && before(io->heap[l], io->heap[m])) m = l;
    if (r < io->heapLen && before(io->heap[r], io->heap[m])) m = r;
    if (m == i) return;
    heapSwap(io, i, m);
    i = m;
  }
}

static bool heapPush(IoT *io, IoHandleT *h) { /* takes a reference */
  if (io->heapLen == io->heapCap) {
    size_t cap = io->heapCap ? io->heapCap * 2 : 64;
    IoHandleT **p = realloc(io->heap, cap * sizeof *p);
    if (p == NULL) return false;
    io->heap = p;
    io->heapCap = cap;
  }
  h->seq = ++io->timerSeq; /* same deadline: the order they were set in */
  h->heapIndex = io->heapLen;
  io->heap[io->heapLen++] = h;
  heapUp(io, h->heapIndex);
  return true;
}

static void heapRemove(IoT *io, IoHandleT *h) { /* gives the heap's reference back to the caller */
  size_t i = h->heapIndex;
  if (i >= io->heapLen || io->heap[i] != h) return;
  io->heapLen--;
  if (i != io->heapLen) {
    io->heap[i] = io->heap[io->heapLen];
    io->heap[i]->heapIndex = i;
    heapDown(io, i);
    heapUp(io, i);
  }
  h->heapIndex = (size_t)-1;
}

typedef struct FireT {
  IoHandleT *h;
} FireT;

static void timerTask(CalogCtxT *ctx, void *arg, bool dead) {
  IoHandleT *h = arg;
  if (!dead && !atomic_load(&h->cancelled)) {
    if (h->intervalNs == 0) calog__ioClose(h); /* a one-shot timer's id is spent once it fires */
    CalogValueT r = calogValueNil();
    int32_t st = calogFnInvoke(h->fn, NULL, 0, &r);
    if (st != CALOG_OK) calog__ioReport(ctx, h->intervalNs ? "timer.every callback" : "timer.after callback", &r);
    calogValueFree(&r);
  } else if (dead) {
    calog__ioClose(h);
  }
  atomic_store(&h->inFlight, false);
  calog__ioHandleUnref(h);
}

static void fireTimers(IoT *io) {
  uint64_t now = calog__nowNs();
  while (io->heapLen > 0 && io->heap[0]->deadline <= now) {
    IoHandleT *h = io->heap[0];
    heapRemove(io, h);
    if (atomic_load(&h->cancelled)) {
      calog__ioHandleUnref(h);
      continue;
    }
    if (h->kind == IO_SERVER) { /* a callback-form server that ran out of descriptors: accept again */
      if (calog__ioServerEvent(h)) {
        h->deadline = now + SERVER_RETRY_NS;
        if (heapPush(io, h)) continue;
      }
      calog__ioHandleUnref(h);
      continue;
    }
    if (h->kind == IO_OP) { /* a callback operation's deadline */
      if (!calog__ioOpTimedOut(h)) { /* changing hands: again in a millisecond */
        h->deadline = now + 1000000u;
        if (heapPush(io, h)) continue;
      }
      calog__ioHandleUnref(h);
      continue;
    }
    /* a repeating timer whose last firing has not run yet (its context is busy) is skipped: one firing */
    if (!atomic_exchange(&h->inFlight, true)) {
      CalogCtxT *ctx = calog__ctxResolve(io->rt, h->owner);
      calog__ioHandleRef(h);
      if (ctx == NULL || !calog__ctxPost(ctx, timerTask, h)) {
        atomic_store(&h->inFlight, false);
        atomic_store(&h->cancelled, true);
        calog__ioHandleUnref(h);
      }
      if (ctx) calog__ctxUnref(ctx);
    }
    if (h->intervalNs > 0 && !atomic_load(&h->cancelled)) {
      h->deadline += h->intervalNs;
      if (h->deadline <= now) h->deadline = now + h->intervalNs; /* fell behind: no burst of catch-ups */
      if (heapPush(io, h)) continue;
    }
    calog__ioHandleUnref(h);
  }
}

static int timeoutMs(IoT *io) {
  if (io->heapLen == 0) return -1;
  uint64_t now = calog__nowNs(), d = io->heap[0]->deadline;
  if (d <= now) return 0;
  uint64_t ms = (d - now + 999999u) / 1000000u; /* rounded up: never early */
  return ms > 1000000 ? 1000000 : (int)ms;
}

/* ---- the I/O thread --------------------------------------------------------------------------------- */
bool calog__ioPush(IoT *io, int kind, IoHandleT *h) {
  IoCmdT *c = calloc(1, sizeof *c);
  if (c == NULL) return false;
  c->kind = kind;
  c->h = h;
  if (h) calog__ioHandleRef(h);
  pthread_mutex_lock(&io->mu);
  if (!io->started || io->stopping) {
    pthread_mutex_unlock(&io->mu);
    if (h) calog__ioHandleUnref(h);
    free(c);
    return false;
  }
  c->seq = io->cmdSeqIn++;
  if (io->cmdTail) io->cmdTail->next = c; /* tail append only: FIFO */
  else io->cmdHead = c;
  io->cmdTail = c;
  if (kind == IO_CMD_STOP) io->stopping = true;
  pthread_mutex_unlock(&io->mu);
  uint64_t one = 1;
  ssize_t w = write(io->evfd, &one, sizeof one);
  (void)w; /* EAGAIN: the counter is already non-zero, the thread wakes anyway */
  return true;
}

static bool runCommands(IoT *io) {
  pthread_mutex_lock(&io->mu);
  IoCmdT *c = io->cmdHead;
  io->cmdHead = io->cmdTail = NULL;
  bool stop = io->stopping && c == NULL; /* STOP itself could not be queued (out of memory) */
  pthread_mutex_unlock(&io->mu);
  while (c) {
    IoCmdT *next = c->next;
    assert(c->seq == io->cmdSeqOut); /* strict FIFO */
    io->cmdSeqOut++;
    switch (c->kind) {
    case IO_CMD_TIMER_ADD:
      if (!atomic_load(&c->h->cancelled) && heapPush(io, c->h)) c->h = NULL; /* the heap keeps the ref */
      break;
    case IO_CMD_TIMER_CANCEL:
      if (c->h->heapIndex < io->heapLen && io->heap[c->h->heapIndex] == c->h) {
        heapRemove(io, c->h);
        calog__ioHandleUnref(c->h); /* the heap's */
      }
      break;
    case IO_CMD_STOP: stop = true; break;
    }
    if (c->h) calog__ioHandleUnref(c->h);
    free(c);
    c = next;
  }
  return stop;
}

static void socketEvent(IoT *io, int64_t id, uint32_t events) {
  IoHandleT *h = calog__ioLookup(io, id, 0);
  if (h == NULL) return; /* closed meanwhile: a stale event */
  if (h->kind == IO_SERVER && h->onAccept) {
    bool inHeap = h->heapIndex < io->heapLen && io->heap[h->heapIndex] == h;
    if (calog__ioServerEvent(h) && !inHeap) { /* out of descriptors: retried from the timer heap until it drains */
      h->deadline = calog__nowNs() + SERVER_RETRY_NS;
      if (heapPush(io, h)) return; /* the heap keeps our reference */
    }
    calog__ioHandleUnref(h);
    return;
  }
  CalogValueT nil = calogValueNil();
  IoHandleT *doneR = NULL, *doneW = NULL;
  pthread_mutex_lock(&h->mu);
  if (!h->closed) {
    bool in = (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0, out = (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0;
    if (in) {
      h->rseq++;
      if (h->rwait) calog__boxComplete(h->rwait, IO_READY, &nil);
      h->rwait = NULL;
    }
    if (out) {
      h->wseq++;
      if (h->wwait) calog__boxComplete(h->wwait, IO_READY, &nil);
      h->wwait = NULL;
    }
    calog__ioOpEvent(h, in, out, &doneR, &doneW); /* the callback forms proceed here, on the I/O thread */
  }
  pthread_mutex_unlock(&h->mu);
  if (doneR) calog__ioOpComplete(doneR);
  if (doneW) calog__ioOpComplete(doneW);
  calog__ioHandleUnref(h);
}

static void *ioMain(void *arg) {
  IoT *io = arg;
  struct epoll_event evs[64];
  for (;;) {
    if (runCommands(io)) break;
    fireTimers(io);
    int n = epoll_wait(io->epfd, evs, 64, timeoutMs(io));
    for (int i = 0; i < n; i++) {
      if (evs[i].data.u64 == 0) {
        uint64_t v;
        while (read(io->evfd, &v, sizeof v) > 0) {} /* drain to EAGAIN */
        continue;
      }
      socketEvent(io, (int64_t)evs[i].data.u64, evs[i].events);
    }
  }
  while (io->heapLen > 0) { /* what is left of the timers */
    IoHandleT *h = io->heap[--io->heapLen];
    calog__ioHandleUnref(h);
  }
  return NULL;
}

int32_t calog__ioStart(IoT *io, CalogValueT *err) {
  pthread_mutex_lock(&io->mu);
  if (io->started) {
    bool ok = !io->stopping;
    pthread_mutex_unlock(&io->mu);
    return ok ? CALOG_OK : calogFail(err, CALOG_ERR_DEAD, "the runtime is shutting down");
  }
  int32_t st = CALOG_OK;
  io->epfd = epoll_create1(EPOLL_CLOEXEC);
  io->evfd = io->epfd < 0 ? -1 : eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};
  if (io->evfd < 0 || epoll_ctl(io->epfd, EPOLL_CTL_ADD, io->evfd, &ev) != 0 ||
      pthread_create(&io->thread, NULL, ioMain, io) != 0) {
    st = calogFail(err, CALOG_ERR_OOM, "cannot start the I/O thread (%s)", strerror(errno));
    if (io->evfd >= 0) close(io->evfd);
    if (io->epfd >= 0) close(io->epfd);
    io->epfd = io->evfd = -1;
  } else {
    io->started = true;
  }
  pthread_mutex_unlock(&io->mu);
  return st;
}

/* ---- the resolver thread ----------------------------------------------------------------------------- */
struct IoResolveT {
  IoResolveT *next;
  char *host;
  int socktype;
  CalogBoxT *box; /* under io->mu: NULL once the waiter gave up */
  IoHandleT *op;  /* or a callback operation waiting for it (+1 ref; under io->mu: NULL once withdrawn) */
};

/* For tests only, never set by the library (test_io.c sets it): called on the resolver thread with each name just
 * before getaddrinfo, so a test can hold a lookup there as a DNS server that does not answer would, with no network
 * and no mount namespace. */
CALOG_HIDDEN void (*_Atomic calog__ioResolveHook)(const char *host);

static void *resolverMain(void *arg) {
  IoT *io = arg; /* +1 ref: detached at shutdown, it may finish a lookup after the runtime is gone */
  pthread_mutex_lock(&io->mu);
  for (;;) {
    while (io->resHead == NULL && !io->closed) pthread_cond_wait(&io->resolverCv, &io->mu);
    IoResolveT *j = io->resHead;
    if (j == NULL) break;
    if (io->closed || (j->box == NULL && j->op == NULL)) {
      /* shut down (shutdown withdrew its operations), or nobody waits for it any more (a parked resolve that gave up,
       * an operation whose deadline passed or whose context was destroyed): dropped unlooked-up. A lookup may take
       * 10 s and more (a DNS server that does not answer), and every name queued behind it waits that long. */
      io->resHead = j->next;
      if (io->resHead == NULL) io->resTail = NULL;
      if (j->box) {
        CalogValueT nil = calogValueNil();
        calog__boxComplete(j->box, CALOG_ERR_DEAD, &nil);
      }
      free(j->host);
      free(j);
      continue;
    }
    pthread_mutex_unlock(&io->mu);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = j->socktype ? j->socktype : SOCK_STREAM};
    struct addrinfo *res = NULL;
    void (*hook)(const char *host) = atomic_load(&calog__ioResolveHook);
    if (hook) hook(j->host);
    int r = getaddrinfo(j->host, NULL, &hints, &res);
    CalogValueT v = calogValueNil();
    int32_t st = CALOG_OK;
    if (r != 0) {
      char msg[300];
      snprintf(msg, sizeof msg, "cannot resolve '%s': %s", j->host, gai_strerror(r));
      st = calog__ioSoft(&v, msg, NULL);
    } else if (calogValueAgg(&v, CALOG_AGG_LIST) == CALOG_OK) {
      for (struct addrinfo *a = res; a; a = a->ai_next) { /* the raw addresses, as strings of bytes */
        if (a->ai_family != AF_INET && a->ai_family != AF_INET6) continue;
        CalogValueT s = calogValueNil();
        if (calogValueString(&s, (const char *)a->ai_addr, (int64_t)a->ai_addrlen) == CALOG_OK &&
            calogAggPush(v.as.agg, &s) != CALOG_OK)
          calogValueFree(&s);
      }
    }
    if (res) freeaddrinfo(res);
    pthread_mutex_lock(&io->mu);
    io->resHead = j->next;
    if (io->resHead == NULL) io->resTail = NULL;
    if (j->box) calog__boxComplete(j->box, st, &v);
    IoHandleT *op = j->op;
    if (op) op->op->job = NULL;
    free(j->host);
    free(j);
    if (op) { /* shutdown waits for this one: it reaches the runtime (posting the callback, host interest...) */
      io->delivering = true;
      pthread_mutex_unlock(&io->mu);
      calog__ioOpResolved(op, st, &v); /* takes v and the job's reference */
      pthread_mutex_lock(&io->mu);
      io->delivering = false;
      pthread_cond_broadcast(&io->resolverCv);
    }
    calogValueFree(&v);
  }
  pthread_mutex_unlock(&io->mu);
  calog__ioUnref(io);
  return NULL;
}

typedef struct ResWaitT {
  IoT *io;
  IoResolveT *job;
  CalogBoxT *box;
} ResWaitT;

static void resolveAbandon(void *arg, int why) {
  ResWaitT *w = arg;
  pthread_mutex_lock(&w->io->mu);
  /* the resolver completes the box and frees the job under io->mu: a done box means the job is gone */
  if (!atomic_load(&w->box->done) && w->job->box == w->box) {
    w->job->box = NULL; /* the resolver frees the job; nobody waits for it any more */
    CalogValueT nil = calogValueNil();
    calog__boxComplete(w->box, why == CALOG_ABANDON_TIMEOUT ? IO_TIMEDOUT : CALOG_ERR_LIMIT, &nil);
  }
  pthread_mutex_unlock(&w->io->mu);
}

/* Queues j on the resolver thread (starting it once); on failure j is freed. */
static int32_t enqueue(IoT *io, IoResolveT *j, CalogValueT *err) {
  pthread_mutex_lock(&io->mu);
  int32_t st = CALOG_OK;
  if (io->closed) st = calogFail(err, CALOG_ERR_DEAD, "the runtime is shutting down");
  else if (!io->resolverStarted) {
    atomic_fetch_add(&io->refs, 1); /* the resolver thread's */
    if (pthread_create(&io->resolver, NULL, resolverMain, io) != 0) {
      atomic_fetch_sub(&io->refs, 1);
      st = calogFail(err, CALOG_ERR_OOM, "cannot start the resolver thread");
    }
  }
  if (st != CALOG_OK) {
    pthread_mutex_unlock(&io->mu);
    free(j->host);
    free(j);
    return st;
  }
  io->resolverStarted = true;
  if (j->op) j->op->op->job = j;
  if (io->resTail) io->resTail->next = j;
  else io->resHead = j;
  io->resTail = j;
  pthread_cond_signal(&io->resolverCv);
  pthread_mutex_unlock(&io->mu);
  return CALOG_OK;
}

static IoResolveT *newJob(const char *host, int socktype) {
  IoResolveT *j = calloc(1, sizeof *j);
  if (j == NULL || (j->host = strdup(host)) == NULL) {
    free(j);
    return NULL;
  }
  j->socktype = socktype;
  return j;
}

/* list of raw sockaddr strings, or a soft error */
static int32_t resolveRaw(IoT *io, const char *host, int socktype, CalogValueT *out) {
  CalogActorT *self = calog__actorCurrent(io->rt);
  IoResolveT *j = newJob(host, socktype);
  if (j == NULL) return calogFail(out, CALOG_ERR_OOM, "out of memory");
  CalogBoxT box;
  calog__boxInit(&box, self);
  j->box = &box;
  int32_t st = enqueue(io, j, out);
  if (st != CALOG_OK) return st;
  ResWaitT w = {io, j, &box};
  st = calog__actorAwait(self, &box, 0, resolveAbandon, &w, out); /* j is the resolver's from here */
  if (st == CALOG_ERR_LIMIT) return calogFail(out, CALOG_ERR_LIMIT, "interrupted while resolving '%s'", host);
  return st;
}

void calog__ioOpSetTarget(IoHandleT *op, IoHandleT *target) {
  calog__ioHandleRef(target);
  pthread_mutex_lock(&op->io->mu);
  IoHandleT *old = op->op->target;
  op->op->target = target;
  pthread_mutex_unlock(&op->io->mu);
  if (old) calog__ioHandleUnref(old);
}

int32_t calog__ioResolveAsync(IoT *io, IoHandleT *op, CalogValueT *err) {
  IoResolveT *j = newJob(op->op->host, op->op->kind == OPK_UDP_SEND ? SOCK_DGRAM : SOCK_STREAM);
  if (j == NULL) return calogFail(err, CALOG_ERR_OOM, "out of memory");
  calog__ioHandleRef(op);
  j->op = op;
  int32_t st = enqueue(io, j, err);
  if (st != CALOG_OK) calog__ioHandleUnref(op);
  return st;
}

bool calog__ioResolveWithdraw(IoT *io, IoHandleT *op, IoHandleT **target) {
  pthread_mutex_lock(&io->mu);
  IoResolveT *j = op->op->job;
  if (j) {
    j->op = NULL;
    op->op->job = NULL;
  }
  *target = j ? NULL : op->op->target;
  if (*target) calog__ioHandleRef(*target);
  pthread_mutex_unlock(&io->mu);
  return j != NULL; /* the job's reference is the caller's now (calog__ioOpTimedOut completes the op with it) */
}

void calog__ioResolveCancelOwned(IoT *io, CalogContextIdT ctxId) {
  IoHandleT *dropped = NULL;
  pthread_mutex_lock(&io->mu);
  for (IoResolveT *j = io->resHead; j; j = j->next) {
    if (j->op == NULL || j->op->owner != ctxId) continue;
    j->op->op->job = NULL;
    j->op->dropNext = dropped; /* a list through the ops themselves, dropped once unlocked */
    dropped = j->op;
    j->op = NULL; /* the resolver drops the job unlooked-up (nobody waits for it) */
  }
  pthread_mutex_unlock(&io->mu);
  while (dropped) {
    IoHandleT *n = dropped->dropNext;
    calog__ioOpDrop(dropped); /* the job's reference */
    dropped = n;
  }
}

int32_t calog__ioResolve(IoT *io, const char *host, int port, int socktype, struct sockaddr_storage *ss,
                         socklen_t *len, CalogValueT *err) {
  CalogValueT list = calogValueNil();
  int32_t st = resolveRaw(io, host, socktype, &list);
  if (st != CALOG_OK) {
    calogValueFree(err);
    calogValueMove(err, &list);
    return st;
  }
  CalogValueT *first = list.type == CALOG_AGGREGATE ? calogAggArrayAt(list.as.agg, 0) : NULL;
  if (first == NULL || (size_t)first->as.s.length > sizeof *ss) {
    calogValueFree(&list);
    char msg[300];
    snprintf(msg, sizeof msg, "cannot resolve '%s': no address", host);
    return calog__ioSoft(err, msg, NULL);
  }
  memset(ss, 0, sizeof *ss);
  memcpy(ss, first->as.s.bytes, (size_t)first->as.s.length);
  *len = (socklen_t)first->as.s.length;
  if (ss->ss_family == AF_INET) ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
  else ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
  calogValueFree(&list);
  return CALOG_OK;
}

int32_t calog__ioAddrTexts(CalogValueT *list, CalogValueT *out) {
  CalogValueT res = calogValueNil();
  if (calogValueAgg(&res, CALOG_AGG_LIST) != CALOG_OK) {
    calogValueFree(list);
    return calogFail(out, CALOG_ERR_OOM, "out of memory");
  }
  for (int64_t i = 0; i < calogAggArrayCount(list->as.agg); i++) {
    CalogValueT *raw = calogAggArrayAt(list->as.agg, i);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    memcpy(&ss, raw->as.s.bytes, (size_t)raw->as.s.length < sizeof ss ? (size_t)raw->as.s.length : sizeof ss);
    char text[INET6_ADDRSTRLEN] = "";
    const void *a = ss.ss_family == AF_INET ? (const void *)&((struct sockaddr_in *)&ss)->sin_addr
                                            : (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
    if (inet_ntop(ss.ss_family, a, text, sizeof text) == NULL) continue;
    bool dup = false;
    for (int64_t k = 0; k < calogAggArrayCount(res.as.agg); k++)
      if (strcmp(calogAggArrayAt(res.as.agg, k)->as.s.bytes, text) == 0) dup = true;
    CalogValueT s = calogValueNil();
    if (!dup && calogValueString(&s, text, (int64_t)strlen(text)) == CALOG_OK && calogAggPush(res.as.agg, &s) != CALOG_OK)
      calogValueFree(&s);
  }
  calogValueFree(list);
  calogValueFree(out);
  *out = res;
  return CALOG_OK;
}

int32_t calog__ioResolveAll(IoT *io, const char *host, CalogValueT *out) {
  CalogValueT list = calogValueNil();
  int32_t st = resolveRaw(io, host, SOCK_STREAM, &list);
  if (st != CALOG_OK) {
    calogValueFree(out);
    calogValueMove(out, &list);
    return st;
  }
  return calog__ioAddrTexts(&list, out);
}

/* ---- shutdown (calogHostClose, every context gone) ------------------------------------------------------ */
void calog__ioShutdown(void *ext) {
  IoT *io = ext;
  pthread_mutex_lock(&io->mu);
  bool started = io->started;
  pthread_mutex_unlock(&io->mu);
  if (started) {
    if (!calog__ioPush(io, IO_CMD_STOP, NULL)) {
      pthread_mutex_lock(&io->mu); /* out of memory for the command: stop it by the flag and a wake */
      io->stopping = true;
      pthread_mutex_unlock(&io->mu);
      uint64_t one = 1;
      ssize_t w = write(io->evfd, &one, sizeof one);
      (void)w;
    }
    pthread_join(io->thread, NULL);
  }
  /* The resolver may be inside getaddrinfo, which no signal stops (a DNS server that does not answer: 10 s and more):
   * it is detached, not joined, so destroying the runtime never waits for it. Its queued operations are withdrawn here
   * (their contexts are gone), so once it returns it touches nothing but its own jobs and io (it holds a reference). */
  IoHandleT *dropped = NULL;
  pthread_mutex_lock(&io->mu);
  io->closed = true;
  for (IoResolveT *j = io->resHead; j; j = j->next) {
    if (j->op == NULL) continue;
    j->op->op->job = NULL;
    j->op->dropNext = dropped; /* a list through the ops themselves, dropped once unlocked */
    dropped = j->op;
    j->op = NULL;
  }
  /* An operation the resolver has just taken off the queue is not withdrawn above: it completes it, which reaches the
   * runtime (calog__ioPostCall, the host's interest), so that must end before the runtime is freed (a heap-use-after-
   * free of it otherwise). It never blocks: a connect starts non-blocking; a post to a closed context fails at once.
   * (After the withdrawal: meanwhile the resolver drops what is queued, seeing closed.) */
  while (io->delivering) pthread_cond_wait(&io->resolverCv, &io->mu);
  pthread_cond_broadcast(&io->resolverCv);
  bool resolver = io->resolverStarted;
  pthread_mutex_unlock(&io->mu);
  while (dropped) {
    IoHandleT *n = dropped->dropNext;
    calog__ioHandleUnref(dropped); /* the job's reference: no callback (its context is gone) */
    dropped = n;
  }
  if (resolver) pthread_detach(io->resolver);
  /* handles no context closed (none should be left: every context's close hook ran) */
  for (uint32_t next = 0;;) { /* linear: the scan goes on where it stopped */
    IoHandleT *h = NULL;
    pthread_mutex_lock(&io->mu);
    for (uint32_t i = next; i < io->slotCount && h == NULL; i++) {
      if (io->slots[i].h) calog__ioHandleRef(h = io->slots[i].h);
      next = i + 1;
    }
    pthread_mutex_unlock(&io->mu);
    if (h == NULL) break;
    if (h->kind == IO_TIMER) atomic_store(&h->cancelled, true);
    calog__ioClose(h);
    calog__ioHandleUnref(h);
  }
  for (IoCmdT *c = io->cmdHead, *n; c; c = n) { /* commands that came after STOP */
    n = c->next;
    if (c->h) calog__ioHandleUnref(c->h);
    free(c);
  }
  io->cmdHead = io->cmdTail = NULL;
  if (started) {
    close(io->evfd);
    close(io->epfd);
  }
  /* the natives' function values may outlive the runtime (a host holding a conn): they keep io */
  calogValueFree(&io->globals);
  calogValueFree(&io->connProto);
  calogValueFree(&io->serverProto);
  calogValueFree(&io->timerProto);
  calogValueFree(&io->udpProto);
  calog__ioUnref(io);
}
