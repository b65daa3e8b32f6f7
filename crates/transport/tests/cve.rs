#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Transport-level regression tests named after the vulnerabilities they guard against (the
//! in-memory part of the CVE suite; docs/SECURITY.md maps every class to its test). Other
//! classes are covered where their machinery lives: Terrapin in `strict_kex.rs`, packet lengths
//! and MAC flips in `framing.rs`, DH/ECDH public values in `public_values.rs`, banners in
//! `banner.rs`, the acceptance table in `table.rs`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nacre_crypto::{DhGroup, DhPrivateKey, EcdhCurve, EcdhPrivateKey, SeededRng};
use nacre_testkit::script::{
    find_disconnect, msg_numbers, packet_keys, KexInitSpec, KexTranscript, ScriptPeer,
};
use nacre_testkit::{all_host_keys, split_plain_packets, Pair};
use nacre_transport::msg::{ExtInfo, KexInit};
use nacre_transport::packet::Packet;
use nacre_transport::{Buffered, Config, Event, Role, SendError, Transport, TransportError};
use nacre_wire::{decode_exact, put, DisconnectReason, Encode, MsgNumber};

fn server_with(config: Config) -> Transport {
    Transport::server(
        Arc::new(config),
        Box::new(SeededRng::new(0xc7e)),
        Instant::now(),
    )
}

fn server() -> Transport {
    server_with(Config::server(all_host_keys()))
}

fn client() -> Transport {
    Transport::client(
        Arc::new(Config::client()),
        Box::new(SeededRng::new(0xc7f)),
        Instant::now(),
    )
}

fn other(role: Role) -> Role {
    match role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    }
}

/// The payload of the unencrypted packet `bytes`.
fn plain_payload(bytes: &[u8]) -> &[u8] {
    let len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
    let padding = bytes[4] as usize;
    &bytes[5..4 + len - padding]
}

fn ecdh_init(key: &EcdhPrivateKey) -> Vec<u8> {
    let mut m = vec![30];
    put::string(&mut m, &key.public_key());
    m
}

fn ignore(len: usize) -> Vec<u8> {
    let mut m = vec![MsgNumber::IGNORE.0];
    put::string(&mut m, &vec![0x55; len]);
    m
}

fn debug(text: &str) -> Vec<u8> {
    let mut m = vec![MsgNumber::DEBUG.0, 1];
    put::string(&mut m, text.as_bytes());
    put::string(&mut m, b"");
    m
}

fn global_request(name: &str, want_reply: bool) -> Vec<u8> {
    let mut m = vec![MsgNumber::GLOBAL_REQUEST.0];
    put::string(&mut m, name.as_bytes());
    put::boolean(&mut m, want_reply);
    m
}

// ---------------------------------------------------------------------------------------------
// AsyncSSH CVE-2023-46445 / CVE-2023-46446
// ---------------------------------------------------------------------------------------------

/// AsyncSSH CVE-2023-46445 ("Rogue Extension Negotiation"): a man in the middle injects an
/// EXT_INFO in the clear during the first key exchange (before NEWKEYS), hoping the victim takes
/// attacker-chosen extensions. EXT_INFO is only accepted right after NEWKEYS (RFC 8308 §2.4):
/// both roles disconnect, strict kex or not, and no extension reaches the application.
#[test]
fn cve_2023_46445_ext_info_injected_before_newkeys_is_refused() {
    for role in [Role::Client, Role::Server] {
        for strict in [true, false] {
            let mut victim = if role == Role::Client {
                client()
            } else {
                server()
            };
            let mut script = ScriptPeer::new(other(role));
            let mut bytes = script.banner();
            bytes.extend(script.packet(&KexInitSpec::new(other(role), strict).payload()));
            let ext = ExtInfo {
                extensions: vec![("server-sig-algs", b"ssh-rsa".as_slice())],
            }
            .to_bytes();
            bytes.extend(script.packet(&ext));
            let mut packets = script.take(&mut victim);
            packets.extend(script.exchange(&mut victim, &bytes));
            let at = format!("{role:?} strict {strict}");
            assert!(victim.is_closed(), "{at}");
            assert_eq!(
                find_disconnect(&packets).map(|d| d.0),
                Some(DisconnectReason::PROTOCOL_ERROR),
                "{at}"
            );
            let events = nacre_testkit::script::drain_events(&mut victim);
            assert!(
                !events.iter().any(|e| matches!(e, Event::ExtInfo(_))),
                "{at}: {events:?}"
            );
            assert!(victim.server_sig_algs().is_none(), "{at}");
        }
    }
}

/// AsyncSSH CVE-2023-46446 ("Rogue Session Attack"): packets injected before the first key
/// exchange completed must never reach authentication. A USERAUTH_REQUEST (or SERVICE_REQUEST)
/// in the clear, before or after KEXINIT, ends the connection; nothing reaches the service layer.
#[test]
fn cve_2023_46446_userauth_injected_before_newkeys_is_refused() {
    let mut userauth = vec![MsgNumber::USERAUTH_REQUEST.0];
    for s in ["mallory", "ssh-connection", "none"] {
        put::string(&mut userauth, s.as_bytes());
    }
    let mut service = vec![MsgNumber::SERVICE_REQUEST.0];
    put::string(&mut service, b"ssh-userauth");
    for strict in [true, false] {
        let kexinit = KexInitSpec::new(Role::Client, strict).payload();
        for injected in [&userauth, &service] {
            for before_kexinit in [true, false] {
                let mut victim = server();
                let mut script = ScriptPeer::new(Role::Client);
                let mut bytes = script.banner();
                let order: [&Vec<u8>; 2] = if before_kexinit {
                    [injected, &kexinit]
                } else {
                    [&kexinit, injected]
                };
                for p in order {
                    bytes.extend(script.packet(p));
                }
                let mut packets = script.take(&mut victim);
                packets.extend(script.exchange(&mut victim, &bytes));
                let at = format!(
                    "strict {strict}, msg {}, first {before_kexinit}",
                    injected[0]
                );
                assert!(victim.is_closed(), "{at}");
                assert_eq!(
                    find_disconnect(&packets).map(|d| d.0),
                    Some(DisconnectReason::PROTOCOL_ERROR),
                    "{at}"
                );
                let events = nacre_testkit::script::drain_events(&mut victim);
                assert!(
                    !events.iter().any(|e| matches!(
                        e,
                        Event::Packet(_) | Event::ServiceStarted(_) | Event::KexComplete { .. }
                    )),
                    "{at}: {events:?}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// libssh CVE-2023-1667: a wrongly guessed kex packet in a *re*-exchange
// ---------------------------------------------------------------------------------------------

/// A scripted client that does real curve25519 exchanges with a nacre server.
struct ScriptClient {
    peer: ScriptPeer,
    rng: SeededRng,
    session_id: Option<Vec<u8>>,
}

impl ScriptClient {
    fn new() -> Self {
        ScriptClient {
            peer: ScriptPeer::new(Role::Client),
            rng: SeededRng::new(0x1667),
            session_id: None,
        }
    }

    /// One exchange: our KEXINIT (`spec`), then `guess` if any, then a curve25519 ECDH_INIT.
    /// Checks the server's signed reply and installs the new keys both ways.
    fn kex(&mut self, server: &mut Transport, spec: &KexInitSpec, guess: Option<&[u8]>) {
        let first = self.session_id.is_none();
        let i_c = spec.payload();
        let mut bytes = Vec::new();
        let mut server_kexinit = None;
        if first {
            bytes.extend(self.peer.banner());
            // The server's banner and KEXINIT are out at once.
            let p = self.peer.take(server);
            server_kexinit = Some(p[0].payload.to_vec());
        }
        bytes.extend(self.peer.packet(&i_c));
        if let Some(g) = guess {
            bytes.extend(self.peer.packet(g));
        }
        let ephemeral = EcdhPrivateKey::generate(EcdhCurve::X25519, &mut self.rng);
        bytes.extend(self.peer.packet(&ecdh_init(&ephemeral)));
        server.handle_input(&bytes);
        let mut out = Vec::new();
        server.poll_transmit(&mut out);
        // The reply flight: [KEXINIT,] ECDH_REPLY, NEWKEYS. The first one is in the clear;
        // a re-exchange comes under the current keys.
        let (reply, i_s) = if first {
            let (plain, rest) = split_plain_packets(&out, 2);
            assert!(rest.is_empty(), "no EXT_INFO was asked for");
            assert_eq!(plain_payload(&plain[1]), [MsgNumber::NEWKEYS.0]);
            (plain_payload(&plain[0]).to_vec(), server_kexinit.unwrap())
        } else {
            let p = self.peer.feed(&out);
            assert_eq!(
                msg_numbers(&p),
                vec![20, 31, 21],
                "{:?}",
                server.close_reason()
            );
            (p[1].payload.to_vec(), p[0].payload.to_vec())
        };
        let transcript = KexTranscript {
            v_c: self.peer.id.clone(),
            v_s: self.peer.peer_id.clone().unwrap(),
            i_c,
            i_s,
        };
        let (_, result) = transcript
            .client_check_reply(&ephemeral, &reply)
            .expect("the reply signs H over the ECDH_INIT that followed the wrong guess");
        let sid = self.session_id.get_or_insert(result.h.clone()).clone();
        let (c2s, s2c) = packet_keys(&transcript.negotiated(), &result, &sid);
        let newkeys = self.peer.packet(&[MsgNumber::NEWKEYS.0]);
        server.handle_input(&newkeys);
        self.peer.set_in_key(s2c, true);
        self.peer.set_out_key(c2s, true);
    }

    fn send(&mut self, server: &mut Transport, payload: &[u8]) -> Vec<Packet> {
        let bytes = self.peer.packet(payload);
        self.peer.exchange(server, &bytes)
    }
}

/// libssh CVE-2023-1667: a NULL dereference when an authenticated client sent a wrongly guessed
/// first kex packet during a *re*-exchange. Here the client's re-exchange KEXINIT sets
/// first_kex_packet_follows with FFDH first (which the server does not offer, so the guess is
/// wrong): the guessed KEXDH_INIT is ignored, the ECDH_INIT after it is answered, the new keys
/// work.
#[test]
fn cve_2023_1667_wrong_guess_in_a_re_exchange_is_ignored() {
    let mut server = server();
    let mut script = ScriptClient::new();
    let spec = KexInitSpec::new(Role::Client, true)
        .with_kex(&["curve25519-sha256", "kex-strict-c-v00@openssh.com"]);
    script.kex(&mut server, &spec, None);
    assert!(server.is_established(), "{:?}", server.close_reason());
    let mut service = vec![MsgNumber::SERVICE_REQUEST.0];
    put::string(&mut service, b"ssh-userauth");
    assert_eq!(msg_numbers(&script.send(&mut server, &service)), vec![6]);
    server.set_authenticated();

    let mut rekey = KexInitSpec::new(Role::Client, false)
        .with_kex(&["diffie-hellman-group14-sha256", "curve25519-sha256"]);
    rekey.first_kex_packet_follows = true;
    rekey.cookie = [0x67; 16];
    let dh = DhPrivateKey::generate(&DhGroup::group14(), &mut SeededRng::new(3), 512);
    let mut guess = vec![30];
    put::mpint_unsigned(&mut guess, &dh.public_key().to_bytes_be());
    script.kex(&mut server, &rekey, Some(&guess));
    assert!(!server.is_closed(), "{:?}", server.close_reason());
    let events = nacre_testkit::script::drain_events(&mut server);
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::KexComplete { first: false, .. }))
            .count(),
        1,
        "{events:?}"
    );
    // The new keys carry traffic both ways: an unknown transport message gets UNIMPLEMENTED.
    let answer = script.send(&mut server, &[15, 1]);
    assert_eq!(msg_numbers(&answer), vec![3]);
    assert!(script.peer.read_error.is_none() && !server.is_closed());
}

// ---------------------------------------------------------------------------------------------
// OpenSSH CVE-2025-26466: PING/IGNORE/DEBUG/GLOBAL_REQUEST floods before and during kex
// ---------------------------------------------------------------------------------------------

/// How a driver feeds a machine: chunks of `chunk` bytes, draining output and events after each
/// (as the runtime does after each socket read). Returns the largest [`Buffered`] seen right
/// after a chunk (before draining) and the total output.
fn feed_like_a_driver(
    victim: &mut Transport,
    bytes: &[u8],
    chunk: usize,
    mut on_event: impl FnMut(&mut Transport, Event),
) -> (Buffered, usize) {
    let mut peak = Buffered::default();
    let mut out_total = 0;
    for c in bytes.chunks(chunk) {
        victim.handle_input(c);
        let b = victim.buffered();
        peak.input = peak.input.max(b.input);
        peak.output = peak.output.max(b.output);
        peak.queued_packets = peak.queued_packets.max(b.queued_packets);
        peak.queued_bytes = peak.queued_bytes.max(b.queued_bytes);
        peak.events = peak.events.max(b.events);
        let mut out = Vec::new();
        out_total += victim.poll_transmit(&mut out);
        while let Some(ev) = victim.poll_event() {
            on_event(victim, ev);
        }
        if victim.is_closed() {
            break;
        }
    }
    (peak, out_total)
}

const FLOOD: usize = 100_000;
const CHUNK: usize = 256 * 1024;

/// OpenSSH CVE-2025-26466: every SSH2_MSG_PING got a PONG queued while a key exchange ran, so a
/// flood grew memory without bound. nacre queues no answers to peer messages during a key
/// exchange: before the first exchange a non-strict peer's flood of 100 000 IGNORE / DEBUG /
/// unknown messages is consumed as it arrives (what the machine holds after each 256 KiB read is
/// bounded by that read: at most one partial packet of input, one UNIMPLEMENTED per unknown
/// message out, one event per DEBUG), and under strict kex the first IGNORE is fatal. PING (192)
/// and GLOBAL_REQUEST are service-layer messages: fatal before the exchange completes.
#[test]
fn cve_2025_26466_flood_before_kex_is_bounded() {
    // Non-strict peer: everything legal is consumed, nothing accumulates.
    let mut victim = server();
    let mut script = ScriptPeer::new(Role::Client);
    let mut bytes = script.banner();
    bytes.extend(script.packet(&KexInitSpec::new(Role::Client, false).payload()));
    let kinds = [ignore(16), debug("flood"), vec![17, 0, 0], ignore(0)];
    for i in 0..FLOOD {
        bytes.extend(script.packet(&kinds[i % kinds.len()]));
    }
    let packets_per_chunk = CHUNK / 16 + 1; // the smallest packet is 16 bytes
    let mut debugs = 0;
    script.take(&mut victim);
    let (peak, out_total) = feed_like_a_driver(&mut victim, &bytes, CHUNK, |_, ev| {
        if matches!(ev, Event::Debug { .. }) {
            debugs += 1;
        }
    });
    assert!(!victim.is_closed(), "{:?}", victim.close_reason());
    assert_eq!(debugs, FLOOD / 4);
    assert!(peak.input < 64, "at most a partial packet stays: {peak:?}");
    assert!(peak.events <= packets_per_chunk, "{peak:?}");
    assert!(peak.output <= CHUNK * 2, "UNIMPLEMENTED answers: {peak:?}");
    assert_eq!(peak.queued_bytes, 0);
    // One UNIMPLEMENTED (16 bytes) per unknown message, nothing else.
    assert_eq!(out_total, FLOOD / 4 * 16);
    let b = victim.buffered();
    assert_eq!((b.input, b.output, b.events, b.queued_bytes), (0, 0, 0, 0));

    // Strict peer, PING and GLOBAL_REQUEST: the first one ends it.
    let mut ping = vec![192u8];
    put::string(&mut ping, b"ping");
    for (strict, first) in [
        (true, ignore(16)),
        (true, debug("x")),
        (false, ping.clone()),
        (true, ping),
        (false, global_request("keepalive@openssh.com", true)),
    ] {
        let mut victim = server();
        let mut script = ScriptPeer::new(Role::Client);
        let mut bytes = script.banner();
        bytes.extend(script.packet(&KexInitSpec::new(Role::Client, strict).payload()));
        for _ in 0..1000 {
            bytes.extend(script.packet(&first));
        }
        script.take(&mut victim);
        let packets = script.exchange(&mut victim, &bytes);
        assert!(victim.is_closed(), "strict {strict} msg {}", first[0]);
        assert_eq!(
            find_disconnect(&packets).map(|d| d.0),
            Some(DisconnectReason::PROTOCOL_ERROR)
        );
        assert_eq!(victim.buffered().queued_bytes, 0);
    }
}

/// OpenSSH CVE-2025-26466 during a re-exchange: the server started a rekey (its KEXINIT is out,
/// application output is held) and the client floods 100 000 IGNORE, DEBUG, unknown messages
/// and want-reply GLOBAL_REQUESTs. The application answers every request (REQUEST_FAILURE) as
/// a connection layer does: the held answers stop at `max_queued_bytes` with
/// [`SendError::Backpressure`] (the runtime then stops reading the socket), and nothing else
/// accumulates.
#[test]
fn cve_2025_26466_flood_during_rekey_is_bounded() {
    let mut server_config = Config::server(all_host_keys());
    server_config.limits.max_queued_bytes = 8 * 1024;
    let limit = server_config.limits.max_queued_bytes;
    let mut pair = Pair::new(Config::client(), server_config, 0x2646);
    pair.connect();
    pair.server.rekey();
    assert!(pair.server.in_kex());
    let mut held_back = Vec::new();
    pair.server.poll_transmit(&mut held_back); // the server's KEXINIT never reaches the client
    assert!(!held_back.is_empty());

    let kinds = [
        ignore(8),
        debug("flood"),
        vec![18, 0],
        global_request("keepalive@openssh.com", true),
    ];
    for i in 0..FLOOD {
        let p = &kinds[i % kinds.len()];
        if p[0] >= 50 {
            pair.client.send(p).unwrap();
        } else {
            pair.client.send_raw(p);
        }
    }
    let mut bytes = Vec::new();
    pair.client.poll_transmit(&mut bytes);
    let (mut answered, mut refused) = (0usize, 0usize);
    let (peak, _) = feed_like_a_driver(&mut pair.server, &bytes, CHUNK, |server, ev| {
        if let Event::Packet(p) = ev {
            assert_eq!(p[0], MsgNumber::GLOBAL_REQUEST.0);
            match server.send(&[MsgNumber::REQUEST_FAILURE.0]) {
                Ok(()) => answered += 1,
                Err(SendError::Backpressure) => refused += 1,
                Err(e) => panic!("{e}"),
            }
        }
    });
    assert!(!pair.server.is_closed(), "{:?}", pair.server.close_reason());
    assert_eq!(answered + refused, FLOOD / 4);
    assert!(refused > 0, "the held answers must hit the bound");
    assert!(peak.queued_bytes <= limit, "{peak:?}");
    assert_eq!(answered, limit, "one byte per held REQUEST_FAILURE");
    assert!(peak.input < 128, "{peak:?}");
    assert!(peak.output <= CHUNK * 2, "{peak:?}");
    let b = pair.server.buffered();
    assert!(
        b.queued_bytes <= limit && b.output == 0 && b.events == 0,
        "{b:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Go CVE-2025-22869: a peer that never answers a re-exchange while we send
// ---------------------------------------------------------------------------------------------

/// Go x/crypto CVE-2025-22869: a client that never completes a key exchange made the server
/// buffer every pending packet. In nacre the server's writer (an SFTP download, say) gets
/// [`SendError::Backpressure`] once `max_queued_bytes` are held, `can_send` says so beforehand,
/// nothing but the KEXINIT goes out, and the kex timeout ends the connection and frees the queue.
#[test]
fn cve_2025_22869_stalled_rekey_gives_backpressure_and_times_out() {
    let mut server_config = Config::server(all_host_keys());
    server_config.limits.max_queued_bytes = 1024 * 1024;
    server_config.limits.kex_timeout = Duration::from_secs(30);
    let limit = server_config.limits.max_queued_bytes;
    let mut pair = Pair::new(Config::client(), server_config, 0x2869);
    pair.connect();
    // A download in progress.
    let chunk = vec![94u8; 32 * 1024];
    for _ in 0..8 {
        pair.server.send(&chunk).unwrap();
    }
    pair.drive();
    assert_eq!(pair.client_packets().len(), 8);
    // The server starts a re-exchange the client never answers.
    pair.server.rekey();
    let mut lost = Vec::new();
    pair.server.poll_transmit(&mut lost);
    let mut sent = 0usize;
    let mut attempts = 0;
    loop {
        attempts += 1;
        assert!(attempts < 10_000, "no backpressure");
        let can = pair.server.can_send(chunk.len());
        match pair.server.send(&chunk) {
            Ok(()) => {
                assert!(can);
                sent += chunk.len();
            }
            Err(SendError::Backpressure) => {
                assert!(!can);
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(sent <= limit && sent + chunk.len() > limit, "{sent}");
    let b = pair.server.buffered();
    assert_eq!(b.queued_bytes, sent);
    // Nothing of the held data went out.
    let mut out = Vec::new();
    pair.server.poll_transmit(&mut out);
    assert!(out.is_empty());
    // The kex timeout ends it (the server's clock only: the client is gone).
    let t0 = pair.now;
    pair.server.handle_timeout(t0 + Duration::from_secs(29));
    assert!(!pair.server.is_closed());
    pair.server.handle_timeout(t0 + Duration::from_secs(30));
    assert!(matches!(
        pair.server.close_reason(),
        Some(TransportError::Timeout(_))
    ));
    assert_eq!(pair.server.buffered().queued_bytes, 0);
    assert_eq!(pair.server.send(&chunk), Err(SendError::Closed));
}

// ---------------------------------------------------------------------------------------------
// Decompression bombs: compression only after authentication, and bounded per packet
// ---------------------------------------------------------------------------------------------

/// KEXINIT payload of a peer with these compression lists (everything else like `spec`).
fn kexinit_with_compression(spec: &KexInitSpec, compression: &[&str]) -> Vec<u8> {
    let mut out = vec![MsgNumber::KEXINIT.0];
    out.extend_from_slice(&spec.cookie);
    put::name_list(&mut out, &spec.kex);
    put::name_list(&mut out, &spec.host_key);
    for _ in 0..2 {
        put::name_list(&mut out, &spec.cipher);
    }
    for _ in 0..2 {
        put::name_list(&mut out, &spec.mac);
    }
    for _ in 0..2 {
        put::name_list(&mut out, compression);
    }
    put::name_list::<&str>(&mut out, &[]);
    put::name_list::<&str>(&mut out, &[]);
    put::boolean(&mut out, false);
    put::uint32(&mut out, 0);
    out
}

/// Decompression bombs (zlib expanding a small packet into gigabytes): by default both roles
/// offer `none` first and `zlib@openssh.com` after it, never pre-authentication `zlib` (sshd
/// dropped it in 7.4), so an unauthenticated peer cannot make nacre inflate anything: a peer
/// that offers only `zlib` fails negotiation cleanly (KEY_EXCHANGE_FAILED naming the
/// category). After authentication every packet's inflated size is bounded; the bomb itself
/// is `a_decompression_bomb_is_a_disconnect_with_compression_error` in compression.rs and
/// `decompression_bomb_after_authentication_is_a_compression_error` in tests/tests/cve.rs.
#[test]
fn decompression_bombs_no_compression_before_authentication() {
    for role in [Role::Client, Role::Server] {
        let mut victim = if role == Role::Client {
            client()
        } else {
            server()
        };
        let mut script = ScriptPeer::new(other(role));
        let p = script.take(&mut victim);
        let ours: KexInit<'_> = decode_exact(&p[0].payload).unwrap();
        for list in [&ours.compression_c2s, &ours.compression_s2c] {
            assert_eq!(
                list.iter().collect::<Vec<_>>(),
                vec!["none", "zlib@openssh.com"],
                "{role:?}"
            );
        }
        let mut victim = if role == Role::Client {
            client()
        } else {
            server()
        };
        let mut script = ScriptPeer::new(other(role));
        let spec = KexInitSpec::new(other(role), true);
        let mut bytes = script.banner();
        bytes.extend(script.packet(&kexinit_with_compression(&spec, &["zlib"])));
        let mut packets = script.take(&mut victim);
        packets.extend(script.exchange(&mut victim, &bytes));
        let err = victim.close_reason().cloned();
        assert!(
            matches!(
                &err,
                Some(TransportError::NoCommonAlgorithm { category, .. }) if category.contains("compression")
            ),
            "{role:?}: {err:?}"
        );
        assert_eq!(
            find_disconnect(&packets).map(|d| d.0),
            Some(DisconnectReason::KEY_EXCHANGE_FAILED),
            "{role:?}"
        );
        assert!(!victim.is_established() && victim.session_id().is_none());
    }
}

// ---------------------------------------------------------------------------------------------
// Banner limits (sent side; the read side is banner.rs)
// ---------------------------------------------------------------------------------------------

/// The identification line nacre sends is at most 255 bytes with CR LF (RFC 4253 §4.2), even
/// from an absurd configured version or comment, and a non-ASCII one is cut without a panic on
/// a character boundary.
#[test]
fn banner_limits_sent_identification_is_at_most_255_bytes() {
    use nacre_transport::banner::{our_identification, MAX_SENT_IDENTIFICATION_LEN};
    assert_eq!(MAX_SENT_IDENTIFICATION_LEN, 255);
    for (version, comments) in [
        ("v".repeat(1000), None),
        ("nacre".to_owned(), Some("é".repeat(300))),
        ("ü".repeat(200), Some("x".to_owned())),
    ] {
        let line = our_identification(&version, comments.as_deref());
        assert!(
            line.len() + 2 <= MAX_SENT_IDENTIFICATION_LEN,
            "{}",
            line.len()
        );
        assert!(line.starts_with(b"SSH-2.0-"));
        let mut config = Config::client();
        config.software_version = version;
        config.comments = comments;
        let mut t = Transport::client(
            Arc::new(config),
            Box::new(SeededRng::new(1)),
            Instant::now(),
        );
        let mut out = Vec::new();
        t.poll_transmit(&mut out);
        let first_line = out.split(|&b| b == b'\n').next().unwrap();
        assert!(first_line.len() < MAX_SENT_IDENTIFICATION_LEN); // with the LF
    }
}
