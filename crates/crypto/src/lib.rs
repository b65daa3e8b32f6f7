//! Cryptographic algorithms for nacre: packet ciphers and MACs (RFC 4253 §6), key derivation
//! (RFC 4253 §7.2), ECDH (RFC 5656, RFC 8731), post-quantum hybrids (ML-KEM-768 and sntrup761,
//! each with X25519) and finite-field DH (RFC 4253 §8, RFC 8268, RFC 4419) primitives, hashes and
//! random sources.
//!
//! Nothing here reads a clock or a socket; randomness comes from a [`Rng`] passed in.
#![warn(missing_docs)]

pub mod cipher;
pub mod dh;
pub mod ecdh;
pub mod error;
pub mod hash;
pub mod kdf;
pub mod kem;
mod modp;
pub mod moduli;
pub mod rng;

/// Entry points of the fuzz targets (docs/FUZZING.md).
#[cfg(feature = "fuzzing")]
pub mod fuzzing;

pub use cipher::{CipherAlg, DirectionKeys, MacAlg, PacketKey};
pub use dh::{check_dh_public, DhGroup, DhPrivateKey};
pub use ecdh::{EcdhCurve, EcdhPrivateKey, SharedSecret};
pub use error::CryptoError;
pub use hash::{HashAlg, Hasher};
pub use kdf::derive_key;
pub use kem::{HybridKem, HybridPrivateKey};
pub use moduli::{builtin_group, choose_group, parse_moduli, ModuliEntry};
pub use rng::{Rng, SeededRng, SystemRng};

/// Re-exported so callers can build and read DH values without naming the crate themselves.
pub use num_bigint::BigUint;
pub use zeroize::Zeroizing;
