/* floor.c -- libcalogbench.so: the physical floor of a crossing, for bench/run.ts (built by `zig build bench`).
 *
 * Nothing here touches calog: these are the cheapest possible FFI calls in each direction, with the same C
 * signatures calog's own hot entry points use, so the bench can subtract them from calog's figures.
 *   calogBenchNoop()                 JS -> C, no arguments (like calogAbiVersion)
 *   calogBenchNoop4(p, a, b, c)      JS -> C with calogFnCallWire's signature (ptr, u32, u32, u32) -> i32
 *   calogBenchCallN(cb, n)           C -> JS: calls cb(i, 4) n times; cb has CalogHostCallFnT's signature
 *                                    (u32 hostId, u32 argLen) -> i32, the callback calog uses for Lua -> JS */
#include <stdint.h>

#define BENCH_API __attribute__((visibility("default")))

typedef int32_t (*BenchHostCallFnT)(uint32_t hostId, uint32_t argLen);

BENCH_API void calogBenchNoop(void) {}

BENCH_API int32_t calogBenchNoop4(void *p, uint32_t a, uint32_t b, uint32_t c) {
  (void)p;
  return (int32_t)(a + b + c);
}

BENCH_API int32_t calogBenchCallN(BenchHostCallFnT cb, uint32_t n) {
  int32_t sum = 0;
  for (uint32_t i = 0; i < n; i++) sum += cb(i, 4);
  return sum;
}
