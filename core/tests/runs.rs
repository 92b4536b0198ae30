//! Coalescing of adjacent pages into runs, and exactly one backend call per
//! run for every kind of transfer (checked with a counting backend).

mod common;

use std::sync::Arc;

use common::*;
use pagedrange::{AddressRange, MemoryRead, MemoryWrite, PagedRange, PagedRanges};

/// The example: three runs out of six pages.
const GPNS: [u64; 6] = [7, 8, 9, 20, 21, 5];

fn example_runs() -> Vec<AddressRange> {
    vec![
        AddressRange::from(7 * PU + 100..10 * PU),
        AddressRange::from(20 * PU..22 * PU),
        AddressRange::from(5 * PU..5 * PU + 100),
    ]
}

fn calls_for(kind: Kind, runs: &[AddressRange]) -> Vec<Call> {
    runs.iter()
        .map(|r| Call {
            kind,
            gpa: r.start,
            len: r.len() as usize,
        })
        .collect()
}

#[test]
fn coalesces_consecutive_gpns() {
    let r = PagedRange::new(100, 5 * P, &GPNS).unwrap();
    assert_eq!(runs(&r), example_runs());
    assert_eq!(r.gpns(), &GPNS);
    assert_eq!(r.offset(), 100);
    let total: u64 = runs(&r).iter().map(|a| a.len()).sum();
    assert_eq!(total, 5 * PU);
    // The iterator reports what is left after each run.
    let mut it = r.ranges();
    assert_eq!(it.remaining(), 5 * P);
    it.next();
    assert_eq!(it.remaining(), 2 * P + 100);
    it.next();
    assert_eq!(it.remaining(), 100);
    it.next();
    assert_eq!(it.remaining(), 0);
    assert_eq!(it.next(), None);
}

#[test]
fn narrowed_windows_cut_runs() {
    let r = PagedRange::new(100, 5 * P, &GPNS).unwrap();
    // Skipping into the middle of the first run keeps it coalesced.
    let mut s = r;
    s.skip(P);
    assert_eq!(
        runs(&s),
        vec![
            AddressRange::from(8 * PU + 100..10 * PU),
            AddressRange::from(20 * PU..22 * PU),
            AddressRange::from(5 * PU..5 * PU + 100),
        ]
    );
    // Truncating inside the second run ends it there.
    let mut t = r;
    t.truncate(3 * P);
    assert_eq!(
        runs(&t),
        vec![
            AddressRange::from(7 * PU + 100..10 * PU),
            AddressRange::from(20 * PU..20 * PU + 100),
        ]
    );
    // A window inside one page.
    assert_eq!(
        runs(&r.subrange(P, 10)),
        vec![AddressRange::from(8 * PU + 100..8 * PU + 110)]
    );
    // Repeated and descending GPNs never coalesce; a long ascending run does.
    let gpns = [3, 3, 2, 1];
    let r = PagedRange::new(0, 4 * P, &gpns).unwrap();
    assert_eq!(runs(&r).len(), 4);
    let gpns: Vec<u64> = (10..26).collect();
    let r = PagedRange::new(1, 16 * P - 2, &gpns).unwrap();
    assert_eq!(runs(&r), vec![AddressRange::from(10 * PU + 1..26 * PU - 1)]);
}

#[test]
fn ranges_are_not_merged_across_members() {
    // Member 0 ends exactly where member 1 starts (GPA 5P).
    let a = [3, 4];
    let b = [5, 6];
    // Member 2 starts at the byte after member 1 ends, inside the same page.
    let c = [6];
    let members = [
        PagedRange::new(0, 2 * P, &a).unwrap(),
        PagedRange::new(0, P + 10, &b).unwrap(),
        PagedRange::new(10, 20, &c).unwrap(),
    ];
    let buf = PagedRanges::new(members.iter().copied());
    assert_eq!(buf.len(), 3 * P + 30);
    let got: Vec<_> = buf.ranges().collect::<Result<_, _>>().unwrap();
    assert_eq!(
        got,
        vec![
            AddressRange::from(3 * PU..5 * PU),
            AddressRange::from(5 * PU..6 * PU + 10),
            AddressRange::from(6 * PU + 10..6 * PU + 30),
        ]
    );
    // One call per member run, even though the GPAs are contiguous.
    let mem = TestMemory::with_pattern(16, 1);
    let mut dst = vec![0; buf.len()];
    buf.read(&mem, &mut dst).unwrap();
    assert_eq!(mem.take_calls(), calls_for(Kind::Read, &got));
    assert_eq!(dst, mem.bytes()[3 * P..6 * P + 30]);
}

#[test]
fn ranges_lists_member_runs_in_order() {
    let members = [
        PagedRange::new(100, 5 * P, &GPNS).unwrap(),
        PagedRange::empty(),
        PagedRange::new(0, 0, &GPNS).unwrap(),
        PagedRange::new(2 * P, 2 * P + 1, &GPNS).unwrap(),
    ];
    let mut buf = PagedRanges::new(members.iter().copied());
    assert_eq!(buf.len(), 7 * P + 1);
    let mut want = example_runs();
    want.extend([
        AddressRange::from(9 * PU..10 * PU),
        AddressRange::from(20 * PU..21 * PU + 1),
    ]);
    let got: Vec<_> = buf.ranges().collect::<Result<_, _>>().unwrap();
    assert_eq!(got, want);
    // Empty members are not yielded as windows.
    assert_eq!(buf.paged_ranges().count(), 2);

    // Skip into the first member and truncate inside the last.
    buf.skip(P);
    buf.truncate(5 * P);
    let got: Vec<_> = buf.ranges().collect::<Result<_, _>>().unwrap();
    assert_eq!(
        got,
        vec![
            AddressRange::from(8 * PU + 100..10 * PU),
            AddressRange::from(20 * PU..22 * PU),
            AddressRange::from(5 * PU..5 * PU + 100),
            AddressRange::from(9 * PU..10 * PU),
        ]
    );
    let mut it = buf.paged_ranges();
    assert_eq!(it.remaining(), 5 * P);
    assert_eq!(it.next().map(|w| w.len()), Some(4 * P));
    assert_eq!(it.remaining(), P);
    assert_eq!(it.next().map(|w| w.len()), Some(P));
    assert_eq!(it.remaining(), 0);
    assert_eq!(it.next(), None);
}

#[test]
fn one_call_per_run_for_paged_range() {
    let r = PagedRange::new(100, 5 * P, &GPNS).unwrap();
    let mem = TestMemory::with_pattern(32, 2);
    let image = mem.bytes();

    let mut dst = vec![0; 5 * P];
    r.read(&mem, &mut dst).unwrap();
    assert_eq!(mem.take_calls(), calls_for(Kind::Read, &example_runs()));
    let want: Vec<u8> = expand(&example_runs())
        .iter()
        .map(|&g| image[g as usize])
        .collect();
    assert_eq!(dst, want);

    let src = pattern(5 * P, 3);
    r.write(&mem, &src).unwrap();
    assert_eq!(mem.take_calls(), calls_for(Kind::Write, &example_runs()));
    let after = mem.bytes();
    for (&g, &b) in expand(&example_runs()).iter().zip(&src) {
        assert_eq!(after[g as usize], b);
    }

    r.fill(&mem, 0x77, 5 * P).unwrap();
    assert_eq!(
        mem.take_calls(),
        calls_for(Kind::Fill(0x77), &example_runs())
    );

    // A partial transfer calls only for the runs it reaches, and cuts the
    // last one.
    r.fill(&mem, 1, 3 * P).unwrap();
    assert_eq!(
        mem.take_calls(),
        vec![
            Call {
                kind: Kind::Fill(1),
                gpa: 7 * PU + 100,
                len: 3 * P - 100
            },
            Call {
                kind: Kind::Fill(1),
                gpa: 20 * PU,
                len: 100
            },
        ]
    );

    // Nothing to transfer: no call at all.
    r.read(&mem, &mut []).unwrap();
    r.write(&mem, &[]).unwrap();
    r.fill(&mem, 9, 0).unwrap();
    PagedRange::empty().fill(&mem, 9, 0).unwrap();
    assert_eq!(mem.take_calls(), vec![]);
}

#[test]
fn one_call_per_run_for_paged_ranges() {
    let other = [30, 31, 12];
    let members = [
        PagedRange::new(100, 5 * P, &GPNS).unwrap(),
        PagedRange::empty(),
        PagedRange::new(P - 8, P + 16, &other).unwrap(),
    ];
    let buf = PagedRanges::new(members.iter().copied());
    let mut want = example_runs();
    want.extend([
        AddressRange::from(31 * PU - 8..32 * PU),
        AddressRange::from(12 * PU..12 * PU + 8),
    ]);
    let got: Vec<_> = buf.ranges().collect::<Result<_, _>>().unwrap();
    assert_eq!(got, want);
    let mem = TestMemory::new(40);

    let src = pattern(buf.len(), 4);
    buf.write(&mem, &src).unwrap();
    assert_eq!(mem.take_calls(), calls_for(Kind::Write, &want));
    let mut dst = vec![0; buf.len()];
    buf.read(&mem, &mut dst).unwrap();
    assert_eq!(mem.take_calls(), calls_for(Kind::Read, &want));
    assert_eq!(dst, src);
    buf.fill(&mem, 0xfe, buf.len()).unwrap();
    assert_eq!(mem.take_calls(), calls_for(Kind::Fill(0xfe), &want));
    buf.read(&mem, &mut dst).unwrap();
    assert!(dst.iter().all(|&b| b == 0xfe));
    mem.take_calls();

    // Through an `Arc` and a reference the calls are the same.
    let shared = Arc::new(mem);
    buf.fill(&shared, 1, buf.len()).unwrap();
    buf.fill(&&*shared, 2, buf.len()).unwrap();
    let calls = shared.take_calls();
    assert_eq!(calls.len(), 2 * want.len());
    assert_eq!(calls[want.len()..], calls_for(Kind::Fill(2), &want)[..]);
}

#[test]
fn one_call_per_run_for_cursors() {
    let r = PagedRange::new(100, 5 * P, &GPNS).unwrap();
    let mem = TestMemory::with_pattern(32, 5);

    // Whole-window cursor operations: one call per run.
    let mut rd = r.reader(&mem);
    let all = rd.read_all().unwrap();
    assert_eq!(all.len(), 5 * P);
    assert_eq!(mem.take_calls(), calls_for(Kind::Read, &example_runs()));

    let mut wr = r.writer(&mem);
    wr.write(&all).unwrap();
    assert_eq!(mem.take_calls(), calls_for(Kind::Write, &example_runs()));
    let mut wr = r.writer(&mem);
    wr.zero(5 * P).unwrap();
    assert_eq!(mem.take_calls(), calls_for(Kind::Fill(0), &example_runs()));

    // Chunks that stop mid-run split only that run.
    let mut rd = r.reader(&mem);
    let mut a = vec![0; P];
    rd.read(&mut a).unwrap();
    rd.skip(P).unwrap();
    let mut b = vec![0; 2 * P];
    rd.read(&mut b).unwrap();
    let _: [u8; 8] = rd.read_plain().unwrap();
    assert_eq!(rd.len(), P - 8);
    let calls = mem.take_calls();
    let read = |gpa, len| Call {
        kind: Kind::Read,
        gpa,
        len,
    };
    assert_eq!(
        calls,
        vec![
            read(7 * PU + 100, P),
            // The skipped page is not read; the next read starts 2P into the
            // first run.
            read(9 * PU + 100, P - 100),
            read(20 * PU, P + 100),
            read(21 * PU + 100, 8),
        ]
    );

    // The same over a `PagedRanges` with two members.
    let tail = [2];
    let members = [r, PagedRange::new(0, 16, &tail).unwrap()];
    let buf = PagedRanges::new(members.iter().copied());
    let mut want = example_runs();
    want.push(AddressRange::from(2 * PU..2 * PU + 16));
    let mut wr = buf.writer(&mem);
    wr.fill(3, buf.len()).unwrap();
    assert_eq!(wr.len(), 0);
    assert_eq!(mem.take_calls(), calls_for(Kind::Fill(3), &want));
    let mut wr = buf.writer(&mem);
    wr.write(&pattern(buf.len(), 6)).unwrap();
    assert_eq!(mem.take_calls(), calls_for(Kind::Write, &want));
    let mut rd = buf.reader(&mem);
    assert_eq!(rd.read_all().unwrap(), pattern(buf.len(), 6));
    assert_eq!(mem.take_calls(), calls_for(Kind::Read, &want));

    // A plain value straddling the two members: one call in each.
    let mut rd = buf.reader(&mem);
    rd.skip(5 * P - 4).unwrap();
    let _: u64 = rd.read_plain().unwrap();
    assert_eq!(
        mem.take_calls(),
        vec![read(5 * PU + 96, 4), read(2 * PU, 4)]
    );
}
