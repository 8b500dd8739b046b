/* duk_adapter.h -- private to the JavaScript engine (Duktape 2.7): adapter (marshalling, trampolines,
 * function values) and engine binding. duk_calog_config.h is force-included before this by the build. */
#ifndef CALOG_DUK_ADAPTER_H
#define CALOG_DUK_ADAPTER_H

#include "../../codec.h"
#include "../../policy/policy.h"

#include "duktape.h"

/* Hidden-symbol keys (first byte 0xFF): invisible to scripts, which cannot spell them (egress never lets a
 * string with a symbol prefix byte reach JS as a string, see duk_adapter.c). */
#define DUK_KEY_ENTRY DUK_HIDDEN_SYMBOL("calogEntry") /* on native trampolines: CalogNativeEntryT* */
#define DUK_KEY_HOLDER DUK_HIDDEN_SYMBOL("calogHolder") /* on foreign function wrappers: their holder object */
#define DUK_KEY_HOLD DUK_HIDDEN_SYMBOL("calogHold")     /* on holders: DukHoldT* (NULL once released) */
#define DUK_KEY_HOLDFIN DUK_HIDDEN_SYMBOL("calogHoldFin") /* global stash: the holders' finalizer */
#define DUK_KEY_REGISTRY DUK_HIDDEN_SYMBOL("calogFns")   /* global stash: the exported-function registry */
#define DUK_KEY_PROTOS DUK_HIDDEN_SYMBOL("calogProtos") /* global stash: the prototypes of DukCtxT.protos */
/* on the Error objects calog throws: the error's marks (CalogRaiseT), read back when one ends an entry */
#define DUK_KEY_RAISE_STATUS DUK_HIDDEN_SYMBOL("calogRaiseStatus")
#define DUK_KEY_RAISE_HOST DUK_HIDDEN_SYMBOL("calogRaiseHost")
/* on the Error objects calog throws from text: the .message it was given (while .message is still that, the message
 * is the text itself, an empty one too), and the exact bytes of a text JS cannot hold as they are (a symbol-prefixed
 * one, one holding an encoded surrogate pair), which its message then stands for */
#define DUK_KEY_RAISE_TEXT DUK_HIDDEN_SYMBOL("calogRaiseText")
#define DUK_KEY_RAISE_BYTES DUK_HIDDEN_SYMBOL("calogRaiseBytes")
/* on an object calog throws that another engine threw (a table, an array): the message it had there (its __tostring,
 * toString or _tostring said it), which the error says again when it leaves JS, unless the object has a toString of
 * its own by then */
#define DUK_KEY_RAISE_CARRIED DUK_HIDDEN_SYMBOL("calogRaiseCarried")
/* beside it, the exact bytes of such a message JS cannot hold as they are (as DUK_KEY_RAISE_BYTES) */
#define DUK_KEY_RAISE_CARRIED_BYTES DUK_HIDDEN_SYMBOL("calogRaiseCarriedBytes")

typedef struct DukCtxT {
  duk_context *ctx;    /* the heap's main thread */
  duk_context *cur;    /* the thread running a native right now (a coroutine's, maybe), NULL when idle */
  CalogCtxT *owner;    /* the broker context */
  void *registry;      /* heapptr of stash[DUK_KEY_REGISTRY], a bare object: id -> exported JS function */
  double nextFnId;     /* registry ids (exact up to 2^53) */
  size_t mem;          /* bytes held by this heap (broker-owned allocator; the context thread's own count) */
  _Atomic size_t memShown; /* mem as published to other threads (calogContextMemory): relaxed store/load */
  size_t memRefused;   /* the heap size an allocation refused by the memory limit asked for (0 = none) */
  struct DukPendingT *pending; /* C values held across Duktape calls that may throw (newest first) */
  uint64_t pendingSeq;
  double *deadIds;     /* registry ids of released function values, deleted on the next entry */
  size_t deadCount, deadCap;
  struct DukHoldT *holds; /* the references foreign function wrappers hold (destroy releases what is left) */
  void *holdFin;       /* heapptr of the holders' finalizer (kept by the global stash) */
  bool closing;        /* the heap is being destroyed: no entries, no new exports */
  bool readingThrown;  /* calog__dukScriptError is reading a thrown value: a throw while it does is not read too */
  CalogCapsT caps;     /* what scripts may reach (the "capabilities" option) */
  char raisedMsg[512]; /* scratch for the message of an error calog throws (the output limit) */
  /* heapptrs of the built-in prototypes ingress tells plain objects and byte buffers by (kept alive by
   * stash[DUK_KEY_PROTOS], taken before any script ran): Object, Uint8Array, Uint8ClampedArray, ArrayBuffer */
  void *protos[4];
  void *stringFn; /* the built-in String (stash[DUK_KEY_PROTOS][4]): a thrown Symbol is described by it, never by the
                   * script's global String (pass 61b) */
  char *scratch;       /* text with surrogate pairs transcoded for a sink (textOut), grown as needed */
  size_t scratchCap;
  /* The values without a place for calog's marks (null, a function, a primitive string: interned, one hstring for equal
   * strings) in flight, newest last: each that calog threw (throwResultIo: armed just before the throw, which pushes
   * it) with its marks, and each null, or function or string among these, a script threw itself, with none. A script's
   * catch of such a value takes the newest of its kind off (calog__dukCaught); an entry it ends uncaught gets the marks
   * of the newest of its kind (calog__dukMarks). So a finally block passing one on keeps it (another host function's
   * null caught there included), and a value the script caught, or threw of its own, never claims another's marks.
   * Patches 94/95 report the throws and catches, patch 96 a finalizer's error its runner swallows. An entry, or a read
   * of a value, sees only what was thrown inside it (bareFloor) and drops that when it is over (calog__dukRun,
   * calog__dukRead: calog__dukBareEnter/Leave): a record never outlives its entry, evictions at the bound included (a
   * count did not tell whose records were left: pass 42b). A finally block entered by a throw holds the value until its
   * end passes it on (patch 98): its record is parked there meanwhile, out of every search, and is the newest again
   * when it goes on. The record goes with its catcher (a throw, return, break or continue leaving the block; a thread
   * freed), so a parked record always has a live catcher: one a script's try/finally left behind was found again (a
   * pending own null took the text of another engine's null that a throw inside the block had replaced: pass 51a) or
   * evicted a live record at the bound (a recursion of 64 such blocks: pass 52a). One held by a coroutine paused in its
   * finally block outlives the entry and goes on when the coroutine is resumed and the block ends (pass 52a). */
  struct {
    void *value; /* its heapptr, NULL for null */
    uint64_t seq; /* when it was pushed (bareSeq), rising from the bottom up */
    CalogRaiseT mark;
    char *msg;      /* owned, NULL: none; the message it carried from the engine that threw it (a lenient null that
                     * was a Squirrel instance with a _tostring: pass 50b) */
    int64_t msgLen;
    bool parked;         /* held by a finally block: this catcher's (Duktape thread, value slot) */
    void *parkThr;
    unsigned long parkSlot;
  } bare[64];
  int32_t bareCount;
  uint64_t bareSeq;   /* the seq of the newest push */
  uint64_t bareFloor; /* the running entry's records are those with a seq above this */
  bool bareArmed;   /* calog's next throw is this value (bareNext) */
  void *bareNext;
  CalogRaiseT bareNextMark;
  char *bareNextMsg; /* owned until pushed with it */
  int64_t bareNextMsgLen;
} DukCtxT;

/* Begins an entry's (or a read's) window of DukCtxT.bare, returning the floor to give back to calog__dukBareLeave, which
 * drops the records pushed inside it. */
CALOG_HIDDEN uint64_t calog__dukBareEnter(DukCtxT *dc);
/* Frees the messages of the records and of the armed throw (a context being destroyed). */
CALOG_HIDDEN void calog__dukBareFree(DukCtxT *dc);
CALOG_HIDDEN void calog__dukBareLeave(DukCtxT *dc, uint64_t floor);

/* A C value a trampoline holds while Duktape may throw (or run JS: finalizers can run at any allocation).
 * The frame drops it when it completes; a frame skipped by a longjmp leaves it for the sweep done by the
 * protected entry that caught the throw (every node newer than the entry's mark belongs to a frame that is
 * gone), or by destroy. */
typedef struct DukPendingT {
  CalogValueT v;
  uint64_t seq;
  struct DukPendingT *prev, *next;
} DukPendingT;

/* The reference a foreign function wrapper holds. A wrapper is a Duktape/C function (fnTrampoline) whose hidden
 * DUK_KEY_HOLDER property is a bare "holder" object that no script can reach; the holder's hidden DUK_KEY_HOLD
 * points here and its finalizer releases the reference when the wrapper (and so the holder) dies. The wrapper
 * itself has no finalizer of ours: what a script does with Duktape.fin(wrapper) (read it, call it, remove or
 * replace it, inherit it) never touches the reference. The holders are listed so destroy releases any whose
 * finalizer never ran. */
typedef struct DukHoldT {
  CalogFnT *fn;
  struct DukHoldT *prev, *next;
} DukHoldT;

/* The closure behind a JS function exported as a function value. */
typedef struct DukFnRefT {
  DukCtxT *dc;
  double id;     /* registry slot that keeps the function alive */
  void *heapptr; /* the function itself (stable while the slot holds it) */
} DukFnRefT;

CALOG_HIDDEN DukCtxT *calog__dukCtx(duk_context *ctx);
/* Sets the globals net and timer (the I/O layer). Runs in a safe call (may throw). */
CALOG_HIDDEN void calog__dukOpenIo(DukCtxT *dc, duk_context *ctx);
/* Text out of JS: a new malloc'd, NUL-terminated copy with surrogate pairs as UTF-8. NULL on OOM. */
CALOG_HIDDEN char *calog__dukUtf8Dup(const char *str, size_t n, size_t *outLen);
/* Pushes the JS property name a global's name (UTF-8, NUL-terminated) is: its non-BMP characters as surrogate pairs,
 * as a script spells them (pushed raw, "😀" named no global a script made). False, nothing pushed, for a name no JS
 * property name is exactly (symbol-prefixed, or holding an encoded surrogate pair: see holdsPair). May throw. */
CALOG_HIDDEN bool calog__dukPushName(duk_context *ctx, const char *name);
/* Takes v (left nil) into a new pending node; NULL on OOM (v is then freed). */
CALOG_HIDDEN DukPendingT *calog__dukPendingPush(DukCtxT *dc, CalogValueT *v);
CALOG_HIDDEN void calog__dukPendingDrop(DukCtxT *dc, DukPendingT *p);
/* Drops every node newer than mark (a dc->pendingSeq read at the entry that is now leaving). */
CALOG_HIDDEN void calog__dukPendingSweep(DukCtxT *dc, uint64_t mark);
/* Throws the string on top of the stack as a JS Error carrying mark (CalogRaiseT, in hidden properties: the
 * entry it ends uncaught fails with mark; a script's own Error never has it). Does not return. */
CALOG_HIDDEN duk_ret_t calog__dukThrowMarked(duk_context *ctx, CalogRaiseT mark);
/* The marks (CalogRaiseT) of the thrown value on top of the stack (not consumed): {0, 0} unless it is an Error
 * calog__dukThrowMarked threw. Never throws. */
CALOG_HIDDEN CalogRaiseT calog__dukMarks(duk_context *ctx);
/* Turns the thrown value on top of the stack (consumed) into an error record {message, "js", stack}. */
CALOG_HIDDEN int32_t calog__dukError(DukCtxT *dc, duk_context *ctx, int32_t status, CalogValueT *result);
/* [thrown] -> []: calog__dukError with status CALOG_ERR_SCRIPT, plus the thrown value itself unless it is an Error
 * object (its message and stack are the record) or cannot cross (then the message says why). */
CALOG_HIDDEN int32_t calog__dukScriptError(DukCtxT *dc, duk_context *ctx, CalogValueT *result);
/* The JavaScript codec (design sec 4), the one set of marshalling rules for every path (the C API, calls
 * between engines, the wire): ingress writes JS values into a sink (codec.h), egress pushes a source's values.
 *
 * calog__dukRead writes the count values from index first into sink and never throws: scalars directly,
 * anything else inside one duk_safe_call (an index getter may throw or run code; finalizers may run at any
 * allocation); err receives the error. calog__dukReadHere is the same for one value, unprotected: it may throw,
 * so only code already running protected (the runner) calls it; the sink is left consistent at every point.
 * calog__dukToValue reads one value into out (out and err may be the same value). */
CALOG_HIDDEN int32_t calog__dukRead(DukCtxT *dc, duk_context *ctx, duk_idx_t first, duk_idx_t count, CalogSinkT *sink,
                                    CalogValueT *err);
CALOG_HIDDEN int32_t calog__dukReadHere(DukCtxT *dc, duk_context *ctx, duk_idx_t idx, CalogSinkT *sink, CalogValueT *err);
CALOG_HIDDEN int32_t calog__dukToValue(DukCtxT *dc, duk_context *ctx, duk_idx_t idx, CalogValueT *out, CalogValueT *err);
/* Pushes the next value of s. Policy errors return a status (err) with the stack as it was; only Duktape itself
 * may throw (out of memory), so callers run it protected and keep any C memory of theirs in a pending node
 * across it (an owned function item is held in one by egress itself). It defines properties (never [[Set]]: no
 * setter runs); like any allocation, it may let finalizers run. The caller made room for 3 slots (aggregates
 * check their own). calog__dukPush is the same for one CalogValueT (lent), room checked. */
CALOG_HIDDEN int32_t calog__dukPushFrom(DukCtxT *dc, duk_context *ctx, CalogSrcT *s, CalogValueT *err);
CALOG_HIDDEN int32_t calog__dukPush(DukCtxT *dc, duk_context *ctx, const CalogValueT *v, CalogValueT *err);
/* Pushes a Duktape/C function that calls entry (the one native trampoline). May throw. */
CALOG_HIDDEN void calog__dukPushNative(duk_context *ctx, CalogNativeEntryT *entry);
/* Creates the holders' finalizer and keeps it in the global stash. May throw (runs protected). */
CALOG_HIDDEN void calog__dukOpenHolders(DukCtxT *dc, duk_context *ctx);
/* Releases the references of holders whose finalizer did not run (after the heap is destroyed). */
CALOG_HIDDEN void calog__dukReleaseHolds(DukCtxT *dc);
/* Deletes the registry slots of released function values. May throw (runs protected). */
CALOG_HIDDEN void calog__dukFlushDead(DukCtxT *dc, duk_context *ctx);
CALOG_HIDDEN int32_t calog__dukFnInvoke(CalogValueT *args, int32_t argc, CalogValueT *result, void *userData);
CALOG_HIDDEN void calog__dukFnRelease(void *userData);

/* print, console and the Duktape object as the capabilities allow (duk_caps.c). May throw (runs protected). */
CALOG_HIDDEN void calog__dukOpenLibs(DukCtxT *dc, duk_context *ctx);

enum { DUK_RUN_EVAL, DUK_RUN_CALL, DUK_RUN_GET, DUK_RUN_REF };
/* Runs one protected operation: eval a chunk, call a global, read a global, or call an exported function
 * (heapptr), with argc arguments read from args and the result put into out (or the error in err). */
CALOG_HIDDEN int32_t calog__dukRun(DukCtxT *dc, int kind, const char *name, const char *src, int64_t len,
                                   void *heapptr, CalogSrcT *args, int32_t argc, CalogSinkT *out, CalogValueT *err);
/* The same with CalogValueT arguments (lent) and the result or error in result. */
CALOG_HIDDEN int32_t calog__dukRunValues(DukCtxT *dc, int kind, const char *name, const char *src, int64_t len,
                                         void *heapptr, CalogValueT *args, int32_t argc, CalogValueT *result);

#endif
