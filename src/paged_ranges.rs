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

    /// Runs `t` on the front of the buffer.
    pub(crate) fn transfer<M: GuestMemory + ?Sized>(
        &self,
        mem: &M,
        t: Transfer<'_>,
    ) -> Result<(), TransferError> {
        transfer_ranges(self.paged_ranges(), self.len, mem, t)
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
