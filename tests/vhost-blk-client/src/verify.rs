//! `verify`: randomized IO checked against an in-memory model of the disk.
//!
//! The model starts as the disk file's contents (read on the host before
//! connecting). Requests in flight never overlap a write in flight (reads
//! may overlap reads), so the model is exact: a write updates it when it is
//! submitted, a read is compared with it when it completes. At the end the
//! connection is closed and the disk file is compared with the model.
//!
//! Buffers honour what libblkio reports: addresses and segment lengths are
//! multiples of `buf-alignment` (1 for vhost-user: any byte), offsets and
//! request lengths multiples of `request-alignment`, at most
//! `max-segments` segments of at most `max-segment-len` bytes and
//! `max-transfer` bytes per request, all buffers inside mapped memory
//! regions (`needs-mem-regions`). The bytes around and between the segments
//! of a read are filled with a canary and checked afterwards: the backend
//! must write exactly the segments.

use crate::dev::{self, Device};
use crate::rng::Rng;
use blkio::{iovec, Completion, ReqFlags};
use std::mem::MaybeUninit;
use std::time::{Duration, Instant};

pub struct Opts {
    pub socket: String,
    pub disk: String,
    pub queues: usize,
    pub iodepth: usize,
    pub seconds: Option<f64>,
    pub requests: Option<u64>,
    pub seed: u64,
    pub max_len: usize,
    pub timeout: f64,
    /// Remap the second buffer region every this many requests (0: never).
    pub remap_every: u64,
}

/// Bytes of canary before the first segment and after the last.
const GUARD: usize = 64;
/// Largest gap between two segments in memory.
const MAX_GAP: usize = 48;
/// Largest random start offset of the first segment in its slot.
const MAX_SHIFT: usize = 4096;
/// Mismatches and errors printed in full.
const MAX_REPORTS: u64 = 10;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    Read,
    Write,
    WriteFua,
    WriteZeroes,
    Flush,
}

struct Slot {
    queue: usize,
    region: usize,
    /// Offset of the slot in its region.
    base: usize,
    busy: bool,
    op: Op,
    off: u64,
    len: usize,
    iov: Vec<iovec>,
    /// Slot-relative end of the canary-filled span (reads).
    span: usize,
    canary: u8,
}

#[derive(Default)]
struct Stats {
    requests: u64,
    bytes: u64,
    reads: u64,
    writes: u64,
    fua: u64,
    zeroes: u64,
    flushes: u64,
    segments: u64,
    max_segs_seen: usize,
    min_seg_seen: usize,
    remaps: u64,
    max_inflight: usize,
    mismatches: u64,
    io_errors: u64,
}

fn seg_cap(info: &dev::Info) -> usize {
    let ring = (info.queue_size as usize).saturating_sub(2).max(1);
    (info.max_segments.max(1) as usize).min(ring).min(1024)
}

pub fn run(o: &Opts) -> Result<bool, String> {
    let mut model =
        std::fs::read(&o.disk).map_err(|e| format!("read {}: {e}", o.disk))?;

    // Slots: `iodepth` per queue, each big enough for the largest request
    // with its gaps, shift and guards. Even slots live in region 0, odd ones
    // in region 1 (so requests use two regions besides libblkio's own).
    let max_segs_bound = 1024;
    let slot_size = (o.max_len + MAX_SHIFT + max_segs_bound * (MAX_GAP + 64) + 2 * GUARD)
        .div_ceil(4096)
        * 4096;
    let nslots = o.queues * o.iodepth;
    let per_region = [nslots.div_ceil(2) * slot_size, (nslots / 2).max(1) * slot_size];
    let mut dev = Device::open(&o.socket, o.queues, &per_region)?;
    let info = dev.info.clone();
    eprintln!("verify: backend {info:?}");

    if info.capacity != model.len() as u64 {
        return Err(format!(
            "backend capacity {} != size of {} ({} bytes)",
            info.capacity,
            o.disk,
            model.len()
        ));
    }
    let ra = info.request_alignment.max(1) as usize;
    let ba = info.buf_alignment.max(1) as usize;
    let cap_segs = seg_cap(&info);
    let mut max_len = o.max_len.min(info.capacity as usize);
    if info.max_transfer > 0 {
        max_len = max_len.min(info.max_transfer as usize);
    }
    max_len = max_len / ra * ra;
    if max_len == 0 {
        return Err("capacity or max-transfer below request-alignment".into());
    }
    let zeroes_ok = info.max_write_zeroes_len >= ra as u64;

    let mut slots: Vec<Slot> = (0..nslots)
        .map(|i| Slot {
            queue: i / o.iodepth,
            region: i % 2,
            base: (i / 2) * slot_size,
            busy: false,
            op: Op::Read,
            off: 0,
            len: 0,
            iov: Vec::with_capacity(cap_segs),
            span: 0,
            canary: 0,
        })
        .collect();
    let mut desc_free: Vec<usize> = vec![info.queue_size as usize; o.queues];
    let mut inflight = 0usize;
    let mut rng = Rng::new(o.seed);
    let mut st = Stats {
        min_seg_seen: usize::MAX,
        ..Default::default()
    };
    let mut comps: Vec<MaybeUninit<Completion>> =
        (0..o.iodepth.max(1) * 2).map(|_| MaybeUninit::uninit()).collect();

    let start = Instant::now();
    let deadline = o.seconds.map(|s| start + Duration::from_secs_f64(s));
    let mut stopping = false;
    let mut idle_since = Instant::now();
    // Remapping region 1: set when due, no new request goes to region 1
    // until it is idle and remapped.
    let mut remap_pending = false;
    let mut next_remap = if o.remap_every > 0 { o.remap_every } else { u64::MAX };

    loop {
        if !stopping
            && (o.requests.is_some_and(|n| st.requests >= n)
                || deadline.is_some_and(|d| Instant::now() >= d)
                || st.mismatches >= MAX_REPORTS
                || st.io_errors > 0)
        {
            stopping = true;
        }
        if !stopping && !remap_pending && st.requests >= next_remap {
            remap_pending = true;
        }
        if remap_pending && !slots.iter().any(|s| s.busy && s.region == 1) {
            dev.remap(1)?;
            st.remaps += 1;
            remap_pending = false;
            next_remap = st.requests + o.remap_every;
        }

        // Submit: fill every free slot, queue by queue.
        if !stopping {
            for si in 0..nslots {
                if slots[si].busy
                    || (remap_pending && slots[si].region == 1)
                    || o.requests.is_some_and(|n| st.requests >= n)
                {
                    continue;
                }
                let q = slots[si].queue;
                if desc_free[q] < 3 {
                    continue;
                }
                // Choose the operation and the range; give up on this slot for
                // now if every try overlaps a write in flight.
                let roll = rng.below(100);
                let op = if roll < 3 {
                    Op::Flush
                } else if roll < 6 && zeroes_ok {
                    Op::WriteZeroes
                } else if roll < 50 {
                    if rng.chance(10) {
                        Op::WriteFua
                    } else {
                        Op::Write
                    }
                } else {
                    Op::Read
                };
                let mut segs_now = cap_segs.min(desc_free[q] - 2);
                let mut len_max = max_len;
                if op == Op::WriteZeroes {
                    len_max = len_max.min(info.max_write_zeroes_len as usize) / ra * ra;
                } else if info.max_segment_len > 0 {
                    let msl = info.max_segment_len as usize;
                    len_max = len_max.min(msl * segs_now) / ra * ra;
                }
                if op != Op::Flush && len_max < ra {
                    continue;
                }
                let mut placed = None;
                if op != Op::Flush {
                    for _ in 0..8 {
                        let len = rng.log_uniform((len_max / ra) as u64) as usize * ra;
                        let sectors = (info.capacity as usize - len) / ra;
                        let off = (rng.range(0, sectors as u64) as usize * ra) as u64;
                        let writes = op != Op::Read;
                        let clash = slots.iter().any(|s| {
                            s.busy
                                && s.op != Op::Flush
                                && (writes || s.op != Op::Read)
                                && off < s.off + s.len as u64
                                && s.off < off + len as u64
                        });
                        if !clash {
                            placed = Some((off, len));
                            break;
                        }
                    }
                    if placed.is_none() {
                        continue;
                    }
                }
                let (off, len) = placed.unwrap_or((0, 0));
                let slot = &mut slots[si];
                slot.op = op;
                slot.off = off;
                slot.len = len;
                slot.iov.clear();
                let ud = si;
                let mem = dev.mem(slot.region);
                let queue = &mut dev.queues[q];
                match op {
                    Op::Flush => {
                        queue.flush(ud, ReqFlags::empty());
                        desc_free[q] -= 2;
                        st.flushes += 1;
                    }
                    Op::WriteZeroes => {
                        model[off as usize..off as usize + len].fill(0);
                        let flags = if rng.chance(50) {
                            ReqFlags::NO_UNMAP
                        } else {
                            ReqFlags::empty()
                        };
                        queue.write_zeroes(off, len as u64, ud, flags);
                        desc_free[q] -= 3;
                        st.zeroes += 1;
                        st.bytes += len as u64;
                    }
                    Op::Read | Op::Write | Op::WriteFua => {
                        if info.max_segment_len > 0 {
                            let need = len.div_ceil(info.max_segment_len as usize);
                            segs_now = segs_now.max(need);
                        }
                        let lens = split(&mut rng, len, ba, segs_now, info.max_segment_len);
                        let (iov, span) = layout(&mut rng, mem, slot.base, &lens, ba, slot_size);
                        slot.iov = iov;
                        slot.span = span;
                        st.segments += lens.len() as u64;
                        st.max_segs_seen = st.max_segs_seen.max(lens.len());
                        st.min_seg_seen = st.min_seg_seen.min(*lens.iter().min().unwrap());
                        st.bytes += len as u64;
                        desc_free[q] -= lens.len() + 2;
                        if op == Op::Read {
                            slot.canary = rng.next_u64() as u8;
                            unsafe {
                                std::ptr::write_bytes(mem.add(slot.base), slot.canary, span)
                            };
                            queue.readv(
                                off,
                                slot.iov.as_ptr(),
                                slot.iov.len() as u32,
                                ud,
                                ReqFlags::empty(),
                            );
                            st.reads += 1;
                        } else {
                            let m = &mut model[off as usize..off as usize + len];
                            rng.fill(m);
                            scatter(m, &slot.iov);
                            let flags = if op == Op::WriteFua {
                                st.fua += 1;
                                ReqFlags::FUA
                            } else {
                                ReqFlags::empty()
                            };
                            queue.writev(off, slot.iov.as_ptr(), slot.iov.len() as u32, ud, flags);
                            st.writes += 1;
                        }
                    }
                }
                slot.busy = true;
                inflight += 1;
                st.max_inflight = st.max_inflight.max(inflight);
                st.requests += 1;
            }
        }

        // Reap every queue.
        let mut got = 0;
        #[allow(clippy::needless_range_loop)]
        for q in 0..o.queues {
            let n = dev::reap(&mut dev.queues[q], &mut comps)?;
            got += n;
            for c in &comps[..n] {
                let (ud, ret) = dev::completion(c);
                let slot = slots
                    .get_mut(ud)
                    .filter(|s| s.busy && s.queue == q)
                    .ok_or_else(|| format!("completion with unknown user_data {ud} on queue {q}"))?;
                slot.busy = false;
                inflight -= 1;
                desc_free[q] += match slot.op {
                    Op::Flush => 2,
                    Op::WriteZeroes => 3,
                    _ => slot.iov.len() + 2,
                };
                if ret != 0 {
                    st.io_errors += 1;
                    if st.io_errors <= MAX_REPORTS {
                        eprintln!(
                            "verify: IO error {} on {:?} queue {} offset {} len {} segments {}",
                            dev::errno_name(ret),
                            slot.op,
                            q,
                            slot.off,
                            slot.len,
                            slot.iov.len()
                        );
                    }
                    continue;
                }
                if slot.op == Op::Read {
                    let mem = dev.mem(slot.region);
                    if let Some(msg) = check_read(&model, slot, mem) {
                        st.mismatches += 1;
                        if st.mismatches <= MAX_REPORTS {
                            eprintln!("verify: MISMATCH {msg}");
                        }
                    }
                }
            }
        }

        if inflight == 0 && stopping {
            break;
        }
        if got == 0 && inflight > 0 {
            if dev.wait(Duration::from_secs(1))? {
                idle_since = Instant::now();
            } else if idle_since.elapsed().as_secs_f64() > o.timeout {
                return Err(format!(
                    "backend stalled: {inflight} request(s) without completion for {:.0} s",
                    o.timeout
                ));
            }
        } else {
            idle_since = Instant::now();
        }
    }

    // A final flush on every queue, then close the connection.
    if st.io_errors == 0 {
        for q in 0..o.queues {
            dev.queues[q].flush(usize::MAX, ReqFlags::empty());
            let t0 = Instant::now();
            loop {
                let n = dev::reap(&mut dev.queues[q], &mut comps)?;
                if n > 0 {
                    let (_, ret) = dev::completion(&comps[0]);
                    if ret != 0 {
                        eprintln!("verify: final flush failed: {}", dev::errno_name(ret));
                        st.io_errors += 1;
                    }
                    break;
                }
                if !dev.wait(Duration::from_secs(1))? && t0.elapsed().as_secs_f64() > o.timeout {
                    return Err("backend stalled on the final flush".into());
                }
            }
            st.flushes += 1;
            st.requests += 1;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    dev.close();

    // The disk file on the host must now equal the model.
    let disk = std::fs::read(&o.disk).map_err(|e| format!("read {}: {e}", o.disk))?;
    let mut bad_sectors = 0u64;
    if disk.len() != model.len() {
        eprintln!(
            "verify: MISMATCH disk file is {} bytes after the run, {} before",
            disk.len(),
            model.len()
        );
        bad_sectors += 1;
    }
    for (i, (a, b)) in disk.chunks(512).zip(model.chunks(512)).enumerate() {
        if a != b {
            bad_sectors += 1;
            if bad_sectors <= MAX_REPORTS {
                let k = a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(0);
                eprintln!(
                    "verify: MISMATCH disk file sector {} (offset {}): byte {} is {:#04x}, model {:#04x}",
                    i,
                    i * 512,
                    k,
                    a.get(k).copied().unwrap_or(0),
                    b.get(k).copied().unwrap_or(0)
                );
            }
        }
    }
    if bad_sectors > 0 {
        eprintln!("verify: {bad_sectors} sector(s) of the disk file differ from the model");
    }
    st.mismatches += bad_sectors;

    println!(
        "verify: seed={} seconds={:.2} reads={} writes={} fua_writes={} write_zeroes={} flushes={} segments={} max_segments_per_request={} min_segment_len={} max_in_flight={} region_remaps={} io_errors={}",
        o.seed,
        elapsed,
        st.reads,
        st.writes,
        st.fua,
        st.zeroes,
        st.flushes,
        st.segments,
        st.max_segs_seen,
        if st.min_seg_seen == usize::MAX { 0 } else { st.min_seg_seen },
        st.max_inflight,
        st.remaps,
        st.io_errors
    );
    println!(
        "verify: {} requests, {} bytes, {} queues, {} mismatches",
        st.requests, st.bytes, o.queues, st.mismatches
    );
    Ok(st.mismatches == 0 && st.io_errors == 0)
}

/// Splits `len` bytes into at most `max_segs` segments whose lengths are
/// multiples of `ba` (and at most `msl` bytes each when `msl > 0`).
fn split(rng: &mut Rng, len: usize, ba: usize, max_segs: usize, msl: i32) -> Vec<usize> {
    let units = len / ba;
    let n = rng.log_uniform(max_segs.min(units).max(1) as u64) as usize;
    let mut cuts: Vec<usize> = (1..n).map(|_| rng.range(1, units as u64 - 1) as usize).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut lens = Vec::with_capacity(cuts.len() + 1);
    let mut prev = 0;
    for c in cuts.into_iter().chain(std::iter::once(units)) {
        lens.push((c - prev) * ba);
        prev = c;
    }
    if msl > 0 && lens.iter().any(|&l| l > msl as usize) {
        let msl = msl as usize / ba * ba;
        let mut out = Vec::new();
        for l in lens {
            let mut l = l;
            while l > msl {
                out.push(msl);
                l -= msl;
            }
            out.push(l);
        }
        if out.len() > max_segs {
            // Even split into the fewest segments the limit allows.
            let k = len.div_ceil(msl);
            let each = len.div_ceil(k).div_ceil(ba) * ba;
            out.clear();
            let mut left = len;
            while left > 0 {
                let l = each.min(left);
                out.push(l);
                left -= l;
            }
        }
        lens = out;
    }
    lens
}

/// Places segments of the given lengths in the slot at `base` of region
/// `mem`: random start, random gaps (sometimes none), sometimes in a
/// shuffled memory order. Returns the iovecs (in request order) and the
/// slot-relative end of the span including the trailing guard.
fn layout(
    rng: &mut Rng,
    mem: *mut u8,
    base: usize,
    lens: &[usize],
    ba: usize,
    slot_size: usize,
) -> (Vec<iovec>, usize) {
    let mut order: Vec<usize> = (0..lens.len()).collect();
    if lens.len() > 1 {
        match rng.below(4) {
            0 => order.reverse(),
            1 => {
                for i in (1..order.len()).rev() {
                    let j = rng.below(i as u64 + 1) as usize;
                    order.swap(i, j);
                }
            }
            _ => {}
        }
    }
    let round = |x: usize| x.div_ceil(ba) * ba;
    let mut at = round(GUARD + rng.below(MAX_SHIFT as u64) as usize);
    let mut pos = vec![0usize; lens.len()];
    let contiguous = rng.chance(20);
    for &i in &order {
        pos[i] = at;
        let gap = if contiguous || rng.chance(25) {
            0
        } else {
            rng.range(1, MAX_GAP as u64) as usize
        };
        at = round(at + lens[i] + gap);
    }
    let span = at + GUARD;
    assert!(span <= slot_size, "slot overflow: {span} > {slot_size}");
    let iov = lens
        .iter()
        .zip(&pos)
        .map(|(&l, &p)| iovec {
            iov_base: unsafe { mem.add(base + p) } as *mut libc::c_void,
            iov_len: l,
        })
        .collect();
    (iov, span)
}

fn scatter(src: &[u8], iov: &[iovec]) {
    let mut at = 0;
    for v in iov {
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr().add(at), v.iov_base as *mut u8, v.iov_len)
        };
        at += v.iov_len;
    }
}

/// Compares a completed read with the model, and the canary around its
/// segments. Returns a description of the first difference.
fn check_read(model: &[u8], slot: &Slot, mem: *mut u8) -> Option<String> {
    let want = &model[slot.off as usize..slot.off as usize + slot.len];
    let mut at = 0;
    for (k, v) in slot.iov.iter().enumerate() {
        let got = unsafe { std::slice::from_raw_parts(v.iov_base as *const u8, v.iov_len) };
        let exp = &want[at..at + v.iov_len];
        if got != exp {
            let i = got.iter().zip(exp).position(|(a, b)| a != b).unwrap();
            let zero = got.iter().all(|&b| b == 0);
            let canary = got.iter().all(|&b| b == slot.canary);
            return Some(format!(
                "read queue {} offset {} len {} ({} segments): segment {} (len {}, addr %{}) byte {} (disk offset {}) is {:#04x}, expected {:#04x}{}",
                slot.queue,
                slot.off,
                slot.len,
                slot.iov.len(),
                k,
                v.iov_len,
                v.iov_base as usize % 4096,
                i,
                slot.off as usize + at + i,
                got[i],
                exp[i],
                if canary {
                    "; segment never written by the backend"
                } else if zero {
                    "; segment is all zero"
                } else {
                    ""
                }
            ));
        }
        at += v.iov_len;
    }
    // Canary: every byte of the span outside the segments.
    let base = unsafe { mem.add(slot.base) };
    let span = unsafe { std::slice::from_raw_parts(base, slot.span) };
    let mut covered: Vec<(usize, usize)> = slot
        .iov
        .iter()
        .map(|v| {
            let s = v.iov_base as usize - base as usize;
            (s, s + v.iov_len)
        })
        .collect();
    covered.sort_unstable();
    let mut from = 0;
    for (s, e) in covered.into_iter().chain(std::iter::once((slot.span, slot.span))) {
        if let Some(i) = span[from..s].iter().position(|&b| b != slot.canary) {
            return Some(format!(
                "read queue {} offset {} len {} ({} segments): backend wrote outside the segments, at slot byte {} (next segment starts at {})",
                slot.queue,
                slot.off,
                slot.len,
                slot.iov.len(),
                from + i,
                s
            ));
        }
        from = from.max(e);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_sums_and_limits() {
        let mut rng = Rng::new(7);
        for _ in 0..10_000 {
            let len = rng.range(1, 2048) as usize * 512;
            let max_segs = rng.range(1, 200) as usize;
            let msl = if rng.chance(50) { 0 } else { rng.range(1, 64) as i32 * 512 };
            if msl > 0 && len.div_ceil(msl as usize) > max_segs {
                continue;
            }
            let lens = split(&mut rng, len, 1, max_segs, msl);
            assert_eq!(lens.iter().sum::<usize>(), len);
            assert!(lens.len() <= max_segs, "{} > {max_segs}", lens.len());
            assert!(lens.iter().all(|&l| l > 0));
            if msl > 0 {
                assert!(lens.iter().all(|&l| l <= msl as usize));
            }
        }
    }

    fn slot_with(mem: &mut [u8], rng: &mut Rng, lens: &[usize]) -> Slot {
        let (iov, span) = layout(rng, mem.as_mut_ptr(), 0, lens, 1, mem.len());
        let canary = 0x5a;
        mem[..span].fill(canary);
        Slot {
            queue: 0,
            region: 0,
            base: 0,
            busy: true,
            op: Op::Read,
            off: 0,
            len: lens.iter().sum(),
            iov,
            span,
            canary,
        }
    }

    #[test]
    fn layout_disjoint_and_check_read_catches_stray_writes() {
        let mut rng = Rng::new(9);
        let mut model = vec![0u8; 8192];
        rng.fill(&mut model);
        let mut mem = vec![0u8; 64 * 1024];
        for _ in 0..200 {
            let lens = split(&mut rng, 4096, 1, 40, 0);
            let slot = slot_with(&mut mem, &mut rng, &lens);
            let mut ranges: Vec<(usize, usize)> = slot
                .iov
                .iter()
                .map(|v| {
                    let s = v.iov_base as usize - mem.as_ptr() as usize;
                    (s, s + v.iov_len)
                })
                .collect();
            ranges.sort_unstable();
            assert!(ranges.windows(2).all(|w| w[0].1 <= w[1].0), "segments overlap");
            // A backend that writes nothing is caught, one that writes the
            // segments passes.
            assert!(check_read(&model, &slot, mem.as_mut_ptr()).is_some());
            scatter(&model[..4096], &slot.iov);
            assert_eq!(check_read(&model, &slot, mem.as_mut_ptr()), None);
            // One stray byte just past a segment (or in the guard) is caught.
            let k = rng.below(ranges.len() as u64) as usize;
            let stray = ranges[k].1;
            if ranges.iter().all(|&(s, _)| s != stray) {
                mem[stray] ^= 0xff;
                let msg = check_read(&model, &slot, mem.as_mut_ptr()).expect("stray write missed");
                assert!(msg.contains("outside the segments"), "{msg}");
            }
        }
    }
}
