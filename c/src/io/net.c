/* net.c -- TCP and unix-domain stream sockets: connect, listen, accept, send, receive patterns, shutdown.
 * The calling context's thread does the system calls itself (non-blocking); when one would block it parks on
 * the handle (calog__ioPark) until the I/O thread reports readiness. */
#include "io_impl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <unistd.h>

#define READ_CHUNK 65536

static uint64_t deadlineOf(int64_t ms) { return ms > 0 ? calog__nowNs() + (uint64_t)ms * 1000000u : 0; }

/* ---- addresses --------------------------------------------------------------------------------------- */
/* host "unix:/path", a numeric address, "localhost", or a name (resolved on the resolver thread). */
int32_t calog__ioAddress(IoT *io, const char *host, int port, int socktype, struct sockaddr_storage *ss, socklen_t *len,
                         CalogValueT *err) {
  memset(ss, 0, sizeof *ss);
  if (strncmp(host, "unix:", 5) == 0) {
    struct sockaddr_un *un = (struct sockaddr_un *)ss;
    size_t n = strlen(host + 5);
    if (n == 0 || n >= sizeof un->sun_path) return calogFail(err, CALOG_ERR_ARG, "unix socket path is empty or too long");
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, host + 5, n + 1);
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return CALOG_OK;
  }
  if (port < 0 || port > 65535) return calogFail(err, CALOG_ERR_ARG, "port %d is out of range (0-65535)", port);
  struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
  const char *h = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host[0] == '\0' || strcmp(host, "*") == 0 ? "0.0.0.0" : host;
  if (inet_pton(AF_INET, h, &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons((uint16_t)port);
    *len = sizeof *in4;
    return CALOG_OK;
  }
  char buf[INET6_ADDRSTRLEN + 2];
  size_t hl = strlen(h);
  if (h[0] == '[' && hl >= 2 && hl - 2 < sizeof buf && h[hl - 1] == ']') { /* [::1] */
    memcpy(buf, h + 1, hl - 2);
    buf[hl - 2] = '\0';
    h = buf;
  }
  if (inet_pton(AF_INET6, h, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    *len = sizeof *in6;
    return CALOG_OK;
  }
  return calog__ioResolve(io, h, port, socktype, ss, len, err);
}

static void addrText(const struct sockaddr_storage *ss, char *host, size_t hostCap, int *port) {
  *port = 0;
  host[0] = '\0';
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
    inet_ntop(AF_INET, &a->sin_addr, host, (socklen_t)hostCap);
    *port = ntohs(a->sin_port);
  } else if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
    inet_ntop(AF_INET6, &a->sin6_addr, host, (socklen_t)hostCap);
    *port = ntohs(a->sin6_port);
  } else if (ss->ss_family == AF_UNIX) {
    snprintf(host, hostCap, "unix:%s", ((const struct sockaddr_un *)ss)->sun_path);
  }
}

/* ---- connect, listen, accept ---------------------------------------------------------------------------- */
static IoHandleT *newSocket(IoT *io, int kind, CalogContextIdT owner, int family, int type, CalogValueT *err) {
  IoHandleT *h = calog__ioHandleNew(io, kind, owner);
  if (h == NULL) {
    calogFail(err, CALOG_ERR_OOM, "out of memory");
    return NULL;
  }
  h->family = family;
  h->fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (h->fd < 0) {
    calog__ioErrno(err, errno, "socket");
    calog__ioHandleUnref(h);
    return NULL;
  }
  return h;
}

/* Publishes h (an id) and registers its fd with epoll. On failure h is released. */
static int32_t publish(IoT *io, IoHandleT *h, bool withOut, CalogValueT *err) {
  int32_t st = calog__ioHandlePublish(io, h);
  if (st != CALOG_OK) {
    calog__ioHandleUnref(h);
    return calogFail(err, st, st == CALOG_ERR_DEAD ? "the runtime is shutting down" : "cannot register the socket");
  }
  pthread_mutex_lock(&h->mu);
  int r = calog__ioWatch(h, withOut);
  pthread_mutex_unlock(&h->mu);
  if (r != 0) {
    int e = errno;
    calog__ioClose(h);
    calog__ioHandleUnref(h);
    return calog__ioErrno(err, e, "epoll");
  }
  return CALOG_OK;
}

int32_t calog__ioConnect(IoT *io, CalogCtxT *ctx, const char *host, int port, int64_t timeoutMs, IoHandleT **out,
                         CalogValueT *err) {
  struct sockaddr_storage ss;
  socklen_t len = 0;
  int32_t st = calog__ioAddress(io, host, port, SOCK_STREAM, &ss, &len, err);
  if (st != CALOG_OK) return st;
  IoHandleT *h = newSocket(io, IO_TCP, ctx->id, ss.ss_family, SOCK_STREAM, err);
  if (h == NULL) return CALOG_ERR_SCRIPT;
  h->tConnect = timeoutMs;
  if (ss.ss_family != AF_UNIX) {
    int one = 1;
    setsockopt(h->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  if ((st = publish(io, h, true, err)) != CALOG_OK) return st;
  uint64_t deadline = deadlineOf(timeoutMs);
  pthread_mutex_lock(&h->mu);
  uint64_t seq = h->wseq;
  int r = h->closed ? -1 : connect(h->fd, (struct sockaddr *)&ss, len);
  int e = h->closed ? EPIPE : errno;
  if (r != 0 && (e == EINPROGRESS || e == EAGAIN)) {
    for (;;) {
      if (h->closed) {
        e = EPIPE;
        break;
      }
      int soerr = 0;
      socklen_t sl = sizeof soerr;
      if (h->wseq != seq) { /* writable or failed: the outcome is in SO_ERROR */
        getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        r = soerr ? -1 : 0;
        e = soerr;
        break;
      }
      int32_t w = calog__ioPark(h, &h->wwait, deadline);
      if (w == IO_TIMEDOUT || w == CALOG_ERR_LIMIT) {
        r = -1;
        e = w == IO_TIMEDOUT ? ETIMEDOUT : EINTR;
        break;
      }
    }
  }
  if (r == 0) calog__ioWantOut(h, false);
  pthread_mutex_unlock(&h->mu);
  if (r == 0) {
    *out = h;
    return CALOG_OK;
  }
  calog__ioClose(h);
  calog__ioHandleUnref(h);
  if (e == EINTR) return calogFail(err, CALOG_ERR_LIMIT, "interrupted while connecting");
  if (e == EPIPE) return calog__ioSoft(err, "closed", NULL);
  return calog__ioErrno(err, e, "connect");
}

int32_t calog__ioListen(IoT *io, CalogCtxT *ctx, const char *host, int port, int backlog, CalogFnT *onAccept,
                        IoHandleT **out, CalogValueT *err) {
  struct sockaddr_storage ss;
  socklen_t len = 0;
  int32_t st = calog__ioAddress(io, host, port, SOCK_STREAM, &ss, &len, err);
  if (st != CALOG_OK) return st;
  IoHandleT *h = newSocket(io, IO_SERVER, ctx->id, ss.ss_family, SOCK_STREAM, err);
  if (h == NULL) return CALOG_ERR_SCRIPT;
  int one = 1;
  if (ss.ss_family != AF_UNIX) setsockopt(h->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(h->fd, (struct sockaddr *)&ss, len) != 0 || listen(h->fd, backlog > 0 ? backlog : 511) != 0) {
    int e = errno;
    calog__ioHandleUnref(h);
    return calog__ioErrno(err, e, "listen");
  }
  if (ss.ss_family == AF_UNIX) h->unixPath = strdup(((struct sockaddr_un *)&ss)->sun_path); /* NULL: left behind */
  if (onAccept) {
    calogFnRetain(onAccept);
    h->onAccept = onAccept;
  }
  if ((st = publish(io, h, false, err)) != CALOG_OK) return st;
  *out = h;
  return CALOG_OK;
}

/* A connection accepted on server h: a new handle owned by owner. */
static IoHandleT *adopt(IoT *io, int fd, int family, CalogContextIdT owner, CalogValueT *err) {
  IoHandleT *c = calog__ioHandleNew(io, IO_TCP, owner);
  if (c == NULL) {
    close(fd);
    calogFail(err, CALOG_ERR_OOM, "out of memory");
    return NULL;
  }
  c->fd = fd;
  c->family = family;
  if (family != AF_UNIX) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  if (publish(io, c, false, err) != CALOG_OK) return NULL;
  return c;
}

int32_t calog__ioAccept(IoHandleT *h, CalogCtxT *ctx, int64_t timeoutMs, IoHandleT **out, CalogValueT *err) {
  uint64_t deadline = deadlineOf(timeoutMs);
  pthread_mutex_lock(&h->mu);
  if (h->reading) {
    pthread_mutex_unlock(&h->mu);
    return calog__ioSoft(err, "busy: another accept is waiting on this server", NULL);
  }
  h->reading = true;
  int fd = -1, e = 0;
  for (;;) {
    if (h->closed) {
      e = EPIPE;
      break;
    }
    uint64_t seq = h->rseq;
    fd = accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) break;
    e = errno;
    if (e == EINTR || e == ECONNABORTED) continue;
    if (e != EAGAIN && e != EWOULDBLOCK) break;
    if (h->rseq != seq) continue;
    int32_t w = calog__ioPark(h, &h->rwait, deadline);
    if (w == IO_TIMEDOUT || w == CALOG_ERR_LIMIT) {
      e = w == IO_TIMEDOUT ? ETIMEDOUT : EINTR;
      break;
    }
  }
  h->reading = false;
  int family = h->family;
  pthread_mutex_unlock(&h->mu);
  if (fd < 0) {
    if (e == EINTR) return calogFail(err, CALOG_ERR_LIMIT, "interrupted while accepting");
    if (e == EPIPE) return calog__ioSoft(err, "closed", NULL);
    return calog__ioErrno(err, e, "accept");
  }
  IoHandleT *c = adopt(h->io, fd, family, ctx->id, err);
  if (c == NULL) return CALOG_ERR_SCRIPT;
  *out = c;
  return CALOG_OK;
}

void calog__ioServerEvent(IoHandleT *h) {
  for (;;) {
    pthread_mutex_lock(&h->mu);
    bool closed = h->closed;
    int fd = closed ? -1 : accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    int e = errno;
    pthread_mutex_unlock(&h->mu);
    if (fd < 0) {
      if (!closed && (e == EINTR || e == ECONNABORTED)) continue;
      return; /* EAGAIN (all taken), closed, or out of descriptors (the next connection retries) */
    }
    CalogValueT err = calogValueNil(), conn = calogValueNil();
    IoHandleT *c = adopt(h->io, fd, h->family, h->owner, &err);
    calogValueFree(&err);
    if (c == NULL) continue;
    if (calog__ioSockValue(h->io, c, &conn) != CALOG_OK) {
      calog__ioClose(c);
      calog__ioHandleUnref(c);
      continue;
    }
    calog__ioHandleUnref(c); /* the table keeps it until the conn is closed (or its owner goes) */
    calog__ioPostCall(h->io, h->owner, h->onAccept, &conn, "net.listen callback");
  }
}

/* ---- send ------------------------------------------------------------------------------------------------ */
int32_t calog__ioSend(IoHandleT *h, const char *p, size_t n, CalogValueT *result) {
  pthread_mutex_lock(&h->mu);
  if (h->writing) {
    pthread_mutex_unlock(&h->mu);
    return calog__ioSoft(result, "busy: another send is in progress on this connection", NULL);
  }
  h->writing = true;
  uint64_t deadline = deadlineOf(h->tSend);
  size_t done = 0;
  int e = 0;
  while (done < n) {
    if (h->closed) {
      e = EPIPE;
      break;
    }
    uint64_t seq = h->wseq;
    ssize_t w = send(h->fd, p + done, n - done, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) {
      done += (size_t)w;
      continue;
    }
    e = errno;
    if (w < 0 && e == EINTR) continue;
    if (w < 0 && e != EAGAIN && e != EWOULDBLOCK) break;
    e = 0;
    calog__ioWantOut(h, true); /* write interest only while a writer waits */
    if (h->wseq != seq) continue;
    int32_t st = calog__ioPark(h, &h->wwait, deadline);
    if (st == IO_TIMEDOUT || st == CALOG_ERR_LIMIT) {
      e = st == IO_TIMEDOUT ? ETIMEDOUT : EINTR;
      break;
    }
  }
  calog__ioWantOut(h, false); /* drained (or given up): no more EPOLLOUT wake-ups */
  h->writing = false;
  pthread_mutex_unlock(&h->mu);
  if (done == n && e == 0) {
    *result = calogValueInt((int64_t)n);
    return CALOG_OK;
  }
  if (e == EINTR) /* the bytes already written are on their way: the host must know how many */
    return calogFail(result, CALOG_ERR_LIMIT, "interrupted while sending: %zu of %zu bytes were sent", (size_t)done, (size_t)n);
  CalogValueT sent = calogValueInt((int64_t)done); /* how much went out before the failure */
  const char *msg = e == ETIMEDOUT ? "timeout" : e == EPIPE ? "closed" : e == ECONNRESET ? "connection reset" : NULL;
  if (msg == NULL) return calog__ioErrno(result, e, "send");
  return calog__ioSoft(result, msg, &sent);
}

/* ---- receive ---------------------------------------------------------------------------------------------- */
enum { RECV_LINE, RECV_ALL, RECV_COUNT, RECV_UNTIL };

/* Makes room for at least want more bytes in h->rbuf. */
static bool reserve(IoHandleT *h, size_t want) {
  if (h->roff > 0 && (h->rlen == 0 || h->roff + h->rlen + want > h->rcap)) {
    memmove(h->rbuf, h->rbuf + h->roff, h->rlen);
    h->roff = 0;
  }
  if (h->rlen + want <= h->rcap) return true;
  size_t cap = h->rcap ? h->rcap : READ_CHUNK;
  while (cap < h->rlen + want) cap *= 2;
  char *p = realloc(h->rbuf, cap);
  if (p == NULL) return false;
  h->rbuf = p;
  h->rcap = cap;
  return true;
}

/* Takes n buffered bytes (+ skip more) into out. */
static int32_t take(IoHandleT *h, size_t n, size_t skip, CalogValueT *out) {
  int32_t st = calogValueString(out, h->rbuf ? h->rbuf + h->roff : "", (int64_t)n);
  if (st != CALOG_OK) return st;
  h->roff += n + skip;
  h->rlen -= n + skip;
  if (h->rlen == 0) h->roff = 0;
  return CALOG_OK;
}

/* A complete match in the buffer? (h->mu held). *scan: bytes already searched without a match. */
static bool match(IoHandleT *h, int mode, size_t count, const char *delim, size_t dlen, size_t *scan, CalogValueT *out,
                  int32_t *st) {
  if (h->rlen == 0) return false;
  const char *b = h->rbuf + h->roff;
  switch (mode) {
  case RECV_LINE: {
    const char *nl = memchr(b + *scan, '\n', h->rlen - *scan);
    if (nl == NULL) {
      *scan = h->rlen;
      return false;
    }
    size_t n = (size_t)(nl - b);
    bool cr = n > 0 && b[n - 1] == '\r'; /* CR LF or LF; a CR elsewhere stays in the line */
    *st = take(h, cr ? n - 1 : n, cr ? 2 : 1, out);
    return true;
  }
  case RECV_COUNT:
    if (h->rlen < count) return false;
    *st = take(h, count, 0, out);
    return true;
  case RECV_UNTIL: {
    if (h->rlen < dlen) return false;
    const char *hit = memmem(b + *scan, h->rlen - *scan, delim, dlen);
    if (hit == NULL) {
      *scan = h->rlen - dlen + 1; /* a match may still start in the last dlen - 1 bytes */
      return false;
    }
    *st = take(h, (size_t)(hit - b), dlen, out);
    return true;
  }
  default: return false; /* RECV_ALL: only at the end */
  }
}

int32_t calog__ioReceive(IoHandleT *h, int mode, size_t count, const char *delim, size_t dlen, CalogValueT *result) {
  pthread_mutex_lock(&h->mu);
  if (h->reading) {
    pthread_mutex_unlock(&h->mu);
    return calog__ioSoft(result, "busy: another receive is in progress on this connection", NULL);
  }
  h->reading = true;
  uint64_t deadline = deadlineOf(h->tRecv);
  size_t scan = 0;
  int32_t st = CALOG_OK;
  const char *fail = NULL;
  bool partialToo = true;
  for (;;) {
    if (mode == RECV_COUNT && count == 0) {
      st = calogValueString(result, "", 0);
      break;
    }
    if (match(h, mode, count, delim, dlen, &scan, result, &st)) break;
    if (h->eof) {
      if (mode == RECV_ALL) {
        st = take(h, h->rlen, 0, result);
        break;
      }
      fail = "closed";
      break;
    }
    if (h->closed) {
      fail = "closed";
      break;
    }
    size_t want = mode == RECV_COUNT && count > h->rlen ? count - h->rlen : READ_CHUNK;
    if (want < READ_CHUNK) want = READ_CHUNK;
    if (want > 16 * READ_CHUNK) want = 16 * READ_CHUNK;
    if (!reserve(h, want)) {
      st = calogFail(result, CALOG_ERR_OOM, "out of memory");
      partialToo = false;
      break;
    }
    uint64_t seq = h->rseq;
    ssize_t r = recv(h->fd, h->rbuf + h->roff + h->rlen, h->rcap - h->roff - h->rlen, MSG_DONTWAIT);
    if (r > 0) {
      h->rlen += (size_t)r;
      continue;
    }
    if (r == 0) {
      h->eof = true;
      continue;
    }
    int e = errno;
    if (e == EINTR) continue;
    if (e != EAGAIN && e != EWOULDBLOCK) {
      fail = e == ECONNRESET ? "connection reset" : "closed";
      h->eof = true; /* nothing more will come */
      break;
    }
    if (h->rseq != seq) continue;
    int32_t w = calog__ioPark(h, &h->rwait, deadline);
    if (w == IO_TIMEDOUT) {
      fail = "timeout";
      break;
    }
    if (w == CALOG_ERR_LIMIT) {
      st = calogFail(result, CALOG_ERR_LIMIT, "interrupted while receiving");
      partialToo = false; /* the data stays buffered for the next receive */
      break;
    }
  }
  CalogValueT partial = calogValueNil();
  if (fail && partialToo && take(h, h->rlen, 0, &partial) != CALOG_OK) partial = calogValueNil();
  h->reading = false;
  pthread_mutex_unlock(&h->mu);
  if (fail) return calog__ioSoft(result, fail, &partial);
  if (st != CALOG_OK && result->type == CALOG_NIL) return calogFail(result, st, "out of memory");
  return st;
}

/* ---- the rest ------------------------------------------------------------------------------------------------ */
int32_t calog__ioShutdownWrite(IoHandleT *h, CalogValueT *result) {
  pthread_mutex_lock(&h->mu);
  int r = h->closed ? -1 : shutdown(h->fd, SHUT_WR);
  int e = h->closed ? EPIPE : errno;
  pthread_mutex_unlock(&h->mu);
  if (r != 0 && e != ENOTCONN) return calog__ioErrno(result, e, "shutdown");
  *result = calogValueBool(true);
  return CALOG_OK;
}

int32_t calog__ioName(IoHandleT *h, bool peer, CalogValueT *result) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  memset(&ss, 0, sizeof ss);
  pthread_mutex_lock(&h->mu);
  int r = h->closed ? -1 : peer ? getpeername(h->fd, (struct sockaddr *)&ss, &len) : getsockname(h->fd, (struct sockaddr *)&ss, &len);
  int e = h->closed ? EPIPE : errno;
  pthread_mutex_unlock(&h->mu);
  if (r != 0) return e == EPIPE ? calog__ioSoft(result, "closed", NULL) : calog__ioErrno(result, e, peer ? "peer" : "port");
  char host[INET6_ADDRSTRLEN + 120];
  int port;
  addrText(&ss, host, sizeof host, &port);
  if (!peer) {
    *result = calogValueInt(port);
    return CALOG_OK;
  }
  CalogValueT k1 = calogValueNil(), v1 = calogValueNil(), k2 = calogValueNil(), v2 = calogValueInt(port);
  if (calogValueAgg(result, CALOG_AGG_MAP) != CALOG_OK || calogValueString(&k1, "host", 4) != CALOG_OK ||
      calogValueString(&v1, host, (int64_t)strlen(host)) != CALOG_OK || calogValueString(&k2, "port", 4) != CALOG_OK ||
      calogAggSet(result->as.agg, &k1, &v1) != CALOG_OK || calogAggSet(result->as.agg, &k2, &v2) != CALOG_OK) {
    calogValueFree(&k1);
    calogValueFree(&v1);
    calogValueFree(&k2);
    return calogFail(result, CALOG_ERR_OOM, "out of memory");
  }
  return CALOG_OK;
}

/* ---- UDP ------------------------------------------------------------------------------------------------ */
/* The socket is made on first use, in the family of the first address (h->mu held). */
static int udpEnsure(IoHandleT *h, int family) {
  if (h->closed) return EPIPE;
  if (h->fd >= 0) return h->family == family ? 0 : EAFNOSUPPORT;
  h->fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (h->fd < 0) return errno;
  h->family = family;
  if (calog__ioWatch(h, false) != 0) {
    int e = errno;
    close(h->fd);
    h->fd = -1;
    return e;
  }
  return 0;
}

int32_t calog__ioUdpBind(IoHandleT *h, const char *host, int port, CalogValueT *result) {
  struct sockaddr_storage ss;
  socklen_t len = 0;
  int32_t st = calog__ioAddress(h->io, host, port, SOCK_DGRAM, &ss, &len, result);
  if (st != CALOG_OK) return st;
  pthread_mutex_lock(&h->mu);
  int e = udpEnsure(h, ss.ss_family);
  if (e == 0 && bind(h->fd, (struct sockaddr *)&ss, len) != 0) e = errno;
  pthread_mutex_unlock(&h->mu);
  if (e == EPIPE) return calog__ioSoft(result, "closed", NULL);
  if (e != 0) return calog__ioErrno(result, e, "bind");
  *result = calogValueBool(true);
  return CALOG_OK;
}

int32_t calog__ioUdpSend(IoHandleT *h, const char *p, size_t n, const char *host, int port, CalogValueT *result) {
  struct sockaddr_storage ss;
  socklen_t len = 0;
  int32_t st = calog__ioAddress(h->io, host, port, SOCK_DGRAM, &ss, &len, result);
  if (st != CALOG_OK) return st;
  pthread_mutex_lock(&h->mu);
  if (h->writing) {
    pthread_mutex_unlock(&h->mu);
    return calog__ioSoft(result, "busy: another send is in progress on this socket", NULL);
  }
  h->writing = true;
  uint64_t deadline = deadlineOf(h->tSend);
  int e = udpEnsure(h, ss.ss_family);
  ssize_t w = -1;
  while (e == 0) {
    if (h->closed) {
      e = EPIPE;
      break;
    }
    uint64_t seq = h->wseq;
    w = sendto(h->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&ss, len);
    if (w >= 0) break;
    e = errno;
    if (e == EINTR) {
      e = 0;
      continue;
    }
    if (e != EAGAIN && e != EWOULDBLOCK) break;
    e = 0;
    calog__ioWantOut(h, true);
    if (h->wseq != seq) continue;
    int32_t ws = calog__ioPark(h, &h->wwait, deadline);
    if (ws == IO_TIMEDOUT || ws == CALOG_ERR_LIMIT) e = ws == IO_TIMEDOUT ? ETIMEDOUT : EINTR;
  }
  calog__ioWantOut(h, false);
  h->writing = false;
  pthread_mutex_unlock(&h->mu);
  if (e == EINTR) return calogFail(result, CALOG_ERR_LIMIT, "interrupted while sending");
  if (e == EPIPE) return calog__ioSoft(result, "closed", NULL);
  if (e == EMSGSIZE) return calog__ioSoft(result, "datagram too large", NULL);
  if (e != 0) return calog__ioErrno(result, e, "send");
  *result = calogValueInt((int64_t)w);
  return CALOG_OK;
}

/* One datagram: { data, host, port }. */
int32_t calog__ioUdpReceive(IoHandleT *h, int64_t timeoutMs, CalogValueT *result) {
  pthread_mutex_lock(&h->mu);
  if (h->reading) {
    pthread_mutex_unlock(&h->mu);
    return calog__ioSoft(result, "busy: another receive is in progress on this socket", NULL);
  }
  if (h->fd < 0 && !h->closed) {
    pthread_mutex_unlock(&h->mu);
    return calog__ioSoft(result, "not bound: bind or send first", NULL);
  }
  h->reading = true;
  uint64_t deadline = deadlineOf(timeoutMs > 0 ? timeoutMs : h->tRecv);
  char *buf = malloc(65536);
  struct sockaddr_storage ss;
  socklen_t len = 0;
  ssize_t r = -1;
  int e = buf ? 0 : ENOMEM;
  while (e == 0) {
    if (h->closed) {
      e = EPIPE;
      break;
    }
    uint64_t seq = h->rseq;
    len = sizeof ss;
    r = recvfrom(h->fd, buf, 65536, MSG_DONTWAIT, (struct sockaddr *)&ss, &len);
    if (r >= 0) break;
    e = errno;
    if (e == EINTR) {
      e = 0;
      continue;
    }
    if (e != EAGAIN && e != EWOULDBLOCK) break;
    e = 0;
    if (h->rseq != seq) continue;
    int32_t ws = calog__ioPark(h, &h->rwait, deadline);
    if (ws == IO_TIMEDOUT || ws == CALOG_ERR_LIMIT) e = ws == IO_TIMEDOUT ? ETIMEDOUT : EINTR;
  }
  h->reading = false;
  pthread_mutex_unlock(&h->mu);
  int32_t st;
  if (e == 0) {
    char host[INET6_ADDRSTRLEN + 120];
    int port;
    addrText(&ss, host, sizeof host, &port);
    CalogValueT k = calogValueNil(), v = calogValueNil();
    st = calogValueAgg(result, CALOG_AGG_MAP);
    const char *keys[3] = {"data", "host", "port"};
    for (int i = 0; i < 3 && st == CALOG_OK; i++) {
      if ((st = calogValueString(&k, keys[i], (int64_t)strlen(keys[i]))) != CALOG_OK) break;
      if (i == 0) st = calogValueString(&v, buf, (int64_t)r);
      else if (i == 1) st = calogValueString(&v, host, (int64_t)strlen(host));
      else v = calogValueInt(port);
      if (st == CALOG_OK) st = calogAggSet(result->as.agg, &k, &v);
      calogValueFree(&k);
      calogValueFree(&v);
    }
    if (st != CALOG_OK) st = calogFail(result, CALOG_ERR_OOM, "out of memory");
  } else if (e == EINTR) {
    st = calogFail(result, CALOG_ERR_LIMIT, "interrupted while receiving");
  } else if (e == ETIMEDOUT) {
    st = calog__ioSoft(result, "timeout", NULL);
  } else if (e == EPIPE) {
    st = calog__ioSoft(result, "closed", NULL);
  } else if (e == ENOMEM) {
    st = calogFail(result, CALOG_ERR_OOM, "out of memory");
  } else {
    st = calog__ioErrno(result, e, "receive");
  }
  free(buf);
  return st;
}
