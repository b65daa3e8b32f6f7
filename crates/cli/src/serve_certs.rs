//! `nacre serve -o TrustedUserCAKeys=FILE -o AuthorizedPrincipalsFile=PATH`: user certificates
//! (OpenSSH `PROTOCOL.certkeys`) signed by a CA listed in FILE log in when they name the user
//! (or, with AuthorizedPrincipalsFile, a principal listed in the user's file, with that line's
//! options), as sshd decides it; `cert-authority` lines of authorized_keys are the inner
//! policy's. Every other question goes to the inner policy.

use std::path::PathBuf;
use std::sync::Arc;

use nacre::auth::msg::InfoRequest;
use nacre::keys::cert::authorize_by_trusted_ca;
use nacre::keys::{Certificate, KeyOptions, KeyOrCert, PublicKey};
use nacre::{AuthContext, AuthPolicy, KeyboardAnswer, PasswordCheck};
use zeroize::Zeroizing;

/// sshd's TrustedUserCAKeys and AuthorizedPrincipalsFile.
#[derive(Clone, Debug, Default)]
pub struct CertSettings {
    /// A file of CA public keys (one per line, `#` comments).
    pub trusted_user_ca_keys: Option<PathBuf>,
    /// The principals file, with `%u` (user), `%h` (home) and `%%`; relative to the home.
    pub authorized_principals_file: Option<String>,
}

/// The inner policy with TrustedUserCAKeys in front of it.
pub struct CertPolicy {
    inner: Arc<dyn AuthPolicy>,
    settings: CertSettings,
}

impl CertPolicy {
    /// Wraps `inner`; without TrustedUserCAKeys it is `inner` itself.
    pub fn wrap(inner: Arc<dyn AuthPolicy>, settings: &CertSettings) -> Arc<dyn AuthPolicy> {
        if settings.trusted_user_ca_keys.is_none() {
            return inner;
        }
        Arc::new(Self {
            inner,
            settings: settings.clone(),
        })
    }

    fn cas(&self) -> Vec<PublicKey> {
        let Some(path) = &self.settings.trusted_user_ca_keys else {
            return Vec::new();
        };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "TrustedUserCAKeys");
                return Vec::new();
            }
        };
        text.lines()
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .filter_map(|l| match KeyOrCert::from_openssh_line(l) {
                Ok((KeyOrCert::Key(k), _)) => Some(k),
                _ => None,
            })
            .collect()
    }

    /// The principals file's text for `user`: None when no file is configured, an empty file
    /// when it is configured but unreadable (no principal then matches, as with sshd).
    fn principals(&self, user: &str) -> Option<String> {
        let template = self.settings.authorized_principals_file.as_deref()?;
        if template.eq_ignore_ascii_case("none") {
            return None;
        }
        let home = nacre::Account::lookup(user).map(|a| a.home);
        let home_text = home
            .as_ref()
            .map(|h| h.display().to_string())
            .unwrap_or_default();
        let path = template
            .replace("%%", "\u{0}")
            .replace("%u", user)
            .replace("%h", &home_text)
            .replace('\u{0}', "%");
        let mut path = PathBuf::from(path);
        if path.is_relative() {
            if let Some(h) = home {
                path = h.join(path);
            }
        }
        Some(std::fs::read_to_string(&path).unwrap_or_default())
    }

    fn trusted(&self, ctx: &AuthContext, cert: &Certificate) -> Option<KeyOptions> {
        let peer = ctx.peer?.ip();
        let now = crate::keygen_time::now();
        let principals = self.principals(&ctx.user);
        match authorize_by_trusted_ca(
            &self.cas(),
            principals.as_deref(),
            cert,
            &ctx.user,
            now,
            peer,
        ) {
            Ok(options) => {
                tracing::info!(user = %ctx.user, id = %cert.key_id(), serial = cert.serial(), "accepted certificate (TrustedUserCAKeys)");
                Some(options)
            }
            Err(e) => {
                tracing::info!(user = %ctx.user, id = %cert.key_id(), serial = cert.serial(), error = %e, "refusing certificate");
                None
            }
        }
    }
}

impl AuthPolicy for CertPolicy {
    fn password(&self, ctx: &AuthContext, password: &str) -> PasswordCheck {
        self.inner.password(ctx, password)
    }
    fn change_password(&self, ctx: &AuthContext, old: &str, new: &str) -> bool {
        self.inner.change_password(ctx, old, new)
    }
    fn publickey(&self, ctx: &AuthContext, key: &PublicKey) -> bool {
        self.inner.publickey(ctx, key)
    }
    fn keyboard_interactive(&self, ctx: &AuthContext, submethods: &str) -> Option<InfoRequest> {
        self.inner.keyboard_interactive(ctx, submethods)
    }
    fn keyboard_responses(
        &self,
        ctx: &AuthContext,
        responses: &[Zeroizing<String>],
    ) -> KeyboardAnswer {
        self.inner.keyboard_responses(ctx, responses)
    }
    fn authorized_key_options(&self, ctx: &AuthContext, key: &PublicKey) -> Option<KeyOptions> {
        self.inner.authorized_key_options(ctx, key)
    }
    fn certificate(&self, ctx: &AuthContext, cert: &Certificate) -> bool {
        self.trusted(ctx, cert).is_some() || self.inner.certificate(ctx, cert)
    }
    fn certificate_options(&self, ctx: &AuthContext, cert: &Certificate) -> Option<KeyOptions> {
        self.trusted(ctx, cert)
            .or_else(|| self.inner.certificate_options(ctx, cert))
    }
}
