//! Host certificates against known_hosts (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT",
//! PROTOCOL.certkeys §2): an `@cert-authority` line trusts a CA for the hosts its pattern
//! matches; an `@revoked` line refuses a host key or a CA.

use super::Certificate;
use crate::known_hosts::{HostKeyStatus, KnownHosts, Marker};
use crate::KeyError;

/// The answer of [`KnownHosts::lookup_certificate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostCertStatus {
    /// An `@cert-authority` line for the host names the certificate's CA, and the certificate
    /// is a host certificate for the host, valid now, without critical options.
    Trusted,
    /// The certificate's key or its CA is listed in an `@revoked` line for the host.
    Revoked,
    /// The CA is trusted for the host but the certificate is not valid for it (type, window,
    /// principals, critical options); OpenSSH then retries with the plain key, given here.
    Invalid {
        /// Why the certificate was refused (OpenSSH's reason).
        reason: KeyError,
        /// [`KnownHosts::lookup`] of the certificate's plain key.
        plain: HostKeyStatus,
    },
    /// No `@cert-authority` line for the host names the CA: OpenSSH retries with the plain key,
    /// whose [`KnownHosts::lookup`] this is.
    NoAuthority(HostKeyStatus),
}

impl KnownHosts {
    /// Checks a host certificate presented by `host` on `port` at `now` (seconds since the
    /// epoch), as OpenSSH's client does (sshconnect.c `check_host_key`): revocation of the key
    /// or the CA first, then a trusted CA, then the plain key.
    pub fn lookup_certificate(
        &self,
        host: &str,
        port: u16,
        cert: &Certificate,
        now: u64,
    ) -> HostCertStatus {
        let revoked = self.matching(host, port).any(|e| {
            e.marker == Marker::Revoked && (e.key == *cert.key() || e.key == *cert.signature_key())
        });
        if revoked {
            return HostCertStatus::Revoked;
        }
        let trusted = self
            .matching(host, port)
            .any(|e| e.marker == Marker::CertAuthority && e.key == *cert.signature_key());
        let plain = || self.lookup(host, port, cert.key());
        if !trusted {
            return HostCertStatus::NoAuthority(plain());
        }
        match cert.check_host(&host.to_ascii_lowercase(), now) {
            Ok(()) => HostCertStatus::Trusted,
            Err(reason) => HostCertStatus::Invalid {
                reason,
                plain: plain(),
            },
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::cert::{CertBuilder, CertType};
    use crate::PrivateKey;

    fn key(seed: u8) -> PrivateKey {
        PrivateKey::from_ed25519_seed(&[seed; 32])
    }

    fn host_cert(ca: &PrivateKey, host: &PrivateKey, names: &[&str]) -> Certificate {
        CertBuilder::new(host.public_key(), CertType::Host)
            .principals(names.iter().map(|s| (*s).to_owned()).collect())
            .validity(100, 200)
            .sign(ca, None, &mut rand_core::OsRng)
            .unwrap()
    }

    #[test]
    fn cert_authority_revoked_and_fallback() {
        let (ca, other_ca, host) = (key(1), key(2), key(3));
        let text = format!(
            "@cert-authority *.example.com {}\n@revoked * {}\nplain.example.com {}\n",
            ca.public_key().to_openssh_line(""),
            other_ca.public_key().to_openssh_line(""),
            host.public_key().to_openssh_line(""),
        );
        let (kh, errors) = KnownHosts::parse(&text);
        assert!(errors.is_empty());
        let cert = host_cert(&ca, &host, &["www.example.com", "plain.example.com"]);
        assert_eq!(
            kh.lookup_certificate("www.example.com", 22, &cert, 150),
            HostCertStatus::Trusted
        );
        assert_eq!(
            kh.lookup_certificate("WWW.example.com", 22, &cert, 150),
            HostCertStatus::Trusted
        );
        // Expired: invalid, and the plain key is unknown for this name.
        assert!(matches!(
            kh.lookup_certificate("www.example.com", 22, &cert, 250),
            HostCertStatus::Invalid {
                plain: HostKeyStatus::Unknown,
                ..
            }
        ));
        // Not a principal.
        assert!(matches!(
            kh.lookup_certificate("mail.example.com", 22, &cert, 150),
            HostCertStatus::Invalid { .. }
        ));
        // The CA is not trusted for another domain: the plain key decides.
        assert_eq!(
            kh.lookup_certificate("example.org", 22, &cert, 150),
            HostCertStatus::NoAuthority(HostKeyStatus::Unknown)
        );
        // A revoked CA.
        let by_revoked = host_cert(&other_ca, &host, &["www.example.com"]);
        assert_eq!(
            kh.lookup_certificate("www.example.com", 22, &by_revoked, 150),
            HostCertStatus::Revoked
        );
        // A user certificate is no host certificate.
        let user = CertBuilder::new(host.public_key(), CertType::User)
            .principals(vec!["www.example.com".into()])
            .sign(&ca, None, &mut rand_core::OsRng)
            .unwrap();
        assert!(matches!(
            kh.lookup_certificate("www.example.com", 22, &user, 150),
            HostCertStatus::Invalid { .. }
        ));
        let plain_cert = host_cert(&other_ca, &host, &["plain.example.com"]);
        let (kh2, _) = KnownHosts::parse(&format!(
            "plain.example.com {}\n",
            host.public_key().to_openssh_line("")
        ));
        assert_eq!(
            kh2.lookup_certificate("plain.example.com", 22, &plain_cert, 150),
            HostCertStatus::NoAuthority(HostKeyStatus::Match)
        );
    }
}
