//! Builds the Zig binding for pagedrange (Zig 0.15.2): the module
//! `pagedrange` that projects depending on this package import, and the
//! binding's tests.
//!
//!   zig build test [options]     run the binding's tests
//!
//! The module links the pagedrange C library (libpagedrange, as
//! `cmake --install` installs it), found through
//!   (default)               pkg-config `pagedrange`: set PKG_CONFIG_PATH to
//!                           PREFIX/lib/pkgconfig for a prefix pkg-config
//!                           does not search; without pkg-config,
//!                           -lpagedrange on the system's paths;
//!   -Dprefix=PREFIX         PREFIX/include and PREFIX/lib (the library's
//!                           install prefix, not zig build's --prefix);
//!   -Dinclude-dir=DIR, -Dlib-dir=DIR
//!                           the header's and the library's directories
//!                           (each overrides its half of -Dprefix).
//! Paths given on the command line are taken from the directory zig build
//! runs in. -Dlinkage=dynamic (default) links libpagedrange.so and records
//! its directory as RUNPATH (Zig does so for pkg-config's directory too),
//! so programs run without LD_LIBRARY_PATH; -Dlinkage=static links
//! libpagedrange.a and what the Rust code in it needs: Zig's bundled
//! libunwind (so no system libgcc_s), pthread, dl and m.
//! -Dlib-name=NAME links libNAME instead
//! (inside this repository, cargo's own output: -Dlib-name=pagedrange_ffi
//! -Dlib-dir=../../target/release -Dinclude-dir=../../include, as
//! scripts/test-zig.sh does).
//!
//! A project depending on this package passes the same options as
//! arguments, e.g. b.dependency("pagedrange", .{ .target = target,
//! .optimize = optimize, .prefix = "/opt/pagedrange", .linkage = .static })
//! (tests/zig-consumer/build.zig forwards options of its own).
//!
//! -Dvalgrind=true also runs the test binary under valgrind, failing on
//! memory errors and on leaked library handles.

const std = @import("std");

pub fn build(b: *std.Build) void {
    const target = b.standardTargetOptions(.{});
    const optimize = b.standardOptimizeOption(.{});
    const lib = libraryOptions(b);

    const mod = b.addModule("pagedrange", .{
        .root_source_file = b.path("src/pagedrange.zig"),
        .target = target,
        .optimize = optimize,
        .link_libc = true,
    });
    linkLibrary(b, mod, lib);

    const use_valgrind = b.option(bool, "valgrind", "Also run the tests under valgrind") orelse false;
    const test_step = b.step("test", "Run the binding's tests");

    // Every function of the C ABI through the wrapper, and the wrapper
    // checked against the header (one binary: a cold compile builds
    // libunwind and compiler_rt once).
    const api_mod = b.createModule(.{
        .root_source_file = b.path("src/tests.zig"),
        .target = target,
        .optimize = optimize,
        .link_libc = true,
        .imports = &.{.{ .name = "pagedrange", .module = mod }},
    });
    const api = b.addTest(.{ .name = "pagedrange-test", .root_module = api_mod });
    test_step.dependOn(&b.addRunArtifact(api).step);
    if (use_valgrind) test_step.dependOn(valgrindRun(b, api));
}

/// Where the C library comes from (see the file's comment).
const Library = struct {
    include_dir: ?std.Build.LazyPath,
    lib_dir: ?std.Build.LazyPath,
    name: []const u8,
    linkage: std.builtin.LinkMode,
};

fn libraryOptions(b: *std.Build) Library {
    const prefix = pathOption(b, "prefix", "Install prefix of the pagedrange library (PREFIX/include, PREFIX/lib); default: pkg-config");
    const include_dir = pathOption(b, "include-dir", "Directory holding pagedrange.h (overrides -Dprefix)");
    const lib_dir = pathOption(b, "lib-dir", "Directory holding the library (overrides -Dprefix)");
    return .{
        .include_dir = include_dir orelse if (prefix) |p| p.path(b, "include") else null,
        .lib_dir = lib_dir orelse if (prefix) |p| p.path(b, "lib") else null,
        .name = b.option([]const u8, "lib-name", "Link libNAME (default: pagedrange)") orelse "pagedrange",
        .linkage = b.option(std.builtin.LinkMode, "linkage", "Link the shared (default) or the static library") orelse .dynamic,
    };
}

/// A path option; a relative path from the command line is made absolute
/// (from the directory zig build runs in), since it may end up as RUNPATH.
fn pathOption(b: *std.Build, name: []const u8, description: []const u8) ?std.Build.LazyPath {
    const p = b.option(std.Build.LazyPath, name, description) orelse return null;
    return switch (p) {
        .cwd_relative => |s| .{ .cwd_relative = b.pathResolve(&.{ std.process.getCwdAlloc(b.allocator) catch @panic("OOM"), s }) },
        else => p,
    };
}

fn linkLibrary(b: *std.Build, mod: *std.Build.Module, lib: Library) void {
    if (lib.include_dir) |dir| mod.addIncludePath(dir);
    if (lib.lib_dir) |dir| {
        switch (lib.linkage) {
            // By file name: -l would take the .so that sits next to the .a.
            .static => mod.addObjectFile(dir.path(b, b.fmt("lib{s}.a", .{lib.name}))),
            .dynamic => {
                mod.addLibraryPath(dir);
                mod.addRPath(dir);
                mod.linkSystemLibrary(lib.name, .{ .use_pkg_config = .no, .search_strategy = .no_fallback });
            },
        }
    } else {
        mod.linkSystemLibrary(lib.name, .{
            .use_pkg_config = .yes,
            .preferred_link_mode = lib.linkage,
            .search_strategy = .no_fallback,
        });
    }
    if (lib.linkage == .static) {
        // The Rust standard library in the archive needs an unwinder
        // (`unwind` selects Zig's own) and these parts of libc.
        for ([_][]const u8{ "unwind", "pthread", "dl", "m" }) |name| mod.linkSystemLibrary(name, .{});
    }
}

/// Runs a test binary under valgrind, besides the native run: valgrind
/// cannot follow everything the tests check natively (a fault on a
/// PROT_NONE page is a memcheck error; the bytes done before a fault in
/// `rep movsb` come out one too many).
fn valgrindRun(b: *std.Build, t: *std.Build.Step.Compile) *std.Build.Step {
    const run = b.addSystemCommand(&.{
        "valgrind",           "-q",
        "--leak-check=full",  "--errors-for-leak-kinds=definite,indirect",
        "--error-exitcode=1",
    });
    run.setName(b.fmt("valgrind {s}", .{t.name}));
    run.has_side_effects = true; // run every time, as the native run does
    run.addArtifactArg(t);
    run.expectExitCode(0);
    return &run.step;
}
