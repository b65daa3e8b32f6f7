//! Compression in the transport (RFC 4253 §6.2; OpenSSH PROTOCOL "zlib@openssh.com"): `zlib`
//! from NEWKEYS, `zlib@openssh.com` from USERAUTH_SUCCESS (sent by the server, received by the
//! client), one stream per direction restarted at every NEWKEYS, and the inflate bound.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use nacre_testkit::{all_host_keys, closed, Pair};
use nacre_transport::config::{compression_default, compression_preferred};
use nacre_transport::{CompressionAlg, Config, Event, TransportError};
use nacre_wire::DisconnectReason;

fn pair(client: Vec<CompressionAlg>, server: Vec<CompressionAlg>, seed: u64) -> Pair {
    let mut c = Config::client();
    c.algorithms.compression = client;
    let mut s = Config::server(all_host_keys());
    s.algorithms.compression = server;
    Pair::new(c, s, seed)
}

/// Channel-data-like payloads: compressible text with a counter.
fn payload(i: u32, len: usize) -> Vec<u8> {
    numbered(94, i, len)
}

fn numbered(msg: u8, i: u32, len: usize) -> Vec<u8> {
    let mut p = vec![msg];
    p.extend_from_slice(&i.to_be_bytes());
    while p.len() < len {
        p.extend_from_slice(b"the quick brown fox jumps over the lazy dog ");
    }
    p.truncate(len);
    p
}

fn negotiated(p: &Pair) -> (CompressionAlg, CompressionAlg) {
    let n = p.client.negotiated().unwrap();
    (n.compression_c2s, n.compression_s2c)
}

/// Sends `count` payloads each way with a re-exchange in the middle; every payload arrives
/// intact and in order, and the wire carries far fewer bytes than the payloads.
fn exchange_with_rekey(p: &mut Pair, count: u32) {
    let (c0, s0) = (p.client_wire.len(), p.server_wire.len());
    let mut plain = 0usize;
    for i in 0..count {
        let len = 200 + (i as usize * 613) % 30_000;
        plain += len;
        p.client.send(&numbered(95, i, len)).unwrap();
        p.server.send(&numbered(95, i, len)).unwrap();
        if i == count / 2 {
            p.client.rekey();
        }
        p.drive();
    }
    assert!(
        closed(&p.client_events).is_none(),
        "{:?}",
        p.client_events.last()
    );
    assert!(
        closed(&p.server_events).is_none(),
        "{:?}",
        p.server_events.last()
    );
    assert!(p.client_kex_count() >= 2, "a re-exchange ran");
    for got in [p.server_packets(), p.client_packets()] {
        let got: Vec<_> = got.into_iter().filter(|x| x[0] == 95).collect();
        assert_eq!(got.len(), count as usize);
        for (i, g) in got.iter().enumerate() {
            assert_eq!(*g, numbered(95, i as u32, g.len()));
        }
    }
    let (c, s) = (p.client_wire.len() - c0, p.server_wire.len() - s0);
    assert!(
        c < plain / 4 && s < plain / 4,
        "{c} and {s} wire bytes for {plain}"
    );
}

#[test]
fn zlib_compresses_from_the_first_newkeys_across_a_re_exchange() {
    let mut p = pair(vec![CompressionAlg::Zlib], vec![CompressionAlg::Zlib], 1);
    p.client.request_service("ssh-userauth");
    p.drive();
    assert_eq!(negotiated(&p), (CompressionAlg::Zlib, CompressionAlg::Zlib));
    // Before any authentication: `zlib` is in force from NEWKEYS.
    assert_eq!(p.client.compressing(), (true, true));
    assert_eq!(p.server.compressing(), (true, true));
    p.client.set_authenticated();
    p.server.set_authenticated();
    exchange_with_rekey(&mut p, 200);
}

/// Delayed compression starts with the packet after USERAUTH_SUCCESS: on the server as soon
/// as it wrote it, on the client as soon as it read it (even when the server's next packets
/// arrive in the same read), then survives re-exchanges.
#[test]
fn delayed_compression_starts_exactly_at_userauth_success() {
    for chunk in [0, 1, 7] {
        let mut p = pair(compression_preferred(), compression_default(), 2);
        p.chunk = chunk;
        p.client.request_service("ssh-userauth");
        p.drive();
        let zo = CompressionAlg::ZlibOpenssh;
        assert_eq!(negotiated(&p), (zo, zo));
        assert_eq!(p.client.compressing(), (false, false));
        assert_eq!(p.server.compressing(), (false, false));
        // Authentication traffic goes uncompressed (a failure, then the success).
        p.client.send(&[50, 1, 2, 3]).unwrap();
        p.drive();
        p.server.send(&[51, 0, 0, 0, 0, 0]).unwrap();
        p.drive();
        assert_eq!(p.client.compressing(), (false, false));
        let wire_before = p.server_wire.len();
        p.server.send(&[52]).unwrap();
        // The server compresses what follows at once, and inflates the client's next packet.
        assert_eq!(p.server.compressing(), (true, true));
        let wire_success = p.server_wire.len();
        assert_eq!(wire_before, wire_success, "nothing transmitted yet");
        p.server.send(&payload(0, 5000)).unwrap();
        p.server.send(&payload(1, 5000)).unwrap();
        p.drive();
        assert_eq!(p.client.compressing(), (true, true), "chunk {chunk}");
        assert_eq!(p.server.compressing(), (true, true));
        let got = p.client_packets();
        assert_eq!(got[got.len() - 3], vec![52]);
        assert_eq!(got[got.len() - 2], payload(0, 5000));
        assert_eq!(got[got.len() - 1], payload(1, 5000));
        assert!(p.server_wire.len() - wire_success < 2000, "compressed");
        p.client.set_authenticated();
        p.server.set_authenticated();
        p.chunk = 0;
        exchange_with_rekey(&mut p, 60);
    }
}

/// The client's USERAUTH_SUCCESS (nonsense, but possible) does not start compression; nor
/// does a server's USERAUTH_SUCCESS start `none`.
#[test]
fn only_the_servers_userauth_success_starts_delayed_compression() {
    let mut p = pair(compression_preferred(), compression_default(), 3);
    p.client.request_service("ssh-userauth");
    p.drive();
    p.client.send(&[52]).unwrap();
    p.drive();
    assert_eq!(p.client.compressing(), (false, false));
    assert_eq!(p.server.compressing(), (false, false));

    let mut p = pair(vec![CompressionAlg::None], compression_default(), 4);
    p.client.request_service("ssh-userauth");
    p.drive();
    p.server.send(&[52]).unwrap();
    p.drive();
    assert_eq!(p.client.compressing(), (false, false));
    assert_eq!(p.server.compressing(), (false, false));
    assert_eq!(negotiated(&p), (CompressionAlg::None, CompressionAlg::None));
}

/// Defaults: a client offers `none` first (no compression unless asked), the server
/// compresses after authentication when the client asks; a client wanting only zlib and a
/// server without it fail negotiation.
#[test]
fn negotiation_follows_the_clients_order() {
    let mut p = Pair::default_pair(5);
    p.connect();
    assert_eq!(negotiated(&p), (CompressionAlg::None, CompressionAlg::None));

    let mut p = pair(vec![CompressionAlg::Zlib], compression_default(), 6);
    p.client.request_service("ssh-userauth");
    p.drive();
    assert!(matches!(
        closed(&p.client_events),
        Some(TransportError::NoCommonAlgorithm { category, .. }) if category.contains("compression")
    ));
}

/// A decompression bomb after USERAUTH_SUCCESS: a payload that inflates past the server's
/// packet limit ends the connection with COMPRESSION_ERROR, without the server's buffers
/// growing; the client sees the reason in the DISCONNECT.
#[test]
fn a_decompression_bomb_is_a_disconnect_with_compression_error() {
    let mut c = Config::client();
    c.algorithms.compression = compression_preferred();
    c.limits.max_packet_len = 64 << 20; // the attacker's own limit
    let mut p = Pair::new(c, Config::server(all_host_keys()), 7);
    p.client.request_service("ssh-userauth");
    p.drive();
    p.server.send(&[52]).unwrap();
    p.drive();
    let mut bomb = vec![94u8];
    bomb.resize(16 << 20, 0);
    p.client.send_raw(&bomb);
    let mut wire = Vec::new();
    p.client.poll_transmit(&mut wire);
    assert!(wire.len() < 64 * 1024, "{} bytes carry 16 MiB", wire.len());
    p.server.handle_input(&wire);
    assert!(matches!(
        p.server.close_reason(),
        Some(TransportError::Compression(_))
    ));
    let b = p.server.buffered();
    assert!(b.input < 64 * 1024 && b.events < 16, "{b:?}");
    p.drive();
    let reason = p.client_events.iter().find_map(|e| match e {
        Event::Closed(TransportError::PeerDisconnected { reason, .. }) => Some(*reason),
        _ => None,
    });
    assert_eq!(reason, Some(DisconnectReason::COMPRESSION_ERROR));
}
