//! Fuzzing entry points for user authentication (feature `fuzzing`; docs/FUZZING.md).
//!
//! Every function takes arbitrary bytes and must never panic, except through an `assert!` that
//! flags a real bug. The cargo-fuzz targets in `fuzz/` and the stable corpus replay test call them.
//! The machines sit on top of an established transport, so feeding them payloads directly is what
//! they see after a successful handshake.

#![allow(
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nacre_keys::{KeyType, PrivateKey, PublicKey, SignatureAlgorithm};
use nacre_wire::{decode_exact, fuzz_round_trip, Encode, MsgNumber};
use zeroize::Zeroizing;

use crate::msg::{
    self, Banner, Failure, InfoRequest, InfoResponse, Method, PasswdChangeReq, PkOk, Prompt,
    Request, Success,
};
use crate::{
    AuthClient, AuthServer, AuthServerConfig, ClientEvent, Decision, MethodKind, ServerEvent,
    SSH_CONNECTION,
};

/// The session identifier the fuzzed machines authenticate for.
pub const SESSION_ID: &[u8] = b"nacre fuzz session identifier: 32";

/// The user keys of the fuzz targets: the only keys whose signatures the fuzzer can produce.
pub fn user_keys() -> &'static [PrivateKey] {
    static KEYS: OnceLock<Vec<PrivateKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut keys = vec![PrivateKey::from_ed25519_seed(&[0x11; 32])];
        if let Ok(k) = PrivateKey::from_ecdsa_scalar(KeyType::EcdsaNistP256, &[0x22; 32]) {
            keys.push(k);
        }
        keys
    })
}

fn clock() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

/// A cursor over fuzz input that never fails: reads past the end give zeros or short slices.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
    fn short(&mut self) -> &'a [u8] {
        let n = usize::from(self.u8());
        self.bytes(n)
    }
    fn text(&mut self) -> String {
        String::from_utf8_lossy(self.short()).into_owned()
    }
    fn payload(&mut self) -> &'a [u8] {
        let n = usize::from(u16::from_be_bytes([self.u8(), self.u8()]));
        self.bytes(n)
    }
}

/// The authentication messages (RFC 4252, RFC 4256): `data` is one payload, tried with every
/// decoder (number 60 with each of its three meanings); each that accepts it must round-trip.
pub fn auth_messages(data: &[u8]) {
    fuzz_round_trip!(Request<'_>, data);
    fuzz_round_trip!(Failure<'_>, data);
    fuzz_round_trip!(Success, data);
    fuzz_round_trip!(Banner<'_>, data);
    fuzz_round_trip!(PkOk<'_>, data);
    fuzz_round_trip!(PasswdChangeReq<'_>, data);
    fuzz_round_trip!(InfoRequest, data);
    fuzz_round_trip!(InfoResponse, data);
    if let Ok(req) = decode_exact::<Request<'_>>(data) {
        let _ = req.method.name();
        if let Method::PublicKey {
            algorithm,
            key_blob,
            ..
        } = req.method
        {
            let signed = msg::signed_data(SESSION_ID, req.user, req.service, algorithm, key_blob);
            assert!(signed.len() > key_blob.len());
        }
    }
}

fn server_config(flags: u8) -> AuthServerConfig {
    let methods = match flags & 3 {
        0 => AuthServerConfig::default().methods,
        1 => vec![vec![MethodKind::PublicKey, MethodKind::Password]],
        2 => vec![
            vec![MethodKind::Password, MethodKind::KeyboardInteractive],
            vec![MethodKind::PublicKey],
        ],
        _ => vec![vec![MethodKind::KeyboardInteractive]],
    };
    AuthServerConfig {
        banner: (flags & 4 != 0).then(|| "fuzz banner\r\n".to_owned()),
        max_tries: u32::from(flags >> 5) + 1,
        methods,
        failure_delay: if flags & 8 != 0 {
            Duration::ZERO
        } else {
            Duration::from_millis(200)
        },
        ..AuthServerConfig::default()
    }
}

/// A well-formed USERAUTH_REQUEST from typed fields; public key requests carry a valid signature
/// by one of [`user_keys`] when asked to.
fn build_request(input: &mut Input<'_>) -> Vec<u8> {
    let user = match input.u8() % 3 {
        0 => "alice".to_owned(),
        1 => "bob".to_owned(),
        _ => input.text(),
    };
    let service = if input.u8().is_multiple_of(8) {
        "ssh-fuzz"
    } else {
        SSH_CONNECTION
    };
    let kind = input.u8();
    let (pw, new_pw) = (input.text(), input.text());
    let submethods = input.text();
    let key = &user_keys()[usize::from(kind >> 4) % user_keys().len()];
    let public = key.public_key();
    let blob = public.to_blob();
    let alg = match public.key_type() {
        KeyType::Ed25519 => SignatureAlgorithm::Ed25519,
        _ => SignatureAlgorithm::EcdsaNistP256,
    };
    // Signing costs more than everything else here: only for the two methods that carry one.
    let signature = if matches!(kind % 8, 4 | 5) {
        let signed = msg::signed_data(SESSION_ID, &user, service, alg.name(), &blob);
        key.sign(alg, &signed).unwrap_or_default()
    } else {
        Vec::new()
    };
    let bad_signature = {
        let mut s = signature.clone();
        if let Some(last) = s.last_mut() {
            *last ^= 1;
        }
        s
    };
    let method = match kind % 8 {
        0 => Method::None,
        1 => Method::Password {
            password: &pw,
            new_password: None,
        },
        2 => Method::Password {
            password: &pw,
            new_password: Some(&new_pw),
        },
        3 => Method::PublicKey {
            algorithm: alg.name(),
            key_blob: &blob,
            signature: None,
        },
        4 => Method::PublicKey {
            algorithm: alg.name(),
            key_blob: &blob,
            signature: Some(&signature),
        },
        5 => Method::PublicKey {
            algorithm: alg.name(),
            key_blob: &blob,
            signature: Some(&bad_signature),
        },
        6 => Method::KeyboardInteractive {
            language: "",
            submethods: &submethods,
        },
        _ => Method::Other {
            name: "hostbased",
            rest: b"",
        },
    };
    Request {
        user: &user,
        service,
        method,
    }
    .to_bytes()
}

/// The authentication server fed a script: `data[0]` picks the policy (methods, banner, tries,
/// failure delay); then each step feeds a raw payload, a well-formed request (valid signatures
/// included), an INFO_RESPONSE, answers the oldest question, or lets time pass.
///
/// Checks: every payload the server sends decodes as a server message; only a key that signed
/// (one of [`user_keys`]) is reported verified; success comes once, only through a configured
/// method sequence, and nothing but ignored requests follows it; an error ends the run.
pub fn auth_server(data: &[u8]) {
    let mut input = Input(data);
    let flags = input.u8();
    let config = server_config(flags);
    let policies = config.methods.clone();
    let mut server = AuthServer::new(config, SESSION_ID);
    let mut now = clock();
    let mut questions: Vec<ServerEvent> = Vec::new();
    let mut successes = 0;
    let signers: Vec<PublicKey> = user_keys().iter().map(PrivateKey::public_key).collect();
    let mut steps = 0;
    while !input.is_empty() && steps < 128 {
        steps += 1;
        let op = input.u8();
        let result = match op % 8 {
            0 | 1 => server.handle_packet(input.payload(), now),
            2 | 3 => server.handle_packet(&build_request(&mut input), now),
            4 => {
                let n = usize::from(input.u8() % 4);
                let responses = (0..n).map(|_| Zeroizing::new(input.text())).collect();
                server.handle_packet(&InfoResponse { responses }.to_bytes(), now)
            }
            5 | 6 => {
                if questions.is_empty() {
                    Ok(())
                } else {
                    let q = questions.remove(usize::from(input.u8()) % questions.len());
                    let decision = match input.u8() % 5 {
                        0 | 1 => Decision::Accept,
                        2 => Decision::Reject,
                        3 => Decision::PasswordChangeRequired {
                            prompt: input.text(),
                        },
                        _ => Decision::Prompts(InfoRequest {
                            name: input.text(),
                            instruction: String::new(),
                            language: String::new(),
                            prompts: (0..input.u8() % 3)
                                .map(|i| Prompt {
                                    prompt: format!("prompt {i}: "),
                                    echo: i == 1,
                                })
                                .collect(),
                        }),
                    };
                    server.decide(question_id(&q), decision, now)
                }
            }
            _ => {
                now += Duration::from_millis(u64::from(input.u8()) * 10);
                server.handle_timeout(now)
            }
        };
        while let Some(payload) = server.poll_transmit() {
            check_server_payload(&payload);
        }
        while let Some(ev) = server.poll_event() {
            match &ev {
                ServerEvent::PublicKeyVerified { key, .. } => assert!(
                    signers.contains(key),
                    "a key that never signed was reported verified"
                ),
                ServerEvent::Success { methods, key, .. } => {
                    successes += 1;
                    assert!(policies.contains(methods), "success through {methods:?}");
                    if methods.contains(&MethodKind::PublicKey) {
                        assert!(key.as_ref().is_some_and(|k| signers.contains(k)));
                    }
                }
                _ => {}
            }
            if !matches!(ev, ServerEvent::Success { .. }) {
                questions.push(ev);
            }
        }
        assert!(successes <= 1, "success reported twice");
        assert_eq!(server.is_done(), successes == 1);
        if let Err(e) = result {
            let _ = e.to_string();
            return;
        }
    }
}

fn question_id(ev: &ServerEvent) -> crate::RequestId {
    match ev {
        ServerEvent::Password { id, .. }
        | ServerEvent::PublicKeyQuery { id, .. }
        | ServerEvent::PublicKeyVerified { id, .. }
        | ServerEvent::KeyboardInteractive { id, .. }
        | ServerEvent::KeyboardResponses { id, .. } => *id,
        ServerEvent::Success { .. } => panic!("success is not a question"),
    }
}

fn check_server_payload(p: &[u8]) {
    let ok = match p.first().copied().map(MsgNumber) {
        Some(MsgNumber::USERAUTH_FAILURE) => decode_exact::<Failure<'_>>(p).is_ok(),
        Some(MsgNumber::USERAUTH_SUCCESS) => decode_exact::<Success>(p).is_ok(),
        Some(MsgNumber::USERAUTH_BANNER) => decode_exact::<Banner<'_>>(p).is_ok(),
        Some(msg::USERAUTH_PK_OK) => {
            decode_exact::<PkOk<'_>>(p).is_ok()
                || decode_exact::<PasswdChangeReq<'_>>(p).is_ok()
                || decode_exact::<InfoRequest>(p).is_ok()
        }
        _ => false,
    };
    assert!(ok, "the server sent a malformed payload: {p:?}");
}

/// A well-formed server message from typed fields.
fn build_server_message(input: &mut Input<'_>) -> Vec<u8> {
    match input.u8() % 7 {
        0 => {
            let names = [
                "publickey",
                "password",
                "keyboard-interactive",
                "hostbased",
                "none",
            ];
            let mask = input.u8();
            let chosen: Vec<&str> = names
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, n)| *n)
                .collect();
            let list = chosen.join(",");
            let mut out = vec![MsgNumber::USERAUTH_FAILURE.0];
            nacre_wire::put::string(&mut out, list.as_bytes());
            nacre_wire::put::boolean(&mut out, mask & 0x80 != 0);
            out
        }
        1 => Success.to_bytes(),
        2 => {
            let message = input.text();
            Banner {
                message: message.into(),
                language: b"",
            }
            .to_bytes()
        }
        3 => {
            let key = &user_keys()[usize::from(input.u8()) % user_keys().len()];
            let blob = key.public_key().to_blob();
            let alg = match key.key_type() {
                KeyType::Ed25519 => "ssh-ed25519",
                _ => "ecdsa-sha2-nistp256",
            };
            PkOk {
                algorithm: alg,
                key_blob: &blob,
            }
            .to_bytes()
        }
        4 => {
            let prompt = input.text();
            PasswdChangeReq {
                prompt: &prompt,
                language: "",
            }
            .to_bytes()
        }
        _ => InfoRequest {
            name: input.text(),
            instruction: input.text(),
            language: String::new(),
            prompts: (0..input.u8() % 4)
                .map(|i| Prompt {
                    prompt: format!("p{i}"),
                    echo: i % 2 == 0,
                })
                .collect(),
        }
        .to_bytes(),
    }
}

/// The authentication client fed a script: `data[0]` picks the user and the server's
/// `server-sig-algs`; then each step feeds a raw or well-formed server payload, or has the
/// application act (password, key query, signature, keyboard-interactive, responses, password
/// change).
///
/// Checks: every payload the client sends is a well-formed request or INFO_RESPONSE for
/// `ssh-connection` and one user; a sign request is for a key the client asked about, over
/// exactly the RFC 4252 §7 data; success is reported once and nothing is accepted after it.
pub fn auth_client(data: &[u8]) {
    let mut input = Input(data);
    let flags = input.u8();
    let sig_algs: Vec<String> = ["rsa-sha2-512", "rsa-sha2-256", "ssh-ed25519"]
        .iter()
        .take(usize::from(flags & 3))
        .map(|s| (*s).to_owned())
        .collect();
    let server_sig_algs = (flags & 4 != 0).then_some(sig_algs.as_slice());
    let user = if flags & 8 != 0 { "alice" } else { "" };
    let mut client = AuthClient::new(user, SESSION_ID, server_sig_algs);
    let mut successes = 0;
    // Every key the application asked about (a query started while another is outstanding
    // waits for it, so the one signed may be an earlier one).
    let mut queried: Vec<PublicKey> = Vec::new();
    let mut steps = 0;
    while steps < 128 {
        steps += 1;
        while let Some(p) = client.poll_transmit() {
            check_client_payload(&p, user);
        }
        while let Some(ev) = client.poll_event() {
            match ev {
                ClientEvent::Success => successes += 1,
                ClientEvent::SignRequest {
                    key,
                    algorithm,
                    data,
                } => {
                    assert!(
                        queried.contains(&key),
                        "sign request for a key never asked about"
                    );
                    let expected = msg::signed_data(
                        SESSION_ID,
                        user,
                        SSH_CONNECTION,
                        algorithm.name(),
                        &key.to_blob(),
                    );
                    assert_eq!(data, expected, "sign request over the wrong data");
                }
                _ => {}
            }
        }
        assert!(successes <= 1, "success reported twice");
        assert_eq!(client.is_done(), successes == 1);
        if input.is_empty() {
            break;
        }
        let op = input.u8();
        let result = match op % 10 {
            0 | 1 => client.handle_packet(input.payload()),
            2..=4 => client.handle_packet(&build_server_message(&mut input)),
            5 => {
                client.password(&input.text());
                Ok(())
            }
            6 => {
                let key = user_keys()[usize::from(input.u8()) % user_keys().len()].public_key();
                client.publickey(&key);
                queried.push(key);
                Ok(())
            }
            7 => {
                client.signature(input.short());
                Ok(())
            }
            8 => {
                if input.u8() & 1 == 0 {
                    client.keyboard_interactive(&input.text());
                } else {
                    let n = input.u8() % 4;
                    client.info_response((0..n).map(|_| Zeroizing::new(input.text())).collect());
                }
                Ok(())
            }
            _ => {
                let (old, new) = (input.text(), input.text());
                client.change_password(&old, &new);
                Ok(())
            }
        };
        if result.is_err() {
            break;
        }
    }
}

fn check_client_payload(p: &[u8], user: &str) {
    match p.first().copied().map(MsgNumber) {
        Some(MsgNumber::USERAUTH_REQUEST) => match decode_exact::<Request<'_>>(p) {
            Ok(req) => {
                assert_eq!(req.user, user);
                assert_eq!(req.service, SSH_CONNECTION);
            }
            Err(e) => panic!("the client sent a malformed request: {e}"),
        },
        Some(msg::USERAUTH_INFO_RESPONSE) => {
            assert!(
                decode_exact::<InfoResponse>(p).is_ok(),
                "malformed INFO_RESPONSE"
            );
        }
        other => panic!("the client sent message {other:?}"),
    }
}
