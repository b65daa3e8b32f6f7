//! Rekeying triggered by the packet count, and DH group exchange with groups from an OpenSSH
//! moduli file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use nacre_testkit::{all_host_keys, closed, Pair};
use nacre_transport::{Algorithms, Config, KexMethod};

#[test]
fn packet_count_triggers_rekeys() {
    let mut client = Config::client();
    client.limits.rekey_packets = 50;
    let mut pair = Pair::new(client, Config::server(all_host_keys()), 3);
    pair.connect();
    let before = pair.client_kex_count();
    for i in 0..400u32 {
        let mut payload = vec![94u8];
        payload.extend_from_slice(&i.to_be_bytes());
        pair.client.send(&payload).unwrap();
        pair.drive();
    }
    assert!(closed(&pair.client_events).is_none() && closed(&pair.server_events).is_none());
    let rekeys = pair.client_kex_count() - before;
    assert!(
        (7..=9).contains(&rekeys),
        "{rekeys} rekeys for 400 packets with a 50-packet limit"
    );
    let got = pair.server_packets();
    assert_eq!(got.len(), 400, "every payload arrived, in order");
    assert!(got
        .iter()
        .enumerate()
        .all(|(i, p)| p[1..] == (i as u32).to_be_bytes()));
}

#[test]
fn group_exchange_uses_the_moduli_file() {
    let text = std::fs::read_to_string("/etc/ssh/moduli")
        .expect("/etc/ssh/moduli (from openssh-server, installed by scripts/install-peers)");
    // Keep only the 3072-bit groups: the server must choose one of them for a 2048/3072/8192 request.
    let only_3072: String = text
        .lines()
        .filter(|l| l.split_whitespace().nth(4) == Some("3071"))
        .collect::<Vec<_>>()
        .join("\n");
    let moduli = nacre_crypto::parse_moduli(&only_3072);
    assert!(!moduli.is_empty());
    let mut server = Config::server(all_host_keys());
    server.algorithms = Algorithms {
        kex: vec![KexMethod::DhGexSha256],
        ..Algorithms::server_default()
    };
    server.gex.moduli = moduli.clone();
    let mut client = Config::client();
    client.algorithms.kex = vec![KexMethod::DhGexSha256];
    let mut pair = Pair::new(client, server, 9);
    pair.connect();
    assert!(
        closed(&pair.client_events).is_none(),
        "{:?}",
        pair.client_events
    );
    assert_eq!(
        pair.client.negotiated().unwrap().kex,
        KexMethod::DhGexSha256
    );
    // The GEX_GROUP message went out in the clear: its p is one of the file's primes.
    let sent_from_file = moduli.iter().any(|m| {
        let p = m.group.p.to_bytes_be();
        pair.server_wire.windows(p.len()).any(|w| w == p.as_slice())
    });
    assert!(
        sent_from_file,
        "the server's group is not from the moduli file"
    );
}
