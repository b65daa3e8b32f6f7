//! nacre: SSH and SFTP for tokio, client and server, on a sans-IO protocol core.
//!
//! The protocol lives in sans-IO crates (`nacre-transport`, `nacre-auth`, `nacre-connection`,
//! `nacre-sftp`, composed by `nacre-session`); this crate owns the sockets, timers and tasks:
//! one task per connection moves bytes, time, events and commands.
//!
//! # Quick start
//!
//! A client: [`Client::builder`] connects, checks the host key against `~/.ssh/known_hosts`,
//! authenticates with the agent, the user's keys or a password, and gives back a
//! [`Connection`] only once authenticated:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let conn = nacre::Client::builder()
//!     .user("alice")
//!     .connect("example.com:22")
//!     .await?;
//! let out = conn.exec("uptime").await?;
//! println!("{}", String::from_utf8_lossy(&out.stdout));
//! let sftp = conn.sftp().await?;
//! sftp.download("/var/log/syslog", "syslog").await?;
//! # Ok(()) }
//! ```
//!
//! A server with its own authentication, serving a folder over SFTP, and a client of it. This
//! one runs as it is: the two meet over an in-memory pipe instead of TCP
//! ([`Server::serve`] takes any byte stream; [`Server::run`] takes a `TcpListener`).
//!
//! ```
//! use nacre::{AuthContext, AuthPolicy, Client, PasswordCheck, Server};
//!
//! struct Passwords;
//! impl AuthPolicy for Passwords {
//!     fn password(&self, ctx: &AuthContext, password: &str) -> PasswordCheck {
//!         match (ctx.user.as_str(), password) {
//!             ("alice", "wonderland") => PasswordCheck::Accept,
//!             _ => PasswordCheck::Reject,
//!         }
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let tmp = tempfile::tempdir()?;
//! # let folder = tmp.path().join("files");
//! # std::fs::create_dir(&folder)?;
//! # let local = tmp.path().join("hello.txt");
//! # std::fs::write(&local, "hello")?;
//! let server = Server::builder()
//!     .ephemeral_host_key()
//!     .auth_policy(Passwords)
//!     .sftp(&folder)
//!     // A demo: sessions act as the server process, not as a Unix account "alice".
//!     .act_as(nacre::ActAs::ServerProcess)
//!     .build()?;
//! let (client_end, server_end) = tokio::io::duplex(64 * 1024);
//! tokio::spawn(async move { server.serve(server_end, None).await });
//!
//! let conn = Client::builder()
//!     .user("alice")
//!     .password("wonderland")
//!     .default_identities(false)
//!     .verify_host_key(|_key| true) // a new key each run: nothing to compare with
//!     .connect_over(client_end, "demo", 22)
//!     .await?;
//! let sftp = conn.sftp().await?;
//! sftp.upload(&local, "/hello.txt").await?;
//! let names: Vec<_> = sftp.list_dir("/").await?.into_iter().map(|e| e.name).collect();
//! assert!(names.iter().any(|n| n.as_slice() == b"hello.txt"));
//! assert_eq!(std::fs::read(folder.join("hello.txt"))?, b"hello");
//! # Ok(()) }
//! ```
//!
//! A refused login is an error that says which methods the server would still accept:
//!
//! ```
//! # use nacre::{AuthContext, AuthPolicy, PasswordCheck};
//! # struct Passwords;
//! # impl AuthPolicy for Passwords {}
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let server = nacre::Server::builder().ephemeral_host_key().auth_policy(Passwords).build()?;
//! # let (client_end, server_end) = tokio::io::duplex(64 * 1024);
//! # tokio::spawn(async move { server.serve(server_end, None).await });
//! let refused = nacre::Client::builder()
//!     .user("mallory")
//!     .password("guess")
//!     .default_identities(false)
//!     .verify_host_key(|_| true)
//!     .connect_over(client_end, "demo", 22)
//!     .await;
//! match refused {
//!     Err(nacre::Error::AuthRefused { methods, .. }) => {
//!         assert!(methods.contains(&"publickey".to_string()))
//!     }
//!     other => panic!("{other:?}"),
//! }
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod account;
mod agent_forward;
mod auth_async;
mod auth_client;
mod auth_server;
pub mod auth_workers;
mod budgets;
mod channel;
mod client;
mod command;
mod driver;
mod error;
mod forward;
mod handle;
mod host_keys_update;
mod info;
mod known_hosts;
pub mod limits;
mod link;
mod listener;
mod machine;
mod mux;
mod policy;
mod pty;
mod raw;
mod server;
mod server_builder;
mod session;
mod sftp_glue;
mod shards;

pub use account::{Account, ActAs, Acting};
pub use auth_async::{AsyncAuthPolicy, AuthFuture, Policy, VerifyHostKey};
pub use auth_client::{AuthResult, Credential, PromptResponder};
pub use auth_server::{AuthContext, AuthPolicy, Authenticated, KeyboardAnswer, PasswordCheck};
pub use budgets::{raise_descriptor_limit, HandleLimits};
pub use channel::{Channel, ChannelRequester, ChannelWriter, ExitStatus, IncomingRequest, Stderr};
pub use client::{Client, ClientBuilder};
pub use driver::HostKeyVerifier;
pub use error::Error;
pub use forward::{ForwardingPolicy, LocalForward, RemoteForward, RemoteListener};
pub use handle::{ChannelOpener, ClientConfig, Connection, ExecOutput};
pub use host_keys_update::{HostKeysChange, HostKeysOutcome, HostKeysUpdate};
pub use info::ConnectionInfo;
pub use known_hosts::{known_host_status, known_hosts_verifier, UnknownHosts};
pub use listener::{
    MaxStartups, ParseMaxStartupsError, Server, ServerEvent, ServerEventSink, ServerLimits,
    ServerStats, DEFAULT_LOGIN_GRACE_TIME, DEFAULT_MAX_SESSIONS, DEFAULT_MAX_STARTUPS,
};
pub use mux::IncomingChannel;
pub use nacre_auth as auth;
pub use nacre_connection as connection;
pub use nacre_crypto as crypto;
pub use nacre_keys as keys;
pub use nacre_sftp as sftp;
pub use nacre_sftp::{Filesystem, SftpClient};
pub use nacre_transport as transport;
pub use nacre_wire as wire;
pub use policy::{hash_password, User, UsersPolicy, MAX_REUSED_ARGON2_KIB};
pub use pty::{PtyRequest, WindowSize};
pub use raw::RawConnection;
pub use server::{serve_connection, ServerConfig};
pub use server_builder::ServerBuilder;
pub use session::{
    serve_session, serve_session_for_key, SessionConfig, SessionUser, SubsystemHandler,
};
pub use sftp_glue::{sftp_filesystem_subsystem, sftp_subsystem};
