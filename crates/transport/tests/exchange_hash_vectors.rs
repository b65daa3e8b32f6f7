//! Exchange hashes against an independent implementation: `scripts/gen-vectors` computes every kex
//! method's public values, shared secret K and exchange hash H with Python's `cryptography` and
//! plain integer arithmetic; this test recomputes all of them with nacre from the same private keys.
//!
//! The post-quantum hybrids come from kyber-py (ML-KEM-768 and ML-KEM-1024, cross-checked with
//! OpenSSL; ECDH on X25519, P-256 and P-384 from OpenSSL) and a plain Python sntrup761
//! (`scripts/sntrup761.py`): nacre's client rebuilds C_INIT from the same KEM and ECDH secrets and decapsulates the vector's S_REPLY to K; for ML-KEM its server also
//! re-encapsulates with the vector's randomness to the same S_REPLY (sntrup761's encapsulation
//! randomness is the Rust crate's own ChaCha20 stream, which the Python side cannot reproduce).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::HashMap;

use nacre_crypto::{
    DhGroup, DhPrivateKey, EcdhCurve, EcdhPrivateKey, HybridKem, HybridPrivateKey, SeededRng,
    SharedSecret,
};
use nacre_transport::kex::hash::{
    dh_exchange_hash, ecdh_exchange_hash, gex_exchange_hash, hybrid_exchange_hash, GexHashParams,
    HashPrefix,
};
use nacre_transport::kex::{KexKind, KexMethod};
use num_bigint::BigUint;

fn load(path: &std::path::Path) -> HashMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains('='))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect()
}

fn hex(v: &HashMap<String, String>, key: &str) -> Vec<u8> {
    hex::decode(v.get(key).unwrap_or_else(|| panic!("missing {key}"))).unwrap()
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// Computes both sides' public values and secrets, checks them, and returns (e/Q_C, f/Q_S, K).
fn agree(method: KexMethod, v: &HashMap<String, String>) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let (cs, ss) = (hex(v, "client_secret"), hex(v, "server_secret"));
    let (cp, sp) = (hex(v, "client_public"), hex(v, "server_public"));
    let check = |a: SharedSecret, b: SharedSecret| {
        assert_eq!(
            a.as_bytes(),
            b.as_bytes(),
            "{}: both sides agree",
            method.name()
        );
        trim(a.as_bytes()).to_vec()
    };
    match method.kind() {
        KexKind::Ecdh(curve) => {
            let c = EcdhPrivateKey::from_bytes(curve, &cs).unwrap();
            let s = EcdhPrivateKey::from_bytes(curve, &ss).unwrap();
            assert_eq!(c.public_key(), cp, "{}: client public", method.name());
            assert_eq!(s.public_key(), sp, "{}: server public", method.name());
            let k = check(c.agree(&sp).unwrap(), s.agree(&cp).unwrap());
            (cp, sp, k)
        }
        KexKind::Dh(group) => dh_agree(method, &group, &cs, &ss, &cp, &sp, check),
        KexKind::Gex => {
            let group = DhGroup::from_be_bytes(&hex(v, "p"), &hex(v, "g")).unwrap();
            dh_agree(method, &group, &cs, &ss, &cp, &sp, check)
        }
        KexKind::Hybrid(kem) => hybrid_agree(method, kem, v),
    }
}

/// The hybrids: C_INIT from the client's secrets, K from S_REPLY, and (ML-KEM) S_REPLY again from
/// the server's randomness. K is the raw hash output (a string: leading zeros kept).
fn hybrid_agree(
    method: KexMethod,
    kem: HybridKem,
    v: &HashMap<String, String>,
) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let name = method.name();
    let (c_init, s_reply) = (hex(v, "client_public"), hex(v, "server_public"));
    assert_eq!(c_init.len(), kem.init_len(), "{name}: C_INIT length");
    assert_eq!(s_reply.len(), kem.reply_len(), "{name}: S_REPLY length");
    let client =
        HybridPrivateKey::from_parts(kem, &hex(v, "client_kem_secret"), &hex(v, "client_secret"))
            .unwrap();
    assert_eq!(client.init(), c_init, "{name}: C_INIT");
    let k = client.finish(&s_reply).unwrap();
    // K_CL: the raw X25519 output, or the X coordinate of the NIST point (field size).
    let classical = match kem.curve() {
        EcdhCurve::X25519 => hex(v, "x25519_shared"),
        _ => hex(v, "ecdh_shared"),
    };
    assert_eq!(
        classical.len(),
        kem.curve().field_len(),
        "{name}: K_CL length"
    );
    assert_eq!(
        kem.hash()
            .digest(&[hex(v, "kem_shared"), classical].concat()),
        hex(v, "K"),
        "{name}: K = HASH(K_PQ || K_CL) in the file"
    );
    let server_ecdh = EcdhPrivateKey::from_bytes(kem.curve(), &hex(v, "server_secret")).unwrap();
    match v.get("server_kem_random") {
        Some(_) => {
            let (reply, k_server) = kem
                .respond_with(&c_init, &hex(v, "server_kem_random"), &server_ecdh)
                .unwrap();
            assert_eq!(reply, s_reply, "{name}: S_REPLY");
            assert_eq!(k_server, k, "{name}: server K");
        }
        None => {
            // Our server's own encapsulation to the vector's public key, decapsulated by the
            // client built from the vector's secret key.
            let mut rng = SeededRng::new(1);
            let (reply, k_server) = kem.respond(&c_init, &mut rng).unwrap();
            assert_eq!(
                client.finish(&reply).unwrap(),
                k_server,
                "{name}: round trip"
            );
        }
    }
    (c_init, s_reply, k.as_bytes().to_vec())
}

fn dh_agree(
    method: KexMethod,
    group: &DhGroup,
    cs: &[u8],
    ss: &[u8],
    cp: &[u8],
    sp: &[u8],
    check: impl Fn(SharedSecret, SharedSecret) -> Vec<u8>,
) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let c = DhPrivateKey::from_exponent(group, cs);
    let s = DhPrivateKey::from_exponent(group, ss);
    assert_eq!(c.public_key().to_bytes_be(), cp, "{}: e", method.name());
    assert_eq!(s.public_key().to_bytes_be(), sp, "{}: f", method.name());
    let k = check(
        c.agree(&BigUint::from_bytes_be(sp)).unwrap(),
        s.agree(&BigUint::from_bytes_be(cp)).unwrap(),
    );
    (cp.to_vec(), sp.to_vec(), k)
}

#[test]
fn every_kex_method_matches_the_independent_exchange_hash() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../vectors/kex");
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("txt") {
            continue;
        }
        let v = load(&path);
        let method = KexMethod::from_name(&v["method"])
            .unwrap_or_else(|| panic!("unknown method in {}", path.display()));
        assert_eq!(
            format!("{:?}", method.hash()).to_lowercase(),
            v["hash"],
            "{}",
            method.name()
        );
        let (v_c, v_s, i_c, i_s, k_s) = (
            hex(&v, "V_C"),
            hex(&v, "V_S"),
            hex(&v, "I_C"),
            hex(&v, "I_S"),
            hex(&v, "K_S"),
        );
        let prefix = HashPrefix {
            v_c: &v_c,
            v_s: &v_s,
            i_c: &i_c,
            i_s: &i_s,
            k_s: &k_s,
        };
        let (client_public, server_public, k) = agree(method, &v);
        assert_eq!(k, hex(&v, "K"), "{}: K", method.name());
        let h = match method.kind() {
            KexKind::Ecdh(_) => {
                ecdh_exchange_hash(method.hash(), &prefix, &client_public, &server_public, &k)
            }
            KexKind::Dh(_) => {
                dh_exchange_hash(method.hash(), &prefix, &client_public, &server_public, &k)
            }
            KexKind::Hybrid(_) => {
                hybrid_exchange_hash(method.hash(), &prefix, &client_public, &server_public, &k)
            }
            KexKind::Gex => {
                let (p, g) = (hex(&v, "p"), hex(&v, "g"));
                let params = GexHashParams {
                    min: v["min"].parse().unwrap(),
                    n: v["n"].parse().unwrap(),
                    max: v["max"].parse().unwrap(),
                    p: &p,
                    g: &g,
                };
                gex_exchange_hash(
                    method.hash(),
                    &prefix,
                    &params,
                    &client_public,
                    &server_public,
                    &k,
                )
            }
        };
        assert_eq!(hex::encode(h), v["H"], "{}: H", method.name());
        seen.push(method);
    }
    for m in KexMethod::ALL {
        assert!(seen.contains(m), "no vector for {}", m.name());
    }
    assert_eq!(seen.len(), KexMethod::ALL.len());
}
