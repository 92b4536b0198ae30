//! Guest memory: the [`GuestMemory`] trait that range operations call, and
//! its backends.
//!
//! A backend moves bytes between host buffers and guest physical addresses.
//! Transfers call it once per run (physically contiguous guest bytes), never
//! once per page, and never with a zero length. Backends for guest memory
//! reached some other way (C callbacks, a remote process) implement the
//! trait outside this crate: the C library's callback backend is one.
//!
//! Guest memory belongs to a guest that runs concurrently with the host, so
//! a backend that reaches real guest RAM must never form a `&[u8]` or
//! `&mut [u8]` over it: it copies through raw pointers. The host side of
//! every call (`dst`, `src`) is an ordinary host buffer.

mod access;
mod buffer;
mod dirty;
pub mod fault;
mod mapped;

pub use buffer::BufferMemory;
pub use dirty::{DirtyLog, DirtyLogError, DirtyTracked, WindowMarkError, FAULT_UNTRACKED};
pub use fault::{install_fault_handler, FaultHandlerError, FAULT_SIGBUS, FAULT_SIGSEGV};
pub use mapped::{HostPiece, HostPieces, MappedMemory, MappedRegion, RegionError};

use crate::error::MemoryFault;

/// Code a built-in backend reports when an access leaves the memory it
/// covers.
pub const FAULT_UNMAPPED: i32 = -1;

/// Access to guest physical memory.
///
/// Each method transfers a whole run or fails as a whole: on `Err` the range
/// operation reports the run's bytes as not transferred. Implementations
/// must be safe to call with any `gpa` and length (hostile input): an access
/// outside guest memory is a [`MemoryFault`], never a host access outside
/// it.
pub trait GuestMemory {
    /// Copies `dst.len()` bytes starting at guest address `gpa` into `dst`.
    fn read(&self, gpa: u64, dst: &mut [u8]) -> Result<(), MemoryFault>;

    /// Copies `src` into guest memory starting at guest address `gpa`.
    fn write(&self, gpa: u64, src: &[u8]) -> Result<(), MemoryFault>;

    /// Sets `len` bytes starting at guest address `gpa` to `value`.
    fn fill(&self, gpa: u64, value: u8, len: usize) -> Result<(), MemoryFault>;
}

/// `GuestMemory` for a pointer to a guest memory, forwarding every call.
macro_rules! forward_guest_memory {
    ($($ptr:ty),*) => { $(
        impl<M: GuestMemory + ?Sized> GuestMemory for $ptr {
            fn read(&self, gpa: u64, dst: &mut [u8]) -> Result<(), MemoryFault> {
                (**self).read(gpa, dst)
            }
            fn write(&self, gpa: u64, src: &[u8]) -> Result<(), MemoryFault> {
                (**self).write(gpa, src)
            }
            fn fill(&self, gpa: u64, value: u8, len: usize) -> Result<(), MemoryFault> {
                (**self).fill(gpa, value, len)
            }
        }
    )* };
}

forward_guest_memory!(&M, std::sync::Arc<M>);
