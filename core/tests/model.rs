//! Property tests: every operation of `PagedRange`, `PagedRanges` and their
//! cursors against a naive model holding the GPA of every byte of the window,
//! applied to a plain copy of guest memory.

mod common;

use common::*;
use pagedrange::{
    MemoryRead, MemoryWrite, OutOfRange, PagedRange, PagedRanges, TransferError, PAGE_SIZE,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// `cases` cases; failures are printed, not persisted.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Pages of guest memory behind the transfer tests; every generated GPN is
/// below this.
const MEM_PAGES: usize = 64;

/// At most this many pages per GPN list.
const MAX_LIST: usize = 10;

/// GPN lists mixing consecutive runs, repeats and random values.
fn gpn_list() -> impl Strategy<Value = Vec<u64>> {
    let piece = prop_oneof![
        // A run of consecutive GPNs.
        (0u64..MEM_PAGES as u64, 1u64..6)
            .prop_map(|(s, n)| (s..(s + n).min(MEM_PAGES as u64)).collect::<Vec<_>>()),
        // The same GPN repeated.
        (0u64..MEM_PAGES as u64, 1usize..4).prop_map(|(v, n)| vec![v; n]),
        // One random GPN.
        (0u64..MEM_PAGES as u64).prop_map(|v| vec![v]),
    ];
    prop::collection::vec(piece, 0..5).prop_map(|pieces| {
        let mut v = pieces.concat();
        v.truncate(MAX_LIST);
        v
    })
}

/// A raw position, biased towards zero, small values and page edges; cut to
/// size with [`fit`].
fn pos() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(0usize),
        0usize..64,
        (0usize..=MAX_LIST, -3isize..=3)
            .prop_map(|(p, d)| (p * PAGE_SIZE).saturating_add_signed(d)),
        any::<usize>(),
    ]
}

/// `raw` if it is at most `max`, otherwise some value in `0..=max`.
fn fit(raw: usize, max: usize) -> usize {
    if raw <= max {
        raw
    } else {
        raw % (max + 1)
    }
}

/// A window of `gpns` chosen by two raw positions, and its model.
fn window(gpns: &[u64], o: usize, l: usize) -> (usize, usize, Vec<u64>) {
    let total = gpns.len() * PAGE_SIZE;
    let offset = fit(o, total);
    let len = fit(l, total - offset);
    (offset, len, model_gpas(gpns, offset, len))
}

/// Checks every accessor of `r` against the GPAs of its bytes.
fn check_range(r: &PagedRange<'_>, model: &[u64]) -> Result<(), TestCaseError> {
    prop_assert_eq!(r.len(), model.len());
    prop_assert_eq!(r.is_empty(), model.is_empty());
    prop_assert!(r.offset() < PAGE_SIZE);
    prop_assert_eq!(r.offset(), r.parts().0 % PAGE_SIZE);
    if model.is_empty() {
        prop_assert_eq!(r.gpns(), &[] as &[u64]);
        prop_assert_eq!(r.ranges().count(), 0);
        return Ok(());
    }
    let off0 = (model[0] % PU) as usize;
    prop_assert_eq!(r.offset(), off0);

    // gpns(): one entry per page slot the window touches.
    let slots = (off0 + model.len() - 1) / PAGE_SIZE + 1;
    let expected: Vec<u64> = (0..slots)
        .map(|k| {
            let i = if k == 0 { 0 } else { k * PAGE_SIZE - off0 };
            model[i] / PU
        })
        .collect();
    prop_assert_eq!(r.gpns(), &expected[..]);

    // ranges(): maximal runs that concatenate to the model.
    let mut it = r.ranges();
    let mut got = Vec::new();
    let mut remaining = r.len();
    prop_assert_eq!(it.remaining(), remaining);
    for item in it.by_ref() {
        let run = item.map_err(|e| TestCaseError::fail(format!("unexpected {e}")))?;
        prop_assert!(!run.is_empty());
        remaining -= run.len() as usize;
        got.push(run);
    }
    prop_assert_eq!(it.remaining(), 0);
    prop_assert_eq!(remaining, 0);
    for pair in got.windows(2) {
        prop_assert_ne!(
            pair[0].end,
            pair[1].start,
            "runs {:?} are not maximal",
            pair
        );
    }
    prop_assert_eq!(&got, &segment_ranges(model, &vec![0; model.len()]));
    prop_assert_eq!(expand(&got), model);

    // pop_front_range() walks the same runs.
    let mut popped = Vec::new();
    let mut p = *r;
    while let Some(run) = p.pop_front_range() {
        popped.push(run.unwrap());
    }
    prop_assert!(p.is_empty());
    prop_assert_eq!(popped, got);
    Ok(())
}

proptest! {
    #![proptest_config(config(192))]

    /// Construction, accessors, subrange, skip, truncate and split.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn range_shape_matches_model(
        gpns in gpn_list(),
        o in pos(), l in pos(), a in pos(), b in pos(), c in 1usize..5,
    ) {
        let total = gpns.len() * PAGE_SIZE;
        let (offset, len, model) = window(&gpns, o, l);
        let r = PagedRange::new(offset, len, &gpns).unwrap();
        check_range(&r, &model)?;
        prop_assert_eq!(r.parts(), (offset, &gpns[..]));
        prop_assert_eq!(PagedRange::new(r.parts().0, r.len(), r.parts().1), Some(r));

        // Windows that do not fit the list.
        prop_assert_eq!(
            PagedRange::try_new(offset, total - offset + c, &gpns),
            Err(OutOfRange { offset, len: total - offset + c, available: total })
        );
        prop_assert_eq!(
            PagedRange::try_new(offset.max(1), usize::MAX, &gpns),
            Err(OutOfRange { offset: offset.max(1), len: usize::MAX, available: total })
        );

        // subrange
        let so = fit(a, len);
        let sl = fit(b, len - so);
        let s = r.subrange(so, sl);
        check_range(&s, &model[so..so + sl])?;
        prop_assert_eq!(s.parts(), (offset + so, &gpns[..]));
        prop_assert_eq!(r.try_subrange(so, sl), Ok(s));
        let over = len - so + c;
        prop_assert_eq!(
            r.try_subrange(so, over),
            Err(OutOfRange { offset: so, len: over, available: len })
        );
        prop_assert!(r.try_subrange(so + c, usize::MAX).is_err());
        // A subrange of a subrange is the subrange of the composed window.
        let (so2, sl2) = (fit(b, sl), fit(a, sl - fit(b, sl)));
        check_range(&s.subrange(so2, sl2), &model[so + so2..so + so2 + sl2])?;

        // skip
        let mut k = r;
        k.skip(so);
        check_range(&k, &model[so..])?;
        let mut k2 = k;
        prop_assert_eq!(
            k2.try_skip(len - so + c),
            Err(OutOfRange { offset: 0, len: len - so + c, available: len - so })
        );
        prop_assert_eq!(k2, k, "a failed skip leaves the window alone");
        prop_assert!(k2.try_skip(usize::MAX).is_err());
        prop_assert_eq!(k2, k);

        // truncate
        let mut t = r;
        t.truncate(sl);
        check_range(&t, &model[..sl])?;
        let mut t2 = t;
        prop_assert_eq!(
            t2.try_truncate(sl + c),
            Err(OutOfRange { offset: 0, len: sl + c, available: sl })
        );
        prop_assert_eq!(t2, t);

        // split
        let (front, back) = r.split(so);
        check_range(&front, &model[..so])?;
        check_range(&back, &model[so..])?;
        prop_assert_eq!(r.try_split(so), Ok((front, back)));
        prop_assert!(r.try_split(len + c).is_err());
        prop_assert!(r.try_split(usize::MAX).is_err());
    }

    /// read, write and fill of a `PagedRange` against a copy of guest memory,
    /// with one backend call per run.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn range_transfers_match_model(
        gpns in gpn_list(),
        o in pos(), l in pos(), k1 in pos(), k2 in pos(), k3 in pos(),
        seed in any::<u64>(), value in any::<u8>(),
    ) {
        let (offset, len, model) = window(&gpns, o, l);
        let tags = vec![0; len];
        let r = PagedRange::new(offset, len, &gpns).unwrap();
        let mem = TestMemory::with_pattern(MEM_PAGES, seed);
        let mut image = mem.bytes();

        // read
        let k = fit(k1, len);
        let mut dst = vec![0xa5; k];
        r.read(&mem, &mut dst).unwrap();
        let want: Vec<u8> = model[..k].iter().map(|&g| image[g as usize]).collect();
        prop_assert_eq!(&dst, &want);
        prop_assert_eq!(mem.take_calls(), expected_calls(Kind::Read, &model[..k], &tags[..k]));
        let mut big = vec![0xa5; len + 1];
        prop_assert_eq!(
            r.read(&mem, &mut big),
            Err(TransferError::OutOfRange(OutOfRange { offset: 0, len: len + 1, available: len }))
        );
        prop_assert!(big.iter().all(|&b| b == 0xa5), "a refused read touches nothing");

        // write
        let k = fit(k2, len);
        let src = pattern(k, seed ^ 0x5555);
        r.write(&mem, &src).unwrap();
        for (&g, &b) in model[..k].iter().zip(&src) {
            image[g as usize] = b;
        }
        prop_assert!(mem.bytes() == image, "write differs from the model");
        prop_assert_eq!(mem.take_calls(), expected_calls(Kind::Write, &model[..k], &tags[..k]));
        prop_assert!(r.write(&mem, &vec![1; len + 1]).is_err());

        // fill
        let k = fit(k3, len);
        r.fill(&mem, value, k).unwrap();
        for &g in &model[..k] {
            image[g as usize] = value;
        }
        prop_assert!(mem.bytes() == image, "fill differs from the model");
        prop_assert_eq!(mem.take_calls(), expected_calls(Kind::Fill(value), &model[..k], &tags[..k]));
        prop_assert_eq!(
            r.fill(&mem, value, len + 1),
            Err(TransferError::OutOfRange(OutOfRange { offset: 0, len: len + 1, available: len }))
        );
        prop_assert!(r.fill(&mem, value, usize::MAX).is_err());
        prop_assert!(mem.take_calls().is_empty(), "refused transfers call nothing");
        prop_assert!(mem.bytes() == image);
    }
}

/// Raw members of a `PagedRanges`: a GPN list and a window of it each.
fn members() -> impl Strategy<Value = Vec<(Vec<u64>, usize, usize)>> {
    prop::collection::vec((gpn_list(), pos(), pos()), 0..5)
}

/// The windows of `lists` chosen by the raw positions, with the model of
/// their concatenation and the member each byte belongs to.
fn build<'a>(lists: &'a [(Vec<u64>, usize, usize)]) -> (Vec<PagedRange<'a>>, Vec<u64>, Vec<usize>) {
    let mut ranges = Vec::new();
    let mut model = Vec::new();
    let mut tags = Vec::new();
    for (m, (gpns, o, l)) in lists.iter().enumerate() {
        let (offset, len, gpas) = window(gpns, *o, *l);
        ranges.push(PagedRange::new(offset, len, gpns).unwrap());
        model.extend_from_slice(&gpas);
        tags.extend(std::iter::repeat_n(m, len));
    }
    (ranges, model, tags)
}

proptest! {
    #![proptest_config(config(160))]

    /// `PagedRanges`: skip, truncate, windows, runs (member by member) and
    /// transfers with one backend call per run.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn ranges_match_model(
        lists in members(),
        s in pos(), t in pos(), k1 in pos(), k2 in pos(), k3 in pos(),
        seed in any::<u64>(), value in any::<u8>(),
    ) {
        let (members, full, full_tags) = build(&lists);
        let total = full.len();
        let mut buf = PagedRanges::new(members.iter().copied());
        prop_assert_eq!(buf.len(), total);
        prop_assert_eq!(buf.window(), (0, total));

        let s = fit(s, total);
        let t = fit(t, total - s);
        prop_assert_eq!(
            buf.try_skip(total + 1),
            Err(OutOfRange { offset: 0, len: total + 1, available: total })
        );
        buf.skip(s);
        prop_assert_eq!(buf.try_truncate(total - s + 1).map_err(|e| e.available), Err(total - s));
        buf.truncate(t);
        prop_assert_eq!(buf.len(), t);
        prop_assert_eq!(buf.is_empty(), t == 0);
        prop_assert_eq!(buf.window(), (s, t));
        let model = &full[s..s + t];
        let tags = &full_tags[s..s + t];

        // paged_ranges(): the non-empty trimmed members, in order.
        let windows: Vec<PagedRange<'_>> = buf.paged_ranges().collect();
        prop_assert!(windows.iter().all(|w| !w.is_empty()));
        let mut distinct = tags.to_vec();
        distinct.dedup();
        prop_assert_eq!(windows.len(), distinct.len());
        let mut at = 0;
        for w in &windows {
            check_range(w, &model[at..at + w.len()])?;
            at += w.len();
        }
        prop_assert_eq!(at, t);

        // ranges(): maximal runs within each member, never merged across.
        let got: Vec<_> = buf.ranges().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(&got, &segment_ranges(model, tags));
        prop_assert_eq!(expand(&got), model);

        let mem = TestMemory::with_pattern(MEM_PAGES, seed);
        let mut image = mem.bytes();

        let k = fit(k1, t);
        let mut dst = vec![0x5a; k];
        buf.read(&mem, &mut dst).unwrap();
        let want: Vec<u8> = model[..k].iter().map(|&g| image[g as usize]).collect();
        prop_assert_eq!(&dst, &want);
        prop_assert_eq!(mem.take_calls(), expected_calls(Kind::Read, &model[..k], &tags[..k]));
        let mut big = vec![0x5a; t + 1];
        prop_assert_eq!(
            buf.read(&mem, &mut big),
            Err(TransferError::OutOfRange(OutOfRange { offset: 0, len: t + 1, available: t }))
        );
        prop_assert!(big.iter().all(|&b| b == 0x5a));

        let k = fit(k2, t);
        let src = pattern(k, !seed);
        buf.write(&mem, &src).unwrap();
        for (&g, &b) in model[..k].iter().zip(&src) {
            image[g as usize] = b;
        }
        prop_assert!(mem.bytes() == image, "write differs from the model");
        prop_assert_eq!(mem.take_calls(), expected_calls(Kind::Write, &model[..k], &tags[..k]));
        prop_assert!(buf.write(&mem, &vec![0; t + 1]).is_err());

        let k = fit(k3, t);
        buf.fill(&mem, value, k).unwrap();
        for &g in &model[..k] {
            image[g as usize] = value;
        }
        prop_assert!(mem.bytes() == image, "fill differs from the model");
        prop_assert_eq!(mem.take_calls(), expected_calls(Kind::Fill(value), &model[..k], &tags[..k]));
        prop_assert!(buf.fill(&mem, value, t + 1).is_err());
        prop_assert!(buf.fill(&mem, value, usize::MAX).is_err());
        prop_assert!(mem.take_calls().is_empty());
        prop_assert!(mem.bytes() == image);
    }
}

/// A reader operation.
#[derive(Clone, Copy, Debug)]
enum ReadOp {
    Read(usize),
    Skip(usize),
    Plain,
}

/// A writer operation.
#[derive(Clone, Copy, Debug)]
enum WriteOp {
    Write(usize),
    Fill(u8, usize),
    Zero(usize),
    Plain(u32),
}

/// Chunk sizes: small, around a page, or anything (too large).
fn chunk() -> impl Strategy<Value = usize> {
    prop_oneof![
        3 => 0usize..16,
        3 => 0usize..3 * PAGE_SIZE,
        1 => any::<usize>(),
    ]
}

fn read_ops() -> impl Strategy<Value = Vec<ReadOp>> {
    let op = prop_oneof![
        3 => chunk().prop_map(ReadOp::Read),
        2 => chunk().prop_map(ReadOp::Skip),
        1 => Just(ReadOp::Plain),
    ];
    prop::collection::vec(op, 0..10)
}

fn write_ops() -> impl Strategy<Value = Vec<WriteOp>> {
    let op = prop_oneof![
        3 => chunk().prop_map(WriteOp::Write),
        2 => (any::<u8>(), chunk()).prop_map(|(v, n)| WriteOp::Fill(v, n)),
        1 => chunk().prop_map(WriteOp::Zero),
        1 => any::<u32>().prop_map(WriteOp::Plain),
    ];
    prop::collection::vec(op, 0..10)
}

/// The result a cursor must give for an `n`-byte request with `left` bytes
/// remaining.
fn refusal(n: usize, left: usize) -> TransferError {
    TransferError::OutOfRange(OutOfRange {
        offset: 0,
        len: n,
        available: left,
    })
}

/// Drives a reader through `ops`, checking every result, the bytes read, the
/// remaining length and the backend calls against the model.
fn drive_reader<R: MemoryRead>(
    mut rd: R,
    mem: &TestMemory,
    model: &[u64],
    tags: &[usize],
    ops: &[ReadOp],
) -> Result<(), TestCaseError> {
    let image = mem.bytes();
    let mut at = 0;
    for &op in ops {
        let left = model.len() - at;
        prop_assert_eq!(rd.len(), left);
        prop_assert_eq!(rd.is_empty(), left == 0);
        let n = match op {
            ReadOp::Read(n) | ReadOp::Skip(n) => n,
            ReadOp::Plain => 4,
        };
        // Keep refused reads to a reasonable allocation.
        let n = if matches!(op, ReadOp::Read(_)) && n > left + 16 {
            fit(n, left + 16)
        } else {
            n
        };
        let result = match op {
            ReadOp::Read(_) => {
                let mut dst = vec![0xee; n];
                let r = rd.read(&mut dst);
                if r.is_ok() {
                    let want: Vec<u8> = model[at..at + n]
                        .iter()
                        .map(|&g| image[g as usize])
                        .collect();
                    prop_assert_eq!(dst, want);
                } else {
                    prop_assert!(dst.iter().all(|&b| b == 0xee));
                }
                r
            }
            ReadOp::Skip(_) => rd.skip(n),
            ReadOp::Plain => rd.read_plain::<u32>().map(|v| {
                let want: Vec<u8> = model[at..at + 4]
                    .iter()
                    .map(|&g| image[g as usize])
                    .collect();
                assert_eq!(v.to_ne_bytes().to_vec(), want);
            }),
        };
        if n > left {
            prop_assert_eq!(result, Err(refusal(n, left)));
            prop_assert!(mem.take_calls().is_empty());
            continue;
        }
        prop_assert_eq!(result, Ok(()));
        let calls = mem.take_calls();
        if matches!(op, ReadOp::Skip(_)) {
            prop_assert!(calls.is_empty(), "skip reads nothing");
        } else {
            prop_assert_eq!(
                calls,
                expected_calls(Kind::Read, &model[at..at + n], &tags[at..at + n])
            );
        }
        at += n;
    }
    let rest = rd.read_all().unwrap();
    let want: Vec<u8> = model[at..].iter().map(|&g| image[g as usize]).collect();
    prop_assert_eq!(rest, want);
    prop_assert_eq!(rd.len(), 0);
    prop_assert_eq!(
        mem.take_calls(),
        expected_calls(Kind::Read, &model[at..], &tags[at..])
    );
    prop_assert!(mem.bytes() == image, "readers do not write");
    Ok(())
}

/// Drives a writer through `ops`, checking results, guest memory, the
/// remaining length and the backend calls against the model.
fn drive_writer<W: MemoryWrite>(
    mut wr: W,
    mem: &TestMemory,
    model: &[u64],
    tags: &[usize],
    ops: &[WriteOp],
) -> Result<(), TestCaseError> {
    let mut image = mem.bytes();
    let mut at = 0;
    for (i, &op) in ops.iter().enumerate() {
        let left = model.len() - at;
        prop_assert_eq!(wr.len(), left);
        prop_assert_eq!(wr.is_empty(), left == 0);
        let (n, kind, bytes) = match op {
            WriteOp::Write(n) => {
                let n = if n > left + 16 { fit(n, left + 16) } else { n };
                (n, Kind::Write, pattern(n, i as u64 + 7))
            }
            WriteOp::Fill(v, n) => (n, Kind::Fill(v), Vec::new()),
            WriteOp::Zero(n) => (n, Kind::Fill(0), Vec::new()),
            WriteOp::Plain(v) => (4, Kind::Write, v.to_ne_bytes().to_vec()),
        };
        let result = match op {
            WriteOp::Write(_) => wr.write(&bytes),
            WriteOp::Fill(v, _) => wr.fill(v, n),
            WriteOp::Zero(_) => wr.zero(n),
            WriteOp::Plain(v) => wr.write_plain(&v),
        };
        if n > left {
            prop_assert_eq!(result, Err(refusal(n, left)));
            prop_assert!(mem.take_calls().is_empty());
            prop_assert!(mem.bytes() == image, "a refused write touches nothing");
            continue;
        }
        prop_assert_eq!(result, Ok(()));
        for (j, &g) in model[at..at + n].iter().enumerate() {
            image[g as usize] = match kind {
                Kind::Fill(v) => v,
                _ => bytes[j],
            };
        }
        prop_assert!(mem.bytes() == image, "guest memory differs from the model");
        prop_assert_eq!(
            mem.take_calls(),
            expected_calls(kind, &model[at..at + n], &tags[at..at + n])
        );
        at += n;
    }
    prop_assert_eq!(wr.len(), model.len() - at);
    Ok(())
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    #[cfg_attr(miri, ignore)]
    fn range_cursors_match_model(
        gpns in gpn_list(), o in pos(), l in pos(),
        rops in read_ops(), wops in write_ops(), seed in any::<u64>(),
    ) {
        let (offset, len, model) = window(&gpns, o, l);
        let tags = vec![0; len];
        let r = PagedRange::new(offset, len, &gpns).unwrap();
        let mem = TestMemory::with_pattern(MEM_PAGES, seed);
        drive_reader(r.reader(&mem), &mem, &model, &tags, &rops)?;
        drive_writer(r.writer(&mem), &mem, &model, &tags, &wops)?;
        // The cursors consumed nothing of the range itself.
        prop_assert_eq!(r.len(), len);
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn ranges_cursors_match_model(
        lists in members(), s in pos(), t in pos(),
        rops in read_ops(), wops in write_ops(), seed in any::<u64>(),
    ) {
        let (members, full, full_tags) = build(&lists);
        let mut buf = PagedRanges::new(members.iter().copied());
        let s = fit(s, full.len());
        let t = fit(t, full.len() - s);
        buf.skip(s);
        buf.truncate(t);
        let mem = TestMemory::with_pattern(MEM_PAGES, seed);
        let (model, tags) = (&full[s..s + t], &full_tags[s..s + t]);
        drive_reader(buf.reader(&mem), &mem, model, tags, &rops)?;
        drive_writer(buf.writer(&mem), &mem, model, tags, &wops)?;
    }
}
