//! Descriptor chains of a split virtqueue (VIRTIO 1.2, section 2.7.5),
//! walked into buffers.
//!
//! A device that takes a head index from the available ring hands it to a
//! [`ChainWalker`] with the queue's descriptor table. The walker follows
//! `NEXT` and `INDIRECT` through guest memory, checks every rule the spec
//! gives a driver, and collects the chain's device-readable part and its
//! device-writable part, each as the fewest windows (through a
//! [`RangesBuilder`]). Descriptors are read through the [`GuestMemory`]
//! backend: a descriptor outside guest memory is a fault report, never a
//! host access. The rings themselves (available, used, event index) stay
//! in the device.
//!
//! ```text
//!  descriptor table (queue size entries of 16 bytes)
//!  [ addr | len | flags | next ]  flags: NEXT 1, WRITE 2, INDIRECT 4
//!   head -> 3: hdr  16 B  NEXT       -> readable part
//!           7: data 4 KiB NEXT|WRITE -> writable part
//!           1: status 1 B WRITE      -> writable part
//! ```

use thiserror::Error;

use crate::builder::{BuilderError, BuilderLimits, RangesBuilder};
use crate::error::MemoryFault;
use crate::memory::GuestMemory;
use crate::WindowList;

/// Size of a descriptor in bytes.
pub const DESC_SIZE: u64 = 16;

/// Flag: the chain continues at `next`.
pub const DESC_F_NEXT: u16 = 1;
/// Flag: the buffer is device-writable (otherwise device-readable).
pub const DESC_F_WRITE: u16 = 2;
/// Flag: the buffer is a table of descriptors.
pub const DESC_F_INDIRECT: u16 = 4;

/// The largest queue size a split virtqueue can have.
pub const MAX_QUEUE_SIZE: u16 = 32768;

/// A descriptor as it sits in guest memory (little endian).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Descriptor {
    /// Guest physical address of the buffer (or of the indirect table).
    pub addr: u64,
    /// Length in bytes.
    pub len: u32,
    /// `DESC_F_*` flags.
    pub flags: u16,
    /// Index of the next descriptor when `flags` has [`DESC_F_NEXT`].
    pub next: u16,
}

impl Descriptor {
    /// Decodes the 16 bytes of a descriptor.
    pub fn from_bytes(b: [u8; 16]) -> Self {
        let [a0, a1, a2, a3, a4, a5, a6, a7, l0, l1, l2, l3, f0, f1, n0, n1] = b;
        Self {
            addr: u64::from_le_bytes([a0, a1, a2, a3, a4, a5, a6, a7]),
            len: u32::from_le_bytes([l0, l1, l2, l3]),
            flags: u16::from_le_bytes([f0, f1]),
            next: u16::from_le_bytes([n0, n1]),
        }
    }

    /// The 16 bytes of the descriptor, as a driver writes them.
    pub fn to_bytes(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.addr.to_le_bytes());
        b[8..12].copy_from_slice(&self.len.to_le_bytes());
        b[12..14].copy_from_slice(&self.flags.to_le_bytes());
        b[14..].copy_from_slice(&self.next.to_le_bytes());
        b
    }
}

/// The rule a chain broke.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum ChainRule {
    /// The queue size is 0 or above 32768.
    #[error("the queue size is 0 or above 32768")]
    QueueSize,
    /// The head index is not below the queue size.
    #[error("the head index is not below the queue size")]
    HeadOutOfRange,
    /// A `next` index is not below the size of its table.
    #[error("the next index is not below the size of its table")]
    NextOutOfRange,
    /// The chain has more descriptors than its table (so it loops).
    #[error("the chain is longer than its table (a loop)")]
    TooLong,
    /// An indirect descriptor was found while indirect tables are not
    /// allowed (VIRTIO_F_INDIRECT_DESC not negotiated).
    #[error("an indirect descriptor without VIRTIO_F_INDIRECT_DESC")]
    IndirectNotAllowed,
    /// An indirect descriptor inside an indirect table.
    #[error("an indirect table inside an indirect table")]
    NestedIndirect,
    /// A descriptor with both `INDIRECT` and `NEXT`.
    #[error("a descriptor with both INDIRECT and NEXT")]
    IndirectWithNext,
    /// An indirect table whose length is 0 or not a multiple of 16.
    #[error("an indirect table whose length is 0 or not a multiple of 16")]
    IndirectLength,
    /// A device-readable descriptor after a device-writable one.
    #[error("a device-readable descriptor after a device-writable one")]
    ReadableAfterWritable,
    /// The descriptor (or its table) is not in guest memory.
    #[error("the descriptor could not be read from guest memory")]
    Unreadable,
    /// The descriptor's buffer ends past 2^64.
    #[error("the buffer's address plus length overflows")]
    Overflow,
    /// The chain is longer (in windows, pages or bytes) than the limits
    /// allow.
    #[error("the chain exceeds a limit")]
    Limit,
    /// Memory for the buffers could not be allocated.
    #[error("out of memory")]
    Allocation,
}

/// Why a chain was refused: the rule, and the descriptor that broke it.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[error("descriptor {index}{}: {rule}", if *.indirect { " (indirect table)" } else { "" })]
pub struct ChainError {
    /// The rule broken.
    pub rule: ChainRule,
    /// Index of the descriptor in its table (the queue's descriptor table,
    /// or the indirect table when `indirect`).
    pub index: u16,
    /// The descriptor is in an indirect table.
    pub indirect: bool,
    /// For [`ChainRule::Unreadable`], the fault the memory reported.
    pub fault: Option<MemoryFault>,
}

/// Limits of a [`ChainWalker`], so a hostile chain is refused in one place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainLimits {
    /// Limits of the device-readable part.
    pub readable: BuilderLimits,
    /// Limits of the device-writable part.
    pub writable: BuilderLimits,
    /// Most bytes the whole chain may describe, both parts together (the
    /// spec's bound is 2^32 - 1).
    pub max_bytes: u64,
    /// Whether `INDIRECT` descriptors are accepted (VIRTIO_F_INDIRECT_DESC
    /// negotiated).
    pub indirect: bool,
}

impl ChainLimits {
    /// The spec's bounds: at most 2^32 - 1 bytes in all, windows as a queue
    /// of the largest size can describe, indirect tables allowed.
    pub const VIRTIO: Self = Self {
        readable: BuilderLimits::VIRTIO,
        writable: BuilderLimits::VIRTIO,
        max_bytes: u32::MAX as u64,
        indirect: true,
    };
}

impl Default for ChainLimits {
    fn default() -> Self {
        Self::VIRTIO
    }
}

/// Walks descriptor chains into a readable and a writable part.
///
/// Reused from chain to chain: once its builders have grown to a queue's
/// largest chain, walking allocates nothing.
#[derive(Clone, Debug, Default)]
pub struct ChainWalker {
    limits: ChainLimits,
    readable: RangesBuilder,
    writable: RangesBuilder,
}

/// Where the walk is: which table and how far.
struct Table {
    gpa: u64,
    size: u32,
    indirect: bool,
}

impl ChainWalker {
    /// A walker enforcing `limits`.
    pub fn new(limits: ChainLimits) -> Self {
        Self {
            limits,
            readable: RangesBuilder::with_limits(limits.readable),
            writable: RangesBuilder::with_limits(limits.writable),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> ChainLimits {
        self.limits
    }

    /// The device-readable part of the last chain walked.
    pub fn readable(&self) -> &WindowList {
        self.readable.list()
    }

    /// The device-writable part of the last chain walked.
    pub fn writable(&self) -> &WindowList {
        self.writable.list()
    }

    /// Walks the chain starting at descriptor `head` of the table at guest
    /// address `table` holding `queue_size` descriptors. On success the
    /// parts are in [`readable`](Self::readable) and
    /// [`writable`](Self::writable); on error they are empty and the error
    /// names the descriptor and the rule.
    pub fn walk<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &M,
        table: u64,
        queue_size: u16,
        head: u16,
    ) -> Result<(), ChainError> {
        self.readable.clear();
        self.writable.clear();
        let result = self.walk_inner(mem, table, queue_size, head);
        if result.is_err() {
            self.readable.clear();
            self.writable.clear();
        }
        result
    }

    fn walk_inner<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &M,
        table: u64,
        queue_size: u16,
        head: u16,
    ) -> Result<(), ChainError> {
        let fail = |rule, index, indirect| ChainError {
            rule,
            index,
            indirect,
            fault: None,
        };
        if queue_size == 0 || queue_size > MAX_QUEUE_SIZE {
            return Err(fail(ChainRule::QueueSize, head, false));
        }
        if head >= queue_size {
            return Err(fail(ChainRule::HeadOutOfRange, head, false));
        }
        let mut t = Table {
            gpa: table,
            size: u32::from(queue_size),
            indirect: false,
        };
        let mut index = head;
        // Descriptors visited in the current table: a chain may not be
        // longer than its table.
        let mut seen = 0u32;
        let mut bytes = 0u64;
        let mut writing = false;
        loop {
            seen += 1;
            if seen > t.size {
                return Err(fail(ChainRule::TooLong, index, t.indirect));
            }
            let d = read_desc(mem, &t, index)?;
            if d.flags & DESC_F_INDIRECT != 0 {
                if t.indirect {
                    return Err(fail(ChainRule::NestedIndirect, index, true));
                }
                if !self.limits.indirect {
                    return Err(fail(ChainRule::IndirectNotAllowed, index, false));
                }
                if d.flags & DESC_F_NEXT != 0 {
                    return Err(fail(ChainRule::IndirectWithNext, index, false));
                }
                if d.len == 0 || u64::from(d.len) % DESC_SIZE != 0 {
                    return Err(fail(ChainRule::IndirectLength, index, false));
                }
                if d.addr.checked_add(u64::from(d.len)).is_none() {
                    return Err(fail(ChainRule::Overflow, index, false));
                }
                // The chain goes on at entry 0 of the indirect table, and
                // ends with it (no NEXT on the indirect descriptor).
                t = Table {
                    gpa: d.addr,
                    size: (u64::from(d.len) / DESC_SIZE) as u32,
                    indirect: true,
                };
                index = 0;
                seen = 0;
                continue;
            }
            let write = d.flags & DESC_F_WRITE != 0;
            if writing && !write {
                return Err(fail(ChainRule::ReadableAfterWritable, index, t.indirect));
            }
            writing = write;
            bytes = bytes
                .checked_add(u64::from(d.len))
                .filter(|&b| b <= self.limits.max_bytes)
                .ok_or(fail(ChainRule::Limit, index, t.indirect))?;
            let part = if write {
                &mut self.writable
            } else {
                &mut self.readable
            };
            part.push(d.addr, u64::from(d.len)).map_err(|e| {
                let rule = match e {
                    BuilderError::Overflow { .. } => ChainRule::Overflow,
                    BuilderError::Allocation { .. } => ChainRule::Allocation,
                    _ => ChainRule::Limit,
                };
                fail(rule, index, t.indirect)
            })?;
            if d.flags & DESC_F_NEXT == 0 {
                return Ok(());
            }
            if u32::from(d.next) >= t.size {
                return Err(fail(ChainRule::NextOutOfRange, index, t.indirect));
            }
            index = d.next;
        }
    }
}

/// Reads descriptor `index` of table `t` through the memory backend.
fn read_desc<M: GuestMemory + ?Sized>(
    mem: &M,
    t: &Table,
    index: u16,
) -> Result<Descriptor, ChainError> {
    let unreadable = |fault| ChainError {
        rule: ChainRule::Unreadable,
        index,
        indirect: t.indirect,
        fault,
    };
    // `index < size <= 2^28`: the offset fits; the sum may not.
    let gpa = t
        .gpa
        .checked_add(u64::from(index) * DESC_SIZE)
        .ok_or(unreadable(None))?;
    let mut b = [0u8; 16];
    mem.read(gpa, &mut b).map_err(|f| unreadable(Some(f)))?;
    Ok(Descriptor::from_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AddressRange, BufferMemory, GuestMemory};

    const TABLE: u64 = 0x1000;

    fn desc(addr: u64, len: u32, flags: u16, next: u16) -> Descriptor {
        Descriptor {
            addr,
            len,
            flags,
            next,
        }
    }

    fn memory(table: u64, descs: &[Descriptor]) -> BufferMemory {
        let mem = BufferMemory::new(64 * 4096);
        for (i, d) in descs.iter().enumerate() {
            mem.write(table + i as u64 * DESC_SIZE, &d.to_bytes())
                .unwrap();
        }
        mem
    }

    fn runs(list: &WindowList) -> Vec<AddressRange> {
        list.ranges().ranges().collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn splits_a_virtio_blk_request() {
        let mem = memory(
            TABLE,
            &[
                desc(0x5000, 16, DESC_F_NEXT, 2),
                desc(0x9000, 1, DESC_F_WRITE, 0),
                desc(0x7800, 4096, DESC_F_NEXT | DESC_F_WRITE, 1),
            ],
        );
        let mut w = ChainWalker::new(ChainLimits::VIRTIO);
        w.walk(&mem, TABLE, 4, 0).unwrap();
        assert_eq!(runs(w.readable()), vec![AddressRange::from(0x5000..0x5010)]);
        assert_eq!(
            runs(w.writable()),
            vec![
                AddressRange::from(0x7800..0x8800),
                AddressRange::from(0x9000..0x9001)
            ]
        );
    }

    #[test]
    fn follows_an_indirect_table() {
        let mem = memory(TABLE, &[desc(0x3000, 3 * 16, DESC_F_INDIRECT, 0)]);
        for (i, d) in [
            desc(0x5000, 16, DESC_F_NEXT, 1),
            desc(0x6000, 512, DESC_F_NEXT | DESC_F_WRITE, 2),
            desc(0x6200, 1, DESC_F_WRITE, 0),
        ]
        .iter()
        .enumerate()
        {
            mem.write(0x3000 + i as u64 * 16, &d.to_bytes()).unwrap();
        }
        let mut w = ChainWalker::new(ChainLimits::VIRTIO);
        w.walk(&mem, TABLE, 1, 0).unwrap();
        assert_eq!(w.readable().len(), 16);
        assert_eq!(runs(w.writable()), vec![AddressRange::from(0x6000..0x6201)]);
    }

    #[test]
    fn refusals_name_the_descriptor_and_the_rule() {
        let mut w = ChainWalker::new(ChainLimits::VIRTIO);
        let check = |w: &mut ChainWalker, mem: &BufferMemory, size, head, rule, index, ind| {
            let e = w.walk(mem, TABLE, size, head).unwrap_err();
            assert_eq!((e.rule, e.index, e.indirect), (rule, index, ind), "{e}");
            assert!(w.readable().is_empty() && w.writable().is_empty());
        };
        // A loop: 0 -> 1 -> 0.
        let mem = memory(
            TABLE,
            &[
                desc(0x5000, 8, DESC_F_NEXT, 1),
                desc(0x6000, 8, DESC_F_NEXT, 0),
            ],
        );
        check(&mut w, &mem, 2, 0, ChainRule::TooLong, 0, false);
        check(&mut w, &mem, 2, 2, ChainRule::HeadOutOfRange, 2, false);
        check(&mut w, &mem, 0, 0, ChainRule::QueueSize, 0, false);
        // next out of range.
        let mem = memory(TABLE, &[desc(0x5000, 8, DESC_F_NEXT, 9)]);
        check(&mut w, &mem, 4, 0, ChainRule::NextOutOfRange, 0, false);
        // Readable after writable.
        let mem = memory(
            TABLE,
            &[
                desc(0x5000, 8, DESC_F_WRITE | DESC_F_NEXT, 1),
                desc(0x6000, 8, 0, 0),
            ],
        );
        check(
            &mut w,
            &mem,
            2,
            0,
            ChainRule::ReadableAfterWritable,
            1,
            false,
        );
        // Indirect rules.
        let mem = memory(TABLE, &[desc(0x3000, 20, DESC_F_INDIRECT, 0)]);
        check(&mut w, &mem, 1, 0, ChainRule::IndirectLength, 0, false);
        let mem = memory(TABLE, &[desc(0x3000, 0, DESC_F_INDIRECT, 0)]);
        check(&mut w, &mem, 1, 0, ChainRule::IndirectLength, 0, false);
        let mem = memory(TABLE, &[desc(0x3000, 16, DESC_F_INDIRECT | DESC_F_NEXT, 0)]);
        check(&mut w, &mem, 1, 0, ChainRule::IndirectWithNext, 0, false);
        let mem = memory(TABLE, &[desc(0x3000, 32, DESC_F_INDIRECT, 0)]);
        mem.write(0x3000, &desc(0x3100, 16, DESC_F_INDIRECT, 0).to_bytes())
            .unwrap();
        check(&mut w, &mem, 1, 0, ChainRule::NestedIndirect, 0, true);
        // A loop inside an indirect table is bounded by its entries.
        let mem = memory(TABLE, &[desc(0x3000, 32, DESC_F_INDIRECT, 0)]);
        mem.write(0x3000, &desc(0x5000, 8, DESC_F_NEXT, 1).to_bytes())
            .unwrap();
        mem.write(0x3010, &desc(0x5000, 8, DESC_F_NEXT, 0).to_bytes())
            .unwrap();
        check(&mut w, &mem, 1, 0, ChainRule::TooLong, 0, true);
        // A table outside guest memory is a fault, not a host access.
        let mem = memory(TABLE, &[desc(0x3000, 16, DESC_F_INDIRECT, 0)]);
        let e = w.walk(&mem, u64::MAX - 8, 4, 0).unwrap_err();
        assert_eq!(e.rule, ChainRule::Unreadable);
        assert!(e.fault.is_some());
        let mut no_indirect = ChainWalker::new(ChainLimits {
            indirect: false,
            ..ChainLimits::VIRTIO
        });
        check(
            &mut no_indirect,
            &mem,
            1,
            0,
            ChainRule::IndirectNotAllowed,
            0,
            false,
        );
        // Lengths that overflow or exceed the limit.
        let mem = memory(TABLE, &[desc(u64::MAX - 4, 8, 0, 0)]);
        check(&mut w, &mem, 1, 0, ChainRule::Overflow, 0, false);
        let mem = memory(
            TABLE,
            &[
                desc(0x5000, u32::MAX, DESC_F_NEXT, 1),
                desc(0x5000, 1, 0, 0),
            ],
        );
        check(&mut w, &mem, 2, 0, ChainRule::Limit, 1, false);
    }
}
