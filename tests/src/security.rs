//! Helpers of the CVE, limit, load and fault tests (`tests/tests/cve.rs`, `tests/tests/load.rs`):
//! an in-process [`nacre::Server`] on 127.0.0.1 whose handlers count their calls, a raw client
//! that drives a bare sans-IO [`Transport`] over TCP so a test can send any packet in any state,
//! and the process's open descriptor count.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use nacre::auth::AuthServerConfig;
use nacre::transport::{Config, Event, Transport, TransportError};
use nacre::{
    AuthContext, AuthPolicy, ClientConfig, Connection, PasswordCheck, Server, ServerConfig,
    ServerLimits, ServerStats, SessionConfig, SubsystemHandler,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// The password [`TestServer`] accepts for any user.
pub const PASSWORD: &str = "secret";

/// Open file descriptors of this process (`/proc/self/fd`, the listing's own descriptor
/// included, which is the same every time).
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// What each open descriptor points to (for failure messages).
pub fn fd_list() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .map(|e| {
            let target = std::fs::read_link(e.path())
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            format!("{}->{target}", e.file_name().to_string_lossy())
        })
        .collect()
}

/// Waits until the descriptor count is at most `baseline` (closing sockets and reaping children
/// takes a moment); returns the last count seen.
pub async fn fds_back_to(baseline: usize, within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        let n = fd_count();
        if n <= baseline || Instant::now() >= deadline {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// The user to log in as so that `exec` runs without switching users: `root` when the tests run
/// as root (no setpriv), any name otherwise (the server runs commands as itself).
pub fn login_user() -> &'static str {
    if is_root() {
        "root"
    } else {
        "nacre"
    }
}

/// What the server's handlers were asked.
#[derive(Default, Debug)]
pub struct Calls {
    /// Password checks.
    pub password: AtomicUsize,
    /// Starts of the `probe` subsystem.
    pub subsystem: AtomicUsize,
}

struct TestPolicy(Arc<Calls>);

impl AuthPolicy for TestPolicy {
    fn password(&self, _ctx: &AuthContext, password: &str) -> PasswordCheck {
        self.0.password.fetch_add(1, Ordering::SeqCst);
        if password == PASSWORD {
            PasswordCheck::Accept
        } else {
            PasswordCheck::Reject
        }
    }
}

/// A [`nacre::Server`] on 127.0.0.1 in the test's runtime: ed25519 host key, password
/// [`PASSWORD`] for any user, `exec` allowed, a `probe` subsystem that only counts its starts.
pub struct TestServer {
    /// The server (stats, limits).
    pub server: Server,
    /// Where it listens.
    pub addr: SocketAddr,
    /// What its handlers were asked.
    pub calls: Arc<Calls>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    /// Starts a server with `limits`; `tweak` adjusts its transport configuration.
    pub async fn start(limits: ServerLimits, tweak: impl FnOnce(&mut Config)) -> TestServer {
        Self::start_with(limits, tweak, |_| {}).await
    }

    /// [`TestServer::start`], with `sessions` adjusting the session settings (e.g. to add an
    /// `sftp` subsystem).
    pub async fn start_with(
        limits: ServerLimits,
        tweak: impl FnOnce(&mut Config),
        sessions: impl FnOnce(&mut SessionConfig),
    ) -> TestServer {
        let mut transport = Config::server(vec![nacre_testkit::host_key(
            nacre_keys::KeyType::Ed25519,
            61,
        )]);
        tweak(&mut transport);
        let calls = Arc::new(Calls::default());
        let probe_calls = calls.clone();
        let probe: SubsystemHandler = Arc::new(move |channel, _who| {
            probe_calls.subsystem.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move { drop(channel) })
        });
        let mut subsystems = HashMap::new();
        subsystems.insert("probe".to_owned(), probe);
        // The tests log in as root (see [`login_user`]) and serve temporary folders of root's:
        // the server's own rights, asked for by name (the privilege model has its own tests,
        // crates/cli/tests/serve_privileges.rs).
        let mut session_config = SessionConfig {
            allow_exec: true,
            subsystems,
            act_as: nacre::ActAs::ServerProcess,
            ..SessionConfig::default()
        };
        sessions(&mut session_config);
        let auth = AuthServerConfig {
            failure_delay: Duration::from_millis(10),
            ..AuthServerConfig::default()
        };
        let server = Server::new(
            Arc::new(transport),
            auth,
            Arc::new(TestPolicy(calls.clone())),
            ServerConfig::new(session_config),
            limits,
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let s = server.clone();
        let task = tokio::spawn(async move {
            let _ = s.run(listener).await;
        });
        TestServer {
            server,
            addr,
            calls,
            task,
        }
    }

    /// The server's counters.
    pub fn stats(&self) -> ServerStats {
        self.server.stats()
    }

    /// Waits until `pred` holds for the counters (or `within` passed); returns the last ones.
    pub async fn wait_for(
        &self,
        within: Duration,
        pred: impl Fn(&ServerStats) -> bool,
    ) -> ServerStats {
        let deadline = Instant::now() + within;
        loop {
            let s = self.stats();
            if pred(&s) || Instant::now() >= deadline {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// A nacre client connected and authenticated with the password.
    pub async fn connect(&self) -> Connection {
        let stream = TcpStream::connect(self.addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        self.connect_over(stream).await
    }

    /// Like [`TestServer::connect`] over a stream the test made (e.g. with zero linger).
    pub async fn connect_over<S>(&self, stream: S) -> Connection
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let mut conn = Connection::client_over(stream, client_config())
            .await
            .unwrap();
        let r = conn
            .authenticate_password(login_user(), PASSWORD)
            .await
            .unwrap();
        assert_eq!(r, nacre::AuthResult::Success);
        conn
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A client configuration that trusts any host key (tests only).
pub fn client_config() -> ClientConfig {
    ClientConfig {
        transport: Arc::new(Config::client()),
        verify_host_key: Arc::new(|_| true),
    }
}

/// A nacre client on 127.0.0.1:`port` (any host key trusted), logged in as `user` with
/// `password`; panics if the login is refused.
pub async fn login_with_password(port: u16, user: &str, password: &str) -> Connection {
    let mut conn = Connection::connect(("127.0.0.1", port), client_config())
        .await
        .expect("connect");
    assert_eq!(
        conn.authenticate_password(user, password)
            .await
            .expect("authenticate"),
        nacre::AuthResult::Success,
        "login as {user}"
    );
    conn
}

/// A client made of a bare sans-IO [`Transport`] over TCP: it completes the key exchange and the
/// `ssh-userauth` service request like any client, then sends whatever the test wants
/// ([`RawClient::send_raw`]) in any state.
pub struct RawClient {
    /// The socket.
    pub stream: TcpStream,
    /// The machine.
    pub transport: Transport,
}

impl RawClient {
    /// Connects and queues the banner and KEXINIT (nothing is sent before the first drive).
    pub async fn connect(addr: SocketAddr) -> RawClient {
        Self::connect_with(addr, Config::client()).await
    }

    /// [`RawClient::connect`] with this transport configuration (an attacker's algorithms or
    /// limits).
    pub async fn connect_with(addr: SocketAddr, config: Config) -> RawClient {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let mut transport = Transport::client(
            Arc::new(config),
            Box::new(nacre::crypto::SystemRng),
            std::time::Instant::now(),
        );
        transport.request_service("ssh-userauth");
        RawClient { stream, transport }
    }

    /// Sends what the machine has queued.
    pub async fn flush(&mut self) {
        let mut out = Vec::new();
        self.transport.poll_transmit(&mut out);
        if !out.is_empty() && self.stream.write_all(&out).await.is_err() {
            self.transport.handle_eof();
        }
    }

    /// The next event within `within` (host keys are accepted); `None` on timeout or once the
    /// connection is closed and its events are drained.
    pub async fn next_event(&mut self, within: Duration) -> Option<Event> {
        let deadline = Instant::now() + within;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            if let Some(ev) = self.transport.poll_event() {
                if matches!(ev, Event::HostKey { .. }) {
                    self.transport.accept_host_key();
                }
                return Some(ev);
            }
            self.flush().await;
            if self.transport.is_closed() {
                return None;
            }
            match tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await {
                Err(_) => return None,
                Ok(Ok(0) | Err(_)) => self.transport.handle_eof(),
                Ok(Ok(n)) => self.transport.handle_input(&buf[..n]),
            }
        }
    }

    /// Drives the handshake until the `ssh-userauth` service is accepted.
    pub async fn handshake(&mut self) {
        loop {
            match self.next_event(Duration::from_secs(10)).await {
                Some(Event::ServiceAccepted(_)) => return,
                Some(Event::Closed(e)) => panic!("handshake failed: {e}"),
                None => panic!("handshake timed out"),
                Some(_) => {}
            }
        }
    }

    /// Writes `payload` as one packet with the current keys, whatever the state, and sends it.
    pub async fn send_raw(&mut self, payload: &[u8]) {
        self.transport.send_raw(payload);
        self.flush().await;
    }

    /// The service-layer packets and the close that arrive within `within`.
    pub async fn collect(&mut self, within: Duration) -> (Vec<Bytes>, Option<TransportError>) {
        let deadline = Instant::now() + within;
        let mut packets = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_event(left).await {
                Some(Event::Packet(p)) => packets.push(p),
                Some(Event::Closed(e)) => return (packets, Some(e)),
                Some(_) => {}
                None => return (packets, self.transport.close_reason().cloned()),
            }
        }
    }
}

/// Reads from a raw socket until EOF or error (true) or until `within` passes (false).
pub async fn closed_by_peer(stream: &mut TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// Deterministic test data: `len` bytes from a xorshift stream seeded by `seed`.
pub fn test_data(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> Vec<u8> {
    nacre::crypto::HashAlg::Sha256.digest(data)
}

/// A USERAUTH_REQUEST payload for the `password` method (RFC 4252 §8), to send with
/// [`RawClient::send_raw`] (e.g. several at once, pipelined).
pub fn password_request(user: &str, password: &str) -> Vec<u8> {
    let mut p = vec![nacre::wire::MsgNumber::USERAUTH_REQUEST.0];
    for field in [user, "ssh-connection", "password"] {
        nacre::wire::put::string(&mut p, field.as_bytes());
    }
    p.push(0); // not a change request
    nacre::wire::put::string(&mut p, password.as_bytes());
    p
}
