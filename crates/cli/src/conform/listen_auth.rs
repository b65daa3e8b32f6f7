//! `nacre conform ssh --listen ADDR`, the client's second connection: authentication, the
//! connection layer and framing, sent by nacre's server `Transport` (a fresh ed25519 host key):
//!
//! - right after NEWKEYS, EXT_INFO with server-sig-algs and an extension no client can know
//!   (RFC 8308 §2.5: the client ignores it and goes on to USERAUTH_REQUEST);
//! - the first USERAUTH_REQUEST is answered with USERAUTH_BANNER, then USERAUTH_FAILURE with
//!   partial success listing `publickey,password,keyboard-interactive` (RFC 4252 §5.1, §5.4: the
//!   client shows or skips the banner and tries again);
//! - the second USERAUTH_REQUEST, whatever it is, is answered with USERAUTH_SUCCESS; then, in one
//!   flight, GLOBAL_REQUEST `conform@nacre.invalid` with want_reply (RFC 4254 §4: REQUEST_FAILURE)
//!   and messages 60 (an authentication number, meaningless after USERAUTH_SUCCESS), then 8
//!   (unassigned): each is answered UNIMPLEMENTED with its sequence
//!   number (RFC 4253 §11.4) or, as the RFC's choice, ends the connection (INFO); 60 is a number
//!   the client knows, so ignoring it is INFO too. Message 8 comes last: once it is answered
//!   (clients answer it in their transport, the others in the layer above, perhaps a little
//!   later) the others get one more second, so an ignored message needs no long timeout;
//! - then an IGNORE packet whose last byte (in the MAC or tag) is flipped: the client must drop
//!   the connection (RFC 4253 §6.4, §11.1 MAC_ERROR) within 3 s, not go on (what it sent after
//!   is shown).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use nacre_transport::{Event, Transport};
use nacre_wire::{put, DisconnectReason, Reader};

use super::raw::describe_payload;
use super::{Outcome, Verdict};

/// The extension no client knows.
const UNKNOWN_EXT: &str = "conform-unknown@nacre.invalid";
/// The global request no client knows.
const UNKNOWN_REQUEST: &[u8] = b"conform@nacre.invalid";
/// Message numbers sent after USERAUTH_SUCCESS, message 8 last. 192–255 are sent during
/// authentication on the first connection (`listen`): every client tried so far ends the
/// connection on them after authentication, and the corrupted MAC must come after these.
const AFTER_AUTH: [u8; 2] = [60, 8];
/// How long a client has to react to the corrupted packet, or to answer the probes.
const REACT: Duration = Duration::from_secs(3);

/// What was sent on the connection, and when (as an index into the received packets).
#[derive(Default)]
struct Script {
    /// Received packets when BANNER + FAILURE went out.
    banner_at: Option<usize>,
    /// Received packets when USERAUTH_SUCCESS and the probes went out, and when.
    success_at: Option<(usize, Instant)>,
    /// Sequence number of the GLOBAL_REQUEST.
    global_seq: u32,
    /// (message number, our sequence number) of each probe after authentication.
    probes: Vec<(u8, u32)>,
    /// Received packets when the corrupted packet went out, and when.
    bad_mac_at: Option<(usize, Instant)>,
}

/// The connection as seen from here.
struct Seen {
    received: Vec<(u32, Vec<u8>)>,
    /// Why it ended, if it did (our transport's reason, or "connection closed").
    closed: Option<String>,
}

/// Serves the client's second connection and judges it.
pub fn check_client(mut stream: TcpStream, timeout: Duration) -> Vec<Outcome> {
    let mut t = super::listen::recording_server();
    t.extra_ext_info(vec![(UNKNOWN_EXT.to_owned(), b"conform".to_vec())]);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let deadline = Instant::now() + timeout.max(Duration::from_secs(10));
    let mut s = Script::default();
    let mut seen = Seen {
        received: Vec::new(),
        closed: None,
    };
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while Instant::now() < deadline && seen.closed.is_none() {
        while let Some(ev) = t.poll_event() {
            if let Event::Closed(e) = ev {
                seen.closed = Some(e.to_string());
            }
        }
        seen.received
            .extend(t.take_received().into_iter().map(|(n, p)| (n, p.to_vec())));
        if seen.closed.is_none() && step(&mut t, &mut s, &seen) {
            corrupt_next(&mut t, &mut stream, &mut s, &seen);
        }
        if s.bad_mac_at.is_some_and(|(_, at)| at.elapsed() > REACT) {
            break;
        }
        out.clear();
        t.poll_transmit(&mut out);
        if !out.is_empty() && stream.write_all(&out).is_err() {
            seen.closed = Some("connection closed".into());
            break;
        }
        match stream.read(&mut buf) {
            Ok(0) => seen.closed = Some("connection closed".into()),
            Ok(n) => t.handle_input(buf.get(..n).unwrap_or(&[])),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => seen.closed = Some(format!("connection closed: {e}")),
        }
        t.handle_timeout(Instant::now());
    }
    seen.received
        .extend(t.take_received().into_iter().map(|(n, p)| (n, p.to_vec())));
    if seen.closed.is_none() {
        t.disconnect(DisconnectReason::BY_APPLICATION, "nacre conform: done");
        out.clear();
        t.poll_transmit(&mut out);
        let _ = stream.write_all(&out);
    }
    judge(&s, &seen)
}

/// Sends what the state calls for; true when the probes are settled and the corrupted packet
/// is due.
fn step(t: &mut Transport, s: &mut Script, seen: &Seen) -> bool {
    let requests = seen
        .received
        .iter()
        .filter(|(_, p)| p.first() == Some(&50))
        .count();
    if s.banner_at.is_none() && requests >= 1 {
        let mut banner = vec![53];
        put::string(
            &mut banner,
            b"nacre conform: a banner before the answer\r\n",
        );
        put::string(&mut banner, b"");
        let mut failure = vec![51];
        put::string(&mut failure, b"publickey,password,keyboard-interactive");
        put::boolean(&mut failure, true);
        let _ = t.send(&banner);
        let _ = t.send(&failure);
        s.banner_at = Some(seen.received.len());
    } else if s.success_at.is_none() && requests >= 2 {
        let _ = t.send(&[52]);
        t.set_authenticated();
        s.global_seq = t.next_send_seq();
        let mut global = vec![80];
        put::string(&mut global, UNKNOWN_REQUEST);
        put::boolean(&mut global, true);
        let _ = t.send(&global);
        for n in AFTER_AUTH {
            s.probes.push((n, t.next_send_seq()));
            t.send_raw(&[n, 0, 0, 0, 0]);
        }
        s.success_at = Some((seen.received.len(), Instant::now()));
    }
    // Message 8 is answered by the client's transport, the others by the layer above, perhaps
    // later: once 8 is answered the others get a moment more.
    let answered = |seq: u32| unimplemented_for(&seen.received, seq);
    let settled = s.success_at.is_some_and(|(_, at)| {
        s.probes.iter().all(|&(_, seq)| answered(seq))
            || at.elapsed() > REACT
            || at.elapsed() > Duration::from_secs(1)
                && s.probes.last().is_some_and(|&(_, seq)| answered(seq))
    });
    settled && s.bad_mac_at.is_none()
}

/// Writes everything pending, then an IGNORE packet with its last byte flipped.
fn corrupt_next(t: &mut Transport, stream: &mut TcpStream, s: &mut Script, seen: &Seen) {
    let mut out = Vec::new();
    t.poll_transmit(&mut out);
    let _ = stream.write_all(&out);
    out.clear();
    let mut ignore = vec![2];
    put::string(&mut ignore, b"conform: this packet's MAC is wrong");
    t.send_raw(&ignore);
    t.poll_transmit(&mut out);
    if let Some(last) = out.last_mut() {
        *last ^= 0x01;
    }
    let _ = stream.write_all(&out);
    s.bad_mac_at = Some((seen.received.len(), Instant::now()));
}

fn client_asked_ext_info(received: &[(u32, Vec<u8>)]) -> bool {
    received
        .iter()
        .find(|(_, p)| p.first() == Some(&20))
        .and_then(|(_, p)| nacre_wire::decode_exact::<nacre_transport::msg::KexInit<'_>>(p).ok())
        .is_some_and(|k| k.kex_algorithms.iter().any(|n| n == "ext-info-c"))
}

/// The sequence number an UNIMPLEMENTED payload names.
fn unimplemented_seq(p: &[u8]) -> Option<u32> {
    (p.first() == Some(&3))
        .then(|| Reader::new(p.get(1..).unwrap_or(&[])).u32().ok())
        .flatten()
}

fn unimplemented_for(received: &[(u32, Vec<u8>)], seq: u32) -> bool {
    received
        .iter()
        .any(|(_, p)| unimplemented_seq(p) == Some(seq))
}

/// The client's packets from index `from` on, named, and how the connection ended.
fn after(seen: &Seen, from: usize) -> String {
    let mut names: Vec<String> = seen
        .received
        .iter()
        .skip(from)
        .take(12)
        .map(|(_, p)| describe_payload(p))
        .collect();
    if seen.received.len() > from + 12 {
        names.push("…".into());
    }
    if let Some(c) = &seen.closed {
        names.push(c.clone());
    }
    if names.is_empty() {
        "nothing".into()
    } else {
        names.join(", ")
    }
}

fn outcome(
    name: &str,
    clause: &'static str,
    pass: Option<bool>,
    sent: &str,
    got: String,
    note: &str,
) -> Outcome {
    let verdict = match pass {
        Some(true) => Verdict::Pass,
        Some(false) => Verdict::Fail,
        None => Verdict::Info,
    };
    Outcome::new(name, clause, verdict, sent, got, note)
}

fn judge(s: &Script, seen: &Seen) -> Vec<Outcome> {
    let mut v = vec![judge_ext_info(seen), judge_auth(s, seen)];
    v.extend(judge_after_auth(s, seen));
    v.push(judge_bad_mac(s, seen));
    v
}

/// RFC 8308 §2.5: an unknown extension is ignored; the client goes on to USERAUTH_REQUEST.
fn judge_ext_info(seen: &Seen) -> Outcome {
    let sent = format!("EXT_INFO(server-sig-algs, {UNKNOWN_EXT})");
    let note = "an unrecognised extension name is ignored: the client goes on";
    let went_on = seen.received.iter().any(|(_, p)| p.first() == Some(&50));
    let asked = client_asked_ext_info(&seen.received);
    let kexinit = seen.received.iter().any(|(_, p)| p.first() == Some(&20));
    let (pass, got) = match (kexinit, asked, went_on) {
        (false, _, _) => (None, format!("no KEXINIT: {}", after(seen, 0))),
        (true, false, _) => (None, "no ext-info-c: no EXT_INFO sent".to_owned()),
        (true, true, true) => (Some(true), "USERAUTH_REQUEST after it".to_owned()),
        (true, true, false) => (Some(false), after(seen, 0)),
    };
    outcome(
        "client.ext-info-unknown",
        "RFC 8308 §2.5",
        pass,
        &sent,
        got,
        note,
    )
}

/// RFC 4252 §5.1, §5.4: after a banner and a partial-success failure the client tries again.
fn judge_auth(s: &Script, seen: &Seen) -> Outcome {
    let sent = "USERAUTH_BANNER, USERAUTH_FAILURE(publickey,password,keyboard-interactive, partial success)";
    let note = "the banner is shown or skipped; the client tries a listed method (or gives up with no method it can use)";
    let Some(at) = s.banner_at else {
        return outcome(
            "client.auth-banner-partial-failure",
            "RFC 4252 §5.1, §5.4",
            None,
            "",
            format!("no USERAUTH_REQUEST: {}", after(seen, 0)),
            note,
        );
    };
    let rest = seen.received.get(at..).unwrap_or(&[]);
    let again = rest.iter().any(|(_, p)| p.first() == Some(&50));
    let refused = rest.iter().any(|(_, p)| {
        p.first() == Some(&1) && {
            let reason = Reader::new(p.get(1..).unwrap_or(&[])).u32().unwrap_or(0);
            reason != DisconnectReason::NO_MORE_AUTH_METHODS_AVAILABLE.0
                && reason != DisconnectReason::BY_APPLICATION.0
                && reason != DisconnectReason::AUTH_CANCELLED_BY_USER.0
        }
    });
    let pass = if again {
        Some(true)
    } else if refused {
        Some(false)
    } else {
        None
    };
    outcome(
        "client.auth-banner-partial-failure",
        "RFC 4252 §5.1, §5.4",
        pass,
        sent,
        after(seen, at),
        note,
    )
}

/// RFC 4254 §4 and RFC 4253 §11.4 after USERAUTH_SUCCESS.
fn judge_after_auth(s: &Script, seen: &Seen) -> Vec<Outcome> {
    let Some((at, _)) = s.success_at else {
        let got = "not reached: the client did not authenticate again".to_owned();
        let mut v = vec![outcome(
            "client.global-request",
            "RFC 4254 §4",
            None,
            "",
            got.clone(),
            "",
        )];
        for n in AFTER_AUTH {
            v.push(outcome(
                &format!("client.after-auth.{n}"),
                "RFC 4253 §11.4",
                None,
                "",
                got.clone(),
                "",
            ));
        }
        return v;
    };
    let rest = seen.received.get(at..).unwrap_or(&[]);
    let got = after(seen, at);
    // Ended by the client before the corrupted packet: a probe without an answer may be why.
    let ended = match s.bad_mac_at {
        None => true,
        Some((mac_at, _)) => seen
            .received
            .get(at..mac_at)
            .unwrap_or(&[])
            .iter()
            .any(|(_, p)| p.first() == Some(&1)),
    };
    let global = rest.iter().find_map(|(_, p)| match p.first() {
        Some(81) => Some("REQUEST_SUCCESS"),
        Some(82) => Some("REQUEST_FAILURE"),
        Some(3) if unimplemented_seq(p) == Some(s.global_seq) => Some("UNIMPLEMENTED"),
        _ => None,
    });
    let pass = match global {
        Some(answer) => Some(answer == "REQUEST_FAILURE"),
        None => Some(false),
    };
    let mut v = vec![outcome(
        "client.global-request",
        "RFC 4254 §4",
        pass,
        "USERAUTH_SUCCESS, GLOBAL_REQUEST(conform@nacre.invalid, want_reply)",
        got.clone(),
        "an unknown request with want_reply is answered REQUEST_FAILURE",
    )];
    for &(n, seq) in &s.probes {
        let pass = if unimplemented_for(rest, seq) {
            Some(true)
        } else if ended || n == 60 {
            None
        } else {
            Some(false)
        };
        v.push(outcome(
            &format!("client.after-auth.{n}"),
            "RFC 4253 §11.4",
            pass,
            &format!("message {n} as our packet {seq}"),
            got.clone(),
            if n == 60 {
                "a known number out of its state: UNIMPLEMENTED, or INFO when ignored or ended on"
            } else {
                "answered UNIMPLEMENTED with its sequence number (INFO: the client disconnected instead)"
            },
        ));
    }
    v
}

/// RFC 4253 §6.4: a packet whose MAC is wrong ends the connection.
fn judge_bad_mac(s: &Script, seen: &Seen) -> Outcome {
    let note = "the client drops the connection (DISCONNECT MAC_ERROR or a close) within 3 s";
    let sent = "IGNORE with the last byte of its MAC/tag flipped";
    let Some((at, _)) = s.bad_mac_at else {
        return outcome(
            "client.bad-mac",
            "RFC 4253 §6.4",
            None,
            "",
            "not reached: the connection ended before".to_owned(),
            note,
        );
    };
    // Packets the client sent before it read ours may still arrive: only the end is judged.
    let pass = seen.closed.is_some();
    let got = if seen.closed.is_some() {
        after(seen, at)
    } else {
        format!("still connected after 3 s: {}", after(seen, at))
    };
    outcome(
        "client.bad-mac",
        "RFC 4253 §6.4",
        Some(pass),
        sent,
        got,
        note,
    )
}
