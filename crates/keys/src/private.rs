//! Private keys: construction, generation and signing.
//!
//! Signatures follow RFC 8709 §6 (Ed25519), RFC 5656 §3.1.2 (ECDSA, deterministic nonces of
//! RFC 6979, SHA-256/384/512 for P-256/384/521) and RFC 8332 §3 (RSA PKCS#1 v1.5 with SHA-256 or
//! SHA-512, and the legacy `ssh-rsa` with SHA-1 of RFC 4253 §6.6). Secret material is zeroized on
//! drop.
//!
//! RSA signs with *ring* where it can (2048..=4096-bit moduli, SHA-256/512). The RustCrypto `rsa`
//! crate signs the rest: legacy `ssh-rsa` (SHA-1, which *ring* cannot sign) and keys *ring*
//! refuses (1024..=2047 and 4097..=16384 bits). That crate is subject to RUSTSEC-2023-0071
//! (the "Marvin" timing side channel: its big-integer arithmetic is not constant-time); every
//! signature it makes is blinded with a fresh random value from the OS RNG, and it is only reached
//! for the opt-in legacy algorithm or unusual key sizes.

use ecdsa::signature::Signer as _;
use num_bigint::BigUint;
use zeroize::Zeroizing;

use crate::public::{trim_zeros, PublicKeyData};
use crate::signature::{encode_ecdsa_rs, encode_signature_blob};
use crate::{KeyError, KeyType, PublicKey, SignatureAlgorithm};

/// A private key of one of the supported [`KeyType`]s, with its comment.
///
/// Generate a key, sign with it, and check the signature with its public half:
///
/// ```
/// use nacre_keys::{KeyType, PrivateKey, SignatureAlgorithm};
///
/// let key = PrivateKey::generate_ed25519(&mut rand_core::OsRng).with_comment("alice@laptop");
/// assert_eq!(key.key_type(), KeyType::Ed25519);
///
/// let alg = SignatureAlgorithm::Ed25519;
/// let blob = key.sign(alg, b"data to sign")?; // string "ssh-ed25519" || string signature
/// let public = key.public_key();
/// public.verify(alg, b"data to sign", &blob)?;
/// assert!(public.verify(alg, b"other data", &blob).is_err());
///
/// // An Ed25519 key cannot sign with an RSA algorithm.
/// assert!(key.sign(SignatureAlgorithm::RsaSha256, b"x").is_err());
/// # Ok::<(), nacre_keys::KeyError>(())
/// ```
pub struct PrivateKey {
    pub(crate) data: PrivateKeyData,
    public: PublicKey,
    comment: String,
}

/// The secret half of a key. Every variant zeroizes its secret on drop.
pub(crate) enum PrivateKeyData {
    Ed25519(ed25519_dalek::SigningKey),
    EcdsaP256(p256::ecdsa::SigningKey),
    EcdsaP384(p384::ecdsa::SigningKey),
    EcdsaP521(p521::ecdsa::SigningKey),
    Rsa(Box<RsaPrivate>),
}

/// RSA private components as stored in key files (big-endian magnitudes), plus the signers built
/// from them once at load time: the *ring* key pair when *ring* accepts the key, and the RustCrypto
/// `rsa` key used for `ssh-rsa` and for the key sizes *ring* refuses.
pub(crate) struct RsaPrivate {
    pub(crate) d: Zeroizing<Vec<u8>>,
    pub(crate) iqmp: Zeroizing<Vec<u8>>,
    pub(crate) p: Zeroizing<Vec<u8>>,
    pub(crate) q: Zeroizing<Vec<u8>>,
    signer: Result<ring::signature::RsaKeyPair, String>,
    /// Zeroizes its secret on drop. See the module docs for RUSTSEC-2023-0071.
    fallback: Result<rsa::RsaPrivateKey, String>,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateKey")
            .field("key_type", &self.key_type())
            .field("public", &self.public.to_openssh_line(""))
            .field("comment", &self.comment)
            .finish_non_exhaustive()
    }
}

impl PrivateKey {
    /// Builds an Ed25519 key from its 32-byte seed (RFC 8032 §5.1.5 private key).
    pub fn from_ed25519_seed(seed: &[u8; 32]) -> Self {
        let sk = ed25519_dalek::SigningKey::from_bytes(seed);
        let public = PublicKey(PublicKeyData::Ed25519(sk.verifying_key().to_bytes()));
        Self {
            data: PrivateKeyData::Ed25519(sk),
            public,
            comment: String::new(),
        }
    }

    /// Generates a new Ed25519 key.
    pub fn generate_ed25519(rng: &mut impl rand_core::CryptoRngCore) -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        Self::from_ed25519_seed(&seed)
    }

    /// Generates a new ECDSA key on the curve of `curve` (one of the `EcdsaNistP*` types).
    pub fn generate_ecdsa(
        curve: KeyType,
        rng: &mut impl rand_core::CryptoRngCore,
    ) -> Result<Self, KeyError> {
        let data = match curve {
            KeyType::EcdsaNistP256 => {
                PrivateKeyData::EcdsaP256(p256::ecdsa::SigningKey::random(rng))
            }
            KeyType::EcdsaNistP384 => {
                PrivateKeyData::EcdsaP384(p384::ecdsa::SigningKey::random(rng))
            }
            KeyType::EcdsaNistP521 => {
                PrivateKeyData::EcdsaP521(p521::ecdsa::SigningKey::random(rng))
            }
            other => return Err(KeyError::NotEcdsa(other)),
        };
        Ok(Self::from_data(data))
    }

    /// Builds an ECDSA key from its private scalar `d` (big-endian, at most the curve's size;
    /// shorter values are left-padded). Rejects zero and values not below the group order.
    pub fn from_ecdsa_scalar(curve: KeyType, d: &[u8]) -> Result<Self, KeyError> {
        const BAD: KeyError = KeyError::InvalidKey("ecdsa private scalar out of range");
        let width: usize = match curve {
            KeyType::EcdsaNistP256 => 32,
            KeyType::EcdsaNistP384 => 48,
            KeyType::EcdsaNistP521 => 66,
            other => return Err(KeyError::NotEcdsa(other)),
        };
        let d = trim_zeros(d);
        let pad = width.checked_sub(d.len()).ok_or(BAD)?;
        let mut padded = Zeroizing::new(vec![0u8; pad]);
        padded.extend_from_slice(d);
        let data = match curve {
            KeyType::EcdsaNistP256 => PrivateKeyData::EcdsaP256(
                p256::ecdsa::SigningKey::from_slice(&padded).map_err(|_| BAD)?,
            ),
            KeyType::EcdsaNistP384 => PrivateKeyData::EcdsaP384(
                p384::ecdsa::SigningKey::from_slice(&padded).map_err(|_| BAD)?,
            ),
            _ => PrivateKeyData::EcdsaP521(
                p521::ecdsa::SigningKey::from_slice(&padded).map_err(|_| BAD)?,
            ),
        };
        Ok(Self::from_data(data))
    }

    /// Builds an RSA key from the components OpenSSH stores (`n, e, d, iqmp, p, q`, big-endian
    /// magnitudes). Checks `n = p·q` and the modulus size. Builds the signers once: *ring*'s when it
    /// accepts the key (2048..=4096 bits, e ≥ 65537), and the RustCrypto `rsa` fallback for the
    /// legacy `ssh-rsa` and the other sizes; when neither can, [`PrivateKey::sign`] reports why.
    ///
    /// `dP`, `dQ` (and `qInv` when `p < q`) are computed with `num-bigint`, which is not
    /// constant-time; this happens once per key load.
    pub fn from_rsa_components(
        n: &[u8],
        e: &[u8],
        d: &[u8],
        iqmp: &[u8],
        p: &[u8],
        q: &[u8],
    ) -> Result<Self, KeyError> {
        let public = PublicKey::rsa(e, n)?;
        let (n, e) = (trim_zeros(n), trim_zeros(e));
        let (d, iqmp, p, q) = (
            trim_zeros(d),
            trim_zeros(iqmp),
            trim_zeros(p),
            trim_zeros(q),
        );
        let big = |b: &[u8]| BigUint::from_bytes_be(b);
        let (bp, bq) = (big(p), big(q));
        let one = BigUint::from(1u8);
        if bp <= one || bq <= one || &bp * &bq != big(n) {
            return Err(KeyError::InvalidKey(
                "rsa primes do not multiply to the modulus",
            ));
        }
        if d.is_empty() || big(d) >= big(n) {
            return Err(KeyError::InvalidKey("rsa private exponent out of range"));
        }
        let signer = rsa_signer(n, e, d, &bp, &bq);
        let fallback = rsa_fallback(n, e, d, p, q);
        let rsa = RsaPrivate {
            d: Zeroizing::new(d.to_vec()),
            iqmp: Zeroizing::new(iqmp.to_vec()),
            p: Zeroizing::new(p.to_vec()),
            q: Zeroizing::new(q.to_vec()),
            signer,
            fallback,
        };
        Ok(Self {
            data: PrivateKeyData::Rsa(Box::new(rsa)),
            public,
            comment: String::new(),
        })
    }

    fn from_data(data: PrivateKeyData) -> Self {
        let public = match &data {
            PrivateKeyData::Ed25519(sk) => PublicKeyData::Ed25519(sk.verifying_key().to_bytes()),
            PrivateKeyData::EcdsaP256(sk) => PublicKeyData::Ecdsa {
                key_type: KeyType::EcdsaNistP256,
                point: sk
                    .verifying_key()
                    .to_encoded_point(false)
                    .as_bytes()
                    .to_vec(),
            },
            PrivateKeyData::EcdsaP384(sk) => PublicKeyData::Ecdsa {
                key_type: KeyType::EcdsaNistP384,
                point: sk
                    .verifying_key()
                    .to_encoded_point(false)
                    .as_bytes()
                    .to_vec(),
            },
            PrivateKeyData::EcdsaP521(sk) => PublicKeyData::Ecdsa {
                key_type: KeyType::EcdsaNistP521,
                point: p521::ecdsa::VerifyingKey::from(sk)
                    .to_encoded_point(false)
                    .as_bytes()
                    .to_vec(),
            },
            // RSA keys are only built by `from_rsa_components`, which sets the public key.
            PrivateKeyData::Rsa(_) => PublicKeyData::Rsa {
                e: Vec::new(),
                n: Vec::new(),
            },
        };
        Self {
            data,
            public: PublicKey(public),
            comment: String::new(),
        }
    }

    /// The comment stored with the key (empty for generated keys and PEM files).
    pub fn comment(&self) -> &str {
        &self.comment
    }

    /// Replaces the comment.
    pub fn set_comment(&mut self, comment: impl Into<String>) {
        self.comment = comment.into();
    }

    /// Returns the key with its comment replaced.
    #[must_use]
    pub fn with_comment(mut self, comment: impl Into<String>) -> Self {
        self.set_comment(comment);
        self
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        self.public.clone()
    }

    /// The key's type.
    pub fn key_type(&self) -> KeyType {
        self.public.key_type()
    }

    /// Signs `data` with `alg` and returns the SSH signature blob
    /// (`string alg-name || string signature`, RFC 4253 §6.6).
    ///
    /// ECDSA signatures are deterministic (RFC 6979), and so are RSA PKCS#1 v1.5 signatures.
    /// RSA signs `rsa-sha2-256`/`rsa-sha2-512` with *ring* for 2048..=4096-bit keys; the legacy
    /// `ssh-rsa` (SHA-1, opt-in) and other key sizes (1024..=16384 bits) use the RustCrypto `rsa`
    /// crate, with blinding (see the module docs for RUSTSEC-2023-0071).
    pub fn sign(&self, alg: SignatureAlgorithm, data: &[u8]) -> Result<Vec<u8>, KeyError> {
        let key_type = self.key_type();
        if !key_type.supports(alg) {
            return Err(KeyError::IncompatibleAlgorithm {
                key_type,
                algorithm: alg,
            });
        }
        let sig = match &self.data {
            PrivateKeyData::Ed25519(sk) => sk.sign(data).to_bytes().to_vec(),
            PrivateKeyData::EcdsaP256(sk) => {
                let sig: p256::ecdsa::Signature =
                    sk.try_sign(data).map_err(|_| KeyError::SigningFailed)?;
                let (r, s) = sig.split_bytes();
                encode_ecdsa_rs(&r, &s)
            }
            PrivateKeyData::EcdsaP384(sk) => {
                let sig: p384::ecdsa::Signature =
                    sk.try_sign(data).map_err(|_| KeyError::SigningFailed)?;
                let (r, s) = sig.split_bytes();
                encode_ecdsa_rs(&r, &s)
            }
            PrivateKeyData::EcdsaP521(sk) => {
                let sig: p521::ecdsa::Signature =
                    sk.try_sign(data).map_err(|_| KeyError::SigningFailed)?;
                let (r, s) = sig.split_bytes();
                encode_ecdsa_rs(&r, &s)
            }
            PrivateKeyData::Rsa(rsa) => sign_rsa(rsa, alg, data)?,
        };
        Ok(encode_signature_blob(alg, &sig))
    }
}

/// RSASSA-PKCS1-v1_5 (RFC 8017 §8.2): *ring* for SHA-256/512 when it accepted the key, otherwise
/// (and always for SHA-1) the RustCrypto fallback.
fn sign_rsa(rsa: &RsaPrivate, alg: SignatureAlgorithm, data: &[u8]) -> Result<Vec<u8>, KeyError> {
    let encoding: &'static dyn ring::signature::RsaEncoding = match alg {
        SignatureAlgorithm::RsaSha256 => &ring::signature::RSA_PKCS1_SHA256,
        SignatureAlgorithm::RsaSha512 => &ring::signature::RSA_PKCS1_SHA512,
        SignatureAlgorithm::SshRsa => return sign_rsa_fallback(rsa, alg, data),
        other => return Err(KeyError::SigningUnsupported(other)),
    };
    let Ok(pair) = rsa.signer.as_ref() else {
        return sign_rsa_fallback(rsa, alg, data);
    };
    let mut sig = vec![0u8; pair.public().modulus_len()];
    pair.sign(encoding, &ring::rand::SystemRandom::new(), data, &mut sig)
        .map_err(|_| KeyError::SigningFailed)?;
    Ok(sig)
}

/// Signs with the RustCrypto `rsa` key. The private operation is blinded with a random value from
/// the OS RNG (and checked against the public key by the crate before it is returned); the
/// signature itself is deterministic and as long as the modulus.
fn sign_rsa_fallback(
    rsa: &RsaPrivate,
    alg: SignatureAlgorithm,
    data: &[u8],
) -> Result<Vec<u8>, KeyError> {
    use sha2::Digest as _;
    let key = rsa.fallback.as_ref().map_err(|why| {
        // Report *ring*'s reason too when both refused the key.
        match &rsa.signer {
            Err(ring_why) => KeyError::RsaKeyRejected(format!("{ring_why}; {why}")),
            Ok(_) => KeyError::RsaKeyRejected(why.clone()),
        }
    })?;
    let (scheme, digest) = match alg {
        SignatureAlgorithm::SshRsa => (
            rsa::Pkcs1v15Sign::new::<sha1::Sha1>(),
            sha1::Sha1::digest(data).to_vec(),
        ),
        SignatureAlgorithm::RsaSha256 => (
            rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
            sha2::Sha256::digest(data).to_vec(),
        ),
        SignatureAlgorithm::RsaSha512 => (
            rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
            sha2::Sha512::digest(data).to_vec(),
        ),
        other => return Err(KeyError::SigningUnsupported(other)),
    };
    key.sign_with_rng(&mut rand_core::OsRng, scheme, &digest)
        .map_err(|_| KeyError::SigningFailed)
}

/// Builds the *ring* key pair (CRT form, `p > q` as *ring* requires), or the reason it refused.
fn rsa_signer(
    n: &[u8],
    e: &[u8],
    d: &[u8],
    p: &BigUint,
    q: &BigUint,
) -> Result<ring::signature::RsaKeyPair, String> {
    let (p, q) = if p > q { (p, q) } else { (q, p) };
    let bd = BigUint::from_bytes_be(d);
    let one = BigUint::from(1u8);
    let secret = |v: BigUint| Zeroizing::new(v.to_bytes_be());
    let dp = secret(&bd % (p - &one));
    let dq = secret(&bd % (q - &one));
    let qinv = secret(
        q.modinv(p)
            .ok_or_else(|| "q has no inverse modulo p".to_owned())?,
    );
    let (pb, qb) = (secret(p.clone()), secret(q.clone()));
    let components = ring::rsa::KeyPairComponents {
        public_key: ring::rsa::PublicKeyComponents { n, e },
        d,
        p: pb.as_slice(),
        q: qb.as_slice(),
        dP: dp.as_slice(),
        dQ: dq.as_slice(),
        qInv: qinv.as_slice(),
    };
    ring::signature::RsaKeyPair::from_components(&components).map_err(|e| e.to_string())
}

/// Builds the RustCrypto `rsa` key (checked: `n = p·q`, `d·e ≡ 1 mod p−1` and `mod q−1`, with the
/// CRT values precomputed), or the reason it refused.
fn rsa_fallback(
    n: &[u8],
    e: &[u8],
    d: &[u8],
    p: &[u8],
    q: &[u8],
) -> Result<rsa::RsaPrivateKey, String> {
    let big = rsa::BigUint::from_bytes_be;
    rsa::RsaPrivateKey::from_components(big(n), big(e), big(d), vec![big(p), big(q)])
        .map_err(|e| e.to_string())
}
