// deno-lint-ignore-file no-unused-vars -- these are globals the engines call by name
// The functions the JavaScript engines run (calog "js" on Duktape, quickjs-emscripten): the same source.
function add(a, b) { return a + b; }
function echo(v) { return v; }
function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
