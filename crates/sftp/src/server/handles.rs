//! The table of open handles of one SFTP session, with its cap, and the budgets of handles
//! that several sessions share (a connection's, a user's, a whole server's).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::Filesystem;

/// An open file: the backend's file and how it was opened.
pub struct OpenFile<F: Filesystem> {
    /// The backend's file.
    pub file: F::File,
    /// Opened with READ.
    pub readable: bool,
    /// Opened with WRITE or APPEND.
    pub writable: bool,
    /// The path it was opened by, for the operation log.
    pub path: Vec<u8>,
    /// Bytes read and written through it, for the operation log's `close` line.
    pub moved: super::oplog::Transferred,
}

/// What a handle refers to.
pub enum Entry<F: Filesystem> {
    /// A file (READs on it run concurrently, hence `Arc`).
    File(Arc<OpenFile<F>>),
    /// A directory being listed, and its path (for the operation log).
    Dir(Arc<Mutex<F::Dir>>, Arc<[u8]>),
}

impl<F: Filesystem> Clone for Entry<F> {
    fn clone(&self) -> Self {
        match self {
            Entry::File(f) => Entry::File(f.clone()),
            Entry::Dir(d, p) => Entry::Dir(d.clone(), p.clone()),
        }
    }
}

/// A count of open handles shared by SFTP sessions, with a ceiling: every OPEN and OPENDIR
/// takes one from each budget of its session ([`crate::ServerConfig::handle_budgets`]) before
/// the file is opened, and CLOSE (or the session's end) gives it back. A server puts one
/// budget per connection, one per user and one for the whole process in front of its
/// descriptor limit, so one client running out answers that client with SSH_FX_FAILURE and
/// never takes the descriptors other clients need.
#[derive(Debug)]
pub struct HandleBudget {
    limit: usize,
    used: AtomicUsize,
}

impl HandleBudget {
    /// A budget of `limit` handles.
    pub fn new(limit: usize) -> Arc<HandleBudget> {
        Arc::new(HandleBudget {
            limit,
            used: AtomicUsize::new(0),
        })
    }

    /// The ceiling.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Handles held now.
    pub fn in_use(&self) -> usize {
        self.used.load(Ordering::SeqCst)
    }

    fn try_take(&self) -> bool {
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.limit).then_some(n + 1)
            })
            .is_ok()
    }

    fn give_back(&self) {
        let _ = self
            .used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    }
}

/// One handle's share of every budget of a session, given back when dropped.
pub struct Claim {
    taken: Vec<Arc<HandleBudget>>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        for b in &self.taken {
            b.give_back();
        }
    }
}

/// Open handles by number. Handles on the wire are the number's 8 big-endian bytes; numbers are
/// never reused within a session, so a stale handle cannot reach a newer file.
pub struct Handles<F: Filesystem> {
    next: u64,
    max: usize,
    budgets: Vec<Arc<HandleBudget>>,
    open: HashMap<u64, (Entry<F>, Claim)>,
}

impl<F: Filesystem> Handles<F> {
    /// An empty table holding at most `max` handles, each also counted in every one of
    /// `budgets`.
    pub fn new(max: usize, budgets: Vec<Arc<HandleBudget>>) -> Self {
        Handles {
            next: 1,
            max,
            budgets,
            open: HashMap::new(),
        }
    }

    /// Room for one more handle, in this table and in every budget; `None` when any is full.
    /// Taken before the file is opened, so a refused OPEN costs no descriptor.
    pub fn claim(&self) -> Option<Claim> {
        if self.open.len() >= self.max {
            return None;
        }
        let mut claim = Claim {
            taken: Vec::with_capacity(self.budgets.len()),
        };
        for b in &self.budgets {
            if !b.try_take() {
                return None; // `claim` gives back what it took
            }
            claim.taken.push(b.clone());
        }
        Some(claim)
    }

    /// Stores `entry` with its claim; `None` when the table filled meanwhile.
    pub fn insert(&mut self, entry: Entry<F>, claim: Claim) -> Option<Vec<u8>> {
        if self.open.len() >= self.max {
            return None;
        }
        let n = self.next;
        self.next += 1;
        self.open.insert(n, (entry, claim));
        Some(n.to_be_bytes().to_vec())
    }

    fn number(handle: &[u8]) -> Option<u64> {
        Some(u64::from_be_bytes(handle.try_into().ok()?))
    }

    /// The entry of `handle`.
    pub fn get(&self, handle: &[u8]) -> Option<Entry<F>> {
        self.open
            .get(&Self::number(handle)?)
            .map(|(e, _)| e.clone())
    }

    /// Removes `handle`.
    pub fn remove(&mut self, handle: &[u8]) -> Option<Entry<F>> {
        self.open.remove(&Self::number(handle)?).map(|(e, _)| e)
    }

    /// Number of open handles.
    pub fn len(&self) -> usize {
        self.open.len()
    }
}

/// Locks a mutex, ignoring poisoning (the data are plain tables).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
