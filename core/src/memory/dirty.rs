//! Dirty page logging for live migration: a wrapper that records which
//! guest pages writes and fills changed.

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

use super::GuestMemory;
use crate::error::{InvalidGpn, MemoryFault, TransferError};
use crate::page::PAGE_SHIFT;
use crate::PagedRange;

/// Code a dirty-logged memory reports for a write to a page its bitmap does
/// not cover (nothing is written).
pub const FAULT_UNTRACKED: i32 = -2;

/// Where dirty pages are recorded.
pub enum DirtyLog {
    /// A caller-owned bitmap: bit `gpn % 64` of word `gpn / 64` stands for
    /// guest page `gpn`, for GPNs below `pages`. Bits are set atomically.
    Bitmap {
        /// First word of the bitmap.
        words: *const AtomicU64,
        /// Guest pages the bitmap covers.
        pages: u64,
    },
    /// A function told the guest address and length of each run written
    /// successfully (one call per run).
    Callback(Box<dyn Fn(u64, usize) + Send + Sync>),
}

impl fmt::Debug for DirtyLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DirtyLog::Bitmap { words, pages } => f
                .debug_struct("Bitmap")
                .field("words", words)
                .field("pages", pages)
                .finish(),
            DirtyLog::Callback(_) => f.write_str("Callback"),
        }
    }
}

/// Why a dirty log was refused.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum DirtyLogError {
    /// The bitmap pointer is NULL or not 8-byte aligned.
    #[error("the dirty bitmap pointer is NULL or not 8-byte aligned")]
    BadBitmap,
    /// The bitmap would cover pages that cannot exist (beyond 2^52) or be
    /// larger than the address space.
    #[error("a bitmap of {pages} pages is larger than any guest")]
    TooLarge {
        /// Pages asked for.
        pages: u64,
    },
}

impl DirtyLog {
    /// A log into the bitmap at `words`, covering GPNs `0 .. pages`.
    ///
    /// # Safety
    /// `words` must point to `ceil(pages / 64)` 8-byte aligned words that
    /// stay valid while the log (or a memory using it) lives, and that are
    /// only accessed atomically meanwhile.
    pub unsafe fn bitmap(words: *mut u64, pages: u64) -> Result<Self, DirtyLogError> {
        if words.is_null() || !words.is_aligned() {
            return Err(DirtyLogError::BadBitmap);
        }
        // No page at or above 2^52 is addressable: a longer bitmap is a
        // mistake.
        if pages > crate::MAX_GPN + 1 {
            return Err(DirtyLogError::TooLarge { pages });
        }
        let bytes = usize::try_from(pages.div_ceil(64))
            .ok()
            .and_then(|w| w.checked_mul(8))
            .filter(|&b| b <= isize::MAX as usize)
            .ok_or(DirtyLogError::TooLarge { pages })?;
        (words as usize)
            .checked_add(bytes)
            .ok_or(DirtyLogError::TooLarge { pages })?;
        Ok(Self::Bitmap {
            words: words.cast_const().cast(),
            pages,
        })
    }

    /// A log through `f(gpa, len)`, called after each run is written (from
    /// the writing thread, concurrently when several threads write).
    pub fn callback(f: impl Fn(u64, usize) + Send + Sync + 'static) -> Self {
        Self::Callback(Box::new(f))
    }

    /// Refuses a write that the log could not record, before it happens.
    fn check(&self, gpa: u64, len: usize) -> Result<(), MemoryFault> {
        if let DirtyLog::Bitmap { pages, .. } = *self {
            let last = last_byte(gpa, len);
            if last.is_none_or(|last| last >> PAGE_SHIFT >= pages) {
                return Err(MemoryFault {
                    gpa,
                    code: FAULT_UNTRACKED,
                    done: 0,
                });
            }
        }
        Ok(())
    }

    /// Records that the `len` bytes at `gpa` were written.
    fn mark(&self, gpa: u64, len: usize) {
        if len == 0 {
            return;
        }
        match *self {
            DirtyLog::Bitmap { words, pages } => {
                let Some(last) = last_byte(gpa, len) else {
                    return;
                };
                // Only pages the bitmap covers are marked (writes beyond it
                // were refused by `check`).
                let Some(top) = pages.checked_sub(1) else {
                    return;
                };
                let (first, last) = (gpa >> PAGE_SHIFT, (last >> PAGE_SHIFT).min(top));
                let mut gpn = first;
                while gpn <= last {
                    let word = gpn / 64;
                    let lo = gpn % 64;
                    let hi = (last - word * 64).min(63);
                    let mask = (u64::MAX >> (63 - hi)) & (u64::MAX << lo);
                    // SAFETY: `word <= (pages - 1) / 64`, inside the bitmap
                    // per `DirtyLog::bitmap`'s contract, which also makes
                    // every access to it atomic.
                    unsafe { (*words.add(word as usize)).fetch_or(mask, Ordering::Relaxed) };
                    gpn = (word + 1) * 64;
                }
            }
            DirtyLog::Callback(ref f) => f(gpa, len),
        }
    }
}

/// Address of the last byte of `len > 0` bytes at `gpa`, if it exists.
fn last_byte(gpa: u64, len: usize) -> Option<u64> {
    gpa.checked_add(u64::try_from(len).ok()?.checked_sub(1)?)
}

// SAFETY: the log holds a bitmap pointer accessed only atomically (per
// `DirtyLog::bitmap`'s contract, from any thread), or a `Send + Sync`
// function.
unsafe impl Send for DirtyLog {}
// SAFETY: as above.
unsafe impl Sync for DirtyLog {}

/// Guest memory `M` whose writes and fills are recorded in a [`DirtyLog`].
///
/// Each run is marked after the backend wrote it successfully, so a failed
/// run (or the runs after it) is never marked. With a bitmap log, a run
/// touching a page the bitmap does not cover fails with
/// [`FAULT_UNTRACKED`] before anything is written.
#[derive(Debug)]
pub struct DirtyTracked<M> {
    inner: M,
    log: DirtyLog,
}

impl<M: GuestMemory> DirtyTracked<M> {
    /// Wraps `inner` with `log`.
    pub fn new(inner: M, log: DirtyLog) -> Self {
        Self { inner, log }
    }

    /// The wrapped memory.
    pub fn inner(&self) -> &M {
        &self.inner
    }

    /// Marks the pages of the window's runs as dirty, for writes the library
    /// cannot see (IO issued straight into guest pages through exported
    /// iovecs). Like a write, it refuses (marking nothing) a window touching
    /// a page the bitmap does not cover, with [`FAULT_UNTRACKED`].
    pub fn mark_window(&self, window: &PagedRange<'_>) -> Result<(), WindowMarkError> {
        self.check_window(window)?;
        self.mark_checked(window);
        Ok(())
    }

    /// Checks that [`mark_window`](Self::mark_window) would accept
    /// `window`, marking nothing; with [`mark_checked`](Self::mark_checked)
    /// it lets callers check several windows (or logs) before marking any.
    pub fn check_window(&self, window: &PagedRange<'_>) -> Result<(), WindowMarkError> {
        let mut untracked = Ok(());
        window.try_for_each_run(|run| {
            if untracked.is_ok() {
                // A run's length never exceeds the window's, a usize.
                untracked = self.log.check(run.start, run.len() as usize);
            }
        })?;
        Ok(untracked?)
    }

    /// Marks a window that [`check_window`](Self::check_window) accepted.
    pub fn mark_checked(&self, window: &PagedRange<'_>) {
        let _ = window.try_for_each_run(|run| self.log.mark(run.start, run.len() as usize));
    }
}

/// Why [`DirtyTracked::mark_window`] refused a window.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum WindowMarkError {
    /// A page of the window cannot be addressed.
    #[error(transparent)]
    InvalidGpn(#[from] InvalidGpn),
    /// A page of the window is beyond the dirty bitmap.
    #[error(transparent)]
    Untracked(#[from] MemoryFault),
}

impl From<WindowMarkError> for TransferError {
    /// The error of a transfer refused before any byte moved.
    fn from(e: WindowMarkError) -> Self {
        match e {
            WindowMarkError::InvalidGpn(e) => TransferError::InvalidGpn {
                done: 0,
                gpn: e.gpn,
            },
            WindowMarkError::Untracked(f) => f.into(),
        }
    }
}

impl<M> DirtyTracked<M> {
    /// Marks what a write of `len` bytes at `gpa` changed: all of it, or
    /// the part moved before a fault (a partial write changed the guest
    /// too, and migration must copy it again).
    #[inline(always)]
    fn marked(
        &self,
        gpa: u64,
        len: usize,
        result: Result<(), MemoryFault>,
    ) -> Result<(), MemoryFault> {
        match result {
            Ok(()) => {
                self.log.mark(gpa, len);
                Ok(())
            }
            Err(f) => {
                self.log.mark(gpa, f.done.min(len));
                Err(f)
            }
        }
    }
}

impl<M: GuestMemory> GuestMemory for DirtyTracked<M> {
    fn read(&self, gpa: u64, dst: &mut [u8]) -> Result<(), MemoryFault> {
        self.inner.read(gpa, dst)
    }

    fn write(&self, gpa: u64, src: &[u8]) -> Result<(), MemoryFault> {
        self.log.check(gpa, src.len())?;
        let result = self.inner.write(gpa, src);
        self.marked(gpa, src.len(), result)
    }

    fn fill(&self, gpa: u64, value: u8, len: usize) -> Result<(), MemoryFault> {
        self.log.check(gpa, len)?;
        let result = self.inner.fill(gpa, value, len);
        self.marked(gpa, len, result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::BufferMemory;
    use crate::page::PAGE_SIZE;

    #[test]
    fn bitmap_marks_exactly_the_written_pages() {
        let mut bits = [0u64; 3];
        // SAFETY: `bits` outlives the memory and is only read after it is
        // dropped.
        let log = unsafe { DirtyLog::bitmap(bits.as_mut_ptr(), 129) }.unwrap();
        let mem = DirtyTracked::new(BufferMemory::new(131 * PAGE_SIZE), log);
        mem.write(5 * 4096 + 4000, &[1; 200]).unwrap(); // pages 5 and 6
        mem.fill(63 * 4096, 0, 2 * 4096 + 1).unwrap(); // pages 63, 64, 65
        let mut buf = [0u8; 16];
        mem.read(100 * 4096, &mut buf).unwrap(); // reads mark nothing
                                                 // Page 129 is beyond the bitmap: refused before writing.
        assert_eq!(
            mem.write(128 * 4096 + 4095, &[1, 2]),
            Err(MemoryFault {
                gpa: 128 * 4096 + 4095,
                code: FAULT_UNTRACKED,
                done: 0
            })
        );
        assert_eq!(
            mem.inner().to_vec()[128 * 4096 + 4095],
            0,
            "nothing written"
        );
        drop(mem);
        assert_eq!(bits[0], (1 << 5) | (1 << 6) | (1 << 63));
        assert_eq!(bits[1], 0b11);
        assert_eq!(bits[2], 0);
    }

    #[test]
    fn failed_writes_mark_nothing() {
        let mut bits = [0u64; 1];
        // SAFETY: as above.
        let log = unsafe { DirtyLog::bitmap(bits.as_mut_ptr(), 64) }.unwrap();
        let mem = DirtyTracked::new(BufferMemory::new(2 * PAGE_SIZE), log);
        assert!(
            mem.write(4096, &[1; 4097]).is_err(),
            "the backend ends at page 2"
        );
        assert!(mem.fill(0, 1, 3 * 4096).is_err());
        mem.fill(0, 1, 10).unwrap();
        drop(mem);
        assert_eq!(bits[0], 1);
    }

    #[test]
    fn wide_runs_fill_whole_words() {
        let mut bits = [0u64; 4];
        {
            // SAFETY: as above; the log is gone before `bits` is read.
            let log = unsafe { DirtyLog::bitmap(bits.as_mut_ptr(), 256) }.unwrap();
            log.mark(3 * 4096, 200 * 4096);
        }
        assert_eq!(bits, [!0b111, u64::MAX, u64::MAX, (1 << 11) - 1]);
    }

    #[test]
    fn refuses_bad_bitmaps() {
        let mut bits = [0u64; 2];
        let odd = bits.as_mut_ptr().cast::<u8>().wrapping_add(1).cast::<u64>();
        // SAFETY: refused before any access.
        unsafe {
            assert_eq!(
                DirtyLog::bitmap(odd, 64).unwrap_err(),
                DirtyLogError::BadBitmap
            );
            assert_eq!(
                DirtyLog::bitmap(core::ptr::null_mut(), 64).unwrap_err(),
                DirtyLogError::BadBitmap
            );
            assert!(matches!(
                DirtyLog::bitmap(bits.as_mut_ptr(), u64::MAX).unwrap_err(),
                DirtyLogError::TooLarge { .. }
            ));
        }
    }
}
