//! The one cursor and the one transfer engine.
//!
//! A [`Cursor`] is a place in a sequence of windows (which window, and the
//! flat byte offset in its page list, i.e. page and offset) plus a limit:
//! the bytes it may still move. Every read, write, fill and iovec export,
//! of a single window or of a buffer, one-shot or streaming, from Rust or
//! through the C ABI, runs here: the engine walks runs with
//! [`Pos`](crate::page::Pos), calls the backend once per run, and counts the
//! bytes done; the cursor then advances by exactly those bytes.

use core::marker::PhantomData;

use crate::error::{MemoryFault, OutOfRange, TransferError};
use crate::memory::GuestMemory;
use crate::page::{Pos, PosError};
use crate::span::Span;
use crate::PagedRange;

/// `read`, `write`, `fill` and `iovecs` for a type with a
/// `transfer(mem, op)` (running an [`Op`] at its first byte) and a
/// `cursor()`: written once for windows, buffers of windows and owned
/// buffers. `$what` names the bytes ("window"); with `cursor`, `transfer`
/// is generated too, as a transfer through `cursor()`.
macro_rules! transfer_methods {
    ($what:literal, cursor) => {
        /// Runs `op` at the first byte, through a cursor.
        #[inline(always)]
        fn transfer<M: $crate::GuestMemory + ?Sized, O: $crate::cursor::Op>(
            &self,
            mem: &M,
            op: O,
        ) -> Result<(), $crate::TransferError> {
            self.cursor().transfer(mem, op)
        }

        transfer_methods!($what);
    };
    ($what:literal) => {
        #[doc = concat!("Reads the first `dst.len()` bytes of the ", $what, " into `dst`, one backend call per run. See [`TransferError`](crate::TransferError) for partial transfers.")]
        pub fn read<M: $crate::GuestMemory + ?Sized>(
            &self,
            mem: &M,
            dst: &mut [u8],
        ) -> Result<(), $crate::TransferError> {
            self.transfer(mem, $crate::cursor::Read(dst))
        }

        #[doc = concat!("Writes `src` over the first `src.len()` bytes of the ", $what, ".")]
        pub fn write<M: $crate::GuestMemory + ?Sized>(
            &self,
            mem: &M,
            src: &[u8],
        ) -> Result<(), $crate::TransferError> {
            self.transfer(mem, $crate::cursor::Write(src))
        }

        #[doc = concat!("Sets the first `len` bytes of the ", $what, " to `value`.")]
        pub fn fill<M: $crate::GuestMemory + ?Sized>(
            &self,
            mem: &M,
            value: u8,
            len: usize,
        ) -> Result<(), $crate::TransferError> {
            self.transfer(mem, $crate::cursor::Fill(value, len))
        }

        #[doc = concat!("Writes to `out` the host iovecs covering the first `len` bytes of the ", $what, " in mapped guest memory, merging pieces adjacent in host memory (not only in guest addresses).")]
        ///
        /// When `out` is too short, fills it and reports how many bytes its
        /// entries cover, so the IO can be issued in pieces. A run outside the
        /// mapped regions fails with
        /// [`TransferError::Memory`](crate::TransferError::Memory), whose
        /// `done` is the bytes covered before it.
        #[cfg(unix)]
        pub fn iovecs(
            &self,
            mem: &$crate::MappedMemory,
            len: usize,
            out: &mut [libc::iovec],
        ) -> Result<$crate::IovecExport, $crate::TransferError> {
            self.cursor().export_iovecs(mem, len, out)
        }
    };
}

/// Where a [`Cursor`] takes its windows from, one after the other.
///
/// Implemented for the window sequences of this crate: a single window
/// ([`OneWindow`]), an iterator of [`PagedRange`]s ([`IterWindows`]) and a
/// [`WindowList`](crate::WindowList) ([`ListWindows`](crate::ListWindows)).
pub trait WindowSource {
    /// The page list of the current window.
    fn gpns(&self) -> &[u64];

    /// Moves to the next window and returns its bytes in the flat byte
    /// space of [`gpns`](Self::gpns), or `None` when there is none.
    /// Windows may be empty; the cursor skips them.
    fn next_window(&mut self) -> Option<Span>;
}

/// A [`WindowSource`] whose page lists outlive the cursor (they are
/// borrowed for `'a`), so the windows ahead of it can be handed out: see
/// [`Cursor::into_windows`].
pub trait BorrowedWindows<'a>: WindowSource {
    /// The page list of the current window, for `'a`.
    fn borrowed_gpns(&self) -> &'a [u64];
}

/// A single window: the source of a [`PagedRange`]'s cursor.
#[derive(Clone, Copy, Debug)]
pub struct OneWindow<'a> {
    gpns: &'a [u64],
}

impl WindowSource for OneWindow<'_> {
    #[inline(always)]
    fn gpns(&self) -> &[u64] {
        self.gpns
    }

    #[inline(always)]
    fn next_window(&mut self) -> Option<Span> {
        None
    }
}

/// The windows an iterator of [`PagedRange`]s yields: the source of a
/// [`PagedRanges`](crate::PagedRanges) cursor.
#[derive(Clone, Debug)]
pub struct IterWindows<'a, I> {
    gpns: &'a [u64],
    rest: I,
}

impl<'a, I> IterWindows<'a, I> {
    /// The windows `rest` yields; the cursor starts before the first.
    pub(crate) fn new(rest: I) -> Self {
        Self { gpns: &[], rest }
    }
}

impl<'a, I: Iterator<Item = PagedRange<'a>>> WindowSource for IterWindows<'a, I> {
    #[inline(always)]
    fn gpns(&self) -> &[u64] {
        self.gpns
    }

    fn next_window(&mut self) -> Option<Span> {
        let w = self.rest.next()?;
        let (start, gpns) = w.parts();
        self.gpns = gpns;
        Some(Span {
            start,
            len: w.len(),
        })
    }
}

impl<'a, I: Iterator<Item = PagedRange<'a>>> BorrowedWindows<'a> for IterWindows<'a, I> {
    #[inline(always)]
    fn borrowed_gpns(&self) -> &'a [u64] {
        self.gpns
    }
}

/// The host side of a transfer: what the engine does with each run.
/// One type per operation, so that each entry point gets its own loop
/// with the backend call inlined (no per-run dispatch).
pub(crate) trait Op {
    /// Bytes to move.
    fn len(&self) -> usize;

    /// Moves the run of `n` bytes at `gpa`, host side from byte `at`.
    fn run<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &M,
        gpa: u64,
        at: usize,
        n: usize,
    ) -> Result<(), MemoryFault>;
}

/// A read into a host buffer.
pub(crate) struct Read<'b>(pub(crate) &'b mut [u8]);

/// A write from a host buffer.
pub(crate) struct Write<'b>(pub(crate) &'b [u8]);

/// A fill of `.1` bytes with `.0`.
pub(crate) struct Fill(pub(crate) u8, pub(crate) usize);

/// The fault for a host range past the end of the host buffer (never
/// produced: the engine stays within `len()`), instead of a panic.
#[cold]
fn past_end(gpa: u64) -> MemoryFault {
    MemoryFault {
        gpa,
        code: crate::memory::FAULT_UNMAPPED,
        done: 0,
    }
}

/// [`Op`] for a transfer with a host buffer: the run's part of the buffer
/// (`$part`: `get` or `get_mut`) goes to the backend method `$call`.
macro_rules! buffer_op {
    ($ty:ident, $part:ident, $call:ident) => {
        impl Op for $ty<'_> {
            #[inline(always)]
            fn len(&self) -> usize {
                self.0.len()
            }

            #[inline(always)]
            fn run<M: GuestMemory + ?Sized>(
                &mut self,
                mem: &M,
                gpa: u64,
                at: usize,
                n: usize,
            ) -> Result<(), MemoryFault> {
                // The engine never asks past the end: `at + n <= len()`.
                match self.0.$part(at..at + n) {
                    Some(host) => mem.$call(gpa, host),
                    None => Err(past_end(gpa)),
                }
            }
        }
    };
}

buffer_op!(Read, get_mut, read);
buffer_op!(Write, get, write);

impl Op for Fill {
    #[inline(always)]
    fn len(&self) -> usize {
        self.1
    }

    #[inline(always)]
    fn run<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &M,
        gpa: u64,
        _at: usize,
        n: usize,
    ) -> Result<(), MemoryFault> {
        mem.fill(gpa, self.0, n)
    }
}

impl PosError {
    /// The transfer error for a walk that stopped after `done` bytes.
    pub(crate) fn after(self, done: usize) -> TransferError {
        match self {
            PosError::Gpn(e) => TransferError::InvalidGpn { done, gpn: e.gpn },
            // A window reaching past its page list: report the missing
            // bytes as out of range, never read past the list.
            PosError::Short => short(done),
        }
    }
}

/// The error for windows that end before the bytes they promised (a
/// broken invariant of a caller-made source): out of range, never a read
/// past a page list.
#[cold]
fn short(done: usize) -> TransferError {
    TransferError::OutOfRange(OutOfRange {
        offset: done,
        len: 1,
        available: done,
    })
}

/// The engine: moves the first `want <= pos.left()` bytes at `pos`, the
/// host side of `op` starting at `*done`, one backend call per run.
/// `*done` counts every byte moved, also when a run fails.
#[inline(always)]
fn transfer_window<M: GuestMemory + ?Sized, O: Op>(
    pos: &mut Pos<'_>,
    mem: &M,
    op: &mut O,
    done: &mut usize,
    want: usize,
) -> Result<(), TransferError> {
    let stop = *done + want;
    while *done < stop {
        let run = match pos.next_run(stop - *done) {
            Ok(run) => run,
            Err(e) => return Err(e.after(*done)),
        };
        if let Err(f) = op.run(mem, run.gpa, *done, run.len) {
            *done += f.done.min(run.len);
            return Err(fault(*done, f));
        }
        *done += run.len;
    }
    Ok(())
}

/// The error for a run the backend refused, `done` bytes into the
/// transfer (the part of the run it moved included).
#[cold]
fn fault(done: usize, f: MemoryFault) -> TransferError {
    TransferError::Memory {
        done,
        gpa: f.gpa,
        code: f.code,
    }
}

/// A place in a sequence of windows, and the bytes it may still move.
///
/// The place is kept between calls (the window, and the flat offset of
/// the next byte in that window's page list); a transfer starts there and
/// the cursor moves by exactly the bytes done, also when a run fails. The
/// readers and writers of this crate and the C ABI's `pr_reader` and
/// `pr_writer` are cursors.
#[derive(Clone, Debug)]
pub struct Cursor<S> {
    src: S,
    /// The rest of the current window.
    cur: Span,
    /// Bytes this cursor may still move (its windows may hold more).
    len: usize,
}

impl<'a> Cursor<OneWindow<'a>> {
    /// A cursor over one window.
    #[inline(always)]
    pub(crate) fn one(range: &PagedRange<'a>) -> Self {
        let (start, gpns) = range.parts();
        Self {
            src: OneWindow { gpns },
            cur: Span {
                start,
                len: range.len(),
            },
            len: range.len(),
        }
    }

    /// What is left, as a window over the original list.
    pub(crate) fn remaining_window(&self) -> PagedRange<'a> {
        PagedRange::from_span(
            Span {
                start: self.cur.start,
                len: self.len,
            },
            self.src.gpns,
        )
    }
}

impl<S> Cursor<S> {
    /// Bytes the cursor may still move.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the cursor can move nothing more.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Lowers the limit to at most `n` bytes.
    pub fn limit_to(&mut self, n: usize) {
        self.len = self.len.min(n);
    }

    /// The same place and limit over another view of the same windows.
    pub(crate) fn map_source<'s, T>(&'s self, f: impl FnOnce(&'s S) -> T) -> Cursor<T> {
        Cursor {
            src: f(&self.src),
            cur: self.cur,
            len: self.len,
        }
    }
}

impl<S: WindowSource> Cursor<S> {
    /// A cursor at the start of `src`'s windows, limited to `len` bytes.
    /// `first` is the window `src` stands on (empty: none yet).
    pub(crate) fn new(src: S, first: Span, len: usize) -> Self {
        Self {
            src,
            cur: first,
            len,
        }
    }

    /// The error for asking `n` bytes.
    fn refuse(&self, n: usize) -> TransferError {
        TransferError::OutOfRange(OutOfRange {
            offset: 0,
            len: n,
            available: self.len,
        })
    }

    /// The current window, moving on to the next non-empty one when it is
    /// used up; `None` when the windows end.
    #[inline(always)]
    fn current(&mut self) -> Option<Span> {
        while self.cur.len == 0 {
            self.cur = self.src.next_window()?;
        }
        Some(self.cur)
    }

    /// Moves `op.len()` bytes at the cursor and advances by the bytes done.
    #[inline(always)]
    pub(crate) fn transfer<M: GuestMemory + ?Sized, O: Op>(
        &mut self,
        mem: &M,
        mut op: O,
    ) -> Result<(), TransferError> {
        let total = op.len();
        if total > self.len {
            return Err(self.refuse(total));
        }
        if total == 0 {
            return Ok(());
        }
        // The common case: the bytes lie in the current window, most often
        // in one run of it (one backend call, nothing else to walk).
        if total <= self.cur.len {
            let mut pos = Pos::new(self.src.gpns(), self.cur.start, self.cur.len);
            let mut done = 0;
            let result = match pos.peek_run(total) {
                Ok(run) if run.len == total => {
                    done = total;
                    op.run(mem, run.gpa, 0, total)
                        .map_err(|f| fault(f.done.min(total), f))
                }
                _ => transfer_window(&mut pos, mem, &mut op, &mut done, total),
            };
            // A failed single run moved what its error says (this order
            // keeps the one-run path short; see docs/bench/icount.md).
            let done = match &result {
                Err(e) if done == total => e.done(),
                _ => done,
            };
            self.cur.start += done;
            self.cur.len -= done;
            self.len -= done;
            return result;
        }
        self.transfer_windows(mem, op, total)
    }

    /// [`transfer`](Self::transfer) across windows.
    #[inline(never)]
    fn transfer_windows<M: GuestMemory + ?Sized, O: Op>(
        &mut self,
        mem: &M,
        mut op: O,
        total: usize,
    ) -> Result<(), TransferError> {
        // At the end of a window, the bytes may all lie in the next one (a
        // status byte after the data): then that is the common case again.
        if self.cur.len == 0 && self.current().is_some() && total <= self.cur.len {
            return self.transfer(mem, op);
        }
        let op = &mut op;
        let mut done = 0;
        let result = loop {
            if done == total {
                break Ok(());
            }
            let Some(cur) = self.current() else {
                break Err(short(done));
            };
            let want = cur.len.min(total - done);
            let before = done;
            let mut pos = Pos::new(self.src.gpns(), cur.start, cur.len);
            let r = transfer_window(&mut pos, mem, op, &mut done, want);
            // `done - before <= cur.len`: cannot fail.
            let _ = self.cur.skip(done - before);
            if r.is_err() {
                break r;
            }
        };
        self.len -= done;
        result
    }

    /// Reads `dst.len()` bytes and advances past them.
    pub fn read<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &M,
        dst: &mut [u8],
    ) -> Result<(), TransferError> {
        self.transfer(mem, Read(dst))
    }

    /// Writes `src` and advances past it.
    pub fn write<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &M,
        src: &[u8],
    ) -> Result<(), TransferError> {
        self.transfer(mem, Write(src))
    }

    /// Sets the next `len` bytes to `value` and advances past them.
    pub fn fill<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &M,
        value: u8,
        len: usize,
    ) -> Result<(), TransferError> {
        self.transfer(mem, Fill(value, len))
    }

    /// Advances past `n` bytes without touching them; refuses (moving
    /// nothing) more than [`len`](Self::len).
    pub fn skip(&mut self, n: usize) -> Result<(), OutOfRange> {
        if n > self.len {
            return Err(OutOfRange {
                offset: 0,
                len: n,
                available: self.len,
            });
        }
        let mut left = n;
        while left > 0 {
            let Some(cur) = self.current() else {
                break;
            };
            let step = cur.len.min(left);
            let _ = self.cur.skip(step);
            left -= step;
        }
        self.len -= n - left;
        Ok(())
    }

    /// The rest of the current window (cut to the limit) as a span of the
    /// source's current page list; the cursor advances past it.
    pub(crate) fn take_span(&mut self) -> Option<Span> {
        if self.len == 0 {
            return None;
        }
        let cur = self.current()?;
        let piece = Span {
            start: cur.start,
            len: cur.len.min(self.len),
        };
        let _ = self.cur.skip(piece.len);
        self.len -= piece.len;
        Some(piece)
    }
}

impl<S> Cursor<S> {
    /// The windows ahead of the cursor, cut to its limit, as an iterator.
    pub fn into_windows<'a>(self) -> CursorWindows<'a, S>
    where
        S: BorrowedWindows<'a>,
    {
        CursorWindows {
            cursor: self,
            _lists: PhantomData,
        }
    }
}

/// Iterator over the windows ahead of a cursor, cut to its limit (empty
/// windows left out), from [`Cursor::into_windows`]. The windows of a
/// [`PagedRanges`](crate::PagedRanges) ([`PagedRangesIter`]) and of a
/// [`Buffer`](crate::Buffer) are walked with it.
#[derive(Clone, Debug)]
pub struct CursorWindows<'a, S> {
    cursor: Cursor<S>,
    _lists: PhantomData<&'a [u64]>,
}

/// Iterator over the windows of a [`PagedRanges`](crate::PagedRanges), from
/// [`PagedRanges::paged_ranges`](crate::PagedRanges::paged_ranges): the
/// windows cut to the buffer's `skip`/`truncate` window, empty ones left
/// out.
pub type PagedRangesIter<'a, T> = CursorWindows<'a, IterWindows<'a, T>>;

impl<S> CursorWindows<'_, S> {
    /// Bytes still to be yielded.
    pub fn remaining(&self) -> usize {
        self.cursor.len()
    }
}

impl<'a, S: BorrowedWindows<'a>> Iterator for CursorWindows<'a, S> {
    type Item = PagedRange<'a>;

    fn next(&mut self) -> Option<PagedRange<'a>> {
        match self.cursor.take_span() {
            Some(span) => Some(PagedRange::from_span(span, self.cursor.src.borrowed_gpns())),
            None => {
                // The source ran dry: yield nothing more (fused).
                self.cursor.limit_to(0);
                None
            }
        }
    }
}

impl<'a, S: BorrowedWindows<'a>> core::iter::FusedIterator for CursorWindows<'a, S> {}

impl<S: WindowSource + Clone> Cursor<S> {
    /// Splits off a cursor over the next `n` bytes and advances this one
    /// past them. Refuses (moving nothing) more than [`len`](Self::len).
    pub fn limit(&mut self, n: usize) -> Result<Self, OutOfRange> {
        let mut front = self.clone();
        self.skip(n)?;
        front.len = n;
        Ok(front)
    }
}

#[cfg(unix)]
mod iovecs {
    use super::*;
    use crate::iovec::IovecExport;
    use crate::memory::MappedMemory;

    impl<S: WindowSource + Clone> Cursor<S> {
        /// Writes to `out` the host iovecs of the next `len` bytes in
        /// mapped memory, merging pieces that touch in host memory, and
        /// advances past the bytes they cover.
        ///
        /// When `out` is too short it is filled and the export covers
        /// less than `len` bytes. A run outside the mapped regions fails
        /// with [`TransferError::Memory`], whose `done` is the bytes
        /// before it; then nothing is exported and the cursor does not
        /// move.
        pub fn export_iovecs(
            &mut self,
            mem: &MappedMemory,
            len: usize,
            out: &mut [libc::iovec],
        ) -> Result<IovecExport, TransferError> {
            let done = self.export_ahead(mem, len, out)?;
            self.skip(done.covered)?;
            Ok(done)
        }

        /// [`export_iovecs`](Self::export_iovecs) without moving the
        /// cursor (for a caller that moves it once the export stands).
        pub fn export_ahead(
            &self,
            mem: &MappedMemory,
            len: usize,
            out: &mut [libc::iovec],
        ) -> Result<IovecExport, TransferError> {
            if len > self.len {
                return Err(self.refuse(len));
            }
            let mut done = IovecExport::default();
            self.clone().export_into(mem, len, out, &mut done)?;
            Ok(done)
        }
    }

    impl<S: WindowSource> Cursor<S> {
        fn export_into(
            &mut self,
            mem: &MappedMemory,
            len: usize,
            out: &mut [libc::iovec],
            done: &mut IovecExport,
        ) -> Result<(), TransferError> {
            while done.covered < len {
                let Some(cur) = self.current() else {
                    return Err(short(done.covered));
                };
                let mut pos = Pos::new(self.src.gpns(), cur.start, cur.len);
                let stop = done.covered + cur.len.min(len - done.covered);
                while done.covered < stop {
                    let run = pos
                        .next_run(stop - done.covered)
                        .map_err(|e| e.after(done.covered))?;
                    let pieces = mem
                        .pieces(run.gpa, run.len)
                        .map_err(|f| fault(done.covered, f))?;
                    for piece in pieces {
                        if !merge(out, done, piece.host, piece.len) {
                            return Ok(());
                        }
                        let _ = self.cur.skip(piece.len);
                    }
                }
            }
            Ok(())
        }
    }

    /// Adds a piece to the export, merging it into the last entry when it
    /// continues it in host memory. False when `out` is full.
    #[inline(always)]
    fn merge(out: &mut [libc::iovec], done: &mut IovecExport, host: *mut u8, len: usize) -> bool {
        if let Some(last) = done.count.checked_sub(1).and_then(|i| out.get_mut(i)) {
            if last.iov_base.cast::<u8>().wrapping_add(last.iov_len) == host {
                last.iov_len += len;
                done.covered += len;
                return true;
            }
        }
        let Some(slot) = out.get_mut(done.count) else {
            return false;
        };
        *slot = libc::iovec {
            iov_base: host.cast(),
            iov_len: len,
        };
        done.count += 1;
        done.covered += len;
        true
    }
}
