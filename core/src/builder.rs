//! Building the fewest windows from guest byte segments, as a virtio
//! descriptor chain or an NVMe PRP/SGL list gives them.

use thiserror::Error;

use crate::page::{gpn_to_gpa, pages_spanned, PAGE_SHIFT, PAGE_SIZE};
use crate::{PagedRange, PagedRanges, WindowList};

/// Limits a [`RangesBuilder`] enforces, so a hostile descriptor chain is
/// refused in one place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuilderLimits {
    /// Most windows the result may hold.
    pub max_windows: usize,
    /// Most guest pages the result may list.
    pub max_pages: usize,
    /// Most bytes the result may describe.
    pub max_bytes: u64,
}

impl BuilderLimits {
    /// Limits suited to virtio: a descriptor chain of at most 1024
    /// descriptors (a queue's maximum size), at most 2^32 - 1 bytes in all,
    /// and the pages those bytes can span.
    pub const VIRTIO: Self = Self {
        max_windows: 1024,
        max_pages: ((u32::MAX as usize) >> PAGE_SHIFT) + 2 + 1024,
        max_bytes: u32::MAX as u64,
    };
}

impl Default for BuilderLimits {
    fn default() -> Self {
        Self::VIRTIO
    }
}

/// Why a segment was refused. `index` is the segment's position among all
/// segments pushed (zero-length ones included).
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum BuilderError {
    /// `gpa + len` does not fit in 64 bits (or is 2^64 exactly).
    #[error("segment {index}: GPA {gpa:#x} + {len} bytes overflows the guest address space")]
    Overflow {
        /// Index of the segment.
        index: usize,
        /// Its guest physical address.
        gpa: u64,
        /// Its length.
        len: u64,
    },
    /// The segment would make more windows than allowed.
    #[error("segment {index}: more than {max} windows")]
    TooManyWindows {
        /// Index of the segment.
        index: usize,
        /// The limit.
        max: usize,
    },
    /// The segment would make the list longer than allowed.
    #[error("segment {index}: more than {max} pages")]
    TooManyPages {
        /// Index of the segment.
        index: usize,
        /// The limit.
        max: usize,
    },
    /// The segment would make the buffer longer than allowed.
    #[error("segment {index}: more than {max} bytes in all")]
    TooManyBytes {
        /// Index of the segment.
        index: usize,
        /// The limit.
        max: u64,
    },
    /// Memory for the lists could not be allocated.
    #[error("segment {index}: out of memory")]
    Allocation {
        /// Index of the segment.
        index: usize,
    },
}

impl BuilderError {
    /// Index of the segment that broke a rule.
    pub fn index(&self) -> usize {
        match *self {
            BuilderError::Overflow { index, .. }
            | BuilderError::TooManyWindows { index, .. }
            | BuilderError::TooManyPages { index, .. }
            | BuilderError::TooManyBytes { index, .. }
            | BuilderError::Allocation { index } => index,
        }
    }
}

/// Turns guest byte segments `(gpa, len)`, in order, into the fewest
/// [`PagedRange`] windows that describe the same bytes as one buffer.
///
/// A segment joins the window before it when the two meet exactly in guest
/// memory (the window ends where the segment starts), or when the window
/// ends on a page boundary and the segment starts on one (interior pages are
/// whole, so the pages just follow each other in the list). Otherwise it
/// starts a new window. Zero-length segments are skipped. All windows share
/// one GPN list.
///
/// ```text
///  segments:  [0x1f00, +0x100] [0x5000, +0x2000] [0x9000, +0x10] [0x9010, +0x30]
///  windows:   |<------ window 0: GPNs 1, 5, 6 ------>| |<- window 1: GPN 9 ->|
/// ```
#[derive(Clone, Debug, Default)]
pub struct RangesBuilder {
    limits: BuilderLimits,
    list: WindowList,
    /// Guest address just past the last window's last byte.
    end_gpa: Option<u64>,
    bytes: u64,
    /// Segments pushed so far, for error reports.
    pushed: usize,
}

impl RangesBuilder {
    /// A builder with [`BuilderLimits::VIRTIO`].
    pub fn new() -> Self {
        Self::with_limits(BuilderLimits::VIRTIO)
    }

    /// A builder enforcing `limits`.
    pub fn with_limits(limits: BuilderLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> BuilderLimits {
        self.limits
    }

    /// Adds the `len` bytes at guest address `gpa` after the bytes already
    /// added. On error nothing is added.
    pub fn push(&mut self, gpa: u64, len: u64) -> Result<(), BuilderError> {
        let index = self.pushed;
        self.pushed += 1;
        if len == 0 {
            return Ok(());
        }
        let overflow = BuilderError::Overflow { index, gpa, len };
        let end_gpa = gpa.checked_add(len).ok_or(overflow)?;
        let bytes = self
            .bytes
            .checked_add(len)
            .filter(|&b| b <= self.limits.max_bytes)
            .ok_or(BuilderError::TooManyBytes {
                index,
                max: self.limits.max_bytes,
            })?;
        let len_usize = usize::try_from(len).map_err(|_| overflow)?;
        let first_gpn = gpa >> PAGE_SHIFT;
        let in_page = (gpa % PAGE_SIZE as u64) as usize;
        // The segment's pages; its last GPN is below 2^52 (`end_gpa` is
        // below 2^64), so every page has an address.
        let last_gpn = (end_gpa - 1) >> PAGE_SHIFT;
        debug_assert!(gpn_to_gpa(last_gpn).is_ok());

        // Joined: the window meets the segment exactly, or both meet a
        // page boundary (interior pages are whole).
        let joined = self
            .end_gpa
            .is_some_and(|end| end == gpa || (end % PAGE_SIZE as u64 == 0 && in_page == 0));
        // When the window ends mid-page exactly where the segment starts,
        // the segment's first page is already the window's last page.
        let shares_page = joined && in_page != 0;
        let new_pages = pages_spanned(in_page, len_usize) - usize::from(shares_page);
        let pages = self
            .list
            .gpns()
            .len()
            .checked_add(new_pages)
            .filter(|&p| p <= self.limits.max_pages)
            .ok_or(BuilderError::TooManyPages {
                index,
                max: self.limits.max_pages,
            })?;
        if !joined && self.list.window_count() >= self.limits.max_windows {
            return Err(BuilderError::TooManyWindows {
                index,
                max: self.limits.max_windows,
            });
        }
        // Flat byte offsets must fit in usize.
        pages.checked_mul(PAGE_SIZE).ok_or(overflow)?;
        self.list
            .reserve(new_pages, usize::from(!joined))
            .map_err(|()| BuilderError::Allocation { index })?;

        let first_new = first_gpn + u64::from(shares_page);
        self.list
            .append(first_new..=last_gpn, joined, in_page, len_usize);
        self.end_gpa = Some(end_gpa);
        self.bytes = bytes;
        Ok(())
    }

    /// Total bytes added.
    pub fn len(&self) -> u64 {
        self.bytes
    }

    /// True when no byte was added.
    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    /// Number of windows so far.
    pub fn window_count(&self) -> usize {
        self.list.window_count()
    }

    /// The shared GPN list.
    pub fn gpns(&self) -> &[u64] {
        self.list.gpns()
    }

    /// Window `i` as a [`PagedRange`] over the shared list.
    pub fn window(&self, i: usize) -> Option<PagedRange<'_>> {
        self.list.window(i)
    }

    /// The windows, in order.
    pub fn windows(&self) -> impl Iterator<Item = PagedRange<'_>> + Clone + '_ {
        self.list.windows()
    }

    /// The whole buffer as a [`PagedRanges`].
    pub fn ranges(&self) -> PagedRanges<'_, impl Iterator<Item = PagedRange<'_>> + Clone + '_> {
        self.list.ranges()
    }

    /// The windows built so far, as a list: clone it, or `clone_from` it
    /// into a list a device reuses per request.
    pub fn list(&self) -> &WindowList {
        &self.list
    }

    /// Removes every window, keeping the limits and the allocations.
    pub fn clear(&mut self) {
        self.list.clear();
        self.end_gpa = None;
        self.bytes = 0;
        self.pushed = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AddressRange;

    const P: u64 = PAGE_SIZE as u64;

    fn runs(b: &RangesBuilder) -> Vec<AddressRange> {
        b.ranges().ranges().collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn joins_on_page_boundaries_and_exact_contiguity() {
        let mut b = RangesBuilder::new();
        b.push(0x1f00, 0x100).unwrap(); // ends on a page boundary
        b.push(0x5000, 0x2000).unwrap(); // starts on one: joins
        b.push(0x9000, 0x10).unwrap(); // window ends at 0x7000, 0x9000 aligned: joins
        b.push(0x9010, 0x30).unwrap(); // exactly contiguous mid-page: joins
        b.push(0x9100, 0x10).unwrap(); // gap mid-page: new window
        b.push(0x42, 0).unwrap(); // ignored
        assert_eq!(b.window_count(), 2);
        assert_eq!(b.gpns(), &[1, 5, 6, 9, 9]);
        assert_eq!(b.len(), 0x100 + 0x2000 + 0x40 + 0x10);
        assert_eq!(
            runs(&b),
            vec![
                AddressRange::from(0x1f00..0x2000),
                AddressRange::from(0x5000..0x7000),
                AddressRange::from(0x9000..0x9040),
                AddressRange::from(0x9100..0x9110),
            ]
        );
    }

    #[test]
    fn unaligned_pieces_start_new_windows() {
        let mut b = RangesBuilder::new();
        b.push(0x1000, 0x800).unwrap();
        b.push(0x3000, 0x800).unwrap(); // window ends mid-page: new window
        b.push(0x4800, 0x1000).unwrap(); // starts mid-page: new window
        assert_eq!(b.window_count(), 3);
        assert_eq!(b.window(2).unwrap().offset(), 0x800);
        assert_eq!(b.window(2).unwrap().gpns(), &[4, 5]);
    }

    #[test]
    fn limits_and_overflow_name_the_segment() {
        let limits = BuilderLimits {
            max_windows: 2,
            max_pages: 3,
            max_bytes: 3 * P,
        };
        let mut b = RangesBuilder::with_limits(limits);
        b.push(0, 0).unwrap();
        b.push(0x100, 0x10).unwrap();
        b.push(0x300, 0x10).unwrap();
        assert_eq!(
            b.push(0x500, 0x10),
            Err(BuilderError::TooManyWindows { index: 3, max: 2 })
        );
        assert_eq!(
            b.push(u64::MAX - 1, 2),
            Err(BuilderError::Overflow {
                index: 4,
                gpa: u64::MAX - 1,
                len: 2
            })
        );
        assert_eq!(
            b.push(0x310, 3 * P),
            Err(BuilderError::TooManyBytes {
                index: 5,
                max: 3 * P
            })
        );
        assert_eq!(
            b.push(0x310, 2 * P),
            Err(BuilderError::TooManyPages { index: 6, max: 3 })
        );
        assert_eq!(b.window_count(), 2, "refused segments add nothing");
        assert_eq!(b.len(), 0x20);
        assert_eq!(b.push(0x310, 0x10).map_err(|e| e.index()), Ok(()));
        // The top of the address space: the last byte before 2^64 is usable.
        let mut top = RangesBuilder::with_limits(BuilderLimits {
            max_windows: 4,
            max_pages: 4,
            max_bytes: u64::MAX,
        });
        top.push(u64::MAX - 0x10, 0x10).unwrap();
        assert_eq!(
            runs(&top),
            vec![AddressRange::from(u64::MAX - 0x10..u64::MAX)]
        );
    }
}
