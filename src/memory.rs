//! `pr_memory`: guest memory handles.

use core::ffi::c_void;
use core::ptr::NonNull;
use std::sync::Arc;

use pagedrange::memory::{DirtyLog, DirtyTracked, WindowMarkError};
use pagedrange::{
    Cursor, GuestMemory, IovecExport, ListWindows, MappedMemory, MemoryFault, PagedRange,
    TransferError, WindowList,
};

use crate::boundary::{
    free_arc, guard, in_array, in_bytes, out_bytes, out_ptr, to_arc_ptr, try_arc, try_ref,
    write_out, ArcCastable, Castable, FfiResult, NULL,
};
use crate::callback::{CallbackMemory, MemoryOps};
use crate::io::report;
use crate::status::{pr_status, pr_transfer, Failure, PR_ERR_ALLOCATION};

/// One piece of guest RAM mapped into this process: guest physical
/// addresses `gpa .. gpa + size` live at host addresses
/// `host .. host + size`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MappedRegion {
    /// First guest physical address of the region.
    pub gpa: u64,
    /// Size of the region in bytes.
    pub size: u64,
    /// Host address where the region's first byte is mapped.
    pub host: *mut c_void,
}

static_assertions::assert_eq_size!(MappedRegion, [u64; 3]);
static_assertions::const_assert_eq!(core::mem::offset_of!(MappedRegion, gpa), 0);
static_assertions::const_assert_eq!(core::mem::offset_of!(MappedRegion, size), 8);
static_assertions::const_assert_eq!(core::mem::offset_of!(MappedRegion, host), 16);

impl From<pagedrange::MappedRegion> for MappedRegion {
    fn from(r: pagedrange::MappedRegion) -> Self {
        Self {
            gpa: r.gpa,
            size: r.size,
            host: r.host.cast(),
        }
    }
}

impl From<MappedRegion> for pagedrange::MappedRegion {
    fn from(r: MappedRegion) -> Self {
        Self {
            gpa: r.gpa,
            size: r.size,
            host: r.host.cast(),
        }
    }
}

/// Guest memory that ranges read from and write to (opaque).
///
/// Reference counted: cursors keep the memory they use alive, so
/// pr_memory_free may be called while they live. Usable from several threads
/// at once; its callbacks then run concurrently.
pub struct pr_memory {
    _private: [u8; 0],
}

/// The backends a `pr_memory` can hold.
#[derive(Debug)]
pub(crate) enum Backend {
    Callbacks(CallbackMemory),
    Mapped(MappedMemory),
    Dirty(DirtyTracked<Arc<Backend>>),
}

impl Backend {
    /// The mapped backend, for zero-copy export.
    pub(crate) fn mapped(&self) -> Option<&MappedMemory> {
        match self {
            Backend::Mapped(m) => Some(m),
            Backend::Callbacks(_) => None,
            Backend::Dirty(d) => d.inner().mapped(),
        }
    }

    /// True when writes through this memory are logged.
    pub(crate) fn is_logged(&self) -> bool {
        matches!(self, Backend::Dirty(_))
    }

    /// Exports the iovecs of the `len` bytes ahead of `at` (which does not
    /// move) from mapped memory `mapped` (this memory's) and, when `log`,
    /// records them in every dirty log of this memory, since IO through
    /// them is invisible to the library: an export a log cannot record is
    /// refused, marking nothing.
    pub(crate) fn export_logged(
        &self,
        at: &Cursor<ListWindows<&WindowList>>,
        mapped: &MappedMemory,
        len: usize,
        slots: &mut [libc::iovec],
        log: bool,
    ) -> Result<IovecExport, TransferError> {
        let done = at.export_ahead(mapped, len, slots)?;
        if log && self.is_logged() {
            let mut exported = at.clone();
            exported.limit_to(done.covered);
            self.mark_exported(exported.into_windows())?;
        }
        Ok(done)
    }

    /// Records `windows` as written, for IO the library cannot see (through
    /// exported iovecs), in every dirty log this memory carries: all logs
    /// check all windows first, so a refusal marks nothing anywhere.
    pub(crate) fn mark_exported<'a>(
        &self,
        windows: impl Iterator<Item = PagedRange<'a>> + Clone,
    ) -> Result<(), WindowMarkError> {
        self.check_exported(windows.clone())?;
        let mut layer = self;
        while let Backend::Dirty(d) = layer {
            windows.clone().for_each(|w| d.mark_checked(&w));
            layer = d.inner();
        }
        Ok(())
    }

    /// The checking half of [`mark_exported`](Self::mark_exported).
    fn check_exported<'a>(
        &self,
        windows: impl Iterator<Item = PagedRange<'a>> + Clone,
    ) -> Result<(), WindowMarkError> {
        let mut layer = self;
        while let Backend::Dirty(d) = layer {
            for w in windows.clone() {
                d.check_window(&w)?;
            }
            layer = d.inner();
        }
        Ok(())
    }
}

// The mapped backend (the fast path) is inlined into every transfer loop;
// callbacks and dirty logs (which nest a backend) are out-of-line calls.
impl GuestMemory for Backend {
    #[inline(always)]
    fn read(&self, gpa: u64, dst: &mut [u8]) -> Result<(), MemoryFault> {
        match self {
            Backend::Mapped(m) => m.read(gpa, dst),
            other => other.read_slow(gpa, dst),
        }
    }

    #[inline(always)]
    fn write(&self, gpa: u64, src: &[u8]) -> Result<(), MemoryFault> {
        match self {
            Backend::Mapped(m) => m.write(gpa, src),
            other => other.write_slow(gpa, src),
        }
    }

    #[inline(always)]
    fn fill(&self, gpa: u64, value: u8, len: usize) -> Result<(), MemoryFault> {
        match self {
            Backend::Mapped(m) => m.fill(gpa, value, len),
            other => other.fill_slow(gpa, value, len),
        }
    }
}

impl Backend {
    #[inline(never)]
    fn read_slow(&self, gpa: u64, dst: &mut [u8]) -> Result<(), MemoryFault> {
        match self {
            Backend::Callbacks(m) => m.read(gpa, dst),
            Backend::Mapped(m) => m.read(gpa, dst),
            Backend::Dirty(m) => m.read(gpa, dst),
        }
    }

    #[inline(never)]
    fn write_slow(&self, gpa: u64, src: &[u8]) -> Result<(), MemoryFault> {
        match self {
            Backend::Callbacks(m) => m.write(gpa, src),
            Backend::Mapped(m) => m.write(gpa, src),
            Backend::Dirty(m) => m.write(gpa, src),
        }
    }

    #[inline(never)]
    fn fill_slow(&self, gpa: u64, value: u8, len: usize) -> Result<(), MemoryFault> {
        match self {
            Backend::Callbacks(m) => m.fill(gpa, value, len),
            Backend::Mapped(m) => m.fill(gpa, value, len),
            Backend::Dirty(m) => m.fill(gpa, value, len),
        }
    }
}

impl Castable for pr_memory {
    type Rust = Backend;
}
impl ArcCastable for pr_memory {}

/// Creates guest memory served by callbacks.
///
/// `ops` is copied; `ops->read` and `ops->write` are required, `ops->fill`
/// may be NULL (fills then call `write` from a 4 KiB buffer of the value,
/// one call per 4 KiB piece). `ctx` (may be NULL) is passed as the first
/// argument of every callback and must stay valid until the memory and
/// every cursor using it are freed.
///
/// Callbacks are called once per physically contiguous run of a transfer,
/// never with length 0, synchronously on the thread that called the
/// library, and concurrently when several threads use the memory. They
/// return 0 on success; any other value fails the run and is reported in
/// pr_transfer.fault_code. The host buffer they receive is valid for that
/// call only.
///
/// On success `*out` receives a handle to free with pr_memory_free.
/// Errors: PR_ERR_NULL_ARGUMENT (`ops`, `ops->read`, `ops->write` or `out`
/// is NULL), PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_memory_new_callbacks(
    ops: *const MemoryOps,
    ctx: *mut c_void,
    out: *mut *mut pr_memory,
) -> pr_status {
    guard(|| {
        let out = out_ptr(out)?;
        // SAFETY: a non-NULL `ops` points to a pr_memory_ops per the C
        // contract; it is copied.
        let ops = unsafe { ops.as_ref() }.ok_or(NULL)?;
        // SAFETY: the C contract above (documented in the header) makes the
        // callbacks callable with `ctx` from any thread while the memory
        // lives.
        let mem = unsafe { CallbackMemory::new(*ops, ctx) }.ok_or(NULL)?;
        // SAFETY: `out` was checked non-NULL and is writable per the C
        // contract.
        unsafe { hand_out(out, Backend::Callbacks(mem)) }
    })
}

/// Stores a new memory handle holding `backend` through `out`.
///
/// # Safety
/// `out` (checked by `out_ptr`) must be writable per the C contract.
unsafe fn hand_out(out: NonNull<*mut pr_memory>, backend: Backend) -> FfiResult {
    let handle = to_arc_ptr::<pr_memory>(backend);
    // SAFETY: forwarded contract.
    unsafe { write_out(out, handle.cast_mut()) };
    Ok(())
}

/// Creates guest memory from guest RAM mapped into this process: region
/// `i` maps guest addresses `regions[i].gpa .. gpa + size` at host address
/// `regions[i].host`. Reads and writes copy straight through host pointers,
/// with no callback.
///
/// The array is copied and may be in any order. Every region must be
/// non-empty with a non-NULL host pointer, `gpa + size` and `host + size`
/// must not overflow, and no two regions may share a guest address. A run
/// that leaves the regions fails with PR_ERR_MEMORY and fault_code -1 at the
/// first unmapped address, before any byte of that run moves (earlier runs
/// of the transfer are done and counted in pr_transfer.done); no byte
/// outside a region is ever read or written. A run crossing into an
/// adjacent region works. With pr_fault_recovery_install, an access that
/// faults inside a region (the file behind it truncated, pages unmapped)
/// fails with fault_code PR_FAULT_SIGBUS or PR_FAULT_SIGSEGV instead of
/// killing the process.
/// The mappings must stay valid until the memory and every cursor using it
/// are freed; the guest may change them concurrently (bytes are copied,
/// never referenced).
///
/// On success `*out` receives a handle to free with pr_memory_free.
/// Errors: PR_ERR_NULL_ARGUMENT (`out`, or `regions` with `count > 0`),
/// PR_ERR_INVALID_ARGUMENT (a region is empty, overflows or overlaps
/// another; `regions` misaligned), PR_ERR_ALLOCATION, PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_memory_new_mapped(
    regions: *const MappedRegion,
    count: usize,
    out: *mut *mut pr_memory,
) -> pr_status {
    guard(|| {
        let out = out_ptr(out)?;
        // SAFETY: the C contract makes `regions` readable for `count`
        // elements during the call.
        let regions = unsafe { in_array(regions, count) }?;
        let mut table = Vec::new();
        table
            .try_reserve_exact(regions.len())
            .map_err(|_| Failure(PR_ERR_ALLOCATION))?;
        table.extend(regions.iter().map(|&r| pagedrange::MappedRegion::from(r)));
        // SAFETY: the C contract above keeps the mappings valid while the
        // memory lives.
        let mem = unsafe { MappedMemory::new(&table) }?;
        // SAFETY: `out` was checked non-NULL and is writable per the C
        // contract.
        unsafe { hand_out(out, Backend::Mapped(mem)) }
    })
}

/// Wraps `mem` into a new memory that also records dirty pages in a
/// caller-owned bitmap, for live migration: bit `gpn % 64` of
/// `bitmap[gpn / 64]` stands for guest page `gpn`, for GPNs below
/// `page_count`. Bits are set with atomic OR, after each run was written:
/// a failed run is marked only for the bytes it moved before a recovered
/// fault, and runs after it are never marked. A run of a write or fill
/// touching a page at or beyond `page_count` fails with PR_ERR_MEMORY and
/// fault_code -2 before any byte of it moves (earlier runs are written and
/// marked). Reads mark
/// nothing. Exporting iovecs (pr_range_iovecs, pr_ranges_iovecs) marks the
/// pages they cover when they are exported, since the IO through them is
/// invisible to the library; an export covering a page at or beyond
/// `page_count` fails with PR_ERR_MEMORY (fault_code -2, `*iov_count` 0)
/// and marks nothing, so no page can be written without being logged.
///
/// `mem` stays usable on its own (without logging); the new memory keeps it
/// alive. The bitmap must hold `ceil(page_count / 64)` 8-byte aligned words,
/// stay valid until the new memory and every cursor using it are freed, and
/// be read or cleared by the caller only with atomic operations meanwhile.
///
/// On success `*out` receives a handle to free with pr_memory_free.
/// Errors: PR_ERR_NULL_ARGUMENT (`mem`, `bitmap` or `out`),
/// PR_ERR_INVALID_ARGUMENT (`bitmap` misaligned or `page_count` too large),
/// PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_memory_with_dirty_bitmap(
    mem: *const pr_memory,
    bitmap: *mut u64,
    page_count: u64,
    out: *mut *mut pr_memory,
) -> pr_status {
    guard(|| {
        let out = out_ptr(out)?;
        // SAFETY: a live pr_memory per the C contract.
        let inner = unsafe { try_arc(mem) }?;
        if bitmap.is_null() {
            return Err(NULL);
        }
        // SAFETY: the bitmap contract above, stated in the header.
        let log = unsafe { DirtyLog::bitmap(bitmap, page_count) }?;
        // SAFETY: `out` was checked non-NULL and is writable per the C
        // contract.
        unsafe { hand_out(out, Backend::Dirty(DirtyTracked::new(inner, log))) }
    })
}

/// Wraps `mem` into a new memory that also reports writes to `dirty`:
/// after each run is written or filled successfully, `dirty(ctx, gpa, len)`
/// is called with its guest address and length (exactly the bytes written;
/// never for a failed run). Called synchronously on the writing thread,
/// concurrently when several threads write. Exported iovecs are reported
/// when exported, as for pr_memory_with_dirty_bitmap.
///
/// `mem` stays usable on its own; the new memory keeps it alive. `ctx` must
/// stay valid until the new memory and every cursor using it are freed.
///
/// On success `*out` receives a handle to free with pr_memory_free.
/// Errors: PR_ERR_NULL_ARGUMENT (`mem`, `dirty` or `out`), PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_memory_with_dirty_callback(
    mem: *const pr_memory,
    dirty: Option<unsafe extern "C" fn(ctx: *mut c_void, gpa: u64, len: usize)>,
    ctx: *mut c_void,
    out: *mut *mut pr_memory,
) -> pr_status {
    guard(|| {
        let out = out_ptr(out)?;
        // SAFETY: a live pr_memory per the C contract.
        let inner = unsafe { try_arc(mem) }?;
        let dirty = dirty.ok_or(NULL)?;
        let ctx = SendPtr(ctx);
        // SAFETY: the callback contract above, stated in the header: `dirty`
        // may be called with `ctx` from any thread while the memory lives.
        let log = DirtyLog::callback(move |gpa, len| unsafe { dirty(ctx.get(), gpa, len) });
        // SAFETY: `out` was checked non-NULL and is writable per the C
        // contract.
        unsafe { hand_out(out, Backend::Dirty(DirtyTracked::new(inner, log))) }
    })
}

/// A context pointer that the C contract lets any thread use.
#[derive(Clone, Copy)]
struct SendPtr(*mut c_void);

impl SendPtr {
    /// The pointer (a method, so closures capture the whole `SendPtr`).
    fn get(self) -> *mut c_void {
        self.0
    }
}

// SAFETY: the pointer is only handed back to the C callback it came with,
// whose contract (pr_memory_with_dirty_callback) allows any thread.
unsafe impl Send for SendPtr {}
// SAFETY: as above.
unsafe impl Sync for SendPtr {}

/// Reads `len` bytes at guest physical address `gpa` into `dst`, in one
/// access to `mem`: for structures a device reads by address (a virtqueue's
/// rings, say) rather than through a range. All or nothing: on failure no
/// byte counts as read (`t->done` is 0) and `t` names the fault. With mapped
/// memory, a read of 1, 2, 4 or 8 bytes at an address aligned to its size
/// is one load: a ring index the guest is updating is read whole.
///
/// `dst` may be NULL when `len` is 0 (nothing is accessed). `t` may be
/// NULL; otherwise it is always written. Errors: PR_ERR_NULL_ARGUMENT
/// (`mem`, or `dst` with `len > 0`), PR_ERR_MEMORY (the bytes are not all
/// in guest memory, or the callback failed), PR_ERR_INVALID_ARGUMENT,
/// PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_memory_read(
    mem: *const pr_memory,
    gpa: u64,
    dst: *mut c_void,
    len: usize,
    t: *mut pr_transfer,
) -> pr_status {
    // SAFETY: per the C contract: a live memory, `dst` writable for `len`
    // bytes, `t` writable or NULL.
    unsafe {
        report(t, len, || {
            let mem = try_ref(mem)?;
            let dst = out_bytes(dst, len)?;
            Ok(match len {
                0 => Ok(()),
                _ => mem.read(gpa, dst).map_err(TransferError::from),
            })
        })
    }
}

/// Writes `len` bytes from `src` at guest physical address `gpa`, in one
/// access to `mem` (dirty logs record it), all or nothing, as
/// pr_memory_read; with mapped memory, a write of 1, 2, 4 or 8 bytes at an
/// address aligned to its size is one store.
///
/// `src` may be NULL when `len` is 0. `t` may be NULL; otherwise it is
/// always written. Errors: PR_ERR_NULL_ARGUMENT (`mem`, or `src` with
/// `len > 0`), PR_ERR_MEMORY (the bytes are not all in guest memory, a
/// dirty bitmap does not cover them, or the callback failed),
/// PR_ERR_INVALID_ARGUMENT, PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_memory_write(
    mem: *const pr_memory,
    gpa: u64,
    src: *const c_void,
    len: usize,
    t: *mut pr_transfer,
) -> pr_status {
    // SAFETY: per the C contract: a live memory, `src` readable for `len`
    // bytes, `t` writable or NULL.
    unsafe {
        report(t, len, || {
            let mem = try_ref(mem)?;
            let src = in_bytes(src, len)?;
            Ok(match len {
                0 => Ok(()),
                _ => mem.write(gpa, src).map_err(TransferError::from),
            })
        })
    }
}

/// Releases a memory handle. Cursors created from it keep the memory alive
/// until they are freed too. NULL is a no-op.
#[no_mangle]
pub extern "C" fn pr_memory_free(mem: *mut pr_memory) {
    let _ = guard(|| {
        // SAFETY: a non-NULL `mem` came from pr_memory_new_* and C gives up
        // its reference here.
        unsafe { free_arc(mem.cast_const()) };
        Ok(())
    });
}
