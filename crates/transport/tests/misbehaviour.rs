#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! A peer that sends messages out of order: service messages before the exchange, service-layer
//! messages before a service, misplaced EXT_INFO, unknown message numbers, a rejected or changed
//! host key, and a plain DISCONNECT.

use std::sync::Arc;
use std::time::Instant;

use nacre_crypto::SeededRng;
use nacre_keys::KeyType;
use nacre_testkit::script::{
    find_disconnect, msg_numbers, unimplemented_seqs, KexInitSpec, ScriptPeer, ScriptServer,
};
use nacre_testkit::{all_host_keys, closed, host_key, HostKeyPolicy, Pair};
use nacre_transport::msg::ExtInfo;
use nacre_transport::{Config, Event, Role, Transport, TransportError};
use nacre_wire::{put, DisconnectReason, Encode, MsgNumber};

fn server() -> Transport {
    Transport::server(
        Arc::new(Config::server(all_host_keys())),
        Box::new(SeededRng::new(41)),
        Instant::now(),
    )
}

fn service_request(name: &str) -> Vec<u8> {
    let mut m = vec![MsgNumber::SERVICE_REQUEST.0];
    put::string(&mut m, name.as_bytes());
    m
}

fn ext_info() -> Vec<u8> {
    ExtInfo {
        extensions: vec![("server-sig-algs", b"ssh-ed25519".as_slice())],
    }
    .to_bytes()
}

/// The server saw the client close with this reason on the wire.
fn peer_reason(events: &[Event]) -> Option<DisconnectReason> {
    match closed(events) {
        Some(TransportError::PeerDisconnected { reason, .. }) => Some(*reason),
        _ => None,
    }
}

/// A pair through the first exchange only: no service requested yet.
fn established_pair(seed: u64) -> Pair {
    let mut pair = Pair::default_pair(seed);
    pair.drive();
    assert!(pair.client.is_established() && pair.server.is_established());
    pair
}

/// Plain packets from a scripted client to a fresh server; returns the server's DISCONNECT.
fn plain_to_server(payloads: &[Vec<u8>]) -> (Option<DisconnectReason>, TransportError) {
    let mut victim = server();
    let mut script = ScriptPeer::new(Role::Client);
    let mut bytes = script.banner();
    for p in payloads {
        bytes.extend(script.packet(p));
    }
    let mut packets = script.take(&mut victim);
    packets.extend(script.exchange(&mut victim, &bytes));
    let err = victim.close_reason().cloned().expect("server closed");
    (find_disconnect(&packets).map(|d| d.0), err)
}

#[test]
fn service_request_before_the_first_kex_completes_is_fatal() {
    for strict in [true, false] {
        let kexinit = KexInitSpec::new(Role::Client, strict).payload();
        for payloads in [
            vec![kexinit.clone(), service_request("ssh-userauth")],
            vec![service_request("ssh-userauth"), kexinit.clone()],
        ] {
            let (reason, err) = plain_to_server(&payloads);
            assert_eq!(reason, Some(DisconnectReason::PROTOCOL_ERROR), "{err:?}");
        }
    }
}

#[test]
fn service_layer_message_before_a_service_is_fatal_on_the_server() {
    // In the clear, before any exchange (CVE-2023-46446 class: no USERAUTH before keys).
    let kexinit = KexInitSpec::new(Role::Client, false).payload();
    let (reason, _) = plain_to_server(&[kexinit, vec![50, 0, 0, 0, 0]]);
    assert_eq!(reason, Some(DisconnectReason::PROTOCOL_ERROR));
    // Encrypted, after the exchange but before SERVICE_REQUEST.
    let mut pair = established_pair(42);
    pair.client.send_raw(&[50, 0, 0, 0, 1, b'u']);
    pair.drive();
    assert!(matches!(
        closed(&pair.server_events),
        Some(TransportError::UnexpectedMessage {
            msg: MsgNumber::USERAUTH_REQUEST,
            ..
        })
    ));
    assert_eq!(
        peer_reason(&pair.client_events),
        Some(DisconnectReason::PROTOCOL_ERROR)
    );
    assert!(pair.server_packets().is_empty());
}

#[test]
fn userauth_success_before_service_accept_is_fatal_on_the_client() {
    let mut pair = established_pair(43);
    // The client asks for a service; USERAUTH_SUCCESS arrives before SERVICE_ACCEPT.
    pair.server.send_raw(&[MsgNumber::USERAUTH_SUCCESS.0]);
    pair.client.request_service("ssh-userauth");
    pair.drive();
    assert!(matches!(
        closed(&pair.client_events),
        Some(TransportError::UnexpectedMessage {
            msg: MsgNumber::USERAUTH_SUCCESS,
            ..
        })
    ));
    assert!(pair.client_packets().is_empty());
    assert_eq!(
        peer_reason(&pair.server_events),
        Some(DisconnectReason::PROTOCOL_ERROR)
    );
}

#[test]
fn unrequested_service_accept_and_unknown_service_are_refused() {
    let mut pair = established_pair(44);
    let mut accept = vec![MsgNumber::SERVICE_ACCEPT.0];
    put::string(&mut accept, b"ssh-userauth");
    pair.server.send_raw(&accept);
    pair.drive();
    assert!(matches!(
        closed(&pair.client_events),
        Some(TransportError::UnexpectedMessage {
            msg: MsgNumber::SERVICE_ACCEPT,
            ..
        })
    ));
    let mut pair = established_pair(45);
    pair.client.request_service("ssh-connection");
    pair.drive();
    assert!(matches!(
        closed(&pair.server_events),
        Some(TransportError::ServiceNotAvailable(s)) if s == "ssh-connection"
    ));
    assert_eq!(
        peer_reason(&pair.client_events),
        Some(DisconnectReason::SERVICE_NOT_AVAILABLE)
    );
    // A second SERVICE_REQUEST once the user is authenticated (before that, a repeated
    // "ssh-userauth" is answered again: tests/tolerance.rs) gets UNIMPLEMENTED and the
    // connection goes on, as with sshd (Twisted Conch sends one after each re-exchange).
    let mut pair = Pair::default_pair(46);
    pair.connect();
    pair.client.send_raw(&service_request("ssh-userauth"));
    pair.drive();
    assert!(
        closed(&pair.server_events).is_none(),
        "the server carries on"
    );
    assert!(
        closed(&pair.client_events).is_none(),
        "UNIMPLEMENTED is not fatal"
    );
    assert!(!pair.server.is_closed() && !pair.client.is_closed());
}

/// RFC 8308 §2.4: the server's second chance is immediately before USERAUTH_SUCCESS.
#[test]
fn late_ext_info_from_the_server_must_precede_userauth_success() {
    let mut pair = Pair::default_pair(47);
    pair.client.request_service("ssh-userauth");
    pair.drive();
    pair.server.send_raw(&ext_info());
    pair.server.send_raw(&[MsgNumber::USERAUTH_SUCCESS.0]);
    pair.drive();
    assert!(
        closed(&pair.client_events).is_none(),
        "{:?}",
        pair.client_events
    );
    assert_eq!(pair.client_packets(), vec![vec![52]]);
    let ext_infos = pair
        .client_events
        .iter()
        .filter(|e| matches!(e, Event::ExtInfo(_)))
        .count();
    assert_eq!(ext_infos, 2);

    // CVE-2023-46445 class: EXT_INFO followed by anything else.
    let mut pair = Pair::default_pair(48);
    pair.client.request_service("ssh-userauth");
    pair.drive();
    pair.server.send_raw(&ext_info());
    pair.server
        .send_raw(&[MsgNumber::USERAUTH_FAILURE.0, 0, 0, 0, 0, 0]);
    pair.drive();
    assert!(matches!(
        closed(&pair.client_events),
        Some(TransportError::UnexpectedMessage {
            msg: MsgNumber::USERAUTH_FAILURE,
            ..
        })
    ));
    assert!(pair.client_packets().is_empty());
    assert_eq!(
        peer_reason(&pair.server_events),
        Some(DisconnectReason::PROTOCOL_ERROR)
    );
}

#[test]
fn ext_info_from_the_server_once_authenticated_is_fatal() {
    let mut pair = Pair::default_pair(49);
    pair.connect();
    pair.server.send_raw(&ext_info());
    pair.server.send_raw(&[MsgNumber::USERAUTH_SUCCESS.0]);
    pair.drive();
    assert!(matches!(
        closed(&pair.client_events),
        Some(TransportError::UnexpectedMessage {
            msg: MsgNumber::EXT_INFO,
            ..
        })
    ));
}

/// A server may send EXT_INFO only to a client that announced ext-info-c (RFC 8308 §2.1).
#[test]
fn ext_info_to_a_client_that_did_not_ask_is_fatal() {
    let mut c = Config::client();
    c.ext_info = false;
    let mut pair = Pair::new(c, Config::server(all_host_keys()), 50);
    pair.client.request_service("ssh-userauth");
    pair.drive();
    assert!(closed(&pair.client_events).is_none());
    assert!(
        pair.client.server_sig_algs().is_none(),
        "server must not send EXT_INFO unasked"
    );
    pair.server.send_raw(&ext_info());
    pair.server.send_raw(&[MsgNumber::USERAUTH_SUCCESS.0]);
    pair.drive();
    assert!(matches!(
        closed(&pair.client_events),
        Some(TransportError::UnexpectedMessage {
            msg: MsgNumber::EXT_INFO,
            ..
        })
    ));
}

#[test]
fn late_ext_info_from_the_client_is_fatal() {
    let mut pair = Pair::default_pair(51);
    pair.connect();
    pair.client.send_raw(&ext_info());
    pair.drive();
    assert!(matches!(
        closed(&pair.server_events),
        Some(TransportError::UnexpectedMessage {
            msg: MsgNumber::EXT_INFO,
            ..
        })
    ));
    assert_eq!(
        peer_reason(&pair.client_events),
        Some(DisconnectReason::PROTOCOL_ERROR)
    );
    // Also after a re-exchange: the window exists only after the first NEWKEYS.
    let mut pair = Pair::default_pair(52);
    pair.connect();
    pair.client.rekey();
    pair.drive();
    assert_eq!(pair.client_kex_count(), 2);
    pair.client.send_raw(&ext_info());
    pair.drive();
    assert!(closed(&pair.server_events).is_some());
}

#[test]
fn host_key_rejected_by_the_application() {
    let mut pair = Pair::default_pair(53);
    pair.host_key_policy = HostKeyPolicy::Reject;
    pair.connect();
    assert_eq!(
        closed(&pair.client_events),
        Some(&TransportError::HostKeyRejected)
    );
    assert_eq!(
        peer_reason(&pair.server_events),
        Some(DisconnectReason::HOST_KEY_NOT_VERIFIABLE)
    );
    assert!(!pair.client.is_established());
}

/// A forged signature in ECDH_REPLY: the application is never asked about the key.
#[test]
fn bad_host_key_signature_is_refused_before_the_application_sees_it() {
    let mut pair = Pair::default_pair(54);
    let mut flight = 0;
    pair.client.request_service("ssh-userauth");
    pair.drive_through(|from, mut bytes| {
        if from == Role::Server {
            flight += 1;
            if flight == 2 {
                // ECDH_REPLY is the first plain packet: flip the last signature byte.
                let len = nacre_testkit::plain_packet_len(&bytes);
                let padding = bytes[4] as usize;
                bytes[len - padding - 1] ^= 1;
            }
        }
        bytes
    });
    assert!(matches!(
        closed(&pair.client_events),
        Some(TransportError::HostKey(_))
    ));
    assert!(!pair
        .client_events
        .iter()
        .any(|e| matches!(e, Event::HostKey { .. })));
    assert_eq!(
        peer_reason(&pair.server_events),
        Some(DisconnectReason::HOST_KEY_NOT_VERIFIABLE)
    );
}

/// A server that signs a re-exchange with another host key than the first.
#[test]
fn host_key_change_in_a_re_exchange_is_fatal() {
    for change in [false, true] {
        let mut victim = Transport::client(
            Arc::new(Config::client()),
            Box::new(SeededRng::new(5)),
            Instant::now(),
        );
        let mut script = ScriptServer::new(host_key(KeyType::Ed25519, 1), true);
        script.handshake(&mut victim);
        victim.set_authenticated();
        if change {
            script.host_key = host_key(KeyType::Ed25519, 2);
        }
        victim.rekey();
        let kexinit = script.pump(&mut victim);
        let after = script.kex(&mut victim, kexinit[0].payload.to_vec());
        if change {
            assert_eq!(victim.close_reason(), Some(&TransportError::HostKeyChanged));
            assert_eq!(
                find_disconnect(&after).map(|d| d.0),
                Some(DisconnectReason::HOST_KEY_NOT_VERIFIABLE)
            );
        } else {
            assert_eq!(msg_numbers(&after), vec![21]);
            assert!(!victim.is_closed());
        }
        // The application is asked about the host key only once, in the first exchange.
        let asked = script
            .events
            .iter()
            .filter(|e| matches!(e, Event::HostKey { .. }))
            .count();
        assert_eq!(asked, 1);
    }
}

#[test]
fn unknown_messages_after_connect_get_unimplemented_and_the_connection_continues() {
    let mut pair = Pair::default_pair(55);
    pair.connect();
    for n in [0u8, 8, 9, 15, 19, 22, 29, 30, 31, 40, 49] {
        pair.client.send_raw(&[n, 1, 2, 3]);
        pair.server.send_raw(&[n, 3, 2, 1]);
        pair.drive();
        assert!(
            closed(&pair.client_events).is_none(),
            "msg {n}: {:?}",
            pair.client_events
        );
        assert!(
            closed(&pair.server_events).is_none(),
            "msg {n}: {:?}",
            pair.server_events
        );
    }
    // None of them reached the application.
    assert!(pair.server_packets().is_empty() && pair.client_packets().is_empty());
    pair.client.send(&[94, 7]).unwrap();
    pair.server.send(&[94, 8]).unwrap();
    pair.drive();
    assert_eq!(pair.server_packets(), vec![vec![94, 7]]);
    assert_eq!(pair.client_packets(), vec![vec![94, 8]]);
}

/// The sequence number in UNIMPLEMENTED is the rejected packet's, in the clear (no strict kex)
/// and encrypted (a scripted server decrypts the client's answers).
#[test]
fn unimplemented_names_the_right_sequence_number() {
    let mut victim = server();
    let mut script = ScriptPeer::new(Role::Client);
    let mut bytes = script.banner();
    bytes.extend(script.packet(&[MsgNumber::IGNORE.0, 0, 0, 0, 0]));
    bytes.extend(script.packet(&KexInitSpec::new(Role::Client, false).payload()));
    bytes.extend(script.packet(&[15]));
    bytes.extend(script.packet(&[MsgNumber::DEBUG.0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
    bytes.extend(script.packet(&[25, 9, 9]));
    let mut packets = script.take(&mut victim);
    packets.extend(script.exchange(&mut victim, &bytes));
    assert_eq!(unimplemented_seqs(&packets), vec![2, 4]);
    assert!(!victim.is_closed());

    let mut victim = Transport::client(
        Arc::new(Config::client()),
        Box::new(SeededRng::new(6)),
        Instant::now(),
    );
    let mut script = ScriptServer::new(host_key(KeyType::Ed25519, 3), true);
    script.handshake(&mut victim);
    let answer = script.send(&mut victim, &[&[94, 1], &[11], &[94, 2], &[0], &[48, 1]]);
    // Strict kex: SERVICE_ACCEPT was 0, then 1..=5.
    assert_eq!(unimplemented_seqs(&answer), vec![2, 4, 5]);
    let packets: Vec<_> = script
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Packet(p) => Some(p.to_vec()),
            _ => None,
        })
        .collect();
    assert_eq!(packets, vec![vec![94, 1], vec![94, 2]]);
}

#[test]
fn disconnect_from_the_peer_is_reported_with_reason_and_text() {
    let mut pair = Pair::default_pair(56);
    pair.connect();
    pair.client
        .disconnect(DisconnectReason::BY_APPLICATION, "bye now");
    pair.drive();
    assert_eq!(
        closed(&pair.server_events),
        Some(&TransportError::PeerDisconnected {
            reason: DisconnectReason::BY_APPLICATION,
            description: "bye now".into(),
        })
    );
    assert!(pair.server.is_closed());
    // Nothing is answered to a DISCONNECT.
    let mut out = Vec::new();
    assert_eq!(pair.server.poll_transmit(&mut out), 0);
    // In the clear too, before any exchange, with an unknown reason code.
    let mut d = vec![MsgNumber::DISCONNECT.0];
    put::uint32(&mut d, 999);
    put::string(&mut d, b"go away");
    put::string(&mut d, b"");
    let (reason, err) = plain_to_server(&[d]);
    assert_eq!(reason, None);
    assert_eq!(
        err,
        TransportError::PeerDisconnected {
            reason: DisconnectReason(999),
            description: "go away".into()
        }
    );
}

#[test]
fn end_of_stream_closes_without_disconnect() {
    let mut pair = Pair::default_pair(57);
    pair.connect();
    pair.server.handle_eof();
    assert_eq!(
        pair.server.close_reason(),
        Some(&TransportError::ConnectionLost)
    );
    let mut out = Vec::new();
    assert_eq!(pair.server.poll_transmit(&mut out), 0);
    assert_eq!(
        pair.server.send(&[94]),
        Err(nacre_transport::SendError::Closed)
    );
}
