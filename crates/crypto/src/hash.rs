//! Hash functions used for the exchange hash and key derivation (RFC 4253 §7.2, §8;
//! RFC 5656 §6.2.1; RFC 8731 §3).

/// A hash algorithm named by a key exchange method.
///
/// ```
/// use nacre_crypto::HashAlg;
///
/// let digest = HashAlg::Sha256.digest(b"abc");
/// assert_eq!(
///     hex::encode(&digest),
///     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
/// );
///
/// // The incremental hasher gives the same result in pieces.
/// let mut h = HashAlg::Sha256.hasher();
/// h.update(b"a");
/// h.update(b"bc");
/// assert_eq!(h.finish(), digest);
/// assert_eq!(HashAlg::Sha512.output_len(), 64);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlg {
    /// SHA-1 (legacy kex methods such as `diffie-hellman-group14-sha1`).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlg {
    fn ring_alg(self) -> &'static ring::digest::Algorithm {
        match self {
            HashAlg::Sha1 => &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
            HashAlg::Sha256 => &ring::digest::SHA256,
            HashAlg::Sha384 => &ring::digest::SHA384,
            HashAlg::Sha512 => &ring::digest::SHA512,
        }
    }

    /// Output length in bytes.
    pub fn output_len(self) -> usize {
        self.ring_alg().output_len()
    }

    /// A fresh incremental hasher.
    pub fn hasher(self) -> Hasher {
        Hasher(ring::digest::Context::new(self.ring_alg()))
    }

    /// One-shot digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        ring::digest::digest(self.ring_alg(), data)
            .as_ref()
            .to_vec()
    }
}

/// An incremental hash computation.
#[derive(Clone)]
pub struct Hasher(ring::digest::Context);

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Hasher").field(self.0.algorithm()).finish()
    }
}

impl Hasher {
    /// Feeds `data`.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> Vec<u8> {
        self.0.finish().as_ref().to_vec()
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

    #[test]
    fn known_answers_abc() {
        // FIPS 180-2 appendix examples for "abc".
        let cases = [
            (HashAlg::Sha1, "a9993e364706816aba3e25717850c26c9cd0d89d"),
            (
                HashAlg::Sha256,
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (
                HashAlg::Sha384,
                "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed\
                 8086072ba1e7cc2358baeca134c825a7",
            ),
            (
                HashAlg::Sha512,
                "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
                 2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
            ),
        ];
        for (alg, want) in cases {
            assert_eq!(hex::encode(alg.digest(b"abc")), want, "{alg:?}");
            let mut h = alg.hasher();
            h.update(b"a");
            h.update(b"bc");
            let out = h.finish();
            assert_eq!(hex::encode(&out), want);
            assert_eq!(out.len(), alg.output_len());
        }
    }
}
