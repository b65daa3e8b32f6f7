#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Byte-split delivery, large payloads, many rekeys with data in flight, and the rekey and kex
//! timers.

use std::time::Duration;

use nacre_testkit::{all_host_keys, closed, secs, HostKeyPolicy, Pair};
use nacre_transport::{Config, Event, SendError, TransportError};

fn assert_open(pair: &Pair) {
    assert!(
        closed(&pair.client_events).is_none(),
        "client: {:?}",
        pair.client_events
    );
    assert!(
        closed(&pair.server_events).is_none(),
        "server: {:?}",
        pair.server_events
    );
}

fn payload(msg: u8, len: usize, salt: u8) -> Vec<u8> {
    let mut p = vec![msg];
    p.extend((0..len - 1).map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt)));
    p
}

fn kex_completions(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::KexComplete { .. }))
        .count()
}

#[test]
fn handshake_and_data_in_any_chunk_size() {
    let mut reference: Option<(Vec<u8>, Vec<u8>)> = None;
    let deliveries = [0usize, 1, 3, 7, 1000].map(|c| (c, false));
    // The runtime's zero-copy path (receive_buffer + process_received) decodes the same.
    let zero_copy = [0usize, 1, 1000].map(|c| (c, true));
    for (chunk, zero_copy) in deliveries.into_iter().chain(zero_copy) {
        let mut pair = Pair::default_pair(11);
        pair.chunk = chunk;
        pair.zero_copy = zero_copy;
        pair.connect();
        assert_open(&pair);
        let up = payload(94, 35_000, 1);
        let down = payload(95, 2_000, 2);
        pair.client.send(&up).unwrap();
        pair.server.send(&down).unwrap();
        pair.drive();
        assert_eq!(pair.server_packets(), vec![up], "chunk {chunk} {zero_copy}");
        assert_eq!(
            pair.client_packets(),
            vec![down],
            "chunk {chunk} {zero_copy}"
        );
        // The split must not change a single byte of what either side sends.
        match &reference {
            None => reference = Some((pair.client_wire.clone(), pair.server_wire.clone())),
            Some((c, s)) => {
                assert!(
                    *c == pair.client_wire,
                    "client bytes differ with chunk {chunk}"
                );
                assert!(
                    *s == pair.server_wire,
                    "server bytes differ with chunk {chunk}"
                );
            }
        }
    }
}

#[test]
fn payload_35000_and_near_256k_both_ways_byte_at_a_time_and_whole() {
    let max = nacre_transport::Limits::default().max_packet_len - 64;
    for chunk in [0usize, 1] {
        let mut pair = Pair::default_pair(12);
        pair.connect();
        pair.chunk = chunk;
        let sizes = [35_000usize, max];
        for (i, &n) in sizes.iter().enumerate() {
            pair.client.send(&payload(94, n, i as u8)).unwrap();
            pair.server.send(&payload(94, n, 100 + i as u8)).unwrap();
        }
        pair.drive();
        assert_open(&pair);
        let up: Vec<_> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| payload(94, n, i as u8))
            .collect();
        let down: Vec<_> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| payload(94, n, 100 + i as u8))
            .collect();
        assert!(pair.server_packets() == up, "chunk {chunk}");
        assert!(pair.client_packets() == down, "chunk {chunk}");
    }
    // One byte more than a packet can carry is refused at send().
    let mut pair = Pair::default_pair(13);
    pair.connect();
    assert_eq!(
        pair.client.send(&payload(94, max + 1, 0)),
        Err(SendError::BadPayload(max + 1))
    );
    assert_eq!(
        pair.client.send(&[3, 0, 0, 0, 0]),
        Err(SendError::BadPayload(5))
    );
    assert_eq!(pair.client.send(&[]), Err(SendError::BadPayload(0)));
}

/// 100 re-exchanges, alternating the initiator, with payloads sent before, during (queued) and
/// after each; every payload arrives once, in order, and the session id never changes.
#[test]
fn hundred_rekeys_with_data_both_ways() {
    let mut pair = Pair::default_pair(14);
    pair.connect();
    let sid = pair.client.session_id().unwrap().to_vec();
    let mut sent_up = Vec::new();
    let mut sent_down = Vec::new();
    for round in 0..100u32 {
        let a = payload(94, 100 + round as usize, round as u8);
        pair.client.send(&a).unwrap();
        sent_up.push(a);
        let b = payload(94, 200 + round as usize, round as u8);
        pair.server.send(&b).unwrap();
        sent_down.push(b);
        if round % 2 == 0 {
            pair.client.rekey();
        } else {
            pair.server.rekey();
        }
        // Sent after KEXINIT: must be held and released after our NEWKEYS.
        for k in 0..3u8 {
            let c = payload(94, 50 + k as usize, round as u8 ^ k);
            pair.client.send(&c).unwrap();
            sent_up.push(c);
            let d = payload(94, 60 + k as usize, round as u8 ^ k);
            pair.server.send(&d).unwrap();
            sent_down.push(d);
        }
        assert!(
            pair.client.in_kex() || pair.server.in_kex(),
            "round {round}"
        );
        // Deliver the initiator's flight (data + KEXINIT) only, then send more from the
        // responder, which is now in the exchange too: held until its NEWKEYS.
        let mut buf = Vec::new();
        if round % 2 == 0 {
            pair.client.poll_transmit(&mut buf);
            pair.client_wire.extend_from_slice(&buf);
            pair.server.handle_input(&buf);
            assert!(pair.server.in_kex());
            let e = payload(94, 70, round as u8);
            pair.server.send(&e).unwrap();
            sent_down.push(e);
        } else {
            pair.server.poll_transmit(&mut buf);
            pair.server_wire.extend_from_slice(&buf);
            pair.client.handle_input(&buf);
            assert!(pair.client.in_kex());
            let e = payload(94, 70, round as u8);
            pair.client.send(&e).unwrap();
            sent_up.push(e);
        }
        pair.drive();
        assert!(
            !pair.client.in_kex() && !pair.server.in_kex(),
            "round {round}"
        );
        assert_open(&pair);
        assert_eq!(kex_completions(&pair.client_events), round as usize + 2);
        assert_eq!(kex_completions(&pair.server_events), round as usize + 2);
    }
    assert!(pair.server_packets() == sent_up);
    assert!(pair.client_packets() == sent_down);
    assert_eq!(pair.client.session_id().unwrap(), &sid[..]);
    assert_eq!(pair.server.session_id().unwrap(), &sid[..]);
    let firsts = pair
        .client_events
        .iter()
        .filter(|e| matches!(e, Event::KexComplete { first: true, .. }))
        .count();
    assert_eq!(firsts, 1);
}

/// Payloads queued on the responder between the initiator's KEXINIT arriving and its own NEWKEYS
/// are delivered after the exchange, in order.
#[test]
fn send_during_responder_kex_is_queued_in_order() {
    let mut pair = Pair::default_pair(15);
    pair.connect();
    pair.client.rekey();
    let mut buf = Vec::new();
    pair.client.poll_transmit(&mut buf);
    pair.server.handle_input(&buf);
    assert!(pair.server.in_kex());
    let mut expected = Vec::new();
    for i in 0..20u8 {
        let p = payload(94, 1000, i);
        pair.server.send(&p).unwrap();
        expected.push(p);
    }
    // Nothing but kex messages leave the server before its NEWKEYS: the client would refuse a
    // service-layer message from a peer in kex.
    pair.drive();
    assert_open(&pair);
    assert!(pair.client_packets() == expected);
}

#[test]
fn send_queue_is_bounded_during_kex() {
    let mut client = Config::client();
    client.limits.max_queued_bytes = 10_000;
    let mut pair = Pair::new(client, Config::server(all_host_keys()), 16);
    pair.connect();
    pair.client.rekey();
    pair.client.send(&payload(94, 6_000, 0)).unwrap();
    assert!(!pair.client.can_send(6_000));
    assert_eq!(
        pair.client.send(&payload(94, 6_000, 1)),
        Err(SendError::Backpressure)
    );
    pair.client.send(&payload(94, 4_000, 2)).unwrap();
    pair.drive();
    assert_open(&pair);
    assert_eq!(
        pair.server_packets(),
        vec![payload(94, 6_000, 0), payload(94, 4_000, 2)]
    );
    assert!(pair.client.can_send(6_000));
}

#[test]
fn rekey_bytes_limit_triggers_automatic_rekeys() {
    let mut client = Config::client();
    client.limits.rekey_bytes = Some(64 * 1024);
    let mut pair = Pair::new(client, Config::server(all_host_keys()), 17);
    pair.connect();
    let mut sent = Vec::new();
    for i in 0..128u32 {
        let p = payload(94, 8 * 1024, i as u8);
        pair.client.send(&p).unwrap();
        sent.push(p);
        pair.drive();
    }
    assert_open(&pair);
    assert!(pair.server_packets() == sent);
    // 1 MiB in 64 KiB steps: about 16 re-exchanges after the first.
    let n = kex_completions(&pair.client_events);
    assert!((14..=18).contains(&n), "{n} exchanges");
    // Received bytes count too: the server's big replies make the client rekey.
    let before = kex_completions(&pair.client_events);
    for i in 0..32u32 {
        pair.server.send(&payload(94, 8 * 1024, i as u8)).unwrap();
        pair.drive();
    }
    assert!(kex_completions(&pair.client_events) >= before + 3);
    assert_open(&pair);
}

#[test]
fn rekey_time_triggers_with_simulated_clock() {
    let mut client = Config::client();
    client.limits.rekey_time = Some(secs(3600));
    let mut pair = Pair::new(client, Config::server(all_host_keys()), 18);
    pair.connect();
    assert_eq!(pair.client_kex_count(), 1);
    assert_eq!(pair.client.poll_timeout(), Some(pair.now + secs(3600)));
    pair.advance(secs(3599));
    assert_eq!(pair.client_kex_count(), 1);
    pair.advance(secs(1));
    assert_eq!(pair.client_kex_count(), 2);
    // The timer restarts from the re-exchange.
    assert_eq!(pair.client.poll_timeout(), Some(pair.now + secs(3600)));
    pair.advance(secs(3600));
    assert_eq!(pair.client_kex_count(), 3);
    assert_open(&pair);
    // A server without the limit has no timer once idle.
    assert_eq!(pair.server.poll_timeout(), None);
}

#[test]
fn kex_timeout_closes_a_stalled_first_exchange() {
    let mut pair = Pair::default_pair(19);
    pair.host_key_policy = HostKeyPolicy::Manual;
    pair.connect();
    assert!(pair.client.in_kex() && !pair.client.wants_input());
    let timeout = nacre_transport::Limits::default().kex_timeout;
    assert_eq!(pair.client.poll_timeout(), Some(pair.now + timeout));
    pair.advance(timeout - Duration::from_millis(1));
    assert_open(&pair);
    pair.advance(Duration::from_millis(1));
    assert!(matches!(
        closed(&pair.client_events),
        Some(TransportError::Timeout(_))
    ));
    assert!(pair.client.is_closed() && pair.server.is_closed());
    assert_eq!(pair.client.poll_timeout(), None);
}

#[test]
fn kex_timeout_closes_a_rekey_the_peer_never_answers() {
    let mut pair = Pair::default_pair(20);
    pair.connect();
    pair.advance(secs(1000));
    pair.client.rekey();
    let mut buf = Vec::new();
    pair.client.poll_transmit(&mut buf);
    pair.server.handle_input(&buf);
    let mut lost = Vec::new();
    pair.server.poll_transmit(&mut lost); // the server's answer never reaches the client
    assert!(!lost.is_empty());
    let timeout = nacre_transport::Limits::default().kex_timeout;
    assert_eq!(pair.client.poll_timeout(), Some(pair.now + timeout));
    pair.advance(timeout - Duration::from_secs(1));
    assert_open(&pair);
    pair.advance(Duration::from_secs(1));
    assert!(matches!(
        closed(&pair.client_events),
        Some(TransportError::Timeout(_))
    ));
    assert!(matches!(
        closed(&pair.server_events),
        Some(TransportError::Timeout(_))
    ));
    assert_eq!(
        TransportError::Timeout("x").reason(),
        nacre_wire::DisconnectReason::PROTOCOL_ERROR
    );
}

/// Before authentication no time-triggered rekey starts, and no timer is armed for it (a
/// deadline in the past would make a driver spin); after authentication an overdue rekey starts
/// at the next timeout.
#[test]
fn rekey_time_waits_for_authentication() {
    let mut client = Config::client();
    client.limits.rekey_time = Some(secs(60));
    let mut pair = Pair::new(client, Config::server(all_host_keys()), 23);
    pair.client.request_service("ssh-userauth");
    pair.drive();
    assert!(pair.client.is_established() && !pair.client.is_authenticated());
    assert_eq!(pair.client.poll_timeout(), None);
    pair.advance(secs(120));
    assert_eq!(pair.client_kex_count(), 1);
    assert_eq!(pair.client.poll_timeout(), None);
    pair.client.set_authenticated();
    pair.server.set_authenticated();
    let due = pair.client.poll_timeout().expect("rekey timer armed");
    assert!(due <= pair.now);
    pair.advance(Duration::ZERO);
    assert_eq!(pair.client_kex_count(), 2);
    assert_eq!(pair.client.poll_timeout(), Some(pair.now + secs(60)));
    assert_open(&pair);
}

/// As in OpenSSH, no re-exchange starts before user authentication: a request waits for
/// `set_authenticated`, and byte limits do not trigger one.
#[test]
fn rekeys_wait_for_authentication() {
    let mut client = Config::client();
    client.limits.rekey_bytes = Some(16 * 1024);
    let mut pair = Pair::new(client, Config::server(all_host_keys()), 24);
    pair.client.request_service("ssh-userauth");
    pair.drive();
    for i in 0..16u8 {
        pair.client.send(&payload(94, 4096, i)).unwrap();
        pair.drive();
    }
    assert_eq!(
        pair.client_kex_count(),
        1,
        "byte limit before authentication"
    );
    pair.client.rekey();
    assert!(!pair.client.in_kex());
    pair.drive();
    assert_eq!(pair.client_kex_count(), 1);
    pair.client.set_authenticated();
    assert!(pair.client.in_kex(), "the pending rekey starts");
    pair.drive();
    assert_eq!(pair.client_kex_count(), 2);
    assert_eq!(pair.server_packets().len(), 16);
    assert_open(&pair);
}

#[test]
fn send_parts_puts_the_same_bytes_on_the_wire_as_send_of_the_whole() {
    let whole = payload(94, 40_000, 9);
    let (head, body) = whole.split_at(9);
    let mut a = Pair::default_pair(21);
    let mut b = Pair::default_pair(21);
    a.connect();
    b.connect();
    a.client.send(&whole).unwrap();
    b.client.send_parts(head, body).unwrap();
    // A message whose bytes are all in one part goes out the same way too.
    a.client.send(&whole).unwrap();
    b.client.send_parts(&[], &whole).unwrap();
    a.drive();
    b.drive();
    assert_eq!(a.client_wire, b.client_wire);
    assert_eq!(b.server_packets(), vec![whole.clone(), whole]);
    // The checks of `send` hold for the parts together.
    assert!(matches!(
        b.client.send_parts(&[20], &[]),
        Err(SendError::BadPayload(1))
    ));
}
