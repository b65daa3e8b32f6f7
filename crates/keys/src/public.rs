//! Public keys: the public key blob of RFC 4253 §6.6 and the OpenSSH one-line format.
//!
//! Blob grammar per type:
//!
//! ```text
//! ssh-ed25519          string "ssh-ed25519", string key (32 bytes)                    RFC 8709 §4
//! ecdsa-sha2-<curve>   string "ecdsa-sha2-<curve>", string <curve>, string Q          RFC 5656 §3.1
//! ssh-rsa              string "ssh-rsa", mpint e, mpint n                             RFC 4253 §6.6
//! sk-ssh-ed25519@openssh.com
//!                      string type, string key (32 bytes), string application  PROTOCOL.u2f
//! sk-ecdsa-sha2-nistp256@openssh.com
//!                      string type, string "nistp256", string Q, string application
//! ```

use base64::Engine as _;
use nacre_wire::{put, Reader};

use crate::{KeyError, KeyType};

/// Smallest accepted RSA modulus, in bits (OpenSSH's `SSH_RSA_MINIMUM_MODULUS_SIZE`).
pub const RSA_MIN_BITS: usize = 1024;
/// Largest accepted RSA modulus, in bits (OpenSSH's `SSH_RSA_MAXIMUM_MODULUS_SIZE`).
pub const RSA_MAX_BITS: usize = 16384;

/// A validated public key of one of the supported [`KeyType`]s.
///
/// Construction checks the key: ECDSA points are uncompressed and on their curve, Ed25519 keys
/// are 32 bytes, RSA moduli are odd and between [`RSA_MIN_BITS`] and [`RSA_MAX_BITS`].
///
/// Read an `id_ed25519.pub` line and print its fingerprint as `ssh-keygen -l` does:
///
/// ```
/// use nacre_keys::{KeyType, PublicKey};
///
/// let line = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEB+PO3GvLMi602cebTnZXhrXwKCuIcQ6/zSnwde00U2 alice@example";
/// let (key, comment) = PublicKey::from_openssh_line(line)?;
/// assert_eq!(comment, "alice@example");
/// assert_eq!(key.key_type(), KeyType::Ed25519);
/// assert_eq!(key.bits(), 256);
/// assert_eq!(
///     key.fingerprint_sha256(),
///     "SHA256:WTOEUxKvxYJ0jkxI33JYhiG/eWLl0PxZY8gVA9Z8dDg"
/// );
///
/// // The line and the wire blob both round-trip.
/// assert_eq!(key.to_openssh_line(&comment), line);
/// assert_eq!(PublicKey::from_blob(&key.to_blob())?, key);
/// # Ok::<(), nacre_keys::KeyError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PublicKey(pub(crate) PublicKeyData);

/// The fields of a public key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum PublicKeyData {
    /// The 32-byte Ed25519 public key (RFC 8032 §5.1.5 encoding).
    Ed25519([u8; 32]),
    /// An ECDSA key: its curve and the SEC1 uncompressed point `Q`.
    Ecdsa { key_type: KeyType, point: Vec<u8> },
    /// An RSA key: big-endian magnitudes without leading zeros.
    Rsa { e: Vec<u8>, n: Vec<u8> },
    /// A security key's Ed25519 key and its FIDO application string (PROTOCOL.u2f).
    SkEd25519 { key: [u8; 32], application: String },
    /// A security key's P-256 point and its FIDO application string (PROTOCOL.u2f).
    SkEcdsa { point: Vec<u8>, application: String },
}

impl PublicKey {
    /// Parses a public key blob (RFC 4253 §6.6). Rejects trailing bytes, unknown or unsupported
    /// types, invalid points and RSA moduli outside 1024..=16384 bits.
    pub fn from_blob(blob: &[u8]) -> Result<Self, KeyError> {
        let mut r = Reader::new(blob);
        let key_type = read_type(&mut r)?;
        let key = match key_type {
            KeyType::Rsa => {
                let e = r.mpint()?.unsigned_magnitude()?;
                let n = r.mpint()?.unsigned_magnitude()?;
                Self::rsa(e, n)?
            }
            other => read_non_rsa_body(other, &mut r)?,
        };
        r.finish()?;
        Ok(key)
    }

    /// Encodes the public key blob (RFC 4253 §6.6).
    pub fn to_blob(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        put::string(&mut out, self.key_type().name().as_bytes());
        match &self.0 {
            PublicKeyData::Ed25519(k) => put::string(&mut out, k),
            PublicKeyData::Ecdsa { key_type, point } => {
                put::string(
                    &mut out,
                    key_type.curve_name().unwrap_or_default().as_bytes(),
                );
                put::string(&mut out, point);
            }
            PublicKeyData::Rsa { e, n } => {
                put::mpint_unsigned(&mut out, e);
                put::mpint_unsigned(&mut out, n);
            }
            PublicKeyData::SkEd25519 { key, application } => {
                put::string(&mut out, key);
                put::string(&mut out, application.as_bytes());
            }
            PublicKeyData::SkEcdsa { point, application } => {
                put::string(&mut out, b"nistp256");
                put::string(&mut out, point);
                put::string(&mut out, application.as_bytes());
            }
        }
        out
    }

    /// The key's type.
    pub fn key_type(&self) -> KeyType {
        match &self.0 {
            PublicKeyData::Ed25519(_) => KeyType::Ed25519,
            PublicKeyData::Ecdsa { key_type, .. } => *key_type,
            PublicKeyData::Rsa { .. } => KeyType::Rsa,
            PublicKeyData::SkEd25519 { .. } => KeyType::SkEd25519,
            PublicKeyData::SkEcdsa { .. } => KeyType::SkEcdsaNistP256,
        }
    }

    /// The FIDO application string of a security key (`ssh:` unless chosen otherwise at
    /// `ssh-keygen -t ed25519-sk -O application=`), for the security key types.
    pub fn sk_application(&self) -> Option<&str> {
        match &self.0 {
            PublicKeyData::SkEd25519 { application, .. }
            | PublicKeyData::SkEcdsa { application, .. } => Some(application),
            _ => None,
        }
    }

    /// The key size in bits, as `ssh-keygen -l` prints it (256 for Ed25519, the curve size for
    /// ECDSA, the modulus size for RSA).
    pub fn bits(&self) -> usize {
        match &self.0 {
            PublicKeyData::Ed25519(_) => 256,
            PublicKeyData::Ecdsa {
                key_type: KeyType::EcdsaNistP384,
                ..
            } => 384,
            PublicKeyData::Ecdsa {
                key_type: KeyType::EcdsaNistP521,
                ..
            } => 521,
            PublicKeyData::Ecdsa { .. }
            | PublicKeyData::SkEd25519 { .. }
            | PublicKeyData::SkEcdsa { .. } => 256,
            PublicKeyData::Rsa { n, .. } => bit_length(n),
        }
    }

    /// The raw 32-byte Ed25519 key, for Ed25519 keys.
    pub fn ed25519_bytes(&self) -> Option<&[u8; 32]> {
        match &self.0 {
            PublicKeyData::Ed25519(k) => Some(k),
            _ => None,
        }
    }

    /// The SEC1 uncompressed point `Q`, for ECDSA keys.
    pub fn ecdsa_point(&self) -> Option<&[u8]> {
        match &self.0 {
            PublicKeyData::Ecdsa { point, .. } => Some(point),
            _ => None,
        }
    }

    /// The public exponent and modulus (big-endian, unsigned), for RSA keys.
    pub fn rsa_components(&self) -> Option<(&[u8], &[u8])> {
        match &self.0 {
            PublicKeyData::Rsa { e, n } => Some((e, n)),
            _ => None,
        }
    }

    /// Parses an OpenSSH public key line, `type base64-blob [comment]`, as in `id_ed25519.pub`.
    /// The type written in the line must equal the blob's. Returns the key and the comment
    /// (empty when absent).
    pub fn from_openssh_line(line: &str) -> Result<(Self, String), KeyError> {
        let line = line.trim();
        let (type_name, rest) = split_token(line);
        if type_name.is_empty() {
            return Err(KeyError::InvalidFormat("empty public key line"));
        }
        let (b64, comment) = split_token(rest);
        if b64.is_empty() {
            return Err(KeyError::InvalidFormat(
                "public key line has no base64 blob",
            ));
        }
        let blob = crate::BASE64_LENIENT
            .decode(b64)
            .map_err(|_| KeyError::InvalidFormat("invalid base64 in public key line"))?;
        let key = Self::from_blob(&blob).map_err(|e| match e {
            // Name the line's type when the blob is of a type we do not support.
            KeyError::UnknownKeyType(_) | KeyError::UnsupportedKeyType(_) => {
                match KeyType::from_name(type_name) {
                    Err(line_err) => line_err,
                    Ok(_) => e,
                }
            }
            other => other,
        })?;
        if key.key_type().name() != type_name {
            return Err(KeyError::KeyTypeMismatch {
                line: type_name.to_owned(),
                blob: key.key_type(),
            });
        }
        Ok((key, comment.trim().to_owned()))
    }

    /// Formats the OpenSSH public key line `type base64-blob comment` (no trailing newline; no
    /// trailing space when the comment is empty).
    pub fn to_openssh_line(&self, comment: &str) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(self.to_blob());
        if comment.is_empty() {
            format!("{} {}", self.key_type().name(), b64)
        } else {
            format!("{} {} {}", self.key_type().name(), b64, comment)
        }
    }

    /// Builds an Ed25519 public key from its 32 bytes, checking it decodes to a curve point.
    pub fn from_ed25519_bytes(bytes: [u8; 32]) -> Result<Self, KeyError> {
        ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map_err(|_| KeyError::InvalidKey("ed25519 public key is not a valid point"))?;
        Ok(Self(PublicKeyData::Ed25519(bytes)))
    }

    /// Builds an ECDSA public key from its SEC1 uncompressed point, checking it is on the curve.
    pub fn from_ecdsa_point(key_type: KeyType, point: &[u8]) -> Result<Self, KeyError> {
        validate_ecdsa_point(key_type, point)?;
        Ok(Self(PublicKeyData::Ecdsa {
            key_type,
            point: point.to_vec(),
        }))
    }

    /// Builds a security key public key (`sk-ssh-ed25519@openssh.com` or
    /// `sk-ecdsa-sha2-nistp256@openssh.com`) from its Ed25519 key or SEC1 uncompressed P-256
    /// point and its application string, checking the point and that the application has no
    /// NUL byte (OpenSSH reads it as a C string).
    pub fn security_key(
        key_type: KeyType,
        public: &[u8],
        application: &str,
    ) -> Result<Self, KeyError> {
        if application.contains('\0') {
            return Err(KeyError::InvalidKey(
                "security key application contains NUL",
            ));
        }
        let application = application.to_owned();
        match key_type {
            KeyType::SkEd25519 => {
                let key: [u8; 32] = public
                    .try_into()
                    .map_err(|_| KeyError::InvalidKey("ed25519 public key must be 32 bytes"))?;
                Self::from_ed25519_bytes(key)?;
                Ok(Self(PublicKeyData::SkEd25519 { key, application }))
            }
            KeyType::SkEcdsaNistP256 => {
                validate_ecdsa_point(KeyType::EcdsaNistP256, public)?;
                Ok(Self(PublicKeyData::SkEcdsa {
                    point: public.to_vec(),
                    application,
                }))
            }
            other => Err(KeyError::UnsupportedKeyType(other.name().to_owned())),
        }
    }

    /// Builds an RSA public key from its exponent and modulus (big-endian magnitudes; leading
    /// zeros are removed). Checks the modulus size and that `e` and `n` are odd, `e` ≥ 3.
    pub fn rsa(e: &[u8], n: &[u8]) -> Result<Self, KeyError> {
        let e = trim_zeros(e);
        let n = trim_zeros(n);
        let bits = bit_length(n);
        if bits < RSA_MIN_BITS {
            return Err(KeyError::RsaTooSmall(bits));
        }
        if bits > RSA_MAX_BITS {
            return Err(KeyError::RsaTooLarge(bits));
        }
        let n_odd = matches!(n.last(), Some(b) if b & 1 == 1);
        if !n_odd {
            return Err(KeyError::InvalidKey("rsa modulus must be odd"));
        }
        let e_ok = e.last().is_some_and(|b| b & 1 == 1) && e != [1u8].as_slice();
        if !e_ok || e.len() > n.len() {
            return Err(KeyError::InvalidKey(
                "rsa public exponent must be odd, >= 3 and < n",
            ));
        }
        Ok(Self(PublicKeyData::Rsa {
            e: e.to_vec(),
            n: n.to_vec(),
        }))
    }
}

impl std::fmt::Display for PublicKey {
    /// The OpenSSH public key line without a comment.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_openssh_line(""))
    }
}

/// Reads the leading type name of a blob and resolves it.
pub(crate) fn read_type(r: &mut Reader<'_>) -> Result<KeyType, KeyError> {
    let name = r.string()?;
    match std::str::from_utf8(name) {
        Ok(name) => KeyType::from_name(name),
        Err(_) => Err(KeyError::UnknownKeyType(
            String::from_utf8_lossy(name).into_owned(),
        )),
    }
}

/// Reads the public fields that follow the type name for Ed25519 and ECDSA keys (the same in
/// blobs and in openssh-key-v1 private sections). RSA orders its fields differently in each.
pub(crate) fn read_non_rsa_body(
    key_type: KeyType,
    r: &mut Reader<'_>,
) -> Result<PublicKey, KeyError> {
    match key_type {
        KeyType::Ed25519 => {
            let k: [u8; 32] = r
                .string()?
                .try_into()
                .map_err(|_| KeyError::InvalidKey("ed25519 public key must be 32 bytes"))?;
            PublicKey::from_ed25519_bytes(k)
        }
        KeyType::Rsa => Err(KeyError::InvalidFormat("rsa key read as a non-rsa key")),
        KeyType::SkEd25519 => {
            let key = r.string()?;
            let application = read_application(r)?;
            PublicKey::security_key(KeyType::SkEd25519, key, application)
        }
        KeyType::SkEcdsaNistP256 => {
            if r.string()? != b"nistp256" {
                return Err(KeyError::InvalidKey(
                    "ecdsa curve name does not match the key type",
                ));
            }
            let point = r.string()?;
            let application = read_application(r)?;
            PublicKey::security_key(KeyType::SkEcdsaNistP256, point, application)
        }
        ecdsa => {
            let curve = r.string()?;
            if Some(curve) != ecdsa.curve_name().map(str::as_bytes) {
                return Err(KeyError::InvalidKey(
                    "ecdsa curve name does not match the key type",
                ));
            }
            let point = r.string()?;
            PublicKey::from_ecdsa_point(ecdsa, point)
        }
    }
}

/// A security key's application string (UTF-8 here; OpenSSH reads a C string).
fn read_application<'a>(r: &mut Reader<'a>) -> Result<&'a str, KeyError> {
    std::str::from_utf8(r.string()?)
        .map_err(|_| KeyError::InvalidKey("security key application is not UTF-8"))
}

/// Checks that `point` is a SEC1 uncompressed point on the curve of `key_type`.
fn validate_ecdsa_point(key_type: KeyType, point: &[u8]) -> Result<(), KeyError> {
    let expected_len = match key_type {
        KeyType::EcdsaNistP256 => 65,
        KeyType::EcdsaNistP384 => 97,
        KeyType::EcdsaNistP521 => 133,
        other => return Err(KeyError::NotEcdsa(other)),
    };
    if point.len() != expected_len || point.first() != Some(&0x04) {
        return Err(KeyError::InvalidKey(
            "ecdsa public key must be an uncompressed point",
        ));
    }
    let on_curve = match key_type {
        KeyType::EcdsaNistP256 => p256::ecdsa::VerifyingKey::from_sec1_bytes(point).is_ok(),
        KeyType::EcdsaNistP384 => p384::ecdsa::VerifyingKey::from_sec1_bytes(point).is_ok(),
        _ => p521::ecdsa::VerifyingKey::from_sec1_bytes(point).is_ok(),
    };
    if on_curve {
        Ok(())
    } else {
        Err(KeyError::InvalidKey(
            "ecdsa public key is not a point on its curve",
        ))
    }
}

/// Splits off the first whitespace-separated token.
fn split_token(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => s.split_at(i),
        None => (s, ""),
    }
}

/// Removes leading zero bytes of a big-endian magnitude.
pub(crate) fn trim_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

/// Number of significant bits of a big-endian magnitude.
pub(crate) fn bit_length(bytes: &[u8]) -> usize {
    let bytes = trim_zeros(bytes);
    match bytes.first() {
        None => 0,
        Some(first) => (bytes.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
    }
}
