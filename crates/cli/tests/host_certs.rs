//! Host certificates (OpenSSH `PROTOCOL.certkeys`, `*-cert-v01@openssh.com` host key
//! algorithms): sshd with `HostCertificate` → `nacre exec` trusting only an `@cert-authority`
//! line; `nacre serve -o HostCertificate=…` → ssh with `@cert-authority`; a CA in `@revoked`
//! refused by both clients; a certificate for another host name falls back to the plain key.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use nacre_tests::{ensure_test_user, run_with_input, KeyType, OpenSshClient, OpenSshServer};

fn ssh_keygen(args: &[&str]) {
    let out = Command::new("ssh-keygen").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ssh-keygen {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn key(dir: &Path, name: &str) -> PathBuf {
    let f = dir.join(name);
    ssh_keygen(&["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", s(&f)]);
    f
}

/// A host certificate of `host_key` by `ca` for `names`.
fn certify_host(ca: &Path, host_key: &Path, names: &str) -> PathBuf {
    let public = format!("{}.pub", s(host_key));
    ssh_keygen(&["-q", "-s", s(ca), "-I", "host", "-h", "-n", names, &public]);
    PathBuf::from(format!("{}-cert.pub", s(host_key)))
}

fn pub_line(key: &Path) -> String {
    std::fs::read_to_string(format!("{}.pub", s(key)))
        .unwrap()
        .trim()
        .to_owned()
}

fn nacre_exec(port: u16, known_hosts: &Path) -> nacre_tests::CmdOutput {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nacre"));
    cmd.args([
        "exec",
        "-p",
        &port.to_string(),
        "-o",
        &format!("UserKnownHostsFile={}", s(known_hosts)),
        "-o",
        "StrictHostKeyChecking=yes",
        "peer@127.0.0.1",
        "--",
        "echo",
        "trusted",
    ])
    .env("NACRE_PASSWORD", nacre_tests::TEST_PASSWORD)
    .env_remove("SSH_AUTH_SOCK")
    .env("HOME", known_hosts.parent().unwrap());
    run_with_input(&mut cmd, Some(b""), Duration::from_secs(60))
}

#[test]
fn sshd_host_certificate_to_nacre_with_cert_authority() {
    ensure_test_user();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = key(d, "ca");
    let host_key = key(d, "host_ed25519");
    let cert = certify_host(&ca, &host_key, "127.0.0.1,localhost");
    let sshd = OpenSshServer::builder()
        .host_keys(&[KeyType::EcdsaP256])
        .line(&format!("HostKey {}", s(&host_key)))
        .line(&format!("HostCertificate {}", s(&cert)))
        .start();
    let kh = d.join("known_hosts");
    // Only the CA is known: the certificate is trusted.
    std::fs::write(&kh, format!("@cert-authority * {}\n", pub_line(&ca))).unwrap();
    let out = nacre_exec(sshd.port(), &kh);
    assert_eq!(out.stdout, "trusted\n", "{out}\n{}", sshd.log());
    // The CA revoked: refused.
    std::fs::write(
        &kh,
        format!(
            "@cert-authority * {}\n@revoked * {}\n",
            pub_line(&ca),
            pub_line(&ca)
        ),
    )
    .unwrap();
    let out = nacre_exec(sshd.port(), &kh);
    assert!(!out.success(), "{out}");
    assert!(out.stderr.contains("revoked"), "{out}");
    // Another CA: the plain key is unknown, strict checking refuses.
    let other = key(d, "other_ca");
    std::fs::write(&kh, format!("@cert-authority * {}\n", pub_line(&other))).unwrap();
    assert!(!nacre_exec(sshd.port(), &kh).success());
    // A certificate for another name: not valid for 127.0.0.1; the plain key listed wins.
    let wrong = tempfile::tempdir().unwrap();
    let hk2 = key(wrong.path(), "host_ed25519");
    let cert2 = certify_host(&ca, &hk2, "elsewhere.example.com");
    let sshd2 = OpenSshServer::builder()
        .host_keys(&[KeyType::EcdsaP256])
        .line(&format!("HostKey {}", s(&hk2)))
        .line(&format!("HostCertificate {}", s(&cert2)))
        .start();
    std::fs::write(&kh, format!("@cert-authority * {}\n", pub_line(&ca))).unwrap();
    let out = nacre_exec(sshd2.port(), &kh);
    assert!(!out.success(), "{out}");
    std::fs::write(
        &kh,
        format!(
            "@cert-authority * {}\n[127.0.0.1]:{} {}\n",
            pub_line(&ca),
            sshd2.port(),
            pub_line(&hk2)
        ),
    )
    .unwrap();
    let out = nacre_exec(sshd2.port(), &kh);
    assert_eq!(out.stdout, "trusted\n", "{out}");
}

#[test]
fn nacre_serve_host_certificate_to_ssh_with_cert_authority() {
    ensure_test_user();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = key(d, "ca");
    let host_key = key(d, "host_ed25519");
    let cert = certify_host(&ca, &host_key, "127.0.0.1");
    let client = nacre_tests::authorized_client_key(KeyType::Ed25519);
    std::fs::write(d.join("ak"), format!("{}\n", client.pub_line)).unwrap();
    let args: Vec<std::ffi::OsString> = vec![
        "--allow-exec".into(),
        "--authorized-keys".into(),
        d.join("ak").into(),
        "--host-key".into(),
        host_key.clone().into(),
        "-o".into(),
        format!("HostCertificate={}", s(&cert)).into(),
    ];
    let (_server, port) = nacre_tests::start_nacre_serve(
        env!("CARGO_BIN_EXE_nacre").as_ref(),
        d,
        "peer",
        "serve-pass",
        &args,
    );
    let kh = d.join("known_hosts");
    let login = || {
        OpenSshClient::new(port)
            .identity(&client.private)
            .known_hosts(&kh)
            .verbose()
            .command("echo hi")
            .run(Duration::from_secs(60))
    };
    std::fs::write(&kh, format!("@cert-authority * {}\n", pub_line(&ca))).unwrap();
    let out = login();
    assert_eq!(out.stdout, "hi\n", "{out}");
    assert!(
        out.stderr.contains("ssh-ed25519-cert-v01@openssh.com"),
        "{out}"
    );
    std::fs::write(
        &kh,
        format!(
            "@cert-authority * {}\n@revoked * {}\n",
            pub_line(&ca),
            pub_line(&ca)
        ),
    )
    .unwrap();
    let out = login();
    assert_eq!(out.stdout, "", "{out}");
    assert!(!out.success(), "{out}");
    // A HostCertificate for a key the server does not hold is refused at start.
    let stray = key(d, "stray");
    let stray_cert = certify_host(&ca, &stray, "127.0.0.1");
    let out = Command::new(env!("CARGO_BIN_EXE_nacre"))
        .args(["serve", "--state-dir"])
        .arg(d.join("state2"))
        .arg("--host-key")
        .arg(&host_key)
        .arg("-o")
        .arg(format!("HostCertificate={}", s(&stray_cert)))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not certify"));
}

/// RSA and ECDSA host certificates from sshd (`rsa-sha2-512-cert-v01@openssh.com`,
/// `ecdsa-sha2-nistp256-cert-v01@openssh.com`) are trusted through the CA as well.
#[test]
fn sshd_rsa_and_ecdsa_host_certificates_to_nacre() {
    ensure_test_user();
    for t in ["rsa", "ecdsa"] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let ca = key(d, "ca");
        let host_key = d.join(format!("host_{t}"));
        ssh_keygen(&["-q", "-t", t, "-N", "", "-f", s(&host_key)]);
        let cert = certify_host(&ca, &host_key, "127.0.0.1");
        let sshd = OpenSshServer::builder()
            .host_keys(&[KeyType::Ed25519])
            .line(&format!("HostKey {}", s(&host_key)))
            .line(&format!("HostCertificate {}", s(&cert)))
            .start();
        let kh = d.join("known_hosts");
        std::fs::write(&kh, format!("@cert-authority * {}\n", pub_line(&ca))).unwrap();
        let out = nacre_exec(sshd.port(), &kh);
        assert_eq!(out.stdout, "trusted\n", "{t}: {out}\n{}", sshd.log());
    }
}
