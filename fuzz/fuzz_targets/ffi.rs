//! `ffi`: the C ABI (`pagedrange_ffi::pr_*`) called with arbitrary
//! arguments.
//!
//! Every pointer argument is either NULL or valid (a live handle, a real
//! buffer, a writable out-parameter), never dangling. Guest memory is a
//! callback memory whose callbacks are Rust `extern "C"` functions over a
//! model byte array (some addresses "poisoned" so callbacks fail with a
//! code), with or without a fill callback.
//!
//! For every call, the status must be one the header documents for the
//! situation (when several errors apply, any of them), outputs must be
//! written only on success, `pr_transfer` must report the model's
//! done/fault_gpa/fault_code, and guest bytes and bytes read must equal the
//! model's. At the end every handle is freed and the bytes the Rust global
//! allocator holds must be back where they were: no handle leaks.

#![no_main]

use core::ffi::{c_int, c_void, CStr};
use std::cell::RefCell;
use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use pagedrange_ffi::cursor::*;
use pagedrange_ffi::memory::*;
use pagedrange_ffi::range::*;
use pagedrange_ffi::ranges::*;
use pagedrange_ffi::*;
use pagedrange_fuzz::*;

#[global_allocator]
static ALLOC: alloc_count::Counting = alloc_count::Counting;

/// Guest RAM behind the callbacks: 12 pages at GPN 2, plus a poisoned range
/// whose accesses fail with code 77 (outside RAM: code 5).
struct Ctx {
    base: u64,
    bytes: Vec<u8>,
    poison: (u64, u64),
}

const CODE_OUT: c_int = 5;
const CODE_POISON: c_int = 77;

impl Ctx {
    fn verdict(&self, gpa: u64, len: usize) -> Result<usize, c_int> {
        assert!(len > 0, "a callback was called with length 0");
        let (s, e) = (gpa as u128, gpa as u128 + len as u128);
        if s < self.base as u128 || e > self.base as u128 + self.bytes.len() as u128 {
            return Err(CODE_OUT);
        }
        if s < self.poison.1 as u128 && (self.poison.0 as u128) < e {
            return Err(CODE_POISON);
        }
        Ok((gpa - self.base) as usize)
    }
}

unsafe extern "C" fn cb_read(ctx: *mut c_void, gpa: u64, dst: *mut c_void, len: usize) -> c_int {
    // SAFETY: ctx is the fuzzer's Ctx; dst holds len bytes per the contract.
    let c = unsafe { &*(ctx as *const Ctx) };
    match c.verdict(gpa, len) {
        Ok(o) => {
            unsafe { core::ptr::copy_nonoverlapping(c.bytes.as_ptr().add(o), dst.cast(), len) };
            0
        }
        Err(code) => code,
    }
}

unsafe extern "C" fn cb_write(ctx: *mut c_void, gpa: u64, src: *const c_void, len: usize) -> c_int {
    // SAFETY: as in cb_read; calls are synchronous on this thread.
    let c = unsafe { &mut *(ctx as *mut Ctx) };
    match c.verdict(gpa, len) {
        Ok(o) => {
            unsafe { core::ptr::copy_nonoverlapping(src.cast(), c.bytes.as_mut_ptr().add(o), len) };
            0
        }
        Err(code) => code,
    }
}

unsafe extern "C" fn cb_fill(ctx: *mut c_void, gpa: u64, value: u8, len: usize) -> c_int {
    // SAFETY: as in cb_write.
    let c = unsafe { &mut *(ctx as *mut Ctx) };
    match c.verdict(gpa, len) {
        Ok(o) => {
            c.bytes[o..o + len].fill(value);
            0
        }
        Err(code) => code,
    }
}

/// The model of the same memory (kept apart from the callbacks' copy).
struct ModelMem {
    ctx: Ctx,
}

#[derive(Clone, Copy, Debug)]
enum Xfer {
    Read,
    Write,
    Fill(u8),
}

#[derive(Debug, Default, PartialEq, Eq, Clone, Copy)]
struct Outcome {
    status: pr_status,
    done: usize,
    gpa: u64,
    code: c_int,
}

impl ModelMem {
    /// Model of a transfer over `windows` (already clipped to the bytes
    /// available) of `len <= available` bytes, through a memory with or
    /// without a fill callback.
    fn transfer(&mut self, windows: &[ModelWindow], len: usize, x: Xfer, has_fill: bool, src: &[u8], dst: &mut [u8]) -> Outcome {
        let mut pos = 0;
        for w in windows {
            if pos == len {
                break;
            }
            let n = w.len.min(len - pos);
            for run in w.runs(n) {
                let (s, _) = run.check().expect("pr_range_new let an unaddressable page in");
                let fail = |status_code: c_int| Outcome { status: PR_ERR_MEMORY, done: pos, gpa: s, code: status_code };
                match x {
                    Xfer::Fill(v) if !has_fill => {
                        // 4 KiB writes from the run start; earlier pieces
                        // land even when a later one fails.
                        let mut d = 0;
                        while d < run.len {
                            let k = (run.len - d).min(4096);
                            match self.ctx.verdict(s + d as u64, k) {
                                Ok(o) => self.ctx.bytes[o..o + k].fill(v),
                                Err(code) => return fail(code),
                            }
                            d += k;
                        }
                    }
                    _ => match self.ctx.verdict(s, run.len) {
                        Err(code) => return fail(code),
                        Ok(o) => match x {
                            Xfer::Read => dst[pos..pos + run.len].copy_from_slice(&self.ctx.bytes[o..o + run.len]),
                            Xfer::Write => self.ctx.bytes[o..o + run.len].copy_from_slice(&src[pos..pos + run.len]),
                            Xfer::Fill(v) => self.ctx.bytes[o..o + run.len].fill(v),
                        },
                    },
                }
                pos += run.len;
            }
        }
        Outcome { status: PR_OK, done: len, gpa: 0, code: 0 }
    }
}

/// A handle argument: NULL or one of the live handles.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum H {
    Null,
    Live(u8),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Kind {
    Read,
    Write,
    Fill(u8),
}

#[derive(Arbitrary, Debug)]
enum Call {
    MemNew { fill: bool, null_ops: bool, null_read: bool, null_write: bool, null_out: bool },
    MemFree(H),
    RangeNew { gpns: Vec<GpnPick>, null_gpns: bool, misaligned: bool, offset: Num, len: Num, null_out: bool },
    RangeClone { r: H, null_out: bool },
    RangeSub { r: H, offset: Num, len: Num, null_out: bool },
    RangeSkip { r: H, len: Num },
    RangeTruncate { r: H, len: Num },
    RangeSplit { r: H, at: Num, null_front: bool, null_back: bool },
    RangeInspect { r: H, null_count: bool, cap: u8, null_out: bool },
    RangeXfer { r: H, m: H, kind: Kind, len: Num, null_buf: bool, null_t: bool },
    RangeFree(H),
    RangesNew { members: Vec<H>, null_array: bool, null_out: bool },
    RangesPush { rs: H, r: H },
    RangesSkip { rs: H, len: Num },
    RangesTruncate { rs: H, len: Num },
    RangesGet { rs: H, index: u8, null_out: bool },
    RangesInspect { rs: H, null_count: bool, cap: u8, null_out: bool },
    RangesXfer { rs: H, m: H, kind: Kind, len: Num, null_buf: bool, null_t: bool },
    RangesFree(H),
    CursorNew { writer: bool, over_ranges: bool, src: H, m: H, null_out: bool },
    CursorStep { writer: bool, c: H, kind: Kind, skip: bool, len: Num, null_buf: bool, null_t: bool },
    CursorFree { writer: bool, c: H },
    Status(u32),
}

/// A buffer in the model: windows, then the logical skip/len.
#[derive(Clone, Debug)]
struct Buf {
    windows: Vec<ModelWindow>,
    skip: usize,
    len: usize,
}

impl Buf {
    fn clipped(&self) -> Vec<ModelWindow> {
        model_clip(&self.windows, self.skip, self.len).into_iter().filter(|w| w.len > 0).collect()
    }
    fn single(w: &ModelWindow) -> Buf {
        Buf { windows: vec![w.clone()], skip: 0, len: w.len }
    }
}

struct Cursor {
    ptr: *mut c_void,
    buf: Buf,
    has_fill: bool,
}

/// Picks a live handle; `None` for NULL (or when there is none).
fn pick<T>(h: H, v: &[T]) -> Option<usize> {
    match h {
        H::Live(i) if !v.is_empty() => Some(i as usize % v.len()),
        _ => None,
    }
}

/// Where a call may write a handle: a real slot or NULL.
const SENTINEL: usize = 0x5eed;
fn out_slot<T>(null: bool, slot: &mut *mut T) -> *mut *mut T {
    *slot = SENTINEL as *mut T;
    if null {
        core::ptr::null_mut()
    } else {
        slot
    }
}

/// Checks a status against the documented errors that apply; returns true
/// when the call must have succeeded (no error applies).
fn check_status(got: pr_status, applicable: &[pr_status], what: &str) -> bool {
    if applicable.is_empty() {
        assert_eq!(got, PR_OK, "{what}: expected PR_OK");
        true
    } else {
        assert!(applicable.contains(&got), "{what}: status {got}, documented {applicable:?}");
        false
    }
}

/// Length of the pattern table: a prime a little over 1 MiB, so no shift
/// by whole pages lines a longer pattern up with itself.
const PATTERN_LEN: usize = 1_048_583;

/// Sets `buf` to `len` bytes of a fixed pattern from `seed` on (the table
/// is made once, and repeats past its end).
fn pattern(buf: &mut Vec<u8>, len: usize, seed: u8) {
    static PAT: OnceLock<Vec<u8>> = OnceLock::new();
    let pat = PAT.get_or_init(|| {
        (0..PATTERN_LEN)
            .map(|i| ((i as u32).wrapping_mul(0x9e37_79b9) >> 7) as u8)
            .collect()
    });
    buf.clear();
    let mut at = seed as usize;
    while buf.len() < len {
        let n = (len - buf.len()).min(PATTERN_LEN - at);
        buf.extend_from_slice(&pat[at..at + n]);
        at = 0;
    }
}

/// Guest RAM at the start of every input (made once).
fn initial_ram() -> &'static [u8] {
    static INIT: OnceLock<Vec<u8>> = OnceLock::new();
    INIT.get_or_init(|| {
        let mut v = Vec::new();
        pattern(&mut v, 12 * P, 0x21);
        v
    })
}

/// Buffers kept from input to input (fresh large allocations cost page
/// faults under ASan): guest RAM behind the callbacks and in the model,
/// and a transfer's host buffer, its copy as the source and the model's
/// bytes read.
#[derive(Default)]
struct Bufs {
    ram: Vec<u8>,
    model_ram: Vec<u8>,
    io: Io,
}

#[derive(Default)]
struct Io {
    host: Vec<u8>,
    src: Vec<u8>,
    model_dst: Vec<u8>,
}

impl Bufs {
    /// Bytes these buffers hold (left out of the leak check: they outlive
    /// the input, and may grow during one).
    fn held(&self) -> isize {
        let io = &self.io;
        [&self.ram, &self.model_ram, &io.host, &io.src, &io.model_dst]
            .iter()
            .map(|v| v.capacity() as isize)
            .sum()
    }
}

thread_local! {
    static BUFS: RefCell<Bufs> = RefCell::default();
}

fn run(data: &[u8], b: &mut Bufs) {
    let mut u = Unstructured::new(data);
    let Some((p0, plen)) = take::<(u16, u16)>(&mut u) else { return };
    let base = 2 * PU;
    let poison_at = base + (p0 as u64 % (14 * PU));
    let poison = (poison_at, poison_at + (plen as u64 % 600));
    let (mut ram, mut model_ram) = (core::mem::take(&mut b.ram), core::mem::take(&mut b.model_ram));
    for r in [&mut ram, &mut model_ram] {
        r.clear();
        r.extend_from_slice(initial_ram());
    }
    let mut ctx = Box::new(Ctx { base, bytes: ram, poison });
    let mut model = ModelMem { ctx: Ctx { base, bytes: model_ram, poison } };
    let io = &mut b.io;
    let ctx_ptr = (&mut *ctx as *mut Ctx).cast::<c_void>();

    let mut mems: Vec<(*mut pr_memory, bool)> = Vec::new();
    let mut ranges: Vec<(*mut pr_range, ModelWindow)> = Vec::new();
    let mut bufs: Vec<(*mut pr_ranges, Buf)> = Vec::new();
    let mut readers: Vec<Cursor> = Vec::new();
    let mut writers: Vec<Cursor> = Vec::new();
    let (first_gpn, pages) = (base / PU, 12);

    // Transfers of all kinds, shared by ranges, buffers and cursors.
    // `len` is checked by the caller; returns the outcome reported.
    let mut calls = 0;
    while let Some(call) = take::<Call>(&mut u) {
        calls += 1;
        if calls > 64 {
            break;
        }
        match call {
            Call::MemNew { fill, null_ops, null_read, null_write, null_out } => {
                let ops = MemoryOps {
                    read: if null_read { None } else { Some(cb_read) },
                    write: if null_write { None } else { Some(cb_write) },
                    fill: if fill { Some(cb_fill) } else { None },
                };
                let mut slot = core::ptr::null_mut();
                let out = out_slot(null_out, &mut slot);
                let ops_ptr = if null_ops { core::ptr::null() } else { &ops as *const MemoryOps };
                let st = pr_memory_new_callbacks(ops_ptr, ctx_ptr, out);
                let bad = null_ops || null_out || null_read || null_write;
                if check_status(st, if bad { &[PR_ERR_NULL_ARGUMENT] } else { &[] }, "pr_memory_new_callbacks") {
                    mems.push((slot, fill));
                } else {
                    assert_eq!(slot as usize, SENTINEL, "output written on error");
                }
            }
            Call::MemFree(h) => match pick(h, &mems) {
                Some(i) => pr_memory_free(mems.swap_remove(i).0),
                None => pr_memory_free(core::ptr::null_mut()),
            },
            Call::RangeNew { gpns, null_gpns, misaligned, offset, len, null_out } => {
                let picks: Vec<_> = gpns.into_iter().take(8).collect();
                let list = resolve_gpns(&picks, first_gpn, pages);
                // A byte buffer holding the list at an aligned and at a
                // misaligned address: both are readable, never dangling.
                let mut raw = vec![0u8; list.len() * 8 + 16];
                let a = raw.as_ptr().align_offset(8);
                let at = if misaligned { a + 1 } else { a };
                for (i, g) in list.iter().enumerate() {
                    raw[at + i * 8..at + i * 8 + 8].copy_from_slice(&g.to_ne_bytes());
                }
                let gp = if null_gpns { core::ptr::null() } else { raw[at..].as_ptr().cast::<u64>() };
                let avail = list.len() * P;
                let (o, n) = (offset.resolve(avail), len.resolve(avail));
                let mut slot = core::ptr::null_mut();
                let out = out_slot(null_out, &mut slot);
                let st = pr_range_new(gp, list.len(), o, n, out);
                let mut app = Vec::new();
                if null_out || (null_gpns && !list.is_empty()) {
                    app.push(PR_ERR_NULL_ARGUMENT);
                }
                let readable = !null_gpns || list.is_empty();
                if misaligned && !null_gpns && !list.is_empty() {
                    app.push(PR_ERR_INVALID_ARGUMENT);
                }
                let fits = o.checked_add(n).is_some_and(|e| e <= avail);
                if !fits {
                    app.push(PR_ERR_OUT_OF_RANGE);
                }
                let w = ModelWindow { gpns: list.as_slice().into(), start: o, len: n };
                if fits && readable && w.runs(n).iter().any(|r| r.check().is_err()) {
                    app.push(PR_ERR_INVALID_GPN);
                }
                if check_status(st, &app, "pr_range_new") {
                    ranges.push((slot, w));
                } else {
                    assert_eq!(slot as usize, SENTINEL);
                }
            }
            Call::RangeClone { r, null_out } => {
                let i = pick(r, &ranges);
                let mut slot = core::ptr::null_mut();
                let st = pr_range_clone(i.map_or(core::ptr::null(), |i| ranges[i].0), out_slot(null_out, &mut slot));
                let app = if i.is_none() || null_out { vec![PR_ERR_NULL_ARGUMENT] } else { vec![] };
                if check_status(st, &app, "pr_range_clone") {
                    let w = ranges[i.unwrap()].1.clone();
                    ranges.push((slot, w));
                } else {
                    assert_eq!(slot as usize, SENTINEL);
                }
            }
            Call::RangeSub { r, offset, len, null_out } => {
                let i = pick(r, &ranges);
                let wl = i.map_or(0, |i| ranges[i].1.len);
                let (o, n) = (offset.resolve(wl), len.resolve(wl));
                let mut slot = core::ptr::null_mut();
                let st = pr_range_subrange(i.map_or(core::ptr::null(), |i| ranges[i].0), o, n, out_slot(null_out, &mut slot));
                let mut app = Vec::new();
                if i.is_none() || null_out {
                    app.push(PR_ERR_NULL_ARGUMENT);
                }
                let fits = o.checked_add(n).is_some_and(|e| e <= wl);
                if i.is_some() && !fits {
                    app.push(PR_ERR_OUT_OF_RANGE);
                }
                if check_status(st, &app, "pr_range_subrange") {
                    let w = ranges[i.unwrap()].1.sub(o, n);
                    ranges.push((slot, w));
                } else {
                    assert_eq!(slot as usize, SENTINEL);
                }
            }
            Call::RangeSkip { r, len } => narrow_range(&mut ranges, r, len, true),
            Call::RangeTruncate { r, len } => narrow_range(&mut ranges, r, len, false),
            Call::RangeSplit { r, at, null_front, null_back } => {
                let i = pick(r, &ranges);
                let wl = i.map_or(0, |i| ranges[i].1.len);
                let o = at.resolve(wl);
                let (mut f, mut b) = (core::ptr::null_mut(), core::ptr::null_mut());
                let (fo, bo) = (out_slot(null_front, &mut f), out_slot(null_back, &mut b));
                let st = pr_range_split(i.map_or(core::ptr::null(), |i| ranges[i].0), o, fo, bo);
                let mut app = Vec::new();
                if i.is_none() || null_front || null_back {
                    app.push(PR_ERR_NULL_ARGUMENT);
                }
                if i.is_some() && o > wl {
                    app.push(PR_ERR_OUT_OF_RANGE);
                }
                if check_status(st, &app, "pr_range_split") {
                    let w = ranges[i.unwrap()].1.clone();
                    ranges.push((f, w.sub(0, o)));
                    ranges.push((b, w.sub(o, w.len - o)));
                } else {
                    assert_eq!((f as usize, b as usize), (SENTINEL, SENTINEL));
                }
            }
            Call::RangeInspect { r, null_count, cap, null_out } => {
                let i = pick(r, &ranges);
                let rp = i.map_or(core::ptr::null(), |i| ranges[i].0 as *const pr_range);
                let model_w = i.map(|i| ranges[i].1.clone());
                assert_eq!(pr_range_len(rp), model_w.as_ref().map_or(0, |w| w.len));
                let mut cnt = 12345usize;
                let g = pr_range_gpns(rp, if null_count { core::ptr::null_mut() } else { &mut cnt });
                let want = model_w.as_ref().map_or(&[][..], |w| w.covered_gpns());
                if !null_count {
                    assert_eq!(cnt, want.len());
                }
                if want.is_empty() {
                    // May be NULL for an empty window.
                } else {
                    // SAFETY: the library documents `count` elements there.
                    assert_eq!(unsafe { core::slice::from_raw_parts(g, want.len()) }, want);
                }
                if let Some(w) = &model_w {
                    if w.len > 0 {
                        assert_eq!(pr_range_offset(rp), w.start % P);
                    }
                } else {
                    assert_eq!(pr_range_offset(rp), 0);
                    assert!(g.is_null());
                }
                let runs: Vec<pr_address_range> = model_w.as_ref().map_or(Vec::new(), |w| {
                    w.runs(w.len).iter().map(|r| r.check().map(|(s, e)| pr_address_range::from(s..e)).unwrap()).collect()
                });
                check_runs(i.is_some(), runs, null_count, cap, null_out, |out, c, n| pr_range_address_ranges(rp, out, c, n));
            }
            Call::RangeXfer { r, m, kind, len, null_buf, null_t } => {
                let i = pick(r, &ranges);
                let j = pick(m, &mems);
                let buf = i.map(|i| Buf::single(&ranges[i].1));
                let rp = i.map_or(core::ptr::null(), |i| ranges[i].0 as *const pr_range);
                let mp = j.map_or(core::ptr::null(), |j| mems[j].0 as *const pr_memory);
                let has_fill = j.is_some_and(|j| mems[j].1);
                transfer(&mut model, io, &ctx, buf, j.is_some(), has_fill, kind, len, null_buf, null_t, "pr_range", |x, p, n, t| match x {
                    Xfer::Read => pr_range_read(rp, mp, p, n, t),
                    Xfer::Write => pr_range_write(rp, mp, p, n, t),
                    Xfer::Fill(v) => pr_range_fill(rp, mp, v, n, t),
                });
            }
            Call::RangeFree(h) => match pick(h, &ranges) {
                Some(i) => pr_range_free(ranges.swap_remove(i).0),
                None => pr_range_free(core::ptr::null_mut()),
            },
            Call::RangesNew { members, null_array, null_out } => {
                let picks: Vec<Option<usize>> = members.iter().take(6).map(|&h| pick(h, &ranges)).collect();
                let ptrs: Vec<*const pr_range> = picks.iter().map(|p| p.map_or(core::ptr::null(), |i| ranges[i].0 as *const _)).collect();
                let arr = if null_array { core::ptr::null() } else { ptrs.as_ptr() };
                let mut slot = core::ptr::null_mut();
                let st = pr_ranges_new(arr, ptrs.len(), out_slot(null_out, &mut slot));
                let mut app = Vec::new();
                if null_out || (null_array && !ptrs.is_empty()) || (!null_array && picks.iter().any(|p| p.is_none())) {
                    app.push(PR_ERR_NULL_ARGUMENT);
                }
                if check_status(st, &app, "pr_ranges_new") {
                    let windows: Vec<ModelWindow> = picks.iter().map(|p| ranges[p.unwrap()].1.clone()).collect();
                    let len = windows.iter().map(|w| w.len).sum();
                    bufs.push((slot, Buf { windows, skip: 0, len }));
                } else {
                    assert_eq!(slot as usize, SENTINEL);
                }
            }
            Call::RangesPush { rs, r } => {
                let (bi, ri) = (pick(rs, &bufs), pick(r, &ranges));
                let st = pr_ranges_push(
                    bi.map_or(core::ptr::null_mut(), |i| bufs[i].0),
                    ri.map_or(core::ptr::null(), |i| ranges[i].0 as *const _),
                );
                let app = if bi.is_none() || ri.is_none() { vec![PR_ERR_NULL_ARGUMENT] } else { vec![] };
                if check_status(st, &app, "pr_ranges_push") {
                    let b = &mut bufs[bi.unwrap()].1;
                    let w = ranges[ri.unwrap()].1.clone();
                    let mut windows = b.clipped();
                    b.len += w.len;
                    windows.push(w);
                    b.windows = windows;
                    b.skip = 0;
                }
            }
            Call::RangesSkip { rs, len } => narrow_buf(&mut bufs, rs, len, true),
            Call::RangesTruncate { rs, len } => narrow_buf(&mut bufs, rs, len, false),
            Call::RangesGet { rs, index, null_out } => {
                let bi = pick(rs, &bufs);
                let bp = bi.map_or(core::ptr::null(), |i| bufs[i].0 as *const pr_ranges);
                let members = bi.map_or(Vec::new(), |i| bufs[i].1.clipped());
                assert_eq!(pr_ranges_count(bp), members.len());
                assert_eq!(pr_ranges_len(bp), bi.map_or(0, |i| bufs[i].1.len));
                let idx = index as usize % (members.len() + 2);
                let mut slot = core::ptr::null_mut();
                let st = pr_ranges_get(bp, idx, out_slot(null_out, &mut slot));
                let mut app = Vec::new();
                if bi.is_none() || null_out {
                    app.push(PR_ERR_NULL_ARGUMENT);
                }
                if bi.is_some() && idx >= members.len() {
                    app.push(PR_ERR_OUT_OF_RANGE);
                }
                if check_status(st, &app, "pr_ranges_get") {
                    let w = members[idx].clone();
                    assert_eq!(pr_range_len(slot), w.len);
                    ranges.push((slot, w));
                } else {
                    assert_eq!(slot as usize, SENTINEL);
                }
            }
            Call::RangesInspect { rs, null_count, cap, null_out } => {
                let bi = pick(rs, &bufs);
                let bp = bi.map_or(core::ptr::null(), |i| bufs[i].0 as *const pr_ranges);
                let runs: Vec<pr_address_range> = bi.map_or(Vec::new(), |i| {
                    bufs[i].1.clipped().iter().flat_map(|w| w.runs(w.len)).map(|r| {
                        let (s, e) = r.check().unwrap();
                        pr_address_range::from(s..e)
                    }).collect()
                });
                check_runs(bi.is_some(), runs, null_count, cap, null_out, |out, c, n| pr_ranges_address_ranges(bp, out, c, n));
            }
            Call::RangesXfer { rs, m, kind, len, null_buf, null_t } => {
                let bi = pick(rs, &bufs);
                let j = pick(m, &mems);
                let buf = bi.map(|i| bufs[i].1.clone());
                let bp = bi.map_or(core::ptr::null(), |i| bufs[i].0 as *const pr_ranges);
                let mp = j.map_or(core::ptr::null(), |j| mems[j].0 as *const pr_memory);
                let has_fill = j.is_some_and(|j| mems[j].1);
                transfer(&mut model, io, &ctx, buf, j.is_some(), has_fill, kind, len, null_buf, null_t, "pr_ranges", |x, p, n, t| match x {
                    Xfer::Read => pr_ranges_read(bp, mp, p, n, t),
                    Xfer::Write => pr_ranges_write(bp, mp, p, n, t),
                    Xfer::Fill(v) => pr_ranges_fill(bp, mp, v, n, t),
                });
            }
            Call::RangesFree(h) => match pick(h, &bufs) {
                Some(i) => pr_ranges_free(bufs.swap_remove(i).0),
                None => pr_ranges_free(core::ptr::null_mut()),
            },
            Call::CursorNew { writer, over_ranges, src, m, null_out } => {
                let j = pick(m, &mems);
                let mp = j.map_or(core::ptr::null(), |j| mems[j].0 as *const pr_memory);
                let (sp, buf): (*const c_void, Option<Buf>) = if over_ranges {
                    let bi = pick(src, &bufs);
                    (bi.map_or(core::ptr::null(), |i| bufs[i].0 as *const c_void), bi.map(|i| {
                        let b = &bufs[i].1;
                        Buf { windows: b.clipped(), skip: 0, len: b.len }
                    }))
                } else {
                    let ri = pick(src, &ranges);
                    (ri.map_or(core::ptr::null(), |i| ranges[i].0 as *const c_void), ri.map(|i| Buf::single(&ranges[i].1)))
                };
                let mut slot: *mut c_void = core::ptr::null_mut();
                let out = out_slot(null_out, &mut slot);
                let st = match (writer, over_ranges) {
                    (false, false) => pr_reader_new(sp.cast(), mp, out.cast()),
                    (false, true) => pr_ranges_reader_new(sp.cast(), mp, out.cast()),
                    (true, false) => pr_writer_new(sp.cast(), mp, out.cast()),
                    (true, true) => pr_ranges_writer_new(sp.cast(), mp, out.cast()),
                };
                let app = if buf.is_none() || j.is_none() || null_out { vec![PR_ERR_NULL_ARGUMENT] } else { vec![] };
                if check_status(st, &app, "cursor new") {
                    let c = Cursor { ptr: slot, buf: buf.unwrap(), has_fill: mems[j.unwrap()].1 };
                    if writer { writers.push(c) } else { readers.push(c) }
                } else {
                    assert_eq!(slot as usize, SENTINEL);
                }
            }
            Call::CursorStep { writer, c, kind, skip, len, null_buf, null_t } => {
                let list = if writer { &mut writers } else { &mut readers };
                let ci = pick(c, list);
                let cp = ci.map_or(core::ptr::null_mut(), |i| list[i].ptr);
                let remaining = ci.map_or(0, |i| list[i].buf.len);
                let rem_now = if writer { pr_writer_remaining(cp.cast()) } else { pr_reader_remaining(cp.cast()) };
                assert_eq!(rem_now, remaining, "cursor remaining");
                if skip && !writer {
                    let n = len.resolve(remaining);
                    let st = pr_reader_skip(cp.cast(), n);
                    let mut app = Vec::new();
                    if ci.is_none() {
                        app.push(PR_ERR_NULL_ARGUMENT);
                    } else if n > remaining {
                        app.push(PR_ERR_OUT_OF_RANGE);
                    }
                    if check_status(st, &app, "pr_reader_skip") {
                        let b = &mut list[ci.unwrap()].buf;
                        b.skip += n;
                        b.len -= n;
                    }
                    continue;
                }
                let kind = match (writer, kind) {
                    (false, _) => Kind::Read,
                    (true, Kind::Read) => Kind::Write,
                    (true, k) => k,
                };
                let buf = ci.map(|i| list[i].buf.clone());
                let has_fill = ci.is_some_and(|i| list[i].has_fill);
                let done = transfer(&mut model, io, &ctx, buf, true, has_fill, kind, len, null_buf, null_t, "cursor", |x, p, n, t| match x {
                    Xfer::Read => pr_reader_read(cp.cast(), p, n, t),
                    Xfer::Write => pr_writer_write(cp.cast(), p, n, t),
                    Xfer::Fill(v) => pr_writer_fill(cp.cast(), v, n, t),
                });
                if let Some(i) = ci {
                    let b = &mut list[i].buf;
                    b.skip += done;
                    b.len -= done;
                }
            }
            Call::CursorFree { writer, c } => {
                let list = if writer { &mut writers } else { &mut readers };
                let p = pick(c, list).map_or(core::ptr::null_mut(), |i| list.swap_remove(i).ptr);
                if writer { pr_writer_free(p.cast()) } else { pr_reader_free(p.cast()) }
            }
            Call::Status(s) => {
                // SAFETY: documented static NUL-terminated strings.
                let t = unsafe { CStr::from_ptr(pr_status_str(s)) };
                assert!(!t.to_bytes().is_empty());
                // Every code up to PR_ERR_PANIC has its own text; far-off
                // values are unknown (new codes may be added in between).
                if s <= PR_ERR_PANIC {
                    assert_ne!(t.to_bytes(), b"unknown status");
                } else if s >= 1 << 16 {
                    assert_eq!(t.to_bytes(), b"unknown status");
                }
                assert_eq!(unsafe { CStr::from_ptr(pr_version()) }.to_bytes(), b"0.1.0");
            }
        }
    }

    // Free everything (memory handles first: cursors keep theirs alive).
    for (m, _) in mems {
        pr_memory_free(m);
    }
    for (r, _) in ranges {
        pr_range_free(r);
    }
    for (b, _) in bufs {
        pr_ranges_free(b);
    }
    for c in readers {
        pr_reader_free(c.ptr.cast());
    }
    for c in writers {
        pr_writer_free(c.ptr.cast());
    }
    // Every memory handle is freed: no callback can use the RAM any more.
    b.ram = core::mem::take(&mut ctx.bytes);
    b.model_ram = model.ctx.bytes;
    drop(ctx);
}

fn narrow_range(ranges: &mut [(*mut pr_range, ModelWindow)], r: H, len: Num, skip: bool) {
    let i = pick(r, ranges);
    let wl = i.map_or(0, |i| ranges[i].1.len);
    let n = len.resolve(wl);
    let p = i.map_or(core::ptr::null_mut(), |i| ranges[i].0);
    let st = if skip { pr_range_skip(p, n) } else { pr_range_truncate(p, n) };
    let mut app = Vec::new();
    if i.is_none() {
        app.push(PR_ERR_NULL_ARGUMENT);
    } else if n > wl {
        app.push(PR_ERR_OUT_OF_RANGE);
    }
    if check_status(st, &app, "pr_range_skip/truncate") {
        let w = &mut ranges[i.unwrap()].1;
        *w = if skip { w.sub(n, w.len - n) } else { w.sub(0, n) };
    }
    if let Some(i) = i {
        assert_eq!(pr_range_len(ranges[i].0), ranges[i].1.len, "a refused narrow changed the range");
    }
}

fn narrow_buf(bufs: &mut [(*mut pr_ranges, Buf)], rs: H, len: Num, skip: bool) {
    let i = pick(rs, bufs);
    let bl = i.map_or(0, |i| bufs[i].1.len);
    let n = len.resolve(bl);
    let p = i.map_or(core::ptr::null_mut(), |i| bufs[i].0);
    let st = if skip { pr_ranges_skip(p, n) } else { pr_ranges_truncate(p, n) };
    let mut app = Vec::new();
    if i.is_none() {
        app.push(PR_ERR_NULL_ARGUMENT);
    } else if n > bl {
        app.push(PR_ERR_OUT_OF_RANGE);
    }
    if check_status(st, &app, "pr_ranges_skip/truncate") {
        let b = &mut bufs[i.unwrap()].1;
        if skip {
            b.skip += n;
            b.len -= n;
        } else {
            b.len = n;
        }
    }
    if let Some(i) = i {
        assert_eq!(pr_ranges_len(bufs[i].0), bufs[i].1.len);
    }
}

/// Runs a transfer call (`call(kind, buf ptr, len, t ptr)`) and checks it.
/// `buf` is the model of what the handle describes (None: NULL handle);
/// returns the bytes done.
#[allow(clippy::too_many_arguments)]
fn transfer(
    model: &mut ModelMem,
    io: &mut Io,
    ctx: &Ctx,
    buf: Option<Buf>,
    mem_live: bool,
    has_fill: bool,
    kind: Kind,
    len: Num,
    null_buf: bool,
    null_t: bool,
    what: &str,
    call: impl FnOnce(Xfer, *mut c_void, usize, *mut pr_transfer) -> pr_status,
) -> usize {
    let avail = buf.as_ref().map_or(0, |b| b.len);
    let n = len.resolve(avail);
    let n = if matches!(kind, Kind::Fill(_)) { n } else { n.min(avail + 16) };
    let x = match kind {
        Kind::Read => Xfer::Read,
        Kind::Write => Xfer::Write,
        Kind::Fill(v) => Xfer::Fill(v),
    };
    let hostlen = if matches!(kind, Kind::Fill(_)) { 0 } else { n };
    let Io { host, src, model_dst } = io;
    pattern(host, hostlen, n as u8);
    model_dst.clone_from(host);
    src.clone_from(host);
    let p = if null_buf { core::ptr::null_mut() } else { host.as_mut_ptr().cast::<c_void>() };
    let mut t = pr_transfer { done: 777, fault_gpa: 777, fault_code: 777 };
    let st = call(x, p, n, if null_t { core::ptr::null_mut() } else { &mut t });
    let mut app = Vec::new();
    if buf.is_none() || !mem_live || (null_buf && n > 0 && !matches!(kind, Kind::Fill(_))) {
        app.push(PR_ERR_NULL_ARGUMENT);
    }
    if buf.is_some() && n > avail {
        app.push(PR_ERR_OUT_OF_RANGE);
    }
    let outcome = if check_status(if app.is_empty() { PR_OK } else { st }, &app, what) && app.is_empty() {
        let b = buf.unwrap();
        let o = model.transfer(&b.clipped(), n, x, has_fill, src, model_dst);
        assert_eq!(st, o.status, "{what} {x:?} of {n} bytes over {b:?}");
        o
    } else {
        Outcome { status: st, ..Outcome::default() }
    };
    if !null_t {
        assert_eq!(
            (t.done, t.fault_gpa, t.fault_code),
            (outcome.done, outcome.gpa, outcome.code),
            "{what}: pr_transfer"
        );
    }
    if matches!(kind, Kind::Read) && !null_buf {
        assert!(*host == *model_dst, "{what}: bytes read differ from the model");
    }
    assert!(ctx.bytes == model.ctx.bytes, "{what}: guest memory differs from the model");
    outcome.done
}

/// Checks an address-range export call against the model's runs.
fn check_runs(
    live: bool,
    runs: Vec<pr_address_range>,
    null_count: bool,
    cap: u8,
    null_out: bool,
    call: impl FnOnce(*mut pr_address_range, usize, *mut usize) -> pr_status,
) {
    let cap = cap as usize % 6;
    let sentinel = pr_address_range::from(1..2);
    let mut out = vec![sentinel; cap];
    let mut count = 999usize;
    let op = if null_out { core::ptr::null_mut() } else { out.as_mut_ptr() };
    let cp = if null_count { core::ptr::null_mut() } else { &mut count as *mut usize };
    let st = call(op, cap, cp);
    let mut app = Vec::new();
    if !live || null_count || (null_out && cap > 0) {
        app.push(PR_ERR_NULL_ARGUMENT);
    }
    if !app.is_empty() {
        assert!(app.contains(&st), "address ranges: status {st}, documented {app:?}");
        assert_eq!(count, 999, "count written on a NULL-argument error");
        assert!(out.iter().all(|&r| r == sentinel));
        return;
    }
    let want = if runs.len() > cap { PR_ERR_BUFFER_TOO_SMALL } else { PR_OK };
    assert_eq!(st, want, "address ranges: {} runs, capacity {cap}", runs.len());
    assert_eq!(count, runs.len());
    let k = cap.min(runs.len());
    assert_eq!(&out[..k], &runs[..k]);
    assert!(out[k..].iter().all(|&r| r == sentinel));
}

fuzz_target!(|data: &[u8]| {
    initial_ram();
    BUFS.with_borrow_mut(|b| {
        let before = alloc_count::live() - b.held();
        run(data, b);
        let after = alloc_count::live() - b.held();
        assert_eq!(after, before, "bytes still allocated after freeing every handle");
    })
});
