//! An in-process guest memory backed by a byte buffer, for tests, examples
//! and simulations.

use std::sync::{Mutex, MutexGuard};

use super::{GuestMemory, FAULT_UNMAPPED};
use crate::error::MemoryFault;

/// Guest memory held in a host byte buffer, covering guest physical
/// addresses `base .. base + size`.
///
/// The buffer is owned by this value and never shared with a running guest,
/// so it is guarded by a mutex and ordinary slices are sound here. Any access
/// outside the covered addresses fails with [`FAULT_UNMAPPED`] and touches
/// nothing.
#[derive(Debug)]
pub struct BufferMemory {
    base: u64,
    bytes: Mutex<Vec<u8>>,
}

impl BufferMemory {
    /// Zeroed guest memory covering GPAs `0 .. size`.
    pub fn new(size: usize) -> Self {
        Self::with_base(0, size)
    }

    /// Zeroed guest memory covering GPAs `base .. base + size` (clamped so the
    /// end fits in 64 bits).
    pub fn with_base(base: u64, size: usize) -> Self {
        let room = usize::try_from(u64::MAX - base).unwrap_or(usize::MAX);
        Self {
            base,
            bytes: Mutex::new(vec![0; size.min(room)]),
        }
    }

    /// Guest memory holding `bytes` at GPAs `0 .. bytes.len()`.
    pub fn from_vec(bytes: Vec<u8>) -> Self {
        Self {
            base: 0,
            bytes: Mutex::new(bytes),
        }
    }

    /// First guest physical address covered.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Number of bytes covered.
    pub fn size(&self) -> usize {
        self.lock().len()
    }

    /// A copy of the whole buffer (byte `i` is GPA `base + i`).
    pub fn to_vec(&self) -> Vec<u8> {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        // A panic while holding the lock cannot leave the bytes invalid.
        self.bytes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Index range of `len` bytes at `gpa` in the buffer, or the fault.
    fn span(
        &self,
        len_total: usize,
        gpa: u64,
        len: usize,
    ) -> Result<core::ops::Range<usize>, MemoryFault> {
        let fault = MemoryFault {
            gpa,
            code: FAULT_UNMAPPED,
            done: 0,
        };
        let start = gpa
            .checked_sub(self.base)
            .and_then(|o| usize::try_from(o).ok())
            .ok_or(fault)?;
        let end = start.checked_add(len).ok_or(fault)?;
        if end > len_total {
            // Report the first address past the buffer when the run starts
            // inside it.
            let gpa = if start < len_total {
                self.base + len_total as u64
            } else {
                gpa
            };
            return Err(MemoryFault { gpa, ..fault });
        }
        Ok(start..end)
    }
}

impl GuestMemory for BufferMemory {
    fn read(&self, gpa: u64, dst: &mut [u8]) -> Result<(), MemoryFault> {
        let bytes = self.lock();
        let span = self.span(bytes.len(), gpa, dst.len())?;
        dst.copy_from_slice(&bytes[span]);
        Ok(())
    }

    fn write(&self, gpa: u64, src: &[u8]) -> Result<(), MemoryFault> {
        let mut bytes = self.lock();
        let span = self.span(bytes.len(), gpa, src.len())?;
        bytes[span].copy_from_slice(src);
        Ok(())
    }

    fn fill(&self, gpa: u64, value: u8, len: usize) -> Result<(), MemoryFault> {
        let mut bytes = self.lock();
        let span = self.span(bytes.len(), gpa, len)?;
        bytes[span].fill(value);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_writes_fills_inside() {
        let m = BufferMemory::with_base(0x1000, 16);
        m.write(0x1004, &[1, 2, 3]).unwrap();
        m.fill(0x1008, 9, 2).unwrap();
        let mut out = [0u8; 6];
        m.read(0x1004, &mut out).unwrap();
        assert_eq!(out, [1, 2, 3, 0, 9, 9]);
        assert_eq!(m.size(), 16);
        assert_eq!(m.base(), 0x1000);
    }

    #[test]
    fn refuses_outside() {
        let m = BufferMemory::with_base(0x1000, 16);
        let mut out = [0u8; 4];
        assert_eq!(
            m.read(0xfff, &mut out),
            Err(MemoryFault {
                gpa: 0xfff,
                code: FAULT_UNMAPPED,
                done: 0
            })
        );
        // Straddling the end reports the first address past it.
        assert_eq!(
            m.write(0x100e, &[1, 2, 3, 4]),
            Err(MemoryFault {
                gpa: 0x1010,
                code: FAULT_UNMAPPED,
                done: 0
            })
        );
        assert_eq!(
            m.fill(u64::MAX, 1, usize::MAX),
            Err(MemoryFault {
                gpa: u64::MAX,
                code: FAULT_UNMAPPED,
                done: 0
            })
        );
        assert_eq!(m.to_vec(), vec![0; 16], "a refused access writes nothing");
        let top = BufferMemory::with_base(u64::MAX - 3, 100);
        assert_eq!(top.size(), 3, "the covered range is clamped to 64 bits");
    }
}
