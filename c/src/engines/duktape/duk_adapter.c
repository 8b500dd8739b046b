/* duk_adapter.c -- JavaScript (Duktape 2.7) <-> calog values: marshalling both ways, the native trampoline,
 * JS functions as function values (a registry in the global stash) and function values as Duktape/C
 * functions (a hidden holder object whose finalizer owns the reference, see DukHoldT).
 *
 * One codec (design sec 4) for every path: ingress writes into a sink and egress pushes from a source
 * (codec.h), each backed by CalogValueT (the C API, calls between engines) or by the wire buffers (calls
 * from TypeScript straight onto the JS stack and back, and JS calling a TypeScript function), so every
 * rule below holds on both.
 *
 * Fidelity (strict / lenient policy where they differ):
 *   nil -> undefined; undefined and null -> nil.
 *   numbers: an integral JS number within +-2^53 (not -0) -> int, any other -> real (-0, NaN, Inf stay real).
 *     An int beyond +-2^53 has no exact JS number: strict CALOG_ERR_RANGE / lenient the nearest double.
 *   strings: byte strings both ways (NULs, invalid UTF-8, lone surrogates kept), with non-BMP text
 *     transcoded (see "text" below). A string whose first byte is 0x80/0x81/0x82/0xFF would be a Symbol in
 *     Duktape, and one holding an encoded surrogate pair would read as that pair's character: either enters JS as
 *     a Uint8Array of the same bytes (and comes back as the same string; as a map key, strict refuses it).
 *     Buffers (plain, Uint8Array, ArrayBuffer, DataView, other views) cross out as their bytes.
 *   list <-> Array (dense; holes and index getters' undefined -> nil); map <-> object (own enumerable string
 *     keys, enumeration order); empty list -> [], empty map -> {}; JS [] -> empty list, {} -> empty map.
 *   map keys into JS: string as is (a symbol-prefixed one: strict CALOG_ERR_TYPE / lenient dropped),
 *     int -> its exact decimal string, real -> JS ToString ("1.5", "2", "NaN"), bool -> strict
 *     CALOG_ERR_TYPE / lenient "true"/"false". Lossy, as JS keys are strings: they come back as string
 *     keys (keys that collide: see below).
 *   both (array part + pairs) -> an object: the array part under "1".."n" (Lua's indices, the TypeScript
 *     host's rule), then the pairs. It comes back as a map with string keys.
 *   functions: a JS function -> a function value owned by this context (dead once it is destroyed); a
 *     function value -> a callable JS function; own functions come home as the original JS function and
 *     foreign ones as the original value. Symbols, pointers: strict CALOG_ERR_TYPE / lenient nil.
 *     Objects whose prototype is not Object.prototype or null (Date, Error, RegExp, boxed primitives, class
 *     instances), and a built-in whose internal class says it is no plain object whatever its prototype (a Date,
 *     a boxed primitive, an arguments object... under null or Object.prototype; duk_calog_class_number, our
 *     patch): strict CALOG_ERR_TYPE / lenient their own enumerable data properties. Proxies: strict
 *     CALOG_ERR_TYPE / lenient nil (duk_calog_is_proxy, our patch: no trap runs). Buffers other than plain
 *     buffers, Uint8Array, Uint8ClampedArray and ArrayBuffer, each of its own class and under its own prototype
 *     (other typed arrays, DataView, a Float64Array under Uint8Array.prototype): strict CALOG_ERR_TYPE / lenient
 *     their bytes.
 *   map keys that become the same property name (1 and "1", an array part index and a "1" key): strict
 *     CALOG_ERR_TYPE / lenient the last wins.
 *   nesting deeper than CALOG_MAX_DEPTH: CALOG_ERR_DEPTH both ways; a cycle: CALOG_ERR_CYCLE (shared
 *     acyclic subobjects are copied); an array longer than 2^24 (a sparse giant): CALOG_ERR_RANGE.
 *
 * Throw safety. Nearly every Duktape call can throw (any allocation can fail) and, because finalizers run at
 * allocation and decref points, can run script code. So:
 *   - ingress (JS -> C) of anything that is not a scalar runs protected (duk_safe_call, or inside the
 *     runner's own), writing into a sink that lives outside the protected call: each sink call is complete
 *     before the next Duktape call, and the caller ends the sink as failed if the call fails (the value
 *     backend frees what it built, the wire backend gives back the handles it made). Ingress may run script
 *     code (an index getter, a finalizer): a host call it makes keeps what a wire sink wrote (wire.c);
 *   - egress (C -> JS) reads lent values and owns no C memory but an owned function item (a host function
 *     from the wire), which it holds in a pending node; it may throw (out of memory) and callers run it
 *     protected. A trampoline keeps the native's result (or error) in a pending node while pushing it, and
 *     reads a host function's result from a copy of IN (pushing may run code whose host calls rewrite IN);
 *   - nothing longjmps past a C frame that owns memory outside those two mechanisms.
 *
 * Getters. Ingress reads plain objects' own properties as their descriptors give them (duk_calog_get_own_data,
 * our patch), so an own accessor property is never invoked: strict policy -> CALOG_ERR_TYPE, lenient -> the
 * property is dropped. Objects are
 * enumerated with DUK_ENUM_NO_PROXY_BEHAVIOR (a Proxy's traps do not run; it crosses as its own, empty, set of
 * properties). Array elements are read with duk_get_prop_index: an accessor defined on an array index (or an
 * inherited one filling a hole) would run; whatever it does happens inside the protected ingress call.
 * Egress defines properties (duk_def_prop), so no setter runs and "__proto__" is an ordinary key.
 *
 * Symbols. Duktape reads a string whose first byte is 0x80, 0x81, 0x82 or 0xFF as a Symbol (0x82/0xFF:
 * hidden symbols, the keys this adapter stores its pointers under). No string from outside ever reaches JS
 * with such a first byte, so scripts cannot forge a hidden key. */
#include "duk_adapter.h"

#include "../../io/io.h"
#include "../../wire.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#define TWO53 9007199254740992.0
#define TWO53_I ((int64_t)1 << 53)
/* An array longer than this does not cross (a sparse `a[4e9] = 1` would otherwise become billions of nils). */
#define DUK_LIST_CAP ((duk_size_t)1 << 24)

DukCtxT *calog__dukCtx(duk_context *ctx) {
  duk_memory_functions f;
  duk_get_memory_functions(ctx, &f);
  return f.udata;
}

static bool lenient(const DukCtxT *dc) { return dc->owner->rt->policy == CALOG_POLICY_LENIENT; }

/* Duktape reads a string starting with one of these bytes as a Symbol. */
static bool symbolPrefix(const char *s, int64_t len) {
  if (len <= 0) return false;
  unsigned char c = (unsigned char)s[0];
  return c == 0x80 || c == 0x81 || c == 0x82 || c == 0xFF;
}

/* ---- text: 4-byte UTF-8 <-> surrogate pairs --------------------------------------------------------
 * JS strings are UTF-16; Duktape stores them as (extended) UTF-8 with each non-BMP character as its two
 * surrogates (CESU-8, 6 bytes). So text crossing in is transcoded: every well-formed 4-byte UTF-8 sequence
 * becomes its surrogate pair (JS then sees length 2 and equality with a literal), and every encoded
 * surrogate pair crossing out becomes the 4-byte UTF-8 sequence. All other bytes, NULs, invalid UTF-8 and
 * lone surrogates included, pass through untouched, so the round trip is exact for every byte string; one that
 * already holds an encoded surrogate pair (invalid UTF-8 anyway) would come back as UTF-8, so it enters JS as bytes
 * instead (see holdsPair). */
static bool astralAt(const unsigned char *p) { /* p[0..3]: a well-formed U+10000..U+10FFFF sequence */
  if ((p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) return false;
  if (p[0] == 0xF0) return p[1] >= 0x90;
  if (p[0] == 0xF4) return p[1] <= 0x8F;
  return p[0] >= 0xF1 && p[0] <= 0xF3;
}

static bool pairAt(const unsigned char *p) { /* p[0..5]: a high then a low surrogate, 3 bytes each */
  return p[0] == 0xED && p[1] >= 0xA0 && p[1] <= 0xAF && (p[2] & 0xC0) == 0x80 && p[3] == 0xED && p[4] >= 0xB0 &&
         p[4] <= 0xBF && (p[5] & 0xC0) == 0x80;
}

static size_t countAstral(const unsigned char *s, size_t n) {
  size_t count = 0;
  for (size_t i = 0; i + 3 < n; i++) {
    if (i + 8 <= n) { /* ASCII fast path */
      uint64_t w;
      memcpy(&w, s + i, 8);
      if ((w & 0x8080808080808080ull) == 0) {
        i += 7;
        continue;
      }
    }
    if (s[i] >= 0xF0 && s[i] <= 0xF4 && astralAt(s + i)) {
      count++;
      i += 3;
    }
  }
  return count;
}

static size_t countPairs(const unsigned char *s, size_t n) {
  size_t count = 0;
  const unsigned char *p = s, *end = s + n;
  while (end - p >= 6 && (p = memchr(p, 0xED, (size_t)(end - p - 5))) != NULL) {
    if (pairAt(p)) {
      count++;
      p += 6;
    } else {
      p++;
    }
  }
  return count;
}

static unsigned char *put3(unsigned char *o, uint32_t u) {
  o[0] = (unsigned char)(0xE0 | (u >> 12));
  o[1] = (unsigned char)(0x80 | ((u >> 6) & 0x3F));
  o[2] = (unsigned char)(0x80 | (u & 0x3F));
  return o + 3;
}

/* Text into JS (may throw). */
static void pushUtf8(duk_context *ctx, const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  size_t astral = countAstral(s, n);
  if (astral == 0) {
    duk_push_lstring(ctx, str, n);
    return;
  }
  unsigned char *o = duk_push_fixed_buffer(ctx, n + 2 * astral);
  for (size_t i = 0; i < n;) {
    if (i + 3 < n && s[i] >= 0xF0 && s[i] <= 0xF4 && astralAt(s + i)) {
      uint32_t cp = ((uint32_t)(s[i] & 0x07) << 18) | ((uint32_t)(s[i + 1] & 0x3F) << 12) |
                    ((uint32_t)(s[i + 2] & 0x3F) << 6) | (uint32_t)(s[i + 3] & 0x3F);
      cp -= 0x10000;
      o = put3(o, 0xD800 + (cp >> 10));
      o = put3(o, 0xDC00 + (cp & 0x3FF));
      i += 4;
    } else {
      *o++ = s[i++];
    }
  }
  duk_buffer_to_string(ctx, -1);
}

/* Writes the n bytes at s to o with every encoded surrogate pair as its 4-byte UTF-8; returns the end. */
static unsigned char *pairsToUtf8(const unsigned char *s, size_t n, unsigned char *o) {
  for (size_t i = 0; i < n;) {
    if (i + 5 < n && pairAt(s + i)) {
      uint32_t hi = ((uint32_t)(s[i] & 0x0F) << 12) | ((uint32_t)(s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F);
      uint32_t lo = ((uint32_t)(s[i + 3] & 0x0F) << 12) | ((uint32_t)(s[i + 4] & 0x3F) << 6) | (s[i + 5] & 0x3F);
      uint32_t cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
      *o++ = (unsigned char)(0xF0 | (cp >> 18));
      *o++ = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
      *o++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
      *o++ = (unsigned char)(0x80 | (cp & 0x3F));
      i += 6;
    } else {
      *o++ = s[i++];
    }
  }
  return o;
}

/* Text out of JS: a new malloc'd, NUL-terminated copy with surrogate pairs as UTF-8. NULL on OOM. */
char *calog__dukUtf8Dup(const char *str, size_t n, size_t *outLen) {
  const unsigned char *s = (const unsigned char *)str;
  size_t pairs = countPairs(s, n);
  char *out = malloc(n - 2 * pairs + 1);
  if (out == NULL) return NULL;
  unsigned char *o = (unsigned char *)out;
  if (pairs == 0) {
    memcpy(o, s, n);
    o += n;
  } else {
    o = pairsToUtf8(s, n, o);
  }
  *o = '\0';
  *outLen = (size_t)(o - (unsigned char *)out);
  return out;
}

/* Text out of JS for a sink, which copies it at once: the bytes themselves when they hold no surrogate pair
 * (the usual case: no copy here), else their UTF-8 in the context's scratch buffer (valid until the next
 * call; nothing runs in between). NULL on OOM. */
static const char *textOut(DukCtxT *dc, const char *str, size_t n, size_t *outLen) {
  const unsigned char *s = (const unsigned char *)str;
  size_t pairs = countPairs(s, n);
  *outLen = n;
  if (pairs == 0) return n ? str : "";
  size_t need = n - 2 * pairs;
  if (need > dc->scratchCap) {
    size_t cap = dc->scratchCap ? dc->scratchCap : 256;
    while (cap < need) cap *= 2;
    char *p = realloc(dc->scratch, cap);
    if (p == NULL) return NULL;
    dc->scratch = p;
    dc->scratchCap = cap;
  }
  *outLen = (size_t)(pairsToUtf8(s, n, (unsigned char *)dc->scratch) - (unsigned char *)dc->scratch);
  return dc->scratch;
}

/* ---- pending C values --------------------------------------------------------------------------- */
DukPendingT *calog__dukPendingPush(DukCtxT *dc, CalogValueT *v) {
  DukPendingT *p = malloc(sizeof *p);
  if (p == NULL) {
    calogValueFree(v);
    return NULL;
  }
  calogValueMove(&p->v, v);
  p->seq = ++dc->pendingSeq;
  p->prev = NULL;
  p->next = dc->pending;
  if (dc->pending) dc->pending->prev = p;
  dc->pending = p;
  return p;
}

void calog__dukPendingDrop(DukCtxT *dc, DukPendingT *p) {
  if (p->prev) p->prev->next = p->next;
  else dc->pending = p->next;
  if (p->next) p->next->prev = p->prev;
  calogValueFree(&p->v);
  free(p);
}

void calog__dukPendingSweep(DukCtxT *dc, uint64_t mark) {
  while (dc->pending && dc->pending->seq > mark) calog__dukPendingDrop(dc, dc->pending);
}

/* ---- errors: a thrown JS value -> {message, engine "js", traceback} --------------------------------- */
/* [...] -> [..., value]: the object's own property key (one of calog's hidden marks), undefined when it has none of its
 * own: an object made from an Error calog threw (Object.create(e), Object.setPrototypeOf(new Error(), e)) inherits
 * them, and is another error (it took the host exception as its cause: pass 54a). Allocates (a descriptor): in a safe
 * call. */
static void pushOwnMark(duk_context *ctx, duk_idx_t obj, const char *key) {
  obj = duk_require_normalize_index(ctx, obj);
  duk_push_string(ctx, key);
  /* [value] or [undefined]; no getter runs, and no descriptor object is built: one is built with puts, which a
   * script's accessor named "value" on Object.prototype intercepted, dropping or forging the marks (pass 61b) */
  (void)duk_calog_get_own_data(ctx, obj);
}

/* [thrown] -> []: the marks of an Error calog threw (calog__dukThrowMarked), into *udata. */
static duk_ret_t marksSafe(duk_context *ctx, void *udata) {
  CalogRaiseT *mark = udata;
  duk_idx_t v = duk_get_top_index(ctx);
  /* an Error calog threw, or an object another engine threw that calog raised here (throwResultIo); a Proxy's
   * traps never run */
  if (!duk_is_object(ctx, v) || duk_is_function(ctx, v) || duk_calog_is_proxy(ctx, v)) return 0;
  pushOwnMark(ctx, v, DUK_KEY_RAISE_STATUS);
  pushOwnMark(ctx, v, DUK_KEY_RAISE_HOST);
  if (duk_is_number(ctx, -2)) mark->status = duk_get_int(ctx, -2);
  if (duk_is_number(ctx, -1)) mark->host = (int64_t)duk_get_number(ctx, -1);
  if (mark->status <= 0 || mark->status >= CALOG_STATUS_COUNT) mark->status = 0;
  if (mark->host < 0) mark->host = 0;
  return 0;
}

/* The newest value in flight in the running entry (DukCtxT.bare above bareFloor: a script catches, and an entry ends
 * with, only what was thrown inside it) that a value thrown or caught (null or not, its heapptr) may be; -1: none. */
static int32_t bareFind(const DukCtxT *dc, bool isNull, void *heapptr) {
  if (!isNull && heapptr == NULL) return -1;
  for (int32_t i = dc->bareCount - 1; i >= 0 && dc->bare[i].seq > dc->bareFloor; i--)
    if (!dc->bare[i].parked && dc->bare[i].value == (isNull ? NULL : heapptr)) return i;
  return -1;
}

static void bareRemove(DukCtxT *dc, int32_t i) {
  free(dc->bare[i].msg);
  memmove(&dc->bare[i], &dc->bare[i + 1], (size_t)(dc->bareCount - i - 1) * sizeof dc->bare[0]);
  dc->bareCount--;
}

/* bareFind for the value on top of ctx's stack (a null, or a function or primitive string by its heapptr) */
static int32_t bareFindTop(const DukCtxT *dc, duk_context *ctx) {
  bool kept = duk_is_function(ctx, -1) || duk_is_string(ctx, -1);
  return bareFind(dc, duk_is_null(ctx, -1), kept ? duk_get_heapptr(ctx, -1) : NULL);
}

uint64_t calog__dukBareEnter(DukCtxT *dc) {
  uint64_t floor = dc->bareFloor;
  dc->bareFloor = dc->bareSeq;
  return floor;
}

void calog__dukBareLeave(DukCtxT *dc, uint64_t floor) {
  /* but for what a coroutine paused in a finally block holds (parked: it goes with its catcher) */
  for (int32_t i = dc->bareCount - 1; i >= 0 && dc->bare[i].seq > dc->bareFloor; i--)
    if (!dc->bare[i].parked) bareRemove(dc, i);
  dc->bareFloor = floor;
}

void calog__dukBareFree(DukCtxT *dc) {
  while (dc->bareCount > 0) free(dc->bare[--dc->bareCount].msg);
  free(dc->bareNextMsg);
  dc->bareNextMsg = NULL;
}

/* msg: owned from here (NULL: none) */
static void barePush(DukCtxT *dc, void *value, CalogRaiseT mark, char *msg, int64_t msgLen) {
  int32_t max = (int32_t)(sizeof dc->bare / sizeof dc->bare[0]);
  if (dc->bareCount == max) { /* the oldest goes: 64 such values in flight at once (README) */
    free(dc->bare[0].msg);
    memmove(&dc->bare[0], &dc->bare[1], (size_t)(max - 1) * sizeof dc->bare[0]);
    dc->bareCount--;
  }
  dc->bare[dc->bareCount].value = value;
  dc->bare[dc->bareCount].seq = ++dc->bareSeq;
  dc->bare[dc->bareCount].mark = mark;
  dc->bare[dc->bareCount].msg = msg;
  dc->bare[dc->bareCount].msgLen = msgLen;
  dc->bare[dc->bareCount].parked = false;
  dc->bareCount++;
}

CalogRaiseT calog__dukMarks(duk_context *ctx) {
  CalogRaiseT mark = {0, 0};
  if (duk_check_stack(ctx, 4)) {
    duk_dup(ctx, -1);
    (void)duk_safe_call(ctx, marksSafe, &mark, 1, 0);
  }
  /* a value with no place for them (DukCtxT.bare): the newest of its kind in flight */
  DukCtxT *dc = calog__dukCtx(ctx);
  if (!mark.status && !mark.host) {
    int32_t i = bareFindTop(dc, ctx);
    if (i >= 0) mark = dc->bare[i].mark;
  }
  return mark;
}

void calog__dukThrown(void *udata, int isNull, void *heapptr) {
  DukCtxT *dc = udata;
  if (dc == NULL) return;
  if (dc->bareArmed) { /* calog's own throw of it */
    dc->bareArmed = false;
    barePush(dc, dc->bareNext, dc->bareNextMark, dc->bareNextMsg, dc->bareNextMsgLen);
    dc->bareNextMsg = NULL;
  } else if (isNull || bareFind(dc, false, heapptr) >= 0) {
    barePush(dc, isNull ? NULL : heapptr, (CalogRaiseT){0, 0}, NULL, 0); /* the script's own: no marks */
  }
}

void calog__dukCaught(void *udata, int isNull, void *heapptr) {
  DukCtxT *dc = udata;
  if (dc == NULL) return;
  int32_t i = bareFind(dc, isNull, heapptr);
  if (i >= 0) bareRemove(dc, i);
}

void calog__dukParked(void *udata, void *thr, unsigned long slot, int isNull, void *heapptr) {
  DukCtxT *dc = udata;
  if (dc == NULL) return;
  int32_t i = bareFind(dc, isNull, heapptr);
  if (i < 0) return;
  dc->bare[i].parked = true;
  dc->bare[i].parkThr = thr;
  dc->bare[i].parkSlot = slot;
}

void calog__dukUnparked(void *udata, void *thr, unsigned long slot) {
  DukCtxT *dc = udata;
  if (dc == NULL) return;
  /* any entry's: a coroutine parked it in one and is resumed in another */
  for (int32_t i = dc->bareCount - 1; i >= 0; i--) {
    if (!dc->bare[i].parked || dc->bare[i].parkThr != thr || dc->bare[i].parkSlot != slot) continue;
    /* in flight again, the newest */
    char *msg = dc->bare[i].msg;
    void *value = dc->bare[i].value;
    CalogRaiseT mark = dc->bare[i].mark;
    int64_t msgLen = dc->bare[i].msgLen;
    dc->bare[i].msg = NULL;
    bareRemove(dc, i);
    barePush(dc, value, mark, msg, msgLen);
    return;
  }
}

void calog__dukCatcherGone(void *udata, void *thr, unsigned long slot) {
  DukCtxT *dc = udata;
  if (dc == NULL) return;
  for (int32_t i = dc->bareCount - 1; i >= 0; i--)
    if (dc->bare[i].parked && dc->bare[i].parkThr == thr && dc->bare[i].parkSlot == slot) bareRemove(dc, i);
}

void calog__dukThreadGone(void *udata, void *thr) {
  DukCtxT *dc = udata;
  if (dc == NULL) return;
  for (int32_t i = dc->bareCount - 1; i >= 0; i--)
    if (dc->bare[i].parked && dc->bare[i].parkThr == thr) bareRemove(dc, i);
}

static duk_ret_t toStringSafe(duk_context *ctx, void *udata) {
  (void)udata;
  duk_to_string(ctx, -1);
  return 1;
}

static CalogFnT *wrapperFn(duk_context *ctx, duk_idx_t idx);

/* [object] -> [object[udata]]: the property named by udata (a C string), read in a safe call (a getter may throw) */
static duk_ret_t getNamedSafe(duk_context *ctx, void *udata) {
  duk_get_prop_string(ctx, -1, (const char *)udata);
  return 1;
}

/* [object] -> [its own enumerable data property udata, or undefined]: no getter or Proxy trap runs, nothing inherited
 * (a getter on Function.prototype forged a thrown function's message, and a Proxy's trap ran: pass 62b) */
static duk_ret_t getOwnDataSafe(duk_context *ctx, void *udata) {
  if (!duk_is_object(ctx, -1) || duk_calog_is_proxy(ctx, -1)) {
    duk_push_undefined(ctx);
    return 1;
  }
  duk_push_string(ctx, (const char *)udata);
  duk_int_t kind = duk_calog_get_own_data(ctx, -2);
  if ((kind & 3) != 1 || !(kind & 4)) {
    duk_pop(ctx);
    duk_push_undefined(ctx);
  }
  return 1;
}

/* Whether the value at idx converts to text by a built-in toString (a Duktape/C function that is not one of our
 * function values), which says nothing a script wrote. Reading toString may run a getter: if it throws, no. */
static duk_ret_t nativeTrampoline(duk_context *ctx);
static duk_ret_t fnTrampoline(duk_context *ctx);
/* A Duktape/C function that is a built-in: none of calog's (a function value's wrapper, a registered host function,
 * which a script may make a toString as it may a function of its own: pass 45a). */
static bool builtinC(duk_context *ctx, duk_idx_t idx) {
  /* a built-in bound to something is a built-in all the same (Object.prototype.toString.bind(o) gave a raw
   * "[object Object]" as the script's own text: pass 49a/b) */
  if (!duk_check_stack(ctx, 1)) return false;
  duk_calog_push_bound_target(ctx, idx);
  duk_c_function f = duk_get_c_function(ctx, -1);
  duk_pop(ctx);
  return f != NULL && f != fnTrampoline && f != nativeTrampoline;
}

static bool builtinToString(duk_context *ctx, duk_idx_t idx) {
  duk_dup(ctx, idx);
  bool builtin = duk_safe_call(ctx, getNamedSafe, (void *)"toString", 1, 1) == DUK_EXEC_SUCCESS && builtinC(ctx, -1);
  duk_pop(ctx);
  if (!builtin) return false;
  /* a Symbol.toPrimitive of the script's runs first in ToString: its text is the script's own too (pass 50b) */
  duk_dup(ctx, idx);
  builtin = duk_safe_call(ctx, getNamedSafe, (void *)DUK_WELLKNOWN_SYMBOL("Symbol.toPrimitive"), 1, 1) == DUK_EXEC_SUCCESS &&
            (duk_is_undefined(ctx, -1) || builtinC(ctx, -1));
  duk_pop(ctx);
  return builtin;
}

/* Pushes the message an object another engine threw carries (DUK_KEY_RAISE_CARRIED) and returns true when it
 * carries one and its toString is still a built-in; else pushes nothing. A Proxy is no object calog threw: none of
 * its traps runs. */
static bool carriedText(duk_context *ctx, duk_idx_t idx) {
  if (duk_calog_is_proxy(ctx, idx)) return false;
  /* its own: an object that merely inherits from a carried one (Object.create(e)) is another error (pass 28a) */
  idx = duk_require_normalize_index(ctx, idx);
  pushOwnMark(ctx, idx, DUK_KEY_RAISE_CARRIED);
  if (!duk_is_string(ctx, -1) || duk_is_symbol(ctx, -1)) {
    duk_pop(ctx);
    return false;
  }
  if (!builtinToString(ctx, idx)) {
    duk_pop(ctx);
    return false;
  }
  return true;
}

/* Duktape's internal classes (duk_calog_class_number, our patch) */
enum {
  DUK_CLASS_ARGUMENTS = 4, DUK_CLASS_BOOLEAN = 5, DUK_CLASS_DATE = 6, DUK_CLASS_ERROR = 7, DUK_CLASS_NUMBER = 10,
  DUK_CLASS_REGEXP = 11, DUK_CLASS_STRING = 12, DUK_CLASS_SYMBOL = 14, DUK_CLASS_POINTER = 17, DUK_CLASS_THREAD = 18,
  DUK_CLASS_ARRAYBUFFER = 19, DUK_CLASS_UINT8ARRAY = 22, DUK_CLASS_UINT8CLAMPEDARRAY = 23
};

/* "[object Class]" as Object.prototype.toString names idx's class (no code runs). */
static const char *className(duk_context *ctx, duk_idx_t idx) {
  static const char *const names[] = {"[object Object]", "[object Object]", "[object Array]", "[object Function]",
                                      "[object Arguments]", "[object Boolean]", "[object Date]", "[object Error]",
                                      "[object JSON]", "[object Math]", "[object Number]", "[object RegExp]",
                                      "[object String]", "[object global]", "[object Symbol]"};
  if (!duk_check_stack(ctx, 2)) return names[0];
  duk_inspect_value(ctx, idx);
  duk_get_prop_literal(ctx, -1, "class");
  duk_int_t c = duk_get_int_default(ctx, -1, 0);
  duk_pop_2(ctx);
  return c > 0 && c < (duk_int_t)(sizeof names / sizeof names[0]) ? names[c] : names[0];
}

/* [value] -> []: its className into *udata */
static duk_ret_t classSafe(duk_context *ctx, void *udata) {
  *(const char **)udata = className(ctx, -1);
  return 0;
}

/* [thrown] -> [message stack|undefined]. Error objects give .message, anything else its ToString.
 * (A safe call runs in its caller's frame: its arguments are the top values, not index 0.) */
typedef struct DescribeT {
  bool rawBytes; /* the message pushed is a buffer of exact bytes (see DUK_KEY_RAISE_BYTES) */
  bool verbatim; /* an Error calog threw from text, its message untouched: the message is that text */
  bool empty;    /* an Error whose message and ToString are both empty (it failed to be named by its class) */
  bool placeholder; /* the message is a built-in's stand-in for an object ("[object Object]", a function's text) */
} DescribeT;

/* Pushes the value at idx's "message" and returns true when it is a non-empty string; else pushes nothing. Read in a
 * safe call: a getter that throws is no message. */
static bool stringMessage(duk_context *ctx, duk_idx_t idx) {
  duk_dup(ctx, idx);
  if (duk_safe_call(ctx, getOwnDataSafe, (void *)"message", 1, 1) == DUK_EXEC_SUCCESS && duk_is_string(ctx, -1) &&
      !duk_is_symbol(ctx, -1) && duk_get_length(ctx, -1) > 0)
    return true;
  duk_pop(ctx);
  return false;
}

/* Whether the object at idx has a property name (toString, Symbol.toPrimitive) that is a function and no built-in: one a
 * script wrote (or a function value). */
static bool ownNamed(duk_context *ctx, duk_idx_t idx, const char *name) {
  duk_dup(ctx, idx);
  bool own = duk_safe_call(ctx, getNamedSafe, (void *)name, 1, 1) == DUK_EXEC_SUCCESS && duk_is_function(ctx, -1) &&
             !builtinC(ctx, -1);
  duk_pop(ctx);
  return own;
}

static void pushText(duk_context *ctx, const char *s, int64_t n);

/* [value] -> [message] when the null or function on top is in flight (DukCtxT.bare) with a message another engine
 * gave it; false (the stack unchanged) when not. */
static bool carriedReason(duk_context *ctx) {
  DukCtxT *dc = calog__dukCtx(ctx);
  int32_t i = bareFindTop(dc, ctx);
  if (i < 0 || dc->bare[i].msg == NULL || dc->bare[i].msgLen == 0) return false;
  duk_pop(ctx);
  pushText(ctx, dc->bare[i].msg, dc->bare[i].msgLen);
  return true;
}

/* Which of the value's own conversions ToString ran and failed: a Symbol.toPrimitive the script wrote runs first (its
 * failure read "js threw {}": pass 51b), else a toString it wrote; NULL: neither is the script's */
static const char *ownConversion(duk_context *ctx, duk_idx_t idx) {
  if (ownNamed(ctx, idx, DUK_WELLKNOWN_SYMBOL("Symbol.toPrimitive"))) return "Symbol.toPrimitive";
  return ownNamed(ctx, idx, "toString") ? "toString" : NULL;
}

/* [error] -> [message]: when the value at v has a toString of its own, what its failure (the error on top) says, as a Lua
 * __tostring's does (pass 44b); false (the stack unchanged) when it has none. */
static bool toStringFailed(duk_context *ctx, duk_idx_t v) {
  const char *which = ownConversion(ctx, v);
  if (which == NULL) return false;
  /* an Error or a string says why; any other value thrown is named by its type, as Lua and Squirrel name it (its text,
   * "[object Object]" or "1,2", read as a reason: pass 45b) */
  if (duk_is_error(ctx, -1) || (duk_is_string(ctx, -1) && !duk_is_symbol(ctx, -1) && duk_get_length(ctx, -1) > 0)) {
    const char *cls = duk_is_error(ctx, -1) ? className(ctx, -1) : NULL;
    (void)duk_safe_to_lstring(ctx, -1, NULL);
    if (cls != NULL && duk_get_length(ctx, -1) == 0) { /* an Error whose text is empty says nothing: its class (pass 48b) */
      duk_pop(ctx);
      duk_push_sprintf(ctx, "it threw %s (its message and its description are empty)", cls);
    }
  } else if ((duk_is_null(ctx, -1) || duk_is_function(ctx, -1)) && carriedReason(ctx)) {
    /* a null or function another engine threw, with its message there (a value the lenient policy sends as null):
     * that message is the reason (it read "it threw null": pass 51a) */
  } else {
    const char *what = duk_is_string(ctx, -1) && !duk_is_symbol(ctx, -1) ? "it threw an empty string" /* pass 47b */
                       : duk_is_undefined(ctx, -1) ? "it threw undefined"
                       : duk_is_null(ctx, -1)    ? "it threw null"
                       : duk_is_boolean(ctx, -1) ? "it threw a boolean value"
                       : duk_is_number(ctx, -1)  ? "it threw a number value"
                       : duk_is_symbol(ctx, -1)  ? "it threw a Symbol"
                       : duk_is_function(ctx, -1) ? "it threw a function value"
                       : duk_is_array(ctx, -1)   ? "it threw an array value"
                       : duk_is_object(ctx, -1)  ? "it threw an object value"
                                                 : "it threw a value";
    duk_pop(ctx);
    duk_push_string(ctx, what);
  }
  duk_push_sprintf(ctx, "(error object is %s value; its %s failed: ", duk_is_function(ctx, v) ? "a function" : "an object",
                   which);
  duk_dup(ctx, -2);
  duk_push_literal(ctx, ")");
  duk_concat(ctx, 3);
  duk_remove(ctx, -2);
  return true;
}

static duk_ret_t describeSafe(duk_context *ctx, void *udata) {
  DescribeT *d = udata;
  bool *rawBytes = &d->rawBytes;
  duk_idx_t v = duk_get_top_index(ctx);
  if (duk_is_error(ctx, v)) {
    duk_get_prop_literal(ctx, v, "message");
    if (duk_is_symbol(ctx, -1)) return DUK_RET_TYPE_ERROR; /* no text: named by its class (dukErrorOf) */
    pushOwnMark(ctx, v, DUK_KEY_RAISE_TEXT);
    bool verbatim = duk_is_string(ctx, -1) && !duk_is_symbol(ctx, -1) && duk_strict_equals(ctx, -1, -2);
    duk_pop(ctx);
    d->verbatim = verbatim;
    if (verbatim) {
      /* an error calog threw from text, its message untouched: that text, an empty one too (a thrown "" is "", not
       * "Error"), and the exact bytes where JS could not hold them (a CESU-8 pair read as its character) */
      pushOwnMark(ctx, v, DUK_KEY_RAISE_BYTES);
      if (duk_is_buffer_data(ctx, -1)) {
        duk_remove(ctx, -2);
        *rawBytes = true;
      } else {
        duk_pop(ctx);
      }
    } else if (!duk_is_string(ctx, -1) || duk_get_length(ctx, -1) == 0) {
      /* no message (new Error(), new TypeError()), or one that is no string (undefined, 0, a String object: it read
       * "undefined", pass 46b): its ToString names it ("TypeError"), not an empty message */
      duk_pop(ctx);
      duk_dup(ctx, v);
      if (duk_safe_call(ctx, toStringSafe, NULL, 1, 1) != DUK_EXEC_SUCCESS) {
        /* its own toString says why; a built-in one failed on a name getter or a Symbol name: named by its class
         * (dukErrorOf), never an empty message (pass 45a) */
        if (!toStringFailed(ctx, v)) return DUK_RET_TYPE_ERROR;
      } else if (duk_is_symbol(ctx, -1)) {
        return DUK_RET_TYPE_ERROR; /* a toString giving a Symbol says nothing either */
      } else if (duk_get_length(ctx, -1) == 0) {
        d->empty = true; /* nor does an empty one: named by its class */
        return DUK_RET_TYPE_ERROR;
      }
    }
  } else if (duk_is_symbol(ctx, v)) { /* ToString refuses a Symbol; String() describes it: "Symbol(s)" */
    duk_push_literal(ctx, "js threw ");
    duk_push_heapptr(ctx, calog__dukCtx(ctx)->stringFn); /* the built-in, not the script's global (pass 61b) */
    duk_dup(ctx, v);
    duk_call(ctx, 1);
    duk_concat(ctx, 2);
  } else if (duk_is_object(ctx, v) && !duk_is_function(ctx, v) && carriedText(ctx, v)) {
    /* an object another engine threw, raised here by calog, without a toString of its own: what it said there, its
     * exact bytes where JS could not hold them */
    pushOwnMark(ctx, v, DUK_KEY_RAISE_CARRIED_BYTES);
    if (duk_is_buffer_data(ctx, -1)) {
      duk_remove(ctx, -2);
      *rawBytes = true;
    } else {
      duk_pop(ctx);
    }
  } else if (duk_is_function(ctx, v) && stringMessage(ctx, v)) {
    /* a function with a message of its own says it, as a host function's does (its built-in text said nothing and was
     * rendered "js threw [function]": pass 49a) */
  } else if (duk_is_array(ctx, v) && builtinToString(ctx, v)) {
    /* an array's built-in ToString joins every element: a thrown array of a million numbers made a 6.9 MB
     * message. Its placeholder has the array rendered, short, by the layer that reads the error (like a table
     * thrown in Lua); the array itself is the error's value. */
    duk_push_literal(ctx, "[object Array]");
    d->placeholder = true;
  } else {
    duk_dup(ctx, v);
    /* an object without a toString (Object.create(null)): ToString fails, and its error ("TypeError: coercion to
     * primitive failed") would read as the script's; it is described as Object.prototype.toString would */
    bool objectLike = duk_is_object(ctx, v) || duk_is_buffer(ctx, v) || duk_is_pointer(ctx, v);
    if (objectLike && duk_safe_call(ctx, toStringSafe, NULL, 1, 1) != DUK_EXEC_SUCCESS) {
      if (!toStringFailed(ctx, v)) { /* a toString the script wrote says why it failed */
        duk_pop(ctx);
        duk_push_string(ctx, className(ctx, v)); /* "[object Array]": an array was "[object Object]" */
        d->placeholder = true;
      }
    } else if (objectLike && duk_is_string(ctx, -1) && !duk_is_symbol(ctx, -1) &&
               (duk_is_function(ctx, v) || duk_is_buffer(ctx, v) || duk_is_pointer(ctx, v) ||
                strncmp(duk_get_string(ctx, -1), "[object ", 8) == 0 ||
                duk_calog_class_number(ctx, v) == DUK_CLASS_BOOLEAN || duk_calog_class_number(ctx, v) == DUK_CLASS_POINTER)) {
      /* a built-in's text for a function or an object ("function f() { [ecmascript code] }", "[object Object]", a
       * Symbol.toStringTag's "[object Thing]") is a stand-in; the same text from a toString a script wrote is its
       * own (a placeholder was told by its text: a script's "[object Thing]" was replaced, pass 48b). So is a
       * Boolean object's "false": a boolean's bare text, which is rendered (pass 48a), and the "[object Uint8Array]"
       * of a plain buffer (bytes a script was given) or the address a pointer shows, though neither is an object
       * (pass 49b) */
      d->placeholder = builtinToString(ctx, v);
    }
  }
  if (!*rawBytes) (void)duk_safe_to_lstring(ctx, -1, NULL);
  if (duk_is_object(ctx, v)) {
    /* read apart: a stack getter that throws costs the traceback, not the message (pass 44b) */
    duk_require_stack(ctx, 2);
    duk_dup(ctx, v);
    /* an Error's stack is Duktape's accessor on Error.prototype; any other object's is its own data or none (a getter
     * on Object.prototype ran and its result became the traceback of a thrown plain object: pass 62b) */
    if (duk_safe_call(ctx, duk_is_error(ctx, v) ? getNamedSafe : getOwnDataSafe, (void *)"stack", 1, 1) != DUK_EXEC_SUCCESS) {
      duk_pop(ctx);
      duk_push_undefined(ctx);
    }
    if (!duk_is_string(ctx, -1) || duk_is_symbol(ctx, -1)) {
      duk_pop(ctx);
      duk_push_undefined(ctx);
    }
  } else {
    duk_push_undefined(ctx);
  }
  return 2;
}

/* An object's own string "message" data property (no getter runs), as UTF-8 (owned; NULL: none or empty). */
typedef struct OwnMessageT {
  char *text;
  size_t len;
} OwnMessageT;

/* [object] -> []: its own message into *udata (OwnMessageT) */
static duk_ret_t ownMessageSafe(duk_context *ctx, void *udata) {
  OwnMessageT *own = udata;
  /* an own enumerable data property only (getOwnDataSafe): a property that is no data of the value (non-enumerable)
   * says nothing (pass 51b), and no getter runs (pass 61b) */
  getOwnDataSafe(ctx, (void *)"message");
  duk_size_t n = 0;
  const char *m = duk_is_string(ctx, -1) && !duk_is_symbol(ctx, -1) ? duk_get_lstring(ctx, -1, &n) : NULL;
  if (m != NULL && n > 0) own->text = calog__dukUtf8Dup(m, n, &own->len);
  return 0;
}

/* calog__dukError, telling whether the thrown value was an Error calog threw from text, its message untouched */
static int32_t dukErrorOf(DukCtxT *dc, duk_context *ctx, int32_t status, CalogValueT *result, DescribeT *d);

int32_t calog__dukError(DukCtxT *dc, duk_context *ctx, int32_t status, CalogValueT *result) {
  DescribeT d;
  return dukErrorOf(dc, ctx, status, result, &d);
}

/* d: how the message was made (all false when the description failed) */
static int32_t dukErrorOf(DukCtxT *dc, duk_context *ctx, int32_t status, CalogValueT *result, DescribeT *d) {
  (void)dc;
  duk_idx_t base = duk_get_top(ctx) - 1;
  int32_t st;
  /* its class, read before describing it (no code runs): what is left to say if describing it throws (a Proxy whose
   * get trap throws, an Error whose name getter throws or whose message is a Symbol). Protected: reading it
   * allocates, and this runs when a memory limit has just tripped (unprotected, a failed allocation was fatal) */
  const char *cls = NULL;
  if (duk_is_object(ctx, base) && duk_check_stack(ctx, 4)) {
    duk_dup(ctx, base);
    if (duk_safe_call(ctx, classSafe, (void *)&cls, 1, 0) != DUK_EXEC_SUCCESS) cls = NULL;
  }
  *d = (DescribeT){false, false, false, false};
  bool rawBytes = false;
  if (duk_check_stack(ctx, 4) && duk_safe_call(ctx, describeSafe, d, 1, 2) == DUK_EXEC_SUCCESS) {
    rawBytes = d->rawBytes;
    duk_size_t n = 0, tn = 0;
    const char *msg = rawBytes ? duk_get_buffer_data(ctx, -2, &n) : duk_get_lstring(ctx, -2, &n);
    if (msg == NULL && rawBytes) msg = "", n = 0; /* an empty buffer's data may be NULL */
    const char *tb = duk_get_lstring(ctx, -1, &tn);
    size_t mlen = 0, tlen = 0;
    char *m = msg && !rawBytes ? calog__dukUtf8Dup(msg, n, &mlen) : NULL;
    char *t = tb ? calog__dukUtf8Dup(tb, tn, &tlen) : NULL;
    st = calogErrorSet(result, status, "js", m ? m : msg ? msg : "error", m ? (int64_t)mlen : msg ? (int64_t)n : -1,
                       t ? t : tb);
    free(m);
    free(t);
    if (d->placeholder) calog__errorMarkPlaceholder(result);
  } else if (duk_is_string(ctx, base) && !duk_is_symbol(ctx, base)) {
    duk_size_t n = 0;
    const char *msg = duk_get_lstring(ctx, base, &n);
    st = calogErrorSet(result, status, "js", msg, (int64_t)n, NULL);
  } else {
    char msg[120];
    d->placeholder = false;
    if (d->empty) snprintf(msg, sizeof msg, "js threw %s (its message and its description are empty)", cls ? cls : "a value");
    else snprintf(msg, sizeof msg, "js threw %s (its description could not be read)", cls ? cls : "a value");
    st = calogErrorSet(result, status, "js", msg, -1, NULL);
  }
  duk_set_top(ctx, base);
  return st;
}

/* [thrown] -> []: the error record, plus the thrown value itself unless it is an Error object (its message
 * and stack are the record) or cannot cross. */
int32_t calog__dukScriptError(DukCtxT *dc, duk_context *ctx, CalogValueT *result) {
  CalogValueT thrown = calogValueNil(), scratch = calogValueNil();
  /* reading the value may throw again (an index getter), and that throw's value may throw when read: one level */
  if (dc->readingThrown) return calog__dukError(dc, ctx, CALOG_ERR_SCRIPT, result);
  /* (a plain pointer is no object, but a value that says nothing of its own all the same: pass 49b) */
  bool error = duk_is_error(ctx, -1), plain = duk_is_pointer(ctx, -1),
       object = (duk_is_object(ctx, -1) && !duk_is_function(ctx, -1)) || plain,
       nullish = duk_is_null_or_undefined(ctx, -1);
  const char *kind = duk_calog_is_proxy(ctx, -1) ? "a Proxy" : plain ? "a pointer" : duk_is_function(ctx, -1) ? "a function"
                     : duk_is_object(ctx, -1) ? "an object" : "a value";
  /* an object's own string message data property (no getter runs): said, as under lenient, before it is named as a
   * value that cannot cross (the README's order; pass 50b) */
  OwnMessageT own = {NULL, 0};
  if (object && !plain && duk_check_stack(ctx, 4) && !duk_calog_is_proxy(ctx, -1)) {
    duk_dup(ctx, -1);
    (void)duk_safe_call(ctx, ownMessageSafe, &own, 1, 0); /* protected: reading allocates (a memory limit) */
  }
  /* a null or a function another engine threw carries its message there in its record (DukCtxT.bare): copied now, as
   * describing a function runs code that may throw and catch (pass 50b) */
  char *carried = NULL;
  int64_t carriedLen = 0;
  int32_t rec = bareFindTop(dc, ctx);
  if (rec >= 0 && dc->bare[rec].msg != NULL && (carried = malloc((size_t)dc->bare[rec].msgLen + 1)) != NULL) {
    memcpy(carried, dc->bare[rec].msg, (size_t)dc->bare[rec].msgLen + 1);
    carriedLen = dc->bare[rec].msgLen;
  }
  DescribeT d;
  dc->readingThrown = true;
  bool has = !error && calog__dukToValue(dc, ctx, -1, &thrown, &scratch) == CALOG_OK;
  dc->readingThrown = false;
  int32_t st = dukErrorOf(dc, ctx, CALOG_ERR_SCRIPT, result, &d);
  if (error && d.verbatim && st == CALOG_ERR_SCRIPT) {
    /* the text another engine threw (a string, an error of its own, a host function's exception), passing through:
     * its value is that text again, as through Lua or Squirrel (it was absent: the exact bytes of a text that is not
     * UTF-8 were then lost to TypeScript, its message having U+FFFD for them) */
    int64_t n = 0;
    const char *msg = calogErrorMessage(result, &n);
    has = calogValueString(&thrown, msg, n) == CALOG_OK;
  }
  bool silent = d.placeholder || calogErrorMessage(result, NULL)[0] == 0; /* the message says nothing of its own */
  if (carried != NULL && st == CALOG_ERR_SCRIPT) {
    calog__errorSetMessageN(result, carried, carriedLen);
    silent = false;
  } else if (own.text != NULL && silent) {
    /* its own string message field, whether the value crosses or not: lenient sends an array's items or a
     * Uint8Array's bytes without it (pass 51b), strict refuses it (pass 50b) */
    calog__errorSetMessageN(result, own.text, (int64_t)own.len);
    silent = false;
  } else if (has && thrown.type == CALOG_NIL && !nullish && silent) {
    /* a value the lenient policy sends as null (a Proxy): rendered, it read "js threw null" (pass 49a) */
    char msg[120];
    snprintf(msg, sizeof msg, "js threw %s, which the lenient policy sends as null", kind);
    calog__errorSetMessage(result, msg);
  }
  free(carried);
  if (has) calog__errorAttachValue(result, &thrown);
  else if (!error && object && silent) {
    /* an object that cannot cross and has no text of its own (or an empty one: pass 46a): say so rather than
     * "[object Object]" */
    char msg[400];
    snprintf(msg, sizeof msg, "js threw %s that cannot cross: %s", plain ? "a pointer" : "an object",
             calogErrorMessage(&scratch, NULL));
    calog__errorSetMessage(result, msg);
  }
  free(own.text);
  calogValueFree(&scratch);
  calogValueFree(&thrown);
  return st;
}

/* ---- ingress: JS -> a sink (CalogValueT, or the wire straight into OUT) ------------------------- */
typedef struct IngressT {
  DukCtxT *dc;
  CalogSinkT *sink;
  CalogValueT *err;
  int32_t st;
  duk_idx_t first, end; /* ingressSafe: the values it reads */
  void *ancestors[CALOG_MAX_DEPTH + 1]; /* written before read: never initialised */
} IngressT;

static int32_t ingress(IngressT *in, duk_context *ctx, duk_idx_t idx, int depth);

/* A sink call's status: a failure gets its message (the sink remembers it; nothing more is written). */
static int32_t put(IngressT *in, int32_t st) { return st == CALOG_OK ? st : calog__sinkFail(in->sink, st, in->err); }

static int32_t putNumber(IngressT *in, double d) {
  if (d >= -TWO53 && d <= TWO53) { /* false for NaN */
    int64_t i = (int64_t)d;
    if ((double)i == d && !(i == 0 && signbit(d))) return put(in, calog__sinkScalar(in->sink, CALOG_INT, i, 0));
  }
  return put(in, calog__sinkScalar(in->sink, CALOG_REAL, 0, d));
}

static int32_t putBytes(IngressT *in, const void *p, duk_size_t n) {
  return put(in, calog__sinkString(in->sink, n ? (const char *)p : "", (int64_t)n));
}

static int32_t putText(IngressT *in, const char *p, duk_size_t n) {
  size_t len;
  const char *bytes = textOut(in->dc, p, n, &len);
  if (bytes == NULL) return calogFail(in->err, CALOG_ERR_OOM, "out of memory");
  int32_t st = put(in, calog__sinkString(in->sink, bytes, (int64_t)len));
  if (in->dc->scratchCap > ((size_t)1 << 20)) { /* a huge text does not keep its copy */
    free(in->dc->scratch);
    in->dc->scratch = NULL;
    in->dc->scratchCap = 0;
  }
  return st;
}

/* What kind of object idx is, for messages: its class as Object.prototype.toString names it (no code runs). */
static const char *objectKind(duk_context *ctx, duk_idx_t idx) {
  static const char *const names[] = {"object", "object", "Array", "Function", "arguments object", "Boolean",
                                      "Date", "Error", "JSON", "Math", "Number", "RegExp", "String", "global",
                                      "Symbol", "object environment", "declarative environment", "Pointer",
                                      "Thread", "ArrayBuffer", "DataView", "Int8Array", "Uint8Array",
                                      "Uint8ClampedArray", "Int16Array", "Uint16Array", "Int32Array", "Uint32Array",
                                      "Float32Array", "Float64Array"};
  if (!duk_check_stack(ctx, 2)) return "object";
  duk_inspect_value(ctx, idx);
  duk_get_prop_literal(ctx, -1, "class");
  duk_int_t c = duk_get_int_default(ctx, -1, 0);
  duk_pop_2(ctx);
  if (c == 1) return "class instance or object with a custom prototype";
  return c > 0 && c < (duk_int_t)(sizeof names / sizeof names[0]) ? names[c] : "object";
}

/* A built-in that is no plain object whatever its prototype (a Date, a boxed primitive, an arguments object...):
 * under null or Object.prototype strict still refuses it. Object, Math, JSON and the global object are ordinary. */
static bool builtinClass(duk_int_t cls) {
  switch (cls) {
  case DUK_CLASS_ARGUMENTS: case DUK_CLASS_BOOLEAN: case DUK_CLASS_DATE: case DUK_CLASS_ERROR: case DUK_CLASS_NUMBER:
  case DUK_CLASS_REGEXP: case DUK_CLASS_STRING: case DUK_CLASS_SYMBOL: case DUK_CLASS_POINTER: case DUK_CLASS_THREAD:
    return true;
  default: return false;
  }
}

static int32_t unrepresentable(IngressT *in, const char *what) {
  if (lenient(in->dc)) return put(in, calog__sinkScalar(in->sink, CALOG_NIL, 0, 0));
  return calogFail(in->err, CALOG_ERR_TYPE, "a JS %s cannot cross to another engine", what);
}

static CalogFnT *wrapperFn(duk_context *ctx, duk_idx_t idx);

static int32_t ingressFunction(IngressT *in, duk_context *ctx, duk_idx_t idx) {
  DukCtxT *dc = in->dc;
  CalogFnT *held = wrapperFn(ctx, idx);
  if (held != NULL) { /* a function value of ours coming home: the value itself */
    calogFnRetain(held);
    return put(in, calog__sinkFn(in->sink, held));
  }
  if (dc->closing) {
    if (lenient(dc)) return put(in, calog__sinkScalar(in->sink, CALOG_NIL, 0, 0));
    return calogFail(in->err, CALOG_ERR_DEAD, "a JS function cannot be exported while its context is destroyed");
  }
  /* registry[id] = fn first: it may throw, and nothing is owned yet */
  double id = ++dc->nextFnId;
  duk_push_heapptr(ctx, dc->registry);
  duk_push_number(ctx, id);
  duk_dup(ctx, idx);
  if (duk_is_lightfunc(ctx, -1)) duk_to_object(ctx, -1); /* a heap object, so it has a stable heapptr */
  void *heapptr = duk_get_heapptr(ctx, -1);
  duk_put_prop(ctx, -3);
  duk_pop(ctx);
  DukFnRefT *ref = malloc(sizeof *ref);
  CalogFnT *fn = ref ? calog__fnCreateOwned(dc->owner, calog__dukFnInvoke, ref, calog__dukFnRelease) : NULL;
  if (fn == NULL) {
    free(ref);
    duk_push_heapptr(ctx, dc->registry);
    duk_push_number(ctx, id);
    duk_del_prop(ctx, -2);
    duk_pop(ctx);
    return calogFail(in->err, CALOG_ERR_OOM, "out of memory");
  }
  ref->dc = dc;
  ref->id = id;
  ref->heapptr = heapptr;
  return put(in, calog__sinkFn(in->sink, fn)); /* the sink takes the reference */
}

/* Dense: elements 0 .. length-1, holes read as undefined -> nil. Named properties (a.x = 1) do not cross: strict
 * refuses such an array, lenient drops them. */
static int32_t ingressArray(IngressT *in, duk_context *ctx, duk_idx_t idx, int depth) {
  duk_size_t n = duk_get_length(ctx, idx);
  if (n > DUK_LIST_CAP)
    return calogFail(in->err, CALOG_ERR_RANGE, "a JS array of length %lu exceeds the marshalling cap (%lu)",
                     (unsigned long)n, (unsigned long)DUK_LIST_CAP);
  if (!lenient(in->dc) && duk_calog_named_keys(ctx, idx) > 0)
    return calogFail(in->err, CALOG_ERR_TYPE,
                     "a JS array with named properties cannot cross: they would be lost (only items 0..length-1 cross)");
  int32_t st = put(in, calog__sinkAggBegin(in->sink, (int64_t)n, 0));
  for (duk_size_t i = 0; i < n && st == CALOG_OK; i++) {
    duk_get_prop_index(ctx, idx, (duk_uarridx_t)i);
    st = ingress(in, ctx, duk_get_top_index(ctx), depth + 1);
    duk_pop(ctx);
  }
  /* an index getter (inherited through a hole) runs while the items are read: one that gave the array a named
   * property slipped past the check above (pass 35a) */
  if (st == CALOG_OK && !lenient(in->dc) && duk_calog_named_keys(ctx, idx) > 0)
    return calogFail(in->err, CALOG_ERR_TYPE,
                     "a JS array gained named properties while it crossed (an index getter set them): they would be "
                     "lost (only items 0..length-1 cross)");
  return st == CALOG_OK ? put(in, calog__sinkAggEnd(in->sink, CALOG_AGG_LIST)) : st;
}

/* Own enumerable string keys in enumeration (insertion) order; values read as property descriptors would give
 * them (duk_calog_get_own_data, our patch: no descriptor object is built), never through getters. */
/* Whether text holds a 4-byte UTF-8 sequence (a character past U+FFFF as Duktape.dec('jx') or CBOR.decode make it,
 * where JS text holds a surrogate pair). */
static bool hasRawAstral(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)p[i] >= 0xF0) return true;
  return false;
}

/* Under strict: refuses an object two of whose keys are one text once transcoded (a character past U+FFFF held as
 * 4-byte UTF-8 in one and as a surrogate pair in the other: two properties in JS, one key outside, pass 31b). Only
 * objects with a key holding such bytes are looked at (raw: one was seen): a set of the keys' texts as they cross. */
static int32_t checkTranscodedKeys(IngressT *in, duk_context *ctx, duk_idx_t idx) {
  duk_idx_t top = duk_get_top(ctx);
  duk_push_bare_object(ctx);
  duk_idx_t seen = top;
  duk_enum(ctx, idx, DUK_ENUM_OWN_PROPERTIES_ONLY | DUK_ENUM_NO_PROXY_BEHAVIOR);
  int32_t st = CALOG_OK;
  while (st == CALOG_OK && duk_next(ctx, top + 1, 0)) {
    duk_size_t kn = 0;
    const char *ks = duk_get_lstring(ctx, -1, &kn);
    if (ks != NULL && (hasRawAstral(ks, kn) || countPairs((const unsigned char *)ks, kn) > 0)) {
      size_t len;
      const char *bytes = textOut(in->dc, ks, kn, &len);
      if (bytes == NULL) {
        st = calogFail(in->err, CALOG_ERR_OOM, "out of memory");
      } else {
        duk_push_lstring(ctx, bytes, len);
        char name[6 * 64 + 4];
        if (duk_has_prop(ctx, seen))
          st = calogFail(in->err, CALOG_ERR_TYPE,
                         "two keys of an object are the same text '%s' once they cross: a character past U+FFFF is "
                         "4-byte UTF-8 in one (as Duktape.dec or CBOR.decode make it) and a surrogate pair in the "
                         "other; the lenient policy keeps the last",
                         calog__clipText(name, sizeof name, bytes, len, 64));
        else {
          duk_push_lstring(ctx, bytes, len);
          duk_push_true(ctx);
          duk_put_prop(ctx, seen);
        }
      }
    }
    duk_set_top(ctx, top + 2);
  }
  duk_set_top(ctx, top);
  return st;
}

static int32_t ingressObject(IngressT *in, duk_context *ctx, duk_idx_t idx, int depth) {
  bool raw = false; /* a key holds 4-byte UTF-8 (see checkTranscodedKeys) */
  int32_t st = put(in, calog__sinkAggBegin(in->sink, 0, 0));
  if (st != CALOG_OK) return st;
  calog__sinkAggPairs(in->sink);
  duk_idx_t top = duk_get_top(ctx);
  duk_enum(ctx, idx, DUK_ENUM_OWN_PROPERTIES_ONLY | DUK_ENUM_NO_PROXY_BEHAVIOR);
  duk_idx_t e = top;
  while (duk_next(ctx, e, 0)) {
    duk_idx_t k = e + 1;
    duk_dup(ctx, k);
    duk_int_t kind = duk_calog_get_own_data(ctx, idx) & 3; /* [e k value|undefined]: no getter runs */
    if (kind == 0) { /* deleted meanwhile */
      duk_set_top(ctx, k);
      continue;
    }
    duk_size_t kn = 0;
    const char *ks = duk_get_lstring(ctx, k, &kn);
    if (kind == 2) { /* an accessor */
      if (!lenient(in->dc)) {
        char name[6 * 64 + 4];
        size_t nl = 0;
        const char *nb = ks != NULL ? textOut(in->dc, ks, kn, &nl) : NULL; /* its UTF-8: a pair read as U+FFFDs (pass 44b) */
        if (nb == NULL) nb = ks ? ks : "", nl = ks ? kn : 0;
        st = calogFail(in->err, CALOG_ERR_TYPE, "property '%s' is an accessor: getters are not run while marshalling",
                       calog__clipText(name, sizeof name, nb, nl, 64));
        break;
      }
      duk_set_top(ctx, k);
      continue;
    }
    if (!raw && ks != NULL && hasRawAstral(ks, kn)) raw = true;
    if ((st = putText(in, ks, kn)) != CALOG_OK) break;
    if ((st = ingress(in, ctx, e + 2, depth + 1)) != CALOG_OK) break;
    duk_set_top(ctx, k);
  }
  duk_set_top(ctx, top);
  if (st == CALOG_OK && raw && !lenient(in->dc)) st = checkTranscodedKeys(in, ctx, idx);
  return st == CALOG_OK ? put(in, calog__sinkAggEnd(in->sink, CALOG_AGG_MAP)) : st;
}

/* Writes the value at idx (absolute) into the sink. May throw (an index getter, out of memory) for an object or
 * a function: run protected. Scalars never throw. */
static int32_t ingress(IngressT *in, duk_context *ctx, duk_idx_t idx, int depth) {
  switch (duk_get_type(ctx, idx)) {
  case DUK_TYPE_NONE:
  case DUK_TYPE_UNDEFINED:
  case DUK_TYPE_NULL: return put(in, calog__sinkScalar(in->sink, CALOG_NIL, 0, 0));
  case DUK_TYPE_BOOLEAN: return put(in, calog__sinkScalar(in->sink, CALOG_BOOL, duk_get_boolean(ctx, idx), 0));
  case DUK_TYPE_NUMBER: return putNumber(in, duk_get_number(ctx, idx));
  case DUK_TYPE_STRING: {
    if (duk_is_symbol(ctx, idx)) return unrepresentable(in, "symbol");
    duk_size_t n = 0;
    const char *s = duk_get_lstring(ctx, idx, &n);
    return putText(in, s, n);
  }
  case DUK_TYPE_BUFFER: { /* a plain buffer: its bytes */
    duk_size_t n = 0;
    void *p = duk_get_buffer(ctx, idx, &n);
    return putBytes(in, p, n);
  }
  case DUK_TYPE_LIGHTFUNC: return ingressFunction(in, ctx, idx);
  case DUK_TYPE_OBJECT: {
    if (duk_is_function(ctx, idx)) return ingressFunction(in, ctx, idx);
    if (duk_calog_is_proxy(ctx, idx)) return unrepresentable(in, "Proxy (its traps are never run while marshalling)");
    void *proto = NULL;
    if (duk_is_buffer_data(ctx, idx) || !duk_is_array(ctx, idx)) {
      duk_get_prototype(ctx, idx);
      proto = duk_get_heapptr(ctx, -1); /* the prototype stays reachable from the object */
      duk_pop(ctx);
    } else if (!lenient(in->dc)) {
      /* an array whose prototype is neither null nor an array (Array.prototype is one; an ES5 subclass's
       * Object.create(Array.prototype), Date.prototype are not) crossed as a plain list (pass 37a) */
      duk_get_prototype(ctx, idx);
      bool plainProto = duk_is_undefined(ctx, -1) || duk_is_null(ctx, -1) || duk_is_array(ctx, -1);
      duk_pop(ctx);
      if (!plainProto)
        return calogFail(in->err, CALOG_ERR_TYPE,
                         "a JS array whose prototype was replaced (a subclass of Array, or another object's prototype) "
                         "cannot cross to another engine: it would arrive as a plain list (the lenient policy sends its "
                         "items)");
    }
    /* the internal class, whatever the prototype says (pass 22a): a Float64Array, a Uint16Array or a DataView whose
     * prototype was set to Uint8Array.prototype crossed under strict as its raw bytes, and a Date, a RegExp, an Error,
     * a boxed primitive, a Thread or a Pointer under null or Object.prototype as `{}` (a String as its characters) */
    duk_int_t cls = duk_calog_class_number(ctx, idx);
    if (duk_is_buffer_data(ctx, idx)) { /* Uint8Array, Uint8ClampedArray, ArrayBuffer: their bytes */
      bool own = (cls == DUK_CLASS_UINT8ARRAY && proto == in->dc->protos[1]) ||
                 (cls == DUK_CLASS_UINT8CLAMPEDARRAY && proto == in->dc->protos[2]) ||
                 (cls == DUK_CLASS_ARRAYBUFFER && proto == in->dc->protos[3]);
      if (!own && !lenient(in->dc))
        return calogFail(in->err, CALOG_ERR_TYPE,
                         "a JS %s cannot cross to another engine: only plain Uint8Array, Uint8ClampedArray and "
                         "ArrayBuffer objects (not subclasses such as Buffer) cross as bytes; the lenient policy "
                         "sends any view's bytes", objectKind(ctx, idx));
      /* its named properties live in the entry part (the indices are virtual): counted without a walk of the bytes.
       * They were dropped without a word under strict (pass 34a) */
      if (!lenient(in->dc) && duk_calog_named_keys(ctx, idx) > 0)
        return calogFail(in->err, CALOG_ERR_TYPE,
                         "a JS %s with named properties cannot cross to another engine: only its bytes would (the "
                         "lenient policy drops the properties)", objectKind(ctx, idx));
      duk_size_t n = 0;
      void *p = duk_get_buffer_data(ctx, idx, &n);
      return putBytes(in, p, n);
    }
    if (!duk_is_array(ctx, idx) && proto != NULL && proto != in->dc->protos[0] && !lenient(in->dc))
      return calogFail(in->err, CALOG_ERR_TYPE,
                       "a JS %s cannot cross to another engine (only plain objects, arrays, byte buffers and functions "
                       "do; the lenient policy sends its own enumerable data properties)", objectKind(ctx, idx));
    if (!duk_is_array(ctx, idx) && builtinClass(cls) && !lenient(in->dc)) {
      if (cls == DUK_CLASS_ARGUMENTS && proto == in->dc->protos[0])
        return calogFail(in->err, CALOG_ERR_TYPE,
                         "a JS arguments object cannot cross to another engine: it would arrive as an object with the "
                         "keys \"0\", \"1\"...; send Array.prototype.slice.call(arguments) (the lenient policy sends its "
                         "own enumerable data properties)");
      return calogFail(in->err, CALOG_ERR_TYPE,
                       "a JS %s whose prototype was replaced (%s) cannot cross to another engine: it is no plain object, "
                       "and only its own properties would cross (the lenient policy sends its own enumerable data "
                       "properties)", objectKind(ctx, idx), proto == NULL ? "null" : "Object.prototype");
    }
    if (depth >= CALOG_MAX_DEPTH)
      return calogFail(in->err, CALOG_ERR_DEPTH, "value nesting exceeds the depth cap (%d)", CALOG_MAX_DEPTH);
    void *self = duk_get_heapptr(ctx, idx);
    for (int i = 0; i < depth; i++)
      if (in->ancestors[i] == self) return calogFail(in->err, CALOG_ERR_CYCLE, "object contains itself (a cycle)");
    in->ancestors[depth] = self;
    if (!duk_check_stack(ctx, 8)) return calogFail(in->err, CALOG_ERR_OOM, "JS value stack exhausted");
    return duk_is_array(ctx, idx) ? ingressArray(in, ctx, idx, depth) : ingressObject(in, ctx, idx, depth);
  }
  case DUK_TYPE_POINTER: return unrepresentable(in, "pointer");
  default: return unrepresentable(in, "value of this type");
  }
}

int32_t calog__dukReadHere(DukCtxT *dc, duk_context *ctx, duk_idx_t idx, CalogSinkT *sink, CalogValueT *err) {
  IngressT in;
  in.dc = dc;
  in.sink = sink;
  in.err = err;
  return ingress(&in, ctx, duk_normalize_index(ctx, idx), 0);
}

static duk_ret_t ingressSafe(duk_context *ctx, void *udata) {
  IngressT *in = udata;
  for (duk_idx_t i = in->first; i < in->end && in->st == CALOG_OK; i++) in->st = ingress(in, ctx, i, 0);
  return 0;
}

int32_t calog__dukRead(DukCtxT *dc, duk_context *ctx, duk_idx_t first, duk_idx_t count, CalogSinkT *sink,
                       CalogValueT *err) {
  IngressT in;
  in.dc = dc;
  in.sink = sink;
  in.err = err;
  in.st = CALOG_OK;
  if (count <= 0) return CALOG_OK;
  first = duk_normalize_index(ctx, first);
  duk_idx_t i = first, end = first + count;
  for (; i < end; i++) { /* scalars first, unprotected: nothing they do can throw */
    duk_int_t t = duk_get_type(ctx, i);
    if (t == DUK_TYPE_OBJECT || t == DUK_TYPE_LIGHTFUNC) break;
    if ((in.st = ingress(&in, ctx, i, 0)) != CALOG_OK) return in.st;
  }
  if (i == end) return CALOG_OK;
  /* the rest in one protected call (the safe call runs in this frame: the indices stay valid) */
  if (!duk_check_stack(ctx, 4)) return calogFail(err, CALOG_ERR_OOM, "JS value stack exhausted");
  in.first = i;
  in.end = end;
  uint64_t bareFloor = calog__dukBareEnter(dc); /* as in calog__dukRun: what is thrown in here is over when it is */
  if (duk_safe_call(ctx, ingressSafe, &in, 0, 1) != DUK_EXEC_SUCCESS) {
    /* an index getter threw, or Duktape ran out of memory (calog__dukScriptError consumes the thrown value); a host
     * exception (or a capability's denial) thrown through the getter keeps its marks */
    CalogRaiseT mark = calog__dukMarks(ctx);
    in.st = calog__dukScriptError(dc, ctx, err); /* with the value thrown (it was "[object Object]" alone) */
    calog__dukBareLeave(dc, bareFloor); /* after: the thrown value's toString may throw too (pass 42a) */
    if (mark.status) in.st = mark.status;
    calog__errorMark(err, mark);
  } else {
    calog__dukBareLeave(dc, bareFloor);
    duk_pop(ctx);
  }
  if (in.st != CALOG_OK && err->type == CALOG_NIL) calogFail(err, in.st, "%s", calogStatusMessage(in.st));
  return in.st;
}

int32_t calog__dukToValue(DukCtxT *dc, duk_context *ctx, duk_idx_t idx, CalogValueT *out, CalogValueT *err) {
  /* out and err may be the same value: build into a temporary, then publish one or the other */
  CalogValueT tmp, e = calogValueNil();
  CalogSinkT sink;
  calog__sinkValues(&sink, &tmp, 1);
  int32_t st = calog__dukRead(dc, ctx, idx, 1, &sink, &e);
  calog__sinkEnd(&sink, st == CALOG_OK, NULL);
  if (st == CALOG_OK) {
    calogValueFree(out);
    *out = tmp;
  } else {
    calogValueFree(err);
    *err = e;
  }
  return st;
}

/* ---- egress: CalogValueT -> JS ------------------------------------------------------------------- */
static duk_ret_t fnTrampoline(duk_context *ctx);

/* A byte string that already holds an encoded surrogate pair (CESU-8: invalid UTF-8) would read in JS as the
 * character the pair makes, and cross back as its 4-byte UTF-8: the bytes [ED A0 BD ED B8 80] came back as "😀"
 * (F0 9F 98 80), and a Lua table with both spellings as keys lost one. Such bytes enter JS as a Uint8Array, as a
 * symbol-prefixed string does, and come back exactly. */
static bool holdsPair(const char *s, int64_t n) { return n >= 6 && countPairs((const unsigned char *)s, (size_t)n) > 0; }

bool calog__dukPushName(duk_context *ctx, const char *name) {
  size_t n = strlen(name);
  if (symbolPrefix(name, (int64_t)n) || holdsPair(name, (int64_t)n)) return false;
  pushUtf8(ctx, name, n);
  return true;
}

static void pushBytes(duk_context *ctx, const char *s, int64_t n) {
  if (symbolPrefix(s, n) || holdsPair(s, n)) {
    void *p = duk_push_fixed_buffer(ctx, (duk_size_t)n);
    memcpy(p, s, (size_t)n);
  } else {
    pushUtf8(ctx, s, (size_t)n);
  }
}

/* Text for JS (messages): a symbol prefix byte becomes U+FFFD so the result is always a string. In one piece: the
 * rest pushed alone was itself a Symbol when its first byte was a prefix byte too, and concatenating it threw
 * "cannot string coerce Symbol" in place of the message (pass 65b). */
static void pushText(duk_context *ctx, const char *s, int64_t n) {
  if (symbolPrefix(s, n)) {
    char *t = duk_push_fixed_buffer(ctx, (duk_size_t)n + 2); /* U+FFFD (3 bytes) and the n - 1 after the prefix */
    memcpy(t, "\xEF\xBF\xBD", 3);
    memcpy(t + 3, s + 1, (size_t)(n - 1));
    pushUtf8(ctx, t, (size_t)n + 2);
    duk_remove(ctx, -2);
  } else {
    pushUtf8(ctx, s, (size_t)n);
  }
}

static void pushFn(DukCtxT *dc, duk_context *ctx, CalogFnT *fn) {
  if (fn->fn == calog__dukFnInvoke && fn->owner == dc->owner && atomic_load(&fn->alive)) {
    /* our own function coming home: the original JS function, not a wrapper */
    duk_push_heapptr(ctx, ((DukFnRefT *)fn->userData)->heapptr);
    return;
  }
  /* the wrapper and its holder first (anything here may throw, and nothing is owned yet) */
  duk_idx_t w = duk_push_c_function(ctx, fnTrampoline, DUK_VARARGS);
  duk_idx_t h = duk_push_bare_object(ctx);
  duk_push_pointer(ctx, NULL);
  duk_put_prop_literal(ctx, h, DUK_KEY_HOLD); /* the slot exists before it points anywhere */
  duk_push_heapptr(ctx, dc->holdFin);
  duk_set_finalizer(ctx, h);
  duk_dup(ctx, h);
  duk_put_prop_literal(ctx, w, DUK_KEY_HOLDER);
  DukHoldT *hold = malloc(sizeof *hold);
  if (hold == NULL) (void)duk_error(ctx, DUK_ERR_ERROR, "out of memory");
  /* the reference, listed at once: from here the holder's finalizer or, failing that, destroy releases it */
  calogFnRetain(fn);
  hold->fn = fn;
  hold->prev = NULL;
  hold->next = dc->holds;
  if (dc->holds) dc->holds->prev = hold;
  dc->holds = hold;
  duk_push_pointer(ctx, hold);
  duk_put_prop_literal(ctx, h, DUK_KEY_HOLD); /* overwrites the slot: allocates nothing */
  duk_pop(ctx); /* the holder: the wrapper alone keeps it */
}

static int32_t egressItem(DukCtxT *dc, duk_context *ctx, CalogSrcT *s, CalogItemT *it, int depth, CalogValueT *err);

/* A function item; an owned reference (a host function the wire source made) is held in a pending node while
 * pushFn may throw, and dropped once the wrapper holds its own. */
static int32_t pushFnItem(DukCtxT *dc, duk_context *ctx, CalogItemT *it, CalogValueT *err) {
  if (!it->owned) {
    pushFn(dc, ctx, it->as.fn);
    return CALOG_OK;
  }
  CalogValueT ref = calogValueFn(it->as.fn);
  it->owned = false;
  DukPendingT *p = calog__dukPendingPush(dc, &ref);
  if (p == NULL) return calogFail(err, CALOG_ERR_OOM, "out of memory");
  pushFn(dc, ctx, p->v.as.fn); /* may throw: the node is swept by the entry that catches */
  calog__dukPendingDrop(dc, p);
  return CALOG_OK;
}

/* A map key as a JS property name: strings as they are, int -> exact decimal, real -> JS ToString. */
static int32_t pushKey(DukCtxT *dc, duk_context *ctx, const CalogItemT *k, bool *skip, CalogValueT *err) {
  *skip = false;
  switch (k->type) {
  case CALOG_STRING:
    if (symbolPrefix(k->as.s.bytes, k->as.s.length)) {
      if (lenient(dc)) break;
      return calogFail(err, CALOG_ERR_TYPE, "a map key starting with byte 0x%02X cannot be a JS property name",
                       (unsigned char)k->as.s.bytes[0]);
    }
    /* a key holding an encoded surrogate pair is the name of the character it makes (see holdsPair): it would come
     * back as other bytes, and as the same key as that character's UTF-8. Lenient: that name (the last wins). */
    if (holdsPair(k->as.s.bytes, k->as.s.length) && !lenient(dc))
      return calogFail(err, CALOG_ERR_TYPE, "a map key holding an encoded surrogate pair (not UTF-8) cannot be a JS "
                                            "property name exactly: it would come back as the UTF-8 of its character");
    pushUtf8(ctx, k->as.s.bytes, (size_t)k->as.s.length);
    return CALOG_OK;
  case CALOG_INT: {
    char buf[24];
    int n = snprintf(buf, sizeof buf, "%" PRId64, k->as.i);
    duk_push_lstring(ctx, buf, (duk_size_t)n);
    return CALOG_OK;
  }
  case CALOG_REAL:
    duk_push_number(ctx, k->as.r);
    duk_to_string(ctx, -1);
    return CALOG_OK;
  case CALOG_BOOL:
    if (lenient(dc)) {
      duk_push_string(ctx, k->as.b ? "true" : "false");
      return CALOG_OK;
    }
    return calogFail(err, CALOG_ERR_TYPE, "a bool map key cannot be a JS property name");
  default:
    if (lenient(dc)) break;
    return calogFail(err, CALOG_ERR_TYPE, "a %s map key cannot be a JS property name", calogTypeName(k->type));
  }
  *skip = true;
  return CALOG_OK;
}

#define DEF_FLAGS (DUK_DEFPROP_HAVE_VALUE | DUK_DEFPROP_SET_WEC)

/* An array or object from an aggregate's item; its contents follow in s. Checks the room it needs itself: the
 * object, a key, and what a value takes (a function wrapper: 3). */
static int32_t egressAgg(DukCtxT *dc, duk_context *ctx, CalogSrcT *s, CalogItemT *it, int depth, CalogValueT *err) {
  if (depth >= CALOG_MAX_DEPTH)
    return calogFail(err, CALOG_ERR_DEPTH, "value nesting exceeds the depth cap (%d)", CALOG_MAX_DEPTH);
  int64_t na = it->as.agg.na, np = it->as.agg.np;
  if (na > (int64_t)UINT32_MAX - 1)
    return calogFail(err, CALOG_ERR_RANGE, "a list of %" PRId64 " items is longer than a JS array can be", na);
  if (!duk_check_stack(ctx, 5)) return calogFail(err, CALOG_ERR_OOM, "JS value stack exhausted");
  duk_idx_t top = duk_get_top(ctx);
  int32_t st;
  CalogItemT c, key;
  if (it->as.agg.kind == CALOG_AGG_LIST && np == 0) {
    duk_idx_t t = duk_push_array(ctx);
    for (int64_t i = 0; i < na; i++) {
      duk_push_uint(ctx, (duk_uint_t)i);
      if ((st = calog__srcNext(s, &c, err)) != CALOG_OK) goto fail;
      if ((st = egressItem(dc, ctx, s, &c, depth + 1, err)) != CALOG_OK) goto fail;
      duk_def_prop(ctx, t, DEF_FLAGS);
    }
    return CALOG_OK;
  }
  /* a map, or both parts: the array part under "1".."n" (Lua's indices, the TypeScript host's rule) */
  duk_idx_t t = duk_push_object(ctx);
  /* keys that become the same property name (1 and "1", 2 and 2.0, an array index and a "1" key) would
   * silently keep only the last: strict refuses, lenient keeps the last (documented) */
  bool mayCollide = na > 0;
  duk_size_t defined = 0;
  for (int64_t i = 0; i < na; i++) {
    char buf[24];
    int n = snprintf(buf, sizeof buf, "%" PRId64, i + 1);
    duk_push_lstring(ctx, buf, (duk_size_t)n);
    if ((st = calog__srcNext(s, &c, err)) != CALOG_OK) goto fail;
    if ((st = egressItem(dc, ctx, s, &c, depth + 1, err)) != CALOG_OK) goto fail;
    duk_def_prop(ctx, t, DEF_FLAGS);
    defined++;
  }
  for (int64_t i = 0; i < np; i++) {
    bool skip;
    if ((st = calog__srcNext(s, &key, err)) != CALOG_OK) goto fail;
    if (key.type != CALOG_STRING) mayCollide = true;
    if ((st = pushKey(dc, ctx, &key, &skip, err)) != CALOG_OK) {
      calog__srcDrop(s, &key);
      goto fail;
    }
    if ((st = calog__srcNext(s, &c, err)) != CALOG_OK) goto fail;
    if (skip) {
      calog__srcDrop(s, &key);
      calog__srcDrop(s, &c);
      continue;
    }
    if ((st = egressItem(dc, ctx, s, &c, depth + 1, err)) != CALOG_OK) goto fail;
    duk_def_prop(ctx, t, DEF_FLAGS); /* own data property: no setter runs, "__proto__" is just a key */
    defined++;
  }
  if (mayCollide && !lenient(dc)) {
    duk_size_t count = 0;
    duk_enum(ctx, t, DUK_ENUM_OWN_PROPERTIES_ONLY);
    while (duk_next(ctx, -1, 0)) {
      count++;
      duk_pop(ctx);
    }
    duk_pop(ctx);
    if (count != defined) {
      st = calogFail(err, CALOG_ERR_TYPE,
                     "two keys of a map become the same JS property name (such as 1 and \"1\"): one would be lost");
      goto fail;
    }
  }
  return CALOG_OK;
fail:
  duk_set_top(ctx, top);
  return st;
}

/* Pushes the value whose item was just read from s (the caller made room for 3 slots). */
static int32_t egressItem(DukCtxT *dc, duk_context *ctx, CalogSrcT *s, CalogItemT *it, int depth, CalogValueT *err) {
  switch (it->type) {
  case CALOG_NIL: duk_push_undefined(ctx); return CALOG_OK;
  case CALOG_BOOL: duk_push_boolean(ctx, it->as.b); return CALOG_OK;
  case CALOG_INT:
    if ((it->as.i > TWO53_I || it->as.i < -TWO53_I) && !lenient(dc))
      return calogFail(err, CALOG_ERR_RANGE, "integer %" PRId64 " is beyond +-2^53: no JS number holds it exactly", it->as.i);
    duk_push_number(ctx, (double)it->as.i); /* lenient: the nearest double */
    return CALOG_OK;
  case CALOG_REAL: duk_push_number(ctx, it->as.r); return CALOG_OK;
  case CALOG_STRING: pushBytes(ctx, it->as.s.bytes, it->as.s.length); return CALOG_OK;
  case CALOG_FN: return pushFnItem(dc, ctx, it, err);
  case CALOG_AGGREGATE: return egressAgg(dc, ctx, s, it, depth, err);
  }
  return calogFail(err, CALOG_ERR_TYPE, "unknown value type");
}

int32_t calog__dukPushFrom(DukCtxT *dc, duk_context *ctx, CalogSrcT *s, CalogValueT *err) {
  CalogItemT it;
  int32_t st = calog__srcNext(s, &it, err);
  return st == CALOG_OK ? egressItem(dc, ctx, s, &it, 0, err) : st;
}

int32_t calog__dukPush(DukCtxT *dc, duk_context *ctx, const CalogValueT *v, CalogValueT *err) {
  if (!duk_check_stack(ctx, 3)) return calogFail(err, CALOG_ERR_OOM, "JS value stack exhausted");
  CalogSrcT s;
  calog__srcValues(&s, v, 1);
  return calog__dukPushFrom(dc, ctx, &s, err);
}

/* ---- calling out of JS: natives and foreign function values ---------------------------------------- */
/* Throws a JS Error whose .message is the string at the stack top (byte for byte), carrying mark; with
 * partial, the string is just below the top and the value on top becomes the error's .partial (an I/O
 * error's data: a receive that timed out or met the end); with raw, a buffer above them holds the text's exact bytes
 * (DUK_KEY_RAISE_BYTES). The error remembers its text (DUK_KEY_RAISE_TEXT): unchanged, it leaves JS as that text. */
/* Sets an error's marks (read back by marksSafe) on the object on top of the stack. */
static void putMarks(duk_context *ctx, CalogRaiseT mark) {
  if (mark.status) {
    duk_push_int(ctx, mark.status);
    duk_put_prop_literal(ctx, -2, DUK_KEY_RAISE_STATUS);
  }
  if (mark.host) {
    duk_push_number(ctx, (duk_double_t)mark.host);
    duk_put_prop_literal(ctx, -2, DUK_KEY_RAISE_HOST);
  }
}

static duk_ret_t throwText(duk_context *ctx, CalogRaiseT mark, bool partial, bool raw) {
  duk_idx_t m = duk_get_top_index(ctx) - (partial ? 1 : 0) - (raw ? 1 : 0);
  duk_size_t len = 0;
  const char *s = duk_get_lstring(ctx, m, &len);
  duk_push_error_object(ctx, DUK_ERR_ERROR, "%s", s);
  if (strlen(s) != len) { /* an embedded NUL: the formatted message stopped there */
    duk_push_literal(ctx, "message");
    duk_dup(ctx, m);
    duk_def_prop(ctx, -3, DUK_DEFPROP_HAVE_VALUE | DUK_DEFPROP_SET_WRITABLE | DUK_DEFPROP_CLEAR_ENUMERABLE |
                              DUK_DEFPROP_SET_CONFIGURABLE);
  }
  duk_dup(ctx, m);
  duk_put_prop_literal(ctx, -2, DUK_KEY_RAISE_TEXT);
  if (raw) {
    duk_dup(ctx, m + 1 + (partial ? 1 : 0));
    duk_put_prop_literal(ctx, -2, DUK_KEY_RAISE_BYTES);
  }
  putMarks(ctx, mark);
  if (partial) { /* defined: an assignment ran a script's "partial" setter on Error.prototype (pass 61b) */
    duk_push_literal(ctx, "partial");
    duk_dup(ctx, m + 1);
    duk_def_prop(ctx, -3, DUK_DEFPROP_HAVE_VALUE | DUK_DEFPROP_SET_WRITABLE | DUK_DEFPROP_SET_ENUMERABLE | DUK_DEFPROP_SET_CONFIGURABLE);
  }
  return duk_throw(ctx);
}

duk_ret_t calog__dukThrowMarked(duk_context *ctx, CalogRaiseT mark) { return throwText(ctx, mark, false, false); }

/* Throws the error in *result (taken): the value the failing script threw when it has one that is not the error's
 * own text (calog__errorRaiseValue: an object thrown in another engine arrives as an object), else a JS Error whose
 * .message is the error's message, byte for byte, carrying the error's marks (and, from an I/O native, its partial
 * data). */
static duk_ret_t throwResultIo(DukCtxT *dc, duk_context *ctx, CalogValueT *result, bool io) {
  DukPendingT *p = calog__dukPendingPush(dc, result);
  if (p == NULL) return duk_error(ctx, DUK_ERR_ERROR, "out of memory");
  CalogRaiseT mark = calog__errorRaiseOf(&p->v);
  const CalogValueT *thrown = calog__errorRaiseValue(&p->v);
  if (thrown != NULL) {
    CalogValueT err = calogValueNil();
    /* a nil thrown elsewhere (Lua's error(nil), Squirrel's throw null) is thrown as null: as undefined it read "js threw
     * undefined" beside the value null */
    int32_t st = thrown->type == CALOG_NIL ? (duk_push_null(ctx), CALOG_OK)
                                           : calog__dukPush(dc, ctx, thrown, &err); /* may throw: swept by the entry that catches */
    if (st == CALOG_OK) {
      calogValueFree(&err);
      int64_t n;
      const char *msg = calog__errorCarriedMessage(&p->v, &n);
      /* bytes arrive as a plain buffer, which holds no property: as the Uint8Array it stands for, it carries the
       * message it had (a Lua error("\xff\xfe") passed on by a host function read "js threw [2 bytes]": pass 40b) */
      if (duk_is_buffer(ctx, -1)) duk_to_object(ctx, -1);
      if (duk_is_object(ctx, -1) && !duk_is_function(ctx, -1)) { /* fresh (a function may be shared) */
        if (msg != NULL) {
          pushText(ctx, msg, n); /* may throw: as above */
          duk_put_prop_literal(ctx, -2, DUK_KEY_RAISE_CARRIED);
          /* and its exact bytes where JS cannot hold them: a __tostring's encoded surrogate pair left JS as the
           * character (4-byte UTF-8) it stands for (pass 66b) */
          if (symbolPrefix(msg, n) || holdsPair(msg, n)) {
            void *b = duk_push_fixed_buffer(ctx, (duk_size_t)n); /* may throw: as above */
            memcpy(b, msg, (size_t)n);
            duk_put_prop_literal(ctx, -2, DUK_KEY_RAISE_CARRIED_BYTES);
          }
        }
        /* its marks, as an Error calog throws carries them: a value a host function passed on keeps the host's
         * exception as its cause when it leaves uncaught (pass 34b) */
        putMarks(ctx, mark);
      } else if (duk_is_null(ctx, -1) || duk_is_function(ctx, -1) || duk_is_string(ctx, -1)) {
        /* no place for them: kept aside for this very throw (calog__dukMarks), so a null or a function a host
         * function passed on keeps the host's exception as its cause too (pass 37b), and so does a string carried
         * as itself (a thrown "", bytes that are not UTF-8: pass 57b) */
        dc->bareArmed = true; /* in flight from the duk_throw below */
        dc->bareNext = duk_get_heapptr(ctx, -1);
        dc->bareNextMark = mark;
        /* and the message it carries (a null the lenient policy made of a Squirrel instance whose _tostring spoke
         * read "js threw null": pass 50b); on OOM it goes without. A string is its own text. */
        free(dc->bareNextMsg);
        dc->bareNextMsg = NULL;
        if (msg != NULL && !duk_is_string(ctx, -1) && (dc->bareNextMsg = malloc((size_t)n + 1)) != NULL) {
          memcpy(dc->bareNextMsg, msg, (size_t)n);
          dc->bareNextMsg[n] = '\0';
          dc->bareNextMsgLen = n;
        }
      }
      calog__dukPendingDrop(dc, p);
      return duk_throw(ctx);
    }
    calog__errorValueRefused(&p->v, "js", &err); /* raised as text instead: say what was lost, and why */
    calogValueFree(&err);
  }
  int64_t n;
  const char *msg = calogErrorMessage(&p->v, &n);
  pushText(ctx, msg, n); /* may throw: the node is swept by the entry that catches */
  const CalogValueT *partial = io ? calog__ioPartial(&p->v) : NULL;
  if (partial != NULL) {
    CalogValueT perr = calogValueNil();
    if (calog__dukPush(dc, ctx, partial, &perr) != CALOG_OK) duk_push_undefined(ctx);
    calogValueFree(&perr);
  }
  /* text JS cannot hold as it is (see pushText, holdsPair): its exact bytes go with the error, for when it leaves */
  bool raw = symbolPrefix(msg, n) || holdsPair(msg, n);
  if (raw) {
    void *b = duk_push_fixed_buffer(ctx, (duk_size_t)n);
    memcpy(b, msg, (size_t)n);
  }
  calog__dukPendingDrop(dc, p);
  return throwText(ctx, mark, partial != NULL, raw);
}

static duk_ret_t throwResult(DukCtxT *dc, duk_context *ctx, CalogValueT *result) {
  return throwResultIo(dc, ctx, result, false);
}

typedef int32_t (*CallOutFnT)(void *target, CalogValueT *args, int32_t argc, CalogValueT *result);

/* hold (may be NULL): a pending node holding a reference on target for the duration of the call; dropped as
 * soon as the call is over (or, if something throws first, by the sweep of the entry that catches). */
static int32_t callFnIo(void *target, CalogValueT *args, int32_t argc, CalogValueT *result);

/* Throws the error of a failed call (*result, taken); io: an I/O native's (its marks and partial data). */
static duk_ret_t callFailed(DukCtxT *dc, duk_context *ctx, int32_t st, CalogValueT *result, bool io) {
  /* a failure without a message (a bare status) says its status. An error record whose message is empty keeps it, and
   * keeps everything else it carries: replacing it dropped the host exception's id (a host function that threw "" or
   * new TypeError() lost its `cause`) and the value another engine threw (a table whose __tostring says ""), which
   * then arrived as an Error "script error" */
  CalogValueT messageKey = {.type = CALOG_STRING, .as.s = {.bytes = (char *)"message", .length = 7}};
  if (calogErrorMessage(result, NULL)[0] == '\0' &&
      (result->type == CALOG_NIL || (result->type == CALOG_AGGREGATE && calogAggGet(result->as.agg, &messageKey) == NULL)))
    calogFail(result, st, "%s", calogStatusMessage(st));
  if (io && (st == CALOG_ERR_PERMISSION || st == CALOG_ERR_UNSUPPORTED))
    calog__errorMark(result, (CalogRaiseT){.status = st}); /* kept when uncaught */
  return throwResultIo(dc, ctx, result, io);
}

/* Pushes a call's result (*result, taken) as the trampoline's return value. */
static duk_ret_t returnValue(DukCtxT *dc, duk_context *ctx, CalogValueT *result) {
  CalogValueT err = calogValueNil();
  if (result->type <= CALOG_REAL) { /* scalars own no memory */
    if (calog__dukPush(dc, ctx, result, &err) != CALOG_OK) return throwResult(dc, ctx, &err);
    return 1;
  }
  DukPendingT *p = calog__dukPendingPush(dc, result);
  if (p == NULL) return duk_error(ctx, DUK_ERR_ERROR, "out of memory");
  int32_t st = calog__dukPush(dc, ctx, &p->v, &err); /* may throw: the node is swept by the entry that catches */
  calog__dukPendingDrop(dc, p);
  if (st != CALOG_OK) return throwResult(dc, ctx, &err);
  return 1;
}

static duk_ret_t callOut(duk_context *ctx, CallOutFnT call, void *target, DukPendingT *hold) {
  DukCtxT *dc = calog__dukCtx(ctx);
  duk_idx_t argc = duk_get_top(ctx);
  CalogValueT stackArgs[8];
  CalogValueT *args = stackArgs;
  CalogValueT result = calogValueNil();
  if (argc > 8 && (args = malloc((size_t)argc * sizeof *args)) == NULL) {
    if (hold) calog__dukPendingDrop(dc, hold);
    calogFail(&result, CALOG_ERR_OOM, "out of memory");
    return throwResult(dc, ctx, &result);
  }
  CalogSinkT sink; /* ingress never throws: args stay ours */
  calog__sinkValues(&sink, args, (int64_t)argc);
  int32_t st = calog__dukRead(dc, ctx, 0, argc, &sink, &result);
  calog__sinkEnd(&sink, st == CALOG_OK, NULL);
  if (st == CALOG_OK) {
    /* Entries the native makes into this heap must run on the thread that called it (a Duktape.Thread
     * coroutine's, maybe: the main thread is then not runnable). Nothing longjmps across a native call,
     * so save/restore is exact. */
    duk_context *saved = dc->cur;
    dc->cur = ctx;
    st = call(target, args, (int32_t)argc, &result);
    dc->cur = saved;
  }
  if (hold) calog__dukPendingDrop(dc, hold); /* may release target: it is not used from here on */
  for (duk_idx_t i = 0; i < argc; i++) calogValueFree(&args[i]);
  if (args != stackArgs) free(args);
  if (st != CALOG_OK) return callFailed(dc, ctx, st, &result, call == callFnIo);
  return returnValue(dc, ctx, &result);
}

static int32_t callNative(void *target, CalogValueT *args, int32_t argc, CalogValueT *result) {
  return calog__nativeInvoke(target, args, argc, result);
}
static int32_t callFn(void *target, CalogValueT *args, int32_t argc, CalogValueT *result) {
  return calogFnInvoke(target, args, argc, result);
}
static int32_t callFnIo(void *target, CalogValueT *args, int32_t argc, CalogValueT *result) {
  return calogFnInvoke(target, args, argc, result);
}

/* A host (TypeScript) function called from the host thread: the arguments are written from the JS stack
 * straight into OUT and the result pushed straight from IN (no CalogValueT; the same codec). */
static duk_ret_t hostOut(duk_context *ctx, DukCtxT *dc, CalogNativeEntryT *e, CalogBindingT *b, CalogHostFnT *h) {
  duk_idx_t argc = duk_get_top(ctx);
  CalogValueT result = calogValueNil();
  CalogHostCallT c;
  int32_t st = calog__hostCallBegin(&c, h, (int32_t)argc, &result);
  if (st == CALOG_OK) st = calog__dukRead(dc, ctx, 0, argc, &c.args, &result); /* never throws */
  if (st != CALOG_OK) {
    calog__hostCallAbort(&c);
    calog__nativeHostDone(e, b);
    return callFailed(dc, ctx, st, &result, false);
  }
  /* the result is copied out of IN first: pushing it may run finalizers, whose host calls rewrite IN */
  uint8_t copy[256];
  CalogSrcT src;
  bool viaValue;
  duk_context *saved = dc->cur; /* as callOut: entries the host makes into this heap run on this thread */
  dc->cur = ctx;
  st = calog__hostCallRun(&c, &src, copy, sizeof copy, &viaValue, &result);
  dc->cur = saved;
  calog__nativeHostDone(e, b);
  if (st != CALOG_OK) return callFailed(dc, ctx, st, &result, false);
  if (viaValue) return returnValue(dc, ctx, &result); /* host functions in it: kept in a pending node */
  CalogValueT err = calogValueNil();
  st = calog__dukPushFrom(dc, ctx, &src, &err); /* a C function has room for 3 slots */
  calog__srcEnd(&src);
  if (st != CALOG_OK) return throwResult(dc, ctx, &err);
  return 1;
}

/* A limit tripped in the running entry (interrupt(), a deadline passed inside the call...): thrown now, as the
 * executor's timeout check throws it, so no call out starts and none returns into the script (r: what the
 * native would return; its value on the stack is dropped by the throw). */
static duk_ret_t stopIfTripped(duk_context *ctx, duk_ret_t r) {
  DukCtxT *dc = calog__dukCtx(ctx);
  if (dc == NULL || calog__limitStopped(dc->owner) == CALOG_LIMIT_NONE) return r;
  return duk_error(ctx, DUK_ERR_RANGE_ERROR, "execution timeout");
}

/* The one native trampoline: the binding is a hidden property of the function being called. */
static duk_ret_t nativeTrampoline(duk_context *ctx) {
  (void)stopIfTripped(ctx, 0);
  duk_push_current_function(ctx);
  duk_get_prop_literal(ctx, -1, DUK_KEY_ENTRY);
  CalogNativeEntryT *entry = duk_get_pointer(ctx, -1);
  duk_pop_2(ctx);
  if (entry == NULL) return duk_error(ctx, DUK_ERR_TYPE_ERROR, "calog native binding is missing");
  CalogHostFnT *h;
  CalogBindingT *b = calog__nativeHostBinding(entry, &h);
  if (b != NULL) return stopIfTripped(ctx, hostOut(ctx, calog__dukCtx(ctx), entry, b, h));
  return stopIfTripped(ctx, callOut(ctx, callNative, entry, NULL));
}

/* The function value behind the wrapper at idx, or NULL (not a wrapper, or its reference is gone). Only a
 * wrapper (our Duktape/C function) answers: nothing is read through a prototype chain a script may have set. */
static CalogFnT *wrapperFn(duk_context *ctx, duk_idx_t idx) {
  if (duk_get_c_function(ctx, idx) != fnTrampoline) return NULL;
  idx = duk_normalize_index(ctx, idx);
  CalogFnT *fn = NULL;
  duk_get_prop_literal(ctx, idx, DUK_KEY_HOLDER);
  if (duk_is_object(ctx, -1)) {
    duk_get_prop_literal(ctx, -1, DUK_KEY_HOLD);
    DukHoldT *hold = duk_get_pointer(ctx, -1);
    if (hold != NULL) fn = hold->fn;
    duk_pop(ctx);
  }
  duk_pop(ctx);
  return fn;
}

static duk_ret_t fnTrampoline(duk_context *ctx) {
  DukCtxT *dc = calog__dukCtx(ctx);
  (void)stopIfTripped(ctx, 0);
  duk_push_current_function(ctx);
  CalogFnT *fn = wrapperFn(ctx, -1);
  duk_pop(ctx);
  if (fn == NULL) return duk_error(ctx, DUK_ERR_TYPE_ERROR, "function value was released");
  /* the call holds its own reference (ingress of the arguments may run script code), in a pending node so that
   * a throw cannot leak it */
  calogFnRetain(fn);
  CalogValueT ref = calogValueFn(fn);
  DukPendingT *hold = calog__dukPendingPush(dc, &ref);
  if (hold == NULL) return duk_error(ctx, DUK_ERR_ERROR, "out of memory");
  if (!calog__ioIsNative(fn)) return stopIfTripped(ctx, callOut(ctx, callFn, fn, hold));
  if (calog__ioIsMethod(fn)) { /* conn.send(...): the receiver's id goes first */
    /* read raw, as Lua and Squirrel read it: a Proxy's trap or an inherited getter ran here, and an object inheriting
     * from a handle passed for it (pass 62b) */
    duk_push_this(ctx);
    if (duk_safe_call(ctx, getOwnDataSafe, (void *)"id", 1, 1) != DUK_EXEC_SUCCESS) {
      duk_pop(ctx);
      duk_push_undefined(ctx);
    }
    duk_insert(ctx, 0);
  }
  return stopIfTripped(ctx, callOut(ctx, callFnIo, fn, hold));
}

static void holdRelease(DukCtxT *dc, DukHoldT *hold) {
  if (hold->prev) hold->prev->next = hold->next;
  else dc->holds = hold->next;
  if (hold->next) hold->next->prev = hold->prev;
  CalogFnT *fn = hold->fn;
  free(hold);
  calogFnRelease(fn);
}

/* The holders' finalizer (never reachable from scripts: neither the holders nor this function are). Clears the
 * holder's pointer, then releases. */
static duk_ret_t holdFinalizer(duk_context *ctx) {
  duk_get_prop_literal(ctx, 0, DUK_KEY_HOLD);
  DukHoldT *hold = duk_get_pointer(ctx, -1);
  duk_pop(ctx);
  if (hold == NULL) return 0;
  duk_push_pointer(ctx, NULL);
  duk_put_prop_literal(ctx, 0, DUK_KEY_HOLD);
  holdRelease(calog__dukCtx(ctx), hold);
  return 0;
}

void calog__dukOpenHolders(DukCtxT *dc, duk_context *ctx) {
  duk_push_global_stash(ctx);
  duk_push_c_function(ctx, holdFinalizer, 1);
  dc->holdFin = duk_get_heapptr(ctx, -1);
  duk_put_prop_literal(ctx, -2, DUK_KEY_HOLDFIN);
  duk_pop(ctx);
}

void calog__dukReleaseHolds(DukCtxT *dc) {
  while (dc->holds) holdRelease(dc, dc->holds);
}

void calog__dukOpenIo(DukCtxT *dc, duk_context *ctx) {
  CalogValueT g = calogValueNil();
  if (calog__ioGlobals(dc->owner, &g) != CALOG_OK) {
    calogValueFree(&g);
    (void)duk_error(ctx, DUK_ERR_ERROR, "out of memory (net and timer)");
    return;
  }
  DukPendingT *p = calog__dukPendingPush(dc, &g);
  if (p == NULL) {
    (void)duk_error(ctx, DUK_ERR_ERROR, "out of memory");
    return;
  }
  CalogAggT *agg = p->v.as.agg;
  for (int64_t k = 0; k < calogAggPairCount(agg); k++) {
    CalogValueT err = calogValueNil();
    if (calog__dukPush(dc, ctx, calogAggPairValue(agg, k), &err) != CALOG_OK) {
      calogValueFree(&err);
      (void)duk_error(ctx, DUK_ERR_ERROR, "out of memory (net and timer)");
      return;
    }
    duk_put_global_string(ctx, calogAggPairKey(agg, k)->as.s.bytes);
  }
  calog__dukPendingDrop(dc, p);
}

void calog__dukPushNative(duk_context *ctx, CalogNativeEntryT *entry) {
  duk_push_c_function(ctx, nativeTrampoline, DUK_VARARGS);
  duk_push_pointer(ctx, entry);
  duk_put_prop_literal(ctx, -2, DUK_KEY_ENTRY);
  duk_push_literal(ctx, "name");
  duk_push_string(ctx, entry->name);
  duk_def_prop(ctx, -3, DUK_DEFPROP_HAVE_VALUE | DUK_DEFPROP_FORCE);
}

/* ---- JS functions as function values --------------------------------------------------------------- */
int32_t calog__dukFnInvoke(CalogValueT *args, int32_t argc, CalogValueT *result, void *userData) {
  DukFnRefT *ref = userData;
  return calog__dukRunValues(ref->dc, DUK_RUN_REF, NULL, NULL, 0, ref->heapptr, args, argc, result);
}

/* May run anywhere (any holder drops the last reference): it only queues the registry slot, which the next
 * entry deletes. While the heap is closing the slot dies with it. */
void calog__dukFnRelease(void *userData) {
  DukFnRefT *ref = userData;
  DukCtxT *dc = ref->dc;
  if (!dc->closing) {
    if (dc->deadCount == dc->deadCap) {
      size_t cap = dc->deadCap ? dc->deadCap * 2 : 16;
      double *p = realloc(dc->deadIds, cap * sizeof *p);
      if (p != NULL) {
        dc->deadIds = p;
        dc->deadCap = cap;
      }
    }
    if (dc->deadCount < dc->deadCap) dc->deadIds[dc->deadCount++] = ref->id;
    /* else out of memory: the slot stays until the heap is destroyed */
  }
  free(ref);
}

/* The delete frees a JS function, so finalizers may run inside it: they may queue new ids (appended, the array
 * maybe moved) or even flush the queue themselves (a nested entry). So each id is removed by value after its
 * delete (a throw leaves it queued), and one flush deletes at most as many slots as were queued when it began:
 * the rest wait for the next entry (a finalizer that keeps queueing cannot hold the entry here forever). */
void calog__dukFlushDead(DukCtxT *dc, duk_context *ctx) {
  if (dc->deadCount == 0) return;
  duk_push_heapptr(ctx, dc->registry);
  for (size_t n = dc->deadCount; n > 0 && dc->deadCount > 0; n--) {
    double id = dc->deadIds[dc->deadCount - 1];
    duk_push_number(ctx, id);
    duk_del_prop(ctx, -2);
    for (size_t i = dc->deadCount; i-- > 0;) { /* ids are unique; it is usually at or near the end */
      if (dc->deadIds[i] == id) {
        dc->deadIds[i] = dc->deadIds[--dc->deadCount];
        break;
      }
    }
  }
  duk_pop(ctx);
}
