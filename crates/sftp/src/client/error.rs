//! Client errors.

use std::io;

use nacre_sftp_codec::StatusCode;

/// What went wrong in a client call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with a status other than OK.
    #[error("server status {code:?}: {message}")]
    Status {
        /// The code.
        code: StatusCode,
        /// The server's message.
        message: String,
    },
    /// A local I/O error (the local file of a transfer).
    #[error("local i/o: {0}")]
    Io(#[from] io::Error),
    /// The server broke the protocol (an undecodable reply, a reply of the wrong type, data
    /// longer than asked for).
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// The stream ended or failed (including an incoming packet over the size cap).
    #[error("SFTP connection lost: {0}")]
    ConnectionLost(String),
    /// The server does not offer what the call needs.
    #[error("not supported by the server: {0}")]
    Unsupported(&'static str),
    /// A recursive download met a name a server must never send (empty, `/`, containing `/`
    /// or NUL, absolute): nothing was written for it and the transfer stopped.
    #[error("refusing hostile file name from the server: {0:?}")]
    HostileName(String),
    /// The server did not answer a request within [`crate::ClientConfig::request_timeout`]
    /// (the session goes on).
    #[error("the server did not answer within {0:?}: request timed out")]
    Timeout(std::time::Duration),
    /// A directory listing went past [`crate::ClientConfig::max_listing_entries`] or
    /// `max_listing_bytes`: the server sends more than a client should hold.
    #[error(
        "directory listing stopped: too many entries ({entries} entries, {bytes} bytes so far)"
    )]
    TooManyEntries {
        /// Entries received.
        entries: usize,
        /// Bytes counted.
        bytes: usize,
    },
    /// A recursive download skipped names a server must never send (each the path of its
    /// folder and the name, as the server gave them: raw bytes, to be escaped for display) and
    /// fetched everything else (`stats`).
    #[error("refused {} hostile file name(s) from the server; everything else was fetched", names.len())]
    HostileNames {
        /// `folder/name` of each refused entry.
        names: Vec<Vec<u8>>,
        /// What the download did.
        stats: super::recursive::TreeStats,
    },
}

impl Error {
    /// The status code, for [`Error::Status`].
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Status { code, .. } => Some(*code),
            _ => None,
        }
    }

    pub(crate) fn protocol(what: impl Into<String>) -> Error {
        Error::Protocol(what.into())
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        match e {
            Error::Io(e) => e,
            Error::Status { code, message } => {
                let kind = match code {
                    StatusCode::NO_SUCH_FILE => io::ErrorKind::NotFound,
                    StatusCode::PERMISSION_DENIED => io::ErrorKind::PermissionDenied,
                    StatusCode::OP_UNSUPPORTED => io::ErrorKind::Unsupported,
                    StatusCode::EOF => io::ErrorKind::UnexpectedEof,
                    _ => io::ErrorKind::Other,
                };
                io::Error::new(kind, message)
            }
            Error::ConnectionLost(m) => io::Error::new(io::ErrorKind::BrokenPipe, m),
            Error::Timeout(_) => io::Error::new(io::ErrorKind::TimedOut, e.to_string()),
            other => io::Error::other(other.to_string()),
        }
    }
}

/// Result of client calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;
