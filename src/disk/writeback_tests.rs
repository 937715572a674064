//! The dirty bound of progressive write-back, read from the kernel's own count of a file's
//! dirty and under-write-back pages (`cachestat`, Linux 6.5+).

use super::storage_tests::{pattern, spec, TestDir};
use super::{Storage, StorageConfig};

/// Bytes of `path` that are dirty or being written back, or `None` where the kernel has no
/// `cachestat` (before 6.5).
fn unwritten_bytes(path: &std::path::Path) -> Option<u64> {
    let file = std::fs::File::open(path).ok()?;
    super::cachestat::page_cache(&file).map(|c| c.unwritten)
}

/// Writes 96 MiB in 1 MiB pieces as the pool does (write, then `write_back`) and returns the
/// most bytes that were dirty or under write-back after any piece.
fn peak_unwritten(dirty_limit: u64, force_pwrite: bool, name: &str) -> Option<u64> {
    const PIECE: usize = 1 << 20;
    const PIECES: usize = 96;
    let dir = TestDir::new(name);
    let cfg = StorageConfig {
        dirty_limit,
        force_pwrite,
        ..StorageConfig::default()
    };
    let files = [spec("big.bin", (PIECE * PIECES) as u64)];
    let st = Storage::open(&dir.0, &files, &cfg).unwrap();
    let data = pattern(PIECE, 7);
    let path = dir.0.join("big.bin");
    let mut peak = 0;
    // Out of order, as pieces arrive from a swarm.
    for i in 0..PIECES {
        let piece = (i * 37) % PIECES;
        st.write_at((piece * PIECE) as u64, &data).unwrap();
        st.write_back();
        peak = peak.max(unwritten_bytes(&path)?);
    }
    st.flush().unwrap();
    Some(peak)
}

#[test]
fn dirty_page_cache_stays_within_the_configured_bound() {
    const LIMIT: u64 = 16 << 20;
    // Without write-back the kernel leaves it all dirty (well below its own background
    // threshold): the measurement can tell the difference.
    let Some(unbounded) = peak_unwritten(0, false, "wb-off") else {
        eprintln!("skipped: this kernel has no cachestat (Linux 6.5+)");
        return;
    };
    if unbounded < 3 * LIMIT {
        eprintln!(
            "skipped: without write-back only {} MiB were ever dirty (a file system that \
             writes through, or heavy background write-back)",
            unbounded >> 20
        );
        return;
    }
    for (pwrite, name) in [(false, "wb-mmap"), (true, "wb-pwrite")] {
        let peak = peak_unwritten(LIMIT, pwrite, name).unwrap();
        eprintln!(
            "{name}: at most {} KiB unwritten (without write-back: {} KiB)",
            peak >> 10,
            unbounded >> 10
        );
        assert!(
            peak <= LIMIT,
            "{name}: {} MiB dirty or in flight at once, over the {} MiB bound (without \
             write-back: {} MiB)",
            peak >> 20,
            LIMIT >> 20,
            unbounded >> 20
        );
    }
}
