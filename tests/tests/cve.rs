//! The CVE regression suite against the real runtime: an in-process `nacre::Server` on
//! 127.0.0.1 (or, for the stalled re-exchange, two runtime connections joined by an in-memory
//! relay), attacked by raw clients that send what the attack needs. docs/SECURITY.md maps every
//! vulnerability class to its test, here or in the protocol crates' in-memory suites.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nacre::auth::AuthServerConfig;
use nacre::transport::{Config, TransportError};
use nacre::wire::{put, DisconnectReason, MsgNumber};
use nacre::{Connection, MaxStartups, ServerLimits};
use nacre_tests::security::{
    client_config, closed_by_peer, fd_count, fds_back_to, login_user, login_with_password,
    password_request, RawClient, TestServer, PASSWORD,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Tests that count the process's descriptors run one at a time (under `cargo test`; nextest
/// runs each test in its own process anyway).
static FDS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn limits(grace: Option<Duration>) -> ServerLimits {
    ServerLimits {
        // Never drop here: these tests want every connection served.
        max_startups: MaxStartups {
            start: 1000,
            rate: 30,
            full: 2000,
        },
        login_grace_time: grace,
        ..ServerLimits::default()
    }
}

fn channel_open_session() -> Vec<u8> {
    let mut m = vec![MsgNumber::CHANNEL_OPEN.0];
    put::string(&mut m, b"session");
    for v in [0u32, 1 << 20, 32 * 1024] {
        put::uint32(&mut m, v);
    }
    m
}

fn channel_request_exec(command: &str) -> Vec<u8> {
    let mut m = vec![MsgNumber::CHANNEL_REQUEST.0];
    put::uint32(&mut m, 0);
    put::string(&mut m, b"exec");
    put::boolean(&mut m, true);
    put::string(&mut m, command.as_bytes());
    m
}

/// The client was disconnected with PROTOCOL_ERROR and received no service-layer answer.
fn assert_refused(packets: &[bytes::Bytes], close: Option<TransportError>, what: &str) {
    assert!(
        packets.is_empty(),
        "{what}: the server answered {packets:?} instead of disconnecting"
    );
    match close {
        Some(TransportError::PeerDisconnected { reason, .. }) => {
            assert_eq!(reason, DisconnectReason::PROTOCOL_ERROR, "{what}")
        }
        other => panic!("{what}: expected a DISCONNECT, got {other:?}"),
    }
}

/// OpenSSH CVE-2024-6387 (regreSSHion) class: the race was in the SIGALRM handler that ends a
/// connection past LoginGraceTime. nacre ends it with a timer and a dropped future, no signal
/// handler. 60 connections idle past a 2 s login grace time — 20 silent, 20 that sent only
/// their banner, 20 that finished the key exchange and never authenticated — are all closed by
/// the server in time; its connection counts and this process's descriptors return to baseline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cve_2024_6387_idle_connections_past_login_grace_time_are_all_closed() {
    let _serial = FDS.lock().await;
    let grace = Duration::from_secs(2);
    let server = TestServer::start(limits(Some(grace)), |_| {}).await;
    // Warm-up (runtime threads, lazily opened descriptors), then the baseline.
    server
        .connect()
        .await
        .disconnect(DisconnectReason::BY_APPLICATION, "")
        .await;
    server
        .wait_for(Duration::from_secs(5), |s| s.open == 0)
        .await;
    let baseline = fd_count();
    let start = tokio::time::Instant::now();

    let mut silent = Vec::new();
    let mut banner_only = Vec::new();
    for _ in 0..20 {
        silent.push(TcpStream::connect(server.addr).await.unwrap());
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        s.write_all(b"SSH-2.0-idle_1.0\r\n").await.unwrap();
        banner_only.push(s);
    }
    let mut after_kex = Vec::new();
    for _ in 0..20 {
        let mut c = RawClient::connect(server.addr).await;
        c.handshake().await;
        after_kex.push(c);
    }
    let stats = server
        .wait_for(Duration::from_secs(5), |s| s.accepted >= 61)
        .await;
    assert_eq!(stats.open, 60, "{stats:?}");
    assert_eq!(stats.unauthenticated, 60, "{stats:?}");

    let limit = grace + Duration::from_secs(3);
    for s in silent.iter_mut().chain(banner_only.iter_mut()) {
        let left = limit.saturating_sub(start.elapsed());
        assert!(
            closed_by_peer(s, left).await,
            "a connection outlived the grace time"
        );
    }
    for c in &mut after_kex {
        let left = limit.saturating_sub(start.elapsed());
        let (packets, close) = c.collect(left).await;
        assert!(packets.is_empty());
        // Closed with the grace-time DISCONNECT.
        assert!(
            matches!(
                &close,
                Some(TransportError::PeerDisconnected { description, .. })
                    if description.contains("grace")
            ),
            "{close:?}"
        );
    }
    let elapsed = start.elapsed();
    assert!(
        elapsed >= grace,
        "closed before the grace time: {elapsed:?}"
    );
    let stats = server
        .wait_for(Duration::from_secs(3), |s| s.open == 0)
        .await;
    assert_eq!(stats.open, 0, "{stats:?}");
    assert_eq!(stats.unauthenticated, 0, "{stats:?}");
    assert_eq!(stats.login_timeouts, 60, "{stats:?}");
    assert_eq!(stats.authenticated, 1, "only the warm-up: {stats:?}");
    assert_eq!(server.calls.password.load(Ordering::SeqCst), 1);
    drop((silent, banner_only, after_kex));
    let now = fds_back_to(baseline, Duration::from_secs(3)).await;
    assert!(
        now <= baseline,
        "descriptors leaked: {baseline} before, {now} after"
    );
}

/// paramiko CVE-2018-7750: the server processed CHANNEL_OPEN (and the requests after it)
/// without checking that authentication had completed. Against the real runtime server: a
/// client that skips authentication and opens a session, then asks to exec, is disconnected
/// with PROTOCOL_ERROR; no channel, no command, no handler call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cve_2018_7750_channel_open_before_auth_is_refused() {
    let server = TestServer::start(limits(None), |_| {}).await;
    for with_exec in [false, true] {
        let mut c = RawClient::connect(server.addr).await;
        c.handshake().await;
        c.send_raw(&channel_open_session()).await;
        if with_exec {
            c.send_raw(&channel_request_exec("touch /tmp/nacre-cve-2018-7750"))
                .await;
        }
        let (packets, close) = c.collect(Duration::from_secs(5)).await;
        assert_refused(&packets, close, "CHANNEL_OPEN before auth");
    }
    assert!(!std::path::Path::new("/tmp/nacre-cve-2018-7750").exists());
    let stats = server
        .wait_for(Duration::from_secs(3), |s| s.open == 0)
        .await;
    assert_eq!((stats.open, stats.authenticated), (0, 0), "{stats:?}");
    assert_eq!(server.calls.password.load(Ordering::SeqCst), 0);
    assert_eq!(server.calls.subsystem.load(Ordering::SeqCst), 0);
}

/// paramiko CVE-2018-1000805: the server side of the auth handler acted on messages only a
/// server may send (a client sending USERAUTH_SUCCESS was taken as authenticated). A client
/// that sends USERAUTH_SUCCESS, FAILURE, BANNER or PK_OK, then opens a channel, is disconnected;
/// nobody is authenticated and nothing is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cve_2018_1000805_client_sending_server_auth_messages_is_refused() {
    let server = TestServer::start(limits(None), |_| {}).await;
    for msg in [52u8, 51, 53, 60] {
        let mut c = RawClient::connect(server.addr).await;
        c.handshake().await;
        let mut m = vec![msg];
        put::uint32(&mut m, 0);
        c.send_raw(&m).await;
        c.send_raw(&channel_open_session()).await;
        c.send_raw(&channel_request_exec("true")).await;
        let (packets, close) = c.collect(Duration::from_secs(5)).await;
        assert_refused(&packets, close, &format!("client sent {msg}"));
    }
    let stats = server
        .wait_for(Duration::from_secs(3), |s| s.open == 0)
        .await;
    assert_eq!((stats.open, stats.authenticated), (0, 0), "{stats:?}");
    assert_eq!(server.calls.password.load(Ordering::SeqCst), 0);
}

/// Erlang/OTP CVE-2025-32433: connection-protocol messages before authentication ran their
/// handlers (remote code execution). Against the real runtime server, every message number
/// 80–127 sent right after the `ssh-userauth` service started ends the connection with
/// PROTOCOL_ERROR; no handler is asked anything and no channel exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cve_2025_32433_connection_messages_before_auth_with_the_real_server() {
    let server = TestServer::start(limits(None), |_| {}).await;
    for n in 80u8..=127 {
        let mut c = RawClient::connect(server.addr).await;
        c.handshake().await;
        let mut m = channel_request_exec("touch /tmp/nacre-cve-2025-32433");
        m[0] = n;
        c.send_raw(&m).await;
        c.send_raw(&channel_open_session()).await;
        let (packets, close) = c.collect(Duration::from_secs(5)).await;
        assert_refused(&packets, close, &format!("message {n} before auth"));
    }
    assert!(!std::path::Path::new("/tmp/nacre-cve-2025-32433").exists());
    let stats = server
        .wait_for(Duration::from_secs(3), |s| s.open == 0)
        .await;
    assert_eq!((stats.open, stats.authenticated), (0, 0), "{stats:?}");
    assert_eq!(server.calls.password.load(Ordering::SeqCst), 0);
    assert_eq!(server.calls.subsystem.load(Ordering::SeqCst), 0);
}

/// Forwards bytes between two streams; while `freeze_up` is set, what the client sends is
/// swallowed (the client "stops answering"), what the server sends still arrives.
fn relay(
    client_side: tokio::io::DuplexStream,
    server_side: tokio::io::DuplexStream,
    freeze_up: Arc<AtomicBool>,
) {
    let (mut cr, mut cw) = tokio::io::split(client_side);
    let (mut sr, mut sw) = tokio::io::split(server_side);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = cr.read(&mut buf).await {
            if n == 0 {
                break;
            }
            if !freeze_up.load(Ordering::SeqCst) && sw.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = sw.shutdown().await;
    });
    tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = sr.read(&mut buf).await {
            if n == 0 || cw.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = cw.shutdown().await;
    });
}

/// Go x/crypto CVE-2025-22869: a client that never completes a key exchange made the server
/// buffer every pending packet of a download without bound. Here the server streams data into
/// a session channel; once 4 MiB arrived, the client stops answering and the server starts a
/// re-exchange. The server's writer stops being served (its writes pend), what it accepted
/// after the stall is bounded by the channel window plus the runtime's fixed queues, and the
/// kex timeout (2 s here) closes the connection, failing the writer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cve_2025_22869_stalled_rekey_during_a_download_blocks_writers_and_times_out() {
    let (client_io, relay_client) = tokio::io::duplex(256 * 1024);
    let (relay_server, server_io) = tokio::io::duplex(256 * 1024);
    let freeze = Arc::new(AtomicBool::new(false));
    relay(relay_client, relay_server, freeze.clone());

    let kex_timeout = Duration::from_secs(2);
    let mut transport = Config::server(vec![nacre_testkit::host_key(
        nacre_keys::KeyType::Ed25519,
        62,
    )]);
    transport.limits.kex_timeout = kex_timeout;
    struct Accept;
    impl nacre::AuthPolicy for Accept {
        fn password(&self, _: &nacre::AuthContext, p: &str) -> nacre::PasswordCheck {
            if p == PASSWORD {
                nacre::PasswordCheck::Accept
            } else {
                nacre::PasswordCheck::Reject
            }
        }
    }
    let written = Arc::new(AtomicU64::new(0));
    let writer_failed = Arc::new(AtomicBool::new(false));
    let (rekey_tx, rekey_rx) = tokio::sync::oneshot::channel::<()>();
    let (w, f) = (written.clone(), writer_failed.clone());
    let server = tokio::spawn(async move {
        let mut conn = Connection::accept(server_io, Arc::new(transport))
            .await
            .unwrap();
        conn.authenticate_client(AuthServerConfig::default(), Arc::new(Accept), None)
            .await
            .unwrap();
        let channel = conn.accept_channel().await.unwrap().accept().unwrap();
        let mut writer = channel.writer();
        tokio::spawn(async move {
            let chunk = vec![0x5a; 32 * 1024];
            loop {
                match writer.write(&chunk).await {
                    Ok(n) => {
                        w.fetch_add(n as u64, Ordering::SeqCst);
                    }
                    Err(_) => {
                        f.store(true, Ordering::SeqCst);
                        return;
                    }
                }
            }
        });
        rekey_rx.await.unwrap();
        conn.rekey().await.unwrap();
        let started = tokio::time::Instant::now();
        let reason = conn.closed().await;
        drop(channel);
        (reason, started.elapsed())
    });

    let mut client = Connection::client_over(client_io, client_config())
        .await
        .unwrap();
    client
        .authenticate_password(login_user(), PASSWORD)
        .await
        .unwrap();
    let mut channel = client.open_session().await.unwrap();
    let mut received = 0usize;
    let mut buf = vec![0u8; 256 * 1024];
    while received < 4 << 20 {
        let n = channel.read(&mut buf).await.unwrap();
        assert!(n > 0);
        received += n;
    }
    // The client goes silent; the server starts a re-exchange it will never see answered.
    freeze.store(true, Ordering::SeqCst);
    let at_freeze = written.load(Ordering::SeqCst);
    rekey_tx.send(()).unwrap();
    // Keep reading what still arrives, so only the key exchange (and the window the silent
    // client no longer renews) holds the server back, never this socket.
    let drain = tokio::spawn(async move {
        let mut n = 0usize;
        while let Ok(k) = channel.read(&mut buf).await {
            if k == 0 {
                break;
            }
            n += k;
        }
        n
    });
    tokio::time::sleep(kex_timeout / 2).await;
    let mid = written.load(Ordering::SeqCst);
    tokio::time::sleep(kex_timeout / 4).await;
    let later = written.load(Ordering::SeqCst);
    assert_eq!(
        mid, later,
        "the writer must be blocked during the stalled exchange"
    );
    let bound = nacre::limits::DEFAULT_WINDOW_SIZE as u64
        + nacre::limits::CHANNEL_WRITE_QUEUE as u64
        + nacre::limits::DEFAULT_MAX_QUEUED_BYTES as u64
        + nacre::limits::MAX_PENDING_WRITE as u64;
    assert!(
        later - at_freeze <= bound,
        "{} bytes taken after the stall (bound {bound})",
        later - at_freeze
    );

    let (reason, took) = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the kex timeout must close the connection")
        .unwrap();
    assert!(matches!(reason, TransportError::Timeout(_)), "{reason:?}");
    assert!(
        took >= kex_timeout && took < kex_timeout + Duration::from_secs(2),
        "{took:?}"
    );
    let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
    for _ in 0..100 {
        if writer_failed.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        writer_failed.load(Ordering::SeqCst),
        "the blocked writer must fail once closed"
    );
}

/// libssh2 CVE-2019-3855..3863: lengths, padding and counts taken from the peer without checks
/// (packet_length, padding_length, keyboard-interactive prompt counts, exit-signal strings,
/// SFTP lengths). nacre checks every length against what remains before allocating: a prompt
/// count of 2^32-1, a string length past the end and every truncation of real messages are
/// decode errors, never a panic or an allocation of the announced size. (Packet lengths and
/// padding: `cve_2024_43410_*` and `bad_padding_*` in crates/transport/tests/framing.rs; SFTP:
/// crates/sftp-codec and crates/sftp/tests/limits.rs.)
#[test]
fn libssh2_cve_2019_3855_3863_counts_lengths_and_truncations_are_decode_errors() {
    use nacre::auth::{AuthClient, AuthError};
    use nacre::connection::{ConnectionConfig, ConnectionError, ConnectionProtocol};

    // CVE-2019-3863: keyboard-interactive num-prompts of 2^32-1 with no prompts behind it.
    let mut auth = AuthClient::new("alice", b"sid", None);
    let _ = auth.poll_transmit();
    let mut failure = vec![51];
    put::name_list(&mut failure, &["keyboard-interactive"]);
    put::boolean(&mut failure, false);
    auth.handle_packet(&failure).unwrap();
    auth.keyboard_interactive("");
    let mut info = vec![60];
    for s in ["name", "instruction", ""] {
        put::string(&mut info, s.as_bytes());
    }
    put::uint32(&mut info, u32::MAX);
    assert!(matches!(
        auth.handle_packet(&info),
        Err(AuthError::Malformed {
            msg: nacre::wire::MsgNumber(60),
            ..
        })
    ));

    // CVE-2019-3857/3862: exit-signal and exit-status with lengths past the end.
    let open_channel = || {
        let mut c = ConnectionProtocol::new(ConnectionConfig::default());
        let id = c.open(nacre::connection::ChannelKind::Session).unwrap();
        let mut confirm = vec![91];
        for v in [id, 0, 1 << 20, 32 * 1024] {
            put::uint32(&mut confirm, v);
        }
        c.handle_packet(&confirm.into()).unwrap();
        while c.poll_event().is_some() {}
        c
    };
    let request = |name: &str, data: &[u8]| {
        let mut m = vec![98];
        put::uint32(&mut m, 0);
        put::string(&mut m, name.as_bytes());
        put::boolean(&mut m, false);
        m.extend_from_slice(data);
        bytes::Bytes::from(m)
    };
    let mut huge_signal = Vec::new();
    put::uint32(&mut huge_signal, u32::MAX); // signal name length
    for (name, data) in [
        ("exit-signal", huge_signal.clone()),
        ("exit-status", vec![0, 0]),
        ("exit-status", vec![]),
        ("pty-req", huge_signal.clone()),
        ("env", huge_signal),
    ] {
        let mut c = open_channel();
        let r = c.handle_packet(&request(name, &data));
        assert!(
            matches!(r, Err(ConnectionError::Malformed { msg: 98, .. })),
            "{name}: {r:?}"
        );
        assert!(c.poll_event().is_none());
    }

    // Every truncation of well-formed connection and auth messages is an error.
    let mut data = vec![94];
    put::uint32(&mut data, 0);
    put::string(&mut data, b"hello");
    let mut exit_signal = Vec::new();
    put::string(&mut exit_signal, b"KILL");
    put::boolean(&mut exit_signal, false);
    put::string(&mut exit_signal, b"killed");
    put::string(&mut exit_signal, b"");
    // (The language tag of exit-signal may be left out entirely, as old peers do: that one
    // shorter form is complete.)
    let exit_signal = request("exit-signal", &exit_signal).to_vec();
    let tolerated = exit_signal.len() - 4;
    let full = [
        (data, None),
        (exit_signal, Some(tolerated)),
        (request("exit-status", &[0, 0, 0, 1]).to_vec(), None),
    ];
    for (m, tolerated) in &full {
        assert!(open_channel().handle_packet(&m.clone().into()).is_ok());
        for cut in (1..m.len()).filter(|c| Some(*c) != *tolerated) {
            let r = open_channel().handle_packet(&m[..cut].to_vec().into());
            assert!(r.is_err(), "{:?} cut at {cut}", &m[..cut]);
        }
    }
    for cut in 1..failure.len() {
        let mut auth = AuthClient::new("alice", b"sid", None);
        let _ = auth.poll_transmit();
        assert!(auth.handle_packet(&failure[..cut]).is_err(), "cut at {cut}");
    }
}

/// Decompression bombs (zlib; the class of CVE-2016-10012's pre-auth compression concerns and
/// of inflate-without-bound bugs): the runtime server offers only `zlib@openssh.com`, so
/// nothing is inflated before authentication; after it, a client sends one packet of ~16 KiB
/// that inflates to 16 MiB. The server stops inflating at its packet limit (256 KiB) and
/// disconnects with COMPRESSION_ERROR (6); it keeps serving others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decompression_bomb_after_authentication_is_a_compression_error() {
    let server = TestServer::start(limits(None), |_| {}).await;
    let mut config = Config::client();
    config.algorithms.compression = nacre::transport::config::compression_preferred();
    config.limits.max_packet_len = 64 << 20; // the attacker's own limit
    let mut c = RawClient::connect_with(server.addr, config).await;
    c.handshake().await;
    assert_eq!(
        c.transport.negotiated().map(|n| n.compression_c2s),
        Some(nacre::transport::CompressionAlg::ZlibOpenssh)
    );
    assert_eq!(c.transport.compressing(), (false, false), "delayed");
    c.send_raw(&password_request(login_user(), PASSWORD)).await;
    loop {
        match c.next_event(Duration::from_secs(10)).await {
            Some(nacre::transport::Event::Packet(p)) if p[0] == MsgNumber::USERAUTH_SUCCESS.0 => {
                break
            }
            Some(nacre::transport::Event::Packet(p)) => {
                assert_ne!(p[0], MsgNumber::USERAUTH_FAILURE.0, "login refused")
            }
            Some(nacre::transport::Event::Closed(e)) => panic!("{e}"),
            None => panic!("no USERAUTH_SUCCESS"),
            Some(_) => {}
        }
    }
    assert_eq!(c.transport.compressing(), (true, true));
    let mut bomb = vec![MsgNumber::IGNORE.0];
    bomb.resize(16 << 20, 0);
    c.send_raw(&bomb).await;
    let (_, close) = c.collect(Duration::from_secs(10)).await;
    match close {
        Some(TransportError::PeerDisconnected {
            reason,
            description,
        }) => {
            assert_eq!(reason, DisconnectReason::COMPRESSION_ERROR, "{description}");
            assert!(description.contains("compression"), "{description}");
        }
        other => panic!("expected a DISCONNECT, got {other:?}"),
    }
    // The server is fine: another client logs in and runs a command.
    let conn = login_with_password(server.addr.port(), login_user(), PASSWORD).await;
    drop(conn);
}
