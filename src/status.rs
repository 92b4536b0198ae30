//! Status codes, the one place that turns core errors into them
//! (`Failure`), the `pr_transfer` report, and the version.

use core::ffi::{c_char, c_int};

use pagedrange::memory::{DirtyLogError, RegionError, WindowMarkError};
use pagedrange::wire::WireError;
use pagedrange::{
    BuilderError, ChainError, ChainRule, InvalidGpn, LengthOverflow, ListError, OutOfRange,
    SingleError, TransferError,
};

/// Result of every fallible call: PR_OK (0) on success, a PR_ERR_* code
/// otherwise. An integer type (not a C enum) so that every language binding
/// sees the same width and signedness; codes are never reused.
pub type pr_status = u32;

/// Success.
pub const PR_OK: pr_status = 0;
/// A required pointer argument was NULL.
pub const PR_ERR_NULL_ARGUMENT: pr_status = 1;
/// An offset or length lies outside the range, or `offset + len` overflows.
pub const PR_ERR_OUT_OF_RANGE: pr_status = 2;
/// A guest page number cannot be addressed in 64 bits.
pub const PR_ERR_INVALID_GPN: pr_status = 3;
/// A guest memory access failed; see pr_transfer.fault_gpa / fault_code.
pub const PR_ERR_MEMORY: pr_status = 4;
/// The output array is too small; the count needed was reported.
pub const PR_ERR_BUFFER_TOO_SMALL: pr_status = 5;
/// An argument has an impossible value (misaligned pointer, a count whose
/// byte size overflows, a length total that overflows).
pub const PR_ERR_INVALID_ARGUMENT: pr_status = 6;
/// Memory for a handle could not be allocated.
pub const PR_ERR_ALLOCATION: pr_status = 7;
/// An internal error (a Rust panic) was caught at the boundary.
pub const PR_ERR_PANIC: pr_status = 8;
/// A limit set by the caller (windows, pages or bytes of a builder) was
/// exceeded.
pub const PR_ERR_LIMIT: pr_status = 9;
/// Encoded input (the GPA-range wire format) is malformed: truncated, or a
/// field out of its range.
pub const PR_ERR_MALFORMED: pr_status = 10;
/// The platform cannot do what was asked (fault recovery exists only on
/// x86-64 Linux).
pub const PR_ERR_UNSUPPORTED: pr_status = 11;

/// Major version of the library.
pub const PR_VERSION_MAJOR: u32 = 0;
/// Minor version of the library.
pub const PR_VERSION_MINOR: u32 = 1;
/// Patch version of the library.
pub const PR_VERSION_PATCH: u32 = 0;

/// Outcome of a read, write or fill.
///
/// `done` is the number of bytes transferred. On PR_ERR_MEMORY,
/// `fault_gpa` is the guest address blamed and `fault_code` says why:
/// - callback memory: the start of the run whose callback failed, and the
///   callback's nonzero return value;
/// - mapped memory: the first address outside the regions, and
///   PR_FAULT_UNMAPPED (-1);
/// - mapped memory whose access faulted, with pr_fault_recovery_install:
///   the address that faulted, and PR_FAULT_SIGBUS (-3) or
///   PR_FAULT_SIGSEGV (-4); `done` then counts the bytes before it;
/// - a dirty-logged memory: a page beyond its bitmap, and
///   PR_FAULT_UNTRACKED (-2).
///
/// Both are 0 otherwise.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct pr_transfer {
    /// Bytes transferred (a cursor advanced by exactly this many).
    pub done: usize,
    /// GPA of the failed access on PR_ERR_MEMORY, else 0.
    pub fault_gpa: u64,
    /// Why the access failed on PR_ERR_MEMORY (see above), else 0.
    pub fault_code: c_int,
}

static_assertions::assert_eq_size!(pr_transfer, [u64; 3]);
static_assertions::const_assert_eq!(core::mem::offset_of!(pr_transfer, done), 0);
static_assertions::const_assert_eq!(core::mem::offset_of!(pr_transfer, fault_gpa), 8);
static_assertions::const_assert_eq!(core::mem::offset_of!(pr_transfer, fault_code), 16);
/// A failed call: the status it returns (never PR_OK).
///
/// Every core error becomes one here, and nowhere else: the `From` impls
/// below are the whole mapping from errors to statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Failure(pub(crate) pr_status);

impl From<OutOfRange> for Failure {
    fn from(_: OutOfRange) -> Self {
        Failure(PR_ERR_OUT_OF_RANGE)
    }
}

impl From<InvalidGpn> for Failure {
    fn from(_: InvalidGpn) -> Self {
        Failure(PR_ERR_INVALID_GPN)
    }
}

impl From<LengthOverflow> for Failure {
    fn from(_: LengthOverflow) -> Self {
        Failure(PR_ERR_INVALID_ARGUMENT)
    }
}

impl From<&TransferError> for Failure {
    fn from(e: &TransferError) -> Self {
        Failure(match e {
            TransferError::OutOfRange(_) => PR_ERR_OUT_OF_RANGE,
            TransferError::InvalidGpn { .. } => PR_ERR_INVALID_GPN,
            TransferError::Memory { .. } => PR_ERR_MEMORY,
        })
    }
}

impl From<TransferError> for Failure {
    fn from(e: TransferError) -> Self {
        (&e).into()
    }
}

impl From<ListError> for Failure {
    fn from(e: ListError) -> Self {
        match e {
            ListError::Overflow(e) => e.into(),
            ListError::Allocation => Failure(PR_ERR_ALLOCATION),
        }
    }
}

impl From<SingleError> for Failure {
    fn from(e: SingleError) -> Self {
        match e {
            SingleError::OutOfRange(e) => e.into(),
            SingleError::Allocation => Failure(PR_ERR_ALLOCATION),
        }
    }
}

impl From<RegionError> for Failure {
    fn from(e: RegionError) -> Self {
        Failure(match e {
            RegionError::Allocation => PR_ERR_ALLOCATION,
            _ => PR_ERR_INVALID_ARGUMENT,
        })
    }
}

impl From<DirtyLogError> for Failure {
    fn from(_: DirtyLogError) -> Self {
        Failure(PR_ERR_INVALID_ARGUMENT)
    }
}

impl From<WindowMarkError> for Failure {
    fn from(e: WindowMarkError) -> Self {
        TransferError::from(e).into()
    }
}

impl From<BuilderError> for Failure {
    fn from(e: BuilderError) -> Self {
        Failure(match e {
            BuilderError::Overflow { .. } => PR_ERR_OUT_OF_RANGE,
            BuilderError::TooManyWindows { .. }
            | BuilderError::TooManyPages { .. }
            | BuilderError::TooManyBytes { .. } => PR_ERR_LIMIT,
            BuilderError::Allocation { .. } => PR_ERR_ALLOCATION,
        })
    }
}

impl From<ChainError> for Failure {
    fn from(e: ChainError) -> Self {
        Failure(match e.rule {
            ChainRule::Unreadable => PR_ERR_MEMORY,
            ChainRule::Limit => PR_ERR_LIMIT,
            ChainRule::Allocation => PR_ERR_ALLOCATION,
            _ => PR_ERR_MALFORMED,
        })
    }
}

impl From<WireError> for Failure {
    fn from(e: WireError) -> Self {
        Failure(match e {
            WireError::Truncated { .. } | WireError::BadOffset { .. } => PR_ERR_MALFORMED,
            WireError::InvalidGpn { .. } => PR_ERR_INVALID_GPN,
            WireError::TooLong { .. } => PR_ERR_OUT_OF_RANGE,
            WireError::BufferTooSmall { .. } => PR_ERR_BUFFER_TOO_SMALL,
        })
    }
}

impl pr_transfer {
    /// The report for a transfer of `len` bytes that ended with `result`.
    pub(crate) fn from_result(len: usize, result: &Result<(), TransferError>) -> Self {
        match result {
            Ok(()) => Self {
                done: len,
                ..Self::default()
            },
            Err(TransferError::Memory { done, gpa, code }) => Self {
                done: *done,
                fault_gpa: *gpa,
                fault_code: *code,
            },
            Err(e) => Self {
                done: e.done(),
                ..Self::default()
            },
        }
    }
}

fn status_text(s: pr_status) -> &'static core::ffi::CStr {
    match s {
        PR_OK => c"ok",
        PR_ERR_NULL_ARGUMENT => c"a required pointer argument is NULL",
        PR_ERR_OUT_OF_RANGE => c"offset or length out of range",
        PR_ERR_INVALID_GPN => c"guest page number cannot be addressed in 64 bits",
        PR_ERR_MEMORY => c"guest memory access failed",
        PR_ERR_BUFFER_TOO_SMALL => c"output buffer too small",
        PR_ERR_INVALID_ARGUMENT => c"invalid argument",
        PR_ERR_ALLOCATION => c"memory allocation failed",
        PR_ERR_PANIC => c"internal error (panic caught at the C boundary)",
        PR_ERR_LIMIT => c"a configured limit was exceeded",
        PR_ERR_MALFORMED => c"malformed encoded input",
        PR_ERR_UNSUPPORTED => c"not supported on this platform",
        _ => c"unknown status",
    }
}

/// Describes a status code.
///
/// Returns a static, NUL-terminated English string for any value, including
/// values that are not PR_* codes ("unknown status"); never NULL. Thread-safe.
#[no_mangle]
pub extern "C" fn pr_status_str(s: pr_status) -> *const c_char {
    status_text(s).as_ptr()
}

/// The library version as a static string "MAJOR.MINOR.PATCH", matching the
/// PR_VERSION_* macros of the header it was built with. Never NULL.
#[no_mangle]
pub extern "C" fn pr_version() -> *const c_char {
    c"0.1.0".as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::ffi::CStr;

    #[test]
    fn version_matches_cargo() {
        let v = format!("{PR_VERSION_MAJOR}.{PR_VERSION_MINOR}.{PR_VERSION_PATCH}");
        assert_eq!(v, env!("CARGO_PKG_VERSION"));
        // SAFETY: pr_version returns a static NUL-terminated string.
        let s = unsafe { CStr::from_ptr(pr_version()) };
        assert_eq!(s.to_str().unwrap(), v);
    }

    #[test]
    fn every_status_has_its_own_text() {
        let texts: Vec<_> = (PR_OK..=PR_ERR_UNSUPPORTED).map(status_text).collect();
        for (i, t) in texts.iter().enumerate() {
            assert_ne!(*t, c"unknown status", "status {i}");
            assert!(!texts[..i].contains(t), "status {i} repeats a text");
        }
        assert_eq!(status_text(PR_ERR_UNSUPPORTED + 1), c"unknown status");
        assert_eq!(status_text(u32::MAX), c"unknown status");
    }
}
