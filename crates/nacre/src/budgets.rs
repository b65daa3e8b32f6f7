//! Open SFTP handles a [`crate::Server`] allows: per connection, per user and in all, inside the
//! process's descriptor limit with a reserve kept for accepting and authenticating.
//!
//! sshd gives each connection its own processes, so each has the whole descriptor limit and one
//! client exhausting its own hurts nobody else. nacre serves every connection in one process,
//! so it divides its limit instead: every SFTP handle (an open file or directory, one descriptor
//! each) counts against its connection's budget, its user's and the server's total
//! ([`nacre_sftp::HandleBudget`]); when one is spent, that client's OPEN gets SSH_FX_FAILURE
//! ("too many open handles") and every other client still logs in and reads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use nacre_sftp::HandleBudget;

/// The descriptors kept out of every handle budget, at least (for listening, accepting,
/// authenticating, key files, the runtime's own).
pub const MIN_RESERVED_DESCRIPTORS: usize = 256;
/// A connection's handles at most, however high the descriptor limit (OpenSSH's sftp-server,
/// one process per connection, stops near its soft limit, 1024 by default).
pub const MAX_HANDLES_PER_CONNECTION: usize = 1024;
/// A user's handles at most, over all of the user's connections.
pub const MAX_HANDLES_PER_USER: usize = 8192;

/// Budgets of open SFTP handles ([`crate::ServerLimits::handles`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandleLimits {
    /// All handles of the server.
    pub total: usize,
    /// Handles of one user, over all of its connections.
    pub per_user: usize,
    /// Handles of one connection, over all of its SFTP sessions.
    pub per_connection: usize,
}

impl HandleLimits {
    /// Budgets fitted to the process's soft descriptor limit as it is now.
    pub fn from_descriptor_limit() -> HandleLimits {
        let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
        HandleLimits::for_descriptors(soft.unwrap_or(u64::MAX))
    }

    /// Budgets for a process allowed `descriptors` open descriptors: a quarter of them (at
    /// least [`MIN_RESERVED_DESCRIPTORS`], at most half) kept in reserve, the rest for handles;
    /// a user may hold half of those, a connection a quarter (each capped by the constants of
    /// this module).
    pub fn for_descriptors(descriptors: u64) -> HandleLimits {
        let n = usize::try_from(descriptors)
            .unwrap_or(usize::MAX)
            .min(1 << 30);
        let reserve = (n / 4).max(MIN_RESERVED_DESCRIPTORS).min(n / 2);
        let total = n - reserve;
        HandleLimits {
            total,
            per_user: (total / 2).clamp(1, MAX_HANDLES_PER_USER),
            per_connection: (total / 4).clamp(1, MAX_HANDLES_PER_CONNECTION),
        }
    }
}

impl Default for HandleLimits {
    fn default() -> Self {
        HandleLimits::from_descriptor_limit()
    }
}

/// Raises the process's soft descriptor limit to its hard limit (as servers do at start) and
/// returns the new soft limit.
pub fn raise_descriptor_limit() -> std::io::Result<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        limit.current = limit.maximum;
        setrlimit(Resource::Nofile, limit)?;
    }
    Ok(limit.current.unwrap_or(u64::MAX))
}

/// The live budgets of one server: the total, and one per user while any of its connections
/// lives.
pub(crate) struct Budgets {
    limits: HandleLimits,
    total: Arc<HandleBudget>,
    users: Mutex<HashMap<String, Weak<HandleBudget>>>,
}

impl Budgets {
    pub(crate) fn new(limits: HandleLimits) -> Budgets {
        Budgets {
            limits,
            total: HandleBudget::new(limits.total),
            users: Mutex::new(HashMap::new()),
        }
    }

    /// The budgets a new connection of `user` counts its handles against: its own, the user's,
    /// the server's.
    pub(crate) fn for_connection(&self, user: &str) -> Vec<Arc<HandleBudget>> {
        let mut users = self
            .users
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let user_budget = match users.get(user).and_then(Weak::upgrade) {
            Some(b) => b,
            None => {
                users.retain(|_, b| b.strong_count() > 0);
                let b = HandleBudget::new(self.limits.per_user);
                users.insert(user.to_owned(), Arc::downgrade(&b));
                b
            }
        };
        vec![
            HandleBudget::new(self.limits.per_connection),
            user_budget,
            self.total.clone(),
        ]
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::{Budgets, HandleLimits};

    #[test]
    fn budgets_leave_a_reserve() {
        let l = HandleLimits::for_descriptors(1024);
        assert_eq!((l.total, l.per_user, l.per_connection), (768, 384, 192));
        let l = HandleLimits::for_descriptors(1 << 20);
        assert_eq!(l.total, (1 << 20) - (1 << 18));
        assert_eq!((l.per_user, l.per_connection), (8192, 1024));
        let l = HandleLimits::for_descriptors(100);
        assert_eq!(l.total, 50);
    }

    #[test]
    fn a_users_connections_share_one_budget_until_the_last_ends() {
        let b = Budgets::new(HandleLimits::for_descriptors(4096));
        let one = b.for_connection("alice");
        let two = b.for_connection("alice");
        assert!(std::sync::Arc::ptr_eq(&one[1], &two[1]));
        assert!(!std::sync::Arc::ptr_eq(&one[0], &two[0]));
        assert!(std::sync::Arc::ptr_eq(&one[2], &b.for_connection("bob")[2]));
        drop((one, two));
        let three = b.for_connection("alice");
        assert_eq!(three[1].in_use(), 0);
    }
}
