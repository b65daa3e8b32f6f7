//! SSH signatures of files and messages (OpenSSH `PROTOCOL.sshsig`), as `ssh-keygen -Y` makes
//! and checks them (git's SSH commit signing uses them).
//!
//! ```text
//! signature blob (§2)                       signed data (§3)
//! byte[6]  "SSHSIG"                         byte[6]  "SSHSIG"
//! uint32   version (1)                      string   namespace
//! string   public key (or certificate)      string   reserved
//! string   namespace                        string   hash algorithm
//! string   reserved                         string   H(message)
//! string   hash algorithm ("sha256"/"sha512")
//! string   signature (an SSH signature blob over the signed data)
//! ```
//!
//! The armoured form (§1) is `-----BEGIN SSH SIGNATURE-----`, the blob in base64 broken every
//! 70 characters as ssh-keygen writes it, and `-----END SSH SIGNATURE-----`.

use base64::Engine as _;
use nacre_wire::{put, Reader};
use sha2::Digest as _;

use crate::{KeyError, KeyOrCert, KeyType, PrivateKey, SignatureAlgorithm};

/// The magic preamble of the blob and of the signed data (PROTOCOL.sshsig §2, §3).
pub const SSHSIG_MAGIC: &[u8; 6] = b"SSHSIG";
/// The only signature version (PROTOCOL.sshsig §2).
pub const SSHSIG_VERSION: u32 = 1;
const BEGIN: &str = "-----BEGIN SSH SIGNATURE-----";
const END: &str = "-----END SSH SIGNATURE-----";

/// The hash of the message (PROTOCOL.sshsig §2: "sha256" or "sha512").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum SshsigHash {
    /// `sha256`.
    Sha256,
    /// `sha512`, ssh-keygen's default.
    #[default]
    Sha512,
}

impl SshsigHash {
    /// The name in the blob.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    /// The algorithm of a name (exact, as OpenSSH's `match_pattern_list(.., 0)`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "sha256" => Some(Self::Sha256),
            "sha512" => Some(Self::Sha512),
            _ => None,
        }
    }

    /// The digest of `message`.
    pub fn digest(self, message: &[u8]) -> Vec<u8> {
        let mut h = SshsigHasher::new(self);
        h.update(message);
        h.finish()
    }
}

/// A streaming hash of a message, for signing or verifying large files piece by piece.
#[derive(Clone, Debug)]
pub enum SshsigHasher {
    /// SHA-256.
    Sha256(sha2::Sha256),
    /// SHA-512.
    Sha512(sha2::Sha512),
}

impl SshsigHasher {
    /// A new hasher for `alg`.
    pub fn new(alg: SshsigHash) -> Self {
        match alg {
            SshsigHash::Sha256 => Self::Sha256(sha2::Sha256::new()),
            SshsigHash::Sha512 => Self::Sha512(sha2::Sha512::new()),
        }
    }

    /// Hashes more of the message.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Self::Sha256(h) => h.update(data),
            Self::Sha512(h) => h.update(data),
        }
    }

    /// The digest.
    pub fn finish(self) -> Vec<u8> {
        match self {
            Self::Sha256(h) => h.finalize().to_vec(),
            Self::Sha512(h) => h.finalize().to_vec(),
        }
    }
}

/// A parsed SSHSIG signature (PROTOCOL.sshsig §2). Parsing does not verify it: call
/// [`SshSig::verify`] or [`SshSig::verify_digest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshSig {
    public_key: KeyOrCert,
    namespace: String,
    reserved: Vec<u8>,
    hash: SshsigHash,
    signature: Vec<u8>,
}

/// The data the key signs (PROTOCOL.sshsig §3).
fn signed_data(namespace: &str, reserved: &[u8], hash: SshsigHash, digest: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(namespace.len() + digest.len() + 40);
    out.extend_from_slice(SSHSIG_MAGIC);
    put::string(&mut out, namespace.as_bytes());
    put::string(&mut out, reserved);
    put::string(&mut out, hash.name().as_bytes());
    put::string(&mut out, digest);
    out
}

/// The signature algorithm ssh-keygen uses for a key: RSA signs `rsa-sha2-256` with the SHA-256
/// hash and `rsa-sha2-512` otherwise (never `ssh-rsa`).
fn sign_algorithm(key_type: KeyType, hash: SshsigHash) -> SignatureAlgorithm {
    match (key_type, hash) {
        (KeyType::Rsa, SshsigHash::Sha256) => SignatureAlgorithm::RsaSha256,
        (KeyType::Rsa, SshsigHash::Sha512) => SignatureAlgorithm::RsaSha512,
        (other, _) => other
            .signature_algorithms()
            .first()
            .copied()
            .unwrap_or(SignatureAlgorithm::Ed25519),
    }
}

impl SshSig {
    /// Signs `message` in `namespace` (which must not be empty) with `key`.
    pub fn sign(
        key: &PrivateKey,
        namespace: &str,
        hash: SshsigHash,
        message: &[u8],
    ) -> Result<Self, KeyError> {
        Self::sign_digest(key, None, namespace, hash, &hash.digest(message))
    }

    /// Signs a message already hashed with `hash` ([`SshsigHasher`]). With `certificate` (a
    /// certificate of `key`'s public key), the blob names the certificate, as ssh-keygen does
    /// when given `-f key-cert.pub`.
    pub fn sign_digest(
        key: &PrivateKey,
        certificate: Option<&crate::Certificate>,
        namespace: &str,
        hash: SshsigHash,
        digest: &[u8],
    ) -> Result<Self, KeyError> {
        if namespace.is_empty() {
            return Err(KeyError::InvalidSshsig("the namespace is empty"));
        }
        let public_key = match certificate {
            Some(c) if *c.key() == key.public_key() => KeyOrCert::Cert(Box::new(c.clone())),
            Some(_) => {
                return Err(KeyError::InvalidSshsig(
                    "the certificate is not of the signing key",
                ))
            }
            None => KeyOrCert::Key(key.public_key()),
        };
        Self::sign_with(public_key, namespace, hash, digest, |alg, data| {
            key.sign(alg, data)
        })
    }

    /// Signs a message already hashed with `hash` for `public_key` (a key or a certificate) with
    /// an external signer (an ssh-agent, a token): `sign` gets the algorithm ssh-keygen uses for
    /// the key type and the signed data of PROTOCOL.sshsig §3, and returns an SSH signature
    /// blob. The result is verified before it is returned.
    pub fn sign_with(
        public_key: KeyOrCert,
        namespace: &str,
        hash: SshsigHash,
        digest: &[u8],
        sign: impl FnOnce(SignatureAlgorithm, &[u8]) -> Result<Vec<u8>, KeyError>,
    ) -> Result<Self, KeyError> {
        if namespace.is_empty() {
            return Err(KeyError::InvalidSshsig("the namespace is empty"));
        }
        let alg = sign_algorithm(public_key.key_type(), hash);
        let signature = sign(alg, &signed_data(namespace, &[], hash, digest))?;
        let sig = Self {
            public_key,
            namespace: namespace.to_owned(),
            reserved: Vec::new(),
            hash,
            signature,
        };
        sig.verify_digest(namespace, digest)?;
        Ok(sig)
    }

    /// The signer's key or certificate (not yet trusted: check it against allowed signers).
    pub fn public_key(&self) -> &KeyOrCert {
        &self.public_key
    }

    /// The namespace the signature was made for.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The hash algorithm of the message.
    pub fn hash(&self) -> SshsigHash {
        self.hash
    }

    /// Verifies the signature over `message` in `namespace` with the key in the blob.
    pub fn verify(&self, namespace: &str, message: &[u8]) -> Result<(), KeyError> {
        self.verify_digest(namespace, &self.hash.digest(message))
    }

    /// Verifies the signature over a message hashed with [`SshSig::hash`], as OpenSSH's
    /// `sshsig_wrap_verify`: the namespace must be `namespace`; RSA signatures must be
    /// `rsa-sha2-512` or `rsa-sha2-256`. Security key signatures verify whatever their flags
    /// say, as in ssh-keygen ([`SshSig::sk_info`] gives them).
    pub fn verify_digest(&self, namespace: &str, digest: &[u8]) -> Result<(), KeyError> {
        if self.namespace != namespace {
            return Err(KeyError::InvalidSshsig("namespace does not match"));
        }
        // The blob's first string names the algorithm (a security key signature has its flags
        // and counter after the signature string).
        let alg_name = Reader::new(&self.signature).string()?;
        let key = self.public_key.key();
        let alg = std::str::from_utf8(alg_name)
            .ok()
            .and_then(SignatureAlgorithm::from_name)
            .filter(|a| key.key_type().supports(*a) && *a != SignatureAlgorithm::SshRsa)
            .ok_or(KeyError::InvalidSshsig("unsupported signature algorithm"))?;
        // The signed data carries the namespace we expect and an empty reserved field, as
        // OpenSSH builds it; a signature over another reserved value does not verify.
        let data = signed_data(namespace, &[], self.hash, digest);
        // As ssh-keygen: a security key's flags are reported, not judged.
        key.verify_detailed(alg, &data, &self.signature).map(|_| ())
    }

    /// The flags and counter of a security key signature (`None` for other keys or a signature
    /// that does not parse as one). Not verified: call [`verify`](Self::verify) first.
    pub fn sk_info(&self) -> Option<crate::SkSignatureInfo> {
        if !self.public_key.key().key_type().is_sk() {
            return None;
        }
        crate::SkSignature::decode(&self.signature)
            .ok()
            .map(|s| s.info)
    }

    /// Parses the blob (PROTOCOL.sshsig §2): magic, a version no greater than 1, the key (a
    /// certificate's CA signature is checked), a non-empty namespace, a known hash algorithm, no
    /// trailing bytes.
    pub fn from_blob(blob: &[u8]) -> Result<Self, KeyError> {
        const BAD: KeyError = KeyError::InvalidSshsig("invalid format");
        let mut r = Reader::new(blob);
        if r.bytes(SSHSIG_MAGIC.len()).map_err(|_| BAD)? != SSHSIG_MAGIC {
            return Err(BAD);
        }
        if r.u32().map_err(|_| BAD)? > SSHSIG_VERSION {
            return Err(KeyError::InvalidSshsig("unsupported signature version"));
        }
        let public_key = KeyOrCert::from_blob(r.string().map_err(|_| BAD)?)?;
        let namespace = text(r.string().map_err(|_| BAD)?)?;
        let reserved = r.string().map_err(|_| BAD)?.to_vec();
        let hash = SshsigHash::from_name(&text(r.string().map_err(|_| BAD)?)?)
            .ok_or(KeyError::InvalidSshsig("unsupported hash algorithm"))?;
        let signature = r.string().map_err(|_| BAD)?.to_vec();
        if !r.is_empty() {
            return Err(KeyError::InvalidSshsig("signature contains trailing data"));
        }
        if namespace.is_empty() {
            return Err(KeyError::InvalidSshsig("the namespace is empty"));
        }
        Ok(Self {
            public_key,
            namespace,
            reserved,
            hash,
            signature,
        })
    }

    /// The blob (PROTOCOL.sshsig §2).
    pub fn to_blob(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.signature.len() + 128);
        out.extend_from_slice(SSHSIG_MAGIC);
        put::uint32(&mut out, SSHSIG_VERSION);
        put::string(&mut out, &self.public_key.to_blob());
        put::string(&mut out, self.namespace.as_bytes());
        put::string(&mut out, &self.reserved);
        put::string(&mut out, self.hash.name().as_bytes());
        put::string(&mut out, &self.signature);
        out
    }

    /// Reads the armoured form (PROTOCOL.sshsig §1) as ssh-keygen does: the header at the very
    /// start followed by LF or CRLF, base64 (whitespace ignored) up to the first
    /// `LF -----END SSH SIGNATURE-----`; what follows the footer is ignored.
    pub fn from_armored(text: &[u8]) -> Result<Self, KeyError> {
        let rest = text
            .strip_prefix(BEGIN.as_bytes())
            .ok_or(KeyError::InvalidSshsig("missing header"))?;
        let rest = rest
            .strip_prefix(b"\r\n")
            .or_else(|| rest.strip_prefix(b"\n"))
            .ok_or(KeyError::InvalidSshsig("no header eol"))?;
        let footer = [b"\n".as_slice(), END.as_bytes()].concat();
        let end = rest
            .windows(footer.len())
            .position(|w| w == footer.as_slice())
            .ok_or(KeyError::InvalidSshsig("missing footer"))?;
        let body: Vec<u8> = rest
            .get(..end)
            .unwrap_or_default()
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        let blob = crate::BASE64_LENIENT
            .decode(body)
            .map_err(|_| KeyError::InvalidSshsig("invalid base64"))?;
        Self::from_blob(&blob)
    }

    /// The armoured form, as ssh-keygen writes it (base64 lines of 70 characters, a final LF).
    pub fn to_armored(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(self.to_blob());
        let mut out = String::with_capacity(b64.len() + b64.len() / 70 + 64);
        out.push_str(BEGIN);
        out.push('\n');
        let mut rest = b64.as_str();
        while !rest.is_empty() {
            let (line, tail) = rest.split_at(rest.len().min(70));
            out.push_str(line);
            out.push('\n');
            rest = tail;
        }
        out.push_str(END);
        out.push('\n');
        out
    }
}

fn text(bytes: &[u8]) -> Result<String, KeyError> {
    match std::str::from_utf8(bytes) {
        Ok(s) if !s.contains('\0') => Ok(s.to_owned()),
        _ => Err(KeyError::InvalidSshsig("text field is not UTF-8")),
    }
}

#[cfg(test)]
#[path = "sshsig_tests.rs"]
mod tests;
