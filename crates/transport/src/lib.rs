//! Sans-IO SSH transport layer (RFC 4253), client and server: identification exchange, binary
//! packet protocol, algorithm negotiation, key exchange (curve25519, NIST ECDH, finite-field DH and
//! group exchange), key derivation, rekeying, strict kex and RFC 8308 extension negotiation.
//!
//! No sockets, threads, clocks or OS randomness: see [`Transport`] for the contract.
#![warn(missing_docs)]

pub mod banner;
pub mod compress;
pub mod config;
pub mod error;
pub mod kex;
mod machine;
pub mod msg;
pub mod negotiate;
pub mod packet;

/// Fuzz builds only: no-op packet keys (docs/FUZZING.md).
#[cfg(fuzzing)]
pub mod fuzz_keys;
/// Entry points of the fuzz targets (docs/FUZZING.md).
#[cfg(feature = "fuzzing")]
pub mod fuzzing;

pub use banner::Identification;
pub use compress::CompressionAlg;
pub use config::{Algorithms, Config, GexConfig, Limits, Role};
pub use error::{BannerError, TransportError};
pub use kex::KexMethod;
pub use machine::{Buffered, Disposition, Event, SendError, Transport};
pub use negotiate::{Negotiated, PeerAlgorithms};
