//! The connection task: owns the socket, the sans-IO [`Transport`] and, after authentication, the
//! connection layer ([`Mux`]); moves bytes in large reads and coalesced writes, feeds time, and
//! exchanges packets and commands with the handles. No task hop per packet: channel data goes from
//! the transport's events straight into the channel's shared buffer.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use nacre_connection::{ChannelKind, ConnectionConfig, LivenessConfig, Outgoing};
use nacre_keys::PublicKey;
use nacre_transport::{Event, SendError, Transport, TransportError};
use nacre_wire::{DisconnectReason, MsgNumber};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use crate::channel::Channel;
use crate::error::Error;
use crate::info::ConnectionInfo;
use crate::mux::{IncomingChannel, Mux};

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

/// What the handle asks the task to do.
pub(crate) enum Command {
    Send(Bytes),
    Rekey,
    Authenticated,
    Disconnect(DisconnectReason, String),
    Open(ChannelKind, oneshot::Sender<Result<Channel, Error>>),
    Global(String, Vec<u8>, Option<oneshot::Sender<(bool, Vec<u8>)>>),
    Liveness(LivenessConfig),
}

/// What the task reports to the handle.
pub(crate) enum Up {
    /// The service is active; connection facts.
    Ready(ConnectionInfo),
    /// A service-layer packet (before the connection layer starts).
    Packet(Bytes),
    /// Extensions from the peer.
    ExtInfo(Vec<(String, Vec<u8>)>),
    /// The peer wants a channel.
    Incoming(IncomingChannel),
}

pub(crate) struct Driver<S> {
    pub transport: Transport,
    pub stream: S,
    pub verifier: Option<HostKeyVerifier>,
    pub up: mpsc::Sender<Up>,
    pub commands: mpsc::Receiver<Command>,
    pub done: oneshot::Sender<TransportError>,
}

/// Everything the loop owns besides the socket halves.
struct State {
    transport: Transport,
    verifier: Option<HostKeyVerifier>,
    mux: Mux,
    /// Authentication succeeded: packets 80 and up belong to the connection layer.
    connection_layer: bool,
    ready_sent: bool,
    pending_up: VecDeque<Up>,
    held: VecDeque<Outgoing>,
    wbuf: Vec<u8>,
}

impl State {
    /// Hands payloads to the transport, keeping order; stops at backpressure (during a rekey).
    fn send(&mut self, payload: Vec<u8>) {
        self.send_parts(Outgoing::whole(payload));
    }

    /// Sends `head || body` framed from its two parts, or holds it while the transport pushes
    /// back (a rekey in progress with a full queue).
    fn send_parts(&mut self, p: Outgoing) {
        if self.held.is_empty() {
            match self.transport.send_parts(&p.head, &p.body) {
                Err(SendError::Backpressure) => self.held.push_back(p),
                Err(e) => tracing::debug!(%e, "dropping payload"),
                Ok(()) => {}
            }
        } else {
            self.held.push_back(p);
        }
    }

    fn release_held(&mut self) {
        while let Some(p) = self.held.pop_front() {
            if let Err(SendError::Backpressure) = self.transport.send_parts(&p.head, &p.body) {
                self.held.push_front(p);
                return;
            }
        }
    }

    fn pump_mux(&mut self) {
        while let Some(ev) = self.mux.proto.poll_event() {
            if let Some(incoming) = self.mux.on_event(ev) {
                self.pending_up.push_back(Up::Incoming(incoming));
            }
        }
        while let Some(p) = self.mux.proto.poll_transmit_parts() {
            self.send_parts(p);
        }
    }

    fn on_packet(&mut self, p: Bytes) {
        let msg = p.first().copied().unwrap_or(0);
        if !self.connection_layer {
            if msg == MsgNumber::USERAUTH_SUCCESS.0
                && self.transport.role() == nacre_transport::Role::Client
            {
                self.start_connection_layer();
            }
            self.pending_up.push_back(Up::Packet(p));
            return;
        }
        if msg < 80 {
            // RFC 4252 §5.1: authentication messages after success are ignored.
            tracing::debug!(msg, "ignoring an authentication message after success");
            return;
        }
        if let Err(e) = self.mux.proto.handle_packet(&p) {
            self.transport.disconnect(e.reason(), &e.to_string());
        }
    }

    fn start_connection_layer(&mut self) {
        self.connection_layer = true;
        self.transport.set_authenticated();
        self.tick_connection_layer();
    }

    /// Keeps the transport's clock current before it handles input or a command: it stamps the
    /// start of a key exchange with the latest time it was told, and no timer may have fired
    /// for hours (a re-exchange would otherwise start "in the past" and time out at once).
    fn tell_time(&mut self) {
        self.transport
            .handle_timeout(tokio::time::Instant::now().into_std());
    }

    /// Feeds the time to the connection layer (keepalive probes, idle limit).
    fn tick_connection_layer(&mut self) {
        if !self.connection_layer {
            return;
        }
        let now = tokio::time::Instant::now().into_std();
        if let Err(e) = self.mux.proto.handle_timeout(now) {
            self.transport.disconnect(e.reason(), &e.to_string());
        }
    }

    fn next_deadline(&self) -> Option<tokio::time::Instant> {
        let transport = self.transport.poll_timeout();
        let conn = self
            .mux
            .proto
            .poll_timeout()
            .filter(|_| self.connection_layer);
        let next = match (transport, conn) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        next.map(tokio::time::Instant::from_std)
    }

    fn on_events(&mut self) {
        while let Some(ev) = self.transport.poll_event() {
            match ev {
                Event::HostKey { key, .. } => match &self.verifier {
                    Some(v) if v(&key) => self.transport.accept_host_key(),
                    _ => self.transport.reject_host_key(),
                },
                Event::ServiceAccepted(_) | Event::ServiceStarted(_) if !self.ready_sent => {
                    self.ready_sent = true;
                    self.pending_up
                        .push_back(Up::Ready(ConnectionInfo::from_transport(&self.transport)));
                }
                Event::Packet(p) => self.on_packet(p),
                Event::ExtInfo(ext) => self.pending_up.push_back(Up::ExtInfo(ext)),
                Event::Debug { message, .. } => tracing::debug!(%message, "peer debug message"),
                Event::KeyLog(line) => append_keylog(&line),
                Event::KexComplete { first, negotiated } => {
                    tracing::debug!(first, ?negotiated, "key exchange complete");
                }
                Event::Closed(_) | Event::ServiceAccepted(_) | Event::ServiceStarted(_) => {}
            }
        }
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Send(p) => {
                if p.first() == Some(&MsgNumber::USERAUTH_SUCCESS.0)
                    && self.transport.role() == nacre_transport::Role::Server
                {
                    self.send(p.to_vec());
                    self.start_connection_layer();
                } else {
                    self.send(p.to_vec());
                }
            }
            Command::Rekey => self.transport.rekey(),
            Command::Authenticated => self.transport.set_authenticated(),
            Command::Disconnect(reason, text) => self.transport.disconnect(reason, &text),
            Command::Open(kind, reply) => self.mux.open(kind, reply),
            Command::Global(name, data, reply) => self.mux.global_request(&name, &data, reply),
            Command::Liveness(config) => {
                self.mux.proto.set_liveness(config);
                self.tick_connection_layer();
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Driver<S> {
    /// Runs until the connection closes; reports the reason on `done`.
    pub async fn run(self) {
        let Driver {
            transport,
            stream,
            verifier,
            up,
            mut commands,
            done,
        } = self;
        let (chan_tx, mut chan_rx) = mpsc::unbounded_channel();
        let mut st = State {
            transport,
            verifier,
            mux: Mux::new(ConnectionConfig::default(), chan_tx),
            connection_layer: false,
            ready_sent: false,
            pending_up: VecDeque::new(),
            held: VecDeque::new(),
            wbuf: Vec::with_capacity(READ_SIZE),
        };
        let (mut rd, mut wr) = tokio::io::split(stream);
        let mut read_size = SMALL_READ;
        let mut commands_open = true;
        let mut eof = false;
        let mut linger = false;
        let reason = loop {
            st.on_events();
            st.release_held();
            st.pump_mux();
            st.transport.poll_transmit(&mut st.wbuf);
            if let Some(reason) = st.transport.close_reason().cloned() {
                // Flush the final DISCONNECT, then stop (bounded: the peer may not read).
                let flush = async {
                    let _ = wr.write_all(&st.wbuf).await;
                    let _ = wr.shutdown().await;
                };
                let _ = tokio::time::timeout(FINAL_FLUSH_TIMEOUT, flush).await;
                linger = !eof;
                break reason;
            }
            let timeout = st.next_deadline();
            let room = st.wbuf.len() < MAX_PENDING_WRITE && st.held.is_empty();
            let can_read = !eof && st.transport.wants_input() && st.pending_up.is_empty() && room;
            tokio::select! {
                r = rd.read_buf(st.transport.receive_buffer(read_size)), if can_read => match r {
                    Ok(0) => { eof = true; st.transport.handle_eof(); }
                    Ok(n) => {
                        read_size = if n >= SMALL_READ { READ_SIZE } else { SMALL_READ };
                        st.tell_time();
                        st.transport.process_received();
                    }
                    Err(e) => break TransportError::Local { reason: DisconnectReason::CONNECTION_LOST, description: e.to_string() },
                },
                w = wr.write(&st.wbuf), if !st.wbuf.is_empty() => match w {
                    Ok(n) => { st.wbuf.drain(..n); }
                    Err(e) => break TransportError::Local { reason: DisconnectReason::CONNECTION_LOST, description: e.to_string() },
                },
                permit = up.reserve(), if !st.pending_up.is_empty() => match permit {
                    Ok(permit) => { if let Some(item) = st.pending_up.pop_front() { permit.send(item); } }
                    Err(_) => st.pending_up.clear(),
                },
                cmd = commands.recv(), if commands_open && room => match cmd {
                    Some(cmd) => {
                        st.tell_time();
                        st.on_command(cmd);
                    }
                    None => {
                        commands_open = false;
                        st.transport.disconnect(DisconnectReason::BY_APPLICATION, "connection handle dropped");
                    }
                },
                cmd = chan_rx.recv(), if room => {
                    if let Some(cmd) = cmd {
                        st.tell_time();
                        st.mux.on_cmd(cmd);
                    }
                },
                () = sleep_until(timeout), if timeout.is_some() => {
                    st.transport.handle_timeout(tokio::time::Instant::now().into_std());
                    st.tick_connection_layer();
                }
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
