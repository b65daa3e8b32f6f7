//! `nacre conform ssh --listen`: nacre's own client passes every client check; scripted clients
//! that break the identification line, KEXINIT, EXT_INFO, authentication, connection-layer and
//! MAC rules fail them. The client connects twice (handshake; then authentication and the rest).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nacre_transport::{Config, Event, Transport};
use nacre_wire::{put, DisconnectReason};

use serde_json::Value;

const NACRE: &str = env!("CARGO_BIN_EXE_nacre");

/// Starts `nacre conform ssh --listen` on a free port, runs `client(port, n)` for its first
/// (n = 0) and second (n = 1) connection, returns the verdicts.
fn listen(mut client: impl FnMut(u16, usize)) -> BTreeMap<String, String> {
    let port = nacre_tests::free_port();
    let child = Command::new(NACRE)
        .args(["conform", "ssh", "--json", "--timeout", "5", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    client(port, 0);
    client(port, 1);
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
    let results = listen(|port, _| {
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
    assert!(results.len() >= 17, "{results:?}");
    let fails: Vec<_> = results.iter().filter(|(_, v)| *v == "FAIL").collect();
    assert!(fails.is_empty(), "{results:#?}");
    for check in [
        "client.unimplemented",
        "client.ignore-debug",
        "client.ext-info-unknown",
        "client.auth-banner-partial-failure",
        // Found by this check: nacre's client handed a GLOBAL_REQUEST that came right behind
        // USERAUTH_SUCCESS to the authentication layer and disconnected.
        "client.global-request",
        "client.after-auth.8",
    ] {
        assert_eq!(results[check], "PASS", "{check}: {results:#?}");
    }
    assert_eq!(results["client.bad-mac"], "PASS");
    // nacre ends the connection on 192–255 during authentication (deliberate, docs/CONFORMANCE.md).
    assert_eq!(results["client.during-auth.192"], "INFO");
    // nacre ignores authentication messages after USERAUTH_SUCCESS (as RFC 4252 §5.1 asks of
    // servers for USERAUTH_REQUEST).
    assert_eq!(results["client.after-auth.60"], "INFO");
}

#[test]
fn a_client_breaking_the_rules_fails() {
    let results = listen(|port, n| {
        if n == 1 {
            // Ignores the connection layer's messages and a corrupted MAC.
            return scripted(port, Fault::Ignores);
        }
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
        "client.global-request",
        "client.bad-mac",
    ] {
        assert_eq!(
            results.get(check).map(String::as_str),
            Some("FAIL"),
            "{check}: {results:#?}"
        );
    }
}

#[test]
fn a_client_failing_on_ext_info_or_the_banner_fails() {
    for (fault, check) in [
        (Fault::DropsOnExtInfo, "client.ext-info-unknown"),
        (Fault::RefusesBanner, "client.auth-banner-partial-failure"),
    ] {
        let results = listen(|port, _| scripted(port, fault));
        assert_eq!(
            results.get(check).map(String::as_str),
            Some("FAIL"),
            "{fault:?} {check}: {results:#?}"
        );
    }
    // Ignoring 192 and 255 during authentication.
    let results = listen(|port, _| scripted(port, Fault::Ignores));
    for check in ["client.during-auth.192", "client.during-auth.255"] {
        assert_eq!(results[check], "FAIL", "{check}: {results:#?}");
    }
    // Without a fault the same scripted client passes them.
    let results = listen(|port, _| scripted(port, Fault::None));
    for check in [
        "client.ext-info-unknown",
        "client.auth-banner-partial-failure",
        "client.global-request",
        "client.during-auth.192",
        "client.during-auth.255",
        "client.bad-mac",
    ] {
        assert_eq!(results[check], "PASS", "{check}: {results:#?}");
    }
}

/// What the scripted client breaks.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    /// Nothing: answers like a plain client.
    None,
    /// Disconnects with PROTOCOL_ERROR when EXT_INFO arrives.
    DropsOnExtInfo,
    /// Disconnects with PROTOCOL_ERROR on USERAUTH_BANNER.
    RefusesBanner,
    /// Ignores message numbers 128–255, after USERAUTH_SUCCESS every message of the layers above
    /// the transport, and on a MAC error neither sends DISCONNECT nor closes the socket (for 4 s).
    Ignores,
}

/// A client on nacre's sans-IO `Transport` that authenticates with `none` requests (again after
/// each USERAUTH_FAILURE), answers message numbers 128–255 with UNIMPLEMENTED and, after
/// USERAUTH_SUCCESS, GLOBAL_REQUEST with want_reply with REQUEST_FAILURE, unless `fault` says
/// otherwise.
fn scripted(port: u16, fault: Fault) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let rng = Box::new(nacre_crypto::SystemRng);
    let mut t = Transport::client(Arc::new(Config::client()), rng, Instant::now());
    t.record_received(true);
    let deadline = Instant::now() + Duration::from_secs(15);
    let (mut out, mut buf, mut authenticated) = (Vec::new(), vec![0u8; 65536], false);
    while Instant::now() < deadline {
        while let Some(ev) = t.poll_event() {
            match ev {
                Event::HostKey { .. } => t.accept_host_key(),
                Event::KexComplete { first: true, .. } => t.request_service("ssh-userauth"),
                Event::ExtInfo(_) if fault == Fault::DropsOnExtInfo => {
                    t.disconnect(DisconnectReason::PROTOCOL_ERROR, "EXT_INFO")
                }
                Event::ServiceAccepted(_) => {
                    let _ = t.send(&none_request());
                }
                Event::Packet(p) => match p[0] {
                    53 if fault == Fault::RefusesBanner => {
                        t.disconnect(DisconnectReason::PROTOCOL_ERROR, "banner")
                    }
                    51 => {
                        let _ = t.send(&none_request());
                    }
                    52 => authenticated = true,
                    _ if !authenticated || fault == Fault::Ignores => {}
                    80 if p.last() == Some(&1) => {
                        let _ = t.send(&[82]);
                    }
                    _ => {}
                },
                Event::Closed(_) if fault == Fault::Ignores => {
                    std::thread::sleep(Duration::from_secs(4));
                    return;
                }
                Event::Closed(_) => {
                    out.clear();
                    t.poll_transmit(&mut out);
                    let _ = s.write_all(&out);
                    return;
                }
                _ => {}
            }
        }
        // Message numbers the transport hands up and no layer here knows: UNIMPLEMENTED.
        for (seq, p) in t.take_received() {
            if fault != Fault::Ignores && p[0] >= 128 {
                let mut u = vec![3];
                u.extend(seq.to_be_bytes());
                t.send_raw(&u);
            }
        }
        out.clear();
        t.poll_transmit(&mut out);
        if s.write_all(&out).is_err() {
            return;
        }
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => t.handle_input(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return,
        }
    }
}

/// USERAUTH_REQUEST for `tester`, method none.
fn none_request() -> Vec<u8> {
    let mut p = vec![50];
    put::string(&mut p, b"tester");
    put::string(&mut p, b"ssh-connection");
    put::string(&mut p, b"none");
    p
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
