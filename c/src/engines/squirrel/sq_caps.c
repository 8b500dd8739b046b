/* sq_caps.c -- what a Squirrel script may reach, and its output.
 *
 * Every profile: print() and the error printer (error(), the VM's own error reports) go to the output sink.
 * "sandbox": the base library, math, string (regexp) and blob; the system and file functions a stand-alone
 *   sq has (system, getenv, remove, rename, file, loadfile, dofile, writeclosuretofile) refuse with a
 *   "permission denied" error naming the capability they need.
 * Grants: getenv of the listed names (env); system (process); remove, rename and file() with each path checked
 *   beneath the granted roots (fs); loadfile/dofile/writeclosuretofile stay "trusted"-only.
 * "trusted": sqstdio and sqstdsystem as they are (stdin included), with stdout/stderr going to the sink. */
#include "sq_adapter.h"

#include "sqstdio.h"
#include "sqstdsystem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static SQInteger raiseStatus(HSQUIRRELVM v, int32_t status, const char *msg) {
  sq_pushstring(v, msg, -1); /* natives always have MIN_STACK_OVERHEAD free slots */
  return calog__sqRaise(v, (CalogRaiseT){.status = status});
}

static SQInteger deny(HSQUIRRELVM v, const char *effect, const char *capability) {
  SqCtxT *sc = calog__sqCtx(v);
  char buf[sizeof sc->raisedMsg];
  return raiseStatus(v, CALOG_ERR_PERMISSION, calog__capsDenied(&sc->caps, buf, sizeof buf, effect, capability));
}

/* free variables (the last two values, the last bound first): capability, effect */
static SQInteger deniedFn(HSQUIRRELVM v) {
  SQInteger top = sq_gettop(v);
  const SQChar *effect = "?", *capability = "?";
  sq_getstring(v, top, &effect);
  sq_getstring(v, top - 1, &capability);
  return deny(v, effect, capability);
}

/* [root] stays on top */
static void setFn(HSQUIRRELVM v, const char *name, SQFUNCTION f) {
  sq_pushstring(v, name, -1);
  sq_newclosure(v, f, 0);
  sq_setnativeclosurename(v, -1, name);
  sq_newslot(v, -3, SQFalse);
}

/* Makes the native closure at name in the table on top of the stack refuse a call without an argument. */
static void requireArg(HSQUIRRELVM v, const char *name) {
  sq_pushstring(v, name, -1);
  if (SQ_SUCCEEDED(sq_rawget(v, -2))) {
    sq_setparamscheck(v, -2, NULL);
    sq_pop(v, 1);
  }
}

static void setDenied(HSQUIRRELVM v, const char *name, const char *effect, const char *capability) {
  sq_pushstring(v, name, -1);
  sq_pushstring(v, effect, -1);
  sq_pushstring(v, capability, -1);
  sq_newclosure(v, deniedFn, 2);
  sq_setnativeclosurename(v, -1, name);
  sq_newslot(v, -3, SQFalse);
}

/* ---- output ------------------------------------------------------------------------------------------ */
static void vprintTo(HSQUIRRELVM v, int stream, const SQChar *fmt, va_list ap) {
  char small[512];
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  char *buf = small;
  if (n >= (int)sizeof small && (buf = malloc((size_t)n + 1)) != NULL) vsnprintf(buf, (size_t)n + 1, fmt, ap2);
  va_end(ap2);
  if (n > 0 && buf != NULL) {
    CalogValueT err = calogValueNil();
    (void)calog__output(calog__sqCtx(v)->ctx, stream, buf, (size_t)(buf == small && n >= (int)sizeof small ? sizeof small - 1 : (size_t)n), &err);
    calogValueFree(&err); /* past the output limit nothing is written; the printers cannot raise */
  }
  if (buf != small) free(buf);
}

void calog__sqPrintFn(HSQUIRRELVM v, const SQChar *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintTo(v, CALOG_STDOUT, fmt, ap);
  va_end(ap);
}

void calog__sqErrorFn(HSQUIRRELVM v, const SQChar *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintTo(v, CALOG_STDERR, fmt, ap);
  va_end(ap);
}

/* print(x) / error(x): as the base library's (no newline), but a limit raises */
static SQInteger printTo(HSQUIRRELVM v, int stream) {
  const SQChar *s = NULL;
  if (SQ_FAILED(sq_tostring(v, 2)) || SQ_FAILED(sq_getstring(v, -1, &s))) return SQ_ERROR;
  SqCtxT *sc = calog__sqCtx(v);
  CalogValueT err = calogValueNil();
  int32_t st = calog__output(sc->ctx, stream, s, (size_t)sq_getsize(v, -1), &err);
  if (st == CALOG_OK) return 0;
  char msg[sizeof sc->raisedMsg];
  snprintf(msg, sizeof msg, "%s", calogErrorMessage(&err, NULL));
  calogValueFree(&err);
  return raiseStatus(v, st, msg);
}
static SQInteger sqPrint(HSQUIRRELVM v) { return printTo(v, CALOG_STDOUT); }
static SQInteger sqError(HSQUIRRELVM v) { return printTo(v, CALOG_STDERR); }

/* ---- grants ------------------------------------------------------------------------------------------- */
static SQInteger grantedGetenv(HSQUIRRELVM v) {
  const SQChar *name;
  if (sq_gettop(v) < 2 || SQ_FAILED(sq_getstring(v, 2, &name))) return sq_throwerror(v, "getenv(name) expects a string");
  if (!calog__capsEnv(&calog__sqCtx(v)->caps, name)) {
    char what[200];
    snprintf(what, sizeof what, "getenv(\"%.120s\")", name);
    return deny(v, what, "env");
  }
  const char *val = getenv(name);
  if (val) sq_pushstring(v, val, -1);
  else sq_pushnull(v);
  return 1;
}

static SQInteger checkedRemove(HSQUIRRELVM v) {
  const SQChar *path, *base;
  if (sq_gettop(v) < 2 || SQ_FAILED(sq_getstring(v, 2, &path))) return sq_throwerror(v, "remove(path) expects a string");
  SqCtxT *sc = calog__sqCtx(v);
  char why[sizeof sc->raisedMsg];
  int dir = calog__capsOpenParent(&sc->caps, path, true, &base, why, sizeof why);
  if (dir == -2) return raiseStatus(v, CALOG_ERR_PERMISSION, why);
  int r = dir < 0 ? -1 : unlinkat(dir, base, 0);
  if (dir >= 0) close(dir);
  if (r != 0) return sq_throwerror(v, "remove() failed");
  return 0;
}

static SQInteger checkedRename(HSQUIRRELVM v) {
  const SQChar *from, *to, *b1, *b2;
  if (sq_gettop(v) < 3 || SQ_FAILED(sq_getstring(v, 2, &from)) || SQ_FAILED(sq_getstring(v, 3, &to)))
    return sq_throwerror(v, "rename(from, to) expects two strings");
  SqCtxT *sc = calog__sqCtx(v);
  char why[sizeof sc->raisedMsg];
  int d1 = calog__capsOpenParent(&sc->caps, from, true, &b1, why, sizeof why);
  if (d1 == -2) return raiseStatus(v, CALOG_ERR_PERMISSION, why);
  int d2 = d1 < 0 ? -1 : calog__capsOpenParent(&sc->caps, to, true, &b2, why, sizeof why);
  int r = d1 >= 0 && d2 >= 0 ? renameat(d1, b1, d2, b2) : -1;
  if (d1 >= 0) close(d1);
  if (d2 >= 0) close(d2);
  if (d2 == -2) return raiseStatus(v, CALOG_ERR_PERMISSION, why);
  if (r != 0) return sq_throwerror(v, "rename() failed");
  return 0;
}

/* Opens path as the context's policy allows (sandbox: nothing; grants: beneath a granted root; trusted: anywhere), or
 * raises the error in v. Every path a script opens goes through here: file() and the file class's constructor, which
 * any file instance leads to (stdout.getclass()), patch 123. */
static SQRESULT openChecked(HSQUIRRELVM v, const SQChar *path, const SQChar *mode, SQFILE *out) {
  int plus = strchr(mode, '+') != NULL;
  int flags = mode[0] == 'r' ? (plus ? O_RDWR : O_RDONLY)
              : mode[0] == 'w' ? (plus ? O_RDWR : O_WRONLY) | O_CREAT | O_TRUNC
              : mode[0] == 'a' ? (plus ? O_RDWR : O_WRONLY) | O_CREAT | O_APPEND
                               : -1;
  if (flags < 0) return sq_throwerror(v, "invalid file mode");
  SqCtxT *sc = calog__sqCtx(v);
  char why[sizeof sc->raisedMsg];
  int fd;
  if (sc->caps.profile != CALOG_PROFILE_SANDBOX) fd = calog__capsOpen(&sc->caps, path, flags, 0666, why, sizeof why);
  else {
    snprintf(why, sizeof why, "permission denied: the file class needs the 'fs' capability (this context runs under \"sandbox\")");
    fd = -2;
  }
  if (fd == -2) return raiseStatus(v, CALOG_ERR_PERMISSION, why);
  if (fd < 0 && errno == EMFILE) { /* the process's share: say so, with the counts */
    char full[200];
    calog__fdFull(full, sizeof full);
    snprintf(why, sizeof why, "cannot open file: %s", full);
    return sq_throwerror(v, why);
  }
  if (fd < 0) { /* why, and which file (pass 31a: "cannot open file" alone) */
    snprintf(why, sizeof why, "cannot open file '%s': %s", path, strerror(errno));
    return sq_throwerror(v, why);
  }
  char fmode[3] = {mode[0], plus ? '+' : '\0', '\0'};
  FILE *f = fdopen(fd, fmode);
  if (f == NULL) {
    int e = errno;
    calog__fdClose(fd);
    snprintf(why, sizeof why, "cannot open file '%s': %s", path, strerror(e));
    return sq_throwerror(v, why);
  }
  *out = f;
  return SQ_OK;
}

/* file(name, mode): sqstdio's file class built with the path, which it opens through openChecked (patch 123) and
 * which gives the descriptor's share back when the file closes (patch 127): no descriptor is ever held here (a
 * failed sqstd_createfile over one already open could have closed it, or not) */
static SQInteger checkedFile(HSQUIRRELVM v) {
  const SQChar *path, *mode;
  if (sq_gettop(v) < 3 || SQ_FAILED(sq_getstring(v, 2, &path)) || SQ_FAILED(sq_getstring(v, 3, &mode)))
    return sq_throwerror(v, "file(path, mode) expects two strings");
  SQInteger top = sq_gettop(v);
  sq_pushregistrytable(v);
  sq_pushstring(v, "std_file", -1);
  if (SQ_FAILED(sq_get(v, -2))) {
    sq_settop(v, top);
    return sq_throwerror(v, "the file class is missing");
  }
  sq_pushroottable(v);
  sq_push(v, 2);
  sq_push(v, 3);
  if (SQ_FAILED(sq_call(v, 3, SQTrue, SQFalse))) return SQ_ERROR; /* its error stands */
  return 1;
}

/* a file openChecked opened was closed: its descriptor's share goes back */
static void closedChecked(void) { calog__fdGive(); }

/* [root]: stdout and stderr objects over the sink */
static int32_t sinkFiles(SqCtxT *sc, HSQUIRRELVM v, CalogValueT *err) {
  static const char *const names[] = {"stdout", "stderr"};
  for (int i = 0; i < 2; i++) {
    FILE *f = calog__outputFile(sc->ctx, i == 0 ? CALOG_STDOUT : CALOG_STDERR);
    if (f == NULL) return calogFail(err, CALOG_ERR_OOM, "out of memory");
    sq_pushstring(v, names[i], -1);
    if (SQ_FAILED(sqstd_createfile(v, f, SQTrue))) {
      fclose(f);
      return calogFail(err, CALOG_ERR_OOM, "cannot create %s", names[i]);
    }
    sq_newslot(v, -3, SQFalse);
  }
  return CALOG_OK;
}

int32_t calog__sqOpenLibs(SqCtxT *sc, CalogValueT *err) {
  HSQUIRRELVM v = sc->vm;
  const CalogCapsT *caps = &sc->caps;
  SQInteger top = sq_gettop(v);
  int32_t st = CALOG_OK;
  sq_pushroottable(v);
  setFn(v, "print", sqPrint);
  setFn(v, "error", sqError);
  /* one argument at least, as upstream's (which takes exactly one): with none, the output read whatever an earlier
   * call had left in that stack slot (print() after f("1", 2) printed "1"; found by pass 26b) */
  requireArg(v, "print");
  requireArg(v, "error");
  if (caps->profile == CALOG_PROFILE_SANDBOX) {
    setDenied(v, "system", "system()", "process");
    setDenied(v, "getenv", "getenv()", "env");
    setDenied(v, "remove", "remove()", "fs.write");
    setDenied(v, "rename", "rename()", "fs.write");
    setDenied(v, "file", "file()", "fs");
  } else {
    sqstd_calog_fopen = openChecked; /* the same for every context: it reads the context's own policy */
    sqstd_calog_fclosed = closedChecked;
    if (SQ_FAILED(sqstd_register_iolib(v)) || SQ_FAILED(sqstd_register_systemlib(v)))
      st = calogFail(err, CALOG_ERR_INTERNAL, "cannot open the Squirrel io and system libraries");
    if (st == CALOG_OK) st = sinkFiles(sc, v, err);
    if (st == CALOG_OK && caps->profile == CALOG_PROFILE_GRANTS) {
      sq_pushstring(v, "stdin", -1);
      sq_deleteslot(v, -2, SQFalse);
      setFn(v, "getenv", grantedGetenv);
      if (!caps->process) setDenied(v, "system", "system()", "process");
      if (caps->nWrite > 0) {
        setFn(v, "remove", checkedRemove);
        setFn(v, "rename", checkedRename);
      } else {
        setDenied(v, "remove", "remove()", "fs.write");
        setDenied(v, "rename", "rename()", "fs.write");
      }
      if (calog__capsAnyFs(caps)) setFn(v, "file", checkedFile);
      else setDenied(v, "file", "file()", "fs");
    }
  }
  if (caps->profile != CALOG_PROFILE_TRUSTED) {
    setDenied(v, "loadfile", "loadfile()", "trusted");
    setDenied(v, "dofile", "dofile()", "trusted");
    setDenied(v, "writeclosuretofile", "writeclosuretofile()", "trusted");
  }
  sq_settop(v, top);
  return st;
}
