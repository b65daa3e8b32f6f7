//! Sans-IO SSH connection protocol (RFC 4254): channels with flow control, channel and global
//! requests, sessions and forwarding, both roles. Fed the payloads that follow authentication; no
//! sockets, threads or clocks.
#![warn(missing_docs)]

mod channel;
mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod liveness;
pub mod msg;
mod protocol;
mod types;

pub use channel::Phase;
pub use error::ConnectionError;
pub use liveness::LivenessConfig;
pub use msg::kinds::ChannelKind;
pub use msg::requests::RequestKind;
pub use protocol::{
    ChannelId, ConnectionConfig, ConnectionProtocol, Event, Outgoing, ReplyToken,
    DEFAULT_MAX_CHANNELS, DEFAULT_MAX_PACKET, DEFAULT_MAX_WINDOW_SIZE, DEFAULT_MAX_WINDOW_TOTAL,
    DEFAULT_WINDOW_SIZE,
};
pub use types::ChannelStatus;
