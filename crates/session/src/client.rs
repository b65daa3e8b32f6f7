//! The client's session: transport, [`AuthClient`] and the connection protocol behind one contract.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use nacre_auth::msg::InfoRequest;
use nacre_auth::AuthClient;
use nacre_connection::ConnectionConfig;
use nacre_crypto::Rng;
use nacre_keys::{PublicKey, SignatureAlgorithm};
use nacre_transport::{Event as TransportEvent, Transport};
use nacre_wire::DisconnectReason;
use zeroize::Zeroizing;

use crate::core::{earliest, Core, Layer};
use crate::{AnswerId, Common, WrongPhase, SERVICE};

/// Settings of a [`ClientSession`].
#[derive(Clone)]
pub struct ClientConfig {
    /// Transport settings (algorithms, limits, version string).
    pub transport: Arc<nacre_transport::Config>,
    /// The user to authenticate as.
    pub user: String,
    /// Channel windows and limits of the connection protocol.
    pub connection: ConnectionConfig,
    /// OpenSSH's PubkeyAcceptedAlgorithms: the signature algorithms publickey may use (`None`:
    /// every algorithm the server announces).
    pub pubkey_algorithms: Option<Vec<SignatureAlgorithm>>,
    /// Start authentication (`none`, to learn the methods) as soon as the server accepts the
    /// service (the default). When false the session reports [`ClientEvent::ServiceReady`] and
    /// waits for [`ClientSession::begin_auth`] or raw use ([`ClientSession::send_service`]).
    pub start_auth: bool,
}

impl ClientConfig {
    /// Default transport and connection settings for `user`.
    pub fn new(user: &str) -> Self {
        ClientConfig {
            transport: Arc::new(nacre_transport::Config::client()),
            user: user.to_owned(),
            connection: ConnectionConfig::default(),
            pubkey_algorithms: None,
            start_auth: true,
        }
    }
}

/// What a [`ClientSession`] reports, or asks the application to answer.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// The server proved possession of this host key (first exchange and every re-exchange).
    /// Answer with [`ClientSession::answer_host_key`]; the exchange waits until then.
    HostKey {
        /// Names this question.
        id: AnswerId,
        /// The server's host key.
        key: PublicKey,
        /// The signature algorithm it signed with.
        algorithm: SignatureAlgorithm,
        /// The OpenSSH host certificate the server presented, if any (PROTOCOL.certkeys; CA
        /// signature verified, trust and validity for the application to check).
        certificate: Option<Box<nacre_keys::Certificate>>,
    },
    /// Authentication can start, or the last attempt failed: `methods` can continue
    /// (RFC 4252 §5.1). The first one answers the `none` probe the session sends by itself.
    AuthMethods {
        /// Methods that can continue.
        methods: Vec<String>,
        /// The last request succeeded but more is required.
        partial_success: bool,
    },
    /// The server's banner, to show the user (RFC 4252 §5.4).
    Banner(String),
    /// The server wants the password changed (RFC 4252 §8): answer with
    /// [`ClientSession::change_password`].
    PasswordChangeRequested {
        /// The server's prompt.
        prompt: String,
    },
    /// The server accepts this key: sign `data` and answer with [`ClientSession::answer_signature`].
    SignRequest {
        /// Names this question.
        id: AnswerId,
        /// The key.
        key: PublicKey,
        /// The signature algorithm to use.
        algorithm: SignatureAlgorithm,
        /// The bytes to sign (RFC 4252 §7).
        data: Vec<u8>,
    },
    /// Keyboard-interactive prompts (RFC 4256 §3.2): answer with [`ClientSession::answer_info`].
    InfoRequest {
        /// Names this question.
        id: AnswerId,
        /// The prompts.
        request: InfoRequest,
    },
    /// Authenticated: [`ClientSession::connection`] is available from now on.
    Authenticated,
    /// The server accepted `ssh-userauth` and [`ClientConfig::start_auth`] is off: call
    /// [`ClientSession::begin_auth`], or speak the service protocol with
    /// [`ClientSession::send_service`].
    ServiceReady,
    /// Raw mode: a service packet from the server, as it is (message number 50 or above).
    ServicePacket(bytes::Bytes),
    /// What every session reports (connection-protocol events, key exchanges, the close).
    Common(Common),
}

/// Authentication in progress, with the question the application has not answered yet.
struct ClientAuth {
    machine: AuthClient,
    /// The open signature or keyboard-interactive question.
    question: Option<AnswerId>,
}

/// One SSH client connection with no I/O of its own: key exchange, user authentication and
/// channels, driven by the caller.
///
/// The contract (as quinn-proto's):
///
/// ```text
/// handle_input(&[u8])          bytes from the server, in any split (one byte at a time works)
/// handle_timeout(now)          time is passed in, never read; call it before input too
/// poll_transmit(&mut Vec<u8>)  bytes to send, appended to the caller's buffer
/// poll_event() -> ClientEvent  what the application must see or answer
/// poll_timeout() -> Instant    when handle_timeout must be called next
/// ```
///
/// Questions (host key, signature, prompts) carry an [`AnswerId`]; an answer whose id is not
/// the open question's is ignored, so a late or stale answer is harmless. Authentication starts
/// by itself once keys are in use (`ssh-userauth`, then `none` to learn the methods); after
/// [`ClientEvent::Authenticated`] the connection protocol is reached with
/// [`ClientSession::connection`], and what it queues leaves with the next `poll_transmit`.
/// A fatal error of any layer closes the session with the DISCONNECT reason it names.
pub struct ClientSession {
    core: Core<ClientAuth>,
    user: String,
    pubkey_algorithms: Option<Vec<SignatureAlgorithm>>,
    start_auth: bool,
    host_key: Option<AnswerId>,
    next_id: u64,
    events: VecDeque<ClientEvent>,
}

impl ClientSession {
    crate::session_common!();

    /// A client session; its identification line and first KEXINIT are queued at once.
    pub fn new(config: ClientConfig, rng: Box<dyn Rng>, now: Instant) -> Self {
        let mut transport = Transport::client(config.transport, rng, now);
        transport.request_service(SERVICE);
        ClientSession {
            core: Core::new(transport, config.connection, now),
            user: config.user,
            pubkey_algorithms: config.pubkey_algorithms,
            start_auth: config.start_auth,
            host_key: None,
            next_id: 0,
            events: VecDeque::new(),
        }
    }

    /// Tells the session the time: key exchange deadlines, keepalive probes, idle limit.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.core.tell_time(now);
        self.core.connection_timeout();
        self.process();
    }

    /// When [`ClientSession::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        earliest(
            self.core.transport.poll_timeout(),
            self.core.connection_deadline(),
        )
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        if let Some(ev) = self.events.pop_front() {
            return Some(ev);
        }
        let conn = self.core.connection()?;
        conn.poll_event()
            .map(|e| ClientEvent::Common(Common::Connection(e)))
    }

    fn new_id(&mut self) -> AnswerId {
        self.next_id += 1;
        AnswerId(self.next_id)
    }

    /// Drains the transport's events into the layers and the application's queue.
    fn process(&mut self) {
        while let Some(ev) = self.core.transport.poll_event() {
            match ev {
                TransportEvent::HostKey {
                    key,
                    algorithm,
                    certificate,
                } => {
                    let id = self.new_id();
                    self.host_key = Some(id);
                    self.events.push_back(ClientEvent::HostKey {
                        id,
                        key,
                        algorithm,
                        certificate,
                    });
                }
                TransportEvent::ServiceAccepted(_) => self.on_service_accepted(),
                TransportEvent::Packet(p) => self.on_packet(&p),
                other => {
                    if let Some(c) = Common::from_transport(other, &mut self.core.closed_reported) {
                        self.events.push_back(ClientEvent::Common(c));
                    }
                }
            }
        }
        self.pump_auth();
    }

    fn on_service_accepted(&mut self) {
        if !matches!(self.core.layer, Layer::Handshake) {
            return;
        }
        if self.start_auth {
            let user = self.user.clone();
            self.start_machine(&user);
        } else {
            self.core.layer = Layer::Ready(VecDeque::new());
            self.events.push_back(ClientEvent::ServiceReady);
        }
    }

    /// Starts authentication as `user` after [`ClientEvent::ServiceReady`] (the `none` request
    /// goes first, to learn the methods).
    pub fn begin_auth(&mut self, user: &str) -> Result<(), WrongPhase> {
        let waiting = self.core.leave_ready(Layer::Handshake)?;
        self.start_machine(user);
        for p in waiting {
            self.on_packet(&p);
        }
        self.pump_auth();
        Ok(())
    }

    /// Raw mode (conformance testing, custom authentication): sends a service payload as it is.
    /// Called in the ready phase it leaves authentication to the caller: packets from the server
    /// arrive as [`ClientEvent::ServicePacket`] until USERAUTH_SUCCESS, which starts the
    /// connection protocol. In other phases the payload bypasses the layers.
    pub fn send_service(&mut self, payload: &[u8]) -> Result<(), nacre_transport::SendError> {
        let _ = self.begin_raw();
        self.core.send_service(payload)
    }

    /// Raw mode from the ready phase without sending anything: the packets that waited, and all
    /// later ones until USERAUTH_SUCCESS, arrive as [`ClientEvent::ServicePacket`].
    pub fn begin_raw(&mut self) -> Result<(), WrongPhase> {
        for p in self.core.leave_ready(Layer::Raw)? {
            self.on_packet(&p);
        }
        Ok(())
    }

    /// Raw mode: authentication succeeded by the caller's own exchange; the transport's
    /// re-exchange limits start counting.
    pub fn set_authenticated(&mut self) {
        self.core.transport.set_authenticated();
    }

    fn start_machine(&mut self, user: &str) {
        let session_id = self
            .core
            .transport
            .session_id()
            .unwrap_or_default()
            .to_vec();
        let mut machine = AuthClient::new(user, &session_id, self.core.transport.server_sig_algs());
        if let Some(a) = self.pubkey_algorithms.clone() {
            machine.set_pubkey_algorithms(a);
        }
        self.core.layer = Layer::Auth(ClientAuth {
            machine,
            question: None,
        });
    }

    fn on_packet(&mut self, p: &bytes::Bytes) {
        match &mut self.core.layer {
            Layer::Auth(auth) => {
                if let Err(e) = auth.machine.handle_packet(p) {
                    self.core.fail(e.into());
                }
                // USERAUTH_SUCCESS switches to the connection protocol before the next packet
                // of the same read is handled (sshd sends hostkeys-00@openssh.com right
                // behind it).
                self.pump_auth();
            }
            Layer::Connection(_) => {
                self.core.connection_packet(p);
                self.drain_connection_events();
            }
            Layer::Ready(_) => self.core.queue_ready(p.clone()),
            Layer::Raw => {
                self.events.push_back(ClientEvent::ServicePacket(p.clone()));
                if p.first() == Some(&nacre_wire::MsgNumber::USERAUTH_SUCCESS.0) {
                    self.core.start_connection();
                    self.events.push_back(ClientEvent::Authenticated);
                }
            }
            Layer::Handshake => self.core.disconnect(
                DisconnectReason::PROTOCOL_ERROR,
                "service message before the service was accepted",
            ),
        }
    }

    /// Keeps connection events in order with the session's own (a close comes after the data).
    fn drain_connection_events(&mut self) {
        if let Some(conn) = self.core.connection() {
            while let Some(e) = conn.poll_event() {
                self.events
                    .push_back(ClientEvent::Common(Common::Connection(e)));
            }
        }
    }

    /// Sends what authentication queued and turns its events into the application's.
    fn pump_auth(&mut self) {
        let Layer::Auth(auth) = &mut self.core.layer else {
            return;
        };
        let mut out = Vec::new();
        let mut events = Vec::new();
        while let Some(p) = auth.machine.poll_transmit() {
            out.push(p);
        }
        while let Some(e) = auth.machine.poll_event() {
            events.push(e);
        }
        for p in out {
            self.core.send(p);
        }
        for e in events {
            self.on_auth_event(e);
        }
    }

    fn on_auth_event(&mut self, e: nacre_auth::ClientEvent) {
        use nacre_auth::ClientEvent as A;
        let ev = match e {
            A::Banner(text) => ClientEvent::Banner(text),
            A::Failure {
                methods,
                partial_success,
            } => ClientEvent::AuthMethods {
                methods,
                partial_success,
            },
            A::PasswordChangeRequested { prompt } => {
                ClientEvent::PasswordChangeRequested { prompt }
            }
            A::SignRequest {
                key,
                algorithm,
                data,
            } => {
                let id = self.ask();
                ClientEvent::SignRequest {
                    id,
                    key,
                    algorithm,
                    data,
                }
            }
            A::InfoRequest(request) => {
                let id = self.ask();
                ClientEvent::InfoRequest { id, request }
            }
            A::Success => {
                self.core.start_connection();
                ClientEvent::Authenticated
            }
        };
        self.events.push_back(ev);
    }

    /// Opens a question of the authentication phase.
    fn ask(&mut self) -> AnswerId {
        let id = self.new_id();
        if let Layer::Auth(auth) = &mut self.core.layer {
            auth.question = Some(id);
        }
        id
    }

    /// Answers [`ClientEvent::HostKey`]: `trusted` lets the exchange go on, otherwise the
    /// connection ends with HOST_KEY_NOT_VERIFIABLE. A stale id is ignored.
    pub fn answer_host_key(&mut self, id: AnswerId, trusted: bool) {
        if self.host_key != Some(id) {
            return;
        }
        self.host_key = None;
        if trusted {
            self.core.transport.accept_host_key();
        } else {
            self.core.transport.reject_host_key();
        }
        self.process();
    }

    fn auth(&mut self) -> Result<&mut ClientAuth, WrongPhase> {
        match &mut self.core.layer {
            Layer::Auth(auth) => Ok(auth),
            _ => Err(WrongPhase),
        }
    }

    /// Runs `f` on the authentication machine, then sends what it queued.
    fn with_auth(&mut self, f: impl FnOnce(&mut ClientAuth)) -> Result<(), WrongPhase> {
        f(self.auth()?);
        self.pump_auth();
        Ok(())
    }

    /// Tries a password (RFC 4252 §8).
    pub fn auth_password(&mut self, password: &str) -> Result<(), WrongPhase> {
        self.with_auth(|a| a.machine.password(password))
    }

    /// Answers [`ClientEvent::PasswordChangeRequested`].
    pub fn change_password(&mut self, old: &str, new: &str) -> Result<(), WrongPhase> {
        self.with_auth(|a| a.machine.change_password(old, new))
    }

    /// Offers a public key (RFC 4252 §7): a query first; [`ClientEvent::SignRequest`] follows
    /// if the server accepts it.
    pub fn auth_publickey(&mut self, key: &PublicKey) -> Result<(), WrongPhase> {
        self.with_auth(|a| a.machine.publickey(key))
    }

    /// Offers an OpenSSH certificate (PROTOCOL.certkeys): a query first; the
    /// [`ClientEvent::SignRequest`] that follows asks for a signature by the certified key.
    pub fn auth_certificate(&mut self, cert: &nacre_keys::Certificate) -> Result<(), WrongPhase> {
        self.with_auth(|a| a.machine.publickey_certificate(cert))
    }

    /// The signature algorithm publickey would use for `key`, if any is allowed.
    pub fn usable_algorithm(&self, key: &PublicKey) -> Option<SignatureAlgorithm> {
        match &self.core.layer {
            Layer::Auth(a) => a.machine.usable_algorithm(key),
            _ => None,
        }
    }

    /// Answers [`ClientEvent::SignRequest`] with the signature blob (as an agent returns it).
    pub fn answer_signature(&mut self, id: AnswerId, signature: &[u8]) -> Result<(), WrongPhase> {
        self.with_auth(|a| {
            if a.question.take_if(|q| *q == id).is_some() {
                a.machine.signature(signature);
            }
        })
    }

    /// Gives up the open [`ClientEvent::SignRequest`] (the key cannot sign after all): nothing
    /// is sent, and [`ClientEvent::AuthMethods`] reports the methods as they were, so the
    /// application goes on with its next credential.
    pub fn skip_signature(&mut self) -> Result<(), WrongPhase> {
        let auth = self.auth()?;
        if auth.question.take().is_none() {
            return Ok(());
        }
        let methods = auth
            .machine
            .allowed_methods()
            .map(<[String]>::to_vec)
            .unwrap_or_default();
        self.events.push_back(ClientEvent::AuthMethods {
            methods,
            partial_success: false,
        });
        Ok(())
    }

    /// Limits publickey to these signature algorithms (OpenSSH's PubkeyAcceptedAlgorithms),
    /// from now on.
    pub fn set_pubkey_algorithms(&mut self, algorithms: Vec<SignatureAlgorithm>) {
        if let Layer::Auth(a) = &mut self.core.layer {
            a.machine.set_pubkey_algorithms(algorithms.clone());
        }
        self.pubkey_algorithms = Some(algorithms);
    }

    /// Starts keyboard-interactive (RFC 4256 §3.1).
    pub fn auth_keyboard_interactive(&mut self, submethods: &str) -> Result<(), WrongPhase> {
        self.with_auth(|a| a.machine.keyboard_interactive(submethods))
    }

    /// Answers [`ClientEvent::InfoRequest`] with one response per prompt.
    pub fn answer_info(
        &mut self,
        id: AnswerId,
        responses: Vec<Zeroizing<String>>,
    ) -> Result<(), WrongPhase> {
        self.with_auth(|a| {
            if a.question.take_if(|q| *q == id).is_some() {
                a.machine.info_response(responses);
            }
        })
    }

    /// Methods the server said can continue (after the first answer).
    pub fn allowed_methods(&self) -> Option<&[String]> {
        match &self.core.layer {
            Layer::Auth(a) => a.machine.allowed_methods(),
            _ => None,
        }
    }

    /// Whether the session takes input now (false while an answer it waits for is pending,
    /// so a reader stops and the peer's bytes stay in the socket).
    pub fn wants_input(&self) -> bool {
        self.core.transport.wants_input()
    }
}
