-- fib.lua: fib(30), the same function calog's contexts run, for the standalone interpreter
-- (zig-out/bin/lua-standalone, built by `zig build bench`). Usage: lua-standalone bench/fib.lua RUNS
-- Prints one line per run: the milliseconds the running thread spent on a CPU during fib(30), read from
-- /proc/thread-self/schedstat (os.clock() where that is missing). bench/run.ts times calog with this chunk too.
local function oncpu()
  local f = io.open("/proc/thread-self/schedstat")
  if not f then return os.clock() * 1e9 end
  local ns = f:read("n")
  f:close()
  return ns
end
function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end
local runs = tonumber(arg and arg[1]) or 1
for _ = 1, runs do
  local t0 = oncpu()
  local r = fib(30)
  local dt = oncpu() - t0
  assert(r == 832040, "fib(30) gave " .. tostring(r))
  print(string.format("%.4f", dt / 1e6))
end
