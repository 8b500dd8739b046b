/* path.c -- file access under fs grants. The kernel resolves every path beneath its root (openat2 with
 * RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS): `..` and symlinks cannot leave the root, and resolution and open
 * are one step, so there is no window between a check and the open for a swapped symlink to use.
 * Kernels before 5.6 (and qemu-user before 8) have no openat2: there, the same rules are applied one
 * component at a time (walkBeneath), each step opened relative to the directory the previous one opened,
 * never following a link by name, so a swap between two steps still cannot lead out. */
#include "policy.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

bool calog__pathNoOpenat2;

#define WALK_MAX_DIRS 256 /* directories open at once while walking (the depth below the root) */
#define WALK_MAX_LINKS 40 /* links followed in one resolution, as the kernel's own limit */

/* The resolution openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) does, in user space: components are opened
 * one at a time with O_NOFOLLOW relative to the directory already open; `..` pops that stack and fails with
 * EXDEV at the root; a link is read (from the directory it was found in) and its text spliced into the rest
 * of the path, an absolute one failing with EXDEV (as RESOLVE_BENEATH refuses them). */
static int walkBeneath(int rootfd, const char *rel, int flags, mode_t mode) {
  int dirs[WALK_MAX_DIRS];
  int depth = 0, links = 0, fd = -1, err = 0;
  size_t cap = strlen(rel) + 1;
  char *rest = malloc(cap);
  if (rest == NULL) return -1;
  memcpy(rest, rel, cap);
  dirs[0] = dup(rootfd);
  if (dirs[0] < 0) {
    free(rest);
    return -1;
  }
  char *p = rest;
  for (;;) {
    while (*p == '/') p++;
    if (*p == '\0') { /* nothing left: the path named a directory already open ("." or "a/") */
      fd = openat(dirs[depth], ".", flags | O_CLOEXEC, mode);
      if (fd < 0) err = errno;
      break;
    }
    char *end = strchr(p, '/');
    bool last = end == NULL;
    if (end) *end = '\0';
    char *next = last ? p + strlen(p) : end + 1;
    while (!last && *next == '/') next++;
    if (!last && *next == '\0') last = true; /* "a/": a is the last component (and must be a directory) */
    if (strcmp(p, ".") == 0) {
      p = next;
      continue;
    }
    if (strcmp(p, "..") == 0) {
      if (depth == 0) {
        err = EXDEV;
        break;
      }
      close(dirs[depth--]);
      p = next;
      continue;
    }
    int f = last ? openat(dirs[depth], p, flags | O_NOFOLLOW | O_CLOEXEC, mode)
                 : openat(dirs[depth], p, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (f < 0) {
      /* O_NOFOLLOW met a link: ELOOP, or ENOTDIR when O_DIRECTORY was asked for */
      struct stat st;
      int e = errno;
      if ((e != ELOOP && e != ENOTDIR) || fstatat(dirs[depth], p, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISLNK(st.st_mode)) {
        err = e;
        break;
      }
    } else {
      struct stat st;
      if (fstat(f, &st) != 0) {
        err = errno;
        close(f);
        break;
      }
      if (S_ISLNK(st.st_mode)) { /* O_PATH opens the link itself: resolved below */
        close(f);
      } else if (last) {
        fd = f;
        break;
      } else if (!S_ISDIR(st.st_mode)) {
        close(f);
        err = ENOTDIR;
        break;
      } else if (depth + 1 == WALK_MAX_DIRS) {
        close(f);
        err = ENAMETOOLONG;
        break;
      } else {
        dirs[++depth] = f;
        p = next;
        continue;
      }
    }
    /* a link: read it where it was found, then resolve its text followed by what remains */
    if (++links > WALK_MAX_LINKS) {
      err = ELOOP;
      break;
    }
    char target[4096];
    ssize_t n = readlinkat(dirs[depth], p, target, sizeof target - 1);
    if (n < 0 || n == (ssize_t)sizeof target - 1) {
      err = n < 0 ? errno : ENAMETOOLONG;
      break;
    }
    target[n] = '\0';
    if (target[0] == '/') {
      err = EXDEV;
      break;
    }
    size_t tail = strlen(next), need = (size_t)n + 1 + tail + 1;
    char *joined = malloc(need);
    if (joined == NULL) {
      err = ENOMEM;
      break;
    }
    memcpy(joined, target, (size_t)n);
    joined[n] = '/';
    memcpy(joined + n + 1, next, tail + 1);
    if (tail == 0) joined[n] = '\0'; /* no trailing slash unless there was one */
    free(rest);
    rest = p = joined;
  }
  while (depth >= 0) close(dirs[depth--]);
  free(rest);
  if (fd < 0) errno = err;
  return fd;
}

static int openBeneath(int dirfd, const char *rel, int flags, mode_t mode) {
  if (!calog__pathNoOpenat2) {
    struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC),
                           .mode = (flags & (O_CREAT | O_TMPFILE)) ? (uint64_t)mode : 0,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    int fd = (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
    if (fd >= 0 || errno != ENOSYS) return fd;
  }
  return walkBeneath(dirfd, rel, flags, mode);
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

static int capsOpen(const CalogCapsT *caps, const char *path, int flags, mode_t mode, char *denied, size_t deniedCap) {
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
  if (escaped) {
    char what[512];
    snprintf(what, sizeof what, "'%s' (outside the granted roots, or through a link leading out)", path);
    calog__capsDenied(caps, denied, deniedCap, what, capName);
    return -2;
  }
  return -1;
}

/* What a file that is not a regular one is, for the refusal. */
static const char *fileKind(mode_t m) {
  return S_ISFIFO(m) ? "a FIFO" : S_ISDIR(m) ? "a directory" : S_ISCHR(m) ? "a character device"
       : S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : "not a regular file";
}

/* Only a regular file stays open, blocking again unless the caller asked for O_NONBLOCK; else fd is closed and -2
 * returned with the refusal in denied (-1 and errno if fstat or fcntl failed). A FIFO's open waits in the kernel for
 * its other end and its reads for data, a device's likewise, where no timeout, interrupt() or dispose reaches (pass
 * 31a: a FIFO beneath a granted /tmp hung the script's context until a writer came). */
static int regularOnly(int fd, const char *path, int flags, char *denied, size_t deniedCap) {
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    snprintf(denied, deniedCap, CALOG_DENIED_PREFIX "'%s' is %s: a script opens regular files only (one could block "
             "where no limit stops it; the \"trusted\" profile opens anything)", path, fileKind(st.st_mode));
    return -2;
  }
  if ((flags & O_NONBLOCK) == 0) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
      int e = errno;
      close(fd);
      errno = e;
      return -1;
    }
  }
  return fd;
}

int calog__capsOpen(const CalogCapsT *caps, const char *path, int flags, mode_t mode, char *denied, size_t deniedCap) {
  if (!calog__fdTake()) return -1; /* errno EMFILE: the process's share is taken */
  int fd;
  if (caps->profile == CALOG_PROFILE_TRUSTED) { /* as a stand-alone interpreter opens it */
    fd = capsOpen(caps, path, flags, mode, denied, deniedCap);
  } else { /* never blocking in open(): see regularOnly */
    fd = capsOpen(caps, path, flags | O_NONBLOCK | O_NOCTTY, mode, denied, deniedCap); /* a tty never controls us */
    if (fd >= 0) {
      fd = regularOnly(fd, path, flags, denied, deniedCap);
    } else if (fd == -1 && errno == ENXIO) {
      /* no descriptor to look at: a FIFO opened for writing that no one reads (O_NONBLOCK says so), a unix socket, a
       * device with no driver; resolved beneath a root, so its kind (the message's alone) is the path's */
      struct stat st;
      snprintf(denied, deniedCap, CALOG_DENIED_PREFIX "'%s' is %s: a script opens regular files only (one could block "
               "where no limit stops it; the \"trusted\" profile opens anything)", path,
               stat(path, &st) == 0 ? fileKind(st.st_mode) : "a FIFO, a socket or a device");
      fd = -2;
    }
  }
  if (fd < 0) {
    int e = errno;
    calog__fdGive();
    errno = e;
  }
  return fd;
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
    if (fd < 0 && (n == 0 || escaped)) {
      char what[512];
      snprintf(what, sizeof what, "changing '%s'", path);
      calog__capsDenied(caps, denied, deniedCap, what, capName);
      fd = -2;
    }
  }
  free(dir);
  return fd;
}
