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
//! memory is never written. The walker's only limit is 256 KiB per chain,
//! which the model checks too (window and page limits are unit-tested).

#![no_main]

use std::cell::RefCell;

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
/// The walker's limit on a chain's bytes. The model lists every byte, so
/// its cost per input grows with this: at 4 MiB the target ran about 600
/// inputs a second, at 256 KiB about 9,500. 256 KiB is 64 pages, more
/// than most tame chains (descriptors under 9000 bytes) reach; longer
/// chains take the `Limit` rule, as they did at 4 MiB.
const MAX_BYTES: u64 = 1 << 18;

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

/// Checks a part against the model's guest address of every byte (`want`),
/// and that no two consecutive windows could have been one (the builder's
/// joining rule). Run by run: a run's bytes are `start..end`, compared with
/// the model's as one slice against a scratch list (no list per part).
fn check_part(what: &str, list: &WindowList, want: &[u64], scratch: &mut Vec<u64>) {
    let mut pos = 0usize;
    let mut prev_end: Option<u64> = None;
    for (i, w) in list.windows().enumerate() {
        let mut first = true;
        for r in w.ranges() {
            let r = r.unwrap();
            if first {
                if let Some(end) = prev_end {
                    let joinable = end == r.start || (end % 4096 == 0 && r.start % 4096 == 0);
                    assert!(
                        !joinable,
                        "{what}: windows ending at {end:#x} and starting at {:#x} could be one",
                        r.start
                    );
                }
                first = false;
            }
            let n = (r.end - r.start) as usize;
            let got = want.get(pos..pos + n);
            scratch.clear();
            scratch.extend(r.start..r.end);
            assert!(
                got == Some(&scratch[..]),
                "{what}: window {i} run {:#x}..{:#x} at byte {pos}: the model has {:#x?}",
                r.start,
                r.end,
                want.get(pos..(pos + n).min(pos + 4).min(want.len()))
            );
            pos += n;
            prev_end = Some(r.end);
        }
    }
    assert_eq!(
        pos,
        want.len(),
        "{what}: the walker's part is shorter than the model's"
    );
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

/// Buffers kept from input to input: the guest image, the guest memory
/// holding it, the bytes read back, and a run's bytes.
struct Scratch {
    image: Vec<u8>,
    mem: BufferMemory,
    after: Vec<u8>,
    run: Vec<u64>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch {
        image: vec![0; RAM as usize],
        mem: BufferMemory::new(RAM as usize),
        after: vec![0; RAM as usize],
        run: Vec::new(),
    });
}

fuzz_target!(|input: Input| SCRATCH.with_borrow_mut(|s| run(s, &input)));

fn run(s: &mut Scratch, input: &Input) {
    let Scratch {
        image,
        mem,
        after,
        run,
    } = s;
    // Only the two tables are ever written to the image: clear them, then
    // place this input's descriptors. The memory gets the whole image.
    for (base, table) in [(MAIN, &input.main), (SECOND, &input.second)] {
        image[base as usize..base as usize + 16 * 16].fill(0);
        for (i, raw) in table.iter().take(16).enumerate() {
            let mut d = Descriptor::from_bytes(*raw);
            if input.tame {
                d = tame(d);
            }
            let at = base as usize + i * 16;
            image[at..at + 16].copy_from_slice(&d.to_bytes());
        }
    }
    mem.write(0, image).unwrap();
    let size = if input.tame {
        input.queue_size % 20
    } else {
        input.queue_size
    };
    let head = if input.tame {
        input.head % 20
    } else {
        input.head
    };
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
    let got = w.walk(&*mem, MAIN, size, head);
    match (
        model(image, MAIN, size, head, limits.indirect, MAX_BYTES),
        got,
    ) {
        (Ok((r, wr)), Ok(())) => {
            check_part("readable", w.readable(), &r, run);
            check_part("writable", w.writable(), &wr, run);
        }
        (Err((rule, index, inner)), Err(e)) => {
            assert_eq!((e.rule, e.index, e.indirect), (rule, index, inner), "{e}");
            assert!(w.readable().is_empty() && w.writable().is_empty());
        }
        (want, got) => panic!("model {want:?}, walker {got:?}"),
    }
    mem.read(0, after).unwrap();
    assert!(after == image, "the walker wrote guest memory");
}
