//! Tests of `Storage`: layout across files, windows, fallback, creation rules and errors.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{FileSpec, Storage, StorageConfig, StorageError};

/// A folder under the system temp dir, unique per process and test, removed on drop.
pub(crate) struct TestDir(pub(crate) PathBuf);

impl TestDir {
    pub(crate) fn new(name: &str) -> TestDir {
        let p = std::env::temp_dir().join(format!("coracle-disk-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TestDir(p)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn spec(path: &str, length: u64) -> FileSpec {
    FileSpec {
        path: PathBuf::from(path),
        length,
        padding: false,
        executable: false,
    }
}

fn pad(path: &str, length: u64) -> FileSpec {
    FileSpec {
        padding: true,
        ..spec(path, length)
    }
}

/// Deterministic non-repeating-ish bytes, so misplaced copies show.
pub(crate) fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn pwrite_cfg() -> StorageConfig {
    StorageConfig {
        force_pwrite: true,
        ..StorageConfig::default()
    }
}

fn mixed_files() -> Vec<FileSpec> {
    vec![
        spec("t/a.bin", 100),
        spec("t/empty", 0),
        pad("t/.pad/50", 50),
        spec("t/b.bin", 30),
        spec("t/sub/d.bin", 200),
    ]
}

fn write_mixed(root: &Path, cfg: &StorageConfig) -> Vec<u8> {
    // Tiny files, mapped all the same (unless `force_pwrite`): the window paths across files.
    let cfg = &StorageConfig {
        map_min_file_bytes: 0,
        ..cfg.clone()
    };
    let st = Storage::open(root, &mixed_files(), cfg).unwrap();
    assert_eq!(st.total_length(), 380);
    assert_eq!(st.uses_mmap(), !cfg.force_pwrite);
    let data = pattern(380, 1);
    // One "piece" 60..330 spans a, empty, padding, b and d; then the rest.
    st.write_at(60, &data[60..330]).unwrap();
    st.write_at(0, &data[..60]).unwrap();
    st.write_at(330, &data[330..]).unwrap();
    let mut back = vec![0xAA; 270];
    st.read_at(60, &mut back).unwrap();
    assert_eq!(back[..40], data[60..100]);
    assert!(
        back[40..90].iter().all(|&b| b == 0),
        "padding reads as zeros"
    );
    assert_eq!(back[90..], data[150..330]);
    assert_eq!(
        st.read_vec(60, 270).unwrap(),
        back,
        "read_vec reads as read_at"
    );
    st.flush().unwrap();
    data
}

#[test]
fn piece_spans_files_empty_and_padding() {
    for (name, cfg) in [
        ("span-mmap", StorageConfig::default()),
        ("span-pwrite", pwrite_cfg()),
    ] {
        let dir = TestDir::new(name);
        let data = write_mixed(&dir.0, &cfg);
        let t = dir.0.join("t");
        assert_eq!(fs::read(t.join("a.bin")).unwrap(), data[..100]);
        assert_eq!(fs::metadata(t.join("empty")).unwrap().len(), 0);
        assert!(!t.join(".pad").exists(), "padding never created");
        assert_eq!(fs::read(t.join("b.bin")).unwrap(), data[150..180]);
        assert_eq!(fs::read(t.join("sub/d.bin")).unwrap(), data[180..]);
    }
}

#[test]
fn force_pwrite_gives_identical_files() {
    let a = TestDir::new("ident-a");
    let b = TestDir::new("ident-b");
    write_mixed(&a.0, &StorageConfig::default());
    write_mixed(&b.0, &pwrite_cfg());
    for f in ["a.bin", "empty", "b.bin", "sub/d.bin"] {
        let fa = fs::read(a.0.join("t").join(f)).unwrap();
        assert_eq!(fa, fs::read(b.0.join("t").join(f)).unwrap(), "{f}");
    }
}

#[test]
fn short_last_piece_boundaries_and_out_of_range() {
    let dir = TestDir::new("bounds");
    let files = [spec("x", 1000), spec("y", 1000), spec("z", 1000)];
    let st = Storage::open(&dir.0, &files, &StorageConfig::default()).unwrap();
    let data = pattern(3000, 2);
    // Pieces of 768: the last one (2304..3000) is short.
    for off in (0..3000).step_by(768) {
        let end = (off + 768).min(3000);
        st.write_at(off as u64, &data[off..end]).unwrap();
    }
    // Reads starting and ending exactly on file boundaries.
    let mut buf = vec![0; 1000];
    st.read_at(1000, &mut buf).unwrap();
    assert_eq!(buf, data[1000..2000]);
    st.read_at(2000, &mut buf).unwrap();
    assert_eq!(buf, data[2000..]);
    st.read_at(3000, &mut []).unwrap();
    assert_eq!(fs::read(dir.0.join("z")).unwrap(), data[2000..]);

    let err = st.write_at(2999, &[1, 2]).unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::OutOfRange {
                offset: 2999,
                len: 2
            }
        ),
        "{err}"
    );
    let err = st.read_at(3000, &mut [0]).unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::OutOfRange {
                offset: 3000,
                len: 1
            }
        ),
        "{err}"
    );
    let err = st.read_at(u64::MAX, &mut [0]).unwrap_err();
    assert!(matches!(err, StorageError::OutOfRange { .. }), "{err}");
    let err = st.read_vec(2999, 2).unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::OutOfRange {
                offset: 2999,
                len: 2
            }
        ),
        "{err}"
    );
    // Nothing past the end was written.
    assert_eq!(fs::metadata(dir.0.join("z")).unwrap().len(), 1000);
}

/// Writes two multi-MiB files in 48 KiB pieces (crossing 64 KiB windows) in shuffled order.
fn shuffled_write(root: &Path, cfg: &StorageConfig) -> Vec<u8> {
    let files = [spec("big", 3 << 20), spec("small", (1 << 20) + 123)];
    let st = Arc::new(Storage::open(root, &files, cfg).unwrap());
    let total = st.total_length() as usize;
    let data = Arc::new(pattern(total, 3));
    let piece = 48 * 1024;
    let mut order: Vec<usize> = (0..total.div_ceil(piece)).collect();
    let mut x = 12345u64;
    for i in (1..order.len()).rev() {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        order.swap(i, (x >> 33) as usize % (i + 1));
    }
    // Two writer threads over disjoint pieces, like two pool workers.
    let halves: Vec<Vec<usize>> = order
        .chunks(order.len() / 2 + 1)
        .map(<[_]>::to_vec)
        .collect();
    let threads: Vec<_> = halves
        .into_iter()
        .map(|part| {
            let (st, data) = (Arc::clone(&st), Arc::clone(&data));
            std::thread::spawn(move || {
                for p in part {
                    let (s, e) = (p * piece, ((p + 1) * piece).min(total));
                    st.write_at(s as u64, &data[s..e]).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut back = vec![0; total];
    st.read_at(0, &mut back).unwrap();
    assert!(back == *data, "read_at gives the written bytes");
    assert!(
        st.read_vec(0, data.len()).unwrap() == *data,
        "read_vec gives the written bytes, across windows and files"
    );
    st.flush().unwrap();
    assert_eq!(st.uses_mmap(), !cfg.force_pwrite);
    data.to_vec()
}

#[test]
fn small_windows_random_order_exact_bytes() {
    let cfg = StorageConfig {
        window_bytes: 64 * 1024,
        max_windows: 2,
        // Both files through maps, the small one too.
        map_min_file_bytes: 0,
        ..StorageConfig::default()
    };
    let a = TestDir::new("win-mmap");
    let data = shuffled_write(&a.0, &cfg);
    let mut on_disk = fs::read(a.0.join("big")).unwrap();
    on_disk.extend(fs::read(a.0.join("small")).unwrap());
    assert!(on_disk == data, "files hold the exact bytes");

    let b = TestDir::new("win-pwrite");
    shuffled_write(
        &b.0,
        &StorageConfig {
            force_pwrite: true,
            ..cfg
        },
    );
    assert!(fs::read(b.0.join("big")).unwrap() == data[..3 << 20]);
}

#[test]
fn files_shorter_than_a_huge_page_are_written_without_a_map() {
    let dir = TestDir::new("map-min");
    let files = [spec("small", (2 << 20) - 1), spec("big", 2 << 20)];
    let st = Storage::open(&dir.0, &files, &StorageConfig::default()).unwrap();
    let data = pattern((4 << 20) - 1, 5);
    // One write across both files, and a read of each back.
    st.write_at(0, &data).unwrap();
    assert_eq!(st.mapped_files(), vec![1], "only the 2 MiB file is mapped");
    assert!(st.read_vec(0, data.len()).unwrap() == data);
    assert_eq!(st.mapped_files(), vec![1]);
    st.flush().unwrap();
    assert!(fs::read(dir.0.join("small")).unwrap() == data[..(2 << 20) - 1]);
    assert!(fs::read(dir.0.join("big")).unwrap() == data[(2 << 20) - 1..]);

    // 0 maps every file, as before.
    let dir = TestDir::new("map-all");
    let cfg = StorageConfig {
        map_min_file_bytes: 0,
        ..StorageConfig::default()
    };
    let st = Storage::open(&dir.0, &files, &cfg).unwrap();
    st.write_at(0, &data).unwrap();
    assert_eq!(st.mapped_files(), vec![0, 1]);
}

#[test]
fn reopen_keeps_data_and_extends_short_file() {
    let dir = TestDir::new("reopen");
    let files = [spec("f", 4096), spec("g", 10)];
    fs::write(dir.0.join("g"), b"hello").unwrap();
    let data = pattern(4096, 4);
    {
        let st = Storage::open(&dir.0, &files, &StorageConfig::default()).unwrap();
        st.write_at(0, &data).unwrap();
        st.flush().unwrap();
    }
    assert_eq!(fs::read(dir.0.join("g")).unwrap(), b"hello\0\0\0\0\0");
    let st = Storage::open(&dir.0, &files, &StorageConfig::default()).unwrap();
    let mut back = vec![0; 4096];
    st.read_at(0, &mut back).unwrap();
    assert_eq!(back, data);
}

#[test]
fn existing_too_large_is_refused_and_untouched() {
    let dir = TestDir::new("toolarge");
    fs::write(dir.0.join("f"), [7u8; 20]).unwrap();
    let err = Storage::open(&dir.0, &[spec("f", 10)], &StorageConfig::default()).unwrap_err();
    match &err {
        StorageError::ExistingTooLarge {
            path,
            expected: 10,
            actual: 20,
        } => assert_eq!(path, &dir.0.join("f")),
        other => panic!("unexpected {other}"),
    }
    assert!(err.to_string().contains("already exists and is larger"));
    assert_eq!(fs::read(dir.0.join("f")).unwrap(), [7u8; 20]);
}

#[test]
fn file_where_folder_must_go() {
    let dir = TestDir::new("notdir");
    fs::write(dir.0.join("a"), b"user data").unwrap();
    let err = Storage::open(&dir.0, &[spec("a/b", 10)], &StorageConfig::default()).unwrap_err();
    assert!(
        matches!(&err, StorageError::NotADirectory(p) if *p == dir.0.join("a")),
        "{err}"
    );
    assert!(err
        .to_string()
        .contains(&dir.0.join("a").display().to_string()));
    assert_eq!(fs::read(dir.0.join("a")).unwrap(), b"user data");
}

#[test]
fn folder_where_file_must_go() {
    let dir = TestDir::new("notfile");
    fs::create_dir(dir.0.join("x")).unwrap();
    let err = Storage::open(&dir.0, &[spec("x", 10)], &StorageConfig::default()).unwrap_err();
    assert!(
        matches!(&err, StorageError::NotAFile(p) if *p == dir.0.join("x")),
        "{err}"
    );
}

#[test]
fn unwritable_root_is_an_error() {
    let dir = TestDir::new("unwritable");
    // Works even as root: nothing can be created below a regular file.
    fs::write(dir.0.join("plain"), b"").unwrap();
    let root = dir.0.join("plain/sub");
    let err = Storage::open(&root, &[spec("f", 10)], &StorageConfig::default()).unwrap_err();
    assert!(
        matches!(&err, StorageError::NotADirectory(p) if *p == dir.0.join("plain")),
        "{err}"
    );

    // Permission bits only stop non-root users.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        use std::os::unix::fs::PermissionsExt;
        let ro = dir.0.join("ro");
        fs::create_dir(&ro).unwrap();
        fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
        let err = Storage::open(&ro, &[spec("f", 10)], &StorageConfig::default()).unwrap_err();
        assert!(
            matches!(&err, StorageError::Io { path, .. } if *path == ro.join("f")),
            "{err}"
        );
        fs::set_permissions(&ro, fs::Permissions::from_mode(0o755)).unwrap();
    }
}

#[test]
fn unsafe_paths_are_refused_before_touching_disk() {
    let dir = TestDir::new("unsafe");
    let root = dir.0.join("root");
    for bad in ["/etc/passwd", "../x", "a/../../x", "", "./a"] {
        let err = Storage::open(&root, &[spec(bad, 1)], &StorageConfig::default()).unwrap_err();
        assert!(matches!(err, StorageError::UnsafePath(_)), "{bad}: {err}");
    }
    assert!(!root.exists());
}

#[test]
fn error_messages_are_actionable() {
    let e = StorageError::NoSpace {
        dir: PathBuf::from("/x"),
        needed: 1 << 30,
        available: 5 << 20,
    };
    assert_eq!(
        e.to_string(),
        "not enough space in /x: need 1.0 GiB (1073741824 bytes), 5.0 MiB available"
    );
}

#[test]
fn storage_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Storage>();
}

fn run(cmd: &str, args: &[&str]) -> bool {
    std::process::Command::new(cmd)
        .args(args)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn no_space_on_small_tmpfs() {
    let dir = TestDir::new("nospace");
    let mnt = dir.0.join("mnt");
    fs::create_dir(&mnt).unwrap();
    let m = mnt.to_str().unwrap();
    if !run("mount", &["-t", "tmpfs", "-o", "size=1m", "tmpfs", m]) {
        println!("skipped: needs root to mount tmpfs");
        return;
    }
    let res = Storage::open(
        &mnt.join("dl"),
        &[spec("big", 4 << 20)],
        &StorageConfig::default(),
    );
    let listing = fs::read_dir(mnt.join("dl")).map(|d| d.count()).unwrap_or(0);
    run("umount", &[m]);
    match res {
        Err(StorageError::NoSpace {
            dir,
            needed,
            available,
        }) => {
            assert_eq!(dir, mnt.join("dl"));
            assert_eq!(needed, 4 << 20);
            assert!(available <= 1 << 20, "available {available}");
        }
        other => panic!("expected NoSpace, got {other:?}"),
    }
    assert_eq!(listing, 0, "no file created when space is short");
}

#[test]
fn executable_files_are_created_with_the_execute_bits() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TestDir::new("exec");
    let files = [
        FileSpec {
            executable: true,
            ..spec("t/run.sh", 10)
        },
        spec("t/data", 10),
    ];
    Storage::open(&dir.0, &files, &StorageConfig::default()).unwrap();
    let mode = |p: &str| fs::metadata(dir.0.join(p)).unwrap().permissions().mode();
    // The umask may take group and other bits, never the owner's.
    assert_eq!(mode("t/run.sh") & 0o100, 0o100);
    assert_eq!(mode("t/data") & 0o111, 0);
}
