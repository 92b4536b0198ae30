//! Pages and runs: the one place that turns GPNs into guest addresses.
//!
//! Everything that walks a window (transfers, iovec export, dirty marking,
//! the run iterator, the wire format's validation) goes through [`Pos`],
//! which checks each GPN and coalesces consecutive GPNs into runs.

use crate::error::InvalidGpn;
use crate::AddressRange;

/// Size of a guest page in bytes.
pub const PAGE_SIZE: usize = 4096;

/// log2 of [`PAGE_SIZE`].
pub const PAGE_SHIFT: u32 = 12;

/// The highest guest page number whose first byte has a 64-bit guest physical
/// address: `2^52 - 1`.
///
/// Its last byte cannot be the inside of an [`AddressRange`] (the exclusive
/// end would be 2^64), so a run covering it is rejected with [`InvalidGpn`].
pub const MAX_GPN: u64 = u64::MAX >> PAGE_SHIFT;

const _: () = assert!(PAGE_SIZE == 1 << PAGE_SHIFT);

/// Converts a guest page number to the guest physical address of its first
/// byte, refusing GPNs above [`MAX_GPN`] instead of wrapping.
///
/// ```
/// use pagedrange::{gpn_to_gpa, MAX_GPN};
/// assert_eq!(gpn_to_gpa(3), Ok(0x3000));
/// assert!(gpn_to_gpa(MAX_GPN + 1).is_err());
/// ```
pub const fn gpn_to_gpa(gpn: u64) -> Result<u64, InvalidGpn> {
    if gpn > MAX_GPN {
        Err(InvalidGpn { gpn })
    } else {
        Ok(gpn << PAGE_SHIFT)
    }
}

/// Converts a guest page number and a byte length into the address range of
/// `len` bytes starting `offset` bytes into the page. Fails when any of those
/// addresses (or the exclusive end) does not fit in 64 bits.
pub fn gpn_range(gpn: u64, offset: usize, len: usize) -> Result<AddressRange, InvalidGpn> {
    let bad = InvalidGpn { gpn };
    let start = gpn_to_gpa(gpn)?
        .checked_add(u64::try_from(offset).map_err(|_| bad)?)
        .ok_or(bad)?;
    AddressRange::from_start_len(start, u64::try_from(len).map_err(|_| bad)?).ok_or(bad)
}

/// Number of pages that `len` bytes starting `in_page` bytes into a page
/// touch (0 for no byte). `in_page` may exceed a page: only its offset
/// within the page counts. Never overflows.
pub(crate) const fn pages_spanned(in_page: usize, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    let room = PAGE_SIZE - in_page % PAGE_SIZE;
    if len <= room {
        1
    } else {
        1 + (len - room).div_ceil(PAGE_SIZE)
    }
}

/// A run: physically contiguous guest bytes, reached with one backend call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Run {
    /// Guest physical address of the run's first byte.
    pub(crate) gpa: u64,
    /// Bytes in the run (never 0).
    pub(crate) len: usize,
}

impl Run {
    /// The run as an address range (its end fits: it was checked).
    pub(crate) fn range(self) -> AddressRange {
        AddressRange {
            start: self.gpa,
            end: self.gpa + self.len as u64,
        }
    }
}

/// A place inside a window: the pages from the one holding the next byte
/// on, that byte's offset in its page, and the window's bytes left.
///
/// The caller keeps `pages` long enough for `in_page + left` bytes (a
/// window never reaches past its list); if it is not, the walk stops with
/// a [`PosError::Short`] instead of reading past the slice.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pos<'a> {
    pages: &'a [u64],
    in_page: usize,
    left: usize,
}

/// Why [`Pos::next_run`] stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PosError {
    /// A page of the run cannot be addressed.
    Gpn(InvalidGpn),
    /// The page list ended before the window did (a broken invariant of the
    /// caller; reported, never a panic).
    Short,
}

impl<'a> Pos<'a> {
    /// The place `start` bytes into the flat byte space of `gpns`, with
    /// `len` bytes left.
    #[inline(always)]
    pub(crate) fn new(gpns: &'a [u64], start: usize, len: usize) -> Self {
        Self {
            pages: gpns.get(start / PAGE_SIZE..).unwrap_or(&[]),
            in_page: start % PAGE_SIZE,
            left: len,
        }
    }

    /// Bytes of the window left.
    #[inline(always)]
    pub(crate) fn left(&self) -> usize {
        self.left
    }

    /// The next run of at most `max` bytes (`max > 0`, and the window not
    /// empty): the longest stretch of consecutive GPNs from the current
    /// byte on. Moves nothing.
    #[inline(always)]
    pub(crate) fn peek_run(&self, max: usize) -> Result<Run, PosError> {
        let in_page = self.in_page;
        // Bytes wanted, counted from the start of the current page: fits,
        // since a window's end fits in usize.
        let want = in_page + self.left.min(max);
        let Some(&head) = self.pages.first() else {
            return Err(PosError::Short);
        };
        let (n, end) = if want <= PAGE_SIZE {
            // Within the current page: no neighbour to look at.
            (1, want)
        } else {
            // Pages holding the bytes wanted.
            let span = (want - 1) / PAGE_SIZE + 1;
            let n = adjacent(self.pages, span)?;
            // `n < span` means the run ends on a page boundary before
            // `want`.
            (n, if n == span { want } else { n << PAGE_SHIFT })
        };
        run(head, self.pages, n, in_page, end - in_page)
    }

    /// Takes the next run of at most `max` bytes (see
    /// [`peek_run`](Self::peek_run)); on error nothing moves.
    #[inline(always)]
    pub(crate) fn next_run(&mut self, max: usize) -> Result<Run, PosError> {
        let run = self.peek_run(max)?;
        let end = self.in_page + run.len;
        self.pages = self.pages.get(end / PAGE_SIZE..).unwrap_or(&[]);
        self.in_page = end % PAGE_SIZE;
        self.left -= run.len;
        Ok(run)
    }

    /// Calls `f` with every run of the rest of the window, in order,
    /// stopping at the first page that cannot be addressed: the whole-window
    /// form of [`next_run`](Self::next_run), for walks that do not stop in
    /// between (run lists, dirty marking, validation).
    #[inline(always)]
    pub(crate) fn for_each_run(self, mut f: impl FnMut(AddressRange)) -> Result<(), PosError> {
        if self.left == 0 {
            return Ok(());
        }
        // One pass over the window's pages: a run ends where a GPN does not
        // follow the one before it.
        let span = pages_spanned(self.in_page, self.left);
        let Some(pages) = self.pages.get(..span) else {
            return Err(PosError::Short);
        };
        // The run so far: its first page (index and GPN), the offset of its
        // first byte in that page, and its last GPN.
        let mut first = 0;
        let mut head = pages[0];
        let mut in_page = self.in_page as u64;
        let mut prev = head;
        for (i, &gpn) in pages.iter().enumerate().skip(1) {
            if gpn != prev.wrapping_add(1) {
                // A run ending on a page boundary: from `head` (plus the
                // offset) to the end of page `prev`. Valid when no GPN
                // wrapped (`head <= prev`) and the end fits in 64 bits.
                if head <= prev && prev < MAX_GPN {
                    f(AddressRange {
                        start: (head << PAGE_SHIFT) | in_page,
                        end: (prev + 1) << PAGE_SHIFT,
                    });
                } else {
                    return Err(PosError::Gpn(blame(&pages[first..i])));
                }
                first = i;
                head = gpn;
                in_page = 0;
            }
            prev = gpn;
        }
        // The last run ends with the window, `in_page + left` bytes after
        // the start of page 0.
        let len = self.in_page + self.left - (first << PAGE_SHIFT) - in_page as usize;
        let last = run(head, &pages[first..], span - first, in_page as usize, len)?;
        f(last.range());
        Ok(())
    }
}

/// How many of the first `span` pages of `pages` continue the first one
/// (consecutive GPNs): at least 1. `pages` must hold `span >= 1` pages.
#[inline(always)]
fn adjacent(pages: &[u64], span: usize) -> Result<usize, PosError> {
    let Some(&head) = pages.first() else {
        return Err(PosError::Short);
    };
    let mut prev = head;
    let mut n = 1;
    while n < span {
        match pages.get(n) {
            Some(&gpn) if gpn == prev.wrapping_add(1) => prev = gpn,
            Some(_) => break,
            None => return Err(PosError::Short),
        }
        n += 1;
    }
    Ok(n)
}

/// The run of `len` bytes starting `in_page` bytes into `head`, the first
/// of the `n` consecutive pages at the front of `pages`, checked: every
/// page addressable and the end below 2^64.
#[inline(always)]
fn run(head: u64, pages: &[u64], n: usize, in_page: usize, len: usize) -> Result<Run, PosError> {
    // A wrap from u64::MAX to 0 looks adjacent to `adjacent`, but such a
    // run never passes this check: its head is above MAX_GPN, or its end
    // passes 2^64.
    if head <= MAX_GPN {
        let gpa = (head << PAGE_SHIFT) | in_page as u64;
        if gpa.checked_add(len as u64).is_some() {
            return Ok(Run { gpa, len });
        }
    }
    Err(PosError::Gpn(blame_run(pages, n)))
}

/// [`blame`] for the first `n` pages of `pages`.
#[cold]
#[inline(never)]
fn blame_run(pages: &[u64], n: usize) -> InvalidGpn {
    blame(pages.get(..n).unwrap_or(pages))
}

/// The page to blame for a run that cannot be addressed: the first one
/// above MAX_GPN, or MAX_GPN itself (whose last byte has no exclusive end),
/// or the first page after a wrap.
#[cold]
fn blame(run: &[u64]) -> InvalidGpn {
    let mut prev: Option<u64> = None;
    for &gpn in run {
        let wrapped = prev.is_some_and(|p| p.checked_add(1) != Some(gpn));
        if gpn >= MAX_GPN || wrapped {
            return InvalidGpn { gpn };
        }
        prev = Some(gpn);
    }
    InvalidGpn {
        gpn: run.last().copied().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpn_conversion() {
        assert_eq!(gpn_to_gpa(0), Ok(0));
        assert_eq!(gpn_to_gpa(1), Ok(0x1000));
        assert_eq!(gpn_to_gpa(MAX_GPN), Ok(u64::MAX - 0xfff));
        assert_eq!(
            gpn_to_gpa(MAX_GPN + 1),
            Err(InvalidGpn { gpn: MAX_GPN + 1 })
        );
        assert_eq!(gpn_to_gpa(u64::MAX), Err(InvalidGpn { gpn: u64::MAX }));
        assert_eq!(gpn_range(2, 10, 20), Ok(AddressRange::from(0x200a..0x201e)));
        // The last byte of the last page has no exclusive end in 64 bits.
        assert!(gpn_range(MAX_GPN, 0, PAGE_SIZE).is_err());
        assert_eq!(
            gpn_range(MAX_GPN, 0, PAGE_SIZE - 1),
            Ok(AddressRange::from(u64::MAX - 0xfff..u64::MAX))
        );
    }

    #[test]
    fn page_counts() {
        assert_eq!(pages_spanned(0, 0), 0);
        assert_eq!(pages_spanned(100, 0), 0);
        assert_eq!(pages_spanned(0, 1), 1);
        assert_eq!(pages_spanned(0, PAGE_SIZE), 1);
        assert_eq!(pages_spanned(0, PAGE_SIZE + 1), 2);
        assert_eq!(pages_spanned(PAGE_SIZE - 1, 2), 2);
        assert_eq!(
            pages_spanned(PAGE_SIZE + 5, 10),
            1,
            "only the in-page offset counts"
        );
        assert_eq!(pages_spanned(1, usize::MAX), usize::MAX / PAGE_SIZE + 1);
    }

    #[test]
    fn runs_stop_at_max_and_at_gaps() {
        let gpns = [7, 8, 9, 20];
        let mut pos = Pos::new(&gpns, 100, 4 * PAGE_SIZE - 100);
        let run = pos.next_run(10).unwrap();
        assert_eq!(
            run,
            Run {
                gpa: 0x7064,
                len: 10
            }
        );
        let run = pos.next_run(usize::MAX).unwrap();
        assert_eq!(
            run,
            Run {
                gpa: 0x706e,
                len: 3 * PAGE_SIZE - 110
            }
        );
        assert_eq!(pos.left(), PAGE_SIZE);
        assert_eq!(
            pos.next_run(5).unwrap(),
            Run {
                gpa: 0x14000,
                len: 5
            }
        );
        assert_eq!(pos.left(), PAGE_SIZE - 5);
    }

    #[test]
    fn a_short_list_is_reported() {
        let gpns = [1];
        let mut pos = Pos::new(&gpns, 0, 2 * PAGE_SIZE);
        assert_eq!(pos.next_run(usize::MAX), Err(PosError::Short));
        let mut pos = Pos::new(&gpns, PAGE_SIZE, 1);
        assert_eq!(pos.next_run(1), Err(PosError::Short));
    }
}
