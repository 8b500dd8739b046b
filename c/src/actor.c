/* actor.c -- contexts as actors (design sec 6, 6.1, 9, 10): one thread + one MPSC queue per threaded
 * context, the host as an actor (the thread that created the runtime), synchronous calls that pump the
 * caller's own queue while they wait, asynchronous requests completed on the host, and the host wake path.
 *
 * Invariants:
 *   - only an actor's thread runs its interpreter(s), its natives and its function values;
 *   - a synchronous request lives on the caller's stack; the replier touches it for the last time when it
 *     publishes the reply (done = 1 under the waiter's mutex);
 *   - a message holds a reference on its context and function value, dropped before the reply is published;
 *   - a host call whose reply is deferred (an async TypeScript function) stays on its waiter's stack, linked
 *     in rt->deferHead, until the host settles it or the waiter withdraws it (both under host.mu);
 *   - lock order: host.mu before a waiter's mutex (the deferral marks the waiter's box under host.mu);
 *   - nothing here calls into JavaScript except on the host thread. */
#include "wire.h"

#include <errno.h>
#include <limits.h> /* PTHREAD_STACK_MIN: musl declares it only here */
#include <sched.h>
#include <stdio.h>
#include <time.h>

#define SPIN_NS 20000 /* spin up to 20 us for a reply or a message (yielding every ~1-2 us), then park */
#define HOST_SPIN_NS 5000 /* calogHostPollWait spins this long before it sleeps */
#define YIELDS 3       /* a yield hands the core to the other side when both share one */
#define THREAD_STACK (8u * 1024u * 1024u)

static _Thread_local CalogActorT *tlsActor;

struct CalogMsgT {
  CalogMsgT *next;
  CalogT *rt;
  int kind;
  bool heap;         /* malloc'd (async, release, shutdown); else on the caller's stack */
  CalogCtxT *ctx;    /* EVAL/CALL/GET target (+1 ref) */
  CalogFnT *fn;      /* FN (+1 ref) or RELEASE (the last reference) */
  CalogNativeEntryT *entry;
  const char *name;  /* chunk name or global name */
  const char *text;  /* EVAL source */
  int64_t len;
  CalogValueT *args;
  int32_t argc;
  uint32_t timeoutMs; /* EVAL: a per-call timeout (0 = the context's own) */
  uint64_t epoch;     /* EVAL/CALL/GET/FN: the target context's interruptEpoch when queued */
  bool ownsData;     /* async: name, text, args are ours to free */
  CalogTaskFnT task; /* TASK: run on the target context's thread */
  void *taskArg;
  CalogBoxT *reply;
  CalogCompletionT *done; /* async: preallocated completion (ticket set) */
  uint32_t token;         /* NATIVE, deferred: its token, and its link in rt->deferHead (under host.mu) */
  CalogMsgT *deferNext;
  uint64_t seq; /* its place in its actor's queue order (CalogActorT.seq when it was queued) */
  bool answered; /* async: its completion went out early (a buried deadline): what it returns is dropped */
  _Atomic bool withdrawn; /* sync: its waiter gave up on it while it was served (see calog__servedPush) */
  bool awaited; /* async: a waiting script's reply depends on it (calogFnCallAwaitedWire): see servableLocked */
  uint64_t chain; /* the chain of calls it belongs to (tlsChain where it was sent; 0: none, it starts one) */
  bool reapHeld; /* REAP: deferred, and counted in hostInterest until it is served (see deferReap) */
};

/* The chain of calls the message served innermost on this thread belongs to: a request served at the top level starts
 * one, and the calls made while it runs (a blocking call, a host function's, an awaited request a host function
 * sends on) carry it to where they are served. Told apart, an awaited request of this chain is served at any depth by
 * a wait of this chain (its reply depends on it), one of another is held back as any async request is (pass 66a:
 * forty independent chains nested into one waiting context up to the cap). */
static _Thread_local uint64_t tlsChain;
static _Atomic uint64_t chainSeq;

#define nowNs calog__nowNs

static inline void cpuRelax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

CalogActorT *calog__actorCurrent(CalogT *rt) {
  if (pthread_equal(pthread_self(), rt->host.thread)) return &rt->host;
  CalogActorT *a = tlsActor;
  return a != NULL && a->rt == rt ? a : NULL;
}

int32_t calog__actorInit(CalogActorT *a, CalogT *rt, CalogCtxT *ctx, bool isHost) {
  memset(a, 0, sizeof *a);
  a->rt = rt;
  a->ctx = ctx;
  a->isHost = isHost;
  a->accepting = true;
  if (pthread_mutex_init(&a->mu, NULL) != 0) return CALOG_ERR_OOM;
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  int r = pthread_cond_init(&a->cv, &ca);
  pthread_condattr_destroy(&ca);
  if (r != 0) {
    pthread_mutex_destroy(&a->mu);
    return CALOG_ERR_OOM;
  }
  return CALOG_OK;
}

void calog__actorDestroy(CalogActorT *a) {
  pthread_cond_destroy(&a->cv);
  pthread_mutex_destroy(&a->mu);
}

int32_t calog__nestEnter(CalogT *rt, CalogValueT *result) {
  CalogActorT *a = calog__actorCurrent(rt);
  if (a == NULL) return CALOG_OK;
  if (a->nesting >= CALOG_MAX_NESTING)
    return calogFail(result, CALOG_ERR_NESTING, "call nesting deeper than %d crossings", CALOG_MAX_NESTING);
  a->nesting++;
  return CALOG_OK;
}

void calog__nestLeave(CalogT *rt) {
  CalogActorT *a = calog__actorCurrent(rt);
  if (a != NULL) a->nesting--;
}

/* ---- queue --------------------------------------------------------------------------------------- */
static void wakeHost(CalogT *rt) {
  void (*waker)(void) = atomic_load(&rt->waker);
  if (waker != NULL && atomic_exchange(&rt->wakePending, 1) == 0) waker();
}

/* Retains the host functions in v (OUT names them by id alone, holding no reference) into rt->keptFns; false when out
 * of memory. */
static bool keepHostFns(CalogT *rt, const CalogValueT *v) {
  if (v->type == CALOG_FN) {
    CalogFnT *fn = v->as.fn;
    if (fn->fn != calog__hostTrampoline || ((CalogHostFnT *)fn->userData)->rt != rt) return true;
    if (rt->keptCount == rt->keptCap) {
      uint32_t cap = rt->keptCap ? rt->keptCap * 2 : 8;
      CalogFnT **p = realloc(rt->keptFns, cap * sizeof *p);
      if (p == NULL) return false;
      rt->keptFns = p, rt->keptCap = cap;
    }
    calogFnRetain(fn);
    rt->keptFns[rt->keptCount++] = fn;
    return true;
  }
  if (v->type != CALOG_AGGREGATE) return true;
  CalogAggT *agg = v->as.agg;
  for (int64_t i = 0, n = calogAggArrayCount(agg); i < n; i++)
    if (!keepHostFns(rt, calogAggArrayAt(agg, i))) return false;
  for (int64_t i = 0, n = calogAggPairCount(agg); i < n; i++)
    if (!keepHostFns(rt, calogAggPairValue(agg, i))) return false; /* keys are never functions */
  return true;
}

/* What OUT names must outlive the host's reading of it: the host functions in it, which OUT names by id alone, until
 * the host's next entry. The script functions in it hold a handle each (the wire's): v itself is let go now, or a
 * forgotten context whose last function came back in a result lived until the runtime's next entry (pass 61a). */
void calog__hostKeepUntilNext(CalogT *rt, CalogValueT *v) {
  calogValueFree(&rt->lastOut);
  for (uint32_t n = rt->keptCount; n > 0; n = rt->keptCount) { /* a release may enter here again: counted off first */
    rt->keptCount = n - 1;
    calogFnRelease(rt->keptFns[n - 1]);
  }
  if (v == NULL) return;
  if (keepHostFns(rt, v)) calogValueFree(v);
  else calogValueMove(&rt->lastOut, v); /* out of memory: the whole value, as before */
}

/* The context a queued request will run in (NULL: the host, a C function, or not a request). */
static CalogCtxT *requestCtx(const CalogMsgT *m) {
  switch (m->kind) {
  case CALOG_MSG_EVAL:
  case CALOG_MSG_CALL:
  case CALOG_MSG_GET: return m->ctx;
  case CALOG_MSG_FN: return m->fn->owner;
  default: return NULL;
  }
}

/* An interrupt of its context since m was queued stops m before it runs. */
static bool interruptedWhileQueued(const CalogMsgT *m, CalogCtxT *tc) {
  return tc != NULL && atomic_load(&tc->interruptEpoch) != m->epoch;
}

static bool push(CalogActorT *a, CalogMsgT *m) {
  m->next = NULL;
  CalogCtxT *tc = requestCtx(m);
  if (tc) m->epoch = atomic_load(&tc->interruptEpoch); /* before it is visible: an interrupt from now on stops it */
  pthread_mutex_lock(&a->mu);
  if (!a->accepting) {
    pthread_mutex_unlock(&a->mu);
    return false;
  }
  m->seq = atomic_fetch_add(&a->seq, 1) + 1;
  if (m->kind == CALOG_MSG_TASK) { /* a separate list: nested pumps do not see it */
    if (a->taskTail) a->taskTail->next = m;
    else a->taskHead = m;
    a->taskTail = m;
    atomic_fetch_add(&a->tasks, 1);
  } else {
    if (a->tail) a->tail->next = m;
    else a->head = m;
    a->tail = m;
    atomic_fetch_add(&a->pending, 1);
  }
  if (a->isHost) pthread_cond_broadcast(&a->cv); /* the JS thread and a Deno waiter may both wait */
  else pthread_cond_signal(&a->cv);
  pthread_mutex_unlock(&a->mu);
  if (a->isHost) wakeHost(a->rt);
  return true;
}

/* under a->mu */
static CalogMsgT *popLocked(CalogActorT *a) {
  CalogMsgT *m = a->head;
  if (m) {
    a->head = m->next;
    if (a->head == NULL) a->tail = NULL;
    atomic_fetch_sub(&a->pending, 1);
  }
  return m;
}

/* A queued asynchronous request (callAsync, evalAsync, fn.callAsync: nobody's stack waits on it) is served inside a
 * wait while the nesting leaves half the crossings free; past that, only one queued after the awaited work began
 * (box->since: its target took the request) is, the rest stay queued for the top level or a shallower wait. Served
 * at any depth, each one a script parked on an async host function took nested on the wait before it, two
 * crossings deeper each time, so a thousand concurrent callAsync of such a script failed from the 33rd on with
 * "call nesting deeper than 64 crossings" (hostile12b). One queued after the awaited work began may be its doing
 * (a host function awaiting a callAsync into this very context): held back too, the innermost wait, which only
 * that work's reply ends, waited for ever (review13: 20 concurrent callAsync of such a script hung). Calls a
 * waiter's stack depends on (a call made back into this context, a release, an async request marked awaited of the
 * wait's own chain: a host function passing a waiting script's call on to another runtime) are served at any depth, as
 * before: an awaited one held back stalled a recursion between two runtimes for seconds (pass 65a). */
#define ASYNC_NEST_MAX (CALOG_MAX_NESTING / 2)
/* One queued after the awaited work began is served while the nesting leaves room for it and a few calls more: it
 * may as well be a request of the program's that arrived later (a server's requests arrive over time), and served at
 * any depth, each one arriving while the one before waited nested two crossings deeper, so from the 33rd on every one
 * failed with "call nesting deeper than 64 crossings", and so did a synchronous call made meanwhile (pass 27b). Held
 * back past this, the newest is served after a second (heldBackoffNs): the innermost wait may need it. */
#define ASYNC_LATE_MAX (CALOG_MAX_NESTING - 8)

/* Whether a wait on this thread serves q at any depth: a release; a call of the wait's own chain (it may be what the
 * wait waits for: a call back into this context, an awaited request); a call from the host thread (the JavaScript
 * thread: held back, it would block what the wait may need); a call from the actor this wait's call went to (a cycle
 * of two waits: each of two deep chains whose innermost calls crossed held the other's call back, pass 67a). Otherwise
 * a blocking call of another chain from another context's thread is an independent caller: forty contexts calling a
 * context that waited in an async host function nested into it up to the cap, the rest failing with the nesting
 * error, where their callAsync forms all succeeded (pass 66a); its sender waits, as an async request does, for a
 * shallower wait, or for heldCallBackoffNs. */
static bool dependsOn(const CalogMsgT *q, const CalogBoxT *box) {
  if (q->chain == tlsChain && (q->done == NULL || q->awaited)) return true;
  if (q->done != NULL) return false;
  if (q->reply == NULL || q->reply->waiter == NULL || q->reply->waiter->isHost) return true;
  /* its sender is what this wait calls, and has not taken the call yet: its own wait may be on this one (held back,
   * each of two crossed chains waited for the other's call: pass 67a). Once it has, a call from its thread is its own
   * chain's (served above) or an independent request it serves nested (forty such relays nested here up to the cap:
   * pass 70a) */
  return box->target != NULL && q->reply->waiter == box->target &&
         atomic_load_explicit(&box->since, memory_order_relaxed) == UINT64_MAX;
}

/* under a->mu: the first message a wait of a for box may serve now (NULL: none), and the one before it in the queue */
static CalogMsgT *servableLocked(const CalogActorT *a, const CalogBoxT *box, CalogMsgT **before) {
  bool asyncOk = a->nesting < ASYNC_NEST_MAX, lateOk = a->nesting < ASYNC_LATE_MAX;
  CalogMsgT *prev = NULL;
  for (CalogMsgT *q = a->head; q != NULL; prev = q, q = q->next) {
    if (asyncOk || dependsOn(q, box) || (lateOk && q->seq > atomic_load_explicit(&box->since, memory_order_relaxed))) {
      if (before) *before = prev;
      return q;
    }
  }
  return NULL;
}

/* A wait past half the cap that has found only held-back requests for this long serves the newest of them anyway:
 * the innermost wait may depend on one queued before its call began (a host function awaiting the promise of a
 * callAsync sent after the calls that wait for it: that request, held back, left them all waiting for ever). The
 * newest, as the one that unblocks older waiters was most often sent after them; the wait doubles with each two
 * crossings, so requests that wait for nothing of the kind (a slow host function) still nest only logarithmically
 * in time: 1 s at half the cap (a host function quicker than that never meets it), a minute six levels deeper,
 * over nine hours at the cap. A slower one does: 100 concurrent calls of a script awaiting a 1 s host function
 * take 11 s where they took 7 (3 s: 33 where 21), one more level nested per doubling (review13). */
static uint64_t heldBackoffNs(int32_t nesting) {
  int32_t level = (nesting - ASYNC_NEST_MAX) / 2;
  if (level < 0) level = 0;
  if (level > 20) level = 20;
  return (uint64_t)1000000000u << level;
}

/* A wait past half the cap that has found only held-back requests, one of them a blocking call, for this long serves
 * the oldest blocking call anyway: the wait may depend on it through more actors than the one it calls (A waits on
 * B, B on C, C's call waits on A) or through the host (an async host function awaiting a callAsync whose script
 * calls this context). 100 ms at half the cap, 100 ms more with each two crossings (1.7 s at the cap): such a cycle
 * stalls that long (with heldBackoffNs, a second and more, and doubling, it stalled for minutes near the cap: passes
 * 67a, 69a), and callers of a context that waits in a slow host function nest as the square root of the time it
 * waits (each served at once, forty callers of one awaiting a 300 ms host function reached the cap: pass 66a; each
 * served 100 ms after the last, as many did: pass 68a; one awaiting 10 s nests some 28 crossings past the half). */
static uint64_t heldCallBackoffNs(int32_t nesting) {
  int32_t level = (nesting - ASYNC_NEST_MAX) / 2;
  if (level < 0) level = 0;
  return (uint64_t)100000000u * (uint64_t)(level + 1);
}

/* under a->mu: the first blocking call queued to a (NULL: none), and the one before it */
static CalogMsgT *heldCallLocked(CalogActorT *a, CalogMsgT **before) {
  CalogMsgT *prev = NULL;
  for (CalogMsgT *q = a->head; q != NULL; prev = q, q = q->next) {
    if (q->done == NULL && q->reply != NULL) {
      if (before) *before = prev;
      return q;
    }
  }
  return NULL;
}

/* under a->mu: unlinks m (found by servableLocked, prev before it) from a's queue */
static CalogMsgT *takeLocked(CalogActorT *a, CalogMsgT *m, CalogMsgT *prev) {
  if (prev) prev->next = m->next;
  else a->head = m->next;
  if (a->tail == m) a->tail = prev;
  atomic_fetch_sub(&a->pending, 1);
  return m;
}

/* under a->mu: a message, else a task (the top level's order) */
static CalogMsgT *popAnyLocked(CalogActorT *a) {
  CalogMsgT *m = popLocked(a);
  if (m == NULL && (m = a->taskHead) != NULL) {
    a->taskHead = m->next;
    if (a->taskHead == NULL) a->taskTail = NULL;
    atomic_fetch_sub(&a->tasks, 1);
  }
  return m;
}

/* ---- replies -------------------------------------------------------------------------------------- */
static void freeOwned(CalogMsgT *m) {
  if (!m->ownsData) return;
  free((char *)m->name);
  free((char *)m->text);
  for (int32_t i = 0; i < m->argc; i++) calogValueFree(&m->args[i]);
  free(m->args);
  m->name = m->text = NULL;
  m->args = NULL;
  m->argc = 0;
}

/* Hands an async request's completion to the host (c is the host's from here on). */
static void publishDone(CalogT *rt, CalogCompletionT *c, int32_t status, CalogValueT *result) {
  c->status = status;
  calogValueMove(&c->result, result);
  CalogActorT *h = &rt->host;
  pthread_mutex_lock(&h->mu);
  if (rt->closing) { /* a thread abandoned at close finishing late: nobody collects completions any more */
    pthread_mutex_unlock(&h->mu);
    calogValueFree(&c->result);
    free(c);
    return;
  }
  for (uint32_t i = 0; i < rt->cancelledCount; i++)
    if (rt->cancelled[i] == c->ticket) {
      rt->cancelled[i] = rt->cancelled[--rt->cancelledCount];
      break;
    }
  c->next = NULL;
  if (rt->doneTail) rt->doneTail->next = c;
  else rt->doneHead = c;
  rt->doneTail = c;
  atomic_fetch_add(&rt->doneCount, 1);
  pthread_cond_broadcast(&h->cv);
  pthread_mutex_unlock(&h->mu);
  wakeHost(rt);
}

/* Publishes the outcome of m and retires it. After this, m (if on a caller's stack) is gone. */
static void deliver(CalogMsgT *m, int32_t status, CalogValueT *result) {
  CalogT *rt = m->rt;
  if (m->ctx) calog__ctxUnref(m->ctx);
  if (m->fn) calogFnRelease(m->fn);
  m->ctx = NULL;
  m->fn = NULL;
  freeOwned(m);
  if (m->reply) {
    calog__boxComplete(m->reply, status, result);
    return;
  }
  if (m->done && !m->answered) {
    CalogCompletionT *c = m->done;
    m->done = NULL;
    if (m->heap) free(m);
    publishDone(rt, c, status, result);
    return;
  }
  calogValueFree(result);
  if (m->heap) free(m);
}

/* The earliest deadline of ctx's async requests buried under its innermost one and not answered yet (0: none). */
static void buriedRecompute(CalogCtxT *ctx) {
  uint64_t min = 0;
  for (CalogAsyncEntryT *r = ctx->asyncTop ? ctx->asyncTop->below : NULL; r != NULL; r = r->below)
    if (!r->answered && r->deadlineNs != 0 && (min == 0 || r->deadlineNs < min)) min = r->deadlineNs;
  ctx->buriedNs = min;
}

void calog__asyncBuriedCheck(CalogCtxT *ctx, uint64_t now) {
  for (CalogAsyncEntryT *r = ctx->asyncTop ? ctx->asyncTop->below : NULL; r != NULL; r = r->below) {
    if (r->answered || r->deadlineNs == 0 || now < r->deadlineNs) continue;
    r->answered = true;
    r->m->answered = true;
    CalogValueT err = calogValueNil();
    int32_t st = calog__limitErrorOf(ctx, CALOG_LIMIT_TIMEOUT, (int64_t)((now - r->startNs) / 1000000u), r->timeoutMs, &err);
    publishDone(r->m->rt, r->m->done, st, &err); /* m->done is the host's now: not read again (answered) */
  }
  buriedRecompute(ctx);
}

static void asyncPush(CalogMsgT *m, CalogCtxT *ctx, CalogAsyncEntryT *r) {
  *r = (CalogAsyncEntryT){.below = ctx->asyncTop, .m = m};
  ctx->asyncTop = r;
  buriedRecompute(ctx);
}

static void asyncPop(CalogCtxT *ctx, CalogAsyncEntryT *r) {
  ctx->asyncTop = r->below;
  buriedRecompute(ctx);
}

/* An async request names the context it runs in by its ticket while it runs (calogRequestCancel). */
static uint32_t ticketEnter(CalogMsgT *m, CalogCtxT *ctx) {
  if (m->done == NULL || ctx == NULL) return 0;
  return atomic_exchange(&ctx->runningTicket, m->done->ticket);
}

static void ticketLeave(CalogMsgT *m, CalogCtxT *ctx, uint32_t prev) {
  if (m->done == NULL || ctx == NULL) return;
  pthread_mutex_lock(&ctx->actor->mu); /* calogRequestCancel trips the ticket's entry under it */
  atomic_store(&ctx->runningTicket, prev);
  pthread_mutex_unlock(&ctx->actor->mu);
}

/* An async request run while its context is already in an entry (served nested on a wait) is an entry of its own:
 * nobody's call waits for it, so it neither takes the waiting entry's limits (its per-call timeoutMs, steps, output,
 * a trip: a callAsync served on the wait of an evalAsync with a 100 ms timeout failed with that timeout) nor gives
 * them its own (a cancel of it interrupted the whole context, the call it was nested on included). */
static bool nestBegin(CalogMsgT *m, CalogCtxT *ctx, CalogEntrySaveT *save) {
  if (m->done == NULL || ctx == NULL || ctx->busy == 0) return false;
  calog__limitNestBegin(ctx, save);
  return true;
}

/* The entry m starts in ctx re-checks m's queue-time epoch once its limits are reset (calog__limitEntryStart):
 * an interrupt that lands between the dispatcher's check and that reset still stops it. */
typedef struct {
  uint64_t epoch;
  bool has;
} EpochSaveT;

static EpochSaveT epochEnter(CalogMsgT *m, CalogCtxT *ctx) {
  EpochSaveT prev = {0, false};
  if (ctx == NULL) return prev;
  prev = (EpochSaveT){ctx->queuedEpoch, ctx->hasQueuedEpoch};
  ctx->queuedEpoch = m->epoch;
  ctx->hasQueuedEpoch = true;
  return prev;
}

static void epochLeave(CalogCtxT *ctx, EpochSaveT prev) {
  if (ctx == NULL) return;
  ctx->queuedEpoch = prev.epoch;
  ctx->hasQueuedEpoch = prev.has;
}

static void dispatchHere(CalogActorT *self, CalogMsgT *m);

/* A forgotten host-thread context is closed where the host serves its REAP, on the host's stack: served in a wait deep
 * in the host's stack (a synchronous call made 70-140 KB above V8's limit), its interpreter was closed with too little
 * C stack for its finalizers, and what they release (lent TypeScript functions, function values) was kept for good
 * (pass 98b). Such a REAP waits on rt->reapLater for a top-level look with room (calog__hostServe: a look at nesting 0
 * may still be deep, and then leaves it there). Until it goes, it is counted in hostInterest (a binding keeps its wake
 * armed meanwhile: an idle Deno program left it there) and rt->reapPoke is set (work for calogHostWait), and its first
 * deferral wakes the host. The host's top has the room: a host-thread context is made only where its teardown would
 * have it (calogContextCreate), and the host's event loop looks from higher up. */
static void deferReap(CalogT *rt, CalogMsgT *m) {
  m->next = rt->reapLater;
  rt->reapLater = m;
  if (m->reapHeld) return;
  m->reapHeld = true;
  calog__hostInterest(rt, 1);
  pthread_mutex_lock(&rt->host.mu);
  rt->reapPoke = true;
  pthread_cond_broadcast(&rt->host.cv);
  pthread_mutex_unlock(&rt->host.mu);
  atomic_store(&rt->wakePending, 0); /* this thread is inside a look, which may hold wakes back: this one must go */
  wakeHost(rt);
}

/* Runs one message on this actor's thread, in its chain (tlsChain; m may be freed by the time it returns). */
static void dispatch(CalogActorT *self, CalogMsgT *m) {
  uint64_t outer = tlsChain;
  tlsChain = m->chain != 0 ? m->chain : atomic_fetch_add_explicit(&chainSeq, 1, memory_order_relaxed) + 1;
  dispatchHere(self, m);
  tlsChain = outer;
}

/* Runs one message on this actor's thread. stopping: the context is shutting down (calls get DEAD). */
static void dispatchHere(CalogActorT *self, CalogMsgT *m) {
  CalogValueT result = calogValueNil();
  int32_t st;
  CalogCtxT *selfCtx = self->ctx;
  /* the work its waiter awaits begins: what is queued to the waiter from now on may be its doing (servableLocked);
   * a relaxed store: the push of such a request (under the waiter's mutex) publishes it */
  if (m->reply != NULL && m->reply->waiter != NULL)
    atomic_store_explicit(&m->reply->since, atomic_load(&m->reply->waiter->seq), memory_order_relaxed);
  bool stopping = selfCtx != NULL && (selfCtx->stopRequested || selfCtx->dying);
  switch (m->kind) {
  case CALOG_MSG_RELEASE: {
    CalogFnT *fn = m->fn;
    m->fn = NULL;
    free(m);
    calog__fnFinalize(fn);
    return;
  }
  case CALOG_MSG_REAP: { /* host only */
    if (!m->ctx->threaded && calog__stackLeft() < CALOG_STACK_TEARDOWN) {
      deferReap(self->rt, m);
      return;
    }
    if (m->reapHeld) calog__hostInterest(self->rt, -1);
    CalogCtxT *ctx = m->ctx;
    m->ctx = NULL;
    free(m);
    calog__ctxReapIfIdle(ctx);
    calog__ctxUnref(ctx);
    return;
  }
  case CALOG_MSG_SHUTDOWN:
    if (selfCtx) selfCtx->stopRequested = true; /* handled when the thread is back at its top level */
    free(m);
    return;
  case CALOG_MSG_TASK: {
    CalogCtxT *ctx = m->ctx;
    CalogTaskFnT run = m->task;
    void *arg = m->taskArg;
    free(m);
    run(ctx, arg, stopping || ctx->dying || (ctx->threaded && ctx->stopRequested));
    calog__ctxUnref(ctx);
    return;
  }
  case CALOG_MSG_EVAL:
  case CALOG_MSG_CALL:
  case CALOG_MSG_GET: {
    uint32_t prevTicket = ticketEnter(m, m->ctx);
    CalogEntrySaveT outer;
    bool nested = false;
    if (stopping || m->ctx->dying || (m->ctx->threaded && m->ctx->stopRequested))
      st = calogFail(&result, CALOG_ERR_DEAD, "the context was destroyed before the call ran");
    else if ((m->done && calog__ticketCancelled(m->rt, m->done->ticket)) || interruptedWhileQueued(m, m->ctx))
      st = calog__limitErrorOf(m->ctx, CALOG_LIMIT_INTERRUPT, 0, 0, &result);
    else {
      CalogAsyncEntryT rec;
      nested = nestBegin(m, m->ctx, &outer);
      if (m->done) asyncPush(m, m->ctx, &rec);
      EpochSaveT saved = epochEnter(m, m->ctx);
      if (m->reply != NULL) calog__servedPush(&m->withdrawn);
      st = calog__ctxRun(m->ctx, m->kind, m->name, m->text, m->len, m->args, m->argc, m->timeoutMs, &result);
      if (m->reply != NULL) calog__servedPop();
      epochLeave(m->ctx, saved);
      if (m->done) asyncPop(m->ctx, &rec);
    }
    ticketLeave(m, m->ctx, prevTicket);
    if (nested) calog__limitNestEnd(m->ctx, &outer); /* after the ticket is left (see it) */
    break;
  }
  case CALOG_MSG_FN: {
    CalogCtxT *owner = m->fn->owner;
    uint32_t prevTicket = ticketEnter(m, owner);
    CalogEntrySaveT outer;
    bool nested = false;
    if (stopping) st = calogFail(&result, CALOG_ERR_DEAD, "the function's context was destroyed before the call ran");
    else if (!atomic_load(&m->fn->alive)) st = calogFail(&result, CALOG_ERR_DEAD, "function value belongs to a context that was destroyed");
    else if ((m->done && calog__ticketCancelled(m->rt, m->done->ticket)) || interruptedWhileQueued(m, owner))
      st = owner ? calog__limitErrorOf(owner, CALOG_LIMIT_INTERRUPT, 0, 0, &result)
                 : calogFail(&result, CALOG_ERR_LIMIT, "interrupted before it ran (the request was cancelled)");
    else {
      /* a TypeScript function value called by a waiting script (on the free host) may defer its reply */
      CalogT *rt = m->rt;
      bool deferrable = self->isHost && rt->hostBlocked == 0 && m->reply != NULL && m->fn->fn == calog__hostTrampoline;
      if (deferrable) rt->deferMsg = m;
      CalogAsyncEntryT rec;
      nested = nestBegin(m, owner, &outer);
      bool tracked = m->done != NULL && owner != NULL;
      if (tracked) asyncPush(m, owner, &rec);
      EpochSaveT saved = epochEnter(m, owner);
      if (m->reply != NULL) calog__servedPush(&m->withdrawn);
      st = calog__fnInvokeHere(m->fn, m->args, m->argc, &result);
      if (m->reply != NULL) calog__servedPop();
      epochLeave(owner, saved);
      if (tracked) asyncPop(owner, &rec);
      if (deferrable) rt->deferMsg = NULL;
      /* m belongs to the deferral now: its waiter may withdraw it (and its stack) at any moment. Only a
       * host function (no owner, so no ticket to leave, never nested) defers. */
      if (st == CALOG__DEFERRED) return;
      if (deferrable) rt->hostReplied++;
    }
    ticketLeave(m, owner, prevTicket);
    if (nested) calog__limitNestEnd(owner, &outer); /* after the ticket is left (see it) */
    break;
  }
  case CALOG_MSG_NATIVE: { /* on the host */
    /* served while the host is free (not waiting in a call): a host function may defer its reply */
    CalogT *rt = m->rt;
    rt->deferMsg = rt->hostBlocked == 0 ? m : NULL;
    if (m->reply != NULL) calog__servedPush(&m->withdrawn);
    st = calog__bindingInvokeHere(m->entry, m->args, m->argc, &result);
    if (m->reply != NULL) calog__servedPop();
    rt->deferMsg = NULL;
    if (st == CALOG__DEFERRED) return; /* m belongs to the deferral now (see above): not touched again */
    if (m->reply != NULL) rt->hostReplied++;
    break;
  }
  default: st = calogFail(&result, CALOG_ERR_INTERNAL, "unknown message");
  }
  deliver(m, st, &result);
}

/* Removes m from a's queue if it is still there (not yet taken by a's thread). */
static bool unqueue(CalogActorT *a, CalogMsgT *m) {
  pthread_mutex_lock(&a->mu);
  CalogMsgT *prev = NULL;
  for (CalogMsgT *q = a->head; q; prev = q, q = q->next) {
    if (q != m) continue;
    if (prev) prev->next = q->next;
    else a->head = q->next;
    if (a->tail == q) a->tail = prev;
    atomic_fetch_sub(&a->pending, 1);
    pthread_mutex_unlock(&a->mu);
    return true;
  }
  pthread_mutex_unlock(&a->mu);
  return false;
}

/* Withdraws m if its reply is deferred (the host forgets the token) and fails it. Waiter's thread. */
static bool withdrawDeferred(CalogT *rt, CalogMsgT *m) {
  bool found = false;
  pthread_mutex_lock(&rt->host.mu);
  for (CalogMsgT **p = &rt->deferHead; *p != NULL; p = &(*p)->deferNext) {
    if (*p != m) continue;
    *p = m->deferNext;
    found = true;
    break;
  }
  pthread_mutex_unlock(&rt->host.mu);
  if (!found) return false;
  CalogValueT r = calogValueNil();
  deliver(m, calogFail(&r, CALOG_ERR_LIMIT, "interrupted while waiting for an async host function"), &r);
  return true;
}

/* The waiting context's entry tripped a limit (interrupt, its deadline) while it waits for m on target: a
 * request not yet taken is withdrawn and fails at once, and so does a host call whose reply is deferred; one
 * that runs is marked withdrawn, which stops the entries running for it on target's thread (the reply then comes
 * soon; a TypeScript function itself runs to its end, or defers: the waiter tries again then). Returns true when m
 * was withdrawn (box is done). Of a taken m, whose replier owns (and clears) its fields, only the atomic flag is
 * written: m lives in the waiter's frame until its reply. */
static bool abandonWait(CalogActorT *target, CalogMsgT *m) {
  if (unqueue(target, m)) {
    CalogValueT r = calogValueNil();
    int32_t st = calogFail(&r, CALOG_ERR_LIMIT, "interrupted while waiting for a call to another context");
    deliver(m, st, &r);
    return true;
  }
  if (target->isHost && withdrawDeferred(target->rt, m)) return true;
  /* being served: what runs for it there stops, the entries above its place on the target's thread (calog__servedPush)
   * and a wait of theirs, and those alone: an entry of the same context below it, whose call led here, goes on (the
   * context's own INTERRUPT, tripped here before, stopped that one too: pass 31a) */
  atomic_store_explicit(&m->withdrawn, true, memory_order_release);
  calog__actorWake(target);
  return false;
}

void calog__actorWake(CalogActorT *a) {
  pthread_mutex_lock(&a->mu);
  pthread_cond_broadcast(&a->cv);
  pthread_mutex_unlock(&a->mu);
}

/* Waits for box, serving self's queue meanwhile (the always-live nested pump). While self runs a context's
 * entry, that entry's limits apply to the wait: its deadline or an interrupt calls abandon(arg, LIMIT) once;
 * opDeadline (0 = none) calls abandon(arg, TIMEOUT) once. Returns when box is done. */
static void waitBox(CalogActorT *self, CalogBoxT *box, uint64_t opDeadline, CalogAbandonFnT abandon, void *arg) {
  bool watchLimits = true, watchOp = opDeadline != 0;
  bool deferRetried = false; /* a host reply deferred after the limit's first try was withdrawn once more */
  uint64_t heldAt = 0;        /* since when only held-back requests are queued (0: not so) */
  /* after a fallback served a blocking call: the blocking calls queued up to then are served one after another, each
   * returning before the next (each queued ahead of the one the wait depends on cost a whole fallback: pass 70a) */
  uint64_t drainTo = 0;
spin:;
  /* Spin first, and again after each message served: the other side of a call that calls back (a script
   * looping over host calls while this thread waits for its result) sends the next message within
   * microseconds, and a parked thread costs a futex wake-up per message. */
  uint64_t until = nowNs() + SPIN_NS;
  int yields = 0;
  for (unsigned i = 1;; i++) {
    if (atomic_load_explicit(&box->done, memory_order_acquire)) {
      /* the replier may still hold box->mu: take it once so a stack-allocated mutex is free to go */
      pthread_mutex_lock(box->mu);
      pthread_mutex_unlock(box->mu);
      return;
    }
    if (self && atomic_load_explicit(&self->pending, memory_order_relaxed)) break; /* serve it */
    if ((i & 31) == 0) {
      if (nowNs() >= until && (yields++ == YIELDS || (watchOp && nowNs() >= opDeadline))) break;
      sched_yield(); /* a thread sharing this core (often the other side of the call) runs now */
    } else {
      cpuRelax();
    }
  }
  for (;;) {
    pthread_mutex_lock(box->mu);
    if (self == NULL) {
      while (!atomic_load(&box->done)) pthread_cond_wait(box->cv, box->mu);
      pthread_mutex_unlock(box->mu);
      return;
    }
    CalogCtxT *rc = self->running;
    int why = 0;
    bool fallback = false; /* held back too long: serve one anyway */
    bool buried = false;   /* an async request under the running one is past its deadline: answer it */
    /* The limits are checked before every message served, not only when the queue is empty: a callee that
     * calls back in a loop keeps the queue busy for as long as it likes. */
    while (!atomic_load(&box->done)) {
      if (!watchLimits && !deferRetried && box->deferred) { /* deferred after the first try: withdraw it now */
        deferRetried = true;
        why = CALOG_ABANDON_LIMIT;
        break;
      }
      if (rc != NULL && watchLimits && calog__limitTripped(rc) != CALOG_LIMIT_NONE) {
        why = CALOG_ABANDON_LIMIT;
        break;
      }
      uint64_t dl = rc != NULL && watchLimits ? rc->deadlineNs : 0;
      /* the entries of other contexts below on this thread (a host-thread context whose call led here): their
       * deadlines and stops end this wait too (one waiting on a threaded context hung the host: pass 28b) */
      if (watchLimits && calog__entriesBelowStop(rc, &dl)) { /* rc NULL: only the requests served below */
        why = CALOG_ABANDON_LIMIT;
        break;
      }
      if (watchOp && (dl == 0 || opDeadline < dl)) dl = opDeadline;
      if (rc != NULL && rc->buriedNs != 0) {
        if (nowNs() >= rc->buriedNs) {
          buried = true;
          break;
        }
        if (dl == 0 || rc->buriedNs < dl) dl = rc->buriedNs;
      }
      if (servableLocked(self, box, NULL) != NULL && (dl == 0 || nowNs() < dl)) break; /* serve it */
      if (self->head != NULL && servableLocked(self, box, NULL) == NULL) { /* only held-back requests */
        uint64_t now = nowNs();
        CalogMsgT *call = heldCallLocked(self, NULL);
        if (call != NULL && call->seq <= drainTo) { /* queued before the last fallback: served now */
          fallback = true;
          break;
        }
        if (heldAt == 0) heldAt = now;
        /* a late one held back (see ASYNC_LATE_MAX): the newest goes after a second, as at half the cap */
        bool late = self->tail->seq > atomic_load_explicit(&box->since, memory_order_relaxed);
        uint64_t fb = heldAt + heldBackoffNs(late ? ASYNC_NEST_MAX : self->nesting);
        /* a held-back blocking call (its caller's thread waits on it) sooner (see heldCallBackoffNs) */
        if (call != NULL && heldAt + heldCallBackoffNs(self->nesting) < fb)
          fb = heldAt + heldCallBackoffNs(self->nesting);
        if (now >= fb) {
          fallback = true;
          break;
        }
        if (dl == 0 || fb < dl) dl = fb; /* wakes up for it (the checks below compare with their own deadlines) */
      } else if (self->head == NULL) {
        heldAt = 0; /* not on serving another request: with other calls served meanwhile, the fallback never came (pass 67a) */
      }
      if (dl == 0) {
        pthread_cond_wait(&self->cv, &self->mu);
        continue;
      }
      struct timespec ts = {.tv_sec = (time_t)(dl / 1000000000u), .tv_nsec = (long)(dl % 1000000000u)};
      if (servableLocked(self, box, NULL) == NULL && pthread_cond_timedwait(&self->cv, &self->mu, &ts) != ETIMEDOUT) continue;
      if (watchOp && nowNs() >= opDeadline) {
        why = CALOG_ABANDON_TIMEOUT;
        break;
      }
      if (rc != NULL && watchLimits && rc->deadlineNs != 0 && nowNs() >= rc->deadlineNs) {
        /* trips the timeout (not calog__limitTick: under self->mu, which its look at buried requests must not hold) */
        calog__limitTrip(rc, CALOG_LIMIT_TIMEOUT, (int64_t)((nowNs() - rc->startNs) / 1000000u), rc->timeoutMs);
        if (calog__limitTripped(rc) != CALOG_LIMIT_NONE) {
          why = CALOG_ABANDON_LIMIT;
          break;
        }
      }
      if (servableLocked(self, box, NULL) != NULL) break; /* checked: serve it */
    }
    if (atomic_load(&box->done)) {
      pthread_mutex_unlock(&self->mu);
      return;
    }
    if (buried) { /* outside self->mu: the completion takes host.mu, which comes first */
      pthread_mutex_unlock(&self->mu);
      calog__asyncBuriedCheck(rc, nowNs());
      continue;
    }
    if (why != 0) { /* give up once: abandon completes box, or the completion is underway */
      if (why == CALOG_ABANDON_LIMIT && watchLimits) deferRetried = box->deferred; /* already deferred: one try */
      pthread_mutex_unlock(&self->mu);
      if (why == CALOG_ABANDON_LIMIT) watchLimits = false;
      else watchOp = false;
      abandon(arg, why);
      continue;
    }
    CalogMsgT *prev = NULL, *m;
    if (fallback && (m = heldCallLocked(self, &prev)) != NULL) { /* the oldest held-back blocking call */
      if (drainTo == 0 || m->seq > drainTo) drainTo = atomic_load(&self->seq); /* and those queued up to now */
      m = takeLocked(self, m, prev);
    } else if (fallback) { /* the newest held-back request (see heldBackoffNs) */
      for (CalogMsgT *q = self->head; q->next != NULL; q = q->next) prev = q;
      m = takeLocked(self, self->tail, prev);
    } else {
      m = servableLocked(self, box, &prev); /* a statement of its own: an argument beside it could read prev first */
      m = takeLocked(self, m, prev);
    }
    if (fallback) heldAt = 0;
    pthread_mutex_unlock(&self->mu);
    dispatch(self, m);
    if (self->isHost) goto spin; /* the JS thread: a script calling the host in a loop sends the next soon */
  }
}

typedef struct CallWaitT {
  CalogActorT *target;
  CalogMsgT *m;
} CallWaitT;

static void abandonCall(void *arg, int why) {
  (void)why;
  CallWaitT *w = arg;
  (void)abandonWait(w->target, w->m);
}

void calog__boxInit(CalogBoxT *box, CalogActorT *self) {
  box->mu = &self->mu;
  box->cv = &self->cv;
  atomic_init(&box->done, 0);
  box->deferred = false;
  box->waiter = self;
  box->target = NULL;
  atomic_init(&box->since, self ? atomic_load(&self->seq) : 0); /* an I/O wait's work begins now */
  box->status = CALOG_OK;
  box->result = calogValueNil();
}

void calog__boxComplete(CalogBoxT *box, int32_t status, CalogValueT *result) {
  pthread_mutex_lock(box->mu);
  box->status = status;
  calogValueMove(&box->result, result);
  atomic_store(&box->done, 1);
  pthread_cond_broadcast(box->cv);
  pthread_mutex_unlock(box->mu);
}

int32_t calog__actorAwait(CalogActorT *self, CalogBoxT *box, uint64_t deadlineNs, CalogAbandonFnT abandon, void *arg,
                          CalogValueT *result) {
  waitBox(self, box, deadlineNs, abandon, arg);
  calogValueFree(result);
  calogValueMove(result, &box->result);
  return box->status;
}

bool calog__ctxPost(CalogCtxT *ctx, CalogTaskFnT run, void *arg) {
  CalogMsgT *m = calloc(1, sizeof *m);
  if (m == NULL) return false;
  *m = (CalogMsgT){.rt = ctx->rt, .kind = CALOG_MSG_TASK, .heap = true, .ctx = ctx, .task = run, .taskArg = arg};
  calog__ctxRef(ctx);
  if (push(ctx->actor, m)) return true;
  calog__ctxUnref(ctx);
  free(m);
  return false;
}

int32_t calog__actorCall(CalogActorT *target, int kind, CalogCtxT *ctx, CalogFnT *fn, CalogNativeEntryT *entry,
                         const char *name, const char *text, int64_t len, CalogValueT *args, int32_t argc,
                         uint32_t timeoutMs, CalogValueT *result) {
  CalogT *rt = target->rt;
  CalogActorT *self = calog__actorCurrent(rt);
  int32_t st = calog__nestEnter(rt, result);
  if (st != CALOG_OK) return st;
  pthread_mutex_t privMu;
  pthread_cond_t privCv;
  CalogBoxT box = {.status = CALOG_OK, .waiter = self, .target = target};
  atomic_init(&box.done, 0);
  atomic_init(&box.since, UINT64_MAX); /* set by the target when it takes the request (dispatch) */
  box.result = calogValueNil();
  if (self) {
    box.mu = &self->mu;
    box.cv = &self->cv;
  } else {
    pthread_mutex_init(&privMu, NULL);
    pthread_cond_init(&privCv, NULL);
    box.mu = &privMu;
    box.cv = &privCv;
  }
  CalogMsgT m = {.rt = rt, .kind = kind, .ctx = ctx, .fn = fn, .entry = entry, .name = name, .text = text,
                 .len = len, .args = args, .argc = argc, .timeoutMs = timeoutMs, .reply = &box, .chain = tlsChain};
  if (ctx) calog__ctxRef(ctx);
  if (fn) calogFnRetain(fn);
  /* the context the request runs in (NULL: the host), held by the waiter until the reply: m's own
   * references go with m when it is delivered, possibly while this thread still looks at it */
  CalogCtxT *tc = ctx ? ctx : fn ? fn->owner : NULL;
  if (tc) calog__ctxRef(tc);
  if (!push(target, &m)) {
    if (ctx) calog__ctxUnref(ctx);
    if (fn) calogFnRelease(fn);
    st = calogFail(result, CALOG_ERR_DEAD,
                   ctx ? "the context is shutting down or was disposed" : "the function's context is shutting down or was disposed");
  } else {
    bool hostWaits = self == &rt->host; /* no host reply may be deferred meanwhile (it could never settle) */
    if (hostWaits) rt->hostBlocked++;
    CallWaitT w = {target, &m};
    waitBox(self, &box, 0, abandonCall, &w);
    if (hostWaits) rt->hostBlocked--;
    st = box.status;
    calogValueFree(result);
    calogValueMove(result, &box.result);
  }
  if (tc) calog__ctxUnref(tc);
  if (!self) {
    pthread_cond_destroy(&privCv);
    pthread_mutex_destroy(&privMu);
  }
  calog__nestLeave(rt);
  return st;
}

/* The open tickets: async requests whose completion calogHostPoll has not returned yet (calogHostWait's "nothing
 * left", and the only tickets calogRequestCancel acts on: one it recorded for a finished or never issued ticket stayed
 * for good and cancelled the request that got that number later). Linear probing with backward-shift deletion, at most
 * half full; all under host.mu. */
static uint32_t ticketSlot(uint32_t ticket, uint32_t cap) { return (ticket * 2654435761u) & (cap - 1); }

bool calog__ticketOpen(const CalogT *rt, uint32_t ticket) {
  if (ticket == 0 || rt->openCap == 0) return false;
  for (uint32_t i = ticketSlot(ticket, rt->openCap);; i = (i + 1) & (rt->openCap - 1)) {
    if (rt->openTickets[i] == ticket) return true;
    if (rt->openTickets[i] == 0) return false;
  }
}

static void ticketPut(uint32_t *set, uint32_t cap, uint32_t ticket) {
  uint32_t i = ticketSlot(ticket, cap);
  while (set[i] != 0) i = (i + 1) & (cap - 1);
  set[i] = ticket;
}

static bool ticketAdd(CalogT *rt, uint32_t ticket) {
  pthread_mutex_lock(&rt->host.mu);
  if (2 * (rt->asyncInFlight + 1) > rt->openCap) {
    uint32_t cap = rt->openCap ? rt->openCap * 2 : 64;
    uint32_t *set = calloc(cap, sizeof *set);
    if (set == NULL) {
      pthread_mutex_unlock(&rt->host.mu);
      return false;
    }
    for (uint32_t i = 0; i < rt->openCap; i++)
      if (rt->openTickets[i]) ticketPut(set, cap, rt->openTickets[i]);
    free(rt->openTickets);
    rt->openTickets = set, rt->openCap = cap;
  }
  ticketPut(rt->openTickets, rt->openCap, ticket);
  rt->asyncInFlight++;
  pthread_mutex_unlock(&rt->host.mu);
  return true;
}

/* caller holds host.mu */
static void ticketRemove(CalogT *rt, uint32_t ticket) {
  if (rt->openCap == 0) return;
  uint32_t mask = rt->openCap - 1, i = ticketSlot(ticket, rt->openCap);
  while (rt->openTickets[i] != ticket) {
    if (rt->openTickets[i] == 0) return;
    i = (i + 1) & mask;
  }
  rt->asyncInFlight--;
  /* backward shift: move up each later entry of the run whose home slot is not between the hole and it */
  for (uint32_t j = (i + 1) & mask; rt->openTickets[j] != 0; j = (j + 1) & mask) {
    uint32_t home = ticketSlot(rt->openTickets[j], rt->openCap);
    if (((j - home) & mask) >= ((j - i) & mask)) {
      rt->openTickets[i] = rt->openTickets[j];
      i = j;
    }
  }
  rt->openTickets[i] = 0;
}

int32_t calog__actorSubmit(CalogActorT *target, int kind, CalogCtxT *ctx, CalogFnT *fn, char *name, char *text,
                           int64_t len, CalogValueT *args, int32_t argc, uint32_t timeoutMs, uint32_t ticket,
                           bool awaited) {
  CalogMsgT *m = calloc(1, sizeof *m);
  CalogCompletionT *c = calloc(1, sizeof *c);
  if (m == NULL || c == NULL) {
    free(m);
    free(c);
    return CALOG_ERR_OOM;
  }
  c->ticket = ticket;
  *m = (CalogMsgT){.rt = target->rt, .kind = kind, .heap = true, .ctx = ctx, .fn = fn, .name = name, .text = text, .len = len,
                   .args = args, .argc = argc, .timeoutMs = timeoutMs, .ownsData = true, .done = c,
                   .awaited = awaited && tlsChain != 0, .chain = awaited ? tlsChain : 0};
  if (!ticketAdd(target->rt, ticket)) {
    free(m);
    free(c);
    return CALOG_ERR_OOM;
  }
  if (ctx) calog__ctxRef(ctx);
  if (fn) calogFnRetain(fn);
  if (!push(target, m)) {
    pthread_mutex_lock(&target->rt->host.mu);
    ticketRemove(target->rt, ticket);
    pthread_mutex_unlock(&target->rt->host.mu);
    m->ownsData = false; /* the caller keeps its data on failure */
    if (ctx) calog__ctxUnref(ctx);
    if (fn) calogFnRelease(fn);
    free(m);
    free(c);
    return CALOG_ERR_DEAD;
  }
  return CALOG_OK;
}

bool calog__actorPostRelease(CalogActorT *target, CalogFnT *fn) {
  CalogMsgT *m = calloc(1, sizeof *m);
  if (m == NULL) return false;
  m->rt = target->rt;
  m->kind = CALOG_MSG_RELEASE;
  m->heap = true;
  m->fn = fn;
  if (push(target, m)) return true;
  free(m);
  return false;
}

void calog__actorPostReap(CalogT *rt, CalogCtxT *ctx) {
  CalogMsgT *m = calloc(1, sizeof *m);
  if (m == NULL) return; /* the context lives on until the runtime is destroyed */
  m->rt = rt;
  m->kind = CALOG_MSG_REAP;
  m->heap = true;
  m->ctx = ctx;
  calog__ctxRef(ctx);
  if (push(&rt->host, m)) return;
  calog__ctxUnref(ctx); /* the runtime is closing: it destroys every context itself */
  free(m);
}

void calog__hostComplete(CalogT *rt, uint32_t ticket, int32_t status, CalogValueT *result) {
  CalogCompletionT *c = calloc(1, sizeof *c);
  if (c == NULL || !ticketAdd(rt, ticket)) {
    free(c);
    calogValueFree(result); /* the host finds no completion for this ticket: it rejects it as lost */
    return;
  }
  c->ticket = ticket;
  CalogMsgT m = {.rt = rt, .done = c};
  deliver(&m, status, result);
}

/* ---- deferred host replies -------------------------------------------------------------------------- */
CalogMsgT *calog__hostDeferArm(CalogT *rt, uint32_t *token) {
  CalogMsgT *m = rt->deferMsg;
  rt->deferMsg = NULL;
  *token = 0;
  if (m != NULL) {
    if (++rt->deferSeq == 0) ++rt->deferSeq;
    *token = rt->deferSeq;
  }
  return m;
}

void calog__hostDefer(CalogT *rt, CalogMsgT *m, uint32_t token) {
  CalogBoxT *box = m->reply;
  pthread_mutex_lock(&rt->host.mu);
  m->token = token;
  m->deferNext = rt->deferHead;
  rt->deferHead = m;
  /* still under host.mu: a waiter that tripped a limit withdraws m only once it finds it, after this, the
   * last touch of m and box here */
  pthread_mutex_lock(box->mu);
  box->deferred = true;
  pthread_cond_broadcast(box->cv);
  pthread_mutex_unlock(box->mu);
  pthread_mutex_unlock(&rt->host.mu);
}

CalogMsgT *calog__hostDeferTake(CalogT *rt, uint32_t token) {
  CalogMsgT *m = NULL;
  pthread_mutex_lock(&rt->host.mu);
  for (CalogMsgT **p = &rt->deferHead; *p != NULL; p = &(*p)->deferNext) {
    if ((*p)->token != token) continue;
    m = *p;
    *p = m->deferNext;
    break;
  }
  pthread_mutex_unlock(&rt->host.mu);
  return m;
}

void calog__hostDeferDeliver(CalogMsgT *m, int32_t status, CalogValueT *result) { deliver(m, status, result); }

/* ---- context threads -------------------------------------------------------------------------------- */
static CalogMsgT *popBlocking(CalogActorT *a) {
  uint64_t until = nowNs() + SPIN_NS;
  int yields = 0;
  for (unsigned i = 1; atomic_load_explicit(&a->pending, memory_order_acquire) == 0; i++) {
    if ((i & 31) == 0) {
      if (nowNs() >= until && yields++ == YIELDS) break;
      sched_yield(); /* see waitBox */
    } else {
      cpuRelax();
    }
  }
  pthread_mutex_lock(&a->mu);
  while (a->head == NULL && a->taskHead == NULL) pthread_cond_wait(&a->cv, &a->mu);
  CalogMsgT *m = popAnyLocked(a);
  pthread_mutex_unlock(&a->mu);
  return m;
}

/* A thread its runtime abandoned (it overran the dispose grace period) never runs library code again. */
static _Noreturn void parkForGood(void) {
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
  pthread_mutex_lock(&mu);
  for (;;) pthread_cond_wait(&cv, &mu);
}

static void *threadMain(void *arg) {
  CalogCtxT *ctx = arg;
  CalogT *rt = ctx->rt;
  tlsActor = &ctx->own;
  CalogValueT err = calogValueNil();
  int32_t st = ctx->engine->create(ctx, &ctx->interp, &err);
  if (st != CALOG_OK) st = calog__limitCreateFailed(ctx, st, &err);
  if (st == CALOG_OK) {
    CalogValueT r = calogValueNil();
    if ((st = calog__ctxHold(ctx, NULL, &r)) == CALOG_OK) calog__ctxUnhold(ctx); /* installs the natives */
    else calogValueMove(&err, &r);
    if (st != CALOG_OK) {
      ctx->engine->destroy(ctx->interp);
      ctx->interp = NULL;
    }
  }
  pthread_mutex_lock(&ctx->readyMu);
  ctx->createStatus = st;
  calogValueMove(&ctx->createErr, &err);
  ctx->ready = true;
  pthread_cond_signal(&ctx->readyCv);
  pthread_mutex_unlock(&ctx->readyMu);
  if (st == CALOG_OK) {
    while (!ctx->stopRequested) {
      CalogMsgT *m = popBlocking(&ctx->own);
      if (m->kind == CALOG_MSG_SHUTDOWN) {
        free(m);
        break;
      }
      dispatch(&ctx->own, m);
      if (atomic_load(&ctx->abandoned)) parkForGood();
    }
    calog__ctxShutdownHere(ctx);
    if (atomic_load(&ctx->abandoned)) parkForGood();
  }
  atomic_store(&ctx->exited, true);
  tlsActor = NULL;
  calog__ctxUnref(ctx); /* the thread's reference (never dereferences rt) */
  /* Last touch of the runtime: the host joins this thread (calog__reapThreads) before it frees anything. */
  pthread_mutex_lock(&rt->host.mu);
  rt->threads--;
  if (rt->exitedCount == rt->exitedCap) {
    uint32_t cap = rt->exitedCap ? rt->exitedCap * 2 : 8;
    pthread_t *p = realloc(rt->exited, cap * sizeof *p);
    if (p) rt->exited = p, rt->exitedCap = cap;
  }
  if (rt->exitedCount < rt->exitedCap) rt->exited[rt->exitedCount++] = pthread_self();
  else pthread_detach(pthread_self()); /* out of memory: cannot be joined, at least not leaked */
  pthread_cond_broadcast(&rt->host.cv);
  pthread_mutex_unlock(&rt->host.mu);
  return NULL;
}

int32_t calog__threadStart(CalogCtxT *ctx, CalogValueT *err) {
  CalogT *rt = ctx->rt;
  pthread_attr_t attr;
  if (pthread_attr_init(&attr) != 0) return calogFail(err, CALOG_ERR_OOM, "cannot create a thread");
  size_t stack = THREAD_STACK;
  if (stack < (size_t)PTHREAD_STACK_MIN) stack = (size_t)PTHREAD_STACK_MIN;
  pthread_attr_setstacksize(&attr, stack);
  pthread_mutex_lock(&rt->host.mu);
  rt->threads++;
  pthread_mutex_unlock(&rt->host.mu);
  calog__ctxRef(ctx); /* the thread's reference */
  pthread_t t;
  int r = pthread_create(&t, &attr, threadMain, ctx);
  pthread_attr_destroy(&attr);
  if (r != 0) {
    pthread_mutex_lock(&rt->host.mu);
    rt->threads--;
    pthread_mutex_unlock(&rt->host.mu);
    calog__ctxUnref(ctx);
    return calogFail(err, CALOG_ERR_OOM, "cannot start a context thread (%s)", strerror(r));
  }
  ctx->own.thread = t;
  pthread_mutex_lock(&ctx->readyMu);
  while (!ctx->ready) pthread_cond_wait(&ctx->readyCv, &ctx->readyMu);
  pthread_mutex_unlock(&ctx->readyMu);
  if (ctx->createStatus != CALOG_OK) {
    calogValueFree(err);
    calogValueMove(err, &ctx->createErr);
  }
  return ctx->createStatus;
}

/* ---- the host ------------------------------------------------------------------------------------- */
void calog__hostPumpUntil(CalogT *rt, bool (*pred)(CalogT *)) {
  CalogActorT *h = &rt->host;
  rt->hostBlocked++;
  for (;;) {
    pthread_mutex_lock(&h->mu);
    while (h->head == NULL && !pred(rt)) pthread_cond_wait(&h->cv, &h->mu);
    CalogMsgT *m = popLocked(h);
    pthread_mutex_unlock(&h->mu);
    if (m == NULL) break; /* pred holds and nothing is queued */
    dispatch(h, m);
  }
  rt->hostBlocked--;
}

bool calog__hostPumpUntilTimed(CalogT *rt, bool (*pred)(CalogT *), uint64_t deadlineNs) {
  CalogActorT *h = &rt->host;
  struct timespec ts = {.tv_sec = (time_t)(deadlineNs / 1000000000u), .tv_nsec = (long)(deadlineNs % 1000000000u)};
  rt->hostBlocked++;
  for (;;) {
    pthread_mutex_lock(&h->mu);
    int r = 0;
    while (h->head == NULL && !pred(rt) && r != ETIMEDOUT) r = pthread_cond_timedwait(&h->cv, &h->mu, &ts);
    bool held = pred(rt);
    CalogMsgT *m = popLocked(h);
    pthread_mutex_unlock(&h->mu);
    if (m == NULL) {
      rt->hostBlocked--;
      return held;
    }
    dispatch(h, m);
  }
}

void calogHostSetWaker(CalogT *rt, CalogHostWakeFnT waker) {
  if (rt == NULL) return;
  atomic_store(&rt->waker, waker);
  /* work that arrived before the waker existed must not wait for an unrelated poll */
  pthread_mutex_lock(&rt->host.mu);
  bool work = rt->host.head != NULL || rt->host.taskHead != NULL || rt->doneHead != NULL;
  pthread_mutex_unlock(&rt->host.mu);
  if (work) {
    atomic_store(&rt->wakePending, 0);
    wakeHost(rt);
  }
}

int32_t calogHostWait(CalogT *rt, int32_t timeoutMs) {
  if (rt == NULL) return -1;
  CalogActorT *h = &rt->host;
  pthread_mutex_lock(&h->mu);
  if (rt->closing) {
    pthread_mutex_unlock(&h->mu);
    return -1;
  }
  rt->hostWaiters++;
  struct timespec deadline;
  if (timeoutMs >= 0) {
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeoutMs / 1000;
    deadline.tv_nsec += (long)(timeoutMs % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) deadline.tv_sec++, deadline.tv_nsec -= 1000000000L;
  }
  int r = 0;
  /* waiting forever: also until nothing is left that could bring work by itself (no async request in flight,
   * no registration counted in hostInterest), or a Deno process would be kept alive by this wait for good */
  while (!rt->closing && h->head == NULL && h->taskHead == NULL && rt->doneHead == NULL && !rt->reapPoke && r != ETIMEDOUT &&
         !(timeoutMs < 0 && rt->asyncInFlight == 0 && __atomic_load_n(&rt->wire.hostInterest, __ATOMIC_RELAXED) == 0)) {
    if (timeoutMs >= 0) r = pthread_cond_timedwait(&h->cv, &h->mu, &deadline);
    else pthread_cond_wait(&h->cv, &h->mu);
  }
  int32_t out = rt->closing ? -1 : (h->head != NULL || h->taskHead != NULL || rt->doneHead != NULL || rt->reapPoke) ? 1 : 0;
  rt->hostWaiters--;
  if (rt->closing) pthread_cond_broadcast(&h->cv);
  pthread_mutex_unlock(&h->mu);
  return out;
}

void calog__hostServe(CalogT *rt) {
  CalogActorT *h = &rt->host;
  bool top = h->nesting == 0; /* tasks only at the top level, not inside a call the host waits on */
  /* At most what is queued now: a context thread calling the host in a loop queues its next call within a
   * microsecond of each reply, so serving until the queue is empty could go on for as long as the script does,
   * and the host's event loop (and a synchronous crossing ending in reply()) waited meanwhile. What arrives
   * later is served by the caller's next look or brought by a wake (wakePending: 1 only while a wake is on its
   * way or the host looks again anyway, see calogHostPollWait). */
  if (top && rt->reapLater != NULL) {
    CalogMsgT *later = rt->reapLater;
    rt->reapLater = NULL;
    while (later != NULL) { /* each goes now if there is room, else back on the list (see deferReap) */
      CalogMsgT *m = later;
      later = m->next;
      dispatch(h, m); /* m may be gone */
    }
    if (rt->reapLater == NULL) { /* the poke is over once they are: a look deep in the stack leaves it for the next */
      pthread_mutex_lock(&h->mu);
      rt->reapPoke = false;
      pthread_mutex_unlock(&h->mu);
    }
  }
  int32_t budget = atomic_load(&h->pending) + (top ? atomic_load(&h->tasks) : 0);
  for (; budget > 0; budget--) {
    /* no lock when there is nothing: a host looking often (Bun's quick looks after an async request) must not
     * make the context thread that is delivering to it wait for the mutex. A message pushed after these loads
     * is not lost: its push wakes the host (wakePending, reset by the poll before this look) */
    if (atomic_load(&h->pending) == 0 && (!top || atomic_load(&h->tasks) == 0)) return;
    pthread_mutex_lock(&h->mu);
    CalogMsgT *m = top ? popAnyLocked(h) : popLocked(h);
    pthread_mutex_unlock(&h->mu);
    if (m == NULL) return;
    dispatch(h, m);
  }
}

void calog__hostInterest(CalogT *rt, int delta) {
  if (__atomic_add_fetch(&rt->wire.hostInterest, (uint32_t)delta, __ATOMIC_RELAXED) != 0) return;
  pthread_mutex_lock(&rt->host.mu); /* the last one went: a calogHostWait with nothing else to wait for returns */
  pthread_cond_broadcast(&rt->host.cv);
  pthread_mutex_unlock(&rt->host.mu);
  /* and a host woken through the waker (Bun) looks again: it holds its event loop open while work can arrive
   * by itself, which, on the io or a context thread, has just stopped without posting anything to it */
  wakeHost(rt);
}

/* calogHostPoll; wake = false keeps wakes held back (the host thread is awake and will look again). */
static int32_t hostPoll(CalogT *rt, bool wake) {
  CalogActorT *h = &rt->host;
  if (wake) atomic_store(&rt->wakePending, 0);
  calog__hostServe(rt);
  if (atomic_load(&rt->doneCount) == 0) return 0; /* as above: no lock for nothing; a completion after this wakes */
  pthread_mutex_lock(&h->mu);
  CalogCompletionT *c = rt->doneHead;
  if (c) {
    rt->doneHead = c->next;
    if (rt->doneHead == NULL) rt->doneTail = NULL;
    atomic_fetch_sub(&rt->doneCount, 1);
    ticketRemove(rt, c->ticket);
  }
  pthread_mutex_unlock(&h->mu);
  if (c == NULL) return 0;
  int32_t st = c->status;
  uint32_t len = calog__hostEncodeOutcome(rt, &st, &c->result);
  rt->wire.pollTicket = c->ticket;
  rt->wire.pollStatus = st;
  rt->wire.pollLen = len;
  free(c);
  return 1;
}

static int32_t calogHostPollImpl(CalogT *rt) { return rt == NULL ? 0 : hostPoll(rt, true); }

/* Whether the host has anything to poll (under h->mu). */
static bool hostHasWorkLocked(CalogT *rt) {
  return rt->host.head != NULL || rt->host.taskHead != NULL || rt->doneHead != NULL || rt->reapPoke;
}

static int32_t calogHostPollWaitImpl(CalogT *rt, int32_t waitUs) {
  if (rt == NULL) return 0;
  CalogActorT *h = &rt->host;
  uint32_t replied = rt->hostReplied;
  /* Nested in a call the host waits on (a drain from a host function), tasks are not served here: a window
   * would hold back the wake they need. Only the top level waits. */
  bool wake = waitUs <= 0 || h->nesting > 0;
  if (!wake) {
    /* A script that called just now usually calls again within a microsecond or two: spin briefly (yielding,
     * so a context thread sharing this core runs), then sleep until a message arrives or the window ends.
     * Wakes stay held back while this thread is awake (a wake costs the caller more than the call); they are
     * let through again before the last look, which ends every drain (calogHostPoll or a wait that expired). */
    atomic_store(&rt->wakePending, 1);
    if (atomic_load_explicit(&h->pending, memory_order_acquire) == 0 &&
        atomic_load_explicit(&rt->doneCount, memory_order_acquire) == 0) {
      uint64_t start = nowNs(), end = start + (uint64_t)waitUs * 1000u, spinUntil = start + HOST_SPIN_NS;
      bool work = false;
      for (unsigned i = 1; !(work = atomic_load_explicit(&h->pending, memory_order_acquire) != 0 ||
                                   atomic_load_explicit(&rt->doneCount, memory_order_acquire) != 0); i++) {
        if ((i & 31) != 0) {
          cpuRelax();
          continue;
        }
        if (nowNs() >= spinUntil) break;
        sched_yield();
      }
      if (!work) {
        pthread_mutex_lock(&h->mu);
        struct timespec ts = {.tv_sec = (time_t)(end / 1000000000u), .tv_nsec = (long)(end % 1000000000u)};
        while (!rt->closing && !hostHasWorkLocked(rt) && pthread_cond_timedwait(&h->cv, &h->mu, &ts) != ETIMEDOUT) {}
        work = hostHasWorkLocked(rt);
        pthread_mutex_unlock(&h->mu);
        if (!work) wake = true; /* the window closed empty: the last look lets wakes through first */
      }
    }
  }
  if (hostPoll(rt, wake) == 1) return 1;
  if (rt->hostReplied != replied) return 2;
  /* Only other work came (a release, a foreign call, a callback): the window ends here, so a 0 too lets wakes
   * through first and looks once more (work posted while they were held would wait for an unrelated wake). */
  if (!wake && hostPoll(rt, true) == 1) return 1;
  return rt->hostReplied != replied ? 2 : 0;
}

CalogMsgT *calog__msgShutdown(CalogT *rt) {
  CalogMsgT *m = calloc(1, sizeof *m);
  if (m) {
    m->rt = rt;
    m->kind = CALOG_MSG_SHUTDOWN;
    m->heap = true;
  }
  return m;
}

bool calog__actorPush(CalogActorT *a, CalogMsgT *m) { return push(a, m); }

void calog__actorDrainDead(CalogActorT *a) {
  for (;;) {
    pthread_mutex_lock(&a->mu);
    CalogMsgT *m = popAnyLocked(a);
    pthread_mutex_unlock(&a->mu);
    if (m == NULL) return;
    if (m->kind == CALOG_MSG_SHUTDOWN) {
      free(m);
      continue;
    }
    if (m->kind == CALOG_MSG_RELEASE || m->kind == CALOG_MSG_TASK) {
      dispatch(a, m);
      continue;
    }
    if (m->kind == CALOG_MSG_REAP) {
      calog__ctxUnref(m->ctx);
      free(m);
      continue;
    }
    CalogValueT r = calogValueNil();
    int32_t st = calogFail(&r, CALOG_ERR_DEAD, "context was destroyed before the call ran");
    deliver(m, st, &r);
  }
}

void calog__actorDropReaps(CalogT *rt) {
  while (rt->reapLater != NULL) {
    CalogMsgT *m = rt->reapLater;
    rt->reapLater = m->next;
    if (m->reapHeld) calog__hostInterest(rt, -1);
    calog__ctxUnref(m->ctx);
    free(m);
  }
}

void calog__actorStop(CalogActorT *a, CalogMsgT *m) {
  m->next = NULL;
  pthread_mutex_lock(&a->mu);
  a->accepting = false;
  if (a->tail) a->tail->next = m;
  else a->head = m;
  a->tail = m;
  atomic_fetch_add(&a->pending, 1);
  pthread_cond_signal(&a->cv);
  pthread_mutex_unlock(&a->mu);
}

void calog__reapThreads(CalogT *rt) {
  pthread_mutex_lock(&rt->host.mu);
  pthread_t *list = rt->exited;
  uint32_t n = rt->exitedCount;
  rt->exited = NULL;
  rt->exitedCount = rt->exitedCap = 0;
  pthread_mutex_unlock(&rt->host.mu);
  for (uint32_t i = 0; i < n; i++) pthread_join(list[i], NULL);
  free(list);
}

/* The exported entry points that may run host callbacks: each also leaves its return value in the control
 * block (CalogWireControlT.ret). */
CALOG_RETURN_TO_CONTROL(calogHostPoll, (CalogT *rt), (rt))
CALOG_RETURN_TO_CONTROL(calogHostPollWait, (CalogT *rt, int32_t waitUs), (rt, waitUs))
