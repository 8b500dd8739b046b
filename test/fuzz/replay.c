/* replay.c -- a stand-in for libFuzzer's driver where clang's is not installed (the smoke run in `npm test`
 * then still runs every target under ASan+UBSan built by the system cc): runs each file of the corpus
 * folders given, then byte-level mutations of them (flip, insert, erase, splice, repeat) for -max_total_time
 * seconds or -runs inputs. Same flags as libFuzzer for the two it reads; other -flags are ignored. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct { uint8_t *p; size_t n; } BufT;
static BufT *seeds;
static size_t nseeds;

static void load(const char *dir) {
  DIR *d = opendir(dir);
  if (d == NULL) return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    FILE *f = fopen(path, "rb");
    if (f == NULL) continue;
    BufT b = {malloc(1 << 20), 0};
    b.n = fread(b.p, 1, 1 << 20, f);
    fclose(f);
    seeds = realloc(seeds, (nseeds + 1) * sizeof *seeds);
    seeds[nseeds++] = b;
  }
  closedir(d);
}

static uint64_t rng = 0x9E3779B97F4A7C15u;
static uint64_t next(void) { rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17; return rng; }

int main(int argc, char **argv) {
  long long runs = -1, seconds = 10;
  for (int i = 1; i < argc; i++) {
    if (strncmp(argv[i], "-runs=", 6) == 0) runs = atoll(argv[i] + 6);
    else if (strncmp(argv[i], "-max_total_time=", 16) == 0) seconds = atoll(argv[i] + 16);
    else if (argv[i][0] != '-') load(argv[i]);
  }
  long long n = 0;
  for (size_t i = 0; i < nseeds; i++, n++) LLVMFuzzerTestOneInput(seeds[i].p, seeds[i].n);
  time_t end = time(NULL) + seconds;
  uint8_t *buf = malloc(1 << 21);
  while ((runs < 0 || n < runs) && time(NULL) < end && nseeds > 0) {
    BufT *s = &seeds[next() % nseeds];
    size_t len = s->n;
    memcpy(buf, s->p, len);
    for (int k = 1 + (int)(next() % 4); k > 0; k--) {
      size_t at = len ? next() % len : 0;
      switch (next() % 5) {
      case 0: if (len) buf[at] ^= (uint8_t)(1u << (next() % 8)); break;
      case 1: if (len < (1 << 20)) { memmove(buf + at + 1, buf + at, len - at); buf[at] = (uint8_t)next(); len++; } break;
      case 2: if (len) { memmove(buf + at, buf + at + 1, len - at - 1); len--; } break;
      case 3: { BufT *o = &seeds[next() % nseeds]; size_t m = o->n < 256 ? o->n : 256;
                if (len + m < (1 << 20)) { memmove(buf + at + m, buf + at, len - at); memcpy(buf + at, o->p, m); len += m; } } break;
      default: { size_t m = len - at < 64 ? len - at : 64;
                 for (int r = (int)(next() % 64); r > 0 && len + m < (1 << 20); r--) { memmove(buf + at + m, buf + at, len - at); len += m; } } break;
      }
    }
    LLVMFuzzerTestOneInput(buf, len);
    n++;
  }
  printf("Done %lld runs (replay driver)\n", n);
  return 0;
}
