//! The server never leaves its root: `..`, absolute paths, symbolic links pointing outside
//! (absolute and relative), a sibling folder whose name extends the root's (`root` vs `root2`),
//! links swapped during a transfer; REALPATH and READLINK never show the real root.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::os::unix::fs::symlink;

use common::pair;
use nacre_sftp::codec::{OpenFlags, StatusCode};
use nacre_sftp::Attributes;

const SECRET: &[u8] = b"secret outside the root";

/// The pair plus `root2/secret` and `outside/secret` next to the root.
async fn setup() -> common::Pair {
    let p = pair().await;
    let base = p.tmp.path();
    for d in ["root2", "outside"] {
        std::fs::create_dir(base.join(d)).unwrap();
        std::fs::write(base.join(d).join("secret"), SECRET).unwrap();
    }
    std::fs::write(p.root().join("inside"), b"inside").unwrap();
    p
}

fn no_secret(r: nacre_sftp::Result<Option<Vec<u8>>>) {
    if let Ok(Some(d)) = r {
        assert_ne!(d, SECRET, "read a file outside the root");
    }
}

async fn read_all(c: &nacre_sftp::SftpClient, path: &str) -> nacre_sftp::Result<Option<Vec<u8>>> {
    let h = c.open(path, OpenFlags::READ, &Attributes::EMPTY).await?;
    let r = c.read(&h, 0, 1000).await;
    c.close(&h).await?;
    r
}

#[tokio::test]
async fn dot_dot_and_absolute_paths_stay_inside() {
    let p = setup().await;
    let c = &p.client;
    let real = std::fs::canonicalize(p.root()).unwrap();
    for path in [
        "../root2/secret".to_owned(),
        "/../root2/secret".into(),
        "/../../../../../../outside/secret".into(),
        "../outside/secret".into(),
        format!("{}/../root2/secret", real.display()),
        format!("{}/secret", p.tmp.path().join("root2").display()),
        p.tmp.path().join("outside/secret").display().to_string(),
    ] {
        let r = read_all(c, &path).await;
        assert_eq!(
            r.as_ref().err().and_then(|e| e.status()),
            Some(StatusCode::NO_SUCH_FILE),
            "{path}: {r:?}"
        );
    }
    // `..` above the root is the root, as in a chroot.
    assert_eq!(c.realpath("/../..").await.unwrap(), b"/");
    assert_eq!(
        read_all(c, "/../../inside").await.unwrap().unwrap(),
        b"inside"
    );
    // Nothing was created outside either.
    let flags = OpenFlags::WRITE | OpenFlags::CREAT;
    let _ = c.open("../root2/new", flags, &Attributes::EMPTY).await;
    let _ = c.mkdir("../../outside/newdir", &Attributes::EMPTY).await;
    assert!(!p.tmp.path().join("root2/new").exists());
    assert!(!p.tmp.path().join("outside/newdir").exists());
}

#[tokio::test]
async fn symlinks_pointing_outside() {
    let p = setup().await;
    let c = &p.client;
    let base = p.tmp.path();
    let root = p.root();
    // Made by someone with shell access on the server:
    symlink(base.join("outside/secret"), root.join("abs-file")).unwrap();
    symlink(base.join("outside"), root.join("abs-dir")).unwrap();
    symlink("../root2/secret", root.join("rel-file")).unwrap();
    symlink("../outside", root.join("rel-dir")).unwrap();
    symlink(base.join("root2"), root.join("sibling")).unwrap();
    for path in [
        "/abs-file",
        "/abs-dir/secret",
        "/rel-file",
        "/rel-dir/secret",
        "/sibling/secret",
    ] {
        no_secret(read_all(c, path).await);
        if let Ok(a) = c.stat(path).await {
            panic!("{path} resolved outside: {a:?}");
        }
    }
    // Listing through a link to outside shows nothing from outside.
    assert!(c.list_dir("/abs-dir").await.is_err());
    assert!(c.list_dir("/rel-dir").await.is_err());
    // Writing through them changes nothing outside.
    let flags = OpenFlags::WRITE | OpenFlags::TRUNC | OpenFlags::CREAT;
    for path in ["/abs-file", "/rel-file", "/rel-dir/new", "/abs-dir/new"] {
        if let Ok(h) = c.open(path, flags, &Attributes::EMPTY).await {
            c.write(&h, 0, b"pwned").await.unwrap();
            c.close(&h).await.unwrap();
        }
    }
    let _ = c
        .setstat("/abs-file", &Attributes::EMPTY.with_permissions(0o777))
        .await;
    let _ = c.remove("/rel-dir/secret").await;
    assert_eq!(std::fs::read(base.join("outside/secret")).unwrap(), SECRET);
    assert_eq!(std::fs::read(base.join("root2/secret")).unwrap(), SECRET);
    assert!(!base.join("outside/new").exists());
    // A client-made link to outside is just as harmless.
    c.symlink("../../outside/secret", "/mine").await.unwrap();
    c.symlink(base.join("outside/secret").to_str().unwrap(), "/mine-abs")
        .await
        .unwrap();
    no_secret(read_all(c, "/mine").await);
    no_secret(read_all(c, "/mine-abs").await);
}

#[tokio::test]
async fn realpath_and_readlink_never_show_the_real_root() {
    let p = setup().await;
    let c = &p.client;
    let root = p.root();
    let real = std::fs::canonicalize(&root).unwrap();
    let real_text = real.to_str().unwrap().as_bytes().to_vec();
    std::fs::create_dir(root.join("dir")).unwrap();
    symlink(real.join("dir"), root.join("to-dir")).unwrap();
    symlink(real.join("inside"), root.join("dir/to-inside")).unwrap();
    symlink(&real, root.join("to-root")).unwrap();
    assert_eq!(c.readlink("/to-dir").await.unwrap(), b"/dir");
    assert_eq!(c.readlink("/dir/to-inside").await.unwrap(), b"/inside");
    assert_eq!(c.readlink("/to-root").await.unwrap(), b"/");
    assert_eq!(c.realpath("/to-dir/to-inside").await.unwrap(), b"/inside");
    assert_eq!(c.realpath("/to-root/to-root/dir").await.unwrap(), b"/dir");
    // Links under the real root work as the client sees them.
    assert_eq!(
        read_all(c, "/to-dir/to-inside").await.unwrap().unwrap(),
        b"inside"
    );
    for path in ["/", ".", "..", "/to-root", "/dir/..", "~", "/to-dir"] {
        let r = c.realpath(path).await.unwrap();
        assert!(
            !r.windows(real_text.len())
                .any(|w| w == real_text.as_slice()),
            "{path} -> {}",
            String::from_utf8_lossy(&r)
        );
    }
    let e = c.expand_path("~").await.unwrap();
    assert_eq!(e, b"/");
    // A sibling whose name extends the root's is not "under" it.
    let sibling = p.tmp.path().join("root2");
    symlink(sibling.join("secret"), root.join("to-root2")).unwrap();
    let target = c.readlink("/to-root2").await.unwrap();
    assert!(
        !target.starts_with(b"2/") && !target.starts_with(b"/2"),
        "{target:?}"
    );
    no_secret(read_all(c, "/to-root2").await);
}

#[tokio::test]
async fn link_swapped_during_a_transfer() {
    let p = setup().await;
    let c = p.client.clone();
    let root = p.root();
    let outside = p.tmp.path().join("outside");
    // `root/sw` is, in turn, a real folder holding "fine" and a link to the outside folder:
    // renamed into place atomically, so the path the server resolved may change under it.
    std::fs::create_dir(root.join("swdir")).unwrap();
    std::fs::write(root.join("swdir/secret"), b"fine").unwrap();
    symlink(&outside, root.join("swlink")).unwrap();
    std::fs::rename(root.join("swdir"), root.join("sw")).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let (stop, root) = (stop.clone(), root.clone());
        std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::fs::rename(root.join("sw"), root.join("swdir")).unwrap();
                std::fs::rename(root.join("swlink"), root.join("sw")).unwrap();
                std::fs::rename(root.join("sw"), root.join("swlink")).unwrap();
                std::fs::rename(root.join("swdir"), root.join("sw")).unwrap();
                swaps += 1;
            }
            swaps
        })
    };
    let mut fine = 0;
    for _ in 0..2000 {
        if let Ok(Some(d)) = read_all(&c, "/sw/secret").await {
            assert_ne!(d, SECRET, "a swapped link led outside");
            fine += 1;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    eprintln!("{fine} of 2000 opens read the inside file during {swaps} swaps");
    assert_eq!(
        std::fs::read(p.tmp.path().join("outside/secret")).unwrap(),
        SECRET
    );
}
