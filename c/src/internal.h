/* internal.h -- shared internals of libcalog. Never installed, never included by hosts.
 * Prefix: calog__ (hidden visibility; only calog* public functions are exported). */
#ifndef CALOG_INTERNAL_H
#define CALOG_INTERNAL_H

#include "calog.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

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

/* A function value. The closure behind it (fn + userData) belongs to ownerId's context (0 = free-threaded
 * C function). refs is atomic; everything else is written only by the owner (creation, context death). */
struct CalogFnT {
  CalogNativeFnT fn;
  void *userData;
  CalogReleaseFnT release;
  _Atomic int32_t refs;
  _Atomic bool alive;      /* false once the owning context is gone */
  CalogContextIdT ownerId; /* 0: not owned by a context */
  CalogCtxT *owner;        /* valid while alive; links fn into owner->fns */
  CalogFnT *prev, *next;
};

/* A registered native. Entries are never freed before the runtime, so engines may keep the pointer in
 * their closures; a removed registration keeps its entry with live = false. */
typedef struct CalogNativeEntryT {
  char *name;
  CalogNativeFnT fn;
  void *userData;
  CalogReleaseFnT release;
  bool live;
  CalogT *rt;
} CalogNativeEntryT;

/* The engine vtable: everything the broker knows about an engine. Every hook runs on the context's
 * thread. Hooks return a CalogStatusE and put errors into result/err (the one channel). */
typedef struct CalogEngineT {
  const char *name;
  int32_t (*create)(CalogCtxT *ctx, void **interpOut, CalogValueT *err);
  void (*destroy)(void *interp);
  /* Makes entry callable under entry->name (a global). Called for every registration, old and new. */
  int32_t (*installNative)(void *interp, CalogNativeEntryT *entry, CalogValueT *err);
  int32_t (*eval)(void *interp, const char *src, int64_t len, const char *chunkName, CalogValueT *result);
  int32_t (*call)(void *interp, const char *name, CalogValueT *args, int32_t argc, CalogValueT *result);
  int32_t (*get)(void *interp, const char *name, CalogValueT *result);
  int64_t (*memory)(void *interp); /* may be NULL */
} CalogEngineT;

/* A script context. */
struct CalogCtxT {
  CalogT *rt;
  CalogContextIdT id;
  const CalogEngineT *engine;
  void *interp;
  uint32_t nativesSeen; /* registry entries installed so far */
  CalogFnT *fns;        /* function values this context owns (exported closures) */
  int32_t busy;         /* frames of this context on the stack */
  bool dying;           /* destroy requested; freed when busy drops to 0 */
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

struct CalogT {
  CalogPolicyE policy;
  /* contexts: generationed slot table */
  CalogCtxSlotT *ctxSlots;
  uint32_t ctxCount, ctxCap;
  uint16_t ctxFree;
  /* native registry */
  CalogNativeEntryT **natives;
  uint32_t nativeCount, nativeCap;
  /* wire */
  CalogWireControlT wire;
  CalogHostCallFnT hostCall;
  CalogHostReleaseFnT hostRelease;
  CalogHandleSlotT *handles;
  uint32_t handleCount, handleCap, handleFree;
  int32_t nesting; /* host-thread re-entrancy depth */
};

#define CALOG_MAX_NESTING 64

/* value.c */
CALOG_HIDDEN int32_t calog__aggReserve(CalogAggT *agg, int64_t arrayCap, int64_t pairCap);
CALOG_HIDDEN int32_t calog__copyDepth(CalogValueT *dst, const CalogValueT *src, int depth);
CALOG_HIDDEN bool calog__isKeyType(CalogTypeE t);
CALOG_HIDDEN bool calog__utf8Valid(const char *s, int64_t len);

/* fn.c */
/* A function value owned by ctx: linked into ctx->fns; killed (release run, alive = false) when ctx dies. */
CALOG_HIDDEN CalogFnT *calog__fnCreateOwned(CalogCtxT *ctx, CalogNativeFnT fn, void *userData,
                                            CalogReleaseFnT release);
CALOG_HIDDEN void calog__fnKillOwned(CalogCtxT *ctx);

/* runtime.c */
CALOG_HIDDEN CalogCtxT *calog__ctxResolve(CalogT *rt, CalogContextIdT id);
CALOG_HIDDEN int32_t calog__nativeInvoke(CalogNativeEntryT *entry, CalogValueT *args, int32_t argc,
                                         CalogValueT *result);
CALOG_HIDDEN const CalogEngineT *calog__engineFind(const char *name);
/* Holds a context for one entry into its interpreter (nesting cap, lazy native install, busy count);
 * a context destroyed while held is freed by the last calog__ctxUnhold. */
CALOG_HIDDEN int32_t calog__ctxHold(CalogCtxT *ctx, CalogValueT *result);
CALOG_HIDDEN void calog__ctxUnhold(CalogCtxT *ctx);
CALOG_HIDDEN int32_t calog__nestEnter(CalogT *rt, CalogValueT *result);
CALOG_HIDDEN void calog__nestLeave(CalogT *rt);

/* engines.c: the list of built-in engines */
CALOG_HIDDEN extern const CalogEngineT *const calog__engines[];

#endif
