//! Builds the Zig binding for pagedrange (Zig 0.15.2).
//!
//!   zig build test     run the binding's tests
//!
//! Needs the Rust library built first: `cargo build --release -p
//! pagedrange-ffi` at the repository root gives
//! target/release/libpagedrange_ffi.a (the archive CMake installs as
//! libpagedrange.a). The binding links
//! that static archive (not the .so): the test binary then needs no
//! libpagedrange.so.0 on the loader path (no rpath, no LD_LIBRARY_PATH) and
//! always runs the library just built. Zig's bundled libunwind provides the
//! unwinder the Rust standard library references (`-lunwind` selects it;
//! no system libgcc_s is needed), and libc provides pthread, dl and m.
//!
//! Options: -Dinclude-dir=DIR (pagedrange.h) and -Dlib-dir=DIR
//! (libpagedrange.a) override the in-tree defaults (relative paths are
//! taken from this directory); -Dvalgrind=true runs the test binaries under
//! valgrind, failing on memory errors and on leaked library handles.

const std = @import("std");

pub fn build(b: *std.Build) void {
    const target = b.standardTargetOptions(.{});
    const optimize = b.standardOptimizeOption(.{});

    const include_dir = pathOption(b, "include-dir", "directory holding pagedrange.h", "../../include");
    const lib_dir = pathOption(b, "lib-dir", "directory holding the static library", "../../target/release");
    const lib_name = b.option([]const u8, "lib-name", "file name of the static library") orelse "libpagedrange_ffi.a";

    const mod = b.addModule("pagedrange", .{
        .root_source_file = b.path("src/pagedrange.zig"),
        .target = target,
        .optimize = optimize,
        .link_libc = true,
    });
    mod.addIncludePath(include_dir);
    mod.addObjectFile(lib_dir.path(b, lib_name));
    mod.linkSystemLibrary("unwind", .{});
    for ([_][]const u8{ "pthread", "dl", "m" }) |name| mod.linkSystemLibrary(name, .{});

    const use_valgrind = b.option(bool, "valgrind", "Run the tests under valgrind") orelse false;
    const test_step = b.step("test", "Run the binding's tests");

    // Every operation of the C ABI through the wrapper (one binary: a cold
    // compile builds libunwind and compiler_rt once).
    const api_mod = b.createModule(.{
        .root_source_file = b.path("src/tests.zig"),
        .target = target,
        .optimize = optimize,
        .link_libc = true,
        .imports = &.{.{ .name = "pagedrange", .module = mod }},
    });
    const api = b.addTest(.{ .name = "pagedrange-test", .root_module = api_mod });
    test_step.dependOn(runTest(b, api, use_valgrind));
}

fn runTest(b: *std.Build, t: *std.Build.Step.Compile, use_valgrind: bool) *std.Build.Step {
    if (!use_valgrind) return &b.addRunArtifact(t).step;
    const run = b.addSystemCommand(&.{
        "valgrind",           "-q",
        "--leak-check=full",  "--errors-for-leak-kinds=definite,indirect",
        "--error-exitcode=1",
    });
    run.setName(b.fmt("valgrind {s}", .{t.name}));
    run.addArtifactArg(t);
    run.expectExitCode(0);
    return &run.step;
}

fn pathOption(b: *std.Build, name: []const u8, desc: []const u8, default: []const u8) std.Build.LazyPath {
    if (b.option([]const u8, name, desc)) |p| {
        return if (std.fs.path.isAbsolute(p)) .{ .cwd_relative = p } else b.path(p);
    }
    return b.path(default);
}
