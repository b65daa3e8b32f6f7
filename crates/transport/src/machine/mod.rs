//! The sans-IO transport state machine, both roles.
//!
//! The contract, as in quinn-proto:
//!
//! ```text
//! handle_input(&[u8])          bytes from the peer, in any split (one byte at a time works)
//! handle_timeout(now)          time is passed in, never read
//! poll_transmit(&mut Vec<u8>)  bytes to send, appended to the caller's buffer
//! poll_event() -> Event        what the application must see or decide
//! poll_timeout() -> Instant    when handle_timeout must be called next
//! ```
//!
//! Decisions that need the application (is this host key trusted?) are events answered later with a
//! method call ([`Transport::accept_host_key`]); the machine waits without blocking anything.

mod dispatch;
mod kex_driver;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use nacre_crypto::{PacketKey, Rng};
use nacre_keys::{PublicKey, SignatureAlgorithm};
use nacre_wire::{DisconnectReason, Encode};

use crate::banner::{our_identification, BannerReader, Identification};
use crate::config::{Config, Role};
use crate::error::TransportError;
use crate::msg::{Disconnect, Ignore, ServiceRequest};
use crate::negotiate::Negotiated;
use crate::packet::{PacketReader, PacketWriter};

pub use dispatch::Disposition;
pub use kex_driver::KexState;

/// What the application must see or decide.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Client: the server proved possession of this host key. Answer with
    /// [`Transport::accept_host_key`] or [`Transport::reject_host_key`]; nothing proceeds until then.
    HostKey {
        /// The server's host key (a certificate's key when `certificate` is set).
        key: PublicKey,
        /// The signature algorithm it signed with.
        algorithm: SignatureAlgorithm,
        /// The OpenSSH host certificate the server sent (PROTOCOL.certkeys; its CA signature
        /// verified): the application checks it against its CAs (`@cert-authority`).
        certificate: Option<Box<nacre_keys::Certificate>>,
    },
    /// A key exchange completed and new keys are in use in both directions.
    KexComplete {
        /// True for the first exchange of the connection.
        first: bool,
        /// The algorithms in use.
        negotiated: Negotiated,
    },
    /// The peer sent RFC 8308 extensions (name, value).
    ExtInfo(Vec<(String, Vec<u8>)>),
    /// Client: the server accepted the requested service.
    ServiceAccepted(String),
    /// Server: the client requested this service and it was accepted.
    ServiceStarted(String),
    /// A message of the service layer (message number 50 or above): the whole payload.
    Packet(Bytes),
    /// The peer sent SSH_MSG_DEBUG.
    Debug {
        /// Whether to display it.
        always_display: bool,
        /// The message.
        message: String,
    },
    /// A session key log line in Wireshark's format (only with `Config::keylog`): for
    /// curve25519 `<hex KEXINIT cookie> <hex X25519 private key>` of this side (the form tshark 4.0
    /// reads), and for every method `<hex cookie> SHARED_SECRET <hex K>` (the mpint's magnitude,
    /// or for the post-quantum hybrids the bytes of the K string: the 32/64-byte hash output).
    KeyLog(String),
    /// SSH2_MSG_PONG: the answer to a [`Transport::ping`], with its data.
    Pong(Vec<u8>),
    /// The connection is over; the error says why (also when the peer disconnected).
    Closed(TransportError),
}

/// How much a [`Transport`] holds in memory, from [`Transport::buffered`]: every buffer a peer or
/// the application can make grow. Tests use it to show that floods (CVE-2025-26466) and stalled
/// key exchanges (CVE-2025-22869) stay bounded; a server can export it as a metric.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Buffered {
    /// Received bytes not yet decoded (at most one partial packet after `handle_input`).
    pub input: usize,
    /// Bytes waiting for [`Transport::poll_transmit`].
    pub output: usize,
    /// Application payloads held while a key exchange runs (bounded by `Limits::max_queued_bytes`).
    pub queued_packets: usize,
    /// Their total size.
    pub queued_bytes: usize,
    /// Events waiting for [`Transport::poll_event`].
    pub events: usize,
}

/// Why [`Transport::send`] refused a payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The connection is closed.
    #[error("connection closed")]
    Closed,
    /// No service is active yet; service messages cannot be sent.
    #[error("no service active yet")]
    NotReady,
    /// A key exchange is running and the queue of held payloads is full: retry after the exchange.
    #[error("key exchange in progress and the send queue is full")]
    Backpressure,
    /// The payload is empty, not a service-layer message (number below 50), or larger than a
    /// packet can carry.
    #[error("payload of {0} bytes is not a sendable service-layer message")]
    BadPayload(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Service {
    None,
    Requested(String),
    Active(String),
}

/// How far the connection got (RFC 4253 §4.2, §7).
enum Phase {
    /// Reading the peer's identification line (and the lines a server may send before it).
    Banner(BannerReader),
    /// The first key exchange runs: no keys in use yet (under strict kex only the exchange's
    /// own messages are allowed).
    FirstKex,
    /// The first exchange completed in both directions: keys in use.
    Established,
}

/// What the layer above reported of user authentication, as far as re-exchanges care: none
/// starts before it (OpenSSH defers them too); one asked for earlier starts then.
#[derive(Clone, Copy)]
enum AuthPhase {
    /// Not authenticated yet; `rekey_asked`: [`Transport::rekey`] was called meanwhile.
    Pending { rekey_asked: bool },
    /// Authenticated ([`Transport::set_authenticated`]); `rekey_asked` only while the first
    /// exchange still runs (raw use that authenticates early).
    Done { rekey_asked: bool },
}

/// When the peer's EXT_INFO is allowed (RFC 8308 §2.4).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum ExtInfoWindow {
    /// Not now (a server's second chance before USERAUTH_SUCCESS is decided by the service
    /// state, see `classify`).
    Shut,
    /// The next packet may be EXT_INFO: the one right after the first NEWKEYS.
    NextPacket,
    /// A late EXT_INFO came: the next packet must be USERAUTH_SUCCESS.
    ExpectUserauthSuccess,
}

/// One SSH transport connection, client or server, with no I/O of its own.
///
/// A client and a server joined in memory: bytes from one's [`poll_transmit`](Self::poll_transmit)
/// go into the other's [`handle_input`](Self::handle_input) until neither has more to say. A real
/// driver does the same with a socket.
///
/// ```
/// use std::{sync::Arc, time::Instant};
/// use nacre_crypto::SeededRng;
/// use nacre_keys::PrivateKey;
/// use nacre_transport::{Config, Event, Transport};
///
/// let host_key = Arc::new(PrivateKey::from_ed25519_seed(&[7; 32]));
/// let now = Instant::now();
/// let config = Arc::new(Config::server(vec![host_key.clone()]));
/// let mut server = Transport::server(config, Box::new(SeededRng::new(2)), now);
/// let config = Arc::new(Config::client());
/// let mut client = Transport::client(config, Box::new(SeededRng::new(1)), now);
/// client.request_service("ssh-userauth");
///
/// let mut events = Vec::new();
/// loop {
///     let (mut to_server, mut to_client) = (Vec::new(), Vec::new());
///     let moved = client.poll_transmit(&mut to_server) + server.poll_transmit(&mut to_client);
///     server.handle_input(&to_server);
///     client.handle_input(&to_client);
///     while let Some(event) = client.poll_event() {
///         if let Event::HostKey { key, .. } = &event {
///             assert_eq!(*key, host_key.public_key()); // look it up in known_hosts here
///             client.accept_host_key();
///         }
///         events.push(event);
///     }
///     events.extend(std::iter::from_fn(|| server.poll_event()));
///     if moved == 0 { break; }
/// }
/// assert!(events.contains(&Event::ServiceAccepted("ssh-userauth".into())));
/// assert!(events.contains(&Event::ServiceStarted("ssh-userauth".into())));
/// assert!(client.session_id().is_some() && client.session_id() == server.session_id());
/// assert!(client.strict_kex());
/// ```
pub struct Transport {
    role: Role,
    config: Arc<Config>,
    rng: Box<dyn Rng>,
    now: Instant,
    input: BytesMut,
    phase: Phase,
    our_id: Vec<u8>,
    peer_id: Option<Identification>,
    reader: PacketReader,
    writer: PacketWriter,
    out: Vec<u8>,
    events: VecDeque<Event>,
    kex: KexState,
    session_id: Option<Vec<u8>>,
    strict_kex: bool,
    /// The peer advertised RFC 8308 in its first KEXINIT.
    peer_ext_info: bool,
    /// Client: the server announced `ping@openssh.com` (OpenSSH PROTOCOL §1.8).
    peer_ping: bool,
    /// The lists of the peer's first KEXINIT.
    peer_algorithms: Option<crate::negotiate::PeerAlgorithms>,
    /// When the peer's EXT_INFO is allowed.
    ext_window: ExtInfoWindow,
    /// The peer sent KEXINIT and not yet NEWKEYS.
    peer_in_kex: bool,
    server_host_key: Option<Vec<u8>>,
    negotiated: Option<Negotiated>,
    service: Service,
    pending_service: Option<String>,
    /// What the layer above reported of user authentication.
    auth: AuthPhase,
    /// Sequence number of our latest KEXINIT, to recognise a peer's UNIMPLEMENTED answer to it.
    kexinit_seq: Option<u32>,
    queue: VecDeque<Bytes>,
    queued_bytes: usize,
    last_kex: Instant,
    kex_started: Option<Instant>,
    server_sig_algs: Option<Vec<String>>,
    closed: Option<TransportError>,
    /// Conformance testing: every received packet (sequence number, payload) while recording.
    received_log: Option<Vec<(u32, Bytes)>>,
    /// Conformance testing: strict kex without its sequence reset at NEWKEYS.
    skip_strict_reset: bool,
    /// Conformance testing: extensions appended to the server's first EXT_INFO.
    extra_ext_info: Vec<(String, Vec<u8>)>,
}

impl Transport {
    /// A client connection. The banner and first KEXINIT are queued for transmission at once.
    pub fn client(config: Arc<Config>, rng: Box<dyn Rng>, now: Instant) -> Self {
        Self::new(Role::Client, config, rng, now)
    }

    /// A server connection. `config.host_keys` must hold at least one key.
    pub fn server(config: Arc<Config>, rng: Box<dyn Rng>, now: Instant) -> Self {
        Self::new(Role::Server, config, rng, now)
    }

    fn new(role: Role, config: Arc<Config>, mut rng: Box<dyn Rng>, now: Instant) -> Self {
        let mut seed = [0u8; 32];
        rng.fill(&mut seed);
        let our_id = our_identification(&config.software_version, config.comments.as_deref());
        let mut out = Vec::with_capacity(64 * 1024);
        out.extend_from_slice(&our_id);
        out.extend_from_slice(b"\r\n");
        let mut t = Transport {
            role,
            phase: Phase::Banner(BannerReader::new(role, &config.limits)),
            reader: PacketReader::new(config.limits.max_packet_len),
            writer: PacketWriter::new(seed),
            config,
            rng,
            now,
            input: BytesMut::with_capacity(64 * 1024),
            our_id,
            peer_id: None,
            out,
            events: VecDeque::new(),
            kex: KexState::Idle,
            session_id: None,
            strict_kex: false,
            peer_ext_info: false,
            peer_ping: false,
            peer_algorithms: None,
            ext_window: ExtInfoWindow::Shut,
            peer_in_kex: false,
            server_host_key: None,
            negotiated: None,
            service: Service::None,
            pending_service: None,
            auth: AuthPhase::Pending { rekey_asked: false },
            kexinit_seq: None,
            queue: VecDeque::new(),
            queued_bytes: 0,
            last_kex: now,
            kex_started: None,
            server_sig_algs: None,
            closed: None,
            received_log: None,
            skip_strict_reset: false,
            extra_ext_info: Vec::new(),
        };
        t.reader.watch_userauth_success(role == Role::Client);
        t.writer.watch_userauth_success(role == Role::Server);
        if let Err(e) = t.send_kexinit() {
            t.fail(e);
        }
        t
    }

    /// Which side this is.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Feeds bytes received from the peer.
    pub fn handle_input(&mut self, data: &[u8]) {
        if self.closed.is_some() {
            return;
        }
        self.input.extend_from_slice(data);
        self.process_input();
    }

    /// The input buffer with room for at least `additional` more bytes, for a driver that reads
    /// the socket straight into it (tokio's `read_buf`, say) instead of handing bytes to
    /// [`Transport::handle_input`], which copies them. Append the bytes read to it, nothing else,
    /// then call [`Transport::process_received`].
    pub fn receive_buffer(&mut self, additional: usize) -> &mut BytesMut {
        self.input.reserve(additional);
        &mut self.input
    }

    /// Decodes what was appended to [`Transport::receive_buffer`], as `handle_input` does.
    pub fn process_received(&mut self) {
        if self.closed.is_some() {
            self.input.clear();
            return;
        }
        self.process_input();
    }

    /// The peer closed its side of the stream.
    pub fn handle_eof(&mut self) {
        if self.closed.is_none() {
            self.fail(TransportError::ConnectionLost);
        }
    }

    /// Whether the machine can take more input now (false while it waits for a host key decision
    /// or after close): a driver stops reading when this is false, which bounds the input buffer.
    pub fn wants_input(&self) -> bool {
        self.closed.is_none() && !self.kex.awaiting_host_key()
    }

    /// Appends the bytes to send to `buf`; returns how many were appended.
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> usize {
        let n = self.out.len();
        if buf.is_empty() {
            std::mem::swap(buf, &mut self.out);
        } else {
            buf.append(&mut self.out);
        }
        n
    }

    /// True when bytes are waiting in [`Transport::poll_transmit`].
    pub fn has_transmit(&self) -> bool {
        !self.out.is_empty()
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Tells the machine the time; starts a time-triggered rekey or fails a stalled exchange.
    /// Call it whenever time has passed (a driver does before handling input), not only when
    /// [`Transport::poll_timeout`] is due: a key exchange is timed from the latest time told.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        if self.closed.is_some() {
            return;
        }
        if let Some(started) = self.kex_started {
            if now.saturating_duration_since(started) >= self.config.limits.kex_timeout {
                self.fail(TransportError::Timeout(
                    "key exchange did not complete in time",
                ));
                return;
            }
        }
        if self.established() && self.authenticated() && matches!(self.kex, KexState::Idle) {
            if let Some(limit) = self.config.limits.rekey_time {
                if now.saturating_duration_since(self.last_kex) >= limit {
                    self.start_rekey_or_fail();
                }
            }
        }
    }

    /// When [`Transport::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed.is_some() {
            return None;
        }
        if let Some(started) = self.kex_started {
            return Some(started + self.config.limits.kex_timeout);
        }
        self.config
            .limits
            .rekey_time
            // Like handle_timeout: no time-triggered rekey before authentication, so no deadline
            // (a past one would make a driver spin).
            .filter(|_| self.established() && self.authenticated())
            .map(|d| self.last_kex + d)
    }

    /// What the machine holds in memory right now (see [`Buffered`]).
    pub fn buffered(&self) -> Buffered {
        Buffered {
            input: self.input.len(),
            output: self.out.len(),
            queued_packets: self.queue.len(),
            queued_bytes: self.queued_bytes,
            events: self.events.len(),
        }
    }

    /// Whether the connection is closed (after the final bytes were queued for transmission).
    pub fn is_closed(&self) -> bool {
        self.closed.is_some()
    }

    /// Why the connection closed.
    pub fn close_reason(&self) -> Option<&TransportError> {
        self.closed.as_ref()
    }

    /// Client: whether the server announced `ping@openssh.com`, so that [`Transport::ping`]
    /// may be used.
    pub fn peer_supports_ping(&self) -> bool {
        self.peer_ping
    }

    /// Client: sends SSH2_MSG_PING with `data` (OpenSSH PROTOCOL §1.8); [`Event::Pong`] brings
    /// the data back. Only to a server that announced `ping@openssh.com`: nacre never sends a
    /// message number a peer did not say it takes ([`SendError::NotReady`] otherwise).
    pub fn ping(&mut self, data: &[u8]) -> Result<(), SendError> {
        if !self.peer_ping {
            return Err(SendError::NotReady);
        }
        let payload = crate::msg::Ping { pong: false, data }.to_bytes();
        self.send(&payload)
    }

    /// The configuration this transport runs with (a server's host keys, algorithm lists).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The session identifier (H of the first exchange), once known.
    pub fn session_id(&self) -> Option<&[u8]> {
        self.session_id.as_deref()
    }

    /// The algorithms of the latest exchange.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_ref()
    }

    /// Whether strict key exchange is in force.
    pub fn strict_kex(&self) -> bool {
        self.strict_kex
    }

    /// The peer's identification.
    pub fn peer_identification(&self) -> Option<&Identification> {
        self.peer_id.as_ref()
    }

    /// Our identification line (without CR LF).
    pub fn our_identification(&self) -> &[u8] {
        &self.our_id
    }

    /// The algorithm lists of the peer's first KEXINIT (known as soon as it arrived, even when
    /// negotiation then failed).
    pub fn peer_algorithms(&self) -> Option<&crate::negotiate::PeerAlgorithms> {
        self.peer_algorithms.as_ref()
    }

    /// Client: the signature algorithms the server announced in `server-sig-algs` (RFC 8308 §3.1).
    pub fn server_sig_algs(&self) -> Option<&[String]> {
        self.server_sig_algs.as_deref()
    }

    /// Client: the server's host key blob from the first exchange.
    pub fn server_host_key(&self) -> Option<&[u8]> {
        self.server_host_key.as_deref()
    }

    /// True once the first key exchange completed.
    pub fn is_established(&self) -> bool {
        self.established()
    }

    /// Whether a key exchange is in progress.
    pub fn in_kex(&self) -> bool {
        !matches!(self.kex, KexState::Idle)
    }

    /// Client: asks for a service (normally `ssh-userauth`), sent as soon as the first exchange is done.
    pub fn request_service(&mut self, name: &str) {
        if self.role != Role::Client || self.closed.is_some() {
            return;
        }
        if self.established() && !self.in_kex() {
            self.write_service_request(name);
        } else {
            self.pending_service = Some(name.to_owned());
        }
    }

    fn write_service_request(&mut self, name: &str) {
        self.service = Service::Requested(name.to_owned());
        let msg = ServiceRequest { name }.to_bytes();
        self.write_now(&msg);
    }

    /// Sends a service-layer payload (message number 50 or above). While a key exchange runs the
    /// payload is held in a bounded queue; when it is full the caller gets [`SendError::Backpressure`].
    pub fn send(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.send_parts(payload, &[])
    }

    /// [`Transport::send`] of the payload `head || body`, framed straight into the packet
    /// buffer from its two parts (channel data need not be copied behind their header first).
    pub fn send_parts(&mut self, head: &[u8], body: &[u8]) -> Result<(), SendError> {
        if self.closed.is_some() {
            return Err(SendError::Closed);
        }
        if !matches!(self.service, Service::Active(_)) {
            return Err(SendError::NotReady);
        }
        let len = head.len() + body.len();
        let first = head.first().or(body.first()).copied().unwrap_or(0);
        if first < 50 || len > self.config.limits.max_packet_len.saturating_sub(64) {
            return Err(SendError::BadPayload(len));
        }
        if self.kex.holds_output() {
            if self.queued_bytes + len > self.config.limits.max_queued_bytes {
                return Err(SendError::Backpressure);
            }
            self.queued_bytes += len;
            let mut payload = Vec::with_capacity(len);
            payload.extend_from_slice(head);
            payload.extend_from_slice(body);
            self.queue.push_back(Bytes::from(payload));
            return Ok(());
        }
        let written = self.writer.write_with(&mut self.out, |o| {
            o.extend_from_slice(head);
            o.extend_from_slice(body);
        });
        if let Err(e) = written {
            self.fail(e);
        }
        self.sync_delayed_compression();
        self.check_rekey_limits();
        Ok(())
    }

    /// Whether [`Transport::send`] would accept `len` more bytes right now.
    pub fn can_send(&self, len: usize) -> bool {
        self.closed.is_none()
            && matches!(self.service, Service::Active(_))
            && (!self.kex.holds_output()
                || self.queued_bytes + len <= self.config.limits.max_queued_bytes)
    }

    /// Conformance testing: writes `payload` as one packet with the current keys, whatever the
    /// state and message number. This can break the protocol on purpose; applications never need it.
    pub fn send_raw(&mut self, payload: &[u8]) {
        if self.closed.is_none() {
            self.write_now(payload);
        }
    }

    /// Conformance testing: while `on`, keeps a copy of every packet the peer sends (its
    /// sequence number and payload, generic transport messages such as UNIMPLEMENTED and IGNORE
    /// included, which are otherwise handled silently) for [`Transport::take_received`].
    pub fn record_received(&mut self, on: bool) {
        self.received_log = on.then(Vec::new);
    }

    /// Conformance testing: the packets recorded since the last call (see
    /// [`Transport::record_received`]), oldest first.
    pub fn take_received(&mut self) -> Vec<(u32, Bytes)> {
        self.received_log
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Conformance testing: while `on`, strict kex is announced and enforced as usual but the
    /// sequence numbers are not reset at NEWKEYS (OpenSSH PROTOCOL §1.10 broken on purpose), so a
    /// scripted peer can make `nacre conform ssh`'s `strict.sequence-reset` fail. Applications
    /// never need it.
    pub fn skip_strict_reset(&mut self, on: bool) {
        self.skip_strict_reset = on;
    }

    /// Conformance testing: extensions (name, value) a server appends to the EXT_INFO it sends
    /// right after its first NEWKEYS (RFC 8308 §2.4) when the client asked for one, after
    /// server-sig-algs: `nacre conform ssh --listen` sends a client an extension it cannot know
    /// (RFC 8308 §2.5). Applications never need it.
    pub fn extra_ext_info(&mut self, extensions: Vec<(String, Vec<u8>)>) {
        self.extra_ext_info = extensions;
    }

    /// Whether NEWKEYS resets the sequence numbers: strict kex, unless a conformance test
    /// disabled the reset ([`Transport::skip_strict_reset`]).
    fn resets_seq(&self) -> bool {
        self.strict_kex && !self.skip_strict_reset
    }

    /// Conformance testing: the sequence number our next packet carries (RFC 4253 §6.4), to
    /// match the peer's UNIMPLEMENTED replies.
    pub fn next_send_seq(&self) -> u32 {
        self.writer.seq()
    }

    /// Sends SSH_MSG_IGNORE (used as keepalive and traffic padding).
    pub fn send_ignore(&mut self, data: &[u8]) {
        if self.closed.is_none() && !self.kex.holds_output() {
            let msg = Ignore { data }.to_bytes();
            self.write_now(&msg);
        }
    }

    /// Starts a key re-exchange. As in OpenSSH, this side never starts one before user
    /// authentication (sshd refuses KEXINIT during pre-auth): a request made earlier waits until
    /// [`Transport::set_authenticated`]. A no-op while an exchange runs.
    pub fn rekey(&mut self) {
        if self.closed.is_some() {
            return;
        }
        if !self.authenticated() || !self.established() {
            self.auth = match self.auth {
                AuthPhase::Pending { .. } => AuthPhase::Pending { rekey_asked: true },
                // Authenticated before the keys (raw use): it starts with them.
                AuthPhase::Done { .. } => AuthPhase::Done { rekey_asked: true },
            };
        } else if matches!(self.kex, KexState::Idle) {
            self.start_rekey_or_fail();
        }
    }

    /// Called by the authentication layer once the user is authenticated: from now on byte,
    /// packet and time limits trigger re-exchanges, and a pending [`Transport::rekey`] starts.
    pub fn set_authenticated(&mut self) {
        let (AuthPhase::Pending { rekey_asked } | AuthPhase::Done { rekey_asked }) = self.auth;
        self.auth = AuthPhase::Done { rekey_asked: false };
        if rekey_asked && self.established() && matches!(self.kex, KexState::Idle) {
            self.start_rekey_or_fail();
        } else if rekey_asked {
            self.auth = AuthPhase::Done { rekey_asked: true };
        }
    }

    /// Whether [`Transport::set_authenticated`] was called.
    pub fn is_authenticated(&self) -> bool {
        self.authenticated()
    }

    /// The first exchange completed (keys in use).
    fn established(&self) -> bool {
        matches!(self.phase, Phase::Established)
    }

    fn authenticated(&self) -> bool {
        matches!(self.auth, AuthPhase::Done { .. })
    }

    /// Closes the connection with DISCONNECT.
    pub fn disconnect(&mut self, reason: DisconnectReason, description: &str) {
        if self.closed.is_none() {
            self.fail(TransportError::Local {
                reason,
                description: description.to_owned(),
            });
        }
    }

    /// Writes a packet immediately with the current outgoing keys.
    fn write_now(&mut self, payload: &[u8]) {
        if let Err(e) = self.writer.write(&mut self.out, payload) {
            self.fail(e);
        }
        self.sync_delayed_compression();
    }

    fn process_input(&mut self) {
        while self.closed.is_none() && !self.kex.awaiting_host_key() {
            if let Phase::Banner(banner) = &mut self.phase {
                match banner.poll(&self.input) {
                    Ok(Some((id, consumed))) => {
                        let _ = self.input.split_to(consumed);
                        self.peer_id = Some(id);
                        self.phase = Phase::FirstKex;
                        continue;
                    }
                    Ok(None) => {
                        let done = banner.take_consumed();
                        if done > 0 {
                            let _ = self.input.split_to(done);
                        }
                        return;
                    }
                    Err(e) => return self.fail(e.into()),
                }
            }
            // Before: a server's USERAUTH_SUCCESS went out; after: a client's came in.
            self.sync_delayed_compression();
            let packet = self.reader.next_packet(&mut self.input);
            self.sync_delayed_compression();
            match packet {
                Ok(Some(packet)) => {
                    if let Err(e) = self.dispatch(packet) {
                        return self.fail(e);
                    }
                }
                Ok(None) => return,
                Err(e) => return self.fail(e),
            }
        }
    }

    /// Delayed compression starts in both directions once authentication succeeded: a server
    /// sent USERAUTH_SUCCESS (its writer saw it) or a client received it (its reader did).
    /// Called between packets, so the packet after USERAUTH_SUCCESS is the first compressed.
    pub(super) fn sync_delayed_compression(&mut self) {
        if self.writer.after_auth() && !self.reader.after_auth() {
            self.reader.set_after_auth();
        } else if self.reader.after_auth() && !self.writer.after_auth() {
            self.writer.set_after_auth();
        }
    }

    /// Whether payloads are compressed now, (outgoing, incoming).
    pub fn compressing(&self) -> (bool, bool) {
        (self.writer.compressing(), self.reader.compressing())
    }

    /// Ends the connection: queues DISCONNECT when the error calls for one and reports it.
    fn fail(&mut self, error: TransportError) {
        if self.closed.is_some() {
            return;
        }
        if error.sends_disconnect() && self.peer_id.is_some() {
            let description = error.description();
            let msg = Disconnect {
                reason: error.reason(),
                description: description.into(),
                language: b"",
            }
            .to_bytes();
            let _ = self.writer.write(&mut self.out, &msg);
        }
        self.queue.clear();
        self.queued_bytes = 0;
        self.kex = KexState::Idle;
        self.kex_started = None;
        self.events.push_back(Event::Closed(error.clone()));
        self.closed = Some(error);
    }

    fn set_writer_key(&mut self, key: PacketKey) {
        let reset = self.resets_seq();
        self.writer.set_key(key, reset);
    }
}
