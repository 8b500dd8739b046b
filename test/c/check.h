/* check.h -- always-on assertions for the C tests (file:line on failure) and a closing summary line. */
#ifndef CALOG_CHECK_H
#define CALOG_CHECK_H

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* Atomic: tests CHECK from helper threads too (a plain counter is a data race under TSan). */
static _Atomic int checkPassed, checkFailed;

#define CHECK(cond)                                                                         \
  do {                                                                                      \
    if (cond) checkPassed++;                                                                \
    else {                                                                                  \
      checkFailed++;                                                                        \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);             \
    }                                                                                       \
  } while (0)

#define CHECK_EQ(a, b)                                                                      \
  do {                                                                                      \
    int64_t a_ = (int64_t)(a), b_ = (int64_t)(b);                                           \
    if (a_ == b_) checkPassed++;                                                            \
    else {                                                                                  \
      checkFailed++;                                                                        \
      fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s (%" PRId64 " vs %" PRId64 ")\n", __FILE__, __LINE__, #a, \
              #b, a_, b_);                                                                  \
    }                                                                                       \
  } while (0)

#define CHECK_STR(v, lit)                                                                   \
  do {                                                                                      \
    const CalogValueT *v_ = (v);                                                            \
    if (v_->type == CALOG_STRING && v_->as.s.length == (int64_t)strlen(lit) &&              \
        memcmp(v_->as.s.bytes, lit, strlen(lit)) == 0)                                      \
      checkPassed++;                                                                        \
    else {                                                                                  \
      checkFailed++;                                                                        \
      fprintf(stderr, "%s:%d: CHECK_STR failed: %s is not \"%s\"\n", __FILE__, __LINE__, #v, lit); \
    }                                                                                       \
  } while (0)

#define CHECK_CONTAINS(haystack, needle) CHECK(strstr((haystack), (needle)) != NULL)

static inline int checkSummary(const char *suite) {
  int passed = atomic_load(&checkPassed), failed = atomic_load(&checkFailed);
  printf("%s: %d passed, %d failed\n", suite, passed, failed);
  return failed ? 1 : 0;
}

#endif
