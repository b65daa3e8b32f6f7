//! The SSH libraries driven through a driver program that speaks one protocol (tests/peers/asyncssh_peer.py
//! documents it): paramiko, AsyncSSH, Go's x/crypto/ssh with pkg/sftp, Twisted Conch, Erlang/OTP's ssh
//! and libssh (through ansible-pylibssh). Each driver runs JSON cases as a client (`DRIVER client`, one
//! case per line on stdin, one result per line on stdout) and serves as a server (`DRIVER server ...`,
//! printing `PORT n`); `DRIVER supported` lists its algorithms. The scenarios both ways and the algorithm
//! sweep both ways.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc;

use nacre::keys::PublicKey;
use nacre_tests::{
    repo_root, require_program, run_with_timeout, venv_python, ChildGuard, KeyPair, KeyType,
    TEST_PASSWORD, TEST_USER,
};
use serde_json::{json, Value};

use super::fixtures::{
    block_on, check_sha, na, run, this_thread, with_rekeys, Fixture, NacreTarget, Outcome,
    ServerKind, EXEC_COMMAND, REKEY_LIMIT, T,
};
use super::nacre_client::{self, Auth, Options, PeerServer};
use super::report::{Dir, Family, Matrix, Row, Scenario};
use super::sweep::{self, PeerAlgs, MAC_CIPHER};
use super::{dpkg_version, new_session, peers_dir};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Lib {
    Paramiko,
    AsyncSsh,
    /// golang.org/x/crypto/ssh and github.com/pkg/sftp (tests/peers/go, built by scripts/install-peers).
    Go,
    /// Twisted Conch (tests/peers/conch_peer.py).
    Conch,
    /// Erlang/OTP's ssh, ssh_sftp and ssh_sftpd (tests/peers/erlang_peer.escript).
    Erlang,
    /// libssh through ansible-pylibssh (tests/peers/libssh_peer.py): a client only.
    Libssh,
    /// Ruby's net-ssh and net-sftp (tests/peers/ruby_peer.rb): a client only.
    Ruby,
    /// JSch (tests/peers/jsch/JschPeer.java): a client only.
    Jsch,
    /// ssh2 for Node.js (tests/peers/node/node_peer.js, the package under .peers/node).
    Node,
}

/// How a driver reads its cases.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CaseFormat {
    Json,
    /// `key=value` fields separated by tabs, nested keys joined by `.`, lists joined by `,`, nulls left
    /// out (for drivers written in languages without a JSON parser at hand: Erlang/OTP 25).
    Flat,
}

impl Lib {
    pub const ALL: [Lib; 9] = [
        Lib::Paramiko,
        Lib::AsyncSsh,
        Lib::Go,
        Lib::Conch,
        Lib::Erlang,
        Lib::Libssh,
        Lib::Ruby,
        Lib::Jsch,
        Lib::Node,
    ];

    /// The driver program, as shown in the table.
    fn driver(self) -> &'static str {
        match self {
            Lib::Paramiko => "tests/peers/paramiko_peer.py",
            Lib::AsyncSsh => "tests/peers/asyncssh_peer.py",
            Lib::Go => "tests/peers/go (main.go, built into .peers/gopeer)",
            Lib::Conch => "tests/peers/conch_peer.py",
            Lib::Erlang => "tests/peers/erlang_peer.escript",
            Lib::Libssh => "tests/peers/libssh_peer.py",
            Lib::Ruby => "tests/peers/ruby_peer.rb",
            Lib::Jsch => "tests/peers/jsch/JschPeer.java (with Debian's jsch.jar)",
            Lib::Node => "tests/peers/node/node_peer.js",
        }
    }

    /// `DRIVER MODE`.
    fn command(self, mode: &str) -> Command {
        let python = |script: &str| {
            let mut c = Command::new(venv_python());
            c.arg(peers_dir().join(script))
                .env("PYTHONWARNINGS", "ignore");
            c
        };
        let mut c = match self {
            Lib::Paramiko => python("paramiko_peer.py"),
            Lib::AsyncSsh => python("asyncssh_peer.py"),
            Lib::Conch => python("conch_peer.py"),
            Lib::Libssh => python("libssh_peer.py"),
            Lib::Go => {
                let bin = repo_root().join(".peers/gopeer");
                require_program(&bin);
                Command::new(bin)
            }
            Lib::Node => {
                let modules = repo_root().join(".peers/node/node_modules");
                require_program(&modules.join("ssh2/package.json"));
                require_program(Path::new("/usr/bin/node"));
                let mut c = Command::new("/usr/bin/node");
                c.arg(peers_dir().join("node/node_peer.js"))
                    .env("NODE_PATH", modules);
                c
            }
            Lib::Jsch => {
                let jar = Path::new("/usr/share/java/jsch.jar");
                require_program(jar);
                require_program(Path::new("/usr/bin/java"));
                let mut c = Command::new("/usr/bin/java");
                c.arg("-cp")
                    .arg(jar)
                    .arg(peers_dir().join("jsch/JschPeer.java"));
                c
            }
            Lib::Ruby => {
                require_program(Path::new("/usr/bin/ruby"));
                let mut c = Command::new("/usr/bin/ruby");
                c.arg(peers_dir().join("ruby_peer.rb"));
                c
            }
            Lib::Erlang => {
                require_program(Path::new("/usr/bin/escript"));
                let mut c = Command::new("/usr/bin/escript");
                c.arg(peers_dir().join("erlang_peer.escript"));
                c
            }
        };
        c.arg(mode);
        c
    }

    fn format(self) -> CaseFormat {
        match self {
            Lib::Erlang | Lib::Jsch => CaseFormat::Flat,
            _ => CaseFormat::Json,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Lib::Paramiko => "paramiko",
            Lib::AsyncSsh => "AsyncSSH",
            Lib::Go => "Go",
            Lib::Conch => "Conch",
            Lib::Erlang => "Erlang",
            Lib::Libssh => "libssh",
            Lib::Ruby => "Ruby",
            Lib::Jsch => "JSch",
            Lib::Node => "ssh2",
        }
    }

    fn order(self) -> u32 {
        match self {
            Lib::Paramiko => 60,
            Lib::AsyncSsh => 70,
            Lib::Go => 80,
            Lib::Conch => 90,
            Lib::Erlang => 100,
            Lib::Libssh => 110,
            Lib::Ruby => 140,
            Lib::Jsch => 150,
            Lib::Node => 160,
        }
    }

    /// Whether the library's server is in the matrix.
    pub fn has_server(self) -> bool {
        !matches!(self, Lib::Libssh | Lib::Ruby | Lib::Jsch)
    }

    /// The nacre server of the `peer → nacre` rows: the default one, or for a client that lacks what nacre's
    /// server offers by default, one that adds it, with the reason (shown in the row's description).
    fn server_kind(self, rekey: bool) -> (ServerKind, &'static str) {
        match self {
            Lib::Conch => (
                ServerKind::Libssh2 { rekey },
                " It has no AEAD cipher and no ETM MAC, all that nacre's server offers by default: its \
                 servers here add `hmac-sha2-256`/`-512` (as for curl).",
            ),
            Lib::Ruby => (
                ServerKind::NistEcdh { rekey },
                " Debian's net-ssh comes without the optional x25519 gem, so it has no curve25519 and no \
                 post-quantum kex, all that nacre's server offers by default: its servers here add \
                 `ecdh-sha2-nistp256/384/521` (off by default on nacre's server, on in OpenSSH's).",
            ),
            Lib::Jsch => (
                ServerKind::Legacy { rekey },
                " JSch 0.1.55 (2018) has no curve25519, no AEAD cipher, no ETM MAC, no ed25519 and signs with \
                 RSA keys as `ssh-rsa` (SHA-1) only: its servers here offer everything nacre implements, \
                 legacy SHA-1 algorithms and `ssh-rsa` user keys included (`ServerKind::Legacy`). It reads \
                 PEM keys only: ECDSA and RSA keys are converted with `ssh-keygen -p -m PEM`.",
            ),
            _ if rekey => (ServerKind::Rekey, ""),
            _ => (ServerKind::Default, ""),
        }
    }

    /// Whether the library's client signs with RSA keys only as `ssh-rsa` (SHA-1).
    fn rsa_sha1_only(self) -> bool {
        self == Lib::Conch
    }

    /// A known cause, added to the failure of a `peer → nacre` scenario (the cell is then not in the
    /// baseline: tests/tests/interop/baseline.txt).
    fn known_client_issue(self, s: Scenario) -> Option<&'static str> {
        match (self, s) {
            (Lib::Conch, Scenario::RekeyByPeer | Scenario::RekeyByNacre) => Some(
                "Known: Twisted Conch's client calls connectionSecure() after every NEWKEYS, re-exchanges \
                 included, and its own client (twisted.conch.client.direct) requests the ssh-userauth service \
                 there, so a SERVICE_REQUEST follows each re-exchange; OpenSSH answers UNIMPLEMENTED and goes \
                 on (the same driver passes against sshd with RekeyLimit 1M), nacre's server disconnects \
                 (docs/TOLERANCE.md: a SERVICE_REQUEST after authentication is fatal).",
            ),
            _ => None,
        }
    }

    /// A known cause, added to the failure of a `nacre → peer` scenario (the cell is not in the baseline).
    fn known_server_issue(self, s: Scenario) -> Option<&'static str> {
        match (self, s) {
            (Lib::Node, Scenario::KeyRsa) => Some(
                "Known (nacre's client stricter than OpenSSH's): asked whether an RSA key would do with \
                 algorithm rsa-sha2-512 or -256, ssh2's server answers USERAUTH_PK_OK naming `ssh-rsa` (it \
                 maps the algorithm to the key type, handlers.misc.js); OpenSSH 9.2's client compares only \
                 the key type (sshconnect2.c input_userauth_pk_ok) and logs in with the same key against \
                 this server; nacre's client refuses the answer.",
            ),
            _ => None,
        }
    }

    /// Whether the driver's SFTP server serves the whole file system (clients then use absolute paths
    /// under the folder given as `--root`) rather than `--root` as `/`.
    fn sftp_absolute(self) -> bool {
        self == Lib::Go
    }

    /// The version, for the rows and the table of peers.
    pub fn version(self) -> String {
        let python_module = |module: &str, name: &str| {
            let mut cmd = Command::new(venv_python());
            cmd.args([
                "-c",
                &format!("import importlib.metadata as m; print(m.version({module:?}))"),
            ]);
            format!("{name} {}", run_with_timeout(&mut cmd, T).stdout.trim())
        };
        match self {
            Lib::Paramiko => python_module("paramiko", "paramiko"),
            Lib::AsyncSsh => python_module("asyncssh", "AsyncSSH"),
            Lib::Conch => python_module("twisted", "Twisted Conch"),
            Lib::Libssh => {
                let binding = python_module("ansible-pylibssh", "ansible-pylibssh");
                let mut cmd = Command::new(venv_python());
                cmd.args([
                    "-c",
                    "from pylibsshext import __libssh_version__ as v; print(v)",
                ]);
                let v = run_with_timeout(&mut cmd, T).stdout.trim().to_owned();
                format!("libssh {v} / {binding}")
            }
            Lib::Jsch => format!("JSch {}", upstream(&dpkg_version("libjsch-java"))),
            Lib::Node => {
                let pkg = repo_root().join(".peers/node/node_modules/ssh2/package.json");
                let v: Value = std::fs::read_to_string(pkg)
                    .ok()
                    .and_then(|t| serde_json::from_str(&t).ok())
                    .unwrap_or(Value::Null);
                let node = super::first_line("node", &["--version"]);
                format!(
                    "ssh2 {} / Node.js {}",
                    v["version"].as_str().unwrap_or("?"),
                    node.trim_start_matches('v')
                )
            }
            Lib::Ruby => format!(
                "Ruby net-ssh {} / net-sftp {}",
                upstream(&dpkg_version("ruby-net-ssh")),
                upstream(&dpkg_version("ruby-net-sftp"))
            ),
            Lib::Go => format!(
                "Go x/crypto {} / pkg/sftp {}",
                upstream(&dpkg_version("golang-golang-x-crypto-dev")),
                upstream(&dpkg_version("golang-github-pkg-sftp-dev"))
            ),
            Lib::Erlang => {
                let mut cmd = Command::new("erl");
                cmd.args([
                    "-noshell",
                    "-eval",
                    "application:load(ssh), {ok, V} = application:get_key(ssh, vsn), \
                     io:format(\"~s ~s~n\", [erlang:system_info(otp_release), V]), halt().",
                ]);
                let out = run_with_timeout(&mut cmd, T).stdout;
                let mut w = out.split_whitespace();
                format!(
                    "Erlang/OTP {} ssh {}",
                    w.next().unwrap_or("?"),
                    w.next().unwrap_or("?")
                )
            }
        }
    }

    /// The algorithms this library implements (`DRIVER supported`).
    pub fn supported(self) -> PeerAlgs {
        let out = run_with_timeout(&mut self.command("supported"), T);
        PeerAlgs::from_json(&serde_json::from_str(out.stdout.trim()).unwrap_or(Value::Null))
    }

    /// How the driver's client forces re-exchanges (set on the case), or why it cannot.
    fn client_rekey(self, c: &mut Value) -> Result<&'static str, &'static str> {
        match self {
            Lib::Paramiko => {
                c["renegotiate"] = json!(true);
                Ok("`transport.renegotiate_keys()` before and after the transfer")
            }
            Lib::Conch => {
                c["rekey_bytes"] = json!(REKEY_LIMIT);
                Ok("its transport calling `sendKexInit()` after every MiB (Conch has no rekey limit of its own)")
            }
            Lib::AsyncSsh => {
                c["rekey_bytes"] = json!(REKEY_LIMIT);
                Ok("`rekey_bytes=1 MiB` on the connection")
            }
            Lib::Go => {
                c["rekey_bytes"] = json!(REKEY_LIMIT);
                Ok("`Config.RekeyThreshold` = 1 MiB")
            }
            Lib::Erlang => {
                c["renegotiate"] = json!(true);
                Ok("`ssh_connection_handler:renegotiate/1` before and after the upload (OTP checks its \
                    `rekey_limit` byte count once a minute only)")
            }
            Lib::Ruby => {
                c["rekey_bytes"] = json!(REKEY_LIMIT);
                Ok("`rekey_limit: 1 MiB`")
            }
            Lib::Jsch => {
                c["renegotiate"] = json!(true);
                Ok("`Session.rekey()` before and after the upload")
            }
            Lib::Node => Err("ssh2's Client has no call that starts a re-exchange (its server Connection has \
                 `rekey()`) and no rekey limit"),
            Lib::Libssh => Err(
                "ansible-pylibssh exposes neither libssh's SSH_OPTIONS_REKEY_DATA nor a call that starts a \
                 re-exchange",
            ),
        }
    }

    /// How the driver's server forces re-exchanges (`--rekey`).
    fn server_rekey(self) -> &'static str {
        match self {
            Lib::Paramiko => "its packetizer's REKEY_BYTES set to 1 MiB",
            Lib::AsyncSsh => "`rekey_bytes=1 MiB` on the listener",
            Lib::Go => "`Config.RekeyThreshold` = 1 MiB",
            Lib::Conch => "`transport.sendKexInit()` after every MiB the SFTP server writes",
            Lib::Node => "`Connection.rekey()` after every MiB its SFTP server writes",
            Lib::Erlang => "its SFTP channel calling `ssh_connection_handler:renegotiate/1` after every MiB received",
            Lib::Libssh | Lib::Ruby | Lib::Jsch => "",
        }
    }
}

/// `1:0.4.0-1` → `0.4.0` (a Debian version's upstream part).
fn upstream(v: &str) -> &str {
    let v = v.split_once(':').map_or(v, |(_, r)| r);
    v.rsplit_once('-').map_or(v, |(u, _)| u)
}

/// [`CaseFormat::Flat`] of a JSON case.
fn flat(v: &Value) -> String {
    fn walk(prefix: &str, v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Null => {}
            Value::Object(m) => {
                for (k, x) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, x, out);
                }
            }
            Value::Array(a) => {
                let items: Vec<String> = a
                    .iter()
                    .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
                    .collect();
                out.push(format!("{prefix}={}", items.join(",")));
            }
            Value::String(s) => out.push(format!("{prefix}={s}")),
            other => out.push(format!("{prefix}={other}")),
        }
    }
    let mut out = Vec::new();
    walk("", v, &mut out);
    out.join("\t")
}

/// A long-lived driver client that runs one case per line.
struct DriverClient {
    lib: Lib,
    proc: Option<(ChildGuard, ChildStdin, mpsc::Receiver<String>)>,
}

impl DriverClient {
    fn new(lib: Lib) -> DriverClient {
        DriverClient { lib, proc: None }
    }

    fn run(&mut self, case: &Value) -> Result<Value, String> {
        if self.proc.is_none() {
            let mut cmd = self.lib.command("client");
            cmd.stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null());
            let mut child =
                ChildGuard::spawn_group(format!("{} client", self.lib.name()), &mut cmd);
            let stdin = child.child_mut().stdin.take().unwrap();
            let stdout = child.child_mut().stdout.take().unwrap();
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    // Results are JSON objects; anything else is the library's own chatter.
                    if !line.starts_with('{') {
                        continue;
                    }
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            self.proc = Some((child, stdin, rx));
        }
        let (_, stdin, rx) = self.proc.as_mut().unwrap();
        let line = match self.lib.format() {
            CaseFormat::Json => case.to_string(),
            CaseFormat::Flat => flat(case),
        };
        let sent = writeln!(stdin, "{line}").and_then(|()| stdin.flush());
        let reply = sent
            .map_err(|e| format!("writing to the {} client: {e}", self.lib.name()))
            .and_then(|()| {
                rx.recv_timeout(T)
                    .map_err(|e| format!("no answer from the {} client: {e}", self.lib.name()))
            });
        match reply {
            Ok(line) => serde_json::from_str(&line).map_err(|e| format!("bad JSON {line:?}: {e}")),
            Err(e) => {
                // Start afresh for the next case.
                self.proc = None;
                Err(e)
            }
        }
    }

    /// Runs `case` and checks that it succeeded (and, with `exec`, printed `stdout` with `status`).
    fn check(&mut self, case: &Value, stdout: &str, status: i64) -> Outcome {
        let r = self.run(case)?;
        if r["ok"].as_bool() != Some(true) {
            return Err(format!("{}: {}", self.lib.name(), r["error"]));
        }
        if case.get("exec").is_some_and(|e| !e.is_null())
            && (r["stdout"].as_str() != Some(stdout) || r["exit_status"].as_i64() != Some(status))
        {
            return Err(format!(
                "stdout {} and exit status {} instead of {stdout:?} and {status}",
                r["stdout"], r["exit_status"]
            ));
        }
        Ok(String::new())
    }
}

/// A case logging in to `t` with a password.
fn case(t: &NacreTarget, name: &str) -> Value {
    json!({
        "name": name,
        "port": t.port(),
        "user": TEST_USER,
        "password": TEST_PASSWORD,
        "host_keys": t.host_key_lines(),
    })
}

fn sftp_case(
    fx: &Fixture,
    mut c: Value,
    t: &NacreTarget,
    local: &Path,
    sha: &str,
    name: &str,
    client: &mut DriverClient,
) -> Outcome {
    let back = fx.dir("python").join(format!("{name}.back"));
    c["sftp"] = json!({
        "local": local, "remote": format!("/{name}"), "back": back, "remove": false,
    });
    let server_copy = t.root.join(name);
    let result = client.check(&c, "", 0).and_then(|_| {
        check_sha(&server_copy, sha, "server's copy")?;
        check_sha(&back, sha, "downloaded copy")
    });
    let _ = std::fs::remove_file(&server_copy);
    let _ = std::fs::remove_file(&back);
    result.map(|()| String::new())
}

pub fn peer_to_nacre(fx: &Fixture, m: &Matrix, lib: Lib, version: &str) {
    let row = Row {
        order: lib.order(),
        peer: format!("{version} (client)"),
        dir: Dir::PeerToNacre,
    };
    let (kind, why_kind) = lib.server_kind(false);
    let special = kind != ServerKind::Default;
    let mut rekey_case = case(&fx.default, "rekey by peer");
    let rekey_how = lib.client_rekey(&mut rekey_case);
    let sftp_how = match lib {
        Lib::Go => "SFTP: pkg/sftp's concurrent upload (`File.ReadFrom` with `UseConcurrentWrites`) and concurrent \
                    download (`File.WriteTo`) of 10 MB, stat between, both copies checked",
        _ => "SFTP: put 10 MB, stat, get, both copies checked",
    };
    m.describe(
        &row,
        &format!(
            "{} client: the host key must be one of nacre's; password or key, `echo ok`; exec as for OpenSSH \
             (stdout and status); {sftp_how}; rekeys: 4 MB the same way, forced by {} or by nacre's server \
             (rekey_bytes 1 MiB).{}",
            lib.driver(),
            rekey_how.unwrap_or("nacre's server only"),
            why_kind
        ),
    );
    let shared = special.then(|| fx.nacre(kind));
    let t = shared.as_ref().unwrap_or(&fx.default);
    let mut client = DriverClient::new(lib);
    let mut c = case(t, "password");
    c["exec"] = json!("echo ok");
    run(m, &row, Scenario::Password, || client.check(&c, "ok\n", 0));
    let everything = lib
        .rsa_sha1_only()
        .then(|| fx.nacre(ServerKind::Everything));
    for s in [Scenario::KeyEd25519, Scenario::KeyEcdsa, Scenario::KeyRsa] {
        if lib == Lib::Jsch && s == Scenario::KeyEd25519 {
            na(
                m,
                &row,
                s,
                "JSch 0.1.55 implements no Ed25519 (it came in the later fork, com.github.mwiede:jsch)",
            );
            continue;
        }
        let (server, note) = match &everything {
            Some(e) if s == Scenario::KeyRsa => (
                e,
                format!(
                    "{} signs with RSA keys only as `ssh-rsa` (SHA-1): passes against a nacre server \
                     configured to accept it (`pubkey_algorithms` with `ssh-rsa`, like OpenSSH's \
                     `PubkeyAcceptedAlgorithms +ssh-rsa`); nacre's default refuses it, as OpenSSH 9.2's does",
                    lib.name()
                ),
            ),
            _ => (t, String::new()),
        };
        let mut c = case(server, s.label());
        c["password"] = Value::Null;
        c["key"] = json!(fx.key(s).private);
        c["exec"] = json!("echo ok");
        run(m, &row, s, || client.check(&c, "ok\n", 0).map(|_| note));
    }
    let mut c = case(t, "exec");
    c["exec"] = json!(EXEC_COMMAND);
    run(m, &row, Scenario::Exec, || client.check(&c, "out\n", 42));
    let file = format!("{}.bin", lib.name());
    let rekey_file = format!("{}-rekey.bin", lib.name());
    run(m, &row, Scenario::Sftp, || {
        sftp_case(
            fx,
            case(t, "sftp"),
            t,
            &fx.data,
            &fx.data_sha,
            &file,
            &mut client,
        )
    });
    match rekey_how {
        Ok(_) => {
            let own = fx.nacre(kind);
            run(m, &row, Scenario::RekeyByPeer, || {
                let mut c = rekey_case.clone();
                c["port"] = json!(own.port());
                c["host_keys"] = json!(own.host_key_lines());
                with_rekeys(own.thread(), || {
                    sftp_case(
                        fx,
                        c,
                        &own,
                        &fx.small,
                        &fx.small_sha,
                        &rekey_file,
                        &mut client,
                    )
                })
                .map_err(|e| known(lib, Scenario::RekeyByPeer, e))
            });
        }
        Err(why) => na(m, &row, Scenario::RekeyByPeer, why),
    }
    let own = fx.nacre(lib.server_kind(true).0);
    run(m, &row, Scenario::RekeyByNacre, || {
        let r = &own;
        with_rekeys(own.thread(), || {
            sftp_case(
                fx,
                case(r, "rekey by nacre"),
                r,
                &fx.small,
                &fx.small_sha,
                &rekey_file,
                &mut client,
            )
        })
        .map_err(|e| known(lib, Scenario::RekeyByNacre, e))
    });
}

/// A failure with its known cause first, if there is one.
fn known(lib: Lib, s: Scenario, e: String) -> String {
    match lib.known_client_issue(s) {
        Some(why) => format!("{why} Error: {e}"),
        None => e,
    }
}

/// A driver's server (`DRIVER server`), killed when dropped.
struct DriverServer {
    _process: ChildGuard,
    port: u16,
    log: PathBuf,
}

impl DriverServer {
    fn start(
        lib: Lib,
        dir: &Path,
        host_keys: &[KeyPair],
        fx: &Fixture,
        root: &Path,
        rekey: bool,
    ) -> DriverServer {
        let log = dir.join(format!(
            "{}-server{}.log",
            lib.name(),
            if rekey { "-rekey" } else { "" }
        ));
        let mut cmd = lib.command("server");
        for k in host_keys {
            cmd.arg("--host-key").arg(&k.private);
        }
        cmd.arg("--authorized-keys")
            .arg(&fx.authorized_keys)
            .args(["--password", TEST_PASSWORD, "--root"])
            .arg(root);
        if rekey {
            cmd.arg("--rekey");
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap());
        let mut process = ChildGuard::spawn_group(format!("{} server", lib.name()), &mut cmd);
        let stdout = process.child_mut().stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            // The first `PORT n` line (drivers may print something before it).
            for l in lines.by_ref().map_while(Result::ok) {
                if l.starts_with("PORT ") {
                    let _ = tx.send(l);
                    break;
                }
            }
            // Keep reading so the server never blocks on a full pipe.
            for _ in lines {}
        });
        let line = rx.recv_timeout(T).unwrap_or_else(|_| {
            panic!(
                "{} server did not start: {}",
                lib.name(),
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        });
        let port = line
            .strip_prefix("PORT ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        DriverServer {
            _process: process,
            port,
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Host keys of every type for the drivers' servers, made once per run.
fn server_host_keys(fx: &Fixture) -> Vec<KeyPair> {
    static KEYS: std::sync::Mutex<Vec<KeyPair>> = std::sync::Mutex::new(Vec::new());
    let mut keys = KEYS.lock().unwrap_or_else(|e| e.into_inner());
    if keys.is_empty() {
        let dir = fx.dir("python-host-keys");
        *keys = [
            KeyType::Ed25519,
            KeyType::EcdsaP256,
            KeyType::EcdsaP384,
            KeyType::EcdsaP521,
            KeyType::Rsa3072,
        ]
        .into_iter()
        .map(|t| KeyPair::generate(&dir, &format!("host_{}", t.file_stem()), t))
        .collect();
    }
    keys.clone()
}

fn peer_server(port: u16, keys: &[KeyPair]) -> PeerServer {
    PeerServer {
        port,
        host_keys: keys
            .iter()
            .map(|k| PublicKey::from_openssh_line(&k.pub_line).unwrap().0)
            .collect(),
    }
}

/// The driver's server root: a folder of the test user (the Go server serves the real file system).
fn server_root(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    root
}

pub fn nacre_to_peer(fx: &Fixture, m: &Matrix, lib: Lib, version: &str) {
    if !lib.has_server() {
        return;
    }
    let row = Row {
        order: lib.order() + 1,
        peer: format!("{version} (server)"),
        dir: Dir::NacreToPeer,
    };
    let sftp_how = if lib.sftp_absolute() {
        "SFTP over the file system (nacre uses absolute paths in a folder of its own)"
    } else {
        "SFTP over a folder"
    };
    m.describe(
        &row,
        &format!(
            "{} server with ed25519, ECDSA P-256/384/521 and RSA host keys (nacre trusts exactly those), user \
             `peer` by password or authorized key, exec through /bin/sh, {sftp_how}; nacre runs `echo ok`, the \
             exec command, a 10 MB SFTP round trip (both copies checked); rekeys: 4 MB the same way, forced by \
             the server ({}) or by nacre's client (rekey_bytes 1 MiB).",
            lib.driver(),
            lib.server_rekey()
        ),
    );
    let dir = fx.dir(&format!("{}-server", lib.name()));
    let keys = server_host_keys(fx);
    let root = server_root(&dir);
    let server = DriverServer::start(lib, &dir, &keys, fx, &root, false);
    let t = peer_server(server.port, &keys);
    nacre_client::standard_rows(fx, m, &row, &t, &|| server.log());
    if let Some(why) = lib.known_server_issue(Scenario::KeyRsa) {
        m.annotate(&row, Scenario::KeyRsa, why);
    }
    let round_trip = |t: &PeerServer,
                      opts: Options,
                      local: &Path,
                      sha: &str,
                      name: &str,
                      log: &dyn Fn() -> String| {
        let remote = if lib.sftp_absolute() {
            root.join(name).to_string_lossy().into_owned()
        } else {
            format!("/{name}")
        };
        block_on(nacre_client::sftp_round_trip(
            t,
            &opts,
            local,
            sha,
            &remote,
            &root.join(name),
        ))
        .map_err(|e| format!("{e}\n--- server log ---\n{}", log()))
    };
    run(m, &row, Scenario::Sftp, || {
        round_trip(
            &t,
            Options::default(),
            &fx.data,
            &fx.data_sha,
            "up.bin",
            &|| server.log(),
        )
    });
    let rekeying = DriverServer::start(lib, &dir, &keys, fx, &root, true);
    let tr = peer_server(rekeying.port, &keys);
    run(m, &row, Scenario::RekeyByPeer, || {
        with_rekeys(&this_thread(), || {
            round_trip(
                &tr,
                Options::default(),
                &fx.small,
                &fx.small_sha,
                "rekey.bin",
                &|| rekeying.log(),
            )
        })
    });
    run(m, &row, Scenario::RekeyByNacre, || {
        let opts = Options {
            rekey_bytes: Some(REKEY_LIMIT),
            ..Options::default()
        };
        with_rekeys(&this_thread(), || {
            round_trip(&t, opts, &fx.small, &fx.small_sha, "rekey.bin", &|| {
                server.log()
            })
        })
    });
}

fn column(lib: Lib, dir: Dir) -> (u32, String) {
    match dir {
        Dir::PeerToNacre => (lib.order(), format!("{} → nacre", lib.name())),
        Dir::NacreToPeer => (lib.order() + 1, format!("nacre → {}", lib.name())),
    }
}

/// The driver's client limited to one algorithm at a time against a nacre server offering everything.
pub fn sweep_peer_to_nacre(fx: &Fixture, m: &Matrix, lib: Lib, peer: &PeerAlgs) {
    let t = fx.nacre(sweep::SWEEP_SERVER);
    let mut client = DriverClient::new(lib);
    let key = fx.key(Scenario::KeyEd25519);
    let peer = &peer.client();
    sweep::sweep(m, column(lib, Dir::PeerToNacre), peer, lib.name(), |alg| {
        let before = t.server.sessions().len();
        let mut c = case(&t, alg.name);
        // OTP's preferred_algorithms limits the client's own key algorithms with the host key's, and JSch
        // 0.1.55 has no Ed25519: their sweeps log in by password.
        if !matches!(lib, Lib::Erlang | Lib::Jsch) {
            c["password"] = Value::Null;
            c["key"] = json!(key.private);
        }
        c["exec"] = json!("echo ok");
        c["algs"] = json!({ alg.family_key(): [alg.name] });
        if alg.family == Family::Mac {
            c["algs"]["cipher"] = json!([MAC_CIPHER]);
        }
        client.check(&c, "ok\n", 0)?;
        alg.check(new_session(&t, before)?.as_ref())?;
        Ok(String::new())
    });
}

/// nacre's client limited to one algorithm at a time against the driver's server (which offers everything).
pub fn sweep_nacre_to_peer(fx: &Fixture, m: &Matrix, lib: Lib, peer: &PeerAlgs) {
    if !lib.has_server() {
        return;
    }
    let peer = &peer.server();
    let dir = fx.dir(&format!("{}-sweep", lib.name()));
    let keys = server_host_keys(fx);
    let root = server_root(&dir);
    let server = DriverServer::start(lib, &dir, &keys, fx, &root, false);
    let t = peer_server(server.port, &keys);
    let key = fx.key(Scenario::KeyEd25519);
    sweep::sweep(m, column(lib, Dir::NacreToPeer), peer, lib.name(), |alg| {
        let opts = Options {
            algorithms: Some(alg.restrict()),
            ..Options::default()
        };
        block_on(async {
            let conn = nacre_client::login(&t, &opts, Auth::Key(key)).await?;
            alg.check(conn.info().negotiated.as_ref())?;
            nacre_client::echo(&conn).await?;
            nacre_client::bye(conn).await;
            Ok(String::new())
        })
        .map_err(|e| format!("{e}\n--- server log ---\n{}", server.log()))
    });
}
