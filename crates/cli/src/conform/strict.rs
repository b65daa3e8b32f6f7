//! Strict key exchange (OpenSSH PROTOCOL §1.10, the Terrapin countermeasure): a server that
//! offers `kex-strict-s-v00@openssh.com` must end the connection on any message that is not part
//! of the initial exchange, and reset its sequence numbers at each NEWKEYS.

use nacre_transport::msg::KexInit;
use nacre_wire::{decode_exact, put};

use super::client::{config, Client};
use super::raw::{describe, disconnected, ecdh_init, has_msg, opened, KexInitSpec};
use super::{Outcome, Target, Verdict};

const CLAUSE: &str = "OpenSSH PROTOCOL §1.10";
const MARKERS: [&str; 2] = ["ext-info-c", "kex-strict-c-v00@openssh.com"];

/// The checks of this family.
pub fn checks(target: &Target) -> Vec<Outcome> {
    let (_, kexinit) = match opened(target, "strict.offered", CLAUSE) {
        Ok(x) => x,
        Err(o) => return vec![o],
    };
    let offered = decode_exact::<KexInit<'_>>(&kexinit).is_ok_and(|k| {
        k.kex_algorithms
            .iter()
            .any(|n| n == "kex-strict-s-v00@openssh.com")
    });
    let mut v = vec![Outcome::new(
        "strict.offered",
        CLAUSE,
        Verdict::Info,
        "",
        if offered {
            "kex-strict-s-v00@openssh.com"
        } else {
            "no strict kex marker"
        },
        if offered {
            "strict kex offered"
        } else {
            "strict kex not offered: with chacha20-poly1305 or an -etm MAC the Terrapin prefix truncation applies"
        },
    )];
    if !offered {
        return v;
    }
    let mut ignore = vec![2u8];
    put::string(&mut ignore, b"terrapin");
    let mut debug = vec![4u8];
    put::boolean(&mut debug, false);
    put::string(&mut debug, b"terrapin");
    put::string(&mut debug, b"");
    v.push(injected(
        target,
        "strict.ignore-before-newkeys",
        &ignore,
        false,
    ));
    v.push(injected(
        target,
        "strict.debug-before-newkeys",
        &debug,
        false,
    ));
    v.push(injected(
        target,
        "strict.ignore-before-kexinit",
        &ignore,
        true,
    ));
    v.push(sequence_reset(target));
    v
}

/// `extra` sent after (or, with `first`, before) our strict KEXINIT: the server must disconnect.
fn injected(target: &Target, name: &str, extra: &[u8], first: bool) -> Outcome {
    let (mut raw, kexinit) = match opened(target, name, CLAUSE) {
        Ok(x) => x,
        Err(o) => return o,
    };
    let spec = match KexInitSpec::matching(&kexinit, &MARKERS) {
        Ok(s) => s,
        Err(e) => return Outcome::skipped(name, CLAUSE, e.to_string()),
    };
    let what = super::raw::describe_payload(extra);
    if first {
        raw.send_packet(extra);
    }
    raw.send_packet(&spec.payload());
    if !first {
        raw.send_packet(extra);
    }
    let q = raw.random32();
    raw.send_packet(&ecdh_init(&q));
    let seen = raw.observe(|p| p.first() == Some(&31));
    let refused = disconnected(&seen) && !has_msg(&seen, 31);
    let sent = if first {
        format!("{what}, KEXINIT with kex-strict-c, KEX_ECDH_INIT")
    } else {
        format!("KEXINIT with kex-strict-c, {what}, KEX_ECDH_INIT")
    };
    Outcome::new(
        name,
        CLAUSE,
        if refused {
            Verdict::Pass
        } else {
            Verdict::Fail
        },
        sent,
        describe(&seen),
        if refused {
            format!("{what} during the initial strict exchange ends the connection")
        } else {
            format!(
                "{what} during the initial strict exchange was accepted (Terrapin precondition)"
            )
        },
    )
}

/// A whole strict exchange and a service request: works only if both sides reset their
/// sequence numbers at NEWKEYS (our first encrypted packet carries 0).
fn sequence_reset(target: &Target) -> Outcome {
    let name = "strict.sequence-reset";
    let mut c = match Client::connect(target, config()) {
        Ok(c) => c,
        Err(e) => return Outcome::skipped(name, CLAUSE, e.to_string()),
    };
    let result = c.handshake();
    let strict = c.t.strict_kex();
    let (verdict, note) = match (result, strict) {
        (Ok(()), true) => (
            Verdict::Pass,
            "sequence numbers reset at NEWKEYS in both directions".to_owned(),
        ),
        (Ok(()), false) => (
            Verdict::Fail,
            "the server offered strict kex but did not use it".to_owned(),
        ),
        (Err(e), _) => (
            Verdict::Fail,
            format!("encrypted traffic after a strict NEWKEYS failed: {e}"),
        ),
    };
    Outcome::new(
        name,
        CLAUSE,
        verdict,
        "strict exchange, then SERVICE_REQUEST as packet 0",
        c.close_text(),
        note,
    )
}
