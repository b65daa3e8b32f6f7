//! authorized_keys: every OpenSSH option, restrict semantics, from= and expiry-time= enforcement,
//! malformed lines, and a realistic file whose keys `ssh-keygen -l` lists the same way.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::IpAddr;
use std::process::Command;

use nacre_keys::authorized_keys::{parse_expiry_time, FromPatterns, PermitHostPort, TunnelDevice};
use nacre_keys::{AuthorizedKeys, KeyError, KeyOptions, KeyType, PrivateKey, PublicKey, Refusal};
use rand_core::OsRng;

fn ed25519() -> PublicKey {
    PrivateKey::generate_ed25519(&mut OsRng).public_key()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn options(text: &str) -> KeyOptions {
    let (o, rest) = KeyOptions::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert!(
        rest.is_empty() || rest.starts_with(' '),
        "{text}: rest {rest:?}"
    );
    o
}

fn option_error(text: &str) -> KeyError {
    match KeyOptions::parse(text) {
        Ok((o, _)) => panic!("{text}: accepted as {o:?}"),
        Err(e) => e,
    }
}

#[test]
fn every_option() {
    let o = options(
        r#"restrict,pty,port-forwarding,agent-forwarding,X11-forwarding,user-rc,command="echo \"hi\" && ls",environment="LANG=C.UTF-8",environment="TZ=UTC",environment="LANG=ignored",expiry-time="20991231",expiry-time="209901011200Z",from="10.0.0.0/8,!10.9.9.9,*.example.com",no-touch-required,verify-required,permitopen="localhost:8080",permitopen="[::1]:*",permitopen="db/5432",permitlisten="2222",permitlisten="127.0.0.1:*",principals="alice,bob",tunnel="7",cert-authority"#,
    );
    assert!(o.restrict);
    assert!(o.pty && o.port_forwarding && o.agent_forwarding && o.x11_forwarding && o.user_rc);
    assert_eq!(o.command.as_deref(), Some(r#"echo "hi" && ls"#));
    assert_eq!(
        o.environment,
        vec![
            ("LANG".to_owned(), "C.UTF-8".to_owned()),
            ("TZ".to_owned(), "UTC".to_owned())
        ]
    );
    // The earliest expiry wins, whatever the order.
    let e = o.expiry_time.unwrap();
    assert_eq!(e, parse_expiry_time("209901011200Z").unwrap());
    assert!(e.utc);
    assert_eq!(
        o.from.as_ref().unwrap().text,
        "10.0.0.0/8,!10.9.9.9,*.example.com"
    );
    assert!(o.no_touch_required);
    assert!(o.verify_required);
    assert_eq!(
        o.permit_open,
        vec![
            PermitHostPort {
                host: "localhost".into(),
                port: Some(8080)
            },
            PermitHostPort {
                host: "::1".into(),
                port: None
            },
            PermitHostPort {
                host: "db".into(),
                port: Some(5432)
            },
        ]
    );
    assert_eq!(
        o.permit_listen,
        vec![
            PermitHostPort {
                host: "*".into(),
                port: Some(2222)
            },
            PermitHostPort {
                host: "127.0.0.1".into(),
                port: None
            },
        ]
    );
    assert_eq!(
        o.principals,
        Some(vec!["alice".to_owned(), "bob".to_owned()])
    );
    assert_eq!(o.tunnel, Some(TunnelDevice::Unit(7)));
    assert!(o.cert_authority);

    assert!(o.permits_open("LOCALHOST", 8080));
    assert!(!o.permits_open("localhost", 8081));
    assert!(o.permits_open("::1", 1));
    assert!(o.permits_listen("0.0.0.0", 2222));
    assert!(o.permits_listen("127.0.0.1", 9));
    assert!(!o.permits_listen("10.0.0.1", 9));

    assert_eq!(options(r#"tunnel="any""#).tunnel, Some(TunnelDevice::Any));
    let no = options("no-pty,no-port-forwarding,no-agent-forwarding,no-X11-forwarding,no-user-rc");
    assert!(!no.pty && !no.port_forwarding && !no.agent_forwarding && !no.x11_forwarding);
    assert!(!no.user_rc && !no.restrict);
    assert!(!no.permits_open("h", 1) && !no.permits_listen("h", 1));
    let d = KeyOptions::default();
    assert!(d.pty && d.port_forwarding && d.agent_forwarding && d.x11_forwarding && d.user_rc);
    assert!(d.permits_open("anything", 1));
}

#[test]
fn names_are_case_insensitive() {
    let o =
        options(r#"NO-PTY,No-X11-Forwarding,COMMAND="true",From="*",Restrict,Agent-Forwarding"#);
    assert!(o.restrict && o.agent_forwarding && !o.pty && !o.x11_forwarding);
    assert_eq!(o.command.as_deref(), Some("true"));
    assert!(o.from.is_some());
}

#[test]
fn restrict_semantics() {
    // restrict turns everything off ...
    let o = options("restrict");
    assert!(!o.pty && !o.port_forwarding && !o.agent_forwarding && !o.x11_forwarding);
    assert!(!o.user_rc);
    // ... a positive flag after it turns one back on ...
    let o = options("restrict,pty,user-rc");
    assert!(o.pty && o.user_rc && !o.port_forwarding && !o.agent_forwarding);
    // ... and restrict after a positive flag wins (options apply in order).
    let o = options("pty,port-forwarding,restrict");
    assert!(!o.pty && !o.port_forwarding);
    let o = options("restrict,port-forwarding,no-port-forwarding");
    assert!(!o.port_forwarding);
    // restrict and cert-authority cannot be negated.
    assert!(matches!(
        option_error("no-restrict"),
        KeyError::UnknownKeyOption(_)
    ));
    assert!(matches!(
        option_error("no-cert-authority"),
        KeyError::UnknownKeyOption(_)
    ));
}

#[test]
fn option_errors() {
    let cases: &[(&str, KeyError)] = &[
        ("bogus", KeyError::UnknownKeyOption("bogus".into())),
        ("no-ptyx", KeyError::UnknownKeyOption("x".into())),
        (
            "pty,frobnicate",
            KeyError::UnknownKeyOption("frobnicate".into()),
        ),
        (
            "command=true",
            KeyError::InvalidKeyOption {
                option: "command",
                reason: "the value must be in double quotes",
            },
        ),
        (
            "command=\"true",
            KeyError::InvalidKeyOption {
                option: "command",
                reason: "missing closing quote",
            },
        ),
        (
            r#"command="a",command="b""#,
            KeyError::InvalidKeyOption {
                option: "command",
                reason: "given more than once",
            },
        ),
        (
            r#"from="a",from="b""#,
            KeyError::InvalidKeyOption {
                option: "from",
                reason: "given more than once",
            },
        ),
        (
            r#"principals="a",principals="b""#,
            KeyError::InvalidKeyOption {
                option: "principals",
                reason: "given more than once",
            },
        ),
        (
            r#"environment="NOEQUALS""#,
            KeyError::InvalidKeyOption {
                option: "environment",
                reason: "expected NAME=value",
            },
        ),
        (
            r#"environment="BAD-NAME=x""#,
            KeyError::InvalidKeyOption {
                option: "environment",
                reason: "the name must be letters, digits and '_'",
            },
        ),
        (
            r#"environment="=x""#,
            KeyError::InvalidKeyOption {
                option: "environment",
                reason: "the name must be letters, digits and '_'",
            },
        ),
        (
            r#"expiry-time="2024""#,
            KeyError::InvalidKeyOption {
                option: "expiry-time",
                reason: "expected YYYYMMDD[HHMM[SS]][Z]",
            },
        ),
        (
            r#"expiry-time="20240230""#,
            KeyError::InvalidKeyOption {
                option: "expiry-time",
                reason: "the date or time is out of range",
            },
        ),
        (
            r#"permitopen="nohostport""#,
            KeyError::InvalidKeyOption {
                option: "permitopen",
                reason: "invalid port (expected 1-65535 or *)",
            },
        ),
        (
            r#"permitopen="host:0""#,
            KeyError::InvalidKeyOption {
                option: "permitopen",
                reason: "invalid port (expected 1-65535 or *)",
            },
        ),
        (
            r#"permitopen="host:65536""#,
            KeyError::InvalidKeyOption {
                option: "permitopen",
                reason: "invalid port (expected 1-65535 or *)",
            },
        ),
        (
            r#"permitopen=":22""#,
            KeyError::InvalidKeyOption {
                option: "permitopen",
                reason: "invalid host",
            },
        ),
        (
            r#"permitopen="[::1:22""#,
            KeyError::InvalidKeyOption {
                option: "permitopen",
                reason: "invalid host",
            },
        ),
        (
            r#"permitlisten="x""#,
            KeyError::InvalidKeyOption {
                option: "permitlisten",
                reason: "invalid port (expected 1-65535 or *)",
            },
        ),
        (
            r#"tunnel="-1""#,
            KeyError::InvalidKeyOption {
                option: "tunnel",
                reason: "expected \"any\" or a device number",
            },
        ),
        (
            r#"tunnel="2147483646""#,
            KeyError::InvalidKeyOption {
                option: "tunnel",
                reason: "expected \"any\" or a device number",
            },
        ),
        (
            "no-pty,",
            KeyError::InvalidKeyOption {
                option: "options",
                reason: "the options end with a comma",
            },
        ),
    ];
    for (text, want) in cases {
        assert_eq!(&option_error(text), want, "{text}");
    }
    assert!(matches!(
        option_error(r#"from="10.0.0.1/8""#),
        KeyError::InvalidHostPattern { .. }
    ));
    assert!(matches!(
        option_error(r#"from="a,,b""#),
        KeyError::InvalidHostPattern { .. }
    ));
    // Quoted values may hold spaces and commas; the options end at the first unquoted blank.
    let (o, rest) = KeyOptions::parse(r#"command="a, b c",no-pty ssh-ed25519 AAAA"#).unwrap();
    assert_eq!(o.command.as_deref(), Some("a, b c"));
    assert_eq!(rest, " ssh-ed25519 AAAA");
    // Empty entries are skipped, as OpenSSH does.
    assert!(!options("no-pty,,no-user-rc").user_rc);
}

#[test]
fn from_matching() {
    let from = |s: &str| FromPatterns::parse(s).unwrap();
    let f = from("10.0.0.0/8,!10.9.9.9,192.0.2.*,2001:db8::/32,*.example.com,!bad.example.com");
    let cases: &[(&str, Option<&str>, bool)] = &[
        ("10.1.2.3", None, true),
        ("10.9.9.9", None, false),
        // A negated address refuses even with a matching host name.
        ("10.9.9.9", Some("ok.example.com"), false),
        ("192.0.2.55", None, true),
        ("192.0.3.1", None, false),
        ("2001:db8:1::5", None, true),
        ("2001:db9::5", None, false),
        ("::ffff:10.1.2.3", None, true),
        ("203.0.113.5", Some("host.example.com"), true),
        ("203.0.113.5", Some("HOST.EXAMPLE.COM"), true),
        ("203.0.113.5", Some("bad.example.com"), false),
        // A negated host name refuses even from a permitted network.
        ("10.1.2.3", Some("bad.example.com"), false),
        ("203.0.113.5", Some("example.org"), false),
        ("203.0.113.5", None, false),
    ];
    for &(addr, host, want) in cases {
        assert_eq!(f.matches(ip(addr), host), want, "{addr} {host:?}");
    }
    // Exact addresses and wildcard hosts.
    let f = from("192.0.2.7,host-?.lan");
    assert!(f.matches(ip("192.0.2.7"), None));
    assert!(!f.matches(ip("192.0.2.70"), None));
    assert!(f.matches(ip("198.51.100.1"), Some("host-1.lan")));
    assert!(!f.matches(ip("198.51.100.1"), Some("host-12.lan")));
    // Only negations: nothing matches positively.
    assert!(!from("!10.0.0.1").matches(ip("10.0.0.2"), None));
    assert!(from("*,!10.0.0.1").matches(ip("10.0.0.2"), None));
    assert!(!from("*,!10.0.0.1").matches(ip("10.0.0.1"), None));
    assert!(from("0.0.0.0/0").matches(ip("8.8.8.8"), None));
    assert!(!from("0.0.0.0/0").matches(ip("::1"), None));
    assert!(from("::/0").matches(ip("::1"), None));
}

#[test]
fn check_enforces_from_and_expiry() {
    let o = options(r#"from="192.0.2.0/24",expiry-time="20300101Z""#);
    let exp = parse_expiry_time("20300101Z").unwrap().unix_utc;
    assert_eq!(o.check(ip("192.0.2.1"), None, exp - 1), Ok(()));
    assert_eq!(o.check(ip("192.0.2.1"), None, exp), Ok(()));
    assert_eq!(
        o.check(ip("192.0.2.1"), None, exp + 1),
        Err(Refusal::Expired { expired_at: exp })
    );
    assert_eq!(
        o.check(ip("198.51.100.1"), Some("h.example"), 0),
        Err(Refusal::From {
            address: ip("198.51.100.1"),
            host: Some("h.example".into()),
            patterns: "192.0.2.0/24".into()
        })
    );
    assert_eq!(
        KeyOptions::default().check(ip("::1"), None, u64::MAX),
        Ok(())
    );
    // Local time (no Z): read as UTC, with the offset helper for exactness.
    let local = parse_expiry_time("20300101").unwrap();
    assert!(!local.utc);
    assert_eq!(local.unix_utc, exp);
    assert_eq!(local.unix_with_offset(3600), exp as i64 - 3600);
}

/// A realistic file: comments, blank lines, CRLF, tabs, every option, several key types, and
/// broken lines that are reported without spoiling the rest.
#[test]
fn real_world_file() {
    let dir = tempfile::tempdir().unwrap();
    let keys: Vec<PrivateKey> = vec![
        PrivateKey::generate_ed25519(&mut OsRng),
        PrivateKey::generate_ecdsa(KeyType::EcdsaNistP256, &mut OsRng).unwrap(),
        PrivateKey::generate_ecdsa(KeyType::EcdsaNistP384, &mut OsRng).unwrap(),
        PrivateKey::generate_ecdsa(KeyType::EcdsaNistP521, &mut OsRng).unwrap(),
        PrivateKey::generate_ed25519(&mut OsRng),
        PrivateKey::generate_ed25519(&mut OsRng),
    ];
    let line = |i: usize, c: &str| keys[i].public_key().to_openssh_line(c);
    let text = format!(
        "# ~/.ssh/authorized_keys\n\
         \n\
         {k0}\n\
         restrict,command=\"/usr/local/bin/backup --serve \\\"daily\\\"\",from=\"198.51.100.0/24,!198.51.100.66\" {k1}\r\n\
         \t no-pty,no-port-forwarding,no-agent-forwarding,no-X11-forwarding,no-user-rc,environment=\"PATH=/usr/bin:/bin\",expiry-time=\"20351231235959Z\"\t{k2}\n\
         restrict,port-forwarding,permitopen=\"localhost:5432\",permitopen=\"[2001:db8::1]:443\",permitlisten=\"localhost:8080\",tunnel=\"any\" {k3}\n\
         cert-authority,principals=\"deploy,ops\",no-touch-required,verify-required {k4}\n\
         frobnicate {k5}\n\
         command=\"unterminated {k5}\n\
         no-pty\n\
         from=\"10.0.0.1/8\" {k5}\n\
         ssh-dss AAAAB3NzaC1kc3M= dsa\n\
         pty,user-rc,X11-forwarding,agent-forwarding {k5}\n",
        k0 = line(0, "alice@laptop"),
        k1 = line(1, "backup@vault"),
        k2 = line(2, ""),
        k3 = line(3, "tunnel user"),
        k4 = line(4, "Users CA"),
        k5 = line(5, "last"),
    );
    let path = dir.path().join("authorized_keys");
    std::fs::write(&path, &text).unwrap();

    let (ak, errors) = AuthorizedKeys::parse(&text);
    let lines: Vec<usize> = errors.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, vec![8, 9, 10, 11, 12], "{errors:?}");
    assert!(matches!(errors[0].1, KeyError::UnknownKeyOption(_)));
    assert!(matches!(
        errors[1].1,
        KeyError::InvalidKeyOption {
            option: "command",
            ..
        }
    ));
    assert_eq!(
        errors[2].1,
        KeyError::InvalidAuthorizedKeys("no key after the options")
    );
    assert!(matches!(errors[3].1, KeyError::InvalidHostPattern { .. }));
    assert!(matches!(errors[4].1, KeyError::UnsupportedKeyType(_)));

    let e = ak.entries();
    assert_eq!(e.len(), 6);
    assert_eq!(
        e.iter().map(|e| e.line).collect::<Vec<_>>(),
        vec![3, 4, 5, 6, 7, 13]
    );
    assert_eq!(e[0].comment, "alice@laptop");
    assert_eq!(e[0].options, KeyOptions::default());
    assert_eq!(
        e[1].options.command.as_deref(),
        Some("/usr/local/bin/backup --serve \"daily\"")
    );
    assert_eq!(e[1].comment, "backup@vault");
    assert!(e[1].options.restrict && !e[1].options.pty);
    assert!(e[1]
        .options
        .check(ip("198.51.100.7"), None, 1_700_000_000)
        .is_ok());
    assert!(e[1]
        .options
        .check(ip("198.51.100.66"), None, 1_700_000_000)
        .is_err());
    assert_eq!(e[2].comment, "");
    assert_eq!(
        e[2].options.environment,
        vec![("PATH".to_owned(), "/usr/bin:/bin".to_owned())]
    );
    assert!(!e[2].options.user_rc);
    assert!(e[3].options.port_forwarding && !e[3].options.pty);
    assert!(e[3].options.permits_open("2001:db8::1", 443));
    assert!(!e[3].options.permits_open("2001:db8::1", 80));
    assert_eq!(e[3].options.tunnel, Some(TunnelDevice::Any));
    assert!(e[4].options.cert_authority);
    assert_eq!(e[5].key, keys[5].public_key());

    // find: user keys only, first line wins; the CA key is not a user key.
    for i in [0, 1, 2, 3, 5] {
        assert_eq!(
            ak.find(&keys[i].public_key()).unwrap().key,
            keys[i].public_key()
        );
    }
    assert!(ak.find(&keys[4].public_key()).is_none());
    assert!(ak.find(&ed25519()).is_none());

    // ssh-keygen -l skips the options the same way and lists the same keys (it stops at
    // broken lines only for its own reasons, so compare the fingerprints we both accept).
    if Command::new("ssh-keygen").arg("-?").output().is_ok() {
        let out = Command::new("ssh-keygen")
            .arg("-l")
            .arg("-f")
            .arg(&path)
            .output()
            .unwrap();
        let listing = String::from_utf8_lossy(&out.stdout);
        for entry in e {
            assert!(
                listing.contains(&entry.key.fingerprint_sha256()),
                "line {} missing from ssh-keygen -l:\n{listing}",
                entry.line
            );
        }
    } else {
        eprintln!("ssh-keygen not found: skipping the ssh-keygen -l comparison");
    }
}

#[test]
fn garbage_never_panics() {
    let samples = [
        "\"",
        "\"\"",
        ",",
        ",,,",
        "=",
        "command=",
        "command=\"",
        "from=\"\"",
        "from=\"!\"",
        "environment=\"=\"",
        "expiry-time=\"\"",
        "permitopen=\"\"",
        "permitopen=\"[\"",
        "permitopen=\"[]:1\"",
        "tunnel=\"\"",
        "no-",
        "no",
        "\u{0}",
        "é,è",
        "restrict,\u{feff}",
    ];
    for s in samples {
        for suffix in ["", " ", " ssh-ed25519", " ssh-ed25519 AAAA"] {
            let _ = AuthorizedKeys::parse(&format!("{s}{suffix}"));
            let _ = KeyOptions::parse(&format!("{s}{suffix}"));
        }
    }
    // Random bytes as text.
    let mut seed = 0x1234_5678_u64;
    for _ in 0..2000 {
        let mut s = String::new();
        for _ in 0..(seed % 60) {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let alphabet = b" ,=\"\\!*?/:[]aZ09-\t";
            let c = alphabet[(seed >> 33) as usize % alphabet.len()] as char;
            s.push(c);
        }
        let _ = AuthorizedKeys::parse(&s);
    }
}
