//! The kernel's own count of one file's pages in the page cache (`cachestat`, Linux 6.5+): how
//! much is cached, dirty or being written back. The write-back tests and the swarm benchmark
//! watch the dirty bound through it, from outside the code that keeps the bound. Test and
//! benchmark support only (`internals`), never in the client.

use std::fs::File;
use std::os::fd::AsRawFd;

/// `struct cachestat` of the system call.
#[repr(C)]
#[derive(Default)]
struct CacheStat {
    nr_cache: u64,
    nr_dirty: u64,
    nr_writeback: u64,
    nr_evicted: u64,
    nr_recently_evicted: u64,
}

/// What the page cache holds of one file, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageCache {
    /// Cached at all.
    pub cached: u64,
    /// Dirty or under write-back: written and not yet on the disk.
    pub unwritten: u64,
}

/// The page-cache counts of the whole of `file`, or `None` where the kernel has no `cachestat`.
pub fn page_cache(file: &File) -> Option<PageCache> {
    // The system call's number in the generic table that x86_64 and aarch64 share.
    const SYS_CACHESTAT: libc::c_long = 451;
    let range = [0u64, 0u64]; // offset 0, length 0: the whole file
    let mut st = CacheStat::default();
    // SAFETY: both pointers are to live values of the layouts the call expects.
    let rc = unsafe {
        libc::syscall(
            SYS_CACHESTAT,
            file.as_raw_fd(),
            range.as_ptr(),
            &mut st as *mut CacheStat,
            0u32,
        )
    };
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
    (rc == 0).then(|| PageCache {
        cached: st.nr_cache * page,
        unwritten: (st.nr_dirty + st.nr_writeback) * page,
    })
}
