//! [`PagedRanges`]: several [`PagedRange`] windows acting as one logical
//! buffer.

use core::marker::PhantomData;

use crate::cursor::{Cursor, IterWindows, PagedRangesIter};
use crate::error::{InvalidGpn, LengthOverflow};
use crate::memory::GuestMemory;
use crate::span::Span;
use crate::{AddressRange, PagedRange, PagedRangesReader, PagedRangesWriter};

/// A list of [`PagedRange`]s read and written as one logical buffer: byte 0
/// is the first byte of the first window, and each window follows the one
/// before it.
///
/// This is how buffers whose parts do not meet on page boundaries (two
/// virtio descriptors at arbitrary GPAs, say) are described: one window per
/// part.
///
/// ```text
///  window 0: PagedRange (offset 0x10, 0x2000 bytes)   window 1: (0x0, 0x80)
///  logical:  |<----------- 0x0 .. 0x2000 ----------->|<- 0x2000 .. 0x2080 ->|
///                 skip(0x100)^                      truncate(0x1f80)^
/// ```
///
/// `T` is any cloneable iterator of windows, such as
/// `slice.iter().copied()`; it is never collected, so a `PagedRanges` does not
/// allocate. `skip` and `truncate` are O(1): they narrow a logical window
/// that every operation applies as it walks the windows. (For an owned list
/// that finds any byte in O(log n), see [`WindowList`](crate::WindowList).)
#[derive(Clone, Debug)]
pub struct PagedRanges<'a, T> {
    iter: T,
    /// The logical bytes in use: `start` skipped at the front, `len` after.
    span: Span,
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
        Ok(Self::from_parts(iter, 0, total))
    }

    /// A buffer whose windows are known to hold `skip + len` bytes.
    pub(crate) fn from_parts(iter: T, skip: usize, len: usize) -> Self {
        Self {
            iter,
            span: Span { start: skip, len },
            _ranges: PhantomData,
        }
    }

    /// `(skip, len)`: the logical bytes skipped at the front of the windows
    /// `iter` yields, and the length of the buffer after them.
    pub fn window(&self) -> (usize, usize) {
        (self.span.start, self.span.len)
    }

    /// Total bytes in the buffer.
    pub fn len(&self) -> usize {
        self.span.len
    }

    /// True when the buffer holds no byte.
    pub fn is_empty(&self) -> bool {
        self.span.len == 0
    }

    narrowing!("buffer", "PagedRanges");

    /// A cursor at the buffer's first byte: the windows are walked past
    /// the skipped bytes.
    pub(crate) fn cursor(&self) -> Cursor<IterWindows<'a, T>> {
        let all = usize::MAX;
        let mut c = Cursor::new(IterWindows::new(self.iter.clone()), Span::default(), all);
        // Windows holding fewer bytes than the span claims leave the cursor
        // short; its transfers then report those bytes out of range.
        let _ = c.skip(self.span.start);
        c.limit_to(self.span.len);
        c
    }

    /// The windows making up the buffer after `skip` and `truncate`, in
    /// order; empty windows are not yielded.
    pub fn paged_ranges(&self) -> PagedRangesIter<'a, T> {
        self.cursor().into_windows()
    }

    /// The guest address runs of the buffer, window by window (runs are not
    /// merged across windows). Yields `Err` once on an unaddressable GPN,
    /// then ends.
    pub fn ranges(&self) -> impl Iterator<Item = Result<AddressRange, InvalidGpn>> + 'a
    where
        T: 'a,
    {
        runs_of(self.paged_ranges())
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

    transfer_methods!("buffer", cursor);
}

/// The runs of `windows`, window by window, ending after the first error.
pub(crate) fn runs_of<'a>(
    windows: impl Iterator<Item = PagedRange<'a>> + 'a,
) -> impl Iterator<Item = Result<AddressRange, InvalidGpn>> + 'a {
    let mut failed = false;
    windows.flat_map(|w| w.ranges()).take_while(move |item| {
        let go = !failed;
        failed |= item.is_err();
        go
    })
}
