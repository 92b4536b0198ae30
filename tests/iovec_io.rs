//! Real `preadv`/`pwritev` straight into and out of guest pages of a
//! [`MappedMemory`] whose host memory is a `Vec`, through iovecs exported by
//! the Rust API and by the C ABI, issuing the IO in pieces when the iovec
//! array is short.
//!
//! Miri cannot run these (it has no `preadv`/`pwritev` shims, and file IO
//! needs isolation disabled), so they are ignored under Miri.

// Iovec export (and so these tests) exists on unix only.
#![cfg(unix)]

use std::ffi::c_int;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::PathBuf;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};

use pagedrange::{
    MappedMemory, MappedRegion, MemoryRead, MemoryWrite, PagedRange, PagedRanges, PAGE_SIZE,
};
use pagedrange_ffi::memory::{pr_memory_free, pr_memory_new_mapped};
use pagedrange_ffi::range::{pr_range_free, pr_range_iovecs, pr_range_new, pr_range_skip};
use pagedrange_ffi::ranges::{pr_ranges_free, pr_ranges_iovecs, pr_ranges_new, pr_ranges_skip};
use pagedrange_ffi::{pr_memory, pr_range, pr_ranges, PR_ERR_BUFFER_TOO_SMALL, PR_OK};

const P: usize = PAGE_SIZE;
/// Host pages of the fake guest RAM.
const HOST_PAGES: usize = 16;
/// What host bytes outside any window hold; IO must never touch them.
const UNTOUCHED: u8 = 0xee;

/// Guest regions: `(first GPN, pages, first host page)`. GPNs 0..4 and
/// 100..104 are adjacent in host memory (host pages 0..8) though not in
/// guest addresses; GPNs 50..54 sit apart (host pages 10..14). Host pages
/// 8, 9, 14 and 15 belong to no region.
const LAYOUT: [(u64, usize, usize); 3] = [(0, 4, 0), (100, 4, 4), (50, 4, 10)];

/// Scattered GPNs: adjacent guest pages (2, 3), a host-only adjacency
/// (3 -> 100), a jump backwards (51 -> 50), single pages.
const GPNS: [u64; 11] = [2, 3, 100, 101, 51, 50, 0, 103, 52, 53, 1];

fn host_page(gpn: u64) -> usize {
    LAYOUT
        .iter()
        .find(|&&(first, pages, _)| (first..first + pages as u64).contains(&gpn))
        .map(|&(first, _, host)| host + (gpn - first) as usize)
        .expect("GPN is mapped")
}

/// The model: host offset (into the RAM Vec) of every byte of a window.
fn host_offsets(gpns: &[u64], offset: usize, len: usize) -> Vec<usize> {
    (offset..offset + len)
        .map(|i| host_page(gpns[i / P]) * P + i % P)
        .collect()
}

/// Number of maximal host-contiguous pieces in a list of host offsets.
fn pieces(offsets: &[usize]) -> usize {
    offsets.windows(2).filter(|w| w[1] != w[0] + 1).count() + usize::from(!offsets.is_empty())
}

struct Ram {
    bytes: Vec<u8>,
}

impl Ram {
    fn new() -> Self {
        Self {
            bytes: vec![UNTOUCHED; HOST_PAGES * P],
        }
    }

    fn regions(&mut self) -> Vec<MappedRegion> {
        let base = self.bytes.as_mut_ptr();
        LAYOUT
            .iter()
            .map(|&(gpn, pages, host)| MappedRegion {
                gpa: gpn * P as u64,
                size: (pages * P) as u64,
                host: base.wrapping_add(host * P).cast(),
            })
            .collect()
    }
}

/// Deterministic pseudo-random bytes.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

/// A file under the temp directory, removed on drop.
struct TempFile {
    path: PathBuf,
    file: File,
}

impl TempFile {
    fn new(tag: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "pagedrange-iovec-{}-{}-{}-{}",
            std::process::id(),
            tag,
            NEXT.fetch_add(1, Ordering::Relaxed),
            nanos
        ));
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .expect("create the temp file");
        Self { path, file }
    }

    fn fd(&self) -> c_int {
        self.file.as_raw_fd()
    }

    fn contents(&self) -> Vec<u8> {
        std::fs::read(&self.path).unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn empty_iovs(n: usize) -> Vec<libc::iovec> {
    vec![
        libc::iovec {
            iov_base: ptr::null_mut(),
            iov_len: 0,
        };
        n
    ]
}

/// Checks an export against the model: the entries cover exactly
/// `covered` bytes, and they are the host addresses of the window's first
/// `covered` bytes, in order.
fn check_export(iov: &[libc::iovec], covered: usize, ram: *const u8, model: &[usize]) {
    let mut i = 0;
    for e in iov {
        assert!(e.iov_len > 0, "no empty entries");
        let start = (e.iov_base as usize) - (ram as usize);
        assert_eq!(start, model[i], "entry starts at byte {i}'s host address");
        assert_eq!(
            start + e.iov_len - 1,
            model[i + e.iov_len - 1],
            "entry is host-contiguous with the model"
        );
        i += e.iov_len;
    }
    assert_eq!(i, covered);
}

fn preadv(fd: c_int, iov: &[libc::iovec], at: usize) -> usize {
    // SAFETY: the entries point into mapped guest RAM (a live Vec) that
    // nothing else accesses during the call.
    let n = unsafe { libc::preadv(fd, iov.as_ptr(), iov.len() as c_int, at as libc::off_t) };
    assert!(n > 0, "preadv: {}", std::io::Error::last_os_error());
    n as usize
}

fn pwritev(fd: c_int, iov: &[libc::iovec], at: usize) -> usize {
    // SAFETY: the entries point into mapped guest RAM that nothing writes
    // during the call.
    let n = unsafe { libc::pwritev(fd, iov.as_ptr(), iov.len() as c_int, at as libc::off_t) };
    assert!(n > 0, "pwritev: {}", std::io::Error::last_os_error());
    n as usize
}

/// Host bytes not in `model` still hold [`UNTOUCHED`].
fn check_untouched(ram: &[u8], model: &[usize]) {
    let mut inside = vec![false; ram.len()];
    for &o in model {
        inside[o] = true;
    }
    for (o, (&b, &ins)) in ram.iter().zip(&inside).enumerate() {
        if !ins {
            assert_eq!(b, UNTOUCHED, "host byte {o} outside the window changed");
        }
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn preadv_into_scattered_guest_pages_in_pieces() {
    let (offset, len) = (123, GPNS.len() * P - 123 - 200);
    let model = host_offsets(&GPNS, offset, len);
    let file_data = pattern(len + 1000, 1);
    let file = TempFile::new("preadv");
    file.file.write_all_at(&file_data, 0).unwrap();

    for cap in [1, 2, 3, 64] {
        let mut ram = Ram::new();
        let regions = ram.regions();
        let host = ram.bytes.as_ptr();
        // SAFETY: `ram` outlives `mem` and is only accessed through it (and
        // the IO it exports) until `mem` is dropped.
        let mem = unsafe { MappedMemory::new(&regions) }.unwrap();
        let window = PagedRange::new(offset, len, &GPNS).unwrap();

        // With room for every entry, one entry per host piece.
        let mut iov = empty_iovs(64);
        let all = window.iovecs(&mem, len, &mut iov).unwrap();
        assert_eq!(all.covered, len);
        assert_eq!(
            all.count,
            pieces(&model),
            "pieces adjacent in host memory merge"
        );
        check_export(&iov[..all.count], len, host, &model);

        // The IO in pieces: export what fits, read it, skip what was read.
        let mut rest = window;
        let mut at = 1000;
        let mut rounds = 0;
        while !rest.is_empty() {
            let done = len - rest.len();
            let got = rest.iovecs(&mem, rest.len(), &mut iov[..cap]).unwrap();
            assert!(got.count >= 1 && got.count <= cap);
            assert!(got.covered > 0);
            check_export(&iov[..got.count], got.covered, host, &model[done..]);
            if got.count < cap {
                assert_eq!(
                    got.covered,
                    rest.len(),
                    "a short export means the array was full"
                );
            }
            let n = preadv(file.fd(), &iov[..got.count], at);
            assert!(n <= got.covered);
            rest.skip(n);
            at += n;
            rounds += 1;
        }
        assert!(rounds >= all.count.div_ceil(cap));

        // The guest sees the file's bytes through the library.
        let mut back = vec![0u8; len];
        window.reader(&mem).read(&mut back).unwrap();
        assert_eq!(back, &file_data[1000..1000 + len], "capacity {cap}");
        drop(mem);
        for (i, &o) in model.iter().enumerate() {
            assert_eq!(ram.bytes[o], file_data[1000 + i], "byte {i}");
        }
        check_untouched(&ram.bytes, &model);
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn pwritev_out_of_several_windows_in_pieces() {
    // Two windows over the same list: the first ends on GPN 3, the second
    // starts on GPN 100 (host-adjacent), so their pieces merge; a third
    // starts mid-page.
    let w0 = PagedRange::new(P + 10, P - 10, &GPNS).unwrap(); // GPN 3
    let w1 = PagedRange::new(2 * P, 2 * P, &GPNS).unwrap(); // GPNs 100, 101
    let w2 = PagedRange::new(5 * P + 77, 3 * P, &GPNS).unwrap(); // 50, 0, 103, 52
    let members = [w0, PagedRange::empty(), w1, w2];
    let rs = PagedRanges::new(members.iter().copied());
    let len = rs.len();
    let model: Vec<usize> = [(P + 10, P - 10), (2 * P, 2 * P), (5 * P + 77, 3 * P)]
        .iter()
        .flat_map(|&(o, l)| host_offsets(&GPNS, o, l))
        .collect();
    assert_eq!(model.len(), len);
    let data = pattern(len, 2);

    for cap in [1, 2, 5, 32] {
        let mut ram = Ram::new();
        let regions = ram.regions();
        let host = ram.bytes.as_ptr();
        // SAFETY: as above.
        let mem = unsafe { MappedMemory::new(&regions) }.unwrap();
        let mut w = rs.writer(&mem);
        w.write(&data).unwrap();
        assert!(w.is_empty());

        let file = TempFile::new("pwritev");
        file.file.write_all_at(&[0x11; 64], 0).unwrap();
        let mut iov = empty_iovs(32);
        let all = rs.iovecs(&mem, len, &mut iov).unwrap();
        assert_eq!(all.count, pieces(&model), "windows merge in host memory");
        check_export(&iov[..all.count], len, host, &model);

        let mut rest = rs.clone();
        let mut at = 7;
        while !rest.is_empty() {
            let done = len - rest.len();
            let got = rest.iovecs(&mem, rest.len(), &mut iov[..cap]).unwrap();
            assert!(got.count >= 1 && got.count <= cap);
            check_export(&iov[..got.count], got.covered, host, &model[done..]);
            let n = pwritev(file.fd(), &iov[..got.count], at);
            assert!(n <= got.covered);
            rest.skip(n);
            at += n;
        }
        let out = file.contents();
        assert_eq!(out.len(), 7 + len);
        assert_eq!(&out[..7], &[0x11; 7], "bytes before the IO offset kept");
        assert_eq!(&out[7..], &data[..], "capacity {cap}");
        drop(mem);
        check_untouched(&ram.bytes, &model);
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn preadv_with_a_prefix_leaves_the_rest_alone() {
    // Exporting only the first `len` bytes of a window: the IO stops there.
    let window_len = 6 * P;
    let prefix = 2 * P + 1;
    let model = host_offsets(&GPNS, 0, window_len);
    let data = pattern(prefix, 3);
    let file = TempFile::new("prefix");
    file.file.write_all_at(&data, 0).unwrap();
    let mut ram = Ram::new();
    let regions = ram.regions();
    // SAFETY: as above.
    let mem = unsafe { MappedMemory::new(&regions) }.unwrap();
    let window = PagedRange::new(0, window_len, &GPNS).unwrap();
    let mut iov = empty_iovs(8);
    let got = window.iovecs(&mem, prefix, &mut iov).unwrap();
    assert_eq!(got.covered, prefix);
    assert_eq!(preadv(file.fd(), &iov[..got.count], 0), prefix);
    drop(mem);
    check_untouched(&ram.bytes, &model[..prefix]);
    for (i, &o) in model[..prefix].iter().enumerate() {
        assert_eq!(ram.bytes[o], data[i]);
    }
}

fn ffi_range(gpns: &[u64], offset: usize, len: usize) -> *mut pr_range {
    let mut r = ptr::null_mut();
    assert_eq!(
        pr_range_new(gpns.as_ptr(), gpns.len(), offset, len, &mut r),
        PR_OK
    );
    r
}

#[test]
#[cfg_attr(miri, ignore)]
fn c_abi_iovecs_drive_preadv_and_pwritev_in_pieces() {
    let mut ram = Ram::new();
    let regions: Vec<pagedrange_ffi::MappedRegion> =
        ram.regions().into_iter().map(Into::into).collect();
    let host = ram.bytes.as_ptr();
    let mut mem: *mut pr_memory = ptr::null_mut();
    assert_eq!(
        pr_memory_new_mapped(regions.as_ptr(), regions.len(), &mut mem),
        PR_OK
    );
    let (offset, len) = (300, 9 * P);
    let model = host_offsets(&GPNS, offset, len);
    let data = pattern(len, 4);
    let src = TempFile::new("c-src");
    src.file.write_all_at(&data, 0).unwrap();

    // preadv through pr_range_iovecs, two entries at a time.
    let r = ffi_range(&GPNS, offset, len);
    let mut iov = empty_iovs(2);
    let mut at = 0;
    loop {
        let left = len - at;
        if left == 0 {
            break;
        }
        let (mut count, mut covered) = (0usize, 0usize);
        let s = pr_range_iovecs(r, mem, left, iov.as_mut_ptr(), 2, &mut count, &mut covered);
        if covered < left {
            assert_eq!(s, PR_ERR_BUFFER_TOO_SMALL);
            assert_eq!(count, 2);
        } else {
            assert_eq!(s, PR_OK);
        }
        check_export(&iov[..count], covered, host, &model[at..]);
        let n = preadv(src.fd(), &iov[..count], at);
        assert_eq!(pr_range_skip(r, n), PR_OK);
        at += n;
    }
    pr_range_free(r);
    for (i, &o) in model.iter().enumerate() {
        assert_eq!(ram.bytes[o], data[i], "byte {i}");
    }

    // pwritev through pr_ranges_iovecs of two windows, one entry at a time.
    let a = ffi_range(&GPNS, offset, 4 * P);
    let b = ffi_range(&GPNS, offset + 4 * P, len - 4 * P);
    let list: [*const pr_range; 2] = [a, b];
    let mut rs: *mut pr_ranges = ptr::null_mut();
    assert_eq!(pr_ranges_new(list.as_ptr(), 2, &mut rs), PR_OK);
    let dst = TempFile::new("c-dst");
    let mut at = 0;
    while at < len {
        let (mut count, mut covered) = (0usize, 0usize);
        let s = pr_ranges_iovecs(
            rs,
            mem,
            len - at,
            iov.as_mut_ptr(),
            1,
            &mut count,
            &mut covered,
        );
        assert!(s == PR_OK || s == PR_ERR_BUFFER_TOO_SMALL, "status {s}");
        assert_eq!(count, 1);
        check_export(&iov[..1], covered, host, &model[at..]);
        let n = pwritev(dst.fd(), &iov[..1], at);
        assert_eq!(pr_ranges_skip(rs, n), PR_OK);
        at += n;
    }
    assert_eq!(dst.contents(), data);
    pr_ranges_free(rs);
    pr_range_free(a);
    pr_range_free(b);
    pr_memory_free(mem);
    check_untouched(&ram.bytes, &model);
}

#[test]
#[cfg_attr(miri, ignore)]
fn temp_files_are_removed() {
    let path = {
        let f = TempFile::new("cleanup");
        assert!(f.path.exists());
        f.path.clone()
    };
    assert!(!path.exists());
}
