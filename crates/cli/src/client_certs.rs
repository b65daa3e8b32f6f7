//! The client's certificates (OpenSSH `PROTOCOL.certkeys`): `KEY-cert.pub` beside an identity
//! file and `CertificateFile` entries, offered for the private key they certify, as ssh does.

use std::path::{Path, PathBuf};

use nacre::keys::{Certificate, KeyOrCert, PrivateKey};

/// The certificates of `key` (loaded from `identity`): `identity-cert.pub` first, then the
/// `CertificateFile`s, each once; files that are missing, unreadable, not certificates or of
/// another key are skipped (with a log line for the last three).
pub fn for_key(identity: &Path, key: &PrivateKey, files: &[PathBuf]) -> Vec<Certificate> {
    let mut beside = identity.as_os_str().to_owned();
    beside.push("-cert.pub");
    let mut out: Vec<Certificate> = Vec::new();
    let candidates = std::iter::once(PathBuf::from(beside)).chain(files.iter().cloned());
    for path in candidates {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let line = text
            .lines()
            .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .unwrap_or_default();
        match KeyOrCert::from_openssh_line(line) {
            Ok((KeyOrCert::Cert(c), _)) if *c.key() == key.public_key() => {
                if !out.contains(&c) {
                    out.push(*c);
                }
            }
            Ok((KeyOrCert::Cert(_), _)) => {
                tracing::debug!(file = %path.display(), "certificate of another key")
            }
            Ok(_) => tracing::warn!(file = %path.display(), "not a certificate"),
            Err(e) => tracing::warn!(file = %path.display(), error = %e, "skipping certificate"),
        }
    }
    out
}
