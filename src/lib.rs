//! The C ABI of [`pagedrange`], as declared in `include/pagedrange.h`.
//!
//! Data flows one way: an exported function checks its pointers through the
//! helpers in `boundary`, runs its body inside the panic boundary
//! (`boundary::guard`), converts types, and calls the core; core errors
//! become a [`pr_status`] in one place (`status::Failure`). Ranges and
//! buffers are the core's `Buffer` over a shared `WindowList` (a range is
//! the one-window case), cursors are the core's `Cursor`, and the callback
//! backend (`callback`) implements the core's `GuestMemory`: this layer
//! holds no range arithmetic of its own.
//!
//! One file per handle type: [`memory`] (`pr_memory`), [`range`]
//! (`pr_range`), [`ranges`] (`pr_ranges`), [`cursor`] (`pr_reader`,
//! `pr_writer`), [`builder`] (`pr_ranges_builder`); [`wire`] holds the
//! GPA-range format functions, `io` what the transfer and export entry
//! points share.

#![allow(non_camel_case_types)]
// These functions are entry points for C, whose pointer contract is the one
// the header states; each dereference sits in an `unsafe` block citing it.
#![allow(clippy::not_unsafe_ptr_arg_deref)]
#![deny(missing_docs)]

mod boundary;
// Declared in the order the header presents them.
pub mod builder;
pub mod callback;
pub mod chain;
pub mod cursor;
pub mod fault;
pub mod io;
pub mod memory;
pub mod range;
pub mod ranges;
pub mod status;
pub mod wire;

pub use builder::{pr_builder_limits, pr_ranges_builder};
pub use callback::{CallbackMemory, FillCallback, MemoryOps, ReadCallback, WriteCallback};
pub use chain::*;
pub use cursor::{pr_reader, pr_writer};
pub use fault::*;
pub use io::pr_address_range;
pub use memory::{pr_memory, MappedRegion};
pub use range::pr_range;
pub use ranges::pr_ranges;
pub use status::*;

/// Size of a guest page in bytes.
pub const PR_PAGE_SIZE: usize = 4096;

/// The highest guest page number whose first byte is addressable
/// (2^52 - 1). Its last byte is not usable: a window covering it is
/// PR_ERR_INVALID_GPN, since the exclusive end 2^64 does not fit in 64 bits.
pub const PR_MAX_GPN: u64 = 0xF_FFFF_FFFF_FFFF;

static_assertions::const_assert_eq!(PR_MAX_GPN, pagedrange::MAX_GPN);
static_assertions::const_assert_eq!(PR_PAGE_SIZE, pagedrange::PAGE_SIZE);

#[cfg(test)]
mod tests;
