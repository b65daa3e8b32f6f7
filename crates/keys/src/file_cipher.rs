//! Symmetric ciphers of encrypted key files.
//!
//! - [`KeyCipher`]: the ciphers of `openssh-key-v1` (OpenSSH `PROTOCOL.key`, `ssh-keygen -Z`).
//!   The AEADs are used as OpenSSH's `sshkey.c` uses them: no associated data, the 16-byte tag
//!   stored right after the encrypted section (outside its length-prefixed string). AES-GCM takes
//!   the 12-byte nonce from the KDF output; `chacha20-poly1305@openssh.com` is the construction of
//!   OpenSSH's `PROTOCOL.chacha20poly1305` with sequence number 0 and no length field: ChaCha20
//!   (64-bit nonce 0) with the first 32 bytes of the 64-byte key; block 0 gives the Poly1305 key,
//!   the data is encrypted from block 1 on, and the tag is Poly1305 over the ciphertext.
//! - [`CbcCipher`]: the CBC ciphers of legacy PEM (`DEK-Info`), PKCS#8 PBES2 and PuTTY PPK.

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{
    BlockCipher, BlockDecryptMut, BlockEncryptMut, KeyInit, KeyIvInit, StreamCipher,
};
use aes_gcm::aead::AeadInPlace;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::KeyError;

/// A cipher of an encrypted `openssh-key-v1` private key file.
///
/// OpenSSH's `ssh-keygen` writes [`KeyCipher::Aes256Ctr`] unless `-Z` names another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyCipher {
    /// `aes128-ctr`
    Aes128Ctr,
    /// `aes192-ctr`
    Aes192Ctr,
    /// `aes256-ctr` (OpenSSH's default)
    Aes256Ctr,
    /// `aes128-cbc`
    Aes128Cbc,
    /// `aes192-cbc`
    Aes192Cbc,
    /// `aes256-cbc`
    Aes256Cbc,
    /// `aes128-gcm@openssh.com`
    Aes128Gcm,
    /// `aes256-gcm@openssh.com`
    Aes256Gcm,
    /// `chacha20-poly1305@openssh.com`
    ChaCha20Poly1305,
}

/// AES-GCM and Poly1305 tag length.
const TAG_LEN: usize = 16;

fn bad_len() -> KeyError {
    KeyError::InvalidFormat("cipher key or IV of the wrong length")
}

impl KeyCipher {
    /// Every supported cipher.
    pub const ALL: &'static [KeyCipher] = &[
        KeyCipher::Aes128Ctr,
        KeyCipher::Aes192Ctr,
        KeyCipher::Aes256Ctr,
        KeyCipher::Aes128Cbc,
        KeyCipher::Aes192Cbc,
        KeyCipher::Aes256Cbc,
        KeyCipher::Aes128Gcm,
        KeyCipher::Aes256Gcm,
        KeyCipher::ChaCha20Poly1305,
    ];

    /// The cipher's name as written in the key file.
    pub fn name(self) -> &'static str {
        match self {
            KeyCipher::Aes128Ctr => "aes128-ctr",
            KeyCipher::Aes192Ctr => "aes192-ctr",
            KeyCipher::Aes256Ctr => "aes256-ctr",
            KeyCipher::Aes128Cbc => "aes128-cbc",
            KeyCipher::Aes192Cbc => "aes192-cbc",
            KeyCipher::Aes256Cbc => "aes256-cbc",
            KeyCipher::Aes128Gcm => "aes128-gcm@openssh.com",
            KeyCipher::Aes256Gcm => "aes256-gcm@openssh.com",
            KeyCipher::ChaCha20Poly1305 => "chacha20-poly1305@openssh.com",
        }
    }

    /// The cipher called `name`, if supported.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.name() == name)
    }

    /// Key length in bytes.
    pub(crate) fn key_len(self) -> usize {
        match self {
            KeyCipher::Aes128Ctr | KeyCipher::Aes128Cbc | KeyCipher::Aes128Gcm => 16,
            KeyCipher::Aes192Ctr | KeyCipher::Aes192Cbc => 24,
            KeyCipher::Aes256Ctr | KeyCipher::Aes256Cbc | KeyCipher::Aes256Gcm => 32,
            KeyCipher::ChaCha20Poly1305 => 64,
        }
    }

    /// IV (nonce) length in bytes, taken from the KDF output after the key.
    pub(crate) fn iv_len(self) -> usize {
        match self {
            KeyCipher::Aes128Gcm | KeyCipher::Aes256Gcm => 12,
            KeyCipher::ChaCha20Poly1305 => 0,
            _ => 16,
        }
    }

    /// The block size the private section is padded to.
    pub(crate) fn block_size(self) -> usize {
        match self {
            KeyCipher::ChaCha20Poly1305 => 8,
            _ => 16,
        }
    }

    /// Length of the authentication tag stored after the encrypted section.
    pub(crate) fn tag_len(self) -> usize {
        match self {
            KeyCipher::Aes128Gcm | KeyCipher::Aes256Gcm | KeyCipher::ChaCha20Poly1305 => TAG_LEN,
            _ => 0,
        }
    }

    /// Decrypts `data` in place; `tag` is checked first for the AEADs (a mismatch is
    /// [`KeyError::BadPassphrase`]). `data` must be a multiple of the block size.
    pub(crate) fn decrypt(
        self,
        key: &[u8],
        iv: &[u8],
        data: &mut [u8],
        tag: &[u8],
    ) -> Result<(), KeyError> {
        match self {
            KeyCipher::Aes128Ctr => ctr_apply::<aes::Aes128>(key, iv, data),
            KeyCipher::Aes192Ctr => ctr_apply::<aes::Aes192>(key, iv, data),
            KeyCipher::Aes256Ctr => ctr_apply::<aes::Aes256>(key, iv, data),
            KeyCipher::Aes128Cbc => CbcCipher::Aes128.decrypt(key, iv, data),
            KeyCipher::Aes192Cbc => CbcCipher::Aes192.decrypt(key, iv, data),
            KeyCipher::Aes256Cbc => CbcCipher::Aes256.decrypt(key, iv, data),
            KeyCipher::Aes128Gcm => gcm_open::<aes_gcm::Aes128Gcm>(key, iv, data, tag),
            KeyCipher::Aes256Gcm => gcm_open::<aes_gcm::Aes256Gcm>(key, iv, data, tag),
            KeyCipher::ChaCha20Poly1305 => chacha_open(key, data, tag),
        }
    }

    /// Encrypts `data` in place and returns the tag (empty for the non-AEAD ciphers). `data`
    /// must be a multiple of the block size.
    pub(crate) fn encrypt(
        self,
        key: &[u8],
        iv: &[u8],
        data: &mut [u8],
    ) -> Result<Vec<u8>, KeyError> {
        match self {
            KeyCipher::Aes128Ctr => ctr_apply::<aes::Aes128>(key, iv, data).map(|()| Vec::new()),
            KeyCipher::Aes192Ctr => ctr_apply::<aes::Aes192>(key, iv, data).map(|()| Vec::new()),
            KeyCipher::Aes256Ctr => ctr_apply::<aes::Aes256>(key, iv, data).map(|()| Vec::new()),
            KeyCipher::Aes128Cbc => CbcCipher::Aes128
                .encrypt(key, iv, data)
                .map(|()| Vec::new()),
            KeyCipher::Aes192Cbc => CbcCipher::Aes192
                .encrypt(key, iv, data)
                .map(|()| Vec::new()),
            KeyCipher::Aes256Cbc => CbcCipher::Aes256
                .encrypt(key, iv, data)
                .map(|()| Vec::new()),
            KeyCipher::Aes128Gcm => gcm_seal::<aes_gcm::Aes128Gcm>(key, iv, data),
            KeyCipher::Aes256Gcm => gcm_seal::<aes_gcm::Aes256Gcm>(key, iv, data),
            KeyCipher::ChaCha20Poly1305 => chacha_seal(key, data),
        }
    }
}

/// AES-CTR with a 128-bit big-endian counter (encryption and decryption are the same).
fn ctr_apply<C>(key: &[u8], iv: &[u8], data: &mut [u8]) -> Result<(), KeyError>
where
    C: BlockCipher
        + aes::cipher::BlockEncrypt
        + aes::cipher::BlockSizeUser<BlockSize = aes::cipher::consts::U16>
        + KeyInit,
{
    let mut c = ctr::Ctr128BE::<C>::new_from_slices(key, iv).map_err(|_| bad_len())?;
    c.apply_keystream(data);
    Ok(())
}

fn gcm_nonce(iv: &[u8]) -> Result<aes_gcm::Nonce<aes_gcm::aead::consts::U12>, KeyError> {
    let iv: [u8; 12] = iv.try_into().map_err(|_| bad_len())?;
    Ok(iv.into())
}

fn gcm_open<A>(key: &[u8], iv: &[u8], data: &mut [u8], tag: &[u8]) -> Result<(), KeyError>
where
    A: AeadInPlace
        + KeyInit
        + aes_gcm::aead::AeadCore<
            NonceSize = aes_gcm::aead::consts::U12,
            TagSize = aes_gcm::aead::consts::U16,
        >,
{
    let aead = A::new_from_slice(key).map_err(|_| bad_len())?;
    let tag: [u8; TAG_LEN] = tag
        .try_into()
        .map_err(|_| KeyError::InvalidFormat("missing authentication tag"))?;
    aead.decrypt_in_place_detached(&gcm_nonce(iv)?, &[], data, &tag.into())
        .map_err(|_| KeyError::BadPassphrase)
}

fn gcm_seal<A>(key: &[u8], iv: &[u8], data: &mut [u8]) -> Result<Vec<u8>, KeyError>
where
    A: AeadInPlace
        + KeyInit
        + aes_gcm::aead::AeadCore<
            NonceSize = aes_gcm::aead::consts::U12,
            TagSize = aes_gcm::aead::consts::U16,
        >,
{
    let aead = A::new_from_slice(key).map_err(|_| bad_len())?;
    let tag = aead
        .encrypt_in_place_detached(&gcm_nonce(iv)?, &[], data)
        .map_err(|_| KeyError::InvalidFormat("private section too long"))?;
    Ok(tag.to_vec())
}

/// The ChaCha20 instance of `chacha20-poly1305@openssh.com` for sequence number 0, and the
/// Poly1305 key taken from its block 0; the returned cipher is positioned at block 1.
fn chacha_init(key: &[u8]) -> Result<(chacha20::ChaCha20Legacy, Zeroizing<[u8; 32]>), KeyError> {
    let main_key = key
        .get(..32)
        .filter(|_| key.len() == 64)
        .ok_or_else(bad_len)?;
    use chacha20::cipher::KeyIvInit as _;
    let mut c =
        chacha20::ChaCha20Legacy::new_from_slices(main_key, &[0u8; 8]).map_err(|_| bad_len())?;
    let mut poly_key = Zeroizing::new([0u8; 32]);
    // Block 0: its first half is the Poly1305 key, the rest is skipped (the data starts at block 1).
    let mut block0 = Zeroizing::new([0u8; 64]);
    chacha20::cipher::StreamCipher::apply_keystream(&mut c, block0.as_mut_slice());
    if let Some(first) = block0.first_chunk::<32>() {
        *poly_key = *first;
    }
    Ok((c, poly_key))
}

fn poly1305_tag(poly_key: &[u8; 32], ciphertext: &[u8]) -> [u8; TAG_LEN] {
    use poly1305::universal_hash::KeyInit as _;
    poly1305::Poly1305::new(&(*poly_key).into())
        .compute_unpadded(ciphertext)
        .into()
}

fn chacha_open(key: &[u8], data: &mut [u8], tag: &[u8]) -> Result<(), KeyError> {
    let (mut c, poly_key) = chacha_init(key)?;
    let expected = poly1305_tag(&poly_key, data);
    if tag.len() != TAG_LEN || !bool::from(expected.as_slice().ct_eq(tag)) {
        return Err(KeyError::BadPassphrase);
    }
    chacha20::cipher::StreamCipher::apply_keystream(&mut c, data);
    Ok(())
}

fn chacha_seal(key: &[u8], data: &mut [u8]) -> Result<Vec<u8>, KeyError> {
    let (mut c, poly_key) = chacha_init(key)?;
    chacha20::cipher::StreamCipher::apply_keystream(&mut c, data);
    Ok(poly1305_tag(&poly_key, data).to_vec())
}

/// A block cipher in CBC mode, without padding (the callers check and strip their own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CbcCipher {
    Aes128,
    Aes192,
    Aes256,
    /// Triple DES (EDE, three keys): `DES-EDE3-CBC` of old OpenSSL PEM files.
    TdesEde3,
}

impl CbcCipher {
    pub(crate) fn key_len(self) -> usize {
        match self {
            CbcCipher::Aes128 => 16,
            CbcCipher::Aes192 | CbcCipher::TdesEde3 => 24,
            CbcCipher::Aes256 => 32,
        }
    }

    pub(crate) fn block_size(self) -> usize {
        match self {
            CbcCipher::TdesEde3 => 8,
            _ => 16,
        }
    }

    /// Decrypts `data` in place; it must be a non-empty multiple of the block size.
    pub(crate) fn decrypt(self, key: &[u8], iv: &[u8], data: &mut [u8]) -> Result<(), KeyError> {
        if data.is_empty() || data.len().checked_rem(self.block_size()) != Some(0) {
            return Err(KeyError::InvalidFormat(
                "encrypted data is not a multiple of the block size",
            ));
        }
        match self {
            CbcCipher::Aes128 => cbc_decrypt::<aes::Aes128>(key, iv, data),
            CbcCipher::Aes192 => cbc_decrypt::<aes::Aes192>(key, iv, data),
            CbcCipher::Aes256 => cbc_decrypt::<aes::Aes256>(key, iv, data),
            CbcCipher::TdesEde3 => cbc_decrypt::<des::TdesEde3>(key, iv, data),
        }
    }

    /// Encrypts `data` in place; it must be a multiple of the block size.
    pub(crate) fn encrypt(self, key: &[u8], iv: &[u8], data: &mut [u8]) -> Result<(), KeyError> {
        if data.len().checked_rem(self.block_size()) != Some(0) {
            return Err(KeyError::InvalidFormat(
                "data to encrypt is not a multiple of the block size",
            ));
        }
        let len = data.len();
        let result = match self {
            CbcCipher::Aes128 => cbc::Encryptor::<aes::Aes128>::new_from_slices(key, iv)
                .map_err(|_| bad_len())?
                .encrypt_padded_mut::<NoPadding>(data, len)
                .map(|_| ()),
            CbcCipher::Aes192 => cbc::Encryptor::<aes::Aes192>::new_from_slices(key, iv)
                .map_err(|_| bad_len())?
                .encrypt_padded_mut::<NoPadding>(data, len)
                .map(|_| ()),
            CbcCipher::Aes256 => cbc::Encryptor::<aes::Aes256>::new_from_slices(key, iv)
                .map_err(|_| bad_len())?
                .encrypt_padded_mut::<NoPadding>(data, len)
                .map(|_| ()),
            CbcCipher::TdesEde3 => cbc::Encryptor::<des::TdesEde3>::new_from_slices(key, iv)
                .map_err(|_| bad_len())?
                .encrypt_padded_mut::<NoPadding>(data, len)
                .map(|_| ()),
        };
        result.map_err(|_| KeyError::InvalidFormat("CBC encryption failed"))
    }
}

fn cbc_decrypt<C>(key: &[u8], iv: &[u8], data: &mut [u8]) -> Result<(), KeyError>
where
    C: BlockCipher + aes::cipher::BlockDecryptMut + KeyInit,
    cbc::Decryptor<C>: KeyIvInit + BlockDecryptMut,
{
    cbc::Decryptor::<C>::new_from_slices(key, iv)
        .map_err(|_| bad_len())?
        .decrypt_padded_mut::<NoPadding>(data)
        .map(|_| ())
        .map_err(|_| KeyError::InvalidFormat("CBC decryption failed"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn every_cipher_round_trips_and_aeads_reject_tampering() {
        for &c in KeyCipher::ALL {
            let key = vec![7u8; c.key_len()];
            let iv = vec![9u8; c.iv_len()];
            let plain: Vec<u8> = (0..(c.block_size() * 4) as u8).collect();
            let mut data = plain.clone();
            let tag = c.encrypt(&key, &iv, &mut data).unwrap();
            assert_eq!(tag.len(), c.tag_len(), "{c:?}");
            assert_ne!(data, plain, "{c:?}");
            let mut back = data.clone();
            c.decrypt(&key, &iv, &mut back, &tag).unwrap();
            assert_eq!(back, plain, "{c:?}");
            if c.tag_len() > 0 {
                let mut flipped = data.clone();
                flipped[3] ^= 1;
                assert_eq!(
                    c.decrypt(&key, &iv, &mut flipped, &tag),
                    Err(KeyError::BadPassphrase)
                );
                let mut short = data.clone();
                assert!(c.decrypt(&key, &iv, &mut short, &tag[..8]).is_err());
            }
            assert_eq!(KeyCipher::from_name(c.name()), Some(c));
        }
    }

    #[test]
    fn cbc_rejects_partial_blocks() {
        let mut data = [0u8; 15];
        assert!(CbcCipher::Aes128
            .decrypt(&[0; 16], &[0; 16], &mut data)
            .is_err());
        assert!(CbcCipher::Aes128
            .decrypt(&[0; 16], &[0; 16], &mut [])
            .is_err());
    }
}
