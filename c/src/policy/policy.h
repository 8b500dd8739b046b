/* policy.h -- what a context may reach (capabilities) and where its output goes (the output sink).
 * Engines call these; the broker core never includes this header.
 *
 * Profiles (the "capabilities" context option):
 *   "sandbox" (default, also nil)  the language only: no files, processes, environment, native code, bytecode
 *   "trusted"                      everything a stand-alone interpreter has (calog's internals stay protected)
 *   { fs, env, process, debug, net }  grants on top of the sandbox
 * Every check runs at the moment of the effect (each open, each getenv...), never only at start-up. */
#ifndef CALOG_POLICY_H
#define CALOG_POLICY_H

#include "../internal.h"

#include <stdio.h>
#include <sys/types.h>

typedef enum CalogProfileE { CALOG_PROFILE_SANDBOX = 0, CALOG_PROFILE_TRUSTED = 1, CALOG_PROFILE_GRANTS = 2 } CalogProfileE;

typedef struct CalogCapsT {
  CalogProfileE profile;
  bool process;      /* os.execute, io.popen, system() */
  bool debug;        /* the engine's full debug interface (Lua debug.*, Duktape.act/info) */
  bool envAll;       /* trusted: every variable */
  char **fsRead;     /* canonical roots (realpath at parse time) a script may read under */
  char **fsWrite;    /* ... and write under (write implies nothing about read) */
  char **env;        /* variable names a script may read */
  char **connect;    /* "host:port" patterns ("*" for either part) */
  char **listen;
  int32_t nRead, nWrite, nEnv, nConnect, nListen;
} CalogCapsT;

/* Parses the "capabilities" option (lent; NULL or nil = sandbox) into caps (zeroed first). On failure
 * caps holds nothing and err receives an ERR_ARG message. Any thread. */
CALOG_HIDDEN int32_t calog__capsParse(const CalogValueT *v, CalogCapsT *caps, CalogValueT *err);
CALOG_HIDDEN void calog__capsFree(CalogCapsT *caps);
CALOG_HIDDEN const char *calog__capsProfileName(const CalogCapsT *caps);
/* True when the profile or a grant allows any file access (the engine then opens its file library). */
CALOG_HIDDEN bool calog__capsAnyFs(const CalogCapsT *caps);

/* Formats the denial message for an effect ("os.execute") lacking capability `cap` ("process", "fs.read",
 * "env", "trusted") into buf. Every engine raises exactly this text, so callers can recognise a denial. */
CALOG_HIDDEN const char *calog__capsDenied(const CalogCapsT *caps, char *buf, size_t cap, const char *effect,
                                           const char *capability);
/* The common part of every denial message (an engine maps an uncaught script error containing it to
 * CALOG_ERR_PERMISSION). */
#define CALOG_DENIED_PREFIX "permission denied: "

/* Opens path with open(2) flags and mode, if the capabilities allow it: trusted opens anything; grants need
 * the path under an fs.read root (read-only flags) or an fs.write root (O_WRONLY/O_RDWR/O_CREAT/O_TRUNC/
 * O_APPEND). The path is resolved by the kernel beneath the root (openat2 RESOLVE_BENEATH): `..` and symlinks
 * cannot leave it, and the check and the open are one step, so a file swapped for a symlink after any earlier
 * check is caught. Under grants only a regular file opens, never blocking in open(): anything else is a denial
 * (trusted: anything, as a stand-alone interpreter opens it). Returns the fd (>= 0); -1 with errno set for an ordinary failure (ENOENT...; EMFILE when the
 * process's descriptor share is taken, see calog__fdTake); or -2 for a denial, with the message (naming the
 * capability) in denied. The fd counts to that share: close it with calog__fdClose, or call calog__fdGive once
 * what it was handed to (a FILE) is closed. */
CALOG_HIDDEN int calog__capsOpen(const CalogCapsT *caps, const char *path, int flags, mode_t mode, char *denied,
                                 size_t deniedCap);
/* Tests only: true makes calog__capsOpen resolve in user space (as on kernels without openat2). */
CALOG_HIDDEN extern bool calog__pathNoOpenat2;
/* The directory holding path, opened (O_PATH) under a root of the write (or read) list, and the last
 * component in *base (a pointer into path; never "", "." or ".."): for unlink/rename. Same returns as
 * calog__capsOpen. */
CALOG_HIDDEN int calog__capsOpenParent(const CalogCapsT *caps, const char *path, bool write, const char **base,
                                       char *denied, size_t deniedCap);
/* Environment: may a script read variable name? */
CALOG_HIDDEN bool calog__capsEnv(const CalogCapsT *caps, const char *name);
/* Network (for the I/O layer): may a script connect to (listen = false) or listen on host:port? */
CALOG_HIDDEN bool calog__capsNet(const CalogCapsT *caps, bool listen, const char *host, int port);
/* May a script resolve host (net.resolve)? A name a connect or listen grant names (any port), or "*". Resolving
 * reads the system's host files and sends the name to its DNS servers: the sandbox must not reach them. */
CALOG_HIDDEN bool calog__capsNetHost(const CalogCapsT *caps, const char *host);

/* ---- output ----------------------------------------------------------------------------------------- */
enum { CALOG_STDOUT = 1, CALOG_STDERR = 2 };

/* Writes n bytes to the context's output sink (the "output" option: nil or "inherit" = the process's
 * stdout/stderr, "ignore", or a function value called with (text, "stdout"|"stderr") -- a TypeScript
 * function runs on the host thread, so a threaded context waits for it: delivery is blocking and ordered).
 * The bytes are charged to the output limit first: past it, CALOG_ERR_LIMIT with the error in err and
 * nothing written. A failing sink function is ignored (output never breaks a script). Context thread. */
CALOG_HIDDEN int32_t calog__output(CalogCtxT *ctx, int stream, const char *bytes, size_t n, CalogValueT *err);
/* calog__output for calog's own line about the context (an I/O or timer callback that failed: calog__ioReport): it is
 * charged to no limit, so the report of a callback stopped by the output limit (or any limit) still reaches the sink
 * (it was refused, and the callback's failure lost: pass 55b). Keep it short (a line, at most 1 KB). Context thread. */
CALOG_HIDDEN int32_t calog__outputReport(CalogCtxT *ctx, int stream, const char *bytes, size_t n, CalogValueT *err);
/* A write-only FILE* whose writes go to calog__output (unbuffered), for engines' stdout/stderr objects.
 * A write past the output limit fails (EIO). Close it with fclose. Context thread. */
CALOG_HIDDEN FILE *calog__outputFile(CalogCtxT *ctx, int stream);

#endif
