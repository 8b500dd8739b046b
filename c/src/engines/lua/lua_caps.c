/* lua_caps.c -- what a Lua script may reach (design: the "capabilities" and "output" context options).
 *
 * Every profile: print goes to the context's output sink; os.exit refuses; calog's internals stay out of
 * reach (no debug.getregistry; debug.getmetatable/setmetatable refuse calog function values; the upvalues of
 * calog's native trampolines cannot be read or replaced).
 * "sandbox": the language, string, table, math, utf8, coroutine, os.time/clock/date/difftime, print, and
 *   collectgarbage("count"|"step"|"collect"). Everything else that touches the process (io, os.execute,
 *   os.getenv, os.remove/rename/tmpname/setlocale, dofile, loadfile, require of files or C modules,
 *   package.loadlib, binary chunks, string.dump) refuses with a "permission denied" error naming the
 *   capability it needs. debug keeps only traceback.
 * Grants add, on top of the sandbox: fs (io.open/lines/input/output, dofile, loadfile, os.remove/rename,
 *   each path checked beneath the granted roots at every call), env (os.getenv of the listed names),
 *   process (os.execute, io.popen), debug (the full debug library, internals protected).
 * "trusted": the stand-alone interpreter's libraries, os.exit and the registry aside; io.stdout/io.stderr
 *   (and io.write) go to the output sink. */
#include "lua_adapter.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define FN_META "calog.function"

/* Raises msg as a Lua error marked with a calog status (uncaught, the entry fails with it). */
static int raiseStatus(lua_State *L, int32_t status, const char *msg) {
  lua_pushstring(L, msg);
  return calog__luaRaise(L, (CalogRaiseT){.status = status});
}

static int deny(lua_State *L, const char *effect, const char *capability) {
  LuaCtxT *lc = calog__luaCtx(L);
  char buf[sizeof lc->raisedMsg];
  return raiseStatus(L, CALOG_ERR_PERMISSION, calog__capsDenied(&lc->caps, buf, sizeof buf, effect, capability));
}

/* upvalue 1: effect name, upvalue 2: capability */
static int denied(lua_State *L) {
  return deny(L, lua_tostring(L, lua_upvalueindex(1)), lua_tostring(L, lua_upvalueindex(2)));
}

static void setDenied(lua_State *L, int table, const char *field, const char *effect, const char *capability) {
  table = lua_absindex(L, table);
  lua_pushstring(L, effect);
  lua_pushstring(L, capability);
  lua_pushcclosure(L, denied, 2);
  lua_setfield(L, table, field);
}

/* ---- output --------------------------------------------------------------------------------------- */
static int emit(lua_State *L, int stream, const char *s, size_t n) {
  LuaCtxT *lc = calog__luaCtx(L);
  CalogValueT err = calogValueNil();
  int32_t st = calog__output(lc->ctx, stream, s, n, &err);
  if (st == CALOG_OK) return 0;
  char msg[sizeof lc->raisedMsg];
  snprintf(msg, sizeof msg, "%s", calogErrorMessage(&err, NULL));
  calogValueFree(&err);
  return raiseStatus(L, st, msg);
}

static int luaPrint(lua_State *L) {
  int n = lua_gettop(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 1; i <= n; i++) {
    /* the tab first: a buffer operation other than luaL_addvalue needs the stack as the last one left it, and one
     * with the argument's text on top took that text for its buffer box once the line had outgrown the buffer's
     * own space (print(('x'):rep(2000), 'y') ended the host with a segmentation fault; found by run-lua) */
    if (i > 1) luaL_addchar(&b, '\t');
    luaL_tolstring(L, i, NULL);
    luaL_addvalue(&b);
  }
  luaL_addchar(&b, '\n');
  luaL_pushresult(&b);
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);
  emit(L, CALOG_STDOUT, s, len);
  return 0;
}

/* The stream of a sink FILE*, or 0. */
static int sinkStream(LuaCtxT *lc, FILE *f) {
  if (f != NULL && f == lc->sinkOut) return CALOG_STDOUT;
  if (f != NULL && f == lc->sinkErr) return CALOG_STDERR;
  return 0;
}

/* Writes args first.. to a sink as io.write does (strings and numbers), raising on a limit. */
static int sinkWrite(lua_State *L, int stream, int first) {
  int n = lua_gettop(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = first; i <= n; i++) {
    luaL_checklstring(L, i, NULL);
    lua_pushvalue(L, i);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);
  emit(L, stream, s, len);
  return 0;
}

/* file:write on a sink handle goes through sinkWrite (so a limit raises); other files as usual. */
static int fileWrite(lua_State *L) { /* upvalue 1: the original method */
  luaL_Stream *p = luaL_testudata(L, 1, LUA_FILEHANDLE);
  int stream = p && p->closef ? sinkStream(calog__luaCtx(L), p->f) : 0;
  if (stream) {
    sinkWrite(L, stream, 2);
    lua_settop(L, 1);
    return 1;
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

static int ioWrite(lua_State *L) { /* io.write: to the default output */
  lua_getfield(L, LUA_REGISTRYINDEX, "_IO_output");
  lua_insert(L, 1);
  lua_getfield(L, 1, "write");
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

static int noClose(lua_State *L) {
  luaL_Stream *p = luaL_checkudata(L, 1, LUA_FILEHANDLE);
  p->closef = noClose; /* keep the handle open */
  luaL_pushfail(L);
  lua_pushliteral(L, "cannot close standard file");
  return 2;
}

static void pushStd(lua_State *L, FILE *f) {
  luaL_Stream *p = lua_newuserdatauv(L, sizeof *p, 0);
  p->closef = NULL;
  luaL_setmetatable(L, LUA_FILEHANDLE);
  p->f = f;
  p->closef = noClose;
}

/* ---- files under fs grants ------------------------------------------------------------------------ */
static int fileClose(lua_State *L) {
  luaL_Stream *p = luaL_checkudata(L, 1, LUA_FILEHANDLE);
  int ok = fclose(p->f) == 0, e = errno;
  calog__fdGive(); /* its descriptor was the process share's (calog__capsOpen) */
  errno = e;
  return luaL_fileresult(L, ok, NULL);
}

static int modeFlags(const char *mode) {
  int plus = mode[0] && mode[1] == '+';
  const char *rest = mode + 1 + plus;
  while (*rest == 'b') rest++;
  if (*rest != '\0') return -1;
  switch (mode[0]) {
  case 'r': return plus ? O_RDWR : O_RDONLY;
  case 'w': return (plus ? O_RDWR : O_WRONLY) | O_CREAT | O_TRUNC;
  case 'a': return (plus ? O_RDWR : O_WRONLY) | O_CREAT | O_APPEND;
  default: return -1;
  }
}

/* Why an open failed (errno): past the process's descriptor share, that share and its counts */
static const char *openError(char *buf, size_t cap) {
  if (errno != EMFILE) return strerror(errno);
  calog__fdFull(buf, cap);
  return buf;
}

/* Pushes a file handle for fname opened by the policy, or (on an ordinary failure) fail, message, errno. */
static int openChecked(lua_State *L, const char *fname, const char *mode) {
  LuaCtxT *lc = calog__luaCtx(L);
  int flags = modeFlags(mode);
  luaL_argcheck(L, flags >= 0, 2, "invalid mode");
  /* the handle first: its allocation can raise (a memory limit), which must not leave an open descriptor behind
   * (pass 31a: one io.open at the limit leaked a descriptor and its share for good). A handle with closef NULL
   * is a closed file to the io library until the open below succeeds. */
  luaL_Stream *p = lua_newuserdatauv(L, sizeof *p, 0);
  p->f = NULL;
  p->closef = NULL;
  luaL_setmetatable(L, LUA_FILEHANDLE);
  char why[sizeof lc->raisedMsg];
  int fd = calog__capsOpen(&lc->caps, fname, flags, 0666, why, sizeof why);
  if (fd == -2) return raiseStatus(L, CALOG_ERR_PERMISSION, why);
  if (fd < 0 && errno == EMFILE) { /* the process's share: say so, with the counts */
    char full[200];
    calog__fdFull(full, sizeof full);
    lua_pop(L, 1);
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: %s", fname, full);
    lua_pushinteger(L, EMFILE);
    errno = EMFILE; /* for the callers that raise (io.lines, io.input): pushing may have changed it */
    return 3;
  }
  if (fd < 0) {
    lua_pop(L, 1);
    return luaL_fileresult(L, 0, fname);
  }
  char fmode[4] = {mode[0], mode[1] == '+' ? '+' : '\0', '\0', '\0'};
  p->f = fdopen(fd, fmode);
  if (p->f == NULL) {
    int e = errno;
    calog__fdClose(fd);
    errno = e;
    lua_pop(L, 1);
    return luaL_fileresult(L, 0, fname);
  }
  p->closef = fileClose;
  return 1;
}

static int ioOpen(lua_State *L) {
  const char *fname = luaL_checkstring(L, 1);
  const char *mode = luaL_optstring(L, 2, "r");
  return openChecked(L, fname, mode);
}

/* io.input / io.output with a file name: opened by the policy, then handed to the original. */
static int ioSwitch(lua_State *L) { /* upvalue 1: original, upvalue 2: mode */
  if (lua_type(L, 1) == LUA_TSTRING) {
    const char *fname = lua_tostring(L, 1);
    if (openChecked(L, fname, lua_tostring(L, lua_upvalueindex(2))) != 1 || lua_isnil(L, -1) || lua_isboolean(L, -1)) {
      char why[200];
      return luaL_error(L, "cannot open file '%s' (%s)", fname, openError(why, sizeof why));
    }
    lua_replace(L, 1);
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

/* The iterator of io.lines(name) (upvalue 1: the file's lines iterator, 2: the file): the file closes when the
 * lines end, not only when the loop's to-be-closed value or the collector gets to it (pass 31a: a loop over the
 * lines that returned from inside kept each file open until the next full collection). */
static int linesNext(lua_State *L) {
  lua_settop(L, 0);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_call(L, 0, LUA_MULTRET);
  if (lua_gettop(L) > 0 && lua_toboolean(L, 1)) return lua_gettop(L);
  lua_settop(L, 0);
  lua_pushvalue(L, lua_upvalueindex(2));
  luaL_Stream *p = luaL_checkudata(L, 1, LUA_FILEHANDLE);
  if (p->closef != NULL) { /* as the io library closes a file: closef cleared first, then called */
    lua_CFunction cf = p->closef;
    p->closef = NULL;
    cf(L);
  }
  return 0;
}

static int ioLines(lua_State *L) { /* upvalue 1: the original io.lines (for the default input) */
  if (lua_isnoneornil(L, 1)) {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
  }
  const char *fname = luaL_checkstring(L, 1);
  if (openChecked(L, fname, "r") != 1 || !lua_isuserdata(L, -1)) {
    char why[200];
    return luaL_error(L, "%s: %s", fname, openError(why, sizeof why));
  }
  lua_replace(L, 1); /* [file, formats...] */
  int n = lua_gettop(L);
  lua_getfield(L, 1, "lines");
  for (int i = 1; i <= n; i++) lua_pushvalue(L, i);
  lua_call(L, n, 1);
  lua_pushvalue(L, 1);
  lua_pushcclosure(L, linesNext, 2); /* closes the file at its end, as the original io.lines(name) does */
  lua_pushnil(L);
  lua_pushnil(L);
  lua_pushvalue(L, 1); /* to-be-closed in a generic for */
  return 4;
}

/* Reads a whole file through the policy into a new string on the stack (or raises). */
static void readChecked(lua_State *L, const char *fname) {
  if (openChecked(L, fname, "r") != 1 || !lua_isuserdata(L, -1)) {
    char why[200];
    luaL_error(L, "cannot open %s (%s)", fname, openError(why, sizeof why));
  }
  luaL_Stream *p = lua_touserdata(L, -1);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  size_t got;
  do {
    char *buf = luaL_prepbuffer(&b);
    got = fread(buf, 1, LUAL_BUFFERSIZE, p->f);
    luaL_addsize(&b, got);
  } while (got == LUAL_BUFFERSIZE);
  luaL_pushresult(&b);
  fclose(p->f);
  calog__fdGive();
  p->closef = NULL;
  lua_remove(L, -2);
}

static int loadChecked(lua_State *L, const char *fname) {
  readChecked(L, fname);
  size_t n;
  const char *s = lua_tolstring(L, -1, &n);
  if (n > 0 && s[0] == '#') { /* skip a first-line comment, as luaL_loadfile does */
    const char *nl = memchr(s, '\n', n);
    size_t skip = nl ? (size_t)(nl - s) : n;
    s += skip;
    n -= skip;
  }
  lua_pushfstring(L, "@%s", fname);
  int st = luaL_loadbufferx(L, s, n, lua_tostring(L, -1), "t");
  lua_remove(L, -2);
  lua_remove(L, -2);
  return st;
}

static int luaLoadfile(lua_State *L) {
  const char *fname = luaL_checkstring(L, 1);
  const char *mode = luaL_optstring(L, 2, "t");
  if (strchr(mode, 'b') && !strchr(mode, 't')) return deny(L, "loading a binary chunk", "trusted");
  int env = !lua_isnone(L, 3) ? 3 : 0;
  if (loadChecked(L, fname) != LUA_OK) {
    luaL_pushfail(L);
    lua_insert(L, -2);
    return 2;
  }
  if (env) {
    lua_pushvalue(L, env);
    if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1);
  }
  return 1;
}

static int dofileCont(lua_State *L, int d1, lua_KContext d2) {
  (void)d1, (void)d2;
  return lua_gettop(L) - 1;
}

static int luaDofile(lua_State *L) {
  const char *fname = luaL_checkstring(L, 1);
  lua_settop(L, 1);
  if (loadChecked(L, fname) != LUA_OK) return lua_error(L);
  lua_callk(L, 0, LUA_MULTRET, 0, dofileCont);
  return dofileCont(L, 0, 0);
}

static int osRemove(lua_State *L) {
  LuaCtxT *lc = calog__luaCtx(L);
  const char *fname = luaL_checkstring(L, 1);
  const char *base;
  char why[sizeof lc->raisedMsg];
  int dir = calog__capsOpenParent(&lc->caps, fname, true, &base, why, sizeof why);
  if (dir == -2) return raiseStatus(L, CALOG_ERR_PERMISSION, why);
  if (dir < 0) return luaL_fileresult(L, 0, fname);
  int r = unlinkat(dir, base, 0);
  if (r != 0 && errno == EISDIR) r = unlinkat(dir, base, AT_REMOVEDIR);
  int e = errno;
  close(dir);
  errno = e;
  return luaL_fileresult(L, r == 0, fname);
}

static int osRename(lua_State *L) {
  LuaCtxT *lc = calog__luaCtx(L);
  const char *from = luaL_checkstring(L, 1), *to = luaL_checkstring(L, 2);
  const char *b1, *b2;
  char why[sizeof lc->raisedMsg];
  int d1 = calog__capsOpenParent(&lc->caps, from, true, &b1, why, sizeof why);
  if (d1 == -2) return raiseStatus(L, CALOG_ERR_PERMISSION, why);
  if (d1 < 0) return luaL_fileresult(L, 0, from);
  int d2 = calog__capsOpenParent(&lc->caps, to, true, &b2, why, sizeof why);
  if (d2 < 0) {
    int e = errno;
    close(d1);
    errno = e;
    if (d2 == -2) return raiseStatus(L, CALOG_ERR_PERMISSION, why);
    return luaL_fileresult(L, 0, to);
  }
  int r = renameat(d1, b1, d2, b2);
  int e = errno;
  close(d1);
  close(d2);
  errno = e;
  return luaL_fileresult(L, r == 0, NULL);
}

static int osGetenv(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  if (!calog__capsEnv(&calog__luaCtx(L)->caps, name)) {
    char what[200];
    snprintf(what, sizeof what, "os.getenv('%.120s')", name);
    return deny(L, what, "env");
  }
  lua_pushstring(L, getenv(name));
  return 1;
}

static int osExit(lua_State *L) {
  return raiseStatus(L, CALOG_ERR_PERMISSION, CALOG_DENIED_PREFIX "os.exit is refused in every profile (a script must not end the host process)");
}

/* ---- loading code ----------------------------------------------------------------------------------- */
static int textLoad(lua_State *L) { /* load() without binary chunks; upvalue 1: the original load */
  if (lua_type(L, 1) == LUA_TSTRING && lua_rawlen(L, 1) > 0 && lua_tostring(L, 1)[0] == LUA_SIGNATURE[0])
    return deny(L, "loading a binary chunk", "trusted");
  const char *mode = luaL_optstring(L, 3, "bt");
  if (strchr(mode, 't') == NULL) return deny(L, "loading a binary chunk", "trusted");
  if (lua_gettop(L) < 3) lua_settop(L, 3);
  lua_pushliteral(L, "t");
  lua_replace(L, 3); /* a reader function's pieces are text-only too */
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

static int gcLimited(lua_State *L) { /* upvalue 1: the original collectgarbage */
  const char *opt = luaL_optstring(L, 1, "collect");
  if (strcmp(opt, "count") != 0 && strcmp(opt, "step") != 0 && strcmp(opt, "collect") != 0) {
    char what[80];
    snprintf(what, sizeof what, "collectgarbage('%.40s')", opt);
    return deny(L, what, "trusted");
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

static int searcherDenied(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  char what[200];
  snprintf(what, sizeof what, "require('%.120s') of a file or C module", name);
  return deny(L, what, "trusted");
}

/* ---- debug, with calog's internals protected --------------------------------------------------------- */
static bool isOurMeta(lua_State *L, int idx) { /* the metatable at idx is calog's own */
  luaL_getmetatable(L, FN_META);
  bool r = lua_rawequal(L, idx < 0 ? idx - 1 : idx, -1);
  lua_pop(L, 1);
  return r;
}

static bool hasOurMeta(lua_State *L, int idx) {
  if (!lua_getmetatable(L, idx)) return false;
  bool r = isOurMeta(L, -1);
  lua_pop(L, 1);
  return r;
}

static int refuseInternal(lua_State *L, const char *what) {
  char msg[200];
  snprintf(msg, sizeof msg, CALOG_DENIED_PREFIX "%s: that is calog's internal state", what);
  return raiseStatus(L, CALOG_ERR_PERMISSION, msg);
}

static int dbgGetregistry(lua_State *L) { return refuseInternal(L, "debug.getregistry"); }

static int passOn(lua_State *L) { /* calls upvalue 1 with every argument */
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

static int dbgGetmetatable(lua_State *L) {
  luaL_checkany(L, 1);
  if (hasOurMeta(L, 1)) {
    lua_pushliteral(L, "calog function");
    return 1;
  }
  /* a userdata's metatable is its C type's (see dbgSetmetatable): what it says of itself (files: "FILE*") */
  if ((lua_type(L, 1) == LUA_TUSERDATA || lua_type(L, 1) == LUA_TLIGHTUSERDATA) &&
      luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
    return 1;
  return passOn(L);
}

/* A userdata's metatable is its type: the C functions behind it check that metatable alone (luaL_checkudata) before
 * they take the block for theirs, so a light userdata (debug.upvalueid's) given io.stdout's metatable was flushed as a
 * FILE* (the host aborted), and one full userdata given another's type would be read as that type (pass 29a). Scripts
 * make no userdata of their own: every one is a C object, whose type is not the script's to change. */
static int dbgSetmetatable(lua_State *L) {
  luaL_checkany(L, 1);
  if (hasOurMeta(L, 1) || (lua_istable(L, 2) && isOurMeta(L, 2))) return refuseInternal(L, "debug.setmetatable on a calog function");
  if (lua_type(L, 1) == LUA_TUSERDATA || lua_type(L, 1) == LUA_TLIGHTUSERDATA)
    return raiseStatus(L, CALOG_ERR_PERMISSION, CALOG_DENIED_PREFIX "debug.setmetatable on a userdata: its metatable is "
                                                "the type its C functions check");
  return passOn(L);
}

static bool ourCFunction(lua_State *L, int idx) {
  return lua_iscfunction(L, idx) && calog__luaIsInternalCFunction(lua_tocfunction(L, idx));
}

/* The upvalues of a C function are its state: a standard one's (string.gmatch's iterator state, coroutine.wrap's
 * coroutine) replaced crashed the host, and calog's wrappers keep the originals they guard there (the original load,
 * which takes binary chunks, or debug.setmetatable). Read or written, they are refused for every C function; a Lua
 * function's are the script's own. */
static int refuseCState(lua_State *L) {
  return raiseStatus(L, CALOG_ERR_PERMISSION, CALOG_DENIED_PREFIX "the upvalues of a C function: that is the state it "
                                              "works on (only a Lua function's are the script's)");
}

static int dbgUpvalue(lua_State *L) { /* getupvalue, setupvalue: function at 1 */
  if (ourCFunction(L, 1)) return refuseInternal(L, "the upvalues of calog's native functions");
  if (lua_iscfunction(L, 1)) return refuseCState(L);
  return passOn(L);
}

static int dbgUpvalueid(lua_State *L) { /* an identity only: refused for calog's natives, as before */
  if (ourCFunction(L, 1)) return refuseInternal(L, "the upvalues of calog's native functions");
  return passOn(L);
}

static int dbgUpvaluejoin(lua_State *L) {
  if (ourCFunction(L, 1) || ourCFunction(L, 3)) return refuseInternal(L, "the upvalues of calog's native functions");
  if (lua_iscfunction(L, 1) || lua_iscfunction(L, 3)) return refuseCState(L);
  return passOn(L);
}

/* A stack level given to getinfo, getlocal or setlocal ([thread,] level, ...): the thread it is on and the argument
 * holding it; false for a function argument (getinfo(f), getlocal(f, n): what the script already holds). */
static bool levelArg(lua_State *L, lua_State **L1, int *arg) {
  *L1 = L;
  *arg = 1;
  if (lua_type(L, 1) == LUA_TTHREAD) {
    *L1 = lua_tothread(L, 1);
    *arg = 2;
  }
  if (lua_isfunction(L, *arg)) return false;
  /* anything else is a level, as the originals read it (luaL_checkinteger: "3" too, which passed on unshifted and
   * unchecked gave a C frame's function: pass 28a), made an integer here so that they read the one checked */
  lua_Integer level = luaL_checkinteger(L, *arg);
  /* the originals read it as an int: 2^32 + 3 was their level 3, a C frame seen neither by cFrame nor by the shift
   * (pass 29a): a level no int can hold, shifted or not, is out of range here (what the originals say of -1) */
  if (level < 0 || level >= INT_MAX - 1) level = -1;
  lua_pushinteger(L, level);
  lua_replace(L, *arg);
  return true;
}

/* Calls the original (upvalue 1) with a level of this thread one deeper: it runs one call below this wrapper. */
static int passOnLevel(lua_State *L, lua_State *L1, int arg) {
  if (L1 == L) {
    lua_Integer level = luaL_checkinteger(L, arg);
    if (level >= 0 && level < INT_MAX) {
      lua_pushinteger(L, level + 1);
      lua_replace(L, arg);
    }
  }
  return passOn(L);
}

/* Whether the frame at the level in arg of L1 runs a C function (as this wrapper's caller counts levels). */
static bool cFrame(lua_State *L, lua_State *L1, int arg) {
  lua_Integer level = lua_tointeger(L, arg);
  lua_Debug ar;
  if (level < 0 || level >= INT_MAX || !lua_getstack(L1, (int)level, &ar)) return false;
  return lua_getinfo(L1, "S", &ar) && ar.what[0] == 'C';
}

/* getinfo: a C frame's function is not given (calog's entry function, called again with a bad argument, crashed the
 * host; the original load below a reader function ran binary chunks): its other fields are. */
static int dbgGetinfo(lua_State *L) {
  lua_State *L1;
  int arg;
  if (!levelArg(L, &L1, &arg)) return passOn(L);
  bool hide = cFrame(L, L1, arg);
  int n = passOnLevel(L, L1, arg);
  if (hide && n == 1 && lua_istable(L, -1)) {
    lua_pushnil(L);
    lua_setfield(L, -2, "func");
  }
  return n;
}

/* getlocal and setlocal of a C frame: its "locals" are the C function's own stack (calog's entry record, a table a
 * standard function is working on), which it reads again after the call it is in: none is given, none may be set. */
static int dbgGetlocal(lua_State *L) {
  lua_State *L1;
  int arg;
  if (!levelArg(L, &L1, &arg)) return passOn(L);
  if (cFrame(L, L1, arg)) {
    luaL_checkinteger(L, arg + 1);
    lua_pushnil(L);
    return 1;
  }
  return passOnLevel(L, L1, arg);
}

static int dbgSetlocal(lua_State *L) {
  lua_State *L1;
  int arg;
  if (!levelArg(L, &L1, &arg)) return passOn(L);
  if (cFrame(L, L1, arg)) return refuseInternal(L, "debug.setlocal of a C function's frame");
  return passOnLevel(L, L1, arg);
}

static void wrapField(lua_State *L, int table, const char *field, lua_CFunction f) {
  table = lua_absindex(L, table);
  lua_getfield(L, table, field);
  lua_pushcclosure(L, f, 1);
  lua_setfield(L, table, field);
}

static void protectDebug(lua_State *L, int dbg) {
  lua_pushcfunction(L, dbgGetregistry);
  lua_setfield(L, dbg, "getregistry");
  wrapField(L, dbg, "getmetatable", dbgGetmetatable);
  wrapField(L, dbg, "setmetatable", dbgSetmetatable);
  wrapField(L, dbg, "getupvalue", dbgUpvalue);
  wrapField(L, dbg, "setupvalue", dbgUpvalue);
  wrapField(L, dbg, "upvalueid", dbgUpvalueid);
  wrapField(L, dbg, "upvaluejoin", dbgUpvaluejoin);
  wrapField(L, dbg, "getinfo", dbgGetinfo);
  wrapField(L, dbg, "getlocal", dbgGetlocal);
  wrapField(L, dbg, "setlocal", dbgSetlocal);
}

/* ---- opening ------------------------------------------------------------------------------------------ */
static void setGlobalTable(lua_State *L, const char *name) { /* [t] -> global name and package.loaded[name] */
  lua_pushvalue(L, -1);
  lua_setglobal(L, name);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_insert(L, -2);
  lua_setfield(L, -2, name);
  lua_pop(L, 1);
}

static void openIo(lua_State *L, LuaCtxT *lc) {
  bool trusted = lc->caps.profile == CALOG_PROFILE_TRUSTED;
  lua_getglobal(L, "io");
  int io = lua_gettop(L);
  /* standard output and error go to the sink, in every profile that has io */
  lc->sinkOut = calog__outputFile(lc->ctx, CALOG_STDOUT);
  lc->sinkErr = calog__outputFile(lc->ctx, CALOG_STDERR);
  if (lc->sinkOut == NULL || lc->sinkErr == NULL) luaL_error(L, "out of memory");
  pushStd(L, lc->sinkOut);
  lua_pushvalue(L, -1);
  lua_setfield(L, io, "stdout");
  lua_setfield(L, LUA_REGISTRYINDEX, "_IO_output");
  pushStd(L, lc->sinkErr);
  lua_setfield(L, io, "stderr");
  luaL_getmetatable(L, LUA_FILEHANDLE);
  lua_getfield(L, -1, "__index");
  wrapField(L, -1, "write", fileWrite);
  lua_pop(L, 1);
  if (!trusted) { /* the files' type is not the script's: a script that removed its __gc (and __close) kept every file
                   * it opened open past its context and the runtime, for the process's life (pass 30a) */
    lua_pushliteral(L, "FILE*");
    lua_setfield(L, -2, "__metatable");
  }
  lua_pop(L, 1);
  lua_pushcfunction(L, ioWrite);
  lua_setfield(L, io, "write");
  if (trusted) {
    lua_pop(L, 1);
    return;
  }
  /* grants: no standard input (an empty one), paths through the policy */
  lc->nullIn = fopen("/dev/null", "r");
  if (lc->nullIn == NULL) luaL_error(L, "cannot open /dev/null");
  pushStd(L, lc->nullIn);
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, "_IO_input");
  lua_setfield(L, io, "stdin"); /* the same empty stream (README): nil broke io.stdin:read() */
  lua_pushcfunction(L, ioOpen);
  lua_setfield(L, io, "open");
  wrapField(L, io, "lines", ioLines);
  lua_getfield(L, io, "input");
  lua_pushliteral(L, "r");
  lua_pushcclosure(L, ioSwitch, 2);
  lua_setfield(L, io, "input");
  lua_getfield(L, io, "output");
  lua_pushliteral(L, "w");
  lua_pushcclosure(L, ioSwitch, 2);
  lua_setfield(L, io, "output");
  if (!lc->caps.process) setDenied(L, io, "popen", "io.popen", "process");
  setDenied(L, io, "tmpfile", "io.tmpfile", "trusted");
  lua_pop(L, 1);
}

static void deniedIo(lua_State *L, const CalogCapsT *caps) {
  lua_getglobal(L, "io");
  lua_getfield(L, -1, "popen");
  lua_newtable(L);
  static const char *const fns[] = {"open", "lines", "input", "output", "read", "write", "close", "type", "tmpfile", NULL};
  for (const char *const *f = fns; *f; f++) {
    char effect[32];
    snprintf(effect, sizeof effect, "io.%s", *f);
    setDenied(L, -1, *f, effect, "fs");
  }
  if (caps->process) {
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, "popen");
  } else {
    setDenied(L, -1, "popen", "io.popen", "process");
  }
  setGlobalTable(L, "io");
  lua_pop(L, 3);
}

int calog__luaOpenLibs(lua_State *L) {
  LuaCtxT *lc = calog__luaCtx(L);
  const CalogCapsT *caps = &lc->caps;
  bool trusted = caps->profile == CALOG_PROFILE_TRUSTED;
  luaL_openlibs(L);
  calog__luaOpenFnMeta(L);
  calog__luaOpenIo(L);
  lua_pushcfunction(L, luaPrint);
  lua_setglobal(L, "print");
  lua_getglobal(L, "os");
  int os = lua_gettop(L);
  lua_pushcfunction(L, osExit);
  lua_setfield(L, os, "exit");
  lua_getglobal(L, "debug");
  int dbg = lua_gettop(L);
  if (trusted || caps->debug) {
    protectDebug(L, dbg);
  } else {
    lua_newtable(L);
    lua_getfield(L, dbg, "traceback");
    lua_setfield(L, -2, "traceback");
    setGlobalTable(L, "debug");
    lua_pop(L, 1);
  }
  if (trusted) {
    openIo(L, lc);
    lua_settop(L, 0);
    return 0;
  }
  /* os */
  if (!caps->process) setDenied(L, os, "execute", "os.execute", "process");
  if (caps->nWrite > 0) {
    lua_pushcfunction(L, osRemove);
    lua_setfield(L, os, "remove");
    lua_pushcfunction(L, osRename);
    lua_setfield(L, os, "rename");
  } else {
    setDenied(L, os, "remove", "os.remove", "fs.write");
    setDenied(L, os, "rename", "os.rename", "fs.write");
  }
  setDenied(L, os, "tmpname", "os.tmpname", "trusted");
  setDenied(L, os, "setlocale", "os.setlocale (process-wide)", "trusted");
  lua_pushcfunction(L, osGetenv);
  lua_setfield(L, os, "getenv");
  /* io, dofile, loadfile */
  if (calog__capsAnyFs(caps)) {
    openIo(L, lc);
  } else {
    deniedIo(L, caps);
  }
  if (caps->nRead > 0) {
    lua_pushcfunction(L, luaDofile);
    lua_setglobal(L, "dofile");
    lua_pushcfunction(L, luaLoadfile);
    lua_setglobal(L, "loadfile");
  } else {
    lua_pushglobaltable(L);
    setDenied(L, -1, "dofile", "dofile", "fs.read");
    setDenied(L, -1, "loadfile", "loadfile", "fs.read");
    lua_pop(L, 1);
  }
  /* code: text only */
  lua_getglobal(L, "load");
  lua_pushcclosure(L, textLoad, 1);
  lua_setglobal(L, "load");
  lua_getglobal(L, "string");
  setDenied(L, -1, "dump", "string.dump", "trusted");
  lua_pop(L, 1);
  lua_getglobal(L, "collectgarbage");
  lua_pushcclosure(L, gcLimited, 1);
  lua_setglobal(L, "collectgarbage");
  /* package: preloaded modules only */
  lua_getglobal(L, "package");
  int pkg = lua_gettop(L);
  setDenied(L, pkg, "loadlib", "package.loadlib", "trusted");
  lua_createtable(L, 2, 0);
  lua_getfield(L, pkg, "searchers");
  lua_rawgeti(L, -1, 1); /* the preload searcher */
  lua_rawseti(L, -3, 1);
  lua_pop(L, 1);
  lua_pushcfunction(L, searcherDenied);
  lua_rawseti(L, -2, 2);
  lua_setfield(L, pkg, "searchers");
  lua_pushnil(L);
  lua_setfield(L, pkg, "searchpath");
  lua_settop(L, 0);
  return 0;
}
