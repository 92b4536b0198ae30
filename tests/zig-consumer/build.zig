//! A Zig project that uses pagedrange's Zig package, as a project outside
//! the repository would. scripts/test-zig.sh copies it (with the package)
//! out of the tree and builds it against an installed library:
//!
//!   zig build run                              pkg-config finds pagedrange
//!   zig build run -Dpagedrange-prefix=PREFIX   the prefix `cmake --install` used
//!   ... -Dpagedrange-linkage=static            libpagedrange.a, not the .so
//!
//! The options are this project's own, passed on to the package.

const std = @import("std");

pub fn build(b: *std.Build) void {
    const target = b.standardTargetOptions(.{});
    const optimize = b.standardOptimizeOption(.{});
    const pagedrange = b.dependency("pagedrange", .{
        .target = target,
        .optimize = optimize,
        .prefix = b.option(std.Build.LazyPath, "pagedrange-prefix", "Install prefix of the pagedrange library (default: pkg-config)"),
        .linkage = b.option(std.builtin.LinkMode, "pagedrange-linkage", "Link the shared (default) or the static library"),
    });

    const exe = b.addExecutable(.{
        .name = "consumer",
        .root_module = b.createModule(.{
            .root_source_file = b.path("src/main.zig"),
            .target = target,
            .optimize = optimize,
            .imports = &.{.{ .name = "pagedrange", .module = pagedrange.module("pagedrange") }},
        }),
    });
    b.installArtifact(exe);
    const run = b.addRunArtifact(exe);
    b.step("run", "Run the consumer").dependOn(&run.step);
}
