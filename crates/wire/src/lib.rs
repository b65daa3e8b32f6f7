//! SSH wire data types (RFC 4251 §5): nom parsers, encoders, the `Decode`/`Encode` traits and the
//! open enums of the SSH registries (RFC 4250).
//!
//! Decoding borrows from the input and never allocates what the peer asks for: every length is
//! checked against the bytes that remain before it is used.
//!
//! # Example
//!
//! A message type implements [`Encode`] with the [`put`] helpers and [`Decode`] with a
//! [`Reader`]; [`decode_exact`] refuses bytes left over after it.
//!
//! ```
//! use nacre_wire::{decode_exact, put, Decode, Encode, MsgNumber, Reader, WireError};
//!
//! #[derive(Debug, PartialEq)]
//! struct ServiceRequest<'a> {
//!     service: &'a str,
//! }
//!
//! impl Encode for ServiceRequest<'_> {
//!     fn encoded_len(&self) -> usize {
//!         1 + 4 + self.service.len()
//!     }
//!     fn encode(&self, out: &mut Vec<u8>) {
//!         put::byte(out, MsgNumber::SERVICE_REQUEST.0);
//!         put::string(out, self.service.as_bytes());
//!     }
//! }
//!
//! impl<'a> Decode<'a> for ServiceRequest<'a> {
//!     fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
//!         r.expect_msg(MsgNumber::SERVICE_REQUEST.0)?;
//!         Ok(ServiceRequest { service: r.utf8()? })
//!     }
//! }
//!
//! let bytes = ServiceRequest { service: "ssh-userauth" }.to_bytes();
//! assert_eq!(&bytes[..5], &[5, 0, 0, 0, 12]);
//! let decoded: ServiceRequest = decode_exact(&bytes)?;
//! assert_eq!(decoded.service, "ssh-userauth");
//! # Ok::<(), WireError>(())
//! ```
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
