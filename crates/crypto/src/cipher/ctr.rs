//! `aes128-ctr`, `aes192-ctr`, `aes256-ctr` (RFC 4344 §4) with an HMAC (plain or ETM).
//!
//! The counter is the 16-byte IV from key derivation, taken as a big-endian integer and
//! incremented per block; the keystream continues from packet to packet (RFC 4344 §4).

use ::ctr::cipher::{KeyIvInit as _, StreamCipher as _};
use ::ctr::Ctr128BE;

use super::mac::{MacAlg, MacKey};
use super::{CipherAlg, LENGTH_LEN};
use crate::error::CryptoError;

/// AES block size.
const BLOCK: usize = 16;

enum Stream {
    Aes128(Ctr128BE<aes::Aes128>),
    Aes192(Ctr128BE<aes::Aes192>),
    Aes256(Ctr128BE<aes::Aes256>),
}

impl Stream {
    fn apply(&mut self, buf: &mut [u8]) {
        match self {
            Stream::Aes128(c) => c.apply_keystream(buf),
            Stream::Aes192(c) => c.apply_keystream(buf),
            Stream::Aes256(c) => c.apply_keystream(buf),
        }
    }
}

pub(crate) struct CtrKey {
    alg: CipherAlg,
    stream: Stream,
    mac: MacKey,
}

impl CtrKey {
    pub(crate) fn new(
        alg: CipherAlg,
        key: &[u8],
        iv: &[u8],
        mac: MacKey,
    ) -> Result<Self, CryptoError> {
        let bad = CryptoError::InvalidLength {
            what: "encryption key or iv",
            len: key.len(),
        };
        let stream = match alg {
            CipherAlg::Aes128Ctr => {
                Stream::Aes128(Ctr128BE::new_from_slices(key, iv).map_err(|_| bad)?)
            }
            CipherAlg::Aes192Ctr => {
                Stream::Aes192(Ctr128BE::new_from_slices(key, iv).map_err(|_| bad)?)
            }
            CipherAlg::Aes256Ctr => {
                Stream::Aes256(Ctr128BE::new_from_slices(key, iv).map_err(|_| bad)?)
            }
            _ => return Err(CryptoError::Unsupported("not a CTR cipher")),
        };
        Ok(Self { alg, stream, mac })
    }

    pub(crate) fn alg(&self) -> CipherAlg {
        self.alg
    }

    pub(crate) fn mac_alg(&self) -> MacAlg {
        self.mac.alg()
    }

    fn etm(&self) -> bool {
        self.mac.alg().is_etm()
    }

    /// ETM: the length is in the clear. Plain MAC: decrypt the first block in place.
    pub(crate) fn decrypt_length(&mut self, prefix: &mut [u8]) -> Result<u32, CryptoError> {
        if !self.etm() {
            let n = prefix.len();
            let first = prefix.get_mut(..BLOCK).ok_or(CryptoError::InvalidLength {
                what: "packet length prefix",
                len: n,
            })?;
            self.stream.apply(first);
        }
        super::read_length(prefix)
    }

    pub(crate) fn open(
        &mut self,
        seq: u32,
        body: &mut [u8],
        tag: &[u8],
    ) -> Result<(), CryptoError> {
        if self.etm() {
            self.mac.verify(seq, body, tag)?;
            let rest = body.get_mut(LENGTH_LEN..).ok_or(short(0))?;
            self.stream.apply(rest);
            Ok(())
        } else {
            // The first block was decrypted by `decrypt_length`.
            let n = body.len();
            let rest = body.get_mut(BLOCK..).ok_or(short(n))?;
            self.stream.apply(rest);
            self.mac.verify(seq, body, tag)
        }
    }

    pub(crate) fn seal(
        &mut self,
        seq: u32,
        body: &mut [u8],
        tag: &mut [u8],
    ) -> Result<(), CryptoError> {
        if self.etm() {
            let n = body.len();
            let rest = body.get_mut(LENGTH_LEN..).ok_or(short(n))?;
            self.stream.apply(rest);
            self.mac.sign_into(seq, body, tag)
        } else {
            self.mac.sign_into(seq, body, tag)?;
            self.stream.apply(body);
            Ok(())
        }
    }
}

fn short(len: usize) -> CryptoError {
    CryptoError::InvalidLength {
        what: "packet",
        len,
    }
}
