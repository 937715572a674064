//! Tests of skipped files: never created, boundary bytes kept in the part file and moved into
//! the file when it is chosen again, the part file gone once nothing is skipped.

use std::fs;

use super::storage_tests::{pattern, spec, TestDir};
use super::{SkipFiles, Storage, StorageConfig, StorageError};

/// Files of 15, 10 and 5 bytes in pieces of 10: piece 1 straddles files a and b, piece 2
/// files b and c; piece 0 lies inside a alone.
fn open(dir: &TestDir, skip: [bool; 3]) -> Storage {
    let files = [spec("t/a", 15), spec("t/b", 10), spec("t/c", 5)];
    let choice = SkipFiles {
        skip: skip.to_vec(),
        part_file: dir.0.join(".parts"),
        piece_length: 10,
    };
    Storage::open_skipping(&dir.0, &files, &StorageConfig::default(), Some(&choice)).unwrap()
}

#[test]
fn skipped_files_are_never_created_and_boundary_bytes_go_to_the_part_file() {
    let dir = TestDir::new("skip-boundary");
    let s = open(&dir, [true, false, true]);
    assert!(!dir.0.join("t/a").exists() && !dir.0.join("t/c").exists());
    assert_eq!(fs::metadata(dir.0.join("t/b")).unwrap().len(), 10);
    assert!(
        !dir.0.join(".parts").exists(),
        "created only at its first write"
    );
    let data = pattern(30, 1);
    s.write_at(10, &data[10..20]).unwrap();
    s.write_at(20, &data[20..30]).unwrap();
    // b holds its own 10 bytes; the part file a's last 5 (slot 0) and c's 5 (slot 1).
    assert_eq!(fs::read(dir.0.join("t/b")).unwrap(), &data[15..25]);
    let parts = fs::read(dir.0.join(".parts")).unwrap();
    assert_eq!(&parts[..5], &data[10..15]);
    assert_eq!(&parts[15..20], &data[25..30]);
    let mut back = vec![0; 20];
    s.read_at(10, &mut back).unwrap();
    assert_eq!(back, &data[10..30]);
    assert_eq!(s.read_vec(10, 20).unwrap(), &data[10..30]);
    // Piece 0 lies in a alone: nothing may store it.
    assert!(matches!(
        s.write_at(0, &data[..10]),
        Err(StorageError::Skipped(_))
    ));
    assert!(matches!(s.read_vec(0, 10), Err(StorageError::Skipped(_))));
    assert!(!dir.0.join("t/a").exists());
    s.flush().unwrap();
    assert!(s.file_stamps()[0] == crate::resume::FileStamp::MISSING);
}

#[test]
fn a_file_chosen_again_gets_its_part_bytes_and_the_part_file_goes_last() {
    let dir = TestDir::new("skip-move");
    let s = open(&dir, [true, false, true]);
    let data = pattern(30, 2);
    s.write_at(10, &data[10..20]).unwrap();
    s.write_at(20, &data[20..30]).unwrap();
    assert!(s.create_skipped(0).unwrap());
    assert!(!s.create_skipped(0).unwrap(), "already there");
    let a = fs::read(dir.0.join("t/a")).unwrap();
    assert_eq!(a.len(), 15);
    assert_eq!(&a[10..15], &data[10..15]);
    // a is a real file now: piece 0 can be written, and reads come from the file.
    s.write_at(0, &data[..10]).unwrap();
    assert_eq!(fs::read(dir.0.join("t/a")).unwrap(), &data[..15]);
    assert!(dir.0.join(".parts").exists(), "c still needs it");
    assert!(s.create_skipped(2).unwrap());
    assert_eq!(fs::read(dir.0.join("t/c")).unwrap(), &data[25..30]);
    assert!(!dir.0.join(".parts").exists());
    assert_eq!(s.read_vec(0, 30).unwrap(), data);
    let left: Vec<_> = fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["t"]);
}

#[test]
fn an_existing_skipped_file_is_used_and_an_unwritten_part_reads_as_zeros() {
    let dir = TestDir::new("skip-existing");
    fs::create_dir_all(dir.0.join("t")).unwrap();
    fs::write(dir.0.join("t/c"), pattern(5, 3)).unwrap();
    let s = open(&dir, [true, false, true]);
    assert!(!s.is_absent(2) && s.is_absent(0));
    assert_eq!(s.read_vec(25, 5).unwrap(), pattern(5, 3));
    // Nothing written to the part file yet: a's boundary bytes read as zeros.
    assert_eq!(s.read_vec(10, 5).unwrap(), [0; 5]);
}
