//! Opt-in recovery from faults in mapped guest memory: the C face of
//! `pagedrange::memory::fault`.

use core::ffi::c_int;

use pagedrange::memory::{self, FaultHandlerError};

use crate::boundary::guard;
use crate::status::{pr_status, Failure, PR_ERR_UNSUPPORTED};

/// pr_transfer.fault_code of mapped memory for an access outside its
/// regions.
pub const PR_FAULT_UNMAPPED: c_int = -1;
/// pr_transfer.fault_code of a dirty-logged memory for a write to a page
/// its bitmap does not cover.
pub const PR_FAULT_UNTRACKED: c_int = -2;
/// pr_transfer.fault_code of mapped memory whose access raised SIGBUS (a
/// page past the end of a truncated file), with fault recovery installed.
pub const PR_FAULT_SIGBUS: c_int = -3;
/// pr_transfer.fault_code of mapped memory whose access raised SIGSEGV (an
/// unmapped or protected page), with fault recovery installed.
pub const PR_FAULT_SIGSEGV: c_int = -4;

static_assertions::const_assert_eq!(PR_FAULT_UNMAPPED, memory::FAULT_UNMAPPED);
static_assertions::const_assert_eq!(PR_FAULT_UNTRACKED, memory::FAULT_UNTRACKED);
static_assertions::const_assert_eq!(PR_FAULT_SIGBUS, memory::FAULT_SIGBUS);
static_assertions::const_assert_eq!(PR_FAULT_SIGSEGV, memory::FAULT_SIGSEGV);

impl From<FaultHandlerError> for Failure {
    fn from(_: FaultHandlerError) -> Self {
        Failure(PR_ERR_UNSUPPORTED)
    }
}

/// Installs the library's SIGSEGV and SIGBUS handler, so that a fault in
/// mapped guest memory (pr_memory_new_mapped) fails the transfer instead
/// of killing the process. Process-wide and idempotent; it cannot be
/// uninstalled.
///
/// With it installed, a read, write or fill whose access to a mapped
/// region faults (the file behind the region was truncated: SIGBUS; the
/// pages were unmapped or protected: SIGSEGV) returns PR_ERR_MEMORY, with
/// pr_transfer.fault_gpa the guest address that faulted,
/// pr_transfer.fault_code PR_FAULT_SIGBUS or PR_FAULT_SIGSEGV, and
/// pr_transfer.done the bytes moved before the fault (a cursor advances by
/// exactly those). The next transfer works as usual. Without it, such a
/// fault kills the process, as it always did.
///
/// Any other fault (outside the library's guest access routines), and
/// these signals when sent by kill or raise, go to the handler installed
/// before this call (called with or without SA_SIGINFO, as it asked), or
/// get the default action. Call this after installing handlers of your own
/// for these signals; a handler installed later must chain to this one.
///
/// The handler is async-signal-safe (no lock, no allocation, no
/// thread-local state) and asks for SA_ONSTACK: threads with an alternate
/// signal stack (sigaltstack) run it there. Faults are synchronous: the
/// faulting thread handles its own. Only x86-64 Linux has recovery.
///
/// Returns PR_OK, also when already installed.
/// Errors: PR_ERR_UNSUPPORTED (not x86-64 Linux, or sigaction refused),
/// PR_ERR_PANIC.
#[no_mangle]
pub extern "C" fn pr_fault_recovery_install() -> pr_status {
    guard(|| Ok(memory::install_fault_handler()?))
}
