//! Encrypted key files against OpenSSH's `ssh-keygen` (and OpenSSL's `openssl` for the PEM and
//! PKCS#8 variants `ssh-keygen` does not write):
//! - keys it generates, with and without a passphrase, in every `-Z` cipher and in `-m PEM` /
//!   `-m PKCS8`, load with the fingerprint `ssh-keygen -l` prints; wrong passphrases fail;
//! - keys nacre writes encrypted (every cipher) load in `ssh-keygen -y -P`;
//! - RSA keys nacre generates round-trip through `ssh-keygen -p`.
//!
//! Skipped (with a message) when `ssh-keygen` is not installed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{read, read_text, run, ssh_keygen, write_private};
use nacre_keys::{KeyCipher, KeyError, KeyType, PrivateKey, PublicKey, SignatureAlgorithm};
use rand_core::OsRng;

const PASS: &str = "correct horse battery";

fn keygen() -> Command {
    Command::new("ssh-keygen")
}

/// `ssh-keygen -l -f path` → (bits, SHA256 fingerprint).
fn keygen_fingerprint(path: &Path) -> (String, String) {
    let out = run(keygen().arg("-l").arg("-f").arg(path));
    let mut fields = out.split_whitespace();
    (
        fields.next().unwrap().to_owned(),
        fields.next().unwrap().to_owned(),
    )
}

/// Copies `src` to `dst` and re-encrypts it in place with `ssh-keygen -p` and `extra` options.
fn reencrypt(src: &Path, dst: &Path, extra: &[&str]) {
    write_private(dst, &read(src));
    run(keygen()
        .args(["-q", "-p", "-P", "", "-N", PASS])
        .args(extra)
        .arg("-f")
        .arg(dst));
}

fn assert_loads(path: &Path, expect: &(String, String), what: &str) -> PrivateKey {
    let text = read(path);
    let key = PrivateKey::from_file_bytes(&text, Some(PASS.as_bytes()))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(
        key.public_key().bits().to_string(),
        expect.0,
        "{what}: bits"
    );
    assert_eq!(
        key.public_key().fingerprint_sha256(),
        expect.1,
        "{what}: fingerprint"
    );
    for wrong in [&b"correct horse battery "[..], b"wrong", b""] {
        let result = PrivateKey::from_file_bytes(&text, Some(wrong));
        assert!(
            matches!(result, Err(KeyError::BadPassphrase)),
            "{what} with {wrong:?}: {result:?}"
        );
    }
    assert!(
        matches!(
            PrivateKey::from_file_bytes(&text, None),
            Err(KeyError::Encrypted)
        ),
        "{what}: no passphrase"
    );
    key
}

/// Every key type `ssh-keygen` makes, every cipher it writes, and its PEM and PKCS#8 forms.
#[test]
fn ssh_keygen_encrypted_keys_load() {
    if ssh_keygen().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let types: &[(&str, &[&str])] = &[
        ("ed25519", &["-t", "ed25519"]),
        ("ecdsa256", &["-t", "ecdsa", "-b", "256"]),
        ("ecdsa384", &["-t", "ecdsa", "-b", "384"]),
        ("ecdsa521", &["-t", "ecdsa", "-b", "521"]),
        ("rsa2048", &["-t", "rsa", "-b", "2048"]),
        ("rsa3072", &["-t", "rsa", "-b", "3072"]),
        ("rsa4096", &["-t", "rsa", "-b", "4096"]),
    ];
    for (name, args) in types {
        // Unencrypted.
        let plain = dir.path().join(name);
        run(keygen()
            .args(*args)
            .args(["-q", "-N", "", "-C", name, "-f"])
            .arg(&plain));
        let expect = keygen_fingerprint(&plain);
        let key = PrivateKey::from_file_bytes(&read(&plain), None).unwrap();
        assert_eq!(key.public_key().fingerprint_sha256(), expect.1, "{name}");

        // Generated directly with a passphrase (ssh-keygen's default cipher, aes256-ctr).
        let direct = dir.path().join(format!("{name}_direct"));
        run(keygen()
            .args(*args)
            .args(["-q", "-N", PASS, "-C", name, "-f"])
            .arg(&direct));
        assert!(read_text(&direct).contains("OPENSSH PRIVATE KEY"));
        let direct_expect = keygen_fingerprint(&direct.with_extension("pub"));
        let key = assert_loads(&direct, &direct_expect, &format!("{name} -N"));
        assert_eq!(key.comment(), *name);

        // Every openssh-key-v1 cipher.
        for cipher in KeyCipher::ALL {
            let path = dir.path().join(format!("{name}_{}", cipher.name()));
            reencrypt(&plain, &path, &["-Z", cipher.name()]);
            let key = assert_loads(&path, &expect, &format!("{name} -Z {}", cipher.name()));
            assert_eq!(key.comment(), *name);
        }

        // PEM and PKCS#8 (ssh-keygen keeps Ed25519 keys in its own format).
        for format in ["PEM", "PKCS8"] {
            let path = dir.path().join(format!("{name}_{format}"));
            reencrypt(&plain, &path, &["-m", format]);
            let text = read_text(&path);
            if !name.starts_with("ed25519") {
                let label = if format == "PEM" {
                    "Proc-Type: 4,ENCRYPTED"
                } else {
                    "ENCRYPTED PRIVATE KEY"
                };
                assert!(text.contains(label), "{name} {format}: {text}");
            }
            assert_loads(&path, &expect, &format!("{name} -m {format}"));
        }
    }
}

/// PEM and PKCS#8 variants that OpenSSL writes but `ssh-keygen` does not (AES-256 and 3DES
/// legacy PEM; PBES2 with other PRFs and ciphers). Skipped without the `openssl` command.
#[test]
fn openssl_encrypted_variants_load() {
    if ssh_keygen().is_none() || Command::new("openssl").arg("version").output().is_err() {
        eprintln!("openssl not found: skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (name, args) in [
        ("rsa", &["-t", "rsa", "-b", "2048"][..]),
        ("ecdsa", &["-t", "ecdsa", "-b", "256"][..]),
    ] {
        let plain = dir.path().join(name);
        run(keygen()
            .args(args)
            .args(["-q", "-N", "", "-m", "PEM", "-f"])
            .arg(&plain));
        let expect = keygen_fingerprint(&plain);
        let pass_arg = format!("pass:{PASS}");
        let legacy = if name == "rsa" { "rsa" } else { "ec" };
        for cipher in ["-aes128", "-aes192", "-aes256", "-des3"] {
            let out = dir.path().join(format!("{name}{cipher}"));
            run(Command::new("openssl")
                .args([legacy, "-traditional", "-in"])
                .arg(&plain)
                .arg(cipher)
                .args(["-passout", &pass_arg, "-out"])
                .arg(&out));
            assert!(read_text(&out).contains("DEK-Info"), "{name}{cipher}");
            assert_loads(&out, &expect, &format!("{name} openssl {cipher}"));
        }
        for (v2, prf) in [
            ("aes-256-cbc", "hmacWithSHA256"),
            ("aes-192-cbc", "hmacWithSHA512"),
            ("aes-128-cbc", "hmacWithSHA1"),
            ("aes-256-cbc", "hmacWithSHA384"),
            ("des3", "hmacWithSHA224"),
        ] {
            let out = dir.path().join(format!("{name}-{v2}-{prf}"));
            run(Command::new("openssl")
                .args(["pkcs8", "-topk8", "-v2", v2, "-v2prf", prf, "-in"])
                .arg(&plain)
                .args(["-passout", &pass_arg, "-out"])
                .arg(&out));
            assert_loads(&out, &expect, &format!("{name} pkcs8 {v2} {prf}"));
        }
    }

    // Ed25519 in PKCS#8 (RFC 8410), encrypted by OpenSSL, equals its unencrypted form.
    let plain = dir.path().join("ed25519.pem");
    run(Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&plain));
    let key = PrivateKey::from_openssh(&read(&plain)).unwrap();
    let out = dir.path().join("ed25519.enc.pem");
    run(Command::new("openssl")
        .args(["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in"])
        .arg(&plain)
        .args(["-passout", &format!("pass:{PASS}"), "-out"])
        .arg(&out));
    let expect = ("256".to_owned(), key.public_key().fingerprint_sha256());
    assert_loads(&out, &expect, "ed25519 pkcs8");
}

fn nacre_keys() -> Vec<(&'static str, PrivateKey)> {
    vec![
        ("ed25519", PrivateKey::generate_ed25519(&mut OsRng)),
        (
            "p256",
            PrivateKey::generate_ecdsa(KeyType::EcdsaNistP256, &mut OsRng).unwrap(),
        ),
        (
            "p384",
            PrivateKey::generate_ecdsa(KeyType::EcdsaNistP384, &mut OsRng).unwrap(),
        ),
        (
            "p521",
            PrivateKey::generate_ecdsa(KeyType::EcdsaNistP521, &mut OsRng).unwrap(),
        ),
        (
            "rsa2048",
            PrivateKey::generate_rsa(2048, &mut OsRng).unwrap(),
        ),
    ]
}

/// Files nacre encrypts, in every cipher, are read by `ssh-keygen -y -P` and `-l`.
#[test]
fn ssh_keygen_reads_our_encrypted_files() {
    if ssh_keygen().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (name, key) in nacre_keys() {
        let want_line = key.public_key().to_openssh_line("");
        let want: Vec<&str> = want_line.split_whitespace().take(2).collect();
        for &cipher in KeyCipher::ALL {
            let what = format!("{name} {}", cipher.name());
            let comment = format!("nacre {what}");
            let text = key
                .to_openssh_encrypted_with(&comment, PASS.as_bytes(), cipher, 4, &mut OsRng)
                .unwrap();
            let path = dir.path().join(format!("{name}_{}", cipher.name()));
            write_private(&path, text.as_bytes());

            let line = run(keygen().args(["-y", "-P", PASS, "-f"]).arg(&path));
            let theirs: Vec<&str> = line.split_whitespace().take(2).collect();
            assert_eq!(theirs, want, "{what}: ssh-keygen -y");
            let wrong = keygen()
                .args(["-y", "-P", "not it", "-f"])
                .arg(&path)
                .output()
                .unwrap();
            assert!(
                !wrong.status.success(),
                "{what}: ssh-keygen took a wrong passphrase"
            );

            // Our own reader, and the comment ssh-keygen sees when it re-encrypts the file.
            let back =
                PrivateKey::from_openssh_with_passphrase(text.as_bytes(), PASS.as_bytes()).unwrap();
            assert_eq!(back.public_key(), key.public_key(), "{what}");
            assert_eq!(back.comment(), comment, "{what}");
        }
        // The default writer: aes256-ctr, 16 rounds, like ssh-keygen.
        let text = key
            .to_openssh_encrypted("default", PASS.as_bytes(), 0, &mut OsRng)
            .unwrap();
        let body = text.lines().nth(1).unwrap();
        // base64 of "openssh-key-v1\0" + string "aes256-ctr" + string "bcrypt".
        assert!(
            body.starts_with("b3BlbnNzaC1rZXktdjEAAAAACmFlczI1Ni1jdHIAAAAGYmNyeXB0"),
            "{name}: {body}"
        );
        let path = dir.path().join(format!("{name}_default"));
        write_private(&path, text.as_bytes());
        let listing = run(keygen().args(["-l", "-f"]).arg(&path));
        assert!(
            listing.contains(&key.public_key().fingerprint_sha256()),
            "{name}"
        );
        let line = run(keygen().args(["-y", "-P", PASS, "-f"]).arg(&path));
        let theirs: Vec<&str> = line.split_whitespace().take(2).collect();
        assert_eq!(theirs, want, "{name}: default cipher");
        // An empty passphrase writes the unencrypted form, as ssh-keygen -N ''.
        let text = key.to_openssh_encrypted("c", b"", 16, &mut OsRng).unwrap();
        assert_eq!(text, key.to_openssh("c"));
    }
}

/// RSA keys nacre generates are accepted by `ssh-keygen`, which can re-encrypt them (it parses
/// and checks every private component), and sign in a way `ssh-keygen` verifies.
#[test]
fn generated_rsa_keys_round_trip_through_ssh_keygen() {
    assert!(matches!(
        PrivateKey::generate_rsa(1024, &mut OsRng),
        Err(KeyError::Generation(_))
    ));
    assert!(matches!(
        PrivateKey::generate_rsa(2047, &mut OsRng),
        Err(KeyError::Generation(_))
    ));
    assert!(matches!(
        PrivateKey::generate_rsa(16385, &mut OsRng),
        Err(KeyError::Generation(_))
    ));
    if ssh_keygen().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for bits in [2048, 3072] {
        let key = PrivateKey::generate_rsa(bits, &mut OsRng).unwrap();
        assert_eq!(key.public_key().bits(), bits);
        let path = dir.path().join(format!("rsa{bits}"));
        write_private(&path, key.to_openssh("gen").as_bytes());
        let (b, fp) = keygen_fingerprint(&path);
        assert_eq!(b, bits.to_string());
        assert_eq!(fp, key.public_key().fingerprint_sha256());

        // ssh-keygen rewrites it encrypted, and in PEM: we read both back.
        for (suffix, extra) in [("v1", &[][..]), ("pem", &["-m", "PEM"][..])] {
            let copy = dir.path().join(format!("rsa{bits}_{suffix}"));
            reencrypt(&path, &copy, extra);
            let back = assert_loads(
                &copy,
                &(b.clone(), fp.clone()),
                &format!("rsa{bits} {suffix}"),
            );
            // The re-read key signs, and the public key verifies the signature.
            let sig = back.sign(SignatureAlgorithm::RsaSha256, b"data").unwrap();
            key.public_key()
                .verify(SignatureAlgorithm::RsaSha256, b"data", &sig)
                .unwrap();
        }
        let (public, _) =
            PublicKey::from_openssh_line(&run(keygen().args(["-y", "-f"]).arg(&path))).unwrap();
        assert_eq!(public, key.public_key());
    }
}
