/* output.c -- the output sink of a context: the one place every print of every engine goes through. */
#include "policy.h"

#include <errno.h>
#include <unistd.h>

static int32_t toFd(int fd, const char *bytes, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, bytes, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return CALOG_OK; /* a closed stdout is not the script's error */
    }
    bytes += w;
    n -= (size_t)w;
  }
  return CALOG_OK;
}

int32_t calog__output(CalogCtxT *ctx, int stream, const char *bytes, size_t n, CalogValueT *err) {
  /* a script stopped by a limit (interrupt(), a timeout...) prints nothing more: the raise comes at once */
  int32_t stopped = calog__limitStopped(ctx);
  if (stopped != CALOG_LIMIT_NONE) return calogFail(err, CALOG_ERR_LIMIT, "calog: %s limit reached", calog__limitName(stopped));
  int32_t st = calog__limitOutput(ctx, (int64_t)n, err);
  if (st != CALOG_OK) return st;
  return calog__outputReport(ctx, stream, bytes, n, err);
}

int32_t calog__outputReport(CalogCtxT *ctx, int stream, const char *bytes, size_t n, CalogValueT *err) {
  int32_t st;
  const CalogValueT *sink = calog__optGet(&ctx->options, "output");
  if (sink == NULL || sink->type == CALOG_NIL ||
      (sink->type == CALOG_STRING && strcmp(sink->as.s.bytes, "inherit") == 0))
    return toFd(stream == CALOG_STDERR ? 2 : 1, bytes, n);
  if (sink->type != CALOG_FN || n == 0) return CALOG_OK; /* "ignore" */
  CalogValueT args[2] = {calogValueNil(), calogValueNil()}, res = calogValueNil();
  const char *name = stream == CALOG_STDERR ? "stderr" : "stdout";
  if (calogValueString(&args[0], bytes, (int64_t)n) != CALOG_OK ||
      calogValueString(&args[1], name, (int64_t)strlen(name)) != CALOG_OK) {
    calogValueFree(&args[0]);
    return calogFail(err, CALOG_ERR_OOM, "out of memory");
  }
  /* what the sink itself throws is ignored: output never breaks a script. A sink calog could not call (the crossing
   * refused at the nesting cap, its context dead, no memory for the call), or whose outcome could not come back (the
   * host's stack exhausted after it ran: its message says which, pass 91b), fails the print as that call would fail
   * for a host function: the script went on as if it had printed, and the text was lost (pass 34a) */
  st = calogFnInvoke(sink->as.fn, args, 2, &res);
  calogValueFree(&args[0]);
  calogValueFree(&args[1]);
  if (st == CALOG_ERR_NESTING || st == CALOG_ERR_DEAD || st == CALOG_ERR_OOM) {
    st = calogFail(err, st, "print: the output callback failed: %s", calogErrorMessage(&res, NULL));
    calogValueFree(&res);
    return st;
  }
  calogValueFree(&res);
  return CALOG_OK;
}

typedef struct CookieT {
  CalogCtxT *ctx;
  int stream;
} CookieT;

static ssize_t cookieWrite(void *c, const char *buf, size_t n) {
  CookieT *k = c;
  CalogValueT err = calogValueNil();
  int32_t st = calog__output(k->ctx, k->stream, buf, n, &err);
  calogValueFree(&err);
  if (st != CALOG_OK) {
    errno = EIO;
    return -1;
  }
  return (ssize_t)n;
}

static int cookieClose(void *c) {
  free(c);
  return 0;
}

FILE *calog__outputFile(CalogCtxT *ctx, int stream) {
  CookieT *k = malloc(sizeof *k);
  if (k == NULL) return NULL;
  *k = (CookieT){ctx, stream};
  FILE *f = fopencookie(k, "w", (cookie_io_functions_t){.write = cookieWrite, .close = cookieClose});
  if (f == NULL) {
    free(k);
    return NULL;
  }
  setvbuf(f, NULL, _IONBF, 0);
  return f;
}
