//! calog build: libcalog.so (the broker + every engine compiled from source), the C tests, and sanitizer runs.
//!
//!   zig build                      zig-out/lib/libcalog.so (+ include/calog.h)
//!   zig build test                 C tests, Debug + UBSan (trap)
//!   zig build test-tsan            C tests under ThreadSanitizer (Zig's sanitize_thread)
//!   zig build test-asan            C tests under AddressSanitizer + UBSan, built by the system C compiler
//!                                  (Zig ships no ASan runtime); needs `cc`/`c++` on PATH
//!   zig build bench                bench-only artifacts, always ReleaseFast (bench/README.md): the floor
//!                                  library, the C broker microbenchmark, a standalone Lua interpreter
//!   zig build test -Dsuite=NAME    any of the three test steps, one suite only (e.g. -Dsuite=test_limits)
//!   zig build dist                 the prebuilt libraries and their npm packages, one per Linux target
//!                                  (dist_targets below), in zig-out/dist/<key>/; run by `npm run dist`
//!   zig build dist-test            the C tests cross-built for the targets this machine cannot run
//!                                  directly, in zig-out/dist-test/<key>/; run by `npm run dist:check`
//!
//! Engine sources are not in the repository: .ci/setup fetches them from Debian source packages into
//! .deps/src (override with -Ddeps=DIR). Source lists are plain data at the bottom of this file.
const std = @import("std");

pub fn build(b: *std.Build) void {
    const target = b.standardTargetOptions(.{});
    const optimize = b.standardOptimizeOption(.{});
    const deps = b.option([]const u8, "deps", "folder holding the engine sources fetched by .ci/setup (default .deps/src)") orelse ".deps/src";
    suite_only = b.option([]const u8, "suite", "run only this C test suite (test_value, test_limits, ...)");

    const os = target.result.os.tag;
    if (os != .linux) {
        std.debug.print("calog builds for Linux only for now (epoll, pthreads); target is {s}\n", .{@tagName(os)});
        std.process.exit(1);
    }
    for (engines) |e| {
        const probe = b.fmt("{s}/{s}/{s}", .{ deps, e.dir, e.files[0] });
        std.fs.cwd().access(probe, .{}) catch {
            std.debug.print("missing engine source {s}: run `bash .ci/setup` (or `npm test`) first\n", .{probe});
            std.process.exit(1);
        };
    }

    // ---- the shared library ---------------------------------------------------------------------
    const lib_mod = calogModule(b, target, optimize, deps, .{});
    const lib = b.addLibrary(.{ .name = "calog", .linkage = .dynamic, .root_module = lib_mod });
    // Export calog* only. The C++ runtime linked in for C++ engines would otherwise export its weak
    // operator new/delete, which could interpose on a C++ host's own.
    lib.setVersionScript(b.addWriteFiles().add("calog.map", "{ global: calog*; local: *; };\n"));
    // Link-time optimisation for release builds: the crossing path spans value/wire/runtime/adapter files
    // (bench/ANALYSIS.md measured -26% instructions on the JS -> Lua call).
    if (optimize != .Debug) lib.lto = .full;
    b.installArtifact(lib);
    b.installFile("c/include/calog.h", "include/calog.h");

    // ---- C tests --------------------------------------------------------------------------------
    const test_step = b.step("test", "Run the C tests (Debug, UBSan trap)");
    addTests(b, test_step, calogModule(b, target, .Debug, deps, .{}), target, "");

    const tsan_step = b.step("test-tsan", "Run the C tests under ThreadSanitizer");
    addTests(b, tsan_step, calogModule(b, target, .Debug, deps, .{ .tsan = true }), target, "-tsan");

    const asan_step = b.step("test-asan", "Run the C tests under AddressSanitizer + UBSan (system cc)");
    // Each source is compiled once (cached by the build), then every test links the same objects.
    var objs: std.ArrayList(std.Build.LazyPath) = .empty;
    const common = [_][]const u8{ "-Ic/include", "-Ic/src", "-Itest/c" };
    inline for (engines) |e| {
        const inc = b.fmt("-I{s}/{s}/{s}", .{ deps, e.dir, e.include });
        const stamp = b.fmt("{s}/{s}/.calog-stamp", .{ deps, e.dir });
        for (e.files) |f| {
            // engine sources are compiled relaxed (their warnings are not ours), ours strict
            const lang: []const []const u8 = if (e.cpp) &.{ "-x", "c++", "-std=c++11", "-w" } else &.{ "-x", "c", "-std=gnu99", "-w" };
            objs.append(b.allocator, asanObject(b, b.path(b.fmt("{s}/{s}/{s}", .{ deps, e.dir, f })), lang, &.{inc}, engineDefines(b, e), stamp)) catch @panic("OOM");
        }
        for (e.adapter) |f| objs.append(b.allocator, asanObject(b, b.path(f), &asan_c_lang, &.{inc}, e.defines, stamp)) catch @panic("OOM");
        // the engine's private headers are system headers to us: their warnings are not ours
        const internal = b.fmt("-isystem{s}/{s}/{s}", .{ deps, e.dir, e.internal_include });
        for (e.adapter_cpp) |f| objs.append(b.allocator, asanObject(b, b.path(f), &asan_cpp_lang, &.{ inc, internal }, e.defines, stamp)) catch @panic("OOM");
    }
    for (core_sources ++ policy_sources ++ io_sources) |f| objs.append(b.allocator, asanObject(b, b.path(f), &asan_c_lang, &common, &.{}, null)) catch @panic("OOM");
    for (c_tests) |t| {
        if (!suiteWanted(t)) continue;
        const test_obj = asanObject(b, b.path(b.fmt("test/c/{s}.c", .{t})), &asan_c_lang, &common, &.{}, null);
        const cc = b.addSystemCommand(&.{ "cc", "-o" });
        const exe = cc.addOutputFileArg(b.fmt("{s}-asan", .{t}));
        cc.addArgs(&asan_flags);
        cc.addFileArg(test_obj);
        for (objs.items) |o| cc.addFileArg(o);
        cc.addArgs(&.{ "-lstdc++", "-lpthread", "-lm", "-ldl" });
        const run = std.Build.Step.Run.create(b, b.fmt("run {s}-asan", .{t}));
        run.addFileArg(exe);
        run.setEnvironmentVariable("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:halt_on_error=1");
        run.setEnvironmentVariable("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1");
        run.stdio = .inherit;
        run.has_side_effects = true;
        asan_step.dependOn(&run.step);
    }

    addBench(b, target, deps);
    addDist(b, deps);
}

/// The defines of an engine's own sources, plus its prelude header when it has one.
fn engineDefines(b: *std.Build, e: Engine) []const []const u8 {
    if (e.prelude.len == 0) return e.defines;
    return std.mem.concat(b.allocator, []const u8, &.{ e.defines, &.{ "-include", b.pathFromRoot(e.prelude) } }) catch @panic("OOM");
}

fn asanObject(b: *std.Build, src: std.Build.LazyPath, lang: []const []const u8, includes: []const []const u8, defines: []const []const u8, stamp: ?[]const u8) std.Build.LazyPath {
    const cc = b.addSystemCommand(&.{ "cc", "-c" });
    cc.addArgs(lang);
    cc.addArgs(&asan_flags);
    cc.addArgs(&.{ "-Ic/include", "-Ic/src" });
    cc.addArgs(includes);
    cc.addArgs(defines);
    cc.addFileArg(src);
    // headers are inputs too, so editing one rebuilds the objects (the system compiler reports no deps here)
    for (asan_header_inputs) |h| cc.addFileInput(b.path(h));
    // an engine's own headers change only with its patches, which change its set-up stamp: an object that includes
    // them (an engine source, an adapter) is rebuilt when they do (a patch adding a field to a struct otherwise left
    // objects compiled against the old layout: heap overflows under ASan that no fresh clone has)
    if (stamp) |st| cc.addFileInput(b.path(st));
    cc.addArg("-o");
    return cc.addOutputFileArg(b.fmt("{s}.o", .{std.fs.path.stem(src.src_path.sub_path)}));
}

const ModuleOptions = struct { tsan: bool = false, strip: ?bool = null };

fn calogModule(b: *std.Build, target: std.Build.ResolvedTarget, optimize: std.builtin.OptimizeMode, deps: []const u8, o: ModuleOptions) *std.Build.Module {
    const needs_cpp = comptime for (engines) |e| {
        if (e.cpp) break true;
    } else false;
    const mod = b.createModule(.{
        .target = target,
        .optimize = optimize,
        .link_libc = true,
        .link_libcpp = needs_cpp,
        .sanitize_thread = o.tsan,
        .strip = o.strip,
        // A release library carries no sanitizer: nothing of a sanitizer runtime may stay undefined in it.
        .sanitize_c = if (optimize == .Debug and !o.tsan) .trap else .off,
        .pic = true,
    });
    mod.addIncludePath(b.path("c/include"));
    mod.addIncludePath(b.path("c/src"));
    inline for (engines) |e| {
        mod.addIncludePath(b.path(b.fmt("{s}/{s}/{s}", .{ deps, e.dir, e.include })));
        mod.addCSourceFiles(.{
            .root = b.path(b.fmt("{s}/{s}", .{ deps, e.dir })),
            .files = e.files,
            .flags = std.mem.concat(b.allocator, []const u8, &.{ if (e.cpp) &engine_cpp_flags else &engine_c_flags, engineDefines(b, e) }) catch @panic("OOM"),
        });
        mod.addCSourceFiles(.{ .files = e.adapter, .flags = &calog_flags ++ e.defines });
        if (e.adapter_cpp.len > 0) {
            const internal = b.fmt("-isystem{s}/{s}/{s}", .{ deps, e.dir, e.internal_include });
            const flags = std.mem.concat(b.allocator, []const u8, &.{ &calog_cpp_flags, e.defines, &.{internal} }) catch @panic("OOM");
            mod.addCSourceFiles(.{ .files = e.adapter_cpp, .flags = flags });
        }
    }
    mod.addCSourceFiles(.{ .files = &core_sources, .flags = &calog_flags });
    mod.addCSourceFiles(.{ .files = &policy_sources, .flags = &calog_flags });
    mod.addCSourceFiles(.{ .files = &io_sources, .flags = &calog_flags });
    mod.linkSystemLibrary("pthread", .{});
    mod.linkSystemLibrary("m", .{});
    return mod;
}

var suite_only: ?[]const u8 = null;

fn suiteWanted(t: []const u8) bool {
    const only = suite_only orelse return true;
    return std.mem.eql(u8, only, t);
}

fn addTests(b: *std.Build, step: *std.Build.Step, lib_mod: *std.Build.Module, target: std.Build.ResolvedTarget, suffix: []const u8) void {
    const lib = b.addLibrary(.{ .name = b.fmt("calog-test{s}", .{suffix}), .linkage = .static, .root_module = lib_mod });
    for (c_tests) |t| {
        if (!suiteWanted(t)) continue;
        const mod = b.createModule(.{
            .target = target,
            .optimize = .Debug,
            .link_libc = true,
            .sanitize_thread = lib_mod.sanitize_thread,
        });
        mod.addIncludePath(b.path("c/include"));
        mod.addIncludePath(b.path("c/src"));
        mod.addIncludePath(b.path("test/c"));
        mod.addCSourceFiles(.{ .files = &.{b.fmt("test/c/{s}.c", .{t})}, .flags = &calog_flags });
        mod.linkLibrary(lib);
        const exe = b.addExecutable(.{ .name = b.fmt("{s}{s}", .{ t, suffix }), .root_module = mod });
        const run = b.addRunArtifact(exe);
        run.stdio = .inherit; // print each suite's "N passed, N failed" line; a non-zero exit fails the step
        run.has_side_effects = true;
        if (lib_mod.sanitize_thread orelse false) run.setEnvironmentVariable("TSAN_OPTIONS", "halt_on_error=1:second_deadlock_stack=1");
        step.dependOn(&run.step);
    }
}

// ---- data ---------------------------------------------------------------------------------------

const Engine = struct {
    dir: []const u8, // under -Ddeps
    include: []const u8, // relative to dir
    files: []const []const u8, // engine sources, relative to dir
    defines: []const []const u8,
    adapter: []const []const u8, // our adapter + engine binding
    cpp: bool = false,
    // our C++ adapter files (may include the engine's private headers from internal_include, relative to dir)
    adapter_cpp: []const []const u8 = &.{},
    prelude: []const u8 = "", // a header of ours force-included (-include) into the engine sources only
    internal_include: []const u8 = "",
};

const engines = [_]Engine{
    .{
        .dir = "lua",
        .include = "src",
        .files = &.{
            "src/lapi.c",     "src/lcode.c",    "src/lctype.c",   "src/ldebug.c",  "src/ldo.c",
            "src/ldump.c",    "src/lfunc.c",    "src/lgc.c",      "src/llex.c",    "src/lmem.c",
            "src/lobject.c",  "src/lopcodes.c", "src/lparser.c",  "src/lstate.c",  "src/lstring.c",
            "src/ltable.c",   "src/ltm.c",      "src/lundump.c",  "src/lvm.c",     "src/lzio.c",
            "src/lauxlib.c",  "src/lbaselib.c", "src/lcorolib.c", "src/ldblib.c",  "src/liolib.c",
            "src/lmathlib.c", "src/loadlib.c",  "src/loslib.c",   "src/lstrlib.c", "src/ltablib.c",
            "src/lutf8lib.c", "src/linit.c",
        },
        .defines = &.{"-DLUA_USE_LINUX"},
        .adapter = &.{ "c/src/engines/lua/lua_adapter.c", "c/src/engines/lua/lua_engine.c", "c/src/engines/lua/lua_caps.c" },
        .prelude = "c/src/engines/lua/lua_prelude.h",
    },
    .{
        .dir = "duktape",
        .include = "src",
        .files = &.{"src/duktape.c"},
        // calog's overrides on top of the shipped duk_config.h (interrupt counter + exec-timeout hook), for the
        // engine and the adapter alike: see the header. The path is relative to the build root.
        .defines = &.{ "-include", "c/src/engines/duktape/duk_calog_config.h" },
        .adapter = &.{ "c/src/engines/duktape/duk_adapter.c", "c/src/engines/duktape/duk_engine.c", "c/src/engines/duktape/duk_caps.c" },
    },
    .{
        .dir = "squirrel",
        .include = "include",
        .files = &.{
            "squirrel/sqapi.cpp",       "squirrel/sqbaselib.cpp",  "squirrel/sqclass.cpp",     "squirrel/sqcompiler.cpp",
            "squirrel/sqdebug.cpp",     "squirrel/sqfuncstate.cpp", "squirrel/sqlexer.cpp",    "squirrel/sqmem.cpp",
            "squirrel/sqobject.cpp",    "squirrel/sqstate.cpp",    "squirrel/sqtable.cpp",     "squirrel/sqvm.cpp",
            "sqstdlib/sqstdmath.cpp",   "sqstdlib/sqstdstring.cpp", "sqstdlib/sqstdrex.cpp",   "sqstdlib/sqstdblob.cpp",
            "sqstdlib/sqstdstream.cpp", "sqstdlib/sqstdio.cpp",     "sqstdlib/sqstdsystem.cpp",
        },
        // 64-bit integers, double floats; sq_vm_malloc & co. come from our sq_vmext.cpp (memory accounting)
        .defines = &.{ "-D_SQ64", "-DSQUSEDOUBLE", "-DSQ_EXCLUDE_DEFAULT_MEMFUNCTIONS" },
        .adapter = &.{ "c/src/engines/squirrel/sq_adapter.c", "c/src/engines/squirrel/sq_engine.c", "c/src/engines/squirrel/sq_caps.c" },
        .prelude = "c/src/engines/squirrel/sq_prelude.h",
        .adapter_cpp = &.{"c/src/engines/squirrel/sq_vmext.cpp"},
        .internal_include = "squirrel",
        .cpp = true,
    },
};

const core_sources = [_][]const u8{
    "c/src/value.c",
    "c/src/fn.c",
    "c/src/wire.c",
    "c/src/codec.c",
    "c/src/runtime.c",
    "c/src/actor.c",
    "c/src/engines.c",
    "c/src/limits.c",
    "c/src/stack.c",
};

// What a context may reach and where its output goes (engines call it; the core files never include it).
const policy_sources = [_][]const u8{
    "c/src/policy/caps.c",
    "c/src/policy/path.c",
    "c/src/policy/output.c",
};

// The epoll I/O layer: sockets and timers (engines install its globals; the core files never include it).
const io_sources = [_][]const u8{
    "c/src/io/loop.c",
    "c/src/io/net.c",
    "c/src/io/natives.c",
    "c/src/io/ops.c",
};

const c_tests = [_][]const u8{
    "test_value",
    "test_wire",
    "test_codec",
    "test_lua",
    "test_actor",
    "test_duktape",
    "test_squirrel",
    "test_limits",
    "test_policy",
    "test_nesting",
    "test_io",
};

const c_warnings = [_][]const u8{ "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter" };
// -fno-semantic-interposition: calls between calog's own exported functions (calogValueFree, calogFnRelease,
// calogFail ...) bind directly and may be inlined, instead of going through the PLT of libcalog.so
const calog_flags = [_][]const u8{ "-std=c11", "-D_GNU_SOURCE", "-fvisibility=hidden", "-fno-semantic-interposition" } ++ c_warnings;
const engine_c_flags = [_][]const u8{ "-std=gnu99", "-fvisibility=hidden", "-w" };
const engine_cpp_flags = [_][]const u8{ "-std=c++11", "-fvisibility=hidden", "-fno-exceptions", "-w" };
const asan_header_inputs = [_][]const u8{ "c/include/calog.h", "c/src/internal.h", "c/src/stack.h", "c/src/engines/lua/lua_prelude.h", "c/src/engines/squirrel/sq_prelude.h", "c/src/wire.h", "c/src/codec.h", "c/src/policy/policy.h", "c/src/io/io.h", "c/src/io/io_impl.h", "c/src/engines/lua/lua_adapter.h", "c/src/engines/squirrel/sq_adapter.h", "c/src/engines/squirrel/sq_vmext.h", "c/src/engines/duktape/duk_adapter.h", "c/src/engines/duktape/duk_calog_config.h", "test/c/check.h", "test/c/enginetest.h", "test/c/memrace.h", "test/c/raisemarks.h" };
const calog_cpp_flags = [_][]const u8{ "-std=c++11", "-fvisibility=hidden", "-fvisibility-inlines-hidden", "-fno-semantic-interposition", "-fno-exceptions", "-fno-rtti" } ++ c_warnings;
const asan_cpp_lang = [_][]const u8{ "-x", "c++", "-std=c++11", "-fno-exceptions", "-fno-rtti" } ++ c_warnings;
const asan_c_lang = [_][]const u8{ "-x", "c", "-std=c11", "-D_GNU_SOURCE" } ++ c_warnings;
const asan_flags = [_][]const u8{ "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g", "-O1" };

// ---- bench (bench/README.md) --------------------------------------------------------------------
// Everything `zig build bench` makes, always ReleaseFast whatever -Doptimize says (the numbers are
// compared with zig-out/lib/libcalog.so, which .ci/setup builds ReleaseFast):
//   zig-out/lib/libcalogbench.so   bench/floor.c: the physical floor (no-op FFI call, C -> JS callback)
//   zig-out/bin/broker_bench       bench/broker_bench.c against a static libcalog from the same sources
//   zig-out/bin/lua-standalone     lua.c + the very Lua files, flags and defines libcalog compiles
fn addBench(b: *std.Build, target: std.Build.ResolvedTarget, deps: []const u8) void {
    const step = b.step("bench", "Build the bench-only artifacts (ReleaseFast): floor library, C microbenchmark, standalone Lua");
    const opt: std.builtin.OptimizeMode = .ReleaseFast;

    const floor_mod = b.createModule(.{ .target = target, .optimize = opt, .link_libc = true, .pic = true });
    floor_mod.addCSourceFiles(.{ .files = &bench_floor_sources, .flags = &calog_flags });
    const floor = b.addLibrary(.{ .name = "calogbench", .linkage = .dynamic, .root_module = floor_mod });
    step.dependOn(&b.addInstallArtifact(floor, .{}).step);

    const calog_static = b.addLibrary(.{
        .name = "calog-bench",
        .linkage = .static,
        .root_module = calogModule(b, target, opt, deps, .{}),
    });
    const lua = comptime for (engines) |e| {
        if (std.mem.eql(u8, e.dir, "lua")) break e;
    } else @compileError("bench: no lua engine in build.zig");
    const lua_inc = b.path(b.fmt("{s}/{s}/{s}", .{ deps, lua.dir, lua.include }));

    const any_cpp = comptime for (engines) |e| {
        if (e.cpp) break true;
    } else false; // the static libcalog may carry C++ engines (Squirrel): link their runtime too
    const bb_mod = b.createModule(.{ .target = target, .optimize = opt, .link_libc = true, .link_libcpp = any_cpp, .pic = true });
    bb_mod.addIncludePath(b.path("c/include"));
    bb_mod.addIncludePath(b.path("c/src"));
    bb_mod.addIncludePath(lua_inc);
    bb_mod.addCSourceFiles(.{ .files = &bench_broker_sources, .flags = &calog_flags });
    bb_mod.linkLibrary(calog_static);
    const bb = b.addExecutable(.{ .name = "broker_bench", .root_module = bb_mod });
    // link-time optimised like libcalog.so: the cross-file calls of a crossing are inlined there too, so the
    // instruction counts of bench/profile.sh are the shipped library's
    calog_static.lto = .full;
    bb.lto = .full;
    step.dependOn(&b.addInstallArtifact(bb, .{}).step);

    // Same module settings as calogModule (libc, PIC, no sanitizer in release), same file list, same flags.
    const lua_mod = b.createModule(.{ .target = target, .optimize = opt, .link_libc = true, .pic = true });
    lua_mod.addIncludePath(lua_inc);
    for ([_][]const []const u8{ lua.files, &bench_lua_main }) |files| lua_mod.addCSourceFiles(.{
        .root = b.path(b.fmt("{s}/{s}", .{ deps, lua.dir })),
        .files = files,
        .flags = &engine_c_flags ++ lua.defines,
    });
    lua_mod.linkSystemLibrary("m", .{});
    lua_mod.linkSystemLibrary("dl", .{});
    const lua_exe = b.addExecutable(.{ .name = "lua-standalone", .root_module = lua_mod });
    step.dependOn(&b.addInstallArtifact(lua_exe, .{}).step);
}

const bench_floor_sources = [_][]const u8{"bench/floor.c"};
const bench_broker_sources = [_][]const u8{"bench/broker_bench.c"};
const bench_lua_main = [_][]const u8{"src/lua.c"};

// ---- dist: prebuilt libraries as npm packages (README "Install") ---------------------------------
// One package per target, named @calog/<key>, selected by npm/bun through its os/cpu/libc fields from the
// main package's optionalDependencies (same version, read from package.json). Each holds the stripped
// ReleaseFast library with every engine and the C++ runtime inside (NEEDED: libc, libm, the loader only),
// plus a module whose default export is the library's path: `bun.js` imports it as a file so that
// `bun build --compile` embeds it, `index.js` names it next to itself for every other runtime.
// glibc targets are pinned to 2.27 (every distribution since 2018); musl links its one libc.so.
const DistTarget = struct { key: []const u8, query: []const u8, cpu: []const u8, libc: []const u8, label: []const u8 };

const dist_targets = [_]DistTarget{
    .{ .key = "linux-x64-gnu", .query = "x86_64-linux-gnu.2.27", .cpu = "x64", .libc = "glibc", .label = "Linux x64, glibc 2.27 or newer" },
    .{ .key = "linux-arm64-gnu", .query = "aarch64-linux-gnu.2.27", .cpu = "arm64", .libc = "glibc", .label = "Linux arm64, glibc 2.27 or newer" },
    .{ .key = "linux-x64-musl", .query = "x86_64-linux-musl", .cpu = "x64", .libc = "musl", .label = "Linux x64, musl (Alpine)" },
    .{ .key = "linux-arm64-musl", .query = "aarch64-linux-musl", .cpu = "arm64", .libc = "musl", .label = "Linux arm64, musl (Alpine)" },
};

/// The C tests cross-built by `dist-test`: the targets `zig build test` (native glibc) does not cover.
const dist_test_keys = [_][]const u8{ "linux-x64-musl", "linux-arm64-musl", "linux-arm64-gnu" };

fn addDist(b: *std.Build, deps: []const u8) void {
    const step = b.step("dist", "Build libcalog for every Linux target and lay out its npm package in zig-out/dist/");
    const test_step = b.step("dist-test", "Cross-build the C tests (ReleaseFast) for the musl and arm64 targets into zig-out/dist-test/");
    const version = packageVersion(b);
    for (dist_targets) |d| {
        const query = std.Target.Query.parse(.{ .arch_os_abi = d.query }) catch @panic("bad dist target query");
        const target = b.resolveTargetQuery(query);
        const dir = b.fmt("dist/{s}", .{d.key});

        const lib = b.addLibrary(.{
            .name = "calog",
            .linkage = .dynamic,
            .root_module = calogModule(b, target, .ReleaseFast, deps, .{ .strip = true }),
        });
        lib.setVersionScript(b.addWriteFiles().add("calog.map", "{ global: calog*; local: *; };\n"));
        lib.lto = .full;
        step.dependOn(&b.addInstallArtifact(lib, .{ .dest_dir = .{ .override = .{ .custom = dir } } }).step);

        const files = b.addWriteFiles();
        _ = files.add("package.json", b.fmt(dist_package_json, .{ d.key, version, d.label, d.cpu, d.libc }));
        _ = files.add("index.js", dist_index_js);
        _ = files.add("bun.js", dist_bun_js);
        _ = files.add("index.d.ts", dist_index_d_ts);
        _ = files.add("README.md", b.fmt(dist_readme, .{ d.key, d.label }));
        step.dependOn(&b.addInstallDirectory(.{ .source_dir = files.getDirectory(), .install_dir = .prefix, .install_subdir = dir }).step);

        for (dist_test_keys) |k| {
            if (std.mem.eql(u8, k, d.key)) addDistTests(b, test_step, target, deps, b.fmt("dist-test/{s}", .{d.key}));
        }
    }
}

/// The C tests against a static libcalog built exactly like the shipped one (ReleaseFast, no sanitizer),
/// installed rather than run: the check script runs them natively or under qemu-user.
fn addDistTests(b: *std.Build, step: *std.Build.Step, target: std.Build.ResolvedTarget, deps: []const u8, dir: []const u8) void {
    const lib = b.addLibrary(.{ .name = "calog-dist-test", .linkage = .static, .root_module = calogModule(b, target, .ReleaseFast, deps, .{}) });
    for (c_tests) |t| {
        const mod = b.createModule(.{ .target = target, .optimize = .ReleaseFast, .link_libc = true });
        mod.addIncludePath(b.path("c/include"));
        mod.addIncludePath(b.path("c/src"));
        mod.addIncludePath(b.path("test/c"));
        mod.addCSourceFiles(.{ .files = &.{b.fmt("test/c/{s}.c", .{t})}, .flags = &calog_flags });
        mod.linkLibrary(lib);
        const exe = b.addExecutable(.{ .name = t, .root_module = mod });
        step.dependOn(&b.addInstallArtifact(exe, .{ .dest_dir = .{ .override = .{ .custom = dir } } }).step);
    }
}

/// The version every package carries: package.json's, so the main package and its optionalDependencies agree.
fn packageVersion(b: *std.Build) []const u8 {
    const text = std.fs.cwd().readFileAlloc(b.allocator, b.pathFromRoot("package.json"), 1 << 20) catch |e| {
        std.debug.print("dist: cannot read package.json: {s}\n", .{@errorName(e)});
        std.process.exit(1);
    };
    const parsed = std.json.parseFromSliceLeaky(struct { version: []const u8 }, b.allocator, text, .{ .ignore_unknown_fields = true }) catch {
        std.debug.print("dist: package.json has no string \"version\"\n", .{});
        std.process.exit(1);
    };
    return parsed.version;
}

const dist_package_json =
    \\{{
    \\  "name": "@calog/{0s}",
    \\  "version": "{1s}",
    \\  "description": "libcalog.so for {2s}: the native library of calog, installed by calog as an optional dependency",
    \\  "license": "MIT",
    \\  "type": "module",
    \\  "os": ["linux"],
    \\  "cpu": ["{3s}"],
    \\  "libc": ["{4s}"],
    \\  "files": ["libcalog.so", "index.js", "bun.js", "index.d.ts", "README.md"],
    \\  "exports": {{
    \\    ".": {{ "types": "./index.d.ts", "bun": "./bun.js", "default": "./index.js" }}
    \\  }}
    \\}}
    \\
;
const dist_index_js =
    \\// The path of libcalog.so in this package.
    \\export default decodeURIComponent(new URL("./libcalog.so", import.meta.url).pathname);
    \\
;
const dist_bun_js =
    \\// The path of libcalog.so in this package, imported as a file so `bun build --compile` embeds it.
    \\import path from "./libcalog.so" with { type: "file" };
    \\export default path;
    \\
;
const dist_index_d_ts =
    \\/** The path of libcalog.so in this package. */
    \\declare const path: string;
    \\export default path;
    \\
;
const dist_readme =
    \\# @calog/{0s}
    \\
    \\The prebuilt native library of [calog](https://www.npmjs.com/package/calog) for {1s}.
    \\Install `calog`, not this package: it is an optional dependency that npm, Bun and Deno pick for this platform.
    \\
;
