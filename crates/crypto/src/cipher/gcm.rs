//! `aes128-gcm@openssh.com` / `aes256-gcm@openssh.com` (RFC 5647).
//!
//! The 12-byte nonce is the IV from key derivation: a 4-byte fixed field and an 8-byte
//! invocation counter that is incremented after every packet (RFC 5647 §7.1). The 4-byte
//! packet length is sent in the clear as associated data (§7.3); the 16-byte tag follows.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_256_GCM};

use super::{CipherAlg, LENGTH_LEN};
use crate::error::CryptoError;

/// GCM tag length (RFC 5647 §7.3).
pub(crate) const TAG_LEN: usize = 16;

pub(crate) struct GcmKey {
    alg: CipherAlg,
    key: LessSafeKey,
    fixed: [u8; 4],
    invocation_counter: u64,
}

impl GcmKey {
    pub(crate) fn new(alg: CipherAlg, key: &[u8], iv: &[u8]) -> Result<Self, CryptoError> {
        let ring_alg = match alg {
            CipherAlg::Aes128Gcm => &AES_128_GCM,
            CipherAlg::Aes256Gcm => &AES_256_GCM,
            _ => return Err(CryptoError::Unsupported("not a GCM cipher")),
        };
        let bad_iv = CryptoError::InvalidLength {
            what: "iv",
            len: iv.len(),
        };
        let (fixed, counter) = iv.split_first_chunk::<4>().ok_or(bad_iv.clone())?;
        let counter: [u8; 8] = counter.try_into().map_err(|_| bad_iv)?;
        let unbound = UnboundKey::new(ring_alg, key).map_err(|_| CryptoError::InvalidLength {
            what: "encryption key",
            len: key.len(),
        })?;
        Ok(Self {
            alg,
            key: LessSafeKey::new(unbound),
            fixed: *fixed,
            invocation_counter: u64::from_be_bytes(counter),
        })
    }

    pub(crate) fn alg(&self) -> CipherAlg {
        self.alg
    }

    /// The nonce for this packet; advances the invocation counter (RFC 5647 §7.1).
    fn next_nonce(&mut self) -> Nonce {
        let mut n = [0u8; 12];
        let (fixed, counter) = n.split_at_mut(4);
        fixed.copy_from_slice(&self.fixed);
        counter.copy_from_slice(&self.invocation_counter.to_be_bytes());
        self.invocation_counter = self.invocation_counter.wrapping_add(1);
        Nonce::assume_unique_for_key(n)
    }

    pub(crate) fn open(&mut self, body: &mut [u8], tag: &[u8]) -> Result<(), CryptoError> {
        let nonce = self.next_nonce();
        let tag: [u8; TAG_LEN] = tag.try_into().map_err(|_| CryptoError::MacMismatch)?;
        let (len, rest) = split_length(body)?;
        self.key
            .open_in_place_separate_tag(nonce, Aad::from(*len), tag.into(), rest, 0..)
            .map_err(|_| CryptoError::MacMismatch)?;
        Ok(())
    }

    pub(crate) fn seal(&mut self, body: &mut [u8], tag_out: &mut [u8]) -> Result<(), CryptoError> {
        if tag_out.len() != TAG_LEN {
            return Err(CryptoError::InvalidLength {
                what: "tag space",
                len: tag_out.len(),
            });
        }
        let nonce = self.next_nonce();
        let (len, rest) = split_length(body)?;
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce, Aad::from(*len), rest)
            .map_err(|_| CryptoError::InvalidLength {
                what: "packet",
                len: rest.len(),
            })?;
        tag_out.copy_from_slice(tag.as_ref());
        Ok(())
    }
}

fn split_length(body: &mut [u8]) -> Result<(&mut [u8; LENGTH_LEN], &mut [u8]), CryptoError> {
    let n = body.len();
    body.split_first_chunk_mut::<LENGTH_LEN>()
        .ok_or(CryptoError::InvalidLength {
            what: "packet",
            len: n,
        })
}
