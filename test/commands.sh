#!/usr/bin/env bash
# Every documented command, run the way a user runs it (README "Two commands", deno.json, package.json):
#   npm start, deno task start         for real (set-up is quick once done): the demo's output is checked
#   npm test, deno task test           through the task runner with CALOG_RUN_DRY=1 (test/run.sh then checks
#                                      each tool it would call and stops: the full suite is what runs this)
#   deno task with a Deno installed    the same, from a `deno` on PATH outside node_modules (a copy of the
#   on the machine                     pinned one, standing in for a machine-wide Deno)
#   npm run fuzz                       a short run of one target (2,000 executions), twice: the second resumes
#                                      and finds nothing left to run
#   bun test --coverage                on one suite: the table is printed and lcov.info written
#   every task                         no bare `deno` at a command position: inside `deno task`, that name
#                                      resolves to node_modules/.bin/deno, which it runs as a JavaScript file
# Not run here (minutes each; README, "Two commands"): npm run bench, deno task bench, npm run dist, npm run dist:check.
# Prints "commands: N passed, N failed". Run by test/run.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/node_modules/.bin
passed=0 failed=0
ok() { passed=$((passed + 1)); printf '  ok   %s\n' "$1"; }
bad() { failed=$((failed + 1)); printf '  FAIL %s\n%s\n' "$1" "$(tail -15 "$2")"; }
LOG=$(mktemp -d)
trap 'rm -rf "$LOG"' EXIT
mkdir -p "$LOG/machine" && ln -s "$(readlink -f "$BIN/deno")" "$LOG/machine/deno"

run() { # name expect-regex command...
  local name=$1 expect=$2; shift 2
  if "$@" > "$LOG/out" 2>&1 && grep -qE "$expect" "$LOG/out"; then ok "$name"; else bad "$name" "$LOG/out"; fi
}
demo='calog on (bun|deno)'
run "npm start" "$demo" npm start --silent
run "deno task start (pinned deno)" "$demo" "$BIN/deno" task start
run "deno task start (a deno on PATH)" "$demo" env PATH="$LOG/machine:$PATH" deno task start
run "npm test (dry)" "test/run.sh: dry run" env CALOG_RUN_DRY=1 npm test --silent
run "deno task test (pinned deno, dry)" "test/run.sh: dry run" env CALOG_RUN_DRY=1 "$BIN/deno" task test
run "deno task test (a deno on PATH, dry)" "test/run.sh: dry run" env CALOG_RUN_DRY=1 PATH="$LOG/machine:$PATH" deno task test

# npm run fuzz: a short long run of one target, recorded in a folder of this check's own, then again: the second
# finds the build's executions recorded and runs nothing (the resume; the fuzz smoke step built the objects)
fuzz() { CALOG_FUZZ_TARGETS=compile-lua CALOG_FUZZ_RECORDS="$LOG/records" npm run fuzz --silent -- 2000; }
run "npm run fuzz (a short run of one target)" "compile-lua: build [0-9a-f]+ has [0-9]+ of 2000 executions" fuzz
run "npm run fuzz (again: resumed, nothing left to run)" "compile-lua: build [0-9a-f]+ already has [0-9]+ executions" fuzz
# bun test --coverage (one suite): the table printed and lcov written
rm -f zig-out/coverage/lcov.info
cover() { "$BIN/bun" test --coverage test/output.test.ts && test -s zig-out/coverage/lcov.info; }
run "bun test --coverage (one suite)" "% Funcs" cover

# no task may call a bare `deno` (at the start of a command: after &&, ||, ;, | or at the start)
if "$BIN/deno" eval --quiet '
  const cfg = JSON.parse(Deno.readTextFileSync("deno.json").replace(/^\s*\/\/.*$/gm, ""));
  const bad = Object.entries(cfg.tasks).filter(([, c]) => /(^|&&|\|\||;|\|)\s*deno\s/.test(c as string));
  if (bad.length) { console.log("tasks calling a bare deno:", bad.map(([k]) => k).join(", ")); Deno.exit(1); }' \
  > "$LOG/out" 2>&1; then ok "deno.json tasks name node_modules/.bin/deno"; else bad "deno.json tasks" "$LOG/out"; fi

printf 'commands: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
