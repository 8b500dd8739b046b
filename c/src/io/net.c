/* net.c -- TCP and unix-domain stream sockets: connect, listen, accept, send, receive patterns, shutdown.
 * The calling context's thread does the system calls itself (non-blocking); when one would block it parks on
 * the handle (calog__ioPark) until the I/O thread reports readiness. */
#include "io_impl.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <strings.h>
#include <sys/epoll.h>
#include <unistd.h>

#define READ_CHUNK 65536

/* ---- addresses --------------------------------------------------------------------------------------- */
int32_t calog__ioHostName(const char *host, CalogValueT *err) {
  /* getaddrinfo sends what it cannot parse to the DNS servers (under a '*' grant or the trusted profile): a socket
   * path with the scheme in capitals ('UNIX:/run/app.sock'), any path, went off the machine as a query. No host name
   * holds these; a colon only an IPv6 address, which is numeric (no query) */
  bool bad = host[0] == '\0';
  for (const unsigned char *p = (const unsigned char *)host; *p && !bad; p++)
    bad = *p <= ' ' || *p == 0x7f || *p == '/' || *p == '\\';
  /* nor, outside an IPv6 address, anything but letters, digits, '-', '.', '_' and UTF-8 (IDN): '%', '[]', '@', ','
   * and the like went to the DNS servers as they were (hostile14) */
  bool v6 = strchr(host, ':') != NULL;
  for (const unsigned char *p = (const unsigned char *)host; *p && !bad && !v6; p++)
    bad = !(isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p >= 0x80);
  if (!bad && v6) {
    struct addrinfo hints = {.ai_family = AF_INET6, .ai_flags = AI_NUMERICHOST}, *res = NULL;
    bad = getaddrinfo(host, NULL, &hints, &res) != 0;
    if (res) freeaddrinfo(res);
  }
  if (!bad) return CALOG_OK;
  return calogFail(err, CALOG_ERR_ARG, "'%.200s' is not a host name or an address%s", host,
                   strncasecmp(host, "unix:", 5) == 0 && strncmp(host, "unix:", 5) != 0 ? " (a unix socket is \"unix:/path\", in lower case)" : "");
}

/* host "unix:/path", a numeric address, "localhost": CALOG_OK; 1: a name to resolve; else an error. */
int32_t calog__ioNumericAddress(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len, CalogValueT *err) {
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
  if (strchr(h, ':')) { /* an IPv6 address with a scope (fe80::1%eth0): numeric, no query */
    struct addrinfo hints = {.ai_family = AF_INET6, .ai_flags = AI_NUMERICHOST}, *res = NULL;
    if (getaddrinfo(h, NULL, &hints, &res) == 0 && res->ai_addrlen <= sizeof *ss) {
      memcpy(ss, res->ai_addr, res->ai_addrlen);
      *len = (socklen_t)res->ai_addrlen;
      in6->sin6_port = htons((uint16_t)port);
      freeaddrinfo(res);
      return CALOG_OK;
    }
    if (res) freeaddrinfo(res);
  }
  int32_t st = calog__ioHostName(host, err); /* a name goes to the resolver */
  return st == CALOG_OK ? 1 : st;
}

/* host "unix:/path", a numeric address, "localhost", or a name (resolved on the resolver thread). */
int32_t calog__ioAddress(IoT *io, const char *host, int port, int socktype, struct sockaddr_storage *ss, socklen_t *len,
                         CalogValueT *err) {
  int32_t st = calog__ioNumericAddress(host, port, ss, len, err);
  return st == 1 ? calog__ioResolve(io, host, port, socktype, ss, len, err) : st;
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
  if (!calog__fdTake()) {
    calog__ioErrno(err, EMFILE, "socket");
    calog__ioHandleUnref(h);
    return NULL;
  }
  h->fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (h->fd < 0) {
    int e = errno;
    calog__fdGive();
    calog__ioErrno(err, e, "socket");
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

/* A new socket connecting to ss, owned by owner (+1 ref in *out). *e: 0 (connected), EINPROGRESS, or the errno of
 * a failure (then *out is NULL). With op (a callback-form connect), a pending connect is op's from the start:
 * the I/O thread completes it. An error return: the socket could not be made (err set). */
int32_t calog__ioConnectStart(IoT *io, CalogContextIdT owner, const struct sockaddr_storage *ss, socklen_t len,
                              IoHandleT **out, int *e, CalogValueT *err) {
  *out = NULL;
  IoHandleT *h = newSocket(io, IO_TCP, owner, ss->ss_family, SOCK_STREAM, err);
  if (h == NULL) return CALOG_ERR_SCRIPT;
  if (ss->ss_family != AF_UNIX) {
    int one = 1;
    setsockopt(h->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  int32_t st = publish(io, h, true, err);
  if (st != CALOG_OK) return st;
  pthread_mutex_lock(&h->mu);
  int r = h->closed ? -1 : connect(h->fd, (const struct sockaddr *)ss, len);
  *e = r == 0 ? 0 : h->closed ? EPIPE : errno == EAGAIN ? EINPROGRESS : errno;
  if (*e == 0) calog__ioWantOut(h, false);
  pthread_mutex_unlock(&h->mu);
  if (*e != 0 && *e != EINPROGRESS) {
    calog__ioClose(h);
    calog__ioHandleUnref(h);
    return CALOG_OK;
  }
  *out = h;
  return CALOG_OK;
}

/* A connect in progress (h->mu held): true when it is over, *e its outcome (0: connected). */
bool calog__ioConnectCheck(IoHandleT *h, int *e) {
  if (h->closed) {
    *e = EPIPE;
    return true;
  }
  struct pollfd p = {.fd = h->fd, .events = POLLOUT};
  if (poll(&p, 1, 0) <= 0) return false;
  int soerr = 0;
  socklen_t sl = sizeof soerr;
  if (getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) soerr = errno;
  *e = soerr;
  if (soerr == 0) calog__ioWantOut(h, false);
  return true;
}

int32_t calog__ioConnectOutcome(int e, CalogValueT *err) {
  if (e == EINTR) return calogFail(err, CALOG_ERR_LIMIT, "interrupted while connecting");
  if (e == EPIPE) return calog__ioSoft(err, "closed", NULL);
  return calog__ioErrno(err, e, "connect");
}

int32_t calog__ioConnect(IoT *io, CalogCtxT *ctx, const char *host, int port, int64_t timeoutMs, IoHandleT **out,
                         CalogValueT *err) {
  struct sockaddr_storage ss;
  socklen_t len = 0;
  int32_t st = calog__ioAddress(io, host, port, SOCK_STREAM, &ss, &len, err);
  if (st != CALOG_OK) return st;
  uint64_t deadline = calog__ioDeadline(timeoutMs);
  IoHandleT *h = NULL;
  int e = 0;
  if ((st = calog__ioConnectStart(io, ctx->id, &ss, len, &h, &e, err)) != CALOG_OK) return st;
  if (h == NULL) return calog__ioConnectOutcome(e, err);
  h->tConnect = timeoutMs;
  pthread_mutex_lock(&h->mu);
  while (e == EINPROGRESS && !calog__ioConnectCheck(h, &e)) {
    int32_t w = calog__ioPark(h, &h->wwait, deadline);
    if (w == IO_TIMEDOUT || w == CALOG_ERR_LIMIT) e = w == IO_TIMEDOUT ? ETIMEDOUT : EINTR;
  }
  pthread_mutex_unlock(&h->mu);
  if (e == 0) {
    *out = h;
    return CALOG_OK;
  }
  calog__ioClose(h);
  calog__ioHandleUnref(h);
  return calog__ioConnectOutcome(e, err);
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
  if (ss.ss_family == AF_UNIX) { /* removed at close if it still names this socket (NULL: left behind) */
    struct stat sb;
    const char *path = ((struct sockaddr_un *)&ss)->sun_path;
    if (stat(path, &sb) == 0) {
      h->unixPath = strdup(path);
      h->unixDev = sb.st_dev;
      h->unixIno = sb.st_ino;
    }
  }
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
    calog__fdClose(fd);
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

/* h->mu held: true when over (*fd >= 0: a connection, else *e) */
bool calog__ioAcceptStep(IoHandleT *h, int *fd, int *e) {
  for (;;) {
    *fd = -1;
    if (h->closed) {
      *e = EPIPE;
      return true;
    }
    if (!calog__fdTake()) { /* the connection stays in the backlog */
      *e = EMFILE;
      return true;
    }
    *fd = accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (*fd >= 0) return true;
    *e = errno;
    calog__fdGive();
    if (*e == EINTR || *e == ECONNABORTED) continue;
    return *e != EAGAIN && *e != EWOULDBLOCK;
  }
}

/* No lock held: the accepted fd as a conn of owner (+1 ref in *out), or the error. */
int32_t calog__ioAcceptOutcome(IoHandleT *server, int fd, int e, CalogContextIdT owner, IoHandleT **out, CalogValueT *err) {
  if (fd < 0) {
    if (e == EINTR) return calogFail(err, CALOG_ERR_LIMIT, "interrupted while accepting");
    if (e == EPIPE) return calog__ioSoft(err, "closed", NULL);
    return calog__ioErrno(err, e, "accept");
  }
  IoHandleT *c = adopt(server->io, fd, server->family, owner, err);
  if (c == NULL) return CALOG_ERR_SCRIPT;
  *out = c;
  return CALOG_OK;
}

int32_t calog__ioAccept(IoHandleT *h, CalogCtxT *ctx, int64_t timeoutMs, IoHandleT **out, CalogValueT *err) {
  uint64_t deadline = calog__ioDeadline(timeoutMs);
  pthread_mutex_lock(&h->mu);
  if (h->reading) {
    pthread_mutex_unlock(&h->mu);
    return calog__ioSoft(err, "busy: another accept is waiting on this server", NULL);
  }
  h->reading = true;
  int fd = -1, e = 0;
  while (!calog__ioAcceptStep(h, &fd, &e)) {
    int32_t w = calog__ioPark(h, &h->rwait, deadline);
    if (w == IO_TIMEDOUT || w == CALOG_ERR_LIMIT) {
      e = w == IO_TIMEDOUT ? ETIMEDOUT : EINTR;
      break;
    }
  }
  h->reading = false;
  pthread_mutex_unlock(&h->mu);
  return calog__ioAcceptOutcome(h, fd, e, ctx->id, out, err);
}

/* Whether the owner of server h can own no more handles under its memory limit (calog__ioQuota, without tripping it:
 * no script is running to stop). The script's own calls check before they create one; a callback-form server's
 * connections were made without any check, so peers that connected and stayed held the owner past its limit
 * (a 1 MB context kept 4,000 connections: 2,048 handles are its limit). */
static bool ownerFull(IoHandleT *h) {
  CalogCtxT *ctx = calog__ctxResolve(h->io->rt, h->owner);
  if (ctx == NULL) return false; /* gone: the posted callback closes the conn */
  int64_t n, cap;
  bool full = calog__ioOverQuota(ctx, &n, &cap);
  calog__ctxUnref(ctx);
  return full;
}

bool calog__ioServerEvent(IoHandleT *h) {
  for (;;) {
    pthread_mutex_lock(&h->mu);
    bool closed = h->closed, taken = !closed && calog__fdTake();
    int fd = taken ? accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC) : -1;
    int e = errno;
    if (taken && fd < 0) calog__fdGive();
    pthread_mutex_unlock(&h->mu);
    if (fd < 0) {
      if (!closed && (e == EINTR || e == ECONNABORTED)) continue;
      /* EAGAIN (all taken) or closed: done. Out of descriptors or memory: the connections stay in the backlog, and
       * the edge-triggered listener will not report them again until yet another one arrives: the caller retries */
      return !closed && (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM);
    }
    if (ownerFull(h)) { /* past the owner's memory limit: refused (the peer sees the connection end) */
      calog__fdClose(fd);
      continue;
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
    calog__ioPostCall(h->io, h->owner, h->onAccept, &conn, 1, "net.listen callback");
  }
}

/* ---- send ------------------------------------------------------------------------------------------------ */
/* h->mu held: writes what it can of p[*done .. n). true when over (*e 0: all sent, else the errno); false when
 * it must wait for the socket to drain (write interest is on). */
bool calog__ioSendStep(IoHandleT *h, const char *p, size_t n, size_t *done, int *e) {
  *e = 0;
  while (*done < n) {
    if (h->closed) {
      *e = EPIPE;
      return true;
    }
    ssize_t w = send(h->fd, p + *done, n - *done, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) {
      *done += (size_t)w;
      continue;
    }
    int x = errno;
    if (w < 0 && x == EINTR) continue;
    if (w < 0 && x != EAGAIN && x != EWOULDBLOCK) {
      *e = x;
      calog__ioWantOut(h, false);
      return true;
    }
    calog__ioWantOut(h, true); /* write interest only while a writer waits */
    return false;
  }
  calog__ioWantOut(h, false); /* drained: no more EPOLLOUT wake-ups */
  return true;
}

int32_t calog__ioSendOutcome(size_t n, size_t done, int e, CalogValueT *result) {
  if (done == n && e == 0) {
    *result = calogValueInt((int64_t)n);
    return CALOG_OK;
  }
  CalogValueT sent = calogValueInt((int64_t)done); /* how much went out before the failure */
  if (e == EINTR) { /* the bytes already written are on their way: the host must know how many (partial) */
    char msg[128];
    snprintf(msg, sizeof msg, "interrupted while sending: %zu of %zu bytes were sent", (size_t)done, (size_t)n);
    return calog__ioFailWith(result, CALOG_ERR_LIMIT, msg, &sent);
  }
  const char *msg = e == ETIMEDOUT ? "timeout" : e == EPIPE ? "closed" : e == ECONNRESET ? "connection reset" : NULL;
  if (msg == NULL) return calog__ioErrno(result, e, "send");
  return calog__ioSoft(result, msg, &sent);
}

int32_t calog__ioSend(IoHandleT *h, const char *p, size_t n, CalogValueT *result) {
  pthread_mutex_lock(&h->mu);
  if (h->writing) {
    pthread_mutex_unlock(&h->mu);
    return calog__ioSoft(result, "busy: another send is in progress on this connection", NULL);
  }
  h->writing = true;
  uint64_t deadline = calog__ioDeadline(h->tSend);
  size_t done = 0;
  int e = 0;
  while (!calog__ioSendStep(h, p, n, &done, &e)) {
    int32_t st = calog__ioPark(h, &h->wwait, deadline);
    if (st == IO_TIMEDOUT || st == CALOG_ERR_LIMIT) {
      e = st == IO_TIMEDOUT ? ETIMEDOUT : EINTR;
      calog__ioWantOut(h, false); /* given up: no more EPOLLOUT wake-ups */
      break;
    }
  }
  h->writing = false;
  pthread_mutex_unlock(&h->mu);
  return calog__ioSendOutcome(n, done, e, result);
}

/* ---- receive ---------------------------------------------------------------------------------------------- */

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

/* Gives back the buffer's room that what is left no longer needs. The owner's limit counts what is buffered (rlen),
 * not the capacity a big receive grew the buffer to, so a drained buffer that kept that capacity was C memory
 * nobody counted: each of N connections that once received 1 MB kept 1 MB. Kept: at most 4 times what is buffered,
 * or TRIM_FLOOR bytes (the next receive reserves what it needs again). */
#define TRIM_FLOOR 1024u
static void trim(IoHandleT *h) {
  if (h->rlen == 0) {
    free(h->rbuf);
    h->rbuf = NULL;
    h->rcap = h->roff = 0;
    return;
  }
  if (h->rcap <= TRIM_FLOOR || h->rlen > h->rcap / 4) return;
  size_t cap = TRIM_FLOOR;
  while (cap < 2 * h->rlen) cap *= 2;
  memmove(h->rbuf, h->rbuf + h->roff, h->rlen);
  h->roff = 0;
  char *p = realloc(h->rbuf, cap);
  if (p) {
    h->rbuf = p;
    h->rcap = cap;
  }
}

/* Takes n buffered bytes (+ skip more) into out. */
static int32_t take(IoHandleT *h, size_t n, size_t skip, CalogValueT *out) {
  int32_t st = calogValueString(out, h->rbuf ? h->rbuf + h->roff : "", (int64_t)n);
  if (st != CALOG_OK) return st;
  h->roff += n + skip;
  h->rlen -= n + skip;
  calog__ioRecvBuffered(h, -(int64_t)(n + skip));
  if (h->rlen == 0) h->roff = 0;
  trim(h);
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

/* h->mu held: the soft error fail with what is buffered as its partial data */
int32_t calog__ioRecvFail(IoHandleT *h, const char *fail, CalogValueT *result) {
  CalogValueT partial = calogValueNil();
  if (take(h, h->rlen, 0, &partial) != CALOG_OK) partial = calogValueNil();
  return calog__ioSoft(result, fail, &partial);
}

/* h->mu held: true when q is over (*st and result: the data or the error), false when it must wait for input */
bool calog__ioRecvStep(IoHandleT *h, IoRecvT *q, CalogValueT *result, int32_t *st) {
  if (q->reader != NULL && q->reader != h->rlenCounted) { /* what is buffered counts to its reader from now on */
    calog__ioRecvBuffered(h, -(int64_t)h->rlen);
    if (h->rlenCounted) calog__ctxUnref(h->rlenCounted);
    calog__ctxRef(q->reader);
    h->rlenCounted = q->reader;
    calog__ioRecvBuffered(h, (int64_t)h->rlen);
  }
  for (;;) {
    if (q->mode == RECV_COUNT && q->count == 0) {
      *st = calogValueString(result, "", 0);
      return true;
    }
    if (match(h, q->mode, q->count, q->delim, q->dlen, &q->scan, result, st)) return true;
    if (h->eof && q->mode == RECV_ALL) {
      *st = take(h, h->rlen, 0, result);
      return true;
    }
    if (h->eof || h->closed) {
      *st = calog__ioRecvFail(h, "closed", result);
      return true;
    }
    /* the buffer is C memory, outside the interpreter's limit: bounded here, with what the reader's other connections
     * hold (N connections each just under the limit held N times it) */
    size_t all = h->rlenCounted ? (size_t)atomic_load(&h->rlenCounted->ioBuffered) : h->rlen;
    if (q->cap > 0 && (h->rlen >= q->cap || all >= q->cap)) {
      char msg[240];
      if (all > h->rlen)
        snprintf(msg, sizeof msg, "memory limit reached: the receive buffered %zu bytes without completing (%zu with the "
                 "context's other connections and pending sends), the limit is %zu", h->rlen, all, q->cap);
      else
        snprintf(msg, sizeof msg, "memory limit reached: the receive buffered %zu bytes without completing, the limit is %zu",
                 h->rlen, q->cap);
      q->over = true;
      *st = calog__ioSoft(result, msg, NULL);
      return true;
    }
    size_t want = q->mode == RECV_COUNT && q->count > h->rlen ? q->count - h->rlen : READ_CHUNK;
    if (want < READ_CHUNK) want = READ_CHUNK;
    if (want > 16 * READ_CHUNK) want = 16 * READ_CHUNK;
    if (!reserve(h, want)) {
      *st = calogFail(result, CALOG_ERR_OOM, "out of memory");
      return true;
    }
    ssize_t r = recv(h->fd, h->rbuf + h->roff + h->rlen, h->rcap - h->roff - h->rlen, MSG_DONTWAIT);
    if (r > 0) {
      h->rlen += (size_t)r;
      calog__ioRecvBuffered(h, (int64_t)r);
      continue;
    }
    if (r == 0) {
      h->eof = true;
      continue;
    }
    int e = errno;
    if (e == EINTR) continue;
    if (e == EAGAIN || e == EWOULDBLOCK) return false;
    h->eof = true; /* nothing more will come */
    *st = calog__ioRecvFail(h, e == ECONNRESET ? "connection reset" : "closed", result);
    return true;
  }
}

int32_t calog__ioReceive(IoHandleT *h, int mode, size_t count, const char *delim, size_t dlen, CalogValueT *result) {
  pthread_mutex_lock(&h->mu);
  if (h->reading) {
    pthread_mutex_unlock(&h->mu);
    return calog__ioSoft(result, "busy: another receive is in progress on this connection", NULL);
  }
  h->reading = true;
  uint64_t deadline = calog__ioDeadline(h->tRecv);
  CalogCtxT *ctx = calog__ioCaller(h->io);
  int64_t cap = ctx ? calog__limitMemory(ctx) : 0; /* 0: none */
  IoRecvT q = {.mode = mode, .count = count, .delim = delim, .dlen = dlen, .cap = (size_t)cap, .reader = ctx};
  int32_t st = CALOG_OK;
  while (!calog__ioRecvStep(h, &q, result, &st)) {
    int32_t w = calog__ioPark(h, &h->rwait, deadline);
    if (w == IO_TIMEDOUT) {
      st = calog__ioRecvFail(h, "timeout", result);
      break;
    }
    if (w == CALOG_ERR_LIMIT) { /* the data stays buffered for the next receive */
      st = calogFail(result, CALOG_ERR_LIMIT, "interrupted while receiving");
      break;
    }
  }
  size_t buffered = h->rlenCounted ? (size_t)atomic_load(&h->rlenCounted->ioBuffered) : h->rlen;
  if (buffered < h->rlen) buffered = h->rlen;
  h->reading = false;
  pthread_mutex_unlock(&h->mu);
  if (q.over && ctx) { /* the memory limit trips: what the receive would have to hand the script cannot fit */
    calog__limitTrip(ctx, CALOG_LIMIT_MEMORY, (int64_t)buffered, cap);
    return calogFail(result, CALOG_ERR_LIMIT, "memory limit reached while receiving");
  }
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
#define UDP_FAMILY "address family differs: a udp socket keeps the family (IPv4 or IPv6) of the first address it used"

/* The socket is made on first use, in the family of the first address (h->mu held). */
static int udpEnsure(IoHandleT *h, int family) {
  if (h->closed) return EPIPE;
  if (h->fd >= 0) return h->family == family ? 0 : EAFNOSUPPORT;
  if (!calog__fdTake()) return EMFILE;
  h->fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (h->fd < 0) {
    int e = errno;
    calog__fdGive();
    return e;
  }
  h->family = family;
  if (calog__ioWatch(h, false) != 0) {
    int e = errno;
    calog__fdClose(h->fd);
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
  if (e == EINVAL) return calog__ioSoft(result, "already bound (a udp socket binds once)", NULL); /* was "bind: Invalid argument" */
  if (e == EAFNOSUPPORT) return calog__ioSoft(result, UDP_FAMILY, NULL);
  if (e != 0) return calog__ioErrno(result, e, "bind");
  *result = calogValueBool(true);
  return CALOG_OK;
}

/* h->mu held: true when over (*w the bytes sent, or *e) */
bool calog__ioUdpSendStep(IoHandleT *h, const char *p, size_t n, const struct sockaddr_storage *ss, socklen_t len,
                          ssize_t *w, int *e) {
  *e = udpEnsure(h, ss->ss_family);
  while (*e == 0) {
    if (h->closed) {
      *e = EPIPE;
      break;
    }
    *w = sendto(h->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT, (const struct sockaddr *)ss, len);
    if (*w >= 0) break;
    int x = errno;
    if (x == EINTR) continue;
    if (x == EAGAIN || x == EWOULDBLOCK) {
      calog__ioWantOut(h, true);
      return false;
    }
    *e = x;
  }
  calog__ioWantOut(h, false);
  return true;
}

int32_t calog__ioUdpSendOutcome(ssize_t w, int e, CalogValueT *result) {
  if (e == EINTR) return calogFail(result, CALOG_ERR_LIMIT, "interrupted while sending");
  if (e == EPIPE) return calog__ioSoft(result, "closed", NULL);
  if (e == EMSGSIZE) return calog__ioSoft(result, "datagram too large", NULL);
  if (e == EAFNOSUPPORT) return calog__ioSoft(result, UDP_FAMILY, NULL);
  if (e != 0) return calog__ioErrno(result, e, "send");
  *result = calogValueInt((int64_t)w);
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
  uint64_t deadline = calog__ioDeadline(h->tSend);
  ssize_t w = -1;
  int e = 0;
  while (!calog__ioUdpSendStep(h, p, n, &ss, len, &w, &e)) {
    int32_t ws = calog__ioPark(h, &h->wwait, deadline);
    if (ws == IO_TIMEDOUT || ws == CALOG_ERR_LIMIT) {
      e = ws == IO_TIMEDOUT ? ETIMEDOUT : EINTR;
      calog__ioWantOut(h, false);
      break;
    }
  }
  h->writing = false;
  pthread_mutex_unlock(&h->mu);
  return calog__ioUdpSendOutcome(w, e, result);
}

/* h->mu held: true when over (*r the datagram's size in *buf, from *ss; or *e). The buffer is allocated here, to
 * the datagram's size, once one is waiting (the caller frees it): a receive still waiting holds none. (It held
 * 64 KB for its whole wait, outside every count: a UDP handle counts 512 bytes against the memory limit, so a
 * context could hold 128 times its limit in receive buffers.) */
bool calog__ioUdpRecvStep(IoHandleT *h, char **buf, struct sockaddr_storage *ss, socklen_t *len, ssize_t *r, int *e) {
  for (;;) {
    *e = 0;
    if (h->closed) {
      *e = EPIPE;
      return true;
    }
    /* the next datagram's size (MSG_TRUNC: its real size); only this reader takes from the socket (h->mu) */
    ssize_t n = recv(h->fd, NULL, 0, MSG_DONTWAIT | MSG_PEEK | MSG_TRUNC);
    if (n >= 0) {
      free(*buf);
      if ((*buf = malloc(n > 0 ? (size_t)n : 1)) == NULL) {
        *e = ENOMEM;
        return true;
      }
      *len = sizeof *ss;
      *r = recvfrom(h->fd, *buf, n > 0 ? (size_t)n : 1, MSG_DONTWAIT, (struct sockaddr *)ss, len);
      if (*r >= 0) return true;
    }
    int x = errno;
    if (x == EINTR) continue;
    if (x == EAGAIN || x == EWOULDBLOCK) return false;
    *e = x;
    return true;
  }
}

/* One datagram: { data, host, port }. */
int32_t calog__ioUdpRecvOutcome(const char *buf, const struct sockaddr_storage *ss, ssize_t r, int e, CalogValueT *result) {
  if (e == EINTR) return calogFail(result, CALOG_ERR_LIMIT, "interrupted while receiving");
  if (e == ETIMEDOUT) return calog__ioSoft(result, "timeout", NULL);
  if (e == EPIPE) return calog__ioSoft(result, "closed", NULL);
  if (e == ENOMEM) return calogFail(result, CALOG_ERR_OOM, "out of memory");
  if (e != 0) return calog__ioErrno(result, e, "receive");
  char host[INET6_ADDRSTRLEN + 120];
  int port;
  addrText(ss, host, sizeof host, &port);
  CalogValueT k = calogValueNil(), v = calogValueNil();
  int32_t st = calogValueAgg(result, CALOG_AGG_MAP);
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
  return st == CALOG_OK ? st : calogFail(result, CALOG_ERR_OOM, "out of memory");
}

/* h->mu held: "not bound" unless the socket exists */
static int32_t udpNeedsSocket(IoHandleT *h, CalogValueT *result) {
  if (h->fd < 0 && !h->closed) return calog__ioSoft(result, "not bound: bind or send first", NULL);
  return CALOG_OK;
}

int32_t calog__ioUdpReceive(IoHandleT *h, int64_t timeoutMs, CalogValueT *result) {
  pthread_mutex_lock(&h->mu);
  if (h->reading) {
    pthread_mutex_unlock(&h->mu);
    return calog__ioSoft(result, "busy: another receive is in progress on this socket", NULL);
  }
  int32_t st = udpNeedsSocket(h, result);
  if (st != CALOG_OK) {
    pthread_mutex_unlock(&h->mu);
    return st;
  }
  h->reading = true;
  uint64_t deadline = calog__ioDeadline(timeoutMs > 0 ? timeoutMs : h->tRecv);
  char *buf = NULL;
  struct sockaddr_storage ss;
  socklen_t len = 0;
  ssize_t r = -1;
  int e = 0;
  while (e == 0 && !calog__ioUdpRecvStep(h, &buf, &ss, &len, &r, &e)) {
    int32_t ws = calog__ioPark(h, &h->rwait, deadline);
    if (ws == IO_TIMEDOUT || ws == CALOG_ERR_LIMIT) e = ws == IO_TIMEDOUT ? ETIMEDOUT : EINTR;
  }
  h->reading = false;
  pthread_mutex_unlock(&h->mu);
  st = calog__ioUdpRecvOutcome(buf, &ss, r, e, result);
  free(buf);
  return st;
}
