//! A private OpenSSH `ssh-agent` for a test.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::keys::{authorized_client_key, KeyType};
use crate::process::{run_with_timeout, ChildGuard};

/// An `ssh-agent` on a socket in `dir` holding the authorized client keys of `keys`; the agent is
/// killed by PID when the guard is dropped.
pub fn start_agent(dir: &Path, keys: &[KeyType]) -> (ChildGuard, PathBuf) {
    let sock = dir.join("agent.sock");
    let guard = ChildGuard::spawn(
        "ssh-agent",
        Command::new("ssh-agent").arg("-D").arg("-a").arg(&sock),
    );
    for _ in 0..500 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(sock.exists(), "ssh-agent did not create {}", sock.display());
    for kt in keys {
        let pair = authorized_client_key(*kt);
        run_with_timeout(
            Command::new("ssh-add")
                .arg(&pair.private)
                .env("SSH_AUTH_SOCK", &sock),
            Duration::from_secs(30),
        )
        .assert_success();
    }
    (guard, sock)
}
