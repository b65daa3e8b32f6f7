//! Key pairs made with OpenSSH's `ssh-keygen`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::process::run_with_timeout;
use crate::repo_root;
use crate::user::install_authorized_key;

/// The key types the harness generates, for host keys and client keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyType {
    /// Ed25519.
    Ed25519,
    /// ECDSA on NIST P-256.
    EcdsaP256,
    /// ECDSA on NIST P-384.
    EcdsaP384,
    /// ECDSA on NIST P-521.
    EcdsaP521,
    /// RSA with a 3072-bit modulus.
    Rsa3072,
}

impl KeyType {
    /// Every key type.
    pub const ALL: [KeyType; 5] = [
        KeyType::Ed25519,
        KeyType::EcdsaP256,
        KeyType::EcdsaP384,
        KeyType::EcdsaP521,
        KeyType::Rsa3072,
    ];

    /// The `ssh-keygen` arguments selecting this type.
    pub fn ssh_keygen_args(self) -> &'static [&'static str] {
        match self {
            KeyType::Ed25519 => &["-t", "ed25519"],
            KeyType::EcdsaP256 => &["-t", "ecdsa", "-b", "256"],
            KeyType::EcdsaP384 => &["-t", "ecdsa", "-b", "384"],
            KeyType::EcdsaP521 => &["-t", "ecdsa", "-b", "521"],
            KeyType::Rsa3072 => &["-t", "rsa", "-b", "3072"],
        }
    }

    /// A short name usable in file names: `ed25519`, `ecdsa256`, `ecdsa384`, `ecdsa521`, `rsa3072`.
    pub fn file_stem(self) -> &'static str {
        match self {
            KeyType::Ed25519 => "ed25519",
            KeyType::EcdsaP256 => "ecdsa256",
            KeyType::EcdsaP384 => "ecdsa384",
            KeyType::EcdsaP521 => "ecdsa521",
            KeyType::Rsa3072 => "rsa3072",
        }
    }

    /// The key type name on the wire and first field of the `.pub` line (`ssh-rsa` for RSA).
    pub fn key_type_name(self) -> &'static str {
        match self {
            KeyType::Ed25519 => "ssh-ed25519",
            KeyType::EcdsaP256 => "ecdsa-sha2-nistp256",
            KeyType::EcdsaP384 => "ecdsa-sha2-nistp384",
            KeyType::EcdsaP521 => "ecdsa-sha2-nistp521",
            KeyType::Rsa3072 => "ssh-rsa",
        }
    }

    /// The host-key / signature algorithm OpenSSH 9.2 negotiates by default for this key type
    /// (`rsa-sha2-512` for RSA).
    pub fn default_signature_algorithm(self) -> &'static str {
        match self {
            KeyType::Rsa3072 => "rsa-sha2-512",
            other => other.key_type_name(),
        }
    }
}

/// A private key file and its `.pub`, made by `ssh-keygen` (OpenSSH format, no passphrase).
#[derive(Clone, Debug)]
pub struct KeyPair {
    /// The key type.
    pub key_type: KeyType,
    /// The private key file (mode 600).
    pub private: PathBuf,
    /// The `.pub` file beside it.
    pub public: PathBuf,
    /// The `.pub` line, trimmed: `TYPE BASE64 COMMENT`.
    pub pub_line: String,
}

impl KeyPair {
    /// Generates `dir/name` and `dir/name.pub` with `ssh-keygen -q -N '' -C name`, replacing old files.
    pub fn generate(dir: &Path, name: &str, key_type: KeyType) -> KeyPair {
        let private = dir.join(name);
        let public = dir.join(format!("{name}.pub"));
        // ssh-keygen asks before overwriting; there is no one to answer.
        let _ = fs::remove_file(&private);
        let _ = fs::remove_file(&public);
        let mut cmd = Command::new("ssh-keygen");
        cmd.arg("-q")
            .args(key_type.ssh_keygen_args())
            .args(["-N", "", "-C", name, "-f"])
            .arg(&private);
        run_with_timeout(&mut cmd, Duration::from_secs(60)).assert_success();
        let pub_line = fs::read_to_string(&public)
            .unwrap_or_else(|e| panic!("read {}: {e}", public.display()))
            .trim()
            .to_string();
        KeyPair {
            key_type,
            private,
            public,
            pub_line,
        }
    }

    /// The `TYPE BASE64` part of the `.pub` line, without the comment.
    pub fn pub_key(&self) -> String {
        self.pub_line
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A client key of this type shared by every test run on this checkout (kept in `target/nacre-tests/keys/`,
/// made once), with its public key installed in `~peer/.ssh/authorized_keys`.
///
/// Sharing one key per type keeps `authorized_keys` from growing with every test run. Creation is atomic
/// (the key is made in a private folder that is then renamed into place), so concurrent test processes agree.
pub fn authorized_client_key(key_type: KeyType) -> KeyPair {
    let base = repo_root().join("target/nacre-tests/keys");
    fs::create_dir_all(&base).unwrap_or_else(|e| panic!("mkdir {}: {e}", base.display()));
    let name = format!("client_{}", key_type.file_stem());
    let dir = base.join(&name);
    if !dir.join(format!("{name}.pub")).exists() {
        let tmp = base.join(format!(
            ".{name}.{}.{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp).unwrap_or_else(|e| panic!("mkdir {}: {e}", tmp.display()));
        KeyPair::generate(&tmp, &name, key_type);
        // Fails if another process got there first (the folder then exists and is not empty): use theirs.
        if fs::rename(&tmp, &dir).is_err() {
            let _ = fs::remove_dir_all(&tmp);
        }
    }
    let private = dir.join(&name);
    let public = dir.join(format!("{name}.pub"));
    let pub_line = fs::read_to_string(&public)
        .unwrap_or_else(|e| panic!("read {}: {e}", public.display()))
        .trim()
        .to_string();
    install_authorized_key(&pub_line);
    KeyPair {
        key_type,
        private,
        public,
        pub_line,
    }
}
