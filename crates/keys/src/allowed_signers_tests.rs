#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::*;
use crate::cert::CertBuilder;
use crate::PrivateKey;

fn key() -> PrivateKey {
    PrivateKey::generate_ed25519(&mut rand_core::OsRng)
}

fn line(principals: &str, opts: &str, k: &PrivateKey) -> String {
    let pk = k.public_key().to_openssh_line("comment");
    if opts.is_empty() {
        format!("{principals} {pk}\n")
    } else {
        format!("{principals} {opts} {pk}\n")
    }
}

#[test]
fn plain_keys_principals_and_wildcards() {
    let (a, b) = (key(), key());
    let text = format!(
        "# comment\n\n{}{}",
        line("alice@example.com,bob@example.com", "", &a),
        line("*@corp.example", "namespaces=\"git,file\"", &b)
    );
    let s = AllowedSigners::new(&text);
    let ka: KeyOrCert = a.public_key().into();
    let kb: KeyOrCert = b.public_key().into();
    assert!(s.check(&ka, "alice@example.com", "any", 100));
    assert!(s.check(&ka, "bob@example.com", "any", 100));
    assert!(!s.check(&ka, "carol@example.com", "any", 100));
    assert!(!s.check(&kb, "alice@example.com", "git", 100));
    assert!(s.check(&kb, "dev@corp.example", "git", 100));
    assert!(!s.check(&kb, "dev@corp.example", "ssh", 100));
    assert_eq!(
        s.find_principals(&ka, 100).unwrap(),
        vec!["alice@example.com", "bob@example.com"]
    );
    assert_eq!(s.find_principals(&kb, 100).unwrap(), vec!["*@corp.example"]);
    assert!(s.find_principals(&key().public_key().into(), 100).is_none());
    assert_eq!(
        s.match_principals("x@corp.example").unwrap(),
        vec!["*@corp.example"]
    );
}

#[test]
fn negated_principals_and_quotes() {
    let a = key();
    let text = line("\"*,!mallory\"", "", &a);
    let s = AllowedSigners::new(&text);
    let ka: KeyOrCert = a.public_key().into();
    assert!(s.check(&ka, "alice", "n", 1));
    assert!(!s.check(&ka, "mallory", "n", 1));
}

#[test]
fn validity_window() {
    let a = key();
    // 2020-01-01T00:00:00Z = 1577836800, 2030-01-01T00:00:00Z = 1893456000.
    let text = line(
        "alice",
        "valid-after=\"20200101Z\",valid-before=\"20300101Z\"",
        &a,
    );
    let s = AllowedSigners::new(&text);
    let ka: KeyOrCert = a.public_key().into();
    assert!(!s.check(&ka, "alice", "n", 1_577_836_799));
    assert!(s.check(&ka, "alice", "n", 1_577_836_800));
    assert!(s.check(&ka, "alice", "n", 1_893_456_000));
    assert!(!s.check(&ka, "alice", "n", 1_893_456_001));
}

#[test]
fn bad_lines_are_skipped() {
    let a = key();
    let text = format!(
        "alice\nalice bogus-option {}\nalice namespaces=\"unterminated {}\n{}",
        a.public_key().to_openssh_line(""),
        a.public_key().to_openssh_line(""),
        line("alice", "namespaces=\"ok\"", &a)
    );
    let s = AllowedSigners::new(&text);
    let ka: KeyOrCert = a.public_key().into();
    assert!(s.check(&ka, "alice", "ok", 1));
    let lines = s.lines();
    assert_eq!(lines.len(), 4);
    assert!(lines[0].1.is_err() && lines[1].1.is_err() && lines[2].1.is_err());
    assert!(lines[3].1.is_ok());
    assert!(s.match_principals("alice").is_err());
}

#[test]
fn cert_authority_lines() {
    let mut rng = rand_core::OsRng;
    let (ca, user) = (key(), key());
    let cert = CertBuilder::new(user.public_key(), CertType::User)
        .principals(vec!["alice@example.com".into(), "ops".into()])
        .validity(1000, 2000)
        .sign(&ca, None, &mut rng)
        .unwrap();
    let text = line("*@example.com", "cert-authority", &ca);
    let s = AllowedSigners::new(&text);
    let signer: KeyOrCert = cert.clone().into();
    assert!(s.check(&signer, "alice@example.com", "git", 1500));
    assert!(!s.check(&signer, "alice@example.com", "git", 2500));
    assert!(!s.check(&signer, "bob@example.com", "git", 1500));
    assert_eq!(
        s.find_principals(&signer, 1500).unwrap(),
        vec!["alice@example.com"]
    );
    // The certificate's own key is not trusted by a CA line, nor the CA key itself.
    assert!(!s.check(&user.public_key().into(), "alice@example.com", "git", 1500));
    let plain = line("*@example.com", "", &ca);
    assert!(!AllowedSigners::new(&plain).check(&signer, "alice@example.com", "git", 1500));
}
