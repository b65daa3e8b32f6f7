//! Errors of the cryptographic layer.

/// Everything that can go wrong inside `nacre-crypto`.
///
/// The variants carry no secret material; they are safe to log.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum CryptoError {
    /// A MAC or AEAD tag did not verify (RFC 4253 §6.4); the packet must be dropped and the
    /// connection closed with `SSH_DISCONNECT_MAC_ERROR`.
    #[error("message authentication failed")]
    MacMismatch,
    /// A key, IV, buffer or value had the wrong length.
    #[error("invalid length for {what}: {len}")]
    InvalidLength {
        /// What had the wrong length.
        what: &'static str,
        /// The length that was seen.
        len: usize,
    },
    /// A peer's (EC)DH public value was rejected (RFC 4253 §8, RFC 5656 §4, RFC 8731 §3).
    #[error("invalid public key: {0}")]
    InvalidPublicKey(&'static str),
    /// The X25519 shared secret was all zero (RFC 8731 §3, RFC 7748 §6.1).
    #[error("shared secret is zero")]
    ZeroSharedSecret,
    /// A Diffie-Hellman group was rejected (RFC 4419 §3).
    #[error("invalid Diffie-Hellman group: {0}")]
    InvalidGroup(&'static str),
    /// The requested algorithm or combination is not supported.
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
}
