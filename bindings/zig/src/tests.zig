//! Tests of the Zig binding: every operation of the C ABI through the
//! wrapper, against guest RAM simulated by a Zig byte slice whose callbacks
//! log every call and can be made to fail at a chosen guest address. Bytes
//! are checked against a reference copy of guest RAM updated by a model of
//! what each call should do.

const std = @import("std");
const builtin = @import("builtin");
const pr = @import("pagedrange");

const testing = std.testing;
const expect = testing.expect;
const expectEqual = testing.expectEqual;
const expectError = testing.expectError;
const expectEqualSlices = testing.expectEqualSlices;

const PS = pr.page_size;
const PAGES = 64;
const max_usize = std.math.maxInt(usize);

// The coalescing example: GPNs {7,8,9,20,21,5}, offset 100, 5 pages long,
// in three physically contiguous runs.
const GPNS = [_]u64{ 7, 8, 9, 20, 21, 5 };
const OFF: usize = 100;
const LEN: usize = 5 * PS;
const RUN0: u64 = 7 * PS + 100;
const RUN0_LEN: usize = 3 * PS - 100;
const RUN1: u64 = 20 * PS;
const RUN1_LEN: usize = 2 * PS;
const RUN2: u64 = 5 * PS;
const RUN2_LEN: usize = 100;

// ---------------------------------------------------------------------------
// Simulated guest RAM
// ---------------------------------------------------------------------------

const Op = enum { read, write, fill };
const Call = struct { op: Op, gpa: u64, len: usize };

/// Guest pages 0 .. PAGES-1 in a byte slice. Every callback call is logged.
/// A call whose bytes include `fail_gpa` returns `fail_code` and touches
/// nothing; an access outside the slice returns `efault`.
const TestRam = struct {
    bytes: []u8,
    calls: [512]Call = undefined,
    n_calls: usize = 0,
    fail_gpa: ?u64 = null,
    fail_code: c_int = 0,

    const efault: c_int = -14;

    fn init(gpa: std.mem.Allocator) !TestRam {
        const bytes = try gpa.alloc(u8, PAGES * PS);
        pattern(bytes, 0x5eed);
        return .{ .bytes = bytes };
    }

    fn deinit(self: *TestRam, gpa: std.mem.Allocator) void {
        gpa.free(self.bytes);
    }

    fn log(self: *TestRam) []const Call {
        return self.calls[0..@min(self.n_calls, self.calls.len)];
    }

    fn resetLog(self: *TestRam) void {
        self.n_calls = 0;
    }

    /// The slice for `gpa .. gpa+len`, or the code to fail the call with.
    fn access(self: *TestRam, op: Op, gpa: u64, len: usize) union(enum) { ok: []u8, fail: c_int } {
        if (self.n_calls < self.calls.len) self.calls[self.n_calls] = .{ .op = op, .gpa = gpa, .len = len };
        self.n_calls += 1;
        if (len == 0) return .{ .fail = -999 }; // the library never asks for 0 bytes
        if (self.fail_gpa) |f| {
            if (f >= gpa and f - gpa < len) return .{ .fail = self.fail_code };
        }
        if (gpa > self.bytes.len or len > self.bytes.len - gpa) return .{ .fail = efault };
        const s: usize = @intCast(gpa);
        return .{ .ok = self.bytes[s .. s + len] };
    }

    pub fn read(self: *TestRam, gpa: u64, dst: []u8) c_int {
        switch (self.access(.read, gpa, dst.len)) {
            .ok => |w| @memcpy(dst, w),
            .fail => |code| return code,
        }
        return 0;
    }

    pub fn write(self: *TestRam, gpa: u64, src: []const u8) c_int {
        switch (self.access(.write, gpa, src.len)) {
            .ok => |w| @memcpy(w, src),
            .fail => |code| return code,
        }
        return 0;
    }

    pub fn fill(self: *TestRam, gpa: u64, value: u8, len: usize) c_int {
        switch (self.access(.fill, gpa, len)) {
            .ok => |w| @memset(w, value),
            .fail => |code| return code,
        }
        return 0;
    }
};

/// The same RAM without a fill method: fills go through `write`.
const NoFillRam = struct {
    ram: *TestRam,
    pub fn read(self: *NoFillRam, gpa: u64, dst: []u8) c_int {
        return self.ram.read(gpa, dst);
    }
    pub fn write(self: *NoFillRam, gpa: u64, src: []const u8) c_int {
        return self.ram.write(gpa, src);
    }
};

/// Guest RAM, the reference it is checked against, and two memories over
/// it (with and without a fill callback).
const Fixture = struct {
    ram: TestRam,
    ref: []u8,
    nofill: NoFillRam,
    mem: pr.Memory,
    mem_nofill: pr.Memory,

    /// Heap-allocated so the callback context pointers stay put.
    fn create() !*Fixture {
        const f = try testing.allocator.create(Fixture);
        errdefer testing.allocator.destroy(f);
        f.ram = try TestRam.init(testing.allocator);
        errdefer f.ram.deinit(testing.allocator);
        f.ref = try testing.allocator.dupe(u8, f.ram.bytes);
        errdefer testing.allocator.free(f.ref);
        f.nofill = .{ .ram = &f.ram };
        f.mem = try pr.Memory.initCallbacks(&f.ram);
        errdefer f.mem.deinit();
        f.mem_nofill = try pr.Memory.initCallbacks(&f.nofill);
        return f;
    }

    fn destroy(f: *Fixture) void {
        f.mem_nofill.deinit();
        f.mem.deinit();
        testing.allocator.free(f.ref);
        f.ram.deinit(testing.allocator);
        testing.allocator.destroy(f);
    }

    /// Guest RAM holds exactly what the model says.
    fn checkRam(f: *Fixture) !void {
        try expectEqualSlices(u8, f.ref, f.ram.bytes);
    }

    fn modelWrite(f: *Fixture, gpns: []const u64, offset: usize, src: []const u8) void {
        for (src, 0..) |b, i| f.ref[gpaOf(gpns, offset, i)] = b;
    }

    fn modelFill(f: *Fixture, gpns: []const u64, offset: usize, value: u8, len: usize) void {
        for (0..len) |i| f.ref[gpaOf(gpns, offset, i)] = value;
    }

    /// The model's bytes of a window.
    fn modelRead(f: *Fixture, gpns: []const u64, offset: usize, dst: []u8) void {
        for (dst, 0..) |*b, i| b.* = f.ref[gpaOf(gpns, offset, i)];
    }
};

/// Guest address of byte `i` of the window `offset..` over `gpns`.
fn gpaOf(gpns: []const u64, offset: usize, i: usize) usize {
    const flat = offset + i;
    return @intCast(gpns[flat / PS] * PS + flat % PS);
}

/// Deterministic non-repeating-looking bytes.
fn pattern(buf: []u8, seed: u64) void {
    var x: u64 = seed *% 0x9E3779B97F4A7C15 | 1;
    for (buf) |*b| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        b.* = @truncate(x >> 24);
    }
}

fn expectLog(ram: *TestRam, op: Op, want: []const [2]u64) !void {
    const log = ram.log();
    try expectEqual(want.len, ram.n_calls);
    for (want, log) |w, got| {
        try expectEqual(op, got.op);
        try expectEqual(w[0], got.gpa);
        try expectEqual(@as(usize, @intCast(w[1])), got.len);
    }
}

const ALL_RUNS = [_][2]u64{ .{ RUN0, RUN0_LEN }, .{ RUN1, RUN1_LEN }, .{ RUN2, RUN2_LEN } };

fn garbage() pr.Transfer {
    return .{ .done = 0xA5A5, .fault_gpa = 0xA5A5, .fault_code = 0x5A5A };
}

fn expectTransfer(t: pr.Transfer, done: usize, fault_gpa: u64, fault_code: c_int) !void {
    try expectEqual(done, t.done);
    try expectEqual(fault_gpa, t.fault_gpa);
    try expectEqual(fault_code, t.fault_code);
}

/// The `fault_code` of one of the library's own faults.
fn faultCode(f: pr.FaultCode) c_int {
    return @intFromEnum(f);
}

fn sample() !pr.Range {
    return pr.Range.init(&GPNS, OFF, LEN);
}

// ---------------------------------------------------------------------------
// Status codes and version
// ---------------------------------------------------------------------------

test "every declaration of the wrapper compiles" {
    std.testing.refAllDecls(pr);
    inline for (.{ pr.FaultCode, pr.Memory, pr.SliceRam, pr.Range, pr.Ranges, pr.Builder, pr.Reader, pr.Writer, pr.ChainRule, pr.ChainWalker }) |T|
        std.testing.refAllDecls(T);
}

// ---------------------------------------------------------------------------
// The binding against the header: these read the header's declarations as
// translate-c gives them (`pr.c`), so a function, status or rule added to
// the header fails them until the binding has it.
// ---------------------------------------------------------------------------

/// The header's declarations whose names start with `prefix`: its
/// functions (`want_fn`) or its other values (the #define constants).
fn headerNames(comptime prefix: []const u8, comptime want_fn: bool) []const []const u8 {
    comptime {
        @setEvalBranchQuota(1_000_000);
        var names: []const []const u8 = &.{};
        for (@typeInfo(pr.c).@"struct".decls) |d| {
            if (!std.mem.startsWith(u8, d.name, prefix)) continue;
            const T = @TypeOf(@field(pr.c, d.name));
            if (T == type) continue; // a struct or typedef
            if ((@typeInfo(T) == .@"fn") == want_fn) names = names ++ .{d.name};
        }
        return names;
    }
}

fn isIdentChar(ch: u8) bool {
    return std.ascii.isAlphanumeric(ch) or ch == '_';
}

/// Whether Zig `source` names `c.<name>` (a call, or the function passed to
/// a helper) outside `//` comments.
fn referencesC(source: []const u8, name: []const u8) bool {
    var lines = std.mem.splitScalar(u8, source, '\n');
    while (lines.next()) |line| {
        const code = line[0 .. std.mem.indexOf(u8, line, "//") orelse line.len];
        var at: usize = 0;
        while (std.mem.indexOfPos(u8, code, at, "c.")) |i| : (at = i + 2) {
            if (i > 0 and isIdentChar(code[i - 1])) continue; // abc.name
            const rest = code[i + 2 ..];
            if (std.mem.startsWith(u8, rest, name) and (rest.len == name.len or !isIdentChar(rest[name.len])))
                return true;
        }
    }
    return false;
}

test "the header scan sees functions and constants, and the reference scan can fail" {
    const fns = comptime headerNames("pr_", true);
    const has = struct {
        fn f(list: []const []const u8, name: []const u8) bool {
            for (list) |n| if (std.mem.eql(u8, n, name)) return true;
            return false;
        }
    }.f;
    try expect(has(fns, "pr_range_new") and has(fns, "pr_version") and has(fns, "pr_chain_walker_walk"));
    try expect(!has(fns, "pr_range") and !has(fns, "pr_status")); // types
    const errs = comptime headerNames("PR_ERR_", false);
    try expect(has(errs, "PR_ERR_NULL_ARGUMENT") and !has(errs, "PR_OK"));

    try expect(referencesC("    try check(c.pr_range_new(p, n, &out));", "pr_range_new"));
    try expect(referencesC("fill(c.pr_range_address_ranges, h, buf)", "pr_range_address_ranges"));
    try expect(referencesC("x\n    return c.pr_version;\n", "pr_version"));
    try expect(!referencesC("// c.pr_range_new(p)", "pr_range_new"));
    try expect(!referencesC("x = 1; // see c.pr_range_new", "pr_range_new"));
    try expect(!referencesC("c.pr_range_newer(p)", "pr_range_new"));
    try expect(!referencesC("abc.pr_range_new(p)", "pr_range_new"));
    try expect(!referencesC("pr_range_new(p)", "pr_range_new"));
}

test "the binding calls every function of the header" {
    const source = @embedFile("pagedrange.zig");
    var missing: usize = 0;
    inline for (comptime headerNames("pr_", true)) |name| {
        if (!referencesC(source, name)) {
            std.debug.print("src/pagedrange.zig does not wrap {s}\n", .{name});
            missing += 1;
        }
    }
    try expectEqual(@as(usize, 0), missing);
}

test "every PR_ERR_* code of the header has its own error, and every error its code" {
    const names = comptime headerNames("PR_ERR_", false);
    var errs: [names.len]pr.Error = undefined;
    inline for (names, 0..) |name, i| {
        const code: pr.Status = @field(pr.c, name);
        errs[i] = if (pr.check(code)) |_| return error.TestUnexpectedResult else |e| e;
        if (errs[i] == error.UnknownStatus) {
            std.debug.print("{s} ({d}) has no error in pr.Error\n", .{ name, code });
            return error.TestUnexpectedResult;
        }
        try expectEqual(@as(?pr.Status, code), pr.statusOf(errs[i]));
        try expect(!std.mem.eql(u8, pr.statusStr(code), pr.statusStr(std.math.maxInt(pr.Status))));
        for (errs[0..i]) |prev| try expect(prev != errs[i]);
    }
    // And back: each error but UnknownStatus stands for a code of the header.
    inline for (@typeInfo(pr.Error).error_set.?) |e| {
        const err = @field(pr.Error, e.name);
        if (err != error.UnknownStatus) {
            const code = pr.statusOf(err) orelse return error.TestUnexpectedResult;
            try expect(std.mem.indexOfScalar(pr.Error, &errs, err) != null);
            try expectError(err, pr.check(code));
        }
    }
    try expectEqual(names.len + 1, @typeInfo(pr.Error).error_set.?.len);

    try pr.check(pr.c.PR_OK);
    try expectEqual(@as(?pr.Status, null), pr.statusOf(error.UnknownStatus));
    try expectError(error.UnknownStatus, pr.check(std.math.maxInt(pr.Status)));
    try expectError(error.UnknownStatus, pr.check(names.len + 1000));
}

/// Every header constant starting with `prefix` is the value of a tag of
/// `E`, and every tag's value is one of them.
fn expectEnumIsHeader(comptime E: type, comptime prefix: []const u8) !void {
    const names = comptime headerNames(prefix, false);
    const tags = @typeInfo(E).@"enum".fields;
    inline for (names) |name| {
        if (std.enums.tagName(E, @enumFromInt(@field(pr.c, name))) == null) {
            std.debug.print("{s} has no tag in {s}\n", .{ name, @typeName(E) });
            return error.TestUnexpectedResult;
        }
    }
    inline for (tags) |tag| {
        var found = false;
        inline for (names) |name| found = found or @field(pr.c, name) == tag.value;
        if (!found) {
            std.debug.print("{s}.{s} is no {s}* constant of the header\n", .{ @typeName(E), tag.name, prefix });
            return error.TestUnexpectedResult;
        }
    }
    try expectEqual(names.len, tags.len);
}

test "ChainRule and FaultCode have the header's PR_CHAIN_* and PR_FAULT_* values, and only those" {
    try expectEnumIsHeader(pr.ChainRule, "PR_CHAIN_");
    try expectEnumIsHeader(pr.FaultCode, "PR_FAULT_");
    const unknown = pr.ChainRule.describe(@enumFromInt(std.math.maxInt(u32)));
    inline for (@typeInfo(pr.ChainRule).@"enum".fields) |tag|
        try expect(!std.mem.eql(u8, @field(pr.ChainRule, tag.name).describe(), unknown));
}

test "version string matches the header" {
    var buf: [32]u8 = undefined;
    const want = try std.fmt.bufPrint(&buf, "{d}.{d}.{d}", .{ pr.header_version.major, pr.header_version.minor, pr.header_version.patch });
    try testing.expectEqualStrings(want, pr.version());
}

// ---------------------------------------------------------------------------
// Range
// ---------------------------------------------------------------------------

test "range new: len, offset, covered gpns" {
    var r = try sample();
    defer r.deinit();
    try expectEqual(LEN, r.len());
    try expectEqual(OFF, r.offset());
    try expectEqualSlices(u64, &GPNS, r.gpns());

    // An offset beyond the first page drops the pages before it.
    var r2 = try pr.Range.init(&GPNS, PS + 10, 20);
    defer r2.deinit();
    try expectEqual(@as(usize, 10), r2.offset());
    try expectEqual(@as(usize, 20), r2.len());
    try expectEqualSlices(u64, &.{8}, r2.gpns());

    // A window ending on a page boundary does not cover the next page.
    var r3 = try pr.Range.init(&GPNS, 0, 2 * PS);
    defer r3.deinit();
    try expectEqualSlices(u64, &.{ 7, 8 }, r3.gpns());

    // The list is copied: changing the caller's array changes nothing.
    var mine = GPNS;
    var r4 = try pr.Range.init(&mine, 0, PS);
    defer r4.deinit();
    mine[0] = 33;
    try expectEqualSlices(u64, &.{7}, r4.gpns());

    var e = try pr.Range.empty();
    defer e.deinit();
    try expectEqual(@as(usize, 0), e.len());
    try expectEqual(@as(usize, 0), e.gpns().len);
}

test "range new rejects a GPN above 2^52-1 in the window" {
    try expectEqual(@as(u64, (1 << 52) - 1), pr.max_gpn);
    try expectError(error.InvalidGpn, pr.Range.init(&.{pr.max_gpn + 1}, 0, 1));
    try expectError(error.InvalidGpn, pr.Range.init(&.{std.math.maxInt(u64)}, 0, PS));
    try expectError(error.InvalidGpn, pr.Range.init(&.{ 1, 2, pr.max_gpn + 1 }, 0, 3 * PS));
    // The last byte of the top page is not addressable (its end is 2^64).
    try expectError(error.InvalidGpn, pr.Range.init(&.{pr.max_gpn}, 0, PS));
    try expectError(error.InvalidGpn, pr.Range.init(&.{pr.max_gpn}, PS - 1, 1));
    // Everything before it is.
    var top = try pr.Range.init(&.{pr.max_gpn}, 0, PS - 1);
    defer top.deinit();
    var runs: [1]pr.AddressRange = undefined;
    try expectEqual(@as(usize, 1), try top.addressRangesInto(&runs));
    try expectEqual(pr.max_gpn * PS, runs[0].start);
    try expectEqual(std.math.maxInt(u64), runs[0].end);
}

test "range new rejects offset+len overflow and windows past the pages" {
    try expectError(error.OutOfRange, pr.Range.init(&GPNS, max_usize, 1));
    try expectError(error.OutOfRange, pr.Range.init(&GPNS, 1, max_usize));
    try expectError(error.OutOfRange, pr.Range.init(&GPNS, max_usize, max_usize));
    try expectError(error.OutOfRange, pr.Range.init(&GPNS, 0, GPNS.len * PS + 1));
    try expectError(error.OutOfRange, pr.Range.init(&GPNS, GPNS.len * PS, 1));
    try expectError(error.OutOfRange, pr.Range.init(&.{}, 0, 1));
    var full = try pr.Range.init(&GPNS, 0, GPNS.len * PS);
    full.deinit();
}

test "range clone shares the window and outlives the original" {
    const f = try Fixture.create();
    defer f.destroy();
    var r = try sample();
    var c = try r.clone();
    defer c.deinit();
    try expectEqual(r.len(), c.len());
    try expectEqual(r.offset(), c.offset());
    try expectEqualSlices(u64, r.gpns(), c.gpns());
    // Skipping the clone leaves the original alone.
    try c.skip(10);
    try expectEqual(LEN, r.len());
    try expectEqual(LEN - 10, c.len());
    r.deinit();
    // The clone still reads the right bytes after the original is gone.
    var got: [300]u8 = undefined;
    var want: [300]u8 = undefined;
    try c.read(f.mem, &got, null);
    f.modelRead(&GPNS, OFF + 10, &want);
    try expectEqualSlices(u8, &want, &got);
}

test "range subrange" {
    var r = try sample();
    defer r.deinit();
    var s = try r.subrange(3900, 200); // bytes 4000..4200 of the page list
    defer s.deinit();
    try expectEqual(@as(usize, 200), s.len());
    try expectEqual(@as(usize, 4000), s.offset());
    try expectEqualSlices(u64, &.{ 7, 8 }, s.gpns());
    var tail = try r.subrange(LEN - 1, 1);
    defer tail.deinit();
    try expectEqualSlices(u64, &.{5}, tail.gpns());
    try expectEqual(@as(usize, 99), tail.offset());
    var none = try r.subrange(LEN, 0);
    none.deinit();

    try expectError(error.OutOfRange, r.subrange(max_usize, 1));
    try expectError(error.OutOfRange, r.subrange(1, max_usize));
    try expectError(error.OutOfRange, r.subrange(LEN, 1));
    try expectError(error.OutOfRange, r.subrange(0, LEN + 1));
    try expectEqual(LEN, r.len());
}

test "range skip and truncate in place" {
    var r = try sample();
    defer r.deinit();
    try r.skip(3 * PS - 100); // to the start of GPN 20
    try expectEqual(@as(usize, 0), r.offset());
    try expectEqual(LEN - (3 * PS - 100), r.len());
    try expectEqualSlices(u64, &.{ 20, 21, 5 }, r.gpns());
    try r.truncate(PS + 1);
    try expectEqual(PS + 1, r.len());
    try expectEqualSlices(u64, &.{ 20, 21 }, r.gpns());

    // Errors leave the range unchanged.
    try expectError(error.OutOfRange, r.skip(PS + 2));
    try expectError(error.OutOfRange, r.skip(max_usize));
    try expectError(error.OutOfRange, r.truncate(PS + 2));
    try expectError(error.OutOfRange, r.truncate(max_usize));
    try expectEqual(PS + 1, r.len());
    try expectEqualSlices(u64, &.{ 20, 21 }, r.gpns());

    try r.skip(PS + 1);
    try expectEqual(@as(usize, 0), r.len());
    try r.truncate(0);
}

test "range split" {
    var r = try sample();
    defer r.deinit();
    var parts = try r.split(5000);
    defer parts.front.deinit();
    defer parts.back.deinit();
    try expectEqual(@as(usize, 5000), parts.front.len());
    try expectEqual(OFF, parts.front.offset());
    try expectEqualSlices(u64, &.{ 7, 8 }, parts.front.gpns());
    try expectEqual(LEN - 5000, parts.back.len());
    try expectEqual((OFF + 5000) % PS, parts.back.offset());
    try expectEqualSlices(u64, &.{ 8, 9, 20, 21, 5 }, parts.back.gpns());
    try expectEqual(LEN, r.len()); // unchanged

    var ends = try r.split(LEN);
    defer ends.front.deinit();
    defer ends.back.deinit();
    try expectEqual(LEN, ends.front.len());
    try expectEqual(@as(usize, 0), ends.back.len());

    try expectError(error.OutOfRange, r.split(LEN + 1));
    try expectError(error.OutOfRange, r.split(max_usize));
}

test "range address ranges" {
    var r = try sample();
    defer r.deinit();
    try expectEqual(@as(usize, 3), try r.addressRangeCount());

    var buf: [4]pr.AddressRange = undefined;
    try expectEqual(@as(usize, 3), try r.addressRangesInto(&buf));
    for (ALL_RUNS, buf[0..3]) |want, got| {
        try expectEqual(want[0], got.start);
        try expectEqual(want[0] + want[1], got.end);
    }

    // Too short: the first runs are written, the error says so.
    var one = [_]pr.AddressRange{.{ .start = 1, .end = 1 }};
    try expectError(error.BufferTooSmall, r.addressRangesInto(&one));
    try expectEqual(pr.AddressRange{ .start = RUN0, .end = RUN0 + RUN0_LEN }, one[0]);

    const owned = try r.addressRanges(testing.allocator);
    defer testing.allocator.free(owned);
    try expectEqualSlices(pr.AddressRange, buf[0..3], owned);

    var e = try pr.Range.empty();
    defer e.deinit();
    try expectEqual(@as(usize, 0), try e.addressRangeCount());
    try expectEqual(@as(usize, 0), try e.addressRangesInto(&.{}));
}

test "range gpns report the pages of the window only" {
    var r = try pr.Range.init(&.{ 40, 41, 42, 43 }, PS + PS / 2, PS);
    defer r.deinit();
    try expectEqualSlices(u64, &.{ 41, 42 }, r.gpns());
    const runs = try r.addressRanges(testing.allocator);
    defer testing.allocator.free(runs);
    try expectEqual(@as(usize, 1), runs.len);
    try expectEqual(pr.AddressRange{ .start = 41 * PS + PS / 2, .end = 42 * PS + PS / 2 }, runs[0]);
}

test "range write and read: every byte, one callback per run" {
    const f = try Fixture.create();
    defer f.destroy();
    var r = try sample();
    defer r.deinit();
    var src: [LEN]u8 = undefined;
    var dst: [LEN]u8 = undefined;
    pattern(&src, 2);

    var t = garbage();
    f.ram.resetLog();
    try r.write(f.mem, &src, &t);
    try expectTransfer(t, LEN, 0, 0);
    try expectLog(&f.ram, .write, &ALL_RUNS);
    f.modelWrite(&GPNS, OFF, &src);
    try f.checkRam();

    t = garbage();
    f.ram.resetLog();
    @memset(&dst, 0);
    try r.read(f.mem, &dst, &t);
    try expectTransfer(t, LEN, 0, 0);
    try expectLog(&f.ram, .read, &ALL_RUNS);
    try expectEqualSlices(u8, &src, &dst);

    // A prefix: only the first len bytes, only the runs they touch.
    f.ram.resetLog();
    pattern(&src, 3);
    try r.write(f.mem, src[0 .. RUN0_LEN + 1], &t);
    try expectEqual(RUN0_LEN + 1, t.done);
    try expectLog(&f.ram, .write, &.{ .{ RUN0, RUN0_LEN }, .{ RUN1, 1 } });
    f.modelWrite(&GPNS, OFF, src[0 .. RUN0_LEN + 1]);
    try f.checkRam();

    f.ram.resetLog();
    try r.read(f.mem, dst[0..5000], null);
    try expectLog(&f.ram, .read, &.{.{ RUN0, 5000 }});
    try expectEqualSlices(u8, src[0..5000], dst[0..5000]);

    // Zero bytes: no callback.
    f.ram.resetLog();
    try r.read(f.mem, dst[0..0], &t);
    try r.write(f.mem, src[0..0], &t);
    try expectEqual(@as(usize, 0), t.done);
    try expectEqual(@as(usize, 0), f.ram.n_calls);
}

test "range fill: fill callback per run, or write pieces of at most 4 KiB" {
    const f = try Fixture.create();
    defer f.destroy();
    var r = try sample();
    defer r.deinit();
    var t = garbage();

    f.ram.resetLog();
    try r.fill(f.mem, 0xAB, RUN0_LEN + 812, &t);
    try expectTransfer(t, RUN0_LEN + 812, 0, 0);
    try expectLog(&f.ram, .fill, &.{ .{ RUN0, RUN0_LEN }, .{ RUN1, 812 } });
    f.modelFill(&GPNS, OFF, 0xAB, RUN0_LEN + 812);
    try f.checkRam();

    // Without a fill callback: writes, contiguous, each at most 4 KiB,
    // ceil(run/4096) per run.
    t = garbage();
    f.ram.resetLog();
    try r.fill(f.mem_nofill, 0xCD, LEN, &t);
    try expectTransfer(t, LEN, 0, 0);
    f.modelFill(&GPNS, OFF, 0xCD, LEN);
    try f.checkRam();
    const log = f.ram.log();
    try expectEqual(@as(usize, 3 + 2 + 1), log.len);
    var i: usize = 0;
    for (ALL_RUNS) |run| {
        var at = run[0];
        const end = run[0] + run[1];
        const pieces = (run[1] + PS - 1) / PS;
        for (0..pieces) |_| {
            try expectEqual(Op.write, log[i].op);
            try expectEqual(at, log[i].gpa);
            try expect(log[i].len > 0 and log[i].len <= PS);
            at += log[i].len;
            i += 1;
        }
        try expectEqual(end, at);
    }

    f.ram.resetLog();
    try r.fill(f.mem, 0x11, 0, &t);
    try expectEqual(@as(usize, 0), f.ram.n_calls);
}

test "range transfers longer than the window fail before any callback" {
    const f = try Fixture.create();
    defer f.destroy();
    var r = try sample();
    defer r.deinit();
    var big: [LEN + 1]u8 = undefined;
    pattern(&big, 4);
    var t = garbage();
    f.ram.resetLog();
    try expectError(error.OutOfRange, r.write(f.mem, &big, &t));
    try expectEqual(@as(usize, 0), t.done);
    try expectError(error.OutOfRange, r.read(f.mem, &big, &t));
    try expectError(error.OutOfRange, r.fill(f.mem, 0xFF, LEN + 1, &t));
    try expectError(error.OutOfRange, r.fill(f.mem, 0, max_usize, null));
    try expectError(error.OutOfRange, r.fill(f.mem_nofill, 0, max_usize, null));
    try expectEqual(@as(usize, 0), f.ram.n_calls);
    try f.checkRam();
}

test "range callback failure in the middle of a multi-run transfer" {
    const f = try Fixture.create();
    defer f.destroy();
    var r = try sample();
    defer r.deinit();
    var src: [LEN]u8 = undefined;
    pattern(&src, 7);

    // Fail any call touching the 10th byte of the second run.
    f.ram.fail_gpa = RUN1 + 10;
    f.ram.fail_code = 42;

    var t = garbage();
    f.ram.resetLog();
    try expectError(error.Memory, r.write(f.mem, &src, &t));
    try expectTransfer(t, RUN0_LEN, RUN1, 42);
    try expectLog(&f.ram, .write, &.{ .{ RUN0, RUN0_LEN }, .{ RUN1, RUN1_LEN } });
    f.modelWrite(&GPNS, OFF, src[0..RUN0_LEN]); // only the first run landed
    try f.checkRam();

    // Without a Transfer the error is the same.
    try expectError(error.Memory, r.write(f.mem, &src, null));

    var dst: [LEN]u8 = undefined;
    @memset(&dst, 0);
    t = garbage();
    f.ram.fail_code = -5;
    try expectError(error.Memory, r.read(f.mem, &dst, &t));
    try expectTransfer(t, RUN0_LEN, RUN1, -5);
    try expectEqualSlices(u8, src[0..RUN0_LEN], dst[0..RUN0_LEN]);

    t = garbage();
    f.ram.resetLog();
    try expectError(error.Memory, r.fill(f.mem, 0x77, LEN, &t));
    try expectTransfer(t, RUN0_LEN, RUN1, -5);
    try expectEqual(@as(usize, 2), f.ram.n_calls);
    f.modelFill(&GPNS, OFF, 0x77, RUN0_LEN);
    try f.checkRam();

    // The write fallback fails in its second 4 KiB piece of run 1. The
    // run is the unit of account (header: fault_gpa is "the guest address
    // of the run whose callback failed"): done stops before run 1 and the
    // fault names its start, although the first piece did land in RAM.
    f.ram.fail_gpa = RUN1 + PS + 1;
    f.ram.resetLog();
    t = garbage();
    try expectError(error.Memory, r.fill(f.mem_nofill, 0x88, LEN, &t));
    try expectTransfer(t, RUN0_LEN, RUN1, -5);
    try expectEqual(@as(usize, 3 + 2), f.ram.n_calls);
    f.modelFill(&GPNS, OFF, 0x88, RUN0_LEN + PS);
    try f.checkRam();

    // The first run failing: nothing done.
    f.ram.fail_gpa = RUN0;
    t = garbage();
    try expectError(error.Memory, r.read(f.mem, &dst, &t));
    try expectTransfer(t, 0, RUN0, -5);
}

test "SliceRam guest memory reports accesses outside its slice" {
    var bytes: [3 * PS]u8 = undefined;
    @memset(&bytes, 0);
    var ram: pr.SliceRam = .{ .bytes = &bytes, .base = 10 * PS };
    var mem = try ram.memory();
    defer mem.deinit();

    var r = try pr.Range.init(&.{ 12, 10, 13 }, 0, 3 * PS);
    defer r.deinit();
    var t = garbage();
    try expectError(error.Memory, r.fill(mem, 0x3C, 3 * PS, &t));
    try expectTransfer(t, 2 * PS, 13 * PS, pr.SliceRam.out_of_bounds);
    try expect(std.mem.allEqual(u8, bytes[0..PS], 0x3C));
    try expect(std.mem.allEqual(u8, bytes[PS .. 2 * PS], 0));
    try expect(std.mem.allEqual(u8, bytes[2 * PS ..], 0x3C));

    var below = try pr.Range.init(&.{9}, 0, 1);
    defer below.deinit();
    var b: [1]u8 = undefined;
    try expectError(error.Memory, below.read(mem, &b, &t));
    try expectTransfer(t, 0, 9 * PS, pr.SliceRam.out_of_bounds);
}

// ---------------------------------------------------------------------------
// Ranges
// ---------------------------------------------------------------------------

// Three windows: A = GPN 3 bytes 50..4096, B = GPNs 4,30 (8192 bytes),
// C = GPN 11 bytes 0..700. A and B are adjacent in guest memory but stay
// separate runs.
const A_GPNS = [_]u64{3};
const B_GPNS = [_]u64{ 4, 30 };
const C_GPNS = [_]u64{11};
const A_LEN: usize = PS - 50;
const B_LEN: usize = 2 * PS;
const C_LEN: usize = 700;
const RS_LEN = A_LEN + B_LEN + C_LEN;

/// Guest address of byte `i` of the A,B,C buffer.
fn rsGpa(i: usize) usize {
    if (i < A_LEN) return gpaOf(&A_GPNS, 50, i);
    if (i < A_LEN + B_LEN) return gpaOf(&B_GPNS, 0, i - A_LEN);
    return gpaOf(&C_GPNS, 0, i - A_LEN - B_LEN);
}

fn makeRanges() !pr.Ranges {
    var a = try pr.Range.init(&A_GPNS, 50, A_LEN);
    defer a.deinit();
    var b = try pr.Range.init(&B_GPNS, 0, B_LEN);
    defer b.deinit();
    var c = try pr.Range.init(&C_GPNS, 0, C_LEN);
    defer c.deinit();
    var rs = try pr.Ranges.init(&.{ a, b });
    errdefer rs.deinit();
    try rs.push(c);
    return rs; // a, b and c are freed; the buffer keeps their pages
}

test "ranges new, push, len, count, get" {
    var rs = try makeRanges();
    defer rs.deinit();
    try expectEqual(RS_LEN, rs.len());
    try expectEqual(@as(usize, 3), rs.count());

    const want = [_]struct { gpns: []const u64, off: usize, len: usize }{
        .{ .gpns = &A_GPNS, .off = 50, .len = A_LEN },
        .{ .gpns = &B_GPNS, .off = 0, .len = B_LEN },
        .{ .gpns = &C_GPNS, .off = 0, .len = C_LEN },
    };
    for (want, 0..) |w, i| {
        var g = try rs.get(i);
        defer g.deinit();
        try expectEqualSlices(u64, w.gpns, g.gpns());
        try expectEqual(w.off, g.offset());
        try expectEqual(w.len, g.len());
    }
    try expectError(error.OutOfRange, rs.get(3));
    try expectError(error.OutOfRange, rs.get(max_usize));

    // Empty buffers, and empty windows are not counted.
    var e = try pr.Ranges.empty();
    defer e.deinit();
    try expectEqual(@as(usize, 0), e.len());
    try expectEqual(@as(usize, 0), e.count());
    var er = try pr.Range.empty();
    defer er.deinit();
    try e.push(er);
    try expectEqual(@as(usize, 0), e.count());
    var one = try pr.Range.init(&.{60}, 0, 10);
    defer one.deinit();
    try e.push(one);
    try expectEqual(@as(usize, 1), e.count());
    try expectEqual(@as(usize, 10), e.len());
}

test "ranges skip and truncate" {
    var rs = try makeRanges();
    defer rs.deinit();
    try rs.skip(A_LEN + 100); // into B
    try expectEqual(RS_LEN - A_LEN - 100, rs.len());
    try expectEqual(@as(usize, 2), rs.count());
    {
        var g = try rs.get(0);
        defer g.deinit();
        try expectEqual(@as(usize, 100), g.offset());
        try expectEqual(B_LEN - 100, g.len());
    }
    try rs.truncate(B_LEN - 100 + 1); // one byte of C left
    try expectEqual(@as(usize, 2), rs.count());
    try rs.truncate(B_LEN - 100);
    try expectEqual(@as(usize, 1), rs.count());

    try expectError(error.OutOfRange, rs.skip(B_LEN));
    try expectError(error.OutOfRange, rs.skip(max_usize));
    try expectError(error.OutOfRange, rs.truncate(B_LEN));
    try expectEqual(B_LEN - 100, rs.len());

    // A push after a truncate lands after the new end.
    var c = try pr.Range.init(&C_GPNS, 0, C_LEN);
    defer c.deinit();
    try rs.push(c);
    try expectEqual(B_LEN - 100 + C_LEN, rs.len());
    try expectEqual(@as(usize, 2), rs.count());
}

test "ranges address ranges are listed window by window" {
    var rs = try makeRanges();
    defer rs.deinit();
    const want = [_]pr.AddressRange{
        .{ .start = 3 * PS + 50, .end = 4 * PS }, // A
        .{ .start = 4 * PS, .end = 5 * PS }, // B, not merged with A
        .{ .start = 30 * PS, .end = 31 * PS },
        .{ .start = 11 * PS, .end = 11 * PS + 700 }, // C
    };
    try expectEqual(want.len, try rs.addressRangeCount());
    const got = try rs.addressRanges(testing.allocator);
    defer testing.allocator.free(got);
    try expectEqualSlices(pr.AddressRange, &want, got);

    var two: [2]pr.AddressRange = undefined;
    try expectError(error.BufferTooSmall, rs.addressRangesInto(&two));
    try expectEqualSlices(pr.AddressRange, want[0..2], &two);
}

test "ranges write, read, fill" {
    const f = try Fixture.create();
    defer f.destroy();
    var rs = try makeRanges();
    defer rs.deinit();
    var src: [RS_LEN]u8 = undefined;
    var dst: [RS_LEN]u8 = undefined;
    pattern(&src, 10);

    var t = garbage();
    f.ram.resetLog();
    try rs.write(f.mem, &src, &t);
    try expectTransfer(t, RS_LEN, 0, 0);
    try expectLog(&f.ram, .write, &.{ .{ 3 * PS + 50, A_LEN }, .{ 4 * PS, PS }, .{ 30 * PS, PS }, .{ 11 * PS, C_LEN } });
    for (src, 0..) |b, i| f.ref[rsGpa(i)] = b;
    try f.checkRam();

    @memset(&dst, 0);
    try rs.read(f.mem, &dst, &t);
    try expectTransfer(t, RS_LEN, 0, 0);
    try expectEqualSlices(u8, &src, &dst);

    f.ram.resetLog();
    try rs.fill(f.mem, 0x42, A_LEN + 10, &t);
    try expectEqual(A_LEN + 10, t.done);
    try expectLog(&f.ram, .fill, &.{ .{ 3 * PS + 50, A_LEN }, .{ 4 * PS, 10 } });
    for (0..A_LEN + 10) |i| f.ref[rsGpa(i)] = 0x42;
    try f.checkRam();

    try rs.fill(f.mem_nofill, 0x43, RS_LEN, &t);
    for (0..RS_LEN) |i| f.ref[rsGpa(i)] = 0x43;
    try f.checkRam();

    // After skip/truncate the buffer starts and ends elsewhere.
    try rs.skip(A_LEN - 5);
    try rs.truncate(10);
    pattern(src[0..10], 11);
    try rs.write(f.mem, src[0..10], &t);
    for (0..10) |i| f.ref[rsGpa(A_LEN - 5 + i)] = src[i];
    try f.checkRam();

    f.ram.resetLog();
    try expectError(error.OutOfRange, rs.read(f.mem, dst[0..11], &t));
    try expectError(error.OutOfRange, rs.write(f.mem, src[0..11], &t));
    try expectError(error.OutOfRange, rs.fill(f.mem, 0, max_usize, &t));
    try expectEqual(@as(usize, 0), f.ram.n_calls);
}

test "ranges callback failure in the middle of a multi-run transfer" {
    const f = try Fixture.create();
    defer f.destroy();
    var rs = try makeRanges();
    defer rs.deinit();
    var src: [RS_LEN]u8 = undefined;
    pattern(&src, 12);
    f.ram.fail_gpa = 30 * PS + 7; // second run of B
    f.ram.fail_code = 99;

    var t = garbage();
    try expectError(error.Memory, rs.write(f.mem, &src, &t));
    try expectTransfer(t, A_LEN + PS, 30 * PS, 99);
    for (0..A_LEN + PS) |i| f.ref[rsGpa(i)] = src[i];
    try f.checkRam();

    var dst: [RS_LEN]u8 = undefined;
    t = garbage();
    try expectError(error.Memory, rs.read(f.mem, &dst, &t));
    try expectTransfer(t, A_LEN + PS, 30 * PS, 99);
    try expectEqualSlices(u8, src[0 .. A_LEN + PS], dst[0 .. A_LEN + PS]);

    t = garbage();
    try expectError(error.Memory, rs.fill(f.mem, 1, RS_LEN, &t));
    try expectTransfer(t, A_LEN + PS, 30 * PS, 99);
}

// ---------------------------------------------------------------------------
// Reader and Writer
// ---------------------------------------------------------------------------

test "writer write, fill, remaining; reader read, skip, remaining" {
    const f = try Fixture.create();
    defer f.destroy();
    var r = try sample();
    var w = try r.writer(f.mem);
    defer w.deinit();
    var rd = try r.reader(f.mem);
    defer rd.deinit();
    r.deinit(); // cursors keep the page list alive

    var src: [LEN]u8 = undefined;
    pattern(&src, 20);
    var want: [LEN]u8 = src;
    var t = garbage();

    try expectEqual(LEN, w.remaining());
    try w.write(src[0..1000], &t);
    try expectTransfer(t, 1000, 0, 0);
    try expectEqual(LEN - 1000, w.remaining());
    try w.fill(0xEE, 3000, &t);
    try expectTransfer(t, 3000, 0, 0);
    @memset(want[1000..4000], 0xEE);
    f.ram.resetLog();
    try w.write(src[4000..], &t); // crosses into the second and third runs
    try expectEqual(LEN - 4000, t.done);
    try expectEqual(@as(usize, 3), f.ram.n_calls);
    try expectEqual(@as(usize, 0), w.remaining());
    f.modelWrite(&GPNS, OFF, &want);
    try f.checkRam();

    // Past the end: an error, nothing moves, no callback.
    f.ram.resetLog();
    try expectError(error.OutOfRange, w.write(src[0..1], &t));
    try expectError(error.OutOfRange, w.fill(0, 1, &t));
    try w.write(src[0..0], &t);
    try expectEqual(@as(usize, 0), f.ram.n_calls);

    var got: [LEN]u8 = undefined;
    try expectEqual(LEN, rd.remaining());
    try rd.read(got[0..10], &t);
    try expectTransfer(t, 10, 0, 0);
    try rd.skip(RUN0_LEN - 10 + 5);
    try expectEqual(LEN - RUN0_LEN - 5, rd.remaining());
    f.ram.resetLog();
    try rd.read(got[10..20], null);
    try expectLog(&f.ram, .read, &.{.{ RUN1 + 5, 10 }});
    try expectError(error.OutOfRange, rd.skip(rd.remaining() + 1));
    try expectError(error.OutOfRange, rd.read(&got, &t));
    try expectEqual(LEN - RUN0_LEN - 15, rd.remaining());
    const rest = rd.remaining();
    try rd.read(got[20 .. 20 + rest], &t);
    try expectEqual(@as(usize, 0), rd.remaining());
    try rd.skip(0);
    try expectError(error.OutOfRange, rd.skip(1));

    try expectEqualSlices(u8, want[0..10], got[0..10]);
    try expectEqualSlices(u8, want[RUN0_LEN + 5 .. RUN0_LEN + 15], got[10..20]);
    try expectEqualSlices(u8, want[RUN0_LEN + 15 ..], got[20 .. 20 + rest]);
}

test "cursors over ranges, outliving the buffer and the memory handle" {
    const f = try Fixture.create();
    defer f.destroy();
    var rs = try makeRanges();
    var extra = try pr.Memory.initCallbacks(&f.ram);
    var w = try rs.writer(extra);
    defer w.deinit();
    var rd = try rs.reader(extra);
    defer rd.deinit();
    rs.deinit();
    extra.deinit(); // the cursors keep the memory alive

    var src: [RS_LEN]u8 = undefined;
    pattern(&src, 30);
    try expectEqual(RS_LEN, w.remaining());
    try w.write(src[0 .. A_LEN + 1], null);
    try w.fill(0x99, PS, null);
    try w.write(src[A_LEN + 1 + PS ..], null);
    @memset(src[A_LEN + 1 .. A_LEN + 1 + PS], 0x99);
    for (src, 0..) |b, i| f.ref[rsGpa(i)] = b;
    try f.checkRam();

    var got: [RS_LEN]u8 = undefined;
    try rd.skip(A_LEN);
    try rd.read(got[0 .. RS_LEN - A_LEN], null);
    try expectEqualSlices(u8, src[A_LEN..], got[0 .. RS_LEN - A_LEN]);
    try expectEqual(@as(usize, 0), rd.remaining());
}

test "cursor advances by exactly done when a callback fails, and resumes" {
    const f = try Fixture.create();
    defer f.destroy();
    var r = try sample();
    defer r.deinit();
    var src: [LEN]u8 = undefined;
    pattern(&src, 40);
    try r.write(f.mem, &src, null);
    f.modelWrite(&GPNS, OFF, &src);

    // Reader: fails on the second run, stands at its start.
    var rd = try r.reader(f.mem);
    defer rd.deinit();
    try rd.skip(100);
    f.ram.fail_gpa = RUN1 + RUN1_LEN - 1;
    f.ram.fail_code = 7;
    var got: [LEN]u8 = undefined;
    var t = garbage();
    try expectError(error.Memory, rd.read(got[0 .. LEN - 100], &t));
    try expectTransfer(t, RUN0_LEN - 100, RUN1, 7);
    try expectEqual(LEN - RUN0_LEN, rd.remaining());
    try expectEqualSlices(u8, src[100..RUN0_LEN], got[0 .. RUN0_LEN - 100]);
    // Retry after the fault is cleared: resumes at the failed run.
    f.ram.fail_gpa = null;
    try rd.read(got[0 .. LEN - RUN0_LEN], &t);
    try expectTransfer(t, LEN - RUN0_LEN, 0, 0);
    try expectEqualSlices(u8, src[RUN0_LEN..], got[0 .. LEN - RUN0_LEN]);

    // Writer: write then fill, each failing mid-way.
    var w = try r.writer(f.mem);
    defer w.deinit();
    var src2: [LEN]u8 = undefined;
    pattern(&src2, 41);
    f.ram.fail_gpa = RUN2;
    f.ram.fail_code = -3;
    t = garbage();
    try expectError(error.Memory, w.write(&src2, &t));
    try expectTransfer(t, RUN0_LEN + RUN1_LEN, RUN2, -3);
    try expectEqual(RUN2_LEN, w.remaining());
    f.modelWrite(&GPNS, OFF, src2[0 .. RUN0_LEN + RUN1_LEN]);
    try f.checkRam();
    t = garbage();
    try expectError(error.Memory, w.fill(0x10, RUN2_LEN, &t));
    try expectTransfer(t, 0, RUN2, -3);
    try expectEqual(RUN2_LEN, w.remaining());
    f.ram.fail_gpa = null;
    try w.fill(0x10, RUN2_LEN, &t);
    try expectEqual(@as(usize, 0), w.remaining());
    f.modelFill(&.{5}, 0, 0x10, RUN2_LEN);
    try f.checkRam();
}

// ---------------------------------------------------------------------------
// Mapped memory and iovecs
// ---------------------------------------------------------------------------

test "mapped memory: transfers and iovecs straight into the slice" {
    const bytes = try testing.allocator.alloc(u8, PAGES * PS);
    defer testing.allocator.free(bytes);
    pattern(bytes, 50);
    // Two regions back to back in the host: pages 0..31 and 32..63.
    var mem = try pr.Memory.initMapped(&.{
        .{ .gpa = 32 * PS, .size = 32 * PS, .host = bytes.ptr + 32 * PS },
        .{ .gpa = 0, .size = 32 * PS, .host = bytes.ptr },
    });
    defer mem.deinit();
    var r = try sample();
    defer r.deinit();

    var got: [LEN]u8 = undefined;
    try r.read(mem, &got, null);
    for (got, 0..) |b, i| try expectEqual(bytes[gpaOf(&GPNS, OFF, i)], b);

    var vecs: [8]pr.IoVec = undefined;
    const all = try r.iovecs(mem, LEN, &vecs);
    try expect(all.complete);
    try expectEqual(LEN, all.covered);
    try expectEqual(@as(usize, 3), all.vecs.len);
    for (ALL_RUNS, all.vecs) |run, v| {
        try expectEqual(@as(?*anyopaque, bytes.ptr + run[0]), v.iov_base);
        try expectEqual(@as(usize, @intCast(run[1])), v.iov_len);
    }
    const part = try r.iovecs(mem, LEN, vecs[0..1]);
    try expect(!part.complete);
    try expectEqual(RUN0_LEN, part.covered);
    try expectEqual(@as(usize, 1), part.vecs.len);

    // A run across the two regions (pages 31, 32) is one iovec: the regions
    // touch in host memory.
    var across = try pr.Range.init(&.{ 31, 32 }, 0, 2 * PS);
    defer across.deinit();
    const a = try across.iovecs(mem, 2 * PS, &vecs);
    try expectEqual(@as(usize, 1), a.vecs.len);

    var rs = try pr.Ranges.init(&.{ r, across });
    defer rs.deinit();
    const rv = try rs.iovecs(mem, rs.len(), &vecs);
    try expect(rv.complete);
    try expectEqual(LEN + 2 * PS, rv.covered);
    try expectEqual(@as(usize, 4), rv.vecs.len);

    // Outside the mapping: error.Memory, fault code -1, nothing moved.
    var out = try pr.Range.init(&.{ 1, PAGES + 3 }, 0, 2 * PS);
    defer out.deinit();
    var t = garbage();
    var buf: [2 * PS]u8 = undefined;
    try expectError(error.Memory, out.read(mem, &buf, &t));
    try expectTransfer(t, PS, (PAGES + 3) * PS, faultCode(.unmapped));
    try expectError(error.Memory, out.iovecs(mem, 2 * PS, &vecs));

    // Bad region tables.
    try expectError(error.InvalidArgument, pr.Memory.initMapped(&.{
        .{ .gpa = 0, .size = 2 * PS, .host = bytes.ptr },
        .{ .gpa = PS, .size = PS, .host = bytes.ptr + 4 * PS },
    }));
    try expectError(error.InvalidArgument, pr.Memory.initMapped(&.{.{ .gpa = 0, .size = 0, .host = bytes.ptr }}));
    try expectError(error.InvalidArgument, pr.Memory.initMapped(&.{.{ .gpa = std.math.maxInt(u64) - 10, .size = PS, .host = bytes.ptr }}));
}

test "iovecs need mapped memory" {
    const f = try Fixture.create();
    defer f.destroy();
    var r = try sample();
    defer r.deinit();
    var vecs: [4]pr.IoVec = undefined;
    try expectError(error.InvalidArgument, r.iovecs(f.mem, LEN, &vecs));
}

// ---------------------------------------------------------------------------
// Memory by address and dirty logging
// ---------------------------------------------------------------------------

test "memory read and write by address: one access, all or nothing" {
    const f = try Fixture.create();
    defer f.destroy();
    const at: u64 = 5 * PS - 4; // crosses from GPN 4 into GPN 5
    const src = "virtqueue ring";
    var t = garbage();
    f.ram.resetLog();
    try f.mem.write(at, src, &t);
    try expectTransfer(t, src.len, 0, 0);
    try expectLog(&f.ram, .write, &.{.{ at, src.len }});
    @memcpy(f.ref[at..][0..src.len], src);
    try f.checkRam();

    var got: [src.len]u8 = undefined;
    f.ram.resetLog();
    try f.mem.read(at, &got, &t);
    try expectTransfer(t, src.len, 0, 0);
    try expectLog(&f.ram, .read, &.{.{ at, src.len }});
    try testing.expectEqualStrings(src, &got);

    // A failing access moves nothing, and says where and why.
    f.ram.fail_gpa = 5 * PS;
    f.ram.fail_code = 33;
    t = garbage();
    try expectError(error.Memory, f.mem.write(at, "0123456789", &t));
    try expectTransfer(t, 0, at, 33);
    try f.checkRam();
    t = garbage();
    try expectError(error.Memory, f.mem.read(at, &got, &t));
    try expectTransfer(t, 0, at, 33);

    // Zero bytes: no access at all.
    f.ram.resetLog();
    try f.mem.read(at, got[0..0], &t);
    try f.mem.write(at, "", &t);
    try expectEqual(@as(usize, 0), f.ram.n_calls);

    // Mapped memory: bytes outside the regions fail before any moves.
    const bytes = try testing.allocator.alloc(u8, 4 * PS);
    defer testing.allocator.free(bytes);
    pattern(bytes, 60);
    var mapped = try pr.Memory.initMapped(&.{.{ .gpa = 0, .size = 4 * PS, .host = bytes.ptr }});
    defer mapped.deinit();
    var word: [8]u8 = undefined;
    try mapped.read(PS + 8, &word, &t);
    try expectEqualSlices(u8, bytes[PS + 8 ..][0..8], &word);
    try mapped.write(2 * PS, "abcdefgh", null);
    try testing.expectEqualStrings("abcdefgh", bytes[2 * PS ..][0..8]);
    t = garbage();
    try expectError(error.Memory, mapped.write(4 * PS - 4, "abcdefgh", &t));
    try expectTransfer(t, 0, 4 * PS, faultCode(.unmapped));
    try expect(!std.mem.eql(u8, bytes[4 * PS - 4 ..], "abcd"));
}

/// The bitmap word with the bits of `gpns` set.
fn bitsOf(gpns: []const u64) u64 {
    var w: u64 = 0;
    for (gpns) |g| w |= @as(u64, 1) << @intCast(g);
    return w;
}

fn takeBits(bitmap: *u64) u64 {
    return @atomicRmw(u64, bitmap, .Xchg, 0, .monotonic);
}

test "dirty bitmap: written pages are marked, reads mark nothing, untracked pages fail" {
    const f = try Fixture.create();
    defer f.destroy();
    var bitmap: [1]u64 = .{0};
    try expectError(error.BufferTooSmall, f.mem.withDirtyBitmap(&bitmap, 65));
    var dm = try f.mem.withDirtyBitmap(&bitmap, 21); // GPNs 0 .. 20
    defer dm.deinit();
    var r = try sample();
    defer r.deinit();
    var src: [LEN]u8 = undefined;
    pattern(&src, 70);

    var buf: [LEN]u8 = undefined;
    try r.read(dm, &buf, null);
    try expectEqual(@as(u64, 0), takeBits(&bitmap[0]));

    try r.write(dm, src[0 .. RUN0_LEN + 1], null);
    try expectEqual(bitsOf(&.{ 7, 8, 9, 20 }), takeBits(&bitmap[0]));
    f.modelWrite(&GPNS, OFF, src[0 .. RUN0_LEN + 1]);

    // GPN 21 is beyond page_count: its run fails before a byte of it moves.
    var t = garbage();
    try expectError(error.Memory, r.write(dm, &src, &t));
    try expectTransfer(t, RUN0_LEN, RUN1, faultCode(.untracked));
    try expectEqual(bitsOf(&.{ 7, 8, 9 }), takeBits(&bitmap[0]));
    f.modelWrite(&GPNS, OFF, src[0..RUN0_LEN]);
    try f.checkRam();

    // Fills and writes by address are logged too; the memory under the
    // log still works on its own, without logging.
    try r.fill(dm, 0x3C, 10, null);
    try dm.write(2 * PS + 5, "x", null);
    try expectEqual(bitsOf(&.{ 7, 2 }), takeBits(&bitmap[0]));
    try r.write(f.mem, &src, null);
    try expectEqual(@as(u64, 0), takeBits(&bitmap[0]));
}

/// Records the runs a dirty callback reports.
const DirtyRecorder = struct {
    runs: [16][2]u64 = undefined,
    n: usize = 0,

    pub fn dirty(self: *DirtyRecorder, gpa: u64, len: usize) void {
        self.runs[self.n] = .{ gpa, len };
        self.n += 1;
    }

    fn take(self: *DirtyRecorder) []const [2]u64 {
        defer self.n = 0;
        return self.runs[0..self.n];
    }
};

test "dirty callback: exactly the runs written, never a failed one" {
    const f = try Fixture.create();
    defer f.destroy();
    var rec: DirtyRecorder = .{};
    var dm = try f.mem.withDirtyCallback(&rec);
    defer dm.deinit();
    var r = try sample();
    defer r.deinit();
    var src: [LEN]u8 = undefined;
    pattern(&src, 71);

    try r.write(dm, &src, null);
    try expectEqualSlices([2]u64, &ALL_RUNS, rec.take());
    try r.read(dm, &src, null);
    try expectEqual(@as(usize, 0), rec.take().len);

    f.ram.fail_gpa = RUN2;
    f.ram.fail_code = 5;
    try expectError(error.Memory, r.fill(dm, 0, LEN, null));
    try expectEqualSlices([2]u64, ALL_RUNS[0..2], rec.take());
    try dm.write(9, "ab", null);
    try expectEqualSlices([2]u64, &.{.{ 9, 2 }}, rec.take());

    // Loggers stack: both see the write.
    var bitmap: [1]u64 = .{0};
    var both = try dm.withDirtyBitmap(&bitmap, 64);
    defer both.deinit();
    try both.write(3 * PS, "z", null);
    try expectEqualSlices([2]u64, &.{.{ 3 * PS, 1 }}, rec.take());
    try expectEqual(bitsOf(&.{3}), takeBits(&bitmap[0]));
}

test "fault recovery: guest memory vanishing under a transfer fails it, not the process" {
    pr.installFaultRecovery() catch |err| {
        // Recovery exists only on x86-64 Linux.
        if (err == error.Unsupported and !(builtin.cpu.arch == .x86_64 and builtin.os.tag == .linux))
            return error.SkipZigTest;
        return err;
    };
    try pr.installFaultRecovery(); // idempotent
    const under_valgrind = std.valgrind.runningOnValgrind() != 0;

    // Guest RAM as a vhost-user frontend shares it: a memfd, mapped shared.
    const posix = std.posix;
    const fd = try posix.memfd_create("pagedrange-zig-test", 0);
    defer posix.close(fd);
    try posix.ftruncate(fd, 4 * PS);
    const host = try posix.mmap(null, 4 * PS, posix.PROT.READ | posix.PROT.WRITE, .{ .TYPE = .SHARED }, fd, 0);
    defer posix.munmap(host);
    const base: u64 = 0x100000;
    var mem = try pr.Memory.initMapped(&.{.{ .gpa = base, .size = 4 * PS, .host = host.ptr }});
    defer mem.deinit();
    const g = base / PS;
    var r = try pr.Range.init(&.{ g, g + 1, g + 2, g + 3 }, 100, 4 * PS - 100);
    defer r.deinit();
    var src: [4 * PS - 100]u8 = undefined;
    pattern(&src, 90);
    try r.write(mem, &src, null);

    // The file loses pages 2 and 3: copying them raises SIGBUS. Under
    // valgrind a copy or fill stopped inside `rep movsb`/`rep stosb`
    // reports one byte more than it moved (the emulated instruction's
    // registers at the fault are not the CPU's), so the exact counts are
    // checked in the native run only.
    try posix.ftruncate(fd, 2 * PS);
    const cut = base + 2 * PS;
    const before_cut = 2 * PS - 100;
    var got: [4 * PS - 100]u8 = undefined;
    var t = garbage();
    try expectError(error.Memory, r.read(mem, &got, &t));
    try expectEqual(pr.FaultCode.sigbus, pr.FaultCode.of(t));
    try expectEqual(cut, t.fault_gpa);
    if (!under_valgrind) try expectEqual(before_cut, t.done);
    try expectEqualSlices(u8, src[0..before_cut], got[0..before_cut]);
    t = garbage();
    try expectError(error.Memory, r.fill(mem, 0xEE, r.len(), &t));
    try expectEqual(pr.FaultCode.sigbus, pr.FaultCode.of(t));
    try expectEqual(cut, t.fault_gpa);
    if (!under_valgrind) try expectEqual(before_cut, t.done);

    // A cursor advances by exactly the bytes done.
    var rd = try r.reader(mem);
    defer rd.deinit();
    try expectError(error.Memory, rd.read(&got, &t));
    try expectEqual(r.len() - t.done, rd.remaining());
    if (!under_valgrind) try expectEqual(2 * PS, rd.remaining());

    // The next transfers work: the pages before the cut, and all of them
    // once the file grows back (with zeros).
    try r.read(mem, got[0..before_cut], &t);
    try expect(std.mem.allEqual(u8, got[0..before_cut], 0xEE));
    try posix.ftruncate(fd, 4 * PS);
    const left = rd.remaining();
    try rd.read(got[0..left], &t);
    try expect(std.mem.allEqual(u8, got[0..left], 0));

    // A protected page raises SIGSEGV. Natively only: valgrind's memcheck
    // reports the access itself as an error.
    if (!under_valgrind) {
        const page1: []align(std.heap.page_size_min) u8 = @alignCast(host[PS .. 2 * PS]);
        try posix.mprotect(page1, posix.PROT.NONE);
        defer posix.mprotect(page1, posix.PROT.READ | posix.PROT.WRITE) catch unreachable;
        t = garbage();
        try expectError(error.Memory, r.write(mem, &src, &t));
        try expectTransfer(t, PS - 100, base + PS, faultCode(.sigsegv));
    }
}

// ---------------------------------------------------------------------------
// Cursors: limits, reset, release, iovecs
// ---------------------------------------------------------------------------

test "cursor limit: a cursor over the next bytes, the parent past them" {
    const f = try Fixture.create();
    defer f.destroy();
    var r = try sample();
    defer r.deinit();
    var src: [LEN]u8 = undefined;
    pattern(&src, 80);
    try r.write(f.mem, &src, null);
    f.modelWrite(&GPNS, OFF, &src);

    // header (16) | data (5000) | the rest
    var rd = try r.reader(f.mem);
    defer rd.deinit();
    var got: [LEN]u8 = undefined;
    try rd.read(got[0..16], null);
    try expectError(error.OutOfRange, rd.limit(LEN - 16 + 1));
    try expectEqual(LEN - 16, rd.remaining());
    var data = try rd.limit(5000);
    defer data.deinit();
    try expectEqual(@as(usize, 5000), data.remaining());
    try expectEqual(LEN - 5016, rd.remaining());
    try data.read(got[16..5016], null);
    try expectError(error.OutOfRange, data.read(got[0..1], null));
    try rd.read(got[5016..], null);
    try expectEqualSlices(u8, &src, &got);

    // The writer side, with skip.
    var w = try r.writer(f.mem);
    defer w.deinit();
    try w.skip(10);
    try expectError(error.OutOfRange, w.skip(LEN));
    var part = try w.limit(100);
    try expectEqual(LEN - 110, w.remaining());
    try part.fill(0x77, 100, null);
    try expectError(error.OutOfRange, part.fill(0x77, 1, null));
    part.deinit(); // the parent does not need it
    try w.write(src[0..5], null);
    f.modelFill(&GPNS, OFF + 10, 0x77, 100);
    f.modelWrite(&GPNS, OFF + 110, src[0..5]);
    try f.checkRam();
}

test "cursor reset and release; finishInto refills a buffer the cursors let go" {
    const f = try Fixture.create();
    defer f.destroy();
    var b = try pr.Builder.init(null);
    defer b.deinit();
    try b.push(40 * PS + 10, 100, null);
    var rs = try b.finish();
    defer rs.deinit();
    var rd = try rs.reader(f.mem);
    defer rd.deinit();
    var w = try rs.writer(f.mem);
    defer w.deinit();

    // The cursors share the buffer, so finishInto gives `rs` new windows
    // and the cursors keep the old ones.
    try b.clear();
    try b.push(50 * PS, 30, null);
    try b.finishInto(&rs);
    try expectEqual(@as(usize, 30), rs.len());
    try expectEqual(@as(usize, 100), rd.remaining());
    try expectEqual(@as(usize, 100), w.remaining());

    rd.release();
    w.release();
    try expectEqual(@as(usize, 0), rd.remaining());
    try expectEqual(@as(usize, 0), w.remaining());
    var one: [1]u8 = undefined;
    try expectError(error.OutOfRange, rd.read(&one, null));
    try expectError(error.OutOfRange, w.write("x", null));

    try rd.resetRanges(rs);
    try w.resetRanges(rs);
    try expectEqual(@as(usize, 30), rd.remaining());
    try w.write("new window", null);
    @memcpy(f.ref[50 * PS ..][0..10], "new window");
    try f.checkRam();
    var got: [30]u8 = undefined;
    try rd.read(&got, null);
    try expectEqualSlices(u8, f.ref[50 * PS ..][0..30], &got);

    var r = try sample();
    defer r.deinit();
    try rd.reset(r);
    try w.reset(r);
    try expectEqual(LEN, rd.remaining());
    try expectEqual(LEN, w.remaining());
    try w.fill(0x5A, 3, null);
    try rd.read(got[0..3], null);
    try expectEqualSlices(u8, &.{ 0x5A, 0x5A, 0x5A }, got[0..3]);
}

test "cursor iovecs in mapped memory; exported writer iovecs are logged" {
    const bytes = try testing.allocator.alloc(u8, PAGES * PS);
    defer testing.allocator.free(bytes);
    var mem = try pr.Memory.initMapped(&.{.{ .gpa = 0, .size = PAGES * PS, .host = bytes.ptr }});
    defer mem.deinit();
    var bitmap: [1]u64 = .{0};
    var dm = try mem.withDirtyBitmap(&bitmap, 64);
    defer dm.deinit();
    var r = try sample();
    defer r.deinit();
    var vecs: [2]pr.IoVec = undefined;

    var rd = try r.reader(dm);
    defer rd.deinit();
    const first = try rd.iovecs(LEN, &vecs); // 3 runs, room for 2
    try expect(!first.complete);
    try expectEqual(RUN0_LEN + RUN1_LEN, first.covered);
    try expectEqual(@as(usize, 2), first.vecs.len);
    try expectEqual(@as(?*anyopaque, bytes.ptr + RUN1), first.vecs[1].iov_base);
    try expectEqual(RUN2_LEN, rd.remaining());
    const rest = try rd.iovecs(RUN2_LEN, &vecs);
    try expect(rest.complete);
    try expectEqual(@as(?*anyopaque, bytes.ptr + RUN2), rest.vecs[0].iov_base);
    try expectEqual(RUN2_LEN, rest.vecs[0].iov_len);
    try expectEqual(@as(u64, 0), takeBits(&bitmap[0])); // reading marks nothing

    var w = try r.writer(dm);
    defer w.deinit();
    try w.skip(RUN0_LEN);
    const wv = try w.iovecs(RUN1_LEN, &vecs);
    try expect(wv.complete);
    try expectEqual(@as(usize, 1), wv.vecs.len);
    try expectEqual(RUN1_LEN, wv.vecs[0].iov_len);
    try expectEqual(RUN2_LEN, w.remaining());
    try expectEqual(bitsOf(&.{ 20, 21 }), takeBits(&bitmap[0]));
    try expectError(error.OutOfRange, w.iovecs(RUN2_LEN + 1, &vecs));

    // A page the log cannot record is never exported.
    var small = try mem.withDirtyBitmap(&bitmap, 8); // GPNs 0 .. 7
    defer small.deinit();
    var w2 = try r.writer(small);
    defer w2.deinit();
    try expectError(error.Memory, w2.iovecs(RUN0_LEN, &vecs));
    try expectEqual(LEN, w2.remaining());
    try expectEqual(@as(u64, 0), takeBits(&bitmap[0]));

    // Callback memory has no host addresses.
    const f = try Fixture.create();
    defer f.destroy();
    var crd = try r.reader(f.mem);
    defer crd.deinit();
    try expectError(error.InvalidArgument, crd.iovecs(1, &vecs));
}

// ---------------------------------------------------------------------------
// Builder, wire format, chain walker
// ---------------------------------------------------------------------------

fn expectWindow(rs: pr.Ranges, index: usize, gpns: []const u64, offset: usize, len: usize) !void {
    var w = try rs.get(index);
    defer w.deinit();
    try expectEqualSlices(u64, gpns, w.gpns());
    try expectEqual(offset, w.offset());
    try expectEqual(len, w.len());
}

test "builder: segments join into the fewest windows" {
    var b = try pr.Builder.init(null);
    defer b.deinit();
    try b.push(3 * PS + 100, 200, null);
    try b.push(3 * PS + 300, PS - 300, null); // meets the window: joins, ends on a page boundary
    try b.push(9 * PS, 50, null); // starts on a page: joins (pages 3, 9)
    try b.push(0, 0, null); // empty: ignored, but counted
    try b.push(20 * PS + 7, 10, null); // starts inside a page: a new window
    var rs = try b.finish();
    defer rs.deinit();
    try expectEqual(@as(usize, 2), rs.count());
    try expectEqual(PS - 100 + 50 + 10, rs.len());
    try expectWindow(rs, 0, &.{ 3, 9 }, 100, PS - 100 + 50);
    try expectWindow(rs, 1, &.{20}, 7, 10);

    // An overflowing segment: nothing added, its index reported.
    var index: usize = 777;
    try expectError(error.OutOfRange, b.push(std.math.maxInt(u64) - 5, 10, &index));
    try expectEqual(@as(usize, 5), index);
    var same = try b.finish();
    defer same.deinit();
    try expectEqual(rs.len(), same.len());
    try expectEqual(rs.count(), same.count());

    // Cleared, the builder starts over; finishInto refills a buffer and
    // leaves other buffers alone.
    try b.clear();
    try b.push(40 * PS, 3, null);
    try b.finishInto(&rs);
    try expectEqual(@as(usize, 1), rs.count());
    try expectWindow(rs, 0, &.{40}, 0, 3);
    try expectEqual(PS - 100 + 50 + 10, same.len());
}

test "builder limits: windows, pages, bytes" {
    var index: usize = 0;
    {
        var b = try pr.Builder.init(.{ .max_windows = 2, .max_pages = 100, .max_bytes = 1 << 20 });
        defer b.deinit();
        try b.push(10, 1, null);
        try b.push(30, 1, null);
        try expectError(error.Limit, b.push(50, 1, &index));
        try expectEqual(@as(usize, 2), index);
        try b.push(31, 5, null); // joins the second window
    }
    {
        var b = try pr.Builder.init(.{ .max_windows = 100, .max_pages = 2, .max_bytes = 1 << 20 });
        defer b.deinit();
        try b.push(PS - 1, 2, null); // pages 0 and 1
        try expectError(error.Limit, b.push(PS + 1, PS, &index)); // would reach page 2
        try expectEqual(@as(usize, 1), index);
    }
    {
        var b = try pr.Builder.init(.{ .max_windows = 100, .max_pages = 100, .max_bytes = 100 });
        defer b.deinit();
        try b.push(0, 60, null);
        try b.push(PS, 40, null);
        try expectError(error.Limit, b.push(2 * PS, 1, &index));
        try expectEqual(@as(usize, 2), index);
        var rs = try b.finish();
        defer rs.deinit();
        try expectEqual(@as(usize, 100), rs.len());
    }
    {
        var b = try pr.Builder.init(.{ .max_windows = 0, .max_pages = 0, .max_bytes = 0 });
        defer b.deinit();
        try expectError(error.Limit, b.push(0, 1, &index));
        try expectEqual(@as(usize, 0), index);
    }
}

/// A GPA-range header word.
fn W(len: u64, off: u64) u64 {
    return len | off << 32;
}

test "GPA-range wire format: parse, write, errors" {
    const words = [_]u64{ W(5000, 100), 7, 8, W(10, 0), 20, 0xDEAD };
    var error_word: usize = 777;
    var p = try pr.Ranges.parseGpaRanges(&words, 2, &error_word);
    defer p.ranges.deinit();
    try expectEqual(@as(usize, 5), p.words_used);
    try expectEqual(@as(usize, 777), error_word);
    try expectEqual(@as(usize, 2), p.ranges.count());
    try expectWindow(p.ranges, 0, &.{ 7, 8 }, 100, 5000);
    try expectWindow(p.ranges, 1, &.{20}, 0, 10);

    try expectEqual(@as(usize, 5), try p.ranges.gpaRangesWordCount());
    const enc = try p.ranges.writeGpaRanges(testing.allocator);
    defer testing.allocator.free(enc);
    try expectEqualSlices(u64, words[0..5], enc);
    var short: [4]u64 = @splat(0x55);
    try expectError(error.BufferTooSmall, p.ranges.writeGpaRangesInto(&short));
    try expectEqualSlices(u64, &@as([4]u64, @splat(0x55)), &short); // nothing written
    var exact: [5]u64 = undefined;
    try expectEqual(@as(usize, 5), try p.ranges.writeGpaRangesInto(&exact));
    try expectEqualSlices(u64, words[0..5], &exact);

    // After skip/truncate the clipped windows are encoded.
    try p.ranges.skip(4900);
    try p.ranges.truncate(101);
    const clipped = try p.ranges.writeGpaRanges(testing.allocator);
    defer testing.allocator.free(clipped);
    try expectEqualSlices(u64, &.{ W(100, 5000 - PS), 8, W(1, 0), 20 }, clipped);

    var empty = try pr.Ranges.empty();
    defer empty.deinit();
    try expectEqual(@as(usize, 0), try empty.gpaRangesWordCount());
    try expectEqual(@as(usize, 0), try empty.writeGpaRangesInto(&.{}));

    // Errors name the word at fault.
    try expectError(error.Malformed, pr.Ranges.parseGpaRanges(words[0..2], 1, &error_word));
    try expectEqual(@as(usize, 2), error_word); // the second GPN is missing
    try expectError(error.Malformed, pr.Ranges.parseGpaRanges(&.{ W(1, 0), 1, W(1, PS), 2 }, 2, &error_word));
    try expectEqual(@as(usize, 2), error_word); // offset 4096
    try expectError(error.InvalidGpn, pr.Ranges.parseGpaRanges(&.{ W(1, 0), pr.max_gpn + 1 }, 1, &error_word));
    try expectEqual(@as(usize, 1), error_word);
    try expectError(error.Malformed, pr.Ranges.parseGpaRanges(&.{}, 1, null));
}

const F_NEXT: u16 = 1;
const F_WRITE: u16 = 2;
const F_INDIRECT: u16 = 4;

/// Writes descriptor `i` of the table at `table` as a driver does.
fn putDesc(bytes: []u8, table: u64, i: u16, addr: u64, len: u32, flags: u16, next: u16) void {
    const d = bytes[@intCast(table + @as(u64, i) * 16)..][0..16];
    std.mem.writeInt(u64, d[0..8], addr, .little);
    std.mem.writeInt(u32, d[8..12], len, .little);
    std.mem.writeInt(u16, d[12..14], flags, .little);
    std.mem.writeInt(u16, d[14..16], next, .little);
}

const wide_open: pr.BuilderLimits = .{ .max_windows = 1024, .max_pages = 1 << 20, .max_bytes = 1 << 32 };

test "chain walker: direct and indirect chains, refusals naming rule and descriptor" {
    const f = try Fixture.create();
    defer f.destroy();
    const qt: u64 = 0; // the descriptor table, 8 entries
    const it: u64 = 30 * PS; // an indirect table
    const ram = f.ram.bytes;
    putDesc(ram, qt, 0, 10 * PS, 16, F_NEXT, 1);
    putDesc(ram, qt, 1, 12 * PS + 100, 5000, F_NEXT | F_WRITE, 2);
    putDesc(ram, qt, 2, 15 * PS, 1, F_WRITE, 0);
    putDesc(ram, qt, 3, it, 32, F_INDIRECT, 0);
    putDesc(ram, it, 0, 40 * PS, 8, F_NEXT, 1);
    putDesc(ram, it, 1, 41 * PS, 8, F_WRITE, 0);
    putDesc(ram, qt, 4, 50 * PS, 8, F_NEXT | F_WRITE, 7);
    putDesc(ram, qt, 7, 51 * PS, 8, 0, 0); // readable after writable
    putDesc(ram, qt, 5, 50 * PS, 8, F_NEXT, 6);
    putDesc(ram, qt, 6, 51 * PS, 8, F_NEXT, 5); // a loop

    var w = try pr.ChainWalker.init(null);
    defer w.deinit();
    var readable = try pr.Ranges.empty();
    defer readable.deinit();
    var writable = try pr.Ranges.empty();
    defer writable.deinit();
    var cerr: pr.ChainError = undefined;

    try w.walk(f.mem, qt, 8, 0, &readable, &writable, &cerr);
    try expectEqual(@as(usize, 1), readable.count());
    try expectWindow(readable, 0, &.{10}, 0, 16);
    try expectEqual(@as(usize, 2), writable.count());
    try expectWindow(writable, 0, &.{ 12, 13 }, 100, 5000);
    try expectWindow(writable, 1, &.{15}, 0, 1);

    try w.walk(f.mem, qt, 8, 3, &readable, &writable, null);
    try expectWindow(readable, 0, &.{40}, 0, 8);
    try expectWindow(writable, 0, &.{41}, 0, 8);
    try expectEqual(@as(usize, 1), writable.count());

    // Refusals leave both buffers as they were.
    const Refusal = struct { head: u16, err: pr.Error, rule: pr.ChainRule, index: u16 };
    for ([_]Refusal{
        .{ .head = 8, .err = error.Malformed, .rule = .head_out_of_range, .index = 8 },
        .{ .head = 4, .err = error.Malformed, .rule = .readable_after_writable, .index = 7 },
        .{ .head = 5, .err = error.Malformed, .rule = .too_long, .index = 5 },
    }) |want| {
        cerr = std.mem.zeroes(pr.ChainError);
        try expectError(want.err, w.walk(f.mem, qt, 8, want.head, &readable, &writable, &cerr));
        try expectEqual(want.rule, pr.ChainRule.of(cerr));
        if (want.rule != .too_long) try expectEqual(want.index, cerr.index);
        try expectEqual(@as(u8, 0), cerr.indirect);
        try expectWindow(readable, 0, &.{40}, 0, 8);
        try expectWindow(writable, 0, &.{41}, 0, 8);
    }

    var direct_only = try pr.ChainWalker.init(.{ .readable = wide_open, .writable = wide_open, .max_bytes = 1 << 20, .indirect = 0 });
    defer direct_only.deinit();
    try expectError(error.Malformed, direct_only.walk(f.mem, qt, 8, 3, &readable, &writable, &cerr));
    try expectEqual(pr.ChainRule.indirect_not_allowed, pr.ChainRule.of(cerr));
    try expectEqual(@as(u16, 3), cerr.index);

    var tight = try pr.ChainWalker.init(.{ .readable = .{ .max_windows = 1, .max_pages = 1, .max_bytes = 8 }, .writable = wide_open, .max_bytes = 1 << 20, .indirect = 1 });
    defer tight.deinit();
    try expectError(error.Limit, tight.walk(f.mem, qt, 8, 0, &readable, &writable, &cerr));
    try expectEqual(pr.ChainRule.limit, pr.ChainRule.of(cerr));
    try tight.walk(f.mem, qt, 8, 3, &readable, &writable, &cerr); // 8 readable bytes fit

    // A table outside guest memory: the memory's fault is passed on.
    try expectError(error.Memory, w.walk(f.mem, PAGES * PS, 8, 0, &readable, &writable, &cerr));
    try expectEqual(pr.ChainRule.unreadable, pr.ChainRule.of(cerr));
    try expectEqual(@as(u64, PAGES * PS), cerr.fault_gpa);
    try expectEqual(TestRam.efault, cerr.fault_code);

    try expectError(error.InvalidArgument, w.walk(f.mem, qt, 8, 0, &readable, &readable, null));
    try expect(pr.ChainRule.of(cerr).describe().len > 0);
}

// ---------------------------------------------------------------------------
// The README example, verbatim
// ---------------------------------------------------------------------------

test "README example" {
    var bytes: [16 * pr.page_size]u8 = @splat(0);
    var ram: pr.SliceRam = .{ .bytes = &bytes }; // guest RAM: GPA 0.. = bytes
    var mem = try ram.memory(); // Zig methods behind callconv(.c) callbacks
    defer mem.deinit();

    var r = try pr.Range.init(&.{ 3, 9 }, 4000, 200); // 96 bytes in GPN 3, 104 in GPN 9
    defer r.deinit();
    try r.fill(mem, 0xAB, r.len(), null);

    var t: pr.Transfer = undefined;
    var out: [200]u8 = undefined;
    r.read(mem, &out, &t) catch |err| {
        std.debug.print("{t}: gpa 0x{x} code {d} after {d} bytes\n", .{ err, t.fault_gpa, t.fault_code, t.done });
        return err;
    };

    // A descriptor chain's segments, collected into the fewest windows.
    var b = try pr.Builder.init(null); // virtio limits
    defer b.deinit();
    try b.push(3 * pr.page_size + 4000, 96, null);
    try b.push(9 * pr.page_size, 104, null); // starts a page as the last one ends: joined
    var rs = try b.finish(); // one window, the same bytes as `r`
    defer rs.deinit();
    var w = try rs.writer(mem);
    defer w.deinit();
    try w.write("hello, guest", null);

    try expect(std.mem.allEqual(u8, &out, 0xAB) and bytes[9 * pr.page_size + 103] == 0xAB);
    try expectEqual(@as(usize, 1), rs.count());
    var window = try rs.get(0);
    defer window.deinit();
    try expectEqualSlices(u64, r.gpns(), window.gpns());
    try r.read(mem, &out, null);
    try testing.expectEqualStrings("hello, guest", out[0..12]);
    try expectEqual(@as(u8, 0xAB), out[12]);
}
