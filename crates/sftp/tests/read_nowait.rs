//! `Filesystem::read_at_into_nowait` on `LocalFs`: on tmpfs (/dev/shm) it always reads, on a disk
//! file system it reads what the page cache holds (a file just written) or declines; it never
//! hands back a short count (the end of a file goes to the blocking read, which reports it), and
//! `out` is untouched when it declines. The server path over it is covered by the transfers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use nacre_sftp::codec::OpenFlags;
use nacre_sftp::{Attributes, Filesystem, LocalFs};

fn data() -> Vec<u8> {
    (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect()
}

/// Reads through the nowait call; `None` where it declined.
fn check(root: &std::path::Path, must_read: bool) {
    std::fs::write(root.join("f"), data()).unwrap();
    let fs = LocalFs::new(root).unwrap();
    let f = fs
        .open(
            std::path::Path::new("f"),
            OpenFlags::READ,
            &Attributes::EMPTY,
        )
        .unwrap();
    let want = data();
    for (offset, len) in [(0usize, 65_536usize), (1000, 200_000), (234_464, 65_536)] {
        let mut out = b"head".to_vec();
        match fs.read_at_into_nowait(&f, offset as u64, len, &mut out) {
            Some(n) => {
                assert_eq!(n, len);
                assert_eq!(&out[..4], b"head");
                assert_eq!(&out[4..], &want[offset..offset + len]);
            }
            None => {
                assert!(!must_read, "declined a read at {offset} on tmpfs");
                assert_eq!(out, b"head");
            }
        }
    }
    // Across the end of the file: declined (the blocking read gives the short count), `out` kept.
    let mut out = b"head".to_vec();
    assert_eq!(fs.read_at_into_nowait(&f, 299_000, 4096, &mut out), None);
    assert_eq!(out, b"head");
    let mut out = Vec::new();
    assert_eq!(fs.read_at_into_nowait(&f, 400_000, 4096, &mut out), None);
    assert!(out.is_empty());
}

#[test]
fn reads_at_once_on_tmpfs() {
    let shm = std::path::Path::new("/dev/shm");
    assert!(shm.is_dir(), "/dev/shm (tmpfs) is missing");
    let dir = tempfile::tempdir_in(shm).unwrap();
    check(dir.path(), true);
}

#[test]
fn reads_the_page_cache_or_declines_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    check(dir.path(), false);
}
