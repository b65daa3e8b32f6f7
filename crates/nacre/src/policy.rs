//! The built-in authentication policy: users with password hashes (argon2 or bcrypt, never plain
//! text) and OpenSSH `authorized_keys` files whose `from=` and `expiry-time=` options are enforced.

use std::collections::HashMap;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use nacre_keys::{AuthorizedKeys, KeyOptions, PublicKey};

use crate::auth_server::{AuthContext, AuthPolicy, PasswordCheck};

/// One user of [`UsersPolicy`].
#[derive(Debug, Clone, Default)]
pub struct User {
    /// Password hash in PHC form: `$argon2id$...` (or `$argon2i$`, `$argon2d$`) or bcrypt
    /// `$2b$...`/`$2a$...`/`$2y$...`. `None`: no password login.
    pub password_hash: Option<String>,
    /// Keys that may log in, with their options.
    pub authorized_keys: AuthorizedKeys,
}

/// A fixed table of users.
#[derive(Debug, Clone, Default)]
pub struct UsersPolicy {
    users: HashMap<String, User>,
}

/// An argon2id hash of `password` with a random salt, for configuration files.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut rand_core::OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

fn verify_password(hash: &str, password: &str) -> bool {
    if hash.starts_with("$2") {
        return bcrypt::verify(password, hash).unwrap_or(false);
    }
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Spends about the time of a real verification, so an unknown user answers like a wrong password.
fn burn_time(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let hash = DUMMY.get_or_init(|| hash_password("nacre-timing-equaliser").unwrap_or_default());
    let _ = verify_password(hash, password);
}

impl UsersPolicy {
    /// An empty policy (nobody can log in).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a user.
    pub fn insert(&mut self, name: &str, user: User) {
        self.users.insert(name.to_owned(), user);
    }

    /// Reads an `authorized_keys` file for `name` (bad lines are logged and skipped, as sshd does).
    pub fn load_authorized_keys(&mut self, name: &str, path: &Path) -> std::io::Result<()> {
        let text = std::fs::read_to_string(path)?;
        let (keys, errors) = AuthorizedKeys::parse(&text);
        for (line, e) in errors {
            tracing::warn!(path = %path.display(), line, error = %e, "skipping authorized_keys line");
        }
        self.users
            .entry(name.to_owned())
            .or_default()
            .authorized_keys = keys;
        Ok(())
    }

    /// The options of the line that authorizes `key` for `user`, if it may log in from `ctx`.
    pub fn key_options(&self, ctx: &AuthContext, key: &PublicKey) -> Option<KeyOptions> {
        let entry = self.users.get(&ctx.user)?.authorized_keys.find(key)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let addr = ctx.peer.map(|p| p.ip())?;
        match entry.options.check(addr, None, now) {
            Ok(()) => Some(entry.options.clone()),
            Err(refusal) => {
                tracing::info!(user = %ctx.user, %refusal, "authorized key refused by its options");
                None
            }
        }
    }
}

impl AuthPolicy for UsersPolicy {
    fn password(&self, ctx: &AuthContext, password: &str) -> PasswordCheck {
        match self
            .users
            .get(&ctx.user)
            .and_then(|u| u.password_hash.as_deref())
        {
            Some(hash) if verify_password(hash, password) => PasswordCheck::Accept,
            Some(_) => PasswordCheck::Reject,
            None => {
                burn_time(password);
                PasswordCheck::Reject
            }
        }
    }

    fn publickey(&self, ctx: &AuthContext, key: &PublicKey) -> bool {
        self.key_options(ctx, key).is_some()
    }

    fn authorized_key_options(&self, ctx: &AuthContext, key: &PublicKey) -> Option<KeyOptions> {
        self.key_options(ctx, key)
    }
}
