//! The only code that touches mapped guest memory: a copy and a fill
//! routine the compiler cannot see into, which report a fault instead of
//! dying when the fault handler of [`super::fault`] is installed.
//!
//! Guest RAM is written by a running guest while the host copies it: in
//! Rust's memory model a plain copy would be a data race, and so undefined
//! behaviour. On x86-64 Linux the routines are assembly (`global_asm!`),
//! opaque to the compiler, whose loads and stores are those of the
//! machine. Elsewhere, and under miri, a plain-Rust twin stands in
//! (`core::ptr::copy`, `core::ptr::write_bytes`, volatile single accesses):
//! it is correct for memory no one else writes, which is what miri's tests
//! give it, and it cannot recover from a fault.
//!
//! # Shape of the routines
//!
//! `copy(dst, src, len)` and `fill(dst, value, len)` return the bytes done,
//! `len` unless a fault stopped them. Inside each, every instruction that
//! touches either buffer lies in a *fault region* listed in one table
//! (`FAULT_TABLE`), with the place to resume at:
//!
//! ```text
//!   len <= 16    overlapping 1/2/4/8-byte accesses --fault--> byte loop from 0
//!   16 < len     256-byte AVX blocks (64-byte SSE2  --fault--> byte loop from the last block done
//!                blocks without AVX), last 16 bytes
//!   len >= 4096  rep movsb / rep stosb               --fault--> byte loop from rcx's progress
//!   byte loop    one byte at a time                 --fault--> return (done, address, signal)
//!   overlap      rep movsb backwards (dst in src)   --fault--> return (0, address, signal)
//! ```
//!
//! The handler moves the faulting thread to the resume point with the
//! fault address in `rax` and the signal number in `r11`; the byte loop
//! then stops exactly at the first byte that cannot be moved, so the bytes
//! done are exact (the prefix before the fault, in copy order). Only an
//! overlapping copy (a host buffer inside guest RAM, copied backwards)
//! reports 0 bytes done, since what it moved is a suffix.
//!
//! An access of 1, 2, 4 or 8 bytes at an address aligned to its size is a
//! single load or store of that size (done twice, to the same address, by
//! the overlapping-access path; the bytes kept are those of the second):
//! a ring index the guest updates concurrently is read whole.
//!
//! Sizes were chosen by measurement (`bench-c/copy.c`, `docs/bench/copy.md`):
//! below about 2.3 KiB `rep movsb` loses to vector copies by its start-up
//! cost; from a page on it wins slightly.

/// Why a guest access stopped early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AccessFault {
    /// Bytes moved before the fault (in copy order).
    pub(crate) done: usize,
    /// Host address whose access faulted.
    pub(crate) addr: usize,
    /// `SIGBUS` or `SIGSEGV`.
    pub(crate) signal: i32,
}

/// Copies `len` bytes from `src` to `dst` (which may overlap), stopping at
/// a fault when the fault handler is installed.
///
/// # Safety
/// `src .. src + len` and `dst .. dst + len` lie in memory that is mapped
/// (or, for guest memory, that the handler recovers from: see
/// [`super::fault`]), readable and writable respectively.
#[inline(always)]
pub(crate) unsafe fn copy(src: *const u8, dst: *mut u8, len: usize) -> Result<(), AccessFault> {
    // SAFETY: the caller's contract, forwarded.
    unsafe { imp::copy(src, dst, len) }
}

/// Sets `len` bytes at `dst` to `value`, stopping at a fault when the
/// fault handler is installed.
///
/// # Safety
/// As [`copy`], for `dst .. dst + len`.
#[inline(always)]
pub(crate) unsafe fn fill(dst: *mut u8, value: u8, len: usize) -> Result<(), AccessFault> {
    // SAFETY: the caller's contract, forwarded.
    unsafe { imp::fill(dst, value, len) }
}

/// Where the faulting thread resumes when the instruction at `ip` faults,
/// if `ip` lies in one of the routines' fault regions. Reads only a
/// static table: async-signal-safe.
#[cfg_attr(
    not(all(target_arch = "x86_64", target_os = "linux", not(miri))),
    allow(dead_code)
)]
pub(crate) fn resume_point(ip: usize) -> Option<usize> {
    imp::resume_point(ip)
}

#[cfg(all(target_arch = "x86_64", target_os = "linux", not(miri)))]
mod imp {
    use super::AccessFault;
    use core::mem::MaybeUninit;

    /// What the routines write through their last argument on a fault.
    #[repr(C)]
    struct RawFault {
        addr: usize,
        signal: i32,
    }

    /// One fault region: instructions `start .. end` resume at `resume`.
    #[repr(C)]
    pub(super) struct Region {
        start: usize,
        end: usize,
        resume: usize,
    }

    /// Entries of `pagedrange_0_1_fault_table`.
    const REGIONS: usize = 10;

    extern "sysv64" {
        fn pagedrange_0_1_copy(dst: *mut u8, src: *const u8, len: usize, f: *mut RawFault)
            -> usize;
        fn pagedrange_0_1_fill(dst: *mut u8, value: u8, len: usize, f: *mut RawFault) -> usize;
        static pagedrange_0_1_fault_table: [Region; REGIONS];
    }

    // The routines. Arguments (System V): rdi = dst, rsi = src or value,
    // rdx = len, rcx = where a fault is reported (in r9 once rcx is needed
    // for a count, and always in the byte loop). r8 counts the bytes done
    // (exact at every resume point; 0 on the small path). The
    // fault handler enters a resume point with rax = fault address and
    // r11 = signal number, and with every other register as at the fault
    // (the direction flag too: the backward copy's resume point clears it).
    core::arch::global_asm!(
        ".pushsection .text.pagedrange_0_1_access,\"ax\",@progbits",
        ".balign 64",
        ".globl pagedrange_0_1_copy",
        ".hidden pagedrange_0_1_copy",
        ".type pagedrange_0_1_copy,@function",
        "pagedrange_0_1_copy:",
        "    cmp rdx, 16",
        "    ja 20f",
        // 0 ..= 16 bytes: two overlapping accesses of the largest size,
        // both loads before the stores (so overlap is fine).
        "pagedrange_0_1_copy_small:",
        "    cmp rdx, 8",
        "    jb 15f",
        "    mov rax, [rsi]",
        "    mov r10, [rsi + rdx - 8]",
        "    mov [rdi], rax",
        "    mov [rdi + rdx - 8], r10",
        "    mov rax, rdx",
        "    ret",
        "15:",
        "    cmp rdx, 4",
        "    jb 12f",
        "    mov eax, [rsi]",
        "    mov r10d, [rsi + rdx - 4]",
        "    mov [rdi], eax",
        "    mov [rdi + rdx - 4], r10d",
        "    mov rax, rdx",
        "    ret",
        "12:",
        "    cmp rdx, 2",
        "    jb 13f",
        "    movzx eax, word ptr [rsi]",
        "    movzx r10d, word ptr [rsi + rdx - 2]",
        "    mov [rdi], ax",
        "    mov [rdi + rdx - 2], r10w",
        "    mov rax, rdx",
        "    ret",
        "13:",
        "    test rdx, rdx",
        "    jz 14f",
        "    movzx eax, byte ptr [rsi]",
        "    mov [rdi], al",
        "14:",
        "    mov rax, rdx",
        "    ret",
        "pagedrange_0_1_copy_small_end:",
        // More than 16 bytes. dst - src < len (unsigned): dst lies inside
        // src's bytes, and a forward copy would overwrite bytes before
        // reading them: copy backwards.
        "20:",
        "    mov rax, rdi",
        "    sub rax, rsi",
        "    cmp rax, rdx",
        "    jb 70f",
        "    xor r8d, r8d",
        "    cmp rdx, 4096",
        "    jae 30f",
        // 17 ..= 4095 bytes. The last 16 bytes are loaded before anything
        // is stored (with dst before src and overlapping, the blocks below
        // overwrite them) and stored last. Then 256-byte AVX blocks when
        // the CPU has AVX (the flag is found out on first use), else
        // 64-byte SSE2 blocks; then 32 or 16-byte blocks.
        "pagedrange_0_1_copy_vec:",
        "    movdqu xmm4, [rsi + rdx - 16]",
        "25:",
        "    movzx eax, byte ptr [rip + pagedrange_0_1_cpu]",
        "    cmp eax, 2",
        "    je 50f",
        "    test eax, eax",
        "    jz 60f",
        "    cmp rdx, 64",
        "    jb 22f",
        "21:",
        "    movdqu xmm0, [rsi + r8]",
        "    movdqu xmm1, [rsi + r8 + 16]",
        "    movdqu xmm2, [rsi + r8 + 32]",
        "    movdqu xmm3, [rsi + r8 + 48]",
        "    movdqu [rdi + r8], xmm0",
        "    movdqu [rdi + r8 + 16], xmm1",
        "    movdqu [rdi + r8 + 32], xmm2",
        "    movdqu [rdi + r8 + 48], xmm3",
        "    add r8, 64",
        "    lea rax, [r8 + 64]",
        "    cmp rax, rdx",
        "    jbe 21b",
        "22:",
        "    lea rax, [r8 + 16]",
        "    cmp rax, rdx",
        "    ja 23f",
        "    movdqu xmm0, [rsi + r8]",
        "    movdqu [rdi + r8], xmm0",
        "    add r8, 16",
        "    jmp 22b",
        "23:",
        "    movdqu [rdi + rdx - 16], xmm4",
        "    mov rax, rdx",
        "    ret",
        "pagedrange_0_1_copy_vec_end:",
        "pagedrange_0_1_copy_avx:",
        "50:",
        "    cmp rdx, 256",
        "    jb 52f",
        "51:",
        "    vmovdqu ymm0, [rsi + r8]",
        "    vmovdqu ymm1, [rsi + r8 + 32]",
        "    vmovdqu ymm2, [rsi + r8 + 64]",
        "    vmovdqu ymm3, [rsi + r8 + 96]",
        "    vmovdqu ymm5, [rsi + r8 + 128]",
        "    vmovdqu ymm6, [rsi + r8 + 160]",
        "    vmovdqu ymm7, [rsi + r8 + 192]",
        "    vmovdqu ymm8, [rsi + r8 + 224]",
        "    vmovdqu [rdi + r8], ymm0",
        "    vmovdqu [rdi + r8 + 32], ymm1",
        "    vmovdqu [rdi + r8 + 64], ymm2",
        "    vmovdqu [rdi + r8 + 96], ymm3",
        "    vmovdqu [rdi + r8 + 128], ymm5",
        "    vmovdqu [rdi + r8 + 160], ymm6",
        "    vmovdqu [rdi + r8 + 192], ymm7",
        "    vmovdqu [rdi + r8 + 224], ymm8",
        "    add r8, 256",
        "    lea rax, [r8 + 256]",
        "    cmp rax, rdx",
        "    jbe 51b",
        "52:",
        "    lea rax, [r8 + 32]",
        "    cmp rax, rdx",
        "    ja 53f",
        "    vmovdqu ymm0, [rsi + r8]",
        "    vmovdqu [rdi + r8], ymm0",
        "    add r8, 32",
        "    jmp 52b",
        "53:",
        "    vzeroupper",
        // Fewer than 32 left: at most one 16-byte block, then the last 16.
        "    lea rax, [r8 + 16]",
        "    cmp rax, rdx",
        "    ja 54f",
        "    movdqu xmm0, [rsi + r8]",
        "    movdqu [rdi + r8], xmm0",
        "54:",
        "    movdqu [rdi + rdx - 16], xmm4",
        "pagedrange_0_1_copy_avx_end:",
        "    mov rax, rdx",
        "    ret",
        // First use: does the CPU (and the OS) have AVX? cpuid leaf 1:
        // ECX bit 27 OSXSAVE and bit 28 AVX; XCR0 bits 1 and 2 (the OS
        // saves SSE and AVX state). Flag: 1 no, 2 yes. Then dispatch again.
        "60:",
        "    push rbx",
        "    push rcx",
        "    push rdx",
        "    mov eax, 1",
        "    cpuid",
        "    mov r10d, 1",
        "    and ecx, 0x18000000",
        "    cmp ecx, 0x18000000",
        "    jne 61f",
        "    xor ecx, ecx",
        "    xgetbv",
        "    and eax, 6",
        "    cmp eax, 6",
        "    jne 61f",
        "    mov r10d, 2",
        "61:",
        "    mov byte ptr [rip + pagedrange_0_1_cpu], r10b",
        "    pop rdx",
        "    pop rcx",
        "    pop rbx",
        "    jmp 25b",
        // A page or more: rep movsb. On a fault, rcx holds the bytes left.
        "30:",
        "    mov r9, rcx",
        "    mov rcx, rdx",
        "pagedrange_0_1_copy_rep:",
        "    rep movsb",
        "pagedrange_0_1_copy_rep_end:",
        "    mov rax, rdx",
        "    ret",
        "pagedrange_0_1_copy_rep_resume:",
        "    mov r8, rdx",
        "    sub r8, rcx",
        "    sub rsi, r8",
        "    sub rdi, r8",
        "    jmp 40f",
        // Resume points of the small, SSE and AVX paths (r8: bytes done).
        "pagedrange_0_1_copy_small_resume:",
        "    xor r8d, r8d",
        "    jmp 45f",
        "pagedrange_0_1_copy_avx_resume:",
        "    vzeroupper",
        "pagedrange_0_1_copy_vec_resume:",
        "45:",
        "    mov r9, rcx",
        // One byte at a time from r8, the report pointer in r9: stops at
        // exactly the first byte that faults.
        "40:",
        "    cmp r8, rdx",
        "    jae 41f",
        "pagedrange_0_1_copy_bytes:",
        "    movzx eax, byte ptr [rsi + r8]",
        "    mov [rdi + r8], al",
        "pagedrange_0_1_copy_bytes_end:",
        "    inc r8",
        "    jmp 40b",
        "41:",
        "    mov rax, rdx",
        "    ret",
        "pagedrange_0_1_copy_fault:",
        "    mov [r9], rax",
        "    mov dword ptr [r9 + 8], r11d",
        "    mov rax, r8",
        "    ret",
        // Overlapping with dst after src: backwards, one rep movsb.
        "70:",
        "    mov r9, rcx",
        "    lea rsi, [rsi + rdx - 1]",
        "    lea rdi, [rdi + rdx - 1]",
        "    mov rcx, rdx",
        "    std",
        "pagedrange_0_1_copy_back:",
        "    rep movsb",
        "pagedrange_0_1_copy_back_end:",
        "    cld",
        "    mov rax, rdx",
        "    ret",
        "pagedrange_0_1_copy_back_resume:",
        "    cld",
        "    mov [r9], rax",
        "    mov dword ptr [r9 + 8], r11d",
        "    xor eax, eax",
        "    ret",
        ".size pagedrange_0_1_copy, . - pagedrange_0_1_copy",
        //
        // fill: rdi = dst, sil = value, rdx = len, rcx = report.
        ".balign 64",
        ".globl pagedrange_0_1_fill",
        ".hidden pagedrange_0_1_fill",
        ".type pagedrange_0_1_fill,@function",
        "pagedrange_0_1_fill:",
        "    mov r9, rcx",
        "    xor r8d, r8d",
        "    movzx esi, sil",
        "    movabs rax, 0x0101010101010101",
        "    imul rax, rsi",
        "    cmp rdx, 16",
        "    ja 20f",
        "pagedrange_0_1_fill_small:",
        "    cmp rdx, 8",
        "    jb 15f",
        "    mov [rdi], rax",
        "    mov [rdi + rdx - 8], rax",
        "    mov rax, rdx",
        "    ret",
        "15:",
        "    cmp rdx, 4",
        "    jb 12f",
        "    mov [rdi], eax",
        "    mov [rdi + rdx - 4], eax",
        "    mov rax, rdx",
        "    ret",
        "12:",
        "    cmp rdx, 2",
        "    jb 13f",
        "    mov [rdi], ax",
        "    mov [rdi + rdx - 2], ax",
        "    mov rax, rdx",
        "    ret",
        "13:",
        "    test rdx, rdx",
        "    jz 14f",
        "    mov [rdi], al",
        "14:",
        "    mov rax, rdx",
        "    ret",
        "pagedrange_0_1_fill_small_end:",
        "20:",
        "    cmp rdx, 4096",
        "    jae 30f",
        "    movq xmm0, rax",
        "    punpcklqdq xmm0, xmm0",
        "pagedrange_0_1_fill_vec:",
        "    cmp rdx, 64",
        "    jb 22f",
        "21:",
        "    movdqu [rdi + r8], xmm0",
        "    movdqu [rdi + r8 + 16], xmm0",
        "    movdqu [rdi + r8 + 32], xmm0",
        "    movdqu [rdi + r8 + 48], xmm0",
        "    add r8, 64",
        "    lea rax, [r8 + 64]",
        "    cmp rax, rdx",
        "    jbe 21b",
        "22:",
        "    lea rax, [r8 + 16]",
        "    cmp rax, rdx",
        "    ja 23f",
        "    movdqu [rdi + r8], xmm0",
        "    add r8, 16",
        "    jmp 22b",
        "23:",
        "    movdqu [rdi + rdx - 16], xmm0",
        "    mov rax, rdx",
        "    ret",
        "pagedrange_0_1_fill_vec_end:",
        "30:",
        "    mov rcx, rdx",
        "pagedrange_0_1_fill_rep:",
        "    rep stosb",
        "pagedrange_0_1_fill_rep_end:",
        "    mov rax, rdx",
        "    ret",
        "pagedrange_0_1_fill_rep_resume:",
        "    mov r8, rdx",
        "    sub r8, rcx",
        "    sub rdi, r8",
        "pagedrange_0_1_fill_bytes_resume:",
        "40:",
        "    cmp r8, rdx",
        "    jae 41f",
        "pagedrange_0_1_fill_bytes:",
        "    mov [rdi + r8], sil",
        "pagedrange_0_1_fill_bytes_end:",
        "    inc r8",
        "    jmp 40b",
        "41:",
        "    mov rax, rdx",
        "    ret",
        "pagedrange_0_1_fill_fault:",
        "    mov [r9], rax",
        "    mov dword ptr [r9 + 8], r11d",
        "    mov rax, r8",
        "    ret",
        ".size pagedrange_0_1_fill, . - pagedrange_0_1_fill",
        ".popsection",
        //
        // What the copy found out about the CPU: 0 not yet, 1 no AVX,
        // 2 AVX (written once, by whichever thread copies first).
        ".pushsection .data.pagedrange_0_1_cpu,\"aw\",@progbits",
        ".globl pagedrange_0_1_cpu",
        ".hidden pagedrange_0_1_cpu",
        ".type pagedrange_0_1_cpu,@object",
        "pagedrange_0_1_cpu:",
        ".byte 0",
        ".size pagedrange_0_1_cpu, 1",
        ".popsection",
        //
        // The fault regions: start, end, resume point.
        ".pushsection .data.rel.ro.pagedrange_0_1_fault_table,\"aw\",@progbits",
        ".balign 8",
        ".globl pagedrange_0_1_fault_table",
        ".hidden pagedrange_0_1_fault_table",
        ".type pagedrange_0_1_fault_table,@object",
        "pagedrange_0_1_fault_table:",
        ".quad pagedrange_0_1_copy_small, pagedrange_0_1_copy_small_end, pagedrange_0_1_copy_small_resume",
        ".quad pagedrange_0_1_copy_vec, pagedrange_0_1_copy_vec_end, pagedrange_0_1_copy_vec_resume",
        ".quad pagedrange_0_1_copy_avx, pagedrange_0_1_copy_avx_end, pagedrange_0_1_copy_avx_resume",
        ".quad pagedrange_0_1_copy_rep, pagedrange_0_1_copy_rep_end, pagedrange_0_1_copy_rep_resume",
        ".quad pagedrange_0_1_copy_bytes, pagedrange_0_1_copy_bytes_end, pagedrange_0_1_copy_fault",
        ".quad pagedrange_0_1_copy_back, pagedrange_0_1_copy_back_end, pagedrange_0_1_copy_back_resume",
        ".quad pagedrange_0_1_fill_small, pagedrange_0_1_fill_small_end, pagedrange_0_1_fill_bytes_resume",
        ".quad pagedrange_0_1_fill_vec, pagedrange_0_1_fill_vec_end, pagedrange_0_1_fill_bytes_resume",
        ".quad pagedrange_0_1_fill_rep, pagedrange_0_1_fill_rep_end, pagedrange_0_1_fill_rep_resume",
        ".quad pagedrange_0_1_fill_bytes, pagedrange_0_1_fill_bytes_end, pagedrange_0_1_fill_fault",
        ".size pagedrange_0_1_fault_table, . - pagedrange_0_1_fault_table",
        ".popsection",
    );

    /// The error of a routine that stopped after `done` bytes.
    #[cold]
    #[inline(never)]
    fn stopped(done: usize, raw: &MaybeUninit<RawFault>) -> AccessFault {
        // SAFETY: a routine returns fewer bytes than asked only from a
        // resume point that has written the report.
        let raw = unsafe { raw.assume_init_ref() };
        AccessFault {
            done,
            addr: raw.addr,
            signal: raw.signal,
        }
    }

    #[inline(always)]
    pub(super) unsafe fn copy(src: *const u8, dst: *mut u8, len: usize) -> Result<(), AccessFault> {
        let mut raw = MaybeUninit::uninit();
        // SAFETY: the caller's contract covers both buffers; the routine
        // writes the report only through `raw`, a local of its type.
        let done = unsafe { pagedrange_0_1_copy(dst, src, len, raw.as_mut_ptr()) };
        if done == len {
            Ok(())
        } else {
            Err(stopped(done, &raw))
        }
    }

    #[inline(always)]
    pub(super) unsafe fn fill(dst: *mut u8, value: u8, len: usize) -> Result<(), AccessFault> {
        let mut raw = MaybeUninit::uninit();
        // SAFETY: as in `copy`.
        let done = unsafe { pagedrange_0_1_fill(dst, value, len, raw.as_mut_ptr()) };
        if done == len {
            Ok(())
        } else {
            Err(stopped(done, &raw))
        }
    }

    pub(super) fn resume_point(ip: usize) -> Option<usize> {
        // SAFETY: the table is immutable data the assembly above defines,
        // REGIONS entries of three addresses.
        let table = unsafe { &*core::ptr::addr_of!(pagedrange_0_1_fault_table) };
        table
            .iter()
            .find(|r| r.start <= ip && ip < r.end)
            .map(|r| r.resume)
    }

    #[cfg(test)]
    extern "C" {
        static mut pagedrange_0_1_cpu: u8;
    }

    /// Makes the copy take its SSE2 path (`false`) or find out again.
    #[cfg(test)]
    pub(super) fn force_sse(sse: bool) {
        // SAFETY: a byte the routines only read (or set on first use to the
        // same value); both paths are correct on this CPU.
        unsafe { core::ptr::addr_of_mut!(pagedrange_0_1_cpu).write_volatile(u8::from(sse)) };
    }

    #[cfg(test)]
    pub(super) fn regions() -> impl Iterator<Item = (usize, usize, usize)> {
        // SAFETY: as in `resume_point`.
        let table = unsafe { &*core::ptr::addr_of!(pagedrange_0_1_fault_table) };
        table.iter().map(|r| (r.start, r.end, r.resume))
    }
}

/// The plain-Rust twin (other targets, and miri): no fault recovery.
#[cfg(not(all(target_arch = "x86_64", target_os = "linux", not(miri))))]
mod imp {
    use super::AccessFault;

    #[inline(always)]
    pub(super) unsafe fn copy(src: *const u8, dst: *mut u8, len: usize) -> Result<(), AccessFault> {
        // SAFETY (every arm): the caller's contract; a volatile access is of
        // `len` bytes at an address aligned to `len`, in `src` or `dst`.
        unsafe {
            match len {
                2 if src.cast::<u16>().is_aligned() || dst.cast::<u16>().is_aligned() => {
                    single::<u16>(src, dst)
                }
                4 if src.cast::<u32>().is_aligned() || dst.cast::<u32>().is_aligned() => {
                    single::<u32>(src, dst)
                }
                8 if src.cast::<u64>().is_aligned() || dst.cast::<u64>().is_aligned() => {
                    single::<u64>(src, dst)
                }
                _ => core::ptr::copy(src, dst, len),
            }
        }
        Ok(())
    }

    /// One access of `T` on whichever side is aligned for it.
    ///
    /// # Safety
    /// `src` readable and `dst` writable for `size_of::<T>()` bytes.
    #[inline(always)]
    unsafe fn single<T: Copy>(src: *const u8, dst: *mut u8) {
        // SAFETY: the caller's contract; volatile only on an aligned side.
        unsafe {
            let v: T = if src.cast::<T>().is_aligned() {
                core::ptr::read_volatile(src.cast::<T>())
            } else {
                src.cast::<T>().read_unaligned()
            };
            if dst.cast::<T>().is_aligned() {
                core::ptr::write_volatile(dst.cast::<T>(), v)
            } else {
                dst.cast::<T>().write_unaligned(v)
            }
        }
    }

    #[inline(always)]
    pub(super) unsafe fn fill(dst: *mut u8, value: u8, len: usize) -> Result<(), AccessFault> {
        // SAFETY: the caller's contract.
        unsafe { core::ptr::write_bytes(dst, value, len) };
        Ok(())
    }

    pub(super) fn resume_point(_ip: usize) -> Option<usize> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_of_every_size_class_and_overlap() {
        let sizes = (0..=80).chain([127, 128, 129, 511, 512, 4095, 4096, 5000, 3 * 4096 + 7]);
        for len in sizes {
            let src: Vec<u8> = (0..len).map(|i| (i % 251) as u8 + 1).collect();
            for shift in [0usize, 1, 7] {
                let mut dst = vec![0u8; len + 16];
                // SAFETY: `src` holds `len` bytes, `dst` `len + 16`.
                unsafe { copy(src.as_ptr(), dst.as_mut_ptr().add(shift), len) }.unwrap();
                assert_eq!(
                    &dst[shift..shift + len],
                    &src[..],
                    "copy of {len} at +{shift}"
                );
                assert!(dst[..shift].iter().all(|&b| b == 0), "before, {len}");
                assert!(dst[shift + len..].iter().all(|&b| b == 0), "after, {len}");
            }
            // Overlapping both ways: memmove semantics.
            for gap in [1usize, 64] {
                let orig: Vec<u8> = (0..len + gap).map(|i| (i % 253) as u8).collect();
                let mut buf = orig.clone();
                // SAFETY: both ranges lie in `buf` (len + gap bytes).
                unsafe { copy(buf.as_ptr(), buf.as_mut_ptr().add(gap), len) }.unwrap();
                assert_eq!(&buf[gap..], &orig[..len], "forward overlap {len}/{gap}");
                let mut buf = orig.clone();
                // SAFETY: as above.
                unsafe { copy(buf.as_ptr().add(gap), buf.as_mut_ptr(), len) }.unwrap();
                assert_eq!(&buf[..len], &orig[gap..], "backward overlap {len}/{gap}");
            }
        }
    }

    #[test]
    fn fills_of_every_size_class() {
        let sizes = (0..=80).chain([127, 128, 129, 4095, 4096, 3 * 4096 + 7]);
        for len in sizes {
            for shift in [0usize, 3] {
                let mut dst = vec![0u8; len + 16];
                // SAFETY: `dst` holds `len + 16` bytes.
                unsafe { fill(dst.as_mut_ptr().add(shift), 0xa5, len) }.unwrap();
                assert!(dst[shift..shift + len].iter().all(|&b| b == 0xa5), "{len}");
                assert!(dst[..shift].iter().all(|&b| b == 0), "before, {len}");
                assert!(dst[shift + len..].iter().all(|&b| b == 0), "after, {len}");
            }
        }
    }

    #[cfg(all(target_arch = "x86_64", target_os = "linux", not(miri)))]
    #[test]
    fn the_fault_table_covers_the_routines_only() {
        let copy_at = imp_addr_copy();
        let mut n = 0;
        for (start, end, resume) in imp::regions() {
            assert!(start < end, "region {start:#x}..{end:#x} is empty");
            assert!(resume >= end || resume < start, "resumes inside its region");
            assert!(
                start >= copy_at && end - copy_at < 4096,
                "region far from the code"
            );
            assert_eq!(resume_point(start), Some(resume));
            assert_eq!(resume_point(end - 1), Some(resume));
            n += 1;
        }
        assert_eq!(n, 10);
        assert_eq!(resume_point(copy_at - 1), None);
        assert_eq!(resume_point(0), None);
    }

    /// Every path of both routines stops exactly at a truncated page,
    /// with the SSE2 and the AVX paths of the copy.
    #[cfg(all(target_arch = "x86_64", target_os = "linux", not(miri)))]
    #[test]
    fn every_path_stops_at_the_first_byte_that_faults() {
        const PS: usize = 4096;
        crate::memory::install_fault_handler().unwrap();
        // SAFETY: plain syscalls on a fresh memfd; every result is checked;
        // the mapping is ours until the munmap at the end.
        let guest = unsafe {
            let fd = libc::memfd_create(c"pagedrange-access-test".as_ptr(), 0);
            assert!(fd >= 0);
            assert_eq!(libc::ftruncate(fd, 3 * PS as i64), 0);
            let p = libc::mmap(
                core::ptr::null_mut(),
                3 * PS,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            );
            assert_ne!(p, libc::MAP_FAILED);
            assert_eq!(libc::ftruncate(fd, PS as i64), 0);
            libc::close(fd);
            p.cast::<u8>()
        };
        let mut host = vec![0x5au8; 2 * PS + 64];
        for sse in [true, false] {
            imp::force_sse(sse);
            for len in (2..=40).chain([63, 64, 65, 200, 255, 256, 257, 600, 4095, 4096, 5000]) {
                for before in [1usize, 7, 16, 33, 300] {
                    if before >= len {
                        continue;
                    }
                    // SAFETY: `before` < len bytes below the page that
                    // faults, inside the mapping; `host` holds 2 pages + 64.
                    let at = unsafe { guest.add(PS - before) };
                    let want = |f: Result<(), AccessFault>, what: &str| {
                        let f = f.expect_err(what);
                        assert_eq!(f.done, before, "{what} {len} ({before} before), sse {sse}");
                        assert_eq!(f.addr, guest as usize + PS, "{what} {len}");
                        assert_eq!(f.signal, libc::SIGBUS, "{what} {len}");
                    };
                    // SAFETY: as above; faults are recovered.
                    unsafe {
                        want(copy(at, host.as_mut_ptr(), len), "read");
                        want(copy(host.as_ptr(), at, len), "write");
                        want(fill(at, 1, len), "fill");
                    }
                }
            }
        }
        imp::force_sse(false);
        // SAFETY: the mapping made above.
        unsafe { libc::munmap(guest.cast(), 3 * PS) };
    }

    #[cfg(all(target_arch = "x86_64", target_os = "linux", not(miri)))]
    fn imp_addr_copy() -> usize {
        imp::regions().map(|r| r.0).min().unwrap()
    }
}
