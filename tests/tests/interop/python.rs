//! paramiko and AsyncSSH, clients and servers, through tests/peers/{paramiko,asyncssh}_peer.py: the
//! scenarios both ways and the algorithm sweep both ways.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc;

use nacre::keys::PublicKey;
use nacre_tests::{
    run_with_timeout, venv_python, ChildGuard, KeyPair, KeyType, TEST_PASSWORD, TEST_USER,
};
use serde_json::{json, Value};

use super::fixtures::{
    block_on, check_sha, run, this_thread, with_rekeys, Fixture, NacreTarget, Outcome, ServerKind,
    EXEC_COMMAND, REKEY_LIMIT, T,
};
use super::nacre_client::{self, Auth, Options, PeerServer};
use super::report::{Dir, Family, Matrix, Row, Scenario};
use super::sweep::{self, PeerAlgs, MAC_CIPHER};
use super::{new_session, peers_dir};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Lib {
    Paramiko,
    AsyncSsh,
}

impl Lib {
    fn script(self) -> PathBuf {
        peers_dir().join(match self {
            Lib::Paramiko => "paramiko_peer.py",
            Lib::AsyncSsh => "asyncssh_peer.py",
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Lib::Paramiko => "paramiko",
            Lib::AsyncSsh => "AsyncSSH",
        }
    }

    fn order(self) -> u32 {
        match self {
            Lib::Paramiko => 60,
            Lib::AsyncSsh => 70,
        }
    }

    /// `import X; print(X.__version__)`.
    pub fn version(self) -> String {
        let module = match self {
            Lib::Paramiko => "paramiko",
            Lib::AsyncSsh => "asyncssh",
        };
        let mut cmd = Command::new(venv_python());
        cmd.args([
            "-c",
            &format!("import {module}; print({module}.__version__)"),
        ]);
        format!(
            "{} {}",
            self.name(),
            run_with_timeout(&mut cmd, T).stdout.trim()
        )
    }

    /// The algorithms this library implements (`X_peer.py supported`).
    pub fn supported(self) -> PeerAlgs {
        let mut cmd = Command::new(venv_python());
        cmd.arg(self.script()).arg("supported");
        let out = run_with_timeout(&mut cmd, T);
        PeerAlgs::from_json(&serde_json::from_str(out.stdout.trim()).unwrap_or(Value::Null))
    }
}

/// A long-lived Python client that runs one JSON case per line.
struct PyClient {
    lib: Lib,
    proc: Option<(ChildGuard, ChildStdin, mpsc::Receiver<String>)>,
}

impl PyClient {
    fn new(lib: Lib) -> PyClient {
        PyClient { lib, proc: None }
    }

    fn run(&mut self, case: &Value) -> Result<Value, String> {
        if self.proc.is_none() {
            let mut cmd = Command::new(venv_python());
            cmd.arg(self.lib.script())
                .arg("client")
                .stdin(Stdio::piped())
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
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            self.proc = Some((child, stdin, rx));
        }
        let (_, stdin, rx) = self.proc.as_mut().unwrap();
        let sent = writeln!(stdin, "{case}").and_then(|()| stdin.flush());
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
    client: &mut PyClient,
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
    let rekey_how = match lib {
        Lib::Paramiko => "`transport.renegotiate_keys()` before and after the transfer",
        Lib::AsyncSsh => "`rekey_bytes=1 MiB` on the connection",
    };
    m.describe(
        &row,
        &format!(
            "tests/peers/{} client: the host key must be one of nacre's; password or key, `echo ok`; exec as for \
             OpenSSH (stdout and status); SFTP: put 10 MB, stat, get, both copies checked; rekeys: 4 MB the same \
             way, forced by {rekey_how} or by nacre's server (rekey_bytes 1 MiB).",
            lib.script().file_name().unwrap().to_string_lossy()
        ),
    );
    let t = &fx.default;
    let mut client = PyClient::new(lib);
    let mut c = case(t, "password");
    c["exec"] = json!("echo ok");
    run(m, &row, Scenario::Password, || client.check(&c, "ok\n", 0));
    for s in [Scenario::KeyEd25519, Scenario::KeyEcdsa, Scenario::KeyRsa] {
        let mut c = case(t, s.label());
        c["password"] = Value::Null;
        c["key"] = json!(fx.key(s).private);
        c["exec"] = json!("echo ok");
        run(m, &row, s, || client.check(&c, "ok\n", 0));
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
    let own = fx.nacre(ServerKind::Default);
    run(m, &row, Scenario::RekeyByPeer, || {
        let mut c = case(&own, "rekey by peer");
        match lib {
            Lib::Paramiko => c["renegotiate"] = json!(true),
            Lib::AsyncSsh => c["rekey_bytes"] = json!(REKEY_LIMIT),
        }
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
    });
    let own = fx.nacre(ServerKind::Rekey);
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
    });
}

/// A Python server (`X_peer.py server`), killed when dropped.
struct PyServer {
    _process: ChildGuard,
    port: u16,
    log: PathBuf,
}

impl PyServer {
    fn start(
        lib: Lib,
        dir: &Path,
        host_keys: &[KeyPair],
        fx: &Fixture,
        root: &Path,
        rekey: bool,
    ) -> PyServer {
        let log = dir.join(format!(
            "{}-server{}.log",
            lib.name(),
            if rekey { "-rekey" } else { "" }
        ));
        let mut cmd = Command::new(venv_python());
        cmd.arg(lib.script()).arg("server");
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
            if let Some(Ok(l)) = lines.next() {
                let _ = tx.send(l);
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
        PyServer {
            _process: process,
            port,
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Host keys of every type for the Python servers, made once per run.
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

pub fn nacre_to_peer(fx: &Fixture, m: &Matrix, lib: Lib, version: &str) {
    let row = Row {
        order: lib.order() + 1,
        peer: format!("{version} (server)"),
        dir: Dir::NacreToPeer,
    };
    let rekey_how = match lib {
        Lib::Paramiko => "its packetizer's REKEY_BYTES set to 1 MiB",
        Lib::AsyncSsh => "`rekey_bytes=1 MiB` on the listener",
    };
    m.describe(
        &row,
        &format!(
            "tests/peers/{} server with ed25519, ECDSA P-256/384/521 and RSA host keys (nacre trusts exactly \
             those), user `peer` by password or authorized key, exec through /bin/sh, SFTP over a folder; nacre \
             runs `echo ok`, the exec command, a 10 MB SFTP round trip (both copies checked); rekeys: 4 MB the \
             same way, forced by the server ({rekey_how}) or by nacre's client (rekey_bytes 1 MiB).",
            lib.script().file_name().unwrap().to_string_lossy()
        ),
    );
    let dir = fx.dir(&format!("{}-server", lib.name()));
    let keys = server_host_keys(fx);
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    let server = PyServer::start(lib, &dir, &keys, fx, &root, false);
    let t = peer_server(server.port, &keys);
    nacre_client::standard_rows(fx, m, &row, &t, &|| server.log());
    let round_trip = |t: &PeerServer,
                      opts: Options,
                      local: &Path,
                      sha: &str,
                      name: &str,
                      log: &dyn Fn() -> String| {
        block_on(nacre_client::sftp_round_trip(
            t,
            &opts,
            local,
            sha,
            &format!("/{name}"),
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
    let rekeying = PyServer::start(lib, &dir, &keys, fx, &root, true);
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

/// The Python client limited to one algorithm at a time against a nacre server offering everything.
pub fn sweep_peer_to_nacre(fx: &Fixture, m: &Matrix, lib: Lib, peer: &PeerAlgs) {
    let t = fx.nacre(sweep::SWEEP_SERVER);
    let mut client = PyClient::new(lib);
    let key = fx.key(Scenario::KeyEd25519);
    sweep::sweep(m, column(lib, Dir::PeerToNacre), peer, lib.name(), |alg| {
        let before = t.server.sessions().len();
        let mut c = case(&t, alg.name);
        c["password"] = Value::Null;
        c["key"] = json!(key.private);
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

/// nacre's client limited to one algorithm at a time against the Python server (which offers everything).
pub fn sweep_nacre_to_peer(fx: &Fixture, m: &Matrix, lib: Lib, peer: &PeerAlgs) {
    let dir = fx.dir(&format!("{}-sweep", lib.name()));
    let keys = server_host_keys(fx);
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    let server = PyServer::start(lib, &dir, &keys, fx, &root, false);
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
