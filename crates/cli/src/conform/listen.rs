//! `nacre conform ssh --listen ADDR`: the role reversed. nacre waits for a client's first connection,
//! serves it with its sans-IO server `Transport` (a fresh ed25519 host key, strict kex and
//! ext-info as the client asks) and checks what the client sends: its identification line, its
//! KEXINIT, its first packet, whether it goes on to USERAUTH_REQUEST past IGNORE and DEBUG sent
//! right after NEWKEYS, and its answers to unrecognised messages sent then (8, 192, 255:
//! UNIMPLEMENTED, RFC 4253 §11.4). Then the
//! connection ends with DISCONNECT (no authentication is attempted: the client may fail with
//! "disconnected by the server"; that is expected). The client's second connection is checked by
//! `listen_auth` (authentication, connection layer, a corrupted MAC).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nacre_crypto::SystemRng;
use nacre_transport::msg::KexInit;
use nacre_transport::{Config, Event, Transport};
use nacre_wire::{decode_exact, put, DisconnectReason, Reader};

use super::raw::trim_eol;
use super::{Outcome, Verdict};

/// Waits for a client on `addr` and checks its two connections: the handshake here, then
/// authentication, the connection layer and framing (`listen_auth`). Without a second connection
/// within `timeout` (at least 30 s) the second connection's checks say so (INFO).
pub fn run(addr: &str, timeout: Duration) -> anyhow::Result<Vec<Outcome>> {
    let listener = TcpListener::bind(addr)?;
    eprintln!("waiting for a client on {}", listener.local_addr()?);
    let (stream, peer) = listener.accept()?;
    eprintln!("client {peer}");
    let mut v = check_client(stream, timeout);
    eprintln!("connect the client again (authentication and connection checks)");
    match accept_within(&listener, timeout.max(Duration::from_secs(30)))? {
        Some(stream) => v.extend(super::listen_auth::check_client(stream, timeout)),
        None => v.push(outcome(
            "client.second-connection",
            "",
            None,
            "no second connection",
            "the authentication and connection checks need the client to connect twice",
        )),
    }
    Ok(v)
}

/// The next connection on `listener` within `wait`, if any.
fn accept_within(listener: &TcpListener, wait: Duration) -> anyhow::Result<Option<TcpStream>> {
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false)?;
                return Ok(Some(stream));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(None)
}

fn outcome(
    name: &str,
    clause: &'static str,
    pass: Option<bool>,
    got: impl Into<String>,
    note: impl Into<String>,
) -> Outcome {
    let verdict = match pass {
        Some(true) => Verdict::Pass,
        Some(false) => Verdict::Fail,
        None => Verdict::Info,
    };
    Outcome::new(name, clause, verdict, "", got, note)
}

/// Serves one client connection and judges it.
pub fn check_client(mut stream: TcpStream, timeout: Duration) -> Vec<Outcome> {
    let mut t = recording_server();
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let deadline = Instant::now() + timeout.max(Duration::from_secs(10));
    let mut raw_in = Vec::new();
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut received: Vec<(u32, Vec<u8>)> = Vec::new();
    let mut probe_seq: Option<u32> = None;
    let mut probe_at = Instant::now();
    let mut service = false;
    let mut closed = None;
    while Instant::now() < deadline && closed.is_none() {
        while let Some(ev) = t.poll_event() {
            match ev {
                Event::KexComplete { first: true, .. } => {
                    // IGNORE and DEBUG right after NEWKEYS.
                    let mut ignore = vec![2];
                    put::string(&mut ignore, b"conform");
                    t.send_raw(&ignore);
                    let mut debug = vec![4];
                    put::boolean(&mut debug, false);
                    put::string(&mut debug, b"conform");
                    put::string(&mut debug, b"");
                    t.send_raw(&debug);
                }
                Event::ServiceStarted(_) => service = true,
                Event::Closed(e) => closed = Some(e.to_string()),
                _ => {}
            }
        }
        received.extend(t.take_received().into_iter().map(|(s, p)| (s, p.to_vec())));
        if probe_seq.is_none() && userauth(&received) {
            // An unrecognised message once the client is past IGNORE and DEBUG.
            probe_seq = Some(t.next_send_seq());
            probe_at = Instant::now();
            for n in [8, 192, 255] {
                t.send_raw(&[n, 0, 0, 0, 0]);
            }
        }
        // 8 is answered by the client's transport, 192 and 255 perhaps by a layer above, a
        // little later: one more second for them.
        let answered = |k: u32| probe_seq.is_some_and(|seq| unimplemented_for(&received, seq + k));
        if answered(0)
            && (answered(1) && answered(2) || probe_at.elapsed() > Duration::from_secs(1))
        {
            break;
        }
        out.clear();
        t.poll_transmit(&mut out);
        if !out.is_empty() && stream.write_all(&out).is_err() {
            closed = Some("connection closed".to_owned());
            break;
        }
        match stream.read(&mut buf) {
            Ok(0) => {
                closed = Some("connection closed".to_owned());
                break;
            }
            Ok(n) => {
                if raw_in.len() < 16 * 1024 {
                    raw_in.extend_from_slice(buf.get(..n).unwrap_or(&[]));
                }
                t.handle_input(buf.get(..n).unwrap_or(&[]));
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => {
                closed = Some(format!("connection closed: {e}"));
                break;
            }
        }
        t.handle_timeout(Instant::now());
    }
    received.extend(t.take_received().into_iter().map(|(s, p)| (s, p.to_vec())));
    t.disconnect(DisconnectReason::BY_APPLICATION, "nacre conform: done");
    out.clear();
    t.poll_transmit(&mut out);
    let _ = stream.write_all(&out);
    judge(&raw_in, &received, probe_seq, service, closed)
}

/// A server transport with a fresh ed25519 host key that keeps every packet it receives
/// (`Transport::record_received`), as both connections of `--listen` use.
pub(super) fn recording_server() -> Transport {
    let key = Arc::new(nacre_keys::PrivateKey::generate_ed25519(
        &mut rand_core::OsRng,
    ));
    let config = Config::server(vec![key]);
    let mut t = Transport::server(Arc::new(config), Box::new(SystemRng), Instant::now());
    t.record_received(true);
    t
}

/// Whether the client went on to USERAUTH_REQUEST (past our IGNORE and DEBUG).
fn userauth(received: &[(u32, Vec<u8>)]) -> bool {
    received.iter().any(|(_, p)| p.first() == Some(&50))
}

/// Whether the client ended the connection (DISCONNECT or a close).
fn ended(received: &[(u32, Vec<u8>)], closed: &Option<String>) -> bool {
    closed.is_some() || received.iter().any(|(_, p)| p.first() == Some(&1))
}

fn unimplemented_for(received: &[(u32, Vec<u8>)], seq: u32) -> bool {
    received.iter().any(|(_, p)| {
        p.first() == Some(&3) && Reader::new(p.get(1..).unwrap_or(&[])).u32().ok() == Some(seq)
    })
}

fn judge(
    raw_in: &[u8],
    received: &[(u32, Vec<u8>)],
    probe_seq: Option<u32>,
    service: bool,
    closed: Option<String>,
) -> Vec<Outcome> {
    let mut v = Vec::new();
    let line_end = raw_in
        .iter()
        .position(|&b| b == b'\n')
        .map_or(raw_in.len(), |i| i + 1);
    let line = raw_in.get(..line_end).unwrap_or(&[]);
    let body = String::from_utf8_lossy(trim_eol(line)).into_owned();
    let ok_line = line.ends_with(b"\r\n")
        && line.len() <= 255
        && body.starts_with("SSH-2.0-")
        && body.split(' ').next().is_some_and(|s| {
            !s.get(8..).unwrap_or("").is_empty() && !s.get(8..).unwrap_or("").contains('-')
        });
    v.push(outcome(
        "client.ident",
        "RFC 4253 §4.2",
        Some(ok_line),
        format!("{body:?}"),
        "SSH-2.0-softwareversion [SP comments] CR LF, at most 255 bytes",
    ));
    let kexinit = received.iter().find(|(_, p)| p.first() == Some(&20));
    let first = received
        .first()
        .map(|(_, p)| p.first().copied().unwrap_or(0));
    v.push(outcome(
        "client.first-packet-kexinit",
        "RFC 4253 §7.1",
        Some(first == Some(20)),
        format!("first message {first:?}"),
        "the client's first packet is its KEXINIT",
    ));
    match kexinit.and_then(|(_, p)| decode_exact::<KexInit<'_>>(p).ok()) {
        None => v.push(outcome(
            "client.kexinit",
            "RFC 4253 §7.1",
            Some(false),
            "",
            "no decodable KEXINIT",
        )),
        Some(k) => {
            v.push(outcome(
                "client.kexinit-cookie",
                "RFC 4253 §7.1",
                Some(k.cookie.iter().any(|&b| b != 0)),
                k.cookie
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>(),
                "a random cookie (not all zeros)",
            ));
            v.push(outcome(
                "client.kexinit-reserved",
                "RFC 4253 §7.1",
                Some(k.reserved == 0),
                format!("{:#x}", k.reserved),
                "the reserved uint32 is 0",
            ));
            let none = k.compression_c2s.iter().any(|n| n == "none")
                && k.compression_s2c.iter().any(|n| n == "none");
            v.push(outcome(
                "client.kexinit-lists",
                "RFC 4253 §7.1",
                Some(none && k.kex_algorithms.iter().next().is_some()),
                format!("kex {}", k.kex_algorithms.as_str()),
                "lists non-empty, compression offers none",
            ));
            let strict = k
                .kex_algorithms
                .iter()
                .any(|n| n == "kex-strict-c-v00@openssh.com");
            v.push(outcome(
                "client.strict-kex",
                "OpenSSH PROTOCOL §1.10",
                None,
                if strict {
                    "kex-strict-c-v00@openssh.com"
                } else {
                    "no marker"
                },
                if strict {
                    "strict kex offered"
                } else {
                    "strict kex not offered"
                },
            ));
            let ext = k.kex_algorithms.iter().any(|n| n == "ext-info-c");
            v.push(outcome(
                "client.ext-info-c",
                "RFC 8308 §2.1",
                None,
                if ext { "ext-info-c" } else { "no marker" },
                "whether the client asks for EXT_INFO",
            ));
        }
    }
    let answered = probe_seq.is_some_and(|seq| unimplemented_for(received, seq));
    // What the client sent from its USERAUTH_REQUEST on (the probe follows it).
    let after: Vec<String> = received
        .iter()
        .skip_while(|(_, p)| p.first() != Some(&50))
        .map(|(_, p)| super::raw::describe_payload(p))
        .collect();
    v.push(outcome(
        "client.unimplemented",
        "RFC 4253 §11.4",
        // Ending the connection instead is the RFC's other choice (§11.1): INFO, as in the
        // server battery.
        match (probe_seq, answered) {
            (None, _) => None,
            (Some(_), true) => Some(true),
            (Some(_), false) if ended(received, &closed) => None,
            (Some(_), false) => Some(false),
        },
        match probe_seq {
            Some(seq) => format!(
                "message 8 as our packet {seq}; then {}; {}",
                after.join(", "),
                closed.clone().unwrap_or_default()
            ),
            None => "no USERAUTH_REQUEST to send it after".to_owned(),
        },
        "message 8 answered UNIMPLEMENTED with its sequence number (INFO: the client disconnected instead)",
    ));
    for (k, n) in [(1, 192), (2, 255)] {
        let seq = probe_seq.map(|s| s + k);
        // 192 is SSH2_MSG_PING (OpenSSH PROTOCOL §1.8; our EXT_INFO offers ping@openssh.com):
        // a PONG answers it as well.
        let pong = n == 192 && received.iter().any(|(_, p)| p.first() == Some(&193));
        let answered = pong || seq.is_some_and(|seq| unimplemented_for(received, seq));
        let ended = ended(received, &closed);
        v.push(Outcome::new(
            format!("client.during-auth.{n}"),
            "RFC 4253 §11.4",
            match (seq, answered, ended) {
                (None, _, _) | (_, false, true) => Verdict::Info,
                (_, true, _) => Verdict::Pass,
                (_, false, false) => Verdict::Fail,
            },
            seq.map_or(String::new(), |s| format!("message {n} as our packet {s}")),
            if seq.is_some() {
                format!("{}; {}", after.join(", "), closed.clone().unwrap_or_default())
            } else {
                "no USERAUTH_REQUEST to send it after".to_owned()
            },
            if n == 192 {
                "answered UNIMPLEMENTED with its sequence number, or PONG (INFO: the client disconnected instead)"
            } else {
                "answered UNIMPLEMENTED with its sequence number (INFO: the client disconnected instead)"
            },
        ));
    }
    let went_on = service && userauth(received);
    v.push(outcome(
        "client.ignore-debug",
        "RFC 4253 §11.2",
        Some(went_on),
        if went_on {
            "SERVICE_REQUEST, USERAUTH_REQUEST after them".to_owned()
        } else {
            closed.unwrap_or_else(|| "no USERAUTH_REQUEST".into())
        },
        "IGNORE and DEBUG after NEWKEYS are ignored, the client goes on",
    ));
    v
}
