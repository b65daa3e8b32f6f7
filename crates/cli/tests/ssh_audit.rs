//! ssh-audit (3.9, from the project's venv) against `nacre serve` with its defaults (issue 9,
//! item 6): its JSON report must hold no `fail` at all, and no `warn` but the ones listed in
//! [`allowed_warning`]: the post-quantum note on the classical key exchanges kept for older
//! clients. The default server offers only AEAD ciphers and ETM MACs besides aes*-ctr, so no MAC
//! note is left (clients without them, like Debian 12's curl with libssh2 1.10, need
//! `-o MACs=+hmac-sha2-256`). docs/SECURITY.md, "Default algorithms", gives the reason for every
//! default.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use nacre_tests::{repo_root, require_program, run_with_timeout, ChildGuard};
use serde_json::Value;

/// ssh-audit's note on every key exchange without a post-quantum part.
const POST_QUANTUM_NOTE: &str = "does not provide protection against post-quantum attacks";

/// Starts `nacre serve` with its defaults on a free port (only the root, the state folder and a
/// password file given, none of which changes an algorithm); returns it and its address.
fn serve(dir: &std::path::Path) -> (ChildGuard, SocketAddr) {
    std::fs::create_dir_all(dir.join("root")).unwrap();
    std::fs::write(dir.join("pw"), "audit-pass\n").unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nacre"));
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .arg("--root")
        .arg(dir.join("root"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .arg("--password-file")
        .arg(dir.join("pw"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut guard = ChildGuard::spawn("nacre serve", &mut cmd);
    let stdout = guard.child_mut().stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("nacre serve ended before `listening on`")
            .unwrap();
        if let Some(addr) = line.strip_prefix("listening on ") {
            break addr.trim().parse().unwrap();
        }
    };
    // Keep reading so that the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (guard, addr)
}

/// Whether ssh-audit's `warn` note (in the report's `section`) is the one the default server
/// accepts.
fn allowed_warning(section: &str, note: &str) -> bool {
    section == "kex" && note == POST_QUANTUM_NOTE
}

/// Every `fail` and every `warn` not allowed, as "section algorithm: level: note" lines.
fn findings(report: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for section in ["kex", "key", "enc", "mac"] {
        for entry in report[section].as_array().unwrap() {
            let alg = entry["algorithm"].as_str().unwrap();
            for level in ["fail", "warn"] {
                let notes = entry["notes"][level]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                for note in notes {
                    let note = note.as_str().unwrap();
                    if level == "fail" || !allowed_warning(section, note) {
                        out.push(format!("{section} {alg}: {level}: {note}"));
                    }
                }
            }
        }
    }
    out
}

fn names(report: &Value, section: &str) -> Vec<String> {
    report[section]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["algorithm"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn ssh_audit_of_the_default_server_has_no_fail_and_no_warn_beyond_the_known_notes() {
    let ssh_audit = repo_root().join(".venv/bin/ssh-audit");
    require_program(&ssh_audit);
    let dir = tempfile::tempdir().unwrap();
    let (_server, addr) = serve(dir.path());
    let out = run_with_timeout(
        Command::new(&ssh_audit)
            .args(["-jj", "--skip-rate-test", "-t", "30", "-p"])
            .arg(addr.port().to_string())
            .arg(addr.ip().to_string()),
        Duration::from_secs(120),
    );
    // Exit status 2 means "warnings", which the allowed notes are; 1 is a connection error, 3 a fail.
    let report: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("ssh-audit's output is not JSON ({e}):\n{out}"));
    assert!(
        report["banner"]["raw"]
            .as_str()
            .unwrap()
            .starts_with("SSH-2.0-nacre_"),
        "{report:#}"
    );
    let bad = findings(&report);
    assert!(bad.is_empty(), "ssh-audit: {bad:#?}\n{report:#}");
    assert_eq!(
        report["cves"].as_array().map(Vec::len),
        Some(0),
        "{report:#}"
    );
    let kex = names(&report, "kex");
    assert_eq!(kex[0], "mlkem768x25519-sha256", "{kex:?}");
    assert!(kex.contains(&"kex-strict-s-v00@openssh.com".to_owned()));
    assert_eq!(names(&report, "key"), ["ssh-ed25519"]);
    let macs = names(&report, "mac");
    assert!(
        macs.iter().all(|m| m.ends_with("-etm@openssh.com")),
        "{macs:?}"
    );
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(2),
        "{out}"
    );
}
