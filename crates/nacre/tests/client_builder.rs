#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! `Client::builder()`: a connection comes back only authenticated; a refusal is an error that
//! lists the methods the server would still accept; host keys are checked against known_hosts.

use std::sync::Arc;
use std::time::Duration;

use nacre::auth::AuthServerConfig;
use nacre::transport::Config;
use nacre::{AuthContext, Client, Error, PasswordCheck, Server, UnknownHosts};

mod common;

use common::{pipe, server_with, Alice};

fn server() -> (Server, nacre::keys::PublicKey) {
    let key = nacre_testkit::host_key(nacre::keys::KeyType::Ed25519, 7);
    let public = key.public_key();
    (server_with(Config::server(vec![key])), public)
}

#[tokio::test]
async fn a_refused_login_is_an_error_listing_the_methods_that_can_continue() {
    let (server, host) = server();
    let err = Client::builder()
        .user("alice")
        .password("wrong")
        .default_identities(false)
        .verify_host_key(move |k| *k == host)
        .connect_over(pipe(&server), "mem", 22)
        .await
        .expect_err("a wrong password must not give a connection");
    match &err {
        Error::AuthRefused {
            user,
            methods,
            partial,
        } => {
            assert_eq!(user, "alice");
            assert!(methods.iter().any(|m| m == "password"), "{methods:?}");
            assert!(methods.iter().any(|m| m == "publickey"), "{methods:?}");
            assert!(!partial);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string().starts_with("alice: Permission denied (")
            && err.to_string().contains("password"),
        "{err}"
    );
}

#[tokio::test]
async fn the_right_password_gives_an_authenticated_connection() {
    let (server, host) = server();
    let conn = Client::builder()
        .user("alice")
        .password("secret")
        .default_identities(false)
        .verify_host_key(move |k| *k == host)
        .connect_over(pipe(&server), "mem", 22)
        .await
        .unwrap();
    // Authenticated: the connection layer runs (the server refuses exec for a name with no
    // account, but the channel opens).
    let channel = conn.open_session().await.unwrap();
    drop(channel);
}

#[tokio::test]
async fn unknown_hosts_are_refused_by_default_and_added_when_asked() {
    let (server, _) = server();
    let dir = tempfile::tempdir().unwrap();
    let known = dir.path().join("known_hosts");
    let builder = Client::builder()
        .user("alice")
        .password("secret")
        .default_identities(false)
        .known_hosts(&known);
    let err = builder
        .connect_over(pipe(&server), "mem.example", 2222)
        .await
        .expect_err("an unknown host is refused");
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    assert!(!known.exists(), "nothing written when refusing");
    let builder = builder.unknown_hosts(UnknownHosts::AcceptNew { hashed: false });
    builder
        .connect_over(pipe(&server), "mem.example", 2222)
        .await
        .unwrap();
    let text = std::fs::read_to_string(&known).unwrap();
    assert!(
        text.starts_with("[mem.example]:2222 ssh-ed25519 "),
        "{text}"
    );
    // Now known: accepted with the default policy too.
    let strict = builder.unknown_hosts(UnknownHosts::Reject);
    strict
        .connect_over(pipe(&server), "mem.example", 2222)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_missing_key_file_is_named_in_the_error() {
    let (server, host) = server();
    let err = Client::builder()
        .user("alice")
        .key_file("/nonexistent/id_ed25519", None)
        .default_identities(false)
        .verify_host_key(move |k| *k == host)
        .connect_over(pipe(&server), "mem", 22)
        .await
        .expect_err("no such key file");
    assert!(
        err.to_string().starts_with("/nonexistent/id_ed25519: "),
        "{err}"
    );
}

/// An async user store: the answer is awaited in the connection's authentication loop.
struct SlowStore;

impl nacre::AsyncAuthPolicy for SlowStore {
    fn password<'a>(
        &'a self,
        ctx: &'a AuthContext,
        password: &'a str,
    ) -> nacre::AuthFuture<'a, PasswordCheck> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if ctx.user == "bob" && password == "builder" {
                PasswordCheck::Accept
            } else {
                PasswordCheck::Reject
            }
        })
    }
}

#[tokio::test]
async fn an_async_policy_decides_logins() {
    let key = nacre_testkit::host_key(nacre::keys::KeyType::Ed25519, 9);
    let host = key.public_key();
    let server = Server::builder()
        .host_key(key)
        .auth_settings(AuthServerConfig {
            failure_delay: Duration::ZERO,
            ..AuthServerConfig::default()
        })
        .async_auth_policy(SlowStore)
        .build()
        .unwrap();
    let builder = Client::builder()
        .user("bob")
        .default_identities(false)
        .verify_host_key(move |k| *k == host);
    let refused = builder
        .clone()
        .password("wrong")
        .connect_over(pipe(&server), "mem", 22)
        .await;
    assert!(
        matches!(refused, Err(Error::AuthRefused { .. })),
        "{refused:?}"
    );
    builder
        .password("builder")
        .connect_over(pipe(&server), "mem", 22)
        .await
        .unwrap();
}

#[test]
fn a_server_needs_a_host_key() {
    let err = Server::builder().build().map(|_| ()).unwrap_err();
    assert_eq!(err.to_string(), "configuration: a server needs a host key");
}

/// An async host key verifier: awaited during the key exchange; its "no" ends the connection.
struct Pinned(nacre::keys::PublicKey);

impl nacre::VerifyHostKey for Pinned {
    fn verify<'a>(&'a self, key: &'a nacre::keys::PublicKey) -> nacre::AuthFuture<'a, bool> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            *key == self.0
        })
    }
}

#[tokio::test]
async fn an_async_host_key_verifier_decides() {
    let (server, host) = server();
    let builder = Client::builder()
        .user("alice")
        .password("secret")
        .default_identities(false);
    builder
        .clone()
        .verify_host_key_async(Pinned(host))
        .connect_over(pipe(&server), "mem", 22)
        .await
        .unwrap();
    let other = nacre_testkit::host_key(nacre::keys::KeyType::Ed25519, 8).public_key();
    let err = builder
        .verify_host_key_async(Pinned(other))
        .connect_over(pipe(&server), "mem", 22)
        .await
        .expect_err("a key that is not the pinned one");
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
}

/// `compression(true)` on the client asks for `zlib@openssh.com`, which the server builder
/// offers by default (`compression(true)`, as sshd); `compression(false)` on the server leaves
/// `none`. The connection works either way.
#[tokio::test]
async fn compression_on_the_builders() {
    use nacre::transport::CompressionAlg;
    for (server_on, expect) in [
        (true, CompressionAlg::ZlibOpenssh),
        (false, CompressionAlg::None),
    ] {
        let key = nacre_testkit::host_key(nacre::keys::KeyType::Ed25519, 7);
        let host = key.public_key();
        let server = Server::builder()
            .host_key(key)
            .auth_settings(AuthServerConfig {
                failure_delay: Duration::ZERO,
                ..AuthServerConfig::default()
            })
            .auth_policy(Alice)
            .compression(server_on)
            .build()
            .unwrap();
        let conn = Client::builder()
            .user("alice")
            .password("secret")
            .default_identities(false)
            .verify_host_key(move |k| *k == host)
            .compression(true)
            .connect_over(pipe(&server), "mem", 22)
            .await
            .unwrap();
        let n = conn.info().negotiated.unwrap();
        assert_eq!((n.compression_c2s, n.compression_s2c), (expect, expect));
        let channel = conn.open_session().await.unwrap();
        drop(channel);
    }
}

/// An async verifier that trusts host certificates of one CA for the host "mem" (as an
/// `@cert-authority mem` line would) and no plain key; it notes what it was asked.
struct TrustCa {
    ca: nacre::keys::PublicKey,
    asked: Arc<std::sync::Mutex<Vec<&'static str>>>,
}

impl nacre::VerifyHostKey for TrustCa {
    fn verify<'a>(&'a self, _key: &'a nacre::keys::PublicKey) -> nacre::AuthFuture<'a, bool> {
        self.asked.lock().unwrap().push("key");
        Box::pin(std::future::ready(false))
    }

    fn verify_certificate<'a>(
        &'a self,
        _key: &'a nacre::keys::PublicKey,
        cert: &'a nacre::keys::Certificate,
    ) -> nacre::AuthFuture<'a, bool> {
        self.asked.lock().unwrap().push("certificate");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let trusted = *cert.signature_key() == self.ca && cert.check_host("mem", now).is_ok();
        Box::pin(std::future::ready(trusted))
    }
}

/// A server with a host certificate: the async verifier is handed the certificate (when the
/// client offers certificate algorithms) and decides by its CA; a verifier that only looks at
/// keys gets the certificate's key (the default `verify_certificate`).
#[tokio::test]
async fn an_async_host_key_verifier_sees_the_host_certificate() {
    use nacre::keys::cert::CertBuilder;
    use nacre::keys::{CertType, KeyType};
    let key = nacre_testkit::host_key(KeyType::Ed25519, 7);
    let host = key.public_key();
    let ca = nacre_testkit::host_key(KeyType::Ed25519, 9);
    let cert = CertBuilder::new(host.clone(), CertType::Host)
        .principals(vec!["mem".into()])
        .sign(&ca, None, &mut rand_core::OsRng)
        .unwrap();
    let mut transport = Config::server(vec![key]);
    transport.host_certificates.push(Arc::new(cert));
    let server = server_with(transport);
    let client_transport = Config {
        host_key_certificates: true,
        ..Config::client()
    };
    let builder = Client::builder()
        .user("alice")
        .password("secret")
        .default_identities(false)
        .transport(client_transport);
    let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let trust = |ca: &nacre::keys::PrivateKey| TrustCa {
        ca: ca.public_key(),
        asked: asked.clone(),
    };
    builder
        .clone()
        .verify_host_key_async(trust(&ca))
        .connect_over(pipe(&server), "mem", 22)
        .await
        .unwrap();
    assert_eq!(*asked.lock().unwrap(), ["certificate"]);
    let other_ca = nacre_testkit::host_key(KeyType::Ed25519, 10);
    let err = builder
        .clone()
        .verify_host_key_async(trust(&other_ca))
        .connect_over(pipe(&server), "mem", 22)
        .await
        .expect_err("a certificate of another CA");
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    // Without certificate algorithms offered, the plain key is asked about.
    asked.lock().unwrap().clear();
    let err = Client::builder()
        .user("alice")
        .password("secret")
        .default_identities(false)
        .verify_host_key_async(trust(&ca))
        .connect_over(pipe(&server), "mem", 22)
        .await
        .expect_err("no plain key is trusted");
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    assert_eq!(*asked.lock().unwrap(), ["key"]);
    // A verifier that pins the key accepts the certificate's key.
    builder
        .verify_host_key_async(Pinned(host))
        .connect_over(pipe(&server), "mem", 22)
        .await
        .unwrap();
}
