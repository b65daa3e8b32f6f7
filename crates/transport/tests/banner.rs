#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Identification string exchange (RFC 4253 §4.2): lines before `SSH-`, length limits, versions,
//! comments, line endings and byte-at-a-time delivery.

use std::sync::Arc;
use std::time::Instant;

use nacre_crypto::SeededRng;
use nacre_testkit::script::{KexInitSpec, ScriptPeer};
use nacre_testkit::{all_host_keys, closed, Pair};
use nacre_transport::{BannerError, Config, Role, Transport, TransportError};
use nacre_wire::DisconnectReason;

fn client() -> Transport {
    Transport::client(
        Arc::new(Config::client()),
        Box::new(SeededRng::new(91)),
        Instant::now(),
    )
}

fn server() -> Transport {
    Transport::server(
        Arc::new(Config::server(all_host_keys())),
        Box::new(SeededRng::new(92)),
        Instant::now(),
    )
}

/// Feeds `input` (optionally one byte at a time) and returns the banner error, if any; checks that
/// a banner failure puts nothing on the wire beyond our own banner and KEXINIT.
fn feed(t: &mut Transport, input: &[u8], bytewise: bool) -> Option<BannerError> {
    let mut first = Vec::new();
    t.poll_transmit(&mut first);
    if bytewise {
        for b in input {
            t.handle_input(std::slice::from_ref(b));
        }
    } else {
        t.handle_input(input);
    }
    match t.close_reason().cloned() {
        Some(TransportError::Banner(e)) => {
            let mut rest = Vec::new();
            t.poll_transmit(&mut rest);
            assert!(
                rest.is_empty(),
                "no DISCONNECT packet during the banner exchange"
            );
            Some(e)
        }
        Some(other) => panic!("closed for another reason: {other:?}"),
        None => None,
    }
}

fn server_banner_and_kexinit(lines: &[u8]) -> Vec<u8> {
    let mut s = ScriptPeer::new(Role::Server);
    let mut bytes = lines.to_vec();
    bytes.extend(s.banner());
    bytes.extend(s.packet(&KexInitSpec::new(Role::Server, true).payload()));
    bytes
}

#[test]
fn client_tolerates_1024_lines_before_the_identification_and_not_1025() {
    for bytewise in [false, true] {
        let lines: Vec<u8> = (0..1024)
            .flat_map(|i| format!("line {i}\r\n").into_bytes())
            .collect();
        let mut c = client();
        assert_eq!(
            feed(&mut c, &server_banner_and_kexinit(&lines), bytewise),
            None
        );
        assert_eq!(
            c.peer_identification().unwrap().software_version,
            "script_1.0"
        );
        assert!(c.in_kex() && !c.is_closed());
        let mut more = lines.clone();
        more.extend_from_slice(b"one too many\r\n");
        let mut c = client();
        assert_eq!(
            feed(&mut c, &server_banner_and_kexinit(&more), bytewise),
            Some(BannerError::TooManyLines(1024))
        );
    }
}

#[test]
fn lines_are_limited_to_8_kib() {
    let limit = nacre_transport::Limits::default().max_banner_line_len;
    assert_eq!(limit, 8192);
    for bytewise in [false, true] {
        // A pre-identification line of exactly 8 KiB including its LF is fine; one more is not.
        let mut ok = vec![b'x'; limit - 1];
        ok.push(b'\n');
        let mut c = client();
        assert_eq!(
            feed(&mut c, &server_banner_and_kexinit(&ok), bytewise),
            None
        );
        let mut long = vec![b'x'; limit];
        long.push(b'\n');
        let mut c = client();
        assert_eq!(
            feed(&mut c, &server_banner_and_kexinit(&long), bytewise),
            Some(BannerError::LineTooLong(limit))
        );
    }
    // Without any line ending the machine gives up as soon as the limit is passed.
    let mut c = client();
    assert_eq!(feed(&mut c, &vec![b'y'; limit], false), None);
    assert_eq!(
        feed(&mut c, b"y", false),
        Some(BannerError::LineTooLong(limit))
    );
    // The identification line itself, for a server too.
    let mut id = b"SSH-2.0-".to_vec();
    id.extend(vec![b'v'; limit - id.len() - 2]);
    id.extend_from_slice(b"\r\n");
    assert_eq!(id.len(), limit);
    let mut s = server();
    assert_eq!(feed(&mut s, &id, false), None);
    assert_eq!(
        s.peer_identification().unwrap().software_version.len(),
        limit - 10
    );
    let mut id2 = id.clone();
    id2.insert(10, b'v');
    assert_eq!(
        feed(&mut server(), &id2, true),
        Some(BannerError::LineTooLong(limit))
    );
}

#[test]
fn server_accepts_no_other_line_first() {
    for input in [
        &b"hello\r\nSSH-2.0-x\r\n"[..],
        b"GET / HTTP/1.1\r\n",
        b"\r\nSSH-2.0-x\r\n",
        b"ssh-2.0-x\r\n",
    ] {
        for bytewise in [false, true] {
            assert_eq!(
                feed(&mut server(), input, bytewise),
                Some(BannerError::NotIdentification),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }
    // The server decides on the first wrong byte, without waiting for a line end.
    let mut s = server();
    assert_eq!(
        feed(&mut s, b"G", false),
        Some(BannerError::NotIdentification)
    );
    let mut s = server();
    assert_eq!(feed(&mut s, b"SSH", false), None);
    assert!(!s.is_closed());
}

#[test]
fn protocol_versions() {
    for (line, ok) in [
        (&b"SSH-2.0-x\r\n"[..], true),
        (b"SSH-1.99-OpenSSH_3.9\r\n", true),
        (b"SSH-1.5-old\r\n", false),
        (b"SSH-1.0-older\r\n", false),
        (b"SSH-2.1-future\r\n", false),
        (b"SSH-3.0-future\r\n", false),
    ] {
        for mut t in [client(), server()] {
            let err = feed(&mut t, line, false);
            if ok {
                assert_eq!(err, None, "{:?}", String::from_utf8_lossy(line));
            } else {
                assert!(
                    matches!(err, Some(BannerError::UnsupportedVersion(_))),
                    "{err:?}"
                );
                let reason = t.close_reason().unwrap().reason();
                assert_eq!(reason, DisconnectReason::PROTOCOL_VERSION_NOT_SUPPORTED);
            }
        }
    }
    let mut s = server();
    feed(&mut s, b"SSH-1.99-OpenSSH_3.9\r\n", false);
    assert_eq!(s.peer_identification().unwrap().proto_version, "1.99");
}

#[test]
fn malformed_identifications() {
    for line in [
        &b"SSH-2.0\r\n"[..],
        b"SSH-2.0-\r\n",
        b"SSH-2.0-a\x00b\r\n",
        // A software version that is not printable ASCII is accepted, as OpenSSH accepts it
        // (tests/tolerance.rs::identification_that_is_not_ascii_is_accepted).
        b"SSH-2.0-a\rb\r\n",
    ] {
        let err = feed(&mut server(), line, false);
        assert!(
            matches!(err, Some(BannerError::Malformed(_))),
            "{:?}: {err:?}",
            String::from_utf8_lossy(line)
        );
    }
}

#[test]
fn comments_are_parsed_and_sent() {
    let mut s = server();
    feed(
        &mut s,
        b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5\r\n",
        false,
    );
    let id = s.peer_identification().unwrap();
    assert_eq!(id.software_version, "OpenSSH_9.6p1");
    assert_eq!(id.comments.as_deref(), Some("Ubuntu-3ubuntu13.5"));
    assert_eq!(id.line, b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5");
    // Ours, end to end: the comment reaches the peer and is part of the hashed V_S.
    let mut sc = Config::server(all_host_keys());
    sc.comments = Some("hello world".into());
    sc.software_version = "test_1".into();
    let mut pair = Pair::new(Config::client(), sc, 93);
    pair.connect();
    assert!(closed(&pair.client_events).is_none());
    let id = pair.client.peer_identification().unwrap();
    assert_eq!(id.software_version, "test_1");
    assert_eq!(id.comments.as_deref(), Some("hello world"));
    assert_eq!(
        pair.server.our_identification(),
        b"SSH-2.0-test_1 hello world"
    );
    // Our line is capped at 255 bytes with CR LF (RFC 4253 §4.2).
    let mut long = Config::client();
    long.comments = Some("c".repeat(400));
    let t = Transport::client(Arc::new(long), Box::new(SeededRng::new(1)), Instant::now());
    assert_eq!(t.our_identification().len(), 253);
}

#[test]
fn bare_lf_line_endings_are_accepted() {
    let mut pair = Pair::default_pair(94);
    pair.client.request_service("ssh-userauth");
    let mut first = [true, true];
    pair.drive_through(|from, mut bytes| {
        let i = usize::from(from == Role::Server);
        if std::mem::take(&mut first[i]) {
            let cr = bytes.iter().position(|&b| b == b'\r').unwrap();
            assert_eq!(bytes[cr + 1], b'\n');
            bytes.remove(cr);
            if from == Role::Server {
                bytes.splice(0..0, b"a pre-banner line\n".iter().copied());
            }
        }
        bytes
    });
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
    assert!(pair.client.is_established());
    assert_eq!(pair.client.session_id(), pair.server.session_id());
}

#[test]
fn banner_split_one_byte_at_a_time() {
    let mut pair = Pair::default_pair(95);
    pair.chunk = 1;
    pair.connect();
    assert!(closed(&pair.client_events).is_none());
    assert!(pair.client.is_established());
    // With pre-banner lines too, and the identification glued to the first packet.
    let lines: Vec<u8> = (0..50)
        .flat_map(|i| format!("motd {i}\n").into_bytes())
        .collect();
    let mut c = client();
    assert_eq!(feed(&mut c, &server_banner_and_kexinit(&lines), true), None);
    assert!(c.in_kex());
    let mut out = Vec::new();
    c.poll_transmit(&mut out);
    assert!(
        !out.is_empty(),
        "client answered the KEXINIT with its kex init"
    );
}
