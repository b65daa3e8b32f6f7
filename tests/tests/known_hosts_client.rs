//! The nacre client checks sshd's host key against known_hosts files: plain and hashed
//! (`ssh-keygen -H`) entries accepted, a changed key refused, unknown hosts refused or added.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use nacre::transport::{Config, TransportError};
use nacre::{known_hosts_verifier, ClientConfig, Connection, UnknownHosts};
use nacre_tests::{run_with_timeout, KeyType, OpenSshServer};

async fn connect(
    sshd: &OpenSshServer,
    path: &std::path::Path,
    unknown: UnknownHosts,
) -> Result<Connection, nacre::Error> {
    let verify = known_hosts_verifier(path.to_path_buf(), "127.0.0.1", sshd.port(), unknown);
    let cfg = ClientConfig {
        transport: Arc::new(Config::client()),
        verify_host_key: verify,
    };
    tokio::time::timeout(
        Duration::from_secs(30),
        Connection::connect(("127.0.0.1", sshd.port()), cfg),
    )
    .await
    .unwrap()
}

fn line(sshd: &OpenSshServer) -> String {
    let pub_line = sshd.host_key_pub(KeyType::Ed25519);
    let mut f = pub_line.split_whitespace();
    format!(
        "[127.0.0.1]:{} {} {}\n",
        sshd.port(),
        f.next().unwrap(),
        f.next().unwrap()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_and_hashed_entries_match() {
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("known_hosts");
    std::fs::write(&path, format!("other.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n{}", line(&sshd))).unwrap();
    connect(&sshd, &path, UnknownHosts::Reject).await.unwrap();
    // ssh-keygen -H rewrites the file with hashed host names.
    let out = run_with_timeout(
        Command::new("ssh-keygen").arg("-H").arg("-f").arg(&path),
        Duration::from_secs(30),
    );
    out.assert_success();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.lines().all(|l| l.starts_with("|1|")), "{text}");
    connect(&sshd, &path, UnknownHosts::Reject).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_host_key_is_refused() {
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("known_hosts");
    let other = nacre::keys::PrivateKey::from_ed25519_seed(&[9; 32]).public_key();
    std::fs::write(
        &path,
        format!(
            "[127.0.0.1]:{} {}\n",
            sshd.port(),
            other.to_openssh_line("")
        ),
    )
    .unwrap();
    match connect(&sshd, &path, UnknownHosts::AcceptNew { hashed: false }).await {
        Err(nacre::Error::Transport(TransportError::HostKeyRejected)) => {}
        other => panic!(
            "a changed key must be refused, even with accept-new: {:?}",
            other.err()
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_host_refused_or_added() {
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("known_hosts");
    assert!(matches!(
        connect(&sshd, &path, UnknownHosts::Reject).await,
        Err(nacre::Error::Transport(TransportError::HostKeyRejected))
    ));
    connect(&sshd, &path, UnknownHosts::AcceptNew { hashed: true })
        .await
        .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with("|1|") && text.lines().count() == 1,
        "{text}"
    );
    // OpenSSH agrees that the entry nacre wrote names this host and key.
    let host = format!("[127.0.0.1]:{}", sshd.port());
    let out = run_with_timeout(
        Command::new("ssh-keygen")
            .args(["-F", &host, "-f"])
            .arg(&path),
        Duration::from_secs(30),
    );
    out.assert_success();
    connect(&sshd, &path, UnknownHosts::Reject).await.unwrap();
}
