//! Server side forwarding: `direct-tcpip` / `direct-streamlocal@openssh.com` channels connected to
//! their destination, and `tcpip-forward` / `streamlocal-forward@openssh.com` requests served
//! with a listener whose connections go to the client as `forwarded-*` channels. Everything is
//! decided by a [`ForwardingPolicy`] and the key's `authorized_keys` options.
//!
//! Unlike sshd, which binds and connects as the logged-in user, these sockets are made by the
//! server process itself.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use nacre_connection::msg::global::{parse_streamlocal_forward, TcpipForward};
use nacre_connection::ChannelKind;
use nacre_keys::KeyOptions;
use nacre_wire::{put, ChannelOpenFailureReason};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use super::client::timed;
use super::policy::{BindHost, ForwardingPolicy};
use super::{open_weak, pump, AbortOnDrop, IncomingGlobal, RouteKey, Routes};
use crate::handle::Connection;
use crate::mux::IncomingChannel;

/// Ports below this need a root login (as in sshd).
const PRIVILEGED_PORTS: u32 = 1024;

/// Forwarding state of one connection, held by its [`Connection`].
#[derive(Default)]
pub(crate) struct ForwardState {
    /// Client side: where `forwarded-*` channels go.
    pub routes: Arc<Routes>,
    /// Server side: the policy and the remote forwards listening, once enabled.
    pub server: Option<ServerForwards>,
}

/// A connection's remote forwards and the rules they follow.
pub(crate) struct ServerForwards {
    policy: ForwardingPolicy,
    key: Option<KeyOptions>,
    user: String,
    listeners: HashMap<RouteKey, Listening>,
}

/// One listening remote forward; stops (and removes its socket file) when dropped.
struct Listening {
    _task: AbortOnDrop,
    path: Option<PathBuf>,
}

impl Drop for Listening {
    fn drop(&mut self) {
        if let Some(p) = &self.path {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Connection {
    /// Server side: serves the client's forwarding requests (`tcpip-forward`,
    /// `streamlocal-forward@openssh.com` and their cancels) by `policy`, narrowed by the
    /// `authorized_keys` options of the key that authenticated `user`, if any. They are
    /// answered while [`Connection::accept_channel`] runs; without this call they are refused.
    /// The listeners stop when the connection handle is dropped.
    pub fn enable_forwarding(
        &mut self,
        policy: ForwardingPolicy,
        key: Option<KeyOptions>,
        user: &str,
    ) {
        self.forwarding.server = Some(ServerForwards {
            policy,
            key,
            user: user.to_owned(),
            listeners: HashMap::new(),
        });
    }

    /// Answers a global request carried by `c`; gives back a real incoming channel.
    pub(crate) async fn take_global(&mut self, mut c: IncomingChannel) -> Option<IncomingChannel> {
        let Some(g) = c.global.take() else {
            return Some(c);
        };
        let commands = std::sync::Arc::downgrade(&self.commands);
        let answer = match self.forwarding.server.as_mut() {
            Some(srv) => srv.on_global(&g, commands).await,
            None => None,
        };
        tracing::debug!(request = %g.name, ok = answer.is_some(), "global request");
        g.reply(answer.is_some(), answer.unwrap_or_default());
        None
    }
}

impl ServerForwards {
    /// The success data of a request, or `None` for failure.
    async fn on_global(
        &mut self,
        g: &IncomingGlobal,
        commands: crate::command::WeakHandle,
    ) -> Option<Vec<u8>> {
        match g.name.as_str() {
            "tcpip-forward" => {
                let req = TcpipForward::parse(&g.data).ok()?;
                self.tcpip_forward(req.address, req.port, g.want_reply, commands)
                    .await
            }
            "cancel-tcpip-forward" => {
                let req = TcpipForward::parse(&g.data).ok()?;
                let key = RouteKey::Tcp {
                    address: req.address.to_owned(),
                    port: req.port,
                };
                self.listeners.remove(&key).map(|_| Vec::new())
            }
            "streamlocal-forward@openssh.com" => {
                let path = parse_streamlocal_forward(&g.data).ok()?;
                self.streamlocal_forward(path, commands)
            }
            "cancel-streamlocal-forward@openssh.com" => {
                let path = parse_streamlocal_forward(&g.data).ok()?;
                self.listeners
                    .remove(&RouteKey::Unix(path.to_owned()))
                    .map(|_| Vec::new())
            }
            _ => None,
        }
    }

    fn room(&self) -> bool {
        let ok = self.listeners.len() < self.policy.max_listeners;
        if !ok {
            tracing::info!(user = %self.user, "too many remote forwards");
        }
        ok
    }

    async fn tcpip_forward(
        &mut self,
        address: &str,
        port: u32,
        want_reply: bool,
        commands: crate::command::WeakHandle,
    ) -> Option<Vec<u8>> {
        if !self.policy.may_listen(self.key.as_ref(), address, port) {
            tracing::info!(user = %self.user, address, port, "remote forwarding refused by policy");
            return None;
        }
        // Port 0 without a reply: the client could never learn the port (as sshd refuses).
        if (port == 0 && !want_reply)
            || (port != 0 && port < PRIVILEGED_PORTS && self.user != "root")
            || !self.room()
        {
            return None;
        }
        let port16 = u16::try_from(port).ok()?;
        let bound = match self.policy.bind_host(address) {
            BindHost::Ip(ip) => TcpListener::bind(SocketAddr::new(ip, port16)).await,
            BindHost::Name(name) => TcpListener::bind((name.as_str(), port16)).await,
        };
        let listener = match bound {
            Ok(l) => l,
            Err(e) => {
                tracing::info!(address, port, error = %e, "remote forward: cannot listen");
                return None;
            }
        };
        let bound_port = u32::from(listener.local_addr().ok()?.port());
        let key = RouteKey::Tcp {
            address: address.to_owned(),
            port: bound_port,
        };
        if self.listeners.contains_key(&key) {
            return None;
        }
        tracing::debug!(address, bound_port, "remote forward listening");
        let task = tokio::spawn(serve_tcp_listener(
            listener,
            address.to_owned(),
            bound_port,
            commands,
        ));
        self.listeners.insert(
            key,
            Listening {
                _task: AbortOnDrop(task),
                path: None,
            },
        );
        // RFC 4254 §7.1: the port is in the reply only when the client asked for port 0.
        let mut reply = Vec::new();
        if port == 0 {
            put::uint32(&mut reply, bound_port);
        }
        Some(reply)
    }

    fn streamlocal_forward(
        &mut self,
        path: &str,
        commands: crate::command::WeakHandle,
    ) -> Option<Vec<u8>> {
        if !self.policy.may_streamlocal(self.key.as_ref()) {
            tracing::info!(user = %self.user, path, "Unix socket forwarding refused by policy");
            return None;
        }
        let key = RouteKey::Unix(path.to_owned());
        if self.listeners.contains_key(&key) || !self.room() {
            return None;
        }
        let listener = match UnixListener::bind(path) {
            Ok(l) => l,
            Err(e) => {
                tracing::info!(path, error = %e, "remote forward: cannot listen");
                return None;
            }
        };
        let task = tokio::spawn(serve_unix_listener(listener, path.to_owned(), commands));
        self.listeners.insert(
            key,
            Listening {
                _task: AbortOnDrop(task),
                path: Some(PathBuf::from(path)),
            },
        );
        Some(Vec::new())
    }
}

async fn serve_tcp_listener(
    listener: TcpListener,
    address: String,
    port: u32,
    commands: crate::command::WeakHandle,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!(error = %e, "remote forward: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let kind = ChannelKind::ForwardedTcpip {
            address: address.clone(),
            port,
            originator: peer.ip().to_string(),
            originator_port: u32::from(peer.port()),
        };
        if !spawn_forwarded(&commands, kind, Conn::Tcp(stream)) {
            return;
        }
    }
}

async fn serve_unix_listener(
    listener: UnixListener,
    path: String,
    commands: crate::command::WeakHandle,
) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::debug!(error = %e, "remote forward: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let kind = ChannelKind::ForwardedStreamlocal { path: path.clone() };
        if !spawn_forwarded(&commands, kind, Conn::Unix(stream)) {
            return;
        }
    }
}

enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// Opens a channel of `kind` to the client for `stream`; false once the connection is gone.
fn spawn_forwarded(commands: &crate::command::WeakHandle, kind: ChannelKind, stream: Conn) -> bool {
    if commands.upgrade().is_none() {
        return false;
    }
    let commands = commands.clone();
    tokio::spawn(async move {
        match open_weak(&commands, kind).await {
            Ok(ch) => match stream {
                Conn::Tcp(s) => pump(s, ch).await,
                Conn::Unix(s) => pump(s, ch).await,
            },
            Err(e) => tracing::debug!(error = %e, "remote forward: the client refused the channel"),
        }
    });
    true
}

/// Serves a `direct-tcpip` or `direct-streamlocal@openssh.com` channel: refused with
/// ADMINISTRATIVELY_PROHIBITED unless `policy` (and `key`) allow it, with CONNECT_FAILED when the
/// destination cannot be reached, else connected and served until both sides are done. Returns
/// the channel back when it is neither.
pub(crate) async fn serve_direct(
    incoming: IncomingChannel,
    policy: &ForwardingPolicy,
    key: Option<&KeyOptions>,
    user: &str,
) -> Option<IncomingChannel> {
    let prohibited = |incoming: IncomingChannel, what: &str| {
        tracing::info!(user, destination = what, "forwarding refused by policy");
        incoming.reject(
            ChannelOpenFailureReason::ADMINISTRATIVELY_PROHIBITED,
            "forwarding is not permitted",
        );
    };
    let failed = |incoming: IncomingChannel, e: std::io::Error| {
        tracing::debug!(error = %e, "forward destination unreachable");
        incoming.reject(ChannelOpenFailureReason::CONNECT_FAILED, &e.to_string());
    };
    match incoming.kind().cloned() {
        Some(ChannelKind::DirectTcpip { host, port, .. }) => {
            let (true, Ok(port16)) = (policy.may_open(key, &host, port), u16::try_from(port))
            else {
                prohibited(incoming, &format!("{host}:{port}"));
                return None;
            };
            match timed(TcpStream::connect((host.as_str(), port16))).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    if let Some(ch) = incoming.accept() {
                        pump(s, ch).await;
                    }
                }
                Err(e) => failed(incoming, e),
            }
            None
        }
        Some(ChannelKind::DirectStreamlocal { path }) => {
            if !policy.may_streamlocal(key) {
                prohibited(incoming, &path);
                return None;
            }
            match timed(UnixStream::connect(&path)).await {
                Ok(s) => {
                    if let Some(ch) = incoming.accept() {
                        pump(s, ch).await;
                    }
                }
                Err(e) => failed(incoming, e),
            }
            None
        }
        _ => Some(incoming),
    }
}
