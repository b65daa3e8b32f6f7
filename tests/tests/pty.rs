//! Sessions on a pseudo-terminal served by nacre: OpenSSH's `ssh -tt` (`tty`, `stty size` with
//! the size ssh sent, a window-change when ssh's own terminal is resized, exit codes and a signal
//! through the pty), and the nacre client (pty-req, window-change answered, TERM, one output
//! stream, `signal` requests, pty refused by policy).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use nacre::auth::AuthServerConfig;
use nacre::connection::RequestKind;
use nacre::transport::Config;
use nacre::{
    hash_password, AuthResult, Channel, ClientConfig, Connection, ExitStatus, SessionConfig, User,
    UsersPolicy,
};
use nacre_tests::{
    ensure_test_user, run_with_timeout, CmdOutput, NacreServer, OpenSshClient, TEST_PASSWORD,
    TEST_USER,
};
use tokio::io::AsyncReadExt;

const T: Duration = Duration::from_secs(60);

fn start_with(allow_pty: bool) -> (NacreServer, tempfile::TempDir) {
    ensure_test_user();
    let mut policy = UsersPolicy::new();
    policy.insert(
        TEST_USER,
        User {
            password_hash: Some(hash_password(TEST_PASSWORD).unwrap()),
            ..User::default()
        },
    );
    let sessions = SessionConfig {
        allow_exec: true,
        allow_pty,
        ..SessionConfig::default()
    };
    let server = NacreServer::start_with_sessions(
        Config::server(nacre_testkit::all_host_keys()),
        AuthServerConfig {
            failure_delay: Duration::from_millis(10),
            ..AuthServerConfig::default()
        },
        Arc::new(policy),
        sessions,
    );
    let dir = tempfile::tempdir().unwrap();
    server.write_known_hosts(&dir.path().join("known_hosts"));
    (server, dir)
}

fn start() -> (NacreServer, tempfile::TempDir) {
    start_with(true)
}

fn ssh(server: &NacreServer, dir: &tempfile::TempDir, command: &str) -> OpenSshClient {
    OpenSshClient::new(server.port())
        .known_hosts(dir.path().join("known_hosts"))
        .test_password()
        .command(command)
}

/// `ssh -tt` with standard input closed.
fn ssh_tt(server: &NacreServer, dir: &tempfile::TempDir, command: &str) -> CmdOutput {
    ssh(server, dir, command).arg("-tt").run(T)
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The shell command line of `cmd`.
fn command_line(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| quote(&a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `script` (a shell command line) on a terminal of its own, made by util-linux `script`.
fn on_a_terminal(script: &str) -> CmdOutput {
    let mut cmd = Command::new("script");
    // `-E never`: script does not copy its (empty) input to the output.
    cmd.args(["-q", "-e", "-E", "never", "-c", script, "/dev/null"]);
    run_with_timeout(&mut cmd, T)
}

/// A pty's output has CR LF line ends.
fn lines(out: &str) -> Vec<String> {
    out.lines()
        .map(|l| l.trim_end_matches('\r').to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn ssh_tt_gets_a_terminal() {
    let (server, dir) = start();
    let out = ssh_tt(&server, &dir, "tty; echo TERM=$TERM; echo err >&2");
    assert_eq!(out.status.code(), Some(0), "{out}");
    let got = lines(&out.stdout);
    assert!(got.len() == 3 && got[0].starts_with("/dev/pts/"), "{out}");
    // ssh sends its own TERM; the run has none, so ssh sends "dumb" or the test runner's.
    assert!(got[1].starts_with("TERM="), "{out}");
    // stderr comes through the terminal too (RFC 4254 §6.2: one stream).
    assert_eq!(got[2], "err", "{out}");
    assert!(
        out.stdout.contains("\r\n"),
        "the terminal maps NL to CR NL: {out}"
    );

    // Without -tt: no terminal, as before.
    let out = ssh(&server, &dir, "tty").run(T);
    assert_eq!(out.status.code(), Some(1), "{out}");
    assert_eq!(out.stdout, "not a tty\n", "{out}");
}

#[test]
fn ssh_tt_exit_codes_and_signal() {
    let (server, dir) = start();
    for code in [0, 1, 42] {
        let out = ssh_tt(&server, &dir, &format!("echo hi; exit {code}"));
        assert_eq!(out.status.code(), Some(code), "{out}");
        assert_eq!(lines(&out.stdout), ["hi"], "{out}");
    }
    let out = ssh_tt(&server, &dir, "kill -KILL $$");
    // OpenSSH's ssh exits with 255 when the remote command died of a signal.
    assert_eq!(out.status.code(), Some(255), "{out}");
}

#[test]
fn ssh_tt_sends_its_terminal_size() {
    let (server, dir) = start();
    // ssh's standard input is no terminal here: it sends a 0x0 size.
    let out = ssh_tt(&server, &dir, "stty size");
    assert_eq!(lines(&out.stdout), ["0 0"], "{out}");

    // On a terminal of 33 rows and 111 columns, ssh sends that size.
    let ssh = ssh(&server, &dir, "stty size; echo $TERM")
        .arg("-tt")
        .build();
    let out = on_a_terminal(&format!(
        "stty rows 33 cols 111; TERM=xterm-256color {}",
        command_line(&ssh)
    ));
    assert_eq!(out.status.code(), Some(0), "{out}");
    assert_eq!(lines(&out.stdout), ["33 111", "xterm-256color"], "{out}");
}

#[test]
fn ssh_tt_follows_window_changes() {
    let (server, dir) = start();
    // The remote shell and this test share the machine: files say when each side is ready.
    let sync = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        sync.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let ready = sync.path().join("ready");
    let done = sync.path().join("done");
    let (ready, done) = (ready.display(), done.display());
    // The remote side prints its size, says it is ready, and prints the size again on SIGWINCH.
    let remote = format!(
        "trap 'stty size; touch {done}' WINCH; stty size; touch {ready}; \
         i=0; while [ ! -e {done} ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done"
    );
    let ssh = ssh(&server, &dir, &remote).arg("-tt").build();
    // Locally, once the remote is ready, the terminal ssh runs on is resized: ssh gets SIGWINCH
    // (through sshpass, which passes the size on) and sends a window-change.
    let local = format!(
        "stty rows 24 cols 80; \
         (i=0; while [ ! -e {ready} ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; \
          stty -F /dev/tty rows 40 cols 100) & \
         {}; s=$?; wait; exit $s",
        command_line(&ssh)
    );
    let out = on_a_terminal(&local);
    assert_eq!(out.status.code(), Some(0), "{out}");
    assert_eq!(lines(&out.stdout), ["24 80", "40 100"], "{out}");
}

// ---- The nacre client ----

async fn login(server: &NacreServer) -> Connection {
    let cfg = ClientConfig {
        transport: Arc::new(Config::client()),
        verify_host_key: Arc::new(|_| true),
    };
    let mut conn = Connection::connect(("127.0.0.1", server.port()), cfg)
        .await
        .unwrap();
    assert_eq!(
        conn.authenticate_password(TEST_USER, TEST_PASSWORD)
            .await
            .unwrap(),
        AuthResult::Success
    );
    conn
}

async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(T, f).await.expect("timed out")
}

fn pty_req(term: &str, cols: u32, rows: u32) -> RequestKind {
    RequestKind::PtyReq {
        term: term.into(),
        cols,
        rows,
        width_px: 0,
        height_px: 0,
        // ECHO off, then TTY_OP_END.
        modes: vec![53, 0, 0, 0, 0, 0],
    }
}

/// Reads the channel until its output contains `needle`; returns everything read so far.
async fn read_until(ch: &mut Channel, seen: &mut Vec<u8>, needle: &str) {
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(seen).contains(needle) {
        let n = within(ch.read(&mut buf)).await.unwrap();
        assert!(
            n > 0,
            "EOF before {needle:?}: {:?}",
            String::from_utf8_lossy(seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
}

async fn read_rest(ch: &mut Channel, seen: &mut Vec<u8>) {
    within(ch.read_to_end(seen)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_change_from_the_nacre_client() {
    let (server, _dir) = start();
    let conn = login(&server).await;
    let mut ch = within(conn.open_session()).await.unwrap();
    assert!(within(ch.request(pty_req("vt100", 80, 24), true))
        .await
        .unwrap());
    within(ch.exec(
        "trap 'stty size; exit 7' WINCH; echo $TERM; stty size; \
         i=0; while [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done",
    ))
    .await
    .unwrap();
    let mut seen = Vec::new();
    read_until(&mut ch, &mut seen, "24 80\r\n").await;
    let change = RequestKind::WindowChange {
        cols: 100,
        rows: 40,
        width_px: 800,
        height_px: 600,
    };
    assert!(within(ch.request(change, true)).await.unwrap());
    read_rest(&mut ch, &mut seen).await;
    assert_eq!(
        lines(&String::from_utf8_lossy(&seen)),
        ["vt100", "24 80", "40 100"]
    );
    assert_eq!(ch.exit_status().await, Some(ExitStatus::Code(7)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_stream_exit_codes_and_signals_on_a_pty() {
    let (server, _dir) = start();
    let conn = login(&server).await;
    // Output and errors share the terminal; stderr (extended data) stays empty.
    let mut ch = within(conn.open_session()).await.unwrap();
    assert!(within(ch.request(pty_req("xterm", 80, 24), true))
        .await
        .unwrap());
    within(ch.exec("echo out; echo err >&2; exit 42"))
        .await
        .unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut stderr = ch.stderr();
    let (a, b) =
        within(async { tokio::join!(ch.read_to_end(&mut out), stderr.read_to_end(&mut err)) })
            .await;
    a.unwrap();
    b.unwrap();
    assert_eq!(out, b"out\r\nerr\r\n");
    assert!(err.is_empty());
    assert_eq!(ch.exit_status().await, Some(ExitStatus::Code(42)));

    // A command killed by a signal.
    let mut ch = within(conn.open_session()).await.unwrap();
    assert!(within(ch.request(pty_req("xterm", 80, 24), true))
        .await
        .unwrap());
    within(ch.exec("kill -TERM $$")).await.unwrap();
    read_rest(&mut ch, &mut Vec::new()).await;
    assert!(
        matches!(ch.exit_status().await, Some(ExitStatus::Signal { ref name, .. }) if name == "TERM")
    );

    // A `signal` request reaches the command (the shell and the sleep it waits for).
    let mut ch = within(conn.open_session()).await.unwrap();
    assert!(within(ch.request(pty_req("xterm", 80, 24), true))
        .await
        .unwrap());
    within(ch.exec("echo started; sleep 30; echo not reached"))
        .await
        .unwrap();
    let mut seen = Vec::new();
    read_until(&mut ch, &mut seen, "started\r\n").await;
    let sig = RequestKind::Signal { name: "INT".into() };
    assert!(within(ch.request(sig, true)).await.unwrap());
    read_rest(&mut ch, &mut seen).await;
    assert_eq!(lines(&String::from_utf8_lossy(&seen)), ["started"]);
    assert!(
        matches!(ch.exit_status().await, Some(ExitStatus::Signal { ref name, .. }) if name == "INT"),
        "{:?}",
        ch.exit_status().await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signal_request_without_a_pty() {
    let (server, _dir) = start();
    let conn = login(&server).await;
    let mut ch = within(conn.open_session()).await.unwrap();
    within(ch.exec("echo started; sleep 30; echo not reached"))
        .await
        .unwrap();
    let mut seen = Vec::new();
    read_until(&mut ch, &mut seen, "started\n").await;
    // An unknown signal name is refused; TERM ends the command and the sleep it waits for.
    let bogus = RequestKind::Signal {
        name: "NOPE".into(),
    };
    assert!(!within(ch.request(bogus, true)).await.unwrap());
    // Not a pty: a window-change is refused.
    let change = RequestKind::WindowChange {
        cols: 1,
        rows: 1,
        width_px: 0,
        height_px: 0,
    };
    assert!(!within(ch.request(change, true)).await.unwrap());
    let sig = RequestKind::Signal {
        name: "TERM".into(),
    };
    assert!(within(ch.request(sig, true)).await.unwrap());
    let started = std::time::Instant::now();
    read_rest(&mut ch, &mut seen).await;
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(seen, b"started\n");
    assert!(
        matches!(ch.exit_status().await, Some(ExitStatus::Signal { ref name, .. }) if name == "TERM")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pty_refused_by_policy() {
    let (server, _dir) = start_with(false);
    let conn = login(&server).await;
    let mut ch = within(conn.open_session()).await.unwrap();
    assert!(!within(ch.request(pty_req("xterm", 80, 24), true))
        .await
        .unwrap());
    within(ch.exec("tty")).await.unwrap();
    let mut out = Vec::new();
    read_rest(&mut ch, &mut out).await;
    assert_eq!(out, b"not a tty\n");
    assert_eq!(ch.exit_status().await, Some(ExitStatus::Code(1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shell_on_a_pty_reads_the_terminal() {
    let (server, _dir) = start();
    let conn = login(&server).await;
    let mut ch = within(conn.open_session()).await.unwrap();
    assert!(within(ch.request(pty_req("xterm", 120, 30), true))
        .await
        .unwrap());
    within(ch.shell()).await.unwrap();
    use tokio::io::AsyncWriteExt;
    ch.write_all(b"stty size; tty; exit 3\n").await.unwrap();
    let mut seen = Vec::new();
    read_rest(&mut ch, &mut seen).await;
    let text = String::from_utf8_lossy(&seen);
    assert!(text.contains("30 120\r\n"), "{text}");
    assert!(text.contains("/dev/pts/"), "{text}");
    assert_eq!(ch.exit_status().await, Some(ExitStatus::Code(3)));
}

/// Processes whose command line is exactly `cmdline` (arguments joined by spaces).
fn processes(cmdline: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let raw = std::fs::read(e.path().join("cmdline")).ok()?;
            let args: Vec<String> = raw
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            (args.join(" ") == cmdline).then_some(pid)
        })
        .collect()
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + T;
    while !f() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn background_job_does_not_hold_the_session() {
    let (server, dir) = start();
    // The shell exits at once; its background job keeps the terminal open but the session ends
    // soon after the shell's output stops, and the hangup ends the job.
    let out = ssh_tt(&server, &dir, "sleep 71 & echo bg");
    assert_eq!(out.status.code(), Some(0), "{out}");
    assert_eq!(lines(&out.stdout), ["bg"], "{out}");
    assert!(out.elapsed < Duration::from_secs(30), "{out}");
    wait_until("sleep 71 gone", || processes("sleep 71").is_empty());
}

#[test]
fn client_gone_hangs_up_the_terminal() {
    let (server, dir) = start();
    let mut cmd = ssh(&server, &dir, "echo started; sleep 72; echo not reached")
        .arg("-tt")
        .build();
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut client = nacre_tests::ChildGuard::spawn_group("ssh -tt", &mut cmd);
    wait_until("sleep 72 started", || !processes("sleep 72").is_empty());
    client.kill();
    // The connection drops, the channel closes, the master side of the pty is closed: the
    // terminal hangs up and SIGHUP ends the command.
    wait_until("sleep 72 gone", || processes("sleep 72").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminal_modes_from_pty_req() {
    let (server, _dir) = start();
    let conn = login(&server).await;
    let mut ch = within(conn.open_session()).await.unwrap();
    let mut req = pty_req("xterm", 80, 24);
    if let RequestKind::PtyReq { modes, .. } = &mut req {
        // VINTR ^X, VERASE DEL, ECHO off, ICANON on, IUTF8 on, ONLCR on, 9600 baud, TTY_OP_END.
        *modes = [
            (1u8, 24u32),
            (3, 127),
            (53, 0),
            (51, 1),
            (42, 1),
            (72, 1),
            (129, 9600),
        ]
        .iter()
        .flat_map(|(op, v)| std::iter::once(*op).chain(v.to_be_bytes()))
        .chain([0])
        .collect();
    }
    assert!(within(ch.request(req, true)).await.unwrap());
    within(ch.exec("stty -a")).await.unwrap();
    let mut out = Vec::new();
    read_rest(&mut ch, &mut out).await;
    let text = String::from_utf8_lossy(&out);
    for needle in [
        "speed 9600 baud",
        "intr = ^X;",
        "erase = ^?;",
        " -echo ",
        " icanon ",
        " iutf8",
        " onlcr ",
    ] {
        assert!(text.contains(needle), "{needle:?} not in {text}");
    }
}
