//! Errors of key parsing, signing and verification.

use nacre_wire::WireError;

use crate::{KeyType, SignatureAlgorithm};

/// Why a key, key file or signature was rejected.
///
/// Every malformed input maps to one of these precise variants; nothing in this crate panics on
/// bad bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The SSH wire encoding (RFC 4251 §5) is broken: truncated, trailing data, bad mpint, ...
    #[error("wire encoding: {0}")]
    Wire(#[from] WireError),
    /// A key type or signature algorithm name this crate has never heard of.
    #[error("unknown key type {0:?}")]
    UnknownKeyType(String),
    /// A key type that exists (security keys, certificates, DSA, post-quantum hybrids, ...) but is
    /// not supported by this crate.
    #[error("unsupported key type {0:?}")]
    UnsupportedKeyType(String),
    /// The key material itself is invalid (a point not on the curve, a wrong length, a private key
    /// that does not match its public half, ...).
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    /// The signature does not verify, or its encoding is invalid.
    #[error("bad signature")]
    BadSignature,
    /// A security key signature verifies but its flags do not meet a requirement (user
    /// presence, user verification).
    #[error("security key signature: {0}")]
    SkFlags(&'static str),
    /// The signature blob names another algorithm than the one negotiated.
    #[error("signature algorithm {found:?} does not match the expected {expected:?}")]
    SignatureAlgorithmMismatch {
        /// The algorithm the caller expected (negotiated in KEXINIT).
        expected: SignatureAlgorithm,
        /// The algorithm name found in the signature blob.
        found: String,
    },
    /// The signature algorithm cannot be used with this key type (RFC 8332 §3: `rsa-sha2-*` need
    /// an RSA key; an ECDSA algorithm needs a key on its own curve).
    #[error("signature algorithm {algorithm:?} cannot be used with a {key_type:?} key")]
    IncompatibleAlgorithm {
        /// The key's type.
        key_type: KeyType,
        /// The algorithm asked for.
        algorithm: SignatureAlgorithm,
    },
    /// This crate can verify this algorithm but cannot produce it with this key. Every algorithm of
    /// [`SignatureAlgorithm`] can be signed today (legacy `ssh-rsa` included); kept for backends
    /// that cannot.
    #[error("signing with {0:?} is not supported")]
    SigningUnsupported(SignatureAlgorithm),
    /// The key file is encrypted: read it with a passphrase
    /// ([`PrivateKey::from_openssh_with_passphrase`](crate::PrivateKey::from_openssh_with_passphrase),
    /// [`PrivateKey::from_file_bytes`](crate::PrivateKey::from_file_bytes)).
    #[error("the private key is encrypted (passphrase required)")]
    Encrypted,
    /// The passphrase is wrong: the decrypted checkints differ, an authentication tag or MAC does
    /// not verify, or the decrypted data is not a key.
    #[error("wrong passphrase (or corrupted encrypted key)")]
    BadPassphrase,
    /// The key file is encrypted with a cipher this crate does not implement.
    #[error("unsupported key file cipher {0:?}")]
    UnsupportedCipher(String),
    /// The key file derives its key with a KDF this crate does not implement, or with parameters
    /// outside the accepted limits.
    #[error("unsupported key derivation {0:?}")]
    UnsupportedKdf(String),
    /// A new key cannot be generated with these parameters (RSA below 2048 bits, ...).
    #[error("cannot generate the key: {0}")]
    Generation(&'static str),
    /// The key file's structure is invalid (armour, base64, magic, checkints, padding, DER, ...).
    #[error("invalid key file: {0}")]
    InvalidFormat(&'static str),
    /// An RSA modulus below the 1024-bit minimum (as OpenSSH's `SSH_RSA_MINIMUM_MODULUS_SIZE`).
    #[error("RSA key of {0} bits is too small (minimum 1024)")]
    RsaTooSmall(usize),
    /// An RSA modulus above the 16384-bit maximum (as OpenSSH's `SSH_RSA_MAXIMUM_MODULUS_SIZE`).
    #[error("RSA key of {0} bits is too large (maximum 16384)")]
    RsaTooLarge(usize),
    /// The RSA key cannot be used for signing: both *ring* (2048..=4096-bit moduli, public
    /// exponent of at least 65537) and the RustCrypto `rsa` fallback refused it (for instance a
    /// private exponent that does not match the primes).
    #[error("RSA key cannot sign: {0}")]
    RsaKeyRejected(String),
    /// The type named in an OpenSSH public key line differs from the type inside its blob.
    #[error("key line names type {line:?} but the blob holds {blob:?}")]
    KeyTypeMismatch {
        /// The type name written in the line.
        line: String,
        /// The type inside the blob.
        blob: KeyType,
    },
    /// A key type that is not an ECDSA curve was given where a curve is required.
    #[error("{0:?} is not an ECDSA curve")]
    NotEcdsa(KeyType),
    /// A file holds more than one key (openssh-key-v1 allows it; OpenSSH itself does not).
    #[error("the key file holds {0} keys; exactly one is supported")]
    MultipleKeys(u32),
    /// The signing backend failed unexpectedly.
    #[error("signing failed")]
    SigningFailed,
    /// A known_hosts line is malformed: no key after the host field, a marker with nothing
    /// after it, ... (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT").
    #[error("invalid known_hosts line: {0}")]
    InvalidKnownHosts(&'static str),
    /// A known_hosts line starts with a marker other than `@cert-authority` or `@revoked`.
    #[error("unknown known_hosts marker {0:?}")]
    UnknownMarker(String),
    /// A hashed known_hosts host field (`|1|base64(salt)|base64(hash)`) is malformed.
    #[error("invalid hashed host: {0}")]
    InvalidHostHash(&'static str),
    /// A host or address pattern (known_hosts host field, authorized_keys `from=`) is invalid.
    #[error("invalid host pattern {pattern:?}: {reason}")]
    InvalidHostPattern {
        /// The offending pattern.
        pattern: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// An authorized_keys line is malformed outside its options (no key after the options, ...).
    #[error("invalid authorized_keys line: {0}")]
    InvalidAuthorizedKeys(&'static str),
    /// An authorized_keys option that OpenSSH does not know (sshd(8) "AUTHORIZED_KEYS FILE
    /// FORMAT"). OpenSSH refuses the whole line, and so does this crate.
    #[error("unknown authorized_keys option at {0:?}")]
    UnknownKeyOption(String),
    /// An authorized_keys option with an invalid or repeated value.
    #[error("invalid authorized_keys option {option}: {reason}")]
    InvalidKeyOption {
        /// The option's name.
        option: &'static str,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A certificate blob is malformed (OpenSSH `PROTOCOL.certkeys` §2): truncated, an unknown
    /// certificate type, options that are not `string name || string data` pairs, a CA key that
    /// is itself a certificate, a signature that does not verify, ...
    #[error("invalid certificate: {0}")]
    InvalidCertificate(&'static str),
    /// A valid certificate that may not be used here (PROTOCOL.certkeys §2, OpenSSH's
    /// `sshkey_cert_check_authority`): wrong type, not yet valid, expired, no listed principal,
    /// an unsupported critical option. The text is OpenSSH's reason.
    #[error("{0}")]
    CertificateRefused(&'static str),
    /// An SSHSIG signature (OpenSSH `PROTOCOL.sshsig`) is malformed or does not apply: armour,
    /// magic, version, namespace, hash algorithm.
    #[error("invalid SSH signature: {0}")]
    InvalidSshsig(&'static str),
    /// An allowed_signers line (ssh-keygen(1) "ALLOWED SIGNERS") is malformed.
    #[error("{path}:{line}: {reason}")]
    InvalidAllowedSigners {
        /// The file's name as given.
        path: String,
        /// The 1-based line number.
        line: usize,
        /// Why the line was rejected.
        reason: &'static str,
    },
}
