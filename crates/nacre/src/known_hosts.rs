//! Host key verification against OpenSSH `known_hosts` files.

use std::path::PathBuf;
use std::sync::Arc;

use nacre_keys::{HostKeyStatus, KnownHosts, PublicKey};

use crate::driver::HostKeyVerifier;

/// The client's host key checks as the connection task runs them: the plain key verifier, and
/// the transport's [`nacre_transport::Config::host_certificate_check`] for host certificates.
#[derive(Clone)]
pub(crate) struct HostVerifiers {
    pub(crate) key: HostKeyVerifier,
    pub(crate) certificate: Option<nacre_transport::config::HostCertificateCheck>,
}

impl HostVerifiers {
    /// Whether the host key (or the host certificate, when the server sent one) is trusted.
    pub(crate) fn trusted(&self, key: &PublicKey, cert: Option<&nacre_keys::Certificate>) -> bool {
        match (cert, &self.certificate) {
            (Some(c), Some(check)) => check(c),
            _ => (self.key)(key),
        }
    }
}

/// What to do with a host that has no key of this type in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownHosts {
    /// Refuse (OpenSSH's `StrictHostKeyChecking yes`).
    Reject,
    /// Accept and append the key, hashed or plain (`StrictHostKeyChecking accept-new`).
    AcceptNew {
        /// Write a hashed entry (`HashKnownHosts yes`).
        hashed: bool,
    },
}

/// What the known_hosts file at `path` says of `key` for `host`:`port`; a missing file knows
/// nothing (`Unknown`), an unreadable one is an error.
pub fn known_host_status(
    path: &std::path::Path,
    host: &str,
    port: u16,
    key: &PublicKey,
) -> std::io::Result<HostKeyStatus> {
    let known = match KnownHosts::read_file(path) {
        Ok((k, _errors)) => k,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => KnownHosts::default(),
        Err(e) => return Err(e),
    };
    Ok(known.lookup(host, port, key))
}

/// A verifier that checks `host`:`port` in the known_hosts file at `path`: a listed key is
/// accepted; a changed key (another key of the same type listed) and a revoked key are refused.
pub fn known_hosts_verifier(
    path: PathBuf,
    host: &str,
    port: u16,
    unknown: UnknownHosts,
) -> HostKeyVerifier {
    let host = host.to_owned();
    Arc::new(move |key: &PublicKey| {
        let status = match known_host_status(&path, &host, port, key) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "cannot read known_hosts");
                return false;
            }
        };
        match status {
            HostKeyStatus::Match => true,
            HostKeyStatus::Mismatch { .. } => {
                tracing::error!(%host, port, fingerprint = %key.fingerprint_sha256(), "REMOTE HOST IDENTIFICATION HAS CHANGED: refusing the host key");
                false
            }
            HostKeyStatus::Revoked => {
                tracing::error!(%host, port, "the host key is revoked");
                false
            }
            HostKeyStatus::Unknown => match unknown {
                UnknownHosts::Reject => false,
                UnknownHosts::AcceptNew { hashed } => {
                    let mut rng = rand_core::OsRng;
                    match KnownHosts::append_to_file(&path, &host, port, key, hashed, &mut rng) {
                        Ok(()) => true,
                        Err(e) => {
                            tracing::error!(path = %path.display(), error = %e, "cannot add the host key");
                            false
                        }
                    }
                }
            },
        }
    })
}
