//! authorized_keys options that shape sessions, enforced by the nacre server like sshd:
//! `command="..."` replaces the client's command (which goes to SSH_ORIGINAL_COMMAND) and `no-pty`
//! refuses a terminal.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::Arc;
use std::time::Duration;

use nacre::auth::AuthServerConfig;
use nacre::transport::Config;
use nacre::{SessionConfig, User, UsersPolicy};
use nacre_tests::{
    authorized_client_key, ensure_test_user, KeyType, NacreServer, OpenSshClient, TEST_USER,
};

const T: Duration = Duration::from_secs(60);

#[test]
fn forced_command_and_no_pty() {
    ensure_test_user();
    let dir = tempfile::tempdir().unwrap();
    let forced = authorized_client_key(KeyType::Ed25519);
    let nopty = authorized_client_key(KeyType::EcdsaP256);
    let file = dir.path().join("authorized_keys");
    std::fs::write(
        &file,
        format!(
            "command=\"echo forced:$SSH_ORIGINAL_COMMAND\" {}\nno-pty {}\n",
            forced.pub_line, nopty.pub_line
        ),
    )
    .unwrap();
    let mut policy = UsersPolicy::new();
    policy.insert(TEST_USER, User::default());
    policy.load_authorized_keys(TEST_USER, &file).unwrap();
    let sessions = SessionConfig {
        allow_exec: true,
        ..SessionConfig::default()
    };
    let server = NacreServer::start_with_sessions(
        Config::server(nacre_testkit::all_host_keys()),
        AuthServerConfig::default(),
        Arc::new(policy),
        sessions,
    );
    let kh = dir.path().join("known_hosts");
    server.write_known_hosts(&kh);
    let out = OpenSshClient::new(server.port())
        .known_hosts(&kh)
        .identity(&forced.private)
        .command("id -un")
        .run(T);
    assert_eq!(out.stdout, "forced:id -un\n", "{out}");
    let out = OpenSshClient::new(server.port())
        .known_hosts(&kh)
        .identity(&nopty.private)
        .arg("-tt")
        .command("tty")
        .run(T);
    assert!(
        out.stderr.contains("PTY allocation request failed"),
        "{out}"
    );
    assert!(!out.stdout.contains("/dev/pts"), "{out}");
}
