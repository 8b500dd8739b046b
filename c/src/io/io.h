/* io.h -- the epoll I/O layer (design sec 7): sockets and timers for every engine.
 *
 * One I/O thread per runtime, started on first use, runs epoll (an eventfd wakes it, a timer heap gives its
 * timeout) and owns no interpreter. Everything a script sees is a value: `net` and `timer` are maps of
 * context-free C natives (they run inline on the calling script's thread), and a connection, server or timer
 * is a plain map { id = <generationed handle>, <method> = <native>, ... }, so it keeps working in any context
 * of the runtime it is copied to. Methods take the receiver as their first argument (Lua passes it with `:`;
 * the JavaScript and Squirrel adapters pass `this` to natives for which calog__ioIsMethod holds).
 *
 * Blocking forms (timer.sleep, connect, accept, send, receive) park the calling context's thread with
 * calog__actorAwait: it keeps serving its queue (sec 6.1) and the running entry's timeoutMs and interrupts
 * apply. On a host-thread context they fail at once (CALOG_ERR_UNSUPPORTED, "...use a threaded context or
 * the callback form"). Callback forms (timer.after, timer.every, net.listen(host, port, fn), and every blocking
 * call given a function as its last argument: see ops.c) run their function on the owning context's thread
 * when it is back at its top level (idle; never nested inside a parked call, see calog__ctxPost), the blocking
 * calls' forms as fn(err, result) (err nil, or {message, partial}); an error it throws goes to that context's
 * stderr sink (the "output" option), prefixed with what failed; it never stops the context.
 *
 * Failures: an I/O failure (timeout, closed, connection refused, address in use...) is a "soft" error:
 * CALOG_ERR_SCRIPT with an error record {message, partial?} (partial: the bytes a receive got before a
 * timeout or the peer closed). Lua returns it as `nil, message, partial`; JavaScript and Squirrel throw it.
 * A denied connect/listen is CALOG_ERR_PERMISSION with calog__capsDenied's text; bad arguments CALOG_ERR_ARG.
 *
 * Ownership: a handle belongs to the context that created it (accept: the accepting context; the callback
 * form of listen: the listener's). Destroying that context closes its sockets and cancels its timers;
 * calogDestroy stops the I/O thread and closes whatever is left. */
#ifndef CALOG_IO_H
#define CALOG_IO_H

#include "../internal.h"

/* The globals every context gets: a map { net = {...}, timer = {...} } (out). Creates the runtime's I/O
 * state on first use (the thread starts later, on the first socket or timer). Context thread. */
CALOG_HIDDEN int32_t calog__ioGlobals(CalogCtxT *ctx, CalogValueT *out);
/* True for the I/O layer's natives (engines give them their soft-error convention). Any thread. */
CALOG_HIDDEN bool calog__ioIsNative(const CalogFnT *fn);
/* True for natives that are methods (conn.send, server.accept, handle.cancel...): an engine that calls
 * them with a receiver (`this`) passes it as the first argument. */
CALOG_HIDDEN bool calog__ioIsMethod(const CalogFnT *fn);
/* The "partial" field of a soft error (lent), or NULL. */
CALOG_HIDDEN const CalogValueT *calog__ioPartial(const CalogValueT *err);

#endif
