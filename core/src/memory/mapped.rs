//! Guest RAM mapped into the host process: copies go straight through raw
//! pointers, with no callback in between.

use core::fmt;

use super::access::{self, AccessFault};
use super::{fault, GuestMemory, FAULT_UNMAPPED};
use crate::error::MemoryFault;

/// One piece of guest RAM mapped into the host: guest physical addresses
/// `gpa .. gpa + size` live at host addresses `host .. host + size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MappedRegion {
    /// First guest physical address of the region.
    pub gpa: u64,
    /// Size of the region in bytes.
    pub size: u64,
    /// Host address where the region's first byte is mapped.
    pub host: *mut u8,
}

/// Why a set of regions was refused.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum RegionError {
    /// A region has a NULL host pointer or a size of zero.
    #[error("region {index} is empty or has a NULL host pointer")]
    Empty {
        /// Index of the region in the list given.
        index: usize,
    },
    /// `gpa + size` or `host + size` does not fit in the address space.
    #[error("region {index} (GPA {gpa:#x}, {size} bytes) overflows the address space")]
    Overflow {
        /// Index of the region in the list given.
        index: usize,
        /// Its first guest physical address.
        gpa: u64,
        /// Its size.
        size: u64,
    },
    /// Two regions share guest physical addresses.
    #[error("regions {first} and {second} overlap at GPA {gpa:#x}")]
    Overlap {
        /// Index of one region.
        first: usize,
        /// Index of the other.
        second: usize,
        /// First guest physical address they share.
        gpa: u64,
    },
    /// The region list could not be allocated.
    #[error("could not allocate the region table")]
    Allocation,
}

/// A validated region: `gpa .. end` at `host`.
#[derive(Clone, Copy)]
struct Region {
    gpa: u64,
    end: u64,
    /// `end - gpa`, kept for the one-region lookup.
    size: u64,
    host: *mut u8,
}

/// Guest memory made of host-mapped regions.
///
/// A run is checked against the regions before any byte moves: a run that
/// leaves them (even partly) fails with [`FAULT_UNMAPPED`] at the first
/// guest address outside them, and no byte outside a region is read or
/// written. A run crossing from one region into an adjacent one (the next
/// region starts where the previous ends) works, in one copy per region.
///
/// An access of 1, 2, 4 or 8 bytes at a guest address aligned to its size
/// (inside one region) is a single load or store: a ring index or flag the
/// guest updates concurrently is read whole, never half old, half new.
///
/// Guest RAM is shared with a running guest, so this backend never forms a
/// Rust reference over it: every byte goes through the assembly copy and
/// fill routines of `access.rs`, which tolerate a host buffer that itself
/// lies in guest RAM, and which stop at a fault (a truncated or unmapped
/// region) with [`FAULT_SIGBUS`](super::FAULT_SIGBUS) or
/// [`FAULT_SIGSEGV`](super::FAULT_SIGSEGV) when the fault handler is
/// installed ([`super::fault`]).
pub struct MappedMemory {
    /// Sorted by `gpa`, non-overlapping.
    regions: Vec<Region>,
}

// SAFETY: the struct holds only addresses; `MappedMemory::new`'s contract
// makes them valid to access from any thread for the value's lifetime.
unsafe impl Send for MappedMemory {}
// SAFETY: as above; no method mutates the struct.
unsafe impl Sync for MappedMemory {}

impl fmt::Debug for MappedMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.regions).finish()
    }
}

/// A piece of a run inside one region: host address and length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostPiece {
    /// Host address of the piece's first byte.
    pub host: *mut u8,
    /// Length in bytes.
    pub len: usize,
}

impl MappedMemory {
    /// Validates `regions` (none empty, none overflowing, no two sharing a
    /// guest address) and builds the backend. The order of `regions` does
    /// not matter.
    ///
    /// # Safety
    /// For as long as the returned value (or anything derived from it)
    /// lives, each region's `host .. host + size` must stay mapped, readable
    /// and writable. Other threads (the guest) may access it concurrently.
    pub unsafe fn new(regions: &[MappedRegion]) -> Result<Self, RegionError> {
        let mut table = Vec::new();
        table
            .try_reserve_exact(regions.len())
            .map_err(|_| RegionError::Allocation)?;
        let mut order = Vec::new();
        order
            .try_reserve_exact(regions.len())
            .map_err(|_| RegionError::Allocation)?;
        for (index, r) in regions.iter().enumerate() {
            if r.host.is_null() || r.size == 0 {
                return Err(RegionError::Empty { index });
            }
            let overflow = RegionError::Overflow {
                index,
                gpa: r.gpa,
                size: r.size,
            };
            let end = r.gpa.checked_add(r.size).ok_or(overflow)?;
            let size = usize::try_from(r.size).map_err(|_| overflow)?;
            (r.host as usize).checked_add(size).ok_or(overflow)?;
            if size > isize::MAX as usize {
                return Err(overflow);
            }
            order.push(index);
            table.push(Region {
                gpa: r.gpa,
                end,
                size: r.size,
                host: r.host,
            });
        }
        order.sort_unstable_by_key(|&i| table[i].gpa);
        for pair in order.windows(2) {
            let (a, b) = (table[pair[0]], table[pair[1]]);
            if b.gpa < a.end {
                return Err(RegionError::Overlap {
                    first: pair[0],
                    second: pair[1],
                    gpa: b.gpa,
                });
            }
        }
        table.sort_unstable_by_key(|r| r.gpa);
        Ok(Self { regions: table })
    }

    /// The regions, sorted by guest address.
    pub fn regions(&self) -> impl Iterator<Item = MappedRegion> + '_ {
        self.regions.iter().map(|r| MappedRegion {
            gpa: r.gpa,
            size: r.end - r.gpa,
            host: r.host,
        })
    }

    /// Index of the region holding `gpa`.
    fn find(&self, gpa: u64) -> Option<usize> {
        let i = self.regions.partition_point(|r| r.end <= gpa);
        (i < self.regions.len() && self.regions[i].gpa <= gpa).then_some(i)
    }

    /// Checks that `len` bytes at `gpa` are mapped, returning the index of
    /// the first region, or the first unmapped address.
    fn check(&self, gpa: u64, len: usize) -> Result<usize, MemoryFault> {
        let fault = |gpa| MemoryFault {
            gpa,
            code: FAULT_UNMAPPED,
            done: 0,
        };
        let first = self.find(gpa).ok_or(fault(gpa))?;
        // A run whose end would pass 2^64 cannot be mapped to its end:
        // treat its end as past every region, so the walk below blames the
        // first address after the mapped part, like any other run.
        let end = u64::try_from(len).ok().and_then(|l| gpa.checked_add(l));
        let mut i = first;
        while end.is_none_or(|end| self.regions[i].end < end) {
            let next = self.regions.get(i + 1);
            if next.is_none_or(|n| n.gpa != self.regions[i].end) {
                return Err(fault(self.regions[i].end));
            }
            i += 1;
        }
        Ok(first)
    }

    /// The host pieces of the `len` bytes at `gpa`, in order, one per
    /// region the run crosses, after checking the whole run is mapped.
    pub fn pieces(&self, gpa: u64, len: usize) -> Result<HostPieces<'_>, MemoryFault> {
        let first = self.check(gpa, len)?;
        Ok(HostPieces {
            regions: &self.regions[first..],
            at: gpa,
            left: len,
        })
    }
}

/// Iterator over the host pieces of a checked run, from
/// [`MappedMemory::pieces`].
#[derive(Clone, Debug)]
pub struct HostPieces<'m> {
    /// Regions from the one holding `at` on; the run is known to be mapped.
    regions: &'m [Region],
    at: u64,
    left: usize,
}

impl Iterator for HostPieces<'_> {
    type Item = HostPiece;

    fn next(&mut self) -> Option<HostPiece> {
        if self.left == 0 {
            return None;
        }
        let (r, rest) = self.regions.split_first()?;
        // `at` is inside `r` (the run was checked), so both fit in usize.
        let offset = (self.at - r.gpa) as usize;
        let n = self.left.min((r.end - self.at) as usize);
        self.regions = rest;
        self.left -= n;
        self.at += n as u64;
        Some(HostPiece {
            host: r.host.wrapping_add(offset),
            len: n,
        })
    }
}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}..{:#x} at {:p}", self.gpa, self.end, self.host)
    }
}

impl MappedMemory {
    /// The host address of `len` bytes at `gpa` when they lie in a single
    /// region (the common case), found without walking pieces.
    #[inline(always)]
    fn within_one(&self, gpa: u64, len: usize) -> Option<*mut u8> {
        // One region (the usual guest RAM): no search.
        let r = match &self.regions[..] {
            [only] => only,
            all => all.get(all.partition_point(|r| r.end <= gpa))?,
        };
        // Below the region, `offset` wraps to a value above its size.
        let offset = gpa.wrapping_sub(r.gpa);
        if offset < r.size && (len as u64) <= r.size - offset {
            // `offset < size`, and the region fits in the address space.
            Some(r.host.wrapping_add(offset as usize))
        } else {
            None
        }
    }
}

/// The fault for an access to the `len` bytes at `gpa` (host address
/// `host`) stopped after `f.done` of them, `before` bytes into the run.
#[cold]
#[inline(never)]
fn stopped(gpa: u64, host: *mut u8, len: usize, before: usize, f: AccessFault) -> MemoryFault {
    // A fault inside the guest piece is blamed on its own address; one in
    // the host buffer (the caller's) on the first guest byte not moved.
    let off = f.addr.wrapping_sub(host as usize);
    let at = if off < len { off } else { f.done };
    MemoryFault {
        gpa: gpa.wrapping_add(at as u64),
        code: fault::code_for(f.signal),
        done: before + f.done,
    }
}

impl MappedMemory {
    /// Runs `access(piece, bytes before it)` on each host piece of the
    /// `len` bytes at `gpa` (a run spanning several regions, or leaving
    /// them), stopping at the first fault.
    #[cold]
    #[inline(never)]
    fn each_piece(
        &self,
        gpa: u64,
        len: usize,
        mut access: impl FnMut(HostPiece, usize) -> Result<(), AccessFault>,
    ) -> Result<(), MemoryFault> {
        let mut pos = 0;
        for piece in self.pieces(gpa, len)? {
            let at = gpa.wrapping_add(pos as u64);
            access(piece, pos).map_err(|f| stopped(at, piece.host, piece.len, pos, f))?;
            pos += piece.len;
        }
        Ok(())
    }
}

// The common case (a run inside one region) is a lookup and one call of
// the access routine, inlined into the range walk; runs spanning regions
// take the cold path.
impl GuestMemory for MappedMemory {
    #[inline(always)]
    fn read(&self, gpa: u64, dst: &mut [u8]) -> Result<(), MemoryFault> {
        let (len, out) = (dst.len(), dst.as_mut_ptr());
        match self.within_one(gpa, len) {
            // SAFETY: `host .. host + len` lies inside one mapped region
            // (valid per `new`'s contract); `dst` is a host buffer of that
            // length. `copy` allows overlap.
            Some(host) => {
                unsafe { access::copy(host, out, len) }.map_err(|f| stopped(gpa, host, len, 0, f))
            }
            None => self.each_piece(gpa, len, |piece, pos| {
                // SAFETY: the piece lies inside a mapped region (checked
                // by `pieces`); `out + pos` has `piece.len` bytes left in
                // `dst`.
                unsafe { access::copy(piece.host, out.add(pos), piece.len) }
            }),
        }
    }

    #[inline(always)]
    fn write(&self, gpa: u64, src: &[u8]) -> Result<(), MemoryFault> {
        let (len, from) = (src.len(), src.as_ptr());
        match self.within_one(gpa, len) {
            // SAFETY: as in `read`, with the roles of the buffers swapped.
            Some(host) => {
                unsafe { access::copy(from, host, len) }.map_err(|f| stopped(gpa, host, len, 0, f))
            }
            None => self.each_piece(gpa, len, |piece, pos| {
                // SAFETY: as in `read`, with the roles swapped.
                unsafe { access::copy(from.add(pos), piece.host, piece.len) }
            }),
        }
    }

    #[inline(always)]
    fn fill(&self, gpa: u64, value: u8, len: usize) -> Result<(), MemoryFault> {
        match self.within_one(gpa, len) {
            // SAFETY: `host .. host + len` lies inside one mapped region.
            Some(host) => {
                unsafe { access::fill(host, value, len) }.map_err(|f| stopped(gpa, host, len, 0, f))
            }
            None => self.each_piece(gpa, len, |piece, _| {
                // SAFETY: the piece lies inside a mapped region.
                unsafe { access::fill(piece.host, value, piece.len) }
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(gpa: u64, buf: &mut [u8]) -> MappedRegion {
        MappedRegion {
            gpa,
            size: buf.len() as u64,
            host: buf.as_mut_ptr().cast(),
        }
    }

    #[test]
    fn validation() {
        let mut a = vec![0u8; 64];
        let mut b = vec![0u8; 64];
        let ra = region(0x1000, &mut a);
        let rb = region(0x1020, &mut b);
        // SAFETY: the buffers outlive the memory (it is dropped at once).
        unsafe {
            assert_eq!(
                MappedMemory::new(&[ra, rb]).unwrap_err(),
                RegionError::Overlap {
                    first: 0,
                    second: 1,
                    gpa: 0x1020
                }
            );
            let top = MappedRegion {
                gpa: u64::MAX - 10,
                ..ra
            };
            assert!(matches!(
                MappedMemory::new(&[top]).unwrap_err(),
                RegionError::Overflow { index: 0, .. }
            ));
            let empty = MappedRegion { size: 0, ..ra };
            assert_eq!(
                MappedMemory::new(&[empty]).unwrap_err(),
                RegionError::Empty { index: 0 }
            );
            let null = MappedRegion {
                host: core::ptr::null_mut(),
                ..ra
            };
            assert_eq!(
                MappedMemory::new(&[rb, null]).unwrap_err(),
                RegionError::Empty { index: 1 }
            );
            let touching = region(0x1040, &mut b);
            let m = MappedMemory::new(&[touching, ra]).unwrap();
            assert_eq!(
                m.regions().map(|r| r.gpa).collect::<Vec<_>>(),
                vec![0x1000, 0x1040]
            );
        }
    }

    #[test]
    fn copies_across_adjacent_regions_and_refuses_gaps() {
        let mut a = vec![0u8; 16];
        let mut b = vec![0u8; 16];
        let mut c = vec![0u8; 16];
        // SAFETY: the buffers outlive `m` and are not used directly while it
        // lives.
        let m = unsafe {
            MappedMemory::new(&[
                region(100, &mut a),
                region(116, &mut b),
                region(200, &mut c),
            ])
        }
        .unwrap();
        let data: Vec<u8> = (1..=20).collect();
        m.write(106, &data).unwrap();
        let mut back = [0u8; 20];
        m.read(106, &mut back).unwrap();
        assert_eq!(&back[..], &data[..]);
        m.fill(200, 7, 16).unwrap();
        // Leaving the regions fails before any byte moves.
        assert_eq!(
            m.write(120, &[9; 20]),
            Err(MemoryFault {
                gpa: 132,
                code: FAULT_UNMAPPED,
                done: 0
            })
        );
        assert_eq!(
            m.fill(99, 1, 2),
            Err(MemoryFault {
                gpa: 99,
                code: FAULT_UNMAPPED,
                done: 0
            })
        );
        assert_eq!(
            m.read(u64::MAX, &mut [0; 2]),
            Err(MemoryFault {
                gpa: u64::MAX,
                code: FAULT_UNMAPPED,
                done: 0
            })
        );
        drop(m);
        assert_eq!(&a[6..], &data[..10]);
        assert_eq!(&b[..10], &data[10..]);
        assert_eq!(&b[10..], &[0; 6], "the refused write left no byte behind");
        assert_eq!(c, vec![7; 16]);
    }

    #[test]
    fn runs_past_the_top_are_blamed_on_the_region_end() {
        // The highest region possible ends at u64::MAX (its end is
        // exclusive); a run from inside it whose end would pass 2^64 is
        // blamed on the first address after the region.
        let mut top = vec![0u8; 16];
        // SAFETY: `top` outlives `t` and is not used directly while it lives.
        let t = unsafe { MappedMemory::new(&[region(u64::MAX - 16, &mut top)]) }.unwrap();
        assert_eq!(
            t.read(u64::MAX - 8, &mut [0; 16]),
            Err(MemoryFault {
                gpa: u64::MAX,
                code: FAULT_UNMAPPED,
                done: 0
            })
        );
        assert_eq!(t.write(u64::MAX - 8, &[1; 8]), Ok(()));
        drop(t);
        assert_eq!(&top[8..], &[1; 8]);
    }
}
