/* sq_vmext.cpp -- the things the Squirrel adapter needs from inside the VM, done without patching it:
 *
 *  1. Memory accounting. The engine is built with SQ_EXCLUDE_DEFAULT_MEMFUNCTIONS (its documented hook), so
 *     sq_vm_malloc/realloc/free are defined here. Each block carries a 16-byte header naming the counter of
 *     the context that allocated it; the adapter points the thread's "current" counter at a context on every
 *     entry into its VM (calog__sqMemSwap). A block is always credited back to the counter it was charged to.
 *     A counter has one writer, its context's thread (a VM runs on one thread and only it frees its blocks);
 *     calogContextMemory reads it from the host: relaxed atomic loads and stores (no read-modify-write).
 *
 *  2. A stack reservation that is safe while script frames are live. Squirrel 3.1's sq_reservestack grows
 *     the value stack with a realloc but does not relocate the open outers (captured locals of running
 *     frames point into the stack), so a native that reserves while a closure has captured a local leaves
 *     that outer dangling. calog__sqReserve does what SQVM::EnterFrame does: resize, then RelocateOuters.
 *
 *  3. The recursion guard. Squirrel 3.1 has no limit on script recursion: `function f() { return f() + 1 }`
 *     grows the VM's call stack and value stack until an allocation fails, and the VM does not survive a
 *     failed allocation (sqvector writes through the NULL). Threads (newthread) nest on the C stack, each
 *     with its own native-call counter, so recursion through `t.call()` overflows the C stack instead. The
 *     guard is a native debug hook (sq_setnativedebughook): it sees every call ('c' event; script debug info
 *     is off, so there are no line events) and fails the frame being entered when the VM is more than
 *     kMaxCallDepth frames or kMaxStackSlots values deep, or when this thread's C stack has grown more than
 *     kCStackBudget below its outermost entry into Squirrel or has less than CALOG_STACK_LOW left (a host
 *     thread's stack may be small). The hook cannot return an error (SQDEBUGHOOK
 *     returns void), so failFrame points the new frame's next instruction at a static _OP_THROW whose operand
 *     is the frame's register 0 (its `this`: one register always exists), set to the message: the VM raises
 *     an ordinary script error there, catchable by try/catch, and unwinds as for any throw.
 *     A hook costs every call and return, so a context's root VM runs without it and is armed on demand: by
 *     the allocator, when that VM's call stack or value stack grows past kArmBytes (about 500 frames, or 4096
 *     values), which any runaway recursion does long before the limits; it is disarmed when the outermost
 *     entry leaves. Thread VMs (rarely call-heavy, and the way to nest on the C stack) are armed for good.
 *
 *  5. Raw access for the codec (sq_adapter.c): a string's bytes, an array's item, a table's integer key, room
 *     in an array, without the API's error objects (sq_rawget of an absent key makes an error string); and
 *     the VM's error handler set only when it is not already the one given (no push and pop per entry).
 *
 * Only hidden extern "C" functions leave this file; sq_vm_* keep the C++ linkage squtils.h declares. */
#include "sqpcheader.h"
#include "sqvm.h"
#include "sqstring.h"
#include "sqfuncproto.h"
#include "sqclosure.h"
#include "sqtable.h"
#include "sqarray.h"

#include <stddef.h>
#include <stdint.h>

#include "sq_vmext.h"
#include "stack.h"

namespace {
struct alignas(16) Header {
  int64_t *counter; /* NULL: allocated outside any context (not counted) */
  SQUnsignedInteger size;
};
static_assert(sizeof(Header) == 16, "the header keeps malloc's 16-byte alignment");

thread_local int64_t *current = NULL;

inline void charge(int64_t *counter, int64_t delta) {
  __atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + delta, __ATOMIC_RELAXED);
}

/* ---- the recursion guard (3) ---- */
const SQInteger kMaxCallDepth = 100000;   /* frames on one VM's call stack (about 140 bytes each) */
const SQInteger kMaxStackSlots = 1000000; /* values on one VM's value stack (16 bytes each) */
const ptrdiff_t kCStackBudget = 1 << 20;  /* bytes of C stack below a thread's outermost entry */
const SQUnsignedInteger kArmBytes = 64 * 1024;

thread_local HSQUIRRELVM guardVm = NULL; /* the root VM this thread is running (armed on demand) */
thread_local char *stackAnchor = NULL;   /* where this thread first entered a Squirrel VM */

SQInstruction throwRegister0(_OP_THROW, 0);

void failFrame(HSQUIRRELVM v, const SQChar *message) {
  if (v->ci == NULL || type(v->ci->_closure) != OT_CLOSURE) return;
  /* a generator being created does not run its body now; a resumed one (ci->_generator set) does */
  if (_closure(v->ci->_closure)->_function->_bgenerator && v->ci->_generator == NULL) return;
  v->_stack._vals[v->_stackbase] = SQString::Create(_ss(v), message, -1);
  v->ci->_ip = &throwRegister0;
}

void guard(HSQUIRRELVM v, SQInteger event, const SQChar *, SQInteger, const SQChar *) {
  if (event != 'c') return;
  if (v->_callsstacksize > kMaxCallDepth || v->_top > kMaxStackSlots)
    failFrame(v, "stack overflow (more than 100000 nested calls, or 1000000 stack values)");
  else if ((stackAnchor != NULL && stackAnchor - (char *)__builtin_frame_address(0) > kCStackBudget) ||
           calog__stackLeft() < CALOG_STACK_LOW)
    failFrame(v, "stack overflow (calls through threads or natives nested too deeply for the C stack)");
}

void arm(HSQUIRRELVM v) {
  v->_debughook_native = guard; /* _debughook_closure stays null: scripts cannot set a debug hook */
  v->_debughook = true;
}
} // namespace

/* ---- limits (4): the hooks of calog's patch, see sq_prelude.h; the context's side is C (sq_engine.c) ---- */
extern "C" {
int calog__sqLimitTick(void *sc, long long left, long long *next, const char **message);
int calog__sqLimitRoom(void *sc, long long bytes);
int calog__sqLimitLook(void *sc);
void calog__sqMemCharged(int64_t *counter);
bool calog__sqTick(SQVM *v);
bool calog__sqSizeCheck(SQVM *v, long long n, long long elem);
}

bool calog__sqTick(SQVM *v) {
  SQSharedState *ss = _ss(v);
  if (ss->_foreignptr == NULL) { /* the VM is being made: no context yet */
    ss->_calog_budget = 1024;
    return false;
  }
  long long next = 1024;
  const char *message = NULL;
  int kind = calog__sqLimitTick(ss->_foreignptr, (long long)ss->_calog_budget, &next, &message);
  ss->_calog_budget = (SQInteger)next;
  if (kind == 0) return false;
  v->Raise_Error(_SC("%s"), message);
  return true;
}

bool calog__sqSizeCheck(SQVM *v, long long n, long long elem) {
  if (n < 0) {
    v->Raise_Error(_SC("negative size"));
    return true;
  }
  long long cap = elem > 0 ? (1LL << 36) / elem : n; /* more than 64 GiB at once: no allocator gives it */
  void *sc = _ss(v)->_foreignptr;
  if (sc != NULL && calog__sqLimitRoom(sc, n > cap ? (1LL << 36) : n * elem)) {
    v->Raise_Error(_SC("memory limit reached"));
    return true;
  }
  if (n > cap) {
    v->Raise_Error(_SC("out of memory (%lld elements of %lld bytes)"), n, elem);
    return true;
  }
  return false;
}

extern "C" {
__attribute__((visibility("hidden"))) __thread SQVM *calog__sqRexVm = NULL; /* see sq_prelude.h */
}

extern "C" bool calog__sqPoll(SQVM *v, long long cost) {
  SQSharedState *ss = _ss(v);
  ss->_calog_budget -= (SQInteger)cost;
  return ss->_calog_budget <= 0 && calog__sqTick(v);
}

extern "C" void calog__sqBudgetExpire(HSQUIRRELVM v) { _ss(v)->_calog_budget = 0; }

static thread_local int nativeCalls = 16; /* native returns on this thread until the next look (approximate) */

extern "C" void calog__sqNativeDone(SQVM *v) {
  if (--nativeCalls > 0) return;
  nativeCalls = 16;
  SQSharedState *ss = _ss(v);
  if (ss->_foreignptr != NULL && calog__sqLimitLook(ss->_foreignptr)) ss->_calog_budget = 0; /* the next tick raises */
}

extern "C" int calog__sqTickNow(HSQUIRRELVM v) { return calog__sqTick(v) ? 1 : 0; }

extern "C" void calog__sqBudgetFlush(HSQUIRRELVM v) {
  SQSharedState *ss = _ss(v);
  if (ss->_foreignptr == NULL) return;
  long long next = 1024;
  const char *message = NULL;
  (void)calog__sqLimitTick(ss->_foreignptr, (long long)ss->_calog_budget, &next, &message);
  ss->_calog_budget = (SQInteger)next;
}

extern "C" int64_t *calog__sqMemSwap(int64_t *counter) {
  int64_t *prev = current;
  current = counter;
  return prev;
}

/* A KB allocated is a step of the VM running on this thread (its next instruction polls the limits): a loop of
 * string built-ins each copying or interning a long string (toupper, slice, split, escape, `s + "y"`) ran seconds past
 * its timeout between two ticks. */
static inline void allocated(SQUnsignedInteger size) {
  if (size >= 1024 && guardVm != NULL) _ss(guardVm)->_calog_budget -= (SQInteger)(size >> 10);
}

void *sq_vm_malloc(SQUnsignedInteger size) {
  Header *h = (Header *)malloc(sizeof(Header) + size);
  if (h == NULL) return NULL;
  allocated(size);
  h->counter = current;
  h->size = size;
  if (h->counter) {
    charge(h->counter, (int64_t)size);
    calog__sqMemCharged(h->counter);
  }
  return h + 1;
}

void *sq_vm_realloc(void *p, SQUnsignedInteger SQ_UNUSED_ARG(oldsize), SQUnsignedInteger size) {
  if (p == NULL) return sq_vm_malloc(size);
  HSQUIRRELVM g = guardVm; /* deep recursion grows these two: arm the guard (it sees the frame being entered) */
  if (size >= kArmBytes && g != NULL && !g->_debughook && (p == g->_callstackdata._vals || p == g->_stack._vals))
    arm(g);
  Header *h = (Header *)p - 1;
  int64_t *counter = h->counter;
  SQUnsignedInteger old = h->size;
  Header *n = (Header *)realloc(h, sizeof(Header) + size);
  if (n == NULL) return NULL;
  if (size > old) allocated(size - old);
  n->size = size;
  if (counter) {
    charge(counter, (int64_t)size - (int64_t)old);
    if (size > old) calog__sqMemCharged(counter);
  }
  return n + 1;
}

void sq_vm_free(void *p, SQUnsignedInteger SQ_UNUSED_ARG(size)) {
  if (p == NULL) return;
  Header *h = (Header *)p - 1;
  if (h->counter) charge(h->counter, -(int64_t)h->size);
  free(h);
}

extern "C" void calog__sqGuardEnter(HSQUIRRELVM v, SqGuardSaveT *save) {
  save->vm = guardVm;
  save->anchor = stackAnchor;
  guardVm = v;
  if (stackAnchor == NULL) stackAnchor = (char *)__builtin_frame_address(0);
}

extern "C" void calog__sqGuardLeave(HSQUIRRELVM v, const SqGuardSaveT *save) {
  if (v->_callsstacksize == 0 && v->_debughook && v->_debughook_native == guard) { /* the outermost entry */
    v->_debughook = false;
    v->_debughook_native = NULL;
  }
  guardVm = save->vm;
  stackAnchor = save->anchor;
}

extern "C" void calog__sqGuardThread(HSQUIRRELVM thread) { arm(thread); }

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

extern "C" void calog__sqShrink(HSQUIRRELVM v, SQUnsignedInteger initial) {
  /* frames, open outers (pointers into the stack) or a metamethod: the stack is in use */
  if (v->_callsstacksize != 0 || v->_openouters != NULL || v->_nmetamethodscall != 0) return;
  if (v->_stack.size() > 4 * initial && (SQUnsignedInteger)v->_top + MIN_STACK_OVERHEAD < initial) {
    v->_stack.resize(initial);
    v->_stack.shrinktofit();
  }
  if (v->_alloccallsstacksize > 64) {
    v->_callstackdata.resize(4);
    v->_callstackdata.shrinktofit();
    v->_callsstack = &v->_callstackdata[0];
    v->_alloccallsstacksize = 4;
  }
}

/* ---- raw access for the codec (see sq_vmext.h) ---- */
extern "C" const char *calog__sqStringOf(const HSQOBJECT *o, SQInteger *len) {
  *len = o->_unVal.pString->_len;
  return o->_unVal.pString->_val;
}

extern "C" void calog__sqArrayPush(HSQUIRRELVM v, SQInteger idx, SQInteger i) {
  v->Push(_array(stack_get(v, idx))->_values[i]);
}

extern "C" int calog__sqTableGetInt(HSQUIRRELVM v, SQInteger idx, SQInteger key) {
  SQObjectPtr val;
  if (!_table(stack_get(v, idx))->Get(SQObjectPtr(key), val)) return 0;
  v->Push(val);
  return 1;
}

extern "C" void calog__sqArrayReserve(HSQUIRRELVM v, SQInteger idx, SQInteger n) {
  if (n > 0) _array(stack_get(v, idx))->Reserve(n);
}

extern "C" void calog__sqSetErrorHandler(HSQUIRRELVM v, const HSQOBJECT *handler) {
  if (type(v->_errorhandler) != handler->_type || _rawval(v->_errorhandler) != handler->_unVal.raw)
    v->_errorhandler = *handler;
}

/* SQVM::ToString's metamethod step, telling its outcomes apart (sq_tostring says "(table : 0x...)" both for an object
 * without _tostring and for one whose _tostring returned no string). */
extern "C" int calog__sqToStringMeta(HSQUIRRELVM v, SQInteger idx, SQObjectType *returned) {
  SQObjectPtr o = stack_get(v, idx); /* a copy: the call may move the stack */
  switch (sq_type(o)) {
  case OT_TABLE:
  case OT_USERDATA:
  case OT_INSTANCE: break;
  default: return 0;
  }
  SQObjectPtr closure, res;
  if (!_delegable(o)->_delegate || !_delegable(o)->GetMetaMethod(v, MT_TOSTRING, closure)) return 0;
  v->Push(o);
  if (!v->CallMetaMethod(closure, MT_TOSTRING, 1, res)) return -1;
  if (sq_type(res) != OT_STRING) {
    *returned = sq_type(res);
    return 2;
  }
  v->Push(res);
  return 1;
}
