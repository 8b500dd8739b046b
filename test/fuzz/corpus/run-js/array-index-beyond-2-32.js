var buf = Duktape.dec("hex", "414243"), e = Duktape.enc("base64", "calog");
var t = t = Duktape.Thread ? 0 : 0, arr = []; arr[9007199254740993.00] = 1; arDuktape.Thread ? 1 : 0, arr = []; arr[100] = 1; arr.length = 3;
var g = (function () { var n = 0; return function () { return ++n; }; cag})(); g(); g();
({ buf: buf, e: e, t: t, arr: arr, n: g(), big: 900740993, neg: -1e308 * 10, nan: NaN, s: "\ufeff\u0000x" });
