//! The client side of user authentication (RFC 4252 §5–§8, RFC 4256).
//!
//! The machine sends `none` first to learn the methods, then whatever the application asks for:
//! [`AuthClient::password`], [`AuthClient::publickey`] (a query; PK_OK turns into a
//! [`ClientEvent::SignRequest`] answered by [`AuthClient::signature`], so keys can live in an agent),
//! [`AuthClient::keyboard_interactive`].

use std::collections::VecDeque;

use nacre_keys::cert::CERT_SUFFIX;
use nacre_keys::{Certificate, KeyType, PublicKey, SignatureAlgorithm};
use nacre_wire::{decode_exact, Encode, MsgNumber};
use zeroize::Zeroizing;

use crate::error::AuthError;
use crate::msg::{
    self, Banner, Failure, InfoRequest, InfoResponse, Method, PasswdChangeReq, PkOk, Request,
};
use crate::SSH_CONNECTION;

/// What the application must see or answer.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// The server's banner, to show the user (RFC 4252 §5.4).
    Banner(String),
    /// The last request failed (or partly succeeded); `methods` can continue.
    Failure {
        /// Methods that can continue.
        methods: Vec<String>,
        /// True when the request succeeded but more is required.
        partial_success: bool,
    },
    /// The server wants the password changed; answer with [`AuthClient::change_password`].
    PasswordChangeRequested {
        /// The server's prompt.
        prompt: String,
    },
    /// The server accepts this key: sign `data` with `algorithm` and answer with
    /// [`AuthClient::signature`] (the signature blob, as an agent returns it).
    SignRequest {
        /// The key.
        key: PublicKey,
        /// The signature algorithm to use.
        algorithm: SignatureAlgorithm,
        /// The bytes to sign (RFC 4252 §7).
        data: Vec<u8>,
    },
    /// Keyboard-interactive prompts; answer with [`AuthClient::info_response`].
    InfoRequest(InfoRequest),
    /// Authenticated.
    Success,
}

#[derive(Debug)]
enum State {
    /// No request outstanding.
    Idle,
    /// A `none` or password request is outstanding.
    Awaiting(&'static str),
    /// A public key query is outstanding.
    PkQuery {
        key: PublicKey,
        algorithm: SignatureAlgorithm,
        offered: Offered,
    },
    /// The application is signing.
    Signing { offered: Offered },
    /// A keyboard-interactive exchange is outstanding.
    Keyboard,
    /// Authenticated.
    Done,
}

/// What a publickey request names: the algorithm and blob on the wire (a plain key's, or a
/// certificate's `*-cert-v01@openssh.com` name and blob, PROTOCOL.certkeys §2).
#[derive(Debug, Clone)]
struct Offered {
    name: String,
    blob: Vec<u8>,
}

impl Offered {
    fn plain(key: &PublicKey, algorithm: SignatureAlgorithm) -> Self {
        Self {
            name: algorithm.name().to_owned(),
            blob: key.to_blob(),
        }
    }
}

/// One client's user authentication.
///
/// A password login against an [`AuthServer`](crate::AuthServer), the two joined in memory (over
/// a real connection, the payloads travel inside the transport's packets):
///
/// ```
/// use std::time::Instant;
/// use nacre_auth::{AuthClient, AuthError, AuthServer, AuthServerConfig};
/// use nacre_auth::{ClientEvent, Decision, ServerEvent};
///
/// fn exchange(c: &mut AuthClient, s: &mut AuthServer, now: Instant) -> Result<(), AuthError> {
///     while let Some(p) = c.poll_transmit() { s.handle_packet(&p, now)?; }
///     while let Some(p) = s.poll_transmit() { c.handle_packet(&p)?; }
///     Ok(())
/// }
/// let (sid, now) = (b"exchange hash H", Instant::now());
/// let mut server = AuthServer::new(AuthServerConfig::default(), sid);
/// let mut client = AuthClient::new("alice", sid, None); // starts with a `none` request
/// exchange(&mut client, &mut server, now)?;
/// assert!(matches!(client.poll_event(), Some(ClientEvent::Failure { .. })));
/// assert!(client.allows("password"));
///
/// client.password("correct horse");
/// exchange(&mut client, &mut server, now)?;
/// let Some(ServerEvent::Password { id, user, password, .. }) = server.poll_event() else {
///     panic!("the server asks about the password")
/// };
/// let ok = user == "alice" && *password == "correct horse"; // check your user store here
/// server.decide(id, if ok { Decision::Accept } else { Decision::Reject }, now)?;
/// exchange(&mut client, &mut server, now)?;
/// assert_eq!(client.poll_event(), Some(ClientEvent::Success));
/// assert!(client.is_done() && server.is_done());
/// # Ok::<(), AuthError>(())
/// ```
pub struct AuthClient {
    user: String,
    session_id: Vec<u8>,
    server_sig_algs: Option<Vec<String>>,
    state: State,
    outbox: VecDeque<Vec<u8>>,
    events: VecDeque<ClientEvent>,
    allowed: Option<Vec<String>>,
    /// OpenSSH's PubkeyAcceptedAlgorithms: the signature algorithms publickey may use.
    accepted: Option<Vec<SignatureAlgorithm>>,
    /// Requests sent while an earlier one awaits its answer (RFC 4252 §5 lets a client send
    /// several without waiting): their states, in order; each FAILURE answers the oldest.
    in_flight: VecDeque<State>,
    /// Requests started during a public key query, sent once it is resolved.
    queued: VecDeque<(Vec<u8>, State)>,
}

impl AuthClient {
    /// Starts authentication of `user` for `ssh-connection`: queues a `none` request.
    /// `server_sig_algs` is the server's RFC 8308 list, used to pick RSA signature algorithms.
    pub fn new(user: &str, session_id: &[u8], server_sig_algs: Option<&[String]>) -> Self {
        let mut c = AuthClient {
            user: user.to_owned(),
            session_id: session_id.to_vec(),
            server_sig_algs: server_sig_algs.map(<[String]>::to_vec),
            state: State::Idle,
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            allowed: None,
            accepted: None,
            in_flight: VecDeque::new(),
            queued: VecDeque::new(),
        };
        c.request(Method::None, State::Awaiting("none"));
        c
    }

    fn request(&mut self, method: Method<'_>, next: State) {
        let payload = Request {
            user: &self.user,
            service: SSH_CONNECTION,
            method,
        }
        .to_bytes();
        self.send_request(payload, next);
    }

    fn send_request(&mut self, payload: Vec<u8>, next: State) {
        // Authenticated: no more requests, and the client stays done (found by fuzzing).
        if matches!(self.state, State::Done) {
            return;
        }
        match self.state {
            // Pipelined: the answers come in order, and the first one is the outstanding
            // request's, not this one's.
            State::Awaiting(_) => {
                self.outbox.push_back(payload);
                self.in_flight.push_back(next);
            }
            // A key query may lead to a signed request: later ones wait until it is resolved.
            State::PkQuery { .. } => self.queued.push_back((payload, next)),
            // Nothing outstanding at the server (or the application's own exchange, signing or
            // prompts, which a new request abandons): at once.
            State::Idle | State::Signing { .. } | State::Keyboard | State::Done => {
                self.outbox.push_back(payload);
                self.state = next;
            }
        }
    }

    /// Sends the next queued request, if any, once the outstanding one was answered.
    fn send_queued(&mut self) {
        if let Some((payload, next)) = self.queued.pop_front() {
            self.outbox.push_back(payload);
            self.state = next;
        }
    }

    /// The next payload to send.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.outbox.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// Whether payloads or events are waiting to be polled.
    pub fn has_pending_output(&self) -> bool {
        !self.outbox.is_empty() || !self.events.is_empty()
    }

    /// Whether authentication succeeded: later packets belong to the connection layer.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Whether a request is outstanding (the application should wait for an event).
    pub fn is_pending(&self) -> bool {
        !matches!(self.state, State::Idle | State::Done)
    }

    /// Methods the server said can continue, once known.
    pub fn allowed_methods(&self) -> Option<&[String]> {
        self.allowed.as_deref()
    }

    /// Whether the server allows `method` (true until the server said otherwise).
    pub fn allows(&self, method: &str) -> bool {
        self.allowed
            .as_ref()
            .is_none_or(|m| m.iter().any(|x| x == method))
    }

    /// Tries a password. Like every method, it may be called while a request is outstanding
    /// (the initial `none` included): the answers are matched to the requests in order.
    pub fn password(&mut self, password: &str) {
        self.request(
            Method::Password {
                password,
                new_password: None,
            },
            State::Awaiting("password"),
        );
    }

    /// Answers a password change request with the old and the new password.
    pub fn change_password(&mut self, old: &str, new: &str) {
        self.request(
            Method::Password {
                password: old,
                new_password: Some(new),
            },
            State::Awaiting("password"),
        );
    }

    /// Limits public key authentication to these signature algorithms (OpenSSH's
    /// PubkeyAcceptedAlgorithms): a key with none of them is not offered (see
    /// [`AuthClient::usable_algorithm`]).
    pub fn set_pubkey_algorithms(&mut self, algorithms: Vec<SignatureAlgorithm>) {
        self.accepted = Some(algorithms);
    }

    fn accepts(&self, algorithm: SignatureAlgorithm) -> bool {
        self.accepted
            .as_ref()
            .is_none_or(|l| l.contains(&algorithm))
    }

    /// The signature algorithm for `key`, or `None` when the accepted algorithms exclude it.
    pub fn usable_algorithm(&self, key: &PublicKey) -> Option<SignatureAlgorithm> {
        Some(self.algorithm_for(key)).filter(|a| self.accepts(*a))
    }

    /// The signature algorithm this client uses for `key`: for RSA the best of rsa-sha2-512,
    /// rsa-sha2-256 the server announced in `server-sig-algs` (and this client accepts), else
    /// legacy ssh-rsa as OpenSSH does.
    pub fn algorithm_for(&self, key: &PublicKey) -> SignatureAlgorithm {
        match key.key_type() {
            KeyType::Rsa => {
                let offered = |a: SignatureAlgorithm| {
                    self.accepts(a)
                        && self
                            .server_sig_algs
                            .as_ref()
                            .is_some_and(|l| l.iter().any(|x| x == a.name()))
                };
                [SignatureAlgorithm::RsaSha512, SignatureAlgorithm::RsaSha256]
                    .into_iter()
                    .find(|a| offered(*a))
                    .unwrap_or(SignatureAlgorithm::SshRsa)
            }
            KeyType::Ed25519 => SignatureAlgorithm::Ed25519,
            KeyType::EcdsaNistP256 => SignatureAlgorithm::EcdsaNistP256,
            KeyType::EcdsaNistP384 => SignatureAlgorithm::EcdsaNistP384,
            KeyType::EcdsaNistP521 => SignatureAlgorithm::EcdsaNistP521,
            KeyType::SkEd25519 => SignatureAlgorithm::SkEd25519,
            KeyType::SkEcdsaNistP256 => SignatureAlgorithm::SkEcdsaNistP256,
        }
    }

    /// Asks whether the server accepts `key` (a query without signature, RFC 4252 §7).
    pub fn publickey(&mut self, key: &PublicKey) {
        let algorithm = self.algorithm_for(key);
        self.query(key.clone(), algorithm, Offered::plain(key, algorithm));
    }

    /// Asks whether the server accepts the OpenSSH certificate `cert` (PROTOCOL.certkeys §2):
    /// the algorithm is the certificate form of the key's (`ssh-ed25519-cert-v01@openssh.com`,
    /// `rsa-sha2-512-cert-v01@openssh.com`, ...), the blob the certificate's; the signature
    /// asked for afterwards is made by the certified key with the plain algorithm.
    pub fn publickey_certificate(&mut self, cert: &Certificate) {
        let key = cert.key().clone();
        let algorithm = self.algorithm_for(&key);
        let offered = Offered {
            name: nacre_keys::cert::cert_name(algorithm.name()),
            blob: cert.to_blob(),
        };
        self.query(key, algorithm, offered);
    }

    fn query(&mut self, key: PublicKey, algorithm: SignatureAlgorithm, offered: Offered) {
        let method = Method::PublicKey {
            algorithm: &offered.name,
            key_blob: &offered.blob,
            signature: None,
        };
        let request = Request {
            user: &self.user,
            service: SSH_CONNECTION,
            method,
        }
        .to_bytes();
        self.send_request(
            request,
            State::PkQuery {
                key,
                algorithm,
                offered,
            },
        );
    }

    /// Sends the signed public key request, answering a [`ClientEvent::SignRequest`].
    pub fn signature(&mut self, signature_blob: &[u8]) {
        // Unasked for: ignored, and the state (done, or a request outstanding) is kept (found by
        // fuzzing: it used to be replaced by Idle).
        if !matches!(self.state, State::Signing { .. }) {
            return;
        }
        let State::Signing { offered, .. } = std::mem::replace(&mut self.state, State::Idle) else {
            return;
        };
        let method = Method::PublicKey {
            algorithm: &offered.name,
            key_blob: &offered.blob,
            signature: Some(signature_blob),
        };
        self.request(method, State::Awaiting("publickey"));
    }

    /// Starts keyboard-interactive (RFC 4256 §3.1).
    pub fn keyboard_interactive(&mut self, submethods: &str) {
        self.request(
            Method::KeyboardInteractive {
                language: "",
                submethods,
            },
            State::Keyboard,
        );
    }

    /// Answers the prompts of a [`ClientEvent::InfoRequest`].
    pub fn info_response(&mut self, responses: Vec<Zeroizing<String>>) {
        if matches!(self.state, State::Keyboard) {
            self.outbox.push_back(InfoResponse { responses }.to_bytes());
        }
    }

    /// Feeds one service-layer payload from the server.
    pub fn handle_packet(&mut self, payload: &[u8]) -> Result<(), AuthError> {
        let msg = MsgNumber(payload.first().copied().unwrap_or(0));
        if matches!(self.state, State::Done) {
            return Err(AuthError::UnexpectedMessage {
                msg,
                context: "for the authentication layer after success",
            });
        }
        match msg {
            MsgNumber::USERAUTH_BANNER => {
                let b: Banner<'_> = decode_exact(payload).map_err(AuthError::malformed(msg))?;
                self.events
                    .push_back(ClientEvent::Banner(b.message.into_owned()));
            }
            MsgNumber::USERAUTH_FAILURE if self.is_pending() => {
                let f: Failure<'_> = decode_exact(payload).map_err(AuthError::malformed(msg))?;
                let methods: Vec<String> = f.methods.iter().map(str::to_owned).collect();
                self.allowed = Some(methods.clone());
                self.state = self.in_flight.pop_front().unwrap_or(State::Idle);
                self.events.push_back(ClientEvent::Failure {
                    methods,
                    partial_success: f.partial_success,
                });
                if matches!(self.state, State::Idle) {
                    self.send_queued();
                }
            }
            MsgNumber::USERAUTH_SUCCESS if self.is_pending() => {
                decode_exact::<msg::Success>(payload).map_err(AuthError::malformed(msg))?;
                self.state = State::Done;
                self.in_flight.clear();
                self.queued.clear();
                self.events.push_back(ClientEvent::Success);
            }
            msg::USERAUTH_PK_OK => self.on_60(payload)?,
            MsgNumber::USERAUTH_FAILURE | MsgNumber::USERAUTH_SUCCESS => {
                return Err(AuthError::UnexpectedMessage {
                    msg,
                    context: "without an outstanding request",
                })
            }
            _ => {
                return Err(AuthError::UnexpectedMessage {
                    msg,
                    context: "before authentication succeeded (only 51, 52, 53 and 60 are allowed)",
                })
            }
        }
        Ok(())
    }

    fn on_60(&mut self, payload: &[u8]) -> Result<(), AuthError> {
        // PK_OK, PASSWD_CHANGEREQ or INFO_REQUEST: the state says which.
        let m = msg::USERAUTH_PK_OK;
        match std::mem::replace(&mut self.state, State::Idle) {
            State::PkQuery {
                key,
                algorithm,
                offered,
            } => {
                let ok: PkOk<'_> = decode_exact(payload).map_err(AuthError::malformed(m))?;
                let blob = offered.blob.clone();
                // As OpenSSH's client (sshconnect2.c, input_userauth_pk_ok): the key must be
                // ours and the algorithm name must be of its type; some servers (ssh2 for
                // Node.js) name `ssh-rsa` for an `rsa-sha2-512` query. We sign with the
                // algorithm we asked about. docs/TOLERANCE.md.
                let plain_name = nacre_keys::cert::plain_name(ok.algorithm);
                let same_type =
                    SignatureAlgorithm::from_name(plain_name.as_deref().unwrap_or(ok.algorithm))
                        .is_some_and(|a| a.key_type() == algorithm.key_type())
                        && plain_name.is_some() == offered.name.ends_with(CERT_SUFFIX);
                if ok.key_blob != blob.as_slice() || !same_type {
                    return Err(AuthError::Mismatch("PK_OK names another key or algorithm"));
                }
                let data = msg::signed_data(
                    &self.session_id,
                    &self.user,
                    SSH_CONNECTION,
                    &offered.name,
                    &blob,
                );
                self.state = State::Signing { offered };
                self.events.push_back(ClientEvent::SignRequest {
                    key,
                    algorithm,
                    data,
                });
            }
            State::Awaiting("password") => {
                let req: PasswdChangeReq<'_> =
                    decode_exact(payload).map_err(AuthError::malformed(m))?;
                self.events.push_back(ClientEvent::PasswordChangeRequested {
                    prompt: req.prompt.to_owned(),
                });
            }
            State::Keyboard => {
                let req: InfoRequest = decode_exact(payload).map_err(AuthError::malformed(m))?;
                self.state = State::Keyboard;
                self.events.push_back(ClientEvent::InfoRequest(req));
            }
            other => {
                self.state = other;
                return Err(AuthError::UnexpectedMessage {
                    msg: m,
                    context: "for no outstanding method",
                });
            }
        }
        Ok(())
    }
}
