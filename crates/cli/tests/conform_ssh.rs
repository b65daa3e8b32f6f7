//! `nacre conform ssh`: every FAIL-able check is made to fail by a scripted server that breaks
//! its clause (a fault proxy in front of `nacre serve` for the plaintext phase, a small server on
//! nacre's `Transport` for authentication, channels and ext-info), and passes against `nacre
//! serve` itself (apart from the deviations docs/CONFORMANCE.md lists) and the fault-free
//! scripted server.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod conform_support;

use std::sync::Arc;

use conform_support::{conform, key, mini, proxy};

/// What nacre serve does not pass, and why (docs/CONFORMANCE.md, "nacre serve").
const NACRE_DEVIATIONS: &[&str] = &[
    // Messages 193-255 after authentication end the connection, as with OpenSSH's sshd (192 is
    // SSH2_MSG_PING, answered with PONG since nacre knows ping@openssh.com).
    "state.after-auth.255",
];

fn nacre_serve(dir: &std::path::Path) -> (nacre_tests::ChildGuard, u16) {
    nacre_tests::start_nacre_serve(
        std::path::Path::new(env!("CARGO_BIN_EXE_nacre")),
        dir,
        "tester",
        "conform-pw",
        &[],
    )
}

fn verdict_of(port: u16, check: &str, extra: &[&str]) -> String {
    let port = port.to_string();
    let mut args = vec!["-p", &port, "--only", check];
    args.extend_from_slice(extra);
    args.push("127.0.0.1");
    let results = conform("ssh", &args);
    results
        .get(check)
        .unwrap_or_else(|| panic!("{check} did not run: {results:?}"))
        .clone()
}

#[test]
fn nacre_serve_passes_every_ssh_check() {
    let dir = tempfile::tempdir().unwrap();
    let (_serve, port) = nacre_serve(dir.path());
    let port = port.to_string();
    let results = conform(
        "ssh",
        &[
            "-p",
            &port,
            "--user",
            "tester",
            "--password",
            "conform-pw",
            "127.0.0.1",
        ],
    );
    assert!(results.len() > 60, "{results:?}");
    let failed: Vec<&str> = results
        .iter()
        .filter(|(_, v)| *v == "FAIL")
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(failed, NACRE_DEVIATIONS, "{results:#?}");
}

#[test]
fn each_plaintext_clause_broken_by_a_proxy_fails() {
    use proxy::Fault as F;
    let dir = tempfile::tempdir().unwrap();
    let (_serve, upstream) = nacre_serve(dir.path());
    let cases: &[(F, &[&str])] = &[
        (F::BannerLf, &["ident.server-line"]),
        (F::ZeroCookie, &["kexinit.cookie"]),
        (F::Reserved, &["kexinit.server-reserved"]),
        (F::NoNoneCompression, &["kexinit.server-lists"]),
        (F::AcceptsV1, &["ident.client-version-1.5"]),
        (F::RefusesComments, &["ident.client-comments"]),
        (
            F::SwallowsIgnore,
            &[
                "strict.ignore-before-newkeys",
                "strict.debug-before-newkeys",
                "strict.ignore-before-kexinit",
            ],
        ),
        (
            F::ToleratesFraming,
            &[
                "packet.padding-under-4",
                "packet.not-block-multiple",
                "packet.padding-over-length",
                "packet.length-huge",
            ],
        ),
        (F::RefusesBigPacket, &["packet.accepts-32768"]),
        (F::TakesWrongGuess, &["kexinit.wrong-guess"]),
        (F::RefusesUnknownNames, &["kexinit.unknown-names"]),
        (
            F::NoCommonGoesOn,
            &["kexinit.no-common-cipher", "kexinit.empty-list"],
        ),
        (
            F::NoUnimplemented,
            &["state.before-kex.8", "state.during-kex.8"],
        ),
        (
            F::UnimplementedForIgnore,
            &["state.before-kex.2", "state.during-kex.2"],
        ),
        (
            F::ActsDuringKex,
            &["state.before-kex.50", "state.during-kex.50"],
        ),
    ];
    for (fault, checks) in cases {
        let p = proxy::start(upstream, *fault);
        for check in *checks {
            assert_eq!(
                verdict_of(p.port, check, &[]),
                "FAIL",
                "{check} behind {fault:?}"
            );
            assert_eq!(
                verdict_of(upstream, check, &[]),
                "PASS",
                "{check} against nacre serve"
            );
        }
    }
}

#[test]
fn each_auth_and_channel_clause_broken_by_a_scripted_server_fails() {
    use mini::Fault as F;
    let dir = tempfile::tempdir().unwrap();
    let (host_path, host) = key(dir.path(), "host");
    let _ = host_path;
    let (client_path, _) = key(dir.path(), "client");
    let client = client_path.to_str().unwrap().to_owned();
    let host = Arc::new(host);
    let login = [
        "--user",
        mini::USER,
        "--password",
        mini::PASSWORD,
        "-i",
        client.as_str(),
    ];
    let cases: &[(F, &[&str])] = &[
        (F::NoneListed, &["auth.none"]),
        (F::AnyPassword, &["auth.wrong-password"]),
        (F::PartialOnFailure, &["auth.wrong-password"]),
        (F::QueryAuthenticates, &["auth.publickey-query"]),
        (F::AnySignature, &["auth.wrong-session-id"]),
        (F::AnyService, &["auth.unknown-service"]),
        (F::IgnoresWindow, &["channel.respects-our-window"]),
        (
            F::NoChannelReply,
            &["channel.request-want-reply", "channel.request-on-sftp"],
        ),
        (F::ChannelReplyAlways, &["channel.request-no-reply"]),
        (F::GlobalSuccess, &["global.request-want-reply"]),
        (F::GlobalReplyAlways, &["global.request-no-reply"]),
        (F::OpensUnknown, &["channel.open-unknown-type"]),
        (F::DeadAfterRekey, &["channel.client-rekey"]),
        (F::ExtInfoUnasked, &["ext-info.not-asked"]),
        (F::UnimplementedForIgnoreAfterAuth, &["state.after-auth.2"]),
        (
            F::DisconnectsOnUnknownAfterAuth,
            &[
                "state.after-auth.8",
                "state.after-auth.192",
                "state.after-auth.255",
            ],
        ),
        (F::SilentOnError, &["packet.bad-mac"]),
        (F::NoSequenceReset, &["strict.sequence-reset"]),
    ];
    let good = mini::start(host.clone(), F::None);
    for (fault, checks) in cases {
        let port = mini::start(host.clone(), *fault);
        for check in *checks {
            assert_eq!(
                verdict_of(port, check, &login),
                "FAIL",
                "{check} with {fault:?}"
            );
            assert_eq!(
                verdict_of(good, check, &login),
                "PASS",
                "{check} without a fault"
            );
        }
    }
}

#[test]
fn json_table_and_junit_agree() {
    let dir = tempfile::tempdir().unwrap();
    let (_serve, port) = nacre_serve(dir.path());
    let port = port.to_string();
    let junit = dir.path().join("ssh.xml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nacre"))
        .args([
            "conform", "ssh", "-p", &port, "--only", "kexinit", "--junit",
        ])
        .arg(&junit)
        .arg("127.0.0.1")
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("PASS  kexinit.cookie"), "{table}");
    assert!(table.contains("RFC 4253 §7.1"), "{table}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<testsuite name=\"nacre conform ssh 127.0.0.1:"),
        "{xml}"
    );
    assert!(xml.contains("name=\"kexinit.wrong-guess\""), "{xml}");
    assert!(xml.contains("failures=\"0\""), "{xml}");
}
