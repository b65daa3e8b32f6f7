//! `LocalFs::acting_as`: a server running as root serves files with one account's rights only;
//! the kernel refuses what that account may not do, and the thread is root again afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use nacre_sftp::codec::OpenFlags;
use nacre_sftp::{Attributes, Credentials, Filesystem, LocalFs};

/// `nobody` on Debian; any unprivileged id serves (no /etc/passwd entry is needed).
const NOBODY: u32 = 65534;

fn nobody() -> Credentials {
    Credentials {
        uid: NOBODY,
        gid: NOBODY,
        groups: vec![NOBODY],
    }
}

fn mode(attrs_mode: u32) -> Attributes {
    Attributes {
        permissions: Some(attrs_mode),
        ..Attributes::EMPTY
    }
}

fn create(fs: &LocalFs, path: &str, m: u32) -> std::io::Result<()> {
    let f = fs.open(
        Path::new(path),
        OpenFlags::WRITE | OpenFlags::CREAT | OpenFlags::TRUNC,
        &mode(m),
    )?;
    fs.write_at(&f, 0, b"#!/bin/sh\nid\n")
}

#[test]
fn acting_as_an_account_gives_its_rights_and_no_more() {
    assert!(
        nacre_sftp::is_root(),
        "this test switches credentials and must run as root (as scripts/test does)"
    );
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let share = tmp.path().join("share");
    std::fs::create_dir(&share).unwrap();
    std::os::unix::fs::chown(&share, Some(NOBODY), Some(NOBODY)).unwrap();
    // An operator's files inside the user's folder.
    let secret = share.join("secret");
    std::fs::write(&secret, "root only").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let readonly = share.join("readonly");
    std::fs::write(&readonly, "root's").unwrap();
    std::fs::set_permissions(&readonly, std::fs::Permissions::from_mode(0o444)).unwrap();
    let rootdir = share.join("rootdir");
    std::fs::create_dir(&rootdir).unwrap();

    let fs = LocalFs::acting_as(&share, nobody()).unwrap();
    // A new file, even asked for with set-id bits, belongs to the account.
    create(&fs, "/tool", 0o6755).unwrap();
    let meta = std::fs::metadata(share.join("tool")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (NOBODY, NOBODY));
    // Set-id bits on root's file, a change of owner: refused by the kernel.
    let denied = |r: std::io::Result<()>| {
        let e = r.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied, "{e}");
    };
    denied(fs.setstat(Path::new("/readonly"), &mode(0o4755)));
    let chown = Attributes {
        uid_gid: Some(nacre_sftp::codec::UidGid { uid: 0, gid: 0 }),
        ..Attributes::EMPTY
    };
    denied(fs.setstat(Path::new("/tool"), &chown));
    // Root's 0600 file cannot be read, its 0444 file not overwritten, root's folder not written.
    denied(
        fs.open(Path::new("/secret"), OpenFlags::READ, &Attributes::EMPTY)
            .map(drop),
    );
    denied(create(&fs, "/readonly", 0o644));
    denied(create(&fs, "/rootdir/new", 0o644));
    // A hard link to root's unreadable file (protected_hardlinks) or a rename over it in root's folder.
    std::fs::write(rootdir.join("theirs"), "x").unwrap();
    denied(fs.rename(Path::new("/tool"), Path::new("/rootdir/theirs"), true));
    assert!(fs
        .hardlink(Path::new("/secret"), Path::new("/link"))
        .is_err());
    // Times and size of root's file.
    denied(fs.setstat(
        Path::new("/readonly"),
        &Attributes {
            size: Some(0),
            ..Attributes::EMPTY
        },
    ));
    // The thread is root again: it reads the secret itself.
    assert!(nacre_sftp::is_root());
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "root only");
    assert_eq!(
        std::fs::metadata(&readonly).unwrap().permissions().mode() & 0o7777,
        0o444
    );
}

#[test]
fn a_folder_the_account_cannot_enter_is_refused_at_open() {
    assert!(nacre_sftp::is_root(), "must run as root");
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let err = LocalFs::acting_as(tmp.path(), nobody()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied);
    // Root itself still opens it.
    assert!(LocalFs::new(tmp.path()).is_ok());
}

/// The account's own threads: a job runs with the account's ids and cannot become root again;
/// two sessions of one account share the threads; `LocalFs::acting_as` runs the server's jobs
/// there, and the kernel still refuses what the account may not do.
#[test]
fn account_threads_are_the_accounts_for_good() {
    assert!(nacre_sftp::is_root(), "must run as root");
    let threads = nacre_sftp::AccountThreads::for_account(&nobody());
    assert!(std::sync::Arc::ptr_eq(
        &threads,
        &nacre_sftp::AccountThreads::for_account(&nobody())
    ));
    let (tx, rx) = std::sync::mpsc::channel();
    threads.spawn(Box::new(move || {
        let ids = (
            rustix::process::getuid().as_raw(),
            rustix::process::geteuid().as_raw(),
            rustix::process::getegid().as_raw(),
        );
        let back = rustix::thread::set_thread_res_uid(
            rustix::process::Uid::ROOT,
            rustix::process::Uid::ROOT,
            rustix::process::Uid::ROOT,
        );
        let _ = tx.send((ids, back.is_err()));
    }));
    let (ids, refused) = rx.recv().unwrap();
    assert_eq!(ids, (NOBODY, NOBODY, NOBODY));
    assert!(refused, "an account's thread became root again");

    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(tmp.path().join("secret"), "root only").unwrap();
    std::fs::set_permissions(
        tmp.path().join("secret"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let fs = std::sync::Arc::new(LocalFs::acting_as(tmp.path(), nobody()).unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    let fs2 = fs.clone();
    fs.spawn_blocking(Box::new(move || {
        let opened = fs2.open(Path::new("/secret"), OpenFlags::READ, &Attributes::EMPTY);
        let created = create(&fs2, "/new", 0o644);
        let _ = tx.send((opened.map(drop), created));
    }));
    let (opened, created) = rx.recv().unwrap();
    assert_eq!(
        opened.unwrap_err().kind(),
        std::io::ErrorKind::PermissionDenied
    );
    assert_eq!(
        created.unwrap_err().kind(),
        std::io::ErrorKind::PermissionDenied
    );
}
