//! Key exchange: methods, exchange hash, key derivation, and the client and server method steps.

pub(crate) mod client;
pub mod hash;
pub mod keys;
mod method;
pub(crate) mod server;

pub use method::{KexKind, KexMethod};
use zeroize::Zeroizing;

/// The result of a key exchange method.
pub(crate) struct KexOutput {
    /// K encoded as hashed and derived from: an mpint with its length, or for the hybrid methods
    /// a string.
    pub k: Zeroizing<Vec<u8>>,
    /// The exchange hash H.
    pub h: Vec<u8>,
    /// K_S, the server's host key blob.
    pub host_key: Vec<u8>,
    /// Our ephemeral ECDH private key, kept only for session key logs (none for the hybrids).
    pub ephemeral: Option<Zeroizing<Vec<u8>>>,
}
