//! The client's front door: [`Client::builder`] gathers who to be and what to trust, and
//! [`ClientBuilder::connect`] returns a [`Connection`] only once the user is authenticated.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use nacre_connection::LivenessConfig;
use nacre_keys::{PrivateKey, PublicKey};
use nacre_transport::Config;
use tokio::io::{AsyncRead, AsyncWrite};
use zeroize::Zeroizing;

use crate::auth_client::{AuthResult, Credential, PromptResponder};
use crate::driver::HostKeyVerifier;
use crate::error::Error;
use crate::handle::{ClientConfig, Connection};
use crate::known_hosts::{known_hosts_verifier, UnknownHosts};

/// The key files OpenSSH's client tries when none is given, in its order.
const DEFAULT_IDENTITIES: [&str; 3] = ["id_ed25519", "id_ecdsa", "id_rsa"];

/// An SSH client, built with [`Client::builder`].
///
/// ```no_run
/// # async fn demo() -> Result<(), nacre::Error> {
/// // The user's agent and ~/.ssh keys, ~/.ssh/known_hosts checked (unknown hosts refused).
/// let conn = nacre::Client::builder().user("alice").connect("example.com").await?;
/// let out = conn.exec("uname -a").await?;
/// print!("{}", String::from_utf8_lossy(&out.stdout));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Client;

impl Client {
    /// A builder with OpenSSH's defaults: the login name of the process's user, the agent at
    /// `SSH_AUTH_SOCK` and the unencrypted keys among `~/.ssh/id_ed25519`, `id_ecdsa`,
    /// `id_rsa`, host keys checked against `~/.ssh/known_hosts` with unknown hosts refused.
    pub fn builder() -> ClientBuilder {
        ClientBuilder {
            user: std::env::var("USER")
                .or_else(|_| std::env::var("LOGNAME"))
                .unwrap_or_default(),
            host_keys: HostKeys::KnownHosts {
                path: None,
                unknown: UnknownHosts::Reject,
            },
            credentials: Vec::new(),
            key_files: Vec::new(),
            default_identities: true,
            transport: None,
            connect_timeout: Some(Duration::from_secs(30)),
            keepalive: None,
            update_host_keys: false,
            compression: None,
        }
    }
}

/// How the server's host key is checked.
#[derive(Clone)]
enum HostKeys {
    /// An OpenSSH known_hosts file (`None`: `~/.ssh/known_hosts`).
    KnownHosts {
        path: Option<PathBuf>,
        unknown: UnknownHosts,
    },
    /// The application decides.
    Verifier(HostKeyVerifier),
    /// The application decides, asynchronously.
    Async(Arc<dyn crate::VerifyHostKey>),
}

/// Settings of a client connection; [`ClientBuilder::connect`] uses them. Every setter takes
/// and returns the builder, so a connection is one expression.
#[derive(Clone)]
pub struct ClientBuilder {
    user: String,
    host_keys: HostKeys,
    credentials: Vec<Credential>,
    key_files: Vec<(PathBuf, Option<Zeroizing<String>>)>,
    default_identities: bool,
    transport: Option<Arc<Config>>,
    connect_timeout: Option<Duration>,
    keepalive: Option<LivenessConfig>,
    update_host_keys: bool,
    compression: Option<bool>,
}

impl ClientBuilder {
    /// The user to log in as.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = user.into();
        self
    }

    /// Tries this password (after keys, as OpenSSH does).
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.credentials
            .push(Credential::Password(Zeroizing::new(password.into())));
        self
    }

    /// Tries this private key (a `PrivateKey` or an `Arc` of one).
    pub fn key(mut self, key: impl Into<Arc<PrivateKey>>) -> Self {
        self.credentials.push(Credential::Key(key.into()));
        self
    }

    /// Tries the private key in this file (any format nacre reads; `passphrase` for an
    /// encrypted one). The file is read by [`ClientBuilder::connect`], which fails naming it if
    /// it cannot be.
    pub fn key_file(mut self, path: impl Into<PathBuf>, passphrase: Option<&str>) -> Self {
        self.key_files.push((
            path.into(),
            passphrase.map(|p| Zeroizing::new(p.to_owned())),
        ));
        self
    }

    /// Answers keyboard-interactive prompts with `responder`.
    pub fn keyboard_interactive(mut self, responder: PromptResponder) -> Self {
        self.credentials
            .push(Credential::KeyboardInteractive(responder));
        self
    }

    /// Whether the agent at `SSH_AUTH_SOCK` and the default key files are tried too (default:
    /// yes, as OpenSSH's client does).
    pub fn default_identities(mut self, on: bool) -> Self {
        self.default_identities = on;
        self
    }

    /// Checks host keys against this known_hosts file instead of `~/.ssh/known_hosts`.
    pub fn known_hosts(mut self, path: impl Into<PathBuf>) -> Self {
        if let HostKeys::KnownHosts { path: p, .. } = &mut self.host_keys {
            *p = Some(path.into());
        } else {
            self.host_keys = HostKeys::KnownHosts {
                path: Some(path.into()),
                unknown: UnknownHosts::Reject,
            };
        }
        self
    }

    /// What to do with a host the known_hosts file does not list (default: refuse, as
    /// `StrictHostKeyChecking yes`; [`UnknownHosts::AcceptNew`] adds it).
    pub fn unknown_hosts(mut self, unknown: UnknownHosts) -> Self {
        match &mut self.host_keys {
            HostKeys::KnownHosts { unknown: u, .. } => *u = unknown,
            HostKeys::Verifier(_) | HostKeys::Async(_) => {
                self.host_keys = HostKeys::KnownHosts {
                    path: None,
                    unknown,
                }
            }
        }
        self
    }

    /// Decides on host keys with `verify` instead of a known_hosts file.
    pub fn verify_host_key(
        mut self,
        verify: impl Fn(&PublicKey) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.host_keys = HostKeys::Verifier(Arc::new(verify));
        self
    }

    /// Decides on host keys by awaiting `verify` (see [`crate::VerifyHostKey`]).
    pub fn verify_host_key_async(mut self, verify: impl crate::VerifyHostKey) -> Self {
        self.host_keys = HostKeys::Async(Arc::new(verify));
        self
    }

    /// The transport's configuration: algorithms, limits, version string.
    pub fn transport(mut self, config: Config) -> Self {
        self.transport = Some(Arc::new(config));
        self
    }

    /// Asks for compression (ssh's `-C`, `Compression yes`): offers `zlib@openssh.com`, `zlib`
    /// and `none`, in that order; `false` offers only `none`. Without this call the transport
    /// configuration's list is used (by default `none`, then `zlib@openssh.com`: no
    /// compression, as ssh without `-C`).
    pub fn compression(mut self, on: bool) -> Self {
        self.compression = Some(on);
        self
    }

    /// How long the TCP connection, key exchange and authentication may take together
    /// (default 30 s; `None`: no limit).
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Keepalive probes once authenticated (OpenSSH's ServerAliveInterval and
    /// ServerAliveCountMax): a server that leaves `count` probes in a row unanswered is gone.
    pub fn keepalive(mut self, interval: Duration, count: u32) -> Self {
        self.keepalive = Some(LivenessConfig {
            keepalive_interval: Some(interval),
            keepalive_max: count,
            unused_timeout: None,
        });
        self
    }

    /// Learns the server's host keys into the known_hosts file (OpenSSH's `UpdateHostKeys
    /// yes`): keys the server lists after authentication and proves it holds are added, keys of
    /// the host it no longer lists are removed; only when the host key was already listed in
    /// the file, never for a host certificate (see [`crate::HostKeysUpdate`]). Off by default;
    /// only with a known_hosts file (not with [`ClientBuilder::verify_host_key`]).
    pub fn update_host_keys(mut self, on: bool) -> Self {
        self.update_host_keys = on;
        self
    }

    /// Connects to `addr` (`host`, `host:port`, `[v6]:port`; port 22 by default), checks the
    /// host key, authenticates, and returns the connection. A server that refuses every
    /// credential gives [`Error::AuthRefused`] with the methods it would still accept.
    pub async fn connect(self, addr: &str) -> Result<Connection, Error> {
        let (host, port) = split_host_port(addr);
        let work = async {
            let stream = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
            stream.set_nodelay(true)?;
            self.connect_over(stream, &host, port).await
        };
        match self.connect_timeout {
            Some(limit) => tokio::time::timeout(limit, work)
                .await
                .map_err(|_| Error::Timeout)?,
            None => work.await,
        }
    }

    /// [`ClientBuilder::connect`] over a byte stream already connected to `host`:`port` (a
    /// proxy, a Unix socket, an in-memory pipe); `host` and `port` name the server in
    /// known_hosts.
    pub async fn connect_over<S>(
        &self,
        stream: S,
        host: &str,
        port: u16,
    ) -> Result<Connection, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        // Key files are read (and fail, naming the file) before connecting.
        let credentials = self.credentials()?;
        let mut transport = self
            .transport
            .clone()
            .unwrap_or_else(|| Arc::new(Config::client()));
        let mut update = None;
        if let Some(on) = self.compression {
            Arc::make_mut(&mut transport).algorithms.compression = if on {
                nacre_transport::config::compression_preferred()
            } else {
                vec![nacre_transport::CompressionAlg::None]
            };
        }
        let verifier = match &self.host_keys {
            HostKeys::Verifier(v) => v.clone(),
            HostKeys::KnownHosts { path, unknown } => {
                let path = path
                    .clone()
                    .unwrap_or_else(|| ssh_dir().join("known_hosts"));
                let check = known_hosts_verifier(path.clone(), host, port, *unknown);
                if self.update_host_keys {
                    let u = crate::HostKeysUpdate::new(path.clone(), host, port);
                    let check = known_only(check, u.allowed(), path, host, port);
                    update = Some(u);
                    check
                } else {
                    check
                }
            }
            HostKeys::Async(v) => {
                let conn = Connection::client_over_async(stream, transport, v.clone()).await?;
                return self.authenticate(conn, &credentials).await;
            }
        };
        let config = ClientConfig {
            transport,
            verify_host_key: verifier,
        };
        let conn = Connection::client_over(stream, config).await?;
        if let Some(u) = update {
            conn.update_host_keys(u)?;
        }
        self.authenticate(conn, &credentials).await
    }

    /// Authenticates `conn` with the credentials, and sets the keepalive.
    async fn authenticate(
        &self,
        mut conn: Connection,
        credentials: &[Credential],
    ) -> Result<Connection, Error> {
        match conn.authenticate(&self.user, credentials).await? {
            AuthResult::Success => {}
            AuthResult::Failure { methods, partial } => {
                return Err(Error::AuthRefused {
                    user: self.user.clone(),
                    methods,
                    partial,
                })
            }
        }
        if let Some(l) = self.keepalive {
            conn.set_liveness(l).await?;
        }
        Ok(conn)
    }

    /// The credentials in OpenSSH's order: agent, keys, keyboard-interactive, password.
    fn credentials(&self) -> Result<Vec<Credential>, Error> {
        let mut list = self.credentials.clone();
        for (path, passphrase) in &self.key_files {
            list.push(Credential::Key(Arc::new(read_key(
                path,
                passphrase.as_ref().map(|p| p.as_str()),
            )?)));
        }
        if self.default_identities {
            if let Some(sock) = std::env::var_os("SSH_AUTH_SOCK") {
                list.push(Credential::Agent(PathBuf::from(sock)));
            }
            for name in DEFAULT_IDENTITIES {
                // Encrypted or unreadable default keys are skipped, as OpenSSH skips them
                // without a terminal to ask on.
                if let Ok(key) = read_key(&ssh_dir().join(name), None) {
                    list.push(Credential::Key(Arc::new(key)));
                }
            }
        }
        Credential::openssh_order(&mut list);
        Ok(list)
    }
}

/// Reads a private key file, naming it in the error.
fn read_key(path: &Path, passphrase: Option<&str>) -> Result<PrivateKey, Error> {
    let text = std::fs::read(path).map_err(|e| Error::KeyFile {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    PrivateKey::from_file_bytes(&text, passphrase.map(str::as_bytes)).map_err(|e| Error::KeyFile {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// `~/.ssh`.
/// `check`, noting in `allowed` whether the key was listed in the file before (ssh updates
/// known_hosts only for a host it knew).
fn known_only(
    check: HostKeyVerifier,
    allowed: Arc<std::sync::atomic::AtomicBool>,
    path: PathBuf,
    host: &str,
    port: u16,
) -> HostKeyVerifier {
    let host = host.to_owned();
    Arc::new(move |key: &PublicKey| {
        let listed = crate::known_hosts::known_host_status(&path, &host, port, key)
            .is_ok_and(|s| s == nacre_keys::HostKeyStatus::Match);
        allowed.store(listed, std::sync::atomic::Ordering::Release);
        check(key)
    })
}

fn ssh_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default()
        .join(".ssh")
}

/// `host`, `host:port`, `[v6]:port`, `v6` → host and port (22 when none is given).
fn split_host_port(addr: &str) -> (String, u16) {
    if let Some(rest) = addr.strip_prefix('[') {
        if let Some((host, tail)) = rest.split_once(']') {
            let port = tail.strip_prefix(':').and_then(|p| p.parse().ok());
            return (host.to_owned(), port.unwrap_or(22));
        }
    }
    match addr.rsplit_once(':') {
        // One colon: host:port. More: a bare IPv6 address.
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(port) => (host.to_owned(), port),
            Err(_) => (addr.to_owned(), 22),
        },
        _ => (addr.to_owned(), 22),
    }
}

#[cfg(test)]
mod tests {
    use super::split_host_port;

    #[test]
    fn addresses_as_ssh_takes_them() {
        let cases = [
            ("example.com", ("example.com", 22)),
            ("example.com:2222", ("example.com", 2222)),
            ("127.0.0.1:22", ("127.0.0.1", 22)),
            ("[::1]:2200", ("::1", 2200)),
            ("[::1]", ("::1", 22)),
            ("::1", ("::1", 22)),
            ("fe80::1:22", ("fe80::1:22", 22)),
        ];
        for (addr, (host, port)) in cases {
            assert_eq!(split_host_port(addr), (host.to_owned(), port), "{addr}");
        }
    }
}
