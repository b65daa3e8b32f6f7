//! Malformed input: every broken blob, key file or line gives a precise error, never a panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use base64::Engine as _;
use common::{read, vectors_dir};
use nacre_keys::{KeyError, KeyType, PrivateKey, PublicKey, SignatureAlgorithm};
use nacre_wire::WireError;

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn armor(label: &str, body: &[u8]) -> String {
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        b64(body)
    )
}

fn string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

/// The decoded body of an openssh-key-v1 file.
fn v1_body(text: &str) -> Vec<u8> {
    let b: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(b).unwrap()
}

/// Builds an openssh-key-v1 body from its parts.
fn v1(cipher: &str, kdf: &str, nkeys: u32, public: &[u8], private: &[u8]) -> Vec<u8> {
    let mut out = b"openssh-key-v1\0".to_vec();
    string(&mut out, cipher.as_bytes());
    string(&mut out, kdf.as_bytes());
    string(&mut out, b"");
    out.extend_from_slice(&nkeys.to_be_bytes());
    string(&mut out, public);
    string(&mut out, private);
    out
}

/// An Ed25519 private section with the given checkints and padding.
fn ed25519_section(
    key: &PrivateKey,
    seed: &[u8; 32],
    check: (u32, u32),
    padding: &[u8],
) -> Vec<u8> {
    let pk = *key.public_key().ed25519_bytes().unwrap();
    let mut s = Vec::new();
    s.extend_from_slice(&check.0.to_be_bytes());
    s.extend_from_slice(&check.1.to_be_bytes());
    string(&mut s, b"ssh-ed25519");
    string(&mut s, &pk);
    string(&mut s, &[seed.as_slice(), pk.as_slice()].concat());
    string(&mut s, b"c");
    s.extend_from_slice(padding);
    s
}

/// A predicate on the error a case must produce.
type ErrorCheck = fn(&KeyError) -> bool;

fn sample_blobs() -> Vec<Vec<u8>> {
    let dir = vectors_dir();
    ["ed25519_1", "ecdsa_1", "ecdsa_2", "rsa_1", "rsa_2"]
        .iter()
        .map(|n| {
            PrivateKey::from_openssh(&read(&dir.join(n)))
                .unwrap()
                .public_key()
                .to_blob()
        })
        .collect()
}

#[test]
fn truncated_blobs_are_errors() {
    for blob in sample_blobs() {
        assert!(PublicKey::from_blob(&blob).is_ok());
        for len in 0..blob.len() {
            assert!(
                PublicKey::from_blob(&blob[..len]).is_err(),
                "prefix of {len} bytes accepted"
            );
        }
        let mut long = blob.clone();
        long.push(0);
        assert!(matches!(
            PublicKey::from_blob(&long),
            Err(KeyError::Wire(WireError::TrailingData { len: 1 }))
        ));
    }
}

#[test]
fn mutated_blobs_never_panic() {
    for blob in sample_blobs() {
        for i in 0..blob.len() {
            for x in [0x01u8, 0x80, 0xff] {
                let mut m = blob.clone();
                m[i] ^= x;
                let _ = PublicKey::from_blob(&m);
            }
        }
    }
}

#[test]
fn truncated_and_mutated_key_files_never_panic() {
    let dir = vectors_dir();
    for name in ["ed25519_1", "ecdsa_n", "rsa_n"] {
        let body = v1_body(&String::from_utf8(read(&dir.join(name))).unwrap());
        assert!(PrivateKey::from_openssh_v1_bytes(&body).is_ok());
        for len in 0..body.len() {
            assert!(
                PrivateKey::from_openssh_v1_bytes(&body[..len]).is_err(),
                "{name}: {len}"
            );
        }
        for i in 0..body.len() {
            let mut m = body.clone();
            m[i] ^= 0x41;
            let _ = PrivateKey::from_openssh_v1_bytes(&m);
        }
    }
    for (name, label) in [("rsa_1", "RSA PRIVATE KEY"), ("ecdsa_1", "EC PRIVATE KEY")] {
        let der = v1_body(&String::from_utf8(read(&dir.join(name))).unwrap());
        for len in 0..der.len() {
            assert!(PrivateKey::from_openssh(armor(label, &der[..len]).as_bytes()).is_err());
        }
        for i in 0..der.len() {
            let mut m = der.clone();
            m[i] ^= 0x41;
            let _ = PrivateKey::from_openssh(armor(label, &m).as_bytes());
        }
    }
}

#[test]
fn random_input_never_panics() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let key = PublicKey::from_blob(&sample_blobs()[0]).unwrap();
    for _ in 0..5000 {
        let len = (next() % 300) as usize;
        let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let _ = PublicKey::from_blob(&data);
        let _ = PrivateKey::from_openssh_v1_bytes(&data);
        let _ = PrivateKey::from_openssh(&data);
        let _ = PrivateKey::from_openssh(armor("OPENSSH PRIVATE KEY", &data).as_bytes());
        let _ = PrivateKey::from_openssh(armor("EC PRIVATE KEY", &data).as_bytes());
        let _ = PrivateKey::from_openssh(armor("PRIVATE KEY", &data).as_bytes());
        let _ = PublicKey::from_openssh_line(&format!("ssh-ed25519 {}", b64(&data)));
        let _ = PublicKey::from_openssh_line(&String::from_utf8_lossy(&data));
        let _ = key.verify(SignatureAlgorithm::Ed25519, b"m", &data);
    }
}

#[test]
fn precise_blob_errors() {
    // A security key type is known; its body must be there.
    let mut blob = Vec::new();
    string(&mut blob, b"sk-ssh-ed25519@openssh.com");
    assert!(matches!(
        PublicKey::from_blob(&blob),
        Err(KeyError::Wire(_))
    ));
    let mut blob = Vec::new();
    string(&mut blob, b"ssh-foo");
    assert!(
        matches!(PublicKey::from_blob(&blob), Err(KeyError::UnknownKeyType(t)) if t == "ssh-foo")
    );
    for t in [
        "webauthn-sk-ecdsa-sha2-nistp256@openssh.com",
        "ssh-ed25519-cert-v01@openssh.com",
        "ssh-dss",
    ] {
        let mut blob = Vec::new();
        string(&mut blob, t.as_bytes());
        assert!(
            matches!(
                PublicKey::from_blob(&blob),
                Err(KeyError::UnsupportedKeyType(_))
            ),
            "{t}"
        );
    }

    // RSA: 512-bit modulus, even modulus, e = 1.
    let rsa = |e: &[u8], n: &[u8]| {
        let mut b = Vec::new();
        string(&mut b, b"ssh-rsa");
        string(&mut b, e);
        string(&mut b, n);
        PublicKey::from_blob(&b)
    };
    let mut n512 = vec![0x00, 0xc1];
    n512.extend_from_slice(&[0x11; 63]);
    assert!(matches!(
        rsa(&[1, 0, 1], &n512),
        Err(KeyError::RsaTooSmall(512))
    ));
    let mut even = vec![0x00, 0xc1];
    even.extend_from_slice(&[0x10; 127]);
    assert!(matches!(
        rsa(&[1, 0, 1], &even),
        Err(KeyError::InvalidKey(_))
    ));
    let mut odd = even.clone();
    *odd.last_mut().unwrap() = 0x11;
    assert!(rsa(&[1, 0, 1], &odd).is_ok());
    assert!(matches!(rsa(&[1], &odd), Err(KeyError::InvalidKey(_))));
    assert!(matches!(
        rsa(&[0x81], &odd),
        Err(KeyError::Wire(WireError::InvalidMpint(_)))
    ));

    // ECDSA: compressed point, point off the curve, curve name mismatch.
    let p256 = PrivateKey::from_openssh(&read(&vectors_dir().join("ecdsa_1")))
        .unwrap()
        .public_key();
    let point = p256.ecdsa_point().unwrap().to_vec();
    let ecdsa = |curve: &[u8], point: &[u8]| {
        let mut b = Vec::new();
        string(&mut b, b"ecdsa-sha2-nistp256");
        string(&mut b, curve);
        string(&mut b, point);
        PublicKey::from_blob(&b)
    };
    assert_eq!(ecdsa(b"nistp256", &point).unwrap(), p256);
    let mut compressed = vec![0x02 | (point[64] & 1)];
    compressed.extend_from_slice(&point[1..33]);
    assert!(matches!(
        ecdsa(b"nistp256", &compressed),
        Err(KeyError::InvalidKey(_))
    ));
    let mut off_curve = point.clone();
    off_curve[64] ^= 1;
    assert!(matches!(
        ecdsa(b"nistp256", &off_curve),
        Err(KeyError::InvalidKey(_))
    ));
    assert!(matches!(
        ecdsa(b"nistp384", &point),
        Err(KeyError::InvalidKey(_))
    ));

    // Ed25519: 31 bytes.
    let mut b = Vec::new();
    string(&mut b, b"ssh-ed25519");
    string(&mut b, &[7; 31]);
    assert!(matches!(
        PublicKey::from_blob(&b),
        Err(KeyError::InvalidKey(_))
    ));
}

#[test]
fn precise_key_file_errors() {
    let seed = [7u8; 32];
    let key = PrivateKey::from_ed25519_seed(&seed);
    let public = key.public_key().to_blob();
    let good_section = ed25519_section(&key, &seed, (5, 5), &[1, 2, 3, 4]);
    assert_eq!(good_section.len() % 8, 0);
    let parsed =
        PrivateKey::from_openssh_v1_bytes(&v1("none", "none", 1, &public, &good_section)).unwrap();
    assert_eq!(parsed.public_key(), key.public_key());
    assert_eq!(parsed.comment(), "c");

    let cases: Vec<(Vec<u8>, ErrorCheck)> = vec![
        (
            v1(
                "none",
                "none",
                1,
                &public,
                &ed25519_section(&key, &seed, (5, 6), &[1, 2, 3, 4]),
            ),
            |e| matches!(e, KeyError::InvalidFormat("checkints do not match")),
        ),
        (
            v1(
                "none",
                "none",
                1,
                &public,
                &ed25519_section(&key, &seed, (5, 5), &[1, 2, 3, 5]),
            ),
            |e| {
                matches!(
                    e,
                    KeyError::InvalidFormat("invalid padding after the private key")
                )
            },
        ),
        (
            v1(
                "none",
                "none",
                1,
                &public,
                &ed25519_section(&key, &seed, (5, 5), &[1, 2, 3]),
            ),
            |e| matches!(e, KeyError::InvalidFormat(_)),
        ),
        (
            v1(
                "none",
                "none",
                1,
                &public,
                &ed25519_section(
                    &key,
                    &seed,
                    (5, 5),
                    &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
                ),
            ),
            |e| {
                matches!(
                    e,
                    KeyError::InvalidFormat("invalid padding after the private key")
                )
            },
        ),
        (v1("aes256-ctr", "bcrypt", 1, &public, &good_section), |e| {
            matches!(e, KeyError::Encrypted)
        }),
        (v1("none", "none", 2, &public, &good_section), |e| {
            matches!(e, KeyError::MultipleKeys(2))
        }),
        (v1("none", "none", 0, &public, &good_section), |e| {
            matches!(e, KeyError::InvalidFormat(_))
        }),
        (
            v1(
                "none",
                "none",
                1,
                &PrivateKey::from_ed25519_seed(&[8; 32])
                    .public_key()
                    .to_blob(),
                &good_section,
            ),
            |e| matches!(e, KeyError::InvalidKey(_)),
        ),
        (
            v1(
                "none",
                "none",
                1,
                &public,
                &ed25519_section(&key, &[9; 32], (5, 5), &[1, 2, 3, 4]),
            ),
            |e| matches!(e, KeyError::InvalidKey(_)),
        ),
        (b"openssh-key-v2\0".to_vec(), |e| {
            matches!(e, KeyError::InvalidFormat(_))
        }),
        (
            [v1("none", "none", 1, &public, &good_section), vec![0]].concat(),
            |e| matches!(e, KeyError::Wire(WireError::TrailingData { .. })),
        ),
    ];
    for (i, (body, check)) in cases.iter().enumerate() {
        let err = PrivateKey::from_openssh_v1_bytes(body).unwrap_err();
        assert!(check(&err), "case {i}: {err:?}");
        // Same through the armoured path.
        let err =
            PrivateKey::from_openssh(armor("OPENSSH PRIVATE KEY", body).as_bytes()).unwrap_err();
        assert!(check(&err), "case {i} armoured: {err:?}");
    }

    // Armour problems.
    for text in [
        "",
        "not a key",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n",
        "-----BEGIN OPENSSH PRIVATE KEY-----\n!!!!\n-----END OPENSSH PRIVATE KEY-----\n",
        "-----BEGIN SOMETHING ELSE-----\nAAAA\n-----END SOMETHING ELSE-----\n",
    ] {
        assert!(
            matches!(
                PrivateKey::from_openssh(text.as_bytes()),
                Err(KeyError::InvalidFormat(_))
            ),
            "{text:?}"
        );
    }
    let legacy_encrypted = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
    assert!(matches!(
        PrivateKey::from_openssh(legacy_encrypted.as_bytes()),
        Err(KeyError::Encrypted)
    ));
    assert!(matches!(
        PrivateKey::from_openssh(armor("ENCRYPTED PRIVATE KEY", b"x").as_bytes()),
        Err(KeyError::Encrypted)
    ));
}

#[test]
fn precise_line_errors() {
    let key = PrivateKey::from_ed25519_seed(&[7; 32]).public_key();
    let line = key.to_openssh_line("me@host");
    assert_eq!(
        PublicKey::from_openssh_line(&line).unwrap(),
        (key.clone(), "me@host".to_owned())
    );
    assert_eq!(
        PublicKey::from_openssh_line(&key.to_openssh_line(""))
            .unwrap()
            .1,
        ""
    );
    let relabelled = line.replacen("ssh-ed25519", "ssh-rsa", 1);
    assert!(matches!(
        PublicKey::from_openssh_line(&relabelled),
        Err(KeyError::KeyTypeMismatch {
            blob: KeyType::Ed25519,
            ..
        })
    ));
    assert!(matches!(
        PublicKey::from_openssh_line(""),
        Err(KeyError::InvalidFormat(_))
    ));
    assert!(matches!(
        PublicKey::from_openssh_line("ssh-ed25519"),
        Err(KeyError::InvalidFormat(_))
    ));
    assert!(matches!(
        PublicKey::from_openssh_line("ssh-ed25519 !!!"),
        Err(KeyError::InvalidFormat(_))
    ));
    // Multi-word comment and surrounding whitespace.
    let (_, comment) = PublicKey::from_openssh_line(&format!("  {line} two words \n")).unwrap();
    assert_eq!(comment, "me@host two words");
}
