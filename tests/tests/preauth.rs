//! Pre-authentication work budgets of `nacre::Server` (docs/SECURITY.md, "Pre-authentication work budgets"), against an
//! in-process server whose password policy counts how many checks run at once, per connection
//! and in all:
//!
//! - a connection that pipelines six wrong passwords has them checked one after the other, and
//!   gets one answer per password;
//! - many such connections together never have more checks running than the verification
//!   pool has threads (one per core);
//! - connections that close while their check waits or runs leave MaxStartups at once: a new
//!   connection is admitted within 200 ms;
//! - password checks and keyboard-interactive responses run on the verification threads, public
//!   keys do not.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nacre::auth::AuthServerConfig;
use nacre::transport::Config;
use nacre::{
    AuthContext, AuthPolicy, MaxStartups, PasswordCheck, Server, ServerConfig, ServerLimits,
    ServerStats,
};
use nacre_tests::security::{password_request, RawClient};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// Checks running now and the most seen at once, in all and per user (each test connection
/// logs in as its own user).
#[derive(Default)]
struct Checks {
    now: AtomicUsize,
    most: AtomicUsize,
    total: AtomicUsize,
    per_user: Mutex<HashMap<String, (usize, usize)>>,
}

impl Checks {
    fn most_per_connection(&self) -> usize {
        let per_user = self.per_user.lock().unwrap();
        per_user.values().map(|&(_, most)| most).max().unwrap_or(0)
    }
}

/// A password policy whose every check takes `cost` (like a real hash) and is counted.
struct CountingPolicy {
    checks: Arc<Checks>,
    cost: Duration,
}

impl AuthPolicy for CountingPolicy {
    fn password(&self, ctx: &AuthContext, _password: &str) -> PasswordCheck {
        let c = &self.checks;
        c.total.fetch_add(1, Ordering::SeqCst);
        let n = c.now.fetch_add(1, Ordering::SeqCst) + 1;
        c.most.fetch_max(n, Ordering::SeqCst);
        {
            let mut per_user = c.per_user.lock().unwrap();
            let entry = per_user.entry(ctx.user.clone()).or_default();
            entry.0 += 1;
            entry.1 = entry.1.max(entry.0);
        }
        std::thread::sleep(self.cost);
        if let Some(entry) = c.per_user.lock().unwrap().get_mut(&ctx.user) {
            entry.0 -= 1;
        }
        c.now.fetch_sub(1, Ordering::SeqCst);
        PasswordCheck::Reject
    }
}

/// A server on 127.0.0.1 with the counting policy and this failure delay (requests pipelined
/// behind a failure wait for it, then are released one by one).
async fn start(
    cost: Duration,
    failure_delay: Duration,
    max_startups: MaxStartups,
) -> (Server, SocketAddr, Arc<Checks>) {
    let checks = Arc::new(Checks::default());
    let server = Server::new(
        Arc::new(Config::server(vec![nacre_testkit::host_key(
            nacre_keys::KeyType::Ed25519,
            61,
        )])),
        AuthServerConfig {
            failure_delay,
            ..AuthServerConfig::default()
        },
        Arc::new(CountingPolicy {
            checks: checks.clone(),
            cost,
        }),
        ServerConfig::default(),
        ServerLimits {
            max_startups,
            login_grace_time: Some(Duration::from_secs(60)),
            ..ServerLimits::default()
        },
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let s = server.clone();
    tokio::spawn(async move { s.run(listener).await });
    (server, addr, checks)
}

const NO_DROP: MaxStartups = MaxStartups {
    start: 1000,
    rate: 30,
    full: 2000,
};

/// A client that completed the key exchange and sent `tries` wrong passwords for `user` in one
/// write (pipelined).
async fn pipelining_client(addr: SocketAddr, user: &str, tries: usize) -> RawClient {
    let mut c = RawClient::connect(addr).await;
    c.handshake().await;
    for i in 0..tries {
        c.transport
            .send_raw(&password_request(user, &format!("wrong-{i}")));
    }
    c.flush().await;
    c
}

async fn wait_for(server: &Server, within: Duration, pred: impl Fn(&ServerStats) -> bool) {
    let deadline = Instant::now() + within;
    while !pred(&server.stats()) {
        assert!(
            Instant::now() < deadline,
            "server counters: {:?}",
            server.stats()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// One connection pipelining six wrong passwords (MaxAuthTries 6): all six are checked, never two
/// at once, and the sixth failure closes the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preauth_pipelined_passwords_are_checked_one_at_a_time() {
    let delay = Duration::from_millis(50);
    let (server, addr, checks) = start(Duration::from_millis(40), delay, NO_DROP).await;
    let mut client = pipelining_client(addr, "one", 6).await;
    let (answers, closed) = client.collect(Duration::from_secs(20)).await;
    assert!(closed.is_some(), "closed after MaxAuthTries");
    // RFC 4252 §5: every failed request is answered, in order (the sixth by the DISCONNECT).
    let failures = answers.iter().filter(|p| p.first() == Some(&51)).count();
    assert_eq!(failures, 5, "{answers:?} {closed:?}");
    wait_for(&server, Duration::from_secs(5), |s| s.open == 0).await;
    let (total, most) = (
        checks.total.load(Ordering::SeqCst),
        checks.most_per_connection(),
    );
    eprintln!("one connection, 6 pipelined passwords: {total} checks, at most {most} at once");
    assert_eq!(total, 6);
    assert_eq!(most, 1, "checks of one connection overlapped");
}

/// Twelve connections, each pipelining six wrong passwords: at most one check per connection
/// and at most `auth_workers::threads()` (one per core) in all run at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preauth_password_checks_are_bounded_by_the_verification_pool() {
    const CONNECTIONS: usize = 12;
    let delay = Duration::from_millis(20);
    let (server, addr, checks) = start(Duration::from_millis(20), delay, NO_DROP).await;
    let clients = (0..CONNECTIONS).map(|i| {
        tokio::spawn(async move {
            let mut c = pipelining_client(addr, &format!("user-{i}"), 6).await;
            c.collect(Duration::from_secs(30)).await.1.is_some()
        })
    });
    for c in clients.collect::<Vec<_>>() {
        assert!(
            c.await.unwrap(),
            "a client was not closed after MaxAuthTries"
        );
    }
    wait_for(&server, Duration::from_secs(5), |s| s.open == 0).await;
    let total = checks.total.load(Ordering::SeqCst);
    let most = checks.most.load(Ordering::SeqCst);
    let pool = nacre::auth_workers::threads();
    eprintln!(
        "{CONNECTIONS} connections x 6 pipelined passwords: {total} checks, at most {most} at once \
         (pool {pool}), at most {} per connection",
        checks.most_per_connection()
    );
    assert_eq!(total, CONNECTIONS * 6);
    assert!(most <= pool, "{most} checks at once, pool of {pool}");
    assert_eq!(checks.most_per_connection(), 1);
}

/// Whether the server sends its identification line (admitted) or closes at once (dropped).
async fn admitted(addr: SocketAddr) -> bool {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 8];
    matches!(
        tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await,
        Ok(Ok(n)) if n > 0
    )
}

/// MaxStartups full (4 connections waiting for slow password checks, two of them queued behind
/// the two running): the connections close, and a new connection is admitted within 200 ms,
/// although the checks they started still run for a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preauth_max_startups_frees_slots_when_connections_close_mid_check() {
    const FULL: usize = 4;
    let (server, addr, checks) = start(
        Duration::from_millis(1500),
        Duration::from_millis(200),
        "4".parse().unwrap(),
    )
    .await;
    let mut clients = Vec::new();
    for i in 0..FULL {
        clients.push(pipelining_client(addr, &format!("slow-{i}"), 1).await);
    }
    wait_for(&server, Duration::from_secs(5), |s| {
        s.unauthenticated == FULL
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while checks.now.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "no check started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(!admitted(addr).await, "MaxStartups full: dropped");
    let closed_at = Instant::now();
    drop(clients);
    let mut took = None;
    while closed_at.elapsed() < Duration::from_secs(5) {
        if admitted(addr).await {
            took = Some(closed_at.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = took.expect("no connection admitted within 5 s of the others closing");
    eprintln!(
        "new connection admitted {took:?} after {FULL} pre-auth connections closed \
         (checks still running: {})",
        checks.now.load(Ordering::SeqCst)
    );
    assert!(
        took <= Duration::from_millis(200),
        "admitted after {took:?}"
    );
    assert!(server.stats().dropped >= 1);
}

/// Records the thread each question is answered on.
#[derive(Default)]
struct ThreadsPolicy {
    seen: Mutex<Vec<(&'static str, String)>>,
}

impl ThreadsPolicy {
    fn note(&self, question: &'static str) {
        let thread = std::thread::current().name().unwrap_or("?").to_owned();
        self.seen.lock().unwrap().push((question, thread));
    }
}

impl AuthPolicy for ThreadsPolicy {
    fn password(&self, _ctx: &AuthContext, password: &str) -> PasswordCheck {
        self.note("password");
        if password == "right" {
            PasswordCheck::Accept
        } else {
            PasswordCheck::Reject
        }
    }
    fn publickey(&self, _ctx: &AuthContext, _key: &nacre_keys::PublicKey) -> bool {
        self.note("publickey");
        false
    }
    fn keyboard_interactive(
        &self,
        _ctx: &AuthContext,
        _submethods: &str,
    ) -> Option<nacre::auth::msg::InfoRequest> {
        self.note("keyboard-interactive");
        Some(nacre::auth::msg::InfoRequest {
            prompts: vec![nacre::auth::msg::Prompt {
                prompt: "Password: ".into(),
                echo: false,
            }],
            ..Default::default()
        })
    }
    fn keyboard_responses(
        &self,
        _ctx: &AuthContext,
        responses: &[zeroize::Zeroizing<String>],
    ) -> nacre::KeyboardAnswer {
        self.note("keyboard-responses");
        match responses {
            [r] if r.as_str() == "right" => nacre::KeyboardAnswer::Accept,
            _ => nacre::KeyboardAnswer::Reject,
        }
    }
}

/// Password checks and keyboard-interactive responses (which may be checked like passwords)
/// are answered on the verification threads (`nacre-auth-N`); a public key and the start of
/// keyboard-interactive, cheap, are not (tokio's blocking pool), so a password storm does not
/// hold key logins back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preauth_password_and_keyboard_answers_run_on_the_verification_threads() {
    let policy = Arc::new(ThreadsPolicy::default());
    let server = Server::new(
        Arc::new(Config::server(vec![nacre_testkit::host_key(
            nacre_keys::KeyType::Ed25519,
            61,
        )])),
        AuthServerConfig::default(),
        policy.clone(),
        ServerConfig::default(),
        ServerLimits::default(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let s = server.clone();
    tokio::spawn(async move { s.run(listener).await });
    let key = nacre_testkit::host_key(nacre_keys::KeyType::Ed25519, 62);
    let mut conn = nacre::Connection::connect(addr, nacre_tests::security::client_config())
        .await
        .unwrap();
    let r = conn.authenticate_publickey("u", &key).await.unwrap();
    assert!(matches!(r, nacre::AuthResult::Failure { .. }), "{r:?}");
    let respond: nacre::PromptResponder = Arc::new(|_| vec!["right".to_owned()]);
    let r = conn
        .authenticate_keyboard_interactive("u", &respond)
        .await
        .unwrap();
    assert_eq!(r, nacre::AuthResult::Success);
    let mut conn = nacre::Connection::connect(addr, nacre_tests::security::client_config())
        .await
        .unwrap();
    let r = conn.authenticate_password("u", "right").await.unwrap();
    assert_eq!(r, nacre::AuthResult::Success);
    let seen = policy.seen.lock().unwrap().clone();
    eprintln!("{seen:?}");
    let on_pool = |q: &str| {
        let threads: Vec<&String> = seen
            .iter()
            .filter(|(k, _)| *k == q)
            .map(|(_, t)| t)
            .collect();
        assert!(!threads.is_empty(), "{q} never asked: {seen:?}");
        threads.iter().all(|t| t.starts_with("nacre-auth-"))
    };
    assert!(on_pool("password"), "{seen:?}");
    assert!(on_pool("keyboard-responses"), "{seen:?}");
    assert!(!on_pool("publickey"), "{seen:?}");
    assert!(!on_pool("keyboard-interactive"), "{seen:?}");
}
