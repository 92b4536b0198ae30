//! [`WindowList`]: windows over one owned page list, with prefix sums, and
//! [`Buffer`]: the part of a shared window list in use. What a device keeps
//! for a request, and what the C ABI's `pr_range` and `pr_ranges` hold.

use core::ops::Deref;
use std::sync::Arc;

use crate::cursor::{BorrowedWindows, Cursor, CursorWindows, Op, WindowSource};
use crate::error::{InvalidGpn, LengthOverflow, OutOfRange, TransferError};
use crate::memory::GuestMemory;
use crate::page::PAGE_SIZE;
use crate::span::Span;
use crate::{AddressRange, PagedRange, PagedRanges};

/// One window of a [`WindowList`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    /// The window in the flat byte space of the list's pages.
    span: Span,
    /// Logical offset just past the window in the buffer (prefix sum).
    end: usize,
}

/// Why a window could not be added to a [`WindowList`].
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum ListError {
    /// The buffer's total length would overflow `usize`.
    #[error(transparent)]
    Overflow(#[from] LengthOverflow),
    /// The list could not grow.
    #[error("could not allocate room for the window list")]
    Allocation,
}

/// Windows over one owned page list, acting as one logical buffer, with
/// the running end of every window so that any byte is found in O(log n).
///
/// ```text
///  pages:    [ 0x51 ][ 0x52 ][ 0x9a ][ 0x17 ]     (one list, owned)
///  window 0:    |######|###|                       logical 0 .. 6000
///  window 1:                  |##|                 logical 6000 .. 6016
///  ends:     [ 6000, 6016 ]                        (prefix sums)
/// ```
///
/// Empty windows are not kept (except the one window of
/// [`single`](Self::single)), so every window kept holds at least one byte
/// of the buffer. Cloning into an existing list with `clone_from` reuses its
/// allocations, which is how a device refills a buffer per request without
/// touching the heap.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct WindowList {
    gpns: Vec<u64>,
    windows: Vec<Entry>,
}

impl Clone for WindowList {
    fn clone(&self) -> Self {
        Self {
            gpns: self.gpns.clone(),
            windows: self.windows.clone(),
        }
    }

    /// Copies `src` into this list, reusing its allocations: no heap
    /// traffic once the list has held a list as large.
    fn clone_from(&mut self, src: &Self) {
        self.gpns.clone_from(&src.gpns);
        self.windows.clone_from(&src.windows);
    }
}

impl WindowList {
    /// An empty list.
    pub const fn new() -> Self {
        Self {
            gpns: Vec::new(),
            windows: Vec::new(),
        }
    }

    /// A list holding one window, `len` bytes from `offset` in the flat byte
    /// space of a copy of `gpns`. Unlike [`try_push`](Self::try_push), an
    /// empty window is kept, so that its position (its in-page offset) is
    /// known.
    pub fn single(gpns: &[u64], offset: usize, len: usize) -> Result<Self, SingleError> {
        let window = PagedRange::try_new(offset, len, gpns)?;
        let mut list = Self::new();
        list.gpns
            .try_reserve_exact(gpns.len())
            .map_err(|_| SingleError::Allocation)?;
        list.windows
            .try_reserve_exact(1)
            .map_err(|_| SingleError::Allocation)?;
        list.gpns.extend_from_slice(gpns);
        let (start, _) = window.parts();
        list.windows.push(Entry {
            span: Span { start, len },
            end: len,
        });
        Ok(list)
    }

    /// Total bytes of all windows.
    #[inline]
    pub fn len(&self) -> usize {
        self.windows.last().map_or(0, |w| w.end)
    }

    /// True when the windows hold no byte.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of windows.
    pub fn window_count(&self) -> usize {
        self.windows.len()
    }

    /// The page list all windows share.
    pub fn gpns(&self) -> &[u64] {
        &self.gpns
    }

    /// Window `i`.
    pub fn window(&self, i: usize) -> Option<PagedRange<'_>> {
        let w = self.windows.get(i)?;
        Some(PagedRange::from_span(w.span, &self.gpns))
    }

    /// The windows, in order.
    pub fn windows(&self) -> impl Iterator<Item = PagedRange<'_>> + Clone + '_ {
        self.windows
            .iter()
            .map(|w| PagedRange::from_span(w.span, &self.gpns))
    }

    /// The whole list as a [`PagedRanges`].
    pub fn ranges(&self) -> PagedRanges<'_, impl Iterator<Item = PagedRange<'_>> + Clone + '_> {
        PagedRanges::from_parts(self.windows(), 0, self.len())
    }

    /// Removes every window, keeping the allocations.
    pub fn clear(&mut self) {
        self.gpns.clear();
        self.windows.clear();
    }

    /// Appends a copy of `window` (its pages and its bytes) after the
    /// others. An empty window adds nothing. On error nothing changes.
    pub fn try_push(&mut self, window: &PagedRange<'_>) -> Result<(), ListError> {
        if window.is_empty() {
            return Ok(());
        }
        let total = self.len();
        let end = total.checked_add(window.len()).ok_or(LengthOverflow {
            total,
            len: window.len(),
        })?;
        let pages = window.gpns();
        let start = self
            .gpns
            .len()
            .checked_mul(PAGE_SIZE)
            .and_then(|s| s.checked_add(window.offset()))
            .ok_or(ListError::Allocation)?;
        self.reserve(pages.len(), 1)
            .map_err(|()| ListError::Allocation)?;
        self.gpns.extend_from_slice(pages);
        self.windows.push(Entry {
            span: Span {
                start,
                len: window.len(),
            },
            end,
        });
        Ok(())
    }

    /// Makes room for `pages` more pages and `windows` more windows.
    pub(crate) fn reserve(&mut self, pages: usize, windows: usize) -> Result<(), ()> {
        self.gpns.try_reserve(pages).map_err(drop)?;
        self.windows.try_reserve(windows).map_err(drop)
    }

    /// Builder support: appends `pages` (room reserved) and either grows
    /// the last window by `len` bytes (`join`) or starts a new window of
    /// `len` bytes `in_page` bytes into the first new page, or into the
    /// last page when `pages` is empty. The caller checked every limit and
    /// that the flat offsets fit.
    pub(crate) fn append(
        &mut self,
        pages: impl Iterator<Item = u64>,
        join: bool,
        in_page: usize,
        len: usize,
    ) {
        let first_new = self.gpns.len();
        self.gpns.extend(pages);
        let end = self.len() + len;
        match self.windows.last_mut() {
            Some(w) if join => {
                w.span.len += len;
                w.end = end;
            }
            _ => {
                let page = if self.gpns.len() > first_new {
                    first_new
                } else {
                    first_new.saturating_sub(1)
                };
                self.windows.push(Entry {
                    span: Span {
                        start: page * PAGE_SIZE + in_page,
                        len,
                    },
                    end,
                });
            }
        }
    }

    /// Logical offset of window `i`'s first byte.
    #[inline]
    fn start_of(&self, i: usize) -> usize {
        match i.checked_sub(1) {
            None => 0,
            Some(prev) => self.windows.get(prev).map_or(self.len(), |w| w.end),
        }
    }

    /// Index of the first window ending after logical byte `offset`: the
    /// window holding it, if it is a byte of the buffer.
    #[inline]
    fn find(&self, offset: usize) -> usize {
        // One window (every pr_range, most requests' parts): no search.
        if let [only] = self.windows[..] {
            return usize::from(only.end <= offset);
        }
        self.windows.partition_point(|w| w.end <= offset)
    }

    /// The one clip: the part of window `index` inside the logical bytes
    /// `within`, as its logical extent and its flat span in the page list;
    /// `None` when they do not meet.
    #[inline]
    fn cut(&self, index: usize, within: Span) -> Option<(Span, Span)> {
        let w = self.windows.get(index)?;
        let start = self.start_of(index);
        let lo = start.max(within.start);
        let hi = w.end.min(within.end());
        if hi <= lo {
            return None;
        }
        let len = hi - lo;
        Some((
            Span { start: lo, len },
            Span {
                start: w.span.start + (lo - start),
                len,
            },
        ))
    }

    /// A cursor over the logical bytes `skip .. skip + len` of the list
    /// behind `list`, found in O(log n).
    pub fn clip<L: Deref<Target = Self>>(
        list: L,
        skip: usize,
        len: usize,
    ) -> Result<Cursor<ListWindows<L>>, OutOfRange> {
        let span = Span::within(skip, len, list.len())?;
        Ok(Self::seek(list, span))
    }

    /// [`clip`](Self::clip) for a span known to fit.
    #[inline]
    fn seek<L: Deref<Target = Self>>(list: L, span: Span) -> Cursor<ListWindows<L>> {
        let first = list.find(span.start);
        let window = list
            .cut(first, span)
            .map_or(Span::default(), |(_, flat)| flat);
        Cursor::new(
            ListWindows {
                list,
                next: first + 1,
            },
            window,
            span.len,
        )
    }
}

/// Why [`WindowList::single`] refused a window.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum SingleError {
    /// The window does not fit the list.
    #[error(transparent)]
    OutOfRange(#[from] OutOfRange),
    /// The list could not be allocated.
    #[error("could not allocate the page list")]
    Allocation,
}

impl<L: Deref<Target = WindowList>> Cursor<ListWindows<L>> {
    /// The same place and limit, borrowing the list.
    pub fn borrowed(&self) -> Cursor<ListWindows<&WindowList>> {
        self.map_source(|s| ListWindows {
            list: &*s.list,
            next: s.next,
        })
    }
}

/// The windows of a [`WindowList`] from one on: the source of its cursors.
#[derive(Clone, Debug)]
pub struct ListWindows<L> {
    list: L,
    next: usize,
}

impl<L: Deref<Target = WindowList>> WindowSource for ListWindows<L> {
    #[inline(always)]
    fn gpns(&self) -> &[u64] {
        &self.list.gpns
    }

    fn next_window(&mut self) -> Option<Span> {
        let w = self.list.windows.get(self.next)?;
        self.next += 1;
        Some(w.span)
    }
}

impl<'a> BorrowedWindows<'a> for ListWindows<&'a WindowList> {
    #[inline(always)]
    fn borrowed_gpns(&self) -> &'a [u64] {
        &self.list.gpns
    }
}

/// The part of a shared [`WindowList`] in use: logical bytes
/// `skip .. skip + len` of the list behind `L` (an `Arc`, a `Box`, a
/// reference). Narrowing it (skip, truncate, subrange, split) is O(1) and
/// never touches the list.
#[derive(Clone, Debug)]
pub struct Buffer<L> {
    list: L,
    span: Span,
}

impl<L: Deref<Target = WindowList>> Buffer<L> {
    /// The whole list.
    pub fn new(list: L) -> Self {
        let len = list.len();
        Self {
            list,
            span: Span { start: 0, len },
        }
    }

    /// The list behind the buffer.
    pub fn list(&self) -> &L {
        &self.list
    }

    /// Bytes in the buffer.
    pub fn len(&self) -> usize {
        self.span.len
    }

    /// True when the buffer holds no byte.
    pub fn is_empty(&self) -> bool {
        self.span.len == 0
    }

    /// `(skip, len)`: the logical bytes of the list skipped at the front,
    /// and the bytes in use after them.
    pub fn window(&self) -> (usize, usize) {
        (self.span.start, self.span.len)
    }

    narrowing!("buffer", "Buffer");

    /// The same bytes, borrowing the list.
    pub fn borrowed(&self) -> Buffer<&WindowList> {
        Buffer {
            list: &*self.list,
            span: self.span,
        }
    }

    /// A cursor at the buffer's first byte, borrowing the list.
    #[inline]
    pub fn cursor(&self) -> Cursor<ListWindows<&WindowList>> {
        WindowList::seek(&*self.list, self.span)
    }

    /// Index in the list of the buffer's first window.
    fn first(&self) -> usize {
        self.list.find(self.span.start)
    }

    /// Windows of the buffer holding at least one of its bytes.
    pub fn window_count(&self) -> usize {
        if self.span.len == 0 {
            return 0;
        }
        self.list.find(self.span.end() - 1) + 1 - self.first()
    }

    /// The part of window `i` (counting as
    /// [`window_count`](Self::window_count) does) inside the buffer.
    pub fn window_at(&self, i: usize) -> Option<PagedRange<'_>> {
        let (_, flat) = self.list.cut(self.first().checked_add(i)?, self.span)?;
        Some(PagedRange::from_span(flat, &self.list.gpns))
    }

    /// The buffer's windows, cut to the buffer.
    pub fn windows(&self) -> CursorWindows<'_, ListWindows<&WindowList>> {
        self.cursor().into_windows()
    }

    /// The in-page offset of the buffer's first byte (of where it stands,
    /// when it is empty); 0 for a buffer over no window.
    pub fn offset(&self) -> usize {
        let list = &*self.list;
        let Some(last) = list.windows.len().checked_sub(1) else {
            return 0;
        };
        let i = self.first().min(last);
        let into = self.span.start.saturating_sub(list.start_of(i));
        (list.windows[i].span.start + into) % PAGE_SIZE
    }

    /// The buffer's runs, window by window (runs are not merged across
    /// windows). Yields `Err` once on an unaddressable GPN, then ends.
    pub fn runs(&self) -> impl Iterator<Item = Result<AddressRange, InvalidGpn>> + '_ {
        crate::paged_ranges::runs_of(self.windows())
    }

    /// Calls `f` with each run of the buffer, window by window (runs are
    /// not merged across windows), stopping at the first page that cannot
    /// be addressed. The fast form of [`runs`](Self::runs).
    #[inline]
    pub fn try_for_each_run(&self, mut f: impl FnMut(AddressRange)) -> Result<(), InvalidGpn> {
        self.windows()
            .try_for_each(|window| window.try_for_each_run(&mut f))
    }

    transfer_methods!("buffer");

    /// Runs `op` at the buffer's first byte: over a list of one window (a
    /// range) through that window's own cursor, else through a list
    /// cursor. (The one-window cursor keeps `pr_range_read` of 512 B at
    /// 195 instructions; through the list cursor it takes 230: see
    /// docs/bench/icount.md.)
    #[inline(always)]
    fn transfer<M: GuestMemory + ?Sized, O: Op>(
        &self,
        mem: &M,
        op: O,
    ) -> Result<(), TransferError> {
        match self.list.windows[..] {
            // Window 0 starts at logical byte 0, so the buffer's bytes are
            // at the same distance from its flat start.
            [only] => {
                let flat = Span {
                    start: only.span.start + self.span.start,
                    len: self.span.len,
                };
                PagedRange::from_span(flat, &self.list.gpns)
                    .cursor()
                    .transfer(mem, op)
            }
            _ => self.cursor().transfer(mem, op),
        }
    }
}

impl Buffer<Arc<WindowList>> {
    /// Appends a copy of `window` after the buffer's end. A narrowed
    /// buffer first gets a list of its own bytes; a list that another
    /// handle shares is copied first. O(1) amortized otherwise. On error
    /// the buffer holds the same bytes as before.
    pub fn try_push(&mut self, window: &PagedRange<'_>) -> Result<(), ListError> {
        if window.is_empty() {
            return Ok(());
        }
        if self.window() != (0, self.list.len()) {
            let mut kept = WindowList::new();
            for w in self.windows() {
                kept.try_push(&w)?;
            }
            *self = Buffer::new(Arc::new(kept));
        }
        let list = Arc::make_mut(&mut self.list);
        list.try_push(window)?;
        self.span.len = list.len();
        Ok(())
    }

    /// Makes the buffer the whole of a copy of `src`, reusing the list's
    /// allocations when no other handle shares it (no heap traffic in
    /// steady state), or giving the buffer a new list when one does.
    pub fn refill_from(&mut self, src: &WindowList) {
        match Arc::get_mut(&mut self.list) {
            Some(list) => list.clone_from(src),
            None => self.list = Arc::new(src.clone()),
        }
        self.span = Span {
            start: 0,
            len: src.len(),
        };
    }
}

impl<L: Deref<Target = WindowList> + Clone> Buffer<L> {
    /// The `len` bytes starting `offset` bytes into the buffer, sharing the
    /// list.
    pub fn try_subrange(&self, offset: usize, len: usize) -> Result<Self, OutOfRange> {
        Ok(Self {
            list: self.list.clone(),
            span: self.span.sub(offset, len)?,
        })
    }

    /// `..at` and `at..`, sharing the list.
    pub fn try_split(&self, at: usize) -> Result<(Self, Self), OutOfRange> {
        let (a, b) = self.span.split(at)?;
        Ok((
            Self {
                list: self.list.clone(),
                span: a,
            },
            Self {
                list: self.list.clone(),
                span: b,
            },
        ))
    }

    /// Window `i` of the buffer (see [`window_at`](Self::window_at)) as a
    /// buffer of its own, sharing the list.
    pub fn window_buffer(&self, i: usize) -> Option<Self> {
        let (logical, _) = self.list.cut(self.first().checked_add(i)?, self.span)?;
        Some(Self {
            list: self.list.clone(),
            span: logical,
        })
    }

    /// A cursor at the buffer's first byte that holds its own handle to
    /// the list (for a cursor that outlives the buffer).
    pub fn owned_cursor(&self) -> Cursor<ListWindows<L>> {
        WindowList::seek(self.list.clone(), self.span)
    }
}
