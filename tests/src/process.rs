//! Child processes that cannot outlive a test, and commands run with a time limit.

use std::fmt;
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Owns a child process and kills it by its PID when dropped (SIGKILL, then reaps it).
///
/// Made with [`ChildGuard::spawn_group`], the child leads its own process group and the whole group is
/// killed, so helpers it started (tshark's dumpcap, sshpass's ssh) go too.
pub struct ChildGuard {
    child: Child,
    name: String,
    group: bool,
    reaped: Option<ExitStatus>,
}

impl ChildGuard {
    /// Wraps an already spawned child.
    pub fn new(name: impl Into<String>, child: Child) -> ChildGuard {
        ChildGuard {
            child,
            name: name.into(),
            group: false,
            reaped: None,
        }
    }

    /// Spawns `cmd`; panics with the program name if it cannot be started.
    pub fn spawn(name: impl Into<String>, cmd: &mut Command) -> ChildGuard {
        let name = name.into();
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        ChildGuard::new(name, child)
    }

    /// Spawns `cmd` as the leader of a new process group; drop kills the whole group.
    pub fn spawn_group(name: impl Into<String>, cmd: &mut Command) -> ChildGuard {
        cmd.process_group(0);
        let mut guard = ChildGuard::spawn(name, cmd);
        guard.group = true;
        guard
    }

    /// The child's PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The name given at spawn time (for messages).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The underlying [`Child`] (for its pipes).
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// The exit status if the child has ended, without blocking.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.reaped.is_none() {
            self.reaped = self.child.try_wait().ok().flatten();
        }
        self.reaped
    }

    /// Whether the child is still running.
    pub fn is_running(&mut self) -> bool {
        self.try_wait().is_none()
    }

    /// Sends a signal by name (`"INT"`, `"TERM"`, ...) with `kill -SIG PID`; returns whether `kill` succeeded.
    pub fn signal(&mut self, signal: &str) -> bool {
        if !self.is_running() {
            return false;
        }
        Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// Waits up to `timeout` for the child to end; `None` if it is still running.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kills the child (and its group, if spawned with [`ChildGuard::spawn_group`]) with SIGKILL and reaps it.
    pub fn kill(&mut self) {
        if self.group {
            // Negative PID: the whole process group, including children that outlived the leader.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.pid())])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        if self.is_running() {
            let _ = self.child.kill();
        }
        if self.reaped.is_none() {
            self.reaped = self.child.wait().ok();
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

impl fmt::Debug for ChildGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildGuard")
            .field("name", &self.name)
            .field("pid", &self.child.id())
            .field("group", &self.group)
            .field("reaped", &self.reaped)
            .finish()
    }
}

/// What a command run by [`run_with_timeout`] did.
#[derive(Clone)]
pub struct CmdOutput {
    /// Its exit status (killed by SIGKILL when it timed out).
    pub status: ExitStatus,
    /// Its standard output, lossily decoded as UTF-8.
    pub stdout: String,
    /// Its standard error, lossily decoded as UTF-8.
    pub stderr: String,
    /// Whether it ran out of time and was killed.
    pub timed_out: bool,
    /// How long it ran.
    pub elapsed: Duration,
    /// The command line, for messages.
    pub command: String,
}

impl CmdOutput {
    /// Exited by itself with status 0.
    pub fn success(&self) -> bool {
        !self.timed_out && self.status.success()
    }

    /// Panics with the whole output unless the command succeeded.
    pub fn assert_success(&self) -> &Self {
        if !self.success() {
            panic!("command failed:\n{self}");
        }
        self
    }

    /// Panics with the whole output if the command succeeded or timed out (it must fail, and fail by itself).
    pub fn assert_failure(&self) -> &Self {
        if self.success() || self.timed_out {
            panic!("command was expected to fail by itself:\n{self}");
        }
        self
    }

    /// The tuple form: (status, stdout, stderr).
    pub fn into_parts(self) -> (ExitStatus, String, String) {
        (self.status, self.stdout, self.stderr)
    }
}

impl fmt::Display for CmdOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "$ {}", self.command)?;
        let how = match (self.timed_out, self.status.code(), self.status.signal()) {
            (true, _, _) => "TIMED OUT and killed".to_string(),
            (false, Some(code), _) => format!("exit status {code}"),
            (false, None, Some(sig)) => format!("killed by signal {sig}"),
            (false, None, None) => format!("{:?}", self.status),
        };
        writeln!(f, "-> {how} after {:.2?}", self.elapsed)?;
        writeln!(f, "--- stdout ---\n{}", self.stdout.trim_end())?;
        write!(f, "--- stderr ---\n{}", self.stderr.trim_end())
    }
}

impl fmt::Debug for CmdOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Runs `cmd` with standard input closed, capturing stdout and stderr; kills it (its whole process group) if
/// it is still running after `timeout`. Never hangs longer than `timeout` plus the time to reap.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> CmdOutput {
    run_with_input(cmd, None, timeout)
}

/// Like [`run_with_timeout`], writing `input` (if any) to the command's standard input and then closing it.
pub fn run_with_input(cmd: &mut Command, input: Option<&[u8]>, timeout: Duration) -> CmdOutput {
    let command = format_command(cmd);
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let start = Instant::now();
    let mut guard = ChildGuard::spawn_group(command.clone(), cmd);

    let writer = match (input, guard.child_mut().stdin.take()) {
        (Some(data), Some(mut stdin)) => {
            let data = data.to_vec();
            Some(thread::spawn(move || {
                // The child may exit without reading everything; a broken pipe is its business.
                let _ = stdin.write_all(&data);
            }))
        }
        _ => None,
    };
    let stdout = reader_thread(guard.child_mut().stdout.take());
    let stderr = reader_thread(guard.child_mut().stderr.take());

    let mut timed_out = false;
    let status = match guard.wait_timeout(timeout) {
        Some(status) => status,
        None => {
            timed_out = true;
            guard.kill();
            guard.try_wait().unwrap_or_else(|| ExitStatus::from_raw(9))
        }
    };
    let elapsed = start.elapsed();
    if let Some(w) = writer {
        let _ = w.join();
    }
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    CmdOutput {
        status,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        timed_out,
        elapsed,
        command,
    }
}

fn reader_thread<R: Read + Send + 'static>(pipe: Option<R>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    })
}

/// A shell-like rendering of a command line, for messages.
pub(crate) fn format_command(cmd: &Command) -> String {
    let mut parts = vec![cmd.get_program().to_string_lossy().into_owned()];
    for arg in cmd.get_args() {
        let arg = arg.to_string_lossy();
        if arg.is_empty()
            || arg.contains(|c: char| c.is_whitespace() || "'\"$\\|&;<>()*?".contains(c))
        {
            parts.push(format!("'{}'", arg.replace('\'', r"'\''")));
        } else {
            parts.push(arg.into_owned());
        }
    }
    parts.join(" ")
}

/// `EXE serve` on a free 127.0.0.1 port for `user`, whose password is written to `DIR/pw`,
/// with its state in `DIR/state`, run in `DIR`, with `extra` arguments after those; returns once
/// it listens, with its guard and port.
pub fn start_nacre_serve(
    exe: &std::path::Path,
    dir: &std::path::Path,
    user: &str,
    password: &str,
    extra: &[std::ffi::OsString],
) -> (ChildGuard, u16) {
    let port = crate::free_port();
    std::fs::write(dir.join("pw"), format!("{password}\n")).expect("write the password file");
    let mut cmd = Command::new(exe);
    cmd.args([
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--user",
        user,
    ])
    .arg("--state-dir")
    .arg(dir.join("state"))
    .arg("--password-file")
    .arg(dir.join("pw"))
    .args(extra)
    .current_dir(dir);
    let guard = ChildGuard::spawn("nacre serve", &mut cmd);
    crate::wait_listening(port, "nacre serve");
    (guard, port)
}

/// A Python peer of tests/peers (`asyncssh_peer.py`, `paramiko_peer.py`) in `server` mode, with
/// an ed25519 host key, the test password, a root folder and an authorized_keys file made in
/// `dir`, and `extra` arguments; returns it and the port it printed (`PORT n`).
pub fn start_python_peer(script: &str, dir: &std::path::Path, extra: &[&str]) -> (ChildGuard, u16) {
    use std::io::BufRead;
    let key = crate::KeyPair::generate(dir, &format!("{script}-host"), crate::KeyType::Ed25519);
    let root = dir.join(format!("{script}-root"));
    std::fs::create_dir_all(&root).expect("peer root");
    let authorized = dir.join("authorized_keys");
    // A valid entry (AsyncSSH refuses an empty file); the tests log in with the password.
    std::fs::write(&authorized, format!("{}\n", key.pub_line)).expect("authorized_keys");
    let mut cmd = Command::new(crate::venv_python());
    cmd.arg(crate::repo_root().join("tests/peers").join(script))
        .args(["server", "--host-key"])
        .arg(&key.private)
        .arg("--authorized-keys")
        .arg(&authorized)
        .args(["--password", crate::TEST_PASSWORD, "--root"])
        .arg(&root)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut guard = ChildGuard::spawn(script, &mut cmd);
    let stdout = guard.child_mut().stdout.take().expect("peer stdout");
    let mut reader = std::io::BufReader::new(stdout);
    let mut line = String::new();
    // The first `PORT n` line (a driver may print something before it).
    while reader.read_line(&mut line).unwrap_or(0) > 0 && !line.starts_with("PORT ") {
        line.clear();
    }
    let port = line
        .trim()
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{script} printed no port"));
    // Keep reading its output so the peer never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    (guard, port)
}
