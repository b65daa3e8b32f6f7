//! Whether a certificate may be used: its type, validity window and principals
//! (PROTOCOL.certkeys §2, OpenSSH's `sshkey_cert_check_authority`), with the time passed in.

use super::{CertType, Certificate};
use crate::pattern::glob_match;
use crate::{KeyError, SignatureAlgorithm};

/// The CA signature algorithms accepted by default, as OpenSSH's `CASignatureAlgorithms`
/// default: every algorithm but the legacy `ssh-rsa` (SHA-1).
pub const DEFAULT_CA_ALGORITHMS: &[SignatureAlgorithm] = &[
    SignatureAlgorithm::Ed25519,
    SignatureAlgorithm::EcdsaNistP256,
    SignatureAlgorithm::EcdsaNistP384,
    SignatureAlgorithm::EcdsaNistP521,
    SignatureAlgorithm::RsaSha512,
    SignatureAlgorithm::RsaSha256,
];

impl Certificate {
    /// Checks the certificate for use as `want` at `now` (seconds since the epoch), as OpenSSH's
    /// `sshkey_cert_check_authority`: the type must be `want`, `valid after <= now < valid
    /// before`, the principal list must not be empty, and when `name` is given it must be one of
    /// the principals (with `wildcard`, a principal may be a `*`/`?` pattern matching `name`, as
    /// for host certificates). Errors carry OpenSSH's reason text.
    pub fn check_authority(
        &self,
        want: CertType,
        now: u64,
        name: Option<&str>,
        wildcard: bool,
    ) -> Result<(), KeyError> {
        if self.cert_type() != want {
            return Err(KeyError::CertificateRefused(match want {
                CertType::Host => "Certificate invalid: not a host certificate",
                CertType::User => "Certificate invalid: not a user certificate",
            }));
        }
        if now < self.valid_after() {
            return Err(KeyError::CertificateRefused(
                "Certificate invalid: not yet valid",
            ));
        }
        if now >= self.valid_before() {
            return Err(KeyError::CertificateRefused("Certificate invalid: expired"));
        }
        if self.principals().is_empty() {
            return Err(KeyError::CertificateRefused(
                "Certificate lacks principal list",
            ));
        }
        let Some(name) = name else {
            return Ok(());
        };
        let matches = self.principals().iter().any(|p| {
            if wildcard {
                glob_match(p.as_bytes(), name.as_bytes())
            } else {
                p == name
            }
        });
        if matches {
            Ok(())
        } else {
            Err(KeyError::CertificateRefused(
                "Certificate invalid: name is not a listed principal",
            ))
        }
    }

    /// Whether the CA signed with one of `allowed` (OpenSSH's `CASignatureAlgorithms`, default
    /// [`DEFAULT_CA_ALGORITHMS`]).
    pub fn check_ca_algorithm(&self, allowed: &[SignatureAlgorithm]) -> Result<(), KeyError> {
        if allowed.contains(&self.signature_algorithm()) {
            Ok(())
        } else {
            Err(KeyError::CertificateRefused(
                "Certificate signed with disallowed algorithm",
            ))
        }
    }

    /// Checks a host certificate presented by `host` at `now`, as OpenSSH's
    /// `sshkey_cert_check_host`: a host certificate, valid now, listing `host` (principals may
    /// be patterns), with no critical option.
    pub fn check_host(&self, host: &str, now: u64) -> Result<(), KeyError> {
        self.check_authority(CertType::Host, now, Some(host), true)?;
        self.check_ca_algorithm(DEFAULT_CA_ALGORITHMS)?;
        if !self.critical_options().is_empty() {
            return Err(KeyError::CertificateRefused(
                "Certificate contains unsupported critical options",
            ));
        }
        Ok(())
    }

    /// Checks a user certificate for logging in as `user` at `now` against one of the
    /// `principals` sshd accepts for that login (`AuthorizedPrincipalsFile` entries or the
    /// user name itself when there is none): type, window, then a principal of the certificate
    /// equal to one accepted, and options sshd can honour ([`Certificate::options`]).
    pub fn check_user(&self, accepted: &[&str], now: u64) -> Result<super::CertOptions, KeyError> {
        self.check_authority(CertType::User, now, None, false)?;
        self.check_ca_algorithm(DEFAULT_CA_ALGORITHMS)?;
        if !self
            .principals()
            .iter()
            .any(|p| accepted.iter().any(|a| a == p))
        {
            return Err(KeyError::CertificateRefused(
                "Certificate invalid: name is not a listed principal",
            ));
        }
        self.options()
    }
}
