//! Building the fewest windows from guest byte segments, as a virtio
//! descriptor chain or an NVMe PRP/SGL list gives them.

use thiserror::Error;

use crate::paged_range::{gpn_to_gpa, PAGE_SHIFT, PAGE_SIZE};
use crate::{PagedRange, PagedRanges};

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

/// One window of a [`RangesBuilder`]: `len` bytes from `start` in the
/// shared GPN list's flat byte space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Window {
    start: usize,
    len: usize,
    /// Guest address just past the window's last byte.
    end_gpa: u64,
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
    gpns: Vec<u64>,
    windows: Vec<Window>,
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
        let last_gpn = (end_gpa - 1) >> PAGE_SHIFT;
        // The segment's pages; the last GPN is below 2^52, so
        // `gpn_to_gpa` of every page works and `end_gpa` is never 2^64.
        let in_page = (gpa % PAGE_SIZE as u64) as usize;

        let joined = self.windows.last().is_some_and(|w| {
            w.end_gpa == gpa || (w.end_gpa % PAGE_SIZE as u64 == 0 && in_page == 0)
        });
        // When the window ends mid-page exactly where the segment starts,
        // the segment's first page is already the window's last page.
        let shares_page = joined
            && self
                .windows
                .last()
                .is_some_and(|w| w.end_gpa == gpa && in_page != 0);
        let skip_pages = u64::from(shares_page);
        let new_pages =
            usize::try_from(last_gpn - first_gpn + 1 - skip_pages).map_err(|_| overflow)?;
        let pages = self
            .gpns
            .len()
            .checked_add(new_pages)
            .filter(|&p| p <= self.limits.max_pages)
            .ok_or(BuilderError::TooManyPages {
                index,
                max: self.limits.max_pages,
            })?;
        if !joined && self.windows.len() >= self.limits.max_windows {
            return Err(BuilderError::TooManyWindows {
                index,
                max: self.limits.max_windows,
            });
        }
        // Flat byte offsets must fit in usize.
        pages.checked_mul(PAGE_SIZE).ok_or(overflow)?;
        let alloc = BuilderError::Allocation { index };
        self.gpns.try_reserve(new_pages).map_err(|_| alloc)?;
        if !joined {
            self.windows.try_reserve(1).map_err(|_| alloc)?;
        }

        let first_new_page = self.gpns.len();
        self.gpns.extend(first_gpn + skip_pages..=last_gpn);
        match self.windows.last_mut() {
            Some(w) if joined => {
                w.len += len_usize;
                w.end_gpa = end_gpa;
            }
            _ => self.windows.push(Window {
                start: first_new_page * PAGE_SIZE + in_page,
                len: len_usize,
                end_gpa,
            }),
        }
        self.bytes = bytes;
        debug_assert!(gpn_to_gpa(last_gpn).is_ok());
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
        self.windows.len()
    }

    /// The shared GPN list.
    pub fn gpns(&self) -> &[u64] {
        &self.gpns
    }

    /// Window `i` as a [`PagedRange`] over the shared list.
    pub fn window(&self, i: usize) -> Option<PagedRange<'_>> {
        let w = self.windows.get(i)?;
        PagedRange::new(w.start, w.len, &self.gpns)
    }

    /// The windows, in order.
    pub fn windows(&self) -> impl Iterator<Item = PagedRange<'_>> + Clone + '_ {
        (0..self.windows.len()).filter_map(|i| self.window(i))
    }

    /// The whole buffer as a [`PagedRanges`].
    pub fn ranges(&self) -> PagedRanges<'_, impl Iterator<Item = PagedRange<'_>> + Clone + '_> {
        PagedRanges::new(self.windows())
    }

    /// Removes every window, keeping the limits and the allocations.
    pub fn clear(&mut self) {
        self.gpns.clear();
        self.windows.clear();
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
