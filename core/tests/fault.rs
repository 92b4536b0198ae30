//! Fault recovery of the mapped backend: guest memory truncated, unmapped
//! or protected under a transfer reports the fault and the bytes done, and
//! the process lives on. (x86-64 Linux only: elsewhere there is no
//! recovery to test.)
#![cfg(all(target_arch = "x86_64", target_os = "linux", not(miri)))]

use pagedrange::memory::{install_fault_handler, FAULT_SIGBUS, FAULT_SIGSEGV};
use pagedrange::{
    MappedMemory, MappedRegion, MemoryRead, MemoryWrite, PagedRange, TransferError, PAGE_SIZE,
};

const GPA: u64 = 0x10_0000;
const PAGES: usize = 8;

/// A memfd of `PAGES` pages mapped shared, as a vhost-user frontend hands
/// it over.
struct Region {
    fd: i32,
    host: *mut u8,
}

impl Region {
    fn new() -> Self {
        // SAFETY: plain syscalls on a fresh memfd; every result is checked.
        unsafe {
            let fd = libc::memfd_create(c"pagedrange-fault-test".as_ptr(), 0);
            assert!(fd >= 0);
            assert_eq!(libc::ftruncate(fd, (PAGES * PAGE_SIZE) as i64), 0);
            let host = libc::mmap(
                core::ptr::null_mut(),
                PAGES * PAGE_SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            );
            assert_ne!(host, libc::MAP_FAILED);
            Region {
                fd,
                host: host.cast(),
            }
        }
    }

    fn memory(&self) -> MappedMemory {
        // SAFETY: the mapping outlives the memory (the tests drop the
        // memory first); faults in it are what the tests provoke, with the
        // handler installed.
        unsafe {
            MappedMemory::new(&[MappedRegion {
                gpa: GPA,
                size: (PAGES * PAGE_SIZE) as u64,
                host: self.host,
            }])
        }
        .unwrap()
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: the mapping and fd this value made.
        unsafe {
            libc::munmap(self.host.cast(), PAGES * PAGE_SIZE);
            libc::close(self.fd);
        }
    }
}

/// GPNs 0x100.. of the region, in order: one run.
fn gpns() -> Vec<u64> {
    (0..PAGES as u64).map(|i| (GPA >> 12) + i).collect()
}

fn memory_error(r: Result<(), TransferError>) -> (usize, u64, i32) {
    match r {
        Err(TransferError::Memory { done, gpa, code }) => (done, gpa, code),
        other => panic!("expected a memory fault, got {other:?}"),
    }
}

#[test]
fn truncated_file_fails_the_transfer_and_the_next_one_works() {
    install_fault_handler().unwrap();
    let region = Region::new();
    let mem = region.memory();
    let gpns = gpns();
    let range = PagedRange::new(100, PAGES * PAGE_SIZE - 200, &gpns).unwrap();
    let data: Vec<u8> = (0..range.len()).map(|i| (i % 241) as u8).collect();
    range.writer(&mem).write(&data).unwrap();

    // Cut the file to 5 pages: page 5 on raises SIGBUS.
    // SAFETY: the fd is ours.
    assert_eq!(
        unsafe { libc::ftruncate(region.fd, 5 * PAGE_SIZE as i64) },
        0
    );
    let cut = GPA + 5 * PAGE_SIZE as u64;
    let before_cut = 5 * PAGE_SIZE - 100;
    for len in [
        range.len(),
        5 * PAGE_SIZE,
        before_cut + 1,
        before_cut + 4096,
    ] {
        let mut back = vec![0u8; len];
        let (done, gpa, code) = memory_error(range.reader(&mem).read(&mut back));
        assert_eq!(
            (done, gpa, code),
            (before_cut, cut, FAULT_SIGBUS),
            "read {len}"
        );
        assert_eq!(back[..done], data[..done], "the bytes before the fault");
        // A cursor advances by exactly the bytes done.
        let mut r = range.reader(&mem);
        let _ = r.read(&mut back);
        assert_eq!(r.len(), range.len() - before_cut);
    }
    let (done, gpa, code) = memory_error(range.writer(&mem).zero(range.len()));
    assert_eq!((done, gpa, code), (before_cut, cut, FAULT_SIGBUS), "fill");
    let (done, gpa, code) = memory_error(range.writer(&mem).write(&data));
    assert_eq!((done, gpa, code), (before_cut, cut, FAULT_SIGBUS), "write");

    // The pages before the cut still work, byte for byte; small accesses
    // on either side of the cut too.
    let mut head = vec![0u8; before_cut];
    range.reader(&mem).read(&mut head).unwrap();
    assert_eq!(head, data[..before_cut]);
    let tail = range.subrange(before_cut - 3, 8);
    let (done, gpa, _) = memory_error(tail.reader(&mem).read(&mut [0u8; 8]));
    assert_eq!((done, gpa), (3, cut));

    // Grown back, the file reads again (zeros past the old end).
    // SAFETY: the fd is ours.
    assert_eq!(
        unsafe { libc::ftruncate(region.fd, (PAGES * PAGE_SIZE) as i64) },
        0
    );
    let mut all = vec![1u8; range.len()];
    range.reader(&mem).read(&mut all).unwrap();
    assert!(all[before_cut..].iter().all(|&b| b == 0));
}

#[test]
fn unmapped_and_protected_pages_fail_with_sigsegv() {
    install_fault_handler().unwrap();
    let region = Region::new();
    let mem = region.memory();
    let gpns = gpns();
    let range = PagedRange::new(0, PAGES * PAGE_SIZE, &gpns).unwrap();
    // SAFETY: page 6 of our own mapping.
    let page6 = unsafe { region.host.add(6 * PAGE_SIZE) };
    // SAFETY: as above.
    assert_eq!(
        unsafe { libc::mprotect(page6.cast(), PAGE_SIZE, libc::PROT_NONE) },
        0
    );
    let mut buf = vec![0u8; range.len()];
    let (done, gpa, code) = memory_error(range.reader(&mem).read(&mut buf));
    assert_eq!(
        (done, gpa, code),
        (6 * PAGE_SIZE, GPA + 6 * PAGE_SIZE as u64, FAULT_SIGSEGV)
    );
    // Read-only: reads work, writes fault at the page.
    // SAFETY: as above.
    assert_eq!(
        unsafe { libc::mprotect(page6.cast(), PAGE_SIZE, libc::PROT_READ) },
        0
    );
    range.reader(&mem).read(&mut buf).unwrap();
    let sub = range.subrange(6 * PAGE_SIZE - 10, 20);
    let (done, gpa, _) = memory_error(sub.writer(&mem).write(&[7; 20]));
    assert_eq!((done, gpa), (10, GPA + 6 * PAGE_SIZE as u64));
    // Unmapped (a ballooned page).
    // SAFETY: as above.
    assert_eq!(unsafe { libc::munmap(page6.cast(), PAGE_SIZE) }, 0);
    for len in [1, 2, 8, 16, 100, 4096, 2 * 4096] {
        let sub = range.subrange(6 * PAGE_SIZE, len);
        let (done, gpa, code) = memory_error(sub.writer(&mem).zero(len));
        assert_eq!(
            (done, gpa, code),
            (0, GPA + 6 * PAGE_SIZE as u64, FAULT_SIGSEGV)
        );
    }
    // Map it back so Drop unmaps a whole mapping.
    // SAFETY: re-mapping the hole we made, at its own address.
    let back = unsafe {
        libc::mmap(
            page6.cast(),
            PAGE_SIZE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_FIXED,
            region.fd,
            (6 * PAGE_SIZE) as i64,
        )
    };
    assert_eq!(back, page6.cast());
    range.reader(&mem).read(&mut buf).unwrap();
}
