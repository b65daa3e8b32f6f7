//! A public key blob that is either a plain key (RFC 4253 §6.6) or a certificate
//! (PROTOCOL.certkeys §2): what `.pub` files, SSHSIG signatures and allowed_signers hold.

use base64::Engine as _;
use nacre_wire::Reader;

use super::{Certificate, CERT_SUFFIX};
use crate::{KeyError, KeyType, PublicKey};

/// A plain public key or a certificate.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KeyOrCert {
    /// A plain key.
    Key(PublicKey),
    /// A certificate (boxed: it is much larger than a key).
    Cert(Box<Certificate>),
}

impl KeyOrCert {
    /// Parses a key or certificate blob; a certificate's CA signature is verified.
    pub fn from_blob(blob: &[u8]) -> Result<Self, KeyError> {
        let mut r = Reader::new(blob);
        let name = r.string()?;
        if name.ends_with(CERT_SUFFIX.as_bytes()) {
            Ok(Self::Cert(Box::new(Certificate::from_blob(blob)?)))
        } else {
            Ok(Self::Key(PublicKey::from_blob(blob)?))
        }
    }

    /// The blob, as parsed.
    pub fn to_blob(&self) -> Vec<u8> {
        match self {
            Self::Key(k) => k.to_blob(),
            Self::Cert(c) => c.to_blob(),
        }
    }

    /// The type name of the blob (`ssh-ed25519`, `ssh-ed25519-cert-v01@openssh.com`, ...).
    pub fn type_name(&self) -> String {
        match self {
            Self::Key(k) => k.key_type().name().to_owned(),
            Self::Cert(c) => c.type_name(),
        }
    }

    /// The plain key: the key itself, or the certificate's subject key.
    pub fn key(&self) -> &PublicKey {
        match self {
            Self::Key(k) => k,
            Self::Cert(c) => c.key(),
        }
    }

    /// The plain key type (`ssh-rsa` for an RSA certificate too).
    pub fn key_type(&self) -> KeyType {
        self.key().key_type()
    }

    /// The certificate, if it is one.
    pub fn certificate(&self) -> Option<&Certificate> {
        match self {
            Self::Key(_) => None,
            Self::Cert(c) => Some(c),
        }
    }

    /// Parses an OpenSSH public key line (`type base64 [comment]`); the type written must equal
    /// the blob's. Returns the key or certificate and the comment (empty when absent).
    pub fn from_openssh_line(line: &str) -> Result<(Self, String), KeyError> {
        let line = line.trim();
        let (type_name, rest) = split_token(line);
        if !type_name.ends_with(CERT_SUFFIX) {
            let (key, comment) = PublicKey::from_openssh_line(line)?;
            return Ok((Self::Key(key), comment));
        }
        let (b64, comment) = split_token(rest);
        let blob = crate::BASE64_LENIENT
            .decode(b64)
            .map_err(|_| KeyError::InvalidFormat("invalid base64 in public key line"))?;
        let cert = Certificate::from_blob(&blob)?;
        if cert.type_name() != type_name {
            return Err(KeyError::KeyTypeMismatch {
                line: type_name.to_owned(),
                blob: cert.key().key_type(),
            });
        }
        Ok((Self::Cert(Box::new(cert)), comment.trim().to_owned()))
    }

    /// The OpenSSH public key line `type base64 [comment]`.
    pub fn to_openssh_line(&self, comment: &str) -> String {
        match self {
            Self::Key(k) => k.to_openssh_line(comment),
            Self::Cert(c) => c.to_openssh_line(comment),
        }
    }

    /// The SHA-256 fingerprint (`SHA256:base64`) of the plain key, as OpenSSH prints it for a
    /// certificate too.
    pub fn fingerprint_sha256(&self) -> String {
        self.key().fingerprint_sha256()
    }
}

impl From<PublicKey> for KeyOrCert {
    fn from(key: PublicKey) -> Self {
        Self::Key(key)
    }
}

impl From<Certificate> for KeyOrCert {
    fn from(cert: Certificate) -> Self {
        Self::Cert(Box::new(cert))
    }
}

/// Splits off the first whitespace-separated token.
pub(crate) fn split_token(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => s.split_at(i),
        None => (s, ""),
    }
}
