//! Hostile input: GPNs up to `u64::MAX`, offsets and lengths near
//! `usize::MAX`, zero lengths, empty lists and total lengths that overflow.
//! Everything must be an error, never a panic or a wrapped address.

mod common;

use common::*;
use pagedrange::memory::FAULT_UNMAPPED;
use pagedrange::{
    gpn_range, gpn_to_gpa, AddressRange, BufferMemory, InvalidGpn, MemoryRead, MemoryWrite,
    OutOfRange, PagedRange, PagedRanges, TransferError, MAX_GPN,
};
use proptest::prelude::*;

const TOP: u64 = 1 << 52;

fn items(r: &PagedRange<'_>) -> Vec<Result<AddressRange, InvalidGpn>> {
    r.ranges().collect()
}

#[test]
fn gpn_conversions_refuse_unaddressable_pages() {
    assert_eq!(MAX_GPN, TOP - 1);
    assert_eq!(gpn_to_gpa(MAX_GPN), Ok(u64::MAX - (PU - 1)));
    for gpn in [TOP, TOP + 1, u64::MAX / 2, u64::MAX - 1, u64::MAX] {
        assert_eq!(gpn_to_gpa(gpn), Err(InvalidGpn { gpn }));
        assert_eq!(gpn_range(gpn, 0, 1), Err(InvalidGpn { gpn }));
    }
    // The last byte of the top page has no exclusive end.
    assert_eq!(
        gpn_range(MAX_GPN, P - 1, 1),
        Err(InvalidGpn { gpn: MAX_GPN })
    );
    assert_eq!(
        gpn_range(MAX_GPN, P - 2, 1),
        Ok(AddressRange::from(u64::MAX - 1..u64::MAX))
    );
    assert_eq!(
        gpn_range(MAX_GPN, usize::MAX, 0),
        Err(InvalidGpn { gpn: MAX_GPN })
    );
    assert_eq!(
        gpn_range(0, 0, usize::MAX),
        Ok(AddressRange::from(0..u64::MAX))
    );
    assert_eq!(gpn_range(0, 1, usize::MAX), Err(InvalidGpn { gpn: 0 }));
}

#[test]
fn runs_over_extreme_gpns() {
    // The top page is usable up to, not including, its last byte.
    let gpns = [MAX_GPN];
    let r = PagedRange::new(0, P - 1, &gpns).unwrap();
    assert_eq!(
        items(&r),
        vec![Ok(AddressRange::from(u64::MAX - (PU - 1)..u64::MAX))]
    );
    let r = PagedRange::new(P - 1, 1, &gpns).unwrap();
    assert_eq!(items(&r), vec![Err(InvalidGpn { gpn: MAX_GPN })]);

    // 2^52 is the first page with no address at all.
    let gpns = [3, TOP];
    let r = PagedRange::new(10, P, &gpns).unwrap();
    assert_eq!(
        items(&r),
        vec![
            Ok(AddressRange::from(3 * PU + 10..4 * PU)),
            Err(InvalidGpn { gpn: TOP })
        ]
    );

    // u64::MAX followed by 0 is not a run (no wrapping).
    let gpns = [u64::MAX, 0, 1];
    let r = PagedRange::new(0, 3 * P, &gpns).unwrap();
    assert_eq!(items(&r), vec![Err(InvalidGpn { gpn: u64::MAX })]);
    // Leaving the bad page out of the window makes it harmless.
    let r = PagedRange::new(P, 2 * P, &gpns).unwrap();
    assert_eq!(items(&r), vec![Ok(AddressRange::from(0..2 * PU))]);

    // A run climbing through the top page is blamed on the top page, and a
    // run starting above it on its first page.
    let gpns = [MAX_GPN - 1, MAX_GPN, TOP, TOP + 1];
    let r = PagedRange::new(0, 4 * P, &gpns).unwrap();
    assert_eq!(items(&r), vec![Err(InvalidGpn { gpn: MAX_GPN })]);
    let r = PagedRange::new(0, 2 * P - 1, &gpns).unwrap();
    assert_eq!(
        items(&r),
        vec![Ok(AddressRange::from((MAX_GPN - 1) * PU..u64::MAX))]
    );
    let r = PagedRange::new(2 * P + 5, P, &gpns).unwrap();
    assert_eq!(items(&r), vec![Err(InvalidGpn { gpn: TOP })]);

    // The iterator yields the error once, then ends; popping leaves the
    // window where it was.
    let gpns = [1, 2, u64::MAX, 4];
    let r = PagedRange::new(0, 4 * P, &gpns).unwrap();
    let mut it = r.ranges();
    assert_eq!(it.next(), Some(Ok(AddressRange::from(PU..3 * PU))));
    assert_eq!(it.remaining(), 2 * P);
    assert_eq!(it.next(), Some(Err(InvalidGpn { gpn: u64::MAX })));
    assert_eq!(it.next(), None);
    assert_eq!(it.remaining(), 0);
    let mut p = r;
    assert!(p.pop_front_range().unwrap().is_ok());
    let before = p;
    assert_eq!(p.pop_front_range(), Some(Err(InvalidGpn { gpn: u64::MAX })));
    assert_eq!(p, before);
    // gpns() and Debug show hostile values without trouble.
    assert_eq!(r.gpns(), &gpns);
    assert!(format!("{r:?}").contains(&u64::MAX.to_string()));
}

#[test]
fn transfers_stop_at_invalid_gpns() {
    // Runs: GPN 1..3 (from offset 100), then GPN 5, then the bad page.
    let gpns = [1, 2, 5, u64::MAX, 6];
    let r = PagedRange::new(100, 5 * P - 200, &gpns).unwrap();
    let done = 3 * P - 100;
    let bad = TransferError::InvalidGpn {
        done,
        gpn: u64::MAX,
    };
    let mem = TestMemory::with_pattern(8, 9);
    let image = mem.bytes();

    let mut dst = vec![0; r.len()];
    assert_eq!(r.read(&mem, &mut dst), Err(bad));
    assert_eq!(bad.done(), done);
    assert_eq!(dst[..2 * P - 100], image[P + 100..3 * P]);
    assert_eq!(dst[2 * P - 100..done], image[5 * P..6 * P]);
    assert!(
        dst[done..].iter().all(|&b| b == 0),
        "nothing after the bad page"
    );
    let calls = mem.take_calls();
    assert_eq!(
        calls,
        vec![
            Call {
                kind: Kind::Read,
                gpa: PU + 100,
                len: 2 * P - 100
            },
            Call {
                kind: Kind::Read,
                gpa: 5 * PU,
                len: P
            },
        ]
    );

    assert_eq!(r.write(&mem, &vec![0xab; r.len()]), Err(bad));
    let after = mem.bytes();
    assert!(after[P + 100..3 * P].iter().all(|&b| b == 0xab));
    assert!(after[5 * P..6 * P].iter().all(|&b| b == 0xab));
    assert_eq!(
        after[6 * P..],
        image[6 * P..],
        "GPN 6 is after the bad page"
    );
    assert_eq!(r.fill(&mem, 1, r.len()), Err(bad));
    assert_eq!(mem.take_calls().len(), 4);

    // A transfer that stops before the bad page succeeds.
    r.fill(&mem, 2, done).unwrap();
    // A window starting on the bad page fails at once.
    let s = r.subrange(done, 1);
    assert_eq!(
        s.fill(&mem, 3, 1),
        Err(TransferError::InvalidGpn {
            done: 0,
            gpn: u64::MAX
        })
    );
    // The top page: a run ending on its last byte is refused before any call.
    let top = [MAX_GPN];
    let t = PagedRange::new(0, P, &top).unwrap();
    mem.take_calls();
    assert_eq!(
        t.fill(&mem, 0, P),
        Err(TransferError::InvalidGpn {
            done: 0,
            gpn: MAX_GPN
        })
    );
    assert_eq!(mem.take_calls(), vec![]);
    // ... but its other bytes reach the backend, which refuses them here.
    assert_eq!(
        t.fill(&mem, 0, P - 1),
        Err(TransferError::Memory {
            done: 0,
            gpa: u64::MAX - (PU - 1),
            code: FAULT_UNMAPPED
        })
    );
}

#[test]
fn top_page_is_usable_except_its_last_byte() {
    let mem = BufferMemory::with_base(u64::MAX - (PU - 1), P);
    assert_eq!(mem.size(), P - 1);
    let gpns = [MAX_GPN, 0];
    let r = PagedRange::new(0, P - 1, &gpns).unwrap();
    let data = pattern(P - 1, 11);
    r.write(&mem, &data).unwrap();
    let mut back = vec![0; P - 1];
    r.read(&mem, &mut back).unwrap();
    assert_eq!(back, data);
    let mut rd = r.reader(&mem);
    rd.skip(P - 9).unwrap();
    let last: u64 = rd.read_plain().unwrap();
    assert_eq!(last.to_ne_bytes(), data[P - 9..]);
    assert!(rd.is_empty());
    // One byte more and the window covers the unaddressable byte.
    let r = PagedRange::new(0, P + 1, &gpns).unwrap();
    let mut w = r.writer(&mem);
    assert_eq!(
        w.fill(0, P + 1),
        Err(TransferError::InvalidGpn {
            done: 0,
            gpn: MAX_GPN
        })
    );
    assert_eq!(w.len(), P + 1);
}

#[test]
fn sizes_near_usize_max_are_refused() {
    let gpns = [1, 2, 3];
    let avail = 3 * P;
    for (offset, len) in [
        (usize::MAX, 0),
        (usize::MAX, 1),
        (0, usize::MAX),
        (1, usize::MAX),
        (usize::MAX, usize::MAX),
        (usize::MAX - avail, avail),
        (avail, 1),
        (avail + 1, 0),
    ] {
        assert_eq!(
            PagedRange::try_new(offset, len, &gpns),
            Err(OutOfRange {
                offset,
                len,
                available: avail
            })
        );
        assert_eq!(PagedRange::new(offset, len, &gpns), None);
    }
    let r = PagedRange::new(0, avail, &gpns).unwrap();
    for (offset, len) in [
        (usize::MAX, usize::MAX),
        (usize::MAX, 0),
        (1, usize::MAX),
        (avail, 1),
    ] {
        assert_eq!(
            r.try_subrange(offset, len),
            Err(OutOfRange {
                offset,
                len,
                available: avail
            })
        );
    }
    let mut m = r;
    assert!(m.try_skip(usize::MAX).is_err());
    assert!(m.try_truncate(usize::MAX).is_err());
    assert!(m.try_split(usize::MAX).is_err());
    assert_eq!(m, r);

    let mem = TestMemory::new(4);
    let refused = |len: usize, available: usize| {
        Err(TransferError::OutOfRange(OutOfRange {
            offset: 0,
            len,
            available,
        }))
    };
    assert_eq!(r.fill(&mem, 1, usize::MAX), refused(usize::MAX, avail));
    let mut w = r.writer(&mem);
    w.write(&[1; 10]).unwrap();
    assert_eq!(w.fill(1, usize::MAX), refused(usize::MAX, avail - 10));
    assert_eq!(w.zero(avail - 9), refused(avail - 9, avail - 10));
    assert_eq!(w.len(), avail - 10);
    let mut rd = r.reader(&mem);
    assert_eq!(rd.skip(usize::MAX), refused(usize::MAX, avail));
    assert_eq!(rd.len(), avail);

    let members = [r, r, PagedRange::empty()];
    let mut buf = PagedRanges::new(members.iter().copied());
    assert_eq!(buf.len(), 2 * avail);
    assert!(buf.try_skip(usize::MAX).is_err());
    assert!(buf.try_truncate(usize::MAX).is_err());
    assert_eq!(buf.window(), (0, 2 * avail));
    assert_eq!(
        buf.fill(&mem, 1, usize::MAX),
        refused(usize::MAX, 2 * avail)
    );
    let mut w = buf.writer(&mem);
    w.write(&[2; 5]).unwrap();
    assert_eq!(w.fill(2, usize::MAX), refused(usize::MAX, 2 * avail - 5));
    let mut rd = buf.reader(&mem);
    assert_eq!(rd.skip(usize::MAX), refused(usize::MAX, 2 * avail));
    rd.skip(2 * avail).unwrap();
    assert_eq!(rd.skip(1), refused(1, 0));
    let mut one = [0];
    assert_eq!(rd.read(&mut one), refused(1, 0));
    buf.skip(avail + 1);
    assert_eq!(buf.window(), (avail + 1, avail - 1));
    assert!(buf.try_skip(avail).is_err());
    assert_eq!(buf.len(), avail - 1);
}

#[test]
fn zero_lengths_and_empty_lists() {
    let mem = TestMemory::new(2);
    let empty: [u64; 0] = [];
    let e = PagedRange::new(0, 0, &empty).unwrap();
    assert!(e.is_empty());
    assert_eq!(e, PagedRange::empty());
    assert_eq!(PagedRange::new(0, 1, &empty), None);
    assert_eq!(PagedRange::new(1, 0, &empty), None);
    assert_eq!(e.gpns(), &[] as &[u64]);
    assert_eq!(e.ranges().count(), 0);
    e.read(&mem, &mut []).unwrap();
    e.write(&mem, &[]).unwrap();
    e.fill(&mem, 1, 0).unwrap();
    assert!(e.fill(&mem, 1, 1).is_err());
    assert_eq!(e.split(0), (e, e));
    let mut rd = e.reader(&mem);
    assert!(rd.is_empty());
    assert_eq!(rd.read_all().unwrap(), Vec::<u8>::new());
    rd.skip(0).unwrap();
    assert!(rd.read_plain::<u8>().is_err());
    let mut w = e.writer(&mem);
    w.write(&[]).unwrap();
    w.zero(0).unwrap();
    assert!(w.write_plain(&0u8).is_err());

    // Zero-length transfers over invalid pages touch nothing and succeed.
    let bad = [u64::MAX, TOP];
    let r = PagedRange::new(0, 2 * P, &bad).unwrap();
    r.read(&mem, &mut []).unwrap();
    r.write(&mem, &[]).unwrap();
    r.fill(&mem, 1, 0).unwrap();
    let mut rd = r.reader(&mem);
    rd.read(&mut []).unwrap();
    assert_eq!(rd.len(), 2 * P);
    // An empty window at the very end of a hostile list covers no page.
    let z = PagedRange::new(2 * P, 0, &bad).unwrap();
    assert_eq!(z.gpns(), &[] as &[u64]);
    assert_eq!(z.ranges().count(), 0);
    assert_eq!(mem.take_calls(), vec![]);

    // PagedRanges of nothing, and of empty members only.
    let none: [PagedRange<'_>; 0] = [];
    let buf = PagedRanges::new(none.iter().copied());
    assert!(buf.is_empty());
    assert_eq!(buf.ranges().count(), 0);
    assert_eq!(buf.paged_ranges().count(), 0);
    buf.read(&mem, &mut []).unwrap();
    assert!(buf.fill(&mem, 0, 1).is_err());
    let empties = [e, z, PagedRange::empty()];
    let mut buf = PagedRanges::new(empties.iter().copied());
    assert_eq!(buf.len(), 0);
    assert_eq!(buf.ranges().count(), 0);
    assert_eq!(buf.paged_ranges().count(), 0);
    buf.skip(0);
    buf.truncate(0);
    let mut rd = buf.reader(&mem);
    assert_eq!(rd.read_all().unwrap(), Vec::<u8>::new());
    let mut w = buf.writer(&mem);
    w.fill(3, 0).unwrap();
    assert!(w.fill(3, 1).is_err());
    assert_eq!(mem.take_calls(), vec![]);
}

#[test]
fn paged_ranges_stop_at_invalid_gpns() {
    let good = [1, 2];
    let bad = [4, TOP, 5];
    let members = [
        PagedRange::new(10, 2 * P - 10, &good).unwrap(),
        PagedRange::new(0, 3 * P, &bad).unwrap(),
        PagedRange::new(0, P, &good).unwrap(),
    ];
    let buf = PagedRanges::new(members.iter().copied());
    // ranges() yields the error once and ends, even though a valid member
    // follows.
    let got: Vec<_> = buf.ranges().collect();
    assert_eq!(
        got,
        vec![
            Ok(AddressRange::from(PU + 10..3 * PU)),
            Ok(AddressRange::from(4 * PU..5 * PU)),
            Err(InvalidGpn { gpn: TOP }),
        ]
    );
    let done = 3 * P - 10;
    let err = TransferError::InvalidGpn { done, gpn: TOP };
    let mem = TestMemory::with_pattern(8, 12);
    let mut dst = vec![0; buf.len()];
    assert_eq!(buf.read(&mem, &mut dst), Err(err));
    assert_eq!(dst[..2 * P - 10], mem.bytes()[P + 10..3 * P]);
    assert_eq!(buf.fill(&mem, 7, buf.len()), Err(err));
    assert_eq!(buf.write(&mem, &dst), Err(err));
    assert_eq!(mem.take_calls().len(), 6);

    // Cursors advance by `done` and stay at the bad page.
    let mut rd = buf.reader(&mem);
    let mut chunk = vec![0; P];
    rd.read(&mut chunk).unwrap();
    let mut rest = vec![0; 3 * P];
    assert_eq!(
        rd.read(&mut rest),
        Err(TransferError::InvalidGpn {
            done: done - P,
            gpn: TOP
        })
    );
    assert_eq!(rd.len(), buf.len() - done);
    assert_eq!(
        rd.read(&mut rest[..1]),
        Err(TransferError::InvalidGpn { done: 0, gpn: TOP })
    );
    assert_eq!(rd.len(), buf.len() - done);
    // Skipping over the bad page lets reading continue.
    rd.skip(P).unwrap();
    let tail = rd.read_all().unwrap();
    assert_eq!(tail.len(), 2 * P);
    let image = mem.bytes();
    assert_eq!(tail[..P], image[5 * P..6 * P]);
    assert_eq!(tail[P..], image[P..2 * P]);

    let mut w = buf.writer(&mem);
    assert_eq!(
        w.fill(9, buf.len()),
        Err(TransferError::InvalidGpn { done, gpn: TOP })
    );
    assert_eq!(w.len(), buf.len() - done);
}

/// A list of 2^27 GPNs (1 GiB of zeroed, never touched memory), the longest
/// window over it, and enough copies of it in a `PagedRanges` to overflow a
/// 64-bit length.
#[test]
#[cfg(target_pointer_width = "64")]
#[cfg_attr(miri, ignore)]
fn total_length_overflow_is_reported() {
    use pagedrange::LengthOverflow;
    use std::alloc::{alloc_zeroed, dealloc, Layout};

    const PAGES: usize = 1 << 27;
    let layout = Layout::array::<u64>(PAGES).unwrap();
    // SAFETY: the layout has a nonzero size.
    let ptr = unsafe { alloc_zeroed(layout) };
    if ptr.is_null() {
        eprintln!("skipped: cannot reserve 1 GiB of address space");
        return;
    }
    // SAFETY: `ptr` holds PAGES zeroed (valid) u64s, freed only after the
    // last use of `gpns` below.
    let gpns: &[u64] = unsafe { std::slice::from_raw_parts(ptr.cast::<u64>(), PAGES) };
    let big = PagedRange::new(0, PAGES * P, gpns).unwrap();
    let len = big.len();
    assert_eq!(len, 1 << 39);
    // This many copies add up to exactly 2^64.
    let copies = 1usize << (64 - 39);

    let fits = PagedRanges::try_new(std::iter::repeat_n(big, copies - 1)).unwrap();
    assert_eq!(fits.len(), usize::MAX - len + 1);
    assert_eq!(
        PagedRanges::try_new(std::iter::repeat_n(big, copies)).unwrap_err(),
        LengthOverflow {
            total: usize::MAX - len + 1,
            len,
        }
    );
    let panicked = std::panic::catch_unwind(|| {
        PagedRanges::new(std::iter::repeat_n(big, copies + 1));
    });
    assert!(panicked.is_err(), "PagedRanges::new panics on overflow");

    // The largest buffer still works at its far end.
    let mut fits = fits;
    assert!(fits.try_skip(usize::MAX).is_err());
    fits.skip(usize::MAX - len - 7);
    assert_eq!(fits.len(), 8);
    let got: Vec<_> = fits.ranges().collect::<Result<_, _>>().unwrap();
    assert_eq!(got, vec![AddressRange::from(PU - 8..PU)]);

    // SAFETY: allocated above with this layout; `gpns` and every range over
    // it are dead.
    unsafe { dealloc(ptr, layout) };
}

/// Hostile GPNs: small ones, ones around the top page, anything.
fn hostile_gpn() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..8,
        MAX_GPN - 2..=TOP + 2,
        u64::MAX - 2..=u64::MAX,
        any::<u64>(),
    ]
}

fn hostile_list() -> impl Strategy<Value = Vec<u64>> {
    let piece = (hostile_gpn(), 1u64..4)
        .prop_map(|(g, n)| (0..n).map(|i| g.wrapping_add(i)).collect::<Vec<_>>());
    prop::collection::vec(piece, 0..4).prop_map(|p| {
        let mut v = p.concat();
        v.truncate(8);
        v
    })
}

fn hostile_size() -> impl Strategy<Value = usize> {
    prop_oneof![
        0usize..3 * P,
        (0usize..10).prop_map(|p| p * P),
        usize::MAX - 3 * P..=usize::MAX,
        any::<usize>(),
    ]
}

/// What a naive page-by-page model expects of a window: its runs, each
/// either a valid address range or the GPN to blame.
fn naive_runs(gpns: &[u64], offset: usize, len: usize) -> Vec<Result<AddressRange, u64>> {
    // (gpn, first byte in the page, end in the page) for each page slot.
    let mut slots: Vec<(u64, usize, usize)> = Vec::new();
    let mut at = offset;
    while at < offset + len {
        let lo = at % P;
        let hi = P.min(lo + (offset + len - at));
        slots.push((gpns[at / P], lo, hi));
        at += hi - lo;
    }
    let mut groups: Vec<Vec<(u64, usize, usize)>> = Vec::new();
    for s in slots {
        match groups.last_mut() {
            Some(g) if g.last().unwrap().0.checked_add(1) == Some(s.0) => g.push(s),
            _ => groups.push(vec![s]),
        }
    }
    groups
        .into_iter()
        .map(|g| {
            let unaddressable = |&&(gpn, _, hi): &&(u64, usize, usize)| {
                gpn > MAX_GPN || (gpn == MAX_GPN && hi == P)
            };
            if let Some(&(gpn, _, _)) = g.iter().find(unaddressable) {
                return Err(gpn);
            }
            let start = g[0].0 * PU + g[0].1 as u64;
            let bytes: usize = g.iter().map(|&(_, lo, hi)| hi - lo).sum();
            Ok(AddressRange::from(start..start + bytes as u64))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Arbitrary GPNs, offsets and lengths: constructors and narrowing
    /// methods fail exactly when the window does not fit, runs and
    /// transfers match the naive model, and nothing panics.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn hostile_windows_match_naive_model(
        gpns in hostile_list(),
        offset in hostile_size(), len in hostile_size(),
        a in hostile_size(), b in hostile_size(),
    ) {
        let avail = gpns.len() * P;
        let fits = offset.checked_add(len).is_some_and(|end| end <= avail);
        let made = PagedRange::try_new(offset, len, &gpns);
        prop_assert_eq!(made.is_ok(), fits);
        if let Err(e) = made {
            prop_assert_eq!(e, OutOfRange { offset, len, available: avail });
        }
        // Fall back to some window that fits, so the rest always runs.
        let (offset, len) = if fits { (offset, len) } else {
            let o = offset % (avail + 1);
            (o, len % (avail - o + 1))
        };
        let r = PagedRange::new(offset, len, &gpns).unwrap();

        let sub_fits = a.checked_add(b).is_some_and(|end| end <= len);
        prop_assert_eq!(r.try_subrange(a, b).is_ok(), sub_fits);
        let mut k = r;
        prop_assert_eq!(k.try_skip(a).is_ok(), a <= len);
        let mut t = r;
        prop_assert_eq!(t.try_truncate(b).is_ok(), b <= len);
        prop_assert_eq!(r.try_split(a).is_ok(), a <= len);

        let want = naive_runs(&gpns, offset, len);
        let cut = want.iter().position(|w| w.is_err()).map_or(want.len(), |i| i + 1);
        let got: Vec<_> = r.ranges().collect();
        let want_items: Vec<_> = want[..cut]
            .iter()
            .map(|w| w.map_err(|gpn| InvalidGpn { gpn }))
            .collect();
        prop_assert_eq!(&got, &want_items);

        // A read through an 8-page memory stops at the first run that is
        // invalid or outside it, with `done` = the bytes of the runs before.
        const PAGES: usize = 8;
        let size = (PAGES * P) as u64;
        let mem = TestMemory::with_pattern(PAGES, 1);
        let mut dst = vec![0; len];
        let result = r.read(&mem, &mut dst);
        let mut done = 0usize;
        let mut expect = Ok(());
        let mut calls = Vec::new();
        for w in &want {
            match *w {
                Err(gpn) => {
                    expect = Err(TransferError::InvalidGpn { done, gpn });
                    break;
                }
                Ok(run) => {
                    calls.push(Call { kind: Kind::Read, gpa: run.start, len: run.len() as usize });
                    if run.end > size {
                        let gpa = if run.start < size { size } else { run.start };
                        expect = Err(TransferError::Memory { done, gpa, code: FAULT_UNMAPPED });
                        break;
                    }
                    done += run.len() as usize;
                }
            }
        }
        prop_assert_eq!(result, expect);
        prop_assert_eq!(mem.take_calls(), calls);

        // A cursor moves by exactly `done`.
        let mut rd = r.reader(&mem);
        let result = rd.read(&mut dst);
        prop_assert_eq!(result, expect);
        prop_assert_eq!(rd.len(), len - done);
    }
}
