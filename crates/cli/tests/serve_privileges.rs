//! `nacre serve` run as root gives an SFTP user no more than the user's own rights (issue 18):
//! an authenticated user attacks through paramiko's raw requests (tests/peers/sftp_attacks.py)
//! and OpenSSH's sftp, and the files on disk are checked afterwards: no set-id file owned by
//! anyone but the user, no change of owner, nothing of the operator's read, written, created,
//! removed, renamed over, linked or truncated. The same attacks run against the default
//! (in-process, acting as the user) and `--sftp-as-user`; logins without an account act as the
//! folder's owner or `nobody`; root's rights only when named (`--run-as root`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nacre_tests::{
    ensure_test_user, free_port, repo_root, run_with_input, run_with_timeout, venv_python,
    ChildGuard, TestUser,
};

const PASSWORD: &str = "attack-pass";

/// Attacks that must fail whatever the mode.
const MUST_FAIL: &[&str] = &[
    "chown_upload_to_root",
    "chown_operator_file_to_user",
    "setstat_4755_operator_file",
    "setstat_times_operator_file",
    "setstat_size_operator_file",
    "read_operator_0600",
    "overwrite_operator_0444",
    "create_in_operator_dir",
    "mkdir_in_operator_dir",
    "remove_in_operator_dir",
    "rename_into_operator_dir",
    "hardlink_to_operator_0600",
    "symlink_to_operator_0600",
];

/// A served folder owned by the user, holding the operator's (root's) files.
struct Served {
    tmp: tempfile::TempDir,
    root: PathBuf,
    exe: PathBuf,
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn prepare(owner: Option<&TestUser>) -> Served {
    let tmp = tempfile::tempdir().unwrap();
    // Traversable by the user, who also runs the binary again with --sftp-as-user: a copy it
    // can reach, wherever the build folder is.
    chmod(tmp.path(), 0o711);
    let exe = tmp.path().join("nacre");
    std::fs::copy(env!("CARGO_BIN_EXE_nacre"), &exe).unwrap();
    chmod(&exe, 0o755);
    let root = tmp.path().join("share");
    std::fs::create_dir(&root).unwrap();
    chmod(&root, 0o755);
    if let Some(u) = owner {
        std::os::unix::fs::chown(&root, Some(u.uid), Some(u.gid)).unwrap();
    }
    let file = |name: &str, text: &str, mode: u32| {
        std::fs::write(root.join(name), text).unwrap();
        chmod(&root.join(name), mode);
    };
    file("op_secret", "the operator's secret", 0o600);
    file("op_readonly", "read only", 0o444);
    file("op_file", "operator file", 0o644);
    file("world.txt", "anyone may read this", 0o644);
    std::fs::create_dir(root.join("op_dir")).unwrap();
    chmod(&root.join("op_dir"), 0o755);
    file("op_dir/theirs", "theirs", 0o644);
    Served { tmp, root, exe }
}

/// Starts the copied binary as `nacre serve` (as root) for `login` with `flags`.
fn start(s: &Served, login: &str, flags: &[&str]) -> (ChildGuard, u16) {
    let port = free_port();
    let pw = s.tmp.path().join("pw");
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    let mut cmd = std::process::Command::new(&s.exe);
    cmd.args([
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--user",
        login,
    ])
    .arg("--password-file")
    .arg(&pw)
    .arg("--state-dir")
    .arg(s.tmp.path().join("state"))
    .arg("--root")
    .arg(&s.root)
    .args(flags)
    .current_dir(s.tmp.path());
    let guard = ChildGuard::spawn("nacre serve", &mut cmd);
    nacre_tests::wait_listening(port, "nacre serve");
    (guard, port)
}

/// Runs every attack of tests/peers/sftp_attacks.py; its answers by name.
fn paramiko_attacks(port: u16, login: &str, user: &TestUser) -> BTreeMap<String, String> {
    let script = repo_root().join("tests/peers/sftp_attacks.py");
    let out = run_with_timeout(
        std::process::Command::new(venv_python())
            .arg(script)
            .arg(port.to_string())
            .arg(login)
            .arg(PASSWORD)
            .arg(user.uid.to_string())
            .arg(user.gid.to_string()),
        Duration::from_secs(120),
    );
    assert!(out.status.success(), "sftp_attacks.py: {}", out.stderr);
    println!("{}", out.stdout);
    serde_json::from_str(&out.stdout).unwrap()
}

/// Every set-id file under `dir` belongs to `uid`.
fn no_foreign_set_id(dir: &Path, uid: u32) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            no_foreign_set_id(&path, uid);
        } else if meta.mode() & 0o6000 != 0 {
            assert_eq!(
                meta.uid(),
                uid,
                "{} is set-id and not the user's",
                path.display()
            );
        }
    }
}

/// The operator's files are as they were; the user's uploads are the user's.
fn check_disk(s: &Served, user: &TestUser) {
    let r = &s.root;
    no_foreign_set_id(r, user.uid);
    let read = |p: &str| std::fs::read_to_string(r.join(p)).unwrap();
    assert_eq!(read("op_secret"), "the operator's secret");
    assert_eq!(read("op_readonly"), "read only");
    assert_eq!(read("op_file"), "operator file");
    assert_eq!(read("op_dir/theirs"), "theirs");
    let op = std::fs::metadata(r.join("op_file")).unwrap();
    assert_eq!((op.uid(), op.gid(), op.mode() & 0o7777), (0, 0, 0o644));
    assert_ne!(op.mtime(), 1, "the operator file's times changed");
    for gone in ["op_dir/new", "op_dir/sub", "my_hardlink"] {
        assert!(!r.join(gone).exists(), "{gone} exists");
    }
    for up in ["up_open", "up_setstat", "up_fsetstat"] {
        if let Ok(m) = std::fs::symlink_metadata(r.join(up)) {
            assert_eq!((m.uid(), m.gid()), (user.uid, user.gid), "{up}");
        }
    }
}

fn check_answers(answers: &BTreeMap<String, String>) {
    for name in MUST_FAIL {
        let answer = answers.get(*name).map_or("missing", String::as_str);
        assert!(answer.starts_with("denied"), "{name}: {answer}");
    }
}

fn attacks_fail(flags: &[&str]) {
    let user = ensure_test_user();
    let s = prepare(Some(&user));
    let (_server, port) = start(&s, &user.name, flags);
    let answers = paramiko_attacks(port, &user.name, &user);
    check_answers(&answers);
    check_disk(&s, &user);
    // The uploads worked: the user keeps the rights it has.
    assert_eq!(answers["open_creat_mode_4755"], "ok");
    assert_eq!(
        std::fs::read(s.root.join("up_setstat")).unwrap(),
        b"#!/bin/sh\nid\n"
    );
}

#[test]
fn paramiko_attacks_fail_with_the_default_in_process_server() {
    attacks_fail(&[]);
}

#[test]
fn paramiko_attacks_fail_with_sftp_as_user() {
    attacks_fail(&["--sftp-as-user"]);
}

/// OpenSSH's sftp: put a program, chmod 4755 and chown 0 it, fetch root's secret, replace
/// root's read-only file, write into root's folder.
#[test]
fn openssh_sftp_cannot_make_a_root_set_uid_program_or_touch_the_operators_files() {
    let user = ensure_test_user();
    for flags in [&[][..], &["--sftp-as-user"][..]] {
        let s = prepare(Some(&user));
        let (_server, port) = start(&s, &user.name, flags);
        let local = s.tmp.path().join("local");
        std::fs::create_dir(&local).unwrap();
        std::fs::write(local.join("prog"), "#!/bin/sh\nid\n").unwrap();
        let batch = "-put prog up_ssh\n-chmod 4755 up_ssh\n-chown 0 up_ssh\n-chgrp 0 up_ssh\n\
                     -get op_secret stolen\n-put prog op_readonly\n-put prog op_dir/new\n\
                     -chmod 4755 op_file\n";
        let mut cmd = std::process::Command::new("sshpass");
        cmd.args(["-p", PASSWORD, "sftp", "-F", "/dev/null"])
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
            ])
            .args(["-o", "BatchMode=no", "-o", "PubkeyAuthentication=no"])
            .args(["-P", &port.to_string(), "-b", "-"])
            .arg(format!("{}@127.0.0.1", user.name))
            .current_dir(&local);
        let out = run_with_input(&mut cmd, Some(batch.as_bytes()), Duration::from_secs(60));
        println!("{}\n{}", out.stdout, out.stderr);
        assert!(out.status.success(), "sftp: {}", out.stderr);
        let prog = std::fs::metadata(s.root.join("up_ssh")).unwrap();
        assert_eq!(prog.uid(), user.uid, "{flags:?}");
        assert!(!local.join("stolen").exists(), "{flags:?}");
        check_disk(&s, &user);
    }
}

/// A login with no Unix account in a root-owned folder acts as `nobody`: it reads what anyone
/// may read and writes nothing; in a folder the test user owns it acts as that owner.
#[test]
fn a_login_without_an_account_acts_as_the_folders_owner_or_nobody() {
    let user = ensure_test_user();
    let s = prepare(None);
    let (_server, port) = start(&s, "ghost-login", &[]);
    let nobody = TestUser {
        name: "nobody".into(),
        uid: 65534,
        gid: 65534,
        home: "/nonexistent".into(),
    };
    let answers = paramiko_attacks(port, "ghost-login", &nobody);
    check_answers(&answers);
    assert!(
        answers["open_creat_mode_4755"].starts_with("denied"),
        "{answers:?}"
    );
    check_disk(&s, &nobody);
    assert!(!s.root.join("up_open").exists());
    drop(_server);

    let s = prepare(Some(&user));
    let (_server, port) = start(&s, "ghost-login", &[]);
    let answers = paramiko_attacks(port, "ghost-login", &user);
    check_answers(&answers);
    check_disk(&s, &user);
    assert_eq!(
        std::fs::metadata(s.root.join("up_open")).unwrap().uid(),
        user.uid
    );
}

/// Root's rights are given only by name: `--run-as root` (a login named root without it acts
/// as the fallback, like any login without an account of its own).
#[test]
fn root_rights_only_when_named() {
    let user = ensure_test_user();
    let s = prepare(Some(&user));
    let (_server, port) = start(&s, "root", &[]);
    let answers = paramiko_attacks(port, "root", &user);
    check_answers(&answers);
    check_disk(&s, &user);
    drop(_server);

    let s = prepare(Some(&user));
    let (_server, port) = start(&s, &user.name, &["--run-as", "root"]);
    let root = TestUser {
        name: "root".into(),
        uid: 0,
        gid: 0,
        home: "/root".into(),
    };
    let answers = paramiko_attacks(port, &user.name, &root);
    assert_eq!(answers["read_operator_0600"], "ok", "{answers:?}");
    assert_eq!(answers["rename_into_operator_dir"], "ok", "{answers:?}");
    assert_eq!(
        std::fs::metadata(s.root.join("up_fsetstat")).unwrap().uid(),
        0
    );
}

/// `--allow-exec`: a login with no Unix account runs commands as the account it acts as, never
/// as the server's root: in a root-owned folder that is `nobody`, whose shell (nologin) refuses,
/// as sshd's would; in a folder the test user owns, the test user. A Unix login runs as itself
/// with its own groups.
#[test]
fn commands_run_as_the_account_the_login_acts_as() {
    let user = ensure_test_user();
    let run = |port: u16, login: &str, command: &str| {
        let out = nacre_tests::OpenSshClient::new(port)
            .user(login)
            .password(PASSWORD)
            .command(command)
            .run(Duration::from_secs(60));
        println!("{login}: {}{}", out.stdout, out.stderr);
        out
    };
    let s = prepare(None);
    let (_server, port) = start(&s, "ghost-login", &["--allow-exec"]);
    let out = run(port, "ghost-login", "id -u");
    assert!(!out.status.success());
    assert!(
        !out.stdout.lines().any(|l| l.trim().parse::<u32>().is_ok()),
        "a command ran: {}",
        out.stdout
    );
    assert!(
        format!("{}{}", out.stdout, out.stderr).contains("not available"),
        "{}",
        out.stderr
    );
    drop(_server);

    let s = prepare(Some(&user));
    for login in ["ghost-login", user.name.as_str()] {
        let (_server, port) = start(&s, login, &["--allow-exec"]);
        let out = run(port, login, "id -u; id -G");
        assert!(out.status.success(), "{login}: {}", out.stderr);
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines[0], user.uid.to_string(), "{login}");
        // The account's own groups (initgroups), not root's.
        let want = std::process::Command::new("id")
            .args(["-G", &user.name])
            .output()
            .unwrap();
        assert_eq!(
            lines[1],
            String::from_utf8_lossy(&want.stdout).trim(),
            "{login}"
        );
    }
}
