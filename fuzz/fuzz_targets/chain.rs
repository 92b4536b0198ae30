//! `chain`: the virtqueue chain walker against a model.
//!
//! Arbitrary bytes become a descriptor table at GPA 0x1000, a second table
//! at 0x3000 (where indirect descriptors often point), the queue size, the
//! head and whether indirect tables are allowed. The walker and a model
//! written from VIRTIO 1.2 2.7.5 (one table at a time, a list of guest
//! addresses per part) must agree: on success the bytes of each part are
//! the same guest bytes in the same order, and each part has the fewest
//! windows (no two consecutive windows that could be joined); on failure
//! the same rule at the same descriptor, with both parts empty. Guest
//! memory is never written. The walker's only limit is 4 MiB per chain,
//! which the model checks too (window and page limits are unit-tested).

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use pagedrange::virtq::{Descriptor, DESC_F_INDIRECT, DESC_F_NEXT, DESC_F_WRITE};
use pagedrange::{BufferMemory, BuilderLimits, ChainLimits, ChainWalker, GuestMemory, WindowList};

/// The model, shared with the property test of the core crate.
#[path = "../../core/tests/chain_model/mod.rs"]
mod chain_model;
use chain_model::model;

const RAM: u64 = 64 * 1024;
const MAIN: u64 = 0x1000;
const SECOND: u64 = 0x3000;
/// The walker's limit on a chain's bytes: small enough for the model to
/// list every byte.
const MAX_BYTES: u64 = 1 << 22;

#[derive(Arbitrary, Debug)]
struct Input {
    main: Vec<[u8; 16]>,
    second: Vec<[u8; 16]>,
    queue_size: u16,
    head: u16,
    no_indirect: bool,
    /// Nudges descriptor fields towards interesting values.
    tame: bool,
}

/// Guest addresses of every byte of a part, and a check that no two
/// consecutive windows could have been one (the builder's joining rule).
fn bytes_of(list: &WindowList) -> Vec<u64> {
    let mut out = Vec::new();
    let mut prev_end: Option<u64> = None;
    for w in list.windows() {
        let runs: Vec<_> = w.ranges().map(|r| r.unwrap()).collect();
        let (first, last) = (runs.first().unwrap().start, runs.last().unwrap().end);
        if let Some(end) = prev_end {
            let joinable = end == first || (end % 4096 == 0 && first % 4096 == 0);
            assert!(!joinable, "windows ending at {end:#x} and starting at {first:#x} could be one");
        }
        prev_end = Some(last);
        for r in runs {
            out.extend(r.start..r.end);
        }
    }
    out
}

fn tame(mut d: Descriptor) -> Descriptor {
    d.addr %= RAM + 64;
    d.len %= 9000;
    d.next %= 12;
    d.flags &= DESC_F_NEXT | DESC_F_WRITE | DESC_F_INDIRECT;
    if d.flags & DESC_F_INDIRECT != 0 && d.addr % 2 == 0 {
        d.addr = SECOND;
        d.len = (d.len % 6) * 16;
    }
    d
}

fuzz_target!(|input: Input| {
    let mut image = vec![0u8; RAM as usize];
    for (base, table) in [(MAIN, &input.main), (SECOND, &input.second)] {
        for (i, raw) in table.iter().take(16).enumerate() {
            let mut d = Descriptor::from_bytes(*raw);
            if input.tame {
                d = tame(d);
            }
            let at = base as usize + i * 16;
            image[at..at + 16].copy_from_slice(&d.to_bytes());
        }
    }
    let size = if input.tame { input.queue_size % 20 } else { input.queue_size };
    let head = if input.tame { input.head % 20 } else { input.head };
    let mem = BufferMemory::from_vec(image.clone());
    // A small byte limit, no window or page limit: the model does not
    // restate the builder's joining rule to count windows.
    let unlimited = BuilderLimits {
        max_windows: usize::MAX,
        max_pages: usize::MAX,
        max_bytes: u64::MAX,
    };
    let limits = ChainLimits {
        readable: unlimited,
        writable: unlimited,
        max_bytes: MAX_BYTES,
        indirect: !input.no_indirect,
    };
    let mut w = ChainWalker::new(limits);
    let got = w.walk(&mem, MAIN, size, head);
    match (model(&image, MAIN, size, head, limits.indirect, MAX_BYTES), got) {
        (Ok((r, wr)), Ok(())) => {
            assert_eq!(bytes_of(w.readable()), r);
            assert_eq!(bytes_of(w.writable()), wr);
        }
        (Err((rule, index, inner)), Err(e)) => {
            assert_eq!((e.rule, e.index, e.indirect), (rule, index, inner), "{e}");
            assert!(w.readable().is_empty() && w.writable().is_empty());
        }
        (want, got) => panic!("model {want:?}, walker {got:?}"),
    }
    let mut after = vec![0u8; RAM as usize];
    mem.read(0, &mut after).unwrap();
    assert!(after == image, "the walker wrote guest memory");
});
