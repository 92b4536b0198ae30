//! Transfers through pagedrange against rust-vmm's vm-memory, over one
//! guest memory and the same GPN lists as `bench-c/bench.c`.
//!
//! Guest RAM is 64 MiB at GPA 0, mapped by vm-memory's `GuestMemoryMmap`;
//! pagedrange's backends address the very same host mapping. For each
//! transfer size (512 B, 4 KiB, 64 KiB, 1 MiB), GPN layout (contiguous,
//! scattered, pairs) and direction:
//!
//! * `pr_mapped_rust`: `PagedRange::read`/`write` over `MappedMemory` (the
//!   Rust API);
//! * `pr_mapped_ffi`: `pr_range_read`/`pr_range_write` over
//!   `pr_memory_new_mapped` (the C ABI, called from Rust);
//! * `pr_callback_ffi`: the same over `pr_memory_new_callbacks` with
//!   memcpy callbacks;
//! * `vm_memory`: `GuestMemoryMmap::read_slice`/`write_slice`, once per run
//!   of adjacent GPNs (the loop a vm-memory user writes by hand).
//!
//! Timing is per-thread CPU time (`CLOCK_THREAD_CPUTIME_ID`), so time spent
//! descheduled on a busy machine is not counted. Run with
//! `cargo bench --bench transfer`; scripts/bench.sh passes shorter
//! warm-up/measurement times and collects target/criterion/*/new/*.json.

use std::ffi::c_void;
use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pagedrange::{MappedMemory, MappedRegion, PagedRange};
use pagedrange_ffi::memory::{
    pr_memory, pr_memory_free, pr_memory_new_callbacks, pr_memory_new_mapped,
};
use pagedrange_ffi::range::{pr_range, pr_range_free, pr_range_new, pr_range_read, pr_range_write};
use pagedrange_ffi::MemoryOps;
use pagedrange_ffi::{pr_transfer, PR_OK};
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap};

const PAGE: usize = 4096;
const RAM_SIZE: usize = 64 << 20;
const RAM_PAGES: u64 = (RAM_SIZE / PAGE) as u64;
const SIZES: [usize; 4] = [512, 4096, 64 << 10, 1 << 20];
const LAYOUTS: [&str; 3] = ["contiguous", "scattered", "pairs"];

// ---------------------------------------------------------------------------
// Thread CPU time as a criterion measurement.

/// Criterion measurement counting this thread's CPU time only.
struct ThreadTime;

static WALL: WallTime = WallTime;

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write; the clock id is a constant
    // Linux supports.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl Measurement for ThreadTime {
    type Intermediate = u64;
    type Value = Duration;

    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> Duration {
        Duration::from_nanos(thread_cpu_ns().saturating_sub(start))
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, v: &Duration) -> f64 {
        v.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        // Values are durations in ns, exactly what wall time reports.
        WALL.formatter()
    }
}

// ---------------------------------------------------------------------------
// GPN layouts: the same generator, seeds and rules as bench-c/bench.c.

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn make_gpns(layout: usize, n: usize) -> Vec<u64> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((layout as u64) << 32) ^ n as u64);
    let mut out: Vec<u64> = Vec::with_capacity(n);
    match layout {
        0 => out.extend((0..n as u64).map(|i| 1024 + i)),
        1 => {
            while out.len() < n {
                let g = rng.next() % RAM_PAGES;
                if out.contains(&g) || out.last().is_some_and(|&p| g == p + 1) {
                    continue;
                }
                out.push(g);
            }
        }
        2 => {
            while out.len() < n {
                let g = (rng.next() % (RAM_PAGES / 2)) * 2;
                if out.contains(&g) || out.last().is_some_and(|&p| g == p + 1) {
                    continue;
                }
                out.push(g);
                if out.len() < n {
                    out.push(g + 1);
                }
            }
        }
        _ => unreachable!(),
    }
    out
}

// ---------------------------------------------------------------------------
// The vm-memory loop: one read_slice/write_slice per run of adjacent GPNs,
// with the same checks on guest-supplied page numbers.

fn runs(gpns: &[u64], len: usize, mut f: impl FnMut(u64, usize, usize)) {
    let (mut pos, mut i) = (0, 0);
    while pos < len {
        let mut j = i + 1;
        while j < gpns.len() && (j - i) * PAGE < len - pos && gpns[j] == gpns[j - 1] + 1 {
            j += 1;
        }
        let n = ((j - i) * PAGE).min(len - pos);
        let gpa = gpns[i].checked_mul(PAGE as u64).expect("GPN out of range");
        f(gpa, pos, n);
        pos += n;
        i = j;
    }
}

fn vm_read(mem: &GuestMemoryMmap, gpns: &[u64], dst: &mut [u8]) {
    let len = dst.len();
    runs(gpns, len, |gpa, pos, n| {
        mem.read_slice(&mut dst[pos..pos + n], GuestAddress(gpa))
            .expect("vm-memory read")
    });
}

fn vm_write(mem: &GuestMemoryMmap, gpns: &[u64], src: &[u8]) {
    runs(gpns, src.len(), |gpa, pos, n| {
        mem.write_slice(&src[pos..pos + n], GuestAddress(gpa))
            .expect("vm-memory write")
    });
}

// ---------------------------------------------------------------------------
// The callback backend: what a C user would plug in, written in Rust.

struct CbCtx {
    ram: *mut u8,
    size: u64,
}

unsafe extern "C" fn cb_read(ctx: *mut c_void, gpa: u64, dst: *mut c_void, len: usize) -> i32 {
    // SAFETY: ctx is the CbCtx given at creation, alive for the bench.
    let c = unsafe { &*(ctx as *const CbCtx) };
    if gpa > c.size || len as u64 > c.size - gpa {
        return -1;
    }
    // SAFETY: the run lies inside guest RAM (checked); dst has len bytes.
    unsafe { std::ptr::copy_nonoverlapping(c.ram.add(gpa as usize), dst.cast(), len) };
    0
}

unsafe extern "C" fn cb_write(ctx: *mut c_void, gpa: u64, src: *const c_void, len: usize) -> i32 {
    // SAFETY: as in cb_read.
    let c = unsafe { &*(ctx as *const CbCtx) };
    if gpa > c.size || len as u64 > c.size - gpa {
        return -1;
    }
    // SAFETY: as in cb_read, directions swapped.
    unsafe { std::ptr::copy_nonoverlapping(src.cast(), c.ram.add(gpa as usize), len) };
    0
}

// ---------------------------------------------------------------------------

/// A page-aligned heap buffer.
struct PageBuf {
    ptr: *mut u8,
    layout: std::alloc::Layout,
}

impl PageBuf {
    fn new(len: usize, value: u8) -> Self {
        let layout = std::alloc::Layout::from_size_align(len, PAGE).expect("layout");
        // SAFETY: the layout has a nonzero size.
        let ptr = unsafe { std::alloc::alloc(layout) };
        assert!(!ptr.is_null(), "allocation failed");
        // SAFETY: `ptr` is valid for `len` bytes.
        unsafe { std::ptr::write_bytes(ptr, value, len) };
        PageBuf { ptr, layout }
    }
    fn as_slice(&self) -> &[u8] {
        // SAFETY: `len` initialized bytes owned by self.
        unsafe { std::slice::from_raw_parts(self.ptr, self.layout.size()) }
    }
    fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, borrowed mutably through self.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.layout.size()) }
    }
}

impl Drop for PageBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.ptr, self.layout) };
    }
}

struct Setup {
    vm: GuestMemoryMmap,
    mapped: MappedMemory,
    ffi_mapped: *mut pr_memory,
    ffi_cb: *mut pr_memory,
    _ctx: Box<CbCtx>,
}

impl Setup {
    fn new() -> Self {
        let vm = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), RAM_SIZE)])
            .expect("vm-memory mmap");
        let host = vm.get_host_address(GuestAddress(0)).expect("host address");
        // SAFETY: vm-memory mapped RAM_SIZE bytes at `host`; fault them in.
        unsafe { std::ptr::write_bytes(host, 0xA5, RAM_SIZE) };
        let region = MappedRegion {
            gpa: 0,
            size: RAM_SIZE as u64,
            host: host.cast(),
        };
        // SAFETY: the mapping lives in `vm`, which outlives both backends
        // (fields drop after use; the ffi handles are freed in Drop first).
        let mapped = unsafe { MappedMemory::new(&[region]) }.expect("mapped memory");
        let mut ffi_mapped = std::ptr::null_mut();
        let ffi_region = pagedrange_ffi::MappedRegion::from(region);
        assert_eq!(pr_memory_new_mapped(&ffi_region, 1, &mut ffi_mapped), PR_OK);
        let ctx = Box::new(CbCtx {
            ram: host,
            size: RAM_SIZE as u64,
        });
        let ops = MemoryOps {
            read: Some(cb_read),
            write: Some(cb_write),
            fill: None,
        };
        let mut ffi_cb = std::ptr::null_mut();
        let ctx_ptr = &*ctx as *const CbCtx as *mut c_void;
        assert_eq!(pr_memory_new_callbacks(&ops, ctx_ptr, &mut ffi_cb), PR_OK);
        Setup {
            vm,
            mapped,
            ffi_mapped,
            ffi_cb,
            _ctx: ctx,
        }
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        pr_memory_free(self.ffi_cb);
        pr_memory_free(self.ffi_mapped);
    }
}

/// Checks once, before timing, that every implementation moves the same
/// bytes: a benchmark of a wrong copy measures nothing.
fn verify(s: &Setup, gpns: &[u64], range: &PagedRange<'_>, handle: *const pr_range, len: usize) {
    let pattern: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
    let mut back = vec![0u8; len];
    range.write(&s.mapped, &pattern).expect("pagedrange write");
    vm_read(&s.vm, gpns, &mut back);
    assert_eq!(back, pattern, "vm-memory reads what pagedrange wrote");
    let flipped: Vec<u8> = pattern.iter().map(|b| b ^ 0x5A).collect();
    vm_write(&s.vm, gpns, &flipped);
    let mut t = pr_transfer::default();
    for mem in [s.ffi_mapped, s.ffi_cb] {
        back.fill(0);
        let st = pr_range_read(handle, mem, back.as_mut_ptr().cast(), len, &mut t);
        assert_eq!((st, t.done), (PR_OK, len));
        assert_eq!(back, flipped, "pr_range_read reads what vm-memory wrote");
    }
}

fn bench_transfers(c: &mut Criterion<ThreadTime>) {
    let s = Setup::new();
    // Page-aligned host buffers, as in bench-c: with glibc 2.36 on AMD Zen,
    // memcpy of >= 4 KiB into a destination 16 bytes past a 64-byte boundary
    // (where malloc puts a Vec) takes a slow `rep movsb` path, 40-80x
    // slower, which would swamp every difference measured here.
    let mut dst_buf = PageBuf::new(1 << 20, 0x3C);
    let src_buf = PageBuf::new(1 << 20, 0xC3);
    let (dst, src) = (dst_buf.as_mut_slice(), src_buf.as_slice());
    for (l, layout) in LAYOUTS.iter().enumerate() {
        for &len in &SIZES {
            let gpns = make_gpns(l, len.div_ceil(PAGE));
            let range = PagedRange::new(0, len, &gpns).expect("range");
            let mut handle = std::ptr::null_mut();
            assert_eq!(
                pr_range_new(gpns.as_ptr(), gpns.len(), 0, len, &mut handle),
                PR_OK
            );
            verify(&s, &gpns, &range, handle, len);
            let dst = &mut dst[..len];
            let src = &src[..len];

            let mut g = c.benchmark_group(format!("read/{layout}"));
            g.throughput(Throughput::Bytes(len as u64));
            g.bench_function(BenchmarkId::new("pr_mapped_rust", len), |b| {
                b.iter(|| range.read(&s.mapped, black_box(&mut *dst)).unwrap())
            });
            g.bench_function(BenchmarkId::new("pr_mapped_ffi", len), |b| {
                let mut t = pr_transfer::default();
                b.iter(|| {
                    let p = black_box(dst.as_mut_ptr());
                    assert_eq!(
                        pr_range_read(handle, s.ffi_mapped, p.cast(), len, &mut t),
                        PR_OK
                    )
                })
            });
            g.bench_function(BenchmarkId::new("pr_callback_ffi", len), |b| {
                let mut t = pr_transfer::default();
                b.iter(|| {
                    let p = black_box(dst.as_mut_ptr());
                    assert_eq!(
                        pr_range_read(handle, s.ffi_cb, p.cast(), len, &mut t),
                        PR_OK
                    )
                })
            });
            g.bench_function(BenchmarkId::new("vm_memory", len), |b| {
                b.iter(|| vm_read(&s.vm, black_box(&gpns), black_box(&mut *dst)))
            });
            g.finish();

            let mut g = c.benchmark_group(format!("write/{layout}"));
            g.throughput(Throughput::Bytes(len as u64));
            g.bench_function(BenchmarkId::new("pr_mapped_rust", len), |b| {
                b.iter(|| range.write(&s.mapped, black_box(src)).unwrap())
            });
            g.bench_function(BenchmarkId::new("pr_mapped_ffi", len), |b| {
                let mut t = pr_transfer::default();
                b.iter(|| {
                    let p = black_box(src.as_ptr());
                    assert_eq!(
                        pr_range_write(handle, s.ffi_mapped, p.cast(), len, &mut t),
                        PR_OK
                    )
                })
            });
            g.bench_function(BenchmarkId::new("pr_callback_ffi", len), |b| {
                let mut t = pr_transfer::default();
                b.iter(|| {
                    let p = black_box(src.as_ptr());
                    assert_eq!(
                        pr_range_write(handle, s.ffi_cb, p.cast(), len, &mut t),
                        PR_OK
                    )
                })
            });
            g.bench_function(BenchmarkId::new("vm_memory", len), |b| {
                b.iter(|| vm_write(&s.vm, black_box(&gpns), black_box(src)))
            });
            g.finish();
            pr_range_free(handle);
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadTime);
    targets = bench_transfers
}
criterion_main!(benches);
