//! SFTP faults against an in-process `nacre::Server` on 127.0.0.1 (issue 9, item 4): the file
//! system filling up during an upload. The SFTP root is a 4 MiB tmpfs mounted for the test (the
//! tests run as root) and unmounted by a guard, even on a panic.
//!
//! nacre's client and OpenSSH's `sftp` both upload a file larger than the free space: the upload
//! fails with SSH_FX_FAILURE and the message "No space left on device" (ENOSPC; EDQUOT and EFBIG
//! say so too, crates/sftp/src/status.rs), the session keeps working (the partial file is
//! removed and a small upload then succeeds and reads back intact on the same session), and the
//! files that were there before are untouched (same SHA-256, same modification time).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use nacre::wire::DisconnectReason;
use nacre::ServerLimits;
use nacre_sftp::codec::StatusCode;
use nacre_tests::security::{is_root, login_user, sha256, test_data, TestServer, PASSWORD};
use nacre_tests::{run_with_input, run_with_timeout};

/// A tmpfs of `size` mounted on a fresh folder; unmounted (lazily if busy) when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        assert!(
            is_root(),
            "mounting a tmpfs needs root: run the tests as root"
        );
        let dir = tempfile::Builder::new()
            .prefix("nacre-full-disk-")
            .tempdir()
            .unwrap();
        let out = run_with_timeout(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o"])
                .arg(format!("size={size},mode=0755"))
                .arg("tmpfs")
                .arg(dir.path()),
            Duration::from_secs(30),
        );
        assert!(out.success(), "mount tmpfs: {out}");
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let umount = |args: &[&str]| {
            Command::new("umount")
                .args(args)
                .arg(self.dir.path())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !umount(&[]) {
            umount(&["-l"]);
        }
    }
}

/// SHA-256 and modification time of every file in `dir`, by name.
fn snapshot(dir: &Path, names: &[&str]) -> Vec<(String, Vec<u8>, i64, i64)> {
    names
        .iter()
        .map(|n| {
            let p = dir.join(n);
            let m = std::fs::metadata(&p).unwrap();
            let digest = sha256(&std::fs::read(&p).unwrap());
            ((*n).to_owned(), digest, m.mtime(), m.mtime_nsec())
        })
        .collect()
}

/// The files that are on the disk before the uploads: 1 MiB at the top, 512 KiB in a folder.
const KEPT: [&str; 2] = ["kept.bin", "folder/nested.bin"];

fn fill(root: &Path) {
    std::fs::create_dir(root.join("folder")).unwrap();
    std::fs::write(root.join(KEPT[0]), test_data(1, 1 << 20)).unwrap();
    std::fs::write(root.join(KEPT[1]), test_data(2, 512 << 10)).unwrap();
}

async fn sftp_server(root: PathBuf) -> TestServer {
    let limits = ServerLimits {
        login_grace_time: Some(Duration::from_secs(60)),
        ..ServerLimits::default()
    };
    TestServer::start_with(
        limits,
        |_| {},
        move |s| {
            s.subsystems.insert(
                "sftp".into(),
                nacre::sftp_subsystem(root, nacre_sftp::ServerConfig::default()),
            );
        },
    )
    .await
}

/// nacre's client uploads 8 MiB to a disk with about 2.5 MiB free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_full_disk_during_an_upload_gives_a_clear_sftp_error() {
    let disk = Tmpfs::mount("4m");
    fill(disk.path());
    let before = snapshot(disk.path(), &KEPT);
    let server = sftp_server(disk.path().to_path_buf()).await;
    let local = tempfile::tempdir().unwrap();
    let (big, small) = (local.path().join("big"), local.path().join("small"));
    std::fs::write(&big, test_data(3, 8 << 20)).unwrap();
    let small_data = test_data(4, 256 << 10);
    std::fs::write(&small, &small_data).unwrap();

    let conn = server.connect().await;
    let sftp = conn.sftp().await.unwrap();
    let err = tokio::time::timeout(Duration::from_secs(60), sftp.upload(&big, "/big.bin"))
        .await
        .expect("the upload hung on a full disk")
        .expect_err("8 MiB fit on a 4 MiB disk");
    assert_eq!(err.status(), Some(StatusCode::FAILURE), "{err}");
    assert!(err.to_string().contains("No space left on device"), "{err}");

    // The same session goes on: the partial file is there, is removed, and a small upload fits.
    let partial = sftp.stat("/big.bin").await.unwrap().size.unwrap();
    assert!(partial < 8 << 20, "{partial}");
    sftp.remove("/big.bin").await.unwrap();
    assert_eq!(sftp.upload(&small, "/small.bin").await.unwrap(), 256 << 10);
    let back = local.path().join("back");
    sftp.download("/small.bin", &back).await.unwrap();
    assert_eq!(sha256(&std::fs::read(&back).unwrap()), sha256(&small_data));
    assert_eq!(snapshot(disk.path(), &KEPT), before, "a kept file changed");
    let mut names: Vec<String> = sftp
        .list_dir("/")
        .await
        .unwrap()
        .into_iter()
        .map(|e| String::from_utf8_lossy(&e.name).into_owned())
        .filter(|n| n != "." && n != "..")
        .collect();
    names.sort();
    assert_eq!(names, ["folder", "kept.bin", "small.bin"]);
    conn.disconnect(DisconnectReason::BY_APPLICATION, "done")
        .await;
}

/// OpenSSH's `sftp` uploads 8 MiB to the same kind of disk, then (same session: `-put` does not
/// end a batch) removes the partial file and uploads a small one. OpenSSH's client prints its own
/// text for the status code ("Failure"), not the server's message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_full_disk_during_an_openssh_sftp_upload_leaves_the_session_working() {
    let disk = Tmpfs::mount("4m");
    fill(disk.path());
    let before = snapshot(disk.path(), &KEPT);
    let server = sftp_server(disk.path().to_path_buf()).await;
    let local = tempfile::tempdir().unwrap();
    let (big, small) = (local.path().join("big"), local.path().join("small"));
    std::fs::write(&big, test_data(5, 8 << 20)).unwrap();
    let small_data = test_data(6, 256 << 10);
    std::fs::write(&small, &small_data).unwrap();
    let batch = format!(
        "-put {} /big.bin\nrm /big.bin\nput {} /small.bin\n",
        big.display(),
        small.display()
    );
    let port = server.addr.port();
    let out = tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new("sshpass");
        cmd.args(["-p", PASSWORD, "sftp", "-F", "/dev/null"])
            .args(["-o", "StrictHostKeyChecking=no"])
            .args(["-o", "UserKnownHostsFile=/dev/null"])
            .args(["-o", "BatchMode=no", "-o", "PubkeyAuthentication=no"])
            .args(["-P", &port.to_string(), "-b", "-"])
            .arg(format!("{}@127.0.0.1", login_user()));
        run_with_input(&mut cmd, Some(batch.as_bytes()), Duration::from_secs(120))
    })
    .await
    .unwrap();
    assert!(out.success(), "the batch after the failed put: {out}");
    assert!(
        out.stderr.contains("write remote \"/big.bin\": Failure"),
        "{out}"
    );
    assert!(!disk.path().join("big.bin").exists());
    let stored = std::fs::read(disk.path().join("small.bin")).unwrap();
    assert_eq!(sha256(&stored), sha256(&small_data));
    assert_eq!(snapshot(disk.path(), &KEPT), before, "a kept file changed");
}
