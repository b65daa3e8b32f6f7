//! RSA key generation (Ed25519 and ECDSA generation live with the key type in `private.rs`).

use num_bigint::BigUint;
use rsa::traits::{PrivateKeyParts as _, PublicKeyParts as _};
use zeroize::Zeroizing;

use crate::{KeyError, PrivateKey, RSA_MAX_BITS};

/// The smallest RSA modulus [`PrivateKey::generate_rsa`] makes (keys down to
/// [`RSA_MIN_BITS`](crate::RSA_MIN_BITS) are still read).
pub const RSA_GENERATE_MIN_BITS: usize = 2048;

impl PrivateKey {
    /// Generates an RSA key with a `bits`-bit modulus (2048..=16384) and public exponent 65537,
    /// with the `rsa` crate. Large sizes are slow (seconds for 4096 bits, much more beyond).
    pub fn generate_rsa(
        bits: usize,
        rng: &mut impl rand_core::CryptoRngCore,
    ) -> Result<Self, KeyError> {
        if bits < RSA_GENERATE_MIN_BITS {
            return Err(KeyError::Generation(
                "RSA keys must have at least 2048 bits",
            ));
        }
        if bits > RSA_MAX_BITS {
            return Err(KeyError::Generation(
                "RSA keys must have at most 16384 bits",
            ));
        }
        let key = rsa::RsaPrivateKey::new(rng, bits)
            .map_err(|_| KeyError::Generation("RSA key generation failed"))?;
        let [p, q] = key.primes() else {
            return Err(KeyError::Generation("RSA key with other than two primes"));
        };
        let secret = |v: &rsa::BigUint| Zeroizing::new(v.to_bytes_be());
        let (n, e) = (key.n().to_bytes_be(), key.e().to_bytes_be());
        let (d, pb, qb) = (secret(key.d()), secret(p), secret(q));
        // iqmp = q⁻¹ mod p, as OpenSSH stores it.
        let iqmp = BigUint::from_bytes_be(&qb)
            .modinv(&BigUint::from_bytes_be(&pb))
            .ok_or(KeyError::Generation("RSA primes are not coprime"))?;
        let iqmp = Zeroizing::new(iqmp.to_bytes_be());
        PrivateKey::from_rsa_components(&n, &e, &d, &iqmp, &pb, &qb)
    }
}
