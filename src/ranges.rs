//! `pr_ranges`: several windows acting as one logical buffer.

use core::ffi::c_void;
use std::sync::Arc;

use pagedrange::WindowList;

use crate::boundary::{
    free_boxed, guard, guard_value, in_array, in_bytes, out_bytes, out_ptr, try_mut, try_ref,
    BoxCastable, Castable, FfiResult,
};
use crate::io::{export_runs, pr_address_range, report, within};
use crate::memory::pr_memory;
use crate::range::{buffer_iovecs, give, pr_range, Buf};
use crate::status::{pr_status, pr_transfer, Failure, PR_ERR_OUT_OF_RANGE};

/// A list of ranges read and written as one logical buffer (opaque).
///
/// Holds its own copy of the windows and their pages: the pr_range handles
/// it was built from may be freed at once. Calls taking a
/// `const pr_ranges *` may run concurrently; skip, truncate and push need
/// exclusive use.
pub struct pr_ranges {
    _private: [u8; 0],
}

impl Castable for pr_ranges {
    type Rust = Buf;
}
impl BoxCastable for pr_ranges {}

/// Appends `r`'s window to `rs` (see `Buffer::try_push`).
fn push(rs: &mut Buf, r: &Buf) -> FfiResult {
    for window in r.windows() {
        rs.try_push(&window)?;
    }
    Ok(())
}

/// Creates a buffer from `count` ranges, in order (byte 0 is the first byte
/// of `ranges[0]`). Each range's window and its pages are copied; the
/// caller keeps ownership of the pr_range handles. `ranges` may be NULL
/// when `count` is 0 (an empty buffer).
///
/// On success `*out` receives a handle to free with pr_ranges_free.
/// Errors: PR_ERR_NULL_ARGUMENT (`out`, `ranges` with `count > 0`, or a
/// NULL element), PR_ERR_INVALID_ARGUMENT (the total length overflows
/// size_t, `ranges` is misaligned, or `count` is too large to be an array),
/// PR_ERR_ALLOCATION, PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_ranges_new(
    ranges: *const *const pr_range,
    count: usize,
    out: *mut *mut pr_ranges,
) -> pr_status {
    guard(|| {
        let out = out_ptr(out)?;
        // SAFETY: the C contract makes `ranges` readable for `count`
        // elements during the call.
        let ranges = unsafe { in_array(ranges, count) }?;
        let mut rs = Buf::new(Arc::new(WindowList::new()));
        for &r in ranges {
            // SAFETY: each element is a live pr_range per the C contract.
            push(&mut rs, unsafe { try_ref(r) }?)?;
        }
        // SAFETY: checked non-NULL; writable per the C contract.
        unsafe { give(out, rs) };
        Ok(())
    })
}

/// Appends a copy of `r`'s window after the buffer's current end (after any
/// truncation).
///
/// Errors: PR_ERR_NULL_ARGUMENT (`rs` or `r`), PR_ERR_INVALID_ARGUMENT (the
/// total length would overflow size_t), PR_ERR_ALLOCATION, PR_ERR_PANIC. On
/// error the buffer describes the same bytes as before. Copies `r`'s pages:
/// O(1) amortized per page, except the first push after a skip or
/// truncate, which compacts the buffer, and a push to a buffer that
/// another handle (a cursor, a range from pr_ranges_get) shares, which
/// copies it first.
#[no_mangle]
pub extern "C" fn pr_ranges_push(rs: *mut pr_ranges, r: *const pr_range) -> pr_status {
    guard(|| {
        // SAFETY: live handles per the C contract; `rs` used by this thread
        // only.
        let (rs, r) = unsafe { (try_mut(rs)?, try_ref(r)?) };
        push(rs, r)
    })
}

/// Frees a buffer handle. Ranges obtained from it and cursors over it stay
/// valid. NULL is a no-op.
#[no_mangle]
pub extern "C" fn pr_ranges_free(rs: *mut pr_ranges) {
    let _ = guard(|| {
        // SAFETY: a non-NULL `rs` came from pr_ranges_new and is released
        // exactly once here.
        unsafe { free_boxed(rs) };
        Ok(())
    });
}

/// Number of bytes in the buffer (after skip/truncate); 0 when `rs` is NULL.
#[no_mangle]
pub extern "C" fn pr_ranges_len(rs: *const pr_ranges) -> usize {
    // SAFETY: a live pr_ranges or NULL per the C contract.
    guard_value(0, || unsafe { try_ref(rs) }.map_or(0, Buf::len))
}

/// Number of non-empty windows the buffer is made of (after skip/truncate);
/// 0 when `rs` is NULL.
#[no_mangle]
pub extern "C" fn pr_ranges_count(rs: *const pr_ranges) -> usize {
    guard_value(0, || {
        // SAFETY: a live pr_ranges or NULL per the C contract.
        unsafe { try_ref(rs) }.map_or(0, Buf::window_count)
    })
}

/// Creates a range for window `index` of the buffer (counting as
/// pr_ranges_count does: after skip/truncate, empty windows left out).
///
/// On success `*out` receives a handle to free with pr_range_free.
/// Errors: PR_ERR_NULL_ARGUMENT (`rs` or `out`), PR_ERR_OUT_OF_RANGE
/// (`index >= pr_ranges_count(rs)`), PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_ranges_get(
    rs: *const pr_ranges,
    index: usize,
    out: *mut *mut pr_range,
) -> pr_status {
    guard(|| {
        let out = out_ptr(out)?;
        // SAFETY: a live pr_ranges per the C contract.
        let rs = unsafe { try_ref(rs) }?;
        let window = rs
            .window_buffer(index)
            .ok_or(Failure(PR_ERR_OUT_OF_RANGE))?;
        // SAFETY: checked non-NULL; writable per the C contract.
        unsafe { give(out, window) };
        Ok(())
    })
}

/// Drops the first `len` bytes of the buffer, in place.
///
/// Errors: PR_ERR_NULL_ARGUMENT (`rs`), PR_ERR_OUT_OF_RANGE (`len` exceeds
/// the buffer; it is unchanged), PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_ranges_skip(rs: *mut pr_ranges, len: usize) -> pr_status {
    guard(|| {
        // SAFETY: a live pr_ranges used by this thread only, per the C
        // contract.
        let rs = unsafe { try_mut(rs) }?;
        Ok(rs.try_skip(len)?)
    })
}

/// Shortens the buffer to its first `len` bytes, in place.
///
/// Errors: PR_ERR_NULL_ARGUMENT (`rs`), PR_ERR_OUT_OF_RANGE (`len` exceeds
/// the buffer; it is unchanged), PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_ranges_truncate(rs: *mut pr_ranges, len: usize) -> pr_status {
    guard(|| {
        // SAFETY: a live pr_ranges used by this thread only, per the C
        // contract.
        let rs = unsafe { try_mut(rs) }?;
        Ok(rs.try_truncate(len)?)
    })
}

/// Lists the guest address runs of the buffer, window by window (runs are
/// not merged across windows), with the same contract as
/// pr_range_address_ranges.
///
/// Errors: PR_ERR_NULL_ARGUMENT (`rs`, `count`, or `out` with
/// `capacity > 0`), PR_ERR_BUFFER_TOO_SMALL (the first `capacity` runs were
/// written and `*count` says how many are needed), PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_ranges_address_ranges(
    rs: *const pr_ranges,
    out: *mut pr_address_range,
    capacity: usize,
    count: *mut usize,
) -> pr_status {
    guard(|| {
        // SAFETY: a live pr_ranges per the C contract.
        let rs = unsafe { try_ref(rs) }?;
        // SAFETY: `out` holds `capacity` elements and `count` is writable,
        // per the C contract.
        unsafe { export_runs(rs, out, capacity, count) }
    })
}

/// Reads the first `len` bytes of the buffer into `dst`, window by window,
/// one read callback per physically contiguous run (contract as
/// pr_range_read).
///
/// `dst` may be NULL when `len` is 0. `t` may be NULL; otherwise it is
/// always written. Errors: PR_ERR_NULL_ARGUMENT (`rs`, `mem`, or `dst` with
/// `len > 0`), PR_ERR_OUT_OF_RANGE (`len` exceeds the buffer; no callback
/// is made), PR_ERR_MEMORY (a callback failed; earlier runs were read),
/// PR_ERR_INVALID_ARGUMENT, PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_ranges_read(
    rs: *const pr_ranges,
    mem: *const pr_memory,
    dst: *mut c_void,
    len: usize,
    t: *mut pr_transfer,
) -> pr_status {
    // SAFETY: per the C contract: live handles, `dst` writable for `len`
    // bytes, `t` writable or NULL.
    unsafe {
        report(t, len, || {
            let (rs, mem) = (try_ref(rs)?, try_ref(mem)?);
            within(len, rs.len(), || Ok(rs.read(mem, out_bytes(dst, len)?)))
        })
    }
}

/// Writes `len` bytes from `src` over the first `len` bytes of the buffer,
/// window by window (contract as pr_range_write).
///
/// `src` may be NULL when `len` is 0. `t` may be NULL; otherwise it is
/// always written. Errors: PR_ERR_NULL_ARGUMENT (`rs`, `mem`, or `src` with
/// `len > 0`), PR_ERR_OUT_OF_RANGE (`len` exceeds the buffer; no callback
/// is made), PR_ERR_MEMORY (a callback failed; earlier runs were written),
/// PR_ERR_INVALID_ARGUMENT, PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_ranges_write(
    rs: *const pr_ranges,
    mem: *const pr_memory,
    src: *const c_void,
    len: usize,
    t: *mut pr_transfer,
) -> pr_status {
    // SAFETY: per the C contract: live handles, `src` readable for `len`
    // bytes, `t` writable or NULL.
    unsafe {
        report(t, len, || {
            let (rs, mem) = (try_ref(rs)?, try_ref(mem)?);
            within(len, rs.len(), || Ok(rs.write(mem, in_bytes(src, len)?)))
        })
    }
}

/// Sets the first `len` bytes of the buffer to `value`, window by window
/// (contract as pr_range_fill).
///
/// `t` may be NULL; otherwise it is always written. Errors:
/// PR_ERR_NULL_ARGUMENT (`rs` or `mem`), PR_ERR_OUT_OF_RANGE (`len` exceeds
/// the buffer; no callback is made), PR_ERR_MEMORY, PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_ranges_fill(
    rs: *const pr_ranges,
    mem: *const pr_memory,
    value: u8,
    len: usize,
    t: *mut pr_transfer,
) -> pr_status {
    // SAFETY: per the C contract: live handles, `t` writable or NULL.
    unsafe {
        report(t, len, || {
            let (rs, mem) = (try_ref(rs)?, try_ref(mem)?);
            Ok(rs.fill(mem, value, len))
        })
    }
}

/// pr_range_iovecs for the whole buffer, window by window (pieces of
/// consecutive windows merge when they touch in host memory), with the same
/// outputs.
///
/// Errors: PR_ERR_NULL_ARGUMENT (`rs`, `mem`, `iov_count`, `covered`, or
/// `iov` with `iov_capacity > 0`), PR_ERR_INVALID_ARGUMENT (`mem` is not a
/// mapped memory), PR_ERR_OUT_OF_RANGE (`len` exceeds the buffer),
/// PR_ERR_BUFFER_TOO_SMALL, PR_ERR_MEMORY, PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_ranges_iovecs(
    rs: *const pr_ranges,
    mem: *const pr_memory,
    len: usize,
    iov: *mut libc::iovec,
    iov_capacity: usize,
    iov_count: *mut usize,
    covered: *mut usize,
) -> pr_status {
    guard(|| {
        // SAFETY: live handles per the C contract.
        let (rs, mem) = unsafe { (try_ref(rs)?, try_ref(mem)?) };
        // SAFETY: per the C contract for the other arguments.
        unsafe { buffer_iovecs(rs, mem, len, iov, iov_capacity, iov_count, covered) }
    })
}
