//! Transport errors. Every error knows the DISCONNECT reason code it puts on the wire (RFC 4253 §11.1)
//! and the description sent with it.

use nacre_crypto::CryptoError;
use nacre_keys::KeyError;
use nacre_wire::{DisconnectReason, MsgNumber, WireError};

/// Why the identification exchange failed (RFC 4253 §4.2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BannerError {
    /// The peer sent more lines before its `SSH-` line than allowed.
    #[error("more than {0} lines before the identification string")]
    TooManyLines(usize),
    /// A line exceeded the length limit.
    #[error("identification line longer than {0} bytes")]
    LineTooLong(usize),
    /// The server received something other than an `SSH-` line first.
    #[error("the client did not start with an identification string")]
    NotIdentification,
    /// The identification string is malformed (missing software version, NUL byte, ...).
    #[error("malformed identification string: {0}")]
    Malformed(&'static str),
    /// The protocol version is not 2.0 (or 1.99).
    #[error("protocol version {0:?} is not supported")]
    UnsupportedVersion(String),
}

/// A fatal error of the transport layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// Identification exchange failed.
    #[error("identification exchange: {0}")]
    Banner(#[from] BannerError),
    /// A message could not be decoded.
    #[error("malformed {msg:?} message: {error}")]
    Malformed {
        /// The message number.
        msg: MsgNumber,
        /// What was wrong.
        error: WireError,
    },
    /// packet_length is out of bounds (RFC 4253 §6.1).
    #[error("packet length {len} out of bounds (5..={max})")]
    PacketLength {
        /// The announced length.
        len: u32,
        /// The largest accepted.
        max: usize,
    },
    /// packet_length is not a multiple of the cipher block size (RFC 4253 §6).
    #[error("packet length {len} is not aligned to the block size {block}")]
    PacketAlignment {
        /// The announced length.
        len: u32,
        /// The block size.
        block: usize,
    },
    /// padding_length is below 4 or exceeds the packet (RFC 4253 §6).
    #[error("invalid padding length {padding} for packet length {len}")]
    Padding {
        /// padding_length.
        padding: u8,
        /// packet_length.
        len: u32,
    },
    /// The packet has no payload byte at all.
    #[error("empty payload")]
    EmptyPayload,
    /// The MAC or AEAD tag did not verify (RFC 4253 §6.4).
    #[error("message authentication code incorrect")]
    Mac,
    /// No algorithm in common for a category (RFC 4253 §7.1).
    #[error("no matching {category} algorithm (ours: {ours}; theirs: {theirs})")]
    NoCommonAlgorithm {
        /// The category ("kex", "host key", "cipher c2s", ...).
        category: &'static str,
        /// Our list.
        ours: String,
        /// The peer's list.
        theirs: String,
    },
    /// A message arrived where the protocol does not allow it.
    #[error("unexpected {msg:?} message {state}")]
    UnexpectedMessage {
        /// The message number.
        msg: MsgNumber,
        /// Where we were.
        state: &'static str,
    },
    /// A strict-kex rule was broken (OpenSSH PROTOCOL, "strict key exchange").
    #[error("strict KEX violation: {0}")]
    StrictKex(&'static str),
    /// The key exchange failed for a reason given in the text.
    #[error("key exchange failed: {0}")]
    KexFailed(&'static str),
    /// The peer's ephemeral public value was refused.
    #[error("invalid key exchange public value: {0}")]
    KexPublicValue(CryptoError),
    /// A cryptographic operation failed.
    #[error("cryptographic failure: {0}")]
    Crypto(CryptoError),
    /// The server's host key or its signature could not be verified.
    #[error("host key: {0}")]
    HostKey(String),
    /// The application rejected the server's host key.
    #[error("host key rejected")]
    HostKeyRejected,
    /// The server presented a different host key in a re-exchange.
    #[error("server host key changed during re-exchange")]
    HostKeyChanged,
    /// The requested service is not offered.
    #[error("service {0:?} not available")]
    ServiceNotAvailable(String),
    /// A sequence number wrapped where it must not.
    #[error("sequence number wrapped during the initial key exchange")]
    SequenceWrapped,
    /// The peer closed the connection with DISCONNECT.
    #[error("peer disconnected ({reason:?}): {description}")]
    PeerDisconnected {
        /// The peer's reason code.
        reason: DisconnectReason,
        /// The peer's description.
        description: String,
    },
    /// The application closed the connection.
    #[error("disconnected by application ({reason:?}): {description}")]
    Local {
        /// The reason code sent.
        reason: DisconnectReason,
        /// The description sent.
        description: String,
    },
    /// The key exchange did not finish in time.
    #[error("timeout: {0}")]
    Timeout(&'static str),
    /// The peer closed the byte stream.
    #[error("connection closed by peer")]
    ConnectionLost,
    /// A compressed payload could not be inflated (corrupt stream), or inflated past the
    /// packet size limit (a decompression bomb); see [`crate::compress`].
    #[error("compression: {0}")]
    Compression(&'static str),
}

impl TransportError {
    /// The reason code put in the DISCONNECT message for this error.
    pub fn reason(&self) -> DisconnectReason {
        use TransportError as E;
        match self {
            E::Banner(BannerError::UnsupportedVersion(_)) => {
                DisconnectReason::PROTOCOL_VERSION_NOT_SUPPORTED
            }
            E::Mac => DisconnectReason::MAC_ERROR,
            E::NoCommonAlgorithm { .. } | E::KexFailed(_) | E::KexPublicValue(_) | E::Crypto(_) => {
                DisconnectReason::KEY_EXCHANGE_FAILED
            }
            E::HostKey(_) | E::HostKeyRejected | E::HostKeyChanged => {
                DisconnectReason::HOST_KEY_NOT_VERIFIABLE
            }
            E::ServiceNotAvailable(_) => DisconnectReason::SERVICE_NOT_AVAILABLE,
            E::PeerDisconnected { reason, .. } | E::Local { reason, .. } => *reason,
            E::ConnectionLost => DisconnectReason::CONNECTION_LOST,
            E::Compression(_) => DisconnectReason::COMPRESSION_ERROR,
            E::Banner(_)
            | E::Malformed { .. }
            | E::PacketLength { .. }
            | E::PacketAlignment { .. }
            | E::Padding { .. }
            | E::EmptyPayload
            | E::UnexpectedMessage { .. }
            | E::StrictKex(_)
            | E::SequenceWrapped
            | E::Timeout(_) => DisconnectReason::PROTOCOL_ERROR,
        }
    }

    /// Whether a DISCONNECT message should be sent for this error: not when the peer already
    /// disconnected or the stream is gone, and not during the banner exchange (no packets yet).
    pub fn sends_disconnect(&self) -> bool {
        !matches!(
            self,
            TransportError::PeerDisconnected { .. }
                | TransportError::ConnectionLost
                | TransportError::Banner(_)
        )
    }

    /// The text sent in the DISCONNECT message: the application's own words for a local
    /// disconnect, the error's description otherwise.
    pub fn description(&self) -> String {
        match self {
            TransportError::Local { description, .. } => description.clone(),
            other => other.to_string(),
        }
    }

    pub(crate) fn malformed(msg: MsgNumber) -> impl FnOnce(WireError) -> TransportError {
        move |error| TransportError::Malformed { msg, error }
    }
}

impl From<KeyError> for TransportError {
    fn from(e: KeyError) -> Self {
        TransportError::HostKey(e.to_string())
    }
}
