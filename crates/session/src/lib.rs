//! nacre-session: one SSH connection as one sans-IO machine per role.
//!
//! [`ClientSession`] and [`ServerSession`] each own the transport (`nacre-transport`: banner,
//! key exchange, packet protection), the user-authentication machine of their role
//! (`nacre-auth`) and, once authenticated, the connection protocol (`nacre-connection`). The
//! switch from authentication to channels, the `ssh-userauth` service request, re-exchanges
//! deferred until authentication, and the DISCONNECT that follows a fatal error of any layer
//! all happen here, so that a caller only moves bytes, time and answers:
//!
//! ```text
//!            bytes in                       bytes out
//!   handle_input(&[u8]) ──► Transport ──► poll_transmit(&mut Vec<u8>)
//!   handle_timeout(now)        │ payloads ≥ 50
//!                              ▼
//!                  Handshake → Auth(machine) → Connection(ConnectionProtocol)
//!                              │ questions and facts
//!                              ▼
//!                        poll_event()  ──►  answer_*(id, …)
//! ```
//!
//! No sockets, threads, clocks or operating-system randomness: time is passed in, the random
//! source is a parameter. The same bytes, time steps and seed give the same output, byte for
//! byte, which is what the test kit's `SessionPair` and the `session_pair` fuzz target rely on.
//!
//! A client and a server joined in memory, through key exchange, password authentication and a
//! channel:
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Instant;
//! use nacre_auth::{AuthServerConfig, Decision, ServerEvent as Question};
//! use nacre_connection::{ChannelKind, ConnectionConfig, Event as ConnEvent};
//! use nacre_crypto::SeededRng;
//! use nacre_keys::PrivateKey;
//! use nacre_session::*;
//!
//! let host_key = Arc::new(PrivateKey::from_ed25519_seed(&[7; 32]));
//! let now = Instant::now();
//! let mut client = ClientSession::new(ClientConfig::new("alice"), Box::new(SeededRng::new(1)), now);
//! let mut server = ServerSession::new(
//!     ServerConfig {
//!         transport: Arc::new(nacre_transport::Config::server(vec![host_key])),
//!         auth: Some(AuthServerConfig::default()),
//!         connection: ConnectionConfig::default(),
//!     },
//!     Box::new(SeededRng::new(2)),
//!     now,
//! );
//! let mut opened = false;
//! for _ in 0..100 {
//!     let mut bytes = Vec::new();
//!     client.poll_transmit(&mut bytes);
//!     server.handle_input(&bytes);
//!     bytes.clear();
//!     server.poll_transmit(&mut bytes);
//!     client.handle_input(&bytes);
//!     while let Some(ev) = client.poll_event() {
//!         match ev {
//!             // A real client checks known_hosts here.
//!             ClientEvent::HostKey { id, .. } => client.answer_host_key(id, true),
//!             ClientEvent::AuthMethods { .. } => client.auth_password("secret").unwrap(),
//!             ClientEvent::Authenticated => {
//!                 client.connection().unwrap().open(ChannelKind::Session);
//!             }
//!             ClientEvent::Common(Common::Connection(ConnEvent::Opened { .. })) => opened = true,
//!             _ => {}
//!         }
//!     }
//!     while let Some(ev) = server.poll_event() {
//!         match ev {
//!             ServerEvent::Auth(Question::Password { id, password, .. }) => {
//!                 let ok = password.as_str() == "secret";
//!                 let answer = if ok { Decision::Accept } else { Decision::Reject };
//!                 server.answer_auth(id, answer).unwrap();
//!             }
//!             ServerEvent::Common(Common::Connection(ConnEvent::OpenRequest { id, .. })) => {
//!                 server.connection().unwrap().accept_open(id);
//!             }
//!             _ => {}
//!         }
//!     }
//! }
//! assert!(opened && client.is_authenticated() && server.is_authenticated());
//! ```
#![warn(missing_docs)]

#[macro_use]
mod common;
mod client;
mod core;
pub mod host_keys;
mod server;

pub use crate::core::LayerError;
pub use client::{ClientConfig, ClientEvent, ClientSession};
pub use server::{AuthQuestion, ServerConfig, ServerEvent, ServerSession};

use nacre_transport::{Event as TransportEvent, Negotiated, TransportError};

/// The service a client asks for before authenticating (RFC 4252 §1).
pub const SERVICE: &str = "ssh-userauth";

/// Names a question the session asked the application (a host key, a signature, prompts).
/// Answers carry it back; an answer to a question that is no longer open is ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AnswerId(pub(crate) u64);

/// A method that belongs to another phase was called (an authentication call before
/// authentication started or after it ended, an answer to the server's questions once
/// authenticated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not in the phase this call belongs to")]
pub struct WrongPhase;

/// Events both roles report.
#[derive(Debug, Clone, PartialEq)]
pub enum Common {
    /// An event of the connection protocol (RFC 4254): channel opens to answer, data, window,
    /// requests, closes. Answer through `connection()` of the session.
    Connection(nacre_connection::Event),
    /// A key exchange completed (the first, or a re-exchange).
    KexComplete {
        /// True for the first exchange of the connection.
        first: bool,
        /// The algorithms now in use.
        negotiated: Negotiated,
    },
    /// The peer's RFC 8308 extensions (name, value).
    ExtInfo(Vec<(String, Vec<u8>)>),
    /// The peer sent SSH_MSG_DEBUG.
    Debug {
        /// Whether the peer asks for it to be shown.
        always_display: bool,
        /// The message, as sent (escape it before showing it).
        message: String,
    },
    /// A session key log line (only with the transport's `keylog` setting).
    KeyLog(String),
    /// SSH2_MSG_PONG with the data of our PING (OpenSSH PROTOCOL §1.8; send one with
    /// `transport_mut().ping(data)`, to a server that announced `ping@openssh.com`).
    Pong(Vec<u8>),
    /// The session is over, for this reason (also when the peer disconnected); bytes may still
    /// wait in `poll_transmit` (our DISCONNECT). Reported once.
    Closed(TransportError),
}

impl Common {
    /// The events of the transport that are not a layer's business; `None` for the others and
    /// for a second close.
    fn from_transport(ev: TransportEvent, closed_reported: &mut bool) -> Option<Common> {
        Some(match ev {
            TransportEvent::KexComplete { first, negotiated } => {
                Common::KexComplete { first, negotiated }
            }
            TransportEvent::ExtInfo(e) => Common::ExtInfo(e),
            TransportEvent::Debug {
                always_display,
                message,
            } => Common::Debug {
                always_display,
                message,
            },
            TransportEvent::KeyLog(line) => Common::KeyLog(line),
            TransportEvent::Pong(data) => Common::Pong(data),
            TransportEvent::Closed(reason) => {
                if std::mem::replace(closed_reported, true) {
                    return None;
                }
                Common::Closed(reason)
            }
            TransportEvent::HostKey { .. }
            | TransportEvent::ServiceAccepted(_)
            | TransportEvent::ServiceStarted(_)
            | TransportEvent::Packet(_) => return None,
        })
    }
}
