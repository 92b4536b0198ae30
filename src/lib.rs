//! # pagedrange
//!
//! Describe hypervisor IO buffers scattered across 4 KiB guest pages, and
//! move bytes between those buffers and host memory.
//!
//! ## Memory model
//!
//! A [`PagedRange`] is a list of guest page numbers (GPNs), a byte offset and
//! a length. Concatenating the pages gives a flat byte space; the range is a
//! window of it. Only the first and the last page of the window can be
//! partially covered; every page in between is used whole:
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
//! in one `PagedRange` only when every boundary between them falls on a page
//! boundary. [`PagedRanges`] joins several windows into one logical buffer
//! for the general case.
//!
//! Pages whose GPNs are consecutive are physically adjacent, and
//! [`PagedRange::ranges`] reports them as one [`AddressRange`]. Reads,
//! writes and fills go through a [`GuestMemory`] backend and call it once
//! per such run, not once per page.
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

mod address_range;
mod builder;
mod error;
pub mod ffi;
mod io;
#[cfg(unix)]
mod iovec;
pub mod memory;
mod paged_range;
mod paged_ranges;
pub mod wire;

pub use address_range::AddressRange;
pub use builder::{BuilderError, BuilderLimits, RangesBuilder};
pub use error::{InvalidGpn, LengthOverflow, MemoryFault, OutOfRange, TransferError};
pub use io::{
    MemoryRead, MemoryWrite, PagedRangeReader, PagedRangeWriter, PagedRangesReader,
    PagedRangesWriter, Plain,
};
#[cfg(unix)]
pub use iovec::IovecExport;
pub use memory::{
    BufferMemory, CallbackMemory, GuestMemory, MappedMemory, MappedRegion, MemoryOps,
};
pub use paged_range::{
    gpn_range, gpn_to_gpa, PagedRange, PagedRangeRangeIter, MAX_GPN, PAGE_SHIFT, PAGE_SIZE,
};
pub use paged_ranges::{PagedRanges, PagedRangesIter};
