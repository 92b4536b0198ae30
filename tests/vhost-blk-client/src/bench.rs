//! `bench`: fixed-size reads or writes at a fixed queue depth per queue,
//! one page-aligned buffer per request, for a fixed time. No verification
//! and no flushes.

use crate::dev::{self, Device};
use crate::rng::Rng;
use blkio::{Completion, ReqFlags};
use std::mem::MaybeUninit;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    RandRead,
    RandWrite,
    SeqRead,
    SeqWrite,
}

impl Pattern {
    pub fn parse(s: &str) -> Option<Pattern> {
        Some(match s {
            "randread" => Pattern::RandRead,
            "randwrite" => Pattern::RandWrite,
            "seqread" => Pattern::SeqRead,
            "seqwrite" => Pattern::SeqWrite,
            _ => return None,
        })
    }
    fn name(self) -> &'static str {
        match self {
            Pattern::RandRead => "randread",
            Pattern::RandWrite => "randwrite",
            Pattern::SeqRead => "seqread",
            Pattern::SeqWrite => "seqwrite",
        }
    }
    fn writes(self) -> bool {
        matches!(self, Pattern::RandWrite | Pattern::SeqWrite)
    }
    fn random(self) -> bool {
        matches!(self, Pattern::RandRead | Pattern::RandWrite)
    }
}

pub struct Opts {
    pub socket: String,
    pub queues: usize,
    pub pattern: Pattern,
    pub bs: usize,
    pub iodepth: usize,
    pub seconds: f64,
    pub warmup: f64,
    pub seed: u64,
    /// Busy-poll the used rings instead of sleeping on the completion fds.
    pub spin: bool,
    pub timeout: f64,
}

pub fn run(o: &Opts) -> Result<bool, String> {
    let nslots = o.queues * o.iodepth;
    let bs_pages = o.bs.div_ceil(4096) * 4096;
    let mut dev = Device::open(&o.socket, o.queues, &[nslots * bs_pages])?;
    let info = dev.info.clone();
    let ra = info.request_alignment.max(1) as usize;
    if !o.bs.is_multiple_of(ra) {
        return Err(format!("--bs {} is not a multiple of request-alignment {ra}", o.bs));
    }
    if info.max_transfer > 0 && o.bs > info.max_transfer as usize {
        return Err(format!("--bs {} exceeds max-transfer {}", o.bs, info.max_transfer));
    }
    if info.max_segment_len > 0 && o.bs > info.max_segment_len as usize {
        return Err(format!("--bs {} exceeds max-segment-len {}", o.bs, info.max_segment_len));
    }
    let blocks = info.capacity / o.bs as u64;
    if blocks == 0 {
        return Err("disk smaller than --bs".into());
    }
    let mut rng = Rng::new(o.seed);
    let mem = dev.mem(0);
    if o.pattern.writes() {
        let all = unsafe { std::slice::from_raw_parts_mut(mem, nslots * bs_pages) };
        rng.fill(all);
    }
    if o.spin {
        for q in &mut dev.queues {
            q.set_completion_fd_enabled(false);
        }
    }

    // Sequential patterns: each queue walks its own share of the disk.
    let mut next_block: Vec<u64> = (0..o.queues as u64).map(|q| q * blocks / o.queues as u64).collect();
    let mut submit_at: Vec<Instant> = vec![Instant::now(); nslots];
    let mut comps: Vec<MaybeUninit<Completion>> =
        (0..o.iodepth).map(|_| MaybeUninit::uninit()).collect();

    let start = Instant::now();
    let t_measure = start + Duration::from_secs_f64(o.warmup);
    let t_end = t_measure + Duration::from_secs_f64(o.seconds);
    let mut measuring = false;
    let mut ios = 0u64;
    let mut lat_sum = Duration::ZERO;
    let mut lat_max = Duration::ZERO;
    let mut inflight = 0usize;
    let mut stopping = false;
    let mut idle_since = Instant::now();
    let mut errors = 0u64;

    let submit = |dev: &mut Device, slot: usize, rng: &mut Rng, next_block: &mut Vec<u64>, submit_at: &mut Vec<Instant>| {
        let q = slot / o.iodepth;
        let blk = if o.pattern.random() {
            rng.below(blocks)
        } else {
            let b = next_block[q];
            next_block[q] = (b + 1) % blocks;
            b
        };
        let off = blk * o.bs as u64;
        let buf = unsafe { mem.add(slot * bs_pages) };
        submit_at[slot] = Instant::now();
        if o.pattern.writes() {
            dev.queues[q].write(off, buf, o.bs, slot, ReqFlags::empty());
        } else {
            dev.queues[q].read(off, buf, o.bs, slot, ReqFlags::empty());
        }
    };

    for slot in 0..nslots {
        submit(&mut dev, slot, &mut rng, &mut next_block, &mut submit_at);
        inflight += 1;
    }
    let mut t_first = start;
    loop {
        let mut got = 0;
        for q in 0..o.queues {
            let n = dev::reap(&mut dev.queues[q], &mut comps)?;
            got += n;
            if n == 0 {
                continue;
            }
            let now = Instant::now();
            if !measuring && now >= t_measure {
                measuring = true;
                t_first = now;
            }
            if now >= t_end {
                stopping = true;
            }
            for c in &comps[..n] {
                let (slot, ret) = dev::completion(c);
                inflight -= 1;
                if ret != 0 {
                    errors += 1;
                    if errors <= 10 {
                        eprintln!("bench: IO error {} on queue {q}", dev::errno_name(ret));
                    }
                    stopping = true;
                }
                if measuring && !stopping {
                    let lat = now - submit_at[slot];
                    lat_sum += lat;
                    lat_max = lat_max.max(lat);
                    ios += 1;
                }
                if !stopping {
                    submit(&mut dev, slot, &mut rng, &mut next_block, &mut submit_at);
                    inflight += 1;
                }
            }
        }
        if inflight == 0 {
            break;
        }
        if got == 0 {
            if o.spin {
                if idle_since.elapsed().as_secs_f64() > o.timeout {
                    return Err(format!("backend stalled: {inflight} request(s) in flight"));
                }
                std::hint::spin_loop();
                continue;
            }
            if dev.wait(Duration::from_secs(1))? {
                idle_since = Instant::now();
            } else if idle_since.elapsed().as_secs_f64() > o.timeout {
                return Err(format!("backend stalled: {inflight} request(s) in flight"));
            }
        } else {
            idle_since = Instant::now();
        }
        if Instant::now() >= t_end {
            stopping = true;
        }
    }
    let measured = t_end.min(Instant::now()).saturating_duration_since(t_first).as_secs_f64();
    dev.close();

    let iops = if measured > 0.0 { ios as f64 / measured } else { 0.0 };
    let mibps = iops * o.bs as f64 / (1024.0 * 1024.0);
    let lat_avg_us = if ios > 0 { lat_sum.as_secs_f64() * 1e6 / ios as f64 } else { 0.0 };
    println!(
        "bench: pattern={} bs={} iodepth={} queues={} wait={} seconds={:.2} ios={} iops={:.0} mibps={:.1} lat_avg_us={:.1} lat_max_us={:.0} errors={}",
        o.pattern.name(),
        o.bs,
        o.iodepth,
        o.queues,
        if o.spin { "spin" } else { "eventfd" },
        measured,
        ios,
        iops,
        mibps,
        lat_avg_us,
        lat_max.as_secs_f64() * 1e6,
        errors
    );
    Ok(errors == 0)
}
