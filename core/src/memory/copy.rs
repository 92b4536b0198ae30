//! The copy routine of the mapped backend, chosen per size class by
//! measurement (`bench-c/copy.c`, results in `docs/bench/copy.md`).
//!
//! On x86-64, below about 2.3 KiB glibc's `memmove` beats `rep movsb`
//! 1.3x-4.3x (the string instruction's start-up cost); from 2304 bytes on,
//! a bare `rep movsb` was 5-8% faster for destinations on a 64-byte
//! boundary and level otherwise (it skips glibc's own dispatch, which ends
//! in `rep movsb` at these sizes anyway). So copies of a page or more that
//! do not overlap use `rep movsb`; everything else uses `memmove`
//! (`core::ptr::copy`), which also handles a host buffer that lies in
//! guest RAM. Elsewhere, and under miri, everything uses `core::ptr::copy`.

/// Copies below this many bytes go through `memmove`.
#[cfg(all(target_arch = "x86_64", not(miri)))]
const REP_MOVSB_MIN: usize = 4096;

/// Reads `len` bytes of guest memory at `guest` into `dst`: one load when
/// `len` is 1, 2, 4 or 8 and `guest` is aligned to it (so a ring index the
/// guest is updating is read whole, never half old and half new), else
/// [`copy`].
///
/// # Safety
/// As [`copy`].
#[inline(always)]
pub(crate) unsafe fn read_guest(guest: *const u8, dst: *mut u8, len: usize) {
    if len > 8 {
        // SAFETY: the caller's contract.
        return unsafe { copy(guest, dst, len) };
    }
    // SAFETY (every arm): `guest` is readable and `dst` writable for `len`
    // bytes (the caller's contract); the volatile load is of `len` bytes at
    // an address aligned to `len`.
    unsafe {
        match len {
            1 => dst.write(core::ptr::read_volatile(guest)),
            2 if guest.cast::<u16>().is_aligned() => dst
                .cast::<u16>()
                .write_unaligned(core::ptr::read_volatile(guest.cast::<u16>())),
            4 if guest.cast::<u32>().is_aligned() => dst
                .cast::<u32>()
                .write_unaligned(core::ptr::read_volatile(guest.cast::<u32>())),
            8 if guest.cast::<u64>().is_aligned() => dst
                .cast::<u64>()
                .write_unaligned(core::ptr::read_volatile(guest.cast::<u64>())),
            _ => copy(guest, dst, len),
        }
    }
}

/// Writes `len` bytes from `src` to guest memory at `guest`: one store when
/// `len` is 1, 2, 4 or 8 and `guest` is aligned to it (a ring index or
/// used element field the guest reads concurrently changes at once), else
/// [`copy`].
///
/// # Safety
/// As [`copy`].
#[inline(always)]
pub(crate) unsafe fn write_guest(src: *const u8, guest: *mut u8, len: usize) {
    if len > 8 {
        // SAFETY: the caller's contract.
        return unsafe { copy(src, guest, len) };
    }
    // SAFETY (every arm): `src` is readable and `guest` writable for `len`
    // bytes (the caller's contract); the volatile store is of `len` bytes
    // at an address aligned to `len`.
    unsafe {
        match len {
            1 => core::ptr::write_volatile(guest, src.read()),
            2 if guest.cast::<u16>().is_aligned() => {
                core::ptr::write_volatile(guest.cast::<u16>(), src.cast::<u16>().read_unaligned())
            }
            4 if guest.cast::<u32>().is_aligned() => {
                core::ptr::write_volatile(guest.cast::<u32>(), src.cast::<u32>().read_unaligned())
            }
            8 if guest.cast::<u64>().is_aligned() => {
                core::ptr::write_volatile(guest.cast::<u64>(), src.cast::<u64>().read_unaligned())
            }
            _ => copy(src, guest, len),
        }
    }
}

/// Copies `len` bytes from `src` to `dst` (which may overlap).
///
/// # Safety
/// As `core::ptr::copy`: `src` readable and `dst` writable for `len` bytes.
#[inline(always)]
pub(crate) unsafe fn copy(src: *const u8, dst: *mut u8, len: usize) {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    if len >= REP_MOVSB_MIN {
        let (s, d) = (src as usize, dst as usize);
        // Disjoint: neither range starts inside the other.
        if d.wrapping_sub(s) >= len && s.wrapping_sub(d) >= len {
            // SAFETY: `rep movsb` copies rcx bytes forward from [rsi] to
            // [rdi]; both ranges are valid for `len` bytes (the caller's
            // contract) and do not overlap (checked above); the direction
            // flag is clear at function boundaries per the SysV ABI.
            unsafe {
                core::arch::asm!(
                    "rep movsb",
                    inout("rcx") len => _,
                    inout("rsi") src => _,
                    inout("rdi") dst => _,
                    options(nostack, preserves_flags)
                );
            }
            return;
        }
    }
    // SAFETY: forwarded contract.
    unsafe { core::ptr::copy(src, dst, len) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_guest_accesses_aligned_or_not() {
        let guest: Vec<u8> = (0..64u8).collect();
        for len in [1usize, 2, 3, 4, 8, 9] {
            for at in [0usize, 1, 8, 13] {
                let mut dst = [0u8; 16];
                // SAFETY: `guest[at..]` holds at least 16 bytes and `dst` 16.
                unsafe { read_guest(guest.as_ptr().add(at), dst.as_mut_ptr(), len) };
                assert_eq!(&dst[..len], &guest[at..at + len], "read {len} at {at}");
                let mut g = [0u8; 32];
                // SAFETY: as above.
                unsafe { write_guest(guest.as_ptr().add(at), g.as_mut_ptr().add(at), len) };
                assert_eq!(
                    &g[at..at + len],
                    &guest[at..at + len],
                    "write {len} at {at}"
                );
                assert!(g[at + len..].iter().all(|&b| b == 0), "nothing past {len}");
            }
        }
    }

    #[test]
    fn copies_of_every_size_class_and_overlap() {
        for len in [0usize, 1, 100, 4095, 4096, 5000, 3 * 4096 + 7] {
            let src: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut dst = vec![0u8; len];
            // SAFETY: both buffers hold `len` bytes and are disjoint.
            unsafe { copy(src.as_ptr(), dst.as_mut_ptr(), len) };
            assert_eq!(dst, src, "disjoint copy of {len} bytes");
            // Overlapping both ways: memmove semantics.
            let mut buf: Vec<u8> = (0..len + 64).map(|i| (i % 253) as u8).collect();
            let want: Vec<u8> = buf[..len].to_vec();
            // SAFETY: both ranges lie in `buf` (len + 64 bytes).
            unsafe { copy(buf.as_ptr(), buf.as_mut_ptr().add(64), len) };
            assert_eq!(&buf[64..], &want[..], "forward overlap of {len} bytes");
            let mut buf: Vec<u8> = (0..len + 64).map(|i| (i % 253) as u8).collect();
            let want: Vec<u8> = buf[64..].to_vec();
            // SAFETY: as above.
            unsafe { copy(buf.as_ptr().add(64), buf.as_mut_ptr(), len) };
            assert_eq!(&buf[..len], &want[..], "backward overlap of {len} bytes");
        }
    }
}
