//! `nacre sftp` as a person at a terminal uses it (issue 16), against `nacre serve`:
//! tests/peers/pty_sftp.py drives it on a pseudo-terminal (globs, `get FILE .`, completion,
//! Ctrl-C at the prompt and during a download, a lost connection, passphrase prompts); batch
//! files check the other commands, flags and OpenSSH's error wording.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use nacre_tests::{ensure_test_user, run_with_input, run_with_timeout, ChildGuard, CmdOutput};

const PASSWORD: &str = "sftp-terminal-pw";

/// A served folder (owned by `peer`) with a.log, b.log, c.txt, sub/inner and
/// unique-remote.txt, a local folder and an empty HOME.
struct Fixture {
    _server: ChildGuard,
    port: u16,
    _dir: tempfile::TempDir,
    root: PathBuf,
    local: PathBuf,
    home: PathBuf,
}

fn fixture() -> Fixture {
    let user = ensure_test_user();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    for name in ["a.log", "b.log", "c.txt", "unique-remote.txt", "sub/inner"] {
        std::fs::write(root.join(name), format!("{name}\n")).unwrap();
    }
    std::fs::set_permissions(root.join("a.log"), std::fs::Permissions::from_mode(0o640)).unwrap();
    for entry in [
        "",
        "sub",
        "a.log",
        "b.log",
        "c.txt",
        "unique-remote.txt",
        "sub/inner",
    ] {
        std::os::unix::fs::chown(root.join(entry), Some(user.uid), Some(user.gid)).unwrap();
    }
    let (server, port) = nacre_tests::start_nacre_serve(
        env!("CARGO_BIN_EXE_nacre").as_ref(),
        dir.path(),
        "peer",
        PASSWORD,
        &["--root".into(), root.clone().into()],
    );
    let local = dir.path().join("local");
    let home = dir.path().join("home");
    std::fs::create_dir(&local).unwrap();
    std::fs::create_dir(&home).unwrap();
    Fixture {
        _server: server,
        port,
        _dir: dir,
        root,
        local,
        home,
    }
}

impl Fixture {
    /// `nacre sftp ARGS` in the local folder, the password in NACRE_PASSWORD.
    fn sftp(&self, args: &[&str], input: &str) -> CmdOutput {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_nacre"));
        cmd.current_dir(&self.local)
            .env("HOME", &self.home)
            .env("NACRE_PASSWORD", PASSWORD)
            .env_remove("SSH_AUTH_SOCK")
            .args(["sftp", "-P", &self.port.to_string()])
            .args(["-o", "StrictHostKeyChecking=no"])
            .args(args);
        run_with_input(&mut cmd, Some(input.as_bytes()), Duration::from_secs(90))
    }

    /// [`Fixture::sftp`] with `TZ` set.
    fn sftp_in_zone(&self, tz: &str, args: &[&str], input: &str) -> CmdOutput {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_nacre"));
        cmd.current_dir(&self.local)
            .env("HOME", &self.home)
            .env("NACRE_PASSWORD", PASSWORD)
            .env("TZ", tz)
            .env_remove("SSH_AUTH_SOCK")
            .args(["sftp", "-P", &self.port.to_string()])
            .args(["-o", "StrictHostKeyChecking=no"])
            .args(args);
        run_with_input(&mut cmd, Some(input.as_bytes()), Duration::from_secs(90))
    }

    /// `nacre sftp -b - peer@127.0.0.1` with `batch`.
    fn batch(&self, batch: &str) -> CmdOutput {
        self.sftp(&["-b", "-", "peer@127.0.0.1"], batch)
    }

    /// tests/peers/pty_sftp.py SCENARIO with `extra` arguments.
    fn pty(&self, scenario: &str, extra: &[&str]) -> CmdOutput {
        run_with_timeout(
            Command::new("python3")
                .arg(nacre_tests::repo_root().join("tests/peers/pty_sftp.py"))
                .arg(scenario)
                .arg(env!("CARGO_BIN_EXE_nacre"))
                .arg(self.port.to_string())
                .arg(&self.home)
                .arg(&self.local)
                .args(extra)
                .env("NACRE_PASSWORD", PASSWORD),
            Duration::from_secs(120),
        )
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// On a terminal: `ls *.log` and `get *.log` expand on the server, `get c.txt .` lands in the
/// local folder, TAB completes a command, a remote and a local name, Ctrl-C at the prompt gives
/// a new prompt, Ctrl-C during a large `get` says `Interrupt` and returns to the prompt where
/// the next command works.
#[test]
fn a_session_on_a_terminal() {
    let f = fixture();
    // A large sparse file: the download takes long enough to be interrupted.
    let big = std::fs::File::create(f.root.join("big.bin")).unwrap();
    big.set_len(4 << 30).unwrap();
    std::fs::write(f.local.join("local-only.txt"), b"l").unwrap();
    let out = f.pty("session", &[]);
    assert!(out.success() && out.stdout.contains("exit 0"), "{out}");
    assert_eq!(read(&f.local.join("a.log")), "a.log\n");
    assert_eq!(read(&f.local.join("c.txt")), "c.txt\n");
    let partial = std::fs::metadata(f.local.join("big.bin")).unwrap().len();
    assert!(partial < 4 << 30, "the interrupted download went on");
}

/// Lines pasted several at once at the prompt all run, in order, and lines typed while a
/// download runs run after it (tests/peers/pty_sftp.py `typeahead`).
#[test]
fn typed_ahead_and_pasted_lines_all_run() {
    let f = fixture();
    let mid = std::fs::File::create(f.root.join("mid.bin")).unwrap();
    mid.set_len(64 << 20).unwrap();
    let out = f.pty("typeahead", &[]);
    assert!(out.success() && out.stdout.contains("exit 0"), "{out}");
    assert_eq!(read(&f.local.join("inner")), "sub/inner\n");
    assert_eq!(read(&f.local.join("c.txt")), "c.txt\n");
    assert_eq!(
        std::fs::metadata(f.local.join("mid.bin")).unwrap().len(),
        64 << 20
    );
}

/// A `put` or `get` the server refuses at its open prints OpenSSH's error alone, no progress
/// meter line; a transfer that works shows its meter (tests/peers/pty_sftp.py `refused`).
#[test]
fn a_transfer_refused_at_open_prints_no_meter() {
    let f = fixture();
    let user = ensure_test_user();
    let ro = f.root.join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::os::unix::fs::chown(&ro, Some(user.uid), Some(user.gid)).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    let secret = f.root.join("secret");
    std::fs::write(&secret, b"s").unwrap();
    std::os::unix::fs::chown(&secret, Some(user.uid), Some(user.gid)).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o000)).unwrap();
    std::fs::write(f.local.join("up.txt"), b"up").unwrap();
    let out = f.pty("refused", &[]);
    assert!(out.success() && out.stdout.contains("exit 0"), "{out}");
    assert!(!ro.join("up.txt").exists());
}

/// The server dies under the prompt: `Connection closed.` and exit status 255, no prompt left
/// where every command fails.
#[test]
fn a_lost_connection_ends_with_255() {
    let f = fixture();
    let pid = f._server.pid().to_string();
    let out = f.pty("lost", &[&pid]);
    assert!(out.success() && out.stdout.contains("exit 255"), "{out}");
}

fn mtime(p: &Path) -> i64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).unwrap().mtime()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// The commands and flags of OpenSSH's sftp through a batch: globs on both sides, `ls` on a
/// file and with `-1lhSrt`, `get FILE dir/` and `get FILE .`, `-p` both ways, `!cmd`, `lls`
/// (the system's ls), `lcd ~`, `ln -s`, `chmod` on a glob, `df -h`, and errors worded as
/// OpenSSH's, each naming the path once.
#[test]
fn commands_flags_and_errors_as_openssh() {
    let f = fixture();
    std::fs::write(f.root.join("secret"), b"s").unwrap();
    std::fs::set_permissions(
        f.root.join("secret"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let old = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    let set_old = |p: &Path| {
        let file = std::fs::File::options().write(true).open(p).unwrap();
        file.set_times(
            std::fs::FileTimes::new()
                .set_modified(old)
                .set_accessed(old),
        )
        .unwrap();
    };
    set_old(&f.root.join("a.log"));
    for name in ["x.up", "y.up"] {
        std::fs::write(f.local.join(name), name).unwrap();
    }
    std::fs::write(f.local.join("kept.txt"), b"kept").unwrap();
    std::fs::set_permissions(
        f.local.join("kept.txt"),
        std::fs::Permissions::from_mode(0o604),
    )
    .unwrap();
    set_old(&f.local.join("kept.txt"));
    let batch =
        "ls -1 *.log\nls c.txt\nls -1 sub\nls -l a.log\nls -lh a.log\nls -1S\nls -1r *.log\n\
        get *.log\nlmkdir d\nget c.txt d/\nget c.txt .\nget -p a.log kept.log\nput -p kept.txt\n\
        put *.up\n-get nope\n-get secret\n-rm nope\n-ls nope*\n-put nope.local\nchmod 600 *.log\n\
        ln -s c.txt link.txt\n!echo shell-ran > shell.txt\nlls -1\nlcd ~\nlpwd\ndf -h\nbye\n";
    let out = f.batch(batch);
    assert!(out.success(), "{out}");
    let so = &out.stdout;
    assert!(
        so.contains("sftp> ls -1 *.log\na.log\nb.log\nsftp> ls c.txt\nc.txt\n"),
        "{out}"
    );
    assert!(so.contains("sftp> ls -1 sub\nsub/inner\n"), "{out}");
    // The server names owners and groups (users-groups-by-id@openssh.com).
    assert!(so.contains("-rw-r-----    ? peer     "), "{out}");
    assert!(so.contains(" 6B Sep  9  2001 a.log"), "ls -lh:\n{out}");
    assert!(so.contains("sftp> ls -1r *.log\nb.log\na.log\n"), "{out}");
    // Local side.
    for name in [
        "a.log",
        "b.log",
        "c.txt",
        "d/c.txt",
        "kept.log",
        "shell.txt",
    ] {
        assert!(f.local.join(name).exists(), "{name} missing:\n{out}");
    }
    assert_eq!(mode(&f.local.join("kept.log")), 0o640);
    assert_eq!(mtime(&f.local.join("kept.log")), 1_000_000_000);
    assert!(
        so.contains("sftp> lls -1\na.log\nb.log\nc.txt\nd\n"),
        "lls:\n{out}"
    );
    assert!(
        so.contains(&format!("Local working directory: {}", f.home.display())),
        "lcd ~:\n{out}"
    );
    assert!(
        so.contains("    Size     Used    Avail   (root)    %Capacity"),
        "{out}"
    );
    // Remote side.
    assert_eq!(mode(&f.root.join("kept.txt")), 0o604);
    assert_eq!(mtime(&f.root.join("kept.txt")), 1_000_000_000);
    assert_eq!(read(&f.root.join("x.up")), "x.up");
    assert_eq!(read(&f.root.join("y.up")), "y.up");
    assert_eq!(mode(&f.root.join("b.log")), 0o600);
    assert_eq!(
        std::fs::read_link(f.root.join("link.txt")).unwrap(),
        Path::new("c.txt")
    );
    // Errors as OpenSSH words them.
    for want in [
        "File \"/nope\" not found.",
        "remote open(\"/secret\"): Permission denied",
        "remote delete /nope: No such file or directory",
        "Can't ls: \"/nope*\" not found",
        "stat nope.local: No such file or directory",
    ] {
        assert!(out.stderr.contains(want), "{want:?} missing:\n{out}");
    }
}

/// `lumask` sets the mode of what `get` creates (`Local umask: 077`, OpenSSH's errors); `ls -l`
/// of a glob and of a folder names owners and groups as the server says them
/// (users-groups-by-id@openssh.com), `ls -ln` shows the numbers.
#[test]
fn lumask_and_long_listings_with_names() {
    let f = fixture();
    let user = ensure_test_user();
    std::fs::set_permissions(f.root.join("c.txt"), std::fs::Permissions::from_mode(0o666)).unwrap();
    let batch = "lumask 077\nget c.txt umasked.txt\nls -l *.log\nls -l\nls -ln a.log\n\
        -lumask 8\n-lumask\nbye\n";
    let out = f.batch(batch);
    assert!(out.success(), "{out}");
    let so = &out.stdout;
    assert!(so.contains("sftp> lumask 077\nLocal umask: 077\n"), "{out}");
    assert_eq!(mode(&f.local.join("umasked.txt")), 0o600, "{out}");
    let lines = |after: &str| -> Vec<String> {
        let start = so.find(&format!("sftp> {after}\n")).unwrap() + after.len() + 7;
        so[start..]
            .lines()
            .take_while(|l| !l.starts_with("sftp> "))
            .map(str::to_owned)
            .collect()
    };
    let globbed = lines("ls -l *.log");
    assert_eq!(globbed.len(), 2, "{out}");
    for line in globbed.iter().chain(&lines("ls -l")) {
        assert!(line.contains("    ? peer     "), "{line:?}\n{out}");
        assert!(
            !line.contains(&format!(" {} ", user.uid)),
            "{line:?}\n{out}"
        );
    }
    let numeric = format!("    ? {:<8} {:<8} ", user.uid, user.gid);
    assert!(lines("ls -ln a.log")[0].contains(&numeric), "{out}");
    assert!(out.stderr.contains("Invalid umask \"8\""), "{out}");
    assert!(
        out.stderr
            .contains("You must supply a numeric argument to the lumask command."),
        "{out}"
    );
}

/// `chmod -h` changes a symbolic link itself (lsetstat@openssh.com), not the file it names;
/// `chmod` without `-h` follows it.
#[test]
fn chmod_dash_h_does_not_follow_links() {
    let f = fixture();
    let user = ensure_test_user();
    std::os::unix::fs::symlink("c.txt", f.root.join("link.txt")).unwrap();
    std::os::unix::fs::lchown(f.root.join("link.txt"), Some(user.uid), Some(user.gid)).unwrap();
    std::fs::set_permissions(f.root.join("c.txt"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = f.batch(&format!(
        "-chmod -h 600 link.txt\nchgrp -h {} link.txt\nbye\n",
        user.gid
    ));
    assert!(out.success(), "{out}");
    // Linux has no modes on links: the server says so, the file keeps its mode.
    assert!(
        out.stderr.contains("remote lsetstat \"/link.txt\""),
        "{out}"
    );
    assert_eq!(mode(&f.root.join("c.txt")), 0o644, "{out}");
    let out = f.batch("chmod 640 link.txt\nbye\n");
    assert!(out.success(), "{out}");
    assert_eq!(mode(&f.root.join("c.txt")), 0o640, "{out}");
    let link = std::fs::symlink_metadata(f.root.join("link.txt")).unwrap();
    assert!(link.file_type().is_symlink(), "{out}");
}

/// `ls -l` prints times in the local zone, as OpenSSH's sftp (`$TZ`, a zone name or a POSIX
/// string; else /etc/localtime).
#[test]
fn long_listings_in_local_time() {
    let f = fixture();
    let file = std::fs::File::options()
        .write(true)
        .open(f.root.join("a.log"))
        .unwrap();
    let at = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000_000); // 2001-09-09 01:46:40 UTC
    file.set_modified(at).unwrap();
    for (tz, want) in [
        ("UTC", " Sep  9  2001 a.log"),
        ("America/New_York", " Sep  8  2001 a.log"),
        ("EST5EDT,M3.2.0,M11.1.0", " Sep  8  2001 a.log"),
        ("<-03>3", " Sep  8  2001 a.log"),
    ] {
        let out = f.sftp_in_zone(tz, &["-b", "-", "peer@127.0.0.1"], "ls -ln a.log\n");
        assert!(out.stdout.contains(want), "TZ={tz}: {out}");
    }
}

/// `-a`: get and put resume as reget and reput (what the destination holds is kept, the rest
/// sent).
#[test]
fn dash_a_resumes_transfers() {
    let f = fixture();
    std::fs::write(f.root.join("down.bin"), b"abcdefgh").unwrap();
    std::fs::write(f.local.join("down.bin"), b"XXXX").unwrap();
    std::fs::write(f.local.join("up.bin"), b"12345678").unwrap();
    std::fs::write(f.root.join("up.bin"), b"YYYY").unwrap();
    let user = ensure_test_user();
    std::os::unix::fs::chown(f.root.join("up.bin"), Some(user.uid), Some(user.gid)).unwrap();
    let out = f.sftp(
        &["-a", "-b", "-", "peer@127.0.0.1"],
        "get down.bin\nput up.bin\nbye\n",
    );
    assert!(out.success(), "{out}");
    assert_eq!(read(&f.local.join("down.bin")), "XXXXefgh", "{out}");
    assert_eq!(read(&f.root.join("up.bin")), "YYYY5678", "{out}");
}

/// `-l limit` (Kbit/s, as OpenSSH's sftp) is accepted and the transfers it slows complete
/// intact both ways (the schedule itself is tested against a given clock in
/// src/sftp/bwlimit.rs); a limit out of OpenSSH's range is refused.
#[test]
fn dash_l_limits_the_bandwidth_and_transfers_complete() {
    let f = fixture();
    let data: Vec<u8> = (0..1_500_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(f.root.join("down.bin"), &data).unwrap();
    std::fs::write(f.local.join("up.bin"), &data).unwrap();
    let out = f.sftp(
        &["-l", "40000", "-b", "-", "peer@127.0.0.1"],
        "get down.bin\nput up.bin\nbye\n",
    );
    assert!(out.success(), "{out}");
    assert!(std::fs::read(f.local.join("down.bin")).unwrap() == data);
    assert!(std::fs::read(f.root.join("up.bin")).unwrap() == data);
    for bad in ["0", "x", "104857601"] {
        let out = f.sftp(&["-l", bad, "-b", "-", "peer@127.0.0.1"], "bye\n");
        assert!(!out.success(), "-l {bad}: {out}");
        assert!(out.stderr.contains("Invalid bandwidth limit"), "{out}");
    }
}

/// Command-line forms: `host:file` fetches into the current folder and ends, `host:folder`
/// starts there, `sftp://user@host:port/path`, `-b` stops at the first failure unless the
/// command starts with `-` (exit 1), `host:missing` fails with OpenSSH's words, `-N` undoes
/// the quiet of `-b`.
#[test]
fn command_line_forms() {
    let f = fixture();
    let out = f.sftp(&["peer@127.0.0.1:c.txt"], "");
    assert!(out.success(), "{out}");
    assert_eq!(read(&f.local.join("c.txt")), "c.txt\n");
    let out = f.sftp(&["peer@127.0.0.1:unique-remote.txt", "renamed.txt"], "");
    assert!(out.success(), "{out}");
    assert_eq!(read(&f.local.join("renamed.txt")), "unique-remote.txt\n");
    let out = f.sftp(&["-b", "-", "peer@127.0.0.1:sub"], "pwd\n");
    assert!(
        out.stdout.contains("Remote working directory: /sub"),
        "{out}"
    );
    let url = format!("sftp://peer@127.0.0.1:{}/sub", f.port);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nacre"));
    cmd.current_dir(&f.local)
        .env("HOME", &f.home)
        .env("NACRE_PASSWORD", PASSWORD)
        .args(["sftp", "-o", "StrictHostKeyChecking=no", "-b", "-", &url]);
    let out = run_with_input(&mut cmd, Some(b"pwd\n"), Duration::from_secs(60));
    assert!(
        out.success() && out.stdout.contains("Remote working directory: /sub"),
        "{out}"
    );
    let out = f.sftp(&["peer@127.0.0.1:missing"], "");
    assert_eq!(out.status.code(), Some(1), "{out}");
    assert!(out.stderr.contains("File \"/missing\" not found."), "{out}");
    let out = f.batch("-rm nope\npwd\nrm nope\npwd\n");
    assert_eq!(out.status.code(), Some(1), "{out}");
    assert_eq!(
        out.stdout.matches("Remote working directory").count(),
        1,
        "{out}"
    );
    // -b is quiet; -N says the transfers all the same.
    let out = f.batch("get c.txt quiet.txt\n");
    assert!(out.success() && !out.stdout.contains("Fetching"), "{out}");
    let out = f.sftp(
        &["-N", "-b", "-", "peer@127.0.0.1"],
        "get c.txt noisy.txt\n",
    );
    assert!(out.stdout.contains("Fetching /c.txt to noisy.txt"), "{out}");
}

/// An encrypted key: `Enter passphrase for key '...': ` on the terminal, no echo, asked again
/// after a wrong passphrase, then the session.
#[test]
fn asks_for_a_key_passphrase_on_the_terminal() {
    let user = ensure_test_user();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("id_ed25519");
    let status = Command::new(env!("CARGO_BIN_EXE_nacre"))
        .args(["keygen", "-t", "ed25519", "-N", "typed passphrase", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    std::os::unix::fs::chown(&root, Some(user.uid), Some(user.gid)).unwrap();
    let (server, port) = nacre_tests::start_nacre_serve(
        env!("CARGO_BIN_EXE_nacre").as_ref(),
        dir.path(),
        "peer",
        PASSWORD,
        &[
            "--root".into(),
            root.clone().into(),
            "--authorized-keys".into(),
            dir.path().join("id_ed25519.pub").into(),
        ],
    );
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let f = Fixture {
        _server: server,
        port,
        local: home.clone(),
        home,
        root,
        _dir: dir,
    };
    let out = f.pty("passphrase", &[key.to_str().unwrap(), "typed passphrase"]);
    assert!(out.success() && out.stdout.contains("exit 0"), "{out}");
}

/// Keyboard-interactive against OpenSSH's sshd (PAM): the server's `Password: ` prompt asked on
/// the terminal as `(peer@127.0.0.1) Password: `.
#[test]
fn keyboard_interactive_prompts_on_the_terminal() {
    ensure_test_user();
    let sshd = nacre_tests::OpenSshServer::start(
        &[nacre_tests::KeyType::Ed25519],
        &[
            "KbdInteractiveAuthentication yes",
            "PasswordAuthentication no",
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let out = run_with_timeout(
        Command::new("python3")
            .arg(nacre_tests::repo_root().join("tests/peers/pty_sftp.py"))
            .args(["kbdint", env!("CARGO_BIN_EXE_nacre")])
            .arg(sshd.port().to_string())
            .arg(dir.path())
            .arg(dir.path())
            .arg(nacre_tests::TEST_PASSWORD),
        Duration::from_secs(120),
    );
    assert!(out.success() && out.stdout.contains("exit 0"), "{out}");
}
