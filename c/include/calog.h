/*
 * calog.h -- the public API of libcalog, a polyglot script broker.
 *
 * One runtime (CalogT) owns a registry of native functions and any number of script contexts. Every engine
 * (Lua 5.4, JavaScript on Duktape, Squirrel) speaks one value type, CalogValueT; a native registered once is
 * callable from every engine, and a function value exported by one engine is callable from any other.
 *
 * Conventions that hold for every declaration below:
 *   - Status: functions returning int32_t return CALOG_OK (0) or a positive CalogStatusE code. Wire entry
 *     points (the *Wire functions used by the TypeScript bindings) return a byte length >= 0 on success and
 *     -status on failure.
 *   - Error channel: on failure a CalogValueT *result receives the error (a string, or an error record made
 *     by calogErrorSet). There is no second error field; the caller frees result exactly once.
 *   - Ownership: "takes" means the callee owns the value afterwards (the caller's copy is left nil);
 *     "lends" means the callee only reads it during the call; "out" parameters are owned by the caller on
 *     return and must be freed with calogValueFree.
 *   - Threads: the thread that calls calogCreate is the runtime's host thread. Runtime-level calls
 *     (register, create/destroy contexts, the wire interface) are host-thread only. Contexts created with
 *     CALOG_CONTEXT_OWN_THREAD are actors: their interpreter runs only on their own thread, and eval/call/
 *     get/calogFnInvoke may be called from any thread (the call is a message; the caller waits and, if it
 *     is itself a context or the host, serves its own queue meanwhile, so A -> B -> A never deadlocks).
 *     Host-thread contexts and TypeScript functions run on the host thread: a call to them from another
 *     thread is queued to the host, which serves it while it waits in a call or in calogHostPoll.
 *     C natives registered with calogRegister run on the calling script's thread (any thread).
 *     Value functions (calogValue*, calogAgg*) are thread-agnostic: a value may be handed to another thread
 *     but never used from two at once. Function values (CalogFnT) are refcounted atomically; the last
 *     release runs on the owner's thread (posted there if dropped elsewhere).
 *   - No longjmp and no C++ exception ever crosses this API.
 */
#ifndef CALOG_H
#define CALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define CALOG_API __attribute__((visibility("default")))
#else
#define CALOG_API
#endif

/* Bumped whenever a signature or a layout that crosses the FFI changes; the bindings refuse a mismatch. */
#define CALOG_ABI_VERSION 13u

/* One shared recursion cap for every recursive path (ingress, egress, copy, free, wire encode/decode). */
#define CALOG_MAX_DEPTH 100

/* ---- Status codes: one table, one message per code ------------------------------------------------- */
#define CALOG_STATUS_MAP(XX)                                                                 \
  XX(OK, 0, "ok")                                                                            \
  XX(ERR_OOM, 1, "out of memory")                                                            \
  XX(ERR_ARG, 2, "invalid argument")                                                         \
  XX(ERR_TYPE, 3, "value cannot be represented")                                             \
  XX(ERR_DEPTH, 4, "value nesting exceeds the depth cap")                                    \
  XX(ERR_CYCLE, 5, "cyclic value")                                                           \
  XX(ERR_RANGE, 6, "number out of range")                                                    \
  XX(ERR_NOT_FOUND, 7, "not found")                                                          \
  XX(ERR_SCRIPT, 8, "script error")                                                          \
  XX(ERR_SYNTAX, 9, "syntax error")                                                          \
  XX(ERR_DEAD, 10, "dead context or function")                                               \
  XX(ERR_HOST, 11, "host function failed")                                                   \
  XX(ERR_NESTING, 12, "call nesting too deep")                                               \
  XX(ERR_UNSUPPORTED, 13, "unsupported operation")                                           \
  XX(ERR_ENGINE, 14, "unknown engine")                                                       \
  XX(ERR_INTERNAL, 15, "internal error")                                                     \
  XX(ERR_LIMIT, 16, "a context limit was reached")                                           \
  XX(ERR_PERMISSION, 17, "the context lacks the capability")

typedef enum CalogStatusE {
#define CALOG_STATUS_ENUM(name, code, msg) CALOG_##name = code,
  CALOG_STATUS_MAP(CALOG_STATUS_ENUM)
#undef CALOG_STATUS_ENUM
  CALOG_STATUS_COUNT
} CalogStatusE;

/* Static message for a status ("unknown status" for codes outside the table). Any thread. */
CALOG_API const char *calogStatusMessage(int32_t status);
/* Static symbolic name for a status ("ERR_DEPTH"). Any thread. */
CALOG_API const char *calogStatusName(int32_t status);
/* CALOG_ABI_VERSION of the loaded library. Any thread. */
CALOG_API uint32_t calogAbiVersion(void);
/* Makes the caller's stack position the lowest this thread's C stack may reach inside calog: below it, as near the
 * thread's real end, entries into a script are refused (CALOG_ERR_NESTING) and the engines raise their stack errors
 * (catchable by the script). For a host whose own engine cannot be re-entered from deeper than some point of the
 * thread it runs on (V8, whose stack region is about 1 MB of the thread's: a callback into it from further down, a
 * host function or the output sink, aborts the process): call it from the host's code near that engine's own stack
 * limit, once on each thread it runs calog from. A later call replaces the mark; a mark below the thread's real end
 * changes nothing. Thread: affects the calling thread only. */
CALOG_API void calogStackFloorHere(void);
/* Bytes of stack left below the caller on this thread, down to the thread's real end (whatever calogStackFloorHere
 * marked: a host finding its engine's limit walks down with it); SIZE_MAX when the thread's bounds cannot be read.
 * Thread: the calling thread's. */
CALOG_API size_t calogStackLeft(void);

/* ---- The universal value ------------------------------------------------------------------------- */
typedef enum CalogTypeE {
  CALOG_NIL = 0,
  CALOG_BOOL = 1,
  CALOG_INT = 2,       /* int64_t */
  CALOG_REAL = 3,      /* double */
  CALOG_STRING = 4,    /* binary-safe, length-prefixed */
  CALOG_AGGREGATE = 5, /* hybrid array + map container */
  CALOG_FN = 6         /* refcounted function value */
} CalogTypeE;

typedef struct CalogAggT CalogAggT; /* opaque: use calogAgg* */
typedef struct CalogFnT CalogFnT;   /* opaque: use calogFn* */

typedef struct CalogStringT {
  char *bytes;    /* owned; always NUL-terminated at bytes[length] for C consumers */
  int64_t length; /* byte count without the terminator; embedded NULs are allowed */
} CalogStringT;

typedef struct CalogValueT {
  CalogTypeE type;
  union {
    bool b;
    int64_t i;
    double r;
    CalogStringT s;
    CalogAggT *agg;
    CalogFnT *fn;
  } as;
} CalogValueT;

typedef enum CalogAggKindE {
  CALOG_AGG_LIST = 0, /* array part only; an empty container is a list by default */
  CALOG_AGG_MAP = 1,  /* pairs only */
  CALOG_AGG_BOTH = 2  /* array part and pairs both populated */
} CalogAggKindE;

/* Constructors return plain values; strings copy their bytes (NULL on OOM leaves a nil and returns
 * CALOG_ERR_OOM through calogValueString). Any thread. */
CALOG_API CalogValueT calogValueNil(void);
CALOG_API CalogValueT calogValueBool(bool b);
CALOG_API CalogValueT calogValueInt(int64_t i);
CALOG_API CalogValueT calogValueReal(double r);
/* Copies len bytes into a new owned string. out: caller frees. */
CALOG_API int32_t calogValueString(CalogValueT *out, const char *bytes, int64_t len);
/* A new empty aggregate of the given kind. out: caller frees. */
CALOG_API int32_t calogValueAgg(CalogValueT *out, CalogAggKindE kind);

/* Deep copy src into dst (dst is overwritten, not freed). Function values are shared: the refcount is
 * incremented atomically. Fails with ERR_OOM (dst left nil, nothing leaked) or ERR_DEPTH. Any thread. */
CALOG_API int32_t calogValueCopy(CalogValueT *dst, const CalogValueT *src);
/* Recursive free; leaves a nil. Safe on nil. Releasing the last reference of a function value runs its
 * release hook (routed to the owner's thread when contexts have threads). Any thread. */
CALOG_API void calogValueFree(CalogValueT *v);
/* Zero-allocation ownership transfer: dst (must not hold an owned value) takes src; src becomes nil. */
CALOG_API void calogValueMove(CalogValueT *dst, CalogValueT *src);
/* Structural equality (function values compare by identity; 1 == 1.0 is false: types must match). */
CALOG_API bool calogValueEquals(const CalogValueT *a, const CalogValueT *b);
/* Static name of a type ("nil", "bool", ...). */
CALOG_API const char *calogTypeName(CalogTypeE type);

/* ---- Aggregates (lent pointers: valid while the owning value lives and is not mutated) -------------- */
CALOG_API CalogAggKindE calogAggKind(const CalogAggT *agg);
CALOG_API void calogAggSetKind(CalogAggT *agg, CalogAggKindE kind);
CALOG_API int64_t calogAggArrayCount(const CalogAggT *agg);
CALOG_API int64_t calogAggPairCount(const CalogAggT *agg);
/* Lent pointer to element i (0-based) or NULL if out of range. */
CALOG_API CalogValueT *calogAggArrayAt(CalogAggT *agg, int64_t i);
/* Lent pointers to pair i's key and value, or NULL if out of range. */
CALOG_API CalogValueT *calogAggPairKey(CalogAggT *agg, int64_t i);
CALOG_API CalogValueT *calogAggPairValue(CalogAggT *agg, int64_t i);
/* Appends to the array part; takes item (left nil). Updates kind (MAP -> BOTH). */
CALOG_API int32_t calogAggPush(CalogAggT *agg, CalogValueT *item);
/* Appends a pair; takes key and value (both left nil). Keys must be bool, int, real or string
 * (ERR_TYPE otherwise, nothing taken). Pairs keep insertion order; keys are not deduplicated. */
CALOG_API int32_t calogAggSet(CalogAggT *agg, CalogValueT *key, CalogValueT *value);
/* Lent pointer to the value of the first pair whose key equals key, or NULL. */
CALOG_API CalogValueT *calogAggGet(CalogAggT *agg, const CalogValueT *key);

/* ---- Errors (the one in-band channel) ------------------------------------------------------------ */
/* Writes an error record {message, engine, traceback} into result (result is freed first) and returns
 * status. engine and traceback may be NULL. Never fails: on OOM result becomes nil. A script error's record
 * also has a "value" field: the value the script threw (error(t), throw v), marshalled like any value; it
 * is absent when that value cannot cross (strict policy) or is the engine's own Error object. A native that
 * fails with a record holding a non-string "value" has that value raised in the calling script.
 * Two int fields say where an error came from, and are carried exactly (never matched by text) through every
 * script it leaves uncaught: "status", the status it surfaces with instead of CALOG_ERR_SCRIPT (a denied
 * capability's CALOG_ERR_PERMISSION), and "host", the id a host gave the exception of its function (see
 * calogHostInstall). A script that catches such an error and raises its own loses them. A bool field
 * "placeholder", true, says the message is only the engine's stand-in for a thrown value that is not text
 * ("(error object is a table value)", "[object Object]", a built-in function text): it says nothing of its own,
 * the "value" does (a text a script's __tostring, _tostring or toString gave is never one, whatever it reads). */
CALOG_API int32_t calogErrorSet(CalogValueT *result, int32_t status, const char *engine, const char *message,
                                int64_t messageLen, const char *traceback);
/* printf-style shorthand for natives: result receives a plain string error; returns status. */
CALOG_API int32_t calogFail(CalogValueT *result, int32_t status, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Lent message of an error value (a string, or the record's message); "" for anything else. */
CALOG_API const char *calogErrorMessage(const CalogValueT *err, int64_t *lenOut);
/* Lent pointer to the thrown value of an error record, or NULL when it has none. */
CALOG_API const CalogValueT *calogErrorValue(const CalogValueT *err);

/* ---- Natives and function values ----------------------------------------------------------------- */
/* The one native signature. args are lent for the duration of the call (a native that keeps one copies
 * it); result is an out value, nil on entry. Return CALOG_OK, or a status with the error in result.
 * Runs on the thread of the calling script; must not longjmp or throw. */
typedef int32_t (*CalogNativeFnT)(CalogValueT *args, int32_t argCount, CalogValueT *result, void *userData);
/* Called once when a native's registration or a function value's last reference goes away. */
typedef void (*CalogReleaseFnT)(void *userData);

/* Creates a function value over a C function. Returns NULL on OOM. The caller owns the one reference;
 * release runs (once) when the last reference is dropped. Any thread. */
CALOG_API CalogFnT *calogFnCreate(CalogNativeFnT fn, void *userData, CalogReleaseFnT release);
/* Wraps fn into a value that takes over the caller's reference. */
CALOG_API CalogValueT calogValueFn(CalogFnT *fn);
/* +1 reference (atomic). Any thread. */
CALOG_API void calogFnRetain(CalogFnT *fn);
/* -1 reference (atomic); the last one releases the closure on its owner's thread. Any thread. */
CALOG_API void calogFnRelease(CalogFnT *fn);
/* Function values alive in this process (all runtimes): for leak checks in tests and tools. Any thread. */
CALOG_API int64_t calogFnLiveCount(void);
/* Invokes a function value: args lent, result out. A function whose owning context is gone fails with
 * CALOG_ERR_DEAD. Host-thread contexts: call from the host thread. */
CALOG_API int32_t calogFnInvoke(CalogFnT *fn, CalogValueT *args, int32_t argCount, CalogValueT *result);

/* ---- Runtime ------------------------------------------------------------------------------------- */
typedef struct CalogT CalogT;

typedef enum CalogPolicyE {
  CALOG_POLICY_STRICT = 0, /* an unrepresentable value or key is an error (default) */
  CALOG_POLICY_LENIENT = 1 /* unrepresentable values become nil, unrepresentable keys are dropped */
} CalogPolicyE;

/* Creates a runtime. Returns NULL on OOM. The calling thread becomes its host thread. */
CALOG_API CalogT *calogCreate(void);
/* Destroys every context and waits for their threads (serving host calls meanwhile), then the registry,
 * then the runtime. Host thread, not from inside a call into this runtime. NULL is a no-op. Function values
 * owned by the host (TypeScript functions) must not outlive it; those of contexts may (they are dead). */
CALOG_API void calogDestroy(CalogT *rt);
/* The first half of calogDestroy: every context destroyed and its thread gone, host waiters released,
 * calogHostWait returns -1 from now on; the memory stays valid until calogDestroy. For bindings whose
 * calogHostWait call may still be about to start on another thread (Deno's nonblocking symbols). */
CALOG_API void calogHostClose(CalogT *rt);
/* Marshalling policy for every engine of this runtime. Host thread. */
CALOG_API void calogSetPolicy(CalogT *rt, CalogPolicyE policy);
CALOG_API CalogPolicyE calogGetPolicy(const CalogT *rt);

/* Registers (or replaces) a native under name, visible as a global in every context of every engine,
 * including contexts created earlier. name is copied. fn runs on the calling script's thread, so it must
 * be thread-safe if threaded contexts call it. release (may be NULL) runs with userData, on whichever thread
 * drops the last use, once the registration is replaced or removed (or the runtime destroyed). Host thread. */
CALOG_API int32_t calogRegister(CalogT *rt, const char *name, CalogNativeFnT fn, void *userData,
                                CalogReleaseFnT release);
/* Removes a registration: later calls fail with ERR_NOT_FOUND. Host thread. */
CALOG_API int32_t calogUnregister(CalogT *rt, const char *name);
/* Calls a registered native by name through the broker: args lent, result out. Host thread. */
CALOG_API int32_t calogBrokerCall(CalogT *rt, const char *name, CalogValueT *args, int32_t argCount,
                                  CalogValueT *result);

/* ---- Contexts ------------------------------------------------------------------------------------ */
/* Contexts are addressed by a generationed id (> 0): a destroyed context's id never reaches a new one. */
typedef int32_t CalogContextIdT;

typedef enum CalogContextFlagsE {
  CALOG_CONTEXT_HOST_THREAD = 0, /* the interpreter runs on the host thread: lowest-latency crossings */
  CALOG_CONTEXT_OWN_THREAD = 1   /* the context is an actor on its own OS thread (actor layer) */
} CalogContextFlagsE;

/* Creates a context of the named engine ("lua", "js" or "squirrel") with CalogContextFlagsE flags (other bits:
 * CALOG_ERR_ARG). On success *idOut receives the id. On failure the error is in *err (may be NULL); after
 * calogHostClose it is CALOG_ERR_DEAD. A host-thread context wants 224 KB of this thread's C stack below the caller
 * (what its teardown's finalizers need), else CALOG_ERR_NESTING. Host thread. */
CALOG_API int32_t calogContextCreate(CalogT *rt, const char *engine, uint32_t flags, CalogContextIdT *idOut,
                                     CalogValueT *err);
/* calogContextCreate with options: a map value (lent; NULL or nil for none) whose entries configure the
 * context. The broker keeps a deep copy for the context's life; each layer reads its own keys (see the
 * README). Unknown keys are ignored. Host thread. Keys:
 *   "limits"        map {memory, steps, timeoutMs, output}: non-negative integers, 0 = unlimited.
 *   "capabilities"  nil or "sandbox" (default: the language only), "trusted" (a stand-alone interpreter's
 *                   libraries, os.exit aside), or a map of grants {fs: {read: [dirs], write: [dirs]},
 *                   env: [names], process: bool, debug: bool, net: {connect: ["host:port"], listen: [...]}}
 *                   (fs roots must exist). Invalid: CALOG_ERR_ARG. An effect a script was not granted fails
 *                   the script; uncaught, the call returns CALOG_ERR_PERMISSION.
 *   "output"        where print & co. go: nil or "inherit" (written to fd 1 / fd 2 by the printing thread),
 *                   "ignore", or a function value called as f(text, "stdout"|"stderr") (a C function on the
 *                   printing context's thread; a host function on the host thread, the context waiting).
 *                   Its result and failures are ignored. Output past limits.output fails with ERR_LIMIT. */
CALOG_API int32_t calogContextCreateWith(CalogT *rt, const char *engine, uint32_t flags, const CalogValueT *options,
                                         CalogContextIdT *idOut, CalogValueT *err);
/* Destroys a context; its exported function values become dead (invoking them fails with ERR_DEAD).
 * A threaded context stops accepting calls at once; calls queued to it fail with ERR_DEAD, the call it is
 * running is interrupted (it fails with ERR_LIMIT, limit "interrupt", at the script's next step), then its
 * thread closes the interpreter (finalizers are interrupted too) and exits (calogDestroy waits for that, at
 * most CALOG_DISPOSE_GRACE_MS per runtime, then abandons the thread). Does not block. A host-thread context
 * destroyed from inside its own call is interrupted likewise and freed when the call unwinds. Returns ERR_DEAD for an unknown or stale id. Host thread. */
CALOG_API int32_t calogContextDestroy(CalogT *rt, CalogContextIdT id);
/* Hands a context over to its function values (the GC backstop of a binding's context handle): the caller
 * will not use id again, and the context is destroyed once no function value it exported is alive anywhere
 * (held by the host or by another context), at once if none is. Until then those functions work as usual.
 * (Two released contexts holding each other's functions live until calogDestroy.) Returns ERR_DEAD for an
 * unknown or stale id. Host thread. */
CALOG_API int32_t calogContextRelease(CalogT *rt, CalogContextIdT id);
/* Contexts of rt not yet destroyed (released ones still alive included): for leak checks. Host thread. */
CALOG_API int32_t calogContextCount(CalogT *rt);
/* Runs source (len bytes, binary chunks refused) named chunkName (may be NULL). result receives the first
 * value the chunk returns (nil if none) or the error. Host thread. */
CALOG_API int32_t calogContextEval(CalogT *rt, CalogContextIdT id, const char *source, int64_t len,
                                   const char *chunkName, CalogValueT *result);
/* calogContextEval with a wall-clock timeout for this call (0: the context's own timeoutMs limit; the
 * sooner of the two applies). Host thread. */
CALOG_API int32_t calogContextEvalTimed(CalogT *rt, CalogContextIdT id, const char *source, int64_t len,
                                        const char *chunkName, uint32_t timeoutMs, CalogValueT *result);
/* Calls the global function name with args (lent); result receives its first return value or the error
 * (ERR_NOT_FOUND if there is no such function). Host thread. */
CALOG_API int32_t calogContextCall(CalogT *rt, CalogContextIdT id, const char *name, CalogValueT *args,
                                   int32_t argCount, CalogValueT *result);
/* Reads the global name into result (a function becomes a function value owned by result). */
CALOG_API int32_t calogContextGet(CalogT *rt, CalogContextIdT id, const char *name, CalogValueT *result);
/* Bytes the context's interpreter currently holds (every built-in engine counts exactly), else -1. */
CALOG_API int64_t calogContextMemory(CalogT *rt, CalogContextIdT id);

/* ---- Limits and interrupts ------------------------------------------------------------------------ */
/* A context has four limits, each 0 (unlimited) or a ceiling: "memory" (bytes its interpreter may hold),
 * "steps" (engine steps per entry: Lua counts function entries, loop iterations and long library loops;
 * JavaScript counts bytecode instructions; Squirrel counts VM instructions), "timeoutMs" (wall-clock time
 * per entry) and "output" (bytes printed per entry). An entry is an outermost eval, call or function call
 * into the context. A limit that trips raises a script error in the script (catchable, but raised again at
 * every further step, so the script cannot continue) and the entry fails with CALOG_ERR_LIMIT and an error
 * record {message, engine, traceback, limit, used, ceiling}. The context stays usable afterwards.
 * Sets the limits named in the map limits (lent; the other keys keep their values). Host thread. */
CALOG_API int32_t calogContextSetLimits(CalogT *rt, CalogContextIdT id, const CalogValueT *limits, CalogValueT *err);
/* Stops what the context is running now (no-op when idle): the running entry fails with the "interrupt"
 * limit error. Any thread. Returns ERR_DEAD for an unknown id. */
CALOG_API int32_t calogContextInterrupt(CalogT *rt, CalogContextIdT id);
/* Cancels the asynchronous request `ticket`: if queued it never runs, if running it is interrupted; it
 * completes with the "interrupt" limit error. Unknown or finished tickets are ignored. Host thread. */
CALOG_API void calogRequestCancel(CalogT *rt, uint32_t ticket);
typedef enum CalogContextStatE {
  CALOG_STAT_MEMORY = 0,     /* bytes held now (= calogContextMemory) */
  CALOG_STAT_LAST_STEPS = 1, /* steps the last finished entry ran */
  CALOG_STAT_TRIPS = 2,      /* limits tripped so far */
  CALOG_STAT_MEMORY_LIMIT = 3
} CalogContextStatE;
/* One counter of a context (a racy monitoring read), or -1 for an unknown id. Host thread. */
CALOG_API int64_t calogContextStat(CalogT *rt, CalogContextIdT id, int32_t which);
/* Process-wide: context threads abandoned because they overran the dispose grace period (which = 0) and the
 * interpreter bytes they still hold, counted as leaked (which = 1). Any thread. */
CALOG_API int64_t calogLeakStat(int32_t which);
/* How long calogDestroy waits for a context thread that does not stop when interrupted (a native that never
 * returns, say) before abandoning it. */
#define CALOG_DISPOSE_GRACE_MS 2000

/* ---- Wire interface (what the TypeScript bindings call: one FFI call per crossing) ---------------- */
/* The wire format is little-endian tagged bytes, documented in c/src/wire.h. Each runtime owns two buffers:
 * IN (host -> C) and OUT (C -> host). Their current addresses and capacities are published in a control
 * block whose own address never changes; gen increments whenever a buffer moves. Host thread only. */
typedef struct CalogWireControlT {
  uint8_t *in;      /* host writes requests and host-call results here */
  uint8_t *out;     /* C writes results, errors and host-call arguments here */
  uint32_t inCap;
  uint32_t outCap;
  uint32_t gen;     /* bumped when in/out move */
  uint32_t maxDepth;
  uint32_t pollTicket; /* calogHostPoll: the completed request's ticket */
  int32_t pollStatus;  /* ... its status (0 = ok) */
  uint32_t pollLen;    /* ... and the length of its result or error in OUT */
  uint32_t hostToken;  /* written before each host call: nonzero when that call may defer its reply (below) */
  uint32_t hostInterest; /* registrations that post work by themselves (timers, callback-form servers, pending
                          * callback operations and their callbacks not yet run, of any context: a threaded
                          * context's callbacks may call host functions or print through the host): while
                          * nonzero, keep waiting for wakes (calogHostSetWaker / calogHostWait) even with no
                          * request pending.
                          * Written by any thread (atomically); read it as a hint. */
  uint32_t lostReleases; /* releases the host's release callback could not run (it returned 0): take them with
                          * calogHostTakeRelease. Host thread. */
  uint32_t fnsTaken;     /* the function handles (FN) the host has decoded from OUT: the library sets it to 0 as a
                          * host call starts and the host adds 1 once it owns each one it decodes (it releases
                          * them itself). A call that returns 0 or an error gives back the handles of its
                          * arguments past this count, which the host never saw (see CalogHostCallFnT). Host
                          * thread. */
  uint32_t inUnread;     /* the host may set it nonzero before a request; the library zeroes it as it starts reading
                          * IN, from when the host function references in IN are its own (it releases each, the
                          * request failed or not). Still nonzero after a call into the library threw: the request
                          * never reached it (Bun and Deno: the JavaScript stack ran out on the way in), so the host
                          * takes those references back. Host thread. */
  int32_t ret;           /* the return value of the last call that may run host callbacks, written as it returns:
                          * every wire entry point (calog*Wire, calogHostPoll, calogHostPollWait), calogContextDestroy
                          * and calogContextRelease. For a host whose FFI must not take a return value from a call
                          * that runs its callbacks: Deno runs such symbols as V8 fast calls, and V8 aborts the
                          * process when a callback invalidates the caller's optimized code ("Lazy deopt after a
                          * fast API call with return value is unsupported"); declared void, the call is safe and
                          * its result is read here. Host thread. */
} CalogWireControlT;

/* Lent pointer to the runtime's control block (valid until calogDestroy). */
CALOG_API CalogWireControlT *calogWireControl(CalogT *rt);
/* Grows IN (which = 0) or OUT (which = 1) to at least size bytes. Returns 0 or -status. */
CALOG_API int32_t calogWireReserve(CalogT *rt, uint32_t which, uint32_t size);

/* Host callbacks (one pair per runtime), called on the host thread only:
 *   call(hostId, argLen): OUT holds the encoded argument list; return > 0 = length of the encoded result
 *     in IN (never 0: every encoded value takes a byte; 0 means the call could not run, as Bun and Deno return
 *     from a callback their engine refused to enter, and the script gets CALOG_ERR_NESTING), < 0 = -status with the error in IN: a message string, or a list [message string, int id > 0]
 *     whose id becomes the error's "host" field (so the host can tell which of its exceptions an error that
 *     comes back later is; see calogErrorSet), or a list [message, id, value] whose value becomes the error's
 *     "value" (raised as that value in the calling script: a script's thrown value the host passes on), or a list
 *     [message, id, value, bool] whose true makes the message a placeholder (a rendering of the value: the
 *     engine the value reaches says it in its own words; see calogErrorSet's "placeholder"), or a list
 *     [message, id, value, bool, engine string] whose last item names the engine that threw the value (a refusal of
 *     the value where it lands says "<engine> threw a value that cannot cross ..."); or
 *     CALOG_HOST_DEFERRED (below).
 *     A call that returns 0 or an error (not CALOG_HOST_DEFERRED) owns only the function handles in OUT that it
 *     counted in the control block's fnsTaken (it may have read part of its arguments: its engine threw at the
 *     stack's end): the library releases the others.
 *   release(hostId): the last reference to host function hostId is gone; return nonzero once done. 0 means the
 *     release could not run (as for call): the library keeps hostId, counts it in the control block's
 *     lostReleases and hands it back through calogHostTakeRelease, never through the callback again (a callback
 *     refused deep in the stack would be refused again there, each time raising an exception at the host's call
 *     into the library). */
typedef int32_t (*CalogHostCallFnT)(uint32_t hostId, uint32_t argLen);
typedef int32_t (*CalogHostReleaseFnT)(uint32_t hostId);
CALOG_API void calogHostInstall(CalogT *rt, CalogHostCallFnT call, CalogHostReleaseFnT release);
/* One host function id whose release callback could not run (see release above), taken from the library's list;
 * 0 when none is left. The host applies the release itself. Host thread. */
CALOG_API uint32_t calogHostTakeRelease(CalogT *rt);

/* Deferred host replies (async host functions). A call may defer its reply when the control block's
 * hostToken is nonzero as it starts (read it first: a nested host call overwrites it): the caller is a
 * script on a context thread, which parks (serving its own queue) until the reply, and the host thread is
 * not itself blocked in a call. It is zero for a script on the host thread, and while the host thread waits
 * in a synchronous call or in calogDestroy: such a call must reply now. To defer, call returns
 * CALOG_HOST_DEFERRED and later completes the token with calogHostSettleWire. The waiting script's limits
 * apply meanwhile: its deadline, an interrupt or its context's destruction withdraw the request (the script
 * gets the limit error) and make the token stale. Tokens are not reused before 2^32 deferrable calls. */
#define CALOG_HOST_DEFERRED (-256)
/* Completes a deferred host call: outcome > 0 is the length of the encoded result in IN, < 0 is -status
 * with an encoded error message string in IN (as call returns them). Returns 0 once the waiting script has
 * the outcome (a result that fails to decode reaches it as that error), or -CALOG_ERR_DEAD for a stale or
 * unknown token (IN is then not read: function handles and host functions in it were not taken). Host
 * thread. */
CALOG_API int32_t calogHostSettleWire(CalogT *rt, uint32_t token, int32_t outcome);

/* ---- Asynchronous requests and the host wake path (host thread unless stated) ------------------------ */
/* Async wire requests take the same IN as their blocking forms and return a ticket (> 0) at once, or
 * -status with the error in OUT. A request to a threaded context runs there while the host goes on; one to
 * a host-thread context runs before the call returns. Either way the outcome is collected by calogHostPoll. */
CALOG_API int32_t calogEvalAsyncWire(CalogT *rt, CalogContextIdT id, uint32_t inLen);
CALOG_API int32_t calogCallAsyncWire(CalogT *rt, CalogContextIdT id, uint32_t inLen);
CALOG_API int32_t calogFnCallAsyncWire(CalogT *rt, uint32_t slot, uint32_t gen, uint32_t inLen);
/* calogFnCallAsyncWire for a call a waiting script's reply depends on (made from inside the host function that script
 * called, which defers its reply and passes the call on to a function of another runtime): a context waiting inside
 * a call of the same chain of calls serves it at any depth, as it serves a blocking call, where an ordinary async
 * request past half the nesting cap waits for a shallower wait. Made anywhere else, it is calogFnCallAsyncWire. */
CALOG_API int32_t calogFnCallAwaitedWire(CalogT *rt, uint32_t slot, uint32_t gen, uint32_t inLen);
/* Serves every queued host message (calls from other threads into host functions and host-thread
 * contexts, releases), then, if an async request completed, writes its outcome to OUT and the control
 * block (pollTicket/pollStatus/pollLen) and returns 1; returns 0 when none is left. */
CALOG_API int32_t calogHostPoll(CalogT *rt);
/* calogHostPoll for a host thread that serves calls from context threads: with waitUs > 0 and nothing queued, it
 * first waits up to waitUs microseconds for a message (a script that just called the host usually calls again
 * within microseconds; waiting here costs less than a trip through the event loop and a wake). Returns 1 as
 * calogHostPoll (an outcome in OUT); 2 when it served a call from a context thread and answered it (no
 * outcome); 0 otherwise (nothing arrived, or only other work was served). With waitUs > 0, wakes
 * (calogHostSetWaker) stay held back until a call returns 0: keep calling until one does (or end with
 * calogHostPoll) before going back to the event loop. Inside a call the host waits on it does not wait. Host
 * thread only; it blocks for at most waitUs (keep it small: the event loop waits meanwhile). Ownership as
 * calogHostPoll. */
CALOG_API int32_t calogHostPollWait(CalogT *rt, int32_t waitUs);
/* Blocks (any thread) until the host has something to poll (1), timeoutMs passes (0), or the runtime is being
 * destroyed (-1). timeoutMs < 0 waits until one of those, or until nothing is left that could bring work by
 * itself (0): no async request in flight and hostInterest zero. It does not consume anything. For Deno's
 * nonblocking symbols (a pending wait keeps the process alive). */
CALOG_API int32_t calogHostWait(CalogT *rt, int32_t timeoutMs);
/* A function any thread may call to ask the host thread to poll (Bun: a threadsafe JSCallback). Calls
 * are coalesced: after one, the next comes only once calogHostPoll has run. It must not block. */
typedef void (*CalogHostWakeFnT)(void);
CALOG_API void calogHostSetWaker(CalogT *rt, CalogHostWakeFnT waker);

/* IN: [engine string, flags int, options map|nil (optional)]. Returns the new context id (> 0) or -status with the error in OUT. */
CALOG_API int32_t calogContextCreateWire(CalogT *rt, uint32_t inLen);
/* IN: [source string, chunk name string|nil, timeoutMs int (optional)]. Result or error in OUT; returns its
 * length or -status. */
CALOG_API int32_t calogEvalWire(CalogT *rt, CalogContextIdT id, uint32_t inLen);
/* IN: [name string, args...]. */
CALOG_API int32_t calogCallWire(CalogT *rt, CalogContextIdT id, uint32_t inLen);
/* IN: [name string]. */
CALOG_API int32_t calogGetWire(CalogT *rt, CalogContextIdT id, uint32_t inLen);
/* IN: [args...]; calls the function value behind a handle previously written to OUT. */
CALOG_API int32_t calogFnCallWire(CalogT *rt, uint32_t slot, uint32_t gen, uint32_t inLen);
/* Drops the reference a handle holds. Stale handles are ignored. */
CALOG_API void calogFnReleaseWire(CalogT *rt, uint32_t slot, uint32_t gen);
/* The host has decoded the outcome last written to OUT. The host functions it names (HOSTFN: by id alone, holding no
 * reference) are kept by the library from the moment it writes them until the host's next entry, so that none is
 * released before the host has read it; this ends the keep at once. A host calls it after a decode that met a
 * HOSTFN (other outcomes keep nothing): without it, the last result's host functions, and whatever they keep alive
 * (another runtime's context behind a function lent to this one), live on while the runtime stays idle. Calling it
 * before the decode loses host functions the outcome names. It may run the release callback. Host thread. */
CALOG_API void calogHostOutDone(CalogT *rt);
/* IN: [name string, hostId int]. Registers a host function as a native. Returns 0 or -status. */
CALOG_API int32_t calogRegisterHostWire(CalogT *rt, uint32_t inLen);
/* IN: [name string]. */
CALOG_API int32_t calogUnregisterWire(CalogT *rt, uint32_t inLen);
/* IN: [limits map]. Returns 0 or -status with the error in OUT. */
CALOG_API int32_t calogContextSetLimitsWire(CalogT *rt, CalogContextIdT id, uint32_t inLen);

#ifdef __cplusplus
}
#endif
#endif /* CALOG_H */
