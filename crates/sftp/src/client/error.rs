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
            other => io::Error::other(other.to_string()),
        }
    }
}

/// Result of client calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;
