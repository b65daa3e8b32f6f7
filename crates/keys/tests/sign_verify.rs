//! Signing and verification: round trips, tampering, algorithm mismatches, known answers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{read, vectors_dir};
use nacre_keys::{KeyError, KeyType, PrivateKey, PublicKey, SignatureAlgorithm};
use rand_core::OsRng;

/// One key of every type: Ed25519, the three ECDSA curves and a 2048-bit RSA key.
fn signing_keys() -> Vec<PrivateKey> {
    let dir = vectors_dir();
    vec![
        PrivateKey::from_openssh(&read(&dir.join("ed25519_1"))).unwrap(),
        PrivateKey::generate_ed25519(&mut OsRng),
        PrivateKey::from_openssh(&read(&dir.join("ecdsa_1"))).unwrap(),
        PrivateKey::generate_ecdsa(KeyType::EcdsaNistP256, &mut OsRng).unwrap(),
        PrivateKey::generate_ecdsa(KeyType::EcdsaNistP384, &mut OsRng).unwrap(),
        PrivateKey::from_openssh(&read(&dir.join("ecdsa_2"))).unwrap(),
        PrivateKey::generate_ecdsa(KeyType::EcdsaNistP521, &mut OsRng).unwrap(),
        PrivateKey::from_openssh(&read(&dir.join("rsa_2"))).unwrap(),
    ]
}

#[test]
fn sign_verify_round_trip_every_algorithm() {
    let data = b"exchange hash H";
    for key in signing_keys() {
        let public = key.public_key();
        // Every algorithm of every key, legacy `ssh-rsa` (SHA-1, RustCrypto fallback) included.
        for &alg in key.key_type().signature_algorithms() {
            let sig = key
                .sign(alg, data)
                .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
            assert_eq!(common::blob_algorithm(&sig), alg);
            public
                .verify(alg, data, &sig)
                .unwrap_or_else(|e| panic!("{alg:?}: {e}"));

            // Wrong data.
            assert!(
                matches!(
                    public.verify(alg, b"exchange hash X", &sig),
                    Err(KeyError::BadSignature)
                ),
                "{alg:?}"
            );
            // Every flipped byte of the signature proper (after the algorithm name) fails.
            let sig_start = 4 + alg.name().len() + 4;
            for i in sig_start..sig.len() {
                let mut bad = sig.clone();
                bad[i] ^= 0x01;
                assert!(
                    public.verify(alg, data, &bad).is_err(),
                    "{alg:?}: flip at {i} verified"
                );
            }
            // A flipped byte in the name: the algorithm no longer matches.
            let mut bad = sig.clone();
            bad[6] ^= 0x20;
            assert!(
                matches!(
                    public.verify(alg, data, &bad),
                    Err(KeyError::SignatureAlgorithmMismatch { .. })
                ),
                "{alg:?}"
            );
            // Trailing bytes after the blob.
            let mut long = sig.clone();
            long.push(0);
            assert!(matches!(
                public.verify(alg, data, &long),
                Err(KeyError::Wire(_))
            ));
        }
    }
}

#[test]
fn wrong_algorithm_for_the_key_fails() {
    let data = b"data";
    for key in signing_keys() {
        let public = key.public_key();
        let own = key.key_type().signature_algorithms()[0];
        let sig = key.sign(own, data).unwrap();
        for &other in SignatureAlgorithm::ALL {
            if key.key_type().supports(other) {
                continue;
            }
            assert!(
                matches!(
                    key.sign(other, data),
                    Err(KeyError::IncompatibleAlgorithm { .. })
                ),
                "{:?} signed {other:?}",
                key.key_type()
            );
            assert!(
                matches!(
                    public.verify(other, data, &sig),
                    Err(KeyError::IncompatibleAlgorithm { .. })
                ),
                "{:?} verified as {other:?}",
                key.key_type()
            );
        }
    }
}

#[test]
fn rsa_signature_algorithms_are_not_interchangeable() {
    let key = PrivateKey::from_openssh(&read(&vectors_dir().join("rsa_2"))).unwrap();
    let public = key.public_key();
    let sig256 = key.sign(SignatureAlgorithm::RsaSha256, b"m").unwrap();
    let sig512 = key.sign(SignatureAlgorithm::RsaSha512, b"m").unwrap();
    assert!(matches!(
        public.verify(SignatureAlgorithm::RsaSha512, b"m", &sig256),
        Err(KeyError::SignatureAlgorithmMismatch { .. })
    ));
    // Same bytes relabelled as rsa-sha2-512: the padding's digest differs.
    let (_, raw256) = nacre_keys::decode_signature_blob(&sig256).unwrap();
    let relabelled = nacre_keys::encode_signature_blob(SignatureAlgorithm::RsaSha512, raw256);
    assert!(matches!(
        public.verify(SignatureAlgorithm::RsaSha512, b"m", &relabelled),
        Err(KeyError::BadSignature)
    ));
    public
        .verify(SignatureAlgorithm::RsaSha512, b"m", &sig512)
        .unwrap();
}

#[test]
fn ecdsa_is_deterministic_and_curves_do_not_mix() {
    let p256 = PrivateKey::from_openssh(&read(&vectors_dir().join("ecdsa_1"))).unwrap();
    let a = p256.sign(SignatureAlgorithm::EcdsaNistP256, b"m").unwrap();
    let b = p256.sign(SignatureAlgorithm::EcdsaNistP256, b"m").unwrap();
    assert_eq!(a, b, "RFC 6979 signatures are deterministic");
    let p521 = PrivateKey::from_openssh(&read(&vectors_dir().join("ecdsa_2"))).unwrap();
    assert!(matches!(
        p521.public_key()
            .verify(SignatureAlgorithm::EcdsaNistP256, b"m", &a),
        Err(KeyError::IncompatibleAlgorithm { .. })
    ));
}

/// `rsa_1` is 1024 bits: *ring* refuses it, the RustCrypto fallback signs every RSA algorithm.
#[test]
fn rsa_1024_signs_with_the_fallback() {
    let key = PrivateKey::from_openssh(&read(&vectors_dir().join("rsa_1"))).unwrap();
    assert_eq!(key.public_key().bits(), 1024);
    let public = key.public_key();
    for alg in [
        SignatureAlgorithm::RsaSha256,
        SignatureAlgorithm::RsaSha512,
        SignatureAlgorithm::SshRsa,
    ] {
        let sig = key
            .sign(alg, b"m")
            .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert_eq!(common::blob_algorithm(&sig), alg);
        let (_, raw) = nacre_keys::decode_signature_blob(&sig).unwrap();
        assert_eq!(raw.len(), 128, "{alg:?}: as long as the modulus");
        public
            .verify(alg, b"m", &sig)
            .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert!(matches!(
            public.verify(alg, b"x", &sig),
            Err(KeyError::BadSignature)
        ));
        // PKCS#1 v1.5 is deterministic; blinding does not change the result.
        assert_eq!(key.sign(alg, b"m").unwrap(), sig, "{alg:?}");
    }
}

/// `ssh-rsa` (SHA-1) signatures of a 2048-bit key (fallback) and `rsa-sha2-*` (*ring*) do not mix.
#[test]
fn ssh_rsa_signature_is_sha1() {
    let key = PrivateKey::from_openssh(&read(&vectors_dir().join("rsa_2"))).unwrap();
    let public = key.public_key();
    let sig = key.sign(SignatureAlgorithm::SshRsa, b"m").unwrap();
    public
        .verify(SignatureAlgorithm::SshRsa, b"m", &sig)
        .unwrap();
    let (_, raw) = nacre_keys::decode_signature_blob(&sig).unwrap();
    assert_eq!(raw.len(), 256);
    for other in [SignatureAlgorithm::RsaSha256, SignatureAlgorithm::RsaSha512] {
        let relabelled = nacre_keys::encode_signature_blob(other, raw);
        assert!(matches!(
            public.verify(other, b"m", &relabelled),
            Err(KeyError::BadSignature)
        ));
    }
    assert_eq!(
        key.sign(SignatureAlgorithm::SshRsa, b"m").unwrap(),
        sig,
        "deterministic"
    );
}

/// RFC 8032 §7.1, TEST 1 (empty message), wrapped as an SSH signature blob (RFC 8709 §6).
#[test]
fn ed25519_rfc8032_known_answer() {
    let seed: [u8; 32] =
        hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .unwrap()
            .try_into()
            .unwrap();
    let key = PrivateKey::from_ed25519_seed(&seed);
    assert_eq!(
        hex::encode(key.public_key().ed25519_bytes().unwrap()),
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    );
    let expected = hex::decode(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    )
    .unwrap();
    let blob = key.sign(SignatureAlgorithm::Ed25519, b"").unwrap();
    assert_eq!(
        blob,
        nacre_keys::encode_signature_blob(SignatureAlgorithm::Ed25519, &expected)
    );
    key.public_key()
        .verify(SignatureAlgorithm::Ed25519, b"", &blob)
        .unwrap();
}

#[test]
fn ecdsa_signature_encoding_is_checked() {
    let key = PrivateKey::generate_ecdsa(KeyType::EcdsaNistP256, &mut OsRng).unwrap();
    let public = key.public_key();
    let alg = SignatureAlgorithm::EcdsaNistP256;
    let mpint = |v: &[u8]| {
        let mut out = (v.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(v);
        out
    };
    let blob = |inner: Vec<u8>| nacre_keys::encode_signature_blob(alg, &inner);
    // r = 0 and s = 0 (zero is the empty mpint).
    let zero = blob([mpint(&[]), mpint(&[])].concat());
    assert!(matches!(
        public.verify(alg, b"m", &zero),
        Err(KeyError::BadSignature)
    ));
    // r too wide for the curve.
    let wide = blob([mpint(&[0x01; 33]), mpint(&[0x01])].concat());
    assert!(matches!(
        public.verify(alg, b"m", &wide),
        Err(KeyError::BadSignature)
    ));
    // Negative r.
    let negative = blob([mpint(&[0x80]), mpint(&[0x01])].concat());
    assert!(matches!(
        public.verify(alg, b"m", &negative),
        Err(KeyError::Wire(_))
    ));
    // Trailing data inside the signature string.
    let good = key.sign(alg, b"m").unwrap();
    let (_, inner) = nacre_keys::decode_signature_blob(&good).unwrap();
    let mut trailing = inner.to_vec();
    trailing.push(0);
    assert!(matches!(
        public.verify(alg, b"m", &blob(trailing)),
        Err(KeyError::Wire(_))
    ));
}

#[test]
fn ed25519_wrong_length_signature_fails() {
    let key = PrivateKey::generate_ed25519(&mut OsRng);
    let alg = SignatureAlgorithm::Ed25519;
    let short = nacre_keys::encode_signature_blob(alg, &[0u8; 63]);
    assert!(matches!(
        key.public_key().verify(alg, b"m", &short),
        Err(KeyError::BadSignature)
    ));
}

#[test]
fn algorithm_names() {
    for &alg in SignatureAlgorithm::ALL {
        assert_eq!(SignatureAlgorithm::from_name(alg.name()), Some(alg));
        assert!(alg.key_type().signature_algorithms().contains(&alg));
    }
    assert_eq!(SignatureAlgorithm::from_name("ssh-dss"), None);
    assert!(SignatureAlgorithm::SshRsa.is_legacy());
    assert!(!SignatureAlgorithm::RsaSha256.is_legacy());
    assert_eq!(
        KeyType::Rsa.signature_algorithms(),
        [
            SignatureAlgorithm::RsaSha512,
            SignatureAlgorithm::RsaSha256,
            SignatureAlgorithm::SshRsa
        ]
    );
    assert_eq!(KeyType::EcdsaNistP384.name(), "ecdsa-sha2-nistp384");
    assert_eq!(SignatureAlgorithm::RsaSha256.key_type().name(), "ssh-rsa");
    assert!(matches!(
        KeyType::from_name("ssh-dss"),
        Err(KeyError::UnsupportedKeyType(_))
    ));
    assert!(matches!(
        KeyType::from_name("ssh-foo"),
        Err(KeyError::UnknownKeyType(_))
    ));
    assert!(matches!(
        PrivateKey::generate_ecdsa(KeyType::Rsa, &mut OsRng),
        Err(KeyError::NotEcdsa(KeyType::Rsa))
    ));
    let _: &PublicKey = &PrivateKey::generate_ed25519(&mut OsRng).public_key();
}
