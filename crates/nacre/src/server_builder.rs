//! [`Server::builder`]: host keys, who may log in, and what they may do, in one expression.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use nacre_auth::AuthServerConfig;
use nacre_connection::LivenessConfig;
use nacre_keys::PrivateKey;
use nacre_transport::Config;

use crate::auth_server::AuthPolicy;
use crate::error::Error;
use crate::forward::ForwardingPolicy;
use crate::listener::{Server, ServerLimits};
use crate::server::ServerConfig;
use crate::session::SessionConfig;

/// Settings of a [`Server`], from [`Server::builder`]. Defaults are sshd's where it has one:
/// no command execution, no forwarding, MaxStartups 10:30:100, LoginGraceTime 120 s,
/// MaxSessions 10, a failure delay before each refusal.
///
/// ```
/// # async fn demo() -> Result<(), nacre::Error> {
/// use nacre::{AuthContext, AuthPolicy, PasswordCheck};
///
/// struct Passwords;
/// impl AuthPolicy for Passwords {
///     fn password(&self, ctx: &AuthContext, password: &str) -> PasswordCheck {
///         if ctx.user == "alice" && password == "wonderland" {
///             PasswordCheck::Accept
///         } else {
///             PasswordCheck::Reject
///         }
///     }
/// }
///
/// let server = nacre::Server::builder()
///     .ephemeral_host_key()
///     .auth_policy(Passwords)
///     .sftp("/srv/files")
///     .build()?;
/// # let _ = server;
/// // server.run(tokio::net::TcpListener::bind("0.0.0.0:2222").await?).await?;
/// # Ok(()) }
/// ```
pub struct ServerBuilder {
    host_keys: Vec<Arc<PrivateKey>>,
    transport: Option<Config>,
    auth: AuthServerConfig,
    policy: Option<crate::auth_async::Policy>,
    session: SessionConfig,
    config: ServerConfig,
    limits: ServerLimits,
    compression: Option<bool>,
}

impl Server {
    /// A builder for a server (see [`ServerBuilder`]).
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            host_keys: Vec::new(),
            transport: None,
            auth: AuthServerConfig::default(),
            policy: None,
            session: SessionConfig::default(),
            config: ServerConfig::default(),
            limits: ServerLimits::default(),
            compression: None,
        }
    }
}

impl ServerBuilder {
    /// Adds a host key (one per key type; the client picks among their algorithms): a
    /// `PrivateKey` or an `Arc` of one.
    pub fn host_key(mut self, key: impl Into<Arc<PrivateKey>>) -> Self {
        self.host_keys.push(key.into());
        self
    }

    /// Adds a new Ed25519 host key made now (tests, examples: clients see a new host each
    /// time the server starts).
    pub fn ephemeral_host_key(self) -> Self {
        let key = PrivateKey::generate_ed25519(&mut rand_core::OsRng);
        self.host_key(key)
    }

    /// Who may log in: passwords, keys, keyboard-interactive (see [`AuthPolicy`]; helpers for
    /// OpenSSH files: [`crate::UsersPolicy`]). Without one, nobody may.
    pub fn auth_policy(mut self, policy: impl AuthPolicy) -> Self {
        self.policy = Some(crate::auth_async::Policy::blocking(Arc::new(policy)));
        self
    }

    /// Who may log in, asked asynchronously (a database, a directory service): see
    /// [`crate::AsyncAuthPolicy`].
    pub fn async_auth_policy(mut self, policy: impl crate::AsyncAuthPolicy) -> Self {
        self.policy = Some(crate::auth_async::Policy::from_async(policy));
        self
    }

    /// The authentication settings: methods offered, failure delay, attempts, banner.
    pub fn auth_settings(mut self, auth: AuthServerConfig) -> Self {
        self.auth = auth;
        self
    }

    /// The transport's configuration (algorithms, limits); its host keys are added to those
    /// given here.
    pub fn transport(mut self, config: Config) -> Self {
        self.transport = Some(config);
        self
    }

    /// Whether clients may ask for compression (sshd's `Compression`): `true` (the default)
    /// offers `none` and `zlib@openssh.com`, which compresses after authentication; `false`
    /// offers only `none`. Applied to the transport configuration when the server is built.
    pub fn compression(mut self, on: bool) -> Self {
        self.compression = Some(on);
        self
    }

    /// Serves the `sftp` subsystem for the folder `root` (clients see it as `/`; each session
    /// acts as its login's account when the server runs as root).
    pub fn sftp(mut self, root: impl Into<PathBuf>) -> Self {
        let handler =
            crate::sftp_glue::sftp_subsystem(root.into(), nacre_sftp::ServerConfig::default());
        self.session.subsystems.insert("sftp".into(), handler);
        self
    }

    /// Serves the `sftp` subsystem from `fs`, any [`nacre_sftp::Filesystem`] (shared by every
    /// session; `crates/nacre/examples/memfs_server.rs` has an in-memory one).
    pub fn sftp_filesystem<F: nacre_sftp::Filesystem + Clone>(mut self, fs: F) -> Self {
        let handler =
            crate::sftp_glue::sftp_filesystem_subsystem(fs, nacre_sftp::ServerConfig::default());
        self.session.subsystems.insert("sftp".into(), handler);
        self
    }

    /// Allows `exec` and `shell` (off by default).
    pub fn allow_exec(mut self, allow: bool) -> Self {
        self.session.allow_exec = allow;
        self
    }

    /// Which Unix account a login's files and processes act as when the server runs as root
    /// (default: the login's own; [`crate::ActAs`]).
    pub fn act_as(mut self, act_as: crate::ActAs) -> Self {
        self.session.act_as = act_as;
        self
    }

    /// What sessions may do, whole (replaces what [`ServerBuilder::sftp`] and
    /// [`ServerBuilder::allow_exec`] set).
    pub fn session(mut self, session: SessionConfig) -> Self {
        self.session = session;
        self
    }

    /// Sessions of `user` follow `session` instead (their own SFTP root, for instance).
    pub fn user_session(mut self, user: impl Into<String>, session: SessionConfig) -> Self {
        self.config
            .user_sessions
            .insert(user.into(), Arc::new(session));
        self
    }

    /// Port and Unix socket forwarding (denied by default).
    pub fn forwarding(mut self, policy: ForwardingPolicy) -> Self {
        self.config.forwarding = policy;
        self
    }

    /// Keepalive probes to authenticated clients (sshd's ClientAliveInterval and
    /// ClientAliveCountMax).
    pub fn keepalive(mut self, interval: Duration, count: u32) -> Self {
        self.config.liveness = Some(LivenessConfig {
            keepalive_interval: Some(interval),
            keepalive_max: count,
            unused_timeout: None,
        });
        self
    }

    /// Connection and resource limits.
    pub fn limits(mut self, limits: ServerLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The server. Fails without a host key.
    pub fn build(self) -> Result<Server, Error> {
        let mut transport = self.transport.unwrap_or_else(|| Config::server(Vec::new()));
        transport.host_keys.extend(self.host_keys);
        if let Some(on) = self.compression {
            transport.algorithms.compression = if on {
                nacre_transport::config::compression_default()
            } else {
                vec![nacre_transport::CompressionAlg::None]
            };
        }
        if transport.host_keys.is_empty() {
            return Err(Error::Config("a server needs a host key".into()));
        }
        let policy = self
            .policy
            .unwrap_or_else(|| crate::auth_async::Policy::blocking(Arc::new(NobodyPolicy)));
        let mut config = self.config;
        config.session = Arc::new(self.session);
        Ok(Server::new(
            Arc::new(transport),
            self.auth,
            policy,
            config,
            self.limits,
        ))
    }
}

/// The policy of a server built without one: every credential refused.
struct NobodyPolicy;

impl AuthPolicy for NobodyPolicy {}
