//! Keys held by OpenSSH's `ssh-agent`: the nacre client logs in to sshd with them (RSA signed with
//! rsa-sha2-512 through the agent's flag), and OpenSSH's `ssh` logs in to the nacre server with them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::Arc;
use std::time::Duration;

use nacre::auth::AuthServerConfig;
use nacre::keys::agent::AgentClient;
use nacre::keys::PublicKey;
use nacre::transport::Config;
use nacre::wire::DisconnectReason;
use nacre::{AuthResult, ClientConfig, Connection, Credential, User, UsersPolicy};
use nacre_tests::{
    authorized_client_key, ensure_test_user, run_with_timeout, start_agent, KeyType, NacreServer,
    OpenSshClient, OpenSshServer, TEST_USER,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacre_client_uses_agent_keys_with_sshd() {
    ensure_test_user();
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let dir = tempfile::tempdir().unwrap();
    let (_agent, sock) = start_agent(dir.path(), &[KeyType::Rsa3072, KeyType::Ed25519]);
    let trusted = PublicKey::from_openssh_line(&sshd.host_key_pub(KeyType::Ed25519))
        .unwrap()
        .0;
    let cfg = ClientConfig {
        transport: Arc::new(Config::client()),
        verify_host_key: Arc::new(move |k| *k == trusted),
    };
    let mut conn = Connection::connect(("127.0.0.1", sshd.port()), cfg.clone())
        .await
        .unwrap();
    let mut client = AgentClient::connect(&sock).unwrap();
    assert_eq!(
        conn.authenticate_agent(TEST_USER, &mut client)
            .await
            .unwrap(),
        AuthResult::Success,
        "{}",
        sshd.log()
    );
    conn.disconnect(DisconnectReason::BY_APPLICATION, "done")
        .await;
    // sshd's log lines can lag the client by a few hundred milliseconds (PEERS.md).
    assert!(
        sshd.wait_for_log(
            "Accepted publickey for peer",
            std::time::Duration::from_secs(10)
        ),
        "{}",
        sshd.log()
    );
    let log = sshd.log();
    assert!(
        log.contains("RSA"),
        "the agent's first key (RSA) logs in\n{log}"
    );

    // The OpenSSH-order sequence: the agent first, even when listed after a wrong password.
    let mut conn = Connection::connect(("127.0.0.1", sshd.port()), cfg)
        .await
        .unwrap();
    let mut credentials = vec![
        Credential::Password(zeroize::Zeroizing::new("wrong".into())),
        Credential::Agent(sock.clone()),
    ];
    Credential::openssh_order(&mut credentials);
    assert_eq!(
        conn.authenticate(TEST_USER, &credentials).await.unwrap(),
        AuthResult::Success
    );
    conn.disconnect(DisconnectReason::BY_APPLICATION, "done")
        .await;
}

#[test]
fn openssh_client_uses_its_agent_with_the_nacre_server() {
    let dir = tempfile::tempdir().unwrap();
    let (_agent, sock) = start_agent(dir.path(), &[KeyType::EcdsaP256]);
    let authorized = dir.path().join("authorized_keys");
    std::fs::write(
        &authorized,
        format!("{}\n", authorized_client_key(KeyType::EcdsaP256).pub_line),
    )
    .unwrap();
    let mut policy = UsersPolicy::new();
    policy.insert(TEST_USER, User::default());
    policy.load_authorized_keys(TEST_USER, &authorized).unwrap();
    let server = NacreServer::start_with_auth(
        Config::server(nacre_testkit::all_host_keys()),
        AuthServerConfig::default(),
        Arc::new(policy),
    );
    let kh = dir.path().join("known_hosts");
    server.write_known_hosts(&kh);
    let mut cmd = OpenSshClient::new(server.port())
        .verbose()
        .known_hosts(&kh)
        .option("IdentityAgent", sock.to_str().unwrap())
        .command("true")
        .build();
    let out = format!("{}", run_with_timeout(&mut cmd, Duration::from_secs(60)));
    assert!(out.contains("Authenticated to 127.0.0.1"), "{out}");
    assert_eq!(server.users().len(), 1);
}
