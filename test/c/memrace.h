/* memrace.h -- one test shared by the engine suites: calogContextMemory (host thread) reads the counter of a
 * threaded context while that context's thread allocates, so the counter must be published atomically
 * (ThreadSanitizer reported a data race before). The script allocates (garbage, bounded) until the host has
 * seen the counter move 1000 times between two of its reads (the flag is relaxed, so it adds no happens-before
 * edge that would hide the race from ThreadSanitizer). The script calls memRaceDone() to know when to stop. */
#ifndef CALOG_MEMRACE_H
#define CALOG_MEMRACE_H

#include "calog.h"
#include "check.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

static atomic_int memRaceSeen;

static int32_t memRaceDone(CalogValueT *args, int32_t argc, CalogValueT *result, void *ud) {
  (void)args, (void)argc, (void)ud;
  *result = calogValueBool(atomic_load_explicit(&memRaceSeen, memory_order_relaxed) >= 1000);
  return CALOG_OK;
}

typedef struct MemRaceT {
  CalogT *rt;
  CalogContextIdT id;
  const char *src;
  atomic_bool done;
  int32_t st;
} MemRaceT;

static void *memRaceEval(void *arg) {
  MemRaceT *m = arg;
  CalogValueT r = calogValueNil();
  m->st = calogContextEval(m->rt, m->id, m->src, (int64_t)strlen(m->src), "race", &r);
  calogValueFree(&r);
  atomic_store(&m->done, true);
  return NULL;
}

static void testMemoryCounterRace(CalogT *rt, const char *engine, const char *src) {
  MemRaceT m;
  m.rt = rt;
  m.src = src;
  m.st = -1;
  atomic_init(&m.done, false);
  atomic_store(&memRaceSeen, 0);
  CHECK_EQ(calogRegister(rt, "memRaceDone", memRaceDone, NULL, NULL), CALOG_OK);
  CalogValueT err = calogValueNil();
  CHECK_EQ(calogContextCreate(rt, engine, CALOG_CONTEXT_OWN_THREAD, &m.id, &err), CALOG_OK);
  pthread_t t;
  CHECK_EQ(pthread_create(&t, NULL, memRaceEval, &m), 0);
  int64_t last = -1, nonPositive = 0;
  while (!atomic_load(&m.done)) {
    int64_t mem = calogContextMemory(rt, m.id);
    if (mem <= 0) nonPositive++;
    if (last >= 0 && mem != last) atomic_fetch_add_explicit(&memRaceSeen, 1, memory_order_relaxed);
    last = mem;
  }
  pthread_join(t, NULL);
  CHECK_EQ(m.st, CALOG_OK);
  CHECK_EQ(nonPositive, 0);
  CHECK(atomic_load(&memRaceSeen) > 0); /* the reads overlapped the allocations */
  calogContextDestroy(rt, m.id);
  calogUnregister(rt, "memRaceDone");
}

#endif
