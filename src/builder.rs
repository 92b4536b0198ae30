//! `pr_ranges_builder`: the fewest windows from guest byte segments.

use std::sync::Arc;

use pagedrange::{BuilderLimits, RangesBuilder};

use crate::boundary::{
    free_boxed, guard, out_ptr, to_boxed_ptr, try_mut, try_ref, write_opt, write_out, BoxCastable,
    Castable,
};
use crate::range::{give, Buf};
use crate::ranges::pr_ranges;
use crate::status::{pr_status, Failure};

/// Collects guest byte segments (a virtio descriptor chain, an NVMe PRP or
/// SGL list) into the fewest windows (opaque). One thread at a time.
pub struct pr_ranges_builder {
    _private: [u8; 0],
}

impl Castable for pr_ranges_builder {
    type Rust = RangesBuilder;
}
impl BoxCastable for pr_ranges_builder {}

/// Limits a builder enforces, so a hostile descriptor chain is refused in
/// one place.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct pr_builder_limits {
    /// Most windows the result may hold.
    pub max_windows: usize,
    /// Most guest pages the result may list.
    pub max_pages: usize,
    /// Most bytes the result may describe.
    pub max_bytes: u64,
}

static_assertions::assert_eq_size!(pr_builder_limits, [u64; 3]);

impl From<pr_builder_limits> for BuilderLimits {
    fn from(l: pr_builder_limits) -> Self {
        Self {
            max_windows: l.max_windows,
            max_pages: l.max_pages,
            max_bytes: l.max_bytes,
        }
    }
}
static_assertions::const_assert_eq!(core::mem::offset_of!(pr_builder_limits, max_bytes), 16);

/// Creates a builder. `limits` may be NULL for the virtio defaults (at most
/// 1024 windows, 2^32 - 1 bytes, and the pages those can span); a limit of 0
/// allows nothing.
///
/// On success `*out` receives a handle to free with pr_ranges_builder_free.
/// Errors: PR_ERR_NULL_ARGUMENT (`out`), PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_ranges_builder_new(
    limits: *const pr_builder_limits,
    out: *mut *mut pr_ranges_builder,
) -> pr_status {
    guard(|| {
        let out = out_ptr(out)?;
        // SAFETY: a non-NULL `limits` points to a pr_builder_limits per the
        // C contract; it is copied.
        let limits = unsafe { limits.as_ref() }.map_or(BuilderLimits::VIRTIO, |l| (*l).into());
        let builder = RangesBuilder::with_limits(limits);
        // SAFETY: checked non-NULL; writable per the C contract.
        unsafe { write_out(out, to_boxed_ptr::<pr_ranges_builder>(builder)) };
        Ok(())
    })
}

/// Adds the `len` bytes at guest address `gpa` after the bytes added so
/// far. The segment joins the last window when they meet exactly in guest
/// memory, or when the window ends on a page boundary and the segment starts
/// on one; otherwise it starts a new window. A zero-length segment is
/// ignored (it still counts as a segment for error indexes).
///
/// On error nothing is added, and `*error_index` (when `error_index` is not
/// NULL) receives the index of this segment among all segments pushed, so
/// a device can name the descriptor that broke a rule.
/// Errors: PR_ERR_NULL_ARGUMENT (`b`), PR_ERR_OUT_OF_RANGE (`gpa + len`
/// overflows 64 bits), PR_ERR_LIMIT (too many windows, pages or bytes),
/// PR_ERR_ALLOCATION, PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_ranges_builder_push(
    b: *mut pr_ranges_builder,
    gpa: u64,
    len: u64,
    error_index: *mut usize,
) -> pr_status {
    guard(|| {
        // SAFETY: a live builder used by this thread only, per the C
        // contract.
        let b = unsafe { try_mut(b) }?;
        b.push(gpa, len).map_err(|e| {
            // SAFETY: a non-NULL `error_index` is writable per the C
            // contract.
            unsafe { write_opt(error_index, e.index()) };
            Failure::from(e)
        })
    })
}

/// Creates a buffer holding the windows built so far (they share one GPN
/// list). The builder is left as it is: it may go on, or be cleared with
/// pr_ranges_builder_clear.
///
/// On success `*out` receives a handle to free with pr_ranges_free.
/// Errors: PR_ERR_NULL_ARGUMENT (`b` or `out`), PR_ERR_ALLOCATION,
/// PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_ranges_builder_finish(
    b: *const pr_ranges_builder,
    out: *mut *mut pr_ranges,
) -> pr_status {
    guard(|| {
        let out = out_ptr(out)?;
        // SAFETY: a live builder per the C contract.
        let b = unsafe { try_ref(b) }?;
        let buf = Buf::new(Arc::new(b.list().clone()));
        // SAFETY: checked non-NULL; writable per the C contract.
        unsafe { give(out, buf) };
        Ok(())
    })
}

/// Makes `rs` hold the windows built so far (as pr_ranges_builder_finish
/// would, but into an existing buffer), replacing what it held and any
/// skip or truncate. `rs`'s memory is reused when no other handle shares
/// its windows, so a device that releases its cursors
/// (pr_reader_release, pr_writer_release) or resets them to another buffer
/// before the next request refills without allocating. Otherwise `rs`
/// gets new memory and the other handles keep the old windows.
///
/// Errors: PR_ERR_NULL_ARGUMENT (`b` or `rs`), PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_ranges_builder_finish_into(
    b: *const pr_ranges_builder,
    rs: *mut pr_ranges,
) -> pr_status {
    guard(|| {
        // SAFETY: live handles per the C contract; `rs` used by this thread
        // only.
        let (b, rs) = unsafe { (try_ref(b)?, try_mut(rs)?) };
        rs.refill_from(b.list());
        Ok(())
    })
}

/// Removes every segment from the builder, keeping its limits, so it can be
/// reused for the next request without allocating again.
///
/// Errors: PR_ERR_NULL_ARGUMENT (`b`), PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_ranges_builder_clear(b: *mut pr_ranges_builder) -> pr_status {
    guard(|| {
        // SAFETY: a live builder used by this thread only, per the C
        // contract.
        unsafe { try_mut(b) }?.clear();
        Ok(())
    })
}

/// Frees a builder. Buffers made by pr_ranges_builder_finish stay valid.
/// NULL is a no-op.
#[no_mangle]
pub extern "C" fn pr_ranges_builder_free(b: *mut pr_ranges_builder) {
    let _ = guard(|| {
        // SAFETY: a non-NULL `b` came from pr_ranges_builder_new and is
        // released exactly once here.
        unsafe { free_boxed(b) };
        Ok(())
    });
}
