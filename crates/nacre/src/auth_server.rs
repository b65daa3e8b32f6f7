//! Server-side user authentication on a [`Connection`]: the session machine in the connection
//! task runs RFC 4252; its questions are answered here by an [`AuthPolicy`].

use std::net::SocketAddr;

use nacre_auth::msg::InfoRequest;
use nacre_auth::{AuthServerConfig, Decision, MethodKind, ServerEvent};
use nacre_keys::{Certificate, PublicKey};
use nacre_session::ServerEvent as SessionEvent;
use zeroize::Zeroizing;

use crate::auth_async::{AsyncAuthPolicy, Policy};
use crate::command::Command;
use crate::driver::Up;
use crate::error::Error;
use crate::handle::Connection;
use crate::machine::ServerAuthCmd;

/// Who is asking.
#[derive(Debug, Clone)]
pub struct AuthContext {
    /// The user name of the request.
    pub user: String,
    /// The client's address, when known.
    pub peer: Option<SocketAddr>,
}

/// The answer to a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordCheck {
    /// Right.
    Accept,
    /// Wrong.
    Reject,
    /// Right but expired: the client must send a new one (RFC 4252 §8).
    ChangeRequired(String),
}

/// The answer to keyboard-interactive responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyboardAnswer {
    /// Authenticated.
    Accept,
    /// Refused.
    Reject,
    /// Another round of prompts.
    More(InfoRequest),
}

/// One question per method. Every method defaults to refusing, so a policy only implements what it
/// offers. Calls run on a blocking thread: password hashing may take its time.
/// [`AuthPolicy::password`], [`AuthPolicy::change_password`] and
/// [`AuthPolicy::keyboard_responses`] run on the process's verification threads (one per core,
/// shared by every connection; see [`crate::auth_workers`]), one call at a time per connection;
/// the others on tokio's blocking pool.
pub trait AuthPolicy: Send + Sync + 'static {
    /// Is this the user's password?
    fn password(&self, _ctx: &AuthContext, _password: &str) -> PasswordCheck {
        PasswordCheck::Reject
    }
    /// Change the password from `old` to `new` (after [`PasswordCheck::ChangeRequired`]).
    fn change_password(&self, _ctx: &AuthContext, _old: &str, _new: &str) -> bool {
        false
    }
    /// May `key` log in as the user? Asked for a query (nothing proven yet) and again, with the key
    /// that signed, after the signature verified; only the second answer authenticates.
    fn publickey(&self, _ctx: &AuthContext, _key: &PublicKey) -> bool {
        false
    }
    /// Keyboard-interactive starts: the prompts to send, or `None` to refuse.
    fn keyboard_interactive(&self, _ctx: &AuthContext, _submethods: &str) -> Option<InfoRequest> {
        None
    }
    /// The responses to the last prompts.
    fn keyboard_responses(
        &self,
        _ctx: &AuthContext,
        _responses: &[Zeroizing<String>],
    ) -> KeyboardAnswer {
        KeyboardAnswer::Reject
    }
    /// May the user log in with this OpenSSH certificate (PROTOCOL.certkeys)? Asked instead of
    /// [`AuthPolicy::publickey`] when the client offers a `*-cert-v01@openssh.com` key: for a
    /// query, then for the certificate whose key signed. The certificate's CA signature is
    /// already verified; the policy decides whether the CA is trusted and checks type, validity,
    /// principals and options ([`Certificate::check_user`]).
    fn certificate(&self, _ctx: &AuthContext, _cert: &Certificate) -> bool {
        false
    }
    /// The options that go with a certificate that authenticated (its critical options and
    /// extensions, with those of the authorized_keys line that trusted its CA, if any). The
    /// default reads the certificate's own (`force-command`, `source-address`, the `permit-*`
    /// extensions, PROTOCOL.certkeys §2.1–2.2), so a policy that only implements
    /// [`AuthPolicy::certificate`] cannot drop them; a certificate whose options cannot be read
    /// gets no pty, no forwarding and the command `false`.
    fn certificate_options(
        &self,
        _ctx: &AuthContext,
        cert: &Certificate,
    ) -> Option<nacre_keys::KeyOptions> {
        Some(own_certificate_options(cert))
    }
    /// The `authorized_keys` options that go with `key` for the user, once it authenticated
    /// (what the session may do: forwarding, pty, ...). `None`: no restrictions known.
    fn authorized_key_options(
        &self,
        _ctx: &AuthContext,
        _key: &PublicKey,
    ) -> Option<nacre_keys::KeyOptions> {
        None
    }
}

/// A certificate's own options as authorized_keys options (PROTOCOL.certkeys §2.1–2.2): what
/// [`AuthPolicy::certificate_options`] and [`crate::AsyncAuthPolicy::certificate_options`] give
/// by default. A certificate whose options cannot be read gets no pty, no forwarding and the
/// command `false`.
pub(crate) fn own_certificate_options(cert: &Certificate) -> nacre_keys::KeyOptions {
    match cert.options() {
        Ok(options) => options.to_key_options(),
        Err(_) => nacre_keys::KeyOptions {
            restrict: true,
            pty: false,
            port_forwarding: false,
            agent_forwarding: false,
            x11_forwarding: false,
            user_rc: false,
            command: Some("false".to_owned()),
            ..nacre_keys::KeyOptions::default()
        },
    }
}

/// The result of a successful authentication.
#[derive(Debug, Clone, PartialEq)]
pub struct Authenticated {
    /// The user.
    pub user: String,
    /// Methods that succeeded, in order.
    pub methods: Vec<MethodKind>,
    /// The public key that signed, if publickey was used.
    pub key: Option<PublicKey>,
    /// The certificate the key was accepted with, if any.
    pub certificate: Option<Box<Certificate>>,
}

async fn answer(
    policy: &dyn AsyncAuthPolicy,
    peer: Option<SocketAddr>,
    event: ServerEvent,
) -> Option<(nacre_auth::RequestId, Decision)> {
    // A real attempt (not a key query) that fails is logged as sshd does, naming the method,
    // the user and the client.
    let attempt = match &event {
        ServerEvent::Password { user, .. } => Some(("password", user.clone())),
        ServerEvent::PublicKeyVerified { user, .. } => Some(("publickey", user.clone())),
        ServerEvent::KeyboardResponses { user, .. } => Some(("keyboard-interactive", user.clone())),
        _ => None,
    };
    let decided = decide(policy, event, peer).await;
    if let (Some((method, user)), Some((_, Decision::Reject))) = (attempt, &decided) {
        tracing::info!(
            "failed {method} for \"{user}\" from {}",
            crate::listener::peer_text(peer)
        );
    }
    decided
}

fn yes_no(ok: bool) -> Decision {
    if ok {
        Decision::Accept
    } else {
        Decision::Reject
    }
}

async fn decide(
    policy: &dyn AsyncAuthPolicy,
    event: ServerEvent,
    peer: Option<SocketAddr>,
) -> Option<(nacre_auth::RequestId, Decision)> {
    let ctx = |user: &str| AuthContext {
        user: user.to_owned(),
        peer,
    };
    Some(match event {
        ServerEvent::Password {
            id,
            user,
            password,
            new_password: None,
        } => {
            let d = match policy.password(&ctx(&user), &password).await {
                PasswordCheck::Accept => Decision::Accept,
                PasswordCheck::Reject => Decision::Reject,
                PasswordCheck::ChangeRequired(prompt) => {
                    Decision::PasswordChangeRequired { prompt }
                }
            };
            (id, d)
        }
        ServerEvent::Password {
            id,
            user,
            password,
            new_password: Some(new),
        } => (
            id,
            yes_no(policy.change_password(&ctx(&user), &password, &new).await),
        ),
        ServerEvent::PublicKeyQuery {
            id,
            user,
            certificate: Some(cert),
            ..
        } => (id, yes_no(policy.certificate(&ctx(&user), &cert).await)),
        ServerEvent::PublicKeyQuery { id, user, key, .. } => {
            (id, yes_no(policy.publickey(&ctx(&user), &key).await))
        }
        ServerEvent::PublicKeyVerified {
            id,
            user,
            key,
            certificate,
            sk,
        } => {
            let c = ctx(&user);
            let allowed = match &certificate {
                Some(cert) => policy.certificate(&c, cert).await,
                None => policy.publickey(&c, &key).await,
            };
            let flags_ok = match sk {
                Some(info) if allowed => {
                    sk_flags_allowed(policy, &c, &key, certificate.as_deref(), info).await
                }
                _ => true,
            };
            (id, yes_no(allowed && flags_ok))
        }
        ServerEvent::KeyboardInteractive {
            id,
            user,
            submethods,
        } => (
            id,
            policy
                .keyboard_interactive(&ctx(&user), &submethods)
                .await
                .map_or(Decision::Reject, Decision::Prompts),
        ),
        ServerEvent::KeyboardResponses {
            id,
            user,
            responses,
        } => {
            let d = match policy.keyboard_responses(&ctx(&user), &responses).await {
                KeyboardAnswer::Accept => Decision::Accept,
                KeyboardAnswer::Reject => Decision::Reject,
                KeyboardAnswer::More(req) => Decision::Prompts(req),
            };
            (id, d)
        }
        ServerEvent::Success { .. } => return None,
    })
}

/// sshd's check of a security key signature's flags (auth2-pubkey.c): user presence unless the
/// key's options (authorized_keys, or the certificate's merged with its CA line) say
/// `no-touch-required`, user verification when they say `verify-required`. The counter is
/// logged as sshd records it.
async fn sk_flags_allowed(
    policy: &dyn AsyncAuthPolicy,
    ctx: &AuthContext,
    key: &PublicKey,
    certificate: Option<&Certificate>,
    info: nacre_keys::SkSignatureInfo,
) -> bool {
    let options = match certificate {
        Some(cert) => policy.certificate_options(ctx, cert).await,
        None => policy.authorized_key_options(ctx, key).await,
    };
    let touch_required = options.as_ref().is_none_or(|o| !o.no_touch_required);
    let verify_required = options.as_ref().is_some_and(|o| o.verify_required);
    match info.check(touch_required, verify_required) {
        Ok(()) => {
            tracing::debug!(
                "security key signature for \"{}\": counter {}, flags 0x{:02x}",
                ctx.user,
                info.counter,
                info.flags
            );
            true
        }
        Err(e) => {
            tracing::info!(
                "public key {} signature for \"{}\" from {} rejected: {e}",
                key.key_type(),
                ctx.user,
                crate::listener::peer_text(ctx.peer)
            );
            false
        }
    }
}

impl Connection {
    /// Server side: runs user authentication to success with `policy` answering (an
    /// `Arc` of an [`AuthPolicy`] or a [`Policy`], e.g. of an [`crate::AsyncAuthPolicy`]).
    /// Protocol errors, too many failures and a closed connection end with an error (and a
    /// DISCONNECT where due). The session machine in the connection task runs RFC 4252; this
    /// loop only answers its questions.
    pub async fn authenticate_client(
        &mut self,
        config: AuthServerConfig,
        policy: impl Into<Policy>,
        peer: Option<SocketAddr>,
    ) -> Result<Authenticated, Error> {
        let policy = policy.into();
        self.server_auth(ServerAuthCmd::Begin(Box::new(config)))
            .await?;
        loop {
            let ev = match self.next_auth().await {
                Some(Up::ServerAuth(ev)) => ev,
                Some(Up::Failed(nacre_session::LayerError::Auth(e))) => return Err(Error::Auth(e)),
                Some(_) => continue,
                None => return Err(self.auth_ended().await),
            };
            match ev {
                SessionEvent::Authenticated {
                    user,
                    methods,
                    key,
                    certificate,
                } => {
                    return Ok(Authenticated {
                        user,
                        methods,
                        key,
                        certificate,
                    })
                }
                SessionEvent::Auth(question) => {
                    if let Some((id, decision)) = self.ask(&policy, peer, question).await? {
                        self.server_auth(ServerAuthCmd::Decide(id, decision))
                            .await?;
                    }
                }
                _ => {}
            }
        }
    }

    async fn server_auth(&self, cmd: ServerAuthCmd) -> Result<(), Error> {
        self.commands.send(Command::ServerAuth(cmd))
    }

    /// Has `policy` answer `event` (a synchronous policy checks passwords on the verification
    /// pool, one at a time per connection since the loop waits for each answer, and other
    /// questions on tokio's blocking pool, so a storm of password guesses does not delay key
    /// logins). Stops waiting as soon as the connection closes: its MaxStartups slot is free at
    /// once, and a check still queued is skipped.
    async fn ask(
        &mut self,
        policy: &Policy,
        peer: Option<SocketAddr>,
        event: ServerEvent,
    ) -> Result<Option<(nacre_auth::RequestId, Decision)>, Error> {
        self.unless_closed(answer(policy.get(), peer, event)).await
    }

    /// Awaits `fut`, or fails as soon as the connection ends (without reading its packets).
    async fn unless_closed<F: std::future::Future>(&mut self, fut: F) -> Result<F::Output, Error> {
        let Some(done) = self.done.as_mut() else {
            return Ok(fut.await);
        };
        let outcome = tokio::select! {
            biased;
            out = fut => Ok(out),
            ended = done => Err(ended),
        };
        match outcome {
            Ok(out) => Ok(out),
            Err(ended) => {
                self.done = None;
                let ended = ended.unwrap_or(crate::driver::Ended {
                    reason: nacre_transport::TransportError::ConnectionLost,
                    layer: None,
                });
                self.ended = Some(ended.clone());
                Err(Error::Transport(ended.reason))
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use nacre_keys::cert::CertBuilder;
    use nacre_keys::{CertType, PrivateKey};

    struct OnlyCertificates;

    impl AuthPolicy for OnlyCertificates {
        fn certificate(&self, _ctx: &AuthContext, _cert: &Certificate) -> bool {
            true
        }
    }

    /// A policy that accepts certificates without computing their options still gets the
    /// certificate's force-command and permissions by default.
    #[test]
    fn default_certificate_options_come_from_the_certificate() {
        let ca = PrivateKey::from_ed25519_seed(&[1; 32]);
        let build =
            || CertBuilder::new(ca.public_key(), CertType::User).principals(vec!["alice".into()]);
        let cert = build()
            .critical_option("force-command", Some("/bin/date".into()))
            .extension("permit-pty", None)
            .sign(&ca, None, &mut rand_core::OsRng)
            .unwrap();
        let ctx = AuthContext {
            user: "alice".into(),
            peer: None,
        };
        let o = OnlyCertificates.certificate_options(&ctx, &cert).unwrap();
        assert_eq!(o.command.as_deref(), Some("/bin/date"));
        assert!(o.pty && !o.port_forwarding && !o.agent_forwarding);
        let unknown = build()
            .critical_option("unknown@example.com", None)
            .sign(&ca, None, &mut rand_core::OsRng)
            .unwrap();
        let o = OnlyCertificates
            .certificate_options(&ctx, &unknown)
            .unwrap();
        assert_eq!(o.command.as_deref(), Some("false"));
        assert!(!o.pty);
    }

    /// A policy whose authorized_keys line for every key carries `options`.
    struct WithOptions(nacre_keys::KeyOptions);

    impl AuthPolicy for WithOptions {
        fn authorized_key_options(
            &self,
            _ctx: &AuthContext,
            _key: &PublicKey,
        ) -> Option<nacre_keys::KeyOptions> {
            Some(self.0.clone())
        }
    }

    /// The runtime's decision on a security key signature's flags, as sshd's: from the
    /// authorized_keys options of the key, or from a certificate's extension
    /// `no-touch-required` and critical option `verify-required`.
    #[tokio::test]
    async fn security_key_flags_follow_the_key_options() {
        use nacre_keys::{KeyOptions, KeyType, SkSignatureInfo};
        let sk = PublicKey::security_key(KeyType::SkEd25519, &ed25519_point(), "ssh:").unwrap();
        let ctx = AuthContext {
            user: "alice".into(),
            peer: None,
        };
        let info = |flags| SkSignatureInfo { flags, counter: 1 };
        let options = |line: &str| {
            nacre_keys::AuthorizedKeys::parse(&format!("{line} {}", sk.to_openssh_line("")))
                .0
                .entries()[0]
                .options
                .clone()
        };
        let decide = |o: Option<KeyOptions>, flags: u8| {
            let policy = match o {
                Some(o) => Policy::blocking(Arc::new(WithOptions(o))),
                None => Policy::blocking(Arc::new(OnlyCertificates)),
            };
            let sk = sk.clone();
            let ctx = ctx.clone();
            async move { sk_flags_allowed(policy.get(), &ctx, &sk, None, info(flags)).await }
        };
        // No options known: presence required.
        assert!(decide(None, 0x01).await);
        assert!(!decide(None, 0x00).await);
        assert!(decide(Some(options("no-touch-required")), 0x00).await);
        assert!(!decide(Some(options("verify-required")), 0x01).await);
        assert!(decide(Some(options("verify-required")), 0x05).await);
        assert!(!decide(Some(options("no-touch-required,verify-required")), 0x00).await);
        // Certificates: the certificate's own options by default.
        let ca = PrivateKey::from_ed25519_seed(&[2; 32]);
        let cert = |extension: Option<&str>, critical: Option<&str>| {
            let mut b =
                CertBuilder::new(sk.clone(), CertType::User).principals(vec!["alice".into()]);
            if let Some(e) = extension {
                b = b.extension(e, None);
            }
            if let Some(c) = critical {
                b = b.critical_option(c, None);
            }
            b.sign(&ca, None, &mut rand_core::OsRng).unwrap()
        };
        let policy = Policy::blocking(Arc::new(OnlyCertificates));
        let check = |c: Certificate, flags: u8| {
            let policy = policy.clone();
            let (sk, ctx) = (sk.clone(), ctx.clone());
            async move { sk_flags_allowed(policy.get(), &ctx, &sk, Some(&c), info(flags)).await }
        };
        assert!(check(cert(None, None), 0x01).await);
        assert!(!check(cert(None, None), 0x00).await);
        assert!(check(cert(Some("no-touch-required"), None), 0x00).await);
        assert!(!check(cert(None, Some("verify-required")), 0x01).await);
        assert!(check(cert(None, Some("verify-required")), 0x05).await);
    }

    /// A valid Ed25519 public key.
    fn ed25519_point() -> Vec<u8> {
        PrivateKey::from_ed25519_seed(&[3; 32])
            .public_key()
            .ed25519_bytes()
            .unwrap()
            .to_vec()
    }
}
