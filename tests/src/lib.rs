//! Peer harness for nacre's interop tests.
//!
//! Starts and drives real, independent SSH implementations on 127.0.0.1 so the tests in `tests/tests/` can talk
//! to them: an OpenSSH `sshd` from a generated config ([`OpenSshServer`]), OpenSSH `ssh` client commands
//! ([`OpenSshClient`]), packet captures checked by Wireshark's dissector ([`Tshark`], [`malformed_report`]),
//! and the plumbing around them ([`ChildGuard`], [`run_with_timeout`], [`free_port`], the `peer` Unix user).
//!
//! The peers are installed by `scripts/install-peers` (which `scripts/test` runs first). Every process the
//! harness starts is killed by its PID when its guard is dropped, so a failing test leaves nothing behind.
//!
//! This crate depends on no nacre crate on purpose: it must keep working while the protocol crates change.
//!
//! Panics are how this harness reports a broken environment (a peer that does not start, a missing program),
//! always with a message that says what to do; hence the lint exceptions below.
#![allow(
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing
)]

mod agent;
mod keys;
mod nacre_server;
mod openssh;
mod process;
pub mod security;
mod tshark;
mod user;

use std::net::TcpListener;
use std::path::{Path, PathBuf};

pub use agent::start_agent;
pub use keys::{authorized_client_key, KeyPair, KeyType};
pub use nacre_server::NacreServer;
pub use openssh::{OpenSshClient, OpenSshServer, OpenSshServerBuilder, SFTP_SERVER, SSHD};
pub use process::{
    run_with_input, run_with_timeout, start_nacre_serve, start_python_peer, ChildGuard, CmdOutput,
};
pub use tshark::{malformed_report, ssh_message_codes, ssh_summary, tshark_read, Tshark, TSHARK};
pub use user::{
    ensure_test_user, install_authorized_key, test_user_home, TestUser, TEST_PASSWORD, TEST_USER,
};

/// A TCP port on 127.0.0.1 that was free a moment ago: binds port 0, reads the port the kernel chose, and
/// releases it. Another process can take it before the caller binds it; [`OpenSshServer`] retries on
/// "Address already in use".
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener
        .local_addr()
        .expect("local_addr of a bound socket")
        .port()
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port` (a server just started),
/// for at most 10 s; panics naming `what` otherwise.
pub fn wait_listening(port: u16, what: &str) {
    for _ in 0..400 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    panic!("{what} did not listen on port {port}");
}

/// The root of the nacre repository (the parent of this package's folder).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent folder")
        .to_path_buf()
}

/// The Python interpreter of the project's venv (`$REPO/.venv/bin/python`, with cryptography, paramiko and
/// asyncssh), created by `scripts/install-peers`.
pub fn venv_python() -> PathBuf {
    let python = repo_root().join(".venv/bin/python");
    require_program(&python);
    python
}

/// Panics with an actionable message unless `program` exists.
pub fn require_program(program: &Path) {
    if !program.exists() {
        panic!(
            "{} is missing: run scripts/install-peers (as root) to install the test peers",
            program.display()
        );
    }
}
