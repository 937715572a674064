//! The memory-map window cache of one [`Storage`](super::Storage).
//!
//! Files are mapped in aligned windows of `window_bytes`, never whole, and at most `max_windows`
//! stay mapped (least recently used is dropped), so the address space used is bounded; when mapping
//! fails for lack of address space, the cache is emptied and the map tried again, so a 1.5 GiB file
//! works under `ulimit -v 1G`. Called from pool workers concurrently, and from the reactor thread
//! at shutdown (every window is unmapped before the final fsync). The lock guards only the cache's
//! bookkeeping and the `mmap` call; the copies run outside it through an `Arc` of the window, so
//! writers of disjoint pieces proceed in parallel. It must not decide about fallback: a mapping
//! failure is returned and `Storage` switches to positional I/O.

use std::fs::File;
use std::io;
use std::sync::{Arc, Mutex};

use memmap2::{MmapOptions, MmapRaw};

struct Entry {
    file: usize,
    index: u64,
    map: Arc<MmapRaw>,
    used: u64,
}

#[derive(Default)]
struct State {
    tick: u64,
    entries: Vec<Entry>,
}

/// Which way a copy goes between a caller's buffer and the mapped file.
pub(crate) enum Copy<'a> {
    /// Buffer to file.
    In(&'a [u8]),
    /// File to buffer.
    Out(&'a mut [u8]),
    /// File to the end of a vector, `.1` bytes: no zeroing of a buffer about to be overwritten.
    Append(&'a mut Vec<u8>, usize),
}

impl Copy<'_> {
    fn len(&self) -> usize {
        match self {
            Copy::In(b) => b.len(),
            Copy::Out(b) => b.len(),
            Copy::Append(_, len) => *len,
        }
    }
}

/// Cached windows keyed by (file index, window index).
pub(crate) struct Windows {
    window_bytes: u64,
    max_windows: usize,
    state: Mutex<State>,
}

fn page_size() -> u64 {
    // SAFETY: sysconf takes no pointers and only reads a system constant.
    let raw = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(raw).ok().filter(|&p| p > 0).unwrap_or(4096)
}

impl Windows {
    /// A cache of at most `max_windows` windows of `window_bytes` each (rounded up to whole
    /// pages, because `mmap` offsets must be page-aligned).
    pub(crate) fn new(window_bytes: u64, max_windows: usize) -> Windows {
        let page = page_size();
        super::sigbus::install(usize::try_from(page).unwrap_or(4096));
        let pages = window_bytes.div_ceil(page).max(1);
        Windows {
            window_bytes: pages.saturating_mul(page),
            max_windows: max_windows.max(1),
            state: Mutex::new(State::default()),
        }
    }

    /// Copies between `copy`'s buffer and file `file` (open as `fd`, `file_len` bytes long)
    /// starting at `file_off`. The range must lie inside the file (checked by the caller).
    /// Errors when a window cannot be mapped, or with [`FileChanged`](super::sigbus::FileChanged)
    /// when the file shrank under the copy (the SIGBUS is caught; the window is dropped).
    pub(crate) fn copy(
        &self,
        file: usize,
        fd: &File,
        file_len: u64,
        file_off: u64,
        mut copy: Copy<'_>,
    ) -> io::Result<()> {
        let total = copy.len();
        let mut done = 0usize;
        while done < total {
            let pos = file_off.saturating_add(done as u64);
            let index = pos / self.window_bytes;
            let map = self.get(file, index, fd, file_len)?;
            let in_win =
                usize::try_from(pos - index * self.window_bytes).map_err(io::Error::other)?;
            let n = (total - done).min(map.len().saturating_sub(in_win));
            if n == 0 {
                // Only if the caller's range passed the file end; refuse instead of looping.
                return Err(io::Error::other("range outside the mapped file"));
            }
            let base = map.as_ptr() as usize;
            let faulted = super::sigbus::guarded(base, map.len(), || match &mut copy {
                // SAFETY: `in_win + n <= map.len()` (n is clamped above) and `done + n <= total`,
                // so both ranges are in bounds. The map is kept alive by our `Arc` even if the
                // cache evicts it meanwhile. Pool workers write disjoint pieces, so no other thread
                // writes these bytes now; the file length is fixed at open, so a SIGBUS means
                // another process truncated it, and `guarded` turns that into an error.
                Copy::In(src) => unsafe {
                    std::ptr::copy_nonoverlapping(
                        src.as_ptr().add(done),
                        map.as_mut_ptr().add(in_win),
                        n,
                    )
                },
                // SAFETY: same bounds as above; readers only read verified pieces, which no
                // worker writes concurrently.
                Copy::Out(dst) => unsafe {
                    std::ptr::copy_nonoverlapping(
                        map.as_ptr().add(in_win),
                        dst.as_mut_ptr().add(done),
                        n,
                    )
                },
                Copy::Append(dst, _) => {
                    dst.reserve(n);
                    let end = dst.len();
                    // SAFETY: the source range is in bounds as above; `reserve` made room for
                    // `n` more bytes after `end`, and `set_len` only covers bytes just copied.
                    unsafe {
                        std::ptr::copy_nonoverlapping(
                            map.as_ptr().add(in_win),
                            dst.as_mut_ptr().add(end),
                            n,
                        );
                        dst.set_len(end + n);
                    }
                }
            });
            if faulted {
                self.forget(file, index);
                return Err(io::Error::other(super::sigbus::FileChanged));
            }
            done += n;
        }
        Ok(())
    }

    /// The window `index` of `file`, mapped now if not cached.
    fn get(&self, file: usize, index: u64, fd: &File, file_len: u64) -> io::Result<Arc<MmapRaw>> {
        // Poisoning can only follow a panic elsewhere; the bookkeeping is still consistent.
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.tick += 1;
        let tick = st.tick;
        if let Some(e) = st
            .entries
            .iter_mut()
            .find(|e| e.file == file && e.index == index)
        {
            e.used = tick;
            return Ok(Arc::clone(&e.map));
        }
        let start = index.saturating_mul(self.window_bytes);
        let len = file_len.saturating_sub(start).min(self.window_bytes);
        if len == 0 {
            return Err(io::Error::other("window past the end of the file"));
        }
        let len = usize::try_from(len).map_err(io::Error::other)?;
        let map_window = || MmapOptions::new().offset(start).len(len).map_raw(fd);
        let map = match map_window() {
            Ok(map) => map,
            // Out of address space (`ulimit -v`): give back every cached window (those being
            // copied through stay mapped until their copy ends) and try once more.
            Err(e) if e.raw_os_error() == Some(libc::ENOMEM) && !st.entries.is_empty() => {
                st.entries.clear();
                map_window()?
            }
            Err(e) => return Err(e),
        };
        // Huge pages for the page cache behind the window: a write fault then maps a whole
        // 2 MiB folio instead of one 4 KiB page, so writing 1 GiB through maps takes a few
        // thousand faults, not a quarter of a million (each of which also zero-filled its page
        // and prepared its blocks). Leecher CPU fell from 3.1 to 2.0 s/GiB with warm memory and
        // from 2.85 to 2.64 with memory handed back to the host (`examples/swarm`; ARCHITECTURE,
        // "Storage"). Only a hint: without THP (or on another file system) nothing changes.
        #[cfg(target_os = "linux")]
        let _ = map.advise(memmap2::Advice::HugePage);
        let map = Arc::new(map);
        if st.entries.len() >= self.max_windows {
            if let Some(oldest) = st
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.used)
                .map(|(i, _)| i)
            {
                // Dirty pages of a dropped shared map stay in the page cache; fsync writes them.
                st.entries.swap_remove(oldest);
            }
        }
        st.entries.push(Entry {
            file,
            index,
            map: Arc::clone(&map),
            used: tick,
        });
        Ok(map)
    }

    /// Which files have a window mapped now (tests).
    #[cfg(test)]
    pub(crate) fn mapped_files(&self) -> Vec<usize> {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut files: Vec<usize> = st.entries.iter().map(|e| e.file).collect();
        files.sort_unstable();
        files.dedup();
        files
    }

    /// Drops window `index` of `file` from the cache: a page of it was replaced after a fault.
    fn forget(&self, file: usize, index: u64) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.entries.retain(|e| e.file != file || e.index != index);
    }

    /// Unmaps every cached window (a copy still running keeps its own until it ends). Before a
    /// flush: `fsync` then writes back pages that no map covers, instead of write-protecting
    /// each mapped page again (`folio_mkclean`), which was three quarters of a completion
    /// flush's CPU time (`examples/scale`, 100 torrents). Nothing is lost: a page written
    /// through a map is marked dirty in the page cache at its first write.
    pub(crate) fn release(&self) {
        let entries = {
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::take(&mut st.entries)
        };
        drop(entries);
    }
}
