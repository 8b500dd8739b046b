/* io_impl.h -- private to c/src/io/: the runtime's I/O state, handles, and the pieces the files share. */
#ifndef CALOG_IO_IMPL_H
#define CALOG_IO_IMPL_H

#include "io.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

typedef struct IoT IoT;

enum { IO_TCP = 1, IO_SERVER = 2, IO_TIMER = 3, IO_UDP = 4 };

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
  pthread_mutex_t mu;
  /* sockets */
  int fd;
  int family;
  bool closed;      /* close() ran: fd is gone */
  bool eof;         /* the peer shut its side (a read returned 0) */
  bool wantOut;     /* EPOLLOUT is in the interest set (only while a writer waits) */
  bool reading, writing; /* an operation of that direction is in progress (a second one is "busy") */
  uint64_t rseq, wseq;   /* readiness events seen by the I/O thread, per direction */
  CalogBoxT *rwait, *wwait; /* the parked reader / writer, if any */
  char *rbuf;
  size_t roff, rlen, rcap; /* buffered input: rbuf[roff .. roff + rlen) */
  int64_t tConnect, tSend, tRecv; /* ms, 0 = no timeout */
  CalogFnT *onAccept; /* servers of the callback form */
  char *unixPath;     /* a unix-domain server's socket file: removed when it closes */
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
CALOG_HIDDEN int32_t calog__ioHandlePublish(IoT *io, IoHandleT *h); /* gives it an id (the table's ref) */
CALOG_HIDDEN IoHandleT *calog__ioLookup(IoT *io, int64_t id, int kind); /* +1 ref, or NULL */
CALOG_HIDDEN void calog__ioHandleRef(IoHandleT *h);
CALOG_HIDDEN void calog__ioHandleUnref(IoHandleT *h);
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
/* Posts fn(arg) to ctx as a callback (a conn for the accept form); takes arg. I/O thread. */
CALOG_HIDDEN void calog__ioPostCall(IoT *io, CalogContextIdT owner, CalogFnT *fn, CalogValueT *arg, const char *what);
/* Closes every handle of ctx (its close hook). */
CALOG_HIDDEN void calog__ioCtxClosed(CalogCtxT *ctx, void *arg);

/* errors */
CALOG_HIDDEN int32_t calog__ioSoft(CalogValueT *result, const char *msg, CalogValueT *partial);
CALOG_HIDDEN int32_t calog__ioErrno(CalogValueT *result, int e, const char *what);

/* net.c: socket operations (h unlocked on entry) */
CALOG_HIDDEN int32_t calog__ioSockValue(IoT *io, IoHandleT *h, CalogValueT *out);
CALOG_HIDDEN void calog__ioServerEvent(IoHandleT *h); /* I/O thread: accepts for a callback-form server */

#endif
