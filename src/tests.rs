//! The C ABI driven from Rust with `extern "C"` callbacks, so that the
//! boundary itself (pointer checks, ownership, reports) runs under `cargo
//! test` and under miri, which cannot run the C tests.

use core::ffi::{c_int, c_void, CStr};
use core::ptr::{null, null_mut};
use std::sync::Mutex;

use super::*;
use crate::cursor::*;
use crate::memory::*;
use crate::range::*;
use crate::ranges::*;
use crate::{pr_address_range as AddressRange, MemoryOps};

const P: usize = 4096;

/// Fake guest RAM: `pages` pages at GPA 0, a GPA that fails, and a call log.
struct Ram {
    bytes: Mutex<Vec<u8>>,
    fail_gpa: Mutex<Option<u64>>,
    calls: Mutex<Vec<(u64, usize)>>,
}

impl Ram {
    fn new(pages: usize) -> Box<Self> {
        let bytes = (0..pages * P).map(|i| (i % 251) as u8).collect();
        Box::new(Self {
            bytes: Mutex::new(bytes),
            fail_gpa: Mutex::new(None),
            calls: Mutex::new(Vec::new()),
        })
    }

    /// The span of `len` bytes at `gpa`, or the callback's error code.
    fn span(&self, gpa: u64, len: usize) -> Result<core::ops::Range<usize>, c_int> {
        self.calls.lock().unwrap().push((gpa, len));
        if *self.fail_gpa.lock().unwrap() == Some(gpa) {
            return Err(-5);
        }
        let start = usize::try_from(gpa).map_err(|_| -14)?;
        let end = start.checked_add(len).ok_or(-14)?;
        if end > self.bytes.lock().unwrap().len() {
            return Err(-14);
        }
        Ok(start..end)
    }
}

unsafe extern "C" fn ram_read(ctx: *mut c_void, gpa: u64, dst: *mut c_void, len: usize) -> c_int {
    // SAFETY: ctx is the `Ram` the test owns for the memory's lifetime.
    let ram = unsafe { &*(ctx as *const Ram) };
    match ram.span(gpa, len) {
        Ok(span) => {
            let bytes = ram.bytes.lock().unwrap();
            // SAFETY: the library passes a host buffer of `len` bytes.
            unsafe { core::ptr::copy_nonoverlapping(bytes[span].as_ptr(), dst.cast(), len) };
            0
        }
        Err(code) => code,
    }
}

unsafe extern "C" fn ram_write(
    ctx: *mut c_void,
    gpa: u64,
    src: *const c_void,
    len: usize,
) -> c_int {
    // SAFETY: ctx is the `Ram` the test owns for the memory's lifetime.
    let ram = unsafe { &*(ctx as *const Ram) };
    match ram.span(gpa, len) {
        Ok(span) => {
            let mut bytes = ram.bytes.lock().unwrap();
            // SAFETY: the library passes a host buffer of `len` bytes.
            let src = unsafe { core::slice::from_raw_parts(src.cast::<u8>(), len) };
            bytes[span].copy_from_slice(src);
            0
        }
        Err(code) => code,
    }
}

unsafe extern "C" fn ram_fill(ctx: *mut c_void, gpa: u64, value: u8, len: usize) -> c_int {
    // SAFETY: ctx is the `Ram` the test owns for the memory's lifetime.
    let ram = unsafe { &*(ctx as *const Ram) };
    match ram.span(gpa, len) {
        Ok(span) => {
            ram.bytes.lock().unwrap()[span].fill(value);
            0
        }
        Err(code) => code,
    }
}

fn memory(ram: &Ram, with_fill: bool) -> *mut pr_memory {
    let ops = MemoryOps {
        read: Some(ram_read),
        write: Some(ram_write),
        fill: if with_fill { Some(ram_fill) } else { None },
    };
    let mut mem = null_mut();
    let ctx = ram as *const Ram as *mut c_void;
    assert_eq!(pr_memory_new_callbacks(&ops, ctx, &mut mem), PR_OK);
    assert!(!mem.is_null());
    mem
}

fn range(gpns: &[u64], offset: usize, len: usize) -> *mut pr_range {
    let mut r = null_mut();
    assert_eq!(
        pr_range_new(gpns.as_ptr(), gpns.len(), offset, len, &mut r),
        PR_OK
    );
    r
}

fn runs_of(r: *const pr_range) -> Vec<AddressRange> {
    let mut count = usize::MAX;
    let status = pr_range_address_ranges(r, null_mut(), 0, &mut count);
    let expected = if count == 0 {
        PR_OK
    } else {
        PR_ERR_BUFFER_TOO_SMALL
    };
    assert_eq!(status, expected);
    let mut out = vec![AddressRange::default(); count];
    assert_eq!(
        pr_range_address_ranges(r, out.as_mut_ptr(), out.len(), &mut count),
        PR_OK
    );
    out
}

#[test]
fn range_lifecycle_and_runs() {
    let gpns = [7u64, 8, 9, 20, 21, 5];
    let r = range(&gpns, 100, 5 * P);
    assert_eq!(pr_range_len(r), 5 * P);
    assert_eq!(pr_range_offset(r), 100);
    let mut n = 0;
    let p = pr_range_gpns(r, &mut n);
    // SAFETY: the library returns `n` GPNs valid while `r` lives.
    assert_eq!(unsafe { core::slice::from_raw_parts(p, n) }, &gpns);
    assert_eq!(
        runs_of(r),
        vec![
            AddressRange::from(7 * 4096 + 100..10 * 4096),
            AddressRange::from(20 * 4096..22 * 4096),
            AddressRange::from(5 * 4096..5 * 4096 + 100),
        ]
    );
    let mut two = [AddressRange::default(); 2];
    let mut count = 0;
    assert_eq!(
        pr_range_address_ranges(r, two.as_mut_ptr(), 2, &mut count),
        PR_ERR_BUFFER_TOO_SMALL
    );
    assert_eq!(count, 3);
    assert_eq!(two[1], AddressRange::from(20 * 4096..22 * 4096));

    let (mut a, mut b) = (null_mut(), null_mut());
    assert_eq!(pr_range_split(r, 3 * P, &mut a, &mut b), PR_OK);
    assert_eq!((pr_range_len(a), pr_range_len(b)), (3 * P, 2 * P));
    pr_range_free(r); // derived ranges keep the list alive
    assert_eq!(
        runs_of(b)[0],
        AddressRange::from(20 * 4096 + 100..22 * 4096)
    );
    assert_eq!(pr_range_skip(a, P), PR_OK);
    assert_eq!(pr_range_truncate(a, P), PR_OK);
    assert_eq!(
        runs_of(a),
        vec![AddressRange::from(8 * 4096 + 100..9 * 4096 + 100)]
    );
    assert_eq!(pr_range_skip(a, P + 1), PR_ERR_OUT_OF_RANGE);
    assert_eq!(pr_range_len(a), P, "a failed skip changes nothing");
    let mut c = null_mut();
    assert_eq!(pr_range_clone(a, &mut c), PR_OK);
    let mut s = null_mut();
    assert_eq!(
        pr_range_subrange(c, 10, usize::MAX, &mut s),
        PR_ERR_OUT_OF_RANGE
    );
    assert!(s.is_null(), "no output on error");
    assert_eq!(pr_range_subrange(c, 10, 20, &mut s), PR_OK);
    assert_eq!(
        runs_of(s),
        vec![AddressRange::from(8 * 4096 + 110..8 * 4096 + 130)]
    );
    for h in [a, b, c, s] {
        pr_range_free(h);
    }
}

#[test]
fn hostile_arguments() {
    let mut r = null_mut();
    assert_eq!(
        pr_range_new(null(), 0, 0, 0, &mut r),
        PR_OK,
        "the empty range"
    );
    assert_eq!(pr_range_len(r), 0);
    let mut n = 99;
    assert!(pr_range_gpns(r, &mut n).is_null());
    assert_eq!(n, 0);
    pr_range_free(r);

    let sentinel = 0x10 as *mut pr_range;
    let mut out = sentinel;
    assert_eq!(
        pr_range_new(null(), 1, 0, 0, &mut out),
        PR_ERR_NULL_ARGUMENT
    );
    let gpns = [1u64, 2];
    assert_eq!(
        pr_range_new(gpns.as_ptr(), 2, usize::MAX, 2, &mut out),
        PR_ERR_OUT_OF_RANGE
    );
    assert_eq!(
        pr_range_new(gpns.as_ptr(), 2, 1, 2 * P, &mut out),
        PR_ERR_OUT_OF_RANGE
    );
    assert_eq!(
        pr_range_new(gpns.as_ptr(), usize::MAX, 0, 0, &mut out),
        PR_ERR_INVALID_ARGUMENT
    );
    let misaligned = (gpns.as_ptr() as *const u8).wrapping_add(1) as *const u64;
    assert_eq!(
        pr_range_new(misaligned, 1, 0, 0, &mut out),
        PR_ERR_INVALID_ARGUMENT
    );
    assert_eq!(
        pr_range_new(gpns.as_ptr(), 2, 0, 0, null_mut()),
        PR_ERR_NULL_ARGUMENT
    );
    for bad in [[PR_MAX_GPN + 1], [u64::MAX]] {
        assert_eq!(
            pr_range_new(bad.as_ptr(), 1, 0, 1, &mut out),
            PR_ERR_INVALID_GPN
        );
    }
    let top = [PR_MAX_GPN];
    assert_eq!(
        pr_range_new(top.as_ptr(), 1, 0, P, &mut out),
        PR_ERR_INVALID_GPN
    );
    assert_eq!(out, sentinel, "no output on error");
    assert_eq!(pr_range_new(top.as_ptr(), 1, 0, P - 1, &mut out), PR_OK);
    assert_eq!(
        runs_of(out),
        vec![AddressRange::from(u64::MAX - 4095..u64::MAX)]
    );
    pr_range_free(out);

    // NULL handles: statuses and neutral values.
    assert_eq!(pr_range_len(null()), 0);
    assert_eq!(pr_range_offset(null()), 0);
    assert_eq!(pr_range_skip(null_mut(), 0), PR_ERR_NULL_ARGUMENT);
    assert_eq!(pr_ranges_len(null()), 0);
    assert_eq!(pr_ranges_count(null()), 0);
    assert_eq!(pr_reader_remaining(null()), 0);
    assert_eq!(pr_writer_remaining(null()), 0);
    let mut t = pr_transfer {
        done: 7,
        fault_gpa: 7,
        fault_code: 7,
    };
    assert_eq!(
        pr_range_read(null(), null(), null_mut(), 0, &mut t),
        PR_ERR_NULL_ARGUMENT
    );
    assert_eq!(t, pr_transfer::default(), "the report is always written");
    assert_eq!(
        pr_memory_new_callbacks(null(), null_mut(), &mut null_mut()),
        PR_ERR_NULL_ARGUMENT
    );
    let half = MemoryOps {
        read: Some(ram_read),
        write: None,
        fill: None,
    };
    assert_eq!(
        pr_memory_new_callbacks(&half, null_mut(), &mut null_mut()),
        PR_ERR_NULL_ARGUMENT
    );
    pr_range_free(null_mut());
    pr_ranges_free(null_mut());
    pr_memory_free(null_mut());
    pr_reader_free(null_mut());
    pr_writer_free(null_mut());
    // SAFETY: pr_status_str returns a static C string for any value.
    let text = unsafe { CStr::from_ptr(pr_status_str(12345)) };
    assert_eq!(text.to_str().unwrap(), "unknown status");
}

#[test]
fn transfers_report_faults_and_cursors_resume() {
    let ram = Ram::new(32);
    let mem = memory(&ram, true);
    let gpns = [3u64, 4, 10, 11, 20];
    let r = range(&gpns, 50, 4 * P);

    let mut buf = vec![0u8; 4 * P];
    let mut t = pr_transfer::default();
    assert_eq!(
        pr_range_read(r, mem, buf.as_mut_ptr().cast(), buf.len(), &mut t),
        PR_OK
    );
    assert_eq!(t.done, 4 * P);
    assert_eq!(ram.calls.lock().unwrap().len(), 3, "one callback per run");
    let expect = |gpa: usize| (gpa % 251) as u8;
    assert_eq!(buf[0], expect(3 * P + 50));
    assert_eq!(buf[2 * P - 50], expect(10 * P));

    // Too long: nothing happens.
    ram.calls.lock().unwrap().clear();
    assert_eq!(
        pr_range_read(r, mem, buf.as_mut_ptr().cast(), usize::MAX, &mut t),
        PR_ERR_OUT_OF_RANGE
    );
    assert_eq!(t.done, 0);
    assert!(ram.calls.lock().unwrap().is_empty());

    // A failure on the second run.
    *ram.fail_gpa.lock().unwrap() = Some(10 * 4096);
    let mut w = null_mut();
    assert_eq!(pr_writer_new(r, mem, &mut w), PR_OK);
    pr_range_free(r);
    pr_memory_free(mem); // the writer keeps both alive
    let data = vec![0xabu8; 4 * P];
    assert_eq!(
        pr_writer_write(w, data.as_ptr().cast(), data.len(), &mut t),
        PR_ERR_MEMORY
    );
    assert_eq!(
        t,
        pr_transfer {
            done: 2 * P - 50,
            fault_gpa: 10 * 4096,
            fault_code: -5
        }
    );
    assert_eq!(pr_writer_remaining(w), 2 * P + 50);
    *ram.fail_gpa.lock().unwrap() = None;
    assert_eq!(pr_writer_fill(w, 0xcd, 2 * P + 50, &mut t), PR_OK);
    assert_eq!(pr_writer_remaining(w), 0);
    pr_writer_free(w);
    let bytes = ram.bytes.lock().unwrap();
    assert_eq!(bytes[3 * P + 50], 0xab);
    assert_eq!(bytes[5 * P - 1], 0xab);
    assert_eq!(bytes[10 * P], 0xcd);
    assert_eq!(bytes[20 * P + 49], 0xcd);
    assert_eq!(bytes[20 * P + 50], expect(20 * P + 50));
}

#[test]
fn ranges_windows_and_readers() {
    let ram = Ram::new(16);
    let mem = memory(&ram, false);
    let g1 = [1u64, 2];
    let g2 = [5u64];
    let a = range(&g1, 100, P);
    let b = range(&g2, 8, 16);
    let empty = range(&[], 0, 0);
    let members = [a.cast_const(), empty.cast_const(), b.cast_const()];
    let mut rs = null_mut();
    assert_eq!(pr_ranges_new(members.as_ptr(), 3, &mut rs), PR_OK);
    for h in [a, b, empty] {
        pr_range_free(h);
    }
    assert_eq!(pr_ranges_len(rs), P + 16);
    assert_eq!(pr_ranges_count(rs), 2);
    assert_eq!(pr_ranges_skip(rs, 200), PR_OK);
    assert_eq!(pr_ranges_truncate(rs, P - 200 + 4), PR_OK);
    let mut runs = [AddressRange::default(); 4];
    let mut count = 0;
    assert_eq!(
        pr_ranges_address_ranges(rs, runs.as_mut_ptr(), 4, &mut count),
        PR_OK
    );
    assert_eq!(
        &runs[..count],
        &[
            // GPNs 1 and 2 are adjacent: one run.
            AddressRange::from(4096 + 300..2 * 4096 + 100),
            AddressRange::from(5 * 4096 + 8..5 * 4096 + 12),
        ]
    );
    let mut second = null_mut();
    assert_eq!(pr_ranges_get(rs, 1, &mut second), PR_OK);
    assert_eq!(
        runs_of(second),
        vec![AddressRange::from(5 * 4096 + 8..5 * 4096 + 12)]
    );
    assert_eq!(pr_ranges_get(rs, 2, &mut null_mut()), PR_ERR_OUT_OF_RANGE);

    // Push after truncate appends after the current end.
    assert_eq!(pr_ranges_push(rs, second), PR_OK);
    assert_eq!(pr_ranges_len(rs), P - 200 + 8);
    assert_eq!(pr_ranges_count(rs), 3);
    pr_range_free(second);

    let mut rd = null_mut();
    assert_eq!(pr_ranges_reader_new(rs, mem, &mut rd), PR_OK);
    pr_ranges_free(rs);
    let mut out = vec![0u8; P - 200 + 8];
    let mut t = pr_transfer::default();
    assert_eq!(pr_reader_skip(rd, 10), PR_OK);
    assert_eq!(
        pr_reader_read(rd, out.as_mut_ptr().cast(), 5, &mut t),
        PR_OK
    );
    assert_eq!(out[0], ((4096 + 310) % 251) as u8);
    assert_eq!(
        pr_reader_read(rd, out.as_mut_ptr().cast(), P, &mut t),
        PR_ERR_OUT_OF_RANGE
    );
    let left = pr_reader_remaining(rd);
    assert_eq!(
        pr_reader_read(rd, out.as_mut_ptr().cast(), left, &mut t),
        PR_OK
    );
    assert_eq!(out[left - 1], ((5 * 4096 + 11) % 251) as u8);
    assert_eq!(pr_reader_remaining(rd), 0);
    pr_reader_free(rd);
    pr_memory_free(mem);
}

/// Plain reads and writes by guest address: all or nothing, logged in a
/// dirty bitmap, faults reported.
#[test]
fn memory_reads_and_writes_by_address() {
    let mut ram = vec![0u8; 4 * P];
    let region = MappedRegion {
        gpa: 0x10000,
        size: ram.len() as u64,
        host: ram.as_mut_ptr().cast(),
    };
    let mut mem = null_mut();
    assert_eq!(pr_memory_new_mapped(&region, 1, &mut mem), PR_OK);
    let mut bits = [0u64; 1];
    let mut logged = null_mut();
    assert_eq!(
        pr_memory_with_dirty_bitmap(mem, bits.as_mut_ptr(), 64, &mut logged),
        PR_OK
    );
    let mut t = pr_transfer::default();
    let src = [7u8; 10];
    assert_eq!(
        pr_memory_write(
            logged,
            0x10000 + P as u64 - 4,
            src.as_ptr().cast(),
            10,
            &mut t
        ),
        PR_OK
    );
    assert_eq!(t.done, 10);
    let mut back = [0u8; 10];
    assert_eq!(
        pr_memory_read(
            mem,
            0x10000 + P as u64 - 4,
            back.as_mut_ptr().cast(),
            10,
            &mut t
        ),
        PR_OK
    );
    assert_eq!(back, src);
    // Past the region: refused whole, nothing written, the first unmapped
    // address reported.
    assert_eq!(
        pr_memory_write(
            logged,
            0x10000 + 4 * P as u64 - 2,
            src.as_ptr().cast(),
            10,
            &mut t
        ),
        PR_ERR_MEMORY
    );
    assert_eq!(
        (t.done, t.fault_gpa, t.fault_code),
        (0, 0x10000 + 4 * P as u64, -1)
    );
    assert_eq!(pr_memory_read(mem, 5, null_mut(), 0, &mut t), PR_OK);
    assert_eq!(
        pr_memory_read(null(), 5, back.as_mut_ptr().cast(), 1, &mut t),
        PR_ERR_NULL_ARGUMENT
    );
    assert_eq!(
        pr_memory_write(mem, 5, null(), 1, &mut t),
        PR_ERR_NULL_ARGUMENT
    );
    pr_memory_free(logged);
    pr_memory_free(mem);
    assert_eq!(&ram[P - 4..P + 6], &src);
    assert_eq!(ram[4 * P - 2], 0, "the refused write left no byte");
    // Pages 0x10 and 0x11 were written.
    assert_eq!(bits[0], (1 << 0x10) | (1 << 0x11));
}

/// The committed header is the one build.rs generates from this code.
#[test]
fn header_matches_the_code() {
    let generated = include_str!(concat!(env!("OUT_DIR"), "/pagedrange.h"));
    let committed = include_str!("../include/pagedrange.h");
    assert!(
        generated == committed,
        "include/pagedrange.h differs from the header the code generates; \
         run scripts/gen-header.sh and commit it"
    );
}
