//! Key derivation into per-direction packet keys (RFC 4253 §7.2).

use nacre_crypto::{derive_key, CipherAlg, DirectionKeys, HashAlg, MacAlg};

use crate::negotiate::Negotiated;

/// Both directions' key material.
pub struct DerivedKeys {
    /// Client to server.
    pub c2s: DirectionKeys,
    /// Server to client.
    pub s2c: DirectionKeys,
}

fn direction(
    hash: HashAlg,
    k: &[u8],
    h: &[u8],
    session_id: &[u8],
    letters: [u8; 3],
    cipher: CipherAlg,
    mac: Option<MacAlg>,
) -> DirectionKeys {
    let [iv_letter, key_letter, mac_letter] = letters;
    DirectionKeys {
        cipher,
        mac,
        iv: derive_key(hash, k, h, iv_letter, session_id, cipher.iv_len()),
        enc_key: derive_key(hash, k, h, key_letter, session_id, cipher.key_len()),
        mac_key: derive_key(
            hash,
            k,
            h,
            mac_letter,
            session_id,
            mac.map_or(0, MacAlg::key_len),
        ),
    }
}

/// Derives the keys: IVs with "A"/"B", encryption keys with "C"/"D", integrity keys with "E"/"F".
/// `k` is K encoded as hashed: an mpint with its length (a string for the hybrid methods).
pub fn derive(neg: &Negotiated, k: &[u8], h: &[u8], session_id: &[u8]) -> DerivedKeys {
    let hash = neg.kex.hash();
    DerivedKeys {
        c2s: direction(hash, k, h, session_id, *b"ACE", neg.cipher_c2s, neg.mac_c2s),
        s2c: direction(hash, k, h, session_id, *b"BDF", neg.cipher_s2c, neg.mac_s2c),
    }
}
