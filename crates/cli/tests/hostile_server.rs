//! `nacre sftp` and `nacre exec` against tests/peers/hostile_server.py, a server that misbehaves
//! on purpose (issue 22): an endless directory listing, READ requests never answered, a key
//! exchange that never starts, channel data beyond the window or for a channel never opened, and
//! terminal escape sequences in everything it says. The client must end by itself, with an error
//! that names the cause, in bounded memory, and must never print a server's escape sequences.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nacre_tests::{
    repo_root, run_with_input, run_with_timeout, venv_python, ChildGuard, CmdOutput,
};

/// The password hostile_server.py accepts (for any user).
const PASSWORD: &str = "peerpass";
/// GNU time, for the client's peak memory (`%M`: maximum resident set size in KiB).
const GNU_TIME: &str = "/usr/bin/time";
/// The most memory the client may use against the endless listing.
const MAX_RSS_KIB: u64 = 256 * 1024;

/// Starts `hostile_server.py MODE`; returns its guard (which kills it) and the port it listens
/// on, read from the `PORT n` line it prints once listening.
fn hostile(mode: &str) -> (ChildGuard, u16) {
    let mut cmd = Command::new(venv_python());
    cmd.arg(repo_root().join("tests/peers/hostile_server.py"))
        .arg(mode)
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let mut guard = ChildGuard::spawn(format!("hostile_server.py {mode}"), &mut cmd);
    let stdout = guard.child_mut().stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    // Ends when the line is read, or at EOF when the guard kills the server.
    thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("hostile_server.py {mode} printed no PORT line in 60 s"));
    let port = line
        .trim()
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("hostile_server.py {mode}: expected `PORT n`, got {line:?}"));
    (guard, port)
}

/// The nacre program with `home` as HOME and working folder, the server's password in
/// NACRE_PASSWORD, no agent, and no backtraces in its error messages.
fn nacre(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nacre"));
    nacre_env(&mut cmd, home);
    cmd
}

fn nacre_env(cmd: &mut Command, home: &Path) {
    cmd.current_dir(home)
        .env("HOME", home)
        .env("NACRE_PASSWORD", PASSWORD)
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("NACRE_LOG")
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE");
}

/// `nacre sftp` arguments for the server at `port`, with these `-o` options, reading a batch
/// from standard input.
fn sftp_args(port: u16, options: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["sftp", "-P", &port.to_string()]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    for o in ["StrictHostKeyChecking=no"].iter().chain(options) {
        args.push("-o".to_owned());
        args.push((*o).to_owned());
    }
    args.extend(["-b", "-", "peer@127.0.0.1"].map(str::to_owned));
    args
}

/// `nacre exec` arguments for the server at `port`, running `command`.
fn exec_args(port: u16, command: &str) -> Vec<String> {
    [
        "exec",
        "-o",
        "StrictHostKeyChecking=no",
        "-p",
        &port.to_string(),
        "peer@127.0.0.1",
        "--",
        command,
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Runs `nacre sftp -b -` with `batch` on standard input.
fn sftp_batch(
    port: u16,
    home: &Path,
    options: &[&str],
    batch: &str,
    timeout: Duration,
) -> CmdOutput {
    let mut cmd = nacre(home);
    cmd.args(sftp_args(port, options));
    run_with_input(&mut cmd, Some(batch.as_bytes()), timeout)
}

/// Runs `nacre exec ... -- command` with standard input closed.
fn exec(port: u16, home: &Path, command: &str, timeout: Duration) -> CmdOutput {
    let mut cmd = nacre(home);
    cmd.args(exec_args(port, command));
    run_with_timeout(&mut cmd, timeout)
}

/// Runs `nacre args` with `input` on standard input; returns its output and its peak resident
/// memory in KiB: from GNU time's `%M` (its last line of standard error, removed from the output)
/// when /usr/bin/time exists, else the child's VmHWM in /proc, sampled until it exits.
fn run_measured(home: &Path, args: &[String], input: &[u8], timeout: Duration) -> (CmdOutput, u64) {
    if Path::new(GNU_TIME).exists() {
        let mut cmd = Command::new(GNU_TIME);
        cmd.args(["-f", "%M", env!("CARGO_BIN_EXE_nacre")])
            .args(args);
        nacre_env(&mut cmd, home);
        let mut out = run_with_input(&mut cmd, Some(input), timeout);
        assert!(!out.timed_out, "the client did not end by itself:\n{out}");
        let trimmed = out.stderr.trim_end();
        let (rest, last) = trimmed.rsplit_once('\n').unwrap_or(("", trimmed));
        let kib = last
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("no maximum RSS from {GNU_TIME} on the last line:\n{out}"));
        out.stderr = format!("{rest}\n");
        return (out, kib);
    }
    run_sampling_vmhwm(home, args, input, timeout)
}

/// [`run_measured`] without GNU time: polls `/proc/PID/status` for VmHWM (the peak resident set,
/// which only grows) every 10 ms while the client runs; the last sample is the peak but for what
/// it grew in its last 10 ms.
fn run_sampling_vmhwm(
    home: &Path,
    args: &[String],
    input: &[u8],
    timeout: Duration,
) -> (CmdOutput, u64) {
    let mut cmd = nacre(home);
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut guard = ChildGuard::spawn_group("nacre sftp", &mut cmd);
    let pid = guard.pid();
    let mut stdin = guard.child_mut().stdin.take().unwrap();
    let input = input.to_vec();
    let writer = thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(&input);
    });
    let stdout = reader(guard.child_mut().stdout.take().unwrap());
    let stderr = reader(guard.child_mut().stderr.take().unwrap());
    let mut peak = 0u64;
    let mut timed_out = false;
    let status = loop {
        if let Some(kib) = vmhwm_kib(pid) {
            peak = peak.max(kib);
        }
        if let Some(status) = guard.try_wait() {
            break status;
        }
        if start.elapsed() > timeout {
            timed_out = true;
            guard.kill();
            break guard.try_wait().unwrap();
        }
        thread::sleep(Duration::from_millis(10));
    };
    let _ = writer.join();
    let out = CmdOutput {
        status,
        stdout: String::from_utf8_lossy(&stdout.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&stderr.join().unwrap()).into_owned(),
        timed_out,
        elapsed: start.elapsed(),
        command: format!("nacre {}", args.join(" ")),
    };
    assert!(!out.timed_out, "the client did not end by itself:\n{out}");
    assert!(
        peak > 0,
        "no VmHWM sample of the client (PID {pid}):\n{out}"
    );
    (out, peak)
}

fn vmhwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn reader<R: Read + Send + 'static>(mut pipe: R) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        buf
    })
}

/// Runs `cmd` without reading its standard output for `blocked` (or until it reports something
/// on standard error, a line other than a `Warning:`): till then the pipe fills and the program,
/// blocked writing it, stops consuming what it receives. Then the output is drained so that the
/// program can end (nacre finishes writing its output before it reports a lost connection).
/// Returns its exit status (None if it was still running after `timeout` and was killed) and its
/// standard error.
fn run_with_stdout_blocked(
    cmd: &mut Command,
    blocked: Duration,
    timeout: Duration,
) -> (Option<ExitStatus>, String) {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut guard = ChildGuard::spawn_group("nacre exec", cmd);
    let mut stdout = guard.child_mut().stdout.take();
    let mut err_pipe = guard.child_mut().stderr.take().unwrap();
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let err_reader = {
        let stderr = Arc::clone(&stderr);
        thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n @ 1..) = err_pipe.read(&mut chunk) {
                stderr.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        })
    };
    let reported = || {
        String::from_utf8_lossy(&stderr.lock().unwrap())
            .lines()
            .any(|l| !l.trim().is_empty() && !l.starts_with("Warning:"))
    };
    let mut drain = None;
    let status = loop {
        if let Some(status) = guard.try_wait() {
            break Some(status);
        }
        if start.elapsed() >= timeout {
            break None;
        }
        if drain.is_none() && (start.elapsed() >= blocked || reported()) {
            drain = stdout.take().map(reader);
        }
        thread::sleep(Duration::from_millis(10));
    };
    guard.kill();
    drop(stdout);
    let _ = err_reader.join();
    if let Some(d) = drain {
        let _ = d.join();
    }
    let stderr = String::from_utf8_lossy(&stderr.lock().unwrap()).into_owned();
    (status, stderr)
}

/// The lines of `text` that contain ESC or BEL, except the batch's echo (`sftp> ` lines).
fn raw_controls(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with("sftp> "))
        .filter(|l| l.contains(['\x1b', '\x07']))
        .map(|l| format!("{l:?}"))
        .collect()
}

#[test]
fn endless_listing_stops_with_an_error_and_bounded_memory() {
    let (_server, port) = hostile("endless-readdir");
    for batch in ["ls\n", "ls -l\n"] {
        let home = tempfile::tempdir().unwrap();
        let (out, max_rss_kib) = run_measured(
            home.path(),
            &sftp_args(port, &[]),
            batch.as_bytes(),
            Duration::from_secs(60),
        );
        assert!(
            !out.success(),
            "{batch:?} succeeded against an endless listing:\n{out}"
        );
        assert!(out.stderr.contains("too many entries"), "{batch:?}:\n{out}");
        assert!(
            max_rss_kib < MAX_RSS_KIB,
            "{batch:?}: the client's peak memory was {max_rss_kib} KiB (limit {MAX_RSS_KIB}):\n{out}"
        );
    }
}

#[test]
fn unanswered_read_times_out() {
    let (_server, port) = hostile("silent-read");
    let home = tempfile::tempdir().unwrap();
    let out = sftp_batch(
        port,
        home.path(),
        &["RequestTimeout=3"],
        "get /file.bin out.bin\n",
        Duration::from_secs(30),
    );
    assert!(
        !out.timed_out,
        "the client waited for the READ answers:\n{out}"
    );
    assert!(!out.success(), "{out}");
    assert!(out.stderr.contains("timed out"), "{out}");
}

#[test]
fn stalled_key_exchange_ends_without_connect_timeout() {
    let (_server, port) = hostile("stall-kex");
    let home = tempfile::tempdir().unwrap();
    let out = exec(port, home.path(), "true", Duration::from_secs(70));
    assert!(
        !out.timed_out,
        "the client waited for the key exchange:\n{out}"
    );
    assert_eq!(out.status.code(), Some(255), "{out}");
    assert!(out.stderr.contains("127.0.0.1"), "{out}");
    assert!(out.stderr.contains("timed out"), "{out}");
}

#[test]
fn window_overflow_is_reported() {
    let (_server, port) = hostile("window-overflow");
    let home = tempfile::tempdir().unwrap();
    let mut cmd = nacre(home.path());
    cmd.args(exec_args(port, "cat"));
    // The client's standard output is not read for 10 s: once the pipe is full it cannot consume,
    // so it grants no more window and the server's extra MiB (sent in well under a second after
    // the exec) overflows it whatever the timing.
    let (status, stderr) =
        run_with_stdout_blocked(&mut cmd, Duration::from_secs(10), Duration::from_secs(60));
    let status = status
        .unwrap_or_else(|| panic!("nacre exec did not end by itself in 60 s; stderr:\n{stderr}"));
    assert_eq!(status.code(), Some(255), "{status:?}; stderr:\n{stderr}");
    assert!(!stderr.trim().is_empty(), "{status:?}: nothing on stderr");
    assert!(
        stderr.to_ascii_lowercase().contains("window"),
        "{status:?}; stderr:\n{stderr}"
    );
}

#[test]
fn data_on_an_unopened_channel_is_reported() {
    let (_server, port) = hostile("data-unopened");
    let home = tempfile::tempdir().unwrap();
    let out = exec(port, home.path(), "true", Duration::from_secs(60));
    assert!(!out.timed_out, "{out}");
    assert_eq!(out.status.code(), Some(255), "{out}");
    assert!(out.stderr.to_ascii_lowercase().contains("channel"), "{out}");
}

#[test]
fn remote_strings_are_escaped() {
    let (_server, port) = hostile("escapes");

    // exec: the banner (on stderr) and the exit-signal's error message carry escapes; the
    // command's own output is a plain line, passed through as it is.
    let home = tempfile::tempdir().unwrap();
    let out = exec(port, home.path(), "anything", Duration::from_secs(60));
    assert!(!out.timed_out, "{out}");
    assert!(
        out.stdout.contains("hello from the hostile server"),
        "{out}"
    );
    for (stream, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let raw = raw_controls(text);
        assert!(raw.is_empty(), "ESC or BEL on {stream}: {raw:?}\n{out}");
    }
    assert!(out.stderr.contains(r"\033]0;pwned\007"), "{out}");

    // sftp: names in both listings, and the message of the failed remove.
    let home = tempfile::tempdir().unwrap();
    let out = sftp_batch(
        port,
        home.path(),
        &[],
        "ls\nls -l\n-rm x\n",
        Duration::from_secs(60),
    );
    assert!(!out.timed_out, "{out}");
    for (stream, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let raw = raw_controls(text);
        assert!(raw.is_empty(), "ESC or BEL on {stream}: {raw:?}\n{out}");
    }
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(all.contains(r"title\033]0;pwned\007"), "{out}");
    assert!(all.contains(r"red\033[31mtext"), "{out}");
    assert!(all.contains(r"no\033[2Jway"), "{out}");
}
