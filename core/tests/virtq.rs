//! The chain walker against a model written separately from it: random
//! descriptor tables (loops, indirect tables, bad indexes, bad lengths,
//! tables outside guest memory), walked by both; on success the bytes of
//! each part must be the same guest bytes in the same order, on failure
//! the same rule at the same descriptor.

mod chain_model;

use chain_model::model;
use pagedrange::virtq::{Descriptor, DESC_F_INDIRECT, DESC_F_NEXT, DESC_F_WRITE};
use pagedrange::{BufferMemory, ChainLimits, ChainWalker, GuestMemory, WindowList};
use proptest::prelude::*;

/// Guest RAM: 64 KiB at GPA 0.
const RAM: u64 = 64 * 1024;

/// The guest address of every byte of a part, in order.
fn bytes_of(list: &WindowList) -> Vec<u64> {
    let mut out = Vec::new();
    for run in list.ranges().ranges() {
        let run = run.unwrap();
        out.extend(run.start..run.end);
    }
    out
}

fn arb_desc() -> impl Strategy<Value = Descriptor> {
    let addr = prop_oneof![
        8 => 0..RAM,
        1 => Just(u64::MAX - 7),
        1 => (RAM - 64)..(RAM + 64),
    ];
    let len = prop_oneof![4 => 0u32..600, 1 => Just(16u32), 1 => Just(48u32), 1 => 4000u32..9000];
    let flags = prop_oneof![
        4 => Just(DESC_F_NEXT),
        3 => Just(DESC_F_NEXT | DESC_F_WRITE),
        2 => Just(0),
        2 => Just(DESC_F_WRITE),
        1 => Just(DESC_F_INDIRECT),
        1 => Just(DESC_F_INDIRECT | DESC_F_NEXT),
        1 => any::<u16>(),
    ];
    (addr, len, flags, 0u16..10).prop_map(|(addr, len, flags, next)| Descriptor {
        addr,
        len,
        flags,
        next,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    // Proptest's failure persistence needs the file system, which Miri's
    // isolation refuses; the unit tests in core/src/virtq.rs run there.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn walker_matches_model(
        descs in prop::collection::vec(arb_desc(), 1..10),
        // A second table where indirect descriptors often point.
        extra in prop::collection::vec(arb_desc(), 0..6),
        size in 0u16..12,
        head in 0u16..12,
        indirect_ok in prop::bool::weighted(0.8),
        table_at in prop_oneof![8 => Just(0x1000u64), 1 => Just(RAM - 40), 1 => Just(u64::MAX - 20)],
    ) {
        let mut image = vec![0u8; RAM as usize];
        for (i, d) in descs.iter().enumerate() {
            let at = table_at.wrapping_add(i as u64 * 16);
            let slot = usize::try_from(at).ok().and_then(|a| image.get_mut(a..a.checked_add(16)?));
            if let Some(slot) = slot {
                slot.copy_from_slice(&d.to_bytes());
            }
        }
        for (i, d) in extra.iter().enumerate() {
            let at = 0x3000 + i * 16;
            image[at..at + 16].copy_from_slice(&d.to_bytes());
        }
        // Indirect descriptors of the main table point at the second one
        // half of the time.
        let mem = BufferMemory::from_vec(image.clone());
        let limits = ChainLimits { indirect: indirect_ok, ..ChainLimits::VIRTIO };
        let want = model(&image, table_at, size, head, indirect_ok, limits.max_bytes);
        let mut w = ChainWalker::new(limits);
        let got = w.walk(&mem, table_at, size, head);
        match (&want, got) {
            (Ok((r, wr)), Ok(())) => {
                prop_assert_eq!(&bytes_of(w.readable()), r);
                prop_assert_eq!(&bytes_of(w.writable()), wr);
            }
            (Err((rule, index, ind)), Err(e)) => {
                prop_assert_eq!((e.rule, e.index, e.indirect), (*rule, *index, *ind), "{}", e);
                prop_assert!(w.readable().is_empty() && w.writable().is_empty());
            }
            (want, got) => prop_assert!(false, "model {:?}, walker {:?}", want, got),
        }
        // Reading the table never changed guest memory.
        let mut after = vec![0u8; RAM as usize];
        mem.read(0, &mut after).unwrap();
        prop_assert_eq!(after, image);
    }
}

#[test]
fn indirect_tables_reached_from_the_main_table() {
    // Head 0 points at a 3-entry table at 0x3000: readable 8 bytes, then
    // writable 2 x 4 bytes in separate pages.
    let mut image = vec![0u8; RAM as usize];
    let put = |image: &mut Vec<u8>, at: usize, d: Descriptor| {
        image[at..at + 16].copy_from_slice(&d.to_bytes());
    };
    let d = |addr, len, flags, next| Descriptor {
        addr,
        len,
        flags,
        next,
    };
    put(&mut image, 0x1000, d(0x3000, 48, DESC_F_INDIRECT, 0));
    put(&mut image, 0x3000, d(0x5ffc, 8, DESC_F_NEXT, 2));
    put(
        &mut image,
        0x3020,
        d(0x7000, 4, DESC_F_WRITE | DESC_F_NEXT, 1),
    );
    put(&mut image, 0x3010, d(0x9000, 4, DESC_F_WRITE, 0));
    let mem = BufferMemory::from_vec(image.clone());
    let mut w = ChainWalker::new(ChainLimits::VIRTIO);
    w.walk(&mem, 0x1000, 4, 0).unwrap();
    assert_eq!(
        Ok((bytes_of(w.readable()), bytes_of(w.writable()))),
        model(&image, 0x1000, 4, 0, true, ChainLimits::VIRTIO.max_bytes)
    );
    assert_eq!(
        w.readable().window_count(),
        1,
        "0x5ffc..0x6004 is one window"
    );
    assert_eq!(w.writable().window_count(), 2);
}
