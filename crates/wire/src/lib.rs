//! SSH wire data types (RFC 4251 §5): nom parsers, encoders, the `Decode`/`Encode` traits and the
//! open enums of the SSH registries (RFC 4250).
//!
//! Decoding borrows from the input and never allocates what the peer asks for: every length is
//! checked against the bytes that remain before it is used.
#![warn(missing_docs)]

mod codec;
mod error;
mod open_enum;
pub mod parse;
pub mod put;
mod reader;
mod registry;
mod types;

pub use codec::{decode_exact, Decode, Encode};
pub use error::WireError;
pub use reader::Reader;
pub use registry::{ChannelOpenFailureReason, DisconnectReason, MsgNumber};
pub use types::{Mpint, NameList};

/// Entry points of the fuzz targets (docs/FUZZING.md).
#[cfg(feature = "fuzzing")]
pub mod fuzzing;

#[cfg(test)]
mod tests;
