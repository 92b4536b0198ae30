//! Uses the pagedrange package the way an application does: guest RAM
//! behind Zig callbacks, a request's segments collected by the builder,
//! bytes written and read back through them. Prints
//! "pagedrange VERSION: ok" and exits 0 when every check passed, else says
//! what failed and exits 1.

const std = @import("std");
const pr = @import("pagedrange");

const PS = pr.page_size;

fn fail(comptime fmt: []const u8, args: anytype) noreturn {
    std.debug.print("consumer: " ++ fmt ++ "\n", args);
    std.process.exit(1);
}

pub fn main() !void {
    // The library that runs is the one whose header the package compiled.
    var vbuf: [32]u8 = undefined;
    const header = try std.fmt.bufPrint(&vbuf, "{d}.{d}.{d}", .{ pr.header_version.major, pr.header_version.minor, pr.header_version.patch });
    if (!std.mem.eql(u8, pr.version(), header))
        fail("library {s}, header {s}", .{ pr.version(), header });

    var bytes: [8 * PS]u8 = @splat(0);
    var ram: pr.SliceRam = .{ .bytes = &bytes };
    var mem = try ram.memory();
    defer mem.deinit();

    // Two segments: 10 bytes across GPNs 1 -> 2, and 5 at GPN 6.
    var builder = try pr.Builder.init(null);
    defer builder.deinit();
    try builder.push(2 * PS - 5, 10, null);
    try builder.push(6 * PS, 5, null);
    var request = try builder.finish();
    defer request.deinit();
    if (request.count() != 2 or request.len() != 15)
        fail("builder made {d} windows of {d} bytes, want 2 of 15", .{ request.count(), request.len() });

    const msg = "hello, guest!!!";
    try request.write(mem, msg, null);
    if (!std.mem.eql(u8, bytes[2 * PS - 5 ..][0..10], msg[0..10]) or !std.mem.eql(u8, bytes[6 * PS ..][0..5], msg[10..]))
        fail("guest RAM does not hold the bytes written", .{});
    var back: [msg.len]u8 = undefined;
    try request.read(mem, &back, null);
    if (!std.mem.eql(u8, &back, msg)) fail("read back '{s}'", .{&back});

    // Errors arrive as the Zig error set, with the fault.
    var t: pr.Transfer = undefined;
    var far = try pr.Range.init(&.{100}, 0, 1);
    defer far.deinit();
    if (far.read(mem, back[0..1], &t)) |_| {
        fail("a read outside guest RAM succeeded", .{});
    } else |err| {
        if (err != error.Memory or t.fault_gpa != 100 * PS or t.fault_code != pr.SliceRam.out_of_bounds)
            fail("a read outside guest RAM gave {t}, gpa 0x{x}, code {d}", .{ err, t.fault_gpa, t.fault_code });
    }

    var out: [64]u8 = undefined;
    try std.fs.File.stdout().writeAll(try std.fmt.bufPrint(&out, "pagedrange {s}: ok\n", .{pr.version()}));
}
