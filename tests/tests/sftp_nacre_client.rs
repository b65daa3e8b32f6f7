//! nacre's SFTP client against OpenSSH: its `sftp-server` over pipes and its sshd over SSH
//! (`Connection::sftp`). Every operation and extension, `File`, resume, a random tree
//! round-tripped recursively, and a 1 GiB get and put with matching SHA-256 each way. The 1 GiB
//! file is generated and hashed in one pass (never held in memory), and at most two copies are on
//! disk at any time (the big transfers run one at a time).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nacre::keys::PublicKey;
use nacre::transport::Config;
use nacre::{AuthResult, ClientConfig, Connection};
use nacre_sftp::codec::{OpenFlags, StatusCode};
use nacre_sftp::{Attributes, SftpClient};
use nacre_tests::{
    ensure_test_user, KeyType, OpenSshServer, SFTP_SERVER, TEST_PASSWORD, TEST_USER,
};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

const BIG: u64 = 1 << 30;

/// The big transfers run one at a time (`cargo test` runs tests on parallel threads; nextest runs this
/// package's tests one at a time anyway): each needs two 1 GiB files on disk at its peak.
static BIG_TRANSFER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn within<T>(secs: u64, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("timed out")
}

fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn hex(h: Sha256) -> String {
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_file(path: &Path) -> String {
    let mut h = Sha256::new();
    let mut f = std::fs::File::open(path).unwrap();
    std::io::copy(&mut f, &mut h).unwrap();
    hex(h)
}

/// Writes `len` bytes of a ChaCha8 stream seeded with `seed` to `path` in 1 MiB pieces, hashing each
/// piece as it is written; returns the SHA-256 of the file.
fn big_file(path: &Path, len: u64, seed: u64) -> String {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut f = std::fs::File::create(path).unwrap();
    let mut h = Sha256::new();
    let mut buf = vec![0; 1 << 20];
    let mut left = len;
    while left > 0 {
        let piece = &mut buf[..left.min(1 << 20) as usize];
        rng.fill_bytes(piece);
        h.update(&*piece);
        f.write_all(piece).unwrap();
        left -= piece.len() as u64;
    }
    hex(h)
}

/// nacre's client on OpenSSH's sftp-server over its stdin/stdout, working folder `cwd`.
async fn over_pipes(cwd: &Path) -> (SftpClient, tokio::process::Child) {
    let mut child = tokio::process::Command::new(SFTP_SERVER)
        .current_dir(cwd)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let (stdin, stdout) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
    let client = within(
        30,
        SftpClient::new(
            nacre_sftp::ReadChunks::new(stdout),
            nacre_sftp::WriteSink::new(stdin),
            nacre_sftp::ClientConfig::default(),
        ),
    )
    .await
    .unwrap();
    (client, child)
}

async fn login(sshd: &OpenSshServer) -> Connection {
    ensure_test_user();
    let trusted = PublicKey::from_openssh_line(&sshd.host_key_pub(KeyType::Ed25519))
        .unwrap()
        .0;
    let cfg = ClientConfig {
        transport: Arc::new(Config::client()),
        verify_host_key: Arc::new(move |k| *k == trusted),
    };
    let mut conn = Connection::connect(("127.0.0.1", sshd.port()), cfg)
        .await
        .unwrap();
    let r = conn
        .authenticate_password(TEST_USER, TEST_PASSWORD)
        .await
        .unwrap();
    assert_eq!(r, AuthResult::Success);
    conn
}

/// A fresh folder in the test user's home, owned by it (sshd's sftp-server runs as that user).
fn peer_folder() -> tempfile::TempDir {
    let user = ensure_test_user();
    let dir = tempfile::Builder::new()
        .prefix("nacre-sftp-")
        .tempdir_in(&user.home)
        .unwrap();
    std::os::unix::fs::chown(dir.path(), Some(user.uid), Some(user.gid)).unwrap();
    dir
}

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_owned()
}

/// Every request and extension against a server folder `base` (absolute, empty, writable),
/// with local files in `local`. `user` is the server-side user name.
async fn every_operation(c: &SftpClient, base: &Path, local: &Path, user: &str, home: &Path) {
    for ext in [
        "posix-rename@openssh.com",
        "statvfs@openssh.com",
        "hardlink@openssh.com",
        "fsync@openssh.com",
        "lsetstat@openssh.com",
        "limits@openssh.com",
        "expand-path@openssh.com",
        "copy-data",
        "home-directory",
        "users-groups-by-id@openssh.com",
    ] {
        assert!(c.extensions().iter().any(|(n, _)| n == ext), "{ext}");
    }
    let limits = c.limits().unwrap();
    assert!(limits.max_read_length >= 32768, "{limits:?}");
    assert!(c.read_len() > 32 * 1024, "read length {}", c.read_len());
    let b = s(base);
    let p = |rel: &str| format!("{b}/{rel}");
    assert_eq!(c.realpath(&b).await.unwrap(), b.as_bytes());
    c.mkdir(p("d"), &Attributes::EMPTY.with_permissions(0o755))
        .await
        .unwrap();
    assert!(c.stat(p("d")).await.unwrap().is_dir());
    let flags = OpenFlags::WRITE | OpenFlags::CREAT | OpenFlags::TRUNC;
    let h = c
        .open(p("d/f"), flags, &Attributes::EMPTY.with_permissions(0o600))
        .await
        .unwrap();
    c.write(&h, 0, b"hello ").await.unwrap();
    c.write(&h, 6, b"world").await.unwrap();
    assert_eq!(c.fstat(&h).await.unwrap().size, Some(11));
    c.fsync(&h).await.unwrap();
    assert!(c.fstatvfs(&h).await.unwrap().bsize > 0);
    c.fsetstat(&h, &Attributes::EMPTY.with_times(1_000_000, 2_000_000))
        .await
        .unwrap();
    c.close(&h).await.unwrap();
    assert_eq!(std::fs::read(base.join("d/f")).unwrap(), b"hello world");
    assert_eq!(
        std::fs::metadata(base.join("d/f")).unwrap().mtime(),
        2_000_000
    );
    let h = c
        .open(p("d/f"), OpenFlags::READ, &Attributes::EMPTY)
        .await
        .unwrap();
    assert_eq!(c.read(&h, 6, 1000).await.unwrap().unwrap(), b"world");
    assert_eq!(c.read(&h, 11, 1000).await.unwrap(), None);
    c.close(&h).await.unwrap();
    let a = c.stat(p("d/f")).await.unwrap();
    assert_eq!((a.size, a.mode_bits()), (Some(11), Some(0o600)));
    c.setstat(p("d/f"), &Attributes::EMPTY.with_permissions(0o640))
        .await
        .unwrap();
    assert_eq!(c.lstat(p("d/f")).await.unwrap().mode_bits(), Some(0o640));
    c.setstat(p("d/f"), &Attributes::EMPTY.with_size(5))
        .await
        .unwrap();
    assert_eq!(std::fs::read(base.join("d/f")).unwrap(), b"hello");
    c.symlink("f", p("d/link")).await.unwrap();
    assert_eq!(c.readlink(p("d/link")).await.unwrap(), b"f");
    assert!(c.lstat(p("d/link")).await.unwrap().is_symlink());
    c.lsetstat(p("d/link"), &Attributes::EMPTY.with_times(5, 6_000_000))
        .await
        .unwrap();
    assert_eq!(
        std::fs::symlink_metadata(base.join("d/link"))
            .unwrap()
            .mtime(),
        6_000_000
    );
    assert_eq!(
        c.realpath(p("d/../d/./link")).await.unwrap(),
        p("d/f").as_bytes()
    );
    c.hardlink(p("d/f"), p("d/hard")).await.unwrap();
    assert_eq!(std::fs::metadata(base.join("d/f")).unwrap().nlink(), 2);
    put_bytes(c, &p("d/other"), b"other").await;
    let e = c
        .rename_noreplace(p("d/other"), p("d/hard"))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(StatusCode::FAILURE));
    c.rename(p("d/other"), p("d/hard")).await.unwrap();
    assert_eq!(std::fs::read(base.join("d/hard")).unwrap(), b"other");
    c.copy_file(p("d/f"), p("d/copy")).await.unwrap();
    assert_eq!(std::fs::read(base.join("d/copy")).unwrap(), b"hello");
    assert!(c.statvfs(&b).await.unwrap().blocks > 0);
    assert_eq!(c.home_directory(user).await.unwrap(), s(home).as_bytes());
    assert!(c.expand_path("~").await.unwrap().starts_with(b"/"));
    let (users, groups) = c.users_groups_by_id(&[0], &[0]).await.unwrap();
    assert_eq!((users[0].as_str(), groups[0].as_str()), ("root", "root"));
    // Directory streaming over several READDIR replies.
    for i in 0..300 {
        put_bytes(c, &p(&format!("d/n{i:03}")), b"").await;
    }
    let mut dir = c.read_dir(p("d")).await.unwrap();
    let mut names = Vec::new();
    while let Some(e) = dir.next().await.unwrap() {
        names.push(e.name_lossy());
    }
    assert_eq!(names.iter().filter(|n| n.starts_with('n')).count(), 300);
    assert!(names.contains(&"link".to_owned()));
    for i in 0..300 {
        c.remove(p(&format!("d/n{i:03}"))).await.unwrap();
    }
    // File: AsyncWrite, AsyncSeek, AsyncRead.
    let content = data(1_500_000, 3);
    let mut f = c.create(p("d/file")).await.unwrap();
    f.write_all(&content).await.unwrap();
    f.shutdown().await.unwrap();
    let mut f = c.open_read(p("d/file")).await.unwrap();
    f.seek(std::io::SeekFrom::End(-100)).await.unwrap();
    let mut tail = Vec::new();
    f.read_to_end(&mut tail).await.unwrap();
    assert_eq!(tail, &content[content.len() - 100..]);
    f.seek(std::io::SeekFrom::Start(0)).await.unwrap();
    let mut all = Vec::new();
    f.read_to_end(&mut all).await.unwrap();
    assert_eq!(all, content);
    f.close().await.unwrap();
    // Transfers with resume.
    let lf = local.join("file");
    assert_eq!(
        c.download(p("d/file"), &lf).await.unwrap(),
        content.len() as u64
    );
    assert_eq!(std::fs::read(&lf).unwrap(), content);
    std::fs::write(&lf, &content[..700_001]).unwrap();
    c.reget(p("d/file"), &lf).await.unwrap();
    assert_eq!(std::fs::read(&lf).unwrap(), content);
    put_bytes(c, &p("d/partial"), &content[..123_457]).await;
    c.reput(&lf, p("d/partial")).await.unwrap();
    assert_eq!(std::fs::read(base.join("d/partial")).unwrap(), content);
    c.upload(&lf, p("d/up")).await.unwrap();
    assert_eq!(std::fs::read(base.join("d/up")).unwrap(), content);
    // Removal and errors.
    for name in ["f", "link", "hard", "copy", "file", "partial", "up"] {
        c.remove(p(&format!("d/{name}"))).await.unwrap();
    }
    assert_eq!(
        c.stat(p("d/f")).await.unwrap_err().status(),
        Some(StatusCode::NO_SUCH_FILE)
    );
    c.rmdir(p("d")).await.unwrap();
    assert!(!base.join("d").exists());
}

/// Creates a remote file through the client (so the server's user owns it).
async fn put_bytes(c: &SftpClient, path: &str, bytes: &[u8]) {
    let mut f = c.create(path).await.unwrap();
    f.write_all(bytes).await.unwrap();
    f.shutdown().await.unwrap();
}

/// The name and home of this process's user, from /etc/passwd.
fn me() -> (String, PathBuf) {
    let uid = std::fs::metadata("/proc/self").unwrap().uid().to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let line = passwd
        .lines()
        .find(|l| l.split(':').nth(2) == Some(uid.as_str()))
        .unwrap();
    let f: Vec<&str> = line.split(':').collect();
    (f[0].to_owned(), PathBuf::from(f[5]))
}

/// Random tree: nested folders, empty files, odd names; uploaded then downloaded.
async fn tree_round_trip(c: &SftpClient, remote: &str, local: &Path) {
    fn build(dir: &Path, seed: u64, depth: usize) {
        std::fs::create_dir_all(dir.join("empty folder")).unwrap();
        let r = data(32, seed);
        let odd = ["sp ace", "ünï", "-x", ".dot", "q'\"", "t\tb", "*?["];
        for i in 0..(r[0] % 5 + 2) as usize {
            let len = [0, 1, 65_536, 300_001][(r[i + 8] % 4) as usize];
            let name = format!("{}{i}", odd[r[i + 1] as usize % odd.len()]);
            std::fs::write(dir.join(name), data(len, seed + i as u64)).unwrap();
        }
        if depth > 0 {
            for j in 0..(r[20] % 3 + 1) as u64 {
                build(&dir.join(format!("d {j}")), seed * 5 + j, depth - 1);
            }
        }
    }
    fn listing(dir: &Path) -> Vec<(String, String)> {
        let mut out = Vec::new();
        fn go(base: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let e = e.unwrap();
                let rel = e.path().strip_prefix(base).unwrap().display().to_string();
                if e.file_type().unwrap().is_dir() {
                    out.push((rel, "dir".into()));
                    go(base, &e.path(), out);
                } else {
                    out.push((rel, sha256_file(&e.path())));
                }
            }
        }
        go(dir, dir, &mut out);
        out.sort();
        out
    }
    let src = local.join("src-tree");
    build(&src, 17, 3);
    let up = c.upload_dir(&src, remote).await.unwrap();
    let back = local.join("back-tree");
    let down = c.download_dir(remote, &back).await.unwrap();
    assert_eq!(
        (up.files, up.dirs, up.bytes),
        (down.files, down.dirs, down.bytes)
    );
    assert!(up.files >= 6, "{up:?}");
    assert_eq!(listing(&src), listing(&back));
}

/// 1 GiB down and up with matching SHA-256; prints the rates. The server's copy is generated, got,
/// and deleted; the local copy is put back and deleted: never more than two copies on disk.
async fn big_get_put(c: &SftpClient, remote_dir: &Path, local: &Path, label: &str) {
    let _one_at_a_time = BIG_TRANSFER.lock().await;
    let (src, got, up) = (
        remote_dir.join("big-src"),
        local.join("big-got"),
        remote_dir.join("big-up"),
    );
    let want = big_file(&src, BIG, 99);
    let t = Instant::now();
    assert_eq!(c.download(s(&src), &got).await.unwrap(), BIG);
    let down = t.elapsed();
    std::fs::remove_file(&src).unwrap();
    assert_eq!(sha256_file(&got), want, "the downloaded copy");
    let t = Instant::now();
    assert_eq!(c.upload(&got, s(&up)).await.unwrap(), BIG);
    let put = t.elapsed();
    std::fs::remove_file(&got).unwrap();
    assert_eq!(sha256_file(&up), want, "the uploaded copy");
    std::fs::remove_file(&up).unwrap();
    let mib = |d: Duration| BIG as f64 / 1048576.0 / d.as_secs_f64();
    eprintln!(
        "{label}: 1 GiB get {:.1} MiB/s, put {:.1} MiB/s",
        mib(down),
        mib(put)
    );
}

fn tmp_pair() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let base = std::fs::canonicalize(tmp.path()).unwrap();
    std::fs::create_dir(base.join("remote")).unwrap();
    std::fs::create_dir(base.join("local")).unwrap();
    (tmp, base.join("remote"), base.join("local"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_server_over_pipes_every_operation_and_tree() {
    let (_tmp, remote, local) = tmp_pair();
    let (c, _child) = over_pipes(&remote).await;
    // sftp-server runs as this process's user here.
    let (me, home) = me();
    within(120, every_operation(&c, &remote, &local, &me, &home)).await;
    within(120, tree_round_trip(&c, &s(&remote.join("tree")), &local)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_server_over_pipes_1_gib_get_and_put() {
    let (_tmp, remote, local) = tmp_pair();
    let (c, _child) = over_pipes(&remote).await;
    within(
        600,
        big_get_put(&c, &remote, &local, "sftp-server over pipes"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sshd_every_operation_and_tree() {
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let conn = login(&sshd).await;
    let c = within(30, conn.sftp()).await.unwrap();
    let folder = peer_folder();
    let local = tempfile::tempdir().unwrap();
    let user = ensure_test_user();
    within(
        180,
        every_operation(&c, folder.path(), local.path(), TEST_USER, &user.home),
    )
    .await;
    within(
        180,
        tree_round_trip(&c, &s(&folder.path().join("tree")), local.path()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sshd_1_gib_get_and_put() {
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let conn = login(&sshd).await;
    let c = within(30, conn.sftp()).await.unwrap();
    let folder = peer_folder();
    let local = tempfile::tempdir().unwrap();
    within(
        900,
        big_get_put(&c, folder.path(), local.path(), "sshd over SSH"),
    )
    .await;
}
