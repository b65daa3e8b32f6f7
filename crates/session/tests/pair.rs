//! A whole nacre client against a whole nacre server, in memory, with no runtime: key exchange,
//! password authentication, a channel running a command, re-exchange, and what faults on the
//! link do. Driven by `nacre_testkit::SessionPair` (simulated clock, seeded randomness).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::Duration;

use nacre_session::{ClientEvent, Common, ServerEvent};
use nacre_testkit::{ClientScript, Fault, SessionPair};
use nacre_transport::TransportError;
use nacre_wire::DisconnectReason;

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn pair_with(len: usize, seed: u64) -> SessionPair {
    let script = ClientScript {
        payload: payload(len),
        ..ClientScript::default()
    };
    SessionPair::new(script, seed)
}

fn kex_count(events: &[Common]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Common::KexComplete { .. }))
        .count()
}

fn client_common(p: &SessionPair) -> Vec<Common> {
    p.client_events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Common(c) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

fn server_common(p: &SessionPair) -> Vec<Common> {
    p.server_events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Common(c) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_command_runs_and_every_byte_comes_back() {
    let mut p = pair_with(3 * 1024 * 1024 + 17, 1);
    p.drive();
    assert!(p.authenticated());
    assert_eq!(p.app.received.len(), p.script.payload.len());
    assert!(p.app.received == p.script.payload, "echoed bytes differ");
    assert_eq!(p.app.exit_status, Some(0));
    assert!(p.app.closed, "the channel closes on both sides");
    assert!(matches!(
        p.server_events.iter().find(|e| matches!(e, ServerEvent::Authenticated { .. })),
        Some(ServerEvent::Authenticated { user, .. }) if user == "alice"
    ));
    assert_eq!(p.closed(), (None, None), "the connection stays up");
}

#[test]
fn a_byte_at_a_time_in_both_directions_works() {
    let mut p = pair_with(5000, 2);
    p.to_server.chunk = 1;
    p.to_client.chunk = 1;
    p.drive();
    assert!(p.authenticated());
    assert!(p.app.received == p.script.payload);
    assert_eq!(p.app.exit_status, Some(0));
}

#[test]
fn the_same_seed_gives_the_same_bytes_and_another_seed_does_not() {
    let run = |seed| {
        let mut p = pair_with(100_000, seed);
        p.to_server.chunk = 1000;
        p.to_client.delay = Duration::from_millis(20);
        p.drive();
        assert!(p.app.received == p.script.payload);
        (p.client_wire, p.server_wire)
    };
    let (c1, s1) = run(42);
    let (c2, s2) = run(42);
    assert!(c1 == c2, "client bytes differ between two runs of seed 42");
    assert!(s1 == s2, "server bytes differ between two runs of seed 42");
    let (c3, s3) = run(43);
    assert!(c1 != c3 && s1 != s3, "another seed must change the bytes");
}

#[test]
fn a_wrong_password_is_refused_and_the_session_stays_in_authentication() {
    let script = ClientScript {
        password: "wrong".to_owned(),
        ..ClientScript::default()
    };
    let mut p = SessionPair::new(script, 3);
    p.drive();
    // The failure answer is delayed (the server's failure delay): time must pass.
    p.advance(Duration::from_secs(5));
    assert!(!p.client.is_authenticated() && !p.server.is_authenticated());
    let methods = p
        .client_events
        .iter()
        .filter(|e| matches!(e, ClientEvent::AuthMethods { .. }))
        .count();
    assert_eq!(
        methods, 2,
        "one answer to `none`, one to the wrong password"
    );
    assert_eq!(p.server.auth_failures(), 1);
    assert!(
        p.client.connection().is_none(),
        "no channels before authentication"
    );
}

#[test]
fn the_login_grace_time_closes_a_session_that_does_not_authenticate() {
    let script = ClientScript {
        password: "wrong".to_owned(),
        ..ClientScript::default()
    };
    let mut p = SessionPair::new(script, 4);
    p.drive();
    p.advance(Duration::from_secs(121));
    let (_, server) = p.closed();
    assert!(server.is_some(), "the server closed");
    assert!(matches!(
        p.client.close_reason(),
        Some(TransportError::PeerDisconnected { .. })
    ));
}

#[test]
fn a_rejected_host_key_ends_both_sides() {
    let script = ClientScript {
        trust_host_key: false,
        ..ClientScript::default()
    };
    let mut p = SessionPair::new(script, 5);
    p.drive();
    assert_eq!(
        p.client.close_reason(),
        Some(&TransportError::HostKeyRejected)
    );
    let server = p.server.close_reason().expect("the server closed");
    assert!(
        matches!(server, TransportError::PeerDisconnected { .. }),
        "{server:?}"
    );
    assert_eq!(server.reason(), DisconnectReason::HOST_KEY_NOT_VERIFIABLE);
    assert!(!p.server.is_authenticated());
}

#[test]
fn a_stale_answer_is_harmless() {
    let mut p = pair_with(10, 6);
    // Run to the host key question and answer it with an id that is not the open one's.
    while p.client_events.is_empty()
        || !p
            .client_events
            .iter()
            .any(|e| matches!(e, ClientEvent::HostKey { .. }))
    {
        if !p.step() {
            break;
        }
    }
    let Some(ClientEvent::HostKey { id, .. }) = p
        .client_events
        .iter()
        .find(|e| matches!(e, ClientEvent::HostKey { .. }))
        .cloned()
    else {
        panic!("no host key question");
    };
    // The harness already answered `id`; answering it again (now stale) changes nothing.
    p.client.answer_host_key(id, false);
    p.drive();
    assert!(p.authenticated());
    assert!(p.app.received == p.script.payload);
}

#[test]
fn a_re_exchange_in_the_middle_of_a_channel_loses_nothing() {
    let mut p = pair_with(8 * 1024 * 1024, 7);
    // Run until the channel carries data, then ask for a re-exchange from the client.
    while p.app.received.is_empty() {
        assert!(p.step(), "stalled before data");
    }
    p.client.rekey();
    p.drive();
    assert!(p.app.received == p.script.payload);
    assert_eq!(kex_count(&client_common(&p)), 2);
    assert_eq!(kex_count(&server_common(&p)), 2);
    // And from the server, after the channel closed.
    p.server.rekey();
    p.drive();
    assert_eq!(kex_count(&client_common(&p)), 3);
    assert_eq!(p.closed(), (None, None));
}

#[test]
fn a_corrupted_byte_after_the_key_exchange_closes_with_a_mac_error() {
    let mut p = pair_with(200_000, 8);
    // Far beyond the handshake: in the channel data.
    p.to_server.faults.push(Fault::Corrupt {
        at: 60_000,
        mask: 0x40,
    });
    p.drive();
    let server = p.server.close_reason().expect("the server closed");
    assert_eq!(server, &TransportError::Mac);
    assert_eq!(
        p.client.close_reason().map(TransportError::reason),
        Some(DisconnectReason::MAC_ERROR),
        "the client got the DISCONNECT with the reason"
    );
    assert!(p.client.is_closed(), "the client saw the DISCONNECT");
    assert!(p.app.received.len() < p.script.payload.len());
    assert!(
        p.script.payload.starts_with(&p.app.received),
        "what arrived is a prefix"
    );
}

#[test]
fn duplicated_or_reordered_bytes_close_the_session_and_never_deliver_wrong_data() {
    for fault in [
        Fault::Duplicate {
            at: 50_000,
            len: 40,
        },
        Fault::Reorder { at: 50_000 },
        Fault::Drop { at: 50_000, len: 3 },
    ] {
        let mut p = pair_with(300_000, 9);
        p.to_server.chunk = 16 * 1024;
        p.to_server.faults.push(fault.clone());
        p.drive();
        // A dropped piece leaves the server waiting for the rest of a packet: time passes.
        p.advance(Duration::from_secs(3600));
        assert!(
            p.script.payload.starts_with(&p.app.received),
            "{fault:?}: what arrived is a prefix of what was sent"
        );
        assert!(p.app.received.len() < p.script.payload.len(), "{fault:?}");
    }
}

#[test]
fn a_delayed_link_still_completes_and_time_passes_only_through_the_delays() {
    let mut p = pair_with(1_000_000, 10);
    p.to_server.delay = Duration::from_millis(25);
    p.to_client.delay = Duration::from_millis(25);
    let start = p.now;
    p.drive();
    assert!(p.app.received == p.script.payload);
    let elapsed = p.now - start;
    // Banner + kex + newkeys + service + auth (none, password) + channel: several round trips.
    assert!(elapsed >= Duration::from_millis(250), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
}

#[test]
fn the_fuzz_targets_seeds_reach_the_channel_and_the_oracles_hold() {
    let seeds =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/session_pair");
    let run = |name: &str| nacre_testkit::fuzz_pair::run(&std::fs::read(seeds.join(name)).unwrap());
    for name in ["ok_whole", "ok_byte_split", "rekeys", "defaults_kex"] {
        let p = run(name);
        assert!(p.authenticated(), "{name}");
        assert!(!p.app.received.is_empty(), "{name}");
        assert!(p.app.received == p.script.payload, "{name}");
    }
    let p = run("untrusted");
    assert_eq!(
        p.client.close_reason(),
        Some(&TransportError::HostKeyRejected)
    );
    let p = run("corrupt");
    assert!(p.server.is_closed() && p.app.received.len() < p.script.payload.len());
}

#[test]
fn pipelined_passwords_are_each_answered_and_the_right_one_logs_in() {
    use nacre_auth::msg::{Method, Request};
    use nacre_wire::Encode;
    // A client that pipelines (in raw mode: nacre's own client sends one request at a time):
    // five password requests at once, the last one right. The server must take them one at a
    // time, in order, answering each (RFC 4252 §5).
    let (mut client, server) = nacre_testkit::session_pair::default_configs("alice");
    client.start_auth = false;
    let mut p = SessionPair::with_configs(client, server, ClientScript::default(), 11);
    p.drive();
    assert!(p
        .client_events
        .iter()
        .any(|e| matches!(e, ClientEvent::ServiceReady)));
    for password in ["wrong-0", "wrong-1", "wrong-2", "wrong-3", "secret"] {
        let request = Request {
            user: "alice",
            service: "ssh-connection",
            method: Method::Password {
                password,
                new_password: None,
            },
        };
        p.client.send_service(&request.to_bytes()).unwrap();
    }
    for _ in 0..10 {
        p.advance(Duration::from_secs(3));
    }
    let asked: Vec<String> = p
        .server_events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Auth(nacre_auth::ServerEvent::Password { password, .. }) => {
                Some(password.to_string())
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        asked,
        ["wrong-0", "wrong-1", "wrong-2", "wrong-3", "secret"]
    );
    let answers: Vec<u8> = p
        .client_events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::ServicePacket(b) => b.first().copied(),
            _ => None,
        })
        .collect();
    assert_eq!(answers, [51, 51, 51, 51, 52], "four failures, then success");
    assert!(p.authenticated(), "the last one was right");
    assert!(
        p.app.received == p.script.payload,
        "and the channel works after it"
    );
}

/// Issue 14 item 5: the whole stack with no runtime — kex, auth, a session channel, the `sftp`
/// subsystem served by nacre's dispatcher over an in-memory file system, the sans-IO SFTP
/// client uploading a file and reading it back.
#[test]
fn sftp_through_the_session_pair_uploads_and_downloads_a_file() {
    // MemFs holds files up to 1 MiB (nacre_sftp::fuzzing::MAX_FILE_LEN).
    let file = payload(1024 * 1024 - 3);
    let mut p = SessionPair::sftp(file.clone(), 12);
    p.to_server.chunk = 4000;
    p.drive();
    let sftp = p.app.sftp.as_ref().unwrap();
    assert_eq!(sftp.result, Some(Ok(())), "{sftp:?}");
    assert!(sftp.downloaded == file, "the file came back as it went");
    assert_eq!(p.app.exit_status, Some(0));
    assert!(p.app.closed);
    assert_eq!(p.closed(), (None, None));
}

#[test]
fn sftp_through_the_session_pair_is_byte_for_byte_reproducible() {
    let run = |seed| {
        let mut p = SessionPair::sftp(payload(300_000), seed);
        p.to_client.chunk = 777;
        p.to_server.delay = Duration::from_millis(7);
        p.drive();
        assert_eq!(p.app.sftp.as_ref().unwrap().result, Some(Ok(())));
        (p.client_wire, p.server_wire)
    };
    assert!(run(5) == run(5), "same seed, same bytes");
}

#[test]
fn a_corrupted_byte_in_the_middle_of_an_sftp_upload_ends_the_session_cleanly() {
    let mut p = SessionPair::sftp(payload(500_000), 13);
    p.to_server.faults.push(Fault::Corrupt {
        at: 200_000,
        mask: 1,
    });
    p.drive();
    assert_eq!(p.server.close_reason(), Some(&TransportError::Mac));
    let sftp = p.app.sftp.as_ref().unwrap();
    assert!(
        sftp.result != Some(Ok(())),
        "the script cannot have finished"
    );
}

#[test]
fn the_fuzz_targets_sftp_seeds_complete_the_round_trip() {
    let seeds =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/session_pair");
    for name in ["sftp_whole", "sftp_split_rekey"] {
        let p = nacre_testkit::fuzz_pair::run(&std::fs::read(seeds.join(name)).unwrap());
        let sftp = p.app.sftp.as_ref().expect(name);
        assert_eq!(sftp.result, Some(Ok(())), "{name}: {sftp:?}");
        assert!(
            !sftp.file.is_empty() && sftp.downloaded == sftp.file,
            "{name}"
        );
    }
}

/// Compression (issue 19): a client asking for it gets `zlib@openssh.com` from the default
/// server, in force from USERAUTH_SUCCESS on, across a re-exchange in the middle of the channel;
/// every byte comes back and the wire carries far fewer bytes than the channel.
#[test]
fn compression_after_authentication_across_a_re_exchange() {
    let (mut client, server) = nacre_testkit::session_pair::default_configs("alice");
    let mut t = (*client.transport).clone();
    t.algorithms.compression = nacre_transport::config::compression_preferred();
    client.transport = std::sync::Arc::new(t);
    let text: Vec<u8> = (0..4 * 1024 * 1024u32)
        .map(|i| b"compressible text, line after line\n"[(i % 35) as usize] ^ ((i >> 16) as u8 & 1))
        .collect();
    let script = ClientScript {
        payload: text.clone(),
        ..ClientScript::default()
    };
    let mut p = SessionPair::with_configs(client, server, script, 13);
    while p.app.received.is_empty() {
        assert!(p.step(), "stalled before data");
    }
    assert!(p.authenticated());
    assert_eq!(p.client.transport().compressing(), (true, true));
    assert_eq!(p.server.transport().compressing(), (true, true));
    p.client.rekey();
    p.drive();
    assert!(p.app.received == text, "echoed bytes differ");
    assert_eq!(kex_count(&client_common(&p)), 2);
    let negotiated = p.client.transport().negotiated().copied().unwrap();
    assert_eq!(
        negotiated.compression_c2s,
        nacre_transport::CompressionAlg::ZlibOpenssh
    );
    assert!(
        p.client_wire.len() < text.len() / 4 && p.server_wire.len() < text.len() / 4,
        "{} and {} bytes on the wire for {} each way",
        p.client_wire.len(),
        p.server_wire.len(),
        text.len()
    );
    assert_eq!(p.closed(), (None, None));
}
