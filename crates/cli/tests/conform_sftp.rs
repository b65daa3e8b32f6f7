//! `nacre conform sftp`: each FAIL-able check is made to fail by a broken server (nacre's own
//! `sftp-server` behind tests/peers/sftp_breaker.py, which rewrites one kind of request or reply),
//! and every check passes against `nacre sftp-server` and `nacre serve`; the suite leaves nothing
//! behind.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

mod conform_support;

const NACRE: &str = env!("CARGO_BIN_EXE_nacre");

/// `nacre conform sftp --json` with `args`, run in `dir`: check name → verdict.
fn conform(dir: &Path, args: &[&str]) -> BTreeMap<String, String> {
    conform_support::conform_in(Some(dir), "sftp", args)
}

fn failed(results: &BTreeMap<String, String>) -> Vec<&str> {
    results
        .iter()
        .filter(|(_, v)| *v == "FAIL")
        .map(|(n, _)| n.as_str())
        .collect()
}

fn assert_clean(dir: &Path) {
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().starts_with("nacre-conform-"))
        .collect();
    assert!(left.is_empty(), "scratch folders left behind: {left:?}");
}

#[test]
fn nacre_sftp_server_passes_every_check() {
    let dir = tempfile::tempdir().unwrap();
    let server = format!("{NACRE} sftp-server");
    let results = conform(dir.path(), &["-D", &server]);
    assert!(results.len() > 40, "{results:?}");
    assert!(failed(&results).is_empty(), "{results:#?}");
    assert_eq!(results["sftp.pipelined"], "PASS");
    assert_eq!(results["sftp.symlink-order"], "PASS");
    assert_clean(dir.path());
}

#[test]
fn nacre_serve_passes_every_check_over_ssh() {
    let dir = tempfile::tempdir().unwrap();
    let (_serve, port) = nacre_tests::start_nacre_serve(
        Path::new(NACRE),
        dir.path(),
        "tester",
        "conform-pw",
        &["--run-as".into(), "root".into()],
    );
    let port = port.to_string();
    let known = dir.path().join("known_hosts");
    let known_opt = format!("UserKnownHostsFile={}", known.display());
    let out = Command::new(NACRE)
        .args([
            "conform",
            "sftp",
            "--json",
            "-P",
            &port,
            "-o",
            "StrictHostKeyChecking=no",
        ])
        .args(["-o", &known_opt, "tester@127.0.0.1"])
        .env("NACRE_PASSWORD", "conform-pw")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let fails: Vec<&Value> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["verdict"] == "FAIL")
        .collect();
    assert!(fails.is_empty(), "{fails:#?}");
    assert!(v["pass"].as_u64().unwrap() > 40, "{v}");
    assert_clean(dir.path());
}

#[test]
fn each_sftp_clause_broken_fails() {
    let breaker = nacre_tests::repo_root().join("tests/peers/sftp_breaker.py");
    let cases: &[(&str, &[&str])] = &[
        ("version2", &["sftp.version"]),
        (
            "eof-as-failure",
            &["sftp.read-eof", "sftp.read-beyond-eof", "sftp.readdir-eof"],
        ),
        (
            "missing-as-failure",
            &[
                "sftp.open-missing",
                "sftp.stat-missing",
                "sftp.remove-missing",
                "sftp.opendir-missing",
            ],
        ),
        (
            "errors-as-ok",
            &[
                "sftp.bad-handle",
                "sftp.closed-handle",
                "sftp.open-excl",
                "sftp.rmdir-not-empty",
                "sftp.rename-existing",
            ],
        ),
        ("short-data", &["sftp.short-read"]),
        ("ignore-append", &["sftp.open-append"]),
        ("ignore-trunc", &["sftp.open-trunc"]),
        ("ignore-excl", &["sftp.open-excl"]),
        ("fake-setstat", &["sftp.setstat-size", "sftp.setstat-times"]),
        ("fake-symlink", &["sftp.symlink-order"]),
        ("unknown-ext-ok", &["sftp.extended-unknown"]),
        ("relative-realpath", &["sftp.realpath-dot"]),
        ("small-limits", &["sftp.limits-read-honoured"]),
    ];
    for (fault, checks) in cases {
        let dir = tempfile::tempdir().unwrap();
        let server = format!(
            "python3 {} {fault} -- {NACRE} sftp-server",
            breaker.display()
        );
        let results = conform(dir.path(), &["-D", &server, "--timeout", "3"]);
        for check in *checks {
            assert_eq!(
                results.get(*check).map(String::as_str),
                Some("FAIL"),
                "{check} with {fault}: {results:#?}"
            );
        }
    }
}
