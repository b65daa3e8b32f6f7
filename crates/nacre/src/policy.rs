//! The built-in authentication policy: users with password hashes (argon2 or bcrypt, never plain
//! text) and OpenSSH `authorized_keys` files whose `from=` and `expiry-time=` options are enforced.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use nacre_keys::{AuthorizedKeys, Certificate, KeyOptions, PublicKey};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

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

/// Largest argon2 memory cost (KiB, 256 MiB) whose work area a verification thread keeps for
/// the next check. A hash above it is still verified, in memory allocated for that check alone
/// (and [`UsersPolicy::insert`] warns about it).
pub const MAX_REUSED_ARGON2_KIB: u32 = 256 * 1024;

thread_local! {
    /// The argon2 work area of this verification thread, as large as the largest hash checked
    /// so far (up to [`MAX_REUSED_ARGON2_KIB`]); only kept on `crate::auth_workers` threads.
    static WORK_AREA: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

fn verify_password(hash: &str, password: &str) -> bool {
    if hash.starts_with("$2") {
        return bcrypt::verify(password, hash).unwrap_or(false);
    }
    match PasswordHash::new(hash) {
        Ok(parsed) => verify_argon2(&parsed, password.as_bytes()),
        Err(_) => false,
    }
}

/// An argon2 PHC hash's settings, or `None` when it is not one nacre can check.
fn argon2_of(hash: &PasswordHash<'_>) -> Option<(Argon2<'static>, Params)> {
    let algorithm = Algorithm::try_from(hash.algorithm).ok()?;
    let version = match hash.version {
        Some(v) => Version::try_from(v).ok()?,
        None => Version::default(),
    };
    let params = Params::try_from(hash).ok()?;
    Some((Argon2::new(algorithm, version, params.clone()), params))
}

/// Checks `password` against an argon2 hash (what `PasswordVerifier` does), hashing in the
/// thread's reused work area on a verification thread and comparing in constant time.
fn verify_argon2(hash: &PasswordHash<'_>, password: &[u8]) -> bool {
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return false;
    };
    let Some((argon2, params)) = argon2_of(hash) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = Zeroizing::new(vec![0u8; expected.len()]);
    let blocks = params.block_count();
    let hashed =
        if params.m_cost() <= MAX_REUSED_ARGON2_KIB && crate::auth_workers::on_worker_thread() {
            WORK_AREA.with(|area| {
                let Ok(mut area) = area.try_borrow_mut() else {
                    return false;
                };
                if area.len() < blocks {
                    area.resize(blocks, Block::default());
                }
                let Some(memory) = area.get_mut(..blocks) else {
                    return false;
                };
                argon2
                    .hash_password_into_with_memory(password, salt, &mut out, memory)
                    .is_ok()
            })
        } else {
            argon2.hash_password_into(password, salt, &mut out).is_ok()
        };
    hashed && bool::from(out.as_slice().ct_eq(expected.as_bytes()))
}

/// An argon2id hash with [`hash_password`]'s parameters that no password matches (its output is
/// all zeros): checking a password against it costs what a real check costs, in time and memory.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        format!(
            "$argon2id$v=19$m={},t={},p={}$bmFjcmUtdGltaW5nLWVxdWFsaXNlcg${}",
            Params::DEFAULT_M_COST,
            Params::DEFAULT_T_COST,
            Params::DEFAULT_P_COST,
            "A".repeat(43)
        )
    })
}

/// Spends about the time of a real verification, so an unknown user answers like a wrong password
/// (on the same verification thread and work area as a real check).
fn burn_time(password: &str) {
    let _ = verify_password(dummy_hash(), password);
}

impl UsersPolicy {
    /// An empty policy (nobody can log in).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a user. A password hash nacre cannot check is logged (the user then
    /// cannot log in with a password), as is an argon2 hash above [`MAX_REUSED_ARGON2_KIB`].
    pub fn insert(&mut self, name: &str, user: User) {
        if let Some(hash) = user
            .password_hash
            .as_deref()
            .filter(|h| !h.starts_with("$2"))
        {
            match PasswordHash::new(hash).ok().as_ref().and_then(argon2_of) {
                None => tracing::warn!(user = name, "password hash not understood"),
                Some((_, p)) if p.m_cost() > MAX_REUSED_ARGON2_KIB => tracing::warn!(
                    user = name,
                    m_cost = p.m_cost(),
                    "argon2 memory cost above 256 MiB: each check allocates it anew"
                ),
                Some(_) => {}
            }
        }
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

    /// The options with which a user certificate logs `user` in through a `cert-authority`
    /// line of the user's authorized_keys (with `principals=`; PROTOCOL.certkeys, sshd's
    /// auth2-pubkey.c), if it does.
    pub fn certificate_options_for(
        &self,
        ctx: &AuthContext,
        cert: &Certificate,
    ) -> Option<KeyOptions> {
        let keys = &self.users.get(&ctx.user)?.authorized_keys;
        let addr = ctx.peer.map(|p| p.ip())?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        match nacre_keys::cert::authorize_by_authorized_keys(keys, cert, &ctx.user, now, addr) {
            Ok(options) => Some(options),
            Err(e) => {
                tracing::info!(user = %ctx.user, id = %cert.key_id(), serial = cert.serial(), error = %e, "refusing certificate");
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

    fn certificate(&self, ctx: &AuthContext, cert: &Certificate) -> bool {
        self.certificate_options_for(ctx, cert).is_some()
    }

    fn certificate_options(&self, ctx: &AuthContext, cert: &Certificate) -> Option<KeyOptions> {
        self.certificate_options_for(ctx, cert)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// argon2 hashes of several kinds and sizes (lanes, output length, a smaller one after a
    /// larger one in the same work area) check the same on a verification thread (reused work
    /// area) and elsewhere (fresh memory) as with `PasswordVerifier`; the dummy hash parses with
    /// the default parameters and matches nothing.
    #[tokio::test]
    async fn reused_work_area_checks_like_the_reference_verifier() {
        use argon2::password_hash::PasswordVerifier;
        let salt = SaltString::from_b64("c29tZXNhbHRzb21lc2FsdA").ok();
        let mut hashes = vec![hash_password("right").unwrap_or_default()];
        for (alg, m, t, p, len) in [
            (Algorithm::Argon2i, 4096, 3, 2, 32),
            (Algorithm::Argon2d, 256, 1, 1, 16),
            (Algorithm::Argon2id, 1024, 2, 4, 64),
        ] {
            let params = Params::new(m, t, p, Some(len)).ok();
            let argon2 = params.map(|ps| Argon2::new(alg, Version::V0x13, ps));
            if let (Some(a), Some(salt)) = (argon2, salt.as_ref()) {
                hashes.push(
                    a.hash_password(b"right", salt)
                        .map(|h| h.to_string())
                        .unwrap_or_default(),
                );
            }
        }
        assert_eq!(hashes.len(), 4);
        for hash in hashes {
            for (password, want) in [("right", true), ("wrong", false), ("", false)] {
                let reference = PasswordHash::new(&hash).is_ok_and(|h| {
                    Argon2::default()
                        .verify_password(password.as_bytes(), &h)
                        .is_ok()
                });
                assert_eq!(reference, want, "{hash}");
                assert_eq!(verify_password(&hash, password), want, "{hash}");
                let (h, p) = (hash.clone(), password.to_owned());
                let pooled = crate::auth_workers::run(move || verify_password(&h, &p)).await;
                assert_eq!(pooled, Some(want), "{hash} on a verification thread");
            }
        }
        let dummy = PasswordHash::new(dummy_hash()).ok();
        let params = dummy
            .as_ref()
            .and_then(argon2_of)
            .map(|(_, p)| (p.m_cost(), p.t_cost(), p.p_cost(), p.output_len()));
        let d = Params::default();
        let want = (
            d.m_cost(),
            d.t_cost(),
            d.p_cost(),
            Some(Params::DEFAULT_OUTPUT_LEN),
        );
        assert_eq!(params, Some(want));
        assert!(!verify_password(dummy_hash(), "nacre-timing-equaliser"));
        assert!(!verify_password(dummy_hash(), ""));
    }
}
