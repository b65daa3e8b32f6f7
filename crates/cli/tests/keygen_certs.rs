//! `nacre keygen -s` and `-L` (OpenSSH certificates, `PROTOCOL.certkeys`) against
//! `ssh-keygen`: certificates made by each are shown alike by both, and OpenSSH's published
//! certificates are shown as ssh-keygen shows them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::Path;
use std::process::{Command, Output};

const KEYS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/vectors/openssh-keys"
);

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .env("TZ", "Asia/Kolkata")
        .output()
        .unwrap()
}

fn nacre(args: &[&str]) -> Output {
    let mut all = vec!["keygen"];
    all.extend_from_slice(args);
    run(env!("CARGO_BIN_EXE_nacre"), &all)
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `-L` output without its first line (the file name).
fn body(listing: &str) -> String {
    listing.lines().skip(1).collect::<Vec<_>>().join("\n")
}

fn generate(dir: &Path, name: &str, t: &str, bits: Option<&str>) -> std::path::PathBuf {
    let f = dir.join(name);
    let mut args = vec!["-q", "-t", t, "-N", "", "-C", name, "-f", s(&f)];
    if let Some(b) = bits {
        args.extend(["-b", b]);
    }
    ok(run("ssh-keygen", &args), "ssh-keygen generate");
    f
}

#[test]
fn openssh_certificates_listed_as_ssh_keygen_lists_them() {
    for name in [
        "ed25519_1",
        "ecdsa_1",
        "rsa_1",
        "rsa_1_sha1",
        "rsa_1_sha512",
    ] {
        let f = format!("{KEYS}/{name}-cert.pub");
        let theirs = ok(run("ssh-keygen", &["-L", "-f", &f]), name);
        assert_eq!(ok(nacre(&["-L", "-f", &f]), name), theirs, "{name}");
        // -l and -lv show the certified key's fingerprint, typed `...-CERT`.
        for flag in ["-l", "-lv"] {
            let theirs = ok(run("ssh-keygen", &[flag, "-f", &f]), name);
            assert_eq!(ok(nacre(&[flag, "-f", &f]), name), theirs, "{name} {flag}");
        }
    }
}

/// The same request to both tools gives certificates that both list identically (only the
/// nonce and signature differ), for every CA and subject key type.
#[test]
fn certificates_signed_by_nacre_match_ssh_keygen() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cas = [
        generate(d, "ca_ed25519", "ed25519", None),
        generate(d, "ca_ecdsa", "ecdsa", Some("384")),
        generate(d, "ca_rsa", "rsa", Some("2048")),
    ];
    let subjects = [
        generate(d, "user_ed25519", "ed25519", None),
        generate(d, "user_ecdsa256", "ecdsa", Some("256")),
        generate(d, "user_ecdsa521", "ecdsa", Some("521")),
        generate(d, "user_rsa", "rsa", Some("2048")),
    ];
    let requests: [&[&str]; 5] = [
        &[
            "-I",
            "alice-key",
            "-n",
            "alice,bob",
            "-V",
            "20240101:20300101123000",
        ],
        &[
            "-I",
            "ops",
            "-n",
            "root",
            "-z",
            "4711",
            "-V",
            "always:20291231Z",
            "-O",
            "force-command=/usr/bin/uptime",
            "-O",
            "source-address=10.0.0.0/8,::1",
            "-O",
            "no-pty",
            "-O",
            "verify-required",
            "-O",
            "no-touch-required",
        ],
        &[
            "-I",
            "host",
            "-h",
            "-n",
            "*.example.com,example.com",
            "-V",
            "20250101:forever",
        ],
        &[
            "-I",
            "custom",
            "-O",
            "clear",
            "-O",
            "permit-pty",
            "-O",
            "extension:login@example.com=alice",
            "-O",
            "critical:vendor@example.com",
        ],
        &["-I", "plain"],
    ];
    for ca in &cas {
        for subject in &subjects {
            for (i, request) in requests.iter().enumerate() {
                let public = format!("{}.pub", s(subject));
                let cert = format!("{}-cert.pub", s(subject));
                let mut args = vec!["-q", "-s", s(ca)];
                args.extend_from_slice(request);
                args.push(&public);
                ok(run("ssh-keygen", &args), "ssh-keygen -s");
                let theirs = ok(run("ssh-keygen", &["-L", "-f", &cert]), "ssh-keygen -L");
                assert_eq!(ok(nacre(&["-L", "-f", &cert]), "nacre -L"), theirs);
                ok(nacre(&args), &format!("nacre -s {request:?}"));
                let ours = ok(
                    run("ssh-keygen", &["-L", "-f", &cert]),
                    "ssh-keygen -L ours",
                );
                assert_eq!(
                    body(&ours),
                    body(&theirs),
                    "{} {} request {i}",
                    s(ca),
                    s(subject)
                );
                assert_eq!(ok(nacre(&["-L", "-f", &cert]), "nacre -L ours"), ours);
                // The comment is kept, as ssh-keygen keeps it.
                let line = std::fs::read_to_string(&cert).unwrap();
                assert!(line
                    .trim_end()
                    .ends_with(subject.file_name().unwrap().to_str().unwrap()));
            }
        }
    }
}

#[test]
fn signing_messages_and_refusals_as_ssh_keygen() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = generate(d, "ca", "ed25519", None);
    let user = generate(d, "user", "ed25519", None);
    let public = format!("{}.pub", s(&user));
    let args = [
        "-s",
        s(&ca),
        "-I",
        "id",
        "-n",
        "a,b",
        "-z",
        "3",
        "-V",
        "20240101:20250101",
        &public,
    ];
    let theirs = run("ssh-keygen", &args);
    let ours = nacre(&args);
    assert!(ours.status.success());
    assert_eq!(
        String::from_utf8_lossy(&ours.stderr),
        String::from_utf8_lossy(&theirs.stderr)
    );
    // No key id, a certificate to certify, an empty principal, a bad interval: refused.
    let cert = format!("{}-cert.pub", s(&user));
    for bad in [
        vec!["-s", s(&ca), "-n", "a", &public],
        vec!["-s", s(&ca), "-I", "x", &cert],
        vec!["-s", s(&ca), "-I", "x", "-n", "a,,b", &public],
        vec!["-s", s(&ca), "-I", "x", "-V", "20250101:20240101", &public],
        vec!["-s", s(&ca), "-I", "x", "-O", "bogus", &public],
    ] {
        assert!(!nacre(&bad).status.success(), "{bad:?}");
        assert!(!run("ssh-keygen", &bad).status.success(), "{bad:?}");
    }
    // -L on a plain key: nothing listed, exit 1 as ssh-keygen.
    assert_eq!(nacre(&["-L", "-f", &public]).status.code(), Some(1));
    assert_eq!(
        run("ssh-keygen", &["-L", "-f", &public]).status.code(),
        Some(1)
    );
}

/// A relative validity (`-V +1h`) is backdated to the minute and lasts the given time.
#[test]
fn relative_validity() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = generate(d, "ca", "ed25519", None);
    let user = generate(d, "user", "ed25519", None);
    let public = format!("{}.pub", s(&user));
    ok(
        nacre(&["-q", "-s", s(&ca), "-I", "r", "-V", "+1h", &public]),
        "nacre -V +1h",
    );
    let cert = format!("{}-cert.pub", s(&user));
    let listing = ok(nacre(&["-L", "-f", &cert]), "-L");
    let valid = listing
        .lines()
        .find_map(|l| l.trim().strip_prefix("Valid: from "))
        .unwrap()
        .to_owned();
    let (from, to) = valid.split_once(" to ").unwrap();
    assert!(from.ends_with(":00"), "{from}");
    assert_ne!(from, to);
    // A start in the past is written as ssh-keygen takes it (a value beginning with '-').
    ok(
        nacre(&["-q", "-s", s(&ca), "-I", "r", "-V", "-1d:+1w", &public]),
        "nacre -V -1d:+1w",
    );
}
