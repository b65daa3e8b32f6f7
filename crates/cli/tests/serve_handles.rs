//! `nacre serve` divides its descriptors (issue 18): one connection trying to hold 1 000 SFTP
//! handles gets SSH_FX_FAILURE ("too many open handles") at its budget, and meanwhile another
//! client still logs in, lists and reads; a second connection of the same user gets its own
//! budget within the user's. The server runs with a soft and hard limit of 1 024 descriptors,
//! the common default, so without budgets the first client would exhaust the process.
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
    let cfg = nacre::ClientConfig {
        transport: std::sync::Arc::new(nacre::transport::Config::client()),
        verify_host_key: std::sync::Arc::new(|_| true),
    };
    let mut conn = nacre::Connection::connect(("127.0.0.1", port), cfg)
        .await
        .unwrap();
    let user = ensure_test_user();
    assert_eq!(
        conn.authenticate_password(&user.name, PASSWORD)
            .await
            .unwrap(),
        nacre::AuthResult::Success
    );
    conn
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_holding_handles_leaves_other_clients_working() {
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
    cmd.args(["--nofile=1024:1024", "--"])
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
    let _server = ChildGuard::spawn("nacre serve (1024 descriptors)", &mut cmd);
    for _ in 0..400 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let budget = HandleLimits::for_descriptors(1024);

    // The hoarder asks for 1 000 handles on one connection.
    let hoarder = login(port).await;
    let (files, _sessions, refusal) = hoard(&hoarder, 1000).await;
    println!(
        "one connection got {} handles, then: {refusal}",
        files.len()
    );
    assert_eq!(files.len(), budget.per_connection);
    assert!(refusal.contains("too many open handles"), "{refusal}");

    // Another client logs in and reads the whole file while those are held.
    let other = login(port).await;
    let sftp = other.sftp().await.unwrap();
    let names: Vec<_> = sftp.list_dir("/").await.unwrap();
    assert!(names.iter().any(|e| e.name == b"f"));
    let back = tmp.path().join("back");
    sftp.download("/f", &back).await.unwrap();
    assert_eq!(std::fs::read(&back).unwrap(), content);

    // A second connection of the same user: its own budget, within the user's.
    let (more, _more_sessions, refusal) = hoard(&other, 1000).await;
    println!("a second connection got {} more: {refusal}", more.len());
    assert_eq!(
        files.len() + more.len(),
        budget.per_user.min(2 * budget.per_connection)
    );
    // And still a third client reads.
    let third = login(port).await;
    let sftp = third.sftp().await.unwrap();
    let f = sftp.open_read("/f").await;
    // The user's budget is spent: the same user is refused, with a clear status...
    let refused = f.unwrap_err().to_string();
    assert!(refused.contains("too many open handles"), "{refused}");
    // ...but logging in and directory-free requests still work.
    assert!(sftp.stat("/f").await.is_ok());
    // Closing the hoard gives the handles back.
    drop(files);
    drop(_sessions);
    drop(hoarder);
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
