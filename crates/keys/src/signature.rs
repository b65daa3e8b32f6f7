//! SSH signature blobs and their verification.
//!
//! ```text
//! signature blob   string alg-name, string signature                     RFC 4253 §6.6
//! ssh-ed25519      signature = 64-byte Ed25519 signature                 RFC 8709 §6
//! ecdsa-sha2-*     signature = string(mpint r, mpint s)                  RFC 5656 §3.1.2
//! rsa-sha2-256/512 signature = RSASSA-PKCS1-v1_5 with SHA-256/512        RFC 8332 §3
//! ssh-rsa          signature = RSASSA-PKCS1-v1_5 with SHA-1 (legacy)     RFC 4253 §6.6
//! sk-*             string alg, string signature, byte flags, uint32 counter   PROTOCOL.u2f (sk.rs)
//! ```

use ecdsa::signature::Verifier as _;
use nacre_wire::{put, Reader};

use crate::public::PublicKeyData;
use crate::{KeyError, KeyType, PublicKey, SignatureAlgorithm};

/// Encodes a signature blob: `string alg-name || string signature`.
pub fn encode_signature_blob(alg: SignatureAlgorithm, signature: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(alg.name().len() + signature.len() + 8);
    put::string(&mut out, alg.name().as_bytes());
    put::string(&mut out, signature);
    out
}

/// Splits a signature blob into its algorithm name and signature bytes, rejecting trailing data.
pub fn decode_signature_blob(blob: &[u8]) -> Result<(&[u8], &[u8]), KeyError> {
    let mut r = Reader::new(blob);
    let name = r.string()?;
    let sig = r.string()?;
    r.finish()?;
    Ok((name, sig))
}

/// Encodes ECDSA `(r, s)` (big-endian magnitudes) as `mpint r || mpint s` (RFC 5656 §3.1.2).
pub(crate) fn encode_ecdsa_rs(r: &[u8], s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(r.len() + s.len() + 10);
    put::mpint_unsigned(&mut out, r);
    put::mpint_unsigned(&mut out, s);
    out
}

impl PublicKey {
    /// Verifies an SSH signature blob (`string alg-name || string signature`) over `data`.
    ///
    /// The blob's algorithm must be `expected`, and `expected` must suit the key type: the ECDSA
    /// curve must match (RFC 5656 §3.1.2), RSA keys take `rsa-sha2-256`/`rsa-sha2-512`
    /// (RFC 8332 §3) or the legacy `ssh-rsa`. Ed25519 uses strict verification (RFC 8032 §5.1.7
    /// with canonical `S` and no small-order keys).
    ///
    /// A security key signature (PROTOCOL.u2f) must also carry the user-presence flag, as sshd
    /// requires by default; [`verify_detailed`](Self::verify_detailed) returns the flags
    /// instead, for callers that apply `no-touch-required` / `verify-required`.
    pub fn verify(
        &self,
        expected: SignatureAlgorithm,
        data: &[u8],
        signature_blob: &[u8],
    ) -> Result<(), KeyError> {
        match self.verify_detailed(expected, data, signature_blob)? {
            Some(info) => info.check(true, false),
            None => Ok(()),
        }
    }

    /// Verifies as [`verify`](Self::verify) but does not judge a security key's flags: returns
    /// them with the counter (`Some`) for the security key types, `None` for the others.
    pub fn verify_detailed(
        &self,
        expected: SignatureAlgorithm,
        data: &[u8],
        signature_blob: &[u8],
    ) -> Result<Option<crate::SkSignatureInfo>, KeyError> {
        let key_type = self.key_type();
        if !key_type.supports(expected) {
            return Err(KeyError::IncompatibleAlgorithm {
                key_type,
                algorithm: expected,
            });
        }
        if key_type.is_sk() {
            return crate::sk::verify_sk(self, expected, data, signature_blob).map(Some);
        }
        let (name, sig) = decode_signature_blob(signature_blob)?;
        if name != expected.name().as_bytes() {
            return Err(KeyError::SignatureAlgorithmMismatch {
                expected,
                found: String::from_utf8_lossy(name).into_owned(),
            });
        }
        match &self.0 {
            PublicKeyData::Ed25519(key) => verify_ed25519(key, data, sig),
            PublicKeyData::Ecdsa { key_type, point } => verify_ecdsa(*key_type, point, data, sig),
            PublicKeyData::Rsa { e, n } => verify_rsa(expected, e, n, data, sig),
            PublicKeyData::SkEd25519 { .. } | PublicKeyData::SkEcdsa { .. } => {
                Err(KeyError::IncompatibleAlgorithm {
                    key_type,
                    algorithm: expected,
                })
            }
        }
        .map(|()| None)
    }
}

pub(crate) fn verify_ed25519(key: &[u8; 32], data: &[u8], sig: &[u8]) -> Result<(), KeyError> {
    let sig: [u8; 64] = sig.try_into().map_err(|_| KeyError::BadSignature)?;
    let vk = ed25519_dalek::VerifyingKey::from_bytes(key)
        .map_err(|_| KeyError::InvalidKey("ed25519 public key is not a valid point"))?;
    vk.verify_strict(data, &ed25519_dalek::Signature::from_bytes(&sig))
        .map_err(|_| KeyError::BadSignature)
}

/// Parses `mpint r || mpint s` into the fixed-width `r || s` of `width`-byte scalars.
pub(crate) fn ecdsa_rs_fixed(sig: &[u8], width: usize) -> Result<Vec<u8>, KeyError> {
    let mut r = Reader::new(sig);
    let sig_r = r.mpint()?.unsigned_magnitude()?;
    let sig_s = r.mpint()?.unsigned_magnitude()?;
    r.finish()?;
    let mut out = Vec::with_capacity(width * 2);
    for part in [sig_r, sig_s] {
        let pad = width
            .checked_sub(part.len())
            .ok_or(KeyError::BadSignature)?;
        out.resize(out.len() + pad, 0);
        out.extend_from_slice(part);
    }
    Ok(out)
}

fn verify_ecdsa(key_type: KeyType, point: &[u8], data: &[u8], sig: &[u8]) -> Result<(), KeyError> {
    const BAD_POINT: KeyError =
        KeyError::InvalidKey("ecdsa public key is not a point on its curve");
    match key_type {
        KeyType::EcdsaNistP256 => {
            let rs = ecdsa_rs_fixed(sig, 32)?;
            let sig =
                p256::ecdsa::Signature::from_slice(&rs).map_err(|_| KeyError::BadSignature)?;
            let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(|_| BAD_POINT)?;
            vk.verify(data, &sig).map_err(|_| KeyError::BadSignature)
        }
        KeyType::EcdsaNistP384 => {
            let rs = ecdsa_rs_fixed(sig, 48)?;
            let sig =
                p384::ecdsa::Signature::from_slice(&rs).map_err(|_| KeyError::BadSignature)?;
            let vk = p384::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(|_| BAD_POINT)?;
            vk.verify(data, &sig).map_err(|_| KeyError::BadSignature)
        }
        KeyType::EcdsaNistP521 => {
            let rs = ecdsa_rs_fixed(sig, 66)?;
            let sig =
                p521::ecdsa::Signature::from_slice(&rs).map_err(|_| KeyError::BadSignature)?;
            let vk = p521::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(|_| BAD_POINT)?;
            vk.verify(data, &sig).map_err(|_| KeyError::BadSignature)
        }
        other => Err(KeyError::NotEcdsa(other)),
    }
}

fn verify_rsa(
    alg: SignatureAlgorithm,
    e: &[u8],
    n: &[u8],
    data: &[u8],
    sig: &[u8],
) -> Result<(), KeyError> {
    use ring::signature as rs;
    let params: &rs::RsaParameters = match alg {
        SignatureAlgorithm::RsaSha256 => &rs::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
        SignatureAlgorithm::RsaSha512 => &rs::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
        SignatureAlgorithm::SshRsa => &rs::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
        other => {
            return Err(KeyError::IncompatibleAlgorithm {
                key_type: KeyType::Rsa,
                algorithm: other,
            })
        }
    };
    // OpenSSH accepts signatures shorter than the modulus and left-pads them with zeros.
    let pad = n
        .len()
        .checked_sub(sig.len())
        .ok_or(KeyError::BadSignature)?;
    let mut padded = vec![0u8; pad];
    padded.extend_from_slice(sig);
    let modulus_bits = n
        .iter()
        .position(|&b| b != 0)
        .map_or(0, |i| (n.len() - i) * 8);
    if modulus_bits > 8192 {
        // ring verifies up to 8192 bits; larger keys (OpenSSH allows 16384) go through the
        // RustCrypto rsa crate (verification uses only public values: no timing concern).
        return verify_rsa_large(alg, e, n, data, &padded);
    }
    rs::RsaPublicKeyComponents { n, e }
        .verify(params, data, &padded)
        .map_err(|_| KeyError::BadSignature)
}

fn verify_rsa_large(
    alg: SignatureAlgorithm,
    e: &[u8],
    n: &[u8],
    data: &[u8],
    sig: &[u8],
) -> Result<(), KeyError> {
    use rsa::pkcs1v15::Pkcs1v15Sign;
    use sha2::Digest;
    let key = rsa::RsaPublicKey::new_with_max_size(
        rsa::BigUint::from_bytes_be(n),
        rsa::BigUint::from_bytes_be(e),
        16384,
    )
    .map_err(|_| KeyError::InvalidKey("RSA public key"))?;
    let result = match alg {
        SignatureAlgorithm::RsaSha256 => key.verify(
            Pkcs1v15Sign::new::<sha2::Sha256>(),
            &sha2::Sha256::digest(data),
            sig,
        ),
        SignatureAlgorithm::RsaSha512 => key.verify(
            Pkcs1v15Sign::new::<sha2::Sha512>(),
            &sha2::Sha512::digest(data),
            sig,
        ),
        _ => key.verify(
            Pkcs1v15Sign::new::<sha1::Sha1>(),
            &sha1::Sha1::digest(data),
            sig,
        ),
    };
    result.map_err(|_| KeyError::BadSignature)
}
