//! Message authentication codes (RFC 4253 §6.4, RFC 6668, OpenSSH `PROTOCOL` §1.5 for ETM).
//!
//! ```text
//! plain: mac = MAC(key, uint32 sequence_number || unencrypted_packet)
//! etm:   mac = MAC(key, uint32 sequence_number || packet_length || encrypted_packet)
//! ```
//!
//! Tags are compared in constant time.

use subtle::ConstantTimeEq as _;

use crate::error::CryptoError;

/// A negotiated MAC algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MacAlg {
    /// `hmac-sha2-256` (RFC 6668 §2).
    HmacSha256,
    /// `hmac-sha2-512` (RFC 6668 §2).
    HmacSha512,
    /// `hmac-sha2-256-etm@openssh.com`.
    HmacSha256Etm,
    /// `hmac-sha2-512-etm@openssh.com`.
    HmacSha512Etm,
    /// `hmac-sha1` (RFC 4253 §6.4), legacy.
    HmacSha1,
    /// `hmac-sha1-etm@openssh.com`, legacy.
    HmacSha1Etm,
}

impl MacAlg {
    /// Every supported MAC, in OpenSSH's default preference order (ETM first).
    pub const ALL: &'static [MacAlg] = &[
        MacAlg::HmacSha256Etm,
        MacAlg::HmacSha512Etm,
        MacAlg::HmacSha1Etm,
        MacAlg::HmacSha256,
        MacAlg::HmacSha512,
        MacAlg::HmacSha1,
    ];

    /// The algorithm name used in KEXINIT.
    pub fn name(self) -> &'static str {
        match self {
            MacAlg::HmacSha256 => "hmac-sha2-256",
            MacAlg::HmacSha512 => "hmac-sha2-512",
            MacAlg::HmacSha256Etm => "hmac-sha2-256-etm@openssh.com",
            MacAlg::HmacSha512Etm => "hmac-sha2-512-etm@openssh.com",
            MacAlg::HmacSha1 => "hmac-sha1",
            MacAlg::HmacSha1Etm => "hmac-sha1-etm@openssh.com",
        }
    }

    /// The MAC called `name` in KEXINIT, if supported.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|m| m.name() == name)
    }

    /// Key length in bytes (the hash output length, RFC 4253 §6.4, RFC 6668 §2).
    pub fn key_len(self) -> usize {
        match self {
            MacAlg::HmacSha256 | MacAlg::HmacSha256Etm => 32,
            MacAlg::HmacSha512 | MacAlg::HmacSha512Etm => 64,
            MacAlg::HmacSha1 | MacAlg::HmacSha1Etm => 20,
        }
    }

    /// Tag length in bytes (untruncated).
    pub fn tag_len(self) -> usize {
        self.key_len()
    }

    /// True for encrypt-then-MAC: the length is sent in the clear and the MAC covers the
    /// ciphertext.
    pub fn is_etm(self) -> bool {
        matches!(
            self,
            MacAlg::HmacSha256Etm | MacAlg::HmacSha512Etm | MacAlg::HmacSha1Etm
        )
    }

    /// True for the SHA-1 MACs, kept only for old peers.
    pub fn is_legacy(self) -> bool {
        matches!(self, MacAlg::HmacSha1 | MacAlg::HmacSha1Etm)
    }

    fn ring_alg(self) -> ring::hmac::Algorithm {
        match self {
            MacAlg::HmacSha256 | MacAlg::HmacSha256Etm => ring::hmac::HMAC_SHA256,
            MacAlg::HmacSha512 | MacAlg::HmacSha512Etm => ring::hmac::HMAC_SHA512,
            MacAlg::HmacSha1 | MacAlg::HmacSha1Etm => ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        }
    }
}

/// An HMAC key bound to its algorithm.
pub(crate) struct MacKey {
    alg: MacAlg,
    key: ring::hmac::Key,
}

impl MacKey {
    pub(crate) fn new(alg: MacAlg, key: &[u8]) -> Self {
        Self {
            alg,
            key: ring::hmac::Key::new(alg.ring_alg(), key),
        }
    }

    pub(crate) fn alg(&self) -> MacAlg {
        self.alg
    }

    /// MAC(key, uint32 seq || data).
    pub(crate) fn compute(&self, seq: u32, data: &[u8]) -> ring::hmac::Tag {
        let mut ctx = ring::hmac::Context::with_key(&self.key);
        ctx.update(&seq.to_be_bytes());
        ctx.update(data);
        ctx.sign()
    }

    /// Writes MAC(key, uint32 seq || data) into `out`, which must be `tag_len()` bytes.
    pub(crate) fn sign_into(
        &self,
        seq: u32,
        data: &[u8],
        out: &mut [u8],
    ) -> Result<(), CryptoError> {
        let tag = self.compute(seq, data);
        if out.len() != tag.as_ref().len() {
            return Err(CryptoError::InvalidLength {
                what: "mac space",
                len: out.len(),
            });
        }
        out.copy_from_slice(tag.as_ref());
        Ok(())
    }

    /// Checks `tag` against MAC(key, uint32 seq || data) in constant time.
    pub(crate) fn verify(&self, seq: u32, data: &[u8], tag: &[u8]) -> Result<(), CryptoError> {
        let want = self.compute(seq, data);
        if bool::from(want.as_ref().ct_eq(tag)) {
            Ok(())
        } else {
            Err(CryptoError::MacMismatch)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]
    use super::*;

    /// Splits `data` into a leading u32 "sequence number" and the rest, so a known answer over
    /// arbitrary data can go through `MAC(key, uint32 seq || data)`.
    fn split(data: &[u8]) -> (u32, &[u8]) {
        let (seq, rest) = data.split_at(4);
        (u32::from_be_bytes(seq.try_into().unwrap()), rest)
    }

    #[test]
    fn rfc4231_hmac_sha2() {
        // RFC 4231 §4.3, test case 2: key "Jefe", data "what do ya want for nothing?".
        let (seq, rest) = split(b"what do ya want for nothing?");
        for (alg, want) in [
            (
                MacAlg::HmacSha256,
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                MacAlg::HmacSha512Etm,
                "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554\
                 9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
            ),
        ] {
            let key = MacKey::new(alg, b"Jefe");
            assert_eq!(hex::encode(key.compute(seq, rest).as_ref()), want);
            let tag = hex::decode(want).unwrap();
            key.verify(seq, rest, &tag).unwrap();
            let mut bad = tag.clone();
            bad[tag.len() - 1] ^= 1;
            assert_eq!(key.verify(seq, rest, &bad), Err(CryptoError::MacMismatch));
            assert_eq!(
                key.verify(seq, rest, &tag[1..]),
                Err(CryptoError::MacMismatch)
            );
            assert_eq!(
                key.verify(seq ^ 1, rest, &tag),
                Err(CryptoError::MacMismatch)
            );
        }
    }

    #[test]
    fn rfc2202_hmac_sha1() {
        // RFC 2202 §3, test case 2.
        let (seq, rest) = split(b"what do ya want for nothing?");
        let key = MacKey::new(MacAlg::HmacSha1, b"Jefe");
        assert_eq!(
            hex::encode(key.compute(seq, rest).as_ref()),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
    }
}
