//! TinySSH (`tinysshd`, server only) run inetd-style under ucspi-tcp's `tcpserver`, with nacre's client:
//! the scenarios TinySSH has (it implements neither password login nor ECDSA or RSA user keys, and has no
//! rekey setting) and the sweep of its few algorithms.

use std::collections::BTreeSet;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nacre::keys::PublicKey;
use nacre_tests::{free_port, run_with_timeout, ChildGuard};

use super::fixtures::{
    block_on, na, run, this_thread, with_log, with_rekeys, Fixture, REKEY_LIMIT, T,
};
use super::nacre_client::{self, Auth, Options, PeerServer};
use super::peer_folder;
use super::report::{Dir, Matrix, Row, Scenario};
use super::sweep::{self, PeerAlgs};

/// `tcpserver 127.0.0.1 PORT tinysshd -v -x sftp=... KEYDIR`, killed when dropped.
struct TinySsh {
    _process: ChildGuard,
    port: u16,
    host_key: PublicKey,
    log: PathBuf,
}

impl TinySsh {
    fn start(dir: &Path) -> TinySsh {
        let keydir = dir.join("sshkeydir");
        if !keydir.exists() {
            let mut cmd = Command::new("tinysshd-makekey");
            cmd.arg(&keydir);
            run_with_timeout(&mut cmd, T).assert_success();
        }
        let mut cmd = Command::new("tinysshd-printkey");
        cmd.arg(&keydir);
        let out = run_with_timeout(&mut cmd, T);
        out.assert_success();
        let line = out
            .stdout
            .lines()
            .find(|l| l.starts_with("ssh-ed25519 "))
            .unwrap_or_else(|| panic!("no ed25519 key in {out}"));
        let host_key = PublicKey::from_openssh_line(line).unwrap().0;
        let log = dir.join("tinysshd.log");
        for _ in 0..3 {
            let port = free_port();
            let mut cmd = Command::new("tcpserver");
            cmd.args(["-HRDl0", "127.0.0.1", &port.to_string()])
                .args([
                    "/usr/sbin/tinysshd",
                    "-v",
                    "-x",
                    "sftp=/usr/lib/openssh/sftp-server",
                ])
                .arg(&keydir);
            let logf = std::fs::File::create(&log).unwrap();
            cmd.stdin(Stdio::null())
                .stdout(logf.try_clone().unwrap())
                .stderr(logf);
            let mut process = ChildGuard::spawn(format!("tcpserver+tinysshd on {port}"), &mut cmd);
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(10) && process.is_running() {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return TinySsh {
                        _process: process,
                        port,
                        host_key,
                        log,
                    };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!(
            "tcpserver with tinysshd did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// `tinysshd`'s version: Debian's package version (the program has no version option).
pub fn version() -> String {
    let v = super::dpkg_version("tinysshd");
    format!("TinySSH {}", v.split(['-', '+']).next().unwrap_or(""))
}

pub fn nacre_to_peer(fx: &Fixture, m: &Matrix, version: &str) {
    let row = Row {
        order: 120,
        peer: format!("{version} (tinysshd)"),
        dir: Dir::NacreToPeer,
    };
    m.describe(
        &row,
        "`tinysshd -v -x sftp=/usr/lib/openssh/sftp-server KEYDIR` run per connection by ucspi-tcp's \
         `tcpserver` (inetd-style) on a free port, its ed25519 host key from tinysshd-makekey (nacre trusts \
         exactly that one, as `tinysshd-printkey` prints it); the ed25519 key of `peer` \
         (~/.ssh/authorized_keys), `echo ok`; exec as for OpenSSH; SFTP through OpenSSH's sftp-server in a \
         folder of peer's home (10 MB, both copies checked); rekey forced by nacre's client (rekey_bytes \
         1 MiB, 4 MB).",
    );
    let server = TinySsh::start(&fx.dir("tinyssh"));
    let t = PeerServer {
        port: server.port,
        host_keys: vec![server.host_key.clone()],
    };
    let log = || server.log();
    na(
        m,
        &row,
        Scenario::Password,
        "TinySSH implements no password authentication (by design: public keys only)",
    );
    let plain = Options::default();
    let key = fx.key(Scenario::KeyEd25519);
    run(m, &row, Scenario::KeyEd25519, || {
        with_log(
            block_on(nacre_client::login_echo(&t, &plain, Auth::Key(key))),
            &log,
        )
    });
    for s in [Scenario::KeyEcdsa, Scenario::KeyRsa] {
        na(
            m,
            &row,
            s,
            "TinySSH accepts only ssh-ed25519 user keys (by design)",
        );
    }
    run(m, &row, Scenario::Exec, || {
        let r = block_on(async {
            let conn = nacre_client::login(&t, &plain, Auth::Key(key)).await?;
            nacre_client::exec_status(&conn).await?;
            nacre_client::bye(conn).await;
            Ok(String::new())
        });
        with_log(r, &log)
    });
    let folder = peer_folder();
    let round_trip = |opts: &Options, local: &Path, sha: &str, name: &str| {
        let r = folder.path().join(name);
        let res = block_on(nacre_client::sftp_round_trip_as(
            &t,
            opts,
            Auth::Key(key),
            local,
            sha,
            r.to_str().unwrap(),
            &r,
        ));
        with_log(res, &log)
    };
    run(m, &row, Scenario::Sftp, || {
        round_trip(&plain, &fx.data, &fx.data_sha, "tinyssh.bin")
    });
    na(
        m,
        &row,
        Scenario::RekeyByPeer,
        "tinysshd has no rekey setting; it answers re-exchanges the client starts",
    );
    run(m, &row, Scenario::RekeyByNacre, || {
        let opts = Options {
            rekey_bytes: Some(REKEY_LIMIT),
            ..Options::default()
        };
        with_rekeys(&this_thread(), || {
            round_trip(&opts, &fx.small, &fx.small_sha, "tinyssh-rekey.bin")
        })
    });
}

/// TinySSH's algorithms (tinysshd(8): `-s` and `-p`, both on by default).
fn supported() -> PeerAlgs {
    let set = |v: &[&str]| -> BTreeSet<String> { v.iter().map(|s| (*s).to_owned()).collect() };
    PeerAlgs {
        kex: set(&["curve25519-sha256", "sntrup761x25519-sha512@openssh.com"]),
        hostkey: set(&["ssh-ed25519"]),
        cipher: set(&["chacha20-poly1305@openssh.com"]),
        mac: BTreeSet::new(),
        ..PeerAlgs::default()
    }
}

/// nacre's client limited to one algorithm at a time against tinysshd.
pub fn sweep_nacre_to_peer(fx: &Fixture, m: &Matrix) {
    let server = TinySsh::start(&fx.dir("tinyssh-sweep"));
    let t = PeerServer {
        port: server.port,
        host_keys: vec![server.host_key.clone()],
    };
    let key = fx.key(Scenario::KeyEd25519);
    sweep::sweep(
        m,
        (121, "nacre → TinySSH".to_owned()),
        &supported(),
        "TinySSH",
        |alg| {
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
            .map_err(|e| format!("{e}\n--- tinysshd log ---\n{}", server.log()))
        },
    );
}
