#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! OpenSSH's extensions through the runtime, nacre client to nacre server in memory:
//! `Connection::ping` (PROTOCOL §1.8), `ClientBuilder::update_host_keys` (§2.5, the known_hosts
//! file learns the server's second key and forgets a retired one), `no_more_sessions` (§2.2).

use std::sync::Arc;
use std::time::Duration;

use nacre::keys::{KeyType, KnownHosts, PrivateKey};
use nacre::transport::Config;
use nacre::{Client, Connection, Error, Server};

mod common;

use common::{pipe, server_with};

fn server(keys: Vec<Arc<PrivateKey>>, ext_info: bool) -> Server {
    let mut transport = Config::server(keys);
    transport.ext_info = ext_info;
    server_with(transport)
}

async fn connect(server: &Server) -> Connection {
    Client::builder()
        .user("alice")
        .password("secret")
        .default_identities(false)
        .verify_host_key(|_| true)
        .connect_over(pipe(server), "mem", 22)
        .await
        .unwrap()
}

#[tokio::test]
async fn ping_resolves_with_the_pong_and_is_refused_when_not_announced() {
    let ed = nacre_testkit::host_key(KeyType::Ed25519, 7);
    let conn = connect(&server(vec![ed.clone()], true)).await;
    assert_eq!(conn.ping(b"marco").await.unwrap(), b"marco");
    assert_eq!(conn.ping(b"").await.unwrap(), b"");
    // A server that announced nothing gets no PING: refused before sending.
    let quiet = connect(&server(vec![ed], false)).await;
    let err = quiet.ping(b"x").await.unwrap_err();
    assert!(matches!(err, Error::Refused(_)), "{err:?}");
    // Nothing was sent: the connection goes on, and the first still pings.
    assert!(quiet.open_session().await.is_ok());
    assert_eq!(conn.ping(b"polo").await.unwrap(), b"polo");
}

#[tokio::test]
async fn update_host_keys_learns_new_keys_and_forgets_retired_ones() {
    let ed = nacre_testkit::host_key(KeyType::Ed25519, 7);
    let ecdsa = nacre_testkit::host_key(KeyType::EcdsaNistP256, 8);
    let retired = nacre_testkit::host_key(KeyType::Ed25519, 9).public_key();
    let server = server(vec![ed.clone(), ecdsa.clone()], true);
    let dir = tempfile::tempdir().unwrap();
    let known = dir.path().join("known_hosts");
    let line = |k: &nacre::keys::PublicKey| format!("[mem]:2200 {}\n", k.to_openssh_line(""));
    let original = format!("{}{}", line(&ed.public_key()), line(&retired));
    std::fs::write(&known, &original).unwrap();
    let builder = Client::builder()
        .user("alice")
        .password("secret")
        .default_identities(false)
        .known_hosts(&known);
    // Off by default: nothing changes.
    let conn = builder
        .clone()
        .connect_over(pipe(&server), "mem", 2200)
        .await
        .unwrap();
    assert_eq!(conn.ping(b"").await.unwrap(), b"");
    assert_eq!(std::fs::read_to_string(&known).unwrap(), original);
    let _conn = builder
        .update_host_keys(true)
        .connect_over(pipe(&server), "mem", 2200)
        .await
        .unwrap();
    let want = vec![ed.public_key(), ecdsa.public_key()];
    let mut got = Vec::new();
    for _ in 0..100 {
        let (kh, _) = KnownHosts::read_file(&known).unwrap();
        got = kh.matching("mem", 2200).map(|e| e.key.clone()).collect();
        if got == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(got, want);
}

#[tokio::test]
async fn no_more_sessions_then_a_session_open_ends_the_connection() {
    let ed = nacre_testkit::host_key(KeyType::Ed25519, 7);
    let mut conn = connect(&server(vec![ed], true)).await;
    let first = conn.open_session().await.unwrap();
    conn.no_more_sessions().unwrap();
    assert!(conn.open_session().await.is_err());
    drop(first);
    let closed = tokio::time::timeout(Duration::from_secs(5), conn.closed()).await;
    assert!(closed.is_ok(), "the server closed the connection");
}
