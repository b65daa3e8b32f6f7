//! ECDH known answers and public-key validation (RFC 7748, RFC 8731, RFC 5903, RFC 5656).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use nacre_crypto::{CryptoError, EcdhCurve, EcdhPrivateKey, SeededRng};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).unwrap()
}

const ALL: [EcdhCurve; 4] = [
    EcdhCurve::X25519,
    EcdhCurve::NistP256,
    EcdhCurve::NistP384,
    EcdhCurve::NistP521,
];

#[test]
fn x25519_rfc7748_section_6_1() {
    let alice = EcdhPrivateKey::from_bytes(
        EcdhCurve::X25519,
        &h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"),
    )
    .unwrap();
    let bob = EcdhPrivateKey::from_bytes(
        EcdhCurve::X25519,
        &h("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"),
    )
    .unwrap();
    assert_eq!(
        hex::encode(alice.public_key()),
        "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
    );
    assert_eq!(
        hex::encode(bob.public_key()),
        "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
    );
    let k = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
    assert_eq!(
        hex::encode(alice.agree(&bob.public_key()).unwrap().as_bytes()),
        k
    );
    assert_eq!(
        hex::encode(bob.agree(&alice.public_key()).unwrap().as_bytes()),
        k
    );
}

#[test]
fn x25519_low_order_points_give_zero_secret() {
    let me = EcdhPrivateKey::generate(EcdhCurve::X25519, &mut SeededRng::new(1));
    // u = 0, u = 1 and p (≡ 0) are of small order: the output is all zero (RFC 7748 §6.1).
    let mut p = h("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
    for peer in [
        vec![0u8; 32],
        {
            let mut one = vec![0u8; 32];
            one[0] = 1;
            one
        },
        std::mem::take(&mut p),
    ] {
        assert_eq!(me.agree(&peer), Err(CryptoError::ZeroSharedSecret));
    }
    assert!(matches!(
        me.agree(&[9u8; 31]),
        Err(CryptoError::InvalidPublicKey(_))
    ));
    assert!(matches!(
        me.agree(&[9u8; 33]),
        Err(CryptoError::InvalidPublicKey(_))
    ));
}

#[test]
fn p256_rfc5903_section_8_1() {
    let i = "C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433";
    let gi = "04 DAD0B65394221CF9B051E1FECA5787D098DFE637FC90B9EF945D0C3772581180
                 5271A0461CDB8252D61F1C456FA3E59AB1F45B33ACCF5F58389E0577B8990BB3";
    let r = "C6EF9C5D78AE012A011164ACB397CE2088685D8F06BF9BE0B283AB46476BEE53";
    let gr = "04 D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF63
                 56FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB";
    let girx = "D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE";
    let ki = EcdhPrivateKey::from_bytes(EcdhCurve::NistP256, &h(i)).unwrap();
    let kr = EcdhPrivateKey::from_bytes(EcdhCurve::NistP256, &h(r)).unwrap();
    assert_eq!(ki.public_key(), h(gi));
    assert_eq!(kr.public_key(), h(gr));
    assert_eq!(ki.agree(&h(gr)).unwrap().as_bytes(), &h(girx)[..]);
    assert_eq!(kr.agree(&h(gi)).unwrap().as_bytes(), &h(girx)[..]);
}

#[test]
fn generated_keys_agree_on_every_curve() {
    let mut rng = SeededRng::new(42);
    for curve in ALL {
        let a = EcdhPrivateKey::generate(curve, &mut rng);
        let b = EcdhPrivateKey::generate(curve, &mut rng);
        assert_eq!(a.curve(), curve);
        let (pa, pb) = (a.public_key(), b.public_key());
        assert_eq!(pa.len(), curve.public_len());
        assert_ne!(pa, pb);
        let (ka, kb) = (a.agree(&pb).unwrap(), b.agree(&pa).unwrap());
        assert_eq!(ka.as_bytes(), kb.as_bytes(), "{curve:?}");
        assert_eq!(ka.as_bytes().len(), curve.field_len());
        // deterministic under a seeded RNG
        let again = EcdhPrivateKey::generate(curve, &mut SeededRng::new(7)).public_key();
        assert_eq!(
            again,
            EcdhPrivateKey::generate(curve, &mut SeededRng::new(7)).public_key()
        );
        assert!(!format!("{a:?}").contains(&hex::encode(&pa)));
    }
}

#[test]
fn nist_invalid_points_are_refused() {
    let mut rng = SeededRng::new(3);
    for curve in [
        EcdhCurve::NistP256,
        EcdhCurve::NistP384,
        EcdhCurve::NistP521,
    ] {
        let me = EcdhPrivateKey::generate(curve, &mut rng);
        let good = EcdhPrivateKey::generate(curve, &mut rng).public_key();
        me.agree(&good).unwrap();
        // off the curve: change y
        let mut off = good.clone();
        *off.last_mut().unwrap() ^= 1;
        assert!(
            matches!(me.agree(&off), Err(CryptoError::InvalidPublicKey(_))),
            "{curve:?}"
        );
        // wrong lengths
        assert!(matches!(
            me.agree(&good[..good.len() - 1]),
            Err(CryptoError::InvalidPublicKey(_))
        ));
        assert!(matches!(
            me.agree(&[good.clone(), vec![0]].concat()),
            Err(CryptoError::InvalidPublicKey(_))
        ));
        assert!(matches!(
            me.agree(&[]),
            Err(CryptoError::InvalidPublicKey(_))
        ));
        // compressed form (same x) is refused, even padded to the uncompressed length
        let mut compressed = good.clone();
        compressed[0] = 0x02;
        assert!(matches!(
            me.agree(&compressed),
            Err(CryptoError::InvalidPublicKey(_))
        ));
        // identity / all-zero coordinates
        let mut zero = vec![0u8; good.len()];
        assert!(matches!(
            me.agree(&zero),
            Err(CryptoError::InvalidPublicKey(_))
        ));
        zero[0] = 0x04;
        assert!(matches!(
            me.agree(&zero),
            Err(CryptoError::InvalidPublicKey(_))
        ));
    }
}

#[test]
fn private_key_bytes_are_checked() {
    assert!(matches!(
        EcdhPrivateKey::from_bytes(EcdhCurve::X25519, &[1; 31]),
        Err(CryptoError::InvalidLength { .. })
    ));
    assert!(matches!(
        EcdhPrivateKey::from_bytes(EcdhCurve::NistP256, &[0; 32]),
        Err(CryptoError::InvalidPublicKey(_))
    ));
    assert!(matches!(
        EcdhPrivateKey::from_bytes(EcdhCurve::NistP384, &[0xff; 48]),
        Err(CryptoError::InvalidPublicKey(_))
    ));
    EcdhPrivateKey::from_bytes(
        EcdhCurve::NistP521,
        &[[0x01].as_slice(), &[0x55; 65]].concat(),
    )
    .unwrap();
}

#[test]
fn shared_secret_mpint() {
    use nacre_crypto::SharedSecret;
    let cases: [(&[u8], &str); 4] = [
        (&[], "00000000"),
        (&[0, 0, 0x12, 0x34], "000000021234"),
        (&[0x80, 1], "000000030080 01"),
        (&[0, 0xff], "0000000200ff"),
    ];
    for (raw, want) in cases {
        let k = SharedSecret::from_bytes(raw.to_vec());
        assert_eq!(hex::encode(k.to_mpint().as_slice()), want.replace(' ', ""));
        assert_eq!(k.as_bytes(), raw);
    }
    assert_eq!(
        format!("{:?}", SharedSecret::from_bytes(vec![1, 2, 3])),
        "SharedSecret(..)"
    );
}
