//! [`Server`]: the accept loop of an SSH server, with sshd's pre-authentication limits:
//!
//! - **MaxStartups** (`start:rate:full`): once `start` connections are unauthenticated, a new
//!   one is dropped with probability `rate`% rising linearly to 100% at `full` (random early
//!   drop), so a flood of idle connections cannot take every slot.
//! - **LoginGraceTime** over the *whole* handshake: banner, key exchange and user
//!   authentication must finish within it, however the peer spends its time (silent, trickling
//!   one byte a second, stalling a key exchange). Only a timer and a dropped future: no signal
//!   handler (the OpenSSH CVE-2024-6387 class cannot arise).
//! - **MaxSessions**: session channels open at once on one connection.
//! - **Password checks**: on the process's few verification threads ([`crate::auth_workers`]),
//!   one at a time per connection; a connection that closes while its check waits leaves
//!   MaxStartups at once (docs/SECURITY.md, "Pre-authentication work budgets").
//!
//! Authenticated connections are served by [`crate::serve_connection`]'s logic with a
//! [`ServerConfig`].

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nacre_auth::{AuthError, AuthServerConfig, MethodKind};
use nacre_transport::Config;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use crate::auth_server::AuthContext;
use crate::budgets::{Budgets, HandleLimits};
use crate::handle::Connection;
use crate::server::{serve_connection_limited, ServerConfig};
use crate::shards::Shards;

/// Default [`ServerLimits::max_startups`]: OpenSSH's `10:30:100`.
pub const DEFAULT_MAX_STARTUPS: MaxStartups = MaxStartups {
    start: 10,
    rate: 30,
    full: 100,
};
/// Default [`ServerLimits::login_grace_time`]: OpenSSH's 120 s.
pub const DEFAULT_LOGIN_GRACE_TIME: Duration = nacre_auth::server::DEFAULT_LOGIN_GRACE_TIME;
/// Default [`ServerLimits::max_sessions`]: OpenSSH's MaxSessions, 10.
pub const DEFAULT_MAX_SESSIONS: usize = 10;
/// Pause after a failed `accept` (out of descriptors, ...) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// How long the DISCONNECT of a connection past its login grace time may take to leave.
const GRACE_DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// sshd's MaxStartups `start:rate:full`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxStartups {
    /// Unauthenticated connections accepted without any drop.
    pub start: usize,
    /// Drop probability in percent once `start` is reached (0–100).
    pub rate: u32,
    /// Unauthenticated connections at which every new one is dropped.
    pub full: usize,
}

impl MaxStartups {
    /// The probability, in percent, that a new connection is dropped while `unauthenticated`
    /// connections exist: 0 below `start`, `rate` at `start`, rising linearly to 100 at `full`
    /// (sshd's `should_drop_connection`).
    pub fn drop_percent(&self, unauthenticated: usize) -> u32 {
        if unauthenticated >= self.full {
            return 100;
        }
        if unauthenticated < self.start {
            return 0;
        }
        let rate = self.rate.min(100);
        let above = u64::try_from(unauthenticated.saturating_sub(self.start)).unwrap_or(u64::MAX);
        let span = u64::try_from(self.full.saturating_sub(self.start).max(1)).unwrap_or(1);
        let extra = u64::from(100 - rate).saturating_mul(above) / span;
        rate.saturating_add(u32::try_from(extra).unwrap_or(100))
            .min(100)
    }

    /// Whether to drop a new connection, `roll` being uniform in `0..100`.
    pub fn should_drop(&self, unauthenticated: usize, roll: u32) -> bool {
        roll % 100 < self.drop_percent(unauthenticated)
    }
}

impl Default for MaxStartups {
    fn default() -> Self {
        DEFAULT_MAX_STARTUPS
    }
}

impl fmt::Display for MaxStartups {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.start, self.rate, self.full)
    }
}

/// A MaxStartups value that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("MaxStartups must be N or start:rate:full with start <= full and rate <= 100: {0:?}")]
pub struct ParseMaxStartupsError(String);

impl FromStr for MaxStartups {
    type Err = ParseMaxStartupsError;

    /// `N` (drop everything past N) or `start:rate:full`, as in sshd_config.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseMaxStartupsError(s.to_owned());
        let fields: Vec<&str> = s.trim().split(':').collect();
        let value = match fields.as_slice() {
            [n] => {
                let n: usize = n.parse().map_err(|_| bad())?;
                MaxStartups {
                    start: n,
                    rate: 100,
                    full: n,
                }
            }
            [start, rate, full] => MaxStartups {
                start: start.parse().map_err(|_| bad())?,
                rate: rate.parse().map_err(|_| bad())?,
                full: full.parse().map_err(|_| bad())?,
            },
            _ => return Err(bad()),
        };
        if value.start > value.full || value.rate > 100 || value.full == 0 {
            return Err(bad());
        }
        Ok(value)
    }
}

/// The limits a [`Server`] applies to connections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// Early drop of new connections while many are unauthenticated.
    pub max_startups: MaxStartups,
    /// Time from accept to successful authentication (banner, key exchange, user
    /// authentication); `None`: unlimited.
    pub login_grace_time: Option<Duration>,
    /// Session channels open at once per connection; more are refused with
    /// RESOURCE_SHORTAGE.
    pub max_sessions: usize,
    /// Open SFTP handles per connection, per user and in all (default: fitted to the
    /// descriptor limit when the limits are made; [`crate::HandleLimits`]).
    pub handles: HandleLimits,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_startups: DEFAULT_MAX_STARTUPS,
            login_grace_time: Some(DEFAULT_LOGIN_GRACE_TIME),
            max_sessions: DEFAULT_MAX_SESSIONS,
            handles: HandleLimits::default(),
        }
    }
}

/// Counters of a [`Server`], from [`Server::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Connections being served now (authenticated or not).
    pub open: usize,
    /// Of those, connections not authenticated yet (what MaxStartups counts).
    pub unauthenticated: usize,
    /// Connections taken since the start (dropped ones excluded).
    pub accepted: u64,
    /// Connections dropped by MaxStartups.
    pub dropped: u64,
    /// Connections closed because the login grace time ran out.
    pub login_timeouts: u64,
    /// Connections that authenticated.
    pub authenticated: u64,
}

#[derive(Default)]
struct Counters {
    open: AtomicUsize,
    unauthenticated: AtomicUsize,
    accepted: AtomicU64,
    dropped: AtomicU64,
    login_timeouts: AtomicU64,
    authenticated: AtomicU64,
}

/// What happened to a connection of a [`Server`], for logs and metrics (see
/// [`Server::set_event_sink`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerEvent {
    /// Dropped at once by MaxStartups.
    Dropped {
        /// The client's address.
        peer: SocketAddr,
    },
    /// The key exchange is done; user authentication starts.
    Connected {
        /// The client's address, if known.
        peer: Option<SocketAddr>,
        /// The client's identification line.
        client: String,
    },
    /// The handshake failed (a protocol error, a key exchange without common algorithms, ...).
    HandshakeFailed {
        /// The client's address, if known.
        peer: Option<SocketAddr>,
        /// Why.
        error: String,
    },
    /// A user logged in.
    Authenticated {
        /// The client's address, if known.
        peer: Option<SocketAddr>,
        /// The user.
        user: String,
        /// The methods that together authenticated the user.
        methods: Vec<MethodKind>,
    },
    /// Authentication failed (too many tries, the client gave up, ...).
    AuthenticationFailed {
        /// The client's address, if known.
        peer: Option<SocketAddr>,
        /// Why.
        error: String,
    },
    /// The login grace time ran out before authentication.
    LoginGraceTimeExceeded {
        /// The client's address, if known.
        peer: Option<SocketAddr>,
    },
    /// An authenticated connection ended.
    Closed {
        /// The client's address, if known.
        peer: Option<SocketAddr>,
        /// Why.
        reason: String,
    },
}

/// Receives a [`Server`]'s events; called on the connection's task, so it must be quick.
pub type ServerEventSink = Arc<dyn Fn(&ServerEvent) + Send + Sync>;

struct Inner {
    transport: Arc<Config>,
    auth: AuthServerConfig,
    policy: crate::auth_async::Policy,
    config: Arc<ServerConfig>,
    limits: ServerLimits,
    budgets: Budgets,
    counters: Counters,
    events: std::sync::OnceLock<ServerEventSink>,
}

impl Inner {
    fn emit(&self, event: ServerEvent) {
        if let Some(sink) = self.events.get() {
            sink(&event);
        }
    }
}

/// Decrements a gauge when dropped.
struct Gauge {
    inner: Arc<Inner>,
    which: fn(&Counters) -> &AtomicUsize,
}

impl Gauge {
    fn new(inner: &Arc<Inner>, which: fn(&Counters) -> &AtomicUsize) -> Self {
        which(&inner.counters).fetch_add(1, Ordering::SeqCst);
        Gauge {
            inner: inner.clone(),
            which,
        }
    }
}

impl Drop for Gauge {
    fn drop(&mut self) {
        (self.which)(&self.inner.counters).fetch_sub(1, Ordering::SeqCst);
    }
}

/// An SSH server: accepts connections, applies [`ServerLimits`], authenticates users with an
/// [`crate::AuthPolicy`] (or [`crate::AsyncAuthPolicy`]) and serves them with a [`ServerConfig`]. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Server {
    inner: Arc<Inner>,
}

impl Server {
    /// A server with this transport configuration (host keys included), authentication
    /// settings and policy, what authenticated users may do, and limits.
    pub fn new(
        transport: Arc<Config>,
        auth: AuthServerConfig,
        policy: impl Into<crate::auth_async::Policy>,
        config: ServerConfig,
        limits: ServerLimits,
    ) -> Self {
        Server {
            inner: Arc::new(Inner {
                transport,
                auth,
                policy: policy.into(),
                config: Arc::new(config),
                budgets: Budgets::new(limits.handles),
                limits,
                counters: Counters::default(),
                events: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Sends every [`ServerEvent`] to `sink` from now on; only the first sink set is kept
    /// (returns false for later ones).
    pub fn set_event_sink(&self, sink: ServerEventSink) -> bool {
        self.inner.events.set(sink).is_ok()
    }

    /// The limits in force.
    pub fn limits(&self) -> &ServerLimits {
        &self.inner.limits
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> ServerStats {
        let c = &self.inner.counters;
        ServerStats {
            open: c.open.load(Ordering::SeqCst),
            unauthenticated: c.unauthenticated.load(Ordering::SeqCst),
            accepted: c.accepted.load(Ordering::SeqCst),
            dropped: c.dropped.load(Ordering::SeqCst),
            login_timeouts: c.login_timeouts.load(Ordering::SeqCst),
            authenticated: c.authenticated.load(Ordering::SeqCst),
        }
    }

    /// Accepts connections on `listener` and serves each in its own task, until accepting fails
    /// for a reason other than a transient one (out of descriptors, a connection reset before it
    /// was accepted, ...), which only pauses the loop briefly.
    pub async fn run(&self, listener: TcpListener) -> io::Result<()> {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    self.offer(stream, peer);
                }
                Err(e) if transient_accept_error(&e) => {
                    tracing::warn!(error = %e, "accept failed; retrying");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Takes an accepted TCP connection: drops it at once when MaxStartups says so (returns
    /// false), else serves it in a new task (returns true).
    pub fn offer(&self, stream: TcpStream, peer: SocketAddr) -> bool {
        if !self.admit(peer) {
            return false;
        }
        let _ = stream.set_nodelay(true);
        let this = self.clone();
        let (open, pre_auth) = this.gauges();
        tokio::spawn(async move {
            this.serve_counted(stream, Some(peer), open, pre_auth).await;
        });
        true
    }

    /// Like [`Server::run`], but each connection lives on one of `threads` threads (0: one per
    /// core), each running its own single-threaded runtime; the accept loop stays on the
    /// caller's runtime. Every task of a connection (transport driver, channels, SFTP server)
    /// then runs on one thread, so the data it hands from task to task stays in that core's
    /// cache and no wakeup crosses threads; a new connection goes to the thread serving the
    /// fewest. On a 2-core machine this is worth 10–20 % of SFTP throughput (docs/PERFORMANCE.md).
    /// Blocking work (file access) still goes to each runtime's blocking pool; password checks
    /// go to the process's verification threads ([`crate::auth_workers`]), shared by all shards.
    pub async fn run_sharded(&self, listener: TcpListener, threads: usize) -> io::Result<()> {
        let shards = Shards::start(threads)?;
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    self.offer_sharded(&shards, stream, peer);
                }
                Err(e) if transient_accept_error(&e) => {
                    tracing::warn!(error = %e, "accept failed; retrying");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// [`Server::offer`] onto the least busy of `shards`.
    fn offer_sharded(&self, shards: &Shards, stream: TcpStream, peer: SocketAddr) -> bool {
        if !self.admit(peer) {
            return false;
        }
        let _ = stream.set_nodelay(true);
        // Leaves this runtime's reactor; registered again on the shard's.
        let stream = match stream.into_std() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "cannot hand the connection to a shard");
                return false;
            }
        };
        let this = self.clone();
        let (open, pre_auth) = this.gauges();
        shards.spawn(async move {
            match TcpStream::from_std(stream) {
                Ok(stream) => this.serve_counted(stream, Some(peer), open, pre_auth).await,
                Err(e) => tracing::warn!(%peer, error = %e, "cannot register the connection"),
            }
        });
        true
    }

    /// MaxStartups: whether a new connection from `peer` may proceed (counted and reported
    /// when dropped).
    fn admit(&self, peer: SocketAddr) -> bool {
        let unauthenticated = self.inner.counters.unauthenticated.load(Ordering::SeqCst);
        let roll = rand_core::RngCore::next_u32(&mut rand_core::OsRng) % 100;
        if !self
            .inner
            .limits
            .max_startups
            .should_drop(unauthenticated, roll)
        {
            return true;
        }
        self.inner.counters.dropped.fetch_add(1, Ordering::SeqCst);
        tracing::info!(%peer, unauthenticated, max_startups = %self.inner.limits.max_startups,
            "dropping a connection past MaxStartups");
        self.inner.emit(ServerEvent::Dropped { peer });
        false
    }

    /// Serves one connection over any byte stream until it closes (no MaxStartups check; the
    /// login grace time and session limit apply).
    pub async fn serve<S>(&self, stream: S, peer: Option<SocketAddr>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (open, pre_auth) = self.gauges();
        self.serve_counted(stream, peer, open, pre_auth).await;
    }

    fn gauges(&self) -> (Gauge, Gauge) {
        self.inner.counters.accepted.fetch_add(1, Ordering::SeqCst);
        (
            Gauge::new(&self.inner, |c| &c.open),
            Gauge::new(&self.inner, |c| &c.unauthenticated),
        )
    }

    async fn serve_counted<S>(
        &self,
        stream: S,
        peer: Option<SocketAddr>,
        _open: Gauge,
        pre_auth: Gauge,
    ) where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let inner = &self.inner;
        let deadline = inner.limits.login_grace_time.map(|g| Instant::now() + g);
        let grace_expired = || {
            inner.counters.login_timeouts.fetch_add(1, Ordering::SeqCst);
            tracing::info!(peer = %peer_text(peer), "login grace time exceeded");
            inner.emit(ServerEvent::LoginGraceTimeExceeded { peer });
        };
        // Banner and key exchange. On timeout the future is dropped with the handle, which
        // makes the connection task close the socket.
        let mut conn = match within(
            deadline,
            Connection::accept(stream, inner.transport.clone()),
        )
        .await
        {
            Some(Ok(conn)) => conn,
            Some(Err(e)) => {
                tracing::info!(peer = %peer_text(peer), error = %e, "handshake failed");
                let error = e.to_string();
                return inner.emit(ServerEvent::HandshakeFailed { peer, error });
            }
            None => return grace_expired(),
        };
        inner.emit(ServerEvent::Connected {
            peer,
            client: conn.info().peer_identification.clone(),
        });
        let auth = conn.authenticate_client(inner.auth.clone(), inner.policy.clone(), peer);
        let who = match within(deadline, auth).await {
            Some(Ok(who)) => who,
            Some(Err(e)) => {
                tracing::info!(peer = %peer_text(peer), error = %e, "authentication failed");
                let error = e.to_string();
                return inner.emit(ServerEvent::AuthenticationFailed { peer, error });
            }
            None => {
                // The slot is free now, not after the DISCONNECT left.
                drop(pre_auth);
                grace_expired();
                let e = AuthError::LoginGraceTime;
                let text = e.to_string();
                let bye = conn.disconnect(e.reason(), &text);
                let _ = tokio::time::timeout(GRACE_DISCONNECT_TIMEOUT, bye).await;
                return;
            }
        };
        drop(pre_auth);
        inner.counters.authenticated.fetch_add(1, Ordering::SeqCst);
        tracing::info!(peer = %peer_text(peer), user = %who.user, methods = %method_names(&who.methods), "authenticated");
        inner.emit(ServerEvent::Authenticated {
            peer,
            user: who.user.clone(),
            methods: who.methods.clone(),
        });
        let ctx = AuthContext {
            user: who.user.clone(),
            peer,
        };
        let options = match (&who.certificate, &who.key) {
            (Some(cert), _) => inner.policy.get().certificate_options(&ctx, cert).await,
            (None, Some(k)) => inner.policy.get().authorized_key_options(&ctx, k).await,
            (None, None) => None,
        };
        let budgets = inner.budgets.for_connection(&who.user);
        let reason = serve_connection_limited(
            conn,
            who.user,
            inner.config.clone(),
            options,
            (inner.limits.max_sessions, budgets),
        )
        .await;
        tracing::info!(peer = %peer_text(peer), %reason, "connection closed");
        inner.emit(ServerEvent::Closed {
            peer,
            reason: reason.to_string(),
        });
    }
}

/// A client's address for logs: `127.0.0.1:4242`, or `?` when unknown (not `Some(...)`).
pub(crate) fn peer_text(peer: Option<SocketAddr>) -> String {
    peer.map_or_else(|| "?".to_owned(), |p| p.to_string())
}

/// Method names as the protocol spells them, comma-separated (`publickey,password`).
fn method_names(methods: &[MethodKind]) -> String {
    methods
        .iter()
        .map(|m| m.name())
        .collect::<Vec<_>>()
        .join(",")
}

/// Runs `fut` until `deadline` (if any); `None` when the deadline passed first.
async fn within<F: std::future::Future>(deadline: Option<Instant>, fut: F) -> Option<F::Output> {
    match deadline {
        Some(d) => tokio::time::timeout_at(d, fut).await.ok(),
        None => Some(fut.await),
    }
}

/// Errors of `accept` that concern one connection or a passing shortage, not the listener.
fn transient_accept_error(e: &io::Error) -> bool {
    use io::ErrorKind as K;
    matches!(
        e.kind(),
        K::ConnectionAborted | K::ConnectionReset | K::Interrupted | K::WouldBlock | K::OutOfMemory
    ) || matches!(
        e.raw_os_error(),
        // EMFILE, ENFILE, ENOBUFS, ENOMEM, EPROTO, EPERM (firewall), ETIMEDOUT
        Some(24 | 23 | 105 | 12 | 71 | 1 | 110)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_startups_parses_like_sshd() {
        assert_eq!("10:30:100".parse(), Ok(DEFAULT_MAX_STARTUPS));
        assert_eq!(
            "5".parse(),
            Ok(MaxStartups {
                start: 5,
                rate: 100,
                full: 5
            })
        );
        for bad in ["", "1:2", "10:101:100", "20:30:10", "a:b:c", "0", "1:2:3:4"] {
            assert!(bad.parse::<MaxStartups>().is_err(), "{bad:?}");
        }
        assert_eq!(DEFAULT_MAX_STARTUPS.to_string(), "10:30:100");
    }

    #[test]
    fn max_startups_drop_probability_rises_linearly() {
        let m = DEFAULT_MAX_STARTUPS;
        assert_eq!(m.drop_percent(0), 0);
        assert_eq!(m.drop_percent(9), 0);
        assert_eq!(m.drop_percent(10), 30);
        assert_eq!(m.drop_percent(55), 65);
        assert_eq!(m.drop_percent(99), 99);
        assert_eq!(m.drop_percent(100), 100);
        assert_eq!(m.drop_percent(usize::MAX), 100);
        for n in 10..100 {
            assert!(m.drop_percent(n) <= m.drop_percent(n + 1));
        }
        // Random early drop: at 55 unauthenticated, rolls 0..65 drop and 65..100 pass.
        assert!(m.should_drop(55, 64));
        assert!(!m.should_drop(55, 65));
        assert!(!m.should_drop(9, 0));
        assert!(m.should_drop(100, 99));
        let single: MaxStartups = "3".parse().unwrap_or_default();
        assert_eq!(
            (0..6).map(|n| single.drop_percent(n)).collect::<Vec<_>>(),
            [0, 0, 0, 100, 100, 100]
        );
    }

    #[test]
    fn transient_accept_errors() {
        assert!(transient_accept_error(&io::Error::from_raw_os_error(24)));
        assert!(transient_accept_error(&io::Error::from(
            io::ErrorKind::ConnectionAborted
        )));
        assert!(!transient_accept_error(&io::Error::from_raw_os_error(9)));
    }
}
