//! `pr_reader` / `pr_writer`: sequential cursors over a range or a buffer.

use core::ffi::c_void;
use std::sync::{Arc, OnceLock};

use pagedrange::{Cursor, ListWindows, WindowList};

use crate::boundary::{
    free_boxed, guard, guard_value, in_bytes, out_bytes, out_ptr, to_boxed_ptr, try_arc, try_mut,
    try_ref, write_out, BoxCastable, Castable, FfiResult,
};
use crate::io::{export_iovecs, report, within, Moved};
use crate::memory::{pr_memory, Backend};
use crate::range::{pr_range, Buf};
use crate::ranges::pr_ranges;
use crate::status::{pr_status, pr_transfer};

/// A cursor reading a range or a buffer from front to back (opaque).
///
/// It holds its own references to the range's GPN list and to the memory,
/// so those handles may be freed first. One thread at a time.
pub struct pr_reader {
    _private: [u8; 0],
}

/// A cursor writing a range or a buffer from front to back (opaque).
///
/// It holds its own references to the range's GPN list and to the memory,
/// so those handles may be freed first. One thread at a time.
pub struct pr_writer {
    _private: [u8; 0],
}

/// The Rust value behind `pr_reader` and `pr_writer`: the core cursor
/// (none once released) and the memory.
#[derive(Debug)]
pub(crate) struct CursorHandle {
    cursor: Cursor<ListWindows<Arc<WindowList>>>,
    mem: Arc<Backend>,
}

impl Castable for pr_reader {
    type Rust = CursorHandle;
}
impl BoxCastable for pr_reader {}
impl Castable for pr_writer {
    type Rust = CursorHandle;
}
impl BoxCastable for pr_writer {}

/// A cursor over no byte: what a released cursor holds. It is made once
/// for the whole process (over one empty list), so releasing never
/// allocates.
fn released() -> Cursor<ListWindows<Arc<WindowList>>> {
    static EMPTY: OnceLock<Cursor<ListWindows<Arc<WindowList>>>> = OnceLock::new();
    EMPTY
        .get_or_init(|| Buf::new(Arc::default()).owned_cursor())
        .clone()
}

impl CursorHandle {
    fn remaining(&self) -> usize {
        self.cursor.len()
    }

    /// Runs a transfer of `len` bytes at the cursor when it fits (checked
    /// before `op` borrows a C buffer).
    #[inline(always)]
    fn transfer(
        &mut self,
        len: usize,
        op: impl FnOnce(&mut Cursor<ListWindows<Arc<WindowList>>>, &Backend) -> Moved,
    ) -> Moved {
        within(len, self.remaining(), || op(&mut self.cursor, &self.mem))
    }

    /// A cursor over the next `len` bytes, with this one advanced past them.
    fn limit(&mut self, len: usize) -> FfiResult<CursorHandle> {
        Ok(CursorHandle {
            cursor: self.cursor.limit(len)?,
            mem: Arc::clone(&self.mem),
        })
    }

    fn skip(&mut self, len: usize) -> FfiResult {
        Ok(self.cursor.skip(len)?)
    }

    /// Exports the iovecs of the next `len` bytes and advances past what
    /// they cover; `log` says whether the bytes count as written (the
    /// writer's case: they are marked in the memory's dirty logs).
    ///
    /// # Safety
    /// As `export_iovecs`.
    unsafe fn iovecs(
        &mut self,
        len: usize,
        iov: *mut libc::iovec,
        capacity: usize,
        iov_count: *mut usize,
        covered: *mut usize,
        log: bool,
    ) -> FfiResult {
        let (mem, cursor) = (&*self.mem, &mut self.cursor);
        // SAFETY: forwarded contract.
        unsafe {
            export_iovecs(
                mem,
                len,
                iov,
                capacity,
                iov_count,
                covered,
                |mapped, slots| {
                    // Export at a twin borrowing the list (no reference
                    // counting); the cursor moves once the export stands.
                    let result = mem.export_logged(&cursor.borrowed(), mapped, len, slots, log);
                    if let Ok(done) = &result {
                        cursor.skip(done.covered)?;
                    }
                    Ok(result)
                },
            )
        }
    }

    /// Points the cursor at the first byte of `buf`, keeping its memory.
    fn reset(&mut self, buf: &Buf) -> FfiResult {
        self.cursor = buf.owned_cursor();
        Ok(())
    }

    /// Drops the cursor's reference to its windows.
    fn release(&mut self) {
        self.cursor = released();
    }
}

/// Makes a cursor over `buf` in `mem` and stores it through `out`.
///
/// # Safety
/// `mem` must be a live pr_memory or NULL; `out` writable or NULL.
unsafe fn new_cursor<C: BoxCastable<Rust = CursorHandle>>(
    buf: FfiResult<&Buf>,
    mem: *const pr_memory,
    out: *mut *mut C,
) -> FfiResult {
    let out = out_ptr(out)?;
    let cursor = buf?.owned_cursor();
    // SAFETY: forwarded contract.
    let mem = unsafe { try_arc(mem) }?;
    // SAFETY: checked non-NULL; writable per the contract.
    unsafe { write_out(out, to_boxed_ptr::<C>(CursorHandle { cursor, mem })) };
    Ok(())
}

/// Creates a reader over the window of `r` in `mem`, at its first byte.
///
/// The reader keeps the range's GPN list and the memory alive: `r` and
/// `mem` may be freed before it. On success `*out` receives a handle to
/// free with pr_reader_free.
/// Errors: PR_ERR_NULL_ARGUMENT (`r`, `mem` or `out`), PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_reader_new(
    r: *const pr_range,
    mem: *const pr_memory,
    out: *mut *mut pr_reader,
) -> pr_status {
    guard(|| {
        // SAFETY: live handles or NULL, `out` writable or NULL, per the C
        // contract.
        unsafe { new_cursor(try_ref(r), mem, out) }
    })
}

/// Creates a reader over the buffer `rs` (as it is now, after any skip or
/// truncate) in `mem`, at its first byte.
///
/// The reader keeps what it needs alive: `rs` and `mem` may be freed before
/// it. On success `*out` receives a handle to free with pr_reader_free.
/// Errors: PR_ERR_NULL_ARGUMENT (`rs`, `mem` or `out`), PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_ranges_reader_new(
    rs: *const pr_ranges,
    mem: *const pr_memory,
    out: *mut *mut pr_reader,
) -> pr_status {
    guard(|| {
        // SAFETY: live handles or NULL, `out` writable or NULL, per the C
        // contract.
        unsafe { new_cursor(try_ref(rs), mem, out) }
    })
}

/// Reads the next `len` bytes into `dst` and advances past them.
///
/// The cursor advances by exactly the bytes transferred (`t->done`), also
/// when a callback fails: it then stands at the start of the failed run, so
/// a retry resumes there. `dst` may be NULL when `len` is 0; `t` may be
/// NULL, otherwise it is always written.
/// Errors: PR_ERR_NULL_ARGUMENT (`rd`, or `dst` with `len > 0`),
/// PR_ERR_OUT_OF_RANGE (`len` exceeds pr_reader_remaining; nothing moves),
/// PR_ERR_MEMORY, PR_ERR_INVALID_ARGUMENT, PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_reader_read(
    rd: *mut pr_reader,
    dst: *mut c_void,
    len: usize,
    t: *mut pr_transfer,
) -> pr_status {
    // SAFETY: per the C contract: a live reader used by this thread only,
    // `dst` writable for `len` bytes, `t` writable or NULL.
    unsafe {
        report(t, len, || {
            try_mut(rd)?.transfer(len, |c, mem| Ok(c.read(mem, out_bytes(dst, len)?)))
        })
    }
}

/// Splits off a reader over the next `len` bytes and advances `rd` past
/// them, so a device can hand "the data part" of a request to a backend
/// while it keeps reading what follows (the header before, the status
/// after). The new reader keeps what it needs alive, like `rd`.
///
/// On success `*out` receives a handle to free with pr_reader_free.
/// Errors: PR_ERR_NULL_ARGUMENT (`rd` or `out`), PR_ERR_OUT_OF_RANGE (`len`
/// exceeds pr_reader_remaining; nothing moves), PR_ERR_ALLOCATION,
/// PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_reader_limit(
    rd: *mut pr_reader,
    len: usize,
    out: *mut *mut pr_reader,
) -> pr_status {
    guard(|| {
        let out = out_ptr(out)?;
        // SAFETY: a live reader used by this thread only, per the C contract.
        let rd = unsafe { try_mut(rd) }?;
        let front = rd.limit(len)?;
        // SAFETY: checked non-NULL; writable per the C contract.
        unsafe { write_out(out, to_boxed_ptr::<pr_reader>(front)) };
        Ok(())
    })
}

/// Advances the reader past `len` bytes without reading them.
///
/// Errors: PR_ERR_NULL_ARGUMENT (`rd`), PR_ERR_OUT_OF_RANGE (`len` exceeds
/// pr_reader_remaining; nothing moves), PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_reader_skip(rd: *mut pr_reader, len: usize) -> pr_status {
    guard(|| {
        // SAFETY: a live reader used by this thread only, per the C contract.
        unsafe { try_mut(rd) }?.skip(len)
    })
}

/// Bytes left to read; 0 when `rd` is NULL.
#[no_mangle]
pub extern "C" fn pr_reader_remaining(rd: *const pr_reader) -> usize {
    // SAFETY: a live reader or NULL per the C contract.
    guard_value(0, || {
        unsafe { try_ref(rd) }.map_or(0, CursorHandle::remaining)
    })
}

/// Frees a reader (and its references to the GPN list and the memory).
/// NULL is a no-op.
#[no_mangle]
pub extern "C" fn pr_reader_free(rd: *mut pr_reader) {
    let _ = guard(|| {
        // SAFETY: a non-NULL `rd` came from a reader constructor and is
        // released exactly once here.
        unsafe { free_boxed(rd) };
        Ok(())
    });
}

/// Creates a writer over the window of `r` in `mem`, at its first byte.
///
/// The writer keeps the range's GPN list and the memory alive: `r` and
/// `mem` may be freed before it. On success `*out` receives a handle to
/// free with pr_writer_free.
/// Errors: PR_ERR_NULL_ARGUMENT (`r`, `mem` or `out`), PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_writer_new(
    r: *const pr_range,
    mem: *const pr_memory,
    out: *mut *mut pr_writer,
) -> pr_status {
    guard(|| {
        // SAFETY: live handles or NULL, `out` writable or NULL, per the C
        // contract.
        unsafe { new_cursor(try_ref(r), mem, out) }
    })
}

/// Creates a writer over the buffer `rs` (as it is now) in `mem`, at its
/// first byte.
///
/// The writer keeps what it needs alive: `rs` and `mem` may be freed before
/// it. On success `*out` receives a handle to free with pr_writer_free.
/// Errors: PR_ERR_NULL_ARGUMENT (`rs`, `mem` or `out`), PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_ranges_writer_new(
    rs: *const pr_ranges,
    mem: *const pr_memory,
    out: *mut *mut pr_writer,
) -> pr_status {
    guard(|| {
        // SAFETY: live handles or NULL, `out` writable or NULL, per the C
        // contract.
        unsafe { new_cursor(try_ref(rs), mem, out) }
    })
}

/// Writes `len` bytes from `src` at the cursor and advances past them.
///
/// The cursor advances by exactly `t->done`, also on failure. `src` may be
/// NULL when `len` is 0; `t` may be NULL, otherwise it is always written.
/// Errors: PR_ERR_NULL_ARGUMENT (`w`, or `src` with `len > 0`),
/// PR_ERR_OUT_OF_RANGE (`len` exceeds pr_writer_remaining; nothing moves),
/// PR_ERR_MEMORY, PR_ERR_INVALID_ARGUMENT, PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_writer_write(
    w: *mut pr_writer,
    src: *const c_void,
    len: usize,
    t: *mut pr_transfer,
) -> pr_status {
    // SAFETY: per the C contract: a live writer used by this thread only,
    // `src` readable for `len` bytes, `t` writable or NULL.
    unsafe {
        report(t, len, || {
            try_mut(w)?.transfer(len, |c, mem| Ok(c.write(mem, in_bytes(src, len)?)))
        })
    }
}

/// Sets the next `len` bytes to `value` and advances past them.
///
/// The cursor advances by exactly `t->done`, also on failure. `t` may be
/// NULL, otherwise it is always written.
/// Errors: PR_ERR_NULL_ARGUMENT (`w`), PR_ERR_OUT_OF_RANGE (`len` exceeds
/// pr_writer_remaining; nothing moves), PR_ERR_MEMORY, PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_writer_fill(
    w: *mut pr_writer,
    value: u8,
    len: usize,
    t: *mut pr_transfer,
) -> pr_status {
    // SAFETY: per the C contract: a live writer used by this thread only,
    // `t` writable or NULL.
    unsafe {
        report(t, len, || {
            try_mut(w)?.transfer(len, |c, mem| Ok(c.fill(mem, value, len)))
        })
    }
}

/// Splits off a writer over the next `len` bytes and advances `w` past
/// them (see pr_reader_limit).
///
/// On success `*out` receives a handle to free with pr_writer_free.
/// Errors: PR_ERR_NULL_ARGUMENT (`w` or `out`), PR_ERR_OUT_OF_RANGE (`len`
/// exceeds pr_writer_remaining; nothing moves), PR_ERR_ALLOCATION,
/// PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_writer_limit(
    w: *mut pr_writer,
    len: usize,
    out: *mut *mut pr_writer,
) -> pr_status {
    guard(|| {
        let out = out_ptr(out)?;
        // SAFETY: a live writer used by this thread only, per the C contract.
        let w = unsafe { try_mut(w) }?;
        let front = w.limit(len)?;
        // SAFETY: checked non-NULL; writable per the C contract.
        unsafe { write_out(out, to_boxed_ptr::<pr_writer>(front)) };
        Ok(())
    })
}

/// Bytes left to write; 0 when `w` is NULL.
#[no_mangle]
pub extern "C" fn pr_writer_remaining(w: *const pr_writer) -> usize {
    // SAFETY: a live writer or NULL per the C contract.
    guard_value(0, || {
        unsafe { try_ref(w) }.map_or(0, CursorHandle::remaining)
    })
}

/// Frees a writer (and its references to the GPN list and the memory).
/// NULL is a no-op.
#[no_mangle]
pub extern "C" fn pr_writer_free(w: *mut pr_writer) {
    let _ = guard(|| {
        // SAFETY: a non-NULL `w` came from a writer constructor and is
        // released exactly once here.
        unsafe { free_boxed(w) };
        Ok(())
    });
}

/// Points the reader at the first byte of the window of `r` (as it is now),
/// keeping its memory: a reader is reused for the next request instead of
/// freed and created again. It then holds a reference to `r`'s GPN list
/// (and drops the one it held), as pr_reader_new does. Never allocates.
///
/// Errors: PR_ERR_NULL_ARGUMENT (`rd` or `r`), PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_reader_reset(rd: *mut pr_reader, r: *const pr_range) -> pr_status {
    // SAFETY: live handles per the C contract; `rd` used by this thread only.
    guard(|| unsafe { try_mut(rd)?.reset(try_ref(r)?) })
}

/// Points the reader at the first byte of the buffer `rs` (as it is now),
/// keeping its memory (see pr_reader_reset). Never allocates.
///
/// Errors: PR_ERR_NULL_ARGUMENT (`rd` or `rs`), PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_ranges_reader_reset(rd: *mut pr_reader, rs: *const pr_ranges) -> pr_status {
    // SAFETY: live handles per the C contract; `rd` used by this thread only.
    guard(|| unsafe { try_mut(rd)?.reset(try_ref(rs)?) })
}

/// Drops the reader's reference to its range or buffer; the reader then
/// has nothing left to read until it is reset. Lets
/// pr_ranges_builder_finish_into reuse the buffer's memory (it copies a
/// buffer that another handle still shares). NULL is a no-op.
#[no_mangle]
pub extern "C" fn pr_reader_release(rd: *mut pr_reader) {
    // SAFETY: a live reader or NULL, used by this thread only.
    let _ = guard(|| unsafe { try_mut(rd) }.map(CursorHandle::release));
}

/// Writes the host `struct iovec`s of the next `len` bytes of the reader in
/// mapped guest memory (for `pwritev` straight from guest pages) and
/// advances past the bytes they cover. Pieces adjacent in host memory are
/// merged. Outputs and errors as for pr_range_iovecs: when the array is
/// too short, `*covered < len` and the status is PR_ERR_BUFFER_TOO_SMALL
/// (the reader advanced by `*covered`); on PR_ERR_MEMORY nothing is
/// exported (`*iov_count` is 0), `*covered` is the bytes before the
/// unmapped run, and the reader does not move.
///
/// Errors: PR_ERR_NULL_ARGUMENT (`rd`, `iov_count`, `covered`, or `iov`
/// with `iov_capacity > 0`), PR_ERR_INVALID_ARGUMENT (the reader's memory
/// is not mapped; `iov` misaligned or `iov_capacity` too large to be an
/// array), PR_ERR_OUT_OF_RANGE (`len` exceeds pr_reader_remaining;
/// nothing moves), PR_ERR_BUFFER_TOO_SMALL, PR_ERR_MEMORY,
/// PR_ERR_INVALID_GPN, PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_reader_iovecs(
    rd: *mut pr_reader,
    len: usize,
    iov: *mut libc::iovec,
    iov_capacity: usize,
    iov_count: *mut usize,
    covered: *mut usize,
) -> pr_status {
    // SAFETY: per the C contract: a live reader used by this thread only,
    // the arrays and outputs as documented.
    guard(|| unsafe { try_mut(rd)?.iovecs(len, iov, iov_capacity, iov_count, covered, false) })
}

/// Points the writer at the first byte of the window of `r` (as it is now),
/// keeping its memory (see pr_reader_reset). Never allocates.
///
/// Errors: PR_ERR_NULL_ARGUMENT (`w` or `r`), PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_writer_reset(w: *mut pr_writer, r: *const pr_range) -> pr_status {
    // SAFETY: live handles per the C contract; `w` used by this thread only.
    guard(|| unsafe { try_mut(w)?.reset(try_ref(r)?) })
}

/// Points the writer at the first byte of the buffer `rs` (as it is now),
/// keeping its memory (see pr_reader_reset). Never allocates.
///
/// Errors: PR_ERR_NULL_ARGUMENT (`w` or `rs`), PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_ranges_writer_reset(w: *mut pr_writer, rs: *const pr_ranges) -> pr_status {
    // SAFETY: live handles per the C contract; `w` used by this thread only.
    guard(|| unsafe { try_mut(w)?.reset(try_ref(rs)?) })
}

/// Drops the writer's reference to its range or buffer (see
/// pr_reader_release). NULL is a no-op.
#[no_mangle]
pub extern "C" fn pr_writer_release(w: *mut pr_writer) {
    // SAFETY: a live writer or NULL, used by this thread only.
    let _ = guard(|| unsafe { try_mut(w) }.map(CursorHandle::release));
}

/// Advances the writer past `len` bytes without writing them.
///
/// Errors: PR_ERR_NULL_ARGUMENT (`w`), PR_ERR_OUT_OF_RANGE (`len` exceeds
/// pr_writer_remaining; nothing moves), PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_writer_skip(w: *mut pr_writer, len: usize) -> pr_status {
    guard(|| {
        // SAFETY: a live writer used by this thread only, per the C contract.
        unsafe { try_mut(w) }?.skip(len)
    })
}

/// Writes the host `struct iovec`s of the next `len` bytes of the writer in
/// mapped guest memory (for `preadv` straight into guest pages) and
/// advances past the bytes they cover, with the outputs of
/// pr_reader_iovecs. Since the IO through them is invisible to the
/// library, a memory with dirty logging marks the pages they cover when
/// they are exported; an export the log cannot record fails with
/// PR_ERR_MEMORY (fault_code -2, `*iov_count` 0), marks nothing and leaves
/// the writer where it was.
///
/// Errors: PR_ERR_NULL_ARGUMENT (`w`, `iov_count`, `covered`, or `iov` with
/// `iov_capacity > 0`), PR_ERR_INVALID_ARGUMENT (the writer's memory is not
/// mapped; `iov` misaligned or `iov_capacity` too large to be an array),
/// PR_ERR_OUT_OF_RANGE (`len` exceeds pr_writer_remaining; nothing
/// moves), PR_ERR_BUFFER_TOO_SMALL, PR_ERR_MEMORY, PR_ERR_INVALID_GPN,
/// PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_writer_iovecs(
    w: *mut pr_writer,
    len: usize,
    iov: *mut libc::iovec,
    iov_capacity: usize,
    iov_count: *mut usize,
    covered: *mut usize,
) -> pr_status {
    // SAFETY: per the C contract: a live writer used by this thread only,
    // the arrays and outputs as documented.
    guard(|| unsafe { try_mut(w)?.iovecs(len, iov, iov_capacity, iov_count, covered, true) })
}
