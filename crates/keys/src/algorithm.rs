//! Key types and signature algorithm names.
//!
//! Host key algorithm names are those of RFC 4253 §6.6 (`ssh-rsa`), RFC 5656 §6.2
//! (`ecdsa-sha2-nistp256`, `-nistp384`, `-nistp521`), RFC 8332 §3 (`rsa-sha2-256`,
//! `rsa-sha2-512`) and RFC 8709 §4 (`ssh-ed25519`); the security key types are OpenSSH's
//! (PROTOCOL.u2f: `sk-ssh-ed25519@openssh.com`, `sk-ecdsa-sha2-nistp256@openssh.com`).

/// Signature algorithms, i.e. the host key algorithms of KEXINIT and the public key algorithms of
/// user authentication (RFC 4253 §6.6, RFC 5656 §3.1.2, RFC 8332 §3, RFC 8709 §6).
///
/// ```
/// use nacre_keys::{KeyType, SignatureAlgorithm};
///
/// let alg = SignatureAlgorithm::from_name("rsa-sha2-512").unwrap();
/// assert_eq!(alg, SignatureAlgorithm::RsaSha512);
/// assert_eq!(alg.key_type(), KeyType::Rsa);
/// assert!(!alg.is_legacy());
/// assert!(SignatureAlgorithm::from_name("ssh-rsa").is_some_and(|a| a.is_legacy())); // SHA-1
///
/// // One RSA key type, three signature algorithms.
/// assert_eq!(KeyType::Rsa.signature_algorithms().len(), 3);
/// assert_eq!(KeyType::from_name("ecdsa-sha2-nistp256")?.curve_name(), Some("nistp256"));
/// # Ok::<(), nacre_keys::KeyError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    /// `ssh-ed25519` (RFC 8709 §6).
    Ed25519,
    /// `ecdsa-sha2-nistp256`, ECDSA over P-256 with SHA-256 (RFC 5656 §3.1.2).
    EcdsaNistP256,
    /// `ecdsa-sha2-nistp384`, ECDSA over P-384 with SHA-384 (RFC 5656 §3.1.2).
    EcdsaNistP384,
    /// `ecdsa-sha2-nistp521`, ECDSA over P-521 with SHA-512 (RFC 5656 §3.1.2).
    EcdsaNistP521,
    /// `rsa-sha2-256`, RSASSA-PKCS1-v1_5 with SHA-256 (RFC 8332 §3).
    RsaSha256,
    /// `rsa-sha2-512`, RSASSA-PKCS1-v1_5 with SHA-512 (RFC 8332 §3).
    RsaSha512,
    /// `ssh-rsa`, RSASSA-PKCS1-v1_5 with SHA-1 (RFC 4253 §6.6). Legacy: only use when opted in.
    SshRsa,
    /// `sk-ssh-ed25519@openssh.com`: a FIDO security key's Ed25519 signature over the
    /// authenticator data (PROTOCOL.u2f "SSH U2F signatures"). Verified, never made, by nacre.
    SkEd25519,
    /// `sk-ecdsa-sha2-nistp256@openssh.com`: a FIDO security key's ECDSA P-256 signature over the
    /// authenticator data (PROTOCOL.u2f "SSH U2F signatures"). Verified, never made, by nacre.
    SkEcdsaNistP256,
}

impl SignatureAlgorithm {
    /// Every algorithm, in the order of preference used by default (legacy `ssh-rsa` last).
    pub const ALL: &'static [Self] = &[
        Self::Ed25519,
        Self::EcdsaNistP256,
        Self::EcdsaNistP384,
        Self::EcdsaNistP521,
        Self::RsaSha512,
        Self::RsaSha256,
        Self::SshRsa,
    ];

    /// The security key algorithms, which nacre verifies (user authentication, SSHSIG) and whose
    /// signatures it has an agent make, but cannot make itself; not in [`ALL`](Self::ALL),
    /// which lists what nacre can sign with (host keys, key files).
    pub const SK: &'static [Self] = &[Self::SkEd25519, Self::SkEcdsaNistP256];

    /// The algorithm's name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ed25519 => "ssh-ed25519",
            Self::EcdsaNistP256 => "ecdsa-sha2-nistp256",
            Self::EcdsaNistP384 => "ecdsa-sha2-nistp384",
            Self::EcdsaNistP521 => "ecdsa-sha2-nistp521",
            Self::RsaSha256 => "rsa-sha2-256",
            Self::RsaSha512 => "rsa-sha2-512",
            Self::SshRsa => "ssh-rsa",
            Self::SkEd25519 => "sk-ssh-ed25519@openssh.com",
            Self::SkEcdsaNistP256 => "sk-ecdsa-sha2-nistp256@openssh.com",
        }
    }

    /// Looks an algorithm up by its wire name (exact, case-sensitive match), security key
    /// algorithms included.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .chain(Self::SK)
            .copied()
            .find(|a| a.name() == name)
    }

    /// The key type that makes signatures of this algorithm.
    pub fn key_type(self) -> KeyType {
        match self {
            Self::Ed25519 => KeyType::Ed25519,
            Self::EcdsaNistP256 => KeyType::EcdsaNistP256,
            Self::EcdsaNistP384 => KeyType::EcdsaNistP384,
            Self::EcdsaNistP521 => KeyType::EcdsaNistP521,
            Self::RsaSha256 | Self::RsaSha512 | Self::SshRsa => KeyType::Rsa,
            Self::SkEd25519 => KeyType::SkEd25519,
            Self::SkEcdsaNistP256 => KeyType::SkEcdsaNistP256,
        }
    }

    /// True for the security key algorithms ([`SK`](Self::SK)).
    pub fn is_sk(self) -> bool {
        self.key_type().is_sk()
    }

    /// True for algorithms kept only for old peers (`ssh-rsa`, SHA-1).
    pub fn is_legacy(self) -> bool {
        matches!(self, Self::SshRsa)
    }
}

impl std::fmt::Display for SignatureAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Public key types, named as the type string inside a public key blob (RFC 4253 §6.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// `ssh-ed25519` (RFC 8709 §4).
    Ed25519,
    /// `ecdsa-sha2-nistp256` (RFC 5656 §3.1).
    EcdsaNistP256,
    /// `ecdsa-sha2-nistp384` (RFC 5656 §3.1).
    EcdsaNistP384,
    /// `ecdsa-sha2-nistp521` (RFC 5656 §3.1).
    EcdsaNistP521,
    /// `ssh-rsa` (RFC 4253 §6.6), used by `rsa-sha2-256`/`rsa-sha2-512` too (RFC 8332 §3).
    Rsa,
    /// `sk-ssh-ed25519@openssh.com`: an Ed25519 key held by a FIDO security key, with its
    /// application string (PROTOCOL.u2f "SSH U2F Key formats").
    SkEd25519,
    /// `sk-ecdsa-sha2-nistp256@openssh.com`: an ECDSA P-256 key held by a FIDO security key, with
    /// its application string (PROTOCOL.u2f "SSH U2F Key formats").
    SkEcdsaNistP256,
}

impl KeyType {
    /// Every key type nacre can hold a private key of (generate, load, sign with).
    pub const ALL: &'static [Self] = &[
        Self::Ed25519,
        Self::EcdsaNistP256,
        Self::EcdsaNistP384,
        Self::EcdsaNistP521,
        Self::Rsa,
    ];

    /// The security key types: public keys nacre parses and verifies signatures of (user
    /// authentication, SSHSIG, certificates) and uses through an agent.
    pub const SK: &'static [Self] = &[Self::SkEd25519, Self::SkEcdsaNistP256];

    /// The type name inside a public key blob.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ed25519 => "ssh-ed25519",
            Self::EcdsaNistP256 => "ecdsa-sha2-nistp256",
            Self::EcdsaNistP384 => "ecdsa-sha2-nistp384",
            Self::EcdsaNistP521 => "ecdsa-sha2-nistp521",
            Self::Rsa => "ssh-rsa",
            Self::SkEd25519 => "sk-ssh-ed25519@openssh.com",
            Self::SkEcdsaNistP256 => "sk-ecdsa-sha2-nistp256@openssh.com",
        }
    }

    /// Looks a key type up by its blob type name. Returns [`crate::KeyError::UnsupportedKeyType`]
    /// for names of key types that exist but are not supported, and
    /// [`crate::KeyError::UnknownKeyType`] otherwise.
    pub fn from_name(name: &str) -> Result<Self, crate::KeyError> {
        if let Some(t) = Self::ALL
            .iter()
            .chain(Self::SK)
            .copied()
            .find(|t| t.name() == name)
        {
            return Ok(t);
        }
        if is_known_unsupported(name) {
            Err(crate::KeyError::UnsupportedKeyType(name.to_owned()))
        } else {
            Err(crate::KeyError::UnknownKeyType(name.to_owned()))
        }
    }

    /// The signature algorithms a key of this type can make, most preferred first
    /// (for RSA: `rsa-sha2-512`, `rsa-sha2-256`, then the legacy `ssh-rsa`).
    pub fn signature_algorithms(self) -> &'static [SignatureAlgorithm] {
        match self {
            Self::Ed25519 => &[SignatureAlgorithm::Ed25519],
            Self::EcdsaNistP256 => &[SignatureAlgorithm::EcdsaNistP256],
            Self::EcdsaNistP384 => &[SignatureAlgorithm::EcdsaNistP384],
            Self::EcdsaNistP521 => &[SignatureAlgorithm::EcdsaNistP521],
            Self::Rsa => &[
                SignatureAlgorithm::RsaSha512,
                SignatureAlgorithm::RsaSha256,
                SignatureAlgorithm::SshRsa,
            ],
            Self::SkEd25519 => &[SignatureAlgorithm::SkEd25519],
            Self::SkEcdsaNistP256 => &[SignatureAlgorithm::SkEcdsaNistP256],
        }
    }

    /// True for the security key types ([`SK`](Self::SK)).
    pub fn is_sk(self) -> bool {
        matches!(self, Self::SkEd25519 | Self::SkEcdsaNistP256)
    }

    /// The curve identifier of RFC 5656 §6.1 (`nistp256`, ...) for ECDSA key types.
    pub fn curve_name(self) -> Option<&'static str> {
        match self {
            Self::EcdsaNistP256 => Some("nistp256"),
            Self::EcdsaNistP384 => Some("nistp384"),
            Self::EcdsaNistP521 => Some("nistp521"),
            Self::SkEcdsaNistP256 => Some("nistp256"),
            Self::Ed25519 | Self::Rsa | Self::SkEd25519 => None,
        }
    }

    /// The ECDSA key type for an RFC 5656 §6.1 curve identifier.
    pub fn from_curve_name(curve: &str) -> Option<Self> {
        [
            Self::EcdsaNistP256,
            Self::EcdsaNistP384,
            Self::EcdsaNistP521,
        ]
        .into_iter()
        .find(|t| t.curve_name() == Some(curve))
    }

    /// True for the ECDSA key types nacre can sign with (not the security key one).
    pub fn is_ecdsa(self) -> bool {
        self.curve_name().is_some() && !self.is_sk()
    }

    /// Whether `alg` may be used with a key of this type.
    pub fn supports(self, alg: SignatureAlgorithm) -> bool {
        alg.key_type() == self
    }
}

impl std::fmt::Display for KeyType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Key type names that exist in the SSH world but that this crate does not support: DSA,
/// Ed448, webauthn signatures, certificates (as plain key types), X.509 and post-quantum hybrids.
fn is_known_unsupported(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "ssh-dss",
        "ssh-ed448",
        "webauthn-sk-ecdsa-sha2-nistp256@openssh.com",
    ];
    EXACT.contains(&name)
        || name.ends_with("-cert-v01@openssh.com")
        || name.ends_with("-cert-v00@openssh.com")
        || name.starts_with("x509v3-")
        || name.starts_with("sk-")
        || name.contains("mldsa")
}
