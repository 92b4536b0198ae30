//! `mapped`: the MappedMemory backend over guest RAM that sits between
//! PROT_NONE guard pages.
//!
//! An arena of 4 slots is mapped once; each slot is 4 data pages with a
//! PROT_NONE page before and after. A region's host bytes are placed at the
//! start or at the end of its slot, so one byte too far (either way) hits a
//! guard page and the fuzzer dies with SEGV, which is the detection.
//!
//! Regions (hostile layouts: touching, overlapping, empty, overflowing,
//! near the top of the address space) are validated against the documented
//! rules. Then windows over hostile GPN lists are read, written and filled
//! through the backend, and the backend is called directly: every access
//! inside the regions must match a per-slot shadow copy, every access that
//! leaves them must fail with FAULT_UNMAPPED at the first address outside
//! them, before any byte moves. Iovec exports must point at the model's host
//! bytes.

#![no_main]

use std::cell::RefCell;
use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use pagedrange::memory::{RegionError, FAULT_UNMAPPED};
use pagedrange::{
    GuestMemory, MappedMemory, MappedRegion, MemoryFault, PagedRange, TransferError, MAX_GPN,
};
use pagedrange_fuzz::*;

const SLOTS: usize = 4;
const SLOT_PAGES: usize = 4;
const SLOT_DATA: usize = SLOT_PAGES * P;
const SLOT_STRIDE: usize = (SLOT_PAGES + 1) * P;

struct Arena(*mut u8);
// SAFETY: the arena is only used by the fuzzing thread.
unsafe impl Send for Arena {}
unsafe impl Sync for Arena {}

/// Base of slot `i`'s data pages; a guard page precedes each slot and one
/// follows the last.
fn slot(i: usize) -> *mut u8 {
    static ARENA: OnceLock<Arena> = OnceLock::new();
    let a = ARENA.get_or_init(|| {
        let total = SLOTS * SLOT_STRIDE + P;
        // SAFETY: a fresh anonymous mapping; then data pages are opened up.
        unsafe {
            let p = libc::mmap(
                core::ptr::null_mut(),
                total,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(p, libc::MAP_FAILED);
            let p = p.cast::<u8>();
            for s in 0..SLOTS {
                let data = p.add(s * SLOT_STRIDE + P);
                assert_eq!(libc::mprotect(data.cast(), SLOT_DATA, libc::PROT_READ | libc::PROT_WRITE), 0);
            }
            Arena(p.add(P))
        }
    });
    // SAFETY: inside the arena.
    unsafe { a.0.add(i * SLOT_STRIDE) }
}

#[derive(Arbitrary, Debug)]
enum RegionGpa {
    /// Page-aligned low GPA: `k % 32` pages.
    Page(u8),
    /// Right after the previous region's end (adjacent regions).
    After,
    /// Any low byte address.
    Byte(u16),
    /// `(MAX_GPN - k % 8) * 4096` plus a byte shift.
    Top(u8, u16),
    Raw(u64),
}

#[derive(Arbitrary, Debug)]
struct RegionIn {
    gpa: RegionGpa,
    /// `size % (SLOT_DATA + 1)` (zero included), or a raw size.
    size: u16,
    raw_size: Option<u64>,
    /// Place the bytes at the end of the slot (else at its start).
    at_end: bool,
    null_host: bool,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Kind {
    Read,
    Write,
    Fill,
}

#[derive(Arbitrary, Debug)]
enum Action {
    /// A window over a hostile GPN list, transferred through the backend.
    Window { gpns: Vec<GpnPick>, offset: Num, len: Num, kind: Kind, tlen: Num, seed: u8 },
    /// A direct backend call at `region start + delta`.
    Direct { region: u8, delta: i32, len: Num, kind: Kind, seed: u8 },
    /// A direct call at any address.
    DirectRaw { gpa: u64, len: u16, kind: Kind, seed: u8 },
    /// Iovec export of a window.
    Iovecs { gpns: Vec<GpnPick>, offset: Num, len: Num, cap: u8 },
}

/// The accepted regions, in the model: (gpa, end exclusive as u128, host).
struct Regions(Vec<(u64, u128, *mut u8)>);

impl Regions {
    /// The region mapping guest byte `gpa`.
    fn find(&self, gpa: u128) -> Option<&(u64, u128, *mut u8)> {
        self.0.iter().find(|r| r.0 as u128 <= gpa && gpa < r.1)
    }

    /// Host address of guest byte `gpa`, if a region maps it.
    fn host(&self, gpa: u128) -> Option<*mut u8> {
        self.find(gpa).map(|r| r.2.wrapping_add((gpa - r.0 as u128) as usize))
    }

    /// Fault the backend must report for an access, or None when it must
    /// succeed. Computed byte-range by byte-range from the region list.
    fn fault(&self, gpa: u64, len: usize) -> Option<u64> {
        let end = gpa as u128 + len as u128;
        let mut at = gpa as u128;
        while at < end {
            match self.find(at) {
                Some(r) => at = r.1,
                None => return Some(at as u64),
            }
        }
        None
    }

    /// Calls `f(pos, slot, offset, n)` for the pieces of the `len` guest
    /// bytes from `gpa`, in order: byte `pos + k` of the access is host
    /// byte `offset + k` of slot `slot`, for `k < n`. A piece is the part
    /// of the access inside one region; both its first and its last byte
    /// are located in the same slot's data, so every byte between is too.
    /// Every byte must be mapped.
    fn pieces(&self, gpa: u128, len: usize, mut f: impl FnMut(usize, usize, usize, usize)) {
        let end = gpa + len as u128;
        let (mut at, mut pos) = (gpa, 0usize);
        while at < end {
            let r = self.find(at).expect("model: byte outside the regions");
            let n = (end.min(r.1) - at) as usize;
            let host = r.2.wrapping_add((at - r.0 as u128) as usize);
            let (s, o) = locate(host);
            assert_eq!(locate(host.wrapping_add(n - 1)), (s, o + n - 1), "a region leaves its slot");
            f(pos, s, o, n);
            at += n as u128;
            pos += n;
        }
    }
}

/// Slot and offset in its data pages of a host address.
fn locate(host: *mut u8) -> (usize, usize) {
    let off = (host as usize).wrapping_sub(slot(0) as usize);
    let s = off / SLOT_STRIDE;
    let o = off % SLOT_STRIDE;
    assert!(s < SLOTS && o < SLOT_DATA, "host address outside the slots");
    (s, o)
}

/// The regions and what their host bytes must hold.
struct Model<'a> {
    regions: Regions,
    /// Shadow copy of each slot's data pages.
    shadow: &'a mut [Vec<u8>],
}

impl Model<'_> {
    fn fault(&self, gpa: u64, len: usize) -> Option<u64> {
        self.regions.fault(gpa, len)
    }

    /// The guest bytes from `gpa` into `dst`.
    fn read(&self, gpa: u128, dst: &mut [u8]) {
        self.regions.pieces(gpa, dst.len(), |pos, s, o, n| {
            dst[pos..pos + n].copy_from_slice(&self.shadow[s][o..o + n])
        });
    }

    /// `src` to the guest bytes from `gpa`.
    fn write(&mut self, gpa: u128, src: &[u8]) {
        let Model { regions, shadow } = self;
        regions.pieces(gpa, src.len(), |pos, s, o, n| {
            shadow[s][o..o + n].copy_from_slice(&src[pos..pos + n])
        });
    }

    /// `len` guest bytes from `gpa` set to `v`.
    fn fill(&mut self, gpa: u128, v: u8, len: usize) {
        let Model { regions, shadow } = self;
        regions.pieces(gpa, len, |_, s, o, n| shadow[s][o..o + n].fill(v));
    }

    fn check_slots(&self) {
        for s in 0..SLOTS {
            // SAFETY: the slot's data pages are mapped read/write.
            let real = unsafe { core::slice::from_raw_parts(slot(s), SLOT_DATA) };
            assert!(real == &self.shadow[s][..], "slot {s} differs from the model");
        }
    }
}

/// `len` bytes of a fixed pattern from `seed` on, for writes (made once).
fn pattern(len: usize, seed: u8) -> &'static [u8] {
    static PAT: OnceLock<Vec<u8>> = OnceLock::new();
    let pat = PAT.get_or_init(|| {
        (0..2 * SLOT_DATA + 256)
            .map(|i| ((i as u32).wrapping_mul(0x9e37_79b9) >> 13) as u8)
            .collect()
    });
    &pat[seed as usize..seed as usize + len]
}

/// What slot `s` holds at the start of every input (made once; unlike
/// the write pattern, so a write that did not happen shows).
fn slot_init(s: usize) -> &'static [u8] {
    static INIT: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    &INIT.get_or_init(|| {
        (0..SLOTS)
            .map(|s| {
                (0..SLOT_DATA)
                    .map(|i| ((i as u32).wrapping_mul(0x85eb_ca6b) >> 17) as u8 ^ (s as u8 * 61))
                    .collect()
            })
            .collect()
    })[s]
}

/// Buffers kept from input to input: large fresh allocations cost page
/// faults under ASan.
#[derive(Default)]
struct Bufs {
    /// Shadow copy of each slot's data pages.
    shadow: Vec<Vec<u8>>,
    dst: Vec<u8>,
    model_dst: Vec<u8>,
}

thread_local! {
    static BUFS: RefCell<Bufs> = RefCell::default();
}

/// `buf` as `len` bytes of `v`.
fn refill(buf: &mut Vec<u8>, len: usize, v: u8) -> &mut [u8] {
    buf.clear();
    buf.resize(len, v);
    buf
}

/// One direct backend call, checked against the model.
fn direct(mem: &MappedMemory, m: &mut Model, dst: &mut Vec<u8>, gpa: u64, len: usize, kind: Kind, seed: u8) {
    // Backends are never called with a zero length (module contract), and
    // what one does then is not specified.
    if len == 0 {
        return;
    }
    let fault = m.fault(gpa, len);
    if (gpa as u128 + len as u128) >> 64 != 0 && m.fault(gpa, 1).is_none() {
        // A run whose end would pass 2^64 is blamed on the first unmapped
        // address (the model's), like any run leaving the regions.
        let got = match kind {
            Kind::Read => mem.read(gpa, refill(dst, len, 0)),
            Kind::Write => mem.write(gpa, refill(dst, len, 0)),
            Kind::Fill => mem.fill(gpa, seed, len),
        };
        let e = got.expect_err("an access past 2^64 succeeded");
        assert_eq!(e.code, FAULT_UNMAPPED);
        assert_eq!(Some(e.gpa), fault, "fault at {:#x}", e.gpa);
        m.check_slots();
        return;
    }
    let expected = match fault {
        Some(at) => Err(MemoryFault { gpa: at, code: FAULT_UNMAPPED, done: 0 }),
        None => Ok(()),
    };
    match kind {
        Kind::Read => {
            let dst = refill(dst, len, seed);
            assert_eq!(mem.read(gpa, dst), expected, "read({gpa:#x}, {len})");
            if expected.is_ok() {
                // The model's bytes, piece by piece, where they are read.
                m.regions.pieces(gpa as u128, len, |pos, s, o, n| {
                    assert!(dst[pos..pos + n] == m.shadow[s][o..o + n], "read({gpa:#x}, {len}): bytes {pos}.. differ from the model");
                });
            } else {
                assert!(dst.iter().all(|&b| b == seed), "a refused read wrote");
            }
        }
        Kind::Write => {
            let src = pattern(len, seed);
            assert_eq!(mem.write(gpa, src), expected, "write({gpa:#x}, {len})");
            if expected.is_ok() {
                m.write(gpa as u128, src);
            }
        }
        Kind::Fill => {
            assert_eq!(mem.fill(gpa, seed, len), expected, "fill({gpa:#x}, {len})");
            if expected.is_ok() {
                m.fill(gpa as u128, seed, len);
            }
        }
    }
    m.check_slots();
}

fn run(data: &[u8], bufs: &mut Bufs) {
    let mut u = Unstructured::new(data);
    let Bufs { shadow, dst, model_dst } = bufs;
    // Fresh slot contents for this input.
    shadow.resize_with(SLOTS, Vec::new);
    for (s, shadow) in shadow.iter_mut().enumerate() {
        let init = slot_init(s);
        // SAFETY: the slot's data pages are mapped read/write.
        unsafe { core::ptr::copy_nonoverlapping(init.as_ptr(), slot(s), SLOT_DATA) };
        shadow.clear();
        shadow.extend_from_slice(init);
    }

    let n = take::<u8>(&mut u).unwrap_or(0) as usize % (SLOTS + 1);
    let mut regions = Vec::new();
    let mut prev_end = 0u64;
    for i in 0..n {
        let Some(r) = take::<RegionIn>(&mut u) else { return };
        let size = r.raw_size.unwrap_or(r.size as u64 % (SLOT_DATA as u64 + 1));
        let gpa = match r.gpa {
            RegionGpa::Page(k) => (k as u64 % 32) * PU,
            RegionGpa::After => prev_end,
            RegionGpa::Byte(b) => b as u64,
            RegionGpa::Top(k, b) => (MAX_GPN - k as u64 % 8) * PU + (b as u64 % PU),
            RegionGpa::Raw(x) => x,
        };
        prev_end = gpa.wrapping_add(size);
        // Host bytes: only sizes that fit the slot are placed there; bigger
        // sizes must be refused (overflow) or are never placed at all.
        let place = size.min(SLOT_DATA as u64) as usize;
        let host = if r.null_host {
            core::ptr::null_mut()
        } else if r.at_end {
            slot(i).wrapping_add(SLOT_DATA - place)
        } else {
            slot(i)
        };
        regions.push(MappedRegion { gpa, size, host: host.cast() });
    }

    // The documented rules, in order: empty / NULL, then overflow (per
    // region, first offender wins), then overlap.
    let mut expected: Option<RegionError> = None;
    for (index, r) in regions.iter().enumerate() {
        if r.host.is_null() || r.size == 0 {
            expected = Some(RegionError::Empty { index });
            break;
        }
        if r.gpa.checked_add(r.size).is_none() || r.size > SLOT_DATA as u64 {
            expected = Some(RegionError::Overflow { index, gpa: r.gpa, size: r.size });
            break;
        }
    }
    // A size bigger than its slot is only legal to pass when it overflows
    // (the library must refuse it before touching anything); skip others.
    if let Some(RegionError::Overflow { index, .. }) = expected {
        let r = regions[index];
        if r.gpa.checked_add(r.size).is_some() && (r.host as usize).checked_add(r.size as usize).is_some() {
            return; // would describe host memory we do not own
        }
    }
    let overlaps = expected.is_none()
        && regions.iter().enumerate().any(|(i, a)| {
            regions[i + 1..].iter().any(|b| {
                let (a0, a1) = (a.gpa as u128, a.gpa as u128 + a.size as u128);
                let (b0, b1) = (b.gpa as u128, b.gpa as u128 + b.size as u128);
                a0 < b1 && b0 < a1
            })
        });
    // SAFETY: every region that can be accepted lies inside its slot, which
    // stays mapped for the whole process.
    let got = unsafe { MappedMemory::new(&regions) };
    let mem = match (got, expected, overlaps) {
        (Err(e), Some(x), _) => return assert_eq!(e, x),
        (Err(RegionError::Overlap { first, second, gpa }), None, true) => {
            let (a, b) = (regions[first], regions[second]);
            let inside = |r: MappedRegion| r.gpa <= gpa && (gpa as u128) < r.gpa as u128 + r.size as u128;
            assert!(first != second && inside(a) && inside(b), "bad overlap report");
            assert_eq!(gpa, a.gpa.max(b.gpa));
            return;
        }
        (Ok(m), None, false) => m,
        (got, x, o) => panic!("regions {regions:?}: got {got:?}, expected {x:?} / overlap {o}"),
    };
    let mut sorted: Vec<_> = regions.clone();
    sorted.sort_by_key(|r| r.gpa);
    assert_eq!(mem.regions().collect::<Vec<_>>(), sorted);
    let mut m = Model {
        regions: Regions(
            regions
                .iter()
                .map(|r| (r.gpa, r.gpa as u128 + r.size as u128, r.host.cast::<u8>()))
                .collect(),
        ),
        shadow,
    };

    let mem_first_gpn = regions.first().map_or(0, |r| r.gpa / PU);
    let mut steps = 0;
    while let Some(a) = take::<Action>(&mut u) {
        steps += 1;
        if steps > 24 {
            break;
        }
        match a {
            Action::Window { gpns, offset, len, kind, tlen, seed } => {
                let picks: Vec<_> = gpns.into_iter().take(8).collect();
                let list = resolve_gpns(&picks, mem_first_gpn, 8);
                let avail = list.len() * P;
                let o = offset.resolve(avail).min(avail);
                let n = len.resolve(avail - o).min(avail - o);
                let r = PagedRange::new(o, n, &list).unwrap();
                let t = tlen.resolve(n).min(n);
                let w = ModelWindow { gpns: list.as_slice().into(), start: o, len: n };
                // The model over the regions: run by run.
                let mut pos = 0;
                let mut expected = Ok(());
                let dst = refill(dst, t, seed ^ 0xff);
                let model_dst = refill(model_dst, t, seed ^ 0xff);
                let src = pattern(t, seed);
                for run in w.runs(t) {
                    let s = match run.check() {
                        Ok((s, _)) => s,
                        Err(gpn) => {
                            expected = Err(TransferError::InvalidGpn { done: pos, gpn });
                            break;
                        }
                    };
                    if let Some(at) = m.fault(s, run.len) {
                        expected = Err(TransferError::Memory { done: pos, gpa: at, code: FAULT_UNMAPPED });
                        break;
                    }
                    let part = pos..pos + run.len;
                    match kind {
                        Kind::Read => m.read(s as u128, &mut model_dst[part]),
                        Kind::Write => m.write(s as u128, &src[part]),
                        Kind::Fill => m.fill(s as u128, seed, run.len),
                    }
                    pos += run.len;
                }
                let got = match kind {
                    Kind::Read => r.read(&mem, dst),
                    Kind::Write => r.write(&mem, src),
                    Kind::Fill => r.fill(&mem, seed, t),
                };
                assert_eq!(got, expected, "{kind:?} of {t} bytes of {w:?}");
                assert!(dst == model_dst, "read bytes differ from the model");
                m.check_slots();
            }
            Action::Direct { region, delta, len, kind, seed } => {
                if regions.is_empty() {
                    continue;
                }
                let r = regions[region as usize % regions.len()];
                let gpa = r.gpa.wrapping_add_signed(delta as i64 % (2 * SLOT_DATA as i64));
                let mut n = len.resolve(r.size as usize);
                if !matches!(kind, Kind::Fill) {
                    n = n.min(2 * SLOT_DATA);
                }
                if matches!(kind, Kind::Fill) && (gpa as u128 + n as u128) >> 64 != 0 {
                    // A run whose end overflows 64 bits is blamed on the
                    // first unmapped address. Checked on its own here.
                    let expected = m.fault(gpa, n).unwrap();
                    let got = mem.fill(gpa, seed, n).unwrap_err();
                    assert_eq!(got.code, FAULT_UNMAPPED);
                    assert_eq!(got.gpa, expected);
                    m.check_slots();
                    continue;
                }
                if matches!(kind, Kind::Fill) && m.fault(gpa, n).is_none() && n > 4 * SLOT_DATA {
                    continue;
                }
                direct(&mem, &mut m, dst, gpa, n, kind, seed);
            }
            Action::DirectRaw { gpa, len, kind, seed } => {
                direct(&mem, &mut m, dst, gpa, len as usize % (2 * SLOT_DATA), kind, seed);
            }
            Action::Iovecs { gpns, offset, len, cap } => {
                let picks: Vec<_> = gpns.into_iter().take(8).collect();
                let list = resolve_gpns(&picks, mem_first_gpn, 8);
                let avail = list.len() * P;
                let o = offset.resolve(avail).min(avail);
                let n = len.resolve(avail - o).min(avail - o);
                let r = PagedRange::new(o, n, &list).unwrap();
                let w = ModelWindow { gpns: list.as_slice().into(), start: o, len: n };
                let mut iov = vec![libc::iovec { iov_base: core::ptr::null_mut(), iov_len: 0 }; cap as usize % 6];
                // The model: the first run that is unaddressable or leaves
                // the regions.
                let mut pos = 0;
                let mut bad = None;
                for run in w.runs(n) {
                    match run.check() {
                        Err(gpn) => {
                            bad = Some(TransferError::InvalidGpn { done: pos, gpn });
                            break;
                        }
                        Ok((s, _)) => {
                            if let Some(at) = m.fault(s, run.len) {
                                bad = Some(TransferError::Memory { done: pos, gpa: at, code: FAULT_UNMAPPED });
                                break;
                            }
                        }
                    }
                    pos += run.len;
                }
                match r.iovecs(&mem, n, &mut iov) {
                    Ok(x) => {
                        // Success past a bad run is impossible; stopping
                        // before it is allowed only with a full array.
                        if let Some(b) = bad {
                            assert!(x.count == iov.len() && x.covered <= b.done(), "iovecs of {w:?} passed {b:?}");
                        }
                        assert!(x.count <= iov.len());
                        assert!(x.covered <= n);
                        assert!(x.covered == n || x.count == iov.len(), "stopped early with room left");
                        // Every byte the entries cover is the model's host
                        // byte for that window position. A stretch of an
                        // entry inside one page of the window and one
                        // region has consecutive guest and host addresses
                        // on both sides, so its first byte stands for all.
                        let mut pos = 0;
                        for v in &iov[..x.count] {
                            assert!(v.iov_len > 0);
                            let mut k = 0;
                            while k < v.iov_len {
                                let g = w.gpa(pos + k);
                                let want = v.iov_base.cast::<u8>().wrapping_add(k);
                                assert_eq!(m.regions.host(g), Some(want), "iovec byte {k} of {v:?}");
                                let in_page = P - (w.start + pos + k) % P;
                                let in_region = (m.regions.find(g).unwrap().1 - g) as usize;
                                k += in_page.min(in_region).min(v.iov_len - k);
                            }
                            pos += v.iov_len;
                        }
                        assert_eq!(pos, x.covered);
                        // Entries are maximal: neighbours never touch.
                        for pair in iov[..x.count].windows(2) {
                            assert_ne!(pair[0].iov_base.cast::<u8>().wrapping_add(pair[0].iov_len), pair[1].iov_base.cast::<u8>());
                        }
                    }
                    Err(e) => {
                        // An error may only come before the array is full.
                        assert_eq!(Some(e), bad, "iovecs of {w:?}");
                    }
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| BUFS.with_borrow_mut(|b| run(data, b)));
