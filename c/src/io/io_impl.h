/* io_impl.h -- private to c/src/io/: the runtime's I/O state, handles, and the pieces the files share. */
#ifndef CALOG_IO_IMPL_H
#define CALOG_IO_IMPL_H

#include "io.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

typedef struct IoT IoT;

enum { IO_TCP = 1, IO_SERVER = 2, IO_TIMER = 3, IO_UDP = 4, IO_OP = 5 };

typedef struct IoOpT IoOpT;

/* What a parked wait was woken with (CalogBoxT.status; CALOG_ERR_LIMIT when the entry's limit tripped). */
enum { IO_READY = 0, IO_TIMEDOUT = -1, IO_CLOSED = -2 };

/* A socket, server or timer. Refcounted: the handle table holds one reference while the id is valid, and
 * every operation in progress holds its own. Socket fields are guarded by mu; the I/O thread also takes it. */
typedef struct IoHandleT {
  _Atomic int32_t refs;
  IoT *io;
  int kind;
  int64_t id;
  CalogContextIdT owner;
  CalogCtxT *counted; /* the owner whose ioHandles counts this handle (+1 ref), or NULL */
  pthread_mutex_t mu;
  /* sockets */
  int fd;
  int family;
  bool closed;      /* close() ran: fd is gone */
  bool eof;         /* the peer shut its side (a read returned 0) */
  bool wantOut;     /* EPOLLOUT is in the interest set (only while a writer waits) */
  bool reading, writing; /* an operation of that direction is in progress (a second one is "busy") */
  bool hostCounted;      /* counted in the host's interest (calog__ioHostInterest) until freed */
  uint64_t rseq, wseq;   /* readiness events seen by the I/O thread, per direction */
  CalogBoxT *rwait, *wwait; /* the parked reader / writer, if any */
  struct IoHandleT *rop, *wop; /* the pending callback-form reader / writer (an IO_OP handle, +1 ref), if any */
  char *rbuf;
  size_t roff, rlen, rcap; /* buffered input: rbuf[roff .. roff + rlen) */
  /* whose ioBuffered counts rlen (+1 ref), h->mu: the owner, then the context that last received on it (a worker
   * handed the connection): what a reader's receives are bounded by is what the reader holds (pass 29b: one worker's
   * long line, counted to the listener, refused every other worker's receive) */
  CalogCtxT *rlenCounted;
  int64_t tConnect, tSend, tRecv; /* ms, 0 = no timeout */
  CalogFnT *onAccept; /* servers of the callback form */
  char *unixPath;     /* a unix-domain server's socket file: removed when it closes, if it is still ours */
  dev_t unixDev;
  ino_t unixIno;
  /* callback operations (IO_OP): the operation; owner is the context the callback runs in */
  IoOpT *op;
  struct IoHandleT *dropNext; /* a list of operations withdrawn from the resolver (shutdown, a context closing) */
  /* timers (deadline, seq, heap index: I/O thread only) */
  uint64_t deadline, seq, intervalNs;
  size_t heapIndex;
  CalogFnT *fn;
  _Atomic bool cancelled;
  _Atomic bool inFlight; /* a firing is queued to the owner and has not run yet */
} IoHandleT;

typedef struct IoSlotT {
  IoHandleT *h;
  uint32_t gen; /* the key of the current (or last) handle: 24 random bits, then an 8-bit generation */
  uint32_t nextFree; /* index + 1 */
} IoSlotT;

typedef struct IoCmdT {
  struct IoCmdT *next;
  uint64_t seq;
  int kind;
  IoHandleT *h; /* +1 ref */
} IoCmdT;

enum { IO_CMD_TIMER_ADD = 1, IO_CMD_TIMER_CANCEL = 2, IO_CMD_STOP = 3 };

typedef struct IoResolveT IoResolveT;

struct IoT {
  _Atomic int32_t refs; /* the runtime's + one per native function value */
  CalogT *rt;
  pthread_mutex_t mu; /* handle table, command queue, thread start, resolver queue */
  bool started, stopping;
  _Atomic bool closed; /* the runtime closed the layer: natives fail (read without the lock on every call) */
  pthread_t thread;
  int epfd, evfd;
  IoCmdT *cmdHead, *cmdTail;
  uint64_t cmdSeqIn, cmdSeqOut; /* strict FIFO: the I/O thread asserts it takes them in order */
  IoSlotT *slots;
  uint32_t slotCount, slotCap, slotFree;
  /* timer heap: I/O thread only */
  IoHandleT **heap;
  size_t heapLen, heapCap;
  uint64_t timerSeq;
  /* resolver thread (getaddrinfo off the I/O thread) */
  bool resolverStarted;
  bool delivering; /* the resolver is completing an operation it took off the queue (it uses rt): shutdown waits */
  pthread_t resolver;
  pthread_cond_t resolverCv;
  IoResolveT *resHead, *resTail;
  /* the script-facing values */
  CalogValueT globals;                          /* { net = {...}, timer = {...} } */
  CalogValueT connProto, serverProto, timerProto, udpProto; /* method maps copied into each handle */
};

/* loop.c */
CALOG_HIDDEN IoT *calog__ioGet(CalogT *rt);
CALOG_HIDDEN void calog__ioUnref(IoT *io);
CALOG_HIDDEN int32_t calog__ioStart(IoT *io, CalogValueT *err); /* starts the I/O thread once */
CALOG_HIDDEN IoHandleT *calog__ioHandleNew(IoT *io, int kind, CalogContextIdT owner);
/* What one live handle is counted as against its owner's memory limit (the handle, its slot, its heap entry or
 * callback, allocator overhead: measured at 300-470 bytes of RSS) */
#define IO_HANDLE_COST 512
/* Whether one more handle would take ctx past its memory limit (*n: the handles it would own, *cap: the limit, 0 for
 * none). Any thread. */
/* The deadline of an operation timeout of ms (0: none). Past 2^40 ms (~35 years, as the timers cap it) the clock
 * would overflow: 1e19 ms wrapped to a deadline already passed, so the longest wait timed out at once (pass 29a). */
static inline uint64_t calog__ioDeadline(int64_t ms) {
  if (ms <= 0) return 0;
  if (ms > INT64_C(1) << 40) ms = INT64_C(1) << 40;
  return calog__nowNs() + (uint64_t)ms * 1000000u;
}

static inline bool calog__ioOverQuota(CalogCtxT *ctx, int64_t *n, int64_t *cap) {
  *cap = calog__limitMemory(ctx);
  *n = atomic_load(&ctx->ioHandles) + 1;
  return *cap > 0 && *n * IO_HANDLE_COST > *cap;
}
/* CALOG_OK when ctx may own one more handle under its memory limit; else the limit trips (CalogLimitError
 * "memory") and the error is in r. Context thread. */
CALOG_HIDDEN int32_t calog__ioQuota(CalogCtxT *ctx, const char *what, CalogValueT *r);
/* Adds delta to the bytes h's owner holds outside its interpreter (CalogCtxT.ioBuffered). Any thread. */
static inline void calog__ioBuffered(IoHandleT *h, int64_t delta) {
  if (h->counted && delta != 0) atomic_fetch_add(&h->counted->ioBuffered, delta);
}
/* The same for h's buffered input (rlen), counted to h->rlenCounted. h->mu held (or h unshared). */
static inline void calog__ioRecvBuffered(IoHandleT *h, int64_t delta) {
  if (h->rlenCounted && delta != 0) atomic_fetch_add(&h->rlenCounted->ioBuffered, delta);
}
CALOG_HIDDEN int32_t calog__ioHandlePublish(IoT *io, IoHandleT *h); /* gives it an id (the table's ref) */
CALOG_HIDDEN IoHandleT *calog__ioLookup(IoT *io, int64_t id, int kind); /* +1 ref, or NULL */
CALOG_HIDDEN void calog__ioHandleRef(IoHandleT *h);
CALOG_HIDDEN void calog__ioHandleUnref(IoHandleT *h);
/* h (a timer, a callback-form server, an operation) will post work to its context by itself: the host keeps
 * waiting for wakes while h lives. A host-thread context's callbacks run when the host polls; a threaded
 * one's may call host functions or print through the host, which nothing else would wake for. */
CALOG_HIDDEN void calog__ioHostInterest(IoHandleT *h);
CALOG_HIDDEN void calog__ioClose(IoHandleT *h); /* sockets: closes the fd, wakes waiters; frees the id */
CALOG_HIDDEN bool calog__ioPush(IoT *io, int kind, IoHandleT *h); /* command queue (FIFO) */
/* Parks the calling context on *slot (h->mu held on entry and on return) until the I/O thread reports
 * readiness, the handle closes, deadlineNs passes or the entry's limit trips. Returns IO_READY, IO_TIMEDOUT,
 * IO_CLOSED or CALOG_ERR_LIMIT. */
CALOG_HIDDEN int32_t calog__ioPark(IoHandleT *h, CalogBoxT **slot, uint64_t deadlineNs);
/* Resolves host (not numeric) on the resolver thread, parked like calog__ioPark. Fills *ss. */
CALOG_HIDDEN int32_t calog__ioResolve(IoT *io, const char *host, int port, int socktype, struct sockaddr_storage *ss,
                                      socklen_t *len, CalogValueT *err);
/* Every address of host (strings), resolved on the resolver thread. */
CALOG_HIDDEN int32_t calog__ioResolveAll(IoT *io, const char *host, CalogValueT *out);
/* The context running on this thread (NULL: not called from a script). */
CALOG_HIDDEN CalogCtxT *calog__ioCaller(IoT *io);
/* Registers fd for edge-triggered events under h's id (in + rdhup, and out if withOut). */
CALOG_HIDDEN int calog__ioWatch(IoHandleT *h, bool withOut);
CALOG_HIDDEN void calog__ioWantOut(IoHandleT *h, bool on); /* h->mu held */
/* Reports an error thrown by a callback to ctx's stderr sink. Context thread. */
CALOG_HIDDEN void calog__ioReport(CalogCtxT *ctx, const char *what, const CalogValueT *err);
/* Posts fn(args...) (argc <= 2) to owner as a callback; takes the args. A conn among them is closed if the
 * callback fails or never runs. Any thread, no lock held. */
CALOG_HIDDEN void calog__ioPostCall(IoT *io, CalogContextIdT owner, CalogFnT *fn, CalogValueT *args, int32_t argc,
                                    const char *what);
/* Closes every handle of ctx (its close hook). */
CALOG_HIDDEN void calog__ioCtxClosed(CalogCtxT *ctx, void *arg);

/* callback operations (ops.c) */
enum { OPK_CONNECT = 1, OPK_ACCEPT, OPK_SEND, OPK_RECEIVE, OPK_UDP_SEND, OPK_UDP_RECEIVE, OPK_RESOLVE };
enum { RECV_LINE, RECV_ALL, RECV_COUNT, RECV_UNTIL };

typedef struct IoRecvT { /* a receive request */
  int mode;
  size_t count;       /* RECV_COUNT */
  const char *delim;  /* RECV_UNTIL */
  size_t dlen;
  size_t scan;        /* bytes already searched without a match */
  size_t cap;         /* the context's memory limit (0: none): more buffered than that could never be delivered */
  CalogCtxT *reader;  /* that context (lent: its op or its call keeps it), NULL: none */
  bool over;          /* it failed for passing cap (the data stays buffered) */
} IoRecvT;

struct IoOpT {
  int kind;
  IoHandleT *target;  /* the socket it works on (+1 ref); NULL while a name resolves */
  CalogFnT *fn;       /* the callback (+1 ref) */
  CalogCtxT *ctx;     /* the owner (+1 ref): once it is dying the operation stops taking data */
  const char *what;   /* for the stderr report of a failing callback */
  int64_t timeoutMs;
  char *data;         /* send: a copy of the bytes; receive: of the delimiter */
  size_t len, done;
  char *host;         /* a name to resolve first (connect, udp send, resolve) */
  _Atomic bool completed;
  bool armed;         /* its deadline was set (the first submit, before the op is shared) */
  IoRecvT recv;
  int port, fd, err;
  struct sockaddr_storage ss;
  socklen_t sslen;
  char *buf;          /* udp receive: the datagram, allocated by the step that read it */
  IoResolveT *job;    /* under IoT.mu: the resolver job holding the op while its name resolves */
  int32_t st;         /* the outcome, once detached */
  CalogValueT result;
};

/* Starts a callback operation (the calling context's thread): the op is complete but for target / the
 * address; its callback runs later on the owner's thread with (err, result). Returns CALOG_OK (result nil)
 * or an error for the caller (busy, out of memory, shutting down): then the callback never runs. Takes op. */
CALOG_HIDDEN int32_t calog__ioOpSubmit(IoHandleT *op, CalogValueT *result);
/* Starts op's connect to ss, then as calog__ioOpSubmit. Takes op. */
CALOG_HIDDEN int32_t calog__ioOpConnect(IoHandleT *op, const struct sockaddr_storage *ss, socklen_t len, CalogValueT *err);
/* A new IO_OP handle for ctx calling fn (+1 ref each), or NULL. */
CALOG_HIDDEN IoHandleT *calog__ioOpNew(IoT *io, CalogCtxT *ctx, int kind, CalogFnT *fn, const char *what);
CALOG_HIDDEN void calog__ioOpFree(IoOpT *op);
/* I/O thread, h->mu held: readiness moved; runs h's pending ops and returns the ones that are over (detached) */
CALOG_HIDDEN void calog__ioOpEvent(IoHandleT *h, bool in, bool out, IoHandleT **doneR, IoHandleT **doneW);
/* h->mu held, h closing: detaches its ops with "closed" (out: to complete once unlocked) */
CALOG_HIDDEN void calog__ioOpClosed(IoHandleT *h, IoHandleT **doneR, IoHandleT **doneW);
/* Detaches and drops (no callback) h's pending operations whose owner is ctxId (that context is closing). */
CALOG_HIDDEN void calog__ioOpCancelOwned(IoHandleT *h, CalogContextIdT ctxId);
/* Delivers a detached op's outcome to its owner (no lock held); drops the op's reference. */
CALOG_HIDDEN void calog__ioOpComplete(IoHandleT *op);
/* I/O thread: the op's deadline passed. False: the op is between two owners (a resolver handing it to its
 * socket, a closer about to complete it): ask again a little later. */
CALOG_HIDDEN bool calog__ioOpTimedOut(IoHandleT *op);
/* The resolver finished the op's name (status, list of raw addresses or an error; taken). Resolver thread. */
CALOG_HIDDEN void calog__ioOpResolved(IoHandleT *op, int32_t st, CalogValueT *v);
/* Queues op's host (op->op->data) on the resolver thread; an error when it cannot. */
CALOG_HIDDEN int32_t calog__ioResolveAsync(IoT *io, IoHandleT *op, CalogValueT *err);
/* Takes op back from its resolver job (its deadline passed): false when the resolver already finished it;
 * then *target is op's socket as seen under IoT.mu (+1 ref; NULL: not yet set). */
CALOG_HIDDEN bool calog__ioResolveWithdraw(IoT *io, IoHandleT *op, IoHandleT **target);
/* Withdraws the operations of context ctxId (it is closing) queued on the resolver: dropped, no callback. */
CALOG_HIDDEN void calog__ioResolveCancelOwned(IoT *io, CalogContextIdT ctxId);
/* Drops a detached operation without calling it back (its owner is closing): disarms its deadline, drops the ref. */
CALOG_HIDDEN void calog__ioOpDrop(IoHandleT *op);
/* Sets op's socket (under IoT.mu: a deadline may be reading it). */
CALOG_HIDDEN void calog__ioOpSetTarget(IoHandleT *op, IoHandleT *target);
/* list of raw sockaddr strings (taken) -> list of address strings */
CALOG_HIDDEN int32_t calog__ioAddrTexts(CalogValueT *list, CalogValueT *out);
/* CALOG_OK when host may be handed to the resolver (a name, or an IPv6 address getaddrinfo parses); else
 * CALOG_ERR_ARG: a path, a socket path with its scheme in capitals, a colon in what is no IPv6 address, white space */
CALOG_HIDDEN int32_t calog__ioHostName(const char *host, CalogValueT *err);
/* host -> address, numeric (no resolution): CALOG_OK, or 1 when host is a name to resolve, or an error (not a name) */
CALOG_HIDDEN int32_t calog__ioNumericAddress(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len,
                                             CalogValueT *err);

/* steps shared by the blocking and callback forms (h->mu held; true when the operation is over) */
CALOG_HIDDEN bool calog__ioRecvStep(IoHandleT *h, IoRecvT *q, CalogValueT *result, int32_t *st);
CALOG_HIDDEN int32_t calog__ioRecvFail(IoHandleT *h, const char *fail, CalogValueT *result);
CALOG_HIDDEN bool calog__ioSendStep(IoHandleT *h, const char *p, size_t n, size_t *done, int *e);
CALOG_HIDDEN int32_t calog__ioSendOutcome(size_t n, size_t done, int e, CalogValueT *result);
CALOG_HIDDEN bool calog__ioAcceptStep(IoHandleT *h, int *fd, int *e);
CALOG_HIDDEN int32_t calog__ioAcceptOutcome(IoHandleT *server, int fd, int e, CalogContextIdT owner, IoHandleT **out,
                                            CalogValueT *err);
CALOG_HIDDEN int32_t calog__ioConnectStart(IoT *io, CalogContextIdT owner, const struct sockaddr_storage *ss, socklen_t len,
                                           IoHandleT **out, int *e, CalogValueT *err);
CALOG_HIDDEN bool calog__ioConnectCheck(IoHandleT *h, int *e);
CALOG_HIDDEN int32_t calog__ioConnectOutcome(int e, CalogValueT *err);
CALOG_HIDDEN bool calog__ioUdpRecvStep(IoHandleT *h, char **buf, struct sockaddr_storage *ss, socklen_t *len, ssize_t *r, int *e);
CALOG_HIDDEN int32_t calog__ioUdpRecvOutcome(const char *buf, const struct sockaddr_storage *ss, ssize_t r, int e,
                                             CalogValueT *result);
CALOG_HIDDEN bool calog__ioUdpSendStep(IoHandleT *h, const char *p, size_t n, const struct sockaddr_storage *ss, socklen_t len,
                                       ssize_t *w, int *e);
CALOG_HIDDEN int32_t calog__ioUdpSendOutcome(ssize_t w, int e, CalogValueT *result);

/* errors */
CALOG_HIDDEN int32_t calog__ioSoft(CalogValueT *result, const char *msg, CalogValueT *partial);
/* The same record {message, partial} with another status (partial taken; nil: a plain message) */
CALOG_HIDDEN int32_t calog__ioFailWith(CalogValueT *result, int32_t status, const char *msg, CalogValueT *partial);
CALOG_HIDDEN int32_t calog__ioErrno(CalogValueT *result, int e, const char *what);

/* net.c: socket operations (h unlocked on entry) */
CALOG_HIDDEN int32_t calog__ioSockValue(IoT *io, IoHandleT *h, CalogValueT *out);
/* I/O thread: accepts for a callback-form server; true when it stopped for want of descriptors or memory with
 * connections still waiting (retry later: the edge-triggered listener reports nothing more for those) */
CALOG_HIDDEN bool calog__ioServerEvent(IoHandleT *h);

#endif
