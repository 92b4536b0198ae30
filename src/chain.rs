//! `pr_chain_walker`: descriptor chains of a split virtqueue, walked into a
//! readable and a writable buffer.

use pagedrange::{ChainError, ChainLimits, ChainRule, ChainWalker};

use crate::boundary::{
    free_boxed, guard, guard_value, out_ptr, to_boxed_ptr, try_mut, try_ref, write_opt, write_out,
    BoxCastable, Castable,
};
use crate::builder::pr_builder_limits;
use crate::memory::pr_memory;
use crate::ranges::pr_ranges;
use crate::status::{pr_status, Failure, PR_ERR_INVALID_ARGUMENT};

/// Walks virtqueue descriptor chains (opaque). Reused from chain to chain:
/// once it has walked a queue's largest chain it allocates nothing. One
/// thread at a time.
pub struct pr_chain_walker {
    _private: [u8; 0],
}

impl Castable for pr_chain_walker {
    type Rust = ChainWalker;
}
impl BoxCastable for pr_chain_walker {}

/// Limits a chain walker enforces.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct pr_chain_limits {
    /// Limits of the device-readable part (windows, pages, bytes).
    pub readable: pr_builder_limits,
    /// Limits of the device-writable part.
    pub writable: pr_builder_limits,
    /// Most bytes the whole chain may describe, both parts together.
    pub max_bytes: u64,
    /// Nonzero when indirect descriptor tables are accepted
    /// (VIRTIO_F_INDIRECT_DESC negotiated).
    pub indirect: u32,
}

static_assertions::assert_eq_size!(pr_chain_limits, [u64; 8]);

/// Why a chain was refused: written by pr_chain_walker_walk on failure.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct pr_chain_error {
    /// The rule broken: a PR_CHAIN_* code (pr_chain_rule_str describes it).
    pub rule: u32,
    /// Index of the descriptor that broke it, in its table (for
    /// PR_CHAIN_QUEUE_SIZE and PR_CHAIN_HEAD_OUT_OF_RANGE: the head).
    pub index: u16,
    /// 1 when that table is an indirect table, else 0.
    pub indirect: u8,
    /// Always 0.
    pub reserved: u8,
    /// For PR_CHAIN_UNREADABLE: the guest address the memory refused (0,
    /// with fault_code 0, when the descriptor's own address passes 2^64
    /// and the memory was not asked).
    pub fault_gpa: u64,
    /// For PR_CHAIN_UNREADABLE: the memory's fault code.
    pub fault_code: i32,
}

static_assertions::assert_eq_size!(pr_chain_error, [u64; 3]);

/// The queue size is 0 or above 32768.
pub const PR_CHAIN_QUEUE_SIZE: u32 = 1;
/// The head index is not below the queue size.
pub const PR_CHAIN_HEAD_OUT_OF_RANGE: u32 = 2;
/// A next index is not below the size of its table.
pub const PR_CHAIN_NEXT_OUT_OF_RANGE: u32 = 3;
/// The chain is longer than its table (it loops).
pub const PR_CHAIN_TOO_LONG: u32 = 4;
/// An indirect descriptor while indirect tables are not accepted.
pub const PR_CHAIN_INDIRECT_NOT_ALLOWED: u32 = 5;
/// An indirect descriptor inside an indirect table.
pub const PR_CHAIN_NESTED_INDIRECT: u32 = 6;
/// A descriptor with both INDIRECT and NEXT.
pub const PR_CHAIN_INDIRECT_WITH_NEXT: u32 = 7;
/// An indirect table whose length is 0 or not a multiple of 16.
pub const PR_CHAIN_INDIRECT_LENGTH: u32 = 8;
/// A device-readable descriptor after a device-writable one.
pub const PR_CHAIN_READABLE_AFTER_WRITABLE: u32 = 9;
/// A descriptor (or its table) is not in guest memory.
pub const PR_CHAIN_UNREADABLE: u32 = 10;
/// A buffer's address plus length overflows 64 bits.
pub const PR_CHAIN_OVERFLOW: u32 = 11;
/// The chain exceeds a limit (windows, pages or bytes).
pub const PR_CHAIN_LIMIT: u32 = 12;
/// Memory for the buffers could not be allocated.
pub const PR_CHAIN_ALLOCATION: u32 = 13;

/// The C code of a rule (one place).
fn rule_code(rule: ChainRule) -> u32 {
    match rule {
        ChainRule::QueueSize => PR_CHAIN_QUEUE_SIZE,
        ChainRule::HeadOutOfRange => PR_CHAIN_HEAD_OUT_OF_RANGE,
        ChainRule::NextOutOfRange => PR_CHAIN_NEXT_OUT_OF_RANGE,
        ChainRule::TooLong => PR_CHAIN_TOO_LONG,
        ChainRule::IndirectNotAllowed => PR_CHAIN_INDIRECT_NOT_ALLOWED,
        ChainRule::NestedIndirect => PR_CHAIN_NESTED_INDIRECT,
        ChainRule::IndirectWithNext => PR_CHAIN_INDIRECT_WITH_NEXT,
        ChainRule::IndirectLength => PR_CHAIN_INDIRECT_LENGTH,
        ChainRule::ReadableAfterWritable => PR_CHAIN_READABLE_AFTER_WRITABLE,
        ChainRule::Unreadable => PR_CHAIN_UNREADABLE,
        ChainRule::Overflow => PR_CHAIN_OVERFLOW,
        ChainRule::Limit => PR_CHAIN_LIMIT,
        ChainRule::Allocation => PR_CHAIN_ALLOCATION,
    }
}

impl From<&ChainError> for pr_chain_error {
    fn from(e: &ChainError) -> Self {
        Self {
            rule: rule_code(e.rule),
            index: e.index,
            indirect: u8::from(e.indirect),
            reserved: 0,
            fault_gpa: e.fault.map_or(0, |f| f.gpa),
            fault_code: e.fault.map_or(0, |f| f.code),
        }
    }
}

impl From<pr_chain_limits> for ChainLimits {
    fn from(l: pr_chain_limits) -> Self {
        Self {
            readable: l.readable.into(),
            writable: l.writable.into(),
            max_bytes: l.max_bytes,
            indirect: l.indirect != 0,
        }
    }
}

/// Creates a chain walker. `limits` may be NULL for the spec's bounds (at
/// most 2^32 - 1 bytes per chain, the builder's virtio limits for each
/// part, indirect tables accepted).
///
/// On success `*out` receives a handle to free with pr_chain_walker_free.
/// Errors: PR_ERR_NULL_ARGUMENT (`out`), PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_chain_walker_new(
    limits: *const pr_chain_limits,
    out: *mut *mut pr_chain_walker,
) -> pr_status {
    guard(|| {
        let out = out_ptr(out)?;
        // SAFETY: a non-NULL `limits` points to a pr_chain_limits per the C
        // contract; it is copied.
        let limits = unsafe { limits.as_ref() }.map_or(ChainLimits::VIRTIO, |l| (*l).into());
        // SAFETY: checked non-NULL; writable per the C contract.
        unsafe {
            write_out(
                out,
                to_boxed_ptr::<pr_chain_walker>(ChainWalker::new(limits)),
            )
        };
        Ok(())
    })
}

/// Walks the descriptor chain starting at descriptor `head` of the split
/// virtqueue descriptor table at guest address `table_gpa` (`queue_size`
/// entries of 16 bytes), following NEXT and INDIRECT as VIRTIO 1.2
/// describes them, and makes `readable` hold the chain's device-readable
/// bytes and `writable` its device-writable bytes, each as the fewest
/// windows (as pr_ranges_builder_finish_into does: their memory is reused).
///
/// Every descriptor is read through `mem`: a descriptor outside guest
/// memory is reported, never a host access. The rules checked: the head
/// and every next index inside their table; no chain longer than its table
/// (so no loop); indirect tables only when allowed, not nested, never with
/// NEXT, of a non-zero length that is a multiple of 16; readable
/// descriptors before writable ones; no buffer past 2^64; the limits.
///
/// On failure `readable` and `writable` are left as they were and `*err`
/// (when `err` is not NULL) names the rule (PR_CHAIN_*) and the
/// descriptor. Errors: PR_ERR_NULL_ARGUMENT (`w`, `mem`, `readable` or
/// `writable`), PR_ERR_INVALID_ARGUMENT (`readable` and `writable` are the
/// same buffer), PR_ERR_MALFORMED (a rule of the spec is broken),
/// PR_ERR_MEMORY (a descriptor is not in guest memory), PR_ERR_LIMIT,
/// PR_ERR_ALLOCATION, PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_chain_walker_walk(
    w: *mut pr_chain_walker,
    mem: *const pr_memory,
    table_gpa: u64,
    queue_size: u16,
    head: u16,
    readable: *mut pr_ranges,
    writable: *mut pr_ranges,
    err: *mut pr_chain_error,
) -> pr_status {
    guard(|| {
        if readable == writable && !readable.is_null() {
            return Err(Failure(PR_ERR_INVALID_ARGUMENT));
        }
        // SAFETY: live handles per the C contract; `w`, `readable` and
        // `writable` (two different buffers) used by this thread only.
        let (w, mem, readable, writable) = unsafe {
            (
                try_mut(w)?,
                try_ref(mem)?,
                try_mut(readable)?,
                try_mut(writable)?,
            )
        };
        if let Err(e) = w.walk(mem, table_gpa, queue_size, head) {
            // SAFETY: a non-NULL `err` is writable per the C contract.
            unsafe { write_opt(err, pr_chain_error::from(&e)) };
            return Err(Failure::from(e));
        }
        readable.refill_from(w.readable());
        writable.refill_from(w.writable());
        Ok(())
    })
}

/// Frees a chain walker. NULL is a no-op.
#[no_mangle]
pub extern "C" fn pr_chain_walker_free(w: *mut pr_chain_walker) {
    let _ = guard(|| {
        // SAFETY: a non-NULL `w` came from pr_chain_walker_new and is
        // released exactly once here.
        unsafe { free_boxed(w) };
        Ok(())
    });
}

/// Describes a PR_CHAIN_* rule code: a static, NUL-terminated English
/// string for any value ("unknown rule" for values that are not codes);
/// never NULL. Thread-safe.
#[no_mangle]
pub extern "C" fn pr_chain_rule_str(rule: u32) -> *const core::ffi::c_char {
    guard_value(c"unknown rule".as_ptr(), || {
        let text = match rule {
            PR_CHAIN_QUEUE_SIZE => c"the queue size is 0 or above 32768",
            PR_CHAIN_HEAD_OUT_OF_RANGE => c"the head index is not below the queue size",
            PR_CHAIN_NEXT_OUT_OF_RANGE => c"a next index is not below the size of its table",
            PR_CHAIN_TOO_LONG => c"the chain is longer than its table (a loop)",
            PR_CHAIN_INDIRECT_NOT_ALLOWED => {
                c"an indirect descriptor without VIRTIO_F_INDIRECT_DESC"
            }
            PR_CHAIN_NESTED_INDIRECT => c"an indirect table inside an indirect table",
            PR_CHAIN_INDIRECT_WITH_NEXT => c"a descriptor with both INDIRECT and NEXT",
            PR_CHAIN_INDIRECT_LENGTH => c"an indirect table length of 0 or not a multiple of 16",
            PR_CHAIN_READABLE_AFTER_WRITABLE => {
                c"a device-readable descriptor after a device-writable one"
            }
            PR_CHAIN_UNREADABLE => c"a descriptor is not in guest memory",
            PR_CHAIN_OVERFLOW => c"a buffer's address plus length overflows",
            PR_CHAIN_LIMIT => c"the chain exceeds a limit",
            PR_CHAIN_ALLOCATION => c"out of memory",
            _ => c"unknown rule",
        };
        text.as_ptr()
    })
}
