//! `nacre exec` against OpenSSH's sshd: stdout and stderr apart, stdin streamed, the exit status
//! propagated, known_hosts checked.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::Duration;

use nacre_tests::{ensure_test_user, run_with_input, KeyType, OpenSshServer, TEST_PASSWORD};

fn nacre_exec(
    sshd: &OpenSshServer,
    known_hosts: &std::path::Path,
    strict: &str,
    command: &[&str],
    input: &[u8],
) -> nacre_tests::CmdOutput {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nacre"));
    cmd.args([
        "exec",
        "-p",
        &sshd.port().to_string(),
        "-o",
        &format!("UserKnownHostsFile={}", known_hosts.display()),
    ])
    .args([
        "-o",
        &format!("StrictHostKeyChecking={strict}"),
        "peer@127.0.0.1",
        "--",
    ])
    .args(command)
    .env("NACRE_PASSWORD", TEST_PASSWORD)
    .env_remove("SSH_AUTH_SOCK")
    .env("HOME", known_hosts.parent().unwrap());
    run_with_input(&mut cmd, Some(input), Duration::from_secs(60))
}

#[test]
fn exec_streams_and_propagates_the_exit_status() {
    ensure_test_user();
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let dir = tempfile::tempdir().unwrap();
    let kh = dir.path().join("known_hosts");
    // Unknown host with StrictHostKeyChecking=yes: refused.
    let out = nacre_exec(&sshd, &kh, "yes", &["true"], b"");
    assert!(!out.success(), "{out}");
    // accept-new adds it; then the command runs.
    let out = nacre_exec(
        &sshd,
        &kh,
        "accept-new",
        &["sh", "-c", "'cat; echo err >&2; exit 7'"],
        b"hello stdin",
    );
    assert_eq!(out.status.code(), Some(7), "{out}");
    assert_eq!(out.stdout, "hello stdin");
    assert!(out.stderr.ends_with("err\n"), "{out}");
    // Now known: strict mode works.
    let out = nacre_exec(&sshd, &kh, "yes", &["echo", "ok"], b"");
    assert_eq!(out.stdout, "ok\n", "{out}");
}

fn run_nacre(args: &[&str], home: &std::path::Path) -> nacre_tests::CmdOutput {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nacre"));
    cmd.args(args)
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("NACRE_PASSWORD")
        .env("HOME", home);
    run_with_input(&mut cmd, Some(b""), Duration::from_secs(60))
}

#[test]
fn ssh_config_host_block_and_proxy_jump() {
    ensure_test_user();
    let key = nacre_tests::authorized_client_key(KeyType::Ed25519);
    let target = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let jump = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config");
    std::fs::write(
        &cfg,
        format!(
            "Host target\n  HostName 127.0.0.1\n  Port {}\n  User peer\nHost *\n  IdentityFile {}\n  StrictHostKeyChecking no\n  PasswordAuthentication no\n",
            target.port(),
            key.private.display()
        ),
    )
    .unwrap();
    let cfgs = cfg.to_str().unwrap();
    let out = run_nacre(
        &["exec", "-F", cfgs, "target", "--", "echo", "via-config"],
        dir.path(),
    );
    assert_eq!(out.stdout, "via-config\n", "{out}");
    let jump_spec = format!("peer@127.0.0.1:{}", jump.port());
    let out = run_nacre(
        &[
            "exec", "-F", cfgs, "-J", &jump_spec, "target", "--", "echo", "jumped",
        ],
        dir.path(),
    );
    assert_eq!(out.stdout, "jumped\n", "{out}");
    // The jump host authenticated us and opened the forwarded connection.
    assert!(
        jump.log().contains("Accepted publickey for peer"),
        "{}",
        jump.log()
    );
    assert!(jump.log().contains("direct-tcpip"), "{}", jump.log());
}

#[test]
fn local_forward_during_a_command() {
    ensure_test_user();
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let dir = tempfile::tempdir().unwrap();
    let kh = dir.path().join("known_hosts");
    // A one-shot TCP service on the server side (same machine) that answers "pong".
    let service = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let service_port = service.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = service.accept() {
            use std::io::Write;
            let _ = s.write_all(b"pong\n");
        }
    });
    let local_port = nacre_tests::free_port();
    let spec = format!("{local_port}:127.0.0.1:{service_port}");
    // The remote command waits while the test talks through the forward.
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nacre"));
    cmd.args([
        "exec",
        "-p",
        &sshd.port().to_string(),
        "-o",
        &format!("UserKnownHostsFile={}", kh.display()),
    ])
    .args([
        "-o",
        "StrictHostKeyChecking=accept-new",
        "-L",
        &spec,
        "peer@127.0.0.1",
        "--",
        "sleep",
        "3",
    ])
    .env("NACRE_PASSWORD", TEST_PASSWORD)
    .env_remove("SSH_AUTH_SOCK")
    .env("HOME", dir.path());
    let mut guard = nacre_tests::ChildGuard::spawn("nacre exec -L", &mut cmd);
    let mut got = String::new();
    for _ in 0..200 {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", local_port)) {
            use std::io::Read;
            let _ = s.read_to_string(&mut got);
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert_eq!(got, "pong\n");
    assert!(guard
        .wait_timeout(Duration::from_secs(30))
        .is_some_and(|s| s.success()));
}

#[test]
fn forward_agent_with_dash_a_and_forward_agent_option() {
    ensure_test_user();
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let dir = tempfile::tempdir().unwrap();
    let (_agent, sock) = nacre_tests::start_agent(dir.path(), &[KeyType::EcdsaP256]);
    let key = nacre_tests::authorized_client_key(KeyType::EcdsaP256);
    let fingerprint = String::from_utf8(
        std::process::Command::new("ssh-keygen")
            .arg("-lf")
            .arg(&key.private)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let fingerprint = fingerprint.split_whitespace().nth(1).unwrap().to_owned();
    let port = sshd.port().to_string();
    let run = |extra: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nacre"));
        cmd.args(["exec", "-p", &port, "-o", "StrictHostKeyChecking=no"])
            .args(extra)
            .args(["peer@127.0.0.1", "--", "ssh-add -l 2>&1; true"])
            .env("SSH_AUTH_SOCK", &sock)
            .env("NACRE_PASSWORD", TEST_PASSWORD)
            .env("HOME", dir.path());
        run_with_input(&mut cmd, Some(b""), Duration::from_secs(60))
    };
    // -A forwards $SSH_AUTH_SOCK; so does ForwardAgent=yes, and ForwardAgent=PATH names one.
    for extra in [
        &["-A"][..],
        &["-o", "ForwardAgent=yes"],
        &["-o", &format!("ForwardAgent={}", sock.display())],
    ] {
        let out = run(extra);
        assert!(out.stdout.contains(&fingerprint), "{extra:?}: {out}");
    }
    // Without it the server gets no agent.
    let out = run(&[]);
    assert!(!out.stdout.contains(&fingerprint), "{out}");
    assert!(out.stdout.contains("authentication agent"), "{out}");
}

#[test]
fn pubkey_accepted_algorithms_option() {
    ensure_test_user();
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let dir = tempfile::tempdir().unwrap();
    let rsa = nacre_tests::authorized_client_key(KeyType::Rsa3072);
    let port = sshd.port().to_string();
    let key = rsa.private.display().to_string();
    let run = |accepted: &str| {
        run_nacre(
            &[
                "exec",
                "-p",
                &port,
                "-i",
                &key,
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "PasswordAuthentication=no",
                "-o",
                "KbdInteractiveAuthentication=no",
                "-o",
                &format!("PubkeyAcceptedAlgorithms={accepted}"),
                "peer@127.0.0.1",
                "--",
                "echo",
                "in",
            ],
            dir.path(),
        )
    };
    // rsa-sha2-512 is the default choice; the option makes it rsa-sha2-256.
    let out = run("rsa-sha2-256,ssh-ed25519");
    assert_eq!(out.stdout, "in\n", "{out}");
    assert!(
        sshd.wait_for_log("Accepted publickey for peer", Duration::from_secs(5)),
        "{}",
        sshd.log()
    );
    assert!(sshd.log().contains("rsa-sha2-256"), "{}", sshd.log());
    assert!(!sshd.log().contains("rsa-sha2-512 "), "{}", sshd.log());
    // With RSA excluded the key is not even offered: permission denied.
    let out = run("-rsa-sha2-512,rsa-sha2-256,ssh-rsa");
    assert!(!out.success(), "{out}");
    assert!(out.stderr.contains("permission denied"), "{out}");
}

/// `nacre exec host yes | head -2` ends once head has read its two lines: the closed output
/// closes the channel and the remote command ends (before: the client waited for ever).
#[test]
fn a_closed_output_ends_the_command() {
    ensure_test_user();
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "'{}' exec -p {} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
         peer@127.0.0.1 -- yes | head -2",
        env!("CARGO_BIN_EXE_nacre"),
        sshd.port()
    );
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", &script])
        .env("NACRE_PASSWORD", TEST_PASSWORD)
        .env_remove("SSH_AUTH_SOCK")
        .env("HOME", dir.path());
    // A hang would be killed at the timeout: the shell then has no exit status of its own.
    let out = run_with_input(&mut cmd, Some(b""), Duration::from_secs(30));
    assert!(out.success(), "{out}");
    assert_eq!(out.stdout, "y\ny\n", "{out}");
}

/// A client's own failure: one line naming host and port, each cause once, no backtrace even
/// with RUST_BACKTRACE set, exit status 255 (as ssh), so scripts tell it from the command's.
#[test]
fn a_failed_connection_is_one_line_with_host_and_port_and_exit_255() {
    let dir = tempfile::tempdir().unwrap();
    let port = nacre_tests::free_port(); // nothing listens there
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nacre"));
    cmd.args([
        "exec",
        "-p",
        &port.to_string(),
        "peer@127.0.0.1",
        "--",
        "true",
    ])
    .env("RUST_BACKTRACE", "1")
    .env("RUST_LIB_BACKTRACE", "1")
    .env_remove("SSH_AUTH_SOCK")
    .env("HOME", dir.path());
    let out = run_with_input(&mut cmd, Some(b""), Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(255), "{out}");
    let lines: Vec<&str> = out.stderr.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(
        lines[0].starts_with("nacre: ") && lines[0].contains(&format!("127.0.0.1 port {port}")),
        "{out}"
    );
    assert!(
        !out.stderr.contains("Caused by") && !out.stderr.contains("backtrace"),
        "{out}"
    );
}

/// Misconfiguration is an error before any connection, as with ssh: an unknown `-o` name, a bad
/// value, an unknown keyword in the config file (with its file and line), a missing `-F` file;
/// exit 255. A `Match host` block applies (its HostName and Port are used).
#[test]
fn misconfiguration_is_an_error_naming_where() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| run_nacre(args, dir.path());
    let out = run(&["exec", "-o", "Bogus=1", "peer@127.0.0.1", "--", "true"]);
    assert_eq!(out.status.code(), Some(255), "{out}");
    assert!(
        out.stderr
            .contains("command-line line 0: Bad configuration option: Bogus"),
        "{out}"
    );
    let out = run(&["exec", "-o", "Port=abc", "peer@127.0.0.1", "--", "true"]);
    assert_eq!(out.status.code(), Some(255), "{out}");
    assert!(out.stderr.contains("bad value for Port"), "{out}");
    let config = dir.path().join("config");
    std::fs::write(&config, "Host *\n  Port 1\n  Colour blue\n").unwrap();
    let out = run(&["exec", "-F", config.to_str().unwrap(), "h", "--", "true"]);
    assert_eq!(out.status.code(), Some(255), "{out}");
    assert!(
        out.stderr.contains(&format!(
            "{}: line 3: Bad configuration option: Colour",
            config.display()
        )),
        "{out}"
    );
    let out = run(&["exec", "-F", "/nonexistent/nacre-config", "h", "--", "true"]);
    assert_eq!(out.status.code(), Some(255), "{out}");
    assert!(out.stderr.contains("/nonexistent/nacre-config"), "{out}");
    // Match host: the block applies (nothing listens on its port: the error names it).
    let port = nacre_tests::free_port();
    std::fs::write(
        &config,
        format!("Match host target\n  User matched-user\n  HostName 127.0.0.1\n  Port {port}\n"),
    )
    .unwrap();
    let out = run(&[
        "exec",
        "-v",
        "-F",
        config.to_str().unwrap(),
        "target",
        "--",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(255), "{out}");
    assert!(
        out.stderr.contains(&format!("127.0.0.1 port {port}")),
        "{out}"
    );
}
