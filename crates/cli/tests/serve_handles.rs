//! `nacre serve` raises and divides its descriptors (issue 18): one connection holds 1 000 SFTP
//! handles while another client logs in, lists and reads; at a hard limit of 1 024 (the common
//! default, where 1 000 handles would exhaust the process) the connection gets SSH_FX_FAILURE
//! ("too many open handles") at its budget, others still read, and a second connection of the
//! same user gets its own budget within the user's.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use nacre::HandleLimits;
use nacre_tests::{ensure_test_user, free_port, ChildGuard};

const PASSWORD: &str = "handles-pass";

async fn login(port: u16) -> nacre::Connection {
    let user = ensure_test_user();
    nacre_tests::security::login_with_password(port, &user.name, PASSWORD).await
}

/// Opens files until the server refuses (at most `want`), 100 per SFTP session of `conn` over up
/// to 10 sessions; returns the open files (kept open), the sessions and the refusal's text.
async fn hoard(
    conn: &nacre::Connection,
    want: usize,
) -> (Vec<nacre_sftp::File>, Vec<nacre_sftp::SftpClient>, String) {
    let mut files = Vec::new();
    let mut sessions = Vec::new();
    for _ in 0..10 {
        let sftp = conn.sftp().await.unwrap();
        for _ in 0..100 {
            if files.len() >= want {
                return (files, sessions, String::new());
            }
            match sftp.open_read("/f").await {
                Ok(f) => files.push(f),
                Err(e) => {
                    sessions.push(sftp);
                    return (files, sessions, e.to_string());
                }
            }
        }
        sessions.push(sftp);
    }
    (files, sessions, String::new())
}

/// A served folder of the test user's with one file; `nacre serve` under `prlimit --nofile=LIMITS`.
struct Served {
    tmp: tempfile::TempDir,
    content: Vec<u8>,
    port: u16,
    _server: ChildGuard,
}

fn serve(limits: &str) -> Served {
    let user = ensure_test_user();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let root = tmp.path().join("share");
    std::fs::create_dir(&root).unwrap();
    std::os::unix::fs::chown(&root, Some(user.uid), Some(user.gid)).unwrap();
    let content: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(root.join("f"), &content).unwrap();
    std::fs::write(tmp.path().join("pw"), format!("{PASSWORD}\n")).unwrap();
    let port = free_port();
    let mut cmd = std::process::Command::new("prlimit");
    cmd.arg(format!("--nofile={limits}"))
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_nacre"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--user",
            &user.name,
        ])
        .arg("--password-file")
        .arg(tmp.path().join("pw"))
        .arg("--state-dir")
        .arg(tmp.path().join("state"))
        .arg("--root")
        .arg(&root);
    let server = ChildGuard::spawn(format!("nacre serve (descriptors {limits})"), &mut cmd);
    nacre_tests::wait_listening(port, "nacre serve");
    Served {
        tmp,
        content,
        port,
        _server: server,
    }
}

/// Another client logs in, lists and reads the whole file.
async fn another_client_reads(s: &Served) -> nacre::Connection {
    let other = login(s.port).await;
    let sftp = other.sftp().await.unwrap();
    let names: Vec<_> = sftp.list_dir("/").await.unwrap();
    assert!(names.iter().any(|e| e.name == b"f"));
    let back = s.tmp.path().join("back");
    sftp.download("/f", &back).await.unwrap();
    assert_eq!(std::fs::read(&back).unwrap(), s.content);
    other
}

/// With a soft limit of 1 024 below a hard one of 8 192, serve raises its limit and one
/// connection holds 1 000 handles (10 sessions of 100) while another client logs in and reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_holds_1000_handles_and_another_client_still_reads() {
    let s = serve("1024:8192");
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", s._server.pid())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    assert!(line.contains("8192                 8192"), "{line}");
    let hoarder = login(s.port).await;
    let (files, _sessions, refusal) = hoard(&hoarder, 1000).await;
    assert_eq!(files.len(), 1000, "refused: {refusal}");
    let _other = another_client_reads(&s).await;
}

/// With 1 024 descriptors and no more: the connection's budget (192) refuses the rest with
/// "too many open handles", other clients still log in and read, a second connection of the
/// same user gets its own budget within the user's, and closing gives the handles back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_past_its_budget_is_refused_and_others_still_read() {
    let s = serve("1024:1024");
    let budget = HandleLimits::for_descriptors(1024);
    let hoarder = login(s.port).await;
    let (files, _sessions, refusal) = hoard(&hoarder, 1000).await;
    println!(
        "one connection got {} handles, then: {refusal}",
        files.len()
    );
    assert_eq!(files.len(), budget.per_connection);
    assert!(refusal.contains("too many open handles"), "{refusal}");
    let other = another_client_reads(&s).await;
    // A second connection of the same user: its own budget, within the user's.
    let (more, _more_sessions, refusal) = hoard(&other, 1000).await;
    println!("a second connection got {} more: {refusal}", more.len());
    assert_eq!(
        files.len() + more.len(),
        budget.per_user.min(2 * budget.per_connection)
    );
    // The user's budget is spent: the same user is refused with a clear status, but logs in
    // and makes requests that need no handle.
    let third = login(s.port).await;
    let sftp = third.sftp().await.unwrap();
    let refused = sftp.open_read("/f").await.unwrap_err().to_string();
    assert!(refused.contains("too many open handles"), "{refused}");
    assert!(sftp.stat("/f").await.is_ok());
    // Closing the hoard gives the handles back.
    drop((files, _sessions, hoarder));
    let mut reopened = false;
    for _ in 0..100 {
        if sftp.open_read("/f").await.is_ok() {
            reopened = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(reopened, "the hoarder's handles were not given back");
}
