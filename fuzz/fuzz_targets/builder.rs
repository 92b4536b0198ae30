//! `builder`: RangesBuilder against a model of the segments.
//!
//! Segments `(gpa, len)` are pushed with arbitrary limits. The model keeps
//! the accepted segments and decides, from the documented rules only, which
//! push must fail (and with which errors possible), how many windows and
//! pages the result has, and its GPN list. The built buffer must describe
//! exactly the accepted segments' bytes in order (compared as merged GPA
//! runs), and reading/writing through it must equal doing the same segment
//! by segment on a BufferMemory.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use pagedrange::{BufferMemory, BuilderError, BuilderLimits, GuestMemory, RangesBuilder};
use pagedrange_fuzz::*;

const MEM: usize = 16 * P;

#[derive(Arbitrary, Debug)]
enum Gpa {
    /// Inside the 16-page memory at GPA 0: `k % MEM`.
    Mem(u16),
    /// Right after the previous segment (exact contiguity).
    After,
    /// The next page boundary after the previous segment, plus `k` pages.
    NextPage(u8),
    /// `u64::MAX - k`.
    Top(u16),
    Raw(u64),
}

#[derive(Arbitrary, Debug)]
enum Len {
    /// Up to 3 pages.
    Small(u16),
    /// To the end of the page (or whole pages): `4096 - gpa % 4096 + k * 4096`.
    ToPage(u8),
    /// Ends exactly at 2^64 - 1 or 2^64.
    ToTop(bool),
    Huge(u64),
    Zero,
}

#[derive(Arbitrary, Debug)]
enum LimitPick {
    Virtio,
    Small { windows: u8, pages: u8, bytes: u32 },
}

/// A window of the model: its segments and the first one's page offset.
#[derive(Clone, Debug, Default)]
struct MWin {
    segs: Vec<(u64, u64)>,
    in_page: u64,
    len: u64,
}

impl MWin {
    fn end(&self) -> u64 {
        let &(g, l) = self.segs.last().unwrap();
        g + l
    }
    /// Pages the window's flat space spans.
    fn pages(&self) -> u64 {
        ((self.in_page as u128 + self.len as u128).div_ceil(PU as u128)) as u64
    }
    /// GPN of each flat page.
    fn gpns(&self) -> Vec<u64> {
        let mut out = Vec::new();
        let mut flat = self.in_page;
        for &(g, l) in &self.segs {
            let mut done = 0;
            while done < l {
                let page = flat / PU;
                if out.len() as u64 <= page {
                    out.push((g + done) >> 12);
                }
                let n = (PU - flat % PU).min(l - done);
                done += n;
                flat += n;
            }
        }
        out
    }
}

fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Some(lp) = take::<LimitPick>(&mut u) else { return };
    let limits = match lp {
        LimitPick::Virtio => BuilderLimits::VIRTIO,
        LimitPick::Small { windows, pages, bytes } => BuilderLimits {
            max_windows: windows as usize % 9,
            max_pages: pages as usize % 40,
            max_bytes: bytes as u64 % (32 * PU),
        },
    };
    let mut b = RangesBuilder::with_limits(limits);
    assert_eq!(b.limits(), limits);
    let mut wins: Vec<MWin> = Vec::new();
    let mut bytes = 0u64;
    let mut prev_end = 0u64;
    let mut index = 0usize;
    while let Some((g, l)) = take::<(Gpa, Len)>(&mut u) {
        if index >= 40 {
            break;
        }
        let gpa = match g {
            Gpa::Mem(k) => k as u64 % MEM as u64,
            Gpa::After => prev_end,
            Gpa::NextPage(k) => (prev_end.div_ceil(PU)).wrapping_add(k as u64 % 4).wrapping_mul(PU),
            Gpa::Top(k) => u64::MAX - k as u64,
            Gpa::Raw(x) => x,
        };
        let len = match l {
            Len::Small(k) => k as u64 % (3 * PU + 1),
            Len::ToPage(k) => PU - gpa % PU + (k as u64 % 3) * PU,
            Len::ToTop(exact) => (u64::MAX - gpa).wrapping_add(exact as u64),
            Len::Huge(x) => x,
            Len::Zero => 0,
        };
        // Accepted segments of many pages only slow the model down (the
        // library treats them like small ones): keep lengths that are
        // accepted small.
        if len > 16 * PU && len <= limits.max_bytes {
            continue;
        }

        // Which errors the documented rules allow for this push.
        let end = gpa as u128 + len as u128;
        let mut allowed: Vec<fn(&BuilderError) -> bool> = Vec::new();
        let new_bytes = bytes as u128 + len as u128;
        let joined = wins.last().is_some_and(|w| {
            let e = w.end();
            e == gpa || (e % PU == 0 && gpa % PU == 0)
        });
        let mut candidate = wins.clone();
        if len > 0 {
            if end >= 1u128 << 64 {
                allowed.push(|e| matches!(e, BuilderError::Overflow { .. }));
            }
            if new_bytes > limits.max_bytes as u128 {
                allowed.push(|e| matches!(e, BuilderError::TooManyBytes { .. }));
            }
            if end < 1u128 << 64 {
                if joined {
                    let w = candidate.last_mut().unwrap();
                    w.segs.push((gpa, len));
                    w.len = w.len.saturating_add(len);
                } else {
                    candidate.push(MWin { segs: vec![(gpa, len)], in_page: gpa % PU, len });
                }
                let pages: u128 = candidate.iter().map(|w| w.pages() as u128).sum();
                if pages > limits.max_pages as u128 {
                    allowed.push(|e| matches!(e, BuilderError::TooManyPages { .. }));
                }
                if !joined && wins.len() >= limits.max_windows {
                    allowed.push(|e| matches!(e, BuilderError::TooManyWindows { .. }));
                }
            }
        }
        let got = b.push(gpa, len);
        match got {
            Ok(()) => {
                assert!(allowed.is_empty(), "push({gpa:#x}, {len:#x}) accepted, model refuses");
                if len > 0 {
                    wins = candidate;
                    bytes += len;
                    prev_end = gpa + len;
                }
            }
            Err(e) => {
                assert_eq!(e.index(), index, "error index");
                assert!(
                    allowed.iter().any(|ok| ok(&e)),
                    "push({gpa:#x}, {len:#x}) refused with {e:?}, model allows it"
                );
            }
        }
        index += 1;

        // The builder's state equals the model's.
        assert_eq!(b.len(), bytes);
        assert_eq!(b.is_empty(), bytes == 0);
        assert_eq!(b.window_count(), wins.len());
        let gpns: Vec<u64> = wins.iter().flat_map(|w| w.gpns()).collect();
        assert_eq!(b.gpns(), &gpns[..]);
        for (i, w) in wins.iter().enumerate() {
            let r = b.window(i).unwrap();
            assert_eq!(r.len() as u64, w.len);
            assert_eq!(r.offset() as u64, w.in_page);
        }
        assert!(b.window(wins.len()).is_none());
    }

    // The bytes described, as merged GPA runs, are the segments' bytes.
    let merge = |it: &mut dyn Iterator<Item = (u64, u64)>| {
        let mut out: Vec<(u64, u64)> = Vec::new();
        for (s, e) in it {
            match out.last_mut() {
                Some(l) if l.1 == s => l.1 = e,
                _ => out.push((s, e)),
            }
        }
        out
    };
    let rs = b.ranges();
    assert_eq!(rs.len() as u64, bytes);
    let runs: Vec<_> = rs.ranges().map(|r| r.expect("a built window has a bad page")).collect();
    let got = merge(&mut runs.iter().map(|r| (r.start, r.end)));
    let want = merge(&mut wins.iter().flat_map(|w| w.segs.iter()).map(|&(g, l)| (g, g + l)));
    assert_eq!(got, want, "runs of {wins:?}");

    // Reading and writing through the result equals going segment by
    // segment, when every segment lies in the memory.
    let segs: Vec<(u64, u64)> = wins.iter().flat_map(|w| w.segs.clone()).collect();
    if segs.iter().all(|&(g, l)| g as u128 + l as u128 <= MEM as u128) {
        let mem = BufferMemory::new(MEM);
        let init: Vec<u8> = (0..MEM).map(|i| (i * 7 + i / 4096) as u8).collect();
        mem.write(0, &init).unwrap();
        let mut all = vec![0u8; bytes as usize];
        rs.read(&mem, &mut all).unwrap();
        let mut want = Vec::new();
        for &(g, l) in &segs {
            want.extend_from_slice(&init[g as usize..(g + l) as usize]);
        }
        assert!(all == want, "read through the builder differs");
        // Write a pattern through the builder; applying the segments one by
        // one (later ones win) gives the same memory.
        let pat: Vec<u8> = (0..bytes as usize).map(|i| ((i as u32).wrapping_mul(2_654_435_761) >> 9) as u8).collect();
        rs.write(&mem, &pat).unwrap();
        let mut model = init.clone();
        let mut pos = 0usize;
        for &(g, l) in &segs {
            model[g as usize..(g + l) as usize].copy_from_slice(&pat[pos..pos + l as usize]);
            pos += l as usize;
        }
        assert!(mem.to_vec() == model, "write through the builder differs");
    }
    drop(rs);
    b.clear();
    assert_eq!((b.len(), b.window_count(), b.gpns().len()), (0, 0, 0));
}

fuzz_target!(|data: &[u8]| run(data));
