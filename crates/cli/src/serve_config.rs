//! `nacre serve --config FILE`: a TOML file with users (password hashes, authorized_keys, a root
//! each), the defaults of the command-line flags, and sshd options (`[options]`, overridden by
//! `-o` on the command line).
//!
//! ```toml
//! listen = "0.0.0.0:2222"
//! root = "/srv/sftp"
//! read_only = false
//! allow_exec = false
//! sftp_as_user = true        # SFTP in a process run as the logged-in user (when started as root)
//! run_as = "sftpdata"        # started as root: the Unix account every login acts as
//! host_keys = ["/etc/nacre/ssh_host_ed25519_key"]
//!
//! [options]
//! MaxAuthTries = "3"
//! KexAlgorithms = "mlkem768x25519-sha256,curve25519-sha256"
//!
//! [[users]]
//! name = "alice"
//! password_hash = "$argon2id$v=19$m=19456,t=2,p=1$..."   # `nacre` never stores plain text
//! authorized_keys = "/home/alice/.ssh/authorized_keys"
//! root = "/srv/sftp/alice"
//! run_as = "alice"           # this user's account (else the global run_as, else the login's own)
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

/// The file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Address to listen on.
    pub listen: Option<String>,
    /// Default SFTP root.
    pub root: Option<PathBuf>,
    /// SFTP read-only.
    #[serde(default)]
    pub read_only: bool,
    /// Allow exec and shell.
    #[serde(default)]
    pub allow_exec: bool,
    /// SFTP in a `nacre sftp-server` process run as the user.
    #[serde(default)]
    pub sftp_as_user: bool,
    /// Started as root: the Unix account every login acts as (`--run-as`).
    pub run_as: Option<String>,
    /// Host key files.
    #[serde(default)]
    pub host_keys: Vec<PathBuf>,
    /// sshd options by name.
    #[serde(default)]
    pub options: BTreeMap<String, toml::Value>,
    /// Users.
    #[serde(default)]
    pub users: Vec<UserConfig>,
}

/// One user.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// Login name.
    pub name: String,
    /// argon2 or bcrypt hash (PHC string).
    pub password_hash: Option<String>,
    /// authorized_keys file.
    pub authorized_keys: Option<PathBuf>,
    /// This user's SFTP root (else the default root).
    pub root: Option<PathBuf>,
    /// Started as root: the Unix account this user acts as (else the global `run_as`, else the
    /// login's own account).
    pub run_as: Option<String>,
}

impl ServeConfig {
    /// Reads and checks the file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let config: ServeConfig =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        for u in &config.users {
            if let Some(h) = &u.password_hash {
                if !(h.starts_with("$argon2") || h.starts_with("$2")) {
                    anyhow::bail!(
                        "user {}: password_hash must be an argon2 or bcrypt hash, never plain text",
                        u.name
                    );
                }
            }
        }
        Ok(config)
    }

    /// The `[options]` table as `Name=value` strings, to apply before `-o`.
    pub fn option_strings(&self) -> Vec<String> {
        self.options
            .iter()
            .map(|(k, v)| match v {
                toml::Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect()
    }

    /// The users policy of the file.
    pub fn policy(&self) -> anyhow::Result<nacre::UsersPolicy> {
        let mut policy = nacre::UsersPolicy::new();
        for u in &self.users {
            policy.insert(
                &u.name,
                nacre::User {
                    password_hash: u.password_hash.clone(),
                    ..nacre::User::default()
                },
            );
            if let Some(path) = &u.authorized_keys {
                policy
                    .load_authorized_keys(&u.name, path)
                    .with_context(|| format!("reading {}", path.display()))?;
            }
        }
        Ok(policy)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn parses_and_refuses_plain_passwords() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "root = \"/srv\"\n[options]\nMaxAuthTries = 3\n[[users]]\nname = \"a\"\npassword_hash = \"$argon2id$v=19$x\"\nroot = \"/srv/a\"\n").unwrap();
        let c = ServeConfig::load(&p).unwrap();
        assert_eq!(c.option_strings(), vec!["MaxAuthTries=3".to_owned()]);
        assert_eq!(c.users[0].root.as_deref(), Some(Path::new("/srv/a")));
        std::fs::write(&p, "[[users]]\nname = \"a\"\npassword_hash = \"hunter2\"\n").unwrap();
        assert!(ServeConfig::load(&p).is_err());
        std::fs::write(&p, "bogus = 1\n").unwrap();
        assert!(ServeConfig::load(&p).is_err());
    }
}
