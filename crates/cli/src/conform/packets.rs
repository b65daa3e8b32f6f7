//! Binary packet protocol violations (RFC 4253 §6): padding, block size, packet_length and MAC.
//! The framing checks run before NEWKEYS (plaintext, block size 8) so every byte is ours; the
//! MAC check corrupts an encrypted packet of a real session.

use nacre_wire::put;

use super::client::{config, userauth_header, Client};
use super::raw::{describe, disconnected, ecdh_init, has_msg, opened, KexInitSpec, Seen};
use super::{Outcome, Target, Verdict};

const CLAUSE: &str = "RFC 4253 §6";

/// The checks of this family.
pub fn checks(target: &Target) -> Vec<Outcome> {
    // IGNORE with a 4-byte string and 2 bytes of padding: 16 bytes, a multiple of 8.
    let short_pad = framed(12, 2, &[2, 0, 0, 0, 4, 1, 2, 3, 4, 0, 0]);
    // 6-byte payload, 4 bytes of padding: 15 bytes in all.
    let odd = framed(11, 4, &[2, 0, 0, 0, 1, 9, 0, 0, 0, 0]);
    // padding_length larger than packet_length.
    let over = framed(12, 200, &[2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let huge = framed(0x7fff_fff0, 4, &[2, 0, 0, 0, 0]);
    vec![
        violation(
            target,
            "packet.padding-under-4",
            &short_pad,
            "padding_length 2 (at least 4)",
            true,
        ),
        violation(
            target,
            "packet.not-block-multiple",
            &odd,
            "a 15-byte packet (a multiple of 8)",
            true,
        ),
        violation(
            target,
            "packet.padding-over-length",
            &over,
            "padding_length 200 in a 12-byte packet",
            true,
        ),
        violation(
            target,
            "packet.length-huge",
            &huge,
            "packet_length 0x7ffffff0",
            false,
        ),
        max_size(target),
        mac(target),
    ]
}

/// packet_length, padding_length, then the rest as given.
fn framed(packet_length: u32, padding_length: u8, rest: &[u8]) -> Vec<u8> {
    let mut out = packet_length.to_be_bytes().to_vec();
    out.push(padding_length);
    out.extend_from_slice(rest);
    out
}

/// KEXINIT, the malformed `bytes`, KEX_ECDH_INIT: the server must not go on. With `must`, going
/// on is a FAIL; without, waiting is INFO (a server may wait for the rest of a huge packet).
fn violation(target: &Target, name: &str, bytes: &[u8], what: &str, must: bool) -> Outcome {
    let clause = if name == "packet.length-huge" {
        "RFC 4253 §6.1"
    } else {
        CLAUSE
    };
    let (mut raw, kexinit) = match opened(target, name, clause) {
        Ok(x) => x,
        Err(o) => return o,
    };
    let spec = match KexInitSpec::matching(&kexinit, &[]) {
        Ok(s) => s,
        Err(e) => return Outcome::skipped(name, clause, e.to_string()),
    };
    raw.send_packet(&spec.payload());
    raw.send(bytes);
    let q = raw.random32();
    raw.send_packet(&ecdh_init(&q));
    let seen = raw.observe(|p| p.first() == Some(&31));
    let went_on = has_msg(&seen, 31);
    let closed = disconnected(&seen);
    let verdict = if closed && !went_on {
        Verdict::Pass
    } else if went_on || must {
        Verdict::Fail
    } else {
        Verdict::Info
    };
    let note = match verdict {
        Verdict::Pass => format!("{what}: connection ended"),
        Verdict::Fail if went_on => format!("{what}: accepted, the exchange went on"),
        _ => format!("{what}: the server neither went on nor closed"),
    };
    Outcome::new(
        name,
        clause,
        verdict,
        format!("KEXINIT, {what}, KEX_ECDH_INIT"),
        describe(&seen),
        note,
    )
}

/// A packet with a 32768-byte payload (the largest every implementation must accept).
fn max_size(target: &Target) -> Outcome {
    let name = "packet.accepts-32768";
    let clause = "RFC 4253 §6.1";
    let (mut raw, kexinit) = match opened(target, name, clause) {
        Ok(x) => x,
        Err(o) => return o,
    };
    let spec = match KexInitSpec::matching(&kexinit, &[]) {
        Ok(s) => s,
        Err(e) => return Outcome::skipped(name, clause, e.to_string()),
    };
    raw.send_packet(&spec.payload());
    // IGNORE with a 32763-byte string: a 32768-byte payload, 32784 bytes in all.
    let mut payload = vec![2u8];
    put::string(&mut payload, &vec![0x61; 32763]);
    raw.send_packet(&payload);
    let q = raw.random32();
    raw.send_packet(&ecdh_init(&q));
    let seen = raw.observe(|p| p.first() == Some(&31));
    let ok = has_msg(&seen, 31);
    Outcome::new(
        name,
        clause,
        if ok { Verdict::Pass } else { Verdict::Fail },
        "KEXINIT, IGNORE with a 32768-byte payload, KEX_ECDH_INIT",
        describe(&seen),
        if ok {
            "a 32768-byte payload is accepted"
        } else {
            "a 32768-byte payload was refused"
        },
    )
}

/// An encrypted IGNORE with its last byte (MAC or tag) flipped, then a request that has an
/// answer: the server must not answer it.
fn mac(target: &Target) -> Outcome {
    let name = "packet.bad-mac";
    let clause = "RFC 4253 §6.4";
    let mut c = match Client::connect(target, config()) {
        Ok(c) => c,
        Err(e) => return Outcome::skipped(name, clause, e.to_string()),
    };
    if let Err(e) = c.handshake() {
        return Outcome::skipped(name, clause, e.to_string());
    }
    let cipher =
        c.t.negotiated()
            .map(|n| format!("{:?}/{:?}", n.cipher_c2s, n.mac_c2s))
            .unwrap_or_default();
    c.flush();
    let mut ignore = vec![2u8];
    put::string(&mut ignore, b"mac");
    c.t.send_raw(&ignore);
    let mut bytes = c.take_output();
    if let Some(last) = bytes.last_mut() {
        *last ^= 0x55;
    }
    c.send_bytes(&bytes);
    let user = target
        .user
        .clone()
        .unwrap_or_else(|| "nacre-conform".into());
    c.send_raw(&userauth_header(&user, "none"));
    let seen = c.observe(|p| matches!(p.first(), Some(51 | 52)));
    let answered = has_msg(&seen, 51) || has_msg(&seen, 52);
    let closed = disconnected(&seen) || seen.iter().any(|s| matches!(s, Seen::Closed));
    let verdict = if answered {
        Verdict::Fail
    } else if closed {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    Outcome::new(
        name,
        clause,
        verdict,
        format!("IGNORE with its last byte flipped ({cipher}), USERAUTH_REQUEST none"),
        describe(&seen),
        match verdict {
            Verdict::Pass => "the corrupted packet ended the connection",
            _ if answered => "the corrupted packet was accepted",
            _ => "the connection stayed open after a MAC failure",
        },
    )
}
