//! [`PagedRange`]: one logically contiguous byte window over a GPN list, and
//! the iterator over its runs.

use core::fmt;

use crate::cursor::Cursor;
use crate::error::{InvalidGpn, OutOfRange};
use crate::memory::GuestMemory;
use crate::page::{pages_spanned, Pos, PosError, PAGE_SIZE};
use crate::span::{or_panic, Span};
use crate::{AddressRange, PagedRangeReader, PagedRangeWriter};

/// A byte window over a list of guest page numbers.
///
/// The GPN list describes a flat byte space: page `i` of the list holds bytes
/// `i * PAGE_SIZE .. (i + 1) * PAGE_SIZE`. The window is `len` bytes of that
/// space starting at byte `offset`, so only its first and last pages can be
/// partially covered:
///
/// ```text
///  list index:      0            1            2            3
///  gpns:       [  0x7f3   ] [  0x7f4   ] [  0x120   ] [  0x555   ]
///  flat bytes:  0     4095   4096   8191   8192  12287  12288  16383
///                   |<-------------- window -------------->|
///                 offset                               offset + len
///  covered:     ....######   ##########   ##########   #####.....
///  runs:            |<-- GPA 0x7f3xxx..0x7f5000 -->| |<-->| |<-->|
/// ```
///
/// Pages `0x7f3` and `0x7f4` are physically adjacent, so [`ranges`] yields
/// them as a single run, one [`AddressRange`]; GPN `0x120` and `0x555`
/// each start a new run.
///
/// `PagedRange` is `Copy` and borrows the list; every operation that narrows
/// the window (`skip`, `truncate`, `subrange`, `split`) is O(1) and keeps the
/// same list. GPNs are not validated at construction: they come from the
/// guest, and each one is checked when a run that uses it is computed.
///
/// [`ranges`]: PagedRange::ranges
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PagedRange<'a> {
    /// The window in the flat byte space of `gpns`; its end is at most
    /// `gpns.len() * PAGE_SIZE`.
    span: Span,
    gpns: &'a [u64],
}

impl<'a> PagedRange<'a> {
    /// Creates the window of `len` bytes starting `offset` bytes into the
    /// flat space of `gpns`.
    ///
    /// Returns `None` when `offset + len` overflows or exceeds
    /// `gpns.len() * PAGE_SIZE`. `offset` may be larger than a page: the
    /// pages before it are simply not part of the window.
    pub fn new(offset: usize, len: usize, gpns: &'a [u64]) -> Option<Self> {
        Self::try_new(offset, len, gpns).ok()
    }

    /// Like [`new`](Self::new), reporting what did not fit.
    pub fn try_new(offset: usize, len: usize, gpns: &'a [u64]) -> Result<Self, OutOfRange> {
        // A list so long that its byte size overflows usize can hold any
        // window expressible in usize.
        let available = gpns.len().saturating_mul(PAGE_SIZE);
        Ok(Self {
            span: Span::within(offset, len, available)?,
            gpns,
        })
    }

    /// A window from a span already known to fit `gpns`.
    pub(crate) const fn from_span(span: Span, gpns: &'a [u64]) -> Self {
        Self { span, gpns }
    }

    /// The empty window over an empty list.
    pub const fn empty() -> Self {
        Self {
            span: Span { start: 0, len: 0 },
            gpns: &[],
        }
    }

    /// Number of bytes in the window.
    pub const fn len(&self) -> usize {
        self.span.len
    }

    /// True when the window holds no byte.
    pub const fn is_empty(&self) -> bool {
        self.span.len == 0
    }

    /// Byte offset of the window's first byte within its first page
    /// (`gpns()[0]`); always less than [`PAGE_SIZE`].
    pub const fn offset(&self) -> usize {
        self.span.start % PAGE_SIZE
    }

    /// The pages the window covers, partially or fully: the first is the page
    /// holding byte 0 of the window, the last the page holding its last byte.
    /// Empty for an empty window.
    pub fn gpns(&self) -> &'a [u64] {
        let first = self.span.start / PAGE_SIZE;
        let count = pages_spanned(self.span.start, self.span.len);
        self.gpns.get(first..first + count).unwrap_or(&[])
    }

    /// The whole list this window was made from, and the window's start in
    /// its flat byte space: `PagedRange::new(start, self.len(), list)`
    /// rebuilds `self`. Useful to store a window beside an owned copy of its
    /// list.
    pub const fn parts(&self) -> (usize, &'a [u64]) {
        (self.span.start, self.gpns)
    }

    /// The window of `len` bytes starting `offset` bytes into this one.
    pub fn try_subrange(&self, offset: usize, len: usize) -> Result<Self, OutOfRange> {
        Ok(Self::from_span(self.span.sub(offset, len)?, self.gpns))
    }

    /// The window of `len` bytes starting `offset` bytes into this one.
    ///
    /// # Panics
    /// When `offset + len > self.len()`; see
    /// [`try_subrange`](Self::try_subrange).
    #[track_caller]
    pub fn subrange(&self, offset: usize, len: usize) -> Self {
        or_panic("PagedRange::subrange", self.try_subrange(offset, len))
    }

    narrowing!("window", "PagedRange");

    /// Splits the window at byte `offset` into `..offset` and `offset..`.
    pub fn try_split(&self, offset: usize) -> Result<(Self, Self), OutOfRange> {
        let (front, back) = self.span.split(offset)?;
        Ok((
            Self::from_span(front, self.gpns),
            Self::from_span(back, self.gpns),
        ))
    }

    /// Splits the window at byte `offset` into `..offset` and `offset..`.
    ///
    /// # Panics
    /// When `offset > self.len()`; see [`try_split`](Self::try_split).
    #[track_caller]
    pub fn split(&self, offset: usize) -> (Self, Self) {
        or_panic("PagedRange::split", self.try_split(offset))
    }

    /// Where a walk of the window starts.
    #[inline(always)]
    pub(crate) fn pos(&self) -> Pos<'a> {
        Pos::new(self.gpns, self.span.start, self.span.len)
    }

    /// Removes the first run of physically adjacent pages from the window and
    /// returns its guest address range.
    ///
    /// Returns `None` when the window is empty. On an invalid GPN the window
    /// is left unchanged and the error is returned.
    pub fn pop_front_range(&mut self) -> Option<Result<AddressRange, InvalidGpn>> {
        let mut it = self.ranges();
        let item = it.next()?;
        if item.is_ok() {
            let _ = self.span.skip(self.span.len - it.remaining());
        }
        Some(item)
    }

    /// Calls `f` with each run of the window, in order, stopping at the
    /// first page that cannot be addressed (and returning it): the
    /// internal-iteration form of [`ranges`](Self::ranges), faster for
    /// walks that visit every run.
    #[inline]
    pub fn try_for_each_run(&self, mut f: impl FnMut(AddressRange)) -> Result<(), InvalidGpn> {
        match self.pos().for_each_run(&mut f) {
            Ok(()) => Ok(()),
            Err(PosError::Gpn(e)) => Err(e),
            // A PagedRange never reaches past its list.
            Err(PosError::Short) => Ok(()),
        }
    }

    /// Iterates over the window's runs of physically adjacent pages, in
    /// order, as guest address ranges. See [`PagedRangeRangeIter`].
    pub fn ranges(&self) -> PagedRangeRangeIter<'a> {
        PagedRangeRangeIter {
            pos: self.pos(),
            failed: false,
        }
    }

    /// A cursor at the window's first byte.
    #[inline(always)]
    pub(crate) fn cursor(&self) -> Cursor<crate::cursor::OneWindow<'a>> {
        Cursor::one(self)
    }

    transfer_methods!("window", cursor);

    /// A cursor reading the window from its first byte.
    pub fn reader<'m, M: GuestMemory + ?Sized>(&self, mem: &'m M) -> PagedRangeReader<'a, 'm, M> {
        PagedRangeReader::new(*self, mem)
    }

    /// A cursor writing the window from its first byte.
    pub fn writer<'m, M: GuestMemory + ?Sized>(&self, mem: &'m M) -> PagedRangeWriter<'a, 'm, M> {
        PagedRangeWriter::new(*self, mem)
    }
}

impl Default for PagedRange<'_> {
    fn default() -> Self {
        Self::empty()
    }
}

impl fmt::Debug for PagedRange<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PagedRange")
            .field("offset", &self.offset())
            .field("len", &self.len())
            .field("gpns", &self.gpns())
            .finish()
    }
}

/// Iterator over the runs of a [`PagedRange`], from
/// [`PagedRange::ranges`].
///
/// Each item is one run of numerically consecutive GPNs, coalesced into a
/// single [`AddressRange`]: the first starts at the window's partial offset,
/// the last ends at the window's end. When a page cannot be addressed the
/// iterator yields `Err(InvalidGpn)` once and then ends.
#[derive(Clone, Debug)]
pub struct PagedRangeRangeIter<'a> {
    pos: Pos<'a>,
    failed: bool,
}

impl PagedRangeRangeIter<'_> {
    /// Bytes of the window not yet yielded.
    pub fn remaining(&self) -> usize {
        if self.failed {
            0
        } else {
            self.pos.left()
        }
    }
}

impl Iterator for PagedRangeRangeIter<'_> {
    type Item = Result<AddressRange, InvalidGpn>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos.left() == 0 {
            return None;
        }
        match self.pos.next_run(usize::MAX) {
            Ok(run) => Some(Ok(run.range())),
            Err(PosError::Gpn(e)) => {
                self.failed = true;
                Some(Err(e))
            }
            // A PagedRange never reaches past its list.
            Err(PosError::Short) => {
                self.failed = true;
                None
            }
        }
    }
}

impl core::iter::FusedIterator for PagedRangeRangeIter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::MAX_GPN;

    const P: usize = PAGE_SIZE;
    const PU: u64 = PAGE_SIZE as u64;

    fn runs(r: &PagedRange<'_>) -> Vec<AddressRange> {
        r.ranges().collect::<Result<_, _>>().unwrap()
    }

    /// The spec's picture: starts inside GPN_0, covers GPN_1 and GPN_2 fully,
    /// ends inside GPN_3.
    #[test]
    fn spec_picture() {
        let gpns = [10, 20, 30, 40];
        let r = PagedRange::new(1000, 3 * P - 1000 + 500, &gpns).unwrap();
        assert_eq!(r.len(), 2 * P + 500 + (P - 1000));
        assert_eq!(r.offset(), 1000);
        assert_eq!(r.gpns(), &gpns);
        assert_eq!(
            runs(&r),
            vec![
                AddressRange::from(10 * PU + 1000..11 * PU),
                AddressRange::from(20 * PU..21 * PU),
                AddressRange::from(30 * PU..31 * PU),
                AddressRange::from(40 * PU..40 * PU + 500),
            ]
        );
    }

    #[test]
    fn coalescing() {
        let gpns = [7, 8, 9, 20, 21, 5];
        let r = PagedRange::new(100, 5 * P, &gpns).unwrap();
        assert_eq!(
            runs(&r),
            vec![
                AddressRange::from(7 * PU + 100..10 * PU),
                AddressRange::from(20 * PU..22 * PU),
                AddressRange::from(5 * PU..5 * PU + 100),
            ]
        );
        // The run lengths add up to the window.
        assert_eq!(runs(&r).iter().map(|a| a.len()).sum::<u64>(), 5 * PU);
    }

    #[test]
    fn new_bounds() {
        let gpns = [1, 2];
        assert!(PagedRange::new(0, 2 * P, &gpns).is_some());
        assert!(PagedRange::new(1, 2 * P, &gpns).is_none());
        assert!(PagedRange::new(2 * P, 0, &gpns).is_some());
        assert!(PagedRange::new(2 * P + 1, 0, &gpns).is_none());
        assert!(PagedRange::new(usize::MAX, 1, &gpns).is_none());
        assert!(PagedRange::new(1, usize::MAX, &gpns).is_none());
        assert_eq!(
            PagedRange::try_new(usize::MAX, 2, &gpns),
            Err(OutOfRange {
                offset: usize::MAX,
                len: 2,
                available: 2 * P
            })
        );
        // An empty list holds only the empty window.
        assert!(PagedRange::new(0, 0, &[]).is_some());
        assert!(PagedRange::new(0, 1, &[]).is_none());
        // An offset past the first page leaves the earlier pages out.
        let r = PagedRange::new(P + 5, 10, &gpns).unwrap();
        assert_eq!(r.gpns(), &[2]);
        assert_eq!(r.offset(), 5);
        assert_eq!(r.parts(), (P + 5, &gpns[..]));
    }

    #[test]
    fn empty() {
        let e = PagedRange::empty();
        assert!(e.is_empty());
        assert_eq!(e.len(), 0);
        assert_eq!(e.gpns(), &[] as &[u64]);
        assert_eq!(e.ranges().count(), 0);
        assert_eq!(PagedRange::default(), e);
        let mut e2 = e;
        assert_eq!(e2.pop_front_range(), None);
        // An empty window over a non-empty list covers no page either.
        let gpns = [3, 4];
        let r = PagedRange::new(P, 0, &gpns).unwrap();
        assert_eq!(r.gpns(), &[] as &[u64]);
        assert_eq!(r.ranges().count(), 0);
    }

    #[test]
    fn gpns_covers_only_window_pages() {
        let gpns = [1, 2, 3, 4, 5];
        let r = PagedRange::new(P - 1, 2, &gpns).unwrap();
        assert_eq!(r.gpns(), &[1, 2]);
        let r = PagedRange::new(P, P, &gpns).unwrap();
        assert_eq!(r.gpns(), &[2]);
        let r = PagedRange::new(P, P + 1, &gpns).unwrap();
        assert_eq!(r.gpns(), &[2, 3]);
    }

    #[test]
    fn subrange_skip_truncate_split() {
        let gpns = [1, 2, 3, 4];
        let r = PagedRange::new(100, 3 * P, &gpns).unwrap();
        let s = r.subrange(P, 200);
        assert_eq!(s.offset(), 100);
        assert_eq!(s.len(), 200);
        assert_eq!(s.gpns(), &[2]);
        assert_eq!(r.try_subrange(1, 3 * P).unwrap_err().available, 3 * P);
        assert!(r.try_subrange(usize::MAX, 1).is_err());
        assert!(r.try_subrange(3 * P, 0).unwrap().is_empty());

        let mut k = r;
        k.skip(P);
        assert_eq!(k.len(), 2 * P);
        assert_eq!(k.offset(), 100);
        assert_eq!(k.gpns(), &[2, 3, 4]);
        assert!(k.try_skip(2 * P + 1).is_err());
        assert_eq!(k.len(), 2 * P, "a failed skip leaves the range alone");
        k.skip(2 * P);
        assert!(k.is_empty());

        let mut t = r;
        t.truncate(P - 100);
        assert_eq!(t.gpns(), &[1]);
        assert_eq!(runs(&t), vec![AddressRange::from(PU + 100..2 * PU)]);
        assert!(t.try_truncate(P).is_err());
        t.truncate(0);
        assert!(t.is_empty());

        let (a, b) = r.split(P);
        assert_eq!(a.len(), P);
        assert_eq!(b.len(), 2 * P);
        assert_eq!(a.gpns(), &[1, 2]);
        assert_eq!(b.gpns(), &[2, 3, 4]);
        assert_eq!(b.offset(), 100);
        assert!(r.try_split(3 * P + 1).is_err());
        let (a, b) = r.split(0);
        assert!(a.is_empty());
        assert_eq!(b, r);
    }

    #[test]
    #[should_panic(expected = "PagedRange::subrange")]
    fn subrange_panics_on_caller_bug() {
        PagedRange::empty().subrange(0, 1);
    }

    #[test]
    #[should_panic(expected = "PagedRange::skip")]
    fn skip_panics_on_caller_bug() {
        PagedRange::empty().skip(1);
    }

    #[test]
    #[should_panic(expected = "PagedRange::truncate")]
    fn truncate_panics_on_caller_bug() {
        PagedRange::empty().truncate(1);
    }

    #[test]
    #[should_panic(expected = "PagedRange::split")]
    fn split_panics_on_caller_bug() {
        PagedRange::empty().split(1);
    }

    #[test]
    fn pop_front_range_consumes_runs() {
        let gpns = [7, 8, 9, 20, 21, 5];
        let mut r = PagedRange::new(100, 5 * P, &gpns).unwrap();
        assert_eq!(
            r.pop_front_range(),
            Some(Ok(AddressRange::from(7 * PU + 100..10 * PU)))
        );
        assert_eq!(r.len(), 2 * P + 100);
        assert_eq!(r.gpns(), &[20, 21, 5]);
        assert_eq!(
            r.pop_front_range(),
            Some(Ok(AddressRange::from(20 * PU..22 * PU)))
        );
        assert_eq!(
            r.pop_front_range(),
            Some(Ok(AddressRange::from(5 * PU..5 * PU + 100)))
        );
        assert_eq!(r.pop_front_range(), None);
    }

    #[test]
    fn hostile_gpns() {
        // GPN above MAX_GPN.
        let gpns = [1, MAX_GPN + 1];
        let r = PagedRange::new(0, 2 * P, &gpns).unwrap();
        let items: Vec<_> = r.ranges().collect();
        assert_eq!(
            items,
            vec![
                Ok(AddressRange::from(PU..2 * PU)),
                Err(InvalidGpn { gpn: MAX_GPN + 1 })
            ]
        );
        // u64::MAX followed by 0 must not look adjacent (no wrap).
        let gpns = [u64::MAX, 0];
        let r = PagedRange::new(0, 2 * P, &gpns).unwrap();
        assert_eq!(
            r.ranges().collect::<Vec<_>>(),
            vec![Err(InvalidGpn { gpn: u64::MAX })]
        );
        // The top page: usable except its last byte.
        let gpns = [MAX_GPN];
        let r = PagedRange::new(0, P - 1, &gpns).unwrap();
        assert_eq!(
            runs(&r),
            vec![AddressRange::from(u64::MAX - 0xfff..u64::MAX)]
        );
        let r = PagedRange::new(0, P, &gpns).unwrap();
        assert_eq!(
            r.ranges().collect::<Vec<_>>(),
            vec![Err(InvalidGpn { gpn: MAX_GPN })]
        );
        // Adjacent GPNs climbing past the top are blamed on the page that
        // overflows, not on the first page of the run.
        let gpns = [MAX_GPN - 1, MAX_GPN, MAX_GPN + 1];
        let r = PagedRange::new(0, 3 * P, &gpns).unwrap();
        assert_eq!(
            r.ranges().collect::<Vec<_>>(),
            vec![Err(InvalidGpn { gpn: MAX_GPN })]
        );
        // A failed pop leaves the range unchanged.
        let mut r2 = r;
        assert!(r2.pop_front_range().unwrap().is_err());
        assert_eq!(r2, r);
        // The iterator ends after the error.
        let mut it = r.ranges();
        assert!(it.next().unwrap().is_err());
        assert_eq!(it.next(), None);
        assert_eq!(it.remaining(), 0);
    }

    #[test]
    fn huge_lengths_do_not_overflow() {
        let gpns = [1u64; 4];
        assert!(PagedRange::new(usize::MAX - 1, 1, &gpns).is_none());
        assert!(PagedRange::new(usize::MAX, usize::MAX, &gpns).is_none());
        let r = PagedRange::new(0, 4 * P, &gpns).unwrap();
        assert!(r.try_subrange(usize::MAX, usize::MAX).is_err());
        assert!(r.try_subrange(1, usize::MAX).is_err());
        let mut s = r;
        assert!(s.try_skip(usize::MAX).is_err());
        assert!(s.try_truncate(usize::MAX).is_err());
        assert!(s.try_split(usize::MAX).is_err());
        // Repeated GPNs are allowed and never coalesce (1 is not 1 + 1).
        assert_eq!(runs(&r).len(), 4);
    }

    #[test]
    fn debug_shows_window() {
        let gpns = [1, 2];
        let r = PagedRange::new(P + 1, 2, &gpns).unwrap();
        assert_eq!(
            format!("{r:?}"),
            "PagedRange { offset: 1, len: 2, gpns: [2] }"
        );
    }
}
