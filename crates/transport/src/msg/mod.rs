//! Transport-layer messages, one module per message family. Each struct is named after the RFC
//! message without the `SSH_MSG_` prefix and documents its wire grammar.

pub mod ext_info;
pub mod kex_dh;
pub mod kex_ecdh;
pub mod kex_gex;
pub mod kexinit;
pub mod ping;
pub mod transport;

pub use ext_info::ExtInfo;
pub use kex_dh::{KexdhInit, KexdhReply};
pub use kex_ecdh::{KexEcdhInit, KexEcdhReply};
pub use kex_gex::{KexDhGexGroup, KexDhGexInit, KexDhGexReply, KexDhGexRequest};
pub use kexinit::{KexInit, NewKeys};
pub use ping::Ping;
pub use transport::{Debug, Disconnect, Ignore, ServiceAccept, ServiceRequest, Unimplemented};

/// Encoded length of a `string` holding `len` bytes.
pub(crate) const fn slen(len: usize) -> usize {
    4 + len
}
