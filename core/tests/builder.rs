//! Property tests of [`RangesBuilder`]: the buffer it builds reads the same
//! bytes as the segments read one by one, its windows are as few as the
//! joining rules allow, and its limits refuse exactly the segments that
//! would break them, naming the right segment and adding nothing.

use std::sync::OnceLock;

use pagedrange::{
    BufferMemory, BuilderError, BuilderLimits, GuestMemory, MemoryRead, PagedRange, RangesBuilder,
    PAGE_SIZE,
};
use proptest::prelude::*;

const P: u64 = PAGE_SIZE as u64;
/// Guest RAM the segments lie in.
const PAGES: u64 = 64;

/// Guest RAM holding a pattern, shared by every case (it is only read).
fn memory() -> &'static BufferMemory {
    static MEM: OnceLock<BufferMemory> = OnceLock::new();
    MEM.get_or_init(|| {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let bytes = (0..PAGES * P)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 40) as u8
            })
            .collect();
        BufferMemory::from_vec(bytes)
    })
}

/// The bytes of segments read one by one, straight from memory.
fn expected(segments: &[(u64, u64)]) -> Vec<u8> {
    let mem = memory();
    let mut out = Vec::new();
    for &(gpa, len) in segments {
        let mut buf = vec![0u8; len as usize];
        mem.read(gpa, &mut buf).unwrap();
        out.extend_from_slice(&buf);
    }
    out
}

/// First and end (exclusive) guest address of a window.
fn bounds(w: &PagedRange<'_>) -> (u64, u64) {
    let runs: Vec<_> = w.ranges().collect::<Result<_, _>>().unwrap();
    (runs[0].start, runs[runs.len() - 1].end)
}

/// A segment shape, turned into `(gpa, len)` knowing where the previous
/// segment ended.
#[derive(Clone, Copy, Debug)]
enum Shape {
    /// Any address, any length.
    Unaligned(u64, u64),
    /// Starts on a page boundary.
    Aligned(u64, u64),
    /// Whole pages.
    Pages(u64, u64),
    /// Starts exactly where the previous segment ended.
    Contiguous(u64),
    /// Ends on a page boundary.
    EndsAligned(u64),
    /// No bytes.
    Empty(u64),
    /// `gpa + len` reaches 2^64 (only for the limits test).
    Overflow(u64, u64),
}

fn shape(with_overflow: bool) -> impl Strategy<Value = Shape> {
    let max = (PAGES - 4) * P;
    let mut options = vec![
        (
            3,
            (0..max, 1..3 * P)
                .prop_map(|(g, l)| Shape::Unaligned(g, l))
                .boxed(),
        ),
        (
            2,
            (0..PAGES - 4, 1..3 * P)
                .prop_map(|(g, l)| Shape::Aligned(g * P, l))
                .boxed(),
        ),
        (
            2,
            (0..PAGES - 4, 1..4u64)
                .prop_map(|(g, n)| Shape::Pages(g * P, n * P))
                .boxed(),
        ),
        (3, (1..2 * P).prop_map(Shape::Contiguous).boxed()),
        (2, (0..max).prop_map(Shape::EndsAligned).boxed()),
        (1, (0..max).prop_map(Shape::Empty).boxed()),
    ];
    if with_overflow {
        options.push((
            1,
            (0..P, 0..100u64)
                .prop_map(|(a, b)| Shape::Overflow(u64::MAX - a, a + 1 + b))
                .boxed(),
        ));
    }
    proptest::strategy::Union::new_weighted(options)
}

/// Concrete segments from shapes; every segment but `Overflow` lies in
/// guest RAM.
fn segments(shapes: &[Shape]) -> Vec<(u64, u64)> {
    let limit = PAGES * P;
    let mut prev_end = 0u64;
    let mut out = Vec::new();
    for &s in shapes {
        let (gpa, len) = match s {
            Shape::Unaligned(g, l) | Shape::Aligned(g, l) | Shape::Pages(g, l) => (g, l),
            Shape::Contiguous(l) => (prev_end, l.min(limit - prev_end)),
            Shape::EndsAligned(g) => (g, (g / P + 1) * P - g),
            Shape::Empty(g) => (g, 0),
            Shape::Overflow(g, l) => {
                out.push((g, l));
                continue;
            }
        };
        assert!(gpa + len <= limit);
        out.push((gpa, len));
        prev_end = gpa + len;
    }
    out
}

const UNLIMITED: BuilderLimits = BuilderLimits {
    max_windows: usize::MAX,
    max_pages: usize::MAX,
    max_bytes: u64::MAX,
};

/// Everything observable about a builder's result.
fn state(b: &RangesBuilder) -> (Vec<u64>, Vec<(usize, usize)>, u64) {
    let windows = b.windows().map(|w| (w.parts().0, w.len())).collect();
    (b.gpns().to_vec(), windows, b.len())
}

fn check_result(b: &RangesBuilder, segs: &[(u64, u64)]) -> Result<(), TestCaseError> {
    let want = expected(segs);
    let total: u64 = segs.iter().map(|s| s.1).sum();
    prop_assert_eq!(b.len(), total);
    prop_assert_eq!(b.is_empty(), total == 0);
    let ranges = b.ranges();
    prop_assert_eq!(ranges.len() as u64, total);
    let got = ranges.reader(memory()).read_all().unwrap();
    prop_assert!(
        got == want,
        "the buffer reads other bytes than the segments"
    );

    let windows: Vec<_> = b.windows().collect();
    prop_assert_eq!(windows.len(), b.window_count());
    let nonempty = segs.iter().filter(|s| s.1 > 0).count();
    prop_assert!(windows.len() <= nonempty);
    let mut at = 0usize;
    for (i, w) in windows.iter().enumerate() {
        prop_assert!(!w.is_empty(), "window {} is empty", i);
        prop_assert_eq!(Some(*w), b.window(i));
        let mut buf = vec![0u8; w.len()];
        w.read(memory(), &mut buf).unwrap();
        prop_assert!(buf[..] == want[at..at + w.len()], "window {} bytes", i);
        at += w.len();
    }
    prop_assert!(b.window(windows.len()).is_none());
    for (i, pair) in windows.windows(2).enumerate() {
        let (_, end) = bounds(&pair[0]);
        let (start, _) = bounds(&pair[1]);
        prop_assert!(
            !(end % P == 0 && start % P == 0),
            "windows {} and {} meet on page boundaries ({:#x}, {:#x}) and could be one",
            i,
            i + 1,
            end,
            start
        );
        prop_assert!(
            end != start,
            "windows {} and {} are contiguous at {:#x} and could be one",
            i,
            i + 1,
            end
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 4 } else { 256 }))]

    #[test]
    #[cfg_attr(miri, ignore)]
    fn reads_like_the_segments_with_fewest_windows(
        shapes in proptest::collection::vec(shape(false), 0..24)
    ) {
        let segs = segments(&shapes);
        let mut b = RangesBuilder::with_limits(UNLIMITED);
        for &(gpa, len) in &segs {
            b.push(gpa, len).unwrap();
        }
        check_result(&b, &segs)?;

        // Cleared and rebuilt, the builder gives the same result.
        let before = state(&b);
        b.clear();
        prop_assert!(b.is_empty());
        prop_assert_eq!(b.window_count(), 0);
        prop_assert!(b.gpns().is_empty());
        for &(gpa, len) in &segs {
            b.push(gpa, len).unwrap();
        }
        prop_assert_eq!(state(&b), before);
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn limits_refuse_the_right_segment_and_add_nothing(
        shapes in proptest::collection::vec(shape(true), 0..24),
        max_windows in 0usize..6,
        max_pages in 0usize..14,
        max_bytes in 0u64..8 * P,
    ) {
        let segs = segments(&shapes);
        let limits = BuilderLimits { max_windows, max_pages, max_bytes };
        let mut limited = RangesBuilder::with_limits(limits);
        prop_assert_eq!(limited.limits(), limits);
        // The same segments, pushed without limits when `limited` accepts
        // them.
        let mut shadow = RangesBuilder::with_limits(UNLIMITED);
        let mut accepted = Vec::new();
        for (index, &(gpa, len)) in segs.iter().enumerate() {
            let before = state(&limited);
            let result = limited.push(gpa, len);
            let mut trial = shadow.clone();
            if let Err(e) = trial.push(gpa, len) {
                let is_overflow = matches!(e, BuilderError::Overflow { .. });
                prop_assert!(is_overflow, "unlimited push failed with {:?}", e);
                prop_assert_eq!(result, Err(BuilderError::Overflow { index, gpa, len }));
                prop_assert_eq!(state(&limited), before);
                continue;
            }
            let windows = trial.window_count() > max_windows;
            let pages = trial.gpns().len() > max_pages;
            let bytes = trial.len() > max_bytes;
            match result {
                Ok(()) => {
                    prop_assert!(
                        !windows && !pages && !bytes,
                        "segment {} accepted beyond a limit", index
                    );
                    prop_assert_eq!(state(&limited), state(&trial));
                    shadow = trial;
                    accepted.push((gpa, len));
                }
                Err(e) => {
                    prop_assert_eq!(e.index(), index);
                    let justified = match e {
                        BuilderError::TooManyWindows { max, .. } => windows && max == max_windows,
                        BuilderError::TooManyPages { max, .. } => pages && max == max_pages,
                        BuilderError::TooManyBytes { max, .. } => bytes && max == max_bytes,
                        _ => false,
                    };
                    prop_assert!(justified, "segment {} refused with {:?}", index, e);
                    prop_assert_eq!(state(&limited), before, "a refused segment added something");
                }
            }
        }
        prop_assert!(limited.window_count() <= max_windows);
        prop_assert!(limited.gpns().len() <= max_pages);
        prop_assert!(limited.len() <= max_bytes);
        check_result(&limited, &accepted)?;
    }
}

#[test]
fn joining_rules_on_fixed_chains() {
    let cases: &[(&[(u64, u64)], usize)] = &[
        // Exactly contiguous, mid-page, across many pages: one window.
        (&[(0x1010, 0x20), (0x1030, 0x3000), (0x4030, 0x1)], 1),
        // Page boundary to page boundary, with a gap in guest memory.
        (&[(0x1f00, 0x100), (0x9000, 0x2000), (0x3000, 0x10)], 1),
        // Zero-length segments in between change nothing.
        (&[(0x1000, 0x1000), (0x5555, 0), (0x8000, 0x800)], 1),
        // Ends mid-page, next starts elsewhere: two windows.
        (&[(0x1000, 0x800), (0x3000, 0x800)], 2),
        // Ends on a boundary, next starts mid-page: two windows.
        (&[(0x1000, 0x1000), (0x3008, 0x8)], 2),
        // Same page twice, not contiguous: two windows sharing nothing.
        (&[(0x2000, 0x10), (0x2000, 0x10)], 2),
        // Nothing at all.
        (&[(0x2000, 0)], 0),
    ];
    for &(segs, windows) in cases {
        let mut b = RangesBuilder::new();
        for &(gpa, len) in segs {
            b.push(gpa, len).unwrap();
        }
        assert_eq!(b.window_count(), windows, "{segs:x?}");
        check_result(&b, segs).unwrap();
    }
}

#[test]
fn a_refused_segment_still_counts_for_later_indices() {
    let mut b = RangesBuilder::with_limits(BuilderLimits {
        max_windows: 1,
        max_pages: 2,
        max_bytes: 100,
    });
    b.push(0x1000, 10).unwrap();
    assert_eq!(
        b.push(0x5000, 10),
        Err(BuilderError::TooManyWindows { index: 1, max: 1 })
    );
    b.push(0x6000, 0).unwrap();
    assert_eq!(
        b.push(0x100a, 100),
        Err(BuilderError::TooManyBytes { index: 3, max: 100 })
    );
    b.push(0x100a, 20).unwrap();
    assert_eq!(
        b.push(u64::MAX, 1),
        Err(BuilderError::Overflow {
            index: 5,
            gpa: u64::MAX,
            len: 1
        })
    );
    check_result(&b, &[(0x1000, 10), (0x100a, 20)]).unwrap();
}
