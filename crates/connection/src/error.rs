//! Connection layer errors: each ends the connection with the DISCONNECT reason it names.

use nacre_wire::{DisconnectReason, WireError};

/// A fatal error of the connection layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionError {
    /// A message could not be decoded.
    #[error("malformed connection message {msg}: {error}")]
    Malformed {
        /// Message number.
        msg: u8,
        /// What was wrong.
        error: WireError,
    },
    /// A message named a channel that does not exist (or no longer does).
    #[error("message {msg} for nonexistent channel {channel}")]
    UnknownChannel {
        /// Message number.
        msg: u8,
        /// The channel number.
        channel: u32,
    },
    /// The peer sent more data than the window allowed.
    #[error("channel {channel}: {len} bytes of data exceed the window of {window}")]
    WindowExceeded {
        /// Channel.
        channel: u32,
        /// Bytes received.
        len: usize,
        /// Window left.
        window: u32,
    },
    /// The peer sent a data packet larger than our maximum packet size.
    #[error("channel {channel}: data packet of {len} bytes exceeds the maximum of {max}")]
    PacketTooLarge {
        /// Channel.
        channel: u32,
        /// Bytes received.
        len: usize,
        /// Our maximum.
        max: u32,
    },
    /// WINDOW_ADJUST would take the window past 2^32 - 1.
    #[error("channel {0}: window adjust overflows the window")]
    WindowOverflow(u32),
    /// A maximum packet size of zero (nothing could ever be sent).
    #[error("maximum packet size of zero")]
    ZeroMaxPacket,
    /// Data or EOF after the peer's EOF or CLOSE.
    #[error("channel {channel}: message {msg} after the peer's {after}")]
    AfterEnd {
        /// Channel.
        channel: u32,
        /// Message number.
        msg: u8,
        /// "EOF" or "CLOSE".
        after: &'static str,
    },
    /// A reply (success/failure/confirmation) nobody asked for.
    #[error("unexpected reply {msg}: {context}")]
    UnexpectedReply {
        /// Message number.
        msg: u8,
        /// Context.
        context: &'static str,
    },
    /// A message number that does not belong to the connection layer.
    #[error("message {0} is not a connection-layer message")]
    NotConnectionMessage(u8),
    /// Keepalives went unanswered.
    #[error("no answer to {0} keepalives")]
    KeepaliveTimeout(u32),
    /// The connection was idle for too long.
    #[error("inactivity timeout")]
    Inactive,
    /// A session channel opened after the peer sent `no-more-sessions@openssh.com` (OpenSSH
    /// PROTOCOL §2.2): sshd closes the connection with these words.
    #[error("Possible attack: attempt to open a session after additional sessions disabled")]
    NoMoreSessions,
}

impl ConnectionError {
    /// The DISCONNECT reason code.
    pub fn reason(&self) -> DisconnectReason {
        match self {
            ConnectionError::KeepaliveTimeout(_) | ConnectionError::Inactive => {
                DisconnectReason::CONNECTION_LOST
            }
            _ => DisconnectReason::PROTOCOL_ERROR,
        }
    }

    pub(crate) fn malformed(msg: u8) -> impl FnOnce(WireError) -> ConnectionError {
        move |error| ConnectionError::Malformed { msg, error }
    }
}
