// The functions calog's Squirrel engine runs: the same work as bench.lua and bench.js.
function add(a, b) { return a + b; }
function echo(v) { return v; }
function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
