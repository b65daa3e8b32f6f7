//! The acceptance table of the authentication layer: all 256 message numbers through the server
//! and client machines in every state they can be in, each either handled or refused (an error,
//! which the runtime turns into a DISCONNECT), never a panic; a refused message asks the
//! application nothing and authenticates nobody. The test libssh added after CVE-2018-10933,
//! done exhaustively.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::{Duration, Instant};

use nacre_auth::msg::{
    Banner, InfoRequest, InfoResponse, Method, PasswdChangeReq, PkOk, Prompt, Request,
};
use nacre_auth::{AuthClient, AuthServer, AuthServerConfig, ClientEvent, Decision, ServerEvent};
use nacre_keys::KeyType;
use nacre_wire::{put, DisconnectReason, Encode};
use zeroize::Zeroizing;

const SID: &[u8] = b"session-identifier-for-the-table";
const DELAY: Duration = Duration::from_millis(100);

fn request(method: Method<'_>) -> Vec<u8> {
    Request {
        user: "alice",
        service: "ssh-connection",
        method,
    }
    .to_bytes()
}

// ---------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum S {
    /// Nothing received yet.
    Fresh,
    /// `none` answered: the user is known.
    AfterNone,
    /// A password is being checked by the application.
    PasswordPending,
    /// Keyboard-interactive prompts are out.
    Prompts,
    /// A failure answer is being delayed: input is held.
    Delayed,
    /// Authenticated.
    Done,
}

const SERVER_STATES: [S; 6] = [
    S::Fresh,
    S::AfterNone,
    S::PasswordPending,
    S::Prompts,
    S::Delayed,
    S::Done,
];

fn server_in(state: S, t0: Instant) -> AuthServer {
    server_asking(state, t0).0
}

/// A server in `state`, and the open question's id in [`S::PasswordPending`].
fn server_asking(state: S, t0: Instant) -> (AuthServer, Option<nacre_auth::server::RequestId>) {
    let mut question = None;
    let config = AuthServerConfig {
        failure_delay: if state == S::Delayed {
            DELAY
        } else {
            Duration::ZERO
        },
        ..AuthServerConfig::default()
    };
    let mut s = AuthServer::new(config, SID);
    let ask = |s: &mut AuthServer, payload: Vec<u8>| {
        s.handle_packet(&payload, t0).unwrap();
        s.poll_event()
    };
    match state {
        S::Fresh => {}
        S::AfterNone => assert!(ask(&mut s, request(Method::None)).is_none()),
        S::PasswordPending => {
            let ev = ask(
                &mut s,
                request(Method::Password {
                    password: "pw",
                    new_password: None,
                }),
            );
            let Some(ServerEvent::Password { id, .. }) = ev else {
                panic!("{ev:?}")
            };
            question = Some(id);
        }
        S::Prompts => {
            let ev = ask(
                &mut s,
                request(Method::KeyboardInteractive {
                    language: "",
                    submethods: "",
                }),
            );
            let Some(ServerEvent::KeyboardInteractive { id, .. }) = ev else {
                panic!("{ev:?}")
            };
            let prompts = InfoRequest {
                prompts: vec![Prompt {
                    prompt: "Code: ".into(),
                    echo: false,
                }],
                ..InfoRequest::default()
            };
            s.decide(id, Decision::Prompts(prompts), t0).unwrap();
        }
        S::Delayed | S::Done => {
            let ev = ask(
                &mut s,
                request(Method::Password {
                    password: "pw",
                    new_password: None,
                }),
            );
            let Some(ServerEvent::Password { id, .. }) = ev else {
                panic!("{ev:?}")
            };
            let d = if state == S::Done {
                Decision::Accept
            } else {
                Decision::Reject
            };
            s.decide(id, d, t0).unwrap();
        }
    }
    while s.poll_transmit().is_some() {}
    while s.poll_event().is_some() {}
    assert_eq!(s.is_done(), state == S::Done);
    (s, question)
}

/// The payload a test sends for message number `n` in `state`: well-formed for the messages a
/// client may send, a plausible body for the others.
fn server_payload(n: u8) -> Vec<u8> {
    match n {
        50 => request(Method::None),
        61 => InfoResponse {
            responses: vec![Zeroizing::new("42".to_owned())],
        }
        .to_bytes(),
        _ => {
            let mut m = vec![n];
            put::string(&mut m, b"session");
            put::uint32(&mut m, 0);
            m
        }
    }
}

/// Whether a well-formed message `n` is handled (not refused) by a server in `state`.
fn server_handles(state: S, n: u8) -> bool {
    match n {
        // A request: always (RFC 4252 §5: one at a time, held while a question is open;
        // ignored once done).
        50 => true,
        // INFO_RESPONSE only answers prompts.
        61 => state == S::Prompts,
        // Everything else, including the server's own messages (51-53, 60: CVE-2018-10933) and
        // the connection layer's (80-127: CVE-2025-32433).
        _ => false,
    }
}

#[test]
fn server_table_all_256_numbers_in_every_state() {
    let t0 = Instant::now();
    for state in SERVER_STATES {
        for n in 0..=255u8 {
            for payload in [server_payload(n), vec![n]] {
                let well_formed = payload.len() > 1;
                let at = format!("server {state:?}, msg {n}, well-formed {well_formed}");
                let (mut s, question) = server_asking(state, t0);
                let mut result = s.handle_packet(&payload, t0);
                if state == S::Delayed && result.is_ok() {
                    // Held behind the delayed failure: judged when the delay ends.
                    assert!(s.poll_event().is_none(), "{at}: held, not handled yet");
                    assert_eq!(s.held(), 1, "{at}");
                    result = s.handle_timeout(t0 + DELAY);
                }
                if let (Some(id), true) = (question, result.is_ok()) {
                    // Held behind the open question (RFC 4252 §5: one request at a time):
                    // judged once the application answered it.
                    assert!(s.poll_event().is_none(), "{at}: held, not handled yet");
                    assert_eq!(s.held(), 1, "{at}");
                    result = s.decide(id, Decision::Reject, t0);
                }
                // After success every request is silently ignored (RFC 4252 §5.1), even a
                // malformed one.
                let ignored = state == S::Done && n == 50;
                let handled = (well_formed || ignored) && server_handles(state, n);
                match &result {
                    Ok(()) => assert!(handled, "{at}: accepted"),
                    Err(e) => {
                        assert!(!handled, "{at}: refused with {e}");
                        let reason = e.reason();
                        assert!(
                            [
                                DisconnectReason::PROTOCOL_ERROR,
                                DisconnectReason::SERVICE_NOT_AVAILABLE,
                                DisconnectReason::NO_MORE_AUTH_METHODS_AVAILABLE
                            ]
                            .contains(&reason),
                            "{at}: {reason:?}"
                        );
                    }
                }
                // Nothing but a request or an answer to prompts reaches the application, and
                // only a decision authenticates.
                while let Some(ev) = s.poll_event() {
                    assert!(handled, "{at}: refused message raised {ev:?}");
                    assert!(!matches!(ev, ServerEvent::Success { .. }), "{at}");
                }
                assert_eq!(s.is_done(), state == S::Done, "{at}");
                // Refused messages get no answer: the error closes the connection. (A delayed
                // failure from before may now leave.)
                if result.is_err() && state != S::Delayed && state != S::PasswordPending {
                    assert!(s.poll_transmit().is_none(), "{at}");
                }
            }
        }
    }
}

/// Requests pipelined behind a delayed failure are held up to [`nacre_auth::server::MAX_HELD`];
/// one more is a flood.
#[test]
fn server_holds_at_most_max_held_requests_behind_a_delayed_failure() {
    let t0 = Instant::now();
    let mut s = server_in(S::Delayed, t0);
    for _ in 0..nacre_auth::server::MAX_HELD {
        s.handle_packet(&request(Method::None), t0).unwrap();
    }
    assert_eq!(
        s.handle_packet(&request(Method::None), t0),
        Err(nacre_auth::AuthError::Flood)
    );
}

// ---------------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum C {
    /// The first `none` request is out.
    Fresh,
    /// No request outstanding.
    Idle,
    /// A password request is out.
    Password,
    /// A public key query is out.
    PkQuery,
    /// PK_OK came; the application is signing.
    Signing,
    /// Keyboard-interactive is out.
    Keyboard,
    /// Authenticated.
    Done,
}

const CLIENT_STATES: [C; 7] = [
    C::Fresh,
    C::Idle,
    C::Password,
    C::PkQuery,
    C::Signing,
    C::Keyboard,
    C::Done,
];

fn failure() -> Vec<u8> {
    let mut m = vec![51];
    put::name_list(&mut m, &["publickey", "password", "keyboard-interactive"]);
    put::boolean(&mut m, false);
    m
}

fn pk_ok(c: &AuthClient) -> Vec<u8> {
    let key = nacre_testkit::host_key(KeyType::Ed25519, 9).public_key();
    let blob = key.to_blob();
    PkOk {
        algorithm: c.algorithm_for(&key).name(),
        key_blob: &blob,
    }
    .to_bytes()
}

fn client_in(state: C) -> AuthClient {
    let mut c = AuthClient::new("alice", SID, None);
    while c.poll_transmit().is_some() {}
    if state == C::Fresh {
        return c;
    }
    c.handle_packet(&failure()).unwrap();
    match state {
        C::Password => c.password("pw"),
        C::PkQuery | C::Signing => {
            c.publickey(&nacre_testkit::host_key(KeyType::Ed25519, 9).public_key());
            if state == C::Signing {
                let ok = pk_ok(&c);
                c.handle_packet(&ok).unwrap();
            }
        }
        C::Keyboard => c.keyboard_interactive(""),
        C::Done => {
            c.password("pw");
            c.handle_packet(&[52]).unwrap();
        }
        C::Fresh | C::Idle => {}
    }
    while c.poll_transmit().is_some() {}
    while c.poll_event().is_some() {}
    assert_eq!(c.is_done(), state == C::Done);
    c
}

fn client_payload(c: &AuthClient, state: C, n: u8) -> Vec<u8> {
    match n {
        51 => failure(),
        52 => vec![52],
        53 => Banner {
            message: "Welcome\n".into(),
            language: b"",
        }
        .to_bytes(),
        60 => match state {
            C::Password => PasswdChangeReq {
                prompt: "new one",
                language: "",
            }
            .to_bytes(),
            C::Keyboard => InfoRequest {
                prompts: vec![Prompt {
                    prompt: "Code: ".into(),
                    echo: false,
                }],
                ..InfoRequest::default()
            }
            .to_bytes(),
            _ => pk_ok(c),
        },
        _ => {
            let mut m = vec![n];
            put::uint32(&mut m, 0);
            put::string(&mut m, b"x");
            m
        }
    }
}

fn client_handles(state: C, n: u8) -> bool {
    // A request is outstanding, or the application is answering PK_OK.
    let pending = !matches!(state, C::Idle | C::Done);
    match n {
        _ if state == C::Done => false,
        51 | 52 => pending,
        53 => true,
        60 => matches!(state, C::Password | C::PkQuery | C::Keyboard),
        _ => false,
    }
}

#[test]
fn client_table_all_256_numbers_in_every_state() {
    for state in CLIENT_STATES {
        for n in 0..=255u8 {
            let well = client_payload(&client_in(state), state, n);
            for payload in [well, vec![n]] {
                let well_formed = payload.len() > 1 || n == 52;
                let at = format!("client {state:?}, msg {n}, well-formed {well_formed}");
                let mut c = client_in(state);
                let result = c.handle_packet(&payload);
                let handled = well_formed && client_handles(state, n);
                match &result {
                    Ok(()) => assert!(handled, "{at}: accepted"),
                    Err(e) => {
                        assert!(!handled, "{at}: refused with {e}");
                        assert_eq!(e.reason(), DisconnectReason::PROTOCOL_ERROR, "{at}");
                    }
                }
                let events: Vec<ClientEvent> = std::iter::from_fn(|| c.poll_event()).collect();
                if result.is_err() {
                    assert!(events.is_empty(), "{at}: {events:?}");
                }
                // Only USERAUTH_SUCCESS authenticates, and only while something is pending;
                // connection-layer messages before it (80-127) never do.
                let now_done = c.is_done();
                assert_eq!(now_done, state == C::Done || (n == 52 && handled), "{at}");
                assert!(c.poll_transmit().is_none(), "{at}: nothing is sent unasked");
            }
        }
    }
}

/// What a client pipelines behind the request that succeeds is held, never judged by the
/// authentication machine, and handed over in order for the next layer.
#[test]
fn server_hands_over_what_follows_the_successful_request() {
    let t0 = Instant::now();
    let (mut s, question) = server_asking(S::PasswordPending, t0);
    let open = server_payload(90);
    s.handle_packet(&open, t0).unwrap();
    s.handle_packet(&[94, 0, 0, 0, 0], t0).unwrap();
    assert_eq!(s.held(), 2);
    assert!(
        s.take_held().is_empty(),
        "nothing is handed over before success"
    );
    s.decide(question.unwrap(), Decision::Accept, t0).unwrap();
    assert!(s.is_done());
    assert_eq!(s.take_held(), vec![open, vec![94, 0, 0, 0, 0]]);
    assert_eq!(s.held(), 0);
}
