//! `wire`: the GPA-range wire format.
//!
//! 1. Arbitrary words and counts go to `parse_gpa_ranges`; the outcome must
//!    equal an independent model of the format (header `len | offset << 32`,
//!    then `ceil((offset + len) / 4096)` GPNs). A successful parse is
//!    written back with `write_gpa_ranges` and must give the used prefix
//!    word for word.
//! 2. Windows built over arbitrary (hostile) GPN lists are written, parsed
//!    back and compared.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use pagedrange::wire::{gpa_ranges_len, parse_each, parse_gpa_ranges, write_gpa_ranges, WireError};
use pagedrange::PagedRange;
use pagedrange_fuzz::*;

fn header(len: u32, offset: u32) -> u64 {
    (u64::from(offset) << 32) | u64::from(len)
}

/// A parsed range in the model: offset, length and its GPN words.
#[derive(Debug, PartialEq, Eq)]
struct Parsed {
    offset: usize,
    len: usize,
    gpns: Vec<u64>,
}

/// Index (within the window's pages) of the first page holding an
/// unaddressable byte: a byte whose GPA is above 2^64 - 2.
fn first_bad_page(offset: usize, len: usize, gpns: &[u64]) -> Option<usize> {
    (0..gpns.len()).find(|&k| {
        // Last byte of the window inside page k.
        let last_flat = ((k + 1) * P).min(offset + len) - 1;
        let gpa = gpns[k] as u128 * P as u128 + (last_flat % P) as u128;
        gpa > LAST_USABLE
    })
}

fn model_parse(words: &[u64], count: usize) -> Result<(Vec<Parsed>, usize), WireError> {
    let mut out = Vec::new();
    let mut w = 0usize;
    for range in 0..count {
        let Some(&h) = words.get(w) else {
            return Err(WireError::Truncated { range, word: w, needed: 1 });
        };
        let (len, off32) = ((h & 0xffff_ffff) as usize, (h >> 32) as u32);
        if off32 as usize >= P || (len == 0 && off32 != 0) {
            return Err(WireError::BadOffset { range, word: w, offset: off32 });
        }
        let offset = off32 as usize;
        let pages = if len == 0 { 0 } else { (offset + len).div_ceil(P) };
        let have = words.len() - (w + 1);
        if pages > have {
            return Err(WireError::Truncated { range, word: words.len(), needed: pages - have });
        }
        let gpns = &words[w + 1..w + 1 + pages];
        if let Some(k) = first_bad_page(offset, len, gpns) {
            return Err(WireError::InvalidGpn { range, word: w + 1 + k, gpn: gpns[k] });
        }
        out.push(Parsed { offset, len, gpns: gpns.to_vec() });
        w += 1 + pages;
    }
    Ok((out, w))
}

#[derive(Arbitrary, Debug)]
enum Word {
    /// A well-formed header: `len % (pages * 4096 + 1)`, offset below 4096.
    Header { len: u16, pages: u8, offset: u16 },
    /// A header with any halves.
    RawHeader { len: u32, offset: u32 },
    Gpn(GpnPick),
    Raw(u64),
}

#[derive(Arbitrary, Debug)]
enum Mode {
    Words { words: Vec<Word>, extra_count: i8 },
    Windows { lists: Vec<Vec<GpnPick>>, windows: Vec<(u8, Num, Num)>, slack: u8 },
}

fn check_words(words: &[u64], count: usize) {
    let expected = model_parse(words, count);
    let got = parse_gpa_ranges(words, count);
    let (ranges, used) = match (&got, &expected) {
        (Err(g), Err(e)) => {
            assert_eq!(g, e, "parse error of {words:x?} (count {count})");
            // The allocation-free variant fails the same way.
            assert_eq!(parse_each(words, count, |_| ()), Err(*e));
            return;
        }
        (Ok((r, used)), Ok((m, mused))) => {
            assert_eq!(used, mused, "words used");
            assert_eq!(r.len(), m.len());
            for (r, m) in r.iter().zip(m) {
                assert_eq!(r.len(), m.len);
                assert_eq!(r.gpns(), &m.gpns[..]);
                if m.len > 0 {
                    assert_eq!(r.offset(), m.offset);
                }
                assert!(r.ranges().all(|x| x.is_ok()), "a parsed window has a bad page");
            }
            (r, *used)
        }
        _ => panic!("parse of {words:x?} (count {count}): got {got:?}, model {expected:?}"),
    };
    let mut n = 0;
    assert_eq!(parse_each(words, count, |_| n += 1), Ok(used));
    assert_eq!(n, count);

    // Round trip: the used prefix, word for word.
    assert_eq!(gpa_ranges_len(ranges.iter().copied()), Ok(used));
    let mut out = vec![0xdead_beef_u64; used];
    assert_eq!(write_gpa_ranges(ranges.iter().copied(), &mut out), Ok(used));
    let want = words[..used].to_vec();
    assert_eq!(out, want, "round trip of {words:x?}");
    if used > 0 {
        let mut short = vec![7u64; used - 1];
        assert_eq!(
            write_gpa_ranges(ranges.iter().copied(), &mut short),
            Err(WireError::BufferTooSmall { needed: used })
        );
        assert!(short.iter().all(|&x| x == 7), "a refused write wrote");
    }
}

fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Some(mode) = take::<Mode>(&mut u) else { return };
    match mode {
        Mode::Words { words, extra_count } => {
            let mut out: Vec<u64> = Vec::new();
            let mut headers = 0usize;
            for w in words.into_iter().take(96) {
                let x = match w {
                    Word::Header { len, pages, offset } => {
                        headers += 1;
                        let cap = (pages as u32 % 4) * 4096 + 1;
                        header(len as u32 % cap, offset as u32 % 4096)
                    }
                    Word::RawHeader { len, offset } => {
                        headers += 1;
                        header(len, offset)
                    }
                    Word::Gpn(g) => g.resolve(out.last().copied(), 0, 8),
                    Word::Raw(x) => x,
                };
                out.push(x);
            }
            let count = (headers as isize + extra_count as isize % 4).max(0) as usize;
            check_words(&out, count);
            check_words(&out, headers);
        }
        Mode::Windows { lists, windows, slack } => {
            let lists: Vec<Vec<u64>> = lists
                .into_iter()
                .take(4)
                .map(|l| {
                    let l: Vec<_> = l.into_iter().take(6).collect();
                    resolve_gpns(&l, 0, 8)
                })
                .collect();
            if lists.is_empty() {
                return;
            }
            let mut wins: Vec<PagedRange<'_>> = Vec::new();
            for (li, o, n) in windows.into_iter().take(8) {
                let l = &lists[li as usize % lists.len()];
                let avail = l.len() * P;
                let o = o.resolve(avail).min(avail);
                let n = n.resolve(avail - o).min(avail - o);
                wins.push(PagedRange::new(o, n, l).unwrap());
            }
            let needed: usize = wins.iter().map(|w| 1 + w.gpns().len()).sum();
            assert_eq!(gpa_ranges_len(wins.iter().copied()), Ok(needed));
            let mut words = vec![0u64; needed + slack as usize % 3];
            assert_eq!(write_gpa_ranges(wins.iter().copied(), &mut words), Ok(needed));
            // The headers say what the windows are.
            let mut w = 0;
            for win in &wins {
                let off = if win.is_empty() { 0 } else { win.offset() };
                assert_eq!(words[w], header(win.len() as u32, off as u32));
                assert_eq!(&words[w + 1..w + 1 + win.gpns().len()], win.gpns());
                w += 1 + win.gpns().len();
            }
            // Back again: equal windows, unless a page is unaddressable.
            let parsed = parse_gpa_ranges(&words, wins.len());
            let mut w = 0;
            let mut bad = None;
            for (i, win) in wins.iter().enumerate() {
                let off = if win.is_empty() { 0 } else { win.offset() };
                if let Some(k) = first_bad_page(off, win.len(), win.gpns()) {
                    bad = Some(WireError::InvalidGpn { range: i, word: w + 1 + k, gpn: win.gpns()[k] });
                    break;
                }
                w += 1 + win.gpns().len();
            }
            match (parsed, bad) {
                (Err(e), Some(b)) => assert_eq!(e, b),
                (Ok((back, used)), None) => {
                    assert_eq!(used, needed);
                    assert_eq!(back.len(), wins.len());
                    for (a, b) in back.iter().zip(&wins) {
                        assert_eq!(a.len(), b.len());
                        assert_eq!(a.gpns(), b.gpns());
                        if !b.is_empty() {
                            assert_eq!(a.offset(), b.offset());
                        }
                        assert_eq!(a.ranges().collect::<Vec<_>>(), b.ranges().collect::<Vec<_>>());
                    }
                }
                (p, b) => panic!("windows {wins:?}: parse gave {p:?}, expected error {b:?}"),
            }
            check_words(&words, wins.len());
        }
    }
}

fuzz_target!(|data: &[u8]| run(data));
