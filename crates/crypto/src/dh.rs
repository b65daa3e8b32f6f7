//! Finite-field Diffie-Hellman (RFC 4253 §8, RFC 8268, RFC 4419) over the MODP groups of
//! RFC 3526 or groups from a moduli file.
//!
//! **Not constant time.** Exponentiation uses `num-bigint`, whose running time depends on the
//! secret exponent. Keep these methods off a server's default list unless configured.
//!
//! **Zeroization is partial.** The secret exponent is stored as zeroized bytes, but every use
//! rebuilds a temporary `BigUint` from it, and `num-bigint` does not zeroize its limbs (nor
//! the intermediates of `modpow`) when they are freed.

use num_bigint::BigUint;
use num_traits::One as _;
use zeroize::Zeroizing;

use crate::ecdh::SharedSecret;
use crate::error::CryptoError;
use crate::modp;
use crate::rng::Rng;

/// Smallest modulus accepted from a peer or a moduli file (RFC 8270 raises RFC 4419's floor).
pub const MIN_GROUP_BITS: usize = 1024;
/// Largest modulus accepted (RFC 4419 §3).
pub const MAX_GROUP_BITS: usize = 8192;
/// Smallest secret exponent [`DhPrivateKey::generate`] uses (OpenSSH `dh_gen_key`).
pub const MIN_EXPONENT_BITS: usize = 256;

/// A Diffie-Hellman group: safe prime `p` and generator `g`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DhGroup {
    /// The prime modulus.
    pub p: BigUint,
    /// The generator.
    pub g: BigUint,
}

impl DhGroup {
    fn modp(hex: &str) -> Self {
        // The constants are checked by the tests; parsing cannot fail.
        Self {
            p: BigUint::parse_bytes(hex.as_bytes(), 16).unwrap_or_default(),
            g: BigUint::from(2u32),
        }
    }

    /// RFC 3526 §3, 2048-bit MODP group 14 (`diffie-hellman-group14-sha256`, RFC 8268).
    pub fn group14() -> Self {
        Self::modp(modp::GROUP14_P)
    }

    /// RFC 3526 §4, 3072-bit MODP group 15.
    pub fn group15() -> Self {
        Self::modp(modp::GROUP15_P)
    }

    /// RFC 3526 §5, 4096-bit MODP group 16 (`diffie-hellman-group16-sha512`, RFC 8268).
    pub fn group16() -> Self {
        Self::modp(modp::GROUP16_P)
    }

    /// RFC 3526 §6, 6144-bit MODP group 17.
    pub fn group17() -> Self {
        Self::modp(modp::GROUP17_P)
    }

    /// RFC 3526 §7, 8192-bit MODP group 18 (`diffie-hellman-group18-sha512`, RFC 8268).
    pub fn group18() -> Self {
        Self::modp(modp::GROUP18_P)
    }

    /// A group received from a peer (`SSH_MSG_KEX_DH_GEX_GROUP`, RFC 4419 §3), from `mpint`
    /// magnitudes in big-endian order (leading zero bytes allowed).
    ///
    /// # Errors
    /// [`CryptoError::InvalidGroup`] unless `p` is odd with
    /// [`MIN_GROUP_BITS`]`..=`[`MAX_GROUP_BITS`] bits and `2 <= g <= p - 2`. Primality is not
    /// tested.
    pub fn from_be_bytes(p: &[u8], g: &[u8]) -> Result<Self, CryptoError> {
        let p = BigUint::from_bytes_be(p);
        let g = BigUint::from_bytes_be(g);
        let bits = usize::try_from(p.bits()).unwrap_or(usize::MAX);
        if !(MIN_GROUP_BITS..=MAX_GROUP_BITS).contains(&bits) {
            return Err(CryptoError::InvalidGroup("modulus size out of range"));
        }
        if !p.bit(0) {
            return Err(CryptoError::InvalidGroup("modulus is even"));
        }
        let two = BigUint::from(2u32);
        if g < two || g > &p - &two {
            return Err(CryptoError::InvalidGroup("generator out of range"));
        }
        Ok(Self { p, g })
    }

    /// Size of `p` in bits.
    pub fn bits(&self) -> usize {
        usize::try_from(self.p.bits()).unwrap_or(usize::MAX)
    }
}

/// Checks a peer's public value `e` or `f`: it must lie in `[2, p-2]` (RFC 4253 §8, RFC 8268 §4).
///
/// # Errors
/// [`CryptoError::InvalidPublicKey`].
pub fn check_dh_public(group: &DhGroup, value: &BigUint) -> Result<(), CryptoError> {
    let two = BigUint::from(2u32);
    if *value < two {
        return Err(CryptoError::InvalidPublicKey("DH value below 2"));
    }
    if group.p < two || *value > &group.p - &two {
        return Err(CryptoError::InvalidPublicKey("DH value above p - 2"));
    }
    Ok(())
}

/// An ephemeral DH secret exponent `x` with its group. See the module docs for the limits of
/// its zeroization and for timing.
///
/// ```
/// use nacre_crypto::{check_dh_public, BigUint, DhGroup, DhPrivateKey, SeededRng};
///
/// let group = DhGroup::group14(); // diffie-hellman-group14-sha256
/// assert_eq!(group.bits(), 2048);
/// let mut rng = SeededRng::new(5);
/// let client = DhPrivateKey::generate(&group, &mut rng, 512);
/// let server = DhPrivateKey::generate(&group, &mut rng, 512);
///
/// let k_client = client.agree(&server.public_key())?; // f from KEXDH_REPLY
/// let k_server = server.agree(&client.public_key())?; // e from KEXDH_INIT
/// assert_eq!(k_client.as_bytes(), k_server.as_bytes());
///
/// // Degenerate peer values (1, p-1, ...) are refused.
/// assert!(check_dh_public(&group, &BigUint::from(1u32)).is_err());
/// # Ok::<(), nacre_crypto::CryptoError>(())
/// ```
pub struct DhPrivateKey {
    group: DhGroup,
    x: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for DhPrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DhPrivateKey")
            .field("group_bits", &self.group.bits())
            .finish_non_exhaustive()
    }
}

impl DhPrivateKey {
    /// A random short exponent as OpenSSH uses: `x` uniform in `[2, 2^exponent_bits)`.
    ///
    /// `exponent_bits` is clamped to `[MIN_EXPONENT_BITS, p.bits() - 1]`; OpenSSH asks for twice
    /// the bits of the largest key to be derived (`dh_gen_key`).
    pub fn generate(group: &DhGroup, rng: &mut dyn Rng, exponent_bits: usize) -> Self {
        let bits = exponent_bits
            .min(group.bits().saturating_sub(1))
            .max(MIN_EXPONENT_BITS);
        let nbytes = bits.div_ceil(8);
        let mut x = Zeroizing::new(vec![0u8; nbytes]);
        rng.fill(&mut x);
        let extra = nbytes * 8 - bits;
        if let Some(top) = x.first_mut() {
            *top &= 0xff >> extra;
        }
        // x < 2 happens with probability 2^-255; map it to 2 or 3 rather than loop.
        let small = x.iter().rev().skip(1).all(|&b| b == 0) && x.last().is_some_and(|&b| b < 2);
        if small {
            if let Some(last) = x.last_mut() {
                *last += 2;
            }
        }
        Self::from_exponent(group, &x)
    }

    /// A key with a known exponent, for known-answer tests.
    pub fn from_exponent(group: &DhGroup, x_be: &[u8]) -> Self {
        Self {
            group: group.clone(),
            x: Zeroizing::new(x_be.to_vec()),
        }
    }

    fn exponent(&self) -> BigUint {
        BigUint::from_bytes_be(&self.x)
    }

    /// The group of this key.
    pub fn group(&self) -> &DhGroup {
        &self.group
    }

    /// The public value `g^x mod p` (`e` for a client, `f` for a server).
    pub fn public_key(&self) -> BigUint {
        self.group.g.modpow(&self.exponent(), &self.group.p)
    }

    /// The shared secret `K = peer^x mod p`, after checking the peer's value
    /// ([`check_dh_public`]).
    ///
    /// # Errors
    /// [`CryptoError::InvalidPublicKey`] for a peer value outside `[2, p-2]` or a degenerate
    /// result.
    pub fn agree(&self, peer: &BigUint) -> Result<SharedSecret, CryptoError> {
        check_dh_public(&self.group, peer)?;
        let k = peer.modpow(&self.exponent(), &self.group.p);
        if k <= BigUint::one() {
            return Err(CryptoError::InvalidPublicKey("degenerate shared secret"));
        }
        Ok(SharedSecret::from_bytes(k.to_bytes_be()))
    }
}
