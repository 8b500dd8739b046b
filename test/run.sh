#!/usr/bin/env bash
# Every test calog has, in the order a failure is cheapest to read. Run by `npm test` after .ci/setup.
set -euo pipefail
cd "$(dirname "$0")/.."
ZIG=.deps/zig/ziglang/zig
BIN=node_modules/.bin
LOG=$(mktemp -d)
trap 'rm -rf "$LOG"' EXIT
T0=$SECONDS T1=$SECONDS
# each step's header says how long the one before took (the suite has a 20-minute budget)
step() { printf '\n=== %s   [previous step %ds, total %ds]\n' "$1" $((SECONDS - T1)) $((SECONDS - T0)); T1=$SECONDS; }
# A failed step ends the run; what each failure said is printed again last, where a kept tail of the log shows it
# (Bun prints a failure's error above its "(fail)" line, far from its closing list of names).
failed() {
  printf '\n=== FAILED: %s; what each failure said:\n' "$1"
  sed 's/\x1b\[[0-9;]*m//g' "$2" | case "$1" in
    Bun) awk '/^\((pass|skip|todo)\)/ { n = 0; next }
              /^\(fail\)/ { for (i = (n > 40 ? n - 40 : 0); i < n; i++) print buf[i]; print; print ""; n = 0; next }
              { buf[n++] = $0 }' ;;
    Deno) sed -n '/ERRORS/,$p' | head -300 ;; # its closing section: each failure's error, then their names
    *) grep -aE 'CHECK failed|FAIL|error:|panic' | head -60 ;;
  esac
  exit 1
}

if [ "${CALOG_RUN_DRY:-0}" = 1 ]; then # test/commands.sh: reached through a task runner; check the tools
  "$ZIG" version > /dev/null && "$BIN/bun" --version > /dev/null && "$BIN/deno" --version > /dev/null \
    && "$BIN/tsc" --version > /dev/null && echo "test/run.sh: dry run"
  exit
fi

step "C tests (zig build test: Debug + UBSan)"
"$ZIG" build test 2>&1 | tee "$LOG/c.txt" || failed "C tests" "$LOG/c.txt"
step "C tests under AddressSanitizer + UBSan + LeakSanitizer (system cc)"
"$ZIG" build test-asan 2>&1 | tee "$LOG/asan.txt" || failed "C tests (ASan)" "$LOG/asan.txt"
step "C tests under ThreadSanitizer (zig sanitize_thread)"
"$ZIG" build test-tsan 2>&1 | tee "$LOG/tsan.txt" || failed "C tests (TSan)" "$LOG/tsan.txt"

step "Type checks (tsc for the Bun side, deno check for the Deno side)"
"$BIN/tsc" --noEmit --strict --target esnext --module esnext --moduleResolution bundler \
  --allowImportingTsExtensions --noUncheckedIndexedAccess --types bun --skipLibCheck \
  src/index.ts bindings/bun.ts
"$BIN/deno" check --quiet bindings/deno.ts bindings/mod.ts

# The two TypeScript suites run side by side: each spends most of its time waiting (timers, timeouts, child
# processes; Bun's used 80 s of CPU in 244 s), so together they take about as long as the longer one. Their tests
# share nothing (temporary names are unique, ports are the kernel's). Bun's output is shown as it comes, Deno's after.
step "TypeScript suites under Bun and Deno (side by side; Deno's output follows Bun's)"
"$BIN/deno" test --allow-ffi --allow-env --allow-read --allow-write --allow-run --allow-net=127.0.0.1 \
  --v8-flags=--expose-gc test/ > "$LOG/deno.txt" 2>&1 &
deno_pid=$!
bun_rc=0
"$BIN/bun" test test/ 2>&1 | tee "$LOG/bun.txt" || bun_rc=$?
deno_rc=0
wait "$deno_pid" || deno_rc=$?
step "TypeScript suite under Deno (its output; it ran beside Bun's)"
cat "$LOG/deno.txt"
[ "$bun_rc" -eq 0 ] || failed Bun "$LOG/bun.txt"
[ "$deno_rc" -eq 0 ] || failed Deno "$LOG/deno.txt"

step "Fuzz smoke run (every target a few seconds, ASan + UBSan; the long run is npm run fuzz)"
bash test/fuzz/run.sh smoke 2>&1 | tee "$LOG/fuzz.txt"
step "Documented commands (npm start, deno task start/test, ...)"
bash test/commands.sh 2>&1 | tee "$LOG/commands.txt"

# one closing line over every suite
passed=0 failed=0
while read -r p f; do passed=$((passed + p)); failed=$((failed + f)); done < <(
  { grep -hoE '[0-9]+ passed, [0-9]+ failed' "$LOG/c.txt" "$LOG/asan.txt" "$LOG/tsan.txt" "$LOG/fuzz.txt" "$LOG/commands.txt" | awk '{print $1, $3}'
    grep -hE '^ *[0-9]+ (pass|fail)$' "$LOG/bun.txt" | awk '$2=="pass"{p=$1} $2=="fail"{f=$1} END{print p+0, f+0}'
    sed 's/\x1b\[[0-9;]*m//g' "$LOG/deno.txt" | grep -oE '[0-9]+ passed \| [0-9]+ failed' | tail -1 | awk '{print $1, $4}'
  })
printf '\nall suites: %d passed, %d failed (last step %ds, total %ds)\n' "$passed" "$failed" $((SECONDS - T1)) $((SECONDS - T0))
[ "$failed" -eq 0 ]
