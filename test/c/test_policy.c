/* test_policy.c -- the policy module: capability parsing, path resolution beneath fs roots (.., absolute
 * paths, symlinks out, a file swapped for a symlink between opens), env and net allow-lists. */
#include "calog.h"
#include "check.h"
#include "policy/policy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[256], outside[256];

static CalogValueT str(const char *s) {
  CalogValueT v;
  calogValueString(&v, s, (int64_t)strlen(s));
  return v;
}

static void set(CalogValueT *map, const char *k, CalogValueT v) {
  CalogValueT key = str(k);
  calogAggSet(map->as.agg, &key, &v);
}

static CalogValueT list1(const char *s) {
  CalogValueT l;
  calogValueAgg(&l, CALOG_AGG_LIST);
  CalogValueT e = str(s);
  calogAggPush(l.as.agg, &e);
  return l;
}

static void writeFile(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  fputs(text, f);
  fclose(f);
}

/* grants: fs.read = [root], fs.write = [root/w], env = ["HOME"], net.connect = ["127.0.0.1:*"] */
static int32_t grants(CalogCapsT *caps, CalogValueT *err) {
  char w[300];
  snprintf(w, sizeof w, "%s/w", root);
  CalogValueT m, fs, net;
  calogValueAgg(&m, CALOG_AGG_MAP);
  calogValueAgg(&fs, CALOG_AGG_MAP);
  calogValueAgg(&net, CALOG_AGG_MAP);
  set(&fs, "read", list1(root));
  set(&fs, "write", list1(w));
  set(&m, "fs", fs);
  set(&m, "env", list1("HOME"));
  set(&net, "connect", list1("127.0.0.1:*"));
  set(&net, "listen", list1("*:8080"));
  set(&m, "net", net);
  set(&m, "process", calogValueBool(false));
  int32_t st = calog__capsParse(&m, caps, err);
  calogValueFree(&m);
  return st;
}

static void testParse(void) {
  CalogCapsT caps;
  CalogValueT err = calogValueNil();
  CHECK_EQ(calog__capsParse(NULL, &caps, &err), CALOG_OK);
  CHECK_EQ(caps.profile, CALOG_PROFILE_SANDBOX);
  CHECK(!calog__capsAnyFs(&caps));
  CalogValueT t = str("trusted");
  CHECK_EQ(calog__capsParse(&t, &caps, &err), CALOG_OK);
  CHECK(caps.process && caps.debug && calog__capsEnv(&caps, "ANY") && calog__capsAnyFs(&caps));
  calogValueFree(&t);
  CalogValueT bad = str("root");
  CHECK_EQ(calog__capsParse(&bad, &caps, &err), CALOG_ERR_ARG);
  CHECK_CONTAINS(calogErrorMessage(&err, NULL), "\"sandbox\", \"trusted\"");
  calogValueFree(&bad);
  CalogValueT m;
  calogValueAgg(&m, CALOG_AGG_MAP);
  set(&m, "files", calogValueBool(true));
  CHECK_EQ(calog__capsParse(&m, &caps, &err), CALOG_ERR_ARG);
  CHECK_CONTAINS(calogErrorMessage(&err, NULL), "unknown key 'files'");
  calogValueFree(&m);
  calogValueAgg(&m, CALOG_AGG_MAP);
  CalogValueT fs;
  calogValueAgg(&fs, CALOG_AGG_MAP);
  set(&fs, "read", list1("/no/such/dir/calog"));
  set(&m, "fs", fs);
  CHECK_EQ(calog__capsParse(&m, &caps, &err), CALOG_ERR_ARG);
  CHECK_CONTAINS(calogErrorMessage(&err, NULL), "cannot resolve");
  calogValueFree(&m);
  calogValueAgg(&m, CALOG_AGG_MAP);
  calogValueAgg(&fs, CALOG_AGG_MAP);
  set(&fs, "connect", list1("localhost"));
  set(&m, "net", fs);
  CHECK_EQ(calog__capsParse(&m, &caps, &err), CALOG_ERR_ARG);
  CHECK_CONTAINS(calogErrorMessage(&err, NULL), "host:port");
  calogValueFree(&m);
  /* hostile8: a unix-domain socket is a file, not a network host: a "*" host (any port, or port 0) never covers
   * one (it reached every unix service of the host, docker.sock included, and created socket files anywhere);
   * a "unix:/path" grant covers exactly that path, case and all, and "unix:*" any path */
  calogValueAgg(&m, CALOG_AGG_MAP);
  calogValueAgg(&fs, CALOG_AGG_MAP);
  CalogValueT l;
  calogValueAgg(&l, CALOG_AGG_LIST);
  const char *const entries[] = {"*:*", "*:0", "unix:/tmp/A.sock"};
  for (int i = 0; i < 3; i++) {
    CalogValueT e = str(entries[i]);
    calogAggPush(l.as.agg, &e);
  }
  set(&fs, "connect", l);
  set(&fs, "listen", list1("unix:*"));
  set(&m, "net", fs);
  CHECK_EQ(calog__capsParse(&m, &caps, &err), CALOG_OK);
  CHECK(calog__capsNet(&caps, false, "127.0.0.1", 80));
  CHECK(!calog__capsNet(&caps, false, "unix:/var/run/docker.sock", 0));
  CHECK(calog__capsNet(&caps, false, "unix:/tmp/A.sock", 0));
  CHECK(!calog__capsNet(&caps, false, "unix:/tmp/a.sock", 0));
  CHECK(!calog__capsNet(&caps, false, "unix:/tmp/A.sock/..", 0));
  CHECK(calog__capsNet(&caps, true, "unix:/anywhere/x.sock", 0));
  CHECK(!calog__capsNet(&caps, true, "127.0.0.1", 0));
  calog__capsFree(&caps);
  calogValueFree(&m);
  /* an IPv6 host in brackets grants that address (the brackets were compared literally: "[::1]:80" granted nothing) */
  calogValueAgg(&m, CALOG_AGG_MAP);
  calogValueAgg(&fs, CALOG_AGG_MAP);
  set(&fs, "connect", list1("[::1]:80"));
  set(&m, "net", fs);
  CHECK_EQ(calog__capsParse(&m, &caps, &err), CALOG_OK);
  CHECK(calog__capsNet(&caps, false, "::1", 80));
  CHECK(!calog__capsNet(&caps, false, "::1", 81));
  CHECK(!calog__capsNet(&caps, false, "[::1]", 80));
  CHECK(!calog__capsNet(&caps, false, "::2", 80));
  CHECK(calog__capsNetHost(&caps, "::1"));
  CHECK(!calog__capsNetHost(&caps, "localhost"));
  calog__capsFree(&caps);
  calogValueFree(&m);
  calogValueAgg(&m, CALOG_AGG_MAP);
  calogValueAgg(&fs, CALOG_AGG_MAP);
  set(&fs, "connect", list1("unix:"));
  set(&m, "net", fs);
  CHECK_EQ(calog__capsParse(&m, &caps, &err), CALOG_ERR_ARG);
  CHECK_CONTAINS(calogErrorMessage(&err, NULL), "names no path");
  calogValueFree(&m);
  calogValueFree(&err);
}

static void testPaths(void) {
  CalogCapsT caps;
  CalogValueT err = calogValueNil();
  CHECK_EQ(grants(&caps, &err), CALOG_OK);
  char p[600], why[600];
  snprintf(p, sizeof p, "%s/a.txt", root);
  int fd = calog__capsOpen(&caps, p, O_RDONLY, 0, why, sizeof why);
  CHECK(fd >= 0);
  if (fd >= 0) close(fd);
  /* relative to the working directory (the root's parent here) */
  CHECK_EQ(chdir(root), 0);
  fd = calog__capsOpen(&caps, "a.txt", O_RDONLY, 0, why, sizeof why);
  CHECK(fd >= 0);
  if (fd >= 0) close(fd);
  fd = calog__capsOpen(&caps, "sub/../a.txt", O_RDONLY, 0, why, sizeof why);
  CHECK(fd >= 0);
  if (fd >= 0) close(fd);
  /* .. out of the root */
  CHECK_EQ(calog__capsOpen(&caps, "../outside/secret", O_RDONLY, 0, why, sizeof why), -2);
  CHECK_CONTAINS(why, "fs.read");
  snprintf(p, sizeof p, "%s/sub/../../outside/secret", root);
  CHECK_EQ(calog__capsOpen(&caps, p, O_RDONLY, 0, why, sizeof why), -2);
  /* an absolute path elsewhere */
  CHECK_EQ(calog__capsOpen(&caps, "/etc/passwd", O_RDONLY, 0, why, sizeof why), -2);
  /* a link to a directory inside, then a file below it or `..` back up through it; a loop of links */
  fd = calog__capsOpen(&caps, "sub-link/b.txt", O_RDONLY, 0, why, sizeof why);
  CHECK(fd >= 0);
  if (fd >= 0) close(fd);
  fd = calog__capsOpen(&caps, "sub-link/../a.txt", O_RDONLY, 0, why, sizeof why);
  CHECK(fd >= 0);
  if (fd >= 0) close(fd);
  CHECK_EQ(calog__capsOpen(&caps, "sub-link/../../outside/secret", O_RDONLY, 0, why, sizeof why), -2);
  CHECK_EQ(calog__capsOpen(&caps, "loop1", O_RDONLY, 0, why, sizeof why), -2);
  CHECK_EQ(calog__capsOpen(&caps, "sub/./missing/x", O_RDONLY, 0, why, sizeof why), -1);
  /* symlinks pointing out: absolute and relative */
  CHECK_EQ(calog__capsOpen(&caps, "abs-link", O_RDONLY, 0, why, sizeof why), -2);
  CHECK_EQ(calog__capsOpen(&caps, "rel-link", O_RDONLY, 0, why, sizeof why), -2);
  /* a symlink that stays inside is fine */
  fd = calog__capsOpen(&caps, "in-link", O_RDONLY, 0, why, sizeof why);
  CHECK(fd >= 0);
  if (fd >= 0) close(fd);
  /* a missing file inside: an ordinary failure, not a denial */
  CHECK_EQ(calog__capsOpen(&caps, "missing", O_RDONLY, 0, why, sizeof why), -1);
  CHECK_EQ(errno, ENOENT);
  /* writing needs fs.write: root is read-only, root/w is writable */
  CHECK_EQ(calog__capsOpen(&caps, "new.txt", O_WRONLY | O_CREAT, 0600, why, sizeof why), -2);
  CHECK_CONTAINS(why, "fs.write");
  fd = calog__capsOpen(&caps, "w/new.txt", O_WRONLY | O_CREAT | O_TRUNC, 0600, why, sizeof why);
  CHECK(fd >= 0);
  if (fd >= 0) close(fd);
  /* swapped: a file opened once, then replaced by a symlink to the outside: the next open is refused and
   * creating through the link writes nothing outside */
  fd = calog__capsOpen(&caps, "w/swap.txt", O_WRONLY | O_CREAT | O_TRUNC, 0600, why, sizeof why);
  CHECK(fd >= 0);
  if (fd >= 0) close(fd);
  char target[600];
  snprintf(target, sizeof target, "%s/created-outside", outside);
  CHECK_EQ(unlink("w/swap.txt"), 0);
  CHECK_EQ(symlink(target, "w/swap.txt"), 0);
  CHECK_EQ(calog__capsOpen(&caps, "w/swap.txt", O_WRONLY | O_CREAT | O_TRUNC, 0600, why, sizeof why), -2);
  CHECK(access(target, F_OK) != 0);
  /* parents for unlink/rename */
  const char *base;
  int dir = calog__capsOpenParent(&caps, "w/new.txt", true, &base, why, sizeof why);
  CHECK(dir >= 0);
  CHECK(strcmp(base, "new.txt") == 0);
  if (dir >= 0) {
    CHECK_EQ(unlinkat(dir, base, 0), 0);
    close(dir);
  }
  CHECK_EQ(calog__capsOpenParent(&caps, "a.txt", true, &base, why, sizeof why), -2);
  CHECK_EQ(calog__capsOpenParent(&caps, "w/..", true, &base, why, sizeof why), -1);
  snprintf(p, sizeof p, "%s/x", outside);
  CHECK_EQ(calog__capsOpenParent(&caps, p, true, &base, why, sizeof why), -2);
  /* env and net allow-lists */
  CHECK(calog__capsEnv(&caps, "HOME"));
  CHECK(!calog__capsEnv(&caps, "PATH"));
  CHECK(calog__capsNet(&caps, false, "127.0.0.1", 9000));
  CHECK(!calog__capsNet(&caps, false, "10.0.0.1", 9000));
  CHECK(calog__capsNet(&caps, true, "0.0.0.0", 8080));
  CHECK(!calog__capsNet(&caps, true, "0.0.0.0", 8081));
  calog__capsFree(&caps);
  /* the sandbox opens nothing */
  CHECK_EQ(calog__capsParse(NULL, &caps, &err), CALOG_OK);
  CHECK_EQ(calog__capsOpen(&caps, "a.txt", O_RDONLY, 0, why, sizeof why), -2);
  CHECK_CONTAINS(why, "permission denied: reading a file needs the 'fs.read' capability");
  CHECK(!calog__capsNet(&caps, false, "127.0.0.1", 1));
  calogValueFree(&err);
}

/* ---- the output sink, through a real context of each engine, on the host thread and on its own ---- */
static char sinkBuf[4096];
static size_t sinkLen;
static int sinkStderr;

static int32_t sinkFn(CalogValueT *args, int32_t argc, CalogValueT *result, void *ud) {
  (void)result, (void)ud;
  if (argc == 2 && args[0].type == CALOG_STRING && sinkLen + (size_t)args[0].as.s.length < sizeof sinkBuf) {
    memcpy(sinkBuf + sinkLen, args[0].as.s.bytes, (size_t)args[0].as.s.length);
    sinkLen += (size_t)args[0].as.s.length;
    if (args[1].type == CALOG_STRING && strcmp(args[1].as.s.bytes, "stderr") == 0) sinkStderr++;
  }
  return CALOG_OK;
}

static void testOutput(void) {
  static const char *const engines[] = {"lua", "js", "squirrel"};
  static const char *const hello[] = {"print('hi', 1)", "print('hi', 1); console.error('e')", "print(\"hi 1\\n\"); error(\"e\\n\");"};
  static const char *const want[] = {"hi\t1\n", "hi 1\ne\n", "hi 1\ne\n"};
  static const char *const flood[] = {"while true do print('0123456789') end", "while (true) print('0123456789')",
                                      "while (true) print(\"0123456789\\n\");"};
  CalogT *rt = calogCreate();
  for (int threaded = 0; threaded < 2; threaded++) {
    for (int e = 0; e < 3; e++) {
      CalogValueT opts, limits, r = calogValueNil();
      calogValueAgg(&opts, CALOG_AGG_MAP);
      calogValueAgg(&limits, CALOG_AGG_MAP);
      set(&limits, "output", calogValueInt(95));
      set(&opts, "limits", limits);
      set(&opts, "output", calogValueFn(calogFnCreate(sinkFn, NULL, NULL)));
      CalogContextIdT id;
      CHECK_EQ(calogContextCreateWith(rt, engines[e], threaded ? CALOG_CONTEXT_OWN_THREAD : 0, &opts, &id, &r), CALOG_OK);
      calogValueFree(&opts);
      sinkLen = 0;
      sinkStderr = 0;
      CHECK_EQ(calogContextEval(rt, id, hello[e], (int64_t)strlen(hello[e]), NULL, &r), CALOG_OK);
      calogValueFree(&r);
      CHECK_EQ(sinkLen, strlen(want[e]));
      CHECK(memcmp(sinkBuf, want[e], sinkLen) == 0);
      CHECK_EQ(sinkStderr, e == 0 ? 0 : 1);
      CHECK_EQ(calogContextEval(rt, id, flood[e], (int64_t)strlen(flood[e]), NULL, &r), CALOG_ERR_LIMIT);
      CHECK_CONTAINS(calogErrorMessage(&r, NULL), "output limit");
      calogValueFree(&r);
      CHECK(sinkLen <= 95);
      CHECK_EQ(calogContextDestroy(rt, id), CALOG_OK);
      /* "ignore" */
      calogValueAgg(&opts, CALOG_AGG_MAP);
      set(&opts, "output", str("ignore"));
      CHECK_EQ(calogContextCreateWith(rt, engines[e], threaded ? CALOG_CONTEXT_OWN_THREAD : 0, &opts, &id, &r), CALOG_OK);
      calogValueFree(&opts);
      CHECK_EQ(calogContextEval(rt, id, hello[e], (int64_t)strlen(hello[e]), NULL, &r), CALOG_OK);
      calogValueFree(&r);
      CHECK_EQ(calogContextDestroy(rt, id), CALOG_OK);
      /* bad capabilities fail the creation with ERR_ARG */
      calogValueAgg(&opts, CALOG_AGG_MAP);
      set(&opts, "capabilities", str("everything"));
      CHECK_EQ(calogContextCreateWith(rt, engines[e], threaded ? CALOG_CONTEXT_OWN_THREAD : 0, &opts, &id, &r), CALOG_ERR_ARG);
      calogValueFree(&r);
      calogValueFree(&opts);
    }
  }
  calogDestroy(rt);
}

int main(void) {
  char base[] = "/tmp/calog-policy-XXXXXX";
  if (mkdtemp(base) == NULL) return 1;
  char buf[300];
  snprintf(root, sizeof root, "%s/root", base);
  snprintf(outside, sizeof outside, "%s/outside", base);
  mkdir(root, 0700);
  mkdir(outside, 0700);
  snprintf(buf, sizeof buf, "%s/sub", root);
  mkdir(buf, 0700);
  snprintf(buf, sizeof buf, "%s/w", root);
  mkdir(buf, 0700);
  snprintf(buf, sizeof buf, "%s/a.txt", root);
  writeFile(buf, "inside");
  snprintf(buf, sizeof buf, "%s/secret", outside);
  writeFile(buf, "secret");
  char link[300];
  snprintf(link, sizeof link, "%s/abs-link", root);
  symlink(buf, link);
  snprintf(link, sizeof link, "%s/rel-link", root);
  symlink("../outside/secret", link);
  snprintf(link, sizeof link, "%s/in-link", root);
  symlink("sub/../a.txt", link);
  snprintf(link, sizeof link, "%s/sub-link", root);
  symlink("sub", link);
  snprintf(buf, sizeof buf, "%s/sub/b.txt", root);
  writeFile(buf, "below");
  snprintf(link, sizeof link, "%s/loop1", root);
  symlink("loop2", link);
  snprintf(link, sizeof link, "%s/loop2", root);
  symlink("loop1", link);
  testParse();
  testPaths();
  /* again without openat2 (kernels before 5.6): the user-space walk must give the same answers */
  snprintf(buf, sizeof buf, "%s/w/swap.txt", root);
  unlink(buf);
  calog__pathNoOpenat2 = true;
  testPaths();
  calog__pathNoOpenat2 = false;
  testOutput();
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf %s", base);
  if (system(cmd) != 0) return 1;
  return checkSummary("policy");
}
