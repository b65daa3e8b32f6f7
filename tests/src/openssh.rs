//! OpenSSH: an `sshd` started from a generated config, and `ssh` client commands.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::keys::{KeyPair, KeyType};
use crate::process::{run_with_timeout, ChildGuard, CmdOutput};
use crate::user::{ensure_test_user, TEST_PASSWORD, TEST_USER};
use crate::{free_port, require_program};

/// OpenSSH's server (absolute path: sshd refuses to re-exec itself otherwise).
pub const SSHD: &str = "/usr/sbin/sshd";
/// OpenSSH's SFTP server program (SFTP on stdin/stdout).
pub const SFTP_SERVER: &str = "/usr/lib/openssh/sftp-server";

/// How long [`OpenSshServer`] waits for sshd to listen.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How many ports [`OpenSshServer`] tries when another process takes the one it picked.
const START_ATTEMPTS: usize = 3;

/// Settings of an [`OpenSshServer`] before it starts.
#[derive(Clone, Debug, Default)]
pub struct OpenSshServerBuilder {
    host_keys: Vec<KeyType>,
    lines: Vec<String>,
    tail: Vec<String>,
}

impl OpenSshServerBuilder {
    /// Adds a host key of this type (generated with ssh-keygen). With none, the server gets one Ed25519 key.
    pub fn host_key(mut self, key_type: KeyType) -> Self {
        if !self.host_keys.contains(&key_type) {
            self.host_keys.push(key_type);
        }
        self
    }

    /// Adds host keys of these types.
    pub fn host_keys(mut self, key_types: &[KeyType]) -> Self {
        for &k in key_types {
            self = self.host_key(k);
        }
        self
    }

    /// Adds the option line `NAME VALUE`, e.g. `.option("KexAlgorithms", "curve25519-sha256")`.
    ///
    /// Option lines come *before* the harness's defaults in the config: sshd keeps the first value it reads,
    /// so an option given here overrides a default (`.option("PasswordAuthentication", "no")`).
    pub fn option(self, name: &str, value: &str) -> Self {
        self.line(&format!("{name} {value}"))
    }

    /// Adds a raw config line (placed like [`OpenSshServerBuilder::option`]).
    pub fn line(mut self, line: &str) -> Self {
        self.lines.push(line.to_string());
        self
    }

    /// Adds lines at the very end of the config, after the defaults: the place for `Match` blocks.
    pub fn tail_line(mut self, line: &str) -> Self {
        self.tail.push(line.to_string());
        self
    }

    /// Generates the host keys and config, validates it with `sshd -t`, starts `sshd -D -e` and waits until
    /// it listens. Panics (with sshd's log) if it does not start.
    pub fn start(self) -> OpenSshServer {
        OpenSshServer::start_with(self)
    }
}

/// A running OpenSSH server on 127.0.0.1, killed by its PID when dropped.
///
/// Everything lives in a temporary folder removed on drop: host keys (`host_<stem>`), `sshd_config`,
/// `sshd.pid` and `sshd.log` (sshd's stderr at LogLevel DEBUG3, including the per-connection processes).
#[derive(Debug)]
pub struct OpenSshServer {
    process: ChildGuard,
    port: u16,
    host_keys: BTreeMap<KeyType, KeyPair>,
    config_path: PathBuf,
    log_path: PathBuf,
    // Last: removed after the process is killed.
    dir: TempDir,
}

impl OpenSshServer {
    /// A builder: host key types, extra option lines.
    pub fn builder() -> OpenSshServerBuilder {
        OpenSshServerBuilder::default()
    }

    /// Starts a server with these host key types and these extra config lines (e.g. `"KexAlgorithms x"`,
    /// `"RekeyLimit 1M"`).
    pub fn start(host_keys: &[KeyType], extra_lines: &[&str]) -> OpenSshServer {
        let mut b = OpenSshServer::builder().host_keys(host_keys);
        for l in extra_lines {
            b = b.line(l);
        }
        b.start()
    }

    fn start_with(builder: OpenSshServerBuilder) -> OpenSshServer {
        require_program(Path::new(SSHD));
        ensure_test_user();
        // sshd checks for its privilege separation folder at start.
        fs::create_dir_all("/run/sshd").expect("mkdir /run/sshd");

        let dir = tempfile::Builder::new()
            .prefix("nacre-sshd-")
            .tempdir()
            .expect("create a temporary folder");
        let key_types = if builder.host_keys.is_empty() {
            vec![KeyType::Ed25519]
        } else {
            builder.host_keys.clone()
        };
        let host_keys: BTreeMap<KeyType, KeyPair> = key_types
            .iter()
            .map(|&k| {
                let name = format!("host_{}", k.file_stem());
                (k, KeyPair::generate(dir.path(), &name, k))
            })
            .collect();
        let config_path = dir.path().join("sshd_config");
        let log_path = dir.path().join("sshd.log");
        let pid_path = dir.path().join("sshd.pid");

        let mut last_log = String::new();
        for _attempt in 0..START_ATTEMPTS {
            let port = free_port();
            let config = render_config(&builder, port, &key_types, &host_keys, &pid_path);
            fs::write(&config_path, &config).expect("write sshd_config");
            validate_config(&config_path, &config);

            let log = File::create(&log_path).expect("create sshd.log");
            let mut cmd = Command::new(SSHD);
            cmd.args(["-D", "-e", "-f"])
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("dup sshd.log"))
                .stderr(log);
            let mut process = ChildGuard::spawn(format!("sshd on port {port}"), &mut cmd);
            match wait_listening(&mut process, port, &log_path) {
                Ok(()) => {
                    return OpenSshServer {
                        process,
                        port,
                        host_keys,
                        config_path,
                        log_path,
                        dir,
                    }
                }
                Err(StartError::PortTaken) => {
                    last_log = fs::read_to_string(&log_path).unwrap_or_default();
                    continue;
                }
                Err(StartError::Failed(why)) => {
                    let log = fs::read_to_string(&log_path).unwrap_or_default();
                    panic!(
                        "sshd did not start: {why}\n--- {} ---\n{config}\n--- sshd log ---\n{log}",
                        config_path.display()
                    );
                }
            }
        }
        panic!("sshd could not bind a free port in {START_ATTEMPTS} attempts\n--- sshd log ---\n{last_log}");
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The listening sshd's PID.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The temporary folder holding keys, config and log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The generated `sshd_config`.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The text of the generated `sshd_config`.
    pub fn config(&self) -> String {
        fs::read_to_string(&self.config_path).unwrap_or_default()
    }

    /// sshd's log so far (stderr of the listener and of every connection's process, LogLevel DEBUG3).
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Waits up to `timeout` until the log contains `needle` (sshd's lines can lag the client's exit by a
    /// few hundred ms). Returns whether it appeared.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.log().contains(needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(25));
        }
    }

    /// The host key pair of this type. Panics if the server was not started with one.
    pub fn host_key(&self, key_type: KeyType) -> &KeyPair {
        self.host_keys.get(&key_type).unwrap_or_else(|| {
            panic!(
                "this sshd has no {key_type:?} host key (it has {:?})",
                self.host_keys.keys().collect::<Vec<_>>()
            )
        })
    }

    /// The `.pub` line (`TYPE BASE64 COMMENT`) of the host key of this type.
    pub fn host_key_pub(&self, key_type: KeyType) -> String {
        self.host_key(key_type).pub_line.clone()
    }

    /// The host key types this server has.
    pub fn host_key_types(&self) -> Vec<KeyType> {
        self.host_keys.keys().copied().collect()
    }

    /// Writes `known_hosts` in the server's folder, one `[127.0.0.1]:PORT TYPE BASE64` line per host key, and
    /// returns its path (for `OpenSshClient::known_hosts`, which turns strict host key checking on).
    pub fn known_hosts_file(&self) -> PathBuf {
        let path = self.dir.path().join("known_hosts");
        let mut text = String::new();
        for kp in self.host_keys.values() {
            let _ = writeln!(text, "[127.0.0.1]:{} {}", self.port, kp.pub_key());
        }
        fs::write(&path, text).expect("write known_hosts");
        path
    }
}

fn render_config(
    builder: &OpenSshServerBuilder,
    port: u16,
    key_types: &[KeyType],
    host_keys: &BTreeMap<KeyType, KeyPair>,
    pid_path: &Path,
) -> String {
    let mut c = String::new();
    let _ = writeln!(c, "# Generated by nacre-tests (tests/src/openssh.rs).");
    if !builder.lines.is_empty() {
        let _ = writeln!(c, "# Test options (first value wins in sshd_config):");
        for l in &builder.lines {
            let _ = writeln!(c, "{l}");
        }
    }
    let _ = writeln!(c, "# Harness defaults:");
    let _ = writeln!(c, "Port {port}");
    let _ = writeln!(c, "ListenAddress 127.0.0.1");
    for k in key_types {
        let _ = writeln!(c, "HostKey {}", host_keys[k].private.display());
    }
    let _ = writeln!(c, "PidFile {}", pid_path.display());
    for l in [
        "UsePAM yes",
        "PasswordAuthentication yes",
        "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes",
        "AuthorizedKeysFile .ssh/authorized_keys",
        "PermitRootLogin no",
        &format!("AllowUsers {TEST_USER}"),
        &format!("Subsystem sftp {SFTP_SERVER}"),
        "LogLevel DEBUG3",
    ] {
        let _ = writeln!(c, "{l}");
    }
    for l in &builder.tail {
        let _ = writeln!(c, "{l}");
    }
    c
}

fn validate_config(path: &Path, config: &str) {
    let mut cmd = Command::new(SSHD);
    cmd.arg("-t").arg("-f").arg(path);
    let out = run_with_timeout(&mut cmd, Duration::from_secs(30));
    if !out.success() {
        panic!("sshd -t rejected the generated config:\n{out}\n--- config ---\n{config}");
    }
}

enum StartError {
    PortTaken,
    Failed(String),
}

/// Waits until sshd logs "Server listening on 127.0.0.1 port P" (it logs it after listen(), so the port then
/// accepts connections). Should a test's LogLevel hide that line, a TCP connection after 2 s counts instead.
fn wait_listening(process: &mut ChildGuard, port: u16, log_path: &Path) -> Result<(), StartError> {
    let start = Instant::now();
    let needle = format!("Server listening on 127.0.0.1 port {port}");
    loop {
        let log = fs::read_to_string(log_path).unwrap_or_default();
        if log.contains(&needle) {
            return Ok(());
        }
        if let Some(status) = process.try_wait() {
            if log.contains("Address already in use") {
                return Err(StartError::PortTaken);
            }
            return Err(StartError::Failed(format!("sshd exited with {status}")));
        }
        let elapsed = start.elapsed();
        if elapsed > Duration::from_secs(2)
            && TcpStream::connect_timeout(
                &format!("127.0.0.1:{port}").parse().expect("socket address"),
                Duration::from_millis(200),
            )
            .is_ok()
        {
            return Ok(());
        }
        if elapsed > START_TIMEOUT {
            return Err(StartError::Failed(format!(
                "port {port} not listening after {START_TIMEOUT:?}"
            )));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Builds `ssh` command lines for tests:
/// `ssh -F /dev/null [options] -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
/// -o BatchMode=yes -p PORT peer@127.0.0.1 [command]`.
///
/// Options set with [`OpenSshClient::option`] come first, so they win over the defaults (ssh keeps the first
/// value). `-F /dev/null` keeps root's own ssh config out; OpenSSH finds `~/.ssh` from the passwd entry, so keys
/// and known_hosts must be given explicitly.
#[derive(Clone, Debug)]
pub struct OpenSshClient {
    port: u16,
    options: Vec<(String, String)>,
    verbose: bool,
    identity: Option<PathBuf>,
    known_hosts: Option<PathBuf>,
    password: Option<String>,
    user: String,
    host: String,
    args: Vec<String>,
    command: Option<String>,
}

impl OpenSshClient {
    /// A client for `peer@127.0.0.1:PORT`.
    pub fn new(port: u16) -> OpenSshClient {
        OpenSshClient {
            port,
            options: Vec::new(),
            verbose: false,
            identity: None,
            known_hosts: None,
            password: None,
            user: TEST_USER.to_string(),
            host: "127.0.0.1".to_string(),
            args: Vec::new(),
            command: None,
        }
    }

    /// `-o NAME=VALUE`, e.g. `.option("KexAlgorithms", "curve25519-sha256")`.
    pub fn option(mut self, name: &str, value: &str) -> Self {
        self.options.push((name.to_string(), value.to_string()));
        self
    }

    /// `-vvv` (instead of `LogLevel=ERROR`): the negotiation is then in stderr.
    pub fn verbose(mut self) -> Self {
        self.verbose = true;
        self
    }

    /// `-i PATH` with `IdentitiesOnly=yes`.
    pub fn identity(mut self, path: impl AsRef<Path>) -> Self {
        self.identity = Some(path.as_ref().to_path_buf());
        self
    }

    /// Checks the host key strictly against this known_hosts file (see
    /// [`OpenSshServer::known_hosts_file`]) instead of accepting any key.
    pub fn known_hosts(mut self, path: impl AsRef<Path>) -> Self {
        self.known_hosts = Some(path.as_ref().to_path_buf());
        self
    }

    /// Password authentication through `sshpass -p PASSWORD` (`BatchMode=no`, public keys off).
    pub fn password(mut self, password: &str) -> Self {
        self.password = Some(password.to_string());
        self
    }

    /// Password authentication with the test user's password.
    pub fn test_password(self) -> Self {
        self.password(TEST_PASSWORD)
    }

    /// Another user name than `peer`.
    pub fn user(mut self, user: &str) -> Self {
        self.user = user.to_string();
        self
    }

    /// Any other argument, placed before the destination.
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_string());
        self
    }

    /// The remote command (one string, run by the user's shell).
    pub fn command(mut self, command: &str) -> Self {
        self.command = Some(command.to_string());
        self
    }

    /// The port this client connects to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The `Command` (program `ssh`, or `sshpass` with a password).
    pub fn build(&self) -> Command {
        let mut cmd;
        if let Some(pw) = &self.password {
            cmd = Command::new("sshpass");
            cmd.args(["-p", pw, "ssh"]);
        } else {
            cmd = Command::new("ssh");
        }
        cmd.args(["-F", "/dev/null"]);
        let mut opt = |k: &str, v: &str| {
            cmd.arg("-o").arg(format!("{k}={v}"));
        };
        for (k, v) in &self.options {
            opt(k, v);
        }
        match &self.known_hosts {
            Some(path) => {
                opt("StrictHostKeyChecking", "yes");
                opt("UserKnownHostsFile", &path.display().to_string());
            }
            None => {
                opt("StrictHostKeyChecking", "no");
                opt("UserKnownHostsFile", "/dev/null");
            }
        }
        opt("GlobalKnownHostsFile", "/dev/null");
        if !self.verbose {
            opt("LogLevel", "ERROR");
        }
        if self.password.is_some() {
            opt("BatchMode", "no");
            opt("PubkeyAuthentication", "no");
            opt("PreferredAuthentications", "password");
            opt("NumberOfPasswordPrompts", "1");
        } else {
            opt("BatchMode", "yes");
        }
        if let Some(id) = &self.identity {
            opt("IdentitiesOnly", "yes");
            opt("IdentityFile", &id.display().to_string());
        }
        opt("IdentityAgent", "none");
        opt("ConnectTimeout", "20");
        if self.verbose {
            cmd.arg("-vvv");
        }
        cmd.arg("-p").arg(self.port.to_string());
        cmd.args(&self.args);
        cmd.arg(format!("{}@{}", self.user, self.host));
        if let Some(c) = &self.command {
            cmd.arg(c);
        }
        cmd
    }

    /// Builds and runs the command with standard input closed, killing it after `timeout`.
    pub fn run(&self, timeout: Duration) -> CmdOutput {
        run_with_timeout(&mut self.build(), timeout)
    }
}
