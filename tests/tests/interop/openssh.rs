//! OpenSSH 9.2: `ssh` and `sftp` against nacre's server, nacre's client against `sshd`, and the algorithm
//! sweep both ways.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use nacre::keys::PublicKey;
use nacre_tests::{run_with_timeout, KeyType, OpenSshClient, OpenSshServer, TEST_USER};

use super::fixtures::{
    block_on, check_sha, run, this_thread, with_rekeys, Fixture, NacreTarget, Outcome, ServerKind,
    EXEC_COMMAND, REKEY_LIMIT, T,
};
use super::nacre_client::{self, Auth, Options, PeerServer};
use super::report::{Dir, Matrix, Row, Scenario};
use super::sweep::{self, PeerAlgs, MAC_CIPHER};
use super::{new_session, peer_folder};

/// `ssh -Q kex|cipher|mac|HostKeyAlgorithms`.
pub fn supported() -> PeerAlgs {
    let q = |what: &str| -> BTreeSet<String> {
        let out = run_with_timeout(Command::new("ssh").args(["-Q", what]), T);
        out.stdout.lines().map(str::to_owned).collect()
    };
    PeerAlgs {
        kex: q("kex"),
        hostkey: q("HostKeyAlgorithms"),
        cipher: q("cipher"),
        mac: q("mac"),
        ..PeerAlgs::default()
    }
}

fn ssh(t: &NacreTarget, kh: &Path) -> OpenSshClient {
    OpenSshClient::new(t.port()).known_hosts(kh)
}

fn expect_ok(out: &nacre_tests::CmdOutput) -> Outcome {
    if out.success() && out.stdout == "ok\n" {
        Ok(String::new())
    } else {
        Err(format!("{out}"))
    }
}

/// OpenSSH `sftp` puts `local` as `/NAME` on the nacre server and gets it back; both copies checked.
fn sftp_round_trip(
    fx: &Fixture,
    t: &NacreTarget,
    local: &Path,
    sha: &str,
    name: &str,
    extra: &[&str],
) -> Outcome {
    let dir = fx.dir("openssh");
    let kh = t.known_hosts(&dir);
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
    let mut cmd = Command::new("sftp");
    cmd.args(["-F", "/dev/null"]);
    for o in extra {
        cmd.args(["-o", o]);
    }
    cmd.args(["-o", "StrictHostKeyChecking=yes"])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", kh.display()))
        .args([
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
        ])
        .args(["-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-i"])
        .arg(&fx.key(Scenario::KeyEd25519).private)
        .args(["-P", &t.port().to_string(), "-b"])
        .arg(&batch)
        .arg(format!("{TEST_USER}@127.0.0.1"));
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

pub fn peer_to_nacre(fx: &Fixture, m: &Matrix, version: &str) {
    let row = Row {
        order: 10,
        peer: format!("{version} (ssh, sftp)"),
        dir: Dir::PeerToNacre,
    };
    m.describe(
        &row,
        "`ssh` with a known_hosts file holding nacre's host keys (StrictHostKeyChecking=yes), password \
         through sshpass or `-i` key, `echo ok`; exec: `echo out; echo err >&2; exit 42` (stdout, stderr, \
         status 42); `sftp -b` puts and gets 10 MB, both copies checked by SHA-256; rekeys: the same with \
         4 MB, forced by `sftp -o RekeyLimit=1M` or by nacre's server (rekey_bytes 1 MiB).",
    );
    let t = &fx.default;
    let dir = fx.dir("openssh");
    let kh = t.known_hosts(&dir);
    run(m, &row, Scenario::Password, || {
        expect_ok(&ssh(t, &kh).test_password().command("echo ok").run(T))
    });
    for s in [Scenario::KeyEd25519, Scenario::KeyEcdsa, Scenario::KeyRsa] {
        run(m, &row, s, || {
            expect_ok(
                &ssh(t, &kh)
                    .identity(&fx.key(s).private)
                    .command("echo ok")
                    .run(T),
            )
        });
    }
    run(m, &row, Scenario::Exec, || {
        let out = ssh(t, &kh)
            .identity(&fx.key(Scenario::KeyEd25519).private)
            .command(EXEC_COMMAND)
            .run(T);
        if out.status.code() == Some(42) && out.stdout == "out\n" && out.stderr == "err\n" {
            Ok(String::new())
        } else {
            Err(format!("{out}"))
        }
    });
    run(m, &row, Scenario::Sftp, || {
        sftp_round_trip(fx, t, &fx.data, &fx.data_sha, "openssh.bin", &[])
    });
    let own = fx.nacre(ServerKind::Default);
    run(m, &row, Scenario::RekeyByPeer, || {
        with_rekeys(own.thread(), || {
            sftp_round_trip(
                fx,
                &own,
                &fx.small,
                &fx.small_sha,
                "openssh-rekey.bin",
                &["RekeyLimit=1M"],
            )
        })
    });
    let own = fx.nacre(ServerKind::Rekey);
    run(m, &row, Scenario::RekeyByNacre, || {
        with_rekeys(own.thread(), || {
            sftp_round_trip(fx, &own, &fx.small, &fx.small_sha, "openssh-rekey.bin", &[])
        })
    });
}

fn peer_server(sshd: &OpenSshServer) -> PeerServer {
    PeerServer {
        port: sshd.port(),
        host_keys: sshd
            .host_key_types()
            .into_iter()
            .map(|t| {
                PublicKey::from_openssh_line(&sshd.host_key_pub(t))
                    .unwrap()
                    .0
            })
            .collect(),
    }
}

pub fn nacre_to_peer(fx: &Fixture, m: &Matrix, version: &str) {
    let row = Row {
        order: 11,
        peer: format!("{version} (sshd)"),
        dir: Dir::NacreToPeer,
    };
    m.describe(
        &row,
        "sshd with ed25519, ECDSA P-256 and RSA host keys (nacre trusts exactly those), UsePAM; nacre logs \
         in as `peer` by password or key and runs `echo ok`; exec as above; SFTP: `Connection::sftp()` \
         uploads and downloads 10 MB in a folder of peer's home (sshd's sftp-server), both copies checked; \
         rekeys: 4 MB the same way, forced by sshd's `RekeyLimit 1M` or by nacre's client (rekey_bytes \
         1 MiB).",
    );
    // LogLevel INFO: at the harness's DEBUG3, sshd's session child writes debug lines to the channel's stderr.
    let sshd = OpenSshServer::builder()
        .host_keys(&[KeyType::Ed25519, KeyType::EcdsaP256, KeyType::Rsa3072])
        .option("LogLevel", "INFO")
        .start();
    let sshd_rekey = OpenSshServer::builder()
        .option("LogLevel", "INFO")
        .option("RekeyLimit", "1M")
        .start();
    let t = peer_server(&sshd);
    nacre_client::standard_rows(fx, m, &row, &t, &|| sshd.log());
    let folder = peer_folder();
    let remote = |name: &str| folder.path().join(name);
    run(m, &row, Scenario::Sftp, || {
        let r = remote("sshd.bin");
        block_on(nacre_client::sftp_round_trip(
            &t,
            &Options::default(),
            &fx.data,
            &fx.data_sha,
            r.to_str().unwrap(),
            &r,
        ))
    });
    let tr = peer_server(&sshd_rekey);
    run(m, &row, Scenario::RekeyByPeer, || {
        with_rekeys(&this_thread(), || {
            let r = remote("sshd-rekey.bin");
            block_on(nacre_client::sftp_round_trip(
                &tr,
                &Options::default(),
                &fx.small,
                &fx.small_sha,
                r.to_str().unwrap(),
                &r,
            ))
        })
    });
    run(m, &row, Scenario::RekeyByNacre, || {
        with_rekeys(&this_thread(), || {
            let r = remote("sshd-rekey.bin");
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

/// `ssh` limited to one algorithm at a time against a nacre server offering everything.
pub fn sweep_peer_to_nacre(fx: &Fixture, m: &Matrix, peer: &PeerAlgs) {
    let t = fx.nacre(sweep::SWEEP_SERVER);
    let dir = fx.dir("openssh-sweep");
    let kh = t.known_hosts(&dir);
    let key = &fx.key(Scenario::KeyEd25519).private;
    sweep::sweep(
        m,
        (10, "OpenSSH → nacre".into()),
        peer,
        "OpenSSH 9.2",
        |alg| {
            let before = t.server.sessions().len();
            let mut c = ssh(&t, &kh).identity(key);
            c = match alg.family {
                super::report::Family::Kex => c.option("KexAlgorithms", alg.name),
                super::report::Family::HostKey => c.option("HostKeyAlgorithms", alg.name),
                super::report::Family::Cipher => c.option("Ciphers", alg.name),
                super::report::Family::Mac => {
                    c.option("Ciphers", MAC_CIPHER).option("MACs", alg.name)
                }
            };
            expect_ok(&c.command("echo ok").run(T))?;
            alg.check(new_session(&t, before)?.as_ref())?;
            Ok(String::new())
        },
    );
}

/// nacre's client limited to one algorithm at a time against an sshd offering everything both implement.
pub fn sweep_nacre_to_peer(fx: &Fixture, m: &Matrix, peer: &PeerAlgs) {
    let list = |family: super::report::Family| -> String {
        sweep::all()
            .into_iter()
            .filter(|a| a.family == family && peer.has(a))
            .map(|a| a.name)
            .collect::<Vec<_>>()
            .join(",")
    };
    use super::report::Family;
    let sshd = OpenSshServer::builder()
        .host_keys(&KeyType::ALL)
        .option("KexAlgorithms", &list(Family::Kex))
        .option("HostKeyAlgorithms", &list(Family::HostKey))
        .option("Ciphers", &list(Family::Cipher))
        .option("MACs", &list(Family::Mac))
        .start();
    let t = peer_server(&sshd);
    let key = fx.key(Scenario::KeyEd25519);
    sweep::sweep(
        m,
        (11, "nacre → OpenSSH".into()),
        peer,
        "OpenSSH 9.2",
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
        },
    );
}
