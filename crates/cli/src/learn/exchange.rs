//! The mapper's side of a curve25519-sha256 key exchange (RFC 8731, RFC 5656 §4): the ephemeral
//! key it sent in KEX_ECDH_INIT, and on the server's KEX_ECDH_REPLY the exchange hash H
//! (RFC 4253 §8) and the packet keys of RFC 4253 §7.2, computed with nacre-transport's own hash
//! and key-derivation code. The keys wait until NEWKEYS is sent (client to server) or received
//! (server to client).

use nacre::crypto::{EcdhCurve, EcdhPrivateKey, PacketKey, Rng};
use nacre::transport::kex::hash::{self, HashPrefix};
use nacre::transport::kex::keys;
use nacre::transport::msg::{KexEcdhReply, KexInit};
use nacre::transport::negotiate::{negotiate, KEX_STRICT_C, KEX_STRICT_S};
use nacre::wire::decode_exact;

/// Packet keys derived by an exchange, each taken when its NEWKEYS passes.
pub struct NewKeys {
    /// Client to server: taken when the mapper sends NEWKEYS.
    pub c2s: Option<PacketKey>,
    /// Server to client: taken when the server's NEWKEYS arrives.
    pub s2c: Option<PacketKey>,
    /// H of this exchange (the session identifier if it is the first).
    pub h: Vec<u8>,
    /// Whether both KEXINITs of this exchange carry the strict kex markers.
    pub strict: bool,
}

/// The ephemeral key of the last KEX_ECDH_INIT.
pub struct Ephemeral {
    key: EcdhPrivateKey,
    /// Q_C as sent.
    pub q_c: Vec<u8>,
}

impl Ephemeral {
    /// A fresh X25519 key.
    pub fn generate(rng: &mut dyn Rng) -> Ephemeral {
        let key = EcdhPrivateKey::generate(EcdhCurve::X25519, rng);
        let q_c = key.public_key();
        Ephemeral { key, q_c }
    }
}

/// What the exchange hash needs besides the reply.
pub struct Transcript<'a> {
    /// V_C and V_S without CR LF.
    pub idents: [&'a [u8]; 2],
    /// I_C: the mapper's last KEXINIT.
    pub i_c: &'a [u8],
    /// I_S: the server's last KEXINIT.
    pub i_s: &'a [u8],
    /// The session identifier, once the first exchange is over.
    pub session_id: Option<&'a [u8]>,
}

/// Computes the keys from the server's KEX_ECDH_REPLY; an error names what did not fit (the
/// algorithms negotiated to something else than curve25519, a malformed reply, a bad point).
pub fn on_reply(t: &Transcript<'_>, eph: &Ephemeral, reply: &[u8]) -> Result<NewKeys, String> {
    let c: KexInit<'_> = decode_exact(t.i_c).map_err(|e| format!("our KEXINIT: {e}"))?;
    let s: KexInit<'_> = decode_exact(t.i_s).map_err(|e| format!("server KEXINIT: {e}"))?;
    let neg = negotiate(&c, &s).map_err(|e| e.to_string())?;
    let r: KexEcdhReply<'_> = decode_exact(reply).map_err(|e| format!("ECDH_REPLY: {e}"))?;
    let k = eph.key.agree(r.q_s).map_err(|e| e.to_string())?;
    let [v_c, v_s] = t.idents;
    let prefix = HashPrefix {
        v_c,
        v_s,
        i_c: t.i_c,
        i_s: t.i_s,
        k_s: r.k_s,
    };
    let h = hash::ecdh_exchange_hash(neg.kex.hash(), &prefix, &eph.q_c, r.q_s, k.as_bytes());
    let derived = keys::derive(
        &neg,
        &hash::encode_k(k.as_bytes()),
        &h,
        t.session_id.unwrap_or(&h),
    );
    let c2s = PacketKey::new(&derived.c2s).map_err(|e| e.to_string())?;
    let s2c = PacketKey::new(&derived.s2c).map_err(|e| e.to_string())?;
    let strict = c.kex_algorithms.contains(KEX_STRICT_C) && s.kex_algorithms.contains(KEX_STRICT_S);
    Ok(NewKeys {
        c2s: Some(c2s),
        s2c: Some(s2c),
        h,
        strict,
    })
}
