//! `ops`: sequences of PagedRange / PagedRanges operations over a
//! BufferMemory, checked against the byte-by-byte model of
//! `pagedrange_fuzz` (every byte's GPA is `gpns[i/4096]*4096 + i%4096`).
//! Hostile GPNs and lengths must give errors, never panics; every result,
//! every byte read and the whole guest memory after each step must equal the
//! model's.

#![no_main]

use std::cell::RefCell;
use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use pagedrange::{
    AddressRange, BufferMemory, GuestMemory, InvalidGpn, MemoryRead, MemoryWrite, OutOfRange, PagedRange,
    PagedRanges, TransferError, MAX_GPN,
};
use pagedrange_fuzz::*;

#[derive(Arbitrary, Debug)]
enum MemPick {
    /// 16 pages from GPN 4 (plus a sub-page shift and a shortened end).
    Low { shift: u16, trim: u16 },
    /// The 8 pages at the top of the address space.
    Top { shift: u16 },
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Kind {
    Read,
    Write,
    Fill,
}

#[derive(Arbitrary, Debug)]
enum Step {
    Read(Num),
    Write(Num),
    Fill(Num, u8),
    Skip(Num),
}

#[derive(Arbitrary, Debug)]
enum RangesOp {
    Skip(Num),
    Truncate(Num),
    Inspect,
    Transfer(Kind, Num, u8),
    Cursor(Vec<Step>),
}

#[derive(Arbitrary, Debug)]
enum WinOp {
    New { list: u8, offset: Num, len: Num },
    Sub { w: u8, offset: Num, len: Num },
    Skip { w: u8, len: Num },
    Truncate { w: u8, len: Num },
    Split { w: u8, at: Num },
    Inspect { w: u8 },
    Transfer { w: u8, kind: Kind, len: Num, seed: u8 },
    Cursor { w: u8, steps: Vec<Step> },
    Ranges { ws: Vec<u8>, ops: Vec<RangesOp> },
}

/// Longest read or write: `transfer_len` of the largest buffer (6 windows
/// of 8 pages).
const MAX_RW: usize = 6 * 8 * P + 16;

/// `len` bytes of a fixed pattern from `seed` on (made once).
fn pattern(len: usize, seed: u8) -> &'static [u8] {
    static PAT: OnceLock<Vec<u8>> = OnceLock::new();
    let pat = PAT.get_or_init(|| {
        (0..MAX_RW + 256)
            .map(|i| ((i as u32).wrapping_mul(2_654_435_761) >> 11) as u8)
            .collect()
    });
    &pat[seed as usize..seed as usize + len]
}

/// `buf` as `len` bytes of `v`.
fn refill(buf: &mut Vec<u8>, len: usize, v: u8) -> &mut [u8] {
    buf.clear();
    buf.resize(len, v);
    buf
}

/// A transfer length: reads and writes need a host buffer, so they stay
/// near the window; fills take anything.
fn transfer_len(kind: Kind, n: Num, limit: usize) -> usize {
    let l = n.resolve(limit);
    match kind {
        Kind::Fill => l,
        _ => l.min(limit + 16),
    }
}

/// Buffers kept from input to input: fresh large allocations cost page
/// faults under ASan.
#[derive(Default)]
struct Bufs {
    model: Vec<u8>,
    seen: Vec<u8>,
    dst: Vec<u8>,
    model_dst: Vec<u8>,
}

thread_local! {
    static BUFS: RefCell<Bufs> = RefCell::default();
}

struct World {
    mem: BufferMemory,
    model: ModelMemory,
    /// The guest memory as last read back.
    seen: Vec<u8>,
    /// Host buffers of reads: the real one and the model's.
    dst: Vec<u8>,
    model_dst: Vec<u8>,
}

/// The whole guest memory equals the model's (read back into `seen`).
fn check_memory(mem: &BufferMemory, model: &ModelMemory, seen: &mut Vec<u8>) {
    // Every byte is overwritten: no need to clear first.
    seen.resize(model.bytes.len(), 0);
    mem.read(model.base, seen).unwrap();
    assert!(*seen == model.bytes[..], "guest memory differs from the model");
}

impl World {
    fn check_memory(&mut self) {
        check_memory(&self.mem, &self.model, &mut self.seen);
    }

    /// Runs one transfer on the real thing (`real`) and the model (over
    /// `windows`, holding `available` bytes) and compares everything.
    /// Returns the bytes done.
    fn transfer(
        &mut self,
        windows: &[ModelWindow],
        available: usize,
        kind: Kind,
        len: usize,
        value: u8,
        real: impl FnOnce(&BufferMemory, &mut Transfer<'_>) -> Result<(), TransferError>,
    ) -> usize {
        let sentinel = value ^ 0x5a;
        let reads = if matches!(kind, Kind::Read) { len } else { 0 };
        let dst = refill(&mut self.dst, reads, sentinel);
        let model_dst = refill(&mut self.model_dst, reads, sentinel);
        let mut t = match kind {
            Kind::Read => Transfer::Read(dst),
            Kind::Write => Transfer::Write(pattern(len, value)),
            Kind::Fill => Transfer::Fill(value, len),
        };
        let expected = if len > available {
            Err(TransferError::OutOfRange(OutOfRange { offset: 0, len, available }))
        } else {
            let mut op = match &t {
                Transfer::Read(_) => Op::Read(&mut model_dst[..]),
                Transfer::Write(s) => Op::Write(s),
                Transfer::Fill(v, _) => Op::Fill(*v),
            };
            model_transfer(windows, len, &mut self.model, &mut op)
        };
        let got = real(&self.mem, &mut t);
        assert_eq!(got, expected, "transfer of {len} bytes ({kind:?})");
        if let Transfer::Read(d) = &t {
            // Bytes done match the model; the rest was never touched.
            assert!(**d == *model_dst, "read bytes differ from the model");
        }
        self.check_memory();
        match expected {
            Ok(()) => len,
            Err(e) => e.done(),
        }
    }
}

enum Transfer<'a> {
    Read(&'a mut [u8]),
    Write(&'a [u8]),
    Fill(u8, usize),
}

impl Transfer<'_> {
    fn on_range(&mut self, r: &PagedRange<'_>, mem: &BufferMemory) -> Result<(), TransferError> {
        match self {
            Transfer::Read(d) => r.read(mem, d),
            Transfer::Write(s) => r.write(mem, s),
            Transfer::Fill(v, n) => r.fill(mem, *v, *n),
        }
    }
}

/// The model's run list of a window: what `ranges()` must yield.
fn model_items(w: &ModelWindow) -> Vec<Result<AddressRange, InvalidGpn>> {
    let mut out = Vec::new();
    for run in w.runs(w.len) {
        match run.check() {
            Ok((s, e)) => out.push(Ok(AddressRange::from(s..e))),
            Err(gpn) => {
                out.push(Err(InvalidGpn { gpn }));
                break;
            }
        }
    }
    out
}

fn check_window(r: &PagedRange<'_>, m: &ModelWindow) {
    assert_eq!(r.len(), m.len);
    assert_eq!(r.is_empty(), m.len == 0);
    assert_eq!(r.gpns(), m.covered_gpns());
    if m.len > 0 {
        assert_eq!(r.offset(), m.start % P);
    }
    assert_eq!(r.parts().0, m.start);
    assert_eq!(r.parts().1, &m.gpns[..]);
}

fn run(data: &[u8], bufs: &mut Bufs) {
    let mut u = Unstructured::new(data);
    let Some(mem_pick) = take::<MemPick>(&mut u) else { return };
    let (base, size) = match mem_pick {
        MemPick::Low { shift, trim } => {
            (4 * PU + (shift % 4096) as u64, 16 * P - (trim as usize % 8192))
        }
        MemPick::Top { shift } => ((MAX_GPN - 7) * PU + (shift % 4096) as u64, 8 * P),
    };
    let mem = BufferMemory::with_base(base, size);
    let model_size = size.min((u64::MAX - base) as usize);
    assert_eq!(mem.size(), model_size);
    let mut model_bytes = std::mem::take(&mut bufs.model);
    model_bytes.clear();
    model_bytes.resize(model_size, 0);
    let mut world = World {
        mem,
        model: ModelMemory { base, bytes: model_bytes },
        seen: std::mem::take(&mut bufs.seen),
        dst: std::mem::take(&mut bufs.dst),
        model_dst: std::mem::take(&mut bufs.model_dst),
    };
    let (first_gpn, mem_pages) = (base / PU, model_size as u64 / PU + 1);

    // Up to 3 GPN lists of up to 8 pages.
    let nlists = take::<u8>(&mut u).unwrap_or(0) % 3 + 1;
    let mut lists: Vec<Vec<u64>> = Vec::new();
    for _ in 0..nlists {
        let n = take::<u8>(&mut u).unwrap_or(0) % 9;
        let picks: Vec<GpnPick> = (0..n).filter_map(|_| take(&mut u)).collect();
        lists.push(resolve_gpns(&picks, first_gpn, mem_pages));
    }

    let mut wins: Vec<(PagedRange<'_>, ModelWindow)> = Vec::new();
    for (i, l) in lists.iter().enumerate() {
        let r = PagedRange::new(0, l.len() * P, l).unwrap();
        let m = ModelWindow { gpns: l.as_slice().into(), start: 0, len: l.len() * P };
        check_window(&r, &m);
        let _ = i;
        wins.push((r, m));
    }

    let mut steps = 0;
    while let Some(op) = take::<WinOp>(&mut u) {
        steps += 1;
        if steps > 48 {
            break;
        }
        let pick = |w: u8, wins: &Vec<(PagedRange<'_>, ModelWindow)>| w as usize % wins.len();
        match op {
            WinOp::New { list, offset, len } => {
                let l = &lists[list as usize % lists.len()];
                let avail = l.len() * P;
                let (o, n) = (offset.resolve(avail), len.resolve(avail));
                let got = PagedRange::try_new(o, n, l);
                let fits = o.checked_add(n).is_some_and(|e| e <= avail);
                if fits {
                    let r = got.expect("window inside the list refused");
                    let m = ModelWindow { gpns: l.as_slice().into(), start: o, len: n };
                    check_window(&r, &m);
                    wins.push((r, m));
                } else {
                    assert_eq!(got, Err(OutOfRange { offset: o, len: n, available: avail }));
                }
            }
            WinOp::Sub { w, offset, len } => {
                let (r, m) = wins[pick(w, &wins)].clone();
                let (o, n) = (offset.resolve(m.len), len.resolve(m.len));
                let got = r.try_subrange(o, n);
                if o.checked_add(n).is_some_and(|e| e <= m.len) {
                    let s = got.expect("subrange inside the window refused");
                    let ms = m.sub(o, n);
                    check_window(&s, &ms);
                    wins.push((s, ms));
                } else {
                    assert_eq!(got, Err(OutOfRange { offset: o, len: n, available: m.len }));
                }
            }
            WinOp::Skip { w, len } => {
                let i = pick(w, &wins);
                let (r, m) = &mut wins[i];
                let n = len.resolve(m.len);
                let before = *r;
                let got = r.try_skip(n);
                if n <= m.len {
                    got.expect("skip inside the window refused");
                    *m = m.sub(n, m.len - n);
                } else {
                    assert_eq!(got, Err(OutOfRange { offset: 0, len: n, available: m.len }));
                    assert_eq!(*r, before, "a failed skip changed the window");
                }
                check_window(r, m);
            }
            WinOp::Truncate { w, len } => {
                let i = pick(w, &wins);
                let (r, m) = &mut wins[i];
                let n = len.resolve(m.len);
                let before = *r;
                let got = r.try_truncate(n);
                if n <= m.len {
                    got.expect("truncate inside the window refused");
                    *m = m.sub(0, n);
                } else {
                    assert_eq!(got, Err(OutOfRange { offset: 0, len: n, available: m.len }));
                    assert_eq!(*r, before, "a failed truncate changed the window");
                }
                check_window(r, m);
            }
            WinOp::Split { w, at } => {
                let (r, m) = wins[pick(w, &wins)].clone();
                let o = at.resolve(m.len);
                let got = r.try_split(o);
                if o <= m.len {
                    let (a, b) = got.expect("split inside the window refused");
                    let (ma, mb) = (m.sub(0, o), m.sub(o, m.len - o));
                    check_window(&a, &ma);
                    check_window(&b, &mb);
                    wins.push((a, ma));
                    wins.push((b, mb));
                } else {
                    assert_eq!(got, Err(OutOfRange { offset: 0, len: o, available: m.len }));
                }
            }
            WinOp::Inspect { w } => {
                let (r, m) = &wins[pick(w, &wins)];
                check_window(r, m);
                let expected = model_items(m);
                let got: Vec<_> = r.ranges().collect();
                assert_eq!(got, expected, "ranges() of {m:?}");
                // Popping runs one by one gives the same, and a failed pop
                // leaves the window alone.
                let mut p = *r;
                for e in &expected {
                    let before = p;
                    assert_eq!(p.pop_front_range().as_ref(), Some(e));
                    if e.is_err() {
                        assert_eq!(p, before);
                    }
                }
                if expected.last().is_none_or(|e| e.is_ok()) {
                    assert!(p.is_empty());
                    assert_eq!(p.pop_front_range(), None);
                }
                let mut it = r.ranges();
                let first = it.next();
                assert_eq!(first, expected.first().cloned());
                if let Some(Err(_)) = first {
                    assert_eq!(it.remaining(), 0);
                    assert_eq!(it.next(), None);
                }
            }
            WinOp::Transfer { w, kind, len, seed } => {
                let (r, m) = wins[pick(w, &wins)].clone();
                let n = transfer_len(kind, len, m.len);
                world.transfer(&[m.clone()], m.len, kind, n, seed, |mem, t| t.on_range(&r, mem));
            }
            WinOp::Cursor { w, steps } => {
                let (r, m) = wins[pick(w, &wins)].clone();
                let mut rd = r.reader(&world.mem);
                let mut wr = r.writer(&world.mem);
                // Each cursor's position in the window.
                let (mut rpos, mut wpos) = (0usize, 0usize);
                // Cursors borrow the memory; run the model on a copy and
                // compare at the end of each step.
                for s in steps.into_iter().take(16) {
                    match s {
                        Step::Read(n) | Step::Skip(n) => {
                            let rest = m.len - rpos;
                            let is_skip = matches!(s, Step::Skip(_));
                            let n = if is_skip { n.resolve(rest) } else { transfer_len(Kind::Read, n, rest) };
                            let win = [m.sub(rpos, rest)];
                            if is_skip {
                                let got = rd.skip(n);
                                if n <= rest {
                                    got.unwrap();
                                    rpos += n;
                                } else {
                                    assert_eq!(got, Err(TransferError::OutOfRange(OutOfRange { offset: 0, len: n, available: rest })));
                                }
                            } else {
                                let dst = refill(&mut world.dst, n, 0xa5);
                                let model_dst = refill(&mut world.model_dst, n, 0xa5);
                                let expected = if n > rest {
                                    Err(TransferError::OutOfRange(OutOfRange { offset: 0, len: n, available: rest }))
                                } else {
                                    model_transfer(&win, n, &mut world.model, &mut Op::Read(model_dst))
                                };
                                assert_eq!(rd.read(dst), expected);
                                assert!(world.dst == world.model_dst);
                                rpos += expected.map_or_else(|e| e.done(), |()| n);
                            }
                            assert_eq!(rd.len(), m.len - rpos);
                        }
                        Step::Write(k0) | Step::Fill(k0, _) => {
                            let rest = m.len - wpos;
                            let win = [m.sub(wpos, rest)];
                            let (n, expected, got);
                            if let Step::Fill(k, v) = s {
                                n = k.resolve(rest);
                                expected = if n > rest {
                                    Err(TransferError::OutOfRange(OutOfRange { offset: 0, len: n, available: rest }))
                                } else {
                                    model_transfer(&win, n, &mut world.model, &mut Op::Fill(v))
                                };
                                got = wr.fill(v, n);
                            } else {
                                n = transfer_len(Kind::Write, k0, rest);
                                let src = pattern(n, wpos as u8);
                                expected = if n > rest {
                                    Err(TransferError::OutOfRange(OutOfRange { offset: 0, len: n, available: rest }))
                                } else {
                                    model_transfer(&win, n, &mut world.model, &mut Op::Write(src))
                                };
                                got = wr.write(src);
                            }
                            assert_eq!(got, expected);
                            wpos += expected.map_or_else(|e| e.done(), |()| n);
                            assert_eq!(wr.len(), m.len - wpos);
                        }
                    }
                    check_memory(&world.mem, &world.model, &mut world.seen);
                }
                check_window(&rd.remaining(), &m.sub(rpos, m.len - rpos));
                check_window(&wr.remaining(), &m.sub(wpos, m.len - wpos));
            }
            WinOp::Ranges { ws, ops } => {
                let members: Vec<(PagedRange<'_>, ModelWindow)> = ws
                    .iter()
                    .take(6)
                    .map(|&w| wins[pick(w, &wins)].clone())
                    .collect();
                let rs: Vec<PagedRange<'_>> = members.iter().map(|(r, _)| *r).collect();
                let ms: Vec<ModelWindow> = members.into_iter().map(|(_, m)| m).collect();
                let mut buf = PagedRanges::try_new(rs.iter().copied()).expect("small total refused");
                let total: usize = ms.iter().map(|m| m.len).sum();
                assert_eq!(buf.len(), total);
                let (mut skip, mut len) = (0usize, total);
                for op in ops.into_iter().take(12) {
                    let cur = model_clip(&ms, skip, len);
                    match op {
                        RangesOp::Skip(n) => {
                            let n = n.resolve(len);
                            let got = buf.try_skip(n);
                            if n <= len {
                                got.unwrap();
                                skip += n;
                                len -= n;
                            } else {
                                assert_eq!(got, Err(OutOfRange { offset: 0, len: n, available: len }));
                            }
                        }
                        RangesOp::Truncate(n) => {
                            let n = n.resolve(len);
                            let got = buf.try_truncate(n);
                            if n <= len {
                                got.unwrap();
                                len = n;
                            } else {
                                assert_eq!(got, Err(OutOfRange { offset: 0, len: n, available: len }));
                            }
                        }
                        RangesOp::Inspect => {
                            let got: Vec<_> = buf.paged_ranges().collect();
                            let want: Vec<_> = cur.iter().filter(|m| m.len > 0).collect();
                            assert_eq!(got.len(), want.len());
                            for (g, w) in got.iter().zip(&want) {
                                check_window(g, w);
                            }
                            let mut expected = Vec::new();
                            for w in &cur {
                                let items = model_items(w);
                                let failed = items.last().is_some_and(|e| e.is_err());
                                expected.extend(items);
                                if failed {
                                    break;
                                }
                            }
                            assert_eq!(buf.ranges().collect::<Vec<_>>(), expected);
                        }
                        RangesOp::Transfer(kind, n, v) => {
                            let n = transfer_len(kind, n, len);
                            world.transfer(&cur, len, kind, n, v, |mem, t| match t {
                                Transfer::Read(d) => buf.read(mem, d),
                                Transfer::Write(s) => buf.write(mem, s),
                                Transfer::Fill(v, n) => buf.fill(mem, *v, *n),
                            });
                        }
                        RangesOp::Cursor(steps) => {
                            let mut rd = buf.reader(&world.mem);
                            let mut wr = buf.writer(&world.mem);
                            let (mut rpos, mut wpos) = (0usize, 0usize);
                            for s in steps.into_iter().take(12) {
                                let oor = |n, rest| Err(TransferError::OutOfRange(OutOfRange { offset: 0, len: n, available: rest }));
                                match s {
                                    Step::Skip(n) => {
                                        let rest = len - rpos;
                                        let n = n.resolve(rest);
                                        let got = rd.skip(n);
                                        if n <= rest {
                                            got.unwrap();
                                            rpos += n;
                                        } else {
                                            assert_eq!(got, oor(n, rest));
                                        }
                                    }
                                    Step::Read(n) => {
                                        let rest = len - rpos;
                                        let n = transfer_len(Kind::Read, n, rest);
                                        let win = model_clip(&cur, rpos, rest);
                                        let dst = refill(&mut world.dst, n, 0x3c);
                                        let model_dst = refill(&mut world.model_dst, n, 0x3c);
                                        let expected = if n > rest { oor(n, rest) } else {
                                            model_transfer(&win, n, &mut world.model, &mut Op::Read(model_dst))
                                        };
                                        assert_eq!(rd.read(dst), expected);
                                        assert!(world.dst == world.model_dst);
                                        rpos += expected.map_or_else(|e| e.done(), |()| n);
                                    }
                                    Step::Write(n) => {
                                        let rest = len - wpos;
                                        let n = transfer_len(Kind::Write, n, rest);
                                        let win = model_clip(&cur, wpos, rest);
                                        let src = pattern(n, (wpos as u8).wrapping_add(7));
                                        let expected = if n > rest { oor(n, rest) } else {
                                            model_transfer(&win, n, &mut world.model, &mut Op::Write(src))
                                        };
                                        assert_eq!(wr.write(src), expected);
                                        wpos += expected.map_or_else(|e| e.done(), |()| n);
                                    }
                                    Step::Fill(n, v) => {
                                        let rest = len - wpos;
                                        let n = n.resolve(rest);
                                        let win = model_clip(&cur, wpos, rest);
                                        let expected = if n > rest { oor(n, rest) } else {
                                            model_transfer(&win, n, &mut world.model, &mut Op::Fill(v))
                                        };
                                        assert_eq!(wr.fill(v, n), expected);
                                        wpos += expected.map_or_else(|e| e.done(), |()| n);
                                    }
                                }
                                assert_eq!(rd.len(), len - rpos);
                                assert_eq!(wr.len(), len - wpos);
                                check_memory(&world.mem, &world.model, &mut world.seen);
                            }
                        }
                    }
                    assert_eq!(buf.len(), len);
                    assert_eq!(buf.window(), (skip, len));
                }
            }
        }
    }
    let World { model, seen, dst, model_dst, .. } = world;
    *bufs = Bufs { model: model.bytes, seen, dst, model_dst };
}

fuzz_target!(|data: &[u8]| BUFS.with_borrow_mut(|b| run(data, b)));
