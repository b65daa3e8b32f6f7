//! KEXINIT checks (RFC 4253 §7.1): the server's own KEXINIT (cookie, reserved field, lists), and
//! how it takes ours (reserved field set, a wrong guess with first_kex_packet_follows, unknown
//! names, empty lists); and RFC 8308 extension negotiation.

use nacre_transport::msg::KexInit;
use nacre_transport::Event;
use nacre_wire::decode_exact;

use super::client::{config, Client};
use super::raw::{describe, disconnected, ecdh_init, has_msg, opened, KexInitSpec, Raw, Seen};
use super::{Outcome, Target, Verdict};

const CLAUSE: &str = "RFC 4253 §7.1";
/// An algorithm name no implementation knows.
const UNKNOWN: &str = "unknown-name@conform.nacre.invalid";

/// The checks of this family.
pub fn checks(target: &Target) -> Vec<Outcome> {
    let mut v = server_kexinit(target);
    v.push(ours(
        target,
        "kexinit.reserved-nonzero",
        |s| s.reserved = 0xdead_beef,
        false,
        "our reserved field is 0xdeadbeef",
    ));
    v.push(ours(
        target,
        "kexinit.unknown-names",
        |s| {
            s.kex.insert(0, UNKNOWN.into());
            s.host_key.insert(0, UNKNOWN.into());
            s.cipher.insert(0, UNKNOWN.into());
            s.mac.insert(0, UNKNOWN.into());
        },
        true,
        "every list starts with an unknown name (to be skipped)",
    ));
    v.push(no_kex(
        target,
        "kexinit.empty-list",
        |s| s.cipher.clear(),
        "empty encryption name-lists",
    ));
    v.push(no_kex(
        target,
        "kexinit.no-common-cipher",
        |s| s.cipher = vec![UNKNOWN.into()],
        "only an unknown cipher",
    ));
    v.push(wrong_guess(target));
    v
}

/// Our KEXINIT changed by `change`, then KEX_ECDH_INIT: what came back.
fn exchange(
    target: &Target,
    name: &str,
    change: impl FnOnce(&mut KexInitSpec),
) -> Result<(String, Vec<Seen>), Outcome> {
    let (mut raw, kexinit) = opened(target, name, CLAUSE)?;
    let mut spec = KexInitSpec::matching(&kexinit, &[])
        .map_err(|e| Outcome::skipped(name, CLAUSE, e.to_string()))?;
    change(&mut spec);
    raw.send_packet(&spec.payload());
    let q = raw.random32();
    raw.send_packet(&ecdh_init(&q));
    let sent = format!(
        "KEXINIT kex={} cipher={} reserved={:#x}, KEX_ECDH_INIT",
        spec.kex.join(","),
        spec.cipher.join(","),
        spec.reserved
    );
    Ok((sent, raw.observe(|p| p.first() == Some(&31))))
}

fn ours(
    target: &Target,
    name: &str,
    change: impl FnOnce(&mut KexInitSpec),
    must: bool,
    what: &str,
) -> Outcome {
    match exchange(target, name, change) {
        Err(o) => o,
        Ok((sent, seen)) => {
            let ok = has_msg(&seen, 31);
            let verdict = match (ok, must) {
                (true, _) => Verdict::Pass,
                (false, true) => Verdict::Fail,
                (false, false) => Verdict::Info,
            };
            let note = format!(
                "{what}: {}",
                if ok { "exchange went on" } else { "refused" }
            );
            Outcome::new(name, CLAUSE, verdict, sent, describe(&seen), note)
        }
    }
}

fn no_kex(
    target: &Target,
    name: &str,
    change: impl FnOnce(&mut KexInitSpec),
    what: &str,
) -> Outcome {
    match exchange(target, name, change) {
        Err(o) => o,
        Ok((sent, seen)) => {
            let went_on = has_msg(&seen, 31);
            let verdict = if went_on {
                Verdict::Fail
            } else if disconnected(&seen) {
                Verdict::Pass
            } else {
                Verdict::Info
            };
            let note = match verdict {
                Verdict::Fail => {
                    format!("{what}: the exchange went on with no algorithm in common")
                }
                Verdict::Pass => format!("{what}: disconnected (no algorithm in common)"),
                Verdict::Info => format!("{what}: neither an exchange nor a disconnect"),
            };
            Outcome::new(name, CLAUSE, verdict, sent, describe(&seen), note)
        }
    }
}

/// first_kex_packet_follows with a wrong guess: the guessed packet must be ignored.
fn wrong_guess(target: &Target) -> Outcome {
    let name = "kexinit.wrong-guess";
    let (mut raw, kexinit): (Raw, Vec<u8>) = match opened(target, name, CLAUSE) {
        Ok(x) => x,
        Err(o) => return o,
    };
    let mut spec = match KexInitSpec::matching(&kexinit, &[]) {
        Ok(s) => s,
        Err(e) => return Outcome::skipped(name, CLAUSE, e.to_string()),
    };
    // The first kex name is one the server cannot share, so the guess is wrong whatever the
    // server prefers; the guessed packet is a nistp256 point, which a server that took it for
    // curve25519's KEX_ECDH_INIT would refuse.
    spec.kex.insert(0, UNKNOWN.into());
    spec.follows = true;
    raw.send_packet(&spec.payload());
    let mut guess = vec![4u8];
    guess.extend_from_slice(&raw.random32());
    guess.extend_from_slice(&raw.random32());
    raw.send_packet(&ecdh_init(&guess));
    let q = raw.random32();
    raw.send_packet(&ecdh_init(&q));
    let seen = raw.observe(|p| p.first() == Some(&31));
    let ok = has_msg(&seen, 31) && !disconnected(&seen);
    Outcome::new(
        name,
        CLAUSE,
        if ok { Verdict::Pass } else { Verdict::Fail },
        format!("KEXINIT first_kex_packet_follows=1 kex={}, guessed KEX_ECDH_INIT (65-byte point), KEX_ECDH_INIT", spec.kex.join(",")),
        describe(&seen),
        if ok {
            "the wrongly guessed packet was ignored"
        } else {
            "the wrongly guessed packet was not silently ignored"
        },
    )
}

/// The server's KEXINIT: cookie (two connections), reserved field, lists.
fn server_kexinit(target: &Target) -> Vec<Outcome> {
    let mut kexinits = Vec::new();
    for _ in 0..2 {
        match opened(target, "kexinit.cookie", CLAUSE) {
            Ok((_, k)) => kexinits.push(k),
            Err(o) => {
                // Every check of the server's KEXINIT is INFO with the same reason.
                return [
                    "kexinit.cookie",
                    "kexinit.server-reserved",
                    "kexinit.server-lists",
                ]
                .iter()
                .map(|n| Outcome::skipped(*n, CLAUSE, o.note.clone()))
                .collect();
            }
        }
    }
    let (Some(a), Some(b)) = (kexinits.first(), kexinits.get(1)) else {
        return Vec::new();
    };
    let cookie = |k: &Vec<u8>| k.get(1..17).map(|c| c.to_vec()).unwrap_or_default();
    let (ca, cb) = (cookie(a), cookie(b));
    let random = ca != cb && ca.iter().any(|&x| x != 0);
    let hex = |c: &[u8]| c.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let mut v = vec![Outcome::new(
        "kexinit.cookie",
        CLAUSE,
        if random { Verdict::Pass } else { Verdict::Fail },
        "two connections",
        format!("cookies {} and {}", hex(&ca), hex(&cb)),
        if random {
            "a fresh random cookie per KEXINIT"
        } else {
            "the cookie is not random"
        },
    )];
    let parsed: KexInit<'_> = match decode_exact(a) {
        Ok(k) => k,
        Err(e) => {
            v.push(Outcome::new(
                "kexinit.server-decodes",
                CLAUSE,
                Verdict::Fail,
                "",
                format!("{e}"),
                "the server's KEXINIT does not decode",
            ));
            return v;
        }
    };
    v.push(Outcome::new(
        "kexinit.server-reserved",
        CLAUSE,
        if parsed.reserved == 0 {
            Verdict::Pass
        } else {
            Verdict::Fail
        },
        "",
        format!(
            "reserved {:#x}, first_kex_packet_follows {}",
            parsed.reserved, parsed.first_kex_packet_follows
        ),
        "the reserved uint32 is 0",
    ));
    let mut problems = Vec::new();
    for (what, list) in [
        ("kex_algorithms", &parsed.kex_algorithms),
        (
            "server_host_key_algorithms",
            &parsed.server_host_key_algorithms,
        ),
        ("encryption c2s", &parsed.encryption_c2s),
        ("encryption s2c", &parsed.encryption_s2c),
        ("mac c2s", &parsed.mac_c2s),
        ("mac s2c", &parsed.mac_s2c),
    ] {
        if list.iter().next().is_none() {
            problems.push(format!("{what} is empty"));
        }
    }
    for (what, list) in [
        ("compression c2s", &parsed.compression_c2s),
        ("compression s2c", &parsed.compression_s2c),
    ] {
        if !list.iter().any(|n| n == "none") {
            problems.push(format!(
                "{what} lacks the REQUIRED \"none\" (RFC 4253 §6.2)"
            ));
        }
    }
    v.push(Outcome::new(
        "kexinit.server-lists",
        CLAUSE,
        if problems.is_empty() {
            Verdict::Pass
        } else {
            Verdict::Fail
        },
        "",
        format!(
            "kex {}; host keys {}; compression {}",
            parsed.kex_algorithms.as_str(),
            parsed.server_host_key_algorithms.as_str(),
            parsed.compression_s2c.as_str()
        ),
        if problems.is_empty() {
            "every list non-empty, compression offers none".to_owned()
        } else {
            problems.join("; ")
        },
    ));
    v
}

/// RFC 8308: EXT_INFO only to a client that asked, right after NEWKEYS, server-sig-algs.
pub fn ext_info_checks(target: &Target) -> Vec<Outcome> {
    let clause = "RFC 8308 §2.4";
    let mut v = Vec::new();
    let mut c = match Client::connect(target, config()) {
        Ok(c) => c,
        Err(e) => {
            return vec![Outcome::skipped(
                "ext-info.after-newkeys",
                clause,
                e.to_string(),
            )]
        }
    };
    c.t.request_service("ssh-userauth");
    let ok = c.until(|c| {
        c.events
            .iter()
            .any(|e| matches!(e, Event::ServiceAccepted(_)))
    });
    let log: Vec<u8> =
        c.t.take_received()
            .iter()
            .map(|(_, p)| p.first().copied().unwrap_or(0))
            .collect();
    let shown = log
        .iter()
        .map(|n| format!("{:?}", nacre_wire::MsgNumber(*n)))
        .collect::<Vec<_>>()
        .join(", ");
    let ext = c.events.iter().find_map(|e| match e {
        Event::ExtInfo(x) => Some(x.clone()),
        _ => None,
    });
    let after_newkeys = log
        .iter()
        .position(|&n| n == 21)
        .and_then(|i| log.get(i + 1))
        .copied();
    let (verdict, note) = match (ok, &ext, after_newkeys) {
        (false, _, _) => (
            Verdict::Fail,
            format!("handshake failed: {}", c.close_text()),
        ),
        (true, Some(_), Some(7)) => (
            Verdict::Pass,
            "EXT_INFO is the first packet after NEWKEYS".to_owned(),
        ),
        (true, Some(_), _) => (
            Verdict::Pass,
            "EXT_INFO sent just before USERAUTH_SUCCESS".to_owned(),
        ),
        (true, None, _) => (Verdict::Info, "no EXT_INFO (optional)".to_owned()),
    };
    v.push(Outcome::new(
        "ext-info.after-newkeys",
        clause,
        verdict,
        "KEXINIT with ext-info-c, SERVICE_REQUEST",
        shown,
        note,
    ));
    let sig_algs = ext.as_ref().and_then(|x| {
        x.iter()
            .find(|(n, _)| n == "server-sig-algs")
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    });
    v.push(match (ext.is_some(), sig_algs) {
        (false, _) => Outcome::skipped("ext-info.server-sig-algs", "RFC 8308 §3.1", "no EXT_INFO"),
        (true, None) => Outcome::new(
            "ext-info.server-sig-algs",
            "RFC 8308 §3.1",
            Verdict::Info,
            "",
            "",
            "EXT_INFO without server-sig-algs",
        ),
        (true, Some(list)) => {
            let good = !list.is_empty() && list.split(',').all(|n| !n.is_empty());
            Outcome::new(
                "ext-info.server-sig-algs",
                "RFC 8308 §3.1",
                if good { Verdict::Pass } else { Verdict::Fail },
                "",
                list,
                if good {
                    "a name-list of signature algorithms"
                } else {
                    "not a valid name-list"
                },
            )
        }
    });
    // Without ext-info-c the server must send none.
    let name = "ext-info.not-asked";
    let mut cfg = config();
    cfg.ext_info = false;
    match Client::connect(target, cfg) {
        Err(e) => v.push(Outcome::skipped(name, "RFC 8308 §2.1", e.to_string())),
        Ok(mut c) => {
            c.t.request_service("ssh-userauth");
            c.until(|c| {
                c.events
                    .iter()
                    .any(|e| matches!(e, Event::ServiceAccepted(_)))
            });
            let log: Vec<u8> =
                c.t.take_received()
                    .iter()
                    .map(|(_, p)| p.first().copied().unwrap_or(0))
                    .collect();
            let sent_ext = log.contains(&7);
            v.push(Outcome::new(
                name,
                "RFC 8308 §2.1",
                if sent_ext {
                    Verdict::Fail
                } else {
                    Verdict::Pass
                },
                "KEXINIT without ext-info-c, SERVICE_REQUEST",
                log.iter()
                    .map(|n| format!("{:?}", nacre_wire::MsgNumber(*n)))
                    .collect::<Vec<_>>()
                    .join(", "),
                if sent_ext {
                    "EXT_INFO sent to a client that did not announce ext-info-c"
                } else {
                    "no EXT_INFO to a client that did not ask"
                },
            ));
        }
    }
    v
}
