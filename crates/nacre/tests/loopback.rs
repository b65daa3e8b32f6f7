#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::Arc;

use bytes::Bytes;
use nacre::transport::{Config, TransportError};
use nacre::wire::DisconnectReason;
use nacre::{ClientConfig, Connection};
use tokio::net::TcpListener;

async fn server(config: Config) -> (std::net::SocketAddr, tokio::task::JoinHandle<Connection>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = Arc::new(config);
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        Connection::accept(stream, config).await.unwrap()
    });
    (addr, task)
}

#[tokio::test]
async fn client_and_server_over_tcp() {
    let host_keys = nacre_testkit::all_host_keys();
    let expected = host_keys[0].public_key();
    let (addr, task) = server(Config::server(host_keys)).await;
    let client_cfg = ClientConfig {
        transport: Arc::new(Config::client()),
        verify_host_key: Arc::new(move |k| *k == expected),
    };
    let mut client = Connection::connect(addr, client_cfg).await.unwrap();
    let mut server = task.await.unwrap();
    assert_eq!(client.info().session_id, server.info().session_id);
    assert!(client.info().strict_kex);
    assert!(client
        .info()
        .server_sig_algs
        .as_ref()
        .unwrap()
        .iter()
        .any(|a| a == "rsa-sha2-512"));

    client.raw().set_authenticated().await.unwrap();
    server.raw().set_authenticated().await.unwrap();
    // A megabyte each way in 32 KiB packets, with a rekey in the middle.
    let chunk = Bytes::from(vec![94u8; 32 * 1024]);
    for i in 0..32 {
        if i == 16 {
            client.rekey().await.unwrap();
        }
        client.raw().send(chunk.clone()).await.unwrap();
        server.raw().send(chunk.clone()).await.unwrap();
    }
    for _ in 0..32 {
        assert_eq!(server.raw().recv().await.unwrap(), chunk);
        assert_eq!(client.raw().recv().await.unwrap(), chunk);
    }
    let reason = client
        .disconnect(DisconnectReason::BY_APPLICATION, "bye")
        .await;
    assert!(matches!(reason, TransportError::Local { .. }), "{reason:?}");
    match server.closed().await {
        TransportError::PeerDisconnected {
            reason,
            description,
        } => {
            assert_eq!(reason, DisconnectReason::BY_APPLICATION);
            assert_eq!(description, "bye");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn rejected_host_key_fails_the_connection() {
    let (addr, _task) = server(Config::server(nacre_testkit::all_host_keys())).await;
    let client_cfg = ClientConfig {
        transport: Arc::new(Config::client()),
        verify_host_key: Arc::new(|_| false),
    };
    match Connection::connect(addr, client_cfg).await {
        Err(nacre::Error::Transport(TransportError::HostKeyRejected)) => {}
        other => panic!("{:?}", other.err()),
    }
}
