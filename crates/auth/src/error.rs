//! Authentication errors. Each one ends the connection with the DISCONNECT reason it names.

use nacre_wire::{DisconnectReason, MsgNumber, WireError};

/// A fatal error of the authentication layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// A message could not be decoded.
    #[error("malformed authentication message {msg}: {error}")]
    Malformed {
        /// Message number.
        msg: MsgNumber,
        /// What was wrong.
        error: WireError,
    },
    /// A message arrived where RFC 4252 does not allow it.
    #[error("unexpected message {msg} {context}")]
    UnexpectedMessage {
        /// Message number.
        msg: MsgNumber,
        /// Why it is refused (names the CVE class where there is one).
        context: &'static str,
    },
    /// The user or service changed between requests (OpenSSH refuses this too).
    #[error("change of user name or service is not allowed")]
    UserOrServiceChanged,
    /// The requested service does not exist.
    #[error("service {0:?} not available")]
    ServiceNotAvailable(String),
    /// Too many failed attempts (MaxAuthTries).
    #[error("too many authentication failures ({0})")]
    TooManyFailures(u32),
    /// The client has no method left to try.
    #[error("no more authentication methods to try (server allows: {0})")]
    NoMoreMethods(String),
    /// The server's answer does not belong to the request (e.g. PK_OK for another key).
    #[error("server answered for a different request: {0}")]
    Mismatch(&'static str),
    /// The client did not authenticate within the login grace time.
    #[error("login grace time exceeded")]
    LoginGraceTime,
    /// Too many messages arrived while an answer was pending.
    #[error("too many pipelined authentication requests")]
    Flood,
}

impl AuthError {
    /// The DISCONNECT reason code for this error.
    pub fn reason(&self) -> DisconnectReason {
        match self {
            AuthError::ServiceNotAvailable(_) => DisconnectReason::SERVICE_NOT_AVAILABLE,
            AuthError::TooManyFailures(_) | AuthError::NoMoreMethods(_) => {
                DisconnectReason::NO_MORE_AUTH_METHODS_AVAILABLE
            }
            AuthError::Malformed { .. }
            | AuthError::UnexpectedMessage { .. }
            | AuthError::UserOrServiceChanged
            | AuthError::Mismatch(_)
            | AuthError::LoginGraceTime
            | AuthError::Flood => DisconnectReason::PROTOCOL_ERROR,
        }
    }

    pub(crate) fn malformed(msg: MsgNumber) -> impl FnOnce(WireError) -> AuthError {
        move |error| AuthError::Malformed { msg, error }
    }
}
