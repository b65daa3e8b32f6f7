#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Input the transport accepts because OpenSSH does (docs/TOLERANCE.md).

use nacre_testkit::{closed, Pair};
use nacre_transport::{Event, TransportError};
use nacre_wire::{put, MsgNumber};

fn service_request(name: &str) -> Vec<u8> {
    let mut m = vec![MsgNumber::SERVICE_REQUEST.0];
    put::string(&mut m, name.as_bytes());
    m
}

fn count(events: &[Event], f: impl Fn(&Event) -> bool) -> usize {
    events.iter().filter(|e| f(e)).count()
}

/// paramiko's Transport sends SERVICE_REQUEST "ssh-userauth" before each method it tries; sshd
/// answers SERVICE_ACCEPT each time until authentication succeeds (auth2.c,
/// input_service_request), and so does nacre. The service starts once.
#[test]
fn repeated_userauth_service_request_is_accepted_until_authenticated() {
    let mut pair = Pair::default_pair(171);
    pair.client.request_service("ssh-userauth");
    pair.drive();
    // The same request again, twice, as paramiko does between methods.
    for _ in 0..2 {
        pair.client.request_service("ssh-userauth");
        pair.drive();
    }
    assert!(
        closed(&pair.server_events).is_none(),
        "{:?}",
        pair.server_events
    );
    assert!(
        closed(&pair.client_events).is_none(),
        "{:?}",
        pair.client_events
    );
    let accepted = count(
        &pair.client_events,
        |e| matches!(e, Event::ServiceAccepted(s) if s == "ssh-userauth"),
    );
    assert_eq!(accepted, 3);
    let started = count(&pair.server_events, |e| {
        matches!(e, Event::ServiceStarted(_))
    });
    assert_eq!(started, 1);
    // Once authenticated, a SERVICE_REQUEST is no longer answered with SERVICE_ACCEPT (sshd's
    // authentication dispatch has ended by then): it gets UNIMPLEMENTED, as from sshd's server
    // loop, and the connection goes on (Twisted Conch sends one after every re-exchange).
    pair.client.set_authenticated();
    pair.server.set_authenticated();
    pair.client.send_raw(&service_request("ssh-userauth"));
    pair.drive();
    assert!(
        closed(&pair.server_events).is_none(),
        "{:?}",
        pair.server_events
    );
    assert!(
        closed(&pair.client_events).is_none(),
        "{:?}",
        pair.client_events
    );
    let accepted = count(
        &pair.client_events,
        |e| matches!(e, Event::ServiceAccepted(s) if s == "ssh-userauth"),
    );
    assert_eq!(accepted, 3, "no SERVICE_ACCEPT after authentication");
}

/// During authentication a SERVICE_REQUEST for another service is refused, as sshd refuses it
/// ("bad service request", auth2.c).
#[test]
fn other_service_request_during_userauth_is_refused() {
    let mut pair = Pair::default_pair(172);
    pair.client.request_service("ssh-userauth");
    pair.drive();
    pair.client.send_raw(&service_request("ssh-connection"));
    pair.drive();
    assert!(matches!(
        closed(&pair.server_events),
        Some(TransportError::UnexpectedMessage {
            msg: MsgNumber::SERVICE_REQUEST,
            ..
        })
    ));
}

/// An identification line ending in LF alone is accepted, as OpenSSH accepts it (kex.c,
/// kex_exchange_identification: CR is optional before LF); the hashed line has no line ending.
#[test]
fn identification_ending_in_lf_alone_is_accepted() {
    let mut server = nacre_transport::Transport::server(
        std::sync::Arc::new(nacre_transport::Config::server(
            nacre_testkit::all_host_keys(),
        )),
        Box::new(nacre_crypto::SeededRng::new(173)),
        std::time::Instant::now(),
    );
    let mut ours = Vec::new();
    server.poll_transmit(&mut ours);
    server.handle_input(b"SSH-2.0-lf_only\n");
    assert!(
        server.close_reason().is_none(),
        "{:?}",
        server.close_reason()
    );
    let id = server.peer_identification().unwrap();
    assert_eq!(id.line, b"SSH-2.0-lf_only");
    assert_eq!(id.software_version, "lf_only");
}

fn fresh_server(seed: u64) -> nacre_transport::Transport {
    nacre_transport::Transport::server(
        std::sync::Arc::new(nacre_transport::Config::server(
            nacre_testkit::all_host_keys(),
        )),
        Box::new(nacre_crypto::SeededRng::new(seed)),
        std::time::Instant::now(),
    )
}

/// Sends the client's banner and `kexinit` to a fresh server; why it closed, if it did.
fn server_refuses_kexinit(kexinit: &[u8], seed: u64) -> Option<String> {
    use nacre_testkit::script::ScriptPeer;
    let mut t = fresh_server(seed);
    let mut script = ScriptPeer::new(nacre_transport::Role::Client);
    let mut bytes = script.banner();
    bytes.extend(script.packet(kexinit));
    script.take(&mut t);
    script.exchange(&mut t, &bytes);
    t.close_reason().map(|e| format!("{e:?}"))
}

/// KEXINIT cases (docs/TOLERANCE.md): the same name twice and a reserved field that is not 0 are
/// accepted, as OpenSSH accepts them (kex.c, kex_buf2prop; match.c, match_list); bytes after
/// the reserved field and an empty name stay refused (OpenSSH's kex_input_kexinit ends with
/// sshpkt_get_end; RFC 4251 §5 forbids empty names).
#[test]
fn kexinit_cases() {
    use nacre_testkit::script::KexInitSpec;
    use nacre_transport::Role;
    let plain = KexInitSpec::new(Role::Client, true);
    assert_eq!(server_refuses_kexinit(&plain.payload(), 174), None);

    let mut twice = plain.clone();
    twice.kex.insert(0, "curve25519-sha256".to_owned());
    twice
        .cipher
        .push("chacha20-poly1305@openssh.com".to_owned());
    assert_eq!(server_refuses_kexinit(&twice.payload(), 175), None);

    let mut reserved = plain.payload();
    let n = reserved.len();
    reserved[n - 4..].copy_from_slice(&7u32.to_be_bytes());
    assert_eq!(server_refuses_kexinit(&reserved, 176), None);

    let mut trailing = plain.payload();
    trailing.push(0);
    let why = server_refuses_kexinit(&trailing, 177).unwrap();
    assert!(why.contains("TrailingData"), "{why}");

    let mut empty = plain.clone();
    empty.kex.insert(1, String::new());
    let why = server_refuses_kexinit(&empty.payload(), 178).unwrap();
    assert!(why.contains("empty name"), "{why}");
}

/// A software version that is not printable US-ASCII (RFC 4253 §4.2 asks for it) is accepted,
/// as OpenSSH accepts any byte but NUL and a lone CR (kex.c, kex_exchange_identification): the
/// line is hashed as received, the text keeps invalid UTF-8 as U+FFFD. An empty software
/// version stays refused, as in OpenSSH (its `sscanf` needs one character).
#[test]
fn identification_that_is_not_ascii_is_accepted() {
    for (line, software) in [
        (&b"SSH-2.0-caf\xc3\xa9\r\n"[..], "caf\u{e9}"),
        (b"SSH-2.0-\xff\xfe x\r\n", "\u{fffd}\u{fffd}"),
        (b"SSH-1.99-tab\there\n", "tab\there"),
    ] {
        let mut server = fresh_server(179);
        let mut ours = Vec::new();
        server.poll_transmit(&mut ours);
        server.handle_input(line);
        assert!(
            server.close_reason().is_none(),
            "{:?}",
            server.close_reason()
        );
        let id = server.peer_identification().unwrap();
        assert_eq!(id.software_version, software);
        let end = line.len() - if line.ends_with(b"\r\n") { 2 } else { 1 };
        assert_eq!(id.line, &line[..end]);
    }
    let mut server = fresh_server(180);
    let mut ours = Vec::new();
    server.poll_transmit(&mut ours);
    server.handle_input(b"SSH-2.0-\r\n");
    assert!(server.close_reason().is_some());
}
