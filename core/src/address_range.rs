//! [`AddressRange`]: a half-open interval of guest physical addresses.

use core::fmt;
use core::ops::Range;

/// A range of bytes in the guest physical address space, `start..end`
/// (the end is exclusive).
///
/// This is what [`PagedRange::ranges`](crate::PagedRange::ranges) yields for
/// every run of physically adjacent guest pages. The layout is fixed
/// (`#[repr(C)]`) so the same value crosses the C ABI as `pr_address_range`.
#[repr(C)]
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct AddressRange {
    /// First guest physical address in the range.
    pub start: u64,
    /// One past the last guest physical address in the range.
    pub end: u64,
}

impl AddressRange {
    /// Creates `start..end`. Returns `None` when `end < start`.
    pub const fn new(start: u64, end: u64) -> Option<Self> {
        if end < start {
            None
        } else {
            Some(Self { start, end })
        }
    }

    /// Creates the range of `len` bytes starting at `start`, or `None` when
    /// `start + len` does not fit in 64 bits.
    pub const fn from_start_len(start: u64, len: u64) -> Option<Self> {
        match start.checked_add(len) {
            Some(end) => Some(Self { start, end }),
            None => None,
        }
    }

    /// Number of bytes in the range (zero when `end <= start`).
    pub const fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// True when the range holds no byte.
    pub const fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// True when `gpa` lies inside the range.
    pub const fn contains(&self, gpa: u64) -> bool {
        self.start <= gpa && gpa < self.end
    }
}

impl From<Range<u64>> for AddressRange {
    fn from(r: Range<u64>) -> Self {
        Self {
            start: r.start,
            end: r.end,
        }
    }
}

impl From<AddressRange> for Range<u64> {
    fn from(r: AddressRange) -> Self {
        r.start..r.end
    }
}

impl fmt::Debug for AddressRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}..{:#x}", self.start, self.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn len_and_empty() {
        let r = AddressRange::from(0x1000..0x1800);
        assert_eq!(r.len(), 0x800);
        assert!(!r.is_empty());
        assert!(r.contains(0x1000));
        assert!(r.contains(0x17ff));
        assert!(!r.contains(0x1800));
        let e = AddressRange::from(5..5);
        assert_eq!(e.len(), 0);
        assert!(e.is_empty());
        // A reversed range built from a `Range` is empty, never a wrapped length.
        let rev = AddressRange { start: 10, end: 5 };
        assert_eq!(rev.len(), 0);
        assert!(rev.is_empty());
    }

    #[test]
    fn checked_constructors() {
        assert_eq!(AddressRange::new(3, 2), None);
        assert_eq!(
            AddressRange::new(2, 3),
            Some(AddressRange { start: 2, end: 3 })
        );
        assert_eq!(AddressRange::from_start_len(u64::MAX, 1), None);
        assert_eq!(
            AddressRange::from_start_len(u64::MAX - 1, 1),
            Some(AddressRange {
                start: u64::MAX - 1,
                end: u64::MAX
            })
        );
        let r: Range<u64> = AddressRange::from(1..9).into();
        assert_eq!(r, 1..9);
        assert_eq!(format!("{:?}", AddressRange::from(16..32)), "0x10..0x20");
    }
}
