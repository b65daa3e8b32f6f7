//! `nacre probe --json` against sshd reports exactly what `sshd -T` says it enables.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::process::Command;

use nacre_tests::{ensure_test_user, KeyType, OpenSshServer};

fn probe(port: u16) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_nacre"))
        .args([
            "probe",
            "--json",
            "--user",
            "peer",
            "-p",
            &port.to_string(),
            "127.0.0.1",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `sshd -T` lines: "kexalgorithms a,b,c".
fn effective(sshd: &OpenSshServer, key: &str) -> Vec<String> {
    let out = Command::new("/usr/sbin/sshd")
        .arg("-T")
        .arg("-f")
        .arg(sshd.config_path())
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{key} ")))
        .unwrap_or_else(|| panic!("{key} in\n{text}"));
    line[key.len() + 1..]
        .split(',')
        .map(str::to_owned)
        .collect()
}

fn list(v: &serde_json::Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

fn check(sshd: &OpenSshServer) -> serde_json::Value {
    let report = probe(sshd.port());
    let kex: Vec<String> = list(&report, "kex_algorithms")
        .into_iter()
        .filter(|k| !k.starts_with("kex-strict-") && !k.starts_with("ext-info-"))
        .collect();
    assert_eq!(kex, effective(sshd, "kexalgorithms"));
    assert_eq!(list(&report, "ciphers_c2s"), effective(sshd, "ciphers"));
    assert_eq!(list(&report, "macs_s2c"), effective(sshd, "macs"));
    assert_eq!(report["strict_kex"], true);
    report
}

#[test]
fn default_sshd_config() {
    ensure_test_user();
    let sshd = OpenSshServer::start(&[KeyType::Ed25519, KeyType::EcdsaP256], &[]);
    let report = check(&sshd);
    let keys = report["host_keys"].as_array().unwrap();
    let ed = keys
        .iter()
        .find(|k| k["algorithm"] == "ssh-ed25519")
        .unwrap();
    let expected = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(&sshd.host_key(KeyType::Ed25519).public)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&expected.stdout).contains(ed["fingerprint"].as_str().unwrap()));
    assert!(keys.iter().any(|k| k["algorithm"] == "ecdsa-sha2-nistp256"));
    assert!(list(&report, "server_sig_algs")
        .iter()
        .any(|a| a == "rsa-sha2-512"));
    assert_eq!(
        list(&report, "auth_methods"),
        vec!["publickey".to_owned(), "password".to_owned()]
    );
    assert_eq!(
        report["terrapin_vulnerable"], false,
        "strict kex protects chacha20-poly1305"
    );
}

#[test]
fn restricted_sshd_config() {
    ensure_test_user();
    let sshd = OpenSshServer::start(
        &[KeyType::Ed25519],
        &[
            "KexAlgorithms curve25519-sha256,diffie-hellman-group14-sha1",
            "Ciphers aes128-ctr,aes256-gcm@openssh.com",
            "MACs hmac-sha1,hmac-sha2-256-etm@openssh.com",
        ],
    );
    let report = check(&sshd);
    let weak = list(&report, "weak_algorithms");
    assert!(
        weak.contains(&"diffie-hellman-group14-sha1".to_owned())
            && weak.contains(&"hmac-sha1".to_owned()),
        "{weak:?}"
    );
}
