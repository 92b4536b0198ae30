//! `pr_reader` / `pr_writer`: sequential cursors over a range or a buffer.

use core::ffi::c_void;
use std::sync::Arc;

use super::boundary::{
    free_boxed, guard, guard_value, in_bytes, out_bytes, out_ptr, to_boxed_ptr, try_arc, try_mut,
    try_ref, write_out, BoxCastable, Castable, FfiResult,
};
use super::memory::{pr_memory, Backend};
use super::range::{pr_range, report, within, RangeHandle};
use super::ranges::{pr_ranges, RangesHandle};
use super::status::{pr_status, pr_transfer};
use crate::error::{OutOfRange, TransferError};
use crate::io::Transfer;

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

/// What a cursor walks.
#[derive(Debug)]
enum Source {
    Range(RangeHandle),
    Ranges(RangesHandle),
}

/// The Rust value behind `pr_reader` and `pr_writer`: the part not yet
/// transferred, and the memory.
#[derive(Debug)]
pub(crate) struct Cursor {
    source: Source,
    mem: Arc<Backend>,
}

impl Castable for pr_reader {
    type Rust = Cursor;
}
impl BoxCastable for pr_reader {}
impl Castable for pr_writer {
    type Rust = Cursor;
}
impl BoxCastable for pr_writer {}

impl Cursor {
    fn remaining(&self) -> usize {
        match &self.source {
            Source::Range(r) => r.len(),
            Source::Ranges(rs) => rs.len(),
        }
    }

    /// Whether a transfer of `len` bytes fits in what remains.
    /// (A length comparison: the transfer itself re-derives the window, so
    /// building one here would be hot-path work done twice.)
    fn fits(&self, len: usize) -> Result<(), OutOfRange> {
        let available = self.remaining();
        if len > available {
            return Err(OutOfRange {
                offset: 0,
                len,
                available,
            });
        }
        Ok(())
    }

    /// Runs `t` at the cursor and advances by the bytes it moved.
    fn run(&mut self, t: Transfer<'_>) -> Result<(), TransferError> {
        let mem = &*self.mem;
        let mut result = Ok(());
        // The narrowing itself cannot fail: the error is the transfer's.
        match &mut self.source {
            Source::Range(r) => r.narrow(|view| {
                result = view.advance(mem, t);
                Ok::<(), TransferError>(())
            })?,
            Source::Ranges(rs) => rs.narrow(|view| {
                result = view.advance(mem, t);
                Ok::<(), TransferError>(())
            })?,
        }
        result
    }

    /// A cursor over the next `len` bytes, with this one advanced past them.
    fn limit(&mut self, len: usize) -> FfiResult<Cursor> {
        let source = match &mut self.source {
            Source::Range(r) => {
                let mut front = r.clone();
                r.narrow(|v| v.try_skip(len))?;
                front.narrow(|v| v.try_truncate(len))?;
                Source::Range(front)
            }
            Source::Ranges(rs) => {
                let mut front = rs.clone();
                rs.narrow(|v| v.try_skip(len))?;
                front.narrow(|v| v.try_truncate(len))?;
                Source::Ranges(front)
            }
        };
        Ok(Cursor {
            source,
            mem: Arc::clone(&self.mem),
        })
    }

    fn skip(&mut self, len: usize) -> FfiResult {
        match &mut self.source {
            Source::Range(r) => r.narrow(|v| v.try_skip(len))?,
            Source::Ranges(rs) => rs.narrow(|v| v.try_skip(len))?,
        }
        Ok(())
    }
}

/// Makes a cursor over `source` and `mem` and stores it through `out`.
///
/// # Safety
/// `mem` must be a live pr_memory or NULL; `out` writable or NULL.
unsafe fn new_cursor<C: BoxCastable<Rust = Cursor>>(
    source: FfiResult<Source>,
    mem: *const pr_memory,
    out: *mut *mut C,
) -> FfiResult {
    let out = out_ptr(out)?;
    let source = source?;
    // SAFETY: forwarded contract.
    let mem = unsafe { try_arc(mem) }?;
    // SAFETY: checked non-NULL; writable per the contract.
    unsafe { write_out(out, to_boxed_ptr::<C>(Cursor { source, mem })) };
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
        unsafe { new_cursor(try_ref(r).map(|r| Source::Range(r.clone())), mem, out) }
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
        unsafe { new_cursor(try_ref(rs).map(|rs| Source::Ranges(rs.clone())), mem, out) }
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
            let rd = try_mut(rd)?;
            within(rd.fits(len), |()| {
                Ok(rd.run(Transfer::Read(out_bytes(dst, len)?)))
            })
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
    guard_value(0, || unsafe { try_ref(rd) }.map_or(0, Cursor::remaining))
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
        unsafe { new_cursor(try_ref(r).map(|r| Source::Range(r.clone())), mem, out) }
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
        unsafe { new_cursor(try_ref(rs).map(|rs| Source::Ranges(rs.clone())), mem, out) }
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
            let w = try_mut(w)?;
            within(w.fits(len), |()| {
                Ok(w.run(Transfer::Write(in_bytes(src, len)?)))
            })
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
            let w = try_mut(w)?;
            Ok(w.run(Transfer::Fill(value, len)))
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
    guard_value(0, || unsafe { try_ref(w) }.map_or(0, Cursor::remaining))
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
