/* caps.c -- the "capabilities" option: profiles and grants, and the allow-list checks (env, net). */
#include "policy.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

static bool isStr(const CalogValueT *v, const char *s) {
  return v && v->type == CALOG_STRING && (size_t)v->as.s.length == strlen(s) && memcmp(v->as.s.bytes, s, strlen(s)) == 0;
}

static void freeList(char **list, int32_t n) {
  for (int32_t i = 0; i < n; i++) free(list[i]);
  free(list);
}

void calog__capsFree(CalogCapsT *caps) {
  freeList(caps->fsRead, caps->nRead);
  freeList(caps->fsWrite, caps->nWrite);
  freeList(caps->env, caps->nEnv);
  freeList(caps->connect, caps->nConnect);
  freeList(caps->listen, caps->nListen);
  memset(caps, 0, sizeof *caps);
}

/* A list of strings (nil or absent = empty). canonical: each entry is an existing directory, stored as its
 * realpath. */
static int32_t parseList(const CalogValueT *v, const char *what, bool canonical, char ***out, int32_t *n,
                         CalogValueT *err) {
  *out = NULL;
  *n = 0;
  if (v == NULL || v->type == CALOG_NIL) return CALOG_OK;
  if (v->type != CALOG_AGGREGATE || v->as.agg->pairCount != 0)
    return calogFail(err, CALOG_ERR_ARG, "capabilities.%s must be a list of strings", what);
  int64_t count = v->as.agg->arrayCount;
  if (count > 4096) return calogFail(err, CALOG_ERR_ARG, "capabilities.%s: too many entries", what);
  char **list = calloc((size_t)count + 1, sizeof *list);
  if (list == NULL) return calogFail(err, CALOG_ERR_OOM, "out of memory");
  for (int64_t i = 0; i < count; i++) {
    const CalogValueT *e = &v->as.agg->array[i];
    if (e->type != CALOG_STRING || e->as.s.length == 0 || memchr(e->as.s.bytes, 0, (size_t)e->as.s.length)) {
      freeList(list, (int32_t)i);
      return calogFail(err, CALOG_ERR_ARG, "capabilities.%s[%lld] must be a non-empty string", what, (long long)i);
    }
    if (canonical) {
      list[i] = realpath(e->as.s.bytes, NULL);
      if (list[i] == NULL) {
        freeList(list, (int32_t)i);
        return calogFail(err, CALOG_ERR_ARG, "capabilities.%s: cannot resolve '%s' (%s)", what, e->as.s.bytes,
                         strerror(errno));
      }
    } else if ((list[i] = strdup(e->as.s.bytes)) == NULL) {
      freeList(list, (int32_t)i);
      return calogFail(err, CALOG_ERR_OOM, "out of memory");
    }
  }
  *out = list;
  *n = (int32_t)count;
  return CALOG_OK;
}

static int32_t parseBool(const CalogValueT *v, const char *what, bool *out, CalogValueT *err) {
  if (v == NULL || v->type == CALOG_NIL) return CALOG_OK;
  if (v->type != CALOG_BOOL) return calogFail(err, CALOG_ERR_ARG, "capabilities.%s must be a boolean", what);
  *out = v->as.b;
  return CALOG_OK;
}

static int32_t checkKeys(const CalogValueT *map, const char *what, const char *const *keys, CalogValueT *err) {
  for (int64_t i = 0; i < map->as.agg->pairCount; i++) {
    const CalogValueT *k = &map->as.agg->pairs[i].key;
    bool known = false;
    for (const char *const *p = keys; *p && !known; p++) known = isStr(k, *p);
    if (!known)
      return calogFail(err, CALOG_ERR_ARG, "%s: unknown key '%s'", what, k->type == CALOG_STRING ? k->as.s.bytes : "?");
  }
  return CALOG_OK;
}

static bool isMap(const CalogValueT *v) {
  return v && v->type == CALOG_AGGREGATE && (v->as.agg->arrayCount == 0);
}

int32_t calog__capsParse(const CalogValueT *v, CalogCapsT *caps, CalogValueT *err) {
  memset(caps, 0, sizeof *caps);
  if (v == NULL || v->type == CALOG_NIL || isStr(v, "sandbox")) return CALOG_OK;
  if (isStr(v, "trusted")) {
    caps->profile = CALOG_PROFILE_TRUSTED;
    caps->process = caps->debug = caps->envAll = true;
    return CALOG_OK;
  }
  if (!isMap(v))
    return calogFail(err, CALOG_ERR_ARG, "capabilities must be \"sandbox\", \"trusted\" or an object of grants");
  static const char *const top[] = {"fs", "env", "process", "debug", "net", NULL};
  static const char *const fsKeys[] = {"read", "write", NULL};
  static const char *const netKeys[] = {"connect", "listen", NULL};
  int32_t st = checkKeys(v, "capabilities", top, err);
  caps->profile = CALOG_PROFILE_GRANTS;
  const CalogValueT *fs = calog__optGet(v, "fs"), *net = calog__optGet(v, "net");
  if (st == CALOG_OK && fs && fs->type != CALOG_NIL) {
    if (!isMap(fs)) st = calogFail(err, CALOG_ERR_ARG, "capabilities.fs must be { read?: [dirs], write?: [dirs] }");
    if (st == CALOG_OK) st = checkKeys(fs, "capabilities.fs", fsKeys, err);
    if (st == CALOG_OK) st = parseList(calog__optGet(fs, "read"), "fs.read", true, &caps->fsRead, &caps->nRead, err);
    if (st == CALOG_OK) st = parseList(calog__optGet(fs, "write"), "fs.write", true, &caps->fsWrite, &caps->nWrite, err);
  }
  if (st == CALOG_OK) st = parseList(calog__optGet(v, "env"), "env", false, &caps->env, &caps->nEnv, err);
  if (st == CALOG_OK) st = parseBool(calog__optGet(v, "process"), "process", &caps->process, err);
  if (st == CALOG_OK) st = parseBool(calog__optGet(v, "debug"), "debug", &caps->debug, err);
  if (st == CALOG_OK && net && net->type != CALOG_NIL) {
    if (!isMap(net)) st = calogFail(err, CALOG_ERR_ARG, "capabilities.net must be { connect?: [...], listen?: [...] }");
    if (st == CALOG_OK) st = checkKeys(net, "capabilities.net", netKeys, err);
    if (st == CALOG_OK) st = parseList(calog__optGet(net, "connect"), "net.connect", false, &caps->connect, &caps->nConnect, err);
    if (st == CALOG_OK) st = parseList(calog__optGet(net, "listen"), "net.listen", false, &caps->listen, &caps->nListen, err);
    for (int32_t i = 0; st == CALOG_OK && i < caps->nConnect + caps->nListen; i++) {
      const char *p = i < caps->nConnect ? caps->connect[i] : caps->listen[i - caps->nConnect];
      if (strncmp(p, "unix:", 5) == 0) { /* a unix-domain path, taken whole (no port): "unix:/path" or "unix:*" */
        if (p[5] == '\0') st = calogFail(err, CALOG_ERR_ARG, "capabilities.net: '%s' names no path (\"unix:/path\" or \"unix:*\")", p);
        continue;
      }
      const char *colon = strrchr(p, ':');
      char *end = NULL;
      long port = colon && strcmp(colon + 1, "*") != 0 ? strtol(colon + 1, &end, 10) : 0;
      if (colon == NULL || colon == p || (end && (*end != '\0' || end == colon + 1 || port < 0 || port > 65535)))
        st = calogFail(err, CALOG_ERR_ARG, "capabilities.net: '%s' is not \"host:port\" (\"*\" allowed for either)", p);
    }
  }
  if (st != CALOG_OK) calog__capsFree(caps);
  return st;
}

const char *calog__capsProfileName(const CalogCapsT *caps) {
  return caps->profile == CALOG_PROFILE_TRUSTED ? "trusted" : caps->profile == CALOG_PROFILE_GRANTS ? "grants" : "sandbox";
}

bool calog__capsAnyFs(const CalogCapsT *caps) {
  return caps->profile == CALOG_PROFILE_TRUSTED || caps->nRead > 0 || caps->nWrite > 0;
}

const char *calog__capsDenied(const CalogCapsT *caps, char *buf, size_t cap, const char *effect, const char *capability) {
  if (strcmp(capability, "trusted") == 0)
    snprintf(buf, cap, CALOG_DENIED_PREFIX "%s needs the \"trusted\" profile (this context runs under \"%s\")", effect,
             calog__capsProfileName(caps));
  else
    snprintf(buf, cap, CALOG_DENIED_PREFIX "%s needs the '%s' capability (this context runs under \"%s\")", effect,
             capability, calog__capsProfileName(caps));
  return buf;
}

bool calog__capsEnv(const CalogCapsT *caps, const char *name) {
  if (caps->envAll) return true;
  for (int32_t i = 0; i < caps->nEnv; i++)
    if (strcmp(caps->env[i], name) == 0) return true;
  return false;
}

/* Whether a "host:port" grant (checked by calog__capsParse: it has a colon) names host, or "*"; its port's text
 * in *port. A unix-domain host ("unix:/path") is a file, not a network host: only a "unix:" grant naming that
 * exact path (case and all) or "unix:*" covers it, never a "*" host, and a "unix:" grant covers no other host. */
static bool grantHost(const char *grant, const char *host, const char **port) {
  bool unixHost = strncmp(host, "unix:", 5) == 0, unixGrant = strncmp(grant, "unix:", 5) == 0;
  if (unixHost || unixGrant) {
    *port = "*";
    return unixHost && unixGrant && (strcmp(grant + 5, "*") == 0 || strcmp(grant, host) == 0);
  }
  const char *colon = strrchr(grant, ':');
  const char *h = grant;
  size_t hl = (size_t)(colon - grant);
  *port = colon + 1;
  if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') { /* an IPv6 address in brackets: "[::1]:80" grants "::1" */
    h++;
    hl -= 2;
  }
  return (hl == 1 && h[0] == '*') || (strlen(host) == hl && strncasecmp(host, h, hl) == 0);
}

bool calog__capsNet(const CalogCapsT *caps, bool listen, const char *host, int port) {
  if (caps->profile == CALOG_PROFILE_TRUSTED) return true;
  char **list = listen ? caps->listen : caps->connect;
  int32_t n = listen ? caps->nListen : caps->nConnect;
  for (int32_t i = 0; i < n; i++) {
    const char *p;
    if (grantHost(list[i], host, &p) && (strcmp(p, "*") == 0 || atoi(p) == port)) return true;
  }
  return false;
}

bool calog__capsNetHost(const CalogCapsT *caps, const char *host) {
  if (caps->profile == CALOG_PROFILE_TRUSTED) return true;
  const char *p;
  for (int32_t i = 0; i < caps->nConnect; i++)
    if (grantHost(caps->connect[i], host, &p)) return true;
  for (int32_t i = 0; i < caps->nListen; i++)
    if (grantHost(caps->listen[i], host, &p)) return true;
  return false;
}
