//! Regenerates docs/CONFORMANCE.md: `nacre conform ssh` and `nacre conform sftp` against
//! OpenSSH's sshd (with its sftp-server), Dropbear, AsyncSSH's server, paramiko's server and
//! nacre serve, each started on a free port as the interop tests start them (tests/peers/).
//! Needs the peers scripts/test installs (sshd, dropbear, the .venv with paramiko and AsyncSSH,
//! the user `peer`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use nacre_tests::{ChildGuard, KeyType, OpenSshServer, TEST_PASSWORD, TEST_USER};
use serde_json::Value;

const NACRE: &str = env!("CARGO_BIN_EXE_nacre");

/// (order, check) → (clause, server → (verdict, note, what came back)).
type Table = BTreeMap<(usize, String), (String, BTreeMap<&'static str, (String, String, String)>)>;

/// One server under test.
struct Peer {
    name: &'static str,
    port: u16,
    user: &'static str,
    password: &'static str,
    _guard: Option<ChildGuard>,
    _sshd: Option<OpenSshServer>,
}

fn run_json(args: &[&str], password: &str, dir: &Path) -> Value {
    let out = Command::new(NACRE)
        .args(args)
        .env("NACRE_PASSWORD", password)
        .current_dir(dir)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        serde_json::json!({"checks": [], "error": format!("{e}: {}", String::from_utf8_lossy(&out.stderr))})
    })
}

fn dropbear(dir: &Path) -> (ChildGuard, u16) {
    let key = dir.join("dropbear_ed25519_host_key");
    Command::new("dropbearkey")
        .args(["-t", "ed25519", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    let port = nacre_tests::free_port();
    let mut cmd = Command::new("dropbear");
    cmd.args(["-F", "-E", "-p", &format!("127.0.0.1:{port}"), "-r"])
        .arg(&key)
        .args(["-P"])
        .arg(dir.join("dropbear.pid"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let guard = ChildGuard::spawn("dropbear", &mut cmd);
    nacre_tests::wait_listening(port, "dropbear");
    (guard, port)
}

#[test]
fn conformance_matrix_regenerates_the_document() {
    nacre_tests::ensure_test_user();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let (db, db_port) = dropbear(d);
    let (asy, asy_port) = nacre_tests::start_python_peer("asyncssh_peer.py", d, &[]);
    let (par, par_port) = nacre_tests::start_python_peer("paramiko_peer.py", d, &[]);
    let serve_dir = d.join("serve");
    std::fs::create_dir_all(&serve_dir).unwrap();
    let (serve, serve_port) = nacre_tests::start_nacre_serve(
        Path::new(NACRE),
        &serve_dir,
        "tester",
        "conform-pw",
        &["--run-as".into(), "root".into()],
    );
    let sshd_port = sshd.port();
    let peers = vec![
        Peer {
            name: "OpenSSH sshd",
            port: sshd_port,
            user: TEST_USER,
            password: TEST_PASSWORD,
            _guard: None,
            _sshd: Some(sshd),
        },
        Peer {
            name: "Dropbear",
            port: db_port,
            user: TEST_USER,
            password: TEST_PASSWORD,
            _guard: Some(db),
            _sshd: None,
        },
        Peer {
            name: "AsyncSSH",
            port: asy_port,
            user: TEST_USER,
            password: TEST_PASSWORD,
            _guard: Some(asy),
            _sshd: None,
        },
        Peer {
            name: "paramiko",
            port: par_port,
            user: TEST_USER,
            password: TEST_PASSWORD,
            _guard: Some(par),
            _sshd: None,
        },
        Peer {
            name: "nacre serve",
            port: serve_port,
            user: "tester",
            password: "conform-pw",
            _guard: Some(serve),
            _sshd: None,
        },
    ];
    let known = d.join("known_hosts");
    let known_opt = format!("UserKnownHostsFile={}", known.display());
    // check name -> (clause, server -> (verdict, note, got))
    let mut table: Table = BTreeMap::new();
    let mut order = 0usize;
    let mut versions = Vec::new();
    for p in &peers {
        let port = p.port.to_string();
        let ssh = run_json(
            &[
                "conform",
                "ssh",
                "--json",
                "-p",
                &port,
                "--user",
                p.user,
                "--password",
                p.password,
                "127.0.0.1",
            ],
            p.password,
            d,
        );
        let dest = format!("{}@127.0.0.1", p.user);
        let sftp = run_json(
            &[
                "conform",
                "sftp",
                "--json",
                "-P",
                &port,
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                &known_opt,
                &dest,
            ],
            p.password,
            d,
        );
        for c in ssh["checks"]
            .as_array()
            .unwrap()
            .iter()
            .chain(sftp["checks"].as_array().unwrap())
        {
            let name = c["name"].as_str().unwrap().to_owned();
            if name == "ident.server-line" {
                versions.push(format!(
                    "{}: `{}`",
                    p.name,
                    c["received"].as_str().unwrap().trim()
                ));
            }
            let key = table
                .keys()
                .find(|(_, n)| *n == name)
                .cloned()
                .unwrap_or_else(|| {
                    order += 1;
                    (order, name.clone())
                });
            let entry = table
                .entry(key)
                .or_insert_with(|| (c["clause"].as_str().unwrap().to_owned(), BTreeMap::new()));
            entry.1.insert(
                p.name,
                (
                    c["verdict"].as_str().unwrap().to_owned(),
                    c["note"].as_str().unwrap().to_owned(),
                    c["received"].as_str().unwrap().to_owned(),
                ),
            );
        }
        if let Some(e) = sftp.get("error") {
            versions.push(format!(
                "{}: the SFTP suite did not run ({})",
                p.name,
                e.as_str().unwrap_or("")
            ));
        }
    }
    let names: Vec<&str> = peers.iter().map(|p| p.name).collect();
    let mut doc = String::from(HEADER);
    doc.push_str("\nServers (their identification lines):\n\n");
    for v in &versions {
        doc.push_str(&format!("- {}\n", v.replace(['\r', '\n'], "")));
    }
    doc.push_str("\n## Summary\n\n| server | PASS | FAIL | INFO |\n| --- | --- | --- | --- |\n");
    for n in &names {
        let count = |v: &str| {
            table
                .values()
                .filter(|(_, m)| m.get(n).is_some_and(|x| x.0 == v))
                .count()
        };
        doc.push_str(&format!(
            "| {n} | {} | {} | {} |\n",
            count("PASS"),
            count("FAIL"),
            count("INFO")
        ));
    }
    doc.push_str("\n## Deviations (every FAIL)\n\n");
    for n in &names {
        let fails: Vec<String> = table
            .iter()
            .filter_map(|((_, check), (clause, m))| {
                m.get(n)
                    .filter(|x| x.0 == "FAIL")
                    .map(|x| format!("- `{check}` ({clause}): {}; got {}", x.1, cell(&x.2, 160)))
            })
            .collect();
        doc.push_str(&format!(
            "**{n}**: {}\n\n",
            if fails.is_empty() {
                "none".to_owned()
            } else {
                String::new()
            }
        ));
        for f in fails {
            doc.push_str(&f);
            doc.push('\n');
        }
        if !doc.ends_with("\n\n") {
            doc.push('\n');
        }
    }
    doc.push_str(NACRE_NOTES);
    doc.push_str("\n## Every check\n\n| check | clause |");
    for n in &names {
        doc.push_str(&format!(" {n} |"));
    }
    doc.push_str("\n| --- | --- |");
    for _ in &names {
        doc.push_str(" --- |");
    }
    doc.push('\n');
    for ((_, check), (clause, m)) in &table {
        doc.push_str(&format!("| `{check}` | {clause} |"));
        for n in &names {
            doc.push_str(&format!(" {} |", m.get(n).map_or("—", |x| x.0.as_str())));
        }
        doc.push('\n');
    }
    doc.push_str(&clients());
    let path = nacre_tests::repo_root().join("docs/CONFORMANCE.md");
    std::fs::write(&path, doc).unwrap();
    // nacre serve fails nothing but the deviations NACRE_NOTES explains.
    let nacre_fails: Vec<&str> = table
        .iter()
        .filter(|(_, (_, m))| m.get("nacre serve").is_some_and(|x| x.0 == "FAIL"))
        .map(|((_, c), _)| c.as_str())
        .collect();
    assert_eq!(nacre_fails, ["state.after-auth.255"]);
}

/// A client program's command line for a port.
type ClientCommand = Box<dyn Fn(u16) -> Command>;

/// `nacre conform ssh --listen` against OpenSSH's ssh, Dropbear's dbclient and nacre's client:
/// the section of the document.
fn clients() -> String {
    // A key for OpenSSH's ssh (BatchMode: no password), so that it authenticates again after
    // the partial-success failure and reaches the connection-layer checks.
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("id_ed25519");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(made.success());
    let key = key.to_str().unwrap().to_owned();
    let runs: [(&str, ClientCommand); 3] = [
        (
            "OpenSSH ssh",
            Box::new(move |port| {
                let mut c = Command::new("ssh");
                c.args([
                    "-o",
                    "StrictHostKeyChecking=no",
                    "-o",
                    "UserKnownHostsFile=/dev/null",
                    "-o",
                    "IdentitiesOnly=yes",
                    "-i",
                    &key,
                ])
                .args([
                    "-o",
                    "BatchMode=yes",
                    "-p",
                    &port.to_string(),
                    "x@127.0.0.1",
                    "true",
                ]);
                c
            }),
        ),
        (
            "Dropbear dbclient",
            Box::new(|port| {
                let mut c = Command::new("dbclient");
                c.args(["-y", "-y", "-p", &port.to_string(), "x@127.0.0.1", "true"])
                    .env("DROPBEAR_PASSWORD", "x");
                c
            }),
        ),
        (
            "nacre",
            Box::new(|port| {
                let mut c = Command::new(NACRE);
                c.args(["exec", "-p", &port.to_string()])
                    .args([
                        "-o",
                        "StrictHostKeyChecking=no",
                        "-o",
                        "UserKnownHostsFile=/dev/null",
                    ])
                    .args(["-o", "BatchMode=yes", "x@127.0.0.1", "--", "true"])
                    .env("NACRE_PASSWORD", "x");
                c
            }),
        ),
    ];
    let mut rows: BTreeMap<String, BTreeMap<&str, String>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut notes = Vec::new();
    let mut infos = Vec::new();
    for (name, make) in &runs {
        let port = nacre_tests::free_port();
        let child = Command::new(NACRE)
            .args(["conform", "ssh", "--json", "--timeout", "5", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(500));
        // Two connections: the handshake checks, then authentication and the rest.
        for _ in 0..2 {
            let _ = make(port).stdin(Stdio::null()).output();
        }
        let out = child.wait_with_output().unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        for c in v["checks"].as_array().cloned().unwrap_or_default() {
            let check = c["name"].as_str().unwrap_or("").to_owned();
            if !order.contains(&check) {
                order.push(check.clone());
            }
            let verdict = c["verdict"].as_str().unwrap_or("").to_owned();
            if verdict == "FAIL" {
                notes.push(format!(
                    "- {name}, `{check}`: {}; got {}",
                    c["note"].as_str().unwrap_or(""),
                    cell(c["received"].as_str().unwrap_or(""), 120)
                ));
            }
            // What a client did where the RFC leaves it a choice or a check was not reached.
            let marker = matches!(check.as_str(), "client.strict-kex" | "client.ext-info-c");
            if verdict == "INFO" && !marker {
                infos.push(format!(
                    "- {name}, `{check}`: {}",
                    cell(c["received"].as_str().unwrap_or(""), 120)
                ));
            }
            rows.entry(check).or_default().insert(name, verdict);
        }
    }
    let mut s = String::from("\n## Clients (`nacre conform ssh --listen ADDR`)\n\nnacre waits for a client and serves it \
        with its own server transport; the client connects twice. First connection: IGNORE and DEBUG right after \
        NEWKEYS, messages 8, 192 and 255 once the client asks to authenticate, then DISCONNECT. Second connection: \
        EXT_INFO with an unknown extension, USERAUTH_BANNER and a partial-success USERAUTH_FAILURE for the first \
        USERAUTH_REQUEST, USERAUTH_SUCCESS for the second, then an unknown GLOBAL_REQUEST with want_reply, messages \
        60 and 8, and an IGNORE packet with a corrupted MAC (crates/cli/src/conform/listen.rs, listen_auth.rs; \
        OpenSSH's ssh runs with a fresh key and BatchMode, dbclient and nacre with a password). A check the \
        client never reached (it ended the connection before) is INFO. Each FAIL-able check has a test that makes \
        it fail with a scripted client breaking its clause (crates/cli/tests/conform_listen.rs).\n\n| check |");
    for (n, _) in &runs {
        s.push_str(&format!(" {n} |"));
    }
    s.push_str("\n| --- |");
    for _ in &runs {
        s.push_str(" --- |");
    }
    s.push('\n');
    for check in &order {
        s.push_str(&format!("| `{check}` |"));
        for (n, _) in &runs {
            s.push_str(&format!(
                " {} |",
                rows[check].get(n).map_or("—", String::as_str)
            ));
        }
        s.push('\n');
    }
    s.push_str("\nFailures:\n\n");
    if notes.is_empty() {
        s.push_str("none\n");
    }
    for n in notes {
        s.push_str(&n);
        s.push('\n');
    }
    s.push_str(
        "\nINFO (the client ended the connection instead, or the check was not reached):\n\n",
    );
    for n in infos {
        s.push_str(&n);
        s.push('\n');
    }
    s.push_str(NACRE_CLIENT_NOTES);
    // nacre's client fails no client check.
    let nacre_fails: Vec<&String> = rows
        .iter()
        .filter(|(_, m)| m.get("nacre").is_some_and(|v| v == "FAIL"))
        .map(|(c, _)| c)
        .collect();
    assert!(nacre_fails.is_empty(), "{nacre_fails:?}");
    s
}

const NACRE_CLIENT_NOTES: &str = "
nacre's client:

- `client.global-request` (RFC 4254 §4): fixed after this check found it (and sshd's
  hostkeys-00@openssh.com did): a GLOBAL_REQUEST that arrived right behind USERAUTH_SUCCESS (in the same
  read) went to the authentication layer, which ended the connection (\"unexpected message GLOBAL_REQUEST
  for the authentication layer after success\"); the connection layer now starts the moment
  USERAUTH_SUCCESS is read (crates/session/src/client.rs), and replies queued before a fatal packet
  (REQUEST_FAILURE) go out before the DISCONNECT (crates/session/src/core.rs).
- `client.during-auth.192`, `client.during-auth.255` (INFO, deliberate, as nacre serve after
  authentication): message numbers no layer of nacre defines end the connection instead of an
  UNIMPLEMENTED answer; `client.after-auth.60` (INFO): authentication messages after USERAUTH_SUCCESS are
  ignored, as RFC 4252 §5.1 asks of servers for requests after success.
";

/// Text for a table cell: one line, no pipes, at most `max` characters.
fn cell(s: &str, max: usize) -> String {
    let one: String = s.replace(['\n', '\r'], " ").replace('|', "\\|");
    let mut out: String = one.chars().take(max).collect();
    if one.chars().count() > max {
        out.push('…');
    }
    format!("`{}`", out.replace('`', "'"))
}

const HEADER: &str = "# Conformance

Generated by `cargo test -p nacre-cli --test conform_matrix` (crates/cli/tests/conform_matrix.rs), which
starts each server on a free port and runs `nacre conform ssh --user U --password P` and `nacre conform
sftp` against it. Do not edit by hand: edit the test's text and run it again.

`nacre conform ssh [-p PORT] [--user U --password P | -i KEY] host` checks a server clause by clause (RFC
4253, 4252, 4254, 8308, OpenSSH's PROTOCOL for strict kex); `nacre conform sftp [-P PORT] user@host` (or
`-D 'server command'`) checks SFTP v3 (draft-ietf-secsh-filexfer-02) and OpenSSH's extensions inside a
scratch folder it creates and removes. Both print a table, `--json`, or JUnit XML (`--junit FILE`). PASS: the
server did what the clause asks; FAIL: it did not; INFO: the clause leaves a choice (the behaviour is
reported) or the check could not run (no credentials, extension not advertised).

The AsyncSSH and paramiko servers are tests/peers/asyncssh_peer.py and paramiko_peer.py, the interop
tests' drivers: their SFTP rows judge the drivers' file system adapters as much as the libraries (paramiko's
SFTP server is an interface the application implements; the driver's SETSTAT does nothing, for example).

How the checks work and what they send: the module comments of crates/cli/src/conform/ (one file per
family). Each FAIL-able check has a test that makes it fail with a server breaking its clause
(crates/cli/tests/conform_ssh.rs, conform_sftp.rs).
";

const NACRE_NOTES: &str = "## nacre serve's deviations

- `state.after-auth.255` (RFC 4253 §11.4, deliberate): after authentication nacre ends the connection on
  message numbers the connection protocol does not define (128–191, 194–255, \"message N is not a
  connection-layer message\") instead of answering UNIMPLEMENTED. 192 and 193 are OpenSSH's SSH2_MSG_PING and
  PONG (PROTOCOL §1.8, issue 19): after authentication a PING is answered with PONG (`state.after-auth.192`;
  before authentication they are refused as before, where OpenSSH ≥ 9.5 drops a PING). These numbers are
  reserved for local extensions (RFC 4250 §4.1.2) that nacre does not have; a peer sending them after
  authentication is not an SSH-2 peer nacre can talk to, and ending at once keeps the connection protocol's
  table of acceptable messages closed (docs/ARCHITECTURE.md).
- `channel.request-on-sftp` (RFC 4254 §5.4): fixed in session 6 after this suite found it: a request on a
  channel whose in-process subsystem runs is answered with CHANNEL_FAILURE, as sshd answers once a program
  runs (crates/nacre/src/session.rs, `refuse_requests`).
- `channel.overrun-window` (INFO): nacre ends the connection when a peer sends more than the window it
  granted (\"window overflow fatal\", docs/SECURITY.md); sshd drops the excess.
";
