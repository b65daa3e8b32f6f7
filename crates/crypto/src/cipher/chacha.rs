//! `chacha20-poly1305@openssh.com` (OpenSSH `PROTOCOL.chacha20poly1305`).
//!
//! The 64-byte key is K_2 || K_1: K_1 encrypts the 4-byte length with a ChaCha20 stream
//! whose nonce is the sequence number, K_2 encrypts the rest from block counter 1, and Poly1305,
//! keyed from K_2's block 0, authenticates `encrypted length || ciphertext`. ring's
//! `chacha20_poly1305_openssh` is exactly this construct.

use ring::aead::chacha20_poly1305_openssh::{OpeningKey, SealingKey, KEY_LEN};

use super::LENGTH_LEN;
use crate::error::CryptoError;

/// Poly1305 tag length.
pub(crate) const TAG_LEN: usize = ring::aead::chacha20_poly1305_openssh::TAG_LEN;

pub(crate) struct ChachaKey {
    sealing: SealingKey,
    opening: OpeningKey,
}

impl ChachaKey {
    pub(crate) fn new(key: &[u8]) -> Result<Self, CryptoError> {
        let material: &[u8; KEY_LEN] = key.try_into().map_err(|_| CryptoError::InvalidLength {
            what: "chacha20-poly1305 key",
            len: key.len(),
        })?;
        Ok(Self {
            sealing: SealingKey::new(material),
            opening: OpeningKey::new(material),
        })
    }

    fn length_field(&self, seq: u32, buf: &[u8]) -> Result<[u8; LENGTH_LEN], CryptoError> {
        let enc = buf
            .first_chunk::<LENGTH_LEN>()
            .ok_or(CryptoError::InvalidLength {
                what: "packet length field",
                len: buf.len(),
            })?;
        Ok(self.opening.decrypt_packet_length(seq, *enc))
    }

    pub(crate) fn decrypt_length(&self, seq: u32, prefix: &[u8]) -> Result<u32, CryptoError> {
        self.length_field(seq, prefix).map(u32::from_be_bytes)
    }

    pub(crate) fn open(&self, seq: u32, body: &mut [u8], tag: &[u8]) -> Result<(), CryptoError> {
        let tag: &[u8; TAG_LEN] = tag.try_into().map_err(|_| CryptoError::MacMismatch)?;
        let clear_len = self.length_field(seq, body)?;
        self.opening
            .open_in_place(seq, body, tag)
            .map_err(|_| CryptoError::MacMismatch)?;
        // ring leaves the length field encrypted; hand back plaintext throughout.
        if let Some(len) = body.first_chunk_mut::<LENGTH_LEN>() {
            *len = clear_len;
        }
        Ok(())
    }

    pub(crate) fn seal(
        &self,
        seq: u32,
        body: &mut [u8],
        tag: &mut [u8],
    ) -> Result<(), CryptoError> {
        let tag_len = tag.len();
        let tag: &mut [u8; TAG_LEN] = tag.try_into().map_err(|_| CryptoError::InvalidLength {
            what: "tag space",
            len: tag_len,
        })?;
        if body.len() < LENGTH_LEN {
            return Err(CryptoError::InvalidLength {
                what: "packet",
                len: body.len(),
            });
        }
        self.sealing.seal_in_place(seq, body, tag);
        Ok(())
    }
}
