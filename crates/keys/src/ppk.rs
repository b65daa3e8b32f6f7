//! PuTTY private key files, versions 2 and 3 (PuTTY manual, appendix C "PPK file format"), read
//! only.
//!
//! ```text
//! PuTTY-User-Key-File-3: <algorithm>
//! Encryption: none | aes256-cbc
//! Comment: <comment>
//! Public-Lines: N            then N lines of base64: the public key blob (RFC 4253 §6.6)
//! Key-Derivation: Argon2id   (v3, encrypted only; also Argon2-Memory/-Passes/-Parallelism/-Salt)
//! Private-Lines: N           then N lines of base64: the private fields, maybe encrypted
//! Private-MAC: <hex>         HMAC over string alg, enc, comment, public blob, private plaintext
//! ```
//!
//! Private fields: `ssh-rsa`: mpint d, p, q, iqmp; `ecdsa-sha2-*`: mpint d; `ssh-ed25519`: the
//! 32-byte seed as a little-endian unsigned integer (`string`, high zero bytes dropped). Random
//! padding to the AES block size may follow.
//!
//! Keys: v3 runs Argon2 (no secret, no associated data) for 80 bytes = AES-256 key ‖ CBC IV ‖
//! HMAC-SHA-256 key (an unencrypted v3 file uses an empty MAC key). v2 uses
//! `SHA-1(0u32 ‖ pass) ‖ SHA-1(1u32 ‖ pass)` truncated to 32 bytes as the AES key, a zero IV,
//! and HMAC-SHA-1 keyed with `SHA-1("putty-private-key-file-mac-key" ‖ pass)` (an empty
//! passphrase when unencrypted).

use base64::Engine as _;
use hmac::{Hmac, Mac};
use nacre_wire::{put, Reader};
use sha1::{Digest, Sha1};
use zeroize::Zeroizing;

use crate::file_cipher::CbcCipher;
use crate::pem_encrypted::decode_hex;
use crate::{KeyError, KeyType, PrivateKey, PublicKey};

/// The largest Argon2 memory a PPK file may ask for, in KiB (1 GiB; puttygen writes 8192).
pub const MAX_ARGON2_MEMORY_KIB: u32 = 1 << 20;
/// The most Argon2 passes a PPK file may ask for.
pub const MAX_ARGON2_PASSES: u32 = 10_000;
/// The highest Argon2 parallelism a PPK file may ask for.
pub const MAX_ARGON2_PARALLELISM: u32 = 64;

/// Key material derived from the passphrase: AES-256 key, CBC IV, MAC key.
struct Keys {
    cipher_key: Zeroizing<Vec<u8>>,
    iv: Zeroizing<Vec<u8>>,
    mac_key: Zeroizing<Vec<u8>>,
}

/// Argon2 parameters of a v3 file.
struct Argon2Params {
    algorithm: argon2::Algorithm,
    memory: u32,
    passes: u32,
    parallelism: u32,
    salt: Vec<u8>,
}

fn bad(what: &'static str) -> KeyError {
    KeyError::InvalidFormat(what)
}

/// The lines of a PPK file (LF, CR LF or CR terminated).
struct Lines<'a> {
    rest: &'a [u8],
}

impl<'a> Lines<'a> {
    fn next_line(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        let end = self
            .rest
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')
            .unwrap_or(self.rest.len());
        let (line, after) = self.rest.split_at(end);
        let after = after
            .strip_prefix(b"\r\n")
            .or_else(|| after.strip_prefix(b"\n"))
            .or_else(|| after.strip_prefix(b"\r"))
            .unwrap_or(after);
        self.rest = after;
        Some(line)
    }

    /// The value of the next line, which must be `name: value`.
    fn header(&mut self, name: &'static str) -> Result<&'a [u8], KeyError> {
        let line = self.next_line().ok_or(bad("PPK file truncated"))?;
        line.strip_prefix(name.as_bytes())
            .and_then(|l| l.strip_prefix(b": "))
            .ok_or(bad("PPK header missing or out of order"))
    }

    fn header_str(&mut self, name: &'static str) -> Result<&'a str, KeyError> {
        std::str::from_utf8(self.header(name)?).map_err(|_| bad("PPK header is not text"))
    }

    fn header_u32(&mut self, name: &'static str) -> Result<u32, KeyError> {
        self.header_str(name)?
            .parse()
            .map_err(|_| bad("PPK header is not a number"))
    }

    /// `name: N` followed by N lines of base64, decoded.
    fn base64_block(&mut self, name: &'static str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let count = self.header_u32(name)?;
        let mut b64 = Zeroizing::new(Vec::new());
        for _ in 0..count {
            let line = self.next_line().ok_or(bad("PPK base64 block truncated"))?;
            b64.extend_from_slice(line);
        }
        crate::BASE64_LENIENT
            .decode(&*b64)
            .map(Zeroizing::new)
            .map_err(|_| bad("invalid base64 in PPK file"))
    }
}

impl PrivateKey {
    /// Reads a PuTTY `.ppk` private key file (versions 2 and 3). `passphrase` is needed when the
    /// file is encrypted (`None` then fails with [`KeyError::Encrypted`]) and ignored otherwise.
    ///
    /// The MAC is checked in every case; a mismatch in an encrypted file is
    /// [`KeyError::BadPassphrase`].
    pub fn from_ppk(text: &[u8], passphrase: Option<&[u8]>) -> Result<Self, KeyError> {
        let start = text
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(text.len());
        let mut lines = Lines {
            rest: text.get(start..).unwrap_or_default(),
        };
        let first = lines.next_line().ok_or(bad("empty PPK file"))?;
        let (version, algorithm) = first
            .strip_prefix(b"PuTTY-User-Key-File-")
            .and_then(|l| {
                let colon = l.iter().position(|&b| b == b':')?;
                let (v, rest) = l.split_at(colon);
                Some((v, rest.strip_prefix(b": ")?))
            })
            .ok_or(bad("not a PuTTY key file"))?;
        let version: u8 = match version {
            b"2" => 2,
            b"3" => 3,
            _ => return Err(bad("unsupported PPK version (2 and 3 are supported)")),
        };
        let encryption = lines.header("Encryption")?;
        let encrypted = match encryption {
            b"none" => false,
            b"aes256-cbc" => true,
            other => {
                return Err(KeyError::UnsupportedCipher(
                    String::from_utf8_lossy(other).into_owned(),
                ))
            }
        };
        let comment = lines.header("Comment")?;
        let public_blob = lines.base64_block("Public-Lines")?;
        let argon2 = if version == 3 && encrypted {
            Some(read_argon2_params(&mut lines)?)
        } else {
            None
        };
        let mut private = lines.base64_block("Private-Lines")?;
        let mac_hex = lines.header_str("Private-MAC")?;
        while let Some(line) = lines.next_line() {
            if !line.iter().all(u8::is_ascii_whitespace) {
                return Err(bad("data after the PPK MAC"));
            }
        }
        let mac = decode_hex(mac_hex.trim()).ok_or(bad("malformed PPK MAC"))?;

        let public = PublicKey::from_blob(&public_blob)?;
        if algorithm != public.key_type().name().as_bytes() {
            return Err(bad("PPK algorithm differs from its public key"));
        }

        let keys = match (encrypted, passphrase) {
            (true, None) => return Err(KeyError::Encrypted),
            (true, Some(pass)) => match &argon2 {
                Some(params) => derive_v3(params, pass)?,
                None => derive_v2(pass),
            },
            (false, _) => Keys {
                cipher_key: Zeroizing::new(Vec::new()),
                iv: Zeroizing::new(Vec::new()),
                mac_key: Zeroizing::new(if version == 2 {
                    v2_mac_key(b"")
                } else {
                    Vec::new()
                }),
            },
        };
        if encrypted {
            CbcCipher::Aes256.decrypt(&keys.cipher_key, &keys.iv, &mut private)?;
        }

        let mut mac_data = Zeroizing::new(Vec::with_capacity(private.len() + 512));
        for field in [
            algorithm,
            encryption,
            comment,
            public_blob.as_slice(),
            private.as_slice(),
        ] {
            put::string(&mut mac_data, field);
        }
        let mac_ok = if version == 2 {
            Hmac::<Sha1>::new_from_slice(&keys.mac_key)
                .map_err(|_| bad("PPK MAC key"))?
                .chain_update(&*mac_data)
                .verify_slice(&mac)
                .is_ok()
        } else {
            Hmac::<sha2::Sha256>::new_from_slice(&keys.mac_key)
                .map_err(|_| bad("PPK MAC key"))?
                .chain_update(&*mac_data)
                .verify_slice(&mac)
                .is_ok()
        };
        if !mac_ok {
            return Err(if encrypted {
                KeyError::BadPassphrase
            } else {
                bad("PPK MAC does not match")
            });
        }

        let key = decode_private(&public, &private)?;
        if key.public_key() != public {
            return Err(KeyError::InvalidKey(
                "PPK private key does not match its public key",
            ));
        }
        Ok(key.with_comment(String::from_utf8_lossy(comment).into_owned()))
    }
}

fn read_argon2_params(lines: &mut Lines<'_>) -> Result<Argon2Params, KeyError> {
    let algorithm = match lines.header("Key-Derivation")? {
        b"Argon2id" => argon2::Algorithm::Argon2id,
        b"Argon2i" => argon2::Algorithm::Argon2i,
        b"Argon2d" => argon2::Algorithm::Argon2d,
        other => {
            return Err(KeyError::UnsupportedKdf(
                String::from_utf8_lossy(other).into_owned(),
            ))
        }
    };
    let memory = lines.header_u32("Argon2-Memory")?;
    let passes = lines.header_u32("Argon2-Passes")?;
    let parallelism = lines.header_u32("Argon2-Parallelism")?;
    let salt = decode_hex(lines.header_str("Argon2-Salt")?).ok_or(bad("malformed Argon2 salt"))?;
    if memory > MAX_ARGON2_MEMORY_KIB
        || passes > MAX_ARGON2_PASSES
        || parallelism > MAX_ARGON2_PARALLELISM
    {
        return Err(KeyError::UnsupportedKdf(format!(
            "Argon2 with {memory} KiB, {passes} passes, parallelism {parallelism}"
        )));
    }
    Ok(Argon2Params {
        algorithm,
        memory,
        passes,
        parallelism,
        salt,
    })
}

/// v3: Argon2 output = AES-256 key (32) ‖ IV (16) ‖ HMAC-SHA-256 key (32).
fn derive_v3(params: &Argon2Params, passphrase: &[u8]) -> Result<Keys, KeyError> {
    let p = argon2::Params::new(params.memory, params.passes, params.parallelism, Some(80))
        .map_err(|e| KeyError::UnsupportedKdf(format!("Argon2 parameters: {e}")))?;
    let a = argon2::Argon2::new(params.algorithm, argon2::Version::V0x13, p);
    let mut out = Zeroizing::new([0u8; 80]);
    a.hash_password_into(passphrase, &params.salt, out.as_mut_slice())
        .map_err(|e| KeyError::UnsupportedKdf(format!("Argon2: {e}")))?;
    let (cipher_key, rest) = out.split_at(32);
    let (iv, mac_key) = rest.split_at(16);
    Ok(Keys {
        cipher_key: Zeroizing::new(cipher_key.to_vec()),
        iv: Zeroizing::new(iv.to_vec()),
        mac_key: Zeroizing::new(mac_key.to_vec()),
    })
}

/// v2: SHA-1 based key, zero IV, SHA-1 based MAC key.
fn derive_v2(passphrase: &[u8]) -> Keys {
    let mut key = Zeroizing::new(Vec::with_capacity(40));
    for seq in [0u32, 1] {
        key.extend_from_slice(
            &Sha1::new()
                .chain_update(seq.to_be_bytes())
                .chain_update(passphrase)
                .finalize(),
        );
    }
    key.truncate(32);
    Keys {
        cipher_key: key,
        iv: Zeroizing::new(vec![0u8; 16]),
        mac_key: Zeroizing::new(v2_mac_key(passphrase)),
    }
}

fn v2_mac_key(passphrase: &[u8]) -> Vec<u8> {
    Sha1::new()
        .chain_update(b"putty-private-key-file-mac-key")
        .chain_update(passphrase)
        .finalize()
        .to_vec()
}

/// Decodes the private fields for the type of `public`; trailing padding is ignored.
fn decode_private(public: &PublicKey, private: &[u8]) -> Result<PrivateKey, KeyError> {
    let mut r = Reader::new(private);
    match public.key_type() {
        KeyType::Ed25519 => {
            let le = r.string()?;
            if le.len() > 32 {
                return Err(KeyError::InvalidKey(
                    "ed25519 private key longer than 32 bytes",
                ));
            }
            let mut seed = Zeroizing::new([0u8; 32]);
            if let Some(dst) = seed.get_mut(..le.len()) {
                dst.copy_from_slice(le);
            }
            Ok(PrivateKey::from_ed25519_seed(&seed))
        }
        KeyType::Rsa => {
            let (e, n) = public
                .rsa_components()
                .ok_or(KeyError::InvalidKey("not an RSA key"))?;
            let mut next = || -> Result<&[u8], KeyError> { Ok(r.mpint()?.unsigned_magnitude()?) };
            let (d, p, q, iqmp) = (next()?, next()?, next()?, next()?);
            PrivateKey::from_rsa_components(n, e, d, iqmp, p, q)
        }
        sk if sk.is_sk() => Err(KeyError::UnsupportedKeyType(sk.name().to_owned())),
        ecdsa => {
            let d = r.mpint()?.unsigned_magnitude()?;
            PrivateKey::from_ecdsa_scalar(ecdsa, d)
        }
    }
}
