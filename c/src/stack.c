/* stack.c -- how much C stack this thread has left. Engines recurse on the C stack (parsers, compilers,
 * regexp and JSON code, calls through natives), and a host thread's stack is the host's: its size is not
 * ours to choose (Bun's and Deno's main threads, a C host's small worker). Fixed recursion caps alone cannot
 * fit every thread, so the entries into an interpreter and the engines' own checks ask here. */
#include "internal.h"

#include <stdint.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "stack.h"

__thread unsigned calog__finalizing;
static _Thread_local char *stackLo; /* lowest usable address of this thread's stack (NULL: not read yet) */
static _Thread_local char *stackEnd; /* the thread's real end, as read (stackLo without the host's mark) */
static _Thread_local bool stackKnown;

static void stackInit(void) {
  stackKnown = true; /* once per thread, even if the bounds cannot be read */
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return;
  void *addr = NULL;
  size_t size = 0, guard = 0;
  if (pthread_attr_getstack(&attr, &addr, &size) == 0 && addr != NULL) {
    pthread_attr_getguardsize(&attr, &guard);
    /* the guard pages sit inside [addr, addr + size) for threads pthread made; skipping them is harmless
     * for the main thread (whose reported bottom is already a conservative rlimit bound) */
    stackLo = (char *)addr + guard;
    /* The main thread's stack grows on demand up to RLIMIT_STACK. glibc reports that bound; musl reports
     * only what is mapped so far (often ~100 KB), which would refuse every entry on a host thread. There,
     * the bottom is the top minus the limit (8 MB assumed if unlimited), less a margin for the arguments and
     * environment the kernel placed at the top. */
    struct rlimit rl;
    if ((pid_t)syscall(SYS_gettid) == getpid() && getrlimit(RLIMIT_STACK, &rl) == 0) {
      size_t lim = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > ((rlim_t)1 << 30) ? (size_t)8 << 20 : (size_t)rl.rlim_cur;
      char *hi = (char *)addr + size;
      if (lim > (size_t)256 << 10 && (uintptr_t)hi > lim) {
        char *lo = hi - lim + ((size_t)128 << 10);
        if (lo < stackLo) stackLo = lo;
      }
    }
  }
  pthread_attr_destroy(&attr);
  stackEnd = stackLo;
}

size_t calogStackLeft(void) {
  if (!stackKnown) stackInit();
  if (stackEnd == NULL) return SIZE_MAX;
  char *sp = (char *)__builtin_frame_address(0);
  return sp > stackEnd ? (size_t)(sp - stackEnd) : 0;
}

void calogStackFloorHere(void) {
  if (!stackKnown) stackInit();
  char *here = (char *)__builtin_frame_address(0);
  stackLo = stackEnd == NULL || here > stackEnd ? here : stackEnd;
}

size_t calog__stackLeft(void) {
  if (!stackKnown) stackInit();
  if (stackLo == NULL) return SIZE_MAX;
  char *sp = (char *)__builtin_frame_address(0);
  return sp > stackLo ? (size_t)(sp - stackLo) : 0;
}
