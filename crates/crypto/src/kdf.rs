//! Key derivation, RFC 4253 §7.2.
//!
//! ```text
//! Initial IV client to server:     HASH(K || H || "A" || session_id)
//! Initial IV server to client:     HASH(K || H || "B" || session_id)
//! Encryption key client to server: HASH(K || H || "C" || session_id)
//! Encryption key server to client: HASH(K || H || "D" || session_id)
//! Integrity key client to server:  HASH(K || H || "E" || session_id)
//! Integrity key server to client:  HASH(K || H || "F" || session_id)
//!
//! K1 = HASH(K || H || X || session_id)
//! K2 = HASH(K || H || K1)
//! K3 = HASH(K || H || K1 || K2)
//! key = K1 || K2 || K3 || ...
//! ```

use zeroize::Zeroizing;

use crate::hash::HashAlg;

/// Derives `len` bytes of key material for `letter` (`b'A'`..=`b'F'`), RFC 4253 §7.2.
///
/// `k_mpint` is the shared secret K already encoded as an `mpint` *with* its `uint32` length,
/// exactly as it is hashed (for the post-quantum hybrids, whose K is hashed as a `string`, that
/// string with its length); `h` is the exchange hash of this key exchange and `session_id` the
/// exchange hash of the first one.
///
/// ```
/// use nacre_crypto::{derive_key, HashAlg};
///
/// let k = [0, 0, 0, 1, 0x2a]; // K = 42 as an mpint with its length
/// let h = [7u8; 32];          // the exchange hash; also the session id on the first exchange
/// // Encryption key client to server ("C") for aes256-ctr: 32 bytes.
/// let key_c = derive_key(HashAlg::Sha256, &k, &h, b'C', &h, 32);
/// // 64 bytes for chacha20-poly1305 need two hash blocks (K1 || K2).
/// let key_long = derive_key(HashAlg::Sha256, &k, &h, b'C', &h, 64);
/// assert_eq!(key_c.len(), 32);
/// assert_eq!(key_long[..32], key_c[..]);
/// // Each letter gives an unrelated key.
/// assert_ne!(derive_key(HashAlg::Sha256, &k, &h, b'D', &h, 32), key_c);
/// ```
pub fn derive_key(
    hash: HashAlg,
    k_mpint: &[u8],
    h: &[u8],
    letter: u8,
    session_id: &[u8],
    len: usize,
) -> Zeroizing<Vec<u8>> {
    derive_with(
        |parts| {
            let mut hasher = hash.hasher();
            for p in parts {
                hasher.update(p);
            }
            Zeroizing::new(hasher.finish())
        },
        k_mpint,
        h,
        letter,
        session_id,
        len,
    )
}

/// [`derive_key`] over any hash, given as a function of the concatenated parts.
pub(crate) fn derive_with<F>(
    hash: F,
    k_mpint: &[u8],
    h: &[u8],
    letter: u8,
    session_id: &[u8],
    len: usize,
) -> Zeroizing<Vec<u8>>
where
    F: Fn(&[&[u8]]) -> Zeroizing<Vec<u8>>,
{
    // Reserve room for one extra hash block so the vector never reallocates (which would leave an
    // unzeroized copy of key material behind).
    let mut out = Zeroizing::new(Vec::with_capacity(len.saturating_add(64)));
    let first = hash(&[k_mpint, h, &[letter], session_id]);
    if first.is_empty() {
        return out;
    }
    out.extend_from_slice(&first);
    while out.len() < len {
        let next = hash(&[k_mpint, h, out.as_slice()]);
        out.extend_from_slice(&next);
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]
    use sha2::Digest as _;

    use super::*;

    const CAVS: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/vectors/nist-cavs-ssh-kdf.rsp"
    );

    #[derive(Default)]
    struct Case {
        count: u32,
        k: Vec<u8>,
        h: Vec<u8>,
        session_id: Vec<u8>,
        /// (letter, expected output)
        outputs: Vec<(u8, Vec<u8>)>,
    }

    fn sha224(parts: &[&[u8]]) -> Zeroizing<Vec<u8>> {
        let mut h = sha2::Sha224::new();
        for p in parts {
            h.update(p);
        }
        Zeroizing::new(h.finalize().to_vec())
    }

    fn derive(section: &str, c: &Case, letter: u8, len: usize) -> Zeroizing<Vec<u8>> {
        let alg = match section {
            "SHA-1" => HashAlg::Sha1,
            "SHA-256" => HashAlg::Sha256,
            "SHA-384" => HashAlg::Sha384,
            "SHA-512" => HashAlg::Sha512,
            // SHA-224 is no SSH kex hash, so HashAlg lacks it; exercise the same code path.
            "SHA-224" => return derive_with(sha224, &c.k, &c.h, letter, &c.session_id, len),
            other => panic!("unknown section {other}"),
        };
        derive_key(alg, &c.k, &c.h, letter, &c.session_id, len)
    }

    fn check(section: &str, c: &Case) -> usize {
        assert_eq!(c.outputs.len(), 6, "case {} of {section}", c.count);
        let letters: Vec<u8> = c.outputs.iter().map(|(l, _)| *l).collect();
        assert_eq!(letters, b"ABCDEF");
        for (letter, want) in &c.outputs {
            let got = derive(section, c, *letter, want.len());
            assert_eq!(
                hex::encode(got.as_slice()),
                hex::encode(want),
                "{section} COUNT={} letter {}",
                c.count,
                *letter as char
            );
        }
        1
    }

    #[test]
    fn nist_cavs_ssh_kdf_all_cases() {
        let text = std::fs::read_to_string(CAVS).expect("shared vectors present");
        let mut section = String::new();
        let mut case: Option<Case> = None;
        let mut checked = 0;
        let mut by_section = std::collections::BTreeMap::<String, usize>::new();
        for raw in text.split('\n') {
            let line = raw.trim_end_matches('\r');
            if line.starts_with('\t') || line.starts_with(' ') || line.starts_with('#') {
                continue; // intermediate values and comments
            }
            if let Some(h) = line.strip_prefix('[') {
                let h = h.trim_end_matches(']');
                if h.starts_with("SHA-") {
                    if let Some(c) = case.take() {
                        checked += check(&section, &c);
                        *by_section.entry(section.clone()).or_default() += 1;
                    }
                    section = h.to_string();
                }
                continue;
            }
            let Some((key, value)) = line.split_once(" = ") else {
                continue;
            };
            let letter = match key {
                "COUNT" => {
                    if let Some(c) = case.take() {
                        checked += check(&section, &c);
                        *by_section.entry(section.clone()).or_default() += 1;
                    }
                    case = Some(Case {
                        count: value.parse().unwrap(),
                        ..Case::default()
                    });
                    continue;
                }
                "K" => {
                    case.as_mut().unwrap().k = hex::decode(value).unwrap();
                    continue;
                }
                "H" => {
                    case.as_mut().unwrap().h = hex::decode(value).unwrap();
                    continue;
                }
                "session_id" => {
                    case.as_mut().unwrap().session_id = hex::decode(value).unwrap();
                    continue;
                }
                "Initial IV (client to server)" => b'A',
                "Initial IV (server to client)" => b'B',
                "Encryption key (client to server)" => b'C',
                "Encryption key (server to client)" => b'D',
                "Integrity key (client to server)" => b'E',
                "Integrity key (server to client)" => b'F',
                other => panic!("unexpected line {other:?}"),
            };
            let c = case.as_mut().unwrap();
            c.outputs.push((letter, hex::decode(value).unwrap()));
        }
        if let Some(c) = case.take() {
            checked += check(&section, &c);
            *by_section.entry(section.clone()).or_default() += 1;
        }
        assert_eq!(checked, 100);
        assert_eq!(by_section.len(), 5, "{by_section:?}");
        assert!(by_section.values().all(|&n| n == 20), "{by_section:?}");
    }

    #[test]
    fn key_extension_matches_definition() {
        // RFC 4253 §7.2 by hand: 3 blocks of SHA-256.
        let (k, h, sid) = (b"\0\0\0\x01\x05".as_slice(), [7u8; 32], [9u8; 32]);
        let out = derive_key(HashAlg::Sha256, k, &h, b'C', &sid, 80);
        let k1 = HashAlg::Sha256.digest(&[k, &h, b"C", &sid].concat());
        let k2 = HashAlg::Sha256.digest(&[k, &h, &k1].concat());
        let k3 = HashAlg::Sha256.digest(&[k, &h, &k1, &k2].concat());
        assert_eq!(out.as_slice(), &[k1, k2, k3].concat()[..80]);
        assert_eq!(derive_key(HashAlg::Sha1, k, &h, b'A', &sid, 0).len(), 0);
    }
}
