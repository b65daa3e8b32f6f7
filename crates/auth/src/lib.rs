//! Sans-IO SSH user authentication (RFC 4252, RFC 4256 keyboard-interactive), client and server.
//!
//! Both machines sit on top of an established transport: they are fed the service-layer payloads
//! (message numbers 50–79) and produce payloads to send; decisions that need the application (is this
//! password right? may this key log in?) are events answered later with a method call. The server only
//! ever hands the application a public key whose signature it has verified.
#![warn(missing_docs)]

pub mod client;
mod error;
pub mod msg;
pub mod server;

/// Entry points of the fuzz targets (docs/FUZZING.md).
#[cfg(feature = "fuzzing")]
pub mod fuzzing;

pub use client::{AuthClient, ClientEvent};
pub use error::AuthError;
pub use server::{AuthServer, AuthServerConfig, Decision, MethodKind, RequestId, ServerEvent};

/// The service requested after authentication (RFC 4254).
pub const SSH_CONNECTION: &str = "ssh-connection";
