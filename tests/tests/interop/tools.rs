//! Tools people run over OpenSSH's `ssh` against nacre's server, as they use them: lftp's own SFTP client
//! (`sftp://`, lftp runs `ssh -s sftp` and speaks SFTP itself), rsync over `ssh` (`rsync --server` run by
//! nacre's exec) and git clone/push over `ssh` (`git-upload-pack`/`git-receive-pack` run by nacre's exec).
//! The SSH side of these is OpenSSH's client; what they add is their own use of the channel (lftp's SFTP
//! implementation, rsync's and git's protocols over exec).

use std::path::{Path, PathBuf};
use std::process::Command;

use nacre_tests::{
    ensure_test_user, run_with_timeout, CmdOutput, KeyPair, TEST_PASSWORD, TEST_USER,
};

use super::fixtures::{
    check_sha, na, run, with_rekeys, Fixture, NacreTarget, Outcome, ServerKind, T,
};
use super::report::{Dir, Matrix, Row, Scenario};

/// How a tool's `ssh` logs in.
#[derive(Clone, Copy)]
enum Login<'a> {
    Password,
    Key(&'a KeyPair),
}

/// The `ssh` command line the tools run (`-F /dev/null`, nacre's host keys in a known_hosts file, strict
/// checking), with `extra` options.
fn ssh_command(fx: &Fixture, t: &NacreTarget, login: Login<'_>, extra: &str) -> String {
    let kh = t.known_hosts(&fx.dir("tools"));
    let auth = match login {
        Login::Password => {
            "-o PubkeyAuthentication=no -o PreferredAuthentications=password -o BatchMode=no"
                .to_owned()
        }
        Login::Key(k) => format!(
            "-i {} -o PreferredAuthentications=publickey -o BatchMode=yes",
            k.private.display()
        ),
    };
    format!(
        "ssh -F /dev/null -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o LogLevel=ERROR -p {} {auth} {extra}",
        kh.display(),
        t.port()
    )
}

fn outcome(out: &CmdOutput) -> Result<(), String> {
    if out.success() {
        Ok(())
    } else {
        Err(format!("{out}"))
    }
}

/// Runs `program args` through sshpass (password logins) or directly.
fn command(program: &str, login: Login<'_>) -> Command {
    match login {
        Login::Password => {
            let mut c = Command::new("sshpass");
            c.args(["-p", TEST_PASSWORD, program]);
            c
        }
        Login::Key(_) => Command::new(program),
    }
}

/// A folder of the test user under its home (the tools' remote side runs as that user), with a name.
fn remote_dir(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = super::peer_folder();
    let p = dir.path().join(name);
    let user = ensure_test_user();
    std::fs::create_dir_all(&p).unwrap();
    std::os::unix::fs::chown(&p, Some(user.uid), Some(user.gid)).unwrap();
    (dir, p)
}

// ------------------------------------------------------------------------------------------------ lftp

fn lftp_round_trip(
    fx: &Fixture,
    t: &NacreTarget,
    login: Login<'_>,
    extra_ssh: &str,
    local: &Path,
    sha: &str,
    name: &str,
) -> Outcome {
    let ssh = ssh_command(fx, t, login, extra_ssh);
    // lftp asks ssh for `-s sftp` itself; with a password it answers ssh's prompt on the pty it gives ssh.
    let user = match login {
        Login::Password => format!("{TEST_USER},{TEST_PASSWORD}"),
        Login::Key(_) => format!("{TEST_USER},"),
    };
    let back = fx.dir("tools").join(format!("{name}.back"));
    let script = format!(
        "set sftp:connect-program \"{ssh}\"; set net:max-retries 1; set net:timeout 60; \
         open -u {user} sftp://127.0.0.1:{port}; put {local} -o /{name}; cls -l /{name}; \
         get /{name} -o {back}; rm /{name}",
        port = t.port(),
        local = local.display(),
        back = back.display(),
    );
    let mut cmd = Command::new("lftp");
    cmd.args(["-c", &script]).env("HOME", fx.dir("tools-home"));
    let out = run_with_timeout(&mut cmd, T);
    outcome(&out)?;
    if !out.stdout.contains(name) {
        return Err(format!("cls did not list {name}: {out}"));
    }
    let r = check_sha(&back, sha, "downloaded copy");
    let _ = std::fs::remove_file(&back);
    r?;
    if t.root.join(name).exists() {
        return Err("rm left the server's copy".into());
    }
    Ok(String::new())
}

pub fn lftp(fx: &Fixture, m: &Matrix, version: &str) {
    let row = Row {
        order: 130,
        peer: format!("{version} (sftp://)"),
        dir: Dir::PeerToNacre,
    };
    m.describe(
        &row,
        "lftp's own SFTP client over OpenSSH's `ssh -s sftp` (`sftp:connect-program` with a known_hosts file \
         of nacre's host keys, strict checking): password (lftp answers ssh's prompt itself, `-u peer,PW`) or \
         `-i` key; each login puts 10 MB (4 MB for rekeys), lists it (`cls -l`), gets it back and removes \
         it, both copies checked; rekeys forced by `ssh -o RekeyLimit=1M` or by nacre's server \
         (rekey_bytes 1 MiB).",
    );
    let t = &fx.default;
    let small =
        |login, name: &str| lftp_round_trip(fx, t, login, "", &fx.small, &fx.small_sha, name);
    run(m, &row, Scenario::Password, || {
        small(Login::Password, "lftp-pw.bin")
    });
    for s in [Scenario::KeyEd25519, Scenario::KeyEcdsa, Scenario::KeyRsa] {
        let key = fx.key(s);
        run(m, &row, s, || small(Login::Key(key), "lftp-key.bin"));
    }
    na(m, &row, Scenario::Exec, "lftp's sftp:// runs no commands");
    let key = fx.key(Scenario::KeyEd25519);
    run(m, &row, Scenario::Sftp, || {
        lftp_round_trip(
            fx,
            t,
            Login::Key(key),
            "",
            &fx.data,
            &fx.data_sha,
            "lftp.bin",
        )
    });
    let own = fx.nacre(ServerKind::Default);
    run(m, &row, Scenario::RekeyByPeer, || {
        with_rekeys(own.thread(), || {
            lftp_round_trip(
                fx,
                &own,
                Login::Key(key),
                "-o RekeyLimit=1M",
                &fx.small,
                &fx.small_sha,
                "lftp-rekey.bin",
            )
        })
    });
    let own = fx.nacre(ServerKind::Rekey);
    run(m, &row, Scenario::RekeyByNacre, || {
        with_rekeys(own.thread(), || {
            lftp_round_trip(
                fx,
                &own,
                Login::Key(key),
                "",
                &fx.small,
                &fx.small_sha,
                "lftp-rekey.bin",
            )
        })
    });
}

// ------------------------------------------------------------------------------------------------ rsync

fn rsync_round_trip(
    fx: &Fixture,
    t: &NacreTarget,
    login: Login<'_>,
    extra_ssh: &str,
    local: &Path,
    sha: &str,
) -> Outcome {
    let (_keep, dest) = remote_dir("rsync");
    let ssh = ssh_command(fx, t, login, extra_ssh);
    let name = local.file_name().unwrap().to_string_lossy().into_owned();
    let remote = format!("{TEST_USER}@127.0.0.1:{}/", dest.display());
    let mut up = command("rsync", login);
    up.args(["-a", "-e", &ssh]).arg(local).arg(&remote);
    outcome(&run_with_timeout(&mut up, T))?;
    check_sha(&dest.join(&name), sha, "server's copy")?;
    let back = fx.dir("tools").join("rsync-back");
    let _ = std::fs::remove_dir_all(&back);
    std::fs::create_dir_all(&back).unwrap();
    let mut down = command("rsync", login);
    down.args(["-a", "-e", &ssh])
        .arg(format!("{remote}{name}"))
        .arg(&back);
    outcome(&run_with_timeout(&mut down, T))?;
    check_sha(&back.join(&name), sha, "downloaded copy")?;
    Ok(String::new())
}

pub fn rsync(fx: &Fixture, m: &Matrix, version: &str) {
    let row = Row {
        order: 131,
        peer: format!("{version} (-e ssh)"),
        dir: Dir::PeerToNacre,
    };
    m.describe(
        &row,
        "`rsync -a -e 'ssh ...'` (known_hosts of nacre's host keys, strict checking): nacre's exec runs \
         `rsync --server` as `peer`; password (sshpass) or `-i` key: 4 MB pushed into a folder of peer's home \
         and pulled back; exec column: the 10 MB file the same way; both copies checked by SHA-256; rekeys \
         forced by `ssh -o RekeyLimit=1M` or by nacre's server (rekey_bytes 1 MiB). rsync has no SFTP.",
    );
    let t = &fx.default;
    run(m, &row, Scenario::Password, || {
        rsync_round_trip(fx, t, Login::Password, "", &fx.small, &fx.small_sha)
    });
    for s in [Scenario::KeyEd25519, Scenario::KeyEcdsa, Scenario::KeyRsa] {
        let key = fx.key(s);
        run(m, &row, s, || {
            rsync_round_trip(fx, t, Login::Key(key), "", &fx.small, &fx.small_sha)
        });
    }
    let key = fx.key(Scenario::KeyEd25519);
    run(m, &row, Scenario::Exec, || {
        rsync_round_trip(fx, t, Login::Key(key), "", &fx.data, &fx.data_sha)
    });
    na(m, &row, Scenario::Sftp, "rsync copies over exec, not SFTP");
    let own = fx.nacre(ServerKind::Default);
    run(m, &row, Scenario::RekeyByPeer, || {
        with_rekeys(own.thread(), || {
            rsync_round_trip(
                fx,
                &own,
                Login::Key(key),
                "-o RekeyLimit=1M",
                &fx.small,
                &fx.small_sha,
            )
        })
    });
    let own = fx.nacre(ServerKind::Rekey);
    run(m, &row, Scenario::RekeyByNacre, || {
        with_rekeys(own.thread(), || {
            rsync_round_trip(fx, &own, Login::Key(key), "", &fx.small, &fx.small_sha)
        })
    });
}

// ------------------------------------------------------------------------------------------------ git

fn git(args: &[&str], dir: &Path, ssh: &str, login: Login<'_>) -> Result<CmdOutput, String> {
    let mut cmd = command("git", login);
    cmd.args([
        "-c",
        "user.name=nacre",
        "-c",
        "user.email=nacre@example.invalid",
        "-c",
        "init.defaultBranch=main",
    ])
    .args(args)
    .current_dir(dir)
    .env("GIT_SSH_COMMAND", ssh)
    .env("GIT_TERMINAL_PROMPT", "0")
    .env("HOME", dir);
    let out = run_with_timeout(&mut cmd, T);
    outcome(&out)?;
    Ok(out)
}

/// A bare repository in peer's home; clone it, commit `payload`, push, clone again and compare.
fn git_round_trip(
    fx: &Fixture,
    t: &NacreTarget,
    login: Login<'_>,
    extra_ssh: &str,
    payload: &Path,
    sha: &str,
) -> Outcome {
    let (_keep, repos) = remote_dir("git");
    let bare = repos.join("repo.git");
    let user = ensure_test_user();
    let mut init = Command::new("git");
    init.args(["init", "-q", "--bare"]).arg(&bare);
    outcome(&run_with_timeout(&mut init, T))?;
    let mut chown = Command::new("chown");
    chown
        .args(["-R", &format!("{}:{}", user.uid, user.gid)])
        .arg(&bare);
    outcome(&run_with_timeout(&mut chown, T))?;
    let ssh = ssh_command(fx, t, login, extra_ssh);
    let url = format!("{TEST_USER}@127.0.0.1:{}", bare.display());
    let work = tempfile::tempdir().unwrap();
    git(&["clone", "-q", &url, "a"], work.path(), &ssh, login)?;
    let a = work.path().join("a");
    std::fs::copy(payload, a.join("payload.bin")).unwrap();
    git(&["add", "payload.bin"], &a, &ssh, login)?;
    git(&["commit", "-q", "-m", "payload"], &a, &ssh, login)?;
    git(&["push", "-q", "origin", "HEAD:main"], &a, &ssh, login)?;
    git(
        &["clone", "-q", "-b", "main", &url, "b"],
        work.path(),
        &ssh,
        login,
    )?;
    check_sha(&work.path().join("b/payload.bin"), sha, "cloned copy")?;
    Ok(String::new())
}

pub fn git_row(fx: &Fixture, m: &Matrix, version: &str) {
    let row = Row {
        order: 132,
        peer: format!("{version} (clone/push over ssh)"),
        dir: Dir::PeerToNacre,
    };
    m.describe(
        &row,
        "git with `GIT_SSH_COMMAND='ssh ...'` (known_hosts of nacre's host keys, strict checking) against a \
         bare repository in peer's home: nacre's exec runs `git-upload-pack`/`git-receive-pack` as `peer`; \
         password (sshpass) or `-i` key: clone, commit a 4 MB file, push, clone again, the file checked by \
         SHA-256; exec column: the same with the 10 MB file; rekeys forced by `ssh -o RekeyLimit=1M` or by \
         nacre's server (rekey_bytes 1 MiB). git has no SFTP.",
    );
    let t = &fx.default;
    run(m, &row, Scenario::Password, || {
        git_round_trip(fx, t, Login::Password, "", &fx.small, &fx.small_sha)
    });
    for s in [Scenario::KeyEd25519, Scenario::KeyEcdsa, Scenario::KeyRsa] {
        let key = fx.key(s);
        run(m, &row, s, || {
            git_round_trip(fx, t, Login::Key(key), "", &fx.small, &fx.small_sha)
        });
    }
    let key = fx.key(Scenario::KeyEd25519);
    run(m, &row, Scenario::Exec, || {
        git_round_trip(fx, t, Login::Key(key), "", &fx.data, &fx.data_sha)
    });
    na(m, &row, Scenario::Sftp, "git copies over exec, not SFTP");
    let own = fx.nacre(ServerKind::Default);
    run(m, &row, Scenario::RekeyByPeer, || {
        with_rekeys(own.thread(), || {
            git_round_trip(
                fx,
                &own,
                Login::Key(key),
                "-o RekeyLimit=1M",
                &fx.small,
                &fx.small_sha,
            )
        })
    });
    let own = fx.nacre(ServerKind::Rekey);
    run(m, &row, Scenario::RekeyByNacre, || {
        with_rekeys(own.thread(), || {
            git_round_trip(fx, &own, Login::Key(key), "", &fx.small, &fx.small_sha)
        })
    });
}

/// Versions: `lftp --version`, `rsync --version`, `git --version` (first lines).
pub fn versions() -> (String, String, String) {
    let word = |program: &str, n: usize| -> String {
        let line = super::first_line(program, &["--version"]);
        format!(
            "{} {}",
            program,
            line.split_whitespace().nth(n).unwrap_or("?")
        )
    };
    (word("lftp", 3), word("rsync", 2), word("git", 2))
}
