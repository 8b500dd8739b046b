/* duk_caps.c -- what a JavaScript script may reach, and its output. Duktape has no file, process or
 * environment access of its own, so the profiles differ only in introspection: "sandbox" (and grants
 * without debug) remove Duktape.act (the call stack's functions and frames) and Duktape.info (internal heap
 * layout); "trusted" and `debug: true` keep them. Every profile gets print() and a minimal console
 * (log/info/debug to stdout, warn/error to stderr) writing to the context's output sink. */
#include "duk_adapter.h"

#include <stdio.h>

/* magic 0: stdout, 1: stderr. Arguments are converted with ToString and joined by spaces. */
static duk_ret_t dukPrint(duk_context *ctx) {
  duk_idx_t n = duk_get_top(ctx);
  for (duk_idx_t i = 0; i < n; i++) duk_to_string(ctx, i);
  duk_push_literal(ctx, " ");
  duk_insert(ctx, 0);
  duk_join(ctx, n);
  duk_push_literal(ctx, "\n");
  duk_concat(ctx, 2);
  duk_size_t len;
  const char *s = duk_get_lstring(ctx, -1, &len);
  DukCtxT *dc = calog__dukCtx(ctx);
  size_t tlen;
  char *text = calog__dukUtf8Dup(s, len, &tlen); /* Duktape keeps non-BMP characters as surrogate pairs */
  if (text == NULL) return duk_generic_error(ctx, "out of memory");
  CalogValueT err = calogValueNil();
  int32_t st = calog__output(dc->owner, duk_get_current_magic(ctx) ? CALOG_STDERR : CALOG_STDOUT, text, tlen, &err);
  free(text);
  if (st == CALOG_OK) return 0;
  snprintf(dc->raisedMsg, sizeof dc->raisedMsg, "%s", calogErrorMessage(&err, NULL));
  calogValueFree(&err);
  duk_push_string(ctx, dc->raisedMsg);
  return calog__dukThrowMarked(ctx, (CalogRaiseT){.status = st});
}

static void putFn(duk_context *ctx, duk_idx_t obj, const char *name, int magic) {
  duk_push_c_function(ctx, dukPrint, DUK_VARARGS);
  duk_set_magic(ctx, -1, magic);
  duk_put_prop_string(ctx, obj < 0 ? obj - 1 : obj, name);
}

/* Duktape.errCreate and Duktape.errThrow (magic 0, 1): Duktape's hooks for every error made or thrown are compiled out
 * (duk_calog_config.h), since they ran a script's code in the middle of calog raising an error and could replace it
 * (a false cause, one host exception's message with another's cause, a frozen error losing its class: pass 39b). A
 * script that sets one is told so, as Squirrel's seterrorhandler() is; reading one gives undefined. */
static duk_ret_t reservedHookGet(duk_context *ctx) {
  (void)ctx;
  return 0;
}

static duk_ret_t reservedHookSet(duk_context *ctx) {
  return duk_type_error(ctx, "Duktape.%s is reserved by calog (errors come back to the caller with their value and cause)",
                        duk_get_current_magic(ctx) ? "errThrow" : "errCreate");
}

static void reserveHook(duk_context *ctx, const char *name, int magic) {
  duk_push_string(ctx, name);
  duk_push_c_function(ctx, reservedHookGet, 0);
  duk_push_c_function(ctx, reservedHookSet, 1);
  duk_set_magic(ctx, -1, magic);
  duk_def_prop(ctx, -4, DUK_DEFPROP_HAVE_GETTER | DUK_DEFPROP_HAVE_SETTER | DUK_DEFPROP_CLEAR_CONFIGURABLE |
                            DUK_DEFPROP_CLEAR_ENUMERABLE | DUK_DEFPROP_FORCE);
}

void calog__dukOpenLibs(DukCtxT *dc, duk_context *ctx) {
  duk_push_global_object(ctx);
  duk_idx_t g = duk_get_top_index(ctx);
  putFn(ctx, g, "print", 0);
  duk_push_object(ctx);
  putFn(ctx, -1, "log", 0);
  putFn(ctx, -1, "info", 0);
  putFn(ctx, -1, "debug", 0);
  putFn(ctx, -1, "warn", 1);
  putFn(ctx, -1, "error", 1);
  duk_put_prop_string(ctx, g, "console");
  duk_get_prop_string(ctx, g, "Duktape");
  reserveHook(ctx, "errCreate", 0);
  reserveHook(ctx, "errThrow", 1);
  if (dc->caps.profile != CALOG_PROFILE_TRUSTED && !dc->caps.debug) {
    duk_del_prop_string(ctx, -1, "act");
    duk_del_prop_string(ctx, -1, "info");
  }
  duk_pop(ctx);
  duk_pop(ctx);
}
