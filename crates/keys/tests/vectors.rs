//! OpenSSH's own key test data: private keys in openssh-key-v1 and PEM forms, `.pub` files and
//! SHA256 fingerprints (`.fp`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{read, read_text, vectors_dir};
use nacre_keys::{KeyError, KeyType, PrivateKey, PublicKey};

fn is_unsupported_name(name: &str) -> bool {
    name.contains("mldsa")
}

/// Security key private keys: their private half is an authenticator's key handle.
fn is_security_key_name(name: &str) -> bool {
    name.contains("_sk")
}

/// Private key files: names without a dot, other than the passphrase file `pw`.
fn private_key_files() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(vectors_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.contains('.') && n != "pw")
        .collect();
    names.sort();
    assert!(
        names.len() >= 20,
        "vector directory looks incomplete: {names:?}"
    );
    names
}

/// The `.pub`/`.fp` file stem describing the key in `name` (`rsa_n` is `rsa_1` in another form;
/// `rsa_1_sha1` and `rsa_1_sha512` are `rsa_1` with other certificate signatures).
fn stem(name: &str) -> String {
    if let Some(s) = name.strip_suffix("_n") {
        return format!("{s}_1");
    }
    for suffix in ["_sha1", "_sha512"] {
        if let Some(s) = name.strip_suffix(suffix) {
            return s.to_owned();
        }
    }
    name.to_owned()
}

#[test]
fn every_unencrypted_private_key_matches_its_pub_and_fp() {
    let dir = vectors_dir();
    let mut checked = Vec::new();
    for name in private_key_files() {
        let result = PrivateKey::from_openssh(&read(&dir.join(&name)));
        if name.ends_with("_pw") {
            assert!(
                matches!(result, Err(KeyError::Encrypted)),
                "{name}: {result:?}"
            );
            continue;
        }
        if is_unsupported_name(&name) || is_security_key_name(&name) {
            assert!(
                matches!(result, Err(KeyError::UnsupportedKeyType(_))),
                "{name}: {result:?}"
            );
            continue;
        }
        let key = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        let stem = stem(&name);
        let pub_line = read_text(&dir.join(format!("{stem}.pub")));
        let (public, comment) = PublicKey::from_openssh_line(&pub_line).unwrap();
        assert_eq!(key.public_key(), public, "{name}: public key");
        let fp = read_text(&dir.join(format!("{stem}.fp")));
        assert_eq!(
            key.public_key().fingerprint_sha256(),
            fp.trim(),
            "{name}: fingerprint"
        );
        // openssh-key-v1 files carry the comment (the `_n` conversions were written without
        // one); PEM files carry none.
        if name.ends_with("_n") {
            assert_eq!(key.comment(), "", "{name}: comment");
        } else if read_text(&dir.join(&name)).contains("OPENSSH PRIVATE KEY") {
            assert_eq!(key.comment(), comment, "{name}: comment");
        } else {
            assert_eq!(key.comment(), "", "{name}: PEM keys have no comment");
        }
        checked.push(name);
    }
    for must in [
        "ed25519_1",
        "ed25519_2",
        "ecdsa_1",
        "ecdsa_2",
        "rsa_1",
        "rsa_2",
        "ecdsa_n",
        "rsa_n",
    ] {
        assert!(
            checked.iter().any(|n| n == must),
            "{must} was not checked: {checked:?}"
        );
    }
}

#[test]
fn key_types_and_sizes() {
    let dir = vectors_dir();
    let cases = [
        ("ed25519_1", KeyType::Ed25519, 256),
        ("ecdsa_1", KeyType::EcdsaNistP256, 256),
        ("ecdsa_2", KeyType::EcdsaNistP521, 521),
        ("rsa_1", KeyType::Rsa, 1024),
        ("rsa_2", KeyType::Rsa, 2048),
    ];
    for (name, key_type, bits) in cases {
        let key = PrivateKey::from_openssh(&read(&dir.join(name))).unwrap();
        assert_eq!(key.key_type(), key_type, "{name}");
        assert_eq!(key.public_key().key_type(), key_type, "{name}");
        assert_eq!(key.public_key().bits(), bits, "{name}");
    }
}

#[test]
fn raw_parameters_match() {
    let dir = vectors_dir();
    let hex_param = |file: &str| hex::decode(read_text(&dir.join(file)).trim()).unwrap();
    let strip = |v: Vec<u8>| v.into_iter().skip_while(|&b| b == 0).collect::<Vec<u8>>();

    let ecdsa = PrivateKey::from_openssh(&read(&dir.join("ecdsa_1"))).unwrap();
    assert_eq!(
        ecdsa.public_key().ecdsa_point().unwrap(),
        hex_param("ecdsa_1.param.pub")
    );
    let rebuilt =
        PrivateKey::from_ecdsa_scalar(KeyType::EcdsaNistP256, &hex_param("ecdsa_1.param.priv"))
            .unwrap();
    assert_eq!(rebuilt.public_key(), ecdsa.public_key());

    for name in ["rsa_1", "rsa_2"] {
        let key = PrivateKey::from_openssh(&read(&dir.join(name))).unwrap();
        let public = key.public_key();
        let (e, n) = public.rsa_components().unwrap();
        assert_eq!(n, strip(hex_param(&format!("{name}.param.n"))), "{name}");
        assert_eq!(e, [1, 0, 1], "{name}");
    }
}

#[test]
fn every_pub_file_parses_or_is_cleanly_unsupported() {
    let dir = vectors_dir();
    let mut parsed = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if !name.ends_with(".pub") || name.contains(".param.") {
            continue;
        }
        let line = read_text(&dir.join(&name));
        let result = PublicKey::from_openssh_line(&line);
        if name.contains("-cert") || is_unsupported_name(&name) {
            assert!(
                matches!(result, Err(KeyError::UnsupportedKeyType(_))),
                "{name}: {result:?}"
            );
            continue;
        }
        let (key, comment) = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!comment.is_empty(), "{name}");
        // Round trip: same line back.
        assert_eq!(key.to_openssh_line(&comment), line.trim(), "{name}");
        assert_eq!(PublicKey::from_blob(&key.to_blob()).unwrap(), key);
        let fp_file = dir.join(name.replace(".pub", ".fp"));
        if fp_file.exists() {
            assert_eq!(
                key.fingerprint_sha256(),
                read_text(&fp_file).trim(),
                "{name}"
            );
        }
        parsed += 1;
    }
    assert!(parsed >= 8, "only {parsed} .pub files parsed");
}

#[test]
fn md5_fingerprint_matches_ssh_keygen() {
    let dir = vectors_dir();
    for name in ["ed25519_1", "ecdsa_1", "ecdsa_2", "rsa_1", "rsa_2"] {
        let (key, _) =
            PublicKey::from_openssh_line(&read_text(&dir.join(format!("{name}.pub")))).unwrap();
        let md5 = key.fingerprint_md5();
        assert!(
            md5.starts_with("MD5:") && md5.len() == 4 + 16 * 3 - 1,
            "{md5}"
        );
        if common::ssh_keygen().is_some() {
            let out = common::run(
                std::process::Command::new("ssh-keygen")
                    .args(["-l", "-E", "md5", "-f"])
                    .arg(dir.join(format!("{name}.pub"))),
            );
            assert_eq!(out.split_whitespace().nth(1), Some(md5.as_str()), "{name}");
        }
    }
}

#[test]
fn sshsig_vectors_verify() {
    let dir = common::sshsig_dir();
    let message = read(&dir.join("signed-data"));
    let namespace = read_text(&dir.join("namespace"));
    for name in ["ed25519", "ecdsa", "rsa"] {
        let sig = common::parse_sshsig(&read_text(&dir.join(format!("{name}.sig"))));
        assert_eq!(sig.namespace, namespace.trim().as_bytes());
        let key = PublicKey::from_blob(&sig.public_key).unwrap();
        let (pub_key, _) =
            PublicKey::from_openssh_line(&read_text(&dir.join(format!("{name}.pub")))).unwrap();
        assert_eq!(key, pub_key, "{name}");
        let alg = common::blob_algorithm(&sig.signature);
        let signed = common::sshsig_signed_data(&sig.namespace, &sig.hash_algorithm, &message);
        key.verify(alg, &signed, &sig.signature)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut tampered = signed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(matches!(
            key.verify(alg, &tampered, &sig.signature),
            Err(KeyError::BadSignature)
        ));
    }
    // Security key signatures (PROTOCOL.u2f): the key is the `.pub` file's, the signature
    // verifies (flags and counter inside) and a changed message does not.
    for (name, alg) in [
        ("ecdsa_sk", nacre_keys::SignatureAlgorithm::SkEcdsaNistP256),
        ("ed25519_sk", nacre_keys::SignatureAlgorithm::SkEd25519),
    ] {
        let sig = common::parse_sshsig(&read_text(&dir.join(format!("{name}.sig"))));
        let key = PublicKey::from_blob(&sig.public_key).unwrap();
        let (pub_key, _) =
            PublicKey::from_openssh_line(&read_text(&dir.join(format!("{name}.pub")))).unwrap();
        assert_eq!(key, pub_key, "{name}");
        let signed = common::sshsig_signed_data(&sig.namespace, &sig.hash_algorithm, &message);
        let info = key
            .verify_detailed(alg, &signed, &sig.signature)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .unwrap();
        assert!(info.user_present(), "{name}: {info:?}");
        key.verify(alg, &signed, &sig.signature).unwrap();
        let mut tampered = signed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(matches!(
            key.verify(alg, &tampered, &sig.signature),
            Err(KeyError::BadSignature)
        ));
    }
    // Post-quantum signatures: their keys are cleanly unsupported.
    let sig = common::parse_sshsig(&read_text(&dir.join("mldsa44-ed25519.sig")));
    assert!(matches!(
        PublicKey::from_blob(&sig.public_key),
        Err(KeyError::UnsupportedKeyType(_))
    ));
}
