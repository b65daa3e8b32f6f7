//! The client's side of host key rotation (OpenSSH's `UpdateHostKeys`, PROTOCOL §2.5): when the
//! server lists its host keys (`hostkeys-00@openssh.com`), keys the known_hosts file does not
//! list for the host are proven (`hostkeys-prove-00@openssh.com`, signatures checked by
//! [`nacre_session::host_keys::verify_proof`]), then the file gets the new keys and loses the
//! keys of the host the server no longer lists ([`nacre_keys::known_hosts_update`]).
//!
//! As in ssh, nothing happens for a host authenticated by a certificate, for a host key that
//! is not listed in the file (a key accepted without being known, or added on first use), and
//! for files ssh would not edit ([`nacre_keys::known_hosts_update::Blocked`]). The protocol
//! computations are sans-IO; this task only sequences them and does the file I/O on a blocking
//! thread.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use nacre_connection::msg::host_keys::HOSTKEYS_PROVE;
use nacre_keys::known_hosts_update::{plan, replace, Plan};
use nacre_keys::{HostKeyStatus, KnownHosts, PublicKey, SignatureAlgorithm};
use nacre_session::host_keys::{parse_offer, prove_request, verify_proof};
use tokio::sync::{oneshot, Notify};

use crate::command::{Command, CommandTx};

/// The change an update makes to the known_hosts file, shown to a confirmation callback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostKeysChange {
    /// The host as it is named in the file.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// Keys the server proved it holds, to be added.
    pub added: Vec<PublicKey>,
    /// Keys of the host the server no longer lists, to be removed.
    pub removed: Vec<PublicKey>,
}

/// How an update ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostKeysOutcome {
    /// The file was rewritten with this change.
    Updated(HostKeysChange),
    /// The server's list matches the file.
    Unchanged,
    /// The update was not attempted or not finished; the reason, as ssh words it in its log.
    Skipped(String),
}

type Confirm = Arc<dyn Fn(&HostKeysChange) -> bool + Send + Sync>;

/// Settings of known_hosts updates for one connection; give it to
/// [`crate::Connection::update_host_keys`] before authenticating (or use
/// [`crate::ClientBuilder::update_host_keys`]). Clones share their state.
#[derive(Clone)]
pub struct HostKeysUpdate {
    path: PathBuf,
    host: String,
    port: u16,
    hashed: bool,
    algorithms: Option<Vec<SignatureAlgorithm>>,
    confirm: Option<Confirm>,
    allowed: Arc<AtomicBool>,
    state: Arc<State>,
}

#[derive(Default)]
struct State {
    started: AtomicBool,
    outcome: Mutex<Option<HostKeysOutcome>>,
    done: Notify,
}

impl std::fmt::Debug for HostKeysUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostKeysUpdate")
            .field("path", &self.path)
            .field("host", &self.host)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl HostKeysUpdate {
    /// Updates the known_hosts file at `path` for `host`:`port` (OpenSSH's `UpdateHostKeys yes`).
    pub fn new(path: impl Into<PathBuf>, host: &str, port: u16) -> Self {
        HostKeysUpdate {
            path: path.into(),
            host: host.to_owned(),
            port,
            hashed: false,
            algorithms: None,
            confirm: None,
            allowed: Arc::new(AtomicBool::new(true)),
            state: Arc::new(State::default()),
        }
    }

    /// Writes new lines hashed (`HashKnownHosts yes`).
    pub fn hashed(mut self, hashed: bool) -> Self {
        self.hashed = hashed;
        self
    }

    /// Only keys whose type one of these algorithms signs with are considered (OpenSSH
    /// ignores listed keys its `HostKeyAlgorithms` does not accept).
    pub fn algorithms(mut self, algorithms: Vec<SignatureAlgorithm>) -> Self {
        self.algorithms = Some(algorithms);
        self
    }

    /// Asks `confirm` (on a blocking thread) before the file is written (`UpdateHostKeys ask`).
    pub fn confirm(
        mut self,
        confirm: impl Fn(&HostKeysChange) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.confirm = Some(Arc::new(confirm));
        self
    }

    /// A switch the host key verifier clears when the key was trusted without being listed in
    /// the file (accepted on first use, or not checked): ssh updates only for a known key.
    pub fn allowed(&self) -> Arc<AtomicBool> {
        self.allowed.clone()
    }

    /// How the update ended; `None` when the server has not listed its keys (yet).
    pub fn outcome(&self) -> Option<HostKeysOutcome> {
        lock(&self.state.outcome).clone()
    }

    /// Waits until a started update ended (returns at once when none started).
    pub async fn finished(&self) -> Option<HostKeysOutcome> {
        loop {
            let notified = self.state.done.notified();
            if let Some(o) = self.outcome() {
                return Some(o);
            }
            if !self.state.started.load(Ordering::Acquire) {
                return None;
            }
            notified.await;
        }
    }

    fn finish(&self, outcome: HostKeysOutcome) {
        match &outcome {
            HostKeysOutcome::Updated(c) => tracing::info!(
                host = %c.host,
                added = c.added.len(),
                removed = c.removed.len(),
                "known_hosts updated with the server's host keys"
            ),
            HostKeysOutcome::Unchanged => tracing::debug!("no new or deprecated keys from server"),
            HostKeysOutcome::Skipped(why) => tracing::debug!(%why, "known_hosts not updated"),
        }
        *lock(&self.state.outcome) = Some(outcome);
        self.state.done.notify_waiters();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What the connection task knows when the server's list arrives.
pub(crate) struct Facts {
    pub session_id: Vec<u8>,
    pub kex: SignatureAlgorithm,
    pub server_key: Option<PublicKey>,
    pub certificate: bool,
}

/// Starts the update for the server's list `data` (at most once per connection).
pub(crate) fn start(update: &HostKeysUpdate, data: Vec<u8>, facts: Facts, cmds: CommandTx) {
    if update.state.started.swap(true, Ordering::AcqRel) {
        tracing::debug!("the server listed its host keys again: ignored");
        return;
    }
    let update = update.clone();
    tokio::spawn(async move {
        let outcome = run(&update, &data, facts, &cmds).await;
        update.finish(outcome);
    });
}

async fn run(
    update: &HostKeysUpdate,
    data: &[u8],
    facts: Facts,
    cmds: &CommandTx,
) -> HostKeysOutcome {
    let skip = |why: &str| HostKeysOutcome::Skipped(why.to_owned());
    if facts.certificate {
        return skip("certificate host key in use");
    }
    if !update.allowed.load(Ordering::Acquire) {
        return skip("hostkey not known or explicitly trusted");
    }
    let offered = match parse_offer(data) {
        Ok(keys) => keys
            .into_iter()
            .filter(|k| accepted(update, k))
            .collect::<Vec<_>>(),
        Err(e) => return HostKeysOutcome::Skipped(e.to_string()),
    };
    if offered.is_empty() {
        return skip("server sent no hostkeys");
    }
    let planned = {
        let (u, keys, server_key) = (update.clone(), offered.clone(), facts.server_key.clone());
        tokio::task::spawn_blocking(move || plan_update(&u, &keys, server_key.as_ref())).await
    };
    let plan = match planned {
        Ok(Ok(p)) if p.is_empty() => return HostKeysOutcome::Unchanged,
        Ok(Ok(p)) => p,
        Ok(Err(why)) => return HostKeysOutcome::Skipped(why),
        Err(e) => return HostKeysOutcome::Skipped(e.to_string()),
    };
    let mut keep = offered.clone();
    let mut added = Vec::new();
    if !plan.new.is_empty() {
        let (tx, rx) = oneshot::channel();
        let request = prove_request(&plan.new);
        let cmd = Command::Global(HOSTKEYS_PROVE.to_owned(), request, Some(tx));
        if cmds.send(cmd).is_err() {
            return skip("connection closed");
        }
        let Ok((true, reply)) = rx.await else {
            return skip("Server failed to confirm ownership of private host keys");
        };
        match verify_proof(&facts.session_id, facts.kex, &plan.new, &reply) {
            Ok(proven) => {
                for (key, ok) in plan.new.iter().zip(proven) {
                    if ok {
                        added.push(key.clone());
                    } else {
                        keep.retain(|k| k != key);
                    }
                }
            }
            Err(e) => return HostKeysOutcome::Skipped(e.to_string()),
        }
    }
    let change = HostKeysChange {
        host: update.host.clone(),
        port: update.port,
        added,
        removed: plan.old,
    };
    if change.added.is_empty() && change.removed.is_empty() {
        return HostKeysOutcome::Unchanged;
    }
    let u = update.clone();
    let written = tokio::task::spawn_blocking(move || write(&u, &keep, change)).await;
    written.unwrap_or_else(|e| HostKeysOutcome::Skipped(e.to_string()))
}

/// Whether `HostKeyAlgorithms` (when set) takes this key (any RSA algorithm takes RSA keys).
fn accepted(update: &HostKeysUpdate, key: &PublicKey) -> bool {
    update
        .algorithms
        .as_ref()
        .is_none_or(|algs| algs.iter().any(|a| a.key_type() == key.key_type()))
}

/// Reads the file: the current host key must be listed for the host; then the plan.
fn plan_update(
    u: &HostKeysUpdate,
    offered: &[PublicKey],
    server_key: Option<&PublicKey>,
) -> Result<Plan, String> {
    let known = match KnownHosts::read_file(&u.path) {
        Ok((k, _)) => k,
        Err(e) => return Err(format!("cannot read {}: {e}", u.path.display())),
    };
    let listed =
        server_key.is_some_and(|k| known.lookup(&u.host, u.port, k) == HostKeyStatus::Match);
    if !listed {
        return Err("hostkey not known or explicitly trusted".into());
    }
    plan(&known, &u.host, u.port, offered).map_err(|e| e.to_string())
}

/// Asks for confirmation when configured, then rewrites the file with `keep`.
fn write(u: &HostKeysUpdate, keep: &[PublicKey], change: HostKeysChange) -> HostKeysOutcome {
    if let Some(confirm) = &u.confirm {
        if !confirm(&change) {
            return HostKeysOutcome::Skipped("update declined".into());
        }
    }
    let mut rng = rand_core::OsRng;
    match replace(&u.path, &u.host, u.port, keep, u.hashed, &mut rng) {
        Ok(true) => HostKeysOutcome::Updated(change),
        Ok(false) => HostKeysOutcome::Unchanged,
        Err(e) => HostKeysOutcome::Skipped(format!(
            "hostfile_replace_entries failed for {}: {e}",
            u.path.display()
        )),
    }
}
