//! Opt-in recovery from guest memory that vanishes under a copy.
//!
//! A device backend maps guest RAM that a frontend it cannot trust
//! provides. When the frontend truncates the file behind a region, the
//! next access to a page past the new end raises `SIGBUS`; when the host
//! unmaps or write-protects a range (a balloon, say), the access raises
//! `SIGSEGV`. Without help, either one ends the process.
//!
//! [`install_fault_handler`] installs, once per process, a handler for
//! both signals. When a fault comes from an instruction of the library's
//! guest access routines (the only code that touches mapped guest memory),
//! the handler resumes the routine at its recovery point, and the transfer
//! returns [`TransferError::Memory`](crate::TransferError::Memory) with the
//! guest address that faulted, the bytes done before it, and the code
//! [`FAULT_SIGBUS`] or [`FAULT_SIGSEGV`]. Every other fault, and the same
//! signals sent by `kill` or `raise`, go to the handler that was installed
//! before (called as that handler asked: with or without `SA_SIGINFO`), or
//! get the default action (the process dies with that signal, as without
//! recovery). Without the handler, nothing changes: a fault in guest
//! memory kills the process.
//!
//! What the host must know:
//! - Install it after any handler of its own for `SIGSEGV`/`SIGBUS`, or
//!   its own handler replaces this one (a handler installed later must
//!   chain to this one for recovery to keep working). It cannot be
//!   uninstalled.
//! - The handler runs on the faulting thread (faults are synchronous). It
//!   asks for `SA_ONSTACK`: a thread with an alternate signal stack
//!   (`sigaltstack`) handles it there; otherwise on its own stack, which
//!   a copy never exhausts (the routines use none).
//! - It is async-signal-safe: it reads the instruction pointer and a
//!   static table, writes three registers of the interrupted context, and
//!   for a foreign fault calls the previous handler (which must itself be
//!   async-signal-safe) or `sigaction` and `raise`. It takes no lock,
//!   allocates nothing and touches no thread-local state.
//! - Any thread may transfer while another installs the handler; the
//!   install itself is serialized (a second call does nothing).
//! - Only x86-64 Linux has recovery; elsewhere the install reports
//!   [`FaultHandlerError::Unsupported`].

/// Code of a transfer stopped by `SIGBUS` in mapped guest memory (a page
/// past the end of a truncated file), with the fault handler installed.
pub const FAULT_SIGBUS: i32 = -3;

/// Code of a transfer stopped by `SIGSEGV` in mapped guest memory (an
/// unmapped or protected page), with the fault handler installed.
pub const FAULT_SIGSEGV: i32 = -4;

/// Why the fault handler could not be installed.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum FaultHandlerError {
    /// Fault recovery exists only on x86-64 Linux.
    #[error("fault recovery is not supported on this platform")]
    Unsupported,
    /// `sigaction` refused the handler.
    #[error("sigaction for signal {signal} failed with errno {errno}")]
    Sigaction {
        /// The signal.
        signal: i32,
        /// `errno` after the call.
        errno: i32,
    },
}

/// Installs the fault handler (see the [module docs](self)); idempotent.
pub fn install_fault_handler() -> Result<(), FaultHandlerError> {
    imp::install()
}

/// The `TransferError` code for a fault by `signal`.
pub(crate) fn code_for(signal: i32) -> i32 {
    if signal == SIGBUS {
        FAULT_SIGBUS
    } else {
        FAULT_SIGSEGV
    }
}

#[cfg(unix)]
const SIGBUS: i32 = libc::SIGBUS;
#[cfg(not(unix))]
const SIGBUS: i32 = 7;

#[cfg(all(target_arch = "x86_64", target_os = "linux", not(miri)))]
mod imp {
    use super::FaultHandlerError;
    use core::cell::UnsafeCell;
    use core::ffi::{c_int, c_void};
    use core::mem::MaybeUninit;
    use std::sync::Mutex;

    /// The signals handled, in the order of `PREVIOUS`.
    const SIGNALS: [c_int; 2] = [libc::SIGSEGV, libc::SIGBUS];

    /// The handler each signal had before ours.
    struct Previous(UnsafeCell<MaybeUninit<libc::sigaction>>);

    // SAFETY: written only under `INSTALLED` before our handler is installed for
    // its signal, read only by that handler afterwards (sigaction orders
    // the two).
    unsafe impl Sync for Previous {}

    static PREVIOUS: [Previous; 2] = [
        Previous(UnsafeCell::new(MaybeUninit::uninit())),
        Previous(UnsafeCell::new(MaybeUninit::uninit())),
    ];
    /// Whether the handler is installed; held while installing.
    static INSTALLED: Mutex<bool> = Mutex::new(false);

    pub(super) fn install() -> Result<(), FaultHandlerError> {
        let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
        if *installed {
            return Ok(());
        }
        for (i, &signal) in SIGNALS.iter().enumerate() {
            // SAFETY: a zeroed sigaction is a valid value; every field the
            // kernel reads is set below.
            let mut ours: libc::sigaction = unsafe { core::mem::zeroed() };
            ours.sa_sigaction =
                on_fault as extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) as usize;
            ours.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            // SAFETY: `sa_mask` is a valid sigset_t to initialize.
            unsafe { libc::sigemptyset(&mut ours.sa_mask) };
            // The previous handler is recorded before ours can run: read it
            // first, then swap, keeping what the swap returned (in case it
            // changed in between).
            let slot = PREVIOUS[i].0.get().cast::<libc::sigaction>();
            // SAFETY: `slot` is ours to write (under INSTALLED, our handler is
            // not installed for this signal yet); sigaction writes a whole
            // struct into it.
            let rc = unsafe { libc::sigaction(signal, core::ptr::null(), slot) };
            // SAFETY: as above; the kernel copies `ours` before returning.
            let rc = if rc == 0 {
                unsafe { libc::sigaction(signal, &ours, slot) }
            } else {
                rc
            };
            if rc != 0 {
                return Err(FaultHandlerError::Sigaction {
                    signal,
                    errno: std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
                });
            }
        }
        *installed = true;
        Ok(())
    }

    /// The handler for SIGSEGV and SIGBUS.
    extern "C" fn on_fault(signal: c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
        // SAFETY: the kernel passes a valid siginfo_t and ucontext_t to an
        // SA_SIGINFO handler, for the duration of the call.
        let (info_ref, uc) = unsafe { (&*info, &mut *ctx.cast::<libc::ucontext_t>()) };
        let gregs = &mut uc.uc_mcontext.gregs;
        // si_code > 0: raised by the kernel for a faulting access (not
        // sent with kill, tgkill or sigqueue).
        if info_ref.si_code > 0 {
            let ip = gregs[libc::REG_RIP as usize] as usize;
            if let Some(resume) = super::super::access::resume_point(ip) {
                // SAFETY: si_addr is valid for SIGSEGV and SIGBUS.
                let addr = unsafe { info_ref.si_addr() } as usize;
                gregs[libc::REG_RIP as usize] = resume as i64;
                gregs[libc::REG_RAX as usize] = addr as i64;
                gregs[libc::REG_R11 as usize] = i64::from(signal);
                return;
            }
        }
        // SAFETY: forwarded from the kernel.
        unsafe { chain(signal, info, ctx) };
    }

    /// Hands a fault that is not ours to the handler installed before.
    ///
    /// # Safety
    /// The arguments of a signal handler invocation.
    unsafe fn chain(signal: c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
        let Some(i) = SIGNALS.iter().position(|&s| s == signal) else {
            return;
        };
        // SAFETY: recorded before our handler was installed (see Previous).
        let prev = unsafe { &*PREVIOUS[i].0.get().cast::<libc::sigaction>() };
        let handler = prev.sa_sigaction;
        // SAFETY: `info` is the kernel's siginfo_t for this call.
        let sent = unsafe { (*info).si_code } <= 0;
        if handler == libc::SIG_IGN && sent {
            // An ignored signal that was sent: ignore it.
        } else if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
            // Default action (a hardware fault cannot be ignored): restore
            // it and let it happen. The fault recurs when the instruction
            // is retried; a signal that was sent is sent again (pending
            // until this handler returns).
            // SAFETY: a zeroed sigaction with SIG_DFL (0) is the default
            // disposition; sigaction and raise are async-signal-safe.
            unsafe {
                let dfl: libc::sigaction = core::mem::zeroed();
                libc::sigaction(signal, &dfl, core::ptr::null_mut());
                if sent {
                    libc::raise(signal);
                }
            }
        } else if prev.sa_flags & libc::SA_SIGINFO != 0 {
            // SAFETY: an SA_SIGINFO handler has this signature.
            let f: extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) =
                unsafe { core::mem::transmute(handler) };
            f(signal, info, ctx);
        } else {
            // SAFETY: a plain handler has this signature.
            let f: extern "C" fn(c_int) = unsafe { core::mem::transmute(handler) };
            f(signal);
        }
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux", not(miri))))]
mod imp {
    use super::FaultHandlerError;

    pub(super) fn install() -> Result<(), FaultHandlerError> {
        Err(FaultHandlerError::Unsupported)
    }
}
