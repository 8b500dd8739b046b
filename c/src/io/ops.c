/* ops.c -- the callback forms of the blocking calls (conn:receive(pattern, fn), net.connect(host, port, fn)...).
 *
 * An operation is an IO_OP handle (never published: no id) carrying an IoOpT. The calling context tries it
 * once; if it would block it is attached to its socket as the pending reader (rop) or writer (wop), and the
 * I/O thread runs the same non-blocking step as the blocking form (net.c) on each readiness event. Whoever
 * detaches it -- the step that finished it, close(), its deadline (the I/O thread's timer heap) -- under the
 * socket's mutex delivers the outcome: the callback is posted to the owner context as fn(err, result), the
 * path timer callbacks take (calog__ioPostCall). A context being destroyed drops its pending operations
 * without calling them. Names resolve on the resolver thread first (calog__ioResolveAsync). */
#include "io_impl.h"

#include <errno.h>
#include <unistd.h>

IoHandleT *calog__ioOpNew(IoT *io, CalogCtxT *ctx, int kind, CalogFnT *fn, const char *what) {
  IoHandleT *h = calog__ioHandleNew(io, IO_OP, ctx->id);
  IoOpT *op = h ? calloc(1, sizeof *op) : NULL;
  if (op == NULL) {
    if (h) calog__ioHandleUnref(h);
    return NULL;
  }
  op->kind = kind;
  calogFnRetain(fn);
  op->fn = fn;
  op->what = what;
  calog__ctxRef(ctx);
  op->ctx = ctx;
  op->fd = -1;
  op->result = calogValueNil();
  h->op = op;
  calog__ioHostInterest(h);
  return h;
}

void calog__ioOpFree(IoOpT *op) {
  if (op->target) calog__ioHandleUnref(op->target);
  if (op->fn) calogFnRelease(op->fn);
  if (op->ctx) calog__ctxUnref(op->ctx);
  if (op->fd >= 0) calog__fdClose(op->fd);
  calogValueFree(&op->result);
  free(op->data);
  free(op->host);
  free(op->buf);
  free(op);
}

static bool isReader(int kind) { return kind == OPK_RECEIVE || kind == OPK_ACCEPT || kind == OPK_UDP_RECEIVE; }

/* target->mu held: one non-blocking attempt; true when the operation is over (its outcome in the op) */
static bool step(IoHandleT *oh) {
  IoOpT *op = oh->op;
  IoHandleT *h = op->target;
  switch (op->kind) {
  case OPK_RECEIVE: return calog__ioRecvStep(h, &op->recv, &op->result, &op->st);
  case OPK_SEND:
    if (!calog__ioSendStep(h, op->data, op->len, &op->done, &op->err)) return false;
    op->st = calog__ioSendOutcome(op->len, op->done, op->err, &op->result);
    return true;
  case OPK_ACCEPT: return calog__ioAcceptStep(h, &op->fd, &op->err); /* the outcome once unlocked */
  case OPK_CONNECT: return calog__ioConnectCheck(h, &op->err);
  case OPK_UDP_RECEIVE: {
    ssize_t r = -1;
    if (!calog__ioUdpRecvStep(h, &op->buf, &op->ss, &op->sslen, &r, &op->err)) return false;
    op->st = calog__ioUdpRecvOutcome(op->buf, &op->ss, r, op->err, &op->result);
    return true;
  }
  case OPK_UDP_SEND: {
    ssize_t w = -1;
    if (!calog__ioUdpSendStep(h, op->data, op->len, &op->ss, op->sslen, &w, &op->err)) return false;
    op->st = calog__ioUdpSendOutcome(w, op->err, &op->result);
    return true;
  }
  default: op->st = calogFail(&op->result, CALOG_ERR_INTERNAL, "unknown I/O operation"); return true;
  }
}

/* target->mu held: ends the operation with e (EPIPE: closed, ETIMEDOUT) */
static void end(IoHandleT *oh, int e) {
  IoOpT *op = oh->op;
  IoHandleT *h = op->target;
  op->err = e;
  switch (op->kind) {
  case OPK_RECEIVE: op->st = calog__ioRecvFail(h, e == ETIMEDOUT ? "timeout" : "closed", &op->result); break;
  case OPK_SEND:
    calog__ioWantOut(h, false);
    op->st = calog__ioSendOutcome(op->len, op->done, e, &op->result);
    break;
  case OPK_UDP_RECEIVE: op->st = calog__ioUdpRecvOutcome(NULL, NULL, -1, e, &op->result); break;
  case OPK_UDP_SEND:
    calog__ioWantOut(h, false);
    op->st = calog__ioUdpSendOutcome(-1, e, &op->result);
    break;
  default: break; /* accept, connect: from err once unlocked */
  }
}

/* target->mu held: takes oh off its socket (the socket's reference goes to the caller) */
static IoHandleT *detach(IoHandleT *h, IoHandleT *oh) {
  if (h->rop == oh) {
    h->rop = NULL;
    h->reading = false;
  } else if (h->wop == oh) {
    h->wop = NULL;
    h->writing = false;
  }
  return oh;
}

/* the owner is being destroyed: the operation ends without touching the socket's data (its callback never
 * runs; the owner's close hook may not have run yet -- a threaded context closes on its own thread) */
static bool ownerGone(IoHandleT *oh) {
  if (!atomic_load(&oh->op->ctx->dying)) return false;
  oh->op->st = calogFail(&oh->op->result, CALOG_ERR_DEAD, "the context was destroyed");
  return true;
}

void calog__ioOpEvent(IoHandleT *h, bool in, bool out, IoHandleT **doneR, IoHandleT **doneW) {
  if (in && h->rop && (ownerGone(h->rop) || step(h->rop))) *doneR = detach(h, h->rop);
  if (out && h->wop && (ownerGone(h->wop) || step(h->wop))) *doneW = detach(h, h->wop);
}

void calog__ioOpClosed(IoHandleT *h, IoHandleT **doneR, IoHandleT **doneW) {
  if (h->rop) {
    end(h->rop, EPIPE);
    *doneR = detach(h, h->rop);
  }
  if (h->wop) {
    end(h->wop, EPIPE);
    *doneW = detach(h, h->wop);
  }
}

static void disarm(IoHandleT *oh) {
  atomic_store(&oh->op->completed, true);
  if (oh->op->timeoutMs > 0 && !atomic_exchange(&oh->cancelled, true)) calog__ioPush(oh->io, IO_CMD_TIMER_CANCEL, oh);
}

void calog__ioOpDrop(IoHandleT *oh) {
  disarm(oh);
  calog__ioHandleUnref(oh);
}

void calog__ioOpCancelOwned(IoHandleT *h, CalogContextIdT ctxId) {
  IoHandleT *drop[2] = {NULL, NULL};
  pthread_mutex_lock(&h->mu);
  if (h->rop && h->rop->owner == ctxId) drop[0] = detach(h, h->rop);
  if (h->wop && h->wop->owner == ctxId) drop[1] = detach(h, h->wop);
  pthread_mutex_unlock(&h->mu);
  for (int i = 0; i < 2; i++)
    if (drop[i]) calog__ioOpDrop(drop[i]);
}

/* An error outcome as the callback's err: the soft error record {message, partial?} itself, or {message} */
static void errRecord(CalogValueT *err, CalogValueT *out) {
  if (err->type == CALOG_AGGREGATE && calog__optGet(err, "message") != NULL) {
    calogValueMove(out, err);
    return;
  }
  int64_t n = 0;
  const char *msg = calogErrorMessage(err, &n);
  CalogValueT k = calogValueNil(), v = calogValueNil();
  if (calogValueAgg(out, CALOG_AGG_MAP) != CALOG_OK || calogValueString(&k, "message", 7) != CALOG_OK ||
      calogValueString(&v, msg ? msg : "failed", msg ? n : 6) != CALOG_OK || calogAggSet(out->as.agg, &k, &v) != CALOG_OK) {
    calogValueFree(&k);
    calogValueFree(&v);
  }
  calogValueFree(err);
}

void calog__ioOpComplete(IoHandleT *oh) {
  IoOpT *op = oh->op;
  IoT *io = oh->io;
  disarm(oh);
  if (op->kind == OPK_ACCEPT && op->target && op->st == CALOG_OK) {
    IoHandleT *c = NULL;
    int fd = op->fd;
    op->fd = -1;
    op->st = calog__ioAcceptOutcome(op->target, fd, op->err, oh->owner, &c, &op->result);
    if (c) {
      if ((op->st = calog__ioSockValue(io, c, &op->result)) != CALOG_OK) calog__ioClose(c);
      calog__ioHandleUnref(c);
    }
  } else if (op->kind == OPK_CONNECT && op->st == CALOG_OK) {
    if (op->err == 0 && op->target) {
      if ((op->st = calog__ioSockValue(io, op->target, &op->result)) != CALOG_OK) calog__ioClose(op->target);
    } else {
      if (op->target) calog__ioClose(op->target);
      op->st = calog__ioConnectOutcome(op->err, &op->result);
    }
  }
  CalogValueT args[2] = {calogValueNil(), calogValueNil()};
  if (op->st == CALOG_OK) calogValueMove(&args[1], &op->result);
  else errRecord(&op->result, &args[0]);
  calog__ioPostCall(io, oh->owner, op->fn, args, 2, op->what);
  calog__ioHandleUnref(oh);
}

bool calog__ioOpTimedOut(IoHandleT *oh) {
  IoOpT *op = oh->op;
  if (atomic_load(&op->completed)) return true;
  IoHandleT *h = NULL;
  if (calog__ioResolveWithdraw(oh->io, oh, &h)) { /* still resolving: the job's reference is ours now */
    op->err = ETIMEDOUT;
    op->st = calog__ioSoft(&op->result, "timeout", NULL);
    calog__ioOpComplete(oh);
    return true;
  }
  if (h == NULL) return false;
  IoHandleT *done = NULL;
  pthread_mutex_lock(&h->mu);
  if (h->rop == oh || h->wop == oh) {
    end(oh, ETIMEDOUT);
    done = detach(h, oh);
  }
  pthread_mutex_unlock(&h->mu);
  calog__ioHandleUnref(h);
  if (done) calog__ioOpComplete(done);
  return done != NULL || atomic_load(&op->completed);
}

int32_t calog__ioOpConnect(IoHandleT *oh, const struct sockaddr_storage *ss, socklen_t len, CalogValueT *err) {
  IoOpT *op = oh->op;
  IoHandleT *h = NULL;
  int32_t st = calog__ioConnectStart(oh->io, oh->owner, ss, len, &h, &op->err, err);
  if (st != CALOG_OK) {
    calog__ioHandleUnref(oh);
    return st;
  }
  if (h == NULL) { /* failed at once (a unix path that is not there...): still a callback */
    calog__ioOpComplete(oh);
    return CALOG_OK;
  }
  h->tConnect = op->timeoutMs;
  calog__ioOpSetTarget(oh, h);
  calog__ioHandleUnref(h);
  return calog__ioOpSubmit(oh, err);
}

int32_t calog__ioOpSubmit(IoHandleT *oh, CalogValueT *result) {
  IoOpT *op = oh->op;
  IoT *io = oh->io;
  calogValueFree(result);
  /* once: a resolved name comes back here, on the resolver thread, when the deadline is the I/O thread's (it moves it
   * while the op changes hands): armed is written only before the op is shared (reading deadline raced that write) */
  bool arm = op->timeoutMs > 0 && !op->armed;
  if (arm) {
    op->armed = true;
    oh->deadline = calog__ioDeadline(op->timeoutMs);
  }
  if (op->host) { /* a name: the resolver thread first, then back here (calog__ioOpResolved) */
    int32_t st = calog__ioResolveAsync(io, oh, result);
    if (st == CALOG_OK && arm) calog__ioPush(io, IO_CMD_TIMER_ADD, oh);
    calog__ioHandleUnref(oh);
    return st;
  }
  IoHandleT *h = op->target;
  pthread_mutex_lock(&h->mu);
  bool reader = isReader(op->kind);
  if (reader ? h->reading : h->writing) {
    pthread_mutex_unlock(&h->mu);
    calog__ioHandleUnref(oh);
    return calog__ioSoft(result, reader ? "busy: another receive (or accept) is pending on this handle"
                                        : "busy: another send is pending on this connection",
                         NULL);
  }
  if (op->kind == OPK_UDP_RECEIVE && h->fd < 0 && !h->closed) {
    pthread_mutex_unlock(&h->mu);
    calog__ioHandleUnref(oh);
    return calog__ioSoft(result, "not bound: bind or send first", NULL);
  }
  bool done = h->closed ? (end(oh, EPIPE), true) : step(oh);
  if (!done) {
    calog__ioHandleRef(oh); /* the socket's */
    if (reader) h->rop = oh, h->reading = true;
    else h->wop = oh, h->writing = true;
  }
  pthread_mutex_unlock(&h->mu);
  if (done) { /* the callback still runs later, never inside this call */
    calog__ioOpComplete(oh);
    return CALOG_OK;
  }
  if (arm) calog__ioPush(io, IO_CMD_TIMER_ADD, oh);
  calog__ioHandleUnref(oh);
  return CALOG_OK;
}

void calog__ioOpResolved(IoHandleT *oh, int32_t st, CalogValueT *v) {
  IoOpT *op = oh->op;
  free(op->host);
  op->host = NULL;
  if (st == CALOG_OK && op->kind == OPK_RESOLVE) st = calog__ioAddrTexts(v, &op->result);
  else if (st == CALOG_OK) { /* the first address, with the port */
    CalogValueT *first = v->type == CALOG_AGGREGATE ? calogAggArrayAt(v->as.agg, 0) : NULL;
    if (first == NULL || (size_t)first->as.s.length > sizeof op->ss) {
      st = calog__ioSoft(&op->result, "cannot resolve: no address", NULL);
    } else {
      memset(&op->ss, 0, sizeof op->ss);
      memcpy(&op->ss, first->as.s.bytes, (size_t)first->as.s.length);
      op->sslen = (socklen_t)first->as.s.length;
      if (op->ss.ss_family == AF_INET) ((struct sockaddr_in *)&op->ss)->sin_port = htons((uint16_t)op->port);
      else ((struct sockaddr_in6 *)&op->ss)->sin6_port = htons((uint16_t)op->port);
    }
    calogValueFree(v);
  } else {
    calogValueMove(&op->result, v);
  }
  op->st = st;
  if (st != CALOG_OK || op->kind == OPK_RESOLVE) {
    calog__ioOpComplete(oh);
    return;
  }
  if (ownerGone(oh)) { /* its context is being destroyed (its close hook withdraws what is still queued): no connect,
                        * no datagram on its behalf now; the callback is dropped with the context */
    calog__ioOpComplete(oh);
    return;
  }
  CalogValueT err = calogValueNil();
  calog__ioHandleRef(oh); /* the caller is long gone: an error goes to the callback */
  int32_t s2 = op->kind == OPK_CONNECT ? calog__ioOpConnect(oh, &op->ss, op->sslen, &err) : calog__ioOpSubmit(oh, &err);
  if (s2 != CALOG_OK) {
    op->st = s2;
    calogValueMove(&op->result, &err);
    calog__ioOpComplete(oh);
  } else {
    calog__ioHandleUnref(oh);
  }
}
