/* path.c -- file access under fs grants. The kernel resolves every path beneath its root (openat2 with
 * RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS): `..` and symlinks cannot leave the root, and resolution and open
 * are one step, so there is no window between a check and the open for a swapped symlink to use. */
#include "policy.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static int openBeneath(int dirfd, const char *rel, int flags, mode_t mode) {
  struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC),
                         .mode = (flags & (O_CREAT | O_TMPFILE)) ? (uint64_t)mode : 0,
                         .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
  return (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
}

/* The path made absolute (against the working directory) without resolving anything. Caller frees. */
static char *absolute(const char *path) {
  if (path[0] == '/') return strdup(path);
  char cwd[4096];
  if (getcwd(cwd, sizeof cwd) == NULL) return NULL;
  size_t a = strlen(cwd), b = strlen(path);
  char *p = malloc(a + b + 2);
  if (p == NULL) return NULL;
  memcpy(p, cwd, a);
  p[a] = '/';
  memcpy(p + a + 1, path, b + 1);
  return p;
}

/* rel receives the part of abs below root ("." for the root itself), or NULL when abs is not under it. */
static const char *below(const char *abs, const char *root) {
  size_t n = strlen(root);
  if (n == 1 && root[0] == '/') return abs[1] ? abs + 1 : ".";
  if (strncmp(abs, root, n) != 0) return NULL;
  if (abs[n] == '\0') return ".";
  if (abs[n] != '/') return NULL;
  while (abs[n] == '/') n++;
  return abs[n] ? abs + n : ".";
}

/* Opens rel beneath each root in turn; the first that resolves wins. */
static int openUnder(char *const *roots, int32_t n, const char *path, int flags, mode_t mode, bool *escaped) {
  char *abs = absolute(path);
  if (abs == NULL) return -1;
  int fd = -1, lastErr = ENOENT;
  *escaped = true;
  for (int32_t i = 0; i < n && fd < 0; i++) {
    const char *rel = below(abs, roots[i]);
    if (rel == NULL) continue;
    int dir = open(roots[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) {
      lastErr = errno;
      continue;
    }
    fd = openBeneath(dir, rel, flags, mode);
    lastErr = errno;
    close(dir);
    if (fd < 0 && lastErr == ENOSYS) break;
    if (fd < 0 && lastErr != EXDEV && lastErr != ELOOP) *escaped = false; /* resolved beneath it, then failed */
    if (fd >= 0) *escaped = false;
  }
  free(abs);
  errno = lastErr;
  return fd;
}

static bool writes(int flags) {
  return (flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC | O_APPEND)) != 0;
}

int calog__capsOpen(const CalogCapsT *caps, const char *path, int flags, mode_t mode, char *denied, size_t deniedCap) {
  if (caps->profile == CALOG_PROFILE_TRUSTED) return open(path, flags | O_CLOEXEC, mode);
  bool w = writes(flags);
  char *const *roots = w ? caps->fsWrite : caps->fsRead;
  int32_t n = w ? caps->nWrite : caps->nRead;
  const char *capName = w ? "fs.write" : "fs.read";
  if (n == 0) {
    calog__capsDenied(caps, denied, deniedCap, w ? "writing a file" : "reading a file", capName);
    return -2;
  }
  bool escaped;
  int fd = openUnder(roots, n, path, flags, mode, &escaped);
  if (fd >= 0) return fd;
  if (errno == ENOSYS) {
    snprintf(denied, deniedCap, CALOG_DENIED_PREFIX "'%s': fs grants need openat2 (Linux 5.6 or later)", path);
    return -2;
  }
  if (escaped) {
    char what[512];
    snprintf(what, sizeof what, "'%s' (outside the granted roots, or through a link leading out)", path);
    calog__capsDenied(caps, denied, deniedCap, what, capName);
    return -2;
  }
  return -1;
}

int calog__capsOpenParent(const CalogCapsT *caps, const char *path, bool write, const char **base, char *denied,
                          size_t deniedCap) {
  const char *slash = strrchr(path, '/');
  *base = slash ? slash + 1 : path;
  if (**base == '\0' || strcmp(*base, ".") == 0 || strcmp(*base, "..") == 0) {
    errno = EINVAL;
    return -1;
  }
  char *dir = slash == NULL ? strdup(".") : slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
  if (dir == NULL) return -1;
  int fd;
  if (caps->profile == CALOG_PROFILE_TRUSTED) {
    fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  } else {
    char *const *roots = write ? caps->fsWrite : caps->fsRead;
    int32_t n = write ? caps->nWrite : caps->nRead;
    const char *capName = write ? "fs.write" : "fs.read";
    bool escaped = true;
    fd = n == 0 ? -1 : openUnder(roots, n, dir, O_PATH | O_DIRECTORY, 0, &escaped);
    if (fd < 0 && (n == 0 || escaped || errno == ENOSYS)) {
      char what[512];
      snprintf(what, sizeof what, "changing '%s'", path);
      calog__capsDenied(caps, denied, deniedCap, what, capName);
      fd = -2;
    }
  }
  free(dir);
  return fd;
}
