//! Every resource limit of the stack in one place, with its default. Each is also a field of
//! the configuration named beside it (docs/SECURITY.md has the table and the tests).

/// Transport ([`nacre_transport::Limits`]): packet size, banner lines, the queue of application
/// payloads held during a key exchange, the key exchange timeout.
pub use nacre_transport::config::{
    DEFAULT_KEX_TIMEOUT, DEFAULT_MAX_BANNER_LINES, DEFAULT_MAX_BANNER_LINE_LEN,
    DEFAULT_MAX_PACKET_LEN, DEFAULT_MAX_QUEUED_BYTES, DEFAULT_REKEY_PACKETS,
};

/// The identification line nacre sends is cut to this length (RFC 4253 §4.2).
pub use nacre_transport::banner::MAX_SENT_IDENTIFICATION_LEN;

/// User authentication ([`nacre_auth::AuthServerConfig`]); `MAX_HELD` requests may be pipelined
/// behind a delayed failure, `MAX_PROMPTS` keyboard-interactive prompts are decoded.
pub use nacre_auth::msg::keyboard::MAX_PROMPTS;
pub use nacre_auth::server::{
    DEFAULT_FAILURE_DELAY, DEFAULT_LOGIN_GRACE_TIME as DEFAULT_AUTH_GRACE_TIME, DEFAULT_MAX_TRIES,
    MAX_HELD,
};

/// Connection layer ([`nacre_connection::ConnectionConfig`]): per-channel window (what a channel
/// may buffer unread), largest data packet, channels per connection.
pub use nacre_connection::{DEFAULT_MAX_CHANNELS, DEFAULT_MAX_PACKET, DEFAULT_WINDOW_SIZE};

/// Runtime: bytes a channel writer may queue beyond the peer's window before its writes pend
/// (`MAX_QUEUED`), output waiting for the socket before the connection stops reading
/// (`MAX_PENDING_WRITE`), time the final DISCONNECT may take (`FINAL_FLUSH_TIMEOUT`).
pub use crate::channel::MAX_QUEUED as CHANNEL_WRITE_QUEUE;
pub use crate::driver::{CLOSE_LINGER, FINAL_FLUSH_TIMEOUT, MAX_PENDING_WRITE};

/// Server: SFTP handles per connection and per user at most, and the descriptors always kept
/// out of the handle budgets ([`crate::HandleLimits`], [`crate::ServerLimits::handles`]).
pub use crate::budgets::{
    MAX_HANDLES_PER_CONNECTION, MAX_HANDLES_PER_USER, MIN_RESERVED_DESCRIPTORS,
};

/// Server ([`crate::ServerLimits`]): MaxStartups, LoginGraceTime, MaxSessions.
pub use crate::listener::{DEFAULT_LOGIN_GRACE_TIME, DEFAULT_MAX_SESSIONS, DEFAULT_MAX_STARTUPS};

/// Password checks before authentication ([`crate::auth_workers`]): one verification thread per
/// core (at most `MAX_VERIFY_THREADS`) for the whole process, one check at a time per
/// connection; each thread keeps one argon2 work area of up to `MAX_REUSED_ARGON2_KIB` KiB.
pub use crate::auth_workers::MAX_THREADS as MAX_VERIFY_THREADS;
pub use crate::policy::MAX_REUSED_ARGON2_KIB;

/// SFTP server ([`nacre_sftp::ServerConfig`]): message size, READ clamp, open handles.
pub use nacre_sftp::{
    DEFAULT_MAX_HANDLES, DEFAULT_MAX_IN_FLIGHT, MAX_PACKET_LEN as SFTP_MAX_PACKET_LEN, MAX_READ_LEN,
};
