//! Client and server authentication machines wired together in memory.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::{Duration, Instant};

use nacre_auth::msg::{InfoRequest, Prompt};
use nacre_auth::{
    AuthClient, AuthError, AuthServer, AuthServerConfig, ClientEvent, Decision, MethodKind,
    ServerEvent,
};
use nacre_keys::{KeyType, PrivateKey, PublicKey, SignatureAlgorithm};
use zeroize::Zeroizing;

const SID: &[u8] = b"session-identifier-0123456789abcdef";

fn config() -> AuthServerConfig {
    AuthServerConfig {
        failure_delay: Duration::ZERO,
        ..AuthServerConfig::default()
    }
}

/// The application side of the server: a user "alice" with password "secret" and one authorized key.
struct App {
    authorized: Vec<PublicKey>,
    verified: Vec<PublicKey>,
    success: Option<ServerEvent>,
}

impl App {
    fn answer(&mut self, server: &mut AuthServer, now: Instant) -> Result<(), AuthError> {
        while let Some(ev) = server.poll_event() {
            let (id, decision) = match &ev {
                ServerEvent::Password {
                    id,
                    user,
                    password,
                    new_password,
                } => {
                    let d = match (user.as_str(), password.as_str(), new_password) {
                        ("alice", "expired", None) => Decision::PasswordChangeRequired {
                            prompt: "change it".into(),
                        },
                        ("alice", "expired", Some(_)) | ("alice", "secret", _) => Decision::Accept,
                        _ => Decision::Reject,
                    };
                    (*id, d)
                }
                ServerEvent::PublicKeyQuery { id, key, .. } => (
                    *id,
                    if self.authorized.contains(key) {
                        Decision::Accept
                    } else {
                        Decision::Reject
                    },
                ),
                ServerEvent::PublicKeyVerified { id, key, .. } => {
                    self.verified.push(key.clone());
                    (
                        *id,
                        if self.authorized.contains(key) {
                            Decision::Accept
                        } else {
                            Decision::Reject
                        },
                    )
                }
                ServerEvent::KeyboardInteractive { id, .. } => {
                    let prompts = vec![Prompt {
                        prompt: "Code: ".into(),
                        echo: false,
                    }];
                    (
                        *id,
                        Decision::Prompts(InfoRequest {
                            prompts,
                            ..InfoRequest::default()
                        }),
                    )
                }
                ServerEvent::KeyboardResponses { id, responses, .. } => (
                    *id,
                    if responses.len() == 1 && *responses[0] == "42" {
                        Decision::Accept
                    } else {
                        Decision::Reject
                    },
                ),
                ServerEvent::Success { .. } => {
                    self.success = Some(ev.clone());
                    continue;
                }
            };
            server.decide(id, decision, now)?;
        }
        Ok(())
    }
}

/// Moves messages both ways; the client's events go to `on_client`.
fn run(
    client: &mut AuthClient,
    server: &mut AuthServer,
    app: &mut App,
    mut on_client: impl FnMut(&mut AuthClient, ClientEvent),
) -> Result<(), AuthError> {
    let now = Instant::now();
    for _ in 0..100 {
        let mut progress = false;
        while let Some(p) = client.poll_transmit() {
            server.handle_packet(&p, now)?;
            progress = true;
        }
        app.answer(server, now)?;
        while let Some(p) = server.poll_transmit() {
            client.handle_packet(&p)?;
            progress = true;
        }
        while let Some(ev) = client.poll_event() {
            on_client(client, ev);
            progress = true;
        }
        if !progress {
            return Ok(());
        }
    }
    panic!("did not settle");
}

fn key(seed: u8) -> PrivateKey {
    PrivateKey::from_ed25519_seed(&[seed; 32])
}

fn app(keys: &[&PrivateKey]) -> App {
    App {
        authorized: keys.iter().map(|k| k.public_key()).collect(),
        verified: Vec::new(),
        success: None,
    }
}

#[test]
fn password_after_a_wrong_one() {
    let (mut c, mut s, mut a) = (
        AuthClient::new("alice", SID, None),
        AuthServer::new(config(), SID),
        app(&[]),
    );
    let mut tries = vec!["secret", "wrong"];
    let mut events = Vec::new();
    run(&mut c, &mut s, &mut a, |c, ev| {
        if let ClientEvent::Failure { .. } = ev {
            if let Some(p) = tries.pop() {
                c.password(p);
            }
        }
        events.push(ev);
    })
    .unwrap();
    assert!(c.is_done() && s.is_done());
    assert_eq!(s.failures(), 1);
    assert_eq!(events.last(), Some(&ClientEvent::Success));
    match a.success.unwrap() {
        ServerEvent::Success {
            user, methods, key, ..
        } => {
            assert_eq!(
                (user.as_str(), methods, key),
                ("alice", vec![MethodKind::Password], None)
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn publickey_query_pk_ok_then_signature() {
    let k = key(1);
    let (mut c, mut s, mut a) = (
        AuthClient::new("alice", SID, None),
        AuthServer::new(config(), SID),
        app(&[&k]),
    );
    let mut started = false;
    run(&mut c, &mut s, &mut a, |c, ev| match ev {
        ClientEvent::Failure { .. } if !started => {
            started = true;
            c.publickey(&k.public_key());
        }
        ClientEvent::SignRequest {
            algorithm, data, ..
        } => {
            let sig = k.sign(algorithm, &data).unwrap();
            c.signature(&sig);
        }
        _ => {}
    })
    .unwrap();
    assert!(c.is_done());
    assert_eq!(a.verified, vec![k.public_key()]);
    assert!(
        matches!(a.success, Some(ServerEvent::Success { key: Some(ref kk), .. }) if *kk == k.public_key())
    );
}

/// Go CVE-2024-45337: a client queries with an authorized key, then signs with another key. The
/// application must only ever see the key that signed, and refuse it.
#[test]
fn cve_2024_45337_query_one_key_sign_with_another() {
    let (good, other) = (key(1), key(2));
    let mut s = AuthServer::new(config(), SID);
    let mut a = app(&[&good]);
    let now = Instant::now();
    let query = |k: &PrivateKey, sig: Option<&[u8]>| {
        let blob = k.public_key().to_blob();
        nacre_wire::Encode::to_bytes(&nacre_auth::msg::Request {
            user: "alice",
            service: "ssh-connection",
            method: nacre_auth::msg::Method::PublicKey {
                algorithm: "ssh-ed25519",
                key_blob: &blob,
                signature: sig,
            },
        })
    };
    s.handle_packet(&query(&good, None), now).unwrap();
    a.answer(&mut s, now).unwrap();
    assert_eq!(
        s.poll_transmit().unwrap()[0],
        60,
        "PK_OK for the authorized key"
    );
    let blob = other.public_key().to_blob();
    let data = nacre_auth::msg::signed_data(SID, "alice", "ssh-connection", "ssh-ed25519", &blob);
    let sig = other
        .sign(nacre_keys::SignatureAlgorithm::Ed25519, &data)
        .unwrap();
    s.handle_packet(&query(&other, Some(&sig)), now).unwrap();
    a.answer(&mut s, now).unwrap();
    assert_eq!(
        a.verified,
        vec![other.public_key()],
        "the verified key is the one that signed"
    );
    assert!(!s.is_done());
    assert_eq!(s.poll_transmit().unwrap()[0], 51, "refused");
}

#[test]
fn bad_signature_is_a_failure() {
    let k = key(1);
    let mut s = AuthServer::new(config(), SID);
    let mut a = app(&[&k]);
    let blob = k.public_key().to_blob();
    let data = nacre_auth::msg::signed_data(
        b"another session",
        "alice",
        "ssh-connection",
        "ssh-ed25519",
        &blob,
    );
    let sig = k
        .sign(nacre_keys::SignatureAlgorithm::Ed25519, &data)
        .unwrap();
    let req = nacre_wire::Encode::to_bytes(&nacre_auth::msg::Request {
        user: "alice",
        service: "ssh-connection",
        method: nacre_auth::msg::Method::PublicKey {
            algorithm: "ssh-ed25519",
            key_blob: &blob,
            signature: Some(&sig),
        },
    });
    s.handle_packet(&req, Instant::now()).unwrap();
    a.answer(&mut s, Instant::now()).unwrap();
    assert!(
        a.verified.is_empty(),
        "a signature over another session never reaches the application"
    );
    assert_eq!(s.poll_transmit().unwrap()[0], 51);
    assert_eq!(s.failures(), 1);
}

#[test]
fn keyboard_interactive_round() {
    let (mut c, mut s, mut a) = (
        AuthClient::new("alice", SID, None),
        AuthServer::new(config(), SID),
        app(&[]),
    );
    let mut started = false;
    run(&mut c, &mut s, &mut a, |c, ev| match ev {
        ClientEvent::Failure { .. } if !started => {
            started = true;
            c.keyboard_interactive("");
        }
        ClientEvent::InfoRequest(req) => {
            assert_eq!(req.prompts.len(), 1);
            c.info_response(vec![Zeroizing::new("42".to_owned())]);
        }
        _ => {}
    })
    .unwrap();
    assert!(c.is_done() && s.is_done());
}

#[test]
fn password_change_request() {
    let (mut c, mut s, mut a) = (
        AuthClient::new("alice", SID, None),
        AuthServer::new(config(), SID),
        app(&[]),
    );
    let mut started = false;
    let mut asked = false;
    run(&mut c, &mut s, &mut a, |c, ev| match ev {
        ClientEvent::Failure { .. } if !started => {
            started = true;
            c.password("expired");
        }
        ClientEvent::PasswordChangeRequested { prompt } => {
            assert_eq!(prompt, "change it");
            asked = true;
            c.change_password("expired", "new-secret");
        }
        _ => {}
    })
    .unwrap();
    assert!(asked && c.is_done());
}

#[test]
fn publickey_then_password_gives_partial_success() {
    let k = key(3);
    let cfg = AuthServerConfig {
        methods: vec![vec![MethodKind::PublicKey, MethodKind::Password]],
        ..config()
    };
    let (mut c, mut s, mut a) = (
        AuthClient::new("alice", SID, None),
        AuthServer::new(cfg, SID),
        app(&[&k]),
    );
    let mut failures = Vec::new();
    run(&mut c, &mut s, &mut a, |c, ev| match ev {
        ClientEvent::Failure {
            methods,
            partial_success,
        } => {
            failures.push((methods.clone(), partial_success));
            if !partial_success {
                c.publickey(&k.public_key());
            } else {
                c.password("secret");
            }
        }
        ClientEvent::SignRequest {
            algorithm, data, ..
        } => c.signature(&k.sign(algorithm, &data).unwrap()),
        _ => {}
    })
    .unwrap();
    assert!(c.is_done());
    assert_eq!(
        failures,
        vec![
            (vec!["publickey".to_owned()], false),
            (vec!["password".to_owned()], true)
        ]
    );
    assert!(
        matches!(a.success, Some(ServerEvent::Success { ref methods, .. }) if *methods == [MethodKind::PublicKey, MethodKind::Password])
    );
}

#[test]
fn max_tries_closes_the_connection() {
    let (mut c, mut s, mut a) = (
        AuthClient::new("alice", SID, None),
        AuthServer::new(config(), SID),
        app(&[]),
    );
    let err = run(&mut c, &mut s, &mut a, |c, ev| {
        if let ClientEvent::Failure { .. } = ev {
            c.password("wrong");
        }
    })
    .unwrap_err();
    assert_eq!(err, AuthError::TooManyFailures(6));
    assert_eq!(
        err.reason(),
        nacre_wire::DisconnectReason::NO_MORE_AUTH_METHODS_AVAILABLE
    );
}

#[test]
fn failure_answers_are_delayed() {
    let cfg = AuthServerConfig {
        failure_delay: Duration::from_millis(300),
        ..AuthServerConfig::default()
    };
    let mut s = AuthServer::new(cfg, SID);
    let mut c = AuthClient::new("bob", SID, None);
    let t0 = Instant::now();
    s.handle_packet(&c.poll_transmit().unwrap(), t0).unwrap();
    assert_eq!(
        s.poll_transmit().unwrap()[0],
        51,
        "the answer to none is not a failed attempt"
    );
    c.password("wrong");
    s.handle_packet(&c.poll_transmit().unwrap(), t0).unwrap();
    let mut a = app(&[]);
    a.answer(&mut s, t0).unwrap();
    assert_eq!(s.poll_transmit(), None, "held back");
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_millis(300)));
    s.handle_timeout(t0 + Duration::from_millis(299)).unwrap();
    assert_eq!(s.poll_transmit(), None);
    s.handle_timeout(t0 + Duration::from_millis(300)).unwrap();
    assert_eq!(s.poll_transmit().unwrap()[0], 51);
}

/// libssh CVE-2018-10933: a client that sends USERAUTH_SUCCESS is refused, never authenticated.
#[test]
fn cve_2018_10933_client_sends_userauth_success() {
    let mut s = AuthServer::new(config(), SID);
    let err = s.handle_packet(&[52], Instant::now()).unwrap_err();
    assert!(matches!(
        err,
        AuthError::UnexpectedMessage {
            msg: nacre_wire::MsgNumber::USERAUTH_SUCCESS,
            ..
        }
    ));
    assert!(!s.is_done());
    for m in [51u8, 53, 60] {
        assert!(AuthServer::new(config(), SID)
            .handle_packet(&[m, 0, 0, 0, 0], Instant::now())
            .is_err());
    }
}

/// Erlang/OTP CVE-2025-32433: connection-layer messages (CHANNEL_OPEN, ...) before authentication
/// end the connection; nothing reaches a handler.
#[test]
fn cve_2025_32433_connection_messages_before_auth() {
    for m in 80u8..=127 {
        let mut s = AuthServer::new(config(), SID);
        let err = s
            .handle_packet(
                &[m, 0, 0, 0, 7, b's', b'e', b's', b's', b'i', b'o', b'n'],
                Instant::now(),
            )
            .unwrap_err();
        assert_eq!(
            err.reason(),
            nacre_wire::DisconnectReason::PROTOCOL_ERROR,
            "message {m}"
        );
        assert!(
            s.poll_event().is_none(),
            "message {m}: no handler was asked anything"
        );
    }
}

#[test]
fn server_sending_connection_messages_before_success_is_refused_by_the_client() {
    let mut c = AuthClient::new("alice", SID, None);
    assert!(c.handle_packet(&[94, 0, 0, 0, 0]).is_err());
    let mut c = AuthClient::new("alice", SID, None);
    let _ = c.poll_transmit();
    assert!(
        c.handle_packet(&[60, 0, 0, 0, 0, 0, 0, 0, 0]).is_err(),
        "PK_OK with no query outstanding"
    );
}

#[test]
fn user_or_service_change_and_unknown_service() {
    let mut s = AuthServer::new(config(), SID);
    let mut a = AuthClient::new("alice", SID, None);
    s.handle_packet(&a.poll_transmit().unwrap(), Instant::now())
        .unwrap();
    let mut b = AuthClient::new("mallory", SID, None);
    assert_eq!(
        s.handle_packet(&b.poll_transmit().unwrap(), Instant::now()),
        Err(AuthError::UserOrServiceChanged)
    );
    let mut s = AuthServer::new(config(), SID);
    let req = nacre_wire::Encode::to_bytes(&nacre_auth::msg::Request {
        user: "alice",
        service: "ssh-userauth",
        method: nacre_auth::msg::Method::None,
    });
    assert!(matches!(
        s.handle_packet(&req, Instant::now()),
        Err(AuthError::ServiceNotAvailable(_))
    ));
}

#[test]
fn rsa_algorithm_follows_server_sig_algs() {
    let rsa = nacre_testkit::host_key(KeyType::Rsa, 1).public_key();
    let with = |list: Option<&[String]>| AuthClient::new("a", SID, list).algorithm_for(&rsa).name();
    assert_eq!(
        with(Some(&["rsa-sha2-512".into(), "rsa-sha2-256".into()])),
        "rsa-sha2-512"
    );
    assert_eq!(
        with(Some(&["ssh-ed25519".into(), "rsa-sha2-256".into()])),
        "rsa-sha2-256"
    );
    assert_eq!(with(None), "ssh-rsa");
}

#[test]
fn accepted_algorithms_narrow_the_choice() {
    let rsa = nacre_testkit::host_key(KeyType::Rsa, 1).public_key();
    let ed = nacre_testkit::host_key(KeyType::Ed25519, 1).public_key();
    let both: Vec<String> = vec!["rsa-sha2-512".into(), "rsa-sha2-256".into()];
    let mut c = AuthClient::new("a", SID, Some(&both));
    c.set_pubkey_algorithms(vec![
        SignatureAlgorithm::RsaSha256,
        SignatureAlgorithm::Ed25519,
    ]);
    // rsa-sha2-512 is offered but not accepted: the best accepted one is used.
    assert_eq!(
        c.usable_algorithm(&rsa),
        Some(SignatureAlgorithm::RsaSha256)
    );
    assert_eq!(c.usable_algorithm(&ed), Some(SignatureAlgorithm::Ed25519));
    c.set_pubkey_algorithms(vec![SignatureAlgorithm::Ed25519]);
    // Only legacy ssh-rsa would be left, and it is not accepted either.
    assert_eq!(c.usable_algorithm(&rsa), None);
    c.set_pubkey_algorithms(vec![SignatureAlgorithm::RsaSha512]);
    assert_eq!(c.usable_algorithm(&ed), None);
}

#[test]
fn banner_is_sent_once_before_the_first_answer() {
    let cfg = AuthServerConfig {
        banner: Some("Welcome\n".into()),
        ..config()
    };
    let (mut c, mut s, mut a) = (
        AuthClient::new("alice", SID, None),
        AuthServer::new(cfg, SID),
        app(&[]),
    );
    let mut banners = Vec::new();
    let mut tried = false;
    run(&mut c, &mut s, &mut a, |c, ev| match ev {
        ClientEvent::Banner(b) => banners.push(b),
        ClientEvent::Failure { .. } if !tried => {
            tried = true;
            c.password("secret");
        }
        _ => {}
    })
    .unwrap();
    assert_eq!(banners, vec!["Welcome\n".to_owned()]);
}

/// OpenSSH CVE-2024-6387 class: a client that never finishes authenticating is cut off when the
/// login grace time ends, on the simulated clock.
#[test]
fn login_grace_time_ends_a_stalled_login() {
    let cfg = AuthServerConfig {
        login_grace_time: Some(Duration::from_secs(120)),
        ..config()
    };
    let mut s = AuthServer::new(cfg, SID);
    let t0 = Instant::now();
    let mut c = AuthClient::new("alice", SID, None);
    s.handle_packet(&c.poll_transmit().unwrap(), t0).unwrap();
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(120)));
    s.handle_timeout(t0 + Duration::from_secs(119)).unwrap();
    assert_eq!(
        s.handle_timeout(t0 + Duration::from_secs(120)),
        Err(AuthError::LoginGraceTime)
    );
}

/// RFC 4252 §5: requests pipelined behind a delayed failure are each processed completely, in
/// order: one question at a time reaches the application, and every wrong password gets its
/// own failure answer as soon as its delay is over (before, the held requests were all released
/// at once, each abandoning the previous question: the application checked passwords nobody
/// would hear about, and a failure answer could wait behind the next one's delay forever).
#[test]
fn pipelined_passwords_are_answered_one_by_one() {
    let delay = Duration::from_millis(100);
    let cfg = AuthServerConfig {
        failure_delay: delay,
        ..AuthServerConfig::default()
    };
    let mut s = AuthServer::new(cfg, SID);
    let mut c = AuthClient::new("bob", SID, None);
    let t0 = Instant::now();
    let _none = c.poll_transmit();
    let mut now = t0;
    let mut failures = 0;
    // The first is asked at once (the runtime feeds nothing more until it answered); the three
    // pipelined behind it arrive while its failure is delayed.
    c.password("wrong-0");
    s.handle_packet(&c.poll_transmit().unwrap(), now).unwrap();
    for i in 0..4 {
        let Some(ServerEvent::Password { id, password, .. }) = s.poll_event() else {
            panic!("question {i}")
        };
        assert_eq!(*password, format!("wrong-{i}"), "in order");
        assert!(s.poll_event().is_none(), "one question at a time");
        s.decide(id, Decision::Reject, now).unwrap();
        if i == 0 {
            for j in 1..4 {
                c.password(&format!("wrong-{j}"));
                s.handle_packet(&c.poll_transmit().unwrap(), now).unwrap();
            }
        }
        // The previous answer may leave although this one's delay started (the runtime asks
        // the application before it sends what the released request produced).
        while let Some(p) = s.poll_transmit() {
            assert_eq!(p[0], 51);
            failures += 1;
        }
        assert_eq!(failures, i, "the answers before question {i}");
        now += delay;
        s.handle_timeout(now).unwrap();
    }
    while let Some(p) = s.poll_transmit() {
        assert_eq!(p[0], 51);
        failures += 1;
    }
    assert_eq!(failures, 4, "one failure answer per password");
    assert!(s.poll_event().is_none());
}

/// As OpenSSH's client: a PK_OK whose algorithm names the key's type with another signature
/// algorithm (ssh2 for Node.js answers `ssh-rsa` to an `rsa-sha2-512` query) is accepted, and
/// the signature uses the algorithm we asked about; a PK_OK for another key type is refused.
#[test]
fn pk_ok_naming_the_key_type_is_accepted_and_another_type_is_not() {
    use nacre_auth::msg::PkOk;
    use nacre_wire::Encode;
    let rsa = nacre_testkit::host_key(KeyType::Rsa, 1).public_key();
    let blob = rsa.to_blob();
    let query = |c: &mut AuthClient| {
        c.handle_packet(&{
            let mut m = vec![51];
            nacre_wire::put::name_list(&mut m, &["publickey"]);
            nacre_wire::put::boolean(&mut m, false);
            m
        })
        .unwrap();
        c.publickey(&rsa);
        while c.poll_transmit().is_some() {}
    };
    let server_sig_algs = vec!["rsa-sha2-512".to_owned(), "rsa-sha2-256".to_owned()];
    let mut c = AuthClient::new("alice", SID, Some(&server_sig_algs));
    while c.poll_transmit().is_some() {}
    while c.poll_event().is_some() {}
    query(&mut c);
    let answer = PkOk {
        algorithm: "ssh-rsa",
        key_blob: &blob,
    }
    .to_bytes();
    c.handle_packet(&answer).unwrap();
    let mut signs = Vec::new();
    while let Some(ev) = c.poll_event() {
        if let ClientEvent::SignRequest { algorithm, .. } = ev {
            signs.push(algorithm);
        }
    }
    assert_eq!(signs, [SignatureAlgorithm::RsaSha512]);

    let mut c = AuthClient::new("alice", SID, Some(&server_sig_algs));
    while c.poll_transmit().is_some() {}
    query(&mut c);
    let answer = PkOk {
        algorithm: "ssh-ed25519",
        key_blob: &blob,
    }
    .to_bytes();
    assert!(matches!(
        c.handle_packet(&answer),
        Err(AuthError::Mismatch(_))
    ));
}

/// A method started before the server answered the first `none` request is pipelined (RFC 4252
/// §5): the answer to `none` is not taken for the password's (found while writing the crate's
/// doc examples).
#[test]
fn a_method_started_before_the_none_answer_is_pipelined() {
    let now = Instant::now();
    let mut s = AuthServer::new(config(), SID);
    let mut c = AuthClient::new("alice", SID, None);
    c.password("pw"); // `none` is still unanswered
    let none = c.poll_transmit().unwrap();
    let password = c.poll_transmit().expect("pipelined");
    s.handle_packet(&none, now).unwrap();
    let failure = s.poll_transmit().unwrap();
    c.handle_packet(&failure).unwrap();
    assert!(matches!(c.poll_event(), Some(ClientEvent::Failure { .. })));
    assert!(c.is_pending(), "the password's answer is still to come");
    s.handle_packet(&password, now).unwrap();
    let Some(ServerEvent::Password { id, .. }) = s.poll_event() else {
        panic!("the server asks about the password")
    };
    s.decide(id, Decision::Accept, now).unwrap();
    c.handle_packet(&s.poll_transmit().unwrap()).unwrap();
    assert_eq!(c.poll_event(), Some(ClientEvent::Success));
    assert!(c.is_done());
}
