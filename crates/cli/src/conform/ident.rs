//! Identification string checks (RFC 4253 §4.2, §5): the server's line, and how it takes ours.

use super::raw::{describe, ecdh_init, has_msg, trim_eol, KexInitSpec, Raw, Seen};
use super::{Outcome, Target, Verdict};

const CLAUSE: &str = "RFC 4253 §4.2";

/// The checks of this family.
pub fn checks(target: &Target) -> Vec<Outcome> {
    let mut v = server_line(target);
    v.push(accepts(
        target,
        "ident.client-comments",
        b"SSH-2.0-nacre_conform a comment\r\n",
        true,
        "a comment after a space is part of the version line",
    ));
    v.push(accepts(
        target,
        "ident.client-lf-only",
        b"SSH-2.0-nacre_conform\n",
        false,
        "LF alone: the RFC's compatibility note lets servers accept it",
    ));
    v.push(accepts(
        target,
        "ident.client-lines-before",
        b"hello\r\nSSH-2.0-nacre_conform\r\n",
        false,
        "lines before the version are the server's privilege; a client's are reported",
    ));
    let mut long = b"SSH-2.0-nacre_conform".to_vec();
    long.resize(300, b'x');
    long.extend_from_slice(b"\r\n");
    v.push(accepts(
        target,
        "ident.client-over-255",
        &long,
        false,
        "a 302-byte line (the limit is 255)",
    ));
    v.push(refuses_version(target));
    v
}

/// What happened after `banner`: the server's answers until KEX_ECDH_REPLY, and whether it came.
pub fn trial(target: &Target, banner: &[u8]) -> Result<(Vec<Seen>, bool), String> {
    let mut raw = Raw::connect(target).map_err(|e| format!("cannot connect: {e}"))?;
    raw.send(banner);
    let mut seen = Vec::new();
    if let Err(s) = raw.read_ident() {
        seen.push(s);
        return Ok((seen, false));
    }
    let first = raw.observe(|p| p.first() == Some(&20));
    let kexinit = first.iter().find_map(|s| match s {
        Seen::Packet(p) if p.first() == Some(&20) => Some(p.clone()),
        _ => None,
    });
    seen.extend(first);
    let Some(kexinit) = kexinit else {
        return Ok((seen, false));
    };
    let spec = KexInitSpec::matching(&kexinit, &[]).map_err(|e| e.to_string())?;
    raw.send_packet(&spec.payload());
    let q = raw.random32();
    raw.send_packet(&ecdh_init(&q));
    let rest = raw.observe(|p| p.first() == Some(&31));
    let ok = has_msg(&rest, 31);
    seen.extend(rest);
    Ok((seen, ok))
}

fn accepts(target: &Target, name: &str, banner: &[u8], must: bool, what: &str) -> Outcome {
    let sent = format!(
        "{:?} then KEXINIT and KEX_ECDH_INIT",
        String::from_utf8_lossy(banner)
    );
    match trial(target, banner) {
        Err(e) => Outcome::skipped(name, CLAUSE, e),
        Ok((seen, ok)) => {
            let verdict = match (ok, must) {
                (true, _) => Verdict::Pass,
                (false, true) => Verdict::Fail,
                (false, false) => Verdict::Info,
            };
            let note = if ok {
                format!("accepted: {what}")
            } else {
                format!("refused: {what}")
            };
            Outcome::new(name, CLAUSE, verdict, sent, describe(&seen), note)
        }
    }
}

fn refuses_version(target: &Target) -> Outcome {
    let name = "ident.client-version-1.5";
    let clause = "RFC 4253 §5";
    let banner = b"SSH-1.5-nacre_conform\r\n";
    let sent = "\"SSH-1.5-nacre_conform\\r\\n\" then KEXINIT and KEX_ECDH_INIT";
    match trial(target, banner) {
        Err(e) => Outcome::skipped(name, clause, e),
        Ok((seen, ok)) => Outcome::new(
            name,
            clause,
            if ok { Verdict::Fail } else { Verdict::Pass },
            sent,
            describe(&seen),
            if ok {
                "went on with an SSH-1.5 client: protocol version 1 is not SSH-2"
            } else {
                "an SSH-1.5 client is refused"
            },
        ),
    }
}

/// The server's own line: prefix, CR LF, length, characters of softwareversion.
fn server_line(target: &Target) -> Vec<Outcome> {
    let name = "ident.server-line";
    let mut raw = match Raw::connect(target) {
        Ok(r) => r,
        Err(e) => {
            return vec![Outcome::skipped(
                name,
                CLAUSE,
                format!("cannot connect: {e}"),
            )]
        }
    };
    raw.send(super::raw::OUR_BANNER);
    let (before, line) = match raw.read_ident() {
        Ok(x) => x,
        Err(s) => {
            return vec![Outcome::new(
                name,
                CLAUSE,
                Verdict::Fail,
                "",
                describe(&[s]),
                "no identification line",
            )]
        }
    };
    let shown = String::from_utf8_lossy(&line).into_owned();
    let mut problems = Vec::new();
    if !line.ends_with(b"\r\n") {
        problems.push("not terminated by CR LF".to_owned());
    }
    if line.len() > 255 {
        problems.push(format!("{} bytes with CR LF (at most 255)", line.len()));
    }
    let body = trim_eol(&line);
    let text = String::from_utf8_lossy(body);
    let rest = text
        .strip_prefix("SSH-2.0-")
        .or_else(|| text.strip_prefix("SSH-1.99-"));
    match rest {
        None => problems.push("protoversion is not 2.0 (or 1.99)".into()),
        Some(rest) => {
            let software = rest.split(' ').next().unwrap_or("");
            if software.is_empty() {
                problems.push("empty softwareversion".into());
            }
            if software
                .bytes()
                .any(|b| !(0x21..=0x7e).contains(&b) || b == b'-')
            {
                problems.push(
                    "softwareversion has a character outside printable US-ASCII or '-'".into(),
                );
            }
        }
    }
    let mut v = vec![Outcome::new(
        name,
        CLAUSE,
        if problems.is_empty() {
            Verdict::Pass
        } else {
            Verdict::Fail
        },
        "",
        shown,
        if problems.is_empty() {
            "SSH-2.0-softwareversion [SP comments] CR LF, at most 255 bytes".to_owned()
        } else {
            problems.join("; ")
        },
    )];
    v.push(Outcome::new(
        "ident.server-lines-before",
        CLAUSE,
        Verdict::Info,
        "",
        before
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect::<Vec<_>>()
            .join(""),
        format!(
            "{} line(s) before the version line (a server MAY send them)",
            before.len()
        ),
    ));
    v
}
