#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! The binary packet protocol under attack: absurd lengths, bad padding, misalignment, empty
//! payloads, and a flipped bit in every byte of every cipher's tag or MAC.

use std::sync::Arc;
use std::time::Instant;

use nacre_crypto::{CipherAlg, MacAlg, SeededRng};
use nacre_testkit::script::{find_disconnect, raw_packet, ScriptPeer};
use nacre_testkit::{all_host_keys, closed, Pair};
use nacre_transport::{Config, Role, Transport, TransportError};
use nacre_wire::DisconnectReason;

fn victim(role: Role) -> Transport {
    let now = Instant::now();
    match role {
        Role::Server => Transport::server(
            Arc::new(Config::server(all_host_keys())),
            Box::new(SeededRng::new(71)),
            now,
        ),
        Role::Client => Transport::client(
            Arc::new(Config::client()),
            Box::new(SeededRng::new(72)),
            now,
        ),
    }
}

/// Feeds `bytes` after a banner to a fresh machine of `role`; returns its DISCONNECT on the wire.
fn feed(role: Role, bytes: &[u8]) -> (Transport, Option<DisconnectReason>) {
    let mut v = victim(role);
    let other = if role == Role::Server {
        Role::Client
    } else {
        Role::Server
    };
    let mut script = ScriptPeer::new(other);
    let mut input = script.banner();
    input.extend_from_slice(bytes);
    let mut packets = script.take(&mut v);
    packets.extend(script.exchange(&mut v, &input));
    let d = find_disconnect(&packets).map(|d| d.0);
    (v, d)
}

/// russh CVE-2024-43410: a packet_length of 0xFFFFFFF0 (or just past 256 KiB) made the reader
/// allocate what the peer announced. Here the 4 length bytes alone decide: closed at once, no
/// buffer of that size. Also the libssh2 CVE-2019-3855 length overflow class.
#[test]
fn cve_2024_43410_absurd_packet_lengths_close_at_once_without_waiting_for_the_body() {
    for role in [Role::Server, Role::Client] {
        for len in [0xFFFF_FFF0u32, 0xFFFF_FFFF, 262_145, 1 << 20, 0, 1, 4] {
            // Only the 4 length bytes: the machine must decide without more input.
            let (v, d) = feed(role, &len.to_be_bytes());
            assert!(
                matches!(v.close_reason(), Some(TransportError::PacketLength { len: l, .. }) if *l == len),
                "{role:?} {len}: {:?}",
                v.close_reason()
            );
            assert_eq!(d, Some(DisconnectReason::PROTOCOL_ERROR), "{role:?} {len}");
        }
        // The largest aligned length within 256 KiB is acceptable: the machine waits for it.
        let (v, d) = feed(role, &262_140u32.to_be_bytes());
        assert!(
            !v.is_closed() && d.is_none(),
            "{role:?}: {:?}",
            v.close_reason()
        );
    }
}

#[test]
fn bad_padding_misalignment_and_empty_payload_are_fatal() {
    let payload = [2u8, 0, 0, 0, 3, b'a', b'b', b'c']; // IGNORE "abc", 8 bytes
    let cases: Vec<(&str, Vec<u8>)> = vec![
        // 1 + 8 + 3 = 12; 4 + 12 = 16 is aligned, but padding < 4.
        (
            "padding 3",
            raw_packet(12, 3, &[&payload[..], &[0; 3]].concat()),
        ),
        (
            "padding 0",
            raw_packet(12, 0, &[&payload[..], &[0; 3]].concat()),
        ),
        // padding_length >= packet_length.
        ("padding = length", raw_packet(12, 12, &[0; 11])),
        ("padding 255", raw_packet(12, 255, &[0; 11])),
        // 4 + 13 = 17 is not a multiple of 8.
        (
            "misaligned",
            raw_packet(13, 4, &[&payload[..], &[0; 4]].concat()),
        ),
        ("misaligned small", raw_packet(9, 4, &[0; 8])),
        // No payload byte: only padding.
        ("empty payload", raw_packet(12, 11, &[0; 11])),
        ("empty payload, minimal", raw_packet(12, 11, &[7; 11])),
    ];
    for role in [Role::Server, Role::Client] {
        for (what, bytes) in &cases {
            let (v, d) = feed(role, bytes);
            let err = v.close_reason().cloned();
            assert!(
                matches!(
                    err,
                    Some(
                        TransportError::Padding { .. }
                            | TransportError::PacketAlignment { .. }
                            | TransportError::EmptyPayload
                    )
                ),
                "{role:?} {what}: {err:?}"
            );
            assert_eq!(d, Some(DisconnectReason::PROTOCOL_ERROR), "{role:?} {what}");
        }
        // Control: the same framing with an IGNORE and 6 bytes of padding is fine.
        let ok = raw_packet(12, 6, &[2, 0, 0, 0, 0, 9, 9, 9, 9, 9, 9]);
        let (v, d) = feed(role, &ok);
        assert!(
            !v.is_closed() && d.is_none(),
            "{role:?}: {:?}",
            v.close_reason()
        );
    }
}

/// Ciphers whose length travels in the clear (GCM, ETM MACs): a man in the middle rewrites it.
#[test]
fn rewritten_clear_length_after_keys_closes_at_once() {
    for (cipher, mac) in [
        (CipherAlg::Aes128Gcm, MacAlg::HmacSha256),
        (CipherAlg::Aes256Ctr, MacAlg::HmacSha256Etm),
    ] {
        let mut pair = connected(cipher, mac, 73);
        pair.client.send(&[94; 100]).unwrap();
        let mut bytes = Vec::new();
        pair.client.poll_transmit(&mut bytes);
        bytes[..4].copy_from_slice(&0xFFFF_FFF0u32.to_be_bytes());
        pair.server.handle_input(&bytes[..4]);
        assert!(
            matches!(
                pair.server.close_reason(),
                Some(TransportError::PacketLength { .. })
            ),
            "{cipher:?}: {:?}",
            pair.server.close_reason()
        );
    }
}

fn connected(cipher: CipherAlg, mac: MacAlg, seed: u64) -> Pair {
    let mut c = Config::client();
    c.algorithms.cipher = vec![cipher];
    c.algorithms.mac = vec![mac];
    let mut s = Config::server(all_host_keys());
    s.algorithms.mac = MacAlg::ALL.to_vec();
    let mut pair = Pair::new(c, s, seed);
    pair.connect();
    assert!(closed(&pair.client_events).is_none());
    let n = pair.client.negotiated().unwrap();
    assert_eq!(n.cipher_c2s, cipher);
    pair
}

fn tag_len(cipher: CipherAlg, mac: MacAlg) -> usize {
    if cipher.is_aead() {
        16
    } else {
        mac.tag_len()
    }
}

/// Flips one bit of `byte_at(len, tag_len)` in one client packet after connect; the server must
/// close with MAC_ERROR and tell the client so.
fn flip_and_check(
    cipher: CipherAlg,
    mac: MacAlg,
    seed: u64,
    byte_at: impl Fn(usize, usize) -> usize,
) {
    let mut pair = connected(cipher, mac, seed);
    pair.client.send(&[94, 1, 2, 3, 4, 5, 6, 7, 8, 9]).unwrap();
    let mut bytes = Vec::new();
    pair.client.poll_transmit(&mut bytes);
    let i = byte_at(bytes.len(), tag_len(cipher, mac));
    bytes[i] ^= 0x01;
    pair.server.handle_input(&bytes);
    assert_eq!(
        pair.server.close_reason(),
        Some(&TransportError::Mac),
        "{cipher:?} {mac:?} byte {i} of {}",
        bytes.len()
    );
    assert_eq!(TransportError::Mac.reason(), DisconnectReason::MAC_ERROR);
    pair.drive();
    assert!(pair.server_packets().is_empty());
    assert!(matches!(
        closed(&pair.client_events),
        Some(TransportError::PeerDisconnected {
            reason: DisconnectReason::MAC_ERROR,
            ..
        })
    ));
}

fn combos() -> Vec<(CipherAlg, MacAlg)> {
    let mut v = Vec::new();
    for &cipher in CipherAlg::ALL {
        if cipher.is_aead() {
            v.push((cipher, MacAlg::HmacSha256));
        } else {
            v.extend(MacAlg::ALL.iter().map(|&m| (cipher, m)));
        }
    }
    v
}

#[test]
fn flipped_tag_byte_is_a_mac_error_for_every_cipher_mac_and_byte() {
    let start = Instant::now();
    let mut seed = 100;
    let mut cases = 0;
    for (cipher, mac) in combos() {
        for i in 0..tag_len(cipher, mac) {
            seed += 1;
            flip_and_check(cipher, mac, seed, |len, tag| len - tag + i);
            cases += 1;
        }
    }
    eprintln!("{cases} tag flips in {:?}", start.elapsed());
}

#[test]
fn flipped_ciphertext_byte_is_a_mac_error_for_every_cipher_and_mac() {
    let mut seed = 5000;
    for (cipher, mac) in combos() {
        // The byte after the length field, and the last byte before the tag.
        for pick in [0usize, 1] {
            seed += 1;
            flip_and_check(
                cipher,
                mac,
                seed,
                |len, tag| if pick == 0 { 4 } else { len - tag - 1 },
            );
        }
    }
}
