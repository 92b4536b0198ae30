//! `pr_ranges`: several windows acting as one logical buffer.

use core::ffi::c_void;

use super::boundary::{
    free_boxed, guard, guard_value, in_array, in_bytes, out_bytes, out_ptr, to_boxed_ptr, try_mut,
    try_ref, write_out, BoxCastable, Castable, FfiResult,
};
use super::memory::pr_memory;
use super::range::{export_iovecs, export_runs, pr_range, report, within, RangeHandle};
use super::status::{pr_status, pr_transfer, PR_ERR_ALLOCATION, PR_ERR_OUT_OF_RANGE};
use crate::paged_ranges::{IndexError, WindowIndex};
use crate::{AddressRange, OutOfRange, PagedRange, PagedRanges};

/// A list of ranges read and written as one logical buffer (opaque).
///
/// Holds its own references to the members' GPN lists: the pr_range handles
/// it was built from may be freed at once. Calls taking a
/// `const pr_ranges *` may run concurrently; skip, truncate and push need
/// exclusive use.
pub struct pr_ranges {
    _private: [u8; 0],
}

/// The Rust value behind a `pr_ranges`: the non-empty member windows, an
/// index of their offsets, and the logical window (`skip`, `len`) that skip
/// and truncate narrowed. Every operation starts at the member holding
/// byte `skip`, found in O(log n).
#[derive(Clone, Debug, Default)]
pub(crate) struct RangesHandle {
    members: Vec<RangeHandle>,
    index: WindowIndex,
    skip: usize,
    len: usize,
}

impl Castable for pr_ranges {
    type Rust = RangesHandle;
}
impl BoxCastable for pr_ranges {}

/// The iterator type a [`RangesHandle`] hands to the core.
pub(crate) type MemberIter<'a> =
    core::iter::Map<core::slice::Iter<'a, RangeHandle>, fn(&'a RangeHandle) -> PagedRange<'a>>;

impl From<IndexError> for pr_status {
    fn from(e: IndexError) -> Self {
        match e {
            IndexError::Overflow(e) => e.into(),
            IndexError::Allocation => PR_ERR_ALLOCATION,
        }
    }
}

impl RangesHandle {
    /// Index of the member holding the buffer's first byte.
    fn first(&self) -> usize {
        self.index.find(self.skip)
    }

    /// The buffer as a core [`PagedRanges`], starting at the member that
    /// holds its first byte.
    pub(crate) fn view(&self) -> PagedRanges<'_, MemberIter<'_>> {
        let first = self.first();
        let members = self.members.get(first..).unwrap_or_default();
        let iter: MemberIter<'_> = members.iter().map(RangeHandle::view);
        PagedRanges::from_window(iter, self.skip - self.index.start(first), self.len)
    }

    /// Narrows the buffer with `narrow` (a core operation such as
    /// `try_skip`), leaving it unchanged on error.
    pub(crate) fn narrow<E>(
        &mut self,
        narrow: impl for<'v> FnOnce(&mut PagedRanges<'v, MemberIter<'v>>) -> Result<(), E>,
    ) -> Result<(), E> {
        let base = self.index.start(self.first());
        let mut view = self.view();
        narrow(&mut view)?;
        let (skip, len) = view.window();
        (self.skip, self.len) = (base + skip, len);
        Ok(())
    }

    /// Number of non-empty windows in the buffer.
    pub(crate) fn count(&self) -> usize {
        self.index.overlapping(self.skip, self.len).len()
    }

    /// Window `i` of the buffer as a new range handle, in O(1).
    pub(crate) fn get(&self, i: usize) -> Option<RangeHandle> {
        let member = self.index.overlapping(self.skip, self.len).nth(i)?;
        let (offset, len) = self.index.clip(member, self.skip, self.len);
        let handle = &self.members[member];
        Some(handle.derive(handle.view().subrange(offset, len)))
    }

    /// Appends `r`'s window at the end of the buffer. When the buffer was
    /// truncated, the members are first cut down to what is left, so the
    /// new window follows the current end. Empty windows add nothing.
    pub(crate) fn push(&mut self, r: &RangeHandle) -> FfiResult {
        if self.skip.checked_add(self.len) != Some(self.index.total()) {
            let mut kept = Self::default();
            for i in 0..self.count() {
                let window = self.get(i).ok_or(super::status::PR_ERR_PANIC)?;
                kept.push(&window)?;
            }
            *self = kept;
        }
        if r.len() == 0 {
            return Ok(());
        }
        self.members.try_reserve(1).map_err(|_| PR_ERR_ALLOCATION)?;
        self.index.try_push(r.len())?;
        self.members.push(r.clone());
        self.len += r.len();
        Ok(())
    }

    /// Number of bytes in the buffer.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// Creates a buffer from `count` ranges, in order (byte 0 is the first byte
/// of `ranges[0]`). Each range's window is copied (the GPN lists are shared);
/// the caller keeps ownership of the pr_range handles. `ranges` may be NULL
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
        let mut handle = RangesHandle::default();
        handle
            .members
            .try_reserve_exact(count)
            .map_err(|_| PR_ERR_ALLOCATION)?;
        for &r in ranges {
            // SAFETY: each element is a live pr_range per the C contract.
            let r = unsafe { try_ref(r) }?;
            handle.push(r)?;
        }
        // SAFETY: checked non-NULL; writable per the C contract.
        unsafe { write_out(out, to_boxed_ptr::<pr_ranges>(handle)) };
        Ok(())
    })
}

/// Appends a copy of `r`'s window after the buffer's current end (after any
/// truncation).
///
/// Errors: PR_ERR_NULL_ARGUMENT (`rs` or `r`), PR_ERR_INVALID_ARGUMENT (the
/// total length would overflow size_t), PR_ERR_ALLOCATION, PR_ERR_PANIC. On
/// error the buffer describes the same bytes as before. O(1) amortized,
/// except the first push after a truncate, which compacts the members.
#[no_mangle]
pub extern "C" fn pr_ranges_push(rs: *mut pr_ranges, r: *const pr_range) -> pr_status {
    guard(|| {
        // SAFETY: live handles per the C contract; `rs` used by this thread
        // only.
        let (rs, r) = unsafe { (try_mut(rs)?, try_ref(r)?) };
        // On error the buffer holds the same bytes as before (a truncated
        // buffer may have been compacted first).
        rs.push(r)
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
    guard_value(0, || unsafe { try_ref(rs) }.map_or(0, RangesHandle::len))
}

/// Number of non-empty windows the buffer is made of (after skip/truncate);
/// 0 when `rs` is NULL.
#[no_mangle]
pub extern "C" fn pr_ranges_count(rs: *const pr_ranges) -> usize {
    guard_value(0, || {
        // SAFETY: a live pr_ranges or NULL per the C contract.
        unsafe { try_ref(rs) }.map_or(0, RangesHandle::count)
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
        let member = rs.get(index).ok_or(PR_ERR_OUT_OF_RANGE)?;
        // SAFETY: checked non-NULL; writable per the C contract.
        unsafe { write_out(out, to_boxed_ptr::<pr_range>(member)) };
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
        Ok(rs.narrow(|v| v.try_skip(len))?)
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
        Ok(rs.narrow(|v| v.try_truncate(len))?)
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
    out: *mut AddressRange,
    capacity: usize,
    count: *mut usize,
) -> pr_status {
    guard(|| {
        // SAFETY: a live pr_ranges per the C contract.
        let rs = unsafe { try_ref(rs) }?;
        // SAFETY: `out` holds `capacity` elements and `count` is writable,
        // per the C contract.
        unsafe { export_runs(rs.view().ranges(), out, capacity, count) }
    })
}

/// The buffer narrowed to its first `len` bytes.
fn front(rs: &RangesHandle, len: usize) -> Result<PagedRanges<'_, MemberIter<'_>>, OutOfRange> {
    let mut view = rs.view();
    view.try_truncate(len)?;
    Ok(view)
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
            within(front(rs, len), |v| Ok(v.read(mem, out_bytes(dst, len)?)))
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
            within(front(rs, len), |v| Ok(v.write(mem, in_bytes(src, len)?)))
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
            Ok(rs.view().fill(mem, value, len))
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
        // SAFETY: a live pr_ranges per the C contract.
        let rs = unsafe { try_ref(rs) }?;
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
                    let view = rs.view();
                    let result = view.iovecs(m, len, slots).and_then(|done| {
                        let mut exported = view.clone();
                        exported.truncate(done.covered);
                        backend.mark_exported(exported.paged_ranges())?;
                        Ok(done)
                    });
                    Ok(result)
                },
            )
        }
    })
}
