//! Encrypted `openssh-key-v1` files (OpenSSH `PROTOCOL.key`), and reading any private key file
//! with a passphrase.
//!
//! ```text
//! byte[]  "openssh-key-v1\0"
//! string  ciphername            aes256-ctr (ssh-keygen's default), or any KeyCipher
//! string  kdfname               "bcrypt"
//! string  kdfoptions            string salt, uint32 rounds
//! uint32  number of keys        1
//! string  publickey
//! string  encrypted private section (a multiple of the cipher's block size)
//! byte[]  tag                   16 bytes for the AEAD ciphers, absent otherwise
//! ```
//!
//! The cipher key and IV are the first `key_len + iv_len` bytes of
//! `bcrypt_pbkdf(passphrase, salt, rounds)` (OpenSSH's `bcrypt_pbkdf.c`). The decrypted section is
//! the one of unencrypted files; its two random checkints differ when the passphrase is wrong.

use nacre_wire::{put, Reader};
use zeroize::Zeroizing;

use crate::file_cipher::KeyCipher;
use crate::openssh::{armor_v1, decode_private_section, LABEL, MAGIC};
use crate::{pem, KeyError, PrivateKey, PublicKey};

/// Rounds of `bcrypt_pbkdf` that `ssh-keygen` uses unless `-a` says otherwise.
pub const DEFAULT_BCRYPT_ROUNDS: u32 = 16;

/// The most `bcrypt_pbkdf` rounds a key file may ask for (each round costs several
/// milliseconds; a corrupted or hostile file must not make loading hang for hours).
pub const MAX_BCRYPT_ROUNDS: u32 = 1 << 14;

/// Length of the random salt written into new files (as `ssh-keygen`).
const SALT_LEN: usize = 16;

impl PrivateKey {
    /// Reads a private key file, decrypting it with `passphrase` when it is encrypted:
    /// `openssh-key-v1` with the `bcrypt` KDF and any [`KeyCipher`], legacy encrypted PEM
    /// (`Proc-Type: 4,ENCRYPTED`) and PKCS#8 `ENCRYPTED PRIVATE KEY` (PBES2). Files that are not
    /// encrypted are read as [`PrivateKey::from_openssh`] reads them; the passphrase is unused.
    ///
    /// A wrong passphrase is [`KeyError::BadPassphrase`] (the `openssh-key-v1` checkints differ,
    /// an AEAD tag fails, or the PEM/PKCS#8 plaintext is not a key).
    pub fn from_openssh_with_passphrase(text: &[u8], passphrase: &[u8]) -> Result<Self, KeyError> {
        let armor = pem::decode_armor(text)?;
        if armor.label == LABEL {
            Self::from_openssh_v1_bytes_with_passphrase(&armor.body, passphrase)
        } else {
            crate::pem_encrypted::decode_pem_with_passphrase(&armor, passphrase)
        }
    }

    /// Decodes the binary `openssh-key-v1` structure, decrypting it with `passphrase` if needed.
    pub fn from_openssh_v1_bytes_with_passphrase(
        bytes: &[u8],
        passphrase: &[u8],
    ) -> Result<Self, KeyError> {
        let rest = bytes
            .strip_prefix(MAGIC)
            .ok_or(KeyError::InvalidFormat("bad openssh-key-v1 magic"))?;
        let mut r = Reader::new(rest);
        let cipher_name = r.string()?;
        if cipher_name == b"none" {
            return Self::from_openssh_v1_bytes(bytes);
        }
        let cipher = std::str::from_utf8(cipher_name)
            .ok()
            .and_then(KeyCipher::from_name)
            .ok_or_else(|| {
                KeyError::UnsupportedCipher(String::from_utf8_lossy(cipher_name).into_owned())
            })?;
        let kdf = r.string()?;
        if kdf != b"bcrypt" {
            return Err(KeyError::UnsupportedKdf(
                String::from_utf8_lossy(kdf).into_owned(),
            ));
        }
        let mut options = Reader::new(r.string()?);
        let salt = options.string()?;
        let rounds = options.u32()?;
        options.finish()?;
        match r.u32()? {
            1 => {}
            0 => return Err(KeyError::InvalidFormat("the key file holds no key")),
            n => return Err(KeyError::MultipleKeys(n)),
        }
        let public = PublicKey::from_blob(r.string()?)?;
        let encrypted = r.string()?;
        let tag = r.bytes(cipher.tag_len())?;
        r.finish()?;
        let block = cipher.block_size();
        if encrypted.len() < block || encrypted.len().checked_rem(block) != Some(0) {
            return Err(KeyError::InvalidFormat(
                "encrypted section is not a multiple of the block size",
            ));
        }

        let kdf_out = bcrypt_kdf(passphrase, salt, rounds, cipher.key_len() + cipher.iv_len())?;
        let (key, iv) = kdf_out
            .split_at_checked(cipher.key_len())
            .ok_or(KeyError::InvalidFormat("short KDF output"))?;
        let mut plain = Zeroizing::new(encrypted.to_vec());
        cipher.decrypt(key, iv, &mut plain, tag)?;
        match (plain.get(0..4), plain.get(4..8)) {
            (Some(a), Some(b)) if a == b => {}
            _ => return Err(KeyError::BadPassphrase),
        }
        decode_private_section(&plain, &public, block)
    }

    /// Writes the key as an encrypted `openssh-key-v1` file as `ssh-keygen -N passphrase` does:
    /// `aes256-ctr`, `bcrypt` KDF with `rounds` (0 means [`DEFAULT_BCRYPT_ROUNDS`]) and a random
    /// 16-byte salt and checkint from `rng`. An empty passphrase writes the unencrypted file of
    /// [`PrivateKey::to_openssh`], as `ssh-keygen -N ''` does.
    pub fn to_openssh_encrypted(
        &self,
        comment: &str,
        passphrase: &[u8],
        rounds: u32,
        rng: &mut impl rand_core::CryptoRngCore,
    ) -> Result<String, KeyError> {
        self.to_openssh_encrypted_with(comment, passphrase, KeyCipher::Aes256Ctr, rounds, rng)
    }

    /// As [`PrivateKey::to_openssh_encrypted`] with another cipher (`ssh-keygen -Z`).
    ///
    /// Fails with [`KeyError::UnsupportedKdf`] when `rounds` exceeds [`MAX_BCRYPT_ROUNDS`].
    pub fn to_openssh_encrypted_with(
        &self,
        comment: &str,
        passphrase: &[u8],
        cipher: KeyCipher,
        rounds: u32,
        rng: &mut impl rand_core::CryptoRngCore,
    ) -> Result<String, KeyError> {
        if passphrase.is_empty() {
            return Ok(self.to_openssh(comment));
        }
        let rounds = if rounds == 0 {
            DEFAULT_BCRYPT_ROUNDS
        } else {
            rounds
        };
        let mut salt = [0u8; SALT_LEN];
        rng.fill_bytes(&mut salt);
        let mut checkint = [0u8; 4];
        rng.fill_bytes(&mut checkint);

        let kdf_out = bcrypt_kdf(
            passphrase,
            &salt,
            rounds,
            cipher.key_len() + cipher.iv_len(),
        )?;
        let (key, iv) = kdf_out
            .split_at_checked(cipher.key_len())
            .ok_or(KeyError::InvalidFormat("short KDF output"))?;
        let mut section = self.private_section(checkint, comment, cipher.block_size());
        let tag = cipher.encrypt(key, iv, &mut section)?;

        let public_blob = self.public_key().to_blob();
        let mut options = Vec::with_capacity(SALT_LEN + 8);
        put::string(&mut options, &salt);
        put::uint32(&mut options, rounds);
        let mut file = Zeroizing::new(Vec::with_capacity(section.len() + public_blob.len() + 128));
        file.extend_from_slice(MAGIC);
        put::string(&mut file, cipher.name().as_bytes());
        put::string(&mut file, b"bcrypt");
        put::string(&mut file, &options);
        put::uint32(&mut file, 1);
        put::string(&mut file, &public_blob);
        put::string(&mut file, &section);
        file.extend_from_slice(&tag);
        Ok(armor_v1(&file))
    }
}

/// `bcrypt_pbkdf` output of `len` bytes. An empty passphrase cannot decrypt anything
/// ([`KeyError::BadPassphrase`], as OpenSSH); an empty salt or rounds outside
/// `1..=MAX_BCRYPT_ROUNDS` are refused before any work.
fn bcrypt_kdf(
    passphrase: &[u8],
    salt: &[u8],
    rounds: u32,
    len: usize,
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    if passphrase.is_empty() {
        return Err(KeyError::BadPassphrase);
    }
    if salt.is_empty() {
        return Err(KeyError::InvalidFormat("bcrypt salt is empty"));
    }
    if rounds == 0 || rounds > MAX_BCRYPT_ROUNDS {
        return Err(KeyError::UnsupportedKdf(format!(
            "bcrypt with {rounds} rounds"
        )));
    }
    let mut out = Zeroizing::new(vec![0u8; len]);
    bcrypt_pbkdf::bcrypt_pbkdf(passphrase, salt, rounds, &mut out)
        .map_err(|_| KeyError::InvalidFormat("bcrypt_pbkdf parameters"))?;
    Ok(out)
}
