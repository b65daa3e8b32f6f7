//! The table of open handles of one SFTP session, with its cap.

use std::collections::HashMap;
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
}

/// What a handle refers to.
pub enum Entry<F: Filesystem> {
    /// A file (READs on it run concurrently, hence `Arc`).
    File(Arc<OpenFile<F>>),
    /// A directory being listed.
    Dir(Arc<Mutex<F::Dir>>),
}

impl<F: Filesystem> Clone for Entry<F> {
    fn clone(&self) -> Self {
        match self {
            Entry::File(f) => Entry::File(f.clone()),
            Entry::Dir(d) => Entry::Dir(d.clone()),
        }
    }
}

/// Open handles by number. Handles on the wire are the number's 8 big-endian bytes; numbers are
/// never reused within a session, so a stale handle cannot reach a newer file.
pub struct Handles<F: Filesystem> {
    next: u64,
    max: usize,
    open: HashMap<u64, Entry<F>>,
}

impl<F: Filesystem> Handles<F> {
    /// An empty table holding at most `max` handles.
    pub fn new(max: usize) -> Self {
        Handles {
            next: 1,
            max,
            open: HashMap::new(),
        }
    }

    /// Stores `entry`; `None` when the table is full.
    pub fn insert(&mut self, entry: Entry<F>) -> Option<Vec<u8>> {
        if self.open.len() >= self.max {
            return None;
        }
        let n = self.next;
        self.next += 1;
        self.open.insert(n, entry);
        Some(n.to_be_bytes().to_vec())
    }

    fn number(handle: &[u8]) -> Option<u64> {
        Some(u64::from_be_bytes(handle.try_into().ok()?))
    }

    /// The entry of `handle`.
    pub fn get(&self, handle: &[u8]) -> Option<Entry<F>> {
        self.open.get(&Self::number(handle)?).cloned()
    }

    /// Removes `handle`.
    pub fn remove(&mut self, handle: &[u8]) -> Option<Entry<F>> {
        self.open.remove(&Self::number(handle)?)
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
