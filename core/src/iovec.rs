//! Zero-copy export: the host `iovec`s behind a range in mapped guest
//! memory, for `preadv`/`pwritev` straight into guest pages.

#[cfg(test)]
use crate::{error::TransferError, memory::MappedMemory, PagedRange, PagedRanges};

/// What an iovec export produced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IovecExport {
    /// Entries written to the array.
    pub count: usize,
    /// Bytes those entries cover, from the start of the range. Less than the
    /// length asked for when the array was too short.
    pub covered: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MappedRegion;

    const P: usize = 4096;

    fn empty_iov() -> libc::iovec {
        libc::iovec {
            iov_base: core::ptr::null_mut(),
            iov_len: 0,
        }
    }

    #[test]
    fn merges_host_adjacent_pieces_and_splits_when_short() {
        let mut ram = vec![0u8; 8 * P];
        let base = ram.as_mut_ptr();
        // GPNs 0..4 at host pages 0..4, GPNs 100..104 at host pages 4..8:
        // GPN 3 and GPN 100 are not adjacent as guest pages but are in host
        // memory.
        let regions = [
            MappedRegion {
                gpa: 0,
                size: 4 * P as u64,
                host: base.cast(),
            },
            MappedRegion {
                gpa: 100 * P as u64,
                size: 4 * P as u64,
                host: base.wrapping_add(4 * P).cast(),
            },
        ];
        // SAFETY: `ram` outlives `mem` and is not touched while it lives.
        let mem = unsafe { MappedMemory::new(&regions) }.unwrap();
        let gpns = [2, 3, 100, 0];
        let r = PagedRange::new(10, 4 * P - 20, &gpns).unwrap();
        let mut out = [empty_iov(); 4];
        let got = r.iovecs(&mem, r.len(), &mut out).unwrap();
        assert_eq!(
            got,
            IovecExport {
                count: 2,
                covered: 4 * P - 20
            }
        );
        assert_eq!(out[0].iov_base, base.wrapping_add(2 * P + 10).cast());
        assert_eq!(out[0].iov_len, 3 * P - 10);
        assert_eq!(out[1].iov_base, base.cast());
        assert_eq!(out[1].iov_len, P - 10);

        // One entry only: it covers what merges into it.
        let mut one = [empty_iov(); 1];
        let got = r.iovecs(&mem, r.len(), &mut one).unwrap();
        assert_eq!(
            got,
            IovecExport {
                count: 1,
                covered: 3 * P - 10
            }
        );

        // A prefix, and errors.
        let got = r.iovecs(&mem, 5, &mut out).unwrap();
        assert_eq!(
            got,
            IovecExport {
                count: 1,
                covered: 5
            }
        );
        assert!(matches!(
            r.iovecs(&mem, r.len() + 1, &mut out),
            Err(TransferError::OutOfRange(_))
        ));
        let outside = [2, 50];
        let r = PagedRange::new(0, 2 * P, &outside).unwrap();
        assert_eq!(
            r.iovecs(&mem, 2 * P, &mut out),
            Err(TransferError::Memory {
                done: P,
                gpa: 50 * P as u64,
                code: -1
            })
        );
        let two = [r.subrange(0, 8), r.subrange(8, 8)];
        let both = PagedRanges::new(two.iter().copied());
        let got = both.iovecs(&mem, 16, &mut out).unwrap();
        assert_eq!(
            got,
            IovecExport {
                count: 1,
                covered: 16
            },
            "windows merge in host memory"
        );
    }
}
