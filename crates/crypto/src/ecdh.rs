//! Elliptic-curve Diffie-Hellman: `curve25519-sha256` (RFC 8731) and `ecdh-sha2-nistp*`
//! (RFC 5656 §4).

use elliptic_curve::sec1::{FromEncodedPoint, ModulusSize, ToEncodedPoint};
use elliptic_curve::{AffinePoint, CurveArithmetic, FieldBytesSize, PublicKey, SecretKey};
use zeroize::Zeroizing;

use crate::error::CryptoError;
use crate::rng::{Rng, RngAdapter};

/// An ECDH curve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EcdhCurve {
    /// Curve25519 in Montgomery form (RFC 7748), for `curve25519-sha256`.
    X25519,
    /// NIST P-256, for `ecdh-sha2-nistp256`.
    NistP256,
    /// NIST P-384, for `ecdh-sha2-nistp384`.
    NistP384,
    /// NIST P-521, for `ecdh-sha2-nistp521`.
    NistP521,
}

impl EcdhCurve {
    /// Length in bytes of a field element (and of a private scalar).
    pub fn field_len(self) -> usize {
        match self {
            EcdhCurve::X25519 | EcdhCurve::NistP256 => 32,
            EcdhCurve::NistP384 => 48,
            EcdhCurve::NistP521 => 66,
        }
    }

    /// Length in bytes of a public key on the wire: 32 for X25519, `1 + 2 * field_len` for
    /// the SEC1 uncompressed NIST points.
    pub fn public_len(self) -> usize {
        match self {
            EcdhCurve::X25519 => 32,
            _ => 1 + 2 * self.field_len(),
        }
    }
}

enum Secret {
    X25519(x25519_dalek::StaticSecret),
    P256(p256::SecretKey),
    P384(p384::SecretKey),
    P521(p521::SecretKey),
}

/// An ephemeral ECDH private key. The secret is zeroized on drop.
///
/// Both sides of a `curve25519-sha256` exchange (RFC 8731):
///
/// ```
/// use nacre_crypto::{EcdhCurve, EcdhPrivateKey, SeededRng};
///
/// let mut rng = SeededRng::new(1);
/// let client = EcdhPrivateKey::generate(EcdhCurve::X25519, &mut rng);
/// let server = EcdhPrivateKey::generate(EcdhCurve::X25519, &mut rng);
/// let q_c = client.public_key();
/// assert_eq!(q_c.len(), EcdhCurve::X25519.public_len());
///
/// let k_server = server.agree(&q_c)?;
/// let k_client = client.agree(&server.public_key())?;
/// assert_eq!(k_client.as_bytes(), k_server.as_bytes());
///
/// // A low-order point (all zeros) is refused.
/// assert!(client.agree(&[0u8; 32]).is_err());
/// # Ok::<(), nacre_crypto::CryptoError>(())
/// ```
pub struct EcdhPrivateKey(Secret);

impl std::fmt::Debug for EcdhPrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("EcdhPrivateKey")
            .field(&self.curve())
            .finish()
    }
}

impl EcdhPrivateKey {
    /// A fresh random key.
    pub fn generate(curve: EcdhCurve, rng: &mut dyn Rng) -> Self {
        let mut rng = RngAdapter(rng);
        Self(match curve {
            EcdhCurve::X25519 => {
                Secret::X25519(x25519_dalek::StaticSecret::random_from_rng(&mut rng))
            }
            EcdhCurve::NistP256 => Secret::P256(p256::SecretKey::random(&mut rng)),
            EcdhCurve::NistP384 => Secret::P384(p384::SecretKey::random(&mut rng)),
            EcdhCurve::NistP521 => Secret::P521(p521::SecretKey::random(&mut rng)),
        })
    }

    /// A key from known bytes, for known-answer tests: X25519 takes the 32 raw bytes
    /// (RFC 7748 §5, clamped when used); NIST curves take the big-endian scalar of exactly the
    /// field size, which must be in `[1, n-1]`.
    ///
    /// # Errors
    /// [`CryptoError::InvalidLength`] or, for an out-of-range scalar,
    /// [`CryptoError::InvalidPublicKey`].
    pub fn from_bytes(curve: EcdhCurve, secret: &[u8]) -> Result<Self, CryptoError> {
        if secret.len() != curve.field_len() {
            return Err(CryptoError::InvalidLength {
                what: "ecdh private key",
                len: secret.len(),
            });
        }
        let bad = |_| CryptoError::InvalidPublicKey("private scalar out of range");
        Ok(Self(match curve {
            EcdhCurve::X25519 => {
                let mut raw = Zeroizing::new([0u8; 32]);
                raw.copy_from_slice(secret);
                Secret::X25519(x25519_dalek::StaticSecret::from(*raw))
            }
            EcdhCurve::NistP256 => Secret::P256(p256::SecretKey::from_slice(secret).map_err(bad)?),
            EcdhCurve::NistP384 => Secret::P384(p384::SecretKey::from_slice(secret).map_err(bad)?),
            EcdhCurve::NistP521 => Secret::P521(p521::SecretKey::from_slice(secret).map_err(bad)?),
        }))
    }

    /// The curve of this key.
    pub fn curve(&self) -> EcdhCurve {
        match self.0 {
            Secret::X25519(_) => EcdhCurve::X25519,
            Secret::P256(_) => EcdhCurve::NistP256,
            Secret::P384(_) => EcdhCurve::NistP384,
            Secret::P521(_) => EcdhCurve::NistP521,
        }
    }

    /// The private scalar, for session key logs that Wireshark reads (`SSHKEYLOGFILE`): the 32
    /// raw bytes for X25519, the big-endian scalar for the NIST curves. Handle with care.
    pub fn secret_bytes(&self) -> zeroize::Zeroizing<Vec<u8>> {
        zeroize::Zeroizing::new(match &self.0 {
            Secret::X25519(s) => s.to_bytes().to_vec(),
            Secret::P256(s) => s.to_bytes().to_vec(),
            Secret::P384(s) => s.to_bytes().to_vec(),
            Secret::P521(s) => s.to_bytes().to_vec(),
        })
    }

    /// The public key as sent in `Q_C`/`Q_S`: X25519 32 bytes (RFC 8731 §3), NIST SEC1
    /// uncompressed `0x04 || X || Y` (RFC 5656 §4).
    pub fn public_key(&self) -> Vec<u8> {
        match &self.0 {
            Secret::X25519(s) => x25519_dalek::PublicKey::from(s).as_bytes().to_vec(),
            Secret::P256(s) => nist_public(s),
            Secret::P384(s) => nist_public(s),
            Secret::P521(s) => nist_public(s),
        }
    }

    /// Computes the shared secret with the peer's public key.
    ///
    /// X25519: the peer key must be 32 bytes, and an all-zero result (a low-order peer point)
    /// is refused (RFC 8731 §3, RFC 7748 §6.1). NIST: the peer key must be an uncompressed
    /// point on the curve, not the identity (RFC 5656 §4, SEC1 §3.2.2.1).
    ///
    /// # Errors
    /// [`CryptoError::InvalidPublicKey`], [`CryptoError::ZeroSharedSecret`].
    pub fn agree(&self, peer_public: &[u8]) -> Result<SharedSecret, CryptoError> {
        let curve = self.curve();
        if peer_public.len() != curve.public_len() {
            return Err(CryptoError::InvalidPublicKey("wrong length"));
        }
        match &self.0 {
            Secret::X25519(s) => {
                let peer: [u8; 32] = peer_public
                    .try_into()
                    .map_err(|_| CryptoError::InvalidPublicKey("wrong length"))?;
                let shared = s.diffie_hellman(&x25519_dalek::PublicKey::from(peer));
                if !shared.was_contributory() {
                    return Err(CryptoError::ZeroSharedSecret);
                }
                Ok(SharedSecret::from_bytes(shared.as_bytes().to_vec()))
            }
            Secret::P256(s) => nist_agree(s, peer_public),
            Secret::P384(s) => nist_agree(s, peer_public),
            Secret::P521(s) => nist_agree(s, peer_public),
        }
    }
}

fn nist_public<C>(secret: &SecretKey<C>) -> Vec<u8>
where
    C: CurveArithmetic,
    AffinePoint<C>: FromEncodedPoint<C> + ToEncodedPoint<C>,
    FieldBytesSize<C>: ModulusSize,
{
    secret
        .public_key()
        .to_encoded_point(false)
        .as_bytes()
        .to_vec()
}

fn nist_agree<C>(secret: &SecretKey<C>, peer: &[u8]) -> Result<SharedSecret, CryptoError>
where
    C: CurveArithmetic,
    AffinePoint<C>: FromEncodedPoint<C> + ToEncodedPoint<C>,
    FieldBytesSize<C>: ModulusSize,
{
    if peer.first() != Some(&0x04) {
        return Err(CryptoError::InvalidPublicKey("not an uncompressed point"));
    }
    // from_sec1_bytes checks that the point is on the curve and refuses the identity.
    let peer = PublicKey::<C>::from_sec1_bytes(peer)
        .map_err(|_| CryptoError::InvalidPublicKey("point not on the curve"))?;
    let shared = elliptic_curve::ecdh::diffie_hellman(secret.to_nonzero_scalar(), peer.as_affine());
    Ok(SharedSecret::from_bytes(shared.raw_secret_bytes().to_vec()))
}

/// A shared secret K as a big-endian unsigned integer: the 32 X25519 output bytes taken as
/// network-order integer (RFC 8731 §3.1), the x-coordinate for NIST curves (RFC 5656 §4), or K
/// of finite-field DH. Zeroized on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct SharedSecret(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedSecret(..)")
    }
}

impl SharedSecret {
    /// The big-endian bytes (leading zero bytes kept as produced).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Wraps bytes already computed elsewhere.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// K encoded as an `mpint` with its `uint32` length (RFC 4251 §5), exactly as it is hashed
    /// into H and into the key derivation of [`derive_key`](crate::kdf::derive_key).
    pub fn to_mpint(&self) -> Zeroizing<Vec<u8>> {
        let start = self.0.iter().position(|&b| b != 0).unwrap_or(self.0.len());
        let digits = self.0.get(start..).unwrap_or_default();
        let pad = digits.first().is_some_and(|&b| b & 0x80 != 0);
        let len = digits.len() + usize::from(pad);
        let mut out = Zeroizing::new(Vec::with_capacity(4 + len));
        out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
        if pad {
            out.push(0);
        }
        out.extend_from_slice(digits);
        out
    }
}
