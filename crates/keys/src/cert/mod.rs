//! OpenSSH certificates (`*-cert-v01@openssh.com`, OpenSSH `PROTOCOL.certkeys`).
//!
//! ```text
//! string    "<key type>-cert-v01@openssh.com"                PROTOCOL.certkeys §2
//! string    nonce
//! ....      the key's public fields (as its plain blob, without the type name)
//! uint64    serial
//! uint32    type                 (1 = user, 2 = host)
//! string    key id
//! string    valid principals     (a sequence of strings)
//! uint64    valid after
//! uint64    valid before
//! string    critical options     (a sequence of string name || string data)
//! string    extensions           (a sequence of string name || string data)
//! string    reserved
//! string    signature key        (the CA's plain public key blob)
//! string    signature            (over every preceding byte)
//! ```
//!
//! A certificate is peer bytes: [`Certificate::from_blob`] reads it with bounds, verifies the
//! CA's signature (as OpenSSH's `cert_parse` does) and never panics. Checks of use (type,
//! validity window, principals, options) are in [`Certificate::check_authority`],
//! [`Certificate::check_host`] and [`Certificate::check_user`], with the time passed in.

mod authorize;
mod build;
mod check;
mod host;
pub(crate) mod key_or_cert;
mod options;

use base64::Engine as _;
use nacre_wire::Reader;

use crate::public::read_non_rsa_body;
use crate::{KeyError, KeyType, PublicKey, SignatureAlgorithm};

pub use authorize::{
    authorize_by_authorized_keys, authorize_by_trusted_ca, match_principals_file, merge_options,
};
pub use build::CertBuilder;
pub use check::DEFAULT_CA_ALGORITHMS;
pub use host::HostCertStatus;
pub use key_or_cert::KeyOrCert;
pub use options::{CertOptions, SourceAddress};

/// The suffix of certificate key type names (PROTOCOL.certkeys §2).
pub const CERT_SUFFIX: &str = "-cert-v01@openssh.com";

/// Most principals a certificate may list (OpenSSH's `SSHKEY_CERT_MAX_PRINCIPALS`).
pub const MAX_PRINCIPALS: usize = 256;

/// `valid before` of a certificate valid forever (PROTOCOL.certkeys §2).
pub const FOREVER: u64 = u64::MAX;

/// The certificate type of PROTOCOL.certkeys §2: `SSH_CERT_TYPE_USER` (1) or `_HOST` (2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CertType {
    /// A user certificate (1): authenticates a user to a server.
    User,
    /// A host certificate (2): authenticates a server to a client.
    Host,
}

impl CertType {
    /// The value on the wire.
    pub fn code(self) -> u32 {
        match self {
            Self::User => 1,
            Self::Host => 2,
        }
    }

    /// `user` or `host`, as `ssh-keygen -L` names it.
    pub fn name(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Host => "host",
        }
    }
}

/// The certificate key type name of a plain key type (`ssh-ed25519-cert-v01@openssh.com`, ...).
pub fn cert_type_name(key_type: KeyType) -> String {
    cert_name(key_type.name())
}

/// The certificate form of a plain key type or signature algorithm name: `-cert-v01@openssh.com`
/// appended, or for the `@openssh.com` names (the security keys) put before the domain:
/// `sk-ssh-ed25519@openssh.com` → `sk-ssh-ed25519-cert-v01@openssh.com` (PROTOCOL.u2f).
pub fn cert_name(plain: &str) -> String {
    let base = plain.strip_suffix("@openssh.com").unwrap_or(plain);
    format!("{base}{CERT_SUFFIX}")
}

/// The plain name of a certificate key type or algorithm name (the reverse of [`cert_name`]),
/// or `None` when `name` is not a certificate name.
pub fn plain_name(name: &str) -> Option<String> {
    let base = name.strip_suffix(CERT_SUFFIX)?;
    Some(if base.starts_with("sk-") {
        format!("{base}@openssh.com")
    } else {
        base.to_owned()
    })
}

/// A parsed, CA-signature-verified OpenSSH certificate (PROTOCOL.certkeys §2).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Certificate {
    blob: Vec<u8>,
    key: PublicKey,
    nonce: Vec<u8>,
    serial: u64,
    cert_type: CertType,
    key_id: String,
    principals: Vec<String>,
    valid_after: u64,
    valid_before: u64,
    critical_options: Vec<(String, Vec<u8>)>,
    extensions: Vec<(String, Vec<u8>)>,
    signature_key: PublicKey,
    signature_algorithm: SignatureAlgorithm,
}

impl Certificate {
    /// Parses a certificate blob and verifies the CA's signature over it (PROTOCOL.certkeys §2).
    /// Trailing bytes, unknown types, more than [`MAX_PRINCIPALS`] principals, malformed option
    /// sections and a CA key that is a certificate are all rejected.
    pub fn from_blob(blob: &[u8]) -> Result<Self, KeyError> {
        const TRUNC: KeyError = KeyError::InvalidCertificate("truncated or malformed");
        let mut r = Reader::new(blob);
        let name = r.string().map_err(|_| TRUNC)?;
        let key_type = cert_key_type(name)?;
        let nonce = r.string().map_err(|_| TRUNC)?.to_vec();
        let key = match key_type {
            KeyType::Rsa => {
                let e = r.mpint()?.unsigned_magnitude()?;
                let n = r.mpint()?.unsigned_magnitude()?;
                PublicKey::rsa(e, n)?
            }
            other => read_non_rsa_body(other, &mut r)?,
        };
        let serial = r.u64().map_err(|_| TRUNC)?;
        let cert_type = match r.u32().map_err(|_| TRUNC)? {
            1 => CertType::User,
            2 => CertType::Host,
            _ => return Err(KeyError::InvalidCertificate("unknown certificate type")),
        };
        let key_id = utf8(r.string().map_err(|_| TRUNC)?)?;
        let principals = read_principals(r.string().map_err(|_| TRUNC)?)?;
        let valid_after = r.u64().map_err(|_| TRUNC)?;
        let valid_before = r.u64().map_err(|_| TRUNC)?;
        let critical_options = read_options(r.string().map_err(|_| TRUNC)?)?;
        let extensions = read_options(r.string().map_err(|_| TRUNC)?)?;
        let _reserved = r.string().map_err(|_| TRUNC)?;
        let ca_blob = r.string().map_err(|_| TRUNC)?;
        let signed_len = blob.len() - r.remaining().len();
        let signature = r.string().map_err(|_| TRUNC)?;
        r.finish()?;
        let signature_key = PublicKey::from_blob(ca_blob)
            .map_err(|_| KeyError::InvalidCertificate("invalid signature key"))?;
        // The first string names the algorithm (a security key CA's signature has its flags
        // and counter after the signature string, PROTOCOL.u2f).
        let alg_name = Reader::new(signature).string()?;
        let signature_algorithm = std::str::from_utf8(alg_name)
            .ok()
            .and_then(SignatureAlgorithm::from_name)
            .filter(|a| signature_key.key_type().supports(*a))
            .ok_or(KeyError::InvalidCertificate(
                "signature algorithm does not suit the signature key",
            ))?;
        let signed = blob.get(..signed_len).ok_or(TRUNC)?;
        // As sshd, a security key CA's flags are not judged (sshkey_verify without details).
        signature_key.verify_detailed(signature_algorithm, signed, signature)?;
        Ok(Self {
            blob: blob.to_vec(),
            key,
            nonce,
            serial,
            cert_type,
            key_id,
            principals,
            valid_after,
            valid_before,
            critical_options,
            extensions,
            signature_key,
            signature_algorithm,
        })
    }

    /// The certificate blob, exactly as parsed or signed.
    pub fn to_blob(&self) -> Vec<u8> {
        self.blob.clone()
    }

    /// The certificate blob, borrowed.
    pub fn blob(&self) -> &[u8] {
        &self.blob
    }

    /// Parses an OpenSSH public key line holding a certificate (`ssh-ed25519-cert-v01@openssh.com
    /// AAAA... comment`, as in `id_ed25519-cert.pub`). Returns the certificate and the comment.
    pub fn from_openssh_line(line: &str) -> Result<(Self, String), KeyError> {
        match KeyOrCert::from_openssh_line(line)? {
            (KeyOrCert::Cert(c), comment) => Ok((*c, comment)),
            (KeyOrCert::Key(_), _) => Err(KeyError::InvalidCertificate("not a certificate")),
        }
    }

    /// The OpenSSH public key line (no trailing newline; no trailing space without a comment).
    pub fn to_openssh_line(&self, comment: &str) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&self.blob);
        let name = self.type_name();
        if comment.is_empty() {
            format!("{name} {b64}")
        } else {
            format!("{name} {b64} {comment}")
        }
    }

    /// The certificate's key type name (`ssh-ed25519-cert-v01@openssh.com`, ...).
    pub fn type_name(&self) -> String {
        cert_type_name(self.key.key_type())
    }

    /// The certified (subject) public key.
    pub fn key(&self) -> &PublicKey {
        &self.key
    }

    /// The CA-chosen nonce.
    pub fn nonce(&self) -> &[u8] {
        &self.nonce
    }

    /// The serial number.
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// User or host certificate.
    pub fn cert_type(&self) -> CertType {
        self.cert_type
    }

    /// The key identifier (free text chosen by the CA, logged by servers).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The valid principals (user names or host names); empty means none is listed.
    pub fn principals(&self) -> &[String] {
        &self.principals
    }

    /// `valid after`, seconds since the epoch (0: always).
    pub fn valid_after(&self) -> u64 {
        self.valid_after
    }

    /// `valid before`, seconds since the epoch ([`FOREVER`]: forever).
    pub fn valid_before(&self) -> u64 {
        self.valid_before
    }

    /// The critical options as `(name, data)`; data is the raw option data
    /// (PROTOCOL.certkeys §2.1: a string holding the value, or empty for flags).
    pub fn critical_options(&self) -> &[(String, Vec<u8>)] {
        &self.critical_options
    }

    /// The extensions as `(name, data)` (PROTOCOL.certkeys §2.2).
    pub fn extensions(&self) -> &[(String, Vec<u8>)] {
        &self.extensions
    }

    /// The CA's public key.
    pub fn signature_key(&self) -> &PublicKey {
        &self.signature_key
    }

    /// The algorithm of the CA's signature (`ssh-ed25519`, `rsa-sha2-512`, ...).
    pub fn signature_algorithm(&self) -> SignatureAlgorithm {
        self.signature_algorithm
    }
}

/// The plain key type of a certificate type name.
fn cert_key_type(name: &[u8]) -> Result<KeyType, KeyError> {
    let name = std::str::from_utf8(name)
        .map_err(|_| KeyError::UnknownKeyType(String::from_utf8_lossy(name).into_owned()))?;
    let Some(plain) = plain_name(name) else {
        return Err(KeyError::InvalidCertificate("not a certificate key type"));
    };
    KeyType::from_name(&plain).map_err(|_| KeyError::UnsupportedKeyType(name.to_owned()))
}

fn utf8(bytes: &[u8]) -> Result<String, KeyError> {
    match std::str::from_utf8(bytes) {
        Ok(s) if !s.contains('\0') => Ok(s.to_owned()),
        _ => Err(KeyError::InvalidCertificate("text field is not UTF-8")),
    }
}

fn read_principals(section: &[u8]) -> Result<Vec<String>, KeyError> {
    let mut r = Reader::new(section);
    let mut out = Vec::new();
    while !r.is_empty() {
        if out.len() >= MAX_PRINCIPALS {
            return Err(KeyError::InvalidCertificate("too many principals"));
        }
        out.push(utf8(r.string()?)?);
    }
    Ok(out)
}

/// Reads a critical options or extensions section: `(string name, string data)*`.
fn read_options(section: &[u8]) -> Result<Vec<(String, Vec<u8>)>, KeyError> {
    let mut r = Reader::new(section);
    let mut out = Vec::new();
    while !r.is_empty() {
        let name = r
            .string()
            .map_err(|_| KeyError::InvalidCertificate("malformed options section"))?;
        let data = r
            .string()
            .map_err(|_| KeyError::InvalidCertificate("malformed options section"))?;
        out.push((utf8(name)?, data.to_vec()));
    }
    Ok(out)
}

/// Writes the public fields of `key` that follow the type name (PROTOCOL.certkeys §2: the same
/// fields, in the same order, as the plain key blob).
pub(crate) fn put_public_fields(out: &mut Vec<u8>, key: &PublicKey) {
    let blob = key.to_blob();
    let mut r = Reader::new(&blob);
    if r.string().is_ok() {
        out.extend_from_slice(r.remaining());
    }
}

#[cfg(test)]
mod tests;
