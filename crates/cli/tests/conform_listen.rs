//! `nacre conform ssh --listen`: nacre's own client passes every client check; a scripted client
//! that breaks the identification line and KEXINIT rules fails them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

const NACRE: &str = env!("CARGO_BIN_EXE_nacre");

/// Starts `nacre conform ssh --listen` on a free port, runs `client(port)`, returns the verdicts.
fn listen(client: impl FnOnce(u16)) -> BTreeMap<String, String> {
    let port = nacre_tests::free_port();
    let child = Command::new(NACRE)
        .args(["conform", "ssh", "--json", "--timeout", "5", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    client(port);
    let out = child.wait_with_output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
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

#[test]
fn nacre_client_passes_every_client_check() {
    let results = listen(|port| {
        let _ = Command::new(NACRE)
            .args(["exec", "-p", &port.to_string()])
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
            ])
            .args(["-o", "BatchMode=yes", "tester@127.0.0.1", "--", "true"])
            .env("NACRE_PASSWORD", "x")
            .output()
            .unwrap();
    });
    assert!(results.len() >= 9, "{results:?}");
    let fails: Vec<_> = results.iter().filter(|(_, v)| *v == "FAIL").collect();
    assert!(fails.is_empty(), "{results:#?}");
    assert_eq!(results["client.unimplemented"], "PASS");
    assert_eq!(results["client.ignore-debug"], "PASS");
}

#[test]
fn a_client_breaking_the_rules_fails() {
    let results = listen(|port| {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        // LF alone; IGNORE before KEXINIT; a zero cookie and a reserved field of 1.
        let mut bytes = b"SSH-2.0-broken\n".to_vec();
        bytes.extend(plain(&[2, 0, 0, 0, 0]));
        let mut k = vec![20];
        k.extend([0u8; 16]);
        for list in [
            "curve25519-sha256",
            "ssh-ed25519",
            "aes128-ctr",
            "aes128-ctr",
            "hmac-sha2-256",
            "hmac-sha2-256",
            "none",
            "none",
            "",
            "",
        ] {
            k.extend((list.len() as u32).to_be_bytes());
            k.extend(list.as_bytes());
        }
        k.push(0);
        k.extend(1u32.to_be_bytes());
        bytes.extend(plain(&k));
        s.write_all(&bytes).unwrap();
        std::thread::sleep(Duration::from_millis(1500));
    });
    for check in [
        "client.ident",
        "client.first-packet-kexinit",
        "client.kexinit-cookie",
        "client.kexinit-reserved",
    ] {
        assert_eq!(
            results.get(check).map(String::as_str),
            Some("FAIL"),
            "{check}: {results:#?}"
        );
    }
}

/// A plaintext packet (block 8, padding at least 4).
fn plain(payload: &[u8]) -> Vec<u8> {
    let mut pad = 8 - (payload.len() + 5) % 8;
    if pad < 4 {
        pad += 8;
    }
    let mut out = ((1 + payload.len() + pad) as u32).to_be_bytes().to_vec();
    out.push(pad as u8);
    out.extend_from_slice(payload);
    out.extend(std::iter::repeat_n(0, pad));
    out
}
