//! Proves that transfers, cursor operations and iovec export never touch
//! the heap, through the Rust API and through the C ABI, for callback and
//! mapped guest memory.
//!
//! A counting global allocator wraps the system one and counts, per thread,
//! every allocation (`alloc`, `alloc_zeroed`, `realloc`) and every free.
//! The test harness runs other tests on other threads, so only the current
//! thread's counters are read: each measured call must leave them exactly
//! where they were. Sanity checks show the counters do move when a handle is
//! created.

// Iovec export (and so these tests) exists on unix only.
#![cfg(unix)]
// `drop(mem)` marks where a memory (which holds raw pointers to guest RAM
// or to a dirty bitmap, not borrows) stops being used, before the test reads
// that RAM or bitmap directly.
#![allow(clippy::drop_non_drop)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ffi::{c_int, c_void};
use std::ptr;

use pagedrange::{
    GuestMemory, MappedMemory, MappedRegion, MemoryRead, MemoryWrite, PagedRange, PagedRanges,
    TransferError, PAGE_SIZE,
};
use pagedrange_ffi::cursor::{
    pr_ranges_reader_new, pr_ranges_writer_new, pr_reader_free, pr_reader_new, pr_reader_read,
    pr_reader_remaining, pr_reader_skip, pr_writer_fill, pr_writer_free, pr_writer_new,
    pr_writer_remaining, pr_writer_write,
};
use pagedrange_ffi::memory::{
    pr_memory_free, pr_memory_new_callbacks, pr_memory_new_mapped, pr_memory_with_dirty_bitmap,
};
use pagedrange_ffi::range::{
    pr_range_fill, pr_range_free, pr_range_iovecs, pr_range_new, pr_range_read, pr_range_write,
};
use pagedrange_ffi::ranges::{
    pr_ranges_fill, pr_ranges_free, pr_ranges_get, pr_ranges_iovecs, pr_ranges_new, pr_ranges_read,
    pr_ranges_skip, pr_ranges_truncate, pr_ranges_write,
};
use pagedrange_ffi::{
    pr_memory, pr_range, pr_ranges, pr_reader, pr_transfer, pr_writer, PR_ERR_BUFFER_TOO_SMALL,
    PR_ERR_MEMORY, PR_ERR_OUT_OF_RANGE, PR_OK,
};
use pagedrange_ffi::{CallbackMemory, MemoryOps};

// ---------------------------------------------------------------------------
// The counting allocator.

struct Counting;

thread_local! {
    /// Allocations (alloc, alloc_zeroed, realloc) made by this thread.
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    /// Frees made by this thread.
    static FREES: Cell<u64> = const { Cell::new(0) };
}

fn bump(counter: &'static std::thread::LocalKey<Cell<u64>>) {
    // `try_with` so that allocations during thread teardown do not panic.
    let _ = counter.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counters are const-initialized thread-locals without destructors, so
// touching them never allocates or re-enters the allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump(&ALLOCS);
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump(&ALLOCS);
        // SAFETY: forwarded contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump(&ALLOCS);
        // SAFETY: forwarded contract.
        unsafe { System.realloc(p, layout, new_size) }
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        bump(&FREES);
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(p, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn counts() -> (u64, u64) {
    (ALLOCS.with(Cell::get), FREES.with(Cell::get))
}

/// Runs `f` and returns its result with the allocations and frees this
/// thread made meanwhile.
fn measure<R>(f: impl FnOnce() -> R) -> (R, u64, u64) {
    let (a0, f0) = counts();
    let r = std::hint::black_box(f());
    let (a1, f1) = counts();
    (r, a1 - a0, f1 - f0)
}

/// Evaluates `$e`, asserting that it neither allocated nor freed, and
/// yields its value.
macro_rules! no_alloc {
    ($what:expr, $e:expr) => {{
        let (r, allocs, frees) = measure(|| $e);
        assert_eq!(allocs, 0, "{} allocated", $what);
        assert_eq!(frees, 0, "{} freed", $what);
        r
    }};
}

// ---------------------------------------------------------------------------
// Guest memory: 64 pages held in a Vec, served by Rust `extern "C"`
// callbacks or mapped in two regions whose host order is swapped.

const P: usize = PAGE_SIZE;
const PAGES: usize = 64;

/// The callback context: guest RAM at GPA 0.
struct Guest {
    base: *mut u8,
    size: usize,
}

/// Host pointer for `len` bytes at `gpa`, if they lie in guest RAM.
unsafe fn at(ctx: *mut c_void, gpa: u64, len: usize) -> Option<*mut u8> {
    // SAFETY: `ctx` is the `Guest` the test passed, alive for the memory.
    let g = unsafe { &*ctx.cast::<Guest>() };
    let start = usize::try_from(gpa).ok()?;
    let end = start.checked_add(len)?;
    (end <= g.size).then(|| g.base.wrapping_add(start))
}

unsafe extern "C" fn cb_read(ctx: *mut c_void, gpa: u64, dst: *mut c_void, len: usize) -> c_int {
    // SAFETY: `at` checked the guest bytes; `dst` holds `len` bytes.
    match unsafe { at(ctx, gpa, len) } {
        Some(p) => unsafe {
            ptr::copy(p, dst.cast(), len);
            0
        },
        None => -5,
    }
}

unsafe extern "C" fn cb_write(ctx: *mut c_void, gpa: u64, src: *const c_void, len: usize) -> c_int {
    // SAFETY: as in `cb_read`.
    match unsafe { at(ctx, gpa, len) } {
        Some(p) => unsafe {
            ptr::copy(src.cast(), p, len);
            0
        },
        None => -5,
    }
}

unsafe extern "C" fn cb_fill(ctx: *mut c_void, gpa: u64, value: u8, len: usize) -> c_int {
    // SAFETY: as in `cb_read`.
    match unsafe { at(ctx, gpa, len) } {
        Some(p) => unsafe {
            ptr::write_bytes(p, value, len);
            0
        },
        None => -5,
    }
}

fn ops(with_fill: bool) -> MemoryOps {
    MemoryOps {
        read: Some(cb_read),
        write: Some(cb_write),
        fill: if with_fill { Some(cb_fill) } else { None },
    }
}

/// GPAs `0 .. 32 pages` live in the second half of `ram`, GPAs
/// `32 .. 64 pages` in the first half, so runs crossing GPN 31/32 make two
/// host pieces.
fn regions(ram: &mut [u8]) -> [MappedRegion; 2] {
    let half = ram.len() / 2;
    let base = ram.as_mut_ptr();
    [
        MappedRegion {
            gpa: 0,
            size: half as u64,
            host: base.wrapping_add(half).cast(),
        },
        MappedRegion {
            gpa: half as u64,
            size: half as u64,
            host: base.cast(),
        },
    ]
}

fn empty_iovs<const N: usize>() -> [libc::iovec; N] {
    [libc::iovec {
        iov_base: ptr::null_mut(),
        iov_len: 0,
    }; N]
}

/// GPN lists used throughout: runs of adjacent pages, a jump back, a run
/// across the region boundary (31, 32), and a page outside guest RAM.
const GPNS_A: [u64; 6] = [5, 6, 7, 20, 3, 31];
const GPNS_B: [u64; 3] = [32, 33, 9];
const GPNS_BAD: [u64; 2] = [2, 1000];

// ---------------------------------------------------------------------------
// Rust API.

/// Every transfer and cursor operation of the core over `mem`.
fn core_ops<M: GuestMemory>(mem: &M) {
    let a = PagedRange::new(100, 5 * P, &GPNS_A).unwrap();
    let b = PagedRange::new(10, 2 * P + 7, &GPNS_B).unwrap();
    let bad = PagedRange::new(P - 8, 16, &GPNS_BAD).unwrap();
    let members = [a, PagedRange::empty(), b];
    let data = [0xa5u8; 8 * P];
    let mut buf = [0u8; 8 * P];

    // One window.
    no_alloc!("PagedRange::write", a.write(mem, &data[..a.len()])).unwrap();
    no_alloc!("PagedRange::read", a.read(mem, &mut buf[..a.len()])).unwrap();
    assert_eq!(&buf[..a.len()], &data[..a.len()]);
    no_alloc!("PagedRange::fill", a.fill(mem, 0x3c, 3 * P + 1)).unwrap();
    let err = no_alloc!("PagedRange::read past the end", a.read(mem, &mut buf)).unwrap_err();
    assert!(matches!(err, TransferError::OutOfRange(_)));
    let err = no_alloc!("failing PagedRange::write", bad.write(mem, &data[..16])).unwrap_err();
    assert!(
        matches!(err, TransferError::Memory { done: 8, .. }),
        "{err:?}"
    );

    // Several windows.
    let rs = no_alloc!(
        "PagedRanges::new",
        PagedRanges::new(members.iter().copied())
    );
    let total = rs.len();
    assert_eq!(total, a.len() + b.len());
    no_alloc!("PagedRanges::write", rs.write(mem, &data[..total - 100])).unwrap();
    no_alloc!("PagedRanges::read", rs.read(mem, &mut buf[..total])).unwrap();
    assert_eq!(&buf[..total - 100], &data[..total - 100]);
    no_alloc!("PagedRanges::fill", rs.fill(mem, 7, total)).unwrap();
    let mut narrowed = rs.clone();
    no_alloc!("PagedRanges::skip", narrowed.skip(a.len() - 3));
    no_alloc!("PagedRanges::truncate", narrowed.truncate(10));
    no_alloc!(
        "narrowed PagedRanges::read",
        narrowed.read(mem, &mut buf[..10])
    )
    .unwrap();
    assert_eq!(&buf[..10], &[7; 10]);

    // Cursors over one window.
    let mut w = no_alloc!("PagedRange::writer", a.writer(mem));
    no_alloc!("writer write", w.write(&data[..300])).unwrap();
    no_alloc!("writer fill", w.fill(9, P)).unwrap();
    no_alloc!("writer zero", w.zero(5)).unwrap();
    no_alloc!(
        "writer write_plain",
        w.write_plain(&0x1122_3344_5566_7788u64)
    )
    .unwrap();
    let mut front = no_alloc!("writer limit", w.limit(2 * P)).unwrap();
    no_alloc!("limited writer write", front.write(&data[..2 * P])).unwrap();
    let left = no_alloc!("writer len", w.len());
    assert_eq!(left, a.len() - 300 - P - 5 - 8 - 2 * P);
    let err = no_alloc!("writer write past the end", w.write(&data[..left + 1])).unwrap_err();
    assert!(matches!(err, TransferError::OutOfRange(_)));
    no_alloc!("writer remaining", w.remaining());

    let mut r = no_alloc!("PagedRange::reader", a.reader(mem));
    no_alloc!("reader read", r.read(&mut buf[..300])).unwrap();
    no_alloc!("reader skip", r.skip(P + 5)).unwrap();
    let v: u64 = no_alloc!("reader read_plain", r.read_plain()).unwrap();
    assert_eq!(v, 0x1122_3344_5566_7788);
    let mut front = no_alloc!("reader limit", r.limit(P)).unwrap();
    no_alloc!("limited reader read", front.read(&mut buf[..P])).unwrap();
    assert_eq!(
        no_alloc!("reader len", r.len()),
        a.len() - 300 - P - 5 - 8 - P
    );
    no_alloc!("reader remaining", r.remaining());
    let mut r = bad.reader(mem);
    let err = no_alloc!("failing reader read", r.read(&mut buf[..16])).unwrap_err();
    assert!(matches!(err, TransferError::Memory { done: 8, .. }));

    // Cursors over several windows.
    let mut w = no_alloc!("PagedRanges::writer", rs.writer(mem));
    no_alloc!("ranges writer write", w.write(&data[..a.len() - 1])).unwrap();
    no_alloc!("ranges writer fill across windows", w.fill(0x44, 2)).unwrap();
    let mut mid = no_alloc!("ranges writer limit", w.limit(P)).unwrap();
    no_alloc!("limited ranges writer write", mid.write(&data[..P])).unwrap();
    assert_eq!(no_alloc!("ranges writer len", w.len()), b.len() - 1 - P);

    let mut r = no_alloc!("PagedRanges::reader", rs.reader(mem));
    no_alloc!("ranges reader skip", r.skip(a.len() - 1)).unwrap();
    no_alloc!("ranges reader read across windows", r.read(&mut buf[..2])).unwrap();
    assert_eq!(&buf[..2], &[0x44, 0x44]);
    let mut mid = no_alloc!("ranges reader limit", r.limit(P)).unwrap();
    no_alloc!("limited ranges reader read", mid.read(&mut buf[..P])).unwrap();
    let n = no_alloc!("ranges reader len", r.len());
    no_alloc!("ranges reader read to the end", r.read(&mut buf[..n])).unwrap();
    let err = no_alloc!("ranges reader read past the end", r.read(&mut buf[..1])).unwrap_err();
    assert!(matches!(err, TransferError::OutOfRange(_)));
}

#[test]
fn core_api_with_callbacks_does_not_allocate() {
    for with_fill in [true, false] {
        let mut ram = vec![0u8; PAGES * P];
        let mut guest = Guest {
            base: ram.as_mut_ptr(),
            size: ram.len(),
        };
        // SAFETY: the callbacks stay within `guest`, which outlives `mem`.
        let mem = unsafe { CallbackMemory::new(ops(with_fill), ptr::addr_of_mut!(guest).cast()) }
            .unwrap();
        core_ops(&mem);
        drop(mem);
        assert_eq!(ram[5 * P + 100], 0xa5, "the transfers reached guest RAM");
    }
}

#[test]
fn core_api_with_mapped_memory_does_not_allocate() {
    let mut ram = vec![0u8; PAGES * P];
    // SAFETY: `ram` outlives `mem` and is only touched through it meanwhile.
    let mem = unsafe { MappedMemory::new(&regions(&mut ram)) }.unwrap();
    core_ops(&mem);

    // Iovec export.
    let a = PagedRange::new(100, 5 * P, &GPNS_A).unwrap();
    let b = PagedRange::new(10, 2 * P + 7, &GPNS_B).unwrap();
    let members = [a, b];
    let rs = PagedRanges::new(members.iter().copied());
    let mut iov = empty_iovs::<8>();
    let got = no_alloc!("PagedRange::iovecs", a.iovecs(&mem, a.len(), &mut iov)).unwrap();
    assert_eq!(got.covered, a.len());
    assert_eq!(got.count, 4, "5-7, 20, 3, 31 are four host pieces");
    let got = no_alloc!("PagedRanges::iovecs", rs.iovecs(&mem, rs.len(), &mut iov)).unwrap();
    assert_eq!(got.covered, rs.len());
    let got = no_alloc!(
        "short PagedRanges::iovecs",
        rs.iovecs(&mem, rs.len(), &mut iov[..2])
    )
    .unwrap();
    assert_eq!(got.count, 2);
    assert!(got.covered < rs.len());
    let bad = PagedRange::new(0, 2 * P, &GPNS_BAD).unwrap();
    let err = no_alloc!("failing iovecs", bad.iovecs(&mem, 2 * P, &mut iov)).unwrap_err();
    assert!(matches!(err, TransferError::Memory { done: P, .. }));
    let err = no_alloc!("iovecs past the end", a.iovecs(&mem, a.len() + 1, &mut iov)).unwrap_err();
    assert!(matches!(err, TransferError::OutOfRange(_)));
}

// ---------------------------------------------------------------------------
// C ABI.

fn new_range(gpns: &[u64], offset: usize, len: usize) -> *mut pr_range {
    let mut r = ptr::null_mut();
    assert_eq!(
        pr_range_new(gpns.as_ptr(), gpns.len(), offset, len, &mut r),
        PR_OK
    );
    r
}

/// Every transfer and cursor call of the C ABI over `mem`.
fn ffi_ops(mem: *const pr_memory) {
    // Sanity: creating a handle allocates, and the counter sees it.
    let (a, allocs, _) = measure(|| new_range(&GPNS_A, 100, 5 * P));
    assert!(allocs > 0, "pr_range_new allocates its handle");
    let b = new_range(&GPNS_B, 10, 2 * P + 7);
    let bad = new_range(&GPNS_BAD, P - 8, 16);
    let empty = new_range(&[], 0, 0);
    let list: [*const pr_range; 4] = [a, empty, b, a];
    let mut rs: *mut pr_ranges = ptr::null_mut();
    assert_eq!(pr_ranges_new(list.as_ptr(), list.len(), &mut rs), PR_OK);
    let total = 5 * P + 2 * P + 7 + 5 * P;

    let data = vec![0x5au8; 16 * P];
    let mut buf = vec![0u8; 16 * P];
    let mut t = pr_transfer::default();
    let src = data.as_ptr().cast::<c_void>();
    let dst = buf.as_mut_ptr().cast::<c_void>();

    // One range.
    let s = no_alloc!("pr_range_write", pr_range_write(a, mem, src, 5 * P, &mut t));
    assert_eq!((s, t.done), (PR_OK, 5 * P));
    let s = no_alloc!("pr_range_read", pr_range_read(a, mem, dst, 5 * P, &mut t));
    assert_eq!((s, t.done), (PR_OK, 5 * P));
    let s = no_alloc!("pr_range_fill", pr_range_fill(a, mem, 3, 4 * P, &mut t));
    assert_eq!((s, t.done), (PR_OK, 4 * P));
    let s = no_alloc!(
        "pr_range_read, NULL t",
        pr_range_read(a, mem, dst, 7, ptr::null_mut())
    );
    assert_eq!(s, PR_OK);
    let s = no_alloc!(
        "pr_range_read too long",
        pr_range_read(a, mem, dst, 5 * P + 1, &mut t)
    );
    assert_eq!((s, t.done), (PR_ERR_OUT_OF_RANGE, 0));
    let s = no_alloc!(
        "failing pr_range_write",
        pr_range_write(bad, mem, src, 16, &mut t)
    );
    assert_eq!((s, t.done), (PR_ERR_MEMORY, 8));

    // A buffer of several ranges.
    let s = no_alloc!(
        "pr_ranges_write",
        pr_ranges_write(rs, mem, src, total, &mut t)
    );
    assert_eq!((s, t.done), (PR_OK, total));
    let s = no_alloc!(
        "pr_ranges_read",
        pr_ranges_read(rs, mem, dst, total, &mut t)
    );
    assert_eq!((s, t.done), (PR_OK, total));
    let s = no_alloc!(
        "pr_ranges_fill",
        pr_ranges_fill(rs, mem, 0x11, total - 1, &mut t)
    );
    assert_eq!((s, t.done), (PR_OK, total - 1));
    let s = no_alloc!(
        "pr_ranges_read too long",
        pr_ranges_read(rs, mem, dst, total + 1, &mut t)
    );
    assert_eq!(s, PR_ERR_OUT_OF_RANGE);
    let s = no_alloc!("pr_ranges_skip", pr_ranges_skip(rs, 5 * P - 1));
    assert_eq!(s, PR_OK);
    let s = no_alloc!("pr_ranges_truncate", pr_ranges_truncate(rs, 3 * P));
    assert_eq!(s, PR_OK);
    let s = no_alloc!(
        "narrowed pr_ranges_read",
        pr_ranges_read(rs, mem, dst, 3 * P, &mut t)
    );
    assert_eq!((s, t.done), (PR_OK, 3 * P));
    assert_eq!(&buf[..3], &[0x11; 3]);

    // pr_ranges_get creates a handle: it may allocate (and does).
    let mut got: *mut pr_range = ptr::null_mut();
    let (s, allocs, _) = measure(|| pr_ranges_get(rs, 1, &mut got));
    assert_eq!(s, PR_OK);
    assert!(allocs > 0, "pr_ranges_get allocates its handle");
    pr_range_free(got);

    // Cursors over a range and over a buffer; creation may allocate.
    let mut w: *mut pr_writer = ptr::null_mut();
    assert_eq!(pr_writer_new(a, mem, &mut w), PR_OK);
    let s = no_alloc!("pr_writer_write", pr_writer_write(w, src, 300, &mut t));
    assert_eq!((s, t.done), (PR_OK, 300));
    let s = no_alloc!("pr_writer_fill", pr_writer_fill(w, 0x77, 2 * P, &mut t));
    assert_eq!((s, t.done), (PR_OK, 2 * P));
    let left = no_alloc!("pr_writer_remaining", pr_writer_remaining(w));
    assert_eq!(left, 5 * P - 300 - 2 * P);
    let s = no_alloc!(
        "pr_writer_write too long",
        pr_writer_write(w, src, left + 1, &mut t)
    );
    assert_eq!(s, PR_ERR_OUT_OF_RANGE);
    pr_writer_free(w);

    let mut rd: *mut pr_reader = ptr::null_mut();
    assert_eq!(pr_reader_new(a, mem, &mut rd), PR_OK);
    let s = no_alloc!("pr_reader_skip", pr_reader_skip(rd, 300));
    assert_eq!(s, PR_OK);
    let s = no_alloc!("pr_reader_read", pr_reader_read(rd, dst, 2 * P, &mut t));
    assert_eq!((s, t.done), (PR_OK, 2 * P));
    assert!(buf[..2 * P].iter().all(|&x| x == 0x77));
    let left = no_alloc!("pr_reader_remaining", pr_reader_remaining(rd));
    assert_eq!(left, 5 * P - 300 - 2 * P);
    let s = no_alloc!("pr_reader_skip too far", pr_reader_skip(rd, left + 1));
    assert_eq!(s, PR_ERR_OUT_OF_RANGE);
    pr_reader_free(rd);

    let mut w: *mut pr_writer = ptr::null_mut();
    assert_eq!(pr_ranges_writer_new(rs, mem, &mut w), PR_OK);
    let s = no_alloc!(
        "ranges pr_writer_write",
        pr_writer_write(w, src, P + 3, &mut t)
    );
    assert_eq!((s, t.done), (PR_OK, P + 3));
    let s = no_alloc!(
        "ranges pr_writer_fill",
        pr_writer_fill(w, 0x66, 2 * P - 3, &mut t)
    );
    assert_eq!((s, t.done), (PR_OK, 2 * P - 3));
    assert_eq!(
        no_alloc!("ranges pr_writer_remaining", pr_writer_remaining(w)),
        0
    );
    pr_writer_free(w);

    let mut rd: *mut pr_reader = ptr::null_mut();
    assert_eq!(pr_ranges_reader_new(rs, mem, &mut rd), PR_OK);
    let s = no_alloc!("ranges pr_reader_skip", pr_reader_skip(rd, P + 3));
    assert_eq!(s, PR_OK);
    let s = no_alloc!(
        "ranges pr_reader_read",
        pr_reader_read(rd, dst, 2 * P - 3, &mut t)
    );
    assert_eq!((s, t.done), (PR_OK, 2 * P - 3));
    assert!(buf[..2 * P - 3].iter().all(|&x| x == 0x66));
    assert_eq!(
        no_alloc!("ranges pr_reader_remaining", pr_reader_remaining(rd)),
        0
    );
    pr_reader_free(rd);

    let mut rd: *mut pr_reader = ptr::null_mut();
    assert_eq!(pr_reader_new(bad, mem, &mut rd), PR_OK);
    let s = no_alloc!(
        "failing pr_reader_read",
        pr_reader_read(rd, dst, 16, &mut t)
    );
    assert_eq!((s, t.done), (PR_ERR_MEMORY, 8));
    assert_eq!(
        pr_reader_remaining(rd),
        8,
        "the reader stopped at the fault"
    );
    pr_reader_free(rd);

    pr_ranges_free(rs);
    for r in [a, b, bad, empty] {
        pr_range_free(r);
    }
}

#[test]
fn c_abi_with_callbacks_does_not_allocate() {
    for with_fill in [true, false] {
        let mut ram = vec![0u8; PAGES * P];
        let mut guest = Guest {
            base: ram.as_mut_ptr(),
            size: ram.len(),
        };
        let ops = ops(with_fill);
        let mut mem: *mut pr_memory = ptr::null_mut();
        let (s, allocs, _) =
            measure(|| pr_memory_new_callbacks(&ops, ptr::addr_of_mut!(guest).cast(), &mut mem));
        assert_eq!(s, PR_OK);
        assert!(allocs > 0, "pr_memory_new_callbacks allocates its handle");
        ffi_ops(mem);
        pr_memory_free(mem);
        assert_eq!(ram[5 * P + 100], 0x66, "the transfers reached guest RAM");
    }
}

/// Iovec export through the C ABI, with `mem` mapped.
fn ffi_iovecs(mem: *const pr_memory) {
    let a = new_range(&GPNS_A, 100, 5 * P);
    let b = new_range(&GPNS_B, 10, 2 * P + 7);
    let bad = new_range(&GPNS_BAD, 0, 2 * P);
    let list: [*const pr_range; 2] = [a, b];
    let mut rs: *mut pr_ranges = ptr::null_mut();
    assert_eq!(pr_ranges_new(list.as_ptr(), list.len(), &mut rs), PR_OK);
    let total = 7 * P + 7;

    let mut iov = empty_iovs::<8>();
    let (mut count, mut covered) = (0usize, 0usize);
    let s = no_alloc!(
        "pr_range_iovecs",
        pr_range_iovecs(a, mem, 5 * P, iov.as_mut_ptr(), 8, &mut count, &mut covered)
    );
    assert_eq!((s, count, covered), (PR_OK, 4, 5 * P));
    let s = no_alloc!(
        "pr_ranges_iovecs",
        pr_ranges_iovecs(
            rs,
            mem,
            total,
            iov.as_mut_ptr(),
            8,
            &mut count,
            &mut covered
        )
    );
    assert_eq!((s, covered), (PR_OK, total));
    let s = no_alloc!(
        "short pr_ranges_iovecs",
        pr_ranges_iovecs(
            rs,
            mem,
            total,
            iov.as_mut_ptr(),
            2,
            &mut count,
            &mut covered
        )
    );
    assert_eq!((s, count), (PR_ERR_BUFFER_TOO_SMALL, 2));
    assert!(covered < total);
    let s = no_alloc!(
        "failing pr_range_iovecs",
        pr_range_iovecs(
            bad,
            mem,
            2 * P,
            iov.as_mut_ptr(),
            8,
            &mut count,
            &mut covered
        )
    );
    assert_eq!((s, count, covered), (PR_ERR_MEMORY, 0, P));
    let s = no_alloc!(
        "pr_range_iovecs too long",
        pr_range_iovecs(
            a,
            mem,
            5 * P + 1,
            iov.as_mut_ptr(),
            8,
            &mut count,
            &mut covered
        )
    );
    assert_eq!(s, PR_ERR_OUT_OF_RANGE);

    pr_ranges_free(rs);
    for r in [a, b, bad] {
        pr_range_free(r);
    }
}

#[test]
fn c_abi_with_mapped_memory_does_not_allocate() {
    let mut ram = vec![0u8; PAGES * P];
    let regs = regions(&mut ram).map(pagedrange_ffi::MappedRegion::from);
    let mut mem: *mut pr_memory = ptr::null_mut();
    assert_eq!(
        pr_memory_new_mapped(regs.as_ptr(), regs.len(), &mut mem),
        PR_OK
    );
    ffi_ops(mem);
    ffi_iovecs(mem);

    // The same through a dirty-logging wrapper: logging and marking
    // exported pages do not allocate either.
    let mut bitmap = [0u64; PAGES / 64];
    let mut dirty: *mut pr_memory = ptr::null_mut();
    assert_eq!(
        pr_memory_with_dirty_bitmap(mem, bitmap.as_mut_ptr(), PAGES as u64, &mut dirty),
        PR_OK
    );
    ffi_ops(dirty);
    ffi_iovecs(dirty);
    pr_memory_free(dirty);
    pr_memory_free(mem);
    for gpn in [3, 5, 6, 7, 9, 20, 31, 32, 33] {
        assert_ne!(bitmap[0] & (1 << gpn), 0, "GPN {gpn} was written");
    }
    // GPA 0..32 pages lives in the second half of `ram`.
    assert_eq!(ram[PAGES * P / 2 + 5 * P + 100], 0x66);
}

#[test]
fn the_counter_sees_this_threads_allocations_only() {
    let (v, allocs, frees) = measure(|| Vec::<u8>::with_capacity(10));
    assert_eq!((allocs, frees), (1, 0));
    let ((), allocs, frees) = measure(|| drop(v));
    assert_eq!((allocs, frees), (0, 1));
    // Another thread's allocations are not counted here: spawning costs this
    // thread a few allocations, the child's thousand do not show.
    let (n, allocs, _) = measure(|| {
        std::thread::scope(|s| {
            s.spawn(|| {
                (0..1000)
                    .map(|i| std::hint::black_box(Box::new(i)))
                    .map(|b| *b)
                    .sum::<u64>()
            })
            .join()
            .unwrap()
        })
    });
    assert_eq!(n, 499_500);
    assert!(allocs < 100, "{allocs} allocations counted on this thread");
}

/// A virtio request's lifecycle through the C ABI, in steady state: a
/// descriptor chain walked into two reused buffers (and the same through
/// the builder), the header read through a re-armed reader, the data's
/// iovecs exported through a re-armed writer, the status byte written,
/// the cursors released. After a warm-up request, none of it touches the
/// heap.
#[test]
fn request_lifecycle_does_not_allocate() {
    use pagedrange_ffi::builder::{
        pr_ranges_builder_clear, pr_ranges_builder_finish_into, pr_ranges_builder_free,
        pr_ranges_builder_new, pr_ranges_builder_push,
    };
    use pagedrange_ffi::chain::{
        pr_chain_walker_free, pr_chain_walker_new, pr_chain_walker_walk, PR_CHAIN_TOO_LONG,
    };
    use pagedrange_ffi::cursor::{
        pr_ranges_reader_reset, pr_ranges_writer_reset, pr_reader_release, pr_writer_iovecs,
        pr_writer_release,
    };
    use pagedrange_ffi::memory::pr_memory_write;
    use pagedrange_ffi::{pr_chain_error, PR_ERR_MALFORMED};

    let mut ram = vec![0u8; PAGES * P];
    let regs = regions(&mut ram).map(pagedrange_ffi::MappedRegion::from);
    let mut mem: *mut pr_memory = ptr::null_mut();
    assert_eq!(
        pr_memory_new_mapped(regs.as_ptr(), regs.len(), &mut mem),
        PR_OK
    );
    // A descriptor table at GPA 0x1000: header 16 B at 0x2010, data 4 KiB
    // from 0x3800 (two pages), status 1 B at 0x5003; and a loop at 3.
    let desc = |addr: u64, len: u32, flags: u16, next: u16| {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&addr.to_le_bytes());
        b[8..12].copy_from_slice(&len.to_le_bytes());
        b[12..14].copy_from_slice(&flags.to_le_bytes());
        b[14..].copy_from_slice(&next.to_le_bytes());
        b
    };
    let table = [
        desc(0x2010, 16, 1, 1),
        desc(0x3800, 4096, 1 | 2, 2),
        desc(0x5003, 1, 2, 0),
        desc(0x6000, 8, 1, 3),
    ];
    for (i, d) in table.iter().enumerate() {
        let gpa = 0x1000 + 16 * i as u64;
        assert_eq!(
            pr_memory_write(mem, gpa, d.as_ptr().cast(), 16, ptr::null_mut()),
            PR_OK
        );
    }
    let mut walker = ptr::null_mut();
    assert_eq!(pr_chain_walker_new(ptr::null(), &mut walker), PR_OK);
    let mut builder = ptr::null_mut();
    assert_eq!(pr_ranges_builder_new(ptr::null(), &mut builder), PR_OK);
    let (mut readable, mut writable): (*mut pr_ranges, *mut pr_ranges) =
        (ptr::null_mut(), ptr::null_mut());
    assert_eq!(pr_ranges_new(ptr::null(), 0, &mut readable), PR_OK);
    assert_eq!(pr_ranges_new(ptr::null(), 0, &mut writable), PR_OK);
    let (mut rd, mut w): (*mut pr_reader, *mut pr_writer) = (ptr::null_mut(), ptr::null_mut());
    assert_eq!(pr_ranges_reader_new(readable, mem, &mut rd), PR_OK);
    assert_eq!(pr_ranges_writer_new(writable, mem, &mut w), PR_OK);
    pr_reader_release(rd);
    pr_writer_release(w);

    let request = |status: u8| {
        let mut err = pr_chain_error::default();
        assert_eq!(
            pr_chain_walker_walk(walker, mem, 0x1000, 4, 0, readable, writable, &mut err),
            PR_OK
        );
        let mut hdr = [0u8; 16];
        assert_eq!(pr_ranges_reader_reset(rd, readable), PR_OK);
        assert_eq!(
            pr_reader_read(rd, hdr.as_mut_ptr().cast(), 16, ptr::null_mut()),
            PR_OK
        );
        assert_eq!(pr_ranges_writer_reset(w, writable), PR_OK);
        let mut iov = empty_iovs::<4>();
        let (mut n, mut covered) = (0usize, 0usize);
        assert_eq!(
            pr_writer_iovecs(w, 4096, iov.as_mut_ptr(), 4, &mut n, &mut covered),
            PR_OK
        );
        assert_eq!(covered, 4096);
        assert_eq!(
            pr_writer_write(w, [status].as_ptr().cast(), 1, ptr::null_mut()),
            PR_OK
        );
        assert_eq!(pr_writer_remaining(w), 0);
        pr_reader_release(rd);
        pr_writer_release(w);
        // The same request through the builder into the same buffers.
        assert_eq!(pr_ranges_builder_clear(builder), PR_OK);
        for (gpa, len) in [(0x2010, 16), (0x3800, 4096), (0x5003, 1)] {
            assert_eq!(
                pr_ranges_builder_push(builder, gpa, len, ptr::null_mut()),
                PR_OK
            );
        }
        assert_eq!(pr_ranges_builder_finish_into(builder, writable), PR_OK);
        // A refused chain (a loop) allocates nothing either.
        assert_eq!(
            pr_chain_walker_walk(walker, mem, 0x1000, 4, 3, readable, writable, &mut err),
            PR_ERR_MALFORMED
        );
        assert_eq!(err.rule, PR_CHAIN_TOO_LONG);
    };
    request(1); // warm-up: the buffers and the walker grow once
    for status in 0..4 {
        no_alloc!("a request", request(status));
    }
    let mut status = [0u8; 1];
    assert_eq!(
        pagedrange_ffi::memory::pr_memory_read(
            mem,
            0x5003,
            status.as_mut_ptr().cast(),
            1,
            ptr::null_mut()
        ),
        PR_OK
    );
    assert_eq!(status, [3], "the status byte reached guest RAM");
    pr_reader_free(rd);
    pr_writer_free(w);
    pr_ranges_free(readable);
    pr_ranges_free(writable);
    pr_ranges_builder_free(builder);
    pr_chain_walker_free(walker);
    pr_memory_free(mem);
}
