//! A TCP proxy in front of a real server that breaks one clause of the plaintext phase (before
//! NEWKEYS): it rewrites the server's identification line or KEXINIT, or changes, drops or
//! answers the client's packets itself. Together with the server behind it, it is a scripted
//! server that violates exactly one rule, so `nacre conform ssh` must report FAIL for it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One broken clause.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The server's identification line ends with LF alone.
    BannerLf,
    /// The server's KEXINIT cookie is all zeros.
    ZeroCookie,
    /// The server's KEXINIT reserved field is 1.
    Reserved,
    /// The server's compression lists say `zlib` instead of `none`.
    NoNoneCompression,
    /// A client identifying as SSH-1.5 is taken for SSH-2.0.
    AcceptsV1,
    /// A client identification line with a comment is refused.
    RefusesComments,
    /// The client's IGNORE and DEBUG before NEWKEYS never reach the server (strict kex unenforced).
    SwallowsIgnore,
    /// The client's malformed plaintext packets are dropped instead of ending the connection.
    ToleratesFraming,
    /// A client packet over 32 KiB ends the connection.
    RefusesBigPacket,
    /// A guessed kex packet after first_kex_packet_follows ends the connection.
    TakesWrongGuess,
    /// A KEXINIT that starts with an unknown kex name ends the connection.
    RefusesUnknownNames,
    /// A KEXINIT with no usable cipher gets a KEX_ECDH_REPLY anyway.
    NoCommonGoesOn,
    /// Unrecognised message 8 before NEWKEYS gets no UNIMPLEMENTED.
    NoUnimplemented,
    /// IGNORE before NEWKEYS is answered UNIMPLEMENTED.
    UnimplementedForIgnore,
    /// A USERAUTH_REQUEST before NEWKEYS is answered USERAUTH_FAILURE (acted on).
    ActsDuringKex,
}

/// A running proxy: the port the checks connect to.
pub struct Proxy {
    /// Where the proxy listens.
    pub port: u16,
}

/// Starts a proxy to `127.0.0.1:upstream` with `fault`.
pub fn start(upstream: u16, fault: Fault) -> Proxy {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                continue;
            };
            std::thread::spawn(move || connection(client, server, fault));
        }
    });
    Proxy { port }
}

fn connection(client: TcpStream, server: TcpStream, fault: Fault) {
    let to_client = Arc::new(Mutex::new(client.try_clone().unwrap()));
    let to_server = server.try_clone().unwrap();
    let tc = to_client.clone();
    let upstream = server.try_clone().unwrap();
    std::thread::spawn(move || server_to_client(server, tc, fault));
    client_to_server(client, to_server, to_client, fault);
    // The client is gone (or the fault ended the connection): so is the upstream connection.
    let _ = upstream.shutdown(std::net::Shutdown::Both);
}

/// Reads one line (up to LF) byte by byte.
fn read_line(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        if s.read(&mut b).ok()? == 0 {
            return None;
        }
        line.push(b[0]);
        if b[0] == b'\n' {
            return Some(line);
        }
    }
}

/// Reads one plaintext packet (length, padding length and the rest), or None when the
/// framing is absurd (then `raw` holds what was read).
fn read_packet(s: &mut TcpStream) -> Option<Result<Vec<u8>, Vec<u8>>> {
    let mut head = [0u8; 5];
    s.read_exact(&mut head).ok()?;
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    if !(5..=1 << 20).contains(&len) {
        return Some(Err(head.to_vec()));
    }
    let mut rest = vec![0u8; len - 1];
    s.read_exact(&mut rest).ok()?;
    let mut p = head.to_vec();
    p.extend_from_slice(&rest);
    Some(Ok(p))
}

/// The payload of a framed packet (None if the padding is wrong).
fn payload(p: &[u8]) -> Option<&[u8]> {
    let pad = *p.get(4)? as usize;
    let end = p.len().checked_sub(pad)?;
    p.get(5..end)
}

/// Frames a plaintext payload (block 8, padding ≥ 4).
fn frame(payload: &[u8]) -> Vec<u8> {
    let mut pad = 8 - (payload.len() + 5) % 8;
    if pad < 4 {
        pad += 8;
    }
    let mut out = ((1 + payload.len() + pad) as u32).to_be_bytes().to_vec();
    out.push(pad as u8);
    out.extend_from_slice(payload);
    out.extend(std::iter::repeat_n(0, pad));
    out
}

/// Whether the framing obeys RFC 4253 §6 (block 8, padding 4..=255 within the packet).
fn well_framed(p: &[u8]) -> bool {
    let pad = p.get(4).copied().unwrap_or(0) as usize;
    p.len().is_multiple_of(8) && pad >= 4 && pad + 1 < p.len() - 4
}

fn server_to_client(mut server: TcpStream, client: Arc<Mutex<TcpStream>>, fault: Fault) {
    let Some(mut line) = read_line(&mut server) else {
        return;
    };
    if fault == Fault::BannerLf && line.ends_with(b"\r\n") {
        line.truncate(line.len() - 2);
        line.push(b'\n');
    }
    if client.lock().unwrap().write_all(&line).is_err() {
        return;
    }
    // Plaintext packets until the server's NEWKEYS; then raw bytes.
    loop {
        let Some(Ok(mut p)) = read_packet(&mut server) else {
            return;
        };
        let msg = payload(&p).and_then(|x| x.first().copied());
        if msg == Some(20) {
            edit_kexinit(&mut p, fault);
        }
        if client.lock().unwrap().write_all(&p).is_err() {
            return;
        }
        if msg == Some(21) {
            break;
        }
    }
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match server.read(&mut buf) {
            Ok(0) | Err(_) => {
                let _ = client.lock().unwrap().shutdown(std::net::Shutdown::Write);
                return;
            }
            Ok(n) => {
                if client.lock().unwrap().write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

/// Changes the server's KEXINIT in place (same length): cookie, reserved field, compression.
fn edit_kexinit(p: &mut [u8], fault: Fault) {
    let pad = p[4] as usize;
    let end = p.len() - pad;
    match fault {
        Fault::ZeroCookie => p[6..22].fill(0),
        Fault::Reserved => p[end - 1] = 1,
        Fault::NoNoneCompression => {
            // The compression lists are the 7th and 8th name-lists.
            let mut at = 22;
            for i in 0..8 {
                let n = u32::from_be_bytes([p[at], p[at + 1], p[at + 2], p[at + 3]]) as usize;
                if i >= 6 {
                    let list = &mut p[at + 4..at + 4 + n];
                    if let Some(pos) = list.windows(4).position(|w| w == b"none") {
                        list[pos..pos + 4].copy_from_slice(b"zlib");
                    }
                }
                at += 4 + n;
            }
        }
        _ => {}
    }
}

fn client_to_server(
    mut client: TcpStream,
    mut server: TcpStream,
    to_client: Arc<Mutex<TcpStream>>,
    fault: Fault,
) {
    let inject = |payload: &[u8]| {
        let _ = to_client.lock().unwrap().write_all(&frame(payload));
    };
    let Some(mut line) = read_line(&mut client) else {
        return;
    };
    // Lines before the version go through as they are.
    while !line.starts_with(b"SSH-") {
        if server.write_all(&line).is_err() {
            return;
        }
        let Some(l) = read_line(&mut client) else {
            return;
        };
        line = l;
    }
    if fault == Fault::AcceptsV1 && line.starts_with(b"SSH-1.5-") {
        line[4..7].copy_from_slice(b"2.0");
    }
    if fault == Fault::RefusesComments && line.contains(&b' ') {
        return;
    }
    if server.write_all(&line).is_err() {
        return;
    }
    let mut seq = 0u32;
    let mut guessed = false;
    loop {
        let p = match read_packet(&mut client) {
            None => return,
            Some(Err(head)) => {
                // Absurd length: forward it (the server judges) unless tolerated.
                if fault != Fault::ToleratesFraming {
                    let _ = server.write_all(&head);
                }
                continue;
            }
            Some(Ok(p)) => p,
        };
        let this = seq;
        seq += 1;
        if !well_framed(&p) {
            if fault == Fault::ToleratesFraming {
                continue;
            }
        } else if fault == Fault::RefusesBigPacket && p.len() > 32 * 1024 {
            return;
        }
        let body = payload(&p).unwrap_or(&[]);
        let msg = body.first().copied().unwrap_or(0);
        match (fault, msg) {
            (Fault::SwallowsIgnore, 2 | 4) => continue,
            (Fault::NoUnimplemented, 8) => continue,
            (Fault::UnimplementedForIgnore, 2) => {
                let mut u = vec![3];
                u.extend_from_slice(&this.to_be_bytes());
                inject(&u);
                continue;
            }
            (Fault::ActsDuringKex, 50) => {
                let mut f = vec![51, 0, 0, 0, 8];
                f.extend_from_slice(b"password");
                f.push(0);
                inject(&f);
                continue;
            }
            (Fault::RefusesUnknownNames, 20) if body.windows(12).any(|w| w == b"unknown-name") => {
                return;
            }
            (Fault::TakesWrongGuess, 20) => {
                guessed = body.get(body.len().saturating_sub(5)) == Some(&1)
            }
            (Fault::TakesWrongGuess, 30) if guessed => return,
            (Fault::NoCommonGoesOn, 20) if !body.windows(17).any(|w| w == b"chacha20-poly1305") => {
                inject(&[31, 0, 0, 0, 0]);
                continue;
            }
            _ => {}
        }
        if server.write_all(&p).is_err() {
            return;
        }
        if msg == 21 {
            break;
        }
    }
    let _ = std::io::copy(&mut client, &mut server);
    let _ = server.shutdown(std::net::Shutdown::Write);
}
