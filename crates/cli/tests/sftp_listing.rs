//! `nacre sftp`'s `ls -l` line for line as OpenSSH's sftp (9.2) prints it, both run in the same
//! zone against the same server: sshd (whose sftp-server names owners and groups through
//! users-groups-by-id@openssh.com, so OpenSSH's sftp prints its own `ls_file` lines, `?` for
//! the link count) and `nacre serve` (the same extension, the same lines). A server without
//! the extension gets its long names printed as they come (src/sftp/listing.rs).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use nacre_tests::{ensure_test_user, run_with_input, CmdOutput, KeyType, OpenSshServer};

const BATCH_FOR: &str = "ls -l DIR\nls -l DIR/*.txt\nls -lh DIR\nls -l DIR/sub\n";

/// A folder owned by `peer` with files of several modes and sizes, a link and a subfolder.
fn fill(dir: &Path) {
    let user = ensure_test_user();
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("a.txt"), b"alpha\n").unwrap();
    std::fs::write(dir.join("big.txt"), vec![b'x'; 123_456]).unwrap();
    std::fs::write(dir.join("sub/inner"), b"i").unwrap();
    std::fs::set_permissions(dir.join("a.txt"), std::fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::symlink("a.txt", dir.join("link")).unwrap();
    for p in ["", "sub", "a.txt", "big.txt", "sub/inner"] {
        std::os::unix::fs::chown(dir.join(p), Some(user.uid), Some(user.gid)).unwrap();
    }
    std::os::unix::fs::lchown(dir.join("link"), Some(user.uid), Some(user.gid)).unwrap();
}

/// The listing lines of a batch run (the command echoes dropped).
fn listing(out: &CmdOutput) -> Vec<String> {
    assert!(out.success(), "{out}");
    out.stdout
        .lines()
        .filter(|l| !l.starts_with("sftp> ") && !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Runs `program` (OpenSSH's sftp or nacre's) with `args` then the batch, in UTC.
fn batch(program: &Path, args: &[&str], dir: &str, home: &Path) -> CmdOutput {
    let mut cmd = Command::new(program);
    if program.ends_with("nacre") {
        cmd.arg("sftp");
    }
    cmd.args(args)
        .args(["-o", "StrictHostKeyChecking=no", "-o", "BatchMode=yes"])
        .args(["-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"])
        .args(["-b", "-", "peer@127.0.0.1"])
        .env("TZ", "UTC")
        .env("HOME", home)
        .env_remove("SSH_AUTH_SOCK");
    let text = BATCH_FOR.replace("DIR", dir);
    run_with_input(&mut cmd, Some(text.as_bytes()), Duration::from_secs(90))
}

fn compare(port: u16, key: &Path, dir: &str, home: &Path) {
    let args = [
        "-P",
        &port.to_string(),
        "-i",
        key.to_str().unwrap(),
        "-o",
        "IdentitiesOnly=yes",
    ]
    .map(str::to_owned);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let theirs = listing(&batch(Path::new("sftp"), &args, dir, home));
    let ours = listing(&batch(
        Path::new(env!("CARGO_BIN_EXE_nacre")),
        &args,
        dir,
        home,
    ));
    assert!(theirs.len() >= 8, "{theirs:#?}");
    assert!(
        theirs.iter().any(|l| l.contains("    ? peer     ")),
        "{theirs:#?}"
    );
    assert_eq!(ours, theirs);
}

#[test]
fn long_listings_as_openssh_sftp_against_sshd() {
    ensure_test_user();
    let key = nacre_tests::authorized_client_key(KeyType::Ed25519);
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = tmp.path().join("listed");
    fill(&dir);
    compare(sshd.port(), &key.private, dir.to_str().unwrap(), tmp.path());
}

#[test]
fn long_listings_as_openssh_sftp_against_nacre_serve() {
    ensure_test_user();
    let key = nacre_tests::authorized_client_key(KeyType::Ed25519);
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    fill(&root.join("listed"));
    let user = ensure_test_user();
    std::os::unix::fs::chown(&root, Some(user.uid), Some(user.gid)).unwrap();
    let keys = tmp.path().join("authorized_keys");
    std::fs::write(&keys, format!("{}\n", key.pub_key())).unwrap();
    let (_server, port) = nacre_tests::start_nacre_serve(
        env!("CARGO_BIN_EXE_nacre").as_ref(),
        tmp.path(),
        "peer",
        "sftp-listing-pw",
        &[
            "--root".into(),
            root.into(),
            "--authorized-keys".into(),
            keys.into(),
        ],
    );
    compare(port, &key.private, "/listed", tmp.path());
}
