//! OpenSSH's `sftp` against nacre's SFTP server, both over pipes (`sftp -D "nacre sftp-server"`)
//! and over SSH (`nacre serve`, its `sftp` subsystem): one batch with every `sftp` command
//! (ls -l, cd, pwd, mkdir, rmdir, rm, rename, ln -s, ln, chmod, df, get, put, reget, reput,
//! get -r, put -r), contents and metadata checked afterwards; `--read-only` refuses changes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use nacre_tests::{free_port, run_with_timeout, ChildGuard, CmdOutput, TEST_PASSWORD, TEST_USER};

const T: Duration = Duration::from_secs(120);

fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The served root and the client's local folder, filled for the batch.
struct Setup {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    local: PathBuf,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let (root, local) = (tmp.path().join("root"), tmp.path().join("local"));
    std::fs::create_dir_all(root.join("tree/sub/deeper")).unwrap();
    std::fs::create_dir_all(local.join("localtree/a/b")).unwrap();
    std::fs::create_dir_all(local.join("localtree/empty")).unwrap();
    std::fs::write(root.join("existing.txt"), b"existing\n").unwrap();
    std::fs::write(root.join("rmme.txt"), b"bye").unwrap();
    std::fs::write(root.join("big.bin"), data(3_000_000, 1)).unwrap();
    std::fs::write(root.join("tree/one"), data(100_000, 2)).unwrap();
    std::fs::write(root.join("tree/sub/two"), b"").unwrap();
    std::fs::write(root.join("tree/sub/deeper/three"), data(400_000, 3)).unwrap();
    std::fs::write(local.join("up.bin"), data(1_234_567, 4)).unwrap();
    std::fs::write(local.join("up2.bin"), data(2_000_000, 5)).unwrap();
    std::fs::write(local.join("localtree/x"), data(5000, 6)).unwrap();
    std::fs::write(local.join("localtree/a/y"), b"").unwrap();
    std::fs::write(local.join("localtree/a/b/z"), data(300_000, 7)).unwrap();
    std::fs::set_permissions(
        local.join("localtree/a/b/z"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    // Halves for reget and reput.
    std::fs::write(local.join("reget.bin"), &data(3_000_000, 1)[..1_000_003]).unwrap();
    std::fs::write(root.join("reput.bin"), &data(2_000_000, 5)[..777_777]).unwrap();
    Setup {
        _tmp: tmp,
        root,
        local,
    }
}

const BATCH: &str = "\
pwd
ls -l
mkdir newdir
cd newdir
pwd
put up.bin
ls -l
cd /
rename newdir/up.bin newdir/moved.bin
ln -s moved.bin newdir/sym
ln newdir/moved.bin newdir/hard
chmod 600 newdir/moved.bin
df
df -h
get newdir/moved.bin got.bin
reget big.bin reget.bin
reput up2.bin reput.bin
put -r localtree rtree
get -r tree gottree
mkdir emptydir
rmdir emptydir
rm rmme.txt
ls -l newdir
";

fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    fn go(base: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let rel = e.path().strip_prefix(base).unwrap().display().to_string();
            if e.file_type().unwrap().is_dir() {
                out.push((rel, b"<dir>".to_vec()));
                go(base, &e.path(), out);
            } else {
                out.push((rel, std::fs::read(e.path()).unwrap()));
            }
        }
    }
    go(dir, dir, &mut out);
    out.sort();
    out
}

/// What the batch must have done, checked on both sides' disks and in sftp's output.
fn check(s: &Setup, out: &CmdOutput) {
    assert!(out.success(), "{out}");
    let (root, local) = (&s.root, &s.local);
    assert!(
        out.stdout.contains("Remote working directory: /\n"),
        "{out}"
    );
    assert!(
        out.stdout.contains("Remote working directory: /newdir\n"),
        "{out}"
    );
    assert!(out.stdout.contains("existing.txt"), "{out}");
    assert!(out.stdout.contains("Size"), "df: {out}");
    let up = std::fs::read(local.join("up.bin")).unwrap();
    // put, rename, chmod, ln, ln -s
    assert_eq!(std::fs::read(root.join("newdir/moved.bin")).unwrap(), up);
    assert!(!root.join("newdir/up.bin").exists());
    let meta = std::fs::metadata(root.join("newdir/moved.bin")).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o600);
    assert_eq!(meta.nlink(), 2);
    assert_eq!(std::fs::read(root.join("newdir/hard")).unwrap(), up);
    assert_eq!(
        std::fs::read_link(root.join("newdir/sym")).unwrap(),
        Path::new("moved.bin")
    );
    let listing = out
        .stdout
        .lines()
        .find(|l| l.starts_with("-rw-------") && l.ends_with("moved.bin"));
    assert!(listing.is_some(), "ls -l after chmod: {out}");
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with('l') && l.contains("sym")),
        "{out}"
    );
    // get, reget, reput
    assert_eq!(std::fs::read(local.join("got.bin")).unwrap(), up);
    assert_eq!(
        std::fs::read(local.join("reget.bin")).unwrap(),
        std::fs::read(root.join("big.bin")).unwrap()
    );
    assert_eq!(
        std::fs::read(root.join("reput.bin")).unwrap(),
        std::fs::read(local.join("up2.bin")).unwrap()
    );
    // put -r, get -r (contents; sftp keeps permissions of new files)
    assert_eq!(tree(&local.join("localtree")), tree(&root.join("rtree")));
    assert_eq!(tree(&root.join("tree")), tree(&local.join("gottree")));
    assert_eq!(
        std::fs::metadata(root.join("rtree/a/b/z")).unwrap().mode() & 0o777,
        0o640
    );
    // mkdir + rmdir, rm
    assert!(!root.join("emptydir").exists());
    assert!(!root.join("rmme.txt").exists());
    assert!(root.join("existing.txt").exists());
}

fn nacre() -> &'static str {
    env!("CARGO_BIN_EXE_nacre")
}

fn sftp_d(s: &Setup, extra: &str) -> CmdOutput {
    let batch = s.local.join("batch");
    std::fs::write(&batch, BATCH).unwrap();
    let server = format!("{} sftp-server --root {}{extra}", nacre(), s.root.display());
    let mut cmd = Command::new("sftp");
    cmd.current_dir(&s.local)
        .args(["-D", &server, "-b"])
        .arg(&batch);
    run_with_timeout(&mut cmd, T)
}

#[test]
fn openssh_sftp_over_pipes() {
    let s = setup();
    let out = sftp_d(&s, "");
    check(&s, &out);
}

#[test]
fn openssh_sftp_over_pipes_read_only() {
    let s = setup();
    let before = tree(&s.root);
    let batch = s.local.join("batch");
    std::fs::write(&batch, "ls -l\nget existing.txt\n-put up.bin\n-mkdir x\n-rm rmme.txt\n-rename existing.txt e2\n-chmod 777 existing.txt\n").unwrap();
    let server = format!(
        "{} sftp-server --read-only --root {}",
        nacre(),
        s.root.display()
    );
    let mut cmd = Command::new("sftp");
    cmd.current_dir(&s.local)
        .args(["-D", &server, "-b"])
        .arg(&batch);
    let out = run_with_timeout(&mut cmd, T);
    assert!(out.success(), "{out}");
    assert_eq!(
        std::fs::read(s.local.join("existing.txt")).unwrap(),
        b"existing\n"
    );
    assert!(out.stderr.contains("Permission denied"), "{out}");
    assert_eq!(tree(&s.root), before);
}

/// `nacre serve` (as root, acting as the test user) on `s.root`, made the test user's tree, as a
/// home folder would be; its guard, the state folder and the port.
fn serve_users_tree(s: &Setup) -> (ChildGuard, tempfile::TempDir, u16) {
    let user = nacre_tests::ensure_test_user();
    std::fs::set_permissions(s._tmp.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let chown = Command::new("chown")
        .arg("-R")
        .arg(format!("{}:{}", user.uid, user.gid))
        .arg(&s.root)
        .status()
        .unwrap();
    assert!(chown.success());
    let state = tempfile::tempdir().unwrap();
    std::fs::write(state.path().join("pw"), format!("{TEST_PASSWORD}\n")).unwrap();
    let port = free_port();
    let mut cmd = Command::new(nacre());
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--state-dir")
        .arg(state.path())
        .args(["--user", TEST_USER, "--password-file"])
        .arg(state.path().join("pw"))
        .arg("--root")
        .arg(&s.root)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let server = ChildGuard::spawn("nacre serve", &mut cmd);
    nacre_tests::wait_listening(port, "nacre serve");
    (server, state, port)
}

#[test]
fn openssh_sftp_over_ssh_to_nacre_serve() {
    let s = setup();
    let (_server, _state, port) = serve_users_tree(&s);
    let batch = s.local.join("batch");
    std::fs::write(&batch, BATCH).unwrap();
    let mut cmd = Command::new("sshpass");
    cmd.current_dir(&s.local)
        .args(["-p", TEST_PASSWORD, "sftp", "-F", "/dev/null"])
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .args(["-o", "LogLevel=ERROR", "-o", "BatchMode=no"])
        .args(["-o", "PubkeyAuthentication=no", "-o", "IdentityAgent=none"])
        .args(["-P", &port.to_string(), "-b"])
        .arg(&batch)
        .arg(format!("{TEST_USER}@127.0.0.1"));
    let out = run_with_timeout(&mut cmd, T);
    check(&s, &out);
}

/// OpenSSH's scp (which speaks SFTP since 9.0) both ways and `ssh -s sftp` against
/// `nacre serve`: the `sftp` subsystem channel ends with an exit status, so they exit 0.
#[test]
fn openssh_scp_and_ssh_s_sftp_exit_zero_against_nacre_serve() {
    let s = setup();
    let (_server, _state, port) = serve_users_tree(&s);
    let ssh_opts = [
        "-F",
        "/dev/null",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
        "-o",
        "BatchMode=no",
        "-o",
        "PubkeyAuthentication=no",
        "-o",
        "IdentityAgent=none",
    ];
    let dest = |path: &str| format!("{TEST_USER}@127.0.0.1:{path}");
    let scp = |args: &[String]| {
        let mut cmd = Command::new("sshpass");
        cmd.current_dir(&s.local)
            .args(["-p", TEST_PASSWORD, "scp"])
            .args(ssh_opts)
            .args(["-P", &port.to_string()])
            .args(args);
        run_with_timeout(&mut cmd, T)
    };
    let up = scp(&["up.bin".into(), dest("/scp-up.bin")]);
    assert!(up.success(), "scp put: {up}");
    assert_eq!(
        std::fs::read(s.root.join("scp-up.bin")).unwrap(),
        std::fs::read(s.local.join("up.bin")).unwrap()
    );
    let down = scp(&[dest("/big.bin"), "scp-down.bin".into()]);
    assert!(down.success(), "scp get: {down}");
    assert_eq!(
        std::fs::read(s.local.join("scp-down.bin")).unwrap(),
        std::fs::read(s.root.join("big.bin")).unwrap()
    );
    // `ssh -s sftp` with a client that sends INIT and closes: the subsystem's exit status is 0.
    let mut cmd = Command::new("sshpass");
    cmd.args(["-p", TEST_PASSWORD, "ssh"])
        .args(ssh_opts)
        .args(["-p", &port.to_string(), "-s"])
        .arg(format!("{TEST_USER}@127.0.0.1"))
        .arg("sftp");
    // SSH_FXP_INIT version 3, then end of input.
    let init = [0u8, 0, 0, 5, 1, 0, 0, 0, 3];
    let out = nacre_tests::run_with_input(&mut cmd, Some(&init), T);
    assert_eq!(out.status.code(), Some(0), "ssh -s sftp: {out}");
}
