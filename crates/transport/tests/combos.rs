#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Every key exchange method with every host key algorithm, and every cipher with every MAC and
//! every host key algorithm, through a full in-memory handshake and data both ways.

use std::time::Instant;

use nacre_crypto::{CipherAlg, MacAlg};
use nacre_keys::SignatureAlgorithm;
use nacre_testkit::{all_host_keys, closed, Pair};
use nacre_transport::{Algorithms, Config, Event, KexMethod, TransportError};
use nacre_wire::DisconnectReason;

fn configs(
    kex: KexMethod,
    host_key: SignatureAlgorithm,
    cipher: CipherAlg,
    mac: MacAlg,
) -> (Config, Config) {
    let mut client = Config::client();
    client.algorithms = Algorithms {
        kex: vec![kex],
        host_key: vec![host_key],
        cipher: vec![cipher],
        mac: vec![mac],
        compression: vec![nacre_transport::CompressionAlg::None],
    };
    let mut server = Config::server(all_host_keys());
    server.algorithms = Algorithms::all();
    server.algorithms.kex = vec![kex];
    (client, server)
}

/// Connects, checks the negotiated algorithms and the session id, and moves a payload each way.
fn check(kex: KexMethod, host_key: SignatureAlgorithm, cipher: CipherAlg, mac: MacAlg, seed: u64) {
    let (c, s) = configs(kex, host_key, cipher, mac);
    let mut pair = Pair::new(c, s, seed);
    pair.connect();
    let what = format!(
        "{} / {} / {} / {}",
        kex.name(),
        host_key.name(),
        cipher.name(),
        mac.name()
    );
    assert!(
        closed(&pair.client_events).is_none(),
        "{what}: client {:?}",
        pair.client_events
    );
    assert!(
        closed(&pair.server_events).is_none(),
        "{what}: server {:?}",
        pair.server_events
    );
    let sid = pair.client.session_id().expect("session id");
    assert_eq!(Some(sid), pair.server.session_id(), "{what}");
    assert_eq!(sid.len(), kex.hash().output_len(), "{what}: H length");
    let expected_mac = (!cipher.is_aead()).then_some(mac);
    for t in [&pair.client, &pair.server] {
        let n = t.negotiated().expect("negotiated");
        assert_eq!(n.kex, kex, "{what}");
        assert_eq!(n.host_key, host_key, "{what}");
        assert_eq!((n.cipher_c2s, n.cipher_s2c), (cipher, cipher), "{what}");
        assert_eq!(
            (n.mac_c2s, n.mac_s2c),
            (expected_mac, expected_mac),
            "{what}"
        );
    }
    let host = pair.client_events.iter().find_map(|e| match e {
        Event::HostKey { key, algorithm, .. } => Some((key.clone(), *algorithm)),
        _ => None,
    });
    let (key, alg) = host.expect("host key event");
    assert_eq!(alg, host_key, "{what}");
    assert_eq!(key.key_type(), host_key.key_type(), "{what}");
    let up: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    let mut up_msg = vec![94];
    up_msg.extend_from_slice(&up);
    pair.client.send(&up_msg).unwrap();
    pair.server
        .send(&[95, 1, 2, 3, (seed & 0xff) as u8])
        .unwrap();
    pair.drive();
    assert_eq!(pair.server_packets(), vec![up_msg], "{what}");
    assert_eq!(
        pair.client_packets(),
        vec![vec![95, 1, 2, 3, (seed & 0xff) as u8]],
        "{what}"
    );
}

#[test]
fn every_kex_method_with_every_host_key_algorithm() {
    let mut slow = Vec::new();
    let mut seed = 0;
    for &kex in KexMethod::ALL {
        let start = Instant::now();
        for &hk in SignatureAlgorithm::ALL {
            seed += 1;
            check(
                kex,
                hk,
                CipherAlg::Chacha20Poly1305,
                MacAlg::HmacSha256Etm,
                seed,
            );
        }
        slow.push((kex.name(), start.elapsed()));
    }
    eprintln!("per kex method (all host key algorithms): {slow:?}");
}

#[test]
fn every_cipher_with_every_mac_and_every_host_key_algorithm() {
    let start = Instant::now();
    let mut seed = 1000;
    for &cipher in CipherAlg::ALL {
        for &mac in MacAlg::ALL {
            for &hk in SignatureAlgorithm::ALL {
                seed += 1;
                check(KexMethod::Curve25519Sha256, hk, cipher, mac, seed);
            }
        }
    }
    eprintln!("cipher x mac x host key: {:?}", start.elapsed());
}

/// Legacy `ssh-rsa` is off on a default server (it is signed only when configured, as the
/// combinations above do): a client that insists on it fails cleanly during negotiation (no
/// common host key algorithm, KEY_EXCHANGE_FAILED).
#[test]
fn ssh_rsa_only_client_fails_negotiation_cleanly() {
    let (c, mut s) = configs(
        KexMethod::Curve25519Sha256,
        SignatureAlgorithm::SshRsa,
        CipherAlg::Aes128Ctr,
        MacAlg::HmacSha1,
    );
    s.algorithms.host_key = Algorithms::server_default().host_key;
    let mut pair = Pair::new(c, s, 5);
    pair.connect();
    let err = closed(&pair.server_events).expect("server closes");
    assert!(
        matches!(
            err,
            TransportError::NoCommonAlgorithm {
                category: "host key",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.reason(), DisconnectReason::KEY_EXCHANGE_FAILED);
    assert!(matches!(
        closed(&pair.client_events),
        Some(TransportError::PeerDisconnected {
            reason: DisconnectReason::KEY_EXCHANGE_FAILED,
            ..
        }) | Some(TransportError::NoCommonAlgorithm { .. })
    ));
}

/// The legacy SHA-1 kex methods and MACs are negotiated only when both sides list them.
#[test]
fn legacy_algorithms_are_not_negotiated_by_default() {
    let mut client = Config::client();
    client.algorithms.kex = vec![KexMethod::DhGroup14Sha1];
    let mut pair = Pair::new(client, Config::server(all_host_keys()), 3);
    pair.connect();
    assert!(matches!(
        closed(&pair.client_events),
        Some(TransportError::NoCommonAlgorithm {
            category: "kex",
            ..
        }) | Some(TransportError::PeerDisconnected { .. })
    ));
    // FFDH is off on a default server too.
    let mut client = Config::client();
    client.algorithms.kex = vec![KexMethod::DhGroup14Sha256];
    let mut pair = Pair::new(client, Config::server(all_host_keys()), 4);
    pair.connect();
    assert!(closed(&pair.server_events).is_some());
}
