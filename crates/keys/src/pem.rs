//! Text armour (RFC 7468, with the RFC 1421 headers of legacy OpenSSL files) and the PEM private
//! key formats OpenSSH reads besides its own: PKCS#1 `RSA PRIVATE KEY` (RFC 8017 §A.1.2), SEC1
//! `EC PRIVATE KEY` (RFC 5915 §3) and PKCS#8 `PRIVATE KEY` (RFC 5208 §5, RFC 8410 §7 for Ed25519).

use base64::Engine as _;
use zeroize::Zeroizing;

use crate::der::{self, Der};
use crate::{KeyError, KeyType, PrivateKey};

/// An armoured block: its label and decoded contents.
pub(crate) struct Armor {
    pub(crate) label: String,
    pub(crate) encrypted_header: bool,
    /// The value of a legacy `DEK-Info:` header (`AES-128-CBC,<hex IV>`).
    pub(crate) dek_info: Option<String>,
    pub(crate) body: Zeroizing<Vec<u8>>,
}

/// Finds the first `-----BEGIN label-----` block and decodes its base64 body. Legacy
/// `Proc-Type: 4,ENCRYPTED` headers are reported in `encrypted_header`.
pub(crate) fn decode_armor(text: &[u8]) -> Result<Armor, KeyError> {
    let text =
        std::str::from_utf8(text).map_err(|_| KeyError::InvalidFormat("key file is not text"))?;
    let mut lines = text.lines().map(str::trim);
    let label = lines
        .by_ref()
        .find_map(|l| {
            l.strip_prefix("-----BEGIN ")
                .and_then(|l| l.strip_suffix("-----"))
        })
        .ok_or(KeyError::InvalidFormat("no -----BEGIN line"))?
        .to_owned();
    let end = format!("-----END {label}-----");
    let mut b64 = Zeroizing::new(String::with_capacity(text.len()));
    let mut encrypted_header = false;
    let mut dek_info = None;
    let mut ended = false;
    for line in lines {
        if line == end {
            ended = true;
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("Proc-Type") && value.contains("ENCRYPTED") {
                encrypted_header = true;
            }
            if name.trim().eq_ignore_ascii_case("DEK-Info") {
                dek_info = Some(value.trim().to_owned());
            }
            continue;
        }
        b64.push_str(line);
    }
    if !ended {
        return Err(KeyError::InvalidFormat("no matching -----END line"));
    }
    let body = crate::BASE64_LENIENT
        .decode(b64.as_bytes())
        .map_err(|_| KeyError::InvalidFormat("invalid base64 in key file"))?;
    Ok(Armor {
        label,
        encrypted_header,
        dek_info,
        body: Zeroizing::new(body),
    })
}

/// Object identifier values (content bytes only).
const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];

fn curve_from_oid(oid: &[u8]) -> Result<KeyType, KeyError> {
    match oid {
        OID_P256 => Ok(KeyType::EcdsaNistP256),
        OID_P384 => Ok(KeyType::EcdsaNistP384),
        OID_P521 => Ok(KeyType::EcdsaNistP521),
        _ => Err(KeyError::UnsupportedKeyType(
            "ecdsa on an unsupported curve".to_owned(),
        )),
    }
}

/// Decodes an armoured PEM private key whose label is not `OPENSSH PRIVATE KEY`.
pub(crate) fn decode_pem(armor: &Armor) -> Result<PrivateKey, KeyError> {
    if armor.encrypted_header || armor.label == "ENCRYPTED PRIVATE KEY" {
        return Err(KeyError::Encrypted);
    }
    match armor.label.as_str() {
        "RSA PRIVATE KEY" => decode_pkcs1(&armor.body),
        "EC PRIVATE KEY" => decode_sec1(&armor.body, None),
        "PRIVATE KEY" => decode_pkcs8(&armor.body),
        "DSA PRIVATE KEY" => Err(KeyError::UnsupportedKeyType("ssh-dss".to_owned())),
        _ => Err(KeyError::InvalidFormat("unknown PEM label")),
    }
}

/// PKCS#1 `RSAPrivateKey ::= SEQUENCE { version, n, e, d, p, q, dP, dQ, qInv }` (RFC 8017 §A.1.2).
pub(crate) fn decode_pkcs1(der_bytes: &[u8]) -> Result<PrivateKey, KeyError> {
    let mut outer = Der::new(der_bytes);
    let mut seq = outer.sequence()?;
    outer.finish("DER: data after RSAPrivateKey")?;
    if seq.small_uint()? != 0 {
        return Err(KeyError::UnsupportedKeyType("multi-prime rsa".to_owned()));
    }
    let n = seq.unsigned()?;
    let e = seq.unsigned()?;
    let d = seq.unsigned()?;
    let p = seq.unsigned()?;
    let q = seq.unsigned()?;
    let _dp = seq.unsigned()?;
    let _dq = seq.unsigned()?;
    let qinv = seq.unsigned()?;
    seq.finish("DER: data after RSAPrivateKey fields")?;
    PrivateKey::from_rsa_components(n, e, d, qinv, p, q)
}

/// SEC1 `ECPrivateKey ::= SEQUENCE { version 1, privateKey OCTET STRING, [0] parameters
/// OPTIONAL, [1] publicKey OPTIONAL }` (RFC 5915 §3). `curve` comes from PKCS#8 when wrapped.
pub(crate) fn decode_sec1(
    der_bytes: &[u8],
    curve: Option<KeyType>,
) -> Result<PrivateKey, KeyError> {
    let mut outer = Der::new(der_bytes);
    let mut seq = outer.sequence()?;
    outer.finish("DER: data after ECPrivateKey")?;
    if seq.small_uint()? != 1 {
        return Err(KeyError::InvalidFormat("ECPrivateKey version must be 1"));
    }
    let d = seq.expect(
        der::OCTET_STRING,
        "DER: expected the private key OCTET STRING",
    )?;
    let mut curve = curve;
    if let Some(params) = seq.optional_context(0)? {
        let mut p = Der::new(params);
        let oid = p.expect(der::OID, "DER: expected a named curve")?;
        p.finish("DER: data after the curve OID")?;
        let named = curve_from_oid(oid)?;
        if curve.is_some_and(|c| c != named) {
            return Err(KeyError::InvalidFormat(
                "PKCS#8 and SEC1 name different curves",
            ));
        }
        curve = Some(named);
    }
    let public = seq.optional_context(1)?;
    seq.finish("DER: data after ECPrivateKey fields")?;
    let curve = curve.ok_or(KeyError::InvalidFormat("ECPrivateKey names no curve"))?;
    let key = PrivateKey::from_ecdsa_scalar(curve, d)?;
    if let Some(public) = public {
        let mut p = Der::new(public);
        let bits = p.expect(der::BIT_STRING, "DER: expected the public key BIT STRING")?;
        p.finish("DER: data after the public key")?;
        let point = match bits.split_first() {
            Some((0, point)) => point,
            _ => {
                return Err(KeyError::InvalidFormat(
                    "DER: malformed public key BIT STRING",
                ))
            }
        };
        if key.public_key().ecdsa_point() != Some(point) {
            return Err(KeyError::InvalidKey(
                "ecdsa public key does not match the private key",
            ));
        }
    }
    Ok(key)
}

/// PKCS#8 `PrivateKeyInfo ::= SEQUENCE { version, AlgorithmIdentifier, privateKey OCTET STRING,
/// ... }` (RFC 5208 §5, RFC 5958 §2).
pub(crate) fn decode_pkcs8(der_bytes: &[u8]) -> Result<PrivateKey, KeyError> {
    let mut outer = Der::new(der_bytes);
    let mut seq = outer.sequence()?;
    outer.finish("DER: data after PrivateKeyInfo")?;
    if seq.small_uint()? > 1 {
        return Err(KeyError::InvalidFormat("unknown PrivateKeyInfo version"));
    }
    let mut alg = seq.sequence()?;
    let oid = alg.expect(der::OID, "DER: expected an algorithm OID")?;
    let private = seq.expect(
        der::OCTET_STRING,
        "DER: expected the private key OCTET STRING",
    )?;
    // Attributes [0] and the public key [1] of RFC 5958 may follow; they are not needed.
    match oid {
        OID_RSA_ENCRYPTION => {
            if !alg.is_empty() {
                alg.expect(der::NULL, "DER: rsaEncryption parameters must be NULL")?;
            }
            alg.finish("DER: data after the algorithm parameters")?;
            decode_pkcs1(private)
        }
        OID_EC_PUBLIC_KEY => {
            let curve = curve_from_oid(alg.expect(der::OID, "DER: expected a named curve")?)?;
            alg.finish("DER: data after the algorithm parameters")?;
            decode_sec1(private, Some(curve))
        }
        OID_ED25519 => {
            alg.finish("DER: Ed25519 takes no parameters")?;
            let mut inner = Der::new(private);
            let seed = inner.expect(der::OCTET_STRING, "DER: expected the Ed25519 seed")?;
            inner.finish("DER: data after the Ed25519 seed")?;
            let seed: &[u8; 32] = seed
                .try_into()
                .map_err(|_| KeyError::InvalidKey("ed25519 seed must be 32 bytes"))?;
            Ok(PrivateKey::from_ed25519_seed(seed))
        }
        _ => Err(KeyError::UnsupportedKeyType("PKCS#8 algorithm".to_owned())),
    }
}
