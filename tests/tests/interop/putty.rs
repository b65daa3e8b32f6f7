//! PuTTY 0.78 (`plink`, `psftp`, `pscp`) and FileZilla's `fzsftp` (a PuTTY fork driven by
//! tests/peers/fzsftp_driver.py) against nacre's server. Neither has a server role.

use std::path::{Path, PathBuf};
use std::process::Command;

use nacre_tests::{run_with_timeout, venv_python, KeyPair, TEST_PASSWORD, TEST_USER};

use super::fixtures::{
    check_sha, na, run, with_rekeys, Fixture, NacreTarget, Outcome, ServerKind, EXEC_COMMAND, T,
};
use super::report::{Dir, Matrix, Row, Scenario};

/// `puttygen KEY -O private -o KEY.ppk` (PuTTY and fzsftp want PPK files).
fn ppk(fx: &Fixture, key: &KeyPair) -> PathBuf {
    let out = fx
        .dir("putty")
        .join(format!("{}.ppk", key.key_type.file_stem()));
    if !out.exists() {
        let mut cmd = Command::new("puttygen");
        cmd.arg(&key.private)
            .args(["-O", "private", "-o"])
            .arg(&out);
        run_with_timeout(&mut cmd, T).assert_success();
    }
    out
}

/// `-batch`, the port, the user and every host key fingerprint of `t` (nothing else is accepted).
fn common(cmd: &mut Command, t: &NacreTarget, port_flag: &str) {
    cmd.args(["-batch", port_flag, &t.port().to_string(), "-l", TEST_USER]);
    for fp in t.fingerprints() {
        cmd.args(["-hostkey", &fp]);
    }
}

/// A saved PuTTY session `nacre-rekey` with `RekeyBytes=1M` in a private PUTTYDIR.
fn rekey_session(fx: &Fixture) -> PathBuf {
    let dir = fx.dir("putty/puttydir");
    std::fs::create_dir_all(dir.join("sessions")).unwrap();
    std::fs::write(dir.join("sessions/nacre-rekey"), "RekeyBytes=1M\n").unwrap();
    dir
}

fn plink(t: &NacreTarget, key: Option<&Path>, command: &str) -> nacre_tests::CmdOutput {
    let mut cmd = Command::new("plink");
    common(&mut cmd, t, "-P");
    match key {
        Some(k) => cmd.arg("-i").arg(k),
        None => cmd.args(["-pw", TEST_PASSWORD]),
    };
    cmd.args(["127.0.0.1", command]);
    run_with_timeout(&mut cmd, T)
}

/// `psftp -b` puts the file, `pscp -sftp` gets it back; both copies checked. With `puttydir`, both load the
/// saved session forcing rekeys.
fn putty_sftp(
    fx: &Fixture,
    t: &NacreTarget,
    local: &Path,
    sha: &str,
    name: &str,
    puttydir: Option<&Path>,
) -> Outcome {
    let dir = fx.dir("putty");
    let back = dir.join(format!("{name}.back"));
    let batch = dir.join(format!("{name}.batch"));
    std::fs::write(&batch, format!("put {} /{name}\n", local.display())).unwrap();
    let load = |cmd: &mut Command| {
        if let Some(d) = puttydir {
            cmd.env("PUTTYDIR", d).args(["-load", "nacre-rekey"]);
        }
    };
    let mut psftp = Command::new("psftp");
    load(&mut psftp);
    common(&mut psftp, t, "-P");
    psftp
        .args(["-pw", TEST_PASSWORD, "-be", "-b"])
        .arg(&batch)
        .arg("127.0.0.1");
    let out = run_with_timeout(&mut psftp, T);
    let server_copy = t.root.join(name);
    let result = if !out.success() {
        Err(format!("{out}"))
    } else {
        check_sha(&server_copy, sha, "server's copy (psftp put)").and_then(|()| {
            let mut pscp = Command::new("pscp");
            load(&mut pscp);
            common(&mut pscp, t, "-P");
            pscp.args(["-pw", TEST_PASSWORD, "-q", "-sftp"])
                .arg(format!("127.0.0.1:/{name}"))
                .arg(&back);
            let out = run_with_timeout(&mut pscp, T);
            if out.success() {
                check_sha(&back, sha, "downloaded copy (pscp)")
            } else if out.stderr.contains("Lost connection") {
                // pscp's sink() takes a READ reply that completes no data in order as the end of
                // the connection; nacre's SFTP server answers concurrent READs as they complete.
                Err(format!(
                    "pscp -sftp get: \"Lost connection\": pscp 0.78 gives up when a READ reply arrives \
                     before the reply to an earlier READ, and nacre's SFTP server answers concurrent \
                     READs in completion order (psftp's get, same file, passes)\n{out}"
                ))
            } else {
                Err(format!("{out}"))
            }
        })
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

pub fn putty_to_nacre(fx: &Fixture, m: &Matrix, version: &str) {
    let row = Row {
        order: 30,
        peer: format!("{version} (plink, psftp, pscp)"),
        dir: Dir::PeerToNacre,
    };
    m.describe(
        &row,
        "`plink -batch` with `-hostkey` for each of nacre's host key fingerprints (any other key is refused), \
         `-pw` or `-i KEY.ppk` (puttygen), `echo ok`; exec as for OpenSSH (plink returns the remote status); \
         SFTP: `psftp -b` puts 10 MB, `pscp -sftp` gets it back, both copies checked; rekeys: the same with \
         4 MB, forced by a saved session with `RekeyBytes=1M` (PUTTYDIR, `-load`) or by nacre's server.",
    );
    let t = &fx.default;
    run(m, &row, Scenario::Password, || {
        expect_ok(&plink(t, None, "echo ok"))
    });
    for s in [Scenario::KeyEd25519, Scenario::KeyEcdsa, Scenario::KeyRsa] {
        run(m, &row, s, || {
            expect_ok(&plink(t, Some(&ppk(fx, fx.key(s))), "echo ok"))
        });
    }
    run(m, &row, Scenario::Exec, || {
        let out = plink(t, None, EXEC_COMMAND);
        if out.status.code() == Some(42) && out.stdout == "out\n" && out.stderr.contains("err\n") {
            Ok(String::new())
        } else {
            Err(format!("{out}"))
        }
    });
    run(m, &row, Scenario::Sftp, || {
        putty_sftp(fx, t, &fx.data, &fx.data_sha, "putty.bin", None)
    });
    let puttydir = rekey_session(fx);
    let own = fx.nacre(ServerKind::Default);
    run(m, &row, Scenario::RekeyByPeer, || {
        with_rekeys(own.thread(), || {
            putty_sftp(
                fx,
                &own,
                &fx.small,
                &fx.small_sha,
                "putty-rekey.bin",
                Some(&puttydir),
            )
        })
    });
    let own = fx.nacre(ServerKind::Rekey);
    run(m, &row, Scenario::RekeyByNacre, || {
        with_rekeys(own.thread(), || {
            putty_sftp(fx, &own, &fx.small, &fx.small_sha, "putty-rekey.bin", None)
        })
    });
}

/// Runs the fzsftp driver with these commands; returns its JSON report.
fn fzsftp(
    t: &NacreTarget,
    password: Option<&str>,
    keyfile: Option<&Path>,
    commands: serde_json::Value,
) -> Result<serde_json::Value, String> {
    let spec = serde_json::json!({
        "port": t.port(),
        "user": TEST_USER,
        "password": password,
        "keyfile": keyfile.map(|k| k.display().to_string()),
        "host_key_fingerprints": t.fingerprints(),
        "commands": commands,
    });
    let mut cmd = Command::new(venv_python());
    cmd.arg(super::peers_dir().join("fzsftp_driver.py"))
        .arg(spec.to_string());
    let out = run_with_timeout(&mut cmd, T);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim())
        .map_err(|e| format!("driver output is not JSON ({e}):\n{out}"))?;
    if v["ok"].as_bool() != Some(true) {
        let log: Vec<&str> = v["log"]
            .as_array()
            .map(|a| a.iter().filter_map(|l| l.as_str()).collect())
            .unwrap_or_default();
        return Err(format!(
            "fzsftp: {}\n{}",
            v["error"],
            log.iter()
                .filter(|l| !l.starts_with("Verbose"))
                .copied()
                .collect::<Vec<_>>()
                .join("\n")
        ));
    }
    Ok(v)
}

/// Whether the `index`-th `ls` of a driver report listed `name`.
fn listed(report: &serde_json::Value, index: usize, name: &str) -> bool {
    report["listings"][index]
        .as_array()
        .is_some_and(|a| a.iter().any(|n| n.as_str() == Some(name)))
}

fn fz_round_trip(fx: &Fixture, t: &NacreTarget, local: &Path, sha: &str, name: &str) -> Outcome {
    let back = fx.dir("fzsftp").join(format!("{name}.back"));
    let server_copy = t.root.join(name);
    let result = fzsftp(
        t,
        Some(TEST_PASSWORD),
        None,
        serde_json::json!([
            ["put", local.display().to_string(), format!("/{name}")],
            ["ls"],
            ["get", format!("/{name}"), back.display().to_string()],
        ]),
    )
    .and_then(|v| {
        if !listed(&v, 0, name) {
            return Err(format!("ls did not list {name}: {}", v["listings"]));
        }
        check_sha(&server_copy, sha, "server's copy")?;
        check_sha(&back, sha, "downloaded copy")?;
        fzsftp(
            t,
            Some(TEST_PASSWORD),
            None,
            serde_json::json!([["rm", format!("/{name}")], ["ls"]]),
        )
    })
    .and_then(|v| {
        if listed(&v, 0, name) || server_copy.exists() {
            return Err(format!("rm left {name}: ls lists {}", v["listings"]));
        }
        Ok(())
    });
    let _ = std::fs::remove_file(&server_copy);
    let _ = std::fs::remove_file(&back);
    result.map(|()| String::new())
}

pub fn fzsftp_to_nacre(fx: &Fixture, m: &Matrix, version: &str) {
    let row = Row {
        order: 40,
        peer: format!("{version} (fzsftp)"),
        dir: Dir::PeerToNacre,
    };
    m.describe(
        &row,
        "FileZilla's SFTP engine driven over its stdin/stdout protocol by tests/peers/fzsftp_driver.py (file \
         data through a shared memfd, as FileZilla does; an empty HOME, so no cached host key); the host key is \
         trusted (once) only if its fingerprint is one of nacre's; password or `keyfile` with a PPK, then \
         `pwd`; SFTP: put 10 MB, `ls`, get, both copies checked, then (second session) `rm` and an `ls` that \
         no longer lists it; rekey forced by nacre's server (rekey_bytes 1 MiB, 4 MB).",
    );
    let t = &fx.default;
    let login = |password: Option<&str>, key: Option<&Path>| -> Outcome {
        fzsftp(t, password, key, serde_json::json!([["pwd"]])).map(|_| String::new())
    };
    run(m, &row, Scenario::Password, || {
        login(Some(TEST_PASSWORD), None)
    });
    for s in [Scenario::KeyEd25519, Scenario::KeyEcdsa, Scenario::KeyRsa] {
        run(m, &row, s, || login(None, Some(&ppk(fx, fx.key(s)))));
    }
    na(
        m,
        &row,
        Scenario::Exec,
        "fzsftp is an SFTP engine: it has no command execution",
    );
    run(m, &row, Scenario::Sftp, || {
        fz_round_trip(fx, t, &fx.data, &fx.data_sha, "fzsftp.bin")
    });
    na(
        m,
        &row,
        Scenario::RekeyByPeer,
        "fzsftp has no setting for a rekey limit (PuTTY's RekeyBytes is not reachable through its protocol)",
    );
    let own = fx.nacre(ServerKind::Rekey);
    run(m, &row, Scenario::RekeyByNacre, || {
        with_rekeys(own.thread(), || {
            fz_round_trip(fx, &own, &fx.small, &fx.small_sha, "fzsftp-rekey.bin")
        })
    });
}

/// `curl` with libssh2: SFTP only, the host key pinned by its SHA-256.
fn curl(t: &NacreTarget, args: &[&str]) -> nacre_tests::CmdOutput {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--connect-timeout", "30"]);
    // libssh2 1.10 picks ECDSA P-256 first among the host keys nacre offers: pin that one.
    let pin = t
        .host_keys()
        .into_iter()
        .find(|k| k.to_openssh_line("").starts_with("ecdsa-sha2-nistp256 "))
        .map(|k| {
            let fp = k.fingerprint_sha256();
            let b64 = fp.trim_start_matches("SHA256:").to_owned();
            let pad = (4 - b64.len() % 4) % 4;
            b64 + &"=".repeat(pad)
        })
        .unwrap();
    cmd.args(["--hostpubsha256", &pin]).args(args);
    run_with_timeout(&mut cmd, T)
}

fn curl_url(t: &NacreTarget, path: &str) -> String {
    format!("sftp://127.0.0.1:{}/{path}", t.port())
}

fn curl_round_trip(fx: &Fixture, t: &NacreTarget, local: &Path, sha: &str, name: &str) -> Outcome {
    let user = format!("{TEST_USER}:{TEST_PASSWORD}");
    let back = fx.dir("curl").join(format!("{name}.back"));
    let server_copy = t.root.join(name);
    let step = |args: &[&str]| -> Result<nacre_tests::CmdOutput, String> {
        let out = curl(t, args);
        if out.success() {
            Ok(out)
        } else {
            Err(format!("{out}"))
        }
    };
    let result = (|| {
        step(&[
            "-u",
            &user,
            "-T",
            local.to_str().unwrap(),
            &curl_url(t, name),
        ])?;
        check_sha(&server_copy, sha, "server's copy")?;
        let list = step(&["-u", &user, &curl_url(t, "")])?;
        if !list.stdout.contains(name) {
            return Err(format!("listing lacks {name}: {list}"));
        }
        step(&[
            "-u",
            &user,
            "-o",
            back.to_str().unwrap(),
            &curl_url(t, name),
        ])?;
        check_sha(&back, sha, "downloaded copy")?;
        step(&["-u", &user, "-Q", &format!("rm /{name}"), &curl_url(t, "")])?;
        if server_copy.exists() {
            return Err("`-Q rm` did not remove the file".into());
        }
        Ok(())
    })();
    let _ = std::fs::remove_file(&server_copy);
    let _ = std::fs::remove_file(&back);
    result.map(|()| String::new())
}

pub fn curl_to_nacre(fx: &Fixture, m: &Matrix, version: &str) {
    let row = Row {
        order: 50,
        peer: format!("{version} (curl sftp://)"),
        dir: Dir::PeerToNacre,
    };
    m.describe(
        &row,
        "curl's SFTP through libssh2 with the host key pinned (`--hostpubsha256`, nacre's ECDSA P-256 key, the \
         one libssh2 picks); password (`-u peer:pw`) or `--key/--pubkey`, listing `/`; SFTP: upload 10 MB \
         (`-T`), list, download, `-Q rm`, both copies checked; rekey forced by nacre's server (rekey_bytes \
         1 MiB, 4 MB). libssh2 1.10 has no AEAD cipher and no ETM MAC, which are all nacre's server offers \
         by default: its servers here add `hmac-sha2-256`/`-512` (`-o MACs=+hmac-sha2-256,hmac-sha2-512`).",
    );
    let libssh2 = fx.nacre(ServerKind::Libssh2 { rekey: false });
    let t = &libssh2;
    let user = format!("{TEST_USER}:{TEST_PASSWORD}");
    run(m, &row, Scenario::Password, || {
        let out = curl(t, &["-u", &user, &curl_url(t, "")]);
        if out.success() {
            Ok(String::new())
        } else {
            Err(format!("{out}"))
        }
    });
    let everything = fx.nacre(ServerKind::Everything);
    for s in [Scenario::KeyEd25519, Scenario::KeyEcdsa, Scenario::KeyRsa] {
        run(m, &row, s, || {
            let key = fx.key(s);
            // libssh2 1.10 signs with RSA only as ssh-rsa (SHA-1), which nacre, like OpenSSH, refuses by
            // default: that case runs against a server configured to accept it.
            let (server, note) = if s == Scenario::KeyRsa {
                (
                    &everything,
                    "libssh2 1.10 signs with RSA keys only as `ssh-rsa` (SHA-1): passes against a nacre server \
                     configured to accept it (`pubkey_algorithms` with `ssh-rsa`, like OpenSSH's \
                     `PubkeyAcceptedAlgorithms +ssh-rsa`); nacre's default refuses it, as OpenSSH 9.2's does",
                )
            } else {
                (t, "")
            };
            let out = curl(
                server,
                &[
                    "-u",
                    &format!("{TEST_USER}:"),
                    "--key",
                    key.private.to_str().unwrap(),
                    "--pubkey",
                    key.public.to_str().unwrap(),
                    &curl_url(server, ""),
                ],
            );
            if out.success() {
                Ok(note.to_owned())
            } else {
                Err(format!("{out}"))
            }
        });
    }
    na(
        m,
        &row,
        Scenario::Exec,
        "curl speaks SFTP and SCP only: it has no command execution",
    );
    run(m, &row, Scenario::Sftp, || {
        curl_round_trip(fx, t, &fx.data, &fx.data_sha, "curl.bin")
    });
    na(
        m,
        &row,
        Scenario::RekeyByPeer,
        "curl has no rekey setting, and libssh2 1.10 has no rekey limit to set",
    );
    let own = fx.nacre(ServerKind::Libssh2 { rekey: true });
    run(m, &row, Scenario::RekeyByNacre, || {
        with_rekeys(own.thread(), || {
            curl_round_trip(fx, &own, &fx.small, &fx.small_sha, "curl-rekey.bin")
        })
    });
}
