//! Asynchronous authentication policies: [`AsyncAuthPolicy`] for user stores that are async
//! themselves (a database, an HTTP service), and [`Policy`], what a server holds: either kind,
//! the synchronous [`AuthPolicy`] running on the verification threads as before.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use nacre_auth::msg::InfoRequest;
use nacre_keys::{Certificate, PublicKey};
use zeroize::Zeroizing;

use crate::auth_server::{AuthContext, AuthPolicy, KeyboardAnswer, PasswordCheck};

/// The future an [`AsyncAuthPolicy`] method returns.
pub type AuthFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Decides who may log in, asynchronously: each method is awaited in the connection's
/// authentication loop (one question at a time per connection), so it may query an async store
/// directly. Every method has a refusing default. A slow answer holds only its own connection,
/// within the login grace time.
///
/// ```
/// use nacre::{AsyncAuthPolicy, AuthContext, AuthFuture, PasswordCheck};
///
/// struct Remote;
/// impl AsyncAuthPolicy for Remote {
///     fn password<'a>(
///         &'a self,
///         ctx: &'a AuthContext,
///         password: &'a str,
///     ) -> AuthFuture<'a, PasswordCheck> {
///         Box::pin(async move {
///             // e.g. `store.check(&ctx.user, password).await`
///             if ctx.user == "alice" && password == "wonderland" {
///                 PasswordCheck::Accept
///             } else {
///                 PasswordCheck::Reject
///             }
///         })
///     }
/// }
/// let server = nacre::Server::builder()
///     .ephemeral_host_key()
///     .async_auth_policy(Remote)
///     .build();
/// assert!(server.is_ok());
/// ```
pub trait AsyncAuthPolicy: Send + Sync + 'static {
    /// Is this the user's password?
    fn password<'a>(
        &'a self,
        _ctx: &'a AuthContext,
        _password: &'a str,
    ) -> AuthFuture<'a, PasswordCheck> {
        Box::pin(async { PasswordCheck::Reject })
    }
    /// Change the password from `old` to `new` (after [`PasswordCheck::ChangeRequired`]).
    fn change_password<'a>(
        &'a self,
        _ctx: &'a AuthContext,
        _old: &'a str,
        _new: &'a str,
    ) -> AuthFuture<'a, bool> {
        Box::pin(async { false })
    }
    /// May `key` log in as the user? Asked for a query and again after the signature
    /// verified; only the second answer authenticates.
    fn publickey<'a>(&'a self, _ctx: &'a AuthContext, _key: &'a PublicKey) -> AuthFuture<'a, bool> {
        Box::pin(async { false })
    }
    /// Keyboard-interactive starts: the prompts to send, or `None` to refuse.
    fn keyboard_interactive<'a>(
        &'a self,
        _ctx: &'a AuthContext,
        _submethods: &'a str,
    ) -> AuthFuture<'a, Option<InfoRequest>> {
        Box::pin(async { None })
    }
    /// The responses to the last prompts.
    fn keyboard_responses<'a>(
        &'a self,
        _ctx: &'a AuthContext,
        _responses: &'a [Zeroizing<String>],
    ) -> AuthFuture<'a, KeyboardAnswer> {
        Box::pin(async { KeyboardAnswer::Reject })
    }
    /// The `authorized_keys` options that go with `key` once it authenticated (`None`: no
    /// restrictions known).
    fn authorized_key_options<'a>(
        &'a self,
        _ctx: &'a AuthContext,
        _key: &'a PublicKey,
    ) -> AuthFuture<'a, Option<nacre_keys::KeyOptions>> {
        Box::pin(async { None })
    }
    /// May the user log in with this OpenSSH certificate (PROTOCOL.certkeys)? As
    /// [`AuthPolicy::certificate`].
    fn certificate<'a>(
        &'a self,
        _ctx: &'a AuthContext,
        _cert: &'a Certificate,
    ) -> AuthFuture<'a, bool> {
        Box::pin(async { false })
    }
    /// The options that go with a certificate that authenticated; by default the certificate's
    /// own, as [`AuthPolicy::certificate_options`].
    fn certificate_options<'a>(
        &'a self,
        _ctx: &'a AuthContext,
        cert: &'a Certificate,
    ) -> AuthFuture<'a, Option<nacre_keys::KeyOptions>> {
        Box::pin(std::future::ready(Some(
            crate::auth_server::own_certificate_options(cert),
        )))
    }
}

/// Decides whether a server's host key is trusted, asynchronously (a key service, a question
/// to the user in a GUI): awaited while the key exchange waits for the answer. For the
/// synchronous case, [`crate::ClientBuilder::verify_host_key`] takes a closure; the default is
/// `~/.ssh/known_hosts`.
///
/// ```
/// use nacre::{AuthFuture, VerifyHostKey};
/// use nacre::keys::PublicKey;
///
/// struct Pinned(String);
/// impl VerifyHostKey for Pinned {
///     fn verify<'a>(&'a self, key: &'a PublicKey) -> AuthFuture<'a, bool> {
///         Box::pin(async move { key.fingerprint_sha256() == self.0 })
///     }
/// }
/// let builder = nacre::Client::builder().verify_host_key_async(Pinned("SHA256:...".into()));
/// # let _ = builder;
/// ```
pub trait VerifyHostKey: Send + Sync + 'static {
    /// Whether `key` is the server's.
    fn verify<'a>(&'a self, key: &'a PublicKey) -> AuthFuture<'a, bool>;

    /// Whether the server is trusted when it proved itself with a host certificate
    /// (`*-cert-v01@openssh.com`, offered when the transport's
    /// [`host_key_certificates`](nacre_transport::Config::host_key_certificates) is set):
    /// `certificate` is what it sent, `key` the key inside, which signed the key exchange.
    /// The certificate's CA signature is already verified; whose CA it is, and whether it is
    /// valid now and for this host, is for this method to decide
    /// ([`Certificate::check_host`](nacre_keys::Certificate::check_host) does OpenSSH's checks).
    /// The default ignores the certificate and asks [`VerifyHostKey::verify`] about the key.
    fn verify_certificate<'a>(
        &'a self,
        key: &'a PublicKey,
        certificate: &'a Certificate,
    ) -> AuthFuture<'a, bool> {
        let _ = certificate;
        self.verify(key)
    }
}

/// What a server asks who may log in: an [`AuthPolicy`] (synchronous: password checks on the
/// process's verification threads, `crate::auth_workers`, other questions on tokio's blocking
/// pool) or an [`AsyncAuthPolicy`] (awaited). `From` an `Arc` of either kind of policy, or
/// [`Policy::from_async`].
#[derive(Clone)]
pub struct Policy(Arc<dyn AsyncAuthPolicy>);

impl Policy {
    /// An asynchronous policy.
    pub fn from_async(policy: impl AsyncAuthPolicy) -> Self {
        Policy(Arc::new(policy))
    }

    /// A synchronous policy, run off the connection's task.
    pub fn blocking<P: AuthPolicy + ?Sized>(policy: Arc<P>) -> Self {
        Policy(Arc::new(Blocking(policy)))
    }

    pub(crate) fn get(&self) -> &dyn AsyncAuthPolicy {
        self.0.as_ref()
    }
}

impl<P: AuthPolicy + ?Sized> From<Arc<P>> for Policy {
    fn from(policy: Arc<P>) -> Self {
        Policy::blocking(policy)
    }
}

/// A synchronous policy as an asynchronous one: the checks that may be costly (passwords,
/// keyboard-interactive responses) on the verification pool, the others on the blocking pool.
struct Blocking<P: ?Sized>(Arc<P>);

/// Runs `f` on tokio's blocking pool; `default` if it could not run.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static, default: T) -> T {
    tokio::task::spawn_blocking(f).await.unwrap_or(default)
}

impl<P: AuthPolicy + ?Sized> AsyncAuthPolicy for Blocking<P> {
    fn password<'a>(
        &'a self,
        ctx: &'a AuthContext,
        password: &'a str,
    ) -> AuthFuture<'a, PasswordCheck> {
        let (p, ctx, pw) = (
            self.0.clone(),
            ctx.clone(),
            Zeroizing::new(password.to_owned()),
        );
        Box::pin(async move {
            crate::auth_workers::run(move || p.password(&ctx, &pw))
                .await
                .unwrap_or(PasswordCheck::Reject)
        })
    }

    fn change_password<'a>(
        &'a self,
        ctx: &'a AuthContext,
        old: &'a str,
        new: &'a str,
    ) -> AuthFuture<'a, bool> {
        let (p, ctx) = (self.0.clone(), ctx.clone());
        let (old, new) = (
            Zeroizing::new(old.to_owned()),
            Zeroizing::new(new.to_owned()),
        );
        Box::pin(async move {
            crate::auth_workers::run(move || p.change_password(&ctx, &old, &new))
                .await
                .unwrap_or(false)
        })
    }

    fn publickey<'a>(&'a self, ctx: &'a AuthContext, key: &'a PublicKey) -> AuthFuture<'a, bool> {
        let (p, ctx, key) = (self.0.clone(), ctx.clone(), key.clone());
        Box::pin(blocking(move || p.publickey(&ctx, &key), false))
    }

    fn keyboard_interactive<'a>(
        &'a self,
        ctx: &'a AuthContext,
        submethods: &'a str,
    ) -> AuthFuture<'a, Option<InfoRequest>> {
        let (p, ctx, sub) = (self.0.clone(), ctx.clone(), submethods.to_owned());
        Box::pin(blocking(move || p.keyboard_interactive(&ctx, &sub), None))
    }

    fn keyboard_responses<'a>(
        &'a self,
        ctx: &'a AuthContext,
        responses: &'a [Zeroizing<String>],
    ) -> AuthFuture<'a, KeyboardAnswer> {
        let (p, ctx, r) = (self.0.clone(), ctx.clone(), responses.to_vec());
        Box::pin(async move {
            crate::auth_workers::run(move || p.keyboard_responses(&ctx, &r))
                .await
                .unwrap_or(KeyboardAnswer::Reject)
        })
    }

    fn authorized_key_options<'a>(
        &'a self,
        ctx: &'a AuthContext,
        key: &'a PublicKey,
    ) -> AuthFuture<'a, Option<nacre_keys::KeyOptions>> {
        // A lookup in what the key query already read: answered here.
        Box::pin(std::future::ready(self.0.authorized_key_options(ctx, key)))
    }

    fn certificate<'a>(
        &'a self,
        ctx: &'a AuthContext,
        cert: &'a Certificate,
    ) -> AuthFuture<'a, bool> {
        let (p, ctx, cert) = (self.0.clone(), ctx.clone(), cert.clone());
        Box::pin(blocking(move || p.certificate(&ctx, &cert), false))
    }

    fn certificate_options<'a>(
        &'a self,
        ctx: &'a AuthContext,
        cert: &'a Certificate,
    ) -> AuthFuture<'a, Option<nacre_keys::KeyOptions>> {
        // May read files (a principals file, the CA list): on the blocking pool; if that cannot
        // run, the certificate's own options still apply.
        let (p, ctx, c) = (self.0.clone(), ctx.clone(), cert.clone());
        let fallback = Some(crate::auth_server::own_certificate_options(cert));
        Box::pin(blocking(move || p.certificate_options(&ctx, &c), fallback))
    }
}
