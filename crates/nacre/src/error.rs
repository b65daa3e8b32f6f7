//! Errors of the runtime.

use nacre_transport::TransportError;

/// Why a connection failed or ended.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The socket failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The SSH transport ended the connection.
    #[error("{0}")]
    Transport(#[from] TransportError),
    /// User authentication failed at the protocol level (the connection was closed).
    #[error("authentication: {0}")]
    Auth(#[from] nacre_auth::AuthError),
    /// The ssh-agent failed.
    #[error("ssh-agent: {0}")]
    Agent(String),
    /// The peer refused a channel.
    #[error("channel open failed ({reason:?}): {description}")]
    OpenFailed {
        /// Reason code.
        reason: nacre_wire::ChannelOpenFailureReason,
        /// The peer's description.
        description: String,
    },
    /// The peer refused a request.
    #[error("the peer refused the {0} request")]
    Refused(&'static str),
    /// The server refused every credential tried ([`crate::ClientBuilder::connect`]); `methods`
    /// are those it would still accept, as ssh prints them.
    #[error("{user}: Permission denied ({}).", methods.join(","))]
    AuthRefused {
        /// The user name tried.
        user: String,
        /// The methods that can continue.
        methods: Vec<String>,
        /// The last attempt was a partial success (more methods are required).
        partial: bool,
    },
    /// A private key file could not be read or decoded.
    #[error("{}: {reason}", path.display())]
    KeyFile {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
    /// A configuration that cannot work (a server without a host key, ...).
    #[error("configuration: {0}")]
    Config(String),
    /// Connecting and authenticating took longer than the limit set.
    #[error("timed out")]
    Timeout,
    /// The connection task is gone.
    #[error("connection closed")]
    Closed,
}
