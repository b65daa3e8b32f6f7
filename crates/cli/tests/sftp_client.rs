//! `nacre sftp -b` against OpenSSH's sshd: a batch with every command, contents and metadata
//! checked afterwards.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::Duration;

use nacre_tests::{
    authorized_client_key, ensure_test_user, run_with_input, test_user_home, KeyType, OpenSshServer,
};

/// `nacre sftp -b -` as `peer` with `key`, in and with HOME at `local`.
fn nacre_sftp_batch(
    port: u16,
    key: &std::path::Path,
    local: &std::path::Path,
) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nacre"));
    cmd.current_dir(local)
        .args(["sftp", "-P", &port.to_string(), "-i"])
        .arg(key)
        .args(["-o", "StrictHostKeyChecking=no", "-b", "-"])
        .arg("peer@127.0.0.1")
        .env("HOME", local)
        .env_remove("SSH_AUTH_SOCK");
    cmd
}

#[test]
fn batch_with_every_command() {
    ensure_test_user();
    let key = authorized_client_key(KeyType::Ed25519);
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let local = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 249) as u8).collect();
    std::fs::write(local.path().join("local.txt"), &data).unwrap();
    std::fs::create_dir_all(local.path().join("tree/sub")).unwrap();
    std::fs::write(local.path().join("tree/a"), b"alpha").unwrap();
    std::fs::write(local.path().join("tree/sub/b"), b"beta").unwrap();
    let remote_name = format!("nacre-sftp-{}", std::process::id());
    let remote = test_user_home().join(&remote_name);
    let _ = std::fs::remove_dir_all(&remote);
    let batch = format!(
        "pwd\nlpwd\nmkdir {remote_name}\ncd {remote_name}\npwd\nput local.txt\nput -r tree\nls\nls -l\n\
         get local.txt got.txt\nreget local.txt got.txt\nreput local.txt\nrename local.txt renamed.txt\n\
         ln -s renamed.txt link.txt\nln renamed.txt hard.txt\nsymlink renamed.txt link2.txt\nchmod 600 renamed.txt\n\
         df\ndf -h\nget -r tree gottree\nmkdir empty\nrmdir empty\nrm link2.txt\n-rm does-not-exist\n\
         lmkdir lnew\nlcd lnew\nlpwd\nlls\nprogress\nhelp\nbye\n"
    );
    let mut cmd = nacre_sftp_batch(sshd.port(), &key.private, local.path());
    let out = run_with_input(&mut cmd, Some(batch.as_bytes()), Duration::from_secs(120));
    assert!(out.success(), "{out}");
    assert!(
        out.stdout
            .contains(&format!("Remote working directory: {}", remote.display())),
        "{out}"
    );
    assert!(
        out.stdout.contains("-rw-------") || out.stdout.contains("renamed.txt"),
        "{out}"
    );
    // Remote side.
    assert_eq!(std::fs::read(remote.join("renamed.txt")).unwrap(), data);
    assert_eq!(
        std::fs::metadata(remote.join("renamed.txt"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::read_link(remote.join("link.txt"))
            .unwrap()
            .to_str(),
        Some("renamed.txt")
    );
    assert_eq!(
        std::fs::metadata(remote.join("hard.txt")).unwrap().nlink(),
        2
    );
    assert!(!remote.join("link2.txt").exists() && !remote.join("empty").exists());
    assert_eq!(std::fs::read(remote.join("tree/sub/b")).unwrap(), b"beta");
    // Local side.
    assert_eq!(std::fs::read(local.path().join("got.txt")).unwrap(), data);
    assert_eq!(
        std::fs::read(local.path().join("gottree/a")).unwrap(),
        b"alpha"
    );
    assert!(local.path().join("lnew").is_dir());
    let _ = std::fs::remove_dir_all(&remote);
}

#[test]
fn a_failing_batch_command_stops_the_batch() {
    ensure_test_user();
    let key = authorized_client_key(KeyType::Ed25519);
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = nacre_sftp_batch(sshd.port(), &key.private, dir.path());
    let out = run_with_input(
        &mut cmd,
        Some(b"rm no-such-file-here\npwd\n"),
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(1), "{out}");
    assert!(!out.stdout.contains("Remote working directory"), "{out}");
}

/// Names chosen by the server reach the terminal escaped (issue 22): `ls`, `ls -l`, `pwd` and
/// an error quoting the name print `\033]0;…\007` where the bytes would set the window title,
/// clear the screen or recolour it; nothing with an ESC, BEL or C1 byte reaches stdout or stderr.
#[test]
fn names_with_terminal_escapes_are_printed_escaped() {
    ensure_test_user();
    let key = authorized_client_key(KeyType::Ed25519);
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let local = tempfile::tempdir().unwrap();
    let home = test_user_home();
    let dir = home.join(format!("nacre-escapes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let title = "title\x1b]0;pwned\x07";
    std::fs::create_dir_all(dir.join(format!("dir\x1b[2J{title}"))).unwrap();
    std::fs::write(dir.join(title), b"x").unwrap();
    std::fs::write(dir.join("red\x1b[31mtext\u{9b}0m"), b"x").unwrap();
    let status = std::process::Command::new("chown")
        .arg("-R")
        .arg("peer:")
        .arg(&dir)
        .status()
        .unwrap();
    assert!(status.success());
    let batch = format!(
        "cd {}\nls\nls -l\ncd dir\x1b[2J{title}\npwd\ncd ..\n-get no-such-\x1b[2Jfile\nbye\n",
        dir.display()
    );
    let mut cmd = nacre_sftp_batch(sshd.port(), &key.private, local.path());
    let out = run_with_input(&mut cmd, Some(batch.as_bytes()), Duration::from_secs(60));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.success(), "{out}");
    // Our own echo of the batch line ("sftp> cd ...") is the user's input, not the server's:
    // look at every other line.
    let server_text: String = out
        .stdout
        .lines()
        .chain(out.stderr.lines())
        .filter(|l| !l.starts_with("sftp> "))
        .collect::<Vec<_>>()
        .join("\n");
    for bad in ['\x1b', '\x07', '\u{9b}'] {
        assert!(
            !server_text.contains(bad),
            "{bad:?} reached the terminal:\n{out}"
        );
    }
    assert!(out.stdout.contains("title\\033]0;pwned\\007"), "{out}");
    assert!(out.stdout.contains("red\\033[31mtext\\302\\2330m"), "{out}");
    assert!(
        out.stdout.contains("Remote working directory: ") && out.stdout.contains("dir\\033[2J"),
        "{out}"
    );
    assert!(out.stderr.contains("no-such-\\033[2Jfile"), "{out}");
}

/// `nacre serve` for `peer` (password `typed-secret`) on a fresh folder, and an empty HOME for
/// the client; the guard, the port, the folder and HOME.
fn serve_for_prompts() -> (
    nacre_tests::ChildGuard,
    u16,
    tempfile::TempDir,
    std::path::PathBuf,
) {
    let dir = tempfile::tempdir().unwrap();
    let (server, port) = nacre_tests::start_nacre_serve(
        env!("CARGO_BIN_EXE_nacre").as_ref(),
        dir.path(),
        "peer",
        "typed-secret",
        &["--root".into(), dir.path().into()],
    );
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    (server, port, dir, home)
}

/// tests/peers/pty_password.py: `nacre sftp` on a pseudo-terminal, a wrong then the right
/// password typed at its prompt, `extra` flags for the script.
fn sftp_on_a_pty(port: u16, home: &std::path::Path, extra: &[&str]) -> nacre_tests::CmdOutput {
    nacre_tests::run_with_timeout(
        std::process::Command::new("python3")
            .arg(nacre_tests::repo_root().join("tests/peers/pty_password.py"))
            .arg(env!("CARGO_BIN_EXE_nacre"))
            .arg(port.to_string())
            .arg(home)
            .args(["wrong-secret", "typed-secret"])
            .args(extra),
        Duration::from_secs(90),
    )
}

/// With no password given, `nacre sftp` asks for it on the terminal as ssh does
/// (`peer@127.0.0.1's password: `, no echo), says `Permission denied, please try again.` after a
/// wrong one and asks again (tests/peers/pty_password.py drives it on a pseudo-terminal).
#[test]
fn asks_for_the_password_on_the_terminal() {
    let (_server, port, _dir, home) = serve_for_prompts();
    let out = sftp_on_a_pty(port, &home, &[]);
    assert!(out.success(), "{out}");
    assert!(out.stdout.contains("exit 0"), "{out}");
}

/// Host keys as OpenSSH checks them by default (ask): with no ~/.ssh, the question on the
/// terminal (a wrong answer asks again), `yes` adds the key to a new ~/.ssh (0700)/known_hosts;
/// the next run knows it. Without a terminal an unknown key fails ("Host key verification
/// failed."); a changed key fails with the warning naming the known_hosts file and line and the
/// command that removes it.
#[test]
fn host_keys_are_asked_added_and_changed_keys_refused() {
    use std::os::unix::fs::PermissionsExt;
    let (_server, port, dir, home) = serve_for_prompts();
    let pty = |extra: &[&str]| sftp_on_a_pty(port, &home, extra);
    let out = pty(&["--ask-host-key"]);
    assert!(out.success() && out.stdout.contains("exit 0"), "{out}");
    let ssh = home.join(".ssh");
    assert_eq!(
        std::fs::metadata(&ssh).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let known = std::fs::read_to_string(ssh.join("known_hosts")).unwrap();
    assert!(
        known.starts_with(&format!("[127.0.0.1]:{port} ssh-ed25519 ")),
        "{known}"
    );
    // Known now: no question (the script would time out waiting for the password otherwise).
    let out = pty(&[]);
    assert!(out.success(), "{out}");
    // Without a terminal, an unknown key is refused.
    let other_home = dir.path().join("other");
    std::fs::create_dir(&other_home).unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nacre"));
    cmd.args([
        "exec",
        "-p",
        &port.to_string(),
        "peer@127.0.0.1",
        "--",
        "true",
    ])
    .env("HOME", &other_home)
    .env("NACRE_PASSWORD", "typed-secret")
    .env_remove("SSH_AUTH_SOCK")
    .stdin(std::process::Stdio::null());
    // setsid: no controlling terminal even when the test runner has one.
    let mut no_tty = std::process::Command::new("setsid");
    no_tty.arg("-w").arg(cmd.get_program()).args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => no_tty.env(k, v),
            None => no_tty.env_remove(k),
        };
    }
    let out = nacre_tests::run_with_timeout(&mut no_tty, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(255), "{out}");
    assert!(
        out.stderr.contains("Host key verification failed."),
        "{out}"
    );
    // A changed key: the warning, the file and line, the fix.
    let other = nacre::keys::PrivateKey::generate_ed25519(&mut rand_core::OsRng);
    std::fs::write(
        ssh.join("known_hosts"),
        format!(
            "# first line\n[127.0.0.1]:{port} {}\n",
            other.public_key().to_openssh_line("")
        ),
    )
    .unwrap();
    no_tty.env("HOME", &home);
    let out = nacre_tests::run_with_timeout(&mut no_tty, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(255), "{out}");
    for want in [
        "WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!",
        &format!(
            "Offending ED25519 key in {}:2",
            ssh.join("known_hosts").display()
        ),
        &format!(
            "ssh-keygen -f '{}' -R '[127.0.0.1]:{port}'",
            ssh.join("known_hosts").display()
        ),
    ] {
        assert!(out.stderr.contains(want), "{want}: {out}");
    }
}

/// A download is flushed to disk only when asked, as OpenSSH's sftp: `get -f` or `sftp -f`;
/// a plain `get` is not (strace counts the fsync/fdatasync calls on each local file).
#[test]
fn downloads_are_flushed_to_disk_only_with_dash_f() {
    ensure_test_user();
    let key = authorized_client_key(KeyType::Ed25519);
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let local = tempfile::tempdir().unwrap();
    let remote_name = format!("nacre-fsync-{}", std::process::id());
    let remote = test_user_home().join(&remote_name);
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&remote, &data).unwrap();
    let trace = local.path().join("trace");
    let run = |extra: &[&str], batch: String| {
        let mut cmd = std::process::Command::new("strace");
        cmd.current_dir(local.path())
            .args(["-f", "-y", "-qq", "-e", "trace=fsync,fdatasync", "-o"])
            .arg(&trace)
            .arg(env!("CARGO_BIN_EXE_nacre"))
            .args(["sftp", "-P", &sshd.port().to_string(), "-i"])
            .arg(&key.private)
            .args(["-o", "StrictHostKeyChecking=no"])
            .args(extra)
            .args(["-b", "-", "peer@127.0.0.1"])
            .env("HOME", local.path())
            .env_remove("SSH_AUTH_SOCK");
        let out = run_with_input(&mut cmd, Some(batch.as_bytes()), Duration::from_secs(60));
        assert!(out.success(), "{out}");
        std::fs::read_to_string(&trace).unwrap()
    };
    let syncs = |trace: &str, name: &str| {
        trace
            .lines()
            .filter(|l| l.contains("sync(") && l.contains(&format!("/{name}>")))
            .count()
    };
    let plain = run(
        &[],
        format!("get {remote_name} plain\nget -f {remote_name} asked\n"),
    );
    assert_eq!(syncs(&plain, "plain"), 0, "{plain}");
    assert_eq!(syncs(&plain, "asked"), 1, "{plain}");
    let session = run(&["-f"], format!("get {remote_name} session\n"));
    assert_eq!(syncs(&session, "session"), 1, "{session}");
    for name in ["plain", "asked", "session"] {
        assert_eq!(std::fs::read(local.path().join(name)).unwrap(), data);
    }
    // A folder: each file flushed with `get -r -f` (as OpenSSH's), none without.
    let tree = test_user_home().join(format!("{remote_name}.d"));
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    for name in ["one", "two", "sub/three"] {
        std::fs::write(tree.join(name), &data).unwrap();
    }
    let tree_name = format!("{remote_name}.d");
    let trees = run(
        &[],
        format!("get -r {tree_name} loose\nget -r -f {tree_name} flushed\n"),
    );
    for name in ["one", "two", "three"] {
        assert_eq!(syncs(&trees, name), 1, "{name}: {trees}");
        assert!(
            trees
                .lines()
                .any(|l| l.contains(&format!("/flushed/{name}>"))
                    || l.contains(&format!("/flushed/sub/{name}>"))),
            "{trees}"
        );
    }
    assert_eq!(
        std::fs::read(local.path().join("loose/sub/three")).unwrap(),
        data
    );
    let _ = std::fs::remove_dir_all(&tree);
    let _ = std::fs::remove_file(&remote);
}
