//! [`PagedRanges`]: several [`PagedRange`] windows acting as one logical
//! buffer.

use core::marker::PhantomData;

use crate::error::{InvalidGpn, LengthOverflow, OutOfRange, TransferError};
use crate::io::{transfer_ranges, Transfer};
use crate::memory::GuestMemory;
use crate::{AddressRange, PagedRange, PagedRangesReader, PagedRangesWriter};

/// A list of [`PagedRange`]s read and written as one logical buffer: byte 0
/// is the first byte of the first window, and each window follows the one
/// before it.
///
/// This is how buffers whose pieces do not meet on page boundaries (two
/// virtio descriptors at arbitrary GPAs, say) are described: one window per
/// piece.
///
/// ```text
///  member 0: PagedRange (offset 0x10, 0x2000 bytes)   member 1: (0x0, 0x80)
///  logical:  |<----------- 0x0 .. 0x2000 ----------->|<- 0x2000 .. 0x2080 ->|
///                 skip(0x100)^                      truncate(0x1f80)^
/// ```
///
/// `T` is any cloneable iterator of windows, such as
/// `slice.iter().copied()`; it is never collected, so a `PagedRanges` does not
/// allocate. `skip` and `truncate` are O(1): they narrow a logical window
/// that [`paged_ranges`](Self::paged_ranges) applies lazily.
#[derive(Clone, Debug)]
pub struct PagedRanges<'a, T> {
    iter: T,
    /// Logical bytes skipped at the front.
    skip: usize,
    /// Logical bytes in the window after `skip`.
    len: usize,
    _ranges: PhantomData<PagedRange<'a>>,
}

impl<'a, T> PagedRanges<'a, T>
where
    T: Iterator<Item = PagedRange<'a>> + Clone,
{
    /// Joins the windows `iter` yields into one buffer.
    ///
    /// # Panics
    /// When the total length overflows `usize`; see
    /// [`try_new`](Self::try_new).
    #[track_caller]
    pub fn new(iter: T) -> Self {
        match Self::try_new(iter) {
            Ok(r) => r,
            Err(e) => panic!("PagedRanges::new: {e}"),
        }
    }

    /// Joins the windows `iter` yields into one buffer, failing when the
    /// total length overflows `usize`. Walks `iter` once to add up lengths.
    pub fn try_new(iter: T) -> Result<Self, LengthOverflow> {
        let mut total = 0usize;
        for r in iter.clone() {
            total = total.checked_add(r.len()).ok_or(LengthOverflow {
                total,
                len: r.len(),
            })?;
        }
        Ok(Self {
            iter,
            skip: 0,
            len: total,
            _ranges: PhantomData,
        })
    }

    /// Rebuilds a buffer from the state [`window`](Self::window) returned,
    /// without walking `iter` (the C ABI caches the total length).
    ///
    /// The caller guarantees `iter` holds at least `skip + len` bytes. If it
    /// does not, operations reaching the missing bytes fail with an
    /// out-of-range error; nothing worse happens.
    pub(crate) fn from_window(iter: T, skip: usize, len: usize) -> Self {
        Self {
            iter,
            skip,
            len,
            _ranges: PhantomData,
        }
    }

    /// `(skip, len)`: the logical bytes skipped at the front of the windows
    /// `iter` yields, and the length of the buffer after them.
    pub fn window(&self) -> (usize, usize) {
        (self.skip, self.len)
    }

    /// Total bytes in the buffer.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the buffer holds no byte.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Drops the first `len` bytes of the buffer.
    pub fn try_skip(&mut self, len: usize) -> Result<(), OutOfRange> {
        if len > self.len {
            return Err(OutOfRange {
                offset: 0,
                len,
                available: self.len,
            });
        }
        // `skip + len` stays within the bytes `iter` holds, so it fits.
        self.skip += len;
        self.len -= len;
        Ok(())
    }

    /// Drops the first `len` bytes of the buffer.
    ///
    /// # Panics
    /// When `len > self.len()`; see [`try_skip`](Self::try_skip).
    #[track_caller]
    pub fn skip(&mut self, len: usize) {
        if let Err(e) = self.try_skip(len) {
            panic!("PagedRanges::skip: {e}");
        }
    }

    /// Shortens the buffer to its first `len` bytes.
    pub fn try_truncate(&mut self, len: usize) -> Result<(), OutOfRange> {
        if len > self.len {
            return Err(OutOfRange {
                offset: 0,
                len,
                available: self.len,
            });
        }
        self.len = len;
        Ok(())
    }

    /// Shortens the buffer to its first `len` bytes.
    ///
    /// # Panics
    /// When `len > self.len()`; see [`try_truncate`](Self::try_truncate).
    #[track_caller]
    pub fn truncate(&mut self, len: usize) {
        if let Err(e) = self.try_truncate(len) {
            panic!("PagedRanges::truncate: {e}");
        }
    }

    /// The windows making up the buffer after `skip` and `truncate`, in
    /// order; empty windows are not yielded.
    pub fn paged_ranges(&self) -> PagedRangesIter<'a, T> {
        PagedRangesIter {
            iter: self.iter.clone(),
            skip: self.skip,
            remaining: self.len,
            _ranges: PhantomData,
        }
    }

    /// The guest address runs of the buffer, window by window (runs are not
    /// merged across windows). Yields `Err` once on an unaddressable GPN,
    /// then ends.
    pub fn ranges(&self) -> impl Iterator<Item = Result<AddressRange, InvalidGpn>> + 'a
    where
        T: 'a,
    {
        let mut failed = false;
        self.paged_ranges()
            .flat_map(|r| r.ranges())
            .take_while(move |item| {
                let go = !failed;
                failed |= item.is_err();
                go
            })
    }

    /// A cursor reading the buffer from its start.
    pub fn reader<'m, M: GuestMemory + ?Sized>(
        &self,
        mem: &'m M,
    ) -> PagedRangesReader<'a, 'm, T, M> {
        PagedRangesReader::new(self, mem)
    }

    /// A cursor writing the buffer from its start.
    pub fn writer<'m, M: GuestMemory + ?Sized>(
        &self,
        mem: &'m M,
    ) -> PagedRangesWriter<'a, 'm, T, M> {
        PagedRangesWriter::new(self, mem)
    }

    /// Runs `t` on the front of the buffer and drops the bytes it moved
    /// (also on failure), as a cursor does.
    pub(crate) fn advance<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &M,
        t: Transfer<'_>,
    ) -> Result<(), TransferError> {
        let len = t.len();
        let result = transfer_ranges(self.paged_ranges(), self.len, mem, t);
        // What moved is part of the buffer: the skip cannot fail.
        self.skip(TransferError::moved(len, &result));
        result
    }

    /// Reads the first `dst.len()` bytes of the buffer into `dst`, one backend
    /// call per contiguous run. See [`TransferError`] for partial transfers.
    pub fn read<M: GuestMemory + ?Sized>(
        &self,
        mem: &M,
        dst: &mut [u8],
    ) -> Result<(), TransferError> {
        transfer_ranges(self.paged_ranges(), self.len, mem, Transfer::Read(dst))
    }

    /// Writes `src` over the first `src.len()` bytes of the buffer.
    pub fn write<M: GuestMemory + ?Sized>(&self, mem: &M, src: &[u8]) -> Result<(), TransferError> {
        transfer_ranges(self.paged_ranges(), self.len, mem, Transfer::Write(src))
    }

    /// Sets the first `len` bytes of the buffer to `value`.
    pub fn fill<M: GuestMemory + ?Sized>(
        &self,
        mem: &M,
        value: u8,
        len: usize,
    ) -> Result<(), TransferError> {
        transfer_ranges(
            self.paged_ranges(),
            self.len,
            mem,
            Transfer::Fill(value, len),
        )
    }
}

/// Iterator over the windows of a [`PagedRanges`], from
/// [`PagedRanges::paged_ranges`]: the members trimmed to the buffer's
/// `skip`/`truncate` window, empty ones left out.
#[derive(Clone, Debug)]
pub struct PagedRangesIter<'a, T> {
    iter: T,
    /// Bytes still to drop before the first yielded window.
    skip: usize,
    /// Bytes still to yield.
    remaining: usize,
    _ranges: PhantomData<PagedRange<'a>>,
}

impl<'a, T> PagedRangesIter<'a, T> {
    /// Bytes still to be yielded.
    pub fn remaining(&self) -> usize {
        self.remaining
    }
}

impl<'a, T> Iterator for PagedRangesIter<'a, T>
where
    T: Iterator<Item = PagedRange<'a>>,
{
    type Item = PagedRange<'a>;

    fn next(&mut self) -> Option<PagedRange<'a>> {
        while self.remaining > 0 {
            let mut r = self.iter.next()?;
            if self.skip >= r.len() {
                self.skip -= r.len();
                continue;
            }
            r.skip(self.skip);
            self.skip = 0;
            if r.len() > self.remaining {
                r.truncate(self.remaining);
            }
            self.remaining -= r.len();
            return Some(r);
        }
        None
    }
}

impl<'a, T> core::iter::FusedIterator for PagedRangesIter<'a, T> where
    T: core::iter::FusedIterator<Item = PagedRange<'a>>
{
}

/// Running end offsets of the windows of a buffer, so that a byte of a
/// buffer made of many windows is found in O(log n) instead of by walking
/// them (used by the C ABI's `pr_ranges`, whose callers index windows).
#[derive(Clone, Debug, Default)]
pub(crate) struct WindowIndex {
    /// `ends[i]` is the logical offset just past window `i`.
    ends: Vec<usize>,
}

/// Why a window could not be added to a [`WindowIndex`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IndexError {
    /// The total length would overflow `usize`.
    Overflow(LengthOverflow),
    /// The index could not grow.
    Allocation,
}

impl WindowIndex {
    /// Adds a window of `len` bytes after the others.
    pub(crate) fn try_push(&mut self, len: usize) -> Result<(), IndexError> {
        let total = self.total();
        let end = total
            .checked_add(len)
            .ok_or(IndexError::Overflow(LengthOverflow { total, len }))?;
        self.ends
            .try_reserve(1)
            .map_err(|_| IndexError::Allocation)?;
        self.ends.push(end);
        Ok(())
    }

    /// Total bytes of all windows.
    pub(crate) fn total(&self) -> usize {
        self.ends.last().copied().unwrap_or(0)
    }

    /// Logical offset of window `i`'s first byte (`total()` past the end).
    pub(crate) fn start(&self, i: usize) -> usize {
        match i.checked_sub(1) {
            None => 0,
            Some(prev) => self.ends.get(prev).copied().unwrap_or(self.total()),
        }
    }

    /// Index of the first window ending after byte `offset` (the window
    /// holding it, if it is a byte of the buffer).
    pub(crate) fn find(&self, offset: usize) -> usize {
        self.ends.partition_point(|&end| end <= offset)
    }

    /// The windows overlapping the logical window `skip .. skip + len`, as
    /// an index range (empty when `len` is 0). The caller guarantees
    /// `skip + len <= total()`.
    pub(crate) fn overlapping(&self, skip: usize, len: usize) -> core::ops::Range<usize> {
        if len == 0 {
            return 0..0;
        }
        let first = self.find(skip);
        // `skip + len - 1` is a byte of the buffer: no overflow.
        let last = self.find(skip + len - 1);
        first..last + 1
    }

    /// The part of window `i` inside the logical window `skip .. skip + len`,
    /// as (offset in window `i`, length); the length is 0 when they do not
    /// meet.
    pub(crate) fn clip(&self, i: usize, skip: usize, len: usize) -> (usize, usize) {
        let (start, end) = (self.start(i), self.start(i + 1));
        let lo = start.max(skip);
        let hi = end.min(skip.saturating_add(len));
        (lo - start, hi.saturating_sub(lo))
    }
}

#[cfg(test)]
mod index_tests {
    use super::*;

    #[test]
    fn finds_and_clips_windows() {
        let mut ix = WindowIndex::default();
        for len in [10, 5, 20] {
            ix.try_push(len).unwrap();
        }
        assert_eq!(ix.total(), 35);
        assert_eq!(
            (ix.start(0), ix.start(1), ix.start(2), ix.start(3)),
            (0, 10, 15, 35)
        );
        assert_eq!(
            (
                ix.find(0),
                ix.find(9),
                ix.find(10),
                ix.find(34),
                ix.find(35)
            ),
            (0, 0, 1, 2, 3)
        );
        assert_eq!(ix.overlapping(0, 35), 0..3);
        assert_eq!(ix.overlapping(12, 3), 1..2);
        assert_eq!(ix.overlapping(9, 2), 0..2);
        assert_eq!(ix.overlapping(35, 0), 0..0);
        assert_eq!(ix.clip(0, 9, 2), (9, 1));
        assert_eq!(ix.clip(1, 9, 2), (0, 1));
        assert_eq!(ix.clip(2, 9, 2), (0, 0));
        assert_eq!(
            ix.try_push(usize::MAX),
            Err(IndexError::Overflow(LengthOverflow {
                total: 35,
                len: usize::MAX
            }))
        );
        assert_eq!(ix.total(), 35, "a refused push changes nothing");
    }
}
