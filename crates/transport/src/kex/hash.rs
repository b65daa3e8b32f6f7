//! Exchange hash H (RFC 4253 §8, RFC 4419 §3, RFC 5656 §4, RFC 8731 §3,
//! draft-ietf-sshm-mlkem-hybrid-kex, draft-josefsson-ntruprime-ssh) and the encoding of K.

use nacre_crypto::HashAlg;
use nacre_wire::put;
use zeroize::Zeroizing;

/// The inputs every exchange hash starts with.
#[derive(Clone, Copy, Debug)]
pub struct HashPrefix<'a> {
    /// V_C, the client's identification string (without CR LF).
    pub v_c: &'a [u8],
    /// V_S, the server's identification string.
    pub v_s: &'a [u8],
    /// I_C, the payload of the client's KEXINIT.
    pub i_c: &'a [u8],
    /// I_S, the payload of the server's KEXINIT.
    pub i_s: &'a [u8],
    /// K_S, the host key blob.
    pub k_s: &'a [u8],
}

impl HashPrefix<'_> {
    fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(
            20 + self.v_c.len()
                + self.v_s.len()
                + self.i_c.len()
                + self.i_s.len()
                + self.k_s.len()
                + 2048,
        ));
        for part in [self.v_c, self.v_s, self.i_c, self.i_s, self.k_s] {
            put::string(&mut out, part);
        }
        out
    }
}

/// K as hashed and used by the key derivation: an mpint with its length (RFC 4253 §7.2).
pub fn encode_k(k: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(k.len() + 5));
    put::mpint_unsigned(&mut out, k);
    out
}

/// K of the post-quantum hybrid methods as hashed and used by the key derivation: a `string`
/// (draft-ietf-sshm-mlkem-hybrid-kex §2.4; OpenSSH's `kex_derive_keys` takes the same blob).
pub fn encode_k_string(k: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(k.len() + 4));
    put::string(&mut out, k);
    out
}

/// H for the post-quantum hybrids: `... || string C_INIT || string S_REPLY || string K`, where
/// C_INIT is the KEM public key || X25519 public key and S_REPLY the KEM ciphertext || X25519
/// public key.
pub fn hybrid_exchange_hash(
    alg: HashAlg,
    prefix: &HashPrefix<'_>,
    c_init: &[u8],
    s_reply: &[u8],
    k: &[u8],
) -> Vec<u8> {
    let mut data = prefix.encode();
    put::string(&mut data, c_init);
    put::string(&mut data, s_reply);
    put::string(&mut data, k);
    alg.digest(&data)
}

/// H for ECDH and curve25519: `... || string Q_C || string Q_S || mpint K`.
pub fn ecdh_exchange_hash(
    alg: HashAlg,
    prefix: &HashPrefix<'_>,
    q_c: &[u8],
    q_s: &[u8],
    k: &[u8],
) -> Vec<u8> {
    let mut data = prefix.encode();
    put::string(&mut data, q_c);
    put::string(&mut data, q_s);
    put::mpint_unsigned(&mut data, k);
    alg.digest(&data)
}

/// H for fixed-group DH: `... || mpint e || mpint f || mpint K`.
pub fn dh_exchange_hash(
    alg: HashAlg,
    prefix: &HashPrefix<'_>,
    e: &[u8],
    f: &[u8],
    k: &[u8],
) -> Vec<u8> {
    let mut data = prefix.encode();
    put::mpint_unsigned(&mut data, e);
    put::mpint_unsigned(&mut data, f);
    put::mpint_unsigned(&mut data, k);
    alg.digest(&data)
}

/// The group exchange parameters hashed in H (RFC 4419 §3).
#[derive(Clone, Copy, Debug)]
pub struct GexHashParams<'a> {
    /// min.
    pub min: u32,
    /// n.
    pub n: u32,
    /// max.
    pub max: u32,
    /// p (big-endian magnitude).
    pub p: &'a [u8],
    /// g (big-endian magnitude).
    pub g: &'a [u8],
}

/// H for group exchange: `... || uint32 min || uint32 n || uint32 max || mpint p || mpint g ||
/// mpint e || mpint f || mpint K`.
pub fn gex_exchange_hash(
    alg: HashAlg,
    prefix: &HashPrefix<'_>,
    params: &GexHashParams<'_>,
    e: &[u8],
    f: &[u8],
    k: &[u8],
) -> Vec<u8> {
    let mut data = prefix.encode();
    put::uint32(&mut data, params.min);
    put::uint32(&mut data, params.n);
    put::uint32(&mut data, params.max);
    put::mpint_unsigned(&mut data, params.p);
    put::mpint_unsigned(&mut data, params.g);
    put::mpint_unsigned(&mut data, e);
    put::mpint_unsigned(&mut data, f);
    put::mpint_unsigned(&mut data, k);
    alg.digest(&data)
}
