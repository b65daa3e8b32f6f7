//! A whole nacre client and a whole nacre server in memory: [`SessionPair`] drives a
//! [`ClientSession`] and a [`ServerSession`] through key exchange, authentication and a channel
//! on a simulated clock with seeded randomness, with no sockets, threads or runtime. The same
//! seed and settings give the same bytes on the wire, byte for byte.
//!
//! The two applications are scripted ([`ClientScript`]): the client trusts (or not) the host
//! key, tries a password, opens a session channel, runs a command and streams a payload; the
//! server checks the password and runs the channel's [`Service`] (an echo by default; the SFTP
//! server in the SFTP tests). Bytes between the sides go through two [`Link`]s, where a test
//! drops, delays, duplicates, reorders or corrupts them.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use nacre_auth::{AuthServerConfig, Decision, ServerEvent as Question};
use nacre_connection::{ChannelId, ChannelKind, ConnectionConfig, Event as Conn, RequestKind};
use nacre_crypto::SeededRng;
use nacre_session::{
    ClientConfig, ClientEvent, ClientSession, Common, ServerConfig, ServerEvent, ServerSession,
};

use crate::link::Link;

/// What the server runs on a channel once its command or subsystem started.
pub trait Service {
    /// Channel data from the client; returns the bytes to send back.
    fn on_data(&mut self, data: &[u8]) -> Vec<u8>;
    /// The exit status sent once the client sent EOF and every reply went out.
    fn exit_status(&self) -> u32 {
        0
    }
}

/// Sends back what it receives.
#[derive(Debug, Default)]
pub struct Echo;

impl Service for Echo {
    fn on_data(&mut self, data: &[u8]) -> Vec<u8> {
        data.to_vec()
    }
}

/// Makes the server's [`Service`] for a channel request (`exec` or `subsystem`); `None` refuses it.
pub type ServiceFactory = Box<dyn FnMut(&RequestKind) -> Option<Box<dyn Service>>>;

/// What the two applications do.
pub struct ClientScript {
    /// The client trusts the server's host key.
    pub trust_host_key: bool,
    /// The user name.
    pub user: String,
    /// The password the client tries.
    pub password: String,
    /// The password the server accepts.
    pub server_password: String,
    /// The request that starts the channel's service.
    pub request: RequestKind,
    /// What the client streams on the channel (then EOF).
    pub payload: Vec<u8>,
}

impl Default for ClientScript {
    fn default() -> Self {
        ClientScript {
            trust_host_key: true,
            user: "alice".to_owned(),
            password: "secret".to_owned(),
            server_password: "secret".to_owned(),
            request: RequestKind::Exec {
                command: b"cat".to_vec(),
            },
            payload: b"hello over a simulated link".to_vec(),
        }
    }
}

/// The client application's state.
#[derive(Debug, Default)]
pub struct ClientApp {
    /// The password was tried.
    pub tried_password: bool,
    /// The channel, once opened.
    pub channel: Option<ChannelId>,
    /// Payload bytes not yet taken by the channel's window.
    pub to_send: VecDeque<u8>,
    /// EOF was sent.
    pub eof_sent: bool,
    /// Data received on the channel.
    pub received: Vec<u8>,
    /// The exit status, once received.
    pub exit_status: Option<u32>,
    /// The channel closed.
    pub closed: bool,
    /// With SFTP: the client's script (the channel carries its packets, not the payload).
    pub sftp: Option<crate::sftp_pair::SftpApp>,
}

/// The server application's state.
#[derive(Default)]
struct ServerApp {
    service: Option<Box<dyn Service>>,
    channel: Option<ChannelId>,
    to_send: VecDeque<u8>,
    client_eof: bool,
    exit_sent: bool,
    closed: bool,
}

/// A client and a server session joined by two simulated links.
///
/// The default script logs in with a password, runs `cat` on the server's echo service and
/// streams a payload through it:
///
/// ```
/// use std::time::Duration;
/// use nacre_testkit::{ClientScript, SessionPair};
///
/// let mut pair = SessionPair::new(ClientScript::default(), 7);
/// pair.to_server.delay = Duration::from_millis(20); // a 40 ms round trip
/// pair.drive();
/// assert!(pair.authenticated());
/// assert_eq!(pair.app.received, b"hello over a simulated link");
/// assert_eq!(pair.app.exit_status, Some(0));
/// assert!(pair.app.closed);
///
/// // Same seed, same settings: the same bytes on the wire.
/// let mut again = SessionPair::new(ClientScript::default(), 7);
/// again.to_server.delay = Duration::from_millis(20);
/// again.drive();
/// assert_eq!(again.client_wire, pair.client_wire);
/// ```
pub struct SessionPair {
    /// The client session.
    pub client: ClientSession,
    /// The server session.
    pub server: ServerSession,
    /// Simulated time.
    pub now: Instant,
    /// Client to server.
    pub to_server: Link,
    /// Server to client.
    pub to_client: Link,
    /// The scripted applications' settings.
    pub script: ClientScript,
    /// The client application's state.
    pub app: ClientApp,
    server_app: ServerApp,
    services: ServiceFactory,
    /// Every event the client reported, in order.
    pub client_events: Vec<ClientEvent>,
    /// Every event the server reported, in order.
    pub server_events: Vec<ServerEvent>,
    /// Every byte the client sent (before the link's faults).
    pub client_wire: Vec<u8>,
    /// Every byte the server sent (before the link's faults).
    pub server_wire: Vec<u8>,
}

/// The settings of a pair with default algorithms and every host key type.
pub fn default_configs(user: &str) -> (ClientConfig, ServerConfig) {
    let client = ClientConfig::new(user);
    let server = ServerConfig {
        transport: Arc::new(nacre_transport::Config::server(crate::all_host_keys())),
        auth: Some(AuthServerConfig::default()),
        connection: ConnectionConfig::default(),
    };
    (client, server)
}

impl SessionPair {
    /// A pair with default settings; `seed` fixes both sides' randomness.
    pub fn new(script: ClientScript, seed: u64) -> Self {
        let (client, server) = default_configs(&script.user);
        Self::with_configs(client, server, script, seed)
    }

    /// A pair with these settings.
    pub fn with_configs(
        mut client: ClientConfig,
        server: ServerConfig,
        script: ClientScript,
        seed: u64,
    ) -> Self {
        let now = Instant::now();
        client.user.clone_from(&script.user);
        let app = ClientApp {
            to_send: script.payload.iter().copied().collect(),
            ..ClientApp::default()
        };
        SessionPair {
            client: ClientSession::new(client, Box::new(SeededRng::new(seed)), now),
            server: ServerSession::new(server, Box::new(SeededRng::new(seed ^ 0x5eed)), now),
            now,
            to_server: Link::default(),
            to_client: Link::default(),
            script,
            app,
            server_app: ServerApp::default(),
            services: Box::new(|_| Some(Box::new(Echo))),
            client_events: Vec::new(),
            server_events: Vec::new(),
            client_wire: Vec::new(),
            server_wire: Vec::new(),
        }
    }

    /// A pair whose channel runs the `sftp` subsystem: the server is nacre's SFTP dispatcher over
    /// an in-memory file system, the client's `ClientProto` uploads `file` and downloads it again
    /// ([`crate::sftp_pair::SftpApp`]).
    ///
    /// ```
    /// let file: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
    /// let mut pair = nacre_testkit::SessionPair::sftp(file.clone(), 3);
    /// pair.drive();
    /// let sftp = pair.app.sftp.as_ref().expect("an SFTP script");
    /// assert_eq!(sftp.result, Some(Ok(())));
    /// assert_eq!(sftp.downloaded, file);
    /// ```
    pub fn sftp(file: Vec<u8>, seed: u64) -> Self {
        let script = ClientScript {
            request: RequestKind::Subsystem {
                name: "sftp".to_owned(),
            },
            payload: Vec::new(),
            ..ClientScript::default()
        };
        let mut pair = SessionPair::new(script, seed);
        pair.app.sftp = Some(crate::sftp_pair::SftpApp::new(file));
        pair.set_services(Box::new(|req| match req {
            RequestKind::Subsystem { name } if name == "sftp" => {
                Some(Box::new(crate::sftp_pair::SftpService::default()))
            }
            _ => None,
        }));
        pair
    }

    /// Sets what the server runs for a channel's `exec` or `subsystem` request.
    pub fn set_services(&mut self, services: ServiceFactory) {
        self.services = services;
    }

    /// Moves bytes, events and answers until nothing more happens without a timer; in-flight
    /// delays advance the clock. Returns the number of steps taken.
    pub fn drive(&mut self) -> usize {
        for step in 0..1_000_000 {
            if !self.step() {
                match earliest_arrival(&self.to_server, &self.to_client) {
                    Some(t) => self.set_time(t),
                    None => return step,
                }
            }
        }
        panic!("session pair did not settle");
    }

    /// Advances the simulated clock by `d`, tells both sessions, and drives.
    pub fn advance(&mut self, d: Duration) {
        self.set_time(self.now + d);
        self.drive();
    }

    fn set_time(&mut self, t: Instant) {
        self.now = self.now.max(t);
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
    }

    /// One round: transmit, deliver, handle events. False when nothing moved.
    pub fn step(&mut self) -> bool {
        let mut progress = false;
        let mut buf = Vec::new();
        if self.client.poll_transmit(&mut buf) > 0 {
            self.client_wire.extend_from_slice(&buf);
            self.to_server.send(self.now, &buf);
            progress = true;
        }
        buf.clear();
        if self.server.poll_transmit(&mut buf) > 0 {
            self.server_wire.extend_from_slice(&buf);
            self.to_client.send(self.now, &buf);
            progress = true;
        }
        for bytes in self.to_server.arrivals(self.now) {
            self.server.handle_input(&bytes);
            progress = true;
        }
        for bytes in self.to_client.arrivals(self.now) {
            self.client.handle_input(&bytes);
            progress = true;
        }
        while let Some(ev) = self.client.poll_event() {
            self.on_client_event(&ev);
            self.client_events.push(ev);
            progress = true;
        }
        while let Some(ev) = self.server.poll_event() {
            self.on_server_event(&ev);
            self.server_events.push(ev);
            progress = true;
        }
        progress |= self.client_send();
        progress |= self.server_send();
        progress
    }

    fn on_client_event(&mut self, ev: &ClientEvent) {
        let c = &mut self.client;
        match ev {
            ClientEvent::HostKey { id, .. } => c.answer_host_key(*id, self.script.trust_host_key),
            ClientEvent::AuthMethods { .. } if !self.app.tried_password => {
                self.app.tried_password = true;
                let _ = c.auth_password(&self.script.password);
            }
            ClientEvent::Authenticated => {
                if let Some(conn) = c.connection() {
                    conn.open(ChannelKind::Session);
                }
            }
            ClientEvent::Common(Common::Connection(e)) => self.on_client_channel(e),
            _ => {}
        }
    }

    fn on_client_channel(&mut self, e: &Conn) {
        let Some(conn) = self.client.connection() else {
            return;
        };
        match e {
            Conn::Opened { id } => {
                self.app.channel = Some(*id);
                conn.request(*id, &self.script.request, true);
            }
            Conn::Data { id, data, .. } => {
                match self.app.sftp.as_mut() {
                    Some(sftp) => sftp.handle_input(self.now, data),
                    None => self.app.received.extend_from_slice(data),
                }
                conn.consume(*id, data.len());
            }
            Conn::Request {
                request: RequestKind::ExitStatus { code: status },
                ..
            } => self.app.exit_status = Some(*status),
            Conn::Eof { id } => conn.close(*id),
            Conn::Closed { .. } => self.app.closed = true,
            _ => {}
        }
    }

    /// Streams the payload as the window allows, then EOF.
    fn client_send(&mut self) -> bool {
        let (Some(id), Some(conn)) = (self.app.channel, self.client.connection()) else {
            return false;
        };
        let mut no_eof_yet = true;
        let eof = match self.app.sftp.as_mut() {
            Some(sftp) => {
                sftp.advance(self.now);
                while let Some(bytes) = sftp.transmit() {
                    self.app.to_send.extend(bytes.iter());
                }
                if sftp.finished() {
                    &mut self.app.eof_sent
                } else {
                    &mut no_eof_yet
                }
            }
            None => &mut self.app.eof_sent,
        };
        send_queued(conn, id, &mut self.app.to_send, eof)
    }

    fn on_server_event(&mut self, ev: &ServerEvent) {
        match ev {
            ServerEvent::Auth(q) => {
                let (id, decision) = match q {
                    Question::Password { id, password, .. } => {
                        let ok = password.as_str() == self.script.server_password;
                        (
                            *id,
                            if ok {
                                Decision::Accept
                            } else {
                                Decision::Reject
                            },
                        )
                    }
                    Question::PublicKeyQuery { id, .. }
                    | Question::PublicKeyVerified { id, .. }
                    | Question::KeyboardInteractive { id, .. }
                    | Question::KeyboardResponses { id, .. } => (*id, Decision::Reject),
                    Question::Success { .. } => return,
                };
                let _ = self.server.answer_auth(id, decision);
            }
            ServerEvent::Common(Common::Connection(e)) => self.on_server_channel(e),
            _ => {}
        }
    }

    fn on_server_channel(&mut self, e: &Conn) {
        let Some(conn) = self.server.connection() else {
            return;
        };
        let app = &mut self.server_app;
        match e {
            Conn::OpenRequest { id, kind } => {
                if matches!(kind, ChannelKind::Session) && app.channel.is_none() {
                    app.channel = Some(*id);
                    conn.accept_open(*id);
                } else {
                    conn.reject_open(
                        *id,
                        nacre_wire::ChannelOpenFailureReason::ADMINISTRATIVELY_PROHIBITED,
                        "one session per pair",
                    );
                }
            }
            Conn::Request {
                id,
                request,
                want_reply,
                token,
            } => {
                let starts = matches!(
                    request,
                    RequestKind::Exec { .. } | RequestKind::Subsystem { .. }
                );
                let service = if starts && app.service.is_none() {
                    (self.services)(request)
                } else {
                    None
                };
                let ok = service.is_some();
                app.service = app.service.take().or(service);
                if *want_reply {
                    conn.reply_request(*id, *token, ok);
                }
            }
            Conn::Data { id, data, .. } => {
                if let Some(s) = app.service.as_mut() {
                    app.to_send.extend(s.on_data(data));
                }
                conn.consume(*id, data.len());
            }
            Conn::Eof { .. } => app.client_eof = true,
            Conn::Closed { .. } => app.closed = true,
            _ => {}
        }
    }

    /// Sends the service's replies as the window allows; once the client sent EOF and all went
    /// out: exit status, EOF, close.
    fn server_send(&mut self) -> bool {
        let app = &mut self.server_app;
        let (Some(id), Some(conn)) = (app.channel, self.server.connection()) else {
            return false;
        };
        let mut progress = false;
        if !app.to_send.is_empty() {
            let mut no_eof = true;
            progress = send_queued(conn, id, &mut app.to_send, &mut no_eof);
        }
        if app.client_eof && app.to_send.is_empty() && !app.exit_sent && !app.closed {
            let status = app.service.as_ref().map_or(0, |s| s.exit_status());
            conn.request(id, &RequestKind::ExitStatus { code: status }, false);
            conn.eof(id);
            conn.close(id);
            app.exit_sent = true;
            progress = true;
        }
        progress
    }

    /// Whether both sides are authenticated.
    pub fn authenticated(&self) -> bool {
        self.client.is_authenticated() && self.server.is_authenticated()
    }

    /// The reason each side closed, if it did.
    pub fn closed(&self) -> (Option<String>, Option<String>) {
        (
            self.client.close_reason().map(ToString::to_string),
            self.server.close_reason().map(ToString::to_string),
        )
    }
}

/// Sends what the window takes from `queue`; EOF once empty unless `eof_sent` is already set.
fn send_queued(
    conn: &mut nacre_connection::ConnectionProtocol,
    id: ChannelId,
    queue: &mut VecDeque<u8>,
    eof_sent: &mut bool,
) -> bool {
    let mut progress = false;
    while !queue.is_empty() {
        let room = conn.send_capacity(id).min(queue.len()).min(64 * 1024);
        if room == 0 {
            break;
        }
        let chunk: Vec<u8> = queue.drain(..room).collect();
        let taken = conn.send_data_bytes(id, None, Bytes::from(chunk));
        progress |= taken > 0;
    }
    if queue.is_empty() && !*eof_sent {
        conn.eof(id);
        *eof_sent = true;
        progress = true;
    }
    progress
}

fn earliest_arrival(a: &Link, b: &Link) -> Option<Instant> {
    match (a.next_arrival(), b.next_arrival()) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}
