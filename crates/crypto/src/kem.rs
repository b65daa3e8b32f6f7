//! Post-quantum / classical hybrid key exchange: `mlkem768x25519-sha256`,
//! `mlkem768nistp256-sha256` and `mlkem1024nistp384-sha384` (draft-ietf-sshm-mlkem-hybrid-kex),
//! and `sntrup761x25519-sha512` (draft-josefsson-ntruprime-ssh, OpenSSH's
//! `sntrup761x25519-sha512@openssh.com`).
//!
//! All have the same shape, one round of a KEM plus ECDH:
//!
//! ```text
//! client  C_INIT  = KEM public key || ECDH public key (Q_C of ECDH_INIT)
//! server  S_REPLY = KEM ciphertext || ECDH public key (Q_S of ECDH_REPLY)
//! K = HASH(K_PQ || K_CL)     K_PQ the KEM's 32-byte shared key, K_CL the raw ECDH output
//! ```
//!
//! The ECDH public keys are 32 bytes for X25519 and SEC1 uncompressed points (`04 || X || Y`)
//! on NIST P-256 and P-384; K_CL is the raw X25519 output or the X coordinate of the shared
//! point (field size, leading zeros kept; draft-ietf-sshm-mlkem-hybrid-kex §2.2–2.4).
//! K is then hashed into H and into the key derivation as a `string`, not an `mpint`.
//!
//! The KEMs come from RustCrypto's `ml-kem` (FIPS 203) and the `sntrup761` crate (Streamlined NTRU
//! Prime 761, as in supercop/PQClean and OpenSSH). Their key generation and encapsulation are fed
//! from seeds drawn from the caller's [`Rng`], so a [`SeededRng`](crate::SeededRng) makes a whole
//! exchange deterministic.

use ml_kem::{Decapsulate as _, KeyExport as _};
use zeroize::{Zeroize as _, Zeroizing};

use crate::ecdh::{EcdhCurve, EcdhPrivateKey, SharedSecret};
use crate::error::CryptoError;
use crate::hash::HashAlg;
use crate::rng::Rng;

/// ML-KEM encapsulation with the given parameter set's module: `(ciphertext, K_PQ)`, or
/// `InvalidPublicKey` for a key of the wrong length or failing the modulus check.
macro_rules! mlkem_encapsulate {
    ($set:ident, $public:expr, $m:expr) => {{
        let key = ml_kem::array::Array::try_from($public)
            .map_err(|_| CryptoError::InvalidPublicKey("ML-KEM key of the wrong length"))?;
        let ek = ml_kem::$set::EncapsulationKey::new(&key)
            .map_err(|_| CryptoError::InvalidPublicKey("ML-KEM key fails the modulus check"))?;
        let mut m = ml_kem::B32::from($m);
        let (ct, mut k) = ek.encapsulate_deterministic(&m);
        m.zeroize();
        let shared = Zeroizing::new(k.to_vec());
        k.zeroize();
        (ct.to_vec(), shared)
    }};
}

/// ML-KEM decapsulation with the given key: K_PQ (implicit rejection gives a pseudorandom one).
macro_rules! mlkem_decapsulate {
    ($dk:expr, $ciphertext:expr) => {{
        let mut k = $dk
            .decapsulate_slice($ciphertext)
            .map_err(|_| CryptoError::InvalidPublicKey("ML-KEM ciphertext of the wrong length"))?;
        let shared = Zeroizing::new(k.to_vec());
        k.zeroize();
        shared
    }};
}

/// A hybrid KEM + ECDH key exchange.
///
/// The client sends `C_INIT`, the server answers `S_REPLY`, and both end with the same K:
///
/// ```
/// use nacre_crypto::{HybridKem, SeededRng};
///
/// let kem = HybridKem::MlKem768X25519;
/// let mut rng = SeededRng::new(3);
/// let (client_key, c_init) = kem.generate(&mut rng);
/// assert_eq!(c_init.len(), kem.init_len()); // 1184 + 32
///
/// let (s_reply, k_server) = kem.respond(&c_init, &mut rng)?;
/// assert_eq!(s_reply.len(), kem.reply_len()); // 1088 + 32
///
/// let k_client = client_key.finish(&s_reply)?;
/// assert_eq!(k_client.as_bytes(), k_server.as_bytes());
/// assert_eq!(k_client.as_bytes().len(), 32); // SHA-256(K_PQ || K_CL)
///
/// // ML-KEM-1024 with ECDH on P-384: a 1568-byte key and a 97-byte point; K = SHA-384(..).
/// let kem = HybridKem::MlKem1024NistP384;
/// let (client_key, c_init) = kem.generate(&mut rng);
/// assert_eq!(c_init.len(), 1568 + 97);
/// let (s_reply, k_server) = kem.respond(&c_init, &mut rng)?;
/// assert_eq!(client_key.finish(&s_reply)?.as_bytes(), k_server.as_bytes());
/// assert_eq!(k_server.as_bytes().len(), 48);
/// # Ok::<(), nacre_crypto::CryptoError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HybridKem {
    /// ML-KEM-768 (FIPS 203) with X25519, K = SHA-256(K_PQ || K_CL).
    MlKem768X25519,
    /// ML-KEM-768 with ECDH on NIST P-256, K = SHA-256(K_PQ || K_CL).
    MlKem768NistP256,
    /// ML-KEM-1024 with ECDH on NIST P-384, K = SHA-384(K_PQ || K_CL).
    MlKem1024NistP384,
    /// Streamlined NTRU Prime 761 with X25519, K = SHA-512(K_PQ || K_CL).
    Sntrup761X25519,
}

impl HybridKem {
    /// The hash that combines the two shared secrets (and that the kex method uses for H).
    pub fn hash(self) -> HashAlg {
        match self {
            HybridKem::MlKem768X25519 | HybridKem::MlKem768NistP256 => HashAlg::Sha256,
            HybridKem::MlKem1024NistP384 => HashAlg::Sha384,
            HybridKem::Sntrup761X25519 => HashAlg::Sha512,
        }
    }

    /// The classical half's curve.
    pub fn curve(self) -> EcdhCurve {
        match self {
            HybridKem::MlKem768X25519 | HybridKem::Sntrup761X25519 => EcdhCurve::X25519,
            HybridKem::MlKem768NistP256 => EcdhCurve::NistP256,
            HybridKem::MlKem1024NistP384 => EcdhCurve::NistP384,
        }
    }

    /// Length of the KEM public (encapsulation) key: 1184 for ML-KEM-768, 1568 for
    /// ML-KEM-1024, 1158 for sntrup761.
    pub fn kem_public_len(self) -> usize {
        match self {
            HybridKem::MlKem768X25519 | HybridKem::MlKem768NistP256 => 1184,
            HybridKem::MlKem1024NistP384 => 1568,
            HybridKem::Sntrup761X25519 => sntrup761::PUBLIC_KEY_SIZE,
        }
    }

    /// Length of the KEM ciphertext: 1088 for ML-KEM-768, 1568 for ML-KEM-1024, 1039 for
    /// sntrup761.
    pub fn kem_ciphertext_len(self) -> usize {
        match self {
            HybridKem::MlKem768X25519 | HybridKem::MlKem768NistP256 => 1088,
            HybridKem::MlKem1024NistP384 => 1568,
            HybridKem::Sntrup761X25519 => sntrup761::CIPHERTEXT_SIZE,
        }
    }

    /// Length of the client's `C_INIT` (KEM public key || ECDH public key).
    pub fn init_len(self) -> usize {
        self.kem_public_len() + self.curve().public_len()
    }

    /// Length of the server's `S_REPLY` (KEM ciphertext || ECDH public key).
    pub fn reply_len(self) -> usize {
        self.kem_ciphertext_len() + self.curve().public_len()
    }

    /// Client: a fresh key pair; returns the private part and `C_INIT` to send.
    pub fn generate(self, rng: &mut dyn Rng) -> (HybridPrivateKey, Vec<u8>) {
        let secret = match self {
            HybridKem::Sntrup761X25519 => {
                let mut seed = Zeroizing::new([0u8; 32]);
                rng.fill(seed.as_mut_slice());
                let (public, private) = sntrup761::generate_key_from_seed(*seed);
                KemSecret::Sntrup(Box::new((public, private)))
            }
            _ => {
                let mut seed = Zeroizing::new([0u8; 64]);
                rng.fill(seed.as_mut_slice());
                mlkem_from_seed(self, seed.as_slice())
            }
        };
        let ecdh = EcdhPrivateKey::generate(self.curve(), rng);
        let key = HybridPrivateKey {
            kem: self,
            secret,
            ecdh,
        };
        let init = key.init();
        (key, init)
    }

    /// Server: answers the client's `C_INIT` with fresh randomness; returns `S_REPLY` and K (the
    /// raw hash output, to be encoded as a `string`).
    ///
    /// # Errors
    /// [`CryptoError::InvalidPublicKey`] for a `C_INIT` of the wrong length, an ML-KEM key that
    /// fails the FIPS 203 §7.2 modulus check or a NIST point not on the curve,
    /// [`CryptoError::ZeroSharedSecret`] for a low-order X25519 key.
    pub fn respond(
        self,
        init: &[u8],
        rng: &mut dyn Rng,
    ) -> Result<(Vec<u8>, SharedSecret), CryptoError> {
        let mut kem_random = Zeroizing::new([0u8; 32]);
        rng.fill(kem_random.as_mut_slice());
        let ecdh = EcdhPrivateKey::generate(self.curve(), rng);
        self.respond_with(init, kem_random.as_slice(), &ecdh)
    }

    /// Server side with given randomness, for known-answer tests: `kem_random` is ML-KEM's 32-byte
    /// message `m` (FIPS 203 `ML-KEM.Encaps_internal`) or the 32-byte seed of sntrup761's
    /// encapsulation (the crate's ChaCha20 stream); `ecdh` the server's ephemeral key.
    ///
    /// # Errors
    /// As [`respond`](Self::respond), [`CryptoError::InvalidLength`] for a `kem_random` that is
    /// not 32 bytes and [`CryptoError::Unsupported`] for an `ecdh` key on another curve.
    pub fn respond_with(
        self,
        init: &[u8],
        kem_random: &[u8],
        ecdh: &EcdhPrivateKey,
    ) -> Result<(Vec<u8>, SharedSecret), CryptoError> {
        if init.len() != self.init_len() {
            return Err(CryptoError::InvalidPublicKey(
                "hybrid kex init of the wrong length",
            ));
        }
        if ecdh.curve() != self.curve() {
            return Err(CryptoError::Unsupported(
                "hybrid kex ECDH key on another curve",
            ));
        }
        let m: [u8; 32] = kem_random
            .try_into()
            .map_err(|_| CryptoError::InvalidLength {
                what: "hybrid kex randomness",
                len: kem_random.len(),
            })?;
        let m = Zeroizing::new(m);
        let (kem_public, client_ecdh) = init.split_at(self.kem_public_len());
        let (mut ciphertext, kem_shared) = match self {
            HybridKem::MlKem768X25519 | HybridKem::MlKem768NistP256 => {
                mlkem_encapsulate!(ml_kem_768, kem_public, *m)
            }
            HybridKem::MlKem1024NistP384 => mlkem_encapsulate!(ml_kem_1024, kem_public, *m),
            HybridKem::Sntrup761X25519 => {
                let ek = sntrup761::EncapsulationKey::try_from(kem_public).map_err(|_| {
                    CryptoError::InvalidPublicKey("sntrup761 key of the wrong length")
                })?;
                let (ct, k) = ek.encapsulate_deterministic(*m);
                (ct.as_ref().to_vec(), Zeroizing::new(k.as_ref().to_vec()))
            }
        };
        let classical = ecdh.agree(client_ecdh)?;
        ciphertext.extend_from_slice(&ecdh.public_key());
        Ok((ciphertext, self.combine(&kem_shared, &classical)))
    }

    /// K = HASH(K_PQ || K_CL).
    fn combine(self, kem_shared: &[u8], classical: &SharedSecret) -> SharedSecret {
        let mut both = Zeroizing::new(Vec::with_capacity(
            kem_shared.len() + classical.as_bytes().len(),
        ));
        both.extend_from_slice(kem_shared);
        both.extend_from_slice(classical.as_bytes());
        SharedSecret::from_bytes(self.hash().digest(&both))
    }
}

/// The ML-KEM decapsulation key of `kem`'s parameter set from its 64-byte seed `d || z`.
fn mlkem_from_seed(kem: HybridKem, seed: &[u8]) -> KemSecret {
    let mut array = ml_kem::Seed::default();
    for (d, s) in array.iter_mut().zip(seed) {
        *d = *s;
    }
    let secret = match kem {
        HybridKem::MlKem1024NistP384 => KemSecret::MlKem1024(Box::new(
            ml_kem::ml_kem_1024::DecapsulationKey::from_seed(array),
        )),
        _ => KemSecret::MlKem768(Box::new(ml_kem::ml_kem_768::DecapsulationKey::from_seed(
            array,
        ))),
    };
    array.zeroize();
    secret
}

enum KemSecret {
    MlKem768(Box<ml_kem::ml_kem_768::DecapsulationKey>),
    MlKem1024(Box<ml_kem::ml_kem_1024::DecapsulationKey>),
    Sntrup(Box<(sntrup761::EncapsulationKey, sntrup761::DecapsulationKey)>),
}

/// The client's ephemeral hybrid private key: the KEM decapsulation key and an ECDH key. Both
/// are zeroized on drop.
pub struct HybridPrivateKey {
    kem: HybridKem,
    secret: KemSecret,
    ecdh: EcdhPrivateKey,
}

impl std::fmt::Debug for HybridPrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("HybridPrivateKey").field(&self.kem).finish()
    }
}

impl HybridPrivateKey {
    /// A key from known parts, for known-answer tests. ML-KEM takes its 64-byte seed `d || z`
    /// (FIPS 203 `ML-KEM.KeyGen_internal(d, z)`); sntrup761 takes the 1763-byte secret key of
    /// the reference implementation (`f || 1/g || pk || rho || Hash4(pk)`). `ecdh` is the raw
    /// 32-byte X25519 private key or the NIST scalar (big-endian, field size).
    ///
    /// # Errors
    /// [`CryptoError::InvalidLength`] for parts of the wrong size.
    pub fn from_parts(kem: HybridKem, kem_secret: &[u8], ecdh: &[u8]) -> Result<Self, CryptoError> {
        let bad = CryptoError::InvalidLength {
            what: "hybrid kex private key",
            len: kem_secret.len(),
        };
        let secret = match kem {
            HybridKem::Sntrup761X25519 => {
                let private = sntrup761::DecapsulationKey::try_from(kem_secret).map_err(|_| bad)?;
                let public = sntrup761::EncapsulationKey::from(&private);
                KemSecret::Sntrup(Box::new((public, private)))
            }
            _ if kem_secret.len() != 64 => return Err(bad),
            _ => mlkem_from_seed(kem, kem_secret),
        };
        let ecdh = EcdhPrivateKey::from_bytes(kem.curve(), ecdh)?;
        Ok(Self { kem, secret, ecdh })
    }

    /// The method this key belongs to.
    pub fn kem(&self) -> HybridKem {
        self.kem
    }

    /// `C_INIT`: the KEM public key followed by the ECDH public key.
    pub fn init(&self) -> Vec<u8> {
        let mut out = match &self.secret {
            KemSecret::MlKem768(dk) => dk.encapsulation_key().to_bytes().to_vec(),
            KemSecret::MlKem1024(dk) => dk.encapsulation_key().to_bytes().to_vec(),
            KemSecret::Sntrup(pair) => pair.0.as_ref().to_vec(),
        };
        out.extend_from_slice(&self.ecdh.public_key());
        out
    }

    /// The ECDH part of the key (X25519 or a NIST curve; for session key logs).
    pub fn ecdh(&self) -> &EcdhPrivateKey {
        &self.ecdh
    }

    /// Client: K from the server's `S_REPLY`.
    ///
    /// A KEM ciphertext that does not decapsulate gives a pseudorandom K (implicit rejection,
    /// both KEMs); the exchange then fails on the host key signature.
    ///
    /// # Errors
    /// [`CryptoError::InvalidPublicKey`] for an `S_REPLY` of the wrong length or a NIST point
    /// not on the curve, [`CryptoError::ZeroSharedSecret`] for a low-order X25519 key.
    pub fn finish(&self, reply: &[u8]) -> Result<SharedSecret, CryptoError> {
        let kem = self.kem;
        if reply.len() != kem.reply_len() {
            return Err(CryptoError::InvalidPublicKey(
                "hybrid kex reply of the wrong length",
            ));
        }
        let (ciphertext, server_ecdh) = reply.split_at(kem.kem_ciphertext_len());
        let kem_shared = match &self.secret {
            KemSecret::MlKem768(dk) => mlkem_decapsulate!(dk, ciphertext),
            KemSecret::MlKem1024(dk) => mlkem_decapsulate!(dk, ciphertext),
            KemSecret::Sntrup(pair) => {
                let ct = sntrup761::Ciphertext::try_from(ciphertext).map_err(|_| {
                    CryptoError::InvalidPublicKey("sntrup761 ciphertext of the wrong length")
                })?;
                Zeroizing::new(pair.1.decapsulate(&ct).as_ref().to_vec())
            }
        };
        let classical = self.ecdh.agree(server_ecdh)?;
        Ok(kem.combine(&kem_shared, &classical))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::rng::SeededRng;

    const ALL: [HybridKem; 4] = [
        HybridKem::MlKem768X25519,
        HybridKem::MlKem768NistP256,
        HybridKem::MlKem1024NistP384,
        HybridKem::Sntrup761X25519,
    ];

    #[test]
    fn both_sides_agree_and_sizes_are_the_specified_ones() {
        for (i, kem) in ALL.into_iter().enumerate() {
            let mut rng = SeededRng::new(i as u64);
            let (private, init) = kem.generate(&mut rng);
            assert_eq!(init.len(), kem.init_len());
            assert_eq!(private.kem(), kem);
            let (reply, k_server) = kem.respond(&init, &mut rng).unwrap();
            assert_eq!(reply.len(), kem.reply_len());
            let k_client = private.finish(&reply).unwrap();
            assert_eq!(k_client, k_server);
            assert_eq!(k_client.as_bytes().len(), kem.hash().output_len());
        }
        assert_eq!(HybridKem::MlKem768X25519.init_len(), 1216);
        assert_eq!(HybridKem::MlKem768X25519.reply_len(), 1120);
        assert_eq!(HybridKem::Sntrup761X25519.init_len(), 1190);
        assert_eq!(HybridKem::Sntrup761X25519.reply_len(), 1071);
        assert_eq!(HybridKem::MlKem768NistP256.init_len(), 1184 + 65);
        assert_eq!(HybridKem::MlKem768NistP256.reply_len(), 1088 + 65);
        assert_eq!(HybridKem::MlKem1024NistP384.init_len(), 1568 + 97);
        assert_eq!(HybridKem::MlKem1024NistP384.reply_len(), 1568 + 97);
    }

    #[test]
    fn seeded_exchanges_are_deterministic() {
        for kem in ALL {
            let run = || {
                let mut rng = SeededRng::new(7);
                let (_, init) = kem.generate(&mut rng);
                let (reply, k) = kem.respond(&init, &mut rng).unwrap();
                (init, reply, k)
            };
            assert_eq!(run(), run());
        }
    }

    #[test]
    fn wrong_lengths_are_refused() {
        for kem in ALL {
            let mut rng = SeededRng::new(1);
            let (private, init) = kem.generate(&mut rng);
            for len in [0, init.len() - 1, init.len() + 1] {
                let mut bad = init.clone();
                bad.resize(len, 0);
                assert!(matches!(
                    kem.respond(&bad, &mut rng),
                    Err(CryptoError::InvalidPublicKey(_))
                ));
            }
            let (reply, _) = kem.respond(&init, &mut rng).unwrap();
            for len in [0, reply.len() - 1, reply.len() + 1] {
                let mut bad = reply.clone();
                bad.resize(len, 0);
                assert!(matches!(
                    private.finish(&bad),
                    Err(CryptoError::InvalidPublicKey(_))
                ));
            }
        }
    }

    #[test]
    fn all_zero_x25519_and_points_off_the_curve_are_refused_both_ways() {
        for kem in ALL {
            let mut rng = SeededRng::new(2);
            let (private, mut init) = kem.generate(&mut rng);
            let (mut reply, _) = kem.respond(&init, &mut rng).unwrap();
            let len = kem.curve().public_len();
            let expected = if kem.curve() == EcdhCurve::X25519 {
                CryptoError::ZeroSharedSecret
            } else {
                CryptoError::InvalidPublicKey("point not on the curve")
            };
            let n = init.len();
            init[n - len..].fill(0);
            init[n - len] = if len == 32 { 0 } else { 4 };
            let err = kem.respond(&init, &mut rng).unwrap_err();
            assert_eq!(
                std::mem::discriminant(&err),
                std::mem::discriminant(&expected),
                "{kem:?}: {err:?}"
            );
            let n = reply.len();
            reply[n - len..].fill(0);
            reply[n - len] = if len == 32 { 0 } else { 4 };
            let err = private.finish(&reply).unwrap_err();
            assert_eq!(
                std::mem::discriminant(&err),
                std::mem::discriminant(&expected),
                "{kem:?}: {err:?}"
            );
        }
    }

    #[test]
    fn an_mlkem_key_failing_the_modulus_check_is_refused() {
        let mut rng = SeededRng::new(3);
        let (_, mut init) = HybridKem::MlKem768X25519.generate(&mut rng);
        // The first 12-bit coefficient set to 4095 >= q = 3329.
        init[0] = 0xff;
        init[1] |= 0x0f;
        assert!(matches!(
            HybridKem::MlKem768X25519.respond(&init, &mut rng),
            Err(CryptoError::InvalidPublicKey(_))
        ));
    }

    #[test]
    fn a_tampered_ciphertext_gives_another_secret() {
        for kem in ALL {
            let mut rng = SeededRng::new(4);
            let (private, init) = kem.generate(&mut rng);
            let (mut reply, k) = kem.respond(&init, &mut rng).unwrap();
            reply[5] ^= 1;
            assert_ne!(private.finish(&reply).unwrap(), k);
        }
    }

    #[test]
    fn from_parts_rebuilds_the_same_key() {
        let mut rng = SeededRng::new(5);
        let mut seed = [0u8; 64];
        rng.fill(&mut seed);
        let x = [9u8; 32];
        let a = HybridPrivateKey::from_parts(HybridKem::MlKem768X25519, &seed, &x).unwrap();
        let b = HybridPrivateKey::from_parts(HybridKem::MlKem768X25519, &seed, &x).unwrap();
        assert_eq!(a.init(), b.init());
        assert!(HybridPrivateKey::from_parts(HybridKem::MlKem768X25519, &seed[..63], &x).is_err());
        assert!(HybridPrivateKey::from_parts(HybridKem::Sntrup761X25519, &seed, &x).is_err());
        let p384 = HybridPrivateKey::from_parts(HybridKem::MlKem1024NistP384, &seed, &[9u8; 48]);
        assert_eq!(p384.unwrap().init().len(), 1568 + 97);
        assert!(HybridPrivateKey::from_parts(HybridKem::MlKem1024NistP384, &seed, &x).is_err());
    }
}
