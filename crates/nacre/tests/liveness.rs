//! Keepalive through the runtime: a peer that stops answering (a proxy that freezes after login)
//! is declared dead after interval × (max + 1); a peer that answers stays connected.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nacre::auth::AuthServerConfig;
use nacre::connection::LivenessConfig;
use nacre::transport::{Config, TransportError};
use nacre::{hash_password, AuthResult, ClientConfig, Connection, User, UsersPolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A TCP proxy that stops forwarding (without closing) once `frozen` is set.
async fn proxy(target: std::net::SocketAddr, frozen: Arc<AtomicBool>) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (inbound, _) = listener.accept().await.unwrap();
        let outbound = TcpStream::connect(target).await.unwrap();
        let (ri, wi) = inbound.into_split();
        let (ro, wo) = outbound.into_split();
        let pump = |mut r: tokio::net::tcp::OwnedReadHalf,
                    mut w: tokio::net::tcp::OwnedWriteHalf,
                    frozen: Arc<AtomicBool>| async move {
            let mut buf = vec![0u8; 65536];
            loop {
                let n = match r.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                if frozen.load(Ordering::SeqCst) {
                    continue; // swallowed: the peer looks alive at TCP level but never answers
                }
                if w.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        };
        let a = tokio::spawn(pump(ri, wo, frozen.clone()));
        let b = tokio::spawn(pump(ro, wi, frozen));
        let _ = tokio::join!(a, b);
    });
    addr
}

async fn server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut policy = UsersPolicy::new();
    policy.insert(
        "u",
        User {
            password_hash: Some(hash_password("p").unwrap()),
            ..User::default()
        },
    );
    let policy: Arc<dyn nacre::AuthPolicy> = Arc::new(policy);
    tokio::spawn(async move {
        let (stream, peer) = listener.accept().await.unwrap();
        let config = Arc::new(Config::server(nacre_testkit::all_host_keys()));
        let mut conn = Connection::accept(stream, config).await.unwrap();
        conn.authenticate_client(AuthServerConfig::default(), policy, Some(peer))
            .await
            .unwrap();
        let mut open = Vec::new();
        while let Some(c) = conn.accept_channel().await {
            open.extend(c.accept());
        }
    });
    addr
}

async fn client(addr: std::net::SocketAddr) -> Connection {
    let cfg = ClientConfig {
        transport: Arc::new(Config::client()),
        verify_host_key: Arc::new(|_| true),
    };
    let mut conn = Connection::connect(addr, cfg).await.unwrap();
    assert_eq!(
        conn.authenticate_password("u", "p").await.unwrap(),
        AuthResult::Success
    );
    conn
}

#[tokio::test]
async fn silent_peer_is_declared_dead() {
    let frozen = Arc::new(AtomicBool::new(false));
    let addr = proxy(server().await, frozen.clone()).await;
    let mut conn = client(addr).await;
    let liveness = LivenessConfig {
        keepalive_interval: Some(Duration::from_millis(200)),
        keepalive_max: 2,
        unused_timeout: None,
    };
    conn.set_liveness(liveness).await.unwrap();
    frozen.store(true, Ordering::SeqCst);
    let started = std::time::Instant::now();
    let reason = tokio::time::timeout(Duration::from_secs(10), conn.closed())
        .await
        .unwrap();
    assert!(
        matches!(reason, TransportError::Local { ref description, .. } if description.contains("keepalive")),
        "{reason:?}"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(5),
        "{took:?}"
    );
}

#[tokio::test]
async fn answering_peer_stays_connected() {
    let addr = server().await;
    let conn = client(addr).await;
    let liveness = LivenessConfig {
        keepalive_interval: Some(Duration::from_millis(100)),
        keepalive_max: 1,
        unused_timeout: None,
    };
    conn.set_liveness(liveness).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Still usable after fifteen probe intervals.
    let ch = tokio::time::timeout(Duration::from_secs(5), conn.open_session())
        .await
        .unwrap();
    assert!(ch.is_ok(), "{:?}", ch.err());
}
