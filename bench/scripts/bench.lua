-- The functions every Lua in the bench runs (calog, wasmoon, fengari): the same source, loaded once per state.
function add(a, b) return a + b end
function echo(v) return v end
function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end
-- Lua -> host: hostinc is the host (TypeScript) function each peer registers its own way.
function loopHost(n) local s = 0 for i = 1, n do s = s + hostinc(i) end return s end
function callHost(x) return hostinc(x) end
