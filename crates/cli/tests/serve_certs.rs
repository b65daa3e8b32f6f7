//! User certificates (OpenSSH `PROTOCOL.certkeys`) made by ssh-keygen, presented by OpenSSH's
//! ssh to `nacre serve -o TrustedUserCAKeys=…` (with `AuthorizedPrincipalsFile`) and to
//! authorized_keys `cert-authority` lines (with `principals=`): accepted when valid, refused for
//! a wrong principal, expired, not yet valid, an untrusted CA or a `source-address` that
//! excludes the client; `force-command` enforced.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use nacre_tests::{ensure_test_user, ChildGuard, OpenSshClient};

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

fn key(dir: &Path, name: &str, t: &str) -> PathBuf {
    let f = dir.join(name);
    ssh_keygen(&["-q", "-t", t, "-N", "", "-C", name, "-f", s(&f)]);
    f
}

/// Signs `key.pub` with `ca` into `key-cert.pub` (replacing it).
fn certify(ca: &Path, key: &Path, extra: &[&str]) {
    let public = format!("{}.pub", s(key));
    let mut args = vec!["-q", "-s", s(ca), "-I", "test-cert"];
    args.extend_from_slice(extra);
    args.push(&public);
    ssh_keygen(&args);
}

/// `nacre serve` for the test user with `authorized_keys` and `-o` options.
fn serve(dir: &Path, authorized_keys: &str, options: &[String]) -> (ChildGuard, u16) {
    let ak = dir.join("authorized_keys");
    std::fs::write(&ak, authorized_keys).unwrap();
    let mut args: Vec<std::ffi::OsString> =
        vec!["--allow-exec".into(), "--authorized-keys".into(), ak.into()];
    for o in options {
        args.push("-o".into());
        args.push(o.into());
    }
    nacre_tests::start_nacre_serve(
        env!("CARGO_BIN_EXE_nacre").as_ref(),
        dir,
        "peer",
        "serve-pass",
        &args,
    )
}

/// Runs `echo hi` (or `command`) with the identity `key` (ssh adds `key-cert.pub`); the output.
fn login(port: u16, key: &Path, command: &str) -> nacre_tests::CmdOutput {
    OpenSshClient::new(port)
        .identity(key)
        .command(command)
        .run(Duration::from_secs(60))
}

#[test]
fn ssh_certificates_to_nacre_serve_with_trusted_user_ca_keys() {
    ensure_test_user();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = key(d, "ca", "ed25519");
    let other_ca = key(d, "other_ca", "ecdsa");
    let principals = d.join("principals");
    std::fs::write(&principals, "# principals\nadmins\n").unwrap();
    let (_server, port) = serve(d, "", &[format!("TrustedUserCAKeys={}.pub", s(&ca))]);
    // Every key type nacre has, certified for the login name.
    for t in ["ed25519", "ecdsa", "rsa"] {
        let user = key(d, &format!("user_{t}"), t);
        certify(&ca, &user, &["-n", "peer,backup", "-V", "-5m:+1h"]);
        let out = login(port, &user, "echo hi");
        assert_eq!(out.stdout, "hi\n", "{t}: {out}");
        // Without the certificate the plain key is not authorized.
        std::fs::remove_file(format!("{}-cert.pub", s(&user))).unwrap();
        let out = login(port, &user, "echo hi");
        assert!(out.stderr.contains("Permission denied"), "{t}: {out}");
    }
    let user = key(d, "user", "ed25519");
    let refused = |extra: &[&str], signer: &Path, why: &str| {
        certify(signer, &user, extra);
        let out = login(port, &user, "echo hi");
        assert!(out.stderr.contains("Permission denied"), "{why}: {out}");
        assert_eq!(out.stdout, "", "{why}");
    };
    refused(&["-n", "someone"], &ca, "wrong principal");
    refused(&["-n", "peer", "-V", "20200101:20210101"], &ca, "expired");
    refused(&["-n", "peer", "-V", "+1d:+2d"], &ca, "not yet valid");
    refused(&["-n", "peer"], &other_ca, "untrusted CA");
    refused(&["-n", "peer", "-h"], &ca, "host certificate");
    refused(
        &["-n", "peer", "-O", "source-address=192.0.2.0/24"],
        &ca,
        "source-address",
    );
    // source-address that includes the client, and force-command.
    certify(
        &ca,
        &user,
        &[
            "-n",
            "peer",
            "-O",
            "source-address=127.0.0.0/8,::1",
            "-O",
            "force-command=echo forced",
        ],
    );
    let out = login(port, &user, "echo mine");
    assert_eq!(out.stdout, "forced\n", "{out}");
    // A certificate without permit-pty gets no pty.
    certify(&ca, &user, &["-n", "peer", "-O", "no-pty"]);
    let out = OpenSshClient::new(port)
        .identity(&user)
        .arg("-tt")
        .command("tty || true")
        .run(Duration::from_secs(60));
    assert!(
        out.stderr.contains("PTY allocation request failed"),
        "{out}"
    );
    assert!(!out.stdout.contains("/dev/pts"), "{out}");
}

#[test]
fn authorized_principals_file_names_the_principals() {
    ensure_test_user();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = key(d, "ca", "ed25519");
    let user = key(d, "user", "ed25519");
    let principals = d.join("principals_%u");
    std::fs::write(
        d.join("principals_peer"),
        "# who may log in as peer\nadmins\ncommand=\"echo from-principals\" deploy\n",
    )
    .unwrap();
    let (_server, port) = serve(
        d,
        "",
        &[
            format!("TrustedUserCAKeys={}.pub", s(&ca)),
            format!("AuthorizedPrincipalsFile={}", s(&principals)),
        ],
    );
    certify(&ca, &user, &["-n", "admins"]);
    assert_eq!(login(port, &user, "echo hi").stdout, "hi\n");
    certify(&ca, &user, &["-n", "deploy"]);
    assert_eq!(login(port, &user, "echo hi").stdout, "from-principals\n");
    // With a principals file, the login name itself is not enough.
    certify(&ca, &user, &["-n", "peer"]);
    let out = login(port, &user, "echo hi");
    assert!(out.stderr.contains("Permission denied"), "{out}");
}

#[test]
fn authorized_keys_cert_authority_with_principals() {
    ensure_test_user();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = key(d, "ca", "ecdsa");
    let open_ca = key(d, "open_ca", "ed25519");
    let user = key(d, "user", "ed25519");
    let line = |opts: &str, k: &Path| {
        format!(
            "{opts} {}",
            std::fs::read_to_string(format!("{}.pub", s(k))).unwrap()
        )
    };
    let ak = line("cert-authority,principals=\"ops,dev\"", &ca)
        + &line("cert-authority,no-pty", &open_ca);
    let (_server, port) = serve(d, &ak, &[]);
    certify(&ca, &user, &["-n", "dev"]);
    assert_eq!(login(port, &user, "echo hi").stdout, "hi\n");
    certify(&ca, &user, &["-n", "peer"]);
    assert!(login(port, &user, "echo hi")
        .stderr
        .contains("Permission denied"));
    // Without principals= the certificate must name the login.
    certify(&open_ca, &user, &["-n", "peer"]);
    assert_eq!(login(port, &user, "echo hi").stdout, "hi\n");
    certify(&open_ca, &user, &["-n", "dev"]);
    assert!(login(port, &user, "echo hi")
        .stderr
        .contains("Permission denied"));
}
