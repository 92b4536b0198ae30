//! The callback backend: guest memory reached through C function pointers
//! and a context pointer (`pr_memory_ops`), implementing the core's
//! `GuestMemory`.

use core::ffi::{c_int, c_void};

use pagedrange::memory::FAULT_UNMAPPED;
use pagedrange::{GuestMemory, MemoryFault};

/// Reads `len` bytes at guest address `gpa` into `dst`. Returns 0 on
/// success, any other value on failure.
pub type ReadCallback =
    unsafe extern "C" fn(ctx: *mut c_void, gpa: u64, dst: *mut c_void, len: usize) -> c_int;

/// Writes `len` bytes from `src` to guest address `gpa`. Returns 0 on
/// success, any other value on failure.
pub type WriteCallback =
    unsafe extern "C" fn(ctx: *mut c_void, gpa: u64, src: *const c_void, len: usize) -> c_int;

/// Sets `len` bytes at guest address `gpa` to `value`. Returns 0 on success,
/// any other value on failure.
pub type FillCallback =
    unsafe extern "C" fn(ctx: *mut c_void, gpa: u64, value: u8, len: usize) -> c_int;

/// Guest memory callbacks.
///
/// Each callback gets the context pointer given with the table, a guest
/// physical address and a byte count (never 0), and returns 0 on success or
/// any nonzero code on failure; the code is reported back unchanged. A
/// callback transfers the whole run or fails: on failure none of its bytes
/// count as transferred. The host buffer passed to `read`/`write` is borrowed
/// for the duration of the call only. Callbacks run synchronously on the
/// thread that called the library, and concurrently when the same memory is
/// used from several threads.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct MemoryOps {
    /// Copies guest bytes into a host buffer. Required.
    pub read: Option<
        unsafe extern "C" fn(ctx: *mut c_void, gpa: u64, dst: *mut c_void, len: usize) -> c_int,
    >,
    /// Copies a host buffer into guest memory. Required.
    pub write: Option<
        unsafe extern "C" fn(ctx: *mut c_void, gpa: u64, src: *const c_void, len: usize) -> c_int,
    >,
    /// Sets guest bytes to one value. Optional: when NULL, fills are done with
    /// `write` from a 4 KiB stack buffer holding the value, one call per
    /// 4 KiB piece of each run.
    pub fill:
        Option<unsafe extern "C" fn(ctx: *mut c_void, gpa: u64, value: u8, len: usize) -> c_int>,
}

static_assertions::assert_eq_size!(MemoryOps, [usize; 3]);
static_assertions::const_assert_eq!(core::mem::offset_of!(MemoryOps, read), 0);
static_assertions::const_assert_eq!(
    core::mem::offset_of!(MemoryOps, write),
    core::mem::size_of::<usize>()
);
static_assertions::const_assert_eq!(
    core::mem::offset_of!(MemoryOps, fill),
    2 * core::mem::size_of::<usize>()
);

/// Size of the stack buffer used to emulate a missing `fill` callback.
const FILL_CHUNK: usize = 4096;

/// Guest memory implemented by [`MemoryOps`] callbacks and a context pointer.
#[derive(Debug)]
pub struct CallbackMemory {
    read: ReadCallback,
    write: WriteCallback,
    fill: Option<FillCallback>,
    ctx: *mut c_void,
}

// SAFETY: `CallbackMemory::new`'s contract requires the callbacks and the
// context to be usable from any thread, concurrently; the struct itself only
// holds copies of those pointers.
unsafe impl Send for CallbackMemory {}
// SAFETY: as above; no method mutates the struct.
unsafe impl Sync for CallbackMemory {}

impl CallbackMemory {
    /// Wraps a callback table and its context. Returns `None` when `read` or
    /// `write` is missing.
    ///
    /// # Safety
    /// For as long as the returned value (or anything derived from it) lives:
    /// the callbacks must be safe to call with `ctx`, any GPA and any length,
    /// from any thread and concurrently, and must touch at most `len` bytes of
    /// the host buffer they are given.
    pub unsafe fn new(ops: MemoryOps, ctx: *mut c_void) -> Option<Self> {
        Some(Self {
            read: ops.read?,
            write: ops.write?,
            fill: ops.fill,
            ctx,
        })
    }
}

fn check(gpa: u64, rc: c_int) -> Result<(), MemoryFault> {
    if rc == 0 {
        Ok(())
    } else {
        Err(MemoryFault {
            gpa,
            code: rc,
            done: 0,
        })
    }
}

impl GuestMemory for CallbackMemory {
    fn read(&self, gpa: u64, dst: &mut [u8]) -> Result<(), MemoryFault> {
        // SAFETY: `dst` is a live, writable host buffer of `dst.len()` bytes
        // for the whole call; `new`'s contract covers the callback and ctx.
        let rc = unsafe { (self.read)(self.ctx, gpa, dst.as_mut_ptr().cast(), dst.len()) };
        check(gpa, rc)
    }

    fn write(&self, gpa: u64, src: &[u8]) -> Result<(), MemoryFault> {
        // SAFETY: `src` is a live host buffer of `src.len()` bytes for the
        // whole call; `new`'s contract covers the callback and ctx.
        let rc = unsafe { (self.write)(self.ctx, gpa, src.as_ptr().cast(), src.len()) };
        check(gpa, rc)
    }

    fn fill(&self, gpa: u64, value: u8, len: usize) -> Result<(), MemoryFault> {
        if let Some(fill) = self.fill {
            // SAFETY: no host buffer is involved; `new`'s contract covers the
            // callback and ctx.
            let rc = unsafe { fill(self.ctx, gpa, value, len) };
            return check(gpa, rc);
        }
        // Only as much of the stack buffer as the run needs is filled, so a
        // short run does not pay for a whole 4 KiB memset.
        let mut buf = core::mem::MaybeUninit::<[u8; FILL_CHUNK]>::uninit();
        let first = len.min(FILL_CHUNK);
        // SAFETY: `first <= FILL_CHUNK` bytes of `buf` are written, then only
        // those (now initialized) bytes are borrowed, for this call only.
        let chunk = unsafe {
            core::ptr::write_bytes(buf.as_mut_ptr().cast::<u8>(), value, first);
            core::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), first)
        };
        let mut done = 0usize;
        while done < len {
            let n = (len - done).min(first);
            let at = gpa.checked_add(done as u64).ok_or(MemoryFault {
                gpa,
                code: FAULT_UNMAPPED,
                done: 0,
            })?;
            // The run fails as a whole: report its start, like every other
            // callback failure.
            self.write(at, &chunk[..n]).map_err(|f| MemoryFault {
                gpa,
                code: f.code,
                done: 0,
            })?;
            done += n;
        }
        Ok(())
    }
}
