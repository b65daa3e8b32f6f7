//! An in-process nacre server for interop tests: real TCP on 127.0.0.1, its own tokio runtime on a
//! background thread, deterministic host keys of every type, and a record of each session that
//! reached the `ssh-userauth` service.

use std::sync::{Arc, Mutex};
use std::thread;

use bytes::Bytes;
use nacre::auth::AuthServerConfig;
use nacre::transport::Config;
use nacre::wire::{put, MsgNumber};
use nacre::{AuthPolicy, Authenticated, Connection, ConnectionInfo, ServerConfig, SessionConfig};
use nacre_keys::PrivateKey;

/// Numbers the servers of one process (their runtime threads are named after it).
static SERVER_NUMBER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A nacre server running in this process.
pub struct NacreServer {
    port: u16,
    thread_name: String,
    keys: Vec<Arc<PrivateKey>>,
    sessions: Arc<Mutex<Vec<ConnectionInfo>>>,
    errors: Arc<Mutex<Vec<String>>>,
    users: Arc<Mutex<Vec<Authenticated>>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl NacreServer {
    /// Starts a server with this transport configuration (its host keys included) that answers
    /// every USERAUTH_REQUEST with USERAUTH_FAILURE (for transport-level tests).
    pub fn start(config: Config) -> NacreServer {
        Self::start_inner(config, None, None)
    }

    /// Starts a server that authenticates users with `policy`; authenticated users are recorded
    /// in [`NacreServer::users`].
    pub fn start_with_auth(
        config: Config,
        auth: AuthServerConfig,
        policy: Arc<dyn AuthPolicy>,
    ) -> NacreServer {
        Self::start_inner(config, Some((auth, policy)), None)
    }

    /// Like [`NacreServer::start_with_auth`], and authenticated users get session channels served by
    /// `sessions` (exec, shell, subsystems).
    pub fn start_with_sessions(
        config: Config,
        auth: AuthServerConfig,
        policy: Arc<dyn AuthPolicy>,
        sessions: SessionConfig,
    ) -> NacreServer {
        Self::start_inner(
            config,
            Some((auth, policy)),
            Some(Arc::new(ServerConfig::new(sessions))),
        )
    }

    /// Like [`NacreServer::start_with_sessions`] with a whole [`ServerConfig`]: sessions and
    /// forwarding, served by `nacre::serve_connection`.
    pub fn start_with_server(
        config: Config,
        auth: AuthServerConfig,
        policy: Arc<dyn AuthPolicy>,
        server: ServerConfig,
    ) -> NacreServer {
        Self::start_inner(config, Some((auth, policy)), Some(Arc::new(server)))
    }

    fn start_inner(
        config: Config,
        auth: Option<(AuthServerConfig, Arc<dyn AuthPolicy>)>,
        session_cfg: Option<Arc<ServerConfig>>,
    ) -> NacreServer {
        let keys = config.host_keys.clone();
        let config = Arc::new(config);
        let sessions: Arc<Mutex<Vec<ConnectionInfo>>> = Arc::default();
        let errors: Arc<Mutex<Vec<String>>> = Arc::default();
        let users: Arc<Mutex<Vec<Authenticated>>> = Arc::default();
        let u = users.clone();
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let (shutdown, mut stop) = tokio::sync::oneshot::channel::<()>();
        let (s, e) = (sessions.clone(), errors.clone());
        let thread_name = format!(
            "nacre-server-{}",
            SERVER_NUMBER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let name = thread_name.clone();
        let thread = thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name(name)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                port_tx.send(listener.local_addr().unwrap().port()).unwrap();
                loop {
                    tokio::select! {
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else { continue };
                            let (config, s, e, u, auth, session_cfg) = (config.clone(), s.clone(), e.clone(), u.clone(), auth.clone(), session_cfg.clone());
                            let peer = stream.peer_addr().ok();
                            tokio::spawn(async move {
                                match Connection::accept(stream, config).await {
                                    Ok(mut conn) => {
                                        s.lock().unwrap().push(conn.info().clone());
                                        match auth {
                                            None => refuse_auth(conn).await,
                                            Some((cfg, policy)) => match conn.authenticate_client(cfg, policy.clone(), peer).await {
                                                Ok(who) => {
                                                    let user = who.user.clone();
                                                    let ctx = nacre::AuthContext { user: user.clone(), peer };
                                                    let options = who.key.as_ref().and_then(|k| policy.authorized_key_options(&ctx, k));
                                                    u.lock().unwrap().push(who);
                                                    match session_cfg {
                                                        Some(cfg) => serve_channels(conn, user, cfg, options).await,
                                                        None => refuse_channels(conn).await,
                                                    }
                                                }
                                                Err(err) => e.lock().unwrap().push(err.to_string()),
                                            },
                                        }
                                    }
                                    Err(err) => e.lock().unwrap().push(err.to_string()),
                                }
                            });
                        }
                        _ = &mut stop => return,
                    }
                }
            });
        });
        let port = port_rx.recv().unwrap();
        NacreServer {
            port,
            thread_name,
            keys,
            sessions,
            errors,
            users,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The name of every thread of this server's runtime (`nacre-server-N`, N counting the servers
    /// of this process): what it logs through `tracing` can be told apart by it.
    pub fn thread_name(&self) -> &str {
        &self.thread_name
    }

    /// The host keys.
    pub fn keys(&self) -> &[Arc<PrivateKey>] {
        &self.keys
    }

    /// A known_hosts file listing every host key of this server, for `ssh -o UserKnownHostsFile=`.
    pub fn write_known_hosts(&self, path: &std::path::Path) {
        let lines: String = self
            .keys
            .iter()
            .map(|k| {
                format!(
                    "[127.0.0.1]:{} {}\n",
                    self.port,
                    k.public_key().to_openssh_line("")
                )
            })
            .collect();
        std::fs::write(path, lines).unwrap();
    }

    /// Sessions that reached the `ssh-userauth` service, in order.
    pub fn sessions(&self) -> Vec<ConnectionInfo> {
        self.sessions.lock().unwrap().clone()
    }

    /// Users that authenticated, in order.
    pub fn users(&self) -> Vec<Authenticated> {
        self.users.lock().unwrap().clone()
    }

    /// Handshakes that failed, with the error text.
    pub fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }
}

impl Drop for NacreServer {
    fn drop(&mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// User authentication is not built yet: every USERAUTH_REQUEST gets USERAUTH_FAILURE with no
/// methods (RFC 4252 §5.1), which a client reports as "Permission denied ()".
async fn refuse_auth(mut conn: Connection) {
    while let Some(packet) = conn.raw().recv().await {
        if packet.first() == Some(&MsgNumber::USERAUTH_REQUEST.0) {
            let mut reply = vec![MsgNumber::USERAUTH_FAILURE.0];
            put::name_list::<&str>(&mut reply, &[]);
            put::boolean(&mut reply, false);
            if conn.raw().send(Bytes::from(reply)).await.is_err() {
                return;
            }
        }
    }
}

/// No channel is served by this test server: every channel open is refused (RFC 4254 §5.1,
/// administratively prohibited), so clients end cleanly after authenticating.
async fn refuse_channels(mut conn: Connection) {
    while let Some(incoming) = conn.accept_channel().await {
        incoming.reject(
            nacre::wire::ChannelOpenFailureReason::ADMINISTRATIVELY_PROHIBITED,
            "no channels are served here",
        );
    }
}

/// Sessions (and forwarding, if `config` allows it) are served with `config`; other channel
/// types are refused. `options` are those of the authorized_keys line of the key that logged in.
async fn serve_channels(
    conn: Connection,
    user: String,
    config: Arc<ServerConfig>,
    options: Option<nacre_keys::KeyOptions>,
) {
    nacre::serve_connection(conn, user, config, options).await;
}
