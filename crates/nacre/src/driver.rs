//! The connection task: owns the socket, the sans-IO [`Transport`] and, after authentication, the
//! connection layer ([`Mux`]); moves bytes in large reads and coalesced writes, feeds time, and
//! exchanges packets and commands with the handles. No task hop per packet: channel data goes from
//! the transport's events straight into the channel's shared buffer.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use nacre_connection::msg::host_keys::HOSTKEYS;
use nacre_connection::{Event as ConnEvent, ReplyToken};
use nacre_keys::{PublicKey, SignatureAlgorithm};
use nacre_session::{ClientEvent, Common, LayerError, ServerEvent};
use nacre_transport::TransportError;
use nacre_wire::DisconnectReason;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use crate::command::{Command, CommandRx, CommandTx};
use crate::error::Error;
use crate::host_keys_update::HostKeysUpdate;
use crate::info::ConnectionInfo;
use crate::machine::{Machine, MachineEvent};
use crate::mux::{IncomingChannel, Mux, Router};

/// Room made in the input buffer for one socket read while data stream in.
const READ_SIZE: usize = 256 * 1024;
/// Room made for a read while the connection is quiet (key exchange, authentication, idle
/// sessions): a large buffer for every idle connection would cost memory for nothing.
const SMALL_READ: usize = 16 * 1024;
/// Stop reading from the socket, and taking channel data, while this much output waits.
pub const MAX_PENDING_WRITE: usize = 4 * 1024 * 1024;
/// How long the last bytes (the DISCONNECT) may take to leave once a connection ended: a peer
/// that stopped reading cannot keep the task and its socket alive forever.
pub const FINAL_FLUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// After our DISCONNECT went out, how long the connection keeps reading (and dropping) what the
/// peer still sends, waiting for it to close too.
pub const CLOSE_LINGER: std::time::Duration = std::time::Duration::from_secs(1);

/// Decides whether a server host key is trusted (client side).
pub type HostKeyVerifier = Arc<dyn Fn(&PublicKey) -> bool + Send + Sync>;

/// What the task reports to the handle.
pub(crate) enum Up {
    /// The service is active; connection facts.
    Ready(ConnectionInfo),
    /// Raw mode: a service-layer packet.
    Packet(Bytes),
    /// Extensions from the peer.
    ExtInfo(Vec<(String, Vec<u8>)>),
    /// The peer wants a channel.
    Incoming(IncomingChannel),
    /// Client authentication: methods, banners, questions, success.
    ClientAuth(ClientEvent),
    /// Server authentication: a credential to check, or success.
    ServerAuth(ServerEvent),
    /// Client: the server's host key and its host certificate if it sent one, for the
    /// handle's async verifier.
    HostKey(
        nacre_session::AnswerId,
        PublicKey,
        Option<Box<nacre_keys::Certificate>>,
    ),
    /// Authentication failed at the protocol level; the connection is closing.
    Failed(LayerError),
}

/// How a connection ended: the transport's reason, and the layer error behind it if one was.
#[derive(Debug, Clone)]
pub(crate) struct Ended {
    pub reason: TransportError,
    pub layer: Option<LayerError>,
}

pub(crate) struct Driver<S> {
    pub machine: Machine,
    pub stream: S,
    pub verifier: Option<crate::known_hosts::HostVerifiers>,
    /// Client: channels the server opens go through it first (remote forwards, agent).
    pub router: Option<Router>,
    pub up: mpsc::Sender<Up>,
    /// The queue of every handle's commands, and its sending side for the channels made here.
    pub commands: (CommandTx, CommandRx),
    pub done: oneshot::Sender<Ended>,
    /// The TCP socket's receive buffer, for sizing channel windows (`None`: not TCP).
    pub link: Option<crate::link::LinkProbe>,
}

/// Everything the loop owns besides the socket halves.
struct State {
    machine: Machine,
    verifier: Option<crate::known_hosts::HostVerifiers>,
    router: Option<Router>,
    mux: Mux,
    pending_up: VecDeque<Up>,
    wbuf: Vec<u8>,
    /// Client: known_hosts updates from the server's host key list (`UpdateHostKeys`).
    host_keys: Option<HostKeysUpdate>,
    /// Client: the server authenticated with a host certificate (no known_hosts update then).
    host_certificate: bool,
    /// Our PINGs waiting for their PONG, in order.
    pings: VecDeque<oneshot::Sender<Result<Vec<u8>, Error>>>,
}

impl State {
    /// Keeps the session's clock current before it handles input or a command: it stamps the
    /// start of a key exchange with the latest time it was told, and no timer may have fired
    /// for hours (a re-exchange would otherwise start "in the past" and time out at once).
    fn tell_time(&mut self) {
        self.machine
            .handle_timeout(tokio::time::Instant::now().into_std());
    }

    fn next_deadline(&self) -> Option<tokio::time::Instant> {
        self.machine
            .poll_timeout()
            .map(tokio::time::Instant::from_std)
    }

    fn on_events(&mut self) {
        while let Some(ev) = self.machine.poll_event() {
            match ev {
                MachineEvent::Client(e) => self.on_client_event(e),
                MachineEvent::Server(e) => self.on_server_event(e),
            }
        }
    }

    fn on_client_event(&mut self, e: ClientEvent) {
        match e {
            // Decided here by a synchronous verifier (the host certificate's check when the
            // server sent one); without one, asked of the handle (an async verifier), which
            // answers with `Command::HostKeyAnswer`.
            ClientEvent::HostKey {
                id,
                key,
                certificate,
                ..
            } => {
                self.host_certificate = certificate.is_some();
                self.on_host_key(id, key, certificate)
            }
            ClientEvent::ServiceReady => self.ready(),
            ClientEvent::ServicePacket(p) => self.pending_up.push_back(Up::Packet(p)),
            ClientEvent::Common(c) => self.on_common(c),
            auth => self.pending_up.push_back(Up::ClientAuth(auth)),
        }
    }

    fn on_host_key(
        &mut self,
        id: nacre_session::AnswerId,
        key: PublicKey,
        certificate: Option<Box<nacre_keys::Certificate>>,
    ) {
        match &self.verifier {
            Some(v) => {
                let trusted = v.trusted(&key, certificate.as_deref());
                if let Machine::Client(m) = &mut self.machine {
                    m.answer_host_key(id, trusted);
                }
            }
            None => self.pending_up.push_back(Up::HostKey(id, key, certificate)),
        }
    }

    /// Sends a PING when the server announced `ping@openssh.com`; refused otherwise, so that
    /// no peer ever receives a message number it did not say it takes.
    fn ping(&mut self, data: &[u8], reply: oneshot::Sender<Result<Vec<u8>, Error>>) {
        let sent = match &mut self.machine {
            Machine::Client(m) if m.transport().peer_supports_ping() => {
                m.transport_mut().ping(data).is_ok()
            }
            _ => false,
        };
        if sent {
            self.pings.push_back(reply);
        } else {
            let _ = reply.send(Err(Error::Refused("ping@openssh.com")));
        }
    }

    /// Client: the server listed its host keys (`hostkeys-00@openssh.com`): the update runs in
    /// its own task when the application asked for one; the request is answered with success
    /// when a reply is wanted, as ssh does.
    fn on_host_keys(&mut self, data: Vec<u8>, want_reply: bool, token: ReplyToken) {
        let transport = self.machine.transport();
        let facts = crate::host_keys_update::Facts {
            session_id: transport.session_id().unwrap_or_default().to_vec(),
            kex: transport
                .negotiated()
                .map_or(SignatureAlgorithm::Ed25519, |n| n.host_key),
            server_key: transport
                .server_host_key()
                .and_then(|b| PublicKey::from_blob(b).ok()),
            certificate: self.host_certificate,
        };
        if let Some(update) = &self.host_keys {
            crate::host_keys_update::start(update, data, facts, self.mux.cmds.clone());
        }
        if want_reply {
            if let Some(proto) = self.machine.connection() {
                proto.reply_global(token, true, &[]);
            }
        }
    }

    fn on_server_event(&mut self, e: ServerEvent) {
        match e {
            ServerEvent::ServiceReady => self.ready(),
            ServerEvent::ServicePacket(p) => self.pending_up.push_back(Up::Packet(p)),
            ServerEvent::Common(c) => self.on_common(c),
            auth => self.pending_up.push_back(Up::ServerAuth(auth)),
        }
    }

    fn ready(&mut self) {
        let info = ConnectionInfo::from_transport(self.machine.transport());
        self.pending_up.push_back(Up::Ready(info));
    }

    fn on_common(&mut self, c: Common) {
        match c {
            Common::Connection(ConnEvent::GlobalRequest {
                name,
                data,
                want_reply,
                token,
            }) if name == HOSTKEYS && self.router.is_some() => {
                self.on_host_keys(data, want_reply, token);
            }
            Common::Connection(ev) => {
                let Some(proto) = self.machine.connection() else {
                    return;
                };
                let Some(mut incoming) = self.mux.on_event(proto, ev) else {
                    return;
                };
                if let Some(router) = &self.router {
                    // A client serves no global requests: dropping one answers failure.
                    if incoming.global.take().is_some() {
                        return;
                    }
                    match router(incoming) {
                        Some(c) => incoming = c,
                        None => return,
                    }
                }
                self.pending_up.push_back(Up::Incoming(incoming));
            }
            Common::ExtInfo(ext) => self.pending_up.push_back(Up::ExtInfo(ext)),
            Common::Debug { message, .. } => tracing::debug!(%message, "peer debug message"),
            Common::KeyLog(line) => append_keylog(&line),
            Common::KexComplete { first, negotiated } => {
                tracing::debug!(first, ?negotiated, "key exchange complete");
            }
            Common::Pong(data) => {
                if let Some(tx) = self.pings.pop_front() {
                    let _ = tx.send(Ok(data));
                }
            }
            Common::Closed(_) => {}
        }
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Send(p) => {
                if let Err(e) = self.machine.send_service(&p) {
                    tracing::debug!(%e, "dropping a raw payload");
                }
            }
            Command::Rekey => self.machine.rekey(),
            Command::Authenticated => self.machine.set_authenticated(),
            Command::Raw => self.machine.begin_raw(),
            Command::Disconnect(reason, text) => self.machine.disconnect(reason, &text),
            Command::HandleDropped => self.machine.disconnect(
                DisconnectReason::BY_APPLICATION,
                "connection handle dropped",
            ),
            Command::Open(_, reply) if self.machine.connection().is_none() => {
                let _ = reply.send(Err(Error::Refused("channel open before authentication")));
            }
            Command::Liveness(config) => self.machine.set_liveness(config),
            Command::ClientAuth(cmd) => self.machine.client_auth(cmd),
            Command::ServerAuth(cmd) => self.machine.server_auth(cmd),
            Command::Channels(reply) => {
                let list = self
                    .machine
                    .connection()
                    .map(|proto| proto.channels())
                    .unwrap_or_default();
                let _ = reply.send(list);
            }
            Command::HostKeysUpdate(update) => self.host_keys = Some(*update),
            Command::Ping(data, reply) => self.ping(&data, reply),
            Command::HostKeyAnswer(id, trusted) => {
                if let Machine::Client(m) = &mut self.machine {
                    m.answer_host_key(id, trusted);
                }
            }
            // Channels, opens and global requests: the connection layer's (dropped before it
            // runs, which answers their senders with `Closed`).
            channel_cmd => {
                if let Some(proto) = self.machine.connection() {
                    self.mux.on_cmd(proto, channel_cmd);
                }
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + 'static> Driver<S> {
    /// Runs until the connection closes; reports the reason on `done`.
    pub async fn run(self) {
        let Driver {
            machine,
            stream,
            verifier,
            router,
            up,
            commands: (cmd_tx, commands),
            done,
            mut link,
        } = self;
        let mut st = State {
            machine,
            verifier,
            router,
            mux: Mux::new(cmd_tx),
            pending_up: VecDeque::new(),
            wbuf: Vec::with_capacity(READ_SIZE),
            host_keys: None,
            host_certificate: false,
            pings: VecDeque::new(),
        };
        let (mut rd, mut wr) = tokio::io::split(crate::link::Probed::new(stream, link.as_ref()));
        let mut read_size = SMALL_READ;
        let mut eof = false;
        let mut linger = false;
        let reason = loop {
            st.on_events();
            st.machine.poll_transmit(&mut st.wbuf);
            if let Some(reason) = st.machine.close_reason().cloned() {
                // An authentication that failed learns why at once, not after the flush.
                if let Some(e) = st.machine.layer_error() {
                    let _ = up.try_send(Up::Failed(e.clone()));
                }
                // Flush the final DISCONNECT, then stop (bounded: the peer may not read).
                let flush = async {
                    let _ = wr.write_all(&st.wbuf).await;
                    let _ = wr.shutdown().await;
                };
                let _ = tokio::time::timeout(FINAL_FLUSH_TIMEOUT, flush).await;
                linger = !eof;
                break Ended {
                    reason,
                    layer: st.machine.layer_error().cloned(),
                };
            }
            let timeout = st.next_deadline();
            let room = st.wbuf.len() < MAX_PENDING_WRITE && st.machine.held_bytes() == 0;
            let can_read = !eof && st.machine.wants_input() && st.pending_up.is_empty() && room;
            tokio::select! {
                r = rd.read_buf(st.machine.receive_buffer(read_size)), if can_read => match r {
                    Ok(0) => { eof = true; st.machine.handle_eof(); }
                    Ok(n) => {
                        read_size = if n >= SMALL_READ { READ_SIZE } else { SMALL_READ };
                        st.tell_time();
                        st.machine.process_received();
                        if let Some(link) = &mut link {
                            link.on_data(std::time::Instant::now(), st.machine.connection());
                        }
                    }
                    Err(e) => break lost(e),
                },
                w = wr.write(&st.wbuf), if !st.wbuf.is_empty() => match w {
                    Ok(n) => { st.wbuf.drain(..n); }
                    Err(e) => break lost(e),
                },
                permit = up.reserve(), if !st.pending_up.is_empty() => match permit {
                    Ok(permit) => { if let Some(item) = st.pending_up.pop_front() { permit.send(item); } }
                    Err(_) => st.pending_up.clear(),
                },
                cmds = commands.recv_all(), if room => {
                    st.tell_time();
                    for cmd in cmds {
                        st.on_command(cmd);
                    }
                },
                () = sleep_until(timeout), if timeout.is_some() => st.tell_time(),
            }
        };
        st.mux.shutdown();
        let _ = done.send(reason);
        if linger {
            // Lingering close: read and drop what the peer still sends until it closes too.
            // Closing with unread input makes the kernel answer with a reset, and a reset can
            // destroy our DISCONNECT before the peer reads it.
            let drain = async {
                let mut rbuf = vec![0u8; 16 * 1024];
                while let Ok(n) = rd.read(&mut rbuf).await {
                    if n == 0 {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(CLOSE_LINGER, drain).await;
        }
    }
}

/// A failed socket: the connection is lost.
fn lost(e: std::io::Error) -> Ended {
    Ended {
        reason: TransportError::Local {
            reason: DisconnectReason::CONNECTION_LOST,
            description: e.to_string(),
        },
        layer: None,
    }
}

/// Appends a session key log line to the file named by `SSHKEYLOGFILE` (Wireshark's SSH keylog).
fn append_keylog(line: &str) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let Some(path) = std::env::var_os("SSHKEYLOGFILE") else {
        return;
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path);
    if let Ok(mut f) = file {
        let _ = writeln!(f, "{line}");
    }
}

/// Turns key logging on when `SSHKEYLOGFILE` is set.
pub(crate) fn with_keylog(
    config: std::sync::Arc<nacre_transport::Config>,
) -> std::sync::Arc<nacre_transport::Config> {
    if std::env::var_os("SSHKEYLOGFILE").is_some() && !config.keylog {
        let mut c = (*config).clone();
        c.keylog = true;
        return std::sync::Arc::new(c);
    }
    config
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
