//! OpenSSH `ssh` against a nacre server using the built-in users policy: argon2 and bcrypt password
//! hashes, and an authorized_keys file whose from= and expiry-time= options are enforced.
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
use nacre::{hash_password, User, UsersPolicy};
use nacre_tests::{authorized_client_key, KeyType, NacreServer, OpenSshClient, TEST_USER};

const T: Duration = Duration::from_secs(60);

fn start(policy: UsersPolicy) -> (NacreServer, tempfile::TempDir) {
    let server = NacreServer::start_with_auth(
        Config::server(nacre_testkit::all_host_keys()),
        AuthServerConfig {
            failure_delay: Duration::from_millis(10),
            ..AuthServerConfig::default()
        },
        Arc::new(policy),
    );
    let dir = tempfile::tempdir().unwrap();
    server.write_known_hosts(&dir.path().join("known_hosts"));
    (server, dir)
}

fn ssh(server: &NacreServer, dir: &tempfile::TempDir) -> OpenSshClient {
    OpenSshClient::new(server.port())
        .verbose()
        .known_hosts(dir.path().join("known_hosts"))
        .command("true")
}

#[test]
fn argon2_and_bcrypt_password_hashes() {
    let mut policy = UsersPolicy::new();
    policy.insert(
        TEST_USER,
        User {
            password_hash: Some(hash_password("argon-pass").unwrap()),
            ..User::default()
        },
    );
    policy.insert(
        "bob",
        User {
            password_hash: Some(bcrypt::hash("bcrypt-pass", 6).unwrap()),
            ..User::default()
        },
    );
    let (server, dir) = start(policy);
    let out = format!("{}", ssh(&server, &dir).password("argon-pass").run(T));
    assert!(out.contains("Authenticated to 127.0.0.1"), "{out}");
    let out = format!(
        "{}",
        ssh(&server, &dir)
            .user("bob")
            .password("bcrypt-pass")
            .run(T)
    );
    assert!(out.contains("Authenticated to 127.0.0.1"), "{out}");
    let out = format!("{}", ssh(&server, &dir).password("bcrypt-pass").run(T));
    assert!(out.contains("Permission denied"), "{out}");
    let out = format!("{}", ssh(&server, &dir).user("nobody").password("x").run(T));
    assert!(out.contains("Permission denied"), "{out}");
    let users: Vec<String> = server.users().into_iter().map(|u| u.user).collect();
    assert_eq!(users, vec![TEST_USER.to_owned(), "bob".to_owned()]);
}

#[test]
fn authorized_keys_options_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let ok = authorized_client_key(KeyType::Ed25519);
    let far = authorized_client_key(KeyType::EcdsaP256);
    let expired = authorized_client_key(KeyType::EcdsaP384);
    let file = dir.path().join("authorized_keys");
    std::fs::write(
        &file,
        format!(
            "from=\"127.0.0.1,::1\" {}\nfrom=\"10.0.0.0/8\" {}\nexpiry-time=\"20200101\" {}\n",
            ok.pub_line, far.pub_line, expired.pub_line
        ),
    )
    .unwrap();
    let mut policy = UsersPolicy::new();
    policy.load_authorized_keys(TEST_USER, &file).unwrap();
    let (server, kdir) = start(policy);
    let out = format!("{}", ssh(&server, &kdir).identity(&ok.private).run(T));
    assert!(out.contains("Authenticated to 127.0.0.1"), "{out}");
    for refused in [&far, &expired] {
        let out = format!("{}", ssh(&server, &kdir).identity(&refused.private).run(T));
        assert!(
            out.contains("Permission denied"),
            "{:?}\n{out}",
            refused.key_type
        );
    }
    assert_eq!(server.users().len(), 1);
}
