//! # pagedrange
//!
//! Describe hypervisor IO buffers scattered across 4 KiB guest pages, and
//! move bytes between those buffers and host memory.
//!
//! ## Words
//!
//! Each concept has one name, used the same way throughout the crate:
//!
//! - **page**: a 4 KiB guest page, named by its guest page number (GPN).
//! - **window**: `len` bytes of the flat byte space that a list of pages
//!   makes when laid end to end, starting `offset` bytes in. Only its first
//!   and last page may be partial. A [`PagedRange`] is one window.
//! - **run**: the longest stretch of a window over numerically consecutive
//!   GPNs, i.e. physically contiguous guest bytes: one [`AddressRange`], and
//!   one call to the guest memory backend. Every run is computed in one
//!   place, which also checks each GPN.
//! - **buffer**: windows that act as one logical buffer, byte 0 being the
//!   first byte of the first window. [`PagedRanges`] borrows its windows
//!   from any iterator; a [`WindowList`] owns them with their page list and
//!   finds any byte in O(log n); a [`Buffer`] is the part of a shared
//!   window list in use.
//! - **segment**: `(gpa, len)` bytes of guest memory as a descriptor gives
//!   them; the [`RangesBuilder`] turns segments into the fewest windows.
//! - **cursor**: a place in a buffer (window, page, offset) and a limit on
//!   the bytes it may still move; readers and writers are cursors.
//! - **piece**: the part of a run inside one mapped region of host memory;
//!   an exported `iovec` covers one or more pieces.
//!
//! ## Memory model
//!
//! A [`PagedRange`] is a list of GPNs, a byte offset and a length.
//! Concatenating the pages gives a flat byte space; the range is a window
//! of it. Only the first and the last page of the window can be partially
//! covered; every page in between is used whole:
//!
//! ```text
//!  list index       0               1               2               3
//!  gpns        [ GPN_0       ] [ GPN_1       ] [ GPN_2       ] [ GPN_3       ]
//!  flat bytes    0 ..... 4095    4096 .. 8191    8192 . 12287   12288 . 16383
//!
//!                     offset                                  offset + len
//!                       v                                          v
//!  GPN_0        .........#####   first page: may start mid-page
//!  GPN_1        ##############   interior page: always whole
//!  GPN_2        ##############   interior page: always whole
//!  GPN_3        ######........   last page: may end mid-page
//! ```
//!
//! There is no way to leave a hole or start mid-page on an interior page, so
//! two guest buffers at arbitrary addresses (two virtio descriptors, say) fit
//! in one window only when every boundary between them falls on a page
//! boundary. A buffer of several windows describes the general case.
//!
//! Reads, writes and fills go through a [`GuestMemory`] backend and call it
//! once per run, not once per page. All of them run through one engine: a
//! [`Cursor`] over the windows, which counts the bytes done and advances by
//! exactly those, also when a run fails.
//!
//! GPN lists come from the guest and are hostile input: nothing here trusts
//! them. Lengths and offsets are overflow-checked, an unaddressable GPN is an
//! [`InvalidGpn`] error (never a wrapped address), and panicking methods
//! panic only on caller bugs, each beside a `try_` twin that returns an
//! error.
//!
//! ## Example
//!
//! ```
//! use pagedrange::{BufferMemory, MemoryRead, MemoryWrite, PagedRange, PagedRanges};
//!
//! // 64 KiB of guest RAM at GPA 0.
//! let mem = BufferMemory::new(16 * 4096);
//!
//! // 6000 bytes starting 100 bytes into GPN 3, continuing in GPNs 4 and 9.
//! let gpns = [3, 4, 9];
//! let range = PagedRange::new(100, 6000, &gpns).unwrap();
//! let runs: Vec<_> = range.ranges().collect::<Result<_, _>>().unwrap();
//! assert_eq!(runs.len(), 1); // 6000 bytes from 0x3064 stay within GPNs 3, 4
//!
//! let mut w = range.writer(&mem);
//! w.write(b"header").unwrap();
//! w.zero(w.len()).unwrap();
//!
//! // A second, unaligned piece joins the first as one logical buffer.
//! let more = [12];
//! let tail = PagedRange::new(8, 16, &more).unwrap();
//! let both = [range, tail];
//! let buf = PagedRanges::new(both.iter().copied());
//! assert_eq!(buf.len(), 6016);
//! let mut r = buf.reader(&mem);
//! let magic: [u8; 6] = r.read_plain().unwrap();
//! assert_eq!(&magic, b"header");
//! ```

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

/// The examples of the crate's README (core/README.md, the crate's page on
/// crates.io), compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

// Modules defining macros come first: `span` (`narrowing!`) and `cursor`
// (`transfer_methods!`).
#[macro_use]
mod span;
#[macro_use]
mod cursor;
mod address_range;
mod builder;
mod error;
mod io;
#[cfg(unix)]
mod iovec;
pub mod memory;
mod page;
mod paged_range;
mod paged_ranges;
pub mod virtq;
mod window_list;
pub mod wire;

pub use address_range::AddressRange;
pub use builder::{BuilderError, BuilderLimits, RangesBuilder};
pub use cursor::{
    BorrowedWindows, Cursor, CursorWindows, IterWindows, OneWindow, PagedRangesIter, WindowSource,
};
pub use error::{InvalidGpn, LengthOverflow, MemoryFault, OutOfRange, TransferError};
pub use io::{
    CursorIo, MemoryRead, MemoryWrite, PagedRangeReader, PagedRangeWriter, PagedRangesReader,
    PagedRangesWriter, Plain, Reader, Reads, Writer, Writes,
};
#[cfg(unix)]
pub use iovec::IovecExport;
pub use memory::{BufferMemory, GuestMemory, MappedMemory, MappedRegion};
pub use page::{gpn_range, gpn_to_gpa, MAX_GPN, PAGE_SHIFT, PAGE_SIZE};
pub use paged_range::{PagedRange, PagedRangeRangeIter};
pub use paged_ranges::PagedRanges;
pub use span::Span;
pub use virtq::{ChainError, ChainLimits, ChainRule, ChainWalker};
pub use window_list::{Buffer, ListError, ListWindows, SingleError, WindowList};
