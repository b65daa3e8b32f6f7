//! Checking the server's host key against `~/.ssh/known_hosts` as OpenSSH does, with its
//! wording: `StrictHostKeyChecking` `ask` (the default: the person confirms an unknown key with
//! yes, no or its fingerprint), `accept-new` (added without asking), `yes` (refused), `no`;
//! `~/.ssh` created (0700) when the first key is added; a changed key refused with the warning,
//! the known_hosts file and line of the old key, and the command that removes it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use nacre::keys::{HostKeyStatus, KnownHosts, PublicKey};

use crate::prompt;

/// How an unknown key is treated.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Unknown {
    /// Ask the person (refused without a terminal or with BatchMode).
    Ask,
    /// Add it.
    AcceptNew,
    /// Refuse it.
    Refuse,
}

/// OpenSSH's name for `host`:`port` in messages and known_hosts: `host`, or `[host]:port`.
fn host_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_owned()
    } else {
        format!("[{host}]:{port}")
    }
}

/// `ED25519`, `RSA`, `ECDSA`: the key type as OpenSSH names it in messages.
fn kind(key: &PublicKey) -> String {
    let name = key.key_type().name();
    let short = name
        .strip_prefix("ssh-")
        .unwrap_or(name)
        .split('-')
        .next()
        .unwrap_or(name);
    short.to_ascii_uppercase()
}

/// The lines (1-based) of `path` holding one of `keys`.
fn lines_of(path: &Path, keys: &[PublicKey]) -> Vec<usize> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let blobs: Vec<String> = keys
        .iter()
        .filter_map(|k| {
            k.to_openssh_line("")
                .split_whitespace()
                .nth(1)
                .map(str::to_owned)
        })
        .collect();
    text.lines()
        .enumerate()
        .filter(|(_, l)| blobs.iter().any(|b| l.contains(b.as_str())))
        .map(|(i, _)| i + 1)
        .collect()
}

fn changed_warning(path: &Path, host: &str, key: &PublicKey, known: &[PublicKey]) -> String {
    let at = lines_of(path, known)
        .iter()
        .map(|n| format!("{}:{n}", path.display()))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
         @    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n\
         @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
         IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n\
         Someone could be eavesdropping on you right now (man-in-the-middle attack)!\n\
         It is also possible that a host key has just been changed.\n\
         The fingerprint for the {} key sent by the remote host is\n{}.\n\
         Offending {} key in {at}\n\
         Remove it with: ssh-keygen -f '{}' -R '{host}'\n\
         Host key for {host} has changed and you have requested strict checking.\n\
         Host key verification failed.",
        kind(key),
        key.fingerprint_sha256(),
        kind(key),
        path.display()
    )
}

/// Adds `key` for `host` to `path`, creating its folder (0700) if needed; says so as ssh does.
fn add(path: &Path, host: &str, port: u16, key: &PublicKey) -> bool {
    if let Some(dir) = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        let made = std::fs::DirBuilder::new()
            .recursive(true)
            .mode_0700()
            .create(dir);
        if let Err(e) = made {
            eprintln!("Failed to create {}: {e}", dir.display());
            return false;
        }
    }
    let mut rng = rand_core::OsRng;
    match KnownHosts::append_to_file(path, host, port, key, false, &mut rng) {
        Ok(()) => {
            eprintln!(
                "Warning: Permanently added '{}' ({}) to the list of known hosts.",
                host_name(host, port),
                kind(key)
            );
            true
        }
        Err(e) => {
            eprintln!(
                "Failed to add the host to the list of known hosts ({}): {e}",
                path.display()
            );
            false
        }
    }
}

trait Mode0700 {
    fn mode_0700(&mut self) -> &mut Self;
}

impl Mode0700 for std::fs::DirBuilder {
    fn mode_0700(&mut self) -> &mut Self {
        std::os::unix::fs::DirBuilderExt::mode(self, 0o700)
    }
}

/// Asks whether to trust an unknown key: yes, no, or the key's fingerprint typed in.
fn confirm(host: &str, port: u16, key: &PublicKey) -> bool {
    let name = host_name(host, port);
    let fingerprint = key.fingerprint_sha256();
    prompt::say(&format!(
        "The authenticity of host '{name} ({name})' can't be established.\n{} key fingerprint is {fingerprint}.\nThis key is not known by any other names.",
        kind(key)
    ));
    let mut question =
        "Are you sure you want to continue connecting (yes/no/[fingerprint])? ".to_owned();
    loop {
        let Some(answer) = prompt::line(&question) else {
            return false;
        };
        match answer.trim() {
            "yes" => return true,
            "no" => return false,
            typed if typed == fingerprint => return true,
            _ => question = "Please type 'yes', 'no' or the fingerprint: ".to_owned(),
        }
    }
}

/// The verifier for `host`:`port` with known_hosts at `path`.
pub fn verifier(
    path: PathBuf,
    host: &str,
    port: u16,
    unknown: Unknown,
    batch: bool,
) -> nacre::HostKeyVerifier {
    let host = host.to_owned();
    Arc::new(move |key: &PublicKey| {
        let status = match nacre::known_host_status(&path, &host, port, key) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("Cannot read {}: {e}", path.display());
                return false;
            }
        };
        match status {
            HostKeyStatus::Match => true,
            HostKeyStatus::Mismatch { known } => {
                eprintln!(
                    "{}",
                    changed_warning(&path, &host_name(&host, port), key, &known)
                );
                false
            }
            HostKeyStatus::Revoked => {
                eprintln!(
                    "Host key {} {} revoked by file {}\nHost key verification failed.",
                    kind(key),
                    key.fingerprint_sha256(),
                    path.display()
                );
                false
            }
            HostKeyStatus::Unknown => match unknown {
                Unknown::AcceptNew => add(&path, &host, port, key),
                Unknown::Ask if !batch && prompt::available() => {
                    if confirm(&host, port, key) {
                        add(&path, &host, port, key)
                    } else {
                        eprintln!("Host key verification failed.");
                        false
                    }
                }
                Unknown::Ask | Unknown::Refuse => {
                    eprintln!(
                        "No {} host key is known for {} and you have requested strict checking.\nHost key verification failed.",
                        kind(key),
                        host_name(&host, port)
                    );
                    false
                }
            },
        }
    })
}

/// Whether known_hosts at `path` names a CA (`@cert-authority`) for `host`:`port`: the client
/// then offers the host certificate algorithms first, as ssh does.
pub fn has_cert_authority(path: &Path, host: &str, port: u16) -> bool {
    KnownHosts::read_file(path).is_ok_and(|(kh, _)| {
        kh.matching(host, port)
            .any(|e| e.marker == nacre::keys::known_hosts::Marker::CertAuthority)
    })
}

/// The check of a host certificate for `host`:`port` against known_hosts at `path`
/// (OpenSSH's sshconnect.c): trusted when an `@cert-authority` line for the host names its CA
/// and it is a valid host certificate for `host`; refused when the key or CA is `@revoked`;
/// otherwise the certificate's plain key goes to `plain` (the usual known_hosts check).
pub fn certificate_check(
    path: PathBuf,
    host: &str,
    port: u16,
    plain: nacre::HostKeyVerifier,
) -> nacre::transport::config::HostCertificateCheck {
    use nacre::keys::cert::HostCertStatus;
    let host = host.to_owned();
    Arc::new(move |cert: &nacre::keys::Certificate| {
        let known = match KnownHosts::read_file(&path) {
            Ok((k, _)) => k,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => KnownHosts::default(),
            Err(e) => {
                eprintln!("Cannot read {}: {e}", path.display());
                return false;
            }
        };
        let now = crate::keygen_time::now();
        match known.lookup_certificate(&host, port, cert, now) {
            HostCertStatus::Trusted => true,
            HostCertStatus::Revoked => {
                eprintln!(
                    "Host certificate {} {} signed by CA {} {} is revoked by file {}\nHost key verification failed.",
                    kind(cert.key()),
                    cert.key().fingerprint_sha256(),
                    kind(cert.signature_key()),
                    cert.signature_key().fingerprint_sha256(),
                    path.display()
                );
                false
            }
            HostCertStatus::Invalid { reason, .. } => {
                eprintln!("{reason}");
                plain(cert.key())
            }
            HostCertStatus::NoAuthority(_) => plain(cert.key()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::host_name;

    #[test]
    fn names_as_openssh() {
        assert_eq!(host_name("example.com", 22), "example.com");
        assert_eq!(host_name("127.0.0.1", 2222), "[127.0.0.1]:2222");
    }
}
