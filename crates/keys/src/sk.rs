//! Security key (FIDO/U2F) signatures: OpenSSH's `sk-ssh-ed25519@openssh.com` and
//! `sk-ecdsa-sha2-nistp256@openssh.com` (PROTOCOL.u2f "SSH U2F signatures").
//!
//! ```text
//! signature blob   string alg-name, string signature, byte flags, uint32 counter
//! sk-ssh-ed25519   signature = 64-byte Ed25519 signature
//! sk-ecdsa-*       signature = mpint r, mpint s                     (RFC 5656 §3.1.2 encoding)
//!
//! signed data      byte[32] SHA256(application) || byte flags || uint32 counter ||
//!                  byte[] extensions (none) || byte[32] SHA256(message)
//! ```
//!
//! Ed25519 signs the signed data itself; ECDSA signs it with SHA-256. The flags say what the
//! authenticator checked: [`SkSignatureInfo::USER_PRESENT`] (the key was touched) and
//! [`SkSignatureInfo::USER_VERIFIED`] (PIN or biometric). sshd requires the first unless
//! authorized_keys says `no-touch-required`, and the second when it says `verify-required`
//! (auth2-pubkey.c); those decisions are the caller's, on the [`SkSignatureInfo`] that
//! [`PublicKey::verify_detailed`] returns. webauthn signatures
//! (`webauthn-sk-ecdsa-sha2-nistp256@openssh.com`) are not supported.

use ecdsa::signature::Verifier as _;
use nacre_wire::{put, Reader};
use sha2::{Digest as _, Sha256};

use crate::public::PublicKeyData;
use crate::{KeyError, PublicKey, SignatureAlgorithm};

/// What a security key signature reports besides the signature itself: the authenticator's
/// flags and its signature counter (sshd logs the counter as `signature count`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SkSignatureInfo {
    /// The authenticator data flags (FIDO CTAP2: bit 0 user present, bit 2 user verified).
    pub flags: u8,
    /// The authenticator's signature counter.
    pub counter: u32,
}

impl SkSignatureInfo {
    /// Flag: the user touched the key (OpenSSH's `SSH_SK_USER_PRESENCE_REQD`).
    pub const USER_PRESENT: u8 = 0x01;
    /// Flag: the key verified the user, by PIN or biometric (`SSH_SK_USER_VERIFICATION_REQD`).
    pub const USER_VERIFIED: u8 = 0x04;

    /// Whether the user-presence flag is set.
    pub fn user_present(self) -> bool {
        self.flags & Self::USER_PRESENT != 0
    }

    /// Whether the user-verified flag is set.
    pub fn user_verified(self) -> bool {
        self.flags & Self::USER_VERIFIED != 0
    }

    /// sshd's decision on the flags (auth2-pubkey.c): user presence is required unless
    /// `touch_required` is false (authorized_keys `no-touch-required`, or the certificate
    /// extension of the same name), user verification when `verify_required`
    /// (`verify-required`).
    ///
    /// # Errors
    /// [`KeyError::SkFlags`] naming the requirement that is not met.
    pub fn check(self, touch_required: bool, verify_required: bool) -> Result<(), KeyError> {
        if touch_required && !self.user_present() {
            return Err(KeyError::SkFlags(
                "user presence (authenticator touch) requirement not met",
            ));
        }
        if verify_required && !self.user_verified() {
            return Err(KeyError::SkFlags("user verification requirement not met"));
        }
        Ok(())
    }
}

/// A security key signature blob, split (PROTOCOL.u2f "SSH U2F signatures").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkSignature<'a> {
    /// The algorithm name of the blob.
    pub algorithm: &'a [u8],
    /// The inner signature: 64 Ed25519 bytes or `mpint r || mpint s`.
    pub signature: &'a [u8],
    /// Flags and counter.
    pub info: SkSignatureInfo,
}

impl<'a> SkSignature<'a> {
    /// Splits `string alg, string signature, byte flags, uint32 counter`, rejecting trailing
    /// bytes as OpenSSH does.
    ///
    /// # Errors
    /// [`KeyError::Wire`] for a truncated blob or trailing bytes.
    pub fn decode(blob: &'a [u8]) -> Result<Self, KeyError> {
        let mut r = Reader::new(blob);
        let algorithm = r.string()?;
        let signature = r.string()?;
        let flags = r.u8()?;
        let counter = r.u32()?;
        r.finish()?;
        Ok(Self {
            algorithm,
            signature,
            info: SkSignatureInfo { flags, counter },
        })
    }

    /// Encodes the blob.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.algorithm.len() + self.signature.len() + 13);
        put::string(&mut out, self.algorithm);
        put::string(&mut out, self.signature);
        out.push(self.info.flags);
        put::uint32(&mut out, self.info.counter);
        out
    }
}

/// The bytes a security key signs for `message` (PROTOCOL.u2f): `SHA256(application) || flags ||
/// counter || SHA256(message)` (no extensions).
pub fn sk_signed_data(application: &str, info: SkSignatureInfo, message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + 1 + 4 + 32);
    out.extend_from_slice(&Sha256::digest(application.as_bytes()));
    out.push(info.flags);
    put::uint32(&mut out, info.counter);
    out.extend_from_slice(&Sha256::digest(message));
    out
}

/// Verifies a security key signature blob over `data` with `key` (an sk key); returns the flags
/// and counter without judging them.
pub(crate) fn verify_sk(
    key: &PublicKey,
    expected: SignatureAlgorithm,
    data: &[u8],
    blob: &[u8],
) -> Result<SkSignatureInfo, KeyError> {
    let sig = SkSignature::decode(blob)?;
    if sig.algorithm != expected.name().as_bytes() {
        return Err(KeyError::SignatureAlgorithmMismatch {
            expected,
            found: String::from_utf8_lossy(sig.algorithm).into_owned(),
        });
    }
    match &key.0 {
        PublicKeyData::SkEd25519 { key, application } => {
            let signed = sk_signed_data(application, sig.info, data);
            crate::signature::verify_ed25519(key, &signed, sig.signature)?;
        }
        PublicKeyData::SkEcdsa { point, application } => {
            let signed = sk_signed_data(application, sig.info, data);
            let rs = crate::signature::ecdsa_rs_fixed(sig.signature, 32)?;
            let signature =
                p256::ecdsa::Signature::from_slice(&rs).map_err(|_| KeyError::BadSignature)?;
            let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(|_| {
                KeyError::InvalidKey("ecdsa public key is not a point on its curve")
            })?;
            vk.verify(&signed, &signature)
                .map_err(|_| KeyError::BadSignature)?;
        }
        _ => {
            return Err(KeyError::IncompatibleAlgorithm {
                key_type: key.key_type(),
                algorithm: expected,
            })
        }
    }
    Ok(sig.info)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn flags_decide_as_sshd() {
        let info = |flags| SkSignatureInfo { flags, counter: 7 };
        // touch required (the default), verify not: UP needed.
        assert!(info(0x01).check(true, false).is_ok());
        assert!(info(0x05).check(true, false).is_ok());
        assert!(info(0x00).check(true, false).is_err());
        assert!(info(0x04).check(true, false).is_err());
        // no-touch-required: anything.
        assert!(info(0x00).check(false, false).is_ok());
        // verify-required: UV needed, and UP unless no-touch-required.
        assert!(info(0x05).check(true, true).is_ok());
        assert!(info(0x01).check(true, true).is_err());
        assert!(info(0x04).check(true, true).is_err());
        assert!(info(0x04).check(false, true).is_ok());
        assert!(info(0x00).check(false, true).is_err());
        // Other bits do not count.
        assert!(info(0xfa).check(true, true).is_err());
        assert!(info(0xfe).check(true, false).is_err());
    }

    #[test]
    fn blob_round_trip_and_trailing_bytes() {
        let sig = SkSignature {
            algorithm: b"sk-ssh-ed25519@openssh.com",
            signature: &[7u8; 64],
            info: SkSignatureInfo {
                flags: 1,
                counter: 0x01020304,
            },
        };
        let blob = sig.encode();
        assert_eq!(SkSignature::decode(&blob).unwrap(), sig);
        assert_eq!(&blob[blob.len() - 5..], &[1, 1, 2, 3, 4]);
        let mut long = blob.clone();
        long.push(0);
        assert!(SkSignature::decode(&long).is_err());
        for n in 0..blob.len() {
            assert!(SkSignature::decode(&blob[..n]).is_err(), "{n}");
        }
    }

    #[test]
    fn signed_data_layout() {
        let info = SkSignatureInfo {
            flags: 0x05,
            counter: 258,
        };
        let d = sk_signed_data("ssh:", info, b"msg");
        assert_eq!(d.len(), 69);
        assert_eq!(&d[..32], Sha256::digest(b"ssh:").as_slice());
        assert_eq!(&d[32..37], &[5, 0, 0, 1, 2]);
        assert_eq!(&d[37..], Sha256::digest(b"msg").as_slice());
    }

    /// An sk signature made here the way an authenticator makes it (the Ed25519 or P-256 key
    /// signing the signed data), for the key `public` of type `key_type`.
    fn sk_sign(
        signer: &crate::PrivateKey,
        key_type: crate::KeyType,
        application: &str,
        info: SkSignatureInfo,
        data: &[u8],
    ) -> (PublicKey, Vec<u8>) {
        let plain = signer.public_key();
        let (alg, raw, public) = if key_type == crate::KeyType::SkEd25519 {
            (
                SignatureAlgorithm::Ed25519,
                plain.ed25519_bytes().unwrap().to_vec(),
                SignatureAlgorithm::SkEd25519,
            )
        } else {
            (
                SignatureAlgorithm::EcdsaNistP256,
                plain.ecdsa_point().unwrap().to_vec(),
                SignatureAlgorithm::SkEcdsaNistP256,
            )
        };
        let key = PublicKey::security_key(key_type, &raw, application).unwrap();
        let blob = signer
            .sign(alg, &sk_signed_data(application, info, data))
            .unwrap();
        let (_, inner) = crate::decode_signature_blob(&blob).unwrap();
        let sig = SkSignature {
            algorithm: public.name().as_bytes(),
            signature: inner,
            info,
        };
        (key, sig.encode())
    }

    #[test]
    fn verify_reports_flags_and_refuses_what_was_not_signed() {
        let mut rng = rand_core::OsRng;
        let signers = [
            (
                crate::PrivateKey::generate_ed25519(&mut rng),
                crate::KeyType::SkEd25519,
            ),
            (
                crate::PrivateKey::generate_ecdsa(crate::KeyType::EcdsaNistP256, &mut rng).unwrap(),
                crate::KeyType::SkEcdsaNistP256,
            ),
        ];
        for (signer, key_type) in &signers {
            let alg = key_type.signature_algorithms()[0];
            for flags in [0x00, 0x01, 0x04, 0x05] {
                let info = SkSignatureInfo { flags, counter: 9 };
                let (key, blob) = sk_sign(signer, *key_type, "ssh:", info, b"data");
                assert_eq!(key.sk_application(), Some("ssh:"));
                assert_eq!(
                    key.verify_detailed(alg, b"data", &blob).unwrap(),
                    Some(info)
                );
                // `verify` requires user presence, as sshd's default.
                assert_eq!(key.verify(alg, b"data", &blob).is_ok(), flags & 1 == 1);
                assert!(key.verify_detailed(alg, b"other", &blob).is_err());
                // Flags and counter are signed: changing them breaks the signature.
                for i in blob.len() - 5..blob.len() {
                    let mut changed = blob.clone();
                    changed[i] ^= 0x02;
                    assert!(key.verify_detailed(alg, b"data", &changed).is_err());
                }
                // Another application, trailing bytes, the plain algorithm name.
                let raw = PublicKey::from_blob(&key.to_blob()).unwrap();
                assert_eq!(raw, key);
                let moved =
                    PublicKey::security_key(*key_type, &sk_raw(&key), "ssh:elsewhere").unwrap();
                assert!(moved.verify_detailed(alg, b"data", &blob).is_err());
                let mut long = blob.clone();
                long.push(0);
                assert!(key.verify_detailed(alg, b"data", &long).is_err());
                let plain_alg = signer.public_key().key_type().signature_algorithms()[0];
                assert!(key.verify_detailed(plain_alg, b"data", &blob).is_err());
            }
        }
    }

    fn sk_raw(key: &PublicKey) -> Vec<u8> {
        match &key.0 {
            PublicKeyData::SkEd25519 { key, .. } => key.to_vec(),
            PublicKeyData::SkEcdsa { point, .. } => point.clone(),
            _ => unreachable!(),
        }
    }
}
