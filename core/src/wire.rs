//! The packed GPA-range format of VMBus packets.
//!
//! A list of ranges is a sequence of 64-bit words. Each range is a header
//! word followed by the GPNs of the pages it touches, and ranges follow
//! each other with no padding; the number of ranges travels separately.
//!
//! ```text
//!  word:   0                      1      2      3      4                  5
//!        [ len | offset << 32 ] [GPN] [GPN] [GPN] [ len | offset << 32 ] [GPN] ...
//!          \___ range 0: ceil((offset + len) / 4096) GPNs ___/  \__ range 1 __
//! ```
//!
//! The header is the C struct `{ uint32_t len; uint32_t offset; }` read as
//! one little-endian word: `len` in the low half, `offset` (below 4096, and
//! 0 when `len` is 0) in the high half.

use thiserror::Error;

use crate::page::{pages_spanned, PAGE_SIZE};
use crate::PagedRange;

/// Why a GPA-range list could not be parsed or written. `range` is the
/// index of the range concerned and `word` the index of the word where the
/// problem was found.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// The words end before the range's header or its GPNs.
    #[error("range {range}: the list ends at word {word}, {needed} more words are needed")]
    Truncated {
        /// Index of the range.
        range: usize,
        /// Index of the first missing word.
        word: usize,
        /// Words missing for this range.
        needed: usize,
    },
    /// The header's offset is not inside a page, or is not 0 for an empty
    /// range.
    #[error("range {range}: offset {offset} at word {word} is not below 4096, or not 0 for an empty range")]
    BadOffset {
        /// Index of the range.
        range: usize,
        /// Index of the header word.
        word: usize,
        /// The offset found.
        offset: u32,
    },
    /// A GPN of the range cannot be addressed in 64 bits.
    #[error("range {range}: GPN {gpn:#x} at word {word} cannot be addressed in 64 bits")]
    InvalidGpn {
        /// Index of the range.
        range: usize,
        /// Index of the word holding the GPN.
        word: usize,
        /// The offending GPN.
        gpn: u64,
    },
    /// A window is longer than the 32-bit length field allows.
    #[error("range {range}: {len} bytes do not fit the 32-bit length field")]
    TooLong {
        /// Index of the range.
        range: usize,
        /// The window's length.
        len: usize,
    },
    /// The output array is too short.
    #[error("the output needs {needed} words")]
    BufferTooSmall {
        /// Words needed in all.
        needed: usize,
    },
}

impl WireError {
    /// Index of the word where the problem was found (for parse errors).
    pub fn word(&self) -> Option<usize> {
        match *self {
            WireError::Truncated { word, .. }
            | WireError::BadOffset { word, .. }
            | WireError::InvalidGpn { word, .. } => Some(word),
            WireError::TooLong { .. } | WireError::BufferTooSmall { .. } => None,
        }
    }
}

/// Parses `count` ranges from the start of `words`.
///
/// Returns the windows (each borrowing `words`: its list is the whole array
/// and its GPNs are the words after its header) and the number of words
/// used. Everything is validated: the count, every offset, that enough GPNs
/// follow each header, and that every page is addressable.
pub fn parse_gpa_ranges(
    words: &[u64],
    count: usize,
) -> Result<(Vec<PagedRange<'_>>, usize), WireError> {
    let mut out = Vec::new();
    let used = parse_each(words, count, |r| out.push(r))?;
    Ok((out, used))
}

/// Like [`parse_gpa_ranges`], handing each window to `f` instead of
/// collecting them (no allocation).
pub fn parse_each<'a>(
    words: &'a [u64],
    count: usize,
    mut f: impl FnMut(PagedRange<'a>),
) -> Result<usize, WireError> {
    let mut word = 0usize;
    for range in 0..count {
        let header = *words.get(word).ok_or(WireError::Truncated {
            range,
            word,
            needed: 1,
        })?;
        let len = (header & 0xffff_ffff) as usize;
        let offset32 = (header >> 32) as u32;
        let offset = offset32 as usize;
        // An empty range touches no page, so it has no offset to give.
        if offset >= PAGE_SIZE || (len == 0 && offset != 0) {
            return Err(WireError::BadOffset {
                range,
                word,
                offset: offset32,
            });
        }
        let pages = pages_spanned(offset, len);
        let first = word + 1;
        let available = words.len() - first;
        if pages > available {
            return Err(WireError::Truncated {
                range,
                word: words.len(),
                needed: pages - available,
            });
        }
        // The window starts `offset` bytes into the page at index `first`
        // of the whole array.
        let start = first
            .checked_mul(PAGE_SIZE)
            .and_then(|s| s.checked_add(offset))
            .ok_or(WireError::Truncated {
                range,
                word: first,
                needed: pages,
            })?;
        let window = if len == 0 {
            PagedRange::empty()
        } else {
            PagedRange::new(start, len, words).ok_or(WireError::Truncated {
                range,
                word: first,
                needed: pages,
            })?
        };
        let mut checked = window.ranges();
        let mut at = first;
        for run in &mut checked {
            match run {
                // A run is never longer than its window (a usize).
                Ok(r) => at += pages_spanned(r.start as usize % PAGE_SIZE, r.len() as usize),
                Err(e) => {
                    // The failing page is the first of its run or a later
                    // one; find its word.
                    let word = (at..first + pages)
                        .find(|&w| words[w] == e.gpn)
                        .unwrap_or(at);
                    return Err(WireError::InvalidGpn {
                        range,
                        word,
                        gpn: e.gpn,
                    });
                }
            }
        }
        f(window);
        word = first + pages;
    }
    Ok(word)
}

/// Words needed to write `windows` in the GPA-range format.
pub fn gpa_ranges_len<'a>(
    windows: impl Iterator<Item = PagedRange<'a>>,
) -> Result<usize, WireError> {
    let mut total = 0usize;
    for (range, w) in windows.enumerate() {
        if u32::try_from(w.len()).is_err() {
            return Err(WireError::TooLong {
                range,
                len: w.len(),
            });
        }
        total = total
            .checked_add(1 + w.gpns().len())
            .ok_or(WireError::TooLong {
                range,
                len: w.len(),
            })?;
    }
    Ok(total)
}

/// Writes `windows` to `out` in the GPA-range format and returns the words
/// written. Refuses windows longer than `u32::MAX` bytes; fails with
/// [`WireError::BufferTooSmall`] (writing nothing) when `out` is short.
pub fn write_gpa_ranges<'a>(
    windows: impl Iterator<Item = PagedRange<'a>> + Clone,
    out: &mut [u64],
) -> Result<usize, WireError> {
    let needed = gpa_ranges_len(windows.clone())?;
    if needed > out.len() {
        return Err(WireError::BufferTooSmall { needed });
    }
    let mut at = 0;
    for w in windows {
        let offset = if w.is_empty() { 0 } else { w.offset() as u64 };
        out[at] = (offset << 32) | w.len() as u64;
        let gpns = w.gpns();
        out[at + 1..at + 1 + gpns.len()].copy_from_slice(gpns);
        at += 1 + gpns.len();
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AddressRange;

    fn header(len: u32, offset: u32) -> u64 {
        (u64::from(offset) << 32) | u64::from(len)
    }

    #[test]
    fn round_trip() {
        let words = [
            header(5000, 100),
            7,
            8,
            header(0, 0),
            header(200, 4000),
            3,
            4,
        ];
        let (ranges, used) = parse_gpa_ranges(&words, 3).unwrap();
        assert_eq!(used, 7);
        assert_eq!(ranges.len(), 3);
        assert_eq!(ranges[0].gpns(), &[7, 8]);
        assert_eq!(ranges[0].offset(), 100);
        assert!(ranges[1].is_empty());
        assert_eq!(
            ranges[2].ranges().collect::<Result<Vec<_>, _>>().unwrap(),
            vec![AddressRange::from(3 * 4096 + 4000..4 * 4096 + 104)]
        );
        let mut out = [0u64; 7];
        assert_eq!(write_gpa_ranges(ranges.iter().copied(), &mut out), Ok(7));
        assert_eq!(out, words);
        let mut short = [0u64; 6];
        assert_eq!(
            write_gpa_ranges(ranges.iter().copied(), &mut short),
            Err(WireError::BufferTooSmall { needed: 7 })
        );
    }

    #[test]
    fn parse_errors_say_where() {
        assert_eq!(
            parse_gpa_ranges(&[header(1, 0), 5], 2).unwrap_err(),
            WireError::Truncated {
                range: 1,
                word: 2,
                needed: 1
            }
        );
        assert_eq!(
            parse_gpa_ranges(&[header(8192, 1), 5, 6], 1).unwrap_err(),
            WireError::Truncated {
                range: 0,
                word: 3,
                needed: 1
            }
        );
        assert_eq!(
            parse_gpa_ranges(&[header(1, 4096), 5], 1).unwrap_err(),
            WireError::BadOffset {
                range: 0,
                word: 0,
                offset: 4096
            }
        );
        assert_eq!(
            parse_gpa_ranges(&[header(1, 0), 5, header(8192, 0), 9, u64::MAX], 2).unwrap_err(),
            WireError::InvalidGpn {
                range: 1,
                word: 4,
                gpn: u64::MAX
            }
        );
        assert_eq!(
            parse_gpa_ranges(&[header(0, 100)], 1).unwrap_err(),
            WireError::BadOffset {
                range: 0,
                word: 0,
                offset: 100
            }
        );
        assert_eq!(parse_gpa_ranges(&[], 0).unwrap().1, 0);
    }

    #[test]
    #[cfg_attr(miri, ignore = "a 2^20-page list is too slow under miri")]
    fn refuses_windows_beyond_u32() {
        let gpns = vec![1u64; (1 << 20) + 1];
        let big = PagedRange::new(0, u32::MAX as usize + 1, &gpns).unwrap();
        assert_eq!(
            gpa_ranges_len(core::iter::once(big)),
            Err(WireError::TooLong {
                range: 0,
                len: u32::MAX as usize + 1
            })
        );
    }
}
