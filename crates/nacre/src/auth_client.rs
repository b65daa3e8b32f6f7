//! Client-side user authentication on a [`Connection`]: the sans-IO [`AuthClient`] pumped over the
//! connection's service packets.

use std::sync::Arc;

use bytes::Bytes;
use nacre_auth::msg::InfoRequest;
use nacre_auth::{AuthClient, ClientEvent};
use nacre_keys::agent::AgentClient;
use nacre_keys::{PrivateKey, PublicKey, SignatureAlgorithm};
use zeroize::Zeroizing;

use crate::error::Error;
use crate::handle::Connection;

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
    /// A password.
    Password(Zeroizing<String>),
    /// Keyboard-interactive with this responder.
    KeyboardInteractive(PromptResponder),
}

impl Credential {
    fn rank(&self) -> u8 {
        match self {
            Credential::Agent(_) => 0,
            Credential::Key(_) => 1,
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
    fn auth_client(&mut self, user: &str) -> &mut AuthClient {
        let info = self.info().clone();
        let accepted = self.pubkey_algorithms.clone();
        self.auth.get_or_insert_with(|| {
            let mut c = AuthClient::new(user, &info.session_id, info.server_sig_algs.as_deref());
            if let Some(a) = accepted {
                c.set_pubkey_algorithms(a);
            }
            c
        })
    }

    /// Limits public key authentication to these signature algorithms (OpenSSH's
    /// PubkeyAcceptedAlgorithms): keys with none of them are skipped, and RSA keys use the best
    /// listed algorithm the server offers.
    pub fn set_pubkey_algorithms(&mut self, algorithms: Vec<SignatureAlgorithm>) {
        if let Some(c) = self.auth.as_mut() {
            c.set_pubkey_algorithms(algorithms.clone());
        }
        self.pubkey_algorithms = Some(algorithms);
    }

    /// Banners the server sent during authentication.
    pub fn banners(&self) -> &[String] {
        &self.banners
    }

    /// Methods the server said can continue (known after the first attempt).
    pub fn allowed_methods(&self) -> Option<Vec<String>> {
        self.auth
            .as_ref()
            .and_then(|a| a.allowed_methods().map(<[String]>::to_vec))
    }

    /// Tries a password.
    pub async fn authenticate_password(
        &mut self,
        user: &str,
        password: &str,
    ) -> Result<AuthResult, Error> {
        self.settle(user).await?;
        self.auth_client(user).password(password);
        self.pump(|_, _| {}).await
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

    /// Tries a public key whose signatures `sign` makes (a hardware token, an agent, ...).
    pub async fn authenticate_with_signer(
        &mut self,
        user: &str,
        key: &PublicKey,
        mut sign: impl FnMut(SignatureAlgorithm, &[u8]) -> Result<Vec<u8>, String>,
    ) -> Result<AuthResult, Error> {
        let settled = self.settle(user).await?;
        if self.auth_client(user).usable_algorithm(key).is_none() {
            tracing::debug!(key = %key.fingerprint_sha256(), "no accepted signature algorithm for this key");
            return Ok(settled);
        }
        self.auth_client(user).publickey(key);
        self.pump(|auth, ev| {
            if let ClientEvent::SignRequest {
                algorithm, data, ..
            } = ev
            {
                match sign(*algorithm, data) {
                    Ok(sig) => auth.signature(&sig),
                    Err(e) => tracing::warn!(%e, "cannot sign with this key"),
                }
            }
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
        let identities = agent
            .identities()
            .map_err(|e| Error::Agent(e.to_string()))?;
        for (key, _comment) in identities {
            if !self.auth_client(user).allows("publickey") {
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
        self.auth_client(user).keyboard_interactive("");
        self.pump(|auth, ev| {
            if let ClientEvent::InfoRequest(req) = ev {
                auth.info_response(respond(req).into_iter().map(Zeroizing::new).collect());
            }
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
                Credential::Key(_) | Credential::Agent(_) => "publickey",
                Credential::Password(_) => "password",
                Credential::KeyboardInteractive(_) => "keyboard-interactive",
            };
            if !self.auth_client(user).allows(method) {
                continue;
            }
            last = match c {
                Credential::Key(k) => self.authenticate_publickey(user, k).await?,
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

    /// Sends the initial `none` request and waits for its answer (first call only).
    async fn settle(&mut self, user: &str) -> Result<AuthResult, Error> {
        if self.auth.is_none() {
            self.auth_client(user);
            return self.pump(|_, _| {}).await;
        }
        Ok(AuthResult::Failure {
            methods: self.allowed_methods().unwrap_or_default(),
            partial: false,
        })
    }

    /// Sends what the machine wants sent and feeds it packets until the outstanding request is answered.
    async fn pump(
        &mut self,
        mut on_event: impl FnMut(&mut AuthClient, &ClientEvent),
    ) -> Result<AuthResult, Error> {
        let mut result = None;
        loop {
            let Some(auth) = self.auth.as_mut() else {
                return Err(Error::Closed);
            };
            let mut out = Vec::new();
            while let Some(p) = auth.poll_transmit() {
                out.push(p);
            }
            while let Some(ev) = auth.poll_event() {
                on_event(auth, &ev);
                match ev {
                    ClientEvent::Banner(b) => self.banners.push(b),
                    ClientEvent::Success => result = Some(AuthResult::Success),
                    ClientEvent::Failure {
                        methods,
                        partial_success,
                    } => {
                        result = Some(AuthResult::Failure {
                            methods,
                            partial: partial_success,
                        })
                    }
                    _ => {}
                }
            }
            for p in out {
                self.send(Bytes::from(p)).await?;
            }
            let Some(auth) = self.auth.as_mut() else {
                return Err(Error::Closed);
            };
            if auth.has_pending_output() {
                continue;
            }
            if let Some(r) = result.take() {
                if r == AuthResult::Success {
                    self.set_authenticated().await?;
                }
                return Ok(r);
            }
            let Some(packet) = self.recv_raw().await else {
                return Err(Error::Transport(self.closed().await));
            };
            let Some(auth) = self.auth.as_mut() else {
                return Err(Error::Closed);
            };
            if let Err(e) = auth.handle_packet(&packet) {
                let reason = e.reason();
                self.disconnect_ref(reason, &e.to_string()).await;
                return Err(Error::Auth(e));
            }
        }
    }
}
