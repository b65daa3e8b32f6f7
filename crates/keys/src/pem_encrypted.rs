//! Encrypted PEM private keys, as OpenSSL (and `ssh-keygen -m PEM` / `-m PKCS8`) write them:
//!
//! - legacy PEM (RFC 1421 headers): `Proc-Type: 4,ENCRYPTED` and `DEK-Info: <cipher>,<hex IV>`
//!   over a PKCS#1 or SEC1 body, ciphers `AES-128-CBC`, `AES-192-CBC`, `AES-256-CBC` and
//!   `DES-EDE3-CBC`; the key is OpenSSL's `EVP_BytesToKey` with MD5, one iteration and the first
//!   8 bytes of the IV as salt: `D1 = MD5(pass ‖ salt)`, `Di = MD5(Di-1 ‖ pass ‖ salt)`; the
//!   plaintext carries PKCS#7 padding.
//! - PKCS#8 `ENCRYPTED PRIVATE KEY` (RFC 5958 §3, RFC 8018 §6.2 PBES2): PBKDF2 with
//!   HMAC-SHA-1/224/256/384/512 and AES-128/192/256-CBC or DES-EDE3-CBC.
//!
//! ```text
//! EncryptedPrivateKeyInfo ::= SEQUENCE { encryptionAlgorithm AlgorithmIdentifier, encryptedData OCTET STRING }
//! PBES2-params ::= SEQUENCE { keyDerivationFunc AlgorithmIdentifier, encryptionScheme AlgorithmIdentifier }
//! PBKDF2-params ::= SEQUENCE { salt OCTET STRING, iterationCount INTEGER, keyLength INTEGER OPTIONAL,
//!                              prf AlgorithmIdentifier DEFAULT hmacWithSHA1 }
//! ```
//!
//! Whether the passphrase was right is only visible in the plaintext, so a padding or structure
//! error after decryption is reported as [`KeyError::BadPassphrase`].

use hmac::Hmac;
use zeroize::Zeroizing;

use crate::der::{self, Der};
use crate::file_cipher::CbcCipher;
use crate::pem::{self, Armor};
use crate::{KeyError, PrivateKey};

/// The most PBKDF2 iterations accepted (OpenSSL writes 2048).
pub const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;

const OID_PBES2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d];
const OID_PBKDF2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0c];
const OID_HMAC_SHA1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x07];
const OID_HMAC_SHA224: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x08];
const OID_HMAC_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x09];
const OID_HMAC_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x0a];
const OID_HMAC_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x0b];
const OID_AES128_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x02];
const OID_AES192_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x16];
const OID_AES256_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a];
const OID_DES_EDE3_CBC: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x03, 0x07];

/// Decodes a PEM block other than `OPENSSH PRIVATE KEY`, decrypting it when it is encrypted.
pub(crate) fn decode_pem_with_passphrase(
    armor: &Armor,
    passphrase: &[u8],
) -> Result<PrivateKey, KeyError> {
    if armor.label == "ENCRYPTED PRIVATE KEY" {
        let plain = decrypt_pkcs8(&armor.body, passphrase)?;
        return pem::decode_pkcs8(&plain).map_err(after_decryption);
    }
    if !armor.encrypted_header {
        return pem::decode_pem(armor);
    }
    let decode: fn(&[u8]) -> Result<PrivateKey, KeyError> = match armor.label.as_str() {
        "RSA PRIVATE KEY" => pem::decode_pkcs1,
        "EC PRIVATE KEY" => |b| pem::decode_sec1(b, None),
        "DSA PRIVATE KEY" => return Err(KeyError::UnsupportedKeyType("ssh-dss".to_owned())),
        _ => return Err(KeyError::InvalidFormat("unknown PEM label")),
    };
    let plain = decrypt_legacy(armor, passphrase)?;
    decode(&plain).map_err(after_decryption)
}

/// Errors in a decrypted structure mean the passphrase was wrong (or the file corrupted), except
/// for a well-formed key of a type this crate does not support.
fn after_decryption(e: KeyError) -> KeyError {
    match e {
        KeyError::UnsupportedKeyType(_) => e,
        _ => KeyError::BadPassphrase,
    }
}

/// Decrypts the body of a `Proc-Type: 4,ENCRYPTED` PEM block and strips its padding.
fn decrypt_legacy(armor: &Armor, passphrase: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let dek = armor
        .dek_info
        .as_deref()
        .ok_or(KeyError::InvalidFormat("encrypted PEM without DEK-Info"))?;
    let (name, iv_hex) = dek
        .split_once(',')
        .ok_or(KeyError::InvalidFormat("malformed DEK-Info"))?;
    let cipher = match name.trim().to_ascii_uppercase().as_str() {
        "AES-128-CBC" => CbcCipher::Aes128,
        "AES-192-CBC" => CbcCipher::Aes192,
        "AES-256-CBC" => CbcCipher::Aes256,
        "DES-EDE3-CBC" => CbcCipher::TdesEde3,
        other => return Err(KeyError::UnsupportedCipher(other.to_owned())),
    };
    let iv = decode_hex(iv_hex.trim()).ok_or(KeyError::InvalidFormat("malformed DEK-Info IV"))?;
    if iv.len() != cipher.block_size() {
        return Err(KeyError::InvalidFormat("DEK-Info IV has the wrong length"));
    }
    let salt = iv
        .get(..8)
        .ok_or(KeyError::InvalidFormat("DEK-Info IV too short"))?;
    let key = evp_bytes_to_key(passphrase, salt, cipher.key_len());
    let mut plain = Zeroizing::new(armor.body.to_vec());
    cipher.decrypt(&key, &iv, &mut plain)?;
    strip_pkcs7(plain, cipher.block_size())
}

/// OpenSSL's `EVP_BytesToKey` with MD5 and one iteration, truncated to `len` bytes.
fn evp_bytes_to_key(passphrase: &[u8], salt: &[u8], len: usize) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(len + 16));
    let mut prev: Option<[u8; 16]> = None;
    while out.len() < len {
        let mut input = Zeroizing::new(Vec::with_capacity(16 + passphrase.len() + salt.len()));
        if let Some(p) = prev {
            input.extend_from_slice(&p);
        }
        input.extend_from_slice(passphrase);
        input.extend_from_slice(salt);
        let digest = crate::md5::md5(&input);
        out.extend_from_slice(&digest);
        prev = Some(digest);
    }
    out.truncate(len);
    out
}

/// Removes PKCS#7 padding (1..=block bytes, each equal to the count); anything else means the
/// passphrase was wrong.
fn strip_pkcs7(
    mut plain: Zeroizing<Vec<u8>>,
    block: usize,
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let pad = usize::from(*plain.last().ok_or(KeyError::BadPassphrase)?);
    if pad == 0 || pad > block || pad > plain.len() {
        return Err(KeyError::BadPassphrase);
    }
    let keep = plain.len() - pad;
    if !plain
        .get(keep..)
        .is_some_and(|p| p.iter().all(|&b| usize::from(b) == pad))
    {
        return Err(KeyError::BadPassphrase);
    }
    plain.truncate(keep);
    Ok(plain)
}

pub(crate) fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len().checked_rem(2) != Some(0) {
        return None;
    }
    s.as_bytes()
        .chunks(2)
        .map(|pair| {
            let text = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(text, 16).ok()
        })
        .collect()
}

/// The PBKDF2 pseudo-random function named by the PBKDF2 parameters.
#[derive(Clone, Copy)]
enum Prf {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

/// Parses `EncryptedPrivateKeyInfo` with PBES2 and returns the decrypted `PrivateKeyInfo`.
fn decrypt_pkcs8(der_bytes: &[u8], passphrase: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let mut outer = Der::new(der_bytes);
    let mut info = outer.sequence()?;
    outer.finish("DER: data after EncryptedPrivateKeyInfo")?;
    let mut alg = info.sequence()?;
    let encrypted = info.expect(der::OCTET_STRING, "DER: expected the encrypted data")?;
    info.finish("DER: data after the encrypted data")?;

    if alg.expect(der::OID, "DER: expected an encryption OID")? != OID_PBES2 {
        return Err(KeyError::UnsupportedKdf(
            "PKCS#8 encryption other than PBES2".to_owned(),
        ));
    }
    let mut params = alg.sequence()?;
    alg.finish("DER: data after the PBES2 parameters")?;
    let mut kdf = params.sequence()?;
    let mut scheme = params.sequence()?;
    params.finish("DER: data after the PBES2 parameters")?;

    if kdf.expect(der::OID, "DER: expected a KDF OID")? != OID_PBKDF2 {
        return Err(KeyError::UnsupportedKdf(
            "PBES2 key derivation other than PBKDF2".to_owned(),
        ));
    }
    let mut pbkdf2_params = kdf.sequence()?;
    kdf.finish("DER: data after the PBKDF2 parameters")?;
    let salt = pbkdf2_params.expect(der::OCTET_STRING, "DER: expected the PBKDF2 salt")?;
    let iterations = pbkdf2_params.small_uint()?;
    let mut key_length = None;
    if pbkdf2_params.peek_tag() == Some(der::INTEGER) {
        key_length = Some(pbkdf2_params.small_uint()?);
    }
    let mut prf = Prf::Sha1;
    if !pbkdf2_params.is_empty() {
        let mut prf_alg = pbkdf2_params.sequence()?;
        prf = match prf_alg.expect(der::OID, "DER: expected a PRF OID")? {
            OID_HMAC_SHA1 => Prf::Sha1,
            OID_HMAC_SHA224 => Prf::Sha224,
            OID_HMAC_SHA256 => Prf::Sha256,
            OID_HMAC_SHA384 => Prf::Sha384,
            OID_HMAC_SHA512 => Prf::Sha512,
            _ => return Err(KeyError::UnsupportedKdf("PBKDF2 PRF".to_owned())),
        };
        if !prf_alg.is_empty() {
            prf_alg.expect(der::NULL, "DER: PRF parameters must be NULL")?;
        }
        prf_alg.finish("DER: data after the PRF parameters")?;
    }
    pbkdf2_params.finish("DER: data after the PBKDF2 parameters")?;

    let cipher = match scheme.expect(der::OID, "DER: expected a cipher OID")? {
        OID_AES128_CBC => CbcCipher::Aes128,
        OID_AES192_CBC => CbcCipher::Aes192,
        OID_AES256_CBC => CbcCipher::Aes256,
        OID_DES_EDE3_CBC => CbcCipher::TdesEde3,
        _ => return Err(KeyError::UnsupportedCipher("PBES2 cipher".to_owned())),
    };
    let iv = scheme.expect(der::OCTET_STRING, "DER: expected the cipher IV")?;
    scheme.finish("DER: data after the cipher IV")?;
    if iv.len() != cipher.block_size() {
        return Err(KeyError::InvalidFormat("PBES2 IV has the wrong length"));
    }
    if key_length.is_some_and(|l| usize::try_from(l).ok() != Some(cipher.key_len())) {
        return Err(KeyError::InvalidFormat(
            "PBKDF2 key length does not fit the cipher",
        ));
    }
    if iterations == 0 || iterations > MAX_PBKDF2_ITERATIONS {
        return Err(KeyError::UnsupportedKdf(format!(
            "PBKDF2 with {iterations} iterations"
        )));
    }

    let mut key = Zeroizing::new(vec![0u8; cipher.key_len()]);
    let derived = match prf {
        Prf::Sha1 => pbkdf2::pbkdf2::<Hmac<sha1::Sha1>>(passphrase, salt, iterations, &mut key),
        Prf::Sha224 => pbkdf2::pbkdf2::<Hmac<sha2::Sha224>>(passphrase, salt, iterations, &mut key),
        Prf::Sha256 => pbkdf2::pbkdf2::<Hmac<sha2::Sha256>>(passphrase, salt, iterations, &mut key),
        Prf::Sha384 => pbkdf2::pbkdf2::<Hmac<sha2::Sha384>>(passphrase, salt, iterations, &mut key),
        Prf::Sha512 => pbkdf2::pbkdf2::<Hmac<sha2::Sha512>>(passphrase, salt, iterations, &mut key),
    };
    derived.map_err(|_| KeyError::InvalidFormat("PBKDF2 parameters"))?;
    let mut plain = Zeroizing::new(encrypted.to_vec());
    cipher.decrypt(&key, iv, &mut plain)?;
    strip_pkcs7(plain, cipher.block_size())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn evp_bytes_to_key_matches_openssl() {
        // `openssl enc -aes-256-cbc -md md5 -S 0102030405060708 -pass pass:secret -P`
        // key=C9E5A1BD...AA2879AB iv=E24B32BB...523AD893 (the IV continues the same stream).
        let out = evp_bytes_to_key(b"secret", &[1, 2, 3, 4, 5, 6, 7, 8], 48);
        assert_eq!(
            hex::encode_upper(&out[..]),
            "C9E5A1BD216DBE1317E230CEF48F38EE7F0E17AD64022144BCCEC4A1AA2879AB\
             E24B32BBBC4EF02ECBCB6576523AD893"
        );
        let short = evp_bytes_to_key(b"secret", &[1, 2, 3, 4, 5, 6, 7, 8], 16);
        assert_eq!(&out[..16], &short[..]);
    }

    #[test]
    fn pkcs7_padding_is_checked() {
        let ok = strip_pkcs7(Zeroizing::new(vec![1, 2, 3, 2, 2]), 16).unwrap();
        assert_eq!(&ok[..], &[1, 2, 3]);
        for bad in [vec![1, 2, 3, 0], vec![1, 2, 3, 17], vec![1, 3, 2], vec![]] {
            assert!(strip_pkcs7(Zeroizing::new(bad), 16).is_err());
        }
    }
}
