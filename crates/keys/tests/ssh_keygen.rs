//! Interoperability with OpenSSH's `ssh-keygen`: files we write are read by it (same public key
//! and fingerprint), keys it writes in every format are read by us, and signatures cross both ways
//! through SSHSIG (`ssh-keygen -Y sign` / `-Y check-novalidate`).
//! Skipped (with a message) when `ssh-keygen` is not installed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{read, read_text, run, ssh_keygen, write_private};
use nacre_keys::{KeyType, PrivateKey, PublicKey, SignatureAlgorithm};
use rand_core::OsRng;

fn keygen() -> Command {
    Command::new("ssh-keygen")
}

/// `ssh-keygen -y` and `-l` on a file we wrote agree with our public key and fingerprint.
fn check_written_file(key: &PrivateKey, dir: &Path, name: &str) {
    let comment = format!("nacre {name}");
    let text = key.to_openssh(&comment);
    let path = dir.join(name);
    write_private(&path, text.as_bytes());

    // Our own reader round trip.
    let back = PrivateKey::from_openssh(text.as_bytes()).unwrap();
    assert_eq!(back.public_key(), key.public_key(), "{name}");
    assert_eq!(back.comment(), comment);
    assert_eq!(
        back.to_openssh(&comment),
        text,
        "{name}: writing is deterministic"
    );

    let line = run(keygen().arg("-y").arg("-f").arg(&path));
    let ours = key.public_key().to_openssh_line(&comment);
    let theirs: Vec<&str> = line.split_whitespace().take(2).collect();
    let mine: Vec<&str> = ours.split_whitespace().take(2).collect();
    assert_eq!(theirs, mine, "{name}: ssh-keygen -y");

    let listing = run(keygen().arg("-l").arg("-f").arg(&path));
    let fields: Vec<&str> = listing.split_whitespace().collect();
    assert_eq!(
        fields[0],
        key.public_key().bits().to_string(),
        "{name}: bits"
    );
    assert_eq!(
        fields[1],
        key.public_key().fingerprint_sha256(),
        "{name}: fingerprint"
    );
}

#[test]
fn ssh_keygen_reads_our_files() {
    if ssh_keygen().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let vectors = common::vectors_dir();
    let keys = [
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
            "rsa_1",
            PrivateKey::from_openssh(&read(&vectors.join("rsa_1"))).unwrap(),
        ),
        (
            "rsa_2",
            PrivateKey::from_openssh(&read(&vectors.join("rsa_2"))).unwrap(),
        ),
        (
            "ecdsa_2",
            PrivateKey::from_openssh(&read(&vectors.join("ecdsa_2"))).unwrap(),
        ),
    ];
    for (name, key) in &keys {
        check_written_file(key, dir.path(), name);
    }
}

/// Keys `ssh-keygen` generates, in its own format and in PEM/PKCS#8, are read with the right
/// public key; we sign with them and `ssh-keygen -Y check-novalidate` accepts the signature, and
/// `ssh-keygen -Y sign` signatures verify with our code.
#[test]
fn keys_generated_by_ssh_keygen() {
    if ssh_keygen().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &[&str])] = &[
        ("ed25519", &["-t", "ed25519"]),
        ("ecdsa256", &["-t", "ecdsa", "-b", "256"]),
        ("ecdsa384", &["-t", "ecdsa", "-b", "384"]),
        ("ecdsa521", &["-t", "ecdsa", "-b", "521"]),
        ("rsa2048", &["-t", "rsa", "-b", "2048"]),
        ("rsa3072", &["-t", "rsa", "-b", "3072"]),
        ("ecdsa256_pem", &["-t", "ecdsa", "-b", "256", "-m", "PEM"]),
        (
            "ecdsa384_pkcs8",
            &["-t", "ecdsa", "-b", "384", "-m", "PKCS8"],
        ),
        ("rsa2048_pem", &["-t", "rsa", "-b", "2048", "-m", "PEM"]),
        ("rsa2048_pkcs8", &["-t", "rsa", "-b", "2048", "-m", "PKCS8"]),
    ];
    let message = b"signed by both sides";
    for (name, args) in cases {
        let path = dir.path().join(name);
        run(keygen()
            .args(*args)
            .args(["-q", "-N", "", "-C", name, "-f"])
            .arg(&path));
        let text = read(&path);
        let key = PrivateKey::from_openssh(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (public, comment) =
            PublicKey::from_openssh_line(&read_text(&path.with_extension("pub"))).unwrap();
        assert_eq!(key.public_key(), public, "{name}");
        assert_eq!(comment, *name);
        if String::from_utf8_lossy(&text).contains("OPENSSH PRIVATE KEY") {
            assert_eq!(key.comment(), *name);
        }

        // ssh-keygen signs, we verify.
        let msg_path = dir.path().join(format!("{name}.msg"));
        std::fs::write(&msg_path, message).unwrap();
        run(keygen()
            .args(["-Y", "sign", "-n", "nacre-test", "-f"])
            .arg(&path)
            .arg(&msg_path));
        let sig = common::parse_sshsig(&read_text(&msg_path.with_extension("msg.sig")));
        assert_eq!(PublicKey::from_blob(&sig.public_key).unwrap(), public);
        let signed = common::sshsig_signed_data(b"nacre-test", &sig.hash_algorithm, message);
        let alg = common::blob_algorithm(&sig.signature);
        public
            .verify(alg, &signed, &sig.signature)
            .unwrap_or_else(|e| panic!("{name}: {e}"));

        // We sign, ssh-keygen verifies.
        let alg = match key.key_type() {
            KeyType::Rsa => SignatureAlgorithm::RsaSha512,
            other => other.signature_algorithms()[0],
        };
        let ours = key
            .sign(
                alg,
                &common::sshsig_signed_data(b"nacre-test", "sha512", message),
            )
            .unwrap();
        let sig_path = dir.path().join(format!("{name}.nacre.sig"));
        std::fs::write(
            &sig_path,
            common::make_sshsig(&public, b"nacre-test", &ours),
        )
        .unwrap();
        check_novalidate(&sig_path, message, true, name);
        check_novalidate(&sig_path, b"another message", false, name);
    }
}

fn check_novalidate(sig_path: &Path, message: &[u8], expect_ok: bool, name: &str) {
    use std::io::Write;
    let mut child = keygen()
        .args(["-Y", "check-novalidate", "-n", "nacre-test", "-s"])
        .arg(sig_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(message).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.success(),
        expect_ok,
        "{name}: ssh-keygen -Y check-novalidate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A 1024-bit RSA key (below *ring*'s 2048-bit signing minimum): its signatures, made here by
/// `ssh-keygen` from a file we wrote, verify.
#[test]
fn rsa_1024_signatures_from_ssh_keygen_verify() {
    if ssh_keygen().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let key = PrivateKey::from_openssh(&read(&common::vectors_dir().join("rsa_1"))).unwrap();
    assert_eq!(key.public_key().bits(), 1024);
    let path = dir.path().join("rsa_1");
    write_private(&path, key.to_openssh("rsa 1024").as_bytes());
    let msg_path = dir.path().join("m");
    std::fs::write(&msg_path, b"legacy").unwrap();
    run(keygen()
        .args(["-Y", "sign", "-n", "ns", "-f"])
        .arg(&path)
        .arg(&msg_path));
    let sig = common::parse_sshsig(&read_text(&dir.path().join("m.sig")));
    let alg = common::blob_algorithm(&sig.signature);
    assert_eq!(alg, SignatureAlgorithm::RsaSha512);
    let signed = common::sshsig_signed_data(b"ns", &sig.hash_algorithm, b"legacy");
    key.public_key()
        .verify(alg, &signed, &sig.signature)
        .unwrap();
}

/// Signs with every RSA algorithm; nacre verifies each, `ssh-keygen -Y check-novalidate` verifies
/// the `rsa-sha2-*` ones (SSHSIG refuses SHA-1 RSA signatures), and `openssl` (when installed)
/// verifies the raw PKCS#1 v1.5 signature of each, `ssh-rsa` included.
fn check_rsa_signatures(key: &PrivateKey, dir: &Path, name: &str) {
    let public = key.public_key();
    let message = b"signed by nacre";
    let pub_path = dir.join(format!("{name}.pub"));
    std::fs::write(&pub_path, public.to_openssh_line(name)).unwrap();
    let pem = run(keygen().args(["-e", "-m", "PKCS8", "-f"]).arg(&pub_path));
    let pem_path = dir.join(format!("{name}.pem"));
    std::fs::write(&pem_path, pem).unwrap();
    let openssl = Command::new("openssl").arg("version").output().is_ok();
    if !openssl {
        eprintln!("openssl not found: skipping the raw PKCS#1 v1.5 checks");
    }
    for (alg, digest) in [
        (SignatureAlgorithm::RsaSha256, "-sha256"),
        (SignatureAlgorithm::RsaSha512, "-sha512"),
        (SignatureAlgorithm::SshRsa, "-sha1"),
    ] {
        let label = format!("{name} {alg:?}");
        let signed = common::sshsig_signed_data(b"nacre-test", "sha512", message);
        let ours = key
            .sign(alg, &signed)
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(common::blob_algorithm(&ours), alg, "{label}");
        public
            .verify(alg, &signed, &ours)
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        let (_, raw) = nacre_keys::decode_signature_blob(&ours).unwrap();
        assert_eq!(raw.len() * 8, public.bits(), "{label}: modulus length");

        if alg != SignatureAlgorithm::SshRsa {
            let sig_path = dir.join(format!("{name}.{}.sig", alg.name()));
            std::fs::write(
                &sig_path,
                common::make_sshsig(&public, b"nacre-test", &ours),
            )
            .unwrap();
            check_novalidate(&sig_path, message, true, &label);
            check_novalidate(&sig_path, b"another message", false, &label);
        }

        if openssl {
            let data_path = dir.join(format!("{name}.{}.data", alg.name()));
            let raw_path = dir.join(format!("{name}.{}.raw", alg.name()));
            std::fs::write(&data_path, &signed).unwrap();
            std::fs::write(&raw_path, raw).unwrap();
            let out = run(Command::new("openssl")
                .args(["dgst", digest, "-verify"])
                .arg(&pem_path)
                .arg("-signature")
                .arg(&raw_path)
                .arg(&data_path));
            assert!(out.contains("Verified OK"), "{label}: openssl: {out}");
        }
    }
}

/// The RustCrypto fallback: `ssh-rsa` (SHA-1) with a 2048-bit key, and every RSA algorithm with
/// OpenSSH's 1024-bit test key, which *ring* refuses.
#[test]
fn rsa_fallback_signatures_verify_with_openssh() {
    if ssh_keygen().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for name in ["rsa_1", "rsa_2"] {
        let key = PrivateKey::from_openssh(&read(&common::vectors_dir().join(name))).unwrap();
        check_rsa_signatures(&key, dir.path(), name);
    }
}

/// An 8192-bit key from `ssh-keygen` (above *ring*'s 4096-bit signing limit) signs every RSA
/// algorithm through the fallback.
#[test]
fn rsa_8192_from_ssh_keygen_signs() {
    if ssh_keygen().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rsa8192");
    run(keygen()
        .args([
            "-t", "rsa", "-b", "8192", "-q", "-N", "", "-C", "rsa8192", "-f",
        ])
        .arg(&path));
    let key = PrivateKey::from_openssh(&read(&path)).unwrap();
    assert_eq!(key.public_key().bits(), 8192);
    check_rsa_signatures(&key, dir.path(), "rsa8192");
}
