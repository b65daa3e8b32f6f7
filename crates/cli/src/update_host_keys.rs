//! `UpdateHostKeys` (ssh_config(5)) for the client commands: `yes`, `ask` or `no`, with
//! OpenSSH's default (readconf.c): `yes` when `UserKnownHostsFile` is not set or is
//! `~/.ssh/known_hosts`, `no` otherwise. `ask` shows the change and asks on the terminal as ssh
//! does ("Accept updated hostkeys? (yes/no): "); it is off with `BatchMode`, without a
//! terminal, and for a remote command (ssh.c). `StrictHostKeyChecking no` never updates (the
//! key was not checked). The update itself is the library's ([`nacre::HostKeysUpdate`]).

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nacre::{HostKeysChange, HostKeysOutcome, HostKeysUpdate};

use crate::client_opts::ClientOptions;

/// The update of the last connection made, for [`settle`], and whether it asks.
static PENDING: Mutex<Option<(HostKeysUpdate, bool)>> = Mutex::new(None);

/// How long [`before_session`] waits for a person to answer `ask`.
const ASK_TIMEOUT: Duration = Duration::from_secs(120);

/// How long [`settle`] waits for an update still running when the session ended.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);

/// The update for `opts`, or `None` when `UpdateHostKeys` (or its default) is off.
pub fn for_options(opts: &ClientOptions) -> Option<HostKeysUpdate> {
    let default_file = dirs_home().join(".ssh/known_hosts");
    let value = match opts.option("updatehostkeys") {
        Some(v) => v.to_ascii_lowercase(),
        None if opts.option("userknownhostsfile").is_none() || opts.known_hosts == default_file => {
            "yes".into()
        }
        None => "no".into(),
    };
    let ask = match value.as_str() {
        "yes" | "true" => false,
        "ask" => true,
        _ => return None,
    };
    if matches!(opts.strict.as_str(), "no" | "off" | "false") {
        return None;
    }
    if ask && (opts.batch_mode || opts.remote_command || !crate::prompt::available()) {
        return None;
    }
    let hashed = opts
        .option("hashknownhosts")
        .is_some_and(|v| v.eq_ignore_ascii_case("yes"));
    let mut update =
        HostKeysUpdate::new(opts.known_hosts.clone(), &opts.host_name, opts.port).hashed(hashed);
    if opts.option("hostkeyalgorithms").is_some() {
        // ssh ignores listed keys its HostKeyAlgorithms does not take.
        update = update.algorithms(opts.transport.algorithms.host_key.clone());
    }
    if ask {
        update = update.confirm(confirm);
    }
    *PENDING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((update.clone(), ask));
    Some(update)
}

fn dirs_home() -> std::path::PathBuf {
    std::env::var_os("HOME").map_or_else(|| "/".into(), Into::into)
}

/// The key type as ssh names it in these messages (`ED25519`, `RSA`, `ECDSA`).
fn kind(key: &nacre::keys::PublicKey) -> String {
    let name = key.key_type().name();
    let short = name.strip_prefix("ssh-").unwrap_or(name);
    short
        .split('-')
        .next()
        .unwrap_or(short)
        .to_ascii_uppercase()
}

/// The lines ssh logs for a change.
fn describe(change: &HostKeysChange) -> Vec<String> {
    let added = change.added.iter().map(|k| {
        format!(
            "Learned new hostkey: {} {}",
            kind(k),
            k.fingerprint_sha256()
        )
    });
    let removed = change.removed.iter().map(|k| {
        format!(
            "Deprecating obsolete hostkey: {} {}",
            kind(k),
            k.fingerprint_sha256()
        )
    });
    added.chain(removed).collect()
}

/// `UpdateHostKeys ask`: ssh's preamble, the change, and up to three questions.
fn confirm(change: &HostKeysChange) -> bool {
    crate::prompt::say("The server has updated its host keys.");
    crate::prompt::say("These changes were verified by the server's existing trusted key.");
    for line in describe(change) {
        crate::prompt::say(&line);
    }
    for _ in 0..3 {
        match crate::prompt::line("Accept updated hostkeys? (yes/no): ") {
            Some(a) if a.eq_ignore_ascii_case("yes") => return true,
            Some(a) if !a.eq_ignore_ascii_case("no") => {
                crate::prompt::say("Please enter \"yes\" or \"no\"");
            }
            _ => return false,
        }
    }
    false
}

/// Wraps the host key verifier so that an update happens only for a key already listed in the
/// known_hosts file (not one accepted on first use), as ssh's `hostkey_trusted`.
pub fn record_listed(
    verify: nacre::HostKeyVerifier,
    allowed: Arc<AtomicBool>,
    opts: &ClientOptions,
) -> nacre::HostKeyVerifier {
    let (path, host, port) = (opts.known_hosts.clone(), opts.host_name.clone(), opts.port);
    Arc::new(move |key| {
        let listed = nacre::known_host_status(&path, &host, port, key)
            .is_ok_and(|s| s == nacre::keys::HostKeyStatus::Match);
        allowed.store(listed, std::sync::atomic::Ordering::Release);
        verify(key)
    })
}

/// `UpdateHostKeys ask`: called once the session channel is open and before the terminal goes
/// into raw mode or standard input is read, waits for the question to be answered. The server
/// lists its keys right after authentication, before it confirms any channel, so an update
/// that has not started by now never will (the server does not send the list).
pub async fn before_session() {
    let pending = PENDING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    if let Some((update, true)) = pending {
        let _ = tokio::time::timeout(ASK_TIMEOUT, update.finished()).await;
    }
}

/// Waits (bounded) for the update of the last connection when one started, and says what it
/// did at `-v` as ssh logs it.
pub async fn settle() {
    let pending = PENDING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    let Some((update, _)) = pending else {
        return;
    };
    let outcome = tokio::time::timeout(SETTLE_TIMEOUT, update.finished()).await;
    match outcome {
        Ok(Some(HostKeysOutcome::Updated(change))) => {
            for line in describe(&change) {
                crate::status::status(line);
            }
        }
        Ok(Some(HostKeysOutcome::Skipped(why))) => {
            crate::status::status(format_args!("known_hosts not updated: {why}"));
        }
        _ => {}
    }
}
