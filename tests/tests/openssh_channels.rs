//! The nacre client's channels against OpenSSH's sshd: exec with exit status and separate stderr,
//! stdin piped, a large transfer into sha256sum, many concurrent channels, and rekeys mid-transfer.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::Arc;
use std::time::Duration;

use nacre::keys::PublicKey;
use nacre::transport::Config;
use nacre::wire::DisconnectReason;
use nacre::{AuthResult, ClientConfig, Connection, ExitStatus};
use nacre_tests::{ensure_test_user, KeyType, OpenSshServer, TEST_PASSWORD, TEST_USER};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
    assert_eq!(
        conn.authenticate_password(TEST_USER, TEST_PASSWORD)
            .await
            .unwrap(),
        AuthResult::Success
    );
    conn
}

async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(120), f)
        .await
        .expect("timed out")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_exit_codes_and_stderr() {
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let conn = login(&sshd).await;
    for code in [0u32, 1, 42] {
        let out = within(conn.exec(&format!("echo out; echo err >&2; exit {code}")))
            .await
            .unwrap();
        assert_eq!(out.stdout, b"out\n");
        // sshd at LogLevel DEBUG3 also copies some of its debug lines to the session's stderr.
        assert!(
            out.stderr.ends_with(b"err\n"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!String::from_utf8_lossy(&out.stderr).contains("out"));
        assert_eq!(out.status, Some(ExitStatus::Code(code)));
    }
    let out = within(conn.exec("kill -TERM $$")).await.unwrap();
    assert!(
        matches!(out.status, Some(ExitStatus::Signal { ref name, .. }) if name == "TERM"),
        "{:?}",
        out.status
    );
    conn.disconnect(DisconnectReason::BY_APPLICATION, "done")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_piped_through_sha256sum_with_rekeys() {
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &["RekeyLimit 16M"]);
    let conn = login(&sshd).await;
    let ch = within(conn.open_session()).await.unwrap();
    within(ch.exec("sha256sum")).await.unwrap();
    let total = 1024 * 1024 * 1024usize;
    let block: Vec<u8> = (0..1024 * 1024u32).map(|i| (i * 7 % 253) as u8).collect();
    let (mut rd, mut wr) = tokio::io::split(ch);
    let writer = tokio::spawn(async move {
        let mut sent = 0;
        while sent < total {
            wr.write_all(&block).await.unwrap();
            sent += block.len();
        }
        wr.shutdown().await.unwrap();
        (block, wr)
    });
    let mut out = String::new();
    within(rd.read_to_string(&mut out)).await.unwrap();
    let (block, _wr) = writer.await.unwrap();
    let expected = {
        use sha2_check::digest;
        digest(&block, total / block.len())
    };
    assert_eq!(out.split_whitespace().next().unwrap(), expected);
    let log = sshd.log();
    let rekeys = log
        .lines()
        .filter(|l| l.contains("SSH2_MSG_NEWKEYS received") && !l.contains("[preauth]"))
        .count();
    assert!(
        rekeys >= 10,
        "{rekeys} rekeys during 256 MiB with RekeyLimit 16M"
    );
}

mod sha2_check {
    /// SHA-256 hex of `block` repeated `times` (via sha256sum of a pipe, computed locally).
    pub fn digest(block: &[u8], times: usize) -> String {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let mut child = Command::new("sha256sum")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        for _ in 0..times {
            stdin.write_all(block).unwrap();
        }
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_exec_channels() {
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &["MaxSessions 100"]);
    let conn = Arc::new(login(&sshd).await);
    let mut tasks = Vec::new();
    for i in 0..100u32 {
        let conn = conn.clone();
        tasks.push(tokio::spawn(async move {
            conn.exec(&format!("echo {i}")).await.unwrap()
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        let out = within(t).await.unwrap();
        assert_eq!(out.stdout, format!("{i}\n").into_bytes());
        assert_eq!(out.status, Some(ExitStatus::Code(0)));
    }
}
