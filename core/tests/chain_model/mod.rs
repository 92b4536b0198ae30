//! A model of the virtqueue chain walker, written from VIRTIO 1.2 2.7.5
//! separately from it: one table at a time, the guest address of every
//! byte of each part. Shared by the property test (`tests/virtq.rs`) and
//! the `chain` fuzz target, which includes this file by path.

use pagedrange::virtq::{Descriptor, DESC_F_INDIRECT, DESC_F_NEXT, DESC_F_WRITE};
use pagedrange::ChainRule;

/// What the model expects: the guest addresses of every byte of the
/// readable part and of the writable part, or the rule, the descriptor and
/// whether it is in an indirect table.
pub type Expected = Result<(Vec<u64>, Vec<u64>), (ChainRule, u16, bool)>;

/// The descriptor at `gpa` of the flat guest image `ram` (GPA 0 at index 0).
pub fn read_desc(ram: &[u8], gpa: u64) -> Option<Descriptor> {
    let at = usize::try_from(gpa).ok()?;
    let bytes: [u8; 16] = ram.get(at..at.checked_add(16)?)?.try_into().ok()?;
    Some(Descriptor::from_bytes(bytes))
}

/// Walks the chain at `head` of the `size`-entry table at `table`, with
/// indirect tables allowed or not and at most `max_bytes` in the chain.
pub fn model(
    ram: &[u8],
    table: u64,
    size: u16,
    head: u16,
    indirect_ok: bool,
    max_bytes: u64,
) -> Expected {
    if size == 0 || size > 32768 {
        return Err((ChainRule::QueueSize, head, false));
    }
    if head >= size {
        return Err((ChainRule::HeadOutOfRange, head, false));
    }
    let (mut readable, mut writable) = (Vec::new(), Vec::new());
    let (mut base, mut entries, mut in_table) = (table, u32::from(size), false);
    let (mut i, mut steps, mut seen_write, mut total) = (head, 0u32, false, 0u64);
    loop {
        steps += 1;
        if steps > entries {
            return Err((ChainRule::TooLong, i, in_table));
        }
        let Some(d) = base
            .checked_add(u64::from(i) * 16)
            .and_then(|gpa| read_desc(ram, gpa))
        else {
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
        total += u64::from(d.len);
        if total > max_bytes {
            return Err((ChainRule::Limit, i, in_table));
        }
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
