#!/usr/bin/env bash
# Fuzzing under ASan+UBSan (libFuzzer from clang when installed: Debian `clang`; else the system cc with
# test/fuzz/replay.c as the driver). Targets: wire (the calog*Wire decoders + each engine's marshalling both
# ways through an echo), compile-lua, compile-js, compile-squirrel (each engine's parser and compiler), run-lua,
# run-js, run-squirrel (each engine's eval of arbitrary source, run in a fresh sandboxed context under step, time,
# memory and output limits, its result marshalled out).
#   bash test/fuzz/run.sh smoke       a few seconds per target (run by test/run.sh)
#   CALOG_FUZZ_TARGETS="run-lua run-js" bash test/fuzz/run.sh ...   only the targets named
#   bash test/fuzz/run.sh long [N]    N executions per target (default 10^7; `npm run fuzz`); run it niced.
#                                     libFuzzer's fork mode runs CALOG_FUZZ_JOBS processes (default: one per
#                                     core) sharing the target's corpus; N counts the executions of all of them.
# A long run resumes: test/fuzz/records/<target>.tsv (committed: a long run spans sessions and fresh checkouts) records
# every run of a build (its executions, seconds, end and outcome), keyed by a hash of the target's machine code and
# data (not its paths or debug information), and a long run only runs what that build still lacks of N. Stopping it (SIGINT or SIGTERM to this script) records
# the executions it reached; a changed build (any change to the code, the engines or the flags) starts from 0.
# A run with a crash, a timeout or an out-of-memory input records nothing and fails. CALOG_FUZZ_RECORDS: another
# folder for the records.
# Each run prints its executions and rate; the figures of the documented long runs are in the README.
# Seeds: test/fuzz/corpus/<target>/ (committed, small). New inputs go to .deps/fuzz/corpus/<target>/ and
# crashes to .deps/fuzz/crashes/ (a crash fails the run). The source lists mirror build.zig's.
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=${1:-smoke}
runs=${2:-10000000}
D=.deps/src
have_libfuzzer() {
  command -v clang >/dev/null && echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' \
    | clang -x c -fsanitize=fuzzer -o /dev/null - 2>/dev/null
}
# libFuzzer comes with Debian's clang: installed through the machine's own apt when we may (root), as set-up
# installs the other tools; otherwise (or if apt cannot) the replay driver below runs the same targets
mkdir -p .deps
if ! have_libfuzzer && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ "${CALOG_FUZZ_NO_INSTALL:-0}" != 1 ]; then
  echo "[fuzz] installing Debian's clang (libFuzzer) with apt-get" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q clang > .deps/fuzz-apt.log 2>&1 \
    || echo "[fuzz] apt-get install clang failed (.deps/fuzz-apt.log): using the replay driver" >&2
fi
if have_libfuzzer; then
  CC=clang CXX=clang++ FUZZ=libfuzzer SAN="-fsanitize=address,undefined,fuzzer-no-link"
  # coverage hooks only where there is coverage (the system cc knows neither flag: the replay driver has none)
  ENGINE_COV="-fno-sanitize-coverage=trace-cmp" DUK_COV="-fsanitize-coverage-ignorelist=test/fuzz/coverage-ignore.txt"
else
  CC=cc CXX=c++ FUZZ=replay SAN="-fsanitize=address,undefined" ENGINE_COV="" DUK_COV=""
fi
OUT=.deps/fuzz/$FUZZ
mkdir -p "$OUT/obj" .deps/fuzz/crashes
FLAGS="$SAN -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1 -Ic/include -Ic/src"

# The engines' own sources do `NULL + 0` (Duktape's property code, on every empty compile): defined in
# practice, undefined to the letter, and clang's pointer-overflow check stops on it. Ours keep every check.
# The engines keep edge coverage but not libFuzzer's comparison hooks (trace-cmp): those hooks on every
# comparison of the engines' property, GC and table code took 45% of the time and guide nothing the grown
# corpora do not already reach (x1.6-2.5 executions/s); our own code (the wire decoder, the codecs, the
# adapters) keeps them. test/fuzz/coverage-ignore.txt lists the functions with no coverage hooks at all.
ENGINE_SAN="-fno-sanitize=pointer-overflow $ENGINE_COV"
objs=()
# Compiles run in the background, one per core (a fresh clone compiles all three engines here: serial, this was
# most of the smoke run's time); built() waits for them and fails the run if any did. An object is written under a
# temporary name and renamed when done, so an interrupted compile never leaves a stale object that looks built.
cores=$(nproc 2>/dev/null || echo 1)
rm -f "$OUT/compile-failed"
compile() { # lang src extra-flags...
  local lang=$1 src=$2; shift 2
  local o="$OUT/obj/$(echo "$src" | tr '/' '_').o"
  if [ ! -f "$o" ] || [ "$src" -nt "$o" ] || [ -n "$(find c/src c/include c/patches test/fuzz/coverage-ignore.txt -newer "$o" -print -quit)" ]; then
    while [ "$(jobs -rp | wc -l)" -ge "$cores" ]; do wait -n || true; done
    ( case $lang in
        c) $CC -std=gnu99 -c $FLAGS "$@" "$src" -o "$o.tmp" ;;
        cpp) $CXX -std=c++11 -fno-exceptions -c $FLAGS "$@" "$src" -o "$o.tmp" ;;
      esac && mv "$o.tmp" "$o" || { echo "[fuzz] compiling $src failed" >&2; touch "$OUT/compile-failed"; } ) &
  fi
  objs+=("$o")
}
built() { wait; if [ -f "$OUT/compile-failed" ]; then echo "fuzz: 0 passed, 1 failed"; exit 1; fi; }
for f in lapi lcode lctype ldebug ldo ldump lfunc lgc llex lmem lobject lopcodes lparser lstate lstring ltable ltm \
         lundump lvm lzio lauxlib lbaselib lcorolib ldblib liolib lmathlib loadlib loslib lstrlib ltablib lutf8lib linit; do
  compile c "$D/lua/src/$f.c" -w $ENGINE_SAN -DLUA_USE_LINUX -include c/src/engines/lua/lua_prelude.h
done
compile c "$D/duktape/src/duktape.c" -w $ENGINE_SAN $DUK_COV -include c/src/engines/duktape/duk_calog_config.h -I"$D/duktape/src"
for f in squirrel/sqapi squirrel/sqbaselib squirrel/sqclass squirrel/sqcompiler squirrel/sqdebug squirrel/sqfuncstate \
         squirrel/sqlexer squirrel/sqmem squirrel/sqobject squirrel/sqstate squirrel/sqtable squirrel/sqvm \
         sqstdlib/sqstdmath sqstdlib/sqstdstring sqstdlib/sqstdrex sqstdlib/sqstdblob sqstdlib/sqstdstream \
         sqstdlib/sqstdio sqstdlib/sqstdsystem; do
  compile cpp "$D/squirrel/$f.cpp" -w $ENGINE_SAN -D_SQ64 -DSQUSEDOUBLE -DSQ_EXCLUDE_DEFAULT_MEMFUNCTIONS \
    -include c/src/engines/squirrel/sq_prelude.h -I"$D/squirrel/include"
done
for f in c/src/engines/lua/*.c; do compile c "$f" -std=c11 -D_GNU_SOURCE -I"$D/lua/src" -DLUA_USE_LINUX; done
for f in c/src/engines/duktape/*.c; do compile c "$f" -std=c11 -D_GNU_SOURCE -I"$D/duktape/src" -include c/src/engines/duktape/duk_calog_config.h; done
for f in c/src/engines/squirrel/*.c; do compile c "$f" -std=c11 -D_GNU_SOURCE -I"$D/squirrel/include" -D_SQ64 -DSQUSEDOUBLE; done
compile cpp c/src/engines/squirrel/sq_vmext.cpp -fno-rtti -I"$D/squirrel/include" -isystem "$D/squirrel/squirrel" -D_SQ64 -DSQUSEDOUBLE
for f in c/src/*.c c/src/policy/*.c c/src/io/*.c; do compile c "$f" -std=c11 -D_GNU_SOURCE; done
built
lib=("${objs[@]}")

all_targets="wire compile-lua compile-js compile-squirrel run-lua run-js run-squirrel"
# shellcheck disable=SC2206 # a space-separated list of target names
targets=(${CALOG_FUZZ_TARGETS:-$all_targets})
declare -A target_objs
driver=() # the replay driver's object, when there is no libFuzzer
if [ $FUZZ != libfuzzer ]; then objs=(); compile c test/fuzz/replay.c; driver=("${objs[@]}"); fi
for t in "${targets[@]}"; do
  objs=()
  case $t in
    wire) compile c test/fuzz/fuzz_wire.c ;;
    compile-*) e=${t#compile-}; cp -p test/fuzz/fuzz_compile.c "$OUT/fuzz_$e.c"
               compile c "$OUT/fuzz_$e.c" -DFUZZ_ENGINE="\"$e\"" ;;
    run-*) e=${t#run-}; cp -p test/fuzz/fuzz_run.c "$OUT/fuzz_run_$e.c"
           compile c "$OUT/fuzz_run_$e.c" -DFUZZ_ENGINE="\"$e\"" ;;
  esac
  target_objs[$t]="${objs[*]} ${driver[*]}"
done
built
for t in "${targets[@]}"; do # links in the background too, one per core
  while [ "$(jobs -rp | wc -l)" -ge "$cores" ]; do wait -n || true; done
  # shellcheck disable=SC2206 # object paths have no spaces
  objs=(${target_objs[$t]})
  if [ $FUZZ = libfuzzer ]; then
    ( $CXX $SAN -fsanitize=fuzzer -o "$OUT/$t" "${objs[@]}" "${lib[@]}" -lpthread -lm || touch "$OUT/compile-failed" ) &
  else
    ( $CXX $SAN -o "$OUT/$t" "${objs[@]}" "${lib[@]}" -lpthread -lm || touch "$OUT/compile-failed" ) &
  fi
done
built

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
jobs=${CALOG_FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
build_key() { # a target's machine code and data: the same build wherever it was compiled (without binutils'
  # objcopy, the whole file: a clone elsewhere then counts as another build)
  if ! command -v objcopy >/dev/null; then sha256sum "$1" | cut -c1-16; return; fi
  local sec tmp; tmp=$(mktemp -d)
  for sec in .text .rodata .data; do
    objcopy -O binary --only-section=$sec "$1" "$tmp/$sec" || { rm -rf "$tmp"; return 1; }
  done
  cat "$tmp/.text" "$tmp/.rodata" "$tmp/.data" | sha256sum | cut -c1-16
  rm -rf "$tmp"
}
# executions a libFuzzer log reports so far: the largest of the single process's final stats, fork mode's status
# lines (#N: cov ...; its parent's own final stats say 0) and events (#N NEW ...), and the replay driver's count
executions() {
  { grep -aoE "^stat::number_of_executed_units: *[0-9]+" "$1" | grep -oE "[0-9]+$"
    grep -aoE "^#[0-9]+" "$1" | tr -d '#'
    grep -aoE "^Done [0-9]+ runs" "$1" | grep -oE "[0-9]+"
    echo 0; } | sort -n | tail -1
}
# fork mode goes on after a timeout or an out-of-memory input (its defaults): its status lines count them
bad_inputs() { grep -aoE "oom/timeout/crash: [0-9]+/[0-9]+/[0-9]+" "$1" | tail -1 | grep -vE ": 0/0/0$" || true; }
fuzzer=
stopped=0
# a stop ends the fuzzer (fork mode's jobs too: its own process group) and lets the loop record what it reached
trap 'stopped=1; [ -n "$fuzzer" ] && kill -TERM -- "-$fuzzer" 2>/dev/null || true' INT TERM
status=0
for t in "${targets[@]}"; do
  if [ "$stopped" = 1 ]; then break; fi
  mkdir -p ".deps/fuzz/corpus/$t"
  log="$OUT/$t.log"
  if [ "$mode" = long ]; then
    records=${CALOG_FUZZ_RECORDS:-test/fuzz/records} # another folder: test/commands.sh's short run
    mkdir -p "$records"
    rec="$records/$t.tsv"
    key=$(build_key "$OUT/$t")
    before=$( (awk -F'\t' -v k="$key" '$1 == k { s += $2 } END { print s + 0 }' "$rec" 2>/dev/null) || echo 0)
    if [ "$before" -ge "$runs" ]; then
      printf '[fuzz] %s: build %s already has %s executions (%s)\n' "$t" "$key" "$before" "$rec"
      continue
    fi
    limit=(-runs="$(( runs - before ))" -max_total_time=172800)
    # fork mode (libFuzzer only): the jobs share the corpus; -runs is their total
    if [ $FUZZ = libfuzzer ] && [ "$jobs" -gt 1 ]; then limit+=(-fork="$jobs"); fi
  else
    limit=(-max_total_time=3)
  fi
  # a target's dictionary (test/fuzz/dict/<target>.dict: the engine's keywords and library names) guides
  # libFuzzer's mutations into calls of the standard library; the replay driver ignores it
  if [ $FUZZ = libfuzzer ] && [ -f "test/fuzz/dict/$t.dict" ]; then limit+=(-dict="test/fuzz/dict/$t.dict"); fi
  printf '[fuzz] %s (%s, %s)\n' "$t" "$FUZZ" "${limit[*]}"
  start=$(date +%s)
  setsid "$OUT/$t" "${limit[@]}" -rss_limit_mb=4096 -max_len=65536 -timeout=20 -print_final_stats=1 \
    -artifact_prefix=.deps/fuzz/crashes/"$t"- ".deps/fuzz/corpus/$t" "test/fuzz/corpus/$t" > "$log" 2>&1 &
  fuzzer=$!
  rc=0
  # a trapped signal interrupts wait: wait again for the fuzzer to end
  while :; do wait "$fuzzer" && rc=0 || rc=$?; kill -0 "$fuzzer" 2>/dev/null || break; done
  fuzzer=
  secs=$(( $(date +%s) - start ))
  n=$(executions "$log")
  bad=$(bad_inputs "$log")
  if [ -z "$bad" ] && { [ "$rc" -eq 0 ] || [ "$stopped" = 1 ]; }; then
    printf '[fuzz] %s: %s executions in %ss (%s/s)%s\n' "$t" "$n" "$secs" "$(( n / (secs > 0 ? secs : 1) ))" \
      "$([ "$stopped" = 1 ] && echo ", stopped")"
    if [ "$mode" = long ]; then
      printf '%s\t%s\t%s\t%s\t%s\n' "$key" "$n" "$secs" "$(date -u +%FT%TZ)" \
        "$([ "$stopped" = 1 ] && echo stopped || echo done) jobs=$jobs" >> "$rec"
      printf '[fuzz] %s: build %s has %s of %s executions (%s)\n' "$t" "$key" "$(( before + n ))" "$runs" "$rec"
    fi
  else
    status=1
    tail -40 "$log"
    printf '[fuzz] %s: FAILED%s (log %s; inputs in .deps/fuzz/crashes/)\n' "$t" "${bad:+ ($bad)}" "$log"
  fi
done
if [ "$stopped" = 1 ]; then echo "fuzz: stopped"; exit 130; fi
[ $status -eq 0 ] && echo "fuzz: ${#targets[@]} passed, 0 failed" || echo "fuzz: 0 passed, 1 failed"
exit $status
