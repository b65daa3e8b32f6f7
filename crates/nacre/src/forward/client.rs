//! Client side forwarding: `ssh -L` and `ssh -R`, over TCP and Unix sockets.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use nacre_connection::msg::global::TcpipForward;
use nacre_connection::ChannelKind;
use nacre_wire::{put, ChannelOpenFailureReason, Reader};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::mpsc;

use super::{open_weak, pump, AbortOnDrop, RouteKey, Routes};
use crate::channel::Channel;
use crate::command::Command;
use crate::error::Error;
use crate::handle::Connection;
use crate::mux::IncomingChannel;

/// How long connecting to a forward's target may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A local forward (`ssh -L`): a listener on this machine whose connections are each carried
/// by a new channel to a destination the server connects to. Dropping it stops listening;
/// connections already forwarded go on until they end.
pub struct LocalForward {
    addr: Option<SocketAddr>,
    path: Option<PathBuf>,
    _task: AbortOnDrop,
}

impl LocalForward {
    /// The address the forward listens on (with the port the system chose for port 0); `None`
    /// for a Unix socket.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.addr
    }

    /// The Unix socket the forward listens on, if it listens on one.
    pub fn socket_path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

impl Drop for LocalForward {
    fn drop(&mut self) {
        if let Some(p) = &self.path {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl std::fmt::Debug for LocalForward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalForward")
            .field("addr", &self.addr)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// A remote forward the server listens for (`tcpip-forward` or `streamlocal-forward@openssh.com`):
/// each connection there arrives as a channel for [`RemoteListener::accept`]. Dropping it (or
/// [`RemoteListener::cancel`]) asks the server to stop listening.
pub struct RemoteListener {
    rx: mpsc::UnboundedReceiver<IncomingChannel>,
    routes: Arc<Routes>,
    key: RouteKey,
    port: u32,
    /// The cancel request (name, data), until sent.
    cancel: Option<(&'static str, Vec<u8>)>,
    commands: crate::command::WeakHandle,
}

impl RemoteListener {
    /// The port the server listens on (the one it chose when 0 was asked); 0 for a Unix socket.
    pub fn port(&self) -> u32 {
        self.port
    }

    /// The next connection the server forwards; `None` once the connection ended. Accept the
    /// channel, or reject it (dropping it rejects it).
    pub async fn accept(&mut self) -> Option<IncomingChannel> {
        self.rx.recv().await
    }

    /// Asks the server to stop listening and waits for its answer.
    pub async fn cancel(mut self) -> Result<(), Error> {
        self.routes.remove(&self.key);
        let Some((name, data)) = self.cancel.take() else {
            return Ok(());
        };
        let commands = self.commands.upgrade().ok_or(Error::Closed)?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        commands.send(Command::Global(name.to_owned(), data, Some(tx)))?;
        match rx.await {
            Ok((true, _)) => Ok(()),
            Ok((false, _)) => Err(Error::Refused("cancel forward")),
            Err(_) => Err(Error::Closed),
        }
    }
}

impl Drop for RemoteListener {
    fn drop(&mut self) {
        self.routes.remove(&self.key);
        let Some((name, data)) = self.cancel.take() else {
            return;
        };
        let Some(commands) = self.commands.upgrade() else {
            return;
        };
        let _ = commands.send(Command::Global(name.to_owned(), data, None));
    }
}

impl std::fmt::Debug for RemoteListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteListener")
            .field("key", &self.key)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// A remote forward (`ssh -R`) whose connections are carried to a target on this side. Dropping
/// it cancels the forward; connections already forwarded go on until they end.
pub struct RemoteForward {
    port: u32,
    _task: AbortOnDrop,
}

impl RemoteForward {
    /// The port the server listens on (the one it chose when 0 was asked); 0 for a Unix socket.
    pub fn port(&self) -> u32 {
        self.port
    }
}

impl std::fmt::Debug for RemoteForward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteForward")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// Where forwarded connections are carried to on this side.
#[derive(Clone, Debug)]
enum Target {
    Tcp(String, u16),
    Unix(PathBuf),
}

impl Target {
    /// Connects, then accepts `incoming` and moves bytes; a failed connect rejects it with
    /// CONNECT_FAILED (RFC 4254 §5.1).
    async fn serve(self, incoming: IncomingChannel) {
        let refuse = |incoming: IncomingChannel, e: io::Error| {
            tracing::debug!(target = ?self, error = %e, "forward target unreachable");
            incoming.reject(ChannelOpenFailureReason::CONNECT_FAILED, &e.to_string());
        };
        match &self {
            Target::Tcp(host, port) => {
                match timed(TcpStream::connect((host.as_str(), *port))).await {
                    Ok(s) => {
                        let _ = s.set_nodelay(true);
                        if let Some(ch) = incoming.accept() {
                            pump(s, ch).await;
                        }
                    }
                    Err(e) => refuse(incoming, e),
                }
            }
            Target::Unix(path) => match timed(UnixStream::connect(path)).await {
                Ok(s) => {
                    if let Some(ch) = incoming.accept() {
                        pump(s, ch).await;
                    }
                }
                Err(e) => refuse(incoming, e),
            },
        }
    }
}

/// Connects `incoming` to the Unix socket `path` (refused with CONNECT_FAILED when that fails).
pub(crate) async fn connect_unix(path: Arc<Path>, incoming: IncomingChannel) {
    Target::Unix(path.to_path_buf()).serve(incoming).await;
}

/// `f` within [`CONNECT_TIMEOUT`].
pub(crate) async fn timed<T>(f: impl std::future::Future<Output = io::Result<T>>) -> io::Result<T> {
    tokio::time::timeout(CONNECT_TIMEOUT, f)
        .await
        .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
}

/// What a local forward listens on.
enum LocalListener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

/// Where the server connects a local forward's connections.
#[derive(Clone)]
enum Destination {
    Tcp(String, u16),
    Unix(String),
}

impl Destination {
    fn kind(&self, originator: Option<SocketAddr>) -> ChannelKind {
        match self {
            Destination::Tcp(host, port) => ChannelKind::DirectTcpip {
                host: host.clone(),
                port: u32::from(*port),
                originator: originator
                    .map_or_else(|| "127.0.0.1".to_owned(), |a| a.ip().to_string()),
                originator_port: originator.map_or(0, |a| u32::from(a.port())),
            },
            Destination::Unix(path) => ChannelKind::DirectStreamlocal { path: path.clone() },
        }
    }
}

/// Accepts connections until the connection ends, each forwarded on its own channel.
async fn accept_loop(
    listener: LocalListener,
    to: Destination,
    commands: crate::command::WeakHandle,
) {
    loop {
        let accepted = match &listener {
            LocalListener::Tcp(l) => l.accept().await.map(|(s, peer)| {
                let _ = s.set_nodelay(true);
                (Stream::Tcp(s), Some(peer))
            }),
            LocalListener::Unix(l) => l.accept().await.map(|(s, _)| (Stream::Unix(s), None)),
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!(error = %e, "local forward: accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        if commands.upgrade().is_none() {
            return; // the connection is gone
        }
        let kind = to.kind(peer);
        let commands = commands.clone();
        tokio::spawn(async move {
            match open_weak(&commands, kind).await {
                Ok(ch) => match stream {
                    Stream::Tcp(s) => pump(s, ch).await,
                    Stream::Unix(s) => pump(s, ch).await,
                },
                Err(e) => tracing::debug!(error = %e, "local forward: channel refused"),
            }
        });
    }
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Connection {
    /// Opens a `direct-tcpip` channel (RFC 4254 §7.2): the server connects to `host`:`port` and
    /// the channel carries the connection. `originator` is the address the connection came
    /// from, for the server's logs.
    pub async fn open_direct_tcpip(
        &self,
        host: &str,
        port: u16,
        originator: SocketAddr,
    ) -> Result<Channel, Error> {
        let kind = Destination::Tcp(host.to_owned(), port).kind(Some(originator));
        self.commands.open(kind).await
    }

    /// Opens a `direct-streamlocal@openssh.com` channel: the server connects to its Unix socket
    /// `path`.
    pub async fn open_direct_streamlocal(&self, path: &str) -> Result<Channel, Error> {
        self.commands
            .open(Destination::Unix(path.to_owned()).kind(None))
            .await
    }

    /// Local forwarding like `ssh -L bind:host:port`: listens on `bind` (port 0: any free port,
    /// see [`LocalForward::local_addr`]); each connection there opens a `direct-tcpip` channel
    /// to `host`:`port` as the server sees it, and bytes move both ways until both sides sent
    /// EOF.
    pub async fn forward_local(
        &self,
        bind: SocketAddr,
        host: &str,
        port: u16,
    ) -> Result<LocalForward, Error> {
        let listener = TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let to = Destination::Tcp(host.to_owned(), port);
        let task = tokio::spawn(accept_loop(
            LocalListener::Tcp(listener),
            to,
            std::sync::Arc::downgrade(&self.commands),
        ));
        Ok(LocalForward {
            addr: Some(addr),
            path: None,
            _task: AbortOnDrop(task),
        })
    }

    /// Local forwarding to a Unix socket on the server (`ssh -L bind:/remote/socket`): each
    /// connection on `bind` opens a `direct-streamlocal@openssh.com` channel to `remote_path`.
    pub async fn forward_local_to_unix(
        &self,
        bind: SocketAddr,
        remote_path: &str,
    ) -> Result<LocalForward, Error> {
        let listener = TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let to = Destination::Unix(remote_path.to_owned());
        let task = tokio::spawn(accept_loop(
            LocalListener::Tcp(listener),
            to,
            std::sync::Arc::downgrade(&self.commands),
        ));
        Ok(LocalForward {
            addr: Some(addr),
            path: None,
            _task: AbortOnDrop(task),
        })
    }

    /// Local forwarding from a Unix socket on this machine (`ssh -L /local/socket:host:port`):
    /// binds `bind` (removed again when the forward is dropped).
    pub async fn forward_local_unix(
        &self,
        bind: &Path,
        host: &str,
        port: u16,
    ) -> Result<LocalForward, Error> {
        let listener = UnixListener::bind(bind)?;
        let to = Destination::Tcp(host.to_owned(), port);
        let task = tokio::spawn(accept_loop(
            LocalListener::Unix(listener),
            to,
            std::sync::Arc::downgrade(&self.commands),
        ));
        Ok(LocalForward {
            addr: None,
            path: Some(bind.to_path_buf()),
            _task: AbortOnDrop(task),
        })
    }

    /// Asks the server to listen on `bind_addr`:`bind_port` (`tcpip-forward`, RFC 4254 §7.1;
    /// port 0: the server chooses, see [`RemoteListener::port`]). Connections there arrive as
    /// `forwarded-tcpip` channels on the returned listener. `bind_addr` is as for `ssh -R`:
    /// `"localhost"` for loopback, `""` for every address (if the server allows it).
    pub async fn listen_remote(
        &self,
        bind_addr: &str,
        bind_port: u32,
    ) -> Result<RemoteListener, Error> {
        let (tx, rx) = mpsc::unbounded_channel();
        // Routed before the request goes out: the server may forward a connection right after
        // its answer. A port-0 route matches by address until the port is known.
        let first = RouteKey::Tcp {
            address: bind_addr.to_owned(),
            port: bind_port,
        };
        let routes = self.forwarding.routes.clone();
        routes.insert(first.clone(), tx.clone());
        let data = TcpipForward {
            address: bind_addr,
            port: bind_port,
        }
        .to_data();
        let answer = self.global_request("tcpip-forward", &data, true).await;
        let (ok, reply) = match answer {
            Ok(Some(a)) => a,
            Ok(None) => (false, Vec::new()),
            Err(e) => {
                routes.remove(&first);
                return Err(e);
            }
        };
        if !ok {
            routes.remove(&first);
            return Err(Error::Refused("tcpip-forward"));
        }
        let port = if bind_port == 0 {
            let mut r = Reader::new(&reply);
            match r.u32() {
                Ok(p) => p,
                Err(_) => {
                    routes.remove(&first);
                    return Err(Error::Io(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "tcpip-forward reply without the bound port",
                    )));
                }
            }
        } else {
            bind_port
        };
        let key = RouteKey::Tcp {
            address: bind_addr.to_owned(),
            port,
        };
        if key != first {
            routes.insert(key.clone(), tx);
            routes.remove(&first);
        }
        let cancel = TcpipForward {
            address: bind_addr,
            port,
        }
        .to_data();
        Ok(RemoteListener {
            rx,
            routes,
            key,
            port,
            cancel: Some(("cancel-tcpip-forward", cancel)),
            commands: std::sync::Arc::downgrade(&self.commands),
        })
    }

    /// Asks the server to listen on its Unix socket `path` (`streamlocal-forward@openssh.com`);
    /// connections there arrive as `forwarded-streamlocal@openssh.com` channels.
    pub async fn listen_remote_unix(&self, path: &str) -> Result<RemoteListener, Error> {
        let (tx, rx) = mpsc::unbounded_channel();
        let key = RouteKey::Unix(path.to_owned());
        let routes = self.forwarding.routes.clone();
        routes.insert(key.clone(), tx);
        let mut data = Vec::with_capacity(4 + path.len());
        put::string(&mut data, path.as_bytes());
        match self
            .global_request("streamlocal-forward@openssh.com", &data, true)
            .await
        {
            Ok(Some((true, _))) => Ok(RemoteListener {
                rx,
                routes,
                key,
                port: 0,
                cancel: Some(("cancel-streamlocal-forward@openssh.com", data)),
                commands: std::sync::Arc::downgrade(&self.commands),
            }),
            Ok(_) => {
                routes.remove(&key);
                Err(Error::Refused("streamlocal-forward@openssh.com"))
            }
            Err(e) => {
                routes.remove(&key);
                Err(e)
            }
        }
    }

    /// Remote forwarding like `ssh -R bind_addr:bind_port:host:port`: the server listens (see
    /// [`Connection::listen_remote`]) and each connection there is carried to `to` =
    /// (`host`, `port`), connected from this side; an unreachable target refuses the channel
    /// with CONNECT_FAILED. Dropping the forward cancels it (`cancel-tcpip-forward`).
    pub async fn forward_remote(
        &self,
        bind_addr: &str,
        bind_port: u32,
        to: (&str, u16),
    ) -> Result<RemoteForward, Error> {
        let listener = self.listen_remote(bind_addr, bind_port).await?;
        Ok(spawn_remote(listener, Target::Tcp(to.0.to_owned(), to.1)))
    }

    /// Remote forwarding from the server's Unix socket `remote_path` to `to` = (`host`, `port`)
    /// on this side (`ssh -R /remote/socket:host:port`).
    pub async fn forward_remote_unix(
        &self,
        remote_path: &str,
        to: (&str, u16),
    ) -> Result<RemoteForward, Error> {
        let listener = self.listen_remote_unix(remote_path).await?;
        Ok(spawn_remote(listener, Target::Tcp(to.0.to_owned(), to.1)))
    }

    /// Remote forwarding from `bind_addr`:`bind_port` on the server to the Unix socket `to` on
    /// this side (`ssh -R port:/local/socket`).
    pub async fn forward_remote_to_unix(
        &self,
        bind_addr: &str,
        bind_port: u32,
        to: &Path,
    ) -> Result<RemoteForward, Error> {
        let listener = self.listen_remote(bind_addr, bind_port).await?;
        Ok(spawn_remote(listener, Target::Unix(to.to_path_buf())))
    }
}

fn spawn_remote(mut listener: RemoteListener, target: Target) -> RemoteForward {
    let port = listener.port();
    let task = tokio::spawn(async move {
        while let Some(incoming) = listener.accept().await {
            tokio::spawn(target.clone().serve(incoming));
        }
    });
    RemoteForward {
        port,
        _task: AbortOnDrop(task),
    }
}
