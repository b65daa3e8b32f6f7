//! nacre's client against nacre's server in memory: every request and extension, directory
//! streaming, `File` as AsyncRead/AsyncWrite/AsyncSeek, read-only mode.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::os::unix::fs::MetadataExt;

use common::{data, pair, pair_with};
use nacre_sftp::codec::{OpenFlags, StatusCode};
use nacre_sftp::{Attributes, ClientConfig, Error, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

#[tokio::test]
async fn version_extensions_and_limits() {
    let p = pair().await;
    let c = &p.client;
    assert_eq!(c.version(), 3);
    for (name, v) in [
        ("posix-rename@openssh.com", "1"),
        ("statvfs@openssh.com", "2"),
        ("fstatvfs@openssh.com", "2"),
        ("hardlink@openssh.com", "1"),
        ("fsync@openssh.com", "1"),
        ("lsetstat@openssh.com", "1"),
        ("limits@openssh.com", "1"),
        ("expand-path@openssh.com", "1"),
        ("copy-data", "1"),
        ("home-directory", "1"),
        ("users-groups-by-id@openssh.com", "1"),
    ] {
        assert!(c.supports(name, v), "{name} {v} not announced");
    }
    let l = c.limits().unwrap();
    assert_eq!(l.max_packet_length, 256 * 1024);
    assert_eq!(l.max_read_length, 255 * 1024);
    assert_eq!(l.max_write_length, 255 * 1024);
    assert_eq!(l.max_open_handles, 512);
    assert_eq!(c.read_len(), nacre_sftp::DEFAULT_MAX_REQUEST_LEN);
}

#[tokio::test]
async fn every_operation() {
    let p = pair().await;
    let (c, root) = (&p.client, p.root());
    c.mkdir("/d", &Attributes::EMPTY.with_permissions(0o750))
        .await
        .unwrap();
    assert_eq!(
        std::fs::metadata(root.join("d")).unwrap().mode() & 0o777,
        0o750
    );
    // open / write / read / fstat / close
    let flags = OpenFlags::WRITE | OpenFlags::CREAT | OpenFlags::TRUNC;
    let h = c
        .open("/d/f", flags, &Attributes::EMPTY.with_permissions(0o600))
        .await
        .unwrap();
    c.write(&h, 0, b"hello ").await.unwrap();
    c.write(&h, 6, b"world").await.unwrap();
    assert_eq!(c.fstat(&h).await.unwrap().size, Some(11));
    c.fsync(&h).await.unwrap();
    let vfs = c.fstatvfs(&h).await.unwrap();
    assert!(vfs.blocks > 0);
    c.fsetstat(&h, &Attributes::EMPTY.with_times(1_000_000, 2_000_000))
        .await
        .unwrap();
    c.close(&h).await.unwrap();
    assert_eq!(std::fs::read(root.join("d/f")).unwrap(), b"hello world");
    assert_eq!(
        std::fs::metadata(root.join("d/f")).unwrap().mtime(),
        2_000_000
    );
    let h = c
        .open("d/f", OpenFlags::READ, &Attributes::EMPTY)
        .await
        .unwrap();
    assert_eq!(c.read(&h, 6, 100).await.unwrap().unwrap(), b"world");
    assert_eq!(c.read(&h, 11, 100).await.unwrap(), None);
    c.close(&h).await.unwrap();
    // stat / lstat / setstat
    let a = c.stat("/d/f").await.unwrap();
    assert_eq!(a.size, Some(11));
    assert!(a.is_regular());
    assert_eq!(a.mode_bits(), Some(0o600));
    c.setstat("/d/f", &Attributes::EMPTY.with_permissions(0o644))
        .await
        .unwrap();
    assert_eq!(c.stat("/d/f").await.unwrap().mode_bits(), Some(0o644));
    c.setstat("/d/f", &Attributes::EMPTY.with_size(5))
        .await
        .unwrap();
    assert_eq!(std::fs::read(root.join("d/f")).unwrap(), b"hello");
    // symlink / readlink / lstat / lsetstat / realpath
    c.symlink("f", "/d/link").await.unwrap();
    assert_eq!(c.readlink("/d/link").await.unwrap(), b"f");
    assert!(c.lstat("/d/link").await.unwrap().is_symlink());
    assert!(c.stat("/d/link").await.unwrap().is_regular());
    c.lsetstat("/d/link", &Attributes::EMPTY.with_times(3, 4_000_000))
        .await
        .unwrap();
    assert_eq!(
        std::fs::symlink_metadata(root.join("d/link"))
            .unwrap()
            .mtime(),
        4_000_000
    );
    assert_eq!(c.realpath(".").await.unwrap(), b"/");
    assert_eq!(c.realpath("d/../d/./link").await.unwrap(), b"/d/f");
    assert_eq!(c.realpath("/d/new-name").await.unwrap(), b"/d/new-name");
    // hardlink
    c.hardlink("/d/f", "/d/hard").await.unwrap();
    assert_eq!(std::fs::metadata(root.join("d/f")).unwrap().nlink(), 2);
    // rename: posix-rename replaces, plain RENAME refuses
    std::fs::write(root.join("d/other"), b"other").unwrap();
    let e = c.rename_noreplace("/d/other", "/d/hard").await.unwrap_err();
    assert_eq!(e.status(), Some(StatusCode::FAILURE));
    c.rename("/d/other", "/d/hard").await.unwrap();
    assert_eq!(std::fs::read(root.join("d/hard")).unwrap(), b"other");
    c.rename_noreplace("/d/hard", "/d/hard2").await.unwrap();
    // copy-data
    c.copy_file("/d/f", "/d/copy").await.unwrap();
    assert_eq!(std::fs::read(root.join("d/copy")).unwrap(), b"hello");
    // statvfs, expand-path, home-directory, users-groups-by-id
    assert!(c.statvfs("/").await.unwrap().bsize > 0);
    assert_eq!(c.expand_path("~/d").await.unwrap(), b"/d");
    assert_eq!(c.expand_path("~").await.unwrap(), b"/");
    assert_eq!(c.home_directory("").await.unwrap(), b"/");
    let (users, groups) = c.users_groups_by_id(&[0, 4_000_000], &[0]).await.unwrap();
    assert_eq!(users, vec!["root".to_owned(), String::new()]);
    assert_eq!(groups, vec!["root".to_owned()]);
    // readdir, long names
    let mut names: Vec<String> = c
        .list_dir("/d")
        .await
        .unwrap()
        .iter()
        .map(|e| e.name_lossy())
        .collect();
    names.sort();
    assert_eq!(names, ["copy", "f", "hard2", "link"]);
    let entries = c.list_dir("/d").await.unwrap();
    let f = entries.iter().find(|e| e.name == b"f").unwrap();
    let long = String::from_utf8_lossy(&f.longname).into_owned();
    assert!(long.starts_with("-rw-r--r--"), "{long}");
    assert!(long.ends_with(" f"), "{long}");
    // remove / rmdir, errors
    for name in ["f", "link", "hard2", "copy"] {
        c.remove(format!("/d/{name}")).await.unwrap();
    }
    let e = c.remove("/d/f").await.unwrap_err();
    assert_eq!(e.status(), Some(StatusCode::NO_SUCH_FILE));
    c.rmdir("/d").await.unwrap();
    assert!(!root.join("d").exists());
    let e = c.stat("/nothing/here").await.unwrap_err();
    assert_eq!(e.status(), Some(StatusCode::NO_SUCH_FILE));
    let e = c.rmdir("/").await.unwrap_err();
    assert_eq!(e.status(), Some(StatusCode::PERMISSION_DENIED));
    drop(p.client);
    p.server.await.unwrap().unwrap();
}

#[tokio::test]
async fn directory_streaming() {
    let p = pair().await;
    for i in 0..1000 {
        std::fs::write(p.root().join(format!("file-{i:04}")), b"").unwrap();
    }
    let mut dir = p.client.read_dir("/").await.unwrap();
    let mut n = 0;
    while let Some(e) = dir.next().await.unwrap() {
        assert!(e.name.starts_with(b"file-"));
        assert_eq!(e.attrs.size, Some(0));
        n += 1;
    }
    assert_eq!(n, 1000);
    // Handles were all closed.
    let e = p.client.readdir(b"\0\0\0\0\0\0\0\x01").await.unwrap_err();
    assert_eq!(e.status(), Some(StatusCode::FAILURE));
}

#[tokio::test]
async fn file_read_write_seek() {
    let p = pair().await;
    let c = &p.client;
    let content = data(3 * 1024 * 1024 + 17, 7);
    let mut f = c.create("/big").await.unwrap();
    f.write_all(&content).await.unwrap();
    f.shutdown().await.unwrap();
    assert_eq!(std::fs::read(p.root().join("big")).unwrap(), content);
    let mut f = c.open_read("/big").await.unwrap();
    let mut back = Vec::new();
    f.read_to_end(&mut back).await.unwrap();
    assert_eq!(back, content);
    assert_eq!(
        f.seek(std::io::SeekFrom::End(-17)).await.unwrap(),
        3 * 1024 * 1024
    );
    let mut tail = Vec::new();
    f.read_to_end(&mut tail).await.unwrap();
    assert_eq!(tail, &content[3 * 1024 * 1024..]);
    f.seek(std::io::SeekFrom::Start(10)).await.unwrap();
    let mut ten = [0u8; 10];
    f.read_exact(&mut ten).await.unwrap();
    assert_eq!(ten, content[10..20]);
    f.seek(std::io::SeekFrom::Current(-5)).await.unwrap();
    f.read_exact(&mut ten[..5]).await.unwrap();
    assert_eq!(ten[..5], content[15..20]);
    f.close().await.unwrap();
    // Write in the middle through a READ|WRITE handle.
    let mut f = c
        .open_file(
            "/big",
            OpenFlags::READ | OpenFlags::WRITE,
            &Attributes::EMPTY,
        )
        .await
        .unwrap();
    f.seek(std::io::SeekFrom::Start(5)).await.unwrap();
    f.write_all(b"XYZ").await.unwrap();
    f.flush().await.unwrap();
    f.seek(std::io::SeekFrom::Start(4)).await.unwrap();
    let mut five = [0u8; 5];
    f.read_exact(&mut five).await.unwrap();
    assert_eq!(&five[1..4], b"XYZ");
}

#[tokio::test]
async fn read_only_mode() {
    let server = ServerConfig {
        read_only: true,
        ..ServerConfig::default()
    };
    let p = pair_with(server, ClientConfig::default()).await;
    std::fs::write(p.root().join("f"), b"data").unwrap();
    std::fs::create_dir(p.root().join("d")).unwrap();
    let c = &p.client;
    let denied = |r: Result<(), Error>| {
        assert_eq!(r.unwrap_err().status(), Some(StatusCode::PERMISSION_DENIED));
    };
    denied(c.mkdir("/x", &Attributes::EMPTY).await);
    denied(c.rmdir("/d").await);
    denied(c.remove("/f").await);
    denied(c.rename("/f", "/g").await);
    denied(c.symlink("f", "/l").await);
    denied(c.hardlink("/f", "/h").await);
    denied(
        c.setstat("/f", &Attributes::EMPTY.with_permissions(0o777))
            .await,
    );
    denied(
        c.open("/f", OpenFlags::WRITE, &Attributes::EMPTY)
            .await
            .map(|_| ()),
    );
    denied(
        c.open(
            "/new",
            OpenFlags::READ | OpenFlags::CREAT,
            &Attributes::EMPTY,
        )
        .await
        .map(|_| ()),
    );
    let h = c
        .open("/f", OpenFlags::READ, &Attributes::EMPTY)
        .await
        .unwrap();
    denied(c.write(&h, 0, b"x").await);
    assert_eq!(c.read(&h, 0, 10).await.unwrap().unwrap(), b"data");
    assert_eq!(std::fs::read(p.root().join("f")).unwrap(), b"data");
    assert!(p.root().join("d").exists());
}
