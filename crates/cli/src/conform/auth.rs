//! User authentication checks (RFC 4252): `none`, a wrong password, partial success, a
//! publickey query, a signature over the wrong session identifier; and an unknown service
//! (RFC 4253 §10).

use nacre_transport::Event;
use nacre_wire::{put, Reader};

use super::client::{config, userauth_header, userauth_publickey, Client};
use super::raw::{describe, disconnected, has_msg, Seen};
use super::{Outcome, Target, Verdict};

/// The name used when no `--user` is given.
const NOBODY: &str = "nacre-conform";

/// The checks of this family.
pub fn checks(target: &Target) -> Vec<Outcome> {
    vec![
        none(target),
        wrong_password(target),
        partial_success(target),
        pk_query(target),
        wrong_session_id(target),
        unknown_service(target),
    ]
}

/// USERAUTH_FAILURE's fields: (methods, partial success).
fn failure(seen: &[Seen]) -> Option<(String, bool)> {
    seen.iter().find_map(|s| match s {
        Seen::Packet(p) if p.first() == Some(&51) => {
            let mut r = Reader::new(p.get(1..).unwrap_or(&[]));
            let methods = r.name_list().ok()?.as_str().to_owned();
            let partial = r.bool().ok()?;
            Some((methods, partial))
        }
        _ => None,
    })
}

fn connected(target: &Target, name: &str, clause: &'static str) -> Result<Client, Outcome> {
    let mut c = Client::connect(target, config())
        .map_err(|e| Outcome::skipped(name, clause, e.to_string()))?;
    c.handshake()
        .map_err(|e| Outcome::skipped(name, clause, e.to_string()))?;
    // Failure delays (sshd, nacre) hold answers for a while.
    c.set_timeout(target.timeout.max(std::time::Duration::from_secs(10)));
    Ok(c)
}

fn answer(c: &mut Client) -> Vec<Seen> {
    c.observe(|p| matches!(p.first(), Some(51 | 52 | 60)))
}

fn none(target: &Target) -> Outcome {
    let (name, clause) = ("auth.none", "RFC 4252 §5.2");
    let mut c = match connected(target, name, clause) {
        Ok(c) => c,
        Err(o) => return o,
    };
    let user = target.user.as_deref().unwrap_or(NOBODY);
    c.send_raw(&userauth_header(user, "none"));
    let seen = answer(&mut c);
    let (verdict, note) = match failure(&seen) {
        Some((m, _)) if m.split(',').any(|x| x == "none") => (
            Verdict::Fail,
            "\"none\" listed as a method that can continue".to_owned(),
        ),
        Some((m, _)) => (Verdict::Pass, format!("USERAUTH_FAILURE listing {m}")),
        None if has_msg(&seen, 52) => {
            (Verdict::Info, "the user needs no authentication".to_owned())
        }
        None => (Verdict::Fail, "no USERAUTH_FAILURE".to_owned()),
    };
    Outcome::new(
        name,
        clause,
        verdict,
        format!("USERAUTH_REQUEST {user} none"),
        describe(&seen),
        note,
    )
}

fn wrong_password(target: &Target) -> Outcome {
    let (name, clause) = ("auth.wrong-password", "RFC 4252 §5.1");
    let mut c = match connected(target, name, clause) {
        Ok(c) => c,
        Err(o) => return o,
    };
    let user = target.user.as_deref().unwrap_or(NOBODY);
    c.send_raw(&super::client::userauth_password(
        user,
        "conform-wrong-password-0",
    ));
    let seen = answer(&mut c);
    let (verdict, note) = match failure(&seen) {
        Some((_, false)) => (Verdict::Pass, "USERAUTH_FAILURE, partial success false"),
        Some((_, true)) => (Verdict::Fail, "partial success true for a failed method"),
        None if has_msg(&seen, 52) => (Verdict::Fail, "a wrong password was accepted"),
        None if disconnected(&seen) => (Verdict::Info, "disconnected instead of USERAUTH_FAILURE"),
        None => (Verdict::Fail, "no USERAUTH_FAILURE"),
    };
    Outcome::new(
        name,
        clause,
        verdict,
        format!("USERAUTH_REQUEST {user} password (wrong)"),
        describe(&seen),
        note,
    )
}

fn partial_success(target: &Target) -> Outcome {
    let (name, clause) = ("auth.partial-success", "RFC 4252 §5.1");
    if !target.has_credentials() {
        return Outcome::skipped(name, clause, "needs --user with --password or -i");
    }
    let mut c = match connected(target, name, clause) {
        Ok(c) => c,
        Err(o) => return o,
    };
    let user = target.user.as_deref().unwrap_or(NOBODY);
    let (sent, payload) = match (&target.key, &target.password) {
        (Some(k), _) => {
            let sid = c.t.session_id().unwrap_or(&[]).to_vec();
            match userauth_publickey(user, k, &sid, c.server_sig_algs()) {
                Ok(p) => ("publickey", p),
                Err(e) => return Outcome::skipped(name, clause, e),
            }
        }
        (None, Some(pw)) => ("password", super::client::userauth_password(user, pw)),
        (None, None) => return Outcome::skipped(name, clause, "no credentials"),
    };
    c.send_raw(&payload);
    let seen = answer(&mut c);
    let (verdict, note) = match failure(&seen) {
        _ if has_msg(&seen, 52) => (
            Verdict::Info,
            "one method sufficed (USERAUTH_SUCCESS)".to_owned(),
        ),
        Some((m, true)) if !m.is_empty() => {
            (Verdict::Pass, format!("partial success: continue with {m}"))
        }
        Some((_, true)) => (
            Verdict::Fail,
            "partial success with no method to continue".to_owned(),
        ),
        Some((m, false)) => (
            Verdict::Info,
            format!("the credentials were refused (methods {m})"),
        ),
        None => (Verdict::Fail, "no USERAUTH_SUCCESS or FAILURE".to_owned()),
    };
    Outcome::new(
        name,
        clause,
        verdict,
        format!("USERAUTH_REQUEST {user} {sent} (right credentials)"),
        describe(&seen),
        note,
    )
}

fn pk_query(target: &Target) -> Outcome {
    let (name, clause) = ("auth.publickey-query", "RFC 4252 §7");
    let Some(key) = &target.key else {
        return Outcome::skipped(name, clause, "needs -i");
    };
    let mut c = match connected(target, name, clause) {
        Ok(c) => c,
        Err(o) => return o,
    };
    let user = target.user.as_deref().unwrap_or(NOBODY);
    let Some(alg) = super::client::signature_algorithm(key, c.server_sig_algs()) else {
        return Outcome::skipped(name, clause, "no signature algorithm");
    };
    let mut m = userauth_header(user, "publickey");
    put::boolean(&mut m, false);
    put::string(&mut m, alg.name().as_bytes());
    put::string(&mut m, &key.public_key().to_blob());
    c.send_raw(&m);
    let seen = answer(&mut c);
    let (verdict, note) = if has_msg(&seen, 52) {
        (Verdict::Fail, "authenticated without a signature")
    } else if has_msg(&seen, 60) {
        (Verdict::Pass, "USERAUTH_PK_OK")
    } else if failure(&seen).is_some() {
        (Verdict::Pass, "USERAUTH_FAILURE (key not acceptable)")
    } else {
        (Verdict::Fail, "neither PK_OK nor FAILURE")
    };
    Outcome::new(
        name,
        clause,
        verdict,
        format!("USERAUTH_REQUEST {user} publickey FALSE {}", alg.name()),
        describe(&seen),
        note,
    )
}

fn wrong_session_id(target: &Target) -> Outcome {
    let (name, clause) = ("auth.wrong-session-id", "RFC 4252 §7");
    let (Some(key), Some(user)) = (&target.key, target.user.as_deref()) else {
        return Outcome::skipped(name, clause, "needs --user and -i");
    };
    let mut c = match connected(target, name, clause) {
        Ok(c) => c,
        Err(o) => return o,
    };
    let mut wrong = c.t.session_id().unwrap_or(&[]).to_vec();
    for b in &mut wrong {
        *b ^= 0xa5;
    }
    let payload = match userauth_publickey(user, key, &wrong, c.server_sig_algs()) {
        Ok(p) => p,
        Err(e) => return Outcome::skipped(name, clause, e),
    };
    c.send_raw(&payload);
    let seen = answer(&mut c);
    if has_msg(&seen, 52) {
        return Outcome::new(
            name,
            clause,
            Verdict::Fail,
            "publickey signature over a wrong session identifier",
            describe(&seen),
            "authenticated with a signature over another session's identifier",
        );
    }
    // The same key over the right identifier must work, or the check proves nothing.
    let right = c.login_key(user, key);
    let (verdict, note) = match (failure(&seen).is_some(), right) {
        (true, Ok(true)) => (
            Verdict::Pass,
            "refused; the same key over the right identifier is accepted".to_owned(),
        ),
        (true, _) => (
            Verdict::Info,
            "refused, but the key is not accepted over the right identifier either".to_owned(),
        ),
        (false, _) => (Verdict::Fail, "no USERAUTH_FAILURE".to_owned()),
    };
    Outcome::new(
        name,
        clause,
        verdict,
        "publickey signature over a wrong session identifier, then over the right one",
        describe(&seen),
        note,
    )
}

fn unknown_service(target: &Target) -> Outcome {
    let (name, clause) = ("auth.unknown-service", "RFC 4253 §10");
    let mut c = match Client::connect(target, config()) {
        Ok(c) => c,
        Err(e) => return Outcome::skipped(name, clause, e.to_string()),
    };
    c.t.request_service("conform-unknown@nacre.invalid");
    c.until(|c| {
        c.is_closed()
            || c.events
                .iter()
                .any(|e| matches!(e, Event::ServiceAccepted(_)))
    });
    let accepted = c
        .events
        .iter()
        .any(|e| matches!(e, Event::ServiceAccepted(_)));
    let got = c.close_text();
    Outcome::new(
        name,
        clause,
        if accepted || !c.is_closed() {
            Verdict::Fail
        } else {
            Verdict::Pass
        },
        "SERVICE_REQUEST conform-unknown@nacre.invalid",
        got,
        if accepted {
            "an unknown service was accepted"
        } else if c.is_closed() {
            "refused with a disconnect"
        } else {
            "neither accepted nor disconnected"
        },
    )
}
