//! Dirty page logging ([`DirtyTracked`] with bitmap and callback logs) over
//! [`BufferMemory`] and [`MappedMemory`], driven through range and buffer
//! writers: exactly the pages written are marked, failed runs (and the runs
//! after them) are not, and a property test checks both logs against a
//! byte-level model.

// Iovec export (and so these tests) exists on unix only.
#![cfg(unix)]
// `drop(mem)` marks where a memory (which holds raw pointers to guest RAM
// or to a dirty bitmap, not borrows) stops being used, before the test reads
// that RAM or bitmap directly.
#![allow(clippy::drop_non_drop)]

use std::collections::BTreeSet;
use std::ffi::c_void;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use pagedrange::memory::{
    DirtyLog, DirtyTracked, WindowMarkError, FAULT_UNMAPPED, FAULT_UNTRACKED,
};
use pagedrange::{
    BufferMemory, GuestMemory, MappedMemory, MappedRegion, MemoryFault, MemoryRead, MemoryWrite,
    PagedRange, PagedRanges, TransferError, PAGE_SIZE,
};
use proptest::prelude::*;

const P: usize = PAGE_SIZE;
const PU: u64 = PAGE_SIZE as u64;
const FAIL: i32 = 42;
const NO_FAIL: u64 = u64::MAX;

/// Guest memory that fails writes and fills starting at one GPA.
struct Failing<M> {
    inner: M,
    at: AtomicU64,
}

impl<M: GuestMemory> Failing<M> {
    fn new(inner: M) -> Self {
        Self {
            inner,
            at: AtomicU64::new(NO_FAIL),
        }
    }

    fn fail_at(&self, gpa: u64) {
        self.at.store(gpa, Ordering::Relaxed);
    }

    fn check(&self, gpa: u64) -> Result<(), MemoryFault> {
        if gpa == self.at.load(Ordering::Relaxed) {
            Err(MemoryFault {
                gpa,
                code: FAIL,
                done: 0,
            })
        } else {
            Ok(())
        }
    }
}

impl<M: GuestMemory> GuestMemory for Failing<M> {
    fn read(&self, gpa: u64, dst: &mut [u8]) -> Result<(), MemoryFault> {
        self.inner.read(gpa, dst)
    }
    fn write(&self, gpa: u64, src: &[u8]) -> Result<(), MemoryFault> {
        self.check(gpa)?;
        self.inner.write(gpa, src)
    }
    fn fill(&self, gpa: u64, value: u8, len: usize) -> Result<(), MemoryFault> {
        self.check(gpa)?;
        self.inner.fill(gpa, value, len)
    }
}

/// A callback log's record: the runs it was told about, in order.
type Calls = Mutex<Vec<(u64, usize)>>;

unsafe extern "C" fn record(ctx: *mut c_void, gpa: u64, len: usize) {
    // SAFETY: `ctx` is the `Calls` the test passed; it outlives the log.
    let calls = unsafe { &*ctx.cast::<Calls>() };
    calls.lock().unwrap().push((gpa, len));
}

fn callback_log(calls: &Calls) -> DirtyLog {
    // The address, so that the closure is Send + Sync.
    let ctx = calls as *const Calls as usize;
    // SAFETY: `record` only locks the mutex, which outlives the log in
    // every test.
    DirtyLog::callback(move |gpa, len| unsafe { record(ctx as *mut c_void, gpa, len) })
}

/// Set bits of a bitmap, as GPNs.
fn bits(words: &[u64]) -> BTreeSet<u64> {
    (0..words.len() as u64 * 64)
        .filter(|&g| words[(g / 64) as usize] & (1 << (g % 64)) != 0)
        .collect()
}

/// Pages touched by runs `(gpa, len)`.
fn pages_of(runs: &[(u64, usize)]) -> BTreeSet<u64> {
    runs.iter()
        .filter(|r| r.1 > 0)
        .flat_map(|&(gpa, len)| gpa / PU..=(gpa + len as u64 - 1) / PU)
        .collect()
}

/// GPA of every byte of a window `(offset, len)` over `gpns`.
fn gpas(gpns: &[u64], offset: usize, len: usize) -> Vec<u64> {
    (offset..offset + len)
        .map(|i| gpns[i / P] * PU + (i % P) as u64)
        .collect()
}

/// 200 pages of host RAM mapped as guest pages 0..100 (host pages 100..200)
/// and 100..200 (host pages 0..100).
fn mapped(ram: &mut [u8]) -> MappedMemory {
    let half = ram.len() / 2;
    let base = ram.as_mut_ptr();
    let regions = [
        MappedRegion {
            gpa: 0,
            size: half as u64,
            host: base.wrapping_add(half).cast(),
        },
        MappedRegion {
            gpa: half as u64,
            size: half as u64,
            host: base.cast(),
        },
    ];
    // SAFETY: callers keep `ram` alive and untouched while the memory lives.
    unsafe { MappedMemory::new(&regions) }.unwrap()
}

/// Writes through a range writer and a buffer writer, reads through
/// readers, and checks the bitmap and the callback log after each step.
fn marks_exactly_the_written_pages(inner: &dyn GuestMemory) {
    let mut words = [0u64; 3];
    let calls = Calls::default();
    // SAFETY: `words` outlives the log and is read only after it is dropped.
    let bitmap = unsafe { DirtyLog::bitmap(words.as_mut_ptr(), 160) }.unwrap();
    let mem = DirtyTracked::new(DirtyTracked::new(inner, callback_log(&calls)), bitmap);

    // 63 and 64 straddle a bitmap word; 130 sits in the third word. The
    // window ends 4 bytes into GPN 2.
    let gpns = [5, 6, 63, 64, 130, 2];
    let window = PagedRange::new(4000, 4 * P + 100, &gpns).unwrap();
    let mut w = window.writer(&mem);
    w.write(&[1; 50]).unwrap(); // page 5 only
    w.fill(2, 100).unwrap(); // pages 5 and 6: adjacent, one run
    w.zero(P).unwrap(); // pages 6 and 63: two runs
    let mut expected_runs = vec![
        (5 * PU + 4000, 50),
        (5 * PU + 4050, 100),
        (6 * PU + 54, P - 54),
        (63 * PU, 54),
    ];
    assert_eq!(*calls.lock().unwrap(), expected_runs);

    // Reads mark nothing.
    let mut buf = vec![0u8; window.len()];
    window.reader(&mem).read(&mut buf).unwrap();
    assert_eq!(&buf[..50], &[1; 50]);
    assert_eq!(*calls.lock().unwrap(), expected_runs);

    // A buffer of two windows: the rest of the first, then 20 bytes of
    // page 2 again (a window of its own: its own run).
    let tail = PagedRange::new(10, 20, &gpns[5..]).unwrap();
    let members = [w.remaining(), tail];
    let rs = PagedRanges::new(members.iter().copied());
    let mut bw = rs.writer(&mem);
    bw.write(&vec![7; rs.len()]).unwrap();
    expected_runs.extend([
        (63 * PU + 54, 2 * P - 54), // 63, 64 adjacent
        (130 * PU, P),
        (2 * PU, 4),
        (2 * PU + 10, 20),
    ]);
    let runs = calls.lock().unwrap().clone();
    assert_eq!(runs, expected_runs);
    assert_eq!(
        runs.iter().map(|r| r.1).sum::<usize>(),
        window.len() + 20,
        "every byte written was reported once"
    );
    rs.reader(&mem).read_all().unwrap();
    assert_eq!(calls.lock().unwrap().len(), expected_runs.len());

    // `mark_window` marks a window written behind the library's back.
    let outside = [150, 151];
    mem.mark_window(&PagedRange::new(P - 1, 2, &outside).unwrap())
        .unwrap();
    drop(mem);
    assert_eq!(
        bits(&words),
        BTreeSet::from([2, 5, 6, 63, 64, 130, 150, 151])
    );
    assert_eq!(pages_of(&runs), BTreeSet::from([2, 5, 6, 63, 64, 130]));
}

#[test]
fn buffer_memory_marks_exactly_the_written_pages() {
    marks_exactly_the_written_pages(&BufferMemory::new(200 * P));
}

#[test]
fn mapped_memory_marks_exactly_the_written_pages() {
    let mut ram = vec![0u8; 200 * P];
    let mem = mapped(&mut ram);
    marks_exactly_the_written_pages(&mem);
    drop(mem);
    assert_eq!(
        ram[100 * P + 5 * P + 4000],
        1,
        "the bytes reached guest RAM"
    );
    assert_eq!(ram[100 * P + 2 * P + 10], 7);
}

/// A write failing on its third run marks only the first two; the cursor
/// stops at the failed run and the retry marks the rest.
fn failure_marks_only_earlier_runs(inner: &dyn GuestMemory) {
    let failing = Failing::new(inner);
    let mut words = [0u64; 4];
    let calls = Calls::default();
    // SAFETY: as above.
    let bitmap = unsafe { DirtyLog::bitmap(words.as_mut_ptr(), 256) }.unwrap();
    let mem = DirtyTracked::new(DirtyTracked::new(&failing, callback_log(&calls)), bitmap);

    let gpns = [10, 11, 40, 70, 71, 90];
    let a = PagedRange::new(100, 3 * P - 100, &gpns[..3]).unwrap(); // 10-11, 40
    let b = PagedRange::new(0, 3 * P, &gpns[3..]).unwrap(); // 70-71, 90
    let members = [a, b];
    let rs = PagedRanges::new(members.iter().copied());
    let mut w = rs.writer(&mem);
    failing.fail_at(70 * PU);
    let err = w.write(&vec![9; rs.len()]).unwrap_err();
    assert_eq!(
        err,
        TransferError::Memory {
            done: a.len(),
            gpa: 70 * PU,
            code: FAIL
        }
    );
    assert_eq!(w.len(), b.len(), "the cursor stands at the failed run");
    assert_eq!(
        *calls.lock().unwrap(),
        vec![(10 * PU + 100, 2 * P - 100), (40 * PU, P)]
    );
    // The fill fallback and fills fail the same way.
    let err = w.fill(3, 10).unwrap_err();
    assert!(matches!(err, TransferError::Memory { done: 0, .. }));
    assert_eq!(calls.lock().unwrap().len(), 2);
    // Repaired, the retry resumes at the failed run.
    failing.fail_at(NO_FAIL);
    w.fill(3, b.len()).unwrap();
    assert_eq!(calls.lock().unwrap()[2..], [(70 * PU, 2 * P), (90 * PU, P)]);

    // A page beyond the bitmap is refused before it is written; earlier
    // runs of the same write are marked.
    let beyond = [20, 300];
    let c = PagedRange::new(P - 4, 8, &beyond).unwrap();
    let err = c.write(&mem, &[5; 8]).unwrap_err();
    assert_eq!(
        err,
        TransferError::Memory {
            done: 4,
            gpa: 300 * PU,
            code: FAULT_UNTRACKED
        }
    );
    let mut back = [0u8; 4];
    inner.read(300 * PU, &mut back).unwrap();
    assert_eq!(back, [0; 4], "the refused run wrote nothing");
    drop(mem);
    assert_eq!(bits(&words), BTreeSet::from([10, 11, 20, 40, 70, 71, 90]));
}

#[test]
fn buffer_memory_failure_marks_only_earlier_runs() {
    failure_marks_only_earlier_runs(&BufferMemory::new(400 * P));
}

#[test]
fn mapped_memory_failure_marks_only_earlier_runs() {
    let mut ram = vec![0u8; 400 * P];
    let mem = mapped(&mut ram);
    failure_marks_only_earlier_runs(&mem);
}

#[test]
fn unmapped_pages_fail_and_are_not_marked() {
    // Mapped memory covers guest pages 0..8 only; page 50 is unmapped.
    let mut ram = vec![0u8; 8 * P];
    let region = MappedRegion {
        gpa: 0,
        size: ram.len() as u64,
        host: ram.as_mut_ptr().cast(),
    };
    // SAFETY: `ram` outlives `inner` and is untouched meanwhile.
    let inner = unsafe { MappedMemory::new(&[region]) }.unwrap();
    let mut words = [0u64; 1];
    // SAFETY: as above.
    let log = unsafe { DirtyLog::bitmap(words.as_mut_ptr(), 64) }.unwrap();
    let mem = DirtyTracked::new(&inner, log);
    let gpns = [1, 2, 50, 3];
    let r = PagedRange::new(0, 4 * P, &gpns).unwrap();
    let mut w = r.writer(&mem);
    let err = w.fill(1, 4 * P).unwrap_err();
    assert_eq!(
        err,
        TransferError::Memory {
            done: 2 * P,
            gpa: 50 * PU,
            code: FAULT_UNMAPPED
        }
    );
    assert_eq!(w.len(), 2 * P);
    drop(mem);
    drop(inner);
    assert_eq!(bits(&words), BTreeSet::from([1, 2]));
    assert!(
        ram[3 * P..].iter().all(|&b| b == 0),
        "page 3 was not written"
    );
}

#[test]
fn mark_window_refuses_pages_beyond_the_bitmap() {
    let mut words = [0u64; 2];
    // SAFETY: `words` outlives the memory and is read after it is dropped.
    let log = unsafe { DirtyLog::bitmap(words.as_mut_ptr(), 70) }.unwrap();
    let mem = DirtyTracked::new(BufferMemory::new(P), log);
    // A window whose first run (68..72) crosses the end of the bitmap is
    // refused as a whole, like a write: nothing is marked.
    let gpns = [68, 69, 70, 71, 2];
    assert_eq!(
        mem.mark_window(&PagedRange::new(100, 5 * P - 200, &gpns).unwrap()),
        Err(WindowMarkError::Untracked(MemoryFault {
            gpa: 68 * PU + 100,
            code: FAULT_UNTRACKED,
            done: 0
        }))
    );
    // Refused even when only a later run is untracked.
    let late = [2, 3, 69, 90];
    assert!(matches!(
        mem.mark_window(&PagedRange::new(0, 4 * P, &late).unwrap()),
        Err(WindowMarkError::Untracked(MemoryFault { gpa, code: FAULT_UNTRACKED, done: 0 })) if gpa == 90 * PU
    ));
    // A window inside the bitmap marks exactly its pages.
    let inside = [63, 64, 69, 5];
    mem.mark_window(&PagedRange::new(P - 1, 2 * P + 2, &inside).unwrap())
        .unwrap();
    drop(mem);
    assert_eq!(bits(&words), BTreeSet::from([5, 63, 64, 69]));
}

#[test]
fn mark_window_with_an_empty_bitmap_marks_nothing() {
    // A bitmap covering no page may be refused; if it is accepted, every
    // write and every window is untracked and nothing is ever marked (the
    // bitmap is not even indexed).
    let mut words = [0u64; 1];
    // SAFETY: as above; the word is a guard: it must stay 0.
    let Ok(log) = (unsafe { DirtyLog::bitmap(words.as_mut_ptr(), 0) }) else {
        return;
    };
    let mem = DirtyTracked::new(BufferMemory::new(P), log);
    assert_eq!(
        mem.write(0, &[1]),
        Err(MemoryFault {
            gpa: 0,
            code: FAULT_UNTRACKED,
            done: 0
        })
    );
    let gpns = [0];
    let refused = mem.mark_window(&PagedRange::new(0, 10, &gpns).unwrap());
    assert!(matches!(refused, Err(WindowMarkError::Untracked(_))));
    drop(mem);
    assert_eq!(words, [0], "a bitmap of 0 pages was written");
}

mod c_abi {
    //! Dirty bitmaps on the C ABI: an iovec export touching an untracked
    //! page fails with PR_ERR_MEMORY and marks nothing, in any log.

    use super::*;
    use pagedrange_ffi::memory::{
        pr_memory_free, pr_memory_new_mapped, pr_memory_with_dirty_bitmap,
    };
    use pagedrange_ffi::range::{pr_range_free, pr_range_iovecs, pr_range_new};
    use pagedrange_ffi::ranges::{pr_ranges_free, pr_ranges_iovecs, pr_ranges_new};
    use pagedrange_ffi::{pr_memory, pr_range, pr_ranges, PR_ERR_MEMORY, PR_OK};
    use std::ptr;

    fn iovs() -> [libc::iovec; 4] {
        [libc::iovec {
            iov_base: ptr::null_mut(),
            iov_len: 0,
        }; 4]
    }

    fn range(gpns: &[u64], offset: usize, len: usize) -> *mut pr_range {
        let mut r = ptr::null_mut();
        assert_eq!(
            pr_range_new(gpns.as_ptr(), gpns.len(), offset, len, &mut r),
            PR_OK
        );
        r
    }

    /// `mem` with a dirty bitmap at `words` covering `pages` pages.
    fn dirty(mem: *const pr_memory, words: *mut u64, pages: u64) -> *mut pr_memory {
        let mut out = ptr::null_mut();
        assert_eq!(
            pr_memory_with_dirty_bitmap(mem, words, pages, &mut out),
            PR_OK
        );
        out
    }

    /// 256 guest pages mapped at GPA 0.
    fn with_mapped(f: impl FnOnce(*mut pr_memory)) {
        let mut ram = vec![0u8; 256 * P];
        let region = pagedrange_ffi::MappedRegion {
            gpa: 0,
            size: ram.len() as u64,
            host: ram.as_mut_ptr().cast(),
        };
        let mut mem: *mut pr_memory = ptr::null_mut();
        assert_eq!(pr_memory_new_mapped(&region, 1, &mut mem), PR_OK);
        f(mem);
        pr_memory_free(mem);
    }

    #[test]
    fn export_with_an_empty_bitmap_marks_nothing() {
        with_mapped(|mem| {
            // The word after a bitmap of 0 pages is a guard: it must stay 0.
            let mut words = [0u64; 1];
            let mut d: *mut pr_memory = ptr::null_mut();
            if pr_memory_with_dirty_bitmap(mem, words.as_mut_ptr(), 0, &mut d) != PR_OK {
                return; // refusing an empty bitmap is fine too
            }
            let gpns = [0u64];
            let r = range(&gpns, 0, 10);
            let mut iov = iovs();
            let (mut count, mut covered) = (9usize, 9usize);
            let s = pr_range_iovecs(r, d, 10, iov.as_mut_ptr(), 4, &mut count, &mut covered);
            pr_range_free(r);
            pr_memory_free(d);
            assert_eq!((s, count, covered), (PR_ERR_MEMORY, 0, 0));
            assert_eq!(words, [0], "a bitmap of 0 pages was written");
        });
    }

    #[test]
    fn a_buffer_export_with_a_later_untracked_window_marks_nothing() {
        with_mapped(|mem| {
            let mut words = [0u64; 1];
            // One pointer for the library and for the atomic read below.
            let bitmap = words.as_mut_ptr();
            let d = dirty(mem, bitmap, 64);
            // Window 0 (GPN 1) is tracked, window 1 (GPN 100) is not.
            let (a, b) = (range(&[1], 0, P), range(&[100], 0, P));
            let list: [*const pr_range; 2] = [a, b];
            let mut rs: *mut pr_ranges = ptr::null_mut();
            assert_eq!(pr_ranges_new(list.as_ptr(), 2, &mut rs), PR_OK);
            let mut iov = iovs();
            let (mut count, mut covered) = (9usize, 9usize);
            let s = pr_ranges_iovecs(rs, d, 2 * P, iov.as_mut_ptr(), 4, &mut count, &mut covered);
            // SAFETY: the word is valid and aligned, and while the log lives
            // it is only accessed atomically (as its contract asks).
            let after_refused = unsafe { AtomicU64::from_ptr(bitmap) }.load(Ordering::Relaxed);
            // The tracked window alone exports and is marked.
            let s2 = pr_range_iovecs(a, d, P, iov.as_mut_ptr(), 4, &mut count, &mut covered);
            pr_ranges_free(rs);
            pr_range_free(a);
            pr_range_free(b);
            pr_memory_free(d);
            assert_eq!(s, PR_ERR_MEMORY);
            assert_eq!(after_refused, 0, "a refused export marked a page");
            assert_eq!((s2, count, covered), (PR_OK, 1, P));
            assert_eq!(words, [1 << 1]);
        });
    }

    #[test]
    fn a_refused_export_marks_no_log_of_stacked_bitmaps() {
        // Outer log covers 128 pages, the inner one 64: exporting GPN 100
        // is refused by the inner log, and the outer one must not keep a
        // mark for IO that will not happen.
        with_mapped(|mem| {
            let mut inner_words = [0u64; 1];
            let mut outer_words = [0u64; 2];
            let inner = dirty(mem, inner_words.as_mut_ptr(), 64);
            let outer = dirty(inner, outer_words.as_mut_ptr(), 128);
            let r = range(&[100], 0, P);
            let mut iov = iovs();
            let (mut count, mut covered) = (9usize, 9usize);
            let s = pr_range_iovecs(r, outer, P, iov.as_mut_ptr(), 4, &mut count, &mut covered);
            pr_range_free(r);
            pr_memory_free(outer);
            pr_memory_free(inner);
            assert_eq!((s, count), (PR_ERR_MEMORY, 0));
            assert_eq!(inner_words, [0]);
            assert_eq!(outer_words, [0, 0], "the outer log marked a refused export");
        });
    }
}

// ---------------------------------------------------------------------------
// Property test against a model.

const PAGES: u64 = 80;

#[derive(Clone, Debug)]
enum Op {
    Write(usize),
    Fill(u8, usize),
    Skip(usize),
}

#[derive(Clone, Debug)]
struct Case {
    /// Windows: GPN list, offset, len.
    windows: Vec<(Vec<u64>, usize, usize)>,
    ops: Vec<Op>,
    /// Pages the bitmap covers (writes beyond are refused).
    bitmap_pages: u64,
    /// A byte of the buffer whose page (or window) start fails writes.
    fail: Option<usize>,
    mapped: bool,
}

fn window() -> impl Strategy<Value = (Vec<u64>, usize, usize)> {
    proptest::collection::vec((0..PAGES, any::<bool>()), 1..5)
        .prop_map(|raw| {
            let mut list: Vec<u64> = Vec::new();
            for (g, adjacent) in raw {
                match list.last() {
                    Some(&prev) if adjacent && prev + 1 < PAGES => list.push(prev + 1),
                    _ => list.push(g),
                }
            }
            list
        })
        .prop_flat_map(|list| {
            let room = list.len() * P;
            (Just(list), 0..room)
                .prop_flat_map(move |(list, offset)| (Just(list), Just(offset), 0..=room - offset))
        })
}

fn case() -> impl Strategy<Value = Case> {
    let op = prop_oneof![
        3 => (0..2 * P).prop_map(Op::Write),
        2 => (any::<u8>(), 0..2 * P).prop_map(|(v, n)| Op::Fill(v, n)),
        1 => (0..P).prop_map(Op::Skip),
    ];
    (
        proptest::collection::vec(window(), 1..4),
        proptest::collection::vec(op, 1..10),
        60..=PAGES,
        proptest::option::of(any::<usize>()),
        any::<bool>(),
    )
        .prop_map(|(windows, ops, bitmap_pages, fail, mapped)| Case {
            windows,
            ops,
            bitmap_pages,
            fail,
            mapped,
        })
}

/// Model of one transfer of bytes `pos .. pos + n` of the buffer: the runs
/// the backend is called with (split where GPAs jump or a window ends), in
/// order, and how many bytes go through before the first refused run.
fn model_runs(
    byte_gpa: &[u64],
    byte_window: &[usize],
    pos: usize,
    n: usize,
    refused: impl Fn(u64, usize) -> bool,
) -> (Vec<(u64, usize)>, usize) {
    let mut runs: Vec<(u64, usize)> = Vec::new();
    for i in pos..pos + n {
        match runs.last_mut() {
            Some((start, len))
                if i > pos
                    && byte_window[i] == byte_window[i - 1]
                    && byte_gpa[i] == *start + *len as u64 =>
            {
                *len += 1
            }
            _ => runs.push((byte_gpa[i], 1)),
        }
    }
    let mut ok = Vec::new();
    let mut done = 0;
    for (gpa, len) in runs {
        if refused(gpa, len) {
            break;
        }
        ok.push((gpa, len));
        done += len;
    }
    (ok, done)
}

fn run_case(c: &Case, inner: &dyn GuestMemory) -> Result<(), TestCaseError> {
    let failing = Failing::new(inner);
    let mut words = vec![0u64; PAGES.div_ceil(64) as usize];
    let calls = Calls::default();
    // SAFETY: `words` outlives the log and is read after it is dropped.
    let bitmap = unsafe { DirtyLog::bitmap(words.as_mut_ptr(), c.bitmap_pages) }.unwrap();
    let mem = DirtyTracked::new(DirtyTracked::new(&failing, callback_log(&calls)), bitmap);

    let windows: Vec<PagedRange<'_>> = c
        .windows
        .iter()
        .map(|(list, off, len)| PagedRange::new(*off, *len, list).unwrap())
        .collect();
    let rs = PagedRanges::new(windows.iter().copied());
    let mut byte_gpa = Vec::new();
    let mut byte_window = Vec::new();
    let mut window_start = Vec::new();
    for (k, (list, off, len)) in c.windows.iter().enumerate() {
        let g = gpas(list, *off, *len);
        window_start.push(byte_gpa.len());
        byte_window.extend(std::iter::repeat_n(k, g.len()));
        byte_gpa.extend(g);
    }
    let total = byte_gpa.len();
    prop_assert_eq!(rs.len(), total);

    // The failing GPA: the start of the page (or of the window, if later)
    // holding the chosen byte.
    let fail = c.fail.filter(|_| total > 0).map(|pick| {
        let i = pick % total;
        let page_start = byte_gpa[i] / PU * PU;
        let win_start = byte_gpa[window_start[byte_window[i]]];
        if win_start / PU == byte_gpa[i] / PU {
            page_start.max(win_start)
        } else {
            page_start
        }
    });
    failing.fail_at(fail.unwrap_or(NO_FAIL));
    let refused =
        |gpa: u64, len: usize| Some(gpa) == fail || (gpa + len as u64 - 1) / PU >= c.bitmap_pages;

    let mut model = vec![0u8; PAGES as usize * P];
    inner.read(0, &mut model).unwrap();
    let mut expected_calls = Vec::new();
    let mut w = rs.writer(&mem);
    let mut pos = 0;
    for (k, op) in c.ops.iter().enumerate() {
        let left = total - pos;
        match *op {
            Op::Skip(n) => {
                let n = n.min(left);
                w.limit(n).unwrap();
                pos += n;
            }
            Op::Write(n) | Op::Fill(_, n) => {
                let n = n.min(left);
                let data: Vec<u8> = (0..n).map(|i| (i * 7 + k) as u8).collect();
                let result = match *op {
                    Op::Write(_) => w.write(&data),
                    Op::Fill(v, _) => w.fill(v, n),
                    Op::Skip(_) => unreachable!(),
                };
                let (ok, done) = model_runs(&byte_gpa, &byte_window, pos, n, refused);
                for i in pos..pos + done {
                    model[byte_gpa[i] as usize] = match *op {
                        Op::Fill(v, _) => v,
                        _ => data[i - pos],
                    };
                }
                expected_calls.extend(ok);
                match result {
                    Ok(()) => prop_assert_eq!(done, n, "op {} succeeded but should fail", k),
                    Err(e) => {
                        prop_assert!(done < n, "op {} failed: {:?}", k, e);
                        prop_assert_eq!(e.done(), done);
                    }
                }
                pos += done;
            }
        }
        prop_assert_eq!(w.len(), total - pos, "cursor after op {}", k);
    }

    // Reads mark nothing.
    let mut back = vec![0u8; total];
    let read_calls = calls.lock().unwrap().len();
    rs.reader(&mem).read(&mut back).unwrap();
    prop_assert_eq!(calls.lock().unwrap().len(), read_calls);
    for (i, &g) in byte_gpa.iter().enumerate() {
        prop_assert_eq!(back[i], model[g as usize], "byte {}", i);
    }

    let got_calls = calls.lock().unwrap().clone();
    prop_assert_eq!(&got_calls, &expected_calls, "callback log");
    drop(mem);
    let mut whole = vec![0u8; model.len()];
    inner.read(0, &mut whole).unwrap();
    prop_assert!(whole == model, "guest memory differs from the model");
    prop_assert_eq!(bits(&words), pages_of(&expected_calls), "bitmap");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 2 } else { 256 }))]

    #[test]
    #[cfg_attr(miri, ignore)]
    fn logs_match_a_model_of_written_pages(c in case()) {
        if c.mapped {
            let mut ram = vec![0u8; PAGES as usize * P];
            let half = ram.len() / 2;
            let base = ram.as_mut_ptr();
            let regions = [
                MappedRegion { gpa: half as u64, size: half as u64, host: base.cast() },
                MappedRegion { gpa: 0, size: half as u64, host: base.wrapping_add(half).cast() },
            ];
            // SAFETY: `ram` outlives `inner` and is untouched meanwhile.
            let inner = unsafe { MappedMemory::new(&regions) }.unwrap();
            run_case(&c, &inner)?;
        } else {
            run_case(&c, &BufferMemory::new(PAGES as usize * P))?;
        }
    }
}
