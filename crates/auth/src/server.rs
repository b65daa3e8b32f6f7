//! The server side of user authentication (RFC 4252 §5–§8, RFC 4256).
//!
//! The machine enforces the protocol (which messages may come when, one user and service per
//! connection, maximum tries, a delay after each failure, multi-step method policies) and asks the
//! application one question per method through [`ServerEvent`]s, answered with
//! [`AuthServer::decide`]. A public key reaches the application as *verified* only after its
//! signature over this session was checked: the key in [`ServerEvent::PublicKeyVerified`] is the one
//! that signed, never one that was merely queried (the Go CVE-2024-45337 misuse).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use nacre_keys::{Certificate, PublicKey, SignatureAlgorithm, SkSignatureInfo};
use nacre_wire::{decode_exact, put, Encode, MsgNumber};
use zeroize::Zeroizing;

use crate::error::AuthError;
use crate::msg::{self, Banner, InfoRequest, InfoResponse, Method, PasswdChangeReq, PkOk, Request};
use crate::SSH_CONNECTION;

/// An authentication method the server can require.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MethodKind {
    /// `publickey`.
    PublicKey,
    /// `password`.
    Password,
    /// `keyboard-interactive`.
    KeyboardInteractive,
}

impl MethodKind {
    /// The method name.
    pub fn name(self) -> &'static str {
        match self {
            MethodKind::PublicKey => "publickey",
            MethodKind::Password => "password",
            MethodKind::KeyboardInteractive => "keyboard-interactive",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        [
            MethodKind::PublicKey,
            MethodKind::Password,
            MethodKind::KeyboardInteractive,
        ]
        .into_iter()
        .find(|m| m.name() == name)
    }
}

/// Default [`AuthServerConfig::max_tries`] (OpenSSH's MaxAuthTries).
pub const DEFAULT_MAX_TRIES: u32 = 6;
/// Default [`AuthServerConfig::login_grace_time`] (OpenSSH's LoginGraceTime).
pub const DEFAULT_LOGIN_GRACE_TIME: Duration = Duration::from_secs(120);
/// Default [`AuthServerConfig::failure_delay`].
pub const DEFAULT_FAILURE_DELAY: Duration = Duration::from_millis(200);

/// Server settings.
#[derive(Clone, Debug)]
pub struct AuthServerConfig {
    /// Banner sent before the first answer.
    pub banner: Option<String>,
    /// Failed attempts allowed before the connection is closed (OpenSSH's MaxAuthTries, 6).
    pub max_tries: u32,
    /// Method sequences that authenticate, like OpenSSH's AuthenticationMethods: any one list, each
    /// method in order. The default is any single method.
    pub methods: Vec<Vec<MethodKind>>,
    /// How long a failure answer is held back.
    pub failure_delay: Duration,
    /// Signature algorithms accepted for public keys.
    pub pubkey_algorithms: Vec<SignatureAlgorithm>,
    /// Time allowed to authenticate, from the first message (OpenSSH's LoginGraceTime, 120 s).
    pub login_grace_time: Option<Duration>,
}

impl Default for AuthServerConfig {
    fn default() -> Self {
        AuthServerConfig {
            banner: None,
            max_tries: DEFAULT_MAX_TRIES,
            methods: vec![
                vec![MethodKind::PublicKey],
                vec![MethodKind::Password],
                vec![MethodKind::KeyboardInteractive],
            ],
            failure_delay: DEFAULT_FAILURE_DELAY,
            pubkey_algorithms: SignatureAlgorithm::ALL
                .iter()
                .chain(SignatureAlgorithm::SK)
                .copied()
                .filter(|a| !a.is_legacy())
                .collect(),
            login_grace_time: Some(DEFAULT_LOGIN_GRACE_TIME),
        }
    }
}

/// Identifies a question; answers to abandoned questions are ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RequestId(u64);

/// A question for the application, or the final result.
///
/// A public key login: the server asks twice, once for the key alone (a query, nothing proven)
/// and once after it verified the client's signature; only then is the key known to be held.
///
/// ```
/// use std::time::Instant;
/// use nacre_auth::{AuthClient, AuthServer, AuthServerConfig, ClientEvent, Decision, ServerEvent};
/// use nacre_keys::PrivateKey;
///
/// let (sid, now) = (b"exchange hash H", Instant::now());
/// let key = PrivateKey::from_ed25519_seed(&[4; 32]);
/// let mut server = AuthServer::new(AuthServerConfig::default(), sid);
/// let mut client = AuthClient::new("alice", sid, None);
/// let pump = |c: &mut AuthClient, s: &mut AuthServer| {
///     while let Some(p) = c.poll_transmit() { s.handle_packet(&p, now).unwrap(); }
///     while let Some(ev) = s.poll_event() {
///         let id = match ev {
///             ServerEvent::PublicKeyQuery { id, key: k, .. } if k == key.public_key() => id,
///             ServerEvent::PublicKeyVerified { id, key: k, .. } if k == key.public_key() => id,
///             ServerEvent::Success { user, .. } => { assert_eq!(user, "alice"); continue; }
///             other => panic!("{other:?}"),
///         };
///         s.decide(id, Decision::Accept, now).unwrap();
///     }
///     while let Some(p) = s.poll_transmit() { c.handle_packet(&p).unwrap(); }
/// };
/// pump(&mut client, &mut server); // `none`, FAILURE
/// assert!(client.poll_event().is_some() && client.allows("publickey"));
/// client.publickey(&key.public_key());
/// pump(&mut client, &mut server); // query, PK_OK
/// while let Some(ev) = client.poll_event() {
///     if let ClientEvent::SignRequest { algorithm, data, .. } = ev {
///         client.signature(&key.sign(algorithm, &data)?);
///     }
/// }
/// pump(&mut client, &mut server); // signed request, SUCCESS
/// assert_eq!(client.poll_event(), Some(ClientEvent::Success));
/// # Ok::<(), nacre_keys::KeyError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent {
    /// Is this password right (and, when `new_password` is set, may it be changed)?
    Password {
        /// Question id.
        id: RequestId,
        /// User.
        user: String,
        /// The password.
        password: Zeroizing<String>,
        /// The new password of a change request.
        new_password: Option<Zeroizing<String>>,
    },
    /// May this key log in as `user`? Only a query: nothing is proven yet. Accepting sends PK_OK.
    PublicKeyQuery {
        /// Question id.
        id: RequestId,
        /// User.
        user: String,
        /// The key (a certificate's subject key when `certificate` is set).
        key: PublicKey,
        /// The OpenSSH certificate offered (`*-cert-v01@openssh.com`, PROTOCOL.certkeys §2), its
        /// CA signature verified but nothing else: the application checks the CA, type,
        /// validity, principals and options.
        certificate: Option<Box<Certificate>>,
    },
    /// The client proved possession of `key` with a valid signature: may it log in as `user`?
    PublicKeyVerified {
        /// Question id.
        id: RequestId,
        /// User.
        user: String,
        /// The key that signed (a certificate's subject key when `certificate` is set).
        key: PublicKey,
        /// The certificate the key was offered with (PROTOCOL.certkeys §2), as for the query.
        certificate: Option<Box<Certificate>>,
        /// For a security key (PROTOCOL.u2f): the signature's flags and counter, not yet
        /// judged. The application decides with the key's options as sshd does
        /// ([`SkSignatureInfo::check`](nacre_keys::SkSignatureInfo::check): user presence
        /// unless `no-touch-required`, user verification if `verify-required`); nacre's
        /// runtime does so with its policy's `authorized_key_options`/`certificate_options`.
        sk: Option<SkSignatureInfo>,
    },
    /// Keyboard-interactive starts: answer with [`Decision::Prompts`] or [`Decision::Reject`].
    KeyboardInteractive {
        /// Question id.
        id: RequestId,
        /// User.
        user: String,
        /// Submethod hints.
        submethods: String,
    },
    /// Responses to the last prompts: answer Accept, Reject or more Prompts.
    KeyboardResponses {
        /// Question id.
        id: RequestId,
        /// User.
        user: String,
        /// The responses.
        responses: Vec<Zeroizing<String>>,
    },
    /// The user is authenticated; later packets belong to the connection layer.
    Success {
        /// User.
        user: String,
        /// The methods that succeeded, in order.
        methods: Vec<MethodKind>,
        /// The public key that signed, if publickey was one of them.
        key: Option<PublicKey>,
        /// The certificate that key was accepted with, if any (PROTOCOL.certkeys).
        certificate: Option<Box<Certificate>>,
    },
}

/// The application's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The credential is good.
    Accept,
    /// The credential is refused.
    Reject,
    /// Password right but expired: ask for a new one (RFC 4252 §8).
    PasswordChangeRequired {
        /// Prompt for the user.
        prompt: String,
    },
    /// Keyboard-interactive: send these prompts.
    Prompts(InfoRequest),
}

/// What the application is asked, with what the answer needs.
#[derive(Debug)]
enum Question {
    Password,
    /// May this key log in? Accepting sends PK_OK for it (the algorithm and blob as received).
    PkQuery {
        algorithm: String,
        blob: Vec<u8>,
    },
    /// This key (or certificate) signed: does it log in?
    PkVerified(PublicKey, Option<Box<Certificate>>),
    Keyboard,
}

/// Where one connection's authentication is; each phase holds only its own data.
#[derive(Debug)]
enum Phase {
    /// Waiting for the client's next request.
    Idle,
    /// A question waits for the application's [`AuthServer::decide`].
    Asking { id: RequestId, question: Question },
    /// Keyboard-interactive prompts went out; the INFO_RESPONSE must answer this many.
    Prompted { prompts: usize },
    /// Authenticated: requests are ignored (RFC 4252 §5.1).
    Done,
}

/// A failure answer held back until `until` (the failure delay).
#[derive(Debug)]
struct Delayed {
    until: Instant,
    answer: Vec<u8>,
}

/// Requests a client may pipeline while a failure answer is delayed (or while the application
/// answers an earlier one of them); one more is [`AuthError::Flood`].
pub const MAX_HELD: usize = 16;

/// One connection's user authentication, server side.
///
/// A refused password is answered only after [`AuthServerConfig::failure_delay`], timed by the
/// `now` the driver passes in ([`poll_timeout`](Self::poll_timeout) says when):
///
/// ```
/// use std::time::{Duration, Instant};
/// use nacre_auth::{AuthClient, AuthServer, AuthServerConfig, ClientEvent, Decision, ServerEvent};
///
/// let (sid, now) = (b"exchange hash H", Instant::now());
/// let delay = Duration::from_millis(300);
/// let config = AuthServerConfig { failure_delay: delay, ..Default::default() };
/// let mut server = AuthServer::new(config, sid);
/// let mut client = AuthClient::new("mallory", sid, None);
/// while let Some(p) = client.poll_transmit() { server.handle_packet(&p, now)?; }
/// client.handle_packet(&server.poll_transmit().unwrap())?; // `none` refused at once
/// client.password("guess");
/// while let Some(p) = client.poll_transmit() { server.handle_packet(&p, now)?; }
///
/// let Some(ServerEvent::Password { id, .. }) = server.poll_event() else { panic!() };
/// server.decide(id, Decision::Reject, now)?;
/// assert_eq!(server.poll_transmit(), None); // held back
/// let due = server.poll_timeout().unwrap();
/// assert_eq!(due, now + delay);
/// server.handle_timeout(due)?;
/// let failure = server.poll_transmit().unwrap();
/// assert_eq!(failure[0], 51); // SSH_MSG_USERAUTH_FAILURE
/// assert_eq!(server.failures(), 1);
/// # Ok::<(), nacre_auth::AuthError>(())
/// ```
pub struct AuthServer {
    config: AuthServerConfig,
    session_id: Vec<u8>,
    user: Option<(String, String)>,
    completed: Vec<MethodKind>,
    verified_key: Option<PublicKey>,
    verified_certificate: Option<Box<Certificate>>,
    failures: u32,
    next_id: u64,
    phase: Phase,
    /// A failure answer waiting for its delay (in any phase but Done).
    delayed: Option<Delayed>,
    /// End of the login grace time, fixed by the first time seen.
    grace_deadline: Option<Instant>,
    held: VecDeque<Vec<u8>>,
    banner_sent: bool,
    outbox: VecDeque<Vec<u8>>,
    events: VecDeque<ServerEvent>,
}

impl AuthServer {
    /// A server for the session `session_id`.
    pub fn new(config: AuthServerConfig, session_id: &[u8]) -> Self {
        AuthServer {
            config,
            session_id: session_id.to_vec(),
            user: None,
            completed: Vec::new(),
            verified_key: None,
            verified_certificate: None,
            failures: 0,
            next_id: 0,
            phase: Phase::Idle,
            delayed: None,
            grace_deadline: None,
            held: VecDeque::new(),
            banner_sent: false,
            outbox: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The next payload to send (a delayed failure answer only once its delay is over).
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.outbox.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// When [`AuthServer::handle_timeout`] must be called (a delayed failure is due, or the login
    /// grace time ends).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let grace = self.grace_deadline.filter(|_| !self.is_done());
        match (self.delayed.as_ref().map(|d| d.until), grace) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn check_grace(&mut self, now: Instant) -> Result<(), AuthError> {
        if self.is_done() {
            return Ok(());
        }
        if let Some(grace) = self.config.login_grace_time {
            let deadline = *self.grace_deadline.get_or_insert(now + grace);
            if now >= deadline {
                return Err(AuthError::LoginGraceTime);
            }
        }
        Ok(())
    }

    /// Whether events wait to be polled.
    pub fn has_pending_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Whether the user is authenticated.
    pub fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Done)
    }

    /// Whether a question waits for the application's [`AuthServer::decide`] (packets fed
    /// meanwhile are held: RFC 4252 §5, each request is processed completely before the next).
    pub fn is_asking(&self) -> bool {
        matches!(self.phase, Phase::Asking { .. })
    }

    /// How many of the client's packets are held (see [`AuthServer::handle_packet`]).
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Once authenticated: the packets that came after the request that succeeded, in order,
    /// for the layer that follows (a client may pipeline behind its last request).
    pub fn take_held(&mut self) -> Vec<Vec<u8>> {
        if !self.is_done() {
            return Vec::new();
        }
        self.held.drain(..).collect()
    }

    /// Failed attempts so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Releases a delayed failure and the packets that waited behind it.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), AuthError> {
        self.check_grace(now)?;
        if let Some(d) = self.delayed.take_if(|d| now >= d.until) {
            // Queued before the held requests are looked at: if the next one fails too, its
            // delay must not hold back this answer.
            self.outbox.push_back(d.answer);
            self.release_held(now)?;
        }
        Ok(())
    }

    /// Handles the held packets in order until one has to wait: for a delayed failure, or for
    /// the application's answer to its question. RFC 4252 §5: each pipelined request is
    /// processed completely (and a failure answered) before the next, so a client that sent
    /// several passwords at once gets one answer per password, and the application is asked
    /// only what it will be heard on.
    fn release_held(&mut self, now: Instant) -> Result<(), AuthError> {
        // Once authenticated, what is still held belongs to the next layer ([`AuthServer::take_held`]).
        while self.delayed.is_none() && !self.is_asking() && !self.is_done() {
            let Some(p) = self.held.pop_front() else {
                break;
            };
            self.process(&p, now)?;
        }
        Ok(())
    }

    /// Feeds one service-layer payload from the client. While a failure answer is delayed, a
    /// question waits for the application's [`AuthServer::decide`], or earlier packets are still
    /// held, it is held too (up to [`MAX_HELD`]), so requests are handled one at a time and in
    /// order (RFC 4252 §5) whatever the driver feeds when. A driver may stop reading while
    /// [`AuthServer::held`] is not 0.
    pub fn handle_packet(&mut self, payload: &[u8], now: Instant) -> Result<(), AuthError> {
        self.check_grace(now)?;
        if self.delayed.is_some() || self.is_asking() || !self.held.is_empty() {
            if self.held.len() >= MAX_HELD {
                return Err(AuthError::Flood);
            }
            self.held.push_back(payload.to_vec());
            return Ok(());
        }
        self.process(payload, now)
    }

    fn process(&mut self, payload: &[u8], now: Instant) -> Result<(), AuthError> {
        let msg = MsgNumber(payload.first().copied().unwrap_or(0));
        match msg {
            MsgNumber::USERAUTH_REQUEST if self.is_done() => Ok(()), // RFC 4252 §5.1: ignored after success
            MsgNumber::USERAUTH_REQUEST => self.on_request(payload, now),
            msg::USERAUTH_INFO_RESPONSE if matches!(self.phase, Phase::Prompted { .. }) => self.on_info_response(payload),
            MsgNumber::USERAUTH_FAILURE | MsgNumber::USERAUTH_SUCCESS | MsgNumber::USERAUTH_BANNER | msg::USERAUTH_PK_OK => {
                Err(AuthError::UnexpectedMessage {
                    msg,
                    context: "from a client: it is a server message (libssh CVE-2018-10933 class)",
                })
            }
            _ if self.is_done() => Err(AuthError::UnexpectedMessage { msg, context: "for the authentication layer after success" }),
            _ if msg >= MsgNumber::GLOBAL_REQUEST => Err(AuthError::UnexpectedMessage {
                msg,
                context: "before authentication (connection-layer message, Erlang/OTP CVE-2025-32433 class)",
            }),
            _ => Err(AuthError::UnexpectedMessage { msg, context: "during user authentication" }),
        }
    }

    fn new_id(&mut self) -> RequestId {
        self.next_id += 1;
        RequestId(self.next_id)
    }

    fn ask(&mut self, kind: Question, event: impl FnOnce(RequestId) -> ServerEvent) {
        let id = self.new_id();
        self.phase = Phase::Asking { id, question: kind };
        self.events.push_back(event(id));
    }

    /// Methods that can continue given the methods already completed.
    fn can_continue(&self) -> Vec<MethodKind> {
        let mut next = Vec::new();
        for list in &self.config.methods {
            if list.len() > self.completed.len()
                && list.get(..self.completed.len()) == Some(self.completed.as_slice())
            {
                if let Some(m) = list.get(self.completed.len()) {
                    if !next.contains(m) {
                        next.push(*m);
                    }
                }
            }
        }
        next
    }

    fn failure_payload(&self, partial: bool) -> Vec<u8> {
        let names: Vec<&str> = self.can_continue().iter().map(|m| m.name()).collect();
        let mut out = vec![MsgNumber::USERAUTH_FAILURE.0];
        put::name_list(&mut out, &names);
        put::boolean(&mut out, partial);
        out
    }

    fn send_banner_once(&mut self) {
        if !self.banner_sent {
            self.banner_sent = true;
            if let Some(text) = &self.config.banner {
                let b = Banner {
                    message: text.as_str().into(),
                    language: b"",
                }
                .to_bytes();
                self.outbox.push_back(b);
            }
        }
    }

    fn on_request(&mut self, payload: &[u8], now: Instant) -> Result<(), AuthError> {
        let req: Request<'_> =
            decode_exact(payload).map_err(AuthError::malformed(MsgNumber::USERAUTH_REQUEST))?;
        match &self.user {
            None => {
                if req.service != SSH_CONNECTION {
                    return Err(AuthError::ServiceNotAvailable(req.service.to_owned()));
                }
                self.user = Some((req.user.to_owned(), req.service.to_owned()));
            }
            Some((u, s)) if u != req.user || s != req.service => {
                return Err(AuthError::UserOrServiceChanged)
            }
            Some(_) => {}
        }
        self.send_banner_once();
        // RFC 4252 §5: a new request abandons the previous attempt.
        self.phase = Phase::Idle;
        let user = req.user.to_owned();
        let kind = MethodKind::from_name(req.method.name());
        if !matches!(req.method, Method::None)
            && kind.is_none_or(|k| !self.can_continue().contains(&k))
        {
            return self.fail(now);
        }
        match req.method {
            Method::None => {
                let f = self.failure_payload(false);
                self.outbox.push_back(f);
                Ok(())
            }
            Method::Password {
                password,
                new_password,
            } => {
                let (password, new_password) = (
                    Zeroizing::new(password.to_owned()),
                    new_password.map(|p| Zeroizing::new(p.to_owned())),
                );
                self.ask(Question::Password, |id| ServerEvent::Password {
                    id,
                    user,
                    password,
                    new_password,
                });
                Ok(())
            }
            Method::PublicKey {
                algorithm,
                key_blob,
                signature,
            } => self.on_publickey(user, algorithm, key_blob, signature, now),
            Method::KeyboardInteractive { submethods, .. } => {
                let submethods = submethods.to_owned();
                self.ask(Question::Keyboard, |id| ServerEvent::KeyboardInteractive {
                    id,
                    user,
                    submethods,
                });
                Ok(())
            }
            Method::Other { .. } => self.fail(now),
        }
    }

    fn on_publickey(
        &mut self,
        user: String,
        algorithm: &str,
        key_blob: &[u8],
        signature: Option<&[u8]>,
        now: Instant,
    ) -> Result<(), AuthError> {
        // A certificate algorithm (`ssh-ed25519-cert-v01@openssh.com`,
        // `rsa-sha2-512-cert-v01@openssh.com`, ...: PROTOCOL.certkeys §2) signs as its plain
        // algorithm with the certificate's key.
        let plain = nacre_keys::cert::plain_name(algorithm);
        let is_cert = plain.is_some();
        let alg = SignatureAlgorithm::from_name(plain.as_deref().unwrap_or(algorithm))
            .filter(|a| self.config.pubkey_algorithms.contains(a));
        let (key, certificate) = if is_cert {
            match Certificate::from_blob(key_blob) {
                Ok(c) => (Some(c.key().clone()), Some(Box::new(c))),
                Err(_) => (None, None),
            }
        } else {
            (PublicKey::from_blob(key_blob).ok(), None)
        };
        let (Some(alg), Some(key)) = (alg, key) else {
            return self.fail(now);
        };
        if alg.key_type() != key.key_type() {
            return self.fail(now);
        }
        match signature {
            None => {
                let question = Question::PkQuery {
                    algorithm: algorithm.to_owned(),
                    blob: key_blob.to_vec(),
                };
                self.ask(question, |id| ServerEvent::PublicKeyQuery {
                    id,
                    user,
                    key,
                    certificate,
                });
            }
            Some(sig) => {
                let data =
                    msg::signed_data(&self.session_id, &user, SSH_CONNECTION, algorithm, key_blob);
                let Ok(sk) = key.verify_detailed(alg, &data, sig) else {
                    return self.fail(now);
                };
                self.ask(
                    Question::PkVerified(key.clone(), certificate.clone()),
                    |id| ServerEvent::PublicKeyVerified {
                        id,
                        user,
                        key,
                        certificate,
                        sk,
                    },
                );
            }
        }
        Ok(())
    }

    fn on_info_response(&mut self, payload: &[u8]) -> Result<(), AuthError> {
        let resp: InfoResponse =
            decode_exact(payload).map_err(AuthError::malformed(msg::USERAUTH_INFO_RESPONSE))?;
        let prompts = match std::mem::replace(&mut self.phase, Phase::Idle) {
            Phase::Prompted { prompts } => Some(prompts),
            other => {
                self.phase = other;
                None
            }
        };
        if Some(resp.responses.len()) != prompts {
            return Err(AuthError::UnexpectedMessage {
                msg: msg::USERAUTH_INFO_RESPONSE,
                context: "with a number of responses different from the prompts",
            });
        }
        let user = self
            .user
            .as_ref()
            .map(|(u, _)| u.clone())
            .unwrap_or_default();
        let responses = resp.responses;
        self.ask(Question::Keyboard, |id| ServerEvent::KeyboardResponses {
            id,
            user,
            responses,
        });
        Ok(())
    }

    /// Answers a question. Answers to abandoned or unknown questions are ignored. `now` times the
    /// failure delay.
    pub fn decide(
        &mut self,
        id: RequestId,
        decision: Decision,
        now: Instant,
    ) -> Result<(), AuthError> {
        if !matches!(self.phase, Phase::Asking { id: asked, .. } if asked == id) {
            return Ok(());
        }
        let Phase::Asking { question, .. } = std::mem::replace(&mut self.phase, Phase::Idle) else {
            return Ok(());
        };
        self.answer(question, decision, now)?;
        self.release_held(now)
    }

    fn answer(
        &mut self,
        kind: Question,
        decision: Decision,
        now: Instant,
    ) -> Result<(), AuthError> {
        match (kind, decision) {
            (Question::PkQuery { algorithm, blob }, Decision::Accept) => {
                self.outbox.push_back(
                    PkOk {
                        algorithm: &algorithm,
                        key_blob: &blob,
                    }
                    .to_bytes(),
                );
                Ok(())
            }
            (Question::PkVerified(key, certificate), Decision::Accept) => {
                self.verified_key = Some(key);
                self.verified_certificate = certificate;
                self.method_succeeded(MethodKind::PublicKey);
                Ok(())
            }
            (Question::Password, Decision::Accept) => {
                self.method_succeeded(MethodKind::Password);
                Ok(())
            }
            (Question::Password, Decision::PasswordChangeRequired { prompt }) => {
                self.outbox.push_back(
                    PasswdChangeReq {
                        prompt: &prompt,
                        language: "",
                    }
                    .to_bytes(),
                );
                Ok(())
            }
            (Question::Keyboard, Decision::Prompts(req)) => {
                self.phase = Phase::Prompted {
                    prompts: req.prompts.len(),
                };
                self.outbox.push_back(req.to_bytes());
                Ok(())
            }
            (Question::Keyboard, Decision::Accept) => {
                self.method_succeeded(MethodKind::KeyboardInteractive);
                Ok(())
            }
            _ => self.fail(now),
        }
    }

    fn method_succeeded(&mut self, method: MethodKind) {
        self.completed.push(method);
        let complete = self.config.methods.contains(&self.completed);
        if complete {
            self.phase = Phase::Done;
            self.outbox.push_back(msg::Success.to_bytes());
            let user = self
                .user
                .as_ref()
                .map(|(u, _)| u.clone())
                .unwrap_or_default();
            self.events.push_back(ServerEvent::Success {
                user,
                methods: self.completed.clone(),
                key: self.verified_key.clone(),
                certificate: self.verified_certificate.clone(),
            });
        } else {
            let f = self.failure_payload(true);
            self.outbox.push_back(f);
        }
    }

    /// A failed attempt: counted, answered after the failure delay, fatal past max_tries.
    fn fail(&mut self, now: Instant) -> Result<(), AuthError> {
        self.failures += 1;
        if self.failures >= self.config.max_tries {
            return Err(AuthError::TooManyFailures(self.failures));
        }
        let f = self.failure_payload(false);
        if self.config.failure_delay.is_zero() {
            self.outbox.push_back(f);
        } else {
            self.delayed = Some(Delayed {
                until: now + self.config.failure_delay,
                answer: f,
            });
        }
        Ok(())
    }
}
