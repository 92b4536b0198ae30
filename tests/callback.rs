//! `CallbackMemory` driven from Rust through `extern "C"` callbacks over a
//! Vec-backed context.

use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void};

use pagedrange::{
    GuestMemory, MemoryFault, MemoryRead, MemoryWrite, PagedRange, PagedRanges, TransferError,
    PAGE_SIZE,
};
use pagedrange_ffi::{CallbackMemory, FillCallback, MemoryOps, ReadCallback, WriteCallback};

const P: usize = PAGE_SIZE;
const PU: u64 = PAGE_SIZE as u64;

/// Code the callbacks return for an access outside the context's memory.
const UNMAPPED: c_int = -5;

/// Guest memory as a byte vector, a log of calls (`'r'`, `'w'`, `'f'`) and
/// an optional GPA at which calls fail with a code.
struct Ctx {
    mem: RefCell<Vec<u8>>,
    calls: RefCell<Vec<(char, u64, usize)>>,
    fail: Cell<Option<(u64, c_int)>>,
}

impl Ctx {
    fn new(pages: usize) -> Self {
        Self {
            mem: RefCell::new(vec![0; pages * P]),
            calls: RefCell::new(Vec::new()),
            fail: Cell::new(None),
        }
    }

    fn take_calls(&self) -> Vec<(char, u64, usize)> {
        std::mem::take(&mut *self.calls.borrow_mut())
    }

    /// Logs the call; returns the index range it covers, or the code to
    /// return.
    fn enter(&self, op: char, gpa: u64, len: usize) -> Result<std::ops::Range<usize>, c_int> {
        self.calls.borrow_mut().push((op, gpa, len));
        if let Some((at, code)) = self.fail.get() {
            if at == gpa {
                return Err(code);
            }
        }
        let start = usize::try_from(gpa).map_err(|_| UNMAPPED)?;
        let end = start.checked_add(len).ok_or(UNMAPPED)?;
        if end > self.mem.borrow().len() {
            return Err(UNMAPPED);
        }
        Ok(start..end)
    }
}

/// # Safety
/// `ctx` points to a live `Ctx` used on this thread only; `dst` is valid
/// for `len` bytes of writes.
unsafe extern "C" fn cb_read(ctx: *mut c_void, gpa: u64, dst: *mut c_void, len: usize) -> c_int {
    // SAFETY: see the function's contract.
    let ctx = unsafe { &*(ctx as *const Ctx) };
    match ctx.enter('r', gpa, len) {
        Ok(span) => {
            let mem = ctx.mem.borrow();
            // SAFETY: `dst` is valid for `len` bytes and does not overlap
            // the context's vector.
            unsafe { std::ptr::copy_nonoverlapping(mem[span].as_ptr(), dst.cast::<u8>(), len) };
            0
        }
        Err(code) => code,
    }
}

/// # Safety
/// As for [`cb_read`], with `src` valid for `len` bytes of reads.
unsafe extern "C" fn cb_write(ctx: *mut c_void, gpa: u64, src: *const c_void, len: usize) -> c_int {
    // SAFETY: see the function's contract.
    let ctx = unsafe { &*(ctx as *const Ctx) };
    match ctx.enter('w', gpa, len) {
        Ok(span) => {
            // SAFETY: `src` is valid for `len` bytes of reads.
            let src = unsafe { std::slice::from_raw_parts(src.cast::<u8>(), len) };
            ctx.mem.borrow_mut()[span].copy_from_slice(src);
            0
        }
        Err(code) => code,
    }
}

/// # Safety
/// `ctx` points to a live `Ctx` used on this thread only.
unsafe extern "C" fn cb_fill(ctx: *mut c_void, gpa: u64, value: u8, len: usize) -> c_int {
    // SAFETY: see the function's contract.
    let ctx = unsafe { &*(ctx as *const Ctx) };
    match ctx.enter('f', gpa, len) {
        Ok(span) => {
            ctx.mem.borrow_mut()[span].fill(value);
            0
        }
        Err(code) => code,
    }
}

fn ops(fill: bool) -> MemoryOps {
    MemoryOps {
        read: Some(cb_read as ReadCallback),
        write: Some(cb_write as WriteCallback),
        fill: if fill {
            Some(cb_fill as FillCallback)
        } else {
            None
        },
    }
}

/// A `CallbackMemory` over `ctx`.
fn memory(ctx: &Ctx, fill: bool) -> CallbackMemory {
    // SAFETY: the callbacks handle any GPA and length and touch at most `len`
    // bytes of the host buffer; `ctx` outlives the returned memory in every
    // test, and the memory is used on this thread only.
    unsafe { CallbackMemory::new(ops(fill), ctx as *const Ctx as *mut c_void) }.unwrap()
}

#[test]
fn new_requires_read_and_write() {
    let ctx = Ctx::new(1);
    let p = &ctx as *const Ctx as *mut c_void;
    let none = MemoryOps::default();
    let read_only = MemoryOps {
        read: Some(cb_read),
        ..MemoryOps::default()
    };
    let write_fill = MemoryOps {
        write: Some(cb_write),
        fill: Some(cb_fill),
        ..MemoryOps::default()
    };
    // SAFETY: no callback is ever called through these.
    unsafe {
        assert!(CallbackMemory::new(none, p).is_none());
        assert!(CallbackMemory::new(read_only, p).is_none());
        assert!(CallbackMemory::new(write_fill, p).is_none());
        assert!(CallbackMemory::new(ops(false), std::ptr::null_mut()).is_some());
    }
    assert!(memory(&ctx, true).read(0, &mut [0; 4]).is_ok());
    assert_eq!(ctx.take_calls(), vec![('r', 0, 4)]);
}

#[test]
fn reads_writes_and_fills_through_callbacks() {
    let ctx = Ctx::new(8);
    let mem = memory(&ctx, true);
    // Runs: GPN 1-2 from offset 10, then GPN 5 up to 10 bytes before its end.
    let gpns = [1, 2, 5];
    let r = PagedRange::new(10, 3 * P - 20, &gpns).unwrap();
    let data: Vec<u8> = (0..r.len()).map(|i| (i % 251) as u8).collect();

    r.write(&mem, &data).unwrap();
    assert_eq!(
        ctx.take_calls(),
        vec![('w', PU + 10, 2 * P - 10), ('w', 5 * PU, P - 10)]
    );
    assert_eq!(ctx.mem.borrow()[P + 10..3 * P], data[..2 * P - 10]);
    assert_eq!(ctx.mem.borrow()[5 * P..6 * P - 10], data[2 * P - 10..]);

    let mut back = vec![0; r.len()];
    r.read(&mem, &mut back).unwrap();
    assert_eq!(back, data);
    assert_eq!(
        ctx.take_calls(),
        vec![('r', PU + 10, 2 * P - 10), ('r', 5 * PU, P - 10)]
    );

    r.fill(&mem, 0x3c, r.len()).unwrap();
    assert_eq!(
        ctx.take_calls(),
        vec![('f', PU + 10, 2 * P - 10), ('f', 5 * PU, P - 10)]
    );
    assert!(ctx.mem.borrow()[P + 10..3 * P].iter().all(|&b| b == 0x3c));
    assert_eq!(ctx.mem.borrow()[P + 9], 0, "nothing outside the window");
    assert_eq!(ctx.mem.borrow()[6 * P - 10], 0);

    // Cursors and PagedRanges go through the same callbacks.
    let members = [r, PagedRange::new(0, 8, &gpns[2..]).unwrap()];
    let buf = PagedRanges::new(members.iter().copied());
    let mut w = buf.writer(&mem);
    w.zero(buf.len() - 8).unwrap();
    w.write_plain(&0x0123_4567_89ab_cdef_u64).unwrap();
    let mut rd = buf.reader(&mem);
    rd.skip(buf.len() - 8).unwrap();
    assert_eq!(rd.read_plain::<u64>(), Ok(0x0123_4567_89ab_cdef));
}

#[test]
fn missing_fill_falls_back_to_chunked_writes() {
    let ctx = Ctx::new(8);
    let mem = memory(&ctx, false);
    // One run from GPN 1 offset 10 to the end of GPN 4 (4 KiB chunks: three
    // whole ones and a short one), then 100 bytes of GPN 6.
    let gpns = [1, 2, 3, 4, 6];
    let first = 4 * P - 10;
    let r = PagedRange::new(10, first + 100, &gpns).unwrap();
    assert_eq!(
        r.ranges().collect::<Result<Vec<_>, _>>().unwrap(),
        vec![(PU + 10..5 * PU).into(), (6 * PU..6 * PU + 100).into()]
    );
    r.fill(&mem, 0x5e, r.len()).unwrap();
    let mut want = Vec::new();
    let mut at = 0;
    while at < first {
        let n = (first - at).min(4096);
        want.push(('w', PU + 10 + at as u64, n));
        at += n;
    }
    want.push(('w', 6 * PU, 100));
    assert_eq!(ctx.take_calls(), want);
    assert_eq!(want.len(), 5);
    let m = ctx.mem.borrow().clone();
    assert!(m[P + 10..P + 10 + first].iter().all(|&b| b == 0x5e));
    assert!(m[6 * P..6 * P + 100].iter().all(|&b| b == 0x5e));
    assert_eq!(m.iter().filter(|&&b| b == 0x5e).count(), r.len());

    // Directly through the trait: exactly one 4 KiB chunk, and a short one.
    mem.fill(0, 1, P).unwrap();
    mem.fill(0, 2, 1).unwrap();
    assert_eq!(ctx.take_calls(), vec![('w', 0, P), ('w', 0, 1)]);
    assert_eq!(ctx.mem.borrow()[..2], [2, 1]);

    // A failing chunk fails the whole run: `done` counts earlier runs only,
    // and the fault names the run's start, not the chunk's.
    ctx.fail.set(Some((PU + 10 + 4096, 9)));
    assert_eq!(
        r.fill(&mem, 0x11, r.len()),
        Err(TransferError::Memory {
            done: 0,
            gpa: PU + 10,
            code: 9
        })
    );
    assert_eq!(ctx.take_calls().len(), 2, "no chunk after the failing one");
    assert_eq!(
        mem.fill(PU + 10, 0x11, 3 * P),
        Err(MemoryFault {
            gpa: PU + 10,
            code: 9,
            done: 0
        })
    );
    ctx.take_calls();
    ctx.fail.set(Some((6 * PU, 9)));
    let mut w = r.writer(&mem);
    assert_eq!(
        w.fill(0x12, r.len()),
        Err(TransferError::Memory {
            done: first,
            gpa: 6 * PU,
            code: 9
        })
    );
    assert_eq!(w.len(), 100);
}

#[test]
fn nonzero_callback_results_are_reported_as_codes() {
    let ctx = Ctx::new(8);
    let mem = memory(&ctx, true);
    let gpns = [1, 2, 5, 7];
    let r = PagedRange::new(0, 4 * P, &gpns).unwrap();

    ctx.fail.set(Some((5 * PU, 7)));
    let mut dst = vec![0; 4 * P];
    let err = TransferError::Memory {
        done: 2 * P,
        gpa: 5 * PU,
        code: 7,
    };
    assert_eq!(r.read(&mem, &mut dst), Err(err));
    assert_eq!(r.write(&mem, &dst), Err(err));
    assert_eq!(r.fill(&mem, 1, 4 * P), Err(err));
    assert_eq!(ctx.take_calls().len(), 3 * 2);
    assert_eq!(
        mem.read(5 * PU, &mut dst[..1]),
        Err(MemoryFault {
            gpa: 5 * PU,
            code: 7,
            done: 0
        })
    );

    // Negative codes and codes from a reader cursor.
    ctx.fail.set(Some((7 * PU, i32::MIN)));
    let mut rd = r.reader(&mem);
    assert_eq!(
        rd.read(&mut dst),
        Err(TransferError::Memory {
            done: 3 * P,
            gpa: 7 * PU,
            code: i32::MIN
        })
    );
    assert_eq!(rd.len(), P);

    // The callbacks' own refusal of addresses outside their memory.
    ctx.fail.set(None);
    let far = [100, u64::MAX >> 12];
    let r = PagedRange::new(0, 2 * P - 1, &far).unwrap();
    assert_eq!(
        r.fill(&mem, 0, 2 * P - 1),
        Err(TransferError::Memory {
            done: 0,
            gpa: 100 * PU,
            code: UNMAPPED
        })
    );
}
