//! The server's session: transport, [`AuthServer`] and the connection protocol behind one contract.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use nacre_auth::{AuthServer, AuthServerConfig, Decision, MethodKind, RequestId};
use nacre_connection::msg::host_keys::{HOSTKEYS, HOSTKEYS_PROVE};
use nacre_connection::{ConnectionConfig, Event as ConnEvent};
use nacre_crypto::Rng;
use nacre_keys::PublicKey;
use nacre_transport::{Event as TransportEvent, Transport};
use nacre_wire::DisconnectReason;

use crate::core::{earliest, Core, Layer};
use crate::host_keys;
use crate::{Common, WrongPhase};

/// Settings of a [`ServerSession`].
#[derive(Clone)]
pub struct ServerConfig {
    /// Transport settings (host keys, algorithms, limits, `ssh-userauth` among the services).
    pub transport: Arc<nacre_transport::Config>,
    /// Methods, banner, failure delay, login grace time. `None`: the session reports
    /// [`ServerEvent::ServiceReady`] and waits for [`ServerSession::begin_auth`] or raw use.
    pub auth: Option<AuthServerConfig>,
    /// Channel windows and limits of the connection protocol.
    pub connection: ConnectionConfig,
}

/// An authentication question for the application; answer with [`ServerSession::answer_auth`]
/// and the [`RequestId`] it carries. Never [`nacre_auth::ServerEvent::Success`]: that one
/// arrives as [`ServerEvent::Authenticated`].
pub type AuthQuestion = nacre_auth::ServerEvent;

/// What a [`ServerSession`] reports, or asks the application to answer.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent {
    /// A credential to check (password, public key, keyboard-interactive).
    Auth(AuthQuestion),
    /// The user is authenticated; [`ServerSession::connection`] is available from now on.
    Authenticated {
        /// The user name.
        user: String,
        /// The methods that succeeded, in order.
        methods: Vec<MethodKind>,
        /// The key that signed, if publickey was one of them.
        key: Option<PublicKey>,
        /// The OpenSSH certificate that key was accepted with, if any (PROTOCOL.certkeys).
        certificate: Option<Box<nacre_keys::Certificate>>,
    },
    /// The client started `ssh-userauth` and no authentication settings were given: call
    /// [`ServerSession::begin_auth`], or speak the service protocol with
    /// [`ServerSession::send_service`].
    ServiceReady,
    /// Raw mode: a service packet from the client, as it is (message number 50 or above).
    ServicePacket(bytes::Bytes),
    /// What every session reports (connection-protocol events, key exchanges, the close).
    Common(Common),
}

/// One SSH server connection with no I/O of its own. The contract is [`crate::ClientSession`]'s:
/// `handle_input`, `handle_timeout`, `poll_transmit`, `poll_event`, `poll_timeout`.
///
/// The session accepts `ssh-userauth` (RFC 4253 §10), runs RFC 4252 with the credentials
/// checked by the application ([`ServerEvent::Auth`], answered by [`ServerSession::answer_auth`];
/// a stale [`RequestId`] is ignored), sends USERAUTH_SUCCESS and switches to the connection
/// protocol in the same step, so no packet can fall between the layers. Failure delays, the
/// login grace time and the flood limit of the authentication machine run on the time given to
/// [`ServerSession::handle_timeout`]. A fatal error of any layer closes the session with the
/// DISCONNECT reason it names.
pub struct ServerSession {
    core: Core<AuthServer>,
    auth_config: Option<AuthServerConfig>,
    events: VecDeque<ServerEvent>,
}

impl ServerSession {
    crate::session_common!();

    /// A server session; its identification line and first KEXINIT are queued at once.
    pub fn new(config: ServerConfig, rng: Box<dyn Rng>, now: Instant) -> Self {
        let transport = Transport::server(config.transport, rng, now);
        ServerSession {
            core: Core::new(transport, config.connection, now),
            auth_config: config.auth,
            events: VecDeque::new(),
        }
    }

    /// Tells the session the time: key exchange deadlines, failure delays, login grace time,
    /// keepalive probes, idle limit.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.core.tell_time(now);
        let now = self.core.now;
        if let Layer::Auth(auth) = &mut self.core.layer {
            if let Err(e) = auth.handle_timeout(now) {
                self.core.fail(e.into());
            }
        }
        self.core.connection_timeout();
        self.process();
    }

    /// When [`ServerSession::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let auth = match &self.core.layer {
            Layer::Auth(auth) => auth.poll_timeout(),
            _ => None,
        };
        let layers = earliest(auth, self.core.connection_deadline());
        earliest(self.core.transport.poll_timeout(), layers)
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        if let Some(ev) = self.events.pop_front() {
            return Some(ev);
        }
        let conn = self.core.connection()?;
        conn.poll_event()
            .map(|e| ServerEvent::Common(Common::Connection(e)))
    }

    fn process(&mut self) {
        while let Some(ev) = self.core.transport.poll_event() {
            match ev {
                TransportEvent::ServiceStarted(_) => self.start_auth(),
                TransportEvent::Packet(p) => self.on_packet(&p),
                other => {
                    if let Some(c) = Common::from_transport(other, &mut self.core.closed_reported) {
                        self.events.push_back(ServerEvent::Common(c));
                    }
                }
            }
        }
        self.pump_auth();
    }

    fn start_auth(&mut self) {
        if !matches!(self.core.layer, Layer::Handshake) {
            return;
        }
        match self.auth_config.take() {
            Some(config) => self.start_machine(config),
            None => {
                self.core.layer = Layer::Ready(VecDeque::new());
                self.events.push_back(ServerEvent::ServiceReady);
            }
        }
    }

    /// Starts authentication with `config` after [`ServerEvent::ServiceReady`].
    pub fn begin_auth(&mut self, config: AuthServerConfig) -> Result<(), WrongPhase> {
        let waiting = self.core.leave_ready(Layer::Handshake)?;
        self.start_machine(config);
        for p in waiting {
            self.on_packet(&p);
        }
        self.process();
        Ok(())
    }

    /// Raw mode (conformance testing, custom authentication): sends a service payload as it
    /// is. Called in the ready phase it leaves authentication to the caller: packets from the
    /// client arrive as [`ServerEvent::ServicePacket`]; sending USERAUTH_SUCCESS starts the
    /// connection protocol. In other phases the payload bypasses the layers.
    pub fn send_service(&mut self, payload: &[u8]) -> Result<(), nacre_transport::SendError> {
        let _ = self.begin_raw();
        self.core.send_service(payload)?;
        let success = payload.first() == Some(&nacre_wire::MsgNumber::USERAUTH_SUCCESS.0);
        if success && matches!(self.core.layer, Layer::Raw) {
            self.core.start_connection();
        }
        Ok(())
    }

    /// Raw mode from the ready phase without sending anything: the packets that waited, and all
    /// later ones, arrive as [`ServerEvent::ServicePacket`].
    pub fn begin_raw(&mut self) -> Result<(), WrongPhase> {
        for p in self.core.leave_ready(Layer::Raw)? {
            self.events.push_back(ServerEvent::ServicePacket(p));
        }
        Ok(())
    }

    /// Raw mode: authentication succeeded by the caller's own exchange; the transport's
    /// re-exchange limits start counting.
    pub fn set_authenticated(&mut self) {
        self.core.transport.set_authenticated();
    }

    fn start_machine(&mut self, config: AuthServerConfig) {
        let session_id = self
            .core
            .transport
            .session_id()
            .unwrap_or_default()
            .to_vec();
        let mut auth = AuthServer::new(config, &session_id);
        // The login grace time counts from here.
        if let Err(e) = auth.handle_timeout(self.core.now) {
            self.core.fail(e.into());
        }
        self.core.layer = Layer::Auth(auth);
    }

    fn on_packet(&mut self, p: &bytes::Bytes) {
        let now = self.core.now;
        match &mut self.core.layer {
            Layer::Auth(auth) => {
                // Held by the machine while a question is open (RFC 4252 §5).
                if let Err(e) = auth.handle_packet(p, now) {
                    self.core.fail(e.into());
                }
                self.pump_auth();
            }
            Layer::Connection(_) => {
                self.core.connection_packet(p);
                while let Some(e) = self.core.connection().and_then(|c| c.poll_event()) {
                    match e {
                        ConnEvent::GlobalRequest {
                            name, data, token, ..
                        } if name == HOSTKEYS_PROVE => self.answer_prove(&data, token),
                        e => self
                            .events
                            .push_back(ServerEvent::Common(Common::Connection(e))),
                    }
                }
            }
            Layer::Ready(_) => self.core.queue_ready(p.clone()),
            Layer::Raw => self.events.push_back(ServerEvent::ServicePacket(p.clone())),
            Layer::Handshake => self.core.disconnect(
                DisconnectReason::PROTOCOL_ERROR,
                "service message before a service was started",
            ),
        }
    }

    /// Sends what authentication queued; on success switches to the connection protocol
    /// right after USERAUTH_SUCCESS is queued.
    fn pump_auth(&mut self) {
        let Layer::Auth(auth) = &mut self.core.layer else {
            return;
        };
        let mut out = Vec::new();
        while let Some(p) = auth.poll_transmit() {
            out.push(p);
        }
        let mut events = Vec::new();
        while let Some(e) = auth.poll_event() {
            events.push(e);
        }
        let after_success = auth.take_held();
        for p in out {
            self.core.send(p);
        }
        for e in events {
            match e {
                nacre_auth::ServerEvent::Success {
                    user,
                    methods,
                    key,
                    certificate,
                } => {
                    self.core.start_connection();
                    self.announce_host_keys();
                    self.events.push_back(ServerEvent::Authenticated {
                        user,
                        methods,
                        key,
                        certificate,
                    });
                    // What the client pipelined behind the request that succeeded.
                    for p in &after_success {
                        self.on_packet(&bytes::Bytes::copy_from_slice(p));
                    }
                }
                question => self.events.push_back(ServerEvent::Auth(question)),
            }
        }
    }

    /// Lists the host keys to the client (`hostkeys-00@openssh.com`, OpenSSH PROTOCOL §2.5), as
    /// sshd does once the user is authenticated, so that a client can learn new keys and
    /// forget retired ones (OpenSSH's `UpdateHostKeys`). Certificates are never listed.
    fn announce_host_keys(&mut self) {
        let keys = self.core.transport.config().host_keys.clone();
        if keys.is_empty() {
            return;
        }
        let data = host_keys::offer(&keys);
        if let Some(conn) = self.core.connection() {
            conn.global_request(HOSTKEYS, &data, false);
        }
    }

    /// Answers `hostkeys-prove-00@openssh.com`: a signature by each requested host key, or
    /// REQUEST_FAILURE when one is not ours (sshd's `server_input_hostkeys_prove`).
    fn answer_prove(&mut self, data: &[u8], token: nacre_connection::ReplyToken) {
        let transport = &self.core.transport;
        let session_id = transport.session_id().unwrap_or_default().to_vec();
        let answer = match transport.negotiated() {
            Some(n) => {
                host_keys::prove(&session_id, n.host_key, &transport.config().host_keys, data)
            }
            None => Err(host_keys::HostKeysError::UnknownKey),
        };
        let Some(conn) = self.core.connection() else {
            return;
        };
        match answer {
            Ok(reply) => conn.reply_global(token, true, &reply),
            Err(e) => {
                tracing::debug!(%e, "refusing hostkeys-prove-00@openssh.com");
                conn.reply_global(token, false, &[]);
            }
        }
    }

    /// Answers an authentication question; a stale `id` is ignored.
    pub fn answer_auth(&mut self, id: RequestId, decision: Decision) -> Result<(), WrongPhase> {
        let now = self.core.now;
        let Layer::Auth(auth) = &mut self.core.layer else {
            return Err(WrongPhase);
        };
        if let Err(e) = auth.decide(id, decision, now) {
            self.core.fail(e.into());
        }
        self.pump_auth();
        self.process();
        Ok(())
    }

    /// Failed authentication attempts so far (0 once authenticated).
    pub fn auth_failures(&self) -> u32 {
        match &self.core.layer {
            Layer::Auth(auth) => auth.failures(),
            _ => 0,
        }
    }

    /// Whether the session takes input now (false while an answer it waits for is pending,
    /// so a reader stops and the peer's bytes stay in the socket).
    pub fn wants_input(&self) -> bool {
        // Requests pipelined behind an open question (or a delayed failure) are held by the
        // authentication machine, and the reader stops until they are handled; a reader that
        // stopped for the question alone would not see the peer close (and a server would hold
        // its MaxStartups slot for the whole check).
        let held = match &self.core.layer {
            Layer::Auth(auth) => auth.held(),
            _ => 0,
        };
        self.core.transport.wants_input() && held == 0
    }
}
