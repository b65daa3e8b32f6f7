//! Acting as another account for one file operation: the calling thread's effective user,
//! effective group and supplementary groups are switched for the operation and switched back
//! after it, so the kernel checks every access, ownership and set-id rule as it would for a
//! process of that account.
//!
//! Linux keeps credentials per thread (the `setresuid`, `setresgid` and `setgroups` system
//! calls change the calling thread only; C libraries broadcast them to every thread, the raw
//! calls through `rustix::thread` do not). A server running as root can therefore run each SFTP
//! request for a user on any blocking thread with that user's rights and nothing else: the
//! effective uid turning from 0 to another clears the thread's effective capabilities
//! (`CAP_CHOWN`, `CAP_DAC_OVERRIDE`, `CAP_FOWNER`, `CAP_FSETID`, ...), which come back when it
//! turns to 0 again (the saved uid stays 0, so the thread may return). Nothing in between runs
//! other code on that thread: an operation is one synchronous call.
//!
//! Order matters: the groups and the group id are changed while the thread still has
//! `CAP_SETGID`, then the user id; back, the user id first (which restores the capabilities),
//! then the group id and the groups. If switching fails, the operation does not run; if
//! switching back fails (the kernel never refuses a return to the saved uid, but memory can
//! run out), the thread keeps the user's rights, which can only refuse later work, never grant
//! more: the error is logged.

use std::cell::Cell;
use std::io;

use rustix::process::{Gid, Uid};

/// The account file operations act as: user id, primary group id and supplementary groups (as
/// `initgroups` gives a login).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Credentials {
    /// The user id.
    pub uid: u32,
    /// The primary group id (new files get it, as they would from a process of the account).
    pub gid: u32,
    /// Supplementary group ids (the primary one may be among them).
    pub groups: Vec<u32>,
}

thread_local! {
    /// The uid this thread acts as inside [`Credentials::run`], to refuse nesting.
    static ACTING: Cell<Option<u32>> = const { Cell::new(None) };
    /// The uid this thread became for good (an account's file thread, [`super::threads`]).
    static PERMANENT: Cell<Option<u32>> = const { Cell::new(None) };
}

/// Records that this thread switched to `uid` for good: [`Credentials::run`] for that uid then
/// runs its operation directly, and refuses any other.
pub(super) fn mark_permanent(uid: u32) {
    PERMANENT.with(|p| p.set(Some(uid)));
}

impl Credentials {
    /// Runs `op` on this thread with these credentials, and switches back after it.
    ///
    /// Nested calls for the same uid run `op` directly; for another uid they fail with
    /// `PermissionDenied` (a switch from one user to another would need root's rights, which
    /// the thread does not have while it acts as the first).
    pub fn run<T>(&self, op: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
        match PERMANENT.with(Cell::get) {
            Some(uid) if uid == self.uid => return op(),
            Some(_) => return Err(io::Error::from(io::ErrorKind::PermissionDenied)),
            None => {}
        }
        match ACTING.with(Cell::get) {
            Some(uid) if uid == self.uid => return op(),
            Some(_) => return Err(io::Error::from(io::ErrorKind::PermissionDenied)),
            None => {}
        }
        let saved = Saved::take()?;
        if let Err(e) = self.enter() {
            saved.restore();
            return Err(e);
        }
        // Switched back when dropped, also if `op` unwinds.
        let _back = Switched { saved };
        ACTING.with(|a| a.set(Some(self.uid)));
        op()
    }

    fn enter(&self) -> io::Result<()> {
        let groups: Vec<Gid> = self.groups.iter().map(|g| Gid::from_raw(*g)).collect();
        rustix::thread::set_thread_groups(&groups)?;
        rustix::thread::set_thread_res_gid(None, Gid::from_raw(self.gid), None)?;
        rustix::thread::set_thread_res_uid(None, Uid::from_raw(self.uid), None)?;
        Ok(())
    }
}

/// While alive, the thread acts as another account; dropping it switches back.
struct Switched {
    saved: Saved,
}

impl Drop for Switched {
    fn drop(&mut self) {
        self.saved.restore();
        ACTING.with(|a| a.set(None));
    }
}

/// The thread's own effective ids and groups, to come back to.
struct Saved {
    euid: Uid,
    egid: Gid,
    groups: Vec<Gid>,
}

impl Saved {
    fn take() -> io::Result<Saved> {
        Ok(Saved {
            euid: rustix::process::geteuid(),
            egid: rustix::process::getegid(),
            groups: rustix::process::getgroups()?,
        })
    }

    fn restore(&self) {
        let back = rustix::thread::set_thread_res_uid(None, self.euid, None)
            .and_then(|()| rustix::thread::set_thread_res_gid(None, self.egid, None))
            .and_then(|()| rustix::thread::set_thread_groups(&self.groups));
        if let Err(e) = back {
            tracing::error!(error = %e, "cannot switch a file thread back to the server's credentials");
        }
    }
}

/// Whether this process runs with root's effective user id (only then can it act as others).
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}
