//! `builder`: RangesBuilder against an independent byte-by-byte model.
//!
//! The model never restates the builder's joining rule. It keeps the
//! accepted segments, whose concatenated byte GPAs are the buffer, and
//! derives everything from those bytes and from what a window is: a list of
//! pages of which only the first and the last may be partial (flat byte `f`
//! of a window is at `gpns[f / 4096] * 4096 + f % 4096`). So two consecutive
//! bytes `p`, `b` can be in one window iff `b == p + 1`, or `p` ends a page
//! and `b` starts one. Checked after pushes, clears, refills and clones:
//!
//! 1. the windows' bytes, computed from their pages and again from their
//!    runs, in order, are the accepted segments' bytes;
//! 2. the builder cuts the bytes into windows exactly where two consecutive
//!    bytes cannot continue a window: every window is valid (also: its
//!    runs after the first start on a page boundary, its runs before the
//!    last end on one) and no two consecutive windows could be one;
//! 3. the page list holds exactly the page slots the windows' bytes need
//!    (one per window, plus one per later byte starting a page), window
//!    after window;
//! 4. a push is refused exactly when the model, appending the segment to
//!    its own summary (bytes, windows, pages, by the same byte rule),
//!    breaks a limit or the address space, the error naming a broken rule
//!    and the segment's index; a refused push changes nothing;
//! 5. reading and writing through the result (whole, through chunked
//!    cursors, through copied lists) equals doing it segment by segment on
//!    a BufferMemory.
//!
//! Bytes are compared a stretch at a time: a stretch ends wherever any side
//! (the segments, the window's pages, its runs) jumps, so within it every
//! byte is the one before plus one on every side and its first bytes stand
//! for all of them; this is exact and costs nothing per byte. On top, up to
//! 16 KiB per run (the buffer at clears, at IO steps and at the end, while
//! they fit) are also expanded literally, byte by byte, as a check of the
//! stretch walk.

#![no_main]

use std::sync::Arc;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use pagedrange::{
    Buffer, BufferMemory, BuilderError, BuilderLimits, GuestMemory, MemoryRead, MemoryWrite,
    PagedRange, RangesBuilder, WindowList, MAX_GPN,
};
use pagedrange_fuzz::*;

/// Guest memory for the IO checks: 8 pages at GPA 0.
const MEM: usize = 8 * P;
/// Pages small GPAs are picked in: the memory and two pages past it.
const LOW_PAGES: u64 = 10;
/// Bytes expanded literally per run.
const LITERAL_BUDGET: u64 = 16 * 1024;
/// Largest buffer read and written.
const CAP: u64 = 64 * 1024;
/// Accepted pushes making the list longer than this are skipped (speed).
const PAGE_CAP: u128 = 1 << 14;
/// Stretch checks after every push while the list is at most this long.
const EVERY_PUSH_PAGES: u128 = 64;
const MAX_OPS: usize = 64;
const PW: u128 = PU as u128;

/// `p` then `b` cannot be consecutive bytes of one window: flat bytes of a
/// window follow each other inside a page, and a page's last byte may be
/// followed by any page's first.
fn breaks(p: u128, b: u128) -> bool {
    !(b == p + 1 || (p % PW == PW - 1 && b % PW == 0))
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum InPage {
    Start,
    Last,
    Mid(u16),
}

impl InPage {
    fn get(self) -> u64 {
        match self {
            InPage::Start => 0,
            InPage::Last => PU - 1,
            InPage::Mid(k) => k as u64 % PU,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Gpa {
    /// In or just past the memory: `k % 10 pages`.
    Mem(u16),
    /// Page `k % 10` at an in-page offset.
    Page(u8, InPage),
    /// Right after the last byte (exact contiguity).
    After,
    /// After the last byte, `1 + k` bytes further.
    Gap(u8),
    /// Over the last bytes: the last byte minus `k`.
    Back(u8),
    /// The next page boundary at or after the end, plus `k % 4` pages.
    NextPage(u8),
    /// The start of the page holding the last byte.
    PageStart,
    /// `u64::MAX - k`.
    Top(u16),
    /// Page `MAX_GPN - k % 4` at an in-page offset.
    TopPage(u8, InPage),
    Raw(u64),
}

#[derive(Arbitrary, Debug)]
enum Len {
    Zero,
    /// `1 + k`.
    Small(u8),
    /// Up to 3 pages.
    Mid(u16),
    /// To the end of the page, plus `k % 3` pages, plus `d % 2` bytes.
    ToPage(u8, i8),
    /// The bytes left under the byte limit, plus `d % 2`.
    BytesEdge(i8),
    /// The pages left under the page limit, to a page end, plus `d % 2`.
    PagesEdge(i8),
    /// Ends `k % 3` bytes before 2^64 (0: exactly at 2^64).
    ToTop(u8),
    /// `u64::MAX - k % 4`, `2^63`, `2^32 + k % 4 - 2`, `2^32 - 1 - k % 2`.
    Huge(u8),
    Raw(u64),
}

#[derive(Arbitrary, Debug)]
enum WinLimit {
    Small(u8),
    Virtio,
    Max,
}

#[derive(Arbitrary, Debug)]
enum PageLimit {
    Small(u8),
    Virtio,
    Max,
}

#[derive(Arbitrary, Debug)]
enum ByteLimit {
    Small(u16),
    Pages(u8),
    Virtio,
    Max,
}

fn limits(u: &mut Unstructured) -> Option<BuilderLimits> {
    let v = BuilderLimits::VIRTIO;
    let (w, p, b): (WinLimit, PageLimit, ByteLimit) = take(u)?;
    Some(BuilderLimits {
        max_windows: match w {
            WinLimit::Small(k) => k as usize % 9,
            WinLimit::Virtio => v.max_windows,
            WinLimit::Max => usize::MAX,
        },
        max_pages: match p {
            PageLimit::Small(k) => k as usize % 48,
            PageLimit::Virtio => v.max_pages,
            PageLimit::Max => usize::MAX,
        },
        max_bytes: match b {
            ByteLimit::Small(k) => k as u64,
            ByteLimit::Pages(k) => (k as u64 % 24) * PU,
            ByteLimit::Virtio => v.max_bytes,
            ByteLimit::Max => u64::MAX,
        },
    })
}

/// What the model knows of the buffer without its bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Summary {
    bytes: u128,
    windows: u128,
    pages: u128,
    last: Option<u128>,
}

impl Summary {
    /// The summary after appending the `len > 0` bytes from `gpa`: a byte
    /// starts a window when it cannot follow the one before in a window,
    /// and takes a page slot when it starts a window or a page.
    fn append(self, gpa: u128, len: u128) -> Summary {
        let mut s = self;
        if s.last.is_none_or(|p| breaks(p, gpa)) {
            s.windows += 1;
            s.pages += 1;
        } else if gpa % PW == 0 {
            s.pages += 1;
        }
        // The segment's later bytes follow each other: each one starting a
        // page (a multiple of 4096 in gpa + 1 ..= gpa + len - 1) adds one.
        s.pages += (gpa + len - 1) / PW - gpa / PW;
        s.bytes += len;
        s.last = Some(gpa + len - 1);
        s
    }
}

#[derive(Clone, Debug, Default)]
struct Model {
    /// Accepted non-empty segments; each ends below 2^64 - 1.
    segs: Vec<(u64, u64)>,
    sum: Summary,
    /// Pushes since the last clear, refused and empty ones included.
    pushed: usize,
}

impl Model {
    fn expand(&self) -> Vec<u64> {
        self.segs.iter().flat_map(|&(g, l)| g..g + l).collect()
    }
}

/// How much of a buffer to check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Depth {
    /// Counts against the model's summary, page list layout.
    Summary,
    /// And every byte, a stretch at a time.
    Bytes,
    /// And every byte again, expanded literally.
    Literal,
}

/// Bytes given as pieces `(first GPA, count)`, handed out a stretch at a
/// time: the current piece's next byte is `cur`, `left` bytes remain in it.
struct Stream<'a> {
    pieces: &'a [(u64, u64)],
    cur: u64,
    left: u64,
}

impl<'a> Stream<'a> {
    fn new(pieces: &'a [(u64, u64)]) -> Self {
        Stream {
            pieces,
            cur: 0,
            left: 0,
        }
    }

    /// Moves to the next non-empty piece when the current one is done;
    /// false at the end.
    fn ready(&mut self) -> bool {
        while self.left == 0 {
            let Some((&(s, l), rest)) = self.pieces.split_first() else {
                return false;
            };
            (self.cur, self.left, self.pieces) = (s, l, rest);
        }
        true
    }

    fn advance(&mut self, n: u64) {
        self.cur += n;
        self.left -= n;
    }
}

fn expand(pieces: &[(u64, u64)]) -> Vec<u64> {
    pieces.iter().flat_map(|&(s, l)| s..s + l).collect()
}

/// Index of the first difference of two byte lists.
fn first_diff(a: &[u64], b: &[u64]) -> usize {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()))
}

/// Checks windows (with their shared page list) against the model.
fn check_windows<'a>(
    what: &str,
    windows: impl Iterator<Item = PagedRange<'a>> + Clone,
    gpns: &[u64],
    m: &Model,
    depth: Depth,
) {
    let full = depth >= Depth::Bytes;
    let (mut count, mut bytes, mut slots) = (0u128, 0u128, 0usize);
    // The segments' bytes, consumed window by window.
    let mut model = Stream::new(&m.segs);
    let mut pos = 0u64;
    let mut prev_last: Option<u64> = None;
    let (mut by_pages, mut by_runs) = (Vec::new(), Vec::new());
    for w in windows.clone() {
        let i = count;
        count += 1;
        assert!(!w.is_empty(), "{what}: window {i} is empty");
        assert!(w.offset() < P, "{what}: window {i} offset {}", w.offset());
        let spanned = (w.offset() + w.len()).div_ceil(P);
        let wg = w.gpns();
        assert_eq!(wg.len(), spanned, "{what}: window {i} page count");
        assert_eq!(
            gpns.get(slots..slots + spanned),
            Some(wg),
            "{what}: window {i}'s pages are not the next ones of the list"
        );
        slots += spanned;
        bytes += w.len() as u128;
        if !full {
            continue;
        }

        // The window's bytes from its pages (flat byte f is at
        // gpns[f / 4096] * 4096 + f % 4096), and from its runs.
        by_pages.clear();
        let (off, end) = (w.offset(), w.offset() + w.len());
        for (k, &gpn) in wg.iter().enumerate() {
            let lo = off.max(k * P) - k * P;
            let hi = end.min((k + 1) * P) - k * P;
            let base = gpn.checked_mul(PU).expect("page above 2^52");
            assert!(
                base + (hi as u64 - 1) < u64::MAX,
                "{what}: window {i} holds byte 2^64 - 1"
            );
            by_pages.push((base + lo as u64, (hi - lo) as u64));
        }
        by_runs.clear();
        for (k, r) in w.ranges().enumerate() {
            let r = r.unwrap_or_else(|e| panic!("{what}: window {i}: {e}"));
            assert!(r.start < r.end, "{what}: window {i} run {k} empty");
            if k > 0 {
                let (s, l) = *by_runs.last().unwrap();
                assert_eq!(
                    r.start % PU,
                    0,
                    "{what}: window {i} run {k} starts mid-page"
                );
                assert_eq!(
                    (s + l) % PU,
                    0,
                    "{what}: window {i} run {} ends mid-page",
                    k - 1
                );
            }
            by_runs.push((r.start, r.end - r.start));
        }

        // In step, a stretch at a time: the segments' next bytes, the
        // window's bytes by its pages, by its runs.
        let (mut pages, mut runs) = (Stream::new(&by_pages), Stream::new(&by_runs));
        if !model.ready() {
            panic!("{what}: window {i} holds bytes past the segments' {pos}");
        }
        let first = model.cur;
        if let Some(p) = prev_last {
            assert!(
                breaks(p as u128, first as u128),
                "{what}: windows {} and {i} could be one: byte {p:#x} then {first:#x}",
                i - 1
            );
        }
        let (mut left, mut prev, start) = (w.len() as u64, None::<u64>, pos);
        // Page slots: one for the first byte, one per later page start.
        let mut needed = 1u64;
        while left > 0 {
            if !model.ready() {
                panic!("{what}: window {i} holds bytes past the segments' {pos}");
            }
            assert!(pages.ready() && runs.ready(), "{what}: window {i} short");
            let n = left.min(model.left).min(pages.left).min(runs.left);
            let b = model.cur;
            if b != pages.cur || b != runs.cur {
                let want = &m.expand()[start as usize..];
                let (got, via_runs) = (expand(&by_pages), expand(&by_runs));
                let k = first_diff(&got, want).min(first_diff(&via_runs, want));
                panic!(
                    "{what}: byte {} (window {i} byte {k}) is at {:#x?} (runs say {:#x?}), the segments put it at {:#x?}",
                    start + k as u64,
                    got.get(k),
                    via_runs.get(k),
                    want.get(k)
                );
            }
            // The stretch's first byte follows `prev`; the others follow
            // each other; those starting a page: multiples of 4096 in
            // b ..= b + n - 1.
            if let Some(p) = prev {
                assert!(
                    !breaks(p as u128, b as u128),
                    "{what}: window {i} is no window: byte {p:#x} then {b:#x}"
                );
            }
            let page_starts = (b + n - 1) / PU - b / PU + u64::from(b % PU == 0);
            needed += page_starts - u64::from(prev.is_none() && b % PU == 0);
            prev = Some(b + n - 1);
            model.advance(n);
            pages.advance(n);
            runs.advance(n);
            left -= n;
            pos += n;
        }
        assert!(
            !pages.ready() && !runs.ready(),
            "{what}: window {i}: pages or runs hold more"
        );
        assert_eq!(
            needed, spanned as u64,
            "{what}: window {i}: page slots its bytes need"
        );
        prev_last = prev;
    }
    if full {
        assert!(
            !model.ready(),
            "{what}: the windows hold fewer bytes than the segments"
        );
    }
    assert_eq!(
        count, m.sum.windows,
        "{what}: window count (model {:?})",
        m.sum
    );
    assert_eq!(bytes, m.sum.bytes, "{what}: bytes");
    assert_eq!(
        slots,
        gpns.len(),
        "{what}: the page list holds pages no window uses"
    );
    assert_eq!(
        slots as u128, m.sum.pages,
        "{what}: page count (model {:?})",
        m.sum
    );
    if depth == Depth::Literal {
        check_literal(what, windows, gpns.len(), m);
    }
}

/// Appends `start, start + 1, .., start + n - 1` to `v`, one store per
/// byte and no overflow check per byte (the literal check lists every
/// byte; callers' addresses end below 2^64 - 1, which the stretch walk
/// checked first).
fn push_seq(v: &mut Vec<u64>, start: u64, n: usize) {
    v.extend((0..n as u64).map(|i| start.wrapping_add(i)));
}

/// Over the consecutive bytes of one window (their GPAs): whether some
/// byte cannot follow the one before it (as `breaks`, in 64 bits: no byte
/// is above 2^64 - 2), and how many bytes after the first start a page.
fn scan_window(bytes: &[u64]) -> (bool, usize) {
    let (mut bad, mut page_starts) = (false, 0);
    for pair in bytes.windows(2) {
        let (p, b) = (pair[0], pair[1]);
        let next = p.wrapping_add(1);
        // `b` follows `p` when it is `p + 1`, or when `p + 1` and `b` both
        // start a page (`p` ends one).
        bad |= (b != next) & ((next | b) % PU != 0);
        page_starts += usize::from(b % PU == 0);
    }
    (bad, page_starts)
}

/// Byte lists of the literal check, kept between runs (fresh large
/// allocations cost page faults).
#[derive(Default)]
struct Literal {
    want: Vec<u64>,
    by_pages: Vec<u64>,
    by_runs: Vec<u64>,
    /// Where each window starts among the bytes.
    cuts: Vec<usize>,
}

thread_local! {
    static LITERAL: std::cell::RefCell<Literal> = Default::default();
}

/// The same, expanded byte by byte.
fn check_literal<'a>(
    what: &str,
    windows: impl Iterator<Item = PagedRange<'a>>,
    pages: usize,
    m: &Model,
) {
    LITERAL.with_borrow_mut(|l| check_literal_in(l, what, windows, pages, m))
}

fn check_literal_in<'a>(
    lists: &mut Literal,
    what: &str,
    windows: impl Iterator<Item = PagedRange<'a>>,
    pages: usize,
    m: &Model,
) {
    let Literal {
        want,
        by_pages,
        by_runs,
        cuts,
    } = lists;
    want.clear();
    by_pages.clear();
    by_runs.clear();
    cuts.clear();
    for &(g, l) in &m.segs {
        push_seq(want, g, l as usize);
    }
    for w in windows {
        cuts.push(by_pages.len());
        // Flat byte f at gpns[f / 4096] * 4096 + f % 4096, page by page.
        let (off, end) = (w.offset(), w.offset() + w.len());
        for (k, &gpn) in w.gpns().iter().enumerate() {
            let (lo, hi) = (off.max(k * P), end.min((k + 1) * P));
            push_seq(by_pages, gpn * PU + (lo % P) as u64, hi - lo);
        }
        for r in w.ranges() {
            let r = r.unwrap();
            push_seq(by_runs, r.start, (r.end - r.start) as usize);
        }
    }
    if by_pages != want {
        let k = first_diff(by_pages, want);
        panic!(
            "{what}: literal byte {k} is at {:x?}, the segments put it at {:x?}",
            by_pages.get(k),
            want.get(k)
        );
    }
    if by_runs != want {
        let k = first_diff(by_runs, want);
        panic!("{what}: literal byte {k}: the runs differ");
    }
    // Every pair of consecutive bytes: cut between them exactly when they
    // cannot be in one window. A window takes a slot for its first byte and
    // one per later byte starting a page.
    let mut slots = 0;
    for (i, &st) in cuts.iter().enumerate() {
        let end = cuts.get(i + 1).copied().unwrap_or(want.len());
        if i > 0 {
            let (p, b) = (want[st - 1], want[st]);
            assert!(
                breaks(p as u128, b as u128),
                "{what}: literal: windows {} and {i} could be one: {p:#x} then {b:#x}",
                i - 1
            );
        }
        let bytes = &want[st..end];
        let (bad, page_starts) = scan_window(bytes);
        assert!(!bad, "{what}: literal: window {i} is no window");
        slots += 1 + page_starts;
    }
    assert_eq!(slots, pages, "{what}: literal page slots");
}

fn check_builder(b: &RangesBuilder, lim: BuilderLimits, m: &Model, depth: Depth) {
    assert_eq!(b.limits(), lim);
    assert_eq!(b.len() as u128, m.sum.bytes);
    assert_eq!(b.is_empty(), m.sum.bytes == 0);
    assert_eq!(b.window_count() as u128, m.sum.windows);
    assert_eq!(b.gpns().len() as u128, m.sum.pages);
    assert_eq!(b.list().len() as u128, m.sum.bytes);
    check_windows("builder", b.windows(), b.gpns(), m, depth);
    if depth == Depth::Summary {
        return;
    }
    let n = b.window_count();
    assert!(b.windows().eq((0..n).map(|i| b.window(i).unwrap())));
    assert!(b.window(n).is_none());
    let rs = b.ranges();
    assert_eq!(rs.len() as u128, m.sum.bytes);
    assert!(
        rs.paged_ranges().eq(b.windows()),
        "ranges: windows differ from the builder's"
    );
    let runs = rs.ranges().map(|r| r.expect("ranges: bad page"));
    let per_window = b.windows().flat_map(|w| w.ranges()).map(|r| r.unwrap());
    assert!(
        runs.eq(per_window),
        "ranges: runs differ from the windows' runs"
    );
}

/// A copy of the builder's list: equal to it, and its own windows right.
fn check_list(what: &str, l: &WindowList, src: &RangesBuilder, m: &Model) {
    assert!(
        l == src.list(),
        "{what}: copy differs from the builder's list"
    );
    assert_eq!(l.len() as u128, m.sum.bytes);
    assert_eq!(l.window_count() as u128, m.sum.windows);
    check_windows(what, l.windows(), l.gpns(), m, Depth::Bytes);
}

/// `len` bytes of a fixed pattern, from `seed` on (made once).
fn pattern(len: usize, seed: u8) -> &'static [u8] {
    static PAT: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let pat = PAT.get_or_init(|| {
        (0..CAP as usize + MEM + 256)
            .map(|i| ((i as u32).wrapping_mul(2_654_435_761) >> 9) as u8)
            .collect()
    });
    &pat[seed as usize..seed as usize + len]
}

/// Buffers of the IO check, kept between runs.
struct Io {
    mem: BufferMemory,
    want: Vec<u8>,
    got: Vec<u8>,
    model: Vec<u8>,
    after: Vec<u8>,
}

thread_local! {
    static IO: std::cell::RefCell<Io> = std::cell::RefCell::new(Io {
        mem: BufferMemory::new(MEM),
        want: Vec::new(),
        got: Vec::new(),
        model: Vec::new(),
        after: vec![0; MEM],
    });
}

/// Reads and writes through the builder's buffer (and through `lists`,
/// copies of its list) against doing it segment by segment.
fn check_io(b: &RangesBuilder, lists: &[&WindowList], m: &Model, chunk: usize, seed: u8) {
    let n = m.sum.bytes as usize;
    if n == 0 || m.sum.bytes > CAP as u128 {
        return;
    }
    IO.with_borrow_mut(|io| check_io_in(io, b, lists, m, chunk, seed))
}

fn check_io_in(
    io: &mut Io,
    b: &RangesBuilder,
    lists: &[&WindowList],
    m: &Model,
    chunk: usize,
    seed: u8,
) {
    let n = m.sum.bytes as usize;
    let Io {
        mem,
        want,
        got,
        model,
        after,
    } = io;
    let inside = m
        .segs
        .iter()
        .all(|&(g, l)| g as u128 + l as u128 <= MEM as u128);
    let init = pattern(MEM, seed.wrapping_mul(7));
    mem.write(0, init).unwrap();
    let rs = b.ranges();
    got.clear();
    got.resize(n, 0);
    if !inside {
        assert!(rs.read(mem, got).is_err(), "read outside memory succeeded");
        for l in lists {
            assert!(Buffer::new(*l).read(mem, got).is_err());
        }
        return;
    }
    want.clear();
    for &(g, l) in &m.segs {
        want.extend_from_slice(&init[g as usize..(g + l) as usize]);
    }
    rs.read(mem, got).unwrap();
    assert!(
        got == want,
        "read through the builder differs from the segments"
    );
    // Chunked: at most 64 steps.
    let chunk = chunk.max(n.div_ceil(64));
    let mut r = rs.reader(mem);
    got.fill(0);
    for c in got.chunks_mut(chunk) {
        r.read(c).unwrap();
    }
    assert!(r.is_empty());
    assert!(got == want, "chunked read differs from the segments");
    for l in lists {
        got.fill(0);
        Buffer::new(*l).read(mem, got).unwrap();
        assert!(got == want, "read through a copied list differs");
    }

    // Writing a pattern; the segments one by one (later ones win).
    let pat = pattern(n, seed);
    model.clear();
    model.extend_from_slice(init);
    let mut pos = 0;
    for &(g, l) in &m.segs {
        model[g as usize..(g + l) as usize].copy_from_slice(&pat[pos..pos + l as usize]);
        pos += l as usize;
    }
    rs.write(mem, pat).unwrap();
    mem.read(0, after).unwrap();
    assert!(after == model, "write through the builder differs");
    mem.write(0, init).unwrap();
    let mut w = rs.writer(mem);
    for c in pat.chunks(chunk) {
        w.write(c).unwrap();
    }
    assert!(w.is_empty());
    mem.read(0, after).unwrap();
    assert!(after == model, "chunked write differs");
}

/// `Literal` when the buffer fits what is left of the run's budget.
fn literal_or_bytes(budget: &mut u64, m: &Model) -> Depth {
    if m.sum.bytes <= *budget as u128 {
        *budget -= m.sum.bytes as u64;
        Depth::Literal
    } else {
        Depth::Bytes
    }
}

fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Some(lim) = limits(&mut u) else { return };
    let mut b = RangesBuilder::with_limits(lim);
    let mut m = Model::default();
    // Reused across refills: a list and a shared-list buffer.
    let mut held = WindowList::new();
    let mut buf = Buffer::new(Arc::new(WindowList::new()));
    let mut before = WindowList::new();
    // End of the last attempted push (anchors relative GPAs after a clear).
    let mut anchor = 0u64;
    let mut budget = LITERAL_BUDGET;

    for _ in 0..MAX_OPS {
        let Some(tag) = take::<u8>(&mut u) else { break };
        match tag % 16 {
            0 => {
                check_builder(&b, lim, &m, literal_or_bytes(&mut budget, &m));
                b.clear();
                m = Model::default();
                check_builder(&b, lim, &m, Depth::Literal);
            }
            1 => {
                let c = b.list().clone();
                check_list("clone", &c, &b, &m);
                held.clone_from(b.list());
                check_list("clone_from", &held, &b, &m);
                if tag & 0x10 != 0 {
                    check_io(&b, &[&c, &held], &m, 1 + tag as usize, tag);
                }
            }
            2 => {
                // Refill a buffer, its list shared by another handle or not.
                let sharer = (tag & 0x10 != 0).then(|| buf.clone());
                buf.refill_from(b.list());
                assert_eq!(buf.len() as u128, m.sum.bytes);
                assert_eq!(buf.window_count() as u128, m.sum.windows);
                check_list("refill_from", buf.list(), &b, &m);
                check_windows("buffer", buf.windows(), buf.list().gpns(), &m, Depth::Bytes);
                if let Some(s) = &sharer {
                    assert_eq!(s.window(), (0, s.list().len()));
                }
            }
            3 => {
                let Some((chunk, seed)) = take::<(u16, u8)>(&mut u) else {
                    break;
                };
                check_builder(&b, lim, &m, literal_or_bytes(&mut budget, &m));
                check_io(&b, &[], &m, 1 + chunk as usize % (3 * P), seed);
            }
            4 => {
                b = if tag & 0x10 != 0 {
                    b.clone()
                } else {
                    let mut c = RangesBuilder::new();
                    c.clone_from(&b);
                    c
                };
                check_builder(&b, lim, &m, Depth::Bytes);
            }
            _ => {
                let Some((g, l)) = take::<(Gpa, Len)>(&mut u) else {
                    break;
                };
                let end = m.sum.last.map_or(anchor, |p| (p + 1) as u64);
                let last = end.wrapping_sub(1);
                let gpa = match g {
                    Gpa::Mem(k) => k as u64 % (LOW_PAGES * PU),
                    Gpa::Page(k, o) => (k as u64 % LOW_PAGES) * PU + o.get(),
                    Gpa::After => end,
                    Gpa::Gap(k) => end.wrapping_add(1 + k as u64),
                    Gpa::Back(k) => last.wrapping_sub(k as u64),
                    Gpa::NextPage(k) => {
                        end.wrapping_add(PU - 1).wrapping_add((k as u64 % 4) * PU) & !(PU - 1)
                    }
                    Gpa::PageStart => last & !(PU - 1),
                    Gpa::Top(k) => u64::MAX - k as u64,
                    Gpa::TopPage(k, o) => (MAX_GPN - k as u64 % 4) * PU + o.get(),
                    Gpa::Raw(x) => x,
                };
                let d = |d: i8| (d % 2) as i64;
                let len = match l {
                    Len::Zero => 0,
                    Len::Small(k) => 1 + k as u64,
                    Len::Mid(k) => k as u64 % (3 * PU + 1),
                    Len::ToPage(k, dd) => {
                        (PU - gpa % PU + (k as u64 % 3) * PU).wrapping_add_signed(d(dd))
                    }
                    Len::BytesEdge(dd) => {
                        let left = (lim.max_bytes as u128).saturating_sub(m.sum.bytes);
                        (left as u64).wrapping_add_signed(d(dd))
                    }
                    Len::PagesEdge(dd) => {
                        let left = (lim.max_pages as u128).saturating_sub(m.sum.pages);
                        let pages = left.saturating_sub(1).min(1 << 20) as u64;
                        (PU - gpa % PU + pages * PU).wrapping_add_signed(d(dd))
                    }
                    Len::ToTop(k) => 0u64.wrapping_sub(gpa).wrapping_sub(k as u64 % 3),
                    Len::Huge(k) => match k % 4 {
                        0 => u64::MAX - (k as u64 >> 2) % 4,
                        1 => 1 << 63,
                        2 => (1u64 << 32) + (k as u64 >> 2) % 4 - 2,
                        _ => u32::MAX as u64 - (k as u64 >> 2) % 2,
                    },
                    Len::Raw(x) => x,
                };
                push(&mut b, lim, &mut m, &mut before, gpa, len);
                anchor = gpa.wrapping_add(len);
            }
        }
    }
    check_builder(&b, lim, &m, literal_or_bytes(&mut budget, &m));
    check_io(&b, &[], &m, 1 + data.len() % 5000, data.len() as u8);
    b.clear();
    assert_eq!((b.len(), b.window_count(), b.gpns().len()), (0, 0, 0));
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Broken {
    Overflow,
    Bytes,
    Pages,
    Windows,
}

/// Pushes a segment and checks the result; `before` keeps a copy of the
/// list for a push the model refuses (reused from push to push).
fn push(
    b: &mut RangesBuilder,
    lim: BuilderLimits,
    m: &mut Model,
    before: &mut WindowList,
    gpa: u64,
    len: u64,
) {
    let index = m.pushed;
    let (g, l) = (gpa as u128, len as u128);
    // What accepting the push would give, and which rules it breaks.
    let mut broken = Vec::new();
    let mut after = m.sum;
    if len > 0 {
        if g + l >= 1 << 64 {
            broken.push(Broken::Overflow);
            if m.sum.bytes + l > lim.max_bytes as u128 {
                broken.push(Broken::Bytes);
            }
        } else {
            after = m.sum.append(g, l);
            if after.bytes > lim.max_bytes as u128 {
                broken.push(Broken::Bytes);
            }
            if after.pages > lim.max_pages as u128 {
                broken.push(Broken::Pages);
            }
            if after.windows > lim.max_windows as u128 {
                broken.push(Broken::Windows);
            }
        }
    }
    if broken.is_empty() && after.pages > PAGE_CAP {
        return; // would be accepted, but slow: not pushed
    }
    if !broken.is_empty() {
        before.clone_from(b.list());
    }
    let got = b.push(gpa, len);
    m.pushed += 1;
    let depth = if after.pages <= EVERY_PUSH_PAGES {
        Depth::Bytes
    } else {
        Depth::Summary
    };
    match got {
        Ok(()) => {
            assert!(
                broken.is_empty(),
                "push {index} ({gpa:#x}, {len:#x}) accepted, but it breaks {broken:?} (model after: {after:?}, limits {lim:?})"
            );
            if len > 0 {
                m.segs.push((gpa, len));
                m.sum = after;
            }
            check_builder(b, lim, m, depth);
        }
        Err(e) => {
            assert_eq!(e.index(), index, "error index: {e:?}");
            let matches = broken.iter().any(|k| match (k, e) {
                (
                    Broken::Overflow,
                    BuilderError::Overflow {
                        gpa: g2, len: l2, ..
                    },
                ) => (g2, l2) == (gpa, len),
                (Broken::Bytes, BuilderError::TooManyBytes { max, .. }) => max == lim.max_bytes,
                (Broken::Pages, BuilderError::TooManyPages { max, .. }) => max == lim.max_pages,
                (Broken::Windows, BuilderError::TooManyWindows { max, .. }) => {
                    max == lim.max_windows
                }
                _ => false,
            });
            assert!(
                matches,
                "push {index} ({gpa:#x}, {len:#x}) refused with {e:?}, the model finds {broken:?} broken (model before: {:?}, after: {after:?}, limits {lim:?})",
                m.sum
            );
            // Nothing changed: the same list (so the same bytes), and the
            // bytes still the model's.
            assert!(b.list() == before, "refused push {index} changed the list");
            let depth = if m.sum.pages <= EVERY_PUSH_PAGES {
                Depth::Bytes
            } else {
                Depth::Summary
            };
            check_builder(b, lim, m, depth);
        }
    }
}

fuzz_target!(|data: &[u8]| run(data));
