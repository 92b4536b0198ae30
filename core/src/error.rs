//! Error types. Every message names the numbers involved.

use thiserror::Error;

/// A guest page number whose bytes cannot be addressed with 64-bit guest
/// physical addresses.
///
/// GPNs above [`MAX_GPN`](crate::MAX_GPN) are always invalid. A run of pages
/// is also invalid when its exclusive end address would be 2^64 or more (that
/// is the last byte of GPN `MAX_GPN`, or a run of numerically adjacent GPNs
/// climbing past it): such an end cannot be expressed as an
/// [`AddressRange`](crate::AddressRange).
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq, Hash)]
#[error("guest page number {gpn:#x} cannot be addressed in 64 bits")]
pub struct InvalidGpn {
    /// The offending guest page number.
    pub gpn: u64,
}

/// A byte window `offset..offset + len` that does not fit in the bytes
/// available (including the case where `offset + len` overflows).
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq, Hash)]
#[error("bytes {offset}..{offset}+{len} are out of range: only {available} bytes are available")]
pub struct OutOfRange {
    /// Start of the requested window.
    pub offset: usize,
    /// Length of the requested window.
    pub len: usize,
    /// Bytes that were available.
    pub available: usize,
}

/// The total length of a [`PagedRanges`](crate::PagedRanges) would overflow
/// `usize`.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq, Hash)]
#[error("total length overflows usize after {total} bytes when adding a range of {len} bytes")]
pub struct LengthOverflow {
    /// Bytes summed before the range that overflowed.
    pub total: usize,
    /// Length of the range that overflowed the total.
    pub len: usize,
}

/// A guest memory backend refused an access, or an access faulted.
///
/// `done` is the bytes of the call moved before it stopped: 0 for a
/// backend that refuses a call as a whole (callbacks, a run outside the
/// mapped regions), the exact prefix for a mapped access stopped by a
/// recovered fault (see [`memory::fault`](crate::memory::fault)).
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq, Hash)]
#[error(
    "guest memory access at GPA {gpa:#x} failed with code {code} (after {done} bytes of the call)"
)]
pub struct MemoryFault {
    /// Guest physical address of the access that failed.
    pub gpa: u64,
    /// Backend-specific code (for callbacks: the nonzero value returned).
    pub code: i32,
    /// Bytes of the call moved before the failure.
    pub done: usize,
}

/// Why a read, write or fill stopped.
///
/// `done` is always the number of bytes transferred by the call before it
/// stopped; cursors ([`PagedRangeReader`](crate::PagedRangeReader) and
/// friends) advance by exactly that many bytes.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferError {
    /// More bytes were asked for than remain; nothing was transferred.
    #[error(transparent)]
    OutOfRange(#[from] OutOfRange),
    /// A page of the range cannot be addressed; `done` bytes (the runs before
    /// it) were transferred.
    #[error("guest page number {gpn:#x} cannot be addressed in 64 bits (after {done} bytes)")]
    InvalidGpn {
        /// Bytes transferred before the invalid page.
        done: usize,
        /// The offending guest page number.
        gpn: u64,
    },
    /// The guest memory backend refused a run, or an access faulted;
    /// `done` bytes (the runs before it, plus the part of the run the
    /// backend moved) were transferred. `gpa` is the address the backend
    /// blamed: the run's start for callbacks, the first address outside the
    /// mapped regions (or the buffer) for the built-in backends, the
    /// faulting address for a recovered fault.
    #[error("guest memory access at GPA {gpa:#x} failed with code {code} (after {done} bytes)")]
    Memory {
        /// Bytes transferred before the failing run.
        done: usize,
        /// Guest physical address the backend blamed.
        gpa: u64,
        /// Backend-specific code.
        code: i32,
    },
}

impl TransferError {
    /// Bytes transferred before the error (zero for
    /// [`TransferError::OutOfRange`]).
    pub fn done(&self) -> usize {
        match *self {
            TransferError::OutOfRange(_) => 0,
            TransferError::InvalidGpn { done, .. } | TransferError::Memory { done, .. } => done,
        }
    }
}

impl From<MemoryFault> for TransferError {
    /// The error of a single access.
    fn from(f: MemoryFault) -> Self {
        TransferError::Memory {
            done: f.done,
            gpa: f.gpa,
            code: f.code,
        }
    }
}
