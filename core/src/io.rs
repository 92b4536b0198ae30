//! Moving bytes between host buffers and guest memory sequentially: the
//! [`MemoryRead`] / [`MemoryWrite`] traits, and the reader and writer
//! that implement them over any [`Cursor`].
//!
//! Every transfer calls the [`GuestMemory`] backend once per physically
//! contiguous run. When a run fails, the bytes of the runs before it are
//! transferred and reported as `done` in the [`TransferError`]; a cursor
//! then stands exactly `done` bytes further than before the call, at the
//! start of the failed run, so a retry resumes where the failure happened.

use core::mem::{size_of, MaybeUninit};

use core::marker::PhantomData;

use crate::cursor::{Cursor, IterWindows, OneWindow, WindowSource};
use crate::error::TransferError;
use crate::memory::GuestMemory;
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

/// A [`Cursor`] with the guest memory it moves bytes of: a reader (`D` is
/// [`Reads`], a [`MemoryRead`]) or a writer (`D` is [`Writes`], a
/// [`MemoryWrite`]). Everything but the direction is written once.
///
/// [`PagedRangeReader`], [`PagedRangeWriter`], [`PagedRangesReader`] and
/// [`PagedRangesWriter`] are its four forms.
#[derive(Debug)]
pub struct CursorIo<'m, S, M: ?Sized, D> {
    cursor: Cursor<S>,
    mem: &'m M,
    _direction: PhantomData<D>,
}

/// The direction of a reader.
#[derive(Debug)]
pub enum Reads {}

/// The direction of a writer.
#[derive(Debug)]
pub enum Writes {}

/// A [`MemoryRead`] over a [`Cursor`] and a guest memory.
pub type Reader<'m, S, M> = CursorIo<'m, S, M, Reads>;

/// A [`MemoryWrite`] over a [`Cursor`] and a guest memory.
pub type Writer<'m, S, M> = CursorIo<'m, S, M, Writes>;

/// A [`MemoryRead`] cursor over a [`PagedRange`].
pub type PagedRangeReader<'a, 'm, M> = Reader<'m, OneWindow<'a>, M>;

/// A [`MemoryWrite`] cursor over a [`PagedRange`].
pub type PagedRangeWriter<'a, 'm, M> = Writer<'m, OneWindow<'a>, M>;

/// A [`MemoryRead`] cursor over a [`PagedRanges`].
pub type PagedRangesReader<'a, 'm, T, M> = Reader<'m, IterWindows<'a, T>, M>;

/// A [`MemoryWrite`] cursor over a [`PagedRanges`].
pub type PagedRangesWriter<'a, 'm, T, M> = Writer<'m, IterWindows<'a, T>, M>;

impl<'a, 'm, M: GuestMemory + ?Sized, D> CursorIo<'m, OneWindow<'a>, M, D> {
    /// A cursor over `range` in `mem`, at its first byte.
    pub fn new(range: PagedRange<'a>, mem: &'m M) -> Self {
        Self::over(range.cursor(), mem)
    }

    /// The part of the range not moved yet.
    pub fn remaining(&self) -> PagedRange<'a> {
        self.cursor.remaining_window()
    }
}

impl<'a, 'm, T, M, D> CursorIo<'m, IterWindows<'a, T>, M, D>
where
    T: Iterator<Item = PagedRange<'a>> + Clone,
    M: GuestMemory + ?Sized,
{
    /// A cursor over `ranges` in `mem`, at its first byte.
    pub fn new(ranges: &PagedRanges<'a, T>, mem: &'m M) -> Self {
        Self::over(ranges.cursor(), mem)
    }
}

impl<'m, S: WindowSource, M: GuestMemory + ?Sized, D> CursorIo<'m, S, M, D> {
    /// A reader or writer at `cursor` in `mem`.
    pub fn over(cursor: Cursor<S>, mem: &'m M) -> Self {
        Self {
            cursor,
            mem,
            _direction: PhantomData,
        }
    }

    /// Splits off a cursor over the next `len` bytes and advances this one
    /// past them: hand "the data part" of a request to a backend while this
    /// cursor moves on to what follows. Fails (moving nothing) when `len`
    /// exceeds what remains.
    pub fn limit(&mut self, len: usize) -> Result<Self, TransferError>
    where
        S: Clone,
    {
        Ok(Self::over(self.cursor.limit(len)?, self.mem))
    }
}

impl<S: WindowSource, M: GuestMemory + ?Sized> MemoryRead for Reader<'_, S, M> {
    fn read(&mut self, data: &mut [u8]) -> Result<(), TransferError> {
        self.cursor.read(self.mem, data)
    }

    fn skip(&mut self, len: usize) -> Result<(), TransferError> {
        Ok(self.cursor.skip(len)?)
    }

    fn len(&self) -> usize {
        self.cursor.len()
    }
}

impl<S: WindowSource, M: GuestMemory + ?Sized> MemoryWrite for Writer<'_, S, M> {
    fn write(&mut self, data: &[u8]) -> Result<(), TransferError> {
        self.cursor.write(self.mem, data)
    }

    fn fill(&mut self, value: u8, len: usize) -> Result<(), TransferError> {
        self.cursor.fill(self.mem, value, len)
    }

    fn len(&self) -> usize {
        self.cursor.len()
    }
}
