//! Moving bytes between host buffers and guest memory through ranges:
//! the [`MemoryRead`] / [`MemoryWrite`] traits and their cursors.
//!
//! Every transfer calls the [`GuestMemory`] backend once per physically
//! contiguous run. When a run fails, the bytes of the runs before it are
//! transferred and reported as `done` in the [`TransferError`]; a cursor
//! then stands exactly `done` bytes further than before the call, at the
//! start of the failed run, so a retry resumes where the failure happened.

use core::mem::{size_of, MaybeUninit};

use crate::error::{OutOfRange, TransferError};
use crate::memory::GuestMemory;
use crate::paged_ranges::PagedRangesIter;
use crate::{PagedRange, PagedRanges};

/// Types that may be read from and written to guest memory as raw bytes.
///
/// # Safety
/// Implementors must be plain data: every bit pattern of `size_of::<Self>()`
/// bytes is a valid value, and the type has no padding bytes (so its bytes
/// can be copied out without exposing uninitialized memory). Typically a
/// `#[repr(C)]` struct of integers laid out without holes.
pub unsafe trait Plain: Copy + 'static {}

macro_rules! plain {
    ($($t:ty),*) => { $(
        // SAFETY: primitive integers accept every bit pattern and have no
        // padding.
        unsafe impl Plain for $t {}
    )* };
}
plain!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize);

// SAFETY: an array of plain values has no padding between elements and each
// element accepts every bit pattern.
unsafe impl<T: Plain, const N: usize> Plain for [T; N] {}

/// A cursor reading guest memory sequentially.
pub trait MemoryRead {
    /// Reads `data.len()` bytes and advances past them.
    ///
    /// Asking for more than [`len`](Self::len) bytes fails with
    /// [`TransferError::OutOfRange`] and reads nothing. On any other error the
    /// cursor advances by exactly [`TransferError::done`] bytes.
    fn read(&mut self, data: &mut [u8]) -> Result<(), TransferError>;

    /// Advances past `len` bytes without reading them.
    fn skip(&mut self, len: usize) -> Result<(), TransferError>;

    /// Bytes left to read.
    fn len(&self) -> usize;

    /// True when nothing is left to read.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads everything that is left into a new vector of
    /// [`len`](Self::len) bytes.
    fn read_all(&mut self) -> Result<Vec<u8>, TransferError> {
        let mut v = vec![0; self.len()];
        self.read(&mut v)?;
        Ok(v)
    }

    /// Reads one plain value (in the guest's byte order: the bytes are copied
    /// as they are).
    fn read_plain<T: Plain>(&mut self) -> Result<T, TransferError>
    where
        Self: Sized,
    {
        let mut value = MaybeUninit::<T>::zeroed();
        // SAFETY: `value` is `size_of::<T>()` initialized (zeroed) bytes that
        // nothing else references while the slice lives.
        let bytes = unsafe {
            core::slice::from_raw_parts_mut(value.as_mut_ptr().cast::<u8>(), size_of::<T>())
        };
        self.read(bytes)?;
        // SAFETY: `T: Plain` accepts every bit pattern, and all bytes are
        // initialized.
        Ok(unsafe { value.assume_init() })
    }
}

/// A cursor writing guest memory sequentially.
pub trait MemoryWrite {
    /// Writes `data` and advances past it.
    ///
    /// Writing more than [`len`](Self::len) bytes fails with
    /// [`TransferError::OutOfRange`] and writes nothing. On any other error
    /// the cursor advances by exactly [`TransferError::done`] bytes.
    fn write(&mut self, data: &[u8]) -> Result<(), TransferError>;

    /// Sets the next `len` bytes to `value` and advances past them; errors as
    /// for [`write`](Self::write).
    fn fill(&mut self, value: u8, len: usize) -> Result<(), TransferError>;

    /// Zeroes the next `len` bytes.
    fn zero(&mut self, len: usize) -> Result<(), TransferError> {
        self.fill(0, len)
    }

    /// Bytes left to write.
    fn len(&self) -> usize;

    /// True when nothing is left to write.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes one plain value's bytes as they are.
    fn write_plain<T: Plain>(&mut self, value: &T) -> Result<(), TransferError>
    where
        Self: Sized,
    {
        // SAFETY: `T: Plain` has no padding, so all `size_of::<T>()` bytes
        // behind the reference are initialized; the slice lives no longer
        // than the borrow.
        let bytes = unsafe {
            core::slice::from_raw_parts((value as *const T).cast::<u8>(), size_of::<T>())
        };
        self.write(bytes)
    }
}

/// One transfer: the host side of a read, write or fill.
pub(crate) enum Transfer<'b> {
    Read(&'b mut [u8]),
    Write(&'b [u8]),
    Fill(u8, usize),
}

impl Transfer<'_> {
    pub(crate) fn len(&self) -> usize {
        match self {
            Transfer::Read(d) => d.len(),
            Transfer::Write(s) => s.len(),
            Transfer::Fill(_, n) => *n,
        }
    }
}

/// Transfers every byte of `window` (already cut to size) to or from host
/// positions `base ..`, one backend call per run. Errors count `done` from
/// position 0 of the host side.
#[inline]
fn transfer_window<M: GuestMemory + ?Sized>(
    window: PagedRange<'_>,
    mem: &M,
    t: &mut Transfer<'_>,
    base: usize,
) -> Result<(), TransferError> {
    // Pick the operation once, not once per run.
    match t {
        Transfer::Read(d) => for_each_run(window, base, |gpa, pos, n| {
            mem.read(gpa, &mut d[pos..pos + n])
        }),
        Transfer::Write(s) => {
            for_each_run(window, base, |gpa, pos, n| mem.write(gpa, &s[pos..pos + n]))
        }
        Transfer::Fill(v, _) => {
            let v = *v;
            for_each_run(window, base, |gpa, _, n| mem.fill(gpa, v, n))
        }
    }
}

/// Calls `op(gpa, host position, length)` for each run of `window`, host
/// positions counting from `base`.
#[inline(always)]
fn for_each_run(
    mut window: PagedRange<'_>,
    base: usize,
    mut op: impl FnMut(u64, usize, usize) -> Result<(), crate::MemoryFault>,
) -> Result<(), TransferError> {
    let mut pos = base;
    while let Some(run) = window.pop_front_run() {
        let (range, n) = run.map_err(|e| TransferError::InvalidGpn {
            done: pos,
            gpn: e.gpn,
        })?;
        op(range.start, pos, n).map_err(|f| TransferError::Memory {
            done: pos,
            gpa: f.gpa,
            code: f.code,
        })?;
        pos += n;
    }
    Ok(())
}

fn out_of_range(len: usize, available: usize) -> TransferError {
    TransferError::OutOfRange(OutOfRange {
        offset: 0,
        len,
        available,
    })
}

/// Transfers the first `t.len()` bytes of `range`.
pub(crate) fn transfer_range<M: GuestMemory + ?Sized>(
    range: &PagedRange<'_>,
    mem: &M,
    mut t: Transfer<'_>,
) -> Result<(), TransferError> {
    let window = range
        .try_subrange(0, t.len())
        .map_err(|_| out_of_range(t.len(), range.len()))?;
    transfer_window(window, mem, &mut t, 0)
}

/// Transfers the first `t.len()` bytes of the buffer made of `windows`,
/// which holds `available` bytes.
pub(crate) fn transfer_ranges<'a, M, I>(
    windows: I,
    available: usize,
    mem: &M,
    t: Transfer<'_>,
) -> Result<(), TransferError>
where
    M: GuestMemory + ?Sized,
    I: Iterator<Item = PagedRange<'a>>,
{
    let mut cursor = RangesCursor {
        cur: PagedRange::empty(),
        rest: windows,
        len: available,
    };
    cursor.transfer(mem, t)
}

/// Position in a sequence of windows: the rest of the current window, the
/// windows after it, and the bytes left in all of them.
#[derive(Clone, Debug)]
struct RangesCursor<'a, I> {
    cur: PagedRange<'a>,
    rest: I,
    len: usize,
}

impl<'a, I: Iterator<Item = PagedRange<'a>>> RangesCursor<'a, I> {
    /// The current window, moving to the next non-empty one when it is used
    /// up.
    fn current(&mut self) -> Option<&mut PagedRange<'a>> {
        while self.cur.is_empty() {
            self.cur = self.rest.next()?;
        }
        Some(&mut self.cur)
    }

    fn transfer<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &M,
        mut t: Transfer<'_>,
    ) -> Result<(), TransferError> {
        let total = t.len();
        if total > self.len {
            return Err(out_of_range(total, self.len));
        }
        let mut pos = 0;
        while pos < total {
            let want = total - pos;
            let Some(cur) = self.current() else {
                // Fewer bytes than `len` promised (see
                // `PagedRanges::from_window`).
                return Err(out_of_range(want, 0).after(pos));
            };
            let n = cur.len().min(want);
            let result = transfer_window(cur.subrange(0, n), mem, &mut t, pos);
            // Errors count `done` from the start of the whole transfer.
            let moved = match &result {
                Ok(()) => n,
                Err(e) => e.done() - pos,
            };
            cur.skip(moved);
            self.len -= moved;
            pos += moved;
            result?;
        }
        Ok(())
    }

    fn skip(&mut self, len: usize) -> Result<(), TransferError> {
        if len > self.len {
            return Err(out_of_range(len, self.len));
        }
        let mut left = len;
        while left > 0 {
            let Some(cur) = self.current() else {
                return Err(out_of_range(left, 0));
            };
            let n = cur.len().min(left);
            cur.skip(n);
            self.len -= n;
            left -= n;
        }
        Ok(())
    }
}

/// A [`MemoryRead`] cursor over a [`PagedRange`].
#[derive(Debug)]
pub struct PagedRangeReader<'a, 'm, M: ?Sized> {
    range: PagedRange<'a>,
    mem: &'m M,
}

/// A [`MemoryWrite`] cursor over a [`PagedRange`].
#[derive(Debug)]
pub struct PagedRangeWriter<'a, 'm, M: ?Sized> {
    range: PagedRange<'a>,
    mem: &'m M,
}

impl<'a, 'm, M: GuestMemory + ?Sized> PagedRangeReader<'a, 'm, M> {
    /// A reader over `range` in `mem`, at its first byte.
    pub fn new(range: PagedRange<'a>, mem: &'m M) -> Self {
        Self { range, mem }
    }

    /// The part of the range not read yet.
    pub fn remaining(&self) -> PagedRange<'a> {
        self.range
    }

    /// Splits off a cursor over the next `len` bytes and advances this one
    /// past them: hand "the data part" of a request to a backend while this
    /// cursor moves on to what follows. Fails (moving nothing) when `len`
    /// exceeds what remains.
    pub fn limit(&mut self, len: usize) -> Result<Self, TransferError> {
        let (front, back) = self.range.try_split(len)?;
        self.range = back;
        Ok(Self::new(front, self.mem))
    }
}

impl<'a, 'm, M: GuestMemory + ?Sized> PagedRangeWriter<'a, 'm, M> {
    /// A writer over `range` in `mem`, at its first byte.
    pub fn new(range: PagedRange<'a>, mem: &'m M) -> Self {
        Self { range, mem }
    }

    /// The part of the range not written yet.
    pub fn remaining(&self) -> PagedRange<'a> {
        self.range
    }

    /// Splits off a cursor over the next `len` bytes and advances this one
    /// past them: hand "the data part" of a request to a backend while this
    /// cursor moves on to what follows. Fails (moving nothing) when `len`
    /// exceeds what remains.
    pub fn limit(&mut self, len: usize) -> Result<Self, TransferError> {
        let (front, back) = self.range.try_split(len)?;
        self.range = back;
        Ok(Self::new(front, self.mem))
    }
}

impl<M: GuestMemory + ?Sized> MemoryRead for PagedRangeReader<'_, '_, M> {
    fn read(&mut self, data: &mut [u8]) -> Result<(), TransferError> {
        self.range.advance(self.mem, Transfer::Read(data))
    }

    fn skip(&mut self, len: usize) -> Result<(), TransferError> {
        Ok(self.range.try_skip(len)?)
    }

    fn len(&self) -> usize {
        self.range.len()
    }
}

impl<M: GuestMemory + ?Sized> MemoryWrite for PagedRangeWriter<'_, '_, M> {
    fn write(&mut self, data: &[u8]) -> Result<(), TransferError> {
        self.range.advance(self.mem, Transfer::Write(data))
    }

    fn fill(&mut self, value: u8, len: usize) -> Result<(), TransferError> {
        self.range.advance(self.mem, Transfer::Fill(value, len))
    }

    fn len(&self) -> usize {
        self.range.len()
    }
}

/// A [`MemoryRead`] cursor over a [`PagedRanges`].
#[derive(Debug)]
pub struct PagedRangesReader<'a, 'm, T, M: ?Sized> {
    cursor: RangesCursor<'a, PagedRangesIter<'a, T>>,
    mem: &'m M,
}

/// A [`MemoryWrite`] cursor over a [`PagedRanges`].
#[derive(Debug)]
pub struct PagedRangesWriter<'a, 'm, T, M: ?Sized> {
    cursor: RangesCursor<'a, PagedRangesIter<'a, T>>,
    mem: &'m M,
}

impl<'a, 'm, T, M> PagedRangesReader<'a, 'm, T, M>
where
    T: Iterator<Item = PagedRange<'a>> + Clone,
    M: GuestMemory + ?Sized,
{
    /// A reader over `ranges` in `mem`, at its first byte.
    pub fn new(ranges: &PagedRanges<'a, T>, mem: &'m M) -> Self {
        Self {
            cursor: RangesCursor {
                cur: PagedRange::empty(),
                rest: ranges.paged_ranges(),
                len: ranges.len(),
            },
            mem,
        }
    }
}

impl<'a, 'm, T, M> PagedRangesWriter<'a, 'm, T, M>
where
    T: Iterator<Item = PagedRange<'a>> + Clone,
    M: GuestMemory + ?Sized,
{
    /// A writer over `ranges` in `mem`, at its first byte.
    pub fn new(ranges: &PagedRanges<'a, T>, mem: &'m M) -> Self {
        Self {
            cursor: RangesCursor {
                cur: PagedRange::empty(),
                rest: ranges.paged_ranges(),
                len: ranges.len(),
            },
            mem,
        }
    }
}

impl<'a, I: Iterator<Item = PagedRange<'a>> + Clone> RangesCursor<'a, I> {
    /// A cursor over the next `len` bytes; this one advances past them.
    fn limit(&mut self, len: usize) -> Result<Self, TransferError> {
        let mut front = self.clone();
        self.skip(len)?;
        front.len = len;
        Ok(front)
    }
}

impl<'a, 'm, T, M> PagedRangesReader<'a, 'm, T, M>
where
    T: Iterator<Item = PagedRange<'a>> + Clone,
    M: GuestMemory + ?Sized,
{
    /// Splits off a reader over the next `len` bytes and advances this one
    /// past them. Fails (moving nothing) when `len` exceeds what remains.
    pub fn limit(&mut self, len: usize) -> Result<Self, TransferError> {
        Ok(Self {
            cursor: self.cursor.limit(len)?,
            mem: self.mem,
        })
    }
}

impl<'a, 'm, T, M> PagedRangesWriter<'a, 'm, T, M>
where
    T: Iterator<Item = PagedRange<'a>> + Clone,
    M: GuestMemory + ?Sized,
{
    /// Splits off a writer over the next `len` bytes and advances this one
    /// past them. Fails (moving nothing) when `len` exceeds what remains.
    pub fn limit(&mut self, len: usize) -> Result<Self, TransferError> {
        Ok(Self {
            cursor: self.cursor.limit(len)?,
            mem: self.mem,
        })
    }
}

impl<'a, T, M> MemoryRead for PagedRangesReader<'a, '_, T, M>
where
    T: Iterator<Item = PagedRange<'a>>,
    M: GuestMemory + ?Sized,
{
    fn read(&mut self, data: &mut [u8]) -> Result<(), TransferError> {
        self.cursor.transfer(self.mem, Transfer::Read(data))
    }

    fn skip(&mut self, len: usize) -> Result<(), TransferError> {
        self.cursor.skip(len)
    }

    fn len(&self) -> usize {
        self.cursor.len
    }
}

impl<'a, T, M> MemoryWrite for PagedRangesWriter<'a, '_, T, M>
where
    T: Iterator<Item = PagedRange<'a>>,
    M: GuestMemory + ?Sized,
{
    fn write(&mut self, data: &[u8]) -> Result<(), TransferError> {
        self.cursor.transfer(self.mem, Transfer::Write(data))
    }

    fn fill(&mut self, value: u8, len: usize) -> Result<(), TransferError> {
        self.cursor.transfer(self.mem, Transfer::Fill(value, len))
    }

    fn len(&self) -> usize {
        self.cursor.len
    }
}

impl<'a> PagedRange<'a> {
    /// Reads the first `dst.len()` bytes of the window into `dst`, one
    /// backend call per contiguous run.
    pub fn read<M: GuestMemory + ?Sized>(
        &self,
        mem: &M,
        dst: &mut [u8],
    ) -> Result<(), TransferError> {
        transfer_range(self, mem, Transfer::Read(dst))
    }

    /// Writes `src` over the first `src.len()` bytes of the window.
    pub fn write<M: GuestMemory + ?Sized>(&self, mem: &M, src: &[u8]) -> Result<(), TransferError> {
        transfer_range(self, mem, Transfer::Write(src))
    }

    /// Sets the first `len` bytes of the window to `value`.
    pub fn fill<M: GuestMemory + ?Sized>(
        &self,
        mem: &M,
        value: u8,
        len: usize,
    ) -> Result<(), TransferError> {
        transfer_range(self, mem, Transfer::Fill(value, len))
    }

    /// Runs `t` on the front of the window and drops the bytes it moved
    /// (also on failure), as a cursor does.
    pub(crate) fn advance<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &M,
        t: Transfer<'_>,
    ) -> Result<(), TransferError> {
        let len = t.len();
        let result = transfer_range(self, mem, t);
        self.skip(TransferError::moved(len, &result));
        result
    }

    /// A cursor reading the window from its first byte.
    pub fn reader<'m, M: GuestMemory + ?Sized>(&self, mem: &'m M) -> PagedRangeReader<'a, 'm, M> {
        PagedRangeReader::new(*self, mem)
    }

    /// A cursor writing the window from its first byte.
    pub fn writer<'m, M: GuestMemory + ?Sized>(&self, mem: &'m M) -> PagedRangeWriter<'a, 'm, M> {
        PagedRangeWriter::new(*self, mem)
    }
}
