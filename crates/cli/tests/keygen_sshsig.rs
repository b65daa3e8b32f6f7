//! `nacre keygen -Y` (SSHSIG, OpenSSH `PROTOCOL.sshsig`) against OpenSSH's `ssh-keygen -Y`:
//! signatures made by each verify in the other, byte-identical where the signature scheme is
//! deterministic, allowed_signers read alike, and OpenSSH's published SSHSIG vectors.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/vectors/sshsig"
);

/// Runs a program with `stdin`, in a fixed non-UTC zone so that local times are exercised.
fn run(program: &str, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .env("TZ", "America/New_York")
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A program that fails early does not read its input.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

fn nacre(args: &[&str], stdin: &[u8]) -> Output {
    let mut all = vec!["keygen"];
    all.extend_from_slice(args);
    run(env!("CARGO_BIN_EXE_nacre"), &all, stdin)
}

fn ssh_keygen(args: &[&str], stdin: &[u8]) -> Output {
    run("ssh-keygen", args, stdin)
}

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Keys of every type nacre has, made by ssh-keygen (so nacre also reads its files).
fn keys(dir: &Path) -> Vec<(String, std::path::PathBuf)> {
    let mut out = Vec::new();
    for (t, b) in [
        ("ed25519", None),
        ("ecdsa", Some("256")),
        ("ecdsa", Some("384")),
        ("ecdsa", Some("521")),
        ("rsa", Some("2048")),
    ] {
        let name = format!("{t}{}", b.unwrap_or(""));
        let f = dir.join(&name);
        let mut args = vec!["-q", "-t", t, "-N", "", "-C", "signer", "-f", s(&f)];
        if let Some(b) = b {
            args.extend(["-b", b]);
        }
        ok(&ssh_keygen(&args, b""), "ssh-keygen generate");
        out.push((name, f));
    }
    out
}

fn allowed(dir: &Path, lines: &[String]) -> std::path::PathBuf {
    let f = dir.join("allowed_signers");
    std::fs::write(&f, lines.join("\n") + "\n").unwrap();
    f
}

fn pubkey(key: &Path) -> String {
    std::fs::read_to_string(format!("{}.pub", s(key)))
        .unwrap()
        .trim()
        .to_owned()
}

#[test]
fn nacre_signatures_verify_in_ssh_keygen_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let msg = dir.path().join("message.txt");
    std::fs::write(&msg, b"the quick brown fox\n").unwrap();
    for (name, key) in keys(dir.path()) {
        let signers = allowed(dir.path(), &[format!("me@example.com {}", pubkey(&key))]);
        let sig = dir.path().join("message.txt.sig");
        for hashalg in ["hashalg=sha512", "hashalg=sha256"] {
            // nacre signs a file, ssh-keygen verifies it.
            let _ = std::fs::remove_file(&sig);
            ok(
                &nacre(
                    &[
                        "-Y",
                        "sign",
                        "-n",
                        "file",
                        "-f",
                        s(&key),
                        "-O",
                        hashalg,
                        s(&msg),
                    ],
                    b"",
                ),
                "nacre sign",
            );
            let body = std::fs::read(&msg).unwrap();
            let verify = [
                "-Y",
                "verify",
                "-n",
                "file",
                "-f",
                s(&signers),
                "-I",
                "me@example.com",
                "-s",
                s(&sig),
            ];
            let theirs = ok(
                &ssh_keygen(&verify, &body),
                &format!("{name} ssh-keygen verify"),
            );
            let ours = ok(&nacre(&verify, &body), &format!("{name} nacre verify"));
            assert_eq!(ours, theirs, "{name}");
            assert!(!ssh_keygen(&verify, b"other").status.success(), "{name}");
            assert_eq!(nacre(&verify, b"other").status.code(), Some(255), "{name}");

            // ssh-keygen signs, nacre verifies (from standard input, as ssh-keygen -Y sign -).
            let theirs_sig = ok(
                &ssh_keygen(
                    &["-Y", "sign", "-n", "file", "-f", s(&key), "-O", hashalg],
                    &body,
                ),
                "ssh-keygen sign",
            );
            std::fs::write(&sig, &theirs_sig).unwrap();
            let out = ok(
                &nacre(&verify, &body),
                &format!("{name} nacre verifies ssh-keygen"),
            );
            assert!(
                out.starts_with("Good \"file\" signature for me@example.com"),
                "{out}"
            );
            // Deterministic schemes give the very same bytes. (With an RSA key and sha256,
            // OpenSSH ≥ 10.0 signs rsa-sha2-256, as nacre does; older versions rsa-sha2-512.)
            let ours_sig = ok(
                &nacre(
                    &["-Y", "sign", "-n", "file", "-f", s(&key), "-O", hashalg],
                    &body,
                ),
                "nacre sign stdin",
            );
            let old_rsa = name.starts_with("rsa")
                && hashalg.ends_with("sha256")
                && String::from_utf8_lossy(&run("ssh", &["-V"], b"").stderr)
                    .starts_with("OpenSSH_9");
            if !name.starts_with("ecdsa") && !old_rsa {
                assert_eq!(ours_sig, theirs_sig, "{name} {hashalg}");
            }
            std::fs::write(&sig, &ours_sig).unwrap();
            ok(
                &ssh_keygen(&verify, &body),
                &format!("{name} stdin signature"),
            );
        }
    }
}

#[test]
fn check_novalidate_and_find_principals_print_as_ssh_keygen() {
    let dir = tempfile::tempdir().unwrap();
    let all = keys(dir.path());
    let (_, key) = &all[0];
    let (_, other) = &all[1];
    let signers = allowed(
        dir.path(),
        &[
            format!("nobody@example.com {}", pubkey(other)),
            format!("alice@example.com,*@ops.example.com {}", pubkey(key)),
        ],
    );
    let sig = ok(
        &ssh_keygen(&["-Y", "sign", "-n", "git", "-f", s(key)], b"commit"),
        "sign",
    );
    let sig_file = dir.path().join("c.sig");
    std::fs::write(&sig_file, sig).unwrap();
    for args in [
        vec!["-Y", "check-novalidate", "-n", "git", "-s", s(&sig_file)],
        vec![
            "-Y",
            "check-novalidate",
            "-n",
            "git",
            "-s",
            s(&sig_file),
            "-O",
            "print-pubkey",
        ],
        vec![
            "-Y",
            "find-principals",
            "-s",
            s(&sig_file),
            "-f",
            s(&signers),
        ],
        vec![
            "-Y",
            "match-principals",
            "-f",
            s(&signers),
            "-I",
            "bob@ops.example.com",
        ],
        vec!["-Y", "check-novalidate", "-n", "file", "-s", s(&sig_file)],
    ] {
        let (ours, theirs) = (nacre(&args, b"commit"), ssh_keygen(&args, b"commit"));
        assert_eq!(ours.stdout, theirs.stdout, "{args:?}");
        assert_eq!(ours.status.success(), theirs.status.success(), "{args:?}");
    }
}

/// allowed_signers options (`namespaces=`, `valid-after=`, `valid-before=` in local time and
/// UTC, `cert-authority`, negated and wildcard principals) give the same verdict in both.
#[test]
fn allowed_signers_options_decide_as_ssh_keygen() {
    let dir = tempfile::tempdir().unwrap();
    let all = keys(dir.path());
    let (_, key) = &all[0];
    let (_, ca) = &all[4];
    // A user certificate by ssh-keygen, signing with the certified key.
    ok(
        &ssh_keygen(
            &[
                "-q",
                "-s",
                s(ca),
                "-I",
                "cert",
                "-n",
                "carol@example.com,dan@example.com",
                "-V",
                "20200101:20300101",
                &format!("{}.pub", s(key)),
            ],
            b"",
        ),
        "certify",
    );
    let cert = format!("{}-cert.pub", s(key));
    let plain_sig = dir.path().join("plain.sig");
    let cert_sig = dir.path().join("cert.sig");
    let sign = |k: &str, out: &Path| {
        let sig = ok(
            &ssh_keygen(&["-Y", "sign", "-n", "git", "-f", k], b"data"),
            "sign",
        );
        std::fs::write(out, sig).unwrap();
    };
    sign(s(key), &plain_sig);
    sign(&cert, &cert_sig);
    let k = pubkey(key);
    let c = pubkey(ca);
    let files = [
        format!("alice@example.com namespaces=\"git,file\" {k}"),
        format!("alice@example.com namespaces=\"file\" {k}"),
        format!("\"*@example.com,!mallory@example.com\" {k}"),
        format!("alice@example.com valid-after=\"20200101\",valid-before=\"20250101120000\" {k}"),
        format!("alice@example.com valid-after=\"20240101Z\" {k}"),
        format!("*@example.com cert-authority {c}"),
        format!("carol@example.com cert-authority,namespaces=\"git\" {c}"),
        format!("alice@example.com bogus {k}"),
    ];
    for (i, line) in files.iter().enumerate() {
        let signers = dir.path().join(format!("allowed{i}"));
        std::fs::write(&signers, format!("# file {i}\n{line}\n")).unwrap();
        for who in [
            "alice@example.com",
            "mallory@example.com",
            "carol@example.com",
        ] {
            for time in ["20230601", "20260101", "20191231"] {
                for (sig, ns) in [
                    (&plain_sig, "git"),
                    (&cert_sig, "git"),
                    (&plain_sig, "file"),
                ] {
                    let args = [
                        "-Y",
                        "verify",
                        "-n",
                        ns,
                        "-f",
                        s(&signers),
                        "-I",
                        who,
                        "-s",
                        s(sig),
                        "-O",
                        &format!("verify-time={time}"),
                    ];
                    let (ours, theirs) = (nacre(&args, b"data"), ssh_keygen(&args, b"data"));
                    assert_eq!(
                        ours.status.success(),
                        theirs.status.success(),
                        "{line} {who} {time} {}: {}",
                        s(sig),
                        String::from_utf8_lossy(&theirs.stderr)
                    );
                    assert_eq!(ours.stdout, theirs.stdout, "{line} {who} {time}");
                }
            }
            let args = [
                "-Y",
                "find-principals",
                "-s",
                s(&cert_sig),
                "-f",
                s(&signers),
                "-O",
                "verify-time=20230601",
            ];
            let (ours, theirs) = (nacre(&args, b""), ssh_keygen(&args, b""));
            assert_eq!(ours.stdout, theirs.stdout, "find-principals {line}");
        }
    }
}

/// OpenSSH's SSHSIG test data checked by `nacre keygen -Y check-novalidate`, printed as
/// ssh-keygen prints it (the security key signatures included); the key types nacre lacks fail in
/// both or in nacre only.
#[test]
fn openssh_sshsig_vectors_check_as_ssh_keygen() {
    let data = std::fs::read(format!("{VECTORS}/signed-data")).unwrap();
    for name in ["ed25519", "ecdsa", "rsa", "ed25519_sk", "ecdsa_sk"] {
        let sig = format!("{VECTORS}/{name}.sig");
        let args = ["-Y", "check-novalidate", "-n", "unittest", "-s", &sig];
        let theirs = ok(&ssh_keygen(&args, &data), name);
        assert_eq!(ok(&nacre(&args, &data), name), theirs, "{name}");
        assert_eq!(nacre(&args, b"tampered").status.code(), Some(255));
    }
    for name in ["ecdsa_sk_webauthn", "mldsa44-ed25519"] {
        let sig = format!("{VECTORS}/{name}.sig");
        let args = ["-Y", "check-novalidate", "-n", "unittest", "-s", &sig];
        assert_eq!(nacre(&args, &data).status.code(), Some(255), "{name}");
    }
}

#[test]
fn signing_with_a_certificate_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let all = keys(dir.path());
    let (_, key) = &all[0];
    let (_, ca) = &all[2];
    ok(
        &nacre(
            &[
                "-q",
                "-s",
                s(ca),
                "-I",
                "c",
                "-n",
                "erin",
                &format!("{}.pub", s(key)),
            ],
            b"",
        ),
        "nacre certify",
    );
    let cert = format!("{}-cert.pub", s(key));
    let sig = ok(
        &nacre(&["-Y", "sign", "-n", "git", "-f", &cert], b"x"),
        "sign",
    );
    let sig_file = dir.path().join("x.sig");
    std::fs::write(&sig_file, sig).unwrap();
    let signers = allowed(dir.path(), &[format!("erin cert-authority {}", pubkey(ca))]);
    let args = [
        "-Y",
        "verify",
        "-n",
        "git",
        "-f",
        s(&signers),
        "-I",
        "erin",
        "-s",
        s(&sig_file),
    ];
    let theirs = ok(
        &ssh_keygen(&args, b"x"),
        "ssh-keygen verifies a cert signature",
    );
    assert!(theirs.contains("ED25519-CERT"), "{theirs}");
    assert_eq!(ok(&nacre(&args, b"x"), "nacre"), theirs);
}

/// As ssh-keygen, `-Y sign` uses the agent when it holds the key: no private key file needed;
/// a certificate in the agent is named in the signature.
#[test]
fn signing_through_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let all = keys(d);
    let (_, key) = &all[0];
    let (_, ca) = &all[1];
    ok(
        &ssh_keygen(
            &[
                "-q",
                "-s",
                s(ca),
                "-I",
                "a",
                "-n",
                "ann",
                &format!("{}.pub", s(key)),
            ],
            b"",
        ),
        "certify",
    );
    let (_agent, sock) = nacre_tests::start_agent(d, &[]);
    let added = Command::new("ssh-add")
        .arg(key)
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .unwrap();
    assert!(added.status.success(), "{added:?}");
    std::fs::remove_file(key).unwrap();
    let signers = allowed(
        d,
        &[
            format!("ann {}", pubkey(key)),
            format!("ann cert-authority {}", pubkey(ca)),
        ],
    );
    for f in [format!("{}.pub", s(key)), format!("{}-cert.pub", s(key))] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_nacre"))
            .args(["keygen", "-Y", "sign", "-n", "git", "-f", &f])
            .env("SSH_AUTH_SOCK", &sock)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(b"via agent").unwrap();
        let out = child.wait_with_output().unwrap();
        let sig = ok(&out, "nacre sign through the agent");
        let sig_file = d.join("agent.sig");
        std::fs::write(&sig_file, sig).unwrap();
        let verify = [
            "-Y",
            "verify",
            "-n",
            "git",
            "-f",
            s(&signers),
            "-I",
            "ann",
            "-s",
            s(&sig_file),
        ];
        let theirs = ok(&ssh_keygen(&verify, b"via agent"), "ssh-keygen verify");
        assert_eq!(
            theirs.contains("-CERT"),
            f.ends_with("-cert.pub"),
            "{theirs}"
        );
    }
}
