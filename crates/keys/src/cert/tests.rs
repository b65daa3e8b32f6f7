#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::*;
use crate::PrivateKey;

const KEYS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/vectors/openssh-keys"
);

fn vector(name: &str) -> String {
    std::fs::read_to_string(format!("{KEYS}/{name}")).expect("../shared/vectors/openssh-keys")
}

/// OpenSSH's certificate test data parses, its CA signature verifies, it re-encodes to the same
/// line, and its fingerprint is the plain key's.
#[test]
fn openssh_certificate_vectors() {
    for (name, alg) in [
        ("ed25519_1", SignatureAlgorithm::Ed25519),
        ("ecdsa_1", SignatureAlgorithm::EcdsaNistP256),
        ("rsa_1", SignatureAlgorithm::Ed25519),
        ("rsa_1_sha1", SignatureAlgorithm::SshRsa),
        ("rsa_1_sha512", SignatureAlgorithm::RsaSha512),
    ] {
        let text = vector(&format!("{name}-cert.pub"));
        let (cert, comment) = Certificate::from_openssh_line(&text).unwrap();
        assert_eq!(cert.to_openssh_line(&comment), text.trim_end(), "{name}");
        let plain = vector(&format!("{name}.pub"));
        let (key, _) = PublicKey::from_openssh_line(&plain).unwrap();
        assert_eq!(cert.key(), &key, "{name}");
        if let Ok(fp) = std::fs::read_to_string(format!("{KEYS}/{name}-cert.fp")) {
            assert_eq!(cert.key().fingerprint_sha256(), fp.trim(), "{name}");
        }
        assert!(!cert.principals().is_empty(), "{name}");
        assert_eq!(cert.signature_algorithm(), alg, "{name}");
    }
}

#[test]
fn unsupported_certificate_vectors_are_errors() {
    let text = vector("mldsa44_ed25519_1-cert.pub");
    assert!(KeyOrCert::from_openssh_line(&text).is_err());
}

/// OpenSSH's security key certificates (`ed25519_sk1-cert.pub`, `ecdsa_sk1-cert.pub`): they
/// parse with the CA signature verified, certify the key of the `.pub` file (application
/// included) with the fingerprint of `-cert.fp`, and re-encode to the same line.
#[test]
fn openssh_security_key_certificate_vectors() {
    for (name, key_type) in [
        ("ed25519_sk1", KeyType::SkEd25519),
        ("ecdsa_sk1", KeyType::SkEcdsaNistP256),
    ] {
        let text = vector(&format!("{name}-cert.pub"));
        let (parsed, comment) = KeyOrCert::from_openssh_line(&text).expect(name);
        let cert = parsed.certificate().expect(name).clone();
        let plain = vector(&format!("{name}.pub"));
        let (key, _) = PublicKey::from_openssh_line(&plain).unwrap();
        assert_eq!(cert.key(), &key, "{name}");
        assert_eq!(key.key_type(), key_type, "{name}");
        assert_eq!(key.sk_application(), Some("ssh:"), "{name}");
        let fp = vector(&format!("{name}-cert.fp"));
        assert_eq!(cert.key().fingerprint_sha256(), fp.trim(), "{name}");
        assert_eq!(
            KeyOrCert::Cert(Box::new(cert)).to_openssh_line(&comment),
            text.trim(),
            "{name}"
        );
    }
}

fn every_ca() -> Vec<PrivateKey> {
    let mut rng = rand_core::OsRng;
    vec![
        PrivateKey::generate_ed25519(&mut rng),
        PrivateKey::generate_ecdsa(KeyType::EcdsaNistP256, &mut rng).unwrap(),
        PrivateKey::generate_ecdsa(KeyType::EcdsaNistP384, &mut rng).unwrap(),
        PrivateKey::generate_ecdsa(KeyType::EcdsaNistP521, &mut rng).unwrap(),
        crate::testkeys::rsa(),
    ]
}

#[test]
fn sign_and_parse_every_key_type() {
    let mut rng = rand_core::OsRng;
    let cas = every_ca();
    for ca in &cas {
        for subject in &cas {
            let cert = CertBuilder::new(subject.public_key(), CertType::User)
                .serial(42)
                .key_id("id-1")
                .principals(vec!["alice".into(), "bob".into()])
                .validity(100, 200)
                .critical_option("force-command", Some("/bin/true".into()))
                .critical_option("source-address", Some("10.0.0.0/8,::1".into()))
                .with_default_user_extensions()
                .sign(ca, None, &mut rng)
                .unwrap();
            let again = Certificate::from_blob(cert.blob()).unwrap();
            assert_eq!(again, cert);
            assert_eq!(again.key(), &subject.public_key());
            assert_eq!(again.signature_key(), &ca.public_key());
            assert_eq!(again.serial(), 42);
            assert_eq!(again.key_id(), "id-1");
            let opts = again.options().unwrap();
            assert_eq!(opts.force_command.as_deref(), Some("/bin/true"));
            assert!(opts.permit_pty && opts.permit_port_forwarding && opts.permit_user_rc);
            assert!(opts.permit_agent_forwarding && opts.permit_x11_forwarding);
            assert!(!opts.no_touch_required && !opts.verify_required);
            let src = opts.source_address.unwrap();
            assert!(src.allows("10.1.2.3".parse().unwrap()));
            assert!(src.allows("::ffff:10.1.2.3".parse().unwrap()));
            assert!(src.allows("::1".parse().unwrap()));
            assert!(!src.allows("192.0.2.1".parse().unwrap()));
            if ca.key_type() == KeyType::Rsa {
                assert_eq!(again.signature_algorithm(), SignatureAlgorithm::RsaSha512);
            }
        }
    }
}

#[test]
fn extensions_are_sorted_as_ssh_keygen_writes_them() {
    let mut rng = rand_core::OsRng;
    let ca = PrivateKey::generate_ed25519(&mut rng);
    let cert = CertBuilder::new(ca.public_key(), CertType::User)
        .extension("permit-pty", None)
        .extension("no-touch-required", None)
        .with_default_user_extensions()
        .sign(&ca, None, &mut rng)
        .unwrap();
    let names: Vec<&str> = cert.extensions().iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "no-touch-required",
            "permit-X11-forwarding",
            "permit-agent-forwarding",
            "permit-port-forwarding",
            "permit-pty",
            "permit-user-rc"
        ]
    );
}

#[test]
fn check_authority_window_type_principals() {
    let mut rng = rand_core::OsRng;
    let ca = PrivateKey::generate_ed25519(&mut rng);
    let user = CertBuilder::new(ca.public_key(), CertType::User)
        .principals(vec!["alice".into()])
        .validity(100, 200)
        .sign(&ca, None, &mut rng)
        .unwrap();
    let check = |now, name| user.check_authority(CertType::User, now, name, false);
    assert!(check(100, Some("alice")).is_ok());
    assert!(check(199, None).is_ok());
    assert_eq!(
        check(99, Some("alice")),
        Err(KeyError::CertificateRefused(
            "Certificate invalid: not yet valid"
        ))
    );
    assert_eq!(
        check(200, Some("alice")),
        Err(KeyError::CertificateRefused("Certificate invalid: expired"))
    );
    assert_eq!(
        check(150, Some("bob")),
        Err(KeyError::CertificateRefused(
            "Certificate invalid: name is not a listed principal"
        ))
    );
    assert!(user
        .check_authority(CertType::Host, 150, None, false)
        .is_err());
    assert!(user.check_user(&["alice"], 150).is_ok());
    assert!(user.check_user(&["bob", "carol"], 150).is_err());

    let host = CertBuilder::new(ca.public_key(), CertType::Host)
        .principals(vec!["*.example.com".into()])
        .sign(&ca, None, &mut rng)
        .unwrap();
    assert!(host.check_host("www.example.com", 5).is_ok());
    assert!(host.check_host("example.org", 5).is_err());
    let nobody = CertBuilder::new(ca.public_key(), CertType::Host)
        .sign(&ca, None, &mut rng)
        .unwrap();
    assert_eq!(
        nobody.check_host("a", 5),
        Err(KeyError::CertificateRefused(
            "Certificate lacks principal list"
        ))
    );
}

#[test]
fn unknown_critical_option_is_refused_unknown_extension_ignored() {
    let mut rng = rand_core::OsRng;
    let ca = PrivateKey::generate_ed25519(&mut rng);
    let build = || CertBuilder::new(ca.public_key(), CertType::User).principals(vec!["a".into()]);
    let crit = build()
        .critical_option("no-such-option", None)
        .sign(&ca, None, &mut rng)
        .unwrap();
    assert!(crit.options().is_err());
    let ext = build()
        .extension("vendor@example.com", Some("x".into()))
        .sign(&ca, None, &mut rng)
        .unwrap();
    assert_eq!(
        ext.options().unwrap().unknown_extensions,
        vec!["vendor@example.com"]
    );
    let bad_src = build()
        .critical_option("source-address", Some("example.com".into()))
        .sign(&ca, None, &mut rng)
        .unwrap();
    assert!(bad_src.options().is_err());
    assert!(SourceAddress::parse("10.0.0.1/8").is_err());
    assert!(SourceAddress::parse("10.0.0.0/33").is_err());
    assert!(SourceAddress::parse("10.0.0.0/8").is_ok());
}

#[test]
fn tampering_truncation_and_ca_certificates_are_rejected() {
    let mut rng = rand_core::OsRng;
    let ca = PrivateKey::generate_ed25519(&mut rng);
    let cert = CertBuilder::new(ca.public_key(), CertType::User)
        .principals(vec!["a".into()])
        .sign(&ca, None, &mut rng)
        .unwrap();
    let blob = cert.to_blob();
    for cut in 0..blob.len() {
        assert!(Certificate::from_blob(&blob[..cut]).is_err());
    }
    for i in (40..blob.len()).step_by(7) {
        let mut bad = blob.clone();
        bad[i] ^= 1;
        assert!(Certificate::from_blob(&bad).is_err(), "flip at {i}");
    }
    let mut trailing = blob.clone();
    trailing.push(0);
    assert!(Certificate::from_blob(&trailing).is_err());
}

/// A CA signature with the legacy `ssh-rsa` (SHA-1) parses but is refused for use, as OpenSSH's
/// default `CASignatureAlgorithms` refuses it.
#[test]
fn sha1_ca_signatures_are_refused_for_use() {
    let text = vector("rsa_1_sha1-cert.pub");
    let (cert, _) = Certificate::from_openssh_line(&text).unwrap();
    assert_eq!(cert.signature_algorithm(), SignatureAlgorithm::SshRsa);
    assert!(cert.check_ca_algorithm(DEFAULT_CA_ALGORITHMS).is_err());
    let name = cert.principals()[0].clone();
    let now = cert.valid_after();
    let result = match cert.cert_type() {
        CertType::Host => cert.check_host(&name, now),
        CertType::User => cert.check_user(&[&name], now).map(|_| ()),
    };
    assert_eq!(
        result,
        Err(KeyError::CertificateRefused(
            "Certificate signed with disallowed algorithm"
        ))
    );
    let (sha2, _) = Certificate::from_openssh_line(&vector("rsa_1_sha512-cert.pub")).unwrap();
    assert!(sha2.check_ca_algorithm(DEFAULT_CA_ALGORITHMS).is_ok());
}
