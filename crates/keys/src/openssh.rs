//! OpenSSH private key files: the `openssh-key-v1` format of OpenSSH's `PROTOCOL.key`, and the
//! dispatch to the PEM formats `ssh-keygen` also reads.
//!
//! ```text
//! byte[]  "openssh-key-v1\0"
//! string  ciphername            "none" when unencrypted
//! string  kdfname               "none" when unencrypted
//! string  kdfoptions            empty when unencrypted
//! uint32  number of keys N      (1: OpenSSH writes and reads one key)
//! string  publickey1            the public key blob (RFC 4253 §6.6)
//! string  private section, a multiple of the cipher block size (8 for "none"):
//!     uint32  checkint, uint32 checkint (equal)
//!     string  keytype, <private fields>, string comment
//!     byte    padding 1, 2, 3, ... up to the block size
//! ```
//!
//! Private fields: `ssh-ed25519`: string pk, string sk (seed ‖ pk); `ecdsa-sha2-*`: string curve,
//! string Q, mpint d; `ssh-rsa`: mpint n, e, d, iqmp, p, q.

use base64::Engine as _;
use nacre_wire::{put, Reader};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::pem;
use crate::private::PrivateKeyData;
use crate::public::read_non_rsa_body;
use crate::{KeyError, KeyType, PrivateKey, PublicKey};

pub(crate) const MAGIC: &[u8] = b"openssh-key-v1\0";
pub(crate) const LABEL: &str = "OPENSSH PRIVATE KEY";
/// Block size of the cipher "none" (OpenSSH pads the private section to 8 bytes).
const BLOCK_SIZE: usize = 8;
/// Base64 line width of `ssh-keygen`'s output.
const LINE_WIDTH: usize = 70;

impl PrivateKey {
    /// Reads a private key file as OpenSSH does: `openssh-key-v1` (`-----BEGIN OPENSSH PRIVATE
    /// KEY-----`), or PEM PKCS#1 (`RSA PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`) and PKCS#8
    /// (`PRIVATE KEY`).
    ///
    /// Encrypted files return [`KeyError::Encrypted`]. In `openssh-key-v1` the two checkints must
    /// match, the padding must be 1, 2, 3, ... and the private key must match the public one.
    pub fn from_openssh(text: &[u8]) -> Result<Self, KeyError> {
        let armor = pem::decode_armor(text)?;
        if armor.label == LABEL {
            Self::from_openssh_v1_bytes(&armor.body)
        } else {
            pem::decode_pem(&armor)
        }
    }

    /// Decodes the binary `openssh-key-v1` structure (the base64-decoded file body).
    pub fn from_openssh_v1_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let rest = bytes
            .strip_prefix(MAGIC)
            .ok_or(KeyError::InvalidFormat("bad openssh-key-v1 magic"))?;
        let mut r = Reader::new(rest);
        let cipher = r.string()?;
        let kdf = r.string()?;
        let kdf_options = r.string()?;
        if cipher != b"none" || kdf != b"none" {
            return Err(KeyError::Encrypted);
        }
        if !kdf_options.is_empty() {
            return Err(KeyError::InvalidFormat("kdf options without a kdf"));
        }
        match r.u32()? {
            1 => {}
            0 => return Err(KeyError::InvalidFormat("the key file holds no key")),
            n => return Err(KeyError::MultipleKeys(n)),
        }
        let public = PublicKey::from_blob(r.string()?)?;
        let private = r.string()?;
        r.finish()?;
        decode_private_section(private, &public, BLOCK_SIZE)
    }

    /// Writes the key as an unencrypted `openssh-key-v1` file, base64 in 70-column lines as
    /// `ssh-keygen` writes it. The checkint is derived from the public key and comment, so the
    /// output is deterministic.
    ///
    /// ```
    /// use nacre_keys::PrivateKey;
    ///
    /// let key = PrivateKey::from_ed25519_seed(&[9; 32]);
    /// let file = key.to_openssh("backup key");
    /// assert!(file.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"));
    /// assert_eq!(file, key.to_openssh("backup key")); // deterministic
    ///
    /// let read = PrivateKey::from_openssh(file.as_bytes())?;
    /// assert_eq!(read.public_key(), key.public_key());
    /// assert_eq!(read.comment(), "backup key");
    /// // `from_file_bytes` recognises the format by itself.
    /// let any = PrivateKey::from_file_bytes(file.as_bytes(), None)?;
    /// assert_eq!(any.public_key(), key.public_key());
    /// # Ok::<(), nacre_keys::KeyError>(())
    /// ```
    pub fn to_openssh(&self, comment: &str) -> String {
        let public_blob = self.public_key().to_blob();
        let digest = Sha256::new()
            .chain_update(&public_blob)
            .chain_update(comment)
            .finalize();
        let checkint: [u8; 4] = digest
            .get(..4)
            .and_then(|s| s.try_into().ok())
            .unwrap_or_default();

        let private = self.private_section(checkint, comment, BLOCK_SIZE);

        let mut file = Zeroizing::new(Vec::with_capacity(private.len() + public_blob.len() + 64));
        file.extend_from_slice(MAGIC);
        put::string(&mut file, b"none");
        put::string(&mut file, b"none");
        put::string(&mut file, b"");
        put::uint32(&mut file, 1);
        put::string(&mut file, &public_blob);
        put::string(&mut file, &private);
        armor_v1(&file)
    }

    /// The plaintext private section: checkints, key type, private fields, comment, then padding
    /// 1, 2, 3, ... to a multiple of `block_size`.
    pub(crate) fn private_section(
        &self,
        checkint: [u8; 4],
        comment: &str,
        block_size: usize,
    ) -> Zeroizing<Vec<u8>> {
        let mut private = Zeroizing::new(Vec::with_capacity(4096));
        private.extend_from_slice(&checkint);
        private.extend_from_slice(&checkint);
        put::string(&mut private, self.key_type().name().as_bytes());
        self.write_private_fields(&mut private);
        put::string(&mut private, comment.as_bytes());
        let mut pad = 1u8;
        while private.len() % block_size.max(1) != 0 {
            private.push(pad);
            pad = pad.wrapping_add(1);
        }
        private
    }

    /// Appends the type-specific private fields of `openssh-key-v1`.
    pub(crate) fn write_private_fields(&self, out: &mut Vec<u8>) {
        let public = self.public_key();
        match &self.data {
            PrivateKeyData::Ed25519(sk) => {
                let pk = sk.verifying_key().to_bytes();
                put::string(out, &pk);
                let mut keypair = Zeroizing::new([0u8; 64]);
                if let Some((seed_half, pk_half)) = keypair.split_first_chunk_mut::<32>() {
                    seed_half.copy_from_slice(sk.as_bytes());
                    pk_half.copy_from_slice(&pk);
                }
                put::string(out, keypair.as_slice());
            }
            PrivateKeyData::EcdsaP256(sk) => {
                write_ecdsa(out, &public, sk.to_bytes().as_mut_slice())
            }
            PrivateKeyData::EcdsaP384(sk) => {
                write_ecdsa(out, &public, sk.to_bytes().as_mut_slice())
            }
            PrivateKeyData::EcdsaP521(sk) => {
                write_ecdsa(out, &public, sk.to_bytes().as_mut_slice())
            }
            PrivateKeyData::Rsa(rsa) => {
                let (e, n) = public.rsa_components().unwrap_or_default();
                for v in [n, e, &rsa.d, &rsa.iqmp, &rsa.p, &rsa.q] {
                    put::mpint_unsigned(out, v);
                }
            }
        }
    }
}

/// Armours a binary `openssh-key-v1` structure: base64 in 70-column lines between the
/// `OPENSSH PRIVATE KEY` markers.
pub(crate) fn armor_v1(file: &[u8]) -> String {
    let b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(file));
    let mut out = String::with_capacity(b64.len() + b64.len() / LINE_WIDTH + 80);
    out.push_str("-----BEGIN OPENSSH PRIVATE KEY-----\n");
    for line in b64.as_bytes().chunks(LINE_WIDTH) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END OPENSSH PRIVATE KEY-----\n");
    out
}

/// Appends the ECDSA private fields, then wipes the temporary copy of the scalar `d`.
fn write_ecdsa(out: &mut Vec<u8>, public: &PublicKey, d: &mut [u8]) {
    let curve = public.key_type().curve_name().unwrap_or_default();
    put::string(out, curve.as_bytes());
    put::string(out, public.ecdsa_point().unwrap_or_default());
    put::mpint_unsigned(out, d);
    d.zeroize();
}

/// Decodes the (decrypted) private section, padded to `block_size`, and checks it against the
/// public key.
pub(crate) fn decode_private_section(
    section: &[u8],
    public: &PublicKey,
    block_size: usize,
) -> Result<PrivateKey, KeyError> {
    if section.len().checked_rem(block_size) != Some(0) {
        return Err(KeyError::InvalidFormat(
            "private section is not a multiple of the block size",
        ));
    }
    let mut r = Reader::new(section);
    if r.u32()? != r.u32()? {
        return Err(KeyError::InvalidFormat("checkints do not match"));
    }
    let key_type = crate::public::read_type(&mut r)?;
    let key = match key_type {
        KeyType::Ed25519 => {
            let pk = read_non_rsa_body(KeyType::Ed25519, &mut r)?;
            let sk = r.string()?;
            let (seed, pk_copy) = sk
                .split_first_chunk::<32>()
                .filter(|(_, rest)| rest.len() == 32)
                .ok_or(KeyError::InvalidKey("ed25519 private key must be 64 bytes"))?;
            if Some(pk_copy) != pk.ed25519_bytes().map(|k| k.as_slice()) {
                return Err(KeyError::InvalidKey(
                    "ed25519 private key holds another public key",
                ));
            }
            let key = PrivateKey::from_ed25519_seed(seed);
            if key.public_key() != pk {
                return Err(KeyError::InvalidKey(
                    "ed25519 seed does not match its public key",
                ));
            }
            key
        }
        KeyType::Rsa => {
            let mut next = || -> Result<&[u8], KeyError> { Ok(r.mpint()?.unsigned_magnitude()?) };
            let (n, e, d, iqmp, p, q) = (next()?, next()?, next()?, next()?, next()?, next()?);
            PrivateKey::from_rsa_components(n, e, d, iqmp, p, q)?
        }
        sk if sk.is_sk() => {
            // The private half is a key handle for the authenticator: nacre cannot sign with
            // it (use the key through an agent).
            return Err(KeyError::UnsupportedKeyType(sk.name().to_owned()));
        }
        ecdsa => {
            let pk = read_non_rsa_body(ecdsa, &mut r)?;
            let d = r.mpint()?.unsigned_magnitude()?;
            let key = PrivateKey::from_ecdsa_scalar(ecdsa, d)?;
            if key.public_key() != pk {
                return Err(KeyError::InvalidKey(
                    "ecdsa private scalar does not match its public key",
                ));
            }
            key
        }
    };
    if key.public_key() != *public {
        return Err(KeyError::InvalidKey(
            "private key does not match the file's public key",
        ));
    }
    let comment = String::from_utf8_lossy(r.string()?).into_owned();
    let padding = r.remaining();
    let expected = (1..=u8::MAX).take(padding.len());
    if padding.len() >= block_size || !padding.iter().copied().eq(expected) {
        return Err(KeyError::InvalidFormat(
            "invalid padding after the private key",
        ));
    }
    Ok(key.with_comment(comment))
}
