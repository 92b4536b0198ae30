//! Zig binding for the pagedrange C ABI (include/pagedrange.h).
//!
//! A thin layer: every handle type wraps one C handle and has `deinit`;
//! every fallible call returns an error union over `Error`, which has one
//! member per `pr_status` code. Reads, writes and fills take an optional
//! `*Transfer` that the library always fills in, so the bytes moved and the
//! fault address and code of a failed guest memory callback are available
//! after `error.Memory`.
//!
//! Guest memory is either mapped host memory (`Memory.initMapped`) or any
//! Zig value with `read`/`write` (and optionally `fill`) methods, turned
//! into C callbacks by `Memory.initCallbacks` (see `SliceRam` for one over a
//! byte slice).

const std = @import("std");

/// The raw C declarations, for anything this wrapper does not cover.
pub const c = @cImport({
    @cInclude("pagedrange.h");
});

/// Size of a guest page in bytes.
pub const page_size: usize = c.PR_PAGE_SIZE;
/// The highest addressable guest page number (2^52 - 1).
pub const max_gpn: u64 = c.PR_MAX_GPN;

/// The library version the header describes.
pub const header_version: std.SemanticVersion = .{
    .major = c.PR_VERSION_MAJOR,
    .minor = c.PR_VERSION_MINOR,
    .patch = c.PR_VERSION_PATCH,
};

/// One error per PR_ERR_* code, plus `UnknownStatus` for a code this
/// binding does not know (a newer library).
pub const Error = error{
    /// PR_ERR_NULL_ARGUMENT: a required pointer argument was NULL.
    NullArgument,
    /// PR_ERR_OUT_OF_RANGE: an offset or length lies outside the range, or
    /// offset + len overflows.
    OutOfRange,
    /// PR_ERR_INVALID_GPN: a guest page number cannot be addressed.
    InvalidGpn,
    /// PR_ERR_MEMORY: a guest memory callback failed; see `Transfer`.
    Memory,
    /// PR_ERR_BUFFER_TOO_SMALL: an output array was too short.
    BufferTooSmall,
    /// PR_ERR_INVALID_ARGUMENT: an argument has an impossible value.
    InvalidArgument,
    /// PR_ERR_ALLOCATION: the library could not allocate a handle.
    Allocation,
    /// PR_ERR_PANIC: an internal error was caught at the boundary.
    Panic,
    /// A status code this binding does not know.
    UnknownStatus,
};

/// The raw status type of the C ABI.
pub const Status = c.pr_status;

/// Turns a status code into `void` (PR_OK) or the matching error.
pub fn check(status: Status) Error!void {
    return switch (status) {
        c.PR_OK => {},
        c.PR_ERR_NULL_ARGUMENT => error.NullArgument,
        c.PR_ERR_OUT_OF_RANGE => error.OutOfRange,
        c.PR_ERR_INVALID_GPN => error.InvalidGpn,
        c.PR_ERR_MEMORY => error.Memory,
        c.PR_ERR_BUFFER_TOO_SMALL => error.BufferTooSmall,
        c.PR_ERR_INVALID_ARGUMENT => error.InvalidArgument,
        c.PR_ERR_ALLOCATION => error.Allocation,
        c.PR_ERR_PANIC => error.Panic,
        else => error.UnknownStatus,
    };
}

/// The status code of an error (`null` for `UnknownStatus`, which stands
/// for many codes).
pub fn statusOf(err: Error) ?Status {
    return switch (err) {
        error.NullArgument => c.PR_ERR_NULL_ARGUMENT,
        error.OutOfRange => c.PR_ERR_OUT_OF_RANGE,
        error.InvalidGpn => c.PR_ERR_INVALID_GPN,
        error.Memory => c.PR_ERR_MEMORY,
        error.BufferTooSmall => c.PR_ERR_BUFFER_TOO_SMALL,
        error.InvalidArgument => c.PR_ERR_INVALID_ARGUMENT,
        error.Allocation => c.PR_ERR_ALLOCATION,
        error.Panic => c.PR_ERR_PANIC,
        error.UnknownStatus => null,
    };
}

/// The library's English description of a status code (static).
pub fn statusStr(status: Status) [:0]const u8 {
    return std.mem.span(c.pr_status_str(status));
}

/// The library's version string, "MAJOR.MINOR.PATCH" (static).
pub fn version() [:0]const u8 {
    return std.mem.span(c.pr_version());
}

/// Outcome of a read, write or fill: `done` bytes moved; on
/// `error.Memory`, `fault_gpa` and `fault_code` describe the failed run
/// (both 0 otherwise). Same layout as the C `pr_transfer`.
pub const Transfer = c.pr_transfer;

/// A guest physical address range `start..end` (end exclusive).
pub const AddressRange = c.pr_address_range;

/// One piece of guest RAM mapped into this process.
pub const MappedRegion = c.pr_mapped_region;

/// A host `struct iovec`.
pub const IoVec = c.struct_iovec;

/// Result of `Range.iovecs` / `Ranges.iovecs`: `vecs` is the filled prefix
/// of the caller's array, covering the first `covered` bytes. `complete`
/// is false when the array was too short (issue the IO, skip `covered`
/// bytes and ask again).
pub const IoVecs = struct {
    vecs: []IoVec,
    covered: usize,
    complete: bool,
};

/// Guest memory that ranges read from and write to.
pub const Memory = struct {
    handle: *c.pr_memory,

    /// Guest memory served by `impl`, a pointer to a value with methods
    ///   read(self, gpa: u64, dst: []u8) c_int
    ///   write(self, gpa: u64, src: []const u8) c_int
    /// and optionally
    ///   fill(self, gpa: u64, value: u8, len: usize) c_int
    /// each returning 0 on success or a nonzero code reported back in
    /// `Transfer.fault_code`. Without `fill`, the library fills through
    /// `write` in pieces of at most 4 KiB. `impl` must outlive the memory
    /// and every cursor made from it; methods may be called from several
    /// threads at once when the memory is shared.
    pub fn initCallbacks(impl: anytype) Error!Memory {
        const Ptr = @TypeOf(impl);
        const info = @typeInfo(Ptr);
        if (info != .pointer or info.pointer.size != .one)
            @compileError("Memory.initCallbacks expects a single-item pointer, got " ++ @typeName(Ptr));
        const T = info.pointer.child;
        const Adapter = struct {
            fn implOf(ctx: ?*anyopaque) Ptr {
                return @ptrCast(@alignCast(ctx.?));
            }
            fn read(ctx: ?*anyopaque, gpa: u64, dst: ?*anyopaque, len: usize) callconv(.c) c_int {
                const p: [*]u8 = @ptrCast(dst.?);
                return implOf(ctx).read(gpa, p[0..len]);
            }
            fn write(ctx: ?*anyopaque, gpa: u64, src: ?*const anyopaque, len: usize) callconv(.c) c_int {
                const p: [*]const u8 = @ptrCast(src.?);
                return implOf(ctx).write(gpa, p[0..len]);
            }
            fn fill(ctx: ?*anyopaque, gpa: u64, value: u8, len: usize) callconv(.c) c_int {
                return implOf(ctx).fill(gpa, value, len);
            }
        };
        const ops: c.pr_memory_ops = .{
            .read = Adapter.read,
            .write = Adapter.write,
            .fill = if (@hasDecl(T, "fill")) Adapter.fill else null,
        };
        // The library copies `ops`; ctx is the (const-stripped) impl pointer.
        const ctx: ?*anyopaque = @ptrCast(@constCast(impl));
        return initRaw(&ops, ctx);
    }

    /// Guest memory from a raw C callback table (copied) and context.
    pub fn initRaw(ops: *const c.pr_memory_ops, ctx: ?*anyopaque) Error!Memory {
        var out: ?*c.pr_memory = null;
        try check(c.pr_memory_new_callbacks(ops, ctx, &out));
        return .{ .handle = out.? };
    }

    /// Guest memory over RAM mapped into this process (the array is
    /// copied; the mappings must outlive the memory and its cursors).
    pub fn initMapped(regions: []const MappedRegion) Error!Memory {
        var out: ?*c.pr_memory = null;
        try check(c.pr_memory_new_mapped(ptrOrNull(regions), regions.len, &out));
        return .{ .handle = out.? };
    }

    /// Releases this handle; cursors made from it keep the memory alive.
    pub fn deinit(self: *Memory) void {
        c.pr_memory_free(self.handle);
        self.* = undefined;
    }
};

/// Guest RAM over a host byte slice: guest addresses
/// `base .. base + bytes.len` map to `bytes`. A run outside it fails with
/// `fault_code` `SliceRam.out_of_bounds`.
pub const SliceRam = struct {
    bytes: []u8,
    base: u64 = 0,

    /// The code reported for an access outside the slice (EFAULT).
    pub const out_of_bounds: c_int = 14;

    fn window(self: *const SliceRam, gpa: u64, len: usize) ?[]u8 {
        if (gpa < self.base) return null;
        const start = gpa - self.base;
        if (start > self.bytes.len or len > self.bytes.len - start) return null;
        const s: usize = @intCast(start);
        return self.bytes[s .. s + len];
    }

    pub fn read(self: *SliceRam, gpa: u64, dst: []u8) c_int {
        const w = self.window(gpa, dst.len) orelse return out_of_bounds;
        @memcpy(dst, w);
        return 0;
    }

    pub fn write(self: *SliceRam, gpa: u64, src: []const u8) c_int {
        const w = self.window(gpa, src.len) orelse return out_of_bounds;
        @memcpy(w, src);
        return 0;
    }

    pub fn fill(self: *SliceRam, gpa: u64, value: u8, len: usize) c_int {
        const w = self.window(gpa, len) orelse return out_of_bounds;
        @memset(w, value);
        return 0;
    }

    /// Guest memory backed by this RAM (which must outlive it).
    pub fn memory(self: *SliceRam) Error!Memory {
        return Memory.initCallbacks(self);
    }
};

/// Lists runs through a C `*_address_ranges` function: fills `buf` and
/// returns the number of runs, or `error.BufferTooSmall` when `buf` is too
/// short (its first `buf.len` runs are then written).
/// A slice's pointer, or null for an empty slice (the library accepts NULL
/// with a zero count and checks the alignment of any other pointer).
fn ptrOrNull(slice: anytype) ?@TypeOf(slice.ptr) {
    return if (slice.len == 0) null else slice.ptr;
}

fn runsInto(comptime f: anytype, h: anytype, buf: []AddressRange) Error!usize {
    var count: usize = 0;
    try check(f(h, ptrOrNull(buf), buf.len, &count));
    return count;
}

fn runCount(comptime f: anytype, h: anytype) Error!usize {
    var count: usize = 0;
    check(f(h, null, 0, &count)) catch |err| switch (err) {
        error.BufferTooSmall => {},
        else => return err,
    };
    return count;
}

fn runsAlloc(comptime f: anytype, h: anytype, gpa: std.mem.Allocator) (Error || std.mem.Allocator.Error)![]AddressRange {
    const n = try runCount(f, h);
    const buf = try gpa.alloc(AddressRange, n);
    errdefer gpa.free(buf);
    const got = try runsInto(f, h, buf);
    std.debug.assert(got == n);
    return buf;
}

fn iovecsInto(comptime f: anytype, h: anytype, mem: Memory, len: usize, buf: []IoVec) Error!IoVecs {
    var n: usize = 0;
    var covered: usize = 0;
    var complete = true;
    check(f(h, mem.handle, len, ptrOrNull(buf), buf.len, &n, &covered)) catch |err| switch (err) {
        error.BufferTooSmall => complete = false,
        else => return err,
    };
    return .{ .vecs = buf[0..n], .covered = covered, .complete = complete };
}

/// A window of bytes over a list of guest page numbers.
pub const Range = extern struct {
    handle: *c.pr_range,

    /// The window of `n` bytes starting `off` bytes into the flat byte
    /// space of `pages` (copied; page i holds bytes i*page_size ..
    /// (i+1)*page_size). Errors: OutOfRange (off + n overflows or
    /// passes the last page), InvalidGpn (a page of the window is above
    /// `max_gpn`, or the window covers the last byte of `max_gpn`).
    pub fn init(pages: []const u64, off: usize, n: usize) Error!Range {
        var out: ?*c.pr_range = null;
        try check(c.pr_range_new(ptrOrNull(pages), pages.len, off, n, &out));
        return .{ .handle = out.? };
    }

    /// The empty range.
    pub fn empty() Error!Range {
        return init(&.{}, 0, 0);
    }

    pub fn deinit(self: *Range) void {
        c.pr_range_free(self.handle);
        self.* = undefined;
    }

    /// A new handle for the same window.
    pub fn clone(self: Range) Error!Range {
        var out: ?*c.pr_range = null;
        try check(c.pr_range_clone(self.handle, &out));
        return .{ .handle = out.? };
    }

    /// Bytes in the window.
    pub fn len(self: Range) usize {
        return c.pr_range_len(self.handle);
    }

    /// Offset of the first byte within its page (below `page_size`).
    pub fn offset(self: Range) usize {
        return c.pr_range_offset(self.handle);
    }

    /// The pages the window covers. Valid while any handle sharing this
    /// range's page list (clones, subranges, cursors) lives.
    pub fn gpns(self: Range) []const u64 {
        var n: usize = 0;
        const p = c.pr_range_gpns(self.handle, &n);
        if (p == null or n == 0) return &.{};
        return p[0..n];
    }

    /// A range for the `n` bytes starting `off` bytes into this one.
    pub fn subrange(self: Range, off: usize, n: usize) Error!Range {
        var out: ?*c.pr_range = null;
        try check(c.pr_range_subrange(self.handle, off, n, &out));
        return .{ .handle = out.? };
    }

    /// Drops the first `n` bytes (unchanged on error).
    pub fn skip(self: *Range, n: usize) Error!void {
        try check(c.pr_range_skip(self.handle, n));
    }

    /// Keeps only the first `n` bytes (unchanged on error).
    pub fn truncate(self: *Range, n: usize) Error!void {
        try check(c.pr_range_truncate(self.handle, n));
    }

    pub const Split = struct { front: Range, back: Range };

    /// Two new ranges: bytes `0..at` and `at..`; `self` is unchanged.
    pub fn split(self: Range, at: usize) Error!Split {
        var front: ?*c.pr_range = null;
        var back: ?*c.pr_range = null;
        try check(c.pr_range_split(self.handle, at, &front, &back));
        return .{ .front = .{ .handle = front.? }, .back = .{ .handle = back.? } };
    }

    /// Number of runs of physically adjacent pages in the window.
    pub fn addressRangeCount(self: Range) Error!usize {
        return runCount(c.pr_range_address_ranges, self.handle);
    }

    /// Writes the runs into `buf` and returns how many there are;
    /// BufferTooSmall when `buf` is short (its first runs are written).
    pub fn addressRangesInto(self: Range, buf: []AddressRange) Error!usize {
        return runsInto(c.pr_range_address_ranges, self.handle, buf);
    }

    /// The runs in a new slice owned by the caller.
    pub fn addressRanges(self: Range, gpa: std.mem.Allocator) (Error || std.mem.Allocator.Error)![]AddressRange {
        return runsAlloc(c.pr_range_address_ranges, self.handle, gpa);
    }

    /// Reads the first `dst.len` bytes of the window.
    pub fn read(self: Range, mem: Memory, dst: []u8, t: ?*Transfer) Error!void {
        try check(c.pr_range_read(self.handle, mem.handle, dst.ptr, dst.len, t));
    }

    /// Writes `src` over the first `src.len` bytes of the window.
    pub fn write(self: Range, mem: Memory, src: []const u8, t: ?*Transfer) Error!void {
        try check(c.pr_range_write(self.handle, mem.handle, src.ptr, src.len, t));
    }

    /// Sets the first `n` bytes of the window to `value`.
    pub fn fill(self: Range, mem: Memory, value: u8, n: usize, t: ?*Transfer) Error!void {
        try check(c.pr_range_fill(self.handle, mem.handle, value, n, t));
    }

    /// Host iovecs for the first `n` bytes in mapped memory.
    pub fn iovecs(self: Range, mem: Memory, n: usize, buf: []IoVec) Error!IoVecs {
        return iovecsInto(c.pr_range_iovecs, self.handle, mem, n, buf);
    }

    /// A cursor reading the window from its first byte.
    pub fn reader(self: Range, mem: Memory) Error!Reader {
        var out: ?*c.pr_reader = null;
        try check(c.pr_reader_new(self.handle, mem.handle, &out));
        return .{ .handle = out.? };
    }

    /// A cursor writing the window from its first byte.
    pub fn writer(self: Range, mem: Memory) Error!Writer {
        var out: ?*c.pr_writer = null;
        try check(c.pr_writer_new(self.handle, mem.handle, &out));
        return .{ .handle = out.? };
    }
};

comptime {
    // Range slices are passed to pr_ranges_new as arrays of handles.
    std.debug.assert(@sizeOf(Range) == @sizeOf(*c.pr_range));
    std.debug.assert(@alignOf(Range) == @alignOf(*c.pr_range));
}

/// A list of ranges read and written as one buffer.
pub const Ranges = struct {
    handle: *c.pr_ranges,

    /// A buffer of the windows of `ranges`, in order. The handles stay the
    /// caller's (page lists are shared).
    pub fn init(ranges: []const Range) Error!Ranges {
        var out: ?*c.pr_ranges = null;
        const p: ?[*]const ?*const c.pr_range = @ptrCast(ptrOrNull(ranges));
        try check(c.pr_ranges_new(p, ranges.len, &out));
        return .{ .handle = out.? };
    }

    /// An empty buffer.
    pub fn empty() Error!Ranges {
        return init(&.{});
    }

    pub fn deinit(self: *Ranges) void {
        c.pr_ranges_free(self.handle);
        self.* = undefined;
    }

    /// Appends a copy of `r`'s window.
    pub fn push(self: *Ranges, r: Range) Error!void {
        try check(c.pr_ranges_push(self.handle, r.handle));
    }

    /// Bytes in the buffer.
    pub fn len(self: Ranges) usize {
        return c.pr_ranges_len(self.handle);
    }

    /// Non-empty windows in the buffer.
    pub fn count(self: Ranges) usize {
        return c.pr_ranges_count(self.handle);
    }

    /// A new range for window `index` (as counted by `count`).
    pub fn get(self: Ranges, index: usize) Error!Range {
        var out: ?*c.pr_range = null;
        try check(c.pr_ranges_get(self.handle, index, &out));
        return .{ .handle = out.? };
    }

    pub fn skip(self: *Ranges, n: usize) Error!void {
        try check(c.pr_ranges_skip(self.handle, n));
    }

    pub fn truncate(self: *Ranges, n: usize) Error!void {
        try check(c.pr_ranges_truncate(self.handle, n));
    }

    pub fn addressRangeCount(self: Ranges) Error!usize {
        return runCount(c.pr_ranges_address_ranges, self.handle);
    }

    pub fn addressRangesInto(self: Ranges, buf: []AddressRange) Error!usize {
        return runsInto(c.pr_ranges_address_ranges, self.handle, buf);
    }

    pub fn addressRanges(self: Ranges, gpa: std.mem.Allocator) (Error || std.mem.Allocator.Error)![]AddressRange {
        return runsAlloc(c.pr_ranges_address_ranges, self.handle, gpa);
    }

    pub fn read(self: Ranges, mem: Memory, dst: []u8, t: ?*Transfer) Error!void {
        try check(c.pr_ranges_read(self.handle, mem.handle, dst.ptr, dst.len, t));
    }

    pub fn write(self: Ranges, mem: Memory, src: []const u8, t: ?*Transfer) Error!void {
        try check(c.pr_ranges_write(self.handle, mem.handle, src.ptr, src.len, t));
    }

    pub fn fill(self: Ranges, mem: Memory, value: u8, n: usize, t: ?*Transfer) Error!void {
        try check(c.pr_ranges_fill(self.handle, mem.handle, value, n, t));
    }

    pub fn iovecs(self: Ranges, mem: Memory, n: usize, buf: []IoVec) Error!IoVecs {
        return iovecsInto(c.pr_ranges_iovecs, self.handle, mem, n, buf);
    }

    pub fn reader(self: Ranges, mem: Memory) Error!Reader {
        var out: ?*c.pr_reader = null;
        try check(c.pr_ranges_reader_new(self.handle, mem.handle, &out));
        return .{ .handle = out.? };
    }

    pub fn writer(self: Ranges, mem: Memory) Error!Writer {
        var out: ?*c.pr_writer = null;
        try check(c.pr_ranges_writer_new(self.handle, mem.handle, &out));
        return .{ .handle = out.? };
    }
};

/// A cursor reading a range or buffer front to back. It keeps the page
/// list and the memory alive. One thread at a time.
pub const Reader = struct {
    handle: *c.pr_reader,

    pub fn deinit(self: *Reader) void {
        c.pr_reader_free(self.handle);
        self.* = undefined;
    }

    /// Reads the next `dst.len` bytes. The cursor advances by exactly the
    /// bytes moved (`t.done`), also on error.Memory.
    pub fn read(self: *Reader, dst: []u8, t: ?*Transfer) Error!void {
        try check(c.pr_reader_read(self.handle, dst.ptr, dst.len, t));
    }

    pub fn skip(self: *Reader, n: usize) Error!void {
        try check(c.pr_reader_skip(self.handle, n));
    }

    pub fn remaining(self: Reader) usize {
        return c.pr_reader_remaining(self.handle);
    }
};

/// A cursor writing a range or buffer front to back. It keeps the page
/// list and the memory alive. One thread at a time.
pub const Writer = struct {
    handle: *c.pr_writer,

    pub fn deinit(self: *Writer) void {
        c.pr_writer_free(self.handle);
        self.* = undefined;
    }

    /// Writes `src` at the cursor; advances by exactly `t.done`.
    pub fn write(self: *Writer, src: []const u8, t: ?*Transfer) Error!void {
        try check(c.pr_writer_write(self.handle, src.ptr, src.len, t));
    }

    /// Sets the next `n` bytes to `value`; advances by exactly `t.done`.
    pub fn fill(self: *Writer, value: u8, n: usize, t: ?*Transfer) Error!void {
        try check(c.pr_writer_fill(self.handle, value, n, t));
    }

    pub fn remaining(self: Writer) usize {
        return c.pr_writer_remaining(self.handle);
    }
};
