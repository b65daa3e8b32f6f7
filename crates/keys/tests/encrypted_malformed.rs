//! Truncated and mutated encrypted key files never panic and never yield another key: every
//! truncation and every single-bit flip of encrypted `openssh-key-v1` files (each cipher), of
//! encrypted PEM / PKCS#8 files and of encrypted PPK files is either refused or (for bits of the
//! malleable non-AEAD ciphertext that only touch the comment) gives the same key.
//!
//! The `openssh-key-v1` part needs no tool (nacre writes the files, with 1 bcrypt round to keep
//! it fast); the PEM/PKCS#8 part uses `ssh-keygen` and the PPK part `puttygen`, when installed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::process::Command;

use base64::Engine as _;
use common::{read, run, ssh_keygen, write_private};
use nacre_keys::{KeyCipher, KeyError, KeyType, PrivateKey, PublicKey, MAX_BCRYPT_ROUNDS};
use rand_core::OsRng;

const PASS: &[u8] = b"mutation passphrase";

fn body_of(text: &str) -> Vec<u8> {
    let b64: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

fn armor(body: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(body);
    format!("-----BEGIN OPENSSH PRIVATE KEY-----\n{b64}\n-----END OPENSSH PRIVATE KEY-----\n")
}

/// The offset of the bcrypt `rounds` field in a file we wrote (16-byte salt).
fn rounds_offset(cipher: KeyCipher) -> usize {
    15 + 4 + cipher.name().len() + 4 + 6 + 4 + 4 + 16
}

/// Accepts an error, or a key with the expected public half (a flipped comment bit).
fn check(result: Result<PrivateKey, KeyError>, public: &PublicKey, what: &str) {
    if let Ok(key) = result {
        assert_eq!(
            &key.public_key(),
            public,
            "{what}: a mutation produced another key"
        );
    }
}

#[test]
fn mutated_openssh_v1_files_are_refused() {
    let keys = [
        PrivateKey::generate_ed25519(&mut OsRng),
        PrivateKey::generate_ecdsa(KeyType::EcdsaNistP256, &mut OsRng).unwrap(),
    ];
    for (k, key) in keys.iter().enumerate() {
        let public = key.public_key();
        for &cipher in KeyCipher::ALL {
            // Keep the second key to one cipher: the loops below are the slow part.
            if k == 1 && cipher != KeyCipher::Aes256Ctr {
                continue;
            }
            let text = key
                .to_openssh_encrypted_with("c", PASS, cipher, 1, &mut OsRng)
                .unwrap();
            let body = body_of(&text);
            let what = cipher.name();
            let good = PrivateKey::from_openssh_v1_bytes_with_passphrase(&body, PASS).unwrap();
            assert_eq!(good.public_key(), public);

            for len in 0..body.len() {
                let r = PrivateKey::from_openssh_v1_bytes_with_passphrase(&body[..len], PASS);
                assert!(r.is_err(), "{what}: truncated to {len} bytes loaded");
            }
            let rounds = rounds_offset(cipher);
            assert_eq!(&body[rounds..rounds + 4], &[0, 0, 0, 1], "{what}");
            let is_aead = cipher.name().contains("gcm") || cipher.name().contains("poly");
            let mut aead_flips_accepted = 0;
            for i in 0..body.len() {
                if (rounds..rounds + 4).contains(&i) {
                    continue;
                }
                for bit in [0x01u8, 0x80] {
                    let mut m = body.clone();
                    m[i] ^= bit;
                    let r = PrivateKey::from_openssh_v1_bytes_with_passphrase(&m, PASS);
                    if is_aead && r.is_ok() {
                        aead_flips_accepted += 1;
                    }
                    check(r, &public, &format!("{what}: byte {i} ^ {bit:#x}"));
                }
            }
            // With an AEAD no bit of the file can change unnoticed.
            assert_eq!(aead_flips_accepted, 0, "{what}");

            // Rounds out of range are refused before any work.
            for bad in [0u32, MAX_BCRYPT_ROUNDS + 1, u32::MAX] {
                let mut m = body.clone();
                m[rounds..rounds + 4].copy_from_slice(&bad.to_be_bytes());
                let r = PrivateKey::from_openssh_v1_bytes_with_passphrase(&m, PASS);
                assert!(
                    matches!(r, Err(KeyError::UnsupportedKdf(_))),
                    "{what} rounds {bad}: {r:?}"
                );
            }
            // Trailing data, a truncated tag, a bad armour.
            let mut long = body.clone();
            long.push(0);
            assert!(PrivateKey::from_openssh_v1_bytes_with_passphrase(&long, PASS).is_err());
            let cut = &text[..text.len() / 2];
            assert!(PrivateKey::from_openssh_with_passphrase(cut.as_bytes(), PASS).is_err());
            assert!(PrivateKey::from_file_bytes(
                armor(&body[..body.len() - 1]).as_bytes(),
                Some(PASS)
            )
            .is_err());
        }
    }
}

#[test]
fn unknown_ciphers_and_kdfs_are_named() {
    let key = PrivateKey::generate_ed25519(&mut OsRng);
    let text = key
        .to_openssh_encrypted_with("c", PASS, KeyCipher::Aes256Ctr, 1, &mut OsRng)
        .unwrap();
    let body = body_of(&text);
    let swap = |from: &[u8], to: &[u8]| {
        let at = body.windows(from.len()).position(|w| w == from).unwrap();
        let mut m = body.clone();
        m.splice(at..at + from.len(), to.iter().copied());
        PrivateKey::from_openssh_v1_bytes_with_passphrase(&m, PASS)
    };
    assert!(matches!(
        swap(b"aes256-ctr", b"3des-cbc!!"),
        Err(KeyError::UnsupportedCipher(name)) if name == "3des-cbc!!"
    ));
    assert!(matches!(
        swap(b"bcrypt", b"scrypt"),
        Err(KeyError::UnsupportedKdf(name)) if name == "scrypt"
    ));
}

/// Flips every bit position (^1 and ^0x80) of every byte and truncates at every length.
fn mutate_text(text: &[u8], pass: &[u8], public: &PublicKey, what: &str) {
    for len in 0..text.len() {
        let _ = PrivateKey::from_file_bytes(&text[..len], Some(pass));
    }
    for i in 0..text.len() {
        for bit in [0x01u8, 0x80] {
            let mut m = text.to_vec();
            m[i] ^= bit;
            check(
                PrivateKey::from_file_bytes(&m, Some(pass)),
                public,
                &format!("{what}: byte {i} ^ {bit:#x}"),
            );
        }
    }
}

#[test]
fn mutated_pem_and_pkcs8_files_never_panic() {
    if ssh_keygen().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for format in ["PEM", "PKCS8"] {
        let path = dir.path().join(format);
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ecdsa", "-b", "256", "-m", format, "-N"])
            .arg(std::str::from_utf8(PASS).unwrap())
            .arg("-f")
            .arg(&path));
        let text = read(&path);
        let key = PrivateKey::from_file_bytes(&text, Some(PASS)).unwrap();
        mutate_text(&text, PASS, &key.public_key(), format);
    }
}

#[test]
fn mutated_ppk_files_never_panic() {
    if Command::new("puttygen").arg("--version").output().is_err() || ssh_keygen().is_none() {
        eprintln!("puttygen not found: skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ecdsa", "-b", "256", "-N", "", "-f"])
        .arg(&src));
    let pass_file = dir.path().join("pass");
    write_private(&pass_file, PASS);
    for (name, params) in [("v3", "memory=256,passes=1"), ("v2", "version=2")] {
        let out = dir.path().join(format!("{name}.ppk"));
        run(Command::new("puttygen")
            .arg(&src)
            .args(["-O", "private", "-o"])
            .arg(&out)
            .arg("--new-passphrase")
            .arg(&pass_file)
            .args(["--ppk-param", params]));
        let text = read(&out);
        let key = PrivateKey::from_ppk(&text, Some(PASS)).unwrap();
        mutate_text(&text, PASS, &key.public_key(), name);
        // The MAC covers everything: no flip in the private lines gives a key.
        let s = String::from_utf8(text.clone()).unwrap();
        let start = s.find("Private-Lines").unwrap();
        // (The final newline may turn into another whitespace byte harmlessly.)
        for i in start..text.len() - 1 {
            let mut m = text.clone();
            m[i] ^= 0x01;
            assert!(
                PrivateKey::from_ppk(&m, Some(PASS)).is_err(),
                "{name}: byte {i} of {}: {:?}",
                text.len(),
                char::from(text[i])
            );
        }
    }
}

#[test]
fn garbage_never_panics() {
    // A small deterministic generator: no test depends on the OS for this part.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let prefixes: [&[u8]; 5] = [
        b"PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: aes256-cbc\nComment: x\n",
        b"-----BEGIN OPENSSH PRIVATE KEY-----\n",
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n",
        b"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\n",
        b"",
    ];
    for round in 0..2000 {
        let prefix = prefixes[round % prefixes.len()];
        let len = (next() % 300) as usize;
        let mut text = prefix.to_vec();
        let b64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\n:-";
        text.extend((0..len).map(|_| b64[(next() % b64.len() as u64) as usize]));
        let _ = PrivateKey::from_file_bytes(&text, Some(PASS));
        let _ = PrivateKey::from_file_bytes(&text, None);
    }
}
