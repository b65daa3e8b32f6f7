//! OpenSSH's encrypted test keys (`*_pw`, passphrase in the file `pw`): openssh-key-v1 with
//! aes256-ctr and aes256-cbc, legacy encrypted PEM (AES-128-CBC). Each decrypts to the key of its
//! unencrypted twin; wrong passphrases fail cleanly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{read, read_text, vectors_dir};
use nacre_keys::{KeyError, PrivateKey, PublicKey};

fn passphrase() -> Vec<u8> {
    read_text(&vectors_dir().join("pw"))
        .trim_end()
        .as_bytes()
        .to_vec()
}

fn encrypted_files() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(vectors_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with("_pw") && !n.contains('.'))
        .collect();
    names.sort();
    assert!(
        names.len() >= 8,
        "vector directory looks incomplete: {names:?}"
    );
    names
}

#[test]
fn every_pw_file_decrypts_to_its_twin() {
    let dir = vectors_dir();
    let pw = passphrase();
    let mut checked = Vec::new();
    for name in encrypted_files() {
        let text = read(&dir.join(&name));
        let result = PrivateKey::from_openssh_with_passphrase(&text, &pw);
        if name.contains("_sk") || name.contains("mldsa") {
            assert!(
                matches!(result, Err(KeyError::UnsupportedKeyType(_))),
                "{name}: {result:?}"
            );
            continue;
        }
        let key = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        let twin_name = name.strip_suffix("_pw").unwrap();
        let twin = PrivateKey::from_openssh(&read(&dir.join(twin_name))).unwrap();
        assert_eq!(key.public_key(), twin.public_key(), "{name}");
        let stem = twin_name.replace("_n", "_1");
        let fp = read_text(&dir.join(format!("{stem}.fp")));
        assert_eq!(
            key.public_key().fingerprint_sha256(),
            fp.trim(),
            "{name}: fingerprint"
        );
        let (public, _) =
            PublicKey::from_openssh_line(&read_text(&dir.join(format!("{stem}.pub")))).unwrap();
        assert_eq!(key.public_key(), public, "{name}: .pub");
        // Signing works with the decrypted key, and the same bytes come out of the generic reader.
        let same = PrivateKey::from_file_bytes(&text, Some(&pw)).unwrap();
        assert_eq!(
            same.public_key(),
            key.public_key(),
            "{name}: from_file_bytes"
        );
        assert!(matches!(
            PrivateKey::from_file_bytes(&text, None),
            Err(KeyError::Encrypted)
        ));
        checked.push(name);
    }
    for must in [
        "ed25519_1_pw",
        "ecdsa_1_pw",
        "ecdsa_n_pw",
        "rsa_1_pw",
        "rsa_n_pw",
    ] {
        assert!(checked.iter().any(|n| n == must), "{must}: {checked:?}");
    }
}

#[test]
fn wrong_passphrases_are_refused() {
    let dir = vectors_dir();
    for name in [
        "ed25519_1_pw",
        "ecdsa_1_pw",
        "ecdsa_n_pw",
        "rsa_1_pw",
        "rsa_n_pw",
    ] {
        let text = read(&dir.join(name));
        for wrong in [&b"mekmitasdigoaT"[..], b"x", b""] {
            let result = PrivateKey::from_openssh_with_passphrase(&text, wrong);
            assert!(
                matches!(result, Err(KeyError::BadPassphrase)),
                "{name} with {wrong:?}: {result:?}"
            );
        }
    }
}

#[test]
fn unencrypted_files_ignore_the_passphrase() {
    let dir = vectors_dir();
    for name in ["ed25519_1", "ecdsa_1", "rsa_1", "rsa_n"] {
        let text = read(&dir.join(name));
        let plain = PrivateKey::from_openssh(&text).unwrap();
        let with = PrivateKey::from_openssh_with_passphrase(&text, b"anything").unwrap();
        assert_eq!(plain.public_key(), with.public_key(), "{name}");
        let any = PrivateKey::from_file_bytes(&text, None).unwrap();
        assert_eq!(plain.public_key(), any.public_key(), "{name}");
    }
}
