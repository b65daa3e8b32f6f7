//! Threads that belong to one account: each switches to the account's user id, group id and
//! groups once, when it starts, for good (real, effective and saved ids alike, so it can never
//! become root again), and then runs that account's file operations one after another.
//!
//! Switching credentials around every operation ([`Credentials::run`]) costs six credential
//! commits in the kernel, about 9 µs on the machine of docs/PERFORMANCE.md: as much again as a
//! 32 KiB write into the page cache. A thread that stays the account's pays it once. Every
//! session acting as one account shares that account's threads; a thread left idle for
//! [`IDLE_EXIT`] ends, so an account nobody uses costs nothing.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use rustix::process::{Gid, Uid};

use super::creds::{mark_permanent, Credentials};

/// A job for an account's thread.
pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// How long a thread waits for work before it ends.
pub const IDLE_EXIT: Duration = Duration::from_secs(10);

/// Threads of one account, at most `max` at once.
pub struct AccountThreads {
    account: Credentials,
    max: usize,
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    live: usize,
    idle: usize,
}

impl std::fmt::Debug for AccountThreads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountThreads")
            .field("account", &self.account)
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The pools that exist, by account, while any session uses them.
static POOLS: Mutex<Option<HashMap<Credentials, Weak<AccountThreads>>>> = Mutex::new(None);

impl AccountThreads {
    /// The threads of `account`, shared with every other user of the same account.
    pub fn for_account(account: &Credentials) -> Arc<AccountThreads> {
        let mut pools = POOLS.lock().unwrap_or_else(PoisonError::into_inner);
        let pools = pools.get_or_insert_with(HashMap::new);
        if let Some(p) = pools.get(account).and_then(Weak::upgrade) {
            return p;
        }
        pools.retain(|_, p| p.strong_count() > 0);
        let max = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8));
        let p = Arc::new(AccountThreads {
            account: account.clone(),
            max,
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
        });
        pools.insert(account.clone(), Arc::downgrade(&p));
        p
    }

    /// Runs `job` on one of the account's threads (starting one if none is idle and fewer than
    /// the maximum run). If no thread can start, the job is dropped unrun (its result channel
    /// then tells the caller).
    pub fn spawn(self: &Arc<Self>, job: Job) {
        let start = {
            let mut s = lock(&self.state);
            s.queue.push_back(job);
            let start = s.idle == 0 && s.live < self.max;
            if start {
                s.live += 1;
            }
            start
        };
        if !start {
            self.wake.notify_one();
            return;
        }
        let me = self.clone();
        let started = std::thread::Builder::new()
            .name(format!("nacre-sftp-uid{}", self.account.uid))
            .spawn(move || me.work());
        if let Err(e) = started {
            tracing::warn!(error = %e, "cannot start a file thread");
            let mut s = lock(&self.state);
            s.live -= 1;
            if s.live == 0 {
                s.queue.clear();
            }
        }
    }

    fn work(self: Arc<Self>) {
        if let Err(e) = become_account(&self.account) {
            tracing::error!(uid = self.account.uid, error = %e, "cannot switch a file thread to the account");
            let mut s = lock(&self.state);
            s.live -= 1;
            if s.live == 0 {
                s.queue.clear(); // nobody can run them: their callers see the channel closed
            }
            return;
        }
        let mut s = lock(&self.state);
        loop {
            if let Some(job) = s.queue.pop_front() {
                drop(s);
                job();
                s = lock(&self.state);
                continue;
            }
            s.idle += 1;
            let (guard, timeout) = self
                .wake
                .wait_timeout(s, IDLE_EXIT)
                .unwrap_or_else(PoisonError::into_inner);
            s = guard;
            s.idle -= 1;
            if timeout.timed_out() && s.queue.is_empty() {
                s.live -= 1;
                return;
            }
        }
    }
}

/// Makes this thread the account's for good.
fn become_account(account: &Credentials) -> io::Result<()> {
    let groups: Vec<Gid> = account.groups.iter().map(|g| Gid::from_raw(*g)).collect();
    let (uid, gid) = (Uid::from_raw(account.uid), Gid::from_raw(account.gid));
    rustix::thread::set_thread_groups(&groups)?;
    rustix::thread::set_thread_res_gid(gid, gid, gid)?;
    rustix::thread::set_thread_res_uid(uid, uid, uid)?;
    mark_permanent(account.uid);
    Ok(())
}
