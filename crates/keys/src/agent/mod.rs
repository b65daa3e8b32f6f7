//! The ssh-agent protocol (draft-miller-ssh-agent, OpenSSH `PROTOCOL.agent`): the message
//! [`codec`] and a blocking [`AgentClient`] over the Unix socket named by `SSH_AUTH_SOCK`.
//!
//! The client lists identities and signs, choosing the `rsa-sha2-256`/`rsa-sha2-512` flag the
//! requested algorithm needs; it can also add and remove keys. An async wrapper belongs to the
//! runtime crate.

pub mod codec;

#[cfg(unix)]
mod client;

#[cfg(unix)]
pub use client::{AgentClient, AgentError};
