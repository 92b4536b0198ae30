//! Backend failures in the middle of multi-run transfers, cursors advancing
//! by exactly the bytes done, out-of-range requests that move nothing, and
//! `read_plain` / `write_plain` across page boundaries.

mod common;

use common::*;
use pagedrange::{MemoryRead, MemoryWrite, OutOfRange, PagedRange, PagedRanges, TransferError};

/// Runs of [`window`]: GPN 1-2 from offset 100, GPN 5-6, GPN 9 up to 100
/// bytes before its end.
const GPNS: [u64; 5] = [1, 2, 5, 6, 9];
const R1: (u64, usize) = (PU + 100, 2 * P - 100);
const R2: (u64, usize) = (5 * PU, 2 * P);
const R3: (u64, usize) = (9 * PU, P - 100);
const LEN: usize = 5 * P - 200;

fn window() -> PagedRange<'static> {
    PagedRange::new(100, LEN, &GPNS).unwrap()
}

fn call(kind: Kind, (gpa, len): (u64, usize)) -> Call {
    Call { kind, gpa, len }
}

fn failure(done: usize, gpa: u64) -> TransferError {
    TransferError::Memory {
        done,
        gpa,
        code: FAIL_CODE,
    }
}

fn refused(len: usize, available: usize) -> TransferError {
    TransferError::OutOfRange(OutOfRange {
        offset: 0,
        len,
        available,
    })
}

/// The bytes of guest memory `image` at each of `gpas`.
fn at(image: &[u8], gpas: &[u64]) -> Vec<u8> {
    gpas.iter().map(|&g| image[g as usize]).collect()
}

#[test]
fn failing_run_reports_bytes_of_earlier_runs() {
    let r = window();
    let model = model_gpas(&GPNS, 100, LEN);
    let mem = TestMemory::with_pattern(16, 21);
    let image = mem.bytes();
    mem.fail_at(R2.0);
    let err = failure(R1.1, R2.0);

    let mut dst = vec![0; LEN];
    assert_eq!(r.read(&mem, &mut dst), Err(err));
    assert_eq!(err.done(), R1.1);
    assert_eq!(dst[..R1.1], at(&image, &model[..R1.1]));
    assert!(dst[R1.1..].iter().all(|&b| b == 0));
    assert_eq!(
        mem.take_calls(),
        vec![call(Kind::Read, R1), call(Kind::Read, R2)],
        "nothing is called after the failing run"
    );

    let src = pattern(LEN, 22);
    assert_eq!(r.write(&mem, &src), Err(err));
    let mut want = image.clone();
    for (&g, &b) in model[..R1.1].iter().zip(&src) {
        want[g as usize] = b;
    }
    assert_eq!(mem.bytes(), want, "only the first run is written");
    assert_eq!(r.fill(&mem, 0xcc, LEN), Err(err));
    for &g in &model[..R1.1] {
        want[g as usize] = 0xcc;
    }
    assert_eq!(mem.bytes(), want);
    assert_eq!(
        mem.take_calls(),
        vec![
            call(Kind::Write, R1),
            call(Kind::Write, R2),
            call(Kind::Fill(0xcc), R1),
            call(Kind::Fill(0xcc), R2),
        ]
    );
    let text = err.to_string();
    assert!(text.contains("0x5000") && text.contains("42") && text.contains("8092"));

    // Failing on the first run: nothing done. On the last: two runs done.
    mem.repair(R2.0);
    mem.fail_at(R1.0);
    assert_eq!(r.fill(&mem, 1, LEN), Err(failure(0, R1.0)));
    mem.repair(R1.0);
    mem.fail_at(R3.0);
    assert_eq!(r.read(&mem, &mut dst), Err(failure(R1.1 + R2.1, R3.0)));
    assert_eq!(dst[..R1.1 + R2.1], at(&mem.bytes(), &model[..R1.1 + R2.1]));
    // A transfer that ends before the failing run succeeds.
    r.fill(&mem, 2, R1.1 + R2.1).unwrap();
    mem.repair(R3.0);
    r.read(&mem, &mut dst).unwrap();
    assert_eq!(dst, at(&mem.bytes(), &model));
}

#[test]
fn range_reader_advances_by_done_and_resumes() {
    let r = window();
    let model = model_gpas(&GPNS, 100, LEN);
    let mem = TestMemory::with_pattern(16, 23);
    let image = mem.bytes();
    mem.fail_at(R2.0);

    let mut rd = r.reader(&mem);
    let mut head = [0; 10];
    rd.read(&mut head).unwrap();
    assert_eq!(head[..], at(&image, &model[..10]));
    let mut rest = vec![0; LEN - 10];
    assert_eq!(rd.read(&mut rest), Err(failure(R1.1 - 10, R2.0)));
    assert_eq!(rd.len(), LEN - R1.1, "the reader stands at the failed run");
    assert_eq!(rd.remaining().len(), LEN - R1.1);
    assert_eq!(
        rd.remaining().ranges().next(),
        Some(Ok((5 * PU..7 * PU).into()))
    );
    // Still failing: nothing moves.
    assert_eq!(rd.read(&mut rest[..5]), Err(failure(0, R2.0)));
    assert_eq!(rd.len(), LEN - R1.1);

    mem.repair(R2.0);
    mem.take_calls();
    let mut next = [0; 16];
    rd.read(&mut next).unwrap();
    assert_eq!(
        mem.take_calls(),
        vec![call(Kind::Read, (R2.0, 16))],
        "the retry starts at the failed run"
    );
    assert_eq!(next[..], image[5 * P..5 * P + 16]);
    let tail = rd.read_all().unwrap();
    assert_eq!(tail, at(&image, &model[R1.1 + 16..]));
    assert!(rd.is_empty());
}

#[test]
fn range_writer_advances_by_done_and_resumes() {
    let r = window();
    let model = model_gpas(&GPNS, 100, LEN);
    let mem = TestMemory::new(16);
    mem.fail_at(R3.0);

    let mut w = r.writer(&mem);
    w.fill(0x11, 3).unwrap();
    let src = pattern(LEN - 3, 24);
    let done = R1.1 + R2.1 - 3;
    assert_eq!(w.write(&src), Err(failure(done, R3.0)));
    assert_eq!(w.len(), R3.1);
    assert_eq!(w.remaining().len(), R3.1);
    assert_eq!(w.zero(R3.1), Err(failure(0, R3.0)));
    assert_eq!(w.len(), R3.1);

    mem.repair(R3.0);
    mem.take_calls();
    w.write_plain(&0xdead_beef_u32).unwrap();
    assert_eq!(mem.take_calls(), vec![call(Kind::Write, (R3.0, 4))]);
    w.fill(0x22, R3.1 - 4).unwrap();
    assert!(w.is_empty());

    let mut want = vec![0; 16 * P];
    let bytes: Vec<u8> = [0x11; 3]
        .into_iter()
        .chain(src[..done].iter().copied())
        .chain(0xdead_beef_u32.to_ne_bytes())
        .chain(std::iter::repeat_n(0x22, R3.1 - 4))
        .collect();
    for (&g, &b) in model.iter().zip(&bytes) {
        want[g as usize] = b;
    }
    assert_eq!(mem.bytes(), want);
}

/// Member 0 is [`window`]; member 1 is one run over GPNs 12-13.
fn two_members() -> [PagedRange<'static>; 2] {
    static MORE: [u64; 2] = [12, 13];
    [window(), PagedRange::new(0, P + 50, &MORE).unwrap()]
}

#[test]
fn paged_ranges_failures_count_earlier_members() {
    let members = two_members();
    let buf = PagedRanges::new(members.iter().copied());
    let total = LEN + P + 50;
    assert_eq!(buf.len(), total);
    let mem = TestMemory::with_pattern(16, 25);

    // Failing at the first run of member 1: all of member 0 is done.
    mem.fail_at(12 * PU);
    let mut dst = vec![0; total];
    assert_eq!(buf.read(&mem, &mut dst), Err(failure(LEN, 12 * PU)));
    assert_eq!(buf.fill(&mem, 3, total), Err(failure(LEN, 12 * PU)));
    assert_eq!(buf.write(&mem, &dst), Err(failure(LEN, 12 * PU)));
    let calls = mem.take_calls();
    assert_eq!(calls.len(), 3 * 4);
    assert_eq!(calls[3], call(Kind::Read, (12 * PU, P + 50)));
    mem.repair(12 * PU);

    // Failing inside member 0 after a skip.
    let mut buf2 = buf.clone();
    buf2.skip(P);
    mem.fail_at(R2.0);
    assert_eq!(buf2.fill(&mem, 4, total - P), Err(failure(R1.1 - P, R2.0)));
    mem.repair(R2.0);
}

#[test]
fn paged_ranges_cursors_advance_by_done_and_resume() {
    let members = two_members();
    let buf = PagedRanges::new(members.iter().copied());
    let total = buf.len();
    let mem = TestMemory::with_pattern(16, 26);
    let image = mem.bytes();
    let mut model = model_gpas(&GPNS, 100, LEN);
    model.extend(model_gpas(&[12, 13], 0, P + 50));

    // Reader: fails at R2 after a skip, resumes there.
    mem.fail_at(R2.0);
    let mut rd = buf.reader(&mem);
    rd.skip(50).unwrap();
    let mut all = vec![0; total - 50];
    assert_eq!(rd.read(&mut all), Err(failure(R1.1 - 50, R2.0)));
    assert_eq!(all[..R1.1 - 50], at(&image, &model[50..R1.1]));
    assert_eq!(rd.len(), total - R1.1);
    mem.repair(R2.0);
    mem.take_calls();
    let resumed = rd.read_all().unwrap();
    assert_eq!(resumed, at(&image, &model[R1.1..]));
    assert_eq!(
        mem.take_calls(),
        vec![
            call(Kind::Read, R2),
            call(Kind::Read, R3),
            call(Kind::Read, (12 * PU, P + 50))
        ]
    );

    // Reader: fails at member 1's run in a read that started mid-member 0.
    mem.fail_at(12 * PU);
    let mut rd = buf.reader(&mem);
    rd.skip(LEN - 8).unwrap();
    let mut v = [0u8; 20];
    assert_eq!(rd.read(&mut v), Err(failure(8, 12 * PU)));
    assert_eq!(rd.len(), P + 50);
    assert_eq!(v[..8], at(&image, &model[LEN - 8..LEN]));
    mem.repair(12 * PU);
    let x: [u8; 12] = rd.read_plain().unwrap();
    assert_eq!(x[..], image[12 * P..12 * P + 12]);

    // Writer: fills fail at member 1, resume there.
    mem.fail_at(12 * PU);
    mem.take_calls();
    let mut w = buf.writer(&mem);
    assert_eq!(w.fill(0x9a, total), Err(failure(LEN, 12 * PU)));
    assert_eq!(w.len(), P + 50);
    assert_eq!(w.write(&[1, 2, 3]), Err(failure(0, 12 * PU)));
    assert_eq!(w.len(), P + 50);
    mem.repair(12 * PU);
    w.write(&[1, 2, 3]).unwrap();
    w.zero(P + 47).unwrap();
    assert!(w.is_empty());
    let after = mem.bytes();
    assert!(model[..LEN].iter().all(|&g| after[g as usize] == 0x9a));
    assert_eq!(after[12 * P..12 * P + 3], [1, 2, 3]);
    assert!(after[12 * P + 3..13 * P + 50].iter().all(|&b| b == 0));
    assert_eq!(after[13 * P + 50..], image[13 * P + 50..]);
}

#[test]
fn out_of_range_moves_nothing() {
    let members = two_members();
    let buf = PagedRanges::new(members.iter().copied());
    let r = window();
    let mem = TestMemory::with_pattern(16, 27);
    let image = mem.bytes();
    // Even with a failing backend, an oversized request never reaches it.
    mem.fail_at(R1.0);

    let mut rd = r.reader(&mem);
    let mut big = vec![0xee; LEN + 1];
    assert_eq!(rd.read(&mut big), Err(refused(LEN + 1, LEN)));
    assert_eq!(rd.skip(LEN + 1), Err(refused(LEN + 1, LEN)));
    assert_eq!(rd.len(), LEN);
    assert!(big.iter().all(|&b| b == 0xee));
    let mut w = r.writer(&mem);
    assert_eq!(w.write(&big), Err(refused(LEN + 1, LEN)));
    assert_eq!(w.fill(1, LEN + 1), Err(refused(LEN + 1, LEN)));
    assert_eq!(w.len(), LEN);

    let total = buf.len();
    let mut rd = buf.reader(&mem);
    rd.skip(7).unwrap();
    let mut big = vec![0xee; total - 6];
    assert_eq!(rd.read(&mut big), Err(refused(total - 6, total - 7)));
    assert_eq!(rd.skip(total - 6), Err(refused(total - 6, total - 7)));
    assert_eq!(rd.len(), total - 7);
    // A request that fits still works (the backend only fails at R1's start).
    let v: [u8; 4] = rd.read_plain().unwrap();
    assert_eq!(v[..], image[P + 107..P + 111]);
    assert_eq!(rd.len(), total - 11);
    let mut w = buf.writer(&mem);
    assert_eq!(w.write(&vec![0; total + 1]), Err(refused(total + 1, total)));
    assert_eq!(w.zero(total + 1), Err(refused(total + 1, total)));
    assert_eq!(w.len(), total);

    // Only the one plain read above reached the backend.
    assert_eq!(mem.take_calls(), vec![call(Kind::Read, (R1.0 + 7, 4))]);
    assert_eq!(mem.bytes(), image);
}

#[test]
fn plain_values_cross_page_boundaries() {
    // Page boundaries fall at logical bytes 3, P + 3 and 2P + 3, between
    // non-adjacent pages.
    let gpns = [3, 10, 4, 20];
    let r = PagedRange::new(P - 3, 3 * P, &gpns).unwrap();
    assert_eq!(r.ranges().count(), 4);
    let mem = TestMemory::new(32);

    let a = 0x0102_0304_u32;
    let b: [u8; 6] = *b"abcdef";
    let c = 0x1122_3344_5566_7788_u64;
    let mut w = r.writer(&mem);
    w.write_plain(&a).unwrap();
    w.zero(P - 4).unwrap();
    w.write_plain(&b).unwrap(); // logical P .. P + 6
    w.zero(P - 7).unwrap();
    w.write_plain(&c).unwrap(); // logical 2P - 1 .. 2P + 7
    assert_eq!(w.len(), 3 * P - (2 * P + 7));
    let calls = mem.take_calls();
    assert_eq!(calls[0], call(Kind::Write, (4 * PU - 3, 3)));
    assert_eq!(calls[1], call(Kind::Write, (10 * PU, 1)));

    let m = mem.bytes();
    let a_bytes: Vec<u8> = m[4 * P - 3..4 * P]
        .iter()
        .chain(&m[10 * P..10 * P + 1])
        .copied()
        .collect();
    assert_eq!(a_bytes, a.to_ne_bytes());
    let b_bytes: Vec<u8> = m[11 * P - 3..11 * P]
        .iter()
        .chain(&m[4 * P..4 * P + 3])
        .copied()
        .collect();
    assert_eq!(b_bytes, b);
    let c_bytes: Vec<u8> = m[5 * P - 4..5 * P]
        .iter()
        .chain(&m[20 * P..20 * P + 4])
        .copied()
        .collect();
    assert_eq!(c_bytes, c.to_ne_bytes());

    let mut rd = r.reader(&mem);
    assert_eq!(rd.read_plain::<u32>(), Ok(a));
    rd.skip(P - 4).unwrap();
    assert_eq!(rd.read_plain::<[u8; 6]>(), Ok(b));
    rd.skip(P - 7).unwrap();
    assert_eq!(rd.read_plain::<u64>(), Ok(c));
    assert_eq!(rd.len(), P - 7);
    // Reading a value longer than what is left fails and moves nothing.
    let mut rd = r.reader(&mem);
    rd.skip(3 * P - 7).unwrap();
    assert_eq!(rd.read_plain::<u64>(), Err(refused(8, 7)));
    assert_eq!(rd.len(), 7);

    // Across two members that do not meet on a page boundary.
    let (p, q) = ([7], [30]);
    let members = [
        PagedRange::new(100, 5, &p).unwrap(),
        PagedRange::new(2000, 100, &q).unwrap(),
    ];
    let buf = PagedRanges::new(members.iter().copied());
    let mut w = buf.writer(&mem);
    w.write_plain(&c).unwrap();
    w.write_plain(&[0xaaaa_u16, 0xbbbb, 0xcccc]).unwrap();
    let m = mem.bytes();
    assert_eq!(m[7 * P + 100..7 * P + 105], c.to_ne_bytes()[..5]);
    assert_eq!(m[30 * P + 2000..30 * P + 2003], c.to_ne_bytes()[5..]);
    let mut rd = buf.reader(&mem);
    assert_eq!(rd.read_plain::<u64>(), Ok(c));
    assert_eq!(rd.read_plain::<[u16; 3]>(), Ok([0xaaaa, 0xbbbb, 0xcccc]));
    assert_eq!(rd.len(), 105 - 14);
    let mut rd = buf.reader(&mem);
    let wide: [u8; 16] = rd.read_plain::<u128>().unwrap().to_ne_bytes();
    let mut want = c.to_ne_bytes().to_vec();
    for v in [0xaaaa_u16, 0xbbbb, 0xcccc] {
        want.extend(v.to_ne_bytes());
    }
    want.extend([0, 0]);
    assert_eq!(wide[..], want[..]);
}
