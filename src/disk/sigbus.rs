//! Turns a SIGBUS inside one of our file maps into an I/O error, so a file truncated by another
//! program fails its torrent instead of killing the host process (libtorrent does the same).
//!
//! Runs on pool workers (and the reactor at shutdown), around each copy through a map. The
//! handler is installed once per process, the first time a storage maps files. While a copy
//! runs, its thread names the mapped range it touches (`GUARD`, thread-local). A SIGBUS at an
//! address inside that range maps an anonymous page over the faulting page (`MAP_FIXED`), notes
//! the fault (`FAULTED`) and returns: the copy finishes over zeros and the caller turns the note
//! into [`FileChanged`]. Any other SIGBUS goes to the handler that was there before, or, if there
//! was none, restores the default action and returns, so the fault repeats and ends the process
//! exactly as it would have without us. The handler only reads thread-locals and atomics and
//! calls `mmap`/`sigaction`: nothing that allocates or locks.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Once, OnceLock};

thread_local! {
    /// The mapped range `[start, end)` this thread is copying through; empty when none.
    static GUARD: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
    /// Set by the handler when it replaced a page of `GUARD`.
    static FAULTED: Cell<bool> = const { Cell::new(false) };
}

static INSTALL: Once = Once::new();
/// The SIGBUS action before ours.
static PREVIOUS: OnceLock<libc::sigaction> = OnceLock::new();
static PAGE: AtomicUsize = AtomicUsize::new(4096);

/// A mapped file shrank or vanished under a copy: another program truncated or replaced it.
#[derive(Debug)]
pub(crate) struct FileChanged;

impl std::fmt::Display for FileChanged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the file was truncated or replaced by another program")
    }
}

impl std::error::Error for FileChanged {}

/// Whether `err` is a [`FileChanged`].
pub(crate) fn is_file_changed(err: &std::io::Error) -> bool {
    err.get_ref().is_some_and(|e| e.is::<FileChanged>())
}

/// Installs the handler once per process.
pub(crate) fn install(page: usize) {
    INSTALL.call_once(|| {
        PAGE.store(page, Ordering::Relaxed);
        // SAFETY: both structs are plain C data, zero is a valid bit pattern for them; the
        // handler has the `SA_SIGINFO` signature; `sigaction` only reads `ours` and writes
        // `old`, both valid for the call.
        unsafe {
            let mut ours: libc::sigaction = std::mem::zeroed();
            ours.sa_sigaction = on_sigbus as *const () as usize;
            ours.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER;
            libc::sigemptyset(&mut ours.sa_mask);
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGBUS, &ours, &mut old) == 0 {
                let _ = PREVIOUS.set(old);
            }
        }
    });
}

/// Runs `copy`, which touches only `[start, start + len)`, catching a SIGBUS in that range.
/// Returns whether one happened (the bytes copied are then worthless).
pub(crate) fn guarded(start: usize, len: usize, copy: impl FnOnce()) -> bool {
    GUARD.with(|g| g.set((start, start.saturating_add(len))));
    FAULTED.with(|f| f.set(false));
    copy();
    GUARD.with(|g| g.set((0, 0)));
    FAULTED.with(|f| f.replace(false))
}

extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel hands a valid siginfo to an SA_SIGINFO handler.
    let addr = unsafe { (*info).si_addr() } as usize;
    let (start, end) = GUARD.try_with(|g| g.get()).unwrap_or((0, 0));
    if addr >= start && addr < end {
        let page = PAGE.load(Ordering::Relaxed);
        let at = addr & !(page - 1);
        // SAFETY: `at` is a page of a mapping this thread is copying through (GUARD), which
        // stays mapped until the copy returns; replacing it with an anonymous page changes
        // only what that copy reads or writes. The window is dropped from the cache after.
        let p = unsafe {
            libc::mmap(
                at as *mut libc::c_void,
                page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_FIXED | libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p != libc::MAP_FAILED {
            let _ = FAULTED.try_with(|f| f.set(true));
            return;
        }
    }
    pass_on(sig, info, ctx);
}

/// Not our fault: the previous handler's business, or the default action.
fn pass_on(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let prev = PREVIOUS.get();
    let handler = prev.map_or(libc::SIG_DFL, |p| p.sa_sigaction);
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        // SAFETY: restoring the default action; returning re-runs the faulting instruction,
        // which then ends the process as it would have without us.
        unsafe { libc::signal(libc::SIGBUS, libc::SIG_DFL) };
        return;
    }
    let siginfo = prev.is_some_and(|p| p.sa_flags & libc::SA_SIGINFO != 0);
    // SAFETY: `handler` is the function the program installed before us, with the signature
    // its flags say; it is called with the arguments the kernel gave us.
    unsafe {
        if siginfo {
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                std::mem::transmute(handler);
            f(sig, info, ctx);
        } else {
            let f: extern "C" fn(libc::c_int) = std::mem::transmute(handler);
            f(sig);
        }
    }
}
