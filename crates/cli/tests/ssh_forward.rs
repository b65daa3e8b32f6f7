//! `nacre ssh` forwarding as ssh's (issue 16): `-D` (and `DynamicForward`), a SOCKS 4/4a/5
//! proxy driven by curl, against `nacre serve` and sshd, with `-N` and with a command; `-f` to the
//! background once authenticated; `ExitOnForwardFailure`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

use nacre_tests::{
    ensure_test_user, run_with_input, run_with_timeout, wait_listening, ChildGuard, CmdOutput,
    KeyType, OpenSshServer,
};

const PASSWORD: &str = "ssh-forward-pw";

struct Server {
    _guard: ChildGuard,
    port: u16,
    dir: tempfile::TempDir,
}

/// `nacre serve --allow-exec` with TCP forwarding allowed.
fn serve() -> Server {
    ensure_test_user();
    let dir = tempfile::tempdir().unwrap();
    let extra: Vec<std::ffi::OsString> = ["--allow-exec", "-o", "AllowTcpForwarding=yes"]
        .iter()
        .map(Into::into)
        .collect();
    let (guard, port) = nacre_tests::start_nacre_serve(
        env!("CARGO_BIN_EXE_nacre").as_ref(),
        dir.path(),
        "peer",
        PASSWORD,
        &extra,
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
}

/// A small HTTP server on a free port: each request answered with `hello through N`.
fn http_server() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for (n, conn) in listener.incoming().flatten().enumerate() {
            std::thread::spawn(move || {
                let mut conn = conn;
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(k) => request.extend_from_slice(&buf[..k]),
                    }
                }
                let body = format!("hello through {n}\n");
                let _ = write!(
                    conn,
                    "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    port
}

/// curl through the SOCKS proxy on `socks` (`--socks5-hostname`, `--socks4a`, ...).
fn curl(flag: &str, socks: u16, url: &str) -> CmdOutput {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "--max-time",
        "20",
        flag,
        &format!("127.0.0.1:{socks}"),
        url,
    ]);
    run_with_timeout(&mut cmd, Duration::from_secs(30))
}

/// Every SOCKS flavour curl speaks reaches the HTTP server through the proxy on `socks`; a
/// target nobody listens on fails (and the proxy goes on).
fn check_proxy(socks: u16) {
    let http = http_server();
    for (flag, host) in [
        ("--socks5-hostname", "localhost"),
        ("--socks5", "127.0.0.1"),
        ("--socks4a", "localhost"),
        ("--socks4", "127.0.0.1"),
    ] {
        let out = curl(flag, socks, &format!("http://{host}:{http}/"));
        assert!(out.success(), "{flag}: {out}");
        assert!(out.stdout.starts_with("hello through "), "{flag}: {out}");
    }
    let closed = nacre_tests::free_port();
    let out = curl(
        "--socks5-hostname",
        socks,
        &format!("http://127.0.0.1:{closed}/"),
    );
    assert!(!out.success(), "{out}");
    let out = curl(
        "--socks5-hostname",
        socks,
        &format!("http://localhost:{http}/"),
    );
    assert!(out.success(), "after a refused target: {out}");
}

/// `-N -D port` against nacre serve: SOCKS 5 (names and addresses), 4a and 4; SIGTERM ends it.
#[test]
fn dash_d_is_a_socks_proxy_against_nacre_serve() {
    let s = serve();
    let socks = nacre_tests::free_port();
    let mut cmd = s.cmd(&["-N", "-D", &socks.to_string(), "peer@127.0.0.1"]);
    let mut guard = ChildGuard::spawn("nacre ssh -N -D", &mut cmd);
    wait_listening(socks, "nacre ssh -D");
    check_proxy(socks);
    assert!(guard.is_running());
    assert!(guard.signal("TERM"));
    let status = guard.wait_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(status.code(), Some(0));
}

/// A `-N -D` session ends as soon as its connection does (255), told by the connection's end
/// itself rather than by a check every second.
#[test]
fn dash_n_dash_d_ends_with_its_connection() {
    let mut s = serve();
    let socks = nacre_tests::free_port();
    let mut cmd = s.cmd(&["-N", "-D", &socks.to_string(), "peer@127.0.0.1"]);
    let mut guard = ChildGuard::spawn("nacre ssh -N -D", &mut cmd);
    wait_listening(socks, "nacre ssh -D");
    assert!(s._guard.signal("KILL"));
    let status = guard.wait_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(status.code(), Some(255));
}

/// `DynamicForward` (as in a config file, `localhost:port`) during a command, against sshd.
#[test]
fn dynamic_forward_during_a_command_against_sshd() {
    ensure_test_user();
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let key = nacre_tests::authorized_client_key(KeyType::Ed25519);
    let dir = tempfile::tempdir().unwrap();
    let socks = nacre_tests::free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nacre"));
    cmd.args(["ssh", "-p", &sshd.port().to_string()])
        .args(["-i", key.private.to_str().unwrap()])
        .args([
            "-o",
            &format!("UserKnownHostsFile={}/kh", dir.path().display()),
        ])
        .args([
            "-o",
            "StrictHostKeyChecking=accept-new",
            "-o",
            "BatchMode=yes",
        ])
        .args(["-o", &format!("DynamicForward=localhost:{socks}")])
        .args(["peer@127.0.0.1", "sleep", "60"])
        .env("HOME", dir.path())
        .env_remove("SSH_AUTH_SOCK")
        .stdin(std::process::Stdio::null());
    let mut guard = ChildGuard::spawn("nacre ssh -D (sshd)", &mut cmd);
    wait_listening(socks, "nacre ssh DynamicForward");
    check_proxy(socks);
    assert!(guard.is_running());
}

/// The process ids whose command line holds `needle` (the background child of `-f`).
fn pids_with_arg(needle: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if cmdline.split(|b| *b == 0).any(|a| a == needle.as_bytes()) {
            found.push(pid);
        }
    }
    found
}

/// Whether process `pid` is gone (or a zombie waiting for its reaper).
fn ended(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// `-f -N -L`: returns at once with 0 once authenticated; the forward works from the
/// background process, which ends when killed. `-f` without a command or `-N` is refused as
/// ssh refuses it; a failed login in the background ends the parent with 255.
#[test]
fn dash_f_goes_to_the_background_after_authentication() {
    let s = serve();
    let service = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let service_port = service.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in service.incoming().flatten() {
            let _ = conn.write_all(b"pong\n");
        }
    });
    let local_port = nacre_tests::free_port();
    let spec = format!("{local_port}:127.0.0.1:{service_port}");
    let started = Instant::now();
    let out = run_with_input(
        &mut s.cmd(&["-f", "-N", "-L", &spec, "peer@127.0.0.1"]),
        None,
        Duration::from_secs(30),
    );
    assert!(out.success() && !out.timed_out, "{out}");
    assert!(started.elapsed() < Duration::from_secs(20), "{out}");
    let mut got = String::new();
    let mut c = std::net::TcpStream::connect(("127.0.0.1", local_port)).unwrap();
    c.read_to_string(&mut got).unwrap();
    assert_eq!(got, "pong\n");
    let pids = pids_with_arg(&spec);
    assert_eq!(pids.len(), 1, "{pids:?}");
    let pid = pids[0];
    let killed = Command::new("kill").arg(pid.to_string()).status().unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ended(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(ended(pid), "the background nacre {pid} outlived SIGTERM");
    assert!(std::net::TcpStream::connect(("127.0.0.1", local_port)).is_err());

    // The daily form: `ssh -f -N -D port host`, a SOCKS proxy in the background.
    let socks = nacre_tests::free_port().to_string();
    let out = run_with_input(
        &mut s.cmd(&["-f", "-N", "-D", &socks, "peer@127.0.0.1"]),
        None,
        Duration::from_secs(30),
    );
    assert!(out.success() && !out.timed_out, "{out}");
    check_proxy(socks.parse().unwrap());
    let pids = pids_with_arg(&socks);
    assert_eq!(pids.len(), 1, "{pids:?}");
    assert!(Command::new("kill")
        .arg(pids[0].to_string())
        .status()
        .unwrap()
        .success());

    let out = run_with_input(
        &mut s.cmd(&["-f", "peer@127.0.0.1"]),
        None,
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(255), "{out}");
    assert!(
        out.stderr
            .contains("Cannot fork into background without a command to execute."),
        "{out}"
    );
    let mut cmd = s.cmd(&["-f", "-N", "-o", "BatchMode=yes", "peer@127.0.0.1"]);
    cmd.env("NACRE_PASSWORD", "wrong");
    let out = run_with_input(&mut cmd, None, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(255), "{out}");
}

/// `-f` on a terminal: the password is asked first (tests/peers/pty_fork.py types it), then the
/// program ends and the forward works from the background.
#[test]
fn dash_f_asks_the_password_before_going_to_the_background() {
    let s = serve();
    let service = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let service_port = service.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in service.incoming().flatten() {
            let _ = conn.write_all(b"pong\n");
        }
    });
    let local_port = nacre_tests::free_port();
    let spec = format!("{local_port}:127.0.0.1:{service_port}");
    let mut cmd = Command::new("python3");
    cmd.arg(nacre_tests::repo_root().join("tests/peers/pty_fork.py"))
        .arg(env!("CARGO_BIN_EXE_nacre"))
        .arg(s.port.to_string())
        .arg(s.dir.path())
        .arg(PASSWORD)
        .args(["-N", "-L", &spec, "peer@127.0.0.1"]);
    let out = run_with_timeout(&mut cmd, Duration::from_secs(60));
    assert!(out.success() && out.stdout.contains("exit 0"), "{out}");
    let mut got = String::new();
    let mut c = std::net::TcpStream::connect(("127.0.0.1", local_port)).unwrap();
    c.read_to_string(&mut got).unwrap();
    assert_eq!(got, "pong\n");
    let pids = pids_with_arg(&spec);
    assert_eq!(pids.len(), 1, "{pids:?}");
    assert!(Command::new("kill")
        .arg(pids[0].to_string())
        .status()
        .unwrap()
        .success());
}

/// `-f` with a command: the command's output still arrives; the parent ends first.
#[test]
fn dash_f_with_a_command_keeps_its_output() {
    let s = serve();
    let out = run_with_input(
        &mut s.cmd(&["-f", "peer@127.0.0.1", "echo", "from-the-background"]),
        None,
        Duration::from_secs(30),
    );
    assert!(out.success(), "{out}");
    assert_eq!(out.stdout, "from-the-background\n", "{out}");
}

/// A local port already in use: a warning and the session goes on (ssh's default); with
/// `ExitOnForwardFailure=yes` the end, with 255 (also through `-f`).
#[test]
fn exit_on_forward_failure() {
    let s = serve();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let spec = format!("{port}:127.0.0.1:9");
    let out = run_with_input(
        &mut s.cmd(&["-L", &spec, "peer@127.0.0.1", "echo", "went on"]),
        None,
        Duration::from_secs(30),
    );
    assert!(out.success(), "{out}");
    assert_eq!(out.stdout, "went on\n", "{out}");
    assert!(
        out.stderr.contains("Could not request local forwarding."),
        "{out}"
    );
    let dynamic = port.to_string();
    for args in [
        &["-L", &spec, "peer@127.0.0.1", "echo", "no"][..],
        &["-D", &dynamic, "peer@127.0.0.1", "echo", "no"][..],
        &["-f", "-N", "-L", &spec, "peer@127.0.0.1"][..],
    ] {
        let mut all = vec!["-o", "ExitOnForwardFailure=yes"];
        all.extend_from_slice(args);
        let out = run_with_input(&mut s.cmd(&all), None, Duration::from_secs(30));
        assert_eq!(out.status.code(), Some(255), "{args:?}: {out}");
        assert!(out.stdout.is_empty(), "{args:?}: {out}");
        assert!(
            out.stderr.contains("Could not request local forwarding"),
            "{args:?}: {out}"
        );
    }
    drop(taken);
}

/// An echo service on a free port: each connection gets back what it sent, once it ends.
fn echo_server() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut got = Vec::new();
                let _ = conn.read_to_end(&mut got);
                let _ = conn.write_all(&got);
            });
        }
    });
    port
}

/// `-W host:port`: standard input and output carried to the service (exit 0 when it ends), a
/// refused target is `stdio forwarding failed` and 255, a bad spec ssh's error; and OpenSSH's
/// ssh reaches sshd with `ProxyCommand nacre ssh -W %h:%p` through nacre serve.
#[test]
fn dash_w_carries_standard_input_and_output() {
    let s = serve();
    let echo = echo_server();
    let out = run_with_input(
        &mut s.cmd(&["-W", &format!("127.0.0.1:{echo}"), "peer@127.0.0.1"]),
        Some(b"through -W\n"),
        Duration::from_secs(30),
    );
    assert!(out.success(), "{out}");
    assert_eq!(out.stdout, "through -W\n", "{out}");
    let closed = nacre_tests::free_port();
    let out = run_with_input(
        &mut s.cmd(&["-W", &format!("127.0.0.1:{closed}"), "peer@127.0.0.1"]),
        Some(b""),
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(255), "{out}");
    assert!(out.stderr.contains("stdio forwarding failed"), "{out}");
    let out = run_with_input(
        &mut s.cmd(&["-W", "nope", "peer@127.0.0.1"]),
        None,
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(255), "{out}");
    assert!(
        out.stderr
            .contains("Bad stdio forwarding specification 'nope'"),
        "{out}"
    );

    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let key = nacre_tests::authorized_client_key(KeyType::Ed25519);
    let proxy = format!(
        "{} ssh -p {} -o StrictHostKeyChecking=no -W %h:%p peer@127.0.0.1",
        env!("CARGO_BIN_EXE_nacre"),
        s.port
    );
    let mut cmd = nacre_tests::OpenSshClient::new(sshd.port())
        .identity(&key.private)
        .option("ProxyCommand", &proxy)
        .command("echo via-nacre-proxy")
        .build();
    cmd.env("HOME", s.dir.path())
        .env("NACRE_PASSWORD", PASSWORD)
        .env_remove("SSH_AUTH_SOCK");
    let out = run_with_input(&mut cmd, None, Duration::from_secs(60));
    assert!(out.success(), "{out}");
    assert_eq!(out.stdout, "via-nacre-proxy\n", "{out}");
}
