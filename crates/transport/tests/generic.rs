#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Generic transport messages after the exchange (RFC 4253 §11): IGNORE, DEBUG, UNIMPLEMENTED,
//! and malformed or out-of-place transport messages.

use nacre_testkit::{closed, Pair};
use nacre_transport::{Event, TransportError};
use nacre_wire::{put, DisconnectReason, MsgNumber};

fn connected(seed: u64) -> Pair {
    let mut pair = Pair::default_pair(seed);
    pair.connect();
    assert!(closed(&pair.client_events).is_none());
    pair
}

fn peer_reason(events: &[Event]) -> Option<DisconnectReason> {
    match closed(events) {
        Some(TransportError::PeerDisconnected { reason, .. }) => Some(*reason),
        _ => None,
    }
}

#[test]
fn ignore_and_debug_are_accepted_and_debug_is_reported() {
    let mut pair = connected(101);
    pair.client.send_ignore(b"padding");
    pair.client.send_ignore(&[0; 5000]);
    let mut debug = vec![MsgNumber::DEBUG.0, 1];
    put::string(&mut debug, "caf\u{e9} ok".as_bytes());
    put::string(&mut debug, b"en");
    pair.server.send_raw(&debug);
    // Some implementations leave out the language tag.
    let mut short = vec![MsgNumber::DEBUG.0, 0];
    put::string(&mut short, b"x");
    pair.server.send_raw(&short);
    pair.drive();
    assert!(closed(&pair.client_events).is_none() && closed(&pair.server_events).is_none());
    let debugs: Vec<_> = pair
        .client_events
        .iter()
        .filter_map(|e| match e {
            Event::Debug {
                always_display,
                message,
            } => Some((*always_display, message.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        debugs,
        vec![(true, "caf\u{e9} ok".to_owned()), (false, "x".to_owned())]
    );
    assert!(pair.server_packets().is_empty() && pair.client_packets().is_empty());
}

#[test]
fn malformed_generic_messages_are_protocol_errors() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("IGNORE without its string", vec![2]),
        (
            "IGNORE with a string longer than the packet",
            vec![2, 0, 0, 1, 0, 1],
        ),
        ("IGNORE with trailing data", vec![2, 0, 0, 0, 0, 9]),
        ("DEBUG truncated", vec![4, 1, 0, 0]),
        ("UNIMPLEMENTED truncated", vec![3, 0, 0]),
        ("DISCONNECT truncated", vec![1, 0, 0, 0, 2]),
        ("NEWKEYS with trailing data", vec![21, 0]),
        ("KEXINIT truncated", vec![20, 1, 2, 3]),
    ];
    for (i, (what, payload)) in cases.into_iter().enumerate() {
        let mut pair = connected(110 + i as u64);
        pair.client.send_raw(&payload);
        pair.drive();
        let err = closed(&pair.server_events).unwrap_or_else(|| panic!("{what}: still open"));
        assert!(
            matches!(err, TransportError::Malformed { .. }),
            "{what}: {err:?}"
        );
        assert_eq!(
            peer_reason(&pair.client_events),
            Some(DisconnectReason::PROTOCOL_ERROR),
            "{what}"
        );
    }
}

#[test]
fn newkeys_outside_an_exchange_is_fatal() {
    let mut pair = connected(120);
    pair.client.send_raw(&[MsgNumber::NEWKEYS.0]);
    pair.drive();
    assert!(matches!(
        closed(&pair.server_events),
        Some(TransportError::UnexpectedMessage {
            msg: MsgNumber::NEWKEYS,
            ..
        })
    ));
    // NEWKEYS before the method finished: right after the KEXINITs of a re-exchange.
    let mut pair = connected(121);
    pair.client.rekey();
    pair.client.send_raw(&[MsgNumber::NEWKEYS.0]);
    pair.drive();
    assert!(matches!(
        closed(&pair.server_events),
        Some(TransportError::UnexpectedMessage {
            msg: MsgNumber::NEWKEYS,
            ..
        })
    ));
}

#[test]
fn kex_method_message_outside_an_exchange_is_unimplemented_not_fatal() {
    let mut pair = connected(122);
    pair.server.send_raw(&[31, 0, 0, 0, 0]);
    pair.client.send_raw(&[30, 0, 0, 0, 0]);
    pair.drive();
    assert!(closed(&pair.client_events).is_none() && closed(&pair.server_events).is_none());
    pair.client.rekey();
    pair.drive();
    assert_eq!(pair.client_kex_count(), 2);
}

#[test]
fn unimplemented_answers_are_accepted() {
    let mut pair = connected(123);
    let mut u = vec![MsgNumber::UNIMPLEMENTED.0];
    put::uint32(&mut u, 12345);
    pair.client.send_raw(&u);
    pair.drive();
    assert!(closed(&pair.server_events).is_none());
}
