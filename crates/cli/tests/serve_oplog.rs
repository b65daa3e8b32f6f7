//! Issue 16: `nacre serve -v` logs every SFTP file operation as OpenSSH's `sftp-server -l INFO`
//! does (open with flags, close with the bytes read and written, opendir/closedir, remove,
//! rename, mkdir, rmdir, set), naming the user; failures say why; without `-v` none of it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::Path;
use std::time::Duration;

use nacre_tests::{free_port, ChildGuard};

const PASSWORD: &str = "oplog-pass";

fn serve(dir: &Path, verbose: bool, log: &Path) -> (ChildGuard, u16) {
    std::fs::write(dir.join("pw"), format!("{PASSWORD}\n")).unwrap();
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    let port = free_port();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nacre"));
    if verbose {
        cmd.arg("-v");
    }
    cmd.args([
        "serve",
        "-p",
        &port.to_string(),
        "--user",
        "peer",
        "--run-as",
        "root",
    ])
    .arg("--password-file")
    .arg(dir.join("pw"))
    .arg("--state-dir")
    .arg(dir.join("state"))
    .arg("--root")
    .arg(&root)
    .env_remove("NACRE_LOG")
    .stdout(std::process::Stdio::null())
    .stderr(std::fs::File::create(log).unwrap());
    let guard = ChildGuard::spawn("nacre serve", &mut cmd);
    nacre_tests::wait_listening(port, "nacre serve");
    (guard, port)
}

/// Uploads, renames, lists, downloads and removes, and fails one removal.
async fn session(port: u16, dir: &Path) {
    let mut conn =
        nacre::Connection::connect(("127.0.0.1", port), nacre_tests::security::client_config())
            .await
            .unwrap();
    let r = conn.authenticate_password("peer", PASSWORD).await.unwrap();
    assert_eq!(r, nacre::AuthResult::Success);
    let sftp = conn.sftp().await.unwrap();
    let local = dir.join("up.bin");
    std::fs::write(&local, vec![7u8; 100_000]).unwrap();
    assert_eq!(sftp.upload(&local, "/up.bin").await.unwrap(), 100_000);
    sftp.mkdir("/d", &nacre_sftp::Attributes::default())
        .await
        .unwrap();
    sftp.rename("/up.bin", "/d/moved.bin").await.unwrap();
    let _ = sftp.list_dir("/d").await.unwrap();
    let back = dir.join("down.bin");
    assert_eq!(sftp.download("/d/moved.bin", &back).await.unwrap(), 100_000);
    sftp.remove("/d/moved.bin").await.unwrap();
    assert!(sftp.remove("/no-such-file").await.is_err());
    sftp.rmdir("/d").await.unwrap();
    drop(sftp);
    conn.disconnect(nacre::wire::DisconnectReason::BY_APPLICATION, "bye")
        .await;
}

/// The log, once `want` shows up in it (the server writes as it goes).
async fn log_with(log: &Path, want: &str) -> String {
    let mut text = String::new();
    for _ in 0..100 {
        text = std::fs::read_to_string(log).unwrap();
        if text.contains(want) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_v_logs_every_sftp_operation_as_sftp_server_does() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let (_server, port) = serve(dir.path(), true, &log);
    session(port, dir.path()).await;
    let text = log_with(&log, "session closed").await;
    let user = "\"peer\": ";
    for want in [
        "session opened for \"peer\"",
        "open \"/up.bin\" flags WRITE,CREATE,TRUNCATE",
        "close \"/up.bin\" bytes read 0 written 100000",
        "mkdir name \"/d\"",
        "posix-rename old \"/up.bin\" new \"/d/moved.bin\"",
        "opendir \"/d\"",
        "closedir \"/d\"",
        "open \"/d/moved.bin\" flags READ",
        "close \"/d/moved.bin\" bytes read 100000 written 0",
        "remove name \"/d/moved.bin\"",
        "remove name \"/no-such-file\": failed, ",
        "rmdir name \"/d\"",
        "session closed for \"peer\"",
    ] {
        let line = text.lines().find(|l| l.contains(want));
        assert!(line.is_some(), "{want:?} missing in\n{text}");
        if !want.starts_with("session") {
            assert!(
                line.unwrap().contains(&format!("{user}{want}")),
                "{want:?} without the user in\n{text}"
            );
        }
    }
    // In the order the client asked.
    let at = |s: &str| text.find(s).unwrap();
    assert!(at("open \"/up.bin\"") < at("close \"/up.bin\""));
    assert!(at("close \"/up.bin\"") < at("posix-rename"));
    assert!(at("posix-rename") < at("remove name \"/d/moved.bin\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_v_serve_logs_no_file_operations() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let (_server, port) = serve(dir.path(), false, &log);
    session(port, dir.path()).await;
    let text = log_with(&log, "connection closed").await;
    assert!(text.contains("authenticated"), "{text}");
    for quiet in ["open \"/", "close \"/", "remove name", "session opened"] {
        assert!(
            !text.contains(quiet),
            "{quiet:?} logged without -v:\n{text}"
        );
    }
}
