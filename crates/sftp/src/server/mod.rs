//! The SFTP server: [`Session`], the synchronous dispatcher (one decoded request in, one reply
//! frame out) over a [`Filesystem`] backend; and (feature `tokio`) `serve`, which runs one
//! session over any byte stream pair (an SSH channel, stdin/stdout, an in-memory pipe).
//!
//! The connection task of `serve` reads requests in large chunks, decodes every complete frame and hands
//! each request to tokio's blocking pool (a READ whose data the backend has at hand without
//! waiting, [`Filesystem::read_at_into_nowait`], it answers itself); replies go to a writer task
//! that coalesces them into few writes. READs run concurrently, but every reply goes out in request order (PuTTY's pscp
//! requires it for READs; paramiko for WRITEs);
//! every other request waits for the requests before it and runs alone, so a WRITE followed by
//! a READ, a CLOSE or a STAT of the same file is always seen in order. At most
//! [`ServerConfig::max_in_flight`] requests run at once: beyond that the server stops reading
//! and the transport's flow control holds the client back.

mod dispatch;
pub(crate) mod extensions;
pub(crate) mod filesystem;
mod handles;
pub(crate) mod oplog;

#[cfg(feature = "tokio")]
mod replies;
#[cfg(feature = "tokio")]
mod serve;

use std::sync::Arc;

use nacre_sftp_codec::Request;

pub use dispatch::Session;
pub use filesystem::Filesystem;
pub use handles::HandleBudget;
#[cfg(feature = "tokio")]
pub use serve::serve;

use crate::longname::Accounts;

/// Largest packet the server accepts and announces (`limits@openssh.com`): 256 KiB, OpenSSH's
/// `SFTP_MAX_MSG_LENGTH`. A longer one ends the session.
pub const MAX_PACKET_LEN: usize = 256 * 1024;
/// Largest READ answered in full (longer ones are clamped) and announced: 255 KiB, which keeps
/// a DATA reply under [`MAX_PACKET_LEN`].
pub const MAX_READ_LEN: usize = 255 * 1024;
/// Largest WRITE announced: 255 KiB.
pub const MAX_WRITE_LEN: usize = 255 * 1024;
/// Default cap on open handles.
pub const DEFAULT_MAX_HANDLES: usize = 512;
/// Default number of requests served at once.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 64;

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Refuse every request that would change anything (PERMISSION_DENIED).
    pub read_only: bool,
    /// Open handles at most in this session; OPEN and OPENDIR beyond get FAILURE.
    pub max_handles: usize,
    /// Budgets this session's handles also count against, shared with other sessions (the
    /// connection's, the user's, the server's: [`HandleBudget`]); OPEN and OPENDIR get FAILURE
    /// ("too many open handles") when any is spent. Empty by default.
    pub handle_budgets: Vec<Arc<HandleBudget>>,
    /// Requests served at once.
    pub max_in_flight: usize,
    /// User and group names for long names and `users-groups-by-id@openssh.com`.
    pub accounts: Arc<Accounts>,
    /// Start of every line of the operation log (target `nacre::sftp`, INFO; see
    /// `server/oplog.rs`): who, from where, e.g. `peer from 127.0.0.1:4242: `. Empty by default.
    pub log_label: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            read_only: false,
            max_handles: DEFAULT_MAX_HANDLES,
            handle_budgets: Vec::new(),
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            accounts: Arc::new(Accounts::load()),
            log_label: String::new(),
        }
    }
}

/// Decodes a request the way OpenSSH's sftp-server reads one: bytes after its last field are
/// ignored (counted in a debug log), not refused (docs/TOLERANCE.md).
pub(crate) fn decode_request(bytes: &[u8]) -> Result<Request<'_>, nacre_wire::WireError> {
    let (request, ignored) = Request::decode_tolerant(bytes)?;
    if ignored > 0 {
        tracing::debug!(
            id = ?request.id(),
            kind = ?request.packet_type(),
            ignored,
            "SFTP request: bytes after its fields ignored"
        );
    }
    Ok(request)
}
