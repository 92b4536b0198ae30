//! `pr_range`: one window over a GPN list.

use core::ffi::c_void;
use std::sync::Arc;

use pagedrange::{Buffer, WindowList};

use crate::boundary::{
    free_boxed, guard, guard_value, in_array, in_bytes, out_bytes, out_ptr, to_boxed_ptr, try_mut,
    try_ref, write_opt, write_out, BoxCastable, Castable, FfiResult,
};
use crate::io::{export_iovecs, export_runs, pr_address_range, report, within};
use crate::memory::pr_memory;
use crate::status::{pr_status, pr_transfer};

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

/// The Rust value behind `pr_range` and `pr_ranges`: the part in use of a
/// shared window list. A range is the one-window case.
pub(crate) type Buf = Buffer<Arc<WindowList>>;

impl Castable for pr_range {
    type Rust = Buf;
}
impl BoxCastable for pr_range {}

/// Stores a new handle for `buf` through `out`.
///
/// # Safety
/// `out` must be writable (checked non-NULL by `out_ptr`).
pub(crate) unsafe fn give<C: BoxCastable<Rust = Buf>>(out: core::ptr::NonNull<*mut C>, buf: Buf) {
    // SAFETY: forwarded contract.
    unsafe { write_out(out, to_boxed_ptr::<C>(buf)) }
}

/// The buffer of a list copied from `gpns` with the one window `offset ..
/// offset + len`, every page of it checked to be addressable.
fn new_range(gpns: &[u64], offset: usize, len: usize) -> FfiResult<Buf> {
    let list = WindowList::single(gpns, offset, len)?;
    let buf = Buf::new(Arc::new(list));
    buf.try_for_each_run(drop)?;
    Ok(buf)
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
        let buf = new_range(gpns, offset, len)?;
        // SAFETY: checked non-NULL; writable per the C contract.
        unsafe { give(out, buf) };
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
    guard_value(0, || unsafe { try_ref(r) }.map_or(0, Buf::len))
}

/// Byte offset of the window's first byte within its first page (always
/// below PR_PAGE_SIZE); 0 when `r` is NULL.
#[no_mangle]
pub extern "C" fn pr_range_offset(r: *const pr_range) -> usize {
    // SAFETY: a live pr_range or NULL per the C contract.
    guard_value(0, || unsafe { try_ref(r) }.map_or(0, Buf::offset))
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
        let gpns = unsafe { try_ref(r) }
            .ok()
            .and_then(|r| r.window_at(0))
            .map_or(&[][..], |w| w.gpns());
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
        let sub = r.try_subrange(offset, len)?;
        // SAFETY: checked non-NULL; writable per the C contract.
        unsafe { give(out, sub) };
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
        Ok(r.try_skip(len)?)
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
        Ok(r.try_truncate(len)?)
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
        let (a, b) = r.try_split(offset)?;
        // SAFETY: both checked non-NULL; writable per the C contract.
        unsafe {
            give(front, a);
            give(back, b);
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
    out: *mut pr_address_range,
    capacity: usize,
    count: *mut usize,
) -> pr_status {
    guard(|| {
        // SAFETY: a live pr_range per the C contract.
        let r = unsafe { try_ref(r) }?;
        // SAFETY: `out` holds `capacity` elements and `count` is writable,
        // per the C contract.
        unsafe { export_runs(r, out, capacity, count) }
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
            within(len, r.len(), || Ok(r.read(mem, out_bytes(dst, len)?)))
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
            within(len, r.len(), || Ok(r.write(mem, in_bytes(src, len)?)))
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
            Ok(r.fill(mem, value, len))
        })
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
        // SAFETY: live handles per the C contract.
        let (r, mem) = unsafe { (try_ref(r)?, try_ref(mem)?) };
        // SAFETY: per the C contract for the other arguments.
        unsafe { buffer_iovecs(r, mem, len, iov, iov_capacity, iov_count, covered) }
    })
}

/// The body of pr_range_iovecs and pr_ranges_iovecs: exports the first
/// `len` bytes of `buf` and logs them in every dirty log of `mem`.
///
/// # Safety
/// As `export_iovecs`.
pub(crate) unsafe fn buffer_iovecs(
    buf: &Buf,
    mem: &crate::memory::Backend,
    len: usize,
    iov: *mut libc::iovec,
    capacity: usize,
    iov_count: *mut usize,
    covered: *mut usize,
) -> FfiResult {
    // SAFETY: forwarded contract.
    unsafe {
        export_iovecs(
            mem,
            len,
            iov,
            capacity,
            iov_count,
            covered,
            |mapped, slots| Ok(mem.export_logged(&buf.cursor(), mapped, len, slots, true)),
        )
    }
}
