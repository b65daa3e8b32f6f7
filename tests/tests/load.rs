//! Limits, load and faults against an in-process `nacre::Server` on 127.0.0.1, bounded in time
//! and count:
//!
//! - MaxStartups drops connections past `full`; MaxSessions refuses a session too many.
//! - Load: 50 concurrent clients each push 8 MiB through `exec cat` and check the 8 MiB that
//!   come back by SHA-256 (the same channel and window path as SFTP, with a command's pipes; the
//!   issue's 200 SFTP clients x 64 MiB are in load_sftp.rs).
//! - Faults: clients killed mid-kex, mid-auth and mid-transfer (dropped, and reset with RST)
//!   while others transfer; peers that stall or trickle one byte at a time; a stalled first key
//!   exchange with no login grace time. The server keeps serving, every connection it held ends,
//!   and this process's descriptors return to their baseline.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::Duration;

use nacre::transport::{Config, Transport, TransportError};
use nacre::wire::{ChannelOpenFailureReason, DisconnectReason};
use nacre::{Connection, MaxStartups, ServerLimits};
use nacre_tests::security::{
    closed_by_peer, fd_count, fd_list, fds_back_to, login_user, sha256, test_data, RawClient,
    TestServer, PASSWORD,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

static FDS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn limits(grace: Option<Duration>) -> ServerLimits {
    ServerLimits {
        max_startups: MaxStartups {
            start: 1000,
            rate: 30,
            full: 2000,
        },
        login_grace_time: grace,
        ..ServerLimits::default()
    }
}

/// Runs `cat` in a new session of `conn`, writes `data` and reads everything back; returns the
/// SHA-256 of what came back and the exit status.
async fn cat_round_trip(conn: &Connection, data: &[u8]) -> (Vec<u8>, Option<nacre::ExitStatus>) {
    let mut ch = conn.open_session().await.unwrap();
    ch.exec("cat").await.unwrap();
    let mut writer = ch.writer();
    let (mut back, mut hasher) = (
        vec![0u8; 256 * 1024],
        nacre::crypto::HashAlg::Sha256.hasher(),
    );
    let write = async {
        writer.write_all(data).await.unwrap();
        writer.shutdown().await.unwrap(); // EOF
    };
    let read = async {
        let mut total = 0;
        loop {
            let n = ch.read(&mut back).await.unwrap();
            if n == 0 {
                break;
            }
            hasher.update(&back[..n]);
            total += n;
        }
        total
    };
    let ((), total) = tokio::join!(write, read);
    assert_eq!(total, data.len());
    (hasher.finish(), ch.exit_status().await)
}

/// MaxStartups: with `2:100:2` (sshd's "2"), two unauthenticated connections fill the server;
/// a third is dropped at once (closed before any banner); once those two are gone, new
/// connections are served again. The early-drop curve itself is unit-tested beside the code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_max_startups_drops_connections_past_full() {
    let _serial = FDS.lock().await;
    let server = TestServer::start(
        ServerLimits {
            max_startups: "2".parse().unwrap(),
            login_grace_time: Some(Duration::from_secs(30)),
            ..ServerLimits::default()
        },
        |_| {},
    )
    .await;
    let a = TcpStream::connect(server.addr).await.unwrap();
    let b = TcpStream::connect(server.addr).await.unwrap();
    let s = server
        .wait_for(Duration::from_secs(5), |s| s.unauthenticated == 2)
        .await;
    assert_eq!(s.unauthenticated, 2, "{s:?}");
    for _ in 0..3 {
        let mut c = TcpStream::connect(server.addr).await.unwrap();
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf))
            .await
            .expect("a dropped connection is closed at once")
            .unwrap_or(0);
        assert_eq!(n, 0, "no banner for a dropped connection");
    }
    assert_eq!(server.stats().dropped, 3);
    drop((a, b));
    let s = server
        .wait_for(Duration::from_secs(5), |s| s.unauthenticated == 0)
        .await;
    assert_eq!(s.unauthenticated, 0, "{s:?}");
    let conn = server.connect().await;
    assert_eq!(conn.exec("echo served").await.unwrap().stdout, b"served\n");
    assert_eq!(server.stats().dropped, 3);
}

/// MaxSessions: with a limit of 2, a third session on the same connection is refused with
/// RESOURCE_SHORTAGE; closing one makes room again. Other channel limits (max channels, window)
/// are the connection layer's, tested in crates/connection/tests/pair.rs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_max_sessions_per_connection() {
    let _serial = FDS.lock().await;
    let server = TestServer::start(
        ServerLimits {
            max_sessions: 2,
            ..limits(None)
        },
        |_| {},
    )
    .await;
    let conn = server.connect().await;
    let one = conn.open_session().await.unwrap();
    let _two = conn.open_session().await.unwrap();
    match conn.open_session().await {
        Err(nacre::Error::OpenFailed { reason, .. }) => {
            assert_eq!(reason, ChannelOpenFailureReason::RESOURCE_SHORTAGE)
        }
        other => panic!("third session: {other:?}"),
    }
    one.close().unwrap();
    drop(one);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match conn.open_session().await {
            Ok(_) => break,
            Err(e) => {
                assert!(Instant::now() < deadline, "no room after a close: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

const CLIENTS: usize = 50;
const EACH: usize = 8 << 20;

/// 50 concurrent clients, each pushing 8 MiB through `exec cat` and checking the 8 MiB that
/// come back by SHA-256: none corrupt, every exit status 0, and afterwards no connection left
/// open and no descriptor (socket, pipe, child) leaked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_50_clients_8_mib_each_through_exec_cat() {
    let _serial = FDS.lock().await;
    let server = TestServer::start(limits(Some(Duration::from_secs(60))), |_| {}).await;
    let warm = server.connect().await;
    cat_round_trip(&warm, b"warm-up").await;
    warm.disconnect(DisconnectReason::BY_APPLICATION, "").await;
    server
        .wait_for(Duration::from_secs(5), |s| s.open == 0)
        .await;
    let baseline = fd_count();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        let addr = server.addr;
        tasks.push(tokio::spawn(async move {
            let data = test_data(i as u64, EACH);
            let stream = TcpStream::connect(addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let mut conn = Connection::client_over(stream, nacre_tests::security::client_config())
                .await
                .unwrap();
            conn.authenticate_password(login_user(), PASSWORD)
                .await
                .unwrap();
            let (digest, status) = cat_round_trip(&conn, &data).await;
            assert_eq!(digest, sha256(&data), "client {i}: corrupted");
            assert_eq!(status, Some(nacre::ExitStatus::Code(0)), "client {i}");
            conn.disconnect(DisconnectReason::BY_APPLICATION, "done")
                .await;
        }));
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(240), t)
            .await
            .expect("a client hung")
            .unwrap();
    }
    let took = started.elapsed();
    eprintln!(
        "{CLIENTS} clients x {} MiB both ways in {took:?}",
        EACH >> 20
    );
    let s = server
        .wait_for(Duration::from_secs(5), |s| s.open == 0)
        .await;
    assert_eq!(s.open, 0, "{s:?}");
    assert_eq!(s.authenticated as usize, CLIENTS + 1, "{s:?}");
    let now = fds_back_to(baseline, Duration::from_secs(5)).await;
    assert!(
        now <= baseline,
        "descriptors leaked: {baseline} before, {now} after: {:?}",
        fd_list()
    );
}

/// A client in its own runtime on its own thread: `kill` drops the runtime with every task and
/// socket (like a killed process), after `work` reached the point it reports on `ready`.
struct Doomed {
    kill: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

fn doomed<F, Fut>(work: F) -> (Doomed, tokio::sync::oneshot::Receiver<()>)
where
    F: FnOnce(tokio::sync::oneshot::Sender<()>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let (kill, killed) = tokio::sync::oneshot::channel();
    let (ready_tx, ready) = tokio::sync::oneshot::channel();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            tokio::select! {
                () = work(ready_tx) => {}
                _ = killed => {}
            }
        });
        drop(rt);
    });
    (Doomed { kill, thread }, ready)
}

impl Doomed {
    fn kill(self) {
        let _ = self.kill.send(());
        self.thread.join().unwrap();
    }
}

/// Clients killed mid-kex, mid-auth and mid-transfer (their runtime dropped: FIN, or RST with
/// zero linger) while four others transfer: the others finish with intact data, the server
/// ends every killed connection (the `cat` of a killed transfer included), and no descriptor
/// leaks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_clients_killed_mid_kex_mid_auth_mid_transfer() {
    let _serial = FDS.lock().await;
    let server = TestServer::start(limits(Some(Duration::from_secs(60))), |_| {}).await;
    let warm = server.connect().await;
    cat_round_trip(&warm, b"warm-up").await;
    warm.disconnect(DisconnectReason::BY_APPLICATION, "").await;
    server
        .wait_for(Duration::from_secs(5), |s| s.open == 0)
        .await;
    let baseline = fd_count();
    let addr = server.addr;

    // Healthy clients, running throughout.
    let mut healthy = Vec::new();
    for i in 0..4u64 {
        healthy.push(tokio::spawn(async move {
            let stream = TcpStream::connect(addr).await.unwrap();
            let mut conn = Connection::client_over(stream, nacre_tests::security::client_config())
                .await
                .unwrap();
            conn.authenticate_password(login_user(), PASSWORD)
                .await
                .unwrap();
            for round in 0..3u64 {
                let data = test_data(100 + i * 10 + round, 2 << 20);
                let (digest, status) = cat_round_trip(&conn, &data).await;
                assert_eq!(digest, sha256(&data));
                assert_eq!(status, Some(nacre::ExitStatus::Code(0)));
            }
            conn.disconnect(DisconnectReason::BY_APPLICATION, "done")
                .await;
        }));
    }

    let mut victims = Vec::new();
    for reset in [false, true] {
        // Mid-kex: banner and KEXINIT sent, the exchange never finished.
        victims.push(doomed(move |ready| async move {
            let stream = TcpStream::connect(addr).await.unwrap();
            if reset {
                stream.set_zero_linger().unwrap();
            }
            let mut t = Transport::client(
                std::sync::Arc::new(Config::client()),
                Box::new(nacre::crypto::SystemRng),
                std::time::Instant::now(),
            );
            let mut out = Vec::new();
            t.poll_transmit(&mut out);
            let mut stream = stream;
            stream.write_all(&out).await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf).await; // the server's banner: it is in the kex
            let _ = ready.send(());
            std::future::pending::<()>().await;
        }));
        // Mid-auth: a password request sent, the answer never read.
        victims.push(doomed(move |ready| async move {
            let mut c = RawClient::connect(addr).await;
            if reset {
                c.stream.set_zero_linger().unwrap();
            }
            c.handshake().await;
            let mut req = vec![50u8];
            for s in ["root", "ssh-connection", "password"] {
                nacre::wire::put::string(&mut req, s.as_bytes());
            }
            nacre::wire::put::boolean(&mut req, false);
            nacre::wire::put::string(&mut req, b"wrong");
            c.send_raw(&req).await;
            let _ = ready.send(());
            std::future::pending::<()>().await;
        }));
        // Mid-transfer: `cat` running, 1 MiB written, nothing read back.
        victims.push(doomed(move |ready| async move {
            let stream = TcpStream::connect(addr).await.unwrap();
            if reset {
                stream.set_zero_linger().unwrap();
            }
            let mut conn = Connection::client_over(stream, nacre_tests::security::client_config())
                .await
                .unwrap();
            conn.authenticate_password(login_user(), PASSWORD)
                .await
                .unwrap();
            let ch = conn.open_session().await.unwrap();
            ch.exec("cat").await.unwrap();
            let mut w = ch.writer();
            w.write_all(&test_data(7, 1 << 20)).await.unwrap();
            let _ = ready.send(());
            std::future::pending::<()>().await;
        }));
    }
    let mut doomed_clients = Vec::new();
    for (d, ready) in victims {
        tokio::time::timeout(Duration::from_secs(20), ready)
            .await
            .expect("victim did not reach its point")
            .unwrap();
        doomed_clients.push(d);
    }
    let s = server.stats();
    assert!(s.open >= 6, "{s:?}");
    for d in doomed_clients {
        d.kill();
    }
    for h in healthy {
        tokio::time::timeout(Duration::from_secs(120), h)
            .await
            .expect("a healthy client hung")
            .unwrap();
    }
    let s = server
        .wait_for(Duration::from_secs(10), |s| s.open == 0)
        .await;
    assert_eq!(
        s.open, 0,
        "the server still holds killed connections: {s:?}"
    );
    assert_eq!(s.unauthenticated, 0, "{s:?}");
    // The server still serves.
    let conn = server.connect().await;
    assert_eq!(conn.exec("echo alive").await.unwrap().stdout, b"alive\n");
    conn.disconnect(DisconnectReason::BY_APPLICATION, "").await;
    server
        .wait_for(Duration::from_secs(5), |s| s.open == 0)
        .await;
    let now = fds_back_to(baseline, Duration::from_secs(10)).await;
    assert!(
        now <= baseline,
        "descriptors leaked: {baseline} before, {now} after: {:?}",
        fd_list()
    );
}

/// Peers that stall or trickle are bounded by the login grace time (1.5 s here): one that
/// connects and never sends, one that sends a valid banner and KEXINIT one byte every 100 ms,
/// one that finishes the key exchange and then trickles a USERAUTH_REQUEST byte by byte, and
/// one that stops reading. All are closed between 1.5 s and 4.5 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_stalling_and_trickling_peers_are_closed_by_the_login_grace_time() {
    let _serial = FDS.lock().await;
    let grace = Duration::from_millis(1500);
    let server = TestServer::start(limits(Some(grace)), |_| {}).await;
    // Warm-up (lazily opened descriptors of the runtime and the RNG), then the baseline.
    server
        .connect()
        .await
        .disconnect(DisconnectReason::BY_APPLICATION, "")
        .await;
    server
        .wait_for(Duration::from_secs(5), |s| s.open == 0)
        .await;
    let baseline = fd_count();
    let start = Instant::now();
    let addr = server.addr;

    let silent = tokio::spawn(async move {
        let mut s = TcpStream::connect(addr).await.unwrap();
        closed_by_peer(&mut s, Duration::from_secs(10)).await
    });
    let trickle_kex = tokio::spawn(async move {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let mut t = Transport::client(
            std::sync::Arc::new(Config::client()),
            Box::new(nacre::crypto::SystemRng),
            std::time::Instant::now(),
        );
        let mut out = Vec::new();
        t.poll_transmit(&mut out);
        for b in out {
            if s.write_all(&[b]).await.is_err() {
                return true;
            }
            // Reading keeps our receive buffer empty; EOF means the server gave up on us.
            let mut buf = [0u8; 4096];
            let read = tokio::time::timeout(Duration::from_millis(100), s.read(&mut buf)).await;
            if let Ok(Ok(0) | Err(_)) = read {
                return true;
            }
        }
        closed_by_peer(&mut s, Duration::from_secs(10)).await
    });
    let trickle_auth = tokio::spawn(async move {
        let mut c = RawClient::connect(addr).await;
        c.handshake().await;
        // Encrypt a USERAUTH_REQUEST and send it one byte at a time.
        let mut req = vec![50u8];
        for s in ["root", "ssh-connection", "none"] {
            nacre::wire::put::string(&mut req, s.as_bytes());
        }
        c.transport.send_raw(&req);
        let mut out = Vec::new();
        c.transport.poll_transmit(&mut out);
        for b in &out[..out.len() - 1] {
            if c.stream.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        c.collect(Duration::from_secs(10)).await.1
    });
    let not_reading = tokio::spawn(async move {
        // Sends its banner and KEXINIT, then reads nothing until well past the grace time.
        let mut s = TcpStream::connect(addr).await.unwrap();
        let mut t = Transport::client(
            std::sync::Arc::new(Config::client()),
            Box::new(nacre::crypto::SystemRng),
            std::time::Instant::now(),
        );
        let mut out = Vec::new();
        t.poll_transmit(&mut out);
        s.write_all(&out).await.unwrap();
        tokio::time::sleep(grace + Duration::from_secs(1)).await;
        // By now the server closed: what it sent, then EOF, is all there is to read.
        closed_by_peer(&mut s, Duration::from_millis(500)).await
    });
    assert!(silent.await.unwrap(), "silent peer not closed");
    assert!(
        trickle_kex.await.unwrap(),
        "trickling banner/KEXINIT not closed"
    );
    let close = trickle_auth.await.unwrap();
    assert!(
        matches!(&close, Some(TransportError::PeerDisconnected { description, .. }) if description.contains("grace")),
        "trickling auth: {close:?}"
    );
    assert!(not_reading.await.unwrap(), "non-reading peer not closed");
    let took = start.elapsed();
    assert!(
        took >= grace && took < grace + Duration::from_secs(3),
        "{took:?}"
    );
    let s = server
        .wait_for(Duration::from_secs(3), |s| s.open == 0)
        .await;
    assert_eq!((s.open, s.login_timeouts), (0, 4), "{s:?}");
    let now = fds_back_to(baseline, Duration::from_secs(3)).await;
    assert!(
        now <= baseline,
        "descriptors leaked: {baseline} before, {now} after: {:?}",
        fd_list()
    );
}

/// Without a login grace time, a peer that sends its banner and KEXINIT and then stalls the
/// first key exchange is closed by the kex timeout (1 s here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_stalled_first_kex_is_closed_by_the_kex_timeout() {
    let _serial = FDS.lock().await;
    let server = TestServer::start(limits(None), |c| {
        c.limits.kex_timeout = Duration::from_secs(1);
    })
    .await;
    let start = Instant::now();
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let mut t = Transport::client(
        std::sync::Arc::new(Config::client()),
        Box::new(nacre::crypto::SystemRng),
        std::time::Instant::now(),
    );
    let mut out = Vec::new();
    t.poll_transmit(&mut out);
    s.write_all(&out).await.unwrap();
    assert!(closed_by_peer(&mut s, Duration::from_secs(5)).await);
    let took = start.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(3),
        "{took:?}"
    );
    let st = server
        .wait_for(Duration::from_secs(3), |s| s.open == 0)
        .await;
    assert_eq!((st.open, st.login_timeouts), (0, 0), "{st:?}");
}

/// A re-exchange on a connection that sat idle longer than the kex timeout: the runtime keeps
/// the transport's clock current, so the exchange is timed from when it starts (found by this
/// suite: the machine used the time of its last timer, so such a rekey timed out at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_rekey_after_idling_longer_than_the_kex_timeout() {
    let _serial = FDS.lock().await;
    let server = TestServer::start(limits(None), |c| {
        c.limits.kex_timeout = Duration::from_millis(500);
    })
    .await;
    let conn = server.connect().await;
    for round in 0..2 {
        tokio::time::sleep(Duration::from_millis(800)).await;
        conn.rekey().await.unwrap();
        let out = conn.exec("echo still here").await.unwrap();
        assert_eq!(out.stdout, b"still here\n", "round {round}");
    }
    assert_eq!(server.stats().open, 1);
}
