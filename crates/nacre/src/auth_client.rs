//! Client-side user authentication on a [`Connection`]: the session machine in the connection
//! task runs RFC 4252; these methods tell it what to try and wait for its answers.

use std::sync::Arc;

use nacre_auth::msg::InfoRequest;
use nacre_keys::agent::AgentClient;
use nacre_keys::{PrivateKey, PublicKey, SignatureAlgorithm};
use nacre_session::ClientEvent;
use tokio::sync::oneshot;
use zeroize::Zeroizing;

use crate::command::Command;
use crate::driver::Up;
use crate::error::Error;
use crate::handle::Connection;
use crate::machine::ClientAuthCmd;

/// Answers keyboard-interactive prompts.
pub type PromptResponder = Arc<dyn Fn(&InfoRequest) -> Vec<String> + Send + Sync>;

/// What the last authentication attempt achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthResult {
    /// Authenticated: the connection layer may start.
    Success,
    /// Refused; these methods can continue (`partial` when this step counted towards a multi-step policy).
    Failure {
        /// Methods that can continue.
        methods: Vec<String>,
        /// Partial success.
        partial: bool,
    },
}

/// One step of the automatic sequence of [`Connection::authenticate`].
#[derive(Clone)]
pub enum Credential {
    /// Every key of the ssh-agent listening on this socket (`SSH_AUTH_SOCK`).
    Agent(std::path::PathBuf),
    /// A private key (from a file).
    Key(Arc<PrivateKey>),
    /// An OpenSSH certificate (`key-cert.pub`, PROTOCOL.certkeys) and the private key it
    /// certifies.
    Certificate(Arc<PrivateKey>, Arc<nacre_keys::Certificate>),
    /// A password.
    Password(Zeroizing<String>),
    /// Keyboard-interactive with this responder.
    KeyboardInteractive(PromptResponder),
}

impl Credential {
    fn rank(&self) -> u8 {
        match self {
            Credential::Agent(_) => 0,
            Credential::Key(_) | Credential::Certificate(..) => 1,
            Credential::KeyboardInteractive(_) => 2,
            Credential::Password(_) => 3,
        }
    }

    /// Sorts credentials in OpenSSH's order (stable within each kind).
    pub fn openssh_order(list: &mut [Credential]) {
        list.sort_by_key(Credential::rank);
    }
}

impl Connection {
    async fn auth_cmd(&self, cmd: ClientAuthCmd) -> Result<(), Error> {
        self.commands.send(Command::ClientAuth(cmd))
    }

    /// Limits public key authentication to these signature algorithms (OpenSSH's
    /// PubkeyAcceptedAlgorithms): keys with none of them are skipped, and RSA keys use the best
    /// listed algorithm the server offers. Call it before authenticating.
    pub fn set_pubkey_algorithms(&mut self, algorithms: Vec<SignatureAlgorithm>) {
        self.pubkey_algorithms = Some(algorithms);
    }

    /// Banners the server sent during authentication.
    pub fn banners(&self) -> &[String] {
        &self.banners
    }

    /// Methods the server said can continue (known after the first attempt).
    pub fn allowed_methods(&self) -> Option<Vec<String>> {
        self.allowed.clone()
    }

    /// Whether the server lets `method` continue (true until it said which ones do).
    fn allows(&self, method: &str) -> bool {
        self.allowed
            .as_ref()
            .is_none_or(|m| m.iter().any(|x| x == method))
    }

    /// Tries a password.
    pub async fn authenticate_password(
        &mut self,
        user: &str,
        password: &str,
    ) -> Result<AuthResult, Error> {
        self.settle(user).await?;
        self.auth_cmd(ClientAuthCmd::Password(Zeroizing::new(password.to_owned())))
            .await?;
        self.pump(|_| None).await
    }

    /// Tries a private key: a query, then the signature once the server accepts the key.
    pub async fn authenticate_publickey(
        &mut self,
        user: &str,
        key: &PrivateKey,
    ) -> Result<AuthResult, Error> {
        let public = key.public_key();
        self.authenticate_with_signer(user, &public, |alg, data| {
            key.sign(alg, data).map_err(|e| e.to_string())
        })
        .await
    }

    /// Tries an OpenSSH certificate of `key` (PROTOCOL.certkeys): the query names the
    /// certificate, `key` signs.
    pub async fn authenticate_certificate(
        &mut self,
        user: &str,
        key: &PrivateKey,
        cert: &nacre_keys::Certificate,
    ) -> Result<AuthResult, Error> {
        if *cert.key() != key.public_key() {
            tracing::warn!(id = %cert.key_id(), "the certificate is not of this private key");
            return self.settle(user).await;
        }
        self.offer_with_signer(user, cert.key(), Some(cert), |alg, data| {
            key.sign(alg, data).map_err(|e| e.to_string())
        })
        .await
    }

    /// Tries a public key whose signatures `sign` makes (a hardware token, an agent, ...).
    pub async fn authenticate_with_signer(
        &mut self,
        user: &str,
        key: &PublicKey,
        sign: impl FnMut(SignatureAlgorithm, &[u8]) -> Result<Vec<u8>, String>,
    ) -> Result<AuthResult, Error> {
        self.offer_with_signer(user, key, None, sign).await
    }

    async fn offer_with_signer(
        &mut self,
        user: &str,
        key: &PublicKey,
        cert: Option<&nacre_keys::Certificate>,
        mut sign: impl FnMut(SignatureAlgorithm, &[u8]) -> Result<Vec<u8>, String>,
    ) -> Result<AuthResult, Error> {
        let settled = self.settle(user).await?;
        let (tx, rx) = oneshot::channel();
        self.auth_cmd(ClientAuthCmd::UsableAlgorithm(key.clone(), tx))
            .await?;
        if rx.await.ok().flatten().is_none() {
            tracing::debug!(key = %key.fingerprint_sha256(), "no accepted signature algorithm for this key");
            return Ok(settled);
        }
        let offer = match cert {
            Some(c) => ClientAuthCmd::Certificate(Box::new(c.clone())),
            None => ClientAuthCmd::PublicKey(key.clone()),
        };
        self.auth_cmd(offer).await?;
        self.pump(|ev| match ev {
            ClientEvent::SignRequest {
                id,
                algorithm,
                data,
                ..
            } => Some(match sign(*algorithm, data) {
                Ok(sig) => ClientAuthCmd::Signature(*id, sig),
                Err(e) => {
                    tracing::warn!(%e, "cannot sign with this key");
                    ClientAuthCmd::NoSignature
                }
            }),
            _ => None,
        })
        .await
    }

    /// Tries every key the ssh-agent holds, in the agent's order, until one is accepted. Each
    /// signature is one round trip to the agent's local socket.
    pub async fn authenticate_agent(
        &mut self,
        user: &str,
        agent: &mut AgentClient,
    ) -> Result<AuthResult, Error> {
        let mut last = self.settle(user).await?;
        // Certificates first, as ssh offers a certificate before its plain key.
        let certificates = agent
            .certificates()
            .map_err(|e| Error::Agent(e.to_string()))?;
        for (cert, _comment) in certificates {
            if !self.allows("publickey") {
                break;
            }
            last = self
                .offer_with_signer(user, cert.key(), Some(&cert), |alg, data| {
                    agent
                        .sign_certificate(&cert, data, alg)
                        .map_err(|e| e.to_string())
                })
                .await?;
            if last == AuthResult::Success {
                return Ok(last);
            }
        }
        let identities = agent
            .identities()
            .map_err(|e| Error::Agent(e.to_string()))?;
        for (key, _comment) in identities {
            if !self.allows("publickey") {
                break;
            }
            last = self
                .authenticate_with_signer(user, &key, |alg, data| {
                    agent.sign(&key, data, alg).map_err(|e| e.to_string())
                })
                .await?;
            if last == AuthResult::Success {
                break;
            }
        }
        Ok(last)
    }

    /// Keyboard-interactive: `respond` answers each round of prompts.
    pub async fn authenticate_keyboard_interactive(
        &mut self,
        user: &str,
        respond: &PromptResponder,
    ) -> Result<AuthResult, Error> {
        self.settle(user).await?;
        self.auth_cmd(ClientAuthCmd::Keyboard(String::new()))
            .await?;
        self.pump(|ev| match ev {
            ClientEvent::InfoRequest { id, request } => Some(ClientAuthCmd::Info(
                *id,
                respond(request).into_iter().map(Zeroizing::new).collect(),
            )),
            _ => None,
        })
        .await
    }

    /// Tries the credentials in the order given, skipping methods the server does not allow, until
    /// one succeeds. OpenSSH's order is: agent keys, key files, keyboard-interactive, password
    /// ([`Credential::openssh_order`] sorts a list that way).
    pub async fn authenticate(
        &mut self,
        user: &str,
        credentials: &[Credential],
    ) -> Result<AuthResult, Error> {
        let mut last = self.settle(user).await?;
        for c in credentials {
            let method = match c {
                Credential::Key(_) | Credential::Agent(_) | Credential::Certificate(..) => {
                    "publickey"
                }
                Credential::Password(_) => "password",
                Credential::KeyboardInteractive(_) => "keyboard-interactive",
            };
            if !self.allows(method) {
                continue;
            }
            last = match c {
                Credential::Key(k) => self.authenticate_publickey(user, k).await?,
                Credential::Certificate(k, c) => self.authenticate_certificate(user, k, c).await?,
                Credential::Agent(path) => match AgentClient::connect(path) {
                    Ok(mut agent) => self.authenticate_agent(user, &mut agent).await?,
                    Err(e) => {
                        tracing::info!(error = %e, "ssh-agent not available");
                        continue;
                    }
                },
                Credential::Password(p) => self.authenticate_password(user, p).await?,
                Credential::KeyboardInteractive(r) => {
                    self.authenticate_keyboard_interactive(user, r).await?
                }
            };
            if last == AuthResult::Success {
                break;
            }
        }
        Ok(last)
    }

    /// Starts authentication as `user` and waits for the answer to its `none` request (first
    /// call only).
    async fn settle(&mut self, user: &str) -> Result<AuthResult, Error> {
        if !self.auth_started {
            self.auth_started = true;
            let algorithms = self.pubkey_algorithms.clone();
            self.auth_cmd(ClientAuthCmd::Begin(user.to_owned(), algorithms))
                .await?;
            return self.pump(|_| None).await;
        }
        Ok(AuthResult::Failure {
            methods: self.allowed_methods().unwrap_or_default(),
            partial: false,
        })
    }

    /// Waits for the outcome of the request in flight, answering the session's questions with
    /// `answer` on the way.
    async fn pump(
        &mut self,
        mut answer: impl FnMut(&ClientEvent) -> Option<ClientAuthCmd>,
    ) -> Result<AuthResult, Error> {
        loop {
            let ev = match self.next_auth().await {
                Some(Up::ClientAuth(ev)) => ev,
                Some(Up::Failed(nacre_session::LayerError::Auth(e))) => return Err(Error::Auth(e)),
                Some(_) => continue,
                None => return Err(self.auth_ended().await),
            };
            if let Some(cmd) = answer(&ev) {
                self.auth_cmd(cmd).await?;
            }
            match ev {
                ClientEvent::Banner(b) => self.banners.push(b),
                ClientEvent::Authenticated => return Ok(AuthResult::Success),
                ClientEvent::AuthMethods {
                    methods,
                    partial_success,
                } => {
                    self.allowed = Some(methods.clone());
                    return Ok(AuthResult::Failure {
                        methods,
                        partial: partial_success,
                    });
                }
                _ => {}
            }
        }
    }
}
