#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Strict key exchange (OpenSSH PROTOCOL, "kex-strict-*-v00@openssh.com"): every violation ends
//! in DISCONNECT(PROTOCOL_ERROR) on the wire; sequence numbers reset at every NEWKEYS; a
//! Terrapin-style injection is caught.

use std::sync::Arc;
use std::time::Instant;

use nacre_crypto::SeededRng;
use nacre_testkit::script::{
    find_disconnect, msg_numbers, unimplemented_seqs, KexInitSpec, ScriptPeer, ScriptServer,
};
use nacre_testkit::{all_host_keys, closed, host_key, split_plain_packets, Pair};
use nacre_transport::packet::PacketWriter;
use nacre_transport::{Config, Role, Transport, TransportError};
use nacre_wire::{DisconnectReason, MsgNumber};

fn server() -> Transport {
    Transport::server(
        Arc::new(Config::server(all_host_keys())),
        Box::new(SeededRng::new(3)),
        Instant::now(),
    )
}

fn client() -> Transport {
    Transport::client(
        Arc::new(Config::client()),
        Box::new(SeededRng::new(4)),
        Instant::now(),
    )
}

/// A plausible payload for message number `n`.
fn message(n: u8) -> Vec<u8> {
    match n {
        2 => vec![2, 0, 0, 0, 1, b'x'],
        3 => vec![3, 0, 0, 0, 0],
        4 => vec![4, 1, 0, 0, 0, 2, b'h', b'i', 0, 0, 0, 0],
        _ => vec![n, 0, 0, 0, 0],
    }
}

/// Feeds the machine `victim` the script's banner and then `payloads` as plain packets; returns
/// the disconnect reason it put on the wire and its close reason.
fn violate(
    victim: &mut Transport,
    role: Role,
    payloads: &[Vec<u8>],
) -> (Option<DisconnectReason>, TransportError) {
    let mut script = ScriptPeer::new(role);
    let mut bytes = script.banner();
    for p in payloads {
        bytes.extend(script.packet(p));
    }
    let mut packets = script.take(victim);
    packets.extend(script.exchange(victim, &bytes));
    assert!(script.read_error.is_none());
    assert_eq!(
        packets.first().map(|p| p.payload[0]),
        Some(MsgNumber::KEXINIT.0)
    );
    let err = victim.close_reason().cloned().expect("victim closed");
    (find_disconnect(&packets).map(|d| d.0), err)
}

fn strict_kexinit(role: Role) -> Vec<u8> {
    KexInitSpec::new(role, true).payload()
}

#[test]
fn ignore_before_kexinit_is_fatal_for_a_server() {
    let (reason, err) = violate(
        &mut server(),
        Role::Client,
        &[message(2), strict_kexinit(Role::Client)],
    );
    assert_eq!(reason, Some(DisconnectReason::PROTOCOL_ERROR));
    assert!(matches!(err, TransportError::StrictKex(_)), "{err:?}");
}

#[test]
fn ignore_before_kexinit_is_fatal_for_a_client() {
    let (reason, err) = violate(
        &mut client(),
        Role::Server,
        &[message(2), strict_kexinit(Role::Server)],
    );
    assert_eq!(reason, Some(DisconnectReason::PROTOCOL_ERROR));
    assert!(matches!(err, TransportError::StrictKex(_)), "{err:?}");
}

/// Without strict kex on the peer's side, IGNORE before KEXINIT is fine (RFC 4253 §11.2).
#[test]
fn ignore_before_kexinit_is_fine_without_strict_kex() {
    let mut victim = server();
    let mut script = ScriptPeer::new(Role::Client);
    let mut bytes = script.banner();
    bytes.extend(script.packet(&message(2)));
    bytes.extend(script.packet(&KexInitSpec::new(Role::Client, false).payload()));
    script.take(&mut victim);
    let packets = script.exchange(&mut victim, &bytes);
    assert!(packets.is_empty(), "{packets:?}");
    assert!(!victim.is_closed() && !victim.strict_kex());
}

/// Every message outside 1, 20, 21 and 30–49 after the peer's KEXINIT and before NEWKEYS.
#[test]
fn non_kex_messages_during_initial_kex_are_fatal_both_roles() {
    let numbers: Vec<u8> = (2..=19)
        .chain(22..=29)
        .chain([50, 52, 80, 94, 128, 200, 255])
        .collect();
    for role in [Role::Client, Role::Server] {
        for &n in &numbers {
            let (mut victim, script_role) = match role {
                Role::Server => (server(), Role::Client),
                Role::Client => (client(), Role::Server),
            };
            let (reason, err) = violate(
                &mut victim,
                script_role,
                &[strict_kexinit(script_role), message(n)],
            );
            assert_eq!(
                reason,
                Some(DisconnectReason::PROTOCOL_ERROR),
                "{role:?} msg {n}"
            );
            assert!(
                matches!(err, TransportError::StrictKex(_)),
                "{role:?} msg {n}: {err:?}"
            );
        }
    }
}

/// IGNORE after the method messages, just before NEWKEYS (the Terrapin injection point).
#[test]
fn ignore_between_ecdh_init_and_newkeys_is_fatal() {
    let mut victim = server();
    let mut script = ScriptPeer::new(Role::Client);
    let key = nacre_crypto::EcdhPrivateKey::generate(
        nacre_crypto::EcdhCurve::X25519,
        &mut SeededRng::new(8),
    );
    let mut init = vec![30];
    nacre_wire::put::string(&mut init, &key.public_key());
    let mut bytes = script.banner();
    bytes.extend(script.packet(&strict_kexinit(Role::Client)));
    bytes.extend(script.packet(&init));
    bytes.extend(script.packet(&message(2)));
    script.take(&mut victim);
    let packets = script.exchange(&mut victim, &bytes);
    // The reply and NEWKEYS went out before the IGNORE was read; the DISCONNECT follows,
    // encrypted with the new keys, which the script does not have.
    assert_eq!(msg_numbers(&packets)[..2], [31, 21]);
    assert!(matches!(
        victim.close_reason(),
        Some(TransportError::StrictKex(_))
    ));
    assert_eq!(
        victim.close_reason().unwrap().reason(),
        DisconnectReason::PROTOCOL_ERROR
    );
}

#[test]
fn second_kexinit_during_kex_is_fatal_strict_or_not() {
    for strict in [true, false] {
        for (mut victim, role) in [(server(), Role::Client), (client(), Role::Server)] {
            let k = KexInitSpec::new(role, strict).payload();
            let (reason, err) = violate(&mut victim, role, &[k.clone(), k]);
            assert_eq!(
                reason,
                Some(DisconnectReason::PROTOCOL_ERROR),
                "strict {strict}"
            );
            assert!(
                matches!(
                    err,
                    TransportError::UnexpectedMessage {
                        msg: MsgNumber::KEXINIT,
                        ..
                    }
                ),
                "{err:?}"
            );
        }
    }
}

#[test]
fn strict_on_one_side_only_is_not_strict_and_still_connects() {
    for (c_strict, s_strict) in [(true, false), (false, true), (false, false), (true, true)] {
        let mut c = Config::client();
        c.strict_kex = c_strict;
        let mut s = Config::server(all_host_keys());
        s.strict_kex = s_strict;
        let mut pair = Pair::new(c, s, 21);
        pair.connect();
        assert!(
            closed(&pair.client_events).is_none(),
            "{:?}",
            pair.client_events
        );
        assert!(
            closed(&pair.server_events).is_none(),
            "{:?}",
            pair.server_events
        );
        let both = c_strict && s_strict;
        assert_eq!(pair.client.strict_kex(), both);
        assert_eq!(pair.server.strict_kex(), both);
        for _ in 0..3 {
            pair.client.rekey();
            pair.client.send(&[94, 1]).unwrap();
            pair.server.send(&[94, 2]).unwrap();
            pair.drive();
        }
        assert_eq!(pair.server_packets().len(), 3);
        assert_eq!(pair.client_packets().len(), 3);
        assert!(closed(&pair.client_events).is_none());
    }
}

/// A scripted server counts its packets; the client's UNIMPLEMENTED answers name the sequence
/// number it assigned, which shows whether it reset at NEWKEYS. Strict: reset at every NEWKEYS
/// (first and re-exchanges); not strict: never.
#[test]
fn sequence_numbers_reset_at_every_newkeys_only_under_strict_kex() {
    for strict in [true, false] {
        let mut victim = client();
        let mut script = ScriptServer::new(host_key(nacre_keys::KeyType::Ed25519, 1), strict);
        script.handshake(&mut victim);
        assert_eq!(victim.strict_kex(), strict);
        // Sent so far: KEXINIT, ECDH_REPLY, NEWKEYS, SERVICE_ACCEPT.
        let answer = script.send(&mut victim, &[&[15, 0], &[15, 1]]);
        let expected = if strict { vec![1, 2] } else { vec![4, 5] };
        assert_eq!(unimplemented_seqs(&answer), expected, "strict {strict}");
        victim.set_authenticated();
        victim.rekey();
        let kexinit = script.pump(&mut victim);
        assert_eq!(msg_numbers(&kexinit), vec![20]);
        let after = script.kex(&mut victim, kexinit[0].payload.to_vec());
        assert_eq!(msg_numbers(&after), vec![21]);
        // Re-exchange: KEXINIT, ECDH_REPLY, NEWKEYS more.
        let answer = script.send(&mut victim, &[&[15, 2]]);
        let expected = if strict { vec![0] } else { vec![9] };
        assert_eq!(unimplemented_seqs(&answer), expected, "strict {strict}");
        assert!(script.peer.read_error.is_none() && !victim.is_closed());
    }
}

/// Terrapin (CVE-2023-48795): a man in the middle adds an IGNORE before the server's NEWKEYS
/// and deletes the EXT_INFO after it. Without strict kex the client's sequence numbers line up
/// again and the truncation goes unnoticed (control); with strict kex the client disconnects.
#[test]
fn cve_2023_48795_terrapin_prefix_truncation_is_caught_by_strict_kex() {
    for strict in [false, true] {
        let mut c = Config::client();
        c.strict_kex = strict;
        c.algorithms.cipher = vec![nacre_crypto::CipherAlg::Chacha20Poly1305];
        let mut s = Config::server(all_host_keys());
        s.strict_kex = strict;
        let mut pair = Pair::new(c, s, 22);
        pair.client.request_service("ssh-userauth");
        let mut flight = 0;
        let mut ignore = PacketWriter::new([1; 32]);
        pair.drive_through(|from, bytes| {
            if from == Role::Client {
                return bytes;
            }
            flight += 1;
            if flight != 2 {
                return bytes;
            }
            // Flight 2: ECDH_REPLY, NEWKEYS (plain), EXT_INFO (encrypted) -> drop the latter.
            let (plain, ext_info) = split_plain_packets(&bytes, 2);
            assert_eq!(plain[1][5], MsgNumber::NEWKEYS.0);
            assert!(!ext_info.is_empty());
            let mut out = plain[0].clone();
            ignore.write(&mut out, &[2, 0, 0, 0, 0]).unwrap();
            out.extend_from_slice(&plain[1]);
            out
        });
        if strict {
            let err = closed(&pair.client_events).expect("client must notice");
            assert!(matches!(err, TransportError::StrictKex(_)), "{err:?}");
            assert!(matches!(
                closed(&pair.server_events),
                Some(TransportError::PeerDisconnected {
                    reason: DisconnectReason::PROTOCOL_ERROR,
                    ..
                })
            ));
        } else {
            assert!(
                closed(&pair.client_events).is_none(),
                "{:?}",
                pair.client_events
            );
            assert!(
                pair.client.server_sig_algs().is_none(),
                "EXT_INFO was deleted unnoticed"
            );
            assert!(pair.client.is_established());
        }
    }
}
