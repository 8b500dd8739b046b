/* stack.c -- how much C stack this thread has left. Engines recurse on the C stack (parsers, compilers,
 * regexp and JSON code, calls through natives), and a host thread's stack is the host's: its size is not
 * ours to choose (Bun's and Deno's main threads, a C host's small worker). Fixed recursion caps alone cannot
 * fit every thread, so the entries into an interpreter and the engines' own checks ask here. */
#include "internal.h"

#include <stdint.h>

#include "stack.h"

static _Thread_local char *stackLo; /* lowest usable address of this thread's stack (NULL: not read yet) */
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
  }
  pthread_attr_destroy(&attr);
}

size_t calog__stackLeft(void) {
  if (!stackKnown) stackInit();
  if (stackLo == NULL) return SIZE_MAX;
  char *sp = (char *)__builtin_frame_address(0);
  return sp > stackLo ? (size_t)(sp - stackLo) : 0;
}
