//! `chacha20-poly1305@openssh.com` (OpenSSH `PROTOCOL.chacha20poly1305`).
//!
//! The 64-byte key is K_2 || K_1: K_1 encrypts the 4-byte length with a ChaCha20 stream
//! whose nonce is the sequence number, K_2 encrypts the rest from block counter 1, and Poly1305,
//! keyed from K_2's block 0, authenticates `encrypted length || ciphertext`.
//!
//! The construct is assembled here from RustCrypto's `chacha20` (its original 64-bit-nonce,
//! 64-bit-counter variant, `ChaCha20Legacy`) and `poly1305`, rather than taken from ring's
//! `chacha20_poly1305_openssh`: ring computes Poly1305 with portable C on x86_64, which bounds
//! the whole cipher to about 0.8 GB/s, where `poly1305`'s AVX2 code and `chacha20`'s AVX-512 code
//! (enabled by `--cfg chacha20_avx512` in `.cargo/config.toml`, detected at run time) give about
//! 1.3 GB/s on the same machine (docs/PERFORMANCE.md). Both crates pick their SIMD backend at run
//! time and fall back to portable code; both are constant-time.

use chacha20::cipher::{KeyIvInit as _, StreamCipher as _};
use chacha20::ChaCha20Legacy;
use poly1305::universal_hash::KeyInit as _;
use poly1305::Poly1305;
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use super::LENGTH_LEN;
use crate::error::CryptoError;

/// Poly1305 tag length.
pub(crate) const TAG_LEN: usize = 16;
/// Length of the whole key (K_2 || K_1).
const KEY_LEN: usize = 64;
/// Length of one ChaCha20 key.
const HALF_LEN: usize = 32;
/// One ChaCha20 block: block 0 of K_2's stream is the Poly1305 key source.
const BLOCK_LEN: usize = 64;

pub(crate) struct ChachaKey {
    /// K_2: payload stream and Poly1305 key.
    main: Zeroizing<[u8; HALF_LEN]>,
    /// K_1: the packet length field.
    header: Zeroizing<[u8; HALF_LEN]>,
}

impl ChachaKey {
    pub(crate) fn new(key: &[u8]) -> Result<Self, CryptoError> {
        let bad = || CryptoError::InvalidLength {
            what: "chacha20-poly1305 key",
            len: key.len(),
        };
        let material: &[u8; KEY_LEN] = key.try_into().map_err(|_| bad())?;
        let (main, header) = material.split_at(HALF_LEN);
        Ok(Self {
            main: Zeroizing::new(main.try_into().map_err(|_| bad())?),
            header: Zeroizing::new(header.try_into().map_err(|_| bad())?),
        })
    }

    /// Encrypts or decrypts the 4-byte length field with K_1 (the same XOR both ways).
    fn crypt_length(&self, seq: u32, field: &mut [u8; LENGTH_LEN]) {
        let mut c = ChaCha20Legacy::new(&(*self.header).into(), &nonce(seq).into());
        c.apply_keystream(field);
    }

    pub(crate) fn decrypt_length(&self, seq: u32, prefix: &[u8]) -> Result<u32, CryptoError> {
        let mut field = *prefix
            .first_chunk::<LENGTH_LEN>()
            .ok_or(CryptoError::InvalidLength {
                what: "packet length field",
                len: prefix.len(),
            })?;
        self.crypt_length(seq, &mut field);
        Ok(u32::from_be_bytes(field))
    }

    /// Checks the tag over `encrypted length || ciphertext` first, then decrypts both in place.
    pub(crate) fn open(&self, seq: u32, body: &mut [u8], tag: &[u8]) -> Result<(), CryptoError> {
        let mut stream = main_stream(&self.main, seq);
        if !verify(&stream.poly_key, body, tag) {
            return Err(CryptoError::MacMismatch);
        }
        let (length, rest) = body
            .split_first_chunk_mut::<LENGTH_LEN>()
            .ok_or(CryptoError::MacMismatch)?;
        self.crypt_length(seq, length);
        stream.cipher.apply_keystream(rest);
        Ok(())
    }

    /// Encrypts `length || rest` in place and writes the tag over the ciphertext.
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
        let body_len = body.len();
        let (length, rest) =
            body.split_first_chunk_mut::<LENGTH_LEN>()
                .ok_or(CryptoError::InvalidLength {
                    what: "packet",
                    len: body_len,
                })?;
        self.crypt_length(seq, length);
        let mut stream = main_stream(&self.main, seq);
        stream.cipher.apply_keystream(rest);
        *tag = poly1305_tag(&stream.poly_key, body);
        Ok(())
    }
}

/// K_2's stream for one packet: the cipher positioned at block 1 and the Poly1305 key taken from
/// the first half of block 0.
struct MainStream {
    cipher: ChaCha20Legacy,
    poly_key: Zeroizing<[u8; HALF_LEN]>,
}

/// The ChaCha20 nonce of `chacha20-poly1305@openssh.com`: the sequence number as a big-endian
/// uint64.
fn nonce(seq: u32) -> [u8; 8] {
    u64::from(seq).to_be_bytes()
}

/// K_2's ChaCha20 stream for packet `seq`.
fn main_stream(k_main: &[u8; HALF_LEN], seq: u32) -> MainStream {
    let mut cipher = ChaCha20Legacy::new(&(*k_main).into(), &nonce(seq).into());
    let mut block0 = Zeroizing::new([0u8; BLOCK_LEN]);
    cipher.apply_keystream(block0.as_mut_slice());
    let mut poly_key = Zeroizing::new([0u8; HALF_LEN]);
    if let Some(first) = block0.first_chunk::<HALF_LEN>() {
        *poly_key = *first;
    }
    MainStream { cipher, poly_key }
}

/// Poly1305 of `data` under a one-time key.
fn poly1305_tag(poly_key: &[u8; HALF_LEN], data: &[u8]) -> [u8; TAG_LEN] {
    Poly1305::new(&(*poly_key).into())
        .compute_unpadded(data)
        .into()
}

/// Whether `tag` is Poly1305 of `data` under `poly_key`, compared in constant time.
fn verify(poly_key: &[u8; HALF_LEN], data: &[u8], tag: &[u8]) -> bool {
    let expected = poly1305_tag(poly_key, data);
    tag.len() == TAG_LEN && bool::from(expected.as_slice().ct_eq(tag))
}
