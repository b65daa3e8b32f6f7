//! nacre: the tokio runtime of the nacre SSH stack.
//!
//! The protocol lives in sans-IO crates (`nacre-transport` and the layers above); this crate owns the
//! sockets, timers and tasks. Each connection runs in one task that reads in large chunks, decodes
//! every complete packet, coalesces writes and sets TCP_NODELAY.

mod account;
mod agent_forward;
mod auth_client;
mod auth_server;
pub mod auth_workers;
mod budgets;
mod channel;
mod command;
mod driver;
mod error;
mod forward;
mod handle;
mod info;
mod known_hosts;
pub mod limits;
mod listener;
mod machine;
mod mux;
mod policy;
mod pty;
mod server;
mod session;
mod sftp;
mod shards;

pub use account::{Account, ActAs, Acting};
pub use auth_client::{AuthResult, Credential, PromptResponder};
pub use auth_server::{AuthContext, AuthPolicy, Authenticated, KeyboardAnswer, PasswordCheck};
pub use budgets::{raise_descriptor_limit, HandleLimits};
pub use channel::{Channel, ChannelRequester, ChannelWriter, ExitStatus, IncomingRequest, Stderr};
pub use driver::HostKeyVerifier;
pub use error::Error;
pub use forward::{ForwardingPolicy, LocalForward, RemoteForward, RemoteListener};
pub use handle::{ClientConfig, Connection, ExecOutput};
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
pub use nacre_transport as transport;
pub use nacre_wire as wire;
pub use policy::{hash_password, User, UsersPolicy, MAX_REUSED_ARGON2_KIB};
pub use pty::{PtyRequest, WindowSize};
pub use server::{serve_connection, ServerConfig};
pub use session::{
    serve_session, serve_session_for_key, SessionConfig, SessionUser, SubsystemHandler,
};
pub use sftp::sftp_subsystem;
