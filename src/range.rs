//! `pr_range`: one window over a GPN list.

use core::ffi::c_void;
use std::sync::Arc;

use super::boundary::{
    free_boxed, guard, guard_value, in_array, in_bytes, out_bytes, out_ptr, to_boxed_ptr, try_mut,
    try_ref, write_opt, write_out, BoxCastable, Castable, FfiResult,
};
use super::memory::{pr_memory, Backend};
use super::status::{
    pr_status, pr_transfer, PR_ERR_ALLOCATION, PR_ERR_BUFFER_TOO_SMALL, PR_ERR_NULL_ARGUMENT,
};
use crate::error::{OutOfRange, TransferError};
use crate::{AddressRange, InvalidGpn, PagedRange};

/// A window of bytes over a list of guest page numbers (opaque).
///
/// The GPN list is copied at creation and shared, read-only, by every range
/// derived from it (clone, subrange, split, pr_ranges_get) and by cursors,
/// so handles can be freed in any order. Calls taking a `const pr_range *`
/// may run concurrently; pr_range_skip and pr_range_truncate need exclusive
/// use.
pub struct pr_range {
    _private: [u8; 0],
}

/// The Rust value behind a `pr_range`: a window stored as its start in the
/// list's flat byte space and its length (see [`PagedRange::parts`]).
#[derive(Clone, Debug)]
pub(crate) struct RangeHandle {
    gpns: Arc<Vec<u64>>,
    start: usize,
    len: usize,
}

impl Castable for pr_range {
    type Rust = RangeHandle;
}
impl BoxCastable for pr_range {}

impl RangeHandle {
    /// Copies `gpns` and makes the window `offset .. offset + len` of it,
    /// checking that every page the window touches is addressable.
    fn new(gpns: &[u64], offset: usize, len: usize) -> FfiResult<Self> {
        let window = PagedRange::try_new(offset, len, gpns)?;
        validate(&window)?;
        let root = Self::copy_list(gpns)?;
        Ok(Self {
            start: offset,
            len,
            ..root
        })
    }

    /// A handle owning a copy of `gpns`, with an empty window: the root
    /// that windows of the list are derived from.
    pub(crate) fn copy_list(gpns: &[u64]) -> FfiResult<Self> {
        let mut list = Vec::new();
        list.try_reserve_exact(gpns.len())
            .map_err(|_| PR_ERR_ALLOCATION)?;
        list.extend_from_slice(gpns);
        Ok(Self {
            gpns: Arc::new(list),
            start: 0,
            len: 0,
        })
    }

    /// Like [`derive`](Self::derive), first checking that every page of
    /// `window` is addressable (for windows made from untrusted input).
    pub(crate) fn derive_checked(&self, window: PagedRange<'_>) -> FfiResult<Self> {
        validate(&window)?;
        Ok(self.derive(window))
    }

    /// The whole GPN list.
    pub(crate) fn list(&self) -> &[u64] {
        &self.gpns
    }

    /// The window as a core [`PagedRange`].
    pub(crate) fn view(&self) -> PagedRange<'_> {
        PagedRange::new(self.start, self.len, &self.gpns)
            .expect("a RangeHandle always holds a window that fits its list")
    }

    /// A handle for `window`, which must be a window of this handle's list.
    pub(crate) fn derive(&self, window: PagedRange<'_>) -> Self {
        debug_assert!(self.same_list(&window));
        let (start, _) = window.parts();
        Self {
            gpns: Arc::clone(&self.gpns),
            start,
            len: window.len(),
        }
    }

    /// Narrows the window with `narrow` (a core operation such as
    /// `try_skip`), leaving it unchanged on error.
    pub(crate) fn narrow<E>(
        &mut self,
        narrow: impl FnOnce(&mut PagedRange<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut view = self.view();
        narrow(&mut view)?;
        // Same list: update the window in place (no reference count churn
        // on the hot path of cursors).
        (self.start, self.len) = (view.parts().0, view.len());
        Ok(())
    }

    /// True when `window` is a window of this handle's list.
    pub(crate) fn same_list(&self, window: &PagedRange<'_>) -> bool {
        core::ptr::eq(window.parts().1, self.gpns.as_slice())
    }

    /// Bytes in the window.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// Walks every run of the window so that no later operation can meet an
/// unaddressable page.
fn validate(window: &PagedRange<'_>) -> Result<(), InvalidGpn> {
    window.ranges().try_for_each(|run| run.map(drop))
}

/// Writes the runs `runs` yields into `out[..capacity]` and their number
/// into `*count`; shared by pr_range_address_ranges and
/// pr_ranges_address_ranges.
///
/// # Safety
/// `out` must be writable for `capacity` elements unless `capacity` is 0;
/// `count` must be writable.
pub(crate) unsafe fn export_runs(
    runs: impl Iterator<Item = Result<AddressRange, InvalidGpn>>,
    out: *mut AddressRange,
    capacity: usize,
    count: *mut usize,
) -> FfiResult {
    let count = out_ptr(count)?;
    if out.is_null() && capacity > 0 {
        return Err(PR_ERR_NULL_ARGUMENT);
    }
    let mut needed = 0usize;
    for run in runs {
        let run = run?;
        if needed < capacity {
            // SAFETY: `needed < capacity` and `out` is writable for
            // `capacity` elements per the contract.
            unsafe { out.add(needed).write(run) };
        }
        needed += 1;
    }
    // SAFETY: checked non-NULL; writable per the contract.
    unsafe { write_out(count, needed) };
    if needed > capacity {
        Err(PR_ERR_BUFFER_TOO_SMALL)
    } else {
        Ok(())
    }
}

/// Runs `op` on the part of a range or buffer that a transfer of `len`
/// bytes covers (`cut`, as the core narrowed it), or turns the core's
/// out-of-range error into the transfer's result, before any C buffer of
/// `len` bytes is borrowed: shared by every read/write/fill entry point.
pub(crate) fn within<V>(
    cut: Result<V, OutOfRange>,
    op: impl FnOnce(V) -> FfiResult<Result<(), TransferError>>,
) -> FfiResult<Result<(), TransferError>> {
    match cut {
        Ok(view) => op(view),
        Err(e) => Ok(Err(e.into())),
    }
}

/// Runs one transfer and reports it through an optional `pr_transfer`;
/// shared by every read/write/fill entry point.
///
/// # Safety
/// A non-NULL `t` must be writable.
pub(crate) unsafe fn report(
    t: *mut pr_transfer,
    len: usize,
    transfer: impl FnOnce() -> FfiResult<Result<(), TransferError>>,
) -> pr_status {
    let mut outcome = pr_transfer::default();
    let status = guard(|| {
        let result = transfer()?;
        outcome = pr_transfer::from_result(len, &result);
        result.map_err(pr_status::from)
    });
    // SAFETY: forwarded contract.
    unsafe { write_opt(t, outcome) };
    status
}

/// Creates a range: the window of `len` bytes starting `offset` bytes into
/// the flat byte space of the `gpn_count` pages listed in `gpns` (page `i`
/// holds bytes `i*PR_PAGE_SIZE .. (i+1)*PR_PAGE_SIZE`). Only the first and
/// last page of the window may be partial. `offset` may exceed one page;
/// the pages before it are not part of the window.
///
/// The list is copied: the caller may free `gpns` afterwards. Every page the
/// window touches is checked to be addressable. `gpns` may be NULL when
/// `gpn_count` is 0 (with `offset == len == 0` this is the empty range).
///
/// On success `*out` receives a handle to free with pr_range_free.
/// Errors: PR_ERR_NULL_ARGUMENT (`out`, or `gpns` with `gpn_count > 0`),
/// PR_ERR_OUT_OF_RANGE (`offset + len` overflows or exceeds
/// `gpn_count * PR_PAGE_SIZE`), PR_ERR_INVALID_GPN (a page of the window is
/// above PR_MAX_GPN, or the window covers the last byte of PR_MAX_GPN),
/// PR_ERR_INVALID_ARGUMENT (`gpns` misaligned, or `gpn_count` too large to
/// be an array), PR_ERR_ALLOCATION, PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_range_new(
    gpns: *const u64,
    gpn_count: usize,
    offset: usize,
    len: usize,
    out: *mut *mut pr_range,
) -> pr_status {
    guard(|| {
        let out = out_ptr(out)?;
        // SAFETY: the C contract makes `gpns` readable for `gpn_count`
        // elements during the call.
        let gpns = unsafe { in_array(gpns, gpn_count) }?;
        let handle = RangeHandle::new(gpns, offset, len)?;
        // SAFETY: checked non-NULL; writable per the C contract.
        unsafe { write_out(out, to_boxed_ptr::<pr_range>(handle)) };
        Ok(())
    })
}

/// Creates a new handle for the same window as `r` (sharing its GPN list).
///
/// On success `*out` receives a handle to free with pr_range_free.
/// Errors: PR_ERR_NULL_ARGUMENT (`r` or `out`), PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_range_clone(r: *const pr_range, out: *mut *mut pr_range) -> pr_status {
    guard(|| {
        let out = out_ptr(out)?;
        // SAFETY: a live pr_range per the C contract.
        let r = unsafe { try_ref(r) }?;
        // SAFETY: checked non-NULL; writable per the C contract.
        unsafe { write_out(out, to_boxed_ptr::<pr_range>(r.clone())) };
        Ok(())
    })
}

/// Frees a range handle. Ranges derived from it and cursors over it stay
/// valid. NULL is a no-op.
#[no_mangle]
pub extern "C" fn pr_range_free(r: *mut pr_range) {
    let _ = guard(|| {
        // SAFETY: a non-NULL `r` came from a pr_range constructor and is
        // released exactly once here.
        unsafe { free_boxed(r) };
        Ok(())
    });
}

/// Number of bytes in the window; 0 when `r` is NULL.
#[no_mangle]
pub extern "C" fn pr_range_len(r: *const pr_range) -> usize {
    // SAFETY: a live pr_range or NULL per the C contract.
    guard_value(0, || unsafe { try_ref(r) }.map_or(0, RangeHandle::len))
}

/// Byte offset of the window's first byte within its first page (always
/// below PR_PAGE_SIZE); 0 when `r` is NULL.
#[no_mangle]
pub extern "C" fn pr_range_offset(r: *const pr_range) -> usize {
    // SAFETY: a live pr_range or NULL per the C contract.
    guard_value(0, || unsafe { try_ref(r) }.map_or(0, |r| r.view().offset()))
}

/// The pages the window covers: the first holds the window's first byte,
/// the last its last byte. Stores their number in `*count` when `count` is
/// not NULL.
///
/// The array belongs to the range's GPN list: it stays valid while any
/// handle sharing that list (this range, its clones, subranges, cursors)
/// lives. Returns NULL (and a count of 0) when `r` is NULL; may return NULL
/// for an empty window, whose count is 0.
#[no_mangle]
pub extern "C" fn pr_range_gpns(r: *const pr_range, count: *mut usize) -> *const u64 {
    guard_value(core::ptr::null(), || {
        // SAFETY: a live pr_range or NULL per the C contract.
        let gpns = unsafe { try_ref(r) }.map_or(&[][..], |r| r.view().gpns());
        // SAFETY: a non-NULL `count` is writable per the C contract.
        unsafe { write_opt(count, gpns.len()) };
        if gpns.is_empty() {
            core::ptr::null()
        } else {
            gpns.as_ptr()
        }
    })
}

/// Creates a range for the `len` bytes starting `offset` bytes into `r`.
///
/// On success `*out` receives a handle to free with pr_range_free.
/// Errors: PR_ERR_NULL_ARGUMENT (`r` or `out`), PR_ERR_OUT_OF_RANGE
/// (`offset + len` overflows or exceeds the window), PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_range_subrange(
    r: *const pr_range,
    offset: usize,
    len: usize,
    out: *mut *mut pr_range,
) -> pr_status {
    guard(|| {
        let out = out_ptr(out)?;
        // SAFETY: a live pr_range per the C contract.
        let r = unsafe { try_ref(r) }?;
        let sub = r.derive(r.view().try_subrange(offset, len)?);
        // SAFETY: checked non-NULL; writable per the C contract.
        unsafe { write_out(out, to_boxed_ptr::<pr_range>(sub)) };
        Ok(())
    })
}

/// Drops the first `len` bytes of the window, in place.
///
/// Errors: PR_ERR_NULL_ARGUMENT (`r`), PR_ERR_OUT_OF_RANGE (`len` exceeds
/// the window; the range is unchanged), PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_range_skip(r: *mut pr_range, len: usize) -> pr_status {
    guard(|| {
        // SAFETY: a live pr_range used by no other thread, per the C contract.
        let r = unsafe { try_mut(r) }?;
        Ok(r.narrow(|v| v.try_skip(len))?)
    })
}

/// Shortens the window to its first `len` bytes, in place.
///
/// Errors: PR_ERR_NULL_ARGUMENT (`r`), PR_ERR_OUT_OF_RANGE (`len` exceeds
/// the window; the range is unchanged), PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_range_truncate(r: *mut pr_range, len: usize) -> pr_status {
    guard(|| {
        // SAFETY: a live pr_range used by no other thread, per the C contract.
        let r = unsafe { try_mut(r) }?;
        Ok(r.narrow(|v| v.try_truncate(len))?)
    })
}

/// Splits `r` at byte `offset` into two new ranges: `*front` gets bytes
/// `0 .. offset`, `*back` bytes `offset ..`. `r` is unchanged.
///
/// On success both outputs receive handles to free with pr_range_free; on
/// error neither is written.
/// Errors: PR_ERR_NULL_ARGUMENT (`r`, `front` or `back`),
/// PR_ERR_OUT_OF_RANGE (`offset` exceeds the window), PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_range_split(
    r: *const pr_range,
    offset: usize,
    front: *mut *mut pr_range,
    back: *mut *mut pr_range,
) -> pr_status {
    guard(|| {
        let front = out_ptr(front)?;
        let back = out_ptr(back)?;
        // SAFETY: a live pr_range per the C contract.
        let r = unsafe { try_ref(r) }?;
        let (a, b) = r.view().try_split(offset)?;
        let (a, b) = (r.derive(a), r.derive(b));
        // SAFETY: both checked non-NULL; writable per the C contract.
        unsafe {
            write_out(front, to_boxed_ptr::<pr_range>(a));
            write_out(back, to_boxed_ptr::<pr_range>(b));
        }
        Ok(())
    })
}

/// Lists the window's runs of physically adjacent pages as guest address
/// ranges, in order (the first starts at the window's offset, the last ends
/// at its end).
///
/// Writes up to `capacity` runs to `out` and the number of runs needed to
/// `*count`. `out` may be NULL when `capacity` is 0 (to query the count).
/// Errors: PR_ERR_NULL_ARGUMENT (`r`, `count`, or `out` with
/// `capacity > 0`), PR_ERR_BUFFER_TOO_SMALL (`capacity` is less than
/// `*count`; the first `capacity` runs were written), PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_range_address_ranges(
    r: *const pr_range,
    out: *mut AddressRange,
    capacity: usize,
    count: *mut usize,
) -> pr_status {
    guard(|| {
        // SAFETY: a live pr_range per the C contract.
        let r = unsafe { try_ref(r) }?;
        // SAFETY: `out` holds `capacity` elements and `count` is writable,
        // per the C contract.
        unsafe { export_runs(r.view().ranges(), out, capacity, count) }
    })
}

/// Reads the first `len` bytes of the window into `dst` through `mem`, one
/// read callback per physically contiguous run.
///
/// `dst` may be NULL when `len` is 0. `t` may be NULL; otherwise it is
/// always written (see pr_transfer). Errors: PR_ERR_NULL_ARGUMENT (`r`,
/// `mem`, or `dst` with `len > 0`), PR_ERR_OUT_OF_RANGE (`len` exceeds the
/// window; no callback is made), PR_ERR_MEMORY (a callback failed; earlier
/// runs were read), PR_ERR_INVALID_ARGUMENT, PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_range_read(
    r: *const pr_range,
    mem: *const pr_memory,
    dst: *mut c_void,
    len: usize,
    t: *mut pr_transfer,
) -> pr_status {
    // SAFETY: per the C contract: live handles, `dst` writable for `len`
    // bytes, `t` writable or NULL.
    unsafe {
        report(t, len, || {
            let (r, mem) = (try_ref(r)?, try_ref(mem)?);
            within(r.view().try_subrange(0, len), |w| {
                Ok(w.read(mem, out_bytes(dst, len)?))
            })
        })
    }
}

/// Writes `len` bytes from `src` over the first `len` bytes of the window
/// through `mem`, one write callback per physically contiguous run.
///
/// `src` may be NULL when `len` is 0. `t` may be NULL; otherwise it is
/// always written. Errors: PR_ERR_NULL_ARGUMENT (`r`, `mem`, or `src` with
/// `len > 0`), PR_ERR_OUT_OF_RANGE (`len` exceeds the window; no callback is
/// made), PR_ERR_MEMORY (a callback failed; earlier runs were written),
/// PR_ERR_INVALID_ARGUMENT, PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_range_write(
    r: *const pr_range,
    mem: *const pr_memory,
    src: *const c_void,
    len: usize,
    t: *mut pr_transfer,
) -> pr_status {
    // SAFETY: per the C contract: live handles, `src` readable for `len`
    // bytes, `t` writable or NULL.
    unsafe {
        report(t, len, || {
            let (r, mem) = (try_ref(r)?, try_ref(mem)?);
            within(r.view().try_subrange(0, len), |w| {
                Ok(w.write(mem, in_bytes(src, len)?))
            })
        })
    }
}

/// Sets the first `len` bytes of the window to `value` through `mem`, one
/// fill callback per physically contiguous run (or write callbacks of up to
/// 4 KiB when the memory has no fill callback).
///
/// `t` may be NULL; otherwise it is always written. Errors:
/// PR_ERR_NULL_ARGUMENT (`r` or `mem`), PR_ERR_OUT_OF_RANGE (`len` exceeds
/// the window; no callback is made), PR_ERR_MEMORY, PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_range_fill(
    r: *const pr_range,
    mem: *const pr_memory,
    value: u8,
    len: usize,
    t: *mut pr_transfer,
) -> pr_status {
    // SAFETY: per the C contract: live handles, `t` writable or NULL.
    unsafe {
        report(t, len, || {
            let (r, mem) = (try_ref(r)?, try_ref(mem)?);
            Ok(r.view().fill(mem, value, len))
        })
    }
}

/// Exports iovecs and reports them; shared by pr_range_iovecs and
/// pr_ranges_iovecs.
///
/// # Safety
/// `mem` a live pr_memory or NULL; `iov` writable for `capacity` entries
/// (or NULL with `capacity` 0); `iov_count` and `covered` writable or NULL.
pub(crate) unsafe fn export_iovecs(
    mem: *const pr_memory,
    len: usize,
    iov: *mut libc::iovec,
    capacity: usize,
    iov_count: *mut usize,
    covered: *mut usize,
    export: impl FnOnce(
        &Backend,
        &crate::MappedMemory,
        &mut [libc::iovec],
    ) -> FfiResult<Result<crate::IovecExport, TransferError>>,
) -> FfiResult {
    let (count_out, covered_out) = (out_ptr(iov_count)?, out_ptr(covered)?);
    // SAFETY: forwarded contract.
    let mem = unsafe { try_ref(mem) }?;
    let mapped = mem.mapped().ok_or(super::status::PR_ERR_INVALID_ARGUMENT)?;
    // SAFETY: forwarded contract; iovec is plain data (a pointer and a
    // length).
    let slots = unsafe { super::boundary::out_array(iov, capacity) }?;
    let done = match export(mem, mapped, slots)? {
        Ok(done) => done,
        // A fault reports where it happened; other errors write nothing.
        Err(e @ TransferError::Memory { .. }) => {
            // SAFETY: both checked non-NULL and writable per the contract.
            unsafe {
                write_out(count_out, 0);
                write_out(covered_out, e.done());
            }
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    // SAFETY: both checked non-NULL and writable per the contract.
    unsafe {
        write_out(count_out, done.count);
        write_out(covered_out, done.covered);
    }
    if done.covered < len {
        Err(PR_ERR_BUFFER_TOO_SMALL)
    } else {
        Ok(())
    }
}

/// Writes the host `struct iovec`s covering the first `len` bytes of the
/// window in mapped guest memory, for `preadv`/`pwritev` straight into guest
/// pages. Pieces adjacent in host memory are merged into one entry (not only
/// pieces adjacent in guest addresses).
///
/// Writes up to `iov_capacity` entries to `iov`, their number to
/// `*iov_count` and the bytes they cover (from the window's start) to
/// `*covered`. When the array is too short (callers are bounded by
/// IOV_MAX), the entries that fit are written, `*covered < len`, and the
/// status is PR_ERR_BUFFER_TOO_SMALL: issue that IO, skip `*covered` bytes
/// and call again. `iov` may be NULL when `iov_capacity` is 0.
///
/// Errors: PR_ERR_NULL_ARGUMENT (`r`, `mem`, `iov_count`, `covered`, or
/// `iov` with `iov_capacity > 0`), PR_ERR_INVALID_ARGUMENT (`mem` is not a
/// mapped memory), PR_ERR_OUT_OF_RANGE (`len` exceeds the window),
/// PR_ERR_BUFFER_TOO_SMALL, PR_ERR_MEMORY (a run is not mapped: `*covered`
/// is the bytes before it and `*iov_count` is 0), PR_ERR_PANIC. Outputs are
/// written on PR_OK, PR_ERR_BUFFER_TOO_SMALL and PR_ERR_MEMORY only.
#[no_mangle]
pub extern "C" fn pr_range_iovecs(
    r: *const pr_range,
    mem: *const pr_memory,
    len: usize,
    iov: *mut libc::iovec,
    iov_capacity: usize,
    iov_count: *mut usize,
    covered: *mut usize,
) -> pr_status {
    guard(|| {
        // SAFETY: a live pr_range per the C contract.
        let r = unsafe { try_ref(r) }?;
        // SAFETY: per the C contract for the other arguments.
        unsafe {
            export_iovecs(
                mem,
                len,
                iov,
                iov_capacity,
                iov_count,
                covered,
                |backend, m, slots| {
                    let view = r.view();
                    let result = view.iovecs(m, len, slots).and_then(|done| {
                        let exported = core::iter::once(view.subrange(0, done.covered));
                        backend.mark_exported(exported)?;
                        Ok(done)
                    });
                    Ok(result)
                },
            )
        }
    })
}
