//! Keys for nacre: key types, SSH signatures, OpenSSH key files and fingerprints.
//!
//! - [`PublicKey`]: the public key blob of RFC 4253 §6.6 (with RFC 5656 §3.1 ECDSA and RFC 8709
//!   §4 Ed25519 keys), OpenSSH `.pub` lines, fingerprints, and signature verification.
//! - [`PrivateKey`]: generation, signing (RFC 8332 §3, RFC 5656 §3.1.2, RFC 8709 §6), and the key
//!   files OpenSSH reads: `openssh-key-v1` (OpenSSH `PROTOCOL.key`), plain or encrypted
//!   (`bcrypt` KDF, every [`KeyCipher`]), PEM PKCS#1, SEC1 and PKCS#8, plain or encrypted, and
//!   PuTTY PPK v2/v3; [`PrivateKey::from_file_bytes`] reads any of them.
//! - [`SignatureAlgorithm`] and [`KeyType`]: the algorithm names of KEXINIT.
//! - [`Certificate`]s (`*-cert-v01@openssh.com`, OpenSSH `PROTOCOL.certkeys`): parse, verify,
//!   check against a time and principals, sign ([`cert::CertBuilder`]); [`KeyOrCert`] for blobs
//!   that may be either.
//! - [`SshSig`]: SSH signatures of files (OpenSSH `PROTOCOL.sshsig`, `ssh-keygen -Y`), and
//!   [`AllowedSigners`] files.
//! - OpenSSH users' files and agent: [`known_hosts`], [`authorized_keys`] and the ssh-[`agent`]
//!   protocol with a blocking client.
#![warn(missing_docs)]

pub mod agent;
mod algorithm;
pub mod allowed_signers;
pub mod authorized_keys;
pub mod cert;
mod der;
mod encrypted;
mod error;
mod file_cipher;
mod fingerprint;
mod from_patterns;
/// Entry points of the fuzz targets (docs/FUZZING.md).
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod generate;
pub mod known_hosts;
pub mod known_hosts_update;
mod load;
mod md5;
mod openssh;
mod pattern;
mod pem;
mod pem_encrypted;
mod ppk;
mod private;
mod public;
mod signature;
mod sk;
mod sshsig;

pub use algorithm::{KeyType, SignatureAlgorithm};
pub use allowed_signers::AllowedSigners;
pub use authorized_keys::{AuthorizedKey, AuthorizedKeys, KeyOptions, Refusal};
pub use cert::{CertType, Certificate, KeyOrCert};
pub use encrypted::{DEFAULT_BCRYPT_ROUNDS, MAX_BCRYPT_ROUNDS};
pub use error::KeyError;
pub use file_cipher::KeyCipher;
pub use generate::RSA_GENERATE_MIN_BITS;
pub use known_hosts::{HostKeyStatus, KnownHosts};
pub use pem_encrypted::MAX_PBKDF2_ITERATIONS;
pub use ppk::{MAX_ARGON2_MEMORY_KIB, MAX_ARGON2_PARALLELISM, MAX_ARGON2_PASSES};
pub use private::PrivateKey;
pub use public::{PublicKey, RSA_MAX_BITS, RSA_MIN_BITS};
pub use signature::{decode_signature_blob, encode_signature_blob};
pub use sk::{sk_signed_data, SkSignature, SkSignatureInfo};
pub use sshsig::{SshSig, SshsigHash, SshsigHasher, SSHSIG_MAGIC, SSHSIG_VERSION};

/// Standard base64 that accepts missing padding, as OpenSSH's decoder does.
pub(crate) const BASE64_LENIENT: base64::engine::GeneralPurpose =
    base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );

/// Keys for unit tests: OpenSSH's test keys from `../shared/vectors/openssh-keys` (RSA keys are
/// slow to generate in debug builds).
#[cfg(test)]
#[allow(clippy::expect_used)]
pub(crate) mod testkeys {
    /// The private key `name` of OpenSSH's test data.
    pub(crate) fn load(name: &str) -> crate::PrivateKey {
        let path = format!(
            "{}/../../../shared/vectors/openssh-keys/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let bytes = std::fs::read(path).expect("../shared/vectors/openssh-keys");
        crate::PrivateKey::from_file_bytes(&bytes, None).expect("test key")
    }

    /// OpenSSH's 1024-bit test RSA key.
    pub(crate) fn rsa() -> crate::PrivateKey {
        load("rsa_1")
    }
}
