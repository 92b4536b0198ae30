//! What the transfer, run-listing and iovec entry points share: checking a
//! length before any C buffer is borrowed, the `pr_transfer` report, and
//! writing runs and iovecs to C arrays. (Type conversion only: the core
//! computes.)

use pagedrange::{AddressRange, IovecExport, OutOfRange, TransferError};

use crate::boundary::{guard, out_array, out_ptr, write_opt, write_out, FfiResult, NULL};
use crate::memory::Backend;
use crate::status::{pr_status, pr_transfer, Failure, PR_ERR_BUFFER_TOO_SMALL};

/// A guest physical address range `start .. end` (end exclusive), as
/// pr_range_address_ranges and pr_ranges_address_ranges report runs.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct pr_address_range {
    /// First guest physical address in the range.
    pub start: u64,
    /// One past the last guest physical address in the range.
    pub end: u64,
}

static_assertions::assert_eq_size!(pr_address_range, [u64; 2]);
static_assertions::const_assert_eq!(core::mem::offset_of!(pr_address_range, start), 0);
static_assertions::const_assert_eq!(core::mem::offset_of!(pr_address_range, end), 8);

impl From<AddressRange> for pr_address_range {
    #[inline(always)]
    fn from(r: AddressRange) -> Self {
        Self {
            start: r.start,
            end: r.end,
        }
    }
}

impl From<core::ops::Range<u64>> for pr_address_range {
    fn from(r: core::ops::Range<u64>) -> Self {
        Self {
            start: r.start,
            end: r.end,
        }
    }
}

/// The result of a transfer body: a C-side failure (a bad pointer), or
/// the core's result.
pub(crate) type Moved = FfiResult<Result<(), TransferError>>;

/// Runs `op` when a transfer of `len` bytes fits in the `available` bytes,
/// and otherwise gives the out-of-range result, before `op` borrows any C
/// buffer of `len` bytes.
#[inline(always)]
pub(crate) fn within(len: usize, available: usize, op: impl FnOnce() -> Moved) -> Moved {
    if len > available {
        return Ok(Err(TransferError::OutOfRange(OutOfRange {
            offset: 0,
            len,
            available,
        })));
    }
    op()
}

/// Runs one transfer of `len` bytes and reports it through an optional
/// `pr_transfer`; shared by every read/write/fill entry point.
///
/// # Safety
/// A non-NULL `t` must be writable.
#[inline(always)]
pub(crate) unsafe fn report(
    t: *mut pr_transfer,
    len: usize,
    body: impl FnOnce() -> Moved,
) -> pr_status {
    let mut outcome = pr_transfer::default();
    let status = guard(|| {
        let result = body()?;
        outcome = pr_transfer::from_result(len, &result);
        result.map_err(Failure::from)
    });
    // SAFETY: forwarded contract.
    unsafe { write_opt(t, outcome) };
    status
}

/// Writes the runs of `buf` into `out[..capacity]` and their number into
/// `*count`; shared by pr_range_address_ranges and
/// pr_ranges_address_ranges.
///
/// # Safety
/// `out` must be writable for `capacity` elements unless `capacity` is 0;
/// `count` must be writable.
pub(crate) unsafe fn export_runs(
    buf: &crate::range::Buf,
    out: *mut pr_address_range,
    capacity: usize,
    count: *mut usize,
) -> FfiResult {
    let count = out_ptr(count)?;
    if out.is_null() && capacity > 0 {
        return Err(NULL);
    }
    // The array is written element by element, never borrowed as a slice:
    // `capacity` is only the caller's bound (SIZE_MAX is allowed).
    let mut needed = 0usize;
    buf.try_for_each_run(|run| {
        if needed < capacity {
            // SAFETY: `needed < capacity` and `out` is writable for
            // `capacity` elements per the contract.
            unsafe { out.add(needed).write(run.into()) };
        }
        needed += 1;
    })?;
    // SAFETY: checked non-NULL; writable per the contract.
    unsafe { write_out(count, needed) };
    if needed > capacity {
        Err(Failure(PR_ERR_BUFFER_TOO_SMALL))
    } else {
        Ok(())
    }
}

/// Exports iovecs and reports them; shared by every iovec entry point.
/// `export` gets the mapped memory (the memory must be one) and the C
/// array, and returns the core's result.
///
/// # Safety
/// `mem` a live backend; `iov` writable for `capacity` entries (or NULL
/// with `capacity` 0); `iov_count` and `covered` writable or NULL.
pub(crate) unsafe fn export_iovecs(
    mem: &Backend,
    len: usize,
    iov: *mut libc::iovec,
    capacity: usize,
    iov_count: *mut usize,
    covered: *mut usize,
    export: impl FnOnce(
        &pagedrange::MappedMemory,
        &mut [libc::iovec],
    ) -> FfiResult<Result<IovecExport, TransferError>>,
) -> FfiResult {
    let (count_out, covered_out) = (out_ptr(iov_count)?, out_ptr(covered)?);
    let mapped = mem
        .mapped()
        .ok_or(Failure(crate::status::PR_ERR_INVALID_ARGUMENT))?;
    // SAFETY: forwarded contract; iovec is plain data (a pointer and a
    // length).
    let slots = unsafe { out_array(iov, capacity) }?;
    let done = match export(mapped, slots)? {
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
        Err(Failure(PR_ERR_BUFFER_TOO_SMALL))
    } else {
        Ok(())
    }
}
