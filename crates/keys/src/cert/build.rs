//! Making certificates: a CA signs a key (PROTOCOL.certkeys §2), as `ssh-keygen -s` does.

use nacre_wire::put;

use super::{put_public_fields, CertType, Certificate, MAX_PRINCIPALS};
use crate::{KeyError, KeyType, PrivateKey, PublicKey, SignatureAlgorithm};

/// The fields of a certificate to sign (PROTOCOL.certkeys §2). Options and extensions are
/// written sorted by name, as ssh-keygen writes them (the protocol requires lexical order).
#[derive(Clone, Debug)]
pub struct CertBuilder {
    key: PublicKey,
    cert_type: CertType,
    serial: u64,
    key_id: String,
    principals: Vec<String>,
    valid_after: u64,
    valid_before: u64,
    critical_options: Vec<(String, Option<String>)>,
    extensions: Vec<(String, Option<String>)>,
    nonce: Option<Vec<u8>>,
}

impl CertBuilder {
    /// A certificate for `key` of `cert_type`, serial 0, no key id, no principals, valid
    /// forever, with no options and no extensions.
    pub fn new(key: PublicKey, cert_type: CertType) -> Self {
        Self {
            key,
            cert_type,
            serial: 0,
            key_id: String::new(),
            principals: Vec::new(),
            valid_after: 0,
            valid_before: super::FOREVER,
            critical_options: Vec::new(),
            extensions: Vec::new(),
            nonce: None,
        }
    }

    /// The default extensions of a user certificate made by ssh-keygen: `permit-X11-forwarding`,
    /// `permit-agent-forwarding`, `permit-port-forwarding`, `permit-pty`, `permit-user-rc`
    /// (PROTOCOL.certkeys §2.2).
    pub fn with_default_user_extensions(mut self) -> Self {
        for name in [
            "permit-X11-forwarding",
            "permit-agent-forwarding",
            "permit-port-forwarding",
            "permit-pty",
            "permit-user-rc",
        ] {
            self.extensions.push((name.to_owned(), None));
        }
        self
    }

    /// The serial number.
    pub fn serial(mut self, serial: u64) -> Self {
        self.serial = serial;
        self
    }

    /// The key identifier.
    pub fn key_id(mut self, id: impl Into<String>) -> Self {
        self.key_id = id.into();
        self
    }

    /// The valid principals (at most [`MAX_PRINCIPALS`]).
    pub fn principals(mut self, principals: Vec<String>) -> Self {
        self.principals = principals;
        self
    }

    /// The validity window, seconds since the epoch (`valid_before` [`super::FOREVER`]: forever).
    pub fn validity(mut self, valid_after: u64, valid_before: u64) -> Self {
        self.valid_after = valid_after;
        self.valid_before = valid_before;
        self
    }

    /// Adds a critical option (PROTOCOL.certkeys §2.1): `force-command`/`source-address` with a
    /// value, `verify-required` without.
    pub fn critical_option(mut self, name: impl Into<String>, value: Option<String>) -> Self {
        self.critical_options.push((name.into(), value));
        self
    }

    /// Adds an extension (PROTOCOL.certkeys §2.2), usually a flag (`value` None).
    pub fn extension(mut self, name: impl Into<String>, value: Option<String>) -> Self {
        self.extensions.push((name.into(), value));
        self
    }

    /// Removes every extension (ssh-keygen's `-O clear`).
    pub fn clear_extensions(mut self) -> Self {
        self.extensions.clear();
        self
    }

    /// Removes the extension `name` if present (ssh-keygen's `-O no-pty`, ...).
    pub fn remove_extension(mut self, name: &str) -> Self {
        self.extensions.retain(|(n, _)| n != name);
        self
    }

    /// Uses `nonce` instead of 32 random bytes (for reproducible tests).
    pub fn nonce(mut self, nonce: Vec<u8>) -> Self {
        self.nonce = Some(nonce);
        self
    }

    /// Signs the certificate with `ca` using `alg` (None: the key type's preferred algorithm,
    /// `rsa-sha2-512` for RSA, as ssh-keygen). The nonce is 32 bytes from `rng` unless set.
    pub fn sign(
        self,
        ca: &PrivateKey,
        alg: Option<SignatureAlgorithm>,
        rng: &mut impl rand_core::CryptoRngCore,
    ) -> Result<Certificate, KeyError> {
        if self.principals.len() > MAX_PRINCIPALS {
            return Err(KeyError::InvalidCertificate("too many principals"));
        }
        let alg = match alg {
            Some(a) => a,
            None => default_alg(ca.key_type()),
        };
        let nonce = self.nonce.clone().unwrap_or_else(|| {
            let mut n = vec![0u8; 32];
            rng.fill_bytes(&mut n);
            n
        });
        let mut out = Vec::with_capacity(512);
        put::string(
            &mut out,
            super::cert_type_name(self.key.key_type()).as_bytes(),
        );
        put::string(&mut out, &nonce);
        put_public_fields(&mut out, &self.key);
        put::uint64(&mut out, self.serial);
        put::uint32(&mut out, self.cert_type.code());
        put::string(&mut out, self.key_id.as_bytes());
        let mut principals = Vec::new();
        for p in &self.principals {
            put::string(&mut principals, p.as_bytes());
        }
        put::string(&mut out, &principals);
        put::uint64(&mut out, self.valid_after);
        put::uint64(&mut out, self.valid_before);
        put::string(&mut out, &options_section(&self.critical_options));
        put::string(&mut out, &options_section(&self.extensions));
        put::string(&mut out, &[]);
        put::string(&mut out, &ca.public_key().to_blob());
        let signature = ca.sign(alg, &out)?;
        put::string(&mut out, &signature);
        Certificate::from_blob(&out)
    }
}

/// The CA signature algorithm ssh-keygen picks by default for a key type.
fn default_alg(key_type: KeyType) -> SignatureAlgorithm {
    match key_type {
        KeyType::Rsa => SignatureAlgorithm::RsaSha512,
        KeyType::Ed25519 => SignatureAlgorithm::Ed25519,
        KeyType::EcdsaNistP256 => SignatureAlgorithm::EcdsaNistP256,
        KeyType::EcdsaNistP384 => SignatureAlgorithm::EcdsaNistP384,
        KeyType::EcdsaNistP521 => SignatureAlgorithm::EcdsaNistP521,
        KeyType::SkEd25519 => SignatureAlgorithm::SkEd25519,
        KeyType::SkEcdsaNistP256 => SignatureAlgorithm::SkEcdsaNistP256,
    }
}

/// An options section, sorted by name then value as ssh-keygen's `cert_ext_cmp`: flags have
/// empty data, values are `string value` inside the data string.
fn options_section(options: &[(String, Option<String>)]) -> Vec<u8> {
    let mut sorted: Vec<&(String, Option<String>)> = options.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut out = Vec::new();
    for (name, value) in sorted {
        put::string(&mut out, name.as_bytes());
        match value {
            None => put::string(&mut out, &[]),
            Some(v) => {
                let mut data = Vec::with_capacity(v.len() + 4);
                put::string(&mut data, v.as_bytes());
                put::string(&mut out, &data);
            }
        }
    }
    out
}
