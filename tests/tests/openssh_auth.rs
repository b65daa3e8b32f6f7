//! User authentication against OpenSSH 9.2's sshd with the nacre client: password, each key type
//! (RSA with rsa-sha2-512, chosen from server-sig-algs), keyboard-interactive, a
//! two-step `AuthenticationMethods publickey,password` policy, and refusals.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::Arc;
use std::time::Duration;

use nacre::keys::{PrivateKey, PublicKey};
use nacre::transport::Config;
use nacre::wire::DisconnectReason;
use nacre::{AuthResult, ClientConfig, Connection, Credential, PromptResponder};
use nacre_tests::{
    authorized_client_key, ensure_test_user, KeyType, OpenSshServer, TEST_PASSWORD, TEST_USER,
};
use zeroize::Zeroizing;

async fn connect(sshd: &OpenSshServer) -> Connection {
    let trusted: Vec<PublicKey> = sshd
        .host_key_types()
        .into_iter()
        .map(|t| {
            PublicKey::from_openssh_line(&sshd.host_key_pub(t))
                .unwrap()
                .0
        })
        .collect();
    let cfg = ClientConfig {
        transport: Arc::new(Config::client()),
        verify_host_key: Arc::new(move |k: &PublicKey| trusted.contains(k)),
    };
    tokio::time::timeout(
        Duration::from_secs(30),
        Connection::connect(("127.0.0.1", sshd.port()), cfg),
    )
    .await
    .unwrap()
    .unwrap()
}

fn load(kt: KeyType) -> PrivateKey {
    let pair = authorized_client_key(kt);
    PrivateKey::from_openssh(&std::fs::read(&pair.private).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_and_wrong_password() {
    ensure_test_user();
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let mut conn = connect(&sshd).await;
    let wrong = conn
        .authenticate_password(TEST_USER, "not-the-password")
        .await
        .unwrap();
    assert!(
        matches!(wrong, AuthResult::Failure { partial: false, .. }),
        "{wrong:?}"
    );
    let ok = conn
        .authenticate_password(TEST_USER, TEST_PASSWORD)
        .await
        .unwrap();
    assert_eq!(ok, AuthResult::Success, "{}", sshd.log());
    assert!(
        sshd.wait_for_log("Accepted password for peer", Duration::from_secs(5)),
        "{}",
        sshd.log()
    );
    conn.disconnect(DisconnectReason::BY_APPLICATION, "done")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_type() {
    ensure_test_user();
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    for kt in KeyType::ALL {
        let key = load(kt);
        let mut conn = connect(&sshd).await;
        let r = conn.authenticate_publickey(TEST_USER, &key).await.unwrap();
        assert_eq!(r, AuthResult::Success, "{kt:?}\n{}", sshd.log());
        conn.disconnect(DisconnectReason::BY_APPLICATION, "done")
            .await;
    }
    // The last login's log line can lag the client (PEERS.md).
    assert!(
        sshd.wait_for_log("ssh2: RSA", Duration::from_secs(10)),
        "{}",
        sshd.log()
    );
    let log = sshd.log();
    for alg in ["ED25519", "ECDSA", "RSA"] {
        assert!(
            log.contains("Accepted publickey for peer from 127.0.0.1") && log.contains(alg),
            "{alg}\n{log}"
        );
    }
    // RSA signed with rsa-sha2-512, the best algorithm sshd announced in server-sig-algs.
    assert!(
        log.contains("rsa-sha2-512") || log.contains("RSA-SHA2-512"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_key_is_refused() {
    ensure_test_user();
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let stranger = PrivateKey::from_ed25519_seed(&[0x42; 32]);
    let mut conn = connect(&sshd).await;
    let r = conn
        .authenticate_publickey(TEST_USER, &stranger)
        .await
        .unwrap();
    assert!(matches!(r, AuthResult::Failure { .. }), "{r:?}");
    conn.disconnect(DisconnectReason::BY_APPLICATION, "done")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyboard_interactive_through_pam() {
    ensure_test_user();
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &["KbdInteractiveAuthentication yes"]);
    let mut conn = connect(&sshd).await;
    let prompts = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = prompts.clone();
    let responder: PromptResponder = Arc::new(move |req| {
        seen.lock()
            .unwrap()
            .extend(req.prompts.iter().map(|p| p.prompt.clone()));
        req.prompts
            .iter()
            .map(|_| TEST_PASSWORD.to_owned())
            .collect()
    });
    let r = conn
        .authenticate_keyboard_interactive(TEST_USER, &responder)
        .await
        .unwrap();
    assert_eq!(r, AuthResult::Success, "{}", sshd.log());
    assert!(
        prompts
            .lock()
            .unwrap()
            .iter()
            .any(|p| p.contains("assword")),
        "{:?}",
        prompts.lock().unwrap()
    );
    conn.disconnect(DisconnectReason::BY_APPLICATION, "done")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publickey_then_password_policy() {
    ensure_test_user();
    let sshd = OpenSshServer::start(
        &[KeyType::Ed25519],
        &["AuthenticationMethods publickey,password"],
    );
    let key = Arc::new(load(KeyType::Ed25519));
    let mut conn = connect(&sshd).await;
    let credentials = [
        Credential::Password(Zeroizing::new(TEST_PASSWORD.to_owned())),
        Credential::Key(key.clone()),
    ];
    // The order given puts the password first, but sshd only allows publickey at first: the
    // sequence skips what is not allowed and comes back to it after the partial success.
    let first = conn.authenticate(TEST_USER, &credentials).await.unwrap();
    assert!(
        matches!(first, AuthResult::Failure { partial: true, .. }),
        "{first:?}"
    );
    let second = conn
        .authenticate_password(TEST_USER, TEST_PASSWORD)
        .await
        .unwrap();
    assert_eq!(second, AuthResult::Success, "{}", sshd.log());
    conn.disconnect(DisconnectReason::BY_APPLICATION, "done")
        .await;
}
