//! The Unix user `peer` that sshd and dropbear authenticate, and its `authorized_keys`.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

/// The Unix user the peers authenticate.
pub const TEST_USER: &str = "peer";
/// Its password.
pub const TEST_PASSWORD: &str = "peerpass";

/// Serializes changes to the user and its files between the tests of one process (tests of other processes
/// can still race; every change here is idempotent and appends are single writes).
static USER_LOCK: Mutex<()> = Mutex::new(());

/// The passwd entry of the test user.
#[derive(Clone, Debug)]
pub struct TestUser {
    /// `peer`
    pub name: String,
    /// Numeric user id.
    pub uid: u32,
    /// Numeric primary group id.
    pub gid: u32,
    /// Home folder.
    pub home: PathBuf,
}

fn lookup_user() -> Option<TestUser> {
    let out = Command::new("getent")
        .args(["passwd", TEST_USER])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<&str> = line.trim().split(':').collect();
    if fields.len() < 7 {
        return None;
    }
    Some(TestUser {
        name: fields[0].to_string(),
        uid: fields[2].parse().ok()?,
        gid: fields[3].parse().ok()?,
        home: PathBuf::from(fields[5]),
    })
}

/// Makes sure the Unix user `peer` (password `peerpass`, home folder, bash) exists, creating it if needed
/// (needs root). Returns its passwd entry.
pub fn ensure_test_user() -> TestUser {
    let _lock = USER_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(user) = lookup_user() {
        return user;
    }
    let status = Command::new("useradd")
        .args(["-m", "-s", "/bin/bash", TEST_USER])
        .status();
    // Another test process may have created it meanwhile: look again before judging.
    let Some(user) = lookup_user() else {
        panic!(
            "cannot create the Unix user {TEST_USER} (useradd: {status:?}); run scripts/install-peers as root"
        );
    };
    let mut chpasswd = Command::new("chpasswd")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("start chpasswd");
    if let Some(mut stdin) = chpasswd.stdin.take() {
        stdin
            .write_all(format!("{TEST_USER}:{TEST_PASSWORD}\n").as_bytes())
            .expect("write to chpasswd");
    }
    let status = chpasswd.wait().expect("wait for chpasswd");
    assert!(status.success(), "chpasswd failed: {status}");
    user
}

/// The home folder of the test user (creating the user if needed).
pub fn test_user_home() -> PathBuf {
    ensure_test_user().home
}

/// Appends `pub_line` (an OpenSSH `.pub` line) to `~peer/.ssh/authorized_keys` unless that key is already
/// there; the folder is mode 700 and the file 600, both owned by `peer`, as sshd's StrictModes demands.
pub fn install_authorized_key(pub_line: &str) {
    let user = ensure_test_user();
    let _lock = USER_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let line = pub_line.trim();
    assert!(
        !line.is_empty() && !line.contains('\n'),
        "install_authorized_key wants one .pub line, got {pub_line:?}"
    );
    let ssh_dir = user.home.join(".ssh");
    fs::create_dir_all(&ssh_dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", ssh_dir.display()));
    fs::set_permissions(&ssh_dir, fs::Permissions::from_mode(0o700)).expect("chmod ~peer/.ssh");
    std::os::unix::fs::chown(&ssh_dir, Some(user.uid), Some(user.gid)).expect("chown ~peer/.ssh");

    let path = ssh_dir.join("authorized_keys");
    let existing = fs::read_to_string(&path).unwrap_or_default();
    // Compare on "type base64", ignoring the comment.
    let key_of = |l: &str| l.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    let wanted = key_of(line);
    if !existing.lines().any(|l| key_of(l) == wanted) {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        let mut text = String::new();
        if !existing.is_empty() && !existing.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(line);
        text.push('\n');
        f.write_all(text.as_bytes())
            .unwrap_or_else(|e| panic!("append to {}: {e}", path.display()));
    }
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod authorized_keys");
    std::os::unix::fs::chown(&path, Some(user.uid), Some(user.gid)).expect("chown authorized_keys");
}
