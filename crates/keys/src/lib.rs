//! Keys for nacre: key types, SSH signatures, OpenSSH key files and fingerprints.
//!
//! - [`PublicKey`]: the public key blob of RFC 4253 §6.6 (with RFC 5656 §3.1 ECDSA and RFC 8709
//!   §4 Ed25519 keys), OpenSSH `.pub` lines, fingerprints, and signature verification.
//! - [`PrivateKey`]: generation, signing (RFC 8332 §3, RFC 5656 §3.1.2, RFC 8709 §6), and the key
//!   files OpenSSH reads: `openssh-key-v1` (OpenSSH `PROTOCOL.key`), plain or encrypted
//!   (`bcrypt` KDF, every [`KeyCipher`]), PEM PKCS#1, SEC1 and PKCS#8, plain or encrypted, and
//!   PuTTY PPK v2/v3; [`PrivateKey::from_file_bytes`] reads any of them.
//! - [`SignatureAlgorithm`] and [`KeyType`]: the algorithm names of KEXINIT.
//! - OpenSSH users' files and agent: [`known_hosts`], [`authorized_keys`] and the ssh-[`agent`]
//!   protocol with a blocking client.
#![warn(missing_docs)]

pub mod agent;
mod algorithm;
pub mod authorized_keys;
mod der;
mod encrypted;
mod error;
mod file_cipher;
mod fingerprint;
/// Entry points of the fuzz targets (docs/FUZZING.md).
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod generate;
pub mod known_hosts;
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

pub use algorithm::{KeyType, SignatureAlgorithm};
pub use authorized_keys::{AuthorizedKey, AuthorizedKeys, KeyOptions, Refusal};
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

/// Standard base64 that accepts missing padding, as OpenSSH's decoder does.
pub(crate) const BASE64_LENIENT: base64::engine::GeneralPurpose =
    base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
