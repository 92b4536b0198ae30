//! `limit` on range and buffer readers and writers: the cursor it returns
//! covers exactly the next `n` bytes, the parent continues after them, and
//! asking for more than remains is [`TransferError::OutOfRange`] with
//! nothing moved.

use std::sync::OnceLock;

use pagedrange::{
    BufferMemory, GuestMemory, MemoryRead, MemoryWrite, OutOfRange, PagedRange, PagedRangeReader,
    PagedRangeWriter, PagedRanges, PagedRangesReader, PagedRangesWriter, TransferError, PAGE_SIZE,
};
use proptest::prelude::*;

const P: usize = PAGE_SIZE;
const PAGES: usize = 32;

fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

/// Guest RAM holding a pattern, for readers (never written).
fn ram() -> &'static BufferMemory {
    static MEM: OnceLock<BufferMemory> = OnceLock::new();
    MEM.get_or_init(|| BufferMemory::from_vec(pattern(PAGES * P, 7)))
}

fn out_of_range(len: usize, available: usize) -> TransferError {
    TransferError::OutOfRange(OutOfRange {
        offset: 0,
        len,
        available,
    })
}

/// The guest bytes of a window, read straight from memory one byte at a
/// time.
fn model_bytes(mem: &BufferMemory, gpns: &[u64], offset: usize, len: usize) -> Vec<u8> {
    let all = mem.to_vec();
    (offset..offset + len)
        .map(|i| all[gpns[i / P] as usize * P + i % P])
        .collect()
}

// ---------------------------------------------------------------------------
// One cursor interface over the four cursor types.

trait Reader: MemoryRead + Sized {
    fn limit_(&mut self, n: usize) -> Result<Self, TransferError>;
}

impl<M: GuestMemory + ?Sized> Reader for PagedRangeReader<'_, '_, M> {
    fn limit_(&mut self, n: usize) -> Result<Self, TransferError> {
        self.limit(n)
    }
}

impl<'a, T, M> Reader for PagedRangesReader<'a, '_, T, M>
where
    T: Iterator<Item = PagedRange<'a>> + Clone,
    M: GuestMemory + ?Sized,
{
    fn limit_(&mut self, n: usize) -> Result<Self, TransferError> {
        self.limit(n)
    }
}

trait Writer: MemoryWrite + Sized {
    fn limit_(&mut self, n: usize) -> Result<Self, TransferError>;
}

impl<M: GuestMemory + ?Sized> Writer for PagedRangeWriter<'_, '_, M> {
    fn limit_(&mut self, n: usize) -> Result<Self, TransferError> {
        self.limit(n)
    }
}

impl<'a, T, M> Writer for PagedRangesWriter<'a, '_, T, M>
where
    T: Iterator<Item = PagedRange<'a>> + Clone,
    M: GuestMemory + ?Sized,
{
    fn limit_(&mut self, n: usize) -> Result<Self, TransferError> {
        self.limit(n)
    }
}

// ---------------------------------------------------------------------------
// Fixed cases.

/// Splits a reader three ways and checks every part, in an order where the
/// parent runs ahead of the parts split off it.
fn check_reader_split<R: Reader>(mut r: R, want: &[u8]) {
    let total = want.len();
    assert!(total > 300);
    let mut head = [0u8; 10];
    r.read(&mut head).unwrap();
    assert_eq!(head, want[..10]);

    let mut data = r.limit_(200).unwrap();
    assert_eq!(data.len(), 200);
    assert_eq!(r.len(), total - 210, "the parent moved past the limit");

    // Too long, for the parent and for the part: nothing moves.
    assert_eq!(
        r.limit_(total - 209).err(),
        Some(out_of_range(total - 209, total - 210))
    );
    assert_eq!(data.limit_(201).err(), Some(out_of_range(201, 200)));
    assert_eq!(r.len(), total - 210);
    assert_eq!(data.len(), 200);

    // The parent reads on first; the part is unaffected.
    let mut next = [0u8; 5];
    r.read(&mut next).unwrap();
    assert_eq!(next, want[210..215]);

    // A limit of a limit, then the rest of the part.
    let mut inner = data.limit_(50).unwrap();
    assert_eq!(data.len(), 150);
    let mut first = vec![0u8; 50];
    inner.read(&mut first).unwrap();
    assert_eq!(first, want[10..60]);
    assert_eq!(inner.read(&mut [0]).unwrap_err(), out_of_range(1, 0));
    let mut rest = vec![0u8; 151];
    assert_eq!(data.read(&mut rest).unwrap_err(), out_of_range(151, 150));
    data.read(&mut rest[..150]).unwrap();
    assert_eq!(rest[..150], want[60..210]);
    assert!(data.is_empty());

    // Zero bytes, then everything that is left.
    let empty = r.limit_(0).unwrap();
    assert!(empty.is_empty());
    let left = r.len();
    let mut all = r.limit_(left).unwrap();
    assert!(r.is_empty());
    assert_eq!(r.skip(1).unwrap_err(), out_of_range(1, 0));
    let mut tail = vec![0u8; left];
    all.read(&mut tail).unwrap();
    assert_eq!(tail, want[215..]);
}

#[test]
fn range_reader_limits() {
    let gpns = [3, 4, 17, 9, 10, 2];
    let window = PagedRange::new(700, 4 * P + 11, &gpns).unwrap();
    let want = model_bytes(ram(), &gpns, 700, 4 * P + 11);
    check_reader_split(window.reader(ram()), &want);
}

#[test]
fn ranges_reader_limits_across_windows() {
    let gpns = [3, 4, 17, 9, 10, 2];
    // Windows of 150, 0, 60 and 2 pages + 1 bytes: the 200-byte limit after
    // 10 bytes ends exactly at the end of the third window, the nested one
    // (50 bytes) inside the first.
    let parts = [(100, 150), (0, 0), (2 * P + 5, 60), (3 * P, 2 * P + 1)];
    let windows: Vec<_> = parts
        .iter()
        .map(|&(o, l)| PagedRange::new(o, l, &gpns).unwrap())
        .collect();
    let want: Vec<u8> = parts
        .iter()
        .flat_map(|&(o, l)| model_bytes(ram(), &gpns, o, l))
        .collect();
    let rs = PagedRanges::new(windows.iter().copied());
    check_reader_split(rs.reader(ram()), &want);

    // A limit ending exactly at a window boundary.
    let mut r = rs.reader(ram());
    let mut first = r.limit(150).unwrap();
    assert_eq!(first.read_all().unwrap(), want[..150]);
    assert_eq!(r.read_all().unwrap(), want[150..]);
}

/// A limited writer writes only its own bytes; too long writes nothing.
fn check_writer_split<W: Writer>(mut w: W, mem: &BufferMemory, gpas: &[usize], before: &[u8]) {
    let total = gpas.len();
    let mut part = w.limit_(100).unwrap();
    assert_eq!((part.len(), w.len()), (100, total - 100));
    assert_eq!(part.write(&[1; 101]).unwrap_err(), out_of_range(101, 100));
    assert_eq!(part.fill(1, 101).unwrap_err(), out_of_range(101, 100));
    assert_eq!(
        w.limit_(total).err(),
        Some(out_of_range(total, total - 100))
    );
    assert_eq!(mem.to_vec(), before, "refused writes wrote nothing");

    w.fill(2, 20).unwrap(); // the parent first
    part.write(&[1; 60]).unwrap();
    let mut inner = part.limit_(30).unwrap();
    inner.fill(3, 30).unwrap();
    assert_eq!(inner.fill(3, 1).unwrap_err(), out_of_range(1, 0));
    part.fill(4, 10).unwrap();
    assert!(part.is_empty());
    w.fill(5, total - 120).unwrap();

    let after = mem.to_vec();
    let mut expected = before.to_vec();
    for (i, &g) in gpas.iter().enumerate() {
        expected[g] = match i {
            0..60 => 1,
            60..90 => 3,
            90..100 => 4,
            100..120 => 2,
            _ => 5,
        };
    }
    assert_eq!(after, expected);
}

#[test]
fn range_writer_limits() {
    let mem = BufferMemory::from_vec(pattern(PAGES * P, 1));
    let before = mem.to_vec();
    let gpns = [8, 9, 1];
    let gpas: Vec<usize> = (P - 40..P + 300)
        .map(|i| gpns[i / P] as usize * P + i % P)
        .collect();
    let window = PagedRange::new(P - 40, 340, &gpns).unwrap();
    check_writer_split(window.writer(&mem), &mem, &gpas, &before);
}

#[test]
fn ranges_writer_limits() {
    let mem = BufferMemory::from_vec(pattern(PAGES * P, 2));
    let before = mem.to_vec();
    let gpns = [8, 9, 1, 30];
    let parts = [(P - 40, 70), (0, 0), (3 * P + 5, 25), (2 * P, 300)];
    let windows: Vec<_> = parts
        .iter()
        .map(|&(o, l)| PagedRange::new(o, l, &gpns).unwrap())
        .collect();
    let gpas: Vec<usize> = parts
        .iter()
        .flat_map(|&(o, l)| (o..o + l).map(|i| gpns[i / P] as usize * P + i % P))
        .collect();
    let rs = PagedRanges::new(windows.iter().copied());
    check_writer_split(rs.writer(&mem), &mem, &gpas, &before);
}

// ---------------------------------------------------------------------------
// Property test: a stack of cursors, each limited from the one below,
// against a model of positions.

#[derive(Clone, Copy, Debug)]
enum Amount {
    /// A share of what remains (in 1/256ths).
    Part(u8),
    /// Everything that remains.
    All,
    /// More than remains.
    Beyond(usize),
}

impl Amount {
    fn of(self, remaining: usize) -> usize {
        match self {
            Amount::Part(k) => remaining * usize::from(k) / 256,
            Amount::All => remaining,
            Amount::Beyond(k) => remaining + k,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Op {
    /// Read (or write) on the top cursor.
    Transfer(Amount),
    /// Skip (readers) or fill (writers) on the top cursor.
    Skip(Amount),
    /// Limit the top cursor and push the result.
    Limit(Amount),
    /// Drop the top cursor (unless it is the root).
    Pop,
}

fn amount() -> impl Strategy<Value = Amount> {
    prop_oneof![
        6 => any::<u8>().prop_map(Amount::Part),
        1 => Just(Amount::All),
        2 => (1..3 * P).prop_map(Amount::Beyond),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => amount().prop_map(Op::Transfer),
        2 => amount().prop_map(Op::Skip),
        3 => amount().prop_map(Op::Limit),
        1 => Just(Op::Pop),
    ]
}

/// Windows `(offset, len)` over a shared random GPN list.
fn layout() -> impl Strategy<Value = (Vec<u64>, Vec<(usize, usize)>)> {
    proptest::collection::vec(0..PAGES as u64, 1..6).prop_flat_map(|gpns| {
        let room = gpns.len() * P;
        let window = (0..room).prop_flat_map(move |o| (Just(o), 0..=room - o));
        (Just(gpns), proptest::collection::vec(window, 1..4))
    })
}

/// Bytes (as memory indices) of each window, concatenated.
fn flat(gpns: &[u64], windows: &[(usize, usize)]) -> Vec<usize> {
    windows
        .iter()
        .flat_map(|&(o, l)| (o..o + l).map(|i| gpns[i / P] as usize * P + i % P))
        .collect()
}

fn drive_readers<R: Reader>(root: R, want: &[u8], ops: &[Op]) -> Result<(), TestCaseError> {
    // Cursors and their model: (position, end) in the buffer.
    let mut stack = vec![(root, 0usize, want.len())];
    for (k, &op) in ops.iter().enumerate() {
        let depth = stack.len();
        let (cur, pos, end) = stack.last_mut().unwrap();
        let remaining = *end - *pos;
        prop_assert_eq!(cur.len(), remaining, "op {}", k);
        match op {
            Op::Transfer(a) => {
                let n = a.of(remaining);
                let mut buf = vec![0u8; n];
                match cur.read(&mut buf) {
                    Ok(()) => {
                        prop_assert!(n <= remaining);
                        prop_assert!(buf[..] == want[*pos..*pos + n], "op {}: bytes", k);
                        *pos += n;
                    }
                    Err(e) => {
                        prop_assert!(n > remaining);
                        prop_assert_eq!(e, out_of_range(n, remaining));
                    }
                }
            }
            Op::Skip(a) => {
                let n = a.of(remaining);
                match cur.skip(n) {
                    Ok(()) => *pos += n,
                    Err(e) => prop_assert_eq!(e, out_of_range(n, remaining)),
                }
            }
            Op::Limit(a) => {
                let n = a.of(remaining);
                match cur.limit_(n) {
                    Ok(child) => {
                        prop_assert!(n <= remaining);
                        let start = *pos;
                        *pos += n;
                        prop_assert_eq!(cur.len(), remaining - n);
                        stack.push((child, start, start + n));
                    }
                    Err(e) => prop_assert_eq!(e, out_of_range(n, remaining)),
                }
            }
            Op::Pop => {
                if depth > 1 {
                    stack.pop();
                }
            }
        }
    }
    // Every cursor left reads exactly its own bytes.
    while let Some((mut cur, pos, end)) = stack.pop() {
        let rest = cur.read_all().unwrap();
        prop_assert!(rest[..] == want[pos..end]);
    }
    Ok(())
}

fn drive_writers<W: Writer>(
    root: W,
    gpas: &[usize],
    model: &mut [u8],
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let mut stack = vec![(root, 0usize, gpas.len())];
    for (k, &op) in ops.iter().enumerate() {
        let depth = stack.len();
        let (cur, pos, end) = stack.last_mut().unwrap();
        let remaining = *end - *pos;
        prop_assert_eq!(cur.len(), remaining, "op {}", k);
        match op {
            Op::Transfer(a) | Op::Skip(a) => {
                let n = a.of(remaining);
                let value = k as u8;
                let data: Vec<u8> = (0..n).map(|i| (i as u8) ^ value).collect();
                let result = if matches!(op, Op::Transfer(_)) {
                    cur.write(&data)
                } else {
                    cur.fill(value, n)
                };
                match result {
                    Ok(()) => {
                        prop_assert!(n <= remaining);
                        for i in 0..n {
                            model[gpas[*pos + i]] = if matches!(op, Op::Transfer(_)) {
                                data[i]
                            } else {
                                value
                            };
                        }
                        *pos += n;
                    }
                    Err(e) => {
                        prop_assert!(n > remaining);
                        prop_assert_eq!(e, out_of_range(n, remaining));
                    }
                }
            }
            Op::Limit(a) => {
                let n = a.of(remaining);
                match cur.limit_(n) {
                    Ok(child) => {
                        prop_assert!(n <= remaining);
                        let start = *pos;
                        *pos += n;
                        stack.push((child, start, start + n));
                    }
                    Err(e) => prop_assert_eq!(e, out_of_range(n, remaining)),
                }
            }
            Op::Pop => {
                if depth > 1 {
                    stack.pop();
                }
            }
        }
    }
    // Every cursor left fills exactly its own bytes.
    while let Some((mut cur, pos, end)) = stack.pop() {
        prop_assert_eq!(cur.len(), end - pos);
        cur.fill(0xfe, end - pos).unwrap();
        for &g in &gpas[pos..end] {
            model[g] = 0xfe;
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 4 } else { 256 }))]

    #[test]
    #[cfg_attr(miri, ignore)]
    fn readers_follow_the_model(
        (gpns, windows) in layout(),
        ops in proptest::collection::vec(op(), 0..24),
    ) {
        let bytes: Vec<u8> = {
            let all = ram().to_vec();
            flat(&gpns, &windows).into_iter().map(|g| all[g]).collect()
        };
        let ranges: Vec<_> = windows
            .iter()
            .map(|&(o, l)| PagedRange::new(o, l, &gpns).unwrap())
            .collect();
        let (o, l) = windows[0];
        drive_readers(ranges[0].reader(ram()), &bytes[..l], &ops)?;
        prop_assert_eq!(ranges[0].parts().0, o);
        let rs = PagedRanges::new(ranges.iter().copied());
        drive_readers(rs.reader(ram()), &bytes, &ops)?;
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn writers_follow_the_model(
        (gpns, windows) in layout(),
        ops in proptest::collection::vec(op(), 0..24),
    ) {
        let gpas = flat(&gpns, &windows);
        let ranges: Vec<_> = windows
            .iter()
            .map(|&(o, l)| PagedRange::new(o, l, &gpns).unwrap())
            .collect();

        let mem = BufferMemory::new(PAGES * P);
        let mut model = vec![0u8; PAGES * P];
        drive_writers(ranges[0].writer(&mem), &gpas[..windows[0].1], &mut model, &ops)?;
        prop_assert!(mem.to_vec() == model, "range writer: memory differs");

        let mem = BufferMemory::new(PAGES * P);
        let mut model = vec![0u8; PAGES * P];
        let rs = PagedRanges::new(ranges.iter().copied());
        drive_writers(rs.writer(&mem), &gpas, &mut model, &ops)?;
        prop_assert!(mem.to_vec() == model, "buffer writer: memory differs");
    }
}
