//! Scripted servers that break one clause each, and a runner for `nacre conform`.
#![allow(dead_code)]

pub mod mini;
pub mod proxy;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Runs `nacre conform <suite> --json` with `args`; returns check name → verdict.
pub fn conform(suite: &str, args: &[&str]) -> BTreeMap<String, String> {
    conform_in(None, suite, args)
}

/// [`conform`] run in the folder `dir` (the SFTP suite's scratch folder is made there).
pub fn conform_in(dir: Option<&Path>, suite: &str, args: &[&str]) -> BTreeMap<String, String> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nacre"));
    cmd.arg("conform").arg(suite).arg("--json").args(args);
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    let out = cmd.output().expect("run nacre conform");
    assert!(
        out.status.success(),
        "nacre conform failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["verdict"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// An ed25519 key pair in `dir` (by ssh-keygen): (private key file, the key).
pub fn key(dir: &Path, name: &str) -> (std::path::PathBuf, nacre_keys::PrivateKey) {
    let pair = nacre_tests::KeyPair::generate(dir, name, nacre_tests::KeyType::Ed25519);
    let bytes = std::fs::read(&pair.private).unwrap();
    let key = nacre_keys::PrivateKey::from_file_bytes(&bytes, None).unwrap();
    (pair.private, key)
}
