//! Connection protocol checks (RFC 4254): the server keeps to our window and maximum packet,
//! what it does when we overrun its own, unknown channel types, channel and global requests
//! with and without want_reply; and a key re-exchange started by the client mid-channel
//! (RFC 4253 §9). All need a login (`--user` with `--password` or `-i`).

use nacre_transport::Event;
use nacre_wire::{put, Reader};

use super::client::{channel_data, channel_request, global_request, Client};
use super::raw::{describe, disconnected, has_msg, Seen};
use super::{Outcome, Target, Verdict};

/// SSH_FXP_INIT version 3, framed as an SFTP packet.
const SFTP_INIT: [u8; 9] = [0, 0, 0, 5, 1, 0, 0, 0, 3];

/// The checks of this family.
pub fn checks(target: &Target) -> Vec<Outcome> {
    if !target.has_credentials() {
        return vec![Outcome::skipped(
            "channel",
            "RFC 4254",
            "needs --user with --password or -i",
        )];
    }
    let checks: [(&str, &dyn Fn() -> Outcome); 10] = [
        ("channel.respects-our-window", &|| our_window(target)),
        ("channel.request-want-reply", &|| {
            request(target, "channel.request-want-reply", true)
        }),
        ("channel.request-no-reply", &|| {
            request(target, "channel.request-no-reply", false)
        }),
        ("channel.request-on-sftp", &|| {
            request(target, "channel.request-on-sftp", true)
        }),
        ("global.request-want-reply", &|| {
            global(target, "global.request-want-reply", true)
        }),
        ("global.request-no-reply", &|| {
            global(target, "global.request-no-reply", false)
        }),
        ("channel.open-unknown-type", &|| open_unknown(target)),
        ("channel.overrun-max-packet", &|| {
            overrun(target, "channel.overrun-max-packet")
        }),
        ("channel.overrun-window", &|| {
            overrun(target, "channel.overrun-window")
        }),
        ("channel.client-rekey", &|| rekey(target)),
    ];
    checks
        .iter()
        .filter(|(name, _)| target.wants(name))
        .map(|(_, run)| run())
        .collect()
}

/// Logged in, a session channel with `window`/`max_packet` open and the sftp subsystem
/// started: (client, server's channel, server's window, server's maximum packet).
fn sftp_channel(
    target: &Target,
    name: &str,
    clause: &'static str,
    window: u32,
    max_packet: u32,
) -> Result<(Client, u32, u32, u32), Outcome> {
    let mut c = Client::logged_in(target).map_err(|e| Outcome::skipped(name, clause, e))?;
    let (ch, win, max) = c
        .open_session(window, max_packet)
        .map_err(|e| Outcome::skipped(name, clause, e))?;
    match c.start_sftp(ch) {
        Ok(true) => Ok((c, ch, win, max)),
        Ok(false) => Err(Outcome::skipped(
            name,
            clause,
            "the sftp subsystem was refused",
        )),
        Err(e) => Err(Outcome::skipped(name, clause, e)),
    }
}

/// The data of the CHANNEL_DATA packets in `seen`.
fn data_of(seen: &[Seen]) -> Vec<Vec<u8>> {
    seen.iter()
        .filter_map(|s| match s {
            Seen::Packet(p) if p.first() == Some(&94) => {
                let mut r = Reader::new(p.get(1..).unwrap_or(&[]));
                let _ = r.u32().ok()?;
                Some(r.string().ok()?.to_vec())
            }
            _ => None,
        })
        .collect()
}

/// Window 16 and maximum packet 8: the SFTP VERSION reply (at least 9 bytes) must come in
/// pieces of at most 8 bytes, no more than 16 before our WINDOW_ADJUST, the rest after it.
fn our_window(target: &Target) -> Outcome {
    let (name, clause) = ("channel.respects-our-window", "RFC 4254 §5.2");
    let (mut c, ch, _, _) = match sftp_channel(target, name, clause, 16, 8) {
        Ok(x) => x,
        Err(o) => return o,
    };
    c.send_raw(&channel_data(ch, &SFTP_INIT));
    let before = c.observe(|_| false);
    let pieces = data_of(&before);
    let total: usize = pieces.iter().map(Vec::len).sum();
    let biggest = pieces.iter().map(Vec::len).max().unwrap_or(0);
    let mut adjust = vec![93];
    put::uint32(&mut adjust, ch);
    put::uint32(&mut adjust, 1 << 20);
    c.send_raw(&adjust);
    let after = c.observe(|_| false);
    let more: usize = data_of(&after).iter().map(Vec::len).sum::<usize>();
    let sizes: Vec<String> = pieces.iter().map(|p| p.len().to_string()).collect();
    let got = format!(
        "before WINDOW_ADJUST: {} bytes in pieces of [{}]; after: {more} bytes",
        total,
        sizes.join(", ")
    );
    let (verdict, note) = if biggest > 8 {
        (
            Verdict::Fail,
            format!("a CHANNEL_DATA of {biggest} bytes exceeds our maximum packet 8"),
        )
    } else if total > 16 {
        (
            Verdict::Fail,
            format!("{total} bytes sent into a window of 16"),
        )
    } else if total == 0 {
        (Verdict::Info, "no SFTP reply at all".to_owned())
    } else if total == 16 && more == 0 {
        (Verdict::Fail, "nothing more after WINDOW_ADJUST".to_owned())
    } else {
        (
            Verdict::Pass,
            "data within our window and maximum packet".to_owned(),
        )
    };
    Outcome::new(
        name,
        clause,
        verdict,
        "CHANNEL_OPEN window 16 max packet 8, subsystem sftp, SSH_FXP_INIT, WINDOW_ADJUST 1 MiB",
        got,
        note,
    )
}

fn replies(seen: &[Seen], numbers: &[u8]) -> usize {
    seen.iter()
        .filter(|s| matches!(s, Seen::Packet(p) if p.first().is_some_and(|n| numbers.contains(n))))
        .count()
}

/// An unknown channel request (with or without want_reply), then one with want_reply as ping:
/// CHANNEL_FAILURE for each that asked, nothing for the other. On a fresh session channel, or
/// (`channel.request-on-sftp`) on one running the sftp subsystem.
fn request(target: &Target, name: &str, want_reply: bool) -> Outcome {
    let clause = "RFC 4254 §5.4";
    let opened = if name.ends_with("on-sftp") {
        sftp_channel(target, name, clause, 1 << 20, 32768).map(|(c, ch, _, _)| (c, ch))
    } else {
        Client::logged_in(target)
            .and_then(|mut c| c.open_session(1 << 20, 32768).map(|(ch, _, _)| (c, ch)))
            .map_err(|e| Outcome::skipped(name, clause, e))
    };
    let (mut c, ch) = match opened {
        Ok(x) => x,
        Err(o) => return o,
    };
    c.send_raw(&channel_request(ch, "conform@nacre.invalid", want_reply));
    c.send_raw(&channel_request(ch, "conform-ping@nacre.invalid", true));
    let expected = if want_reply { 2 } else { 1 };
    let mut count = 0;
    let seen = c.observe(|p| {
        if matches!(p.first(), Some(99 | 100)) {
            count += 1;
        }
        count >= expected
    });
    // A reply to the request that did not ask would come right after: look a moment longer.
    let mut seen = seen;
    c.set_timeout(std::time::Duration::from_millis(300));
    seen.extend(c.observe(|p| matches!(p.first(), Some(99 | 100))));
    let failures = replies(&seen, &[100]);
    let successes = replies(&seen, &[99]);
    let ok = failures == expected && successes == 0 && !disconnected(&seen);
    Outcome::new(
        name,
        clause,
        if ok { Verdict::Pass } else { Verdict::Fail },
        format!("CHANNEL_REQUEST conform@nacre.invalid want_reply={want_reply}, CHANNEL_REQUEST with want_reply"),
        describe(&seen),
        if ok { "CHANNEL_FAILURE exactly for the requests that asked".to_owned() } else { format!("{failures} CHANNEL_FAILURE and {successes} CHANNEL_SUCCESS for {expected} request(s) that asked") },
    )
}

/// The same for global requests (REQUEST_FAILURE).
fn global(target: &Target, name: &str, want_reply: bool) -> Outcome {
    let clause = "RFC 4254 §4";
    let mut c = match Client::logged_in(target) {
        Ok(c) => c,
        Err(e) => return Outcome::skipped(name, clause, e),
    };
    c.send_raw(&global_request("conform@nacre.invalid", want_reply));
    c.send_raw(&global_request("conform-ping@nacre.invalid", true));
    let expected = if want_reply { 2 } else { 1 };
    let mut count = 0;
    let seen = c.observe(|p| {
        if matches!(p.first(), Some(81 | 82)) {
            count += 1;
        }
        count >= expected
    });
    let mut seen = seen;
    c.set_timeout(std::time::Duration::from_millis(300));
    seen.extend(c.observe(|p| matches!(p.first(), Some(81 | 82))));
    let failures = replies(&seen, &[82]);
    let successes = replies(&seen, &[81]);
    let ok = failures == expected && successes == 0 && !disconnected(&seen);
    Outcome::new(
        name,
        clause,
        if ok { Verdict::Pass } else { Verdict::Fail },
        format!("GLOBAL_REQUEST conform@nacre.invalid want_reply={want_reply}, GLOBAL_REQUEST with want_reply"),
        describe(&seen),
        if ok { "REQUEST_FAILURE exactly for the requests that asked".to_owned() } else { format!("{failures} REQUEST_FAILURE and {successes} REQUEST_SUCCESS for {expected} request(s) that asked") },
    )
}

fn open_unknown(target: &Target) -> Outcome {
    let (name, clause) = ("channel.open-unknown-type", "RFC 4254 §5.1");
    let mut c = match Client::logged_in(target) {
        Ok(c) => c,
        Err(e) => return Outcome::skipped(name, clause, e),
    };
    let mut m = vec![90];
    put::string(&mut m, b"conform@nacre.invalid");
    put::uint32(&mut m, 5);
    put::uint32(&mut m, 65536);
    put::uint32(&mut m, 32768);
    c.send_raw(&m);
    let seen = c.observe(|p| matches!(p.first(), Some(91 | 92)));
    let reason = seen.iter().find_map(|s| match s {
        Seen::Packet(p) if p.first() == Some(&92) => {
            let mut r = Reader::new(p.get(1..).unwrap_or(&[]));
            let _ = r.u32().ok()?;
            r.u32().ok()
        }
        _ => None,
    });
    let (verdict, note) = match reason {
        Some(3) => (
            Verdict::Pass,
            "OPEN_FAILURE SSH_OPEN_UNKNOWN_CHANNEL_TYPE".to_owned(),
        ),
        Some(r) => (
            Verdict::Info,
            format!("OPEN_FAILURE with reason {r} (3 is UNKNOWN_CHANNEL_TYPE)"),
        ),
        None if has_msg(&seen, 91) => (
            Verdict::Fail,
            "an unknown channel type was opened".to_owned(),
        ),
        None => (Verdict::Fail, "no CHANNEL_OPEN_FAILURE".to_owned()),
    };
    Outcome::new(
        name,
        clause,
        verdict,
        "CHANNEL_OPEN conform@nacre.invalid",
        describe(&seen),
        note,
    )
}

/// Sends more than the server allows (one packet over its maximum, or its whole window and
/// more), then a global request as ping: what it does is reported (the RFC binds the sender).
fn overrun(target: &Target, name: &str) -> Outcome {
    let clause = "RFC 4254 §5.2";
    let (mut c, ch, win, max) = match sftp_channel(target, name, clause, 1 << 20, 32768) {
        Ok(x) => x,
        Err(o) => return o,
    };
    let sent = if name.ends_with("max-packet") {
        let n = (max as usize).saturating_add(1024).min(200_000);
        c.send_raw(&channel_data(ch, &vec![0u8; n]));
        format!("CHANNEL_DATA of {n} bytes (the server's maximum packet is {max})")
    } else {
        if win > 8 << 20 {
            return Outcome::skipped(name, clause, format!("the server's window is {win} bytes"));
        }
        let mut left = win as usize + 4096;
        let piece = (max as usize).clamp(1, 32768);
        while left > 0 && !c.is_closed() {
            let n = left.min(piece);
            c.send_raw(&channel_data(ch, &vec![0u8; n]));
            left -= n;
        }
        format!(
            "{} bytes of CHANNEL_DATA into a window of {win}",
            win as usize + 4096
        )
    };
    c.send_raw(&global_request("conform-ping@nacre.invalid", true));
    let seen = c.observe(|p| matches!(p.first(), Some(81 | 82)));
    let reaction = if disconnected(&seen) {
        "disconnected"
    } else if has_msg(&seen, 97) {
        "closed the channel"
    } else if has_msg(&seen, 82) || has_msg(&seen, 81) {
        "went on (excess data dropped or used)"
    } else {
        "stopped answering"
    };
    let interesting: Vec<Seen> = seen
        .into_iter()
        .filter(|s| !matches!(s, Seen::Packet(p) if p.first() == Some(&94)))
        .collect();
    Outcome::new(
        name,
        clause,
        Verdict::Info,
        format!("{sent}, GLOBAL_REQUEST want_reply"),
        describe(&interesting),
        reaction,
    )
}

/// A re-exchange started by the client while an SFTP channel is open; the channel must work
/// after it.
fn rekey(target: &Target) -> Outcome {
    let (name, clause) = ("channel.client-rekey", "RFC 4253 §9");
    let (mut c, ch, _, _) = match sftp_channel(target, name, clause, 1 << 20, 32768) {
        Ok(x) => x,
        Err(o) => return o,
    };
    c.t.rekey();
    let done = c.until(|c| {
        c.events
            .iter()
            .any(|e| matches!(e, Event::KexComplete { first: false, .. }))
    });
    c.t.take_received();
    if !done {
        return Outcome::new(
            name,
            clause,
            Verdict::Fail,
            "KEXINIT after the session channel opened",
            c.close_text(),
            "the re-exchange did not complete",
        );
    }
    c.send_raw(&channel_data(ch, &SFTP_INIT));
    let seen = c.observe(|p| p.first() == Some(&94));
    let ok = !data_of(&seen).is_empty();
    Outcome::new(
        name,
        clause,
        if ok { Verdict::Pass } else { Verdict::Fail },
        "KEXINIT with an SFTP channel open, then SSH_FXP_INIT on it",
        describe(&seen),
        if ok {
            "re-exchange completed and the channel works after it"
        } else {
            "no channel data after the re-exchange"
        },
    )
}
