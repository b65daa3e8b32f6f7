#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::*;
use crate::PublicKey;

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/vectors/sshsig"
);

fn vector(name: &str) -> Vec<u8> {
    std::fs::read(format!("{VECTORS}/{name}")).expect("../shared/vectors/sshsig")
}

/// OpenSSH's own SSHSIG test data: the supported key types verify over `signed-data` in the
/// namespace `unittest`, and re-armour to the same bytes.
#[test]
fn openssh_sshsig_vectors_verify() {
    let message = vector("signed-data");
    for (file, key_type) in [
        ("ed25519.sig", KeyType::Ed25519),
        ("ecdsa.sig", KeyType::EcdsaNistP256),
        ("rsa.sig", KeyType::Rsa),
    ] {
        let armored = vector(file);
        let sig = SshSig::from_armored(&armored).unwrap();
        assert_eq!(sig.public_key().key_type(), key_type, "{file}");
        assert_eq!(sig.namespace(), "unittest");
        sig.verify("unittest", &message).unwrap();
        assert!(sig.verify("other", &message).is_err(), "{file}");
        assert!(sig.verify("unittest", b"tampered").is_err(), "{file}");
        assert_eq!(sig.to_armored().as_bytes(), armored.as_slice(), "{file}");
    }
}

/// OpenSSH's security key signatures (`ed25519_sk.sig`, `ecdsa_sk.sig`): they verify over
/// `signed-data` with the key of the `.pub` file, report the flags and counter the authenticator
/// wrote, re-armour to the same bytes, and fail for another namespace, another message, another
/// application string or a changed flag or counter byte (both are signed).
#[test]
fn openssh_security_key_sshsig_vectors_verify() {
    let message = vector("signed-data");
    for (file, pub_file, key_type) in [
        ("ed25519_sk.sig", "ed25519_sk.pub", KeyType::SkEd25519),
        ("ecdsa_sk.sig", "ecdsa_sk.pub", KeyType::SkEcdsaNistP256),
    ] {
        let armored = vector(file);
        let sig = SshSig::from_armored(&armored).unwrap();
        let text = String::from_utf8(vector(pub_file)).unwrap();
        let (key, _) = PublicKey::from_openssh_line(&text).unwrap();
        assert_eq!(sig.public_key().key(), &key, "{file}");
        assert_eq!(key.key_type(), key_type, "{file}");
        assert_eq!(key.sk_application(), Some("ssh:"), "{file}");
        sig.verify("unittest", &message).unwrap();
        let info = sig.sk_info().unwrap();
        assert!(info.user_present(), "{file}: {info:?}");
        assert!(sig.verify("other", &message).is_err(), "{file}");
        assert!(sig.verify("unittest", b"tampered").is_err(), "{file}");
        assert_eq!(sig.to_armored().as_bytes(), armored.as_slice(), "{file}");
        // Flags and counter are the last five bytes of the signature blob; all are signed.
        let n = sig.signature.len();
        for i in n - 5..n {
            let mut changed = sig.clone();
            changed.signature[i] ^= 0x01;
            assert!(
                changed.verify("unittest", &message).is_err(),
                "{file}: byte {i}"
            );
        }
        // The same key bytes under another application do not verify.
        let other_app =
            PublicKey::security_key(key_type, &sk_public_bytes(&key), "ssh:other").unwrap();
        let mut moved = sig.clone();
        moved.public_key = crate::KeyOrCert::Key(other_app);
        assert!(moved.verify("unittest", &message).is_err(), "{file}");
    }
}

/// The raw public part of an sk key (32 Ed25519 bytes or the P-256 point), from its blob.
fn sk_public_bytes(key: &PublicKey) -> Vec<u8> {
    let blob = key.to_blob();
    let mut r = nacre_wire::Reader::new(&blob);
    r.string().unwrap();
    if key.key_type() == KeyType::SkEcdsaNistP256 {
        r.string().unwrap();
    }
    r.string().unwrap().to_vec()
}

/// Key types nacre does not have (webauthn signatures, ML-DSA) are refused cleanly.
#[test]
fn unsupported_vectors_are_errors() {
    let message = vector("signed-data");
    for file in ["ecdsa_sk_webauthn.sig", "mldsa44-ed25519.sig"] {
        let parsed = SshSig::from_armored(&vector(file));
        assert!(
            parsed.is_err() || parsed.unwrap().verify("unittest", &message).is_err(),
            "{file}"
        );
    }
}

#[test]
fn sign_verify_round_trip_every_key_type() {
    let mut rng = rand_core::OsRng;
    let keys = [
        PrivateKey::generate_ed25519(&mut rng),
        PrivateKey::generate_ecdsa(KeyType::EcdsaNistP256, &mut rng).unwrap(),
        PrivateKey::generate_ecdsa(KeyType::EcdsaNistP384, &mut rng).unwrap(),
        PrivateKey::generate_ecdsa(KeyType::EcdsaNistP521, &mut rng).unwrap(),
        crate::testkeys::rsa(),
    ];
    for key in &keys {
        for hash in [SshsigHash::Sha256, SshsigHash::Sha512] {
            let sig = SshSig::sign(key, "file", hash, b"hello").unwrap();
            let again = SshSig::from_armored(sig.to_armored().as_bytes()).unwrap();
            assert_eq!(again, sig);
            again.verify("file", b"hello").unwrap();
            assert!(again.verify("git", b"hello").is_err());
            assert_eq!(again.public_key().key(), &key.public_key());
        }
    }
}

#[test]
fn rsa_uses_sha2_algorithms() {
    let key = crate::testkeys::rsa();
    let sig = SshSig::sign(&key, "file", SshsigHash::Sha256, b"m").unwrap();
    let (alg, _) = crate::decode_signature_blob(&sig.signature).unwrap();
    assert_eq!(alg, b"rsa-sha2-256");
    let sig = SshSig::sign(&key, "file", SshsigHash::Sha512, b"m").unwrap();
    let (alg, _) = crate::decode_signature_blob(&sig.signature).unwrap();
    assert_eq!(alg, b"rsa-sha2-512");
    // An ssh-rsa (SHA-1) signature is refused even though it is valid.
    let mut legacy = sig.clone();
    let data = signed_data(
        "file",
        &[],
        SshsigHash::Sha512,
        &SshsigHash::Sha512.digest(b"m"),
    );
    legacy.signature = key.sign(SignatureAlgorithm::SshRsa, &data).unwrap();
    assert!(legacy.verify("file", b"m").is_err());
}

#[test]
fn malformed_armour_and_blobs() {
    assert!(SshSig::from_armored(b"").is_err());
    assert!(SshSig::from_armored(b"-----BEGIN SSH SIGNATURE-----\n").is_err());
    assert!(SshSig::from_armored(
        b"-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n"
    )
    .is_err());
    let key = PrivateKey::generate_ed25519(&mut rand_core::OsRng);
    let sig = SshSig::sign(&key, "n", SshsigHash::Sha512, b"x").unwrap();
    let blob = sig.to_blob();
    for cut in 0..blob.len() {
        assert!(SshSig::from_blob(&blob[..cut]).is_err());
    }
    let mut trailing = blob.clone();
    trailing.push(0);
    assert!(SshSig::from_blob(&trailing).is_err());
    let mut v2 = blob.clone();
    v2[9] = 2;
    assert!(SshSig::from_blob(&v2).is_err());
    assert!(SshSig::sign(&key, "", SshsigHash::Sha512, b"x").is_err());
    // CRLF armour is read too.
    let crlf = sig.to_armored().replace('\n', "\r\n");
    assert_eq!(SshSig::from_armored(crlf.as_bytes()).unwrap(), sig);
    let _ = PublicKey::from_blob(&key.public_key().to_blob()).unwrap();
}

#[test]
fn signature_by_certified_key_names_the_certificate() {
    let mut rng = rand_core::OsRng;
    let ca = PrivateKey::generate_ed25519(&mut rng);
    let user = PrivateKey::generate_ed25519(&mut rng);
    let cert = crate::cert::CertBuilder::new(user.public_key(), crate::CertType::User)
        .principals(vec!["alice".into()])
        .sign(&ca, None, &mut rng)
        .unwrap();
    let digest = SshsigHash::Sha512.digest(b"data");
    let sig = SshSig::sign_digest(&user, Some(&cert), "git", SshsigHash::Sha512, &digest).unwrap();
    let again = SshSig::from_armored(sig.to_armored().as_bytes()).unwrap();
    assert_eq!(again.public_key().certificate(), Some(&cert));
    again.verify("git", b"data").unwrap();
    let other = PrivateKey::generate_ed25519(&mut rng);
    assert!(SshSig::sign_digest(&other, Some(&cert), "git", SshsigHash::Sha512, &digest).is_err());
}
