//! `nacre ssh` as OpenSSH's ssh (issue 16), against `nacre serve --allow-exec` and sshd: a
//! command with its exit status, `-t`/`-tt`/`-T`, `-n`, `-N` with a forward, 255 for nacre's own
//! failures; on a terminal (tests/peers/pty_ssh.py) a shell with a pty and the escapes `~?`,
//! `~~`, `~.`, `-e`, `EscapeChar`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::process::Command;
use std::time::Duration;

use nacre_tests::{
    ensure_test_user, run_with_input, run_with_timeout, ChildGuard, CmdOutput, KeyType,
    OpenSshServer,
};

const PASSWORD: &str = "ssh-command-pw";

struct Server {
    _guard: ChildGuard,
    port: u16,
    dir: tempfile::TempDir,
}

fn serve() -> Server {
    serve_with(&[])
}

fn serve_with(extra: &[&str]) -> Server {
    ensure_test_user();
    let dir = tempfile::tempdir().unwrap();
    let (guard, port) = nacre_tests::start_nacre_serve(
        env!("CARGO_BIN_EXE_nacre").as_ref(),
        dir.path(),
        "peer",
        PASSWORD,
        &[&["--allow-exec"], extra]
            .concat()
            .iter()
            .map(Into::into)
            .collect::<Vec<std::ffi::OsString>>(),
    );
    Server {
        _guard: guard,
        port,
        dir,
    }
}

impl Server {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_nacre"));
        cmd.args(["ssh", "-p", &self.port.to_string()])
            .args(["-o", "StrictHostKeyChecking=no"])
            .args(args)
            .env("HOME", self.dir.path())
            .env("NACRE_PASSWORD", PASSWORD)
            .env_remove("SSH_AUTH_SOCK");
        cmd
    }

    fn ssh(&self, args: &[&str], input: &str) -> CmdOutput {
        run_with_input(
            &mut self.cmd(args),
            Some(input.as_bytes()),
            Duration::from_secs(60),
        )
    }

    fn pty(&self, scenario: &str, extra: &[&str]) -> CmdOutput {
        pty(scenario, self.port, self.dir.path(), extra, Some(PASSWORD))
    }
}

fn pty(
    scenario: &str,
    port: u16,
    home: &std::path::Path,
    extra: &[&str],
    password: Option<&str>,
) -> CmdOutput {
    let mut cmd = Command::new("python3");
    cmd.arg(nacre_tests::repo_root().join("tests/peers/pty_ssh.py"))
        .arg(scenario)
        .arg(env!("CARGO_BIN_EXE_nacre"))
        .arg(port.to_string())
        .arg(home)
        .args(extra);
    match password {
        Some(p) => cmd.env("NACRE_PASSWORD", p),
        None => cmd.env_remove("NACRE_PASSWORD"),
    };
    run_with_timeout(&mut cmd, Duration::from_secs(90))
}

/// `nacre ssh host command...`: the words joined as ssh joins them, stdout and stderr apart,
/// the remote exit status; arguments that look like flags after the host belong to the
/// command; standard input streamed, or /dev/null with -n.
#[test]
fn a_command_and_its_exit_status() {
    let s = serve();
    let out = s.ssh(
        &["peer@127.0.0.1", "sh", "-c", "'cat; echo err >&2; exit 7'"],
        "typed\n",
    );
    assert_eq!(out.status.code(), Some(7), "{out}");
    assert_eq!(out.stdout, "typed\n", "{out}");
    assert!(out.stderr.ends_with("err\n"), "{out}");
    assert!(!out.stderr.contains("Connection to"), "{out}");
    let out = s.ssh(&["peer@127.0.0.1", "ls", "-d", "/"], "");
    assert_eq!(out.stdout, "/\n", "{out}");
    let out = s.ssh(&["-n", "peer@127.0.0.1", "cat"], "not read\n");
    assert!(out.success() && out.stdout.is_empty(), "{out}");
    let out = s.ssh(&["-l", "peer", "127.0.0.1", "false"], "");
    assert_eq!(out.status.code(), Some(1), "{out}");
    // Nothing listens: nacre's own failure is 255.
    let port = nacre_tests::free_port().to_string();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nacre"));
    cmd.args(["ssh", "-p", &port, "peer@127.0.0.1", "true"])
        .env("HOME", s.dir.path());
    let out = run_with_input(&mut cmd, Some(b""), Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(255), "{out}");
}

/// `-t` without a terminal: ssh's note and no pty; `-tt`: a pty all the same (and the note
/// `Connection to HOST closed.`); no command on pipes: the note, a shell without a pty; `-T`:
/// no note.
#[test]
fn pty_flags_as_ssh() {
    let s = serve();
    let note = "Pseudo-terminal will not be allocated because stdin is not a terminal.";
    let out = s.ssh(&["-t", "peer@127.0.0.1", "tty"], "");
    assert!(out.stderr.contains(note), "{out}");
    assert!(out.stdout.contains("not a tty"), "{out}");
    let out = s.ssh(&["-tt", "peer@127.0.0.1", "tty"], "");
    assert!(out.stdout.contains("/dev/pts/"), "{out}");
    assert!(
        out.stderr.contains("Connection to 127.0.0.1 closed."),
        "{out}"
    );
    let out = s.ssh(&["peer@127.0.0.1"], "echo piped; exit 5\n");
    assert!(out.stderr.contains(note), "{out}");
    assert_eq!(out.stdout, "piped\n", "{out}");
    assert_eq!(out.status.code(), Some(5), "{out}");
    let out = s.ssh(&["-T", "peer@127.0.0.1"], "echo piped\n");
    assert!(!out.stderr.contains(note), "{out}");
    assert!(out.success(), "{out}");
    let out = s.ssh(&["-o", "RequestTTY=force", "peer@127.0.0.1", "tty"], "");
    assert!(out.stdout.contains("/dev/pts/"), "{out}");
}

/// `-N -L` (and `LocalForward`): no session, the forward works until SIGTERM (exit 0, as ssh); SIGINT ends with
/// `Killed by signal 2.` and 255.
#[test]
fn dash_n_keeps_the_forwards_until_a_signal() {
    let s = serve_with(&["-o", "AllowTcpForwarding=yes"]);
    let service = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let service_port = service.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in service.incoming().flatten() {
            use std::io::Write;
            let _ = conn.write_all(b"pong\n");
        }
    });
    // -L, then LocalForward (as in a config file: `port host:hostport`).
    for (signal, code, config) in [("TERM", 0, false), ("INT", 255, true)] {
        let local_port = nacre_tests::free_port();
        let spec = format!("{local_port}:127.0.0.1:{service_port}");
        let option = format!("LocalForward={local_port} 127.0.0.1:{service_port}");
        let forward = if config {
            ["-o", &option]
        } else {
            ["-L", &spec]
        };
        let mut cmd = s.cmd(&["-N", forward[0], forward[1], "peer@127.0.0.1"]);
        let mut guard = ChildGuard::spawn("nacre ssh -N", &mut cmd);
        let mut got = String::new();
        for _ in 0..400 {
            if let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", local_port)) {
                use std::io::Read;
                let _ = c.read_to_string(&mut got);
                break;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        assert_eq!(got, "pong\n");
        assert!(guard.is_running(), "-N ended by itself");
        assert!(guard.signal(signal));
        let status = guard.wait_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(status.code(), Some(code), "SIG{signal}");
    }
}

/// On a terminal against nacre serve: a shell with a pty, `~?`, `~~`, `~.` (exit 255 and
/// `Connection to 127.0.0.1 closed.`), `exit 3`, `-e %`, `-o EscapeChar=%`, `-e none`.
#[test]
fn escapes_on_a_terminal() {
    let s = serve();
    let cases: [(&str, &[&str], &str); 5] = [
        ("escapes", &[], "exit 255"),
        ("exit", &[], "exit 3"),
        ("percent", &["-e", "%"], "exit 255"),
        ("percent", &["-o", "EscapeChar=%"], "exit 255"),
        ("none", &["-e", "none"], "exit 4"),
    ];
    for (scenario, extra, want) in cases {
        let out = s.pty(scenario, extra);
        assert!(
            out.stdout.trim_end().ends_with(want),
            "{scenario} {extra:?}: {out}"
        );
    }
}

/// `~C`: ssh's command line adds `-L`, `-R` and `-D` forwards to the running session and
/// cancels them with `-KL`, `-KR`, `-KD`, in ssh's words (tests/peers/pty_ssh.py `cmdline`).
#[test]
fn escape_c_adds_and_cancels_forwards() {
    let s = serve_with(&["-o", "AllowTcpForwarding=yes"]);
    let out = s.pty("cmdline", &[]);
    assert!(out.stdout.trim_end().ends_with("exit 6"), "{out}");
}

/// The same escapes against OpenSSH's sshd, logged in with a key.
#[test]
fn escapes_against_sshd() {
    ensure_test_user();
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let key = nacre_tests::authorized_client_key(KeyType::Ed25519);
    let dir = tempfile::tempdir().unwrap();
    let kh = format!("UserKnownHostsFile={}/kh", dir.path().display());
    let extra = ["-i", key.private.to_str().unwrap(), "-o", &kh];
    let out = pty("escapes", sshd.port(), dir.path(), &extra, None);
    assert!(out.stdout.trim_end().ends_with("exit 255"), "{out}");
}

/// `Match user` and `Match exec` (with `%n` and `%r`) in the config file decide the port.
#[test]
fn match_user_and_exec_in_the_config() {
    let s = serve();
    let config = s.dir.path().join("config");
    std::fs::write(
        &config,
        format!(
            "Match user other\n  Port 1\nMatch exec \"test %n = target && test %r = peer\"\n  HostName 127.0.0.1\n  Port {}\nMatch final\n  StrictHostKeyChecking no\n",
            s.port
        ),
    )
    .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nacre"));
    cmd.args([
        "ssh",
        "-F",
        config.to_str().unwrap(),
        "-l",
        "peer",
        "target",
    ])
    .args(["echo", "matched"])
    .env("HOME", s.dir.path())
    .env("NACRE_PASSWORD", PASSWORD)
    .env_remove("SSH_AUTH_SOCK");
    let out = run_with_input(&mut cmd, Some(b""), Duration::from_secs(60));
    assert_eq!(out.stdout, "matched\n", "{out}");
}

/// ssh's shorthand flags: `-V`, `-4`, `-6` (AddressFamily), `-C` (Compression; its effect is
/// tested in crates/cli/tests/compression.rs), `-c` (Ciphers), `-m` (MACs); sftp takes `-4`,
/// `-6`, `-C`, `-c` too.
#[test]
fn shorthand_flags_as_ssh() {
    let s = serve();
    let out = s.ssh(
        &[
            "-4",
            "-C",
            "-c",
            "aes128-ctr",
            "-m",
            "hmac-sha2-256-etm@openssh.com",
            "peer@127.0.0.1",
            "echo",
            "ok",
        ],
        "",
    );
    assert_eq!(out.stdout, "ok\n", "{out}");
    let mut version = Command::new(env!("CARGO_BIN_EXE_nacre"));
    version.args(["ssh", "-V"]);
    let out = run_with_input(&mut version, None, Duration::from_secs(30));
    assert!(out.success() && out.stderr.starts_with("nacre "), "{out}");
    let out = s.ssh(&["-6", "peer@127.0.0.1", "true"], "");
    assert_eq!(out.status.code(), Some(255), "{out}");
    assert!(
        out.stderr
            .contains("Address family for hostname not supported"),
        "{out}"
    );
    let out = s.ssh(&["-c", "bogus-cipher", "peer@127.0.0.1", "true"], "");
    assert_eq!(out.status.code(), Some(255), "{out}");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nacre"));
    cmd.args([
        "sftp",
        "-P",
        &s.port.to_string(),
        "-4",
        "-C",
        "-c",
        "aes256-ctr",
    ])
    .args([
        "-o",
        "StrictHostKeyChecking=no",
        "-b",
        "-",
        "peer@127.0.0.1",
    ])
    .env("HOME", s.dir.path())
    .env("NACRE_PASSWORD", PASSWORD)
    .env_remove("SSH_AUTH_SOCK");
    let out = run_with_input(&mut cmd, Some(b"pwd\n"), Duration::from_secs(60));
    assert!(out.success(), "{out}");
    assert!(out.stdout.contains("Remote working directory: /"), "{out}");
}

/// `-s`: the command names a subsystem: `nacre ssh -s host sftp` carries SFTP (an INIT gets the
/// server's VERSION); one the server does not have is ssh's error and 255.
#[test]
fn dash_s_requests_a_subsystem() {
    let s = serve();
    let init = [0u8, 0, 0, 5, 1, 0, 0, 0, 3];
    let out = s.ssh(
        &["-s", "peer@127.0.0.1", "sftp"],
        std::str::from_utf8(&init).unwrap(),
    );
    assert!(out.success(), "{out}");
    let reply = out.stdout.as_bytes();
    assert!(reply.len() >= 9, "{out}");
    assert_eq!(reply[4], 2, "not an SFTP VERSION: {out}");
    assert_eq!(&reply[5..9], &[0, 0, 0, 3], "{out}");
    let out = s.ssh(&["-s", "peer@127.0.0.1", "nosuch"], "");
    assert_eq!(out.status.code(), Some(255), "{out}");
    assert!(
        out.stderr
            .contains("subsystem request failed on channel 0\r\n"),
        "{out}"
    );
}

/// A request the server refuses (`nacre serve` without `--allow-exec`: exec and shell; a
/// subsystem it does not have; sshd with `PermitTTY no`: the pty `-tt` asks for) ends the
/// session with 255 and ssh's words, the same line OpenSSH's ssh prints against the same
/// server: `exec request failed on channel 0`.
#[test]
fn refused_requests_in_ssh_words() {
    ensure_test_user();
    let key = nacre_tests::authorized_client_key(KeyType::Ed25519);
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("authorized_keys");
    std::fs::write(&keys, format!("{}\n", key.pub_key())).unwrap();
    let (_guard, port) = nacre_tests::start_nacre_serve(
        env!("CARGO_BIN_EXE_nacre").as_ref(),
        dir.path(),
        "peer",
        PASSWORD,
        &["--authorized-keys".into(), keys.into()],
    );
    let common = |cmd: &mut Command| {
        cmd.args(["-p", &port.to_string(), "-i", key.private.to_str().unwrap()])
            .args(["-o", "StrictHostKeyChecking=no", "-o", "BatchMode=yes"])
            .args(["-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"])
            .env("HOME", dir.path())
            .env_remove("SSH_AUTH_SOCK");
    };
    for (args, want) in [
        (&["peer@127.0.0.1", "true"][..], "exec"),
        (&["-T", "peer@127.0.0.1"][..], "shell"),
        (&["-s", "peer@127.0.0.1", "nosuch"][..], "subsystem"),
    ] {
        let line = format!("{want} request failed on channel 0\r\n");
        let mut ours = Command::new(env!("CARGO_BIN_EXE_nacre"));
        ours.arg("ssh");
        common(&mut ours);
        let ours = run_with_input(ours.args(args), Some(b""), Duration::from_secs(60));
        assert_eq!(ours.status.code(), Some(255), "{args:?}: {ours}");
        assert!(ours.stderr.contains(&line), "{args:?}: {ours}");
        let mut theirs = Command::new("ssh");
        common(&mut theirs);
        let theirs = run_with_input(theirs.args(args), Some(b""), Duration::from_secs(60));
        assert_eq!(theirs.status.code(), Some(255), "{args:?}: {theirs}");
        assert!(theirs.stderr.contains(&line), "{args:?}: {theirs}");
    }
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &["PermitTTY no"]);
    let line = "PTY allocation request failed on channel 0\r\n";
    for program in [env!("CARGO_BIN_EXE_nacre"), "ssh"] {
        let mut cmd = Command::new(program);
        if program != "ssh" {
            cmd.arg("ssh");
        }
        cmd.args([
            "-p",
            &sshd.port().to_string(),
            "-i",
            key.private.to_str().unwrap(),
        ])
        .args(["-o", "StrictHostKeyChecking=no", "-o", "BatchMode=yes"])
        .args(["-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"])
        .args(["-tt", "peer@127.0.0.1", "echo", "ran"])
        .env("HOME", dir.path())
        .env_remove("SSH_AUTH_SOCK");
        let out = run_with_input(&mut cmd, Some(b""), Duration::from_secs(60));
        assert_eq!(out.status.code(), Some(255), "{out}");
        assert!(
            out.stderr.contains(line) && !out.stdout.contains("ran"),
            "{out}"
        );
    }
    let mut exec = Command::new(env!("CARGO_BIN_EXE_nacre"));
    exec.args([
        "exec",
        "-p",
        &port.to_string(),
        "-i",
        key.private.to_str().unwrap(),
    ])
    .args(["-o", "StrictHostKeyChecking=no", "-o", "BatchMode=yes"])
    .args(["peer@127.0.0.1", "--", "true"])
    .env("HOME", dir.path())
    .env_remove("SSH_AUTH_SOCK");
    let out = run_with_input(&mut exec, Some(b""), Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(255), "{out}");
    assert!(
        out.stderr.contains("exec request failed on channel 0"),
        "{out}"
    );
}
