//! Shared pieces of the fuzz targets: a byte-by-byte model of windows over
//! GPN lists, a model of the built-in backends, and generators of hostile
//! numbers.
//!
//! The model never coalesces pages by looking at GPN lists the way the
//! library does. It computes every byte's guest address on its own
//! (`gpns[i / 4096] * 4096 + i % 4096`, in 128 bits so nothing wraps) and
//! derives everything else from that sequence:
//!
//! * a *run* is a maximal stretch of one window whose byte addresses climb
//!   by exactly one;
//! * a run is unaddressable when one of its bytes has an address above
//!   `2^64 - 2` (its exclusive end would not fit in 64 bits); the GPN blamed
//!   is the page of the first such byte;
//! * a backend fault is reported at the address the backend's contract
//!   names, and the bytes of the runs before the failing one are done.

use std::rc::Rc;

use arbitrary::{Arbitrary, Unstructured};
use pagedrange::{TransferError, MAX_GPN, PAGE_SIZE};

pub const P: usize = PAGE_SIZE;
pub const PU: u64 = PAGE_SIZE as u64;
/// Largest byte address a run may cover (its end must fit in 64 bits).
pub const LAST_USABLE: u128 = u64::MAX as u128 - 1;

/// A window in the model: `len` bytes from `start` in the flat byte space of
/// `gpns` (page `i` of the list holds flat bytes `i*4096 .. (i+1)*4096`).
/// Windows over one list share it: cloning or narrowing one allocates
/// nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelWindow {
    pub gpns: Rc<[u64]>,
    pub start: usize,
    pub len: usize,
}

impl ModelWindow {
    /// Guest address of byte `i` of the window, in 128 bits.
    pub fn gpa(&self, i: usize) -> u128 {
        let f = self.start + i;
        self.gpns[f / P] as u128 * P as u128 + (f % P) as u128
    }

    /// GPN holding byte `i` of the window.
    pub fn gpn(&self, i: usize) -> u64 {
        self.gpns[(self.start + i) / P]
    }

    /// The pages covering the window's bytes, first to last.
    pub fn covered_gpns(&self) -> &[u64] {
        if self.len == 0 {
            return &[];
        }
        let first = self.start / P;
        let last = (self.start + self.len - 1) / P;
        &self.gpns[first..=last]
    }

    pub fn sub(&self, offset: usize, len: usize) -> ModelWindow {
        assert!(offset + len <= self.len);
        ModelWindow {
            gpns: self.gpns.clone(),
            start: self.start + offset,
            len,
        }
    }

    /// The runs of the window's first `len` bytes, from the byte addresses.
    pub fn runs(&self, len: usize) -> Vec<ModelRun<'_>> {
        let mut out: Vec<ModelRun<'_>> = Vec::new();
        let mut i = 0;
        while i < len {
            // Runs break only where a page ends, so walk page pieces.
            let f = self.start + i;
            let n = (P - f % P).min(len - i);
            let a = self.gpa(i);
            match out.last_mut() {
                Some(r) if r.start + r.len as u128 == a => r.len += n,
                _ => out.push(ModelRun {
                    start: a,
                    len: n,
                    pos: i,
                    window: self,
                }),
            }
            i += n;
        }
        out
    }
}

/// A run of bytes with consecutive guest addresses, inside one window.
#[derive(Clone, Debug)]
pub struct ModelRun<'a> {
    /// Address of its first byte (may be unaddressable).
    pub start: u128,
    pub len: usize,
    /// Position of its first byte in the window.
    pub pos: usize,
    pub window: &'a ModelWindow,
}

impl ModelRun<'_> {
    /// `Err(gpn)` when a byte of the run has no 64-bit exclusive end: the
    /// GPN of the first such byte.
    pub fn check(&self) -> Result<(u64, u64), u64> {
        let end = self.start + self.len as u128; // exclusive
        if end - 1 <= LAST_USABLE {
            return Ok((self.start as u64, end as u64));
        }
        // First bad byte: the larger of `start` and LAST_USABLE + 1.
        let bad = (LAST_USABLE + 1).max(self.start);
        let i = (bad - self.start) as usize;
        Err(self.window.gpn(self.pos + i))
    }
}

/// Guest memory in the model: bytes at `base .. base + bytes.len()`, with
/// the fault rule of `BufferMemory` (start outside: the start; start inside
/// but end outside: the first address past the buffer).
#[derive(Clone, Debug)]
pub struct ModelMemory {
    pub base: u64,
    pub bytes: Vec<u8>,
}

impl ModelMemory {
    pub fn end(&self) -> u128 {
        self.base as u128 + self.bytes.len() as u128
    }

    /// Index range of an access, or the fault GPA `BufferMemory` reports.
    pub fn span(&self, gpa: u64, len: usize) -> Result<core::ops::Range<usize>, u64> {
        let (s, e) = (gpa as u128, gpa as u128 + len as u128);
        if s < self.base as u128 || s >= self.end() {
            // An empty access at the very end is inside; never asked here.
            if !(len == 0 && s == self.end()) {
                return Err(gpa);
            }
        }
        if e > self.end() {
            return Err(self.end() as u64);
        }
        let o = (s - self.base as u128) as usize;
        Ok(o..o + len)
    }
}

/// What a model transfer does to the host side.
pub enum Op<'a> {
    Read(&'a mut [u8]),
    Write(&'a [u8]),
    Fill(u8),
}

/// Transfers the first `len` bytes of `windows` (in order, runs never merged
/// across windows) against `mem`, run by run, like the library must:
/// returns the result the library must report. `done_base` is added to
/// every `done`.
pub fn model_transfer(
    windows: &[ModelWindow],
    len: usize,
    mem: &mut ModelMemory,
    op: &mut Op<'_>,
) -> Result<(), TransferError> {
    let mut pos = 0usize;
    for w in windows {
        if pos == len {
            break;
        }
        let n = w.len.min(len - pos);
        for run in w.runs(n) {
            let (s, _) = run.check().map_err(|gpn| TransferError::InvalidGpn { done: pos, gpn })?;
            let span = mem.span(s, run.len).map_err(|gpa| TransferError::Memory {
                done: pos,
                gpa,
                code: pagedrange::memory::FAULT_UNMAPPED,
            })?;
            match op {
                Op::Read(d) => d[pos..pos + run.len].copy_from_slice(&mem.bytes[span]),
                Op::Write(src) => mem.bytes[span].copy_from_slice(&src[pos..pos + run.len]),
                Op::Fill(v) => mem.bytes[span].fill(*v),
            }
            pos += run.len;
        }
    }
    assert_eq!(pos, len, "model: windows shorter than the transfer");
    Ok(())
}

/// Splits a list of windows at logical byte `skip` and keeps `len` bytes.
pub fn model_clip(windows: &[ModelWindow], mut skip: usize, mut len: usize) -> Vec<ModelWindow> {
    let mut out = Vec::new();
    for w in windows {
        if len == 0 {
            break;
        }
        if skip >= w.len {
            skip -= w.len;
            continue;
        }
        let n = (w.len - skip).min(len);
        out.push(w.sub(skip, n));
        skip = 0;
        len -= n;
    }
    out
}

/// GPNs the fuzzer picks from: pages of the model memory and around it, the
/// top of the address space, and anything.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum GpnPick {
    /// `mem_first_gpn - 2 + k % (mem_pages + 4)`.
    Near(u8),
    /// Sequential after the previous GPN (to make runs).
    Next,
    /// Same as the previous GPN (a repeated page never coalesces).
    Same,
    /// `MAX_GPN - k % 4`.
    Top(u8),
    /// `MAX_GPN + 1 + k % 2`.
    Above(u8),
    /// `u64::MAX - k % 2`.
    Max(u8),
    Raw(u64),
}

impl GpnPick {
    pub fn resolve(self, prev: Option<u64>, mem_first_gpn: u64, mem_pages: u64) -> u64 {
        match self {
            GpnPick::Near(k) => {
                mem_first_gpn.wrapping_sub(2).wrapping_add(k as u64 % (mem_pages + 4))
            }
            GpnPick::Next => prev.map_or(mem_first_gpn, |p| p.wrapping_add(1)),
            GpnPick::Same => prev.unwrap_or(mem_first_gpn),
            GpnPick::Top(k) => MAX_GPN - (k as u64 % 4),
            GpnPick::Above(k) => MAX_GPN + 1 + (k as u64 % 2),
            GpnPick::Max(k) => u64::MAX - (k as u64 % 2),
            GpnPick::Raw(g) => g,
        }
    }
}

pub fn resolve_gpns(picks: &[GpnPick], first: u64, pages: u64) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::with_capacity(picks.len());
    for p in picks {
        let g = p.resolve(out.last().copied(), first, pages);
        out.push(g);
    }
    out
}

/// A length or offset relative to a size the caller knows: mostly inside
/// it, sometimes just past it, sometimes huge.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Num {
    /// `k % (limit + 1)`: anything up to the limit.
    Within(u32),
    /// `limit - k % 8` (saturating).
    FromEnd(u8),
    /// `limit + 1 + k % 4`.
    Past(u8),
    /// Page-aligned: `(k % 8) * 4096`, and the same plus or minus one.
    Page(u8, i8),
    /// `usize::MAX - k % 2`.
    Huge(u8),
    Raw(u64),
}

impl Num {
    pub fn resolve(self, limit: usize) -> usize {
        match self {
            Num::Within(k) => k as usize % (limit.saturating_add(1)).max(1),
            Num::FromEnd(k) => limit.saturating_sub(k as usize % 8),
            Num::Past(k) => limit.saturating_add(1 + k as usize % 4),
            Num::Page(k, d) => ((k as usize % 8) * P).saturating_add_signed((d % 2) as isize),
            Num::Huge(k) => usize::MAX - k as usize % 2,
            Num::Raw(x) => x as usize,
        }
    }
}

/// Builds an arbitrary value, or `None` when the input ran out.
pub fn take<'a, T: Arbitrary<'a>>(u: &mut Unstructured<'a>) -> Option<T> {
    T::arbitrary(u).ok()
}

/// Counting allocator, to prove that freeing every handle frees every byte.
pub mod alloc_count {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicIsize, Ordering};

    pub struct Counting;

    static LIVE: AtomicIsize = AtomicIsize::new(0);

    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, l: Layout) -> *mut u8 {
            let p = unsafe { System.alloc(l) };
            if !p.is_null() {
                LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
            }
            p
        }
        unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
            let p = unsafe { System.alloc_zeroed(l) };
            if !p.is_null() {
                LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
            }
            p
        }
        unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
            LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
            unsafe { System.dealloc(p, l) }
        }
        unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
            let q = unsafe { System.realloc(p, l, new) };
            if !q.is_null() {
                LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
            }
            q
        }
    }

    /// Bytes currently allocated through the Rust global allocator.
    pub fn live() -> isize {
        LIVE.load(Ordering::Relaxed)
    }
}
