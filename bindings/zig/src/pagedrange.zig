//! Zig binding for the pagedrange C ABI (include/pagedrange.h).
//!
//! A thin layer over every function of the header (a test checks that this
//! file calls each one): every handle type wraps one C handle and has
//! `deinit`; every fallible call returns an error union over `Error`, which
//! has one member per `pr_status` code. Reads, writes and fills take an
//! optional `*Transfer` that the library always fills in, so the bytes
//! moved and the fault address and code are available after
//! `error.Memory`.
//!
//! Guest memory is either mapped host memory (`Memory.initMapped`) or any
//! Zig value with `read`/`write` (and optionally `fill`) methods, turned
//! into C callbacks by `Memory.initCallbacks` (see `SliceRam` for one over a
//! byte slice); either can be wrapped in a dirty log. Segments are collected
//! into buffers by `Builder`, descriptor chains walked by `ChainWalker`,
//! and the GPA-range wire format read and written by `Ranges`.

const std = @import("std");

/// The raw C declarations (types, constants and functions) the wrapper is
/// built on.
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
/// binding does not know (a newer library). A test checks the set against
/// the header's PR_ERR_* definitions.
pub const Error = error{
    /// PR_ERR_NULL_ARGUMENT: a required pointer argument was NULL.
    NullArgument,
    /// PR_ERR_OUT_OF_RANGE: an offset or length lies outside the range, or
    /// offset + len overflows.
    OutOfRange,
    /// PR_ERR_INVALID_GPN: a guest page number cannot be addressed.
    InvalidGpn,
    /// PR_ERR_MEMORY: a guest memory access failed; see `Transfer`.
    Memory,
    /// PR_ERR_BUFFER_TOO_SMALL: an output array was too short.
    BufferTooSmall,
    /// PR_ERR_INVALID_ARGUMENT: an argument has an impossible value.
    InvalidArgument,
    /// PR_ERR_ALLOCATION: the library could not allocate a handle.
    Allocation,
    /// PR_ERR_PANIC: an internal error was caught at the boundary.
    Panic,
    /// PR_ERR_LIMIT: a limit set by the caller (a builder's or a chain
    /// walker's windows, pages or bytes) was exceeded.
    Limit,
    /// PR_ERR_MALFORMED: encoded input (the GPA-range wire format, a
    /// descriptor chain) breaks its format's rules.
    Malformed,
    /// PR_ERR_UNSUPPORTED: the platform cannot do what was asked (fault
    /// recovery exists only on x86-64 Linux).
    Unsupported,
    /// A status code this binding does not know.
    UnknownStatus,
};

/// The raw status type of the C ABI.
pub const Status = c.pr_status;

/// Every PR_ERR_* code with its error: the one table `check` and
/// `statusOf` read.
const status_errors = [_]struct { Status, Error }{
    .{ c.PR_ERR_NULL_ARGUMENT, error.NullArgument },
    .{ c.PR_ERR_OUT_OF_RANGE, error.OutOfRange },
    .{ c.PR_ERR_INVALID_GPN, error.InvalidGpn },
    .{ c.PR_ERR_MEMORY, error.Memory },
    .{ c.PR_ERR_BUFFER_TOO_SMALL, error.BufferTooSmall },
    .{ c.PR_ERR_INVALID_ARGUMENT, error.InvalidArgument },
    .{ c.PR_ERR_ALLOCATION, error.Allocation },
    .{ c.PR_ERR_PANIC, error.Panic },
    .{ c.PR_ERR_LIMIT, error.Limit },
    .{ c.PR_ERR_MALFORMED, error.Malformed },
    .{ c.PR_ERR_UNSUPPORTED, error.Unsupported },
};

/// Turns a status code into `void` (PR_OK) or the matching error.
pub fn check(status: Status) Error!void {
    if (status == c.PR_OK) return;
    inline for (status_errors) |e| {
        if (status == e[0]) return e[1];
    }
    return error.UnknownStatus;
}

/// The status code of an error (`null` for `UnknownStatus`, which stands
/// for many codes).
pub fn statusOf(err: Error) ?Status {
    inline for (status_errors) |e| {
        if (err == e[1]) return e[0];
    }
    return null;
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
/// `error.Memory`, `fault_gpa` is the guest address blamed and
/// `fault_code` says why (see `FaultCode`); both are 0 otherwise. Same
/// layout as the C `pr_transfer`.
pub const Transfer = c.pr_transfer;

/// Why a guest memory access failed (`Transfer.fault_code`): one of the
/// library's own codes (the PR_FAULT_* values; a test checks the tags
/// against the header), or whatever nonzero code a memory callback
/// returned (a value without a tag).
pub const FaultCode = enum(c_int) {
    /// Mapped memory: an access outside the regions (`fault_gpa` is the
    /// first address outside).
    unmapped = c.PR_FAULT_UNMAPPED,
    /// Dirty-logged memory: a write to a page its bitmap does not cover.
    untracked = c.PR_FAULT_UNTRACKED,
    /// Mapped memory raised SIGBUS (a page past the end of a truncated
    /// file), with `installFaultRecovery`.
    sigbus = c.PR_FAULT_SIGBUS,
    /// Mapped memory raised SIGSEGV (an unmapped or protected page), with
    /// `installFaultRecovery`.
    sigsegv = c.PR_FAULT_SIGSEGV,
    _,

    /// The code a transfer reports.
    pub fn of(t: Transfer) FaultCode {
        return @enumFromInt(t.fault_code);
    }
};

/// Installs the library's SIGSEGV and SIGBUS handler, so that a fault in
/// mapped guest memory (a truncated file behind a region, an unmapped or
/// protected page) fails the transfer with error.Memory (`fault_gpa` the
/// address that faulted, `FaultCode.sigbus` or `.sigsegv`, `done` the
/// bytes before it) instead of killing the process. Process-wide,
/// idempotent and permanent; other faults go to the handler installed
/// before it, so call it after installing your own. Errors: Unsupported
/// (not x86-64 Linux, or sigaction refused).
pub fn installFaultRecovery() Error!void {
    try check(c.pr_fault_recovery_install());
}

/// A guest physical address range `start..end` (end exclusive).
pub const AddressRange = c.pr_address_range;

/// One piece of guest RAM mapped into this process.
pub const MappedRegion = c.pr_mapped_region;

/// A host `struct iovec`.
pub const IoVec = c.struct_iovec;

/// Result of the `iovecs` methods: `vecs` is the filled prefix of the
/// caller's array, covering the first `covered` bytes. `complete` is false
/// when the array was too short (issue the IO, then ask for the rest: a
/// cursor has advanced by `covered`, a range or buffer must be skipped).
pub const IoVecs = struct {
    vecs: []IoVec,
    covered: usize,
    complete: bool,
};

// ---------------------------------------------------------------------------
// Helpers shared by the handle types
// ---------------------------------------------------------------------------

/// A slice's pointer, or null for an empty slice (the library accepts NULL
/// with a zero count and checks the alignment of any other pointer).
fn ptrOrNull(slice: anytype) ?@TypeOf(slice.ptr) {
    return if (slice.len == 0) null else slice.ptr;
}

/// Calls a C constructor `f(args..., &out)` and returns the new handle.
fn make(comptime T: type, comptime f: anytype, args: anytype) Error!*T {
    var out: ?*T = null;
    try check(@call(.auto, f, args ++ .{&out}));
    return out.?;
}

/// The C functions that fill a caller's array share one shape:
/// `f(handle, array, capacity, &needed)`, PR_ERR_BUFFER_TOO_SMALL (with
/// `needed` written) when the array is short. This asks for `needed` only.
fn neededCount(comptime f: anytype, h: anytype) Error!usize {
    var needed: usize = 0;
    check(f(h, null, 0, &needed)) catch |err| switch (err) {
        error.BufferTooSmall => {},
        else => return err,
    };
    return needed;
}

/// Fills `buf` through `f` (shape as for `neededCount`) and returns the
/// count needed; error.BufferTooSmall when `buf` is shorter than that.
fn fillArray(comptime f: anytype, h: anytype, buf: anytype) Error!usize {
    var needed: usize = 0;
    try check(f(h, ptrOrNull(buf), buf.len, &needed));
    return needed;
}

/// The whole array `f` fills (shape as for `neededCount`), in memory from
/// `gpa` that the caller frees.
fn allocArray(comptime T: type, comptime f: anytype, h: anytype, gpa: std.mem.Allocator) (Error || std.mem.Allocator.Error)![]T {
    const n = try neededCount(f, h);
    const buf = try gpa.alloc(T, n);
    errdefer gpa.free(buf);
    const got = try fillArray(f, h, buf);
    std.debug.assert(got == n);
    return buf;
}

/// Exports iovecs through `f(args..., iov, capacity, &count, &covered)`.
fn iovecsInto(comptime f: anytype, args: anytype, buf: []IoVec) Error!IoVecs {
    var n: usize = 0;
    var covered: usize = 0;
    var complete = true;
    check(@call(.auto, f, args ++ .{ ptrOrNull(buf), buf.len, &n, &covered })) catch |err| switch (err) {
        error.BufferTooSmall => complete = false,
        else => return err,
    };
    return .{ .vecs = buf[0..n], .covered = covered, .complete = complete };
}

/// Checks at compile time that `Ptr` is a single-item pointer, the context
/// a Zig value hands to C callbacks.
fn expectImplPointer(comptime Ptr: type, comptime who: []const u8) void {
    const info = @typeInfo(Ptr);
    if (info != .pointer or info.pointer.size != .one)
        @compileError(who ++ " expects a single-item pointer, got " ++ @typeName(Ptr));
}

/// The C context pointer for `impl` (const-stripped; callbacks get it back
/// through `implOf`).
fn ctxOf(impl: anytype) ?*anyopaque {
    return @ptrCast(@constCast(impl));
}

fn implOf(comptime Ptr: type, ctx: ?*anyopaque) Ptr {
    return @ptrCast(@alignCast(ctx.?));
}

// ---------------------------------------------------------------------------
// Guest memory
// ---------------------------------------------------------------------------

/// A C dirty-page callback: `dirty(ctx, gpa, len)`.
pub const DirtyFn = *const fn (ctx: ?*anyopaque, gpa: u64, len: usize) callconv(.c) void;

/// Guest memory that ranges read from and write to. Reference counted in
/// the library: cursors and dirty-logging wrappers keep it alive.
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
        expectImplPointer(Ptr, "Memory.initCallbacks");
        const T = @typeInfo(Ptr).pointer.child;
        const Adapter = struct {
            fn read(ctx: ?*anyopaque, gpa: u64, dst: ?*anyopaque, len: usize) callconv(.c) c_int {
                const p: [*]u8 = @ptrCast(dst.?);
                return implOf(Ptr, ctx).read(gpa, p[0..len]);
            }
            fn write(ctx: ?*anyopaque, gpa: u64, src: ?*const anyopaque, len: usize) callconv(.c) c_int {
                const p: [*]const u8 = @ptrCast(src.?);
                return implOf(Ptr, ctx).write(gpa, p[0..len]);
            }
            fn fill(ctx: ?*anyopaque, gpa: u64, value: u8, len: usize) callconv(.c) c_int {
                return implOf(Ptr, ctx).fill(gpa, value, len);
            }
        };
        const ops: c.pr_memory_ops = .{
            .read = Adapter.read,
            .write = Adapter.write,
            .fill = if (@hasDecl(T, "fill")) Adapter.fill else null,
        };
        // The library copies `ops`.
        return initRaw(&ops, ctxOf(impl));
    }

    /// Guest memory from a raw C callback table (copied) and context.
    pub fn initRaw(ops: *const c.pr_memory_ops, ctx: ?*anyopaque) Error!Memory {
        return .{ .handle = try make(c.pr_memory, c.pr_memory_new_callbacks, .{ ops, ctx }) };
    }

    /// Guest memory over RAM mapped into this process (the array is
    /// copied; the mappings must outlive the memory and its cursors).
    /// Errors: InvalidArgument (a region is empty, overflows or overlaps
    /// another).
    pub fn initMapped(regions: []const MappedRegion) Error!Memory {
        return .{ .handle = try make(c.pr_memory, c.pr_memory_new_mapped, .{ ptrOrNull(regions), regions.len }) };
    }

    /// A new memory over this one that also sets bit `gpn % 64` of
    /// `bitmap[gpn / 64]` for every guest page written (atomically, after
    /// each run succeeds), for the first `page_count` pages: a write
    /// touching a page beyond fails with error.Memory
    /// (`FaultCode.untracked`) before any byte of its run moves. Exported writer iovecs are marked when
    /// exported. `bitmap` must outlive the new memory and its cursors and
    /// be read or cleared only atomically meanwhile (`@atomicLoad`,
    /// `@atomicRmw`). Errors: BufferTooSmall (`bitmap` holds fewer than
    /// `page_count` bits).
    pub fn withDirtyBitmap(self: Memory, bitmap: []u64, page_count: u64) Error!Memory {
        if (std.math.divCeil(u64, page_count, 64) catch unreachable > bitmap.len) return error.BufferTooSmall;
        return .{ .handle = try make(c.pr_memory, c.pr_memory_with_dirty_bitmap, .{ self.handle, bitmap.ptr, page_count }) };
    }

    /// A new memory over this one that reports every run written:
    /// `impl.dirty(gpa: u64, len: usize) void` is called after each run is
    /// written or filled (never for a failed run), and for exported writer
    /// iovecs when they are exported. `impl` (a single-item pointer) must
    /// outlive the new memory and its cursors; `dirty` may be called from
    /// several threads at once.
    pub fn withDirtyCallback(self: Memory, impl: anytype) Error!Memory {
        const Ptr = @TypeOf(impl);
        expectImplPointer(Ptr, "Memory.withDirtyCallback");
        const Adapter = struct {
            fn dirty(ctx: ?*anyopaque, gpa: u64, len: usize) callconv(.c) void {
                implOf(Ptr, ctx).dirty(gpa, len);
            }
        };
        return self.withDirtyCallbackRaw(Adapter.dirty, ctxOf(impl));
    }

    /// `withDirtyCallback` with a raw C callback and context.
    pub fn withDirtyCallbackRaw(self: Memory, dirty: DirtyFn, ctx: ?*anyopaque) Error!Memory {
        return .{ .handle = try make(c.pr_memory, c.pr_memory_with_dirty_callback, .{ self.handle, dirty, ctx }) };
    }

    /// Reads `dst.len` bytes at guest address `gpa` in one access (for
    /// structures read by address, such as a virtqueue's rings). On
    /// `error.Memory`, `t.done` is 0 for a refused access, or the bytes
    /// before the faulting one for a fault recovered after
    /// `installFaultRecovery`. With mapped memory, 1, 2, 4 or 8 bytes at an
    /// address aligned to their size are read in one load.
    pub fn read(self: Memory, gpa: u64, dst: []u8, t: ?*Transfer) Error!void {
        try check(c.pr_memory_read(self.handle, gpa, dst.ptr, dst.len, t));
    }

    /// Writes `src` at guest address `gpa` in one access, `t` as for
    /// `read` (dirty logs record what was written); aligned 1, 2, 4 or 8
    /// bytes are one store.
    pub fn write(self: Memory, gpa: u64, src: []const u8, t: ?*Transfer) Error!void {
        try check(c.pr_memory_write(self.handle, gpa, src.ptr, src.len, t));
    }

    /// Releases this handle; cursors and wrappers made from it keep the
    /// memory alive.
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

// ---------------------------------------------------------------------------
// Ranges and buffers
// ---------------------------------------------------------------------------

/// A window of bytes over a list of guest page numbers.
pub const Range = extern struct {
    handle: *c.pr_range,

    /// The window of `n` bytes starting `off` bytes into the flat byte
    /// space of `pages` (copied; page i holds bytes i*page_size ..
    /// (i+1)*page_size). Errors: OutOfRange (off + n overflows or
    /// passes the last page), InvalidGpn (a page of the window is above
    /// `max_gpn`, or the window covers the last byte of `max_gpn`).
    pub fn init(pages: []const u64, off: usize, n: usize) Error!Range {
        return .{ .handle = try make(c.pr_range, c.pr_range_new, .{ ptrOrNull(pages), pages.len, off, n }) };
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
        return .{ .handle = try make(c.pr_range, c.pr_range_clone, .{self.handle}) };
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
        return .{ .handle = try make(c.pr_range, c.pr_range_subrange, .{ self.handle, off, n }) };
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
        return neededCount(c.pr_range_address_ranges, self.handle);
    }

    /// Writes the runs into `buf` and returns how many there are;
    /// BufferTooSmall when `buf` is short (its first runs are written).
    pub fn addressRangesInto(self: Range, buf: []AddressRange) Error!usize {
        return fillArray(c.pr_range_address_ranges, self.handle, buf);
    }

    /// The runs in a new slice owned by the caller.
    pub fn addressRanges(self: Range, gpa: std.mem.Allocator) (Error || std.mem.Allocator.Error)![]AddressRange {
        return allocArray(AddressRange, c.pr_range_address_ranges, self.handle, gpa);
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

    /// Host iovecs for the first `n` bytes in mapped memory (a dirty log
    /// over `mem` marks the pages they cover).
    pub fn iovecs(self: Range, mem: Memory, n: usize, buf: []IoVec) Error!IoVecs {
        return iovecsInto(c.pr_range_iovecs, .{ self.handle, mem.handle, n }, buf);
    }

    /// A cursor reading the window from its first byte.
    pub fn reader(self: Range, mem: Memory) Error!Reader {
        return .{ .handle = try make(c.pr_reader, c.pr_reader_new, .{ self.handle, mem.handle }) };
    }

    /// A cursor writing the window from its first byte.
    pub fn writer(self: Range, mem: Memory) Error!Writer {
        return .{ .handle = try make(c.pr_writer, c.pr_writer_new, .{ self.handle, mem.handle }) };
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
    /// caller's (page lists are copied).
    pub fn init(ranges: []const Range) Error!Ranges {
        const p: ?[*]const ?*const c.pr_range = @ptrCast(ptrOrNull(ranges));
        return .{ .handle = try make(c.pr_ranges, c.pr_ranges_new, .{ p, ranges.len }) };
    }

    /// An empty buffer.
    pub fn empty() Error!Ranges {
        return init(&.{});
    }

    /// The buffer `words` describe in the packed GPA-range format of VMBus
    /// packets, with how many words its ranges took.
    pub const Parsed = struct { ranges: Ranges, words_used: usize };

    /// Parses `range_count` ranges from `words`: per range a header word
    /// `len | offset << 32` followed by the `ceil((offset + len) / 4096)`
    /// GPNs it touches. Everything is validated and the words are copied.
    /// Errors: Malformed (truncated, offset >= 4096, or an offset with a
    /// zero length), InvalidGpn; for both, `error_word` (when not null)
    /// receives the index of the word at fault.
    pub fn parseGpaRanges(words: []const u64, range_count: usize, error_word: ?*usize) Error!Parsed {
        var out: ?*c.pr_ranges = null;
        var used: usize = 0;
        try check(c.pr_ranges_parse_gpa_ranges(ptrOrNull(words), words.len, range_count, &out, &used, error_word));
        return .{ .ranges = .{ .handle = out.? }, .words_used = used };
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
        return .{ .handle = try make(c.pr_range, c.pr_ranges_get, .{ self.handle, index }) };
    }

    pub fn skip(self: *Ranges, n: usize) Error!void {
        try check(c.pr_ranges_skip(self.handle, n));
    }

    pub fn truncate(self: *Ranges, n: usize) Error!void {
        try check(c.pr_ranges_truncate(self.handle, n));
    }

    pub fn addressRangeCount(self: Ranges) Error!usize {
        return neededCount(c.pr_ranges_address_ranges, self.handle);
    }

    pub fn addressRangesInto(self: Ranges, buf: []AddressRange) Error!usize {
        return fillArray(c.pr_ranges_address_ranges, self.handle, buf);
    }

    pub fn addressRanges(self: Ranges, gpa: std.mem.Allocator) (Error || std.mem.Allocator.Error)![]AddressRange {
        return allocArray(AddressRange, c.pr_ranges_address_ranges, self.handle, gpa);
    }

    /// Words the buffer's windows take in the GPA-range format.
    pub fn gpaRangesWordCount(self: Ranges) Error!usize {
        return neededCount(c.pr_ranges_write_gpa_ranges, self.handle);
    }

    /// Encodes the windows in the GPA-range format into `words` and returns
    /// the word count; BufferTooSmall (nothing written) when it does not
    /// fit, OutOfRange when a window is longer than 2^32 - 1 bytes.
    pub fn writeGpaRangesInto(self: Ranges, words: []u64) Error!usize {
        return fillArray(c.pr_ranges_write_gpa_ranges, self.handle, words);
    }

    /// The GPA-range encoding in a new slice owned by the caller.
    pub fn writeGpaRanges(self: Ranges, gpa: std.mem.Allocator) (Error || std.mem.Allocator.Error)![]u64 {
        return allocArray(u64, c.pr_ranges_write_gpa_ranges, self.handle, gpa);
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
        return iovecsInto(c.pr_ranges_iovecs, .{ self.handle, mem.handle, n }, buf);
    }

    pub fn reader(self: Ranges, mem: Memory) Error!Reader {
        return .{ .handle = try make(c.pr_reader, c.pr_ranges_reader_new, .{ self.handle, mem.handle }) };
    }

    pub fn writer(self: Ranges, mem: Memory) Error!Writer {
        return .{ .handle = try make(c.pr_writer, c.pr_ranges_writer_new, .{ self.handle, mem.handle }) };
    }
};

/// Limits a builder enforces: most windows, pages and bytes.
pub const BuilderLimits = c.pr_builder_limits;

/// Collects guest byte segments (a descriptor chain, a PRP or SGL list)
/// into the fewest windows. One thread at a time.
pub const Builder = struct {
    handle: *c.pr_ranges_builder,

    /// A builder with `limits`, or the virtio defaults (1024 windows,
    /// 2^32 - 1 bytes) for null.
    pub fn init(limits: ?BuilderLimits) Error!Builder {
        const l: ?*const BuilderLimits = if (limits) |*v| v else null;
        return .{ .handle = try make(c.pr_ranges_builder, c.pr_ranges_builder_new, .{l}) };
    }

    /// Frees the builder; buffers it made stay valid.
    pub fn deinit(self: *Builder) void {
        c.pr_ranges_builder_free(self.handle);
        self.* = undefined;
    }

    /// Adds the `n` bytes at guest address `gpa` after those added so far
    /// (joining the last window when they meet). On error nothing is added
    /// and `error_index` (when not null) receives this segment's index
    /// among all pushed. Errors: OutOfRange (gpa + n overflows), Limit.
    pub fn push(self: *Builder, gpa: u64, n: u64, error_index: ?*usize) Error!void {
        try check(c.pr_ranges_builder_push(self.handle, gpa, n, error_index));
    }

    /// A new buffer of the windows built so far; the builder is unchanged.
    pub fn finish(self: Builder) Error!Ranges {
        return .{ .handle = try make(c.pr_ranges, c.pr_ranges_builder_finish, .{self.handle}) };
    }

    /// Makes `rs` hold the windows built so far, reusing its memory when no
    /// other handle (a cursor, a range from `get`) shares it.
    pub fn finishInto(self: Builder, rs: *Ranges) Error!void {
        try check(c.pr_ranges_builder_finish_into(self.handle, rs.handle));
    }

    /// Removes every segment, keeping the limits and the memory.
    pub fn clear(self: *Builder) Error!void {
        try check(c.pr_ranges_builder_clear(self.handle));
    }
};

// ---------------------------------------------------------------------------
// Cursors
// ---------------------------------------------------------------------------

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

    /// A new reader over the next `n` bytes; this one advances past them.
    pub fn limit(self: *Reader, n: usize) Error!Reader {
        return .{ .handle = try make(c.pr_reader, c.pr_reader_limit, .{ self.handle, n }) };
    }

    /// Points the reader at the first byte of `r`, keeping its memory;
    /// never allocates.
    pub fn reset(self: *Reader, r: Range) Error!void {
        try check(c.pr_reader_reset(self.handle, r.handle));
    }

    /// Points the reader at the first byte of `rs`, keeping its memory.
    pub fn resetRanges(self: *Reader, rs: Ranges) Error!void {
        try check(c.pr_ranges_reader_reset(self.handle, rs.handle));
    }

    /// Drops the reader's reference to its range or buffer (nothing left to
    /// read until a reset), so `Builder.finishInto` can reuse the buffer.
    pub fn release(self: *Reader) void {
        c.pr_reader_release(self.handle);
    }

    /// Host iovecs of the next `n` bytes in mapped memory; the reader
    /// advances past the bytes they cover (`covered`).
    pub fn iovecs(self: *Reader, n: usize, buf: []IoVec) Error!IoVecs {
        return iovecsInto(c.pr_reader_iovecs, .{ self.handle, n }, buf);
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

    /// Advances past `n` bytes without writing them.
    pub fn skip(self: *Writer, n: usize) Error!void {
        try check(c.pr_writer_skip(self.handle, n));
    }

    pub fn remaining(self: Writer) usize {
        return c.pr_writer_remaining(self.handle);
    }

    /// A new writer over the next `n` bytes; this one advances past them.
    pub fn limit(self: *Writer, n: usize) Error!Writer {
        return .{ .handle = try make(c.pr_writer, c.pr_writer_limit, .{ self.handle, n }) };
    }

    /// Points the writer at the first byte of `r`, keeping its memory.
    pub fn reset(self: *Writer, r: Range) Error!void {
        try check(c.pr_writer_reset(self.handle, r.handle));
    }

    /// Points the writer at the first byte of `rs`, keeping its memory.
    pub fn resetRanges(self: *Writer, rs: Ranges) Error!void {
        try check(c.pr_ranges_writer_reset(self.handle, rs.handle));
    }

    /// Drops the writer's reference to its range or buffer (see
    /// `Reader.release`).
    pub fn release(self: *Writer) void {
        c.pr_writer_release(self.handle);
    }

    /// Host iovecs of the next `n` bytes in mapped memory (for `preadv`
    /// into guest pages); the writer advances past the bytes they cover,
    /// and a dirty log over its memory marks them when exported.
    pub fn iovecs(self: *Writer, n: usize, buf: []IoVec) Error!IoVecs {
        return iovecsInto(c.pr_writer_iovecs, .{ self.handle, n }, buf);
    }
};

// ---------------------------------------------------------------------------
// Virtqueue descriptor chains
// ---------------------------------------------------------------------------

/// Limits a chain walker enforces (per part, and bytes of the whole chain).
pub const ChainLimits = c.pr_chain_limits;

/// Why a chain was refused: `rule` (see `ChainRule.of`), the descriptor
/// `index` in its table, `indirect` (1 for an indirect table), and for
/// `ChainRule.unreadable` the memory's `fault_gpa` and `fault_code`.
pub const ChainError = c.pr_chain_error;

/// The rules of a descriptor chain (the PR_CHAIN_* codes). A test checks
/// the tags against the header; a code from a newer library is a value
/// without a tag.
pub const ChainRule = enum(u32) {
    queue_size = c.PR_CHAIN_QUEUE_SIZE,
    head_out_of_range = c.PR_CHAIN_HEAD_OUT_OF_RANGE,
    next_out_of_range = c.PR_CHAIN_NEXT_OUT_OF_RANGE,
    too_long = c.PR_CHAIN_TOO_LONG,
    indirect_not_allowed = c.PR_CHAIN_INDIRECT_NOT_ALLOWED,
    nested_indirect = c.PR_CHAIN_NESTED_INDIRECT,
    indirect_with_next = c.PR_CHAIN_INDIRECT_WITH_NEXT,
    indirect_length = c.PR_CHAIN_INDIRECT_LENGTH,
    readable_after_writable = c.PR_CHAIN_READABLE_AFTER_WRITABLE,
    unreadable = c.PR_CHAIN_UNREADABLE,
    overflow = c.PR_CHAIN_OVERFLOW,
    limit = c.PR_CHAIN_LIMIT,
    allocation = c.PR_CHAIN_ALLOCATION,
    _,

    /// The rule a refusal names.
    pub fn of(err: ChainError) ChainRule {
        return @enumFromInt(err.rule);
    }

    /// The library's English description of the rule (static).
    pub fn describe(rule: ChainRule) [:0]const u8 {
        return std.mem.span(c.pr_chain_rule_str(@intFromEnum(rule)));
    }
};

/// Walks split-virtqueue descriptor chains into a device-readable and a
/// device-writable buffer. Reused from chain to chain. One thread at a
/// time.
pub const ChainWalker = struct {
    handle: *c.pr_chain_walker,

    /// A walker with `limits`, or the spec's bounds (2^32 - 1 bytes per
    /// chain, virtio builder limits per part, indirect tables accepted)
    /// for null.
    pub fn init(limits: ?ChainLimits) Error!ChainWalker {
        const l: ?*const ChainLimits = if (limits) |*v| v else null;
        return .{ .handle = try make(c.pr_chain_walker, c.pr_chain_walker_new, .{l}) };
    }

    pub fn deinit(self: *ChainWalker) void {
        c.pr_chain_walker_free(self.handle);
        self.* = undefined;
    }

    /// Walks the chain starting at descriptor `head` of the descriptor
    /// table at `table_gpa` (`queue_size` entries), reading descriptors
    /// through `mem`, and makes `readable` and `writable` hold its two
    /// parts (their memory is reused). On failure both are left as they
    /// were and `err` (when not null) names the rule and the descriptor.
    /// Errors: Malformed (a rule is broken), Memory (a descriptor is not in
    /// guest memory), Limit, InvalidArgument (`readable` is `writable`).
    pub fn walk(self: *ChainWalker, mem: Memory, table_gpa: u64, queue_size: u16, head: u16, readable: *Ranges, writable: *Ranges, err: ?*ChainError) Error!void {
        try check(c.pr_chain_walker_walk(self.handle, mem.handle, table_gpa, queue_size, head, readable.handle, writable.handle, err));
    }
};
