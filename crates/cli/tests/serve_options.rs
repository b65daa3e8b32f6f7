//! `nacre serve -o` with sshd's option names changes what OpenSSH's ssh can do.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::Duration;

use nacre_tests::{
    authorized_client_key, ensure_test_user, free_port, ChildGuard, KeyType, OpenSshClient,
};

fn serve(dir: &std::path::Path, extra: &[&str]) -> (ChildGuard, u16) {
    let port = free_port();
    std::fs::write(dir.join("pw"), "serve-pass\n").unwrap();
    let key = authorized_client_key(KeyType::Ed25519);
    std::fs::write(dir.join("ak"), format!("{}\n", key.pub_line)).unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nacre"));
    cmd.args([
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--user",
        "peer",
        "--allow-exec",
    ])
    .arg("--state-dir")
    .arg(dir.join("state"))
    .arg("--password-file")
    .arg(dir.join("pw"))
    .arg("--authorized-keys")
    .arg(dir.join("ak"))
    .args(extra.iter().flat_map(|o| ["-o", o]))
    .current_dir(dir);
    let guard = ChildGuard::spawn("nacre serve", &mut cmd);
    for _ in 0..400 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (guard, port);
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("nacre serve did not listen");
}

#[test]
fn password_authentication_no_and_auth_methods() {
    ensure_test_user();
    let dir = tempfile::tempdir().unwrap();
    let (_server, port) = serve(
        dir.path(),
        &[
            "PasswordAuthentication=no",
            "LoginGraceTime=30",
            "KexAlgorithms=curve25519-sha256",
        ],
    );
    let out = OpenSshClient::new(port)
        .password("serve-pass")
        .command("true")
        .run(Duration::from_secs(60));
    assert!(
        out.stderr
            .contains("Permission denied (publickey,keyboard-interactive)"),
        "{out}"
    );
    let key = authorized_client_key(KeyType::Ed25519);
    let out = OpenSshClient::new(port)
        .verbose()
        .identity(&key.private)
        .command("echo hi")
        .run(Duration::from_secs(60));
    assert_eq!(out.stdout, "hi\n", "{out}");
    assert!(
        out.stderr.contains("kex: algorithm: curve25519-sha256"),
        "{out}"
    );
}

#[test]
fn sigterm_shuts_the_server_down_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, _port) = serve(dir.path(), &[]);
    assert!(server.signal("TERM"));
    let status = server
        .wait_timeout(Duration::from_secs(10))
        .expect("nacre serve exits on SIGTERM");
    assert!(status.success(), "{status:?}");
}
