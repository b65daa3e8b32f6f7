//! `nacre ssh` under a terminal (util-linux `script`) gets a remote pty and a shell; without a
//! terminal it runs the shell on pipes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::Duration;

use nacre_tests::{
    authorized_client_key, ensure_test_user, run_with_input, KeyType, OpenSshServer,
};

fn nacre_ssh(sshd: &OpenSshServer, home: &std::path::Path) -> String {
    let key = authorized_client_key(KeyType::Ed25519);
    format!(
        "{} ssh -p {} -i {} -o StrictHostKeyChecking=no -o UserKnownHostsFile={}/kh peer@127.0.0.1",
        env!("CARGO_BIN_EXE_nacre"),
        sshd.port(),
        key.private.display(),
        home.display()
    )
}

#[test]
fn shell_on_a_pty_under_a_terminal() {
    ensure_test_user();
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-qec", &nacre_ssh(&sshd, dir.path()), "/dev/null"])
        .env("HOME", dir.path())
        .env("TERM", "xterm");
    let out = run_with_input(
        &mut cmd,
        Some(b"tty; echo marker-$((6*7)); exit 3\n"),
        Duration::from_secs(60),
    );
    assert!(out.stdout.contains("/dev/pts/"), "{out}");
    assert!(out.stdout.contains("marker-42"), "{out}");
    assert_eq!(out.status.code(), Some(3), "{out}");
}

#[test]
fn shell_on_pipes_without_a_terminal() {
    ensure_test_user();
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let dir = tempfile::tempdir().unwrap();
    let line = nacre_ssh(&sshd, dir.path());
    let mut parts = line.split_whitespace();
    let mut cmd = std::process::Command::new(parts.next().unwrap());
    cmd.args(parts).env("HOME", dir.path());
    let out = run_with_input(
        &mut cmd,
        Some(b"tty; echo piped; exit 5\n"),
        Duration::from_secs(60),
    );
    assert!(
        out.stdout.contains("not a tty") && out.stdout.contains("piped"),
        "{out}"
    );
    assert_eq!(out.status.code(), Some(5), "{out}");
}
