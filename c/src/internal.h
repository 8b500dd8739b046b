/* internal.h -- shared internals of libcalog. Never installed, never included by hosts.
 * Prefix: calog__ (hidden visibility; only calog* public functions are exported). */
#ifndef CALOG_INTERNAL_H
#define CALOG_INTERNAL_H

#include "calog.h"
#include "stack.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline uint64_t calog__nowNs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#define CALOG_HIDDEN __attribute__((visibility("hidden")))

typedef struct CalogPairT {
  CalogValueT key;
  CalogValueT value;
} CalogPairT;

struct CalogAggT {
  CalogAggKindE kind;
  CalogValueT *array;
  int64_t arrayCount, arrayCap;
  CalogPairT *pairs;
  int64_t pairCount, pairCap;
};

typedef struct CalogCtxT CalogCtxT;
typedef struct CalogActorT CalogActorT;
typedef struct CalogSrcT CalogSrcT;   /* codec.h */
typedef struct CalogSinkT CalogSinkT; /* codec.h */
typedef struct CalogMsgT CalogMsgT;

/* A hook a layer on top of the core (the I/O layer) runs when a context closes: on the context's thread,
 * before its interpreter is destroyed (its function values still alive). */
typedef struct CalogCloseHookT {
  struct CalogCloseHookT *next;
  void (*fn)(CalogCtxT *ctx, void *arg);
  void *arg;
} CalogCloseHookT;

/* A function value. Its closure (fn + userData) must run on `actor`'s thread (NULL: any thread, a plain C
 * function). `owner` is the context whose interpreter holds the closure (NULL for host and C functions);
 * a function holds a reference on its owner's struct, so `owner` stays valid for the function's life.
 * refs is atomic. alive, owner's list links and release are guarded by owner->actor->mu. */
struct CalogFnT {
  CalogNativeFnT fn;
  void *userData;
  CalogReleaseFnT release;
  _Atomic int32_t refs;
  _Atomic bool alive;      /* false once the owning context killed it */
  CalogContextIdT ownerId; /* 0: not owned by a context */
  CalogCtxT *owner;
  CalogActorT *actor;
  CalogFnT *prev, *next;   /* in owner->fns while alive */
  bool orphan;             /* last reference dropped while the owner was shutting down: kill frees it */
};

/* What a native name is bound to. Immutable once published; refcounted so a replacement never frees it
 * under a running call. actor: where it must run (the host for TypeScript functions, NULL: any thread). */
typedef struct CalogBindingT {
  CalogNativeFnT fn;
  void *userData;
  CalogReleaseFnT release;
  CalogActorT *actor;
  _Atomic int32_t refs;
} CalogBindingT;

/* A registered name. Entries are never freed before the runtime, so engines may keep the pointer in their
 * closures. binding is NULL once unregistered; it is written by the host thread under rt->lock. */
typedef struct CalogNativeEntryT {
  char *name;
  CalogBindingT *_Atomic binding;
  CalogT *rt;
} CalogNativeEntryT;

/* The engine vtable: everything the broker knows about an engine. Every hook runs on the context's
 * thread. Hooks return a CalogStatusE and put errors into result/err (the one channel). */
typedef struct CalogEngineT {
  const char *name;
  int32_t (*create)(CalogCtxT *ctx, void **interpOut, CalogValueT *err);
  /* Closes the interpreter. While it runs (finalizers), the adapter must refuse to export new closures. */
  void (*destroy)(void *interp);
  /* Makes entry callable under entry->name (a global). Called for every registration, old and new. */
  int32_t (*installNative)(void *interp, CalogNativeEntryT *entry, CalogValueT *err);
  int32_t (*eval)(void *interp, const char *src, int64_t len, const char *chunkName, CalogValueT *result);
  int32_t (*call)(void *interp, const char *name, CalogValueT *args, int32_t argc, CalogValueT *result);
  int32_t (*get)(void *interp, const char *name, CalogValueT *result);
  int64_t (*memory)(void *interp); /* may be NULL */
  /* Optional (NULL: the wire paths go through call and CalogValueT). Calls the global `name`, or, name NULL,
   * `closure` (the userData of a function value of this engine: one whose fn is closureFn) with argc
   * arguments read from args, and puts the first result into result (codec.h); errors into err. The wire
   * paths use it to marshal straight between IN / OUT and the engine's stack. */
  int32_t (*callVia)(void *interp, const char *name, void *closure, CalogSrcT *args, int32_t argc,
                     CalogSinkT *result, CalogValueT *err);
  CalogNativeFnT closureFn;
  /* Optional: counts the steps the interpreter ran since its last limits tick into the entry running now and
   * starts a new step budget from that entry's limits. Called where one entry's limit state gives way to
   * another's on the same interpreter (an async request served nested on a wait, and back), so neither is
   * charged the other's steps nor runs on the other's budget. Context thread. */
  void (*syncSteps)(void *interp);
} CalogEngineT;

/* An actor: one thread and its MPSC inbound queue. Each runtime has a host actor (the thread that created
 * the runtime: the JS thread for the bindings); each threaded context has its own. */
struct CalogActorT {
  CalogT *rt;
  pthread_mutex_t mu;
  pthread_cond_t cv; /* a message arrived, or a reply for a call this thread waits on */
  CalogMsgT *head, *tail;
  _Atomic int32_t pending; /* queued messages (read without the lock by spinners) */
  _Atomic uint64_t seq;    /* messages ever queued (changed under mu): a wait's box notes it when the wait begins */
  CalogMsgT *taskHead, *taskTail; /* queued tasks (calog__ctxPost): run only at the top level, never nested */
  _Atomic int32_t tasks;   /* queued tasks (changed under mu; read without it by a reply's look for work) */
  pthread_t thread;
  bool isHost;
  bool accepting; /* under mu: false once the actor is shutting down */
  int32_t nesting; /* calls nested on this thread (owner thread only) */
  CalogCtxT *running; /* the context whose entry is innermost on this thread (owner thread only) */
  CalogCtxT *ctx;  /* NULL for the host actor */
};

/* Limits of a context (0 = unlimited). The host thread writes them (create, calogContextSetLimits) with
 * relaxed atomic stores; the context thread reads them when an entry starts. */
typedef struct CalogLimitsT {
  _Atomic int64_t memory;    /* bytes the interpreter may hold */
  _Atomic int64_t steps;     /* engine steps per entry */
  _Atomic int64_t timeoutMs; /* wall-clock ms per entry */
  _Atomic int64_t output;    /* bytes printed per entry */
} CalogLimitsT;

/* A script context. */
struct CalogCtxT {
  CalogT *rt;
  CalogContextIdT id;
  const CalogEngineT *engine;
  void *interp;
  uint32_t nativesSeen; /* registry entries installed so far (context thread only) */
  CalogFnT *fns;        /* closures this context exported, alive (guarded by actor->mu) */
  int32_t busy;         /* host-thread contexts: frames on the stack */
  _Atomic bool dying;   /* destroy requested (written by the host thread) */
  _Atomic bool released; /* calogContextRelease: destroyed once no function value of it is alive */
  bool threaded;
  bool stopRequested;   /* threaded: SHUTDOWN seen by a nested pump; handled at top level */
  _Atomic int32_t refs; /* the registry + every owned function value + every message in flight */
  CalogActorT *actor;   /* &rt->host, or &own */
  CalogActorT own;
  CalogMsgT *shutdownMsg; /* preallocated so destroy cannot fail */
  CalogValueT options;    /* the creation options (a map, or nil): read-only for the context's life */
  CalogLimitsT limits;
  /* The current entry (an outermost eval/call/function call; context thread unless said otherwise) */
  int64_t outputUsed;     /* bytes printed */
  int64_t outputCap;      /* the output limit when the entry started (0 = none): setLimits applies from the next */
  int64_t stepsUsed;      /* engine steps counted so far */
  int64_t stepsCap;       /* the steps limit when the entry started (0 = none) */
  uint64_t startNs, deadlineNs; /* entry start; deadline (0 = none) */
  bool installing; /* the entry calog__ctxHold makes to install natives runs: no async request's entry starts */
  int64_t timeoutMs;      /* the timeout the deadline came from */
  _Atomic int32_t trip;   /* CalogLimitKindE that stopped the entry (0 = none): stays raised until the entry
                             returns to its caller; any thread may raise INTERRUPT */
  _Atomic uint32_t runningTicket; /* async request being run by the outermost entry (0 = none) */
  _Atomic uint64_t interruptEpoch; /* bumped by each interrupt: a request queued before it fails unrun */
  uint64_t queuedEpoch;   /* the interruptEpoch when the request being dispatched was queued (context thread) */
  bool hasQueuedEpoch;    /* a queued request is being dispatched: its entry re-checks the epoch at start */
  int64_t tripUsed, tripCeiling;
  int64_t tripPartial; /* what the operation a limit stopped had done (a send: bytes written), -1: nothing said */
  struct CalogAsyncEntryT *asyncTop; /* the async requests running in it, innermost first (context thread) */
  uint64_t buriedNs; /* the earliest deadline of those under the innermost one not answered yet (0: none) */
  /* 1 + the place on this thread's entry stack of the entry or wait below whose stop tripped this context's
   * INTERRUPT (calog__entriesBelowStop), 0: none. That stop is the entries' above that place: a nested entry of this
   * context ending above it clears it for the context's entries below that place (context thread). */
  int32_t belowStopAt;
  int32_t entryBelow;  /* frames (busy) of other entries under the current one: it is outermost at busy == entryBelow + 1
                          (an async request served nested on a wait is an entry of its own, see calog__limitNestBegin) */
  _Atomic bool exited;    /* threaded: its thread finished with the context */
  _Atomic bool abandoned; /* its thread overran the dispose grace period: it parks for good when it returns */
  _Atomic int64_t lastSteps; /* steps of the last finished entry (published for stats) */
  _Atomic int64_t trips;     /* limits tripped so far */
  _Atomic int64_t ioHandles; /* live I/O handles it owns (sockets, timers, pending callback operations): their C
                                memory counts against the memory limit (c/src/io) */
  _Atomic int64_t ioBuffered; /* bytes its connections hold for it outside the interpreter: received and not yet
                                 taken, and the copies of callback-form sends (c/src/io) */
  CalogCloseHookT *closeHooks; /* run once when the context closes (context thread only) */
  /* creation handshake (threaded), on its own mutex/condvar */
  pthread_mutex_t readyMu;
  pthread_cond_t readyCv;
  bool ready;
  int32_t createStatus;
  CalogValueT createErr;
};

typedef struct CalogCtxSlotT {
  CalogCtxT *ctx;
  uint16_t gen;
  uint16_t nextFree; /* freelist link, index + 1 (0 = end) */
} CalogCtxSlotT;

typedef struct CalogHandleSlotT {
  CalogFnT *fn;
  uint32_t gen;
  uint32_t nextFree; /* index + 1 */
} CalogHandleSlotT;

/* A finished asynchronous request, waiting for the host to collect it with calogHostPoll. */
typedef struct CalogCompletionT {
  struct CalogCompletionT *next;
  uint32_t ticket;
  int32_t status;
  CalogValueT result;
} CalogCompletionT;

struct CalogT {
  _Atomic CalogPolicyE policy;
  pthread_mutex_t lock; /* contexts table and registry: written by the host thread under it */
  /* contexts: generationed slot table */
  CalogCtxSlotT *ctxSlots;
  uint32_t ctxCount, ctxCap;
  uint16_t ctxFree;
  int32_t threads; /* live context threads (under host.mu); destroy waits for 0 */
  pthread_t *exited; /* threads that finished their work, to join (under host.mu) */
  uint32_t exitedCount, exitedCap;
  /* native registry */
  CalogNativeEntryT **natives;
  _Atomic uint32_t nativeCount;
  uint32_t nativeCap;
  /* the host */
  CalogActorT host;
  CalogCompletionT *doneHead, *doneTail; /* under host.mu */
  _Atomic uint32_t doneCount; /* completions queued (changed under host.mu; read without it by a spin) */
  /* under host.mu: the tickets of async requests whose completion calogHostPoll has not returned yet (an open-
   * addressed set, 0 = empty slot; calogRequestCancel ignores any other ticket) and how many there are */
  uint32_t *openTickets;
  uint32_t openCap, asyncInFlight;
  uint32_t nextTicket;
  void (*_Atomic waker)(void);
  CalogValueT lastOut; /* the value last encoded into OUT when keptFns could not grow: freed at the host's next entry */
  CalogFnT **keptFns;  /* the host functions in the value last encoded into OUT (retained; calog__hostKeepUntilNext) */
  uint32_t keptCount, keptCap;
  _Atomic int32_t wakePending;
  int32_t hostWaiters; /* threads inside calogHostWait (under host.mu) */
  bool closing;        /* under host.mu */
  CalogMsgT *reapLater; /* host thread: REAPs of host-thread contexts waiting for C stack to close them (deferReap) */
  bool reapPoke;        /* under host.mu: reapLater is not empty (calogHostWait: work), until a look empties it */
  uint32_t *cancelled; /* tickets of async requests cancelled before they completed (under host.mu) */
  uint32_t cancelledCount, cancelledCap;
  uint32_t abandoned;  /* context threads abandoned at close: the runtime's memory is then never freed */
  /* deferred host replies (calogHostSettleWire) */
  CalogMsgT *deferMsg;  /* host thread: the request being served whose reply may be deferred (NULL: none) */
  CalogMsgT *deferHead; /* requests whose reply is deferred, linked through the message (under host.mu) */
  uint32_t deferSeq;    /* the last token handed out (host thread) */
  int32_t hostBlocked;  /* host thread: waits in progress (a synchronous call, a close) that forbid deferring */
  uint32_t hostReplied; /* host thread: calls from context threads the host served and answered at once */
  /* wire (host thread only) */
  CalogWireControlT wire;
  /* the innermost wire sink writing OUT (codec.h), NULL when none: a host call made while it writes (code an
   * engine runs while marshalling: a getter, a finalizer) keeps its bytes and puts them back (wire.c) */
  struct CalogSinkT *wireSink;
  CalogHostCallFnT hostCall;
  CalogHostReleaseFnT hostRelease;
  uint32_t *lost; /* host function ids whose release callback could not run (calogHostTakeRelease) */
  uint32_t lostCap;
  CalogHandleSlotT *handles;
  uint32_t handleCount, handleCap, handleFree;
  /* one extension a layer on top of the core may hang on the runtime (the I/O layer): created lazily
   * under lock by calog__rtExtEnsure, closed by calogHostClose once every context is gone */
  void *_Atomic ext;
  void (*extClose)(void *ext);
};

#define CALOG_MAX_NESTING 64

/* value.c */
CALOG_HIDDEN int32_t calog__aggReserve(CalogAggT *agg, int64_t arrayCap, int64_t pairCap);
/* Gives back the room past agg's items (false: a realloc failed, some room is kept). */
CALOG_HIDDEN bool calog__aggShrink(CalogAggT *agg);
CALOG_HIDDEN int32_t calog__copyDepth(CalogValueT *dst, const CalogValueT *src, int depth);
CALOG_HIDDEN bool calog__isKeyType(CalogTypeE t);
CALOG_HIDDEN bool calog__utf8Valid(const char *s, int64_t len);
/* s[0, n) made fit to quote in a message, into out (cap bytes, NUL-terminated; 6 * max + 4 is always enough): at most
 * max bytes of it, cut where no UTF-8 character is split and followed by "..." when cut, a NUL byte written \0. */
CALOG_HIDDEN const char *calog__clipText(char *out, size_t cap, const char *s, size_t n, size_t max);
/* Adds the value a script threw (taken) to the error in result as its "value" field; a plain string error
 * becomes a record {message, value}. On OOM the value is dropped, the error kept. */
CALOG_HIDDEN void calog__errorAttachValue(CalogValueT *result, CalogValueT *value);
/* Where an error came from, carried by the error record itself through every engine it crosses (so nothing
 * is matched by message text): "status" is the status it surfaces with when it leaves a script uncaught (a
 * capability's CALOG_ERR_PERMISSION, the output limit's CALOG_ERR_LIMIT), "host" the id the host gave the
 * exception of a host function it comes from (calogHostInstall). 0: none. An engine that raises such an
 * error into a script remembers the raise exactly (the raised object, or the raise site) and marks its own
 * error with the same fields only when that raise is what ended the entry, uncaught. */
typedef struct CalogRaiseT {
  int32_t status;
  int64_t host;
} CalogRaiseT;
/* Marks the message of the error in result as the engine's placeholder for a thrown value that is not text
 * ("placeholder": true; see calogErrorSet): set by the engine that wrote it, never guessed from the text. */
CALOG_HIDDEN void calog__errorMarkPlaceholder(CalogValueT *result);
/* Records on the error record `result` (made one if it is a string) the engine that threw its value, when a host
 * function passed that value on: a refusal of the value names it (calog__errorValueRefused). */
CALOG_HIDDEN void calog__errorSetThrower(CalogValueT *result, const char *engine, int64_t n);
CALOG_HIDDEN bool calog__errorIsPlaceholder(const CalogValueT *err);
/* Replaces the message of the error in result (a string, or a record's "message"); on OOM it stays. The new message
 * is no placeholder. */
CALOG_HIDDEN void calog__errorSetMessage(CalogValueT *result, const char *message);
/* The same for a message of n bytes (NUL bytes kept). */
CALOG_HIDDEN void calog__errorSetMessageN(CalogValueT *result, const char *message, int64_t n);
/* The value in the error in result (see calog__errorAttachValue) was refused by the engine it was raised into
 * (`into`: "lua", "js", "squirrel"), why saying why: the message becomes "<engine> threw a value that cannot cross
 * into <into>: <why>", so the error raised there instead says what was lost and why (the source engine's own text
 * for the value, "(error object is a table value)", said neither). */
/* v's own non-empty string "message" field when v is a map (a thrown value's text in the README's order), else NULL */
CALOG_HIDDEN const CalogValueT *calog__valueMessageField(const CalogValueT *v);
CALOG_HIDDEN void calog__errorValueRefused(CalogValueT *result, const char *into, const CalogValueT *why);
/* The value to raise for the error in err in the engine it enters: the value its script threw, or NULL when there is
 * none or it is the error's own text (a thrown string, text calog raised), which the engine raises as text. A string
 * value that is not the message (the bytes of a JS Uint8Array or ArrayBuffer, whose message is "[object Uint8Array]")
 * is raised as that value: raised as the message, the bytes were lost at the first hop. */
CALOG_HIDDEN const CalogValueT *calog__errorRaiseValue(const CalogValueT *err);
/* The message a value raised into another engine carries there (see calog__errorRaiseValue): the error's message
 * when it says something of its own (a __tostring, a toString, a _tostring), else NULL (*n: its length): an empty
 * one, or the placeholder an engine gives a value that is not text ("(error object is a table value)",
 * "[object Object]": marked so, calog__errorMarkPlaceholder), which the engine the value reaches says in its own
 * words. */
CALOG_HIDDEN const char *calog__errorCarriedMessage(const CalogValueT *err, int64_t *n);
/* The marks of an error value (zeros for a plain string or an unmarked record). */
CALOG_HIDDEN CalogRaiseT calog__errorRaiseOf(const CalogValueT *err);
/* Adds the marks (nonzero ones, not already there) to the error in result (a string becomes a record). */
CALOG_HIDDEN void calog__errorMark(CalogValueT *result, CalogRaiseT mark);

/* fn.c */
/* A function value owned by ctx: linked into ctx->fns; killed (release run, alive = false) when ctx dies.
 * Call on ctx's thread. */
CALOG_HIDDEN CalogFnT *calog__fnCreateOwned(CalogCtxT *ctx, CalogNativeFnT fn, void *userData,
                                            CalogReleaseFnT release);
/* Kills every closure ctx exported (on ctx's thread, interpreter still alive). */
CALOG_HIDDEN void calog__fnKillOwned(CalogCtxT *ctx);
/* Runs a function value's closure here (the caller is on fn->actor's thread). */
CALOG_HIDDEN int32_t calog__fnInvokeHere(CalogFnT *fn, CalogValueT *args, int32_t argc, CalogValueT *result);
/* Releases the closure and frees the shell (on fn->actor's thread). */
CALOG_HIDDEN void calog__fnFinalize(CalogFnT *fn);

/* runtime.c */
/* Lent pointer to options[key] when options is a map holding that string key, else NULL. */
CALOG_HIDDEN const CalogValueT *calog__optGet(const CalogValueT *options, const char *key);
CALOG_HIDDEN CalogCtxT *calog__ctxResolve(CalogT *rt, CalogContextIdT id); /* +1 ref, or NULL */
CALOG_HIDDEN void calog__ctxRef(CalogCtxT *ctx);
CALOG_HIDDEN void calog__ctxUnref(CalogCtxT *ctx);
CALOG_HIDDEN int32_t calog__nativeInvoke(CalogNativeEntryT *entry, CalogValueT *args, int32_t argc,
                                         CalogValueT *result);
CALOG_HIDDEN int32_t calog__bindingInvokeHere(CalogNativeEntryT *e, CalogValueT *args, int32_t argc,
                                              CalogValueT *result);
CALOG_HIDDEN const CalogEngineT *calog__engineFind(const char *name);
/* Holds a context for one entry into its interpreter on its own thread (nesting cap, lazy native install,
 * busy count); a host-thread context destroyed while held is freed by the last calog__ctxUnhold. timeoutMs (NULL:
 * none): the call's own timeout, which an install of natives runs under in an entry of its own; on return, what
 * that install left of it for the call. */
CALOG_HIDDEN int32_t calog__ctxHold(CalogCtxT *ctx, uint32_t *timeoutMs, CalogValueT *result);
CALOG_HIDDEN void calog__ctxUnhold(CalogCtxT *ctx);
/* Brackets one entry into a held context (eval, call, get, a function value's closure): the outermost
 * starts the per-entry limits (timeoutMs: a per-call timeout, 0 = the context's own); the end turns a
 * tripped limit into its error. entryBegin returns what entryEnd needs back. Context thread. */
CALOG_HIDDEN CalogCtxT *calog__entryBegin(CalogCtxT *ctx, uint32_t timeoutMs);
/* The context whose entry is innermost on this thread (NULL: none). */
CALOG_HIDDEN CalogCtxT *calog__runningHere(void);
/* The entries of other contexts under ctx's on this thread (a host-thread context calling a function of another
 * host-thread context runs it on its own stack, the JavaScript thread serves a threaded context's call back on a
 * host-thread one's wait): when one of them is past its deadline (its timeout trips) or stopped, ctx's entry is
 * interrupted (returns true); else *deadline becomes the earliest of their deadlines (0: none; left as is when later).
 * A stop above every entry of ctx (a request served inside ctx's wait: see calog__servedPush) returns true without
 * stopping ctx: the wait ends and ctx's entry goes on.
 * The caller's timeout or interrupt() did not stop a callee that looped for ever, or one waiting on a third context.
 * Lock-free: called from the limits tick and from a wait (under the actor's lock). This thread. */
CALOG_HIDDEN bool calog__entriesBelowStop(CalogCtxT *ctx, uint64_t *deadline);
/* A request this thread serves for a caller on another thread (withdrawn: set when that caller gives up on it, its
 * timeout or interrupt() having stopped it) counts among the entries below what runs for it here: once withdrawn, the
 * entries above it are stopped as by an entry below (a host function re-entering a host-thread context in a loop for a
 * threaded context whose call timed out hung the host: nothing waited on could return, pass 31a). Push before it is
 * served, pop before its reply. This thread. */
CALOG_HIDDEN void calog__servedPush(const _Atomic bool *withdrawn);
CALOG_HIDDEN void calog__servedPop(void);
CALOG_HIDDEN int32_t calog__entryEnd(CalogCtxT *ctx, CalogCtxT *prev, int32_t status, CalogValueT *result);
/* The engine operation of a request, on the context's thread (eval / call / get). */
CALOG_HIDDEN int32_t calog__ctxRun(CalogCtxT *ctx, int kind, const char *name, const char *text, int64_t len,
                                   CalogValueT *args, int32_t argc, uint32_t timeoutMs, CalogValueT *result);
CALOG_HIDDEN void calog__ctxShutdownHere(CalogCtxT *ctx);
/* Host thread: destroys ctx if it was released and no function value of it is alive any more. */
CALOG_HIDDEN void calog__ctxReapIfIdle(CalogCtxT *ctx);
/* Host thread, closing: drops the REAPs deferred for want of C stack (rt->reapLater). */
CALOG_HIDDEN void calog__actorDropReaps(CalogT *rt);

/* limits.c */
typedef enum CalogLimitKindE {
  CALOG_LIMIT_NONE = 0,
  CALOG_LIMIT_MEMORY = 1,
  CALOG_LIMIT_STEPS = 2,
  CALOG_LIMIT_TIMEOUT = 3,
  CALOG_LIMIT_INTERRUPT = 4,
  CALOG_LIMIT_OUTPUT = 5
} CalogLimitKindE;
/* Steps an engine runs between two calls of calog__limitTick when nothing asks for fewer. */
#define CALOG_TICK_CHUNK 1024
/* Starts an outermost entry: resets the per-entry counters, arms the deadline (the context's timeoutMs,
 * or timeoutMs if > 0 and sooner) and clears the trip. Context thread. */
CALOG_HIDDEN void calog__limitEntryStart(CalogCtxT *ctx, uint64_t timeoutMs);
/* An async request running in a context (on dispatch's stack). One served nested on a wait buries the ones below it:
 * they can return only once it has, so a buried one whose deadline passes is answered at once with its timeout (its
 * entry stops when it is back on top; what it returns then is dropped). */
typedef struct CalogAsyncEntryT {
  struct CalogAsyncEntryT *below;
  CalogMsgT *m;
  uint64_t startNs, deadlineNs; /* its entry's (set when the entry starts; deadline 0: none) */
  int64_t timeoutMs;
  bool started, answered;
} CalogAsyncEntryT;
/* Answers the buried async requests of ctx whose deadline has passed (context thread; no lock held). */
CALOG_HIDDEN void calog__asyncBuriedCheck(CalogCtxT *ctx, uint64_t now);
/* The per-entry limit state of the entry an independent request is nested on (an async request served while the
 * context waits: nobody's call depends on it, so it is an outermost entry with limits of its own). */
typedef struct CalogEntrySaveT {
  int64_t outputUsed, outputCap, stepsUsed, stepsCap, timeoutMs, tripUsed, tripCeiling, tripPartial;
  uint64_t startNs, deadlineNs, epoch;
  int32_t trip, entryBelow, belowStopAt;
} CalogEntrySaveT;
/* Before such a request is dispatched (context thread): saves the waiting entry's state; the request's entry starts
 * limits of its own. */
CALOG_HIDDEN void calog__limitNestBegin(CalogCtxT *ctx, CalogEntrySaveT *save);
/* After it: the waiting entry's state again (its deadline, counters and trip), plus an interrupt or a dispose that
 * came meanwhile (it stops every call made before it). Call after the request's ticket is left. */
CALOG_HIDDEN void calog__limitNestEnd(CalogCtxT *ctx, const CalogEntrySaveT *save);
/* The deadline of a nested entry into a context already in an entry on this thread (a host function running
 * ctx.eval/call with { timeoutMs } from inside the same context's call): the per-entry counters stay the outer
 * entry's, but a per-call timeout sooner than the deadline in force is the nested entry's own. Its trip fails the
 * nested call only; the outer entry goes on under its own deadline (a re-entrant eval kept no timeout: 30a). */
typedef struct CalogDeadlineSaveT {
  bool own;
  uint64_t startNs, deadlineNs, epoch;
  int64_t timeoutMs;
} CalogDeadlineSaveT;
/* Arms timeoutMs (ms, 0 = none) for a nested entry when it is sooner than the deadline in force. Context thread. */
CALOG_HIDDEN void calog__limitDeadlineBegin(CalogCtxT *ctx, uint32_t timeoutMs, CalogDeadlineSaveT *save);
/* After the nested entry ended (its error made): the outer deadline again; a timeout of the nested entry's own is
 * cleared (an outer deadline passed meanwhile trips as the outer's; an interrupt or dispose that came meanwhile
 * stays). Context thread. */
CALOG_HIDDEN void calog__limitDeadlineEnd(CalogCtxT *ctx, const CalogDeadlineSaveT *save);
/* The process's descriptors that calog's sockets and scripts' files may take (three quarters of RLIMIT_NOFILE, at
 * least 64 kept for the host; every runtime's together). fdTake before a descriptor is made (false, errno EMFILE:
 * the share is taken), fdGive if making it failed or when it is closed (fdClose: close and give). fdFull writes
 * the "too many open files" message with the counts. Any thread, lock-free. */
CALOG_HIDDEN bool calog__fdTake(void);
CALOG_HIDDEN void calog__fdGive(void);
CALOG_HIDDEN void calog__fdClose(int fd);
CALOG_HIDDEN void calog__fdFull(char *buf, size_t cap);
/* Ends an outermost entry: when a limit tripped, its error replaces whatever the entry returned (a script
 * cannot swallow it). Returns the final status. Context thread. */
CALOG_HIDDEN int32_t calog__limitEntryEnd(CalogCtxT *ctx, int32_t status, CalogValueT *result);
/* A native stopped by the entry's limit tells how far it got (the bytes a send wrote): the limit's error
 * carries it as "partial". Context thread. */
CALOG_HIDDEN void calog__limitPartial(CalogCtxT *ctx, int64_t n);
/* Counts a registration that posts work to a context by itself (+1 / -1; control.hostInterest); the last one
 * going wakes a calogHostWait that has nothing else to wait for. Any thread. */
CALOG_HIDDEN void calog__hostInterest(CalogT *rt, int delta);
/* The engines' periodic check: adds `consumed` steps, checks the steps limit, the deadline and the trip.
 * Returns the limit kind that tripped (0: go on) and, in *next, how many steps to run before the next call. */
CALOG_HIDDEN int32_t calog__limitTick(CalogCtxT *ctx, int64_t consumed, int64_t *next);
/* Raises a limit (the first one wins until the entry ends). Any thread for INTERRUPT, else context thread. */
CALOG_HIDDEN void calog__limitTrip(CalogCtxT *ctx, int32_t kind, int64_t used, int64_t ceiling);
/* The memory limit in bytes (0 = none). Any thread. */
static inline int64_t calog__limitMemory(const CalogCtxT *ctx) {
  return atomic_load_explicit(&((CalogCtxT *)ctx)->limits.memory, memory_order_relaxed);
}
/* Whether ctx is in an entry on its actor now (the context thread's view): outside one (finalizers at close, natives
 * installed before an entry starts) the limit state is the last entry's, which stops nothing. */
static inline bool calog__ctxInEntry(const CalogCtxT *ctx) {
  return ctx->actor != NULL && ctx->actor->running == ctx;
}
static inline int32_t calog__limitTripped(CalogCtxT *ctx) {
  return atomic_load_explicit(&ctx->trip, memory_order_relaxed);
}
/* The limit tripped in the entry ctx is running now on this thread (its own), or NONE: outside that entry (a
 * trip stays set after its entry until the next one starts) nothing is stopped. With a deadline, checks it
 * first. The engines' call-outs (host functions, function values, I/O) and the output sink consult it before
 * and after they run, so a script stopped by interrupt() or a timeout (even one that passed inside the call)
 * makes no further call and gets no result: the raise comes at once, not at its next step tick. A context being
 * destroyed is always stopped (INTERRUPT), its finalizers at close included. */
CALOG_HIDDEN int32_t calog__limitStopped(CalogCtxT *ctx);
/* Static text for a limit kind ("memory", "steps", ...). */
CALOG_HIDDEN const char *calog__limitName(int32_t kind);
/* Writes the error of the tripped limit into result (an error record with limit/used/ceiling and the
 * traceback, if any, taken from the error result held); returns CALOG_ERR_LIMIT. */
CALOG_HIDDEN int32_t calog__limitError(CalogCtxT *ctx, CalogValueT *result);
/* The same for a limit of the given kind that did not trip in a running entry (a request interrupted while
 * queued). */
CALOG_HIDDEN int32_t calog__limitErrorOf(CalogCtxT *ctx, int32_t kind, int64_t used, int64_t ceiling, CalogValueT *result);
/* An interpreter that could not be created under a memory limit: its error becomes the memory limit's
 * (CALOG_ERR_LIMIT); any other failure is returned as it is. */
CALOG_HIDDEN int32_t calog__limitCreateFailed(CalogCtxT *ctx, int32_t status, CalogValueT *err);
/* Charges n bytes of output to the context's current entry: CALOG_OK, or CALOG_ERR_LIMIT with the error in
 * err once the output limit would be passed (nothing of those n bytes may then be written). Context thread. */
CALOG_HIDDEN int32_t calog__limitOutput(CalogCtxT *ctx, int64_t n, CalogValueT *err);
/* Sets the limits named in map (memory, steps, timeoutMs, output; absent keys keep their value).
 * Validates everything before changing anything. */
CALOG_HIDDEN int32_t calog__limitsSet(CalogCtxT *ctx, const CalogValueT *map, CalogValueT *err);

/* Runs ctx's close hooks once (context thread, before the interpreter goes). */
CALOG_HIDDEN void calog__ctxRunCloseHooks(CalogCtxT *ctx);
/* Adds a close hook to ctx unless one with the same fn and arg is there. Context thread. Returns false on OOM. */
CALOG_HIDDEN bool calog__ctxOnClose(CalogCtxT *ctx, void (*fn)(CalogCtxT *ctx, void *arg), void *arg);
/* The runtime's extension: created by create(rt) the first time (any thread; NULL: create failed, try again
 * later), closed by close(ext) in calogHostClose after every context has gone (not if a thread was abandoned). */
CALOG_HIDDEN void *calog__rtExtEnsure(CalogT *rt, void *(*create)(CalogT *rt), void (*close)(void *ext));

/* actor.c */
enum { CALOG_MSG_EVAL, CALOG_MSG_CALL, CALOG_MSG_GET, CALOG_MSG_FN, CALOG_MSG_NATIVE, CALOG_MSG_RELEASE,
       CALOG_MSG_SHUTDOWN, CALOG_MSG_REAP, CALOG_MSG_TASK };

/* A completion box: one waiter (an actor's thread, parked in calog__actorAwait or a synchronous call) and one
 * completer (any thread). mu/cv are the waiting actor's (or private ones for a thread that is no actor). The
 * completer's last touch of the box is calog__boxComplete: the box may live on the waiter's stack. */
typedef struct CalogBoxT {
  pthread_mutex_t *mu;
  pthread_cond_t *cv;
  _Atomic int done;
  bool deferred; /* under mu: the host deferred the reply (the waiter may withdraw the request) */
  CalogActorT *waiter; /* the waiting actor (NULL: a thread that is no actor) */
  const CalogActorT *target; /* a blocking call's: the actor it was sent to (NULL: another wait; compared, never read) */
  /* the waiter's seq when the awaited work began (its target took the request; an I/O wait: the wait began), or
   * UINT64_MAX before: an async request queued to the waiter after it may be that work's doing (actor.c) */
  _Atomic uint64_t since;
  int32_t status;
  CalogValueT result;
} CalogBoxT;
/* Binds box to self (the waiting actor) and clears it. */
CALOG_HIDDEN void calog__boxInit(CalogBoxT *box, CalogActorT *self);
/* Publishes status and result (taken) and wakes the waiter. Any thread; once per box. */
CALOG_HIDDEN void calog__boxComplete(CalogBoxT *box, int32_t status, CalogValueT *result);
/* Why a wait is being abandoned. */
enum { CALOG_ABANDON_LIMIT = 1, CALOG_ABANDON_TIMEOUT = 2 };
/* Withdraws a pending operation whose waiter gives up: either completes the box itself (the operation was
 * withdrawn) or leaves it to the completer, whose completion must then come soon (it was already underway). */
typedef void (*CalogAbandonFnT)(void *arg, int why);
/* Parks self (the calling actor's thread) until box completes, serving self's queue meanwhile (sec 6.1, the
 * same loop as a synchronous call). deadlineNs (CLOCK_MONOTONIC, 0 = none) is the operation's own timeout:
 * when it passes, abandon(arg, TIMEOUT). While self runs a context's entry, the entry's limits apply: its
 * deadline or an interrupt calls abandon(arg, LIMIT) (the entry then ends with the limit's error). Returns
 * the box's status; its result is moved into result. */
CALOG_HIDDEN int32_t calog__actorAwait(CalogActorT *self, CalogBoxT *box, uint64_t deadlineNs, CalogAbandonFnT abandon,
                                       void *arg, CalogValueT *result);
/* Queues run(ctx, arg, dead) to ctx's actor (its thread, or the host for a host-thread context): it runs
 * there between other work -- when the thread is back at its top level (idle, or the host polling), never
 * inside a call that waits (a parked call serves calls, not tasks, so tasks cannot nest) -- with dead = true when the context is being destroyed (only to free arg).
 * Returns false (nothing queued, arg still the caller's) when the actor takes no more work. Any thread. */
typedef void (*CalogTaskFnT)(CalogCtxT *ctx, void *arg, bool dead);
CALOG_HIDDEN bool calog__ctxPost(CalogCtxT *ctx, CalogTaskFnT run, void *arg);
CALOG_HIDDEN CalogActorT *calog__actorCurrent(CalogT *rt);
CALOG_HIDDEN int32_t calog__actorInit(CalogActorT *a, CalogT *rt, CalogCtxT *ctx, bool isHost);
CALOG_HIDDEN void calog__actorDestroy(CalogActorT *a);
CALOG_HIDDEN int32_t calog__nestEnter(CalogT *rt, CalogValueT *result);
CALOG_HIDDEN void calog__nestLeave(CalogT *rt);
/* Runs a request on target's thread and waits, pumping the caller's own queue (sec 6.1). The request's
 * text/args are lent (the caller is blocked until the reply). ctx (may be NULL) and fn get a reference for
 * the message's life. */
CALOG_HIDDEN int32_t calog__actorCall(CalogActorT *target, int kind, CalogCtxT *ctx, CalogFnT *fn,
                                      CalogNativeEntryT *entry, const char *name, const char *text, int64_t len,
                                      CalogValueT *args, int32_t argc, uint32_t timeoutMs, CalogValueT *result);
/* Queues a request whose reply becomes host completion `ticket`; takes text (malloc'd) and args (array
 * and values, malloc'd). awaited: a waiting script's reply depends on it (sent on the host thread while a host
 * function of that script's chain runs: a wait of that chain serves it at any depth, as a blocking call; see
 * servableLocked). */
CALOG_HIDDEN int32_t calog__actorSubmit(CalogActorT *target, int kind, CalogCtxT *ctx, CalogFnT *fn, char *name,
                                        char *text, int64_t len, CalogValueT *args, int32_t argc, uint32_t timeoutMs,
                                        uint32_t ticket, bool awaited);
/* Asks the host to destroy a released context whose last function value is gone (any thread). */
CALOG_HIDDEN void calog__actorPostReap(CalogT *rt, CalogCtxT *ctx);
/* A preallocated SHUTDOWN message (destroy must not fail). */
CALOG_HIDDEN CalogMsgT *calog__msgShutdown(CalogT *rt);
CALOG_HIDDEN bool calog__actorPush(CalogActorT *a, CalogMsgT *m);
/* Stops accepting messages and queues m (SHUTDOWN) as the last one. */
CALOG_HIDDEN void calog__actorStop(CalogActorT *a, CalogMsgT *m);
/* Takes every queued message (shutdown drain); RELEASE runs, calls get a DEAD reply. */
CALOG_HIDDEN void calog__actorDrainDead(CalogActorT *a);
/* Fire-and-forget release of fn's closure on its actor; false if that actor no longer accepts work. */
CALOG_HIDDEN bool calog__actorPostRelease(CalogActorT *target, CalogFnT *fn);
CALOG_HIDDEN void calog__hostComplete(CalogT *rt, uint32_t ticket, int32_t status, CalogValueT *result);
/* Deferred host replies. A host function's status meaning "the reply comes later": dispatch then does not
 * deliver (the message belongs to the deferral until calog__hostDeferDeliver or the waiter withdraws it). */
#define CALOG__DEFERRED (-1)
/* Host thread, inside a host call: takes the arming set for the request being served (NULL: this call may
 * not be deferred) and, if armed, hands out its token. A nested call finds nothing armed. */
CALOG_HIDDEN CalogMsgT *calog__hostDeferArm(CalogT *rt, uint32_t *token);
/* Host thread: m's reply is deferred under token (after the host function returned CALOG_HOST_DEFERRED). */
CALOG_HIDDEN void calog__hostDefer(CalogT *rt, CalogMsgT *m, uint32_t token);
/* Host thread: takes the deferred request of token (NULL if stale: withdrawn by its waiter, or unknown). */
CALOG_HIDDEN CalogMsgT *calog__hostDeferTake(CalogT *rt, uint32_t token);
/* Host thread: delivers the outcome (taken) of a request taken by calog__hostDeferTake. */
CALOG_HIDDEN void calog__hostDeferDeliver(CalogMsgT *m, int32_t status, CalogValueT *result);
CALOG_HIDDEN int32_t calog__threadStart(CalogCtxT *ctx, CalogValueT *err);
/* Joins the context threads that have finished (host thread): none may still run library code after
 * calogDestroy returns, and exited threads give their stacks back. */
CALOG_HIDDEN void calog__reapThreads(CalogT *rt);
/* Frees the value kept from the previous OUT and keeps v (taken; may be NULL) until the next entry: the
 * host must decode OUT before any release that value's death triggers (host thread). */
CALOG_HIDDEN void calog__hostKeepUntilNext(CalogT *rt, CalogValueT *v);
/* Encodes a result or error into OUT (keeping the value until the next entry); on an encoding failure
 * OUT gets that error instead and *status is updated. Returns the length. Host thread. */
CALOG_HIDDEN uint32_t calog__hostEncodeOutcome(CalogT *rt, int32_t *status, CalogValueT *value);
/* Serves the messages queued to the host now (host thread). */
CALOG_HIDDEN void calog__hostServe(CalogT *rt);
/* Defines the exported entry point F(PARAMS) over its body FImpl: it returns FImpl's value and also leaves it in
 * the control block (CalogWireControlT.ret), for a host that must declare F as returning nothing. */
#define CALOG_RETURN_TO_CONTROL(F, PARAMS, ARGS)                                                                      \
  int32_t F PARAMS {                                                                                                  \
    int32_t r_ = F##Impl ARGS;                                                                                        \
    if (rt != NULL) rt->wire.ret = r_;                                                                                \
    return r_;                                                                                                        \
  }
/* Serves host messages until pred(rt), evaluated under host.mu, holds (calogDestroy waiting for threads). */
CALOG_HIDDEN void calog__hostPumpUntil(CalogT *rt, bool (*pred)(CalogT *));
/* The same with a deadline (CLOCK_MONOTONIC ns); returns whether pred held. */
CALOG_HIDDEN bool calog__hostPumpUntilTimed(CalogT *rt, bool (*pred)(CalogT *), uint64_t deadlineNs);
/* Whether async request ticket was cancelled (calogRequestCancel) and has not completed yet. */
CALOG_HIDDEN bool calog__ticketCancelled(CalogT *rt, uint32_t ticket);
/* whether ticket is an async request not yet returned by calogHostPoll (caller holds rt->host.mu) */
CALOG_HIDDEN bool calog__ticketOpen(const CalogT *rt, uint32_t ticket);
/* Wakes a context's actor if it is parked waiting for a reply (after a trip). Any thread. */
CALOG_HIDDEN void calog__actorWake(CalogActorT *a);

/* engines.c: the list of built-in engines */
CALOG_HIDDEN extern const CalogEngineT *const calog__engines[];

#endif
