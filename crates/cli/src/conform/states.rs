//! Messages in the wrong state: a sample of message numbers sent before the key exchange,
//! during it, after it but before authentication, and after authentication, each followed by
//! a message that has an answer (the "ping"), so that "ignored" is told from "no answer" without
//! waiting. What the RFCs ask:
//!
//! - IGNORE and DEBUG are understood and ignored at any time (RFC 4253 §11.2, §11.3);
//! - an unrecognised number gets UNIMPLEMENTED with its sequence number (RFC 4253 §11.4);
//! - during a key exchange only transport messages may be sent (RFC 4253 §7.1): anything else
//!   is a protocol error (DISCONNECT or UNIMPLEMENTED pass; acting on it fails);
//! - before authentication a connection-protocol message (80 and above) "is an error, to which
//!   the server MUST respond by disconnecting" (RFC 4252 §6);
//! - after USERAUTH_SUCCESS further authentication requests "SHOULD be silently ignored"
//!   (RFC 4252 §5.1).

use nacre_wire::put;

use super::client::{config, global_request, userauth_header, Client};
use super::raw::{describe, disconnected, ecdh_init, opened, unimplemented, KexInitSpec, Seen};
use super::{Outcome, Target, Verdict};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    BeforeKex,
    DuringKex,
    BeforeAuth,
    AfterAuth,
}

impl State {
    fn label(self) -> &'static str {
        match self {
            State::BeforeKex => "before-kex",
            State::DuringKex => "during-kex",
            State::BeforeAuth => "before-auth",
            State::AfterAuth => "after-auth",
        }
    }

    fn sample(self) -> &'static [u8] {
        match self {
            State::BeforeKex | State::DuringKex => &[2, 4, 8, 50, 94, 192],
            State::BeforeAuth => &[2, 6, 8, 60, 80, 90, 94, 192, 255],
            State::AfterAuth => &[2, 8, 30, 50, 60, 192, 255],
        }
    }
}

/// A plausible payload for message `n` (the body matters little: the number is what is tested).
fn payload(n: u8, user: &str) -> Vec<u8> {
    let mut m = vec![n];
    match n {
        2 => put::string(&mut m, b"conform"),
        4 => {
            put::boolean(&mut m, false);
            put::string(&mut m, b"conform");
            put::string(&mut m, b"");
        }
        6 => put::string(&mut m, b"ssh-userauth"),
        30 => put::string(&mut m, &[9; 32]),
        50 => return userauth_header(user, "none"),
        60 => {
            put::string(&mut m, b"ssh-ed25519");
            put::string(&mut m, b"");
        }
        80 => return global_request("conform@nacre.invalid", true),
        90 => {
            put::string(&mut m, b"session");
            put::uint32(&mut m, 7);
            put::uint32(&mut m, 65536);
            put::uint32(&mut m, 32768);
        }
        94 => {
            put::uint32(&mut m, 0);
            put::string(&mut m, b"x");
        }
        _ => put::string(&mut m, b"conform"),
    }
    m
}

/// The checks of this family.
pub fn checks(target: &Target) -> Vec<Outcome> {
    let mut v = Vec::new();
    for state in [
        State::BeforeKex,
        State::DuringKex,
        State::BeforeAuth,
        State::AfterAuth,
    ] {
        if state == State::AfterAuth && !target.has_credentials() {
            v.push(Outcome::skipped(
                "state.after-auth",
                "RFC 4252 §5.1",
                "needs --user with --password or -i",
            ));
            continue;
        }
        for &n in state.sample() {
            if target.wants(&format!("state.{}.{n}", state.label())) {
                v.push(probe(target, state, n));
            }
        }
    }
    v
}

/// The ping's answer: KEX_ECDH_REPLY, USERAUTH_FAILURE/SUCCESS, REQUEST_FAILURE/SUCCESS.
fn is_pong(state: State, p: &[u8]) -> bool {
    match state {
        State::BeforeKex | State::DuringKex => p.first() == Some(&31),
        State::BeforeAuth => matches!(p.first(), Some(51 | 52)),
        State::AfterAuth => matches!(p.first(), Some(81 | 82)),
    }
}

fn probe(target: &Target, state: State, n: u8) -> Outcome {
    let name = format!("state.{}.{}", state.label(), n);
    let clause = clause(state, n);
    let user = target
        .user
        .clone()
        .unwrap_or_else(|| "nacre-conform".into());
    let msg = payload(n, &user);
    let shown = super::raw::describe_payload(&msg);
    let (seq, seen) = match state {
        State::BeforeKex | State::DuringKex => {
            let (mut raw, kexinit) = match opened(target, &name, clause) {
                Ok(x) => x,
                Err(o) => return o,
            };
            let spec = match KexInitSpec::matching(&kexinit, &[]) {
                Ok(s) => s,
                Err(e) => return Outcome::skipped(name, clause, e.to_string()),
            };
            let seq = if state == State::BeforeKex {
                let seq = raw.send_packet(&msg);
                raw.send_packet(&spec.payload());
                seq
            } else {
                raw.send_packet(&spec.payload());
                raw.send_packet(&msg)
            };
            let q = raw.random32();
            raw.send_packet(&ecdh_init(&q));
            (seq, raw.observe(|p| is_pong(state, p)))
        }
        State::BeforeAuth | State::AfterAuth => {
            let c = if state == State::AfterAuth {
                Client::logged_in(target)
            } else {
                Client::connect(target, config())
                    .map_err(|e| e.to_string())
                    .and_then(|mut c| c.handshake().map(|()| c).map_err(|e| e.to_string()))
            };
            let mut c = match c {
                Ok(c) => c,
                Err(e) => return Outcome::skipped(name, clause, e),
            };
            let seq = c.send_raw(&msg);
            if state == State::AfterAuth {
                c.send_raw(&global_request("ping@conform.nacre.invalid", true));
            } else {
                c.send_raw(&userauth_header(&user, "none"));
            }
            (seq, c.observe(|p| is_pong(state, p)))
        }
    };
    let (verdict, note) = judge(state, n, seq, &seen);
    let ping = match state {
        State::BeforeKex => format!("{shown} (seq {seq}), KEXINIT, KEX_ECDH_INIT"),
        State::DuringKex => format!("KEXINIT, {shown} (seq {seq}), KEX_ECDH_INIT"),
        State::BeforeAuth => format!("{shown} (seq {seq}), USERAUTH_REQUEST none"),
        State::AfterAuth => format!("{shown} (seq {seq}), GLOBAL_REQUEST want_reply"),
    };
    Outcome::new(name, clause, verdict, ping, describe(&seen), note)
}

fn clause(state: State, n: u8) -> &'static str {
    match (state, n) {
        (_, 2) => "RFC 4253 §11.2",
        (_, 4) => "RFC 4253 §11.3",
        (State::BeforeAuth, 80..=255) => "RFC 4252 §6",
        (State::AfterAuth, 192..=255) | (_, 8) => "RFC 4253 §11.4",
        (State::BeforeKex | State::DuringKex, _) => "RFC 4253 §7.1",
        (State::AfterAuth, 50) => "RFC 4252 §5.1",
        _ => "RFC 4253 §11.4",
    }
}

/// What the server did with the message, as a verdict.
fn judge(state: State, n: u8, seq: u32, seen: &[Seen]) -> (Verdict, String) {
    let pong = seen
        .iter()
        .any(|s| matches!(s, Seen::Packet(p) if is_pong(state, p)));
    let unimpl = unimplemented(seen);
    let unimpl_ok = unimpl.contains(&seq);
    let unimpl_wrong = !unimpl.is_empty() && !unimpl_ok;
    let closed = disconnected(seen);
    // An answer to the message itself (not the ping, not a generic transport message, not a
    // banner or a request the server makes of its own accord).
    let acted = seen.iter().any(|s| {
        matches!(s, Seen::Packet(p) if !is_pong(state, p)
            && matches!(p.first(), Some(51 | 52 | 60 | 81 | 82 | 91 | 92 | 93 | 99 | 100)))
    });
    // SSH2_MSG_PONG: a server that knows OpenSSH's ping (PROTOCOL §1.8) answers 192 with it.
    let ponged = seen
        .iter()
        .any(|s| matches!(s, Seen::Packet(p) if p.first() == Some(&193)));
    let reaction = if ponged && state == State::AfterAuth && n == 192 {
        "answered PONG"
    } else if closed {
        "disconnected"
    } else if unimpl_ok {
        "answered UNIMPLEMENTED"
    } else if unimpl_wrong {
        "answered UNIMPLEMENTED with the wrong sequence number"
    } else if acted {
        "acted on it"
    } else if pong {
        "ignored it"
    } else {
        "no answer to the following request"
    };
    let verdict = match (state, n) {
        (_, 2 | 4) => ok(!closed && !unimpl_ok && !unimpl_wrong && pong),
        (State::BeforeAuth, 80..=255) if acted => Verdict::Fail,
        (State::BeforeAuth, 80..=255) => ok(closed || unimpl_ok),
        // Not allowed before NEWKEYS either (RFC 4253 §7.1): refusing is as right as UNIMPLEMENTED.
        (State::BeforeKex | State::DuringKex, 192..=255) if !acted => ok(closed || unimpl_ok),
        (State::AfterAuth, 192) if ponged => ok(!closed),
        (_, 8) | (_, 192..=255) => ok(unimpl_ok && !closed),
        (State::BeforeKex | State::DuringKex, _) if acted => Verdict::Fail,
        (State::BeforeKex | State::DuringKex, _) if closed || unimpl_ok => Verdict::Pass,
        (State::AfterAuth, 50) if pong && !closed && !acted && unimpl.is_empty() => Verdict::Pass,
        _ => Verdict::Info,
    };
    let why = match (state, n) {
        (_, 2 | 4) => "must be ignored",
        (State::BeforeAuth, 80..=255) => {
            "connection protocol before authentication: disconnect (UNIMPLEMENTED tolerated)"
        }
        (State::BeforeKex | State::DuringKex, 192..=255) => {
            "unrecognised and not allowed before NEWKEYS: UNIMPLEMENTED or disconnect"
        }
        (State::AfterAuth, 192) => {
            "SSH2_MSG_PING where the server knows it (OpenSSH PROTOCOL §1.8), else unrecognised: \
             PONG, or UNIMPLEMENTED with its sequence number"
        }
        (_, 8) | (_, 192..=255) => "unrecognised: UNIMPLEMENTED with its sequence number",
        (State::BeforeKex | State::DuringKex, _) => "not allowed before NEWKEYS: refuse, never act",
        (State::AfterAuth, 50) => "after success authentication requests SHOULD be ignored",
        _ => "the RFC leaves the reaction open",
    };
    (verdict, format!("{reaction} ({why})"))
}

fn ok(b: bool) -> Verdict {
    if b {
        Verdict::Pass
    } else {
        Verdict::Fail
    }
}
