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
/// exactly as it is hashed; `h` is the exchange hash of this key exchange and `session_id` the
/// exchange hash of the first one.
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
