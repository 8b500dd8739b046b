#!/usr/bin/env bash
# Instruction counts per operation (valgrind --tool=callgrind) for the C layers of a crossing, and fib(30) in
# calog vs the standalone Lua: the figures bench/ANALYSIS.md quotes. Deterministic, unlike timings on a shared
# machine. Not part of `npm run bench` (~1 min).
#   bash bench/profile.sh [CASE...]       default: the JS -> Lua, Lua -> JS and nested layers, and fib(30)
# Builds its own copy with -Dcpu=x86_64_v3 (valgrind cannot decode the AVX-512 a native build may use) into
# .zig-cache/bench-profile; the callgrind files stay there for callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "profile.sh needs valgrind" >&2; exit 1; }
ZIG=.deps/zig/ziglang/zig
P=.zig-cache/bench-profile
mkdir -p "$P/out"
"$ZIG" build bench -Dcpu=x86_64_v3 --prefix "$P" >&2
[ -f bench/out/nested.lua ] || { echo "run the bench once first (it writes bench/out/nested.lua)" >&2; exit 1; }
N=200000
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(lua.raw_pcall_ref broker.fn_invoke wire.fn_call_wire lua.raw_pcall_global broker.context_call
  wire.call_wire lua_to_c.raw_cfunction lua_to_c.native lua_to_c.host_trampoline nested.call_wire)

ir() { valgrind --tool=callgrind --callgrind-out-file="$1" "${@:2}" 2>&1 >/dev/null | sed -n 's/.*I *refs: *//p' | tr -d ,; }
base=$(ir "$P/out/base.cg" "$P/bin/broker_bench" --only none --iters 1 --nested bench/out/nested.lua)
printf '%-28s %12s\n' case "instr/op"
for c in "${cases[@]}"; do
  n=$N
  case "$c" in nested.*) n=20000 ;; esac
  total=$(ir "$P/out/$c.cg" "$P/bin/broker_bench" --only "$c" --iters "$n" --nested bench/out/nested.lua)
  warm=$((n < 1000 ? n : 1000)) # --only runs a warm-up of min(n, 1000) operations first
  printf '%-28s %12s\n' "$c" $(( (total - base) / (n + warm) ))
done
# fib(30): the same interpreter loop in both? Three runs each: Lua seeds its string hash per state, so where
# "fib" lands in the globals table (and the cost of each global lookup) can differ by a few % between runs.
s0=$(ir "$P/out/fib-standalone0.cg" "$P/bin/lua-standalone" bench/fib.lua 0)
for i in 1 2 3; do
  s1=$(ir "$P/out/fib-standalone.cg" "$P/bin/lua-standalone" bench/fib.lua 1)
  c2=$(ir "$P/out/fib-calog.cg" "$P/bin/broker_bench" --only fib30.context_call --iters 1 --nested bench/out/nested.lua)
  printf '%-28s %12s   %-28s %12s\n' "fib30 standalone" $((s1 - s0)) "fib30 calog (broker_bench)" $(((c2 - base) / 2))
  sleep 1 # a new second, a new seed
done
