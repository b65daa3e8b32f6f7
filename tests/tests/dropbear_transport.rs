//! Dropbear's client sends KEXINIT with first_kex_packet_follows=1 and a guessed curve25519
//! ECDH_INIT in the same segment (PEERS.md). A server whose preferred kex differs must silently
//! ignore the guessed packet (RFC 4253 §7); one with the same preference must use it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::process::Command;
use std::time::Duration;

use nacre::transport::{Algorithms, Config, KexMethod};
use nacre_tests::{require_program, run_with_timeout, NacreServer};

fn dbclient(port: u16) -> String {
    require_program(std::path::Path::new("/usr/bin/dbclient"));
    let mut cmd = Command::new("/usr/bin/dbclient");
    cmd.args([
        "-y",
        "-y",
        "-v",
        "-p",
        &port.to_string(),
        "peer@127.0.0.1",
        "true",
    ])
    .env("DROPBEAR_PASSWORD", "x");
    let out = run_with_timeout(&mut cmd, Duration::from_secs(60));
    format!("{out}")
}

fn server(kex: Vec<KexMethod>) -> NacreServer {
    let mut config = Config::server(nacre_testkit::all_host_keys());
    config.algorithms = Algorithms {
        kex,
        ..Algorithms::server_default()
    };
    NacreServer::start(config)
}

#[test]
fn dbclient_wrong_guess_is_ignored() {
    // Our first kex differs from dbclient's first (curve25519-sha256): its guess is wrong even though
    // curve25519 is negotiated, so the guessed ECDH_INIT must be dropped and the resent one used.
    let server = server(vec![
        KexMethod::EcdhSha2Nistp256,
        KexMethod::Curve25519Sha256,
    ]);
    let out = dbclient(server.port());
    let sessions = server.sessions();
    assert_eq!(
        sessions.len(),
        1,
        "no session; server errors {:?}\n{out}",
        server.errors()
    );
    assert_eq!(
        sessions[0].negotiated.unwrap().kex,
        KexMethod::Curve25519Sha256
    );
    assert!(
        sessions[0].peer_identification.contains("dropbear"),
        "{}",
        sessions[0].peer_identification
    );
}

#[test]
fn dbclient_right_guess_is_used() {
    let server = server(vec![
        KexMethod::Curve25519Sha256,
        KexMethod::EcdhSha2Nistp256,
    ]);
    let out = dbclient(server.port());
    let sessions = server.sessions();
    assert_eq!(
        sessions.len(),
        1,
        "no session; server errors {:?}\n{out}",
        server.errors()
    );
    assert_eq!(
        sessions[0].negotiated.unwrap().kex,
        KexMethod::Curve25519Sha256
    );
}
