//! The handle an application holds for one SSH connection, client or server.

use std::sync::Arc;

use bytes::Bytes;
use nacre_connection::ConnectionConfig;
use nacre_crypto::SystemRng;
use nacre_session::{ClientSession, ServerSession};
use nacre_transport::{Config, TransportError};
use nacre_wire::DisconnectReason;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio::sync::{mpsc, oneshot};

use crate::channel::{Channel, ExitStatus};
use crate::command::{Command, Handle, HandleRef};
use crate::driver::{Driver, Ended, HostKeyVerifier, Up};
use crate::error::Error;
use crate::info::ConnectionInfo;
use crate::machine::Machine;
use crate::mux::IncomingChannel;
use nacre_connection::ChannelKind;

/// What [`Connection::exec`] collected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
    /// Exit status or signal, if the server sent one.
    pub status: Option<ExitStatus>,
}

/// An SSH connection: from [`crate::Client::builder`] (authenticated), or [`Connection::connect`]
/// / [`Connection::accept`] (transport up, `ssh-userauth` active: authenticate with
/// `authenticate*` / `authenticate_client`). Channels, exec, SFTP and forwarding once
/// authenticated; [`Connection::raw`] for conformance tests that speak the service layer's
/// messages themselves.
pub struct Connection {
    info: ConnectionInfo,
    up: mpsc::Receiver<Up>,
    pub(crate) commands: HandleRef,
    pub(crate) done: Option<oneshot::Receiver<Ended>>,
    /// How the connection ended, once known.
    pub(crate) ended: Option<Ended>,
    ext_info: Vec<(String, Vec<u8>)>,
    /// Client: authentication was started (the `none` request sent).
    pub(crate) auth_started: bool,
    /// Client: the methods the server said can continue.
    pub(crate) allowed: Option<Vec<String>>,
    /// Raw mode was asked for (`RawConnection::recv`).
    pub(crate) raw: bool,
    pub(crate) banners: Vec<String>,
    incoming: std::collections::VecDeque<IncomingChannel>,
    pub(crate) forwarding: crate::forward::ForwardState,
    pub(crate) pubkey_algorithms: Option<Vec<nacre_keys::SignatureAlgorithm>>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// How a client's host key question is answered.
pub(crate) enum Verifier {
    /// At once, in the connection task.
    Now(crate::known_hosts::HostVerifiers),
    /// By awaiting an async verifier in the handle.
    Ask(Arc<dyn crate::VerifyHostKey>),
}

/// Client settings for [`Connection::connect`].
#[derive(Clone)]
pub struct ClientConfig {
    /// The transport configuration.
    pub transport: Arc<Config>,
    /// Decides whether the server's host key is trusted. There is no implicit accept.
    pub verify_host_key: HostKeyVerifier,
}

impl Connection {
    /// Connects over TCP (TCP_NODELAY), runs the key exchange, verifies the host key with
    /// `config.verify_host_key` and requests the `ssh-userauth` service.
    pub async fn connect(addr: impl ToSocketAddrs, config: ClientConfig) -> Result<Self, Error> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Self::client_over(stream, config).await
    }

    /// Like [`Connection::connect`] over an existing byte stream.
    pub async fn client_over<S>(stream: S, config: ClientConfig) -> Result<Self, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let verifiers = crate::known_hosts::HostVerifiers {
            key: config.verify_host_key,
            certificate: config.transport.host_certificate_check.clone(),
        };
        let machine = Self::client_machine(config.transport);
        Self::start(machine, stream, Some(Verifier::Now(verifiers))).await
    }

    /// [`Connection::client_over`] with an async host key verifier (it sees the host key; a
    /// host certificate is not checked on this path yet).
    pub(crate) async fn client_over_async<S>(
        stream: S,
        transport: Arc<Config>,
        verify: Arc<dyn crate::VerifyHostKey>,
    ) -> Result<Self, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let machine = Self::client_machine(transport);
        Self::start(machine, stream, Some(Verifier::Ask(verify))).await
    }

    /// Server side: runs the key exchange on an accepted stream and waits for the client's
    /// service request.
    pub async fn accept<S>(stream: S, config: Arc<Config>) -> Result<Self, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let now = tokio::time::Instant::now().into_std();
        let session = nacre_session::ServerConfig {
            transport: crate::driver::with_keylog(config),
            // Given by `authenticate_client` (or raw use of `send`/`recv`).
            auth: None,
            connection: ConnectionConfig::default(),
        };
        let machine = Machine::Server(Box::new(ServerSession::new(
            session,
            Box::new(SystemRng),
            now,
        )));
        Self::start(machine, stream, None).await
    }

    fn client_machine(transport: Arc<Config>) -> Machine {
        let now = tokio::time::Instant::now().into_std();
        let session = nacre_session::ClientConfig {
            transport: crate::driver::with_keylog(transport),
            user: String::new(),
            connection: ConnectionConfig::default(),
            pubkey_algorithms: None,
            // The handle starts authentication (or raw use) once the service is accepted.
            start_auth: false,
        };
        Machine::Client(Box::new(ClientSession::new(
            session,
            Box::new(SystemRng),
            now,
        )))
    }

    async fn start<S>(
        machine: Machine,
        stream: S,
        verifier: Option<Verifier>,
    ) -> Result<Self, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (up_tx, mut up) = mpsc::channel(64);
        let forwarding = crate::forward::ForwardState::default();
        // On a client, forwarded-* channels go straight to the forward that asked for them,
        // routed in the connection task (no task in between).
        let router: Option<crate::mux::Router> = match machine {
            Machine::Client(_) => {
                let routes = forwarding.routes.clone();
                Some(std::sync::Arc::new(move |c| routes.route(c)))
            }
            Machine::Server(_) => None,
        };
        let (cmd_tx, cmd_rx) = crate::command::command_queue();
        let commands = Handle::new(cmd_tx);
        let (done_tx, mut done) = oneshot::channel();
        let (verifier, ask) = match verifier {
            Some(Verifier::Now(v)) => (Some(v), None),
            Some(Verifier::Ask(v)) => (None, Some(v)),
            None => (None, None),
        };
        let link = crate::link::LinkProbe::of(&stream);
        let driver = Driver {
            link,
            machine,
            stream,
            verifier,
            router,
            up: up_tx,
            commands: (commands.queue().clone(), cmd_rx),
            done: done_tx,
        };
        tokio::spawn(driver.run());
        let mut ext_info = Vec::new();
        loop {
            match up.recv().await {
                Some(Up::Ready(info)) => {
                    return Ok(Connection {
                        info,
                        up,
                        commands,
                        done: Some(done),
                        ended: None,
                        ext_info,
                        auth_started: false,
                        allowed: None,
                        raw: false,
                        banners: Vec::new(),
                        incoming: std::collections::VecDeque::new(),
                        forwarding,
                        pubkey_algorithms: None,
                    });
                }
                Some(Up::ExtInfo(e)) => ext_info.extend(e),
                Some(Up::HostKey(id, key, certificate)) => {
                    let trusted = match (&ask, certificate) {
                        (Some(v), Some(cert)) => v.verify_certificate(&key, &cert).await,
                        (Some(v), None) => v.verify(&key).await,
                        (None, _) => false,
                    };
                    let _ = commands.send(Command::HostKeyAnswer(id, trusted));
                }
                Some(_) => {}
                None => {
                    return Err(match (&mut done).await {
                        Ok(e) => Error::Transport(e.reason),
                        Err(_) => Error::Closed,
                    })
                }
            }
        }
    }

    /// Facts about the connection.
    pub fn info(&self) -> &ConnectionInfo {
        &self.info
    }

    /// Extensions the peer sent (RFC 8308).
    pub fn ext_info(&self) -> &[(String, Vec<u8>)] {
        &self.ext_info
    }

    pub(crate) async fn recv_raw(&mut self) -> Option<Bytes> {
        loop {
            match self.up.recv().await? {
                Up::Packet(p) => return Some(p),
                Up::ExtInfo(e) => self.ext_info.extend(e),
                Up::Incoming(c) => self.incoming.push_back(c),
                Up::Ready(_)
                | Up::ClientAuth(_)
                | Up::ServerAuth(_)
                | Up::Failed(_)
                | Up::HostKey(..) => {}
            }
        }
    }

    /// Sets keepalive probes and the idle limit of the connection layer (after authentication):
    /// a peer that stops answering, or a connection without channels for too long, is closed.
    pub async fn set_liveness(
        &self,
        config: nacre_connection::LivenessConfig,
    ) -> Result<(), Error> {
        self.commands.send(Command::Liveness(config))
    }

    /// Opens a channel of `kind` (after authentication). The channel keeps the connection up
    /// while it lives, even once this handle is dropped.
    pub async fn open_channel(&self, kind: ChannelKind) -> Result<Channel, Error> {
        self.opener().open_channel(kind).await
    }

    /// A cloneable part of this handle that opens channels (and SFTP sessions) from other
    /// tasks or objects while this handle is busy elsewhere (awaiting
    /// [`Connection::closed`], say).
    pub fn opener(&self) -> ChannelOpener {
        ChannelOpener {
            commands: self.commands.clone(),
        }
    }

    /// The connection's channels and where each stands (ssh's `~#`); empty before
    /// authentication.
    pub async fn channels(&self) -> Result<Vec<nacre_connection::ChannelStatus>, Error> {
        self.opener().channels().await
    }

    /// Opens a session channel (RFC 4254 §6.1).
    pub async fn open_session(&self) -> Result<Channel, Error> {
        self.open_channel(ChannelKind::Session).await
    }

    /// Runs `command` in a new session and collects its output and exit status.
    ///
    /// ```
    /// # struct Open;
    /// # impl nacre::AuthPolicy for Open {
    /// #     fn password(&self, _: &nacre::AuthContext, p: &str) -> nacre::PasswordCheck {
    /// #         if p == "pw" { nacre::PasswordCheck::Accept } else { nacre::PasswordCheck::Reject }
    /// #     }
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = nacre::Server::builder().ephemeral_host_key().auth_policy(Open)
    /// #     .allow_exec(true).act_as(nacre::ActAs::ServerProcess).build()?;
    /// # let (client_end, server_end) = tokio::io::duplex(64 * 1024);
    /// # tokio::spawn(async move { server.serve(server_end, None).await });
    /// # let conn = nacre::Client::builder().user("demo").password("pw").default_identities(false)
    /// #     .verify_host_key(|_| true).connect_over(client_end, "demo", 22).await?;
    /// let out = conn.exec("echo hello; echo oops >&2; exit 3").await?;
    /// assert_eq!(out.stdout, b"hello\n");
    /// assert_eq!(out.stderr, b"oops\n");
    /// assert_eq!(out.status, Some(nacre::ExitStatus::Code(3)));
    /// # Ok(()) }
    /// ```
    pub async fn exec(&self, command: &str) -> Result<ExecOutput, Error> {
        use tokio::io::AsyncReadExt;
        let mut ch = self.open_session().await?;
        ch.exec(command).await?;
        ch.eof()?;
        let mut stderr = ch.stderr();
        let mut out = Vec::new();
        let mut err = Vec::new();
        let (a, b) = tokio::join!(ch.read_to_end(&mut out), stderr.read_to_end(&mut err));
        a.map_err(Error::Io)?;
        b.map_err(Error::Io)?;
        let status = ch.exit_status().await;
        Ok(ExecOutput {
            stdout: out,
            stderr: err,
            status,
        })
    }

    /// Waits for the next channel the peer wants to open (server side: sessions); `None` once the
    /// connection is closed. Accept or reject it; dropping it rejects it.
    pub async fn accept_channel(&mut self) -> Option<IncomingChannel> {
        loop {
            let c = match self.incoming.pop_front() {
                Some(c) => c,
                None => match self.up.recv().await? {
                    Up::Incoming(c) => c,
                    Up::ExtInfo(e) => {
                        self.ext_info.extend(e);
                        continue;
                    }
                    Up::Packet(_)
                    | Up::Ready(_)
                    | Up::ClientAuth(_)
                    | Up::ServerAuth(_)
                    | Up::Failed(_)
                    | Up::HostKey(..) => continue,
                },
            };
            // Forwarding requests are answered here (see `Connection::enable_forwarding`).
            if let Some(c) = self.take_global(c).await {
                return Some(c);
            }
        }
    }

    /// Sends a global request (RFC 4254 §4); with `want_reply`, waits for the answer and its data.
    pub async fn global_request(
        &self,
        name: &str,
        data: &[u8],
        want_reply: bool,
    ) -> Result<Option<(bool, Vec<u8>)>, Error> {
        if !want_reply {
            self.commands
                .send(Command::Global(name.to_owned(), data.to_vec(), None))?;
            return Ok(None);
        }
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Global(name.to_owned(), data.to_vec(), Some(tx)))?;
        Ok(Some(rx.await.map_err(|_| Error::Closed)?))
    }

    /// Client: updates known_hosts when the server lists its host keys after authentication
    /// (OpenSSH's `UpdateHostKeys`, PROTOCOL §2.5); call it before authenticating. See
    /// [`crate::HostKeysUpdate`] for the rules and for waiting on the result.
    pub fn update_host_keys(&self, update: crate::HostKeysUpdate) -> Result<(), Error> {
        self.commands
            .send(Command::HostKeysUpdate(Box::new(update)))
    }

    /// Client: sends a transport-level ping (`SSH2_MSG_PING`, OpenSSH PROTOCOL §1.8) and
    /// resolves with the data of the server's PONG. Only when the server announced
    /// `ping@openssh.com` in its EXT_INFO (OpenSSH ≥ 9.5, nacre); otherwise
    /// [`Error::Refused`] at once and nothing is sent.
    pub async fn ping(&self, data: &[u8]) -> Result<Vec<u8>, Error> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.commands.send(Command::Ping(data.to_vec(), tx))?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// Client: tells the server that no more session channels will be opened on this
    /// connection (`no-more-sessions@openssh.com`, OpenSSH PROTOCOL §2.2): a later session
    /// open, by anyone who got hold of the connection, makes an OpenSSH or nacre server close it.
    /// ssh sends it after opening its one session when it does not multiplex.
    pub fn no_more_sessions(&self) -> Result<(), Error> {
        self.commands.send(Command::Global(
            "no-more-sessions@openssh.com".to_owned(),
            Vec::new(),
            None,
        ))
    }

    /// Starts a key re-exchange (deferred until the user is authenticated, as OpenSSH does).
    pub async fn rekey(&self) -> Result<(), Error> {
        self.commands.send(Command::Rekey)
    }

    /// Closes the connection with DISCONNECT and waits for the task to finish.
    pub async fn disconnect(
        mut self,
        reason: DisconnectReason,
        description: &str,
    ) -> TransportError {
        self.disconnect_ref(reason, description).await
    }

    pub(crate) async fn disconnect_ref(
        &mut self,
        reason: DisconnectReason,
        description: &str,
    ) -> TransportError {
        let _ = self
            .commands
            .send(Command::Disconnect(reason, description.to_owned()));
        self.closed().await
    }

    /// Resolves once the connection's task has ended, without the reason: unlike
    /// [`Connection::closed`] it borrows the connection shared, so it can be awaited while
    /// channels are opened on it ([`Connection::closed`] then tells why).
    pub async fn gone(&self) {
        self.commands.queue().closed().await;
    }

    /// Waits until the connection ends and tells why.
    pub async fn closed(&mut self) -> TransportError {
        self.ended().await.reason
    }

    /// Waits until the connection ends: the transport's reason and the layer error behind it.
    pub(crate) async fn ended(&mut self) -> Ended {
        if let Some(done) = self.done.take() {
            let ended = done.await.unwrap_or(Ended {
                reason: TransportError::ConnectionLost,
                layer: None,
            });
            self.ended = Some(ended);
        }
        self.ended.clone().unwrap_or(Ended {
            reason: TransportError::ConnectionLost,
            layer: None,
        })
    }

    /// The next authentication report from the task; `None` once the connection ended. Other
    /// reports (extensions, incoming channels) are kept for later.
    pub(crate) async fn next_auth(&mut self) -> Option<Up> {
        loop {
            match self.up.recv().await? {
                Up::ExtInfo(e) => self.ext_info.extend(e),
                Up::Incoming(c) => self.incoming.push_back(c),
                Up::Packet(_) | Up::Ready(_) | Up::HostKey(..) => {}
                auth @ (Up::ClientAuth(_) | Up::ServerAuth(_) | Up::Failed(_)) => {
                    return Some(auth)
                }
            }
        }
    }

    /// The error that ended authentication: the layer's own error when it was one.
    pub(crate) async fn auth_ended(&mut self) -> Error {
        let ended = self.ended().await;
        match ended.layer {
            Some(nacre_session::LayerError::Auth(e)) => Error::Auth(e),
            _ => Error::Transport(ended.reason),
        }
    }
}

/// Opens channels on a connection: [`Connection::opener`]. Cloneable; like the
/// [`Connection`] itself, it keeps the connection up while it lives.
#[derive(Clone)]
pub struct ChannelOpener {
    commands: HandleRef,
}

impl ChannelOpener {
    /// Opens a channel of `kind` (after authentication): [`Connection::open_channel`].
    pub async fn open_channel(&self, kind: ChannelKind) -> Result<Channel, Error> {
        let mut channel = self.commands.open(kind).await?;
        channel.keep = Some(self.commands.clone());
        Ok(channel)
    }

    /// Opens a session channel (RFC 4254 §6.1).
    pub async fn open_session(&self) -> Result<Channel, Error> {
        self.open_channel(ChannelKind::Session).await
    }

    /// The connection's channels and where each stands: [`Connection::channels`].
    pub async fn channels(&self) -> Result<Vec<nacre_connection::ChannelStatus>, Error> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(Command::Channels(tx))?;
        rx.await.map_err(|_| Error::Closed)
    }
}
