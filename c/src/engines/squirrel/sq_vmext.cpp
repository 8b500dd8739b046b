/* sq_vmext.cpp -- the two things the Squirrel adapter needs from inside the VM, done without patching it:
 *
 *  1. Memory accounting. The engine is built with SQ_EXCLUDE_DEFAULT_MEMFUNCTIONS (its documented hook), so
 *     sq_vm_malloc/realloc/free are defined here. Each block carries a 16-byte header naming the counter of
 *     the context that allocated it; the adapter points the thread's "current" counter at a context on every
 *     entry into its VM (calog__sqMemSwap). A block is always credited back to the counter it was charged to.
 *
 *  2. A stack reservation that is safe while script frames are live. Squirrel 3.1's sq_reservestack grows
 *     the value stack with a realloc but does not relocate the open outers (captured locals of running
 *     frames point into the stack), so a native that reserves while a closure has captured a local leaves
 *     that outer dangling. calog__sqReserve does what SQVM::EnterFrame does: resize, then RelocateOuters.
 *
 * Only hidden extern "C" functions leave this file; sq_vm_* keep the C++ linkage squtils.h declares. */
#include "sqpcheader.h"
#include "sqvm.h"

#include <stdint.h>

#include "sq_vmext.h"

namespace {
struct alignas(16) Header {
  int64_t *counter; /* NULL: allocated outside any context (not counted) */
  SQUnsignedInteger size;
};
static_assert(sizeof(Header) == 16, "the header keeps malloc's 16-byte alignment");

thread_local int64_t *current = NULL;
} // namespace

extern "C" int64_t *calog__sqMemSwap(int64_t *counter) {
  int64_t *prev = current;
  current = counter;
  return prev;
}

void *sq_vm_malloc(SQUnsignedInteger size) {
  Header *h = (Header *)malloc(sizeof(Header) + size);
  if (h == NULL) return NULL;
  h->counter = current;
  h->size = size;
  if (h->counter) *h->counter += (int64_t)size;
  return h + 1;
}

void *sq_vm_realloc(void *p, SQUnsignedInteger SQ_UNUSED_ARG(oldsize), SQUnsignedInteger size) {
  if (p == NULL) return sq_vm_malloc(size);
  Header *h = (Header *)p - 1;
  int64_t *counter = h->counter;
  SQUnsignedInteger old = h->size;
  Header *n = (Header *)realloc(h, sizeof(Header) + size);
  if (n == NULL) return NULL;
  n->size = size;
  if (counter) *counter += (int64_t)size - (int64_t)old;
  return n + 1;
}

void sq_vm_free(void *p, SQUnsignedInteger SQ_UNUSED_ARG(size)) {
  if (p == NULL) return;
  Header *h = (Header *)p - 1;
  if (h->counter) *h->counter -= (int64_t)h->size;
  free(h);
}

extern "C" int calog__sqReserve(HSQUIRRELVM v, SQInteger n) {
  SQUnsignedInteger need = (SQUnsignedInteger)v->_top + (SQUnsignedInteger)n;
  if (need <= v->_stack.size()) return 1;
  if (v->_nmetamethodscall) return 0; /* the VM forbids moving the stack under a metamethod */
  SQUnsignedInteger want = need + MIN_STACK_OVERHEAD;
  if (want < v->_stack.size() * 2) want = v->_stack.size() * 2; /* amortised: no realloc per push */
  v->_stack.resize(want);
  v->RelocateOuters();
  return 1;
}
