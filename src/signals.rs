//! What happens on the signals softreg's own files can bring: the library
//! records what the handlers need; the binary installs them ([`install`]), as
//! a library should not take over a process's signals.
//!
//! - **SIGBUS**: a memory-mapped input that another process truncates while
//!   softreg reads it faults on the pages past its new end. A fault inside a
//!   mapping registered with [`WatchedMapping`] prints an error naming the
//!   file and exits with status 1, as any other data error does; any other
//!   SIGBUS gets the default action.
//! - **SIGINT and SIGTERM**: named temporary files registered with
//!   [`RemoveOnInterrupt`] (only where the file system has no `O_TMPFILE`:
//!   see [`crate::output::PendingFile`]) are removed, then the signal's
//!   default action ends the process as interrupted.
//!
//! The handlers only load atomics and call `write`, `unlink`, `signal`,
//! `raise` and `_exit`, which are async-signal-safe.

use std::ffi::CString;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

/// Mappings watched at once; a data set maps at most eight files, and a
/// mapping beyond the slots is simply not watched.
const MAPPING_SLOTS: usize = 64;

/// Named temporaries removed on interrupt at once; more are left to the
/// stale-temporary cleanup of a later run.
const TEMPORARY_SLOTS: usize = 64;

/// One watched mapping: the addresses `start..end` and the message to print.
/// A free slot has `start` past `end`, so no address lies in it.
struct MappingSlot {
    claimed: AtomicBool,
    start: AtomicUsize,
    end: AtomicUsize,
    message: AtomicPtr<u8>,
    message_len: AtomicUsize,
}

impl MappingSlot {
    const fn free() -> Self {
        Self {
            claimed: AtomicBool::new(false),
            start: AtomicUsize::new(usize::MAX),
            end: AtomicUsize::new(0),
            message: AtomicPtr::new(std::ptr::null_mut()),
            message_len: AtomicUsize::new(0),
        }
    }
}

static MAPPINGS: [MappingSlot; MAPPING_SLOTS] = [const { MappingSlot::free() }; MAPPING_SLOTS];

static TEMPORARIES: [AtomicPtr<libc::c_char>; TEMPORARY_SLOTS] =
    [const { AtomicPtr::new(std::ptr::null_mut()) }; TEMPORARY_SLOTS];

/// While alive, a SIGBUS in the bytes it was made for is reported as the
/// file `path` changing under the reader. Drop it before unmapping.
pub struct WatchedMapping {
    slot: Option<usize>,
    /// The message the handler writes; owned here, so it outlives the slot's
    /// pointer to it (the slot is cleared in `drop`, before the fields drop).
    _message: Box<[u8]>,
}

impl WatchedMapping {
    /// Watches the mapped `bytes` of the file `path`.
    pub fn new(bytes: &[u8], path: &Path) -> Self {
        let mut message = format!(
            "error: {} changed while softreg was reading it: another process truncated or \
             replaced it in place; run again once nothing writes to it (or on a copy)\n",
            path.display()
        )
        .into_bytes()
        .into_boxed_slice();
        let free = MAPPINGS.iter().position(|slot| {
            slot.claimed
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        });
        if let Some(i) = free {
            let slot = &MAPPINGS[i];
            slot.message.store(message.as_mut_ptr(), Ordering::Relaxed);
            slot.message_len.store(message.len(), Ordering::Relaxed);
            slot.start.store(bytes.as_ptr() as usize, Ordering::Relaxed);
            // Published last: a handler that sees the end sees the rest.
            slot.end
                .store(bytes.as_ptr() as usize + bytes.len(), Ordering::Release);
        }
        Self {
            slot: free,
            _message: message,
        }
    }
}

impl Drop for WatchedMapping {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            let slot = &MAPPINGS[i];
            slot.end.store(0, Ordering::Release);
            slot.start.store(usize::MAX, Ordering::Release);
            slot.message.store(std::ptr::null_mut(), Ordering::Release);
            slot.claimed.store(false, Ordering::Release);
        }
    }
}

/// While alive, SIGINT or SIGTERM removes the file at `path` before the
/// process ends.
pub struct RemoveOnInterrupt {
    slot: Option<usize>,
}

impl RemoveOnInterrupt {
    /// Registers `path` (not registered if it holds a NUL byte or every slot
    /// is taken).
    pub fn new(path: &Path) -> Self {
        use std::os::unix::ffi::OsStrExt;
        let Ok(path) = CString::new(path.as_os_str().as_bytes()) else {
            return Self { slot: None };
        };
        // Never freed: a handler running on another thread may be reading it
        // when the registration ends. It costs the bytes of one path per named
        // temporary, and named temporaries are only made on file systems
        // without O_TMPFILE.
        let raw = path.into_raw();
        let slot = TEMPORARIES.iter().position(|slot| {
            slot.compare_exchange(
                std::ptr::null_mut(),
                raw,
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
        });
        Self { slot }
    }
}

impl Drop for RemoveOnInterrupt {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            TEMPORARIES[i].store(std::ptr::null_mut(), Ordering::Release);
        }
    }
}

/// Installs the handlers: SIGBUS always, SIGINT and SIGTERM unless the
/// process was started with them ignored (as `nohup` does).
pub fn install() {
    let bus_error: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
        on_bus_error;
    let interrupt: extern "C" fn(libc::c_int) = on_interrupt;
    // SAFETY: `sigaction` is given a fully initialised action (zeroed, then
    // the handler, flags and an empty mask set) and a valid place for the old
    // one; both handlers are `extern "C"` functions of the signatures their
    // flags promise (three arguments with SA_SIGINFO, one without), and do
    // only async-signal-safe work (the module docs).
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        libc::sigemptyset(&mut action.sa_mask);
        action.sa_sigaction = bus_error as libc::sighandler_t;
        action.sa_flags = libc::SA_SIGINFO;
        libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut());
        action.sa_sigaction = interrupt as libc::sighandler_t;
        action.sa_flags = 0;
        for signal in [libc::SIGINT, libc::SIGTERM] {
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(signal, &action, &mut old);
            if old.sa_sigaction == libc::SIG_IGN {
                libc::sigaction(signal, &old, std::ptr::null_mut());
            }
        }
    }
}

extern "C" fn on_bus_error(signal: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: with SA_SIGINFO the kernel passes a valid `siginfo_t`, whose
    // `si_addr` is the faulting address for SIGBUS.
    let address = unsafe { (*info).si_addr() } as usize;
    for slot in &MAPPINGS {
        let end = slot.end.load(Ordering::Acquire);
        if slot.start.load(Ordering::Acquire) <= address && address < end {
            let message = slot.message.load(Ordering::Acquire);
            let len = slot.message_len.load(Ordering::Acquire);
            // SAFETY: `message` points to `len` bytes owned by the live
            // `WatchedMapping` of this slot (its end was seen set, and it is
            // cleared before the message is freed); `write` and `_exit` are
            // async-signal-safe. A null message (a slot being cleared) makes
            // `write` fail harmlessly.
            unsafe {
                libc::write(libc::STDERR_FILENO, message.cast(), len);
                libc::_exit(1);
            }
        }
    }
    // Not a watched mapping: restore the default action, which the faulting
    // access, repeated on return, then takes.
    // SAFETY: `signal` with SIG_DFL is async-signal-safe.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
    }
}

extern "C" fn on_interrupt(signal: libc::c_int) {
    for slot in &TEMPORARIES {
        let path = slot.load(Ordering::Acquire);
        if !path.is_null() {
            // SAFETY: registered paths are NUL-terminated and never freed;
            // `unlink` is async-signal-safe.
            unsafe {
                libc::unlink(path);
            }
        }
    }
    // SAFETY: `signal` and `raise` are async-signal-safe; with the default
    // action restored, `raise` ends the process as the signal would have.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        libc::raise(signal);
    }
}
