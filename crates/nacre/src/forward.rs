//! Port forwarding (RFC 4254 §7; OpenSSH PROTOCOL §2.4 for Unix sockets), both roles.
//!
//! Client side ([`client`]): `ssh -L` ([`crate::Connection::forward_local`]: a local listener whose
//! connections each open a `direct-tcpip` channel) and `ssh -R`
//! ([`crate::Connection::forward_remote`]: a `tcpip-forward` global request, then the server's
//! `forwarded-tcpip` channels connected to a local target). The connection task hands every channel
//! the peer opens to the handle; on a client a small router task sends `forwarded-*` channels to
//! the forward that asked for them, so they are served even when the application never calls
//! [`crate::Connection::accept_channel`].
//!
//! Server side ([`server`]): a [`ForwardingPolicy`] (sshd's `AllowTcpForwarding`, `PermitOpen`,
//! `PermitListen`, `GatewayPorts`, narrowed by the `authorized_keys` options of the key that
//! logged in) decides `direct-tcpip` channels and `tcpip-forward` requests.
//!
//! Bytes move with `copy_bidirectional` between the socket and the [`Channel`]: EOF from either
//! side becomes EOF (or a TCP half-close) on the other, and the channel closes when both ways are
//! done.

pub(crate) mod client;
pub(crate) mod policy;
pub(crate) mod server;

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use nacre_connection::ChannelKind;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::channel::Channel;
use crate::error::Error;
use crate::mux::IncomingChannel;
pub(crate) use crate::mux::IncomingGlobal;

pub(crate) use client::connect_unix;
pub use client::{LocalForward, RemoteForward, RemoteListener};
pub use policy::ForwardingPolicy;
pub(crate) use server::ForwardState;

/// Copy buffer per direction.
const COPY_BUFFER: usize = 64 * 1024;

/// Aborts a task when dropped.
pub(crate) struct AbortOnDrop(pub JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What a remote forward listens on, as the server names it in `forwarded-*` channels.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum RouteKey {
    Tcp {
        address: String,
        port: u32,
    },
    Unix(String),
    /// `auth-agent@openssh.com` channels (see [`crate::Connection::forward_agent`]).
    Agent,
}

/// Client side: where `forwarded-tcpip` / `forwarded-streamlocal` channels go.
#[derive(Default)]
pub(crate) struct Routes {
    map: Mutex<HashMap<RouteKey, mpsc::UnboundedSender<IncomingChannel>>>,
}

impl Routes {
    fn lock(&self) -> MutexGuard<'_, HashMap<RouteKey, mpsc::UnboundedSender<IncomingChannel>>> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn insert(&self, key: RouteKey, tx: mpsc::UnboundedSender<IncomingChannel>) {
        self.lock().insert(key, tx);
    }

    pub fn remove(&self, key: &RouteKey) {
        self.lock().remove(key);
    }

    /// Sends `c` to its forward; gives it back when no forward wants it.
    pub(crate) fn route(&self, c: IncomingChannel) -> Option<IncomingChannel> {
        let key = match c.kind() {
            Some(ChannelKind::ForwardedTcpip { address, port, .. }) => RouteKey::Tcp {
                address: address.clone(),
                port: *port,
            },
            Some(ChannelKind::ForwardedStreamlocal { path }) => RouteKey::Unix(path.clone()),
            Some(ChannelKind::AuthAgent) => RouteKey::Agent,
            _ => return Some(c),
        };
        let tx = {
            let map = self.lock();
            let found = map.get(&key).or_else(|| match &key {
                // The server may name the address differently than we asked (e.g. an IP for
                // "localhost"), and a port-0 forward is registered before its port is known.
                RouteKey::Tcp { address, port } => map
                    .iter()
                    .find(|(k, _)| matches!(k, RouteKey::Tcp { port: p, .. } if p == port))
                    .map(|(_, tx)| tx)
                    .or_else(|| {
                        map.get(&RouteKey::Tcp {
                            address: address.clone(),
                            port: 0,
                        })
                    }),
                RouteKey::Unix(_) | RouteKey::Agent => None,
            });
            found.cloned()
        };
        if key == RouteKey::Agent && tx.is_none() {
            // Agent forwarding was not asked for: the server gets no way to our agent.
            c.reject(
                nacre_wire::ChannelOpenFailureReason::ADMINISTRATIVELY_PROHIBITED,
                "agent forwarding is off",
            );
            return None;
        }
        match tx {
            Some(tx) => match tx.send(c) {
                Ok(()) => None,
                Err(e) => Some(e.0),
            },
            None => Some(c),
        }
    }
}

/// Opens a channel through a weak handle to the connection task (forwarders must not keep a
/// connection alive once its [`crate::Connection`] is dropped).
pub(crate) async fn open_weak(
    commands: &crate::command::WeakHandle,
    kind: ChannelKind,
) -> Result<Channel, Error> {
    let strong = commands.upgrade().ok_or(Error::Closed)?;
    strong.open(kind).await
}

/// Moves bytes both ways between `stream` and `channel` until both directions ended, then closes
/// the channel (by dropping it).
pub(crate) async fn pump<S>(mut stream: S, mut channel: Channel)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match tokio::io::copy_bidirectional_with_sizes(
        &mut stream,
        &mut channel,
        COPY_BUFFER,
        COPY_BUFFER,
    )
    .await
    {
        Ok((up, down)) => tracing::debug!(
            channel = channel.id(),
            up,
            down,
            "forwarded connection finished"
        ),
        Err(e) => tracing::debug!(channel = channel.id(), error = %e, "forwarded connection ended"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::command::Command;
    use std::sync::Arc;

    fn incoming(kind: ChannelKind, cmds: &crate::command::CommandTx) -> IncomingChannel {
        IncomingChannel::from_channel(Channel {
            id: 7,
            kind,
            shared: Arc::default(),
            cmds: cmds.clone(),
            close_on_drop: false,
            keep: None,
        })
    }

    fn tcp(address: &str, port: u32) -> ChannelKind {
        ChannelKind::ForwardedTcpip {
            address: address.into(),
            port,
            originator: "127.0.0.1".into(),
            originator_port: 40000,
        }
    }

    fn key(address: &str, port: u32) -> RouteKey {
        RouteKey::Tcp {
            address: address.into(),
            port,
        }
    }

    #[test]
    fn forwarded_channels_find_their_forward() {
        let (cmds, _rx) = crate::command::command_queue();
        let routes = Routes::default();
        let (a_tx, mut a) = mpsc::unbounded_channel();
        let (b_tx, mut b) = mpsc::unbounded_channel();
        let (p_tx, mut pending) = mpsc::unbounded_channel();
        let (u_tx, mut unix) = mpsc::unbounded_channel();
        routes.insert(key("localhost", 8080), a_tx);
        routes.insert(key("127.0.0.1", 9090), b_tx);
        routes.insert(key("0.0.0.0", 0), p_tx);
        routes.insert(RouteKey::Unix("/tmp/s".into()), u_tx);

        // Exact address and port.
        assert!(routes
            .route(incoming(tcp("localhost", 8080), &cmds))
            .is_none());
        assert!(a.try_recv().is_ok());
        // Same port, the address named differently by the server.
        assert!(routes
            .route(incoming(tcp("127.0.0.1", 8080), &cmds))
            .is_none());
        assert!(a.try_recv().is_ok());
        assert!(routes.route(incoming(tcp("::1", 9090), &cmds)).is_none());
        assert!(b.try_recv().is_ok());
        // A port-0 forward whose port is not known yet.
        assert!(routes
            .route(incoming(tcp("0.0.0.0", 41234), &cmds))
            .is_none());
        assert!(pending.try_recv().is_ok());
        // Unix sockets by path.
        let u = ChannelKind::ForwardedStreamlocal {
            path: "/tmp/s".into(),
        };
        assert!(routes.route(incoming(u, &cmds)).is_none());
        assert!(unix.try_recv().is_ok());

        // Unknown forwards and other channel types go back to the application.
        let back = routes.route(incoming(tcp("localhost", 1), &cmds)).unwrap();
        assert_eq!(back.kind(), Some(&tcp("localhost", 1)));
        let other = ChannelKind::ForwardedStreamlocal {
            path: "/tmp/other".into(),
        };
        assert!(routes.route(incoming(other, &cmds)).is_some());
        assert!(routes
            .route(incoming(ChannelKind::Session, &cmds))
            .is_some());
        // A forward whose listener is gone: back to the application too.
        drop(a);
        assert!(routes
            .route(incoming(tcp("localhost", 8080), &cmds))
            .is_some());
    }

    #[test]
    fn an_unanswered_global_request_is_refused() {
        let (cmds, rx) = crate::command::command_queue();
        drop(IncomingGlobal::new(
            "tcpip-forward".into(),
            Vec::new(),
            true,
            nacre_connection::ReplyToken(3),
            cmds.clone(),
        ));
        match rx.try_recv() {
            Ok(Command::GlobalReply(nacre_connection::ReplyToken(3), false, data)) => {
                assert!(data.is_empty())
            }
            _ => panic!("no failure reply"),
        }
        IncomingGlobal::new(
            "tcpip-forward".into(),
            Vec::new(),
            true,
            nacre_connection::ReplyToken(4),
            cmds.clone(),
        )
        .reply(true, vec![0, 0, 0, 80]);
        match rx.try_recv() {
            Ok(Command::GlobalReply(nacre_connection::ReplyToken(4), true, data)) => {
                assert_eq!(data, [0, 0, 0, 80])
            }
            _ => panic!("no success reply"),
        }
        assert!(rx.try_recv().is_err(), "answered once");
        // No reply wanted: nothing is sent either way.
        drop(IncomingGlobal::new(
            "cancel-tcpip-forward".into(),
            Vec::new(),
            false,
            nacre_connection::ReplyToken(5),
            cmds.clone(),
        ));
        IncomingGlobal::new(
            "tcpip-forward".into(),
            Vec::new(),
            false,
            nacre_connection::ReplyToken(6),
            cmds,
        )
        .reply(true, Vec::new());
        assert!(rx.try_recv().is_err());
    }
}
