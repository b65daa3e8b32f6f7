//! `nacre exec` with an OpenSSH user certificate made by `nacre keygen -s` (PROTOCOL.certkeys),
//! picked up as `KEY-cert.pub` beside `-i KEY` or named by `CertificateFile`, against sshd with
//! `TrustedUserCAKeys`; refused when the certificate names another principal or has expired.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::Path;
use std::time::Duration;

use nacre_tests::{ensure_test_user, run_with_input, KeyType, OpenSshServer};

fn nacre(args: &[&str], home: &Path) -> nacre_tests::CmdOutput {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nacre"));
    cmd.args(args)
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("NACRE_PASSWORD")
        .env("HOME", home);
    run_with_input(&mut cmd, Some(b""), Duration::from_secs(60))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn keygen(home: &Path, name: &str, t: &str) -> std::path::PathBuf {
    let f = home.join(name);
    let out = nacre(&["keygen", "-q", "-t", t, "-N", "", "-f", s(&f)], home);
    assert!(out.success(), "{out}");
    f
}

fn certify(home: &Path, ca: &Path, key: &Path, extra: &[&str]) {
    let public = format!("{}.pub", s(key));
    let mut args = vec!["keygen", "-q", "-s", s(ca), "-I", "exec-test"];
    args.extend_from_slice(extra);
    args.push(&public);
    let out = nacre(&args, home);
    assert!(out.success(), "{out}");
}

fn exec(sshd: &OpenSshServer, home: &Path, extra: &[&str]) -> nacre_tests::CmdOutput {
    let port = sshd.port().to_string();
    let mut args = vec![
        "exec",
        "-p",
        &port,
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "PasswordAuthentication=no",
        "-o",
        "KbdInteractiveAuthentication=no",
    ];
    args.extend_from_slice(extra);
    args.extend(["peer@127.0.0.1", "--", "echo", "certified"]);
    nacre(&args, home)
}

#[test]
fn nacre_exec_with_nacre_certificates_to_sshd() {
    ensure_test_user();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let cas = [
        keygen(home, "ca_ed25519", "ed25519"),
        keygen(home, "ca_ecdsa", "ecdsa"),
    ];
    let ca_file = home.join("trusted_cas");
    let mut text = String::new();
    for ca in &cas {
        text += &std::fs::read_to_string(format!("{}.pub", s(ca))).unwrap();
    }
    std::fs::write(&ca_file, text).unwrap();
    let sshd = OpenSshServer::start(
        &[KeyType::Ed25519],
        &[&format!("TrustedUserCAKeys {}", s(&ca_file))],
    );
    for (ca, t) in cas.iter().zip(["ecdsa", "ed25519"]) {
        let user = keygen(home, &format!("user_{t}"), t);
        // Without a certificate the key is not authorized.
        let out = exec(&sshd, home, &["-i", s(&user)]);
        assert!(!out.success(), "{out}");
        certify(home, ca, &user, &["-n", "peer,other", "-V", "-5m:+1h"]);
        let out = exec(&sshd, home, &["-i", s(&user)]);
        assert_eq!(out.stdout, "certified\n", "{t}: {out}\n{}", sshd.log());
        // Refused: another principal, expired.
        certify(home, ca, &user, &["-n", "someone"]);
        assert!(!exec(&sshd, home, &["-i", s(&user)]).success());
        certify(home, ca, &user, &["-n", "peer", "-V", "20200101:20210101"]);
        assert!(!exec(&sshd, home, &["-i", s(&user)]).success());
    }
    // CertificateFile names a certificate kept elsewhere.
    let user = keygen(home, "user_cf", "ed25519");
    certify(home, &cas[0], &user, &["-n", "peer"]);
    let moved = home.join("elsewhere-cert.pub");
    std::fs::rename(format!("{}-cert.pub", s(&user)), &moved).unwrap();
    assert!(!exec(&sshd, home, &["-i", s(&user)]).success());
    let cf = format!("CertificateFile={}", s(&moved));
    let out = exec(&sshd, home, &["-i", s(&user), "-o", &cf]);
    assert_eq!(out.stdout, "certified\n", "{out}");
}

/// A certificate held by ssh-agent (`ssh-add` loads `KEY-cert.pub` with `KEY`) is offered and
/// signed by the agent.
#[test]
fn agent_certificates_to_sshd() {
    ensure_test_user();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let ca = keygen(home, "ca", "ed25519");
    let sshd = OpenSshServer::start(
        &[KeyType::Ed25519],
        &[&format!("TrustedUserCAKeys {}.pub", s(&ca))],
    );
    let user = keygen(home, "agent_user", "ecdsa");
    certify(home, &ca, &user, &["-n", "peer"]);
    let (_agent, sock) = nacre_tests::start_agent(home, &[]);
    let added = std::process::Command::new("ssh-add")
        .arg(&user)
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .unwrap();
    assert!(added.status.success(), "{added:?}");
    assert!(String::from_utf8_lossy(&added.stderr).contains("Certificate added"));
    let port = sshd.port().to_string();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nacre"));
    cmd.args([
        "exec",
        "-p",
        &port,
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "PasswordAuthentication=no",
        "-o",
        "KbdInteractiveAuthentication=no",
        "peer@127.0.0.1",
        "--",
        "echo",
        "certified",
    ])
    .env("SSH_AUTH_SOCK", &sock)
    .env_remove("NACRE_PASSWORD")
    .env("HOME", home);
    let out = run_with_input(&mut cmd, Some(b""), Duration::from_secs(60));
    assert_eq!(out.stdout, "certified\n", "{out}\n{}", sshd.log());
}
