//! Pipelined transfers in memory: whole files with SHA-256 checks, resume both ways, a random
//! tree round-tripped recursively, small request sizes (many replies out of order).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::future::Future;
use std::path::Path;

use common::{data, pair, pair_with, sha256_file};
use nacre_sftp::{ClientConfig, ServerConfig};

#[tokio::test]
async fn download_and_upload_with_sha256() {
    let p = pair().await;
    let content = data(20 * 1024 * 1024 + 12345, 1);
    std::fs::write(p.root().join("src.bin"), &content).unwrap();
    let local = p.local().join("got.bin");
    let n = p.client.download("/src.bin", &local).await.unwrap();
    assert_eq!(n, content.len() as u64);
    assert_eq!(sha256_file(&local), sha256_file(&p.root().join("src.bin")));
    let n = p.client.upload(&local, "/up.bin").await.unwrap();
    assert_eq!(n, content.len() as u64);
    assert_eq!(sha256_file(&p.root().join("up.bin")), sha256_file(&local));
    // Empty files.
    std::fs::write(p.root().join("empty"), b"").unwrap();
    assert_eq!(
        p.client
            .download("/empty", p.local().join("e"))
            .await
            .unwrap(),
        0
    );
    assert_eq!(std::fs::read(p.local().join("e")).unwrap(), b"");
    assert_eq!(
        p.client.upload(p.local().join("e"), "/e2").await.unwrap(),
        0
    );
    assert!(p.root().join("e2").exists());
}

/// Downloads into tmpfs (written at once on the task) and onto the disk (`RWF_NOWAIT` or the
/// blocking pool) and uploads from each, with a resume each way: the bytes arrive unchanged.
#[tokio::test]
async fn transfers_with_memory_and_disk_file_systems() {
    let p = pair().await;
    let content = data(5 * 1024 * 1024 + 777, 4);
    std::fs::write(p.root().join("src.bin"), &content).unwrap();
    let shm = tempfile::tempdir_in("/dev/shm").unwrap();
    for dir in [shm.path().to_path_buf(), p.local().to_path_buf()] {
        let local = dir.join("got.bin");
        p.client.download("/src.bin", &local).await.unwrap();
        assert_eq!(std::fs::read(&local).unwrap(), content);
        std::fs::write(&local, &content[..1_000_003]).unwrap();
        let n = p.client.reget("/src.bin", &local).await.unwrap();
        assert_eq!(n, (content.len() - 1_000_003) as u64);
        assert_eq!(std::fs::read(&local).unwrap(), content);
        // And back: read from this file system straight into the WRITE frames.
        let n = p.client.upload(&local, "/up.bin").await.unwrap();
        assert_eq!(n, content.len() as u64);
        assert_eq!(std::fs::read(p.root().join("up.bin")).unwrap(), content);
        std::fs::write(p.root().join("up.bin"), &content[..777]).unwrap();
        let n = p.client.reput(&local, "/up.bin").await.unwrap();
        assert_eq!(n, (content.len() - 777) as u64);
        assert_eq!(std::fs::read(p.root().join("up.bin")).unwrap(), content);
    }
}

#[tokio::test]
async fn small_requests_reassembled_in_order() {
    // 1000-byte requests, 64 in flight: replies are written out of order by the server's
    // concurrent READs and must be put back in order.
    let client = ClientConfig {
        max_request_len: 1000,
        initial_in_flight: 64,
        ..ClientConfig::default()
    };
    let p = pair_with(ServerConfig::default(), client).await;
    let content = data(3 * 1024 * 1024 + 1, 2);
    std::fs::write(p.root().join("f"), &content).unwrap();
    p.client.download("/f", p.local().join("f")).await.unwrap();
    assert_eq!(std::fs::read(p.local().join("f")).unwrap(), content);
    p.client.upload(p.local().join("f"), "/g").await.unwrap();
    assert_eq!(std::fs::read(p.root().join("g")).unwrap(), content);
}

#[tokio::test]
async fn resume_both_ways() {
    let p = pair().await;
    let content = data(5 * 1024 * 1024 + 99, 3);
    std::fs::write(p.root().join("f"), &content).unwrap();
    // reget: the local file holds the first 2 MiB + 7.
    std::fs::write(p.local().join("f"), &content[..2 * 1024 * 1024 + 7]).unwrap();
    let n = p.client.reget("/f", p.local().join("f")).await.unwrap();
    assert_eq!(n, (content.len() - (2 * 1024 * 1024 + 7)) as u64);
    assert_eq!(std::fs::read(p.local().join("f")).unwrap(), content);
    // reget of a complete file transfers nothing.
    assert_eq!(p.client.reget("/f", p.local().join("f")).await.unwrap(), 0);
    // reput: the remote file holds the first 1 MiB.
    std::fs::write(p.root().join("g"), &content[..1024 * 1024]).unwrap();
    let n = p.client.reput(p.local().join("f"), "/g").await.unwrap();
    assert_eq!(n, (content.len() - 1024 * 1024) as u64);
    assert_eq!(std::fs::read(p.root().join("g")).unwrap(), content);
    // A local file longer than the remote one cannot be resumed.
    std::fs::write(p.local().join("long"), &content).unwrap();
    std::fs::write(p.root().join("short"), b"abc").unwrap();
    assert!(p
        .client
        .reget("/short", p.local().join("long"))
        .await
        .is_err());
}

/// Builds a random tree: nested folders, empty files, odd names.
fn random_tree(dir: &Path, seed: u64, depth: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let r = data(64, seed);
    let odd = [
        "with space",
        "ünïcödé",
        "-dash",
        ".hidden",
        "semi;colon",
        "quote'\"",
        "tab\tname",
        "star*?",
    ];
    for i in 0..(r[0] % 6 + 2) as usize {
        let name = format!("{}-{i}", odd[(r[i + 1] as usize) % odd.len()]);
        let len = match r[i + 10] % 4 {
            0 => 0,
            1 => r[i + 20] as usize,
            2 => 70_000 + r[i + 20] as usize * 13,
            _ => 300_000,
        };
        std::fs::write(dir.join(name), data(len, seed + i as u64)).unwrap();
    }
    if depth > 0 {
        for j in 0..(r[40] % 3 + 1) as u64 {
            random_tree(&dir.join(format!("sub dir {j}")), seed * 7 + j, depth - 1);
        }
    }
    std::fs::create_dir_all(dir.join("empty dir")).unwrap();
}

/// (relative path, kind, content hash) of every entry, sorted.
fn listing(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let rel = e.path().strip_prefix(base).unwrap().display().to_string();
            if e.file_type().unwrap().is_dir() {
                out.push((rel, "dir".into()));
                walk(base, &e.path(), out);
            } else {
                out.push((rel, sha256_file(&e.path())));
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[tokio::test]
async fn random_tree_round_trip() {
    let p = pair().await;
    let src = p.local().join("tree");
    random_tree(&src, 11, 3);
    let up = p.client.upload_dir(&src, "/tree").await.unwrap();
    assert!(up.files > 5, "{up:?}");
    assert_eq!(listing(&src), listing(&p.root().join("tree")));
    let back = p.local().join("back");
    let down = p.client.download_dir("/tree", &back).await.unwrap();
    assert_eq!(down.files, up.files);
    assert_eq!(down.dirs, up.dirs);
    assert_eq!(down.bytes, up.bytes);
    assert_eq!(listing(&src), listing(&back));
    // Uploading again into the existing tree works (folders already there).
    p.client.upload_dir(&src, "/tree").await.unwrap();
}

#[tokio::test]
async fn a_local_write_error_fails_the_download_and_the_session_goes_on() {
    let p = pair().await;
    let content = data(4 * 1024 * 1024, 7);
    std::fs::write(p.root().join("f.bin"), &content).unwrap();
    // /dev/full opens, and every write to it fails with ENOSPC.
    let err = p.client.download("/f.bin", "/dev/full").await.unwrap_err();
    assert!(err.to_string().contains("No space left"), "{err}");
    let local = p.local().join("f.bin");
    assert_eq!(
        p.client.download("/f.bin", &local).await.unwrap(),
        content.len() as u64
    );
    assert_eq!(std::fs::read(&local).unwrap(), content);
}

/// A download into a FIFO and an upload from one: files that are not regular are written and read
/// in sequence (no positional I/O).
#[tokio::test]
async fn transfers_through_fifos() {
    let p = pair().await;
    let content = data(3 * 1024 * 1024 + 5, 6);
    std::fs::write(p.root().join("src.bin"), &content).unwrap();
    let fifo = p.local().join("fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    p.client
        .download("/src.bin", &fifo)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reader.join().unwrap(), content);
    let writer = {
        let (fifo, content) = (fifo.clone(), content.clone());
        std::thread::spawn(move || std::fs::write(fifo, content).unwrap())
    };
    let n = p.client.upload(&fifo, "/from-fifo.bin").await.unwrap();
    writer.join().unwrap();
    assert_eq!(n, content.len() as u64);
    assert_eq!(
        std::fs::read(p.root().join("from-fifo.bin")).unwrap(),
        content
    );
}

/// Waits (at most 10 s) until `budget` counts `n` handles in use.
async fn handles_become(budget: &nacre_sftp::HandleBudget, n: usize) -> bool {
    for _ in 0..1000 {
        if budget.in_use() == n {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    false
}

/// Polls `transfer` until `started` says it is under way, then drops it; panics if it ends
/// first.
async fn drop_mid_way<F: std::future::Future<Output = nacre_sftp::Result<u64>>>(
    transfer: F,
    started: impl Fn() -> bool,
) {
    tokio::pin!(transfer);
    let wait = async {
        while !started() {
            tokio::select! {
                r = &mut transfer => panic!("the transfer ended before it was dropped: {r:?}"),
                () = tokio::time::sleep(std::time::Duration::from_millis(1)) => {}
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), wait)
        .await
        .expect("the transfer did not start");
}

/// A download or an upload dropped mid-way (Ctrl-C in `nacre sftp`) closes its remote handle
/// at once, not at the end of the session; so does an OPEN given up before its answer. The
/// session goes on.
#[tokio::test]
async fn a_dropped_transfer_closes_its_remote_handle() {
    let budget = nacre_sftp::HandleBudget::new(64);
    let server = ServerConfig {
        handle_budgets: vec![budget.clone()],
        ..ServerConfig::default()
    };
    let client = ClientConfig {
        max_request_len: 4096,
        max_in_flight: 2,
        ..ClientConfig::default()
    };
    let p = pair_with(server, client).await;
    let content = data(8 * 1024 * 1024, 7);
    std::fs::write(p.root().join("big.bin"), &content).unwrap();
    let local = p.local().join("big.bin");
    let size = |path: &Path| std::fs::metadata(path).map_or(0, |m| m.len());
    drop_mid_way(p.client.download("/big.bin", &local), || size(&local) > 0).await;
    assert!(size(&local) < content.len() as u64);
    assert!(
        handles_become(&budget, 0).await,
        "download: {}",
        budget.in_use()
    );
    let source = p.local().join("source.bin");
    std::fs::write(&source, &content).unwrap();
    let remote = p.root().join("up.bin");
    drop_mid_way(p.client.upload(&source, "/up.bin"), || size(&remote) > 0).await;
    assert!(size(&remote) < content.len() as u64);
    assert!(
        handles_become(&budget, 0).await,
        "upload: {}",
        budget.in_use()
    );
    // Given up right after the OPEN went out (one poll): the handle that comes back is closed.
    for _ in 0..20 {
        let mut once = Box::pin(p.client.download("/big.bin", p.local().join("x")));
        let polled = std::future::poll_fn(|cx| std::task::Poll::Ready(once.as_mut().poll(cx)));
        assert!(polled.await.is_pending());
    }
    p.client.stat("/big.bin").await.unwrap();
    assert!(
        handles_become(&budget, 0).await,
        "open: {}",
        budget.in_use()
    );
    // The session goes on.
    let n = p.client.download("/big.bin", &local).await.unwrap();
    assert_eq!(n, content.len() as u64);
    assert_eq!(sha256_file(&local), sha256_file(&p.root().join("big.bin")));
    assert_eq!(budget.in_use(), 0);
}

/// Samples `budget` every millisecond while `work` runs: the most handles it saw in use.
async fn most_handles<T>(
    budget: &nacre_sftp::HandleBudget,
    work: impl Future<Output = T>,
) -> (T, usize) {
    let mut most = 0;
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => return (out, most.max(budget.in_use())),
            () = tokio::time::sleep(std::time::Duration::from_millis(1)) => {
                most = most.max(budget.in_use());
            }
        }
    }
}

/// Over a link with 20 ms each way, a tree of many small files goes both ways with several
/// files in flight at once (OpenSSH's sftp has one), never more than the client allows, every
/// byte in place.
#[tokio::test]
async fn many_files_move_several_at_once_over_a_slow_link() {
    let budget = nacre_sftp::HandleBudget::new(256);
    let server = ServerConfig {
        handle_budgets: vec![budget.clone()],
        ..ServerConfig::default()
    };
    let client = ClientConfig {
        max_files_in_flight: 12,
        ..ClientConfig::default()
    };
    let one_way = std::time::Duration::from_millis(20);
    let p = common::pair_delayed(server, client, one_way).await;
    let src = p.local().join("tree");
    for d in 0..4 {
        let dir = src.join(format!("d{d}")).join("inner");
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..40 {
            let file = if f % 2 == 0 {
                dir.join(format!("f{f}"))
            } else {
                src.join(format!("d{d}/f{f}"))
            };
            std::fs::write(file, data(2000 + f * 37, (d * 100 + f) as u64)).unwrap();
        }
    }
    let (up, most_up) = most_handles(&budget, p.client.upload_dir(&src, "/tree")).await;
    let up = up.unwrap();
    assert_eq!((up.files, up.dirs), (160, 9));
    assert_eq!(listing(&src), listing(&p.root().join("tree")));
    let back = p.local().join("back");
    let (down, most_down) = most_handles(&budget, p.client.download_dir("/tree", &back)).await;
    let down = down.unwrap();
    assert_eq!(
        (down.files, down.dirs, down.bytes),
        (up.files, up.dirs, up.bytes)
    );
    assert_eq!(listing(&src), listing(&back));
    for most in [most_up, most_down] {
        assert!(
            (6..=12).contains(&most),
            "handles in use at once: {most_up} up, {most_down} down"
        );
    }
}

/// A file striped over four sessions of the same server arrives whole (SHA-256), whatever its
/// length against the block; the upload truncates what the file held; every handle is closed
/// after; without lanes it is a plain upload.
#[tokio::test]
async fn a_striped_upload_over_four_sessions_arrives_whole() {
    let budget = nacre_sftp::HandleBudget::new(64);
    let server = ServerConfig {
        handle_budgets: vec![budget.clone()],
        ..ServerConfig::default()
    };
    let p = pair_with(server.clone(), ClientConfig::default()).await;
    let mut lanes = Vec::new();
    for _ in 0..3 {
        lanes.push(
            p.another_session(server.clone(), ClientConfig::default())
                .await,
        );
    }
    let block = nacre_sftp::STRIPE_BLOCK as usize;
    for (len, seed) in [(9 * block + 12_345, 7), (block, 8), (block / 3, 9), (0, 10)] {
        let content = data(len, seed);
        let local = p.local().join("big.bin");
        std::fs::write(&local, &content).unwrap();
        // What the remote file held before is cut off.
        std::fs::write(p.root().join("big.bin"), data(len + 5000, 1)).unwrap();
        let n = p
            .client
            .upload_striped(&lanes, &local, "/big.bin")
            .await
            .unwrap();
        assert_eq!(n, len as u64);
        assert_eq!(
            sha256_file(&p.root().join("big.bin")),
            sha256_file(&local),
            "{len} bytes"
        );
        assert_eq!(budget.in_use(), 0, "{len} bytes");
    }
    // No lanes: one session.
    let local = p.local().join("small.bin");
    std::fs::write(&local, data(100_000, 3)).unwrap();
    let n = p
        .client
        .upload_striped(&[], &local, "/small.bin")
        .await
        .unwrap();
    assert_eq!(n, 100_000);
    assert_eq!(
        std::fs::read(p.root().join("small.bin")).unwrap(),
        std::fs::read(&local).unwrap()
    );
}

/// A lane that cannot open the file (it serves another, read-only folder, as a server that
/// locks open files would refuse) leaves the upload to the first session: the file arrives
/// whole and every handle is closed.
#[tokio::test]
async fn a_lane_that_cannot_open_the_file_leaves_the_upload_to_one_session() {
    let budget = nacre_sftp::HandleBudget::new(64);
    let server = ServerConfig {
        handle_budgets: vec![budget.clone()],
        ..ServerConfig::default()
    };
    let p = pair_with(server.clone(), ClientConfig::default()).await;
    let good = p.another_session(server, ClientConfig::default()).await;
    let read_only = ServerConfig {
        read_only: true,
        ..ServerConfig::default()
    };
    let elsewhere = pair_with(read_only, ClientConfig::default()).await;
    let content = data(3 * nacre_sftp::STRIPE_BLOCK as usize + 99, 5);
    let local = p.local().join("big.bin");
    std::fs::write(&local, &content).unwrap();
    let lanes = [good, elsewhere.client.clone()];
    let n = p
        .client
        .upload_striped(&lanes, &local, "/big.bin")
        .await
        .unwrap();
    assert_eq!(n, content.len() as u64);
    assert_eq!(std::fs::read(p.root().join("big.bin")).unwrap(), content);
    assert!(handles_become(&budget, 0).await, "{}", budget.in_use());
}
