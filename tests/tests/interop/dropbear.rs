//! Dropbear 2022.83: `dbclient` against nacre's server (SFTP through OpenSSH's `sftp -S` over
//! `dbclient -s`), and nacre's client against the `dropbear` server.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nacre::keys::PublicKey;
use nacre_tests::{free_port, run_with_timeout, ChildGuard, KeyPair, TEST_PASSWORD, TEST_USER};

use super::fixtures::{
    block_on, check_sha, na, run, this_thread, with_rekeys, Fixture, NacreTarget, Outcome,
    ServerKind, EXEC_COMMAND, REKEY_LIMIT, T,
};
use super::nacre_client::{self, Options, PeerServer};
use super::peer_folder;
use super::report::{Dir, Matrix, Row, Scenario};

const NO_PEER_REKEY: &str = "Dropbear re-exchanges keys only after 1 GB or 8 hours (compile-time \
                             constants); neither dbclient nor dropbear has an option to force it sooner";

/// `dropbearconvert openssh dropbear KEY KEY.db` (dbclient cannot read OpenSSH key files).
fn dropbear_key(fx: &Fixture, key: &KeyPair) -> PathBuf {
    let out = fx
        .dir("dropbear")
        .join(format!("{}.db", key.key_type.file_stem()));
    if !out.exists() {
        let mut cmd = Command::new("dropbearconvert");
        cmd.args(["openssh", "dropbear"])
            .arg(&key.private)
            .arg(&out);
        run_with_timeout(&mut cmd, T).assert_success();
    }
    out
}

fn dbclient(t: &NacreTarget, key: Option<&Path>, command: &str) -> nacre_tests::CmdOutput {
    let mut cmd = Command::new("dbclient");
    cmd.args(["-y", "-y", "-p", &t.port().to_string()]);
    match key {
        Some(k) => {
            cmd.arg("-i").arg(k);
        }
        None => {
            cmd.env("DROPBEAR_PASSWORD", TEST_PASSWORD);
        }
    }
    cmd.arg(format!("{TEST_USER}@127.0.0.1")).arg(command);
    run_with_timeout(&mut cmd, T)
}

/// OpenSSH's `sftp -S WRAPPER`, the wrapper running `dbclient -s ... sftp`: Dropbear's client carries the
/// SFTP session.
fn sftp_round_trip(fx: &Fixture, t: &NacreTarget, local: &Path, sha: &str, name: &str) -> Outcome {
    let dir = fx.dir("dropbear");
    let wrapper = dir.join("dbclient-sftp.sh");
    if !wrapper.exists() {
        std::fs::write(
            &wrapper,
            "#!/bin/sh\n# sftp -S passes ssh options; dbclient takes its own.\n\
             exec dbclient -y -y -i \"$NACRE_DB_KEY\" -p \"$NACRE_DB_PORT\" -s peer@127.0.0.1 sftp\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let back = dir.join(format!("{name}.back"));
    let batch = dir.join(format!("{name}.batch"));
    std::fs::write(
        &batch,
        format!(
            "put {} /{name}\nget /{name} {}\n",
            local.display(),
            back.display()
        ),
    )
    .unwrap();
    let key = dropbear_key(fx, fx.key(Scenario::KeyEd25519));
    let mut cmd = Command::new("sftp");
    cmd.arg("-S")
        .arg(&wrapper)
        .arg("-b")
        .arg(&batch)
        .arg("nacre")
        .env("NACRE_DB_KEY", &key)
        .env("NACRE_DB_PORT", t.port().to_string());
    let out = run_with_timeout(&mut cmd, T);
    let server_copy = t.root.join(name);
    let result = if out.success() {
        check_sha(&server_copy, sha, "server's copy")
            .and_then(|()| check_sha(&back, sha, "downloaded copy"))
    } else {
        Err(format!("{out}"))
    };
    let _ = std::fs::remove_file(&server_copy);
    let _ = std::fs::remove_file(&back);
    result.map(|()| String::new())
}

fn expect_ok(out: &nacre_tests::CmdOutput) -> Outcome {
    if out.success() && out.stdout == "ok\n" {
        Ok(String::new())
    } else {
        Err(format!("{out}"))
    }
}

pub fn peer_to_nacre(fx: &Fixture, m: &Matrix, version: &str) {
    let row = Row {
        order: 20,
        peer: format!("{version} (dbclient)"),
        dir: Dir::PeerToNacre,
    };
    m.describe(
        &row,
        "`dbclient -y -y` (it has no option for a known_hosts file, so the host key is not checked), \
         password through DROPBEAR_PASSWORD or `-i` with the key converted by dropbearconvert, `echo ok`; \
         exec as for OpenSSH; SFTP: OpenSSH's `sftp -S` with a wrapper running `dbclient -s ... sftp`, so \
         Dropbear's client carries the SFTP session (10 MB, both copies checked); rekey forced by nacre's \
         server (rekey_bytes 1 MiB, 4 MB).",
    );
    let t = &fx.default;
    run(m, &row, Scenario::Password, || {
        expect_ok(&dbclient(t, None, "echo ok"))
    });
    for s in [Scenario::KeyEd25519, Scenario::KeyEcdsa, Scenario::KeyRsa] {
        run(m, &row, s, || {
            let key = dropbear_key(fx, fx.key(s));
            expect_ok(&dbclient(t, Some(&key), "echo ok"))
        });
    }
    run(m, &row, Scenario::Exec, || {
        let out = dbclient(t, None, EXEC_COMMAND);
        if out.status.code() == Some(42) && out.stdout == "out\n" && out.stderr.contains("err\n") {
            Ok(String::new())
        } else {
            Err(format!("{out}"))
        }
    });
    run(m, &row, Scenario::Sftp, || {
        sftp_round_trip(fx, t, &fx.data, &fx.data_sha, "dbclient.bin")
    });
    na(m, &row, Scenario::RekeyByPeer, NO_PEER_REKEY);
    let own = fx.nacre(ServerKind::Rekey);
    run(m, &row, Scenario::RekeyByNacre, || {
        with_rekeys(own.thread(), || {
            sftp_round_trip(fx, &own, &fx.small, &fx.small_sha, "dbclient-rekey.bin")
        })
    });
}

/// A running `dropbear -F -E` with ed25519, ECDSA and RSA host keys made by dropbearkey.
struct Dropbear {
    _process: ChildGuard,
    port: u16,
    host_keys: Vec<PublicKey>,
    log: PathBuf,
}

impl Dropbear {
    fn start(dir: &Path) -> Dropbear {
        let mut keys = Vec::new();
        let mut host_keys = Vec::new();
        for (t, bits) in [
            ("ed25519", None),
            ("ecdsa", Some("256")),
            ("rsa", Some("3072")),
        ] {
            let path = dir.join(format!("dropbear_{t}_host_key"));
            if !path.exists() {
                let mut cmd = Command::new("dropbearkey");
                cmd.args(["-t", t, "-f"]).arg(&path);
                if let Some(b) = bits {
                    cmd.args(["-s", b]);
                }
                run_with_timeout(&mut cmd, T).assert_success();
            }
            let mut cmd = Command::new("dropbearkey");
            cmd.args(["-y", "-f"]).arg(&path);
            let out = run_with_timeout(&mut cmd, T);
            out.assert_success();
            let line = out
                .stdout
                .lines()
                .find(|l| l.starts_with("ssh-") || l.starts_with("ecdsa-"))
                .unwrap_or_else(|| panic!("no public key in {out}"));
            host_keys.push(PublicKey::from_openssh_line(line).unwrap().0);
            keys.push(path);
        }
        let log = dir.join("dropbear.log");
        for _ in 0..3 {
            let port = free_port();
            let mut cmd = Command::new("dropbear");
            cmd.args(["-F", "-E", "-p", &format!("127.0.0.1:{port}"), "-P"])
                .arg(dir.join("dropbear.pid"));
            for k in &keys {
                cmd.arg("-r").arg(k);
            }
            let logf = std::fs::File::create(&log).unwrap();
            cmd.stdin(Stdio::null())
                .stdout(logf.try_clone().unwrap())
                .stderr(logf);
            let mut process = ChildGuard::spawn(format!("dropbear on {port}"), &mut cmd);
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(10) && process.is_running() {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Dropbear {
                        _process: process,
                        port,
                        host_keys,
                        log,
                    };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!(
            "dropbear did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
}

pub fn nacre_to_peer(fx: &Fixture, m: &Matrix, version: &str) {
    let row = Row {
        order: 21,
        peer: format!("{version} (dropbear)"),
        dir: Dir::NacreToPeer,
    };
    m.describe(
        &row,
        "`dropbear -F -E` with ed25519, ECDSA P-256 and RSA host keys from dropbearkey (nacre trusts exactly \
         those); password and keys of `peer` (~/.ssh/authorized_keys), `echo ok`; exec as above; SFTP through \
         dropbear's sftp-server in a folder of peer's home (10 MB, both copies checked); rekey forced by \
         nacre's client (rekey_bytes 1 MiB, 4 MB).",
    );
    let db = Dropbear::start(&fx.dir("dropbear-server"));
    let t = PeerServer {
        port: db.port,
        host_keys: db.host_keys.clone(),
    };
    nacre_client::standard_rows(fx, m, &row, &t, &|| {
        std::fs::read_to_string(&db.log).unwrap_or_default()
    });
    let folder = peer_folder();
    run(m, &row, Scenario::Sftp, || {
        let r = folder.path().join("dropbear.bin");
        block_on(nacre_client::sftp_round_trip(
            &t,
            &Options::default(),
            &fx.data,
            &fx.data_sha,
            r.to_str().unwrap(),
            &r,
        ))
        .map_err(|e| {
            format!(
                "{e}\n--- dropbear log ---\n{}",
                std::fs::read_to_string(&db.log).unwrap_or_default()
            )
        })
    });
    na(m, &row, Scenario::RekeyByPeer, NO_PEER_REKEY);
    run(m, &row, Scenario::RekeyByNacre, || {
        with_rekeys(&this_thread(), || {
            let r = folder.path().join("dropbear-rekey.bin");
            let opts = Options {
                rekey_bytes: Some(REKEY_LIMIT),
                ..Options::default()
            };
            block_on(nacre_client::sftp_round_trip(
                &t,
                &opts,
                &fx.small,
                &fx.small_sha,
                r.to_str().unwrap(),
                &r,
            ))
        })
    });
}
