//! `Server::run_sharded`: connections are served on the shard threads, spread over them, and
//! work as with `Server::run` (public-key login, SFTP round trip).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use nacre::auth::AuthServerConfig;
use nacre::keys::{AuthorizedKeys, PrivateKey};
use nacre::transport::Config;
use nacre::{
    AuthResult, ClientConfig, Connection, Server, ServerConfig, ServerEvent, ServerLimits,
    SessionConfig, User, UsersPolicy,
};
use tokio::net::TcpListener;

const CLIENTS: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_spread_over_the_shards_and_served() {
    let dir = tempfile::tempdir().unwrap();
    let host = nacre_testkit::all_host_keys()[0].clone();
    let host_public = host.public_key();
    let user_key = Arc::new(PrivateKey::generate_ed25519(&mut rand_core::OsRng));
    let mut policy = UsersPolicy::new();
    policy.insert(
        "peer",
        User {
            password_hash: None,
            authorized_keys: AuthorizedKeys::parse(&user_key.public_key().to_openssh_line("k")).0,
        },
    );
    // A temporary folder of root's: the server's own rights, asked for by name.
    let mut session = SessionConfig {
        act_as: nacre::ActAs::ServerProcess,
        ..SessionConfig::default()
    };
    session.subsystems.insert(
        "sftp".into(),
        nacre::sftp_subsystem(
            dir.path().to_path_buf(),
            nacre_sftp::ServerConfig::default(),
        ),
    );
    let server = Server::new(
        Arc::new(Config::server(vec![host])),
        AuthServerConfig::default(),
        Arc::new(policy),
        ServerConfig::new(session),
        ServerLimits::default(),
    );
    // Which thread reported each login.
    let threads: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let seen = threads.clone();
    server.set_event_sink(Arc::new(move |e: &ServerEvent| {
        if matches!(e, ServerEvent::Authenticated { .. }) {
            let name = std::thread::current().name().unwrap_or("?").to_owned();
            *seen.lock().unwrap().entry(name).or_default() += 1;
        }
    }));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = tokio::spawn(async move { server.run_sharded(listener, 2).await });

    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        let (key, expected) = (user_key.clone(), host_public.clone());
        let config = ClientConfig {
            transport: Arc::new(Config::client()),
            verify_host_key: Arc::new(move |k| *k == expected),
        };
        let mut conn = Connection::connect(addr, config).await.unwrap();
        let auth = conn.authenticate_publickey("peer", &key).await.unwrap();
        assert!(matches!(auth, AuthResult::Success), "client {i}: {auth:?}");
        clients.push(conn);
    }
    // Every connection is open at once: both shards carry three.
    for (i, conn) in clients.iter().enumerate() {
        let sftp = conn.sftp().await.unwrap();
        let name = format!("/file-{i}");
        let data = vec![i as u8; 200_000];
        let h = sftp
            .open(
                &name,
                nacre_sftp::codec::OpenFlags::WRITE | nacre_sftp::codec::OpenFlags::CREAT,
                &nacre_sftp::Attributes::EMPTY,
            )
            .await
            .unwrap();
        sftp.write(&h, 0, &data).await.unwrap();
        sftp.close(&h).await.unwrap();
        assert_eq!(std::fs::read(dir.path().join(&name[1..])).unwrap(), data);
    }
    let threads = threads.lock().unwrap().clone();
    assert_eq!(
        threads,
        HashMap::from([
            ("nacre-shard-0".to_owned(), CLIENTS / 2),
            ("nacre-shard-1".to_owned(), CLIENTS / 2)
        ]),
        "logins per thread"
    );
    drop(clients);
    serving.abort();
}
