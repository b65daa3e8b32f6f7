//! known_hosts: OpenSSH's own test file (hashed and plain entries, markers, invalid lines), files
//! hashed by `ssh-keygen -H`, agreement with `ssh-keygen -F`, and the lookup rules (patterns,
//! negation, ports, revoked keys, changed keys).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use nacre_keys::known_hosts::{HostField, Marker};
use nacre_keys::{HostKeyStatus, KeyError, KeyType, KnownHosts, PrivateKey, PublicKey};
use rand_core::OsRng;

/// OpenSSH's `regress/unittests/hostkeys/testdata/known_hosts` (read in place, never copied).
fn vector_path() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/vectors/known_hosts-hashed"
    ))
}

fn have_ssh_keygen() -> bool {
    let ok = Command::new("ssh-keygen").arg("-?").output().is_ok();
    if !ok {
        eprintln!("ssh-keygen not found: skipping the OpenSSH part");
    }
    ok
}

fn ed25519() -> PublicKey {
    PrivateKey::generate_ed25519(&mut OsRng).public_key()
}

fn p256() -> PublicKey {
    PrivateKey::generate_ecdsa(KeyType::EcdsaNistP256, &mut OsRng)
        .unwrap()
        .public_key()
}

/// The key of the vector file's line whose comment is `comment` and whose key type is `kt`.
fn vector_key(kh: &KnownHosts, comment: &str, kt: KeyType) -> PublicKey {
    kh.entries()
        .iter()
        .find(|e| e.comment == comment && e.key.key_type() == kt)
        .unwrap_or_else(|| panic!("{comment} {kt}"))
        .key
        .clone()
}

#[test]
fn openssh_vector_file() {
    let text = std::fs::read_to_string(vector_path()).unwrap();
    let (kh, errors) = KnownHosts::parse(&text);

    // The six invalid lines at the end, each with a precise error.
    let errors: Vec<(usize, KeyError)> = errors;
    assert_eq!(errors.len(), 6, "{errors:?}");
    assert!(matches!(&errors[0].1, KeyError::UnknownMarker(m) if m == "@what"));
    assert_eq!(
        errors[1].1,
        KeyError::InvalidKnownHosts("no key after the host field")
    );
    assert_eq!(
        errors[2].1,
        KeyError::InvalidFormat("public key line has no base64 blob")
    );
    assert!(matches!(errors[3].1, KeyError::Wire(_)), "{:?}", errors[3]);
    assert!(matches!(&errors[4].1, KeyError::UnknownKeyType(t) if t == "ssh-XXX"));
    // The blob's first string is itself an encoded "ssh-XXX" blob.
    assert!(matches!(&errors[5].1, KeyError::UnknownKeyType(t) if t.contains("ssh-XXX")));
    let lines: Vec<&str> = text.split('\n').collect();
    for (line_no, _) in &errors {
        assert!(lines[line_no - 1].len() > 5, "line {line_no}");
    }

    // Every hashed entry matches its host: "#5" keys were hashed for sisyphus.example.com, each
    // "#6" key three times, once for each of prometheus.example.com, 192.0.2.1 and 2001:db8::1.
    let hashed: Vec<_> = kh
        .entries()
        .iter()
        .filter(|e| matches!(e.hosts, HostField::Hashed(_)))
        .collect();
    assert_eq!(hashed.len(), 12);
    let six = ["prometheus.example.com", "192.0.2.1", "2001:db8::1"];
    for e in &hashed {
        let HostField::Hashed(h) = &e.hosts else {
            unreachable!()
        };
        if e.comment.ends_with("#5") {
            assert!(h.matches("sisyphus.example.com"), "line {}", e.line);
            assert!(!h.matches("prometheus.example.com"));
        } else {
            assert!(e.comment.ends_with("#6"), "{}", e.comment);
            let hits: Vec<&str> = six.iter().copied().filter(|n| h.matches(n)).collect();
            assert_eq!(hits.len(), 1, "line {}", e.line);
        }
        // Writing the field back gives the same text as the file.
        assert!(lines[e.line - 1].starts_with(&e.hosts.to_string()));
    }
    for kt in [KeyType::EcdsaNistP256, KeyType::Ed25519, KeyType::Rsa] {
        let key = vector_key(&kh, &format!("{} #6", comment_prefix(kt)), kt);
        for host in six {
            assert_eq!(kh.lookup(host, 22, &key), HostKeyStatus::Match, "{host}");
        }
        let key5 = vector_key(&kh, &format!("{} #5", comment_prefix(kt)), kt);
        assert_eq!(
            kh.lookup("sisyphus.example.com", 22, &key5),
            HostKeyStatus::Match
        );
        // Hashed names are per port: the same host on another port is unknown.
        assert_eq!(
            kh.lookup("sisyphus.example.com", 2222, &key5),
            HostKeyStatus::Unknown
        );
    }

    // Plain entries, address lists and wildcards.
    let ed1 = vector_key(&kh, "ED25519 #1", KeyType::Ed25519);
    let ed2 = vector_key(&kh, "ED25519 #2", KeyType::Ed25519);
    let ed3 = vector_key(&kh, "ED25519 #3", KeyType::Ed25519);
    let ed4 = vector_key(&kh, "ED25519 #4", KeyType::Ed25519);
    assert_eq!(
        kh.lookup("sisyphus.example.com", 22, &ed1),
        HostKeyStatus::Match
    );
    assert_eq!(kh.lookup("2001:db8::1", 22, &ed2), HostKeyStatus::Match);
    assert_eq!(kh.lookup("192.0.2.1", 22, &ed2), HostKeyStatus::Match);
    assert_eq!(
        kh.lookup("other.example.com", 22, &ed3),
        HostKeyStatus::Match
    );
    assert_eq!(kh.lookup("192.0.2.200", 22, &ed3), HostKeyStatus::Match);
    assert_eq!(kh.lookup("2001:db8::99", 22, &ed3), HostKeyStatus::Match);
    assert_eq!(kh.lookup("example.org", 22, &ed3), HostKeyStatus::Unknown);
    // Key #1 is known for sisyphus only.
    match kh.lookup("prometheus.example.com", 22, &ed1) {
        HostKeyStatus::Mismatch { known } => {
            assert!(known.contains(&ed2) && known.contains(&ed3) && !known.contains(&ed1));
        }
        other => panic!("{other:?}"),
    }
    // The revoked key, even though it is not otherwise listed.
    assert_eq!(
        kh.lookup("sisyphus.example.com", 22, &ed4),
        HostKeyStatus::Revoked
    );
    assert_eq!(
        kh.lookup("prometheus.example.com", 22, &ed4),
        HostKeyStatus::Mismatch {
            known: kh
                .matching("prometheus.example.com", 22)
                .filter(|e| e.marker == Marker::None && e.key.key_type() == KeyType::Ed25519)
                .map(|e| e.key.clone())
                .collect()
        }
    );
    // The CA line is kept but never matches as a host key.
    let ca = kh
        .entries()
        .iter()
        .find(|e| e.marker == Marker::CertAuthority)
        .unwrap();
    assert_eq!(ca.key.key_type(), KeyType::EcdsaNistP256);
    assert_eq!(
        kh.lookup("prometheus.example.com", 22, &ca.key),
        HostKeyStatus::Mismatch {
            known: kh
                .matching("prometheus.example.com", 22)
                .filter(|e| e.marker == Marker::None && e.key.key_type() == KeyType::EcdsaNistP256)
                .map(|e| e.key.clone())
                .collect()
        }
    );
}

fn comment_prefix(kt: KeyType) -> &'static str {
    match kt {
        KeyType::Ed25519 => "ED25519",
        KeyType::Rsa => "RSA",
        _ => "ECDSA",
    }
}

#[test]
fn lookup_rules() {
    let (a, b, c) = (ed25519(), ed25519(), p256());
    let revoked = ed25519();
    let text = format!(
        "# comment\n\
         \n\
         host.example.com,10.0.0.1 {a}\n\
         *.corp.example,!evil.corp.example {b}\n\
         [host.example.com]:2222 {b}\n\
         [*.corp.example]:* {c}\n\
         host-?? {c}\n\
         @revoked * {revoked}\n\
         @cert-authority *.example.com {c}\n",
        a = a.to_openssh_line("a"),
        b = b.to_openssh_line(""),
        c = c.to_openssh_line("c"),
        revoked = revoked.to_openssh_line("gone"),
    );
    let (kh, errors) = KnownHosts::parse(&text);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(kh.entries().len(), 7);
    assert_eq!(kh.entries()[0].line, 3);

    // Exact names, case-insensitive; addresses.
    assert_eq!(kh.lookup("host.example.com", 22, &a), HostKeyStatus::Match);
    assert_eq!(kh.lookup("HOST.Example.COM", 22, &a), HostKeyStatus::Match);
    assert_eq!(kh.lookup("10.0.0.1", 22, &a), HostKeyStatus::Match);
    // Same type, other key: the changed-key case.
    assert_eq!(
        kh.lookup("host.example.com", 22, &b),
        HostKeyStatus::Mismatch {
            known: vec![a.clone()]
        }
    );
    // A key of another type is not a mismatch.
    assert_eq!(
        kh.lookup("host.example.com", 22, &c),
        HostKeyStatus::Unknown
    );
    assert_eq!(
        kh.known_key_types("host.example.com", 22),
        vec![KeyType::Ed25519]
    );
    // Ports: the bare name is port 22 only.
    assert_eq!(
        kh.lookup("host.example.com", 2222, &b),
        HostKeyStatus::Match
    );
    assert_eq!(
        kh.lookup("host.example.com", 2223, &a),
        HostKeyStatus::Unknown
    );
    // Wildcards and negation.
    assert_eq!(kh.lookup("db.corp.example", 22, &b), HostKeyStatus::Match);
    assert_eq!(
        kh.lookup("evil.corp.example", 22, &b),
        HostKeyStatus::Unknown
    );
    assert_eq!(kh.lookup("db.corp.example", 8022, &c), HostKeyStatus::Match);
    assert_eq!(kh.lookup("host-01", 22, &c), HostKeyStatus::Match);
    assert_eq!(kh.lookup("host-001", 22, &c), HostKeyStatus::Unknown);
    // Revoked wins everywhere, even for a host that lists nothing else.
    assert_eq!(
        kh.lookup("host.example.com", 22, &revoked),
        HostKeyStatus::Revoked
    );
    assert_eq!(
        kh.lookup("unrelated", 4242, &revoked),
        HostKeyStatus::Revoked
    );
    // The CA key matches the host's patterns but is not a host key.
    assert_eq!(
        kh.matching("www.example.com", 22)
            .map(|e| e.marker)
            .collect::<Vec<_>>(),
        vec![Marker::Revoked, Marker::CertAuthority]
    );
    assert_eq!(kh.lookup("www.example.com", 22, &c), HostKeyStatus::Unknown);
}

#[test]
fn revoked_beats_a_listed_key() {
    let a = ed25519();
    let text = format!(
        "h {}\n@revoked h {}\n",
        a.to_openssh_line(""),
        a.to_openssh_line("")
    );
    let (kh, errors) = KnownHosts::parse(&text);
    assert!(errors.is_empty());
    assert_eq!(kh.lookup("h", 22, &a), HostKeyStatus::Revoked);
}

#[test]
fn malformed_lines_are_reported_not_fatal() {
    let a = ed25519();
    let good = a.to_openssh_line("");
    let text = format!(
        "good {good}\n\
         a,,b {good}\n\
         ! {good}\n\
         |1|abc {good}\n\
         host ssh-ed25519\n\
         host ssh-ed25519 !!!!\n\
         host ssh-dss AAAAB3NzaC1kc3M=\n\
         host ssh-rsa {blob}\n\
         @cert-authority\n\
         also-good {good}\n",
        blob = good.split(' ').nth(1).unwrap(),
    );
    let (kh, errors) = KnownHosts::parse(&text);
    assert_eq!(
        kh.entries().iter().map(|e| e.line).collect::<Vec<_>>(),
        vec![1, 10]
    );
    let lines: Vec<usize> = errors.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, vec![2, 3, 4, 5, 6, 7, 8, 9]);
    assert!(matches!(errors[0].1, KeyError::InvalidHostPattern { .. }));
    assert!(matches!(errors[1].1, KeyError::InvalidHostPattern { .. }));
    assert_eq!(
        errors[2].1,
        KeyError::InvalidHostHash("missing '|' between salt and hash")
    );
    assert_eq!(
        errors[3].1,
        KeyError::InvalidFormat("public key line has no base64 blob")
    );
    assert_eq!(
        errors[4].1,
        KeyError::InvalidFormat("invalid base64 in public key line")
    );
    assert!(matches!(errors[5].1, KeyError::UnsupportedKeyType(_)));
    assert!(matches!(errors[6].1, KeyError::KeyTypeMismatch { .. }));
    assert_eq!(
        errors[7].1,
        KeyError::InvalidKnownHosts("nothing after the marker")
    );
}

#[test]
fn entry_lines_and_append() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("known_hosts");
    let a = ed25519();
    let c = p256();
    // A file that does not end with a newline gets one before the new line.
    std::fs::write(&path, "# mine").unwrap();
    KnownHosts::append_to_file(&path, "Plain.Example", 22, &a, false, &mut OsRng).unwrap();
    KnownHosts::append_to_file(&path, "hashed.example", 2200, &c, true, &mut OsRng).unwrap();
    KnownHosts::append_to_file(&path, "2001:db8::5", 22, &a, true, &mut OsRng).unwrap();
    assert!(KnownHosts::append_to_file(&path, "a b", 22, &a, false, &mut OsRng).is_err());
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(lines[0], "# mine");
    assert_eq!(lines[1], format!("plain.example {}", a.to_openssh_line("")));
    assert!(lines[2].starts_with("|1|"));
    assert!(text.ends_with('\n'));

    let (kh, errors) = KnownHosts::parse(&text);
    assert!(errors.is_empty());
    assert_eq!(kh.lookup("plain.example", 22, &a), HostKeyStatus::Match);
    assert_eq!(kh.lookup("hashed.example", 2200, &c), HostKeyStatus::Match);
    assert_eq!(kh.lookup("hashed.example", 22, &c), HostKeyStatus::Unknown);
    assert_eq!(kh.lookup("2001:db8::5", 22, &a), HostKeyStatus::Match);

    // Two hashed lines for the same host use different salts.
    let l1 = KnownHosts::entry_line("h", 22, &a, true, &mut OsRng).unwrap();
    let l2 = KnownHosts::entry_line("h", 22, &a, true, &mut OsRng).unwrap();
    assert_ne!(l1, l2);

    if have_ssh_keygen() {
        // ssh-keygen finds the entries we wrote, hashed ones included.
        for (name, want) in [
            ("plain.example", 2),
            ("[hashed.example]:2200", 3),
            ("2001:db8::5", 4),
        ] {
            assert_eq!(keygen_find(&path, name), BTreeSet::from([want]), "{name}");
        }
    }
}

/// The line numbers `ssh-keygen -F name -f path` reports.
fn keygen_find(path: &Path, name: &str) -> BTreeSet<usize> {
    let out = Command::new("ssh-keygen")
        .arg("-F")
        .arg(name)
        .arg("-f")
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("# Host "))
        .map(|l| {
            let n = l.split("found: line ").nth(1).unwrap();
            n.split_whitespace().next().unwrap().parse().unwrap()
        })
        .collect()
}

/// A plain file with names, addresses and ports, hashed by `ssh-keygen -H`: every (host, port,
/// key) is still a match, and nothing else is.
#[test]
fn ssh_keygen_hashed_file() {
    if !have_ssh_keygen() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("known_hosts");
    let keys = [ed25519(), p256(), ed25519(), p256()];
    let hosts: [(&str, u16, usize); 6] = [
        ("alpha.example.com", 22, 0),
        ("10.1.2.3", 22, 0),
        ("beta.example.com", 2222, 1),
        ("2001:db8::7", 22, 2),
        ("2001:db8::7", 830, 3),
        ("gamma", 22, 3),
    ];
    let mut text = String::new();
    // One line per key with its names as a comma list, as ssh-keygen -H splits them.
    text.push_str(&format!(
        "alpha.example.com,10.1.2.3 {}\n",
        keys[0].to_openssh_line("")
    ));
    text.push_str(&format!(
        "[beta.example.com]:2222 {}\n",
        keys[1].to_openssh_line("")
    ));
    text.push_str(&format!("2001:db8::7 {}\n", keys[2].to_openssh_line("")));
    text.push_str(&format!(
        "[2001:db8::7]:830,gamma {}\n",
        keys[3].to_openssh_line("")
    ));
    std::fs::write(&path, &text).unwrap();
    let out = Command::new("ssh-keygen")
        .arg("-H")
        .arg("-f")
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");

    let hashed = std::fs::read_to_string(&path).unwrap();
    let (kh, errors) = KnownHosts::parse(&hashed);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(kh.entries().len(), 6, "{hashed}");
    assert!(kh
        .entries()
        .iter()
        .all(|e| matches!(e.hosts, HostField::Hashed(_))));
    for (host, port, k) in hosts {
        assert_eq!(
            kh.lookup(host, port, &keys[k]),
            HostKeyStatus::Match,
            "{host}:{port}"
        );
        assert_eq!(kh.matching(host, port).count(), 1, "{host}:{port}");
        let other = if keys[k].key_type() == KeyType::Ed25519 {
            ed25519()
        } else {
            p256()
        };
        assert!(matches!(
            kh.lookup(host, port, &other),
            HostKeyStatus::Mismatch { .. }
        ));
    }
    assert_eq!(
        kh.lookup("beta.example.com", 22, &keys[1]),
        HostKeyStatus::Unknown
    );
    assert_eq!(
        kh.lookup("alpha.example.com", 2222, &keys[0]),
        HostKeyStatus::Unknown
    );
}

/// `ssh-keygen -F` and [`KnownHosts::matching`] find the same lines for many hosts in a file with
/// patterns, negations, ports, markers and hashed names.
#[test]
fn ssh_keygen_find_agrees() {
    if !have_ssh_keygen() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("known_hosts");
    let k = ed25519().to_openssh_line("");
    let mut text = String::new();
    for (i, hosts) in [
        "a.example.com",
        "*.example.com,!bad.example.com",
        "[a.example.com]:2222",
        "[*.example.com]:*",
        "host-?",
        "10.0.0.*,!10.0.0.13",
        "[10.0.0.1]:22",
        "2001:db8::*",
        "*",
        "!*",
        "UPPER.example.com",
        "x*y?z",
    ]
    .iter()
    .enumerate()
    {
        match i % 3 {
            0 => text.push_str(&format!("{hosts} {k}\n")),
            1 => text.push_str(&format!("@revoked {hosts} {k}\n")),
            _ => text.push_str(&format!("@cert-authority {hosts} {k}\n")),
        }
    }
    let mut rng = OsRng;
    let pk = PublicKey::from_openssh_line(&k).unwrap().0;
    for (h, p) in [("hashed.example.com", 22), ("hashed.example.com", 2022)] {
        text.push_str(&KnownHosts::entry_line(h, p, &pk, true, &mut rng).unwrap());
        text.push('\n');
    }
    text.push_str("# comment\n\nbroken line\n");
    std::fs::write(&path, &text).unwrap();
    let (kh, errors) = KnownHosts::parse(&text);
    assert_eq!(errors.len(), 1);

    let queries: &[(&str, u16)] = &[
        ("a.example.com", 22),
        ("a.example.com", 2222),
        ("a.example.com", 2223),
        ("bad.example.com", 22),
        ("bad.example.com", 8022),
        ("example.com", 22),
        ("host-1", 22),
        ("host-12", 22),
        ("10.0.0.1", 22),
        ("10.0.0.13", 22),
        ("10.0.0.1", 2222),
        ("2001:db8::1", 22),
        ("2001:db8::1", 443),
        ("upper.example.com", 22),
        ("xaaybz", 22),
        ("xyz", 22),
        ("hashed.example.com", 22),
        ("hashed.example.com", 2022),
        ("hashed.example.com", 2023),
        ("nowhere", 22),
    ];
    for &(host, port) in queries {
        let ours: BTreeSet<usize> = kh.matching(host, port).map(|e| e.line).collect();
        let name = nacre_keys::known_hosts::host_port_name(host, port);
        assert_eq!(ours, keygen_find(&path, &name), "{name}");
    }
}

#[test]
fn garbage_never_panics() {
    let key = ed25519().to_openssh_line("");
    let samples = [
        "|",
        "||",
        "|1|",
        "|1||",
        "|1|a|b",
        "@",
        "@ ",
        "@revoked ",
        "!",
        ",",
        "[",
        "[]:",
        "*",
        "\u{0}",
        "é",
        "\t\t",
        "#",
        "@cert-authority@revoked",
    ];
    for s in samples {
        for suffix in [
            "",
            " ",
            " ssh-ed25519",
            " ssh-ed25519 AAAA",
            &format!(" {key}"),
        ] {
            let (kh, _) = KnownHosts::parse(&format!("{s}{suffix}\n{s}{suffix}"));
            let _ = kh.lookup("host", 22, &ed25519());
        }
    }
    let mut seed = 0xdead_beef_u64;
    for _ in 0..2000 {
        let mut s = String::new();
        for _ in 0..(seed % 80) {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let alphabet = b" ,|@!*?[]:#\t\nab1=/+A";
            s.push(alphabet[(seed >> 33) as usize % alphabet.len()] as char);
        }
        let (kh, _) = KnownHosts::parse(&s);
        let _ = kh.lookup("ab", 2222, &ed25519());
    }
}
