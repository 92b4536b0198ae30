//! The GPA-range wire format of VMBus packets, to and from `pr_ranges`.

use std::sync::Arc;

use pagedrange::wire::{gpa_ranges_len, parse_each, write_gpa_ranges};
use pagedrange::WindowList;

use crate::boundary::{guard, in_array, out_array, out_ptr, try_ref, write_opt, write_out};
use crate::range::{give, Buf};
use crate::ranges::pr_ranges;
use crate::status::{pr_status, Failure};

/// Parses `range_count` GPA ranges from `words` (the packed format of VMBus
/// packets: per range a header word `len | offset << 32`, i.e. the struct
/// `{ uint32_t len; uint32_t offset; }` on a little-endian host, followed
/// by the `ceil((offset + len) / 4096)` GPNs it touches; ranges back to
/// back) into a new buffer. Everything is validated: every offset is below
/// 4096, enough words follow each header, every page is addressable. The
/// words are copied. Empty ranges add no window.
///
/// On success `*out` receives a handle to free with pr_ranges_free and
/// `*words_used` (when not NULL) the number of words the ranges took. On
/// PR_ERR_MALFORMED or PR_ERR_INVALID_GPN, `*error_word` (when not NULL)
/// receives the index of the word where the problem was found.
/// Errors: PR_ERR_NULL_ARGUMENT (`out`, or `words` with `word_count > 0`),
/// PR_ERR_MALFORMED (truncated list, offset >= 4096, or a nonzero offset
/// with a zero length), PR_ERR_INVALID_GPN,
/// PR_ERR_INVALID_ARGUMENT (`words` misaligned or `word_count` too large),
/// PR_ERR_ALLOCATION, PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_ranges_parse_gpa_ranges(
    words: *const u64,
    word_count: usize,
    range_count: usize,
    out: *mut *mut pr_ranges,
    words_used: *mut usize,
    error_word: *mut usize,
) -> pr_status {
    guard(|| {
        let out = out_ptr(out)?;
        // SAFETY: the C contract makes `words` readable for `word_count`
        // elements during the call.
        let words = unsafe { in_array(words, word_count) }?;
        let mut list = WindowList::new();
        let mut pushed = Ok(());
        let parsed = parse_each(words, range_count, |window| {
            if pushed.is_ok() {
                pushed = list.try_push(&window);
            }
        });
        let used = parsed.map_err(|e| {
            if let Some(word) = e.word() {
                // SAFETY: a non-NULL `error_word` is writable per the C
                // contract.
                unsafe { write_opt(error_word, word) };
            }
            Failure::from(e)
        })?;
        pushed?;
        // SAFETY: checked non-NULL, or optional and writable, per the C
        // contract.
        unsafe {
            write_opt(words_used, used);
            give(out, Buf::new(Arc::new(list)));
        }
        Ok(())
    })
}

/// Writes the buffer's windows (after skip/truncate) in the GPA-range
/// format to `words`.
///
/// `*needed` always receives the number of words the encoding takes (when
/// the status is PR_OK or PR_ERR_BUFFER_TOO_SMALL). `words` may be NULL when
/// `capacity` is 0, to query the size. Nothing is written to `words` unless
/// all of it fits.
/// Errors: PR_ERR_NULL_ARGUMENT (`rs`, `needed`, or `words` with
/// `capacity > 0`), PR_ERR_BUFFER_TOO_SMALL, PR_ERR_OUT_OF_RANGE (a window
/// is longer than the 32-bit length field allows), PR_ERR_INVALID_ARGUMENT,
/// PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_ranges_write_gpa_ranges(
    rs: *const pr_ranges,
    words: *mut u64,
    capacity: usize,
    needed: *mut usize,
) -> pr_status {
    guard(|| {
        let needed_out = out_ptr(needed)?;
        // SAFETY: a live pr_ranges per the C contract.
        let rs = unsafe { try_ref(rs) }?;
        // SAFETY: `words` writable for `capacity` words per the C contract.
        let out = unsafe { out_array(words, capacity) }?;
        let need = gpa_ranges_len(rs.windows())?;
        // SAFETY: checked non-NULL; writable per the C contract.
        unsafe { write_out(needed_out, need) };
        write_gpa_ranges(rs.windows(), out)?;
        Ok(())
    })
}
