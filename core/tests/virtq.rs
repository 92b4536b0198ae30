//! The chain walker against a model written separately from it: random
//! descriptor tables (loops, indirect tables, bad indexes, bad lengths,
//! tables outside guest memory), walked by both; on success the bytes of
//! each part must be the same guest bytes in the same order, on failure
//! the same rule at the same descriptor.

use pagedrange::virtq::{Descriptor, DESC_F_INDIRECT, DESC_F_NEXT, DESC_F_WRITE};
use pagedrange::{BufferMemory, ChainLimits, ChainRule, ChainWalker, GuestMemory, WindowList};
use proptest::prelude::*;

/// Guest RAM: 64 KiB at GPA 0.
const RAM: u64 = 64 * 1024;

/// What the model expects: the guest addresses of every byte of the
/// readable part and of the writable part, or the rule and the descriptor.
type Expected = Result<(Vec<u64>, Vec<u64>), (ChainRule, u16, bool)>;

fn read_desc(ram: &[u8], gpa: u64) -> Option<Descriptor> {
    let at = usize::try_from(gpa).ok()?;
    let bytes: [u8; 16] = ram.get(at..at.checked_add(16)?)?.try_into().ok()?;
    Some(Descriptor::from_bytes(bytes))
}

/// The rules of VIRTIO 1.2 2.7.5, walked the simplest way: a list of the
/// descriptors to visit, one table at a time.
fn model(ram: &[u8], table: u64, size: u16, head: u16, indirect_ok: bool) -> Expected {
    if size == 0 || size > 32768 {
        return Err((ChainRule::QueueSize, head, false));
    }
    if head >= size {
        return Err((ChainRule::HeadOutOfRange, head, false));
    }
    let (mut readable, mut writable) = (Vec::new(), Vec::new());
    let (mut base, mut entries, mut in_table) = (table, u32::from(size), false);
    let mut i = head;
    let mut steps = 0;
    let mut seen_write = false;
    loop {
        steps += 1;
        if steps > entries {
            return Err((ChainRule::TooLong, i, in_table));
        }
        let Some(gpa) = base.checked_add(u64::from(i) * 16) else {
            return Err((ChainRule::Unreadable, i, in_table));
        };
        let Some(d) = read_desc(ram, gpa) else {
            return Err((ChainRule::Unreadable, i, in_table));
        };
        if d.flags & DESC_F_INDIRECT != 0 {
            let rule = if in_table {
                Some(ChainRule::NestedIndirect)
            } else if !indirect_ok {
                Some(ChainRule::IndirectNotAllowed)
            } else if d.flags & DESC_F_NEXT != 0 {
                Some(ChainRule::IndirectWithNext)
            } else if d.len == 0 || d.len % 16 != 0 {
                Some(ChainRule::IndirectLength)
            } else if d.addr.checked_add(u64::from(d.len)).is_none() {
                Some(ChainRule::Overflow)
            } else {
                None
            };
            if let Some(rule) = rule {
                return Err((rule, i, in_table));
            }
            (base, entries, in_table, i, steps) = (d.addr, d.len / 16, true, 0, 0);
            continue;
        }
        let write = d.flags & DESC_F_WRITE != 0;
        if seen_write && !write {
            return Err((ChainRule::ReadableAfterWritable, i, in_table));
        }
        seen_write |= write;
        if d.len > 0 && d.addr.checked_add(u64::from(d.len)).is_none() {
            return Err((ChainRule::Overflow, i, in_table));
        }
        let part = if write { &mut writable } else { &mut readable };
        part.extend((0..u64::from(d.len)).map(|k| d.addr + k));
        if d.flags & DESC_F_NEXT == 0 {
            return Ok((readable, writable));
        }
        if u32::from(d.next) >= entries {
            return Err((ChainRule::NextOutOfRange, i, in_table));
        }
        i = d.next;
    }
}

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
        let want = model(&image, table_at, size, head, indirect_ok);
        let mut w = ChainWalker::new(ChainLimits { indirect: indirect_ok, ..ChainLimits::VIRTIO });
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
        model(&image, 0x1000, 4, 0, true)
    );
    assert_eq!(
        w.readable().window_count(),
        1,
        "0x5ffc..0x6004 is one window"
    );
    assert_eq!(w.writable().window_count(), 2);
}
